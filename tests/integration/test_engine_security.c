/*
 * test_engine_security.c - issue #7's security checks against a real
 * `surge serve` over loopback sockets:
 *   S4  auth matrix: every admin route x {no key, malformed, wrong key,
 *       read-only key on a write, another tenant's key}: 401/403/404 and
 *       never the other tenant's data;
 *   S6  resource limits: 413 (body), 431 (headers), 400 json_too_deep, a
 *       stalled or trickling client is closed within the request timeout
 *       (plus a margin), and RSS stays bounded over 200 oversized bodies;
 *   S7  canary secrets and API keys never appear in plaintext in the
 *       store, its WAL or the log; store, config and init files are 0600;
 *       a 0644 secret_file stops start-up;
 *   S10 a [notify] url on a loopback/private/link-local address stops
 *       start-up unless [security] allow_private_urls = true; per-job URL
 *       overrides are refused.
 * With SG_TW_BACKEND=postgres (test_engine_security_pg) all of it runs
 * with the store on a throwaway PostgreSQL server, and S7 scans that
 * server's folder (tables, WAL, its log) instead of the SQLite files.
 */
#define _GNU_SOURCE /* memmem */
#include "testlib.h"
#include "pgserver.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/crypto.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define ARG(s) ((char *)(uintptr_t)(s))

/* Canaries: secrets and keys only (a webhook body is stored by design). */
#define WH_SECRET "whsec_CANARY_9f1c2e7a4b6d"
#define NOTIFY_SECRET "nsec_CANARY_3d8e6b0c1527"
#define WRONG_KEY "sk_CANARY_wrong_5e2a91c7d3f0b8"
#define TTS_SECRET "tts_CANARY_7a0e55c2d19b43"
#define SKU_A "TENANT-A-SKU-1"

#define BODY_MAX 4096
#define HEADERS_MAX 16
#define TIMEOUT_MS 1000
#define DEPTH_MAX 8
/* Slack on top of the request timeout before a stalled connection counts
 * as left open (a bound, not a speed target). */
#define CLOSE_MARGIN_MS 5000
#define RSS_GROWTH_MAX_KB (16 * 1024)

struct world {
    char *dir;
    char *conf;
    char *log;
    char *db;
    char store[800]; /* the [store] section's settings */
    char key_a[128];
    char key_a_ro[128];
    char key_b[128];
    struct sgt_proc srv;
    unsigned port;
    int64_t job_a;   /* tenant A's notify job */
    int64_t inbox_a; /* tenant A's webhook event */
    int64_t product_a; /* tenant A's product ... */
    int64_t variant_a; /* ... and its variant, SKU_A */
    int recv_fd;
    unsigned recv_port;
    pthread_t recv_tid;
    atomic_bool stop;
};

static struct world W;

/*
 * SG_TW_BACKEND=postgres (the ctest entry test_engine_security_pg): the
 * store is a database on a throwaway PostgreSQL server of this program's,
 * and S7's scan covers that server's whole folder (tables, WAL, log).
 */
static struct sgt_pg *pg;

/* ---- a notify receiver that answers 200 to anything ---- */

static void *receiver_main(void *arg)
{
    struct world *w = arg;

    while (!atomic_load(&w->stop)) {
        int c = accept(w->recv_fd, NULL, NULL);
        char buf[8192];
        const char *ok = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n"
                         "Connection: close\r\n\r\n";
        struct timeval tv = {.tv_sec = 1};

        if (c < 0)
            continue;
        setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        (void)recv(c, buf, sizeof(buf), 0);
        send(c, ok, strlen(ok), MSG_NOSIGNAL);
        close(c);
    }
    return NULL;
}

static int receiver_start(struct world *w)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t len = sizeof(a);
    struct timeval tv = {.tv_usec = 200000};

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    w->recv_fd = socket(AF_INET, SOCK_STREAM, 0);
    if (w->recv_fd < 0 || bind(w->recv_fd, (struct sockaddr *)&a, sizeof(a)) ||
        listen(w->recv_fd, 64) ||
        getsockname(w->recv_fd, (struct sockaddr *)&a, &len))
        return -1;
    setsockopt(w->recv_fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    w->recv_port = ntohs(a.sin_port);
    return pthread_create(&w->recv_tid, NULL, receiver_main, w);
}

/* ---- helpers ---- */

static int surge_run(const char *conf, const char *a1, const char *a2,
                     const char *a3, const char *a4, const char *a5,
                     char **out, char **err)
{
    char *argv[10] = {ARG(sgt_surge_bin())};
    const char *args[] = {a1, a2, a3, a4, a5};
    size_t n = 1;

    for (size_t i = 0; i < 5 && args[i]; i++)
        argv[n++] = ARG(args[i]);
    argv[n++] = ARG("--config");
    argv[n++] = ARG(conf);
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

static int64_t json_id(const char *body)
{
    const char *p = body ? strstr(body, "\"id\":") : NULL;

    return p ? strtoll(p + 5, NULL, 10) : -1;
}

/* An API call; auth is the whole Authorization value, or NULL. */
static void call(struct sgt_resp *r, const char *method, const char *path,
                 const char *auth, const char *body)
{
    char url[512], h[300];
    const char *headers[3] = {NULL, NULL, NULL};
    size_t n = 0;

    snprintf(url, sizeof(url), "%s%s", W.srv.url, path);
    if (auth) {
        snprintf(h, sizeof(h), "Authorization: %s", auth);
        headers[n++] = h;
    }
    headers[n] = "Content-Type: application/json";
    sgt_http(r, method, url, headers, body, body ? strlen(body) : 0);
}

static void bearer(char *out, size_t size, const char *key)
{
    snprintf(out, size, "Bearer %s", key);
}

static int raw_connect(unsigned port)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    struct timeval tv = {.tv_sec = 10};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    return fd;
}

