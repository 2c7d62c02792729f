/*
 * torture.h - the D5 harness (issue #7): allocation-failure sweeps in
 * the manner of curl's runtests.pl -t and SQLite's OOM tests. An
 * operation runs once cleanly to count its allocations, then once per
 * allocation n with sg_alloc_fail_at(n) armed. Every run must end in an
 * error (SG_ENOMEM unless the operation names other codes it may turn an
 * allocation failure into) or in the same result as the clean run; after
 * every run the operation's own check must hold (a store whole, nothing
 * half-written) and the heap must be back where it was (a leak is
 * reported with the n that caused it).
 *
 * Scale: SG_TORTURE_QUICK=H sweeps n = 1..H one by one, then H/4 points
 * spread evenly over the rest, then the completing run; unset, every n.
 * SG_TORTURE_ONLY=text runs only the operations whose name contains
 * text; SG_TORTURE_AT=n runs only allocation n (for a debugger),
 * SG_TORTURE_FROM=n the sweep from allocation n on (a defect that needs
 * the runs before it, without the hour before those).
 *
 * Library allocations: jansson always goes through sg_alloc (Surge sets
 * that up in production too). SQLite's, OpenSSL's and libcurl's are
 * routed through sg_alloc by sgt_torture_init() and are counted only
 * in the operations that ask for them (SGT_LIB_*), so that a quick
 * sweep's first H points land on Surge's own code.
 */
#ifndef SG_TORTURE_H
#define SG_TORTURE_H

#include "core/sg.h"
#include "core/err.h"

enum sgt_lib {
    SGT_LIB_SQLITE = 1u << 0,
    SGT_LIB_OPENSSL = 1u << 1,
    SGT_LIB_CURL = 1u << 2,
};

#define SGT_WHY_MAX 512

struct sgt_torture_op {
    const char *name;
    void *arg;
    /* Before each run, nothing armed (may be NULL). Nonzero fails. */
    int (*setup)(void *arg);
    /* The operation, with one allocation armed to fail. */
    int (*run)(void *arg, struct sg_err *err);
    /*
     * After a run that returned 0, nothing armed: the result as text
     * (sg_alloc'd), compared with the clean run's. NULL = no result.
     */
    char *(*digest)(void *arg);
    /*
     * After every run, nothing armed: 0 when the state is whole, or
     * nonzero with why filled (SGT_WHY_MAX bytes). May be NULL.
     */
    int (*check)(void *arg, int rc, char *why);
    /* After each run and check (may be NULL). */
    void (*teardown)(void *arg);
    /* Codes besides SG_ENOMEM a failed allocation may become; 0 ends. */
    const int *also_ok;
    unsigned libs; /* SGT_LIB_* whose allocations are counted too */
    /*
     * Served by another thread whose caches (h2o's pools) move by a few
     * bytes from run to run: no per-run heap count (LeakSanitizer still
     * checks at exit under the asan preset).
     */
    bool heap_shared;
    /*
     * The heap is back when the run ends or never: no wait (up to 3 s)
     * for it to come back before a change is judged. For the harness's
     * own test, whose operations change the heap on purpose.
     */
    bool heap_no_wait;
};

struct sgt_torture_stats {
    unsigned long sites;    /* allocations of a clean run */
    unsigned long runs;     /* runs with an allocation failing */
    unsigned long errors;   /* of those, reported as an error */
    unsigned long absorbed; /* of those, same result as a clean run */
    double seconds;
    bool quick;
};

/*
 * Call first thing in main(): routes the libraries' allocators (and,
 * outside ASan, restarts the program with glibc's tcache off so the heap
 * can be measured exactly).
 */
void sgt_torture_init(char **argv);
/*
 * Sweep op; fails the current cmocka test on any violation (after
 * printing each, up to a cap). Skipped (stats zeroed) when
 * SG_TORTURE_ONLY does not match.
 */
void sgt_torture_sweep(const struct sgt_torture_op *op,
                       struct sgt_torture_stats *stats);

/*
 * Sweep op, then op again with SQLite's allocations counted too (named
 * "<name> +sqlite"), unless sqlite_full_only and the sweep is quick (a
 * variant of a path another operation sweeps). op is changed.
 */
void sgt_torture_sweep_sqlite(struct sgt_torture_op *op,
                              bool sqlite_full_only);

/*
 * Wait (at most about half a second) until the heap stops moving: for an
 * operation served by another thread, which frees a request's memory
 * just after the client has its answer. Call from teardown, so the
 * per-run heap count sees that memory given back. Not a timing check.
 */
void sgt_heap_settle(void);

/* The heap in use, in bytes, as the per-run leak check counts it. */
size_t sgt_heap_bytes(void);

/* ---- helpers for operations on a SQLite store ---- */

/* Copy a file byte for byte (a closed store's database). 0 or -1. */
int sgt_copy_file(const char *from, const char *to);
/* Remove path and its -wal and -shm files. */
void sgt_db_remove(const char *path);
/*
 * Every row of every table of the database at path, as text (tables by
 * name, rows by rowid), read through a separate read-only connection.
 * sg_alloc'd; NULL if the file cannot be read.
 */
char *sgt_db_dump(const char *path);
/* 0 when PRAGMA integrity_check says ok; else nonzero with why filled. */
int sgt_db_integrity(const char *path, char *why);

/* ---- a store operation on a fresh copy of a template database ---- */

struct sg_buf;
struct sg_store;
struct sg_store_tx;

/*
 * Before each run tpl is copied to work and opened with open(); the
 * copy's rows right after opening are the baseline. The operation is
 * body, or write run inside one sg_store_write. After a run that
 * failed the copy must be byte for byte the baseline (unless
 * many_writes: an operation of several writes may keep the ones before
 * the failure), then whole (the program's invariant) must hold. The
 * digest is text's result followed by every row of the store.
 */
struct sgt_sop {
    const char *tpl;
    const char *work;
    struct sg_store *(*open)(const char *path);
    struct sg_store *s;
    char *baseline;
    bool many_writes;
    /*
     * A variant of a path another operation sweeps: its "+sqlite" sweep
     * runs in the full sweep only, to keep the quick one to seconds.
     */
    bool sqlite_full_only;
    const int *also_ok;
    int (*prepare)(struct sgt_sop *o); /* before each run, nothing armed */
    int (*body)(struct sgt_sop *o, struct sg_err *err);
    int (*write)(struct sgt_sop *o, struct sg_store_tx *tx,
                 struct sg_err *err);
    void (*text)(struct sgt_sop *o, struct sg_buf *b);
    int (*whole)(struct sgt_sop *o, int rc, char *why);
    void (*reset)(struct sgt_sop *o); /* free what the run kept */
    void *ctx;
};

/* Sweep o with Surge's allocations failing, then SQLite's too. */
void sgt_sop_sweep(struct sgt_sop *o, const char *name);

#endif
