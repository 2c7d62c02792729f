/*
 * test_sandbox_h1.c - the sandbox's plain HTTP/1.1 webhook sender
 * pieces (src/sandbox/h1.c): which addresses it takes, the request bytes,
 * and the answer reader on whole, split and malformed answers.
 */
#include "core/sg.h"
#include "testlib.h"
#include "sandbox/h1.h"

#include <arpa/inet.h>
#include <netinet/in.h>

static void targets_taken(void **state)
{
    struct sg_h1_target t;
    const char *u;

    SG_UNUSED(state);
    u = "http://127.0.0.1:8080/webhooks/tiktok-shop?x=1";
    assert_int_equal(sg_h1_target_parse(u, &t), 0);
    assert_string_equal(t.host, "127.0.0.1:8080");
    assert_string_equal(u + t.path_at, "/webhooks/tiktok-shop?x=1");
    assert_int_equal(t.sa.ss_family, AF_INET);
    assert_int_equal(ntohs(((struct sockaddr_in *)&t.sa)->sin_port), 8080);

    u = "http://10.0.0.7";
    assert_int_equal(sg_h1_target_parse(u, &t), 0);
    assert_string_equal(t.host, "10.0.0.7"); /* port 80: not written */
    assert_string_equal(u + t.path_at, "");
    assert_int_equal(ntohs(((struct sockaddr_in *)&t.sa)->sin_port), 80);

    u = "http://[::1]:9000/hook";
    assert_int_equal(sg_h1_target_parse(u, &t), 0);
    assert_string_equal(t.host, "[::1]:9000");
    assert_int_equal(t.sa.ss_family, AF_INET6);
    assert_string_equal(u + t.path_at, "/hook");

    u = "http://127.0.0.1:65535?q";
    assert_int_equal(sg_h1_target_parse(u, &t), 0);
    assert_string_equal(u + t.path_at, "?q");
}

static void targets_left_to_curl(void **state)
{
    static const char *const no[] = {
        NULL,
        "",
        "https://127.0.0.1/h",       /* TLS: libcurl */
        "HTTP://127.0.0.1/h",        /* libcurl knows the scheme's cases */
        "http://localhost:8080/h",   /* a name to resolve */
        "http://example.com/h",
        "http://127.1/h",            /* inet_aton's shorthand */
        "http://user:pw@127.0.0.1/h",
        "http://127.0.0.1/h#frag",
        "http://127.0.0.1:/h",
        "http://127.0.0.1:0/h",
        "http://127.0.0.1:65536/h",
        "http://127.0.0.1:008080/h",
        "http://127.0.0.1:80x/h",
        "http://127.0.0.1/a b",
        "http://127.0.0.1/\xc3\xa9",
        "http://[::1/h",
        "http://[nonsense]/h",
        "http:///h",
        "http://",
        "http://256.0.0.1/h",
    };
    struct sg_h1_target t;

    SG_UNUSED(state);
    for (size_t i = 0; i < SG_ARRAY_SIZE(no); i++)
        if (sg_h1_target_parse(no[i], &t) != SG_EDECLINED)
            fail_msg("taken: %s", no[i] ? no[i] : "(null)");
}

static void request_bytes(void **state)
{
    const char *u = "http://127.0.0.1:8080/webhooks/tiktok-shop";
    struct sg_h1_target t;
    struct sg_buf b;
    int rc;

    SG_UNUSED(state);
    assert_int_equal(sg_h1_target_parse(u, &t), 0);
    sg_buf_init(&b, 1 << 16);
    rc = sg_h1_request(&b, &t, u, "abc123", "{\"a\":1}", 7);
    if (rc == 0)
        assert_string_equal(b.data,
                            "POST /webhooks/tiktok-shop HTTP/1.1\r\n"
                            "Host: 127.0.0.1:8080\r\nAccept: */*\r\n"
                            "Content-Type: application/json\r\n"
                            "Authorization: abc123\r\n"
                            "Content-Length: 7\r\n\r\n{\"a\":1}");
    /* No path: "/"; the buffer is replaced, not appended to. */
    u = "http://127.0.0.1:8080?k=v";
    assert_int_equal(sg_h1_target_parse(u, &t), 0);
    if (rc == 0)
        rc = sg_h1_request(&b, &t, u, "s", "", 0);
    if (rc == 0)
        assert_true(strncmp(b.data, "POST /?k=v HTTP/1.1\r\n", 21) == 0);
    sg_buf_release(&b);
    assert_int_equal(rc, 0);
}

