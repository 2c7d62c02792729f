/*
 * dispatch.c - the Open API front door. Every request no fixed route took
 * lands here: it is matched against the endpoint tables, put through the
 * documented checks in a fixed order (path, version, app_key, sign present,
 * timestamp window, signature, access token, scope, shop_cipher, rate
 * limit, injected fault), and only then handed to the endpoint function
 * with the state lock held. Every answer is the {code, message,
 * request_id, data} envelope.
 */
#include "core/sg.h"
#include "sandbox/internal.h"
#include "connectors/tiktok_shop/sign.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/crypto.h"
#include "core/json.h"
#include "core/log.h"

#define MSG_APP_KEY "Invalid credentials. Invalid `app_key` query parameter."
#define MSG_NO_SIGN                                                            \
    "Missing credentials. The request does not include a required "          \
    "signature in the query."
#define MSG_TS_NEG                                                             \
    "Invalid timestamp. The `timestamp` query parameter must not be lesser " \
    "than 0."
#define MSG_TS_OLD                                                             \
    "Invalid timestamp. The `timestamp` query parameter must not be "        \
    "earlier than 5 minutes before the current time."
#define MSG_TS_FUTURE                                                          \
    "Invalid timestamp. The `timestamp` query parameter must not exceed "    \
    "the current time by more than 30 seconds."
#define MSG_SIGN "Invalid credentials. The `sign` query parameter is invalid."
#define MSG_TOKEN                                                              \
    "Invalid credentials. The `x-tts-access-token` header is invalid."
#define MSG_EXPIRED                                                            \
    "Expired credentials. The `access_token` or `x-tts-access-token` "       \
    "header has expired."
#define MSG_SCOPE                                                              \
    "Access denied. The access token has not been granted the scope this "   \
    "API requires."
#define MSG_NO_SHOP                                                            \
    "Missing identifier. The `shop_cipher` query parameter is required to "  \
    "identify the target shop."
#define MSG_UNEXPECTED_SHOP                                                    \
    "Unexpected identifier. The `shop_cipher` query parameter is not "       \
    "required for this request."
#define MSG_BAD_SHOP                                                           \
    "Invalid identifier. The `shop_cipher` query parameter is invalid."
#define MSG_VERSION                                                            \
    "Invalid API version. The `version` value is invalid or unsupported."
#define MSG_PATH "Invalid path. The requested API path does not exist."
#define MSG_RATE                                                               \
    "Too many requests. You've made too many requests in a short period of " \
    "time."
#define MSG_INTERNAL "Internal error. Please try again later."
#define MSG_BODY "Invalid parameter. The request body is not valid JSON."

static const struct sg_sbx_endpoint *const tables[] = {
    sg_sbx_product_endpoints, sg_sbx_order_endpoints,
    sg_sbx_fulfillment_endpoints, sg_sbx_return_endpoints,
    sg_sbx_misc_endpoints,
};

#define ENDPOINTS_PER_TABLE_MAX 1000

/* ---- envelope and answers ---- */

/*
 * What the sandbox answers when it cannot build an answer (out of
 * memory): TikTok's internal error, which clients retry. Static, so it
 * needs no memory.
 */
static const char internal_error[] =
    "{\"code\":36009003,\"message\":\"Internal error. Please try again "
    "later.\",\"request_id\":\"\",\"data\":null}";

/*
 * NULL when out of memory: every member is checked (the D5 sweep saw
 * envelopes go out without their "code" or "message").
 */
json_t *sg_sbx__envelope(long code, const char *message, json_t *data)
{
    json_t *env = json_object();
    int bad = !env;

    if (env) {
        bad |= json_object_set_new(env, "code", json_integer(code));
        bad |= json_object_set_new(env, "message", json_string(message));
        bad |= json_object_set_new(env, "request_id", json_string(""));
        bad |= json_object_set_new(env, "data", data ? data : json_null());
        data = NULL; /* taken, even by a set that failed */
    }
    json_decref(data);
    if (bad) {
        json_decref(env);
        env = NULL;
    }
    return env;
}

void sg_sbx__reply(struct sg_http_req *req, int status, json_t *envelope,
                   const struct sg_http_header *h, size_t nh)
{
    size_t len = 0;
    char *text = envelope ? sg_json_dump(envelope, &len) : NULL;

    if (!text) {
        sg_http_reply(req, 500, "application/json", internal_error,
                      sizeof(internal_error) - 1);
    } else {
        sg_http_reply_ex(req, status, "application/json", text, len, h, nh);
    }
    sg_free(text);
    json_decref(envelope);
}

