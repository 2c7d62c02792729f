/*
 * fulfil_store.h - storage ops of fulfilment, aftersales and viral
 * buffers, one table per backend (src/store/<backend>/fulfilment.c).
 * be is the writer's handle inside a write, a reader's inside
 * sg_store_read. Only the functions in fulfil.h call these.
 */
#ifndef SG_FEATURES_FULFIL_STORE_H
#define SG_FEATURES_FULFIL_STORE_H

#include "features/orders/fulfil.h"

#define SG_FULFIL_STORE_OPS_VERSION 1

struct sg_fulfil_store_ops {
    unsigned int version; /* SG_FULFIL_STORE_OPS_VERSION; append-only */
    const char *name;

    /* SG_ENOTFOUND when the order was never exported. */
    int (*export_get)(void *be, int64_t order_id, char **address_out,
                      struct sg_err *err);
    int (*export_put)(void *be, int64_t tenant_id, int64_t order_id,
                      const char *address, int64_t now, struct sg_err *err);

    /* By id (id != 0) or by (tenant, order, tracking). SG_ENOTFOUND. */
    int (*ship_get)(void *be, int64_t id, int64_t tenant_id,
                    int64_t order_id, const char *tracking,
                    struct sg_shipment *out, struct sg_err *err);
    int (*ship_insert)(void *be, struct sg_shipment *s, int64_t now,
                       struct sg_err *err);
    int (*ship_result)(void *be, int64_t id, const char *status,
                       const char *package_id, const char *error,
                       int64_t now, struct sg_err *err);
    int (*ship_list)(void *be, int64_t tenant_id, int64_t order_id,
                     const char *status, int64_t after_id, size_t limit,
                     struct sg_shipment **out, size_t *n_out,
                     struct sg_err *err);

    /* By id, or by (tenant, kind, channel, channel_id). SG_ENOTFOUND. */
    int (*as_get)(void *be, int64_t id, int64_t tenant_id, const char *kind,
                  const char *channel, const char *channel_id,
                  struct sg_aftersale *out, struct sg_err *err);
    /* Insert (a->id 0, sets it) or replace every field by id. */
    int (*as_put)(void *be, struct sg_aftersale *a, int64_t now,
                  struct sg_err *err);
    int (*as_list)(void *be, int64_t tenant_id, const struct sg_as_filter *f,
                   struct sg_aftersale **out, size_t *n_out,
                   struct sg_err *err);

    /* Units reserved per (tenant, sku) since since_ms, plus every SKU
     * that has a buffer row (units 0 when none reserved). */
    int (*viral_rates)(void *be, int64_t since_ms, struct sg_viral_row **out,
                       size_t *n_out, struct sg_err *err);
    int (*viral_put)(void *be, const struct sg_viral_row *r, int64_t now,
                     struct sg_err *err);
    int (*viral_list)(void *be, int64_t tenant_id, const char *sku,
                      struct sg_viral_row **out, size_t *n_out,
                      struct sg_err *err);
};

extern const struct sg_fulfil_store_ops sg_fulfil_sqlite_ops;
extern const struct sg_fulfil_store_ops sg_fulfil_postgres_ops;

const struct sg_fulfil_store_ops *sg_fulfil_store_ops(const char *backend);

#endif
