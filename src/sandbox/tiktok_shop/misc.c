/*
 * misc.c - the smaller modules: authorization and seller (shop discovery),
 * logistics warehouses, event webhook subscriptions, customer service
 * conversations and messages, and basic finance statements. Every
 * function runs with the state lock held.
 */
#include "core/sg.h"
#include "sandbox/internal.h"
#include "core/alloc.h"
#include "core/json.h"

#define CONV_MESSAGES_MAX 1000

static const char *str_or(const json_t *o, const char *k, const char *d)
{
    const char *v = sg_json_str(o, k);

    return v ? v : d;
}

static void bad_param(struct sg_sbx_call *c, const char *field)
{
    char msg[160];

    snprintf(msg, sizeof(msg),
             "Invalid parameter. `%s` is missing or invalid.", field);
    sg_sbx_fail(c, 400, 36009004, msg, NULL);
}

static bool mine(struct sg_sbx_call *c, const json_t *o)
{
    return c->shop && strcmp(str_or(o, "shop_id", ""), c->shop->id) == 0;
}

/* Objects of coll belonging to the call's shop, in creation order. */
static json_t *shop_list(struct sg_sbx_call *c, const char *coll)
{
    json_t *out = json_array(), *v;
    const char *k;

    json_object_foreach(sg_sbx_coll(c->sbx, coll), k, v) {
        if (mine(c, v))
            json_array_append(out, v);
    }
    return out;
}

/* One page of list as {name: [...], next_page_token, total_count}. */
static void page_answer(struct sg_sbx_call *c, json_t *list,
                        const char *name, size_t def)
{
    size_t start, count;
    char next[64];
    json_t *page;

    if (!sg_sbx_page(c, json_array_size(list), def, &start, &count, next)) {
        json_decref(list);
        return;
    }
    page = json_array();
    for (size_t i = start; i < start + count; i++) {
        json_t *o = json_deep_copy(json_array_get(list, i));

        json_object_del(o, "shop_id");
        json_object_del(o, "messages");
        json_array_append_new(page, o);
    }
    sg_sbx_ok(c, json_pack("{s:o,s:s,s:i}", name, page, "next_page_token",
                           next, "total_count", (int)json_array_size(list)));
    json_decref(list);
}

/* ---- authorization / seller ---- */

static void a_shops(struct sg_sbx_call *c)
{
    json_t *out = json_array(), *sid, *sh;
    size_t i, k;

    json_array_foreach(json_object_get(c->token, "shops"), i, sid) {
        json_array_foreach(json_object_get(c->sbx->state, "shops"), k, sh) {
            if (strcmp(str_or(sh, "id", ""), json_string_value(sid)) == 0)
                json_array_append_new(out, json_deep_copy(sh));
        }
    }
    sg_sbx_ok(c, json_pack("{s:o}", "shops", out));
}

static void a_category_assets(struct sg_sbx_call *c)
{
    sg_sbx_ok(c, json_pack("{s:[]}", "category_assets"));
}

static void s_shops(struct sg_sbx_call *c)
{
    json_t *out = json_array(), *sh;
    size_t i;

    json_array_foreach(json_object_get(c->sbx->state, "shops"), i, sh)
        json_array_append_new(out, json_pack("{s:s,s:s}", "id",
                                             str_or(sh, "id", ""), "region",
                                             str_or(sh, "region", "")));
    sg_sbx_ok(c, json_pack("{s:o}", "shops", out));
}

static void s_permissions(struct sg_sbx_call *c)
{
    sg_sbx_ok(c, json_pack("{s:[s,s]}", "permissions",
                           "SELLER_FULFILLMENT", "SELLER_PRODUCT"));
}

/* ---- logistics ---- */

static void l_warehouses(struct sg_sbx_call *c)
{
    json_t *list = shop_list(c, "warehouses"), *w;
    size_t i;

    json_array_foreach(list, i, w) {
        json_t *o = json_deep_copy(w);

        json_object_del(o, "shop_id");
        json_array_set_new(list, i, o);
    }
    sg_sbx_ok(c, json_pack("{s:o}", "warehouses", list));
}

