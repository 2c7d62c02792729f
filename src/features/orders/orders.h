/*
 * orders.h - channel orders in Surge: the model, the normalisation of a
 * TikTok Shop order object, the status machine and the inventory each
 * order holds. Every change of an order runs inside one store write that
 * also moves its inventory (catalog.h's sg_inventory_*), so an order and
 * its reservations never disagree.
 *
 * Invariant: a version of an order is applied only when its channel
 * update_time is newer than the stored one, so redelivered and reordered
 * webhooks (and the reconciliation poll) converge on the newest state and
 * apply each change once. Money is integer minor units; ids from the
 * channel stay strings.
 */
#ifndef SG_FEATURES_ORDERS_H
#define SG_FEATURES_ORDERS_H

#include "core/sg.h"
#include "core/err.h"

#include <jansson.h>

struct sg_store;
struct sg_store_tx;

#define SG_ORD_ID_MAX      64   /* bytes of a channel id */
#define SG_ORD_LINES_MAX   500  /* line items in one order */
#define SG_ORD_LIST_MAX    500  /* rows in one list call */
#define SG_ORD_FETCH_BATCH 50   /* ids per order detail call */
#define SG_ORD_TEXT_MAX    1024 /* bytes kept of any free text field */

/* TikTok Shop's order statuses, in the order the machine moves. */
enum sg_order_status {
    SG_ORD_UNKNOWN = 0,
    SG_ORD_UNPAID,
    SG_ORD_ON_HOLD,
    SG_ORD_AWAITING_SHIPMENT,
    SG_ORD_PARTIALLY_SHIPPING,
    SG_ORD_AWAITING_COLLECTION,
    SG_ORD_IN_TRANSIT,
    SG_ORD_DELIVERED,
    SG_ORD_COMPLETED,
    SG_ORD_CANCELLED,
};
#define SG_ORD_STATUS_COUNT 10

/*
 * Names and parsers are inline: the storage backends (built below the
 * features library) share them.
 */
static inline const char *sg_order_status_name(int status)
{
    static const char *const names[SG_ORD_STATUS_COUNT] = {
        "UNKNOWN", "UNPAID", "ON_HOLD", "AWAITING_SHIPMENT",
        "PARTIALLY_SHIPPING", "AWAITING_COLLECTION", "IN_TRANSIT",
        "DELIVERED", "COMPLETED", "CANCELLED"};

    return status >= 0 && status < SG_ORD_STATUS_COUNT ? names[status]
                                                       : names[0];
}

/* SG_ORD_UNKNOWN for NULL or an unknown name. */
static inline int sg_order_status_parse(const char *name)
{
    for (int i = 1; name && i < SG_ORD_STATUS_COUNT; i++)
        if (strcmp(name, sg_order_status_name(i)) == 0)
            return i;
    return SG_ORD_UNKNOWN;
}

/* What a line holds of the inventory. */
enum sg_line_inv {
    SG_LINE_NONE = 0,     /* nothing held (order first seen cancelled) */
    SG_LINE_RESERVED,     /* reserved at the line's location */
    SG_LINE_COMMITTED,    /* shipped: left on_hand */
    SG_LINE_RELEASED,     /* reservation given back (cancelled) */
    SG_LINE_OVERSOLD,     /* the channel sold it, Surge had no stock */
};
#define SG_LINE_INV_COUNT 5

static inline const char *sg_line_inv_name(int inv)
{
    static const char *const names[SG_LINE_INV_COUNT] = {
        "none", "reserved", "committed", "released", "oversold"};

    return inv >= 0 && inv < SG_LINE_INV_COUNT ? names[inv] : names[0];
}

/* -1 for NULL or an unknown name. */
static inline int sg_line_inv_parse(const char *name)
{
    for (int i = 0; name && i < SG_LINE_INV_COUNT; i++)
        if (strcmp(name, sg_line_inv_name(i)) == 0)
            return i;
    return -1;
}

/* What to do with an order the channel accepted without Surge stock. */
enum sg_oversold_policy {
    SG_OVERSOLD_NOTIFY = 0,  /* flag it and tell [notify] url */
    SG_OVERSOLD_BACKORDER,   /* flag it, reserve when stock comes back */
    SG_OVERSOLD_CANCEL,      /* flag it and cancel it through the channel */
};
int sg_oversold_policy_parse(const char *name); /* -1 if unknown */
const char *sg_oversold_policy_name(int policy);

