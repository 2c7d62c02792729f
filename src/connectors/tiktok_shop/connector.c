/*
 * connector.c - the TikTok Shop ops table: seller consent URL, token
 * exchange and refresh on the auth host (unsigned GETs with the app secret
 * in the query, reference 1.4), shop discovery, webhook subscription and
 * the webhook envelope (1.9).
 */
#include "core/sg.h"

#include "connectors/tiktok_shop/fulfillment.h"
#include "connectors/tiktok_shop/orders.h"
#include "connectors/tiktok_shop/products.h"
#include "connectors/tiktok_shop/tiktok_shop.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/crypto.h"
#include "core/json.h"

#define TOKEN_MAX     2048
#define URL_MAX       8192
#define WEBHOOK_DEPTH 32

struct tts_connector {
    struct sg_connector base; /* first: the checked downcast relies on it */
    struct sg_hmac_key *wh_key; /* app_secret, for webhook checks */
};

static const struct {
    int type;
    const char *name;
} events[] = {
    {1, "ORDER_STATUS_CHANGE"},
    {2, "REVERSE_STATUS_UPDATE"},
    {3, "RECIPIENT_ADDRESS_UPDATE"},
    {4, "PACKAGE_UPDATE"},
    {5, "PRODUCT_STATUS_CHANGE"},
    {6, "SELLER_DEAUTHORIZATION"},
    {7, "UPCOMING_AUTHORIZATION_EXPIRATION"},
    {11, "CANCELLATION_STATUS_CHANGE"},
    {12, "RETURN_STATUS_CHANGE"},
    {13, "NEW_CONVERSATION"},
    {14, "NEW_MESSAGE"},
    {37, "PRODUCT_AUDIT_STATUS_CHANGE"},
};

/* What Surge subscribes to: orders, fulfilment, returns, products, auth. */
static const char *const subscribed[] = {
    "ORDER_STATUS_CHANGE",
    "RECIPIENT_ADDRESS_UPDATE",
    "PACKAGE_UPDATE",
    "PRODUCT_STATUS_CHANGE",
    "SELLER_DEAUTHORIZATION",
    "UPCOMING_AUTHORIZATION_EXPIRATION",
    "CANCELLATION_STATUS_CHANGE",
    "RETURN_STATUS_CHANGE",
    "PRODUCT_AUDIT_STATUS_CHANGE",
    NULL,
};

const char *sg_tts_event_name(int type)
{
    for (size_t i = 0; i < SG_ARRAY_SIZE(events); i++)
        if (events[i].type == type)
            return events[i].name;
    return NULL;
}

static int tts_open(struct sg_connector **out, const struct sg_conn_cfg *cfg,
                    const struct sg_conn_env *env, struct sg_err *err)
{
    struct tts_connector *t;

    *out = NULL;
    if (!cfg->app_key || !cfg->app_key[0] || !cfg->app_secret ||
        !cfg->app_secret[0])
        return sg_err_set(err, SG_ECONFIG,
                          "[tiktok_shop] app_key and app_secret are required");
    if (!cfg->api_base_url || !cfg->auth_base_url)
        return sg_err_set(err, SG_ECONFIG,
                          "[tiktok_shop] base URLs are required");
    t = sg_calloc(1, sizeof(*t));
    if (!t)
        return sg_err_set(err, SG_ENOMEM, "out of memory");
    t->base.ops = &sg_connector_tiktok_shop;
    t->base.cfg = *cfg;
    /* Without it (out of memory) webhooks are checked the slow way. */
    (void)sg_hmac_key_new(&t->wh_key, cfg->app_secret,
                          strlen(cfg->app_secret));
    if (env)
        t->base.env = *env;
    *out = &t->base;
    return 0;
}

static void tts_close(struct sg_connector *c)
{
    if (c)
        sg_hmac_key_free(((struct tts_connector *)c)->wh_key);
    sg_free(c);
}

static int url_encode(struct sg_buf *b, const char *v)
{
    int rc = 0;

    for (; *v && rc == 0; v++) {
        unsigned char ch = (unsigned char)*v;

        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
            (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' ||
            ch == '.' || ch == '~')
            rc = sg_buf_append(b, v, 1);
        else
            rc = sg_buf_printf(b, "%%%02X", ch);
    }
    return rc;
}