static void answer(struct sg_sbx_call *c, int status, long code,
                   const char *message, json_t *data)
{
    if (c->answered) {
        json_decref(data);
        return;
    }
    c->answered = true;
    c->http_status = status;
    c->reply = sg_sbx__envelope(code, message, data);
    if (c->reply && json_object_set_new(c->reply, "request_id",
                                        json_string(c->request_id)) != 0) {
        json_decref(c->reply);
        c->reply = NULL;
    }
    if (!c->reply)
        c->http_status = 500; /* sg_sbx__reply sends internal_error */
}

void sg_sbx_ok(struct sg_sbx_call *c, json_t *data)
{
    if (!data) {
        answer(c, 500, 36009003, MSG_INTERNAL, NULL);
        return;
    }
    answer(c, 200, 0, "Success", data);
}

void sg_sbx_ok_empty(struct sg_sbx_call *c)
{
    json_t *data = json_object();

    if (data)
        answer(c, 200, 0, "Success", data);
    else
        answer(c, 500, 36009003, MSG_INTERNAL, NULL);
}

void sg_sbx_ok_text(struct sg_sbx_call *c, char *data, size_t len)
{
    if (c->answered || data == NULL) {
        sg_free(data);
        if (!c->answered)
            answer(c, 500, 36009003, MSG_INTERNAL, NULL);
        return;
    }
    answer(c, 200, 0, "Success", json_null());
    c->reply_data = data;
    c->reply_data_len = len;
}

/*
 * The envelope's text: data is its last member, so a rendered data
 * replaces the "null" the envelope carries for it.
 */
static char *reply_text(const struct sg_sbx_call *c, size_t *len_out)
{
    size_t len = 0;
    char *text = c->reply ? sg_json_dump(c->reply, &len) : NULL, *out;

    if (text == NULL || c->reply_data == NULL) {
        *len_out = len;
        return text;
    }
    if (len < 5 || memcmp(text + len - 5, "null}", 5) != 0) {
        sg_free(text);
        return NULL;
    }
    out = sg_alloc(len - 5 + c->reply_data_len + 2);
    if (out != NULL) {
        memcpy(out, text, len - 5);
        memcpy(out + len - 5, c->reply_data, c->reply_data_len);
        memcpy(out + len - 5 + c->reply_data_len, "}", 2);
        *len_out = len - 5 + c->reply_data_len + 1;
    }
    sg_free(text);
    return out;
}

static void reply_call(const struct sg_sbx_call *c,
                       const struct sg_http_header *h, size_t nh)
{
    size_t len = 0;
    char *text = reply_text(c, &len);

    if (!text)
        sg_http_reply(c->req, 500, "application/json", internal_error,
                      sizeof(internal_error) - 1);
    else
        sg_http_reply_ex(c->req, c->http_status, "application/json", text,
                         len, h, nh);
    sg_free(text);
}

void sg_sbx_fail(struct sg_sbx_call *c, int http_status, long code,
                 const char *message, json_t *data)
{
    answer(c, http_status ? http_status : 200, code, message, data);
}

/* ---- path templates ---- */

/* Next segment of p (after a leading '/'); returns its length. */
static size_t seg(const char *p, size_t len, size_t *pos, const char **out)
{
    size_t start;

    if (*pos < len && p[*pos] == '/')
        (*pos)++;
    start = *pos;
    while (*pos < len && p[*pos] != '/')
        (*pos)++;
    *out = p + start;
    return *pos - start;
}

/* Does template t match rest[0..len)? Optionally extract {name}. */
static bool tmpl_match(const char *t, const char *rest, size_t len,
                       const char *name, const char **val, size_t *val_len)
{
    size_t tl = strlen(t), tp = 0, rp = 0;

    for (unsigned guard = 0; guard < 64; guard++) {
        const char *ts, *rs;
        size_t tn = seg(t, tl, &tp, &ts);
        size_t rn = seg(rest, len, &rp, &rs);

        if (tn == 0 || rn == 0)
            return tn == 0 && rn == 0 && tp >= tl && rp >= len;
        if (ts[0] == '{') {
            if (name && tn == strlen(name) + 2 &&
                memcmp(ts + 1, name, tn - 2) == 0) {
                *val = rs;
                *val_len = rn;
            }
            continue;
        }
        if (tn != rn || memcmp(ts, rs, tn) != 0)
            return false;
    }
    return false;
}