/*
 * Feed text whole (step 0) or step bytes at a time, up to the answer's
 * end. Returns what the last feed returned; *used: bytes taken.
 */
static int feed(struct sg_h1_resp *r, const char *text, size_t step,
                size_t *used, struct sg_err *err)
{
    size_t len = strlen(text), off = 0;
    int rc = 0;

    sg_h1_resp_init(r);
    sg_err_init(err);
    *used = 0;
    while (off < len && rc == 0) {
        size_t n = step ? SG_MIN(step, len - off) : len - off, u = 0;

        rc = sg_h1_resp_feed(r, text + off, n, &u, err);
        if (rc >= 0)
            *used += u;
        off += n;
    }
    return rc;
}

/* Every split of text reads to the same end. */
static void each_split(const char *text, int want_rc, int status,
                       bool keep)
{
    static const size_t steps[] = {0, 1, 2, 3, 7, 64};
    struct sg_h1_resp r;
    struct sg_err err;
    size_t used;

    for (size_t i = 0; i < SG_ARRAY_SIZE(steps); i++) {
        int rc = feed(&r, text, steps[i], &used, &err);

        if (rc != want_rc)
            fail_msg("step %zu: rc %d, want %d (%s) for %s", steps[i], rc,
                     want_rc, err.msg, text);
        if (want_rc == 1) {
            assert_int_equal(r.status, status);
            assert_int_equal(r.keep_alive, keep);
            assert_int_equal(used, strlen(text));
        }
    }
}

static void answers(void **state)
{
    const char *ok = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
    const char *chunked =
        "HTTP/1.1 201 Created\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
        "5;ext=1\r\nhello\r\nA\r\n0123456789\r\n0\r\nX-T: 1\r\n\r\n";

    SG_UNUSED(state);
    each_split(ok, 1, 200, true);
    each_split(chunked, 1, 201, true);
    /* A 1xx comes before the real answer. */
    each_split("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 202 Accepted\r\n"
               "content-length: 0\r\n\r\n",
               1, 202, true);
    /* No body by status; bare LF line ends; reason phrase optional. */
    each_split("HTTP/1.1 204\nConnection: close\n\n", 1, 204, false);
    /* HTTP/1.0 closes unless asked to keep the connection. */
    each_split("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", 1, 200, false);
    each_split("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\n"
               "Content-Length: 0\r\n\r\n",
               1, 200, true);
    each_split("HTTP/1.1 503 Busy\r\nConnection: upgrade, close\r\n"
               "Content-Length: 2\r\n\r\nno",
               1, 503, false);
    /* The same Content-Length twice is one length. */
    each_split("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1"
               "\r\n\r\nx",
               1, 200, true);
}

static void answer_extra_bytes(void **state)
{
    const char *two = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1";
    struct sg_h1_resp r;
    struct sg_err err;
    size_t used = 0;

    SG_UNUSED(state);
    sg_h1_resp_init(&r);
    sg_err_init(&err);
    assert_int_equal(sg_h1_resp_feed(&r, two, strlen(two), &used, &err), 1);
    assert_int_equal(used, strlen(two) - 8); /* the rest was not asked for */
}

