/*
 * events.h - the sandbox's TikTok Events API 2.0: POST
 * /open_api/v1.3/event/track/ (Access-Token check, shape and hashing
 * format validation, the documented codes, the framework's injected
 * faults) and its control routes under /sandbox/v1/events.
 */
#ifndef SG_SANDBOX_TIKTOK_EVENTS_H
#define SG_SANDBOX_TIKTOK_EVENTS_H

#include "core/sg.h"
#include "core/err.h"

#include <stdbool.h>
#include <stddef.h>

struct sg_sbx;
struct sg_http_server;

/* The token accepted until PUT /sandbox/v1/events/config sets another. */
#define SG_SBX_EVENTS_TOKEN_DEFAULT "sbx_events_token"
/* Events whose payloads GET /sandbox/v1/events keeps (oldest dropped). */
#define SG_SBX_EVENTS_KEEP_DEFAULT 20000

/*
 * The validity judgement of one track body, both ways (for the
 * differential fuzz target): *fast_out says whether the one-pass check
 * accepted it; the return is the full path's code (0, 20001 or 40002,
 * -1 out of memory, -2 when both accept but count events differently),
 * *n_out the events the full path counted. The fast path may only accept
 * what the full path answers 0.
 */
long sg_sbx_events_judge(const char *raw, size_t len, bool *fast_out,
                         size_t *n_out);

/* Register the routes on http (before it starts). */
int sg_sbx_events_routes(struct sg_sbx *s, struct sg_http_server *http,
                         struct sg_err *err);

#endif
