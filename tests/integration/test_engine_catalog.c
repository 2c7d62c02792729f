/*
 * test_engine_catalog.c - the catalog as a user meets it: "surge import
 * catalog" on the sample Shopify export (twice: the second run changes
 * nothing), then "surge serve" on a loopback port driven over HTTP:
 * products and variants CRUD, price updates, PUT /inventory/{sku} with
 * its reason and the reserved floor, the bulk PUT /inventory and PUT
 * /prices (all or nothing), listing status per channel,
 * validation reports, "surge validate", tenant isolation (another
 * tenant's product is 404, read-only keys cannot write), and the body
 * check of every admin route that takes a JSON body (an unknown or
 * mistyped top-level field is refused, naming it, and changes nothing).
 */
#include "testlib.h"
#include "core/alloc.h"
#include "core/buf.h"

#include <jansson.h>

#include <signal.h>
#include <sys/stat.h>

#define ARG(s) ((char *)(uintptr_t)(s))

struct world {
    char *dir;
    char *conf;
    char *log;
    char key_a[128];
    char key_a_ro[128];
    char key_b[128];
    struct sgt_proc srv;
};

static struct world W;

static int surge(const char *const *args, char **out, char **err)
{
    char *argv[16] = {ARG(sgt_surge_bin())};
    size_t n = 1;

    for (size_t i = 0; args[i] && n < 13; i++)
        argv[n++] = ARG(args[i]);
    argv[n++] = ARG("--config");
    argv[n++] = W.conf;
    argv[n] = NULL;
    return sgt_run(argv, NULL, out, err);
}

static void key_from(const char *out, char key[128])
{
    const char *p = strstr(out, "sk_");
    size_t n = 0;

    assert_non_null(p);
    while (p[n] && p[n] != '\n' && p[n] != ' ' && n < 127)
        n++;
    memcpy(key, p, n);
    key[n] = '\0';
}

static void api(struct sgt_resp *r, const char *method, const char *path,
                const char *key, const char *body)
{
    char url[512], auth[200];
    const char *headers[3] = {NULL, NULL, NULL};

    snprintf(url, sizeof(url), "%s%s", W.srv.url, path);
    if (key) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", key);
        headers[0] = auth;
    }
    headers[key ? 1 : 0] = "Content-Type: application/json";
    sgt_http(r, method, url, headers, body, body ? strlen(body) : 0);
}

/* One call: its status must be status and, unless NULL, its body must
 * hold needle. */
static void expect(const char *method, const char *path, const char *key,
                   const char *body, long status, const char *needle)
{
    struct sgt_resp r;

    api(&r, method, path, key, body);
    if (r.status != status || (needle && !strstr(r.body ? r.body : "",
                                                  needle)))
        fail_msg("%s %s: %ld %s (wanted %ld with %s)", method, path, r.status,
                 r.body ? r.body : "", status, needle ? needle : "any body");
    sgt_resp_free(&r);
}

static int64_t json_int_after(const char *body, const char *key)
{
    const char *p = strstr(body, key);

    return p ? strtoll(p + strlen(key), NULL, 10) : -1;
}

static int setup(void **state)
{
    char conf[2048], *out = NULL;
    const char *mk_a[] = {"tenant", "create", "acme", NULL};
    const char *mk_b[] = {"tenant", "create", "beta", NULL};
    const char *key_a[] = {"apikey", "create", "--tenant", "acme", NULL};
    const char *key_ro[] = {"apikey", "create", "--tenant", "acme",
                            "--read-only", NULL};
    const char *key_b[] = {"apikey", "create", "--tenant", "beta", NULL};
    const char *migrate[] = {"migrate", NULL};
    char *argv[] = {ARG(sgt_surge_bin()), ARG("serve"), ARG("--config"),
                    NULL, NULL};

    SG_UNUSED(state);
    W.dir = sgt_tmpdir();
    W.conf = sgt_path(W.dir, "surge.conf");
    W.log = sgt_path(W.dir, "serve.log");
    snprintf(conf, sizeof(conf),
             "[server]\nlisten = 127.0.0.1:0\nthreads = 2\n\n"
             "[store]\npath = %s/surge.db\n\n"
             "[catalog]\ncurrency = USD\n"
             "category_rules = %s/samples/tiktok-categories.json\n"
             "category_map = %s/samples/category-map.txt\n"
             "prohibited_terms = miracle\n",
             W.dir, SG_SOURCE_DIR, SG_SOURCE_DIR);
    if (sgt_write_file(W.conf, conf))
        return -1;
    chmod(W.conf, 0600);
    if (surge(migrate, NULL, NULL) || surge(mk_a, NULL, NULL) ||
        surge(mk_b, NULL, NULL))
        return -1;
    if (surge(key_a, &out, NULL))
        return -1;
    key_from(out, W.key_a);
    sg_free(out);
    if (surge(key_ro, &out, NULL))
        return -1;
    key_from(out, W.key_a_ro);
    sg_free(out);
    if (surge(key_b, &out, NULL))
        return -1;
    key_from(out, W.key_b);
    sg_free(out);
    argv[3] = W.conf;
    return sgt_spawn(&W.srv, argv, W.log);
}

