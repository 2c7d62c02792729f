/*
 * test_engine_serve.c - surge serve as a user meets it: a real process on
 * an ephemeral loopback port, driven over HTTP with libcurl. Covers
 * health, auth (401/403), tenant isolation (404), JSON errors, durable
 * webhook intake with dedupe, ack-then-SIGKILL durability, the outbox
 * path from inbox to a notify.http delivery, and /metrics syntax.
 */
#include "testlib.h"
#include "core/alloc.h"
#include "core/crypto.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define SECRET "whsec_test_0123456789"
#define ARG(s) ((char *)(uintptr_t)(s))

struct world {
    char *dir;
    char *conf;
    char *log;
    char key_a[128];
    char key_a_ro[128];
    char key_b[128];
    struct sgt_proc srv;
    /* the notify receiver */
    int recv_fd;
    unsigned recv_port;
    pthread_t recv_tid;
    atomic_int received;
    atomic_bool sig_ok;
    atomic_bool stop;
};

static struct world W;

/* ---- a minimal HTTP receiver for notify.http deliveries ---- */

static char *find_ci(char *hay, const char *needle)
{
    size_t n = strlen(needle);

    for (; *hay; hay++)
        if (strncasecmp(hay, needle, n) == 0)
            return hay;
    return NULL;
}

static void *receiver_main(void *arg)
{
    struct world *w = arg;

    while (!atomic_load(&w->stop)) {
        int c = accept(w->recv_fd, NULL, NULL);
        char buf[65536];
        size_t n = 0;
        const char *ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
                         "Connection: close\r\n\r\nok";
        char *hdr_end, *sig, *body;
        size_t clen = 0;

        if (c < 0)
            continue;
        for (;;) {
            ssize_t got = recv(c, buf + n, sizeof(buf) - 1 - n, 0);

            if (got <= 0)
                break;
            n += (size_t)got;
            buf[n] = '\0';
            hdr_end = strstr(buf, "\r\n\r\n");
            if (hdr_end) {
                char *cl = find_ci(buf, "content-length:");

                clen = cl ? strtoul(cl + 15, NULL, 10) : 0;
                if (n >= (size_t)(hdr_end + 4 - buf) + clen)
                    break;
            }
        }
        buf[n] = '\0';
        hdr_end = strstr(buf, "\r\n\r\n");
        sig = find_ci(buf, "x-surge-signature: sha256=");
        if (hdr_end && sig) {
            char want[65];

            body = hdr_end + 4;
            sg_hmac_sha256_hex("notify_secret_xyz", 17, body, clen, want);
            if (strncmp(sig + 26, want, 64) == 0)
                atomic_store(&w->sig_ok, true);
        }
        if (strstr(buf, "webhook.generic"))
            atomic_fetch_add(&w->received, 1);
        send(c, ok, strlen(ok), MSG_NOSIGNAL);
        close(c);
    }
    return NULL;
}

static int receiver_start(struct world *w)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t len = sizeof(a);
    struct timeval tv = {.tv_sec = 0, .tv_usec = 200000};

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    w->recv_fd = socket(AF_INET, SOCK_STREAM, 0);
    if (bind(w->recv_fd, (struct sockaddr *)&a, sizeof(a)) ||
        listen(w->recv_fd, 64) ||
        getsockname(w->recv_fd, (struct sockaddr *)&a, &len))
        return -1;
    setsockopt(w->recv_fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    w->recv_port = ntohs(a.sin_port);
    return pthread_create(&w->recv_tid, NULL, receiver_main, w);
}

/* ---- helpers ---- */

