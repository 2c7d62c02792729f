/*
 * test_features_events_scan.c - the one-pass intake (sg_events_scan_prepare)
 * against the full path it stands in for (jansson's tree, then
 * sg_events_prepare_buf). The oracle, for any body: when the scanner
 * handles it, jansson accepts the same body with the same event list, and
 * every event the scanner accepted is accepted by the full path with the
 * same item and byte-identical JSON. Bodies come from hand-written cases,
 * a seeded generator of near-valid events, and the committed fuzz corpora
 * (JSON conformance files and the sandbox's Events API bodies).
 */
#include "core/sg.h"

#include <dirent.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/json.h"
#include "features/events/events.h"
#include "testlib.h"

#define NOW_MS INT64_C(1790000000000)
#define NOW_S  "1790000000"
#define MAXEV  SG_EVENTS_BATCH_LIMIT

static struct sg_events_cfg cfg(void)
{
    struct sg_events_cfg c;

    memset(&c, 0, sizeof(c));
    c.source_ids[SG_EVENTS_WEB] = "PIX";
    c.source_ids[SG_EVENTS_CRM] = "CRM";
    c.source_ids[SG_EVENTS_OFFLINE] = "OFF";
    c.batch_max = 1000;
    c.max_event_age_s = 7 * 86400;
    c.custom_events = "MyEvent, Other";
    return c;
}

struct outcome {
    int rc;      /* of sg_events_scan_prepare */
    size_t n;    /* events */
    size_t fast; /* accepted by the scanner */
    size_t slow; /* left to the full path */
};

/*
 * Run both paths over body and check the oracle; depth_max as the HTTP
 * server passes it.
 */
static struct outcome diff_body(const char *body, size_t len, size_t depth_max)
{
    struct sg_events_cfg c = cfg();
    struct sg_events_item *items = NULL;
    bool *slow = NULL;
    struct sg_events_sha sha;
    struct sg_buf fast, full;
    struct outcome o = {0};
    json_t *j = NULL;
    const json_t *list = NULL;
    int def = -1;

    assert_int_equal(sg_events_sha_init(&sha), 0);
    sg_buf_init(&fast, 8u << 20);
    sg_buf_init(&full, 8u << 20);
    o.rc = sg_events_scan_prepare(&items, &slow, MAXEV, &o.n, &def, &fast, &sha,
                                  body, len, depth_max, &c, NOW_MS);
    if (o.rc != 0) {
        /* Declined: nothing written, the full path takes all of it. */
        assert_int_equal(o.rc, SG_EDECLINED);
        assert_int_equal(fast.len, 0);
        assert_int_equal(o.n, 0);
        assert_null(items);
        assert_null(slow);
        goto out;
    }
    assert_non_null(items);
    assert_non_null(slow);
    /* Handled: jansson must agree that the body is a list of events. */
    if (sg_json_parse(&j, body, len, depth_max, NULL, NULL) != 0)
        fail_msg("scanner handled a body jansson refuses: %.*s",
                 (int)(len > 200 ? 200 : len), body);
    if (json_is_array(j)) {
        list = j;
        assert_int_equal(def, SG_EVENTS_WEB);
    } else {
        const char *src = sg_json_str(j, "event_source");

        list = json_object_get(j, "events");
        assert_true(json_is_array(list));
        assert_int_equal(def,
                         src ? sg_events_source_parse(src) : SG_EVENTS_WEB);
    }
    assert_int_equal(json_array_size(list), o.n);
    assert_true(o.n >= 1 && o.n <= MAXEV);
    for (size_t i = 0; i < o.n; i++) {
        struct sg_events_item it;
        struct sg_events_reject why;
        int rc;

        if (slow[i]) {
            o.slow++;
            assert_int_equal(items[i].body_len, 0);
            continue;
        }
        o.fast++;
        sg_buf_reset(&full);
        rc = sg_events_prepare_buf(&it, &full, &sha, json_array_get(list, i),
                                   def, &c, NOW_MS, &why);
        if (rc != 0)
            fail_msg("event %zu: scanner accepted, full path says %d %s: %s", i,
                     rc, why.code ? why.code : "", why.msg);
        assert_int_equal(items[i].source, it.source);
        assert_string_equal(items[i].event, it.event);
        assert_string_equal(items[i].event_id, it.event_id);
        assert_false(items[i].event_id_generated);
        assert_false(it.event_id_generated);
        assert_true(items[i].event_time == it.event_time);
        assert_null(items[i].body);
        if (items[i].body_len != it.body_len ||
            memcmp(fast.data + items[i].body_off, full.data + it.body_off,
                   it.body_len) != 0)
            fail_msg("event %zu differs:\n scan %.*s\n full %.*s", i,
                     (int)items[i].body_len, fast.data + items[i].body_off,
                     (int)it.body_len, full.data + it.body_off);
    }
out:
    json_decref(j);
    sg_buf_release(&fast);
    sg_buf_release(&full);
    sg_events_sha_release(&sha);
    sg_free(items);
    sg_free(slow);
    return o;
}

