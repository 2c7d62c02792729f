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
 * check` is clean after each (R6); an idle engine's TikTok worker sleeps
 * (sg_orders_worker_ticks_total); a backlog's detail batches commit
 * several at a time ([orders] fetch_depth). Every wait is bounded.
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
    bool sbx_real_clock; /* sign with the wall clock (tts_world.h) */
};

static struct world W;

#include "tts_world.h"
/* ---- processes ---- */

static int spawn_serve(const char *poll, const char *policy)
{
    char *argv[5] = {ARG(sgt_surge_bin()), ARG("serve"), ARG("--config"),
                     W.conf, NULL};

    setenv("SURGE_ORDERS_POLL_INTERVAL", poll, 1);
    setenv("SURGE_ORDERS_OVERSOLD_POLICY", policy, 1);
    return sgt_spawn(&W.srv, argv, W.log);
}

static int setup(void **state)
{
    SG_UNUSED(state);
    if (tw_backend_db() != 0)
        return -1;
    /* W1 in miniature: a third of the events twice, a third late. */
    if (tw_sandbox_start("23", "{\"webhook_dup_pct\":30,"
                         "\"webhook_reorder_pct\":30,"
                         "\"webhook_reorder_ms\":300}") != 0 ||
        tw_engine_init("127.0.0.1:0", NULL) != 0)
        return -1;
    /* The poll is off (a day) unless a scenario turns it on. */
    if (spawn_serve("24h", "notify") != 0)
        return -1;
    return tw_connect();
}

static int teardown(void **state)
{
    SG_UNUSED(state);
    tw_stop_serve(SIGTERM);
    sgt_stop(&W.sbx, SIGTERM);
    return 0;
}

static void restart_serve(const char *poll, const char *policy, int sig)
{
    tw_stop_serve(sig);
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

/* The seller cancels TikTok order cid through Surge's API (202). */
static void seller_cancel(const char *cid)
{
    char sql[160], path[80];
    long st = 0;
    json_t *r;

    snprintf(sql, sizeof(sql),
             "SELECT id FROM orders WHERE channel_order_id = '%s'", cid);
    snprintf(path, sizeof(path), "/api/v1/orders/%" PRId64 "/cancel",
             sql_int(sql));
    r = http_json("POST", W.srv.url, path,
                  "{\"reason\":\"seller_out_of_stock\"}", true, &st);
    assert_int_equal(st, 202);
    json_decref(r);
}

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
                             "to_status, count(*) AS c FROM order_events GROUP "
                             "BY 1, 2 HAVING count(*) > 1) AS d"),
                     0);
    /* An order webhook is queued at intake: by the time its 200 comes
     * back its inbox row is already processed (no later processor pass). */
    {
        char body[400], sig[65], hdr[100], url[300], sql[200];
        const char *h[] = {hdr, "Content-Type: application/json", NULL};
        struct sgt_resp r;

        snprintf(body, sizeof(body),
                 "{\"type\":1,\"tts_notification_id\":\"intake-1\","
                 "\"shop_id\":\"%s\",\"timestamp\":1700000000,\"data\":"
                 "{\"order_id\":\"%s\",\"order_status\":"
                 "\"AWAITING_SHIPMENT\",\"update_time\":1}}",
                 W.shop_id, o1);
        assert_int_equal(sg_tts_webhook_sign(sig, W.app_key, W.app_secret,
                                             body, strlen(body)),
                         0);
        snprintf(hdr, sizeof(hdr), "Authorization: %s", sig);
        snprintf(url, sizeof(url), "%s/webhooks/tiktok-shop", W.srv.url);
        assert_int_equal(sgt_http(&r, "POST", url, h, body, strlen(body)),
                         0);
        assert_int_equal(r.status, 200);
        sgt_resp_free(&r);
        snprintf(sql, sizeof(sql), "SELECT count(*) FROM inbox WHERE "
                 "external_id = 'intake-1' AND processed_at IS NOT NULL");
        assert_int_equal(sql_int(sql), 1);
    }
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
/* The engine's value of the /metrics series name. */
/* A metric's value from /metrics (it must be there, and not negative). */
static double engine_metric_f(const char *name)
{
    char url[300], hdr[200], key[80];
    const char *h[] = {hdr, NULL};
    struct sgt_resp r;
    const char *p;
    double v = -1;

    snprintf(url, sizeof(url), "%s/metrics", W.srv.url);
    snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s", W.api_key);
    snprintf(key, sizeof(key), "\n%s ", name);
    assert_int_equal(sgt_http(&r, "GET", url, h, NULL, 0), 0);
    assert_int_equal(r.status, 200);
    p = r.body ? strstr(r.body, key) : NULL;
    if (p)
        v = strtod(p + strlen(key), NULL);
    sgt_resp_free(&r);
    assert_true(v >= 0);
    return v;
}

static long engine_metric(const char *name)
{
    return (long)engine_metric_f(name);
}

static long worker_ticks(void)
{
    return engine_metric("sg_orders_worker_ticks_total");
}

/*
 * With nothing to do (policy notify, the orders above applied) the
 * TikTok worker sleeps: a planned look for due cancellations, which only
 * the cancel policy makes, once kept it passing over the queue thousands
 * of times a second. Two seconds idle allow a handful of passes.
 */
static void worker_sleeps_when_idle(void **state)
{
    struct timespec ts = {2, 0};
    long before;

    SG_UNUSED(state);
    before = worker_ticks();
    nanosleep(&ts, NULL);
    assert_in_range(worker_ticks() - before, 0, 50);
}

static void traffic_dup_reorder_converges(void **state)
{
    long st = 0;
    json_t *j;
    int i;

    SG_UNUSED(state);
    /*
     * Stock for every order the run can place (25 orders x 2 lines x 2
     * units). With a SKU selling out, a buyer cancellation whose webhook
     * is held back lets the channel resell the restored unit before Surge
     * has released it, and that order is flagged oversold: a false alarm
     * this design still raises (docs/orders.md, "Stock increases and the
     * channel's lag"); last_units_never_oversold covers the last units.
     */
    product("MUG-B", 120, 120, SKU_B);
    {
        long code = 0;
        json_t *r = http_json("POST", W.srv.url,
                              "/api/v1/inventory/MUG-A/adjust",
                              "{\"delta\":100,\"reason\":\"receipt\"}",
                              true, &code);

        assert_int_equal(code, 200);
        json_decref(r);
    }
    {
        /* The sandbox's MUG-A is not Surge's listing: set it by hand. */
        json_t *skus = ctl("GET", "/sandbox/v1/state/skus", NULL, NULL), *k;
        char path[200], body[300];
        size_t n;

        path[0] = '\0';
        json_array_foreach(json_object_get(skus, "skus"), n, k)
            if (strcmp(sg_json_str(k, "id"), SKU_A) == 0)
                snprintf(path, sizeof(path),
                         "/product/202309/products/%s/inventory/update",
                         sg_json_str(k, "product_id"));
        json_decref(skus);
        assert_true(path[0] != '\0');
        snprintf(body, sizeof(body),
                 "{\"skus\":[{\"id\":\"%s\",\"inventory\":[{"
                 "\"warehouse_id\":\"%s\",\"quantity\":%" PRId64 "}]}]}",
                 SKU_A, W.warehouse, available("MUG-A"));
        json_decref(tts("POST", path, body));
    }
    assert_stock_agrees("MUG-A", SKU_A);
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
                             "to_status, count(*) AS c FROM order_events GROUP "
                             "BY 1, 2 HAVING count(*) > 1) AS d"),
                     0);
    /* Surge and the sandbox agree on what is left to sell. */
    assert_stock_agrees("MUG-A", SKU_A);
    assert_stock_agrees("MUG-B", SKU_B);
    assert_int_equal(sql_int("SELECT count(*) FROM orders WHERE oversold != 0"),
                     0);
    assert_inventory_clean();
}

/* W2: a flipped bit or a truncated body is refused and stores nothing. */
static void bad_signatures_rejected(void **state)
{
    char body[300], sig[65], hdr[100], url[300];
    const char *h[] = {hdr, "Content-Type: application/json", NULL};
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
    /* By its own id: the scenario before may still be delivering late
     * duplicates, which the inbox rightly stores. */
    assert_int_equal(sql_int("SELECT count(*) FROM inbox WHERE "
                             "external_id = 'w2-1'"),
                     0);
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
                 tw_pg_dsn[0]
                     ? "SELECT least(count(*), 1) FROM inbox WHERE "
                       "convert_from(body, 'UTF8')::json #>> "
                       "'{data,order_id}' = '%s'"
                     : "SELECT min(count(*), 1) FROM inbox WHERE "
                       "json_extract(body, '$.data.order_id') = '%s'",
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
    tw_assert_store_intact();
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
    assert_int_equal(sql_int("SELECT count(*) FROM orders WHERE oversold != 0"),
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

    /*
     * Stock comes back to o1, which is short of two units: a receipt of
     * one is not enough (whole orders only); then the seller cancels o2
     * and its released unit completes o1 in the cancellation's write.
     */
    {
        long st = 0;
        json_t *r = http_json("POST", W.srv.url,
                              "/api/v1/inventory/MUG-D/adjust",
                              "{\"delta\":1,\"reason\":\"receipt\"}", true,
                              &st);

        assert_int_equal(st, 200);
        json_decref(r);
        assert_int_equal(available("MUG-D"), 1);
        assert_int_equal(sql_int("SELECT count(*) FROM orders WHERE "
                                 "oversold != 0"),
                         1);
        seller_cancel(o2);
    }
    wait_count("SELECT count(*) FROM orders WHERE oversold_action = "
               "'covered'",
               1);
    wait_converged();
    assert_int_equal(surge_level("MUG-D", "reserved"), 2);
    assert_int_equal(available("MUG-D"), 0);
    j = engine("/api/v1/orders?oversold=true");
    assert_int_equal(json_array_size(json_object_get(j, "orders")), 0);
    json_decref(j);
    assert_int_equal(sql_int("SELECT count(*) FROM orders WHERE "
                             "oversold_action = 'covered' AND oversold = 0"),
                     1);
    assert_int_equal(sql_int("SELECT count(*) FROM audit_log WHERE action = "
                             "'order.oversold' AND outcome = 'covered'"),
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
    tw_stop_serve(SIGTERM);
    /* R3, the other way: two lines of one SKU that fit reserve both. */
    assert_int_equal(order(cart, sku_f, 1, sku_f, 1), 201);
    assert_int_equal(order(e1, sku_e, 1, NULL, 0), 201);
    assert_int_equal(order(e2, sku_e, 1, NULL, 0), 201); /* Surge has 1 */
    /* A grace of 1 s that runs out: the oversold one is cancelled. */
    setenv("SURGE_ORDERS_OVERSOLD_GRACE", "1s", 1);
    restart_serve("1s", "cancel", SIGTERM);
    wait_count("SELECT count(*) FROM orders WHERE oversold_action = "
               "'cancel_requested'",
               1);
    wait_converged();
    /* One of the two E orders got the unit; the other was cancelled. */
    assert_int_equal(sql_int("SELECT count(*) FROM orders o WHERE oversold != 0 "
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
    assert_stock_agrees("MUG-A", SKU_A);
    assert_stock_agrees("MUG-B", SKU_B);
    assert_int_equal(available("MUG-E"), 0);
    assert_int_equal(sbx_stock(sku_e), 3); /* the cancel restocked it */
    assert_inventory_clean();
}

/*
 * The cancel policy waits oversold_grace before it cancels: an order
 * flagged while a cancellation of the same SKU is still on its way is
 * covered by that cancellation's release and is never cancelled. (The
 * scenario before shows a grace running out: its order is cancelled.)
 */
static void cancel_waits_for_the_grace(void **state)
{
    char sku_g[32], a[32], b[32], sql[200], st[32];
    const char *g1, *g2;
    struct timespec t0, t1;

    SG_UNUSED(state);
    setenv("SURGE_ORDERS_OVERSOLD_GRACE", "10s", 1);
    restart_serve("24h", "cancel", SIGTERM);
    product("MUG-G", 5, 1, sku_g);
    /* Two buyers before Surge's count reaches the channel: one is short. */
    assert_int_equal(order(a, sku_g, 1, NULL, 0), 201);
    assert_int_equal(order(b, sku_g, 1, NULL, 0), 201);
    wait_count("SELECT count(*) FROM orders o JOIN order_lines l ON "
               "l.order_id = o.id WHERE l.sku = 'MUG-G' AND "
               "o.oversold_action = 'cancel_pending'",
               1);
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM orders WHERE "
             "channel_order_id = '%s' AND oversold != 0", a);
    g1 = sql_int(sql) ? b : a; /* holds the unit */
    g2 = g1 == a ? b : a;      /* waits for its grace */
    clock_gettime(CLOCK_MONOTONIC, &t0);
    /* The seller cancels g1: its unit comes back and goes to g2. */
    seller_cancel(g1);
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM orders WHERE "
             "channel_order_id = '%s' AND oversold = 0 AND "
             "oversold_action = 'covered'", g2);
    wait_count(sql, 1);
    /* If this took the whole grace, the check below proves nothing. */
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (t1.tv_sec - t0.tv_sec >= 9)
        fail_msg("the cover took %lds of a 10s grace: machine too slow "
                 "for this scenario", (long)(t1.tv_sec - t0.tv_sec));
    /* Let the grace run out (bounded: 12 s), then nothing was cancelled. */
    while (t1.tv_sec - t0.tv_sec < 12) {
        nap();
        clock_gettime(CLOCK_MONOTONIC, &t1);
    }
    wait_converged();
    assert_string_equal(sbx_status(g2, st), "AWAITING_SHIPMENT");
    assert_int_equal(sql_int(sql), 1);
    assert_int_equal(surge_level("MUG-G", "reserved"), 1);
    assert_int_equal(available("MUG-G"), 0);
    assert_inventory_clean();
}

/*
 * A pending cancellation is in the store, not in memory: an engine killed
 * during the grace cancels the order when it starts again.
 */
static void pending_cancel_survives_restart(void **state)
{
    char sku_h[32], a[32], b[32];

    SG_UNUSED(state);
    /* cancel_waits_for_the_grace left the engine with a 10 s grace. */
    product("MUG-H", 5, 1, sku_h);
    assert_int_equal(order(a, sku_h, 1, NULL, 0), 201);
    assert_int_equal(order(b, sku_h, 1, NULL, 0), 201);
    wait_count("SELECT count(*) FROM orders o JOIN order_lines l ON "
               "l.order_id = o.id WHERE l.sku = 'MUG-H' AND "
               "o.oversold_action = 'cancel_pending'",
               1);
    setenv("SURGE_ORDERS_OVERSOLD_GRACE", "1s", 1);
    restart_serve("24h", "cancel", SIGKILL);
    wait_count("SELECT count(*) FROM orders o JOIN order_lines l ON "
               "l.order_id = o.id WHERE l.sku = 'MUG-H' AND "
               "o.oversold_action = 'cancel_requested'",
               1);
    wait_count("SELECT count(*) FROM orders o JOIN order_lines l ON "
               "l.order_id = o.id WHERE l.sku = 'MUG-H' AND "
               "o.status = 'CANCELLED'",
               1);
    wait_converged();
    assert_int_equal(surge_level("MUG-H", "reserved"), 1);
    assert_inventory_clean();
}

/*
 * A backlog goes through several detail batches in flight at once: 160
 * orders placed while the engine is down reach it together (the poll at
 * start queues them all, the webhooks come back as retries), so the
 * worker reads four batches of at most 50 in one pass. With [orders]
 * fetch_depth 3, two or three writes wait for the store at once, never
 * more, and every order lands once, reserved, with the inventory clean.
 */
static void backlog_batches_in_flight(void **state)
{
    char sku_l[32], id[32];

    SG_UNUSED(state);
    product("MUG-L", 500, 500, sku_l);
    tw_stop_serve(SIGTERM);
    for (int i = 0; i < 160; i++)
        assert_int_equal(order(id, sku_l, 1, NULL, 0), 201);
    setenv("SURGE_ORDERS_FETCH_DEPTH", "3", 1);
    restart_serve("1s", "notify", SIGTERM);
    unsetenv("SURGE_ORDERS_FETCH_DEPTH");
    wait_converged();
    assert_int_equal(surge_level("MUG-L", "reserved"), 160);
    assert_int_equal(available("MUG-L"), 340);
    assert_stock_agrees("MUG-L", sku_l);
    assert_in_range(engine_metric("sg_orders_fetch_inflight_max"), 2, 3);
    assert_inventory_clean();
}

/*
 * The fetch queue's backlog in /metrics: while the order detail call
 * stalls (the sandbox holds the first one for 5 s), the accepted
 * webhooks' order ids wait in the queue and the gauges say how many and
 * for how long; once the orders are applied both are back at zero. The
 * reconciliation poll queues ids of its own (orders changed since its
 * cursor), so "empty" is waited for, bounded, rather than assumed.
 */
static void wait_backlog_empty(void)
{
    long n = -1;

    for (int i = 0; i < WAIT_MAX && n != 0; i++) {
        n = engine_metric("sg_orders_fetch_backlog");
        if (n != 0)
            nap();
    }
    assert_int_equal(n, 0);
    assert_true(engine_metric_f("sg_orders_fetch_oldest_seconds") == 0);
}

static void backlog_shows_in_metrics(void **state)
{
    char sku_m[32], id[32];
    double oldest = 0;
    long seen = 0, st = 0;
    json_t *j;

    SG_UNUSED(state);
    product("MUG-M", 20, 20, sku_m);
    wait_converged();
    wait_backlog_empty();
    j = ctl("POST", "/sandbox/v1/faults",
            "{\"faults\":[{\"path\":\"/order/202309/orders\","
            "\"kind\":\"stall\",\"stall_ms\":5000,\"count\":1}]}",
            &st);
    assert_int_equal(st, 200);
    json_decref(j);
    for (int i = 0; i < 3; i++)
        assert_int_equal(order(id, sku_m, 1, NULL, 0), 201);
    /* Bounded: 200 looks 10 ms apart, well inside the stall. */
    for (int i = 0; i < 200 && seen == 0; i++) {
        struct timespec ts = {0, 10 * 1000 * 1000};

        seen = engine_metric("sg_orders_fetch_backlog");
        if (seen == 0)
            nanosleep(&ts, NULL);
    }
    assert_true(seen >= 1);
    {
        struct timespec ts = {0, 50 * 1000 * 1000};

        nanosleep(&ts, NULL);
    }
    oldest = engine_metric_f("sg_orders_fetch_oldest_seconds");
    assert_true(oldest > 0);
    j = ctl("DELETE", "/sandbox/v1/faults", NULL, &st);
    json_decref(j);
    wait_converged();
    assert_int_equal(surge_level("MUG-M", "reserved"), 3);
    wait_backlog_empty();
    assert_inventory_clean();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(orders_arrive_and_reserve),
        cmocka_unit_test(worker_sleeps_when_idle),
        cmocka_unit_test(traffic_dup_reorder_converges),
        cmocka_unit_test(bad_signatures_rejected),
        cmocka_unit_test(kill9_after_ack_loses_nothing),
        cmocka_unit_test(last_units_never_oversold),
        cmocka_unit_test(oversold_flagged_and_r3),
        cmocka_unit_test(dropped_webhooks_recovered_by_poll),
        cmocka_unit_test(cancel_waits_for_the_grace),
        cmocka_unit_test(pending_cancel_survives_restart),
        cmocka_unit_test(backlog_batches_in_flight),
        cmocka_unit_test(backlog_shows_in_metrics),
    };

    TW_RUN_GROUP(tests, setup, teardown);
}
