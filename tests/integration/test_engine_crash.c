/*
 * test_engine_crash.c - D1: SIGKILL `surge serve` at random moments under
 * mixed load against a real `surge sandbox`, and check after every
 * restart and at the end that nothing acknowledged was lost.
 *
 * Load, all at once: the sandbox's traffic generator places orders (and
 * buyer cancellations) whose webhooks reach Surge, duplicated and
 * reordered; a thread posts signed webhooks directly; a thread writes
 * through the admin API (new products that Surge publishes to the
 * sandbox, stock counts on draft products, shipments of waiting
 * orders). Every SG_CRASH_MIN_MS..SG_CRASH_MAX_MS (seeded, the seed is
 * printed; SG_CRASH_SEED replays a run) the main thread brings on the
 * next fault in turn: the engine killed and started again on the same
 * port; the sandbox killed and started again on its port from its state
 * file (TikTok going away and coming back, with everything it answered
 * kept: state_save_ms 0; its order traffic is started again;
 * SG_CRASH_SBX_FAULTS=0 leaves it out).
 * Checked: every write answered 2xx is still there (products via the
 * API, stock counts never behind the last acknowledged one, webhooks as
 * inbox rows, including every delivery the sandbox logged as 2xx,
 * shipments); no oversold order and Surge's stock equals the sandbox's;
 * no product created twice on the sandbox and no order line in two
 * sandbox packages (each shipped shipment has one package with its
 * tracking number); `surge inventory check` exits 0 and PRAGMA
 * integrity_check says ok.
 *
 * The default run is short (SG_CRASH_SECONDS, 20 s, kills every
 * 0.7-2.5 s); SG_CRASH_LONG=1 (the torture-labelled
 * test_engine_crash_soak, run by `make soak`) uses the real 2-10 s
 * intervals for SG_CRASH_LONG_SECONDS (300 s). Every wait is bounded.
 *
 * SG_TW_BACKEND=postgres (test_engine_crash_pg) runs the same scenario
 * with Surge's store on a throwaway PostgreSQL server
 * (tests/lib/pgserver.h); the store's integrity is then checked with
 * amcheck (every B-tree index of the store against its table) in place of
 * PRAGMA integrity_check. There two more faults join the turns
 * (SG_CRASH_PG_FAULTS=0 leaves them out): all of the engine's PostgreSQL
 * sessions ended (pg_terminate_backend: a failover as the engine sees
 * it); the server itself crashed (pg_ctl stop -m immediate) and started
 * again, replaying its WAL. In every fault but the engine's kill the
 * engine stays up and carries on by itself, and the same checks follow.
 */
#include "testlib.h"
#include "connectors/tiktok_shop/sign.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/json.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define ARG(s) ((char *)(uintptr_t)(s))
#define WAIT_MAX 600 /* x 50 ms */

struct world {
    char *dir, *conf, *db, *log, *sbx_log, *sbx_conf;
    char api_key[128];
    char app_key[64], app_secret[128];
    char shop_id[64], cipher[128], token[512], warehouse[32];
    struct sgt_proc sbx, srv;
    bool sbx_real_clock;
    int port;
};

static struct world W;

#include "tts_world.h"

#define DRAFTS      4
#define PRODUCTS    4
#define ACKED_MAX   4096
#define BASE_ORDERS 3

/* What the load threads sent and what was acknowledged. */
static struct {
    pthread_mutex_t lock;
    /* Products created through the API: id (0 = not acknowledged). */
    int64_t prod_id[ACKED_MAX];
    int prod_n[ACKED_MAX]; /* the N of "Crash N" */
    size_t prods, prods_tried;
    /* Stock counts on the draft SKUs: the last acknowledged value. */
    int64_t draft_acked[DRAFTS];
    int64_t draft_max[DRAFTS]; /* the highest value ever sent */
    /* Shipments acknowledged: the TikTok order ids (tracking TRK-<id>). */
    char ship[ACKED_MAX][32];
    size_t ships;
    /* Direct webhooks acknowledged: their notification numbers. */
    int wh[ACKED_MAX];
    size_t whs, whs_tried;
    unsigned long refused; /* answers that were not 2xx or no answer */
} L = {.lock = PTHREAD_MUTEX_INITIALIZER};

#define SBX_SEED "71"

static atomic_bool load_stop;
static char *sbx_dir; /* the sandbox's state file lives here */
static char base_orders[BASE_ORDERS][32];
static char sku_ids[PRODUCTS][32];

