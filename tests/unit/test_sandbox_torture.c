/*
 * test_sandbox_torture.c - D5 for the TikTok Shop signing code (built
 * into sg_sandbox): query parse, request signature and webhook signature
 * with allocation n failing, n = 1.. until the operation completes. Each
 * run must return an error or the correct signature, never a wrong one.
 *
 * Label "torture": not in the default run; `ctest -L torture`.
 */
#include "testlib.h"
#include "core/alloc.h"
#include "connectors/tiktok_shop/sign.h"

#define SWEEP_MAX 10000UL

static const char query[] =
    "app_key=29a39d&timestamp=1700000000&shop_cipher=GCP_XF90igAAAABh00q"
    "&page_size=20&sign=ignored&access_token=ignored&q=caf%C3%A9+mug";
static const char body[] = "{\"status\":\"ACTIVATE\"}";

static int op_sign(char out[65])
{
    struct sg_tts_query q;
    int rc;

    rc = sg_tts_query_parse(&q, query, sizeof(query) - 1);
    if (!rc)
        rc = sg_tts_sign_kv(out, "app_secret_0123", "/product/202309/search",
                            q.kv, q.n, body, sizeof(body) - 1);
    sg_tts_query_release(&q);
    return rc;
}

static int op_webhook(char out[65])
{
    return sg_tts_webhook_sign(out, "29a39d", "app_secret_0123", body,
                               sizeof(body) - 1);
}

static void sweep(const char *what, int (*op)(char out[65]))
{
    char want[65], got[65];
    unsigned long n;

    sg_alloc_fail_at(0);
    assert_int_equal(op(want), 0);
    for (n = 1; n <= SWEEP_MAX; n++) {
        bool failed;
        int rc;

        memset(got, 0, sizeof(got));
        sg_alloc_fail_at(n);
        rc = op(got);
        failed = sg_alloc_failed();
        sg_alloc_fail_at(0);
        if (!failed)
            break;
        if (rc == 0)
            fail_msg("%s: allocation %lu failed, yet it reported success",
                     what, n);
    }
    assert_true(n <= SWEEP_MAX);
    assert_string_equal(got, want);
    print_message("%s: %lu allocation failure points, all reported\n", what,
                  n - 1);
    assert_true(n > 1);
}

static void test_request_sign(void **state)
{
    SG_UNUSED(state);
    sweep("tts query parse + request sign", op_sign);
}

static void test_webhook_sign(void **state)
{
    SG_UNUSED(state);
    sweep("tts webhook sign", op_webhook);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_sign),
        cmocka_unit_test(test_webhook_sign),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
