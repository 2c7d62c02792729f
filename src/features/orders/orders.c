/*
 * orders.c - applying order versions and the inventory they hold, the
 * fetch queue, the poll cursor, reads and the inventory check.
 *
 * An order version is applied only when it is newer than the stored one:
 * a later channel update_time, or the same second with more progress
 * (the sandbox and TikTok stamp seconds, so UNPAID and AWAITING_SHIPMENT
 * may share one). Inventory moves through catalog.h's ledger in the same
 * transaction: reserve on first sight (all lines or none), release on
 * cancellation, commit on shipment.
 */
#include "core/sg.h"

#include "core/alloc.h"
#include "core/buf.h"
#include "core/log.h"
#include "features/catalog/catalog.h"
#include "features/orders/orders_store.h"
#include "store/store.h"

#define CHECK_REPORT_MAX (1024 * 1024)

const struct sg_orders_store_ops *sg_orders_store_ops(const char *backend)
{
    if (backend && strcmp(backend, sg_orders_sqlite_ops.name) == 0)
        return &sg_orders_sqlite_ops;
    if (backend && strcmp(backend, sg_orders_postgres_ops.name) == 0)
        return &sg_orders_postgres_ops;
    return NULL;
}

static const struct sg_orders_store_ops *ops_for(struct sg_store *s,
                                                 struct sg_err *err)
{
    const struct sg_orders_store_ops *ops =
        sg_orders_store_ops(sg_store_backend_name(s));

    if (!ops)
        sg_err_set(err, SG_ECONFIG, "the store backend has no orders");
    return ops;
}

/* ---- the status machine ---- */

static bool line_cancelled(const struct sg_order *o,
                           const struct sg_order_line *l)
{
    return o->status == SG_ORD_CANCELLED || strcmp(l->status, "CANCELLED") == 0;
}

/* A unit has left the shelf once its line or the whole order shipped. */
static bool line_shipped(const struct sg_order *o,
                         const struct sg_order_line *l)
{
    if (line_cancelled(o, l))
        return false;
    if (o->status == SG_ORD_IN_TRANSIT || o->status == SG_ORD_DELIVERED ||
        o->status == SG_ORD_COMPLETED)
        return true;
    return strcmp(l->status, "SHIPPED") == 0 ||
           strcmp(l->status, "IN_TRANSIT") == 0 ||
           strcmp(l->status, "DELIVERED") == 0 ||
           strcmp(l->status, "COMPLETED") == 0;
}

static int line_rank(const char *status)
{
    static const char *const order[] = {
        "UNPAID", "ON_HOLD", "TO_SHIP", "SHIPPED", "IN_TRANSIT",
        "DELIVERED", "COMPLETED", "CANCELLED"};

    for (size_t i = 0; i < SG_ARRAY_SIZE(order); i++)
        if (strcmp(status, order[i]) == 0)
            return (int)i + 1;
    return 0;
}

/*
 * How far an order has moved; within one second of update_time the
 * version with more progress wins. Statuses only move forward (the
 * machine in reference 8.9), and CANCELLED ends it.
 */
static int64_t progress(const struct sg_order *o)
{
    int64_t p = (int64_t)o->status * 100000;

    for (size_t i = 0; i < o->n_lines; i++)
        p += line_rank(o->lines[i].status);
    return p;
}

/* ---- apply ---- */

struct inv_set {
    struct sg_inv_line *lines;
    size_t *idx; /* which order line each came from */
    size_t n;
};

static int set_add(struct inv_set *s, const struct sg_order_line *l,
                   size_t i)
{
    s->lines[s->n].sku = l->sku;
    s->lines[s->n].location = l->location;
    s->lines[s->n].qty = l->qty;
    s->idx[s->n] = i;
    s->n++;
    return 0;
}

