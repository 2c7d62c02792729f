/*
 * torture.c - the D5 sweep runner (see torture.h). One run is: setup,
 * arm allocation n, the operation, disarm, digest and check, teardown;
 * the heap is measured around the whole run, so a run that does not give
 * back what it took is named by its n.
 *
 * The library allocators below are test scaffolding: outside an armed
 * window, or for a library the operation did not ask for, they call the
 * C allocator directly so that nothing is counted.
 */
#include "torture.h"
#include "testlib.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/json.h"
#include "store/store.h"

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* ASan, as gcc and clang each say it. */
#if defined(__SANITIZE_ADDRESS__)
#define SGT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SGT_ASAN 1
#endif
#endif

#if defined(SGT_ASAN)
/* From the sanitizer runtime (gcc ships no header for it). */
size_t __sanitizer_get_current_allocated_bytes(void);
#else
#include <malloc.h>
#endif

#define VIOLATIONS_SHOWN 12
#define DIGEST_SHOWN     160

static atomic_uint lib_mask;
static bool openssl_routed;

static bool counted(unsigned lib)
{
    return (atomic_load_explicit(&lib_mask, memory_order_relaxed) & lib) != 0;
}

/* ---- SQLite: a size header in front of each block (xSize needs it) ---- */

#define SQ_HDR 16

static void *sq_malloc(int n)
{
    size_t sz = (size_t)(n > 0 ? n : 0) + SQ_HDR;
    unsigned char *p = counted(SGT_LIB_SQLITE) ? sg_alloc(sz) : malloc(sz);

    if (!p)
        return NULL;
    memcpy(p, &sz, sizeof(sz));
    return p + SQ_HDR;
}

static void sq_free(void *p)
{
    if (p)
        free((unsigned char *)p - SQ_HDR);
}

static void *sq_realloc(void *p, int n)
{
    size_t sz = (size_t)(n > 0 ? n : 0) + SQ_HDR;
    unsigned char *b = (unsigned char *)p - SQ_HDR;
    unsigned char *q = counted(SGT_LIB_SQLITE) ? sg_realloc(b, sz)
                                               : realloc(b, sz);

    if (!q)
        return NULL;
    memcpy(q, &sz, sizeof(sz));
    return q + SQ_HDR;
}

static int sq_size(void *p)
{
    size_t sz;

    if (!p)
        return 0;
    memcpy(&sz, (unsigned char *)p - SQ_HDR, sizeof(sz));
    return (int)(sz - SQ_HDR);
}

static int sq_roundup(int n)
{
    return (n + 7) & ~7;
}

static int sq_init(void *app)
{
    (void)app;
    return SQLITE_OK;
}

static void sq_shutdown(void *app)
{
    (void)app;
}

/* ---- OpenSSL ---- */

static void *ossl_malloc(size_t n, const char *file, int line)
{
    (void)file;
    (void)line;
    return counted(SGT_LIB_OPENSSL) ? sg_alloc(n) : malloc(n ? n : 1);
}

static void *ossl_realloc(void *p, size_t n, const char *file, int line)
{
    (void)file;
    (void)line;
    return counted(SGT_LIB_OPENSSL) ? sg_realloc(p, n)
                                    : realloc(p, n ? n : 1);
}

static void ossl_free(void *p, const char *file, int line)
{
    (void)file;
    (void)line;
    free(p);
}

/* ---- libcurl ---- */

static void *curl_m(size_t n)
{
    return counted(SGT_LIB_CURL) ? sg_alloc(n) : malloc(n ? n : 1);
}

static void curl_f(void *p)
{
    free(p);
}

static void *curl_r(void *p, size_t n)
{
    return counted(SGT_LIB_CURL) ? sg_realloc(p, n) : realloc(p, n ? n : 1);
}

static char *curl_s(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = curl_m(n);

    if (d)
        memcpy(d, s, n);
    return d;
}

static void *curl_c(size_t n, size_t size)
{
    return counted(SGT_LIB_CURL) ? sg_calloc(n, size)
                                 : calloc(n ? n : 1, size ? size : 1);
}

