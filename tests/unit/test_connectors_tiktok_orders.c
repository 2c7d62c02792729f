/*
 * test_connectors_tiktok_orders.c - the TikTok Shop order calls through
 * the connector table with a fake transport: Search Orders puts paging
 * and sorting in the query and the update_time filter in the body,
 * follows next_page_token, refuses a page_size over 100 and an answer
 * with more orders than asked; Get Order Detail joins at most 50 ids with
 * commas and leaves out unknown ones; the seller cancel sends the reason;
 * the table carries SG_CAP_ORDERS at version 3 or later.
 */
#include "core/sg.h"
#include "testlib.h"
#include "connectors/connector.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/json.h"

#include <jansson.h>

#define FAKE_MAX 4

struct fake {
    size_t n;
    char *method[FAKE_MAX];
    char *url[FAKE_MAX];
    char *body[FAKE_MAX];
    const char *answer[FAKE_MAX];
};

static int fake_do(void *ctx, struct sg_http_response *out,
                   const struct sg_http_request *req, struct sg_err *err)
{
    struct fake *f = ctx;
    size_t i = f->n;

    SG_UNUSED(err);
    assert_true(i < FAKE_MAX);
    f->method[i] = sg_strdup(req->method);
    f->url[i] = sg_strdup(req->url);
    f->body[i] = req->body ? sg_strndup(req->body, req->body_len) : NULL;
    memset(out, 0, sizeof(*out));
    out->transport = SG_HTTP_OK;
    out->sent = true;
    out->status = 200;
    out->body = sg_strdup(f->answer[i] ? f->answer[i] : "");
    out->body_len = strlen(out->body);
    f->n++;
    return 0;
}

static void fake_free(struct fake *f)
{
    for (size_t i = 0; i < f->n; i++) {
        sg_free(f->method[i]);
        sg_free(f->url[i]);
        sg_free(f->body[i]);
    }
    memset(f, 0, sizeof(*f));
}

static struct sg_connector *open_fake(struct fake *f, struct sg_clock *clk)
{
    struct sg_conn_cfg cfg = {
        .app_key = "k1",
        .app_secret = "s1",
        .api_base_url = "http://api.test",
        .auth_base_url = "http://auth.test",
        .authorize_url = "http://consent.test/open/authorize",
    };
    struct sg_conn_env env = {.http = fake_do, .http_ctx = f, .clock = clk};
    struct sg_connector *c = NULL;

    sg_clock_init_manual(clk, INT64_C(1700000000) * 1000);
    assert_int_equal(sg_connector_open(&c, "tiktok_shop", &cfg, &env, NULL),
                     0);
    return c;
}

static void table_has_orders(void **state)
{
    const struct sg_connector_ops *ops = sg_connector_find("tiktok_shop");

    SG_UNUSED(state);
    assert_non_null(ops);
    assert_true(ops->version >= 3);
    assert_true(ops->caps & SG_CAP_ORDERS);
    assert_non_null(ops->search_orders);
    assert_non_null(ops->get_orders);
    assert_non_null(ops->cancel_order);
}

