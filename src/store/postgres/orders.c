/*
 * orders.c - the orders' PostgreSQL ops (features/orders/orders_store.h):
 * orders, their lines, applied versions, the fetch queue, the poll
 * cursors and the inventory check, the same SQL as src/store/sqlite/
 * orders.c in PostgreSQL's dialect (format() for printf, GREATEST for the
 * two-argument max).
 */
#include "core/sg.h"

#include "core/alloc.h"
#include "features/orders/orders_store.h"
#include "store/postgres/pgutil.h"
#include "store/store.h"

#define ORDER_COLS                                                             \
    "id, tenant_id, channel, shop_id, channel_order_id, status, "              \
    "channel_create_time, channel_update_time, currency, subtotal, "           \
    "shipping_fee, tax, total, buyer_user_id, buyer_email, buyer_nickname, "   \
    "recipient_name, recipient_phone, address, region, postal_code, "          \
    "package_ids, oversold, oversold_action, version, created_at, updated_at"

/* ---- orders ---- */

/* The rowtypes' releases: src/store/order_rows.c's. */
static void line_release(void *row)
{
    sg_order_line_release(row);
}

static void order_release(void *row)
{
    sg_order_release(row);
}

/* A row of ORDER_COLS (the lines are load_lines' job). */
static int fill_order(struct sg_pg_row *rd, void *row)
{
    struct sg_order *o = row;
    char status[32];

    o->id = sg_pg_col_i64(rd);
    o->tenant_id = sg_pg_col_i64(rd);
    SG_PG_COL_STR(rd, o->channel);
    SG_PG_COL_STR(rd, o->shop_id);
    SG_PG_COL_STR(rd, o->channel_order_id);
    SG_PG_COL_STR(rd, status);
    o->status = sg_order_status_parse(status);
    o->create_time = sg_pg_col_i64(rd);
    o->update_time = sg_pg_col_i64(rd);
    SG_PG_COL_STR(rd, o->currency);
    o->subtotal = sg_pg_col_i64(rd);
    o->shipping_fee = sg_pg_col_i64(rd);
    o->tax = sg_pg_col_i64(rd);
    o->total = sg_pg_col_i64(rd);
    SG_PG_COL_STR(rd, o->buyer_user_id);
    o->buyer_email = sg_pg_col_dup(rd);
    o->buyer_nickname = sg_pg_col_dup(rd);
    o->recipient_name = sg_pg_col_dup(rd);
    o->recipient_phone = sg_pg_col_dup(rd);
    o->address = sg_pg_col_dup(rd);
    SG_PG_COL_STR(rd, o->region);
    SG_PG_COL_STR(rd, o->postal_code);
    o->package_ids = sg_pg_col_dup(rd);
    o->oversold = sg_pg_col_bool(rd);
    SG_PG_COL_STR(rd, o->oversold_action);
    o->version = sg_pg_col_i64(rd);
    o->created_at = sg_pg_col_i64(rd);
    o->updated_at = sg_pg_col_i64(rd);
    return sg_pg_row_end(rd);
}

static const struct sg_pg_rowtype order_row =
    SG_PG_ROWTYPE(struct sg_order, fill_order, order_release);

static int fill_line(struct sg_pg_row *rd, void *row)
{
    struct sg_order_line *l = row;
    char inv[16];

    l->id = sg_pg_col_i64(rd);
    SG_PG_COL_STR(rd, l->channel_line_id);
    SG_PG_COL_STR(rd, l->channel_sku_id);
    SG_PG_COL_STR(rd, l->sku);
    l->product_name = sg_pg_col_dup(rd);
    l->qty = sg_pg_col_i64(rd);
    l->unit_price = sg_pg_col_i64(rd);
    SG_PG_COL_STR(rd, l->status);
    SG_PG_COL_STR(rd, l->package_id);
    SG_PG_COL_STR(rd, l->location);
    SG_PG_COL_STR(rd, inv);
    l->inv = sg_line_inv_parse(inv);
    if (l->inv < 0)
        l->inv = SG_LINE_NONE;
    return sg_pg_row_end(rd);
}

static const struct sg_pg_rowtype line_row =
    SG_PG_ROWTYPE(struct sg_order_line, fill_line, line_release);

