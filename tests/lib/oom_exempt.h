/*
 * oom_exempt.h - forced into every unit test's own source file and into
 * testlib.c (CMake's -include), never into library code: the test's own
 * allocations (fixtures, paths, expected values) go to the C allocator
 * directly, so the whole-program sweep (oom_env.c) fails only the
 * library's. A test that crashed on a NULL of its own making would say
 * nothing about the code under test. Allocations the library makes for
 * the test (jansson's, through sg_json_init) are still swept.
 */
#ifndef SGT_OOM_EXEMPT_H
#define SGT_OOM_EXEMPT_H

/*
 * The system headers below come before the test's own lines: a test
 * that needs GNU extensions gets them here (the same definition as its
 * own, so no redefinition).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

/*
 * cmocka 1.1's string comparisons pass a NULL to strcmp and crash. A
 * NULL where a test expected a string is the library reporting a failure
 * (out of memory, in the sweep): it fails the test's assertion instead.
 */
#undef assert_string_equal
#define assert_string_equal(a, b)                                           \
    _assert_string_equal(sgt_str_or_fail((const char *)(a), __FILE__,       \
                                         __LINE__),                         \
                         sgt_str_or_fail((const char *)(b), __FILE__,       \
                                         __LINE__),                         \
                         __FILE__, __LINE__)
#undef assert_string_not_equal
#define assert_string_not_equal(a, b)                                       \
    _assert_string_not_equal(sgt_str_or_fail((const char *)(a), __FILE__,   \
                                             __LINE__),                     \
                             sgt_str_or_fail((const char *)(b), __FILE__,   \
                                             __LINE__),                     \
                             __FILE__, __LINE__)
const char *sgt_str_or_fail(const char *s, const char *file, int line);

void *sgt_xalloc(size_t size);
void *sgt_xcalloc(size_t n, size_t size);
void *sgt_xrealloc(void *p, size_t size);
char *sgt_xstrdup(const char *s);
char *sgt_xstrndup(const char *s, size_t n);

#define sg_alloc(size)       sgt_xalloc(size)
#define sg_calloc(n, size)   sgt_xcalloc(n, size)
#define sg_realloc(p, size)  sgt_xrealloc(p, size)
#define sg_strdup(s)         sgt_xstrdup(s)
#define sg_strndup(s, n)     sgt_xstrndup(s, n)

#endif