static int surge(const char *a1, const char *a2, const char *a3,
                 const char *a4, const char *a5, char **out)
{
    char *argv[10] = {(char *)(uintptr_t)sgt_surge_bin()};
    size_t n = 1;
    const char *args[] = {a1, a2, a3, a4, a5};

    for (size_t i = 0; i < 5 && args[i]; i++)
        argv[n++] = (char *)(uintptr_t)args[i];
    argv[n++] = ARG("--config");
    argv[n++] = W.conf;
    argv[n] = NULL;
    return sgt_run(argv, NULL, out, NULL);
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

static void start_server(void)
{
    char *argv[] = {ARG(sgt_surge_bin()), ARG("serve"), ARG("--config"),
                    W.conf, NULL};

    assert_int_equal(sgt_spawn(&W.srv, argv, W.log), 0);
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

static void webhook(struct sgt_resp *r, const char *id, const char *body,
                    bool good_sig)
{
    char url[512], sig[100], hid[200], hex[65];
    const char *headers[4];

    sg_hmac_sha256_hex(SECRET, strlen(SECRET), body, strlen(body), hex);
    if (!good_sig)
        hex[0] = hex[0] == 'a' ? 'b' : 'a';
    snprintf(url, sizeof(url), "%s/webhooks/generic", W.srv.url);
    snprintf(sig, sizeof(sig), "X-Surge-Signature: sha256=%s", hex);
    snprintf(hid, sizeof(hid), "X-Surge-Event-Id: %s", id);
    headers[0] = sig;
    headers[1] = hid;
    headers[2] = "Content-Type: application/json";
    headers[3] = NULL;
    sgt_http(r, "POST", url, headers, body, strlen(body));
}

static int64_t json_id(const char *body)
{
    const char *p = strstr(body, "\"id\":");

    return p ? strtoll(p + 5, NULL, 10) : -1;
}

/* ---- setup ---- */

static int setup(void **state)
{
    char conf[1024], *out = NULL;

    SG_UNUSED(state);
    W.dir = sgt_tmpdir();
    W.conf = sgt_path(W.dir, "surge.conf");
    W.log = sgt_path(W.dir, "serve.log");
    if (receiver_start(&W))
        return -1;
    snprintf(conf, sizeof(conf),
             "[server]\nlisten = 127.0.0.1:0\nthreads = 2\n\n"
             "[store]\npath = %s/surge.db\n\n"
             "[webhook_generic]\nsecret = %s\ntenant = acme\n\n"
             "[notify]\nurl = http://127.0.0.1:%u/hook\n"
             "secret = notify_secret_xyz\n\n"
             "[jobs]\nbackoff_base_ms = 50\n\n"
             "[security]\nallow_private_urls = true\n",
             W.dir, SECRET, W.recv_port);
    if (sgt_write_file(W.conf, conf))
        return -1;
    chmod(W.conf, 0600);
    if (surge("migrate", NULL, NULL, NULL, NULL, NULL) != 0 ||
        surge("tenant", "create", "acme", NULL, NULL, NULL) != 0 ||
        surge("tenant", "create", "beta", NULL, NULL, NULL) != 0)
        return -1;
    if (surge("apikey", "create", "--tenant", "acme", NULL, &out) != 0)
        return -1;
    key_from(out, W.key_a);
    sg_free(out);
    if (surge("apikey", "create", "--tenant", "acme", "--read-only", &out))
        return -1;
    key_from(out, W.key_a_ro);
    sg_free(out);
    if (surge("apikey", "create", "--tenant", "beta", NULL, &out) != 0)
        return -1;
    key_from(out, W.key_b);
    sg_free(out);
    start_server();
    return 0;
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
    sg_free(W.dir);
    return 0;
}

/* ---- tests ---- */

static void test_health(void **state)
{
    struct sgt_resp r;

    SG_UNUSED(state);
    api(&r, "GET", "/healthz", NULL, NULL);
    assert_int_equal(r.status, 200);
    sgt_resp_free(&r);
    api(&r, "GET", "/readyz", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "ready"));
    sgt_resp_free(&r);
}

static void test_auth(void **state)
{
    struct sgt_resp r;

    SG_UNUSED(state);
    api(&r, "GET", "/api/v1/jobs", NULL, NULL);
    assert_int_equal(r.status, 401);
    assert_non_null(strstr(r.body, "\"code\":\"unauthorized\""));
    sgt_resp_free(&r);

    api(&r, "GET", "/api/v1/jobs", "sk_wrong", NULL);
    assert_int_equal(r.status, 401);
    sgt_resp_free(&r);

    api(&r, "GET", "/api/v1/jobs", W.key_a_ro, NULL);
    assert_int_equal(r.status, 200);
    sgt_resp_free(&r);

    api(&r, "POST", "/api/v1/notify", W.key_a_ro, "{\"event\":\"x\"}");
    assert_int_equal(r.status, 403);
    assert_non_null(strstr(r.body, "\"code\":\"forbidden\""));
    sgt_resp_free(&r);

    api(&r, "GET", "/api/v1/whoami", W.key_a, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"tenant\":\"acme\""));
    sgt_resp_free(&r);
}

static void test_bad_json(void **state)
{
    struct sgt_resp r;

    SG_UNUSED(state);
    api(&r, "POST", "/api/v1/notify", W.key_a, "{\"event\": ");
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "\"code\":\"invalid_json\""));
    assert_non_null(strstr(r.body, "at byte"));
    sgt_resp_free(&r);

    api(&r, "POST", "/api/v1/notify", W.key_a, "{\"data\":{}}");
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "\"field\":\"event\""));
    sgt_resp_free(&r);

    api(&r, "GET", "/api/v1/nothing-here", W.key_a, NULL);
    assert_int_equal(r.status, 404);
    assert_non_null(strstr(r.body, "\"error\""));
    sgt_resp_free(&r);
}

