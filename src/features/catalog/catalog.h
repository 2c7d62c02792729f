/*
 * catalog.h - Surge's catalog: products, their variants (one SKU each),
 * images and channel listings, plus the inventory ledger. The admin API,
 * the importer and (later) store webhooks all change the catalog through
 * the core functions below, which run inside a store write, so a change,
 * its ledger rows and its audit row commit together.
 *
 * Money is integer minor units of the product's ISO 4217 currency; text
 * is UTF-8. Invariant of every inventory level: on_hand >= 0, reserved >=
 * 0, committed >= 0 and on_hand >= reserved + committed, and every change
 * of a level writes one inventory_ledger row in the same transaction.
 */
#ifndef SG_FEATURES_CATALOG_H
#define SG_FEATURES_CATALOG_H

#include "core/sg.h"
#include "core/err.h"

#include <jansson.h>

struct sg_store;
struct sg_store_tx;

#define SG_CAT_SKU_MAX        64   /* bytes */
#define SG_CAT_HANDLE_MAX     255  /* bytes */
#define SG_CAT_TEXT_MAX       65536 /* bytes of any one text field */
#define SG_CAT_LOCATION_MAX   64
#define SG_CAT_CHANNEL_MAX    31
#define SG_CAT_OPTIONS        3
#define SG_CAT_VARIANTS_MAX   250
#define SG_CAT_IMAGES_MAX     250
#define SG_CAT_IMAGE_POS_MAX  100000 /* image positions are 1..this */
#define SG_CAT_QTY_MAX        INT64_C(1000000000)
#define SG_CAT_PRICE_MAX      INT64_C(100000000000) /* minor units */
#define SG_CAT_LIST_MAX       500

struct sg_variant {
    int64_t id;             /* 0 until stored */
    char *sku;              /* unique per tenant, 1..SG_CAT_SKU_MAX bytes */
    int position;           /* 1-based order inside the product */
    char *option[SG_CAT_OPTIONS]; /* values; NULL past the product's options */
    int64_t price;          /* minor units */
    int64_t compare_at;     /* minor units; 0 = none */
    int64_t cost;           /* minor units; -1 = unknown */
    char *barcode;          /* NULL = none */
    int64_t grams;          /* -1 = unknown */
    char weight_unit[4];    /* g, kg, lb or oz: how to show the weight */
    char *image;            /* URL, NULL = none */
    /*
     * Input only: on_hand to set at the default location; -1 = leave the
     * level alone. Reads leave it -1 (see sg_inventory_levels).
     */
    int64_t inventory;
};

struct sg_image {
    char *src;
    char *alt;    /* NULL = none */
    int position; /* 1-based */
};

struct sg_product {
    int64_t id;             /* 0 until stored */
    int64_t tenant_id;
    char *handle;           /* unique per tenant */
    char *title;
    char *body_html;        /* NULL = none */
    char *vendor;
    char *product_type;     /* the store's own "Type" */
    char *category;         /* e.g. "Home & Garden > Kitchen > Cookware" */
    char *tags;             /* "a, b, c": trimmed, in file order */
    char *option_name[SG_CAT_OPTIONS];
    char status[12];        /* active, draft or archived */
    bool published;
    char currency[4];       /* ISO 4217 */
    int64_t length_mm, width_mm, height_mm; /* package; 0 = unknown */
    char *attributes;       /* canonical JSON object text, NULL = none */
    char *certifications;   /* comma-separated ids, NULL = none */
    struct sg_variant *variants;
    size_t n_variants;
    struct sg_image *images;
    size_t n_images;
    int64_t created_at, updated_at;
};

/* A channel listing's state, as the connector records it. */
struct sg_listing {
    char channel[SG_CAT_CHANNEL_MAX + 1];
    char status[24];        /* draft, pending, live, rejected, invalid, ... */
    char *reason;           /* NULL = none */
    int64_t updated_at;
};

struct sg_inv_level {
    char sku[SG_CAT_SKU_MAX + 1];
    char location[SG_CAT_LOCATION_MAX + 1];
    int64_t on_hand, reserved, committed;
    int64_t updated_at;
};

/* One movement: deltas applied to one level, with why and what caused it. */
struct sg_inv_move {
    const char *sku;
    const char *location;
    int64_t d_on_hand, d_reserved, d_committed;
    const char *reason;     /* "import", "recount", "reserve", ... */
    const char *cause_ref;  /* e.g. "order:123"; NULL = none */
};

