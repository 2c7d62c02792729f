/*
 * test_features_events.c - normalisation, hashing and validation of
 * Events API events. Expected digests are computed here through OpenSSL's
 * EVP interface on hand-normalised literals, an independent path from the
 * code under test (which goes through sg_sha256_hex).
 */
#include "core/sg.h"

#include <openssl/evp.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/json.h"
#include "features/events/events.h"
#include "testlib.h"

static void evp_hex(const char *s, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    static const char hx[] = "0123456789abcdef";

    EVP_Digest(s, strlen(s), md, &n, EVP_sha256(), NULL);
    assert_int_equal(n, 32);
    for (unsigned i = 0; i < n; i++) {
        out[2 * i] = hx[md[i] >> 4];
        out[2 * i + 1] = hx[md[i] & 15];
    }
    out[64] = '\0';
}

static void expect_digest(int field, const char *in, const char *normalised)
{
    char got[65], want[65];

    struct sg_events_sha sha;

    assert_int_equal(sg_events_digest(field, in, strlen(in), got), 0);
    evp_hex(normalised, want);
    assert_string_equal(got, want);
    /* The same on a reused context, twice (the context resets). */
    assert_int_equal(sg_events_sha_init(&sha), 0);
    for (int k = 0; k < 2; k++) {
        memset(got, 0, sizeof(got));
        assert_int_equal(
            sg_events_digest_with(&sha, field, in, strlen(in), got), 0);
        assert_string_equal(got, want);
    }
    sg_events_sha_release(&sha);
    sg_events_sha_release(&sha); /* released twice: harmless */
}

static void test_email(void **state)
{
    SG_UNUSED(state);
    expect_digest(SG_EVENTS_F_EMAIL, "  Foo.Bar@Example.COM \n",
                  "foo.bar@example.com");
    expect_digest(SG_EVENTS_F_EMAIL, "a@b.co", "a@b.co");
}

static void test_phone(void **state)
{
    SG_UNUSED(state);
    /* The reference's example: +12133734253. */
    expect_digest(SG_EVENTS_F_PHONE, "+1 (213) 373-4253", "+12133734253");
    expect_digest(SG_EVENTS_F_PHONE, "1-213-373-4253", "+12133734253");
    expect_digest(SG_EVENTS_F_PHONE, "+44 20 7946 0958", "+442079460958");
}

static void test_others(void **state)
{
    SG_UNUSED(state);
    expect_digest(SG_EVENTS_F_EXTERNAL_ID, "  User-42 ", "User-42");
    expect_digest(SG_EVENTS_F_NAME, " Mary Ann ", "maryann");
    expect_digest(SG_EVENTS_F_ZIP, "SW1A 1AA", "sw1a1aa");
}

static void test_prehashed_passthrough(void **state)
{
    char want[65], upper[65], got[65];

    SG_UNUSED(state);
    evp_hex("foo@example.com", want);
    for (size_t i = 0; i < 65; i++)
        upper[i] = (char)((want[i] >= 'a' && want[i] <= 'f') ? want[i] - 32
                                                             : want[i]);
    assert_int_equal(sg_events_digest(SG_EVENTS_F_EMAIL, want, 64, got), 0);
    assert_string_equal(got, want); /* not hashed twice */
    assert_int_equal(sg_events_digest(SG_EVENTS_F_EMAIL, upper, 64, got), 0);
    assert_string_equal(got, want);
}

static void test_bad_values(void **state)
{
    char out[65];

    SG_UNUSED(state);
    assert_int_equal(sg_events_digest(SG_EVENTS_F_EMAIL, "   ", 3, out),
                     SG_EINVAL);
    assert_int_equal(sg_events_digest(SG_EVENTS_F_EMAIL, "nope", 4, out),
                     SG_EINVAL);
    assert_int_equal(sg_events_digest(SG_EVENTS_F_PHONE, "abc", 3, out),
                     SG_EINVAL);
    assert_int_equal(
        sg_events_digest(SG_EVENTS_F_PHONE, "1234567890123456", 16, out),
        SG_EINVAL); /* 16 digits: over E.164's 15 */
}

static void test_place_and_names(void **state)
{
    char out[32];

    SG_UNUSED(state);
    assert_int_equal(sg_events_normalize_place("San José!", 10, out,
                                               sizeof(out)),
                     6);
    assert_string_equal(out, "sanjos");
    assert_true(sg_events_is_standard("CompletePayment"));
    assert_false(sg_events_is_standard("completepayment"));
    assert_false(sg_events_is_standard("IntiateCheckout"));
    assert_true(sg_events_is_currency("USD"));
    assert_true(sg_events_is_currency("EUR"));
    assert_false(sg_events_is_currency("usd"));
    assert_false(sg_events_is_currency("XXZ"));
}