static int teardown(void **state)
{
    SG_UNUSED(state);
    sgt_stop(&W.srv, SIGTERM);
    sg_free(W.conf);
    sg_free(W.log);
    sg_free(W.dir);
    return 0;
}

/* ---- tests (in order: import first, the server sees the same db) ---- */

static void test_cli_import(void **state)
{
    char file[1024], *out = NULL, *err = NULL;
    const char *args[] = {"import", "catalog", file, "--tenant", "acme",
                          NULL};
    const char *bad[] = {"import", "catalog", file, "--tenant", "beta",
                         NULL};

    SG_UNUSED(state);
    snprintf(file, sizeof(file), "%s/samples/catalog.csv", SG_SOURCE_DIR);
    assert_int_equal(surge(args, &out, &err), 0);
    assert_non_null(strstr(out, "30 created, 0 updated, 0 unchanged, "
                                "0 rejected"));
    sg_free(out);
    sg_free(err);
    assert_int_equal(surge(args, &out, &err), 0);
    assert_non_null(strstr(out, "0 created, 0 updated, 30 unchanged"));
    sg_free(out);
    sg_free(err);

    snprintf(file, sizeof(file), "%s/tests/data/shopify/bad_rows.csv",
             SG_SOURCE_DIR);
    assert_int_equal(surge(bad, &out, &err), 1);
    assert_non_null(strstr(out, "3 created, 0 updated, 0 unchanged, "
                                "2 rejected"));
    assert_non_null(strstr(err, "bad_rows.csv:11: Variant Price: "));
    assert_non_null(strstr(err, "bad_rows.csv:14: Variant SKU: "));
    sg_free(out);
    sg_free(err);
}

static void test_products_crud(void **state)
{
    struct sgt_resp r;
    char path[128];
    int64_t id, vid;

    SG_UNUSED(state);
    expect("GET", "/api/v1/products?limit=100", W.key_a, NULL,
           200, "\"handle\":\"cast-iron-skillet\"");

    api(&r, "POST", "/api/v1/products", W.key_a,
        "{\"handle\":\"api-pan\",\"title\":\"API Pan\","
        "\"body_html\":\"<p>x</p>\",\"product_type\":\"Cookware\","
        "\"options\":[\"Size\"],"
        "\"variants\":[{\"sku\":\"PAN-S\",\"options\":[\"S\"],"
        "\"price\":\"10.50\",\"grams\":900,\"inventory_quantity\":5}]}");
    assert_int_equal(r.status, 201);
    assert_non_null(strstr(r.body, "\"outcome\":\"created\""));
    assert_non_null(strstr(r.body, "\"price\":\"10.50\""));
    id = json_int_after(r.body, "\"id\":");
    sgt_resp_free(&r);
    assert_true(id > 0);

    /* Bad money: 400 naming the field. */
    expect("POST", "/api/v1/products", W.key_a,
           "{\"handle\":\"x\",\"title\":\"X\",\"variants\":[{\"sku\":\"X1\","
           "\"price\":\"1.999\"}]}", 400, "variants[0].price");

    /* A SKU of another product: 409. */
    expect("POST", "/api/v1/products", W.key_a,
           "{\"handle\":\"dup\",\"title\":\"Dup\",\"variants\":[{\"sku\":"
           "\"PAN-S\",\"price\":\"1.00\"}]}", 409, NULL);

    /* Add a variant, then update its price. */
    snprintf(path, sizeof(path), "/api/v1/products/%" PRId64 "/variants", id);
    api(&r, "POST", path, W.key_a,
        "{\"sku\":\"PAN-L\",\"options\":[\"L\"],\"price\":\"14.00\"}");
    assert_int_equal(r.status, 201);
    vid = json_int_after(r.body, "\"id\":");
    sgt_resp_free(&r);
    snprintf(path, sizeof(path), "/api/v1/variants/%" PRId64, vid);
    api(&r, "PATCH", path, W.key_a,
        "{\"price\":\"12.00\",\"compare_at_price\":\"15.00\"}");
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"price\":\"12.00\""));
    assert_non_null(strstr(r.body, "\"compare_at_price\":\"15.00\""));
    sgt_resp_free(&r);
    expect("GET", path, W.key_a, NULL, 200, "\"sku\":\"PAN-L\"");

    snprintf(path, sizeof(path), "/api/v1/products/%" PRId64, id);
    api(&r, "GET", path, W.key_a, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"on_hand\":5"));
    assert_non_null(strstr(r.body, "\"sku\":\"PAN-L\""));
    sgt_resp_free(&r);

    /* Listing status per channel. */
    snprintf(path, sizeof(path), "/api/v1/products/%" PRId64
             "/listings/tiktok_shop", id);
    expect("PUT", path, W.key_a, "{\"status\":\"pending\"}", 200, NULL);
    snprintf(path, sizeof(path), "/api/v1/products/%" PRId64, id);
    api(&r, "GET", path, W.key_a, NULL);
    assert_non_null(strstr(r.body, "\"channel\":\"tiktok_shop\""));
    assert_non_null(strstr(r.body, "\"status\":\"pending\""));
    sgt_resp_free(&r);

    /* Delete the variant, then the product. */
    snprintf(path, sizeof(path), "/api/v1/variants/%" PRId64, vid);
    expect("DELETE", path, W.key_a, NULL, 200, NULL);
    expect("GET", path, W.key_a, NULL, 404, NULL);
    snprintf(path, sizeof(path), "/api/v1/products/%" PRId64, id);
    expect("DELETE", path, W.key_a, NULL, 200, NULL);
    expect("GET", path, W.key_a, NULL, 404, NULL);

    /* The audit log has the changes. */
    api(&r, "GET", "/api/v1/audit?limit=500", W.key_a, NULL);
    assert_non_null(strstr(r.body, "\"action\":\"variant.price\""));
    assert_non_null(strstr(r.body, "\"action\":\"product.delete\""));
    sgt_resp_free(&r);
}

