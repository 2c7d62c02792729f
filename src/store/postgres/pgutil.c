/*
 * pgutil.c - parameters and result cells for the PostgreSQL backend
 * (sg_pg_exec itself lives in pg.c, next to the connection it caches
 * statements on).
 */
#include "core/sg.h"

#include "core/alloc.h"
#include "store/postgres/pgutil.h"

void sg_pg_params_init(struct sg_pg_params *p)
{
    p->n = 0;
    p->overflow = false;
}

static int slot(struct sg_pg_params *p)
{
    if (p->n >= SG_PG_PARAMS_MAX) {
        p->overflow = true;
        return -1;
    }
    return p->n++;
}

void sg_pg_int(struct sg_pg_params *p, int64_t v)
{
    int i = slot(p);

    if (i < 0)
        return;
    snprintf(p->num[i], sizeof(p->num[i]), "%" PRId64, v);
    p->val[i] = p->num[i];
    p->len[i] = 0;
    p->fmt[i] = 0;
}

void sg_pg_text(struct sg_pg_params *p, const char *s)
{
    int i = slot(p);

    if (i < 0)
        return;
    p->val[i] = s;
    p->len[i] = 0;
    p->fmt[i] = 0;
}

void sg_pg_bytes(struct sg_pg_params *p, const void *b, size_t n)
{
    int i = slot(p);

    if (i < 0)
        return;
    p->val[i] = b && n ? b : "";
    p->len[i] = b ? (int)SG_MIN(n, (size_t)INT_MAX) : 0;
    p->fmt[i] = 1;
}

bool sg_pg_is_null(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) != 0;
}

