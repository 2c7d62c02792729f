/*
 * test_core_check_banned.c - S5: prove scripts/check-banned.sh (run as
 * the check_banned ctest on the real tree) catches what it is for. Each
 * case copies the script into a fresh temporary tree, plants one source
 * file under src/ and runs it there: secrets compared with memcmp/strcmp
 * instead of sg_ct_equal, banned calls and bare allocator calls must fail
 * the check; the constant-time form and literal-prefix compares must
 * pass.
 */
#include "testlib.h"
#include "core/alloc.h"

#include <sys/stat.h>
#include <unistd.h>

#define SCRIPT SG_SOURCE_DIR "/scripts/check-banned.sh"

/* Exit status of check-banned.sh over a tree holding just this file. */
static int check(const char *source, char **out)
{
    char *dir = sgt_tmpdir();
    char *scripts = sgt_path(dir, "scripts");
    char *src = sgt_path(dir, "src");
    char *copy = sgt_path(scripts, "check-banned.sh");
    char *file = sgt_path(src, "planted.c");
    char *text = sgt_read_file(SCRIPT, NULL);
    char *argv[2];
    int rc;

    assert_non_null(text);
    assert_int_equal(mkdir(scripts, 0700), 0);
    assert_int_equal(mkdir(src, 0700), 0);
    assert_int_equal(sgt_write_file(copy, text), 0);
    assert_int_equal(chmod(copy, 0700), 0);
    assert_int_equal(sgt_write_file(file, source), 0);
    argv[0] = copy;
    argv[1] = NULL;
    rc = sgt_run(argv, NULL, out, NULL);
    unlink(file);
    unlink(copy);
    rmdir(src);
    rmdir(scripts);
    rmdir(dir);
    sg_free(text);
    sg_free(file);
    sg_free(copy);
    sg_free(src);
    sg_free(scripts);
    sg_free(dir);
    return rc;
}

static void expect(const char *source, int want, const char *needle)
{
    char *out = NULL;
    int rc = check(source, &out);

    if (rc != want)
        fail_msg("check-banned exit %d, want %d, for:\n%s", rc, want,
                 source);
    if (needle && (!out || !strstr(out, needle)))
        fail_msg("check-banned output lacks \"%s\" for:\n%s", needle,
                 source);
    sg_free(out);
}

static void test_clean_tree_passes(void **state)
{
    SG_UNUSED(state);
    expect("static int f(const char *sig, const char *want)\n"
           "{\n"
           "    if (strncmp(sig, \"sha256=\", 7) == 0)\n"
           "        sig += 7;\n"
           "    return sg_ct_equal(sig, 64, want, 64);\n"
           "}\n",
           0, "check-banned: ok");
}

static void test_memcmp_signature_caught(void **state)
{
    SG_UNUSED(state);
    expect("static int f(const unsigned char *sig, const unsigned char *w)\n"
           "{\n"
           "    return memcmp(sig, w, 32) == 0;\n"
           "}\n",
           1, NULL);
}

static void test_strcmp_key_caught(void **state)
{
    SG_UNUSED(state);
    expect("static int f(const char *api_key, const char *stored)\n"
           "{\n"
           "    return strcmp(api_key, stored) == 0;\n"
           "}\n",
           1, NULL);
    expect("static int f(const char *got, const char *key_hash)\n"
           "{\n"
           "    return !strncmp(got, key_hash, 64);\n"
           "}\n",
           1, NULL);
    expect("static int f(const char *a, const char *hmac)\n"
           "{\n"
           "    return bcmp(a, hmac, 32);\n"
           "}\n",
           1, NULL);
}

static void test_banned_calls_caught(void **state)
{
    SG_UNUSED(state);
    expect("static void f(char *b, int n)\n{\n    sprintf(b, \"%d\", n);\n}\n",
           1, NULL);
    expect("static int f(const char *s)\n{\n    return atoi(s);\n}\n", 1,
           NULL);
    expect("static void *f(void)\n{\n    return malloc(8);\n}\n", 1, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clean_tree_passes),
        cmocka_unit_test(test_memcmp_signature_caught),
        cmocka_unit_test(test_strcmp_key_caught),
        cmocka_unit_test(test_banned_calls_caught),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