static void sq_log(void *arg, int code, const char *msg)
{
    (void)arg;
    fprintf(stderr, "D5 sqlite log: %d %s\n", code, msg);
}

/*
 * glibc's per-thread cache keeps freed chunks counted as in use, which
 * would hide a leak or invent one; the sweeps run without it. The
 * tunable is read at start-up only, so the program restarts itself.
 */
static void tcache_off(char **argv)
{
#if !defined(SGT_ASAN)
    static const char tunable[] = "glibc.malloc.tcache_count=0";
    const char *t = getenv("GLIBC_TUNABLES");

    if (t && strstr(t, tunable))
        return;
    if (setenv("GLIBC_TUNABLES", tunable, 1) == 0)
        execv("/proc/self/exe", argv);
    print_message("D5 note: cannot turn glibc's tcache off; the per-run "
                  "leak check may be off\n");
#else
    (void)argv;
#endif
}

void sgt_torture_init(char **argv)
{
    static const sqlite3_mem_methods sq = {
        sq_malloc, sq_free,    sq_realloc, sq_size,
        sq_roundup, sq_init, sq_shutdown, NULL};

    tcache_off(argv);
    /* OpenSSL first: curl's global init allocates through it. */
    openssl_routed =
        CRYPTO_set_mem_functions(ossl_malloc, ossl_realloc, ossl_free) == 1;
    /*
     * The thread's error queue is made on the first error and kept for
     * the thread's life: make it now, so the first failing run is not
     * taken for a leak.
     */
    ERR_raise(ERR_LIB_USER, 1);
    ERR_clear_error();
    if (!openssl_routed)
        print_message("D5 note: OpenSSL allocated before main(); its "
                      "allocations are not swept\n");
    if (sqlite3_config(SQLITE_CONFIG_MALLOC, &sq) != SQLITE_OK)
        fail_msg("D5: SQLite's allocator could not be routed");
    /* SG_TORTURE_TRACE=1: every SQLite error on stderr (debugging). */
    if (getenv("SG_TORTURE_TRACE"))
        sqlite3_config(SQLITE_CONFIG_LOG, sq_log, NULL);
    if (curl_global_init_mem(CURL_GLOBAL_DEFAULT, curl_m, curl_f, curl_r,
                             curl_s, curl_c) != CURLE_OK)
        fail_msg("D5: libcurl's allocator could not be routed");
    sg_json_init();
}

/* ---- one run ---- */

static size_t heap_bytes(void)
{
#if defined(SGT_ASAN)
    return __sanitizer_get_current_allocated_bytes();
#else
    struct mallinfo2 mi = mallinfo2();

    return mi.uordblks + mi.hblkhd;
#endif
}

size_t sgt_heap_bytes(void)
{
    return heap_bytes();
}

