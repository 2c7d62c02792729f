/*
 * test_store_walbuf.c - the VFS that gathers a transaction's WAL frames
 * into one write (src/store/sqlite/walbuf.c): a commit of many pages
 * costs a few write calls instead of two per page, and what the file
 * holds whenever another connection may look is what SQLite wrote: a
 * reader on the default VFS sees every committed row at once, a
 * transaction larger than the buffer and the page cache (frames spilled
 * and read back, then rolled back) leaves nothing behind, and the
 * database checks clean after a checkpoint and a reopen.
 */
#include "core/sg.h"

#include <sqlite3.h>
#include <stdio.h>
#include <unistd.h>

#include "store/sqlite/walbuf.h"
#include "testlib.h"

/* Write calls this process has made (/proc/self/io syscw). */
static long write_calls(void)
{
    FILE *f = fopen("/proc/self/io", "r");
    char line[128];
    long v = -1;

    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "syscw: %ld", &v) == 1)
            break;
    fclose(f);
    return v;
}

static sqlite3 *open_db(const char *path, const char *vfs)
{
    sqlite3 *db = NULL;

    assert_int_equal(sqlite3_open_v2(path, &db,
                                     SQLITE_OPEN_READWRITE |
                                         SQLITE_OPEN_CREATE,
                                     vfs),
                     SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "PRAGMA journal_mode = WAL; "
                                  "PRAGMA synchronous = FULL; "
                                  "PRAGMA wal_autocheckpoint = 0",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    return db;
}

static int64_t count(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    int64_t v = -1;

    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* n rows of ~1 KB each in one transaction. */
static int fill(sqlite3 *db, int from, int n, bool commit)
{
    char sql[160];
    int rc;

    rc = sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    snprintf(sql, sizeof(sql),
             "WITH RECURSIVE k(i) AS (SELECT %d UNION ALL SELECT i + 1 "
             "FROM k WHERE i < %d) INSERT INTO t SELECT i, randomblob(1000) "
             "FROM k",
             from, from + n - 1);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, commit ? "COMMIT" : "ROLLBACK", NULL, NULL,
                          NULL);
    if (rc != SQLITE_OK)
        print_message("fill: %s\n", sqlite3_errmsg(db));
    return rc;
}

static void frames_in_one_write(void **state)
{
    const char *vfs = sg_sqlite_walbuf_vfs();
    char *dir = sgt_tmpdir(), *path = sgt_path(dir, "w.db");
    sqlite3 *w, *r;
    long before, calls;

    SG_UNUSED(state);
    assert_non_null(vfs);
    w = open_db(path, vfs);
    r = open_db(path, NULL); /* a reader on the default VFS */
    assert_int_equal(sqlite3_exec(w, "CREATE TABLE t (id INTEGER PRIMARY "
                                     "KEY, b BLOB)",
                                  NULL, NULL, NULL),
                     SQLITE_OK);

    /* ~200 pages in one commit: two write calls per frame without the
     * buffer (about 400); with it a handful. */
    before = write_calls();
    assert_int_equal(fill(w, 1, 600, true), SQLITE_OK);
    calls = write_calls() - before;
    assert_true(before >= 0);
    if (calls > 20)
        fail_msg("%ld write calls for one commit of ~200 pages", calls);
    /* Committed means readable by another connection at once. */
    assert_int_equal(count(r, "SELECT COUNT(*) FROM t"), 600);

    /* Larger than the buffer (1 MB) and the writer's page cache: frames
     * are spilled, read back, then rolled back. */
    assert_int_equal(sqlite3_exec(w, "PRAGMA cache_size = 50", NULL, NULL,
                                  NULL),
                     SQLITE_OK);
    assert_int_equal(fill(w, 1000, 3000, false), SQLITE_OK);
    assert_int_equal(count(r, "SELECT COUNT(*) FROM t"), 600);
    assert_int_equal(fill(w, 1000, 3000, true), SQLITE_OK);
    assert_int_equal(count(r, "SELECT COUNT(*) FROM t"), 3600);
    assert_int_equal(count(w, "SELECT COUNT(*) FROM t WHERE id >= 1000"),
                     3000);

    /* A checkpoint copies the frames from the file; then a reopen. */
    assert_int_equal(sqlite3_wal_checkpoint_v2(w, NULL,
                                               SQLITE_CHECKPOINT_TRUNCATE,
                                               NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(r);
    sqlite3_close(w);
    r = open_db(path, NULL);
    assert_int_equal(count(r, "SELECT COUNT(*) FROM t"), 3600);
    assert_int_equal(count(r, "SELECT COUNT(*) FROM pragma_integrity_check "
                              "WHERE integrity_check <> 'ok'"),
                     0);
    sqlite3_close(r);
    (void)unlink(path);
    free(path);
    (void)rmdir(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(frames_in_one_write),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
