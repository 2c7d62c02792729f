/*
 * test_core_json_conformance.c - S2: sg_json_parse on a parsing
 * conformance suite written in the project, JSONTestSuite-style.
 *
 * The cases are files in tests/fuzz/corpus/json/ (they double as fuzz
 * seeds): y_* must be accepted, n_* rejected, i_* (implementation-defined)
 * may go either way but must not crash and, when accepted, must round-
 * trip. n_project_* are deliberate deviations from RFC 8259 that Surge
 * makes for safety: top-level scalars (every body is an object or array),
 * duplicate keys (no parser differentials) and integers beyond 64 bits
 * (refused, never rounded). The cases too large to commit - 100,000
 * opening brackets, every invalid UTF-8 lead byte - are generated here.
 */
#include "testlib.h"
#include "core/alloc.h"
#include "core/json.h"

#include <dirent.h>

#define CORPUS SG_SOURCE_DIR "/tests/fuzz/corpus/json"
#define DEPTH 32

static int parse(const char *data, size_t len, json_t **out)
{
    struct sg_err err;

    sg_err_init(&err);
    return sg_json_parse(out, data, len, DEPTH, NULL, &err);
}

static void roundtrip(json_t *j)
{
    size_t len = 0;
    char *dump = sg_json_dump(j, &len);
    json_t *back = NULL;

    assert_non_null(dump);
    assert_int_equal(parse(dump, len, &back), 0);
    assert_true(json_equal(j, back));
    json_decref(back);
    sg_free(dump);
}

static void test_corpus(void **state)
{
    DIR *d = opendir(CORPUS);
    struct dirent *e;
    int y = 0, n = 0, i = 0;

    SG_UNUSED(state);
    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        char kind = e->d_name[0];
        char *path;
        char *data;
        size_t len = 0;
        json_t *j = NULL;
        int rc;

        if (e->d_name[1] != '_' || (kind != 'y' && kind != 'n' && kind != 'i'))
            continue;
        path = sgt_path(CORPUS, e->d_name);
        data = sgt_read_file(path, &len);
        assert_non_null(data);
        rc = parse(data, len, &j);
        if (kind == 'y' && rc != 0)
            fail_msg("%s: expected accepted, got %d", e->d_name, rc);
        if (kind == 'n' && rc == 0)
            fail_msg("%s: expected rejected, was accepted", e->d_name);
        if (rc == 0)
            roundtrip(j);
        else
            assert_null(j);
        y += kind == 'y';
        n += kind == 'n';
        i += kind == 'i';
        json_decref(j);
        sg_free(data);
        sg_free(path);
    }
    closedir(d);
    print_message("json conformance: %d y_, %d n_, %d i_ cases\n", y, n, i);
    assert_true(y >= 20 && n >= 40 && i >= 5);
}

/*
 * The parse arena (sg_json_parse_arena) gives every corpus case the same
 * verdict and, when accepted, an equal tree; freeing it lets the next
 * parse reuse the blocks.
 */
static void test_corpus_arena(void **state)
{
    DIR *d = opendir(CORPUS);
    struct dirent *e;
    int cases = 0;

    SG_UNUSED(state);
    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        char kind = e->d_name[0];
        char *path, *data;
        size_t len = 0;
        json_t *heap = NULL, *ar = NULL;
        struct sg_err err;
        int rc_heap, rc_ar;

        if (e->d_name[1] != '_' || (kind != 'y' && kind != 'n' && kind != 'i'))
            continue;
        path = sgt_path(CORPUS, e->d_name);
        data = sgt_read_file(path, &len);
        assert_non_null(data);
        sg_err_init(&err);
        rc_heap = parse(data, len, &heap);
        rc_ar = sg_json_parse_arena(&ar, data, len, DEPTH, NULL, &err);
        if (rc_heap != rc_ar)
            fail_msg("%s: heap %d, arena %d", e->d_name, rc_heap, rc_ar);
        if (rc_ar == 0)
            assert_true(json_equal(heap, ar));
        else
            assert_null(ar);
        sg_json_arena_free(ar);
        json_decref(heap);
        sg_free(data);
        sg_free(path);
        cases++;
    }
    closedir(d);
    assert_true(cases >= 65);
}