void sgt_heap_settle(void)
{
    struct timespec pause = {0, 2 * 1000 * 1000};
    size_t last = heap_bytes();
    int same = 0;

    for (int i = 0; i < 250 && same < 5; i++) {
        size_t now;

        nanosleep(&pause, NULL);
        now = heap_bytes();
        same = now == last ? same + 1 : 0;
        last = now;
    }
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * A digest outlives its run, so it is kept outside the heap being
 * measured (in its own mapping): freeing the library's copy before the
 * run ends keeps the heap count exact.
 */
static char *keep_text(const char *s)
{
    size_t n = s ? strlen(s) + 1 : 1;
    size_t *m = mmap(NULL, n + sizeof(size_t), PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

    if (m == MAP_FAILED)
        fail_msg("D5: mmap failed");
    m[0] = n + sizeof(size_t);
    memcpy(m + 1, s ? s : "", n);
    return (char *)(m + 1);
}

static void drop_text(char *t)
{
    size_t *m = (size_t *)(void *)t;

    if (t)
        munmap(m - 1, m[-1]);
}

struct run {
    int rc;
    bool failed;
    unsigned long count;
    struct sg_err err;
    char *digest;
    int check;
    char why[SGT_WHY_MAX];
    long long heap_delta;
};

/*
 * How far the heap is from before, after waiting (up to HEAP_BACK_MS)
 * for it to come back. Threads of the fixture that outlive a run (an
 * engine's HTTP loop, its timers) may hold a block for a while or resize
 * one on their own schedule: seen as +16 bytes in one run of a full sweep
 * and -16 about a second later, on a loaded machine only. A leak never
 * comes back, so only the time to report one grows.
 */
#define HEAP_BACK_MS 3000
#define HEAP_BACK_STEP_MS 20

static long long heap_delta_settled(size_t before)
{
    struct timespec step = {0, HEAP_BACK_STEP_MS * 1000 * 1000};
    long long d = (long long)heap_bytes() - (long long)before;

    for (int i = 0; d != 0 && i < HEAP_BACK_MS / HEAP_BACK_STEP_MS; i++) {
        nanosleep(&step, NULL);
        d = (long long)heap_bytes() - (long long)before;
    }
    return d;
}

static void one_run(const struct sgt_torture_op *op, unsigned long n,
                    struct run *r, bool wait_back)
{
    size_t before;

    memset(r, 0, sizeof(*r));
    sg_err_init(&r->err);
    before = heap_bytes();
    if (op->setup && op->setup(op->arg) != 0)
        fail_msg("%s: setup failed", op->name);
    atomic_store(&lib_mask, op->libs);
    sg_alloc_fail_at(n); /* 0: count from here, fail nothing */
    r->rc = op->run(op->arg, &r->err);
    r->failed = sg_alloc_failed();
    r->count = sg_alloc_count();
    sg_alloc_fail_at(0);
    atomic_store(&lib_mask, 0);
    if (r->rc == 0 && op->digest) {
        char *d = op->digest(op->arg);

        r->digest = keep_text(d);
        sg_free(d);
    }
    if (op->check)
        r->check = op->check(op->arg, r->rc, r->why);
    if (op->teardown)
        op->teardown(op->arg);
    r->heap_delta = wait_back ? heap_delta_settled(before)
                              : (long long)heap_bytes() - (long long)before;
}

static bool code_ok(const struct sgt_torture_op *op, int rc)
{
    if (rc == SG_ENOMEM)
        return true;
    for (const int *c = op->also_ok; c && *c; c++)
        if (*c == rc)
            return true;
    return false;
}

/* Where two digests first differ, for the message. */
static size_t diff_at(const char *a, const char *b)
{
    size_t i = 0;

    while (a[i] && a[i] == b[i])
        i++;
    return i;
}

struct sweep {
    const struct sgt_torture_op *op;
    unsigned long violations;
    bool leak_check;
    const char *want;
    long long held;         /* a run's heap change not yet judged */
    unsigned long held_at;  /* that run's allocation */
};

static void violation(struct sweep *s, unsigned long n, const char *fmt, ...)
    SG_PRINTF(3, 4);

static void violation(struct sweep *s, unsigned long n, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    if (++s->violations > VIOLATIONS_SHOWN)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    print_message("D5 FAIL %s: allocation %lu: %s\n", s->op->name, n, msg);
}

/*
 * A run's heap change is judged with the next run's. A fixture thread
 * that outlives a run (an engine's HTTP loop) may keep a block until the
 * next request wakes it, past any wait: seen as +16 bytes after one run
 * and -16 after the next (test_engine_events_torture, 1 run in 6 on a
 * loaded machine). A change the next run cancels exactly is that; any
 * other is a leak, reported at the run that made it, one run later (or
 * at the end of the sweep). The rule misses a leak only when the next
 * run leaks exactly what the one before handed back.
 */
static void heap_judge(struct sweep *s, unsigned long n, long long delta)
{
    if (s->held != 0 && s->held + delta == 0) {
        s->held = 0;
        return;
    }
    if (s->held != 0)
        violation(s, s->held_at, "the heap grew by %lld bytes (a leak)",
                  s->held);
    s->held = delta;
    s->held_at = n;
}

static void judge(struct sweep *s, unsigned long n, struct run *r,
                  struct sgt_torture_stats *st)
{
    const char *got = r->digest ? r->digest : "";

    if (r->failed) {
        st->runs++;
        if (r->rc == 0) {
            st->absorbed++;
            if (strcmp(got, s->want) != 0) {
                size_t at = diff_at(got, s->want);
                size_t from = at > 40 ? at - 40 : 0;

                violation(s, n,
                          "reported success with a different result; "
                          "at byte %zu got \"%.*s\", want \"%.*s\"",
                          at, DIGEST_SHOWN, got + from, DIGEST_SHOWN,
                          s->want + from);
            }
        } else {
            st->errors++;
            if (!code_ok(s->op, r->rc))
                violation(s, n, "returned %s (%s), not out_of_memory",
                          sg_err_name(r->rc), r->err.msg);
            else if (!r->err.msg[0])
                violation(s, n, "returned %s with no message",
                          sg_err_name(r->rc));
        }
    } else if (r->rc != 0) {
        violation(s, n, "failed (%s: %s) with no allocation failing",
                  sg_err_name(r->rc), r->err.msg);
    } else if (strcmp(got, s->want) != 0) {
        violation(s, n, "a run with no allocation failing gave a "
                        "different result");
    }
    if (r->check)
        violation(s, n, "%s (the run returned %s)", r->why,
                  r->rc ? sg_err_name(r->rc) : "ok");
    if (s->leak_check)
        heap_judge(s, n, r->heap_delta);
}

static unsigned long env_ulong(const char *name)
{
    const char *v = getenv(name);
    char *end;
    unsigned long x;

    if (!v || !v[0])
        return 0;
    errno = 0;
    x = strtoul(v, &end, 10);
    return errno || *end ? 0 : x;
}

/*
 * The allocation after prev to fail: every one up to quick (all of them
 * when quick is 0), then tail points spread evenly up to sites, then
 * sites + 1, the run that should complete untouched.
 */
static unsigned long next_point(unsigned long prev, unsigned long sites,
                                unsigned long quick, unsigned long tail)
{
    if (!quick || prev < quick || prev >= sites)
        return prev + 1;
    for (unsigned long k = 1; k <= tail; k++) {
        unsigned long p = quick + (k * (sites - quick) + tail - 1) / tail;

        if (p > prev)
            return p;
    }
    return sites + 1;
}

void sgt_torture_sweep(const struct sgt_torture_op *op,
                       struct sgt_torture_stats *st)
{
    const char *only = getenv("SG_TORTURE_ONLY");
    unsigned long quick = env_ulong("SG_TORTURE_QUICK");
    unsigned long at = env_ulong("SG_TORTURE_AT");
    unsigned long from = env_ulong("SG_TORTURE_FROM");
    unsigned long sites, n, tail = 0;
    struct sweep s = {.op = op};
    struct run r1, r2, r;
    double t0 = now_s();

    memset(st, 0, sizeof(*st));
    if (only && only[0] && !strstr(op->name, only))
        return;
    if ((op->libs & SGT_LIB_OPENSSL) && !openssl_routed)
        print_message("D5 note: %s: OpenSSL's allocations not swept\n",
                      op->name);
    st->quick = quick > 0 && !at;

    /*
     * Clean runs: the count and the result must repeat, and the heap must
     * settle (the first runs may fill lazy caches) before a run that
     * does not give back what it took can be called a leak.
     */
    one_run(op, 0, &r1, false);
    for (int i = 0; i < 4; i++) {
        one_run(op, 0, &r2, true);
        if (r1.rc || r2.rc)
            fail_msg("%s: the clean run failed: %s: %s", op->name,
                     sg_err_name(r1.rc ? r1.rc : r2.rc),
                     r1.rc ? r1.err.msg : r2.err.msg);
        if (strcmp(r1.digest ? r1.digest : "", r2.digest ? r2.digest : ""))
            fail_msg("%s: two clean runs gave different results", op->name);
        drop_text(r1.digest);
        r1 = r2;
        if (r2.heap_delta == 0)
            break;
    }
    s.want = r2.digest ? r2.digest : "";
    sites = r2.count;
    s.leak_check = r2.heap_delta == 0 && !op->heap_shared;
    if (op->heap_shared)
        print_message("D5 note: %s: served by another thread; per-run "
                      "leak check off (LSan still checks at exit)\n",
                      op->name);
    else if (!s.leak_check)
        print_message("D5 note: %s: the heap moves by %lld bytes in a "
                      "clean run; per-run leak check off (LSan still "
                      "checks at exit)\n",
                      op->name, r2.heap_delta);
    st->sites = sites;
    if (!st->quick)
        quick = 0;
    /*
     * With a library's allocations counted most points land inside the
     * library, which tests its own failure paths: a quick sweep gives
     * those a quarter of the points.
     */
    if (op->libs && quick)
        quick = SG_MAX(quick / 4, 1UL);
    tail = SG_MAX(quick / 4, 1UL);

    for (n = at ? at : SG_MAX(from, 1UL);;
         n = next_point(n, sites, quick, tail)) {
        one_run(op, n, &r, s.leak_check && !op->heap_no_wait);
        judge(&s, n, &r, st);
        drop_text(r.digest);
        if (at || (!r.failed && n > sites))
            break;
        if (n > 4 * sites + 1000) {
            violation(&s, n, "still failing far past the clean run's %lu "
                             "allocations",
                      sites);
            break;
        }
    }
    if (s.held != 0) /* the last run's change has no next run */
        violation(&s, s.held_at, "the heap grew by %lld bytes (a leak)",
                  s.held);
    drop_text(r2.digest);
    st->seconds = now_s() - t0;
    print_message("D5 %-46s %6lu sites %6lu runs (%lu errors, %lu "
                  "absorbed) %7.2f s%s\n",
                  op->name, st->sites, st->runs, st->errors, st->absorbed,
                  st->seconds, st->quick ? " quick" : "");
    if (s.violations)
        fail_msg("%s: %lu violation(s)%s", op->name, s.violations,
                 s.violations > VIOLATIONS_SHOWN ? " (first ones shown)"
                                                 : "");
}

/* ---- store helpers ---- */

int sgt_copy_file(const char *from, const char *to)
{
    size_t len = 0;
    char *data = sgt_read_file(from, &len);
    FILE *f;
    int rc = 0;

    if (!data)
        return -1;
    f = fopen(to, "wb");
    if (!f || fwrite(data, 1, len, f) != len)
        rc = -1;
    if (f && fclose(f) != 0)
        rc = -1;
    sg_free(data);
    return rc;
}

void sgt_db_remove(const char *path)
{
    char p[1024];

    unlink(path);
    snprintf(p, sizeof(p), "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof(p), "%s-shm", path);
    unlink(p);
}

static int dump_table(sqlite3 *db, const char *table, struct sg_buf *b)
{
    sqlite3_stmt *st = NULL;
    char sql[256];
    int rc;

    snprintf(sql, sizeof(sql), "SELECT * FROM \"%s\" ORDER BY rowid", table);
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        /* WITHOUT ROWID tables: their primary key orders them. */
        snprintf(sql, sizeof(sql), "SELECT * FROM \"%s\" ORDER BY 1", table);
        if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
            return -1;
    }
    rc = sg_buf_printf(b, "[%s]\n", table);
    while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
        for (int i = 0; rc == 0 && i < sqlite3_column_count(st); i++) {
            const unsigned char *t = sqlite3_column_text(st, i);

            rc = sg_buf_printf(b, "%s%s", i ? "|" : "",
                               t ? (const char *)t : "NULL");
        }
        if (rc == 0)
            rc = sg_buf_appends(b, "\n");
    }
    sqlite3_finalize(st);
    return rc;
}

char *sgt_db_dump(const char *path)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    struct sg_buf b;
    int rc = 0;

    sg_buf_init(&b, 64u << 20);
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
        goto fail;
    sqlite3_busy_timeout(db, 5000);
    if (sqlite3_prepare_v2(db,
                           "SELECT name FROM sqlite_master WHERE type = "
                           "'table' ORDER BY name",
                           -1, &st, NULL) != SQLITE_OK)
        goto fail;
    while (rc == 0 && sqlite3_step(st) == SQLITE_ROW)
        rc = dump_table(db, (const char *)sqlite3_column_text(st, 0), &b);
    sqlite3_finalize(st);
    st = NULL;
    if (rc || sg_buf_appends(&b, "."))
        goto fail;
    sqlite3_close(db);
    return sg_buf_detach(&b, NULL);
fail:
    sqlite3_finalize(st);
    sqlite3_close(db);
    sg_buf_release(&b);
    return NULL;
}