/* What a price change needs to know about a SKU's variant. */
struct sg_variant_price {
    int64_t product_id, variant_id;
    int64_t price, compare_at; /* minor units; compare_at 0 = none */
    char currency[4];
};

struct sg_ledger_row {
    int64_t id;
    char sku[SG_CAT_SKU_MAX + 1];
    char location[SG_CAT_LOCATION_MAX + 1];
    int64_t d_on_hand, d_reserved, d_committed;
    char reason[64];
    char cause_ref[128];
    int64_t at;
};

/* ---- the model (no I/O) ---- */

/* Free what p owns and zero it; NULL-safe, and safe twice. */
void sg_product_release(struct sg_product *p);
void sg_product_list_free(struct sg_product *ps, size_t n);
void sg_listing_list_free(struct sg_listing *ls, size_t n);
/* Grow p->variants by one zeroed variant (cost, grams, inventory = -1). */
int sg_product_add_variant(struct sg_product *p, struct sg_variant **out);
int sg_product_add_image(struct sg_product *p, const char *src, size_t len,
                         const char *alt, int position);

/*
 * Set *field to a copy of (s, len) (NULL when len is 0), freeing the old
 * value. Returns 0 or SG_ENOMEM.
 */
int sg_cat_set_str(char **field, const char *s, size_t len);

/*
 * Money. Parse an exact decimal ("19.99", "1,299.00" is refused) into
 * minor units of currency; more decimals than the currency has (JPY: 0,
 * USD: 2, KWD: 3) is an error, fewer are padded. No floating point.
 * sg_money_format writes "19.99" (or "-1.50") into out.
 */
int sg_currency_digits(const char *currency); /* -1 if not ISO 4217-shaped */
int sg_money_parse(int64_t *minor_out, const char *s, size_t len,
                   const char *currency, struct sg_err *err);
void sg_money_format(int64_t minor, const char *currency, char *out,
                     size_t out_len);

/*
 * Check a product's own shape (not a channel's rules): handle, title,
 * status, currency, 1..SG_CAT_VARIANTS_MAX variants with distinct SKUs,
 * option values matching option names, prices 0..SG_CAT_PRICE_MAX. On
 * failure returns SG_EINVAL, with err->msg "<field>: <what is wrong>"
 * and *field_out (may be NULL) the field's name.
 */
int sg_product_check(const struct sg_product *p, const char **field_out,
                     struct sg_err *err);

/*
 * JSON view (the documented schema in docs/import-formats.md). With
 * with_ids the stored ids and times are included; without, the view is
 * the product's content only (what "unchanged" compares). New reference.
 */
json_t *sg_product_to_json(const struct sg_product *p, bool with_ids);
/*
 * Fill p (which must be zeroed) from the JSON schema; currency is the
 * default when the document has none. On SG_EINVAL err->msg names the
 * field path ("variants[1].price: ...") and *path_out (if not NULL, a
 * buffer of path_len) receives the path alone. Release p either way.
 */
int sg_product_from_json(struct sg_product *p, const json_t *j,
                         const char *currency, char *path_out,
                         size_t path_len, struct sg_err *err);
/*
 * Whether a and b have the same content (ids and times ignored):
 * sg_product_compare returns 0 with *same_out, or SG_ENOMEM (the
 * comparison itself needs memory, so "different" is not a safe answer
 * when it fails); sg_product_same is false in that case too.
 */
int sg_product_compare(const struct sg_product *a, const struct sg_product *b,
                       bool *same_out);
bool sg_product_same(const struct sg_product *a, const struct sg_product *b);

/* ---- core functions: inside a store write (sg_store_write_fn) ---- */

enum sg_cat_outcome {
    SG_CAT_UNCHANGED = 0,
    SG_CAT_CREATED = 1,
    SG_CAT_UPDATED = 2,
};
const char *sg_cat_outcome_name(int outcome);

/*
 * Create or replace a whole product. It is matched by p->id when set
 * (SG_ENOTFOUND if that id is not the tenant's), else by handle.
 * Variants are matched by SKU, so a variant keeps its id across updates;
 * variants and images missing from p are removed. Each variant with
 * inventory >= 0 sets on_hand at location (reason "import" or the given
 * one). On return p->id and variant ids are set and *outcome_out says
 * what happened. Errors: SG_EINVAL (shape, err says the field),
 * SG_EEXISTS (a SKU belongs to another product), SG_ESTATE (on_hand would
 * go below reserved + committed). Those refusals are found before
 * anything is written, so after them nothing has changed; after any other
 * error the caller's write must fail so partial changes roll back.
 */