int64_t sg_pg_i64(const PGresult *r, int row, int col)
{
    if (PQgetisnull(r, row, col))
        return 0;
    return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

void sg_pg_copy(const PGresult *r, int row, int col, char *out, size_t cap)
{
    if (!cap)
        return;
    snprintf(out, cap, "%s",
             PQgetisnull(r, row, col) ? "" : PQgetvalue(r, row, col));
}

char *sg_pg_dup(const PGresult *r, int row, int col, bool *oom)
{
    char *s;

    if (PQgetisnull(r, row, col))
        return NULL;
    s = sg_strdup(PQgetvalue(r, row, col));
    if (!s && oom)
        *oom = true;
    return s;
}

/* ---- statements with an expected outcome ---- */

int sg_pg_insert_id(void *be, const char *sql, const struct sg_pg_params *p,
                    const char *what, int64_t *id_out, struct sg_err *err)
{
    PGresult *r = NULL;
    int rc = sg_pg_exec(be, sql, p, &r, NULL, what, err);

    if (rc)
        return rc;
    if (PQntuples(r) != 1)
        rc = sg_err_set(err, SG_EIO, "%s: no id returned", what);
    else if (id_out)
        *id_out = sg_pg_i64(r, 0, 0);
    PQclear(r);
    return rc;
}

int sg_pg_exec_found(void *be, const char *sql, const struct sg_pg_params *p,
                     const char *what, struct sg_err *err,
                     const char *missing_fmt, ...)
{
    char msg[sizeof(err->msg)];
    int64_t changes = 0;
    va_list ap;
    int rc = sg_pg_exec(be, sql, p, NULL, &changes, what, err);

    if (rc || changes > 0)
        return rc;
    va_start(ap, missing_fmt);
    vsnprintf(msg, sizeof(msg), missing_fmt, ap);
    va_end(ap);
    return sg_err_set(err, SG_ENOTFOUND, "%s", msg);
}

/* ---- the row reader ---- */

void sg_pg_row_at(struct sg_pg_row *rd, const PGresult *res, int row)
{
    rd->res = res;
    rd->row = row;
    rd->col = 0;
    rd->oom = false;
}

bool sg_pg_col_null(const struct sg_pg_row *rd)
{
    return PQgetisnull(rd->res, rd->row, rd->col) != 0;
}

int64_t sg_pg_col_i64(struct sg_pg_row *rd)
{
    return sg_pg_i64(rd->res, rd->row, rd->col++);
}

bool sg_pg_col_bool(struct sg_pg_row *rd)
{
    return sg_pg_col_i64(rd) != 0;
}

void sg_pg_col_str(struct sg_pg_row *rd, char *out, size_t cap)
{
    sg_pg_copy(rd->res, rd->row, rd->col++, out, cap);
}

char *sg_pg_col_dup(struct sg_pg_row *rd)
{
    return sg_pg_dup(rd->res, rd->row, rd->col++, &rd->oom);
}

const char *sg_pg_col_raw(struct sg_pg_row *rd)
{
    int col = rd->col++;

    if (PQgetisnull(rd->res, rd->row, col))
        return NULL;
    return PQgetvalue(rd->res, rd->row, col);
}

void sg_pg_row_oom(struct sg_pg_row *rd)
{
    rd->oom = true;
}

int sg_pg_row_end(const struct sg_pg_row *rd)
{
    return rd->oom ? SG_ENOMEM : 0;
}

/* ---- queries into rows ---- */

int sg_pg_get(void *be, const char *sql, const struct sg_pg_params *p,
              const char *what, const struct sg_pg_rowtype *t, void *out,
              const char *missing, struct sg_err *err)
{
    struct sg_pg_row rd;
    PGresult *r = NULL;
    int rc = sg_pg_exec(be, sql, p, &r, NULL, what, err);

    if (rc)
        return rc;
    if (PQntuples(r) == 0) {
        rc = missing ? sg_err_set(err, SG_ENOTFOUND, "%s", missing)
                     : SG_ENOTFOUND;
        goto done;
    }
    sg_pg_row_at(&rd, r, 0);
    if (t->fill(&rd, out) != 0) {
        if (t->release)
            t->release(out);
        rc = sg_err_set(err, SG_ENOMEM, "out of memory");
    }
done:
    PQclear(r);
    return rc;
}

int sg_pg_rows(const PGresult *r, const struct sg_pg_rowtype *t, size_t max,
               void **out, size_t *n_out, struct sg_err *err)
{
    struct sg_pg_row rd;
    unsigned char *rows;
    size_t n = SG_MIN((size_t)PQntuples(r), max), k;

    *out = NULL;
    *n_out = 0;
    /* One element at least, so success always hands back an array. */
    rows = sg_calloc(n ? n : 1, t->size);
    if (!rows)
        return sg_err_set(err, SG_ENOMEM, "out of memory");
    for (k = 0; k < n; k++) {
        sg_pg_row_at(&rd, r, (int)k);
        if (t->fill(&rd, rows + k * t->size) != 0)
            goto fail;
    }
    *out = rows;
    *n_out = n;
    return 0;
fail:
    /* Row k is half filled: release it with the others. */
    for (size_t i = 0; t->release && i <= k; i++)
        t->release(rows + i * t->size);
    sg_free(rows);
    return sg_err_set(err, SG_ENOMEM, "out of memory");
}

int sg_pg_list(void *be, const char *sql, const struct sg_pg_params *p,
               const char *what, const struct sg_pg_rowtype *t, size_t max,
               void **out, size_t *n_out, struct sg_err *err)
{
    PGresult *r = NULL;
    int rc;

    *out = NULL;
    *n_out = 0;
    rc = sg_pg_exec(be, sql, p, &r, NULL, what, err);
    if (rc)
        return rc;
    rc = sg_pg_rows(r, t, max, out, n_out, err);
    PQclear(r);
    return rc;
}

int sg_pg_into(void *be, const char *sql, const struct sg_pg_params *p,
               const char *what, const struct sg_pg_rowtype *t, void *rows,
               size_t max, size_t *n_out, struct sg_err *err)
{
    struct sg_pg_row rd;
    PGresult *r = NULL;
    size_t n, k;
    int rc;

    *n_out = 0;
    rc = sg_pg_exec(be, sql, p, &r, NULL, what, err);
    if (rc)
        return rc;
    n = SG_MIN((size_t)PQntuples(r), max);
    for (k = 0; k < n && !rc; k++) {
        sg_pg_row_at(&rd, r, (int)k);
        if (t->fill(&rd, (unsigned char *)rows + k * t->size) != 0)
            rc = sg_err_set(err, SG_ENOMEM, "out of memory");
    }
    PQclear(r);
    if (!rc)
        *n_out = n;
    return rc;
}

int sg_pg_scalar(void *be, const char *sql, const struct sg_pg_params *p,
                 const char *what, int64_t *out, struct sg_err *err)
{
    PGresult *r = NULL;
    int rc = sg_pg_exec(be, sql, p, &r, NULL, what, err);

    if (rc)
        return rc;
    if (PQntuples(r) > 0)
        *out = sg_pg_i64(r, 0, 0);
    PQclear(r);
    return 0;
}

int sg_pg_tally(void *be, const char *sql, const struct sg_pg_params *p,
                const char *what, int64_t *by, size_t n, struct sg_err *err)
{
    PGresult *r = NULL;
    int rc = sg_pg_exec(be, sql, p, &r, NULL, what, err);

    if (rc)
        return rc;
    for (int i = 0; i < PQntuples(r); i++) {
        int64_t k = sg_pg_i64(r, i, 0);

        if (k >= 0 && (uint64_t)k < n)
            by[k] = sg_pg_i64(r, i, 1);
    }
    PQclear(r);
    return 0;
}

static int fill_i64(struct sg_pg_row *rd, void *row)
{
    *(int64_t *)row = sg_pg_col_i64(rd);
    return 0;
}

const struct sg_pg_rowtype sg_pg_row_i64 =
    SG_PG_ROWTYPE(int64_t, fill_i64, NULL);