static void l_delivery_options(struct sg_sbx_call *c)
{
    char id[32];
    json_t *w = NULL;

    if (sg_sbx_param(c, "warehouse_id", id, sizeof(id)))
        w = json_object_get(sg_sbx_coll(c->sbx, "warehouses"), id);
    if (!w || !mine(c, w)) {
        sg_sbx_fail(c, 200, 12052097, "The warehouse does not exist", NULL);
        return;
    }
    sg_sbx_ok(c, json_pack("{s:[{s:s,s:s,s:s}]}", "delivery_options", "id",
                           "7000000000000000001", "name", "Standard shipping",
                           "type", "STANDARD"));
}

static void l_providers(struct sg_sbx_call *c)
{
    sg_sbx_ok(c, json_pack("{s:[{s:s,s:s},{s:s,s:s}]}", "shipping_providers",
                           "id", "7117858858072016686", "name", "USPS", "id",
                           "7117859084333745966", "name", "UPS"));
}

/* ---- event subscriptions ---- */

static void e_list(struct sg_sbx_call *c)
{
    json_t *list = shop_list(c, "webhooks"), *w, *out = json_array();
    size_t i;

    json_array_foreach(list, i, w)
        json_array_append_new(
            out, json_pack("{s:s,s:s,s:I,s:I}", "event_type",
                           str_or(w, "event_type", ""), "address",
                           str_or(w, "address", ""), "create_time",
                           sg_json_int(w, "create_time", 0), "update_time",
                           sg_json_int(w, "update_time", 0)));
    sg_sbx_ok(c, json_pack("{s:o,s:i}", "webhooks", out, "total_count",
                           (int)json_array_size(out)));
    json_decref(list);
}

static void e_put(struct sg_sbx_call *c)
{
    const char *et = sg_json_str(c->body, "event_type");
    const char *addr = sg_json_str(c->body, "address");
    char key[128];
    json_t *coll = sg_sbx_coll(c->sbx, "webhooks"), *old;

    if (!sg_sbx__event_type(et)) {
        bad_param(c, "event_type");
        return;
    }
    if (!addr || (strncmp(addr, "https://", 8) && strncmp(addr, "http://",
                                                          7))) {
        bad_param(c, "address");
        return;
    }
    snprintf(key, sizeof(key), "%s|%s", c->shop->id, et);
    old = json_object_get(coll, key);
    json_object_set_new(
        coll, key,
        json_pack("{s:s,s:s,s:s,s:I,s:I}", "shop_id", c->shop->id,
                  "event_type", et, "address", addr, "create_time",
                  old ? sg_json_int(old, "create_time", 0)
                      : (json_int_t)c->now_s,
                  "update_time", (json_int_t)c->now_s));
    sg_sbx_dirty(c->sbx);
    sg_sbx_ok_empty(c);
}

static void e_delete(struct sg_sbx_call *c)
{
    const char *et = sg_json_str(c->body, "event_type");
    char key[128];

    if (!sg_sbx__event_type(et)) {
        bad_param(c, "event_type");
        return;
    }
    snprintf(key, sizeof(key), "%s|%s", c->shop->id, et);
    json_object_del(sg_sbx_coll(c->sbx, "webhooks"), key);
    sg_sbx_dirty(c->sbx);
    sg_sbx_ok_empty(c);
}

/* ---- customer service ---- */

static json_t *new_conversation(struct sg_sbx *s, const char *shop_id,
                                const char *buyer)
{
    char id[24];
    json_t *conv;

    sg_sbx_new_id(s, id);
    conv = json_pack("{s:s,s:s,s:I,s:i,s:[{s:s,s:s},{s:s,s:s}],s:[]}", "id",
                     id, "shop_id", shop_id, "create_time",
                     (json_int_t)sg_sbx_now_s(s), "unread_count", 0,
                     "participants", "role", "BUYER", "user_id", buyer,
                     "role", "SHOP", "user_id", shop_id, "messages");
    json_object_set_new(sg_sbx_coll(s, "conversations"), id, conv);
    sg_sbx_dirty(s);
    return conv;
}

