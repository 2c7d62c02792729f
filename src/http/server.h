/*
 * server.h - Surge's HTTP server: h2o's evloop on N threads sharing one
 * listening socket, a router with {param} path segments, per-request
 * limits, JSON error bodies, and replies that may come later from another
 * thread (a durable 2xx waits for its group commit without blocking the
 * loop).
 *
 * Threading: handlers run on a loop thread. A handler must, before it
 * returns or later, answer exactly once: with one of the sg_http_reply*
 * functions (loop thread only), or by sg_http_defer() and then
 * sg_http_deferred_reply() from any thread. Request accessors are valid
 * until the answer is sent.
 */
#ifndef SG_HTTP_SERVER_H
#define SG_HTTP_SERVER_H

#include "core/sg.h"
#include "core/err.h"

#include <jansson.h>

struct sg_http_server;
struct sg_http_req;
struct sg_http_deferred;
struct sg_buf;

struct sg_http_limits {
    size_t body_max;          /* bytes; larger bodies answer 413 */
    size_t headers_max;       /* header count; more answer 431 */
    size_t header_bytes_max;  /* all header names+values; more answer 431 */
    unsigned request_timeout_ms; /* headers+body must arrive within this */
    size_t json_depth_max;    /* deeper JSON answers 400 */
};

struct sg_http_server_cfg {
    const char *listen;       /* "127.0.0.1:8700", "[::1]:0", port 0 = any */
    unsigned threads;         /* event-loop threads, >= 1 */
    struct sg_http_limits limits;
    const char *name;         /* for logs and metrics, e.g. "api" */
};

void sg_http_server_cfg_defaults(struct sg_http_server_cfg *cfg);

struct sg_http_header {
    const char *name;
    const char *value;
};

/*
 * A handler. ctx is the pointer given at registration. Return value is
 * ignored unless no answer was given nor deferred, in which case the
 * server answers 500 and logs it (a bug).
 */
typedef void (*sg_http_handler_fn)(struct sg_http_req *req, void *ctx);

int sg_http_server_new(struct sg_http_server **out,
                       const struct sg_http_server_cfg *cfg,
                       struct sg_err *err);
/*
 * Route method + pattern to fn. Patterns are exact paths with "{name}"
 * segments (one path segment each) and an optional trailing "*" segment
 * matching the rest. method NULL matches any method. A path that matches
 * a pattern but not its method answers 405 with an Allow header; no match
 * at all answers 404 (or goes to the fallback). Register before start.
 */
int sg_http_route(struct sg_http_server *s, const char *method,
                  const char *pattern, sg_http_handler_fn fn, void *ctx);
/* Handler for requests no route matched (the sandbox's dispatcher). */
void sg_http_set_fallback(struct sg_http_server *s, sg_http_handler_fn fn,
                          void *ctx);
/* Bind, listen and start the loop threads. */
int sg_http_server_start(struct sg_http_server *s, struct sg_err *err);
/* The bound port (useful with port 0). */
unsigned sg_http_server_port(const struct sg_http_server *s);
/* "http://127.0.0.1:PORT" - borrowed, valid while the server lives. */
const char *sg_http_server_url(const struct sg_http_server *s);
/* Stop accepting, finish the loops and join them. */
void sg_http_server_stop(struct sg_http_server *s);
void sg_http_server_free(struct sg_http_server *s);
/* Prometheus text for this server's request counters and latencies. */
int sg_http_server_metrics(struct sg_http_server *s, struct sg_buf *out);

/* ---- request accessors (borrowed, not NUL-terminated unless said) ---- */

const char *sg_http_req_method(const struct sg_http_req *r, size_t *len);
const char *sg_http_req_path(const struct sg_http_req *r, size_t *len);
/* Raw query string without '?', or NULL. */
const char *sg_http_req_query(const struct sg_http_req *r, size_t *len);
const char *sg_http_req_body(const struct sg_http_req *r, size_t *len);
/* Case-insensitive header lookup; the first value, or NULL. */
const char *sg_http_req_header(const struct sg_http_req *r,
                               const char *name, size_t *len);
/* Path parameter captured by "{name}"; NULL if none. */
const char *sg_http_req_param(const struct sg_http_req *r, const char *name,
                              size_t *len);
