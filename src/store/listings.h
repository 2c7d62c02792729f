/*
 * listings.h - the publishing state of each product on each channel
 * (migration 0005): the channel's product and SKU ids and the last state
 * the channel acknowledged, so catalog sync sends only what differs.
 * One ops table per backend (src/store/<backend>/listings.c, registered
 * in src/store/listings.c); callers use the sg_listings_* wrappers below,
 * which answer SG_ECONFIG for a backend without one. Rows are
 * caller-owned: sg_listing_sync_release.
 */
#ifndef SG_STORE_LISTINGS_H
#define SG_STORE_LISTINGS_H

#include "core/sg.h"
#include "core/err.h"
#include "store/store.h"

#define SG_LISTINGS_LIST_MAX 1000

struct sg_listing_sync {
    int64_t tenant_id;
    int64_t product_id;
    char channel[32];
    char shop_id[32];
    char channel_product_id[32]; /* "" until created */
    char status[24];             /* pending, live, failed, invalid, ... */
    char *reason;                /* sg_alloc'd; NULL = none */
    char *state;                 /* sg_alloc'd JSON object text */
    int64_t updated_at;
};
void sg_listing_sync_release(struct sg_listing_sync *l);
void sg_listing_sync_list_free(struct sg_listing_sync *rows, size_t n);

struct sg_listings_churn {
    int64_t tenant_id;
    int64_t products;
};

#define SG_LISTINGS_OPS_VERSION 1

/*
 * A backend's listing sync. be is the writer's handle for the slots the
 * tx_ wrappers call and a reader's for get (sg_listings_get), list and
 * churn. now is the store clock's ms. A slot that fails leaves nothing
 * for the caller to free (*out NULL, rows released).
 */
struct sg_listings_ops {
    unsigned int version; /* SG_LISTINGS_OPS_VERSION; append-only below */
    const char *name;     /* the store backend's name */

    int (*get)(void *be, int64_t tenant_id, int64_t product_id,
               const char *channel, struct sg_listing_sync *out,
               struct sg_err *err);
    int (*find)(void *be, const char *channel, const char *channel_product_id,
                struct sg_listing_sync *out, struct sg_err *err);
    int (*put)(void *be, const struct sg_listing_sync *l, int64_t now,
               struct sg_err *err);
    int (*del)(void *be, int64_t tenant_id, int64_t product_id,
               const char *channel, struct sg_err *err);
    int (*conn_active)(void *be, int64_t tenant_id, const char *platform,
                       bool *out, struct sg_err *err);
    int (*sku_zero)(void *be, int64_t tenant_id, int64_t product_id,
                    const char *channel, bool *out, struct sg_err *err);
    /* limit is 1..SG_LISTINGS_LIST_MAX; *out has room for limit rows. */
    int (*list)(void *be, int64_t tenant_id, const char *channel,
                int64_t after, size_t limit, struct sg_listing_sync **out,
                size_t *n_out, struct sg_err *err);
    int (*churn)(void *be, const char *kind, int64_t since_ms,
                 struct sg_listings_churn *out, size_t max, size_t *n_out,
                 struct sg_err *err);
    int (*hold)(void *be, int64_t tenant_id, const char *kind, int prio_below,
                int64_t hold_ms, int64_t now, size_t *n_out,
                struct sg_err *err);
    int (*release)(void *be, int64_t tenant_id, const char *kind,
                   int prio_below, int64_t hold_ms, int64_t window_ms,
                   int64_t now, size_t *n_out, struct sg_err *err);
};

extern const struct sg_listings_ops sg_listings_sqlite_ops;
extern const struct sg_listings_ops sg_listings_postgres_ops;
/* The table for a backend name, or NULL. */
const struct sg_listings_ops *sg_listings_ops_for(const char *backend);

/* ---- writes: only inside a sg_store_write_fn ---- */

/* SG_ENOTFOUND when there is no row. */
int sg_listings_tx_get(struct sg_store_tx *tx, int64_t tenant_id,
                       int64_t product_id, const char *channel,
                       struct sg_listing_sync *out, struct sg_err *err);
/* The row holding a channel product id; SG_ENOTFOUND if none. */
int sg_listings_tx_find(struct sg_store_tx *tx, const char *channel,
                        const char *channel_product_id,
                        struct sg_listing_sync *out, struct sg_err *err);
/* Insert or replace the row (updated_at = now). */
int sg_listings_tx_put(struct sg_store_tx *tx, const struct sg_listing_sync *l,
                       struct sg_err *err);
int sg_listings_tx_delete(struct sg_store_tx *tx, int64_t tenant_id,
                          int64_t product_id, const char *channel,
                          struct sg_err *err);
/* True when the tenant has an active connection on platform. */
int sg_listings_tx_conn_active(struct sg_store_tx *tx, int64_t tenant_id,
                               const char *platform, bool *out,
                               struct sg_err *err);
/*
 * True when some SKU of the product has nothing available at any
 * location (on_hand - reserved - committed summed <= 0) while channel
 * has not acknowledged a quantity of 0 or less for it (listing_sync
 * state.qty; no row or no entry counts as not acknowledged).
 */
int sg_listings_tx_sku_zero(struct sg_store_tx *tx, int64_t tenant_id,
                            int64_t product_id, const char *channel,
                            bool *out, struct sg_err *err);

/* ---- reads ---- */

int sg_listings_get(struct sg_store *s, int64_t tenant_id, int64_t product_id,
                    const char *channel, struct sg_listing_sync *out,
                    struct sg_err *err);
/* Rows of a tenant (0 = all) with product_id > after, by product id. */
int sg_listings_list(struct sg_store *s, int64_t tenant_id,
                     const char *channel, int64_t after, size_t limit,
                     struct sg_listing_sync **out, size_t *n_out,
                     struct sg_err *err);

/*
 * ---- catalog sync's use of the job queue: the storm hold ----
 *
 * sg_listings_churn: per tenant (by id, at most max), how many queued
 * jobs of kind were folded into (a later change of the same product
 * while the job waited; never claimed) at or after since_ms: products
 * whose values are still moving. A burst that changes each product once
 * (a publish, a bulk repricing) does not count.
 *
 * sg_listings_tx_hold: the tenant's queued jobs of kind with priority
 * below prio_below become due at created_at + hold_ms, unless they are
 * due later already or that moment has passed. sg_listings_tx_release:
 * the jobs a hold put there become due at once (not before created_at +
 * window_ms). *n_out counts the jobs moved.
 */
int sg_listings_churn(struct sg_store *s, const char *kind, int64_t since_ms,
                      struct sg_listings_churn *out, size_t max,
                      size_t *n_out, struct sg_err *err);
int sg_listings_tx_hold(struct sg_store_tx *tx, int64_t tenant_id,
                        const char *kind, int prio_below, int64_t hold_ms,
                        size_t *n_out, struct sg_err *err);
int sg_listings_tx_release(struct sg_store_tx *tx, int64_t tenant_id,
                           const char *kind, int prio_below, int64_t hold_ms,
                           int64_t window_ms, size_t *n_out,
                           struct sg_err *err);

#endif
