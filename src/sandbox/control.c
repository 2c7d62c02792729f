/*
 * control.c - the sandbox's own routes: the control plane under
 * /sandbox/v1/ (plain JSON, Bearer-protected when --control-token is set)
 * and the OAuth side: the consent page /open/authorize and the token
 * endpoints /api/v2/token/{get,refresh}, which answer with TikTok's
 * envelope and are not signed (reference 1.4).
 */
#include "core/sg.h"
#include "sandbox/internal.h"
#include "sandbox/tiktok_shop/shop_internal.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/crypto.h"
#include "core/json.h"
#include "core/log.h"

#define BODY_MAX (1u << 20)

static bool authorized(struct sg_sbx *s, struct sg_http_req *req)
{
    const char *want = s->cfg.control_token;
    size_t len = 0, wl;
    const char *h;

    if (!want || !*want)
        return true;
    h = sg_http_req_header(req, "authorization", &len);
    wl = strlen(want);
    if (h && len == wl + 7 && memcmp(h, "Bearer ", 7) == 0 &&
        sg_ct_equal(h + 7, wl, want, wl))
        return true;
    sg_http_reply_error(req, 401, "unauthorized",
                        "control plane needs Authorization: Bearer <token>",
                        NULL);
    return false;
}

/* Body as a JSON object ({} when empty); NULL after answering 400. */
static json_t *body_obj(struct sg_http_req *req)
{
    size_t len = 0;
    const char *b = sg_http_req_body(req, &len);
    json_t *j;

    if (!b || len == 0)
        return json_object();
    j = sg_http_req_json(req);
    if (j && !json_is_object(j)) {
        json_decref(j);
        sg_http_reply_error(req, 400, "invalid_json",
                            "expected a JSON object", NULL);
        return NULL;
    }
    return j;
}

#define CTL_BEGIN(req, ctx)                                                    \
    struct sg_sbx *s = ctx;                                                    \
    if (!authorized(s, req))                                                   \
    return

static void h_info(struct sg_http_req *req, void *ctx)
{
    CTL_BEGIN(req, ctx);
    sg_http_reply_json(req, 200, sg_sbx_info(s));
}

static void h_reset(struct sg_http_req *req, void *ctx)
{
    struct sg_err err;
    int rc;

    CTL_BEGIN(req, ctx);
    sg_err_init(&err);
    sg_sbx_traffic_stop(s);
    sg_sbx_lock(s);
    rc = sg_sbx__reset(s, &err);
    sg_sbx_unlock(s);
    sg_sbx__save_sync(s);
    if (rc) {
        sg_http_reply_error(req, 500, "reset_failed", err.msg, NULL);
        return;
    }
    sg_http_reply_json(req, 200, sg_sbx_info(s));
}

static int64_t stock_of(const json_t *sku)
{
    int64_t n = 0;
    size_t i;
    json_t *w;

    json_array_foreach(json_object_get(sku, "inventory"), i, w)
        n += sg_json_int(w, "quantity", 0);
    return n;
}

static json_t *skus_view(struct sg_sbx *s)
{
    json_t *out = json_array(), *p, *sku;
    const char *pid;
    size_t i;

    json_object_foreach(sg_sbx_coll(s, "products"), pid, p) {
        json_array_foreach(json_object_get(p, "skus"), i, sku) {
            json_t *v = json_deep_copy(sku);

            json_object_set_new(v, "product_id", json_string(pid));
            json_object_set_new(v, "product_status",
                                json_string(sg_json_str(p, "status")));
            json_object_set_new(v, "shop_id",
                                json_string(sg_json_str(p, "shop_id")));
            json_object_set_new(v, "stock", json_integer(stock_of(sku)));
            json_array_append_new(out, v);
        }
    }
    return out;
}

static void h_state(struct sg_http_req *req, void *ctx)
{
    size_t len = 0;
    const char *name = sg_http_req_param(req, "coll", &len);
    char coll[64];
    json_t *arr, *v;
    const char *k;

    CTL_BEGIN(req, ctx);
    if (!name || len == 0 || len >= sizeof(coll)) {
        sg_http_reply_error(req, 404, "not_found", "no such collection",
                            NULL);
        return;
    }
    memcpy(coll, name, len);
    coll[len] = '\0';
    sg_sbx_lock(s);
    if (strcmp(coll, "skus") == 0) {
        arr = skus_view(s);
    } else {
        arr = json_array();
        json_object_foreach(sg_sbx_coll(s, coll), k, v)
            json_array_append_new(arr, json_deep_copy(v));
    }
    sg_sbx_unlock(s);
    sg_sbx__save_sync(s);
    sg_http_reply_json(req, 200,
                       json_pack("{s:o,s:i}", coll, arr, "count",
                                 (int)json_array_size(arr)));
}

