/*
 * orders.c - TikTok Shop order calls: Search Orders (POST
 * /order/202309/orders/search, filters in the body, paging in the query),
 * Get Order Detail (GET /order/202309/orders?ids=a,b, at most 50) and the
 * seller cancellation (POST /return_refund/202309/cancellations). Every
 * answer is capped: a page holds at most page_size orders, a detail at
 * most the ids asked for.
 */
#include "core/sg.h"

#include "connectors/tiktok_shop/orders.h"
#include "connectors/tiktok_shop/tiktok_shop.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/json.h"

#define IDS_TEXT_MAX (SG_TTS_ORDER_IDS_MAX * 66)

static int shop_param(struct sg_tts_param *p, const char *cipher,
                      struct sg_err *err)
{
    if (!cipher || !cipher[0])
        return sg_err_set(err, SG_EINVAL, "shop_cipher is required");
    p->key = "shop_cipher";
    p->value = cipher;
    return 0;
}

/* An order id as the API sends it: a string of digits (or an integer). */
static bool ref_id(char *out, size_t out_len, const json_t *v)
{
    if (json_is_string(v) && json_string_length(v) > 0 &&
        json_string_length(v) < out_len) {
        snprintf(out, out_len, "%s", json_string_value(v));
        return true;
    }
    if (json_is_integer(v)) {
        snprintf(out, out_len, "%" JSON_INTEGER_FORMAT,
                 json_integer_value(v));
        return true;
    }
    return false;
}

int sg_tts__search_orders(struct sg_connector *c, const char *access_token,
                          const struct sg_conn_order_query *q,
                          struct sg_conn_order_ref **refs_out, size_t *n_out,
                          char **next_token_out, struct sg_err *err)
{
    struct sg_tts_param p[5];
    struct sg_conn_order_ref *refs = NULL;
    json_t *body = NULL, *data = NULL, *orders, *o;
    char *text = NULL, size[16];
    const char *next;
    size_t n = 0, np = 0, i;
    unsigned long mark;
    int rc;

    *refs_out = NULL;
    *n_out = 0;
    *next_token_out = NULL;
    if (q->page_size == 0 || q->page_size > SG_TTS_ORDER_PAGE_MAX)
        return sg_err_set(err, SG_EINVAL, "page_size must be 1..%d",
                          SG_TTS_ORDER_PAGE_MAX);
    rc = shop_param(&p[np++], q->shop_cipher, err);
    if (rc)
        return rc;
    snprintf(size, sizeof(size), "%u", q->page_size);
    p[np++] = (struct sg_tts_param){"page_size", size};
    p[np++] = (struct sg_tts_param){"sort_field", "update_time"};
    p[np++] = (struct sg_tts_param){"sort_order", "ASC"};
    if (q->page_token && q->page_token[0])
        p[np++] = (struct sg_tts_param){"page_token", q->page_token};
    mark = sg_json_alloc_failures();
    body = json_object();
    if (body && q->update_time_ge > 0)
        json_object_set_new(body, "update_time_ge",
                            json_integer(q->update_time_ge));
    if (body && q->update_time_lt > 0)
        json_object_set_new(body, "update_time_lt",
                            json_integer(q->update_time_lt));
    /*
     * A filter lost to a failed allocation would send a search over every
     * order of the shop, and the page would move the poll cursor: no
     * request at all instead.
     */
    body = sg_json_built(body, mark);
    text = body ? sg_json_dump(body, NULL) : NULL;
    if (!text) {
        rc = sg_err_set(err, SG_ENOMEM, "out of memory");
        goto out;
    }
    rc = sg_tts_call(c, "POST", "/order/202309/orders/search", p, np,
                     access_token, text, strlen(text), &data, err);
    if (rc)
        goto out;
    orders = json_object_get(data, "orders");
    if (orders && !json_is_array(orders)) {
        rc = sg_err_set(err, SG_EREMOTE, "orders search: orders is not a "
                        "list");
        goto out;
    }
    if (json_array_size(orders) > q->page_size) {
        rc = sg_err_set(err, SG_EREMOTE, "orders search: more orders than "
                        "page_size");
        goto out;
    }
    if (json_array_size(orders)) {
        refs = sg_calloc(json_array_size(orders), sizeof(*refs));
        if (!refs) {
            rc = sg_err_set(err, SG_ENOMEM, "out of memory");
            goto out;
        }
    }
    json_array_foreach(orders, i, o) {
        if (!ref_id(refs[n].id, sizeof(refs[n].id),
                    json_object_get(o, "id")))
            continue;
        refs[n].update_time = sg_json_int(o, "update_time", 0);
        n++;
    }
    next = sg_json_str(data, "next_page_token");
    if (next && next[0]) {
        if (strlen(next) > SG_TTS_PAGE_TOKEN_MAX) {
            rc = sg_err_set(err, SG_EREMOTE, "orders search: page_token too "
                            "long");
            goto out;
        }
        *next_token_out = sg_strdup(next);
        if (!*next_token_out) {
            rc = sg_err_set(err, SG_ENOMEM, "out of memory");
            goto out;
        }
    }
    *refs_out = refs;
    *n_out = n;
    refs = NULL;
out:
    sg_free(refs);
    sg_free(text);
    json_decref(body);
    json_decref(data);
    return rc;
}

