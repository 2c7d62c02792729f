/*
 * fulfilment.c - the PostgreSQL ops of features/orders/fulfil_store.h:
 * warehouse exports, shipments, aftersales (cancellations and returns)
 * and viral buffers. The same statements as src/store/sqlite/
 * fulfilment.c in PostgreSQL's dialect: typed $n parameters, RETURNING
 * for new ids, and an alias on the viral rates' subquery. SKUs sort
 * bytewise (COLLATE "C"), as SQLite's BINARY collation sorts them.
 */
#include "core/sg.h"

#include "core/alloc.h"
#include "features/orders/fulfil_store.h"
#include "store/postgres/pgutil.h"
#include "store/store.h"

#define SHIP_COLS                                                              \
    "id, tenant_id, order_id, channel_order_id, shop_id, carrier, "            \
    "tracking_number, weight_g, lines, line_ids, package_id, status, error, "  \
    "attempts, created_at, updated_at"

#define AS_COLS                                                                \
    "id, tenant_id, kind, channel, shop_id, channel_id, channel_order_id, "    \
    "order_id, initiator, type, status, refund_total, currency, lines, "       \
    "decision, decision_code, decision_state, idempotency_key, reason, "       \
    "error, restocked, needs_fetch, update_time, created_at, updated_at"

/* Local releases: the store library is linked below the features library. */
static void ship_release(void *row)
{
    struct sg_shipment *s = row;

    sg_free(s->lines);
    sg_free(s->line_ids);
    s->lines = NULL;
    s->line_ids = NULL;
}

static void as_release(void *row)
{
    struct sg_aftersale *a = row;

    sg_free(a->lines);
    a->lines = NULL;
}

/* ---- exports ---- */

static int fill_address(struct sg_pg_row *rd, void *row)
{
    char **address = row;

    /* The column is NOT NULL: a NULL cell cannot come back. */
    *address = sg_pg_col_dup(rd);
    return *address ? 0 : SG_ENOMEM;
}

static int pg_export_get(void *be, int64_t order_id, char **address_out,
                         struct sg_err *err)
{
    static const struct sg_pg_rowtype address =
        SG_PG_ROWTYPE(char *, fill_address, NULL);
    struct sg_pg_params q;

    *address_out = NULL;
    sg_pg_params_init(&q);
    sg_pg_int(&q, order_id);
    return sg_pg_get(be,
                     "SELECT address FROM fulfil_exports WHERE order_id = "
                     "$1::bigint",
                     &q, "export get", &address, address_out, NULL, err);
}

static int pg_export_put(void *be, int64_t tenant_id, int64_t order_id,
                         const char *address, int64_t now, struct sg_err *err)
{
    struct sg_pg_params q;

    sg_pg_params_init(&q);
    sg_pg_int(&q, tenant_id);
    sg_pg_int(&q, order_id);
    sg_pg_text(&q, address ? address : "");
    sg_pg_int(&q, now);
    return sg_pg_exec(be,
                      "INSERT INTO fulfil_exports (tenant_id, order_id, "
                      "address, exported_at, updated_at) VALUES ($1::bigint, "
                      "$2::bigint, $3::text, $4::bigint, $4::bigint) ON "
                      "CONFLICT (order_id) DO UPDATE SET address = "
                      "excluded.address, updated_at = excluded.updated_at",
                      &q, NULL, NULL, "export put", err);
}

/* ---- shipments ---- */

/* A row of SHIP_COLS. */
static int fill_ship(struct sg_pg_row *rd, void *row)
{
    struct sg_shipment *s = row;

    memset(s, 0, sizeof(*s));
    s->id = sg_pg_col_i64(rd);
    s->tenant_id = sg_pg_col_i64(rd);
    s->order_id = sg_pg_col_i64(rd);
    SG_PG_COL_STR(rd, s->channel_order_id);
    SG_PG_COL_STR(rd, s->shop_id);
    SG_PG_COL_STR(rd, s->carrier);
    SG_PG_COL_STR(rd, s->tracking_number);
    s->weight_g = sg_pg_col_i64(rd);
    s->lines = sg_pg_col_dup(rd);
    s->line_ids = sg_pg_col_dup(rd);
    SG_PG_COL_STR(rd, s->package_id);
    SG_PG_COL_STR(rd, s->status);
    SG_PG_COL_STR(rd, s->error);
    s->attempts = (int)sg_pg_col_i64(rd);
    s->created_at = sg_pg_col_i64(rd);
    s->updated_at = sg_pg_col_i64(rd);
    return sg_pg_row_end(rd);
}

