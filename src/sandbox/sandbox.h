/*
 * sandbox.h - the offline TikTok Shop emulator's internal interface.
 *
 * One struct sg_sbx holds the whole emulated world: apps, sellers, shops,
 * tokens and the JSON state of products, orders, packages, returns and the
 * rest, guarded by one mutex. Endpoint modules (products.c, orders.c, ...)
 * declare tables of struct sg_sbx_endpoint; the framework (sandbox.c) does
 * every documented request check - signature, timestamp, app_key, token,
 * scope, shop_cipher, version, rate limit, injected faults - before an
 * endpoint function runs, and wraps answers in the {code, message,
 * request_id, data} envelope.
 *
 * Threading: endpoint functions run on an HTTP loop thread with the state
 * lock HELD (the framework takes it), so they may read and change state
 * freely but must not block. Webhooks they emit are sent later by the
 * webhook thread.
 */
#ifndef SG_SANDBOX_H
#define SG_SANDBOX_H

#include "core/sg.h"
#include "core/err.h"
#include "http/server.h"

#include <jansson.h>

struct sg_sbx;
struct sg_tts_query;

/* Settings; sg_sbx_cfg_defaults() fills every field. */
struct sg_sbx_cfg {
    const char *listen;          /* default "127.0.0.1:8710" */
    const char *app_key;         /* generated from the seed when NULL */
    const char *app_secret;
    uint64_t seed;               /* same seed, same ids and tokens */
    const char *state_path;      /* JSON file; NULL = memory only */
    const char *control_token;   /* NULL = control plane open */
    const char *callback_url;    /* consent page redirects here */
    unsigned threads;
    unsigned rate_qps;           /* per app+shop+endpoint, default 50 */
    unsigned audit_delay_ms;     /* PENDING -> ACTIVATE/FAILED, default 2000 */
    bool debug_signatures;       /* 106001 answers carry the base string */
    int64_t access_ttl_s;        /* default 7 days */
    int64_t refresh_ttl_s;       /* default 365 days */
    unsigned webhook_dup_pct;    /* deliberate duplicate deliveries */
    unsigned webhook_reorder_pct;
    const char *webhook_retry_ms; /* "120000,1800000,10800000,43200000" */
    /* ---- added after the first version; append only ---- */
    const char *categories_path; /* JSON category tree; NULL = built-in */
    const char *config_path;     /* JSON settings file (docs/sandbox.md) */
    const char *service_id;      /* consent page; generated when NULL */
    const char *webhook_address; /* default webhook target, may be NULL */
    bool refresh_rotate;         /* old refresh token dies on refresh */
    bool timestamp_real_clock;   /* window vs wall clock, not sandbox */
    unsigned webhook_timeout_ms; /* per delivery attempt, default 5000 */
    unsigned webhook_reorder_ms; /* delay of a reordered event */
    unsigned auth_code_ttl_s;    /* default 1800 */
    int unknown_path_http;       /* default 404 */
    long unknown_path_code;      /* default 36009009 */
    int token_error_http;        /* 105002/105005 HTTP status, default 401 */
    /*
     * Debounce of --state writes in ms, default 200; 0 = write the file
     * before answering every call that changed the world (survives
     * SIGKILL at the cost of one fsync per change).
     */
    unsigned state_save_ms;
    unsigned webhook_concurrency; /* deliveries in flight, default 16 */
    /* In flight to one address, default 1 (each receiver in order). */
    unsigned webhook_address_concurrency;
    /* Retry-After seconds on rate-limiter 429s; 0 = no header. */
    unsigned rate_limit_retry_after_s;
};

void sg_sbx_cfg_defaults(struct sg_sbx_cfg *cfg);
/*
 * Overlay the JSON settings file path onto cfg (keys are the field
 * names). String fields then point into *doc_out, which the caller keeps
 * until sg_sbx_new has copied them and then json_decrefs.
 */
int sg_sbx_cfg_load(struct sg_sbx_cfg *cfg, const char *path,
                    json_t **doc_out, struct sg_err *err);
int sg_sbx_new(struct sg_sbx **out, const struct sg_sbx_cfg *cfg,
               struct sg_err *err);
int sg_sbx_start(struct sg_sbx *s, struct sg_err *err);
const char *sg_sbx_url(const struct sg_sbx *s);
void sg_sbx_stop(struct sg_sbx *s);
void sg_sbx_free(struct sg_sbx *s);
/* The same document GET /sandbox/v1/info answers; new reference. */
json_t *sg_sbx_info(struct sg_sbx *s);