/* Read the answer's status line (and what fits of the rest) into buf. */
static int raw_status(int fd, char *buf, size_t size)
{
    size_t got = 0;

    while (got + 1 < size) {
        ssize_t n = recv(fd, buf + got, size - 1 - got, 0);

        if (n <= 0)
            break;
        got += (size_t)n;
        buf[got] = '\0';
        if (strstr(buf, "\r\n\r\n"))
            break;
    }
    buf[got] = '\0';
    if (strncmp(buf, "HTTP/1.", 7) != 0 || got < 12)
        return -1;
    return (int)strtol(buf + 9, NULL, 10);
}

static void send_all(int fd, const char *data, size_t len)
{
    size_t sent = 0;

    while (sent < len) {
        ssize_t n = send(fd, data + sent, len - sent, MSG_NOSIGNAL);

        if (n <= 0)
            return; /* the server may answer early and close */
        sent += (size_t)n;
    }
}

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Wait until the server closes fd (EOF or reset); returns the ms waited,
 * or -1 if it was still open after limit_ms.
 */
static int64_t wait_closed(int fd, int64_t start, int64_t limit_ms)
{
    char buf[4096];

    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int64_t left = start + limit_ms - now_ms();

        if (left <= 0)
            return -1;
        if (poll(&p, 1, (int)left) <= 0)
            continue;
        if (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) <= 0 &&
            errno != EAGAIN && errno != EWOULDBLOCK)
            return now_ms() - start;
        if (p.revents & (POLLHUP | POLLERR))
            return now_ms() - start;
    }
}

static long rss_kb(pid_t pid)
{
    char path[64], *text, *p;
    long kb = -1;

    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    text = sgt_read_file(path, NULL);
    if (!text)
        return -1;
    p = strstr(text, "VmRSS:");
    if (p)
        kb = strtol(p + 6, NULL, 10);
    sg_free(text);
    return kb;
}

static mode_t file_mode(const char *path)
{
    struct stat st;

    assert_int_equal(stat(path, &st), 0);
    return st.st_mode & 07777;
}

/* Is needle anywhere in the file's bytes? A missing file has nothing. */
static bool file_has(const char *path, const char *needle)
{
    size_t len = 0, n = strlen(needle);
    char *data = sgt_read_file(path, &len);
    bool found = false;

    if (!data)
        return false;
    found = n && memmem(data, len, needle, n) != NULL;
    sg_free(data);
    return found;
}

/*
 * Every regular file under dir (recursively) scanned for each needle:
 * hits[i] counts the files holding needles[i]. The bytes read are
 * returned, so a scan that read nothing cannot pass for a clean one.
 */
static size_t tree_scan(const char *dir, const char *const *needles,
                        size_t n, size_t *hits)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    size_t bytes = 0;

    if (!d)
        return 0;
    while ((e = readdir(d)) != NULL) {
        char *p;
        struct stat st;

        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        p = sgt_path(dir, e->d_name);
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
            bytes += tree_scan(p, needles, n, hits);
        } else if (S_ISREG(st.st_mode)) {
            size_t len = 0;
            char *data = sgt_read_file(p, &len);

            for (size_t i = 0; data && i < n; i++)
                if (memmem(data, len, needles[i], strlen(needles[i])))
                    hits[i]++;
            bytes += data ? len : 0;
            sg_free(data);
        }
        sg_free(p);
    }
    closedir(d);
    return bytes;
}

/* ---- setup ---- */

static int setup(void **state)
{
    char conf[2048], *out = NULL, *secret_path, *p;
    struct sgt_resp r;
    char sig[128], hex[65], auth[200];
    const char *body = "{\"marker\":\"tenant-a-webhook\"}";
    const char *hdrs[4];
    char url[512];

    SG_UNUSED(state);
    W.dir = sgt_tmpdir();
    W.conf = sgt_path(W.dir, "surge.conf");
    W.log = sgt_path(W.dir, "serve.log");
    W.db = sgt_path(W.dir, "main.db");
    secret_path = sgt_path(W.dir, "notify.secret");
    if (pg) {
        char dsn[600];

        if (sgt_pg_createdb(pg, dsn, sizeof(dsn)) != 0)
            return -1;
        snprintf(W.store, sizeof(W.store), "backend = postgres\ndsn = %s",
                 dsn);
    } else {
        snprintf(W.store, sizeof(W.store), "path = %s", W.db);
    }
    if (receiver_start(&W) || sgt_write_file(secret_path, NOTIFY_SECRET "\n"))
        return -1;
    chmod(secret_path, 0600);
    snprintf(conf, sizeof(conf),
             "[server]\nlisten = 127.0.0.1:0\nthreads = 2\n"
             "body_max = %d\nheaders_max = %d\nheader_bytes_max = 4k\n"
             "request_timeout_ms = %d\njson_depth_max = %d\n\n"
             "[store]\n%s\n\n[log]\nlevel = debug\n\n"
             "[webhook_generic]\nsecret = %s\ntenant = acme\n\n"
             "[notify]\nurl = http://127.0.0.1:%u/hook\nsecret_file = %s\n\n"
             "[jobs]\nbackoff_base_ms = 50\n\n"
             /* The TikTok Shop connector on (its routes join the matrix),
              * pointed at a port nothing listens on. */
             "[tiktok_shop]\napp_key = tts-app\napp_secret = " TTS_SECRET "\n"
             "service_id = svc\napi_base_url = http://127.0.0.1:9\n"
             "auth_base_url = http://127.0.0.1:9\n\n"
             "[secrets]\nkey_file = %s/surge.key\n\n"
             "[security]\nallow_private_urls = true\n",
             BODY_MAX, HEADERS_MAX, TIMEOUT_MS, DEPTH_MAX, W.store, WH_SECRET,
             W.recv_port, secret_path, W.dir);
    sg_free(secret_path);
    if (sgt_write_file(W.conf, conf))
        return -1;
    chmod(W.conf, 0600);
    /* init keeps this config and creates the store and the key file. */
    if (surge_run(W.conf, "init", NULL, NULL, NULL, NULL, NULL, NULL) ||
        surge_run(W.conf, "tenant", "create", "acme", NULL, NULL, NULL,
                  NULL) ||
        surge_run(W.conf, "tenant", "create", "beta", NULL, NULL, NULL, NULL))
        return -1;
    if (surge_run(W.conf, "apikey", "create", "--tenant", "acme", NULL, &out,
                  NULL))
        return -1;
    key_from(out, W.key_a);
    sg_free(out);
    if (surge_run(W.conf, "apikey", "create", "--tenant", "acme",
                  "--read-only", &out, NULL))
        return -1;
    key_from(out, W.key_a_ro);
    sg_free(out);
    if (surge_run(W.conf, "apikey", "create", "--tenant", "beta", NULL, &out,
                  NULL))
        return -1;
    key_from(out, W.key_b);
    sg_free(out);

    {
        char *argv[] = {ARG(sgt_surge_bin()), ARG("serve"), ARG("--config"),
                        W.conf, NULL};

        if (sgt_spawn(&W.srv, argv, W.log))
            return -1;
    }
    p = strrchr(W.srv.url, ':');
    W.port = p ? (unsigned)strtoul(p + 1, NULL, 10) : 0;

    /* Tenant A owns one job and one inbox event; B will go looking. */
    bearer(auth, sizeof(auth), W.key_a);
    call(&r, "POST", "/api/v1/notify", auth,
         "{\"event\":\"tenant-a-marker\",\"data\":{\"x\":1}}");
    W.job_a = r.status == 202 ? json_id(r.body) : -1;
    sgt_resp_free(&r);
    sg_hmac_sha256_hex(WH_SECRET, strlen(WH_SECRET), body, strlen(body), hex);
    snprintf(sig, sizeof(sig), "X-Surge-Signature: sha256=%s", hex);
    hdrs[0] = sig;
    hdrs[1] = "X-Surge-Event-Id: evt-tenant-a-1";
    hdrs[2] = "Content-Type: application/json";
    hdrs[3] = NULL;
    snprintf(url, sizeof(url), "%s/webhooks/generic", W.srv.url);
    sgt_http(&r, "POST", url, hdrs, body, strlen(body));
    W.inbox_a = r.status == 200 ? json_id(r.body) : -1;
    sgt_resp_free(&r);
    call(&r, "POST", "/api/v1/products", auth,
         "{\"handle\":\"tenant-a-pan\",\"title\":\"tenant-a-marker pan\","
         "\"variants\":[{\"sku\":\"" SKU_A "\",\"price\":\"9.00\","
         "\"inventory_quantity\":7}]}");
    W.product_a = r.status == 201 ? json_id(r.body) : -1;
    {
        static const char vtag[] = "\"variants\":[{\"id\":";

        p = r.body ? strstr(r.body, vtag) : NULL;
        W.variant_a = p ? strtoll(p + sizeof(vtag) - 1, NULL, 10) : -1;
    }
    sgt_resp_free(&r);
    return W.job_a > 0 && W.inbox_a > 0 && W.product_a > 0 &&
                   W.variant_a > 0 && W.port
               ? 0
               : -1;
}