static const struct sg_pg_rowtype ship_row =
    SG_PG_ROWTYPE(struct sg_shipment, fill_ship, ship_release);

static int pg_ship_get(void *be, int64_t id, int64_t tenant_id,
                       int64_t order_id, const char *tracking,
                       struct sg_shipment *out, struct sg_err *err)
{
    struct sg_pg_params q;

    memset(out, 0, sizeof(*out));
    sg_pg_params_init(&q);
    if (id) {
        sg_pg_int(&q, id);
    } else {
        sg_pg_int(&q, tenant_id);
        sg_pg_int(&q, order_id);
        sg_pg_text(&q, tracking);
    }
    return sg_pg_get(be,
                     id ? "SELECT " SHIP_COLS " FROM shipments WHERE id = "
                          "$1::bigint"
                        : "SELECT " SHIP_COLS " FROM shipments WHERE "
                          "tenant_id = $1::bigint AND order_id = $2::bigint "
                          "AND tracking_number = $3::text",
                     &q, "shipment get", &ship_row, out, NULL, err);
}

static int pg_ship_insert(void *be, struct sg_shipment *s, int64_t now,
                          struct sg_err *err)
{
    struct sg_pg_params q;
    int rc;

    sg_pg_params_init(&q);
    sg_pg_int(&q, s->tenant_id);
    sg_pg_int(&q, s->order_id);
    sg_pg_text(&q, s->channel_order_id);
    sg_pg_text(&q, s->shop_id);
    sg_pg_text(&q, s->carrier);
    sg_pg_text(&q, s->tracking_number);
    sg_pg_int(&q, s->weight_g);
    sg_pg_text(&q, s->lines ? s->lines : "[]");
    sg_pg_text(&q, s->line_ids ? s->line_ids : "");
    sg_pg_text(&q, s->package_id);
    sg_pg_int(&q, now);
    rc = sg_pg_insert_id(be,
                         "INSERT INTO shipments (tenant_id, order_id, "
                         "channel_order_id, shop_id, carrier, "
                         "tracking_number, weight_g, lines, line_ids, "
                         "package_id, status, created_at, updated_at) VALUES "
                         "($1::bigint, $2::bigint, $3::text, $4::text, "
                         "$5::text, $6::text, $7::bigint, $8::text, $9::text, "
                         "$10::text, 'pending', $11::bigint, $11::bigint) "
                         "RETURNING id",
                         &q, "shipment insert", &s->id, err);
    if (rc)
        return rc;
    snprintf(s->status, sizeof(s->status), "pending");
    s->created_at = s->updated_at = now;
    return 0;
}

static int pg_ship_result(void *be, int64_t id, const char *status,
                          const char *package_id, const char *error,
                          int64_t now, struct sg_err *err)
{
    struct sg_pg_params q;

    sg_pg_params_init(&q);
    sg_pg_text(&q, status);
    sg_pg_text(&q, package_id);
    sg_pg_text(&q, error ? error : "");
    sg_pg_int(&q, now);
    sg_pg_int(&q, id);
    return sg_pg_exec_found(be,
                            "UPDATE shipments SET status = $1::text, "
                            "package_id = COALESCE($2::text, package_id), "
                            "error = $3::text, attempts = attempts + 1, "
                            "updated_at = $4::bigint WHERE id = $5::bigint",
                            &q, "shipment result", err,
                            "no shipment %" PRId64, id);
}

static int pg_ship_list(void *be, int64_t tenant_id, int64_t order_id,
                        const char *status, int64_t after_id, size_t limit,
                        struct sg_shipment **out, size_t *n_out,
                        struct sg_err *err)
{
    struct sg_pg_params q;
    void *rows;
    int rc;