static struct sg_events_cfg cfg(void)
{
    struct sg_events_cfg c;

    memset(&c, 0, sizeof(c));
    c.source_ids[SG_EVENTS_WEB] = "PIX";
    c.source_ids[SG_EVENTS_OFFLINE] = "OFF";
    c.batch_max = 1000;
    c.max_event_age_s = 7 * 86400;
    c.custom_events = "MyEvent, Other";
    return c;
}

#define NOW_MS INT64_C(1790000000000)

static int prep(struct sg_events_item *it, const char *json,
                struct sg_events_reject *why)
{
    struct sg_events_cfg c = cfg();
    json_t *j = json_loads(json, 0, NULL);
    int rc;

    assert_non_null(j);
    rc = sg_events_prepare(it, j, SG_EVENTS_WEB, &c, NOW_MS, why);
    json_decref(j);
    return rc;
}

static void test_prepare_ok(void **state)
{
    struct sg_events_item it;
    struct sg_events_reject why;
    char want_e[65], want_p[65];
    json_t *b;

    SG_UNUSED(state);
    assert_int_equal(
        prep(&it,
             "{\"event\":\"CompletePayment\",\"event_id\":\"ord-1\","
             "\"event_time\":1789999990,\"secret_extra\":\"x@y.z\","
             "\"user\":{\"email\":[\" A@B.com\",\"c@d.org\"],"
             "\"phone\":\"+1 213 373 4253\",\"ip\":\"1.2.3.4\","
             "\"ttclid\":\"E.C.P.x\",\"city\":\"San Jose\",\"nick\":\"q\"},"
             "\"properties\":{\"currency\":\"USD\",\"value\":\"12.50\","
             "\"contents\":[{\"content_id\":\"1\",\"quantity\":2,"
             "\"price\":8}]},\"page\":{\"url\":\"https://s/x\"}}",
             &why),
        0);
    assert_string_equal(it.event_id, "ord-1");
    assert_false(it.event_id_generated);
    assert_int_equal(it.event_time, 1789999990);
    b = json_loads(it.body, 0, NULL);
    assert_non_null(b);
    evp_hex("a@b.com", want_e);
    assert_string_equal(json_string_value(json_array_get(
                            json_object_get(json_object_get(b, "user"),
                                            "email"),
                            0)),
                        want_e);
    evp_hex("+12133734253", want_p);
    assert_string_equal(sg_json_str(json_object_get(b, "user"), "phone"),
                        want_p);
    assert_string_equal(sg_json_str(json_object_get(b, "user"), "ip"),
                        "1.2.3.4");
    assert_string_equal(sg_json_str(json_object_get(b, "user"), "city"),
                        "sanjose");
    /* Minimised: unknown members never pass. */
    assert_null(json_object_get(b, "secret_extra"));
    assert_null(json_object_get(json_object_get(b, "user"), "nick"));
    assert_null(strstr(it.body, "A@B.com"));
    assert_null(strstr(it.body, "213 373"));
    assert_true(json_is_number(
        json_object_get(json_object_get(b, "properties"), "value")));
    json_decref(b);
    sg_events_item_release(&it);
}

