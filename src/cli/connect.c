/*
 * connect.c - "surge connect tiktok-shop" and "surge connect list".
 *
 * Without --sandbox it issues an OAuth state (kept 30 minutes) and prints
 * the seller consent URL; the engine's /oauth/tiktok-shop/callback
 * finishes the flow. With --sandbox BASE_URL it plays the seller against a
 * running surge sandbox like a real integrator: it asks the consent page
 * for a code (reading the redirect's Location, never following it),
 * checks the state, exchanges the code, discovers the shops, subscribes
 * their webhooks to [tiktok_shop] webhook_url and stores everything, with
 * the tokens sealed.
 */
#include "core/sg.h"

#include "cli/cli.h"
#include "connectors/tiktok_shop/tiktok_shop.h"
#include "core/alloc.h"
#include "core/config.h"
#include "core/json.h"
#include "engine/tiktok_shop.h"

#define CODE_MAX 512

static int tenant_id_of(struct sg_store *s, const char *name, int64_t *id)
{
    struct sg_tenant t;
    struct sg_err err;
    int rc;

    sg_err_init(&err);
    rc = sg_store_tenant_get(s, name, &t, &err);
    if (rc == SG_ENOTFOUND) {
        sg_cli_errorf("no tenant \"%s\"; create it with: surge tenant "
                      "create %s", name, name);
        return SG_EXIT_FAIL;
    }
    if (rc) {
        sg_cli_errorf("cannot read tenant \"%s\": %s", name, err.msg);
        return SG_EXIT_FAIL;
    }
    *id = t.id;
    return 0;
}

/* Copy query parameter key of a URL or query string into out. */
static bool query_value(const char *url, size_t len, const char *key,
                        char *out, size_t out_size)
{
    const char *q = memchr(url, '?', len);
    struct sg_tts_query p;
    const struct sg_tts_kv *kv;
    bool ok = false;

    if (q) {
        len -= (size_t)(q + 1 - url);
        url = q + 1;
    }
    if (sg_tts_query_parse(&p, url, len) == 0 &&
        (kv = sg_tts_query_find(&p, key)) && kv->val_len > 0 &&
        kv->val_len < out_size && !memchr(kv->val, '\0', kv->val_len)) {
        memcpy(out, kv->val, kv->val_len);
        out[kv->val_len] = '\0';
        ok = true;
    }
    sg_tts_query_release(&p);
    return ok;
}

/* The consent step against the sandbox: code and echoed state. */
static int sandbox_consent(struct sg_connector *c, char code[CODE_MAX + 1],
                           const char *state)
{
    struct sg_http_request req = {0};
    struct sg_http_response resp = {0};
    struct sg_err err;
    char *url = NULL, echoed[128] = "";
    const char *loc;
    size_t loc_len = 0;
    json_t *j = NULL;
    int rc, status = SG_EXIT_FAIL;

    sg_err_init(&err);
    rc = c->ops->authorize_url(c, state, &url, &err);
    if (rc) {
        sg_cli_errorf("%s", err.msg);
        return SG_EXIT_CONFIG;
    }
    req.method = "GET";
    req.url = url;
    rc = sg_conn_http(c, &resp, &req, &err);
    if (rc) {
        sg_cli_errorf("consent page: %s", err.msg);
        goto out;
    }
    loc = sg_http_response_header(&resp, "location", &loc_len);
    if (resp.status >= 300 && resp.status < 400 && loc) {
        /* Redirect to the callback: take the code, do not follow. */
        if (!query_value(loc, loc_len, "code", code, CODE_MAX + 1) ||
            !query_value(loc, loc_len, "state", echoed, sizeof(echoed))) {
            sg_cli_errorf("consent redirect lacks code or state");
            goto out;
        }
    } else if (resp.status == 200 &&
               sg_json_parse(&j, resp.body, resp.body_len, 8, NULL, NULL) ==
                   0 &&
               sg_json_str(j, "code") && sg_json_str(j, "state")) {
        /* A sandbox without --callback-url answers the code as JSON. */
        snprintf(code, CODE_MAX + 1, "%s", sg_json_str(j, "code"));
        snprintf(echoed, sizeof(echoed), "%s", sg_json_str(j, "state"));
    } else {
        sg_cli_errorf("consent page answered HTTP %ld", resp.status);
        goto out;
    }
    if (strcmp(echoed, state) != 0) {
        sg_cli_errorf("consent page echoed a different state; refusing");
        goto out;
    }
    status = 0;
out:
    json_decref(j);
    sg_http_response_release(&resp);
    sg_free(url);
    return status;
}

