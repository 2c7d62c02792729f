/*
 * oom_env.c - the whole-program allocation-failure mode (D5, issue #7),
 * compiled into every unit test program that is not a torture program
 * itself, so tests/lib/oom-sweep.sh can run any of them curl's
 * `runtests -t` way. Nothing happens unless SG_ALLOC_FAIL_AT is set:
 *
 *   SG_ALLOC_FAIL_AT=k    allocation k of the whole process (every
 *                         thread, counted from before main) fails; 0
 *                         fails nothing and only counts
 *   SG_ALLOC_REPORT=path  at exit, "<allocations> <1 if k failed>" is
 *                         written there (the sweep's count and check)
 *   SG_TEST_ONLY=name     only the cmocka tests matching name run
 *
 * In this mode jansson allocates through sg_alloc, as the surge binary
 * has it, so its allocations are swept too. SQLite's, OpenSSL's and
 * libcurl's own allocations are not (the torture programs sweep those).
 * A forked child that does not exec keeps counting on its own copy and
 * writes no report.
 */
#include "core/alloc.h"
#include "core/json.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmocka.h>

static pid_t oom_pid;
static const char *oom_report;

static void oom_report_write(void)
{
    FILE *f;

    if (!oom_report || getpid() != oom_pid)
        return;
    f = fopen(oom_report, "w");
    if (!f)
        return;
    fprintf(f, "%lu %d\n", sg_alloc_outer_count(),
            sg_alloc_outer_failed() ? 1 : 0);
    fclose(f);
}

__attribute__((constructor)) static void oom_env_start(void)
{
    const char *at = getenv("SG_ALLOC_FAIL_AT");
    const char *only = getenv("SG_TEST_ONLY");
    char *end;
    unsigned long k;

    if (only && only[0])
        cmocka_set_test_filter(only);
    if (!at || !at[0])
        return;
    k = strtoul(at, &end, 10);
    if (*end) {
        fprintf(stderr, "SG_ALLOC_FAIL_AT: not a number: %s\n", at);
        exit(2);
    }
    oom_pid = getpid();
    oom_report = getenv("SG_ALLOC_REPORT");
    /* Before arming: the report must not depend on an allocation. */
    if (atexit(oom_report_write) != 0)
        exit(2);
    sg_json_init();
    sg_alloc_outer_fail_at(k);
}