bool sg_sbx_param(struct sg_sbx_call *c, const char *name, char *out,
                  size_t out_size)
{
    const char *v = NULL;
    size_t vl = 0;

    if (!c->endpoint ||
        !tmpl_match(c->endpoint->rest, c->rest, c->rest_len, name, &v,
                    &vl) ||
        !v || vl + 1 > out_size)
        return false;
    memcpy(out, v, vl);
    out[vl] = '\0';
    return true;
}

bool sg_sbx_query(struct sg_sbx_call *c, const char *name, char *out,
                  size_t out_size)
{
    const struct sg_tts_kv *kv;

    if (!c->query || !(kv = sg_tts_query_find(c->query, name)) ||
        kv->val_len + 1 > out_size || memchr(kv->val, '\0', kv->val_len))
        return false;
    memcpy(out, kv->val, kv->val_len);
    out[kv->val_len] = '\0';
    return true;
}

static bool version_ok(const char *list, const char *v, size_t vl)
{
    const char *p = list;

    while (p && *p) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);

        if (n == vl && memcmp(p, v, n) == 0)
            return true;
        p = comma ? comma + 1 : NULL;
    }
    return false;
}

/*
 * Find the endpoint. *level: 0 no path match, 1 path matches but not the
 * method, 2 method matches but not the version, 3 full match.
 */
static const struct sg_sbx_endpoint *
find_endpoint(const char *method, const char *mod, size_t mod_len,
              const char *ver, size_t ver_len, const char *rest,
              size_t rest_len, int *level)
{
    const struct sg_sbx_endpoint *best = NULL;

    *level = 0;
    for (size_t t = 0; t < SG_ARRAY_SIZE(tables); t++) {
        for (size_t i = 0; i < ENDPOINTS_PER_TABLE_MAX; i++) {
            const struct sg_sbx_endpoint *e = &tables[t][i];
            int l;

            if (!e->method)
                break;
            if (strlen(e->module) != mod_len ||
                memcmp(e->module, mod, mod_len) != 0 ||
                !tmpl_match(e->rest, rest, rest_len, NULL, NULL, NULL))
                continue;
            l = strcmp(e->method, method) != 0 ? 1
                : version_ok(e->versions, ver, ver_len) ? 3
                                                        : 2;
            if (l > *level) {
                *level = l;
                best = e;
            }
            if (l == 3)
                return e;
        }
    }
    return best;
}

/*
 * Every scope some endpoint requires, each once, as a new JSON array: what
 * a token granted "every scope" reports in granted_scopes.
 */
json_t *sg_sbx__all_scopes(void)
{
    json_t *out = json_array();

    for (size_t t = 0; out && t < SG_ARRAY_SIZE(tables); t++) {
        for (size_t i = 0; i < ENDPOINTS_PER_TABLE_MAX; i++) {
            const struct sg_sbx_endpoint *e = &tables[t][i];
            bool seen = false;
            size_t k;
            json_t *v;

            if (!e->method)
                break;
            if (!e->scope)
                continue;
            json_array_foreach(out, k, v) {
                if (strcmp(json_string_value(v), e->scope) == 0)
                    seen = true;
            }
            if (!seen)
                json_array_append_new(out, json_string(e->scope));
        }
    }
    return out;
}

/* ---- pagination ---- */

static void token_encode(size_t off, char next[64])
{
    unsigned char raw[10] = {0xfb, 0xff, 0xbf, 'S', 'B'};

    raw[5] = (unsigned char)(off >> 24);
    raw[6] = (unsigned char)(off >> 16);
    raw[7] = (unsigned char)(off >> 8);
    raw[8] = (unsigned char)off;
    raw[9] = (unsigned char)(raw[5] ^ raw[6] ^ raw[7] ^ raw[8] ^ 0x5a);
    sg_base64_encode(raw, sizeof(raw), next);
}

static int b64val(int ch)
{
    static const char a[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char *p = ch ? strchr(a, ch) : NULL;

    return p ? (int)(p - a) : -1;
}

static bool token_decode(const char *tok, size_t *off)
{
    unsigned char raw[12];
    size_t n = 0, len = strlen(tok);
    uint32_t acc = 0;
    int bits = 0;

    for (size_t i = 0; i < len && tok[i] != '='; i++) {
        int v = b64val(tok[i]);

        if (v < 0)
            return false;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (n == sizeof(raw))
                return false;
            raw[n++] = (unsigned char)(acc >> bits);
        }
    }
    if (n != 10 || raw[0] != 0xfb || raw[1] != 0xff || raw[2] != 0xbf ||
        raw[3] != 'S' || raw[4] != 'B' ||
        raw[9] != (raw[5] ^ raw[6] ^ raw[7] ^ raw[8] ^ 0x5a))
        return false;
    *off = (size_t)raw[5] << 24 | (size_t)raw[6] << 16 |
           (size_t)raw[7] << 8 | raw[8];
    return true;
}

