/*
 * test_store_ioerr.c - D4 (reliability.md): an I/O-error sweep under the
 * SQLite store. For a fixed set of writes, the k-th write call (k = 1..N)
 * or the k-th sync (k = 1..M) to the database or its WAL fails, once
 * (transient) or from then on (persistent, a disk gone bad), SQLite's
 * FAULTSIM ioerr way. Every run must:
 * - not crash (the process ends by itself, no signal, no hang);
 * - be all-or-nothing per write: each write's inbox row and job are both
 *   in the file or neither is;
 * - keep every write whose commit was reported (done with rc 0);
 * - leave a file that checks clean (PRAGMA integrity_check) and that the
 *   store opens again and takes a new write (recovery on restart).
 * A write whose commit was reported failed may still be in the file
 * after a restart: when only the sync of its commit failed, its frames
 * are complete in the WAL, and SQLite's recovery takes them. Callers see
 * a 503 and send again, and every write path deduplicates (the inbox on
 * the notification id, events on the event id, the admin API on
 * idempotency keys), so this is safe; the sweep counts such writes and
 * prints the figure.
 *
 * The writes run in a child process on the test VFS (tests/lib/testvfs.c)
 * under the WAL gatherer, in groups (a group commit each), and the store
 * is closed at the end (its closing checkpoint writes the database file,
 * so faults there are swept too). A clean run counts the calls first.
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define GROUPS    4
#define PER_GROUP 8
#define WRITES    (GROUPS * PER_GROUP)
#define BODY_LEN  1500

/* What a child reports: each write's rc, then the call counts. */
struct report {
    int rc[WRITES];      /* 1 = never reported */
    long writes, syncs, failed;
    bool done;
};

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static void body_of(int seq, char *out)
{
    for (size_t i = 0; i < BODY_LEN; i++)
        out[i] = (char)('a' + (int)((i * 7 + (size_t)seq * 13) % 26));
}

/* ==== the child ==== */

static struct {
    int out_fd;
    atomic_int pending;
} C;

struct child_write {
    int seq;
};

static int write_fn(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    struct child_write *w = arg;
    char ext[16], body[BODY_LEN], payload[32];
    struct sg_job job;
    int64_t id;
    bool flag;
    int rc;

    snprintf(ext, sizeof(ext), "%d", w->seq);
    body_of(w->seq, body);
    rc = sg_store_tx_inbox_insert(tx, 1, "ioerr", ext, body, BODY_LEN, &id,
                                  &flag, err);
    if (rc)
        return rc;
    memset(&job, 0, sizeof(job));
    job.tenant_id = 1;
    snprintf(job.kind, sizeof(job.kind), "notify.http");
    snprintf(payload, sizeof(payload), "{\"seq\":%d}", w->seq);
    job.payload = payload;
    return sg_store_tx_job_enqueue(tx, &job, &id, &flag, err);
}

static void done_fn(void *arg, int rc, const struct sg_err *err)
{
    struct child_write *w = arg;
    char line[48];
    int n;

    SG_UNUSED(err);
    n = snprintf(line, sizeof(line), "w %d %d\n", w->seq, rc);
    if (write(C.out_fd, line, (size_t)n) != n)
        _exit(9);
    free(w);
    atomic_fetch_sub(&C.pending, 1);
}

/* Run the fixed writes on db with faults; never returns. */
static void child_run(const char *db, const char *out,
                      const struct sgt_vfs_faults *faults)
{
    struct sg_store *store = NULL;
    char line[96];
    int n;

    sgt_vfs_install(false);
    C.out_fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (C.out_fd < 0)
        _exit(4);
    if (sgt_store_open_sqlite(&store, db, "ioerr child") != 0)
        _exit(5);
    sgt_vfs_arm(faults);
    for (int g = 0; g < GROUPS; g++) {
        for (int i = 0; i < PER_GROUP; i++) {
            struct child_write *w = calloc(1, sizeof(*w));

            if (!w)
                _exit(6);
            w->seq = g * PER_GROUP + i;
            atomic_fetch_add(&C.pending, 1);
            if (sg_store_submit(store, write_fn, done_fn, w) != 0) {
                atomic_fetch_sub(&C.pending, 1);
                n = snprintf(line, sizeof(line), "w %d %d\n", w->seq, -1000);
                if (write(C.out_fd, line, (size_t)n) != n)
                    _exit(9);
                free(w);
            }
        }
        /* The group commits together; the next starts after it. */
        for (int t = 0; t < 30000 && atomic_load(&C.pending) > 0; t++)
            sleep_ms(1);
        if (atomic_load(&C.pending) > 0)
            _exit(7); /* the store never answered: the parent says hang */
    }
    sg_store_free(store); /* closing checkpoint: database-file writes */
    n = snprintf(line, sizeof(line), "end %ld %ld %ld\n", sgt_vfs_writes(),
                 sgt_vfs_syncs(), sgt_vfs_failed());
    if (write(C.out_fd, line, (size_t)n) != n)
        _exit(9);
    close(C.out_fd);
    _exit(0);
}