/* Decimals reach TikTok as the client wrote them, not 19.899999999... */
static void test_prepare_decimals(void **state)
{
    struct sg_events_item it;
    struct sg_events_reject why;
    json_t *b;

    SG_UNUSED(state);
    assert_int_equal(
        prep(&it,
             "{\"event\":\"CompletePayment\",\"event_id\":\"d-1\","
             "\"properties\":{\"currency\":\"USD\",\"value\":19.90,"
             "\"contents\":[{\"content_id\":\"1\",\"price\":8.10},"
             "{\"content_id\":\"2\",\"price\":0.3}]}}",
             &why),
        0);
    assert_non_null(strstr(it.body, "\"value\":19.9"));
    assert_null(strstr(it.body, "19.89"));
    assert_non_null(strstr(it.body, "\"price\":8.1"));
    assert_null(strstr(it.body, "8.09"));
    assert_non_null(strstr(it.body, "\"price\":0.3"));
    b = json_loads(it.body, 0, NULL);
    assert_non_null(b);
    assert_true(json_real_value(json_object_get(
                    json_object_get(b, "properties"), "value")) == 19.9);
    json_decref(b);
    sg_events_item_release(&it);
    /* A numeric string, and a value needing all 17 digits, round-trip. */
    assert_int_equal(
        prep(&it,
             "{\"event\":\"Purchase\",\"properties\":{\"currency\":"
             "\"EUR\",\"value\":\"12.30\"}}",
             &why),
        0);
    assert_non_null(strstr(it.body, "\"value\":12.3"));
    assert_null(strstr(it.body, "12.29"));
    sg_events_item_release(&it);
    assert_int_equal(
        prep(&it,
             "{\"event\":\"Purchase\",\"properties\":{\"currency\":"
             "\"EUR\",\"value\":0.30000000000000004}}",
             &why),
        0);
    b = json_loads(it.body, 0, NULL);
    assert_true(json_real_value(json_object_get(
                    json_object_get(b, "properties"), "value")) ==
                0.30000000000000004);
    json_decref(b);
    sg_events_item_release(&it);
    /* Not a finite number: rejected, not an allocation failure. */
    assert_int_equal(
        prep(&it,
             "{\"event\":\"Purchase\",\"properties\":{\"currency\":"
             "\"EUR\",\"value\":\"inf\"}}",
             &why),
        SG_EINVAL);
    assert_string_equal(why.code, "invalid_value");
}

static void test_prepare_generated_id(void **state)
{
    struct sg_events_item it;
    struct sg_events_reject why;

    SG_UNUSED(state);
    assert_int_equal(prep(&it, "{\"event\":\"MyEvent\"}", &why), 0);
    assert_true(it.event_id_generated);
    assert_int_equal(strncmp(it.event_id, "sg_", 3), 0);
    assert_int_equal(it.event_time, NOW_MS / 1000);
    sg_events_item_release(&it);
}

static void expect_reject(const char *json, const char *code)
{
    struct sg_events_item it;
    struct sg_events_reject why;

    assert_int_equal(prep(&it, json, &why), SG_EINVAL);
    assert_string_equal(why.code, code);
    assert_null(it.body);
}

static void test_prepare_rejects(void **state)
{
    SG_UNUSED(state);
    expect_reject("{\"event\":\"Nope\"}", "invalid_event");
    expect_reject("{\"event\":\"Purchase\",\"event_time\":1790000900}",
                  "in_future");
    expect_reject("{\"event\":\"Purchase\",\"event_time\":1700000000}",
                  "too_old");
    expect_reject("{\"event\":\"Purchase\",\"event_time\":\"soon\"}",
                  "invalid_time");
    expect_reject("{\"event\":\"Purchase\",\"properties\":{\"currency\":"
                  "\"usd\",\"value\":1}}",
                  "invalid_currency");
    expect_reject("{\"event\":\"Purchase\",\"properties\":{\"currency\":"
                  "\"USD\",\"value\":\"ten\"}}",
                  "invalid_value");
    expect_reject("{\"event\":\"Purchase\",\"event_source\":\"app\"}",
                  "source_not_configured");
    expect_reject("{\"event\":\"Purchase\",\"event_source\":\"tv\"}",
                  "invalid_source");
    expect_reject("{\"event\":\"Purchase\",\"event_id\":5}",
                  "invalid_event_id");
    expect_reject("{\"event\":\"Purchase\",\"user\":{\"email\":\"x\"}}",
                  "invalid_user");
    expect_reject("[1]", "invalid_shape");
}

