/*
 * tiktok_shop.c - connecting TikTok Shop sellers (tiktok_shop.h): the
 * network half runs first, then one store write saves everything, so a
 * connection is stored whole or not at all. Plaintext tokens live only in
 * this process's memory and are wiped before they are freed.
 */
#include "engine/tiktok_shop.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/crypto.h"
#include "core/log.h"

#define REFRESH_BACKOFF_MIN_MS (60 * 1000)
#define REFRESH_BACKOFF_MAX_MS (60 * 60 * 1000)

bool sg_tts_configured(const struct sg_config *cfg)
{
    return cfg->tiktok_shop.app_key && cfg->tiktok_shop.app_key[0] &&
           cfg->tiktok_shop.app_secret && cfg->tiktok_shop.app_secret[0];
}

void sg_tts_conn_cfg(struct sg_conn_cfg *out, const struct sg_config *cfg)
{
    memset(out, 0, sizeof(*out));
    out->app_key = cfg->tiktok_shop.app_key;
    out->app_secret = cfg->tiktok_shop.app_secret;
    out->service_id = cfg->tiktok_shop.service_id;
    out->api_base_url = cfg->tiktok_shop.api_base_url;
    out->auth_base_url = cfg->tiktok_shop.auth_base_url;
    out->authorize_url = cfg->tiktok_shop.authorize_url;
}

void sg_tts_conn_env(struct sg_conn_env *out, const struct sg_config *cfg)
{
    memset(out, 0, sizeof(*out));
    out->deny_private = !cfg->security.allow_private_urls;
    out->timeout_ms = cfg->jobs.request_timeout_ms;
}

static void wipe_free(char *s)
{
    if (s) {
        memset(s, 0, strlen(s));
        sg_free(s);
    }
}

/* ---- OAuth states ---- */

struct state_op {
    int64_t tenant_id;
    char hash[65];
    int64_t ttl_ms;
};

static int state_issue_write(struct sg_store_tx *tx, void *arg,
                             struct sg_err *err)
{
    struct state_op *op = arg;

    return sg_channels_tx_state_insert(tx, op->tenant_id, SG_TTS_PLATFORM,
                                       op->hash,
                                       sg_store_tx_now(tx) + op->ttl_ms, err);
}

int sg_tts_state_issue(struct sg_store *s, int64_t tenant_id,
                       char state_out[65], struct sg_err *err)
{
    struct state_op op = {.tenant_id = tenant_id,
                          .ttl_ms = SG_TTS_STATE_TTL_MS};
    unsigned char raw[32];

    if (sg_random_bytes(raw, sizeof(raw)) != 0)
        return sg_err_set(err, SG_EIO, "no random bytes");
    sg_hex_encode(raw, sizeof(raw), state_out);
    sg_sha256_hex(state_out, 64, op.hash);
    return sg_store_write(s, state_issue_write, &op, err);
}

static int state_take_write(struct sg_store_tx *tx, void *arg,
                            struct sg_err *err)
{
    struct state_op *op = arg;

    return sg_channels_tx_state_take(tx, SG_TTS_PLATFORM, op->hash,
                                     &op->tenant_id, err);
}

int sg_tts_state_take(struct sg_store *s, const char *state,
                      int64_t *tenant_out, struct sg_err *err)
{
    struct state_op op = {0};
    size_t len = state ? strlen(state) : 0;
    int rc;

    if (len == 0 || len > 512)
        return sg_err_set(err, SG_ENOTFOUND, "unknown state");
    sg_sha256_hex(state, len, op.hash);
    rc = sg_store_write(s, state_take_write, &op, err);
    if (!rc)
        *tenant_out = op.tenant_id;
    return rc;
}

/* ---- saving a grant ---- */

struct grant_op {
    int64_t tenant_id;
    const struct sg_conn_cfg *cc;
    const struct sg_conn_tokens *t;
    char *access_sealed;
    char *refresh_sealed;
    const struct sg_conn_shop *shops;
    size_t n_shops;
    int64_t conn_id;
};

