/*
 * backoff.h - retry delays: full-jitter exponential backoff and the
 * Retry-After header parser.
 *
 * Both are pure functions of their inputs (the time and the random source
 * are parameters), so tests are deterministic. Every delay they produce is
 * bounded to [0, cap].
 */
#ifndef SG_JOBS_BACKOFF_H
#define SG_JOBS_BACKOFF_H

#include "core/err.h"
#include "core/sg.h"

/* A uniform random integer in [0, bound); bound > 0. */
typedef uint64_t (*sg_rand_fn)(void *state, uint64_t bound);

struct sg_backoff {
    int64_t base_ms;  /* ceiling of the first retry's delay, > 0 */
    int64_t cap_ms;   /* no delay is ever larger, >= base_ms */
    sg_rand_fn rand;  /* NULL = sg_random_below (strong, thread-safe) */
    void *rand_state; /* passed to rand; borrowed */
};

/*
 * The delay before retry number `retry` (0 for the first retry):
 * uniform in [0, min(cap, base * 2^retry)], both ends included (AWS's
 * "full jitter"). Overflow-safe for any retry count.
 */
int64_t sg_backoff_delay(const struct sg_backoff *b, unsigned retry);

/* The upper bound sg_backoff_delay() draws below for `retry`. */
int64_t sg_backoff_ceiling(const struct sg_backoff *b, unsigned retry);

/*
 * Parse a Retry-After field value (RFC 9110 section 10.2.3) of len bytes,
 * surrounding blanks allowed. Accepted forms:
 *   - delta-seconds: "120"; also a decimal fraction "2.0" or "1.5" (not in
 *     the RFC, but Shopify sends it), rounded up to the millisecond;
 *   - an HTTP-date in any of the three RFC 9110 forms: IMF-fixdate
 *     ("Sun, 06 Nov 1994 08:49:37 GMT"), RFC 850
 *     ("Sunday, 06-Nov-94 08:49:37 GMT") and asctime
 *     ("Sun Nov  6 08:49:37 1994"); a date in the past gives 0.
 * On success *delay_ms_out is in [0, cap_ms] (huge values are clamped).
 * Returns SG_EINVAL for anything else ("-1", "+1", "1e9", "", garbage),
 * so the caller falls back to its own backoff. value may be NULL when
 * len is 0.
 */
int sg_retry_after_parse(const char *value, size_t len, int64_t now_ms,
                         int64_t cap_ms, int64_t *delay_ms_out);

/*
 * Parse just an HTTP-date (the three forms above) into ms since the
 * epoch. SG_EINVAL when it is not one. now_ms resolves RFC 850's two-digit
 * year (RFC 9110: a year more than 50 years ahead is in the past century).
 */
int sg_http_date_parse(const char *value, size_t len, int64_t now_ms,
                       int64_t *ms_out);

#endif
