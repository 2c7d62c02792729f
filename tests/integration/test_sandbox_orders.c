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

/* ---- an order's detail, member by member ---- */

/* Dump of v for messages (static buffer). */
static const char *dumps(const json_t *v)
{
    static char out[512];
    char *d = v ? sg_json_dump(v, NULL) : NULL;

    snprintf(out, sizeof(out), "%s", d ? d : "(missing)");
    sg_free(d);
    return out;
}

/*
 * got has exactly want's members, in want's order, each equal to want's
 * (line items compared the same way, one by one).
 */
static void assert_members(json_t *got, json_t *want, const char *where)
{
    void *it = json_object_iter(got);
    const char *k;
    json_t *v;

    json_object_foreach(want, k, v) {
        json_t *g = json_object_get(got, k);

        if (it == NULL || strcmp(json_object_iter_key(it), k) != 0)
            fail_msg("%s: member %s found %s, not in its place", where, k,
                     it ? json_object_iter_key(it) : "the end");
        if (strcmp(k, "line_items") == 0 && json_is_array(v)) {
            size_t i;
            json_t *l;

            if (json_array_size(g) != json_array_size(v))
                fail_msg("%s: %zu line items, want %zu", where,
                         json_array_size(g), json_array_size(v));
            json_array_foreach(v, i, l) {
                char w[96];

                snprintf(w, sizeof(w), "%s line %zu", where, i);
                assert_members(json_array_get(g, i), l, w);
            }
        } else if (!json_equal(g, v)) {
            char gs[512];

            snprintf(gs, sizeof(gs), "%s", dumps(g));
            fail_msg("%s: %s is %s, want %s", where, k, gs, dumps(v));
        }
        it = json_object_iter_next(got, it);
    }
    if (it != NULL)
        fail_msg("%s: unexpected member %s", where, json_object_iter_key(it));
}

static void set_s(json_t *o, const char *k, const char *v)
{
    json_object_set_new(o, k, json_string(v));
}

static void set_i(json_t *o, const char *k, int64_t v)
{
    json_object_set_new(o, k, json_integer(v));
}

/* One line of an order as placed: price in cents, display status. */
static json_t *want_line(const char *id, const char *sku, const char *pid,
                         int n, const char *disp)
{
    json_t *l = json_object();
    char buf[32];

    set_s(l, "id", id);
    set_s(l, "sku_id", sku);
    set_s(l, "product_id", pid);
    snprintf(buf, sizeof(buf), "Test mug %d", n);
    set_s(l, "product_name", buf);
    snprintf(buf, sizeof(buf), "MUG-%d", n);
    set_s(l, "sku_name", buf);
    set_s(l, "sku_image", ""); /* the product's images have no url */
    set_s(l, "seller_sku", buf);
    set_s(l, "original_price", "12.50");
    set_s(l, "sale_price", "12.50");
    set_s(l, "platform_discount", "0.00");
    set_s(l, "seller_discount", "0.00");
    set_s(l, "currency", "USD");
    set_s(l, "display_status", disp);
    set_s(l, "package_id", "");
    set_s(l, "package_status", "TO_FULFILL");
    set_s(l, "tracking_number", "");
    set_s(l, "shipping_provider_id", "");
    set_s(l, "shipping_provider_name", "");
    set_s(l, "cancel_user", "");
    set_s(l, "cancel_reason", "");
    set_s(l, "sku_type", "NORMAL");
    json_object_set_new(l, "is_gift", json_false());
    json_object_set_new(l, "item_tax", json_array());
    return l;
}

/*
 * The whole order as placed (reference 8.9's fields as this emulator
 * fills them). The buyer is drawn from a pool of 20: its index comes from
 * got's user_id and the phone's last four digits from got; every other
 * member follows from them.
 */
