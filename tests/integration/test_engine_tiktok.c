/*
 * test_engine_tiktok.c - connecting TikTok Shop end to end: a real surge
 * sandbox and a real surge serve on loopback. surge connect tiktok-shop
 * --sandbox connects a seller; the store holds no plaintext token; signed
 * webhooks are accepted once, duplicates answer duplicate, a bad
 * signature gets 401 and stores nothing; an expired access token is
 * refreshed on use; type 7 refreshes at once; the OAuth callback accepts
 * only an issued state, once; type 6 marks the connection deauthorized.
 */
#include "testlib.h"
#include "connectors/tiktok_shop/sign.h"
#include "core/alloc.h"
#include "core/json.h"

#include <signal.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define ARG(s) ((char *)(uintptr_t)(s))
#define POLL_MAX 100 /* x 50 ms */

struct world {
    char *dir, *conf, *db, *log, *sbx_log;
    char api_key[128];
    char app_key[64], app_secret[128];
    char shop_id[64];
    struct sgt_proc sbx, srv;
};

static struct world W;

static void nap(void)
{
    struct timespec ts = {0, 50 * 1000 * 1000};

    nanosleep(&ts, NULL);
}

static int surge(char **out, const char *a, const char *b, const char *c,
                 const char *d, const char *e, const char *f)
{
    char *argv[12] = {ARG(sgt_surge_bin())};
    const char *words[] = {a, b, c, d, e, f};
    size_t n = 1;

    for (size_t i = 0; i < SG_ARRAY_SIZE(words) && words[i]; i++)
        argv[n++] = ARG(words[i]);
    argv[n++] = ARG("--config");
    argv[n++] = W.conf;
    argv[n] = NULL;
    return sgt_run(argv, NULL, out, NULL);
}

static json_t *get_json(const char *base, const char *path, bool auth)
{
    char url[512], hdr[200];
    const char *h[] = {hdr, NULL};
    struct sgt_resp r;
    json_t *j = NULL;

    snprintf(url, sizeof(url), "%s%s", base, path);
    snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s", W.api_key);
    assert_int_equal(sgt_http(&r, "GET", url, auth ? h : NULL, NULL, 0), 0);
    assert_int_equal(r.status, 200);
    j = json_loads(r.body, 0, NULL);
    assert_non_null(j);
    sgt_resp_free(&r);
    return j;
}

static long post(const char *base, const char *path, const char *body,
                 char **body_out)
{
    char url[512], hdr[200];
    const char *h[] = {hdr, "Content-Type: application/json", NULL};
    struct sgt_resp r;
    long st;

    snprintf(url, sizeof(url), "%s%s", base, path);
    snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s", W.api_key);
    assert_int_equal(sgt_http(&r, "POST", url, h, body,
                              body ? strlen(body) : 0),
                     0);
    st = r.status;
    if (body_out)
        *body_out = sg_strdup(r.body ? r.body : "");
    sgt_resp_free(&r);
    return st;
}

/* POST a webhook signed with secret; returns the status, body copied. */
static long webhook(const char *body, const char *secret, char **body_out)
{
    char url[256], sig[65], hdr[100];
    const char *h[] = {hdr, "Content-Type: application/json", NULL};
    struct sgt_resp r;
    long st;

    assert_int_equal(sg_tts_webhook_sign(sig, W.app_key, secret, body,
                                         strlen(body)),
                     0);
    snprintf(hdr, sizeof(hdr), "Authorization: %s", sig);
    snprintf(url, sizeof(url), "%s/webhooks/tiktok-shop", W.srv.url);
    assert_int_equal(sgt_http(&r, "POST", url, h, body, strlen(body)), 0);
    st = r.status;
    if (body_out)
        *body_out = sg_strdup(r.body ? r.body : "");
    sgt_resp_free(&r);
    return st;
}

