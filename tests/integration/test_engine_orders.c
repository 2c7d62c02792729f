/*
 * test_engine_orders.c - TikTok Shop orders end to end against real
 * processes: a `surge sandbox` that duplicates and reorders its webhooks,
 * and a `surge serve` connected to it. Products exist on both sides with
 * the same stock (or less in Surge, to make the channel oversell). Orders
 * placed through the sandbox's control plane and traffic generator must
 * arrive once each, in update_time order, and reserve; badly signed
 * webhooks are refused (W2); a SIGKILL right after the acknowledgement
 * loses nothing (W5); buyers racing for the last units never oversell and
 * Surge and the sandbox agree on stock (R1/R2); a cart whose lines share
 * a SKU is all or nothing (R3); an order whose webhook never arrived is
 * found by the reconciliation poll; an oversold order is flagged, and
 * cancelled through the API under the cancel policy; `surge inventory
 * check` is clean after each (R6). Every wait is bounded.
 */
#include "testlib.h"
#include "connectors/tiktok_shop/sign.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/json.h"

#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define ARG(s) ((char *)(uintptr_t)(s))
#define WAIT_MAX 300 /* x 50 ms */

struct world {
    char *dir, *conf, *db, *log, *sbx_log, *sbx_conf;
    char api_key[128];
    char app_key[64], app_secret[128];
    char shop_id[64], cipher[128], token[512], warehouse[32];
    struct sgt_proc sbx, srv;
};

static struct world W;

static void nap(void)
{
    struct timespec ts = {0, 50 * 1000 * 1000};

    nanosleep(&ts, NULL);
}

/* ---- plumbing ---- */