    *out = NULL;
    *n_out = 0;
    if (limit == 0 || limit > SG_FULFIL_LIST_MAX)
        limit = SG_FULFIL_LIST_MAX;
    sg_pg_params_init(&q);
    sg_pg_int(&q, tenant_id);
    sg_pg_int(&q, order_id);
    sg_pg_text(&q, status);
    sg_pg_int(&q, after_id);
    sg_pg_int(&q, (int64_t)limit);
    rc = sg_pg_list(be,
                    "SELECT " SHIP_COLS " FROM shipments WHERE ($1::bigint = "
                    "0 OR tenant_id = $1::bigint) AND ($2::bigint = 0 OR "
                    "order_id = $2::bigint) AND ($3::text IS NULL OR status "
                    "= $3::text) AND id > $4::bigint ORDER BY id LIMIT "
                    "$5::bigint",
                    &q, "shipment list", &ship_row, limit, &rows, n_out, err);
    *out = rows;
    return rc;
}

/* ---- aftersales ---- */

/* A row of AS_COLS. */
static int fill_as(struct sg_pg_row *rd, void *row)
{
    struct sg_aftersale *a = row;

    memset(a, 0, sizeof(*a));
    a->id = sg_pg_col_i64(rd);
    a->tenant_id = sg_pg_col_i64(rd);
    SG_PG_COL_STR(rd, a->kind);
    SG_PG_COL_STR(rd, a->channel);
    SG_PG_COL_STR(rd, a->shop_id);
    SG_PG_COL_STR(rd, a->channel_id);
    SG_PG_COL_STR(rd, a->channel_order_id);
    a->order_id = sg_pg_col_i64(rd);
    SG_PG_COL_STR(rd, a->initiator);
    SG_PG_COL_STR(rd, a->type);
    SG_PG_COL_STR(rd, a->status);
    a->refund_total = sg_pg_col_i64(rd);
    SG_PG_COL_STR(rd, a->currency);
    a->lines = sg_pg_col_dup(rd);
    SG_PG_COL_STR(rd, a->decision);
    SG_PG_COL_STR(rd, a->decision_code);
    SG_PG_COL_STR(rd, a->decision_state);
    SG_PG_COL_STR(rd, a->idempotency_key);
    SG_PG_COL_STR(rd, a->reason);
    SG_PG_COL_STR(rd, a->error);
    a->restocked = sg_pg_col_bool(rd);
    a->needs_fetch = sg_pg_col_bool(rd);
    a->update_time = sg_pg_col_i64(rd);
    a->created_at = sg_pg_col_i64(rd);
    a->updated_at = sg_pg_col_i64(rd);
    return sg_pg_row_end(rd);
}

static const struct sg_pg_rowtype as_row =
    SG_PG_ROWTYPE(struct sg_aftersale, fill_as, as_release);

static int pg_as_get(void *be, int64_t id, int64_t tenant_id,
                     const char *kind, const char *channel,
                     const char *channel_id, struct sg_aftersale *out,
                     struct sg_err *err)
{
    struct sg_pg_params q;

    memset(out, 0, sizeof(*out));
    sg_pg_params_init(&q);
    if (id) {
        sg_pg_int(&q, id);
    } else {
        sg_pg_int(&q, tenant_id);
        sg_pg_text(&q, kind);
        sg_pg_text(&q, channel);
        sg_pg_text(&q, channel_id);
    }
    return sg_pg_get(be,
                     id ? "SELECT " AS_COLS " FROM aftersales WHERE id = "
                          "$1::bigint"
                        : "SELECT " AS_COLS " FROM aftersales WHERE "
                          "tenant_id = $1::bigint AND kind = $2::text AND "
                          "channel = $3::text AND channel_id = $4::text",
                     &q, "aftersale get", &as_row, out, NULL, err);
}

static int pg_as_put(void *be, struct sg_aftersale *a, int64_t now,
                     struct sg_err *err)
{
    struct sg_pg_params q;
    int rc;

