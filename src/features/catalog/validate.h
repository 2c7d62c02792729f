/*
 * validate.h - compliance checks before a product is published to a
 * channel. The rules are data: TikTok Shop category rules (the shape of
 * the categories API: attributes with is_requried, rules with
 * package_dimension and product_certifications), a category map from the
 * store's own category/type to channel category ids, prohibited terms,
 * the shop's currency and the length and image limits. A product with
 * any issue is not published; each issue says why.
 */
#ifndef SG_FEATURES_CATALOG_VALIDATE_H
#define SG_FEATURES_CATALOG_VALIDATE_H

#include "features/catalog/catalog.h"

struct sg_config;

#define SG_CAT_TERMS_MAX 256

struct sg_catalog_rules {
    char currency[4];
    json_t *categories;   /* {"categories":[...]}; NULL = not loaded */
    json_t *map;          /* {"store category or type": "channel id"} */
    char *terms[SG_CAT_TERMS_MAX]; /* lowercased prohibited terms */
    size_t n_terms;
    unsigned title_max;       /* characters */
    unsigned description_max; /* characters */
    unsigned images_min, images_max;
};

/* Defaults: USD, no categories, no map, no terms, 255/10000/1/9. */
void sg_catalog_rules_init(struct sg_catalog_rules *r);
void sg_catalog_rules_release(struct sg_catalog_rules *r);
/*
 * From the [catalog] section: reads category_rules (JSON) and
 * category_map (text) when set. SG_ECONFIG with err "file:line: what"
 * when a file is unreadable or malformed. Release r either way.
 */
int sg_catalog_rules_load(struct sg_catalog_rules *r,
                          const struct sg_config *cfg, struct sg_err *err);
/* Comma-separated terms, trimmed and lowercased; replaces the list. */
int sg_catalog_rules_set_terms(struct sg_catalog_rules *r, const char *csv);
/*
 * Parse a category map: one "store category or type = channel id" per
 * line, '#' starts a comment. SG_EINVAL with err "file:line: ...".
 */
int sg_catalog_map_parse(json_t **out, const char *text, size_t len,
                         const char *file, struct sg_err *err);
/* The channel category id for p, or NULL when unmapped (borrowed). */
const char *sg_catalog_map_lookup(const struct sg_catalog_rules *r,
                                  const struct sg_product *p);

/*
 * The report for one product on channel ("tiktok_shop"): {"product_id",
 * "handle", "channel", "valid", "category_id", "issues":[{"field",
 * "code", "message"}]}. New reference; NULL only when out of memory.
 */
json_t *sg_catalog_validate(const struct sg_catalog_rules *r,
                            const struct sg_product *p, const char *channel);

#endif
