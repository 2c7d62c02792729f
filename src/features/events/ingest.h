/*
 * ingest.h - the transactional part of event intake, shared by the HTTP
 * endpoint and surge events import. Call only inside a sg_store_write_fn.
 */
#ifndef SG_FEATURES_EVENTS_INGEST_H
#define SG_FEATURES_EVENTS_INGEST_H

#include "core/sg.h"
#include "core/err.h"

struct sg_store_tx;
struct sg_events_cfg;
struct sg_events_row;
struct sg_events_store_ops;

/*
 * Create or extend the trigger job of (tenant, source): kind
 * "events.track", coalesce key "events:<tenant>:<source>", payload
 * {"source", "upto": highest pending id}, due after flush_ms, or now when
 * now_due or batch_max events are pending. Nothing when none is pending.
 */
int sg_events_tx_trigger(struct sg_store_tx *tx,
                         const struct sg_events_store_ops *ops,
                         const struct sg_events_cfg *cfg, int64_t tenant,
                         int source, bool now_due, struct sg_err *err);

#define SG_EVENTS_PRUNE_MAX 1000 /* finished events deleted per prune */

/*
 * Seal full batches of (tenant, source): while batch_max events are
 * pending (at most rounds_max times), enqueue a job of its own (no
 * coalesce key, due now) and bind the oldest batch_max pending events to
 * it. When that leaves nothing pending, the source's queued trigger job
 * is closed; after any sealing, old finished events are pruned. The
 * number of events sealed goes to *sealed_out.
 */
int sg_events_tx_seal_full(struct sg_store_tx *tx,
                           const struct sg_events_store_ops *ops,
                           const struct sg_events_cfg *cfg, int64_t tenant,
                           int source, size_t rounds_max, size_t *sealed_out,
                           struct sg_err *err);

/*
 * Insert rows (all of one tenant; dup/id filled per row) and, when
 * deliver, for every source that got a new event: its full batches
 * sealed (cfg->seal_at_intake) and the trigger job of what is left.
 * With deliver and seal_at_intake, a source with nothing pending takes
 * each whole group of batch_max of its rows (arrival order) straight
 * into a batch of its own: rows inserted bound to it without a body, the
 * batch row keeping their JSON (batch_id is set on those rows). Rows
 * must come with batch_id 0.
 */
int sg_events_tx_ingest(struct sg_store_tx *tx,
                        const struct sg_events_store_ops *ops,
                        const struct sg_events_cfg *cfg,
                        struct sg_events_row *rows, size_t n, bool deliver,
                        struct sg_err *err);

#endif
