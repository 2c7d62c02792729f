/*
 * test_jobs_backoff.c - full-jitter backoff bounds and spread, and the
 * Retry-After parser (RFC 9110 section 10.2.3 and the cases of N4).
 */
#include "core/sg.h"

#include <setjmp.h>

#include <cmocka.h>

#include "jobs/backoff.h"

/* 2026-11-25T10:00:00Z */
#define NOW_MS INT64_C(1795600800000)
#define CAP_MS INT64_C(600000)

/* xorshift64*: a fixed-seed generator, so every run draws the same. */
static uint64_t xs_rand(void *state, uint64_t bound)
{
    uint64_t *s = state;

    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return (*s * UINT64_C(2685821657736338717)) % bound;
}

static uint64_t max_rand(void *state, uint64_t bound)
{
    SG_UNUSED(state);
    return bound - 1;
}

static void test_ceiling_doubles_then_caps(void **st)
{
    struct sg_backoff b = {.base_ms = 500, .cap_ms = 300000};

    SG_UNUSED(st);
    assert_int_equal(sg_backoff_ceiling(&b, 0), 500);
    assert_int_equal(sg_backoff_ceiling(&b, 1), 1000);
    assert_int_equal(sg_backoff_ceiling(&b, 3), 4000);
    assert_int_equal(sg_backoff_ceiling(&b, 9), 256000);
    assert_int_equal(sg_backoff_ceiling(&b, 10), 300000);
    assert_int_equal(sg_backoff_ceiling(&b, 63), 300000);
    assert_int_equal(sg_backoff_ceiling(&b, 1000000), 300000);
}

static void test_delay_within_bounds(void **st)
{
    uint64_t seed = 42;
    struct sg_backoff b = {
        .base_ms = 100, .cap_ms = 5000, .rand = xs_rand, .rand_state = &seed};
    struct sg_backoff hi = {.base_ms = 100, .cap_ms = 5000, .rand = max_rand};
    struct sg_backoff strong = {.base_ms = 100, .cap_ms = 5000};

    SG_UNUSED(st);
    for (unsigned retry = 0; retry < 80; retry++) {
        for (int i = 0; i < 50; i++) {
            int64_t d = sg_backoff_delay(&b, retry);

            assert_true(d >= 0);
            assert_true(d <= sg_backoff_ceiling(&b, retry));
            d = sg_backoff_delay(&strong, retry);
            assert_true(d >= 0 && d <= sg_backoff_ceiling(&b, retry));
        }
        /* The ceiling itself is reachable (inclusive upper end). */
        assert_int_equal(sg_backoff_delay(&hi, retry),
                         sg_backoff_ceiling(&hi, retry));
    }
}

/* N2: 1000 draws of one attempt in 10 equal bins, none above 15%. */
static void test_full_jitter_spread(void **st)
{
    uint64_t seed = 0x9e3779b97f4a7c15u;
    struct sg_backoff b = {
        .base_ms = 500, .cap_ms = 300000, .rand = xs_rand, .rand_state = &seed};
    struct sg_backoff strong = {.base_ms = 500, .cap_ms = 300000};
    const struct sg_backoff *which[] = {&b, &strong};

    SG_UNUSED(st);
    for (size_t w = 0; w < 2; w++) {
        for (unsigned retry = 0; retry < 12; retry += 3) {
            int bins[10] = {0};
            int64_t ceil_ms = sg_backoff_ceiling(which[w], retry);

            for (int i = 0; i < 1000; i++) {
                int64_t d = sg_backoff_delay(which[w], retry);
                int64_t bin = d * 10 / (ceil_ms + 1);

                assert_true(bin >= 0 && bin < 10);
                bins[bin]++;
            }
            for (int i = 0; i < 10; i++) {
                assert_true(bins[i] <= 150);
                assert_true(bins[i] >= 50); /* and no bin is starved */
            }
        }
    }
}

static int ra(const char *s, int64_t *out)
{
    return sg_retry_after_parse(s, s ? strlen(s) : 0, NOW_MS, CAP_MS, out);
}

static void test_retry_after_seconds(void **st)
{
    int64_t d = -5;

    SG_UNUSED(st);
    assert_int_equal(ra("2", &d), 0);
    assert_int_equal(d, 2000);
    assert_int_equal(ra("120", &d), 0);
    assert_int_equal(d, 120000);
    assert_int_equal(ra("0", &d), 0);
    assert_int_equal(d, 0);
    assert_int_equal(ra(" 7 \r\n", &d), 0);
    assert_int_equal(d, 7000);
    /* Decimals, as Shopify sends them: accepted, rounded up to the ms. */
    assert_int_equal(ra("2.0", &d), 0);
    assert_int_equal(d, 2000);
    assert_int_equal(ra("1.5", &d), 0);
    assert_int_equal(d, 1500);
    assert_int_equal(ra("0.0001", &d), 0);
    assert_int_equal(d, 1);
    /* Huge values are clamped to the cap, without overflow. */
    assert_int_equal(ra("1000000000", &d), 0);
    assert_int_equal(d, CAP_MS);
    assert_int_equal(ra("99999999999999999999999999999999", &d), 0);
    assert_int_equal(d, CAP_MS);
    assert_int_equal(ra("601", &d), 0);
    assert_int_equal(d, CAP_MS);
    assert_int_equal(ra("600", &d), 0);
    assert_int_equal(d, CAP_MS);
}