static struct outcome diff(const char *body)
{
    return diff_body(body, strlen(body), 32);
}

#define EV(rest) "{\"event\":\"CompletePayment\",\"event_id\":\"e1\"" rest "}"

static void test_fast_common(void **state)
{
    struct outcome o;

    SG_UNUSED(state);
    /* The bench's event, as an object body and as a bare array. */
    o = diff("{\"events\":[" EV(
        ",\"event_time\":" NOW_S ",\"user\":{\"email"
        "\":\"User1@Example.com\",\"phone\":\"+1 213 555 0001\","
        "\"external_id\":\"c1\",\"ip\":\"10.0.0.1\"},\"properties\":{"
        "\"currency\":\"USD\",\"value\":19.90,\"order_id\":\"o1\"}") "]}");
    assert_int_equal(o.rc, 0);
    assert_int_equal(o.fast, 1);
    o = diff("[" EV("") "," EV(",\"event_id\":\"e2\"") "]");
    assert_int_equal(o.rc, SG_EDECLINED); /* a repeated key: jansson's 400 */
    o = diff(" [ " EV("") " , {\"event\":\"ViewContent\",\"event_id\":\"e2\"} "
                          "] \n");
    assert_int_equal(o.rc, 0);
    assert_int_equal(o.fast, 2);
    /* Every member the schema knows, and some it drops. */
    o = diff("{\"event_source\":\"crm\",\"events\":[" EV(
        ",\"event_time\":1789999999000,\"user\":{\"email\":[\"a@b.c"
        "\",\""
        "0123456789ABCDEF0123456789abcdef0123456789abcdef01234"
        "56789abcdef\"],\"phone\":\"+44 20 7946 0958\",\"external_id\":"
        "\" x \",\"first_name\":\" Ann Marie\",\"last_name\":\"LEE\","
        "\"zip_code\":\"94 105\",\"city\":\"San Jose\",\"state\":\"CA"
        "\",\"country\":\"US\",\"ttclid\":\"E.C.P\",\"ttp\":\"t\","
        "\"user_agent\":\"Mozilla/5.0 (X11)\",\"locale\":\"en-US\","
        "\"other\":{\"deep\":[true,false,null]}},\"properties\":{"
        "\"contents\":[{\"content_id\":\"1\",\"quantity\":2,\"price\":"
        "8},{\"price\":0.1,\"brand\":\"B\",\"x\":1},{}],\"content_type"
        "\":\"product\",\"currency\":\"EUR\",\"value\":\"46.50\","
        "\"num_items\":3,\"content_ids\":[\"1\",\"2\"],\"query\":\"q\","
        "\"shop_id\":\"s\",\"description\":\"d\",\"search_string\":"
        "\"ss\"},\"page\":{\"url\":\"https://x.test/a?b=c\","
        "\"referrer\":\"r\"},\"lead\":{\"lead_id\":\"L1\","
        "\"lead_event_source\":\"crm\"},\"limited_data_use\":true,"
        "\"extra\":-0.5") "]}");
    assert_int_equal(o.rc, 0);
    assert_int_equal(o.fast, 1);
    /* lead is dropped for web; empty objects vanish; custom names. */
    o = diff("[" EV(
        ",\"lead\":{\"lead_id\":\"L\"},\"user\":{},\"page\":{}") ","
                                                                 "{\"event\":"
                                                                 "\"MyEvent\","
                                                                 "\"event_id\":"
                                                                 "\"m\","
                                                                 "\"event_"
                                                                 "source\":"
                                                                 "\"offline\","
                                                                 "\"limited_"
                                                                 "data_use\":"
                                                                 "false,"
                                                                 "\"properties"
                                                                 "\":{\"value"
                                                                 "\":-0,"
                                                                 "\"currency\":"
                                                                 "\"JPY\"}}]");
    assert_int_equal(o.rc, 0);
    assert_int_equal(o.fast, 2);
}