/*
 * Copy the percent-decoded value of query parameter name into out (NUL-
 * terminated). Returns the decoded length, or -1 if absent, or SG_ELIMIT
 * if it does not fit.
 */
long sg_http_req_query_get(const struct sg_http_req *r, const char *name,
                           char *out, size_t out_size);
/* Per-request id (NUL-terminated), also sent back as X-Request-Id. */
const char *sg_http_req_id(const struct sg_http_req *r);
/* The matched route pattern, or "-" for the fallback. */
const char *sg_http_req_route(const struct sg_http_req *r);
/* Pointer-sized slot for the handler's own use. */
void sg_http_req_set_data(struct sg_http_req *r, void *data);
void *sg_http_req_data(const struct sg_http_req *r);
/* The configured JSON depth limit. */
size_t sg_http_req_json_depth_max(const struct sg_http_req *r);

/*
 * Parse the body as JSON within the configured depth. On failure this
 * answers 400 invalid_json (naming the byte offset) and returns NULL; the
 * handler must then just return.
 */
json_t *sg_http_req_json(struct sg_http_req *r);
/*
 * The same, with the tree in the loop thread's parse arena
 * (sg_json_parse_arena): release it with sg_json_arena_free before the
 * handler returns, and keep no reference to any of its nodes.
 */
json_t *sg_http_req_json_arena(struct sg_http_req *r);

/* ---- answers, loop thread ---- */

void sg_http_reply(struct sg_http_req *r, int status, const char *ctype,
                   const void *body, size_t len);
void sg_http_reply_ex(struct sg_http_req *r, int status, const char *ctype,
                      const void *body, size_t len,
                      const struct sg_http_header *headers, size_t n_headers);
/* Serialises j compactly; takes the reference (j is decref'd). */
void sg_http_reply_json(struct sg_http_req *r, int status, json_t *j);
/*
 * {"error":{"code":code,"message":message[,"field":field]}}; field may be
 * NULL.
 */
void sg_http_reply_error(struct sg_http_req *r, int status, const char *code,
                         const char *message, const char *field);

enum sg_http_abort {
    SG_HTTP_ABORT_RESET = 1, /* connection closed with no answer */
    SG_HTTP_ABORT_DROP = 2,  /* same on the wire; separate for the logs */
};
/* Close the connection without answering (fault injection). */
void sg_http_abort(struct sg_http_req *r, int how);

/* ---- answers later, from any thread ---- */

/*
 * Promise an answer later. Call on the loop thread inside the handler. The
 * returned object must be completed exactly once with
 * sg_http_deferred_reply*(), from any thread; if the client went away
 * meanwhile the answer is dropped and the object freed all the same.
 * NULL when out of memory: the handler must then answer itself.
 */
struct sg_http_deferred *sg_http_defer(struct sg_http_req *r);
/* Copies body and headers. Thread-safe. */
void sg_http_deferred_reply(struct sg_http_deferred *d, int status,
                            const char *ctype, const void *body, size_t len);
void sg_http_deferred_reply_ex(struct sg_http_deferred *d, int status,
                               const char *ctype, const void *body,
                               size_t len,
                               const struct sg_http_header *headers,
                               size_t n_headers);
void sg_http_deferred_reply_json(struct sg_http_deferred *d, int status,
                                 json_t *j);
/*
 * Answer with a JSON body (sg_alloc'd, taken: freed with d) and no
 * allocation of its own, so an answer built before a commit cannot turn
 * into a 503 after it. Thread-safe.
 */
void sg_http_deferred_reply_json_take(struct sg_http_deferred *d,
                                      int status, char *body, size_t len);
void sg_http_deferred_reply_error(struct sg_http_deferred *d, int status,
                                  const char *code, const char *message);
/* Answer after delay_ms (the sandbox's stall fault); loop thread only. */
void sg_http_reply_later(struct sg_http_req *r, unsigned delay_ms,
                         int status, const char *ctype, const void *body,
                         size_t len);
/* Abort the connection after delay_ms; loop thread only. */
void sg_http_abort_later(struct sg_http_req *r, unsigned delay_ms);

#endif
