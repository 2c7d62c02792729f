/*
 * listings.c - the backend-independent side of listing sync storage: pick
 * the backend's ops table and run its slots inside a write (writer
 * handle) or on a borrowed reader (sg_store_read). See listings.h.
 */
#include "core/sg.h"

#include "core/alloc.h"
#include "store/listings.h"

static const struct sg_listings_ops *const backends[] = {
    &sg_listings_sqlite_ops,
    &sg_listings_postgres_ops,
    NULL,
};

const struct sg_listings_ops *sg_listings_ops_for(const char *backend)
{
    for (size_t i = 0; backend && backends[i]; i++)
        if (backends[i]->version == SG_LISTINGS_OPS_VERSION &&
            strcmp(backends[i]->name, backend) == 0)
            return backends[i];
    return NULL;
}

void sg_listing_sync_release(struct sg_listing_sync *l)
{
    if (!l)
        return;
    sg_free(l->reason);
    sg_free(l->state);
    l->reason = NULL;
    l->state = NULL;
}

void sg_listing_sync_list_free(struct sg_listing_sync *rows, size_t n)
{
    for (size_t i = 0; rows && i < n; i++)
        sg_listing_sync_release(&rows[i]);
    sg_free(rows);
}

static const struct sg_listings_ops *ops_of(struct sg_store *s,
                                            struct sg_err *err)
{
    const struct sg_listings_ops *ops =
        sg_listings_ops_for(sg_store_backend_name(s));

    if (!ops)
        sg_err_set(err, SG_ECONFIG,
                   "listing sync: no storage for backend %s",
                   sg_store_backend_name(s));
    return ops;
}

#define TX_OPS(tx, err)                                                        \
    const struct sg_listings_ops *ops = ops_of(sg_store_tx_store(tx), err);    \
    void *be = sg_store_tx_backend(tx);                                        \
    if (!ops)                                                                  \
        return SG_ECONFIG;

int sg_listings_tx_get(struct sg_store_tx *tx, int64_t tenant_id,
                       int64_t product_id, const char *channel,
                       struct sg_listing_sync *out, struct sg_err *err)
{
    memset(out, 0, sizeof(*out));
    TX_OPS(tx, err);
    return ops->get(be, tenant_id, product_id, channel, out, err);
}

int sg_listings_tx_find(struct sg_store_tx *tx, const char *channel,
                        const char *channel_product_id,
                        struct sg_listing_sync *out, struct sg_err *err)
{
    memset(out, 0, sizeof(*out));
    TX_OPS(tx, err);
    return ops->find(be, channel, channel_product_id, out, err);
}

int sg_listings_tx_put(struct sg_store_tx *tx, const struct sg_listing_sync *l,
                       struct sg_err *err)
{
    TX_OPS(tx, err);
    return ops->put(be, l, sg_store_tx_now(tx), err);
}

int sg_listings_tx_delete(struct sg_store_tx *tx, int64_t tenant_id,
                          int64_t product_id, const char *channel,
                          struct sg_err *err)
{
    TX_OPS(tx, err);
    return ops->del(be, tenant_id, product_id, channel, err);
}

int sg_listings_tx_conn_active(struct sg_store_tx *tx, int64_t tenant_id,
                               const char *platform, bool *out,
                               struct sg_err *err)
{
    *out = false;
    TX_OPS(tx, err);
    return ops->conn_active(be, tenant_id, platform, out, err);
}

int sg_listings_tx_sku_zero(struct sg_store_tx *tx, int64_t tenant_id,
                            int64_t product_id, const char *channel,
                            bool *out, struct sg_err *err)
{
    *out = false;
    TX_OPS(tx, err);
    return ops->sku_zero(be, tenant_id, product_id, channel, out, err);
}

int sg_listings_tx_hold(struct sg_store_tx *tx, int64_t tenant_id,
                        const char *kind, int prio_below, int64_t hold_ms,
                        size_t *n_out, struct sg_err *err)
{
    *n_out = 0;
    TX_OPS(tx, err);
    return ops->hold(be, tenant_id, kind, prio_below, hold_ms,
                     sg_store_tx_now(tx), n_out, err);
}

int sg_listings_tx_release(struct sg_store_tx *tx, int64_t tenant_id,
                           const char *kind, int prio_below, int64_t hold_ms,
                           int64_t window_ms, size_t *n_out,
                           struct sg_err *err)
{
    *n_out = 0;
    TX_OPS(tx, err);
    return ops->release(be, tenant_id, kind, prio_below, hold_ms, window_ms,
                        sg_store_tx_now(tx), n_out, err);
}

/* ---- reads ---- */

struct read_arg {
    const struct sg_listings_ops *ops;
    int which;
    int64_t tenant_id, product_id, after;
    const char *channel, *kind;
    size_t limit;
    struct sg_listing_sync *one;
    struct sg_listing_sync *rows;
    struct sg_listings_churn *churn;
    size_t n;
};

enum { R_GET, R_LIST, R_CHURN };

static int read_fn(void *be, void *arg, struct sg_err *err)
{
    struct read_arg *a = arg;

    switch (a->which) {
    case R_GET:
        return a->ops->get(be, a->tenant_id, a->product_id, a->channel,
                           a->one, err);
    case R_LIST:
        return a->ops->list(be, a->tenant_id, a->channel, a->after, a->limit,
                            &a->rows, &a->n, err);
    default:
        /* after carries since_ms, limit the room in churn. */
        return a->ops->churn(be, a->kind, a->after, a->churn, a->limit, &a->n,
                             err);
    }
}

static int do_read(struct sg_store *s, struct read_arg *a,
                   struct sg_err *err)
{
    a->ops = ops_of(s, err);
    if (!a->ops)
        return SG_ECONFIG;
    return sg_store_read(s, read_fn, a, err);
}

int sg_listings_get(struct sg_store *s, int64_t tenant_id, int64_t product_id,
                    const char *channel, struct sg_listing_sync *out,
                    struct sg_err *err)
{
    struct read_arg a = {.which = R_GET, .tenant_id = tenant_id,
                         .product_id = product_id, .channel = channel,
                         .one = out};

    memset(out, 0, sizeof(*out));
    return do_read(s, &a, err);
}

int sg_listings_list(struct sg_store *s, int64_t tenant_id,
                     const char *channel, int64_t after, size_t limit,
                     struct sg_listing_sync **out, size_t *n_out,
                     struct sg_err *err)
{
    struct read_arg a = {.which = R_LIST, .tenant_id = tenant_id,
                         .channel = channel, .after = after};
    int rc;

    *out = NULL;
    *n_out = 0;
    a.limit = limit == 0 || limit > SG_LISTINGS_LIST_MAX
                  ? SG_LISTINGS_LIST_MAX : limit;
    rc = do_read(s, &a, err);
    if (rc)
        return rc;
    *out = a.rows;
    *n_out = a.n;
    return 0;
}

int sg_listings_churn(struct sg_store *s, const char *kind, int64_t since_ms,
                      struct sg_listings_churn *out, size_t max,
                      size_t *n_out, struct sg_err *err)
{
    struct read_arg a = {.which = R_CHURN, .kind = kind, .after = since_ms,
                         .churn = out, .limit = max};
    int rc;

    *n_out = 0;
    rc = do_read(s, &a, err);
    if (!rc)
        *n_out = a.n;
    return rc;
}
