/*
 * test_engine_publish.c - publishing the catalog to TikTok Shop end to
 * end: a real surge sandbox and surge serve on loopback, connected with
 * surge connect --sandbox. Valid products are created once with their
 * SKUs and ids recorded, go live after the audit (webhooks 37/5); an
 * audit failure is surfaced with the sandbox's reason; an invalid product
 * is not sent and says why; a create whose answer is lost is not
 * duplicated; a storm of price/stock changes converges to the latest
 * values with coalesced calls; surge sync --wait drains and exits 0 and
 * --check reports no drift; an expired access token is refreshed in the
 * middle of a publish; connection resets and stalls converge with no
 * duplicate listing; after deauthorization (webhook 6) nothing more is
 * sent for the shop.
 */
#include "testlib.h"
#include "core/alloc.h"
#include "core/json.h"

#include <signal.h>
#include <sys/stat.h>
#include <time.h>

#define ARG(s) ((char *)(uintptr_t)(s))
#define POLL_MAX 300 /* x 50 ms */

static struct {
    char *dir, *conf, *db, *log, *sbx_log, *map;
    char api_key[128];
    struct sgt_proc sbx, srv;
} W;

static void nap(void)
{
    struct timespec ts = {0, 50 * 1000 * 1000};

    nanosleep(&ts, NULL);
}

static int surge(char **out, const char *a, const char *b, const char *c,
                 const char *d)
{
    char *argv[10] = {ARG(sgt_surge_bin())};
    const char *words[] = {a, b, c, d};
    size_t n = 1;

    for (size_t i = 0; i < SG_ARRAY_SIZE(words) && words[i]; i++)
        argv[n++] = ARG(words[i]);
    argv[n++] = ARG("--config");
    argv[n++] = W.conf;
    argv[n] = NULL;
    return sgt_run(argv, NULL, out, NULL);
}

static long req(const char *method, const char *base, const char *path,
                const char *body, json_t **out)
{
    char url[512], hdr[200];
    const char *h[] = {hdr, "Content-Type: application/json", NULL};
    struct sgt_resp r;
    long st;

    snprintf(url, sizeof(url), "%s%s", base, path);
    snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s", W.api_key);
    assert_int_equal(sgt_http(&r, method, url, h, body,
                              body ? strlen(body) : 0),
                     0);
    st = r.status;
    if (out)
        *out = json_loads(r.body ? r.body : "", 0, NULL);
    sgt_resp_free(&r);
    return st;
}

static json_t *sbx_state(const char *coll)
{
    char path[128];
    json_t *j = NULL;

    snprintf(path, sizeof(path), "/sandbox/v1/state/%s", coll);
    assert_int_equal(req("GET", W.sbx.url, path, NULL, &j), 200);
    assert_non_null(j);
    return j;
}

/* Live (not DELETED) sandbox products. */
static size_t sbx_products(void)
{
    json_t *j = sbx_state("products"), *p;
    size_t i, n = 0;

    json_array_foreach(json_object_get(j, "products"), i, p) {
        const char *s = sg_json_str(p, "status");

        n += s && strcmp(s, "DELETED") != 0;
    }
    json_decref(j);
    return n;
}

static json_t *sbx_product_by_title(const char *title)
{
    json_t *j = sbx_state("products"), *p, *found = NULL;
    size_t i;

    json_array_foreach(json_object_get(j, "products"), i, p) {
        if (sg_json_str(p, "title") && strcmp(sg_json_str(p, "title"),
                                              title) == 0)
            found = json_incref(p);
    }
    json_decref(j);
    return found;
}

static json_t *sbx_sku(const json_t *p, const char *seller_sku)
{
    json_t *s;
    size_t i;

    json_array_foreach(json_object_get(p, "skus"), i, s) {
        if (strcmp(sg_json_str(s, "seller_sku"), seller_sku) == 0)
            return s;
    }
    return NULL;
}