static void test_tenant_isolation(void **state)
{
    struct sgt_resp r;
    char path[128];
    int64_t id;

    SG_UNUSED(state);
    api(&r, "POST", "/api/v1/notify", W.key_a,
        "{\"event\":\"order.ready\",\"data\":{\"order\":\"A-1\"}}");
    assert_int_equal(r.status, 202);
    id = json_id(r.body);
    assert_true(id > 0);
    sgt_resp_free(&r);

    snprintf(path, sizeof(path), "/api/v1/jobs/%" PRId64, id);
    api(&r, "GET", path, W.key_a, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "notify.http"));
    sgt_resp_free(&r);

    api(&r, "GET", path, W.key_b, NULL);
    assert_int_equal(r.status, 404);
    sgt_resp_free(&r);

    snprintf(path, sizeof(path), "/api/v1/jobs/%" PRId64 "/retry", id);
    api(&r, "POST", path, W.key_b, NULL);
    assert_int_equal(r.status, 404);
    sgt_resp_free(&r);

    api(&r, "GET", "/api/v1/jobs", W.key_b, NULL);
    assert_int_equal(r.status, 200);
    assert_null(strstr(r.body, "order.ready"));
    sgt_resp_free(&r);

    /* Every mutation left an audit row, visible to its tenant only. */
    api(&r, "GET", "/api/v1/audit", W.key_a, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "notify.enqueue"));
    sgt_resp_free(&r);
    api(&r, "GET", "/api/v1/audit", W.key_b, NULL);
    assert_int_equal(r.status, 200);
    assert_null(strstr(r.body, "notify.enqueue"));
    assert_non_null(strstr(r.body, "job.retry"));
    sgt_resp_free(&r);
}

static void test_webhook_intake(void **state)
{
    struct sgt_resp r;
    const char *body = "{\"order\":\"W-1\",\"qty\":2}";

    SG_UNUSED(state);
    webhook(&r, "evt-1", body, false);
    assert_int_equal(r.status, 401);
    assert_non_null(strstr(r.body, "bad_signature"));
    sgt_resp_free(&r);

    webhook(&r, "evt-1", body, true);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"status\":\"accepted\""));
    sgt_resp_free(&r);

    webhook(&r, "evt-1", body, true);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"status\":\"duplicate\""));
    sgt_resp_free(&r);
}

static void test_notify_delivery(void **state)
{
    SG_UNUSED(state);
    /* evt-1 above went inbox -> outbox -> dispatcher -> the receiver. */
    for (int i = 0; i < 200 && atomic_load(&W.received) == 0; i++)
        usleep(50000);
    assert_true(atomic_load(&W.received) >= 1);
    assert_true(atomic_load(&W.sig_ok));
}

static void test_ack_survives_sigkill(void **state)
{
    struct sgt_resp r;
    int64_t ids[60];
    char id[32], path[128];

    SG_UNUSED(state);
    for (int i = 0; i < 60; i++) {
        snprintf(id, sizeof(id), "kill-%d", i);
        webhook(&r, id, "{\"n\":1}", true);
        assert_int_equal(r.status, 200);
        ids[i] = json_id(r.body);
        assert_true(ids[i] > 0);
        sgt_resp_free(&r);
    }
    /* Kill right after the last acknowledgement: no graceful shutdown. */
    sgt_stop(&W.srv, SIGKILL);
    start_server();
    for (int i = 0; i < 60; i++) {
        snprintf(path, sizeof(path), "/api/v1/inbox/%" PRId64, ids[i]);
        api(&r, "GET", path, W.key_a, NULL);
        assert_int_equal(r.status, 200);
        snprintf(id, sizeof(id), "\"kill-%d\"", i);
        assert_non_null(strstr(r.body, id));
        sgt_resp_free(&r);
    }
    /* Tenant B cannot read tenant A's inbox. */
    snprintf(path, sizeof(path), "/api/v1/inbox/%" PRId64, ids[0]);
    api(&r, "GET", path, W.key_b, NULL);
    assert_int_equal(r.status, 404);
    sgt_resp_free(&r);
}

/* Every non-comment line is `name{labels} value` or `name value`. */
static void test_metrics(void **state)
{
    struct sgt_resp r;
    char *line, *save = NULL;
    int samples = 0;

    SG_UNUSED(state);
    webhook(&r, "metrics-1", "{}", true);
    assert_int_equal(r.status, 200);
    sgt_resp_free(&r);
    api(&r, "GET", "/metrics", NULL, NULL);
    assert_int_equal(r.status, 200);
    for (line = strtok_r(r.body, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        char *sp, *end;

        if (line[0] == '#') {
            assert_true(strncmp(line, "# HELP ", 7) == 0 ||
                        strncmp(line, "# TYPE ", 7) == 0);
            continue;
        }
        assert_true(line[0] == '_' || (line[0] >= 'a' && line[0] <= 'z'));
        sp = strrchr(line, ' ');
        assert_non_null(sp);
        strtod(sp + 1, &end);
        assert_true(*end == '\0');
        if (strchr(line, '{'))
            assert_true(strchr(line, '}') && strchr(line, '}') < sp);
        samples++;
    }
    assert_true(samples > 10);
    sgt_resp_free(&r);
    api(&r, "GET", "/metrics", NULL, NULL);
    assert_non_null(strstr(r.body, "sg_store_commit_batch_size_bucket"));
    assert_non_null(strstr(r.body, "sg_jobs{state=\"queued\"}"));
    assert_non_null(strstr(r.body, "route=\"/webhooks/generic\","
                                   "status=\"200\",method=\"POST\""));
    sgt_resp_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_health),
        cmocka_unit_test(test_auth),
        cmocka_unit_test(test_bad_json),
        cmocka_unit_test(test_tenant_isolation),
        cmocka_unit_test(test_webhook_intake),
        cmocka_unit_test(test_notify_delivery),
        cmocka_unit_test(test_ack_survives_sigkill),
        cmocka_unit_test(test_metrics),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
