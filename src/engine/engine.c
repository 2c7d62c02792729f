/*
 * engine.c - the daemon's lifecycle: build the parts from the
 * configuration, start them in dependency order, stop them in reverse.
 */
#include "engine/internal.h"
#include "core/alloc.h"
#include "core/log.h"
#include "http/urlcheck.h"
#include "features/catalog/catalog_store.h"
#include "features/events/events_store.h"
#include "features/orders/fulfil_store.h"
#include "features/orders/orders_store.h"
#include "jobs/dispatcher.h"
#include "store/channels.h"
#include "store/listings.h"

static void store_cfg_from(struct sg_store_cfg *sc, const struct sg_config *c)
{
    sg_store_cfg_defaults(sc);
    sc->backend = c->store.backend;
    sc->path = c->store.path;
    sc->batch_max = c->store.batch_max;
    sc->queue_max = c->store.queue_max;
    sc->readers = c->store.readers;
    sc->cache_bytes = c->store.cache;
    sc->dsn = c->store.dsn;
}

/*
 * The daemon uses every feature's storage; a backend that lacks one of
 * them would fail later, on the first request that needs it. Refuse to
 * start instead, naming what is missing.
 */
static int backend_complete(const char *backend, struct sg_err *err)
{
    char missing[160] = "";
    size_t n = 0;

    if (!sg_store_backend(backend))
        return sg_err_set(err, SG_ECONFIG, "unknown store backend %s",
                          backend ? backend : "(none)");
#define SG_NEED(ok, what)                                                      \
    do {                                                                       \
        if (!(ok) && n < sizeof(missing))                                      \
            n += (size_t)snprintf(missing + n, sizeof(missing) - n, "%s%s",   \
                                  n ? ", " : "", what);                        \
    } while (0)
    SG_NEED(sg_catalog_store_ops(backend), "catalog");
    SG_NEED(sg_orders_store_ops(backend), "orders");
    SG_NEED(sg_fulfil_store_ops(backend), "fulfilment");
    SG_NEED(sg_events_store_for(backend), "events");
    SG_NEED(sg_channels_ops_for(backend), "channels");
    SG_NEED(sg_listings_ops_for(backend), "listings");
#undef SG_NEED
    if (n)
        return sg_err_set(err, SG_ECONFIG,
                          "[store] backend = %s cannot run the engine yet: "
                          "no %s storage for it (use backend = sqlite)",
                          backend, missing);
    return 0;
}

static void dispatcher_cfg_from(struct sg_dispatcher_cfg *d,
                                const struct sg_config *c)
{
    sg_dispatcher_cfg_defaults(d);
    d->concurrency = c->jobs.concurrency;
    d->attempts_max = c->jobs.attempts_max;
    d->backoff_base_ms = c->jobs.backoff_base_ms;
    d->backoff_max_ms = c->jobs.backoff_max_ms;
    d->retry_after_max_ms = c->jobs.retry_after_max_ms;
    d->lease_ms = c->jobs.lease_ms;
    d->request_timeout_ms = c->jobs.request_timeout_ms;
    d->rate_per_sec = c->jobs.rate_per_sec;
    d->burst = c->jobs.burst;
    d->breaker_min_calls = c->jobs.breaker_min_calls;
    d->breaker_failure_pct = c->jobs.breaker_failure_pct;
    d->breaker_open_ms = c->jobs.breaker_open_ms;
    d->breaker_probes = c->jobs.breaker_probes;
    d->notify_url = c->notify.url;
    d->notify_secret = c->notify.secret;
    d->allow_private_urls = c->security.allow_private_urls;
}

/* The tenant that generic webhooks belong to must exist. */
static int resolve_generic_tenant(struct sg_engine *e, struct sg_err *err)
{
    const struct sg_config *c = e->cfg;
    struct sg_tenant t;
    int rc;

    if (!c->webhook_generic.secret || !c->webhook_generic.secret[0])
        return 0;
    rc = sg_store_tenant_get(e->store, c->webhook_generic.tenant, &t, err);
    if (rc == SG_ENOTFOUND)
        return sg_err_set(err, SG_ECONFIG,
                          "[webhook_generic] tenant \"%s\" does not exist; "
                          "create it with: surge tenant create %s",
                          c->webhook_generic.tenant,
                          c->webhook_generic.tenant);
    if (rc)
        return rc;
    e->generic_tenant_id = t.id;
    return 0;
}

