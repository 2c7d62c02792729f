/*
 * catalog_sync.c - the "catalog.sync" job kind (see catalog_sync.h): a
 * trampoline to the environment the engine installs, which knows the
 * catalog, the listing state and the channel's tokens.
 */
#include "core/sg.h"

#include <pthread.h>

#include "jobs/breaker.h"
#include "jobs/catalog_sync.h"
#include "jobs/dispatcher.h"

static pthread_mutex_t env_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sg_catalog_sync_env G;

void sg_catalog_sync_configure(const struct sg_catalog_sync_env *env)
{
    pthread_mutex_lock(&env_lock);
    if (env)
        G = *env;
    else
        memset(&G, 0, sizeof(G));
    pthread_mutex_unlock(&env_lock);
}

static struct sg_catalog_sync_env env_get(void)
{
    struct sg_catalog_sync_env e;

    pthread_mutex_lock(&env_lock);
    e = G;
    pthread_mutex_unlock(&env_lock);
    return e;
}

static int cs_prepare(const struct sg_job *job,
                      const struct sg_dispatcher_cfg *cfg, int64_t now_ms,
                      struct sg_job_call *call, struct sg_err *err)
{
    struct sg_catalog_sync_env e = env_get();
    int rc;

    SG_UNUSED(cfg);
    if (!e.plan) {
        rc = sg_err_set(err, SG_ECONFIG, "catalog sync is not configured");
        if (err)
            err->retryable = true; /* surge serve with [tiktok_shop] sends */
        return rc;
    }
    return e.plan(e.ctx, job, now_ms, call, err);
}

static void cs_classify(const struct sg_job *job,
                        const struct sg_http_response *resp, int64_t now_ms,
                        const struct sg_dispatcher_cfg *cfg,
                        struct sg_job_outcome *out)
{
    struct sg_catalog_sync_env e = env_get();

    if (e.result) {
        e.result(e.ctx, job, resp, now_ms, cfg, out);
        return;
    }
    sg_job_classify_http(resp, now_ms, cfg->retry_after_max_ms, out);
    if (out->verdict == SG_JOB_VERDICT_SUCCESS) {
        /* Nobody can record it: try again once configured. */
        out->verdict = SG_JOB_VERDICT_RETRY;
        out->breaker = SG_BREAKER_NEUTRAL;
        snprintf(out->reason, sizeof(out->reason),
                 "catalog sync is not configured");
    }
}

const struct sg_job_kind_ops sg_job_kind_catalog_sync = {
    .version = SG_JOB_KIND_OPS_VERSION,
    .kind = "catalog.sync",
    .prepare = cs_prepare,
    .classify = cs_classify,
};
