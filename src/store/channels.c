/*
 * channels.c - the backend-independent side of channel storage: pick the
 * backend's ops table and run its slots inside a write (writer handle) or
 * on a borrowed reader (sg_store_read). See channels.h.
 */
#include "core/sg.h"

#include "core/alloc.h"
#include "core/clock.h"
#include "store/channels.h"

static const struct sg_channels_ops *const backends[] = {
    &sg_channels_sqlite_ops,
    &sg_channels_postgres_ops,
    NULL,
};

const struct sg_channels_ops *sg_channels_ops_for(const char *backend)
{
    for (size_t i = 0; backend && backends[i]; i++)
        if (backends[i]->version == SG_CHANNELS_OPS_VERSION &&
            strcmp(backends[i]->name, backend) == 0)
            return backends[i];
    return NULL;
}

void sg_channel_conn_release(struct sg_channel_conn *c)
{
    if (!c)
        return;
    sg_free(c->access_sealed);
    sg_free(c->refresh_sealed);
    c->access_sealed = NULL;
    c->refresh_sealed = NULL;
}

void sg_channel_conn_list_free(struct sg_channel_conn *rows, size_t n)
{
    for (size_t i = 0; rows && i < n; i++)
        sg_channel_conn_release(&rows[i]);
    sg_free(rows);
}

static const struct sg_channels_ops *ops_of(struct sg_store *s,
                                            struct sg_err *err)
{
    const struct sg_channels_ops *ops =
        sg_channels_ops_for(sg_store_backend_name(s));

    if (!ops)
        sg_err_set(err, SG_ECONFIG, "channels: no ops for backend %s",
                   sg_store_backend_name(s));
    return ops;
}

#define TX_OPS(tx, err)                                                        \
    const struct sg_channels_ops *ops = ops_of(sg_store_tx_store(tx), err);    \
    void *be = sg_store_tx_backend(tx);                                        \
    if (!ops)                                                                  \
        return SG_ECONFIG;

int sg_channels_tx_app_upsert(struct sg_store_tx *tx, const char *platform,
                              const char *app_key, const char *service_id,
                              int64_t *id_out, struct sg_err *err)
{
    TX_OPS(tx, err);
    return ops->app_upsert(be, platform, app_key, service_id,
                           sg_store_tx_now(tx), id_out, err);
}

int sg_channels_tx_state_insert(struct sg_store_tx *tx, int64_t tenant_id,
                                const char *platform, const char *state_hash,
                                int64_t expires_at, struct sg_err *err)
{
    TX_OPS(tx, err);
    return ops->state_insert(be, tenant_id, platform, state_hash, expires_at,
                             sg_store_tx_now(tx), err);
}

int sg_channels_tx_state_take(struct sg_store_tx *tx, const char *platform,
                              const char *state_hash, int64_t *tenant_out,
                              struct sg_err *err)
{
    TX_OPS(tx, err);
    return ops->state_take(be, platform, state_hash, sg_store_tx_now(tx),
                           tenant_out, err);
}

int sg_channels_tx_conn_upsert(struct sg_store_tx *tx,
                               const struct sg_channel_conn *c,
                               int64_t *id_out, struct sg_err *err)
{
    TX_OPS(tx, err);
    return ops->conn_upsert(be, c, sg_store_tx_now(tx), id_out, err);
}

int sg_channels_tx_conn_set_tokens(struct sg_store_tx *tx, int64_t id,
                                   const char *access_sealed,
                                   const char *refresh_sealed,
                                   int64_t access_exp, int64_t refresh_exp,
                                   struct sg_err *err)
{
    TX_OPS(tx, err);
    return ops->conn_set_tokens(be, id, access_sealed, refresh_sealed,
                                access_exp, refresh_exp, sg_store_tx_now(tx),
                                err);
}

int sg_channels_tx_conn_set_status(struct sg_store_tx *tx, int64_t id,
                                   const char *status, const char *reason,
                                   struct sg_err *err)
{
    TX_OPS(tx, err);
    return ops->conn_set_status(be, id, status, reason, sg_store_tx_now(tx),
                                err);
}

int sg_channels_tx_conn_refresh_failed(struct sg_store_tx *tx, int64_t id,
                                       int64_t next_at, struct sg_err *err)
{
    TX_OPS(tx, err);
    return ops->conn_refresh_failed(be, id, next_at, sg_store_tx_now(tx),
                                    err);
}

int sg_channels_tx_shop_upsert(struct sg_store_tx *tx,
                               const struct sg_channel_shop *s,
                               struct sg_err *err)
{
    TX_OPS(tx, err);
    return ops->shop_upsert(be, s, sg_store_tx_now(tx), err);
}