/*
 * The pruned parse (sg_json_parse_arena_pruned) keeping every member
 * only ever accepts what sg_json_parse accepts, with an equal tree; all
 * else it declines (the caller then parses whole). It takes at least the
 * plain accepted cases.
 */
static void test_corpus_pruned(void **state)
{
    DIR *d = opendir(CORPUS);
    struct dirent *e;
    int cases = 0, taken = 0;

    SG_UNUSED(state);
    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        char kind = e->d_name[0];
        char *path, *data;
        size_t len = 0;
        json_t *heap = NULL, *pr = NULL;
        int rc_heap, rc_pr;

        if (e->d_name[1] != '_' || (kind != 'y' && kind != 'n' && kind != 'i'))
            continue;
        path = sgt_path(CORPUS, e->d_name);
        data = sgt_read_file(path, &len);
        assert_non_null(data);
        rc_heap = parse(data, len, &heap);
        rc_pr = sg_json_parse_arena_pruned(&pr, data, len, NULL);
        if (rc_pr == 0) {
            if (rc_heap != 0)
                fail_msg("%s: the pruned parse took what jansson refuses",
                         e->d_name);
            if (!json_equal(heap, pr))
                fail_msg("%s: the pruned tree differs", e->d_name);
            taken++;
        } else if (rc_pr != SG_EDECLINED) {
            fail_msg("%s: pruned %d", e->d_name, rc_pr);
        } else {
            assert_null(pr);
        }
        sg_json_arena_free(pr);
        json_decref(heap);
        sg_free(data);
        sg_free(path);
        cases++;
    }
    closedir(d);
    assert_true(cases >= 65);
    assert_true(taken >= 3);
}

static int pruned(const char *doc, const struct sg_json_keep *keep,
                  json_t **out)
{
    return sg_json_parse_arena_pruned(out, doc, strlen(doc), keep);
}

/* What the pruned parse keeps, and what it leaves to jansson. */
static void test_pruned_members(void **state)
{
    static const struct sg_json_keep addr[] = {{"city", NULL},
                                               {NULL, NULL}};
    static const struct sg_json_keep line[] = {{"id", NULL}, {"qty", NULL},
                                               {NULL, NULL}};
    static const struct sg_json_keep order[] = {
        {"id", NULL}, {"address", addr}, {"lines", line},
        {"whole", NULL}, {NULL, NULL}};
    static const struct sg_json_keep keep[] = {{"code", NULL},
                                               {"orders", order},
                                               {NULL, NULL}};
    static const char doc[] =
        " {\"code\": 0, \"skipped\": {\"x\": [1, {\"y\": null}], \"z\": \"s\"},"
        "\"orders\": [{\"id\": \"577087614418520000\", \"n\": 123456789012345678,"
        "\"address\": {\"city\": \"Austin\", \"zip\": \"78701\"},"
        "\"lines\": [{\"id\": 1, \"qty\": -2, \"extra\": true}, 7, \"s\"],"
        "\"whole\": {\"a\": {\"b\": [false]}}, \"big\": -0},"
        "{\"other\": 1}]}\r\n";
    static const char want[] =
        "{\"code\": 0, \"orders\": [{\"id\": \"577087614418520000\","
        "\"address\": {\"city\": \"Austin\"},"
        "\"lines\": [{\"id\": 1, \"qty\": -2}, 7, \"s\"],"
        "\"whole\": {\"a\": {\"b\": [false]}}}, {}]}";
    json_t *got = NULL, *exp = NULL;

    SG_UNUSED(state);
    assert_int_equal(pruned(doc, keep, &got), 0);
    assert_int_equal(parse(want, strlen(want), &exp), 0);
    assert_true(json_equal(got, exp));
    json_decref(exp);
    sg_json_arena_free(got);

    /* 18 digits are read exactly; 19 are jansson's (which keeps them
     * exact too, up to INT64_MAX). */
    assert_int_equal(pruned("{\"id\": 999999999999999999}", NULL, &got), 0);
    assert_true(json_integer_value(json_object_get(got, "id")) ==
                999999999999999999LL);
    sg_json_arena_free(got);
    assert_int_equal(pruned("{\"id\": -999999999999999999}", NULL, &got), 0);
    assert_true(json_integer_value(json_object_get(got, "id")) ==
                -999999999999999999LL);
    sg_json_arena_free(got);
    assert_int_equal(pruned("{\"id\": 9223372036854775807}", NULL, &got),
                     SG_EDECLINED);
    assert_int_equal(pruned("{}", keep, &got), 0);
    assert_int_equal(json_object_size(got), 0); /* missing: just absent */
    sg_json_arena_free(got);
}

