/*
 * test_http_server.c - the HTTP server over real loopback sockets: routing,
 * parameters, JSON errors, limits, deferred and delayed answers, aborts.
 */
#include "testlib.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "http/server.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <unistd.h>

static struct sg_http_server *srv;
static char base[200];

static void h_hello(struct sg_http_req *r, void *ctx)
{
    SG_UNUSED(ctx);
    sg_http_reply(r, 200, "text/plain", "hello", 5);
}

static void h_item(struct sg_http_req *r, void *ctx)
{
    size_t len;
    const char *id = sg_http_req_param(r, "id", &len);
    char q[64] = "";
    char out[160];

    SG_UNUSED(ctx);
    sg_http_req_query_get(r, "q", q, sizeof(q));
    snprintf(out, sizeof(out), "id=%.*s q=%s", (int)len, id, q);
    sg_http_reply(r, 200, "text/plain", out, strlen(out));
}

static void h_json(struct sg_http_req *r, void *ctx)
{
    json_t *j = sg_http_req_json(r);

    SG_UNUSED(ctx);
    if (!j)
        return;
    sg_http_reply_json(r, 200, json_pack("{s:o}", "echo", j));
}

static void *complete_later(void *arg)
{
    struct sg_http_deferred *d = arg;

    usleep(20000);
    sg_http_deferred_reply(d, 201, "text/plain", "later", 5);
    return NULL;
}

static void h_defer(struct sg_http_req *r, void *ctx)
{
    struct sg_http_deferred *d = sg_http_defer(r);
    pthread_t t;

    SG_UNUSED(ctx);
    if (!d) { /* out of memory: answer now */
        sg_http_reply(r, 503, "text/plain", "", 0);
        return;
    }
    pthread_create(&t, NULL, complete_later, d);
    pthread_detach(t);
}

static atomic_bool stall_oom_failed;

static void h_stall(struct sg_http_req *r, void *ctx)
{
    SG_UNUSED(ctx);
    sg_http_reply_later(r, 50, 200, "text/plain", "slow", 4);
}

/*
 * A delayed answer whose body cannot be copied: the third allocation of
 * sg_http_reply_later (after the deferred answer and its content type)
 * fails. Found by the D5 sweep under ASan: the answer went out as a 503
 * of the body's length read past an empty string.
 */
static void h_stall_oom(struct sg_http_req *r, void *ctx)
{
    SG_UNUSED(ctx);
    sg_alloc_fail_at(3);
    sg_http_reply_later(r, 10, 200, "text/plain", "slow", 4);
    stall_oom_failed = sg_alloc_failed();
    sg_alloc_fail_at(0);
}

static void h_abort(struct sg_http_req *r, void *ctx)
{
    SG_UNUSED(ctx);
    sg_http_abort(r, SG_HTTP_ABORT_RESET);
}

static int setup(void **state)
{
    struct sg_http_server_cfg cfg;
    struct sg_err err;

    SG_UNUSED(state);
    sg_http_server_cfg_defaults(&cfg);
    cfg.listen = "127.0.0.1:0";
    cfg.threads = 2;
    cfg.limits.body_max = 1024;
    cfg.limits.headers_max = 20;
    cfg.limits.json_depth_max = 4;
    if (sg_http_server_new(&srv, &cfg, &err))
        return -1;
    sg_http_route(srv, "GET", "/hello", h_hello, NULL);
    sg_http_route(srv, "GET", "/items/{id}", h_item, NULL);
    sg_http_route(srv, "POST", "/items/{id}", h_item, NULL);
    sg_http_route(srv, "POST", "/json", h_json, NULL);
    sg_http_route(srv, "POST", "/defer", h_defer, NULL);
    sg_http_route(srv, "GET", "/stall", h_stall, NULL);
    sg_http_route(srv, "GET", "/stall-oom", h_stall_oom, NULL);
    sg_http_route(srv, "GET", "/abort", h_abort, NULL);
    if (sg_http_server_start(srv, &err))
        return -1;
    snprintf(base, sizeof(base), "%s", sg_http_server_url(srv));
    return 0;
}

static int teardown(void **state)
{
    SG_UNUSED(state);
    sg_http_server_free(srv);
    return 0;
}

static void call(struct sgt_resp *r, const char *method, const char *path,
                 const char *const *headers, const char *body)
{
    char url[400];

    snprintf(url, sizeof(url), "%s%s", base, path);
    sgt_http(r, method, url, headers, body, body ? strlen(body) : 0);
}

