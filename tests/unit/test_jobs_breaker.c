/*
 * test_jobs_breaker.c - circuit breaker transitions on explicit times:
 * closed -> open at the failure rate, open -> half-open after open_ms,
 * bounded probes, half-open -> closed or back to open.
 */
#include "core/sg.h"

#include <setjmp.h>

#include <cmocka.h>

#include "jobs/breaker.h"

#define T0 INT64_C(5000000)

static struct sg_breakers *mk(void)
{
    struct sg_breaker_cfg cfg;
    struct sg_breakers *b = NULL;
    struct sg_err err;

    sg_breaker_cfg_defaults(&cfg);
    cfg.window = 20;
    cfg.min_calls = 10;
    cfg.failure_pct = 50;
    cfg.open_ms = 30000;
    cfg.probes = 3;
    cfg.entries_max = 4;
    assert_int_equal(sg_breakers_new(&b, &cfg, &err), 0);
    return b;
}

/* One allowed call with the given outcome. */
static void call(struct sg_breakers *b, const char *shop, int outcome,
                 int64_t now)
{
    assert_int_equal(sg_breakers_allow(b, "shopify", shop, now, NULL), 0);
    sg_breakers_record(b, "shopify", shop, outcome, now);
}

static int state(struct sg_breakers *b, const char *shop, int64_t now)
{
    return sg_breakers_state(b, "shopify", shop, now);
}

static void test_needs_min_calls(void **st)
{
    struct sg_breakers *b = mk();

    SG_UNUSED(st);
    /* 9 failures in a row: below min_calls, still closed. */
    for (int i = 0; i < 9; i++)
        call(b, "a", SG_BREAKER_FAILURE, T0 + i);
    assert_int_equal(state(b, "a", T0 + 9), SG_BREAKER_CLOSED);
    /* The 10th makes 10/10 failures: open. */
    call(b, "a", SG_BREAKER_FAILURE, T0 + 10);
    assert_int_equal(state(b, "a", T0 + 10), SG_BREAKER_OPEN);
    /* Other shops are unaffected. */
    assert_int_equal(state(b, "b", T0 + 10), SG_BREAKER_CLOSED);
    call(b, "b", SG_BREAKER_SUCCESS, T0 + 10);
    sg_breakers_free(b);
}

static void test_rate_threshold_and_neutral(void **st)
{
    struct sg_breakers *b = mk();
    int64_t retry_at = 0;

    SG_UNUSED(st);
    /* 4 failures out of 10 (40%): closed. Neutral outcomes don't count. */
    for (int i = 0; i < 6; i++)
        call(b, "a", SG_BREAKER_SUCCESS, T0);
    for (int i = 0; i < 4; i++)
        call(b, "a", SG_BREAKER_FAILURE, T0);
    for (int i = 0; i < 30; i++)
        call(b, "a", SG_BREAKER_NEUTRAL, T0);
    assert_int_equal(state(b, "a", T0), SG_BREAKER_CLOSED);
    /* The 11th outcome, a failure: 5 of 11 (45%) - still closed. */
    call(b, "a", SG_BREAKER_FAILURE, T0);
    assert_int_equal(state(b, "a", T0), SG_BREAKER_CLOSED);
    /* 6 of 12 = 50%: open, and calls are refused until open_ms passes. */
    call(b, "a", SG_BREAKER_FAILURE, T0 + 1);
    assert_int_equal(state(b, "a", T0 + 1), SG_BREAKER_OPEN);
    assert_int_equal(sg_breakers_allow(b, "shopify", "a", T0 + 2, &retry_at),
                     SG_EBUSY);
    assert_int_equal(retry_at, T0 + 1 + 30000);
    assert_int_equal(
        sg_breakers_allow(b, "shopify", "a", T0 + 30000, &retry_at), SG_EBUSY);
    sg_breakers_free(b);
}

/* The window is rolling: old outcomes fall out of it. */
static void test_window_rolls(void **st)
{
    struct sg_breakers *b = mk();

    SG_UNUSED(st);
    for (int i = 0; i < 11; i++)
        call(b, "a", SG_BREAKER_SUCCESS, T0);
    for (int i = 0; i < 9; i++)
        call(b, "a", SG_BREAKER_FAILURE, T0);
    assert_int_equal(state(b, "a", T0), SG_BREAKER_CLOSED); /* 9/20 */
    for (int i = 0; i < 20; i++)
        call(b, "a", SG_BREAKER_SUCCESS, T0);
    for (int i = 0; i < 9; i++)
        call(b, "a", SG_BREAKER_FAILURE, T0);
    assert_int_equal(state(b, "a", T0), SG_BREAKER_CLOSED); /* 9/20 */
    /*
     * 10 of the last 20 failed: open. Counted since the start it would
     * be 19 of 50, so this shows old outcomes left the window.
     */
    call(b, "a", SG_BREAKER_FAILURE, T0);
    assert_int_equal(state(b, "a", T0), SG_BREAKER_OPEN);
    sg_breakers_free(b);
}

static void trip(struct sg_breakers *b, const char *shop, int64_t now)
{
    for (int i = 0; i < 10; i++)
        call(b, shop, SG_BREAKER_FAILURE, now);
    assert_int_equal(state(b, shop, now), SG_BREAKER_OPEN);
}

