/*
 * channels.h - storage of sales-channel connections (migration 0004):
 * apps, seller connections with SEALED tokens, their shops, and issued
 * OAuth states. One ops table per backend (src/store/<backend>/
 * channels.c) behind the store's feature extension points; callers use
 * the sg_channels_* wrappers below.
 *
 * Tokens cross this interface only sealed (sg_seal); the store never sees
 * a plaintext token. Rows are flat except the two sealed strings, which
 * sg_channel_conn_release frees.
 */
#ifndef SG_STORE_CHANNELS_H
#define SG_STORE_CHANNELS_H

#include "core/sg.h"
#include "core/err.h"
#include "store/store.h"

#define SG_CHANNELS_OPS_VERSION 1
#define SG_CHANNELS_LIST_MAX 1000

struct sg_channel_conn {
    int64_t id;
    int64_t tenant_id;
    int64_t app_id;
    char platform[32];
    char open_id[64];
    char seller_name[128];
    char region[16];
    char *access_sealed;        /* sg_alloc'd */
    char *refresh_sealed;       /* sg_alloc'd */
    int64_t access_expires_at;  /* Unix seconds */
    int64_t refresh_expires_at; /* Unix seconds */
    char status[16];            /* active | deauthorized | expired */
    char status_reason[128];
    int64_t refreshed_at;       /* ms; 0 = never */
    int64_t next_refresh_at;    /* ms; earliest retry after a failure */
    int refresh_failures;
    int64_t created_at;
    int64_t updated_at;
};
void sg_channel_conn_release(struct sg_channel_conn *c);
void sg_channel_conn_list_free(struct sg_channel_conn *rows, size_t n);

struct sg_channel_shop {
    int64_t id;
    int64_t tenant_id;
    int64_t connection_id;
    char platform[32];
    char shop_id[32];
    char cipher[128];
    char name[128];
    char region[16];
    int64_t created_at;
    int64_t updated_at;
};

struct sg_channels_ops {
    unsigned int version; /* SG_CHANNELS_OPS_VERSION; append-only below */
    const char *name;     /* the store backend's name */

    /* writes (writer handle) */
    int (*app_upsert)(void *be, const char *platform, const char *app_key,
                      const char *service_id, int64_t now, int64_t *id_out,
                      struct sg_err *err);
    int (*state_insert)(void *be, int64_t tenant_id, const char *platform,
                        const char *state_hash, int64_t expires_at,
                        int64_t now, struct sg_err *err);
    int (*state_take)(void *be, const char *platform, const char *state_hash,
                      int64_t now, int64_t *tenant_out, struct sg_err *err);
    int (*conn_upsert)(void *be, const struct sg_channel_conn *c, int64_t now,
                       int64_t *id_out, struct sg_err *err);
    int (*conn_set_tokens)(void *be, int64_t id, const char *access_sealed,
                           const char *refresh_sealed, int64_t access_exp,
                           int64_t refresh_exp, int64_t now,
                           struct sg_err *err);
    int (*conn_set_status)(void *be, int64_t id, const char *status,
                           const char *reason, int64_t now,
                           struct sg_err *err);
    int (*conn_refresh_failed)(void *be, int64_t id, int64_t next_at,
                               int64_t now, struct sg_err *err);
    int (*shop_upsert)(void *be, const struct sg_channel_shop *s, int64_t now,
                       struct sg_err *err);

    /* reads (reader handle) */
    int (*conn_get)(void *be, int64_t tenant_id, int64_t id,
                    struct sg_channel_conn *out, struct sg_err *err);
    int (*conn_list)(void *be, int64_t tenant_id, size_t max,
                     struct sg_channel_conn **out, size_t *n_out,
                     struct sg_err *err);
    int (*conn_due)(void *be, int64_t expires_before_s, int64_t now,
                    size_t max, struct sg_channel_conn **out, size_t *n_out,
                    struct sg_err *err);
    int (*shop_get)(void *be, const char *platform, const char *shop_id,
                    struct sg_channel_shop *out, struct sg_err *err);
    int (*shop_list)(void *be, int64_t tenant_id, int64_t connection_id,
                     size_t max, struct sg_channel_shop **out, size_t *n_out,
                     struct sg_err *err);
};

