/*
 * connector.h - the interface every sales-channel connector implements: a
 * versioned const table of function pointers, one static instance per
 * platform, listed in registry.c.
 *
 * Connectors never call libcurl or the clock themselves: both come in
 * through struct sg_conn_env, so tests and the sandbox can stand in. They
 * hold no tokens beyond a call: the caller (engine or CLI) passes the
 * access token in and stores what comes back, sealed.
 */
#ifndef SG_CONNECTORS_CONNECTOR_H
#define SG_CONNECTORS_CONNECTOR_H

#include "core/sg.h"
#include "core/err.h"
#include "http/client.h"

struct sg_clock;

#define SG_CONNECTOR_OPS_VERSION 4

/* Capabilities; a slot outside the connector's caps may be NULL. */
enum sg_connector_cap {
    SG_CAP_OAUTH = 1u << 0,    /* authorize_url, exchange_code, refresh */
    SG_CAP_SHOPS = 1u << 1,    /* list_shops */
    SG_CAP_WEBHOOKS = 1u << 2, /* verify_webhook, parse_webhook, subscribe */
    SG_CAP_CATALOG = 1u << 3,  /* catalog_request, catalog_call (v2) */
    SG_CAP_ORDERS = 1u << 4,   /* search_orders, get_orders, cancel_order */
    SG_CAP_FULFIL = 1u << 5,   /* ship, decide, get_returns (v4) */
};

/*
 * Blocking HTTP for a connector; the default is sg_http_client_do. Same
 * contract: 0 with *out filled for any HTTP status, SG_EREMOTE on a
 * transport failure (out filled too).
 */
typedef int (*sg_conn_http_fn)(void *ctx, struct sg_http_response *out,
                               const struct sg_http_request *req,
                               struct sg_err *err);

struct sg_conn_env {
    sg_conn_http_fn http;          /* NULL = sg_http_client_do */
    void *http_ctx;
    bool deny_private;             /* refuse loopback/private targets */
    unsigned timeout_ms;           /* per call; 0 = 10 s */
    const struct sg_clock *clock;  /* NULL = the system clock */
};

/* Platform settings; strings are borrowed for the connector's life. */
struct sg_conn_cfg {
    const char *app_key;
    const char *app_secret;
    const char *service_id;
    const char *api_base_url;  /* signed Open API */
    const char *auth_base_url; /* token endpoints */
    const char *authorize_url; /* seller consent page */
};

/* The base of every instance; a platform's struct has it first. */
struct sg_connector {
    const struct sg_connector_ops *ops;
    struct sg_conn_cfg cfg;
    struct sg_conn_env env;
};

/* A token grant. The strings are sg_alloc'd: sg_conn_tokens_release. */
struct sg_conn_tokens {
    char *access_token;
    char *refresh_token;
    int64_t access_expires_at;  /* Unix seconds, absolute */
    int64_t refresh_expires_at; /* Unix seconds, absolute */
    char open_id[64];
    char seller_name[128];
    char region[16];
};
void sg_conn_tokens_release(struct sg_conn_tokens *t);

struct sg_conn_shop {
    char id[32];
    char cipher[128];
    char name[128];
    char region[16];
};

/* The envelope facts of an inbound webhook. */
struct sg_conn_event {
    int type;         /* platform's numeric type */
    char name[48];    /* e.g. "ORDER_STATUS_CHANGE"; "" if unknown */
    char id[129];     /* the platform's notification id (dedupe key) */
    char shop_id[32];
    int64_t timestamp; /* Unix seconds; 0 if absent */
    /* The order an order event names ("" if none or longer than 64
     * bytes) and the time it carries (0 if absent), so the intake can
     * queue the order without reading the body again. */
    char order_id[65];
    int64_t update_time;
};

/* One catalog call (SG_CAP_CATALOG); strings borrowed. */
struct sg_conn_catalog_op {
    const char *verb;
    const char *shop_cipher;
    const char *product_id; /* the platform's id; NULL for create */
    const char *body;       /* JSON text; NULL = none */
    size_t body_len;
};
struct json_t;