static void search_pages(void **state)
{
    struct fake f = {0};
    struct sg_clock clk;
    struct sg_connector *c;
    struct sg_conn_order_query q = {.shop_cipher = "CIPH", .page_size = 2,
                                    .update_time_ge = 1699990000};
    struct sg_conn_order_ref *refs = NULL;
    char *next = NULL;
    size_t n = 0;
    struct sg_err err;

    SG_UNUSED(state);
    f.answer[0] = "{\"code\":0,\"message\":\"Success\",\"request_id\":\"r\","
                  "\"data\":{\"orders\":[{\"id\":\"5001\",\"update_time\":"
                  "1699990001},{\"id\":\"5002\",\"update_time\":1699990005}],"
                  "\"next_page_token\":\"a+b/c=\",\"total_count\":3}}";
    f.answer[1] = "{\"code\":0,\"message\":\"Success\",\"request_id\":\"r\","
                  "\"data\":{\"orders\":[{\"id\":\"5003\",\"update_time\":"
                  "1699990009}],\"next_page_token\":\"\",\"total_count\":3}}";
    f.answer[2] = "{\"code\":0,\"message\":\"Success\",\"request_id\":\"r\","
                  "\"data\":{\"orders\":[{\"id\":\"1\"},{\"id\":\"2\"},"
                  "{\"id\":\"3\"}]}}";
    c = open_fake(&f, &clk);
    sg_err_init(&err);
    assert_int_equal(c->ops->search_orders(c, "TOK", &q, &refs, &n, &next,
                                           &err),
                     0);
    assert_int_equal(n, 2);
    assert_string_equal(refs[1].id, "5002");
    assert_int_equal(refs[1].update_time, 1699990005);
    assert_string_equal(next, "a+b/c=");
    assert_string_equal(f.method[0], "POST");
    assert_non_null(strstr(f.url[0], "/order/202309/orders/search?"));
    assert_non_null(strstr(f.url[0], "page_size=2"));
    assert_non_null(strstr(f.url[0], "sort_field=update_time"));
    assert_non_null(strstr(f.url[0], "sort_order=ASC"));
    assert_non_null(strstr(f.url[0], "shop_cipher=CIPH"));
    assert_null(strstr(f.url[0], "page_token"));
    assert_string_equal(f.body[0], "{\"update_time_ge\":1699990000}");
    sg_free(refs);
    /* The second page carries the token, encoded. */
    q.page_token = next;
    assert_int_equal(c->ops->search_orders(c, "TOK", &q, &refs, &n, &next,
                                           &err),
                     0);
    sg_free((char *)(uintptr_t)q.page_token);
    assert_non_null(strstr(f.url[1], "page_token=a%2Bb%2Fc%3D"));
    assert_int_equal(n, 1);
    assert_null(next); /* last page */
    sg_free(refs);
    /* More orders than page_size is a broken answer, not a page. */
    q.page_token = NULL;
    assert_int_equal(c->ops->search_orders(c, "TOK", &q, &refs, &n, &next,
                                           &err),
                     SG_EREMOTE);
    assert_null(refs);
    /* page_size above 100 never leaves. */
    q.page_size = 101;
    assert_int_equal(c->ops->search_orders(c, "TOK", &q, &refs, &n, &next,
                                           &err),
                     SG_EINVAL);
    assert_int_equal(f.n, 3);
    fake_free(&f);
    sg_connector_close(c);
}

static void detail_batches(void **state)
{
    struct fake f = {0};
    struct sg_clock clk;
    struct sg_connector *c;
    const char *ids[51];
    char idbuf[51][16];
    json_t *orders = NULL;
    struct sg_err err;

    SG_UNUSED(state);
    for (int i = 0; i < 51; i++) {
        snprintf(idbuf[i], sizeof(idbuf[i]), "%d", 700 + i);
        ids[i] = idbuf[i];
    }
    f.answer[0] = "{\"code\":0,\"message\":\"Success\",\"request_id\":\"r\","
                  "\"data\":{\"orders\":[{\"id\":\"700\",\"status\":"
                  "\"UNPAID\"}]}}";
    f.answer[1] = "{\"code\":21001001,\"message\":\"bad\",\"request_id\":"
                  "\"r\",\"data\":null}";
    c = open_fake(&f, &clk);
    sg_err_init(&err);
    /* 51 ids are refused before anything is sent. */
    assert_int_equal(c->ops->get_orders(c, "TOK", "CIPH", ids, 51, &orders,
                                        &err),
                     SG_EINVAL);
    assert_int_equal(f.n, 0);
    assert_int_equal(c->ops->get_orders(c, "TOK", "CIPH", ids, 50, &orders,
                                        &err),
                     0);
    assert_string_equal(f.method[0], "GET");
    assert_non_null(strstr(f.url[0], "ids=700%2C701%2C702"));
    assert_non_null(strstr(f.url[0], "%2C749&"));
    assert_int_equal(json_array_size(orders), 1); /* unknown ids left out */
    sg_json_arena_free(orders);
    orders = NULL;
    /* A business error maps to an SG code; nothing comes back. */
    assert_int_equal(c->ops->get_orders(c, "TOK", "CIPH", ids, 2, &orders,
                                        &err),
                     SG_EREMOTE);
    assert_null(orders);
    fake_free(&f);
    sg_connector_close(c);
}

static void cancel_sends_reason(void **state)
{
    struct fake f = {0};
    struct sg_clock clk;
    struct sg_connector *c;
    struct sg_err err;
    json_t *b;

    SG_UNUSED(state);
    f.answer[0] = "{\"code\":0,\"message\":\"Success\",\"request_id\":\"r\","
                  "\"data\":{\"cancel_id\":\"9\",\"cancel_status\":"
                  "\"CANCELLATION_REQUEST_SUCCESS\"}}";
    c = open_fake(&f, &clk);
    sg_err_init(&err);
    assert_int_equal(c->ops->cancel_order(c, "TOK", "CIPH", "5001",
                                          "out_of_stock", &err),
                     0);
    assert_string_equal(f.method[0], "POST");
    assert_non_null(strstr(f.url[0], "/return_refund/202309/cancellations?"));
    b = json_loads(f.body[0], 0, NULL);
    assert_string_equal(json_string_value(json_object_get(b, "order_id")),
                        "5001");
    assert_string_equal(json_string_value(json_object_get(b,
                                                          "cancel_reason")),
                        "out_of_stock");
    json_decref(b);
    /* No shop cipher: refused locally. */
    assert_int_equal(c->ops->cancel_order(c, "TOK", "", "5001", "x", &err),
                     SG_EINVAL);
    assert_int_equal(f.n, 1);
    fake_free(&f);
    sg_connector_close(c);
}

