/*
 * test_engine_sync_batch.c - how live sync batches changes, end to end (a
 * surge sandbox and surge serve on loopback, connected with surge connect
 * --sandbox): a storm of price and stock changes inside the sync window
 * becomes one prices/update and one inventory/update per product carrying
 * the latest values, while a product driven to zero stock goes first, on
 * its own, with no wait; and a storm that outlasts the window (more
 * products changed again per second than the rate limit allows) is held
 * until it passes, then pushed once per product and endpoint. Every
 * assertion counts calls; no wait is asserted on, and every wait is
 * bounded.
 */
#include "testlib.h"
#include "connectors/tiktok_shop/sign.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/json.h"

#include <signal.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <time.h>

#define ARG(s) ((char *)(uintptr_t)(s))
#define WAIT_MAX 600 /* x 50 ms */

#define PRICES_EP "POST /product/202309/products/{product_id}/prices/update"
#define STOCK_EP  "POST /product/202309/products/{product_id}/inventory/update"

struct world {
    char *dir, *conf, *db, *log, *sbx_log, *sbx_conf;
    char api_key[128];
    char app_key[64], app_secret[128];
    char shop_id[64], cipher[128], token[512], warehouse[32];
    struct sgt_proc sbx, srv;
    bool sbx_real_clock;
};

static struct world W;

#include "tts_world.h"

/* ---- helpers ---- */

static void spawn_serve(const char *window, const char *hold)
{
    char *argv[5] = {ARG(sgt_surge_bin()), ARG("serve"), ARG("--config"),
                     W.conf, NULL};

    setenv("SURGE_TIKTOK_SHOP_SYNC_WINDOW", window, 1);
    setenv("SURGE_TIKTOK_SHOP_STORM_HOLD", hold, 1);
    assert_int_equal(sgt_spawn(&W.srv, argv, W.log), 0);
    unsetenv("SURGE_TIKTOK_SHOP_SYNC_WINDOW");
    unsetenv("SURGE_TIKTOK_SHOP_STORM_HOLD");
}

static void api(const char *method, const char *path, const char *body)
{
    long st = 0;
    json_t *j = http_json(method, W.srv.url, path, body, true, &st);

    if (st / 100 != 2)
        fail_msg("%s %s: %ld", method, path, st);
    json_decref(j);
}

static void create_product(const char *prefix)
{
    char body[2048];

    snprintf(body, sizeof(body),
             "{\"handle\":\"h-%s\",\"title\":\"Pan %s\",\"body_html\":"
             "\"<p>Pan</p>\",\"category\":\"Cookware\",\"status\":\"active\","
             "\"currency\":\"USD\",\"options\":[\"Size\"],"
             "\"package\":{\"length_mm\":300,\"width_mm\":200,"
             "\"height_mm\":80},\"attributes\":{\"Material\":\"Steel\"},"
             "\"images\":[{\"src\":\"https://cdn.example/a.jpg\"}],"
             "\"variants\":["
             "{\"sku\":\"%s-S\",\"options\":[\"S\"],\"price\":\"10.00\","
             "\"grams\":500,\"inventory_quantity\":5},"
             "{\"sku\":\"%s-M\",\"options\":[\"M\"],\"price\":\"11.00\","
             "\"grams\":500,\"inventory_quantity\":6},"
             "{\"sku\":\"%s-L\",\"options\":[\"L\"],\"price\":\"12.00\","
             "\"grams\":500,\"inventory_quantity\":7}]}",
             prefix, prefix, prefix, prefix, prefix);
    api("POST", "/api/v1/products", body);
}

/* Successful calls the sandbox has answered on endpoint ep. */
static int64_t calls(const char *ep)
{
    json_t *j = ctl("GET", "/sandbox/v1/calls", NULL, NULL);
    int64_t n = sg_json_int(json_object_get(json_object_get(j, "counts"), ep),
                            "0", 0);

    json_decref(j);
    return n;
}

/*
 * The sandbox's copy of seller SKU sku: its id, price text and stock
 * (each out may be NULL).
 */
static bool sbx_sku(const char *sku, char id[32], char price[32],
                    int64_t *stock)
{
    json_t *j = ctl("GET", "/sandbox/v1/state/skus", NULL, NULL), *s;
    bool found = false;
    size_t i;

    json_array_foreach(json_object_get(j, "skus"), i, s) {
        if (strcmp(sg_json_str(s, "seller_sku"), sku) != 0)
            continue;
        if (id)
            snprintf(id, 32, "%s", sg_json_str(s, "id"));
        if (price)
            snprintf(price, 32, "%s",
                     sg_json_str(json_object_get(s, "price"), "amount"));
        if (stock)
            *stock = sg_json_int(s, "stock", -1);
        found = true;
    }
    json_decref(j);
    return found;
}