static void test_pruned_declines(void **state)
{
    static const struct sg_json_keep keep[] = {{"a", NULL}, {NULL, NULL}};
    static const char *const no[] = {
        "",
        "   ",
        "[1, 2]",                           /* the root: an object here */
        "\"s\"",
        "{\"a\": \"\\u00e9\"}",             /* escapes: jansson decodes */
        "{\"b\": \"x\\\"y\"}",              /* even in a skipped member */
        "{\"a\": \"caf\xc3\xa9\"}",         /* UTF-8 */
        "{\"b\": \"\xff\"}",                /* invalid UTF-8 */
        "{\"a\": \"tab\there\"}",           /* a control byte */
        "{\"a\": 1.5}",
        "{\"b\": 1e3}",
        "{\"a\": 01}",
        "{\"a\": -}",
        "{\"a\": 1-}",
        "{\"a\": 1, \"a\": 2}",             /* duplicates, kept or not */
        "{\"b\": {\"c\": 1, \"c\": 1}}",
        "{\"a\": 1,}",
        "{\"a\": [1,]}",
        "{\"a\" 1}",
        "{\"a\": }",
        "{\"a\": tru}",
        "{\"a\": nul}",
        "{\"a\": 1",
        "{\"a\": [1, 2}",
        "{\"a\": \"open}",
        "{\"a\": 1} x",                     /* trailing bytes */
        "{\"a\": 1}{}",
        "{a: 1}",
    };
    char deep[200], wide[8192];
    size_t off = 0;
    json_t *got = NULL;

    SG_UNUSED(state);
    for (size_t i = 0; i < SG_ARRAY_SIZE(no); i++) {
        int rc = pruned(no[i], keep, &got);

        if (rc != SG_EDECLINED || got)
            fail_msg("case %zu (%s): %d", i, no[i], rc);
    }
    /* The NUL inside the length: a byte jansson judges. */
    assert_int_equal(sg_json_parse_arena_pruned(&got, "{\"a\": 1}\0", 9, keep),
                     SG_EDECLINED);
    /* Deeper than 32 levels, or more than 256 members: declined. */
    memset(deep, 0, sizeof(deep));
    deep[0] = '{';
    strcat(deep, "\"a\":");
    for (int i = 0; i < 40; i++)
        strcat(deep, "[");
    for (int i = 0; i < 40; i++)
        strcat(deep, "]");
    strcat(deep, "}");
    assert_int_equal(pruned(deep, keep, &got), SG_EDECLINED);
    wide[off++] = '{';
    for (int i = 0; i < 257; i++)
        off += (size_t)snprintf(wide + off, sizeof(wide) - off, "%s\"k%d\":%d",
                                i ? "," : "", i, i);
    snprintf(wide + off, sizeof(wide) - off, "}");
    assert_int_equal(pruned(wide, keep, &got), SG_EDECLINED);
    /* One arena tree at a time: a second parse is declined. */
    assert_int_equal(pruned("{\"a\": 1}", keep, &got), 0);
    {
        json_t *second = NULL;

        assert_int_equal(pruned("{\"a\": 1}", keep, &second), SG_EDECLINED);
        assert_null(second);
    }
    sg_json_arena_free(got);
}

/*
 * An arena tree: readable like any other; a node added to it later comes
 * from the heap and is freed with it (ASan/LSan would see a leak or a bad
 * free); a second parse while one is live takes the heap and is released
 * by the same call; a large body grows the arena past its first block.
 */
