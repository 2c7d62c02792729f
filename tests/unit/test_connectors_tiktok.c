/*
 * test_connectors_tiktok.c - the TikTok Shop connector without a network:
 * the error-code mapping table (reference 1.5), signed request URLs
 * against the reference vectors (1.3), token exchange, shop discovery and
 * webhook subscription through a fake HTTP environment that records the
 * wire, the webhook envelope, the registry's checks, the sealing-key file
 * and sealing round trips.
 */
#include "core/sg.h"
#include "testlib.h"
#include "connectors/connector.h"
#include "connectors/secrets.h"
#include "connectors/tiktok_shop/tiktok_shop.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/crypto.h"

#include <ctype.h>
#include <sys/stat.h>
#include <unistd.h>

#define SECRET "e59af819cc"
#define SIG_A                                                                  \
    "b596b73e0cc6de07ac26f036364178ab16b0a907af13d43f0a0cd2345f582dc8"

/* ---- error mapping ---- */

struct map_case {
    long http;
    long code;
    const char *message;
    bool idempotent;
    int want;
    bool retryable;
};

static void error_mapping(void **state)
{
    static const struct map_case cases[] = {
        {200, 0, "success", true, 0, false},
        {429, 36009002, "Too many requests.", false, SG_ELIMIT, true},
        {500, 36009003, "Internal error.", true, SG_EREMOTE, true},
        {500, 36009003, "Internal error.", false, SG_EREMOTE, false},
        {200, 36009007, "internal", true, SG_EREMOTE, true},
        {401, 105002, "Expired credentials.", false, SG_ESTALE, true},
        {401, 106001, "The `sign` query parameter is invalid.", true,
         SG_EAUTH, false},
        {400, 36009004,
         "Invalid credentials. The `x-tts-access-token` header is invalid.",
         true, SG_EAUTH, false},
        {400, 36009004, "Invalid credentials. Invalid `app_key` query "
                        "parameter.", true, SG_EAUTH, false},
        {400, 36009004, "Invalid timestamp. The `timestamp` must not be "
                        "earlier than 5 minutes before the current time.",
         true, SG_EINVAL, true},
        {400, 36009004, "Unexpected identifier. The `shop_cipher` query "
                        "parameter is not required for this request.",
         true, SG_EINVAL, false},
        {400, 36009004, "Invalid API version. The `version` value is "
                        "invalid or unsupported.", true, SG_EINVAL, false},
        {403, 105005, "scope", true, SG_EFORBIDDEN, false},
        {200, 36009033, "Access denied.", true, SG_EFORBIDDEN, false},
        {404, 36009009, "Invalid path.", true, SG_ENOTFOUND, false},
        {400, 106013, "Missing identifier.", true, SG_EINVAL, false},
        {200, 12052032, "not found", true, SG_ENOTFOUND, false},
        {200, 12019150, "not found", true, SG_ENOTFOUND, false},
        {200, 12019045, "price locked", true, SG_ESTATE, false},
        {200, 12052180, "cap", true, SG_ELIMIT, false},
        {200, 12019120, "too many", true, SG_ELIMIT, false},
        {200, 99999999, "some business rule", true, SG_EREMOTE, false},
        {503, -1, "no envelope", true, SG_EREMOTE, true},
        {429, -1, "no envelope", false, SG_ELIMIT, true},
        /* HTTP 429 wins over whatever code the body carries: the call was
         * turned away, so even a non-idempotent one is repeated. */
        {429, 106001, "The `sign` query parameter is invalid.", false,
         SG_ELIMIT, true},
        {429, 36009003, "Internal error.", false, SG_ELIMIT, true},
        {400, -1, "no envelope", true, SG_EREMOTE, false},
    };
    struct sg_err err;

    SG_UNUSED(state);
    for (size_t i = 0; i < SG_ARRAY_SIZE(cases); i++) {
        const struct map_case *c = &cases[i];
        int rc;

        sg_err_init(&err);
        rc = sg_tts_map_error(&err, c->http, c->code, c->message,
                              c->idempotent, NULL);
        if (rc != c->want || (rc && err.retryable != c->retryable))
            fail_msg("case %zu: code %ld -> %d (retryable %d), want %d (%d)",
                     i, c->code, rc, err.retryable, c->want, c->retryable);
        if (rc) {
            assert_int_equal(err.http_status, c->http);
            assert_non_null(strstr(err.msg, "code"));
        }
    }
    /* Retry-After seconds become retry_after_ms. */
    sg_err_init(&err);
    assert_int_equal(sg_tts_map_error(&err, 429, 36009002, "x", true, "3"),
                     SG_ELIMIT);
    assert_int_equal(err.retry_after_ms, 3000);
}