static int carry_lines(struct sg_order *o, const struct sg_order *old)
{
    for (size_t i = 0; i < o->n_lines; i++)
        for (size_t j = 0; j < old->n_lines; j++)
            if (strcmp(o->lines[i].channel_line_id,
                       old->lines[j].channel_line_id) == 0) {
                o->lines[i].inv = old->lines[j].inv;
                /* The stored row: the store updates it by id. */
                o->lines[i].id = old->lines[j].id;
                /* The location a line reserved at is where it stays. */
                snprintf(o->lines[i].location, sizeof(o->lines[i].location),
                         "%s", old->lines[j].location);
                break;
            }
    return 0;
}

/*
 * Move the inventory this version implies. Reservation first (every line
 * not holding anything yet, all or nothing), then releases and commits.
 */
static int move_inventory(struct sg_store_tx *tx, struct sg_order *o,
                          bool retry_oversold, bool *newly_oversold,
                          struct sg_err *err)
{
    struct inv_set res = {0}, rel = {0}, com = {0};
    char cause[160];
    int rc = 0;

    snprintf(cause, sizeof(cause), "order:%s:%s", o->channel,
             o->channel_order_id);
    res.lines = sg_calloc(o->n_lines, sizeof(*res.lines));
    res.idx = sg_calloc(o->n_lines, sizeof(*res.idx));
    rel.lines = sg_calloc(o->n_lines, sizeof(*rel.lines));
    rel.idx = sg_calloc(o->n_lines, sizeof(*rel.idx));
    com.lines = sg_calloc(o->n_lines, sizeof(*com.lines));
    com.idx = sg_calloc(o->n_lines, sizeof(*com.idx));
    if (!res.lines || !res.idx || !rel.lines || !rel.idx || !com.lines ||
        !com.idx) {
        rc = sg_err_set(err, SG_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < o->n_lines; i++) {
        const struct sg_order_line *l = &o->lines[i];

        if (line_cancelled(o, l))
            continue;
        if (l->inv == SG_LINE_NONE ||
            (l->inv == SG_LINE_OVERSOLD && retry_oversold))
            set_add(&res, l, i);
    }
    if (res.n) {
        rc = sg_inventory_reserve(tx, o->tenant_id, res.lines, res.n, cause,
                                  err);
        if (rc == SG_ESTATE) {
            /* The channel sold what Surge did not have: never silent. */
            if (!o->oversold)
                sg_log(SG_LOG_WARN, "orders", "msg=\"oversold\" channel=%s "
                       "order=%s err=\"%s\"", o->channel,
                       o->channel_order_id, err ? err->msg : "");
            if (err)
                sg_err_init(err);
            rc = 0;
            for (size_t k = 0; k < res.n; k++)
                o->lines[res.idx[k]].inv = SG_LINE_OVERSOLD;
            if (!o->oversold)
                *newly_oversold = true;
            o->oversold = true;
            /* A SKU Surge does not sell is not Surge's to cancel. */
            for (size_t k = 0; k < res.n; k++) {
                int64_t pid = 0, vid = 0;
                int lrc = sg_catalog_tx_locate(tx, o->tenant_id, 0,
                                               res.lines[k].sku, &pid, &vid,
                                               NULL);

                if (lrc == SG_ENOTFOUND) {
                    snprintf(o->oversold_action, sizeof(o->oversold_action),
                             "unknown_sku");
                    break;
                }
                if (lrc) {
                    rc = sg_err_set(err, lrc, "locating %s failed",
                                    res.lines[k].sku);
                    goto out;
                }
            }
        } else if (rc)
            goto out;
        else
            for (size_t k = 0; k < res.n; k++)
                o->lines[res.idx[k]].inv = SG_LINE_RESERVED;
    }
    for (size_t i = 0; i < o->n_lines; i++) {
        const struct sg_order_line *l = &o->lines[i];

        if (l->inv != SG_LINE_RESERVED)
            continue;
        if (line_cancelled(o, l))
            set_add(&rel, l, i);
        else if (line_shipped(o, l))
            set_add(&com, l, i);
    }
    if (rel.n) {
        rc = sg_inventory_release(tx, o->tenant_id, rel.lines, rel.n, cause,
                                  err);
        if (rc)
            goto out;
        for (size_t k = 0; k < rel.n; k++)
            o->lines[rel.idx[k]].inv = SG_LINE_RELEASED;
    }
    if (com.n) {
        rc = sg_inventory_commit(tx, o->tenant_id, com.lines, com.n, cause,
                                 err);
        if (rc)
            goto out;
        for (size_t k = 0; k < com.n; k++)
            o->lines[com.idx[k]].inv = SG_LINE_COMMITTED;
    }
    /* An oversold order whose lines all hold stock again is cleared. */
    if (o->oversold && retry_oversold) {
        bool any = false;

        for (size_t i = 0; i < o->n_lines; i++)
            any = any || o->lines[i].inv == SG_LINE_OVERSOLD;
        if (!any) {
            o->oversold = false;
            snprintf(o->oversold_action, sizeof(o->oversold_action), "%s",
                     strcmp(o->oversold_action, "backordered") == 0
                         ? "backorder_filled" : "covered");
        }
    }
out:
    sg_free(res.lines);
    sg_free(res.idx);
    sg_free(rel.lines);
    sg_free(rel.idx);
    sg_free(com.lines);
    sg_free(com.idx);
    return rc;
}

int sg_orders_apply(struct sg_store_tx *tx, struct sg_order *o,
                    const struct sg_orders_opts *opts, int *outcome_out,
                    bool *newly_oversold_out, struct sg_err *err)
{
    const struct sg_orders_store_ops *ops =
        ops_for(sg_store_tx_store(tx), err);
    void *be = sg_store_tx_backend(tx);
    struct sg_order old;
    bool newly = false, found;
    int rc, outcome;

    *outcome_out = 0;
    if (newly_oversold_out)
        *newly_oversold_out = false;
    if (!ops)
        return SG_ECONFIG;
    if (o->n_lines == 0 || o->n_lines > SG_ORD_LINES_MAX)
        return sg_err_set(err, SG_EINVAL, "an order has 1..%d lines",
                          SG_ORD_LINES_MAX);
    rc = ops->order_get(be, o->tenant_id, 0, o->channel, o->channel_order_id,
                        &old, err);
    found = rc == 0;
    if (rc == SG_ENOTFOUND) {
        if (err)
            sg_err_init(err);
        rc = 0;
    }
    if (rc)
        goto out;
    if (found) {
        if (o->update_time < old.update_time ||
            (o->update_time == old.update_time &&
             progress(o) <= progress(&old))) {
            o->id = old.id;
            o->oversold = old.oversold;
            *outcome_out = SG_ORD_STALE;
            goto out;
        }
        o->id = old.id;
        o->version = old.version + 1;
        o->oversold = old.oversold;
        snprintf(o->oversold_action, sizeof(o->oversold_action), "%s",
                 old.oversold_action);
        o->created_at = old.created_at;
        carry_lines(o, &old);
        outcome = SG_ORD_APPLIED;
    } else {
        o->id = 0;
        o->version = 1;
        o->oversold = false;
        o->oversold_action[0] = '\0';
        for (size_t i = 0; i < o->n_lines; i++)
            o->lines[i].inv = SG_LINE_NONE;
        outcome = SG_ORD_APPLIED_NEW;
    }
    rc = move_inventory(tx, o,
                        opts->oversold_policy == SG_OVERSOLD_BACKORDER,
                        &newly, err);
    if (!rc)
        rc = ops->order_put(be, o, sg_store_tx_now(tx), err);
    if (!rc)
        rc = ops->event_insert(be, o->tenant_id, o->id,
                               found ? sg_order_status_name(old.status)
                                     : NULL,
                               sg_order_status_name(o->status),
                               o->update_time,
                               opts->source ? opts->source : "unknown",
                               sg_store_tx_now(tx), err);
    if (!rc) {
        *outcome_out = outcome;
        if (newly_oversold_out)
            *newly_oversold_out = newly;
    }
out:
    sg_order_release(&old);
    return rc;
}

int sg_orders_cover(struct sg_store_tx *tx, int64_t tenant_id,
                    const char *sku, sg_orders_covered_fn *covered, void *arg,
                    size_t *n_out, struct sg_err *err)
{
    const struct sg_orders_store_ops *ops =
        ops_for(sg_store_tx_store(tx), err);
    void *be = sg_store_tx_backend(tx);
    int64_t ids[SG_ORD_COVER_MAX];
    size_t n = 0, done = 0;
    int rc;

    if (n_out)
        *n_out = 0;
    if (!ops)
        return SG_ECONFIG;
    if (!sku || !sku[0])
        return 0;
    rc = ops->oversold_by_sku(be, tenant_id, sku, SG_ORD_COVER_MAX, ids, &n,
                              err);
    for (size_t i = 0; i < n && !rc; i++) {
        struct sg_order o;
        struct sg_audit a;
        bool newly = false;

        rc = ops->order_get(be, tenant_id, ids[i], NULL, NULL, &o, err);
        if (!rc)
            rc = move_inventory(tx, &o, true, &newly, err);
        /* Still short (another line, or not enough units): as it was. */
        if (!rc && o.oversold) {
            sg_order_release(&o);
            continue;
        }
        if (!rc)
            rc = ops->order_put(be, &o, sg_store_tx_now(tx), err);
        if (!rc) {
            memset(&a, 0, sizeof(a));
            a.tenant_id = tenant_id;
            snprintf(a.actor, sizeof(a.actor), "orders");
            snprintf(a.action, sizeof(a.action), "order.oversold");
            snprintf(a.object, sizeof(a.object), "order:%" PRId64, o.id);
            snprintf(a.outcome, sizeof(a.outcome), "%s", o.oversold_action);
            rc = sg_store_tx_audit(tx, &a, err);
        }
        if (!rc) {
            sg_log(SG_LOG_INFO, "orders", "msg=\"oversold order covered\" "
                   "order=%s sku=%s action=%s", o.channel_order_id, sku,
                   o.oversold_action);
            done++;
        }
        if (!rc && covered)
            rc = covered(tx, &o, arg, err);
        sg_order_release(&o);
    }
    if (!rc && n_out)
        *n_out = done;
    return rc;
}

int sg_orders_swap_oversold_action(struct sg_store_tx *tx, int64_t tenant_id,
                                   int64_t id, const char *from,
                                   const char *to, bool *swapped,
                                   struct sg_err *err)
{
    const struct sg_orders_store_ops *ops =
        ops_for(sg_store_tx_store(tx), err);

