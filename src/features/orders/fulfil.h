/*
 * fulfil.h - what happens to an order after ingest: the export to the
 * warehouse, the shipments it reports, buyer and seller cancellations,
 * returns and refunds with the restock of received returns, and the
 * viral-mode channel buffers. Every change runs inside one store write,
 * so a shipment, a decision or a restock commits with its audit row and
 * its ledger rows; the channel calls happen afterwards on the engine's
 * TikTok Shop worker, which records their outcome in another write.
 *
 * Invariant: a return restocks at most once (aftersales.restocked is set
 * in the write that moves the stock), and one (order, tracking number)
 * is one shipment whatever the number of times the warehouse reports it.
 */
#ifndef SG_FEATURES_FULFIL_H
#define SG_FEATURES_FULFIL_H

#include "features/orders/orders.h"

#define SG_SHIP_TRACKING_MAX 64   /* bytes of a tracking number */
#define SG_SHIP_CARRIER_MAX  64
#define SG_SHIP_LINES_MAX    100  /* request lines of one shipment */
#define SG_AS_KEY_MAX        255  /* bytes of an idempotency key */
#define SG_FULFIL_LIST_MAX   200
/* Job priority of the warehouse export (notify.http order.ready_to_ship):
 * above plain notices, so a backlog of forwarded webhooks sharing the
 * receiver's rate budget does not hold parcels back. */
#define SG_FULFIL_EXPORT_PRIO 5

struct sg_shipment {
    int64_t id, tenant_id, order_id;
    char channel_order_id[SG_ORD_ID_MAX + 1];
    char shop_id[SG_ORD_ID_MAX + 1];
    char carrier[SG_SHIP_CARRIER_MAX + 1];
    char tracking_number[SG_SHIP_TRACKING_MAX + 1];
    int64_t weight_g;
    char *lines;     /* JSON [{"sku","quantity"}] */
    char *line_ids;  /* comma-separated channel line ids */
    char package_id[SG_ORD_ID_MAX + 1]; /* the channel's, once shipped */
    char status[12]; /* pending, shipped, failed */
    char error[256];
    int attempts;
    int64_t created_at, updated_at;
};
void sg_shipment_release(struct sg_shipment *s); /* NULL-safe, twice-safe */
void sg_shipment_list_free(struct sg_shipment *s, size_t n);
json_t *sg_shipment_to_json(const struct sg_shipment *s);

/* A cancellation (kind "cancel") or a return/refund (kind "return"). */
struct sg_aftersale {
    int64_t id, tenant_id, order_id;
    char kind[8];
    char channel[32];
    char shop_id[SG_ORD_ID_MAX + 1];
    char channel_id[SG_ORD_ID_MAX + 1]; /* "" = not known yet */
    char channel_order_id[SG_ORD_ID_MAX + 1];
    char initiator[8];       /* buyer, seller */
    char type[24];           /* REFUND, RETURN_AND_REFUND, REPLACEMENT */
    char status[48];         /* the channel's status */
    int64_t refund_total;    /* minor units of currency */
    char currency[4];
    char *lines;             /* JSON [{"sku","quantity"}], NULL = unknown */
    char decision[8];        /* "", approve, reject, cancel */
    char decision_code[32];  /* e.g. APPROVE_RETURN */
    char decision_state[12]; /* "", requested, done, failed */
    char idempotency_key[SG_AS_KEY_MAX + 1];
    char reason[128];
    char error[256];
    bool restocked, needs_fetch;
    int64_t update_time;     /* channel seconds of the status */
    int64_t created_at, updated_at;
};
void sg_aftersale_release(struct sg_aftersale *a);
void sg_aftersale_list_free(struct sg_aftersale *a, size_t n);
json_t *sg_aftersale_to_json(const struct sg_aftersale *a);

/* ---- export to the warehouse (inside the order's write) ---- */

struct sg_fulfil_opts {
    const char *warehouse_url; /* NULL/"" = [notify] url */
    const char *notify_url;    /* NULL/"" with no warehouse url: no jobs */
    const char *csv_dir;       /* NULL = no CSV drop */
    int attempts_max;          /* notify.http attempts */
};

/*
 * Called after sg_orders_apply for an applied version (not STALE): an
 * order ready to ship (AWAITING_SHIPMENT or PARTIALLY_SHIPPING, not
 * oversold) not yet exported queues one notify.http job with event
 * "order.ready_to_ship" (and a CSV file in csv_dir); an exported one
 * whose address changed while not shipped queues "order.address_changed".
 * Every product of the order's lines is also handed to
 * sg_catalog_changed, so each reservation reaches every channel.
 */
int sg_fulfil_after_apply(struct sg_store_tx *tx, const struct sg_order *o,
                          const struct sg_fulfil_opts *opts,
                          struct sg_err *err);

/* ---- shipments ---- */

struct sg_ship_line {
    const char *sku;
    int64_t qty;
};

struct sg_ship_req {
    int64_t order_id;               /* or channel_order_id */
    const char *channel_order_id;
    const struct sg_ship_line *lines; /* NULL = every remaining line */
    size_t n_lines;
    const char *carrier;
    const char *tracking_number;
    int64_t weight_g;
};