/*
 * What is read of an order detail answer: the envelope, and of each
 * order the members sg_order_from_tts (src/features/orders/model.c) and
 * the shipment read-back (src/engine/shipments_api.c) use. The sandbox
 * sends about a hundred members per order and 50 orders per answer;
 * building only these halves the worker's parse. A member read from
 * these orders must be listed here, or it reads as absent.
 */
static const struct sg_json_keep keep_payment[] = {
    {"currency", NULL}, {"sub_total", NULL}, {"shipping_fee", NULL},
    {"tax", NULL}, {"total_amount", NULL}, {NULL, NULL}};
static const struct sg_json_keep keep_address[] = {
    {"name", NULL}, {"phone_number", NULL}, {"full_address", NULL},
    {"region_code", NULL}, {"postal_code", NULL}, {NULL, NULL}};
static const struct sg_json_keep keep_package[] = {{"id", NULL},
                                                   {NULL, NULL}};
static const struct sg_json_keep keep_line[] = {
    {"id", NULL}, {"sku_id", NULL}, {"seller_sku", NULL},
    {"quantity", NULL}, {"sale_price", NULL}, {"product_name", NULL},
    {"display_status", NULL}, {"package_id", NULL},
    {"tracking_number", NULL}, {NULL, NULL}};
static const struct sg_json_keep keep_order[] = {
    {"id", NULL}, {"status", NULL}, {"create_time", NULL},
    {"update_time", NULL}, {"payment", keep_payment}, {"user_id", NULL},
    {"buyer_email", NULL}, {"buyer_nickname", NULL},
    {"recipient_address", keep_address}, {"packages", keep_package},
    {"line_items", keep_line}, {NULL, NULL}};
static const struct sg_json_keep keep_data[] = {{"orders", keep_order},
                                                {NULL, NULL}};
static const struct sg_json_keep keep_detail[] = {
    {"code", NULL}, {"message", NULL}, {"data", keep_data}, {NULL, NULL}};

int sg_tts__get_orders(struct sg_connector *c, const char *access_token,
                       const char *shop_cipher, const char *const *ids,
                       size_t n, struct json_t **orders_out,
                       struct sg_err *err)
{
    struct sg_tts_param p[2];
    struct sg_buf b;
    json_t *data = NULL, *orders;
    int rc;

    *orders_out = NULL;
    if (n == 0 || n > SG_TTS_ORDER_IDS_MAX)
        return sg_err_set(err, SG_EINVAL, "1..%d order ids per call",
                          SG_TTS_ORDER_IDS_MAX);
    rc = shop_param(&p[0], shop_cipher, err);
    if (rc)
        return rc;
    sg_buf_init(&b, IDS_TEXT_MAX);
    for (size_t i = 0; i < n && !rc; i++) {
        const char *id = ids[i];

        if (!id || !id[0] || strchr(id, ','))
            rc = sg_err_set(err, SG_EINVAL, "order id %zu is malformed", i);
        else if ((rc = i ? sg_buf_appends(&b, ",") : 0) != 0 ||
                 (rc = sg_buf_appends(&b, id)) != 0)
            rc = sg_err_set(err, rc, rc == SG_ELIMIT ? "order ids too long"
                                                     : "out of memory");
    }
    if (rc)
        goto out;
    p[1] = (struct sg_tts_param){"ids", b.data};
    /* Up to 50 orders of a hundred fields each: parsed in the arena,
     * only the members read built. */
    rc = sg_tts_call_pruned(c, "GET", "/order/202309/orders", p, 2,
                            access_token, keep_detail, &data, err);
    if (rc)
        goto out;
    orders = json_object_get(data, "orders");
    if (!orders)
        orders = json_array();
    else if (!json_is_array(orders) || json_array_size(orders) > n) {
        rc = sg_err_set(err, SG_EREMOTE, "order detail: orders is not a "
                        "list of at most the ids asked for");
        goto out;
    } else {
        orders = sg_json_arena_keep(data, orders);
        data = NULL;
    }
    if (!orders) {
        rc = sg_err_set(err, SG_ENOMEM, "out of memory");
        goto out;
    }
    *orders_out = orders;
out:
    sg_json_arena_free(data);
    sg_buf_release(&b);
    return rc;
}

int sg_tts__cancel_order(struct sg_connector *c, const char *access_token,
                         const char *shop_cipher, const char *order_id,
                         const char *reason, struct sg_err *err)
{
    struct sg_tts_param p[1];
    json_t *body, *data = NULL;
    char *text = NULL;
    int rc;

    rc = shop_param(&p[0], shop_cipher, err);
    if (rc)
        return rc;
    body = json_pack("{s:s,s:s}", "order_id", order_id ? order_id : "",
                     "cancel_reason", reason ? reason : "seller_cancel");
    text = body ? sg_json_dump(body, NULL) : NULL;
    json_decref(body);
    if (!text)
        return sg_err_set(err, SG_ENOMEM, "out of memory");
    rc = sg_tts_call(c, "POST", "/return_refund/202309/cancellations", p, 1,
                     access_token, text, strlen(text), &data, err);
    json_decref(data);
    sg_free(text);
    return rc;
}