/* The listing status of product id on tiktok_shop, copied into out. */
static void listing(int64_t id, char *status, size_t n, char *reason,
                    size_t rn)
{
    char path[64];
    json_t *j = NULL, *l;
    size_t i;

    status[0] = '\0';
    if (reason)
        reason[0] = '\0';
    snprintf(path, sizeof(path), "/api/v1/products/%" PRId64, id);
    assert_int_equal(req("GET", W.srv.url, path, NULL, &j), 200);
    json_array_foreach(json_object_get(j, "listings"), i, l) {
        if (strcmp(sg_json_str(l, "channel"), "tiktok_shop") != 0)
            continue;
        snprintf(status, n, "%s", sg_json_str(l, "status"));
        if (reason && sg_json_str(l, "reason"))
            snprintf(reason, rn, "%s", sg_json_str(l, "reason"));
    }
    json_decref(j);
}

static bool wait_listing(int64_t id, const char *want, char *reason,
                         size_t rn)
{
    char st[32];

    for (int i = 0; i < POLL_MAX; i++) {
        listing(id, st, sizeof(st), reason, rn);
        if (strcmp(st, want) == 0)
            return true;
        nap();
    }
    fprintf(stderr, "listing %" PRId64 " is \"%s\", want %s\n", id, st,
            want);
    return false;
}

static int64_t create_product(const char *handle, const char *title,
                              const char *category, bool images,
                              const char *sku_prefix)
{
    char body[2048];
    json_t *j = NULL;
    int64_t id;

    snprintf(body, sizeof(body),
             "{\"handle\":\"%s\",\"title\":\"%s\",\"body_html\":\"<p>%s"
             "</p>\",\"category\":\"%s\",\"status\":\"active\","
             "\"currency\":\"USD\",\"options\":[\"Size\"],"
             "\"package\":{\"length_mm\":300,\"width_mm\":200,"
             "\"height_mm\":80},\"attributes\":{\"Material\":\"Steel\"},"
             "\"images\":[%s],\"variants\":["
             "{\"sku\":\"%s-S\",\"options\":[\"S\"],\"price\":\"10.00\","
             "\"grams\":500,\"inventory_quantity\":5},"
             "{\"sku\":\"%s-M\",\"options\":[\"M\"],\"price\":\"11.00\","
             "\"grams\":500,\"inventory_quantity\":6},"
             "{\"sku\":\"%s-L\",\"options\":[\"L\"],\"price\":\"12.00\","
             "\"grams\":500,\"inventory_quantity\":7}]}",
             handle, title, title, category,
             images ? "{\"src\":\"https://cdn.example/a.jpg\"}" : "",
             sku_prefix, sku_prefix, sku_prefix);
    assert_int_equal(req("POST", W.srv.url, "/api/v1/products", body, &j),
                     201);
    id = sg_json_int(j, "id", 0);
    json_decref(j);
    assert_true(id > 0);
    return id;
}

static int setup(void **state)
{
    char conf[3072], wh[300], *out = NULL;
    char *sbx_argv[] = {ARG(sgt_surge_bin()), ARG("sandbox"), ARG("--listen"),
                        ARG("127.0.0.1:0"), ARG("--seed"), ARG("21"),
                        ARG("--audit-delay-ms"), ARG("200"), NULL};
    char *srv_argv[5];
    json_t *info = NULL;

    SG_UNUSED(state);
    W.dir = sgt_tmpdir();
    W.conf = sgt_path(W.dir, "surge.conf");
    W.db = sgt_path(W.dir, "surge.db");
    W.log = sgt_path(W.dir, "serve.log");
    W.sbx_log = sgt_path(W.dir, "sandbox.log");
    if (sgt_spawn(&W.sbx, sbx_argv, W.sbx_log) != 0)
        return -1;
    if (req("GET", W.sbx.url, "/sandbox/v1/info", NULL, &info) != 200)
        return -1;
    snprintf(conf, sizeof(conf),
             "[server]\nlisten = 127.0.0.1:0\n\n"
             "[store]\npath = %s\n\n"
             "[security]\nallow_private_urls = true\n\n"
             /* A tight bucket, as TikTok's per-endpoint limit is under a
              * storm: changes that arrive while a call waits for a token
              * must fold into the queued job (price_stock_storm). */
             "[jobs]\nbackoff_base_ms = 50\nbackoff_max_ms = 500\n"
             "rate_per_sec = 10\nburst = 2\nrequest_timeout_ms = 2s\n\n"
             "[catalog]\ncategory_rules = %s/samples/tiktok-categories.json\n"
             "category_map = %s/samples/category-map.txt\n\n"
             "[tiktok_shop]\napp_key = %s\napp_secret = %s\n"
             "service_id = svc-test\napi_base_url = %s\n"
             "auth_base_url = %s\nauthorize_url = %s/open/authorize\n\n"
             "[secrets]\nkey_file = %s/surge.key\n",
             W.db, SG_SOURCE_DIR, SG_SOURCE_DIR,
             sg_json_str(info, "app_key"), sg_json_str(info, "app_secret"),
             W.sbx.url, W.sbx.url, W.sbx.url, W.dir);
    json_decref(info);
    if (sgt_write_file(W.conf, conf))
        return -1;
    chmod(W.conf, 0600);
    if (surge(NULL, "init", NULL, NULL, NULL) != 0 ||
        surge(NULL, "tenant", "create", "default", NULL) != 0 ||
        surge(&out, "apikey", "create", "--tenant", "default") != 0)
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
    snprintf(wh, sizeof(wh), "%s/webhooks/tiktok-shop", W.srv.url);
    setenv("SURGE_TIKTOK_SHOP_WEBHOOK_URL", wh, 1);
    if (surge(NULL, "connect", "tiktok-shop", "--sandbox", W.sbx.url) != 0)
        return -1;
    unsetenv("SURGE_TIKTOK_SHOP_WEBHOOK_URL");
    return 0;
}