static bool sbx_has(const char *sku, const char *price, int64_t stock)
{
    char p[32];
    int64_t q = -1;

    return sbx_sku(sku, NULL, p, &q) && (!price || strcmp(p, price) == 0) &&
           (stock < 0 || q == stock);
}

static void wait_sbx(const char *sku, const char *price, int64_t stock)
{
    char p[32] = "";
    int64_t q = -1;

    for (int i = 0; i < WAIT_MAX; i++) {
        if (sbx_has(sku, price, stock))
            return;
        nap();
    }
    sbx_sku(sku, NULL, p, &q);
    fail_msg("%s on TikTok is %s / %" PRId64 ", want %s / %" PRId64, sku, p,
             q, price ? price : "-", stock);
}

static void sync_wait(void)
{
    assert_int_equal(surge(NULL, "sync", "--wait", "--timeout", "60", NULL),
                     0);
}

static bool log_has(const char *what)
{
    char *text = sgt_read_file(W.log, NULL);
    bool has = text && strstr(text, what);

    sg_free(text);
    return has;
}

/* ---- world ---- */

static int setup(void **state)
{
    char extra[1024];

    SG_UNUSED(state);
    if (tw_sandbox_start("31", "{}") != 0)
        return -1;
    /* 4 calls per second per endpoint: a storm is more than 4 products
     * changed again within a second. No periodic drift check: the calls
     * counted are the sync's own. */
    snprintf(extra, sizeof(extra),
             "[log]\nlevel = info\n\n"
             "[jobs]\nbackoff_base_ms = 50\nbackoff_max_ms = 500\n"
             "rate_per_sec = 4\nburst = 4\nrequest_timeout_ms = 2s\n\n"
             "[catalog]\ncategory_rules = %s/samples/tiktok-categories.json\n"
             "category_map = %s/samples/category-map.txt\n\n"
             "[tiktok_shop]\ndrift_check_interval = 0\n",
             SG_SOURCE_DIR, SG_SOURCE_DIR);
    if (tw_engine_init("127.0.0.1:0", extra) != 0)
        return -1;
    spawn_serve("1h", "0");
    return tw_connect();
}

static int teardown(void **state)
{
    SG_UNUSED(state);
    tw_stop_serve(SIGTERM);
    sgt_stop(&W.sbx, SIGTERM);
    return 0;
}

/* ---- tests ---- */

/*
 * The window is an hour here, so nothing goes by itself: ten price and
 * ten stock changes to each of two products make no call at all, while a
 * third product driven to zero afterwards is pushed at once (inventory
 * only, its price did not change). surge sync then closes the window:
 * exactly one call per product and endpoint, with the last values.
 */
static void window_coalesces_and_zero_goes_first(void **state)
{
    char path[96], body[160];
    int64_t price0, stock0;

    SG_UNUSED(state);
    create_product("WA");
    create_product("WB");
    create_product("WC");
    sync_wait();
    wait_sbx("WC-M", "11.00", 6);
    price0 = calls(PRICES_EP);
    stock0 = calls(STOCK_EP);

    for (int i = 0; i < 10; i++) {
        snprintf(body, sizeof(body),
                 "{\"items\":[{\"sku\":\"WA-S\",\"price\":\"20.%02d\"}]}", i);
        api("PUT", "/api/v1/prices", body);
        snprintf(body, sizeof(body),
                 "{\"items\":[{\"sku\":\"WB-M\",\"price\":\"30.%02d\"}]}", i);
        api("PUT", "/api/v1/prices", body);
        snprintf(body, sizeof(body),
                 "{\"on_hand\":%d,\"reason\":\"storm\"}", 10 + i);
        api("PUT", "/api/v1/inventory/WA-L", body);
        snprintf(body, sizeof(body),
                 "{\"on_hand\":%d,\"reason\":\"storm\"}", 20 + i);
        api("PUT", "/api/v1/inventory/WB-S", body);
    }
    snprintf(path, sizeof(path), "/api/v1/inventory/WC-M");
    api("PUT", path, "{\"on_hand\":0,\"reason\":\"sold out\"}");

    wait_sbx("WC-M", NULL, 0);
    assert_int_equal(calls(STOCK_EP) - stock0, 1);
    assert_int_equal(calls(PRICES_EP) - price0, 0);
    assert_true(sbx_has("WA-S", "10.00", 5));
    assert_true(sbx_has("WB-S", "10.00", 5));

    sync_wait();
    assert_true(sbx_has("WA-S", "20.09", -1));
    assert_true(sbx_has("WA-L", NULL, 19));
    assert_true(sbx_has("WB-M", "30.09", -1));
    assert_true(sbx_has("WB-S", NULL, 29));
    assert_true(sbx_has("WC-M", "11.00", 0));
    assert_int_equal(calls(STOCK_EP) - stock0, 3);
    assert_int_equal(calls(PRICES_EP) - price0, 2);
}

