/*
 * ratelimit.h - token buckets keyed by (platform, shop, endpoint class).
 *
 * Each key gets a bucket of `burst` tokens refilled at `rate_per_sec`; a
 * call takes one token. A 429 pauses the whole bucket until a given time,
 * and no token is handed out inside that window. Time is always passed in
 * (now_ms), so the arithmetic is deterministic. The table holds at most
 * entries_max keys. Not thread-safe: one owner thread (the dispatcher).
 */
#ifndef SG_JOBS_RATELIMIT_H
#define SG_JOBS_RATELIMIT_H

#include "core/err.h"
#include "core/sg.h"

#define SG_RL_KEY_MAX 64 /* bytes per key part, NUL included */

struct sg_ratelimit;

struct sg_ratelimit_cfg {
    double rate_per_sec; /* refill rate, > 0 (fractions allowed: 0.5) */
    double burst;        /* bucket size, >= 1 */
    size_t entries_max;  /* distinct keys tracked, >= 1 */
};

void sg_ratelimit_cfg_defaults(struct sg_ratelimit_cfg *cfg);

/* SG_ECONFIG when cfg is out of range, SG_ENOMEM. */
int sg_ratelimit_new(struct sg_ratelimit **out,
                     const struct sg_ratelimit_cfg *cfg, struct sg_err *err);
void sg_ratelimit_free(struct sg_ratelimit *rl);

/*
 * Take one token from the key's bucket (created full on first use).
 * Returns 0 when allowed. Returns SG_ELIMIT when not, with *wait_ms_out
 * (may be NULL) set to how long until a token may be available: the rest
 * of a pause, or the refill time. Returns SG_EFULL when the key is new
 * and the table is full of buckets that still matter (paused or not yet
 * refilled); *wait_ms_out is then a suggested retry delay.
 */
int sg_ratelimit_take(struct sg_ratelimit *rl, const char *platform,
                      const char *shop, const char *endpoint_class,
                      int64_t now_ms, int64_t *wait_ms_out);

/*
 * Pause the key's bucket until until_ms (a later pause wins; an earlier
 * one never shortens a pause). When the pause ends the bucket holds one
 * token and refills from there, so traffic restarts gently. SG_EFULL as
 * above.
 */
int sg_ratelimit_pause(struct sg_ratelimit *rl, const char *platform,
                       const char *shop, const char *endpoint_class,
                       int64_t until_ms, int64_t now_ms);

/* The end of the key's pause, or 0 when not paused or unknown. */
int64_t sg_ratelimit_paused_until(const struct sg_ratelimit *rl,
                                  const char *platform, const char *shop,
                                  const char *endpoint_class, int64_t now_ms);

/* Number of keys tracked. */
size_t sg_ratelimit_count(const struct sg_ratelimit *rl);

#endif
