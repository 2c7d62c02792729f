/*
 * fuzz_http.c - HTTP request handling up to the handler: h2o's HTTP/1
 * parser, Surge's limits (body, header count and bytes, request timeout),
 * the router with {param} and "*" segments, the request accessors and the
 * JSON body reader, all on raw bytes over a real loopback socket.
 *
 * A server with the test routes below (no fallback, as in surge serve, so
 * 404 and 405 are reached too) starts once on 127.0.0.1:0; each
 * input is sent on a fresh connection, the write side is shut, and the
 * answer is read to the end. Invariants: every answer starts with an
 * HTTP/1.x status line, and the server always closes the connection
 * within the request timeout plus a margin (no input can hang it).
 */
#include "fuzz.h"
#include "core/alloc.h"
#include "core/err.h"
#include "core/log.h"
#include "http/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define TIMEOUT_MS 1000
#define WAIT_MARGIN_S 5

static struct sg_http_server *srv;
static unsigned srv_port;

static void h_thing(struct sg_http_req *r, void *ctx)
{
    size_t len;
    const char *id = sg_http_req_param(r, "id", &len);
    char limit[32];
    json_t *body, *out;

    (void)ctx;
    (void)sg_http_req_header(r, "authorization", &len);
    (void)sg_http_req_header(r, "x-surge-signature", &len);
    (void)sg_http_req_query(r, &len);
    (void)sg_http_req_query_get(r, "limit", limit, sizeof(limit));
    (void)sg_http_req_id(r);
    (void)sg_http_req_route(r);
    body = sg_http_req_json(r);
    if (!body)
        return; /* answered 400 already */
    out = json_object();
    json_object_set_new(out, "id", id ? json_stringn(id, len) : json_null());
    json_object_set_new(out, "body", body);
    sg_http_reply_json(r, 200, out);
}

static void h_echo(struct sg_http_req *r, void *ctx)
{
    size_t plen, blen;
    const char *path = sg_http_req_path(r, &plen);
    const char *body = sg_http_req_body(r, &blen);
    struct sg_http_header h = {"x-path-len", "1"};

    (void)ctx;
    (void)path;
    sg_http_reply_ex(r, 200, "application/octet-stream", body, blen, &h, 1);
}

static void h_later(struct sg_http_req *r, void *ctx)
{
    struct sg_http_deferred *d = sg_http_defer(r);

    (void)ctx;
    if (d)
        sg_http_deferred_reply_error(d, 202, "accepted", "later");
}

static int start(void)
{
    struct sg_http_server_cfg cfg;
    struct sg_err err;

    sg_log_set_level(SG_LOG_ERR);
    sg_http_server_cfg_defaults(&cfg);
    cfg.listen = "127.0.0.1:0";
    cfg.threads = 1;
    cfg.name = "fuzz";
    cfg.limits.body_max = 64 * 1024;
    cfg.limits.headers_max = 32;
    cfg.limits.header_bytes_max = 4096;
    cfg.limits.request_timeout_ms = TIMEOUT_MS;
    cfg.limits.json_depth_max = 16;
    sg_err_init(&err);
    if (sg_http_server_new(&srv, &cfg, &err) != 0)
        return -1;
    sg_http_route(srv, "POST", "/api/v1/things/{id}", h_thing, NULL);
    sg_http_route(srv, "GET", "/echo/*", h_echo, NULL);
    sg_http_route(srv, NULL, "/later", h_later, NULL);
    if (sg_http_server_start(srv, &err) != 0) {
        fprintf(stderr, "fuzz_http: %s\n", err.msg);
        return -1;
    }
    srv_port = sg_http_server_port(srv);
    return 0;
}

/*
 * A fresh connection. It closes with a reset (linger 0), so tens of
 * thousands of inputs a minute leave no TIME_WAIT behind to exhaust the
 * ephemeral ports; a transient connect failure is retried a few times.
 */
static int connect_to(const struct sockaddr_in *a, const struct timeval *tv)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0};

    for (int attempt = 0; attempt < 50; attempt++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);

        if (fd < 0)
            abort();
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, tv, sizeof(*tv));
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, tv, sizeof(*tv));
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        if (connect(fd, (const struct sockaddr *)a, sizeof(*a)) == 0)
            return fd;
        close(fd);
        usleep(20000);
    }
    fprintf(stderr, "fuzz_http: cannot connect to the server\n");
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    struct timeval tv = {.tv_sec = TIMEOUT_MS / 1000 + WAIT_MARGIN_S};
    char head[16], buf[65536];
    size_t got = 0, sent = 0;
    int fd;

    if (!srv && start() != 0)
        abort();
    a.sin_port = htons((uint16_t)srv_port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fd = connect_to(&a, &tv);
    while (sent < size) {
        ssize_t n = send(fd, data + sent, size - sent, MSG_NOSIGNAL);

        if (n <= 0)
            break; /* the server may answer 413/431 and close early */
        sent += (size_t)n;
    }
    shutdown(fd, SHUT_WR);
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof(buf), 0);

        if (n == 0)
            break;
        if (n < 0) {
            /* A reset after an early answer is fine; a hang is not. */
            SG_FUZZ_CHECK(errno != EAGAIN && errno != EWOULDBLOCK);
            break;
        }
        if (got < sizeof(head))
            memcpy(head + got, buf,
                   SG_MIN((size_t)n, sizeof(head) - got));
        got += (size_t)n;
    }
    close(fd);
    if (got >= 7)
        SG_FUZZ_CHECK(memcmp(head, "HTTP/1.", 7) == 0);
    return 0;
}
