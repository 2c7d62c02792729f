/*
 * test_jobs_ratelimit.c - token bucket arithmetic, 429 pauses and the
 * bounded key table, all on explicit times.
 */
#include "core/sg.h"

#include <setjmp.h>

#include <cmocka.h>

#include "jobs/ratelimit.h"

#define T0 INT64_C(1000000)

static struct sg_ratelimit *mk(double rate, double burst, size_t max)
{
    struct sg_ratelimit_cfg cfg = {rate, burst, max};
    struct sg_ratelimit *rl = NULL;
    struct sg_err err;

    assert_int_equal(sg_ratelimit_new(&rl, &cfg, &err), 0);
    return rl;
}

static int take(struct sg_ratelimit *rl, const char *shop, int64_t now,
                int64_t *wait)
{
    return sg_ratelimit_take(rl, "tiktok_shop", shop, "orders", now, wait);
}

static void test_burst_then_refill(void **st)
{
    struct sg_ratelimit *rl = mk(10.0, 5.0, 8);
    int64_t wait = -1;

    SG_UNUSED(st);
    for (int i = 0; i < 5; i++)
        assert_int_equal(take(rl, "s1", T0, &wait), 0);
    assert_int_equal(take(rl, "s1", T0, &wait), SG_ELIMIT);
    assert_int_equal(wait, 100); /* 10/s: one token per 100 ms */
    assert_int_equal(take(rl, "s1", T0 + 99, &wait), SG_ELIMIT);
    assert_int_equal(wait, 1);
    assert_int_equal(take(rl, "s1", T0 + 100, &wait), 0);
    assert_int_equal(take(rl, "s1", T0 + 100, &wait), SG_ELIMIT);
    /* A long idle time refills to burst, not beyond. */
    for (int i = 0; i < 5; i++)
        assert_int_equal(take(rl, "s1", T0 + 3600000, &wait), 0);
    assert_int_equal(take(rl, "s1", T0 + 3600000, &wait), SG_ELIMIT);
    /* Keys are independent. */
    assert_int_equal(take(rl, "s2", T0 + 3600000, &wait), 0);
    assert_int_equal(
        sg_ratelimit_take(rl, "shopify", "s1", "orders", T0 + 3600000, &wait),
        0);
    assert_int_equal(sg_ratelimit_count(rl), 3);
    sg_ratelimit_free(rl);
}

static void test_fractional_rate_and_clock_skew(void **st)
{
    struct sg_ratelimit *rl = mk(0.5, 1.0, 4);
    int64_t wait = -1;

    SG_UNUSED(st);
    assert_int_equal(take(rl, "s", T0, &wait), 0);
    assert_int_equal(take(rl, "s", T0, &wait), SG_ELIMIT);
    assert_int_equal(wait, 2000);
    /* Time going backwards refills nothing and does not crash. */
    assert_int_equal(take(rl, "s", T0 - 5000, &wait), SG_ELIMIT);
    assert_int_equal(take(rl, "s", T0 + 1999, &wait), SG_ELIMIT);
    assert_int_equal(take(rl, "s", T0 + 2000, &wait), 0);
    sg_ratelimit_free(rl);
}

/* Over a long run the bucket never admits more than burst + rate * t. */
static void test_rate_never_exceeded(void **st)
{
    struct sg_ratelimit *rl = mk(20.0, 10.0, 4);
    int allowed = 0;

    SG_UNUSED(st);
    for (int64_t t = 0; t <= 10000; t += 7) {
        for (int i = 0; i < 3; i++) {
            if (take(rl, "s", T0 + t, NULL) == 0)
                allowed++;
        }
    }
    assert_true(allowed <= 10 + 20 * 10);
    assert_true(allowed >= 20 * 10); /* and it does admit the rate */
    sg_ratelimit_free(rl);
}

