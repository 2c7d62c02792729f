/*
 * test_sandbox_state.c - the TikTok Shop emulator's persistence, webhook
 * sender and the settings an outside client relies on, over real
 * sockets: every timer on the sandbox clock (audit, package progress,
 * webhook retries) surviving SIGTERM and, with state_save_ms 0, SIGKILL;
 * same seed, same ids; webhooks delivered with a bounded number in
 * flight so a slow receiver does not hold the others up, none lost; the
 * info document; --config with per-endpoint rate limits and faults;
 * scopes (105005); the 10,000-result search cap; buyer messages from the
 * traffic generator. The sandbox clock is advanced instead of sleeping.
 */
#include "core/sg.h"
#include "connectors/tiktok_shop/sign.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/json.h"

#include "testlib.h"

#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define POLL_MAX 400
#define HELD_MAX 64

struct sbx {
    struct sgt_proc proc;
    char *dir;
    char base[128];
    char app_key[64];
    char secret[128];
    char token[256];
    char refresh[256];
    char cipher[128];
    char shop_id[32];
    char warehouse[32];
    int64_t skew_s;
};

static struct sbx S;
static char last_retry_after[16];   /* of the last api_ex answer */

/* ---- plumbing ---- */

static json_t *parse(const struct sgt_resp *r)
{
    json_t *j = NULL;

    if (!r->body || sg_json_parse(&j, r->body, r->len, 64, NULL, NULL))
        return NULL;
    return j;
}

static json_t *ctl(const char *method, const char *path, const char *body,
                   long *status)
{
    const char *hdr[] = {"Content-Type: application/json", NULL};
    struct sgt_resp r;
    char url[512];
    json_t *j;

    snprintf(url, sizeof(url), "%s%s", S.base, path);
    assert_int_equal(sgt_http(&r, method, url, hdr, body,
                              body ? strlen(body) : 0),
                     0);
    if (status)
        *status = r.status;
    j = parse(&r);
    sgt_resp_free(&r);
    return j;
}

static void copy_str(char *dst, size_t n, const json_t *o, const char *k)
{
    const char *v = sg_json_str(o, k);

    assert_non_null(v);
    snprintf(dst, n, "%s", v);
}

static void load_info(void)
{
    json_t *info = ctl("GET", "/sandbox/v1/info", NULL, NULL), *shop, *w;
    size_t i;

    assert_non_null(info);
    copy_str(S.app_key, sizeof(S.app_key), info, "app_key");
    copy_str(S.secret, sizeof(S.secret), info, "app_secret");
    copy_str(S.token, sizeof(S.token), info, "access_token");
    copy_str(S.refresh, sizeof(S.refresh), info, "refresh_token");
    shop = json_array_get(json_object_get(info, "shops"), 0);
    copy_str(S.cipher, sizeof(S.cipher), shop, "cipher");
    copy_str(S.shop_id, sizeof(S.shop_id), shop, "id");
    S.skew_s = sg_json_int(info, "now", 0) - sg_clock_now_ms(NULL) / 1000;
    json_decref(info);
    info = ctl("GET", "/sandbox/v1/state/warehouses", NULL, NULL);
    S.warehouse[0] = '\0';
    json_array_foreach(json_object_get(info, "warehouses"), i, w) {
        const char *type = sg_json_str(w, "type");

        if (type && strcmp(type, "SALES_WAREHOUSE") == 0 &&
            json_is_true(json_object_get(w, "is_default")))
            copy_str(S.warehouse, sizeof(S.warehouse), w, "id");
    }
    json_decref(info);
    assert_true(S.warehouse[0] != '\0');
}

/* Start `surge sandbox --listen 127.0.0.1:0 --seed SEED extra...`. */
static void spawn(const char *seed, const char *const *extra)
{
    char *args[32];
    char *log = sgt_path(S.dir, "sandbox.log");
    size_t n = 0;

    args[n++] = sg_strdup(sgt_surge_bin());
    args[n++] = sg_strdup("sandbox");
    args[n++] = sg_strdup("--listen");
    args[n++] = sg_strdup("127.0.0.1:0");
    args[n++] = sg_strdup("--seed");
    args[n++] = sg_strdup(seed);
    for (size_t i = 0; extra && extra[i] && n < 30; i++)
        args[n++] = sg_strdup(extra[i]);
    args[n] = NULL;
    assert_int_equal(sgt_spawn(&S.proc, args, log), 0);
    for (size_t i = 0; i < n; i++)
        sg_free(args[i]);
    sg_free(log);
    snprintf(S.base, sizeof(S.base), "%s", S.proc.url);
    load_info();
}

static void begin(const char *seed, const char *const *extra)
{
    memset(&S, 0, sizeof(S));
    S.dir = sgt_tmpdir();
    spawn(seed, extra);
}

static void end(void)
{
    sgt_stop(&S.proc, SIGTERM);
    sg_free(S.proc.log_path);
    sg_free(S.dir);
    memset(&S, 0, sizeof(S));
}