static int load_lines(void *be, struct sg_order *o, struct sg_err *err)
{
    struct sg_pg_params q;
    void *lines;
    int rc;

    sg_pg_params_init(&q);
    sg_pg_int(&q, o->id);
    rc = sg_pg_list(be,
                    "SELECT id, channel_line_id, channel_sku_id, sku, "
                    "product_name, qty, unit_price, status, package_id, "
                    "location, inv FROM order_lines WHERE order_id = "
                    "$1::bigint ORDER BY id",
                    &q, "order lines", &line_row, SG_ORD_LINES_MAX, &lines,
                    &o->n_lines, err);
    o->lines = lines;
    return rc;
}

static int pg_order_get(void *be, int64_t tenant_id, int64_t id,
                        const char *channel, const char *channel_order_id,
                        struct sg_order *out, struct sg_err *err)
{
    struct sg_pg_params q;
    int rc;

    memset(out, 0, sizeof(*out));
    sg_pg_params_init(&q);
    sg_pg_int(&q, tenant_id);
    if (id) {
        sg_pg_int(&q, id);
    } else {
        sg_pg_text(&q, channel);
        sg_pg_text(&q, channel_order_id);
    }
    rc = sg_pg_get(be,
                   id ? "SELECT " ORDER_COLS " FROM orders WHERE tenant_id = "
                        "$1::bigint AND id = $2::bigint"
                      : "SELECT " ORDER_COLS " FROM orders WHERE tenant_id = "
                        "$1::bigint AND channel = $2::text AND "
                        "channel_order_id = $3::text",
                   &q, "order get", &order_row, out, "order not found", err);
    if (!rc)
        rc = load_lines(be, out, err);
    return rc;
}

/* $1..$20: the header fields both the INSERT and the UPDATE write. */
static void header_params(struct sg_pg_params *q, const struct sg_order *o)
{
    sg_pg_text(q, sg_order_status_name(o->status));
    sg_pg_int(q, o->create_time);
    sg_pg_int(q, o->update_time);
    sg_pg_text(q, o->currency);
    sg_pg_int(q, o->subtotal);
    sg_pg_int(q, o->shipping_fee);
    sg_pg_int(q, o->tax);
    sg_pg_int(q, o->total);
    sg_pg_text(q, o->buyer_user_id);
    sg_pg_text(q, o->buyer_email);
    sg_pg_text(q, o->buyer_nickname);
    sg_pg_text(q, o->recipient_name);
    sg_pg_text(q, o->recipient_phone);
    sg_pg_text(q, o->address);
    sg_pg_text(q, o->region);
    sg_pg_text(q, o->postal_code);
    sg_pg_text(q, o->package_ids);
    sg_pg_int(q, o->oversold ? 1 : 0);
    sg_pg_text(q, o->oversold_action);
    sg_pg_int(q, o->version);
}

static int put_lines(void *be, struct sg_order *o, struct sg_err *err)
{
    int rc = 0;

    for (size_t i = 0; !rc && i < o->n_lines; i++) {
        struct sg_order_line *l = &o->lines[i];
        struct sg_pg_params q;

        sg_pg_params_init(&q);
        sg_pg_int(&q, o->tenant_id);
        sg_pg_int(&q, o->id);
        sg_pg_text(&q, l->channel_line_id);
        sg_pg_text(&q, l->channel_sku_id);
        sg_pg_text(&q, l->sku);
        sg_pg_text(&q, l->product_name);
        sg_pg_int(&q, l->qty);
        sg_pg_int(&q, l->unit_price);
        sg_pg_text(&q, l->status);
        sg_pg_text(&q, l->package_id[0] ? l->package_id : NULL);
        sg_pg_text(&q, l->location);
        sg_pg_text(&q, sg_line_inv_name(l->inv));
        rc = sg_pg_insert_id(
            be,
            "INSERT INTO order_lines (tenant_id, order_id, channel_line_id, "
            "channel_sku_id, sku, product_name, qty, unit_price, status, "
            "package_id, location, inv) VALUES ($1::bigint, $2::bigint, "
            "$3::text, $4::text, $5::text, $6::text, $7::bigint, $8::bigint, "
            "$9::text, $10::text, $11::text, $12::text) ON CONFLICT "
            "(order_id, channel_line_id) DO UPDATE SET status = "
            "excluded.status, package_id = excluded.package_id, inv = "
            "excluded.inv RETURNING id",
            &q, "order line", &l->id, err);
    }
    return rc;
}

static int pg_order_put(void *be, struct sg_order *o, int64_t now,
                        struct sg_err *err)
{
    struct sg_pg_params q;
    int rc;

