/*
 * catalog_sync.h - the "catalog.sync" job kind: one job brings one
 * product's listing on a channel one step closer to the catalog (create,
 * edit, price, inventory, status, delete, or a read-back), one HTTP call
 * per claim.
 *
 * The jobs library cannot read the catalog or unseal channel tokens, so
 * the engine plugs in through sg_catalog_sync_env: plan() decides the
 * next call for a job and builds it, signed, with the access token;
 * result() judges the answer and records what the channel now holds
 * (and enqueues the next step when more is left). The environment is
 * process-wide: set once before the dispatcher starts, cleared after it
 * stopped. Without one, jobs wait (retryable "not configured").
 */
#ifndef SG_JOBS_CATALOG_SYNC_H
#define SG_JOBS_CATALOG_SYNC_H

#include "jobs/kind.h"

struct sg_catalog_sync_env {
    /*
     * Fill call for job (dispatcher thread; may wait for one store read
     * or write). SG_EDECLINED when nothing is left to do (the job is then
     * done); another SG_E* with err (retryable when set).
     */
    int (*plan)(void *ctx, const struct sg_job *job, int64_t now_ms,
                struct sg_job_call *call, struct sg_err *err);
    /* Judge the answer; must fill every field of out; must not block. */
    void (*result)(void *ctx, const struct sg_job *job,
                   const struct sg_http_response *resp, int64_t now_ms,
                   const struct sg_dispatcher_cfg *cfg,
                   struct sg_job_outcome *out);
    void *ctx;
};

/* Install (copying) or, with NULL, clear the environment. */
void sg_catalog_sync_configure(const struct sg_catalog_sync_env *env);

extern const struct sg_job_kind_ops sg_job_kind_catalog_sync;

#endif