int sgt_db_integrity(const char *path, char *why)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int rc = -1;

    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
        snprintf(why, SGT_WHY_MAX, "cannot open %s", path);
    else if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st,
                                NULL) != SQLITE_OK ||
             sqlite3_step(st) != SQLITE_ROW)
        snprintf(why, SGT_WHY_MAX, "integrity_check: %s",
                 sqlite3_errmsg(db));
    else if (strcmp((const char *)sqlite3_column_text(st, 0), "ok") != 0)
        snprintf(why, SGT_WHY_MAX, "integrity_check: %s",
                 (const char *)sqlite3_column_text(st, 0));
    else
        rc = 0;
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rc;
}

/* ---- a store operation on a fresh copy of a template ---- */

static int sop_setup(void *arg)
{
    struct sgt_sop *o = arg;

    sgt_db_remove(o->work);
    if (sgt_copy_file(o->tpl, o->work) != 0)
        return -1;
    o->s = o->open(o->work);
    if (!o->baseline)
        o->baseline = sgt_db_dump(o->work);
    if (o->prepare && o->prepare(o) != 0)
        return -1;
    return o->baseline ? 0 : -1;
}

static int sop_write(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    struct sgt_sop *o = arg;

    return o->write(o, tx, err);
}

static int sop_run(void *arg, struct sg_err *err)
{
    struct sgt_sop *o = arg;

    if (o->write)
        return sg_store_write(o->s, sop_write, o, err);
    return o->body(o, err);
}