struct sg_order_line {
    int64_t id;                         /* 0 until stored */
    char channel_line_id[SG_ORD_ID_MAX + 1];
    char channel_sku_id[SG_ORD_ID_MAX + 1];
    char sku[65];                       /* seller_sku = Surge SKU */
    char *product_name;
    int64_t qty;                        /* one per line item on TikTok */
    int64_t unit_price;                 /* sale price, minor units */
    char status[24];                    /* channel display_status */
    char package_id[SG_ORD_ID_MAX + 1]; /* "" = not packed */
    char location[65];
    int inv;                            /* enum sg_line_inv */
};

struct sg_order {
    int64_t id;                          /* 0 until stored */
    int64_t tenant_id;
    char channel[32];                    /* "tiktok_shop" */
    char shop_id[SG_ORD_ID_MAX + 1];
    char channel_order_id[SG_ORD_ID_MAX + 1];
    int status;                          /* enum sg_order_status */
    int64_t create_time, update_time;    /* channel, Unix seconds */
    char currency[4];
    int64_t subtotal, shipping_fee, tax, total; /* minor units */
    char buyer_user_id[SG_ORD_ID_MAX + 1];
    char *buyer_email;                   /* masked relay address */
    char *buyer_nickname;
    char *recipient_name;                /* as the channel masks it */
    char *recipient_phone;               /* masked */
    char *address;                       /* full_address, masked */
    char region[8];
    char postal_code[24];
    char *package_ids;                   /* comma-separated, NULL = none */
    bool oversold;
    char oversold_action[24];            /* "", flagged, notified, ... */
    int64_t version;                     /* changes applied */
    int64_t created_at, updated_at;      /* ms, Surge's clock */
    struct sg_order_line *lines;
    size_t n_lines;
};

/* Defined in the store library (src/store/order_rows.c), so the store's
 * backends free orders with the same code. */
void sg_order_release(struct sg_order *o); /* NULL-safe, twice-safe */
void sg_order_line_release(struct sg_order_line *l); /* product_name */
void sg_order_list_free(struct sg_order *os, size_t n);

/*
 * Normalise one TikTok Shop order object (Get Order Detail) into out
 * (zeroed by the call): ids as strings, money parsed exactly in the
 * order's currency, lines from line_items[] (one unit each) at location.
 * SG_EINVAL names the field that is missing or malformed. Release out
 * either way.
 */
int sg_order_from_tts(struct sg_order *out, const json_t *j,
                      int64_t tenant_id, const char *shop_id,
                      const char *location, struct sg_err *err);

/* JSON view for the API and the CLI (money as decimal strings). */
json_t *sg_order_to_json(const struct sg_order *o, bool with_lines);

/* ---- inside a store write ---- */

struct sg_orders_opts {
    int oversold_policy;  /* enum sg_oversold_policy */
    const char *source;   /* "webhook", "poll", ... for order_events */
};

enum sg_order_outcome {
    SG_ORD_APPLIED_NEW = 1,   /* first seen */
    SG_ORD_APPLIED = 2,       /* a newer version applied */
    SG_ORD_STALE = 3,         /* older or same version: nothing changed */
};

/*
 * Apply one order version: insert or update it, its lines and one
 * order_events row, and move inventory in the same transaction:
 * first sight of a live order reserves every line (all or nothing; when
 * stock is short the order is flagged oversold and nothing is reserved),
 * a cancelled line or order releases, a shipped line commits. Versions
 * not newer than the stored one change nothing (*outcome_out STALE).
 * On return o->id is set and o->oversold says whether it is flagged.
 * *newly_oversold_out (may be NULL) is set when this call flagged it.
 */
int sg_orders_apply(struct sg_store_tx *tx, struct sg_order *o,
                    const struct sg_orders_opts *opts, int *outcome_out,
                    bool *newly_oversold_out, struct sg_err *err);

/*
 * Stock of sku was released or added inside this write: give it to the
 * oldest open orders still oversold on that SKU (up to SG_ORD_COVER_MAX),
 * each all or nothing. An order whose lines all hold stock again is no
 * longer oversold: its action becomes "covered" ("backorder_filled" for a
 * backorder), an order.oversold audit row records it, and covered (may be
 * NULL) is called with it inside the write. *n_out: orders covered.
 */
#define SG_ORD_COVER_MAX 16
typedef int sg_orders_covered_fn(struct sg_store_tx *tx,
                                 const struct sg_order *o, void *arg,
                                 struct sg_err *err);
int sg_orders_cover(struct sg_store_tx *tx, int64_t tenant_id,
                    const char *sku, sg_orders_covered_fn *covered, void *arg,
                    size_t *n_out, struct sg_err *err);

/* Record the channel's answer to an oversold order ("cancel_requested"). */
int sg_orders_set_oversold_action(struct sg_store_tx *tx, int64_t tenant_id,
                                  int64_t id, const char *action,
                                  struct sg_err *err);