static int tts_authorize_url(struct sg_connector *c, const char *state,
                             char **url_out, struct sg_err *err)
{
    const char *base = c->cfg.authorize_url;
    struct sg_buf b;
    int rc;

    *url_out = NULL;
    if (!base || !c->cfg.service_id || !c->cfg.service_id[0])
        return sg_err_set(err, SG_ECONFIG, "[tiktok_shop] service_id and "
                          "authorize_url are required");
    sg_buf_init(&b, URL_MAX);
    rc = sg_buf_appends(&b, base);
    if (!rc)
        rc = sg_buf_appends(&b, strchr(base, '?') ? "&service_id="
                                                  : "?service_id=");
    if (!rc)
        rc = url_encode(&b, c->cfg.service_id);
    if (!rc)
        rc = sg_buf_appends(&b, "&state=");
    if (!rc)
        rc = url_encode(&b, state);
    if (rc) {
        sg_buf_release(&b);
        return sg_err_set(err, rc, "authorization URL too long");
    }
    *url_out = sg_buf_detach(&b, NULL);
    return *url_out ? 0 : sg_err_set(err, SG_ENOMEM, "out of memory");
}

static int copy_token(char **out, const json_t *data, const char *key,
                      struct sg_err *err)
{
    const char *v = sg_json_str(data, key);

    if (!v || !v[0] || strlen(v) > TOKEN_MAX)
        return sg_err_set(err, SG_EREMOTE, "tiktok_shop token answer lacks "
                          "%s", key);
    *out = sg_strdup(v);
    return *out ? 0 : sg_err_set(err, SG_ENOMEM, "out of memory");
}

/* GET auth_base_url + path with the app credentials; fills out. */
static int token_call(struct sg_connector *c, const char *path,
                      const char *grant, const char *arg_key,
                      const char *arg, struct sg_conn_tokens *out,
                      struct sg_err *err)
{
    struct sg_http_request req = {0};
    struct sg_http_response resp = {0};
    static const char *const headers[] = {"Accept: application/json", NULL};
    json_t *data = NULL;
    struct sg_buf b;
    char *url = NULL;
    int rc;

    memset(out, 0, sizeof(*out));
    sg_buf_init(&b, URL_MAX);
    rc = sg_buf_appends(&b, c->cfg.auth_base_url);
    while (!rc && b.len > 0 && b.data[b.len - 1] == '/')
        b.data[--b.len] = '\0';
    if (!rc)
        rc = sg_buf_printf(&b, "%s?app_key=", path);
    if (!rc)
        rc = url_encode(&b, c->cfg.app_key);
    if (!rc)
        rc = sg_buf_appends(&b, "&app_secret=");
    if (!rc)
        rc = url_encode(&b, c->cfg.app_secret);
    if (!rc)
        rc = sg_buf_printf(&b, "&%s=", arg_key);
    if (!rc)
        rc = url_encode(&b, arg);
    if (!rc)
        rc = sg_buf_printf(&b, "&grant_type=%s", grant);
    if (rc) {
        sg_buf_release(&b);
        return sg_err_set(err, rc, "token URL too long");
    }
    url = sg_buf_detach(&b, NULL);
    if (!url)
        return sg_err_set(err, SG_ENOMEM, "out of memory");
    req.method = "GET";
    req.url = url;
    req.headers = headers;
    rc = sg_conn_http(c, &resp, &req, err);
    if (rc) {
        if (err)
            err->retryable = true;
        goto out;
    }
    rc = sg_tts_envelope(&data, &resp, true, err);
    if (rc)
        goto out;
    rc = copy_token(&out->access_token, data, "access_token", err);
    if (!rc)
        rc = copy_token(&out->refresh_token, data, "refresh_token", err);
    if (rc)
        goto out;
    out->access_expires_at = sg_json_int(data, "access_token_expire_in", 0);
    out->refresh_expires_at = sg_json_int(data, "refresh_token_expire_in", 0);
    snprintf(out->open_id, sizeof(out->open_id), "%s",
             sg_json_str(data, "open_id") ? sg_json_str(data, "open_id")
                                          : "");
    snprintf(out->seller_name, sizeof(out->seller_name), "%s",
             sg_json_str(data, "seller_name")
                 ? sg_json_str(data, "seller_name")
                 : "");
    snprintf(out->region, sizeof(out->region), "%s",
             sg_json_str(data, "seller_base_region")
                 ? sg_json_str(data, "seller_base_region")
                 : "");
    if (!out->open_id[0] || out->access_expires_at <= 0)
        rc = sg_err_set(err, SG_EREMOTE, "tiktok_shop token answer lacks "
                        "open_id or expiry");
out:
    if (rc)
        sg_conn_tokens_release(out);
    json_decref(data);
    sg_http_response_release(&resp);
    /* The URL holds the app secret: wipe it before it is freed. */
    memset(url, 0, strlen(url));
    sg_free(url);
    return rc;
}