    sg_pg_params_init(&q);
    header_params(&q, o);
    if (o->id == 0) {
        sg_pg_int(&q, o->tenant_id);
        sg_pg_text(&q, o->channel);
        sg_pg_text(&q, o->shop_id);
        sg_pg_text(&q, o->channel_order_id);
        sg_pg_int(&q, now);
        rc = sg_pg_insert_id(
            be,
            "INSERT INTO orders (status, channel_create_time, "
            "channel_update_time, currency, subtotal, shipping_fee, tax, "
            "total, buyer_user_id, buyer_email, buyer_nickname, "
            "recipient_name, recipient_phone, address, region, postal_code, "
            "package_ids, oversold, oversold_action, version, tenant_id, "
            "channel, shop_id, channel_order_id, created_at, updated_at) "
            "VALUES ($1::text, $2::bigint, $3::bigint, $4::text, $5::bigint, "
            "$6::bigint, $7::bigint, $8::bigint, $9::text, $10::text, "
            "$11::text, $12::text, $13::text, $14::text, $15::text, "
            "$16::text, $17::text, $18::bigint, $19::text, $20::bigint, "
            "$21::bigint, $22::text, $23::text, $24::text, $25::bigint, "
            "$25::bigint) RETURNING id",
            &q, "order insert", &o->id, err);
        if (rc == SG_EEXISTS)
            return sg_err_set(err, SG_EEXISTS, "order %s exists",
                              o->channel_order_id);
        if (rc)
            return rc;
        o->created_at = o->updated_at = now;
    } else {
        sg_pg_int(&q, now);
        sg_pg_int(&q, o->id);
        sg_pg_int(&q, o->tenant_id);
        rc = sg_pg_exec(
            be,
            "UPDATE orders SET status = $1::text, channel_create_time = "
            "$2::bigint, channel_update_time = $3::bigint, currency = "
            "$4::text, subtotal = $5::bigint, shipping_fee = $6::bigint, tax "
            "= $7::bigint, total = $8::bigint, buyer_user_id = $9::text, "
            "buyer_email = $10::text, buyer_nickname = $11::text, "
            "recipient_name = $12::text, recipient_phone = $13::text, "
            "address = $14::text, region = $15::text, postal_code = "
            "$16::text, package_ids = $17::text, oversold = $18::bigint, "
            "oversold_action = $19::text, version = $20::bigint, updated_at "
            "= $21::bigint WHERE id = $22::bigint AND tenant_id = $23::bigint",
            &q, NULL, NULL, "order update", err);
        if (rc)
            return rc;
        o->updated_at = now;
    }
    return put_lines(be, o, err);
}

static int pg_order_list(void *be, int64_t tenant_id,
                         const struct sg_order_filter *f,
                         struct sg_order **out, size_t *n_out,
                         struct sg_err *err)
{
    struct sg_pg_params q;
    size_t limit = f->limit;
    void *rows;
    int rc;

    *out = NULL;
    *n_out = 0;
    if (limit == 0 || limit > SG_ORD_LIST_MAX)
        limit = SG_ORD_LIST_MAX;
    sg_pg_params_init(&q);
    sg_pg_int(&q, tenant_id);
    sg_pg_int(&q, f->after_id);
    sg_pg_text(&q, f->status ? sg_order_status_name(f->status) : NULL);
    sg_pg_int(&q, f->oversold);
    sg_pg_text(&q, f->channel);
    sg_pg_int(&q, (int64_t)limit);
    rc = sg_pg_list(be,
                    "SELECT " ORDER_COLS " FROM orders WHERE tenant_id = "
                    "$1::bigint AND id > $2::bigint AND ($3::text IS NULL OR "
                    "status = $3::text) AND ($4::bigint < 0 OR oversold = "
                    "$4::bigint) AND ($5::text IS NULL OR channel = $5::text) "
                    "ORDER BY id LIMIT $6::bigint",
                    &q, "order list", &order_row, limit, &rows, n_out, err);
    *out = rows;
    return rc;
}

