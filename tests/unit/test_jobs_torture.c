/*
 * test_jobs_torture.c - D5 (issue #7) for the outbound edge: the URL
 * policy of S10 (sg_http_url_check on literal addresses, so no DNS) and
 * Retry-After parsing (delta-seconds, the three HTTP-date forms,
 * garbage). Neither allocates through sg_alloc itself (0 sites, which
 * the sweep reports); the URL policy is swept again with libcurl's URL
 * parser failing its allocations ("+curl"). The "notify.http" job kind:
 * prepare (payload parsed, body rebuilt, headers, HMAC signature; with
 * the payload's own url and with [notify] url) and classify; swept again
 * with OpenSSL's and libcurl's allocations failing too.
 *
 * Label "torture" runs every n; the "_quick" twin in the default suite
 * runs SG_TORTURE_QUICK (see tests/CMakeLists.txt).
 */
#include "testlib.h"
#include "torture.h"
#include "core/buf.h"
#include "core/alloc.h"
#include "core/log.h"
#include "http/urlcheck.h"
#include "jobs/backoff.h"
#include "jobs/dispatcher.h"
#include "jobs/kind.h"

static char result[8192];

static char *result_digest(void *arg)
{
    SG_UNUSED(arg);
    return sg_strdup(result);
}

static void result_reset(void *arg)
{
    SG_UNUSED(arg);
    result[0] = '\0';
}

static void note(const char *fmt, ...) SG_PRINTF(1, 2);

static void note(const char *fmt, ...)
{
    size_t n = strlen(result);
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(result + n, sizeof(result) - n, fmt, ap);
    va_end(ap);
}

/* ---- the URL policy ---- */

static const struct {
    const char *url;
    bool allow;
} urls[] = {
    {"https://93.184.216.34/hook", false},
    {"http://127.0.0.1:8700/x", false},
    {"http://127.0.0.1:8700/x", true},
    {"http://[fd12:3456::1]/", false},
    {"http://[2001:4860:4860::8888]/path?q=1", false},
    {"http://169.254.169.254/latest/meta-data/", false},
    {"ftp://93.184.216.34/", false},
    {"not a url", false},
};

static int urls_run(void *arg, struct sg_err *err)
{
    SG_UNUSED(arg);
    for (size_t i = 0; i < SG_ARRAY_SIZE(urls); i++) {
        struct sg_err e;
        int rc;

        sg_err_init(&e);
        rc = sg_http_url_check(urls[i].url, urls[i].allow, "[notify] url",
                               &e);
        if (rc == SG_ENOMEM) {
            *err = e;
            return rc;
        }
        note("%zu %s %s\n", i, sg_err_name(rc), e.msg);
    }
    return 0;
}

static void test_urlcheck(void **state)
{
    struct sgt_torture_op op = {.name = "http url policy (S10)",
                                .run = urls_run,
                                .digest = result_digest,
                                .teardown = result_reset};
    struct sgt_torture_stats st;

    SG_UNUSED(state);
    sgt_torture_sweep(&op, &st);
    op.name = "http url policy (S10) +curl";
    op.libs = SGT_LIB_CURL;
    sgt_torture_sweep(&op, &st);
}

/* ---- Retry-After ---- */

static const char *const values[] = {
    "120", " 2.5 ", "0", "Sun, 06 Nov 1994 08:49:37 GMT",
    "Thu, 01 Jan 2099 00:00:00 GMT", "Sunday, 06-Nov-94 08:49:37 GMT",
    "Sun Nov  6 08:49:37 1994", "-1", "1e9", "", "99999999999999999999",
};

static int retry_after_run(void *arg, struct sg_err *err)
{
    SG_UNUSED(arg);
    SG_UNUSED(err);
    for (size_t i = 0; i < SG_ARRAY_SIZE(values); i++) {
        int64_t d = -1;
        int rc = sg_retry_after_parse(values[i], strlen(values[i]),
                                      INT64_C(1700000000000),
                                      INT64_C(600000), &d);

        note("%zu %s %" PRId64 "\n", i, sg_err_name(rc), d);
    }
    return 0;
}

static void test_retry_after(void **state)
{
    struct sgt_torture_op op = {.name = "retry-after parse",
                                .run = retry_after_run,
                                .digest = result_digest,
                                .teardown = result_reset};
    struct sgt_torture_stats st;

    SG_UNUSED(state);
    sgt_torture_sweep(&op, &st);
}

