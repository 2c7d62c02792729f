/*
 * tts_world.h - the world shared by the TikTok Shop end-to-end tests
 * (test_engine_orders.c, test_engine_fulfil.c, test_engine_crash.c):
 * calls to the sandbox (signed Open API, control plane) and to surge
 * serve (admin API), reads
 * of Surge's store, and waits until both sides agree. Every wait is
 * bounded.
 *
 * Setting up: tw_sandbox_start (the sandbox with the test's config),
 * tw_engine_init (Surge's config with the test's own sections, init,
 * tenant, API key), then the test starts surge serve its own way, then
 * tw_connect (connect to the sandbox, webhooks to this server).
 *
 * Not a library: the including test defines struct world (with at least
 * the fields used here: dir, conf, db, log, sbx_log, sbx_conf, api_key,
 * app_key, app_secret, shop_id, cipher, token, warehouse, sbx, srv,
 * sbx_real_clock), a static W of it, ARG() and WAIT_MAX, then includes
 * this file once. The helpers are static so each test keeps its own W.
 *
 * A test that sets tw_pg_dsn (a database from tests/lib/pgserver.h)
 * before tw_engine_init runs Surge on PostgreSQL: the config names that
 * backend and sql_int reads the store there. The usual way: main() is
 * TW_RUN_GROUP (with SG_TW_BACKEND=postgres it starts a server for the
 * program and stops it after), setup calls tw_backend_db, and checks call
 * tw_assert_store_intact.
 */
#ifndef SG_TESTS_TTS_WORLD_H
#define SG_TESTS_TTS_WORLD_H

#include "pgserver.h"

#include <libpq-fe.h>

#define TW_FN static __attribute__((unused))

/* Non-empty: Surge's store is this PostgreSQL database. */
static char tw_pg_dsn[600];
/* The throwaway server behind it (SG_TW_BACKEND=postgres). */
static struct sgt_pg *tw_pg;

TW_FN void nap(void)
{
    struct timespec ts = {0, 50 * 1000 * 1000};

    nanosleep(&ts, NULL);
}

/* ---- plumbing ---- */

TW_FN int surge(char **out, const char *a, const char *b, const char *c,
                 const char *d, const char *e)
{
    char *argv[12] = {ARG(sgt_surge_bin())};
    const char *words[] = {a, b, c, d, e};
    size_t n = 1;

    for (size_t i = 0; i < SG_ARRAY_SIZE(words) && words[i]; i++)
        argv[n++] = ARG(words[i]);
    argv[n++] = ARG("--config");
    argv[n++] = W.conf;
    argv[n] = NULL;
    return sgt_run(argv, NULL, out, NULL);
}

TW_FN json_t *http_json(const char *method, const char *base,
                         const char *path, const char *body, bool auth,
                         long *status)
{
    char url[600], hdr[200];
    const char *h[] = {"Content-Type: application/json", hdr, NULL};
    struct sgt_resp r;
    json_t *j;

    snprintf(url, sizeof(url), "%s%s", base, path);
    snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s", W.api_key);
    if (!auth)
        h[1] = NULL;
    assert_int_equal(sgt_http(&r, method, url, h, body,
                              body ? strlen(body) : 0),
                     0);
    if (status)
        *status = r.status;
    j = r.body ? json_loads(r.body, 0, NULL) : NULL;
    sgt_resp_free(&r);
    return j;
}

TW_FN json_t *ctl(const char *method, const char *path, const char *body,
                   long *status)
{
    return http_json(method, W.sbx.url, path, body, false, status);
}

TW_FN json_t *engine(const char *path)
{
    long st = 0;
    json_t *j = http_json("GET", W.srv.url, path, NULL, true, &st);

    assert_int_equal(st, 200);
    assert_non_null(j);
    return j;
}

/*
 * The first column of the first row of sql on the PostgreSQL store, over
 * one connection kept for the test (a new one per check would start a
 * server process each time: hundreds per crash-test check).
 */
