/*
 * fulfilment.c - the SQLite ops of features/orders/fulfil_store.h:
 * warehouse exports, shipments, aftersales (cancellations and returns)
 * and viral buffers, on the connection behind a backend handle. Writes
 * run inside the writer's transaction.
 */
#include "core/sg.h"

#include "core/alloc.h"
#include "features/orders/fulfil_store.h"
#include "store/sqlite/sqlutil.h"
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

/* Row releases kept here: the store library is linked below the features
 * library. */
static void release_ship(void *row)
{
    struct sg_shipment *s = row;

    sg_free(s->lines);
    sg_free(s->line_ids);
    s->lines = s->line_ids = NULL;
}

static void release_as(void *row)
{
    struct sg_aftersale *a = row;

    sg_free(a->lines);
    a->lines = NULL;
}

/* ---- exports ---- */

static int sq_export_get(void *be, int64_t order_id, char **address_out,
                         struct sg_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = sg_sql_prep(be, "SELECT address FROM fulfil_exports WHERE "
                             "order_id = ?", &st, err);
    int b = SQLITE_OK;
    bool oom = false;

    *address_out = NULL;
    if (rc)
        return rc;
    sg_sql_bind_int(st, 1, order_id, &b);
    rc = b == SQLITE_OK ? sqlite3_step(st) : b;
    if (rc == SQLITE_ROW) {
        *address_out = sg_sql_col_dup(st, 0, &oom);
        if (!*address_out && !oom)
            *address_out = sg_strdup("");
        rc = *address_out ? 0 : sg_err_set(err, SG_ENOMEM, "out of memory");
    } else if (rc == SQLITE_DONE)
        rc = SG_ENOTFOUND;
    else
        rc = sg_sqlite_error(be, rc, "export get", err);
    sg_sql_end(be, st);
    return rc;
}

static int sq_export_put(void *be, int64_t tenant_id, int64_t order_id,
                         const char *address, int64_t now, struct sg_err *err)
{
    sqlite3_stmt *st = NULL;
    int b = SQLITE_OK;
    int rc = sg_sql_prep(be,
                         "INSERT INTO fulfil_exports (tenant_id, order_id, "
                         "address, exported_at, updated_at) VALUES (?, ?, "
                         "?, ?, ?) ON CONFLICT (order_id) DO UPDATE SET "
                         "address = excluded.address, updated_at = "
                         "excluded.updated_at",
                         &st, err);

    if (rc)
        return rc;
    sg_sql_bind_int(st, 1, tenant_id, &b);
    sg_sql_bind_int(st, 2, order_id, &b);
    sg_sql_bind_text(st, 3, address ? address : "", &b);
    sg_sql_bind_int(st, 4, now, &b);
    sg_sql_bind_int(st, 5, now, &b);
    return sg_sql_run(be, st, b, "export put", NULL, err);
}

/* ---- shipments ---- */

static int fill_ship(struct sg_sql_row *rd, void *row)
{
    struct sg_shipment *s = row;

    s->id = sg_sql_rd_i64(rd);
    s->tenant_id = sg_sql_rd_i64(rd);
    s->order_id = sg_sql_rd_i64(rd);
    SG_SQL_RD_STR(rd, s->channel_order_id);
    SG_SQL_RD_STR(rd, s->shop_id);
    SG_SQL_RD_STR(rd, s->carrier);
    SG_SQL_RD_STR(rd, s->tracking_number);
    s->weight_g = sg_sql_rd_i64(rd);
    s->lines = sg_sql_rd_dup(rd);
    s->line_ids = sg_sql_rd_dup(rd);
    SG_SQL_RD_STR(rd, s->package_id);
    SG_SQL_RD_STR(rd, s->status);
    SG_SQL_RD_STR(rd, s->error);
    s->attempts = sg_sql_rd_int(rd);
    s->created_at = sg_sql_rd_i64(rd);
    s->updated_at = sg_sql_rd_i64(rd);
    return sg_sql_row_end(rd);
}

static const struct sg_sql_rowtype ship_row =
    SG_SQL_ROWTYPE(struct sg_shipment, fill_ship, release_ship);

static int sq_ship_get(void *be, int64_t id, int64_t tenant_id,
                       int64_t order_id, const char *tracking,
                       struct sg_shipment *out, struct sg_err *err)
{
    sqlite3_stmt *st = NULL;
    int b = SQLITE_OK, rc;