static int tts_exchange_code(struct sg_connector *c, const char *code,
                             struct sg_conn_tokens *out, struct sg_err *err)
{
    return token_call(c, "/api/v2/token/get", "authorized_code", "auth_code",
                      code, out, err);
}

static int tts_refresh(struct sg_connector *c, const char *refresh_token,
                       struct sg_conn_tokens *out, struct sg_err *err)
{
    return token_call(c, "/api/v2/token/refresh", "refresh_token",
                      "refresh_token", refresh_token, out, err);
}

static void copy_str(char *out, size_t n, const json_t *o, const char *k)
{
    const char *v = sg_json_str(o, k);

    snprintf(out, n, "%s", v ? v : "");
}

static int tts_list_shops(struct sg_connector *c, const char *access_token,
                          struct sg_conn_shop **out, size_t *n_out,
                          struct sg_err *err)
{
    json_t *data = NULL, *shops, *s;
    struct sg_conn_shop *v = NULL;
    size_t i, n = 0;
    int rc;

    *out = NULL;
    *n_out = 0;
    rc = sg_tts_call(c, "GET", "/authorization/202309/shops", NULL, 0,
                     access_token, NULL, 0, &data, err);
    if (rc)
        return rc;
    shops = json_object_get(data, "shops");
    if (!json_is_array(shops)) {
        rc = sg_err_set(err, SG_EREMOTE, "tiktok_shop shops answer lacks "
                        "data.shops");
        goto out;
    }
    if (json_array_size(shops) > SG_TTS_SHOPS_MAX) {
        rc = sg_err_set(err, SG_ELIMIT, "more than %d shops",
                        SG_TTS_SHOPS_MAX);
        goto out;
    }
    v = sg_calloc(json_array_size(shops) + 1, sizeof(*v));
    if (!v) {
        rc = sg_err_set(err, SG_ENOMEM, "out of memory");
        goto out;
    }
    json_array_foreach(shops, i, s) {
        copy_str(v[n].id, sizeof(v[n].id), s, "id");
        copy_str(v[n].cipher, sizeof(v[n].cipher), s, "cipher");
        copy_str(v[n].name, sizeof(v[n].name), s, "name");
        copy_str(v[n].region, sizeof(v[n].region), s, "region");
        if (v[n].id[0] && v[n].cipher[0])
            n++;
    }
    *out = v;
    *n_out = n;
    v = NULL;
out:
    sg_free(v);
    json_decref(data);
    return rc;
}

static int tts_subscribe(struct sg_connector *c, const char *access_token,
                         const struct sg_conn_shop *shop,
                         const char *event_name, const char *address,
                         struct sg_err *err)
{
    struct sg_tts_param p[1] = {{"shop_cipher", shop->cipher}};
    json_t *body = json_pack("{s:s,s:s}", "address", address, "event_type",
                             event_name);
    json_t *data = NULL;
    size_t len = 0;
    char *text = body ? sg_json_dump(body, &len) : NULL;
    int rc;

    json_decref(body);
    if (!text)
        return sg_err_set(err, SG_ENOMEM, "out of memory");
    rc = sg_tts_call(c, "PUT", "/event/202309/webhooks", p, 1, access_token,
                     text, len, &data, err);
    json_decref(data);
    sg_free(text);
    return rc;
}

static int tts_verify_webhook(struct sg_connector *c, const char *sig,
                              size_t sig_len, const void *body, size_t len)
{
    if (!sig)
        return SG_EAUTH;
    /* Not SG_EAUTH when the check itself failed (out of memory): the
     * webhook may be genuine and must be delivered again. */
    if (((struct tts_connector *)c)->wh_key)
        return sg_tts_webhook_check_key(((struct tts_connector *)c)->wh_key,
                                        c->cfg.app_key, sig, sig_len, body,
                                        len);
    return sg_tts_webhook_check(c->cfg.app_key, c->cfg.app_secret, sig,
                                sig_len, body, len);
}

/*
 * What the intake reads of a notification. A delivery in the pruned
 * parser's subset (nearly all: ASCII ids, integer times) is read without
 * building the rest of the tree or a heap node: jansson's full parse was
 * about a quarter of the HTTP loop's samples under bench/spike's order
 * flood, two webhooks an order. Anything else (escapes, a deep or odd
 * body, an error) is parsed in full, which also names what is wrong.
 */
