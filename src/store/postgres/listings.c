/*
 * listings.c - the PostgreSQL ops for listing sync (store/listings.h):
 * the listing_sync rows, the two checks every catalog change makes and
 * the storm hold's use of the job queue, with the semantics of
 * src/store/sqlite/listings.c in PostgreSQL's dialect (ON CONFLICT for
 * INSERT OR REPLACE, GREATEST for the two-argument MAX).
 */
#include "core/sg.h"

#include "core/alloc.h"
#include "core/json.h"
#include "store/listings.h"
#include "store/postgres/pgutil.h"

#define COLS                                                                   \
    "tenant_id, product_id, channel, shop_id, channel_product_id, status, "   \
    "reason, state, updated_at"

/* A row of COLS; a NULL state reads as an empty object. */
static int row_fill(struct sg_pg_row *rd, void *row)
{
    struct sg_listing_sync *o = row;
    const char *state;

    memset(o, 0, sizeof(*o));
    o->tenant_id = sg_pg_col_i64(rd);
    o->product_id = sg_pg_col_i64(rd);
    SG_PG_COL_STR(rd, o->channel);
    SG_PG_COL_STR(rd, o->shop_id);
    SG_PG_COL_STR(rd, o->channel_product_id);
    SG_PG_COL_STR(rd, o->status);
    o->reason = sg_pg_col_dup(rd);
    state = sg_pg_col_raw(rd);
    o->state = sg_strdup(state ? state : "{}");
    if (!o->state)
        sg_pg_row_oom(rd);
    o->updated_at = sg_pg_col_i64(rd);
    return sg_pg_row_end(rd);
}

static void row_release(void *row)
{
    sg_listing_sync_release(row);
}

static const struct sg_pg_rowtype listing_row =
    SG_PG_ROWTYPE(struct sg_listing_sync, row_fill, row_release);

/* The first row of a query into out; SG_ENOTFOUND when there is none. */
static int one_row(void *be, const char *sql, const struct sg_pg_params *q,
                   struct sg_listing_sync *out, struct sg_err *err)
{
    return sg_pg_get(be, sql, q, "listing read", &listing_row, out,
                     "no listing", err);
}

static int get_be(void *be, int64_t tenant_id, int64_t product_id,
                  const char *channel, struct sg_listing_sync *out,
                  struct sg_err *err)
{
    struct sg_pg_params q;

    sg_pg_params_init(&q);
    sg_pg_int(&q, tenant_id);
    sg_pg_int(&q, product_id);
    sg_pg_text(&q, channel);
    return one_row(be,
                   "SELECT " COLS " FROM listing_sync WHERE tenant_id = "
                   "$1::bigint AND product_id = $2::bigint AND channel = "
                   "$3::text",
                   &q, out, err);
}

static int find_be(void *be, const char *channel,
                   const char *channel_product_id,
                   struct sg_listing_sync *out, struct sg_err *err)
{
    struct sg_pg_params q;

    sg_pg_params_init(&q);
    sg_pg_text(&q, channel);
    sg_pg_text(&q, channel_product_id);
    return one_row(be,
                   "SELECT " COLS " FROM listing_sync WHERE channel = "
                   "$1::text AND channel_product_id = $2::text LIMIT 1",
                   &q, out, err);
}

static int put_be(void *be, const struct sg_listing_sync *l, int64_t now,
                  struct sg_err *err)
{
    struct sg_pg_params q;

    sg_pg_params_init(&q);
    sg_pg_int(&q, l->tenant_id);
    sg_pg_int(&q, l->product_id);
    sg_pg_text(&q, l->channel);
    sg_pg_text(&q, l->shop_id);
    sg_pg_text(&q, l->channel_product_id);
    sg_pg_text(&q, l->status[0] ? l->status : "pending");
    sg_pg_text(&q, l->reason);
    sg_pg_text(&q, l->state ? l->state : "{}");
    sg_pg_int(&q, now);
    /* The whole row is replaced, as SQLite's INSERT OR REPLACE does. */
    return sg_pg_exec(be,
                      "INSERT INTO listing_sync (" COLS ") VALUES "
                      "($1::bigint, $2::bigint, $3::text, $4::text, "
                      "$5::text, $6::text, $7::text, $8::text, $9::bigint) "
                      "ON CONFLICT (tenant_id, product_id, channel) DO "
                      "UPDATE SET shop_id = excluded.shop_id, "
                      "channel_product_id = excluded.channel_product_id, "
                      "status = excluded.status, reason = excluded.reason, "
                      "state = excluded.state, "
                      "updated_at = excluded.updated_at",
                      &q, NULL, NULL, "listing write", err);
}

