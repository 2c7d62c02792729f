/*
 * test_jobs_kind.c - the generic HTTP outcome policy (sg_job_classify_http)
 * as a table, and the header builder's injection guard.
 */
#include "core/sg.h"

#include <setjmp.h>

#include <cmocka.h>

#include "jobs/breaker.h"
#include "jobs/kind.h"

#define NOW INT64_C(1795600800000)

struct row {
    int transport;
    long status;
    const char *retry_after; /* NULL = none */
    int verdict;
    int breaker;
    bool rate_limited;
    int64_t retry_after_ms;
};

static void test_policy_table(void **st)
{
    static const struct row rows[] = {
        {SG_HTTP_OK, 200, NULL, SG_JOB_VERDICT_SUCCESS, SG_BREAKER_SUCCESS,
         false, -1},
        {SG_HTTP_OK, 204, NULL, SG_JOB_VERDICT_SUCCESS, SG_BREAKER_SUCCESS,
         false, -1},
        {SG_HTTP_TOO_BIG, 200, NULL, SG_JOB_VERDICT_SUCCESS, SG_BREAKER_SUCCESS,
         false, -1},
        {SG_HTTP_TOO_BIG, 400, NULL, SG_JOB_VERDICT_DEAD, SG_BREAKER_NEUTRAL,
         false, -1},
        {SG_HTTP_OK, 429, "3", SG_JOB_VERDICT_RETRY, SG_BREAKER_NEUTRAL, true,
         3000},
        {SG_HTTP_OK, 429, NULL, SG_JOB_VERDICT_RETRY, SG_BREAKER_NEUTRAL, true,
         -1},
        {SG_HTTP_OK, 429, "soon", SG_JOB_VERDICT_RETRY, SG_BREAKER_NEUTRAL,
         true, -1},
        {SG_HTTP_OK, 429, "99999", SG_JOB_VERDICT_RETRY, SG_BREAKER_NEUTRAL,
         true, 60000},
        {SG_HTTP_OK, 503, "2", SG_JOB_VERDICT_RETRY, SG_BREAKER_FAILURE, false,
         2000},
        {SG_HTTP_OK, 500, NULL, SG_JOB_VERDICT_RETRY, SG_BREAKER_FAILURE, false,
         -1},
        {SG_HTTP_OK, 408, NULL, SG_JOB_VERDICT_RETRY, SG_BREAKER_FAILURE, false,
         -1},
        {SG_HTTP_OK, 425, NULL, SG_JOB_VERDICT_RETRY, SG_BREAKER_NEUTRAL, false,
         -1},
        {SG_HTTP_OK, 400, NULL, SG_JOB_VERDICT_DEAD, SG_BREAKER_NEUTRAL, false,
         -1},
        {SG_HTTP_OK, 404, NULL, SG_JOB_VERDICT_DEAD, SG_BREAKER_NEUTRAL, false,
         -1},
        {SG_HTTP_OK, 301, NULL, SG_JOB_VERDICT_DEAD, SG_BREAKER_NEUTRAL, false,
         -1},
        {SG_HTTP_TIMEOUT, 0, NULL, SG_JOB_VERDICT_RETRY, SG_BREAKER_FAILURE,
         false, -1},
        {SG_HTTP_RESET, 0, NULL, SG_JOB_VERDICT_RETRY, SG_BREAKER_FAILURE,
         false, -1},
        {SG_HTTP_REFUSED, 0, NULL, SG_JOB_VERDICT_RETRY, SG_BREAKER_FAILURE,
         false, -1},
        {SG_HTTP_GOT_NOTHING, 0, NULL, SG_JOB_VERDICT_RETRY, SG_BREAKER_FAILURE,
         false, -1},
        {SG_HTTP_TOO_BIG, 0, NULL, SG_JOB_VERDICT_RETRY, SG_BREAKER_FAILURE,
         false, -1},
        {SG_HTTP_CANCELLED, 0, NULL, SG_JOB_VERDICT_RETRY, SG_BREAKER_NEUTRAL,
         false, -1},
        {SG_HTTP_BLOCKED, 0, NULL, SG_JOB_VERDICT_DEAD, SG_BREAKER_NEUTRAL,
         false, -1},
    };

    SG_UNUSED(st);
    for (size_t i = 0; i < SG_ARRAY_SIZE(rows); i++) {
        const struct row *r = &rows[i];
        struct sg_http_response resp;
        struct sg_job_outcome o;
        char body[] = "{\"error\":\"nope\"}\n";

        memset(&resp, 0, sizeof(resp));
        resp.transport = r->transport;
        resp.status = r->status;
        resp.body = body;
        resp.body_len = strlen(body);
        if (r->retry_after) {
            resp.has_retry_after = true;
            snprintf(resp.retry_after, sizeof(resp.retry_after), "%s",
                     r->retry_after);
        }
        sg_job_classify_http(&resp, NOW, 60000, &o);
        if (o.verdict != r->verdict || o.breaker != r->breaker ||
            o.rate_limited != r->rate_limited ||
            o.retry_after_ms != r->retry_after_ms)
            fail_msg(
                "row %zu (%s %ld): verdict %d breaker %d rl %d ra %" PRId64, i,
                sg_http_transport_name(r->transport), r->status, o.verdict,
                o.breaker, o.rate_limited, o.retry_after_ms);
        assert_true(o.reason[0] != '\0');
    }
}

static void test_dead_reason_has_status_and_body(void **st)
{
    struct sg_http_response resp;
    struct sg_job_outcome o;
    char body[] = "bad\r\nfield\x01";

    SG_UNUSED(st);
    memset(&resp, 0, sizeof(resp));
    resp.status = 422;
    resp.body = body;
    resp.body_len = strlen(body);
    sg_job_classify_http(&resp, NOW, 1000, &o);
    assert_int_equal(o.verdict, SG_JOB_VERDICT_DEAD);
    /* Control bytes are masked: last_error stays one printable line. */
    assert_string_equal(o.reason, "http 422: bad..field.");
}

static void test_call_headers(void **st)
{
    struct sg_job_call call;

    SG_UNUSED(st);
    memset(&call, 0, sizeof(call));
    assert_int_equal(sg_job_call_header(&call, "X-A", "1"), 0);
    assert_string_equal(call.headers[0], "X-A: 1");
    assert_null(call.headers[1]);
    assert_int_equal(sg_job_call_header(&call, "X-B", "a\r\nX-Evil: 1"),
                     SG_EINVAL);
    assert_int_equal(sg_job_call_header(&call, "X B", "v"), SG_EINVAL);
    assert_int_equal(sg_job_call_header(&call, "", "v"), SG_EINVAL);
    while (call.n_headers < SG_JOB_CALL_HEADERS_MAX)
        assert_int_equal(sg_job_call_header(&call, "X-C", "v"), 0);
    assert_int_equal(sg_job_call_header(&call, "X-D", "v"), SG_ELIMIT);
    assert_null(call.headers[SG_JOB_CALL_HEADERS_MAX]);
    sg_job_call_release(&call);
    assert_int_equal(call.n_headers, 0);
    sg_job_call_release(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_policy_table),
        cmocka_unit_test(test_dead_reason_has_status_and_body),
        cmocka_unit_test(test_call_headers),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