static void answer_until_eof(void **state)
{
    struct sg_h1_resp r;
    struct sg_err err;
    size_t used;

    SG_UNUSED(state);
    /* No length: the body lasts until the server closes. */
    assert_int_equal(feed(&r, "HTTP/1.1 200 OK\r\n\r\nsome body", 0, &used,
                          &err),
                     0);
    assert_false(r.keep_alive);
    assert_int_equal(sg_h1_resp_eof(&r, &err), 1);
    assert_int_equal(r.status, 200);
    /* A coding other than chunked last: the same. */
    assert_int_equal(feed(&r, "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip"
                          "\r\n\r\nzz", 3, &used, &err),
                     0);
    assert_int_equal(sg_h1_resp_eof(&r, &err), 1);
    /* Closed before the end of a sized or chunked body: an error. */
    assert_int_equal(feed(&r, "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n"
                          "abc", 0, &used, &err),
                     0);
    assert_int_equal(sg_h1_resp_eof(&r, &err), SG_EINVAL);
    assert_non_null(strstr(err.msg, "mid-answer"));
    sg_h1_resp_init(&r);
    sg_err_init(&err);
    assert_int_equal(sg_h1_resp_eof(&r, &err), SG_EINVAL);
    assert_non_null(strstr(err.msg, "without an answer"));
}

static void answers_malformed(void **state)
{
    static const struct {
        const char *text, *msg;
    } bad[] = {
        {"HTTP/2 200\r\n\r\n", "status line"},
        {"ICY 200 OK\r\n\r\n", "status line"},
        {"HTTP/1.1 20 OK\r\n\r\n", "status line"},
        {"HTTP/1.1 2000 OK\r\n\r\n", "status line"},
        {"HTTP/1.1 600 Nope\r\n\r\n", "status line"},
        {"HTTP/1.1 101 Switching\r\n\r\n", "protocol switch"},
        {"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "without a name"},
        {"HTTP/1.1 200 OK\r\n: empty name\r\n\r\n", "without a name"},
        {"HTTP/1.1 200 OK\r\nContent-Length: 12a\r\n\r\n", "Content-Length"},
        {"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "Content-Length"},
        {"HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n", "Content-Length"},
        {"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
         "Content-Length"},
        {"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n",
         "Content-Length"},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
         "chunk size"},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n",
         "chunk size"},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
         "11111111111111111\r\n",
         "too large"},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n",
         "longer than its size"},
    };
    struct sg_h1_resp r;
    struct sg_err err;
    size_t used;

    SG_UNUSED(state);
    for (size_t i = 0; i < SG_ARRAY_SIZE(bad); i++)
        for (size_t step = 0; step < 3; step++) {
            int rc = feed(&r, bad[i].text, step, &used, &err);

            if (rc != SG_EINVAL || !strstr(err.msg, bad[i].msg))
                fail_msg("%zu (step %zu): rc %d \"%s\", want \"%s\"", i,
                         step, rc, err.msg, bad[i].msg);
        }
}

static void answer_head_too_large(void **state)
{
    char *big = test_malloc(SG_H1_HEAD_MAX + 64);
    struct sg_h1_resp r;
    struct sg_err err;
    size_t used, off;

    SG_UNUSED(state);
    off = (size_t)snprintf(big, 64, "HTTP/1.1 200 OK\r\nX: ");
    memset(big + off, 'a', SG_H1_HEAD_MAX);
    big[off + SG_H1_HEAD_MAX] = '\0';
    assert_int_equal(feed(&r, big, 0, &used, &err), SG_EINVAL);
    assert_non_null(strstr(err.msg, "too large"));
    test_free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(targets_taken),
        cmocka_unit_test(targets_left_to_curl),
        cmocka_unit_test(request_bytes),
        cmocka_unit_test(answers),
        cmocka_unit_test(answer_extra_bytes),
        cmocka_unit_test(answer_until_eof),
        cmocka_unit_test(answers_malformed),
        cmocka_unit_test(answer_head_too_large),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