/* ---- what an endpoint function sees ---- */

struct sg_sbx_shop {
    char id[24];
    char cipher[48];
    char name[64];
    char region[8];
};

struct sg_sbx_call {
    struct sg_sbx *sbx;
    struct sg_http_req *req;
    const char *version;        /* "202309" */
    json_t *body;               /* parsed body; {} when empty or "[]" */
    const struct sg_sbx_shop *shop; /* NULL when not shop-scoped */
    int64_t now_s;              /* sandbox clock, Unix seconds */
    char request_id[40];
    bool answered;
    /* ---- framework-private, appended ---- */
    const struct sg_sbx_endpoint *endpoint;
    const char *rest;           /* the request path after the version */
    size_t rest_len;
    const struct sg_tts_query *query;
    int http_status;
    json_t *reply;              /* the envelope to send */
    const json_t *token;        /* the access token's record */
    char *reply_data;           /* sg_sbx_ok_text: the data, as JSON text */
    size_t reply_data_len;
};

typedef void (*sg_sbx_endpoint_fn)(struct sg_sbx_call *c);

enum sg_sbx_shop_rule {
    SG_SBX_SHOP_REQUIRED = 0,   /* missing shop_cipher -> 106013 */
    SG_SBX_SHOP_FORBIDDEN = 1,  /* present -> 36009004 Unexpected id */
    SG_SBX_SHOP_OPTIONAL = 2,
};

struct sg_sbx_endpoint {
    const char *method;         /* "GET", "POST", "PUT", "DELETE" */
    const char *module;         /* "product" - first path segment */
    const char *rest;           /* after the version: "/products/{id}" */
    const char *versions;       /* accepted, comma-separated "202309,202502" */
    int shop_rule;              /* enum sg_sbx_shop_rule */
    const char *scope;          /* required token scope, NULL = none */
    bool multipart;             /* body is not signed */
    sg_sbx_endpoint_fn fn;
};

/*
 * Answer with code 0 and data (stolen). NULL data is taken for an
 * allocation that failed (endpoints pass json_pack(...) straight in) and
 * answers TikTok's internal error, HTTP 500, instead of a success with
 * nothing in it (found by the D5 sandbox sweep).
 */
void sg_sbx_ok(struct sg_sbx_call *c, json_t *data);
/* Answer with code 0 and data {}. */
void sg_sbx_ok_empty(struct sg_sbx_call *c);
/*
 * sg_sbx_ok with data already rendered as JSON text (sg_alloc'd; taken,
 * freed with the call): for a large answer read from the state, rendered
 * under the state lock instead of copied and dumped after it.
 */
void sg_sbx_ok_text(struct sg_sbx_call *c, char *data, size_t len);
/* Answer a documented error; data stolen, may be NULL. */
void sg_sbx_fail(struct sg_sbx_call *c, int http_status, long code,
                 const char *message, json_t *data);
/* Path parameter "{name}" of the endpoint, NUL-terminated copy into out. */
bool sg_sbx_param(struct sg_sbx_call *c, const char *name, char *out,
                  size_t out_size);
/* Decoded query parameter; false if absent. */
bool sg_sbx_query(struct sg_sbx_call *c, const char *name, char *out,
                  size_t out_size);

/* ---- state (lock held by the framework inside endpoint functions) ---- */

void sg_sbx_lock(struct sg_sbx *s);
void sg_sbx_unlock(struct sg_sbx *s);
/*
 * A collection of the emulated world, an object keyed by id: "products",
 * "orders", "packages", "returns", "cancellations", "conversations",
 * "statements", "webhooks" (subscriptions), "brands", "images". Borrowed.
 * Every object carries a "shop_id" member naming its shop. Orders the
 * sandbox keeps compact (docs/sandbox.md) become trees when "orders" is
 * asked for here.
 */
json_t *sg_sbx_coll(struct sg_sbx *s, const char *name);
/* A fresh 19-digit decimal id string, deterministic from the seed. */
void sg_sbx_new_id(struct sg_sbx *s, char out[24]);
/* Sandbox clock (Unix seconds / ms); the control plane can advance it. */
int64_t sg_sbx_now_s(struct sg_sbx *s);
int64_t sg_sbx_now_ms(struct sg_sbx *s);
/* Deterministic pseudo-random in [0, bound) from the seed. */
uint64_t sg_sbx_rand(struct sg_sbx *s, uint64_t bound);
const struct sg_sbx_shop *sg_sbx_shop_by_id(struct sg_sbx *s,
                                            const char *shop_id);
