/*
 * import.h - catalog import: parse a Shopify products export (CSV) or
 * Surge's own JSON Lines into products, then write each product in its
 * own store write, so a product is imported whole or not at all and one
 * bad product does not stop the others. Parsing does no I/O; the file's
 * bytes come from the caller.
 *
 * Every problem becomes a message "file:line: column: what"; a product
 * with an error is rejected, the others go on. Re-importing the same
 * file changes nothing (each product reports "unchanged").
 */
#ifndef SG_FEATURES_CATALOG_IMPORT_H
#define SG_FEATURES_CATALOG_IMPORT_H

#include "features/catalog/catalog.h"

enum sg_import_format {
    SG_IMPORT_SHOPIFY_CSV = 0,
    SG_IMPORT_JSONL = 1,
};

/* "shopify-csv" or "jsonl" to the enum; -1 if unknown. */
int sg_import_format_parse(const char *name);
/* From the file name: *.jsonl / *.ndjson are jsonl, the rest CSV. */
int sg_import_format_guess(const char *path);

#define SG_IMPORT_MSGS_MAX  10000
#define SG_IMPORT_ITEMS_MAX 100000

struct sg_import_msg {
    long line;
    bool warning;       /* false: its product is rejected */
    char column[64];    /* CSV column name, or JSON path */
    char text[240];
};

struct sg_import_item {
    struct sg_product p;
    long line;          /* where the product starts */
    bool rejected;
    int outcome;        /* enum sg_cat_outcome, after apply */
};

struct sg_import {
    char file[256];     /* the name used in messages */
    struct sg_import_item *items;
    size_t n_items;
    struct sg_import_msg *msgs;
    size_t n_msgs;
    size_t n_errors, n_warnings;
    size_t msgs_dropped; /* past SG_IMPORT_MSGS_MAX */
    bool out_of_memory;  /* a message was lost: parse/apply fail */
    size_t created, updated, unchanged, rejected;
};

void sg_import_init(struct sg_import *imp, const char *file_name);
void sg_import_release(struct sg_import *imp);

/*
 * Parse data (len bytes) in format. Products without a currency get
 * currency. Returns 0 when the file could be read as a whole (even with
 * rejected products), or SG_EINVAL when it cannot be used at all (e.g. a
 * CSV without a Handle column; err says why), SG_ELIMIT, SG_ENOMEM.
 */
int sg_import_parse(struct sg_import *imp, int format, const char *data,
                    size_t len, const char *currency, struct sg_err *err);

/*
 * Write every product that parsed, one store write each, for tenant_id;
 * inventory quantities land at location. With dry_run every write is
 * rolled back after it worked out its outcome, so the summary is exact
 * and nothing changes. Fills the counters and item outcomes; a product
 * the store refuses (a SKU of another product, stock below reserved)
 * gets a message and counts as rejected. Returns 0, or an error when the
 * store itself fails (err set).
 */
int sg_import_apply(struct sg_import *imp, struct sg_store *s,
                    int64_t tenant_id, const char *location, bool dry_run,
                    struct sg_err *err);

#endif