static void test_arena_lifecycle(void **state)
{
    static const char doc[] = "{\"a\": [1, 2, {\"b\": \"x\"}], \"c\": 1.5}";
    struct sg_err err;
    json_t *one = NULL, *two = NULL, *big = NULL;
    char *s;
    size_t n = 200000, len = 0;

    SG_UNUSED(state);
    sg_err_init(&err);
    assert_int_equal(
        sg_json_parse_arena(&one, doc, strlen(doc), DEPTH, NULL, &err), 0);
    assert_string_equal(
        json_string_value(json_object_get(
            json_array_get(json_object_get(one, "a"), 2), "b")),
        "x");
    json_object_set_new(one, "added", json_string("on the heap"));
    json_array_append_new(json_object_get(one, "a"), json_integer(3));
    assert_int_equal(
        sg_json_parse_arena(&two, doc, strlen(doc), DEPTH, NULL, &err), 0);
    assert_true(json_equal(json_object_get(one, "c"),
                           json_object_get(two, "c")));
    sg_json_arena_free(two);
    sg_json_arena_free(one);
    /* An error resets the arena: the next parse works. */
    assert_int_not_equal(
        sg_json_parse_arena(&one, "{\"a\":", 5, DEPTH, NULL, &err), 0);
    assert_null(one);
    /* Many nodes: more than the first 1 MB block. */
    s = sg_alloc(n * 8 + 8);
    assert_non_null(s);
    s[len++] = '[';
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(s + len, 16, "%s\"%zu\"", i ? "," : "",
                                i % 1000);
    s[len++] = ']';
    assert_int_equal(sg_json_parse_arena(&big, s, len, DEPTH, NULL, &err), 0);
    assert_int_equal(json_array_size(big), n);
    assert_string_equal(json_string_value(json_array_get(big, n - 1)), "999");
    sg_json_arena_free(big);
    sg_free(s);
}

/*
 * sg_json_arena_keep: part of an arena tree outlives the rest and is
 * what sg_json_arena_free releases (the next arena parse gets the blocks
 * back, so it is not forced onto the heap); the same on a heap tree; a
 * missing part releases the whole tree.
 */
static void test_arena_keep(void **state)
{
    static const char doc[] =
        "{\"code\": 0, \"data\": {\"orders\": [{\"id\": \"7\"}]}}";
    struct sg_err err;
    json_t *root = NULL, *kept, *again = NULL;

    SG_UNUSED(state);
    sg_err_init(&err);
    assert_int_equal(
        sg_json_parse_arena(&root, doc, strlen(doc), DEPTH, NULL, &err), 0);
    kept = sg_json_arena_keep(
        root, json_object_get(json_object_get(root, "data"), "orders"));
    assert_true(json_is_array(kept));
    assert_string_equal(sg_json_str(json_array_get(kept, 0), "id"), "7");
    sg_json_arena_free(kept);
    /* The arena is free again: a parse of a second tree works and is
     * released the same way. */
    assert_int_equal(
        sg_json_parse_arena(&again, doc, strlen(doc), DEPTH, NULL, &err), 0);
    assert_null(sg_json_arena_keep(again, json_object_get(again, "none")));
    /* Heap trees. */
    assert_int_equal(parse(doc, strlen(doc), &root), 0);
    kept = sg_json_arena_keep(root, json_object_get(root, "data"));
    assert_non_null(json_object_get(kept, "orders"));
    sg_json_arena_free(kept);
}

/* sg_json_dump in one pass: small and large values, exact bytes. */
static void test_dump_sizes(void **state)
{
    json_t *arr = json_array(), *back = NULL;
    char *s;
    size_t len = 0;

    SG_UNUSED(state);
    s = sg_json_dump(arr, &len);
    assert_string_equal(s, "[]");
    assert_int_equal(len, 2);
    sg_free(s);
    assert_null(sg_json_dump(NULL, &len));
    for (int i = 0; i < 20000; i++)
        json_array_append_new(arr, json_pack("{s:i,s:s}", "i", i, "s",
                                             "\"quoted\" \u00e9"));
    s = sg_json_dump(arr, &len);
    assert_non_null(s);
    assert_int_equal(strlen(s), len);
    assert_true(len > 20000 * 20);
    assert_int_equal(parse(s, len, &back), 0);
    assert_true(json_equal(arr, back));
    json_decref(back);
    sg_free(s);
    json_decref(arr);
}