/* One page of an order search by update time (SG_CAP_ORDERS). */
struct sg_conn_order_query {
    const char *shop_cipher;
    int64_t update_time_ge;  /* Unix seconds; 0 = no lower bound */
    int64_t update_time_lt;  /* 0 = no upper bound */
    const char *page_token;  /* NULL or "" = the first page */
    unsigned page_size;      /* 1..100 */
};

/* One shipment to put on the channel (SG_CAP_FULFIL); strings borrowed. */
struct sg_conn_shipment {
    const char *shop_cipher;
    const char *order_id;          /* the channel's */
    const char *package_id;        /* "" = make a package of line_ids */
    const char *const *line_ids;   /* the channel's line ids */
    size_t n_line_ids;
    const char *tracking_number;
    const char *carrier;           /* name; mapped to a provider id */
    int64_t weight_g;              /* 0 = not sent */
};

/* A seller decision on a cancellation or a return (SG_CAP_FULFIL). */
struct sg_conn_decision {
    const char *shop_cipher;
    const char *kind;            /* "cancel" or "return" */
    const char *id;              /* cancel_id / return_id */
    bool approve;
    const char *code;            /* returns: e.g. APPROVE_RETURN */
    const char *reason;          /* reject reason; may be NULL */
    const char *idempotency_key;
};

/* What a search says of one order. */
struct sg_conn_order_ref {
    char id[65];
    int64_t update_time;
};

struct sg_connector_ops {
    unsigned int version; /* SG_CONNECTOR_OPS_VERSION; append-only below */
    const char *name;     /* stable lowercase id, e.g. "tiktok_shop" */
    uint32_t caps;        /* SG_CAP_* */

    /* An instance over cfg and env (both copied; strings borrowed). */
    int (*open)(struct sg_connector **out, const struct sg_conn_cfg *cfg,
                const struct sg_conn_env *env, struct sg_err *err);
    void (*close)(struct sg_connector *c);

    /* SG_CAP_OAUTH */
    int (*authorize_url)(struct sg_connector *c, const char *state,
                         char **url_out, struct sg_err *err);
    int (*exchange_code)(struct sg_connector *c, const char *code,
                         struct sg_conn_tokens *out, struct sg_err *err);
    int (*refresh)(struct sg_connector *c, const char *refresh_token,
                   struct sg_conn_tokens *out, struct sg_err *err);

    /* SG_CAP_SHOPS: *out is sg_alloc'd (sg_free), at most 100 shops. */
    int (*list_shops)(struct sg_connector *c, const char *access_token,
                      struct sg_conn_shop **out, size_t *n_out,
                      struct sg_err *err);

    /* SG_CAP_WEBHOOKS */
    int (*subscribe_webhook)(struct sg_connector *c, const char *access_token,
                             const struct sg_conn_shop *shop,
                             const char *event_name, const char *address,
                             struct sg_err *err);
    /*
     * 0 when sig authenticates body, SG_EAUTH when it does not, another
     * SG_E* (SG_ENOMEM) when it could not be checked: answer 503 then.
     */
    int (*verify_webhook)(struct sg_connector *c, const char *sig,
                          size_t sig_len, const void *body, size_t len);
    /*
     * SG_EINVAL when the body is not a well-formed event; SG_ENOMEM when
     * it could not be read (the event must not be dropped then).
     */
    int (*parse_webhook)(struct sg_connector *c, const void *body,
                         size_t len, struct sg_conn_event *out,
                         struct sg_err *err);
    /* The event names Surge subscribes to, NULL-terminated. */
    const char *const *webhook_events;

