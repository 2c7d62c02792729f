/*
 * orders_store.h - the orders' storage ops: one table per backend
 * (src/store/<backend>/orders.c), reached through the store's feature
 * extension points. be is the writer's handle inside a write, a reader's
 * inside sg_store_read. Only the functions in orders.h call these.
 *
 * Rows returned through out-parameters belong to the caller; release an
 * order with sg_order_release even after an error.
 */
#ifndef SG_FEATURES_ORDERS_STORE_H
#define SG_FEATURES_ORDERS_STORE_H

#include "core/buf.h"
#include "features/orders/orders.h"

#define SG_ORDERS_STORE_OPS_VERSION 1

struct sg_orders_store_ops {
    unsigned int version; /* SG_ORDERS_STORE_OPS_VERSION; append-only */
    const char *name;     /* the store backend's name */

    /* By id (id != 0) or by channel id; lines included. SG_ENOTFOUND. */
    int (*order_get)(void *be, int64_t tenant_id, int64_t id,
                     const char *channel, const char *channel_order_id,
                     struct sg_order *out, struct sg_err *err);
    /* Insert (o->id 0) or update the header; lines upserted by line id. */
    int (*order_put)(void *be, struct sg_order *o, int64_t now,
                     struct sg_err *err);
    int (*order_list)(void *be, int64_t tenant_id,
                      const struct sg_order_filter *f, struct sg_order **out,
                      size_t *n_out, struct sg_err *err);
    int (*event_insert)(void *be, int64_t tenant_id, int64_t order_id,
                        const char *from, const char *to,
                        int64_t update_time, const char *source, int64_t now,
                        struct sg_err *err);
    int (*set_oversold_action)(void *be, int64_t tenant_id, int64_t id,
                               const char *action, int64_t now,
                               struct sg_err *err);
    /* Insert or keep; reason and tenant of the first mark stay. */
    int (*fetch_mark)(void *be, int64_t tenant_id, const char *channel,
                      const char *shop_id, const char *id,
                      const char *reason, int64_t now, struct sg_err *err);
    int (*fetch_done)(void *be, const char *channel, const char *shop_id,
                      const char *id, int64_t gen, struct sg_err *err);
    int (*fetch_failed)(void *be, const char *channel, const char *shop_id,
                        const char *id, int attempts_max,
                        struct sg_err *err);
    int (*fetch_pending)(void *be, size_t max, struct sg_order_fetch **out,
                         size_t *n_out, struct sg_err *err);
    /* SG_ENOTFOUND when the shop has no cursor yet. */
    int (*cursor_get)(void *be, const char *channel, const char *shop_id,
                      int64_t *update_time_out, struct sg_err *err);
    int (*cursor_set)(void *be, int64_t tenant_id, const char *channel,
                      const char *shop_id, int64_t update_time, int64_t now,
                      struct sg_err *err);
    /* Append one line per violation to report; count them. */
    int (*inv_check)(void *be, int64_t tenant_id, size_t *levels_out,
                     size_t *violations_out, struct sg_buf *report,
                     struct sg_err *err);
    /*
     * Up to max ids of open orders holding an oversold line of sku, not
     * cancelled nor asked to be, oldest first (sg_orders_cover).
     */
    int (*oversold_by_sku)(void *be, int64_t tenant_id, const char *sku,
                           size_t max, int64_t *ids_out, size_t *n_out,
                           struct sg_err *err);
    /*
     * Up to max headers (no lines) of orders of any tenant still oversold
     * whose oversold_action is action and updated_at <= before, by id.
     */
    int (*oversold_due)(void *be, const char *action, int64_t before,
                        size_t max, struct sg_order **out, size_t *n_out,
                        struct sg_err *err);
    /* Set the action to `to` only while it is `from`; *swapped says so. */
    int (*swap_oversold_action)(void *be, int64_t tenant_id, int64_t id,
                                const char *from, const char *to,
                                int64_t now, bool *swapped,
                                struct sg_err *err);
    /*
     * The channel update_time stored for an order, header only (the
     * intake's "already as new" check, once a full order_get with its
     * lines per webhook). SG_ENOTFOUND bare (err untouched).
     */
    int (*order_update_time)(void *be, int64_t tenant_id,
                             const char *channel,
                             const char *channel_order_id,
                             int64_t *out, struct sg_err *err);
    /* How many fetches are queued, and when the oldest was (0: none). */
    int (*fetch_backlog)(void *be, struct sg_order_backlog *out,
                         struct sg_err *err);
};

extern const struct sg_orders_store_ops sg_orders_sqlite_ops;
extern const struct sg_orders_store_ops sg_orders_postgres_ops;

/* The ops for a store backend name; NULL when there are none. */
const struct sg_orders_store_ops *sg_orders_store_ops(const char *backend);

#endif
