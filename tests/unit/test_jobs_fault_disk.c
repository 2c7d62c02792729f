/*
 * test_jobs_fault_disk.c - a full disk under load (reliability D3): the
 * store's writes fail cleanly with a retryable SG_EFULL (the engine turns
 * a failed write into 503 storage_unavailable), nothing acknowledged is
 * lost, the file passes PRAGMA integrity_check, and writes succeed again
 * once space returns.
 *
 * Two ways to fill the disk:
 * - a real 16 MiB tmpfs, filled by a file while writes keep coming. It
 *   needs a private mount namespace (root, or an unprivileged user
 *   namespace); without one the test is skipped and says why;
 * - without privileges: PRAGMA max_page_count on the store's own writer
 *   connection caps the database a few pages above its size, so SQLite
 *   answers SQLITE_FULL exactly as on a full disk.
 * SG_SOAK_SCALE multiplies the write counts; every loop is bounded.
 */
/* unshare() and the CLONE_* flags are GNU extensions. */
#define _GNU_SOURCE 1
#include "core/sg.h"

#include <setjmp.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "core/log.h"
#include "store/store.h"
#include "testlib.h"

#define BODY_LEN 2048

static int soak_scale(void)
{
    const char *v = getenv("SG_SOAK_SCALE");
    long n = v ? strtol(v, NULL, 10) : 1;

    return n < 1 ? 1 : n > 1000 ? 1000 : (int)n;
}

/* The tmpfs mount point, or NULL with the reason in no_tmpfs. */
static char *tmpfs_dir;
static char no_tmpfs[200];

static int write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY);
    ssize_t n;

    if (fd < 0)
        return -1;
    n = write(fd, text, strlen(text));
    close(fd);
    return n == (ssize_t)strlen(text) ? 0 : -1;
}

/*
 * Single-threaded, before any test: a private mount namespace with a
 * 16 MiB tmpfs in a fresh folder. As root CLONE_NEWNS is enough; else try
 * a user namespace that maps us to root.
 */
static void tmpfs_try(void)
{
    char *dir = sgt_tmpdir();
    uid_t uid = getuid();
    gid_t gid = getgid();

    if (!dir) {
        snprintf(no_tmpfs, sizeof(no_tmpfs), "no temporary folder");
        return;
    }
    if (unshare(CLONE_NEWNS) != 0) {
        char map[64];

        if (unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) {
            snprintf(no_tmpfs, sizeof(no_tmpfs),
                     "cannot create a mount namespace (unshare: %s)",
                     strerror(errno));
            goto fail;
        }
        snprintf(map, sizeof(map), "0 %u 1", (unsigned)uid);
        write_file("/proc/self/setgroups", "deny");
        write_file("/proc/self/uid_map", map);
        snprintf(map, sizeof(map), "0 %u 1", (unsigned)gid);
        write_file("/proc/self/gid_map", map);
    }
    if (mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
        mount("tmpfs", dir, "tmpfs", 0, "size=16m,mode=0700") != 0) {
        snprintf(no_tmpfs, sizeof(no_tmpfs), "cannot mount a tmpfs (%s)",
                 strerror(errno));
        goto fail;
    }
    tmpfs_dir = dir;
    return;
fail:
    rmdir(dir);
    sg_free(dir);
}

/* ---- the load ---- */

struct row {
    char ext[32];
    char msg[256];
    atomic_int rc;     /* 1 = pending */
    atomic_bool retryable;
};

struct fx {
    char *dir, *db;
    struct sg_store *store;
};

static void fx_open(struct fx *f, const char *dir)
{
    struct sg_store_cfg cfg;
    struct sg_err err;

    f->db = sgt_path(dir, "surge.db");
    sg_store_cfg_defaults(&cfg);
    cfg.backend = "sqlite";
    cfg.path = f->db;
    sg_err_init(&err);
    if (sg_store_open(&f->store, &cfg, NULL, &err) != 0)
        fail_msg("store open: %s", err.msg);
}

static void fx_reopen(struct fx *f)
{
    struct sg_store_cfg cfg;
    struct sg_err err;

    sg_store_free(f->store);
    sg_store_cfg_defaults(&cfg);
    cfg.backend = "sqlite";
    cfg.path = f->db;
    sg_err_init(&err);
    if (sg_store_open(&f->store, &cfg, NULL, &err) != 0)
        fail_msg("store reopen: %s", err.msg);
}

static char body[BODY_LEN + 1];

static int inbox_write(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    struct row *r = arg;
    int64_t id;
    bool dup;

    return sg_store_tx_inbox_insert(tx, 0, "d3", r->ext, body, BODY_LEN, &id,
                                    &dup, err);
}

static void row_done(void *arg, int rc, const struct sg_err *err)
{
    struct row *r = arg;

    atomic_store(&r->retryable, err ? err->retryable : false);
    snprintf(r->msg, sizeof(r->msg), "%s", err ? err->msg : "");
    atomic_store(&r->rc, rc);
}

