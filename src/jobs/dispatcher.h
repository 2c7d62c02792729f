/*
 * dispatcher.h - the outbound job dispatcher: one thread that claims due
 * jobs from the store, sends each as one HTTP call through the shared
 * libcurl multi client, and finishes it (done, retry later, or dead)
 * under its lease token.
 *
 * Per (platform, shop, endpoint class) token buckets and per (platform,
 * shop) circuit breakers gate every call; 429 pauses the whole bucket.
 * Retries use full-jitter exponential backoff, never sooner than the
 * remote's Retry-After. Policy and states: docs/internals/jobs.md.
 *
 * Threading: sg_dispatcher_kick, sg_dispatcher_stats and
 * sg_dispatcher_metrics may be called from any thread; the lifecycle
 * calls from the owner. Stop the dispatcher before freeing the store.
 */
#ifndef SG_JOBS_DISPATCHER_H
#define SG_JOBS_DISPATCHER_H

#include "core/err.h"
#include "core/sg.h"

#include "jobs/backoff.h"
#include "jobs/kind.h"

struct sg_store;
struct sg_clock;
struct sg_buf;
struct sg_dispatcher;

struct sg_dispatcher_cfg {
    unsigned concurrency; /* calls in flight or held, 1..4096 */
    int attempts_max;     /* for jobs whose row has none */
    int64_t backoff_base_ms;
    int64_t backoff_max_ms;
    int64_t retry_after_max_ms; /* Retry-After is capped at this */
    int64_t lease_ms;           /* claim lease; > request timeout */
    unsigned request_timeout_ms;
    double rate_per_sec; /* per bucket */
    double burst;
    unsigned breaker_min_calls;
    unsigned breaker_failure_pct;
    int64_t breaker_open_ms;
    unsigned breaker_probes;   /* 1..10 */
    const char *notify_url;    /* notify.http default target; copied */
    const char *notify_secret; /* HMAC key for notify.http; copied */
    bool allow_private_urls;   /* else loopback/private are refused */

    /* Tuning, with sensible defaults. */
    int64_t hold_max_ms;      /* throttled jobs wait in memory this long */
    int64_t requeue_every_ms; /* sweep for expired leases */
    int64_t idle_max_ms;      /* longest sleep between store polls */
    unsigned claim_batch;     /* jobs per claim */
    size_t response_body_max;
    size_t buckets_max;  /* rate-limit keys tracked */
    size_t breakers_max; /* breaker keys tracked */
    /* NULL-terminated kind table; NULL = the built-ins. Borrowed. */
    const struct sg_job_kind_ops *const *kinds;
    /* Backoff randomness; NULL = strong random. For tests. */
    sg_rand_fn rand;
    void *rand_state;
    /* Lease heartbeat period for jobs held or in flight; 0 = lease_ms/3.
     * Each beat extends the leases that are older than one period. */
    int64_t heartbeat_ms;
};

/* The defaults named in docs/internals/jobs.md. */
void sg_dispatcher_cfg_defaults(struct sg_dispatcher_cfg *cfg);

struct sg_dispatcher_stats {
    uint64_t claimed;
    uint64_t succeeded;
    uint64_t retried;
    uint64_t dead;
    uint64_t rate_limited; /* a job had to wait for its token bucket */
    uint64_t breaker_open; /* a job had to wait for its breaker */
    uint64_t released;     /* throttled jobs handed back to the store */
    uint64_t requeued;     /* expired leases requeued by the sweep */
    uint64_t stale;        /* finishes refused: the lease had moved on */
    uint64_t store_errors;
    uint64_t in_flight; /* gauge: HTTP calls under way */
    uint64_t held;      /* gauge: claimed jobs waiting in memory */
    uint64_t lease_extended; /* heartbeats that extended a lease */
    uint64_t lease_lost;     /* heartbeats that found the lease taken */
};

/*
 * Create a dispatcher over store (borrowed; must outlive it). clock may
 * be NULL for the store's clock; it is borrowed. SG_ECONFIG on settings
 * out of range (err says which).
 */
int sg_dispatcher_new(struct sg_dispatcher **out, struct sg_store *store,
                      const struct sg_dispatcher_cfg *cfg,
                      const struct sg_clock *clock, struct sg_err *err);
/* Start the thread. SG_ESTATE if already started. */
int sg_dispatcher_start(struct sg_dispatcher *d, struct sg_err *err);
/* New jobs were enqueued: look now. Cheap, any thread, never blocks. */
void sg_dispatcher_kick(struct sg_dispatcher *d);
/*
 * Stop claiming, hand held jobs back, wait up to request_timeout_ms for
 * calls in flight, cancel the rest (they are requeued), wait for the
 * last finishes to commit, and join the thread. Idempotent.
 */
void sg_dispatcher_stop(struct sg_dispatcher *d);
/* Stop if needed, then free. NULL-safe. */
void sg_dispatcher_free(struct sg_dispatcher *d);

void sg_dispatcher_stats(struct sg_dispatcher *d,
                         struct sg_dispatcher_stats *out);
/* Append Prometheus text (sg_jobs_* families). SG_ELIMIT when out is full. */
int sg_dispatcher_metrics(struct sg_dispatcher *d, struct sg_buf *out);

#endif
