/*
 * test_http_urlcheck.c - S10's start-up half: sg_http_url_check refuses
 * configured URLs on non-public addresses unless allowed, and checks
 * nothing more than it must (literal addresses only here, so the test
 * needs no DNS).
 */
#include "testlib.h"
#include "http/urlcheck.h"

static int check(const char *url, bool allow, struct sg_err *err)
{
    sg_err_init(err);
    return sg_http_url_check(url, allow, "[notify] url", err);
}

static void test_private_refused(void **state)
{
    static const char *urls[] = {
        "http://127.0.0.1/",          "https://127.8.9.10:8443/x",
        "http://10.0.0.1/",           "http://172.16.0.1/",
        "http://172.31.255.255/",     "http://192.168.0.10/",
        "http://169.254.169.254/latest/meta-data/",
        "http://0.0.0.0/",            "http://100.64.0.1/",
        "http://[::1]/",              "http://[::]/",
        "http://[fe80::1]/",          "http://[fd12:3456::1]/",
        "http://[::ffff:10.1.2.3]/",  "http://0177.0.0.1/",
        "http://2130706433/",
    };
    struct sg_err err;

    SG_UNUSED(state);
    for (size_t i = 0; i < SG_ARRAY_SIZE(urls); i++) {
        if (check(urls[i], false, &err) != SG_ECONFIG)
            fail_msg("%s was not refused", urls[i]);
        assert_non_null(strstr(err.msg, "[notify] url"));
        assert_non_null(strstr(err.msg, "allow_private_urls"));
        /* ... and allowed when the operator says so. */
        assert_int_equal(check(urls[i], true, &err), 0);
    }
}

static void test_public_accepted(void **state)
{
    static const char *urls[] = {
        "https://93.184.216.34/hook", "http://8.8.8.8:8080/x",
        "http://172.32.0.1/",         "http://192.169.0.1/",
        "http://[2001:4860:4860::8888]/",
        /* .invalid never resolves: accepted now, checked at connect. */
        "https://hooks.example.invalid/surge",
    };
    struct sg_err err;

    SG_UNUSED(state);
    for (size_t i = 0; i < SG_ARRAY_SIZE(urls); i++)
        if (check(urls[i], false, &err) != 0)
            fail_msg("%s refused: %s", urls[i], err.msg);
}

static void test_bad_or_missing(void **state)
{
    struct sg_err err;

    SG_UNUSED(state);
    assert_int_equal(check(NULL, false, &err), 0);
    assert_int_equal(check("", false, &err), 0);
    assert_int_equal(check("ftp://example.com/x", false, &err), SG_ECONFIG);
    assert_int_equal(check("not a url", true, &err), SG_ECONFIG);
    assert_int_equal(check("file:///etc/passwd", true, &err), SG_ECONFIG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_private_refused),
        cmocka_unit_test(test_public_accepted),
        cmocka_unit_test(test_bad_or_missing),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