static void test_retry_after_rejects(void **st)
{
    static const char *const bad[] = {
        "-1",
        "+1",
        "1e9",
        "",
        "   ",
        "abc",
        "2.",
        ".5",
        "2..0",
        "1 2",
        "0x10",
        "5s",
        "Sun, 06 Nov 1994 08:49:37 UTC",
        "Sun, 06 Nov 1994 08:49:37",
        "Sun, 6 Nov 1994 08:49:37 GMT",
        "Sun, 06 nov 1994 08:49:37 GMT",
        "Sun, 31 Feb 2030 08:49:37 GMT",
        "Sun, 06 Nov 1994 24:00:00 GMT",
        "Xyz, 06 Nov 1994 08:49:37 GMT",
        "Sunday, 06 Nov 1994 08:49:37 GMT",
        "Sun Nov 6 08:49:37 1994",
        "Sun, 29 Feb 2027 08:49:37 GMT",
        "Sun, 06 Nov 1994 08:49:37 GMTX",
    };
    int64_t d = 77;

    SG_UNUSED(st);
    for (size_t i = 0; i < SG_ARRAY_SIZE(bad); i++) {
        if (ra(bad[i], &d) != SG_EINVAL)
            fail_msg("accepted \"%s\"", bad[i]);
    }
    assert_int_equal(ra(NULL, &d), SG_EINVAL);
    assert_int_equal(d, 77); /* untouched on failure */
}

static void test_retry_after_dates(void **st)
{
    int64_t d = -1, at = 0;

    SG_UNUSED(st);
    /* IMF-fixdate 90 s in the future. */
    assert_int_equal(ra("Wed, 25 Nov 2026 10:01:30 GMT", &d), 0);
    assert_int_equal(d, 90000);
    /* Beyond the cap: clamped. */
    assert_int_equal(ra("Thu, 26 Nov 2026 10:00:00 GMT", &d), 0);
    assert_int_equal(d, CAP_MS);
    /* In the past: retry now. */
    assert_int_equal(ra("Sun, 06 Nov 1994 08:49:37 GMT", &d), 0);
    assert_int_equal(d, 0);
    /* RFC 850 and asctime forms of the same instant. */
    assert_int_equal(ra("Wednesday, 25-Nov-26 10:00:05 GMT", &d), 0);
    assert_int_equal(d, 5000);
    assert_int_equal(ra("Wed Nov 25 10:00:09 2026", &d), 0);
    assert_int_equal(d, 9000);
    assert_int_equal(ra("Wed Nov  5 10:00:09 2026", &d), 0);
    assert_int_equal(d, 0);
    /* The RFC 9110 example, all three forms, to the epoch second. */
    assert_int_equal(
        sg_http_date_parse("Sun, 06 Nov 1994 08:49:37 GMT", 29, NOW_MS, &at),
        0);
    assert_int_equal(at, INT64_C(784111777000));
    assert_int_equal(
        sg_http_date_parse("Sunday, 06-Nov-94 08:49:37 GMT", 30, NOW_MS, &at),
        0);
    assert_int_equal(at, INT64_C(784111777000));
    assert_int_equal(
        sg_http_date_parse("Sun Nov  6 08:49:37 1994", 24, NOW_MS, &at), 0);
    assert_int_equal(at, INT64_C(784111777000));
    /* Leap day. */
    assert_int_equal(
        sg_http_date_parse("Tue, 29 Feb 2028 00:00:00 GMT", 29, NOW_MS, &at),
        0);
    assert_int_equal(at, INT64_C(1835395200000));
}

/* The parser never reads past len: a prefix of a valid value fails. */
static void test_retry_after_respects_len(void **st)
{
    const char *v = "Wed, 25 Nov 2026 10:01:30 GMT";
    int64_t d;

    SG_UNUSED(st);
    for (size_t n = 1; n < strlen(v); n++) {
        int rc = sg_retry_after_parse(v, n, NOW_MS, CAP_MS, &d);

        assert_int_equal(rc, SG_EINVAL);
    }
    assert_int_equal(sg_retry_after_parse("12345", 2, NOW_MS, CAP_MS, &d), 0);
    assert_int_equal(d, 12000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ceiling_doubles_then_caps),
        cmocka_unit_test(test_delay_within_bounds),
        cmocka_unit_test(test_full_jitter_spread),
        cmocka_unit_test(test_retry_after_seconds),
        cmocka_unit_test(test_retry_after_rejects),
        cmocka_unit_test(test_retry_after_dates),
        cmocka_unit_test(test_retry_after_respects_len),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
