/*
 * products.h - TikTok Shop product publishing on the wire (reference
 * 1.8, "Product"): request bodies for create / partial_edit / price /
 * inventory / activate / deactivate / delete / read-back, built from a
 * channel-neutral description of a product, and readers for the answers.
 * No I/O here: the engine sends these through the job dispatcher (or
 * sg_tts_call for one-off calls), so the builders are pure and unit
 * tested on their own.
 */
#ifndef SG_CONNECTORS_TIKTOK_SHOP_PRODUCTS_H
#define SG_CONNECTORS_TIKTOK_SHOP_PRODUCTS_H

#include "core/sg.h"
#include "core/err.h"

#include <jansson.h>

#define SG_TTS_PRODUCT_VERSION "202309"
#define SG_TTS_SKUS_MAX        100 /* per product, as TikTok allows */
#define SG_TTS_IDS_MAX         20  /* activate/deactivate/delete batch */

/* One SKU; strings borrowed. */
struct sg_tts_sku_in {
    const char *seller_sku;
    const char *price;          /* decimal text, "19.99" */
    const char *list_price;     /* compare-at; NULL = none */
    int64_t quantity;           /* what the channel may sell, >= 0 */
    const char *option_name[3]; /* sales attributes; NULL = none */
    const char *option_value[3];
    const char *sku_id;         /* the channel's id when known, else NULL */
};

/* A product as the channel should show it; strings borrowed. */
struct sg_tts_product_in {
    const char *title;
    const char *description;     /* HTML */
    const char *category_id;
    const char *currency;
    const char *external_id;     /* Surge's product id */
    const char *warehouse_id;    /* where quantities live */
    const char *const *images;   /* URLs, passed as uri */
    size_t n_images;
    const char *attributes;      /* JSON object {"name or id": "value"} */
    const json_t *category;      /* category object with "attributes"
                                    (id, name), to map names to ids; NULL */
    const char *certifications;  /* comma-separated ids, NULL = none */
    int64_t length_mm, width_mm, height_mm; /* 0 = unknown */
    int64_t grams;               /* -1 = unknown */
    const struct sg_tts_sku_in *skus;
    size_t n_skus;
};

/*
 * The create body (with idempotency_key when not NULL) or, for an edit
 * (partial_edit takes the same fields, each replacing the whole
 * property), the body without the key. with_skus false leaves "skus"
 * out, so an edit keeps the channel's SKUs, prices and stock. New
 * reference, NULL when out of memory or when the input is over the caps.
 */
json_t *sg_tts_product_body(const struct sg_tts_product_in *in,
                            const char *idempotency_key, bool with_skus);
/*
 * A fingerprint of what partial_edit would change (the body without
 * skus): 16 lowercase hex digits, stable for equal content. Returns 0,
 * or SG_ENOMEM (out is then "": a hash of a partial body would pass for
 * changed content).
 */
int sg_tts_product_hash(const struct sg_tts_product_in *in, char out[17]);

/* {"skus":[{"id","price":{"amount","currency"},"list_price"?}]} */
json_t *sg_tts_prices_body(const struct sg_tts_product_in *in);
/* {"skus":[{"id","inventory":[{"warehouse_id","quantity"}]}]} */
json_t *sg_tts_inventory_body(const struct sg_tts_product_in *in);
/* {"product_ids":[id]} for activate, deactivate, delete, inventory search */
json_t *sg_tts_ids_body(const char *product_id);

/* Paths ("/product/202309/products/<id>/prices/update", ...). */
int sg_tts_product_path(char *out, size_t len, const char *verb,
                        const char *product_id);

/*
 * Read a create/edit answer: product_id (into pid, 32 bytes) and the SKU
 * ids as {"<seller_sku>":"<sku id>"} (*skus_out, new reference).
 * SG_EINVAL when data lacks them.
 */
int sg_tts_parse_write(const json_t *data, char pid[32], json_t **skus_out,
                       struct sg_err *err);
/*
 * Per-item failures inside a code-0 answer (data.errors[]): returns how
 * many, and writes the first "code: message" into msg.
 */
size_t sg_tts_item_errors(const json_t *data, char *msg, size_t len);
/*
 * From an inventory search answer, the SKU quantities of product_id as
 * {"<seller_sku>": total_available}, or from a product get answer (data
 * of GET products/{id}) the same plus prices {"<seller_sku>":"19.99"}.
 * New references; absent map = NULL when the product is not listed.
 * Both return 0 or SG_ENOMEM (then every map is NULL).
 */
int sg_tts_parse_inventory(const json_t *data, const char *product_id,
                           json_t **qty_out, json_t **ids_out);
int sg_tts_parse_product(const json_t *data, json_t **qty_out,
                         json_t **price_out, json_t **ids_out,
                         const char **status_out);
/*
 * Audit failure reasons of a product get answer as one line
 * ("position: reason; ..."), written into out; 0 when none.
 */
size_t sg_tts_audit_reasons(const json_t *data, char *out, size_t len);

/* The connector's SG_CAP_CATALOG slots (see connector.h). */
struct sg_connector;
struct sg_conn_catalog_op;
int sg_tts__catalog_request(struct sg_connector *c,
                            const struct sg_conn_catalog_op *op,
                            char method_out[8], char **url_out,
                            struct sg_err *err);
int sg_tts__catalog_call(struct sg_connector *c, const char *access_token,
                         const struct sg_conn_catalog_op *op,
                         struct json_t **data_out, struct sg_err *err);

#endif