const struct sg_sbx_shop *sg_sbx_default_shop(struct sg_sbx *s);
/* Mark state changed (persisted to --state soon after). */
void sg_sbx_dirty(struct sg_sbx *s);

/*
 * Queue a webhook of numeric type for shop_id with data (stolen) to every
 * address subscribed to that event type (and the configured default
 * address). Signed as documented; retried; duplicated and reordered at the
 * configured rates.
 */
void sg_sbx_emit(struct sg_sbx *s, const char *shop_id, int type,
                 json_t *data);
/* Webhook deliveries queued and not yet ended (any lock state but the
 * webhook queue's own). */
size_t sg_sbx_webhooks_queued(struct sg_sbx *s);

/*
 * A scheduled state change on the sandbox clock (audits, shipping
 * progress): fn(s, arg) runs with the lock held when the clock reaches
 * at_ms. arg is owned by the task (freed with arg_free, may be NULL).
 */
typedef void (*sg_sbx_task_fn)(struct sg_sbx *s, json_t *arg);
void sg_sbx_schedule(struct sg_sbx *s, int64_t at_ms, sg_sbx_task_fn fn,
                     json_t *arg);

/*
 * Every task function has a stable name in one of these tables (each ends
 * with a NULL name), so --state saves pending tasks as {kind, at_ms, arg}
 * and a restart schedules them again. A task whose function is in no
 * table is not saved (logged as a warning).
 */
struct sg_sbx_task_kind {
    const char *name;
    sg_sbx_task_fn fn;
};
extern const struct sg_sbx_task_kind sg_sbx_product_tasks[];
extern const struct sg_sbx_task_kind sg_sbx_order_tasks[];
extern const struct sg_sbx_task_kind sg_sbx_fulfillment_tasks[];
extern const struct sg_sbx_task_kind sg_sbx_return_tasks[];

/*
 * Cursor pagination over ids (array of strings, already filtered and
 * sorted): reads page_size (default def, max 100 -> error) and
 * page_token from the query; on success fills *start and *count, writes
 * the next token (opaque, contains '+' and '/') into next (empty on the
 * last page). Returns false after answering the error itself.
 */
bool sg_sbx_page(struct sg_sbx_call *c, size_t total, size_t def_size,
                 size_t *start, size_t *count, char next[64]);

/*
 * Shapes kept by products.c (others may read them, lock held):
 * products[id] = {id, shop_id, title, description, category_id, brand_id,
 *   status (DRAFT|PENDING|FAILED|ACTIVATE|SELLER_DEACTIVATED|
 *   PLATFORM_DEACTIVATED|FREEZE|DELETED), audit{status},
 *   skus[{id, seller_sku, price{amount, currency, sale_price},
 *         inventory[{warehouse_id, quantity}], committed_quantity}],
 *   create_time, update_time, ...request fields}
 * warehouses[id] = {id, shop_id, name, type, sub_type, is_default, ...}
 * Stock is inventory[].quantity (available); orders move units into
 * committed_quantity.
 */
/* The SKU with this id (borrowed) and its product; NULL if none. */
json_t *sg_sbx_find_sku(struct sg_sbx *s, const char *sku_id,
                        json_t **product_out);

/* Endpoint tables, one per module file. */
extern const struct sg_sbx_endpoint sg_sbx_product_endpoints[];
extern const struct sg_sbx_endpoint sg_sbx_order_endpoints[];
extern const struct sg_sbx_endpoint sg_sbx_fulfillment_endpoints[];
extern const struct sg_sbx_endpoint sg_sbx_return_endpoints[];
extern const struct sg_sbx_endpoint sg_sbx_misc_endpoints[];
/* Each table ends with an entry whose method is NULL. */

/* Traffic generator (traffic.c): start/stop from the control plane. */
int sg_sbx_traffic_start(struct sg_sbx *s, const json_t *spec,
                         struct sg_err *err);
void sg_sbx_traffic_stop(struct sg_sbx *s);
json_t *sg_sbx_traffic_status(struct sg_sbx *s);

/*
 * Orders created by the traffic generator (or the control plane) go
 * through here: checks every line's SKU is ACTIVATE with stock, decrements
 * the listed stock as TikTok does, creates the order (UNPAID, then
 * AWAITING_SHIPMENT once paid) and emits its webhooks. Lock held.
 * Returns 0, or SG_ESTATE when a SKU is out of stock (nothing changed).
 */
int sg_sbx_order_create(struct sg_sbx *s, const char *shop_id,
                        const json_t *lines, json_t **order_out,
                        struct sg_err *err);

#endif