static json_t *want_placed(const json_t *got, const char *oid,
                           json_t *lines, int64_t sub_cents, bool paid)
{
    static const char firsts[] = "JMRPJJMLDEWBRSJJTSCK";
    static const char lasts[] = "SJWBJGMDRMHLGWATTMJM";
    static const char *const cities[4][3] = {
        {"Los Angeles", "California", "90001"},
        {"New York", "New York", "10001"},
        {"Houston", "Texas", "77001"},
        {"Seattle", "Washington", "98101"}};
    static const char *const zero[] = {
        "seller_discount", "platform_discount",
        "shipping_fee_seller_discount", "shipping_fee_platform_discount",
        "shipping_fee_cofunded_discount", "tax", "small_order_fee",
        "shipping_fee_tax", "product_tax", "retail_delivery_fee",
        "buyer_service_fee", "handling_fee", "shipping_insurance_fee",
        "item_insurance_fee"};
    const json_t *ga = json_object_get(got, "recipient_address");
    const char *uid = sg_json_str(got, "user_id");
    const char *phone = sg_json_str(ga, "phone_number");
    json_t *o = json_object(), *a = json_object(), *d = json_array();
    json_t *pay = json_object(), *hd = json_object();
    unsigned idx, city, tail;
    int64_t ct = sg_json_int(got, "create_time", 0);
    int64_t pt = sg_json_int(got, "paid_time", 0);
    char buf[160], line1[32];
    size_t i;

    assert_non_null(uid);
    assert_non_null(phone);
    assert_int_equal(strlen(uid), 19);
    assert_true(strncmp(uid, "74940000000000", 14) == 0);
    idx = (unsigned)atoi(uid + 14) - 10000;
    assert_true(idx < 20);
    city = idx % 4;
    assert_int_equal(strlen(phone), 16);
    tail = (unsigned)atoi(phone + 12);
    set_s(o, "id", oid);
    set_s(o, "status", paid ? "AWAITING_SHIPMENT" : "UNPAID");
    set_i(o, "create_time", ct);
    set_i(o, "update_time", paid ? pt : ct);
    set_s(o, "user_id", uid);
    snprintf(buf, sizeof(buf), "v2%08x%02u@scs2.tiktok.com",
             (idx + 1) * 2654435761u, idx);
    set_s(o, "buyer_email", buf);
    snprintf(buf, sizeof(buf), "%c****%u", firsts[idx], idx);
    set_s(o, "buyer_nickname", buf);
    snprintf(buf, sizeof(buf), "%c*** %c***", firsts[idx], lasts[idx]);
    set_s(a, "name", buf);
    snprintf(buf, sizeof(buf), "%c***", firsts[idx]);
    set_s(a, "first_name", buf);
    snprintf(buf, sizeof(buf), "%c***", lasts[idx]);
    set_s(a, "last_name", buf);
    snprintf(buf, sizeof(buf), "(+1)%03u-***-%04u", 201 + idx * 37 % 700,
             tail);
    set_s(a, "phone_number", buf);
    set_s(a, "region_code", "US");
    set_s(a, "postal_code", cities[city][2]);
    snprintf(line1, sizeof(line1), "%u** M*** St", 1 + idx % 9);
    set_s(a, "address_line1", line1);
    set_s(a, "address_line2", "");
    set_s(a, "address_line3", "");
    set_s(a, "address_line4", "");
    set_s(a, "address_detail", line1);
    snprintf(buf, sizeof(buf), "%s, %s, %s, %s, United States", line1,
             cities[city][0], cities[city][1], cities[city][2]);
    set_s(a, "full_address", buf);
    json_array_append_new(d, json_pack("{s:s,s:s,s:s}", "address_level_name",
                                       "Country", "address_name",
                                       "United States", "address_level",
                                       "L0"));
    json_array_append_new(d, json_pack("{s:s,s:s,s:s}", "address_level_name",
                                       "State", "address_name",
                                       cities[city][1], "address_level",
                                       "L1"));
    json_array_append_new(d, json_pack("{s:s,s:s,s:s}", "address_level_name",
                                       "City", "address_name",
                                       cities[city][0], "address_level",
                                       "L3"));
    json_object_set_new(a, "district_info", d);
    json_object_set_new(a, "delivery_preferences",
                        json_pack("{s:s}", "drop_off_location", ""));
    json_object_set_new(o, "recipient_address", a);
    set_s(o, "buyer_message", "");
    set_s(o, "seller_note", "");
    json_object_set_new(o, "line_items", lines);
    set_s(pay, "currency", "USD");
    snprintf(buf, sizeof(buf), "%" PRId64 ".%02" PRId64, sub_cents / 100,
             sub_cents % 100);
    set_s(pay, "sub_total", buf);
    set_s(pay, "shipping_fee", "5.99");
    set_s(pay, "original_shipping_fee", "5.99");
    set_s(pay, "original_total_product_price", buf);
    snprintf(buf, sizeof(buf), "%" PRId64 ".%02" PRId64,
             (sub_cents + 599) / 100, (sub_cents + 599) % 100);
    set_s(pay, "total_amount", buf);
    for (i = 0; i < SG_ARRAY_SIZE(zero); i++)
        set_s(pay, zero[i], "0.00");
    json_object_set_new(o, "payment", pay);
    json_object_set_new(o, "packages", json_array());
    set_s(o, "tracking_number", "");
    set_s(o, "shipping_provider", "");
    set_s(o, "shipping_provider_id", "");
    set_s(o, "fulfillment_type", "FULFILLMENT_BY_SELLER");
    set_s(o, "shipping_type", "SELLER");
    set_s(o, "delivery_type", "HOME_DELIVERY");
    set_s(o, "delivery_option_id", "7091146663229654785");
    set_s(o, "delivery_option_name", "Standard shipping");
    set_s(o, "warehouse_id", S.warehouse);
    json_object_set_new(o, "is_sample_order", json_false());
    json_object_set_new(o, "is_cod", json_false());
    json_object_set_new(o, "is_on_hold_order", json_false());
    json_object_set_new(o, "is_replacement_order", json_false());
    json_object_set_new(o, "is_buyer_request_cancel", json_false());
    json_object_set_new(o, "is_exchange_order", json_false());
    json_object_set_new(o, "has_updated_recipient_address", json_false());
    json_object_set_new(o, "need_upload_invoice", json_false());
    set_s(o, "order_type", "NORMAL");
    set_s(o, "commerce_platform", "TIKTOK_SHOP");
    set_s(o, "payment_method_name", "CCDC");
    set_s(hd, "days", "3");
    set_s(hd, "type", "BUSINESS_DAY");
    json_object_set_new(o, "handling_duration", hd);
    set_s(o, "cancellation_initiator", "");
    set_s(o, "cancel_reason", "");
    if (paid) {
        set_i(o, "paid_time", pt);
        set_i(o, "shipping_due_time", pt + 3 * 86400);
        set_i(o, "rts_sla_time", pt + 3 * 86400);
        set_i(o, "tts_sla_time", pt + 5 * 86400);
        set_i(o, "collection_due_time", pt + 5 * 86400);
        set_i(o, "delivery_due_time", pt + 10 * 86400);
    }
    return o;
}