static json_t *add_message(struct sg_sbx *s, json_t *conv, const char *role,
                           const char *type, const char *content)
{
    char id[24];
    json_t *msgs = json_object_get(conv, "messages"), *m;

    if (json_array_size(msgs) >= CONV_MESSAGES_MAX)
        json_array_remove(msgs, 0);
    sg_sbx_new_id(s, id);
    m = json_pack("{s:s,s:s,s:s,s:{s:s},s:I,s:b}", "id", id, "type", type,
                  "content", content, "sender", "role", role, "create_time",
                  (json_int_t)sg_sbx_now_s(s), "is_visible", 1);
    json_array_append_new(msgs, m);
    json_object_set(conv, "latest_message", m);
    sg_sbx_dirty(s);
    return m;
}

int sg_sbx__cs_buyer_message(struct sg_sbx *s, const char *conv_id,
                             const char *buyer_user_id, const char *content,
                             json_t **msg_out, struct sg_err *err)
{
    json_t *conv = NULL, *m, *text;
    const char *shop_id = sg_sbx_default_shop(s)->id;
    char *encoded;

    *msg_out = NULL;
    if (!content)
        return sg_err_set(err, SG_EINVAL, "content is required");
    if (conv_id) {
        conv = json_object_get(sg_sbx_coll(s, "conversations"), conv_id);
        if (!conv)
            return sg_err_set(err, SG_ENOTFOUND, "no such conversation");
    } else {
        conv = new_conversation(s, shop_id, buyer_user_id ? buyer_user_id
                                                          : "7494000000001");
        sg_sbx_emit(s, shop_id, 13,
                    json_pack("{s:s,s:I}", "conversation_id",
                              sg_json_str(conv, "id"), "create_time",
                              (json_int_t)sg_sbx_now_s(s)));
    }
    text = json_pack("{s:s}", "content", content);
    encoded = sg_json_dump(text, NULL);
    json_decref(text);
    if (!encoded)
        return sg_err_set(err, SG_ENOMEM, "out of memory");
    m = add_message(s, conv, "BUYER", "TEXT", encoded);
    sg_free(encoded);
    json_object_set_new(conv, "unread_count",
                        json_integer(sg_json_int(conv, "unread_count", 0) +
                                     1));
    sg_sbx_emit(s, str_or(conv, "shop_id", shop_id), 14,
                json_pack("{s:s,s:s,s:s,s:s,s:I}", "conversation_id",
                          sg_json_str(conv, "id"), "message_id",
                          sg_json_str(m, "id"), "type", "TEXT", "content",
                          sg_json_str(m, "content"), "create_time",
                          (json_int_t)sg_sbx_now_s(s)));
    *msg_out = json_deep_copy(m);
    json_object_set_new(*msg_out, "conversation_id",
                        json_string(sg_json_str(conv, "id")));
    return 0;
}

static json_t *path_conv(struct sg_sbx_call *c)
{
    char id[32];
    json_t *conv = NULL;

    if (sg_sbx_param(c, "conversation_id", id, sizeof(id)))
        conv = json_object_get(sg_sbx_coll(c->sbx, "conversations"), id);
    if (!conv || !mine(c, conv)) {
        sg_sbx_fail(c, 200, 12052700, "The conversation does not exist.",
                    NULL);
        return NULL;
    }
    return conv;
}

static void cs_list(struct sg_sbx_call *c)
{
    page_answer(c, shop_list(c, "conversations"), "conversations", 20);
}

static void cs_create(struct sg_sbx_call *c)
{
    const char *buyer = sg_json_str(c->body, "buyer_user_id");
    json_t *conv;

    if (!buyer || !*buyer) {
        bad_param(c, "buyer_user_id");
        return;
    }
    conv = new_conversation(c->sbx, c->shop->id, buyer);
    sg_sbx_ok(c, json_pack("{s:s}", "conversation_id",
                           sg_json_str(conv, "id")));
}

static void cs_messages(struct sg_sbx_call *c)
{
    json_t *conv = path_conv(c);

    if (conv)
        page_answer(c, json_deep_copy(json_object_get(conv, "messages")),
                    "messages", 20);
}

static void cs_send(struct sg_sbx_call *c)
{
    json_t *conv = path_conv(c), *m, *inner;
    const char *type = sg_json_str(c->body, "type");
    const char *content = sg_json_str(c->body, "content");

    if (!conv)
        return;
    if (!type || !*type) {
        bad_param(c, "type");
        return;
    }
    /* content is a JSON-encoded string (reference 1.8). */
    inner = content ? sg_json_loads(content, 0, NULL) : NULL;
    if (!json_is_object(inner)) {
        json_decref(inner);
        bad_param(c, "content");
        return;
    }
    json_decref(inner);
    m = add_message(c->sbx, conv, "SHOP", type, content);
    sg_sbx_ok(c, json_pack("{s:s}", "message_id", sg_json_str(m, "id")));
}