    sg_pg_params_init(&q);
    sg_pg_int(&q, a->tenant_id);
    sg_pg_text(&q, a->kind);
    sg_pg_text(&q, a->channel);
    sg_pg_text(&q, a->shop_id);
    /* An unknown channel id is NULL, so several can wait for theirs. */
    sg_pg_text(&q, a->channel_id[0] ? a->channel_id : NULL);
    sg_pg_text(&q, a->channel_order_id);
    sg_pg_int(&q, a->order_id);
    sg_pg_text(&q, a->initiator);
    sg_pg_text(&q, a->type);
    sg_pg_text(&q, a->status);
    sg_pg_int(&q, a->refund_total);
    sg_pg_text(&q, a->currency);
    sg_pg_text(&q, a->lines);
    sg_pg_text(&q, a->decision);
    sg_pg_text(&q, a->decision_code);
    sg_pg_text(&q, a->decision_state);
    sg_pg_text(&q, a->idempotency_key);
    sg_pg_text(&q, a->reason);
    sg_pg_text(&q, a->error);
    sg_pg_int(&q, a->restocked ? 1 : 0);
    sg_pg_int(&q, a->needs_fetch ? 1 : 0);
    sg_pg_int(&q, a->update_time);
    sg_pg_int(&q, now);
    if (a->id) {
        sg_pg_int(&q, a->id);
        rc = sg_pg_exec(
            be,
            "UPDATE aftersales SET tenant_id = $1::bigint, kind = $2::text, "
            "channel = $3::text, shop_id = $4::text, channel_id = $5::text, "
            "channel_order_id = $6::text, order_id = $7::bigint, initiator "
            "= $8::text, type = $9::text, status = $10::text, refund_total "
            "= $11::bigint, currency = $12::text, lines = $13::text, "
            "decision = $14::text, decision_code = $15::text, "
            "decision_state = $16::text, idempotency_key = $17::text, "
            "reason = $18::text, error = $19::text, restocked = "
            "$20::bigint, needs_fetch = $21::bigint, update_time = "
            "$22::bigint, updated_at = $23::bigint WHERE id = $24::bigint",
            &q, NULL, NULL, "aftersale put", err);
        if (!rc)
            a->updated_at = now;
        return rc;
    }
    rc = sg_pg_insert_id(
        be,
        "INSERT INTO aftersales (tenant_id, kind, channel, shop_id, "
        "channel_id, channel_order_id, order_id, initiator, type, status, "
        "refund_total, currency, lines, decision, decision_code, "
        "decision_state, idempotency_key, reason, error, restocked, "
        "needs_fetch, update_time, updated_at, created_at) VALUES "
        "($1::bigint, $2::text, $3::text, $4::text, $5::text, $6::text, "
        "$7::bigint, $8::text, $9::text, $10::text, $11::bigint, $12::text, "
        "$13::text, $14::text, $15::text, $16::text, $17::text, $18::text, "
        "$19::text, $20::bigint, $21::bigint, $22::bigint, $23::bigint, "
        "$23::bigint) RETURNING id",
        &q, "aftersale put", &a->id, err);
    if (rc)
        return rc;
    a->created_at = a->updated_at = now;
    return 0;
}

static int pg_as_list(void *be, int64_t tenant_id, const struct sg_as_filter *f,
                      struct sg_aftersale **out, size_t *n_out,
                      struct sg_err *err)
{
    struct sg_pg_params q;
    size_t limit = f->limit;
    void *rows;
    int rc;

    *out = NULL;
    *n_out = 0;
    if (limit == 0 || limit > SG_FULFIL_LIST_MAX)
        limit = SG_FULFIL_LIST_MAX;
    sg_pg_params_init(&q);
    sg_pg_int(&q, tenant_id);
    sg_pg_text(&q, f->kind);
    sg_pg_int(&q, f->work);
    sg_pg_int(&q, f->after_id);
    sg_pg_int(&q, (int64_t)limit);
    rc = sg_pg_list(be,
                    "SELECT " AS_COLS " FROM aftersales WHERE ($1::bigint = "
                    "0 OR tenant_id = $1::bigint) AND ($2::text IS NULL OR "
                    "kind = $2::text) AND ($3::bigint = 0 OR ($3::bigint = 1 "
                    "AND decision_state = 'requested') OR ($3::bigint = 2 "
                    "AND needs_fetch = 1)) AND id > $4::bigint ORDER BY id "
                    "LIMIT $5::bigint",
                    &q, "aftersale list", &as_row, limit, &rows, n_out, err);
    *out = rows;
    return rc;
}

/* ---- viral buffers ---- */

