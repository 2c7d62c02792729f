/*
 * internal.h - what the engine's files share: the engine struct, the
 * authenticated caller, and the async-write helper that answers an HTTP
 * request only after its change committed.
 */
#ifndef SG_ENGINE_INTERNAL_H
#define SG_ENGINE_INTERNAL_H

#include "engine/engine.h"
#include "core/clock.h"
#include "core/config.h"
#include "http/server.h"
#include "store/store.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>

struct sg_dispatcher;
struct sg_tts_engine;

struct sg_engine {
    const struct sg_config *cfg;
    struct sg_clock clock;
    struct sg_store *store;
    struct sg_http_server *http;
    struct sg_dispatcher *dispatcher;
    int64_t generic_tenant_id; /* 0 = generic webhooks disabled */

    /* inbox processor */
    pthread_t inbox_tid;
    pthread_mutex_t inbox_lock;
    pthread_cond_t inbox_cond;
    bool inbox_started;
    bool inbox_stop;
    bool inbox_kicked;

    /* intake counters for /metrics */
    atomic_ulong wh_accepted;
    atomic_ulong wh_duplicate;
    atomic_ulong wh_rejected_sig;
    atomic_ulong wh_rejected_other;
    atomic_ulong wh_store_busy;
    atomic_ulong inbox_processed;

    struct sg_tts_engine *tts; /* TikTok Shop; NULL when not configured */
    struct sg_orders_engine *orders; /* orders_sync.c */
};

/* The caller of an admin API request, after authentication. */
struct sg_caller {
    int64_t tenant_id;
    int64_t key_id;
    bool read_only;
};

/*
 * Authenticate the Bearer key. On success fills who and returns true; on
 * failure answers 401 (missing/unknown key) or 403 (read-only key on a
 * write) itself and returns false.
 */
bool sg_engine__auth(struct sg_engine *e, struct sg_http_req *r, bool write,
                     struct sg_caller *who);

/*
 * An admin mutation in flight: run fn in the writer, then answer from the
 * writer thread through the deferred reply. fn sets status and result (a
 * JSON document, or error code/message); the audit row is written by fn
 * in the same transaction.
 */
struct sg_api_op {
    struct sg_engine *e;
    struct sg_http_deferred *d;
    struct sg_caller who;
    int status;
    json_t *result;
    const char *err_code;
    char err_msg[200];
    /* inputs, owned by the op */
    int64_t id;
    json_t *input;
    char *text;
};

struct sg_api_op *sg_engine__op_new(struct sg_engine *e,
                                    struct sg_http_req *r,
                                    const struct sg_caller *who);
/* Submit; answers 503 itself when the store queue is full. */
void sg_engine__op_submit(struct sg_api_op *op, sg_store_write_fn fn);
/*
 * Answer 503 for a write the store did not commit (rc from the store):
 * a JSON error whose code names the cause (storage_full for SG_EFULL,
 * busy, storage_unavailable) and a Retry-After (5 s when full, else 1).
 */
void sg_engine__reply_unstored(struct sg_http_deferred *d, int rc,
                               const char *msg);
/* Set an error outcome inside fn. */
void sg_engine__op_fail(struct sg_api_op *op, int status, const char *code,
                        const char *fmt, ...) SG_PRINTF(4, 5);
/* Audit row for op inside fn. */
int sg_engine__audit(struct sg_store_tx *tx, const struct sg_api_op *op,
                     const char *action, const char *object,
                     const char *outcome, struct sg_err *err);

/*
 * Check a JSON body's top-level fields against the route's list
 * (sg_json_check_fields) before anything acts on it: on an unknown
 * field, a wrong type or a missing required field, answers 400
 * invalid_field naming it and returns false (in stays the caller's).
 */
struct sg_json_field;
#define SG_FIELDS(a) (a), SG_ARRAY_SIZE(a) /* a route's list, its length */
bool sg_engine__body_ok(struct sg_http_req *r, const json_t *in,
                        const struct sg_json_field *fields, size_t n);

void sg_engine__register_api(struct sg_engine *e);
void sg_engine__register_intake(struct sg_engine *e);
void sg_engine__register_catalog(struct sg_engine *e);
int sg_engine__inbox_start(struct sg_engine *e, struct sg_err *err);
void sg_engine__inbox_stop(struct sg_engine *e);
void sg_engine__inbox_kick(struct sg_engine *e);
int sg_engine__intake_metrics(struct sg_engine *e, struct sg_buf *out);
/* events_api.c: POST /api/v1/events and the events.track environment. */
void sg_engine__register_events(struct sg_engine *e);
int sg_engine__events_metrics(struct sg_engine *e, struct sg_buf *out);

/*
 * TikTok Shop (tiktok_api.c): routes, worker thread, inbox handling of
 * source "tiktok_shop" inside the processor's transaction. All are no-ops
 * when [tiktok_shop] is not configured.
 */