static void test_slow_events(void **state)
{
    static const char *const slow_ones[] = {
        "{\"event\":\"CompletePayment\"}", /* generated event_id */
        EV(",\"event_time\":null"),        /* nulls */
        EV(",\"user\":null"),
        EV(",\"user\":{\"email\":null}"),
        EV(",\"properties\":{\"value\":null}"),
        EV(",\"event_source\":\"tv\""),  /* rejections */
        EV(",\"event_source\":\"app\""), /* not configured */
        EV(",\"event_time\":1"),
        EV(",\"event_time\":99999999999"),
        EV(",\"event_time\":1.5"),
        EV(",\"user\":{\"email\":\"nope\"}"),
        EV(",\"user\":{\"email\":[]}"),
        EV(",\"user\":{\"phone\":\"12\"}"),
        EV(",\"user\":{\"city\":\"--\"}"),
        EV(",\"user\":[]"),
        EV(",\"properties\":{\"value\":5}"),
        EV(",\"properties\":{\"currency\":\"usd\"}"),
        EV(",\"properties\":{\"currency\":\"USD\",\"value\":\"1x\"}"),
        EV(",\"properties\":{\"currency\":\"USD\",\"value\":\"inf\"}"),
        EV(",\"properties\":{\"contents\":[1]}"),
        EV(",\"properties\":{\"contents\":[{\"quantity\":1.5}]}"),
        EV(",\"properties\":{\"num_items\":\"2\"}"),
        EV(",\"properties\":{\"content_ids\":[1]}"),
        EV(",\"page\":{\"url\":5}"),
        EV(",\"limited_data_use\":1"),
        "{\"event\":\"Nope\",\"event_id\":\"x\"}",
        "{\"event\":\"\",\"event_id\":\"x\"}",
        "{\"event\":\"CompletePayment\",\"event_id\":\"\"}",
        "{\"event\":\"CompletePayment\",\"event_id\":5}",
        "17",
        "[]",
    };
    char body[512];

    SG_UNUSED(state);
    for (size_t i = 0; i < SG_ARRAY_SIZE(slow_ones); i++) {
        struct outcome o;

        snprintf(body, sizeof(body),
                 "[%s,{\"event\":\"Search\",\"event_id\":\"ok\"}]",
                 slow_ones[i]);
        o = diff(body);
        if (o.rc != 0 || o.slow != 1 || o.fast != 1)
            fail_msg("case %zu (%s): rc %d slow %zu fast %zu", i, slow_ones[i],
                     o.rc, o.slow, o.fast);
    }
}

