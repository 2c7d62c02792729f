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

static int row_read(const PGresult *r, int i, struct sg_listing_sync *o)
{
    bool oom = false;

    memset(o, 0, sizeof(*o));
    o->tenant_id = sg_pg_i64(r, i, 0);
    o->product_id = sg_pg_i64(r, i, 1);
    sg_pg_copy(r, i, 2, o->channel, sizeof(o->channel));
    sg_pg_copy(r, i, 3, o->shop_id, sizeof(o->shop_id));
    sg_pg_copy(r, i, 4, o->channel_product_id, sizeof(o->channel_product_id));
    sg_pg_copy(r, i, 5, o->status, sizeof(o->status));
    o->reason = sg_pg_dup(r, i, 6, &oom);
    o->state = sg_pg_is_null(r, i, 7) ? sg_strdup("{}")
                                      : sg_pg_dup(r, i, 7, &oom);
    o->updated_at = sg_pg_i64(r, i, 8);
    if (oom || !o->state) {
        sg_listing_sync_release(o);
        return SG_ENOMEM;
    }
    return 0;
}

/* The first row of a query into out; SG_ENOTFOUND when there is none. */
static int one_row(void *be, const char *sql, const struct sg_pg_params *q,
                   struct sg_listing_sync *out, struct sg_err *err)
{
    PGresult *r = NULL;
    int rc = sg_pg_exec(be, sql, q, &r, NULL, "listing read", err);

    if (rc)
        return rc;
    if (PQntuples(r) == 0)
        rc = sg_err_set(err, SG_ENOTFOUND, "no listing");
    else if (row_read(r, 0, out))
        rc = sg_err_set(err, SG_ENOMEM, "out of memory");
    PQclear(r);
    return rc;
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
    struct sg_listing_sync *rows;
    struct sg_pg_params q;
    PGresult *r = NULL;
    size_t n, k;
    int rc;

    *out = NULL;
    *n_out = 0;
    sg_pg_params_init(&q);
    sg_pg_int(&q, tenant_id);
    sg_pg_text(&q, channel);
    sg_pg_int(&q, after);
    sg_pg_int(&q, (int64_t)limit);
    rc = sg_pg_exec(be,
                    "SELECT " COLS " FROM listing_sync WHERE ($1::bigint = 0 "
                    "OR tenant_id = $1::bigint) AND channel = $2::text AND "
                    "product_id > $3::bigint ORDER BY product_id "
                    "LIMIT $4::bigint",
                    &q, &r, NULL, "listing list", err);
    if (rc)
        return rc;
    n = SG_MIN((size_t)PQntuples(r), limit);
    rows = sg_calloc(n ? n : 1, sizeof(*rows));
    if (!rows) {
        PQclear(r);
        return sg_err_set(err, SG_ENOMEM, "out of memory");
    }
    for (k = 0; k < n; k++) {
        if (row_read(r, (int)k, &rows[k]) != 0) {
            PQclear(r);
            sg_listing_sync_list_free(rows, k);
            return sg_err_set(err, SG_ENOMEM, "out of memory");
        }
    }
    PQclear(r);
    *out = rows;
    *n_out = n;
    return 0;
}

/* ---- catalog sync's use of the job queue: the storm hold ---- */

static int churn_be(void *be, const char *kind, int64_t since_ms,
                    struct sg_listings_churn *out, size_t max, size_t *n_out,
                    struct sg_err *err)
{
    struct sg_pg_params q;
    PGresult *r = NULL;
    size_t n;
    int rc;

    *n_out = 0;
    sg_pg_params_init(&q);
    sg_pg_text(&q, kind);
    sg_pg_int(&q, since_ms);
    rc = sg_pg_exec(be,
                    "SELECT tenant_id, COUNT(*) FROM jobs WHERE state = 0 "
                    "AND kind = $1::text AND attempts = 0 AND updated_at > "
                    "created_at AND updated_at >= $2::bigint GROUP BY "
                    "tenant_id ORDER BY tenant_id",
                    &q, &r, NULL, "job churn", err);
    if (rc)
        return rc;
    n = SG_MIN((size_t)PQntuples(r), max);
    for (size_t k = 0; k < n; k++) {
        out[k].tenant_id = sg_pg_i64(r, (int)k, 0);
        out[k].products = sg_pg_i64(r, (int)k, 1);
    }
    PQclear(r);
    *n_out = n;
    return 0;
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
