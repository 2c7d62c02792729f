/*
 * test_sandbox_sign.c - TikTok Shop request and webhook signatures against
 * the reference vectors (reference 1.3 A and B, 1.9), plus the query
 * decoding the sandbox relies on.
 */
#include "core/sg.h"
#include "testlib.h"
#include "connectors/tiktok_shop/sign.h"
#include "core/buf.h"
#include "core/err.h"

#define SECRET "e59af819cc"
#define SIG_A                                                                  \
    "b596b73e0cc6de07ac26f036364178ab16b0a907af13d43f0a0cd2345f582dc8"
#define SIG_B                                                                  \
    "a75b9c8cd57140cab6dc95bf31c37bd6ffface74210768b6517c0ff81659b0ba"

static void vector_a(void **state)
{
    struct sg_tts_param p[] = {{"timestamp", "1623812664"},
                               {"app_key", "29a39d"}};
    char sig[65];
    struct sg_buf b;

    SG_UNUSED(state);
    assert_int_equal(sg_tts_sign(sig, SECRET, "/authorization/202309/shops",
                                 p, 2, NULL, 0),
                     0);
    assert_string_equal(sig, SIG_A);
    sg_buf_init(&b, 4096);
    assert_int_equal(sg_buf_appends(&b, ""), 0);
    {
        struct sg_tts_kv kv[] = {{"timestamp", 9, "1623812664", 10},
                                 {"app_key", 7, "29a39d", 6}};

        assert_int_equal(sg_tts_sign_base(&b, "/authorization/202309/shops",
                                          kv, 2, NULL, 0),
                         0);
    }
    assert_string_equal(b.data, "/authorization/202309/shopsapp_key29a39d"
                                "timestamp1623812664");
    sg_buf_release(&b);
}

static void vector_b(void **state)
{
    static const char body[] = "{\"address\":\"https://partner.tiktokshop."
                               "com\",\"event_type\":\"PACKAGE_UPDATE\"}";
    struct sg_tts_param p[] = {
        {"shop_cipher", "ROW_xkMbgAAAeVAQra0eZWebFQq5aIKt"},
        {"timestamp", "1696909648"},
        {"app_key", "68xu9ks5p4i8"},
        {"sign", "ignored"},
        {"access_token", "ignored-too"},
    };
    char sig[65];

    SG_UNUSED(state);
    assert_int_equal(sg_tts_sign(sig, SECRET, "/event/202309/webhooks", p, 5,
                                 body, strlen(body)),
                     0);
    assert_string_equal(sig, SIG_B);
    /* One byte of body more and the signature changes. */
    assert_int_equal(sg_tts_sign(sig, SECRET, "/event/202309/webhooks", p, 5,
                                 body, strlen(body) - 1),
                     0);
    assert_string_not_equal(sig, SIG_B);
}

static void vector_a_from_raw_query(void **state)
{
    static const char q[] = "timestamp=1623812664&sign=abc&app_key=29a39d";
    struct sg_tts_query parsed;
    char sig[65];

    SG_UNUSED(state);
    assert_int_equal(sg_tts_query_parse(&parsed, q, strlen(q)), 0);
    assert_int_equal(parsed.n, 3);
    assert_int_equal(sg_tts_sign_kv(sig, SECRET,
                                    "/authorization/202309/shops", parsed.kv,
                                    parsed.n, NULL, 0),
                     0);
    assert_string_equal(sig, SIG_A);
    sg_tts_query_release(&parsed);
}

static void query_decoding(void **state)
{
    static const char q[] = "page_token=a%2Bb%2Fc%3D&x=1+2&empty=&flag";
    struct sg_tts_query parsed;
    const struct sg_tts_kv *kv;

    SG_UNUSED(state);
    assert_int_equal(sg_tts_query_parse(&parsed, q, strlen(q)), 0);
    assert_int_equal(parsed.n, 4);
    kv = sg_tts_query_find(&parsed, "page_token");
    assert_non_null(kv);
    assert_int_equal(kv->val_len, 6);
    assert_memory_equal(kv->val, "a+b/c=", 6);
    kv = sg_tts_query_find(&parsed, "x");
    assert_memory_equal(kv->val, "1 2", 3);
    assert_int_equal(sg_tts_query_find(&parsed, "empty")->val_len, 0);
    assert_non_null(sg_tts_query_find(&parsed, "flag"));
    assert_null(sg_tts_query_find(&parsed, "nope"));
    sg_tts_query_release(&parsed);
}

static void query_cap(void **state)
{
    char q[1024];
    size_t n = 0;
    struct sg_tts_query parsed;

    SG_UNUSED(state);
    for (int i = 0; i < SG_TTS_QUERY_PARAMS_MAX + 1; i++)
        n += (size_t)snprintf(q + n, sizeof(q) - n, "%sk%d=v", i ? "&" : "",
                              i);
    assert_int_equal(sg_tts_query_parse(&parsed, q, n), SG_ELIMIT);
    sg_tts_query_release(&parsed);
}

static void webhook_vector(void **state)
{
    static const char body[] =
        "{\"type\":1,\"shop_id\":\"7494726673780148744\",\"timestamp\":"
        "1664095733,\"data\":{\"order_id\":\"576684019603311365\","
        "\"order_status\":\"AWAITING_SHIPMENT\",\"update_time\":"
        "1664095610}}";
    static const char want[] =
        "21109834de72ec53c9959716d8514ae388ce1f123e5ffdcafc46713fcdf62b27";
    static const char upper[] =
        "21109834DE72EC53C9959716D8514AE388CE1F123E5FFDCAFC46713FCDF62B27";
    char sig[65];

    SG_UNUSED(state);
    assert_int_equal(sg_tts_webhook_sign(sig, "fake_app_key",
                                         "fake_app_secret", body,
                                         strlen(body)),
                     0);
    assert_string_equal(sig, want);
    assert_true(sg_tts_webhook_verify("fake_app_key", "fake_app_secret",
                                      want, 64, body, strlen(body)));
    assert_true(sg_tts_webhook_verify("fake_app_key", "fake_app_secret",
                                      upper, 64, body, strlen(body)));
    assert_false(sg_tts_webhook_verify("fake_app_key", "other_secret", want,
                                       64, body, strlen(body)));
    assert_false(sg_tts_webhook_verify("fake_app_key", "fake_app_secret",
                                       want, 63, body, strlen(body)));
    assert_false(sg_tts_webhook_verify("fake_app_key", "fake_app_secret",
                                       want, 64, body, strlen(body) - 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(vector_a),
        cmocka_unit_test(vector_b),
        cmocka_unit_test(vector_a_from_raw_query),
        cmocka_unit_test(query_decoding),
        cmocka_unit_test(query_cap),
        cmocka_unit_test(webhook_vector),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