/* ---- the notify.http job kind ---- */

struct notify_arg {
    struct sg_job job;
    struct sg_dispatcher_cfg cfg;
    struct sg_job_call call;
};

static int notify_run(void *arg, struct sg_err *err)
{
    struct notify_arg *a = arg;
    struct sg_http_response resp;
    struct sg_job_outcome out;
    int rc;

    memset(&a->call, 0, sizeof(a->call));
    rc = sg_job_kind_notify_http.prepare(&a->job, &a->cfg,
                                         INT64_C(1700000000000), &a->call,
                                         err);
    if (rc) {
        /* The dispatcher retries SG_ENOMEM and retryable errors only. */
        if (rc != SG_ENOMEM && !err->retryable)
            note("DEAD-LETTERED %s %s\n", sg_err_name(rc), err->msg);
        return rc;
    }
    note("%s %s %s %s %s\n%.*s\n", a->call.method, a->call.url,
         a->call.platform, a->call.shop, a->call.endpoint_class,
         (int)a->call.body_len, a->call.body);
    for (size_t i = 0; i < a->call.n_headers; i++)
        note("%s\n", a->call.headers[i]);
    memset(&resp, 0, sizeof(resp));
    resp.status = 503;
    resp.has_retry_after = true;
    snprintf(resp.retry_after, sizeof(resp.retry_after), "7");
    sg_job_kind_notify_http.classify(&a->job, &resp, INT64_C(1700000000000),
                                     &a->cfg, &out);
    note("verdict %d breaker %d limited %d retry_after %" PRId64 " %s\n",
         out.verdict, out.breaker, out.rate_limited, out.retry_after_ms,
         out.reason);
    return 0;
}

static void notify_teardown(void *arg)
{
    struct notify_arg *a = arg;

    sg_job_call_release(&a->call);
    result_reset(arg);
}

static int notify_check(void *arg, int rc, char *why)
{
    SG_UNUSED(arg);
    SG_UNUSED(rc);
    if (strstr(result, "DEAD-LETTERED")) {
        snprintf(why, SGT_WHY_MAX, "an allocation failure would dead-letter "
                 "the job: %.400s", result);
        return -1;
    }
    return 0;
}

static void sweep_notify(const char *name, struct notify_arg *a)
{
    char full[128];
    struct sgt_torture_op op = {.name = name,
                                .arg = a,
                                .run = notify_run,
                                .digest = result_digest,
                                .check = notify_check,
                                .teardown = notify_teardown};
    struct sgt_torture_stats st;

    sgt_torture_sweep(&op, &st);
    snprintf(full, sizeof(full), "%s +openssl+curl", name);
    op.name = full;
    op.libs = SGT_LIB_OPENSSL | SGT_LIB_CURL;
    sgt_torture_sweep(&op, &st);
}

static void test_notify(void **state)
{
    struct notify_arg a;

    SG_UNUSED(state);
    memset(&a, 0, sizeof(a));
    sg_dispatcher_cfg_defaults(&a.cfg);
    a.cfg.notify_url = "https://hooks.example.com/surge";
    a.cfg.notify_secret = "whsec_0123456789";
    a.job.id = 42;
    a.job.attempts = 2;
    snprintf(a.job.kind, sizeof(a.job.kind), "notify.http");
    a.job.idempotency_key = (char *)(uintptr_t)"order.ready_to_ship-7-3";
    a.job.payload = (char *)(uintptr_t)
        "{\"event\":\"order.ready_to_ship\",\"url\":"
        "\"https://wh.example.com/orders\",\"data\":{\"order_id\":7,"
        "\"lines\":[{\"sku\":\"SKL-10\",\"quantity\":2}],\"address\":"
        "{\"name\":\"J*** S***\",\"region\":\"US\"}}}";
    sweep_notify("notify.http prepare+classify (own url, signed)", &a);
    a.job.idempotency_key = NULL;
    a.job.payload = (char *)(uintptr_t)
        "{\"event\":\"inbox.received\",\"data\":{\"id\":9}}";
    sweep_notify("notify.http prepare+classify ([notify] url)", &a);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_urlcheck),
        cmocka_unit_test(test_retry_after),
        cmocka_unit_test(test_notify),
    };

    SG_UNUSED(argc);
    sgt_torture_init(argv);
    sg_log_set_level(SG_LOG_ERR);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