    memset(out, 0, sizeof(*out));
    rc = sg_sql_prep(be,
                     id ? "SELECT " SHIP_COLS " FROM shipments WHERE id = ?"
                        : "SELECT " SHIP_COLS " FROM shipments WHERE "
                          "tenant_id = ? AND order_id = ? AND "
                          "tracking_number = ?",
                     &st, err);
    if (rc)
        return rc;
    if (id)
        sg_sql_bind_int(st, 1, id, &b);
    else {
        sg_sql_bind_int(st, 1, tenant_id, &b);
        sg_sql_bind_int(st, 2, order_id, &b);
        sg_sql_bind_text(st, 3, tracking, &b);
    }
    return sg_sql_get(be, st, b, "shipment get", &ship_row, out, NULL, err);
}

static int sq_ship_insert(void *be, struct sg_shipment *s, int64_t now,
                          struct sg_err *err)
{
    sqlite3_stmt *st = NULL;
    int b = SQLITE_OK;
    int rc = sg_sql_prep(be,
                         "INSERT INTO shipments (tenant_id, order_id, "
                         "channel_order_id, shop_id, carrier, "
                         "tracking_number, weight_g, lines, line_ids, "
                         "package_id, status, created_at, updated_at) VALUES "
                         "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?)",
                         &st, err);

    if (rc)
        return rc;
    sg_sql_bind_int(st, 1, s->tenant_id, &b);
    sg_sql_bind_int(st, 2, s->order_id, &b);
    sg_sql_bind_text(st, 3, s->channel_order_id, &b);
    sg_sql_bind_text(st, 4, s->shop_id, &b);
    sg_sql_bind_text(st, 5, s->carrier, &b);
    sg_sql_bind_text(st, 6, s->tracking_number, &b);
    sg_sql_bind_int(st, 7, s->weight_g, &b);
    sg_sql_bind_text(st, 8, s->lines ? s->lines : "[]", &b);
    sg_sql_bind_text(st, 9, s->line_ids ? s->line_ids : "", &b);
    sg_sql_bind_text(st, 10, s->package_id, &b);
    sg_sql_bind_int(st, 11, now, &b);
    sg_sql_bind_int(st, 12, now, &b);
    rc = sg_sql_run(be, st, b, "shipment insert", NULL, err);
    if (!rc) {
        s->id = sqlite3_last_insert_rowid(sg_sqlite_db(be));
        snprintf(s->status, sizeof(s->status), "pending");
        s->created_at = s->updated_at = now;
    }
    return rc;
}

static int sq_ship_result(void *be, int64_t id, const char *status,
                          const char *package_id, const char *error,
                          int64_t now, struct sg_err *err)
{
    sqlite3_stmt *st = NULL;
    int b = SQLITE_OK, changes = 0;
    int rc = sg_sql_prep(be,
                         "UPDATE shipments SET status = ?, package_id = "
                         "coalesce(?, package_id), error = ?, attempts = "
                         "attempts + 1, updated_at = ? WHERE id = ?",
                         &st, err);

    if (rc)
        return rc;
    sg_sql_bind_text(st, 1, status, &b);
    sg_sql_bind_text(st, 2, package_id, &b);
    sg_sql_bind_text(st, 3, error ? error : "", &b);
    sg_sql_bind_int(st, 4, now, &b);
    sg_sql_bind_int(st, 5, id, &b);
    rc = sg_sql_run(be, st, b, "shipment result", &changes, err);
    if (!rc && changes == 0)
        rc = sg_err_set(err, SG_ENOTFOUND, "no shipment %" PRId64, id);
    return rc;
}

static int sq_ship_list(void *be, int64_t tenant_id, int64_t order_id,
                        const char *status, int64_t after_id, size_t limit,
                        struct sg_shipment **out, size_t *n_out,
                        struct sg_err *err)
{
    sqlite3_stmt *st = NULL;
    void *rows;
    int b = SQLITE_OK, rc;

