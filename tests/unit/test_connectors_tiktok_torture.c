/*
 * test_connectors_tiktok_torture.c - D5 (issue #7) for the TikTok Shop
 * connector's handling of what TikTok sends: a webhook (signature check
 * and envelope, through the connector table), the response envelope and
 * its error mapping, the answers of Search Orders, Get Order Detail, Get
 * Authorized Shops and the token grant (through a fake transport, so the
 * signed URL is built too), the product answers (ids after a write,
 * per-item errors, inventory search, product read-back, audit reasons),
 * and the request bodies that carry prices and stock out.
 *
 * Each operation is swept by tests/lib/torture.c: every run gives an
 * error (out_of_memory) or the clean run's result. The webhook check is
 * swept again with OpenSSL's allocations failing too ("+openssl").
 *
 * Label "torture" runs every n; the "_quick" twin in the default suite
 * runs SG_TORTURE_QUICK (see tests/CMakeLists.txt).
 */
#include "testlib.h"
#include "torture.h"
#include "connectors/connector.h"
#include "connectors/tiktok_shop/orders.h"
#include "connectors/tiktok_shop/products.h"
#include "connectors/tiktok_shop/tiktok_shop.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/json.h"
#include "core/log.h"

#define APP_KEY    "29a39d"
#define APP_SECRET "app_secret_0123456789"

/* ---- a connector over a fake transport ---- */

struct fake {
    long status;
    const char *answer;
    const char *retry_after;
    char last_url[1024]; /* the request's URL, for the digest */
};

static int fake_do(void *ctx, struct sg_http_response *out,
                   const struct sg_http_request *req, struct sg_err *err)
{
    struct fake *f = ctx;

    memset(out, 0, sizeof(*out));
    out->transport = SG_HTTP_OK;
    out->sent = true;
    out->status = f->status ? f->status : 200;
    if (f->retry_after) {
        out->has_retry_after = true;
        snprintf(out->retry_after, sizeof(out->retry_after), "%s",
                 f->retry_after);
    }
    /* The real client allocates the body too, and says SG_ENOMEM. */
    out->body = sg_strdup(f->answer);
    if (!out->body)
        return sg_err_set(err, SG_ENOMEM, "out of memory");
    out->body_len = strlen(out->body);
    snprintf(f->last_url, sizeof(f->last_url), "%s", req->url);
    return 0;
}

static struct fake fake;
static struct sg_clock clk;
static struct sg_connector *conn;

static int group_setup(void **state)
{
    struct sg_conn_cfg cfg = {
        .app_key = APP_KEY,
        .app_secret = APP_SECRET,
        .service_id = "7012",
        .api_base_url = "http://api.test/",
        .auth_base_url = "http://auth.test",
        .authorize_url = "http://consent.test/open/authorize",
    };
    struct sg_conn_env env = {.http = fake_do, .http_ctx = &fake,
                              .clock = &clk};

    SG_UNUSED(state);
    sg_clock_init_manual(&clk, INT64_C(1700000000) * 1000);
    return sg_connector_open(&conn, "tiktok_shop", &cfg, &env, NULL);
}

static int group_teardown(void **state)
{
    SG_UNUSED(state);
    sg_connector_close(conn);
    return 0;
}

/*
 * Results gather here without allocating during a run (so every site
 * counted is the code's own): text into a buffer reserved beforehand,
 * JSON results kept by reference and written out by the digest.
 */
#define KEEP_MAX 16
static struct sg_buf out;
static json_t *keep[KEEP_MAX];
static size_t n_keep;

static int out_reserve(void *arg)
{
    static const char zeros[65536];

    SG_UNUSED(arg);
    sg_buf_init(&out, sizeof(zeros));
    if (sg_buf_append(&out, zeros, sizeof(zeros)))
        return -1;
    sg_buf_reset(&out);
    fake.last_url[0] = '\0';
    return 0;
}