static int teardown(void **state)
{
    SG_UNUSED(state);
    sgt_stop(&W.srv, SIGTERM);
    atomic_store(&W.stop, true);
    pthread_join(W.recv_tid, NULL);
    close(W.recv_fd);
    sg_free(W.conf);
    sg_free(W.log);
    sg_free(W.db);
    sg_free(W.dir);
    return 0;
}

/* ---- S4: the auth matrix ---- */

/* What a route's {id} names; tenant A owns one of each of the first kinds. */
enum obj {
    O_NONE,
    O_JOB,
    O_INBOX,
    O_PRODUCT,
    O_VARIANT,
    O_SKU,
    O_MISSING, /* orders, returns, ...: A has none here; any id is foreign
                  (test_engine_fulfil.c's other_tenant_sees_none points B
                  at A's real ones) */
};

struct route {
    const char *method;
    const char *pattern; /* as registered, e.g. "/api/v1/products/{id}" */
    enum obj obj;        /* what {id} / {sku} stands for; O_NONE: a list */
    bool write;
    const char *body;
};

#define PRODUCT_BODY                                                           \
    "{\"handle\":\"b-pan\",\"title\":\"B Pan\",\"variants\":[{\"sku\":"     \
    "\"B-PAN-1\",\"price\":\"3.00\"}]}"

/*
 * Every admin route. test_auth_matrix fails when the server registers an
 * /api/v1 route that is not here, so a new route cannot skip the matrix.
 */