/*
 * Get Order Detail builds only the members Surge reads (the pruned
 * parse); an answer outside that parser's subset (escapes, UTF-8, a
 * 19-digit integer) is parsed whole, with the same values; a malformed
 * one is an error naming the missing envelope, not a crash.
 */
static void detail_pruned(void **state)
{
    struct fake f = {0};
    struct sg_clock clk;
    struct sg_connector *c;
    const char *ids[1] = {"577087614418520000"};
    json_t *orders = NULL, *o, *li;
    struct sg_err err;

    SG_UNUSED(state);
    f.answer[0] =
        "{\"code\":0,\"message\":\"Success\",\"request_id\":\"r\",\"data\":"
        "{\"orders\":[{\"id\":\"577087614418520000\",\"status\":\"UNPAID\","
        "\"update_time\":1700000000,\"warehouse_id\":\"7\",\"cpf\":\"\","
        "\"payment\":{\"currency\":\"USD\",\"total_amount\":\"12.50\","
        "\"platform_discount\":\"0\"},\"line_items\":[{\"id\":\"1\","
        "\"seller_sku\":\"SKU-1\",\"sale_price\":\"12.50\",\"sku_image\":"
        "\"http://x/y.png\",\"tracking_number\":\"T1\"}],"
        "\"district_info\":[{\"address_level\":\"L0\"}]}]}}";
    f.answer[1] =
        "{\"code\":0,\"message\":\"Success\",\"request_id\":\"r\",\"data\":"
        "{\"orders\":[{\"id\":\"577087614418520000\",\"status\":\"UNPAID\","
        "\"update_time\":9223372036854775807,\"payment\":{\"currency\":"
        "\"USD\"},\"line_items\":[{\"id\":\"1\",\"seller_sku\":\"SKU-1\","
        "\"product_name\":\"Caf\\u00e9 \\\"mug\\\" \xe2\x98\x95\"}]}]}}";
    f.answer[2] = "{\"code\":0,\"data\":{\"orders\":[{\"id\":\"5\",}]}}";
    c = open_fake(&f, &clk);
    sg_err_init(&err);
    assert_int_equal(c->ops->get_orders(c, "TOK", "CIPH", ids, 1, &orders,
                                        &err),
                     0);
    o = json_array_get(orders, 0);
    assert_string_equal(sg_json_str(o, "id"), "577087614418520000");
    assert_int_equal(sg_json_int(o, "update_time", 0), 1700000000);
    assert_string_equal(sg_json_str(json_object_get(o, "payment"),
                                    "total_amount"),
                        "12.50");
    li = json_array_get(json_object_get(o, "line_items"), 0);
    assert_string_equal(sg_json_str(li, "seller_sku"), "SKU-1");
    assert_string_equal(sg_json_str(li, "tracking_number"), "T1");
    /* What no caller reads is not built. */
    assert_null(json_object_get(o, "warehouse_id"));
    assert_null(json_object_get(o, "district_info"));
    assert_null(json_object_get(li, "sku_image"));
    assert_null(json_object_get(json_object_get(o, "payment"),
                                "platform_discount"));
    sg_json_arena_free(orders);
    orders = NULL;

    /* Escapes, UTF-8 and a 19-digit integer: parsed whole, exact. */
    assert_int_equal(c->ops->get_orders(c, "TOK", "CIPH", ids, 1, &orders,
                                        &err),
                     0);
    o = json_array_get(orders, 0);
    assert_true(sg_json_int(o, "update_time", 0) == INT64_MAX);
    li = json_array_get(json_object_get(o, "line_items"), 0);
    assert_string_equal(sg_json_str(li, "product_name"),
                        "Caf\xc3\xa9 \"mug\" \xe2\x98\x95");
    sg_json_arena_free(orders);
    orders = NULL;

    /* Malformed: an error, nothing returned. */
    sg_err_init(&err);
    assert_int_not_equal(c->ops->get_orders(c, "TOK", "CIPH", ids, 1,
                                            &orders, &err),
                         0);
    assert_null(orders);
    assert_non_null(strstr(err.msg, "envelope"));
    fake_free(&f);
    sg_connector_close(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(table_has_orders),
        cmocka_unit_test(search_pages),
        cmocka_unit_test(detail_batches),
        cmocka_unit_test(detail_pruned),
        cmocka_unit_test(cancel_sends_reason),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