TW_FN int64_t pg_int(const char *sql)
{
    static PGconn *c;
    PGresult *r;
    int64_t v = -1;

    if (c && PQstatus(c) != CONNECTION_OK) {
        PQfinish(c);
        c = NULL;
    }
    if (!c)
        c = PQconnectdb(tw_pg_dsn);
    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("sql: connect: %s", PQerrorMessage(c));
    r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        /* The server may have restarted under the kept connection (the
         * crash test crashes it): a read, so once more on a new one. */
        PQclear(r);
        PQfinish(c);
        c = PQconnectdb(tw_pg_dsn);
        r = PQexec(c, sql);
    }
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        char msg[512];

        snprintf(msg, sizeof(msg), "%s", PQerrorMessage(c));
        PQclear(r);
        fail_msg("sql: %s: %s", sql, msg);
    }
    if (PQntuples(r) > 0 && !PQgetisnull(r, 0, 0))
        v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return v;
}

/* The first column of the first row of sql on Surge's store. */
TW_FN int64_t sql_int(const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int64_t v = -1;

    if (tw_pg_dsn[0])
        return pg_int(sql);
    assert_int_equal(sqlite3_open_v2(W.db, &db, SQLITE_OPEN_READONLY, NULL),
                     SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("sql: %s: %s", sql, sqlite3_errmsg(db));
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* Wait until sql counts want; fail with what it counted. */
/* The sandbox's status of an order. */
TW_FN char *sbx_status(const char *cid, char out[32])
{
    json_t *orders = ctl("GET", "/sandbox/v1/state/orders", NULL, NULL), *o;
    size_t k;

    out[0] = '\0';
    json_array_foreach(json_object_get(orders, "orders"), k, o)
        if (strcmp(sg_json_str(o, "id"), cid) == 0)
            snprintf(out, 32, "%s", sg_json_str(o, "status"));
    json_decref(orders);
    return out;
}

TW_FN void wait_sbx_status(const char *cid, const char *want)
{
    char st[32];

    for (int i = 0; i < WAIT_MAX; i++) {
        if (strcmp(sbx_status(cid, st), want) == 0)
            return;
        nap();
    }
    fail_msg("sandbox order %s is %s, want %s", cid, st, want);
}

TW_FN void wait_count(const char *sql, int64_t want)
{
    int64_t got = -1;

    for (int i = 0; i < WAIT_MAX; i++) {
        got = sql_int(sql);
        if (got == want)
            return;
        nap();
    }
    fail_msg("waited for %s = %" PRId64 ", got %" PRId64, sql, want, got);
}

TW_FN void url_encode(struct sg_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";

    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;

        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
            (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' ||
            ch == '.' || ch == '~') {
            sg_buf_append(b, s, 1);
        } else {
            char e[3] = {'%', hex[ch >> 4], hex[ch & 15]};

            sg_buf_append(b, e, 3);
        }
    }
}

/* A signed Open API call to the sandbox; returns data (code 0 asserted). */
TW_FN json_t *tts(const char *method, const char *path, const char *body)
{
    struct sg_tts_param kv[3];
    char ts[32], sign[65], auth[600];
    const char *hdr[3];
    struct sg_buf url;
    struct sgt_resp r;
    json_t *env, *data;

    if (W.sbx_real_clock) {
        /* The sandbox checks timestamps against the wall clock
         * (timestamp_real_clock), so a scenario may move its clock. */
        snprintf(ts, sizeof(ts), "%" PRId64, (int64_t)time(NULL));
    } else {
        json_t *info = ctl("GET", "/sandbox/v1/info", NULL, NULL);

        snprintf(ts, sizeof(ts), "%" PRId64, sg_json_int(info, "now", 0));
        json_decref(info);
    }
    kv[0] = (struct sg_tts_param){"app_key", W.app_key};
    kv[1] = (struct sg_tts_param){"timestamp", ts};
    kv[2] = (struct sg_tts_param){"shop_cipher", W.cipher};
    assert_int_equal(sg_tts_sign(sign, W.app_secret, path, kv, 3, body,
                                 body ? strlen(body) : 0),
                     0);
    sg_buf_init(&url, 65536);
    sg_buf_printf(&url, "%s%s?sign=%s", W.sbx.url, path, sign);
    for (size_t i = 0; i < 3; i++) {
        sg_buf_printf(&url, "&%s=", kv[i].key);
        url_encode(&url, kv[i].value);
    }
    snprintf(auth, sizeof(auth), "x-tts-access-token: %s", W.token);
    hdr[0] = "Content-Type: application/json";
    hdr[1] = auth;
    hdr[2] = NULL;
    assert_int_equal(sgt_http(&r, method, url.data, hdr, body,
                              body ? strlen(body) : 0),
                     0);
    env = r.body ? json_loads(r.body, 0, NULL) : NULL;
    sgt_resp_free(&r);
    sg_buf_release(&url);
    if (sg_json_int(env, "code", -1) != 0)
        fail_msg("%s %s: code %" PRId64 " %s", method, path,
                 sg_json_int(env, "code", -1), sg_json_str(env, "message"));
    data = json_incref(json_object_get(env, "data"));
    json_decref(env);
    return data;
}

/* ---- the catalog on both sides ---- */

/*
 * A sandbox product with one SKU (seller_sku = sku, sbx_qty units) and a
 * Surge product with that SKU and surge_qty units; the sandbox SKU id goes
 * into sku_id_out.
 */
TW_FN void product(const char *sku, int sbx_qty, int surge_qty,
                    char sku_id_out[32])
{
    char body[2048];
    json_t *d;
    long st = 0;

    snprintf(body, sizeof(body),
             "{\"title\":\"Mug %s\",\"description\":\"<p>mug</p>\","
             "\"category_id\":\"601226\",\"main_images\":[{\"uri\":"
             "\"tos-maliva-i-o3syd03w52-us/mug\"}],\"package_weight\":"
             "{\"value\":\"1\",\"unit\":\"KILOGRAM\"},"
             "\"package_dimensions\":{\"length\":\"10\",\"width\":\"10\","
             "\"height\":\"10\",\"unit\":\"CENTIMETER\"},"
             "\"product_attributes\":[{\"id\":\"100392\",\"values\":[{"
             "\"id\":\"1000001\",\"name\":\"Stainless steel\"}]}],"
             "\"skus\":[{\"seller_sku\":\"%s\",\"price\":{\"amount\":"
             "\"12.50\",\"currency\":\"USD\"},\"inventory\":[{"
             "\"warehouse_id\":\"%s\",\"quantity\":%d}]}]}",
             sku, sku, W.warehouse, sbx_qty);
    d = tts("POST", "/product/202309/products", body);
    snprintf(sku_id_out, 32, "%s",
             sg_json_str(json_array_get(json_object_get(d, "skus"), 0),
                         "id"));
    json_decref(d);
    snprintf(body, sizeof(body),
             "{\"handle\":\"mug-%s\",\"title\":\"Mug %s\",\"variants\":[{"
             "\"sku\":\"%s\",\"price\":\"12.50\",\"grams\":300,"
             "\"inventory_quantity\":%d}]}",
             sku, sku, sku, surge_qty);
    d = http_json("POST", W.srv.url, "/api/v1/products", body, true, &st);
    assert_int_equal(st, 201);
    json_decref(d);
    /* The audit (delay 0) activates the product on the sandbox's ticker. */
    for (int i = 0; i < WAIT_MAX; i++) {
        json_t *skus = ctl("GET", "/sandbox/v1/state/skus", NULL, NULL);
        json_t *s;
        size_t k;
        bool live = false;

        json_array_foreach(json_object_get(skus, "skus"), k, s)
            if (strcmp(sg_json_str(s, "id"), sku_id_out) == 0)
                live = strcmp(sg_json_str(s, "product_status"),
                              "ACTIVATE") == 0;
        json_decref(skus);
        if (live)
            return;
        nap();
    }
    fail_msg("product %s never became ACTIVATE", sku);
}

/* Place an order of lines "sku_id:qty" (NULL-terminated); 201 or 409. */
TW_FN long order(char id_out[32], const char *sku_id, int qty,
                  const char *sku_id2, int qty2)
{
    char body[400];
    long st = 0;
    json_t *j;

    if (sku_id2)
        snprintf(body, sizeof(body),
                 "{\"lines\":[{\"sku_id\":\"%s\",\"quantity\":%d},"
                 "{\"sku_id\":\"%s\",\"quantity\":%d}]}",
                 sku_id, qty, sku_id2, qty2);
    else
        snprintf(body, sizeof(body),
                 "{\"lines\":[{\"sku_id\":\"%s\",\"quantity\":%d}]}", sku_id,
                 qty);
    j = ctl("POST", "/sandbox/v1/orders", body, &st);
    if (id_out)
        snprintf(id_out, 32, "%s",
                 st == 201 ? sg_json_str(json_object_get(j, "order"), "id")
                           : "");
    json_decref(j);
    return st;
}

/* The sandbox's listed stock of a SKU id. */
TW_FN int64_t sbx_stock(const char *sku_id)
{
    json_t *skus = ctl("GET", "/sandbox/v1/state/skus", NULL, NULL), *s;
    int64_t q = -1;
    size_t k;

    json_array_foreach(json_object_get(skus, "skus"), k, s)
        if (strcmp(sg_json_str(s, "id"), sku_id) == 0)
            q = sg_json_int(s, "stock", -1);
    json_decref(skus);
    return q;
}

TW_FN int64_t surge_level(const char *sku, const char *col)
{
    char sql[200];

    snprintf(sql, sizeof(sql), "SELECT %s FROM inventory_levels WHERE sku "
             "= '%s'", col, sku);
    return sql_int(sql);
}

TW_FN int64_t available(const char *sku)
{
    return surge_level(sku, "on_hand - reserved - committed");
}

/* R6 after every scenario. */
TW_FN void assert_inventory_clean(void)
{
    char *out = NULL;

    if (surge(&out, "inventory", "check", NULL, NULL, NULL) != 0)
        fail_msg("surge inventory check: %s", out ? out : "");
    assert_non_null(strstr(out, " 0 violations"));
    sg_free(out);
}

/*
 * Wait until Surge holds every sandbox order with the same status and
 * update_time: the convergence every scenario ends with.
 */
TW_FN void wait_converged(void)
{
    char last[200] = "";

    for (int i = 0; i < WAIT_MAX; i++) {
        json_t *orders = ctl("GET", "/sandbox/v1/state/orders", NULL, NULL);
        json_t *o;
        size_t k, total = json_array_size(json_object_get(orders, "orders"));
        size_t same = 0;

        json_array_foreach(json_object_get(orders, "orders"), k, o) {
            char sql[300];

            snprintf(sql, sizeof(sql),
                     "SELECT count(*) FROM orders WHERE channel_order_id = "
                     "'%s' AND status = '%s' AND channel_update_time = "
                     "%" PRId64,
                     sg_json_str(o, "id"), sg_json_str(o, "status"),
                     sg_json_int(o, "update_time", 0));
            if (sql_int(sql) == 1)
                same++;
            else
                snprintf(last, sizeof(last), "%s %s", sg_json_str(o, "id"),
                         sg_json_str(o, "status"));
        }
        json_decref(orders);
        if (same == total &&
            sql_int("SELECT count(*) FROM orders") == (int64_t)total)
            return;
        nap();
    }
    fail_msg("Surge never caught up with the sandbox (e.g. %s)", last);
}


/*
 * Surge's available stock for sku and the sandbox's listed stock for its
 * SKU id reach the same value within WAIT_MAX naps: both sides apply the
 * same orders, cancellations and restocks, but each in its own process.
 */
TW_FN void assert_stock_agrees(const char *sku, const char *sku_id)
{
    int64_t mine = -1, theirs = -2;

    for (int i = 0; i < WAIT_MAX; i++) {
        mine = available(sku);
        theirs = sbx_stock(sku_id);
        if (mine == theirs)
            return;
        nap();
    }
    fail_msg("%s: Surge has %" PRId64 " available, the sandbox lists %"
             PRId64, sku, mine, theirs);
}

/* ---- setting the world up ---- */

/*
 * For main(): with SG_TW_BACKEND=postgres (the ctest entries named *_pg),
 * start a throwaway PostgreSQL server for the program's store. 0 to go
 * on, else the exit code (77: skip, PostgreSQL not installed outside CI).
 */
TW_FN int tw_backend_main_start(void)
{
    const char *b = getenv("SG_TW_BACKEND");

    if (!b || !b[0] || strcmp(b, "sqlite") == 0)
        return 0;
    if (strcmp(b, "postgres") != 0) {
        print_error("SG_TW_BACKEND=%s: want sqlite or postgres\n", b);
        return 1;
    }
    return sgt_pg_main_start(&tw_pg);
}

/*
 * main()'s body for a program of these tests: the backend, the group, the
 * server stopped whatever the group's result.
 */
#define TW_RUN_GROUP(tests, setup, teardown)                                  \
    do {                                                                       \
        int tw_rc_ = tw_backend_main_start();                                  \
                                                                               \
        if (tw_rc_ == 0) {                                                     \
            tw_rc_ = cmocka_run_group_tests(tests, setup, teardown);           \
            sgt_pg_stop(tw_pg);                                                \
        }                                                                      \
        return tw_rc_;                                                         \
    } while (0)

/*
 * For a setup, before tw_engine_init: on PostgreSQL a fresh database for
 * the store (tw_pg_dsn) with amcheck, which tw_assert_store_intact uses.
 * Nothing on SQLite. 0 or -1.
 */
TW_FN int tw_backend_db(void)
{
    PGconn *c;
    PGresult *r;
    bool ok;

    if (!tw_pg)
        return 0;
    if (sgt_pg_createdb(tw_pg, tw_pg_dsn, sizeof(tw_pg_dsn)) != 0)
        return -1;
    c = PQconnectdb(tw_pg_dsn);
    r = PQexec(c, "CREATE EXTENSION IF NOT EXISTS amcheck");
    ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
        print_error("amcheck: %s", PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
    return ok ? 0 : -1;
}

/*
 * The store is structurally sound: PRAGMA integrity_check on SQLite; on
 * PostgreSQL amcheck's bt_index_parent_check on every B-tree index of the
 * store's schema, which raises an error (sql_int fails the test) on the
 * first index whose structure or heap disagree. The count keeps an empty
 * schema from passing.
 */
TW_FN void tw_assert_store_intact(void)
{
    if (!tw_pg_dsn[0]) {
        assert_int_equal(sql_int("SELECT count(*) FROM pragma_integrity_check "
                                 "WHERE integrity_check = 'ok'"),
                         1);
        return;
    }
    assert_true(sql_int("SELECT count(bt_index_parent_check(c.oid, true)) "
                        "FROM pg_index i JOIN pg_class c ON c.oid = "
                        "i.indexrelid JOIN pg_am a ON a.oid = c.relam "
                        "WHERE a.amname = 'btree' AND c.relnamespace = "
                        "current_schema()::regnamespace") >= 10);
}

/*
 * Start the sandbox (the given seed, audits at once) with sbx_json as its config
 * file, and learn its app credentials, first shop and first sales
 * warehouse. Also names the world's files under a fresh temporary
 * directory. 0 or -1.
 */
TW_FN int tw_sandbox_start(const char *seed, const char *sbx_json)
{
    char *argv[] = {ARG(sgt_surge_bin()), ARG("sandbox"), ARG("--listen"),
                    ARG("127.0.0.1:0"), ARG("--seed"), ARG(seed),
                    ARG("--audit-delay-ms"), ARG("0"), ARG("--config"),
                    NULL, NULL};
    json_t *info, *whs, *w;
    size_t i;

    W.dir = sgt_tmpdir();
    W.conf = sgt_path(W.dir, "surge.conf");
    W.db = sgt_path(W.dir, "surge.db");
    W.log = sgt_path(W.dir, "serve.log");
    W.sbx_log = sgt_path(W.dir, "sandbox.log");
    W.sbx_conf = sgt_path(W.dir, "sandbox.json");
    if (sgt_write_file(W.sbx_conf, sbx_json))
        return -1;
    argv[9] = W.sbx_conf;
    if (sgt_spawn(&W.sbx, argv, W.sbx_log) != 0)
        return -1;
    info = ctl("GET", "/sandbox/v1/info", NULL, NULL);
    if (!info)
        return -1;
    snprintf(W.app_key, sizeof(W.app_key), "%s", sg_json_str(info, "app_key"));
    snprintf(W.app_secret, sizeof(W.app_secret), "%s",
             sg_json_str(info, "app_secret"));
    w = json_array_get(json_object_get(info, "shops"), 0);
    snprintf(W.shop_id, sizeof(W.shop_id), "%s", sg_json_str(w, "id"));
    snprintf(W.cipher, sizeof(W.cipher), "%s", sg_json_str(w, "cipher"));
    json_decref(info);
    whs = ctl("GET", "/sandbox/v1/state/warehouses", NULL, NULL);
    json_array_foreach(json_object_get(whs, "warehouses"), i, w) {
        const char *type = sg_json_str(w, "type");

        if (!W.warehouse[0] && (!type || strcmp(type, "SALES_WAREHOUSE") == 0))
            snprintf(W.warehouse, sizeof(W.warehouse), "%s",
                     sg_json_str(w, "id"));
    }
    json_decref(whs);
    return W.warehouse[0] ? 0 : -1;
}

/*
 * Write Surge's config (the store, private URLs allowed, TikTok Shop
 * pointed at the sandbox, a key file, then the test's own sections in
 * extra), run `surge init`, create tenant "default" and an API key for
 * it. listen is the server address ("127.0.0.1:0" for any port).
 */
TW_FN int tw_engine_init(const char *listen, const char *extra)
{
    char conf[4096], store[800], *out = NULL;
    int n;

    if (tw_pg_dsn[0])
        snprintf(store, sizeof(store), "backend = postgres\ndsn = %s",
                 tw_pg_dsn);
    else
        snprintf(store, sizeof(store), "path = %s", W.db);
    n = snprintf(conf, sizeof(conf),
                 "[server]\nlisten = %s\n\n"
                 "[store]\n%s\n\n"
                 "[security]\nallow_private_urls = true\n\n"
                 "[tiktok_shop]\napp_key = %s\napp_secret = %s\n"
                 "service_id = svc-test\napi_base_url = %s\n"
                 "auth_base_url = %s\nauthorize_url = %s/open/authorize\n\n"
                 "[secrets]\nkey_file = %s/surge.key\n\n%s",
                 listen, store, W.app_key, W.app_secret, W.sbx.url,
                 W.sbx.url, W.sbx.url, W.dir, extra ? extra : "");
    if (n < 0 || (size_t)n >= sizeof(conf) || sgt_write_file(W.conf, conf))
        return -1;
    chmod(W.conf, 0600);
    if (surge(&out, "init", NULL, NULL, NULL, NULL) != 0)
        return -1;
    sg_free(out);
    out = NULL;
    if (surge(NULL, "tenant", "create", "default", NULL, NULL) != 0 ||
        surge(&out, "apikey", "create", "--tenant", "default", NULL) != 0) {
        sg_free(out);
        return -1;
    }
    snprintf(W.api_key, sizeof(W.api_key), "%.*s",
             (int)strcspn(out, "\r\n"), out);
    sg_free(out);
    return 0;
}

/*
 * With surge serve running: `surge connect tiktok-shop --sandbox`, the
 * sandbox's webhooks aimed at this server, and the seller's access token
 * kept for signed calls.
 */
TW_FN int tw_connect(void)
{
    char wh[300], *out = NULL;
    json_t *info;

    snprintf(wh, sizeof(wh), "%s/webhooks/tiktok-shop", W.srv.url);
    setenv("SURGE_TIKTOK_SHOP_WEBHOOK_URL", wh, 1);
    if (surge(&out, "connect", "tiktok-shop", "--sandbox", W.sbx.url,
              NULL) != 0) {
        sg_free(out);
        return -1;
    }
    unsetenv("SURGE_TIKTOK_SHOP_WEBHOOK_URL");
    sg_free(out);
    info = ctl("GET", "/sandbox/v1/info", NULL, NULL);
    if (!info)
        return -1;
    snprintf(W.token, sizeof(W.token), "%s",
             sg_json_str(info, "access_token"));
    json_decref(info);
    return 0;
}

/* Stop surge serve (if running) with sig. */
TW_FN void tw_stop_serve(int sig)
{
    if (W.srv.pid > 0)
        sgt_stop(&W.srv, sig);
    W.srv.pid = 0;
}

#endif