static int grant_write(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    struct grant_op *op = arg;
    struct sg_channel_conn c;
    struct sg_audit a;
    int64_t app_id = 0;
    int rc;

    rc = sg_channels_tx_app_upsert(tx, SG_TTS_PLATFORM, op->cc->app_key,
                                   op->cc->service_id, &app_id, err);
    if (rc)
        return rc;
    memset(&c, 0, sizeof(c));
    c.tenant_id = op->tenant_id;
    c.app_id = app_id;
    snprintf(c.platform, sizeof(c.platform), "%s", SG_TTS_PLATFORM);
    snprintf(c.open_id, sizeof(c.open_id), "%s", op->t->open_id);
    snprintf(c.seller_name, sizeof(c.seller_name), "%s",
             op->t->seller_name);
    snprintf(c.region, sizeof(c.region), "%s", op->t->region);
    c.access_sealed = op->access_sealed;
    c.refresh_sealed = op->refresh_sealed;
    c.access_expires_at = op->t->access_expires_at;
    c.refresh_expires_at = op->t->refresh_expires_at;
    rc = sg_channels_tx_conn_upsert(tx, &c, &op->conn_id, err);
    for (size_t i = 0; !rc && i < op->n_shops; i++) {
        struct sg_channel_shop sh;

        memset(&sh, 0, sizeof(sh));
        sh.tenant_id = op->tenant_id;
        sh.connection_id = op->conn_id;
        snprintf(sh.platform, sizeof(sh.platform), "%s", SG_TTS_PLATFORM);
        snprintf(sh.shop_id, sizeof(sh.shop_id), "%s", op->shops[i].id);
        snprintf(sh.cipher, sizeof(sh.cipher), "%s", op->shops[i].cipher);
        snprintf(sh.name, sizeof(sh.name), "%s", op->shops[i].name);
        snprintf(sh.region, sizeof(sh.region), "%s", op->shops[i].region);
        rc = sg_channels_tx_shop_upsert(tx, &sh, err);
    }
    if (rc)
        return rc;
    memset(&a, 0, sizeof(a));
    a.tenant_id = op->tenant_id;
    snprintf(a.actor, sizeof(a.actor), "oauth");
    snprintf(a.action, sizeof(a.action), "channel.connect");
    snprintf(a.object, sizeof(a.object), "connection:%" PRId64, op->conn_id);
    snprintf(a.outcome, sizeof(a.outcome), "ok");
    return sg_store_tx_audit(tx, &a, err);
}

static int seal_pair(const unsigned char *key, const struct sg_conn_tokens *t,
                     char **access_out, char **refresh_out,
                     struct sg_err *err)
{
    *access_out = NULL;
    *refresh_out = NULL;
    if (sg_seal(key, t->access_token, strlen(t->access_token),
                access_out) != 0 ||
        sg_seal(key, t->refresh_token, strlen(t->refresh_token),
                refresh_out) != 0) {
        sg_free(*access_out);
        *access_out = NULL;
        return sg_err_set(err, SG_ENOMEM, "cannot seal the tokens");
    }
    return 0;
}

int sg_tts_connect_code(struct sg_store *s, struct sg_connector *c,
                        const unsigned char key[SG_SECRET_KEY_LEN],
                        int64_t tenant_id, const char *code,
                        const char *webhook_url,
                        struct sg_tts_connect_result *res,
                        struct sg_err *err)
{
    struct sg_conn_tokens t;
    struct sg_conn_shop *shops = NULL;
    struct grant_op op = {.tenant_id = tenant_id, .cc = &c->cfg, .t = &t};
    size_t n = 0;
    int rc;