static void out_reset(void *arg)
{
    SG_UNUSED(arg);
    sg_buf_release(&out);
    for (size_t i = 0; i < n_keep; i++)
        json_decref(keep[i]);
    n_keep = 0;
}

static char *out_digest(void *arg)
{
    struct sg_buf b;

    SG_UNUSED(arg);
    sg_buf_init(&b, 16u << 20);
    sg_buf_appends(&b, out.data ? out.data : "");
    for (size_t i = 0; i < n_keep; i++) {
        char *s = keep[i] ? sg_json_dump(keep[i], NULL) : NULL;

        sg_buf_printf(&b, "#%zu %s\n", i, s ? s : "(null)");
        sg_free(s);
    }
    return sg_buf_detach(&b, NULL);
}

/* Keep a JSON result (borrowed; a reference is taken). */
static int out_json(const char *label, json_t *j)
{
    SG_ASSERT(n_keep < KEEP_MAX);
    keep[n_keep] = json_incref(j);
    sg_buf_printf(&out, "%s: #%zu\n", label, n_keep++);
    return 0;
}

static void sweep(const char *name, int (*run)(void *, struct sg_err *),
                  unsigned libs)
{
    /*
     * libcrypto does not always say that it ran out of memory (a failed
     * fetch reports itself): io_error is fine there, as long as it is
     * not "bad signature" or a success.
     */
    static const int crypto_ok[] = {SG_EIO, 0};
    struct sgt_torture_op op = {.name = name,
                                .also_ok = libs & SGT_LIB_OPENSSL ? crypto_ok
                                                                  : NULL,
                                .setup = out_reserve,
                                .run = run,
                                .digest = out_digest,
                                .teardown = out_reset,
                                .libs = libs};
    struct sgt_torture_stats st;

    sgt_torture_sweep(&op, &st);
}

/* ---- the webhook ---- */

static const char webhook_body[] =
    "{\"type\":1,\"tts_notification_id\":\"7327109012345678901\","
    "\"shop_id\":\"7494049642642441621\",\"timestamp\":1700000000,"
    "\"data\":{\"order_id\":\"576462452392841234\",\"order_status\":"
    "\"AWAITING_SHIPMENT\",\"update_time\":1700000000,\"note\":"
    "\"caf\\u00e9 \\\"quoted\\\"\"}}";
static char webhook_sig[65];

static int webhook_run(void *arg, struct sg_err *err)
{
    struct sg_conn_event ev;
    int rc;

    SG_UNUSED(arg);
    rc = conn->ops->verify_webhook(conn, webhook_sig, 64, webhook_body,
                                   sizeof(webhook_body) - 1);
    if (rc)
        return sg_err_set(err, rc, "verify: %s", sg_err_name(rc));
    rc = conn->ops->parse_webhook(conn, webhook_body,
                                  sizeof(webhook_body) - 1, &ev, err);
    if (!rc)
        sg_buf_printf(&out, "%d %s %s %s %" PRId64 "\n", ev.type, ev.name,
                      ev.id, ev.shop_id, ev.timestamp);
    return rc;
}

static void test_webhook(void **state)
{
    SG_UNUSED(state);
    assert_int_equal(sg_tts_webhook_sign(webhook_sig, APP_KEY, APP_SECRET,
                                         webhook_body,
                                         sizeof(webhook_body) - 1),
                     0);
    sweep("tts webhook verify+parse", webhook_run, 0);
    sweep("tts webhook verify+parse +openssl", webhook_run,
          SGT_LIB_OPENSSL);
}

/* ---- the envelope ---- */

static const struct {
    long status;
    const char *body;
    const char *retry_after;
} answers[] = {
    {200,
     "{\"code\":0,\"message\":\"Success\",\"request_id\":\"2023\","
     "\"data\":{\"orders\":[{\"id\":\"5764\",\"line_items\":[{\"sale_price\""
     ":\"19.99\"}]}],\"next_page_token\":\"abc\\u003d\"}}",
     NULL},
    {200,
     "{\"code\":36009004,\"message\":\"Invalid timestamp\","
     "\"request_id\":\"x\",\"data\":null}",
     NULL},
    {429, "{\"code\":36009002,\"message\":\"Too many requests\"}", "7"},
    {502, "<html>Bad gateway</html>", NULL},
    {200, "{\"code\":0,\"message\":\"Success\"}", NULL},
};

