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