static const struct route routes[] = {
    {"GET", "/api/v1/whoami", O_NONE, false, NULL},
    {"GET", "/api/v1/jobs", O_NONE, false, NULL},
    {"GET", "/api/v1/jobs/{id}", O_JOB, false, NULL},
    {"POST", "/api/v1/jobs/{id}/retry", O_JOB, true, NULL},
    {"POST", "/api/v1/notify", O_NONE, true, "{\"event\":\"probe\"}"},
    {"GET", "/api/v1/audit", O_NONE, false, NULL},
    {"GET", "/api/v1/inbox/{id}", O_INBOX, false, NULL},
    {"GET", "/api/v1/products", O_NONE, false, NULL},
    {"POST", "/api/v1/products", O_NONE, true, PRODUCT_BODY},
    {"GET", "/api/v1/products/{id}", O_PRODUCT, false, NULL},
    {"PUT", "/api/v1/products/{id}", O_PRODUCT, true, PRODUCT_BODY},
    {"DELETE", "/api/v1/products/{id}", O_PRODUCT, true, NULL},
    {"POST", "/api/v1/products/{id}/variants", O_PRODUCT, true,
     "{\"sku\":\"B-PAN-2\",\"price\":\"4.00\"}"},
    {"PUT", "/api/v1/products/{id}/listings/{channel}", O_PRODUCT, true,
     "{\"status\":\"pending\"}"},
    {"GET", "/api/v1/products/{id}/validation", O_PRODUCT, false, NULL},
    {"GET", "/api/v1/variants/{id}", O_VARIANT, false, NULL},
    {"PATCH", "/api/v1/variants/{id}", O_VARIANT, true,
     "{\"price\":\"0.01\"}"},
    {"DELETE", "/api/v1/variants/{id}", O_VARIANT, true, NULL},
    {"GET", "/api/v1/inventory/{sku}", O_SKU, false, NULL},
    {"PUT", "/api/v1/inventory/{sku}", O_SKU, true,
     "{\"on_hand\":0,\"reason\":\"probe\"}"},
    {"POST", "/api/v1/inventory/{sku}/adjust", O_SKU, true,
     "{\"delta\":1,\"reason\":\"probe\"}"},
    {"PUT", "/api/v1/inventory", O_NONE, true,
     "{\"items\":[{\"sku\":\"" SKU_A "\",\"on_hand\":0,"
     "\"reason\":\"probe\"}]}"},
    {"PUT", "/api/v1/prices", O_NONE, true,
     "{\"items\":[{\"sku\":\"" SKU_A "\",\"price\":\"0.01\"}]}"},
    {"GET", "/api/v1/validation", O_NONE, false, NULL},
    {"GET", "/api/v1/orders", O_NONE, false, NULL},
    {"GET", "/api/v1/orders/{id}", O_MISSING, false, NULL},
    {"POST", "/api/v1/orders/{id}/cancel", O_MISSING, true,
     "{\"reason\":\"probe\"}"},
    {"GET", "/api/v1/shipments", O_NONE, false, NULL},
    {"POST", "/api/v1/shipments", O_NONE, true,
     "{\"order_id\":\"999999999\",\"tracking_number\":\"T1\"}"},
    {"GET", "/api/v1/returns", O_NONE, false, NULL},
    {"POST", "/api/v1/returns/{id}/approve", O_MISSING, true, "{}"},
    {"POST", "/api/v1/returns/{id}/reject", O_MISSING, true, "{}"},
    {"GET", "/api/v1/cancellations", O_NONE, false, NULL},
    {"POST", "/api/v1/cancellations/{id}/approve", O_MISSING, true, "{}"},
    {"POST", "/api/v1/cancellations/{id}/reject", O_MISSING, true, "{}"},
    {"GET", "/api/v1/viral", O_NONE, false, NULL},
    {"POST", "/api/v1/events", O_NONE, true,
     "{\"event_source\":\"web\",\"event\":\"ViewContent\","
     "\"event_id\":\"probe-1\"}"},
    {"GET", "/api/v1/connections", O_NONE, false, NULL},
    {"POST", "/api/v1/connections/{id}/refresh", O_MISSING, true, NULL},
    {"POST", "/api/v1/connections/{id}/sync", O_MISSING, true, NULL},
};

static int64_t obj_id(enum obj o)
{
    switch (o) {
    case O_JOB:
        return W.job_a;
    case O_INBOX:
        return W.inbox_a;
    case O_PRODUCT:
        return W.product_a;
    case O_VARIANT:
        return W.variant_a;
    default:
        return 999999999;
    }
}

/* The concrete path: {id} -> A's object, {sku} -> A's SKU. */
static void route_path(const struct route *rt, char *out, size_t size)
{
    struct sg_buf b;
    const char *p = rt->pattern;

    sg_buf_init(&b, size);
    while (*p) {
        const char *open = strchr(p, '{'), *close;

        if (!open) {
            sg_buf_appends(&b, p);
            break;
        }
        close = strchr(open, '}');
        assert_non_null(close);
        sg_buf_append(&b, p, (size_t)(open - p));
        if (strncmp(open, "{sku}", 5) == 0)
            sg_buf_appends(&b, SKU_A);
        else if (strncmp(open, "{channel}", 9) == 0)
            sg_buf_appends(&b, "tiktok_shop");
        else
            sg_buf_printf(&b, "%" PRId64, obj_id(rt->obj));
        p = close + 1;
    }
    assert_non_null(b.data);
    snprintf(out, size, "%s", b.data);
    sg_buf_release(&b);
}

static const struct route *route_find(const char *method, const char *pattern)
{
    for (size_t i = 0; i < SG_ARRAY_SIZE(routes); i++) {
        if (strcmp(routes[i].method, method) == 0 &&
            strcmp(routes[i].pattern, pattern) == 0)
            return &routes[i];
    }
    return NULL;
}

/*
 * Every /api/v1 route the server lists in sg_http_route_info is in the
 * matrix; returns how many it listed.
 */
static size_t assert_matrix_complete(void)
{
    static const char tag[] = "sg_http_route_info{";
    struct sgt_resp r;
    const char *p;
    size_t listed = 0;

    call(&r, "GET", "/metrics", NULL, NULL);
    assert_int_equal(r.status, 200);
    for (p = strstr(r.body, tag); p; p = strstr(p + 1, tag)) {
        char route[256], method[16];
        const char *rs = strstr(p, "route=\""), *ms = strstr(p, "method=\"");
        const char *eol = strchr(p, '\n');

        assert_true(rs && ms && eol && rs < eol && ms < eol);
        if (sscanf(rs, "route=\"%255[^\"]\"", route) != 1 ||
            sscanf(ms, "method=\"%15[^\"]\"", method) != 1)
            fail_msg("unreadable route_info line");
        if (strncmp(route, "/api/", 5) != 0)
            continue;
        listed++;
        if (!route_find(method, route))
            fail_msg("%s %s is served but not in the auth matrix", method,
                     route);
    }
    sgt_resp_free(&r);
    return listed;
}

/* No answer to a foreign or failed caller mentions tenant A's objects. */
static void assert_no_a_data(const struct sgt_resp *r)
{
    assert_null(strstr(r->body, "tenant-a-marker"));
    assert_null(strstr(r->body, "tenant-a-webhook"));
    assert_null(strstr(r->body, "evt-tenant-a-1"));
    assert_null(strstr(r->body, SKU_A));
    assert_null(strstr(r->body, "\"tenant\":\"acme\""));
}