/* n_structure_100000_opening_arrays and friends: refused, no crash. */
static void test_deep_nesting(void **state)
{
    const size_t big = 100000;
    char *s = sg_alloc(big * 2 + 8);
    struct sg_err err;
    json_t *j = NULL;
    size_t off = 0;

    SG_UNUSED(state);
    assert_non_null(s);
    memset(s, '[', big);
    sg_err_init(&err);
    assert_int_equal(sg_json_parse(&j, s, big, DEPTH, &off, &err), SG_ELIMIT);
    assert_null(j);
    assert_non_null(strstr(err.msg, "nesting"));
    /* Balanced, still too deep. */
    memset(s + big, ']', big);
    assert_int_equal(sg_json_parse(&j, s, 2 * big, DEPTH, NULL, &err),
                     SG_ELIMIT);
    /* Objects: {"a":{"a":... */
    for (size_t k = 0; k < big / 5; k++)
        memcpy(s + k * 5, "{\"a\":", 5);
    assert_int_equal(sg_json_parse(&j, s, big, DEPTH, NULL, &err), SG_ELIMIT);
    /* With the pre-scan off, jansson's own limit still refuses it. */
    memset(s, '[', big);
    assert_int_not_equal(sg_json_parse(&j, s, big, 0, NULL, &err), 0);
    assert_null(j);
    /* Exactly at the limit is fine; one more is not. */
    memset(s, '[', DEPTH);
    memset(s + DEPTH, ']', DEPTH);
    assert_int_equal(sg_json_parse(&j, s, 2 * DEPTH, DEPTH, NULL, &err), 0);
    json_decref(j);
    memset(s, '[', DEPTH + 1);
    memset(s + DEPTH + 1, ']', DEPTH + 1);
    assert_int_equal(
        sg_json_parse(&j, s, 2 * DEPTH + 2, DEPTH, NULL, &err), SG_ELIMIT);
    /* Brackets inside strings do not count, escaped quotes included. */
    assert_int_equal(sg_json_depth("[\"[[[\\\"[[[\"]", 12), 1);
    sg_free(s);
}

/* 64-bit ids keep every digit: parsed, read back and re-serialised. */
static void test_int64_exact(void **state)
{
    static const char *ids[] = {
        "9223372036854775807", "-9223372036854775808", "9007199254740993",
        "1234567890123456789", "7494049642642441621",  "-1",
        "0",
    };
    char doc[96], *dump;
    json_t *j = NULL;

    SG_UNUSED(state);
    for (size_t k = 0; k < SG_ARRAY_SIZE(ids); k++) {
        snprintf(doc, sizeof(doc), "{\"id\":%s}", ids[k]);
        assert_int_equal(parse(doc, strlen(doc), &j), 0);
        assert_true(json_is_integer(json_object_get(j, "id")));
        assert_true(sg_json_int(j, "id", 42) == strtoll(ids[k], NULL, 10));
        dump = sg_json_dump(j, NULL);
        assert_string_equal(dump, doc);
        sg_free(dump);
        json_decref(j);
    }
    /* 2^53 + 1 is where a double would round; as an integer it does not. */
    assert_int_equal(parse("[9007199254740993]", 18, &j), 0);
    assert_true(json_integer_value(json_array_get(j, 0)) ==
                INT64_C(9007199254740993));
    json_decref(j);
    /* One past either end is refused, not rounded. */
    assert_int_not_equal(parse("[9223372036854775808]", 21, &j), 0);
    assert_int_not_equal(parse("[-9223372036854775809]", 22, &j), 0);
    assert_int_not_equal(parse("{\"id\":1e400}", 12, &j), 0);
}