static void cs_read(struct sg_sbx_call *c)
{
    json_t *conv = path_conv(c);

    if (!conv)
        return;
    json_object_set_new(conv, "unread_count", json_integer(0));
    sg_sbx_dirty(c->sbx);
    sg_sbx_ok_empty(c);
}

/* ---- finance ---- */

static void f_statements(struct sg_sbx_call *c)
{
    char sort[32] = "", v[32];
    json_t *list = shop_list(c, "statements"), *out = json_array(), *st;
    int64_t ge = INT64_MIN, lt = INT64_MAX;
    size_t i;

    if (!sg_sbx_query(c, "sort_field", sort, sizeof(sort)) ||
        strcmp(sort, "statement_time") != 0) {
        json_decref(list);
        json_decref(out);
        bad_param(c, "sort_field");
        return;
    }
    if (sg_sbx_query(c, "statement_time_ge", v, sizeof(v)))
        ge = strtoll(v, NULL, 10);
    if (sg_sbx_query(c, "statement_time_lt", v, sizeof(v)))
        lt = strtoll(v, NULL, 10);
    json_array_foreach(list, i, st) {
        int64_t t = sg_json_int(st, "statement_time", 0);

        if (t >= ge && t < lt)
            json_array_append(out, st);
    }
    json_decref(list);
    page_answer(c, out, "statements", 20);
}

static void f_empty(struct sg_sbx_call *c)
{
    sg_sbx_ok(c, json_pack("{s:[],s:s}", "transactions", "next_page_token",
                           ""));
}

#define V "202309"
#define REQ SG_SBX_SHOP_REQUIRED
#define NO SG_SBX_SHOP_FORBIDDEN
#define EP(m, mod, r, shop, sc, f)                                             \
    {                                                                          \
        .method = m, .module = mod, .rest = r, .versions = V,                  \
        .shop_rule = shop, .scope = sc, .multipart = false, .fn = f            \
    }

const struct sg_sbx_endpoint sg_sbx_misc_endpoints[] = {
    EP("GET", "authorization", "/shops", NO, NULL, a_shops),
    EP("GET", "authorization", "/category_assets", NO, NULL,
       a_category_assets),
    EP("GET", "seller", "/shops", NO, "seller.shop.info", s_shops),
    EP("GET", "seller", "/permissions", NO, "seller.shop.info",
       s_permissions),
    EP("GET", "logistics", "/warehouses", REQ, "seller.logistics",
       l_warehouses),
    EP("GET", "logistics", "/warehouses/{warehouse_id}/delivery_options",
       REQ, "seller.logistics", l_delivery_options),
    EP("GET", "logistics",
       "/delivery_options/{delivery_option_id}/shipping_providers", REQ,
       "seller.logistics", l_providers),
    EP("GET", "event", "/webhooks", REQ, NULL, e_list),
    EP("PUT", "event", "/webhooks", REQ, NULL, e_put),
    EP("DELETE", "event", "/webhooks", REQ, NULL, e_delete),
    EP("GET", "customer_service", "/conversations", REQ,
       "seller.customer_service", cs_list),
    EP("POST", "customer_service", "/conversations", REQ,
       "seller.customer_service", cs_create),
    EP("GET", "customer_service", "/conversations/{conversation_id}/messages",
       REQ, "seller.customer_service", cs_messages),
    EP("POST", "customer_service",
       "/conversations/{conversation_id}/messages", REQ,
       "seller.customer_service", cs_send),
    EP("POST", "customer_service",
       "/conversations/{conversation_id}/messages/read", REQ,
       "seller.customer_service", cs_read),
    EP("GET", "finance", "/statements", REQ, "seller.finance.info",
       f_statements),
    EP("GET", "finance", "/statements/{statement_id}/statement_transactions",
       REQ, "seller.finance.info", f_empty),
    EP("GET", "finance", "/orders/{order_id}/statement_transactions", REQ,
       "seller.finance.info", f_empty),
    {.method = NULL},
};