static int envelope_run(void *arg, struct sg_err *err)
{
    SG_UNUSED(arg);
    for (size_t i = 0; i < SG_ARRAY_SIZE(answers); i++) {
        struct sg_http_response resp;
        struct sg_err e;
        json_t *data = NULL;
        int rc;

        memset(&resp, 0, sizeof(resp));
        resp.status = answers[i].status;
        resp.body = (char *)(uintptr_t)answers[i].body;
        resp.body_len = strlen(answers[i].body);
        if (answers[i].retry_after) {
            resp.has_retry_after = true;
            snprintf(resp.retry_after, sizeof(resp.retry_after), "%s",
                     answers[i].retry_after);
        }
        sg_err_init(&e);
        rc = sg_tts_envelope(&data, &resp, i % 2 == 0, &e);
        if (rc == SG_ENOMEM) {
            *err = e;
            return rc;
        }
        sg_buf_printf(&out, "%zu: %s retryable=%d after=%" PRId64
                            " http=%d %s\n",
                      i, sg_err_name(rc), e.retryable, e.retry_after_ms,
                      e.http_status, e.msg);
        rc = out_json("data", data);
        json_decref(data);
        if (rc)
            return sg_err_set(err, rc, "out of memory");
    }
    return 0;
}

static void test_envelope(void **state)
{
    SG_UNUSED(state);
    sweep("tts envelope and error mapping", envelope_run, 0);
}

/* ---- calls through the fake transport ---- */

static const char search_answer[] =
    "{\"code\":0,\"message\":\"Success\",\"request_id\":\"r1\",\"data\":{"
    "\"next_page_token\":\"b2Zmc2V0PTI=\",\"total_count\":3,\"orders\":["
    "{\"id\":\"576461413038785752\",\"status\":\"AWAITING_SHIPMENT\","
    "\"update_time\":1700000100},"
    "{\"id\":576461413038785753,\"update_time\":1700000200},"
    "{\"status\":\"UNPAID\"}]}}";

static int search_run(void *arg, struct sg_err *err)
{
    struct sg_conn_order_query q = {.shop_cipher = "GCP_XF90igAAAABh00q",
                                    .update_time_ge = 1700000000,
                                    .update_time_lt = 1700086400,
                                    .page_token = "b2Zmc2V0PTE=",
                                    .page_size = 50};
    struct sg_conn_order_ref *refs = NULL;
    char *next = NULL;
    size_t n = 0;
    int rc;

    SG_UNUSED(arg);
    fake.status = 200;
    fake.answer = search_answer;
    rc = conn->ops->search_orders(conn, "ROW_access_token", &q, &refs, &n,
                                  &next, err);
    if (!rc) {
        sg_buf_printf(&out, "url %s\nnext %s\n", fake.last_url,
                      next ? next : "-");
        for (size_t i = 0; i < n; i++)
            sg_buf_printf(&out, "%s %" PRId64 "\n", refs[i].id,
                          refs[i].update_time);
    }
    sg_free(refs);
    sg_free(next);
    return rc;
}

static const char detail_answer[] =
    "{\"code\":0,\"message\":\"Success\",\"data\":{\"orders\":[{\"id\":"
    "\"576461413038785752\",\"status\":\"AWAITING_SHIPMENT\","
    "\"update_time\":1700000100,\"create_time\":1700000000,\"payment\":{"
    "\"currency\":\"USD\",\"sub_total\":\"68.00\",\"total_amount\":"
    "\"73.99\"},\"recipient_address\":{\"name\":\"J*** S***\","
    "\"full_address\":\"1** M*** St\"},\"line_items\":[{\"id\":"
    "\"5764614130387857521\",\"sku_id\":\"1729\",\"seller_sku\":\"SKL-10\","
    "\"sale_price\":\"34.00\",\"product_name\":\"Skillet \\\"10 in\\\"\","
    "\"display_status\":\"TO_SHIP\"}]}]}}";