static void test_auth_matrix(void **state)
{
    static const char *bad_auth[] = {
        NULL,                        /* no key */
        "Bearer " WRONG_KEY,         /* well-formed, unknown */
        "Bearer ",                   /* empty */
        "Basic c2tfdGVzdDpzZWNyZXQ=", /* wrong scheme */
        "Bearer sk_",                /* prefix only */
    };
    char path[256], auth_ro[200], auth_b[200], auth_a[200];
    struct sgt_resp r;
    int cases = 0;
    size_t listed;

    SG_UNUSED(state);
    listed = assert_matrix_complete();
    print_message("auth matrix: %zu routes served, %zu in the matrix\n",
                  listed, SG_ARRAY_SIZE(routes));
    bearer(auth_ro, sizeof(auth_ro), W.key_a_ro);
    bearer(auth_b, sizeof(auth_b), W.key_b);
    bearer(auth_a, sizeof(auth_a), W.key_a);
    for (size_t i = 0; i < SG_ARRAY_SIZE(routes); i++) {
        const struct route *rt = &routes[i];

        route_path(rt, path, sizeof(path));
        for (size_t k = 0; k < SG_ARRAY_SIZE(bad_auth); k++) {
            call(&r, rt->method, path, bad_auth[k], rt->body);
            if (r.status != 401)
                fail_msg("%s %s with auth \"%s\": %ld, want 401", rt->method,
                         path, bad_auth[k] ? bad_auth[k] : "(none)",
                         r.status);
            assert_non_null(strstr(r.body, "\"code\":\"unauthorized\""));
            assert_no_a_data(&r);
            sgt_resp_free(&r);
            cases++;
        }
        /* A read-only key may read, never write. */
        call(&r, rt->method, path, auth_ro, rt->body);
        if (rt->write) {
            if (r.status != 403)
                fail_msg("%s %s with a read-only key: %ld, want 403",
                         rt->method, path, r.status);
            assert_non_null(strstr(r.body, "\"code\":\"forbidden\""));
        } else if (rt->obj == O_MISSING) {
            assert_int_equal(r.status, 404);
        } else if (r.status != 200) {
            fail_msg("%s %s with a read-only key: %ld, want 200", rt->method,
                     path, r.status);
        }
        sgt_resp_free(&r);
        cases++;
        /* Tenant B on A's objects: exactly like a missing object. */
        if (rt->obj != O_NONE) {
            call(&r, rt->method, path, auth_b, rt->body);
            if (r.status != 404)
                fail_msg("%s %s with tenant B's key: %ld, want 404",
                         rt->method, path, r.status);
            assert_non_null(strstr(r.body, "\"code\":\"not_found\""));
            assert_no_a_data(&r);
            sgt_resp_free(&r);
            cases++;
        } else if (!rt->write) {
            call(&r, rt->method, path, auth_b, NULL);
            if (r.status != 200)
                fail_msg("%s %s with tenant B's key: %ld, want 200",
                         rt->method, path, r.status);
            assert_no_a_data(&r);
            sgt_resp_free(&r);
            cases++;
        }
    }
    /* The bulk writes name SKUs in the body: B naming A's SKU is refused
     * as a SKU B does not have, and changes nothing (the controls below
     * still see A's price and stock). */
    for (size_t i = 0; i < SG_ARRAY_SIZE(routes); i++) {
        const struct route *rt = &routes[i];

        if (rt->obj != O_NONE || !rt->write || !rt->body ||
            !strstr(rt->body, SKU_A))
            continue;
        call(&r, rt->method, rt->pattern, auth_b, rt->body);
        if (r.status != 404)
            fail_msg("%s %s naming A's SKU with tenant B's key: %ld, "
                     "want 404", rt->method, rt->pattern, r.status);
        assert_non_null(strstr(r.body, "\"code\":\"not_found\""));
        assert_null(strstr(r.body, "tenant-a-marker"));
        assert_null(strstr(r.body, "9.00"));
        sgt_resp_free(&r);
        cases++;
    }
    /* Positive controls: A's own key reaches A's objects, unchanged by
     * everything B and the read-only key tried. */
    snprintf(path, sizeof(path), "/api/v1/jobs/%" PRId64, W.job_a);
    call(&r, "GET", path, auth_a, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "tenant-a-marker"));
    sgt_resp_free(&r);
    snprintf(path, sizeof(path), "/api/v1/inbox/%" PRId64, W.inbox_a);
    call(&r, "GET", path, auth_a, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "evt-tenant-a-1"));
    sgt_resp_free(&r);
    snprintf(path, sizeof(path), "/api/v1/products/%" PRId64, W.product_a);
    call(&r, "GET", path, auth_a, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "tenant-a-marker pan"));
    assert_non_null(strstr(r.body, "\"price\":\"9.00\""));
    assert_non_null(strstr(r.body, "\"on_hand\":7"));
    assert_null(strstr(r.body, "B-PAN"));
    sgt_resp_free(&r);
    call(&r, "GET", "/api/v1/inventory/" SKU_A, auth_a, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"on_hand\":7"));
    sgt_resp_free(&r);
    /* B's failed retry left A's job alone: no audit row of B's on it. */
    call(&r, "GET", "/api/v1/audit", auth_a, NULL);
    assert_int_equal(r.status, 200);
    assert_null(strstr(r.body, "job.retry"));
    sgt_resp_free(&r);
    /* Public endpoints carry no tenant data. */
    call(&r, "GET", "/metrics", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_no_a_data(&r);
    sgt_resp_free(&r);
    print_message("auth matrix: %d cases\n", cases);
    assert_true(cases >= 250);
}

/* ---- S6: resource limits ---- */

static void test_oversized_body(void **state)
{
    char auth[200], *big = sg_alloc(BODY_MAX * 4 + 1);
    struct sgt_resp r;
    char url[512];
    const char *hdrs[] = {"X-Surge-Signature: sha256=00",
                          "Content-Type: application/json", NULL};

    SG_UNUSED(state);
    assert_non_null(big);
    memset(big, ' ', BODY_MAX * 4);
    big[0] = '{';
    big[BODY_MAX * 4 - 1] = '}';
    big[BODY_MAX * 4] = '\0';
    bearer(auth, sizeof(auth), W.key_a);
    call(&r, "POST", "/api/v1/notify", auth, big);
    assert_int_equal(r.status, 413);
    sgt_resp_free(&r);
    snprintf(url, sizeof(url), "%s/webhooks/generic", W.srv.url);
    sgt_http(&r, "POST", url, hdrs, big, BODY_MAX * 4);
    assert_int_equal(r.status, 413);
    sgt_resp_free(&r);
    /* Just under the limit is read (and then judged on its content). */
    big[BODY_MAX - 200] = '}';
    big[BODY_MAX - 199] = '\0';
    call(&r, "POST", "/api/v1/notify", auth, big);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "\"field\":\"event\""));
    sgt_resp_free(&r);
    sg_free(big);
}

