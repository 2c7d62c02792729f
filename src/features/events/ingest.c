/*
 * ingest.c - the write shared by every intake path (HTTP, CLI import):
 * insert the accepted events (dedup by the unique key) and create or
 * extend each touched source's trigger job, in the caller's transaction.
 */
#include "core/sg.h"

#include "features/events/events.h"
#include "features/events/events_store.h"
#include "features/events/ingest.h"
#include "store/store.h"

static void trigger_key(char *key, size_t size, int64_t tenant, int source)
{
    snprintf(key, size, "events:%" PRId64 ":%s", tenant,
             sg_events_source_name(source));
}

static void job_init(struct sg_job *job, const struct sg_events_cfg *cfg,
                     int64_t tenant, int source, int64_t upto, char *payload,
                     size_t payload_size)
{
    snprintf(payload, payload_size, "{\"source\":\"%s\",\"upto\":%" PRId64 "}",
             sg_events_source_name(source), upto);
    memset(job, 0, sizeof(*job));
    job->tenant_id = tenant;
    snprintf(job->kind, sizeof(job->kind), "events.track");
    job->payload = payload;
    job->attempts_max = cfg->attempts_max;
    snprintf(job->platform, sizeof(job->platform), "tiktok_events");
    snprintf(job->endpoint_class, sizeof(job->endpoint_class), "track");
}

int sg_events_tx_trigger(struct sg_store_tx *tx,
                         const struct sg_events_store_ops *ops,
                         const struct sg_events_cfg *cfg, int64_t tenant,
                         int source, bool now_due, struct sg_err *err)
{
    void *be = sg_store_tx_backend(tx);
    struct sg_job job;
    size_t pending = 0;
    int64_t max_id = 0, id = 0, now = sg_store_tx_now(tx);
    bool coalesced = false;
    char key[64], payload[96];
    int rc;

    rc = ops->pending(be, tenant, source, cfg->batch_max, &pending, &max_id,
                      err);
    if (rc || pending == 0)
        return rc;
    trigger_key(key, sizeof(key), tenant, source);
    job_init(&job, cfg, tenant, source, max_id, payload, sizeof(payload));
    job.coalesce_key = key;
    job.next_run_at =
        (now_due || pending >= cfg->batch_max) ? now : now + cfg->flush_ms;
    return sg_store_tx_job_enqueue(tx, &job, &id, &coalesced, err);
}

int sg_events_tx_seal_full(struct sg_store_tx *tx,
                           const struct sg_events_store_ops *ops,
                           const struct sg_events_cfg *cfg, int64_t tenant,
                           int source, size_t rounds_max, size_t *sealed_out,
                           struct sg_err *err)
{
    void *be = sg_store_tx_backend(tx);
    int64_t now = sg_store_tx_now(tx);
    size_t sealed = 0, pruned = 0;
    char key[64];
    int rc = 0;

    *sealed_out = 0;
    for (size_t round = 0; round < rounds_max; round++) {
        struct sg_job job;
        size_t pending = 0, n = 0;
        int64_t max_id = 0, id = 0;
        bool coalesced = false;
        char payload[96];

        rc = ops->pending(be, tenant, source, cfg->batch_max, &pending,
                          &max_id, err);
        if (rc || pending < cfg->batch_max)
            break;
        /* A job of its own, never folded into: it carries this batch. */
        job_init(&job, cfg, tenant, source, max_id, payload, sizeof(payload));
        job.next_run_at = now;
        rc = sg_store_tx_job_enqueue(tx, &job, &id, &coalesced, err);
        if (!rc)
            rc = ops->seal_new(be, id, tenant, source, max_id, cfg->batch_max,
                               now, &n, err);
        if (rc)
            break;
        sealed += n;
    }
    if (rc || sealed == 0)
        return rc;
    *sealed_out = sealed;
    /*
     * Sealed everything: a queued trigger of the source would only find
     * nothing to send, so close it now.
     */
    {
        size_t left = 0;
        int64_t max_id = 0;

        rc = ops->pending(be, tenant, source, 1, &left, &max_id, err);
        if (!rc && left == 0) {
            trigger_key(key, sizeof(key), tenant, source);
            rc = ops->trigger_cancel(be, tenant, key,
                                     "nothing left to send (sealed at intake)",
                                     now, err);
        }
    }
    if (!rc)
        rc = ops->prune(be, now - cfg->dedup_window_ms, SG_EVENTS_PRUNE_MAX,
                        &pruned, err);
    return rc;
}

int sg_events_tx_ingest(struct sg_store_tx *tx,
                        const struct sg_events_store_ops *ops,
                        const struct sg_events_cfg *cfg,
                        struct sg_events_row *rows, size_t n, bool deliver,
                        struct sg_err *err)
{
    size_t touched[SG_EVENTS_SOURCES] = {0};
    int64_t tenant = n ? rows[0].tenant_id : 0;
    int rc;

    rc = ops->insert(sg_store_tx_backend(tx), rows, n, sg_store_tx_now(tx),
                     cfg->dedup_window_ms, err);
    if (rc)
        return rc;
    for (size_t i = 0; i < n; i++) {
        SG_ASSERT(rows[i].tenant_id == tenant);
        if (!rows[i].dup && rows[i].source >= 0 &&
            rows[i].source < SG_EVENTS_SOURCES)
            touched[rows[i].source]++;
    }
    for (int s = 0; deliver && s < SG_EVENTS_SOURCES; s++) {
        size_t sealed = 0;

        if (!touched[s])
            continue;
        /* Each round seals at least one event; leftovers wait below. */
        if (cfg->seal_at_intake && cfg->batch_max > 0)
            rc = sg_events_tx_seal_full(tx, ops, cfg, tenant, s,
                                        touched[s] / cfg->batch_max + 2,
                                        &sealed, err);
        if (!rc)
            rc = sg_events_tx_trigger(tx, ops, cfg, tenant, s, false, err);
        if (rc)
            return rc;
    }
    return 0;
}
