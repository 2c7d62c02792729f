/*
 * orders.c - the orders' SQLite ops (features/orders/orders_store.h):
 * orders, their lines, applied versions, the fetch queue, the poll
 * cursors and the inventory check, on the connection behind a backend
 * handle. Callers run inside the writer's transaction for writes.
 */
#include "core/sg.h"

#include <sqlite3.h>

#include "core/alloc.h"
#include "features/orders/orders_store.h"
#include "store/store.h"
#include "store/sqlite/sqlutil.h"

#define ORDER_COLS                                                             \
    "id, tenant_id, channel, shop_id, channel_order_id, status, "              \
    "channel_create_time, channel_update_time, currency, subtotal, "           \
    "shipping_fee, tax, total, buyer_user_id, buyer_email, buyer_nickname, "   \
    "recipient_name, recipient_phone, address, region, postal_code, "          \
    "package_ids, oversold, oversold_action, version, created_at, updated_at"

/* ---- orders ---- */

/* A row of ORDER_COLS (the lines are load_lines' job). */
static int fill_order(struct sg_sql_row *rd, void *row)
{
    struct sg_order *o = row;
    char status[32];

    o->id = sg_sql_rd_i64(rd);
    o->tenant_id = sg_sql_rd_i64(rd);
    SG_SQL_RD_STR(rd, o->channel);
    SG_SQL_RD_STR(rd, o->shop_id);
    SG_SQL_RD_STR(rd, o->channel_order_id);
    SG_SQL_RD_STR(rd, status);
    o->status = sg_order_status_parse(status);
    o->create_time = sg_sql_rd_i64(rd);
    o->update_time = sg_sql_rd_i64(rd);
    SG_SQL_RD_STR(rd, o->currency);
    o->subtotal = sg_sql_rd_i64(rd);
    o->shipping_fee = sg_sql_rd_i64(rd);
    o->tax = sg_sql_rd_i64(rd);
    o->total = sg_sql_rd_i64(rd);
    SG_SQL_RD_STR(rd, o->buyer_user_id);
    o->buyer_email = sg_sql_rd_dup(rd);
    o->buyer_nickname = sg_sql_rd_dup(rd);
    o->recipient_name = sg_sql_rd_dup(rd);
    o->recipient_phone = sg_sql_rd_dup(rd);
    o->address = sg_sql_rd_dup(rd);
    SG_SQL_RD_STR(rd, o->region);
    SG_SQL_RD_STR(rd, o->postal_code);
    o->package_ids = sg_sql_rd_dup(rd);
    o->oversold = sg_sql_rd_bool(rd);
    SG_SQL_RD_STR(rd, o->oversold_action);
    o->version = sg_sql_rd_i64(rd);
    o->created_at = sg_sql_rd_i64(rd);
    o->updated_at = sg_sql_rd_i64(rd);
    return sg_sql_row_end(rd);
}

static void release_order(void *row)
{
    sg_order_release(row);
}

static const struct sg_sql_rowtype order_row =
    SG_SQL_ROWTYPE(struct sg_order, fill_order, release_order);

static int fill_line(struct sg_sql_row *rd, void *row)
{
    struct sg_order_line *l = row;
    char inv[16];

    l->id = sg_sql_rd_i64(rd);
    SG_SQL_RD_STR(rd, l->channel_line_id);
    SG_SQL_RD_STR(rd, l->channel_sku_id);
    SG_SQL_RD_STR(rd, l->sku);
    l->product_name = sg_sql_rd_dup(rd);
    l->qty = sg_sql_rd_i64(rd);
    l->unit_price = sg_sql_rd_i64(rd);
    SG_SQL_RD_STR(rd, l->status);
    SG_SQL_RD_STR(rd, l->package_id);
    SG_SQL_RD_STR(rd, l->location);
    SG_SQL_RD_STR(rd, inv);
    l->inv = sg_line_inv_parse(inv);
    if (l->inv < 0)
        l->inv = SG_LINE_NONE;
    return sg_sql_row_end(rd);
}

static void release_line(void *row)
{
    sg_order_line_release(row);
}

static const struct sg_sql_rowtype line_row =
    SG_SQL_ROWTYPE(struct sg_order_line, fill_line, release_line);

/* The order's lines, at most SG_ORD_LINES_MAX (the rest are not read). */
static int load_lines(void *be, struct sg_order *o, struct sg_err *err)
{
    sqlite3_stmt *st = NULL;
    void *lines;
    int rc, b = SQLITE_OK;

    rc = sg_sql_prep(be,
              "SELECT id, channel_line_id, channel_sku_id, sku, product_name, "
              "qty, unit_price, status, package_id, location, inv "
              "FROM order_lines WHERE order_id = ?1 ORDER BY id",
              &st, err);
    if (rc)
        return rc;
    sg_sql_bind_int(st, 1, o->id, &b);
    rc = sg_sql_list(be, st, b, "order lines", &line_row, SG_ORD_LINES_MAX,
                     &lines, &o->n_lines, err);
    o->lines = lines;
    return rc;
}