static int detail_run(void *arg, struct sg_err *err)
{
    static const char *const ids[] = {"576461413038785752",
                                      "576461413038785753"};
    json_t *orders = NULL;
    int rc;

    SG_UNUSED(arg);
    fake.status = 200;
    fake.answer = detail_answer;
    rc = conn->ops->get_orders(conn, "ROW_access_token",
                               "GCP_XF90igAAAABh00q", ids, 2, &orders, err);
    if (!rc) {
        /* The answer may live in this thread's parse arena, which is
         * released below: keep a copy (its allocations are swept too). */
        json_t *copy = json_deep_copy(orders);

        sg_buf_printf(&out, "url %s\n", fake.last_url);
        if (!copy)
            rc = sg_err_set(err, SG_ENOMEM, "out of memory");
        else {
            rc = out_json("orders", copy);
            json_decref(copy);
        }
    }
    sg_json_arena_free(orders);
    return rc;
}

static const char shops_answer[] =
    "{\"code\":0,\"message\":\"Success\",\"data\":{\"shops\":[{\"id\":"
    "\"7494049642642441621\",\"cipher\":\"GCP_XF90igAAAABh00q\",\"name\":"
    "\"Northwind\",\"region\":\"US\",\"seller_type\":\"LOCAL\"},{\"id\":"
    "\"\",\"cipher\":\"x\"}]}}";

static int shops_run(void *arg, struct sg_err *err)
{
    struct sg_conn_shop *shops = NULL;
    size_t n = 0;
    int rc;

    SG_UNUSED(arg);
    fake.status = 200;
    fake.answer = shops_answer;
    rc = conn->ops->list_shops(conn, "ROW_access_token", &shops, &n, err);
    for (size_t i = 0; !rc && i < n; i++)
        sg_buf_printf(&out, "%s %s %s %s\n", shops[i].id, shops[i].cipher,
                      shops[i].name, shops[i].region);
    sg_free(shops);
    return rc;
}

static const char token_answer[] =
    "{\"code\":0,\"message\":\"success\",\"data\":{\"access_token\":"
    "\"ROW_access_0123\",\"access_token_expire_in\":1700604800,"
    "\"refresh_token\":\"ROW_refresh_0123\",\"refresh_token_expire_in\":"
    "1731536000,\"open_id\":\"7010736057180325637\",\"seller_name\":"
    "\"Northwind\",\"seller_base_region\":\"US\",\"granted_scopes\":["
    "\"seller.order.info\"]}}";

static int token_run(void *arg, struct sg_err *err)
{
    struct sg_conn_tokens t;
    int rc;

    SG_UNUSED(arg);
    fake.status = 200;
    fake.answer = token_answer;
    rc = conn->ops->exchange_code(conn, "auth_code_0123", &t, err);
    if (!rc)
        sg_buf_printf(&out, "%s %s %" PRId64 " %" PRId64 " %s %s %s\n",
                      t.access_token, t.refresh_token, t.access_expires_at,
                      t.refresh_expires_at, t.open_id, t.seller_name,
                      t.region);
    sg_conn_tokens_release(&t);
    return rc;
}

static void test_calls(void **state)
{
    SG_UNUSED(state);
    sweep("tts order search page", search_run, 0);
    sweep("tts order detail", detail_run, 0);
    sweep("tts authorized shops", shops_run, 0);
    sweep("tts token grant", token_run, 0);
}

/* ---- product answers ---- */