/*
 * Record a shipment the warehouse reports, status "pending" (the engine
 * ships it on the channel after the commit). The same order and tracking
 * number answer the stored shipment (*created_out false). Errors:
 * SG_EINVAL (field named in err), SG_ENOTFOUND (no such order),
 * SG_ESTATE (the order cannot ship, or has fewer open lines of a SKU).
 */
int sg_shipment_create(struct sg_store_tx *tx, int64_t tenant_id,
                       const struct sg_ship_req *req,
                       struct sg_shipment *out, bool *created_out,
                       struct sg_err *err);
/* The channel's answer: "shipped" with package_id, or "failed"/retry. */
int sg_shipment_result(struct sg_store_tx *tx, int64_t id, const char *status,
                       const char *package_id, const char *error,
                       struct sg_err *err);
/* tenant_id 0 = all; order_id 0 = all; status NULL = any. */
int sg_shipments_list(struct sg_store *s, int64_t tenant_id, int64_t order_id,
                      const char *status, int64_t after_id, size_t limit,
                      struct sg_shipment **out, size_t *n_out,
                      struct sg_err *err);

/* ---- cancellations and returns ---- */

/*
 * A channel event (webhook 11 or 12) about a cancellation or a return:
 * insert or update by channel id. For a pending buyer cancellation and
 * auto_approve, the decision "approve" is requested in the same write.
 * A return is marked for a detail read (needs_fetch).
 */
int sg_aftersale_event(struct sg_store_tx *tx, struct sg_aftersale *a,
                       bool auto_approve, struct sg_err *err);
/*
 * Ask for a decision ("approve" or "reject") on the aftersale id of kind
 * ("cancel" or "return"); the engine sends it after the commit. The same
 * idempotency key (NULL: one derived from the id, decision and current
 * status) for the same decision answers the stored row in *out and
 * changes nothing; a decision still being sent is SG_ESTATE.
 * decision_code NULL picks the code from the return's type and status.
 */
int sg_aftersale_decide(struct sg_store_tx *tx, int64_t tenant_id, int64_t id,
                        const char *kind, const char *decision,
                        const char *decision_code, const char *reason,
                        const char *idempotency_key, struct sg_aftersale *out,
                        struct sg_err *err);
/*
 * A seller cancellation of order_id (before shipping), sent by the
 * engine after the commit; one per order (a repeat answers the stored
 * row). SG_ENOTFOUND, SG_ESTATE when the order has shipped.
 */
int sg_aftersale_seller_cancel(struct sg_store_tx *tx, int64_t tenant_id,
                               int64_t order_id, const char *reason,
                               struct sg_aftersale *out, struct sg_err *err);
/*
 * The channel's answer to a decision: state "done" or "failed"; status
 * (may be NULL) is the channel status it led to. A return is marked for
 * a detail read.
 */
int sg_aftersale_decided(struct sg_store_tx *tx, int64_t id, const char *state,
                         const char *status, const char *error,
                         struct sg_err *err);
/*
 * A return's detail from the channel (status, type, refund, lines by
 * seller SKU): stored, and when restock is on and a RETURN_AND_REFUND
 * return reached RETURN_OR_REFUND_REQUEST_SUCCESS or _COMPLETE after the
 * buyer shipped, its units go back on_hand once (ledger reason
 * "return", cause "return:<channel>:<id>"), then cover the oldest orders
 * still oversold on those SKUs (sg_orders_cover; covered may be NULL).
 */
int sg_aftersale_return_detail(struct sg_store_tx *tx, int64_t id,
                               const json_t *detail, const char *location,
                               bool restock, sg_orders_covered_fn *covered,
                               void *arg, struct sg_err *err);

struct sg_as_filter {
    const char *kind;   /* NULL = both */
    int work;           /* 0 all, 1 decision requested, 2 needs_fetch */
    int64_t after_id;
    size_t limit;
};
int sg_aftersales_list(struct sg_store *s, int64_t tenant_id,
                       const struct sg_as_filter *f, struct sg_aftersale **out,
                       size_t *n_out, struct sg_err *err);
int sg_aftersale_get(struct sg_store *s, int64_t tenant_id, int64_t id,
                     struct sg_aftersale *out, struct sg_err *err);

/* ---- viral mode ---- */

struct sg_viral_opts {
    unsigned sell_through_per_min; /* 0 = off */
    unsigned buffer_units;
    unsigned window_ms;
};

struct sg_viral_row {
    int64_t tenant_id;
    char sku[65];
    int64_t buffer;
    int64_t rate_milli; /* units per minute x 1000 */
    int64_t since, updated_at;
};

/*
 * Measure every SKU's sell-through (units reserved per minute over the
 * window, from the ledger): at or above the threshold its buffer becomes
 * buffer_units; below half the threshold it goes back to 0. A change
 * calls sg_catalog_changed for the SKU's product. *changed_out counts
 * the SKUs whose buffer changed.
 */
int sg_viral_evaluate(struct sg_store_tx *tx, const struct sg_viral_opts *o,
                      size_t *changed_out, struct sg_err *err);
/* The buffer of a SKU (0 when none); on error 0. */
int64_t sg_viral_buffer(struct sg_store *s, int64_t tenant_id,
                        const char *sku);
int sg_viral_list(struct sg_store *s, int64_t tenant_id,
                  struct sg_viral_row **out, size_t *n_out,
                  struct sg_err *err);

#endif