static void h_calls(struct sg_http_req *req, void *ctx)
{
    json_t *out;

    CTL_BEGIN(req, ctx);
    sg_sbx_lock(s);
    out = json_pack("{s:I,s:o,s:o}", "total", (json_int_t)s->calls_total,
                    "counts", json_deep_copy(s->call_counts), "calls",
                    sg_sbx__calls_json(s));
    sg_sbx_unlock(s);
    sg_sbx__save_sync(s);
    sg_http_reply_json(req, 200, out);
}

static void h_clock(struct sg_http_req *req, void *ctx)
{
    json_t *b;
    int64_t ms;

    CTL_BEGIN(req, ctx);
    if (!(b = body_obj(req)))
        return;
    ms = sg_json_int(b, "seconds", 0) * 1000 + sg_json_int(b, "ms", 0);
    json_decref(b);
    if (ms < 0) {
        sg_http_reply_error(req, 400, "invalid", "the clock only moves "
                            "forward", "seconds");
        return;
    }
    sg_sbx_lock(s);
    atomic_fetch_add(&s->clock_offset_ms, ms);
    sg_sbx_dirty(s);
    sg_sbx__run_due(s);
    sg_sbx_unlock(s);
    sg_sbx__save_sync(s);
    sg_http_reply_json(req, 200,
                       json_pack("{s:I,s:I}", "now",
                                 (json_int_t)sg_sbx_now_s(s), "offset_ms",
                                 (json_int_t)atomic_load(
                                     &s->clock_offset_ms)));
}

static void h_faults(struct sg_http_req *req, void *ctx)
{
    size_t ml = 0;
    const char *m = sg_http_req_method(req, &ml);
    struct sg_err err;
    json_t *b, *out;
    int rc = 0;

    CTL_BEGIN(req, ctx);
    sg_err_init(&err);
    b = (ml == 4 && memcmp(m, "POST", 4) == 0) ? body_obj(req) : NULL;
    if (ml == 4 && memcmp(m, "POST", 4) == 0 && !b)
        return;
    sg_sbx_lock(s);
    if (b)
        rc = sg_sbx__faults_set(s, b, json_is_true(json_object_get(
                                          b, "append")), &err);
    else if (ml == 6 && memcmp(m, "DELETE", 6) == 0)
        sg_sbx__faults_clear(s);
    out = sg_sbx__faults_json(s);
    sg_sbx_unlock(s);
    sg_sbx__save_sync(s);
    json_decref(b);
    if (rc) {
        json_decref(out);
        sg_http_reply_error(req, 400, "invalid_fault", err.msg, NULL);
        return;
    }
    sg_http_reply_json(req, 200, out);
}

static void h_rate(struct sg_http_req *req, void *ctx)
{
    struct sg_err err;
    json_t *b;
    int rc;

    CTL_BEGIN(req, ctx);
    if (!(b = body_obj(req)))
        return;
    sg_err_init(&err);
    sg_sbx_lock(s);
    rc = sg_sbx__rate_set(s, b, &err);
    sg_sbx_unlock(s);
    sg_sbx__save_sync(s);
    json_decref(b);
    if (rc) {
        sg_http_reply_error(req, 400, "invalid", err.msg, NULL);
        return;
    }
    sg_http_reply_json(req, 200, json_pack("{s:b}", "ok", 1));
}

static void h_traffic(struct sg_http_req *req, void *ctx)
{
    size_t ml = 0;
    const char *m = sg_http_req_method(req, &ml);
    struct sg_err err;
    json_t *b;
    int rc;

    CTL_BEGIN(req, ctx);
    sg_err_init(&err);
    if (ml == 6 && memcmp(m, "DELETE", 6) == 0) {
        sg_sbx_traffic_stop(s);
    } else if (ml == 4 && memcmp(m, "POST", 4) == 0) {
        if (!(b = body_obj(req)))
            return;
        rc = sg_sbx_traffic_start(s, b, &err);
        json_decref(b);
        if (rc) {
            sg_http_reply_error(req, rc == SG_EDECLINED ? 501 : 400,
                                rc == SG_EDECLINED ? "not_implemented"
                                                   : "invalid",
                                rc == SG_EDECLINED
                                    ? "traffic generator not built in"
                                    : err.msg,
                                NULL);
            return;
        }
    }
    b = sg_sbx_traffic_status(s);
    sg_http_reply_json(req, 200, b ? b : json_pack("{s:b}", "running", 0));
}