int sg_engine_new(struct sg_engine **out, const struct sg_config *cfg,
                  struct sg_err *err)
{
    struct sg_engine *e = sg_calloc(1, sizeof(*e));
    struct sg_store_cfg sc;
    struct sg_http_server_cfg hc;
    int rc;

    *out = NULL;
    if (!e)
        return sg_err_set(err, SG_ENOMEM, "out of memory");
    e->cfg = cfg;
    /* S10: no private destinations unless [security] allows them. */
    rc = sg_http_url_check(cfg->notify.url, cfg->security.allow_private_urls,
                           "[notify] url", err);
    if (rc) {
        sg_free(e);
        return rc;
    }
    sg_clock_init_system(&e->clock);
    pthread_mutex_init(&e->inbox_lock, NULL);
    pthread_cond_init(&e->inbox_cond, NULL);
    store_cfg_from(&sc, cfg);
    rc = backend_complete(sc.backend, err);
    if (rc)
        goto fail;
    rc = sg_store_open(&e->store, &sc, &e->clock, err);
    if (rc)
        goto fail;
    rc = resolve_generic_tenant(e, err);
    if (rc)
        goto fail;
    sg_http_server_cfg_defaults(&hc);
    hc.listen = cfg->server.listen;
    hc.threads = cfg->server.threads;
    hc.limits.body_max = cfg->server.body_max;
    hc.limits.headers_max = cfg->server.headers_max;
    hc.limits.header_bytes_max = cfg->server.header_bytes_max;
    hc.limits.request_timeout_ms = cfg->server.request_timeout_ms;
    hc.limits.json_depth_max = cfg->server.json_depth_max;
    hc.name = "api";
    rc = sg_http_server_new(&e->http, &hc, err);
    if (rc)
        goto fail;
    sg_engine__register_api(e);
    sg_engine__register_intake(e);
    rc = sg_engine__orders_init(e, err);
    if (rc)
        goto fail;
    rc = sg_engine__tiktok_register(e, err);
    if (rc)
        goto fail;
    sg_engine__register_catalog(e);
    sg_engine__register_events(e);
    sg_engine__register_orders(e);
    sg_engine__register_fulfil(e);
    *out = e;
    return 0;
fail:
    sg_engine_free(e);
    return rc;
}

int sg_engine_start(struct sg_engine *e, struct sg_err *err)
{
    struct sg_dispatcher_cfg dc;
    int rc;

    dispatcher_cfg_from(&dc, e->cfg);
    rc = sg_dispatcher_new(&e->dispatcher, e->store, &dc, &e->clock, err);
    if (!rc)
        rc = sg_dispatcher_start(e->dispatcher, err);
    if (!rc)
        rc = sg_engine__inbox_start(e, err);
    if (!rc)
        rc = sg_engine__tiktok_start(e, err);
    if (!rc)
        rc = sg_http_server_start(e->http, err);
    return rc;
}

const char *sg_engine_url(const struct sg_engine *e)
{
    return sg_http_server_url(e->http);
}

struct sg_store *sg_engine_store(struct sg_engine *e)
{
    return e->store;
}

void sg_engine_stop(struct sg_engine *e)
{
    if (!e)
        return;
    sg_engine__tiktok_stop(e);
    sg_http_server_stop(e->http);
    sg_engine__inbox_stop(e);
    if (e->dispatcher)
        sg_dispatcher_stop(e->dispatcher);
}

void sg_engine_free(struct sg_engine *e)
{
    if (!e)
        return;
    sg_engine_stop(e);
    sg_engine__tiktok_free(e);
    sg_engine__orders_free(e);
    sg_http_server_free(e->http);
    sg_dispatcher_free(e->dispatcher);
    sg_store_free(e->store);
    pthread_mutex_destroy(&e->inbox_lock);
    pthread_cond_destroy(&e->inbox_cond);
    sg_free(e);
}