bool sg_sbx_page(struct sg_sbx_call *c, size_t total, size_t def_size,
                 size_t *start, size_t *count, char next[64])
{
    char v[128];
    size_t size = def_size, off = 0;

    next[0] = '\0';
    if (sg_sbx_query(c, "page_size", v, sizeof(v))) {
        char *end;
        long n = strtol(v, &end, 10);

        if (*v == '\0' || *end || n < 1 || n > 100) {
            sg_sbx_fail(c, 400, 36009004,
                        "Invalid parameter. The `page_size` must be between "
                        "1 and 100.",
                        NULL);
            return false;
        }
        size = (size_t)n;
    }
    if (sg_sbx_query(c, "page_token", v, sizeof(v)) && v[0] &&
        !token_decode(v, &off)) {
        sg_sbx_fail(c, 400, 36009004,
                    "Invalid parameter. The `page_token` is invalid.", NULL);
        return false;
    }
    if (off > total)
        off = total;
    *start = off;
    *count = SG_MIN(size, total - off);
    if (off + *count < total)
        token_encode(off + *count, next);
    return true;
}

/* ---- calls log ---- */

void sg_sbx__log_call(struct sg_sbx *s, const char *method,
                      const char *path, const char *endpoint, long code,
                      int http, const char *fault)
{
    char key[320], cs[24];
    json_t *per, *n;
    struct sg_sbx_call_rec *rec;

    snprintf(key, sizeof(key), "%s %s", method, endpoint);
    snprintf(cs, sizeof(cs), "%ld", code);
    per = json_object_get(s->call_counts, key);
    if (!per) {
        per = json_object();
        json_object_set_new(s->call_counts, key, per);
    }
    n = json_object_get(per, cs);
    if (n)
        json_integer_set(n, json_integer_value(n) + 1);
    else
        json_object_set_new(per, cs, json_integer(1));
    rec = &s->calls[s->calls_head];
    rec->time_ms = sg_sbx_now_ms(s);
    rec->code = code;
    rec->http = http;
    snprintf(rec->method, sizeof(rec->method), "%s", method);
    snprintf(rec->fault, sizeof(rec->fault), "%s", fault ? fault : "");
    snprintf(rec->path, sizeof(rec->path), "%s", path);
    snprintf(rec->endpoint, sizeof(rec->endpoint), "%s", endpoint);
    s->calls_head = (s->calls_head + 1) % SG_SBX_CALLS_MAX;
    if (s->calls_n < SG_SBX_CALLS_MAX)
        s->calls_n++;
    s->calls_total++;
}

json_t *sg_sbx__calls_json(struct sg_sbx *s)
{
    json_t *out = json_array();
    size_t first = (s->calls_head + SG_SBX_CALLS_MAX - s->calls_n) %
                   SG_SBX_CALLS_MAX;

    for (size_t i = 0; out && i < s->calls_n; i++) {
        const struct sg_sbx_call_rec *r =
            &s->calls[(first + i) % SG_SBX_CALLS_MAX];

        json_array_append_new(
            out, json_pack("{s:I,s:s,s:s,s:s,s:I,s:i,s:s?}", "time_ms",
                           (json_int_t)r->time_ms, "method", r->method,
                           "path", r->path, "endpoint", r->endpoint, "code",
                           (json_int_t)r->code, "http_status", r->http,
                           "fault", r->fault[0] ? r->fault : NULL));
    }
    return out;
}

void sg_sbx__calls_clear(struct sg_sbx *s)
{
    s->calls_head = 0;
    s->calls_n = 0;
    s->calls_total = 0;
    json_object_clear(s->call_counts);
}

/* ---- the checks ---- */

struct req_ctx {
    struct sg_sbx *s;
    struct sg_sbx_call *c;
    struct sg_tts_query q;
    char path[1024];
    size_t path_len;
    char tmpl[320];            /* "/product/202309/products/{id}" */
    char version[16];
    const char *fault;
    json_t *token;             /* borrowed access token record */
    struct sg_sbx_fault f;     /* the injected fault, kind 0 = none */
    unsigned limit_retry_s;    /* rate limited: Retry-After value, 0 = none */
};