int sg_channels_tx_shop_get(struct sg_store_tx *tx, const char *platform,
                            const char *shop_id, struct sg_channel_shop *out,
                            struct sg_err *err)
{
    TX_OPS(tx, err);
    memset(out, 0, sizeof(*out));
    return ops->shop_get(be, platform, shop_id, out, err);
}

int sg_channels_tx_shop_list(struct sg_store_tx *tx, int64_t connection_id,
                             struct sg_channel_shop **out, size_t *n_out,
                             struct sg_err *err)
{
    TX_OPS(tx, err);
    *out = NULL;
    *n_out = 0;
    return ops->shop_list(be, 0, connection_id, SG_CHANNELS_LIST_MAX, out,
                          n_out, err);
}

/* ---- reads ---- */

struct read_args {
    const struct sg_channels_ops *ops;
    int which;
    int64_t tenant_id, id, before, now;
    const char *platform, *shop_id;
    size_t max;
    void *out;
    size_t *n_out;
};

enum { R_CONN_GET, R_CONN_LIST, R_CONN_DUE, R_SHOP_GET, R_SHOP_LIST };

static int read_fn(void *be, void *arg, struct sg_err *err)
{
    struct read_args *a = arg;

    switch (a->which) {
    case R_CONN_GET:
        return a->ops->conn_get(be, a->tenant_id, a->id, a->out, err);
    case R_CONN_LIST:
        return a->ops->conn_list(be, a->tenant_id, a->max, a->out, a->n_out,
                                 err);
    case R_CONN_DUE:
        return a->ops->conn_due(be, a->before, a->now, a->max, a->out,
                                a->n_out, err);
    case R_SHOP_GET:
        return a->ops->shop_get(be, a->platform, a->shop_id, a->out, err);
    default:
        return a->ops->shop_list(be, a->tenant_id, a->id, a->max, a->out,
                                 a->n_out, err);
    }
}

static int do_read(struct sg_store *s, struct read_args *a,
                   struct sg_err *err)
{
    a->ops = ops_of(s, err);
    if (!a->ops)
        return SG_ECONFIG;
    return sg_store_read(s, read_fn, a, err);
}

int sg_channels_conn_get(struct sg_store *s, int64_t tenant_id, int64_t id,
                         struct sg_channel_conn *out, struct sg_err *err)
{
    struct read_args a = {.which = R_CONN_GET, .tenant_id = tenant_id,
                          .id = id, .out = out};

    memset(out, 0, sizeof(*out));
    return do_read(s, &a, err);
}

int sg_channels_conn_list(struct sg_store *s, int64_t tenant_id,
                          struct sg_channel_conn **out, size_t *n_out,
                          struct sg_err *err)
{
    struct read_args a = {.which = R_CONN_LIST, .tenant_id = tenant_id,
                          .max = SG_CHANNELS_LIST_MAX, .out = out,
                          .n_out = n_out};

    *out = NULL;
    *n_out = 0;
    return do_read(s, &a, err);
}

int sg_channels_conn_due(struct sg_store *s, int64_t expires_before_s,
                         size_t max, struct sg_channel_conn **out,
                         size_t *n_out, struct sg_err *err)
{
    struct read_args a = {.which = R_CONN_DUE, .before = expires_before_s,
                          .now = sg_clock_now_ms(sg_store_clock(s)),
                          .max = SG_MIN(max, SG_CHANNELS_LIST_MAX),
                          .out = out, .n_out = n_out};

    *out = NULL;
    *n_out = 0;
    return do_read(s, &a, err);
}

int sg_channels_shop_get(struct sg_store *s, const char *platform,
                         const char *shop_id, struct sg_channel_shop *out,
                         struct sg_err *err)
{
    struct read_args a = {.which = R_SHOP_GET, .platform = platform,
                          .shop_id = shop_id, .out = out};

    memset(out, 0, sizeof(*out));
    return do_read(s, &a, err);
}

int sg_channels_shop_list(struct sg_store *s, int64_t tenant_id,
                          int64_t connection_id, struct sg_channel_shop **out,
                          size_t *n_out, struct sg_err *err)
{
    struct read_args a = {.which = R_SHOP_LIST, .tenant_id = tenant_id,
                          .id = connection_id, .max = SG_CHANNELS_LIST_MAX,
                          .out = out, .n_out = n_out};

    *out = NULL;
    *n_out = 0;
    return do_read(s, &a, err);
}