/* A row of a viral query (columns as viral_rows in the SQLite file). */
static int fill_viral(struct sg_pg_row *rd, void *row)
{
    struct sg_viral_row *v = row;

    v->tenant_id = sg_pg_col_i64(rd);
    SG_PG_COL_STR(rd, v->sku);
    v->buffer = sg_pg_col_i64(rd);
    v->rate_milli = sg_pg_col_i64(rd);
    v->since = sg_pg_col_i64(rd);
    v->updated_at = sg_pg_col_i64(rd);
    return 0;
}

static const struct sg_pg_rowtype viral_row =
    SG_PG_ROWTYPE(struct sg_viral_row, fill_viral, NULL);

#define VIRAL_ROWS_MAX ((size_t)SG_FULFIL_LIST_MAX * 50)

static int pg_viral_rates(void *be, int64_t since_ms,
                          struct sg_viral_row **out, size_t *n_out,
                          struct sg_err *err)
{
    struct sg_pg_params q;
    void *rows;
    int rc;

    sg_pg_params_init(&q);
    sg_pg_int(&q, since_ms);
    rc = sg_pg_list(be,
                    "SELECT tenant_id, sku, MAX(buffer), SUM(units), 0, 0 "
                    "FROM (SELECT tenant_id, sku, 0::bigint AS buffer, "
                    "delta_reserved AS units FROM inventory_ledger WHERE "
                    "reason = 'reserve' AND at >= $1::bigint UNION ALL "
                    "SELECT tenant_id, sku, buffer, 0 FROM viral_buffers) u "
                    "GROUP BY tenant_id, sku ORDER BY tenant_id, sku COLLATE \"C\"",
                    &q, "viral rates", &viral_row, VIRAL_ROWS_MAX, &rows,
                    n_out, err);
    *out = rows;
    return rc;
}

static int pg_viral_put(void *be, const struct sg_viral_row *r, int64_t now,
                        struct sg_err *err)
{
    struct sg_pg_params q;

    sg_pg_params_init(&q);
    sg_pg_int(&q, r->tenant_id);
    sg_pg_text(&q, r->sku);
    sg_pg_int(&q, r->buffer);
    sg_pg_int(&q, r->rate_milli);
    sg_pg_int(&q, now);
    /* since moves only when the buffer itself changes. */
    return sg_pg_exec(be,
                      "INSERT INTO viral_buffers AS v (tenant_id, sku, "
                      "buffer, rate_milli, since, updated_at) VALUES "
                      "($1::bigint, $2::text, $3::bigint, $4::bigint, "
                      "$5::bigint, $5::bigint) ON CONFLICT (tenant_id, sku) "
                      "DO UPDATE SET since = CASE WHEN v.buffer = "
                      "excluded.buffer THEN v.since ELSE excluded.since END, "
                      "buffer = excluded.buffer, rate_milli = "
                      "excluded.rate_milli, updated_at = excluded.updated_at",
                      &q, NULL, NULL, "viral put", err);
}

static int pg_viral_list(void *be, int64_t tenant_id, const char *sku,
                         struct sg_viral_row **out, size_t *n_out,
                         struct sg_err *err)
{
    struct sg_pg_params q;
    void *rows;
    int rc;

    sg_pg_params_init(&q);
    sg_pg_int(&q, tenant_id);
    sg_pg_text(&q, sku);
    rc = sg_pg_list(be,
                    "SELECT tenant_id, sku, buffer, rate_milli, since, "
                    "updated_at FROM viral_buffers WHERE ($1::bigint = 0 OR "
                    "tenant_id = $1::bigint) AND ($2::text IS NULL OR sku = "
                    "$2::text) ORDER BY tenant_id, sku COLLATE \"C\"",
                    &q, "viral list", &viral_row, VIRAL_ROWS_MAX, &rows,
                    n_out, err);
    *out = rows;
    return rc;
}

const struct sg_fulfil_store_ops sg_fulfil_postgres_ops = {
    .version = SG_FULFIL_STORE_OPS_VERSION,
    .name = "postgres",
    .export_get = pg_export_get,
    .export_put = pg_export_put,
    .ship_get = pg_ship_get,
    .ship_insert = pg_ship_insert,
    .ship_result = pg_ship_result,
    .ship_list = pg_ship_list,
    .as_get = pg_as_get,
    .as_put = pg_as_put,
    .as_list = pg_as_list,
    .viral_rates = pg_viral_rates,
    .viral_put = pg_viral_put,
    .viral_list = pg_viral_list,
};