static void url_enc(struct sg_buf *b, const char *v)
{
    for (; *v; v++) {
        unsigned char c = (unsigned char)*v;

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
            (c >= '0' && c <= '9') || strchr("-_.~", c))
            sg_buf_append(b, v, 1);
        else
            sg_buf_printf(b, "%%%02X", c);
    }
}

/*
 * Signed Open API call with shop_cipher (unless no_shop). q: NULL-ended
 * key, value pairs. Returns the envelope; *status the HTTP status.
 */
static json_t *api_ex(const char *method, const char *path,
                      const char *const *q, const char *body, bool no_shop,
                      bool bad_sign, long *status)
{
    struct sg_tts_param p[20];
    char ts[32], sig[65], tok[300];
    const char *hdr[3];
    struct sg_buf url;
    struct sgt_resp r;
    size_t n = 0;
    json_t *j;

    snprintf(ts, sizeof(ts), "%" PRId64,
             sg_clock_now_ms(NULL) / 1000 + S.skew_s);
    p[n++] = (struct sg_tts_param){"app_key", S.app_key};
    p[n++] = (struct sg_tts_param){"timestamp", ts};
    if (!no_shop)
        p[n++] = (struct sg_tts_param){"shop_cipher", S.cipher};
    for (size_t i = 0; q && q[i] && n < 18; i += 2)
        p[n++] = (struct sg_tts_param){q[i], q[i + 1]};
    assert_int_equal(sg_tts_sign(sig, S.secret, path, p, n, body,
                                 body ? strlen(body) : 0),
                     0);
    if (bad_sign)
        sig[0] = sig[0] == 'a' ? 'b' : 'a';
    sg_buf_init(&url, 8192);
    sg_buf_printf(&url, "%s%s?sign=%s", S.base, path, sig);
    for (size_t i = 0; i < n; i++) {
        sg_buf_printf(&url, "&%s=", p[i].key);
        url_enc(&url, p[i].value);
    }
    snprintf(tok, sizeof(tok), "x-tts-access-token: %s", S.token);
    hdr[0] = "Content-Type: application/json";
    hdr[1] = tok;
    hdr[2] = NULL;
    assert_int_equal(sgt_http(&r, method, url.data, hdr, body,
                              body ? strlen(body) : 0),
                     0);
    sg_buf_release(&url);
    if (status)
        *status = r.status;
    {
        char *ra = sgt_resp_header(&r, "Retry-After");

        snprintf(last_retry_after, sizeof(last_retry_after), "%s",
                 ra ? ra : "");
        sg_free(ra);
    }
    j = parse(&r);
    if (!j)
        fail_msg("%s %s: HTTP %ld, unparsable body", method, path, r.status);
    sgt_resp_free(&r);
    return j;
}