static int pg_event_insert(void *be, int64_t tenant_id, int64_t order_id,
                           const char *from, const char *to,
                           int64_t update_time, const char *source,
                           int64_t now, struct sg_err *err)
{
    struct sg_pg_params q;

    sg_pg_params_init(&q);
    sg_pg_int(&q, tenant_id);
    sg_pg_int(&q, order_id);
    sg_pg_text(&q, from);
    sg_pg_text(&q, to);
    sg_pg_int(&q, update_time);
    sg_pg_text(&q, source);
    sg_pg_int(&q, now);
    return sg_pg_exec(be,
                      "INSERT INTO order_events (tenant_id, order_id, "
                      "from_status, to_status, update_time, source, at) "
                      "VALUES ($1::bigint, $2::bigint, $3::text, $4::text, "
                      "$5::bigint, $6::text, $7::bigint)",
                      &q, NULL, NULL, "order event", err);
}

static int pg_set_oversold_action(void *be, int64_t tenant_id, int64_t id,
                                  const char *action, int64_t now,
                                  struct sg_err *err)
{
    struct sg_pg_params q;

    sg_pg_params_init(&q);
    sg_pg_text(&q, action);
    sg_pg_int(&q, now);
    sg_pg_int(&q, id);
    sg_pg_int(&q, tenant_id);
    return sg_pg_exec(be,
                      "UPDATE orders SET oversold_action = $1::text, "
                      "updated_at = $2::bigint WHERE id = $3::bigint AND "
                      "tenant_id = $4::bigint",
                      &q, NULL, NULL, "oversold action", err);
}

/*
 * Orders with a line of this SKU still oversold, oldest first: the ones a
 * release of the SKU's stock may cover (as in the SQLite backend).
 */
static int pg_oversold_by_sku(void *be, int64_t tenant_id, const char *sku,
                              size_t max, int64_t *ids_out, size_t *n_out,
                              struct sg_err *err)
{
    struct sg_pg_params q;

    sg_pg_params_init(&q);
    sg_pg_int(&q, tenant_id);
    sg_pg_text(&q, sku);
    sg_pg_int(&q, (int64_t)max);
    return sg_pg_into(be,
                      "SELECT DISTINCT o.id FROM order_lines l JOIN orders o "
                      "ON o.id = l.order_id WHERE l.tenant_id = $1::bigint "
                      "AND l.sku = $2::text AND l.inv = 'oversold' AND "
                      "l.status <> 'CANCELLED' AND o.oversold = 1 AND "
                      "o.status <> 'CANCELLED' AND o.oversold_action NOT IN "
                      "('cancel_requested', 'cancelling') ORDER BY o.id "
                      "LIMIT $3::bigint",
                      &q, "oversold orders", &sg_pg_row_i64, ids_out, max,
                      n_out, err);
}

/* Oversold orders (every tenant) in action, last changed <= before. */
static int pg_oversold_due(void *be, const char *action, int64_t before,
                           size_t max, struct sg_order **out, size_t *n_out,
                           struct sg_err *err)
{
    struct sg_pg_params q;
    void *rows;
    int rc;

    if (max == 0 || max > SG_ORD_LIST_MAX)
        max = SG_ORD_LIST_MAX;
    sg_pg_params_init(&q);
    sg_pg_text(&q, action);
    sg_pg_int(&q, before);
    sg_pg_int(&q, (int64_t)max);
    rc = sg_pg_list(be,
                    "SELECT " ORDER_COLS " FROM orders WHERE oversold = 1 AND "
                    "oversold_action = $1::text AND updated_at <= $2::bigint "
                    "ORDER BY id LIMIT $3::bigint",
                    &q, "oversold due", &order_row, max, &rows, n_out, err);
    *out = rows;
    return rc;
}

static int pg_swap_oversold_action(void *be, int64_t tenant_id, int64_t id,
                                   const char *from, const char *to,
                                   int64_t now, bool *swapped,
                                   struct sg_err *err)
{
    struct sg_pg_params q;
    int64_t changes = 0;
    int rc;

    *swapped = false;
    sg_pg_params_init(&q);
    sg_pg_text(&q, to);
    sg_pg_int(&q, now);
    sg_pg_int(&q, id);
    sg_pg_int(&q, tenant_id);
    sg_pg_text(&q, from);
    rc = sg_pg_exec(be,
                    "UPDATE orders SET oversold_action = $1::text, updated_at "
                    "= $2::bigint WHERE id = $3::bigint AND tenant_id = "
                    "$4::bigint AND oversold_action = $5::text",
                    &q, NULL, &changes, "oversold action", err);
    if (!rc)
        *swapped = changes == 1;
    return rc;
}

/* ---- fetch queue and cursors ---- */