static void h_orders(struct sg_http_req *req, void *ctx)
{
    struct sg_err err;
    json_t *b, *order = NULL;
    const char *shop;
    int rc;

    CTL_BEGIN(req, ctx);
    if (!(b = body_obj(req)))
        return;
    sg_err_init(&err);
    sg_sbx_lock(s);
    shop = sg_json_str(b, "shop_id");
    if (!shop)
        shop = sg_sbx_default_shop(s)->id;
    rc = sg_sbx_order_create(s, shop, json_object_get(b, "lines"), &order,
                             &err);
    sg_sbx_unlock(s);
    sg_sbx__save_sync(s);
    json_decref(b);
    if (rc) {
        sg_http_reply_error(req,
                            rc == SG_EDECLINED ? 501
                            : rc == SG_ESTATE  ? 409
                                               : 400,
                            sg_err_name(rc),
                            err.msg[0] ? err.msg : "order not created",
                            NULL);
        return;
    }
    sg_http_reply_json(req, 201, json_pack("{s:o}", "order", order));
}

static void h_tokens_expire(struct sg_http_req *req, void *ctx)
{
    json_t *b, *rec;
    const char *only, *k;
    int n = 0;
    bool refresh;

    CTL_BEGIN(req, ctx);
    if (!(b = body_obj(req)))
        return;
    only = sg_json_str(b, "access_token");
    refresh = json_is_true(json_object_get(b, "refresh_token"));
    sg_sbx_lock(s);
    json_object_foreach(json_object_get(s->state, "access_tokens"), k, rec) {
        if (only && strcmp(only, k) != 0)
            continue;
        json_object_set_new(rec, "expire_s",
                            json_integer(sg_sbx_now_s(s) - 1));
        n++;
    }
    json_object_foreach(json_object_get(s->state, "refresh_tokens"), k, rec) {
        if (refresh)
            json_object_set_new(rec, "expire_s",
                                json_integer(sg_sbx_now_s(s) - 1));
    }
    sg_sbx_dirty(s);
    sg_sbx_unlock(s);
    sg_sbx__save_sync(s);
    json_decref(b);
    sg_http_reply_json(req, 200, json_pack("{s:i}", "expired", n));
}

static void h_tokens_scopes(struct sg_http_req *req, void *ctx)
{
    json_t *b, *rec;
    const char *tok;

    CTL_BEGIN(req, ctx);
    if (!(b = body_obj(req)))
        return;
    tok = sg_json_str(b, "access_token");
    sg_sbx_lock(s);
    rec = tok ? json_object_get(json_object_get(s->state, "access_tokens"),
                                tok)
              : NULL;
    if (rec && json_is_array(json_object_get(b, "scopes"))) {
        json_object_set(rec, "scopes", json_object_get(b, "scopes"));
        json_object_set_new(rec, "all_scopes", json_false());
        sg_sbx_dirty(s);
    }
    sg_sbx_unlock(s);
    sg_sbx__save_sync(s);
    json_decref(b);
    if (!rec) {
        sg_http_reply_error(req, 404, "not_found", "no such access token",
                            "access_token");
        return;
    }
    sg_http_reply_json(req, 200, json_pack("{s:b}", "ok", 1));
}

static void h_webhook_address(struct sg_http_req *req, void *ctx)
{
    json_t *b;
    const char *a;

    CTL_BEGIN(req, ctx);
    if (!(b = body_obj(req)))
        return;
    a = sg_json_str(b, "address");
    sg_sbx_lock(s);
    if (a && *a)
        json_object_set_new(s->state, "webhook_address", json_string(a));
    else
        json_object_del(s->state, "webhook_address");
    sg_sbx_dirty(s);
    sg_sbx_unlock(s);
    sg_sbx__save_sync(s);
    sg_http_reply_json(req, 200, json_pack("{s:s?}", "address", a));
    json_decref(b);
}