static void test_declined(void **state)
{
    static const char *const whole[] = {
        "",
        "{}",
        EV(""), /* one event: full path */
        "{\"events\":{}}",
        "{\"events\":[]}",
        "{\"events\":[" EV("") "],\"event_source\":\"tv\"}",
        "{\"events\":[" EV("") "],\"event_source\":7}",
        /* a wrapper member the API refuses (it names it): full path */
        "{\"event_source\":\"crm\",\"junk\":[1,{\"a\":2}],\"events\":["
        EV("") "]}",
        "{\"events\":[" EV("") "],\"event\":\"x\"}",
        "[" EV(",\"user\":{\"email\":\"a\\u0040b.c\"}") "]",     /* escape */
        "[" EV(",\"user\":{\"city\":\"S\xc3\xa3o Paulo\"}") "]", /* UTF-8 */
        "[" EV(",\"event_time\":1.79e9") "]",                    /* exponent */
        "[" EV(",\"x\":1234567890123456789") "]",                /* 19 digits */
        "[" EV(",\"x\":01") "]",                                 /* not JSON */
        "[" EV(",\"x\":1.") "]",
        "[" EV(",\"x\":-") "]",
        "[" EV(",\"x\":tru") "]",
        "[" EV("") "] x", /* trailing bytes */
        "[" EV("") ",]",
        "[" EV(",\"user\":{\"ip\":\"a\",\"ip\":\"b\"}") "]", /* duplicate */
        "[" EV(",\"x\":\"tab\there\"") "]", /* raw control byte */
        "[" EV(",\"x\":\"open") "]",
    };
    char deep[256];

    SG_UNUSED(state);
    for (size_t i = 0; i < SG_ARRAY_SIZE(whole); i++) {
        struct outcome o = diff(whole[i]);

        if (o.rc != SG_EDECLINED)
            fail_msg("case %zu (%s) not declined: %d", i, whole[i], o.rc);
    }
    /* Deeper than the server's limit: jansson's path answers 400. */
    snprintf(deep, sizeof(deep), "[" EV(",\"x\":[[[[1]]]]") "]");
    assert_int_equal(diff_body(deep, strlen(deep), 32).rc, 0);
    assert_int_equal(diff_body(deep, strlen(deep), 5).rc, SG_EDECLINED);
    assert_int_equal(diff_body(deep, strlen(deep), 6).rc, 0);
}

static void test_batch_limit(void **state)
{
    struct sg_buf b;
    struct outcome o;

    SG_UNUSED(state);
    sg_buf_init(&b, 1u << 20);
    assert_int_equal(sg_buf_appends(&b, "{\"events\":["), 0);
    for (int i = 0; i < MAXEV; i++)
        assert_int_equal(sg_buf_printf(&b,
                                       "%s{\"event\":\"Search\",\"event_id\":"
                                       "\"i%d\",\"user\":{\"email\":\"u%d@x."
                                       "y\"}}",
                                       i ? "," : "", i, i),
                         0);
    assert_int_equal(sg_buf_appends(&b, "]}"), 0);
    o = diff_body(b.data, b.len, 32);
    assert_int_equal(o.rc, 0);
    assert_int_equal(o.fast, MAXEV);
    /* One more is the full path's invalid_batch. */
    b.len -= 2;
    assert_int_equal(sg_buf_appends(&b, ",{\"event\":\"Search\",\"event_id\":"
                                        "\"last\"}]}"),
                     0);
    assert_int_equal(diff_body(b.data, b.len, 32).rc, SG_EDECLINED);
    sg_buf_release(&b);
}

/* ---- generated bodies ---- */

static uint64_t rng_state;

static uint64_t rng(void)
{
    /* xorshift64*: reproducible, independent of libc. */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * UINT64_C(2685821657736338717);
}

static size_t pick(size_t n)
{
    return (size_t)(rng() % n);
}

static void put_any(struct sg_buf *b, const char *const *opts, size_t n)
{
    assert_int_equal(sg_buf_appends(b, opts[pick(n)]), 0);
}

static const char *const strs[] = {
    "\"a@b.co\"",
    "\" Foo.Bar@Example.COM \"",
    "\"+1 (213) 373-4253\"",
    "\"x\"",
    "\"\"",
    "\" \"",
    "\"USD\"",
    "\"usd\"",
    "\"19.90\"",
    "\"7\"",
    "\"1e3\"",
    "\"nan\"",
    "\"San Jose\"",
    "\"94 105\"",
    "\"CompletePayment\"",
    "\"web\"",
    "\"crm\"",
    "\"offline\"",
    "\"app\"",
    "\"0123456789abcdef0123456789ABCDEF0123456789abcdef0123456789abcdef\"",
    "\"a\\\"b\"",
    "\"caf\xc3\xa9\"",
    "\"100000000000000\"",
    "\"-0.0\"",
    "\"0x1p3\"",
    "\" 12\"",
};
static const char *const nums[] = {
    "0",
    "1",
    "-1",
    "19.90",
    "0.1",
    "-0",
    "-0.0",
    "1790000000",
    "1790000000123",
    "99999999999",
    "123456789012345678",
    "3.000",
    "1e2",
    "2.5E-3",
    "100000000000",
    "1789999999",
    "17900002000",
};
static const char *const lits[] = {"true", "false", "null"};