static int pg_fetch_mark(void *be, int64_t tenant_id, const char *channel,
                         const char *shop_id, const char *id,
                         const char *reason, int64_t now, struct sg_err *err)
{
    struct sg_pg_params q;

    sg_pg_params_init(&q);
    sg_pg_int(&q, tenant_id);
    sg_pg_text(&q, channel);
    sg_pg_text(&q, shop_id);
    sg_pg_text(&q, id);
    sg_pg_text(&q, reason);
    sg_pg_int(&q, now);
    return sg_pg_exec(be,
                      "INSERT INTO order_fetch (tenant_id, channel, shop_id, "
                      "channel_order_id, reason, queued_at) VALUES "
                      "($1::bigint, $2::text, $3::text, $4::text, $5::text, "
                      "$6::bigint) ON CONFLICT (channel, shop_id, "
                      "channel_order_id) DO UPDATE SET gen = order_fetch.gen "
                      "+ 1",
                      &q, NULL, NULL, "order fetch mark", err);
}

static int pg_fetch_done(void *be, const char *channel, const char *shop_id,
                         const char *id, int64_t gen, struct sg_err *err)
{
    struct sg_pg_params q;

    sg_pg_params_init(&q);
    sg_pg_text(&q, channel);
    sg_pg_text(&q, shop_id);
    sg_pg_text(&q, id);
    sg_pg_int(&q, gen);
    return sg_pg_exec(be,
                      "DELETE FROM order_fetch WHERE channel = $1::text AND "
                      "shop_id = $2::text AND channel_order_id = $3::text AND "
                      "gen = $4::bigint",
                      &q, NULL, NULL, "order fetch done", err);
}

static int pg_fetch_failed(void *be, const char *channel, const char *shop_id,
                           const char *id, int attempts_max,
                           struct sg_err *err)
{
    struct sg_pg_params q;
    int rc;

    sg_pg_params_init(&q);
    sg_pg_text(&q, channel);
    sg_pg_text(&q, shop_id);
    sg_pg_text(&q, id);
    rc = sg_pg_exec(be,
                    "UPDATE order_fetch SET attempts = attempts + 1 WHERE "
                    "channel = $1::text AND shop_id = $2::text AND "
                    "channel_order_id = $3::text",
                    &q, NULL, NULL, "order fetch failed", err);
    if (rc)
        return rc;
    sg_pg_int(&q, attempts_max);
    return sg_pg_exec(be,
                      "DELETE FROM order_fetch WHERE channel = $1::text AND "
                      "shop_id = $2::text AND channel_order_id = $3::text AND "
                      "attempts >= $4::bigint",
                      &q, NULL, NULL, "order fetch drop", err);
}

static int fill_fetch(struct sg_pg_row *rd, void *row)
{
    struct sg_order_fetch *f = row;

    f->tenant_id = sg_pg_col_i64(rd);
    SG_PG_COL_STR(rd, f->channel);
    SG_PG_COL_STR(rd, f->shop_id);
    SG_PG_COL_STR(rd, f->channel_order_id);
    f->attempts = (int)sg_pg_col_i64(rd);
    SG_PG_COL_STR(rd, f->reason);
    f->gen = sg_pg_col_i64(rd);
    return 0;
}

static int pg_fetch_pending(void *be, size_t max, struct sg_order_fetch **out,
                            size_t *n_out, struct sg_err *err)
{
    static const struct sg_pg_rowtype fetch_row =
        SG_PG_ROWTYPE(struct sg_order_fetch, fill_fetch, NULL);
    struct sg_pg_params q;
    void *rows;
    int rc;

    *out = NULL;
    *n_out = 0;
    if (max == 0)
        return 0;
    sg_pg_params_init(&q);
    sg_pg_int(&q, (int64_t)max);
    rc = sg_pg_list(be,
                    "SELECT tenant_id, channel, shop_id, channel_order_id, "
                    "attempts, reason, gen FROM order_fetch ORDER BY "
                    "channel, shop_id, queued_at, channel_order_id LIMIT "
                    "$1::bigint",
                    &q, "order fetch", &fetch_row, max, &rows, n_out, err);
    *out = rows;
    return rc;
}

