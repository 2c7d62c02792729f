/*
 * registry.c - the connectors Surge ships: a plain static array of ops
 * tables. A table whose version or required slots do not match is never
 * handed out (sg_connector_find returns NULL and logs why).
 */
#include "core/sg.h"

#include "connectors/connector.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"

#define DEFAULT_TIMEOUT_MS 10000

static const struct sg_connector_ops *const registry[] = {
    &sg_connector_tiktok_shop,
    NULL,
};

const struct sg_connector_ops *const *sg_connector_list(void)
{
    return registry;
}

int sg_connector_check(const struct sg_connector_ops *ops, struct sg_err *err)
{
    const char *missing = NULL;

    if (!ops || ops->version != SG_CONNECTOR_OPS_VERSION)
        return sg_err_set(err, SG_ECONFIG, "connector ops version %u, "
                          "want %u", ops ? ops->version : 0,
                          SG_CONNECTOR_OPS_VERSION);
    if (!ops->name || !ops->name[0])
        missing = "name";
    else if (!ops->open || !ops->close)
        missing = "open/close";
    else if ((ops->caps & SG_CAP_OAUTH) &&
             (!ops->authorize_url || !ops->exchange_code || !ops->refresh))
        missing = "oauth slots";
    else if ((ops->caps & SG_CAP_SHOPS) && !ops->list_shops)
        missing = "list_shops";
    else if ((ops->caps & SG_CAP_WEBHOOKS) &&
             (!ops->verify_webhook || !ops->parse_webhook ||
              !ops->subscribe_webhook || !ops->webhook_events))
        missing = "webhook slots";
    else if ((ops->caps & SG_CAP_CATALOG) &&
             (!ops->catalog_request || !ops->catalog_call))
        missing = "catalog slots";
    else if ((ops->caps & SG_CAP_ORDERS) &&
             (!ops->search_orders || !ops->get_orders || !ops->cancel_order))
        missing = "order slots";
    if (missing)
        return sg_err_set(err, SG_ECONFIG, "connector %s lacks %s",
                          ops->name ? ops->name : "?", missing);
    return 0;
}

const struct sg_connector_ops *sg_connector_find(const char *name)
{
    for (size_t i = 0; name && registry[i]; i++) {
        struct sg_err err;

        if (!registry[i]->name || strcmp(registry[i]->name, name) != 0)
            continue;
        sg_err_init(&err);
        if (sg_connector_check(registry[i], &err) != 0) {
            sg_log(SG_LOG_ERR, "connector", "msg=\"rejected\" err=\"%s\"",
                   err.msg);
            return NULL;
        }
        return registry[i];
    }
    return NULL;
}

int sg_connector_open(struct sg_connector **out, const char *name,
                      const struct sg_conn_cfg *cfg,
                      const struct sg_conn_env *env, struct sg_err *err)
{
    const struct sg_connector_ops *ops = sg_connector_find(name);

    *out = NULL;
    if (!ops)
        return sg_err_set(err, SG_ENOTFOUND, "no connector \"%s\"",
                          name ? name : "");
    return ops->open(out, cfg, env, err);
}

void sg_connector_close(struct sg_connector *c)
{
    if (c)
        c->ops->close(c);
}

void sg_conn_tokens_release(struct sg_conn_tokens *t)
{
    if (!t)
        return;
    sg_free(t->access_token);
    sg_free(t->refresh_token);
    memset(t, 0, sizeof(*t));
}

int sg_conn_http(const struct sg_connector *c, struct sg_http_response *out,
                 const struct sg_http_request *req, struct sg_err *err)
{
    struct sg_http_request r = *req;
    struct sg_http_client_cfg hc;

    if (!r.timeout_ms)
        r.timeout_ms = c->env.timeout_ms ? c->env.timeout_ms
                                         : DEFAULT_TIMEOUT_MS;
    if (c->env.http)
        return c->env.http(c->env.http_ctx, out, &r, err);
    sg_http_client_cfg_defaults(&hc);
    hc.deny_private = c->env.deny_private;
    return sg_http_client_do(out, &r, &hc, err);
}

int64_t sg_conn_now_s(const struct sg_connector *c)
{
    const struct sg_clock *clk = c->env.clock ? c->env.clock
                                              : sg_clock_system();

    return sg_clock_now_ms(clk) / 1000;
}
