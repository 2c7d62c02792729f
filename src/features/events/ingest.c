/*
 * ingest.c - the write shared by every intake path (HTTP, CLI import):
 * insert the accepted events (dedup by the unique key) and create or
 * extend each touched source's trigger job, in the caller's transaction.
 */
#include "core/sg.h"

#include "core/alloc.h"
#include "core/buf.h"
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

static int cmp_row_id(const void *a, const void *b)
{
    const struct sg_events_row *x = *(struct sg_events_row *const *)a;
    const struct sg_events_row *y = *(struct sg_events_row *const *)b;

    return x->id < y->id ? -1 : x->id > y->id;
}

/*
 * Seal rows[0..n) (all of one source, n = batch_max) as one batch while
 * inserting them: each row goes in already bound to the batch and
 * without a body; the batch row keeps their JSON joined in id order (the
 * order a partial answer's positions refer to). Rows that turn out to be
 * duplicates are left out; when all are, no job or batch is made.
 */
static int insert_sealed(struct sg_store_tx *tx,
                         const struct sg_events_store_ops *ops,
                         const struct sg_events_cfg *cfg,
                         struct sg_events_row *rows, size_t n,
                         struct sg_events_row **fresh, size_t *n_new_out,
                         struct sg_err *err)
{
    void *be = sg_store_tx_backend(tx);
    int64_t now = sg_store_tx_now(tx), batch_id = 0, job_id = 0;
    struct sg_buf joined;
    struct sg_job job;
    size_t k = 0, bytes = 0;
    bool coalesced = false;
    char payload[96];
    int rc;

    *n_new_out = 0;
    rc = ops->batch_next_id(be, &batch_id, err);
    for (size_t i = 0; !rc && i < n; i++)
        rows[i].batch_id = batch_id;
    if (!rc)
        rc = ops->insert(be, rows, n, now, cfg->dedup_window_ms, err);
    if (rc)
        return rc;
    for (size_t i = 0; i < n; i++) {
        if (rows[i].dup)
            continue;
        fresh[k++] = &rows[i];
        bytes += rows[i].body_len + 1;
    }
    *n_new_out = k;
    if (k == 0)
        return 0;
    /*
     * New rows take increasing ids in insert order, so the order is
     * usually right already (only a reused row keeps an older id): sort
     * only when it is not (about 200 instructions per event saved).
     */
    for (size_t i = 1; i < k; i++) {
        if (fresh[i - 1]->id > fresh[i]->id) {
            qsort(fresh, k, sizeof(*fresh), cmp_row_id);
            break;
        }
    }
    sg_buf_init(&joined, bytes + 1);
    rc = sg_buf_reserve(&joined, bytes); /* one block, no regrowth */
    for (size_t i = 0; !rc && i < k; i++) {
        if (i)
            rc = sg_buf_append(&joined, ",", 1);
        if (!rc)
            rc = sg_buf_append(&joined, fresh[i]->body, fresh[i]->body_len);
    }
    if (rc) {
        sg_buf_release(&joined);
        return sg_err_set(err, rc, "out of memory");
    }
    /* A job of its own, never folded into: it carries this batch. */
    job_init(&job, cfg, rows[0].tenant_id, rows[0].source, fresh[k - 1]->id,
             payload, sizeof(payload));
    job.next_run_at = now;
    rc = sg_store_tx_job_enqueue(tx, &job, &job_id, &coalesced, err);
    if (!rc)
        rc = ops->batch_put(be, batch_id, job_id, rows[0].tenant_id,
                            rows[0].source, rows[0].source_id, k,
                            joined.data ? joined.data : "", joined.len, now,
                            err);
    sg_buf_release(&joined);
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
    struct sg_events_row **fresh = NULL, *group = NULL;
    size_t done = 0;
    int rc = 0;

    /*
     * Fast path: a source with nothing pending takes its new events in
     * whole batches straight into sealed batches (one write per event).
     * Everything else is inserted pending and sealed below.
     */
    if (deliver && cfg->seal_at_intake && cfg->batch_max > 0 &&
        n >= cfg->batch_max) {
        fresh = sg_calloc(cfg->batch_max, sizeof(*fresh));
        group = sg_calloc(cfg->batch_max, sizeof(*group));
        if (!fresh || !group) {
            rc = sg_err_set(err, SG_ENOMEM, "out of memory");
            goto out;
        }
    }
    for (int s = 0; fresh && s < SG_EVENTS_SOURCES; s++) {
        size_t pending = 0, of_source = 0, g = 0;
        int64_t max_id = 0;

        for (size_t i = 0; i < n; i++)
            of_source += rows[i].source == s && !rows[i].batch_id;
        if (of_source < cfg->batch_max)
            continue;
        rc = ops->pending(sg_store_tx_backend(tx), tenant, s, 1, &pending,
                          &max_id, err);
        if (rc)
            goto out;
        if (pending)
            continue;
        /* Full groups of this source's rows, in arrival order. */
        for (size_t i = 0; !rc && i < n && of_source >= cfg->batch_max;
             i++) {
            size_t k = 0;

            if (rows[i].source != s)
                continue;
            group[g++] = rows[i];
            rows[i].batch_id = -1; /* taken; results copied back below */
            if (g < cfg->batch_max)
                continue;
            rc = insert_sealed(tx, ops, cfg, group, g, fresh, &k, err);
            /* Copy each row's outcome back to its place. */
            for (size_t j = 0, m = 0; !rc && j <= i && m < g; j++) {
                if (rows[j].source != s || rows[j].batch_id != -1)
                    continue;
                rows[j] = group[m++];
            }
            done += g;
            of_source -= g;
            g = 0;
        }
        if (rc)
            goto out;
    }
    if (done) {
        size_t pruned = 0;

        rc = ops->prune(sg_store_tx_backend(tx),
                        sg_store_tx_now(tx) - cfg->dedup_window_ms,
                        SG_EVENTS_PRUNE_MAX, &pruned, err);
        if (rc)
            goto out;
    }
    if (done < n) {
        /* The rest, pending with their bodies. */
        struct sg_events_row *rest = done ? sg_calloc(n - done, sizeof(*rest))
                                          : rows;
        size_t m = 0;

        if (!rest) {
            rc = sg_err_set(err, SG_ENOMEM, "out of memory");
            goto out;
        }
        for (size_t i = 0; done && i < n; i++)
            if (!rows[i].batch_id)
                rest[m++] = rows[i];
        rc = ops->insert(sg_store_tx_backend(tx), rest, done ? m : n,
                         sg_store_tx_now(tx), cfg->dedup_window_ms, err);
        for (size_t i = 0, j = 0; done && !rc && i < n; i++)
            if (!rows[i].batch_id)
                rows[i] = rest[j++];
        if (done)
            sg_free(rest);
        if (rc)
            goto out;
    }
    for (size_t i = 0; i < n; i++) {
        SG_ASSERT(rows[i].tenant_id == tenant);
        if (!rows[i].dup && !rows[i].batch_id && rows[i].source >= 0 &&
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
            goto out;
    }
out:
    sg_free(fresh);
    sg_free(group);
    return rc;
}
