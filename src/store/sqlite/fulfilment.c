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

/* Local frees: the store library is linked below the features library. */
static void ship_free(struct sg_shipment *rows, size_t n)
{
    for (size_t i = 0; rows && i < n; i++) {
        sg_free(rows[i].lines);
        sg_free(rows[i].line_ids);
    }
    sg_free(rows);
}

static void as_free(struct sg_aftersale *rows, size_t n)
{
    for (size_t i = 0; rows && i < n; i++)
        sg_free(rows[i].lines);
    sg_free(rows);
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

static int fill_ship(sqlite3_stmt *st, struct sg_shipment *s)
{
    bool oom = false;

    memset(s, 0, sizeof(*s));
    s->id = sqlite3_column_int64(st, 0);
    s->tenant_id = sqlite3_column_int64(st, 1);
    s->order_id = sqlite3_column_int64(st, 2);
    sg_sql_col_copy(st, 3, s->channel_order_id, sizeof(s->channel_order_id));
    sg_sql_col_copy(st, 4, s->shop_id, sizeof(s->shop_id));
    sg_sql_col_copy(st, 5, s->carrier, sizeof(s->carrier));
    sg_sql_col_copy(st, 6, s->tracking_number, sizeof(s->tracking_number));
    s->weight_g = sqlite3_column_int64(st, 7);
    s->lines = sg_sql_col_dup(st, 8, &oom);
    s->line_ids = sg_sql_col_dup(st, 9, &oom);
    sg_sql_col_copy(st, 10, s->package_id, sizeof(s->package_id));
    sg_sql_col_copy(st, 11, s->status, sizeof(s->status));
    sg_sql_col_copy(st, 12, s->error, sizeof(s->error));
    s->attempts = sqlite3_column_int(st, 13);
    s->created_at = sqlite3_column_int64(st, 14);
    s->updated_at = sqlite3_column_int64(st, 15);
    return oom ? SG_ENOMEM : 0;
}

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
    rc = b == SQLITE_OK ? sqlite3_step(st) : b;
    if (rc == SQLITE_ROW)
        rc = fill_ship(st, out) ? sg_err_set(err, SG_ENOMEM, "out of memory")
                                : 0;
    else if (rc == SQLITE_DONE)
        rc = SG_ENOTFOUND;
    else
        rc = sg_sqlite_error(be, rc, "shipment get", err);
    sg_sql_end(be, st);
    return rc;
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
    struct sg_shipment *rows = NULL;
    size_t n = 0;
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
    rows = sg_calloc(limit, sizeof(*rows));
    if (!rows) {
        sg_sql_end(be, st);
        return sg_err_set(err, SG_ENOMEM, "out of memory");
    }
    while (b == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW &&
           n < limit)
        if (fill_ship(st, &rows[n++]) != 0)
            b = SQLITE_NOMEM;
    if (b != SQLITE_OK)
        rc = sg_err_set(err, SG_ENOMEM, "out of memory");
    else if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        rc = sg_sqlite_error(be, rc, "shipment list", err);
    else
        rc = 0;
    sg_sql_end(be, st);
    if (rc) {
        ship_free(rows, n);
        return rc;
    }
    *out = rows;
    *n_out = n;
    return 0;
}

/* ---- aftersales ---- */

