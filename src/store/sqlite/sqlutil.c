/*
 * sqlutil.c - shared statement helpers for feature modules' SQLite code.
 */
#include "store/sqlite/sqlutil.h"
#include "core/alloc.h"
#include "store/store.h"

int sg_sql_prep(void *be, const char *sql, sqlite3_stmt **st,
                struct sg_err *err)
{
    int rc = sg_sqlite_acquire(be, sql, st);

    if (rc != SQLITE_OK) {
        *st = NULL;
        return sg_sqlite_error(be, rc, "prepare", err);
    }
    return 0;
}

void sg_sql_end(void *be, sqlite3_stmt *st)
{
    sg_sqlite_release(be, st);
}

void sg_sql_bind_int(sqlite3_stmt *st, int i, int64_t v, int *rc)
{
    if (*rc == SQLITE_OK)
        *rc = sqlite3_bind_int64(st, i, v);
}

void sg_sql_bind_text(sqlite3_stmt *st, int i, const char *s, int *rc)
{
    if (*rc != SQLITE_OK)
        return;
    *rc = s ? sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC)
            : sqlite3_bind_null(st, i);
}

char *sg_sql_col_dup(sqlite3_stmt *st, int i, bool *oom)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    char *s;

    if (!t)
        return NULL;
    s = sg_strndup((const char *)t, (size_t)sqlite3_column_bytes(st, i));
    if (!s && oom)
        *oom = true;
    return s;
}

void sg_sql_col_copy(sqlite3_stmt *st, int i, char *out, size_t out_len)
{
    const unsigned char *t = sqlite3_column_text(st, i);

    snprintf(out, out_len, "%s", t ? (const char *)t : "");
}

int sg_sql_run(void *be, sqlite3_stmt *st, int bind_rc, const char *what,
               int *changes_out, struct sg_err *err)
{
    int rc = bind_rc == SQLITE_OK ? sqlite3_step(st) : bind_rc;

    if (rc == SQLITE_ROW || rc == SQLITE_DONE) {
        if (changes_out)
            *changes_out = sqlite3_changes(sg_sqlite_db(be));
        rc = 0;
    } else {
        rc = sg_sqlite_error(be, rc, what, err);
    }
    sg_sql_end(be, st);
    return rc;
}