static json_t *api(const char *method, const char *path,
                   const char *const *q, const char *body)
{
    return api_ex(method, path, q, body, false, false, NULL);
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

static void advance(int64_t seconds)
{
    char body[64];
    long st;
    json_t *j;

    snprintf(body, sizeof(body), "{\"seconds\":%" PRId64 "}", seconds);
    j = ctl("POST", "/sandbox/v1/clock/advance", body, &st);
    assert_int_equal(st, 200);
    S.skew_s = sg_json_int(j, "now", 0) - sg_clock_now_ms(NULL) / 1000;
    json_decref(j);
}

static bool dump_has(const json_t *j, const char *needle)
{
    char *text = sg_json_dump(j, NULL);
    bool found = text && strstr(text, needle);

    sg_free(text);
    return found;
}

#define PRODUCT_BODY                                                           \
    "{\"title\":\"Pan %d\",\"description\":\"<p>pan</p>\","                   \
    "\"category_id\":\"601226\",\"main_images\":[{\"uri\":\"x\"}],"           \
    "\"package_dimensions\":{\"length\":\"10\",\"width\":\"10\","            \
    "\"height\":\"5\",\"unit\":\"CENTIMETER\"},"                              \
    "\"product_attributes\":[{\"id\":\"100392\",\"values\":[{\"id\":"         \
    "\"1000001\"}]}],"                                                        \
    "\"skus\":[{\"seller_sku\":\"PAN-%d\",\"price\":{\"amount\":\"19.90\","   \
    "\"currency\":\"USD\"},\"inventory\":[{\"warehouse_id\":\"%s\","          \
    "\"quantity\":50}]}]}"

/* A new product (audit pending); ids into pid and sku (32 bytes each). */
static void create_product(int n, char *pid, char *sku)
{
    char body[2048];
    json_t *env, *d;

    snprintf(body, sizeof(body), PRODUCT_BODY, n, n, S.warehouse);
    env = api("POST", "/product/202309/products", NULL, body);
    d = data_of(env);
    snprintf(pid, 32, "%s", sg_json_str(d, "product_id"));
    if (sku)
        snprintf(sku, 32, "%s",
                 sg_json_str(json_array_get(json_object_get(d, "skus"), 0),
                             "id"));
    json_decref(env);
}

static const char *product_status(const char *pid, char out[32])
{
    char path[128];
    json_t *env;

    snprintf(path, sizeof(path), "/product/202309/products/%s", pid);
    env = api("GET", path, NULL, NULL);
    snprintf(out, 32, "%s", sg_json_str(data_of(env), "status"));
    json_decref(env);
    return out;
}

static const char *order_status(const char *oid, char out[32])
{
    const char *q[] = {"ids", oid, NULL};
    json_t *env = api("GET", "/order/202309/orders", q, NULL);

    snprintf(out, 32, "%s",
             sg_json_str(json_array_get(json_object_get(data_of(env),
                                                        "orders"),
                                        0),
                         "status"));
    json_decref(env);
    return out;
}

/* An order of one unit of sku through the control plane; id into oid. */
static void create_order(const char *sku, char *oid)
{
    char body[256];
    long st;
    json_t *j;

    snprintf(body, sizeof(body),
             "{\"lines\":[{\"sku_id\":\"%s\",\"quantity\":1}]}", sku);
    j = ctl("POST", "/sandbox/v1/orders", body, &st);
    assert_int_equal(st, 201);
    copy_str(oid, 32, json_object_get(j, "order"), "id");
    json_decref(j);
}

/* Pack every open line of oid and ship it; package id into pkg. */
static void ship_order(const char *oid, char *pkg)
{
    char body[256], path[160];
    json_t *env;

    snprintf(body, sizeof(body), "{\"order_id\":\"%s\"}", oid);
    env = api("POST", "/fulfillment/202309/packages", NULL, body);
    copy_str(pkg, 32, data_of(env), "package_id");
    json_decref(env);
    snprintf(path, sizeof(path), "/fulfillment/202309/packages/%s/ship",
             pkg);
    env = api("POST", path, NULL,
              "{\"self_shipment\":{\"tracking_number\":\"1Z42\","
              "\"shipping_provider_id\":\"6617675021119438850\"}}");
    data_of(env);
    json_decref(env);
}

static char *write_file(const char *name, const char *text)
{
    char *path = sgt_path(S.dir, name);

    assert_int_equal(sgt_write_file(path, text), 0);
    return path;
}

/* ---- a webhook receiver that can hold answers back ---- */

struct receiver {
    int fd;
    unsigned port;
    pthread_t thread;
    pthread_mutex_t lock;
    json_t *got;               /* bodies, in arrival order */
    int held[HELD_MAX];        /* connections not answered yet */
    size_t n_held, max_held;
    atomic_bool open;          /* answer at once */
    atomic_bool stop;
    bool listening;
};

/* Static, so a failed test's teardown can still stop their threads. */
static struct receiver RV_A, RV_B;

static void answer(int c)
{
    static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n"
                             "Connection: close\r\n\r\n";

    (void)!write(c, ok, sizeof(ok) - 1);
    close(c);
}

static const char *ci_find(const char *h, const char *n)
{
    size_t nl = strlen(n);

    for (; *h; h++) {
        size_t i = 0;

        while (i < nl && h[i] && (h[i] | 0x20) == (n[i] | 0x20))
            i++;
        if (i == nl)
            return h;
    }
    return NULL;
}

/* Read one whole request from c into rv->got; false if none came. */
static bool read_request(struct receiver *rv, int c)
{
    char buf[32768];
    size_t len = 0;
    const char *hdr_end = NULL;
    long clen = -1;

    for (int guard = 0; guard < 100 && len < sizeof(buf) - 1; guard++) {
        struct pollfd pfd = {c, POLLIN, 0};
        ssize_t n;

        if (poll(&pfd, 1, 50) <= 0)
            continue;
        n = read(c, buf + len, sizeof(buf) - 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
        buf[len] = '\0';
        hdr_end = strstr(buf, "\r\n\r\n");
        if (hdr_end && clen < 0) {
            const char *cl = ci_find(buf, "content-length:");

            clen = cl ? strtol(cl + 15, NULL, 10) : 0;
        }
        if (hdr_end && (size_t)(hdr_end + 4 - buf) + (size_t)clen <= len)
            break;
    }
    if (!hdr_end || clen < 0)
        return false;
    pthread_mutex_lock(&rv->lock);
    json_array_append_new(rv->got, json_stringn(hdr_end + 4, (size_t)clen));
    pthread_mutex_unlock(&rv->lock);
    return true;
}

static void *receiver_main(void *arg)
{
    struct receiver *rv = arg;

    for (int i = 0; i < 4000 && !atomic_load(&rv->stop); i++) {
        struct pollfd pfd = {rv->fd, POLLIN, 0};

        if (atomic_load(&rv->open)) {
            pthread_mutex_lock(&rv->lock);
            while (rv->n_held)
                answer(rv->held[--rv->n_held]);
            pthread_mutex_unlock(&rv->lock);
        }
        if (poll(&pfd, 1, 10) > 0) {
            int c = accept(rv->fd, NULL, NULL);

            if (c < 0)
                continue;
            if (!read_request(rv, c)) {
                close(c);
                continue;
            }
            pthread_mutex_lock(&rv->lock);
            if (atomic_load(&rv->open) || rv->n_held == HELD_MAX) {
                answer(c);
            } else {
                rv->held[rv->n_held++] = c;
                if (rv->n_held > rv->max_held)
                    rv->max_held = rv->n_held;
            }
            pthread_mutex_unlock(&rv->lock);
        }
    }
    return NULL;
}

/* Bind a loopback port; connections are refused until receiver_listen. */
static void receiver_bind(struct receiver *rv, bool open)
{
    struct sockaddr_in a = {0};
    socklen_t al = sizeof(a);

    memset(rv, 0, sizeof(*rv));
    rv->fd = socket(AF_INET, SOCK_STREAM, 0);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(rv->fd, (struct sockaddr *)&a, sizeof(a)), 0);
    getsockname(rv->fd, (struct sockaddr *)&a, &al);
    rv->port = ntohs(a.sin_port);
    rv->got = json_array();
    atomic_store(&rv->open, open);
    pthread_mutex_init(&rv->lock, NULL);
}

static void receiver_listen(struct receiver *rv)
{
    assert_int_equal(listen(rv->fd, 128), 0);
    pthread_create(&rv->thread, NULL, receiver_main, rv);
    rv->listening = true;
}

static void receiver_stop(struct receiver *rv)
{
    if (!rv->got)
        return;
    if (rv->listening) {
        atomic_store(&rv->open, true);
        atomic_store(&rv->stop, true);
        pthread_join(rv->thread, NULL);
    }
    while (rv->n_held)
        answer(rv->held[--rv->n_held]);
    close(rv->fd);
    json_decref(rv->got);
    pthread_mutex_destroy(&rv->lock);
    memset(rv, 0, sizeof(*rv));
}

static size_t received(struct receiver *rv)
{
    size_t n;

    pthread_mutex_lock(&rv->lock);
    n = json_array_size(rv->got);
    pthread_mutex_unlock(&rv->lock);
    return n;
}

static size_t held(struct receiver *rv)
{
    size_t n;

    pthread_mutex_lock(&rv->lock);
    n = rv->n_held;
    pthread_mutex_unlock(&rv->lock);
    return n;
}

/* Has rv received a body containing every needle (NULL-ended)? */
static bool got_all(struct receiver *rv, const char *const *needles)
{
    size_t i;
    json_t *b;
    bool all = true;

    pthread_mutex_lock(&rv->lock);
    for (size_t k = 0; needles[k]; k++) {
        bool one = false;

        json_array_foreach(rv->got, i, b) {
            if (strstr(json_string_value(b), needles[k]))
                one = true;
        }
        all = all && one;
    }
    pthread_mutex_unlock(&rv->lock);
    return all;
}

static bool wait_got(struct receiver *rv, const char *const *needles)
{
    for (int i = 0; i < POLL_MAX; i++) {
        if (got_all(rv, needles))
            return true;
        usleep(25000);
    }
    return false;
}

static bool wait_count(struct receiver *rv, size_t n)
{
    for (int i = 0; i < POLL_MAX; i++) {
        if (received(rv) >= n)
            return true;
        usleep(25000);
    }
    return false;
}

/* ---- timers across a restart ---- */

/*
 * Before the stop: an audit pending (due in 60 s), a package just shipped
 * (AWAITING_COLLECTION; collect_s 600 and deliver_s 1200 set through the
 * traffic generator's timing, which is saved too), and the receiver
 * refusing connections, so the audit-free webhooks so far wait for a
 * retry. After the restart the clock moves and everything fires.
 */
static void timers_survive(int sig)
{
    char addr[96], cfgjson[256], pid[32], pid2[32], sku[32], oid[32];
    char pkg[32], st[32], *cfg, *state;
    const char *extra[] = {"--state", NULL, "--config", NULL,
                           "--audit-delay-ms", "60000", NULL};
    struct receiver *rv = &RV_A;
    long code;
    json_t *j;
    char needle_audit[96], needle_deliv[96];
    const char *needles[3];

    memset(&S, 0, sizeof(S));
    S.dir = sgt_tmpdir();
    receiver_bind(rv, true);
    snprintf(addr, sizeof(addr), "http://127.0.0.1:%u/hook", rv->port);
    snprintf(cfgjson, sizeof(cfgjson),
             "{\"webhook_address\":\"%s\",\"webhook_retry_ms\":\"30000\","
             "\"state_save_ms\":%d}",
             addr, sig == SIGKILL ? 0 : 200);
    cfg = write_file("sandbox.json", cfgjson);
    state = sgt_path(S.dir, "state.json");
    extra[1] = state;
    extra[3] = cfg;
    spawn("11", extra);

    j = ctl("PUT", "/sandbox/v1/timing",
            "{\"collect_s\":600,\"deliver_s\":1200}", &code);
    assert_int_equal(code, 200);
    assert_int_equal(sg_json_int(j, "collect_s", 0), 600);
    json_decref(j);
    create_product(1, pid, sku);
    advance(61);
    assert_string_equal(product_status(pid, st), "ACTIVATE");
    create_order(sku, oid);
    ship_order(oid, pkg);
    assert_string_equal(order_status(oid, st), "AWAITING_COLLECTION");
    create_product(2, pid2, NULL);
    assert_string_equal(product_status(pid2, st), "PENDING");

    if (sig == SIGTERM)
        assert_true(WIFEXITED(sgt_stop(&S.proc, SIGTERM)));
    else
        assert_true(WIFSIGNALED(sgt_stop(&S.proc, SIGKILL)));
    sg_free(S.proc.log_path);
    S.proc.log_path = NULL;
    spawn("11", extra);

    assert_string_equal(product_status(pid2, st), "PENDING");
    assert_string_equal(order_status(oid, st), "AWAITING_COLLECTION");
    j = ctl("GET", "/sandbox/v1/webhooks", NULL, NULL);
    assert_true(sg_json_int(j, "queued", 0) >= 1);
    json_decref(j);
    receiver_listen(rv);
    advance(61);
    assert_string_equal(product_status(pid2, st), "ACTIVATE");
    advance(601);
    assert_string_equal(order_status(oid, st), "IN_TRANSIT");
    advance(1201);
    assert_string_equal(order_status(oid, st), "DELIVERED");
    /* The timers ran in the new process: its webhooks arrive. */
    snprintf(needle_audit, sizeof(needle_audit),
             "\"product_id\":\"%s\",\"audit\"", pid2);
    snprintf(needle_deliv, sizeof(needle_deliv),
             "\"order_id\":\"%s\",\"order_status\":\"DELIVERED\"", oid);
    needles[0] = needle_audit;
    needles[1] = needle_deliv;
    needles[2] = NULL;
    assert_true(wait_got(rv, needles));
    /* What was queued before the stop: the first audit's type 37. */
    snprintf(needle_audit, sizeof(needle_audit),
             "\"product_id\":\"%s\",\"audit\"", pid);
    needles[1] = NULL;
    assert_true(wait_got(rv, needles));
    /* The timings came back from the state file too. */
    j = ctl("GET", "/sandbox/v1/timing", NULL, NULL);
    assert_int_equal(sg_json_int(j, "deliver_s", 0), 1200);
    json_decref(j);
    receiver_stop(rv);
    sg_free(cfg);
    sg_free(state);
    end();
}

static void timers_survive_sigterm(void **state)
{
    SG_UNUSED(state);
    timers_survive(SIGTERM);
}

static void timers_survive_sigkill(void **state)
{
    SG_UNUSED(state);
    timers_survive(SIGKILL);
}

/* ---- same seed, same ids ---- */

struct ids {
    char pid[32], sku[32], oid[32], pkg[32], token[256], cipher[128];
};

static void run_script(const char *seed, struct ids *out)
{
    char st[32];

    begin(seed, NULL);
    create_product(7, out->pid, out->sku);
    advance(5);
    assert_string_equal(product_status(out->pid, st), "ACTIVATE");
    create_order(out->sku, out->oid);
    ship_order(out->oid, out->pkg);
    snprintf(out->token, sizeof(out->token), "%s", S.token);
    snprintf(out->cipher, sizeof(out->cipher), "%s", S.cipher);
    end();
}

static void same_seed_same_ids(void **state)
{
    struct ids a, b, c;

    SG_UNUSED(state);
    run_script("5", &a);
    run_script("5", &b);
    run_script("6", &c);
    assert_string_equal(a.pid, b.pid);
    assert_string_equal(a.sku, b.sku);
    assert_string_equal(a.oid, b.oid);
    assert_string_equal(a.pkg, b.pkg);
    assert_string_equal(a.token, b.token);
    assert_string_equal(a.cipher, b.cipher);
    assert_string_not_equal(a.pid, c.pid);
    assert_string_not_equal(a.oid, c.oid);
    assert_string_not_equal(a.cipher, c.cipher);
}

/* ---- webhook sender ---- */

static void subscribe(const char *event, unsigned port)
{
    char body[160];
    json_t *env;

    snprintf(body, sizeof(body),
             "{\"address\":\"http://127.0.0.1:%u/fast\",\"event_type\":"
             "\"%s\"}",
             port, event);
    env = api("PUT", "/event/202309/webhooks", NULL, body);
    data_of(env);
    json_decref(env);
}

/*
 * A receiver that never answers (until released) holds deliveries in
 * flight; another receiver still gets all of its own, and once the slow
 * one answers nothing is missing.
 */
static void slow_receiver_does_not_block(void **state)
{
    struct receiver *slow = &RV_A, *fast = &RV_B;
    char addr[96], pid[32], *cfg;
    const char *extra[] = {"--webhook-address", addr, "--audit-delay-ms",
                           "1000", "--config", NULL, NULL};
    json_t *log;
    int i;

    SG_UNUSED(state);
    receiver_bind(slow, false);
    receiver_bind(fast, true);
    receiver_listen(slow);
    receiver_listen(fast);
    snprintf(addr, sizeof(addr), "http://127.0.0.1:%u/slow", slow->port);
    memset(&S, 0, sizeof(S));
    S.dir = sgt_tmpdir();
    /* Long attempts: a held delivery must not time out and free a slot. */
    cfg = write_file("sandbox.json", "{\"webhook_timeout_ms\":60000,"
                                     "\"webhook_address_concurrency\":16}");
    extra[SG_ARRAY_SIZE(extra) - 2] = cfg;
    spawn("3", extra);
    subscribe("PRODUCT_AUDIT_STATUS_CHANGE", fast->port);
    for (i = 0; i < 8; i++)
        create_product(100 + i, pid, NULL);
    advance(2);
    /* 8 x type 37 to the fast receiver, while the slow one holds on. */
    assert_true(wait_count(fast, 8));
    assert_int_equal(received(fast), 8);
    for (i = 0; i < POLL_MAX && held(slow) < 4; i++)
        usleep(25000);
    assert_true(held(slow) >= 4);
    atomic_store(&slow->open, true);
    /* 8 x 37 and 8 x 5 to the default address: none lost. */
    assert_true(wait_count(slow, 16));
    for (i = 0; i < POLL_MAX; i++) {
        log = ctl("GET", "/sandbox/v1/webhooks", NULL, NULL);
        if (sg_json_int(log, "queued", -1) == 0)
            break;
        json_decref(log);
        log = NULL;
        usleep(25000);
    }
    assert_non_null(log);
    assert_false(dump_has(log, "\"dropped\""));
    json_decref(log);
    assert_int_equal(received(slow), 16);
    sg_free(cfg);
    end();
    receiver_stop(slow);
    receiver_stop(fast);
}

/* --webhook-concurrency N: never more than N deliveries in flight. */
static void concurrency_is_bounded(void **state)
{
    struct receiver *slow = &RV_A;
    char addr[96], pid[32], *cfg;
    const char *extra[] = {"--webhook-address", addr, "--audit-delay-ms",
                           "1000", "--webhook-concurrency", "3", "--config",
                           NULL, NULL};
    int i;

    SG_UNUSED(state);
    receiver_bind(slow, false);
    receiver_listen(slow);
    snprintf(addr, sizeof(addr), "http://127.0.0.1:%u/slow", slow->port);
    memset(&S, 0, sizeof(S));
    S.dir = sgt_tmpdir();
    /* Long attempts: a held delivery must not time out and free a slot. */
    cfg = write_file("sandbox.json", "{\"webhook_timeout_ms\":60000,"
                                     "\"webhook_address_concurrency\":16}");
    extra[SG_ARRAY_SIZE(extra) - 2] = cfg;
    spawn("3", extra);
    for (i = 0; i < 5; i++)
        create_product(200 + i, pid, NULL);
    advance(2);
    for (i = 0; i < POLL_MAX && held(slow) < 3; i++)
        usleep(25000);
    assert_int_equal(held(slow), 3);
    /* Give a fourth transfer the chance to show up; it must not. */
    usleep(300000);
    pthread_mutex_lock(&slow->lock);
    assert_int_equal(slow->max_held, 3);
    pthread_mutex_unlock(&slow->lock);
    atomic_store(&slow->open, true);
    assert_true(wait_count(slow, 10));
    sg_free(cfg);
    end();
    receiver_stop(slow);
}

/*
 * By default each address gets one delivery at a time, in the order the
 * events happened (notification ids grow with the seeded counter).
 */
static void one_address_in_order_by_default(void **state)
{
    struct receiver *slow = &RV_A;
    char addr[96], pid[32], *cfg;
    const char *extra[] = {"--webhook-address", addr, "--audit-delay-ms",
                           "1000", "--config", NULL, NULL};
    uint64_t last = 0;
    size_t i;
    json_t *b;

    SG_UNUSED(state);
    receiver_bind(slow, false);
    receiver_listen(slow);
    snprintf(addr, sizeof(addr), "http://127.0.0.1:%u/slow", slow->port);
    memset(&S, 0, sizeof(S));
    S.dir = sgt_tmpdir();
    cfg = write_file("sandbox.json", "{\"webhook_timeout_ms\":60000}");
    extra[5] = cfg;
    spawn("3", extra);
    for (i = 0; i < 4; i++)
        create_product(300 + (int)i, pid, NULL);
    advance(2);
    for (i = 0; i < POLL_MAX && held(slow) < 1; i++)
        usleep(25000);
    usleep(300000);
    pthread_mutex_lock(&slow->lock);
    assert_int_equal(slow->max_held, 1);
    pthread_mutex_unlock(&slow->lock);
    atomic_store(&slow->open, true);
    assert_true(wait_count(slow, 8));
    pthread_mutex_lock(&slow->lock);
    json_array_foreach(slow->got, i, b) {
        json_t *doc = json_loads(json_string_value(b), 0, NULL);
        const char *nid = sg_json_str(doc, "tts_notification_id");
        uint64_t v = nid ? strtoull(nid, NULL, 10) : 0;

        assert_true(v > last);
        last = v;
        json_decref(doc);
    }
    pthread_mutex_unlock(&slow->lock);
    sg_free(cfg);
    end();
    receiver_stop(slow);
}

/* ---- settings, info, checks ---- */

static void info_document_shape(void **state)
{
    const char *keys[] = {"base_url", "app_key", "app_secret",
                          "access_token", "refresh_token"};
    json_t *info, *shop;

    SG_UNUSED(state);
    begin("9", NULL);
    info = ctl("GET", "/sandbox/v1/info", NULL, NULL);
    for (size_t i = 0; i < SG_ARRAY_SIZE(keys); i++) {
        assert_non_null(sg_json_str(info, keys[i]));
        assert_true(sg_json_str(info, keys[i])[0] != '\0');
    }
    assert_string_equal(sg_json_str(info, "base_url"), S.base);
    assert_int_equal(json_array_size(json_object_get(info, "shops")), 1);
    shop = json_array_get(json_object_get(info, "shops"), 0);
    assert_non_null(sg_json_str(shop, "id"));
    assert_non_null(sg_json_str(shop, "cipher"));
    assert_non_null(sg_json_str(shop, "name"));
    assert_non_null(sg_json_str(shop, "region"));
    json_decref(info);
    end();
}

/*
 * --config: per-endpoint rate limit (1 QPS on brands, the default
 * untouched elsewhere), a fault list with a rate, and debug signatures
 * off by default (no expected base string in 106001).
 */
static void config_file_settings(void **state)
{
    char *cfg;
    const char *extra[] = {"--config", NULL, NULL};
    int limited = 0, cats_ok = 0;
    long st;
    json_t *j;

    SG_UNUSED(state);
    memset(&S, 0, sizeof(S));
    S.dir = sgt_tmpdir();
    cfg = write_file("sandbox.json",
                     "{\"rate_limits\":{\"/product/202309/brands\":1},"
                     "\"rate_limit_retry_after_s\":3,"
                     "\"faults\":[{\"path\":\"/logistics/202309/warehouses\","
                     "\"kind\":\"500\",\"rate\":1.0}]}");
    extra[1] = cfg;
    spawn("4", extra);
    for (int i = 0; i < 6; i++) {
        j = api_ex("GET", "/product/202309/brands", NULL, NULL, false, false,
                   &st);
        if (st == 429 && code_of(j) == 36009002) {
            limited++;
            assert_string_equal(last_retry_after, "3");
        }
        json_decref(j);
        j = api_ex("GET", "/product/202309/categories", NULL, NULL, false,
                   false, &st);
        if (st == 200 && code_of(j) == 0)
            cats_ok++;
        json_decref(j);
    }
    assert_true(limited >= 1);
    assert_int_equal(cats_ok, 6);
    j = api_ex("GET", "/logistics/202309/warehouses", NULL, NULL, false,
               false, &st);
    assert_int_equal(st, 500);
    assert_int_equal(code_of(j), 36009003);
    json_decref(j);
    j = api_ex("GET", "/authorization/202309/shops", NULL, NULL, true, true,
               &st);
    assert_int_equal(st, 401);
    assert_int_equal(code_of(j), 106001);
    assert_null(json_object_get(json_object_get(j, "data"),
                                "expected_base_string"));
    json_decref(j);
    sg_free(cfg);
    end();
}

static void scopes_are_enforced(void **state)
{
    char body[512];
    long st;
    json_t *j;

    SG_UNUSED(state);
    begin("8", NULL);
    snprintf(body, sizeof(body),
             "{\"access_token\":\"%s\",\"scopes\":[\"seller.order.info\"]}",
             S.token);
    json_decref(ctl("POST", "/sandbox/v1/tokens/scopes", body, &st));
    assert_int_equal(st, 200);
    j = api_ex("POST", "/product/202309/products/search", NULL, "{}", false,
               false, &st);
    assert_int_equal(code_of(j), 105005);
    assert_int_equal(st, 403);
    json_decref(j);
    j = api_ex("POST", "/order/202309/orders/search", NULL, "{}", false,
               false, &st);
    assert_int_equal(code_of(j), 0);
    json_decref(j);
    end();
}

/* Paging to the end stops at 10,000 results with 12052180. */
static void search_cap_10000(void **state)
{
    char pid[32], token[128] = "", body[96];
    size_t pages = 0, seen = 0;
    long st;
    json_t *j;

    SG_UNUSED(state);
    begin("2", NULL);
    create_product(1, pid, NULL);
    snprintf(body, sizeof(body), "{\"from\":\"%s\",\"count\":10049}", pid);
    j = ctl("POST", "/sandbox/v1/products/bulk", body, &st);
    assert_int_equal(st, 201);
    assert_int_equal(sg_json_int(j, "count", 0), 10050);
    json_decref(j);
    for (; pages < 110; pages++) {
        const char *q[] = {"page_size", "100", "page_token", token, NULL};
        json_t *d;

        if (!token[0])
            q[2] = NULL;
        j = api("POST", "/product/202309/products/search", q, "{}");
        if (code_of(j) == 12052180) {
            json_decref(j);
            break;
        }
        d = data_of(j);
        assert_int_equal(sg_json_int(d, "total_count", 0), 10050);
        seen += json_array_size(json_object_get(d, "products"));
        snprintf(token, sizeof(token), "%s",
                 sg_json_str(d, "next_page_token"));
        json_decref(j);
        assert_true(token[0] != '\0');
    }
    assert_int_equal(pages, 100);
    assert_int_equal(seen, 10000);
    end();
}

/* Buyers write to the shop from the traffic generator (message_pct). */
static void traffic_buyer_messages(void **state)
{
    char pid[32], sku[32];
    long st;
    json_t *j, *env;
    int i;

    SG_UNUSED(state);
    begin("12", NULL);
    create_product(1, pid, sku);
    advance(5);
    j = ctl("POST", "/sandbox/v1/traffic",
            "{\"pattern\":\"steady\",\"rate\":200,\"max_orders\":5,"
            "\"duration_s\":5,\"message_pct\":100}",
            &st);
    assert_int_equal(st, 200);
    json_decref(j);
    for (i = 0; i < POLL_MAX; i++) {
        j = ctl("GET", "/sandbox/v1/traffic", NULL, NULL);
        if (!json_is_true(json_object_get(j, "running")))
            break;
        json_decref(j);
        j = NULL;
        usleep(25000);
    }
    assert_non_null(j);
    assert_true(sg_json_int(j, "messages", 0) >= 1);
    json_decref(j);
    env = api("GET", "/customer_service/202309/conversations", NULL, NULL);
    assert_true(json_array_size(json_object_get(data_of(env),
                                                "conversations")) >= 1);
    json_decref(env);
    end();
}

static int teardown(void **state)
{
    SG_UNUSED(state);
    if (S.proc.pid > 0)
        end();
    receiver_stop(&RV_A);
    receiver_stop(&RV_B);
    return 0;
}

/* Webhook 3: the buyer changes the address before shipping. */
static void recipient_address_update(void **state)
{
    struct receiver *rv = &RV_A;
    char addr[96], pid[32], sku[32], oid[32], pkg[32], path[96];
    char needle[96];
    const char *extra[] = {"--webhook-address", addr, NULL};
    const char *needles[] = {needle, NULL};
    const char *q[] = {"ids", oid, NULL};
    long st;
    json_t *j, *o;

    SG_UNUSED(state);
    receiver_bind(rv, true);
    receiver_listen(rv);
    snprintf(addr, sizeof(addr), "http://127.0.0.1:%u/hook", rv->port);
    begin("13", extra);
    create_product(1, pid, sku);
    advance(5);
    create_order(sku, oid);
    snprintf(path, sizeof(path), "/sandbox/v1/orders/%s/address", oid);
    json_decref(ctl("POST", path, "{}", &st));
    assert_int_equal(st, 200);
    j = api("GET", "/order/202309/orders", q, NULL);
    o = json_array_get(json_object_get(data_of(j), "orders"), 0);
    assert_true(json_is_true(json_object_get(o,
                                             "has_updated_recipient_address")));
    assert_non_null(strstr(sg_json_str(json_object_get(o,
                                                       "recipient_address"),
                                       "full_address"),
                           "O** Ave"));
    json_decref(j);
    snprintf(needle, sizeof(needle), "\"type\":3,");
    assert_true(wait_got(rv, needles));
    snprintf(needle, sizeof(needle), "{\"order_id\":\"%s\",\"update_time\"",
             oid);
    assert_true(wait_got(rv, needles));
    ship_order(oid, pkg);
    json_decref(ctl("POST", path, "{}", &st));
    assert_int_equal(st, 409);
    /* From the traffic generator too. */
    j = ctl("POST", "/sandbox/v1/traffic",
            "{\"pattern\":\"steady\",\"rate\":200,\"max_orders\":3,"
            "\"duration_s\":5,\"address_pct\":100}",
            &st);
    assert_int_equal(st, 200);
    json_decref(j);
    for (int i = 0; i < POLL_MAX; i++) {
        j = ctl("GET", "/sandbox/v1/traffic", NULL, NULL);
        if (!json_is_true(json_object_get(j, "running")))
            break;
        json_decref(j);
        j = NULL;
        usleep(25000);
    }
    assert_non_null(j);
    assert_true(sg_json_int(j, "address_updates", 0) >= 1);
    json_decref(j);
    end();
    receiver_stop(rv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(timers_survive_sigterm, teardown),
        cmocka_unit_test_teardown(timers_survive_sigkill, teardown),
        cmocka_unit_test_teardown(same_seed_same_ids, teardown),
        cmocka_unit_test_teardown(slow_receiver_does_not_block, teardown),
        cmocka_unit_test_teardown(concurrency_is_bounded, teardown),
        cmocka_unit_test_teardown(one_address_in_order_by_default, teardown),
        cmocka_unit_test_teardown(info_document_shape, teardown),
        cmocka_unit_test_teardown(config_file_settings, teardown),
        cmocka_unit_test_teardown(scopes_are_enforced, teardown),
        cmocka_unit_test_teardown(search_cap_10000, teardown),
        cmocka_unit_test_teardown(traffic_buyer_messages, teardown),
        cmocka_unit_test_teardown(recipient_address_update, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