/* Submit one row (waiting out back-pressure) without waiting for it. */
static void submit(struct fx *f, struct row *r)
{
    atomic_store(&r->rc, 1);
    for (int k = 0; k < 5000; k++) {
        if (sg_store_submit(f->store, inbox_write, row_done, r) == 0)
            return;
        usleep(1000);
    }
    fail_msg("write queue never drained");
}

static void wait_rows(struct row *rows, int n)
{
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < 20000 && atomic_load(&rows[i].rc) == 1; k++)
            usleep(500);
        assert_int_not_equal(atomic_load(&rows[i].rc), 1);
    }
}

/* Every acknowledged row is there, and the file is sound. */
static void check_acked(struct fx *f, struct row *rows, int n, int *acked_out)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int acked = 0;

    for (int i = 0; i < n; i++) {
        struct sg_inbox in;
        struct sg_err err;

        if (atomic_load(&rows[i].rc) != 0)
            continue;
        acked++;
        memset(&in, 0, sizeof(in));
        sg_err_init(&err);
        if (sg_store_inbox_get_by_external(f->store, "d3", rows[i].ext, &in,
                                           &err) != 0)
            fail_msg("acknowledged row %s lost: %s", rows[i].ext, err.msg);
        assert_int_equal(in.body_len, BODY_LEN);
        sg_inbox_free(&in);
    }
    assert_int_equal(sqlite3_open_v2(f->db, &db, SQLITE_OPEN_READONLY, NULL),
                     SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st,
                                        NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
    sqlite3_finalize(st);
    sqlite3_close(db);
    *acked_out = acked;
}

/* Space came back: the failed rows go in on retry, within a bound. */
static int retry_failed(struct fx *f, struct row *rows, int n)
{
    int tries = 0;

    for (int i = 0; i < n; i++) {
        for (int k = 0; atomic_load(&rows[i].rc) != 0; k++) {
            if (k == 1000)
                fail_msg("row %s still failing after space returned",
                         rows[i].ext);
            if (k)
                usleep(10000);
            tries++;
            submit(f, &rows[i]);
            wait_rows(&rows[i], 1);
        }
    }
    return tries;
}

static struct row *make_rows(int n)
{
    struct row *rows = sg_calloc((size_t)n, sizeof(*rows));

    assert_non_null(rows);
    for (int i = 0; i < n; i++) {
        snprintf(rows[i].ext, sizeof(rows[i].ext), "d3-%d", i);
        atomic_store(&rows[i].rc, 0);
    }
    return rows;
}

static void rm_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[700];

    while (d && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        unlink(p);
    }
    if (d)
        closedir(d);
}

/* ---- without privileges: max_page_count on the writer connection ---- */

struct limit {
    int64_t extra_pages; /* < 0: lift the limit */
};

static int limit_write(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    struct limit *l = arg;
    sqlite3 *db = sg_sqlite_db(sg_store_tx_backend(tx));
    sqlite3_stmt *st = NULL;
    int64_t pages = 0;
    char sql[80];

    SG_UNUSED(err);
    if (sqlite3_prepare_v2(db, "PRAGMA page_count", -1, &st, NULL) !=
        SQLITE_OK)
        return SG_EIO;
    if (sqlite3_step(st) == SQLITE_ROW)
        pages = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    snprintf(sql, sizeof(sql), "PRAGMA max_page_count = %" PRId64,
             l->extra_pages < 0 ? (int64_t)1073741823
                                : pages + l->extra_pages);
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return SG_EIO;
    return 0;
}

