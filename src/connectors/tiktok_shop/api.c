/*
 * api.c - TikTok Shop wire basics: the signed request URL (reference
 * 1.2-1.3), the response envelope and the mapping of its codes to SG_E*
 * with a retry verdict (1.5). Messages carry the code and the platform's
 * text, never a token or the app secret.
 */
#include "core/sg.h"

#include "connectors/tiktok_shop/tiktok_shop.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/json.h"

#define URL_MAX          (16 * 1024)
#define RESPONSE_MAX     (4 * 1024 * 1024)
#define ENVELOPE_DEPTH   64
#define MESSAGE_SHOWN    160

/* ---- error mapping ---- */

struct code_row {
    long code;
    int sg;
    bool retryable; /* besides the idempotency rule for server errors */
    const char *what;
};

static const struct code_row codes[] = {
    {36009002, SG_ELIMIT, true, "rate limited"},
    {105002, SG_ESTALE, true, "access token expired"},
    {106001, SG_EAUTH, false, "bad request signature"},
    {101000, SG_EAUTH, false, "invalid token or asset cipher"},
    {105005, SG_EFORBIDDEN, false, "scope not granted"},
    {36009033, SG_EFORBIDDEN, false, "IP not allowed"},
    {36009009, SG_ENOTFOUND, false, "unknown API path"},
    {106013, SG_EINVAL, false, "missing shop_cipher"},
    {12019150, SG_ENOTFOUND, false, "product does not exist"},
    {12052032, SG_ENOTFOUND, false, "product does not exist"},
    {12019045, SG_ESTATE, false, "price locked by a promotion"},
    {12052038, SG_ESTATE, false, "price locked by a promotion"},
    {12052180, SG_ELIMIT, false, "search result cap"},
    {12019027, SG_ELIMIT, false, "too many seller_skus"},
    {12019087, SG_ELIMIT, false, "too many sku_ids"},
    {12019120, SG_ELIMIT, false, "too many product ids"},
};

static bool has(const char *message, const char *needle)
{
    return message && strstr(message, needle) != NULL;
}

/* 36009004 is overloaded: branch on the documented message texts. */
static int overloaded(const char *message, bool *retryable,
                      const char **what)
{
    *retryable = false;
    if (has(message, "timestamp")) {
        /* Clock skew: a fresh timestamp may pass. */
        *retryable = true;
        *what = "timestamp outside the window";
        return SG_EINVAL;
    }
    if (has(message, "shop_cipher") || has(message, "shop_id")) {
        *what = "shop identifier rejected";
        return SG_EINVAL;
    }
    if (has(message, "version")) {
        *what = "API version rejected";
        return SG_EINVAL;
    }
    if (has(message, "Invalid parameter")) {
        *what = "invalid parameter";
        return SG_EINVAL;
    }
    *what = "credentials rejected";
    return SG_EAUTH;
}

static int64_t retry_after_ms(const char *v)
{
    int64_t s = 0;

    if (!v || !*v)
        return -1;
    for (; *v >= '0' && *v <= '9'; v++) {
        s = s * 10 + (*v - '0');
        if (s > 86400)
            return 86400 * 1000;
    }
    return *v ? -1 : s * 1000;
}

int sg_tts_map_error(struct sg_err *err, long http_status, long code,
                     const char *message, bool idempotent,
                     const char *retry_after)
{
    const char *what = NULL;
    bool retryable = false;
    int rc = 0;

    if (code == 0 && http_status >= 200 && http_status < 300)
        return 0;
    /*
     * HTTP 429 says the request was turned away before it ran, whatever
     * code the body carries (a gateway in front of the API may put
     * anything there): a throttle, safe to repeat after the wait even for
     * a call that is not idempotent.
     */
    if (http_status == 429) {
        rc = SG_ELIMIT;
        retryable = true;
        what = "rate limited";
    }
    for (size_t i = 0; !rc && i < SG_ARRAY_SIZE(codes); i++) {
        if (codes[i].code == code) {
            rc = codes[i].sg;
            retryable = codes[i].retryable;
            what = codes[i].what;
            break;
        }
    }
    if (!rc && code == SG_TTS_CODE_AUTH_OR_PARAM)
        rc = overloaded(message, &retryable, &what);
    if (!rc && (code == SG_TTS_CODE_INTERNAL || code == 36009007 ||
                http_status >= 500)) {
        rc = SG_EREMOTE;
        retryable = idempotent;
        what = "platform error";
    }
    if (!rc) {
        rc = SG_EREMOTE;
        what = "platform refused the call";
    }
    sg_err_set(err, rc, "tiktok_shop %s (code %ld, http %ld): %.*s", what,
               code, http_status, MESSAGE_SHOWN, message ? message : "");
    if (err) {
        err->http_status = (int)http_status;
        err->retryable = retryable;
        err->retry_after_ms = retry_after_ms(retry_after);
    }
    return rc;
}

