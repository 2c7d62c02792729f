/*
 * shop_internal.h - helpers shared by the emulator's order, fulfilment,
 * return and traffic modules (orders.c, fulfillment.c, returns.c,
 * traffic.c). Not part of the sandbox's interface.
 *
 * Every function here expects the state lock held unless it says
 * otherwise. Stored objects may carry a private "_sbx" member (internal
 * bookkeeping) that views strip before answering.
 */
#ifndef SG_SBX_SHOP_INTERNAL_H
#define SG_SBX_SHOP_INTERNAL_H

#include "core/sg.h"
#include "core/err.h"
#include "sandbox/sandbox.h"

#include <jansson.h>

/* Business error codes this emulator chose ([uncertain]: see the docs). */
#define SG_SBX_E_ORDER_PARAM     21001001L
#define SG_SBX_E_ORDER_IDS_MAX   21001002L
#define SG_SBX_E_ORDER_NOTFOUND  21001003L
#define SG_SBX_E_FUL_PARAM       21011001L
#define SG_SBX_E_FUL_STATE       21011002L
#define SG_SBX_E_FUL_NOTFOUND    21011003L
#define SG_SBX_E_FUL_LINE        21011004L
#define SG_SBX_E_RR_PARAM        25001001L
#define SG_SBX_E_RR_NOTFOUND     25001002L
#define SG_SBX_E_RR_STATE        25001003L
#define SG_SBX_E_RR_SHIPPED      25001004L

#define SG_SBX_ORDER_IDS_MAX     50
#define SG_SBX_IDEM_KEY_MAX      255

/* Webhook types (reference section 1.9). */
#define SG_SBX_WH_ORDER          1
#define SG_SBX_WH_PACKAGE        4
#define SG_SBX_WH_CANCEL         11
#define SG_SBX_WH_RETURN         12

/* Sandbox-time offsets of the automatic progress, in seconds. */
struct sg_sbx__timing {
    int64_t pay_s;          /* UNPAID -> paid; 0 = at once */
    int64_t hold_s;         /* ON_HOLD before AWAITING_SHIPMENT; 0 = none */
    int64_t collect_s;      /* shipped -> IN_TRANSIT */
    int64_t deliver_s;      /* IN_TRANSIT -> DELIVERED */
    int64_t complete_s;     /* DELIVERED -> COMPLETED */
    int64_t refund_s;       /* approved cancel/return -> *_COMPLETE */
    int64_t buyer_ship_s;   /* AWAITING_BUYER_SHIP -> BUYER_SHIPPED_ITEM */
};

/*
 * Per-sandbox extension state kept by these modules (the framework has no
 * slot for it): timings and the traffic generator. Never NULL; a fixed
 * table, so at most a handful of sandboxes per process. Takes no lock.
 */
struct sg_sbx__traffic;
struct sg_sbx__corders;
struct sg_sbx__ext {
    struct sg_sbx *sbx;
    struct sg_sbx__timing timing;
    struct sg_sbx__traffic *traffic;
    /* While a scheduled step runs: its due time (0 = use the clock), so
     * follow-up steps are timed from it and one clock jump runs them all. */
    int64_t due_ms;
    /* Orders kept compact (orders.c); NULL until the first one. */
    struct sg_sbx__corders *corders;
};
struct sg_sbx__ext *sg_sbx__ext(struct sg_sbx *s);
/* Change timings from {"pay_s":..,"collect_s":..}; unknown keys ignored. */
int sg_sbx__timing_set(struct sg_sbx *s, const json_t *spec,
                       struct sg_err *err);
/* The timings as {"pay_s":..} (saved with --state); new reference. */
json_t *sg_sbx__timing_json(struct sg_sbx *s);
/*
 * The buyer changes the recipient address of an order not shipped yet:
 * has_updated_recipient_address, webhook 3 {order_id, update_time}.
 * SG_ESTATE once shipped, cancelled or closed.
 */
int sg_sbx__order_address_update(struct sg_sbx *s, json_t *order,
                                 struct sg_err *err);