static const char write_answer[] =
    "{\"product_id\":\"1729592969712207008\",\"skus\":[{\"id\":"
    "\"1729592969712207012\",\"seller_sku\":\"SKL-10\",\"sales_attributes\""
    ":[]},{\"id\":\"1729592969712207013\",\"seller_sku\":\"SKL-12\"}],"
    "\"warnings\":[{\"message\":\"The [brand_id]:123 field is incorrect\"}]}";
static const char errors_answer[] =
    "{\"errors\":[{\"code\":12052990,\"message\":\"Check failed\","
    "\"detail\":{\"sku_id\":\"1\",\"extra_errors\":[{\"code\":12052097,"
    "\"message\":\"The warehouse does not exist\"}]}}]}";
static const char inventory_answer[] =
    "{\"inventory\":[{\"product_id\":\"1\",\"skus\":[]},{\"product_id\":"
    "\"1729592969712207008\",\"skus\":[{\"id\":\"1729592969712207012\","
    "\"seller_sku\":\"SKL-10\",\"total_available_quantity\":40,"
    "\"warehouse_inventory\":[{\"warehouse_id\":\"WH1\",\"quantity\":40}]},"
    "{\"id\":\"1729592969712207013\",\"seller_sku\":\"SKL-12\","
    "\"total_available_quantity\":0}]}]}";
static const char product_answer[] =
    "{\"id\":\"1729592969712207008\",\"status\":\"FAILED\",\"skus\":[{"
    "\"id\":\"1729592969712207012\",\"seller_sku\":\"SKL-10\",\"price\":{"
    "\"amount\":\"34.00\",\"currency\":\"USD\"},\"inventory\":[{"
    "\"warehouse_id\":\"WH1\",\"quantity\":38},{\"warehouse_id\":\"WH2\","
    "\"quantity\":2}]},{\"id\":\"1729592969712207013\",\"seller_sku\":"
    "\"SKL-12\",\"price\":{\"amount\":\"44.00\"},\"inventory\":[]}],"
    "\"audit_failed_reasons\":[{\"position\":\"product\",\"reasons\":["
    "\"Title contains prohibited words\"]},{\"reasons\":[\"Image too "
    "small\"]}]}";

static int answers_run(void *arg, struct sg_err *err)
{
    json_t *w = NULL, *e = NULL, *inv = NULL, *prod = NULL;
    json_t *skus = NULL, *qty = NULL, *ids = NULL, *price = NULL;
    const char *status = NULL;
    char pid[32], msg[256], reasons[512];
    int rc;

    SG_UNUSED(arg);
    if ((rc = sg_json_parse(&w, write_answer, strlen(write_answer), 64, NULL,
                            err)) ||
        (rc = sg_json_parse(&e, errors_answer, strlen(errors_answer), 64,
                            NULL, err)) ||
        (rc = sg_json_parse(&inv, inventory_answer, strlen(inventory_answer),
                            64, NULL, err)) ||
        (rc = sg_json_parse(&prod, product_answer, strlen(product_answer),
                            64, NULL, err)))
        goto out;
    rc = sg_tts_parse_write(w, pid, &skus, err);
    if (rc)
        goto out;
    sg_buf_printf(&out, "write %s\n", pid);
    if ((rc = out_json("skus", skus)))
        goto oom;
    sg_buf_printf(&out, "item errors %zu %s\n",
                  sg_tts_item_errors(e, msg, sizeof(msg)), msg);
    rc = sg_tts_parse_inventory(inv, "1729592969712207008", &qty, &ids);
    if (rc || (rc = out_json("inv qty", qty)) ||
        (rc = out_json("inv ids", ids)))
        goto oom;
    json_decref(qty);
    json_decref(ids);
    qty = ids = NULL;
    rc = sg_tts_parse_product(prod, &qty, &price, &ids, &status);
    if (rc || (rc = out_json("qty", qty)) || (rc = out_json("price", price)) ||
        (rc = out_json("ids", ids)))
        goto oom;
    sg_buf_printf(&out, "status %s audit %zu %s\n", status ? status : "-",
                  sg_tts_audit_reasons(prod, reasons, sizeof(reasons)),
                  reasons);
    goto out;
oom:
    sg_err_set(err, rc, "out of memory");
out:
    json_decref(w);
    json_decref(e);
    json_decref(inv);
    json_decref(prod);
    json_decref(skus);
    json_decref(qty);
    json_decref(ids);
    json_decref(price);
    return rc;
}