static void test_inventory(void **state)
{
    struct sgt_resp r;

    SG_UNUSED(state);
    api(&r, "GET", "/api/v1/inventory/SKL-10", W.key_a, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"on_hand\":40"));
    assert_non_null(strstr(r.body, "\"available\":40"));
    sgt_resp_free(&r);

    api(&r, "PUT", "/api/v1/inventory/SKL-10", W.key_a, "{\"on_hand\":37}");
    assert_int_equal(r.status, 400); /* the reason is required */
    assert_non_null(strstr(r.body, "reason"));
    sgt_resp_free(&r);

    expect("PUT", "/api/v1/inventory/SKL-10", W.key_a,
           "{\"on_hand\":37,\"reason\":\"recount\",\"location\":\"default\"}",
           200, "\"changed\":true");
    expect("GET", "/api/v1/inventory/SKL-10", W.key_a, NULL,
           200, "\"on_hand\":37");

    expect("PUT", "/api/v1/inventory/NOPE-1", W.key_a,
           "{\"on_hand\":1,\"reason\":\"recount\"}", 404, NULL);
    expect("PUT", "/api/v1/inventory/SKL-10", W.key_a,
           "{\"on_hand\":-1,\"reason\":\"recount\"}", 400, NULL);
}

/*
 * POST /api/v1/inventory/{sku}/adjust: a receipt and a write-off relative
 * to the level held inside the write; never below zero; clear errors.
 */
static void test_inventory_adjust(void **state)
{
    struct sgt_resp r;

    SG_UNUSED(state);
    expect("PUT", "/api/v1/inventory/SKL-10", W.key_a,
           "{\"on_hand\":37,\"reason\":\"recount\"}", 200, NULL);

    api(&r, "POST", "/api/v1/inventory/SKL-10/adjust", W.key_a,
        "{\"delta\":25,\"reason\":\"receipt\"}");
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"on_hand\":62"));
    assert_non_null(strstr(r.body, "\"delta\":25"));
    assert_non_null(strstr(r.body, "\"changed\":true"));
    sgt_resp_free(&r);
    expect("POST", "/api/v1/inventory/SKL-10/adjust", W.key_a,
           "{\"delta\":-12,\"reason\":\"damaged\"}", 200, "\"on_hand\":50");
    expect("GET", "/api/v1/inventory/SKL-10", W.key_a, NULL,
           200, "\"on_hand\":50");

    /* Below zero: 409 naming the level, and nothing changes. */
    expect("POST", "/api/v1/inventory/SKL-10/adjust", W.key_a,
           "{\"delta\":-51,\"reason\":\"damaged\"}", 409, "would fall below");
    expect("POST", "/api/v1/inventory/SKL-10/adjust", W.key_a,
           "{\"delta\":\"5\",\"reason\":\"receipt\"}", 400, "delta");
    expect("POST", "/api/v1/inventory/SKL-10/adjust", W.key_a,
           "{\"delta\":5}", 400, "reason");
    expect("POST", "/api/v1/inventory/SKL-10/adjust", W.key_a,
           "{\"delta\":1000000000,\"reason\":\"receipt\"}", 400, NULL);
    expect("POST", "/api/v1/inventory/NOPE-1/adjust", W.key_a,
           "{\"delta\":1,\"reason\":\"receipt\"}", 404, NULL);
    expect("GET", "/api/v1/inventory/SKL-10", W.key_a, NULL,
           200, "\"on_hand\":50");
    /* Back to where test_inventory left it, for the tests after. */
    expect("PUT", "/api/v1/inventory/SKL-10", W.key_a,
           "{\"on_hand\":37,\"reason\":\"recount\"}", 200, NULL);
}

