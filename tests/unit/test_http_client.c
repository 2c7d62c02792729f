/*
 * test_http_client.c - the libcurl multi wrapper against a loopback peer
 * written here with plain sockets and a thread: a 200 with a body, the
 * Retry-After header, keep-alive reuse, the body cap, and the transport
 * errors (timeout, reset, refused, nothing). Every wait is bounded.
 */
#include "core/sg.h"

#include <setjmp.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "http/client.h"

enum peer_mode {
    PEER_OK,     /* 200, body "hello", Retry-After: 7 */
    PEER_429,    /* 429 with an HTTP-date Retry-After */
    PEER_SILENT, /* read the request, never answer */
    PEER_RESET,  /* read the request, then RST */
    PEER_CLOSE,  /* read the request, then close cleanly */
    PEER_BIG,    /* a 200 with a 64 KiB body */
};

struct peer {
    int fd;
    unsigned port;
    pthread_t thread;
    atomic_int mode;
    atomic_int accepts;
    atomic_int requests;
    atomic_bool stop;
    char last_method[16];
    char last_body[256];
};

static bool find_crlf2(const char *buf, size_t len, size_t *end)
{
    for (size_t i = 0; i + 3 < len; i++) {
        if (memcmp(buf + i, "\r\n\r\n", 4) == 0) {
            *end = i + 4;
            return true;
        }
    }
    return false;
}

static size_t content_length(const char *buf, size_t hdr_len)
{
    const char *p = buf;
    const char *end = buf + hdr_len;

    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));

        if (!eol)
            break;
        if ((size_t)(eol - p) > 15 &&
            strncasecmp(p, "content-length:", 15) == 0)
            return (size_t)strtoul(p + 15, NULL, 10);
        p = eol + 1;
    }
    return 0;
}

/* Wait up to 3 s for readable data; false on timeout or stop. */
static bool wait_readable(struct peer *pe, int fd)
{
    for (int i = 0; i < 300 && !atomic_load(&pe->stop); i++) {
        struct pollfd p = {.fd = fd, .events = POLLIN};

        if (poll(&p, 1, 10) > 0)
            return true;
    }
    return false;
}

/* Read one request; false when the peer closed or nothing came. */
static bool read_request(struct peer *pe, int fd)
{
    char buf[8192];
    size_t len = 0, hdr_end = 0, need;
    ssize_t n;

    while (!find_crlf2(buf, len, &hdr_end)) {
        if (len == sizeof(buf) || !wait_readable(pe, fd))
            return false;
        n = recv(fd, buf + len, sizeof(buf) - len, 0);
        if (n <= 0)
            return false;
        len += (size_t)n;
    }
    need = hdr_end + content_length(buf, hdr_end);
    while (len < need && len < sizeof(buf)) {
        if (!wait_readable(pe, fd))
            return false;
        n = recv(fd, buf + len, sizeof(buf) - len, 0);
        if (n <= 0)
            return false;
        len += (size_t)n;
    }
    sscanf(buf, "%15s", pe->last_method);
    snprintf(pe->last_body, sizeof(pe->last_body), "%.*s", (int)(len - hdr_end),
             buf + hdr_end);
    atomic_fetch_add(&pe->requests, 1);
    return true;
}

static void send_all(int fd, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);

        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

/* Serve one connection; returns when it should be closed. */
static void serve(struct peer *pe, int fd)
{
    static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
                             "Retry-After: 7\r\nX-Test:  two words \r\n\r\n"
                             "hello";
    static const char r429[] = "HTTP/1.1 429 Too Many Requests\r\n"
                               "Retry-After: Wed, 21 Oct 2037 07:28:00 GMT"
                               "\r\nContent-Length: 4\r\n\r\nslow";

    while (read_request(pe, fd)) {
        int mode = atomic_load(&pe->mode);

        if (mode == PEER_OK) {
            send_all(fd, ok, sizeof(ok) - 1);
        } else if (mode == PEER_429) {
            send_all(fd, r429, sizeof(r429) - 1);
        } else if (mode == PEER_SILENT) {
            char tmp[64];

            /* Until the client gives up and closes (bounded). */
            while (wait_readable(pe, fd) && recv(fd, tmp, sizeof(tmp), 0) > 0)
                ;
            return;
        } else if (mode == PEER_RESET) {
            struct linger lg = {.l_onoff = 1, .l_linger = 0};

            setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
            return;
        } else if (mode == PEER_CLOSE) {
            return;
        } else {
            static char big[65536];
            char hdr[128];
            int n = snprintf(hdr, sizeof(hdr),
                             "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n",
                             sizeof(big));

            memset(big, 'x', sizeof(big));
            send_all(fd, hdr, (size_t)n);
            send_all(fd, big, sizeof(big));
        }
    }
}