/* ---- the seeded schedule ---- */

static uint64_t rng_state;

static uint64_t rnd(void)
{
    /* xorshift64*: the kill schedule replays from the printed seed. */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ULL;
}

static long env_long(const char *name, long dflt)
{
    const char *v = getenv(name);
    char *end;
    long n;

    if (!v || !*v)
        return dflt;
    n = strtol(v, &end, 10);
    return *end || n < 0 ? dflt : n;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

/* ---- processes ---- */

static int free_port(void)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

/* Start surge serve on W.port; a few tries while the old socket goes. */
static int spawn_serve(void)
{
    char *argv[5] = {ARG(sgt_surge_bin()), ARG("serve"), ARG("--config"),
                     W.conf, NULL};

    for (int i = 0; i < 20; i++) {
        if (sgt_spawn(&W.srv, argv, W.log) == 0)
            return 0;
        sleep_ms(250);
    }
    return -1;
}

/*
 * Kill the sandbox (SIGKILL) and start it again on the same port from its
 * state file, then start its order traffic again (the generator is not
 * part of the saved world). 0 or -1.
 */
static int restart_sandbox(const char *traffic)
{
    const char *port = strrchr(W.sbx.url, ':');
    char listen[32];
    char *argv[] = {ARG(sgt_surge_bin()), ARG("sandbox"), ARG("--listen"),
                    listen, ARG("--seed"), ARG(SBX_SEED),
                    ARG("--audit-delay-ms"), ARG("0"), ARG("--config"),
                    W.sbx_conf, NULL};
    long st = 0;
    json_t *j;
    int i;

    if (!port)
        return -1;
    snprintf(listen, sizeof(listen), "127.0.0.1:%s", port + 1);
    sgt_stop(&W.sbx, SIGKILL);
    /* A few tries while the old listening socket goes. */
    for (i = 0; i < 20 && sgt_spawn(&W.sbx, argv, W.sbx_log) != 0; i++)
        sleep_ms(250);
    if (i == 20)
        return -1;
    j = ctl("POST", "/sandbox/v1/traffic", traffic, &st);
    json_decref(j);
    return st >= 200 && st < 300 ? 0 : -1;
}

static int setup(void **state)
{
    char listen[32], extra[1024], sbx_json[1024];

    SG_UNUSED(state);
    if (tw_backend_db() != 0)
        return -1;
    /* Webhooks duplicated and late, and retried quickly while the
     * engine is down (TikTok's real schedule is minutes apart). */
    /* The sandbox keeps its world in a file, written before it answers
     * any change, so it can be killed and started again (TikTok going
     * away and coming back) without forgetting what it said it did. */
    sbx_dir = sgt_tmpdir();
    if (!sbx_dir)
        return -1;
    snprintf(sbx_json, sizeof(sbx_json),
             "{\"webhook_dup_pct\":20,\"webhook_reorder_pct\":20,"
             "\"webhook_reorder_ms\":300,\"webhook_timeout_ms\":"
             "2000,\"webhook_retry_ms\":\"300,600,1000,2000,"
             "4000,8000\",\"state_path\":\"%s/sandbox-state.json\","
             "\"state_save_ms\":0}",
             sbx_dir);
    if (tw_sandbox_start(SBX_SEED, sbx_json) != 0)
        return -1;
    W.port = free_port();
    if (W.port <= 0)
        return -1;
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", W.port);
    snprintf(extra, sizeof(extra),
             /* A job claimed by a killed engine comes back when its lease
              * runs out: 5 s (live leases are renewed by the heartbeat),
              * not the default minute, which outlasts the checks' wait. */
             "[jobs]\nbackoff_base_ms = 50\nbackoff_max_ms = 1000\n"
             "request_timeout_ms = 2s\nlease_ms = 5s\n\n"
             "[catalog]\ncategory_rules = %s/samples/tiktok-categories.json\n"
             "category_map = %s/samples/category-map.txt\n",
             SG_SOURCE_DIR, SG_SOURCE_DIR);
    if (tw_engine_init(listen, extra) != 0)
        return -1;
    /* The reconciliation poll finds orders whose webhooks the sandbox
     * gave up on while the engine was down. */
    setenv("SURGE_ORDERS_POLL_INTERVAL", "1s", 1);
    setenv("SURGE_ORDERS_OVERSOLD_POLICY", "notify", 1);
    if (spawn_serve() != 0)
        return -1;
    return tw_connect();
}

static int teardown(void **state)
{
    SG_UNUSED(state);
    tw_stop_serve(SIGTERM);
    sgt_stop(&W.sbx, SIGTERM);
    sg_free(sbx_dir);
    return 0;
}

/* ---- load threads (no cmocka asserts here: counters only) ---- */

static long api_call(const char *method, const char *path, const char *body,
                     json_t **out)
{
    char url[300], hdr[200];
    const char *h[] = {"Content-Type: application/json", hdr, NULL};
    struct sgt_resp r;
    long st;

    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", W.port, path);
    snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s", W.api_key);
    if (out)
        *out = NULL;
    if (sgt_http(&r, method, url, h, body, body ? strlen(body) : 0) != 0) {
        sgt_resp_free(&r);
        return 0;
    }
    st = r.status;
    if (out && r.body)
        *out = json_loads(r.body, 0, NULL);
    sgt_resp_free(&r);
    return st;
}

static void *admin_load(void *arg)
{
    int64_t v = 1;

    SG_UNUSED(arg);
    for (int i = 0; i < 100000 && !atomic_load(&load_stop); i++) {
        char body[1500], path[64];
        json_t *j = NULL;
        long st;

        if (i % 4 == 3) {
            char oid[32] = "";

            /* Ship the oldest order waiting for it (the same order and
             * tracking number again answers the stored shipment). */
            st = api_call("GET", "/api/v1/orders?status=AWAITING_SHIPMENT"
                                 "&limit=1",
                          NULL, &j);
            if (st == 200)
                snprintf(oid, sizeof(oid), "%s",
                         sg_json_str(json_array_get(json_object_get(j,
                                                                    "orders"),
                                                    0),
                                     "channel_order_id")
                             ? sg_json_str(json_array_get(
                                               json_object_get(j, "orders"),
                                               0),
                                           "channel_order_id")
                             : "");
            json_decref(j);
            j = NULL;
            if (oid[0]) {
                snprintf(body, sizeof(body),
                         "{\"channel_order_id\":\"%s\",\"carrier\":"
                         "\"USPS\",\"tracking_number\":\"TRK-%s\"}",
                         oid, oid);
                st = api_call("POST", "/api/v1/shipments", body, &j);
                pthread_mutex_lock(&L.lock);
                if (st == 201 && L.ships < ACKED_MAX)
                    snprintf(L.ship[L.ships++], sizeof(L.ship[0]), "%s",
                             oid);
                else if (st != 201 && st != 409)
                    L.refused++;
                pthread_mutex_unlock(&L.lock);
            }
        } else if (i % 4 == 0) {
            size_t slot;

            pthread_mutex_lock(&L.lock);
            slot = L.prods_tried < ACKED_MAX ? L.prods_tried++ : ACKED_MAX;
            pthread_mutex_unlock(&L.lock);
            if (slot == ACKED_MAX)
                continue;
            snprintf(body, sizeof(body),
                     "{\"handle\":\"crash-%zu\",\"title\":\"Crash %zu\","
                     "\"body_html\":\"<p>pan</p>\",\"category\":"
                     "\"Cookware\",\"status\":\"active\",\"currency\":"
                     "\"USD\",\"package\":{\"length_mm\":300,\"width_mm\":"
                     "200,\"height_mm\":80},\"attributes\":{\"Material\":"
                     "\"Steel\"},\"images\":[{\"src\":"
                     "\"https://cdn.example/a.jpg\"}],\"variants\":[{"
                     "\"sku\":\"CR%zu\",\"price\":\"9.00\",\"grams\":400,"
                     "\"inventory_quantity\":20}]}",
                     slot, slot, slot);
            st = api_call("POST", "/api/v1/products", body, &j);
            pthread_mutex_lock(&L.lock);
            L.prod_n[slot] = (int)slot;
            if (st == 201) {
                L.prod_id[slot] = sg_json_int(j, "id", 0);
                L.prods++;
            } else {
                L.refused++;
            }
            pthread_mutex_unlock(&L.lock);
        } else {
            int k = i % DRAFTS;

            v++;
            pthread_mutex_lock(&L.lock);
            L.draft_max[k] = v;
            pthread_mutex_unlock(&L.lock);
            snprintf(path, sizeof(path), "/api/v1/inventory/DRAFT-%d", k);
            snprintf(body, sizeof(body),
                     "{\"on_hand\":%" PRId64 ",\"reason\":\"recount\"}", v);
            st = api_call("PUT", path, body, &j);
            pthread_mutex_lock(&L.lock);
            if (st >= 200 && st < 300)
                L.draft_acked[k] = v;
            else
                L.refused++;
            pthread_mutex_unlock(&L.lock);
        }
        json_decref(j);
        sleep_ms(st ? 40 : 100);
    }
    return NULL;
}

static void *webhook_load(void *arg)
{
    SG_UNUSED(arg);
    for (int i = 0; i < ACKED_MAX && !atomic_load(&load_stop); i++) {
        char body[600], sig[65], auth[100], url[200];
        const char *h[] = {"Content-Type: application/json", auth, NULL};
        struct sgt_resp r;
        int n;

        n = snprintf(body, sizeof(body),
                     "{\"type\":1,\"tts_notification_id\":\"crash-wh-%d\","
                     "\"shop_id\":\"%s\",\"timestamp\":%" PRId64 ","
                     "\"data\":{\"order_id\":\"%s\",\"order_status\":"
                     "\"AWAITING_SHIPMENT\",\"update_time\":%" PRId64 ","
                     "\"is_on_hold_order\":false}}",
                     i, W.shop_id, (int64_t)time(NULL),
                     base_orders[i % BASE_ORDERS], (int64_t)time(NULL));
        sg_tts_webhook_sign(sig, W.app_key, W.app_secret, body, (size_t)n);
        snprintf(auth, sizeof(auth), "Authorization: %s", sig);
        snprintf(url, sizeof(url),
                 "http://127.0.0.1:%d/webhooks/tiktok-shop", W.port);
        pthread_mutex_lock(&L.lock);
        L.whs_tried++;
        pthread_mutex_unlock(&L.lock);
        if (sgt_http(&r, "POST", url, h, body, (size_t)n) == 0 &&
            r.status == 200) {
            pthread_mutex_lock(&L.lock);
            L.wh[L.whs++] = i;
            pthread_mutex_unlock(&L.lock);
        } else {
            pthread_mutex_lock(&L.lock);
            L.refused++;
            pthread_mutex_unlock(&L.lock);
        }
        sgt_resp_free(&r);
        sleep_ms(60);
    }
    return NULL;
}

/* ---- checks ---- */

/* Every acknowledged write so far is still there. */
static void check_acked(const char *when)
{
    size_t prods = 0, whs, ships;
    int64_t acked[DRAFTS];
    static int64_t ids[ACKED_MAX];
    static int wh[ACKED_MAX];
    static char ship[ACKED_MAX][32];

    pthread_mutex_lock(&L.lock);
    for (size_t i = 0; i < L.prods_tried; i++)
        if (L.prod_id[i] > 0)
            ids[prods++] = L.prod_id[i];
    whs = L.whs;
    memcpy(wh, L.wh, whs * sizeof(wh[0]));
    memcpy(acked, L.draft_acked, sizeof(acked));
    ships = L.ships;
    memcpy(ship, L.ship, ships * sizeof(ship[0]));
    pthread_mutex_unlock(&L.lock);

    for (size_t i = 0; i < ships; i++) {
        char sql[300];

        snprintf(sql, sizeof(sql),
                 "SELECT count(*) FROM shipments WHERE channel_order_id = "
                 "'%s' AND tracking_number = 'TRK-%s'",
                 ship[i], ship[i]);
        if (sql_int(sql) != 1)
            fail_msg("%s: acknowledged shipment of %s is not stored", when,
                     ship[i]);
    }

    for (size_t i = 0; i < prods; i++) {
        char path[64];
        long st = 0;
        json_t *j;

        snprintf(path, sizeof(path), "/api/v1/products/%" PRId64, ids[i]);
        j = http_json("GET", W.srv.url, path, NULL, true, &st);
        json_decref(j);
        if (st != 200)
            fail_msg("%s: acknowledged product %" PRId64 " answers %ld",
                     when, ids[i], st);
    }
    for (size_t i = 0; i < whs; i++) {
        char sql[200];

        snprintf(sql, sizeof(sql),
                 "SELECT count(*) FROM inbox WHERE source = 'tiktok_shop' "
                 "AND external_id = 'crash-wh-%d'",
                 wh[i]);
        if (sql_int(sql) != 1)
            fail_msg("%s: acknowledged webhook crash-wh-%d is not in the "
                     "inbox",
                     when, wh[i]);
    }
    for (int k = 0; k < DRAFTS; k++) {
        char path[64];
        long st = 0;
        json_t *j, *l;
        int64_t on_hand = -1;
        size_t i;

        /* Counts only grow, so a value behind the last acknowledged one
         * (read before the level) is a lost write. */
        snprintf(path, sizeof(path), "/api/v1/inventory/DRAFT-%d", k);
        j = http_json("GET", W.srv.url, path, NULL, true, &st);
        assert_int_equal(st, 200);
        json_array_foreach(json_object_get(j, "levels"), i, l)
            on_hand = sg_json_int(l, "on_hand", -1);
        json_decref(j);
        if (on_hand < acked[k])
            fail_msg("%s: DRAFT-%d has on_hand %" PRId64 ", acknowledged %"
                     PRId64,
                     when, k, on_hand, acked[k]);
    }
    tw_assert_store_intact();
    assert_inventory_clean();
}

/* The sandbox logged a 2xx for these deliveries: each is in the inbox. */
static size_t check_deliveries(void)
{
    json_t *j = ctl("GET", "/sandbox/v1/webhooks", NULL, NULL), *d;
    size_t i, n = 0;

    json_array_foreach(json_object_get(j, "deliveries"), i, d) {
        char sql[300];
        int64_t st = sg_json_int(d, "status", 0);

        if (strcmp(sg_json_str(d, "result"), "delivered") != 0 || st < 200 ||
            st > 299)
            continue;
        snprintf(sql, sizeof(sql),
                 "SELECT count(*) FROM inbox WHERE source = 'tiktok_shop' "
                 "AND external_id = '%s'",
                 sg_json_str(d, "tts_notification_id"));
        if (sql_int(sql) != 1)
            fail_msg("delivery %s answered %" PRId64 " but is not in the "
                     "inbox",
                     sg_json_str(d, "tts_notification_id"), st);
        n++;
    }
    json_decref(j);
    return n;
}

/* Count sandbox products titled title (not DELETED). */
static int sbx_titled(const json_t *products, const char *title)
{
    const json_t *p;
    size_t i;
    int n = 0;

    json_array_foreach(json_object_get(products, "products"), i, p) {
        const char *t = sg_json_str(p, "title");
        const char *s = sg_json_str(p, "status");

        n += t && strcmp(t, title) == 0 && (!s || strcmp(s, "DELETED") != 0);
    }
    return n;
}

/* No product created twice; every acknowledged one created once. */
static void check_published(void)
{
    size_t tried;
    int missing = -1;
    char title[64];

    pthread_mutex_lock(&L.lock);
    tried = L.prods_tried;
    pthread_mutex_unlock(&L.lock);
    for (int w = 0; w < WAIT_MAX && missing != 0; w++) {
        json_t *p = ctl("GET", "/sandbox/v1/state/products", NULL, NULL);

        missing = 0;
        for (size_t i = 0; i < tried; i++) {
            int n;

            snprintf(title, sizeof(title), "Crash %zu", i);
            n = sbx_titled(p, title);
            if (n > 1) {
                json_decref(p);
                fail_msg("%s was created %d times on the sandbox", title, n);
            }
            if (n == 0 && L.prod_id[i] > 0)
                missing++;
        }
        json_decref(p);
        if (missing)
            nap();
    }
    if (missing)
        fail_msg("%d acknowledged products never reached the sandbox",
                 missing);
}

/*
 * Every acknowledged shipment reached TikTok once: wait until none is
 * pending, then no order line sits in two sandbox packages, and each
 * shipment that Surge calls shipped has exactly one package with its
 * tracking number.
 */
static size_t check_shipped(void)
{
    json_t *pk, *p, *id;
    size_t i, k, shipped = 0;
    char trk[64];
    static char seen[ACKED_MAX * 4][40];
    size_t n_seen = 0;

    wait_count("SELECT count(*) FROM shipments WHERE status = 'pending'", 0);
    pk = ctl("GET", "/sandbox/v1/state/packages", NULL, NULL);
    json_array_foreach(json_object_get(pk, "packages"), i, p) {
        json_array_foreach(json_object_get(p, "order_line_item_ids"), k, id) {
            const char *line = json_string_value(id);

            if (!line)
                continue;
            for (size_t m = 0; m < n_seen; m++)
                if (strcmp(seen[m], line) == 0)
                    fail_msg("order line %s is in two packages", line);
            if (n_seen < SG_ARRAY_SIZE(seen))
                snprintf(seen[n_seen++], sizeof(seen[0]), "%s", line);
        }
    }
    pthread_mutex_lock(&L.lock);
    for (size_t s = 0; s < L.ships; s++) {
        char sql[300];
        int same = 0;

        snprintf(sql, sizeof(sql),
                 "SELECT count(*) FROM shipments WHERE channel_order_id = "
                 "'%s' AND status = 'shipped'",
                 L.ship[s]);
        if (sql_int(sql) != 1)
            continue;
        shipped++;
        snprintf(trk, sizeof(trk), "TRK-%s", L.ship[s]);
        json_array_foreach(json_object_get(pk, "packages"), i, p)
            same += sg_json_str(p, "tracking_number") &&
                    strcmp(sg_json_str(p, "tracking_number"), trk) == 0;
        if (same != 1)
            fail_msg("shipment %s: %d sandbox packages carry its tracking "
                     "number",
                     trk, same);
    }
    pthread_mutex_unlock(&L.lock);
    json_decref(pk);
    return shipped;
}

/* ---- the scenario ---- */

enum fault { FAULT_ENGINE, FAULT_SANDBOX, FAULT_PG_SESSIONS, FAULT_PG_CRASH };

static void kill_under_load(void **state)
{
    bool lng = env_long("SG_CRASH_LONG", 0) != 0;
    bool pg_faults = tw_pg_dsn[0] && env_long("SG_CRASH_PG_FAULTS", 1) != 0;
    bool sbx_faults = env_long("SG_CRASH_SBX_FAULTS", 1) != 0;
    enum fault turns[4] = {FAULT_ENGINE};
    size_t n_turns = 1, n_faults = 0;
    char traffic[400];
    long seconds = lng ? env_long("SG_CRASH_LONG_SECONDS", 300)
                       : env_long("SG_CRASH_SECONDS", 20);
    long lo = env_long("SG_CRASH_MIN_MS", lng ? 2000 : 700);
    long hi = env_long("SG_CRASH_MAX_MS", lng ? 10000 : 2500);
    uint64_t seed = (uint64_t)env_long("SG_CRASH_SEED", 20261125);
    pthread_t admin, hooks;
    char body[400];
    long st = 0;
    json_t *j;
    time_t end;
    int kills = 0, resets = 0, pg_crashes = 0, sbx_kills = 0;
    size_t deliveries, shipped;

    SG_UNUSED(state);
    if (hi < lo)
        hi = lo;
    rng_state = seed ? seed : 1;
    if (pg_faults) {
        turns[n_turns++] = FAULT_PG_SESSIONS;
        turns[n_turns++] = FAULT_PG_CRASH;
    }
    if (sbx_faults)
        turns[n_turns++] = FAULT_SANDBOX;
    print_message("D1: seed %" PRIu64 ", %ld s, kill every %ld..%ld ms\n",
                  seed, seconds, lo, hi);

    /* Stock on both sides for the traffic; drafts only in Surge. */
    for (int k = 0; k < PRODUCTS; k++) {
        char sku[16];

        snprintf(sku, sizeof(sku), "MUG-%d", k);
        product(sku, 60, 60, sku_ids[k]);
    }
    for (int k = 0; k < DRAFTS; k++) {
        snprintf(body, sizeof(body),
                 "{\"handle\":\"draft-%d\",\"title\":\"Draft %d\","
                 "\"status\":\"draft\",\"variants\":[{\"sku\":\"DRAFT-%d\","
                 "\"price\":\"1.00\",\"grams\":10,\"inventory_quantity\":1}]}",
                 k, k, k);
        j = http_json("POST", W.srv.url, "/api/v1/products", body, true, &st);
        assert_int_equal(st, 201);
        json_decref(j);
        L.draft_acked[k] = 1;
    }
    for (int k = 0; k < BASE_ORDERS; k++)
        assert_int_equal(order(base_orders[k], sku_ids[k], 1, NULL, 0), 201);
    wait_converged();

    snprintf(traffic, sizeof(traffic),
             "{\"pattern\":\"steady\",\"rate\":3,\"duration_s\":%ld,"
             "\"max_orders\":100000,\"units_max\":2,\"lines_max\":2,"
             "\"cancel_pct\":10}",
             seconds + 30);
    j = ctl("POST", "/sandbox/v1/traffic", traffic, &st);
    assert_true(st >= 200 && st < 300);
    json_decref(j);
    atomic_store(&load_stop, false);
    assert_int_equal(pthread_create(&admin, NULL, admin_load, NULL), 0);
    assert_int_equal(pthread_create(&hooks, NULL, webhook_load, NULL), 0);

    end = time(NULL) + seconds;
    while (time(NULL) < end) {
        long ms = lo + (long)(rnd() % (uint64_t)(hi - lo + 1));
        char when[64];

        sleep_ms(ms);
        assert_true(W.srv.pid > 0);
        /*
         * The faults take turns: the engine killed; the sandbox (TikTok)
         * killed and started again from its state file; on PostgreSQL
         * also the engine's sessions ended (a failover or an
         * administrator, as the engine sees it) and the server itself
         * crashed and started again (crash recovery from its WAL). In all
         * but the first the engine stays up and must carry on by itself.
         */
        switch (turns[n_faults++ % n_turns]) {
        case FAULT_SANDBOX:
            assert_int_equal(restart_sandbox(traffic), 0);
            sbx_kills++;
            snprintf(when, sizeof(when), "after sandbox kill %d (%ld ms)",
                     sbx_kills, ms);
            break;
        case FAULT_PG_SESSIONS:
            assert_true(sgt_pg_end_sessions(tw_pg_dsn, "surge %") >= 1);
            resets++;
            snprintf(when, sizeof(when), "after sessions ended %d (%ld ms)",
                     resets, ms);
            break;
        case FAULT_PG_CRASH:
            assert_int_equal(sgt_pg_crash_restart(tw_pg), 0);
            pg_crashes++;
            snprintf(when, sizeof(when), "after PostgreSQL crash %d (%ld ms)",
                     pg_crashes, ms);
            break;
        default:
            tw_stop_serve(SIGKILL);
            kills++;
            assert_int_equal(spawn_serve(), 0);
            snprintf(when, sizeof(when), "after kill %d (%ld ms)", kills, ms);
            break;
        }
        assert_int_equal(kill(W.srv.pid, 0), 0);
        check_acked(when);
    }

    atomic_store(&load_stop, true);
    pthread_join(admin, NULL);
    pthread_join(hooks, NULL);
    j = ctl("DELETE", "/sandbox/v1/traffic", NULL, &st);
    json_decref(j);

    /* Quiet now: everything converges and nothing was lost or doubled. */
    wait_converged();
    check_acked("at the end");
    check_published();
    deliveries = check_deliveries();
    shipped = check_shipped();
    assert_int_equal(sql_int("SELECT count(*) FROM orders WHERE oversold "
                             "!= 0"),
                     0);
    assert_int_equal(sql_int("SELECT count(*) FROM inventory_levels WHERE "
                             "on_hand - reserved - committed < 0"),
                     0);
    for (int k = 0; k < PRODUCTS; k++) {
        char sku[16];

        snprintf(sku, sizeof(sku), "MUG-%d", k);
        assert_stock_agrees(sku, sku_ids[k]);
    }
    print_message("D1: %d kills, %d sandbox kills, %d times the PostgreSQL "
                  "sessions ended, %d PostgreSQL crashes; "
                  "%zu products, %zu webhooks, %zu shipments "
                  "acknowledged (%zu/%zu products/webhooks tried), %lu "
                  "refused or unanswered, %zu sandbox deliveries checked, %"
                  PRId64 " orders, %zu shipped\n",
                  kills, sbx_kills, resets, pg_crashes, L.prods, L.whs,
                  L.ships,
                  L.prods_tried,
                  L.whs_tried,
                  L.refused, deliveries,
                  sql_int("SELECT count(*) FROM orders"), shipped);
    assert_true(kills >= 1);
    assert_true(!pg_faults || (resets >= 1 && pg_crashes >= 1));
    assert_true(!sbx_faults || sbx_kills >= 1);
    assert_true(L.prods > 0 && L.whs > 0 && L.ships > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(kill_under_load),
    };

    signal(SIGPIPE, SIG_IGN);
    TW_RUN_GROUP(tests, setup, teardown);
}