/*
 * The store on the plain VFS: opened (migrations) and closed, for the
 * template; or, after a fault run, opened and given a new write.
 */
static void child_plain(const char *db, bool write_one)
{
    struct sg_store *store = NULL;
    struct child_write w = {1000};
    struct sg_err err;
    int rc = 0;

    if (sgt_store_open_sqlite(&store, db, "ioerr plain child") != 0)
        _exit(5);
    sg_err_init(&err);
    if (write_one)
        rc = sg_store_write(store, write_fn, &w, &err);
    sg_store_free(store);
    _exit(rc == 0 ? 0 : 6);
}

/* ==== the parent ==== */

enum mode { RUN_FAULTS, RUN_TEMPLATE, RUN_RECOVER };

/* Run a child and wait for it (60 s at most); its wait status. */
static int fork_wait(enum mode mode, const char *db, const char *out,
                     const struct sgt_vfs_faults *f)
{
    int status = 0;
    pid_t pid;

    fflush(NULL);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (mode == RUN_FAULTS)
            child_run(db, out, f);
        child_plain(db, mode == RUN_RECOVER);
    }
    for (int t = 0; t < 60000; t += 5) {
        pid_t r = waitpid(pid, &status, WNOHANG);

        if (r == pid)
            return status;
        sleep_ms(5);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    fail_msg("a child ran for a minute: hang (%s)", db);
    return -1;
}

static void read_report(const char *path, struct report *rep)
{
    FILE *f = fopen(path, "r");
    char line[128];

    memset(rep, 0, sizeof(*rep));
    for (int i = 0; i < WRITES; i++)
        rep->rc[i] = 1;
    assert_non_null(f);
    while (fgets(line, sizeof(line), f)) {
        int seq, rc;

        if (sscanf(line, "w %d %d", &seq, &rc) == 2 && seq >= 0 &&
            seq < WRITES)
            rep->rc[seq] = rc;
        else if (sscanf(line, "end %ld %ld %ld", &rep->writes, &rep->syncs,
                        &rep->failed) == 3)
            rep->done = true;
    }
    fclose(f);
}

static int copy_file(const char *from, const char *to)
{
    char buf[65536];
    int in = open(from, O_RDONLY | O_CLOEXEC), out;
    ssize_t n;
    int rc = 0;

    if (in < 0)
        return errno == ENOENT ? 0 : -1;
    out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (out < 0) {
        close(in);
        return -1;
    }
    while ((n = read(in, buf, sizeof(buf))) > 0)
        if (write(out, buf, (size_t)n) != n)
            rc = -1;
    if (n < 0)
        rc = -1;
    close(in);
    close(out);
    return rc;
}

struct tally {
    long runs, acked, failed_writes, back_after_restart, exits_nonzero;
};