static int teardown(void **state)
{
    SG_UNUSED(state);
    sgt_stop(&W.srv, SIGTERM);
    sgt_stop(&W.sbx, SIGTERM);
    return 0;
}

static void publish_audit_and_invalid(void **state)
{
    char reason[512];
    int64_t pan, shirt, bad;
    json_t *p;

    SG_UNUSED(state);
    pan = create_product("pan", "Steel Pan", "Cookware", true, "PAN");
    shirt = create_product("tee", "Plain Tee", "T-shirts", true, "TEE");
    bad = create_product("bad", "No Image Pan", "Cookware", false, "BAD");

    assert_true(wait_listing(pan, "live", NULL, 0));
    p = sbx_product_by_title("Steel Pan");
    assert_non_null(p);
    assert_int_equal(json_array_size(json_object_get(p, "skus")), 3);
    assert_string_equal(sg_json_str(json_object_get(sbx_sku(p, "PAN-M"),
                                                    "price"),
                                    "amount"),
                        "11.00");
    assert_int_equal(
        sg_json_int(json_array_get(json_object_get(sbx_sku(p, "PAN-L"),
                                                   "inventory"),
                                   0),
                    "quantity", -1),
        7);
    assert_string_equal(sg_json_str(p, "category_id"), "601226");
    json_decref(p);

    /* The sandbox's T-shirt category needs a size chart: audit fails. */
    assert_true(wait_listing(shirt, "failed", reason, sizeof(reason)));
    for (int i = 0; i < POLL_MAX && !strstr(reason, "size chart"); i++) {
        nap();
        assert_true(wait_listing(shirt, "failed", reason, sizeof(reason)));
    }
    assert_non_null(strstr(reason, "size chart"));

    /* Invalid in Surge: never sent, and says why. */
    assert_true(wait_listing(bad, "invalid", reason, sizeof(reason)));
    assert_non_null(strstr(reason, "images"));
    assert_null(sbx_product_by_title("No Image Pan"));
    assert_int_equal(sbx_products(), 2);
}

static void lost_create_answer_is_not_duplicated(void **state)
{
    const char *fault =
        "{\"faults\":[{\"path\":\"/product/202309/products\",\"kind\":"
        "\"drop_after_commit\",\"count\":1},{\"path\":"
        "\"/product/202309/products/{product_id}/prices/update\",\"kind\":"
        "\"500\",\"count\":2},{\"path\":"
        "\"/product/202309/products/{product_id}/inventory/update\","
        "\"kind\":\"429\",\"count\":2}]}";
    size_t before = sbx_products();
    json_t *f = NULL;
    int64_t id;

    SG_UNUSED(state);
    assert_int_equal(req("POST", W.sbx.url, "/sandbox/v1/faults", fault,
                         NULL),
                     200);
    id = create_product("wok", "Steel Wok", "Cookware", true, "WOK");
    assert_true(wait_listing(id, "live", NULL, 0));
    assert_int_equal(sbx_products(), before + 1);
    /* The dropped answer really happened. */
    assert_int_equal(req("GET", W.sbx.url, "/sandbox/v1/faults", NULL, &f),
                     200);
    assert_int_equal(sg_json_int(json_array_get(json_object_get(f, "faults"),
                                                0),
                                 "hits", -1),
                     1);
    json_decref(f);
}

