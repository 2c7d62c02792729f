/*
 * alloc.h - every allocation in Surge goes through here.
 *
 * A torture hook can make the Nth allocation fail (curl's and SQLite's
 * method), so tests prove that each allocation failure is reported to the
 * caller with no crash and no leak. sg_free(NULL) is a no-op.
 */
#ifndef SG_ALLOC_H
#define SG_ALLOC_H

#include "sg.h"

void *sg_alloc(size_t size);
void *sg_calloc(size_t n, size_t size);
void *sg_realloc(void *p, size_t size);
void sg_free(void *p);
char *sg_strdup(const char *s);
char *sg_strndup(const char *s, size_t n);

/*
 * Torture control. sg_alloc_fail_at(n) makes the nth allocation counted from
 * now fail (n = 0 disables). sg_alloc_count() returns how many allocations
 * were attempted since the last sg_alloc_fail_at() call, so a runner can
 * learn how many to sweep. Nothing is counted before the first
 * sg_alloc_fail_at() call (a process that never arms the hook pays no
 * shared counter). Thread-safe.
 */
void sg_alloc_fail_at(unsigned long n);
unsigned long sg_alloc_count(void);
bool sg_alloc_failed(void);

/*
 * The same for a sweep of a whole program (tests/lib/oom_env.c, driven
 * by SG_ALLOC_FAIL_AT): a second point, counted from this call for the
 * rest of the process, that sg_alloc_fail_at() neither resets nor
 * disarms, so a test with a sweep of its own can be swept whole too.
 * Every allocation counts towards both.
 */
void sg_alloc_outer_fail_at(unsigned long n);
unsigned long sg_alloc_outer_count(void);
bool sg_alloc_outer_failed(void);

#endif