/* ---- a fake HTTP environment ---- */

#define FAKE_MAX 8

struct fake_http {
    size_t n;
    char *method[FAKE_MAX];
    char *url[FAKE_MAX];
    char *headers[FAKE_MAX];
    char *body[FAKE_MAX];
    /* canned answers, in order */
    long status[FAKE_MAX];
    const char *answer[FAKE_MAX];
};

static int fake_do(void *ctx, struct sg_http_response *out,
                   const struct sg_http_request *req, struct sg_err *err)
{
    struct fake_http *f = ctx;
    char hdrs[2048] = "";
    size_t i = f->n;

    SG_UNUSED(err);
    assert_true(i < FAKE_MAX);
    f->method[i] = sg_strdup(req->method);
    f->url[i] = sg_strdup(req->url);
    for (size_t k = 0; req->headers && req->headers[k]; k++) {
        strncat(hdrs, req->headers[k], sizeof(hdrs) - strlen(hdrs) - 2);
        strncat(hdrs, "\n", sizeof(hdrs) - strlen(hdrs) - 1);
    }
    f->headers[i] = sg_strdup(hdrs);
    f->body[i] = req->body ? sg_strndup(req->body, req->body_len) : NULL;
    memset(out, 0, sizeof(*out));
    out->transport = SG_HTTP_OK;
    out->sent = true;
    out->status = f->status[i] ? f->status[i] : 200;
    out->body = sg_strdup(f->answer[i] ? f->answer[i] : "");
    out->body_len = strlen(out->body);
    f->n++;
    return 0;
}

static void fake_free(struct fake_http *f)
{
    for (size_t i = 0; i < f->n; i++) {
        sg_free(f->method[i]);
        sg_free(f->url[i]);
        sg_free(f->headers[i]);
        sg_free(f->body[i]);
    }
}

static struct sg_connector *open_fake(struct fake_http *f,
                                      struct sg_clock *clk)
{
    struct sg_conn_cfg cfg = {
        .app_key = "29a39d",
        .app_secret = SECRET,
        .service_id = "svc 1",
        .api_base_url = "http://api.test/",
        .auth_base_url = "http://auth.test",
        .authorize_url = "http://consent.test/open/authorize",
    };
    struct sg_conn_env env = {.http = fake_do, .http_ctx = f, .clock = clk};
    struct sg_connector *c = NULL;
    struct sg_err err;

    sg_err_init(&err);
    sg_clock_init_manual(clk, INT64_C(1623812664) * 1000);
    assert_int_equal(sg_connector_open(&c, "tiktok_shop", &cfg, &env, &err),
                     0);
    return c;
}