static char *sop_digest(void *arg)
{
    struct sgt_sop *o = arg;
    struct sg_buf b;
    char *dump = sgt_db_dump(o->work);

    sg_buf_init(&b, 64u << 20);
    if (o->text)
        o->text(o, &b);
    sg_buf_printf(&b, "--- store\n%s", dump ? dump : "(unreadable)");
    sg_free(dump);
    return sg_buf_detach(&b, NULL);
}

static int sop_check(void *arg, int rc, char *why)
{
    struct sgt_sop *o = arg;

    if (rc && !o->many_writes) {
        char *now = sgt_db_dump(o->work);
        bool same = now && strcmp(now, o->baseline) == 0;

        sg_free(now);
        if (!same) {
            snprintf(why, SGT_WHY_MAX, "a failed write changed the store");
            return -1;
        }
    }
    return o->whole ? o->whole(o, rc, why) : 0;
}

static void sop_teardown(void *arg)
{
    struct sgt_sop *o = arg;

    if (o->reset)
        o->reset(o);
    sg_store_free(o->s);
    o->s = NULL;
    sgt_db_remove(o->work);
}

void sgt_torture_sweep_sqlite(struct sgt_torture_op *op,
                              bool sqlite_full_only)
{
    char full[128];
    struct sgt_torture_stats st;

    sgt_torture_sweep(op, &st);
    if (sqlite_full_only && getenv("SG_TORTURE_QUICK"))
        return;
    snprintf(full, sizeof(full), "%s +sqlite", op->name);
    op->name = full;
    op->libs |= SGT_LIB_SQLITE;
    sgt_torture_sweep(op, &st);
    op->name = NULL; /* full is gone */
}

void sgt_sop_sweep(struct sgt_sop *o, const char *name)
{
    struct sgt_torture_op op = {.name = name,
                                .arg = o,
                                .setup = sop_setup,
                                .run = sop_run,
                                .digest = sop_digest,
                                .check = sop_check,
                                .teardown = sop_teardown,
                                .also_ok = o->also_ok};

    sgt_torture_sweep_sqlite(&op, o->sqlite_full_only);
    sg_free(o->baseline);
    o->baseline = NULL;
}