    *out = NULL;
    *n_out = 0;
    if (limit == 0 || limit > SG_FULFIL_LIST_MAX)
        limit = SG_FULFIL_LIST_MAX;
    rc = sg_sql_prep(be,
                     "SELECT " SHIP_COLS " FROM shipments WHERE (?1 = 0 OR "
                     "tenant_id = ?1) AND (?2 = 0 OR order_id = ?2) AND (?3 "
                     "IS NULL OR status = ?3) AND id > ?4 ORDER BY id "
                     "LIMIT ?5",
                     &st, err);
    if (rc)
        return rc;
    sg_sql_bind_int(st, 1, tenant_id, &b);
    sg_sql_bind_int(st, 2, order_id, &b);
    sg_sql_bind_text(st, 3, status, &b);
    sg_sql_bind_int(st, 4, after_id, &b);
    sg_sql_bind_int(st, 5, (int64_t)limit, &b);
    rc = sg_sql_list(be, st, b, "shipment list", &ship_row, limit, &rows, n_out, err);
    *out = rows;
    return rc;
}

/* ---- aftersales ---- */

static int fill_as(struct sg_sql_row *rd, void *row)
{
    struct sg_aftersale *a = row;

    a->id = sg_sql_rd_i64(rd);
    a->tenant_id = sg_sql_rd_i64(rd);
    SG_SQL_RD_STR(rd, a->kind);
    SG_SQL_RD_STR(rd, a->channel);
    SG_SQL_RD_STR(rd, a->shop_id);
    SG_SQL_RD_STR(rd, a->channel_id);
    SG_SQL_RD_STR(rd, a->channel_order_id);
    a->order_id = sg_sql_rd_i64(rd);
    SG_SQL_RD_STR(rd, a->initiator);
    SG_SQL_RD_STR(rd, a->type);
    SG_SQL_RD_STR(rd, a->status);
    a->refund_total = sg_sql_rd_i64(rd);
    SG_SQL_RD_STR(rd, a->currency);
    a->lines = sg_sql_rd_dup(rd);
    SG_SQL_RD_STR(rd, a->decision);
    SG_SQL_RD_STR(rd, a->decision_code);
    SG_SQL_RD_STR(rd, a->decision_state);
    SG_SQL_RD_STR(rd, a->idempotency_key);
    SG_SQL_RD_STR(rd, a->reason);
    SG_SQL_RD_STR(rd, a->error);
    a->restocked = sg_sql_rd_bool(rd);
    a->needs_fetch = sg_sql_rd_bool(rd);
    a->update_time = sg_sql_rd_i64(rd);
    a->created_at = sg_sql_rd_i64(rd);
    a->updated_at = sg_sql_rd_i64(rd);
    return sg_sql_row_end(rd);
}

static const struct sg_sql_rowtype as_row =
    SG_SQL_ROWTYPE(struct sg_aftersale, fill_as, release_as);

static int sq_as_get(void *be, int64_t id, int64_t tenant_id,
                     const char *kind, const char *channel,
                     const char *channel_id, struct sg_aftersale *out,
                     struct sg_err *err)
{
    sqlite3_stmt *st = NULL;
    int b = SQLITE_OK, rc;

    memset(out, 0, sizeof(*out));
    rc = sg_sql_prep(be,
                     id ? "SELECT " AS_COLS " FROM aftersales WHERE id = ?"
                        : "SELECT " AS_COLS " FROM aftersales WHERE "
                          "tenant_id = ? AND kind = ? AND channel = ? AND "
                          "channel_id = ?",
                     &st, err);
    if (rc)
        return rc;
    if (id)
        sg_sql_bind_int(st, 1, id, &b);
    else {
        sg_sql_bind_int(st, 1, tenant_id, &b);
        sg_sql_bind_text(st, 2, kind, &b);
        sg_sql_bind_text(st, 3, channel, &b);
        sg_sql_bind_text(st, 4, channel_id, &b);
    }
    return sg_sql_get(be, st, b, "aftersale get", &as_row, out, NULL, err);
}

static int sq_as_put(void *be, struct sg_aftersale *a, int64_t now,
                     struct sg_err *err)
{
    sqlite3_stmt *st = NULL;
    int b = SQLITE_OK, rc;