static void test_product_answers(void **state)
{
    SG_UNUSED(state);
    sweep("tts product answers (write, errors, inventory, get)",
          answers_run, 0);
}

/* ---- request bodies with prices and stock ---- */

static const char *const images[] = {
    "https://cdn.example/skillet-front.jpg",
    "https://cdn.example/skillet-side.jpg"};

static int bodies_run(void *arg, struct sg_err *err)
{
    struct sg_tts_sku_in skus[2];
    struct sg_tts_product_in in;
    json_t *cat = NULL, *b;
    char hash[17];
    int rc = 0;

    SG_UNUSED(arg);
    memset(skus, 0, sizeof(skus));
    skus[0] = (struct sg_tts_sku_in){.seller_sku = "SKL-10",
                                     .price = "34.00",
                                     .list_price = "42.00",
                                     .quantity = 40,
                                     .option_name = {"Size"},
                                     .option_value = {"10 in"},
                                     .sku_id = "1729592969712207012"};
    skus[1] = (struct sg_tts_sku_in){.seller_sku = "SKL-12",
                                     .price = "44.00",
                                     .quantity = -2,
                                     .option_name = {"Size"},
                                     .option_value = {"12 in"},
                                     .sku_id = "1729592969712207013"};
    cat = json_pack("{s:[{s:s,s:s}]}", "attributes", "id", "100392",
                    "name", "Material");
    if (!cat)
        return sg_err_set(err, SG_ENOMEM, "out of memory");
    memset(&in, 0, sizeof(in));
    in.title = "Cast Iron Skillet, Pre-Seasoned";
    in.description = "<p>Our \"forever\" pan.</p>";
    in.category_id = "601226";
    in.currency = "USD";
    in.external_id = "42";
    in.warehouse_id = "WH1";
    in.images = images;
    in.n_images = 2;
    in.attributes = "{\"Material\":\"Cast iron\",\"Origin\":\"USA\"}";
    in.category = cat;
    in.certifications = "7000001, 7000002";
    in.length_mm = 420;
    in.width_mm = 280;
    in.height_mm = 90;
    in.grams = 2300;
    in.skus = skus;
    in.n_skus = 2;

    b = sg_tts_product_body(&in, "surge-1-42-0", true);
    if (!b || (rc = out_json("create", b)))
        goto oom;
    json_decref(b);
    b = sg_tts_prices_body(&in);
    if (!b || (rc = out_json("prices", b)))
        goto oom;
    json_decref(b);
    b = sg_tts_inventory_body(&in);
    if (!b || (rc = out_json("inventory", b)))
        goto oom;
    json_decref(b);
    b = sg_tts_ids_body("1729592969712207008");
    if (!b || (rc = out_json("ids", b)))
        goto oom;
    json_decref(b);
    b = NULL;
    if ((rc = sg_tts_product_hash(&in, hash)))
        goto oom;
    sg_buf_printf(&out, "hash %s\n", hash);
    json_decref(cat);
    return 0;
oom:
    json_decref(b);
    json_decref(cat);
    return sg_err_set(err, SG_ENOMEM, "out of memory");
}

static void test_bodies(void **state)
{
    SG_UNUSED(state);
    sweep("tts product, price and stock bodies", bodies_run, 0);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_webhook),
        cmocka_unit_test(test_envelope),
        cmocka_unit_test(test_calls),
        cmocka_unit_test(test_product_answers),
        cmocka_unit_test(test_bodies),
    };

    SG_UNUSED(argc);
    sgt_torture_init(argv);
    sg_log_set_level(SG_LOG_ERR);
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