/* Every byte that cannot start a UTF-8 sequence, alone in a string. */
static void test_invalid_utf8(void **state)
{
    char doc[8];
    json_t *j = NULL;
    int refused = 0;

    SG_UNUSED(state);
    for (int b = 0x80; b <= 0xff; b++) {
        doc[0] = '[';
        doc[1] = '"';
        doc[2] = (char)b;
        doc[3] = '"';
        doc[4] = ']';
        if (parse(doc, 5, &j) != 0)
            refused++;
        else
            json_decref(j);
        j = NULL;
    }
    /* 0x80..0xff alone are never a complete character. */
    assert_int_equal(refused, 0x80);
    /* Raw control characters inside strings are refused too. */
    for (int b = 0x01; b < 0x20; b++) {
        doc[0] = '[';
        doc[1] = '"';
        doc[2] = (char)b;
        doc[3] = '"';
        doc[4] = ']';
        assert_int_not_equal(parse(doc, 5, &j), 0);
    }
}

/* The error names the byte offset where parsing stopped. */
/*
 * jansson 2.14 aborts (an assert in its lexer) when the growth of its
 * token buffer fails just before it puts back the character after a
 * number or a keyword, and decodes a string that lost a byte when it
 * fails inside one (json.c). Every allocation of parses with long
 * numbers, keywords and strings is failed in turn: each parse either
 * gives the clean result or NULL with oom, and none aborts.
 */
static void test_oom_never_aborts(void **state)
{
    static const char *docs[] = {
        "[12345678901234567890123456789012345678901234567890123.5e10,"
        "-987654321098765432, true, false, null, 1.25E-3]",
        "{\"longer_key_than_sixteen_bytes\":\"a string with \\u00e9 "
        "and \\n escapes that outgrows the token buffer twice over\","
        "\"n\":123456789012345678, \"t\":[true,false,null]}",
        "[\"\\ud83d\\ude00 \\\"quoted\\\" \\t tab\", 0.000000000000001]",
    };
    unsigned long failed = 0;

    SG_UNUSED(state);
    for (size_t d = 0; d < SG_ARRAY_SIZE(docs); d++) {
        json_t *clean = sg_json_loads(docs[d], 0, NULL);
        unsigned long count;

        assert_non_null(clean);
        sg_alloc_fail_at(0);
        json_decref(sg_json_loads(docs[d], 0, NULL));
        count = sg_alloc_count();
        assert_true(count > 4);
        for (unsigned long k = 1; k <= count; k++) {
            bool oom = false;
            json_t *j;

            sg_alloc_fail_at(k);
            j = sg_json_loads(docs[d], 0, &oom);
            sg_alloc_fail_at(0);
            if (oom) {
                assert_null(j);
                failed++;
            } else {
                assert_non_null(j);
                assert_true(json_equal(j, clean));
            }
            json_decref(j);
        }
        json_decref(clean);
    }
    /* The failures reached the parser: not every allocation was spare. */
    assert_true(failed > 10);
}

static void test_error_offset(void **state)
{
    struct sg_err err;
    json_t *j = NULL;
    size_t off = 99;

    SG_UNUSED(state);
    sg_err_init(&err);
    assert_int_equal(sg_json_parse(&j, "{\"a\":tru}", 9, DEPTH, &off, &err),
                     SG_EINVAL);
    assert_true(off >= 5 && off <= 8);
    assert_non_null(strstr(err.msg, "at byte"));
}

/* Settings and control bodies name the first key they do not know. */
static void test_unknown_key(void **state)
{
    static const char *const known[] = {"rate", "peak", "pattern"};
    json_t *j;

    SG_UNUSED(state);
    j = json_loads("{\"rate\":1,\"pattern\":\"x\"}", 0, NULL);
    assert_non_null(j);
    assert_null(sg_json_unknown_key(j, known, 3));
    json_decref(j);
    j = json_loads("{\"rate\":1,\"rat\":2}", 0, NULL);
    assert_non_null(j);
    assert_string_equal(sg_json_unknown_key(j, known, 3), "rat");
    /* Nothing is known: any member is unknown; a non-object has none. */
    assert_non_null(sg_json_unknown_key(j, known, 0));
    json_decref(j);
    j = json_loads("[1]", 0, NULL);
    assert_non_null(j);
    assert_null(sg_json_unknown_key(j, known, 3));
    json_decref(j);
    assert_null(sg_json_unknown_key(NULL, known, 3));
}

