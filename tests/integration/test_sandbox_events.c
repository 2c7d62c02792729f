/*
 * test_sandbox_events.c - the sandbox's Events API answers each call the
 * same whichever path judged it: a valid call takes the one-pass check
 * (no JSON tree) and everything it does not handle falls back to the full
 * jansson path. Each case posts a body straight to
 * /open_api/v1.3/event/track/ and checks the code (and the refused
 * positions); the listing then shows every recorded body parsed, without
 * internal members, and keep_max still drops the oldest payloads.
 */
#include "core/sg.h"

#include <signal.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/json.h"
#include "testlib.h"

#define ARG(s) ((char *)(uintptr_t)(s))
#define HEX64  "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define EV(id) \
    "{\"event\":\"Purchase\",\"event_time\":1764000000,\"event_id\":\"" id \
    "\",\"user\":{\"email\":\"" HEX64 "\"}}"
#define CALL(data) \
    "{\"event_source\":\"web\",\"event_source_id\":\"PIX\",\"data\":[" data "]}"

static struct sgt_proc SBX;

static int setup(void **state)
{
    char *argv[] = {ARG(sgt_surge_bin()), ARG("sandbox"), ARG("--listen"),
                    ARG("127.0.0.1:0"), NULL};

    SG_UNUSED(state);
    return sgt_spawn(&SBX, argv, NULL);
}

static int teardown(void **state)
{
    SG_UNUSED(state);
    sgt_stop(&SBX, SIGTERM);
    return 0;
}

static json_t *req(const char *method, const char *path, const char *body)
{
    const char *headers[] = {"Content-Type: application/json",
                             "Access-Token: sbx_events_token", NULL};
    char url[256];
    struct sgt_resp r;
    json_t *j;

    snprintf(url, sizeof(url), "%s%s", SBX.url, path);
    if (sgt_http(&r, method, url, headers, body, body ? strlen(body) : 0)) {
        print_error("%s %s: curl code %d\n", method, url, r.curl_code);
        sgt_resp_free(&r);
        fail();
    }
    j = json_loads(r.body ? r.body : "", 0, NULL);
    sgt_resp_free(&r);
    assert_non_null(j);
    return j;
}

/* Post body; assert the answer's code and, for 20001, the one refused
 * position. */
static void expect(const char *body, long code, long refused_index)
{
    json_t *a = req("POST", "/open_api/v1.3/event/track/", body);
    json_t *failed =
        json_object_get(json_object_get(a, "data"), "failed_events");

    if (sg_json_int(a, "code", -1) != code)
        print_error("body %s answered %s\n", body,
                    sg_json_str(a, "message"));
    assert_int_equal(sg_json_int(a, "code", -1), code);
    if (code == 20001) {
        assert_int_equal(json_array_size(failed), 1);
        assert_int_equal(sg_json_int(json_array_get(failed, 0), "index", -1),
                         refused_index);
    }
    json_decref(a);
}

static void test_codes_match_full_path(void **state)
{
    SG_UNUSED(state);
    /* Valid: the one-pass path. */
    expect(CALL(EV("a1") "," EV("a2")), 0, -1);
    expect("\r\n " CALL(EV("a3")) " \n", 0, -1);
    /* 19 digits: past the one-pass check's limit, fine for jansson. */
    expect(CALL("{\"event\":\"Purchase\",\"event_time\":"
                "1234567890123456789}"),
           0, -1);
    /* Valid, but only the full path decodes it: \u escapes, UTF-8. */
    expect("{\"event_source\":\"w\\u0065b\",\"event_source_id\":\"PIX\","
           "\"data\":[{\"ev\\u0065nt\":\"Purchase\",\"event_time\":1764000000,"
           "\"user\":{\"user_agent\":\"Mozilla \xc3\xbc\"}}]}",
           0, -1);
    /* Not JSON as jansson reads it: 40002. */
    expect("{\"event_source\":\"web\",\"event_source\":\"web\","
           "\"event_source_id\":\"PIX\",\"data\":[" EV("d1") "]}",
           40002, -1);
    expect(CALL("{\"event\":\"Purchase\",\"event_time\":1764000000,"
                "\"properties\":{\"value\":1,\"value\":2}}"),
           40002, -1);
    expect(CALL(EV("t1")) "x", 40002, -1);
    expect(CALL("{\"event\":\"Purchase\",\"event_time\":01}"), 40002, -1);
    expect(CALL("{\"event\":\"Purchase\",\"event_time\":"
                "99999999999999999999}"),
           40002, -1);
    expect(CALL("{\"event\":\"Purchase\",\"event_time\":1,\"x\":tru}"), 40002,
           -1);
    expect(CALL("{\"event\":\"Purchase\",\"event_time\":1,\"x\":\"a\x01\"}"),
           40002, -1);
    /* Shape errors: 40002. */
    expect("{\"event_source\":\"Web\",\"event_source_id\":\"PIX\",\"data\":["
           EV("s1") "]}",
           40002, -1);
    expect("{\"event_source\":\"web\",\"event_source_id\":\"\",\"data\":["
           EV("s2") "]}",
           40002, -1);
    expect("{\"event_source\":\"web\",\"event_source_id\":\"PIX\"}", 40002,
           -1);
    expect(CALL(""), 40002, -1);
    expect("[" CALL(EV("s3")) "]", 40002, -1);
    /* One event of two refused: 20001 with its index. */
    expect(CALL(EV("p1") ",{\"event\":\"Purchase\",\"event_time\":1,"
                         "\"user\":{\"email\":\"" HEX64 "0\"}}"),
           20001, 1);
    expect(CALL("{\"event\":\"Purchase\",\"event_time\":1,\"user\":{"
                "\"phone\":[\"" HEX64 "\",\"0123456789ABCDEF0123456789abcdef"
                "0123456789abcdef0123456789abcdef\"]}}," EV("p2")),
           20001, 0);
    expect(CALL(EV("p3") ",{\"event\":\"Purchase\","
                         "\"event_time\":1764000000.0}"),
           20001, 1);
    expect(CALL(EV("p4") ",{\"event\":\"Purchase\",\"event_time\":1,"
                         "\"user\":null}"),
           20001, 1);
    expect(CALL(EV("p5") ",{\"event\":\"Purchase\",\"event_time\":1,"
                         "\"event_id\":7}"),
           20001, 1);
    expect(CALL(EV("p6") ",{\"event\":\"\",\"event_time\":1}"), 20001, 1);
    expect(CALL(EV("p7") ",{\"event_time\":1}"), 20001, 1);
    expect(CALL(EV("p8") ",{\"event\":\"Purchase\",\"event_time\":0}"), 20001,
           1);
    expect(CALL(EV("p9") ",[]"), 20001, 1);
    /* Every event refused: 40002. */
    expect(CALL("{\"event\":\"Purchase\",\"event_time\":-5}"), 40002, -1);
}