static int sq_order_get(void *be, int64_t tenant_id, int64_t id,
                        const char *channel, const char *channel_order_id,
                        struct sg_order *out, struct sg_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc, b = SQLITE_OK;

    memset(out, 0, sizeof(*out));
    if (id)
        rc = sg_sql_prep(be, "SELECT " ORDER_COLS " FROM orders WHERE tenant_id = ?1 "
                  "AND id = ?2", &st, err);
    else
        rc = sg_sql_prep(be, "SELECT " ORDER_COLS " FROM orders WHERE tenant_id = ?1 "
                  "AND channel = ?3 AND channel_order_id = ?4", &st, err);
    if (rc)
        return rc;
    sg_sql_bind_int(st, 1, tenant_id, &b);
    if (id)
        sg_sql_bind_int(st, 2, id, &b);
    else {
        sg_sql_bind_text(st, 3, channel, &b);
        sg_sql_bind_text(st, 4, channel_order_id, &b);
    }
    rc = sg_sql_get(be, st, b, "order get", &order_row, out, "order not found",
                    err);
    if (!rc)
        rc = load_lines(be, out, err);
    return rc;
}

static void bind_header(sqlite3_stmt *st, const struct sg_order *o, int *b)
{
    sg_sql_bind_text(st, 1, sg_order_status_name(o->status), b);
    sg_sql_bind_int(st, 2, o->create_time, b);
    sg_sql_bind_int(st, 3, o->update_time, b);
    sg_sql_bind_text(st, 4, o->currency, b);
    sg_sql_bind_int(st, 5, o->subtotal, b);
    sg_sql_bind_int(st, 6, o->shipping_fee, b);
    sg_sql_bind_int(st, 7, o->tax, b);
    sg_sql_bind_int(st, 8, o->total, b);
    sg_sql_bind_text(st, 9, o->buyer_user_id, b);
    sg_sql_bind_text(st, 10, o->buyer_email, b);
    sg_sql_bind_text(st, 11, o->buyer_nickname, b);
    sg_sql_bind_text(st, 12, o->recipient_name, b);
    sg_sql_bind_text(st, 13, o->recipient_phone, b);
    sg_sql_bind_text(st, 14, o->address, b);
    sg_sql_bind_text(st, 15, o->region, b);
    sg_sql_bind_text(st, 16, o->postal_code, b);
    sg_sql_bind_text(st, 17, o->package_ids, b);
    sg_sql_bind_int(st, 18, o->oversold ? 1 : 0, b);
    sg_sql_bind_text(st, 19, o->oversold_action, b);
    sg_sql_bind_int(st, 20, o->version, b);
}

/*
 * A line already stored (its id known: read with the order, or carried
 * from the stored version) is updated by id. A line of an order inserted
 * by this put cannot exist yet: a plain INSERT, its id the rowid. Only
 * what is left (a line without an id on an order stored before) takes
 * the upsert with RETURNING. SQLite runs a RETURNING statement through
 * an ephemeral b-tree of its own, opened and closed per statement: with
 * it on every order and line row, those rows were the largest item of
 * the writer's profile under an order flood (bench/spike).
 */