/* PUT /api/v1/inventory and /api/v1/prices: many SKUs, all or nothing. */
static void test_bulk(void **state)
{
    struct sgt_resp r;
    char big[64 * 1024];
    size_t used;

    SG_UNUSED(state);
    /* A SKU named twice ends at its last item. */
    expect("PUT", "/api/v1/inventory", W.key_a,
           "{\"items\":[{\"sku\":\"SKL-10\",\"on_hand\":30,"
           "\"reason\":\"feed\"},"
           "{\"sku\":\"SKL-12\",\"on_hand\":9,\"reason\":\"feed\","
           "\"location\":\"default\"},"
           "{\"sku\":\"SKL-10\",\"on_hand\":31,\"reason\":\"feed\"}]}",
           200, "\"changed\":3");
    expect("GET", "/api/v1/inventory/SKL-10", W.key_a, NULL,
           200, "\"on_hand\":31");
    expect("GET", "/api/v1/inventory/SKL-12", W.key_a, NULL,
           200, "\"on_hand\":9");

    /* An unknown SKU in the middle: 404 naming it, nothing applied. */
    expect("PUT", "/api/v1/inventory", W.key_a,
           "{\"items\":[{\"sku\":\"SKL-10\",\"on_hand\":1,\"reason\":\"feed\"},"
           "{\"sku\":\"NOPE-1\",\"on_hand\":1,\"reason\":\"feed\"}]}",
           404, "items[1]: no such SKU: NOPE-1");
    expect("GET", "/api/v1/inventory/SKL-10", W.key_a, NULL,
           200, "\"on_hand\":31");

    /* A malformed item: 400 with the field, before anything is stored. */
    expect("PUT", "/api/v1/inventory", W.key_a,
           "{\"items\":[{\"sku\":\"SKL-10\",\"on_hand\":2,\"reason\":\"feed\"},"
           "{\"sku\":\"SKL-12\",\"on_hand\":\"2\",\"reason\":\"feed\"}]}",
           400, "\"field\":\"items[1].on_hand\"");
    expect("PUT", "/api/v1/inventory", W.key_a,
           "{\"items\":[{\"sku\":\"SKL-10\",\"on_hand\":2}]}",
           400, "\"field\":\"items[0].reason\"");
    expect("PUT", "/api/v1/inventory", W.key_a, "{\"items\":[]}", 400, NULL);
    /* More than 1000 items. */
    used = (size_t)snprintf(big, sizeof(big), "{\"items\":[");
    for (int i = 0; i < 1001; i++)
        used += (size_t)snprintf(big + used, sizeof(big) - used,
                                 "%s{\"sku\":\"SKL-10\",\"price\":\"1.00\"}",
                                 i ? "," : "");
    snprintf(big + used, sizeof(big) - used, "]}");
    expect("PUT", "/api/v1/prices", W.key_a, big, 400, "1..1000");

    /* Prices: price and compare-at, then compare-at removed. */
    api(&r, "PUT", "/api/v1/prices", W.key_a,
        "{\"items\":[{\"sku\":\"SKL-10\",\"price\":\"41.00\","
        "\"compare_at_price\":\"50.00\"},{\"sku\":\"SKL-12\","
        "\"price\":\"52.50\"}]}");
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"price\":\"41.00\""));
    assert_non_null(strstr(r.body, "\"compare_at_price\":\"50.00\""));
    assert_non_null(strstr(r.body, "\"changed\":2"));
    sgt_resp_free(&r);
    api(&r, "PUT", "/api/v1/prices", W.key_a,
        "{\"items\":[{\"sku\":\"SKL-10\",\"compare_at_price\":null}]}");
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"price\":\"41.00\""));
    assert_non_null(strstr(r.body, "\"compare_at_price\":null"));
    sgt_resp_free(&r);
    /* Too many decimals for USD: refused whole, naming the item. */
    expect("PUT", "/api/v1/prices", W.key_a,
           "{\"items\":[{\"sku\":\"SKL-12\",\"price\":\"1.00\"},"
           "{\"sku\":\"SKL-10\",\"price\":\"1.005\"}]}",
           400, "items[1]: price:");
    expect("PUT", "/api/v1/prices", W.key_a,
           "{\"items\":[{\"sku\":\"SKL-12\"}]}", 400, NULL);
    expect("GET", "/api/v1/products?limit=100", W.key_a, NULL,
           200, "\"price\":\"52.50\"");

    /* Read-only keys cannot; another tenant does not see the SKUs. */
    expect("PUT", "/api/v1/prices", W.key_a_ro,
           "{\"items\":[{\"sku\":\"SKL-12\",\"price\":\"1.00\"}]}", 403, NULL);
    expect("PUT", "/api/v1/inventory", W.key_b,
           "{\"items\":[{\"sku\":\"BO-1\",\"on_hand\":1,\"reason\":\"x\"}]}",
           404, NULL);

    /* Back to the sample's prices (the validation test expects them). */
    expect("PUT", "/api/v1/prices", W.key_a,
           "{\"items\":[{\"sku\":\"SKL-10\",\"price\":\"34.00\","
           "\"compare_at_price\":\"42.00\"},{\"sku\":\"SKL-12\","
           "\"price\":\"44.00\"}]}", 200, NULL);

    api(&r, "GET", "/api/v1/audit?limit=500", W.key_a, NULL);
    assert_non_null(strstr(r.body, "\"object\":\"sku:SKL-12\""));
    assert_non_null(strstr(r.body, "\"outcome\":\"not_found\""));
    sgt_resp_free(&r);
}