static void h_webhooks(struct sg_http_req *req, void *ctx)
{
    CTL_BEGIN(req, ctx);
    sg_http_reply_json(req, 200, sg_sbx__wh_log(s));
}

static void h_buyer_message(struct sg_http_req *req, void *ctx)
{
    struct sg_err err;
    json_t *b, *msg = NULL;
    int rc;

    CTL_BEGIN(req, ctx);
    if (!(b = body_obj(req)))
        return;
    sg_err_init(&err);
    sg_sbx_lock(s);
    rc = sg_sbx__cs_buyer_message(s, sg_json_str(b, "conversation_id"),
                                  sg_json_str(b, "buyer_user_id"),
                                  sg_json_str(b, "content"), &msg, &err);
    sg_sbx_unlock(s);
    sg_sbx__save_sync(s);
    json_decref(b);
    if (rc) {
        sg_http_reply_error(req, rc == SG_ENOTFOUND ? 404 : 400,
                            sg_err_name(rc), err.msg, NULL);
        return;
    }
    sg_http_reply_json(req, 201, json_pack("{s:o}", "message", msg));
}

/*
 * Copies of one product with fresh ids, for tests that need a big
 * catalogue (the 10,000-result search cap): {"from": product_id,
 * "count": n}. No webhooks, no audit: copies keep the template's status.
 */
#define BULK_MAX 20000

static void h_products_bulk(struct sg_http_req *req, void *ctx)
{
    json_t *b, *tmpl, *coll;
    json_int_t n;
    size_t made = 0, total;

    CTL_BEGIN(req, ctx);
    if (!(b = body_obj(req)))
        return;
    n = sg_json_int(b, "count", 0);
    if (n < 1 || n > BULK_MAX || !sg_json_str(b, "from")) {
        json_decref(b);
        sg_http_reply_error(req, 400, "invalid",
                            "need \"from\" and \"count\" 1..20000", NULL);
        return;
    }
    sg_sbx_lock(s);
    coll = sg_sbx_coll(s, "products");
    tmpl = json_object_get(coll, sg_json_str(b, "from"));
    for (json_int_t i = 0; tmpl && i < n; i++) {
        json_t *p = json_deep_copy(tmpl), *sku;
        char id[24], sid[24], ss[96];
        size_t k;

        if (!p)
            break;
        sg_sbx_new_id(s, id);
        json_object_set_new(p, "id", json_string(id));
        json_object_del(p, "idempotency_key");
        json_object_del(p, "audit_due_ms");
        json_array_foreach(json_object_get(p, "skus"), k, sku) {
            sg_sbx_new_id(s, sid);
            json_object_set_new(sku, "id", json_string(sid));
            snprintf(ss, sizeof(ss), "%.64s-%" PRId64,
                     sg_json_str(sku, "seller_sku")
                         ? sg_json_str(sku, "seller_sku")
                         : "SKU",
                     (int64_t)i);
            json_object_set_new(sku, "seller_sku", json_string(ss));
        }
        json_object_set_new(coll, id, p);
        made++;
    }
    total = json_object_size(coll);
    sg_sbx_dirty(s);
    sg_sbx_unlock(s);
    sg_sbx__save_sync(s);
    json_decref(b);
    if (!tmpl) {
        sg_http_reply_error(req, 404, "not_found", "no such product",
                            "from");
        return;
    }
    sg_http_reply_json(req, 201, json_pack("{s:I,s:I}", "created",
                                           (json_int_t)made, "count",
                                           (json_int_t)total));
}

/* The buyer changes an unshipped order's address (webhook 3). */
static void h_order_address(struct sg_http_req *req, void *ctx)
{
    size_t len = 0;
    const char *id = sg_http_req_param(req, "id", &len);
    char oid[32];
    struct sg_err err;
    json_t *order, *view = NULL;
    int rc = SG_ENOTFOUND;

    CTL_BEGIN(req, ctx);
    sg_err_init(&err);
    if (!id || len == 0 || len >= sizeof(oid)) {
        sg_http_reply_error(req, 404, "not_found", "no such order", NULL);
        return;
    }
    memcpy(oid, id, len);
    oid[len] = '\0';
    sg_sbx_lock(s);
    order = sg_sbx__get(s, "orders", oid, NULL);
    if (order)
        rc = sg_sbx__order_address_update(s, order, &err);
    if (rc == 0)
        view = sg_sbx__view(order);
    sg_sbx_unlock(s);
    sg_sbx__save_sync(s);
    if (rc) {
        sg_http_reply_error(req, rc == SG_ESTATE ? 409 : 404,
                            sg_err_name(rc),
                            err.msg[0] ? err.msg : "no such order", NULL);
        return;
    }
    sg_http_reply_json(req, 200, json_pack("{s:o}", "order", view));
}