/* Set the action only while it is still `from` (*swapped: it was). */
int sg_orders_swap_oversold_action(struct sg_store_tx *tx, int64_t tenant_id,
                                   int64_t id, const char *from,
                                   const char *to, bool *swapped,
                                   struct sg_err *err);
/*
 * Oversold orders of every tenant whose action is `action` and that last
 * changed at or before `before` (ms since epoch), oldest first, at most
 * max; headers only. sg_order_list_free(*out, *n_out).
 */
int sg_orders_oversold_due(struct sg_store *s, const char *action,
                           int64_t before, size_t max, struct sg_order **out,
                           size_t *n_out, struct sg_err *err);

/*
 * The fetch queue: order ids the channel told us about (webhook, poll)
 * whose detail must be read. mark is idempotent per (channel, shop, id);
 * update_time > 0 skips an id whose stored version is newer than that
 * (the same second is fetched again: two changes may share it).
 */
int sg_orders_fetch_mark(struct sg_store_tx *tx, int64_t tenant_id,
                         const char *channel, const char *shop_id,
                         const char *channel_order_id, int64_t update_time,
                         const char *reason, struct sg_err *err);
/* Remove the row only if no newer mark came since it was read (gen). */
int sg_orders_fetch_done(struct sg_store_tx *tx, const char *channel,
                         const char *shop_id, const char *channel_order_id,
                         int64_t gen, struct sg_err *err);
/* Count a failed attempt; drops the row after attempts_max. */
int sg_orders_fetch_failed(struct sg_store_tx *tx, const char *channel,
                           const char *shop_id, const char *channel_order_id,
                           int attempts_max, struct sg_err *err);

struct sg_order_fetch {
    int64_t tenant_id;
    char channel[32];
    char shop_id[SG_ORD_ID_MAX + 1];
    char channel_order_id[SG_ORD_ID_MAX + 1];
    char reason[32];      /* what asked for it: "webhook", "poll" */
    int attempts;
    int64_t gen;          /* bumped by every mark while queued */
};
/* Pending fetches, oldest first, at most max; sg_free(*out). */
int sg_orders_fetch_pending(struct sg_store *s, size_t max,
                            struct sg_order_fetch **out, size_t *n_out,
                            struct sg_err *err);

/* The fetch queue's backlog, every shop's: /metrics shows it. */
struct sg_order_backlog {
    int64_t n;                /* order ids waiting for their detail */
    int64_t oldest_queued_at; /* store clock, ms; 0 when n is 0 */
};
int sg_orders_fetch_backlog(struct sg_store *s, struct sg_order_backlog *out,
                            struct sg_err *err);

/* The reconciliation cursor of a shop: update_time already covered. */
int sg_orders_cursor_get(struct sg_store *s, const char *channel,
                         const char *shop_id, int64_t *update_time_out,
                         struct sg_err *err);
int sg_orders_cursor_set(struct sg_store_tx *tx, int64_t tenant_id,
                         const char *channel, const char *shop_id,
                         int64_t update_time, struct sg_err *err);

/* ---- reads ---- */

struct sg_order_filter {
    int status;          /* SG_ORD_UNKNOWN = any */
    int oversold;        /* -1 any, 0 no, 1 yes */
    const char *channel; /* NULL = any */
    int64_t after_id;    /* cursor: orders with id > after_id */
    size_t limit;        /* 1..SG_ORD_LIST_MAX */
};

/* By Surge id (lines included); SG_ENOTFOUND if not the tenant's. */
int sg_orders_get(struct sg_store *s, int64_t tenant_id, int64_t id,
                  struct sg_order *out, struct sg_err *err);
int sg_orders_get_by_channel(struct sg_store *s, int64_t tenant_id,
                             const char *channel,
                             const char *channel_order_id,
                             struct sg_order *out, struct sg_err *err);
/* Orders by id, without lines; sg_order_list_free(*out, *n_out). */
int sg_orders_list(struct sg_store *s, int64_t tenant_id,
                   const struct sg_order_filter *f, struct sg_order **out,
                   size_t *n_out, struct sg_err *err);

/*
 * The inventory check (reliability R6): for every level of the tenant
 * (0 = all tenants) on_hand = available + reserved + committed with none
 * negative, the ledger's deltas sum to on_hand, reserved and committed,
 * and the reserved units equal the order lines holding a reservation.
 * Each violation is one line of text in *report_out (sg_free; NULL when
 * clean); *levels_out counts the levels checked.
 */
int sg_inventory_check(struct sg_store *s, int64_t tenant_id,
                       size_t *levels_out, size_t *violations_out,
                       char **report_out, struct sg_err *err);

#endif