static void test_half_open_probes_then_close(void **st)
{
    struct sg_breakers *b = mk();
    int64_t t = T0 + 30000;
    int64_t retry_at;

    SG_UNUSED(st);
    trip(b, "a", T0);
    assert_int_equal(state(b, "a", t), SG_BREAKER_HALF_OPEN);
    /* Exactly `probes` calls go through; the rest wait for their answers. */
    for (int i = 0; i < 3; i++)
        assert_int_equal(sg_breakers_allow(b, "shopify", "a", t, NULL), 0);
    for (int i = 0; i < 20; i++)
        assert_int_equal(sg_breakers_allow(b, "shopify", "a", t, &retry_at),
                         SG_EBUSY);
    assert_true(retry_at > t);
    sg_breakers_record(b, "shopify", "a", SG_BREAKER_SUCCESS, t + 1);
    sg_breakers_record(b, "shopify", "a", SG_BREAKER_SUCCESS, t + 2);
    assert_int_equal(state(b, "a", t + 2), SG_BREAKER_HALF_OPEN);
    /* Successful probes don't free slots for more probes. */
    assert_int_equal(sg_breakers_allow(b, "shopify", "a", t + 2, NULL),
                     SG_EBUSY);
    sg_breakers_record(b, "shopify", "a", SG_BREAKER_SUCCESS, t + 3);
    assert_int_equal(state(b, "a", t + 3), SG_BREAKER_CLOSED);
    /* Closed with a clean window: 9 failures don't reopen it. */
    for (int i = 0; i < 9; i++)
        call(b, "a", SG_BREAKER_FAILURE, t + 4);
    assert_int_equal(state(b, "a", t + 4), SG_BREAKER_CLOSED);
    sg_breakers_free(b);
}

static void test_half_open_failure_reopens(void **st)
{
    struct sg_breakers *b = mk();
    int64_t t = T0 + 30000;
    int64_t retry_at;

    SG_UNUSED(st);
    trip(b, "a", T0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(sg_breakers_allow(b, "shopify", "a", t, NULL), 0);
    assert_int_equal(sg_breakers_allow(b, "shopify", "a", t, NULL), SG_EBUSY);
    /* A neutral answer (e.g. 429) gives its probe slot back. */
    sg_breakers_record(b, "shopify", "a", SG_BREAKER_NEUTRAL, t + 1);
    assert_int_equal(sg_breakers_allow(b, "shopify", "a", t + 1, NULL), 0);
    assert_int_equal(sg_breakers_allow(b, "shopify", "a", t + 1, NULL),
                     SG_EBUSY);
    sg_breakers_record(b, "shopify", "a", SG_BREAKER_FAILURE, t + 5);
    assert_int_equal(state(b, "a", t + 5), SG_BREAKER_OPEN);
    assert_int_equal(sg_breakers_allow(b, "shopify", "a", t + 6, &retry_at),
                     SG_EBUSY);
    assert_int_equal(retry_at, t + 5 + 30000);
    /* Late answers while open are ignored. */
    sg_breakers_record(b, "shopify", "a", SG_BREAKER_SUCCESS, t + 7);
    assert_int_equal(state(b, "a", t + 7), SG_BREAKER_OPEN);
    /* Next cycle: probes again. */
    assert_int_equal(state(b, "a", t + 5 + 30000), SG_BREAKER_HALF_OPEN);
    sg_breakers_free(b);
}

static void test_table_bounded(void **st)
{
    struct sg_breakers *b = mk();
    char shop[16];
    int64_t retry_at;

    SG_UNUSED(st);
    for (int i = 0; i < 4; i++) {
        snprintf(shop, sizeof(shop), "s%d", i);
        call(b, shop, SG_BREAKER_FAILURE, T0);
    }
    /* All four remember a failure: no room for a fifth. */
    assert_int_equal(sg_breakers_allow(b, "shopify", "s4", T0, &retry_at),
                     SG_EFULL);
    assert_true(retry_at > T0);
    /* A clean closed breaker may be replaced. */
    for (int i = 0; i < 20; i++)
        call(b, "s1", SG_BREAKER_SUCCESS, T0);
    assert_int_equal(sg_breakers_allow(b, "shopify", "s4", T0, NULL), 0);
    sg_breakers_record(b, "shopify", "s4", SG_BREAKER_SUCCESS, T0);
    sg_breakers_free(b);
}

static void test_bad_config(void **st)
{
    struct sg_breaker_cfg cfg;
    struct sg_breakers *b = NULL;

    SG_UNUSED(st);
    sg_breaker_cfg_defaults(&cfg);
    cfg.probes = 11;
    assert_int_equal(sg_breakers_new(&b, &cfg, NULL), SG_ECONFIG);
    sg_breaker_cfg_defaults(&cfg);
    cfg.window = 65;
    assert_int_equal(sg_breakers_new(&b, &cfg, NULL), SG_ECONFIG);
    sg_breaker_cfg_defaults(&cfg);
    cfg.min_calls = cfg.window + 1;
    assert_int_equal(sg_breakers_new(&b, &cfg, NULL), SG_ECONFIG);
    assert_null(b);
    assert_string_equal(sg_breaker_state_name(SG_BREAKER_HALF_OPEN),
                        "half_open");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_needs_min_calls),
        cmocka_unit_test(test_rate_threshold_and_neutral),
        cmocka_unit_test(test_window_rolls),
        cmocka_unit_test(test_half_open_probes_then_close),
        cmocka_unit_test(test_half_open_failure_reopens),
        cmocka_unit_test(test_table_bounded),
        cmocka_unit_test(test_bad_config),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