static int fill_as(sqlite3_stmt *st, struct sg_aftersale *a)
{
    bool oom = false;

    memset(a, 0, sizeof(*a));
    a->id = sqlite3_column_int64(st, 0);
    a->tenant_id = sqlite3_column_int64(st, 1);
    sg_sql_col_copy(st, 2, a->kind, sizeof(a->kind));
    sg_sql_col_copy(st, 3, a->channel, sizeof(a->channel));
    sg_sql_col_copy(st, 4, a->shop_id, sizeof(a->shop_id));
    sg_sql_col_copy(st, 5, a->channel_id, sizeof(a->channel_id));
    sg_sql_col_copy(st, 6, a->channel_order_id, sizeof(a->channel_order_id));
    a->order_id = sqlite3_column_int64(st, 7);
    sg_sql_col_copy(st, 8, a->initiator, sizeof(a->initiator));
    sg_sql_col_copy(st, 9, a->type, sizeof(a->type));
    sg_sql_col_copy(st, 10, a->status, sizeof(a->status));
    a->refund_total = sqlite3_column_int64(st, 11);
    sg_sql_col_copy(st, 12, a->currency, sizeof(a->currency));
    a->lines = sg_sql_col_dup(st, 13, &oom);
    sg_sql_col_copy(st, 14, a->decision, sizeof(a->decision));
    sg_sql_col_copy(st, 15, a->decision_code, sizeof(a->decision_code));
    sg_sql_col_copy(st, 16, a->decision_state, sizeof(a->decision_state));
    sg_sql_col_copy(st, 17, a->idempotency_key, sizeof(a->idempotency_key));
    sg_sql_col_copy(st, 18, a->reason, sizeof(a->reason));
    sg_sql_col_copy(st, 19, a->error, sizeof(a->error));
    a->restocked = sqlite3_column_int(st, 20) != 0;
    a->needs_fetch = sqlite3_column_int(st, 21) != 0;
    a->update_time = sqlite3_column_int64(st, 22);
    a->created_at = sqlite3_column_int64(st, 23);
    a->updated_at = sqlite3_column_int64(st, 24);
    return oom ? SG_ENOMEM : 0;
}

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
    rc = b == SQLITE_OK ? sqlite3_step(st) : b;
    if (rc == SQLITE_ROW)
        rc = fill_as(st, out) ? sg_err_set(err, SG_ENOMEM, "out of memory")
                              : 0;
    else if (rc == SQLITE_DONE)
        rc = SG_ENOTFOUND;
    else
        rc = sg_sqlite_error(be, rc, "aftersale get", err);
    sg_sql_end(be, st);
    return rc;
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
    struct sg_aftersale *rows = NULL;
    size_t n = 0, limit = f->limit;
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
    rows = sg_calloc(limit, sizeof(*rows));
    if (!rows) {
        sg_sql_end(be, st);
        return sg_err_set(err, SG_ENOMEM, "out of memory");
    }
    while (b == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW &&
           n < limit)
        if (fill_as(st, &rows[n++]) != 0)
            b = SQLITE_NOMEM;
    if (b != SQLITE_OK)
        rc = sg_err_set(err, SG_ENOMEM, "out of memory");
    else if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        rc = sg_sqlite_error(be, rc, "aftersale list", err);
    else
        rc = 0;
    sg_sql_end(be, st);
    if (rc) {
        as_free(rows, n);
        return rc;
    }
    *out = rows;
    *n_out = n;
    return 0;
}

/* ---- viral buffers ---- */

static int viral_rows(void *be, sqlite3_stmt *st, int b, const char *what,
                      struct sg_viral_row **out, size_t *n_out,
                      struct sg_err *err)
{
    struct sg_viral_row *rows = NULL;
    size_t n = 0, cap = 0;
    int rc = SQLITE_OK;

    while (b == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW &&
           n < SG_FULFIL_LIST_MAX * 50) {
        if (n == cap) {
            struct sg_viral_row *r;

            cap = cap ? cap * 2 : 16;
            r = sg_realloc(rows, cap * sizeof(*rows));
            if (!r) {
                b = SQLITE_NOMEM;
                break;
            }
            rows = r;
        }
        memset(&rows[n], 0, sizeof(rows[n]));
        rows[n].tenant_id = sqlite3_column_int64(st, 0);
        sg_sql_col_copy(st, 1, rows[n].sku, sizeof(rows[n].sku));
        rows[n].buffer = sqlite3_column_int64(st, 2);
        rows[n].rate_milli = sqlite3_column_int64(st, 3);
        rows[n].since = sqlite3_column_int64(st, 4);
        rows[n].updated_at = sqlite3_column_int64(st, 5);
        n++;
    }
    if (b != SQLITE_OK)
        rc = sg_err_set(err, SG_ENOMEM, "out of memory");
    else if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        rc = sg_sqlite_error(be, rc, what, err);
    else
        rc = 0;
    sg_sql_end(be, st);
    if (rc) {
        sg_free(rows);
        return rc;
    }
    *out = rows;
    *n_out = n;
    return 0;
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