    rc = sg_sql_prep(
        be,
        a->id ? "UPDATE aftersales SET tenant_id = ?1, kind = ?2, channel = "
                "?3, shop_id = ?4, channel_id = ?5, channel_order_id = ?6, "
                "order_id = ?7, initiator = ?8, type = ?9, status = ?10, "
                "refund_total = ?11, currency = ?12, lines = ?13, decision = "
                "?14, decision_code = ?15, decision_state = ?16, "
                "idempotency_key = ?17, reason = ?18, error = ?19, restocked "
                "= ?20, needs_fetch = ?21, update_time = ?22, updated_at = "
                "?23 WHERE id = ?24"
              : "INSERT INTO aftersales (tenant_id, kind, channel, shop_id, "
                "channel_id, channel_order_id, order_id, initiator, type, "
                "status, refund_total, currency, lines, decision, "
                "decision_code, decision_state, idempotency_key, reason, "
                "error, restocked, needs_fetch, update_time, updated_at, "
                "created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, "
                "?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, "
                "?22, ?23, ?23)",
        &st, err);
    if (rc)
        return rc;
    sg_sql_bind_int(st, 1, a->tenant_id, &b);
    sg_sql_bind_text(st, 2, a->kind, &b);
    sg_sql_bind_text(st, 3, a->channel, &b);
    sg_sql_bind_text(st, 4, a->shop_id, &b);
    sg_sql_bind_text(st, 5, a->channel_id[0] ? a->channel_id : NULL, &b);
    sg_sql_bind_text(st, 6, a->channel_order_id, &b);
    sg_sql_bind_int(st, 7, a->order_id, &b);
    sg_sql_bind_text(st, 8, a->initiator, &b);
    sg_sql_bind_text(st, 9, a->type, &b);
    sg_sql_bind_text(st, 10, a->status, &b);
    sg_sql_bind_int(st, 11, a->refund_total, &b);
    sg_sql_bind_text(st, 12, a->currency, &b);
    sg_sql_bind_text(st, 13, a->lines, &b);
    sg_sql_bind_text(st, 14, a->decision, &b);
    sg_sql_bind_text(st, 15, a->decision_code, &b);
    sg_sql_bind_text(st, 16, a->decision_state, &b);
    sg_sql_bind_text(st, 17, a->idempotency_key, &b);
    sg_sql_bind_text(st, 18, a->reason, &b);
    sg_sql_bind_text(st, 19, a->error, &b);
    sg_sql_bind_int(st, 20, a->restocked, &b);
    sg_sql_bind_int(st, 21, a->needs_fetch, &b);
    sg_sql_bind_int(st, 22, a->update_time, &b);
    sg_sql_bind_int(st, 23, now, &b);
    if (a->id)
        sg_sql_bind_int(st, 24, a->id, &b);
    rc = sg_sql_run(be, st, b, "aftersale put", NULL, err);
    if (!rc && !a->id) {
        a->id = sqlite3_last_insert_rowid(sg_sqlite_db(be));
        a->created_at = now;
    }
    if (!rc)
        a->updated_at = now;
    return rc;
}

static int sq_as_list(void *be, int64_t tenant_id, const struct sg_as_filter *f,
                      struct sg_aftersale **out, size_t *n_out,
                      struct sg_err *err)
{
    sqlite3_stmt *st = NULL;
    void *rows;
    size_t limit = f->limit;
    int b = SQLITE_OK, rc;

    *out = NULL;
    *n_out = 0;
    if (limit == 0 || limit > SG_FULFIL_LIST_MAX)
        limit = SG_FULFIL_LIST_MAX;
    rc = sg_sql_prep(be,
                     "SELECT " AS_COLS " FROM aftersales WHERE (?1 = 0 OR "
                     "tenant_id = ?1) AND (?2 IS NULL OR kind = ?2) AND (?3 "
                     "= 0 OR (?3 = 1 AND decision_state = 'requested') OR "
                     "(?3 = 2 AND needs_fetch = 1)) AND id > ?4 ORDER BY id "
                     "LIMIT ?5",
                     &st, err);
    if (rc)
        return rc;
    sg_sql_bind_int(st, 1, tenant_id, &b);
    sg_sql_bind_text(st, 2, f->kind, &b);
    sg_sql_bind_int(st, 3, f->work, &b);
    sg_sql_bind_int(st, 4, f->after_id, &b);
    sg_sql_bind_int(st, 5, (int64_t)limit, &b);
    rc = sg_sql_list(be, st, b, "aftersale list", &as_row, limit, &rows, n_out, err);
    *out = rows;
    return rc;
}

/* ---- viral buffers ---- */

static int fill_viral(struct sg_sql_row *rd, void *row)
{
    struct sg_viral_row *r = row;

    r->tenant_id = sg_sql_rd_i64(rd);
    SG_SQL_RD_STR(rd, r->sku);
    r->buffer = sg_sql_rd_i64(rd);
    r->rate_milli = sg_sql_rd_i64(rd);
    r->since = sg_sql_rd_i64(rd);
    r->updated_at = sg_sql_rd_i64(rd);
    return sg_sql_row_end(rd);
}