static bool qget(struct req_ctx *r, const char *k, char *out, size_t n)
{
    return sg_sbx_query(r->c, k, out, n);
}

static bool check_ts(struct req_ctx *r)
{
    char v[32], *end;
    long long ts;
    int64_t now = r->s->cfg.timestamp_real_clock
                      ? sg_clock_now_ms(sg_clock_system()) / 1000
                      : sg_sbx_now_s(r->s);

    if (!qget(r, "timestamp", v, sizeof(v)) || !v[0]) {
        sg_sbx_fail(r->c, 400, 36009004, MSG_TS_NEG, NULL);
        return false;
    }
    ts = strtoll(v, &end, 10);
    if (*end || ts < 0) {
        sg_sbx_fail(r->c, 400, 36009004, MSG_TS_NEG, NULL);
        return false;
    }
    if (ts < now - 300) {
        sg_sbx_fail(r->c, 400, 36009004, MSG_TS_OLD, NULL);
        return false;
    }
    if (ts > now + 30) {
        sg_sbx_fail(r->c, 400, 36009004, MSG_TS_FUTURE, NULL);
        return false;
    }
    return true;
}

static bool check_sign(struct req_ctx *r, const char *body, size_t blen)
{
    const struct sg_tts_kv *sig = sg_tts_query_find(&r->q, "sign");
    struct sg_buf base;
    char want[65];
    bool ok;

    sg_buf_init(&base, 64u << 20);
    if (sg_tts_sign_base(&base, r->path, r->q.kv, r->q.n,
                         r->c->endpoint->multipart ? NULL : body,
                         r->c->endpoint->multipart ? 0 : blen) ||
        sg_tts_sign_wrap(want, r->s->app_secret, base.data ? base.data : "",
                         base.len)) {
        sg_buf_release(&base);
        sg_sbx_fail(r->c, 500, 36009003, MSG_INTERNAL, NULL);
        return false;
    }
    ok = sig && sg_ct_equal(want, 64, sig->val, sig->val_len);
    if (!ok) {
        json_t *data = NULL;

        if (r->s->cfg.debug_signatures) {
            struct sg_buf shown;

            sg_buf_init(&shown, (64u << 20) + 64);
            sg_buf_appends(&shown, "<app_secret>");
            sg_buf_append(&shown, base.data ? base.data : "", base.len);
            sg_buf_appends(&shown, "<app_secret>");
            data = json_pack("{s:s#}", "expected_base_string",
                             shown.data ? shown.data : "", shown.len);
            sg_buf_release(&shown);
        }
        sg_sbx_fail(r->c, 401, 106001, MSG_SIGN, data);
    }
    sg_buf_release(&base);
    return ok;
}

static bool check_token(struct req_ctx *r)
{
    struct sg_http_req *req = r->c->req;
    size_t len = 0;
    const char *h = sg_http_req_header(req, "x-tts-access-token", &len);
    char tok[256];
    json_t *rec, *scopes;

    if (!h || len == 0 || len >= sizeof(tok)) {
        sg_sbx_fail(r->c, 400, 36009004, MSG_TOKEN, NULL);
        return false;
    }
    memcpy(tok, h, len);
    tok[len] = '\0';
    rec = json_object_get(json_object_get(r->s->state, "access_tokens"),
                          tok);
    if (!rec) {
        sg_sbx_fail(r->c, 400, 36009004, MSG_TOKEN, NULL);
        return false;
    }
    if (sg_json_int(rec, "expire_s", 0) <= r->c->now_s) {
        sg_sbx_fail(r->c, r->s->cfg.token_error_http, 105002, MSG_EXPIRED,
                    NULL);
        return false;
    }
    r->token = rec;
    r->c->token = rec;
    scopes = json_object_get(rec, "scopes");
    if (r->c->endpoint->scope && !json_is_true(json_object_get(
                                     rec, "all_scopes"))) {
        size_t i;
        json_t *v;
        bool found = false;

        json_array_foreach(scopes, i, v) {
            if (json_is_string(v) &&
                strcmp(json_string_value(v), r->c->endpoint->scope) == 0)
                found = true;
        }
        if (!found) {
            sg_sbx_fail(r->c, r->s->cfg.token_error_http == 401 ? 403
                              : r->s->cfg.token_error_http,
                        105005, MSG_SCOPE, NULL);
            return false;
        }
    }
    return true;
}