static void test_too_many_headers(void **state)
{
    char buf[4096], req[4096];
    size_t n;
    int fd;

    SG_UNUSED(state);
    n = (size_t)snprintf(req, sizeof(req), "GET /healthz HTTP/1.1\r\n"
                                           "Host: x\r\n");
    for (int i = 0; i < HEADERS_MAX + 4; i++)
        n += (size_t)snprintf(req + n, sizeof(req) - n, "X-H%d: v\r\n", i);
    n += (size_t)snprintf(req + n, sizeof(req) - n, "\r\n");
    fd = raw_connect(W.port);
    send_all(fd, req, n);
    assert_int_equal(raw_status(fd, buf, sizeof(buf)), 431);
    assert_non_null(strstr(buf, "\r\n\r\n"));
    close(fd);
    /* At the limit is fine. */
    n = (size_t)snprintf(req, sizeof(req), "GET /healthz HTTP/1.1\r\n"
                                           "Host: x\r\n");
    for (int i = 0; i < HEADERS_MAX - 2; i++)
        n += (size_t)snprintf(req + n, sizeof(req) - n, "X-H%d: v\r\n", i);
    n += (size_t)snprintf(req + n, sizeof(req) - n,
                          "Connection: close\r\n\r\n");
    fd = raw_connect(W.port);
    send_all(fd, req, n);
    assert_int_equal(raw_status(fd, buf, sizeof(buf)), 200);
    close(fd);
    /* Header bytes over header_bytes_max (4 KiB): 431 as well. */
    n = (size_t)snprintf(req, sizeof(req),
                         "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ");
    memset(req + n, 'a', 3000);
    n += 3000;
    n += (size_t)snprintf(req + n, sizeof(req) - n, "\r\nX-Big2: ");
    fd = raw_connect(W.port);
    send_all(fd, req, n);
    memset(req, 'b', 3000);
    memcpy(req + 3000, "\r\n\r\n", 4);
    send_all(fd, req, 3004);
    assert_int_equal(raw_status(fd, buf, sizeof(buf)), 431);
    close(fd);
}

static void test_deep_json(void **state)
{
    char auth[200], body[256];
    struct sgt_resp r;
    size_t n = 0;

    SG_UNUSED(state);
    bearer(auth, sizeof(auth), W.key_a);
    n += (size_t)snprintf(body, sizeof(body), "{\"event\":\"x\",\"data\":");
    for (int i = 0; i < DEPTH_MAX + 2; i++)
        body[n++] = '[';
    for (int i = 0; i < DEPTH_MAX + 2; i++)
        body[n++] = ']';
    body[n++] = '}';
    body[n] = '\0';
    call(&r, "POST", "/api/v1/notify", auth, body);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "\"code\":\"json_too_deep\""));
    sgt_resp_free(&r);
    /* 100,000 brackets fit in no limit; still a clean 400 or 413. */
    {
        char *deep = sg_alloc(BODY_MAX);

        memset(deep, '[', BODY_MAX - 1);
        deep[BODY_MAX - 1] = '\0';
        call(&r, "POST", "/api/v1/notify", auth, deep);
        assert_int_equal(r.status, 400);
        assert_non_null(strstr(r.body, "json_too_deep"));
        sgt_resp_free(&r);
        sg_free(deep);
    }
}

/* Half a request, then silence: closed within the timeout + margin. */
static void test_slow_client_stall(void **state)
{
    const char *part = "POST /api/v1/notify HTTP/1.1\r\nHost: x\r\n"
                       "Content-Length: 100\r\n";
    int fd = raw_connect(W.port);
    int64_t start = now_ms(), waited;

    SG_UNUSED(state);
    send_all(fd, part, strlen(part));
    waited = wait_closed(fd, start, TIMEOUT_MS + CLOSE_MARGIN_MS);
    close(fd);
    if (waited < 0)
        fail_msg("stalled connection still open after %d ms",
                 TIMEOUT_MS + CLOSE_MARGIN_MS);
    print_message("stalled client closed after %" PRId64 " ms (timeout %d)\n",
                  waited, TIMEOUT_MS);
    /* Headers done, body stalled: the same. */
    fd = raw_connect(W.port);
    part = "POST /api/v1/notify HTTP/1.1\r\nHost: x\r\nContent-Length: 100"
           "\r\n\r\n{\"ev";
    start = now_ms();
    send_all(fd, part, strlen(part));
    waited = wait_closed(fd, start, TIMEOUT_MS + CLOSE_MARGIN_MS);
    close(fd);
    if (waited < 0)
        fail_msg("stalled body still open after %d ms",
                 TIMEOUT_MS + CLOSE_MARGIN_MS);
}

/* Slowloris: one header byte every 100 ms never finishes a request. */
static void test_slow_client_trickle(void **state)
{
    const char *req = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: "
                      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    int fd = raw_connect(W.port);
    int64_t start = now_ms(), limit = TIMEOUT_MS + CLOSE_MARGIN_MS;
    bool closed = false;

    SG_UNUSED(state);
    for (size_t i = 0; i < strlen(req) && now_ms() - start < limit; i++) {
        struct pollfd p = {.fd = fd, .events = POLLIN};

        if (send(fd, req + i, 1, MSG_NOSIGNAL) != 1 ||
            (poll(&p, 1, 100) > 0 && (p.revents & (POLLIN | POLLHUP)))) {
            closed = true;
            break;
        }
    }
    if (!closed)
        closed = wait_closed(fd, start, limit) >= 0;
    close(fd);
    if (!closed)
        fail_msg("a client trickling one byte per 100 ms kept its "
                 "connection past %" PRId64 " ms",
                 limit);
}

/* SG_SOAK_SCALE (make soak) multiplies the loops below; 1 by default. */
static int soak_scale(void)
{
    const char *v = getenv("SG_SOAK_SCALE");
    long n = v ? strtol(v, NULL, 10) : 1;

    return n < 1 ? 1 : n > 1000 ? 1000 : (int)n;
}