/* Order, package and return progress delays: GET, or PUT {"pay_s":..}. */
static void h_timing(struct sg_http_req *req, void *ctx)
{
    size_t ml = 0;
    const char *m = sg_http_req_method(req, &ml);
    struct sg_err err;
    json_t *b, *out;
    int rc = 0;

    CTL_BEGIN(req, ctx);
    sg_err_init(&err);
    if (ml == 3 && memcmp(m, "PUT", 3) == 0) {
        if (!(b = body_obj(req)))
            return;
        sg_sbx_lock(s);
        rc = sg_sbx__timing_set(s, b, &err);
        if (rc == 0)
            sg_sbx_dirty(s);
        sg_sbx_unlock(s);
        sg_sbx__save_sync(s);
        json_decref(b);
        if (rc) {
            sg_http_reply_error(req, 400, "invalid", err.msg, NULL);
            return;
        }
    }
    sg_sbx_lock(s);
    out = sg_sbx__timing_json(s);
    sg_sbx_unlock(s);
    sg_http_reply_json(req, 200, out);
}

/* Seller revokes the app (type 6) or the grant nears expiry (type 7). */
static void h_authorization(struct sg_http_req *req, void *ctx)
{
    size_t len = 0;
    const char *what = sg_http_req_param(req, "what", &len);
    bool revoke = what && len == 6 && memcmp(what, "revoke", 6) == 0;

    CTL_BEGIN(req, ctx);
    if (!revoke && !(what && len == 8 && memcmp(what, "expiring", 8) == 0)) {
        sg_http_reply_error(req, 404, "not_found", "revoke or expiring",
                            NULL);
        return;
    }
    sg_sbx_lock(s);
    for (size_t i = 0; i < s->n_shops; i++) {
        char exp[24];

        snprintf(exp, sizeof(exp), "%" PRId64, sg_sbx_now_s(s) + 7 * 86400);
        sg_sbx_emit(s, s->shops[i].id, revoke ? 6 : 7,
                    revoke ? json_pack("{s:s}", "message",
                                       "The seller deauthorized the app.")
                           : json_pack("{s:s,s:s}", "message",
                                       "The authorization expires soon.",
                                       "expiration_time", exp));
    }
    if (revoke) {
        json_object_clear(json_object_get(s->state, "access_tokens"));
        json_object_clear(json_object_get(s->state, "refresh_tokens"));
        sg_sbx_dirty(s);
    }
    sg_sbx_unlock(s);
    sg_sbx__save_sync(s);
    sg_http_reply_json(req, 200, json_pack("{s:b}", "ok", 1));
}

/* ---- OAuth ---- */

static void env_reply(struct sg_http_req *req, int status, long code,
                      const char *msg, json_t *data)
{
    json_t *env = sg_sbx__envelope(code, msg, data);

    /* NULL (out of memory) answers the internal error. */
    if (env && json_object_set_new(env, "request_id",
                                   json_string(sg_http_req_id(req))) != 0) {
        json_decref(env);
        env = NULL;
    }
    sg_sbx__reply(req, status, env, NULL, 0);
}

static bool qv(struct sg_http_req *req, const char *k, char *out, size_t n)
{
    return sg_http_req_query_get(req, k, out, n) >= 0;
}