static bool token_covers(const json_t *token, const char *shop_id)
{
    size_t i;
    json_t *v;

    json_array_foreach(json_object_get(token, "shops"), i, v) {
        if (json_is_string(v) && strcmp(json_string_value(v), shop_id) == 0)
            return true;
    }
    return false;
}

static bool check_shop(struct req_ctx *r)
{
    const struct sg_tts_kv *kv = sg_tts_query_find(&r->q, "shop_cipher");
    int rule = r->c->endpoint->shop_rule;

    if (!kv) {
        if (rule == SG_SBX_SHOP_REQUIRED) {
            sg_sbx_fail(r->c, 400, 106013, MSG_NO_SHOP, NULL);
            return false;
        }
        return true;
    }
    if (rule == SG_SBX_SHOP_FORBIDDEN) {
        sg_sbx_fail(r->c, 400, 36009004, MSG_UNEXPECTED_SHOP, NULL);
        return false;
    }
    for (size_t i = 0; i < r->s->n_shops; i++) {
        const struct sg_sbx_shop *sh = &r->s->shops[i];

        if (strlen(sh->cipher) == kv->val_len &&
            memcmp(sh->cipher, kv->val, kv->val_len) == 0 &&
            token_covers(r->token, sh->id)) {
            r->c->shop = sh;
            return true;
        }
    }
    sg_sbx_fail(r->c, 400, 36009004, MSG_BAD_SHOP, NULL);
    return false;
}

/*
 * Parse the body into c->body: {} for empty, "[]" or multipart. false
 * for other non-object JSON (the caller answers).
 */
/*
 * 0 parsed, BODY_BAD not JSON (or not an object), BODY_OOM out of
 * memory: the D5 sweep saw that answered 400 "not valid JSON", a final
 * error to a client whose body was fine.
 */
#define BODY_BAD 1
#define BODY_OOM 2

static int parse_body(struct req_ctx *r, const char *body, size_t len)
{
    size_t i = 0;
    json_t *j = NULL;
    struct sg_err err;
    int rc;

    while (i < len && (body[i] == ' ' || body[i] == '\n' ||
                       body[i] == '\r' || body[i] == '\t'))
        i++;
    if (r->c->endpoint->multipart || i == len) {
        r->c->body = json_object();
        return r->c->body ? 0 : BODY_OOM;
    }
    sg_err_init(&err);
    rc = sg_json_parse(&j, body, len, SG_JSON_DEPTH_DEFAULT, NULL, &err);
    if (rc == SG_ENOMEM)
        return BODY_OOM;
    if (rc || (json_is_array(j) && json_array_size(j) > 0) ||
        (!json_is_array(j) && !json_is_object(j))) {
        json_decref(j);
        return BODY_BAD;
    }
    if (json_is_array(j)) {
        json_decref(j);
        j = json_object();
    }
    r->c->body = j;
    return j ? 0 : BODY_OOM;
}

/* Needs no lock: the sequence is atomic. */
static void make_request_id(struct sg_sbx *s, char out[40])
{
    char ts[32];
    uint64_t n = atomic_fetch_add(&s->req_seq, 1) + 1;
    uint64_t h = n * 0x9E3779B97F4A7C15ull ^ (uint64_t)sg_mono_us();

    sg_time_format(sg_sbx_now_ms(s), ts);
    /* "2026-11-25T10:00:00.000Z" -> "20261125100000" */
    snprintf(out, 40, "%.4s%.2s%.2s%.2s%.2s%.2s%06" PRIX64 "%012" PRIX64,
             ts, ts + 5, ts + 8, ts + 11, ts + 14, ts + 17,
             (uint64_t)(n & 0xFFFFFF), (uint64_t)(h & 0xFFFFFFFFFFFFull));
}

/*
 * The checks that need no state (app_key, sign present, timestamp,
 * signature) and the body parse run before the state lock is taken, so
 * loop threads do not queue on it for HMAC and JSON work. app_key and
 * app_secret are fixed after start; the sandbox clock is atomic.
 * Returns false after answering.
 */