/*
 * A storm longer than the window (2 s): every 100 ms for 5 s, eight
 * products get a new price and a new stock level in two bulk requests.
 * More products change again within a second than the 4/s limit can
 * carry, so the pushes are held until a second passes without such
 * changes, then each product goes out once per endpoint with its final
 * values.
 */
static void storm_is_held_then_pushed_once(void **state)
{
    struct sg_buf prices, stock;
    char sku[16];
    int64_t price0, stock0;
    const int products = 8, rounds = 50;

    SG_UNUSED(state);
    tw_stop_serve(SIGTERM);
    spawn_serve("2s", "1h");
    for (int k = 0; k < products; k++) {
        snprintf(sku, sizeof(sku), "ST%d", k);
        create_product(sku);
    }
    sync_wait();
    wait_sbx("ST7-L", "12.00", 7);
    price0 = calls(PRICES_EP);
    stock0 = calls(STOCK_EP);

    for (int r = 0; r < rounds; r++) {
        sg_buf_init(&prices, 8192);
        sg_buf_init(&stock, 8192);
        sg_buf_printf(&prices, "{\"items\":[");
        sg_buf_printf(&stock, "{\"items\":[");
        for (int k = 0; k < products; k++) {
            sg_buf_printf(&prices, "%s{\"sku\":\"ST%d-S\",\"price\":"
                          "\"40.%02d\"}", k ? "," : "", k, r);
            sg_buf_printf(&stock, "%s{\"sku\":\"ST%d-L\",\"on_hand\":%d,"
                          "\"reason\":\"storm\"}", k ? "," : "", k, 100 + r);
        }
        assert_int_equal(sg_buf_printf(&prices, "]}"), 0);
        assert_int_equal(sg_buf_printf(&stock, "]}"), 0);
        api("PUT", "/api/v1/prices", prices.data);
        api("PUT", "/api/v1/inventory", stock.data);
        sg_buf_release(&prices);
        sg_buf_release(&stock);
        nap();
        nap();
    }
    for (int k = 0; k < products; k++) {
        snprintf(sku, sizeof(sku), "ST%d-S", k);
        wait_sbx(sku, "40.49", -1);
        snprintf(sku, sizeof(sku), "ST%d-L", k);
        wait_sbx(sku, NULL, 100 + rounds - 1);
    }
    wait_count("SELECT COUNT(*) FROM jobs WHERE kind = 'catalog.sync' "
               "AND state IN (0, 1)", 0);
    assert_int_equal(calls(PRICES_EP) - price0, products);
    assert_int_equal(calls(STOCK_EP) - stock0, products);
    assert_true(log_has("storm: holding pushes"));
    assert_true(log_has("storm over: releasing pushes"));
}

/*
 * [tiktok_shop] stock_buffer = 2: TikTok is offered two units fewer than
 * Surge has available, never fewer than none, and a drift check finds
 * nothing to repair in that difference.
 */
static void stock_buffer_is_held_back(void **state)
{
    char *out = NULL;

    SG_UNUSED(state);
    tw_stop_serve(SIGTERM);
    setenv("SURGE_TIKTOK_SHOP_STOCK_BUFFER", "2", 1);
    spawn_serve("0", "0");
    unsetenv("SURGE_TIKTOK_SHOP_STOCK_BUFFER");
    create_product("BF");
    sync_wait();
    wait_sbx("BF-S", "10.00", 3);
    wait_sbx("BF-M", "11.00", 4);
    wait_sbx("BF-L", "12.00", 5);

    api("PUT", "/api/v1/inventory/BF-M",
        "{\"on_hand\":1,\"reason\":\"count\"}");
    wait_sbx("BF-M", NULL, 0);
    api("PUT", "/api/v1/inventory/BF-M",
        "{\"on_hand\":9,\"reason\":\"count\"}");
    wait_sbx("BF-M", NULL, 7);

    assert_int_equal(surge(&out, "sync", "--check", "--timeout", "60", NULL),
                     0);
    if (!strstr(out, "drift: 0 products differed"))
        fail_msg("sync --check with a buffer: %s", out);
    sg_free(out);
    assert_true(sbx_has("BF-M", "11.00", 7));
}

/* Restart surge serve (window 0) and send the sandbox's webhooks to it. */
static void serve_again(void)
{
    char body[300];
    long st = 0;

    tw_stop_serve(SIGTERM);
    spawn_serve("0", "0");
    snprintf(body, sizeof(body), "{\"address\":\"%s/webhooks/tiktok-shop\"}",
             W.srv.url);
    json_decref(ctl("PUT", "/sandbox/v1/webhook_address", body, &st));
    assert_int_equal(st, 200);
}