static int load_key(unsigned char key[SG_SECRET_KEY_LEN],
                    const struct sg_config *cfg)
{
    struct sg_err err;
    int rc;

    sg_err_init(&err);
    rc = sg_secret_key_load(key, cfg->secrets.key_file, &err);
    if (rc == SG_ENOTFOUND) {
        sg_cli_errorf("%s; surge init creates it", err.msg);
        return SG_EXIT_CONFIG;
    }
    if (rc) {
        sg_cli_errorf("%s", err.msg);
        return SG_EXIT_CONFIG;
    }
    return 0;
}

int sg_cli_connect_tiktok(int argc, char **argv)
{
    const char *config = NULL, *tenant = "default", *sandbox = NULL;
    struct sg_cli_opt opts[] = {{"--config", &config, NULL},
                                {"--tenant", &tenant, NULL},
                                {"--sandbox", &sandbox, NULL}};
    struct sg_config cfg = {0};
    struct sg_store *store = NULL;
    struct sg_connector *c = NULL;
    struct sg_conn_cfg cc;
    struct sg_conn_env env;
    struct sg_tts_connect_result res;
    struct sg_err err;
    unsigned char key[SG_SECRET_KEY_LEN];
    char state[65], code[CODE_MAX + 1] = "", authorize[1024], *url = NULL;
    int64_t tenant_id = 0, taken = 0;
    size_t n_pos;
    int rc, status;

    rc = sg_cli_parse("connect tiktok-shop", argc, argv, opts,
                      SG_ARRAY_SIZE(opts), NULL, 0, 0, &n_pos);
    if (rc >= 0)
        return rc;
    status = sg_cli_load_config(&cfg, config);
    if (status != 0)
        goto out;
    sg_cli_quiet_logs(&cfg);
    if (!sg_tts_configured(&cfg)) {
        sg_cli_errorf("[tiktok_shop] app_key and app_secret are not set");
        status = SG_EXIT_CONFIG;
        goto out;
    }
    if (sandbox && strncmp(sandbox, "http://", 7) != 0 &&
        strncmp(sandbox, "https://", 8) != 0) {
        status = sg_cli_usage_error("connect tiktok-shop",
                                    "--sandbox takes a base URL");
        goto out;
    }
    if (sandbox && (status = load_key(key, &cfg)) != 0)
        goto out;
    status = sg_cli_open_store(&store, &cfg);
    if (status != 0)
        goto out;
    status = tenant_id_of(store, tenant, &tenant_id);
    if (status != 0)
        goto out;
    status = SG_EXIT_FAIL;
    sg_tts_conn_cfg(&cc, &cfg);
    sg_tts_conn_env(&env, &cfg);
    if (sandbox) {
        /* Every TikTok host is the sandbox; it listens on loopback. */
        snprintf(authorize, sizeof(authorize), "%s/open/authorize", sandbox);
        cc.authorize_url = authorize;
        cc.api_base_url = sandbox;
        cc.auth_base_url = sandbox;
        if (!cc.service_id)
            cc.service_id = "sandbox";
        env.deny_private = false;
    }
    sg_err_init(&err);
    rc = sg_connector_open(&c, "tiktok_shop", &cc, &env, &err);
    if (!rc)
        rc = sg_tts_state_issue(store, tenant_id, state, &err);
    if (rc) {
        sg_cli_errorf("%s", err.msg);
        goto out;
    }
    if (!sandbox) {
        rc = c->ops->authorize_url(c, state, &url, &err);
        if (rc) {
            sg_cli_errorf("%s", err.msg);
            status = SG_EXIT_CONFIG;
            goto out;
        }
        printf("open this URL as the seller (valid 30 minutes):\n%s\n", url);
        printf("TikTok then redirects to this engine's "
               "/oauth/tiktok-shop/callback, which stores the connection\n");
        status = SG_EXIT_OK;
        goto out;
    }
    status = sandbox_consent(c, code, state);
    if (status != 0)
        goto out;
    status = SG_EXIT_FAIL;
    printf("consent: got an authorization code from %s\n", sandbox);
    rc = sg_tts_state_take(store, state, &taken, &err);
    if (rc || taken != tenant_id) {
        sg_cli_errorf("state check failed: %s", err.msg);
        goto out;
    }
    rc = sg_tts_connect_code(store, c, key, tenant_id, code,
                             cfg.tiktok_shop.webhook_url, &res, &err);
    if (rc) {
        sg_cli_errorf("connect failed: %s", err.msg);
        goto out;
    }
    printf("exchanged the code: seller %s (open_id %s), access token valid "
           "until %" PRId64 "\n",
           res.seller_name, res.open_id, res.access_expires_at);
    printf("discovered %zu shop%s\n", res.shops, res.shops == 1 ? "" : "s");
    if (cfg.tiktok_shop.webhook_url && cfg.tiktok_shop.webhook_url[0])
        printf("subscribed %zu webhook%s to %s (%zu failed)\n",
               res.subscriptions, res.subscriptions == 1 ? "" : "s",
               cfg.tiktok_shop.webhook_url, res.subscription_failures);
    else
        printf("no [tiktok_shop] webhook_url: webhooks not subscribed\n");
    printf("stored connection %" PRId64 " for tenant %s (tokens sealed)\n",
           res.connection_id, tenant);
    status = res.subscription_failures ? SG_EXIT_FAIL : SG_EXIT_OK;
out:
    memset(key, 0, sizeof(key));
    memset(code, 0, sizeof(code));
    sg_free(url);
    sg_connector_close(c);
    sg_store_free(store);
    sg_config_release(&cfg);
    return status;
}