    /*
     * SG_CAP_CATALOG (version 2): publishing and live sync. op->verb is
     * one of "create", "partial_edit", "price", "inventory", "activate",
     * "deactivate", "delete", "get", "inventory_search"; op->body is the
     * request body the platform's builders made (docs/publishing.md).
     * catalog_request signs the call without sending it (the dispatcher
     * sends it): *method_out and the sg_alloc'd *url_out (sg_free); the
     * caller adds the access token as the platform's header.
     * catalog_call sends it now, blocking, and returns the answer's data
     * (new reference) or the mapped error.
     */
    int (*catalog_request)(struct sg_connector *c,
                           const struct sg_conn_catalog_op *op,
                           char method_out[8], char **url_out,
                           struct sg_err *err);
    int (*catalog_call)(struct sg_connector *c, const char *access_token,
                        const struct sg_conn_catalog_op *op,
                        struct json_t **data_out, struct sg_err *err);

    /*
     * SG_CAP_ORDERS (version 3). search_orders: one page, sorted by
     * update time ascending; *refs_out (sg_free) and *next_token_out
     * (sg_free; NULL on the last page). get_orders: the detail of 1..50
     * ids as a JSON array of order objects (unknown ids are left out),
     * released with sg_json_arena_free on the calling thread (it may live
     * in that thread's JSON arena). An order object may hold only the
     * members Surge reads (TikTok Shop: the list in its orders.c). cancel_order: a seller cancellation with reason.
     */
    int (*search_orders)(struct sg_connector *c, const char *access_token,
                         const struct sg_conn_order_query *q,
                         struct sg_conn_order_ref **refs_out, size_t *n_out,
                         char **next_token_out, struct sg_err *err);
    int (*get_orders)(struct sg_connector *c, const char *access_token,
                      const char *shop_cipher, const char *const *ids,
                      size_t n, struct json_t **orders_out,
                      struct sg_err *err);
    int (*cancel_order)(struct sg_connector *c, const char *access_token,
                        const char *shop_cipher, const char *order_id,
                        const char *reason, struct sg_err *err);

    /*
     * SG_CAP_FULFIL (version 4). ship: put a shipment's tracking number
     * on the channel (ship the package, or mark the lines as shipped),
     * the channel's package id in package_id_out. decide: approve or
     * reject a cancellation or a return with its idempotency key.
     * get_returns: the detail of 1..50 return ids as a JSON array (new
     * reference).
     */
    int (*ship)(struct sg_connector *c, const char *access_token,
                const struct sg_conn_shipment *s, char package_id_out[65],
                struct sg_err *err);
    int (*decide)(struct sg_connector *c, const char *access_token,
                  const struct sg_conn_decision *d, struct sg_err *err);
    int (*get_returns)(struct sg_connector *c, const char *access_token,
                       const char *shop_cipher, const char *const *ids,
                       size_t n, struct json_t **returns_out,
                       struct sg_err *err);
};

/* ---- the registry ---- */

/*
 * 0 when ops is usable: its version is SG_CONNECTOR_OPS_VERSION, it has a
 * name, open and close, and every slot its caps promise; SG_ECONFIG
 * otherwise (err says which slot).
 */
int sg_connector_check(const struct sg_connector_ops *ops, struct sg_err *err);
/* The registered connector called name, or NULL (also for a bad table). */
const struct sg_connector_ops *sg_connector_find(const char *name);
/* The registered tables, NULL-terminated. */
const struct sg_connector_ops *const *sg_connector_list(void);

/* Open the registered connector name; SG_ENOTFOUND if there is none. */
int sg_connector_open(struct sg_connector **out, const char *name,
                      const struct sg_conn_cfg *cfg,
                      const struct sg_conn_env *env, struct sg_err *err);
void sg_connector_close(struct sg_connector *c); /* NULL-safe */

/* For connectors: one blocking call through env (its defaults applied). */
int sg_conn_http(const struct sg_connector *c, struct sg_http_response *out,
                 const struct sg_http_request *req, struct sg_err *err);
/* For connectors: Unix seconds from env's clock. */
int64_t sg_conn_now_s(const struct sg_connector *c);

extern const struct sg_connector_ops sg_connector_tiktok_shop;

#endif
