/*
 * test_store_powerloss.c - D2 (reliability.md): power loss under the
 * SQLite store, after random acknowledged commits. Nothing acknowledged
 * may be lost and the file must check clean, whatever part of the
 * unsynced writes reached the disk.
 *
 * A SIGKILL (D1) only loses what the process had not handed to the
 * kernel; a power cut also loses what the kernel had not written out.
 * SQLite's answer is fsync at the right moments (synchronous = FULL),
 * and Surge adds its own layer under SQLite: the WAL gatherer
 * (src/store/sqlite/walbuf.c) holds a transaction's frames and writes
 * them in a few large pieces. This test checks that the two together
 * still put every acknowledged commit on the disk before it is
 * acknowledged.
 *
 * How, SQLite's test6.c way with the crash moved out of the process:
 * - A child process opens the store with a test VFS (tests/lib/testvfs.c)
 *   made the default under walbuf. Before each write to the database or its WAL, the VFS
 *   appends the bytes it is about to overwrite (and the file's size) to
 *   an undo log beside the file; a sync of the file empties that file's
 *   log once the real fsync has returned. So the log always holds what
 *   the disk might still have had if the power had gone at that moment.
 * - The child writes as fast as the store takes it: each write inserts
 *   an inbox row (an 800-byte body derived from its sequence number),
 *   enqueues a job, and marks the row of 100 writes before processed,
 *   all in one write of a group commit. When a write's commit is
 *   reported, its number goes to an acknowledgement file.
 * - 20-300 ms after the child's first acknowledgement the parent kills
 *   it (SIGKILL), then plays the
 *   undo logs backwards in one of four ways, to be the disk after a
 *   power cut: every unsynced write lost; none lost; a cut in time (the
 *   writes after a random one lost); or each 512-byte sector on its own
 *   (each at a random one of its own successive contents since the last
 *   sync, so the writes to it are kept as a prefix, as write-back of a
 *   page does). Bytes past a file's old end that are rolled back become
 *   zeros (the size was written out, the data not); when every unsynced
 *   write is lost the file also goes back to its synced size. The WAL
 *   index (-shm) is removed half the time (it lives in memory too).
 * - Then: PRAGMA integrity_check is ok, every acknowledged write's row is
 *   there with its exact body, its job exists, and the row it marked is
 *   marked. The next run opens the store again (its migrations and
 *   recovery must succeed) and carries on; every 20 runs a fresh store.
 *
 * Sector writes are assumed atomic and never to damage bytes outside the
 * write (SQLite's "powersafe overwrite"); a truncation is kept with all
 * writes before it (only later writes are rolled back). Directory entries
 * are not modelled: the files exist before the first run.
 *
 * SG_POWERLOSS_RUNS (default 50; the torture-labelled
 * test_store_powerloss_soak runs 1,000, the figure reliability.md sets;
 * up to 4 x as many while no unsynced sector has been rolled back yet)
 * and SG_POWERLOSS_SEED choose the runs; SG_POWERLOSS_TRACE=1 prints each
 * run's times (open, cut, checks).
 */
#include "testlib.h"
#include "testvfs.h"
#include "core/alloc.h"
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BODY_LEN   800
#define MARK_BACK  100
#define SECTOR     512
#define SERIES     20       /* runs per store */
#define RUN_STRIDE 10000000 /* sequence numbers per run */
#define IN_FLIGHT  256

static uint64_t rng = 1;