int sg_catalog_put(struct sg_store_tx *tx, struct sg_product *p,
                   const char *location, const char *reason,
                   int *outcome_out, struct sg_err *err);
/* Remove a product and its variants (inventory levels and ledger stay). */
int sg_catalog_delete(struct sg_store_tx *tx, int64_t tenant_id, int64_t id,
                      struct sg_err *err);
/* Load a product (with variants, images) through the writer. */
int sg_catalog_tx_get(struct sg_store_tx *tx, int64_t tenant_id, int64_t id,
                      struct sg_product *out, struct sg_err *err);
/* Find the product holding variant_id (or sku when variant_id is 0). */
int sg_catalog_tx_locate(struct sg_store_tx *tx, int64_t tenant_id,
                         int64_t variant_id, const char *sku,
                         int64_t *product_id_out, int64_t *variant_id_out,
                         struct sg_err *err);
/* Record a channel listing state for a product. */
int sg_catalog_listing_set(struct sg_store_tx *tx, int64_t tenant_id,
                           int64_t product_id, const char *channel,
                           const char *status, const char *reason,
                           struct sg_err *err);

/*
 * The outbox hook: called (inside the same transaction) after every
 * catalog change a channel must hear about: what is "product",
 * "inventory", "price", "listing" or "delete". When the tenant has an
 * active TikTok Shop connection it enqueues a SG_CATALOG_SYNC_KIND job
 * with coalesce key "cat:tiktok_shop:<tenant>:<product_id>" and payload
 * {"product_id":N}; an inventory change that leaves a SKU with nothing
 * available while the channel still shows units for it
 * (sg_listings_tx_sku_zero) gets SG_CATALOG_SYNC_PRIO_ZERO. "listing" (the channel's own
 * answer) enqueues nothing. See docs/publishing.md. Returns 0 or SG_E*.
 */
#define SG_CATALOG_SYNC_KIND      "catalog.sync"
#define SG_CATALOG_SYNC_CHANNEL   "tiktok_shop"
#define SG_CATALOG_SYNC_PRIO_ZERO 10
int sg_catalog_changed(struct sg_store_tx *tx, int64_t tenant_id,
                       int64_t product_id, const char *what,
                       struct sg_err *err);
/*
 * The coalescing window of those jobs in ms (0, the default, = none): a
 * job the hook creates is due this long after the change, and the
 * product's further changes inside the window fold into it (the queued
 * job keeps its due time). A zero-stock job is due at once. Process-wide,
 * like the job kind's environment: surge serve sets it from [tiktok_shop]
 * sync_window before it accepts writes.
 */
void sg_catalog_sync_window_set(int64_t window_ms);

/*
 * Inventory. sg_inventory_set sets on_hand of (sku, location) and writes
 * the ledger row (nothing when it already has that value; *changed_out
 * says which); SG_ESTATE when on_hand < reserved + committed.
 */
int sg_inventory_set(struct sg_store_tx *tx, int64_t tenant_id,
                     const char *sku, const char *location, int64_t on_hand,
                     const char *reason, const char *cause_ref,
                     bool *changed_out, struct sg_err *err);

/*
 * A relative change of on_hand (a stock receipt, a write-off): reads the
 * level inside the write, so it never loses a movement made between a
 * client's read and its write, as a set computed from a stale read would.
 * delta is -SG_CAT_QTY_MAX..SG_CAT_QTY_MAX; SG_ESTATE when on_hand would
 * fall below reserved + committed (or 0), SG_EINVAL when it would pass
 * SG_CAT_QTY_MAX. *on_hand_out and *changed_out (either may be NULL) are
 * the level after it and whether it moved.
 */
int sg_inventory_adjust(struct sg_store_tx *tx, int64_t tenant_id,
                        const char *sku, const char *location, int64_t delta,
                        const char *reason, const char *cause_ref,
                        int64_t *on_hand_out, bool *changed_out,
                        struct sg_err *err);

/*
 * Bulk changes (admin API PUT /api/v1/inventory and PUT /api/v1/prices,
 * and any feed that sends many at once): up to SG_CAT_BULK_MAX items in
 * one write, applied in order (a SKU named twice ends at its last item),
 * all or nothing. Every item is checked before the first one is applied;
 * on a refusal *bad_out is the index of the item at fault, err says what
 * is wrong, and nothing has been written: SG_EINVAL (a bad value),
 * SG_ENOTFOUND (no such SKU), SG_ESTATE (on_hand below reserved +
 * committed). After the last item each changed product gets one
 * sg_catalog_changed call, so its sync job sees the final state and is
 * enqueued once however many of its SKUs changed.
 */