    memset(res, 0, sizeof(*res));
    rc = c->ops->exchange_code(c, code, &t, err);
    if (rc)
        return rc;
    rc = c->ops->list_shops(c, t.access_token, &shops, &n, err);
    if (rc)
        goto out;
    for (size_t i = 0; webhook_url && webhook_url[0] && i < n; i++) {
        for (const char *const *ev = c->ops->webhook_events; *ev; ev++) {
            struct sg_err e2;

            sg_err_init(&e2);
            if (c->ops->subscribe_webhook(c, t.access_token, &shops[i], *ev,
                                          webhook_url, &e2) == 0) {
                res->subscriptions++;
            } else {
                res->subscription_failures++;
                sg_log(SG_LOG_WARN, "tiktok_shop",
                       "msg=\"webhook subscription failed\" shop=%s "
                       "event=%s err=\"%s\"",
                       shops[i].id, *ev, e2.msg);
            }
        }
    }
    rc = seal_pair(key, &t, &op.access_sealed, &op.refresh_sealed, err);
    if (rc)
        goto out;
    op.shops = shops;
    op.n_shops = n;
    rc = sg_store_write(s, grant_write, &op, err);
    if (rc)
        goto out;
    res->connection_id = op.conn_id;
    snprintf(res->open_id, sizeof(res->open_id), "%s", t.open_id);
    snprintf(res->seller_name, sizeof(res->seller_name), "%s",
             t.seller_name);
    res->access_expires_at = t.access_expires_at;
    res->shops = n;
out:
    sg_free(op.access_sealed);
    sg_free(op.refresh_sealed);
    sg_free(shops);
    wipe_free(t.access_token);
    wipe_free(t.refresh_token);
    t.access_token = t.refresh_token = NULL;
    return rc;
}

/* ---- refresh ---- */

struct refresh_op {
    int64_t id;
    int64_t tenant_id;
    int outcome; /* 0 stored, 1 expired, 2 failed */
    char *access_sealed;
    char *refresh_sealed;
    int64_t access_exp, refresh_exp, next_at;
    char reason[128];
};

static int refresh_write(struct sg_store_tx *tx, void *arg,
                         struct sg_err *err)
{
    struct refresh_op *op = arg;
    struct sg_audit a;
    int rc;

    if (op->outcome == 0)
        rc = sg_channels_tx_conn_set_tokens(tx, op->id, op->access_sealed,
                                            op->refresh_sealed,
                                            op->access_exp, op->refresh_exp,
                                            err);
    else if (op->outcome == 1)
        rc = sg_channels_tx_conn_set_status(tx, op->id, "expired",
                                            op->reason, err);
    else
        return sg_channels_tx_conn_refresh_failed(tx, op->id, op->next_at,
                                                  err);
    if (rc)
        return rc;
    memset(&a, 0, sizeof(a));
    a.tenant_id = op->tenant_id;
    snprintf(a.actor, sizeof(a.actor), "refresher");
    snprintf(a.action, sizeof(a.action), "channel.token_refresh");
    snprintf(a.object, sizeof(a.object), "connection:%" PRId64, op->id);
    snprintf(a.outcome, sizeof(a.outcome), "%s",
             op->outcome == 0 ? "ok" : "expired");
    return sg_store_tx_audit(tx, &a, err);
}

int sg_tts_refresh_conn(struct sg_store *s, struct sg_connector *c,
                        const unsigned char key[SG_SECRET_KEY_LEN],
                        const struct sg_channel_conn *row,
                        struct sg_err *err)
{
    struct refresh_op op = {.id = row->id, .tenant_id = row->tenant_id};
    struct sg_conn_tokens t = {0};
    struct sg_err rerr, werr;
    char *plain = NULL;
    size_t len = 0;
    int rc;