static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static long env_long(const char *name, long dflt)
{
    const char *v = getenv(name);

    return v && *v ? strtol(v, NULL, 10) : dflt;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The body of write seq: deterministic, so the parent can check it. */
static void body_of(int64_t seq, char *out)
{
    uint64_t x = (uint64_t)seq * 0x9E3779B97F4A7C15ull + 1;

    for (size_t i = 0; i < BODY_LEN; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out[i] = (char)('a' + (int)(x % 26));
    }
}

/* ==== the child: the store on the undo-logging VFS ==== */

struct child_write {
    int64_t seq;
    int64_t id;
    bool dup;
};

static struct {
    struct sg_store *store;
    int ack_fd;
    int64_t first;
    int64_t ids[65536]; /* inbox row id of (seq - first) % 65536 */
    atomic_int in_flight;
    atomic_bool failed;
} C;

static int child_write_fn(struct sg_store_tx *tx, void *arg,
                          struct sg_err *err)
{
    struct child_write *w = arg;
    char ext[32], body[BODY_LEN], payload[64];
    struct sg_job job;
    int64_t job_id;
    bool coalesced;
    int rc;

    snprintf(ext, sizeof(ext), "%" PRId64, w->seq);
    body_of(w->seq, body);
    rc = sg_store_tx_inbox_insert(tx, 1, "powerloss", ext, body, BODY_LEN,
                                  &w->id, &w->dup, err);
    if (rc)
        return rc;
    C.ids[(w->seq - C.first) % 65536] = w->id;
    memset(&job, 0, sizeof(job));
    job.tenant_id = 1;
    snprintf(job.kind, sizeof(job.kind), "notify.http");
    snprintf(payload, sizeof(payload), "{\"seq\":%" PRId64 "}", w->seq);
    job.payload = payload;
    rc = sg_store_tx_job_enqueue(tx, &job, &job_id, &coalesced, err);
    if (rc)
        return rc;
    if (w->seq - C.first >= MARK_BACK)
        rc = sg_store_tx_inbox_mark_processed(
            tx, C.ids[(w->seq - MARK_BACK - C.first) % 65536], err);
    return rc;
}

static void child_done(void *arg, int rc, const struct sg_err *err)
{
    struct child_write *w = arg;
    char line[32];
    int n;

    SG_UNUSED(err);
    if (rc == 0) {
        n = snprintf(line, sizeof(line), "%" PRId64 "\n", w->seq);
        if (write(C.ack_fd, line, (size_t)n) != n)
            atomic_store(&C.failed, true);
    } else {
        atomic_store(&C.failed, true);
    }
    free(w);
    atomic_fetch_sub(&C.in_flight, 1);
}

/* Never returns: writes until killed (or exits non-zero on a failure). */
static void child_main(const char *db, const char *ack, int ready_fd,
                       int64_t first)
{
    char one = 'R';

    sgt_vfs_install(true);
    C.first = first;
    C.ack_fd = open(ack, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (C.ack_fd < 0)
        _exit(4);
    if (sgt_store_open_sqlite(&C.store, db, "powerloss child") != 0)
        _exit(5);
    if (write(ready_fd, &one, 1) != 1)
        _exit(6);
    for (int64_t seq = first; seq < first + RUN_STRIDE; seq++) {
        struct child_write *w = calloc(1, sizeof(*w));

        if (!w || atomic_load(&C.failed))
            _exit(7);
        w->seq = seq;
        while (atomic_load(&C.in_flight) >= IN_FLIGHT)
            sleep_ms(1);
        atomic_fetch_add(&C.in_flight, 1);
        while (sg_store_submit(C.store, child_write_fn, child_done, w) != 0)
            sleep_ms(1);
    }
    _exit(8); /* ten million writes and still alive: the kill never came */
}

/* ==== the parent: the power cut and the checks ==== */

struct rec {
    uint32_t type;
    int64_t off, len, old_size;
    const unsigned char *old; /* (old_size - off) bytes when positive */
};

struct undo {
    unsigned char *data;
    size_t size;
    struct rec *recs;
    size_t n;
};

static int undo_load(const char *path, struct undo *u)
{
    struct stat st;
    size_t pos = 0, cap = 0;
    int fd;

    memset(u, 0, sizeof(*u));
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -1;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return -1;
    }
    u->size = (size_t)st.st_size;
    u->data = malloc(u->size ? u->size : 1);
    if (!u->data || (u->size && read(fd, u->data, u->size) != (ssize_t)u->size)) {
        close(fd);
        return -1;
    }
    close(fd);
    while (pos + sizeof(struct sgt_undo_hdr) <= u->size) {
        struct sgt_undo_hdr h;
        int64_t have;

        memcpy(&h, u->data + pos, sizeof(h));
        if (h.magic != SGT_UNDO_MAGIC)
            return -1;
        have = h.old_size > h.off ? SG_MIN(h.len, h.old_size - h.off) : 0;
        if (pos + sizeof(h) + (size_t)have > u->size)
            break; /* the kill cut the last record: its write never ran */
        if (u->n == cap) {
            cap = cap ? cap * 2 : 256;
            u->recs = realloc(u->recs, cap * sizeof(*u->recs));
            if (!u->recs)
                return -1;
        }
        u->recs[u->n++] = (struct rec){h.type, h.off, h.len, h.old_size,
                                       u->data + pos + sizeof(h)};
        pos += sizeof(h) + (size_t)have;
    }
    return 0;
}

static void undo_free(struct undo *u)
{
    free(u->data);
    free(u->recs);
}

/* Put back the old bytes of r inside [lo, hi): zeros past its old end. */
static int roll_back(int fd, const struct rec *r, int64_t lo, int64_t hi)
{
    static const unsigned char zeros[SECTOR];

    lo = SG_MAX(lo, r->off);
    hi = SG_MIN(hi, r->off + r->len);
    while (lo < hi) {
        int64_t n;
        const unsigned char *src;

        if (lo < r->old_size) {
            n = SG_MIN(hi, r->old_size) - lo;
            src = r->old + (lo - r->off);
        } else {
            n = SG_MIN(hi - lo, (int64_t)sizeof(zeros));
            src = zeros;
        }
        if (pwrite(fd, src, (size_t)n, lo) != (ssize_t)n)
            return -1;
        lo += n;
    }
    return 0;
}

enum cut { CUT_ALL, CUT_NONE, CUT_TIME, CUT_SECTORS, CUT_MODES };
static const char *const cut_names[] = {"all lost", "none lost",
                                        "cut in time", "sector by sector"};

struct stats {
    long runs, acked, records, rolled_sectors, db_runs;
    long by_cut[CUT_MODES];
};

/*
 * Make file the disk after a power cut, from its undo log. Returns the
 * sectors rolled back, or -1.
 */
static long power_cut(const char *file, const char *undo_path, enum cut cut,
                      struct stats *st)
{
    struct undo u;
    size_t from = 0, keep_upto;
    long rolled = 0;
    int fd, rc = 0;

    if (undo_load(undo_path, &u) != 0)
        return -1;
    /* A truncation stays, and so does everything before it. */
    for (size_t i = 0; i < u.n; i++)
        if (u.recs[i].type == SGT_UNDO_TRUNCATE)
            from = i + 1;
    st->records += (long)(u.n - from);
    fd = open(file, O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
        undo_free(&u);
        return errno == ENOENT ? 0 : -1;
    }
    switch (cut) {
    case CUT_NONE:
        break;
    case CUT_ALL:
    case CUT_TIME:
        keep_upto = cut == CUT_ALL || u.n == from
                        ? from
                        : from + (size_t)(rnd() % (u.n - from + 1));
        for (size_t i = u.n; i > keep_upto && rc == 0; i--) {
            const struct rec *r = &u.recs[i - 1];

            rc = roll_back(fd, r, r->off, r->off + r->len);
            rolled += (long)((r->len + SECTOR - 1) / SECTOR);
        }
        if (rc == 0 && cut == CUT_ALL && u.n > from &&
            ftruncate(fd, u.recs[from].old_size) != 0)
            rc = -1;
        break;
    case CUT_SECTORS: {
        /* Each sector: the writes to it since the sync are kept up to a
         * random one of them (none to all), the rest rolled back, newest
         * first, so the sector holds one of its successive contents. */
        int64_t lo = INT64_MAX, hi = 0;

        for (size_t i = from; i < u.n; i++) {
            lo = SG_MIN(lo, u.recs[i].off / SECTOR * SECTOR);
            hi = SG_MAX(hi, u.recs[i].off + u.recs[i].len);
        }
        for (int64_t s = lo; s < hi && rc == 0; s += SECTOR) {
            size_t touching = 0, keep;

            for (size_t i = from; i < u.n; i++)
                if (u.recs[i].off < s + SECTOR &&
                    u.recs[i].off + u.recs[i].len > s)
                    touching++;
            if (!touching)
                continue;
            keep = (size_t)(rnd() % (touching + 1));
            if (keep < touching)
                rolled++;
            for (size_t i = u.n; i > from && touching > keep && rc == 0;
                 i--) {
                const struct rec *r = &u.recs[i - 1];

                if (r->off < s + SECTOR && r->off + r->len > s) {
                    rc = roll_back(fd, r, s, s + SECTOR);
                    touching--;
                }
            }
        }
        break;
    }
    default:
        rc = -1;
    }
    close(fd);
    undo_free(&u);
    return rc == 0 ? rolled : -1;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    char *buf;
    long n;

    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    if (buf)
        buf[n] = '\0';
    fclose(f);
    return buf;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return (x > y) - (x < y);
}

/* The checks after a power cut; a cmocka failure names the problem. */
static long check_store(const char *db, const char *ack, int64_t first,
                        long run, const char *how)
{
    sqlite3 *h = NULL;
    sqlite3_stmt *row = NULL, *job = NULL;
    char *acks = read_file(ack), *p, *nl;
    char ext[32], body[BODY_LEN];
    int64_t *jobs = NULL;
    size_t n_jobs = 0, cap_jobs = 0;
    long n = 0;

    assert_non_null(acks);
    assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READWRITE, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_busy_timeout(h, 5000), SQLITE_OK);
    {
        sqlite3_stmt *ic = NULL;

        assert_int_equal(sqlite3_prepare_v2(h, "PRAGMA integrity_check", -1,
                                            &ic, NULL),
                         SQLITE_OK);
        assert_int_equal(sqlite3_step(ic), SQLITE_ROW);
        if (strcmp((const char *)sqlite3_column_text(ic, 0), "ok") != 0)
            fail_msg("run %ld (%s): integrity_check: %s", run, how,
                     sqlite3_column_text(ic, 0));
        sqlite3_finalize(ic);
    }
    assert_int_equal(
        sqlite3_prepare_v2(h,
                           "SELECT body, (SELECT processed_at IS NOT NULL "
                           "FROM inbox WHERE source = 'powerloss' AND "
                           "external_id = ?2) FROM inbox WHERE source = "
                           "'powerloss' AND external_id = ?1",
                           -1, &row, NULL),
        SQLITE_OK);
    /* Every job's seq, sorted (payload has no index: one scan). */
    assert_int_equal(sqlite3_prepare_v2(h, "SELECT payload FROM jobs", -1,
                                        &job, NULL),
                     SQLITE_OK);
    while (sqlite3_step(job) == SQLITE_ROW) {
        const char *pl = (const char *)sqlite3_column_text(job, 0);

        if (n_jobs == cap_jobs) {
            cap_jobs = cap_jobs ? cap_jobs * 2 : 4096;
            jobs = realloc(jobs, cap_jobs * sizeof(*jobs));
            assert_non_null(jobs);
        }
        if (pl && strncmp(pl, "{\"seq\":", 7) == 0)
            jobs[n_jobs++] = strtoll(pl + 7, NULL, 10);
    }
    sqlite3_finalize(job);
    if (n_jobs)
        qsort(jobs, n_jobs, sizeof(*jobs), cmp_i64);
    for (p = acks; (nl = strchr(p, '\n')) != NULL; p = nl + 1) {
        int64_t seq = strtoll(p, NULL, 10);
        char back[32];

        snprintf(ext, sizeof(ext), "%" PRId64, seq);
        snprintf(back, sizeof(back), "%" PRId64, seq - MARK_BACK);
        sqlite3_bind_text(row, 1, ext, -1, SQLITE_STATIC);
        sqlite3_bind_text(row, 2, back, -1, SQLITE_STATIC);
        if (sqlite3_step(row) != SQLITE_ROW)
            fail_msg("run %ld (%s): acknowledged write %" PRId64 " lost", run,
                     how, seq);
        body_of(seq, body);
        if (sqlite3_column_bytes(row, 0) != BODY_LEN ||
            memcmp(sqlite3_column_blob(row, 0), body, BODY_LEN) != 0)
            fail_msg("run %ld (%s): write %" PRId64 "'s body changed", run,
                     how, seq);
        if (seq - first >= MARK_BACK && sqlite3_column_int(row, 1) != 1)
            fail_msg("run %ld (%s): write %" PRId64 " marked %" PRId64
                     " processed, and that is lost",
                     run, how, seq, seq - MARK_BACK);
        sqlite3_reset(row);
        if (!n_jobs || !bsearch(&seq, jobs, n_jobs, sizeof(*jobs), cmp_i64))
            fail_msg("run %ld (%s): write %" PRId64 "'s job lost", run, how,
                     seq);
        n++;
    }
    sqlite3_finalize(row);
    free(jobs);
    assert_int_equal(sqlite3_close(h), SQLITE_OK);
    free(acks);
    return n;
}