/* Forget s's extension slot (sg_sbx_free; the traffic thread is gone). */
void sg_sbx__ext_release(struct sg_sbx *s);
/* Stop the traffic thread and free its counters (traffic.c). */
void sg_sbx__traffic_release(struct sg_sbx *s);

/* ---- money: decimal strings with two places ---- */

/* "12.5" -> 1250; false if not a plain non-negative decimal. */
bool sg_sbx__money_parse(const char *str, int64_t *cents_out);
void sg_sbx__money_fmt(int64_t cents, char out[32]);

/* ---- objects ---- */

/* Copy of obj without "_sbx" (and without "shop_id"); new reference. */
json_t *sg_sbx__view(const json_t *obj);
/* obj["_sbx"], created when missing. Borrowed. */
json_t *sg_sbx__priv(json_t *obj);
/* Object of collection coll with id belonging to shop_id, or NULL. */
json_t *sg_sbx__get(struct sg_sbx *s, const char *coll, const char *id,
                    const char *shop_id);
/* Set string member key (copying value). */
void sg_sbx__set_str(json_t *obj, const char *key, const char *value);
void sg_sbx__set_int(json_t *obj, const char *key, int64_t value);

/* True when arr (a JSON array of strings) contains str. */
bool sg_sbx__strarr_has(const json_t *arr, const char *str);

/*
 * A filtered, sorted list of objects for search endpoints. Items borrow
 * the objects. sort_field is an integer member; ties break on id.
 */
struct sg_sbx__item {
    int64_t key;
    const char *id;
    json_t *obj;
};
struct sg_sbx__list {
    struct sg_sbx__item *v;
    size_t n;
    size_t cap;
};
typedef bool (*sg_sbx__match_fn)(const json_t *obj, const json_t *filter);
int sg_sbx__collect(struct sg_sbx__list *out, json_t *coll,
                    const char *shop_id, sg_sbx__match_fn match,
                    const json_t *filter, const char *sort_field, bool desc);
void sg_sbx__list_release(struct sg_sbx__list *l);

/*
 * Reads sort_field / sort_order from the query; sort_field must be one of
 * allowed (comma-separated). Answers the error itself and returns false
 * on a bad value.
 */
bool sg_sbx__sort_opts(struct sg_sbx_call *c, const char *allowed,
                       const char *def_field, long err_code,
                       char field[32], bool *desc_out);
/*
 * One page of l as data {<name>: [view...], next_page_token, total_count};
 * view_fn renders each object (new reference). Answers itself; returns
 * false after an error.
 */
typedef json_t *(*sg_sbx__view_fn)(struct sg_sbx *s, const json_t *obj);
bool sg_sbx__answer_page(struct sg_sbx_call *c, const struct sg_sbx__list *l,
                         const char *name, sg_sbx__view_fn view_fn);
/* Time-range filters create_time_ge/_lt, update_time_ge/_lt of a body. */
bool sg_sbx__time_match(const json_t *obj, const json_t *filter);

/*
 * Idempotency (return_refund writes): when key is non-empty and obj has
 * already answered action+key, returns that answer (new reference).
 */
json_t *sg_sbx__idem_get(json_t *obj, const char *action, const char *key);
void sg_sbx__idem_put(json_t *obj, const char *action, const char *key,
                      const json_t *answer);

/* ---- orders (orders.c) ---- */

/* Order view as the API shows it; new reference. */
json_t *sg_sbx__order_view(struct sg_sbx *s, const json_t *order);
/*
 * Move order to status (no-op when equal): stamps update_time and the
 * status's own time, re-derives the line item fields and emits webhook 1.
 */
void sg_sbx__order_set_status(struct sg_sbx *s, json_t *order,
                              const char *status);
/*
 * Re-derive a paid, open order's status from its lines and packages
 * (AWAITING_SHIPMENT .. DELIVERED; schedules COMPLETED after delivery).
 */
void sg_sbx__order_refresh(struct sg_sbx *s, json_t *order);
/* The line item with id line_id of order, or NULL. Borrowed. */
json_t *sg_sbx__order_line(json_t *order, const char *line_id);
/* True when the line is cancelled. */
bool sg_sbx__line_cancelled(const json_t *line);
/*
 * Cancel the given line ids (NULL = every open line): listed stock goes
 * back, lines leave unshipped packages, and the order becomes CANCELLED
 * when no open line is left. Returns how many lines it cancelled.
 */