/* 200 oversized attempts: the server's RSS stays within a bound. */
static void test_rss_bounded(void **state)
{
    const char *head = "POST /api/v1/notify HTTP/1.1\r\nHost: x\r\n"
                       "Content-Type: application/json\r\n"
                       "Content-Length: 104857600\r\n\r\n";
    char chunk[16384], buf[2048];
    long before = 0, after = 0;

    SG_UNUSED(state);
    memset(chunk, 'x', sizeof(chunk));
    for (int round = 0; round < 2; round++) {
        int attempts = round == 0 ? 20 : 200 * soak_scale();

        for (int i = 0; i < attempts; i++) {
            int fd = raw_connect(W.port);
            int st;

            send_all(fd, head, strlen(head));
            send_all(fd, chunk, sizeof(chunk));
            st = raw_status(fd, buf, sizeof(buf));
            close(fd);
            assert_int_equal(st, 413);
        }
        if (round == 0)
            before = rss_kb(W.srv.pid);
    }
    after = rss_kb(W.srv.pid);
    print_message("serve RSS: %ld kB after warm-up, %ld kB after %d "
                  "oversized bodies\n",
                  before, after, 200 * soak_scale());
    assert_true(before > 0 && after > 0);
    assert_true(after - before < RSS_GROWTH_MAX_KB);
    /* And the server still answers. */
    {
        struct sgt_resp r;

        call(&r, "GET", "/healthz", NULL, NULL);
        assert_int_equal(r.status, 200);
        sgt_resp_free(&r);
    }
}

/* ---- S7: canaries and file modes ---- */

/* Stored in plaintext (tenant A's notify job's payload, setup). */
#define STORED_MARKER "tenant-a-marker"

/*
 * On PostgreSQL: no canary in any file of the server's folder (its
 * tables, WAL and log), while the marker that setup stored is found
 * there, so the scan does read what the engine wrote.
 */
static void pg_canaries(const char *const *canaries, size_t n)
{
    const char *needles[16];
    size_t hits[16] = {0}, bytes;

    assert_true(n < SG_ARRAY_SIZE(needles));
    for (size_t i = 0; i < n; i++)
        needles[i] = canaries[i];
    needles[n] = STORED_MARKER;
    bytes = tree_scan(sgt_pg_dir(pg), needles, n + 1, hits);
    assert_true(bytes > 1024 * 1024);
    for (size_t i = 0; i < n; i++)
        if (hits[i])
            fail_msg("canary %zu found in plaintext in %zu file(s) of the "
                     "PostgreSQL server's folder (%s)",
                     i, hits[i], sgt_pg_dir(pg));
    assert_true(hits[n] > 0);
}

static void test_canaries(void **state)
{
    const char *canaries[] = {WH_SECRET,  NOTIFY_SECRET, WRONG_KEY, W.key_a,
                              W.key_a_ro, W.key_b,       TTS_SECRET};
    char *wal = NULL, *shm = NULL;
    struct sgt_resp r;
    char auth[200];

    SG_UNUSED(state);
    /* Some traffic that uses every secret: signed intake, a delivery. */
    bearer(auth, sizeof(auth), W.key_a);
    call(&r, "POST", "/api/v1/notify", auth, "{\"event\":\"canary.check\"}");
    assert_int_equal(r.status, 202);
    sgt_resp_free(&r);
    call(&r, "GET", "/api/v1/jobs", "Bearer " WRONG_KEY, NULL);
    assert_int_equal(r.status, 401);
    sgt_resp_free(&r);
    for (int i = 0; i < 40; i++) {
        call(&r, "GET", "/api/v1/jobs?state=queued", auth, NULL);
        bool idle = r.status == 200 && strstr(r.body, "\"jobs\":[]");

        sgt_resp_free(&r);
        if (idle)
            break;
        usleep(100000);
    }
    for (size_t i = 0; i < SG_ARRAY_SIZE(canaries); i++)
        if (file_has(W.log, canaries[i]))
            fail_msg("canary %zu found in plaintext in the log", i);
    /* The log is not empty: it was really written and scanned. */
    assert_true(file_has(W.log, "listening"));
    if (pg) {
        pg_canaries(canaries, SG_ARRAY_SIZE(canaries));
        assert_int_equal(file_mode(W.conf), 0600);
        return;
    }
    wal = sg_alloc(strlen(W.db) + 8);
    shm = sg_alloc(strlen(W.db) + 8);
    snprintf(wal, strlen(W.db) + 8, "%s-wal", W.db);
    snprintf(shm, strlen(W.db) + 8, "%s-shm", W.db);
    for (size_t i = 0; i < SG_ARRAY_SIZE(canaries); i++) {
        if (file_has(W.db, canaries[i]) || file_has(wal, canaries[i]))
            fail_msg("canary %zu found in plaintext in the store or WAL", i);
    }
    /* The scan sees what is stored: tenant A's job payload is there. */
    assert_true(file_has(W.db, STORED_MARKER) || file_has(wal, STORED_MARKER));
    assert_int_equal(file_mode(W.db), 0600);
    assert_int_equal(file_mode(wal), 0600);
    assert_int_equal(file_mode(shm), 0600);
    assert_int_equal(file_mode(W.conf), 0600);
    sg_free(wal);
    sg_free(shm);
}

/* surge init writes its config and store 0600 whatever the umask. */
static void test_init_modes(void **state)
{
    char *conf = sgt_path(W.dir, "init/surge.conf");
    char *sub = sgt_path(W.dir, "init");
    char *db = sgt_path(W.dir, "init/surge.db");
    mode_t old = umask(0);
    int rc;

    SG_UNUSED(state);
    assert_int_equal(mkdir(sub, 0755), 0);
    rc = surge_run(conf, "init", NULL, NULL, NULL, NULL, NULL, NULL);
    umask(old);
    assert_int_equal(rc, 0);
    assert_int_equal(file_mode(conf), 0600);
    assert_int_equal(file_mode(db), 0600);
    sg_free(conf);
    sg_free(sub);
    sg_free(db);
}

