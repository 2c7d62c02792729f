/*
 * events_track.h - the "events.track" job kind: one job sends one batch
 * of TikTok Events API 2.0 events (POST /open_api/v1.3/event/track/).
 *
 * The jobs library knows nothing of where batches live, so the feature
 * that owns them plugs in through sg_events_track_env: build() seals (or,
 * on a retry, re-reads) the batch a job carries and returns the request
 * body; result() records the outcome. The environment is process-wide,
 * set once before the dispatcher starts and cleared after it stopped.
 *
 * Outcomes by response code: 0 sent; 20001 partial (sent, with the
 * refused positions recorded); 40100 throttled (retry with backoff and
 * pause the bucket); 40001/40002 dead with the reason; 40700 and 5xx
 * retry; transport failures follow the generic HTTP policy.
 */
#ifndef SG_JOBS_EVENTS_TRACK_H
#define SG_JOBS_EVENTS_TRACK_H

#include "core/sg.h"
#include "core/err.h"

#include <jansson.h>

struct sg_job;

#define SG_EVENTS_TRACK_PATH "/open_api/v1.3/event/track/"

enum sg_events_track_outcome {
    SG_EVENTS_TRACK_SENT = 0,     /* code 0 */
    SG_EVENTS_TRACK_PARTIAL = 1,  /* code 20001 */
    SG_EVENTS_TRACK_REJECTED = 2, /* 40001/40002/other: dead */
    SG_EVENTS_TRACK_RETRY = 3,    /* will be tried again */
};

struct sg_events_track_result {
    int outcome;          /* enum sg_events_track_outcome */
    long code;            /* TikTok's code, -1 if none */
    const json_t *resp;   /* the parsed answer (borrowed), may be NULL */
    const char *reason;   /* one line, no secrets */
};

struct sg_events_track_env {
    const char *base_url;     /* copied */
    const char *access_token; /* copied; never logged */
    /*
     * Build the body for job (dispatcher thread; may wait for one store
     * write). Return 0 with *body_out (sg_alloc'd) and *shop_out (the
     * event_source_id, for rate limits; 64 bytes); SG_EDECLINED when the
     * job has nothing left to send (build already finished it), or an
     * SG_E* with err (retryable when set).
     */
    int (*build)(void *ctx, const struct sg_job *job, char **body_out,
                 size_t *len_out, char shop_out[64], struct sg_err *err);
    /*
     * Record an outcome (dispatcher thread; must not wait). Nonzero when
     * it could not even be queued for the store (out of memory, queue
     * full): the job is then retried rather than finished, so build()
     * sends the same batch again instead of leaving it unconfirmed.
     */
    int (*result)(void *ctx, const struct sg_job *job,
                  const struct sg_events_track_result *r);
    void *ctx;
};

/* Install (copying) or, with NULL, clear the environment. */
int sg_events_track_configure(const struct sg_events_track_env *env);

/* Map a TikTok code to an outcome (documented codes only). */
int sg_events_track_code_outcome(long code);

#endif