static const struct sg_json_keep wh_data_keep[] = {
    {"order_id", NULL},
    {"update_time", NULL},
    {NULL, NULL},
};
static const struct sg_json_keep wh_keep[] = {
    {"type", NULL},
    {"tts_notification_id", NULL},
    {"shop_id", NULL},
    {"timestamp", NULL},
    {"data", wh_data_keep},
    {NULL, NULL},
};

static int tts_parse_webhook(struct sg_connector *c, const void *body,
                             size_t len, struct sg_conn_event *out,
                             struct sg_err *err)
{
    json_t *j = NULL, *type = NULL, *shop, *id = NULL, *data, *oid;
    const char *name;
    int rc = 0;

    (void)c;
    memset(out, 0, sizeof(*out));
    rc = sg_json_parse_arena_pruned(&j, body, len, wh_keep);
    if (rc == SG_EDECLINED)
        rc = sg_json_parse_arena(&j, body, len, WEBHOOK_DEPTH, NULL, NULL);
    if (rc == SG_ENOMEM)
        /* Not a malformed event: the receiver must not drop it. */
        rc = sg_err_set(err, rc, "out of memory reading the webhook");
    else if (rc || !json_is_object(j))
        rc = sg_err_set(err, SG_EINVAL, "webhook body is not a JSON object");
    else if (!json_is_integer(type = json_object_get(j, "type")) ||
             json_integer_value(type) <= 0 ||
             json_integer_value(type) > 100000)
        rc = sg_err_set(err, SG_EINVAL, "webhook lacks an integer type");
    else if (!json_is_string(id = json_object_get(j, "tts_notification_id")) ||
             json_string_length(id) == 0 ||
             json_string_length(id) >= sizeof(out->id))
        rc = sg_err_set(err, SG_EINVAL, "webhook lacks tts_notification_id");
    if (rc)
        goto out;
    shop = json_object_get(j, "shop_id");
    /* Seen as a string on the wire; accept a number as well. */
    if (json_is_string(shop) && json_string_length(shop) < sizeof(out->shop_id))
        snprintf(out->shop_id, sizeof(out->shop_id), "%s",
                 json_string_value(shop));
    else if (json_is_integer(shop))
        snprintf(out->shop_id, sizeof(out->shop_id), "%" JSON_INTEGER_FORMAT,
                 json_integer_value(shop));
    out->type = (int)json_integer_value(type);
    name = sg_tts_event_name(out->type);
    snprintf(out->name, sizeof(out->name), "%s", name ? name : "");
    snprintf(out->id, sizeof(out->id), "%s", json_string_value(id));
    for (size_t i = 0; out->id[i]; i++)
        if (out->id[i] <= ' ' || out->id[i] > '~') {
            rc = sg_err_set(err, SG_EINVAL, "tts_notification_id must be "
                            "printable");
            goto out;
        }
    out->timestamp = sg_json_int(j, "timestamp", 0);
    data = json_object_get(j, "data");
    oid = json_object_get(data, "order_id");
    if (json_is_string(oid) && json_string_length(oid) > 0 &&
        json_string_length(oid) < sizeof(out->order_id))
        snprintf(out->order_id, sizeof(out->order_id), "%s",
                 json_string_value(oid));
    else if (json_is_integer(oid))
        snprintf(out->order_id, sizeof(out->order_id),
                 "%" JSON_INTEGER_FORMAT, json_integer_value(oid));
    out->update_time = sg_json_int(data, "update_time", 0);
out:
    sg_json_arena_free(j);
    return rc;
}

const struct sg_connector_ops sg_connector_tiktok_shop = {
    .version = SG_CONNECTOR_OPS_VERSION,
    .name = "tiktok_shop",
    .caps = SG_CAP_OAUTH | SG_CAP_SHOPS | SG_CAP_WEBHOOKS | SG_CAP_CATALOG |
            SG_CAP_ORDERS | SG_CAP_FULFIL,
    .open = tts_open,
    .close = tts_close,
    .authorize_url = tts_authorize_url,
    .exchange_code = tts_exchange_code,
    .refresh = tts_refresh,
    .list_shops = tts_list_shops,
    .subscribe_webhook = tts_subscribe,
    .verify_webhook = tts_verify_webhook,
    .parse_webhook = tts_parse_webhook,
    .webhook_events = subscribed,
    .catalog_request = sg_tts__catalog_request,
    .catalog_call = sg_tts__catalog_call,
    .search_orders = sg_tts__search_orders,
    .get_orders = sg_tts__get_orders,
    .cancel_order = sg_tts__cancel_order,
    .ship = sg_tts__ship,
    .decide = sg_tts__decide,
    .get_returns = sg_tts__get_returns,
};