static void test_d3_max_page_count(void **st)
{
    struct fx f;
    int n = 400 * soak_scale(), acked, full = 0, eio = 0, not_retryable = 0;
    int other = 0;
    int tries, acked_before = 0;
    struct row *rows = make_rows(n);
    struct limit lim = {40};
    struct sg_err err;

    SG_UNUSED(st);
    memset(&f, 0, sizeof(f));
    f.dir = sgt_tmpdir();
    assert_non_null(f.dir);
    fx_open(&f, f.dir);
    /* A quarter of the load, then the "disk" is nearly full. */
    for (int i = 0; i < n / 4; i++)
        submit(&f, &rows[i]);
    wait_rows(rows, n / 4);
    sg_err_init(&err);
    assert_int_equal(sg_store_write(f.store, limit_write, &lim, &err), 0);
    for (int i = n / 4; i < n; i++)
        submit(&f, &rows[i]);
    wait_rows(rows, n);
    for (int i = 0; i < n; i++) {
        int rc = atomic_load(&rows[i].rc);

        full += rc == SG_EFULL;
        /* SQLite may roll the whole batch back on SQLITE_FULL; the store
         * then fails the batch as SG_EIO "savepoint rollback failed". */
        eio += rc == SG_EIO;
        other += rc != 0 && rc != SG_EFULL && rc != SG_EIO;
        not_retryable += rc != 0 && !atomic_load(&rows[i].retryable);
    }
    check_acked(&f, rows, n, &acked_before);
    print_message("D3 (max_page_count): %d writes, %d acknowledged, %d "
                  "SG_EFULL, %d SG_EIO, %d other errors, %d not retryable\n",
                  n, acked_before, full, eio, other, not_retryable);
    assert_true(full + eio > 0);
    assert_int_equal(other, 0);
    assert_int_equal(not_retryable, 0);
    /* Space returns: the same writes succeed on retry. */
    lim.extra_pages = -1;
    assert_int_equal(sg_store_write(f.store, limit_write, &lim, &err), 0);
    tries = retry_failed(&f, rows, n);
    assert_int_equal(sg_store_writable(f.store, &err), 0);
    check_acked(&f, rows, n, &acked);
    assert_int_equal(acked, n);
    fx_reopen(&f);
    check_acked(&f, rows, n, &acked);
    assert_int_equal(acked, n);
    print_message("D3 (max_page_count): after space returned, %d retries "
                  "stored all %d rows; integrity ok\n",
                  tries, n);
    sg_store_free(f.store);
    rm_dir(f.dir);
    rmdir(f.dir);
    sg_free(f.db);
    sg_free(f.dir);
    sg_free(rows);
}

/* ---- a real full file system ---- */

static void test_d3_tmpfs(void **st)
{
    struct fx f;
    int n = 3000 * soak_scale(), acked, acked_full, failed = 0;
    int not_retryable = 0, other = 0, full = 0, tries;
    struct row *rows;
    char *filler;
    static char chunk[65536];
    int fd, i, fill_at;
    size_t filled = 0;
    struct sg_err err;

    SG_UNUSED(st);
    if (!tmpfs_dir) {
        print_message("D3 (tmpfs) skipped: %s\n", no_tmpfs);
        skip();
    }
    rows = make_rows(n);
    memset(&f, 0, sizeof(f));
    fx_open(&f, tmpfs_dir);
    filler = sgt_path(tmpfs_dir, "filler");
    memset(chunk, 'x', sizeof(chunk));
    /* Load runs; a tenth of the way in the file system fills up. */
    fill_at = n / 10;
    for (i = 0; i < n; i++) {
        submit(&f, &rows[i]);
        if (i != fill_at)
            continue;
        fd = open(filler, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        assert_true(fd >= 0);
        for (int k = 0; k < 1024; k++) {
            ssize_t w = write(fd, chunk, sizeof(chunk));

            if (w <= 0)
                break;
            filled += (size_t)w;
        }
        close(fd);
    }
    wait_rows(rows, n);
    for (i = 0; i < n; i++) {
        int rc = atomic_load(&rows[i].rc);

        failed += rc != 0;
        full += rc == SG_EFULL;
        other += rc != 0 && rc != SG_EFULL && rc != SG_EIO;
        not_retryable += rc != 0 && !atomic_load(&rows[i].retryable);
    }
    check_acked(&f, rows, n, &acked_full);
    print_message("D3 (tmpfs 16 MiB): %d writes, filler %zu KiB, %d "
                  "acknowledged, %d failed (%d SG_EFULL, %d neither EFULL "
                  "nor EIO, %d not retryable); integrity ok while full\n",
                  n, filled / 1024, acked_full, failed, full, other,
                  not_retryable);
    assert_true(failed > 0);
    assert_int_equal(other, 0);
    assert_int_equal(not_retryable, 0);
    /* Space returns. */
    assert_int_equal(unlink(filler), 0);
    tries = retry_failed(&f, rows, n);
    sg_err_init(&err);
    for (int k = 0; k < 1000 && sg_store_writable(f.store, &err) != 0; k++)
        usleep(10000);
    assert_int_equal(sg_store_writable(f.store, &err), 0);
    check_acked(&f, rows, n, &acked);
    assert_int_equal(acked, n);
    fx_reopen(&f);
    check_acked(&f, rows, n, &acked);
    assert_int_equal(acked, n);
    print_message("D3 (tmpfs): space freed, %d retries stored all %d rows; "
                  "integrity ok after reopen\n",
                  tries, n);
    sg_store_free(f.store);
    rm_dir(tmpfs_dir);
    sg_free(filler);
    sg_free(f.db);
    sg_free(rows);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_d3_max_page_count),
        cmocka_unit_test(test_d3_tmpfs),
    };
    int rc;

    memset(body, 'b', BODY_LEN);
    tmpfs_try();
    sg_log_set_level(SG_LOG_ERR);
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    if (tmpfs_dir) {
        umount2(tmpfs_dir, MNT_DETACH);
        rmdir(tmpfs_dir);
        sg_free(tmpfs_dir);
    }
    return rc;
}