/* Change the order timings (PUT /sandbox/v1/timing). */
static void set_timing(const char *spec)
{
    long st;
    json_t *j = ctl("PUT", "/sandbox/v1/timing", spec, &st);

    assert_int_equal(st, 200);
    json_decref(j);
}

/* Sandbox clock now (s). */
static int64_t sbx_now(void)
{
    return (int64_t)time(NULL) + S.skew_s;
}

/* Place lines (a JSON array text) as an order; its id into id. */
static void place(const char *lines, char id[32])
{
    char body[512];
    long st;
    json_t *j;

    snprintf(body, sizeof(body), "{\"lines\":%s}", lines);
    j = ctl("POST", "/sandbox/v1/orders", body, &st);
    assert_int_equal(st, 201);
    snprintf(id, 32, "%s", sg_json_str(json_object_get(j, "order"), "id"));
    json_decref(j);
}

/* The order as Get Order List shows it (found among the shop's). */
static json_t *order_listed(const char *id)
{
    const char *q[] = {"page_size", "100", NULL};
    json_t *env = api("POST", "/order/202309/orders/search", q, "{}");
    json_t *o, *hit = NULL;
    size_t i;

    json_array_foreach(json_object_get(data_of(env), "orders"), i, o)
        if (strcmp(sg_json_str(o, "id"), id) == 0)
            hit = json_incref(o);
    json_decref(env);
    assert_non_null(hit);
    return hit;
}