static void test_routes(void **state)
{
    struct sgt_resp r;

    SG_UNUSED(state);
    call(&r, "GET", "/hello", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "hello");
    assert_non_null(strstr(r.headers, "x-request-id"));
    sgt_resp_free(&r);

    call(&r, "GET", "/items/42?q=a%2Fb+c", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "id=42 q=a/b c");
    sgt_resp_free(&r);
}

static void test_not_found_and_method(void **state)
{
    struct sgt_resp r;
    char *allow;

    SG_UNUSED(state);
    call(&r, "GET", "/nope", NULL, NULL);
    assert_int_equal(r.status, 404);
    assert_non_null(strstr(r.body, "\"code\":\"not_found\""));
    sgt_resp_free(&r);

    call(&r, "DELETE", "/hello", NULL, NULL);
    assert_int_equal(r.status, 405);
    assert_non_null(strstr(r.body, "method_not_allowed"));
    allow = sgt_resp_header(&r, "allow");
    assert_non_null(allow);
    assert_string_equal(allow, "GET");
    sg_free(allow);
    sgt_resp_free(&r);
}

static void test_json_errors(void **state)
{
    struct sgt_resp r;

    SG_UNUSED(state);
    call(&r, "POST", "/json", NULL, "{\"a\":1}");
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"echo\":{\"a\":1}}");
    sgt_resp_free(&r);

    call(&r, "POST", "/json", NULL, "{\"a\":}");
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "invalid_json"));
    assert_non_null(strstr(r.body, "at byte 5"));
    sgt_resp_free(&r);

    call(&r, "POST", "/json", NULL, "[[[[[1]]]]]");
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "json_too_deep"));
    sgt_resp_free(&r);
}

static void test_limits(void **state)
{
    struct sgt_resp r;
    const char *many[32];
    char names[32][32];
    char big[4096];

    SG_UNUSED(state);
    for (int i = 0; i < 30; i++) {
        snprintf(names[i], sizeof(names[i]), "X-Extra-%d: v", i);
        many[i] = names[i];
    }
    many[30] = NULL;
    call(&r, "GET", "/hello", many, NULL);
    assert_int_equal(r.status, 431);
    assert_non_null(strstr(r.body, "headers_too_large"));
    sgt_resp_free(&r);

    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    call(&r, "POST", "/json", NULL, big);
    assert_int_equal(r.status, 413);
    sgt_resp_free(&r);
}

static void test_deferred(void **state)
{
    struct sgt_resp r;

    SG_UNUSED(state);
    for (int i = 0; i < 20; i++) {
        call(&r, "POST", "/defer", NULL, "x");
        assert_int_equal(r.status, 201);
        assert_string_equal(r.body, "later");
        sgt_resp_free(&r);
    }
    call(&r, "GET", "/stall", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "slow");
    sgt_resp_free(&r);
    /* Its body's copy failing: a bare 503, no byte of a body it lost. */
    call(&r, "GET", "/stall-oom", NULL, NULL);
    assert_true(atomic_load(&stall_oom_failed));
    assert_int_equal(r.status, 503);
    assert_int_equal(r.len, 0);
    sgt_resp_free(&r);
}

static void test_abort(void **state)
{
    struct sgt_resp r;

    SG_UNUSED(state);
    call(&r, "GET", "/abort", NULL, NULL);
    assert_int_not_equal(r.curl_code, 0);
    sgt_resp_free(&r);
    /* The server keeps serving after an abort. */
    call(&r, "GET", "/hello", NULL, NULL);
    assert_int_equal(r.status, 200);
    sgt_resp_free(&r);
}

static void test_metrics_text(void **state)
{
    struct sgt_resp r;
    struct sg_buf b;

    SG_UNUSED(state);
    /* One pattern under two methods: two series, not one label set twice. */
    call(&r, "GET", "/items/7", NULL, NULL);
    sgt_resp_free(&r);
    call(&r, "POST", "/items/7", NULL, "{}");
    sgt_resp_free(&r);
    sg_buf_init(&b, 1 << 20);
    assert_int_equal(sg_http_server_metrics(srv, &b), 0);
    assert_non_null(strstr(b.data, "sg_http_requests_total{server=\"http\","
                                    "route=\"/hello\",status=\"200\","
                                    "method=\"GET\"}"));
    assert_non_null(strstr(b.data, "route=\"/items/{id}\",status=\"200\","
                                    "method=\"POST\"}"));
    assert_non_null(strstr(b.data, "le=\"+Inf\""));
    /* Every registered route is listed, served or not. */
    assert_non_null(strstr(b.data, "sg_http_route_info{server=\"http\","
                                    "route=\"/abort\",method=\"GET\"} 1"));
    /* Prometheus refuses a scrape with a repeated series: none here. */
    {
        char *copy = sg_strdup(b.data), *save = NULL, *line;
        const char *seen[4096];
        size_t n = 0;

        assert_non_null(copy);
        for (line = strtok_r(copy, "\n", &save); line;
             line = strtok_r(NULL, "\n", &save)) {
            char *sp = strrchr(line, ' ');

            if (line[0] == '#' || !sp)
                continue;
            *sp = '\0';
            for (size_t i = 0; i < n; i++) {
                if (strcmp(seen[i], line) == 0)
                    fail_msg("series twice: %s", line);
            }
            assert_true(n < SG_ARRAY_SIZE(seen));
            seen[n++] = line;
        }
        assert_true(n > 10);
        sg_free(copy);
    }
    sg_buf_release(&b);
}