static void signed_url_vector(void **state)
{
    char *url = NULL;
    struct sg_err err;

    SG_UNUSED(state);
    sg_err_init(&err);
    assert_int_equal(sg_tts_build_url(&url, "http://h/",
                                      "/authorization/202309/shops", NULL, 0,
                                      "29a39d", SECRET, 1623812664, NULL, 0,
                                      &err),
                     0);
    assert_string_equal(url, "http://h/authorization/202309/shops?app_key="
                             "29a39d&timestamp=1623812664&sign=" SIG_A);
    sg_free(url);
    /* Values are signed decoded and sent encoded. */
    {
        struct sg_tts_param p[] = {{"page_token", "a+b/c="}};
        struct sg_tts_param sp[] = {{"app_key", "k"},
                                    {"page_token", "a+b/c="},
                                    {"timestamp", "5"}};
        char want[65], *q;

        assert_int_equal(sg_tts_build_url(&url, "https://h", "/p/1/x", p, 1,
                                          "k", "s", 5, "{}", 2, &err),
                         0);
        assert_int_equal(sg_tts_sign(want, "s", "/p/1/x", sp, 3, "{}", 2), 0);
        assert_non_null(strstr(url, "page_token=a%2Bb%2Fc%3D&"));
        q = strstr(url, "sign=");
        assert_non_null(q);
        assert_string_equal(q + 5, want);
        sg_free(url);
    }
}