static int64_t sql_int(const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int64_t v = -1;

    assert_int_equal(sqlite3_open_v2(W.db, &db, SQLITE_OPEN_READONLY, NULL),
                     SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static bool file_has(const char *path, const char *needle)
{
    size_t len = 0, n = strlen(needle);
    char *data = sgt_read_file(path, &len);
    bool found = false;

    for (size_t i = 0; data && n && i + n <= len && !found; i++)
        found = memcmp(data + i, needle, n) == 0;
    sg_free(data);
    return found;
}

/* No plaintext token in the database or its WAL. */
static void assert_no_plaintext(const char *token)
{
    char wal[600];

    snprintf(wal, sizeof(wal), "%s-wal", W.db);
    if (file_has(W.db, token) || file_has(wal, token))
        fail_msg("plaintext token %.8s... found in the store", token);
}

static json_t *sandbox_info(void)
{
    return get_json(W.sbx.url, "/sandbox/v1/info", false);
}

static json_t *first_connection(void)
{
    json_t *j = get_json(W.srv.url, "/api/v1/connections", true);
    json_t *c = json_incref(json_array_get(json_object_get(j,
                                                           "connections"),
                                           0));

    json_decref(j);
    assert_non_null(c);
    return c;
}

static int setup(void **state)
{
    char conf[2048], *out = NULL;
    char *sbx_argv[] = {ARG(sgt_surge_bin()), ARG("sandbox"), ARG("--listen"),
                        ARG("127.0.0.1:0"), ARG("--seed"), ARG("11"), NULL};
    char *srv_argv[5];
    json_t *info;

    SG_UNUSED(state);
    W.dir = sgt_tmpdir();
    W.conf = sgt_path(W.dir, "surge.conf");
    W.db = sgt_path(W.dir, "surge.db");
    W.log = sgt_path(W.dir, "serve.log");
    W.sbx_log = sgt_path(W.dir, "sandbox.log");
    if (sgt_spawn(&W.sbx, sbx_argv, W.sbx_log) != 0)
        return -1;
    info = sandbox_info();
    snprintf(W.app_key, sizeof(W.app_key), "%s", sg_json_str(info, "app_key"));
    snprintf(W.app_secret, sizeof(W.app_secret), "%s",
             sg_json_str(info, "app_secret"));
    snprintf(W.shop_id, sizeof(W.shop_id), "%s",
             sg_json_str(json_array_get(json_object_get(info, "shops"), 0),
                         "id"));
    json_decref(info);
    snprintf(conf, sizeof(conf),
             "[server]\nlisten = 127.0.0.1:0\n\n"
             "[store]\npath = %s\n\n"
             "[security]\nallow_private_urls = true\n\n"
             "[tiktok_shop]\napp_key = %s\napp_secret = %s\n"
             "service_id = svc-test\napi_base_url = %s\n"
             "auth_base_url = %s\nauthorize_url = %s/open/authorize\n\n"
             "[secrets]\nkey_file = %s/surge.key\n",
             W.db, W.app_key, W.app_secret, W.sbx.url, W.sbx.url,
             W.sbx.url, W.dir);
    if (sgt_write_file(W.conf, conf))
        return -1;
    chmod(W.conf, 0600);
    if (surge(&out, "init", NULL, NULL, NULL, NULL, NULL) != 0 ||
        !strstr(out, "created key file"))
        return -1;
    sg_free(out);
    if (surge(NULL, "tenant", "create", "default", NULL, NULL, NULL) != 0 ||
        surge(&out, "apikey", "create", "--tenant", "default", NULL,
              NULL) != 0)
        return -1;
    snprintf(W.api_key, sizeof(W.api_key), "%.*s",
             (int)strcspn(out, "\r\n"), out);
    sg_free(out);
    srv_argv[0] = ARG(sgt_surge_bin());
    srv_argv[1] = ARG("serve");
    srv_argv[2] = ARG("--config");
    srv_argv[3] = W.conf;
    srv_argv[4] = NULL;
    if (sgt_spawn(&W.srv, srv_argv, W.log) != 0)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    SG_UNUSED(state);
    sgt_stop(&W.srv, SIGTERM);
    sgt_stop(&W.sbx, SIGTERM);
    return 0;
}

static void connect_with_sandbox(void **state)
{
    char wh[300], *out = NULL;
    json_t *info, *c;

    SG_UNUSED(state);
    snprintf(wh, sizeof(wh), "%s/webhooks/tiktok-shop", W.srv.url);
    setenv("SURGE_TIKTOK_SHOP_WEBHOOK_URL", wh, 1);
    assert_int_equal(surge(&out, "connect", "tiktok-shop", "--sandbox",
                           W.sbx.url, NULL, NULL),
                     0);
    unsetenv("SURGE_TIKTOK_SHOP_WEBHOOK_URL");
    assert_non_null(strstr(out, "discovered 1 shop"));
    assert_non_null(strstr(out, "subscribed 9 webhooks"));
    assert_non_null(strstr(out, "(0 failed)"));
    sg_free(out);
    assert_int_equal(surge(&out, "connect", "list", NULL, NULL, NULL, NULL),
                     0);
    assert_non_null(strstr(out, W.shop_id));
    assert_non_null(strstr(out, "status=active"));
    sg_free(out);

    /* The sandbox's current tokens are the ones just issued to us. */
    info = sandbox_info();
    assert_no_plaintext(sg_json_str(info, "access_token"));
    assert_no_plaintext(sg_json_str(info, "refresh_token"));
    assert_no_plaintext("TTP_");
    json_decref(info);
    assert_int_equal(sql_int("SELECT count(*) FROM channel_connections "
                             "WHERE access_token_sealed LIKE 'v1:%' AND "
                             "refresh_token_sealed LIKE 'v1:%'"),
                     1);
    c = first_connection();
    assert_string_equal(sg_json_str(c, "status"), "active");
    assert_null(json_object_get(c, "access_token"));
    json_decref(c);
}

static void webhooks_signed_dedupe_and_rejected(void **state)
{
    char body[512], *resp = NULL;
    int64_t before;

    SG_UNUSED(state);
    snprintf(body, sizeof(body),
             "{\"type\":1,\"tts_notification_id\":\"it-n-1\",\"shop_id\":"
             "\"%s\",\"timestamp\":1700000000,\"data\":{\"order_id\":\"5\","
             "\"order_status\":\"AWAITING_SHIPMENT\"}}",
             W.shop_id);
    assert_int_equal(webhook(body, W.app_secret, &resp), 200);
    assert_non_null(strstr(resp, "\"accepted\""));
    sg_free(resp);
    assert_int_equal(webhook(body, W.app_secret, &resp), 200);
    assert_non_null(strstr(resp, "\"duplicate\""));
    sg_free(resp);
    before = sql_int("SELECT count(*) FROM inbox");
    assert_int_equal(before, sql_int("SELECT count(*) FROM inbox WHERE "
                                     "source = 'tiktok_shop'"));
    /* Bad signature: 401 and nothing stored. */
    snprintf(body, sizeof(body),
             "{\"type\":1,\"tts_notification_id\":\"it-n-2\",\"shop_id\":"
             "\"%s\",\"timestamp\":1700000000,\"data\":{}}",
             W.shop_id);
    assert_int_equal(webhook(body, "wrong_secret", NULL), 401);
    assert_int_equal(sql_int("SELECT count(*) FROM inbox"), before);
    /* Unknown shop: not ours, nothing stored. */
    assert_int_equal(webhook("{\"type\":1,\"tts_notification_id\":\"x\","
                             "\"shop_id\":\"999\",\"data\":{}}",
                             W.app_secret, NULL),
                     404);
    assert_int_equal(sql_int("SELECT count(*) FROM inbox"), before);
    /* The stored event gets processed. */
    for (int i = 0; i < POLL_MAX &&
                    sql_int("SELECT count(*) FROM inbox WHERE "
                            "processed_at IS NULL OR processed_at = 0") > 0;
         i++)
        nap();
    assert_int_equal(sql_int("SELECT count(*) FROM inbox WHERE "
                             "processed_at IS NULL OR processed_at = 0"),
                     0);
}

static void expired_token_is_refreshed(void **state)
{
    json_t *info, *after;
    char *old_access, *resp = NULL;

    SG_UNUSED(state);
    info = sandbox_info();
    old_access = sg_strdup(sg_json_str(info, "access_token"));
    json_decref(info);
    assert_int_equal(post(W.sbx.url, "/sandbox/v1/tokens/expire", "{}", NULL),
                     200);
    /* Using the expired token (105002) refreshes it and repeats the call. */
    assert_int_equal(post(W.srv.url, "/api/v1/connections/1/sync", NULL,
                          &resp),
                     200);
    assert_non_null(strstr(resp, "\"synced\""));
    sg_free(resp);
    after = sandbox_info();
    assert_string_not_equal(sg_json_str(after, "access_token"), old_access);
    assert_no_plaintext(sg_json_str(after, "access_token"));
    assert_no_plaintext(sg_json_str(after, "refresh_token"));
    json_decref(after);
    sg_free(old_access);
    assert_true(sql_int("SELECT refreshed_at FROM channel_connections "
                        "WHERE id = 1") > 0);
    /* Another tenant's id (or a missing one) is not found. */
    assert_int_equal(post(W.srv.url, "/api/v1/connections/77/refresh", NULL,
                          NULL),
                     404);
}

static void upcoming_expiry_refreshes_now(void **state)
{
    int64_t before = sql_int("SELECT refreshed_at FROM channel_connections "
                             "WHERE id = 1");
    int i;

    SG_UNUSED(state);
    /* The sandbox sends type 7 to our subscribed webhook address. */
    assert_int_equal(post(W.sbx.url, "/sandbox/v1/authorization/expiring",
                          "{}", NULL),
                     200);
    for (i = 0; i < POLL_MAX &&
                sql_int("SELECT refreshed_at FROM channel_connections "
                        "WHERE id = 1") == before;
         i++)
        nap();
    assert_true(sql_int("SELECT refreshed_at FROM channel_connections "
                        "WHERE id = 1") > before);
    assert_true(sql_int("SELECT count(*) FROM inbox WHERE source = "
                        "'tiktok_shop' AND json_extract(body, '$.type') = "
                        "7") >= 1);
    assert_no_plaintext("TTP_");
}

static void oauth_callback(void **state)
{
    char *out = NULL, *p, state_s[80], url[600], *resp = NULL;
    json_t *j;
    long st;

    SG_UNUSED(state);
    assert_int_equal(surge(&out, "connect", "tiktok-shop", NULL, NULL, NULL,
                           NULL),
                     0);
    p = strstr(out, "/open/authorize?service_id=svc-test&state=");
    assert_non_null(p);
    snprintf(state_s, sizeof(state_s), "%.64s",
             strstr(p, "state=") + 6);
    sg_free(out);
    /* The seller consents (no callback configured: code comes as JSON). */
    snprintf(url, sizeof(url), "/open/authorize?service_id=svc-test&state=%s",
             state_s);
    j = get_json(W.sbx.url, url, false);
    snprintf(url, sizeof(url), "/oauth/tiktok-shop/callback?code=%s&state=%s",
             sg_json_str(j, "code"), state_s);
    json_decref(j);
    j = get_json(W.srv.url, url, false);
    assert_string_equal(sg_json_str(j, "status"), "connected");
    assert_int_equal(sg_json_int(j, "connection_id", 0), 1);
    json_decref(j);
    /* A state works once; an unknown one never. */
    {
        char full[1400];
        struct sgt_resp r;

        snprintf(full, sizeof(full), "%s%s", W.srv.url, url);
        assert_int_equal(sgt_http(&r, "GET", full, NULL, NULL, 0), 0);
        st = r.status;
        sgt_resp_free(&r);
        assert_int_equal(st, 400);
        snprintf(full, sizeof(full), "%s/oauth/tiktok-shop/callback?"
                 "code=abc&state=%064d", W.srv.url, 7);
        assert_int_equal(sgt_http(&r, "GET", full, NULL, NULL, 0), 0);
        assert_int_equal(r.status, 400);
        assert_non_null(strstr(r.body, "invalid_state"));
        sgt_resp_free(&r);
    }
    assert_no_plaintext("TTP_");
    SG_UNUSED(resp);
}

static void deauthorization_marks_connection(void **state)
{
    json_t *c = NULL;
    int i;

    SG_UNUSED(state);
    assert_int_equal(post(W.sbx.url, "/sandbox/v1/authorization/revoke", "{}",
                          NULL),
                     200);
    for (i = 0; i < POLL_MAX; i++) {
        c = first_connection();
        if (strcmp(sg_json_str(c, "status"), "deauthorized") == 0)
            break;
        json_decref(c);
        c = NULL;
        nap();
    }
    assert_non_null(c);
    assert_string_equal(sg_json_str(c, "status"), "deauthorized");
    json_decref(c);
    /* A deauthorized connection is not refreshed any more. */
    assert_int_equal(post(W.srv.url, "/api/v1/connections/1/refresh", NULL,
                          NULL),
                     409);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(connect_with_sandbox),
        cmocka_unit_test(webhooks_signed_dedupe_and_rejected),
        cmocka_unit_test(expired_token_is_refreshed),
        cmocka_unit_test(upcoming_expiry_refreshes_now),
        cmocka_unit_test(oauth_callback),
        cmocka_unit_test(deauthorization_marks_connection),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