static int surge(char **out, const char *a, const char *b, const char *c,
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

static json_t *http_json(const char *method, const char *base,
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

static json_t *ctl(const char *method, const char *path, const char *body,
                   long *status)
{
    return http_json(method, W.sbx.url, path, body, false, status);
}

static json_t *engine(const char *path)
{
    long st = 0;
    json_t *j = http_json("GET", W.srv.url, path, NULL, true, &st);

    assert_int_equal(st, 200);
    assert_non_null(j);
    return j;
}

static int64_t sql_int(const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int64_t v = -1;

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
static void wait_count(const char *sql, int64_t want)
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

static void url_encode(struct sg_buf *b, const char *s)
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
static json_t *tts(const char *method, const char *path, const char *body)
{
    struct sg_tts_param kv[3];
    char ts[32], sign[65], auth[600];
    const char *hdr[3];
    struct sg_buf url;
    struct sgt_resp r;
    json_t *env, *info, *data;

    info = ctl("GET", "/sandbox/v1/info", NULL, NULL);
    snprintf(ts, sizeof(ts), "%" PRId64, sg_json_int(info, "now", 0));
    json_decref(info);
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
static void product(const char *sku, int sbx_qty, int surge_qty,
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
static long order(char id_out[32], const char *sku_id, int qty,
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
static int64_t sbx_stock(const char *sku_id)
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

static int64_t surge_level(const char *sku, const char *col)
{
    char sql[200];

    snprintf(sql, sizeof(sql), "SELECT %s FROM inventory_levels WHERE sku "
             "= '%s'", col, sku);
    return sql_int(sql);
}

static int64_t available(const char *sku)
{
    return surge_level(sku, "on_hand - reserved - committed");
}

/* R6 after every scenario. */
static void assert_inventory_clean(void)
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
static void wait_converged(void)
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

/* ---- processes ---- */

static int spawn_serve(const char *poll, const char *policy)
{
    char *argv[5] = {ARG(sgt_surge_bin()), ARG("serve"), ARG("--config"),
                     W.conf, NULL};

    setenv("SURGE_ORDERS_POLL_INTERVAL", poll, 1);
    setenv("SURGE_ORDERS_OVERSOLD_POLICY", policy, 1);
    return sgt_spawn(&W.srv, argv, W.log);
}

static void stop_serve(int sig)
{
    if (W.srv.pid > 0)
        sgt_stop(&W.srv, sig);
    W.srv.pid = 0;
}

static int setup(void **state)
{
    char conf[2048], *out = NULL, wh[300];
    char *sbx_argv[] = {ARG(sgt_surge_bin()), ARG("sandbox"), ARG("--listen"),
                        ARG("127.0.0.1:0"), ARG("--seed"), ARG("23"),
                        ARG("--audit-delay-ms"), ARG("0"), ARG("--config"),
                        NULL, NULL};
    json_t *info, *whs, *w;
    size_t i;

    SG_UNUSED(state);
    W.dir = sgt_tmpdir();
    W.conf = sgt_path(W.dir, "surge.conf");
    W.db = sgt_path(W.dir, "surge.db");
    W.log = sgt_path(W.dir, "serve.log");
    W.sbx_log = sgt_path(W.dir, "sandbox.log");
    W.sbx_conf = sgt_path(W.dir, "sandbox.json");
    /* W1 in miniature: a third of the events twice, a third late. */
    if (sgt_write_file(W.sbx_conf, "{\"webhook_dup_pct\":30,"
                                   "\"webhook_reorder_pct\":30,"
                                   "\"webhook_reorder_ms\":300}"))
        return -1;
    sbx_argv[9] = W.sbx_conf;
    if (sgt_spawn(&W.sbx, sbx_argv, W.sbx_log) != 0)
        return -1;
    info = ctl("GET", "/sandbox/v1/info", NULL, NULL);
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
    if (surge(&out, "init", NULL, NULL, NULL, NULL) != 0)
        return -1;
    sg_free(out);
    if (surge(NULL, "tenant", "create", "default", NULL, NULL) != 0 ||
        surge(&out, "apikey", "create", "--tenant", "default", NULL) != 0)
        return -1;
    snprintf(W.api_key, sizeof(W.api_key), "%.*s",
             (int)strcspn(out, "\r\n"), out);
    sg_free(out);
    /* The poll is off (a day) unless a scenario turns it on. */
    if (spawn_serve("24h", "notify") != 0)
        return -1;
    snprintf(wh, sizeof(wh), "%s/webhooks/tiktok-shop", W.srv.url);
    setenv("SURGE_TIKTOK_SHOP_WEBHOOK_URL", wh, 1);
    if (surge(&out, "connect", "tiktok-shop", "--sandbox", W.sbx.url,
              NULL) != 0)
        return -1;
    unsetenv("SURGE_TIKTOK_SHOP_WEBHOOK_URL");
    sg_free(out);
    info = ctl("GET", "/sandbox/v1/info", NULL, NULL);
    snprintf(W.token, sizeof(W.token), "%s",
             sg_json_str(info, "access_token"));
    json_decref(info);
    return 0;
}

static int teardown(void **state)
{
    SG_UNUSED(state);
    stop_serve(SIGTERM);
    sgt_stop(&W.sbx, SIGTERM);
    return 0;
}

static void restart_serve(const char *poll, const char *policy, int sig)
{
    stop_serve(sig);
    /* The webhook address the sandbox has is the old port: point the
     * default address at the new one (subscriptions stay on the old). */
    assert_int_equal(spawn_serve(poll, policy), 0);
    {
        char body[300];
        long st = 0;
        json_t *j;

        snprintf(body, sizeof(body),
                 "{\"address\":\"%s/webhooks/tiktok-shop\"}", W.srv.url);
        j = ctl("PUT", "/sandbox/v1/webhook_address", body, &st);
        assert_int_equal(st, 200);
        json_decref(j);
    }
}

/* ---- scenarios ---- */

static char SKU_A[32], SKU_B[32], SKU_C[32];

static void orders_arrive_and_reserve(void **state)
{
    char o1[32], o2[32], o3[32], path[100], *out = NULL;
    json_t *j, *line;

    SG_UNUSED(state);
    product("MUG-A", 10, 10, SKU_A);
    assert_int_equal(order(o1, SKU_A, 1, NULL, 0), 201);
    assert_int_equal(order(o2, SKU_A, 2, NULL, 0), 201);
    assert_int_equal(order(o3, SKU_A, 1, NULL, 0), 201);
    wait_converged();
    assert_int_equal(surge_level("MUG-A", "reserved"), 4);
    assert_int_equal(available("MUG-A"), 6);
    assert_int_equal(sbx_stock(SKU_A), 6);
    /* They came by webhook (the poll is off) and each version once. */
    assert_int_equal(sql_int("SELECT count(*) FROM order_events WHERE "
                             "source NOT LIKE 'webhook:%'"),
                     0);
    assert_int_equal(sql_int("SELECT count(*) FROM (SELECT order_id, "
                             "to_status, count(*) c FROM order_events GROUP "
                             "BY 1, 2 HAVING c > 1)"),
                     0);
    /* The API: list with a filter, one order with its lines. */
    j = engine("/api/v1/orders?status=AWAITING_SHIPMENT&limit=2");
    assert_int_equal(json_array_size(json_object_get(j, "orders")), 2);
    assert_true(sg_json_int(j, "next_after", 0) > 0);
    json_decref(j);
    j = engine("/api/v1/orders?after=0&limit=200");
    assert_int_equal(json_array_size(json_object_get(j, "orders")), 3);
    json_decref(j);
    snprintf(path, sizeof(path), "/api/v1/orders/%" PRId64,
             sql_int("SELECT id FROM orders ORDER BY id LIMIT 1 OFFSET 1"));
    j = engine(path);
    assert_int_equal(json_array_size(json_object_get(j, "lines")), 2);
    line = json_array_get(json_object_get(j, "lines"), 0);
    assert_string_equal(sg_json_str(line, "sku"), "MUG-A");
    assert_string_equal(sg_json_str(line, "inventory"), "reserved");
    assert_string_equal(sg_json_str(line, "unit_price"), "12.50");
    assert_string_equal(sg_json_str(j, "total"), "30.99");
    json_decref(j);
    assert_int_equal(surge(&out, "orders", "list", NULL, NULL, NULL), 0);
    assert_non_null(strstr(out, o2));
    sg_free(out);
    assert_int_equal(surge(&out, "orders", "show", o2, NULL, NULL), 0);
    assert_non_null(strstr(out, "\"inventory\": \"reserved\""));
    sg_free(out);
    assert_int_equal(surge(&out, "inventory", "show", "MUG-A", NULL, NULL),
                     0);
    assert_non_null(strstr(out, "available=6 reserved=4"));
    sg_free(out);
    assert_inventory_clean();
}

/* W1 at small scale: the traffic generator with dup/reorder deliveries. */
static void traffic_dup_reorder_converges(void **state)
{
    long st = 0;
    json_t *j;
    int i;

    SG_UNUSED(state);
    product("MUG-B", 12, 12, SKU_B);
    j = ctl("POST", "/sandbox/v1/traffic",
            "{\"pattern\":\"steady\",\"rate\":40,\"duration_s\":3,"
            "\"max_orders\":25,\"units_max\":2,\"lines_max\":2,"
            "\"cancel_pct\":20}",
            &st);
    assert_int_equal(st, 200);
    json_decref(j);
    for (i = 0; i < WAIT_MAX; i++) {
        bool running;

        j = ctl("GET", "/sandbox/v1/traffic", NULL, NULL);
        running = json_is_true(json_object_get(j, "running"));
        json_decref(j);
        if (!running)
            break;
        nap();
    }
    assert_true(i < WAIT_MAX);
    wait_converged();
    /* Duplicates reached the engine and were stored once. */
    {
        json_t *log = ctl("GET", "/sandbox/v1/webhooks", NULL, NULL);
        json_t *seen = json_object(), *d;
        size_t k, ok = 0;

        json_array_foreach(json_object_get(log, "deliveries"), k, d) {
            if (sg_json_int(d, "status", 0) != 200)
                continue;
            ok++;
            json_object_set_new(seen, sg_json_str(d, "tts_notification_id"),
                                json_true());
        }
        assert_true(ok > json_object_size(seen));
        assert_true(sql_int("SELECT count(*) FROM inbox") >=
                    (int64_t)json_object_size(seen));
        json_decref(seen);
        json_decref(log);
    }
    assert_true(sql_int("SELECT count(*) FROM inbox") > 0);
    assert_int_equal(sql_int("SELECT count(*) FROM (SELECT order_id, "
                             "to_status, count(*) c FROM order_events GROUP "
                             "BY 1, 2 HAVING c > 1)"),
                     0);
    /* Surge and the sandbox agree on what is left to sell. */
    assert_int_equal(available("MUG-A"), sbx_stock(SKU_A));
    assert_int_equal(available("MUG-B"), sbx_stock(SKU_B));
    assert_int_equal(sql_int("SELECT count(*) FROM orders WHERE oversold"),
                     0);
    assert_inventory_clean();
}

/* W2: a flipped bit or a truncated body is refused and stores nothing. */
static void bad_signatures_rejected(void **state)
{
    char body[300], sig[65], hdr[100], url[300];
    const char *h[] = {hdr, "Content-Type: application/json", NULL};
    int64_t before = sql_int("SELECT count(*) FROM inbox");
    struct sgt_resp r;

    SG_UNUSED(state);
    snprintf(body, sizeof(body),
             "{\"type\":1,\"tts_notification_id\":\"w2-1\",\"shop_id\":"
             "\"%s\",\"timestamp\":1700000000,\"data\":{\"order_id\":"
             "\"77\",\"order_status\":\"AWAITING_SHIPMENT\"}}",
             W.shop_id);
    assert_int_equal(sg_tts_webhook_sign(sig, W.app_key, W.app_secret, body,
                                         strlen(body)),
                     0);
    snprintf(url, sizeof(url), "%s/webhooks/tiktok-shop", W.srv.url);
    for (int k = 0; k < 3; k++) {
        char b2[300];
        size_t len = strlen(body);

        memcpy(b2, body, len + 1);
        snprintf(hdr, sizeof(hdr), "Authorization: %s", sig);
        if (k == 0)
            hdr[20] = hdr[20] == 'a' ? 'b' : 'a'; /* signature bit */
        else if (k == 1)
            b2[30] ^= 1; /* body bit */
        else
            len -= 5; /* truncated */
        assert_int_equal(sgt_http(&r, "POST", url, h, b2, len), 0);
        assert_int_equal(r.status, 401);
        sgt_resp_free(&r);
    }
    assert_int_equal(sql_int("SELECT count(*) FROM inbox"), before);
    assert_int_equal(sql_int("SELECT count(*) FROM order_fetch WHERE "
                             "channel_order_id = '77'"),
                     0);
}

/*
 * W5: kill -9 the engine as soon as an order's webhook is in the inbox;
 * the poll is broken on purpose (every search answers 500), so only the
 * inbox can bring the order back after the restart.
 */
static void kill9_after_ack_loses_nothing(void **state)
{
    char ids[4][32], sql[300], sku_k[32];
    long st = 0;
    json_t *j;

    SG_UNUSED(state);
    product("MUG-K", 10, 10, sku_k);
    j = ctl("POST", "/sandbox/v1/faults",
            "{\"faults\":[{\"path\":\"/order/202309/orders/search\","
            "\"kind\":\"500\",\"rate\":1}]}",
            &st);
    assert_int_equal(st, 200);
    json_decref(j);
    for (int k = 0; k < 4; k++) {
        assert_int_equal(order(ids[k], sku_k, 1, NULL, 0), 201);
        snprintf(sql, sizeof(sql),
                 "SELECT count(*) > 0 FROM inbox WHERE json_extract(body, "
                 "'$.data.order_id') = '%s'",
                 ids[k]);
        wait_count(sql, 1);
        restart_serve("1s", "notify", SIGKILL);
    }
    for (int k = 0; k < 4; k++) {
        snprintf(sql, sizeof(sql),
                 "SELECT count(*) FROM order_lines l JOIN orders o ON o.id = "
                 "l.order_id WHERE o.channel_order_id = '%s' AND l.inv = "
                 "'reserved'",
                 ids[k]);
        wait_count(sql, 1);
    }
    /* The poll did run and was refused: the inbox alone recovered. */
    {
        json_t *calls = ctl("GET", "/sandbox/v1/calls", NULL, NULL), *v;
        const char *key;
        int64_t refused = 0;

        json_object_foreach(json_object_get(calls, "counts"), key, v)
            if (strstr(key, "orders/search"))
                refused += sg_json_int(v, "36009003", 0);
        json_decref(calls);
        assert_true(refused >= 1);
    }
    j = ctl("DELETE", "/sandbox/v1/faults", NULL, &st);
    json_decref(j);
    wait_converged();
    assert_int_equal(available("MUG-K"), 6);
    assert_int_equal(sbx_stock(sku_k), 6);
    assert_int_equal(sql_int("SELECT count(*) FROM pragma_integrity_check "
                             "WHERE integrity_check = 'ok'"),
                     1);
    assert_inventory_clean();
}

/* R1/R2: eight buyers at once for the last three units. */
struct buyer {
    long status;
};

static void *buyer_main(void *arg)
{
    struct buyer *b = arg;

    b->status = order(NULL, SKU_C, 1, NULL, 0);
    return NULL;
}

static void last_units_never_oversold(void **state)
{
    pthread_t t[8];
    struct buyer b[8];
    int ok = 0;

    SG_UNUSED(state);
    product("MUG-C", 3, 3, SKU_C);
    for (int i = 0; i < 8; i++)
        assert_int_equal(pthread_create(&t[i], NULL, buyer_main, &b[i]), 0);
    for (int i = 0; i < 8; i++) {
        pthread_join(t[i], NULL);
        ok += b[i].status == 201;
    }
    assert_int_equal(ok, 3);
    wait_converged();
    assert_int_equal(surge_level("MUG-C", "reserved"), 3);
    assert_int_equal(available("MUG-C"), 0);
    assert_int_equal(sbx_stock(SKU_C), 0);
    assert_int_equal(sql_int("SELECT count(*) FROM orders WHERE oversold"),
                     0);
    assert_inventory_clean();
}

/*
 * The channel sells what Surge no longer has (its stock was higher):
 * flagged, nothing reserved; R3: a cart with two units of one SKU where
 * one is left reserves neither.
 */
static void oversold_flagged_and_r3(void **state)
{
    char sku_d[32], o1[32], o2[32];
    json_t *j;

    SG_UNUSED(state);
    product("MUG-D", 5, 1, sku_d);
    assert_int_equal(order(o1, sku_d, 2, NULL, 0), 201); /* R3: 2 > 1 */
    assert_int_equal(order(o2, sku_d, 1, NULL, 0), 201); /* fits */
    wait_converged();
    assert_int_equal(surge_level("MUG-D", "reserved"), 1);
    j = engine("/api/v1/orders?oversold=true");
    assert_int_equal(json_array_size(json_object_get(j, "orders")), 1);
    assert_string_equal(sg_json_str(json_array_get(json_object_get(j,
                                                                   "orders"),
                                                   0),
                                    "channel_order_id"),
                        o1);
    assert_string_equal(sg_json_str(json_array_get(json_object_get(j,
                                                                   "orders"),
                                                   0),
                                    "oversold_action"),
                        "flagged");
    json_decref(j);
    assert_int_equal(sql_int("SELECT count(*) FROM audit_log WHERE action = "
                             "'order.oversold'"),
                     1);
    assert_inventory_clean();
}

/*
 * Receiver down: orders placed while the engine is stopped reach it only
 * through the reconciliation poll. With the cancel policy, an oversold one
 * is cancelled through the API.
 */
static void dropped_webhooks_recovered_by_poll(void **state)
{
    char sku_e[32], sku_f[32], cart[32], e1[32], e2[32], sql[300];

    SG_UNUSED(state);
    product("MUG-E", 4, 1, sku_e);
    product("MUG-F", 5, 5, sku_f);
    stop_serve(SIGTERM);
    /* R3, the other way: two lines of one SKU that fit reserve both. */
    assert_int_equal(order(cart, sku_f, 1, sku_f, 1), 201);
    assert_int_equal(order(e1, sku_e, 1, NULL, 0), 201);
    assert_int_equal(order(e2, sku_e, 1, NULL, 0), 201); /* Surge has 1 */
    restart_serve("1s", "cancel", SIGTERM);
    wait_count("SELECT count(*) FROM orders WHERE oversold_action = "
               "'cancel_requested'",
               1);
    wait_converged();
    /* One of the two E orders got the unit; the other was cancelled. */
    assert_int_equal(sql_int("SELECT count(*) FROM orders o WHERE oversold "
                             "AND status = 'CANCELLED' AND EXISTS (SELECT 1 "
                             "FROM order_lines l WHERE l.order_id = o.id AND "
                             "l.sku = 'MUG-E')"),
                     1);
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM order_lines l JOIN "
             "orders o ON o.id = l.order_id WHERE o.channel_order_id = '%s' "
             "AND l.inv = 'reserved'", cart);
    assert_int_equal(sql_int(sql), 2);
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM order_events e JOIN "
             "orders o ON o.id = e.order_id WHERE o.channel_order_id = '%s' "
             "AND e.source = 'poll'", cart);
    assert_true(sql_int(sql) >= 1);
    assert_int_equal(available("MUG-F"), 3);
    assert_int_equal(sbx_stock(sku_f), 3);
    assert_int_equal(available("MUG-A"), sbx_stock(SKU_A));
    assert_int_equal(available("MUG-B"), sbx_stock(SKU_B));
    assert_int_equal(available("MUG-E"), 0);
    assert_int_equal(sbx_stock(sku_e), 3); /* the cancel restocked it */
    assert_inventory_clean();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(orders_arrive_and_reserve),
        cmocka_unit_test(traffic_dup_reorder_converges),
        cmocka_unit_test(bad_signatures_rejected),
        cmocka_unit_test(kill9_after_ack_loses_nothing),
        cmocka_unit_test(last_units_never_oversold),
        cmocka_unit_test(oversold_flagged_and_r3),
        cmocka_unit_test(dropped_webhooks_recovered_by_poll),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