/*
 * The admin API's body check: unknown members, wrong types, null as
 * absent only where allowed, required members; the message and the
 * field name of each.
 */
static void test_check_fields(void **state)
{
    static const struct sg_json_field f[] = {
        {"event", SG_JF_STRING | SG_JF_REQUIRED},
        {"key", SG_JF_STRING | SG_JF_NULL},
        {"n", SG_JF_INTEGER},
        {"x", SG_JF_NUMBER},
        {"on", SG_JF_BOOLEAN},
        {"tags", SG_JF_STRING | SG_JF_ARRAY | SG_JF_NULL},
        {"data", SG_JF_OBJECT},
    };
    static const struct {
        const char *body, *field, *msg;
    } cases[] = {
        {"{\"event\":\"a\"}", NULL, NULL},
        {"{\"event\":\"a\",\"key\":null,\"n\":-3,\"x\":1,\"on\":false,"
         "\"tags\":[],\"data\":{}}",
         NULL, NULL},
        {"{\"event\":\"a\",\"x\":1.5,\"tags\":\"a, b\"}", NULL, NULL},
        {"{\"event\":\"a\",\"rat\":1}", "rat", "unknown field \"rat\""},
        /* the misspelt name first, not its missing twin */
        {"{\"evnt\":\"a\"}", "evnt", "unknown field \"evnt\""},
        {"{\"event\":\"a\",\"key\":7}", "key",
         "key: expected a string or null"},
        {"{\"event\":\"a\",\"n\":1.0}", "n", "n: expected an integer"},
        {"{\"event\":\"a\",\"n\":null}", "n", "n: expected an integer"},
        {"{\"event\":\"a\",\"x\":\"1\"}", "x", "x: expected a number"},
        {"{\"event\":\"a\",\"on\":0}", "on", "on: expected true or false"},
        {"{\"event\":\"a\",\"tags\":{}}", "tags",
         "tags: expected a string, an array or null"},
        {"{\"event\":\"a\",\"data\":[]}", "data",
         "data: expected an object"},
        {"{\"event\":5}", "event", "event: expected a string"},
        {"{\"event\":null}", "event", "event: expected a string"},
        {"{}", "event", "missing field \"event\""},
        {"[]", NULL, "the body must be a JSON object"},
    };

    SG_UNUSED(state);
    for (size_t i = 0; i < SG_ARRAY_SIZE(cases); i++) {
        json_t *j = json_loads(cases[i].body, 0, NULL);
        const char *field = "unset";
        struct sg_err err;
        int rc;

        assert_non_null(j);
        sg_err_init(&err);
        rc = sg_json_check_fields(j, f, SG_ARRAY_SIZE(f), &field, &err);
        if (!cases[i].msg) {
            if (rc != 0)
                fail_msg("%s: %s", cases[i].body, err.msg);
            assert_null(field);
        } else {
            assert_int_equal(rc, SG_EINVAL);
            assert_string_equal(err.msg, cases[i].msg);
            if (cases[i].field)
                assert_string_equal(field, cases[i].field);
            else
                assert_null(field);
        }
        json_decref(j);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_corpus),
        cmocka_unit_test(test_check_fields),
        cmocka_unit_test(test_corpus_arena),
        cmocka_unit_test(test_corpus_pruned),
        cmocka_unit_test(test_pruned_members),
        cmocka_unit_test(test_pruned_declines),
        cmocka_unit_test(test_arena_lifecycle),
        cmocka_unit_test(test_arena_keep),
        cmocka_unit_test(test_dump_sizes),
        cmocka_unit_test(test_deep_nesting),
        cmocka_unit_test(test_int64_exact),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_error_offset),
        cmocka_unit_test(test_oom_never_aborts),
        cmocka_unit_test(test_unknown_key),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