/* Many events into one buffer; a rejection leaves it as it was. */
static void test_prepare_buf_shared(void **state)
{
    struct sg_events_cfg cfg;
    struct sg_events_item a, b, c;
    struct sg_events_reject why;
    struct sg_events_sha sha;
    struct sg_buf buf;
    int64_t now = INT64_C(1764000000000);
    json_t *ea, *eb, *bad, *j;
    size_t before;

    SG_UNUSED(state);
    memset(&cfg, 0, sizeof(cfg));
    cfg.source_ids[SG_EVENTS_WEB] = "PIX";
    ea = json_loads("{\"event\":\"Purchase\",\"event_id\":\"x\\\"1\","
                    "\"user\":{\"email\":\"A@B.com\"},\"properties\":"
                    "{\"currency\":\"EUR\",\"value\":\"7.50\"}}",
                    0, NULL);
    eb = json_loads("{\"event\":\"Search\",\"event_id\":\"x2\","
                    "\"page\":{\"url\":\"https://s/\\u0001\"}}",
                    0, NULL);
    bad = json_loads("{\"event\":\"Search\",\"event_id\":\"x3\","
                     "\"user\":{\"email\":\"A@B.com\",\"phone\":\"12\"}}",
                     0, NULL);
    assert_non_null(ea);
    assert_non_null(eb);
    assert_non_null(bad);
    assert_int_equal(sg_events_sha_init(&sha), 0);
    sg_buf_init(&buf, 1 << 16);
    assert_int_equal(sg_events_prepare_buf(&a, &buf, &sha, ea, SG_EVENTS_WEB,
                                           &cfg, now, &why),
                     0);
    before = buf.len;
    /* Rejected after the email was already written: all of it undone. */
    assert_int_equal(sg_events_prepare_buf(&c, &buf, &sha, bad,
                                           SG_EVENTS_WEB, &cfg, now, &why),
                     SG_EINVAL);
    assert_string_equal(why.code, "invalid_user");
    assert_int_equal(buf.len, before);
    assert_int_equal(sg_events_prepare_buf(&b, &buf, &sha, eb, SG_EVENTS_WEB,
                                           &cfg, now, &why),
                     0);
    assert_null(a.body);
    assert_int_equal(a.body_off, 0);
    assert_int_equal(b.body_off, a.body_len);
    assert_int_equal(buf.len, a.body_len + b.body_len);
    /* Each slice is one JSON object of its own. */
    j = json_loadb(buf.data + a.body_off, a.body_len, 0, NULL);
    assert_non_null(j);
    assert_string_equal(sg_json_str(j, "event_id"), "x\"1");
    assert_true(json_is_real(json_object_get(json_object_get(j, "properties"),
                                             "value")));
    assert_null(strstr(buf.data, "A@B.com"));
    assert_null(strstr(buf.data, "a@b.com"));
    json_decref(j);
    j = json_loadb(buf.data + b.body_off, b.body_len, 0, NULL);
    assert_non_null(j);
    assert_string_equal(sg_json_str(json_object_get(j, "page"), "url"),
                        "https://s/\001");
    json_decref(j);
    sg_buf_release(&buf);
    sg_events_sha_release(&sha);
    json_decref(ea);
    json_decref(eb);
    json_decref(bad);
}

static void test_batch_body(void **state)
{
    const char *evs[] = {"{\"event\":\"A\"}", "{\"event\":\"B\"}"};
    size_t lens[] = {13, 13};
    struct sg_buf b;
    json_t *j;

    SG_UNUSED(state);
    sg_buf_init(&b, 1 << 20);
    assert_int_equal(sg_events_batch_body(&b, SG_EVENTS_OFFLINE, "OFF\"1",
                                          "TEST1", evs, lens, 2),
                     0);
    j = json_loads(b.data, 0, NULL);
    assert_non_null(j);
    assert_string_equal(sg_json_str(j, "event_source"), "offline");
    assert_string_equal(sg_json_str(j, "event_source_id"), "OFF\"1");
    assert_string_equal(sg_json_str(j, "test_event_code"), "TEST1");
    assert_int_equal(json_array_size(json_object_get(j, "data")), 2);
    json_decref(j);
    sg_buf_release(&b);
}

static void test_partial_failures(void **state)
{
    json_t *r = json_loads("{\"code\":20001,\"data\":{\"failed_events\":["
                           "{\"index\":3},{\"index\":1},{\"x\":1}]}}",
                           0, NULL);
    size_t idx[4], n = 0;

    SG_UNUSED(state);
    assert_int_equal(sg_events_partial_failures(r, idx, 4, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(idx[0], 1);
    assert_int_equal(idx[1], 3);
    assert_int_equal(sg_events_partial_failures(r, idx, 1, &n), SG_ELIMIT);
    json_decref(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_email),
        cmocka_unit_test(test_phone),
        cmocka_unit_test(test_others),
        cmocka_unit_test(test_prehashed_passthrough),
        cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_place_and_names),
        cmocka_unit_test(test_prepare_ok),
        cmocka_unit_test(test_prepare_decimals),
        cmocka_unit_test(test_prepare_generated_id),
        cmocka_unit_test(test_prepare_rejects),
        cmocka_unit_test(test_prepare_buf_shared),
        cmocka_unit_test(test_batch_body),
        cmocka_unit_test(test_partial_failures),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