static int pg_order_update_time(void *be, int64_t tenant_id,
                                const char *channel, const char *id,
                                int64_t *out, struct sg_err *err)
{
    struct sg_pg_params q;

    sg_pg_params_init(&q);
    sg_pg_int(&q, tenant_id);
    sg_pg_text(&q, channel);
    sg_pg_text(&q, id);
    return sg_pg_get(be,
                     "SELECT channel_update_time FROM orders WHERE tenant_id "
                     "= $1::bigint AND channel = $2::text AND "
                     "channel_order_id = $3::text",
                     &q, "order update time", &sg_pg_row_i64, out, NULL,
                     err);
}

static int fill_backlog(struct sg_pg_row *rd, void *row)
{
    struct sg_order_backlog *b = row;

    b->n = sg_pg_col_i64(rd);
    b->oldest_queued_at = sg_pg_col_i64(rd);
    return 0;
}

static int pg_fetch_backlog(void *be, struct sg_order_backlog *out,
                            struct sg_err *err)
{
    static const struct sg_pg_rowtype backlog_row =
        SG_PG_ROWTYPE(struct sg_order_backlog, fill_backlog, NULL);

    return sg_pg_get(be,
                     "SELECT COUNT(*), COALESCE(MIN(queued_at), 0) FROM "
                     "order_fetch",
                     NULL, "order fetch backlog", &backlog_row, out,
                     "order fetch backlog: no row", err);
}

static int pg_cursor_get(void *be, const char *channel, const char *shop_id,
                         int64_t *update_time_out, struct sg_err *err)
{
    struct sg_pg_params q;

    sg_pg_params_init(&q);
    sg_pg_text(&q, channel);
    sg_pg_text(&q, shop_id);
    return sg_pg_get(be,
                     "SELECT update_time FROM order_cursors WHERE channel = "
                     "$1::text AND shop_id = $2::text",
                     &q, "order cursor", &sg_pg_row_i64, update_time_out,
                     "no cursor", err);
}

static int pg_cursor_set(void *be, int64_t tenant_id, const char *channel,
                         const char *shop_id, int64_t update_time,
                         int64_t now, struct sg_err *err)
{
    struct sg_pg_params q;

    sg_pg_params_init(&q);
    sg_pg_int(&q, tenant_id);
    sg_pg_text(&q, channel);
    sg_pg_text(&q, shop_id);
    sg_pg_int(&q, update_time);
    sg_pg_int(&q, now);
    return sg_pg_exec(be,
                      "INSERT INTO order_cursors (tenant_id, channel, "
                      "shop_id, update_time, polled_at) VALUES ($1::bigint, "
                      "$2::text, $3::text, $4::bigint, $5::bigint) ON "
                      "CONFLICT (channel, shop_id) DO UPDATE SET update_time "
                      "= GREATEST(order_cursors.update_time, "
                      "excluded.update_time), polled_at = excluded.polled_at, "
                      "tenant_id = excluded.tenant_id",
                      &q, NULL, NULL, "order cursor", err);
}

/* ---- the inventory check ---- */

/*
 * One query per rule; each row it returns is a violation, rendered as
 * text by the query itself so the rule and its message stay together.
 * The same rules and messages as the SQLite backend's.
 */