/* The size of path, or -1 when it cannot be read. */
static long file_size(const char *path)
{
    struct stat sb;

    return stat(path, &sb) == 0 ? (long)sb.st_size : -1;
}

static void power_loss_runs(void **state)
{
    long runs = env_long("SG_POWERLOSS_RUNS", 50);
    uint64_t seed = (uint64_t)env_long("SG_POWERLOSS_SEED", 20261207);
    char *dir = sgt_tmpdir();
    char db[480], wal[512], shm[512], dbu[512], walu[512], ack[512];
    struct stats st;

    SG_UNUSED(state);
    assert_non_null(dir);
    memset(&st, 0, sizeof(st));
    rng = seed ? seed : 1;
    print_message("D2: seed %" PRIu64 ", %ld runs\n", seed, runs);
    /*
     * A run that cut nothing would prove nothing: on a slow machine (an
     * ASan build at load 6 on 2 cores acknowledged 1,000-2,600 writes in
     * 50 runs and rolled back no sector) more runs are made, up to 4 x
     * runs, until some unsynced sector was rolled back.
     */
    for (long run = 0;
         run < runs || (st.rolled_sectors == 0 && run < 4 * runs); run++) {
        int64_t first = (int64_t)(run + 1) * RUN_STRIDE;
        enum cut cut = (enum cut)(rnd() % CUT_MODES);
        int ready[2], status = 0;
        char one = 0;
        long wait_ms = 20 + (long)(rnd() % 281), rolled, t0, t1, t2;
        pid_t pid;

        snprintf(db, sizeof(db), "%s/s%ld.db", dir, run / SERIES);
        snprintf(wal, sizeof(wal), "%s-wal", db);
        snprintf(shm, sizeof(shm), "%s-shm", db);
        snprintf(dbu, sizeof(dbu), "%s-undo", db);
        snprintf(walu, sizeof(walu), "%s-wal-undo", db);
        snprintf(ack, sizeof(ack), "%s/ack", dir);
        unlink(ack);
        assert_int_equal(pipe(ready), 0);
        fflush(NULL);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(ready[0]);
            child_main(db, ack, ready[1], first);
        }
        close(ready[1]);
        /* The store is open (migrated, recovered) before the clock. */
        t0 = now_ms();
        if (read(ready[0], &one, 1) != 1) {
            waitpid(pid, &status, 0);
            fail_msg("run %ld: the store did not open after the last power "
                     "cut (child status %d)",
                     run, status);
        }
        close(ready[0]);
        t1 = now_ms();
        /*
         * The clock starts at the first acknowledgement (at most 10 s), so
         * that a slow child is cut while it writes, not while it starts.
         */
        for (int i = 0; i < 1000 && file_size(ack) <= 0; i++)
            sleep_ms(10);
        sleep_ms(wait_ms);
        kill(pid, SIGKILL);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (!WIFSIGNALED(status))
            fail_msg("run %ld: the writer stopped by itself (status %d)", run,
                     status);
        /* Now the power cut, then the checks. */
        rolled = power_cut(wal, walu, cut, &st);
        assert_true(rolled >= 0);
        st.rolled_sectors += rolled;
        {
            long before = st.records;

            rolled = power_cut(db, dbu, cut, &st);
            assert_true(rolled >= 0);
            st.rolled_sectors += rolled;
            if (st.records > before)
                st.db_runs++;
        }
        unlink(walu);
        unlink(dbu);
        if (rnd() % 2)
            unlink(shm);
        t2 = now_ms();
        st.acked += check_store(db, ack, first, run, cut_names[cut]);
        if (getenv("SG_POWERLOSS_TRACE"))
            print_message("run %ld: open %ld ms, cut %ld ms, check %ld ms\n",
                          run, t1 - t0, t2 - t1 - wait_ms, now_ms() - t2);
        st.by_cut[cut]++;
        st.runs++;
    }
    print_message("D2: %ld runs (%ld all lost, %ld none lost, %ld cut in "
                  "time, %ld sector by sector), %ld acknowledged writes "
                  "checked, %ld unsynced writes at the cuts, %ld sectors "
                  "rolled back, %ld runs cut during database-file writes "
                  "(checkpoints): 0 lost, integrity ok\n",
                  st.runs, st.by_cut[CUT_ALL], st.by_cut[CUT_NONE],
                  st.by_cut[CUT_TIME], st.by_cut[CUT_SECTORS], st.acked,
                  st.records, st.rolled_sectors, st.db_runs);
    /* A run that cut nothing would prove nothing. */
    assert_true(st.acked > 0);
    assert_true(st.rolled_sectors > 0);
    sg_free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(power_loss_runs),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
