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

#endif