static bool checks_unlocked(struct req_ctx *r, const char *body, size_t blen,
                            int *body_bad)
{
    struct sg_sbx_call *c = r->c;
    char v[128];

    if (!qget(r, "app_key", v, sizeof(v)) || strcmp(v, r->s->app_key)) {
        sg_sbx_fail(c, 400, 36009004, MSG_APP_KEY, NULL);
        return false;
    }
    if (!sg_tts_query_find(&r->q, "sign")) {
        sg_sbx_fail(c, 400, 36009004, MSG_NO_SIGN, NULL);
        return false;
    }
    if (!check_ts(r) || !check_sign(r, body, blen))
        return false;
    /* Reported later, in the documented order (after faults). */
    *body_bad = parse_body(r, body, blen);
    return true;
}

/* Token, shop, rate limit, fault, then the endpoint; lock held. */
static void checks_locked(struct req_ctx *r, int body_bad)
{
    struct sg_sbx_call *c = r->c;
    const struct sg_sbx_fault *f;
    unsigned long mark;

    if (!check_token(r) || !check_shop(r))
        return;
    if (!sg_sbx__rate_take(r->s, c->shop ? c->shop->id : "-", r->tmpl)) {
        r->fault = "rate_limit";
        r->limit_retry_s = r->s->cfg.rate_limit_retry_after_s;
        sg_sbx_fail(c, 429, 36009002, MSG_RATE, NULL);
        return;
    }
    f = sg_sbx__fault_pick(r->s, r->tmpl, r->path);
    if (f) {
        r->f = *f;
        if (f->kind != SG_SBX_FAULT_DROP_AFTER_COMMIT)
            return;
    }
    if (body_bad == BODY_OOM) {
        sg_sbx_fail(c, 500, 36009003, MSG_INTERNAL, NULL);
        return;
    }
    if (body_bad) {
        sg_sbx_fail(c, 400, 36009004, MSG_BODY, NULL);
        return;
    }
    mark = sg_json_alloc_failures();
    c->endpoint->fn(c);
    /*
     * A jansson allocation that failed inside the endpoint may have left
     * its answer short (a member missing, a set that did nothing): any
     * answer but an error of the server's becomes the internal error,
     * which clients retry. Not a rollback: an endpoint that changes the
     * world builds what it adds before adding it (p_create, the tokens).
     */
    if (c->answered && c->http_status < 500 &&
        sg_json_alloc_failures() != mark) {
        json_decref(c->reply);
        c->reply = NULL;
        sg_free(c->reply_data);
        c->reply_data = NULL;
        c->reply_data_len = 0;
        c->answered = false;
    }
    if (!c->answered)
        sg_sbx_fail(c, 500, 36009003, MSG_INTERNAL, NULL);
}

static bool locate(struct req_ctx *r, const char *method)
{
    const char *mod, *ver;
    size_t pos = 0, ml, vl;
    int level;
    const struct sg_sbx_endpoint *e;

    ml = seg(r->path, r->path_len, &pos, &mod);
    vl = seg(r->path, r->path_len, &pos, &ver);
    e = find_endpoint(method, mod, ml, ver, vl, r->path + pos,
                      r->path_len - pos, &level);
    r->c->rest = r->path + pos;
    r->c->rest_len = r->path_len - pos;
    if (level < 2) {
        snprintf(r->tmpl, sizeof(r->tmpl), "(unknown)");
        sg_sbx_fail(r->c, r->s->cfg.unknown_path_http,
                    r->s->cfg.unknown_path_code, MSG_PATH, NULL);
        return false;
    }
    r->c->endpoint = e;
    snprintf(r->tmpl, sizeof(r->tmpl), "/%s/%.*s%s", e->module, (int)vl,
             ver, e->rest);
    snprintf(r->version, sizeof(r->version), "%.*s", (int)vl, ver);
    r->c->version = r->version;
    if (level == 2) {
        sg_sbx_fail(r->c, 400, 36009004, MSG_VERSION, NULL);
        return false;
    }
    return true;
}

static const char *const fault_names[] = {
    [SG_SBX_FAULT_429] = "429",
    [SG_SBX_FAULT_429_RETRY_AFTER] = "429_retry_after",
    [SG_SBX_FAULT_500] = "500",
    [SG_SBX_FAULT_RESET] = "reset",
    [SG_SBX_FAULT_STALL] = "stall",
    [SG_SBX_FAULT_DROP_AFTER_COMMIT] = "drop_after_commit",
};

/* Turn a picked fault (not drop_after_commit) into the call's answer. */
static void fault_answer(struct req_ctx *r)
{
    switch (r->f.kind) {
    case SG_SBX_FAULT_429:
    case SG_SBX_FAULT_429_RETRY_AFTER:
        sg_sbx_fail(r->c, 429, 36009002, MSG_RATE, NULL);
        break;
    case SG_SBX_FAULT_500:
        sg_sbx_fail(r->c, 500, 36009003, MSG_INTERNAL, NULL);
        break;
    case SG_SBX_FAULT_STALL:
        sg_sbx_fail(r->c, 503, 36009003, MSG_INTERNAL, NULL);
        break;
    default:
        break;
    }
}

