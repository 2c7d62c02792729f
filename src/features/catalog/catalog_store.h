/*
 * catalog_store.h - the catalog's storage ops: one table per backend
 * (src/store/<backend>/catalog.c), reached through the store's feature
 * extension points. be is a backend handle: the writer's inside a write
 * (sg_store_tx_backend), a reader's inside sg_store_read. Only the core
 * functions in catalog.h call these.
 *
 * Rows returned through out-parameters belong to the caller; on error a
 * product may be partly filled and must still be released.
 */
#ifndef SG_FEATURES_CATALOG_STORE_H
#define SG_FEATURES_CATALOG_STORE_H

#include "features/catalog/catalog.h"

#define SG_CATALOG_STORE_OPS_VERSION 1

struct sg_catalog_store_ops {
    unsigned int version; /* SG_CATALOG_STORE_OPS_VERSION; append-only */
    const char *name;     /* the store backend's name */

    /* By id when id != 0, else by handle; SG_ENOTFOUND if not visible. */
    int (*product_get)(void *be, int64_t tenant_id, int64_t id,
                       const char *handle, struct sg_product *out,
                       struct sg_err *err);
    int (*product_list)(void *be, int64_t tenant_id, int64_t after_id,
                        size_t limit, struct sg_product **out,
                        size_t *n_out, struct sg_err *err);
    /*
     * Insert (p->id 0) or replace product p->id of p->tenant_id: variants
     * are upserted by SKU and the product's others removed; images are
     * replaced. Fills p->id and the variant ids. SG_EEXISTS when a SKU or
     * the handle belongs to another product, SG_ENOTFOUND for a missing
     * id.
     */
    int (*product_put)(void *be, struct sg_product *p, int64_t now,
                       struct sg_err *err);
    int (*product_delete)(void *be, int64_t tenant_id, int64_t id,
                          struct sg_err *err);
    int (*variant_locate)(void *be, int64_t tenant_id, int64_t variant_id,
                          const char *sku, int64_t *product_id_out,
                          int64_t *variant_id_out, struct sg_err *err);
    /* One level (SG_ENOTFOUND if none) or every location's (*out sg_free). */
    int (*inv_get)(void *be, int64_t tenant_id, const char *sku,
                   const char *location, struct sg_inv_level *out,
                   struct sg_err *err);
    int (*inv_levels)(void *be, int64_t tenant_id, const char *sku,
                      struct sg_inv_level **out, size_t *n_out,
                      struct sg_err *err);
    /*
     * Apply one movement and write its ledger row. The level is created
     * at zero when missing. Conditional: SG_ESTATE, with nothing changed,
     * when the result would break the level invariant.
     */
    int (*inv_move)(void *be, int64_t tenant_id, const struct sg_inv_move *m,
                    int64_t now, struct sg_err *err);
    int (*ledger_list)(void *be, int64_t tenant_id, const char *sku,
                       int64_t after_id, size_t limit,
                       struct sg_ledger_row **out, size_t *n_out,
                       struct sg_err *err);
    int (*listing_set)(void *be, int64_t tenant_id, int64_t product_id,
                       const char *channel, const char *status,
                       const char *reason, int64_t now, struct sg_err *err);
    int (*listing_list)(void *be, int64_t tenant_id, int64_t product_id,
                        struct sg_listing **out, size_t *n_out,
                        struct sg_err *err);
    /* A SKU's variant with its prices and its product's currency. */
    int (*variant_price_get)(void *be, int64_t tenant_id, const char *sku,
                             struct sg_variant_price *out,
                             struct sg_err *err);
    /* Set one variant's prices; the variant and product updated_at = now. */
    int (*variant_price_set)(void *be, int64_t tenant_id,
                             const struct sg_variant_price *vp, int64_t now,
                             struct sg_err *err);
    /*
     * Units reserved less units released for causes starting with prefix
     * in sku's ledger rows after after_id (commits not counted), and the
     * last row's id (after_id when none). after_id < 0: the last id only.
     */
    int (*ledger_net)(void *be, int64_t tenant_id, const char *sku,
                      int64_t after_id, const char *prefix, int64_t *net_out,
                      int64_t *last_out, struct sg_err *err);
};

extern const struct sg_catalog_store_ops sg_catalog_sqlite_ops;
extern const struct sg_catalog_store_ops sg_catalog_postgres_ops;

/* The ops for a store backend name; NULL when there are none. */
const struct sg_catalog_store_ops *sg_catalog_store_ops(const char *backend);

#endif