/* ---- request URL ---- */

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

static int cmp_param(const void *a, const void *b)
{
    const struct sg_tts_param *x = a, *y = b;

    return strcmp(x->key, y->key);
}

int sg_tts_build_url(char **url_out, const char *base, const char *path,
                     const struct sg_tts_param *params, size_t n,
                     const char *app_key, const char *app_secret,
                     int64_t timestamp, const void *body, size_t body_len,
                     struct sg_err *err)
{
    struct sg_tts_param all[SG_TTS_QUERY_PARAMS_MAX];
    char ts[24], sign[65];
    struct sg_buf b;
    size_t m = 0, blen;
    int rc;

    *url_out = NULL;
    if (!base || strncmp(base, "http", 4) != 0 || !path || path[0] != '/')
        return sg_err_set(err, SG_EINVAL, "bad base URL or path");
    if (n + 2 > SG_TTS_QUERY_PARAMS_MAX)
        return sg_err_set(err, SG_ELIMIT, "too many query parameters");
    snprintf(ts, sizeof(ts), "%" PRId64, timestamp);
    all[m++] = (struct sg_tts_param){"app_key", app_key};
    all[m++] = (struct sg_tts_param){"timestamp", ts};
    for (size_t i = 0; i < n; i++)
        all[m++] = params[i];
    qsort(all, m, sizeof(all[0]), cmp_param);
    rc = sg_tts_sign(sign, app_secret, path, all, m, body, body_len);
    if (rc)
        return sg_err_set(err, rc, "cannot sign the request");
    sg_buf_init(&b, URL_MAX);
    blen = strlen(base);
    while (blen > 0 && base[blen - 1] == '/')
        blen--;
    rc = sg_buf_append(&b, base, blen);
    if (!rc)
        rc = sg_buf_appends(&b, path);
    for (size_t i = 0; i < m && !rc; i++) {
        rc = sg_buf_appends(&b, i == 0 ? "?" : "&");
        if (!rc)
            rc = url_encode(&b, all[i].key);
        if (!rc)
            rc = sg_buf_appends(&b, "=");
        if (!rc)
            rc = url_encode(&b, all[i].value);
    }
    if (!rc)
        rc = sg_buf_printf(&b, "&sign=%s", sign);
    if (rc) {
        sg_buf_release(&b);
        return sg_err_set(err, rc, "request URL too long");
    }
    *url_out = sg_buf_detach(&b, NULL);
    return *url_out ? 0 : sg_err_set(err, SG_ENOMEM, "out of memory");
}

/* ---- envelope ---- */

/* arena: parse in the thread's arena; data_out then goes to
 * sg_json_arena_free. keep (with arena): build only those members of the
 * envelope when the answer is in sg_json_parse_arena_pruned's subset. */
