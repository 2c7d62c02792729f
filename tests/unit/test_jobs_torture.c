/*
 * test_jobs_torture.c - D5 (issue #7) for the outbound edge: the URL
 * policy of S10 (sg_http_url_check on literal addresses, so no DNS) and
 * Retry-After parsing (delta-seconds, the three HTTP-date forms,
 * garbage). Neither allocates through sg_alloc itself (0 sites, which
 * the sweep reports); the URL policy is swept again with libcurl's URL
 * parser failing its allocations ("+curl").
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

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_urlcheck),
        cmocka_unit_test(test_retry_after),
    };

    SG_UNUSED(argc);
    sgt_torture_init(argv);
    sg_log_set_level(SG_LOG_ERR);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