size_t sg_sbx__order_cancel_lines(struct sg_sbx *s, json_t *order,
                                  const json_t *line_ids, const char *who,
                                  const char *reason);
/* Shipping stage of a line: 0 not shipped, 1 shipped, 2 in transit,
 * 3 delivered. */
int sg_sbx__line_stage(struct sg_sbx *s, const json_t *line);

/* ---- fulfilment (fulfillment.c) ---- */

/* Remove line_id from its unshipped package (cancelling it if empty). */
void sg_sbx__package_drop_line(struct sg_sbx *s, const char *package_id,
                               const char *line_id);
/* Stage of a package (0 created .. 3 delivered, -1 cancelled/missing). */
int sg_sbx__package_stage(struct sg_sbx *s, const char *package_id);

/* ---- buyer side (returns.c), used by the traffic generator ---- */

/*
 * Buyer asks to cancel an unshipped order: a CANCELLATION_REQUEST_PENDING
 * cancellation. SG_ESTATE if the order cannot be cancelled.
 */
int sg_sbx__buyer_cancel(struct sg_sbx *s, json_t *order, const char *reason,
                         struct sg_err *err);
/*
 * Buyer asks for a return of every delivered line of order: return_type
 * "REFUND", "RETURN_AND_REFUND" or "REPLACEMENT". SG_ESTATE if the order
 * is not delivered or already has an open return.
 */
int sg_sbx__buyer_return(struct sg_sbx *s, json_t *order,
                         const char *return_type, const char *reason,
                         struct sg_err *err);
/*
 * The order's buyer writes to the shop (through the customer-service
 * module, which emits webhooks 13/14).
 */
int sg_sbx__buyer_message(struct sg_sbx *s, json_t *order, const char *text,
                          struct sg_err *err);

/*
 * sg_sbx_order_create without the answer's view: id_out gets the new
 * order's id. The order may be kept compact: sg_sbx__get(s, "orders", id,
 * ...) gives it as a tree.
 */
int sg_sbx__order_place(struct sg_sbx *s, const char *shop_id,
                        const json_t *lines, char id_out[24],
                        struct sg_err *err);
/*
 * The same from C (the traffic generator, without building JSON lines):
 * product_id and warehouse_id may be NULL (any); qty as asked for (the
 * JSON form's missing quantity is 1, a non-integer 0). Borrowed strings.
 */
struct sg_sbx__line_req {
    const char *product_id;
    const char *sku_id;
    const char *warehouse_id;
    int64_t qty;
};
int sg_sbx__order_place_lines(struct sg_sbx *s, const char *shop_id,
                              const struct sg_sbx__line_req *req, size_t n,
                              char id_out[24], struct sg_err *err);

/*
 * Compact orders (orders.c). An order the sandbox places is kept as a
 * small C struct, not a JSON tree, until something other than Get Order
 * Detail, Get Order List or the traffic generator's draws needs it; the
 * "orders" collection holds its slot number (a JSON integer) meanwhile.
 * sg_sbx__get on "orders" turns one into the tree it would have been
 * ("thaws" it, in place), sg_sbx_coll(s, "orders") thaws them all, and
 * sg_sbx__coll_raw (sandbox.c) gives a collection without thawing: only
 * code that knows about the integers may use it on "orders".
 */
json_t *sg_sbx__coll_raw(struct sg_sbx *s, const char *name);
/* SG_ENOMEM when some order could not be thawed (it stays compact). */
int sg_sbx__orders_thaw_all(struct sg_sbx *s, json_t *orders);
/* Drop every compact order (the state document is being replaced). */
void sg_sbx__orders_forget(struct sg_sbx *s);
/* Compact orders now and the bytes they take (tests, docs). */
void sg_sbx__orders_compact_stats(struct sg_sbx *s, size_t *n_out,
                                  size_t *bytes_out);

#endif