    *swapped = false;
    if (!ops)
        return SG_ECONFIG;
    return ops->swap_oversold_action(sg_store_tx_backend(tx), tenant_id, id,
                                     from, to, sg_store_tx_now(tx), swapped,
                                     err);
}

int sg_orders_set_oversold_action(struct sg_store_tx *tx, int64_t tenant_id,
                                  int64_t id, const char *action,
                                  struct sg_err *err)
{
    const struct sg_orders_store_ops *ops =
        ops_for(sg_store_tx_store(tx), err);

    if (!ops)
        return SG_ECONFIG;
    return ops->set_oversold_action(sg_store_tx_backend(tx), tenant_id, id,
                                    action, sg_store_tx_now(tx), err);
}

/* ---- fetch queue, cursor ---- */

int sg_orders_fetch_mark(struct sg_store_tx *tx, int64_t tenant_id,
                         const char *channel, const char *shop_id,
                         const char *channel_order_id, int64_t update_time,
                         const char *reason, struct sg_err *err)
{
    const struct sg_orders_store_ops *ops =
        ops_for(sg_store_tx_store(tx), err);
    void *be = sg_store_tx_backend(tx);

    if (!ops)
        return SG_ECONFIG;
    if (!channel_order_id || !channel_order_id[0] ||
        strlen(channel_order_id) > SG_ORD_ID_MAX)
        return sg_err_set(err, SG_EINVAL, "order id: 1..%d bytes",
                          SG_ORD_ID_MAX);
    if (update_time > 0) {
        int64_t have_time = 0;
        int rc = ops->order_update_time(be, tenant_id, channel,
                                        channel_order_id, &have_time, err);
        bool have = rc == 0 && have_time > update_time;

        if (rc && rc != SG_ENOTFOUND)
            return rc;
        if (err)
            sg_err_init(err);
        if (have)
            return 0; /* already as new as that */
    }
    return ops->fetch_mark(be, tenant_id, channel, shop_id, channel_order_id,
                           reason, sg_store_tx_now(tx), err);
}

int sg_orders_fetch_done(struct sg_store_tx *tx, const char *channel,
                         const char *shop_id, const char *channel_order_id,
                         int64_t gen, struct sg_err *err)
{
    const struct sg_orders_store_ops *ops =
        ops_for(sg_store_tx_store(tx), err);

    if (!ops)
        return SG_ECONFIG;
    return ops->fetch_done(sg_store_tx_backend(tx), channel, shop_id,
                           channel_order_id, gen, err);
}

int sg_orders_fetch_failed(struct sg_store_tx *tx, const char *channel,
                           const char *shop_id, const char *channel_order_id,
                           int attempts_max, struct sg_err *err)
{
    const struct sg_orders_store_ops *ops =
        ops_for(sg_store_tx_store(tx), err);

    if (!ops)
        return SG_ECONFIG;
    return ops->fetch_failed(sg_store_tx_backend(tx), channel, shop_id,
                             channel_order_id, attempts_max, err);
}

int sg_orders_cursor_set(struct sg_store_tx *tx, int64_t tenant_id,
                         const char *channel, const char *shop_id,
                         int64_t update_time, struct sg_err *err)
{
    const struct sg_orders_store_ops *ops =
        ops_for(sg_store_tx_store(tx), err);

    if (!ops)
        return SG_ECONFIG;
    return ops->cursor_set(sg_store_tx_backend(tx), tenant_id, channel,
                           shop_id, update_time, sg_store_tx_now(tx), err);
}

/* ---- reads ---- */

struct read_arg {
    const struct sg_orders_store_ops *ops;
    const char *action;
    int64_t tenant_id;
    int64_t id;
    const char *channel;
    const char *channel_id;
    const struct sg_order_filter *filter;
    struct sg_order *order;
    struct sg_order **orders;
    struct sg_order_fetch **fetches;
    struct sg_order_backlog *backlog;
    size_t *n;
    size_t max;
    int64_t *value;
    size_t *levels, *violations;
    struct sg_buf *report;
};

static int rd_get(void *be, void *arg, struct sg_err *err)
{
    struct read_arg *a = arg;

    return a->ops->order_get(be, a->tenant_id, a->id, a->channel,
                             a->channel_id, a->order, err);
}

static int rd_list(void *be, void *arg, struct sg_err *err)
{
    struct read_arg *a = arg;

    return a->ops->order_list(be, a->tenant_id, a->filter, a->orders, a->n,
                              err);
}

static int rd_due(void *be, void *arg, struct sg_err *err)
{
    struct read_arg *a = arg;

    return a->ops->oversold_due(be, a->action, *a->value, a->max, a->orders,
                                a->n, err);
}

int sg_orders_oversold_due(struct sg_store *s, const char *action,
                           int64_t before, size_t max, struct sg_order **out,
                           size_t *n_out, struct sg_err *err)
{
    struct read_arg a = {.ops = ops_for(s, err), .action = action,
                         .value = &before, .max = max, .orders = out,
                         .n = n_out};

    *out = NULL;
    *n_out = 0;
    if (!a.ops)
        return SG_ECONFIG;
    return sg_store_read(s, rd_due, &a, err);
}

static int rd_pending(void *be, void *arg, struct sg_err *err)
{
    struct read_arg *a = arg;

    return a->ops->fetch_pending(be, a->max, a->fetches, a->n, err);
}

static int rd_backlog(void *be, void *arg, struct sg_err *err)
{
    struct read_arg *a = arg;

    return a->ops->fetch_backlog(be, a->backlog, err);
}

static int rd_cursor(void *be, void *arg, struct sg_err *err)
{
    struct read_arg *a = arg;

    return a->ops->cursor_get(be, a->channel, a->channel_id, a->value, err);
}

static int rd_check(void *be, void *arg, struct sg_err *err)
{
    struct read_arg *a = arg;

    return a->ops->inv_check(be, a->tenant_id, a->levels, a->violations,
                             a->report, err);
}

int sg_orders_get(struct sg_store *s, int64_t tenant_id, int64_t id,
                  struct sg_order *out, struct sg_err *err)
{
    struct read_arg a = {.ops = ops_for(s, err), .tenant_id = tenant_id,
                         .id = id, .order = out};