/* The checks on db after a fault run; what names the run. */
static void check_run(const char *db, const struct report *rep,
                      const char *what, struct tally *t)
{
    sqlite3 *h = NULL;
    sqlite3_stmt *row = NULL, *job = NULL, *ic = NULL;

    assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READWRITE, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(h, "PRAGMA integrity_check", -1, &ic,
                                        NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(ic), SQLITE_ROW);
    if (strcmp((const char *)sqlite3_column_text(ic, 0), "ok") != 0)
        fail_msg("%s: integrity_check: %s", what, sqlite3_column_text(ic, 0));
    sqlite3_finalize(ic);
    assert_int_equal(sqlite3_prepare_v2(h,
                                        "SELECT count(*) FROM inbox WHERE "
                                        "source = 'ioerr' AND external_id = "
                                        "?1 AND length(body) = 1500",
                                        -1, &row, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(h,
                                        "SELECT count(*) FROM jobs WHERE "
                                        "payload = ?1",
                                        -1, &job, NULL),
                     SQLITE_OK);
    for (int seq = 0; seq < WRITES; seq++) {
        char ext[16], payload[32];
        int in_inbox, in_jobs;

        snprintf(ext, sizeof(ext), "%d", seq);
        snprintf(payload, sizeof(payload), "{\"seq\":%d}", seq);
        sqlite3_bind_text(row, 1, ext, -1, SQLITE_STATIC);
        sqlite3_bind_text(job, 1, payload, -1, SQLITE_STATIC);
        assert_int_equal(sqlite3_step(row), SQLITE_ROW);
        assert_int_equal(sqlite3_step(job), SQLITE_ROW);
        in_inbox = sqlite3_column_int(row, 0);
        in_jobs = sqlite3_column_int(job, 0);
        sqlite3_reset(row);
        sqlite3_reset(job);
        if (in_inbox != in_jobs || in_inbox > 1)
            fail_msg("%s: write %d half there (inbox %d, jobs %d)", what, seq,
                     in_inbox, in_jobs);
        if (rep->rc[seq] == 0) {
            t->acked++;
            if (!in_inbox)
                fail_msg("%s: committed write %d lost", what, seq);
        } else {
            t->failed_writes++;
            t->back_after_restart += in_inbox;
        }
    }
    sqlite3_finalize(row);
    sqlite3_finalize(job);
    assert_int_equal(sqlite3_close(h), SQLITE_OK);
}

static void ioerr_sweep(void **state)
{
    char *dir = sgt_tmpdir();
    char tmpl[480], db[480], out[480], what[96];
    struct sgt_vfs_faults none = {0, 0, false};
    struct report rep;
    struct tally t;
    long n_writes, n_syncs;
    int status;

    SG_UNUSED(state);
    assert_non_null(dir);
    memset(&t, 0, sizeof(t));
    snprintf(tmpl, sizeof(tmpl), "%s/template.db", dir);
    snprintf(db, sizeof(db), "%s/run.db", dir);
    snprintf(out, sizeof(out), "%s/report", dir);

    /* The template: a migrated, empty store; then the clean count. */
    status = fork_wait(RUN_TEMPLATE, tmpl, NULL, NULL);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(copy_file(tmpl, db), 0);
    status = fork_wait(RUN_FAULTS, db, out, &none);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    read_report(out, &rep);
    assert_true(rep.done);
    for (int i = 0; i < WRITES; i++)
        assert_int_equal(rep.rc[i], 0);
    n_writes = rep.writes;
    n_syncs = rep.syncs;
    assert_true(n_writes > 0 && n_syncs > 0);
    print_message("D4: %d writes in %d group commits and a close: %ld write "
                  "calls, %ld syncs\n",
                  WRITES, GROUPS, n_writes, n_syncs);

    for (int kind = 0; kind < 2; kind++) {
        for (int persist = 0; persist < 2; persist++) {
            long n = kind == 0 ? n_writes : n_syncs;

            for (long k = 1; k <= n; k++) {
                struct sgt_vfs_faults f = {kind == 0 ? k : 0,
                                           kind == 1 ? k : 0, persist != 0};

                snprintf(what, sizeof(what), "%s %s %ld",
                         persist ? "persistent" : "transient",
                         kind == 0 ? "write" : "sync", k);
                unlink(db);
                {
                    char wal[500], shm[500];

                    snprintf(wal, sizeof(wal), "%s-wal", db);
                    snprintf(shm, sizeof(shm), "%s-shm", db);
                    unlink(wal);
                    unlink(shm);
                }
                assert_int_equal(copy_file(tmpl, db), 0);
                status = fork_wait(RUN_FAULTS, db, out, &f);
                if (WIFSIGNALED(status))
                    fail_msg("%s: the store crashed (signal %d)", what,
                             WTERMSIG(status));
                if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                    t.exits_nonzero++;
                read_report(out, &rep);
                check_run(db, &rep, what, &t);
                status = fork_wait(RUN_RECOVER, db, NULL, NULL);
                if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                    fail_msg("%s: the store did not take a write after a "
                             "restart (status %d)",
                             what, status);
                t.runs++;
            }
        }
    }
    print_message("D4: %ld runs (write and sync faults, transient and "
                  "persistent), %ld committed writes kept, %ld writes "
                  "reported failed, %ld of those back after the restart "
                  "(complete in the WAL), %ld runs ended non-zero; 0 "
                  "crashes, 0 half writes, 0 committed writes lost, "
                  "integrity ok, every store took a write after\n",
                  t.runs, t.acked, t.failed_writes, t.back_after_restart,
                  t.exits_nonzero);
    assert_true(t.failed_writes > 0); /* the faults did reach the writes */
    sg_free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ioerr_sweep),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