#define SG_CAT_BULK_MAX 1000

struct sg_inv_set {
    const char *sku;
    const char *location; /* NULL = the location argument */
    int64_t on_hand;
    const char *reason;   /* required, 1..64 bytes */
    /* Out. */
    int64_t product_id;
    bool changed;
};
int sg_inventory_set_many(struct sg_store_tx *tx, int64_t tenant_id,
                          struct sg_inv_set *items, size_t n,
                          const char *location, const char *cause_ref,
                          size_t *bad_out, struct sg_err *err);

struct sg_price_set {
    const char *sku;
    const char *price;      /* decimal text in the product's currency */
    size_t price_len;
    const char *compare_at; /* decimal text; NULL = leave it as it is */
    size_t compare_at_len;
    bool clear_compare_at;  /* remove the compare-at price */
    /* Out. */
    struct sg_variant_price now; /* the prices after the change */
    bool changed;
};
int sg_catalog_prices_set(struct sg_store_tx *tx, int64_t tenant_id,
                          struct sg_price_set *items, size_t n,
                          size_t *bad_out, struct sg_err *err);

struct sg_inv_line {
    const char *sku;
    const char *location;
    int64_t qty; /* > 0 */
};
#define SG_INV_LINES_MAX 500

/*
 * Reserve, release or commit the lines of one request, all or nothing:
 * lines naming the same (sku, location) are summed first. reserve fails
 * with SG_ESTATE (naming the SKU) when available would go negative;
 * release fails when reserved would; commit moves units from reserved to
 * committed and then out of on_hand (a shipped unit), failing when
 * reserved is short. Nothing is changed on failure.
 */
int sg_inventory_reserve(struct sg_store_tx *tx, int64_t tenant_id,
                         const struct sg_inv_line *lines, size_t n,
                         const char *cause_ref, struct sg_err *err);
int sg_inventory_release(struct sg_store_tx *tx, int64_t tenant_id,
                         const struct sg_inv_line *lines, size_t n,
                         const char *cause_ref, struct sg_err *err);
int sg_inventory_commit(struct sg_store_tx *tx, int64_t tenant_id,
                        const struct sg_inv_line *lines, size_t n,
                        const char *cause_ref, struct sg_err *err);

/* ---- reads (reader connections) ---- */

int sg_catalog_get(struct sg_store *s, int64_t tenant_id, int64_t id,
                   struct sg_product *out, struct sg_err *err);
int sg_catalog_get_by_handle(struct sg_store *s, int64_t tenant_id,
                             const char *handle, struct sg_product *out,
                             struct sg_err *err);
/* Products with id > after_id, by id, at most limit (<= SG_CAT_LIST_MAX). */
int sg_catalog_list(struct sg_store *s, int64_t tenant_id, int64_t after_id,
                    size_t limit, struct sg_product **out, size_t *n_out,
                    struct sg_err *err);
int sg_catalog_listings(struct sg_store *s, int64_t tenant_id,
                        int64_t product_id, struct sg_listing **out,
                        size_t *n_out, struct sg_err *err);
int sg_catalog_locate(struct sg_store *s, int64_t tenant_id,
                      int64_t variant_id, const char *sku,
                      int64_t *product_id_out, int64_t *variant_id_out,
                      struct sg_err *err);
/* Every location's level of sku; *out is sg_free'd by the caller. */
int sg_inventory_levels(struct sg_store *s, int64_t tenant_id,
                        const char *sku, struct sg_inv_level **out,
                        size_t *n_out, struct sg_err *err);
/*
 * What orders whose ledger cause starts with prefix ("order:tiktok_shop:")
 * hold of sku since ledger row after_id: units reserved less released
 * (*net_out), and the id of sku's last ledger row (*last_out; after_id if
 * there is none since). after_id < 0 reads only the last id.
 */
int sg_inventory_ledger_net(struct sg_store *s, int64_t tenant_id,
                            const char *sku, int64_t after_id,
                            const char *prefix, int64_t *net_out,
                            int64_t *last_out, struct sg_err *err);
/* Ledger rows of sku (NULL = all) with id > after_id; sg_free(*out). */
int sg_inventory_ledger(struct sg_store *s, int64_t tenant_id,
                        const char *sku, int64_t after_id, size_t limit,
                        struct sg_ledger_row **out, size_t *n_out,
                        struct sg_err *err);

#endif
