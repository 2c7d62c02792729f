/*
 * tiktok_shop.h - connecting TikTok Shop sellers, shared by the daemon
 * (OAuth callback, refresher) and the CLI (surge connect): OAuth states,
 * the code exchange + shop discovery + webhook subscription flow, token
 * refresh, all storing tokens only sealed with the [secrets] key.
 *
 * These functions block on the network: never call them on an HTTP loop
 * thread or inside a store write.
 */
#ifndef SG_ENGINE_TIKTOK_SHOP_H
#define SG_ENGINE_TIKTOK_SHOP_H

#include "connectors/connector.h"
#include "connectors/secrets.h"
#include "core/config.h"
#include "store/channels.h"

#define SG_TTS_PLATFORM     "tiktok_shop"
#define SG_TTS_STATE_TTL_MS (30 * 60 * 1000)

/* True when [tiktok_shop] app_key and app_secret are set. */
bool sg_tts_configured(const struct sg_config *cfg);
/* Connector settings and environment from the configuration. */
void sg_tts_conn_cfg(struct sg_conn_cfg *out, const struct sg_config *cfg);
void sg_tts_conn_env(struct sg_conn_env *out, const struct sg_config *cfg);

/* Issue a state (64 hex chars) for tenant; its hash is kept 30 minutes. */
int sg_tts_state_issue(struct sg_store *s, int64_t tenant_id,
                       char state_out[65], struct sg_err *err);
/* Consume a state; SG_ENOTFOUND when unknown, used or expired. */
int sg_tts_state_take(struct sg_store *s, const char *state,
                      int64_t *tenant_out, struct sg_err *err);

struct sg_tts_connect_result {
    int64_t connection_id;
    char open_id[64];
    char seller_name[128];
    int64_t access_expires_at;
    size_t shops;
    size_t subscriptions; /* shop x event subscriptions made */
    size_t subscription_failures;
};

/*
 * The whole flow after consent: exchange code, discover the shops,
 * subscribe each shop's events to webhook_url (NULL/"" = skip), and store
 * app, connection (sealed tokens) and shops in one write.
 */
int sg_tts_connect_code(struct sg_store *s, struct sg_connector *c,
                        const unsigned char key[SG_SECRET_KEY_LEN],
                        int64_t tenant_id, const char *code,
                        const char *webhook_url,
                        struct sg_tts_connect_result *res,
                        struct sg_err *err);

/*
 * Refresh one connection's tokens now and store them sealed. When the
 * platform refuses the refresh token the connection becomes "expired";
 * on a transient failure next_refresh_at moves out (backoff).
 */
int sg_tts_refresh_conn(struct sg_store *s, struct sg_connector *c,
                        const unsigned char key[SG_SECRET_KEY_LEN],
                        const struct sg_channel_conn *row,
                        struct sg_err *err);

/*
 * Re-read the shops of a connection with its access token, refreshing and
 * retrying once when the platform says the token expired (105002).
 * *shops_out is the number stored.
 */
int sg_tts_sync_shops(struct sg_store *s, struct sg_connector *c,
                      const unsigned char key[SG_SECRET_KEY_LEN],
                      int64_t tenant_id, int64_t connection_id,
                      size_t *shops_out, struct sg_err *err);

#endif