static void send_answer(struct req_ctx *r)
{
    struct sg_sbx_call *c = r->c;
    struct sg_http_header h[1];
    char ra[24];
    size_t len = 0;
    char *text;

    switch (r->f.kind) {
    case SG_SBX_FAULT_RESET:
        sg_http_abort(c->req, SG_HTTP_ABORT_RESET);
        return;
    case SG_SBX_FAULT_DROP_AFTER_COMMIT:
        sg_http_abort(c->req, SG_HTTP_ABORT_DROP);
        return;
    case SG_SBX_FAULT_STALL:
        text = reply_text(c, &len);
        sg_http_reply_later(c->req, r->f.stall_ms,
                            text ? c->http_status : 500, "application/json",
                            text ? text : internal_error,
                            text ? len : sizeof(internal_error) - 1);
        sg_free(text);
        return;
    case SG_SBX_FAULT_429_RETRY_AFTER:
        snprintf(ra, sizeof(ra), "%u", r->f.retry_after_s);
        h[0].name = "Retry-After";
        h[0].value = ra;
        reply_call(c, h, 1);
        return;
    default:
        if (r->limit_retry_s) {
            snprintf(ra, sizeof(ra), "%u", r->limit_retry_s);
            h[0].name = "Retry-After";
            h[0].value = ra;
            reply_call(c, h, 1);
            return;
        }
        reply_call(c, NULL, 0);
    }
}

static bool copy_in(char *dst, size_t cap, const char *src, size_t len)
{
    if (!src || len >= cap)
        return false;
    memcpy(dst, src, len);
    dst[len] = '\0';
    return true;
}

void sg_sbx__dispatch(struct sg_http_req *req, void *ctx)
{
    struct sg_sbx *s = ctx;
    struct sg_sbx_call call;
    struct req_ctx r;
    char method[16] = "";
    size_t ml = 0, pl = 0, ql = 0, bl = 0;
    const char *m = sg_http_req_method(req, &ml);
    const char *p = sg_http_req_path(req, &pl);
    const char *q = sg_http_req_query(req, &ql);
    const char *body = sg_http_req_body(req, &bl);

    bool go = false;
    int body_bad = 0, qrc;

    memset(&call, 0, sizeof(call));
    memset(&r, 0, sizeof(r));
    r.s = s;
    r.c = &call;
    call.sbx = s;
    call.req = req;
    call.version = "";
    call.now_s = sg_sbx_now_s(s);
    make_request_id(s, call.request_id);
    snprintf(r.tmpl, sizeof(r.tmpl), "(unknown)");
    if (!copy_in(method, sizeof(method), m, ml) ||
        !copy_in(r.path, sizeof(r.path), p, pl)) {
        sg_sbx_fail(&call, s->cfg.unknown_path_http, s->cfg.unknown_path_code,
                    MSG_PATH, NULL);
    } else if ((qrc = sg_tts_query_parse(&r.q, q, ql)) == SG_ENOMEM) {
        /* Not "too many" (D5): TikTok's internal error, retryable. */
        sg_sbx_fail(&call, 500, 36009003, MSG_INTERNAL, NULL);
    } else if (qrc) {
        sg_sbx_fail(&call, 400, 36009004,
                    "Invalid parameter. Too many query parameters.", NULL);
    } else {
        r.path_len = pl;
        call.query = &r.q;
        go = locate(&r, method) &&
             checks_unlocked(&r, body ? body : "", body ? bl : 0,
                             &body_bad);
    }
    sg_sbx_lock(s);
    if (go)
        checks_locked(&r, body_bad);
    fault_answer(&r);
    sg_sbx__log_call(s, method[0] ? method : "-", r.path, r.tmpl,
                     sg_json_int(call.reply, "code", -1), call.http_status,
                     r.f.kind ? fault_names[r.f.kind] : r.fault);
    sg_sbx_unlock(s);
    /* With state_save_ms 0, what the answer reports is on disk first. */
    sg_sbx__save_sync(s);
    send_answer(&r);
    json_decref(call.reply);
    sg_free(call.reply_data);
    json_decref(call.body);
    sg_tts_query_release(&r.q);
}