extern const struct sg_channels_ops sg_channels_sqlite_ops;
extern const struct sg_channels_ops sg_channels_postgres_ops;
/* The table for a backend name, or NULL. */
const struct sg_channels_ops *sg_channels_ops_for(const char *backend);

/* ---- writes: only inside a sg_store_write_fn ---- */

/* Record (or find) the app; *id_out its row id. */
int sg_channels_tx_app_upsert(struct sg_store_tx *tx, const char *platform,
                              const char *app_key, const char *service_id,
                              int64_t *id_out, struct sg_err *err);
/* Remember an issued OAuth state (its hash) until expires_at (ms). */
int sg_channels_tx_state_insert(struct sg_store_tx *tx, int64_t tenant_id,
                                const char *platform, const char *state_hash,
                                int64_t expires_at, struct sg_err *err);
/*
 * Consume an issued state: *tenant_out is who issued it. SG_ENOTFOUND
 * when unknown, already used or expired (nothing changes then).
 */
int sg_channels_tx_state_take(struct sg_store_tx *tx, const char *platform,
                              const char *state_hash, int64_t *tenant_out,
                              struct sg_err *err);
/*
 * Insert or update by (tenant, platform, open_id): tokens, expiries,
 * seller facts; status becomes active, failures reset.
 */
int sg_channels_tx_conn_upsert(struct sg_store_tx *tx,
                               const struct sg_channel_conn *c,
                               int64_t *id_out, struct sg_err *err);
/* New sealed tokens after a refresh (both at once); refreshed_at = now. */
int sg_channels_tx_conn_set_tokens(struct sg_store_tx *tx, int64_t id,
                                   const char *access_sealed,
                                   const char *refresh_sealed,
                                   int64_t access_exp, int64_t refresh_exp,
                                   struct sg_err *err);
int sg_channels_tx_conn_set_status(struct sg_store_tx *tx, int64_t id,
                                   const char *status, const char *reason,
                                   struct sg_err *err);
/* Count a failed refresh; no new attempt before next_at (ms). */
int sg_channels_tx_conn_refresh_failed(struct sg_store_tx *tx, int64_t id,
                                       int64_t next_at, struct sg_err *err);
/* Insert or move a shop (unique per platform + shop_id). */
int sg_channels_tx_shop_upsert(struct sg_store_tx *tx,
                               const struct sg_channel_shop *s,
                               struct sg_err *err);

/* The shop row by platform id, read on the writer inside a write. */
int sg_channels_tx_shop_get(struct sg_store_tx *tx, const char *platform,
                            const char *shop_id, struct sg_channel_shop *out,
                            struct sg_err *err);
/* Every shop of a connection (at most SG_CHANNELS_LIST_MAX); sg_free. */
int sg_channels_tx_shop_list(struct sg_store_tx *tx, int64_t connection_id,
                             struct sg_channel_shop **out, size_t *n_out,
                             struct sg_err *err);

/* ---- reads ---- */

/* tenant_id 0 = any tenant. SG_ENOTFOUND if not visible. */
int sg_channels_conn_get(struct sg_store *s, int64_t tenant_id, int64_t id,
                         struct sg_channel_conn *out, struct sg_err *err);
/* tenant_id 0 = every tenant; *out for sg_channel_conn_list_free. */
int sg_channels_conn_list(struct sg_store *s, int64_t tenant_id,
                          struct sg_channel_conn **out, size_t *n_out,
                          struct sg_err *err);
/*
 * Active connections whose access token expires before expires_before_s
 * (Unix seconds) and whose next_refresh_at has passed, soonest first.
 */
int sg_channels_conn_due(struct sg_store *s, int64_t expires_before_s,
                         size_t max, struct sg_channel_conn **out,
                         size_t *n_out, struct sg_err *err);
int sg_channels_shop_get(struct sg_store *s, const char *platform,
                         const char *shop_id, struct sg_channel_shop *out,
                         struct sg_err *err);
/* connection_id 0 = all of the tenant's (tenant 0 = all); sg_free(*out). */
int sg_channels_shop_list(struct sg_store *s, int64_t tenant_id,
                          int64_t connection_id, struct sg_channel_shop **out,
                          size_t *n_out, struct sg_err *err);

#endif
