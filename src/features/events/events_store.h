/*
 * events_store.h - the events feature's own storage ops (tables from
 * migrations/0003_events.sql), one implementation per backend under
 * src/store/<backend>/events.c, reached through the store's extension
 * points (sg_store_tx_backend, sg_store_read).
 *
 * Writer functions run inside a sg_store_write_fn on the writer
 * connection; every out-parameter is the caller's.
 */
#ifndef SG_FEATURES_EVENTS_STORE_H
#define SG_FEATURES_EVENTS_STORE_H

#include "core/sg.h"
#include "core/err.h"

#define SG_EVENTS_STORE_OPS_VERSION 3

/* events.state */
enum sg_events_state {
    SG_EVENT_PENDING = 0, /* accepted, in no batch yet */
    SG_EVENT_BATCHED = 1, /* sealed into a batch, not yet confirmed */
    SG_EVENT_SENT = 2,    /* TikTok answered 0 (or 20001, not this one) */
    SG_EVENT_FAILED = 3,  /* rejected by TikTok; error says why */
};

/* One accepted event to insert (digests only in body). */
struct sg_events_row {
    int64_t tenant_id;
    int source;            /* enum sg_events_source */
    const char *source_id; /* pixel code / event set id */
    const char *event;
    const char *event_id;
    int64_t event_time;    /* Unix seconds */
    const char *body;      /* normalised event JSON */
    size_t body_len;
    /*
     * 0: insert pending, with its body. Else the id of the batch being
     * sealed at intake (see batch_put): the row is inserted BATCHED,
     * without a body (the batch keeps it).
     */
    int64_t batch_id;
    /* results */
    int64_t id;
    bool dup;
};

/* A sealed batch with the bodies of its events, oldest first. */
struct sg_events_batch {
    int64_t id;
    int64_t tenant_id;
    int source;
    char source_id[136];
    size_t n;
    char **bodies;
    size_t *lens;
    int64_t oldest_received_ms;
    /*
     * A batch sealed at intake: its n events' JSON joined by commas (in
     * event id order), and bodies/lens unused. NULL otherwise.
     */
    char *joined;
    size_t joined_len;
    /*
     * The batch row keeps its events' JSON (sealed at intake; set even
     * when the body was not loaded). Its events then stay BATCHED once
     * it is sent: the batch's state is theirs (see batch_result).
     */
    bool has_joined;
};
void sg_events_batch_release(struct sg_events_batch *b);

struct sg_events_counts {
    int64_t by_state[4]; /* enum sg_events_state */
    int64_t batches;
};

struct sg_events_store_ops {
    unsigned int version; /* SG_EVENTS_STORE_OPS_VERSION; append-only */
    const char *backend;  /* matches sg_store_backend_name() */
    /*
     * Insert rows[0..n): a row whose (tenant, source_id, event, event_id)
     * was accepted less than window_ms ago (or is not yet sent) is a
     * duplicate (dup set, nothing written); an older, finished one is
     * replaced. id is set for accepted rows.
     */
    int (*insert)(void *be, struct sg_events_row *rows, size_t n,
                  int64_t now_ms, int64_t window_ms, struct sg_err *err);
    /* Pending events of (tenant, source), counted up to cap, and the
     * highest pending id (0 if none). */
    int (*pending)(void *be, int64_t tenant_id, int source, size_t cap,
                   size_t *n_out, int64_t *max_id_out, struct sg_err *err);
    /*
     * The batch bound to job_id, or, when there is none, a new one made
     * of at most max pending events of (tenant, source) with id <= upto,
     * oldest first, bound to job_id. out->n = 0 when nothing was pending.
     * *remaining_out: pending events of (tenant, source) left after it.
     */
    int (*seal)(void *be, int64_t job_id, int64_t tenant_id, int source,
                int64_t upto_id, size_t max, int64_t now_ms,
                struct sg_events_batch *out, size_t *remaining_out,
                struct sg_err *err);
    /* Drop the job's coalesce key: it now carries one sealed batch. */
    int (*job_detach)(void *be, int64_t job_id, struct sg_err *err);
    /*
     * The outcome of the batch of job_id: state SENT (failed_idx lists
     * the positions TikTok refused, those become FAILED with error) or
     * FAILED (all of them, with error). Bodies of SENT events are
     * cleared. The events of a sent batch sealed at intake (has_joined)
     * keep state BATCHED: an event BATCHED in a finished batch counts as
     * finished for counts, prune and the dedup window's reuse.
     */
    int (*batch_result)(void *be, int64_t job_id, int state,
                        const size_t *failed_idx, size_t n_failed,
                        const char *error, int64_t now_ms,
                        struct sg_err *err);
    /*
     * Delete finished events received before before_ms, a batch at a
     * time: batches made before before_ms, until max events are gone
     * (the last batch may take it past max) or a few batches were
     * emptied. Never an event received at or after before_ms.
     */
    int (*prune)(void *be, int64_t before_ms, size_t max, size_t *n_out,
                 struct sg_err *err);
    /* (tenant, source) pairs with pending events, at most max. */
    int (*pending_sources)(void *be, int64_t *tenants, int *sources,
                           size_t max, size_t *n_out, struct sg_err *err);
    /* reader */
    int (*counts)(void *be, int64_t tenant_id, struct sg_events_counts *out,
                  struct sg_err *err);
    /* ---- version 2 ---- */
    /*
     * Like seal, but only for a job with no batch yet and without reading
     * the bodies back: bind at most max pending events of (tenant,
     * source) with id <= upto_id to a new batch of job_id. *n_out is the
     * batch size (0: nothing pending, no batch row is left behind).
     */
    int (*seal_new)(void *be, int64_t job_id, int64_t tenant_id, int source,
                    int64_t upto_id, size_t max, int64_t now_ms,
                    size_t *n_out, struct sg_err *err);
    /*
     * Reader or writer: the batch bound to job_id with its bodies, oldest
     * first; SG_ENOTFOUND when the job has none. Sending a batch sealed
     * at intake needs only this read.
     */
    int (*load)(void *be, int64_t job_id, struct sg_events_batch *out,
                struct sg_err *err);
    /*
     * Close the tenant's QUEUED job with coalesce key key as DONE with
     * note (a trigger left with nothing to do). Nothing when none.
     */
    int (*trigger_cancel)(void *be, int64_t tenant_id, const char *key,
                          const char *note, int64_t now_ms,
                          struct sg_err *err);
    /* ---- version 3 ---- */
    /* The id the next batch row will get (the single writer's view). */
    int (*batch_next_id)(void *be, int64_t *id_out, struct sg_err *err);
    /*
     * Write the batch row batch_id (from batch_next_id) of job_id for the
     * n events inserted with that batch_id, keeping their joined JSON
     * (body[0..len)).
     */
    int (*batch_put)(void *be, int64_t batch_id, int64_t job_id,
                     int64_t tenant_id, int source, const char *source_id,
                     size_t n, const char *body, size_t len, int64_t now_ms,
                     struct sg_err *err);
};

extern const struct sg_events_store_ops sg_events_store_sqlite;
extern const struct sg_events_store_ops sg_events_store_postgres;
/* The ops for a backend name, or NULL. */
const struct sg_events_store_ops *sg_events_store_for(const char *backend);

#endif