static int delete_be(void *be, int64_t tenant_id, int64_t product_id,
                     const char *channel, struct sg_err *err)
{
    struct sg_pg_params q;

    sg_pg_params_init(&q);
    sg_pg_int(&q, tenant_id);
    sg_pg_int(&q, product_id);
    sg_pg_text(&q, channel);
    return sg_pg_exec(be,
                      "DELETE FROM listing_sync WHERE tenant_id = $1::bigint "
                      "AND product_id = $2::bigint AND channel = $3::text",
                      &q, NULL, NULL, "listing delete", err);
}

static int conn_active_be(void *be, int64_t tenant_id, const char *platform,
                          bool *out, struct sg_err *err)
{
    struct sg_pg_params q;
    PGresult *r = NULL;
    int rc;

    *out = false;
    sg_pg_params_init(&q);
    sg_pg_int(&q, tenant_id);
    sg_pg_text(&q, platform);
    rc = sg_pg_exec(be,
                    "SELECT 1 FROM channel_connections WHERE tenant_id = "
                    "$1::bigint AND platform = $2::text AND status = "
                    "'active' LIMIT 1",
                    &q, &r, NULL, "listing check", err);
    if (rc)
        return rc;
    *out = PQntuples(r) > 0;
    PQclear(r);
    return 0;
}

/*
 * state.qty[sku] of a listing_sync row is a number <= 0: the channel
 * already acknowledged nothing left. Text that is not JSON, or a qty that
 * is not a number, acknowledges nothing (as json_valid/json_each do in
 * the SQLite query).
 */
static bool acked_zero(const char *state, const char *sku)
{
    json_t *root = sg_json_loads(state, 0, NULL);
    json_t *v = root ? json_object_get(json_object_get(root, "qty"), sku)
                     : NULL;
    bool yes = v && json_is_number(v) && json_number_value(v) <= 0;

    json_decref(root);
    return yes;
}

static int sku_zero_be(void *be, int64_t tenant_id, int64_t product_id,
                       const char *channel, bool *out, struct sg_err *err)
{
    struct sg_pg_params q;
    PGresult *zero = NULL, *st = NULL;
    int rc, i, k;

    *out = false;
    sg_pg_params_init(&q);
    sg_pg_int(&q, tenant_id);
    sg_pg_int(&q, product_id);
    rc = sg_pg_exec(be,
                    "SELECT v.sku FROM variants v WHERE v.tenant_id = "
                    "$1::bigint AND v.product_id = $2::bigint AND "
                    "COALESCE((SELECT SUM(l.on_hand - l.reserved - "
                    "l.committed) FROM inventory_levels l WHERE l.tenant_id "
                    "= v.tenant_id AND l.sku = v.sku), 0) <= 0",
                    &q, &zero, NULL, "listing check", err);
    if (rc)
        return rc;
    if (PQntuples(zero) == 0) {
        PQclear(zero);
        return 0;
    }
    sg_pg_text(&q, channel);
    rc = sg_pg_exec(be,
                    "SELECT state FROM listing_sync WHERE tenant_id = "
                    "$1::bigint AND product_id = $2::bigint AND channel = "
                    "$3::text",
                    &q, &st, NULL, "listing check", err);
    if (rc) {
        PQclear(zero);
        return rc;
    }
    for (i = 0; i < PQntuples(zero) && !*out; i++) {
        bool acked = false;

        for (k = 0; k < PQntuples(st) && !acked; k++)
            acked = !sg_pg_is_null(st, k, 0) &&
                    acked_zero(PQgetvalue(st, k, 0), PQgetvalue(zero, i, 0));
        *out = !acked;
    }
    PQclear(st);
    PQclear(zero);
    return 0;
}

/* ---- reads ---- */

static int list_be(void *be, int64_t tenant_id, const char *channel,
                   int64_t after, size_t limit, struct sg_listing_sync **out,
                   size_t *n_out, struct sg_err *err)
{
    struct sg_pg_params q;
    void *rows;
    int rc;

    sg_pg_params_init(&q);
    sg_pg_int(&q, tenant_id);
    sg_pg_text(&q, channel);
    sg_pg_int(&q, after);
    sg_pg_int(&q, (int64_t)limit);
    rc = sg_pg_list(be,
                    "SELECT " COLS " FROM listing_sync WHERE ($1::bigint = 0 "
                    "OR tenant_id = $1::bigint) AND channel = $2::text AND "
                    "product_id > $3::bigint ORDER BY product_id "
                    "LIMIT $4::bigint",
                    &q, "listing list", &listing_row, limit, &rows, n_out,
                    err);
    *out = rows;
    return rc;
}