static void *peer_main(void *arg)
{
    struct peer *pe = arg;

    while (!atomic_load(&pe->stop)) {
        struct pollfd p = {.fd = pe->fd, .events = POLLIN};
        int fd;

        if (poll(&p, 1, 10) <= 0)
            continue;
        fd = accept(pe->fd, NULL, NULL);
        if (fd < 0)
            continue;
        atomic_fetch_add(&pe->accepts, 1);
        serve(pe, fd);
        close(fd);
    }
    return NULL;
}

static unsigned listen_any(int *fd_out)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t sl = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, 16), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    *fd_out = fd;
    return ntohs(sa.sin_port);
}

static int peer_setup(void **st)
{
    struct peer *pe = sg_calloc(1, sizeof(*pe));

    if (!pe)
        return -1;
    pe->port = listen_any(&pe->fd);
    if (pthread_create(&pe->thread, NULL, peer_main, pe) != 0)
        return -1;
    *st = pe;
    return 0;
}

static int peer_teardown(void **st)
{
    struct peer *pe = *st;

    atomic_store(&pe->stop, true);
    pthread_join(pe->thread, NULL);
    close(pe->fd);
    sg_free(pe);
    return 0;
}

/* ---- driving the client ---- */

struct result {
    bool done;
    int transport;
    long status;
    bool sent;
    char body[128];
    size_t body_len;
    bool has_ra;
    char ra[SG_HTTP_RETRY_AFTER_MAX];
    char xtest[32];
};

static void on_done(void *arg, const struct sg_http_response *resp)
{
    struct result *r = arg;
    size_t n = 0;
    const char *v = sg_http_response_header(resp, "x-test", &n);

    r->done = true;
    r->transport = resp->transport;
    r->status = resp->status;
    r->sent = resp->sent;
    r->body_len = resp->body_len;
    snprintf(r->body, sizeof(r->body), "%.*s", (int)resp->body_len, resp->body);
    r->has_ra = resp->has_retry_after;
    snprintf(r->ra, sizeof(r->ra), "%s", resp->retry_after);
    if (v)
        snprintf(r->xtest, sizeof(r->xtest), "%.*s", (int)n, v);
}

static void url_of(const struct peer *pe, char *url, size_t n)
{
    snprintf(url, n, "http://127.0.0.1:%u/hook", pe->port);
}

static void run_one(struct sg_http_client *c, const char *url,
                    unsigned timeout_ms, struct result *r)
{
    static const char *const hdrs[] = {"Content-Type: application/json", NULL};
    struct sg_http_request req = {.method = "POST",
                                  .url = url,
                                  .headers = hdrs,
                                  .body = "{\"a\":1}",
                                  .body_len = 7,
                                  .timeout_ms = timeout_ms};
    struct sg_err err;

    memset(r, 0, sizeof(*r));
    assert_int_equal(sg_http_client_submit(c, &req, on_done, r, &err), 0);
    assert_int_equal(sg_http_client_pending(c), 1);
    for (int i = 0; i < 1000 && !r->done; i++)
        assert_int_equal(sg_http_client_run(c, 20), 0);
    assert_true(r->done);
    assert_int_equal(sg_http_client_pending(c), 0);
}

static struct sg_http_client *mk_client(size_t body_max)
{
    struct sg_http_client_cfg cfg;
    struct sg_http_client *c = NULL;
    struct sg_err err;

    sg_http_client_cfg_defaults(&cfg);
    cfg.body_max = body_max;
    assert_int_equal(sg_http_client_new(&c, &cfg, &err), 0);
    return c;
}