static void *call_slow(void *arg)
{
    struct sgt_resp *r = arg;
    char url[300];

    snprintf(url, sizeof(url), "%s/slow", (const char *)r->body);
    r->body = NULL;
    sgt_http(r, "GET", url, NULL, NULL, 0);
    return NULL;
}

static void h_slow(struct sg_http_req *r, void *ctx)
{
    SG_UNUSED(ctx);
    sg_http_reply_later(r, 5000, 200, "text/plain", "late", 4);
}

/* Stopping a server with an answer still waiting on a delay neither
 * crashes nor hangs; the client just loses the connection. */
static void test_stop_with_pending_delay(void **state)
{
    struct sg_http_server_cfg cfg;
    struct sg_http_server *s2;
    struct sgt_resp r;
    struct sg_err err;
    pthread_t t;

    SG_UNUSED(state);
    sg_http_server_cfg_defaults(&cfg);
    cfg.listen = "127.0.0.1:0";
    cfg.threads = 1;
    assert_int_equal(sg_http_server_new(&s2, &cfg, &err), 0);
    assert_int_equal(sg_http_route(s2, "GET", "/slow", h_slow, NULL), 0);
    assert_int_equal(sg_http_server_start(s2, &err), 0);
    memset(&r, 0, sizeof(r));
    r.body = (char *)(uintptr_t)sg_http_server_url(s2);
    pthread_create(&t, NULL, call_slow, &r);
    usleep(200000);
    sg_http_server_free(s2);
    pthread_join(t, NULL);
    assert_int_not_equal(r.curl_code, 0);
    assert_true(r.status == 0);
    sgt_resp_free(&r);
}

/*
 * Stopping a server while a client keeps an idle keep-alive connection
 * open closes that connection and returns (h2o aborted here before: the
 * connection's request timeout was still linked when the context was
 * disposed, as when SIGTERM reached surge serve under webhook traffic).
 */
static void test_stop_with_idle_keepalive(void **state)
{
    static const char req[] = "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n";
    struct sg_http_server_cfg cfg;
    struct sg_http_server *s2;
    struct sockaddr_in a = {.sin_family = AF_INET};
    struct timeval tv = {.tv_sec = 5};
    struct sg_err err;
    char buf[512];
    size_t got = 0;
    int fd;

    SG_UNUSED(state);
    sg_http_server_cfg_defaults(&cfg);
    cfg.listen = "127.0.0.1:0";
    cfg.threads = 2;
    assert_int_equal(sg_http_server_new(&s2, &cfg, &err), 0);
    assert_int_equal(sg_http_route(s2, "GET", "/hello", h_hello, NULL), 0);
    assert_int_equal(sg_http_server_start(s2, &err), 0);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((uint16_t)sg_http_server_port(s2));
    fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(send(fd, req, sizeof(req) - 1, 0), (ssize_t)sizeof(req) - 1);
    /* Bounded: the answer is small; stop at its body. */
    while (got < sizeof(buf) - 1) {
        ssize_t n = recv(fd, buf + got, sizeof(buf) - 1 - got, 0);

        if (n <= 0)
            break;
        got += (size_t)n;
        buf[got] = '\0';
        if (strstr(buf, "hello"))
            break;
    }
    assert_non_null(strstr(buf, "200"));
    /* The connection is idle and kept alive: stop the server now. */
    sg_http_server_free(s2);
    assert_true(recv(fd, buf, sizeof(buf), 0) <= 0);
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_routes),
        cmocka_unit_test(test_not_found_and_method),
        cmocka_unit_test(test_json_errors),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_deferred),
        cmocka_unit_test(test_abort),
        cmocka_unit_test(test_metrics_text),
        cmocka_unit_test(test_stop_with_pending_delay),
        cmocka_unit_test(test_stop_with_idle_keepalive),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
