/*
 * oom_exempt.c - the test's own allocator (see oom_exempt.h): the C
 * allocator, never counted and never failed. Blocks are freed with
 * sg_free like any other (it is free()).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

void *sgt_xalloc(size_t size);
void *sgt_xcalloc(size_t n, size_t size);
void *sgt_xrealloc(void *p, size_t size);
char *sgt_xstrdup(const char *s);
char *sgt_xstrndup(const char *s, size_t n);
const char *sgt_str_or_fail(const char *s, const char *file, int line);

const char *sgt_str_or_fail(const char *s, const char *file, int line)
{
    if (!s)
        _fail(file, line); /* longjmps out of the test */
    return s;
}

void *sgt_xalloc(size_t size)
{
    return malloc(size ? size : 1);
}

void *sgt_xcalloc(size_t n, size_t size)
{
    return calloc(n ? n : 1, size ? size : 1);
}

void *sgt_xrealloc(void *p, size_t size)
{
    return realloc(p, size ? size : 1);
}

/* POSIX's, from the C allocator like the rest. */
char *sgt_xstrndup(const char *s, size_t n)
{
    return strndup(s, n);
}

char *sgt_xstrdup(const char *s)
{
    return s ? strdup(s) : NULL;
}
