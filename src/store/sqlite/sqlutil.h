/*
 * sqlutil.h - statement plumbing shared by the SQLite files of feature
 * modules (catalog, channels, listings, events, orders), so each keeps only
 * its SQL and row mapping.
 *
 * Binders keep the first failure in *rc, so a statement's binds are
 * checked once, at sg_sql_run(). Statements come from the connection's
 * cache (sg_sqlite_acquire) and go back to it through sg_sql_run() or,
 * after the caller has read rows, sg_sql_end(): never sqlite3_finalize.
 */
#ifndef SG_STORE_SQLITE_SQLUTIL_H
#define SG_STORE_SQLITE_SQLUTIL_H

#include "core/sg.h"
#include "core/err.h"

#include <sqlite3.h>

/* Prepare sql on the backend handle's connection; *st is NULL on error. */
int sg_sql_prep(void *be, const char *sql, sqlite3_stmt **st,
                struct sg_err *err);
/* Hand a statement from sg_sql_prep back (reset; NULL is fine). */
void sg_sql_end(void *be, sqlite3_stmt *st);
void sg_sql_bind_int(sqlite3_stmt *st, int i, int64_t v, int *rc);
/* NULL binds SQL NULL; the text must outlive the statement's run. */
void sg_sql_bind_text(sqlite3_stmt *st, int i, const char *s, int *rc);
/* A column's text as a new string; NULL for SQL NULL (and *oom set when
 * the copy failed). */
char *sg_sql_col_dup(sqlite3_stmt *st, int i, bool *oom);
/* A column's text into out ("" for NULL), truncated to fit. */
void sg_sql_col_copy(sqlite3_stmt *st, int i, char *out, size_t out_len);
/*
 * Step a statement that returns no rows (or whose rows are ignored),
 * hand it back (sg_sql_end), map errors to SG_E*. bind_rc is the binders' result.
 * changes_out (may be NULL) receives sqlite3_changes().
 */
int sg_sql_run(void *be, sqlite3_stmt *st, int bind_rc, const char *what,
               int *changes_out, struct sg_err *err);

/*
 * A row reader: walks the columns of the row a statement stands on left
 * to right, so a row mapping is the list of its fields in SELECT order
 * with no column numbers to keep in step (the twin of sg_pg_row). A
 * failed copy is remembered (oom) and the walk goes on; sg_sql_row_end
 * says whether any failed.
 */
struct sg_sql_row {
    sqlite3_stmt *st;
    int col; /* the next column to read */
    bool oom;
};

void sg_sql_row_at(struct sg_sql_row *rd, sqlite3_stmt *st);
/* The next column as a number; NULL reads 0. */
int64_t sg_sql_rd_i64(struct sg_sql_row *rd);
int sg_sql_rd_int(struct sg_sql_row *rd);
/* The next column as a flag: a number other than 0. */
bool sg_sql_rd_bool(struct sg_sql_row *rd);
/* The next column into a capped buffer (truncating); NULL reads "". */
void sg_sql_rd_str(struct sg_sql_row *rd, char *out, size_t cap);
#define SG_SQL_RD_STR(rd, arr) sg_sql_rd_str((rd), (arr), sizeof(arr))
/* The next column's text as a new string (sg_free); NULL for SQL NULL. */
char *sg_sql_rd_dup(struct sg_sql_row *rd);
/* The next column's bytes as a new NUL-terminated buffer (sg_free), its
 * length in *len_out (may be NULL; embedded NULs kept); NULL for SQL
 * NULL. */
char *sg_sql_rd_blob(struct sg_sql_row *rd, size_t *len_out);
/* The next column as the statement holds it (borrowed until the next
 * step or reset); NULL for SQL NULL. */
const char *sg_sql_rd_raw(struct sg_sql_row *rd);
/* Note an allocation the row mapping made itself that failed. */
void sg_sql_row_oom(struct sg_sql_row *rd);
/* 0, or SG_ENOMEM when a copy of this row failed. */
int sg_sql_row_end(const struct sg_sql_row *rd);

/*
 * How one kind of row maps: fill sets *row (zeroed first) from the
 * reader, 0 or SG_ENOMEM with the row possibly half filled; release (NULL
 * when fill allocates nothing) frees what a fill left.
 */
struct sg_sql_rowtype {
    size_t size;
    int (*fill)(struct sg_sql_row *rd, void *row);
    void (*release)(void *row);
};

#define SG_SQL_ROWTYPE(type, fill_fn, release_fn)                              \
    {.size = sizeof(type), .fill = (fill_fn), .release = (release_fn)}

/* A rowtype for a query whose row is one number (out: int64_t). */
extern const struct sg_sql_rowtype sg_sql_row_i64;

/*
 * Zero row and fill it from the row st stands on; a failed fill releases
 * what it left and is SG_ENOMEM (err untouched).
 */
int sg_sql_fill(sqlite3_stmt *st, const struct sg_sql_rowtype *t, void *row);

/*
 * Step a bound statement once into out (zeroed, then filled), and hand
 * the statement back (sg_sql_end). bind_rc is the binders' result; a
 * bind or step failure is "<what>: <sqlite message>". No row is
 * SG_ENOTFOUND: with the message missing when it is not NULL, bare (err
 * untouched) when it is. A failed fill releases out and is SG_ENOMEM
 * "out of memory".
 */
int sg_sql_get(void *be, sqlite3_stmt *st, int bind_rc, const char *what,
               const struct sg_sql_rowtype *t, void *out,
               const char *missing, struct sg_err *err);

/*
 * Step a bound statement into up to max rows of a new array (*out,
 * sg_free after releasing each row; NULL when there is no row) and their
 * count *n_out. The array starts at SG_MIN(max, 16) rows and doubles. On
 * error nothing is returned and nothing is left. The statement is left
 * as it is (not reset): sg_sql_list hands it back, the store's core
 * resets its own.
 */
int sg_sql_fetch(void *be, sqlite3_stmt *st, const char *what,
                 const struct sg_sql_rowtype *t, size_t max, void **out,
                 size_t *n_out, struct sg_err *err);

/*
 * sg_sql_fetch of a statement from sg_sql_prep, then sg_sql_end. *out is
 * never NULL on success, even with no row. A bind failure (bind_rc) is
 * "<what>: <sqlite message>".
 */
int sg_sql_list(void *be, sqlite3_stmt *st, int bind_rc, const char *what,
                const struct sg_sql_rowtype *t, size_t max, void **out,
                size_t *n_out, struct sg_err *err);

#endif