int sg_cli_connect_list(int argc, char **argv)
{
    const char *config = NULL, *tenant = NULL;
    struct sg_cli_opt opts[] = {{"--config", &config, NULL},
                                {"--tenant", &tenant, NULL}};
    struct sg_config cfg = {0};
    struct sg_store *store = NULL;
    struct sg_channel_conn *rows = NULL;
    struct sg_channel_shop *shops = NULL;
    struct sg_err err;
    int64_t tenant_id = 0;
    size_t n = 0, ns = 0, n_pos;
    int rc, status;

    rc = sg_cli_parse("connect list", argc, argv, opts, SG_ARRAY_SIZE(opts),
                      NULL, 0, 0, &n_pos);
    if (rc >= 0)
        return rc;
    status = sg_cli_load_config(&cfg, config);
    if (status != 0)
        goto out;
    sg_cli_quiet_logs(&cfg);
    status = sg_cli_open_store(&store, &cfg);
    if (status != 0)
        goto out;
    if (tenant && (status = tenant_id_of(store, tenant, &tenant_id)) != 0)
        goto out;
    status = SG_EXIT_FAIL;
    sg_err_init(&err);
    if (sg_channels_conn_list(store, tenant_id, &rows, &n, &err) ||
        sg_channels_shop_list(store, tenant_id, 0, &shops, &ns, &err)) {
        sg_cli_errorf("cannot read connections: %s", err.msg);
        goto out;
    }
    if (n == 0)
        printf("no connections\n");
    for (size_t i = 0; i < n; i++) {
        printf("connection %" PRId64 " tenant=%" PRId64 " platform=%s "
               "open_id=%s seller=\"%s\" status=%s access_expires_at=%"
               PRId64 "%s%s\n",
               rows[i].id, rows[i].tenant_id, rows[i].platform,
               rows[i].open_id, rows[i].seller_name, rows[i].status,
               rows[i].access_expires_at,
               rows[i].status_reason[0] ? " reason=" : "",
               rows[i].status_reason);
        for (size_t k = 0; k < ns; k++)
            if (shops[k].connection_id == rows[i].id)
                printf("  shop %s \"%s\" region=%s cipher=%s\n",
                       shops[k].shop_id, shops[k].name, shops[k].region,
                       shops[k].cipher);
    }
    status = SG_EXIT_OK;
out:
    sg_channel_conn_list_free(rows, n);
    sg_free(shops);
    sg_store_free(store);
    sg_config_release(&cfg);
    return status;
}