static void put_scalar(struct sg_buf *b)
{
    size_t k = pick(10);

    if (k < 6)
        put_any(b, strs, SG_ARRAY_SIZE(strs));
    else if (k < 9)
        put_any(b, nums, SG_ARRAY_SIZE(nums));
    else
        put_any(b, lits, SG_ARRAY_SIZE(lits));
}

static void put_value(struct sg_buf *b, int depth);

static void put_members(struct sg_buf *b, const char *const *keys, size_t n,
                        int depth)
{
    bool any = false;

    assert_int_equal(sg_buf_appends(b, "{"), 0);
    for (size_t i = 0; i < n; i++) {
        if (pick(3) == 0)
            continue;
        assert_int_equal(sg_buf_printf(b, "%s\"%s\":", any ? "," : "", keys[i]),
                         0);
        any = true;
        put_value(b, depth + 1);
    }
    if (pick(20) == 0)
        assert_int_equal(sg_buf_appends(b, any ? ",\"zz\":1" : "\"zz\":1"), 0);
    assert_int_equal(sg_buf_appends(b, "}"), 0);
}

static const char *const user_keys[] = {
    "email",    "phone",  "external_id", "first_name", "last_name",
    "zip_code", "ttclid", "ttp",         "ip",         "user_agent",
    "locale",   "city",   "state",       "country",
};
static const char *const prop_keys[] = {
    "currency",    "value",     "order_id",     "contents",
    "content_ids", "num_items", "content_type", "query",
};
static const char *const content_keys[] = {"content_id", "price", "quantity",
                                           "brand"};

static void put_value(struct sg_buf *b, int depth)
{
    size_t k = pick(12);

    if (depth > 3 || k < 8) {
        put_scalar(b);
    } else if (k < 10) {
        size_t n = pick(4);

        assert_int_equal(sg_buf_appends(b, "["), 0);
        for (size_t i = 0; i < n; i++) {
            if (i)
                assert_int_equal(sg_buf_appends(b, ","), 0);
            if (pick(3) == 0)
                put_members(b, content_keys, SG_ARRAY_SIZE(content_keys),
                            depth + 1);
            else
                put_scalar(b);
        }
        assert_int_equal(sg_buf_appends(b, "]"), 0);
    } else {
        put_members(b, content_keys, SG_ARRAY_SIZE(content_keys), depth);
    }
}