static void test_ok_with_body_and_reuse(void **st)
{
    struct peer *pe = *st;
    struct sg_http_client *c = mk_client(4096);
    struct result r;
    char url[64];

    url_of(pe, url, sizeof(url));
    atomic_store(&pe->mode, PEER_OK);
    for (int i = 0; i < 3; i++) {
        run_one(c, url, 2000, &r);
        assert_int_equal(r.transport, SG_HTTP_OK);
        assert_int_equal(r.status, 200);
        assert_true(r.sent);
        assert_int_equal(r.body_len, 5);
        assert_string_equal(r.body, "hello");
        assert_true(r.has_ra);
        assert_string_equal(r.ra, "7");
        assert_string_equal(r.xtest, "two words");
        assert_string_equal(pe->last_method, "POST");
        assert_string_equal(pe->last_body, "{\"a\":1}");
    }
    /* Keep-alive: three requests, one connection. */
    assert_int_equal(atomic_load(&pe->requests), 3);
    assert_int_equal(atomic_load(&pe->accepts), 1);
    sg_http_client_free(c);
}

static void test_retry_after_date(void **st)
{
    struct peer *pe = *st;
    struct sg_http_client *c = mk_client(4096);
    struct result r;
    char url[64];

    url_of(pe, url, sizeof(url));
    atomic_store(&pe->mode, PEER_429);
    run_one(c, url, 2000, &r);
    assert_int_equal(r.transport, SG_HTTP_OK);
    assert_int_equal(r.status, 429);
    assert_true(r.has_ra);
    assert_string_equal(r.ra, "Wed, 21 Oct 2037 07:28:00 GMT");
    assert_string_equal(r.body, "slow");
    sg_http_client_free(c);
}

static void test_timeout(void **st)
{
    struct peer *pe = *st;
    struct sg_http_client *c = mk_client(4096);
    struct result r;
    char url[64];

    url_of(pe, url, sizeof(url));
    atomic_store(&pe->mode, PEER_SILENT);
    run_one(c, url, 150, &r);
    assert_int_equal(r.transport, SG_HTTP_TIMEOUT);
    assert_int_equal(r.status, 0);
    assert_true(r.sent);
    sg_http_client_free(c);
}

static void test_reset_and_nothing(void **st)
{
    struct peer *pe = *st;
    struct sg_http_client *c = mk_client(4096);
    struct result r;
    char url[64];

    url_of(pe, url, sizeof(url));
    atomic_store(&pe->mode, PEER_RESET);
    run_one(c, url, 2000, &r);
    assert_int_equal(r.transport, SG_HTTP_RESET);
    assert_true(r.sent);
    atomic_store(&pe->mode, PEER_CLOSE);
    run_one(c, url, 2000, &r);
    assert_int_equal(r.transport, SG_HTTP_GOT_NOTHING);
    sg_http_client_free(c);
}

static void test_refused(void **st)
{
    struct sg_http_client *c = mk_client(4096);
    struct result r;
    char url[64];
    int fd;
    unsigned port = listen_any(&fd);

    SG_UNUSED(st);
    close(fd); /* nobody listens there now */
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/", port);
    run_one(c, url, 2000, &r);
    assert_int_equal(r.transport, SG_HTTP_REFUSED);
    assert_false(r.sent);
    sg_http_client_free(c);
}

static void test_body_cap(void **st)
{
    struct peer *pe = *st;
    struct sg_http_client *c = mk_client(1000);
    struct result r;
    char url[64];

    url_of(pe, url, sizeof(url));
    atomic_store(&pe->mode, PEER_BIG);
    run_one(c, url, 2000, &r);
    assert_int_equal(r.transport, SG_HTTP_TOO_BIG);
    assert_int_equal(r.status, 200);
    assert_true(r.body_len <= 1000);
    sg_http_client_free(c);
}

