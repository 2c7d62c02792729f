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
    snprintf(key, sizeof(key), "events:%" PRId64 ":%s", tenant,
             sg_events_source_name(source));
    snprintf(payload, sizeof(payload),
             "{\"source\":\"%s\",\"upto\":%" PRId64 "}",
             sg_events_source_name(source), max_id);
    memset(&job, 0, sizeof(job));
    job.tenant_id = tenant;
    snprintf(job.kind, sizeof(job.kind), "events.track");
    job.coalesce_key = key;
    job.payload = payload;
    job.attempts_max = cfg->attempts_max;
    job.next_run_at =
        (now_due || pending >= cfg->batch_max) ? now : now + cfg->flush_ms;
    snprintf(job.platform, sizeof(job.platform), "tiktok_events");
    snprintf(job.endpoint_class, sizeof(job.endpoint_class), "track");
    return sg_store_tx_job_enqueue(tx, &job, &id, &coalesced, err);
}

int sg_events_tx_ingest(struct sg_store_tx *tx,
                        const struct sg_events_store_ops *ops,
                        const struct sg_events_cfg *cfg,
                        struct sg_events_row *rows, size_t n, bool deliver,
                        struct sg_err *err)
{
    bool touched[SG_EVENTS_SOURCES] = {false};
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
            touched[rows[i].source] = true;
    }
    for (int s = 0; deliver && s < SG_EVENTS_SOURCES; s++) {
        if (!touched[s])
            continue;
        rc = sg_events_tx_trigger(tx, ops, cfg, tenant, s, false, err);
        if (rc)
            return rc;
    }
    return 0;
}
