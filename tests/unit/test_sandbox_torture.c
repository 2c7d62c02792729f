/*
 * test_sandbox_torture.c - D5 (issue #7) for the TikTok Shop signing code
 * that the sandbox and the connector share (built into sg_sandbox's
 * dependencies): query parse + request signature, and the webhook
 * signature, swept by tests/lib/torture.c with allocation n failing,
 * n = 1.. until the operation completes; each run must return an error
 * or the correct signature, never a wrong one. Swept again with
 * OpenSSL's allocations failing too ("+openssl").
 *
 * Label "torture" runs every n; the "_quick" twin in the default suite
 * runs SG_TORTURE_QUICK (see tests/CMakeLists.txt).
 */
#include "testlib.h"
#include "torture.h"
#include "core/alloc.h"
#include "connectors/tiktok_shop/sign.h"

static const char query[] =
    "app_key=29a39d&timestamp=1700000000&shop_cipher=GCP_XF90igAAAABh00q"
    "&page_size=20&sign=ignored&access_token=ignored&q=caf%C3%A9+mug";
static const char body[] = "{\"status\":\"ACTIVATE\"}";

static char sig[65];

static int sign_run(void *arg, struct sg_err *err)
{
    struct sg_tts_query q;
    int rc;

    SG_UNUSED(arg);
    rc = sg_tts_query_parse(&q, query, sizeof(query) - 1);
    if (!rc)
        rc = sg_tts_sign_kv(sig, "app_secret_0123", "/product/202309/search",
                            q.kv, q.n, body, sizeof(body) - 1);
    sg_tts_query_release(&q);
    return rc ? sg_err_set(err, rc, "sign: %s", sg_err_name(rc)) : 0;
}

static int webhook_run(void *arg, struct sg_err *err)
{
    int rc;

    SG_UNUSED(arg);
    rc = sg_tts_webhook_sign(sig, "29a39d", "app_secret_0123", body,
                             sizeof(body) - 1);
    return rc ? sg_err_set(err, rc, "sign: %s", sg_err_name(rc)) : 0;
}

static char *sig_digest(void *arg)
{
    SG_UNUSED(arg);
    return sg_strdup(sig);
}

static void sig_reset(void *arg)
{
    SG_UNUSED(arg);
    memset(sig, 0, sizeof(sig));
}

static void sweep(const char *name, int (*run)(void *, struct sg_err *))
{
    /* libcrypto does not always say it ran out of memory (see crypto.c). */
    static const int crypto_ok[] = {SG_EIO, 0};
    struct sgt_torture_op op = {.name = name,
                                .run = run,
                                .digest = sig_digest,
                                .teardown = sig_reset};
    struct sgt_torture_stats st;
    char full[96];

    sgt_torture_sweep(&op, &st);
    snprintf(full, sizeof(full), "%s +openssl", name);
    op.name = full;
    op.libs = SGT_LIB_OPENSSL;
    op.also_ok = crypto_ok;
    sgt_torture_sweep(&op, &st);
}

static void test_request_sign(void **state)
{
    SG_UNUSED(state);
    sweep("tts query parse + request sign", sign_run);
}

static void test_webhook_sign(void **state)
{
    SG_UNUSED(state);
    sweep("tts webhook sign", webhook_run);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_sign),
        cmocka_unit_test(test_webhook_sign),
    };

    SG_UNUSED(argc);
    sgt_torture_init(argv);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