/* The recorded bodies, both paths, as the listing shows them. */
static void test_listing(void **state)
{
    json_t *l, *p, *ev;
    size_t i, fast = 0;

    SG_UNUSED(state);
    json_decref(req("DELETE", "/sandbox/v1/events", NULL));
    expect(CALL(EV("l1")), 0, -1);
    expect(CALL(EV("l2") ",{\"event\":\"Purchase\",\"event_time\":1,"
                         "\"user\":{\"zip_code\":\"94105\"}}"),
           20001, 1);
    l = req("GET", "/sandbox/v1/events", NULL);
    assert_int_equal(sg_json_int(l, "events_total", -1), 3);
    assert_int_equal(json_array_size(json_object_get(l, "payloads")), 2);
    json_array_foreach(json_object_get(l, "payloads"), i, p) {
        assert_null(json_object_get(p, "_n"));
        assert_null(json_object_get(p, "_raw"));
        assert_true(json_is_array(json_object_get(p, "failed")));
        ev = json_array_get(
            json_object_get(json_object_get(p, "body"), "data"), 0);
        assert_string_equal(sg_json_str(ev, "event_id"), i ? "l2" : "l1");
        assert_string_equal(
            sg_json_str(json_object_get(ev, "user"), "email"), HEX64);
        fast += sg_json_int(p, "code", -1) == 0;
    }
    assert_int_equal(fast, 1);
    json_decref(l);
}

static void test_keep_max(void **state)
{
    json_t *l;

    SG_UNUSED(state);
    json_decref(req("DELETE", "/sandbox/v1/events", NULL));
    json_decref(req("PUT", "/sandbox/v1/events/config", "{\"keep_max\": 3}"));
    expect(CALL(EV("k1") "," EV("k2")), 0, -1);
    expect(CALL(EV("k3") "," EV("k4")), 0, -1);
    expect(CALL(EV("k5")), 0, -1);
    l = req("GET", "/sandbox/v1/events/stats", NULL);
    assert_int_equal(sg_json_int(l, "events_total", -1), 5);
    assert_int_equal(sg_json_int(l, "kept_events", -1), 3);
    assert_int_equal(sg_json_int(l, "dropped_payloads", -1), 1);
    json_decref(l);
    json_decref(
        req("PUT", "/sandbox/v1/events/config", "{\"keep_max\": 20000}"));
}

/* A config body with a field it does not have, or a value of the wrong
 * type, is refused whole: nothing of it is applied. */
static void test_config_refused(void **state)
{
    static const char *const bad[] = {
        "{\"keep_maxx\": 3}",
        "{\"keep_max\": 0}",
        "{\"keep_max\": \"3\"}",
        "{\"codes\": [40100, \"40001\"]}",
        "{\"codes\": 40100}",
        "{\"access_token\": 7, \"codes\": [40100]}",
    };
    json_t *j;

    SG_UNUSED(state);
    for (size_t i = 0; i < SG_ARRAY_SIZE(bad); i++) {
        j = req("PUT", "/sandbox/v1/events/config", bad[i]);
        assert_string_equal(
            sg_json_str(json_object_get(j, "error"), "code"), "invalid");
        json_decref(j);
    }
    /* No code was queued by the refused bodies: the next call is fine. */
    expect(CALL(EV("r1")), 0, -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_codes_match_full_path),
        cmocka_unit_test(test_listing),
        cmocka_unit_test(test_keep_max),
        cmocka_unit_test(test_config_refused),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