    memset(out, 0, sizeof(*out));
    if (!a.ops)
        return SG_ECONFIG;
    if (id <= 0)
        return sg_err_set(err, SG_ENOTFOUND, "order not found");
    return sg_store_read(s, rd_get, &a, err);
}

int sg_orders_get_by_channel(struct sg_store *s, int64_t tenant_id,
                             const char *channel,
                             const char *channel_order_id,
                             struct sg_order *out, struct sg_err *err)
{
    struct read_arg a = {.ops = ops_for(s, err), .tenant_id = tenant_id,
                         .channel = channel, .channel_id = channel_order_id,
                         .order = out};

    memset(out, 0, sizeof(*out));
    if (!a.ops)
        return SG_ECONFIG;
    return sg_store_read(s, rd_get, &a, err);
}

int sg_orders_list(struct sg_store *s, int64_t tenant_id,
                   const struct sg_order_filter *f, struct sg_order **out,
                   size_t *n_out, struct sg_err *err)
{
    struct read_arg a = {.ops = ops_for(s, err), .tenant_id = tenant_id,
                         .filter = f, .orders = out, .n = n_out};

    *out = NULL;
    *n_out = 0;
    if (!a.ops)
        return SG_ECONFIG;
    return sg_store_read(s, rd_list, &a, err);
}

int sg_orders_fetch_pending(struct sg_store *s, size_t max,
                            struct sg_order_fetch **out, size_t *n_out,
                            struct sg_err *err)
{
    struct read_arg a = {.ops = ops_for(s, err), .fetches = out,
                         .n = n_out, .max = max};