/* ---- catalog sync's use of the job queue: the storm hold ---- */

static int fill_churn(struct sg_pg_row *rd, void *row)
{
    struct sg_listings_churn *c = row;

    c->tenant_id = sg_pg_col_i64(rd);
    c->products = sg_pg_col_i64(rd);
    return 0;
}

static int churn_be(void *be, const char *kind, int64_t since_ms,
                    struct sg_listings_churn *out, size_t max, size_t *n_out,
                    struct sg_err *err)
{
    static const struct sg_pg_rowtype churn_row =
        SG_PG_ROWTYPE(struct sg_listings_churn, fill_churn, NULL);
    struct sg_pg_params q;

    sg_pg_params_init(&q);
    sg_pg_text(&q, kind);
    sg_pg_int(&q, since_ms);
    return sg_pg_into(be,
                      "SELECT tenant_id, COUNT(*) FROM jobs WHERE state = 0 "
                      "AND kind = $1::text AND attempts = 0 AND updated_at > "
                      "created_at AND updated_at >= $2::bigint GROUP BY "
                      "tenant_id ORDER BY tenant_id",
                      &q, "job churn", &churn_row, out, max, n_out, err);
}

/*
 * One UPDATE over the tenant's queued jobs of kind below prio_below:
 * $1 tenant, $2 kind, $3 prio_below, $4 hold_ms, $5 now, $6 window_ms
 * (bound only when the statement has six parameters).
 */
static int reschedule(void *be, const char *sql, int nparams,
                      int64_t tenant_id, const char *kind, int prio_below,
                      int64_t hold_ms, int64_t window_ms, int64_t now,
                      size_t *n_out, struct sg_err *err)
{
    struct sg_pg_params q;
    int64_t changes = 0;
    int rc;

    *n_out = 0;
    sg_pg_params_init(&q);
    sg_pg_int(&q, tenant_id);
    sg_pg_text(&q, kind);
    sg_pg_int(&q, prio_below);
    sg_pg_int(&q, hold_ms);
    sg_pg_int(&q, now);
    if (nparams >= 6)
        sg_pg_int(&q, window_ms);
    rc = sg_pg_exec(be, sql, &q, NULL, &changes, "job hold", err);
    if (!rc)
        *n_out = (size_t)changes;
    return rc;
}

static int hold_be(void *be, int64_t tenant_id, const char *kind,
                   int prio_below, int64_t hold_ms, int64_t now,
                   size_t *n_out, struct sg_err *err)
{
    return reschedule(be,
                      "UPDATE jobs SET next_run_at = created_at + $4::bigint "
                      "WHERE state = 0 AND tenant_id = $1::bigint AND kind = "
                      "$2::text AND priority < $3::bigint AND next_run_at < "
                      "created_at + $4::bigint AND created_at + $4::bigint > "
                      "$5::bigint",
                      5, tenant_id, kind, prio_below, hold_ms, 0, now, n_out,
                      err);
}

static int release_be(void *be, int64_t tenant_id, const char *kind,
                      int prio_below, int64_t hold_ms, int64_t window_ms,
                      int64_t now, size_t *n_out, struct sg_err *err)
{
    return reschedule(be,
                      "UPDATE jobs SET next_run_at = GREATEST($5::bigint, "
                      "created_at + $6::bigint) WHERE state = 0 AND "
                      "tenant_id = $1::bigint AND kind = $2::text AND "
                      "priority < $3::bigint AND next_run_at = created_at + "
                      "$4::bigint AND next_run_at > $5::bigint",
                      6, tenant_id, kind, prio_below, hold_ms, window_ms, now,
                      n_out, err);
}

const struct sg_listings_ops sg_listings_postgres_ops = {
    .version = SG_LISTINGS_OPS_VERSION,
    .name = "postgres",
    .get = get_be,
    .find = find_be,
    .put = put_be,
    .del = delete_be,
    .conn_active = conn_active_be,
    .sku_zero = sku_zero_be,
    .list = list_be,
    .churn = churn_be,
    .hold = hold_be,
    .release = release_be,
};