static void price_stock_storm_converges(void **state)
{
    json_t *prod = NULL, *calls = NULL, *p = NULL;
    char path[96], body[128];
    const char *vid_path;
    int64_t pan_id = 0, vid = 0;
    long price_calls = -1, bound;
    struct timespec t0, t1;
    double storm_s;
    bool ok = false;

    SG_UNUSED(state);
    assert_int_equal(req("GET", W.srv.url, "/api/v1/products?limit=10", NULL,
                         &prod),
                     200);
    for (size_t i = 0; i < json_array_size(json_object_get(prod,
                                                           "products"));
         i++) {
        json_t *x = json_array_get(json_object_get(prod, "products"), i);

        if (strcmp(sg_json_str(x, "handle"), "pan") == 0)
            pan_id = sg_json_int(x, "id", 0);
    }
    json_decref(prod);
    assert_true(pan_id > 0);
    snprintf(path, sizeof(path), "/api/v1/products/%" PRId64, pan_id);
    assert_int_equal(req("GET", W.srv.url, path, NULL, &prod), 200);
    vid = sg_json_int(json_array_get(json_object_get(prod, "variants"), 0),
                      "id", 0);
    json_decref(prod);
    assert_true(vid > 0);
    snprintf(path, sizeof(path), "/api/v1/variants/%" PRId64, vid);
    vid_path = path;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 1; i <= 30; i++) {
        snprintf(body, sizeof(body),
                 "{\"price\":\"%d.50\",\"inventory_quantity\":%d}", 20 + i,
                 i % 7);
        assert_int_equal(req("PATCH", W.srv.url, vid_path, body, NULL), 200);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    storm_s = (double)(t1.tv_sec - t0.tv_sec) +
              (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    /* Latest: price 50.50, quantity 30 % 7 = 2. */
    for (int i = 0; i < POLL_MAX && !ok; i++) {
        json_t *s;

        json_decref(p);
        p = sbx_product_by_title("Steel Pan");
        s = sbx_sku(p, "PAN-S");
        ok = s && strcmp(sg_json_str(json_object_get(s, "price"), "amount"),
                         "50.50") == 0 &&
             sg_json_int(json_array_get(json_object_get(s, "inventory"), 0),
                         "quantity", -1) == 2;
        if (!ok)
            nap();
    }
    json_decref(p);
    assert_true(ok);
    assert_int_equal(req("GET", W.sbx.url, "/sandbox/v1/calls", NULL,
                         &calls),
                     200);
    {
        json_t *c = json_object_get(
            json_object_get(calls, "counts"),
            "POST /product/202309/products/{product_id}/prices/update");
        const char *k;
        json_t *v;

        price_calls = 0;
        json_object_foreach(c, k, v)
            price_calls += (long)json_integer_value(v);
    }
    json_decref(calls);
    /*
     * 30 changes against a 10/s bucket (burst 2). Each call carries the
     * latest state, so there are fewer calls than changes, and no more
     * than the bucket allowed while the storm lasted (plus half a second
     * for the last change to reach its call), the burst of 2, the one
     * call with the final state and the 2 faulted 500s repeated. The
     * bound is taken from the storm's measured length, so a slow machine
     * (ASan, other load) moves it instead of failing the test.
     */
    bound = (long)(10.0 * (storm_s + 0.5)) + 2 + 1 + 2;
    print_message("storm of 30 changes took %.2f s: %ld price calls "
                  "(bound %ld)\n", storm_s, price_calls, bound);
    assert_true(price_calls >= 1);
    assert_true(price_calls < 30);
    assert_true(price_calls <= bound);
}

static void sync_wait_drains(void **state)
{
    char *out = NULL;

    SG_UNUSED(state);
    assert_int_equal(surge(&out, "sync", "--wait", "--tenant", "default"),
                     0);
    assert_non_null(strstr(out, "outbox drained; 0 dead-lettered"));
    sg_free(out);
    assert_int_equal(surge(&out, "sync", "--check", "--wait", NULL), 0);
    assert_non_null(strstr(out, "to read back"));
    /* Every listing was read back and matched the catalog. */
    assert_non_null(strstr(out, "drift: 0 products differed"));
    assert_null(strstr(out, "not read back"));
    sg_free(out);
}

/* Answers with code over every template. */
static long sbx_code(const char *code)
{
    json_t *calls = NULL, *per;
    const char *k;
    long n = 0;

    assert_int_equal(req("GET", W.sbx.url, "/sandbox/v1/calls", NULL,
                         &calls),
                     200);
    json_object_foreach(json_object_get(calls, "counts"), k, per)
        n += (long)json_integer_value(json_object_get(per, code));
    json_decref(calls);
    return n;
}

/* Live sandbox products titled title. */
static size_t sbx_count_title(const char *title)
{
    json_t *j = sbx_state("products"), *p;
    size_t i, n = 0;

    json_array_foreach(json_object_get(j, "products"), i, p) {
        const char *t = sg_json_str(p, "title"), *st = sg_json_str(p,
                                                                   "status");

        n += t && strcmp(t, title) == 0 && st && strcmp(st, "DELETED") != 0;
    }
    json_decref(j);
    return n;
}

static void expired_token_is_refreshed(void **state)
{
    long expired = sbx_code("105002");
    int64_t id;

    SG_UNUSED(state);
    /* Every access token expires: the next call answers 105002. */
    assert_int_equal(req("POST", W.sbx.url, "/sandbox/v1/tokens/expire",
                         "{}", NULL),
                     200);
    id = create_product("grill", "Grill Pan", "Cookware", true, "GRL");
    assert_true(wait_listing(id, "live", NULL, 0));
    assert_int_equal(sbx_count_title("Grill Pan"), 1);
    /* The first call met the expired token; the refreshed one passed. */
    assert_true(sbx_code("105002") > expired);
}

static void resets_and_stalls_converge(void **state)
{
    /* The create's connection is reset twice (nothing kept); the price
     * update stalls past the 2 s request timeout; the inventory update is
     * applied and its answer lost. */
    const char *fault =
        "{\"faults\":[{\"path\":\"/product/202309/products\",\"kind\":"
        "\"reset\",\"count\":2},{\"path\":"
        "\"/product/202309/products/{product_id}/prices/update\",\"kind\":"
        "\"stall\",\"stall_ms\":3000,\"count\":1},{\"path\":"
        "\"/product/202309/products/{product_id}/inventory/update\","
        "\"kind\":\"drop_after_commit\",\"count\":1}]}";
    char path[96], body[128];
    json_t *prod = NULL, *p = NULL, *f = NULL, *x;
    int64_t id, vid;
    bool ok = false;
    size_t i;

    SG_UNUSED(state);
    assert_int_equal(req("POST", W.sbx.url, "/sandbox/v1/faults", fault,
                         NULL),
                     200);
    id = create_product("skillet", "Flaky Skillet", "Cookware", true, "SKT");
    assert_true(wait_listing(id, "live", NULL, 0));
    snprintf(path, sizeof(path), "/api/v1/products/%" PRId64, id);
    assert_int_equal(req("GET", W.srv.url, path, NULL, &prod), 200);
    vid = sg_json_int(json_array_get(json_object_get(prod, "variants"), 1),
                      "id", 0);
    json_decref(prod);
    snprintf(path, sizeof(path), "/api/v1/variants/%" PRId64, vid);
    snprintf(body, sizeof(body),
             "{\"price\":\"17.25\",\"inventory_quantity\":9}");
    assert_int_equal(req("PATCH", W.srv.url, path, body, NULL), 200);
    for (int n = 0; n < POLL_MAX && !ok; n++) {
        json_t *s;

        json_decref(p);
        p = sbx_product_by_title("Flaky Skillet");
        s = sbx_sku(p, "SKT-M");
        ok = s && strcmp(sg_json_str(json_object_get(s, "price"), "amount"),
                         "17.25") == 0 &&
             sg_json_int(json_array_get(json_object_get(s, "inventory"), 0),
                         "quantity", -1) == 9;
        if (!ok)
            nap();
    }
    json_decref(p);
    assert_true(ok);
    assert_int_equal(sbx_count_title("Flaky Skillet"), 1);
    /* Every fault really happened. */
    assert_int_equal(req("GET", W.sbx.url, "/sandbox/v1/faults", NULL, &f),
                     200);
    json_array_foreach(json_object_get(f, "faults"), i, x)
        assert_true(sg_json_int(x, "hits", 0) >= 1);
    json_decref(f);
    assert_int_equal(req("DELETE", W.sbx.url, "/sandbox/v1/faults", NULL,
                         NULL),
                     200);
}

static void deauthorized_shop_gets_no_calls(void **state)
{
    char path[96], body[96], *out = NULL;
    json_t *prod = NULL, *calls = NULL;
    int64_t id = 0, vid, before;
    bool revoked = false;
    int rc;

    SG_UNUSED(state);
    assert_int_equal(req("GET", W.srv.url, "/api/v1/products?limit=100",
                         NULL, &prod),
                     200);
    for (size_t i = 0; i < json_array_size(json_object_get(prod,
                                                           "products"));
         i++) {
        json_t *x = json_array_get(json_object_get(prod, "products"), i);

        if (strcmp(sg_json_str(x, "handle"), "pan") == 0)
            id = sg_json_int(x, "id", 0);
    }
    json_decref(prod);
    assert_true(id > 0);
    assert_int_equal(req("POST", W.sbx.url, "/sandbox/v1/authorization/revoke",
                         "{}", NULL),
                     200);
    /* Webhook 6 reaches the engine and the connection is no longer
     * active. */
    for (int n = 0; n < POLL_MAX && !revoked; n++) {
        json_t *c = NULL, *x;
        size_t i;

        assert_int_equal(req("GET", W.srv.url, "/api/v1/connections", NULL,
                             &c),
                         200);
        json_array_foreach(json_object_get(c, "connections"), i, x) {
            const char *st = sg_json_str(x, "status");

            revoked |= st && strcmp(st, "active") != 0;
        }
        json_decref(c);
        if (!revoked)
            nap();
    }
    assert_true(revoked);
    assert_int_equal(req("GET", W.sbx.url, "/sandbox/v1/calls", NULL,
                         &calls),
                     200);
    before = sg_json_int(calls, "total", -1);
    json_decref(calls);
    snprintf(path, sizeof(path), "/api/v1/products/%" PRId64, id);
    assert_int_equal(req("GET", W.srv.url, path, NULL, &prod), 200);
    vid = sg_json_int(json_array_get(json_object_get(prod, "variants"), 0),
                      "id", 0);
    json_decref(prod);
    snprintf(path, sizeof(path), "/api/v1/variants/%" PRId64, vid);
    snprintf(body, sizeof(body), "{\"price\":\"99.00\"}");
    assert_int_equal(req("PATCH", W.srv.url, path, body, NULL), 200);
    /* The job runs (and declines); sync --wait returns once it is done. */
    rc = surge(&out, "sync", "--wait", "--timeout", "60");
    if (rc != 0)
        fprintf(stderr, "surge sync: %s\n", out ? out : "");
    assert_int_equal(rc, 0);
    sg_free(out);
    assert_int_equal(req("GET", W.sbx.url, "/sandbox/v1/calls", NULL,
                         &calls),
                     200);
    assert_int_equal(sg_json_int(calls, "total", -1), before);
    json_decref(calls);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(publish_audit_and_invalid),
        cmocka_unit_test(lost_create_answer_is_not_duplicated),
        cmocka_unit_test(price_stock_storm_converges),
        cmocka_unit_test(sync_wait_drains),
        cmocka_unit_test(expired_token_is_refreshed),
        cmocka_unit_test(resets_and_stalls_converge),
        /* Last: the shop stays deauthorized. */
        cmocka_unit_test(deauthorized_shop_gets_no_calls),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