    *out = NULL;
    *n_out = 0;
    if (!a.ops)
        return SG_ECONFIG;
    return sg_store_read(s, rd_pending, &a, err);
}

int sg_orders_fetch_backlog(struct sg_store *s, struct sg_order_backlog *out,
                            struct sg_err *err)
{
    struct read_arg a = {.ops = ops_for(s, err), .backlog = out};

    memset(out, 0, sizeof(*out));
    if (!a.ops)
        return SG_ECONFIG;
    return sg_store_read(s, rd_backlog, &a, err);
}

int sg_orders_cursor_get(struct sg_store *s, const char *channel,
                         const char *shop_id, int64_t *update_time_out,
                         struct sg_err *err)
{
    struct read_arg a = {.ops = ops_for(s, err), .channel = channel,
                         .channel_id = shop_id, .value = update_time_out};

    *update_time_out = 0;
    if (!a.ops)
        return SG_ECONFIG;
    return sg_store_read(s, rd_cursor, &a, err);
}

int sg_inventory_check(struct sg_store *s, int64_t tenant_id,
                       size_t *levels_out, size_t *violations_out,
                       char **report_out, struct sg_err *err)
{
    struct sg_buf b;
    struct read_arg a = {.ops = ops_for(s, err), .tenant_id = tenant_id,
                         .levels = levels_out,
                         .violations = violations_out, .report = &b};
    int rc;

    *levels_out = 0;
    *violations_out = 0;
    *report_out = NULL;
    if (!a.ops)
        return SG_ECONFIG;
    sg_buf_init(&b, CHECK_REPORT_MAX);
    rc = sg_store_read(s, rd_check, &a, err);
    if (!rc && b.len)
        *report_out = sg_buf_detach(&b, NULL);
    sg_buf_release(&b);
    return rc;
}