/* Checks app_key, app_secret and grant_type; answers on failure. */
static bool token_app_ok(struct sg_sbx *s, struct sg_http_req *req,
                         const char *grant)
{
    char key[128], secret[128], gt[64];

    if (!qv(req, "app_key", key, sizeof(key)) || strcmp(key, s->app_key)) {
        env_reply(req, 400, 36009004,
                  "Invalid credentials. Invalid `app_key` query parameter.",
                  NULL);
        return false;
    }
    if (!qv(req, "app_secret", secret, sizeof(secret)) ||
        !sg_ct_equal(secret, strlen(secret), s->app_secret,
                     strlen(s->app_secret))) {
        env_reply(req, 400, 36009004,
                  "Invalid credentials. Invalid `app_secret` query "
                  "parameter.",
                  NULL);
        return false;
    }
    if (!qv(req, "grant_type", gt, sizeof(gt)) || strcmp(gt, grant)) {
        env_reply(req, 400, 36009004,
                  "Invalid parameter. The `grant_type` query parameter is "
                  "invalid.",
                  NULL);
        return false;
    }
    return true;
}

static void h_token_get(struct sg_http_req *req, void *ctx)
{
    struct sg_sbx *s = ctx;
    char code[128];
    json_t *rec, *seller, *data = NULL, *shops;
    size_t i;
    bool valid = false;

    if (!token_app_ok(s, req, "authorized_code"))
        return;
    sg_sbx_lock(s);
    rec = qv(req, "auth_code", code, sizeof(code))
              ? json_object_get(json_object_get(s->state, "auth_codes"),
                                code)
              : NULL;
    if (rec && !json_is_true(json_object_get(rec, "used")) &&
        sg_json_int(rec, "expire_s", 0) > sg_sbx_now_s(s)) {
        unsigned long mark = sg_json_alloc_failures();

        valid = true;
        seller = json_object_get(s->state, "seller");
        shops = json_array();
        for (i = 0; i < s->n_shops; i++)
            json_array_append_new(shops, json_string(s->shops[i].id));
        /*
         * Out of memory: no tokens and the code stays unused, so the
         * seller's retry can still exchange it.
         */
        if (sg_json_alloc_failures() == mark &&
            json_object_set_new(rec, "used", json_true()) == 0) {
            data = sg_sbx__issue_tokens(s, sg_json_str(seller, "open_id"),
                                        shops, NULL);
            if (!data)
                json_object_del(rec, "used");
        }
        json_decref(shops);
    }
    sg_sbx_unlock(s);
    sg_sbx__save_sync(s);
    if (valid && !data) {
        env_reply(req, 500, 36009003,
                  "Internal error. Please try again later.", NULL);
        return;
    }
    if (!data) {
        env_reply(req, 400, 36009004,
                  "Invalid credentials. The `auth_code` is invalid, used or "
                  "expired.",
                  NULL);
        return;
    }
    env_reply(req, 200, 0, "success", data);
}

static void h_token_refresh(struct sg_http_req *req, void *ctx)
{
    struct sg_sbx *s = ctx;
    char tok[256];
    json_t *rec, *data = NULL;
    bool valid = false;

    if (!token_app_ok(s, req, "refresh_token"))
        return;
    sg_sbx_lock(s);
    rec = qv(req, "refresh_token", tok, sizeof(tok))
              ? json_object_get(json_object_get(s->state, "refresh_tokens"),
                                tok)
              : NULL;
    if (rec && sg_json_int(rec, "expire_s", 0) > sg_sbx_now_s(s)) {
        json_t *r = json_incref(rec);
        json_t *scopes = json_object_get(r, "scopes");

        valid = true;
        data = sg_sbx__issue_tokens(s, sg_json_str(r, "open_id"),
                                    json_object_get(r, "shops"),
                                    json_is_array(scopes) ? scopes : NULL);
        /*
         * The old token goes only once the new ones exist: a refresh
         * that ran out of memory leaves the caller's token working.
         */
        if (data && s->cfg.refresh_rotate)
            json_object_del(json_object_get(s->state, "refresh_tokens"),
                            tok);
        json_decref(r);
    }
    sg_sbx_unlock(s);
    sg_sbx__save_sync(s);
    if (valid && !data) {
        env_reply(req, 500, 36009003,
                  "Internal error. Please try again later.", NULL);
        return;
    }
    if (!data) {
        env_reply(req, 400, 36009004,
                  "Invalid credentials. The `refresh_token` is invalid or "
                  "expired.",
                  NULL);
        return;
    }
    env_reply(req, 200, 0, "success", data);
}

static void url_encode(struct sg_buf *b, const char *v)
{
    for (; *v; v++) {
        unsigned char ch = (unsigned char)*v;

        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
            (ch >= '0' && ch <= '9') || strchr("-_.~", ch))
            sg_buf_append(b, v, 1);
        else
            sg_buf_printf(b, "%%%02X", ch);
    }
}

