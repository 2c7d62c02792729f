/*
 * test_core_utf8.c - sg_utf8_valid against the well-formed and ill-formed
 * sequences of RFC 3629 and Unicode's table 3-7: boundaries of each length,
 * overlong forms, surrogates, values past U+10FFFF, truncation, NUL.
 */
#include "testlib.h"
#include "core/utf8.h"

struct utf8_case {
    const char *bytes;
    size_t len;
    bool valid;
};

#define C(s, ok) {s, sizeof(s) - 1, ok}

static void test_utf8_table(void **state)
{
    static const struct utf8_case cases[] = {
        C("", true),
        C("plain ascii", true),
        C("caf\xc3\xa9", true),                /* U+00E9 */
        C("\xc2\x80", true),                   /* U+0080, smallest 2-byte */
        C("\xdf\xbf", true),                   /* U+07FF */
        C("\xe0\xa0\x80", true),               /* U+0800 */
        C("\xed\x9f\xbf", true),               /* U+D7FF */
        C("\xee\x80\x80", true),               /* U+E000 */
        C("\xef\xbf\xbf", true),               /* U+FFFF */
        C("\xf0\x90\x80\x80", true),           /* U+10000 */
        C("\xf4\x8f\xbf\xbf", true),           /* U+10FFFF */
        C("\xf0\x9f\x9b\x92 cart", true),      /* an emoji */
        C("\x80", false),                      /* lone continuation */
        C("\xc0\xaf", false),                  /* overlong '/' */
        C("\xc1\xbf", false),                  /* overlong */
        C("\xe0\x80\xaf", false),              /* overlong 3-byte */
        C("\xe0\x9f\xbf", false),              /* overlong U+07FF */
        C("\xed\xa0\x80", false),              /* U+D800 surrogate */
        C("\xed\xbf\xbf", false),              /* U+DFFF surrogate */
        C("\xf0\x80\x80\xaf", false),          /* overlong 4-byte */
        C("\xf4\x90\x80\x80", false),          /* U+110000 */
        C("\xf5\x80\x80\x80", false),          /* past the range */
        C("\xff", false),
        C("\xc3", false),                      /* truncated 2-byte */
        C("\xe2\x82", false),                  /* truncated 3-byte */
        C("\xf0\x9f\x9b", false),              /* truncated 4-byte */
        C("\xe2\x28\xa1", false),              /* bad continuation */
        C("ok\xd5\xd5", false),
        C("a\0b", false),                      /* NUL inside */
    };

    SG_UNUSED(state);
    for (size_t i = 0; i < SG_ARRAY_SIZE(cases); i++) {
        if (sg_utf8_valid(cases[i].bytes, cases[i].len) != cases[i].valid)
            fail_msg("case %zu: want %s", i,
                     cases[i].valid ? "valid" : "invalid");
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utf8_table),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