/* A near-valid event: mostly right types, sometimes not. */
static void put_event(struct sg_buf *b, int i)
{
    static const char *const names[] = {"\"CompletePayment\"", "\"Search\"",
                                        "\"MyEvent\"", "\"Bad\"", "7"};
    static const char *const times[] = {NOW_S,       "1790000000500",  "1",
                                        "null",      "\"1790000000\"", "1.5",
                                        "1789999000"};
    static const char *const srcs[] = {"\"web\"", "\"crm\"", "\"offline\"",
                                       "\"app\"", "null",    "3"};

    /* Half of them clean: only what the schema wants, in right types. */
    bool clean = pick(2);

    assert_int_equal(sg_buf_appends(b, "{\"event\":"), 0);
    put_any(b, names, clean || pick(8) ? 2 : SG_ARRAY_SIZE(names));
    if (clean || pick(10))
        assert_int_equal(sg_buf_printf(b, ",\"event_id\":\"id-%d\"", i), 0);
    if (pick(2)) {
        assert_int_equal(sg_buf_appends(b, ",\"event_time\":"), 0);
        put_any(b, times, clean || pick(4) ? 1 : SG_ARRAY_SIZE(times));
    }
    if (pick(4) == 0) {
        assert_int_equal(sg_buf_appends(b, ",\"event_source\":"), 0);
        put_any(b, srcs, clean ? 3 : SG_ARRAY_SIZE(srcs));
    }
    if (pick(6)) {
        assert_int_equal(sg_buf_appends(b, ",\"user\":"), 0);
        if (!clean && pick(20) == 0) {
            put_scalar(b);
        } else {
            /* Mostly well-typed customer data. */
            bool any = false;

            assert_int_equal(sg_buf_appends(b, "{"), 0);
            for (size_t k = 0; k < SG_ARRAY_SIZE(user_keys); k++) {
                static const char *const good[] = {
                    "\"u@x.io\"",
                    "\" Ann@Ex.COM\"",
                    "\"+33 1 23 45 67 89\"",
                    "\"c9\"",
                    "\"Ann\"",
                    "\"SW1A 1AA\"",
                    "\"Rio\"",
                    "[\"a@b.c\",\"d@e.f\"]",
                };

                if (pick(3))
                    continue;
                assert_int_equal(
                    sg_buf_printf(b, "%s\"%s\":", any ? "," : "", user_keys[k]),
                    0);
                any = true;
                if (clean || pick(5))
                    put_any(b, good, SG_ARRAY_SIZE(good));
                else
                    put_value(b, 2);
            }
            assert_int_equal(sg_buf_appends(b, "}"), 0);
        }
    }
    if (pick(3)) {
        assert_int_equal(sg_buf_appends(b, ",\"properties\":"), 0);
        if (clean || pick(3))
            assert_int_equal(
                sg_buf_appends(b, pick(2) ? "{\"currency\":\"USD\",\"value\":"
                                            "19.90,\"contents\":[{\"content_"
                                            "id\":\"1\",\"quantity\":2,\"price"
                                            "\":8.5}]}"
                                          : "{\"currency\":\"EUR\",\"value\":"
                                            "\"12.30\",\"order_id\":\"o\"}"),
                0);
        else
            put_members(b, prop_keys, SG_ARRAY_SIZE(prop_keys), 1);
    }
    if (!clean && pick(8) == 0) {
        assert_int_equal(sg_buf_appends(b, ",\"page\":"), 0);
        put_value(b, 1);
    }
    if (pick(8) == 0)
        assert_int_equal(sg_buf_appends(b, ",\"lead\":{\"lead_id\":\"L\"}"), 0);
    if (!clean && pick(8) == 0) {
        assert_int_equal(sg_buf_appends(b, ",\"limited_data_use\":"), 0);
        put_scalar(b);
    }
    assert_int_equal(sg_buf_appends(b, "}"), 0);
}

static void test_generated(void **state)
{
    struct sg_buf b;
    size_t handled = 0, fast = 0, slow = 0, declined = 0;

    SG_UNUSED(state);
    rng_state = UINT64_C(0x9e3779b97f4a7c15);
    sg_buf_init(&b, 1u << 20);
    for (int round = 0; round < 3000; round++) {
        size_t n = 1 + pick(6);
        struct outcome o;

        sg_buf_reset(&b);
        if (pick(2))
            assert_int_equal(sg_buf_appends(&b, pick(4)
                                                    ? "{\"events\":["
                                                    : "{\"event_source\":"
                                                      "\"crm\",\"events\":["),
                             0);
        else
            assert_int_equal(sg_buf_appends(&b, "["), 0);
        for (size_t i = 0; i < n; i++) {
            if (i)
                assert_int_equal(sg_buf_appends(&b, ","), 0);
            put_event(&b, (int)(round * 10 + (int)i));
        }
        assert_int_equal(sg_buf_appends(&b, b.data[0] == '[' ? "]" : "]}"), 0);
        o = diff_body(b.data, b.len, 32);
        handled += o.rc == 0;
        declined += o.rc != 0;
        fast += o.fast;
        slow += o.slow;
    }
    sg_buf_release(&b);
    print_message("generated: %zu bodies handled, %zu declined; %zu events "
                  "fast, %zu slow\n",
                  handled, declined, fast, slow);
    /* The generator must exercise both sides of every split. */
    assert_true(handled > 300 && declined > 300);
    assert_true(fast > 1000 && slow > 1000);
}

