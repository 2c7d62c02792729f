/*
 * pgutil.h - statement plumbing of the PostgreSQL backend, shared by the
 * store's core ops (pg.c) and the feature modules' PostgreSQL files
 * (catalog, orders, channels, listings), so each keeps only its SQL and
 * row mapping.
 *
 * Parameters travel as text (bytes as binary), results come back as
 * text. Every statement is prepared on its connection on first use and
 * kept until the connection closes or is reset. A connection is used by
 * one thread at a time, as in the SQLite backend.
 */
#ifndef SG_STORE_POSTGRES_PGUTIL_H
#define SG_STORE_POSTGRES_PGUTIL_H

#include "core/sg.h"
#include "core/err.h"

#include <libpq-fe.h>

/* The most parameters one statement of Surge binds. */
#define SG_PG_PARAMS_MAX 40

struct sg_pg_params {
    int n;
    bool overflow; /* more than SG_PG_PARAMS_MAX were added */
    const char *val[SG_PG_PARAMS_MAX];
    int len[SG_PG_PARAMS_MAX];
    int fmt[SG_PG_PARAMS_MAX];
    char num[SG_PG_PARAMS_MAX][24];
};

void sg_pg_params_init(struct sg_pg_params *p);
void sg_pg_int(struct sg_pg_params *p, int64_t v);
/* NULL binds SQL NULL; the text must outlive the sg_pg_exec call. */
void sg_pg_text(struct sg_pg_params *p, const char *s);
/* Binary (bytea) parameter; NULL/0 binds an empty value. */
void sg_pg_bytes(struct sg_pg_params *p, const void *b, size_t n);

/*
 * Run sql with p (NULL = no parameters). *res_out (may be NULL) receives
 * the rows of a query; the caller releases it with PQclear. changes_out
 * (may be NULL) receives the rows a command touched. Errors map to SG_E*:
 * unique violation SG_EEXISTS, other constraint SG_EINVAL, disk full
 * SG_EFULL, lock or serialisation failure SG_EBUSY, anything else SG_EIO.
 * An error inside a transaction leaves it aborted: the store's writer
 * rolls back to the write's savepoint, so a write must return its error
 * rather than run more SQL after one.
 */
int sg_pg_exec(void *be, const char *sql, const struct sg_pg_params *p,
               PGresult **res_out, int64_t *changes_out, const char *what,
               struct sg_err *err);

/*
 * sg_pg_exec with the parameters as libpq takes them (n of them, beyond
 * SG_PG_PARAMS_MAX when a statement binds many rows): val[i] text or
 * bytes, len[i] the length of a binary one, fmt[i] 0 text, 1 binary.
 */
int sg_pg_exec_n(void *be, const char *sql, int n, const char *const *val,
                 const int *len, const int *fmt, PGresult **res_out,
                 int64_t *changes_out, const char *what, struct sg_err *err);

/* Cells of a text-format result; SQL NULL reads as 0, "" or NULL. */
bool sg_pg_is_null(const PGresult *r, int row, int col);
int64_t sg_pg_i64(const PGresult *r, int row, int col);
void sg_pg_copy(const PGresult *r, int row, int col, char *out, size_t cap);
/* A new string (sg_free); NULL for SQL NULL, with *oom set when the copy
 * failed. */
char *sg_pg_dup(const PGresult *r, int row, int col, bool *oom);

/*
 * The dispatcher's heartbeat on PostgreSQL (store.h,
 * sg_store_tx_job_extend): lease_until = until for the RUNNING job id held
 * under lease_token; SG_ESTALE when the lease has moved on.
 */
int sg_pg_job_extend(void *be, int64_t id, int64_t lease_token,
                     int64_t until, struct sg_err *err);

/* The connection behind a PostgreSQL backend handle (borrowed). */
PGconn *sg_pg_conn(void *be);

#endif