static void h_authorize(struct sg_http_req *req, void *ctx)
{
    struct sg_sbx *s = ctx;
    char svc[128] = "", state[512] = "", code[48];
    const char *want;
    struct sg_buf loc;
    struct sg_http_header h[1];

    qv(req, "service_id", svc, sizeof(svc));
    qv(req, "state", state, sizeof(state));
    sg_sbx_lock(s);
    want = sg_json_str(s->state, "service_id");
    if (s->cfg.service_id && strcmp(svc, want)) {
        sg_sbx_unlock(s);
        sg_sbx__save_sync(s);
        sg_http_reply_error(req, 400, "invalid_service_id",
                            "unknown service_id", "service_id");
        return;
    }
    sg_sbx__random_token(s, "SBXC_", code, 37);
    json_object_set_new(
        json_object_get(s->state, "auth_codes"), code,
        json_pack("{s:I,s:b}", "expire_s",
                  (json_int_t)(sg_sbx_now_s(s) + s->cfg.auth_code_ttl_s),
                  "used", 0));
    sg_sbx_dirty(s);
    sg_sbx_unlock(s);
    sg_sbx__save_sync(s);
    if (!s->cfg.callback_url) {
        sg_http_reply_json(req, 200, json_pack("{s:s,s:s}", "code", code,
                                               "state", state));
        return;
    }
    sg_buf_init(&loc, 8192);
    sg_buf_printf(&loc, "%s%scode=", s->cfg.callback_url,
                  strchr(s->cfg.callback_url, '?') ? "&" : "?");
    url_encode(&loc, code);
    sg_buf_appends(&loc, "&state=");
    url_encode(&loc, state);
    h[0].name = "Location";
    h[0].value = loc.data ? loc.data : "";
    sg_http_reply_ex(req, 302, "text/plain", "", 0, h, 1);
    sg_buf_release(&loc);
}

int sg_sbx__control_routes(struct sg_sbx *s, struct sg_err *err)
{
    static const struct {
        const char *method;
        const char *pattern;
        sg_http_handler_fn fn;
    } routes[] = {
        {"GET", "/sandbox/v1/info", h_info},
        {"POST", "/sandbox/v1/reset", h_reset},
        {"GET", "/sandbox/v1/state/{coll}", h_state},
        {"GET", "/sandbox/v1/calls", h_calls},
        {"POST", "/sandbox/v1/clock/advance", h_clock},
        {"GET", "/sandbox/v1/faults", h_faults},
        {"POST", "/sandbox/v1/faults", h_faults},
        {"DELETE", "/sandbox/v1/faults", h_faults},
        {"PUT", "/sandbox/v1/rate_limits", h_rate},
        {"GET", "/sandbox/v1/traffic", h_traffic},
        {"POST", "/sandbox/v1/traffic", h_traffic},
        {"DELETE", "/sandbox/v1/traffic", h_traffic},
        {"POST", "/sandbox/v1/orders", h_orders},
        {"POST", "/sandbox/v1/products/bulk", h_products_bulk},
        {"GET", "/sandbox/v1/timing", h_timing},
        {"POST", "/sandbox/v1/orders/{id}/address", h_order_address},
        {"PUT", "/sandbox/v1/timing", h_timing},
        {"POST", "/sandbox/v1/tokens/expire", h_tokens_expire},
        {"POST", "/sandbox/v1/tokens/scopes", h_tokens_scopes},
        {"PUT", "/sandbox/v1/webhook_address", h_webhook_address},
        {"GET", "/sandbox/v1/webhooks", h_webhooks},
        {"POST", "/sandbox/v1/buyer_messages", h_buyer_message},
        {"POST", "/sandbox/v1/authorization/{what}", h_authorization},
        {"GET", "/api/v2/token/get", h_token_get},
        {"GET", "/api/v2/token/refresh", h_token_refresh},
        {"GET", "/open/authorize", h_authorize},
        {"GET", "/oauth/authorize", h_authorize},
    };

    for (size_t i = 0; i < SG_ARRAY_SIZE(routes); i++) {
        int rc = sg_http_route(s->http, routes[i].method, routes[i].pattern,
                               routes[i].fn, s);

        if (rc)
            return sg_err_set(err, rc, "route %s", routes[i].pattern);
    }
    return 0;
}