static void test_pause_blocks_whole_bucket(void **st)
{
    struct sg_ratelimit *rl = mk(100.0, 100.0, 8);
    int64_t wait = -1;

    SG_UNUSED(st);
    assert_int_equal(take(rl, "s", T0, &wait), 0);
    assert_int_equal(
        sg_ratelimit_pause(rl, "tiktok_shop", "s", "orders", T0 + 1000, T0), 0);
    assert_int_equal(
        sg_ratelimit_paused_until(rl, "tiktok_shop", "s", "orders", T0 + 10),
        T0 + 1000);
    for (int64_t t = 0; t < 1000; t += 50) {
        assert_int_equal(take(rl, "s", T0 + t, &wait), SG_ELIMIT);
        assert_int_equal(wait, 1000 - t);
    }
    /* A shorter pause does not shorten it; a longer one extends it. */
    assert_int_equal(sg_ratelimit_pause(rl, "tiktok_shop", "s", "orders",
                                        T0 + 500, T0 + 100),
                     0);
    assert_int_equal(take(rl, "s", T0 + 600, &wait), SG_ELIMIT);
    assert_int_equal(sg_ratelimit_pause(rl, "tiktok_shop", "s", "orders",
                                        T0 + 1500, T0 + 600),
                     0);
    assert_int_equal(take(rl, "s", T0 + 1200, &wait), SG_ELIMIT);
    assert_int_equal(wait, 300);
    /* Other buckets are not paused. */
    assert_int_equal(take(rl, "other", T0 + 700, &wait), 0);
    /* At the end: exactly one token, then the normal rate. */
    assert_int_equal(take(rl, "s", T0 + 1500, &wait), 0);
    assert_int_equal(take(rl, "s", T0 + 1500, &wait), SG_ELIMIT);
    assert_int_equal(wait, 10);
    assert_int_equal(take(rl, "s", T0 + 1510, &wait), 0);
    assert_int_equal(
        sg_ratelimit_paused_until(rl, "tiktok_shop", "s", "orders", T0 + 1510),
        0);
    sg_ratelimit_free(rl);
}

static void test_table_is_bounded(void **st)
{
    struct sg_ratelimit *rl = mk(1.0, 2.0, 3);
    char shop[16];
    int64_t wait = -1;
    char long_key[100];

    SG_UNUSED(st);
    /* Three busy buckets (tokens used) fill the table. */
    for (int i = 0; i < 3; i++) {
        snprintf(shop, sizeof(shop), "s%d", i);
        assert_int_equal(take(rl, shop, T0, &wait), 0);
    }
    assert_int_equal(take(rl, "new", T0, &wait), SG_EFULL);
    assert_true(wait > 0);
    assert_int_equal(sg_ratelimit_pause(rl, "x", "y", "z", T0 + 5, T0),
                     SG_EFULL);
    assert_int_equal(sg_ratelimit_count(rl), 3);
    /* Pause one; once the others refill fully they can be evicted. */
    assert_int_equal(
        sg_ratelimit_pause(rl, "tiktok_shop", "s0", "orders", T0 + 100000, T0),
        0);
    assert_int_equal(take(rl, "new", T0 + 5000, &wait), 0);
    assert_int_equal(take(rl, "new2", T0 + 5000, &wait), 0);
    assert_int_equal(take(rl, "new3", T0 + 5000, &wait), SG_EFULL);
    assert_int_equal(sg_ratelimit_count(rl), 3);
    /* The paused bucket survived the evictions. */
    assert_int_equal(take(rl, "s0", T0 + 5000, &wait), SG_ELIMIT);
    assert_int_equal(wait, 95000);
    /* Oversized key parts are rejected, not truncated into another key. */
    memset(long_key, 'a', sizeof(long_key) - 1);
    long_key[sizeof(long_key) - 1] = '\0';
    assert_int_equal(take(rl, long_key, T0, &wait), SG_EINVAL);
    sg_ratelimit_free(rl);
}

static void test_bad_config(void **st)
{
    struct sg_ratelimit_cfg cfg;
    struct sg_ratelimit *rl = (struct sg_ratelimit *)&cfg;
    struct sg_err err;

    SG_UNUSED(st);
    sg_ratelimit_cfg_defaults(&cfg);
    cfg.rate_per_sec = 0.0;
    assert_int_equal(sg_ratelimit_new(&rl, &cfg, &err), SG_ECONFIG);
    assert_null(rl);
    sg_ratelimit_cfg_defaults(&cfg);
    cfg.burst = 0.5;
    assert_int_equal(sg_ratelimit_new(&rl, &cfg, &err), SG_ECONFIG);
    sg_ratelimit_cfg_defaults(&cfg);
    cfg.entries_max = 0;
    assert_int_equal(sg_ratelimit_new(&rl, &cfg, &err), SG_ECONFIG);
    sg_ratelimit_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_burst_then_refill),
        cmocka_unit_test(test_fractional_rate_and_clock_skew),
        cmocka_unit_test(test_rate_never_exceeded),
        cmocka_unit_test(test_pause_blocks_whole_bucket),
        cmocka_unit_test(test_table_is_bounded),
        cmocka_unit_test(test_bad_config),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
