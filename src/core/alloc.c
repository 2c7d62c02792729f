/*
 * alloc.c - the only place that calls the C allocator directly.
 *
 * Invariant: when the torture hook is armed, exactly one allocation (the
 * nth) fails; all others behave normally.
 */
#include "alloc.h"

#include <stdatomic.h>

static atomic_ulong alloc_seen;
static atomic_ulong alloc_fail_n;
static atomic_bool alloc_did_fail;
/*
 * Set by the first sg_alloc_fail_at(): until then (a server that never
 * arms the hook) nothing is counted, so allocations on different threads
 * do not all increment one shared counter, a cache line that bounced
 * between the cores on every malloc.
 */
static atomic_bool alloc_counting;
/*
 * The whole-program sweep's own point (sg_alloc_outer_fail_at), counted
 * apart so that a test which arms the hook above for a sweep of its own
 * does not move or disarm it.
 */
static atomic_ulong outer_seen;
static atomic_ulong outer_fail_n;
static atomic_bool outer_did_fail;

static bool should_fail(void)
{
    unsigned long n, seen;

    if (!atomic_load_explicit(&alloc_counting, memory_order_relaxed))
        return false;
    n = atomic_load_explicit(&outer_fail_n, memory_order_relaxed);
    seen = atomic_fetch_add(&outer_seen, 1) + 1;
    if (n != 0 && seen == n) {
        atomic_store(&outer_did_fail, true);
        return true;
    }
    n = atomic_load_explicit(&alloc_fail_n, memory_order_relaxed);
    seen = atomic_fetch_add(&alloc_seen, 1) + 1;

    if (n == 0 || seen != n)
        return false;
    atomic_store(&alloc_did_fail, true);
    return true;
}

void sg_alloc_outer_fail_at(unsigned long n)
{
    atomic_store(&outer_seen, 0);
    atomic_store(&outer_did_fail, false);
    atomic_store(&outer_fail_n, n);
    atomic_store(&alloc_counting, true);
}

unsigned long sg_alloc_outer_count(void)
{
    return atomic_load(&outer_seen);
}

bool sg_alloc_outer_failed(void)
{
    return atomic_load(&outer_did_fail);
}

void sg_alloc_fail_at(unsigned long n)
{
    atomic_store(&alloc_counting, true);
    atomic_store(&alloc_seen, 0);
    atomic_store(&alloc_did_fail, false);
    atomic_store(&alloc_fail_n, n);
}

unsigned long sg_alloc_count(void)
{
    return atomic_load(&alloc_seen);
}

bool sg_alloc_failed(void)
{
    return atomic_load(&alloc_did_fail);
}

void *sg_alloc(size_t size)
{
    if (should_fail())
        return NULL;
    return malloc(size ? size : 1);
}

void *sg_calloc(size_t n, size_t size)
{
    if (should_fail())
        return NULL;
    return calloc(n ? n : 1, size ? size : 1);
}

void *sg_realloc(void *p, size_t size)
{
    if (should_fail())
        return NULL;
    return realloc(p, size ? size : 1);
}

void sg_free(void *p)
{
    free(p);
}

char *sg_strndup(const char *s, size_t n)
{
    char *d = sg_alloc(n + 1);

    if (!d)
        return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *sg_strdup(const char *s)
{
    return s ? sg_strndup(s, strlen(s)) : NULL;
}