static void test_validation(void **state)
{
    struct sgt_resp r;
    char *out = NULL, *err = NULL;
    const char *args[] = {"validate", "--tenant", "acme", "--json", NULL};
    const char *text[] = {"validate", "--tenant", "acme", NULL};

    SG_UNUSED(state);
    api(&r, "GET", "/api/v1/validation?limit=100", W.key_a, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"code\":\"category_unmapped\""));
    /* The serum's category maps to Skincare, which needs a certificate
     * the sample has, so its only issue left is nothing category-wise. */
    assert_non_null(strstr(r.body, "\"category_id\":\"602118\""));
    sgt_resp_free(&r);
    api(&r, "GET", "/api/v1/products/1/validation?channel=tiktok_shop",
        W.key_a, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"handle\":\"cast-iron-skillet\""));
    assert_non_null(strstr(r.body, "\"category_id\":\"601226\""));
    /* The skillet's export has a PNG image and a full package: valid. */
    assert_non_null(strstr(r.body, "\"valid\":true"));
    sgt_resp_free(&r);
    expect("GET", "/api/v1/validation?channel=amazon", W.key_a, NULL,
           400, NULL);

    assert_int_equal(surge(args, &out, &err), 1);
    assert_non_null(strstr(out, "\"checked\":30"));
    assert_non_null(strstr(out, "\"unmapped\":{"));
    sg_free(out);
    sg_free(err);
    assert_int_equal(surge(text, &out, &err), 1);
    assert_non_null(strstr(out, "ok   cast-iron-skillet (category 601226)"));
    assert_non_null(strstr(out, "unmapped categories/types"));
    sg_free(out);
    sg_free(err);
}

static void test_tenant_isolation(void **state)
{
    struct sgt_resp r;

    SG_UNUSED(state);
    /* Product 1 is acme's: beta sees 404 for reads and writes. */
    expect("GET", "/api/v1/products/1", W.key_b, NULL, 404, NULL);
    expect("PUT", "/api/v1/products/1", W.key_b,
           "{\"handle\":\"h\",\"title\":\"T\",\"variants\":[{\"sku\":\"Q1\","
           "\"price\":\"1.00\"}]}", 404, NULL);
    expect("DELETE", "/api/v1/products/1", W.key_b, NULL, 404, NULL);
    /* beta imported the same SKU: it sees its own stock, not acme's 37. */
    expect("GET", "/api/v1/inventory/SKL-10", W.key_b, NULL,
           200, "\"on_hand\":40");
    expect("GET", "/api/v1/inventory/LA-1", W.key_b, NULL, 404, NULL);
    api(&r, "GET", "/api/v1/products?limit=100", W.key_b, NULL);
    assert_int_equal(r.status, 200);
    assert_null(strstr(r.body, "linen-apron")); /* acme's only */
    assert_non_null(strstr(r.body, "stoneware-mug")); /* beta's own */
    sgt_resp_free(&r);
    /* Read-only keys and missing keys cannot write. */
    expect("DELETE", "/api/v1/products/1", W.key_a_ro, NULL, 403, NULL);
    expect("GET", "/api/v1/products/1", W.key_a_ro, NULL, 200, NULL);
    expect("GET", "/api/v1/products", NULL, NULL, 401, NULL);
}