/* Freeing with requests in flight calls each callback once, cancelled. */
static void test_free_cancels(void **st)
{
    struct peer *pe = *st;
    struct sg_http_client *c = mk_client(4096);
    struct sg_http_request req = {.method = "GET"};
    struct result r[2];
    char url[64];

    url_of(pe, url, sizeof(url));
    req.url = url;
    atomic_store(&pe->mode, PEER_SILENT);
    memset(r, 0, sizeof(r));
    assert_int_equal(sg_http_client_submit(c, &req, on_done, &r[0], NULL), 0);
    assert_int_equal(sg_http_client_submit(c, &req, on_done, &r[1], NULL), 0);
    assert_int_equal(sg_http_client_run(c, 10), 0);
    sg_http_client_free(c);
    for (int i = 0; i < 2; i++) {
        assert_true(r[i].done);
        assert_int_equal(r[i].transport, SG_HTTP_CANCELLED);
    }
}

static void test_bad_requests(void **st)
{
    struct sg_http_client *c = mk_client(4096);
    struct sg_http_request req = {.method = "GET", .url = "ftp://x/"};
    struct result r;
    struct sg_err err;

    SG_UNUSED(st);
    assert_int_equal(sg_http_client_submit(c, &req, on_done, &r, &err),
                     SG_EINVAL);
    req.url = "http://127.0.0.1/";
    req.method = "get";
    assert_int_equal(sg_http_client_submit(c, &req, on_done, &r, &err),
                     SG_EINVAL);
    req.method = NULL;
    assert_int_equal(sg_http_client_submit(c, &req, on_done, &r, &err),
                     SG_EINVAL);
    assert_int_equal(sg_http_client_pending(c), 0);
    sg_http_client_free(c);
}

static void test_sync_do(void **st)
{
    struct peer *pe = *st;
    struct sg_http_request req = {.method = "PUT", .body = "x", .body_len = 1};
    struct sg_http_response resp;
    struct sg_err err;
    char url[64];
    size_t n;
    const char *v;

    url_of(pe, url, sizeof(url));
    req.url = url;
    atomic_store(&pe->mode, PEER_OK);
    assert_int_equal(sg_http_client_do(&resp, &req, NULL, &err), 0);
    assert_int_equal(resp.status, 200);
    assert_int_equal(resp.body_len, 5);
    assert_string_equal(resp.body, "hello");
    v = sg_http_response_header(&resp, "Retry-After", &n);
    assert_non_null(v);
    assert_int_equal(n, 1);
    assert_int_equal(v[0], '7');
    assert_null(sg_http_response_header(&resp, "Retry", NULL));
    assert_string_equal(pe->last_method, "PUT");
    assert_string_equal(pe->last_body, "x");
    sg_http_response_release(&resp);

    atomic_store(&pe->mode, PEER_RESET);
    sg_err_init(&err);
    assert_int_equal(sg_http_client_do(&resp, &req, NULL, &err), SG_EREMOTE);
    assert_int_equal(resp.transport, SG_HTTP_RESET);
    assert_true(err.retryable);
    sg_http_response_release(&resp);
}

struct waker {
    struct sg_http_client *c;
};

static void *wake_later(void *arg)
{
    struct waker *w = arg;

    usleep(20000);
    sg_http_client_wakeup(w->c);
    return NULL;
}

static void test_wakeup_from_other_thread(void **st)
{
    struct sg_http_client *c = mk_client(4096);
    struct waker w = {c};
    pthread_t t;
    int64_t t0;

    SG_UNUSED(st);
    assert_int_equal(pthread_create(&t, NULL, wake_later, &w), 0);
    t0 = sg_mono_ms();
    assert_int_equal(sg_http_client_run(c, 60000), 0);
    /* Not a speed check: only that the 60 s wait was cut short. */
    assert_true(sg_mono_ms() - t0 < 30000);
    pthread_join(t, NULL);
    sg_http_client_free(c);
}

static void test_deny_private(void **st)
{
    struct peer *pe = *st;
    struct sg_http_client_cfg cfg;
    struct sg_http_client *c = NULL;
    struct result r;
    char url[64];

    sg_http_client_cfg_defaults(&cfg);
    cfg.deny_private = true;
    assert_int_equal(sg_http_client_new(&c, &cfg, NULL), 0);
    url_of(pe, url, sizeof(url));
    atomic_store(&pe->mode, PEER_OK);
    run_one(c, url, 2000, &r);
    assert_int_equal(r.transport, SG_HTTP_BLOCKED);
    assert_false(r.sent);
    assert_int_equal(atomic_load(&pe->accepts), 0);
    sg_http_client_free(c);
}

