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

/* ---- the row reader ---- */

void sg_sql_row_at(struct sg_sql_row *rd, sqlite3_stmt *st)
{
    rd->st = st;
    rd->col = 0;
    rd->oom = false;
}

int64_t sg_sql_rd_i64(struct sg_sql_row *rd)
{
    return sqlite3_column_int64(rd->st, rd->col++);
}

int sg_sql_rd_int(struct sg_sql_row *rd)
{
    return sqlite3_column_int(rd->st, rd->col++);
}

bool sg_sql_rd_bool(struct sg_sql_row *rd)
{
    return sqlite3_column_int(rd->st, rd->col++) != 0;
}

void sg_sql_rd_str(struct sg_sql_row *rd, char *out, size_t cap)
{
    sg_sql_col_copy(rd->st, rd->col++, out, cap);
}

char *sg_sql_rd_dup(struct sg_sql_row *rd)
{
    return sg_sql_col_dup(rd->st, rd->col++, &rd->oom);
}

char *sg_sql_rd_blob(struct sg_sql_row *rd, size_t *len_out)
{
    int i = rd->col++;
    const void *p;
    size_t n;
    char *s;

    if (len_out)
        *len_out = 0;
    if (sqlite3_column_type(rd->st, i) == SQLITE_NULL)
        return NULL;
    p = sqlite3_column_blob(rd->st, i);
    n = (size_t)sqlite3_column_bytes(rd->st, i);
    s = sg_alloc(n + 1);
    if (!s) {
        rd->oom = true;
        return NULL;
    }
    if (n)
        memcpy(s, p, n);
    s[n] = '\0';
    if (len_out)
        *len_out = n;
    return s;
}

const char *sg_sql_rd_raw(struct sg_sql_row *rd)
{
    return (const char *)sqlite3_column_text(rd->st, rd->col++);
}

void sg_sql_row_oom(struct sg_sql_row *rd)
{
    rd->oom = true;
}

int sg_sql_row_end(const struct sg_sql_row *rd)
{
    return rd->oom ? SG_ENOMEM : 0;
}

/* ---- statements into rows ---- */

static int fill_i64(struct sg_sql_row *rd, void *row)
{
    *(int64_t *)row = sg_sql_rd_i64(rd);
    return 0;
}

const struct sg_sql_rowtype sg_sql_row_i64 =
    SG_SQL_ROWTYPE(int64_t, fill_i64, NULL);

int sg_sql_fill(sqlite3_stmt *st, const struct sg_sql_rowtype *t, void *row)
{
    struct sg_sql_row rd;

    memset(row, 0, t->size);
    sg_sql_row_at(&rd, st);
    if (t->fill(&rd, row) == 0)
        return 0;
    if (t->release)
        t->release(row);
    return SG_ENOMEM;
}

int sg_sql_get(void *be, sqlite3_stmt *st, int bind_rc, const char *what,
               const struct sg_sql_rowtype *t, void *out,
               const char *missing, struct sg_err *err)
{
    int rc = bind_rc == SQLITE_OK ? sqlite3_step(st) : bind_rc;

    if (rc == SQLITE_ROW)
        rc = sg_sql_fill(st, t, out) ? sg_err_set(err, SG_ENOMEM, "out of memory")
                                  : 0;
    else if (rc == SQLITE_DONE)
        rc = missing ? sg_err_set(err, SG_ENOTFOUND, "%s", missing)
                     : SG_ENOTFOUND;
    else
        rc = sg_sqlite_error(be, rc, what, err);
    sg_sql_end(be, st);
    return rc;
}

int sg_sql_fetch(void *be, sqlite3_stmt *st, const char *what,
                 const struct sg_sql_rowtype *t, size_t max, void **out,
                 size_t *n_out, struct sg_err *err)
{
    unsigned char *rows = NULL;
    size_t n = 0, cap = 0;
    int rc = 0, src;

    *out = NULL;
    *n_out = 0;
    while (n < max) {
        src = sqlite3_step(st);
        if (src == SQLITE_DONE)
            break;
        if (src != SQLITE_ROW) {
            rc = sg_sqlite_error(be, src, what, err);
            goto fail;
        }
        if (n == cap) {
            size_t ncap = cap ? SG_MIN(cap * 2, max) : SG_MIN(max, 16);
            unsigned char *nrows = sg_realloc(rows, ncap * t->size);

            if (!nrows) {
                rc = sg_err_set(err, SG_ENOMEM, "out of memory");
                goto fail;
            }
            rows = nrows;
            cap = ncap;
        }
        if (sg_sql_fill(st, t, rows + n * t->size) != 0) {
            rc = sg_err_set(err, SG_ENOMEM, "out of memory");
            goto fail; /* sg_sql_fill released the half-filled row */
        }
        n++;
    }
    *out = rows;
    *n_out = n;
    return 0;
fail:
    for (size_t i = 0; t->release && i < n; i++)
        t->release(rows + i * t->size);
    sg_free(rows);
    return rc;
}

int sg_sql_list(void *be, sqlite3_stmt *st, int bind_rc, const char *what,
                const struct sg_sql_rowtype *t, size_t max, void **out,
                size_t *n_out, struct sg_err *err)
{
    int rc;

    *out = NULL;
    *n_out = 0;
    if (bind_rc != SQLITE_OK)
        rc = sg_sqlite_error(be, bind_rc, what, err);
    else
        rc = sg_sql_fetch(be, st, what, t, max, out, n_out, err);
    if (!rc && !*out) {
        /* No row: still an array, as the callers free theirs. */
        *out = sg_calloc(1, t->size);
        if (!*out)
            rc = sg_err_set(err, SG_ENOMEM, "out of memory");
    }
    sg_sql_end(be, st);
    return rc;
}