/* A buyer orders one unit of the sandbox SKU id (once it is on sale). */
static void buy_one(const char *id)
{
    for (int i = 0; i < WAIT_MAX; i++) {
        if (order(NULL, id, 1, NULL, 0) == 201)
            return;
        nap();
    }
    fail_msg("the sandbox never sold %s", id);
}

/*
 * The channel sells units whose orders Surge has not ingested yet; then a
 * receipt makes Surge push the SKU's quantity (TikTok sets it absolutely).
 * Surge reads the product back first and holds back the two units it has
 * not seen, so they are not listed again; when the two orders arrive the
 * hold is used up and nothing more is pushed.
 */
static void unseen_sales_held_back(void **state)
{
    char id[32], *out = NULL;

    SG_UNUSED(state);
    serve_again();
    create_product("UN");
    sync_wait();
    wait_sbx("UN-M", "11.00", 6);
    assert_true(sbx_sku("UN-M", id, NULL, NULL));
    /* One buyer Surge hears about: the channel is selling the SKU. */
    buy_one(id);
    wait_count("SELECT count(*) FROM order_lines WHERE sku = 'UN-M' AND "
               "inv = 'reserved'",
               1);
    /*
     * Two buyers while Surge is down: their webhooks wait for the
     * sandbox's first retry (2 min on its clock), and the order search
     * fails, so the reconciliation poll cannot find them either.
     */
    tw_stop_serve(SIGTERM);
    buy_one(id);
    buy_one(id);
    wait_sbx("UN-M", NULL, 3);
    json_decref(ctl("POST", "/sandbox/v1/faults",
                    "{\"faults\":[{\"path\":\"/order/202309/orders/search\","
                    "\"kind\":\"500\"}]}",
                    NULL));
    serve_again();
    /* A receipt of 5: Surge counts 6 - 1 + 5 = 10; the channel has sold
     * two more, so 8 is what may be listed. */
    api("POST", "/api/v1/inventory/UN-M/adjust",
        "{\"delta\":5,\"reason\":\"receipt\"}");
    sync_wait();
    wait_sbx("UN-M", NULL, 8);
    assert_int_equal(available("UN-M"), 10);
    assert_int_equal(sql_int("SELECT count(*) FROM listing_sync WHERE "
                             "state LIKE '%\"unseen\":{\"UN-M\"%'"),
                     1);
    /*
     * The two orders arrive (the reconciliation poll a restart runs finds
     * them; their webhooks still go to the old address); Surge's count
     * meets the channel's.
     */
    json_decref(ctl("DELETE", "/sandbox/v1/faults", NULL, NULL));
    serve_again();
    wait_count("SELECT count(*) FROM order_lines WHERE sku = 'UN-M' AND "
               "inv = 'reserved'",
               3);
    sync_wait();
    assert_int_equal(available("UN-M"), 8);
    assert_true(sbx_has("UN-M", "11.00", 8));
    assert_int_equal(surge(&out, "sync", "--check", "--timeout", "60", NULL),
                     0);
    if (!strstr(out, "drift: 0 products differed"))
        fail_msg("sync --check after the unseen orders: %s", out);
    sg_free(out);
    assert_inventory_clean();
}

/*
 * The channel sells a SKU out and Surge ingests every sale (it pushes
 * nothing for the channel's own sales, so the last figure the channel
 * acknowledged stays at 7); then a restock of 3. The read-back before
 * the push finds 0 and every sale accounted for: 3 must be listed (it
 * was once recorded as min(wanted, acknowledged) = 3 and never pushed).
 */
static void restock_after_sellout_is_pushed(void **state)
{
    char id[32];

    SG_UNUSED(state);
    create_product("RS");
    sync_wait();
    wait_sbx("RS-L", "12.00", 7);
    assert_true(sbx_sku("RS-L", id, NULL, NULL));
    for (int i = 0; i < 7; i++)
        buy_one(id);
    wait_count("SELECT count(*) FROM order_lines WHERE sku = 'RS-L' AND "
               "inv = 'reserved'",
               7);
    wait_sbx("RS-L", NULL, 0);
    assert_int_equal(available("RS-L"), 0);
    api("POST", "/api/v1/inventory/RS-L/adjust",
        "{\"delta\":3,\"reason\":\"receipt\"}");
    sync_wait();
    wait_sbx("RS-L", NULL, 3);
    assert_int_equal(available("RS-L"), 3);
    assert_inventory_clean();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(window_coalesces_and_zero_goes_first),
        cmocka_unit_test(storm_is_held_then_pushed_once),
        cmocka_unit_test(stock_buffer_is_held_back),
        cmocka_unit_test(unseen_sales_held_back),
        cmocka_unit_test(restock_after_sellout_is_pushed),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