static void list_shops_on_the_wire(void **state)
{
    struct fake_http f = {0};
    struct sg_clock clk;
    struct sg_connector *c;
    struct sg_conn_shop *shops = NULL;
    struct sg_err err;
    size_t n = 0;

    SG_UNUSED(state);
    f.answer[0] = "{\"code\":0,\"message\":\"Success\",\"request_id\":\"r\","
                  "\"data\":{\"shops\":[{\"id\":\"7000714532876273420\","
                  "\"name\":\"Maomao\",\"region\":\"GB\",\"seller_type\":"
                  "\"CROSS_BORDER\",\"cipher\":\"GCP_XF90\",\"code\":\"C\"},"
                  "{\"id\":\"\",\"cipher\":\"skipped\"}]}}";
    c = open_fake(&f, &clk);
    sg_err_init(&err);
    assert_int_equal(c->ops->list_shops(c, "TTP_tok", &shops, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(shops[0].id, "7000714532876273420");
    assert_string_equal(shops[0].cipher, "GCP_XF90");
    assert_string_equal(shops[0].region, "GB");
    assert_string_equal(f.method[0], "GET");
    assert_string_equal(f.url[0],
                        "http://api.test/authorization/202309/shops?app_key="
                        "29a39d&timestamp=1623812664&sign=" SIG_A);
    assert_non_null(strstr(f.headers[0], "x-tts-access-token: TTP_tok\n"));
    sg_free(shops);

    /* An expired token maps to SG_ESTALE, retryable after a refresh. */
    f.status[1] = 401;
    f.answer[1] = "{\"code\":105002,\"message\":\"Expired credentials.\","
                  "\"request_id\":\"r\",\"data\":null}";
    assert_int_equal(c->ops->list_shops(c, "TTP_tok", &shops, &n, &err),
                     SG_ESTALE);
    assert_true(err.retryable);
    assert_null(strstr(err.msg, "TTP_tok"));
    sg_connector_close(c);
    fake_free(&f);
}

static void token_exchange_and_refresh(void **state)
{
    struct fake_http f = {0};
    struct sg_clock clk;
    struct sg_connector *c;
    struct sg_conn_tokens t;
    struct sg_err err;

    SG_UNUSED(state);
    f.answer[0] = "{\"code\":0,\"message\":\"success\",\"request_id\":\"r\","
                  "\"data\":{\"access_token\":\"TTP_a\",\"access_token_"
                  "expire_in\":1660556783,\"refresh_token\":\"TTP_r\","
                  "\"refresh_token_expire_in\":1691487031,\"open_id\":"
                  "\"7010\",\"seller_name\":\"Test Seller\","
                  "\"seller_base_region\":\"US\"}}";
    f.status[1] = 400;
    f.answer[1] = "{\"code\":36009004,\"message\":\"Invalid credentials. The "
                  "`refresh_token` is invalid or expired.\",\"request_id\":"
                  "\"r\",\"data\":null}";
    c = open_fake(&f, &clk);
    sg_err_init(&err);
    assert_int_equal(c->ops->exchange_code(c, "co de", &t, &err), 0);
    assert_string_equal(t.access_token, "TTP_a");
    assert_string_equal(t.refresh_token, "TTP_r");
    assert_int_equal(t.access_expires_at, 1660556783);
    assert_int_equal(t.refresh_expires_at, 1691487031);
    assert_string_equal(t.open_id, "7010");
    assert_string_equal(t.region, "US");
    assert_string_equal(f.url[0], "http://auth.test/api/v2/token/get?app_key="
                                  "29a39d&app_secret=" SECRET
                                  "&auth_code=co%20de&grant_type="
                                  "authorized_code");
    sg_conn_tokens_release(&t);
    /* A refused refresh token is an auth failure, not retryable. */
    assert_int_equal(c->ops->refresh(c, "TTP_r", &t, &err), SG_EAUTH);
    assert_false(err.retryable);
    assert_non_null(strstr(f.url[1], "/api/v2/token/refresh?"));
    assert_non_null(strstr(f.url[1], "grant_type=refresh_token"));
    assert_null(t.access_token);
    assert_null(strstr(err.msg, SECRET));
    sg_connector_close(c);
    fake_free(&f);
}

static void subscribe_and_consent_url(void **state)
{
    struct fake_http f = {0};
    struct sg_clock clk;
    struct sg_connector *c;
    struct sg_conn_shop shop = {.id = "1", .cipher = "ROW_x"};
    struct sg_err err;
    char *url = NULL;

    SG_UNUSED(state);
    f.answer[0] = "{\"code\":0,\"message\":\"Success\",\"request_id\":\"r\","
                  "\"data\":{}}";
    c = open_fake(&f, &clk);
    sg_err_init(&err);
    assert_int_equal(c->ops->subscribe_webhook(c, "tok", &shop,
                                               "ORDER_STATUS_CHANGE",
                                               "https://e.test/wh", &err),
                     0);
    assert_string_equal(f.method[0], "PUT");
    assert_string_equal(f.body[0], "{\"address\":\"https://e.test/wh\","
                                   "\"event_type\":\"ORDER_STATUS_CHANGE\"}");
    assert_non_null(strstr(f.url[0], "/event/202309/webhooks?"));
    assert_non_null(strstr(f.url[0], "shop_cipher=ROW_x"));
    assert_int_equal(c->ops->authorize_url(c, "st&1", &url, &err), 0);
    assert_string_equal(url, "http://consent.test/open/authorize?service_id="
                             "svc%201&state=st%261");
    sg_free(url);
    sg_connector_close(c);
    fake_free(&f);
}

static void webhook_envelope(void **state)
{
    static const char body[] =
        "{\"type\":6,\"tts_notification_id\":\"n-1\",\"shop_id\":\"7494\","
        "\"timestamp\":1664095733,\"data\":{\"message\":\"bye\"}}";
    struct fake_http f = {0};
    struct sg_clock clk;
    struct sg_connector *c;
    struct sg_conn_event ev;
    struct sg_err err;
    char sig[65];

    SG_UNUSED(state);
    c = open_fake(&f, &clk);
    sg_err_init(&err);
    assert_int_equal(sg_tts_webhook_sign(sig, "29a39d", SECRET, body,
                                         strlen(body)),
                     0);
    assert_int_equal(c->ops->verify_webhook(c, sig, 64, body, strlen(body)),
                     0);
    sig[0] = sig[0] == 'a' ? 'b' : 'a';
    assert_int_equal(c->ops->verify_webhook(c, sig, 64, body, strlen(body)),
                     SG_EAUTH);
    assert_int_equal(c->ops->verify_webhook(c, NULL, 0, body, strlen(body)),
                     SG_EAUTH);
    assert_int_equal(c->ops->parse_webhook(c, body, strlen(body), &ev, &err),
                     0);
    assert_int_equal(ev.type, 6);
    assert_string_equal(ev.name, "SELLER_DEAUTHORIZATION");
    assert_string_equal(ev.id, "n-1");
    assert_string_equal(ev.shop_id, "7494");
    assert_int_equal(ev.timestamp, 1664095733);
    assert_int_equal(c->ops->parse_webhook(c, "[]", 2, &ev, &err), SG_EINVAL);
    assert_int_equal(c->ops->parse_webhook(c, "{\"type\":1}", 10, &ev, &err),
                     SG_EINVAL);
    assert_int_equal(
        c->ops->parse_webhook(c, "{\"type\":\"1\",\"tts_notification_id\":"
                                 "\"x\"}", 37, &ev, &err),
        SG_EINVAL);
    sg_connector_close(c);
}

/*
 * An order notification reads the same whichever parse takes it: the
 * pruned one (ASCII, integers of up to 18 digits) or jansson's full one
 * for the rest (an escape anywhere, a 19-digit id). Broken bodies are
 * refused either way.
 */
static void webhook_parse_paths(void **state)
{
    static const struct {
        const char *body;
        const char *order_id;
    } cases[] = {
        /* In the pruned subset; members read and skipped. */
        {"{\"type\":1,\"tts_notification_id\":\"7327\",\"shop_id\":\"7494\","
         "\"timestamp\":1700000000,\"data\":{\"order_id\":\"576461413038\","
         "\"order_status\":\"UNPAID\",\"update_time\":1700000001,"
         "\"is_on_hold_order\":false,\"tags\":[1,{\"a\":null}]}}",
         "576461413038"},
        /* An escape in a member nobody reads: the full parse. */
        {"{\"type\":1,\"tts_notification_id\":\"7327\",\"shop_id\":\"7494\","
         "\"timestamp\":1700000000,\"data\":{\"order_id\":\"576461413038\","
         "\"order_status\":\"UNPAID\\u00e9\",\"update_time\":1700000001}}",
         "576461413038"},
        /* An integer id of 19 digits: past the pruned parse's 18. */
        {"{\"type\":1,\"tts_notification_id\":\"7327\",\"shop_id\":7494,"
         "\"timestamp\":1700000000,\"data\":{\"order_id\":5764614130387857521,"
         "\"update_time\":1700000001}}",
         "5764614130387857521"},
    };
    static const char *const broken[] = {
        "{\"type\":1,\"tts_notification_id\":\"7327\"} x",
        "{\"type\":1,\"tts_notification_id\":\"7327\",",
        "{\"type\":1,\"tts_notification_id\":\"73\\u0001\"}",
        "{\"type\":0,\"tts_notification_id\":\"7327\"}",
    };
    struct fake_http f = {0};
    struct sg_clock clk;
    struct sg_connector *c;
    struct sg_conn_event ev;
    struct sg_err err;

    SG_UNUSED(state);
    c = open_fake(&f, &clk);
    for (size_t i = 0; i < SG_ARRAY_SIZE(cases); i++) {
        sg_err_init(&err);
        assert_int_equal(c->ops->parse_webhook(c, cases[i].body,
                                               strlen(cases[i].body), &ev,
                                               &err),
                         0);
        assert_int_equal(ev.type, 1);
        assert_string_equal(ev.name, "ORDER_STATUS_CHANGE");
        assert_string_equal(ev.id, "7327");
        assert_string_equal(ev.shop_id, "7494");
        assert_int_equal(ev.timestamp, 1700000000);
        assert_string_equal(ev.order_id, cases[i].order_id);
        assert_int_equal(ev.update_time, 1700000001);
    }
    for (size_t i = 0; i < SG_ARRAY_SIZE(broken); i++) {
        sg_err_init(&err);
        assert_int_equal(c->ops->parse_webhook(c, broken[i],
                                               strlen(broken[i]), &ev, &err),
                         SG_EINVAL);
        assert_true(err.msg[0] != '\0');
    }
    sg_connector_close(c);
}

/*
 * HMAC-SHA256 against RFC 4231's test cases 1, 2 and 6 (a key of 20
 * bytes, a short key, a key longer than the block), one-shot and with
 * the key set up once, the message whole and split.
 */
static void hmac_rfc4231(void **state)
{
    static const struct {
        unsigned char key_byte;
        size_t key_len;
        const char *key, *data, *mac;
    } cases[] = {
        {0x0b, 20, NULL, "Hi There",
         "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
        {0, 4, "Jefe", "what do ya want for nothing?",
         "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
        {0xaa, 131, NULL,
         "Test Using Larger Than Block-Size Key - Hash Key First",
         "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
    };

    SG_UNUSED(state);
    for (size_t i = 0; i < SG_ARRAY_SIZE(cases); i++) {
        unsigned char key[131], md[32];
        const char *d = cases[i].data;
        size_t len = strlen(d);
        struct sg_hmac_key *k = NULL;
        char hex[65];

        if (cases[i].key)
            memcpy(key, cases[i].key, cases[i].key_len);
        else
            memset(key, cases[i].key_byte, cases[i].key_len);
        assert_int_equal(sg_hmac_sha256_hex(key, cases[i].key_len, d, len,
                                            hex), 0);
        assert_string_equal(hex, cases[i].mac);
        assert_int_equal(sg_hmac_key_new(&k, key, cases[i].key_len), 0);
        for (size_t cut = 0; cut <= len; cut += 3) {
            assert_int_equal(sg_hmac_key_sha256(k, d, cut, d + cut,
                                                len - cut, md), 0);
            sg_hex_encode(md, 32, hex);
            assert_string_equal(hex, cases[i].mac);
        }
        sg_hmac_key_free(k);
    }
}

/* The key set up once signs and checks exactly as the one-shot HMAC. */
static void webhook_key_matches(void **state)
{
    static const char *const bodies[] = {
        "", "{}", "{\"type\":1,\"data\":{\"order_id\":\"576\"}}"};
    struct sg_hmac_key *k = NULL;
    char want[65], got[65], upper[65];
    unsigned char a[32], b[32];

    SG_UNUSED(state);
    assert_int_equal(sg_hmac_key_new(&k, SECRET, strlen(SECRET)), 0);
    for (size_t i = 0; i < SG_ARRAY_SIZE(bodies); i++) {
        size_t len = strlen(bodies[i]);

        assert_int_equal(sg_tts_webhook_sign(want, "29a39d", SECRET,
                                             bodies[i], len), 0);
        assert_int_equal(sg_tts_webhook_sign_key(got, k, "29a39d",
                                                 bodies[i], len), 0);
        assert_string_equal(got, want);
        for (size_t j = 0; j < 65; j++)
            upper[j] = (char)toupper((unsigned char)got[j]);
        assert_int_equal(sg_tts_webhook_check_key(k, "29a39d", upper, 64,
                                                  bodies[i], len), 0);
        assert_int_equal(sg_tts_webhook_check_key(k, "29a39e", got, 64,
                                                  bodies[i], len), SG_EAUTH);
        assert_int_equal(sg_tts_webhook_check_key(k, "29a39d", got, 63,
                                                  bodies[i], len), SG_EAUTH);
    }
    /* a || b is one message, wherever it is split. */
    assert_int_equal(sg_hmac_sha256("k", 1, "abcdef", 6, a), 0);
    sg_hmac_key_free(k);
    assert_int_equal(sg_hmac_key_new(&k, "k", 1), 0);
    assert_int_equal(sg_hmac_key_sha256(k, "abc", 3, "def", 3, b), 0);
    assert_memory_equal(a, b, 32);
    assert_int_equal(sg_hmac_key_sha256(k, "", 0, "abcdef", 6, b), 0);
    assert_memory_equal(a, b, 32);
    sg_hmac_key_free(k);
}

static void registry_checks(void **state)
{
    struct sg_connector_ops bad = sg_connector_tiktok_shop;
    struct sg_err err;

    SG_UNUSED(state);
    assert_ptr_equal(sg_connector_find("tiktok_shop"),
                     &sg_connector_tiktok_shop);
    assert_null(sg_connector_find("nope"));
    sg_err_init(&err);
    assert_int_equal(sg_connector_check(&sg_connector_tiktok_shop, &err), 0);
    bad.version = 99;
    assert_int_equal(sg_connector_check(&bad, &err), SG_ECONFIG);
    bad = sg_connector_tiktok_shop;
    bad.refresh = NULL;
    assert_int_equal(sg_connector_check(&bad, &err), SG_ECONFIG);
    bad.caps &= ~(uint32_t)SG_CAP_OAUTH;
    bad.authorize_url = NULL;
    bad.exchange_code = NULL;
    assert_int_equal(sg_connector_check(&bad, &err), 0);
}

static void key_file_and_sealing(void **state)
{
    char *dir = sgt_tmpdir(), *path = sgt_path(dir, "k"),
         *bad = sgt_path(dir, "bad");
    unsigned char key[SG_SECRET_KEY_LEN], again[SG_SECRET_KEY_LEN];
    static const char token[] = "TTP_secret_access_token_123";
    char *sealed = NULL, *plain = NULL;
    size_t len = 0;
    struct sg_err err;
    struct stat st;

    SG_UNUSED(state);
    sg_err_init(&err);
    assert_int_equal(sg_secret_key_load(key, path, &err), SG_ENOTFOUND);
    assert_int_equal(sg_secret_key_create(path, &err), 0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(sg_secret_key_create(path, &err), SG_EEXISTS);
    assert_int_equal(sg_secret_key_load(key, path, &err), 0);
    assert_int_equal(sg_secret_key_load(again, path, &err), 0);
    assert_memory_equal(key, again, sizeof(key));
    /* Group-readable: refused. */
    assert_int_equal(chmod(path, 0640), 0);
    assert_int_equal(sg_secret_key_load(again, path, &err), SG_EFORBIDDEN);
    assert_int_equal(chmod(path, 0600), 0);
    /* Not 64 hex digits: refused. */
    assert_int_equal(sgt_write_file(bad, "abc\n"), 0);
    assert_int_equal(chmod(bad, 0600), 0);
    assert_int_equal(sg_secret_key_load(again, bad, &err), SG_EINVAL);

    /* Sealing: round trip, no plaintext, a different key cannot open. */
    assert_int_equal(sg_seal(key, token, strlen(token), &sealed), 0);
    assert_null(strstr(sealed, token));
    assert_null(strstr(sealed, "TTP_"));
    assert_int_equal(strncmp(sealed, "v1:", 3), 0);
    assert_int_equal(sg_unseal(key, sealed, &plain, &len), 0);
    assert_int_equal(len, strlen(token));
    assert_memory_equal(plain, token, len);
    sg_free(plain);
    plain = NULL;
    key[0] ^= 1;
    assert_int_not_equal(sg_unseal(key, sealed, &plain, &len), 0);
    assert_null(plain);
    sg_free(sealed);
    unlink(path);
    unlink(bad);
    rmdir(dir);
    sg_free(path);
    sg_free(bad);
    sg_free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(error_mapping),
        cmocka_unit_test(signed_url_vector),
        cmocka_unit_test(list_shops_on_the_wire),
        cmocka_unit_test(token_exchange_and_refresh),
        cmocka_unit_test(subscribe_and_consent_url),
        cmocka_unit_test(webhook_envelope),
        cmocka_unit_test(webhook_parse_paths),
        cmocka_unit_test(hmac_rfc4231),
        cmocka_unit_test(webhook_key_matches),
        cmocka_unit_test(registry_checks),
        cmocka_unit_test(key_file_and_sealing),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