/* ---- request bodies: unknown and mistyped top-level fields ---- */

/* GET path, parsed; NULL unless 200 with a JSON body. */
static json_t *get_json(const char *path)
{
    struct sgt_resp r;
    json_t *j = NULL;

    api(&r, "GET", path, W.key_a, NULL);
    if (r.status == 200 && r.body)
        j = json_loads(r.body, 0, NULL);
    sgt_resp_free(&r);
    return j;
}

/* The largest "id" in the list at base ("/api/v1/audit", key "audit"). */
static json_int_t last_id(const char *base, const char *key)
{
    json_int_t last = 0;
    char path[160];

    for (int page = 0; page < 1000; page++) {
        json_t *doc, *arr;
        size_t n;

        snprintf(path, sizeof(path), "%s?after=%lld&limit=500", base,
                 (long long)last);
        doc = get_json(path);
        arr = json_object_get(doc, key);
        assert_true(json_is_array(arr));
        n = json_array_size(arr);
        if (n)
            last = json_integer_value(
                json_object_get(json_array_get(arr, n - 1), "id"));
        json_decref(doc);
        if (n == 0)
            break;
    }
    return last;
}

/* What a refused request must leave as it was, as one text. */
static char *state_text(int64_t pid, json_int_t audit_mark,
                        json_int_t job_mark)
{
    char paths[8][160];
    struct sg_buf b;
    char *out;

    snprintf(paths[0], sizeof(paths[0]), "/api/v1/products?limit=100");
    snprintf(paths[1], sizeof(paths[1]), "/api/v1/products/%" PRId64, pid);
    snprintf(paths[2], sizeof(paths[2]), "/api/v1/inventory/SKL-10");
    snprintf(paths[3], sizeof(paths[3]), "/api/v1/shipments");
    snprintf(paths[4], sizeof(paths[4]), "/api/v1/cancellations");
    snprintf(paths[5], sizeof(paths[5]), "/api/v1/returns");
    /* every write, refused ones included, leaves an audit row */
    snprintf(paths[6], sizeof(paths[6]), "/api/v1/audit?after=%lld",
             (long long)audit_mark);
    snprintf(paths[7], sizeof(paths[7]), "/api/v1/jobs?after=%lld",
             (long long)job_mark);
    sg_buf_init(&b, 4u << 20);
    for (size_t i = 0; i < SG_ARRAY_SIZE(paths); i++) {
        struct sgt_resp r;

        api(&r, "GET", paths[i], W.key_a, NULL);
        if (r.status != 200)
            fail_msg("GET %s: %ld", paths[i], r.status);
        assert_int_equal(sg_buf_printf(&b, "%s\n%s\n", paths[i], r.body), 0);
        sgt_resp_free(&r);
    }
    out = sg_buf_detach(&b, NULL);
    assert_non_null(out);
    return out;
}

/* tpl with {P} and {V} replaced by the product's and variant's ids. */
static void fill_path(char *out, size_t cap, const char *tpl, int64_t pid,
                      int64_t vid)
{
    size_t n = 0;

    for (const char *p = tpl; *p && n + 24 < cap; p++) {
        if (strncmp(p, "{P}", 3) == 0 || strncmp(p, "{V}", 3) == 0) {
            n += (size_t)snprintf(out + n, cap - n, "%" PRId64,
                                  p[1] == 'P' ? pid : vid);
            p += 2;
        } else {
            out[n++] = *p;
        }
    }
    out[n] = '\0';
}

#define PRODUCT_BODY(extra)                                                    \
    "{\"handle\":\"fields-pan\",\"title\":\"Fields Pan\",\"variants\":[{"    \
    "\"sku\":\"FLD-1\",\"price\":\"5.00\"}]" extra "}"
#define ONE_EVENT "[{\"event\":\"Search\",\"event_id\":\"fld-1\"}]"

/*
 * Every admin route with a JSON body, given (a) a field it does not
 * define and (b) a documented field of the wrong type: 400 invalid_field
 * naming the field, and nothing anywhere changed (no product, variant,
 * level, listing, shipment, after-sale decision, job or audit row).
 * Order and after-sale ids need not exist: the body is checked first.
 */