    if (sg_unseal(key, row->refresh_sealed, &plain, &len) != 0)
        return sg_err_set(err, SG_EAUTH, "connection %" PRId64 ": cannot "
                          "unseal its refresh token (wrong key file?)",
                          row->id);
    sg_err_init(&rerr);
    rc = c->ops->refresh(c, plain, &t, &rerr);
    wipe_free(plain);
    if (rc == 0) {
        op.access_exp = t.access_expires_at;
        op.refresh_exp = t.refresh_expires_at;
        rc = seal_pair(key, &t, &op.access_sealed, &op.refresh_sealed, err);
        wipe_free(t.access_token);
        wipe_free(t.refresh_token);
        if (rc)
            return rc;
    } else if (rc == SG_EAUTH || (row->refresh_expires_at > 0 &&
                                  row->refresh_expires_at <=
                                      sg_clock_now_ms(sg_store_clock(s)) /
                                          1000)) {
        op.outcome = 1;
        snprintf(op.reason, sizeof(op.reason), "refresh refused: %.100s",
                 rerr.msg);
    } else {
        int64_t backoff = REFRESH_BACKOFF_MIN_MS
                          << SG_MIN(row->refresh_failures, 6);

        op.outcome = 2;
        op.next_at = sg_clock_now_ms(sg_store_clock(s)) +
                     SG_MIN(backoff, REFRESH_BACKOFF_MAX_MS);
    }
    sg_err_init(&werr);
    if (sg_store_write(s, refresh_write, &op, &werr) != 0) {
        sg_free(op.access_sealed);
        sg_free(op.refresh_sealed);
        if (err)
            *err = werr;
        return werr.code ? werr.code : SG_EIO;
    }
    sg_free(op.access_sealed);
    sg_free(op.refresh_sealed);
    if (op.outcome != 0) {
        if (err)
            *err = rerr;
        return rerr.code ? rerr.code : SG_EREMOTE;
    }
    sg_log(SG_LOG_INFO, "tiktok_shop",
           "msg=\"tokens refreshed\" connection=%" PRId64, row->id);
    return 0;
}

/* ---- shop sync ---- */

static int shops_write(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    struct grant_op *op = arg;
    int rc = 0;

    for (size_t i = 0; !rc && i < op->n_shops; i++) {
        struct sg_channel_shop sh;

        memset(&sh, 0, sizeof(sh));
        sh.tenant_id = op->tenant_id;
        sh.connection_id = op->conn_id;
        snprintf(sh.platform, sizeof(sh.platform), "%s", SG_TTS_PLATFORM);
        snprintf(sh.shop_id, sizeof(sh.shop_id), "%s", op->shops[i].id);
        snprintf(sh.cipher, sizeof(sh.cipher), "%s", op->shops[i].cipher);
        snprintf(sh.name, sizeof(sh.name), "%s", op->shops[i].name);
        snprintf(sh.region, sizeof(sh.region), "%s", op->shops[i].region);
        rc = sg_channels_tx_shop_upsert(tx, &sh, err);
    }
    return rc;
}

int sg_tts_sync_shops(struct sg_store *s, struct sg_connector *c,
                      const unsigned char key[SG_SECRET_KEY_LEN],
                      int64_t tenant_id, int64_t connection_id,
                      size_t *shops_out, struct sg_err *err)
{
    struct sg_channel_conn row = {0};
    struct sg_conn_shop *shops = NULL;
    struct grant_op op = {.tenant_id = tenant_id, .conn_id = connection_id};
    char *access = NULL;
    size_t n = 0, len;
    int rc;

    *shops_out = 0;
    for (int attempt = 0; attempt < 2; attempt++) {
        sg_channel_conn_release(&row);
        rc = sg_channels_conn_get(s, tenant_id, connection_id, &row, err);
        if (rc)
            goto out;
        if (strcmp(row.status, "active") != 0) {
            rc = sg_err_set(err, SG_ESTATE, "connection %" PRId64 " is %s",
                            connection_id, row.status);
            goto out;
        }
        if (sg_unseal(key, row.access_sealed, &access, &len) != 0) {
            rc = sg_err_set(err, SG_EAUTH, "cannot unseal the access token "
                            "(wrong key file?)");
            goto out;
        }
        rc = c->ops->list_shops(c, access, &shops, &n, err);
        wipe_free(access);
        access = NULL;
        if (rc != SG_ESTALE || attempt == 1)
            break;
        /* 105002: the access token expired early; refresh, then repeat. */
        rc = sg_tts_refresh_conn(s, c, key, &row, err);
        if (rc)
            goto out;
    }
    if (rc)
        goto out;
    op.shops = shops;
    op.n_shops = n;
    rc = sg_store_write(s, shops_write, &op, err);
    if (!rc)
        *shops_out = n;
out:
    sg_channel_conn_release(&row);
    sg_free(shops);
    return rc;
}
