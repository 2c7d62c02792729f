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

/*
 * A statement that must return one id (INSERT ... RETURNING id, or an
 * upsert's): *id_out (may be NULL) receives it. No row back is SG_EIO
 * "<what>: no id returned"; *id_out is untouched then.
 */
int sg_pg_insert_id(void *be, const char *sql, const struct sg_pg_params *p,
                    const char *what, int64_t *id_out, struct sg_err *err);

/*
 * A command that must touch a row (an UPDATE or DELETE by key): none
 * touched is SG_ENOTFOUND with the message missing_fmt formats.
 */
int sg_pg_exec_found(void *be, const char *sql, const struct sg_pg_params *p,
                     const char *what, struct sg_err *err,
                     const char *missing_fmt, ...) SG_PRINTF(6, 7);

/*
 * A row reader: walks the cells of one result row left to right, so a
 * row mapping is the list of its fields in SELECT order with no column
 * numbers to keep in step. A failed copy is remembered (oom) and the walk
 * goes on; sg_pg_row_end says whether any failed.
 */
struct sg_pg_row {
    const PGresult *res;
    int row;
    int col; /* the next cell to read */
    bool oom;
};

void sg_pg_row_at(struct sg_pg_row *rd, const PGresult *res, int row);
/* Whether the next cell is SQL NULL (it is not consumed). */
bool sg_pg_col_null(const struct sg_pg_row *rd);
/* The next cell as a number; NULL reads 0. */
int64_t sg_pg_col_i64(struct sg_pg_row *rd);
/* The next cell as a flag: a number other than 0. */
bool sg_pg_col_bool(struct sg_pg_row *rd);
/* The next cell into a capped buffer (truncating); NULL reads "". */
void sg_pg_col_str(struct sg_pg_row *rd, char *out, size_t cap);
#define SG_PG_COL_STR(rd, arr) sg_pg_col_str((rd), (arr), sizeof(arr))
/* The next cell as a new string (sg_free); NULL for SQL NULL. */
char *sg_pg_col_dup(struct sg_pg_row *rd);
/* The next cell as the result holds it (borrowed); NULL for SQL NULL. */
const char *sg_pg_col_raw(struct sg_pg_row *rd);
/* Note an allocation the row mapping made itself that failed. */
void sg_pg_row_oom(struct sg_pg_row *rd);
/* 0, or SG_ENOMEM when a copy of this row failed. */
int sg_pg_row_end(const struct sg_pg_row *rd);

/*
 * How one kind of row maps: fill sets *row from the reader (0, or
 * SG_ENOMEM with the row possibly half filled); release (NULL when fill
 * allocates nothing) frees what a fill left and leaves the row safe to
 * release again.
 */
struct sg_pg_rowtype {
    size_t size;
    int (*fill)(struct sg_pg_row *rd, void *row);
    void (*release)(void *row);
};

/* The rowtype of TYPE rows: SG_PG_ROWTYPE(struct sg_x, fill_x, NULL). */
#define SG_PG_ROWTYPE(type, fill_fn, release_fn)                               \
    {.size = sizeof(type), .fill = (fill_fn), .release = (release_fn)}

/*
 * The first row of a query into out. No row is SG_ENOTFOUND: with the
 * message missing when it is not NULL, bare (err untouched) when it is,
 * for callers that word the message themselves or take "none" as an
 * answer. A failed fill releases out and is SG_ENOMEM.
 */
int sg_pg_get(void *be, const char *sql, const struct sg_pg_params *p,
              const char *what, const struct sg_pg_rowtype *t, void *out,
              const char *missing, struct sg_err *err);

/*
 * Up to max rows of a query into a new array (*out, sg_free after
 * releasing each row; never NULL on success, even with no row) and their
 * count *n_out. On error nothing is returned and nothing is left.
 */
int sg_pg_list(void *be, const char *sql, const struct sg_pg_params *p,
               const char *what, const struct sg_pg_rowtype *t, size_t max,
               void **out, size_t *n_out, struct sg_err *err);

/* sg_pg_list's decoding alone, for a result already in hand (the
 * RETURNING rows of an UPDATE, say). */
int sg_pg_rows(const PGresult *r, const struct sg_pg_rowtype *t, size_t max,
               void **out, size_t *n_out, struct sg_err *err);

/*
 * Up to max rows of a query into the caller's array rows (max elements
 * of t->size), *n_out how many. For rows that allocate nothing
 * (t->release NULL): a failed fill is SG_ENOMEM with *n_out 0.
 */
int sg_pg_into(void *be, const char *sql, const struct sg_pg_params *p,
               const char *what, const struct sg_pg_rowtype *t, void *rows,
               size_t max, size_t *n_out, struct sg_err *err);

/*
 * The first cell of a query's first row as a number into *out (a count,
 * a MAX); no row leaves *out as it was, a NULL cell reads 0.
 */
int sg_pg_scalar(void *be, const char *sql, const struct sg_pg_params *p,
                 const char *what, int64_t *out, struct sg_err *err);

/*
 * A query of (k, count) rows, as a GROUP BY of a small code gives them:
 * by[k] = count for each 0 <= k < n; other k are ignored, by is not
 * cleared first.
 */
int sg_pg_tally(void *be, const char *sql, const struct sg_pg_params *p,
                const char *what, int64_t *by, size_t n, struct sg_err *err);

/* A rowtype for a query whose row is one number (out: int64_t). */
extern const struct sg_pg_rowtype sg_pg_row_i64;

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