/* Get Order Detail, Get Order List and the emulator's answer to the
 * order's creation agree member by member, in order. */
static void assert_views_agree(const char *id, json_t *want,
                               const char *where)
{
    json_t *d = order_get(id), *l = order_listed(id);
    char w[96];

    snprintf(w, sizeof(w), "%s (detail)", where);
    assert_members(d, want, w);
    snprintf(w, sizeof(w), "%s (search)", where);
    assert_members(l, want, w);
    json_decref(d);
    json_decref(l);
}

/* Every order becomes a tree: the control plane's view of the orders. */
static void thaw_all(void)
{
    json_t *j = ctl("GET", "/sandbox/v1/state/orders", NULL, NULL);

    assert_non_null(state_items(j, "orders"));
    json_decref(j);
}

/*
 * A representative order through every status, member by member against
 * the expected JSON: placed with three lines of two products (kept
 * compact by the sandbox, then the same as a tree), split over two
 * packages, one line cancelled, shipped, in transit, delivered, completed;
 * an UNPAID order (payment later), an ON_HOLD one, and one cancelled
 * whole by the seller.
 */
static void test_order_detail_every_stage(void **state)
{
    char pa[32], sa[32], pb[32], sb[32], oid[32], o2[32], o3[32], o4[32];
    char lines[256], body[512], path[160], pkg1[32], pkg2[32];
    json_t *got, *want, *wl, *env, *l;
    int64_t t0, t1, ct, pt, now;
    const char *lid[3];
    json_t *ids;

    SG_UNUSED(state);
    make_product(10, pa, sa);
    make_product(11, pb, sb);
    snprintf(lines, sizeof(lines),
             "[{\"sku_id\":\"%s\",\"quantity\":2},"
             "{\"sku_id\":\"%s\",\"quantity\":1}]", sa, sb);
    t0 = sbx_now();
    place(lines, oid);
    t1 = sbx_now();

    /* Placed: AWAITING_SHIPMENT at once (pay_s 0). */
    got = order_get(oid);
    ct = sg_json_int(got, "create_time", 0);
    pt = sg_json_int(got, "paid_time", 0);
    assert_true(ct >= t0 - 1 && ct <= t1 + 1);
    assert_true(pt >= ct && pt <= t1 + 1);
    ids = line_ids(oid);
    assert_int_equal(json_array_size(ids), 3);
    for (size_t i = 0; i < 3; i++) {
        lid[i] = json_string_value(json_array_get(ids, i));
        assert_int_equal(strlen(lid[i]), 19);
    }
    assert_true(strcmp(lid[0], lid[1]) != 0 && strcmp(lid[1], lid[2]) != 0);
    wl = json_array();
    json_array_append_new(wl, want_line(lid[0], sa, pa, 10, "TO_SHIP"));
    json_array_append_new(wl, want_line(lid[1], sa, pa, 10, "TO_SHIP"));
    json_array_append_new(wl, want_line(lid[2], sb, pb, 11, "TO_SHIP"));
    want = want_placed(got, oid, wl, 3750, true);
    json_decref(got);
    assert_views_agree(oid, want, "placed");
    /* The same once every order is a tree. */
    thaw_all();
    assert_views_agree(oid, want, "placed, as a tree");

    /* Line 0 packed and shipped alone: PARTIALLY_SHIPPING, rts_time. */
    snprintf(path, sizeof(path), "/fulfillment/202309/orders/%s/packages",
             oid);
    snprintf(body, sizeof(body),
             "{\"tracking_number\":\"T1\",\"shipping_provider_id\":"
             "\"6617675021119438849\",\"order_line_item_ids\":[\"%s\"]}",
             lid[0]);
    env = api("POST", path, NULL, body);
    data_of(env);
    json_decref(env);
    got = order_get(oid);
    now = sg_json_int(got, "update_time", 0);
    assert_true(now >= pt);
    snprintf(pkg1, sizeof(pkg1), "%s",
             sg_json_str(json_array_get(json_object_get(got, "line_items"), 0),
                         "package_id"));
    assert_int_equal(strlen(pkg1), 19);
    set_s(want, "status", "PARTIALLY_SHIPPING");
    set_i(want, "update_time", now);
    json_object_set_new(want, "packages",
                        json_pack("[{s:s}]", "id", pkg1));
    set_s(want, "tracking_number", "T1");
    /* The provider's name is the emulator's table's; checked non-empty. */
    assert_true(strlen(sg_json_str(got, "shipping_provider")) > 0);
    set_s(want, "shipping_provider", sg_json_str(got, "shipping_provider"));
    set_s(want, "shipping_provider_id", "6617675021119438849");
    set_i(want, "rts_time", now);
    l = json_array_get(json_object_get(want, "line_items"), 0);
    set_s(l, "display_status", "SHIPPED");
    set_s(l, "package_id", pkg1);
    set_s(l, "package_status", "FULFILLING");
    set_s(l, "tracking_number", "T1");
    set_s(l, "shipping_provider_id", "6617675021119438849");
    set_s(l, "shipping_provider_name", sg_json_str(got, "shipping_provider"));
    json_decref(got);
    assert_views_agree(oid, want, "one line shipped");

    /* Line 2 cancelled by the seller: the order stays partly shipping. */
    snprintf(body, sizeof(body),
             "{\"order_id\":\"%s\",\"cancel_reason\":\"seller_out_of_stock\","
             "\"order_line_item_ids\":[\"%s\"]}", oid, lid[2]);
    env = api("POST", "/return_refund/202309/cancellations", NULL, body);
    data_of(env);
    json_decref(env);
    got = order_get(oid);
    now = sg_json_int(got, "update_time", 0);
    json_decref(got);
    set_i(want, "update_time", now);
    l = json_array_get(json_object_get(want, "line_items"), 2);
    set_s(l, "display_status", "CANCELLED");
    set_s(l, "package_status", "CANCELLED");
    set_s(l, "cancel_user", "SELLER");
    set_s(l, "cancel_reason", "seller_out_of_stock");
    assert_views_agree(oid, want, "one line cancelled");

    /* Line 1 in a second package: AWAITING_COLLECTION. */
    snprintf(body, sizeof(body),
             "{\"tracking_number\":\"T2\",\"shipping_provider_id\":"
             "\"6617675021119438849\",\"order_line_item_ids\":[\"%s\"]}",
             lid[1]);
    env = api("POST", path, NULL, body);
    data_of(env);
    json_decref(env);
    got = order_get(oid);
    now = sg_json_int(got, "update_time", 0);
    snprintf(pkg2, sizeof(pkg2), "%s",
             sg_json_str(json_array_get(json_object_get(got, "line_items"), 1),
                         "package_id"));
    assert_int_equal(strlen(pkg2), 19);
    assert_true(strcmp(pkg1, pkg2) != 0);
    set_s(want, "status", "AWAITING_COLLECTION");
    set_i(want, "update_time", now);
    json_object_set_new(want, "packages",
                        json_pack("[{s:s},{s:s}]", "id", pkg1, "id", pkg2));
    set_s(want, "tracking_number", "T2");
    l = json_array_get(json_object_get(want, "line_items"), 1);
    set_s(l, "display_status", "SHIPPED");
    set_s(l, "package_id", pkg2);
    set_s(l, "package_status", "FULFILLING");
    set_s(l, "tracking_number", "T2");
    set_s(l, "shipping_provider_id", "6617675021119438849");
    set_s(l, "shipping_provider_name", sg_json_str(got, "shipping_provider"));
    json_decref(got);
    assert_views_agree(oid, want, "both packages shipped");

    /* Collected, then delivered (delivery_time), then completed. */
    advance(3600 + 1);
    got = order_get(oid);
    set_s(want, "status", "IN_TRANSIT");
    set_i(want, "update_time", sg_json_int(got, "update_time", 0));
    assert_true(sg_json_int(got, "update_time", 0) > now);
    json_decref(got);
    assert_views_agree(oid, want, "in transit");
    advance(3 * 86400 + 1);
    got = order_get(oid);
    now = sg_json_int(got, "update_time", 0);
    json_decref(got);
    set_s(want, "status", "DELIVERED");
    set_i(want, "update_time", now);
    set_i(want, "delivery_time", now);
    for (size_t i = 0; i < 2; i++) {
        l = json_array_get(json_object_get(want, "line_items"), i);
        set_s(l, "display_status", "DELIVERED");
        set_s(l, "package_status", "COMPLETED");
    }
    assert_views_agree(oid, want, "delivered");
    advance(10 * 86400 + 1);
    got = order_get(oid);
    now = sg_json_int(got, "update_time", 0);
    json_decref(got);
    set_s(want, "status", "COMPLETED");
    set_i(want, "update_time", now);
    for (size_t i = 0; i < 2; i++) {
        l = json_array_get(json_object_get(want, "line_items"), i);
        set_s(l, "display_status", "COMPLETED");
    }
    assert_views_agree(oid, want, "completed");
    json_decref(want);
    json_decref(ids);

    /* UNPAID while payment waits (kept compact), then paid on time. */
    set_timing("{\"pay_s\":600}");
    snprintf(lines, sizeof(lines), "[{\"sku_id\":\"%s\",\"quantity\":1}]",
             sb);
    place(lines, o2);
    got = order_get(o2);
    ids = line_ids(o2);
    wl = json_array();
    json_array_append_new(wl, want_line(json_string_value(json_array_get(
                                            ids, 0)),
                                        sb, pb, 11, "UNPAID"));
    want = want_placed(got, o2, wl, 1250, false);
    json_decref(got);
    assert_views_agree(o2, want, "unpaid");
    advance(601);
    got = order_get(o2);
    json_decref(want);
    wl = json_array();
    json_array_append_new(wl, want_line(json_string_value(json_array_get(
                                            ids, 0)),
                                        sb, pb, 11, "TO_SHIP"));
    want = want_placed(got, o2, wl, 1250, true);
    assert_true(sg_json_int(got, "paid_time", 0) >=
                sg_json_int(got, "create_time", 0) + 600);
    json_decref(got);
    assert_views_agree(o2, want, "paid later");
    json_decref(want);
    json_decref(ids);

    /* ON_HOLD first when the timings say so. */
    set_timing("{\"pay_s\":0,\"hold_s\":300}");
    place(lines, o3);
    got = order_get(o3);
    ids = line_ids(o3);
    wl = json_array();
    json_array_append_new(wl, want_line(json_string_value(json_array_get(
                                            ids, 0)),
                                        sb, pb, 11, "ON_HOLD"));
    want = want_placed(got, o3, wl, 1250, true);
    set_s(want, "status", "ON_HOLD");
    json_object_set_new(want, "is_on_hold_order", json_true());
    json_decref(got);
    assert_views_agree(o3, want, "on hold");
    json_decref(want);
    json_decref(ids);
    set_timing("{\"hold_s\":0}");

    /* Cancelled whole by the seller while compact. */
    place(lines, o4);
    got = order_get(o4);
    ids = line_ids(o4);
    wl = json_array();
    json_array_append_new(wl, want_line(json_string_value(json_array_get(
                                            ids, 0)),
                                        sb, pb, 11, "TO_SHIP"));
    want = want_placed(got, o4, wl, 1250, true);
    json_decref(got);
    snprintf(body, sizeof(body),
             "{\"order_id\":\"%s\",\"cancel_reason\":\"seller_out_of_stock\"}",
             o4);
    env = api("POST", "/return_refund/202309/cancellations", NULL, body);
    data_of(env);
    json_decref(env);
    got = order_get(o4);
    now = sg_json_int(got, "update_time", 0);
    json_decref(got);
    set_s(want, "status", "CANCELLED");
    set_i(want, "update_time", now);
    set_s(want, "cancellation_initiator", "SELLER");
    set_s(want, "cancel_reason", "seller_out_of_stock");
    set_i(want, "cancel_time", now);
    l = json_array_get(json_object_get(want, "line_items"), 0);
    set_s(l, "display_status", "CANCELLED");
    set_s(l, "package_status", "CANCELLED");
    set_s(l, "cancel_user", "SELLER");
    set_s(l, "cancel_reason", "seller_out_of_stock");
    assert_views_agree(o4, want, "cancelled");
    json_decref(want);
    json_decref(ids);
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
        cmocka_unit_test(test_order_detail_every_stage),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