static const char *const checks[] = {
    /* The level invariant (the schema's CHECKs hold it; this proves it). */
    "SELECT format('%s@%s: on_hand %s, reserved %s, committed %s: "
    "available %s is negative or a count is', sku, location, on_hand, "
    "reserved, committed, on_hand - reserved - committed) FROM "
    "inventory_levels WHERE ($1::bigint = 0 OR tenant_id = $1::bigint) AND "
    "(on_hand < 0 OR reserved < 0 OR committed < 0 OR on_hand - reserved - "
    "committed < 0) ORDER BY tenant_id, sku, location",
    /* The ledger explains every unit of every level. */
    "SELECT format('%s@%s: ledger sums on_hand %s reserved %s committed %s, "
    "level has %s %s %s', l.sku, l.location, coalesce(g.oh, 0), "
    "coalesce(g.rs, 0), coalesce(g.cm, 0), l.on_hand, l.reserved, "
    "l.committed) FROM inventory_levels l LEFT JOIN (SELECT tenant_id, "
    "sku, location, sum(delta_on_hand) AS oh, sum(delta_reserved) AS rs, "
    "sum(delta_committed) AS cm FROM inventory_ledger GROUP BY tenant_id, "
    "sku, location) g ON g.tenant_id = l.tenant_id AND g.sku = l.sku AND "
    "g.location = l.location WHERE ($1::bigint = 0 OR l.tenant_id = "
    "$1::bigint) AND (coalesce(g.oh, 0) != l.on_hand OR coalesce(g.rs, 0) "
    "!= l.reserved OR coalesce(g.cm, 0) != l.committed) ORDER BY "
    "l.tenant_id, l.sku",
    /* Ledger rows without a level. */
    "SELECT format('%s@%s: ledger rows but no level', g.sku, g.location) "
    "FROM (SELECT DISTINCT tenant_id, sku, location FROM inventory_ledger "
    "WHERE $1::bigint = 0 OR tenant_id = $1::bigint) g WHERE NOT EXISTS "
    "(SELECT 1 FROM inventory_levels l WHERE l.tenant_id = g.tenant_id AND "
    "l.sku = g.sku AND l.location = g.location)",
    /* Reserved units are exactly the order lines holding a reservation. */
    "SELECT format('%s@%s: reserved %s but order lines hold %s', l.sku, "
    "l.location, l.reserved, coalesce(o.q, 0)) FROM inventory_levels l "
    "LEFT JOIN (SELECT tenant_id, sku, location, sum(qty) AS q FROM "
    "order_lines WHERE inv = 'reserved' GROUP BY tenant_id, sku, location) "
    "o ON o.tenant_id = l.tenant_id AND o.sku = l.sku AND o.location = "
    "l.location WHERE ($1::bigint = 0 OR l.tenant_id = $1::bigint) AND "
    "l.reserved != coalesce(o.q, 0) ORDER BY l.tenant_id, l.sku",
    /* Order lines holding stock of a level that does not exist. */
    "SELECT format('%s@%s: order lines hold %s with no level', o.sku, "
    "o.location, sum(o.qty)) FROM order_lines o WHERE ($1::bigint = 0 OR "
    "o.tenant_id = $1::bigint) AND o.inv = 'reserved' AND NOT EXISTS "
    "(SELECT 1 FROM inventory_levels l WHERE l.tenant_id = o.tenant_id AND "
    "l.sku = o.sku AND l.location = o.location) GROUP BY o.tenant_id, "
    "o.sku, o.location",
};

#define REPORT_LINES_MAX 1000

static int pg_inv_check(void *be, int64_t tenant_id, size_t *levels_out,
                        size_t *violations_out, struct sg_buf *report,
                        struct sg_err *err)
{
    struct sg_pg_params q;
    PGresult *r = NULL;
    int64_t levels = 0;
    size_t v = 0;
    int rc;

    *levels_out = 0;
    *violations_out = 0;
    sg_pg_params_init(&q);
    sg_pg_int(&q, tenant_id);
    rc = sg_pg_scalar(be,
                      "SELECT count(*) FROM inventory_levels WHERE $1::bigint "
                      "= 0 OR tenant_id = $1::bigint",
                      &q, "inventory check", &levels, err);
    if (rc)
        return rc;
    *levels_out = (size_t)levels;
    for (size_t i = 0; i < SG_ARRAY_SIZE(checks); i++) {
        rc = sg_pg_exec(be, checks[i], &q, &r, NULL, "inventory check", err);
        if (rc)
            return rc;
        for (int k = 0; k < PQntuples(r); k++) {
            v++;
            if (v <= REPORT_LINES_MAX &&
                sg_buf_printf(report, "%s\n", PQgetvalue(r, k, 0)) != 0) {
                PQclear(r);
                return sg_err_set(err, SG_ENOMEM, "out of memory");
            }
        }
        PQclear(r);
    }
    *violations_out = v;
    return 0;
}

const struct sg_orders_store_ops sg_orders_postgres_ops = {
    .version = SG_ORDERS_STORE_OPS_VERSION,
    .name = "postgres",
    .order_get = pg_order_get,
    .order_put = pg_order_put,
    .order_list = pg_order_list,
    .event_insert = pg_event_insert,
    .set_oversold_action = pg_set_oversold_action,
    .fetch_mark = pg_fetch_mark,
    .fetch_done = pg_fetch_done,
    .fetch_failed = pg_fetch_failed,
    .fetch_pending = pg_fetch_pending,
    .cursor_get = pg_cursor_get,
    .cursor_set = pg_cursor_set,
    .inv_check = pg_inv_check,
    .oversold_by_sku = pg_oversold_by_sku,
    .oversold_due = pg_oversold_due,
    .swap_oversold_action = pg_swap_oversold_action,
    .order_update_time = pg_order_update_time,
    .fetch_backlog = pg_fetch_backlog,
};
