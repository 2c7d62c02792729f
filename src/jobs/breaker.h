/*
 * breaker.h - circuit breakers keyed by (platform, shop).
 *
 * Closed: calls flow; the last `window` outcomes are kept, and once at
 * least min_calls are known and failure_pct of them failed, the breaker
 * opens. Open: every call is refused for open_ms. Half-open: at most
 * `probes` calls go through; if all of them succeed it closes (with a
 * clean window), and the first failure opens it again. Time is passed in
 * (now_ms). At most entries_max keys. Not thread-safe: one owner thread.
 */
#ifndef SG_JOBS_BREAKER_H
#define SG_JOBS_BREAKER_H

#include "core/err.h"
#include "core/sg.h"

#define SG_BREAKER_KEY_MAX    64 /* bytes per key part, NUL included */
#define SG_BREAKER_WINDOW_MAX 64
#define SG_BREAKER_PROBES_MAX 10

enum sg_breaker_state {
    SG_BREAKER_CLOSED = 0,
    SG_BREAKER_OPEN = 1,
    SG_BREAKER_HALF_OPEN = 2,
};

/* How a call that the breaker allowed ended. */
enum sg_breaker_outcome {
    SG_BREAKER_SUCCESS = 0,
    SG_BREAKER_FAILURE = 1, /* timeouts, connection errors, 5xx */
    SG_BREAKER_NEUTRAL = 2, /* 429, 4xx, or never sent: says nothing */
};

struct sg_breaker_cfg {
    unsigned window;      /* outcomes remembered, min_calls..64 */
    unsigned min_calls;   /* outcomes needed before the rate counts, >= 1 */
    unsigned failure_pct; /* 1..100 */
    int64_t open_ms;      /* time spent open before probing, > 0 */
    unsigned probes;      /* half-open calls allowed, 1..10 */
    size_t entries_max;   /* distinct keys, >= 1 */
};

void sg_breaker_cfg_defaults(struct sg_breaker_cfg *cfg);

struct sg_breakers;

int sg_breakers_new(struct sg_breakers **out, const struct sg_breaker_cfg *cfg,
                    struct sg_err *err);
void sg_breakers_free(struct sg_breakers *b);

/*
 * May a call to (platform, shop) go out now? 0 = yes (in half-open this
 * uses up one probe, so every allowed call must later be reported with
 * sg_breakers_record, NEUTRAL if it was not sent after all). SG_EBUSY =
 * no, with *retry_at_ms_out (may be NULL) set to when asking again makes
 * sense. SG_EFULL when the key is new and no idle breaker can make room
 * (the call should wait; *retry_at_ms_out is set).
 */
int sg_breakers_allow(struct sg_breakers *b, const char *platform,
                      const char *shop, int64_t now_ms,
                      int64_t *retry_at_ms_out);

/* Report how an allowed call ended (enum sg_breaker_outcome). */
void sg_breakers_record(struct sg_breakers *b, const char *platform,
                        const char *shop, int outcome, int64_t now_ms);

/* The key's state (CLOSED for unknown keys); an expired OPEN reads as
 * HALF_OPEN. */
int sg_breakers_state(struct sg_breakers *b, const char *platform,
                      const char *shop, int64_t now_ms);

const char *sg_breaker_state_name(int state);

#endif