/* Random decimals, as value and as price: the writer's digits. */
static void test_decimals(void **state)
{
    struct sg_buf b;
    char num[48];
    size_t fast = 0;

    SG_UNUSED(state);
    rng_state = UINT64_C(0x2545f4914f6cdd1d);
    sg_buf_init(&b, 1u << 20);
    for (int round = 0; round < 40; round++) {
        struct outcome o;

        sg_buf_reset(&b);
        assert_int_equal(sg_buf_appends(&b, "["), 0);
        for (int i = 0; i < 50; i++) {
            size_t n = 0, ni = pick(4) ? 1 + pick(17) : 1;
            size_t nf = 1 + pick(22 - ni); /* 24 bytes at most */

            if (pick(3) == 0)
                num[n++] = '-';
            num[n++] = ni == 1 && pick(2) ? '0' : (char)('1' + pick(9));
            for (size_t k = 1; k < ni; k++)
                num[n++] = (char)('0' + pick(10));
            num[n++] = '.';
            for (size_t k = 0; k < nf; k++)
                num[n++] = (char)(pick(3) ? '0' + pick(10) : '0');
            num[n] = '\0';
            assert_int_equal(
                sg_buf_printf(&b,
                              "%s{\"event\":\"Search\",\"event_id\":\"d%d\","
                              "\"properties\":{\"currency\":\"USD\",\"value\":"
                              "%s,\"contents\":[{\"price\":%s}]}}",
                              i ? "," : "", i, num, num),
                0);
        }
        assert_int_equal(sg_buf_appends(&b, "]"), 0);
        o = diff_body(b.data, b.len, 32);
        assert_int_equal(o.rc, 0);
        fast += o.fast;
    }
    sg_buf_release(&b);
    assert_int_equal(fast, 40 * 50);
}

/* ---- the fuzz corpora ---- */

static void corpus_dir(const char *dir, size_t *files, size_t *handled)
{
    DIR *d = opendir(dir);
    struct dirent *e;

    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        char *path, *data;
        size_t len = 0;
        struct sg_buf b;

        if (e->d_name[0] == '.')
            continue;
        path = sgt_path(dir, e->d_name);
        data = sgt_read_file(path, &len);
        assert_non_null(data);
        (*files)++;
        /* The file as a body, and wrapped as one event of a list. */
        *handled += diff_body(data, len, 32).rc == 0;
        sg_buf_init(&b, len + 64);
        assert_int_equal(sg_buf_appends(&b, "{\"events\":["), 0);
        assert_int_equal(sg_buf_append(&b, data, len), 0);
        assert_int_equal(sg_buf_appends(&b, "]}"), 0);
        *handled += diff_body(b.data, b.len, 32).rc == 0;
        sg_buf_reset(&b);
        assert_int_equal(sg_buf_appends(&b, "[{\"event\":\"Search\","
                                            "\"event_id\":\"e\",\"x\":"),
                         0);
        assert_int_equal(sg_buf_append(&b, data, len), 0);
        assert_int_equal(sg_buf_appends(&b, "}]"), 0);
        *handled += diff_body(b.data, b.len, 32).rc == 0;
        sg_buf_release(&b);
        sg_free(data);
        sg_free(path);
    }
    closedir(d);
}

static void test_corpora(void **state)
{
    size_t files = 0, handled = 0;

    SG_UNUSED(state);
    corpus_dir(SG_SOURCE_DIR "/tests/fuzz/corpus/json", &files, &handled);
    corpus_dir(SG_SOURCE_DIR "/tests/fuzz/corpus/sbx_events", &files, &handled);
    print_message("corpora: %zu files, %zu of %zu bodies handled\n", files,
                  handled, files * 3);
    assert_true(files >= 100);
    assert_true(handled > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fast_common), cmocka_unit_test(test_slow_events),
        cmocka_unit_test(test_declined),    cmocka_unit_test(test_batch_limit),
        cmocka_unit_test(test_generated),   cmocka_unit_test(test_decimals),
        cmocka_unit_test(test_corpora),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
