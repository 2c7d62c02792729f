/*
 * test_sandbox_orders.c - the TikTok Shop emulator's orders, fulfilment,
 * cancellations, returns and traffic generator, driven over HTTP against
 * `surge sandbox` with signed Open API calls and the control plane. The
 * sandbox clock is moved forward instead of sleeping; the only real-time
 * waits poll the traffic generator, each bounded.
 */
#include "core/sg.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/json.h"
#include "connectors/tiktok_shop/sign.h"

#include "testlib.h"

#include <signal.h>
#include <time.h>
#include <unistd.h>

#define POLL_MAX 400

struct sbx {
    struct sgt_proc proc;
    char *dir;
    char base[128];
    char app_key[64];
    char secret[128];
    char token[512];
    char refresh[512];
    char cipher[128];
    char shop_id[32];
    char warehouse[32];
    int64_t skew_s;     /* sandbox clock minus real clock */
};

static struct sbx S;

/* ---- plumbing ---- */

static json_t *parse(const struct sgt_resp *r)
{
    json_t *j = NULL;

    if (r->body == NULL ||
        sg_json_parse(&j, r->body, r->len, 64, NULL, NULL) != 0)
        return NULL;
    return j;
}

/* Control plane call; returns the parsed body, *status the HTTP status. */
static json_t *ctl(const char *method, const char *path, const char *body,
                   long *status)
{
    static const char *const hdr[] = {"Content-Type: application/json",
                                      NULL};
    struct sgt_resp r;
    char url[512];
    json_t *j;

    snprintf(url, sizeof(url), "%s%s", S.base, path);
    assert_int_equal(sgt_http(&r, method, url, hdr, body,
                              body ? strlen(body) : 0),
                     0);
    if (status != NULL)
        *status = r.status;
    j = parse(&r);
    sgt_resp_free(&r);
    return j;
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

/*
 * Signed Open API call. extra is a NULL-terminated list of key, value
 * (decoded). Returns the envelope.
 */
static json_t *api(const char *method, const char *path,
                   const char *const *extra, const char *body)
{
    struct sg_tts_param kv[16];
    char ts[32], sign[65], auth[600];
    const char *hdr[3];
    struct sg_buf url;
    struct sgt_resp r;
    size_t n = 0, i;
    json_t *j;

    snprintf(ts, sizeof(ts), "%" PRId64, (int64_t)time(NULL) + S.skew_s);
    kv[n++] = (struct sg_tts_param){"app_key", S.app_key};
    kv[n++] = (struct sg_tts_param){"timestamp", ts};
    kv[n++] = (struct sg_tts_param){"shop_cipher", S.cipher};
    for (i = 0; extra != NULL && extra[i] != NULL && n < 16; i += 2)
        kv[n++] = (struct sg_tts_param){extra[i], extra[i + 1]};
    assert_int_equal(sg_tts_sign(sign, S.secret, path, kv, n, body,
                                 body ? strlen(body) : 0),
                     0);
    sg_buf_init(&url, 65536);
    sg_buf_printf(&url, "%s%s?sign=%s", S.base, path, sign);
    for (i = 0; i < n; i++) {
        sg_buf_printf(&url, "&%s=", kv[i].key);
        url_encode(&url, kv[i].value);
    }
    snprintf(auth, sizeof(auth), "x-tts-access-token: %s", S.token);
    hdr[0] = "Content-Type: application/json";
    hdr[1] = auth;
    hdr[2] = NULL;
    assert_int_equal(sgt_http(&r, method, url.data, hdr, body,
                              body ? strlen(body) : 0),
                     0);
    j = parse(&r);
    if (j == NULL)
        fail_msg("%s %s: HTTP %ld, unparsable body", method, path, r.status);
    sgt_resp_free(&r);
    sg_buf_release(&url);
    return j;
}

static long code_of(const json_t *env)
{
    return (long)sg_json_int(env, "code", -1);
}

static json_t *data_of(json_t *env)
{
    if (code_of(env) != 0)
        fail_msg("code %ld: %s", code_of(env), sg_json_str(env, "message"));
    return json_object_get(env, "data");
}

/* Rotate the tokens (they expire after 7 sandbox days). */
static void refresh_tokens(void)
{
    char path[1400];
    json_t *j, *d;
    long st;

    snprintf(path, sizeof(path),
             "/api/v2/token/refresh?app_key=%s&app_secret=%s&refresh_token="
             "%s&grant_type=refresh_token",
             S.app_key, S.secret, S.refresh);
    j = ctl("GET", path, NULL, &st);
    d = json_object_get(j, "data");
    assert_int_equal(st, 200);
    assert_non_null(sg_json_str(d, "access_token"));
    snprintf(S.token, sizeof(S.token), "%s", sg_json_str(d, "access_token"));
    snprintf(S.refresh, sizeof(S.refresh), "%s",
             sg_json_str(d, "refresh_token"));
    json_decref(j);
}

static void advance(int64_t seconds)
{
    char body[64];
    long st;
    json_t *j;

    snprintf(body, sizeof(body), "{\"seconds\":%" PRId64 "}", seconds);
    j = ctl("POST", "/sandbox/v1/clock/advance", body, &st);
    assert_int_equal(st, 200);
    S.skew_s = sg_json_int(j, "now", 0) - (int64_t)time(NULL);
    json_decref(j);
    if (seconds >= 86400)
        refresh_tokens();
}

/* An ACTIVATE product with one SKU of qty units; ids into pid/sku. */
static void make_product(int qty, char pid[32], char sku[32])
{
    char body[2048];
    json_t *env, *d;

    snprintf(body, sizeof(body),
             "{\"title\":\"Test mug %d\",\"description\":\"<p>mug</p>\","
             "\"category_id\":\"601226\",\"main_images\":[{\"uri\":"
             "\"tos-maliva-i-o3syd03w52-us/mug\"}],\"package_weight\":"
             "{\"value\":\"1\",\"unit\":\"KILOGRAM\"},"
             "\"package_dimensions\":{\"length\":\"10\",\"width\":\"10\","
             "\"height\":\"10\",\"unit\":\"CENTIMETER\"},"
             "\"product_attributes\":[{\"id\":\"100392\",\"values\":[{"
             "\"id\":\"1000001\",\"name\":\"Stainless steel\"}]}],"
             "\"skus\":[{"
             "\"seller_sku\":\"MUG-%d\",\"price\":{\"amount\":\"12.50\","
             "\"currency\":\"USD\"},\"inventory\":[{\"warehouse_id\":"
             "\"%s\",\"quantity\":%d}]}]}",
             qty, qty, S.warehouse, qty);
    env = api("POST", "/product/202309/products", NULL, body);
    d = data_of(env);
    snprintf(pid, 32, "%s", sg_json_str(d, "product_id"));
    snprintf(sku, 32, "%s",
             sg_json_str(json_array_get(json_object_get(d, "skus"), 0),
                         "id"));
    assert_true(pid[0] != '\0' && sku[0] != '\0');
    json_decref(env);
    advance(60); /* audit: PENDING -> ACTIVATE */
}

/* Create an order of units of sku; returns its id (static buffer). */
static long order_try(const char *sku, int units, char id[32])
{
    char body[256];
    long st;
    json_t *j;

    snprintf(body, sizeof(body),
             "{\"lines\":[{\"sku_id\":\"%s\",\"quantity\":%d}]}", sku,
             units);
    j = ctl("POST", "/sandbox/v1/orders", body, &st);
    if (getenv("SGT_DEBUG") != NULL && st != 201) {
        char *d = sg_json_dump(j, NULL);

        fprintf(stderr, "order: %ld %s\n", st, d ? d : "-");
        sg_free(d);
    }
    if (id != NULL)
        snprintf(id, 32, "%s",
                 st == 201 ? sg_json_str(json_object_get(j, "order"), "id")
                           : "");
    json_decref(j);
    return st;
}

static json_t *order_get(const char *id)
{
    const char *q[] = {"ids", id, NULL};
    json_t *env = api("GET", "/order/202309/orders", q, NULL);
    json_t *o = json_incref(json_array_get(
        json_object_get(data_of(env), "orders"), 0));

    json_decref(env);
    assert_non_null(o);
    return o;
}

static void assert_status(const char *id, const char *want)
{
    json_t *o = order_get(id);

    assert_string_equal(sg_json_str(o, "status"), want);
    json_decref(o);
}

/* The control plane's view of a collection: {"<name>": [...]}. */
static json_t *state_items(json_t *doc, const char *name)
{
    return json_is_array(doc) ? doc : json_object_get(doc, name);
}

/* Listed stock of sku, from the control plane's state view. */
static int64_t stock_of(const char *pid, const char *sku)
{
    json_t *arr = ctl("GET", "/sandbox/v1/state/products", NULL, NULL);
    json_t *items = state_items(arr, "products");
    int64_t q = -1000000;
    size_t i, j;
    json_t *p, *s;

    json_array_foreach(items, i, p) {
        if (strcmp(sg_json_str(p, "id"), pid) != 0)
            continue;
        json_array_foreach(json_object_get(p, "skus"), j, s) {
            if (strcmp(sg_json_str(s, "id"), sku) == 0)
                q = sg_json_int(json_array_get(json_object_get(s,
                                                               "inventory"),
                                               0),
                                "quantity", -1000000);
        }
    }
    json_decref(arr);
    return q;
}

static json_t *line_ids(const char *order_id)
{
    json_t *o = order_get(order_id), *ids = json_array(), *l;
    size_t i;

    json_array_foreach(json_object_get(o, "line_items"), i, l)
        json_array_append_new(ids, json_string(sg_json_str(l, "id")));
    json_decref(o);
    return ids;
}

static void traffic_run(const char *spec)
{
    long st;
    json_t *j = ctl("POST", "/sandbox/v1/traffic", spec, &st);
    int i;

    assert_int_equal(st, 200);
    json_decref(j);
    for (i = 0; i < POLL_MAX; i++) {
        bool running;

        j = ctl("GET", "/sandbox/v1/traffic", NULL, NULL);
        running = json_is_true(json_object_get(j, "running"));
        json_decref(j);
        if (!running)
            return;
        usleep(25000);
    }
    fail_msg("traffic did not stop");
}

/* ---- setup ---- */

static int setup(void **state)
{
    static char bin[4096], a1[] = "sandbox", a2[] = "--listen",
                a3[] = "127.0.0.1:0", a4[] = "--seed", a5[] = "7";
    char *argv[8];
    char *log;
    json_t *info, *whs;
    size_t i;
    json_t *w;

    SG_UNUSED(state);
    memset(&S, 0, sizeof(S));
    S.dir = sgt_tmpdir();
    log = sgt_path(S.dir, "sandbox.log");
    snprintf(bin, sizeof(bin), "%s", sgt_surge_bin());
    argv[0] = bin;
    argv[1] = a1;
    argv[2] = a2;
    argv[3] = a3;
    argv[4] = a4;
    argv[5] = a5;
    argv[6] = NULL;
    if (sgt_spawn(&S.proc, argv, log) != 0) {
        sg_free(log);
        return -1;
    }
    sg_free(log);
    snprintf(S.base, sizeof(S.base), "%s", S.proc.url);
    info = ctl("GET", "/sandbox/v1/info", NULL, NULL);
    if (info == NULL)
        return -1;
    snprintf(S.app_key, sizeof(S.app_key), "%s",
             sg_json_str(info, "app_key"));
    snprintf(S.secret, sizeof(S.secret), "%s",
             sg_json_str(info, "app_secret"));
    snprintf(S.token, sizeof(S.token), "%s",
             sg_json_str(info, "access_token"));
    snprintf(S.refresh, sizeof(S.refresh), "%s",
             sg_json_str(info, "refresh_token"));
    w = json_array_get(json_object_get(info, "shops"), 0);
    snprintf(S.cipher, sizeof(S.cipher), "%s", sg_json_str(w, "cipher"));
    snprintf(S.shop_id, sizeof(S.shop_id), "%s", sg_json_str(w, "id"));
    S.skew_s = sg_json_int(info, "now", 0) - (int64_t)time(NULL);
    json_decref(info);
    whs = ctl("GET", "/sandbox/v1/state/warehouses", NULL, NULL);
    json_array_foreach(state_items(whs, "warehouses"), i, w) {
        const char *type = sg_json_str(w, "type");

        if (type == NULL || strcmp(type, "SALES_WAREHOUSE") == 0) {
            snprintf(S.warehouse, sizeof(S.warehouse), "%s",
                     sg_json_str(w, "id"));
            break;
        }
    }
    json_decref(whs);
    return S.warehouse[0] ? 0 : -1;
}

static int teardown(void **state)
{
    SG_UNUSED(state);
    sgt_stop(&S.proc, SIGTERM);
    sg_free(S.proc.log_path);
    sg_free(S.dir);
    return 0;
}

/* ---- tests ---- */

static void test_search_pagination_and_detail(void **state)
{
    char pid[32], sku[32], ids[7][32], q51[51 * 20 + 1];
    const char *qp[] = {"page_size", "3", "sort_field", "create_time",
                        "sort_order", "ASC", NULL, NULL, NULL};
    json_t *seen = json_object(), *env, *d, *o;
    char token[128] = "";
    int64_t total = -1;
    size_t i, pages = 0;

    SG_UNUSED(state);
    make_product(50, pid, sku);
    for (i = 0; i < 7; i++)
        assert_int_equal(order_try(sku, 1, ids[i]), 201);

    /* Walk every page; ids never repeat and add up to total_count. */
    do {
        qp[6] = token[0] ? "page_token" : NULL;
        qp[7] = token;
        env = api("POST", "/order/202309/orders/search", qp, "{}");
        d = data_of(env);
        if (total < 0)
            total = sg_json_int(d, "total_count", -1);
        assert_int_equal(sg_json_int(d, "total_count", -1), total);
        assert_true(json_array_size(json_object_get(d, "orders")) <= 3);
        json_array_foreach(json_object_get(d, "orders"), i, o) {
            assert_null(json_object_get(seen, sg_json_str(o, "id")));
            json_object_set_new(seen, sg_json_str(o, "id"), json_true());
        }
        snprintf(token, sizeof(token), "%s",
                 sg_json_str(d, "next_page_token")
                     ? sg_json_str(d, "next_page_token")
                     : "");
        json_decref(env);
    } while (token[0] != '\0' && ++pages < 100);
    assert_int_equal((int64_t)json_object_size(seen), total);
    for (i = 0; i < 7; i++)
        assert_non_null(json_object_get(seen, ids[i]));
    json_decref(seen);

    /* Filter on status. */
    env = api("POST", "/order/202309/orders/search",
              (const char *const[]){"page_size", "100", NULL},
              "{\"order_status\":\"COMPLETED\"}");
    json_array_foreach(json_object_get(data_of(env), "orders"), i, o)
        assert_string_equal(sg_json_str(o, "status"), "COMPLETED");
    json_decref(env);

    /* page_size above 100 is refused. */
    env = api("POST", "/order/202309/orders/search",
              (const char *const[]){"page_size", "101", NULL}, "{}");
    assert_true(code_of(env) != 0);
    json_decref(env);

    /* Detail of three, in the documented shape. */
    {
        char q[128];
        const char *qq[] = {"ids", q, NULL};

        snprintf(q, sizeof(q), "%s,%s,%s", ids[0], ids[1], ids[2]);
        env = api("GET", "/order/202309/orders", qq, NULL);
        d = data_of(env);
        assert_int_equal(json_array_size(json_object_get(d, "orders")), 3);
        o = json_array_get(json_object_get(d, "orders"), 0);
        assert_string_equal(sg_json_str(o, "status"), "AWAITING_SHIPMENT");
        assert_true(json_is_string(json_object_get(o, "id")));
        assert_true(json_is_string(json_object_get(
            json_object_get(o, "payment"), "total_amount")));
        assert_non_null(strstr(sg_json_str(json_object_get(
                                               o, "recipient_address"),
                                           "phone_number"),
                               "***"));
        assert_non_null(strchr(sg_json_str(o, "buyer_email"), '@'));
        assert_string_equal(sg_json_str(o, "fulfillment_type"),
                            "FULFILLMENT_BY_SELLER");
        assert_int_equal(json_array_size(json_object_get(o, "line_items")),
                         1);
        assert_null(json_object_get(o, "_sbx"));
        assert_true(sg_json_int(o, "paid_time", 0) > 0);
        /* Rendered from the state without a copy: the same view as the
         * search's, member for member, with nothing private. */
        {
            json_t *srch = api("POST", "/order/202309/orders/search",
                               (const char *const[]){"page_size", "100",
                                                     NULL},
                               "{}");
            json_t *dl = json_object_get(d, "orders"), *so, *line;
            size_t k, m, l, matched = 0;

            json_array_foreach(dl, k, o) {
                assert_null(json_object_get(o, "shop_id"));
                json_array_foreach(json_object_get(o, "line_items"), l, line)
                    assert_null(json_object_get(line, "_sbx"));
                json_array_foreach(json_object_get(data_of(srch), "orders"),
                                   m, so)
                    if (strcmp(sg_json_str(so, "id"),
                               sg_json_str(o, "id")) == 0) {
                        assert_true(json_equal(so, o));
                        matched++;
                    }
            }
            assert_int_equal(matched, 3);
            json_decref(srch);
        }
        json_decref(env);
        env = api("GET", "/order/202507/orders", qq, NULL);
        assert_int_equal(json_array_size(json_object_get(data_of(env),
                                                         "orders")),
                         3);
        json_decref(env);
    }

    /* More than 50 ids is an error. */
    q51[0] = '\0';
    for (i = 0; i < 51; i++) {
        size_t l = strlen(q51);

        snprintf(q51 + l, sizeof(q51) - l, "%s%s", i ? "," : "", ids[0]);
    }
    env = api("GET", "/order/202309/orders",
              (const char *const[]){"ids", q51, NULL}, NULL);
    assert_int_equal(code_of(env), 21001002);
    json_decref(env);
}

static void test_ship_to_completed(void **state)
{
    char pid[32], sku[32], oid[32], body[512], path[128];
    json_t *env, *d, *ids;
    char *ids_s;
    const char *pkg;
    char pkg_id[32];

    SG_UNUSED(state);
    make_product(10, pid, sku);
    assert_int_equal(order_try(sku, 2, oid), 201);
    ids = line_ids(oid);
    assert_int_equal(json_array_size(ids), 2);
    ids_s = sg_json_dump(ids, NULL);
    snprintf(body, sizeof(body),
             "{\"order_id\":\"%s\",\"order_line_item_ids\":%s}", oid, ids_s);
    sg_free(ids_s);
    json_decref(ids);
    env = api("POST", "/fulfillment/202309/packages", NULL, body);
    pkg = sg_json_str(data_of(env), "package_id");
    assert_non_null(pkg);
    snprintf(pkg_id, sizeof(pkg_id), "%s", pkg);
    json_decref(env);
    assert_status(oid, "AWAITING_SHIPMENT");

    snprintf(path, sizeof(path), "/fulfillment/202309/packages/%s/ship",
             pkg_id);
    env = api("POST", path, NULL,
              "{\"self_shipment\":{\"tracking_number\":\"1Z999\","
              "\"shipping_provider_id\":\"6617675021119438850\"}}");
    data_of(env);
    json_decref(env);
    assert_status(oid, "AWAITING_COLLECTION");
    /* Shipping twice is refused. */
    env = api("POST", path, NULL, "{\"handover_method\":\"DROP_OFF\"}");
    assert_true(code_of(env) != 0);
    json_decref(env);

    advance(3600 + 1);
    assert_status(oid, "IN_TRANSIT");
    advance(3 * 86400 + 1);
    assert_status(oid, "DELIVERED");
    advance(10 * 86400 + 1);
    assert_status(oid, "COMPLETED");

    snprintf(path, sizeof(path), "/fulfillment/202309/packages/%s", pkg_id);
    env = api("GET", path, NULL, NULL);
    d = data_of(env);
    assert_string_equal(sg_json_str(d, "package_status"), "COMPLETED");
    assert_string_equal(sg_json_str(d, "tracking_number"), "1Z999");
    json_decref(env);
}

static void test_partial_ship(void **state)
{
    char pid[32], sku[32], oid[32], body[512], path[128];
    json_t *env, *ids;

    SG_UNUSED(state);
    make_product(10, pid, sku);
    assert_int_equal(order_try(sku, 2, oid), 201);
    ids = line_ids(oid);
    snprintf(path, sizeof(path), "/fulfillment/202309/orders/%s/packages",
             oid);
    snprintf(body, sizeof(body),
             "{\"tracking_number\":\"T1\",\"shipping_provider_id\":"
             "\"6617675021119438849\",\"order_line_item_ids\":[\"%s\"]}",
             json_string_value(json_array_get(ids, 0)));
    env = api("POST", path, NULL, body);
    data_of(env);
    json_decref(env);
    assert_status(oid, "PARTIALLY_SHIPPING");

    /* The shipped line cannot be packed again. */
    env = api("POST", path, NULL, body);
    assert_true(code_of(env) != 0);
    json_decref(env);

    snprintf(body, sizeof(body),
             "{\"tracking_number\":\"T2\",\"shipping_provider_id\":"
             "\"6617675021119438849\",\"order_line_item_ids\":[\"%s\"]}",
             json_string_value(json_array_get(ids, 1)));
    env = api("POST", path, NULL, body);
    data_of(env);
    json_decref(env);
    json_decref(ids);
    assert_status(oid, "AWAITING_COLLECTION");
}

static void test_seller_cancel_restocks(void **state)
{
    char pid[32], sku[32], oid[32], body[256];
    json_t *env, *d;

    SG_UNUSED(state);
    make_product(5, pid, sku);
    assert_int_equal(order_try(sku, 3, oid), 201);
    assert_int_equal(stock_of(pid, sku), 2);
    snprintf(body, sizeof(body),
             "{\"order_id\":\"%s\",\"cancel_reason\":"
             "\"seller_out_of_stock\"}", oid);
    env = api("POST", "/return_refund/202309/cancellations", NULL, body);
    d = data_of(env);
    assert_non_null(sg_json_str(d, "cancel_id"));
    json_decref(env);
    assert_status(oid, "CANCELLED");
    assert_int_equal(stock_of(pid, sku), 5);
    /* A cancelled order cannot be cancelled again. */
    env = api("POST", "/return_refund/202309/cancellations", NULL, body);
    assert_true(code_of(env) != 0);
    json_decref(env);
    assert_int_equal(stock_of(pid, sku), 5);
}

static void test_zero_stock_refused(void **state)
{
    char pid[32], sku[32], oid[32];

    SG_UNUSED(state);
    make_product(1, pid, sku);
    assert_int_equal(order_try(sku, 2, NULL), 409);
    assert_int_equal(stock_of(pid, sku), 1);
    assert_int_equal(order_try(sku, 1, oid), 201);
    assert_int_equal(stock_of(pid, sku), 0);
    assert_int_equal(order_try(sku, 1, NULL), 409);
    assert_int_equal(stock_of(pid, sku), 0);
}

static void test_cancellation_requests(void **state)
{
    const char *q[] = {"page_size", "100", NULL};
    char pid[32], sku[32], path[160], c1[32], c2[32], o2[32];
    json_t *env, *d, *env2;
    char *a, *b;

    SG_UNUSED(state);
    make_product(30, pid, sku);
    traffic_run("{\"pattern\":\"steady\",\"rate\":50,\"duration_s\":5,"
                "\"max_orders\":3,\"units_max\":1,\"lines_max\":1,"
                "\"cancel_pct\":100}");
    env = api("POST", "/return_refund/202309/cancellations/search", q,
              "{\"cancel_status\":[\"CANCELLATION_REQUEST_PENDING\"]}");
    d = data_of(env);
    assert_true(json_array_size(json_object_get(d, "cancellations")) >= 2);
    snprintf(c1, sizeof(c1), "%s",
             sg_json_str(json_array_get(json_object_get(d, "cancellations"),
                                        0),
                         "cancel_id"));
    snprintf(c2, sizeof(c2), "%s",
             sg_json_str(json_array_get(json_object_get(d, "cancellations"),
                                        1),
                         "cancel_id"));
    snprintf(o2, sizeof(o2), "%s",
             sg_json_str(json_array_get(json_object_get(d, "cancellations"),
                                        1),
                         "order_id"));
    json_decref(env);

    /* Reject: the same key answers the same, once. */
    snprintf(path, sizeof(path),
             "/return_refund/202309/cancellations/%s/reject", c1);
    env = api("POST", path,
              (const char *const[]){"idempotency_key", "rej+/1", NULL},
              "{\"reject_reason\":\"reason_already_shipped\"}");
    env2 = api("POST", path,
               (const char *const[]){"idempotency_key", "rej+/1", NULL},
               "{\"reject_reason\":\"reason_already_shipped\"}");
    assert_int_equal(code_of(env), 0);
    assert_int_equal(code_of(env2), 0);
    a = sg_json_dump(json_object_get(env, "data"), NULL);
    b = sg_json_dump(json_object_get(env2, "data"), NULL);
    assert_string_equal(a, b);
    sg_free(a);
    sg_free(b);
    json_decref(env);
    json_decref(env2);
    /* A new key is a new decision, and the request is no longer pending. */
    env = api("POST", path,
              (const char *const[]){"idempotency_key", "rej-2", NULL},
              "{\"reject_reason\":\"x\"}");
    assert_int_equal(code_of(env), 25001003);
    json_decref(env);
    env = api("POST", "/return_refund/202309/cancellations/search", q,
              "{\"cancel_status\":[\"CANCELLATION_REQUEST_CANCEL\"]}");
    assert_true(json_array_size(json_object_get(data_of(env),
                                                "cancellations")) >= 1);
    json_decref(env);

    /* Approve: the order is cancelled. */
    snprintf(path, sizeof(path),
             "/return_refund/202309/cancellations/%s/approve", c2);
    env = api("POST", path, NULL, "{}");
    data_of(env);
    json_decref(env);
    assert_status(o2, "CANCELLED");
}

static const char *approve_decision(const char *type)
{
    if (strcmp(type, "REFUND") == 0)
        return "APPROVE_REFUND";
    if (strcmp(type, "REPLACEMENT") == 0)
        return "APPROVE_REPLACEMENT";
    return "APPROVE_RETURN";
}

static void test_return_approve_idempotent(void **state)
{
    const char *q[] = {"page_size", "100", NULL};
    char pid[32], sku[32], oid[32], path[160], rid[32], body[128];
    char rstatus[64];
    json_t *env, *rt, *recs;
    size_t nrec;

    SG_UNUSED(state);
    make_product(20, pid, sku);
    assert_int_equal(order_try(sku, 1, oid), 201);
    snprintf(path, sizeof(path), "/fulfillment/202309/orders/%s/packages",
             oid);
    env = api("POST", path, NULL,
              "{\"tracking_number\":\"R1\",\"shipping_provider_id\":"
              "\"6617675021119438849\"}");
    data_of(env);
    json_decref(env);
    advance(5 * 86400);
    assert_status(oid, "DELIVERED");
    traffic_run("{\"pattern\":\"steady\",\"rate\":50,\"duration_s\":5,"
                "\"max_orders\":1,\"units_max\":1,\"lines_max\":1,"
                "\"return_pct\":100}");
    env = api("POST", "/return_refund/202309/returns/search", q,
              "{\"return_status\":[\"RETURN_OR_REFUND_REQUEST_PENDING\"]}");
    rt = json_array_get(json_object_get(data_of(env), "return_orders"), 0);
    assert_non_null(rt);
    snprintf(rid, sizeof(rid), "%s", sg_json_str(rt, "return_id"));
    assert_true(json_is_string(json_object_get(json_object_get(
                                                   rt, "refund_amount"),
                                               "refund_total")));
    snprintf(body, sizeof(body), "{\"decision\":\"%s\"}",
             approve_decision(sg_json_str(rt, "return_type")));
    json_decref(env);

    snprintf(path, sizeof(path), "/return_refund/202309/returns/%s/approve",
             rid);
    env = api("POST", path, NULL, body);
    assert_int_equal(code_of(env), 25001001); /* key required */
    json_decref(env);
    env = api("POST", path,
              (const char *const[]){"idempotency_key", "ap-1", NULL}, body);
    data_of(env);
    json_decref(env);
    snprintf(path, sizeof(path), "/return_refund/202309/returns/%s/records",
             rid);
    env = api("GET", path, NULL, NULL);
    recs = json_object_get(data_of(env), "records");
    nrec = json_array_size(recs);
    assert_true(nrec >= 2);
    json_decref(env);
    env = api("POST", "/return_refund/202309/returns/search", q,
              "{}");
    {
        size_t i;
        json_t *r;

        rstatus[0] = '\0';
        json_array_foreach(json_object_get(data_of(env), "return_orders"),
                           i, r)
            if (strcmp(sg_json_str(r, "return_id"), rid) == 0)
                snprintf(rstatus, sizeof(rstatus), "%s",
                         sg_json_str(r, "return_status"));
    }
    json_decref(env);
    assert_true(strcmp(rstatus, "RETURN_OR_REFUND_REQUEST_SUCCESS") == 0 ||
                strcmp(rstatus, "AWAITING_BUYER_SHIP") == 0);

    /* Replay: same answer, no new record. */
    snprintf(path, sizeof(path), "/return_refund/202309/returns/%s/approve",
             rid);
    env = api("POST", path,
              (const char *const[]){"idempotency_key", "ap-1", NULL}, body);
    assert_int_equal(code_of(env), 0);
    json_decref(env);
    snprintf(path, sizeof(path), "/return_refund/202309/returns/%s/records",
             rid);
    env = api("GET", path, NULL, NULL);
    assert_int_equal(json_array_size(json_object_get(data_of(env),
                                                     "records")),
                     nrec);
    json_decref(env);
}

/* A misspelt or mistyped field of a traffic spec or timing is a 400 that
 * names it; nothing starts and no timing changes. */
static void test_traffic_spec_refused(void **state)
{
    static const struct {
        const char *spec, *says;
    } bad[] = {
        {"{\"pattern\":\"steady\",\"rat\":3}", "unknown field \"rat\""},
        {"{\"pattern\":\"steady\",\"rate\":\"3\"}", "rate must be a number"},
        {"{\"pattern\":7}", "pattern must be a string"},
        {"{\"timing\":{\"pay_ss\":1}}", "unknown timing \"pay_ss\""},
    };
    json_t *j, *before;
    long st = 0;

    SG_UNUSED(state);
    before = ctl("GET", "/sandbox/v1/timing", NULL, &st);
    assert_int_equal(st, 200);
    for (size_t i = 0; i < SG_ARRAY_SIZE(bad); i++) {
        j = ctl("POST", "/sandbox/v1/traffic", bad[i].spec, &st);
        assert_int_equal(st, 400);
        assert_non_null(sg_json_str(json_object_get(j, "error"), "message"));
        assert_non_null(strstr(
            sg_json_str(json_object_get(j, "error"), "message"), bad[i].says));
        json_decref(j);
    }
    j = ctl("PUT", "/sandbox/v1/timing", "{\"collect_s\":5,\"pay_ss\":1}",
            &st);
    assert_int_equal(st, 400);
    json_decref(j);
    j = ctl("GET", "/sandbox/v1/traffic", NULL, &st);
    assert_int_equal(st, 200);
    assert_non_null(json_object_get(j, "running"));
    assert_false(json_is_true(json_object_get(j, "running")));
    json_decref(j);
    j = ctl("GET", "/sandbox/v1/timing", NULL, &st);
    assert_true(json_equal(j, before));
    json_decref(j);
    json_decref(before);
}

static void test_traffic_never_oversells(void **state)
{
    char pid[32], sku[32];
    json_t *orders, *o, *l, *st;
    int64_t sold = 0, left;
    size_t i, j;

    SG_UNUSED(state);
    make_product(10, pid, sku);
    traffic_run("{\"pattern\":\"steady\",\"rate\":100,\"duration_s\":2,"
                "\"max_orders\":60,\"units_max\":3,\"lines_max\":2}");
    st = ctl("GET", "/sandbox/v1/traffic", NULL, NULL);
    assert_true(sg_json_int(st, "created", 0) > 0);
    assert_true(sg_json_int(st, "created", 0) +
                    sg_json_int(st, "rejected_out_of_stock", 0) <=
                60);
    assert_string_equal(sg_json_str(st, "pattern"), "steady");
    json_decref(st);

    orders = ctl("GET", "/sandbox/v1/state/orders", NULL, NULL);
    json_array_foreach(state_items(orders, "orders"), i, o) {
        json_array_foreach(json_object_get(o, "line_items"), j, l) {
            if (strcmp(sg_json_str(l, "sku_id"), sku) == 0 &&
                strcmp(sg_json_str(l, "display_status"), "CANCELLED") != 0)
                sold++;
        }
    }
    json_decref(orders);
    left = stock_of(pid, sku);
    assert_true(left >= 0);
    assert_true(sold <= 10);
    assert_int_equal(sold + left, 10);
}

/* Units of sku on orders (cancelled lines left out). */
static int64_t sold_of(const char *sku)
{
    json_t *orders = ctl("GET", "/sandbox/v1/state/orders", NULL, NULL);
    json_t *o, *l;
    int64_t sold = 0;
    size_t i, j;

    json_array_foreach(state_items(orders, "orders"), i, o) {
        json_array_foreach(json_object_get(o, "line_items"), j, l) {
            if (strcmp(sg_json_str(l, "sku_id"), sku) == 0 &&
                strcmp(sg_json_str(l, "display_status"), "CANCELLED") != 0)
                sold++;
        }
    }
    json_decref(orders);
    return sold;
}

/* The flood places orders back to back until max_orders, never selling
 * more than is listed; once stock runs out, attempts are refused. */
static void test_traffic_flood(void **state)
{
    char pid1[32], sku1[32], pid2[32], sku2[32];
    json_t *st;

    SG_UNUSED(state);
    make_product(37, pid1, sku1);
    make_product(41, pid2, sku2);
    traffic_run("{\"pattern\":\"flood\",\"duration_s\":20,"
                "\"max_orders\":300,\"units_max\":2,\"lines_max\":2}");
    st = ctl("GET", "/sandbox/v1/traffic", NULL, NULL);
    assert_string_equal(sg_json_str(st, "pattern"), "flood");
    assert_true(sg_json_int(st, "created", 0) > 0);
    assert_true(sg_json_int(st, "rejected_out_of_stock", 0) > 0);
    assert_int_equal(sg_json_int(st, "created", 0) +
                         sg_json_int(st, "rejected_out_of_stock", 0),
                     300);
    json_decref(st);
    assert_true(stock_of(pid1, sku1) >= 0);
    assert_true(stock_of(pid2, sku2) >= 0);
    assert_int_equal(sold_of(sku1) + stock_of(pid1, sku1), 37);
    assert_int_equal(sold_of(sku2) + stock_of(pid2, sku2), 41);
}

/*
 * While webhooks cannot be delivered (the receiver refuses connections;
 * failed deliveries wait for their retry), the flood stops placing orders
 * once 4,000 deliveries wait: the queue stays bounded and nothing is
 * dropped from it. Runs last: the queue stays full.
 */
static void test_traffic_flood_waits_for_webhooks(void **state)
{
    char pid[32], sku[32];
    json_t *st, *wh;
    int64_t created, queued;

    SG_UNUSED(state);
    json_decref(ctl("PUT", "/sandbox/v1/webhook_address",
                    "{\"address\":\"http://127.0.0.1:1/refused\"}", NULL));
    make_product(100000, pid, sku);
    traffic_run("{\"pattern\":\"flood\",\"duration_s\":3,"
                "\"max_orders\":50000,\"units_max\":1,\"lines_max\":1}");
    st = ctl("GET", "/sandbox/v1/traffic", NULL, NULL);
    created = sg_json_int(st, "created", 0);
    json_decref(st);
    wh = ctl("GET", "/sandbox/v1/webhooks", NULL, NULL);
    queued = sg_json_int(wh, "queued", -1);
    json_decref(wh);
    json_decref(ctl("PUT", "/sandbox/v1/webhook_address", "{}", NULL));
    /* Two webhooks an order (placed, paid); a chunk of 32 may overshoot. */
    assert_true(created > 0);
    assert_true(created < 50000);
    assert_true(queued <= 4000 + 2 * 32 + 16);
    assert_true(queued >= 2 * created - 16);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_search_pagination_and_detail),
        cmocka_unit_test(test_ship_to_completed),
        cmocka_unit_test(test_partial_ship),
        cmocka_unit_test(test_seller_cancel_restocks),
        cmocka_unit_test(test_zero_stock_refused),
        cmocka_unit_test(test_cancellation_requests),
        cmocka_unit_test(test_return_approve_idempotent),
        cmocka_unit_test(test_traffic_spec_refused),
        cmocka_unit_test(test_traffic_never_oversells),
        cmocka_unit_test(test_traffic_flood),
        cmocka_unit_test(test_traffic_flood_waits_for_webhooks),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
