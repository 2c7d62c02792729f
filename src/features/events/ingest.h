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

/*
 * Insert rows (all of one tenant; dup/id filled per row) and, when
 * deliver, the trigger job of every source that got a new event.
 */
int sg_events_tx_ingest(struct sg_store_tx *tx,
                        const struct sg_events_store_ops *ops,
                        const struct sg_events_cfg *cfg,
                        struct sg_events_row *rows, size_t n, bool deliver,
                        struct sg_err *err);

#endif