static const struct sg_sql_rowtype viral_row =
    SG_SQL_ROWTYPE(struct sg_viral_row, fill_viral, NULL);

static int viral_rows(void *be, sqlite3_stmt *st, int b, const char *what,
                      struct sg_viral_row **out, size_t *n_out,
                      struct sg_err *err)
{
    void *rows;
    int rc = sg_sql_list(be, st, b, what, &viral_row,
                         SG_FULFIL_LIST_MAX * 50, &rows, n_out, err);

    *out = rows;
    return rc;
}

static int sq_viral_rates(void *be, int64_t since_ms,
                          struct sg_viral_row **out, size_t *n_out,
                          struct sg_err *err)
{
    sqlite3_stmt *st = NULL;
    int b = SQLITE_OK;
    int rc = sg_sql_prep(
        be,
        "SELECT tenant_id, sku, max(buffer), sum(units), 0, 0 FROM ("
        "SELECT tenant_id, sku, 0 AS buffer, delta_reserved AS units FROM "
        "inventory_ledger WHERE reason = 'reserve' AND at >= ?1 UNION ALL "
        "SELECT tenant_id, sku, buffer, 0 FROM viral_buffers) GROUP BY "
        "tenant_id, sku ORDER BY tenant_id, sku",
        &st, err);

    *out = NULL;
    *n_out = 0;
    if (rc)
        return rc;
    sg_sql_bind_int(st, 1, since_ms, &b);
    return viral_rows(be, st, b, "viral rates", out, n_out, err);
}

static int sq_viral_put(void *be, const struct sg_viral_row *r, int64_t now,
                        struct sg_err *err)
{
    sqlite3_stmt *st = NULL;
    int b = SQLITE_OK;
    int rc = sg_sql_prep(be,
                         "INSERT INTO viral_buffers (tenant_id, sku, buffer, "
                         "rate_milli, since, updated_at) VALUES (?1, ?2, ?3, "
                         "?4, ?5, ?5) ON CONFLICT (tenant_id, sku) DO UPDATE "
                         "SET since = CASE WHEN buffer = excluded.buffer "
                         "THEN since ELSE excluded.since END, buffer = "
                         "excluded.buffer, rate_milli = excluded.rate_milli, "
                         "updated_at = excluded.updated_at",
                         &st, err);

    if (rc)
        return rc;
    sg_sql_bind_int(st, 1, r->tenant_id, &b);
    sg_sql_bind_text(st, 2, r->sku, &b);
    sg_sql_bind_int(st, 3, r->buffer, &b);
    sg_sql_bind_int(st, 4, r->rate_milli, &b);
    sg_sql_bind_int(st, 5, now, &b);
    return sg_sql_run(be, st, b, "viral put", NULL, err);
}

static int sq_viral_list(void *be, int64_t tenant_id, const char *sku,
                         struct sg_viral_row **out, size_t *n_out,
                         struct sg_err *err)
{
    sqlite3_stmt *st = NULL;
    int b = SQLITE_OK;
    int rc = sg_sql_prep(be,
                         "SELECT tenant_id, sku, buffer, rate_milli, since, "
                         "updated_at FROM viral_buffers WHERE (?1 = 0 OR "
                         "tenant_id = ?1) AND (?2 IS NULL OR sku = ?2) "
                         "ORDER BY tenant_id, sku",
                         &st, err);

    *out = NULL;
    *n_out = 0;
    if (rc)
        return rc;
    sg_sql_bind_int(st, 1, tenant_id, &b);
    sg_sql_bind_text(st, 2, sku, &b);
    return viral_rows(be, st, b, "viral list", out, n_out, err);
}

const struct sg_fulfil_store_ops sg_fulfil_sqlite_ops = {
    .version = SG_FULFIL_STORE_OPS_VERSION,
    .name = "sqlite",
    .export_get = sq_export_get,
    .export_put = sq_export_put,
    .ship_get = sq_ship_get,
    .ship_insert = sq_ship_insert,
    .ship_result = sq_ship_result,
    .ship_list = sq_ship_list,
    .as_get = sq_as_get,
    .as_put = sq_as_put,
    .as_list = sq_as_list,
    .viral_rates = sq_viral_rates,
    .viral_put = sq_viral_put,
    .viral_list = sq_viral_list,
};