static void test_body_fields(void **state)
{
    static const struct {
        const char *method, *path, *body, *field;
    } cases[] = {
        {"POST", "/api/v1/notify", "{\"event\":\"x\",\"rat\":1}", "rat"},
        {"POST", "/api/v1/notify", "{\"event\":\"x\",\"coalesce_key\":5}",
         "coalesce_key"},
        {"POST", "/api/v1/notify",
         "{\"event\":\"x\",\"idempotency_key\":true}", "idempotency_key"},
        {"POST", "/api/v1/notify", "{\"event\":\"x\",\"data\":[1]}", "data"},
        {"POST", "/api/v1/products", PRODUCT_BODY(",\"rat\":1"), "rat"},
        {"POST", "/api/v1/products", PRODUCT_BODY(",\"status\":5"),
         "status"},
        {"POST", "/api/v1/products", PRODUCT_BODY(",\"currency\":840"),
         "currency"},
        {"PUT", "/api/v1/products/{P}", PRODUCT_BODY(",\"titel\":\"x\""),
         "titel"},
        {"PUT", "/api/v1/products/{P}", PRODUCT_BODY(",\"published\":1"),
         "published"},
        {"POST", "/api/v1/products/{P}/variants",
         "{\"sku\":\"FLD-2\",\"price\":\"1.00\",\"colour\":\"red\"}",
         "colour"},
        {"POST", "/api/v1/products/{P}/variants",
         "{\"sku\":\"FLD-2\",\"price\":1}", "price"},
        {"PATCH", "/api/v1/variants/{V}",
         "{\"price\":\"9.99\",\"prise\":\"1.00\"}", "prise"},
        {"PATCH", "/api/v1/variants/{V}", "{\"weight_unit\":1}",
         "weight_unit"},
        {"PUT", "/api/v1/inventory/SKL-10",
         "{\"on_hand\":5,\"reason\":\"recount\",\"note\":\"x\"}", "note"},
        {"PUT", "/api/v1/inventory/SKL-10",
         "{\"on_hand\":5,\"reason\":\"recount\",\"location\":7}",
         "location"},
        {"POST", "/api/v1/inventory/SKL-10/adjust",
         "{\"delta\":1,\"reason\":\"receipt\",\"why\":\"x\"}", "why"},
        {"POST", "/api/v1/inventory/SKL-10/adjust",
         "{\"delta\":\"1\",\"reason\":\"receipt\"}", "delta"},
        {"PUT", "/api/v1/inventory",
         "{\"items\":[{\"sku\":\"SKL-10\",\"on_hand\":5,\"reason\":\"feed\"}],"
         "\"dry_run\":true}",
         "dry_run"},
        {"PUT", "/api/v1/inventory", "{\"items\":{}}", "items"},
        {"PUT", "/api/v1/prices",
         "{\"items\":[{\"sku\":\"SKL-10\",\"price\":\"1.00\"}],"
         "\"currency\":\"USD\"}",
         "currency"},
        {"PUT", "/api/v1/prices", "{\"items\":\"SKL-10\"}", "items"},
        {"PUT", "/api/v1/products/{P}/listings/tiktok_shop",
         "{\"status\":\"pending\",\"note\":1}", "note"},
        {"PUT", "/api/v1/products/{P}/listings/tiktok_shop",
         "{\"status\":\"pending\",\"reason\":5}", "reason"},
        {"POST", "/api/v1/shipments", "{\"order_id\":1,\"carier\":\"USPS\"}",
         "carier"},
        {"POST", "/api/v1/shipments",
         "{\"order_id\":1,\"tracking_number\":12345}", "tracking_number"},
        {"POST", "/api/v1/shipments", "{\"order_id\":1.5}", "order_id"},
        {"POST", "/api/v1/orders/1/cancel", "{\"reason\":\"x\",\"force\":1}",
         "force"},
        {"POST", "/api/v1/orders/1/cancel", "{\"reason\":5}", "reason"},
        {"POST", "/api/v1/returns/1/approve",
         "{\"idempotency_key\":\"k\",\"note\":\"x\"}", "note"},
        {"POST", "/api/v1/returns/1/reject", "{\"decision\":7}", "decision"},
        {"POST", "/api/v1/cancellations/1/approve", "{\"reasons\":\"x\"}",
         "reasons"},
        {"POST", "/api/v1/cancellations/1/reject",
         "{\"idempotency_key\":5}", "idempotency_key"},
        {"POST", "/api/v1/events",
         "{\"events\":" ONE_EVENT ",\"source\":\"web\"}", "source"},
        {"POST", "/api/v1/events",
         "{\"event_source\":1,\"events\":" ONE_EVENT "}", "event_source"},
    };
    json_int_t audit_mark, job_mark;
    json_t *inv, *prod, *v;
    int64_t pid, vid = 0;
    char path[160], *before, *after, needle[96];
    size_t i;

    SG_UNUSED(state);
    inv = get_json("/api/v1/inventory/SKL-10");
    pid = (int64_t)json_integer_value(json_object_get(inv, "product_id"));
    json_decref(inv);
    assert_true(pid > 0);
    snprintf(path, sizeof(path), "/api/v1/products/%" PRId64, pid);
    prod = get_json(path);
    json_array_foreach(json_object_get(prod, "variants"), i, v) {
        if (strcmp(json_string_value(json_object_get(v, "sku")), "SKL-10") ==
            0)
            vid = (int64_t)json_integer_value(json_object_get(v, "id"));
    }
    json_decref(prod);
    assert_true(vid > 0);
    audit_mark = last_id("/api/v1/audit", "audit");
    job_mark = last_id("/api/v1/jobs", "jobs");
    assert_true(audit_mark > 0);
    before = state_text(pid, audit_mark, job_mark);
    /* every product is in the page compared */
    assert_null(strstr(before, "next_after"));

    for (i = 0; i < SG_ARRAY_SIZE(cases); i++) {
        struct sgt_resp r;

        fill_path(path, sizeof(path), cases[i].path, pid, vid);
        api(&r, cases[i].method, path, W.key_a, cases[i].body);
        snprintf(needle, sizeof(needle), "\"field\":\"%s\"", cases[i].field);
        if (r.status != 400 || !strstr(r.body, "\"code\":\"invalid_field\"") ||
            !strstr(r.body, needle) ||
            !strstr(strstr(r.body, "\"message\":"), cases[i].field))
            fail_msg("case %zu: %s %s %s: %ld %s (wanted 400 naming %s)", i,
                     cases[i].method, path, cases[i].body, r.status,
                     r.body ? r.body : "", cases[i].field);
        sgt_resp_free(&r);
        after = state_text(pid, audit_mark, job_mark);
        if (strcmp(before, after) != 0)
            fail_msg("case %zu: %s %s %s changed something:\n%s\n---\n%s", i,
                     cases[i].method, path, cases[i].body, before, after);
        sg_free(after);
    }
    sg_free(before);

    /*
     * The documented fields are all still taken. A product read back is
     * PUT whole as it is (its id, times, listings and variants' levels
     * included) and is unchanged.
     */
    snprintf(path, sizeof(path), "/api/v1/products/%" PRId64, pid);
    {
        struct sgt_resp r;
        char *doc;

        api(&r, "GET", path, W.key_a, NULL);
        assert_int_equal(r.status, 200);
        doc = sg_strdup(r.body);
        sgt_resp_free(&r);
        expect("PUT", path, W.key_a, doc, 200, "\"outcome\":\"unchanged\"");
        sg_free(doc);
    }
    expect("POST", "/api/v1/notify", W.key_a,
           "{\"event\":\"fields.ok\",\"data\":{\"a\":1},"
           "\"coalesce_key\":\"fld\",\"idempotency_key\":\"fld-1\"}",
           202, "\"state\":\"queued\"");
    snprintf(path, sizeof(path), "/api/v1/variants/%" PRId64, vid);
    expect("PATCH", path, W.key_a,
           "{\"price\":\"34.00\",\"compare_at_price\":null,\"cost\":\"12.50\","
           "\"barcode\":\"0860001234561\",\"grams\":2300,\"weight_unit\":\"g\","
           "\"image\":null,\"position\":1}",
           200, "\"sku\":\"SKL-10\"");
    expect("POST", "/api/v1/events", W.key_a,
           "{\"event_source\":\"web\",\"events\":" ONE_EVENT "}", 200,
           "\"results\"");
    /* Known ids are not needed to see the body pass: 404, not 400. */
    expect("POST", "/api/v1/returns/999999/approve", W.key_a,
           "{\"idempotency_key\":\"k\",\"decision\":\"APPROVE_REFUND\","
           "\"reason\":\"ok\"}",
           404, NULL);
    expect("POST", "/api/v1/cancellations/999999/reject", W.key_a,
           "{\"idempotency_key\":\"k\",\"reason\":\"no\"}", 404, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cli_import),
        cmocka_unit_test(test_products_crud),
        cmocka_unit_test(test_inventory),
        cmocka_unit_test(test_inventory_adjust),
        cmocka_unit_test(test_bulk),
        cmocka_unit_test(test_validation),
        cmocka_unit_test(test_tenant_isolation),
        cmocka_unit_test(test_body_fields),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