int sg_engine__tiktok_register(struct sg_engine *e, struct sg_err *err);
int sg_engine__tiktok_start(struct sg_engine *e, struct sg_err *err);
void sg_engine__tiktok_stop(struct sg_engine *e);
void sg_engine__tiktok_free(struct sg_engine *e);
int sg_engine__tiktok_inbox(struct sg_engine *e, struct sg_store_tx *tx,
                            const struct sg_inbox *row, struct sg_err *err);

/*
 * For catalog sync (catalog_sync.c), implemented in tiktok_api.c where
 * the sealing key lives: the connector; the tenant's first active
 * connection, its first shop and its access token unsealed (*token_out,
 * sg_alloc'd: wipe and free; SG_EDECLINED when there is none); and a
 * token refresh queued on the worker (after a 105002).
 */
struct sg_channel_shop;
struct sg_connector *sg_engine__tiktok_connector(struct sg_engine *e);
int sg_engine__tiktok_access(struct sg_engine *e, int64_t tenant_id,
                             char **token_out, int64_t *conn_id_out,
                             struct sg_channel_shop *shop_out,
                             struct sg_err *err);
void sg_engine__tiktok_refresh_soon(struct sg_engine *e, int64_t tenant_id);

/*
 * The TikTok Shop worker (tiktok_api.c). kick: work was queued for it
 * (order ids to read, shipments or decisions to send), possibly inside a
 * transaction not yet committed; the worker waits for that commit and
 * runs its ticks now instead of at its idle interval. Any thread.
 * pace: worker thread only; takes a token of the (shop, endpoint) budget
 * ([jobs] rate_per_sec and burst, like the dispatcher's) and returns 0,
 * or the ms until one may be free without taking it. pace_pause: after a
 * 429, no token for ms.
 */
void sg_engine__tiktok_kick(struct sg_engine *e);
int64_t sg_engine__tiktok_pace(struct sg_engine *e, const char *shop_id,
                               const char *endpoint);
void sg_engine__tiktok_pace_pause(struct sg_engine *e, const char *shop_id,
                                  const char *endpoint, int64_t ms);

/*
 * Orders (orders_sync.c, orders_api.c). orders_inbox queues the order a
 * TikTok Shop webhook names, inside the inbox processor's transaction;
 * orders_tick runs on the TikTok Shop worker thread (it unseals tokens):
 * the reconciliation poll when due, then the queued order details; it
 * returns how long the worker may sleep before the next tick (0: more is
 * ready now). fulfil_tick likewise.
 */
struct sg_connector;
int sg_engine__orders_init(struct sg_engine *e, struct sg_err *err);
void sg_engine__orders_free(struct sg_engine *e);
int sg_engine__orders_inbox(struct sg_engine *e, struct sg_store_tx *tx,
                            const struct sg_inbox *row, const json_t *body,
                            struct sg_err *err);
/*
 * Queue the order a webhook of type (1, 3, 4, 11, 12) names for a detail
 * read, inside tx; what sg_engine__orders_inbox does once it has read the
 * body. Does not kick the worker.
 */
int sg_engine__orders_queue(struct sg_store_tx *tx, int64_t tenant_id,
                            const char *shop_id, const char *order_id,
                            int type, int64_t update_time,
                            struct sg_err *err);
int64_t sg_engine__orders_tick(struct sg_engine *e, struct sg_connector *c,
                               const unsigned char *key);
int sg_engine__orders_metrics(struct sg_engine *e, struct sg_buf *out);
void sg_engine__register_orders(struct sg_engine *e);
/*
 * Stock of sku was released or added inside tx: cover the oldest orders
 * still oversold on it (sg_orders_cover), telling [notify] url of each
 * ("order.oversold_covered"). sg_engine__orders_covered is the callback
 * for features that cover on their own (a return restocked).
 */
int sg_engine__orders_cover(struct sg_engine *e, struct sg_store_tx *tx,
                            int64_t tenant_id, const char *sku,
                            struct sg_err *err);
struct sg_order;
int sg_engine__orders_covered(struct sg_store_tx *tx,
                              const struct sg_order *o, void *arg,
                              struct sg_err *err);

/*
 * Fulfilment, cancellations, returns, viral mode (shipments_api.c).
 * fulfil_after_apply runs in every applied order's write (export to the
 * warehouse, channel outbox); fulfil_inbox records webhooks 11 and 12 in
 * the inbox processor's transaction; fulfil_tick runs on the TikTok Shop
 * worker: pending shipments and decisions go to the channel, returns are
 * read, sell-through is measured.
 */
struct sg_order;
int sg_engine__fulfil_after_apply(struct sg_engine *e, struct sg_store_tx *tx,
                                  const struct sg_order *o,
                                  struct sg_err *err);
int sg_engine__fulfil_inbox(struct sg_engine *e, struct sg_store_tx *tx,
                            const struct sg_inbox *row, const json_t *body,
                            struct sg_err *err);
int64_t sg_engine__fulfil_tick(struct sg_engine *e, struct sg_connector *c,
                               const unsigned char *key);
void sg_engine__register_fulfil(struct sg_engine *e);

/* JSON views of rows, new references. */
json_t *sg_engine__job_json(const struct sg_job *j);

#endif