static int put_line(void *be, struct sg_order *o, struct sg_order_line *l,
                    bool fresh, struct sg_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc, b = SQLITE_OK, changes = 0;

    if (l->id > 0 && !fresh) {
        rc = sg_sql_prep(be,
                  "UPDATE order_lines SET status = ?1, package_id = ?2, "
                  "inv = ?3 WHERE id = ?4 AND order_id = ?5 AND "
                  "channel_line_id = ?6",
                  &st, err);
        if (rc)
            return rc;
        sg_sql_bind_text(st, 1, l->status, &b);
        sg_sql_bind_text(st, 2, l->package_id[0] ? l->package_id : NULL, &b);
        sg_sql_bind_text(st, 3, sg_line_inv_name(l->inv), &b);
        sg_sql_bind_int(st, 4, l->id, &b);
        sg_sql_bind_int(st, 5, o->id, &b);
        sg_sql_bind_text(st, 6, l->channel_line_id, &b);
        rc = sg_sql_run(be, st, b, "order line", &changes, err);
        if (rc || changes > 0)
            return rc;
        b = SQLITE_OK;
    }
    if (fresh)
        rc = sg_sql_prep(be,
                  "INSERT INTO order_lines (tenant_id, order_id, "
                  "channel_line_id, channel_sku_id, sku, product_name, qty, "
                  "unit_price, status, package_id, location, inv) VALUES "
                  "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                  &st, err);
    else
        rc = sg_sql_prep(be,
                  "INSERT INTO order_lines (tenant_id, order_id, "
                  "channel_line_id, channel_sku_id, sku, product_name, qty, "
                  "unit_price, status, package_id, location, inv) VALUES "
                  "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) "
                  "ON CONFLICT (order_id, channel_line_id) DO UPDATE SET "
                  "status = excluded.status, package_id = "
                  "excluded.package_id, inv = excluded.inv "
                  "RETURNING id",
                  &st, err);
    if (rc)
        return rc;
    sg_sql_bind_int(st, 1, o->tenant_id, &b);
    sg_sql_bind_int(st, 2, o->id, &b);
    sg_sql_bind_text(st, 3, l->channel_line_id, &b);
    sg_sql_bind_text(st, 4, l->channel_sku_id, &b);
    sg_sql_bind_text(st, 5, l->sku, &b);
    sg_sql_bind_text(st, 6, l->product_name, &b);
    sg_sql_bind_int(st, 7, l->qty, &b);
    sg_sql_bind_int(st, 8, l->unit_price, &b);
    sg_sql_bind_text(st, 9, l->status, &b);
    sg_sql_bind_text(st, 10, l->package_id[0] ? l->package_id : NULL, &b);
    sg_sql_bind_text(st, 11, l->location, &b);
    sg_sql_bind_text(st, 12, sg_line_inv_name(l->inv), &b);
    rc = b == SQLITE_OK ? sqlite3_step(st) : b;
    if (fresh && (rc & 0xff) == SQLITE_CONSTRAINT) {
        /* The same line id twice in one order: the later one wins, as
         * with the upsert. The failed INSERT changed nothing. */
        sg_sql_end(be, st);
        return put_line(be, o, l, false, err);
    }
    if (fresh && rc == SQLITE_DONE) {
        l->id = sqlite3_last_insert_rowid(sg_sqlite_db(be));
        rc = 0;
    } else if (!fresh && rc == SQLITE_ROW) {
        l->id = sqlite3_column_int64(st, 0);
        rc = 0;
    } else
        rc = sg_sqlite_error(be, rc, "order line", err);
    sg_sql_end(be, st);
    return rc;
}

static int put_lines(void *be, struct sg_order *o, bool fresh,
                     struct sg_err *err)
{
    int rc = 0;

    for (size_t i = 0; !rc && i < o->n_lines; i++)
        rc = put_line(be, o, &o->lines[i], fresh, err);
    return rc;
}

static int sq_order_put(void *be, struct sg_order *o, int64_t now,
                        struct sg_err *err)
{
    sqlite3_stmt *st = NULL;
    bool fresh = false;
    int rc, b = SQLITE_OK;

    if (o->id == 0) {
        rc = sg_sql_prep(be,
                  "INSERT INTO orders (status, channel_create_time, "
                  "channel_update_time, currency, subtotal, shipping_fee, "
                  "tax, total, buyer_user_id, buyer_email, buyer_nickname, "
                  "recipient_name, recipient_phone, address, region, "
                  "postal_code, package_ids, oversold, oversold_action, "
                  "version, tenant_id, channel, shop_id, channel_order_id, "
                  "created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, "
                  "?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, "
                  "?19, ?20, ?21, ?22, ?23, ?24, ?25, ?25)",
                  &st, err);
        if (rc)
            return rc;
        bind_header(st, o, &b);
        sg_sql_bind_int(st, 21, o->tenant_id, &b);
        sg_sql_bind_text(st, 22, o->channel, &b);
        sg_sql_bind_text(st, 23, o->shop_id, &b);
        sg_sql_bind_text(st, 24, o->channel_order_id, &b);
        sg_sql_bind_int(st, 25, now, &b);
        rc = b == SQLITE_OK ? sqlite3_step(st) : b;
        if (rc == SQLITE_DONE) {
            o->id = sqlite3_last_insert_rowid(sg_sqlite_db(be));
            o->created_at = o->updated_at = now;
            fresh = true;
            rc = 0;
        } else if ((rc & 0xff) == SQLITE_CONSTRAINT)
            rc = sg_err_set(err, SG_EEXISTS, "order %s exists",
                            o->channel_order_id);
        else
            rc = sg_sqlite_error(be, rc, "order insert", err);
        sg_sql_end(be, st);
    } else {
        rc = sg_sql_prep(be,
                  "UPDATE orders SET status = ?1, channel_create_time = ?2, "
                  "channel_update_time = ?3, currency = ?4, subtotal = ?5, "
                  "shipping_fee = ?6, tax = ?7, total = ?8, buyer_user_id = "
                  "?9, buyer_email = ?10, buyer_nickname = ?11, "
                  "recipient_name = ?12, recipient_phone = ?13, address = "
                  "?14, region = ?15, postal_code = ?16, package_ids = ?17, "
                  "oversold = ?18, oversold_action = ?19, version = ?20, "
                  "updated_at = ?21 WHERE id = ?22 AND tenant_id = ?23",
                  &st, err);
        if (rc)
            return rc;
        bind_header(st, o, &b);
        sg_sql_bind_int(st, 21, now, &b);
        sg_sql_bind_int(st, 22, o->id, &b);
        sg_sql_bind_int(st, 23, o->tenant_id, &b);
        rc = sg_sql_run(be, st, b, "order update", NULL, err);
        o->updated_at = now;
    }
    if (!rc)
        rc = put_lines(be, o, fresh, err);
    return rc;
}

/* Step st (bound, bind result b) into up to limit order headers. */
static int read_orders(void *be, sqlite3_stmt *st, int b, size_t limit,
                       const char *what, struct sg_order **out,
                       size_t *n_out, struct sg_err *err)
{
    void *rows;
    int rc = sg_sql_list(be, st, b, what, &order_row, limit, &rows, n_out,
                         err);

    *out = rows;
    return rc;
}

static int sq_order_list(void *be, int64_t tenant_id,
                         const struct sg_order_filter *f,
                         struct sg_order **out, size_t *n_out,
                         struct sg_err *err)
{
    sqlite3_stmt *st = NULL;
    size_t limit = f->limit;
    int rc, b = SQLITE_OK;

    *out = NULL;
    *n_out = 0;
    if (limit == 0 || limit > SG_ORD_LIST_MAX)
        limit = SG_ORD_LIST_MAX;
    rc = sg_sql_prep(be,
              "SELECT " ORDER_COLS " FROM orders WHERE tenant_id = ?1 AND "
              "id > ?2 AND (?3 IS NULL OR status = ?3) AND (?4 < 0 OR "
              "oversold = ?4) AND (?5 IS NULL OR channel = ?5) "
              "ORDER BY id LIMIT ?6",
              &st, err);
    if (rc)
        return rc;
    sg_sql_bind_int(st, 1, tenant_id, &b);
    sg_sql_bind_int(st, 2, f->after_id, &b);
    sg_sql_bind_text(st, 3, f->status ? sg_order_status_name(f->status) : NULL, &b);
    sg_sql_bind_int(st, 4, f->oversold, &b);
    sg_sql_bind_text(st, 5, f->channel, &b);
    sg_sql_bind_int(st, 6, (int64_t)limit, &b);
    return read_orders(be, st, b, limit, "order list", out, n_out, err);
}

static int sq_event_insert(void *be, int64_t tenant_id, int64_t order_id,
                           const char *from, const char *to,
                           int64_t update_time, const char *source,
                           int64_t now, struct sg_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc, b = SQLITE_OK;

    rc = sg_sql_prep(be,
              "INSERT INTO order_events (tenant_id, order_id, from_status, "
              "to_status, update_time, source, at) VALUES (?1, ?2, ?3, ?4, "
              "?5, ?6, ?7)",
              &st, err);
    if (rc)
        return rc;
    sg_sql_bind_int(st, 1, tenant_id, &b);
    sg_sql_bind_int(st, 2, order_id, &b);
    sg_sql_bind_text(st, 3, from, &b);
    sg_sql_bind_text(st, 4, to, &b);
    sg_sql_bind_int(st, 5, update_time, &b);
    sg_sql_bind_text(st, 6, source, &b);
    sg_sql_bind_int(st, 7, now, &b);
    return sg_sql_run(be, st, b, "order event", NULL, err);
}

static int sq_set_oversold_action(void *be, int64_t tenant_id, int64_t id,
                                  const char *action, int64_t now,
                                  struct sg_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc, b = SQLITE_OK;

    rc = sg_sql_prep(be,
              "UPDATE orders SET oversold_action = ?1, updated_at = ?2 "
              "WHERE id = ?3 AND tenant_id = ?4",
              &st, err);
    if (rc)
        return rc;
    sg_sql_bind_text(st, 1, action, &b);
    sg_sql_bind_int(st, 2, now, &b);
    sg_sql_bind_int(st, 3, id, &b);
    sg_sql_bind_int(st, 4, tenant_id, &b);
    return sg_sql_run(be, st, b, "oversold action", NULL, err);
}

/*
 * Orders with a line of this SKU still oversold, oldest first: the ones a
 * release of the SKU's stock may cover. Cancelled orders and orders whose
 * cancellation Surge has asked for are not waiting for stock.
 */
static int sq_oversold_by_sku(void *be, int64_t tenant_id, const char *sku,
                              size_t max, int64_t *ids_out, size_t *n_out,
                              struct sg_err *err)
{
    sqlite3_stmt *st = NULL;
    size_t n = 0;
    int rc, b = SQLITE_OK;

    *n_out = 0;
    rc = sg_sql_prep(be,
              "SELECT DISTINCT o.id FROM order_lines l JOIN orders o "
              "ON o.id = l.order_id WHERE l.tenant_id = ?1 AND l.sku = ?2 "
              "AND l.inv = 'oversold' AND l.status <> 'CANCELLED' "
              "AND o.oversold = 1 AND o.status <> 'CANCELLED' "
              "AND o.oversold_action NOT IN ('cancel_requested', "
              "'cancelling') "
              "ORDER BY o.id LIMIT ?3",
              &st, err);
    if (rc)
        return rc;
    sg_sql_bind_int(st, 1, tenant_id, &b);
    sg_sql_bind_text(st, 2, sku, &b);
    sg_sql_bind_int(st, 3, (int64_t)max, &b);
    while (b == SQLITE_OK && n < max &&
           (rc = sqlite3_step(st)) == SQLITE_ROW)
        ids_out[n++] = sqlite3_column_int64(st, 0);
    if (b != SQLITE_OK)
        rc = sg_sqlite_error(be, b, "oversold orders", err);
    else if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        rc = sg_sqlite_error(be, rc, "oversold orders", err);
    else
        rc = 0;
    sg_sql_end(be, st);
    if (!rc)
        *n_out = n;
    return rc;
}

/* Oversold orders (every tenant) in action, last changed <= before. */
static int sq_oversold_due(void *be, const char *action, int64_t before,
                           size_t max, struct sg_order **out, size_t *n_out,
                           struct sg_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc, b = SQLITE_OK;

    *out = NULL;
    *n_out = 0;
    if (max == 0 || max > SG_ORD_LIST_MAX)
        max = SG_ORD_LIST_MAX;
    rc = sg_sql_prep(be,
              "SELECT " ORDER_COLS " FROM orders WHERE oversold = 1 AND "
              "oversold_action = ?1 AND updated_at <= ?2 ORDER BY id "
              "LIMIT ?3",
              &st, err);
    if (rc)
        return rc;
    sg_sql_bind_text(st, 1, action, &b);
    sg_sql_bind_int(st, 2, before, &b);
    sg_sql_bind_int(st, 3, (int64_t)max, &b);
    return read_orders(be, st, b, max, "oversold due", out, n_out, err);
}

static int sq_swap_oversold_action(void *be, int64_t tenant_id, int64_t id,
                                   const char *from, const char *to,
                                   int64_t now, bool *swapped,
                                   struct sg_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc, b = SQLITE_OK, changes = 0;

    *swapped = false;
    rc = sg_sql_prep(be,
              "UPDATE orders SET oversold_action = ?1, updated_at = ?2 "
              "WHERE id = ?3 AND tenant_id = ?4 AND oversold_action = ?5",
              &st, err);
    if (rc)
        return rc;
    sg_sql_bind_text(st, 1, to, &b);
    sg_sql_bind_int(st, 2, now, &b);
    sg_sql_bind_int(st, 3, id, &b);
    sg_sql_bind_int(st, 4, tenant_id, &b);
    sg_sql_bind_text(st, 5, from, &b);
    rc = sg_sql_run(be, st, b, "oversold action", &changes, err);
    if (!rc)
        *swapped = changes == 1;
    return rc;
}

/* ---- fetch queue and cursors ---- */

static int sq_fetch_mark(void *be, int64_t tenant_id, const char *channel,
                         const char *shop_id, const char *id,
                         const char *reason, int64_t now, struct sg_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc, b = SQLITE_OK;

    rc = sg_sql_prep(be,
              "INSERT INTO order_fetch (tenant_id, channel, shop_id, "
              "channel_order_id, reason, queued_at) VALUES (?1, ?2, ?3, ?4, "
              "?5, ?6) ON CONFLICT (channel, shop_id, channel_order_id) "
              "DO UPDATE SET gen = gen + 1",
              &st, err);
    if (rc)
        return rc;
    sg_sql_bind_int(st, 1, tenant_id, &b);
    sg_sql_bind_text(st, 2, channel, &b);
    sg_sql_bind_text(st, 3, shop_id, &b);
    sg_sql_bind_text(st, 4, id, &b);
    sg_sql_bind_text(st, 5, reason, &b);
    sg_sql_bind_int(st, 6, now, &b);
    return sg_sql_run(be, st, b, "order fetch mark", NULL, err);
}

static int sq_fetch_done(void *be, const char *channel, const char *shop_id,
                         const char *id, int64_t gen, struct sg_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc, b = SQLITE_OK;

    rc = sg_sql_prep(be,
              "DELETE FROM order_fetch WHERE channel = ?1 AND shop_id = ?2 "
              "AND channel_order_id = ?3 AND gen = ?4",
              &st, err);
    if (rc)
        return rc;
    sg_sql_bind_text(st, 1, channel, &b);
    sg_sql_bind_text(st, 2, shop_id, &b);
    sg_sql_bind_text(st, 3, id, &b);
    sg_sql_bind_int(st, 4, gen, &b);
    return sg_sql_run(be, st, b, "order fetch done", NULL, err);
}

static int sq_fetch_failed(void *be, const char *channel, const char *shop_id,
                           const char *id, int attempts_max,
                           struct sg_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc, b = SQLITE_OK;

    rc = sg_sql_prep(be,
              "UPDATE order_fetch SET attempts = attempts + 1 WHERE channel "
              "= ?1 AND shop_id = ?2 AND channel_order_id = ?3",
              &st, err);
    if (rc)
        return rc;
    sg_sql_bind_text(st, 1, channel, &b);
    sg_sql_bind_text(st, 2, shop_id, &b);
    sg_sql_bind_text(st, 3, id, &b);
    rc = sg_sql_run(be, st, b, "order fetch failed", NULL, err);
    if (rc)
        return rc;
    b = SQLITE_OK;
    rc = sg_sql_prep(be,
              "DELETE FROM order_fetch WHERE channel = ?1 AND shop_id = ?2 "
              "AND channel_order_id = ?3 AND attempts >= ?4",
              &st, err);
    if (rc)
        return rc;
    sg_sql_bind_text(st, 1, channel, &b);
    sg_sql_bind_text(st, 2, shop_id, &b);
    sg_sql_bind_text(st, 3, id, &b);
    sg_sql_bind_int(st, 4, attempts_max, &b);
    return sg_sql_run(be, st, b, "order fetch drop", NULL, err);
}

static int fill_fetch(struct sg_sql_row *rd, void *row)
{
    struct sg_order_fetch *f = row;

    f->tenant_id = sg_sql_rd_i64(rd);
    SG_SQL_RD_STR(rd, f->channel);
    SG_SQL_RD_STR(rd, f->shop_id);
    SG_SQL_RD_STR(rd, f->channel_order_id);
    f->attempts = sg_sql_rd_int(rd);
    SG_SQL_RD_STR(rd, f->reason);
    f->gen = sg_sql_rd_i64(rd);
    return sg_sql_row_end(rd);
}

static const struct sg_sql_rowtype fetch_row =
    SG_SQL_ROWTYPE(struct sg_order_fetch, fill_fetch, NULL);

static int sq_fetch_pending(void *be, size_t max, struct sg_order_fetch **out,
                            size_t *n_out, struct sg_err *err)
{
    sqlite3_stmt *st = NULL;
    void *rows;
    int rc, b = SQLITE_OK;

    *out = NULL;
    *n_out = 0;
    if (max == 0)
        return 0;
    rc = sg_sql_prep(be,
              "SELECT tenant_id, channel, shop_id, channel_order_id, "
              "attempts, reason, gen FROM order_fetch ORDER BY channel, "
              "shop_id, "
              "queued_at, channel_order_id LIMIT ?1",
              &st, err);
    if (rc)
        return rc;
    sg_sql_bind_int(st, 1, (int64_t)max, &b);
    rc = sg_sql_list(be, st, b, "order fetch", &fetch_row, max, &rows, n_out,
                     err);
    *out = rows;
    return rc;
}

static int sq_order_update_time(void *be, int64_t tenant_id,
                                const char *channel, const char *id,
                                int64_t *out, struct sg_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc, b = SQLITE_OK;

    rc = sg_sql_prep(be,
              "SELECT channel_update_time FROM orders WHERE tenant_id = ?1 "
              "AND channel = ?2 AND channel_order_id = ?3",
              &st, err);
    if (rc)
        return rc;
    sg_sql_bind_int(st, 1, tenant_id, &b);
    sg_sql_bind_text(st, 2, channel, &b);
    sg_sql_bind_text(st, 3, id, &b);
    return sg_sql_get(be, st, b, "order update time", &sg_sql_row_i64, out,
                      NULL, err);
}

static int fill_backlog(struct sg_sql_row *rd, void *row)
{
    struct sg_order_backlog *b = row;

    b->n = sg_sql_rd_i64(rd);
    b->oldest_queued_at = sg_sql_rd_i64(rd);
    return 0;
}

static int sq_fetch_backlog(void *be, struct sg_order_backlog *out,
                            struct sg_err *err)
{
    static const struct sg_sql_rowtype backlog_row =
        SG_SQL_ROWTYPE(struct sg_order_backlog, fill_backlog, NULL);
    sqlite3_stmt *st = NULL;
    int rc;

    rc = sg_sql_prep(be,
              "SELECT COUNT(*), COALESCE(MIN(queued_at), 0) FROM order_fetch",
              &st, err);
    if (rc)
        return rc;
    return sg_sql_get(be, st, SQLITE_OK, "order fetch backlog", &backlog_row,
                      out, "order fetch backlog: no row", err);
}

static int sq_cursor_get(void *be, const char *channel, const char *shop_id,
                         int64_t *update_time_out, struct sg_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc, b = SQLITE_OK;

    rc = sg_sql_prep(be,
              "SELECT update_time FROM order_cursors WHERE channel = ?1 AND "
              "shop_id = ?2",
              &st, err);
    if (rc)
        return rc;
    sg_sql_bind_text(st, 1, channel, &b);
    sg_sql_bind_text(st, 2, shop_id, &b);
    return sg_sql_get(be, st, b, "order cursor", &sg_sql_row_i64,
                      update_time_out, "no cursor", err);
}

static int sq_cursor_set(void *be, int64_t tenant_id, const char *channel,
                         const char *shop_id, int64_t update_time,
                         int64_t now, struct sg_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc, b = SQLITE_OK;

    rc = sg_sql_prep(be,
              "INSERT INTO order_cursors (tenant_id, channel, shop_id, "
              "update_time, polled_at) VALUES (?1, ?2, ?3, ?4, ?5) "
              "ON CONFLICT (channel, shop_id) DO UPDATE SET update_time = "
              "max(update_time, excluded.update_time), polled_at = "
              "excluded.polled_at, tenant_id = excluded.tenant_id",
              &st, err);
    if (rc)
        return rc;
    sg_sql_bind_int(st, 1, tenant_id, &b);
    sg_sql_bind_text(st, 2, channel, &b);
    sg_sql_bind_text(st, 3, shop_id, &b);
    sg_sql_bind_int(st, 4, update_time, &b);
    sg_sql_bind_int(st, 5, now, &b);
    return sg_sql_run(be, st, b, "order cursor", NULL, err);
}

/* ---- the inventory check ---- */

/*
 * One query per rule; each row it returns is a violation, rendered as
 * text by the query itself so the rule and its message stay together.
 */
static const char *const checks[] = {
    /* The level invariant (the schema's CHECKs hold it; this proves it). */
    "SELECT printf('%s@%s: on_hand %d, reserved %d, committed %d: "
    "available %d is negative or a count is', sku, location, on_hand, "
    "reserved, committed, on_hand - reserved - committed) FROM "
    "inventory_levels WHERE (?1 = 0 OR tenant_id = ?1) AND (on_hand < 0 OR "
    "reserved < 0 OR committed < 0 OR on_hand - reserved - committed < 0) "
    "ORDER BY tenant_id, sku, location",
    /* The ledger explains every unit of every level. */
    "SELECT printf('%s@%s: ledger sums on_hand %d reserved %d committed %d, "
    "level has %d %d %d', l.sku, l.location, coalesce(g.oh, 0), "
    "coalesce(g.rs, 0), coalesce(g.cm, 0), l.on_hand, l.reserved, "
    "l.committed) FROM inventory_levels l LEFT JOIN (SELECT tenant_id, "
    "sku, location, sum(delta_on_hand) AS oh, sum(delta_reserved) AS rs, "
    "sum(delta_committed) AS cm FROM inventory_ledger GROUP BY tenant_id, "
    "sku, location) g ON g.tenant_id = l.tenant_id AND g.sku = l.sku AND "
    "g.location = l.location WHERE (?1 = 0 OR l.tenant_id = ?1) AND "
    "(coalesce(g.oh, 0) != l.on_hand OR coalesce(g.rs, 0) != l.reserved OR "
    "coalesce(g.cm, 0) != l.committed) ORDER BY l.tenant_id, l.sku",
    /* Ledger rows without a level. */
    "SELECT printf('%s@%s: ledger rows but no level', g.sku, g.location) "
    "FROM (SELECT DISTINCT tenant_id, sku, location FROM inventory_ledger "
    "WHERE ?1 = 0 OR tenant_id = ?1) g WHERE NOT EXISTS (SELECT 1 FROM "
    "inventory_levels l WHERE l.tenant_id = g.tenant_id AND l.sku = g.sku "
    "AND l.location = g.location)",
    /* Reserved units are exactly the order lines holding a reservation. */
    "SELECT printf('%s@%s: reserved %d but order lines hold %d', l.sku, "
    "l.location, l.reserved, coalesce(o.q, 0)) FROM inventory_levels l "
    "LEFT JOIN (SELECT tenant_id, sku, location, sum(qty) AS q FROM "
    "order_lines WHERE inv = 'reserved' GROUP BY tenant_id, sku, location) "
    "o ON o.tenant_id = l.tenant_id AND o.sku = l.sku AND o.location = "
    "l.location WHERE (?1 = 0 OR l.tenant_id = ?1) AND l.reserved != "
    "coalesce(o.q, 0) ORDER BY l.tenant_id, l.sku",
    /* Order lines holding stock of a level that does not exist. */
    "SELECT printf('%s@%s: order lines hold %d with no level', o.sku, "
    "o.location, sum(o.qty)) FROM order_lines o WHERE (?1 = 0 OR "
    "o.tenant_id = ?1) AND o.inv = 'reserved' AND NOT EXISTS (SELECT 1 "
    "FROM inventory_levels l WHERE l.tenant_id = o.tenant_id AND l.sku = "
    "o.sku AND l.location = o.location) GROUP BY o.tenant_id, o.sku, "
    "o.location",
};

#define REPORT_LINES_MAX 1000

static int sq_inv_check(void *be, int64_t tenant_id, size_t *levels_out,
                        size_t *violations_out, struct sg_buf *report,
                        struct sg_err *err)
{
    sqlite3_stmt *st = NULL;
    size_t v = 0;
    int rc, b = SQLITE_OK;

    *levels_out = 0;
    *violations_out = 0;
    rc = sg_sql_prep(be,
              "SELECT count(*) FROM inventory_levels WHERE ?1 = 0 OR "
              "tenant_id = ?1",
              &st, err);
    if (rc)
        return rc;
    sg_sql_bind_int(st, 1, tenant_id, &b);
    rc = b == SQLITE_OK ? sqlite3_step(st) : b;
    if (rc != SQLITE_ROW) {
        rc = sg_sqlite_error(be, rc, "inventory check", err);
        sg_sql_end(be, st);
        return rc;
    }
    *levels_out = (size_t)sqlite3_column_int64(st, 0);
    sg_sql_end(be, st);
    for (size_t i = 0; i < SG_ARRAY_SIZE(checks); i++) {
        b = SQLITE_OK;
        rc = sg_sql_prep(be, checks[i], &st, err);
        if (rc)
            return rc;
        sg_sql_bind_int(st, 1, tenant_id, &b);
        while (b == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
            const unsigned char *t = sqlite3_column_text(st, 0);

            v++;
            if (v <= REPORT_LINES_MAX &&
                sg_buf_printf(report, "%s\n", t ? (const char *)t : "") != 0)
                b = SQLITE_NOMEM;
        }
        if (b != SQLITE_OK || rc != SQLITE_DONE) {
            rc = sg_sqlite_error(be, b != SQLITE_OK ? b : rc,
                                 "inventory check", err);
            sg_sql_end(be, st);
            return rc;
        }
        sg_sql_end(be, st);
    }
    *violations_out = v;
    return 0;
}

const struct sg_orders_store_ops sg_orders_sqlite_ops = {
    .version = SG_ORDERS_STORE_OPS_VERSION,
    .name = "sqlite",
    .order_get = sq_order_get,
    .order_put = sq_order_put,
    .order_list = sq_order_list,
    .event_insert = sq_event_insert,
    .set_oversold_action = sq_set_oversold_action,
    .fetch_mark = sq_fetch_mark,
    .fetch_done = sq_fetch_done,
    .fetch_failed = sq_fetch_failed,
    .fetch_pending = sq_fetch_pending,
    .cursor_get = sq_cursor_get,
    .cursor_set = sq_cursor_set,
    .inv_check = sq_inv_check,
    .oversold_by_sku = sq_oversold_by_sku,
    .oversold_due = sq_oversold_due,
    .swap_oversold_action = sq_swap_oversold_action,
    .order_update_time = sq_order_update_time,
    .fetch_backlog = sq_fetch_backlog,
};