static void test_world_readable_secret_refused(void **state)
{
    char *secret = sgt_path(W.dir, "loose.secret");
    char *conf = sgt_path(W.dir, "loose.conf");
    char text[1024], *err = NULL;
    int rc;

    SG_UNUSED(state);
    assert_int_equal(sgt_write_file(secret, "loose_CANARY_secret_value\n"),
                     0);
    chmod(secret, 0644);
    snprintf(text, sizeof(text),
             "[server]\nlisten = 127.0.0.1:0\n[store]\n%s\n"
             "[webhook_generic]\nsecret_file = %s\ntenant = acme\n",
             W.store, secret);
    assert_int_equal(sgt_write_file(conf, text), 0);
    chmod(conf, 0600);
    rc = surge_run(conf, "serve", NULL, NULL, NULL, NULL, NULL, &err);
    assert_int_equal(rc, 78);
    assert_non_null(err);
    assert_non_null(strstr(err, "0600"));
    assert_null(strstr(err, "loose_CANARY_secret_value"));
    sg_free(err);
    /* The same file at 0600 is accepted (config check loads it). */
    chmod(secret, 0600);
    err = NULL;
    rc = surge_run(conf, "config", "check", NULL, NULL, NULL, NULL, &err);
    assert_int_equal(rc, 0);
    sg_free(err);
    sg_free(secret);
    sg_free(conf);
}

/* ---- S10: private destinations ---- */

static void test_private_notify_url_refused(void **state)
{
    static const char *urls[] = {
        "http://127.0.0.1:9/hook",        "http://localhost/hook",
        "http://10.1.2.3/hook",           "http://172.16.5.4/hook",
        "http://192.168.1.1/hook",        "http://169.254.169.254/latest",
        "http://[::1]:9/hook",            "http://[fe80::1]/hook",
        "http://[fc00::1]/hook",          "http://0x7f000001/hook",
        "http://2130706433/hook",         "http://[::ffff:127.0.0.1]/hook",
    };
    char *conf = sgt_path(W.dir, "ssrf.conf");
    char text[1024], *err = NULL;
    int rc;

    SG_UNUSED(state);
    for (size_t i = 0; i < SG_ARRAY_SIZE(urls); i++) {
        snprintf(text, sizeof(text),
                 "[server]\nlisten = 127.0.0.1:0\n[store]\n%s\n"
                 "[notify]\nurl = %s\n",
                 W.store, urls[i]);
        assert_int_equal(sgt_write_file(conf, text), 0);
        chmod(conf, 0600);
        err = NULL;
        rc = surge_run(conf, "serve", NULL, NULL, NULL, NULL, NULL, &err);
        if (rc != 78 || !err || !strstr(err, "allow_private_urls"))
            fail_msg("[notify] url = %s: exit %d, stderr: %s", urls[i], rc,
                     err ? err : "(none)");
        sg_free(err);
    }
    sg_free(conf);
}

/* A public-looking URL starts; per-job URL overrides are refused. */
static void test_public_url_and_override(void **state)
{
    char *conf = sgt_path(W.dir, "public.conf");
    char *log = sgt_path(W.dir, "public.log");
    char text[1024], auth[200], url[512];
    struct sgt_proc p;
    struct sgt_resp r;
    char *argv[] = {ARG(sgt_surge_bin()), ARG("serve"), ARG("--config"),
                    conf, NULL};
    const char *hdrs[3];
    const char *override =
        "{\"event\":\"x\",\"url\":\"http://169.254.169.254/\"}";

    SG_UNUSED(state);
    snprintf(text, sizeof(text),
             "[server]\nlisten = 127.0.0.1:0\n[store]\n%s\n"
             "[notify]\nurl = https://hooks.example.invalid/surge\n",
             W.store);
    assert_int_equal(sgt_write_file(conf, text), 0);
    chmod(conf, 0600);
    sgt_stop(&W.srv, SIGTERM); /* one writer per store file */
    assert_int_equal(sgt_spawn(&p, argv, log), 0);
    bearer(auth, sizeof(auth), W.key_a);
    snprintf(text, sizeof(text), "Authorization: %s", auth);
    hdrs[0] = text;
    hdrs[1] = "Content-Type: application/json";
    hdrs[2] = NULL;
    snprintf(url, sizeof(url), "%s/api/v1/notify", p.url);
    sgt_http(&r, "POST", url, hdrs, override, strlen(override));
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "\"field\":\"url\""));
    sgt_resp_free(&r);
    sgt_stop(&p, SIGTERM);
    {
        char *args[] = {ARG(sgt_surge_bin()), ARG("serve"), ARG("--config"),
                        W.conf, NULL};

        assert_int_equal(sgt_spawn(&W.srv, args, W.log), 0);
    }
    W.port = (unsigned)strtoul(strrchr(W.srv.url, ':') + 1, NULL, 10);
    sg_free(conf);
    sg_free(log);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_auth_matrix),
        cmocka_unit_test(test_oversized_body),
        cmocka_unit_test(test_too_many_headers),
        cmocka_unit_test(test_deep_json),
        cmocka_unit_test(test_slow_client_stall),
        cmocka_unit_test(test_slow_client_trickle),
        cmocka_unit_test(test_rss_bounded),
        cmocka_unit_test(test_canaries),
        cmocka_unit_test(test_init_modes),
        cmocka_unit_test(test_world_readable_secret_refused),
        cmocka_unit_test(test_private_notify_url_refused),
        cmocka_unit_test(test_public_url_and_override),
    };

    const char *backend = getenv("SG_TW_BACKEND");
    int rc;

    if (backend && strcmp(backend, "postgres") == 0) {
        rc = sgt_pg_main_start(&pg);
        if (rc)
            return rc;
    } else if (backend && backend[0] && strcmp(backend, "sqlite") != 0) {
        fprintf(stderr, "SG_TW_BACKEND=%s: want sqlite or postgres\n",
                backend);
        return 1;
    }
    rc = cmocka_run_group_tests(tests, setup, teardown);
    sgt_pg_stop(pg);
    return rc;
}