static bool priv4(const char *ip)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};

    assert_int_equal(inet_pton(AF_INET, ip, &sa.sin_addr), 1);
    return sg_http_addr_is_private((const struct sockaddr *)&sa);
}

static bool priv6(const char *ip)
{
    struct sockaddr_in6 sa = {.sin6_family = AF_INET6};

    assert_int_equal(inet_pton(AF_INET6, ip, &sa.sin6_addr), 1);
    return sg_http_addr_is_private((const struct sockaddr *)&sa);
}

static void test_private_ranges(void **st)
{
    static const char *const priv[] = {
        "127.0.0.1",   "10.1.2.3",        "172.16.0.1", "172.31.255.255",
        "192.168.1.1", "169.254.169.254", "0.0.0.0",    "100.64.0.1",
        "224.0.0.1",   "255.255.255.255",
    };
    static const char *const pub[] = {
        "8.8.8.8",     "172.32.0.1", "172.15.255.255",  "192.169.0.1",
        "100.128.0.1", "1.1.1.1",    "223.255.255.255",
    };

    SG_UNUSED(st);
    for (size_t i = 0; i < SG_ARRAY_SIZE(priv); i++) {
        if (!priv4(priv[i]))
            fail_msg("%s should be private", priv[i]);
    }
    for (size_t i = 0; i < SG_ARRAY_SIZE(pub); i++) {
        if (priv4(pub[i]))
            fail_msg("%s should be public", pub[i]);
    }
    assert_true(priv6("::1"));
    assert_true(priv6("::"));
    assert_true(priv6("fe80::1"));
    assert_true(priv6("fd00::1"));
    assert_true(priv6("::ffff:127.0.0.1"));
    assert_true(priv6("::ffff:10.0.0.1"));
    assert_false(priv6("::ffff:8.8.8.8"));
    assert_false(priv6("2001:4860:4860::8888"));
}

static void test_url_host(void **st)
{
    char host[32];

    SG_UNUSED(st);
    assert_int_equal(sg_http_url_host("https://hooks.example.com:8443/a?b",
                                      host, sizeof(host), NULL),
                     0);
    assert_string_equal(host, "hooks.example.com");
    assert_int_equal(
        sg_http_url_host("http://127.0.0.1:9/x", host, sizeof(host), NULL), 0);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(
        sg_http_url_host("http://[::1]:80/", host, sizeof(host), NULL), 0);
    assert_string_equal(host, "::1");
    assert_int_equal(sg_http_url_host("ftp://x/", host, sizeof(host), NULL),
                     SG_EINVAL);
    assert_int_equal(sg_http_url_host("not a url", host, sizeof(host), NULL),
                     SG_EINVAL);
    assert_int_equal(
        sg_http_url_host("http://long-host.example/", host, 8, NULL),
        SG_ELIMIT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ok_with_body_and_reuse, peer_setup,
                                        peer_teardown),
        cmocka_unit_test_setup_teardown(test_retry_after_date, peer_setup,
                                        peer_teardown),
        cmocka_unit_test_setup_teardown(test_timeout, peer_setup,
                                        peer_teardown),
        cmocka_unit_test_setup_teardown(test_reset_and_nothing, peer_setup,
                                        peer_teardown),
        cmocka_unit_test(test_refused),
        cmocka_unit_test_setup_teardown(test_body_cap, peer_setup,
                                        peer_teardown),
        cmocka_unit_test_setup_teardown(test_free_cancels, peer_setup,
                                        peer_teardown),
        cmocka_unit_test(test_bad_requests),
        cmocka_unit_test_setup_teardown(test_sync_do, peer_setup,
                                        peer_teardown),
        cmocka_unit_test(test_wakeup_from_other_thread),
        cmocka_unit_test_setup_teardown(test_deny_private, peer_setup,
                                        peer_teardown),
        cmocka_unit_test(test_private_ranges),
        cmocka_unit_test(test_url_host),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