static int envelope(json_t **data_out, const struct sg_http_response *resp,
                    bool idempotent, bool arena,
                    const struct sg_json_keep *keep, struct sg_err *err)
{
    json_t *env = NULL, *code, *data;
    char ra[SG_HTTP_RETRY_AFTER_MAX];
    int rc = 0;

    *data_out = NULL;
    snprintf(ra, sizeof(ra), "%s",
             resp->has_retry_after ? resp->retry_after : "");
    rc = SG_EDECLINED;
    if (resp->body_len <= RESPONSE_MAX && arena && keep)
        rc = sg_json_parse_arena_pruned(&env, resp->body, resp->body_len,
                                        keep);
    /* Outside the pruned parse's subset (or malformed): jansson's. */
    if (resp->body_len <= RESPONSE_MAX && rc == SG_EDECLINED)
        rc = (arena ? sg_json_parse_arena : sg_json_parse)(
            &env, resp->body ? resp->body : "", resp->body_len,
            ENVELOPE_DEPTH, NULL, NULL);
    if (rc == SG_ENOMEM) {
        /*
         * Not "no envelope": a 200 would map to a final platform error
         * and the job would be dead-lettered for a local failure.
         */
        rc = sg_err_set(err, rc, "out of memory reading the tiktok_shop "
                                 "answer");
        if (err)
            err->retryable = true;
        return rc;
    }
    if (resp->body_len > RESPONSE_MAX || rc != 0 || !json_is_object(env) ||
        !json_is_integer(code = json_object_get(env, "code"))) {
        sg_json_arena_free(env);
        rc = sg_tts_map_error(err, resp->status, -1, "no envelope",
                              idempotent, ra);
        return rc ? rc : sg_err_set(err, SG_EREMOTE, "tiktok_shop answered "
                                    "without an envelope");
    }
    rc = sg_tts_map_error(err, resp->status,
                          (long)json_integer_value(code),
                          sg_json_str(env, "message"), idempotent, ra);
    if (rc == 0 && (data = json_object_get(env, "data")) != NULL) {
        *data_out = sg_json_arena_keep(env, data);
        return 0;
    }
    if (rc == 0)
        *data_out = json_null();
    sg_json_arena_free(env);
    return rc;
}

int sg_tts_envelope(json_t **data_out, const struct sg_http_response *resp,
                    bool idempotent, struct sg_err *err)
{
    return envelope(data_out, resp, idempotent, false, NULL, err);
}

/* ---- a call ---- */

static int call(struct sg_connector *c, const char *method, const char *path,
                const struct sg_tts_param *params, size_t n,
                const char *access_token, const char *body, size_t body_len,
                bool arena, const struct sg_json_keep *keep,
                json_t **data_out, struct sg_err *err)
{
    struct sg_http_request req = {0};
    struct sg_http_response resp = {0};
    const char *headers[4];
    char *url = NULL, *tok = NULL;
    bool idempotent = strcmp(method, "GET") == 0 ||
                      strcmp(method, "PUT") == 0 ||
                      strcmp(method, "DELETE") == 0;
    size_t nh = 0;
    int rc;

    *data_out = NULL;
    rc = sg_tts_build_url(&url, c->cfg.api_base_url, path, params, n,
                          c->cfg.app_key, c->cfg.app_secret,
                          sg_conn_now_s(c), body, body_len, err);
    if (rc)
        goto out;
    if (access_token) {
        size_t tl = strlen(access_token) + 24;

        tok = sg_alloc(tl);
        if (!tok) {
            rc = sg_err_set(err, SG_ENOMEM, "out of memory");
            goto out;
        }
        snprintf(tok, tl, "x-tts-access-token: %s", access_token);
        headers[nh++] = tok;
    }
    headers[nh++] = "Content-Type: application/json";
    headers[nh] = NULL;
    req.method = method;
    req.url = url;
    req.headers = headers;
    req.body = body;
    req.body_len = body_len;
    rc = sg_conn_http(c, &resp, &req, err);
    if (rc) {
        if (err)
            err->retryable = idempotent || !resp.sent;
        goto out;
    }
    rc = envelope(data_out, &resp, idempotent, arena, keep, err);
out:
    sg_http_response_release(&resp);
    sg_free(url);
    sg_free(tok);
    return rc;
}

int sg_tts_call(struct sg_connector *c, const char *method, const char *path,
                const struct sg_tts_param *params, size_t n,
                const char *access_token, const char *body, size_t body_len,
                json_t **data_out, struct sg_err *err)
{
    return call(c, method, path, params, n, access_token, body, body_len,
                false, NULL, data_out, err);
}

int sg_tts_call_arena(struct sg_connector *c, const char *method,
                      const char *path, const struct sg_tts_param *params,
                      size_t n, const char *access_token, const char *body,
                      size_t body_len, json_t **data_out, struct sg_err *err)
{
    return call(c, method, path, params, n, access_token, body, body_len,
                true, NULL, data_out, err);
}

int sg_tts_call_pruned(struct sg_connector *c, const char *method,
                       const char *path, const struct sg_tts_param *params,
                       size_t n, const char *access_token,
                       const struct sg_json_keep *keep, json_t **data_out,
                       struct sg_err *err)
{
    return call(c, method, path, params, n, access_token, NULL, 0, true,
                keep, data_out, err);
}
