/*
 * products.c - TikTok Shop product bodies and answers (products.h). Every
 * builder is pure: a channel-neutral description in, a JSON body out,
 * capped at SG_TTS_SKUS_MAX SKUs. Quantities go to one warehouse.
 */
#include "core/sg.h"

#include "core/alloc.h"
#include "core/json.h"
#include "connectors/tiktok_shop/products.h"
#include "connectors/tiktok_shop/tiktok_shop.h"

/* Larger than any stock count a listing can carry; a sum past it is junk. */
#define QTY_MAX INT64_C(1000000000)

static json_t *images_json(const struct sg_tts_product_in *in)
{
    json_t *a = json_array();

    for (size_t i = 0; a && i < in->n_images; i++)
        json_array_append_new(a, json_pack("{s:s}", "uri", in->images[i]));
    return a;
}

/* The attribute id for a name (or an id given as is). */
static const char *attr_id(const json_t *category, const char *key)
{
    size_t i;
    json_t *a;

    json_array_foreach(json_object_get(category, "attributes"), i, a) {
        const char *id = sg_json_str(a, "id");
        const char *name = sg_json_str(a, "name");

        if (id && strcmp(id, key) == 0)
            return id;
        if (id && name && strcasecmp(name, key) == 0)
            return id;
    }
    return key;
}

static json_t *attributes_json(const struct sg_tts_product_in *in)
{
    json_t *src = NULL, *out = json_array(), *v;
    const char *k;

    if (!in->attributes || !out)
        return out;
    src = sg_json_loads(in->attributes, 0, NULL);
    json_object_foreach(src, k, v) {
        if (!json_is_string(v))
            continue;
        json_array_append_new(
            out, json_pack("{s:s,s:[{s:s}]}", "id", attr_id(in->category, k),
                           "values", "name", json_string_value(v)));
    }
    json_decref(src);
    return out;
}

static json_t *certs_json(const char *csv)
{
    json_t *out = json_array();
    const char *p = csv;

    while (out && p && *p) {
        size_t n = strcspn(p, ",");
        size_t a = 0, b = n;

        while (a < b && p[a] == ' ')
            a++;
        while (b > a && p[b - 1] == ' ')
            b--;
        if (b > a)
            json_array_append_new(out, json_pack("{s:s%}", "id", p + a,
                                                 b - a));
        p += n;
        if (*p == ',')
            p++;
    }
    return out;
}

static void dim(char *out, size_t len, int64_t mm)
{
    /* Centimetres with one decimal, exact from millimetres. */
    snprintf(out, len, "%" PRId64 ".%" PRId64, mm / 10, mm % 10);
}

static json_t *sku_json(const struct sg_tts_product_in *in,
                        const struct sg_tts_sku_in *s)
{
    json_t *o = json_pack("{s:s,s:{s:s,s:s},s:[{s:s,s:I}]}", "seller_sku",
                          s->seller_sku, "price", "amount", s->price,
                          "currency", in->currency, "inventory",
                          "warehouse_id", in->warehouse_id, "quantity",
                          (json_int_t)(s->quantity < 0 ? 0 : s->quantity));
    json_t *attrs = json_array();

    for (size_t i = 0; o && attrs && i < 3; i++)
        if (s->option_name[i] && s->option_value[i])
            json_array_append_new(attrs,
                                  json_pack("{s:s,s:s}", "name",
                                            s->option_name[i], "value_name",
                                            s->option_value[i]));
    if (o && json_array_size(attrs))
        json_object_set(o, "sales_attributes", attrs);
    json_decref(attrs);
    if (o && s->sku_id)
        json_object_set_new(o, "id", json_string(s->sku_id));
    if (o && s->list_price)
        json_object_set_new(o, "list_price",
                            json_pack("{s:s,s:s}", "amount", s->list_price,
                                      "currency", in->currency));
    return o;
}

json_t *sg_tts_product_body(const struct sg_tts_product_in *in,
                            const char *idempotency_key, bool with_skus)
{
    unsigned long mark = sg_json_alloc_failures();
    json_t *o, *skus;
    char ext[40];

    if (in->n_skus == 0 || in->n_skus > SG_TTS_SKUS_MAX)
        return NULL;
    o = json_pack("{s:s,s:s,s:s,s:o,s:o,s:o,s:s}", "title", in->title,
                  "description", in->description ? in->description : "",
                  "category_id", in->category_id ? in->category_id : "",
                  "main_images", images_json(in), "product_attributes",
                  attributes_json(in), "certifications",
                  certs_json(in->certifications), "save_mode", "LISTING");
    if (!o)
        return NULL;
    if (in->length_mm > 0 && in->width_mm > 0 && in->height_mm > 0) {
        char l[24], w[24], h[24];

        dim(l, sizeof(l), in->length_mm);
        dim(w, sizeof(w), in->width_mm);
        dim(h, sizeof(h), in->height_mm);
        json_object_set_new(o, "package_dimensions",
                            json_pack("{s:s,s:s,s:s,s:s}", "length", l,
                                      "width", w, "height", h, "unit",
                                      "CENTIMETER"));
    }
    if (in->grams >= 0) {
        char g[24];

        snprintf(g, sizeof(g), "%" PRId64, in->grams);
        json_object_set_new(o, "package_weight",
                            json_pack("{s:s,s:s}", "value", g, "unit",
                                      "GRAM"));
    }
    if (in->external_id) {
        snprintf(ext, sizeof(ext), "%s", in->external_id);
        json_object_set_new(o, "external_product_id", json_string(ext));
    }
    if (with_skus) {
        skus = json_array();
        for (size_t i = 0; skus && i < in->n_skus; i++)
            json_array_append_new(skus, sku_json(in, &in->skus[i]));
        json_object_set_new(o, "skus", skus);
    }
    if (idempotency_key)
        json_object_set_new(o, "idempotency_key",
                            json_string(idempotency_key));
    /*
     * A SKU, an attribute or the package lost to a failed allocation
     * would go to TikTok as if the product had none: no body instead.
     */
    return sg_json_built(o, mark);
}

int sg_tts_product_hash(const struct sg_tts_product_in *in, char out[17])
{
    json_t *b = sg_tts_product_body(in, NULL, false);
    char *text = b ? sg_json_dump(b, NULL) : NULL;
    uint64_t h = UINT64_C(1469598103934665603);

    out[0] = '\0';
    if (!text) {
        json_decref(b);
        return SG_ENOMEM;
    }
    /* FNV-1a: a change detector, not a security boundary. */
    for (const char *p = text; p && *p; p++) {
        h ^= (unsigned char)*p;
        h *= UINT64_C(1099511628211);
    }
    /* The SKU list (not prices or stock) is content too. */
    for (size_t i = 0; i < in->n_skus; i++)
        for (const char *p = in->skus[i].seller_sku; p && *p; p++) {
            h ^= (unsigned char)*p;
            h *= UINT64_C(1099511628211);
        }
    snprintf(out, 17, "%016" PRIx64, h);
    sg_free(text);
    json_decref(b);
    return 0;
}

json_t *sg_tts_prices_body(const struct sg_tts_product_in *in)
{
    unsigned long mark = sg_json_alloc_failures();
    json_t *skus = json_array();

    for (size_t i = 0; skus && i < in->n_skus && i < SG_TTS_SKUS_MAX; i++) {
        const struct sg_tts_sku_in *s = &in->skus[i];
        json_t *o;

        if (!s->sku_id)
            continue;
        o = json_pack("{s:s,s:{s:s,s:s}}", "id", s->sku_id, "price",
                      "amount", s->price, "currency", in->currency);
        if (o && s->list_price)
            json_object_set_new(o, "list_price",
                                json_pack("{s:s,s:s}", "amount",
                                          s->list_price, "currency",
                                          in->currency));
        json_array_append_new(skus, o);
    }
    /* A price left out would keep the old one on the channel. */
    return sg_json_built(skus ? json_pack("{s:o}", "skus", skus) : NULL,
                         mark);
}

json_t *sg_tts_inventory_body(const struct sg_tts_product_in *in)
{
    unsigned long mark = sg_json_alloc_failures();
    json_t *skus = json_array();

    for (size_t i = 0; skus && i < in->n_skus && i < SG_TTS_SKUS_MAX; i++) {
        const struct sg_tts_sku_in *s = &in->skus[i];

        if (!s->sku_id)
            continue;
        json_array_append_new(
            skus, json_pack("{s:s,s:[{s:s,s:I}]}", "id", s->sku_id,
                            "inventory", "warehouse_id", in->warehouse_id,
                            "quantity",
                            (json_int_t)(s->quantity < 0 ? 0 : s->quantity)));
    }
    /* A quantity left out would keep the old stock on the channel. */
    return sg_json_built(skus ? json_pack("{s:o}", "skus", skus) : NULL,
                         mark);
}

json_t *sg_tts_ids_body(const char *product_id)
{
    return json_pack("{s:[s]}", "product_ids", product_id);
}

int sg_tts_product_path(char *out, size_t len, const char *verb,
                        const char *product_id)
{
    const char *v = SG_TTS_PRODUCT_VERSION;
    int n;

    if (strcmp(verb, "create") == 0 || strcmp(verb, "delete") == 0)
        n = snprintf(out, len, "/product/%s/products", v);
    else if (strcmp(verb, "activate") == 0 ||
             strcmp(verb, "deactivate") == 0)
        n = snprintf(out, len, "/product/%s/products/%s", v, verb);
    else if (strcmp(verb, "inventory_search") == 0)
        n = snprintf(out, len, "/product/%s/inventory/search", v);
    else if (!product_id || !*product_id)
        return SG_EINVAL;
    else if (strcmp(verb, "get") == 0)
        n = snprintf(out, len, "/product/%s/products/%s", v, product_id);
    else if (strcmp(verb, "partial_edit") == 0)
        n = snprintf(out, len, "/product/%s/products/%s/partial_edit", v,
                     product_id);
    else if (strcmp(verb, "price") == 0)
        n = snprintf(out, len, "/product/%s/products/%s/prices/update", v,
                     product_id);
    else if (strcmp(verb, "inventory") == 0)
        n = snprintf(out, len, "/product/%s/products/%s/inventory/update",
                     v, product_id);
    else
        return SG_EINVAL;
    return n < 0 || (size_t)n >= len ? SG_ELIMIT : 0;
}

static json_t *sku_ids(const json_t *skus)
{
    unsigned long mark = sg_json_alloc_failures();
    json_t *ids = json_object(), *s;
    size_t i;

    json_array_foreach(skus, i, s) {
        const char *id = sg_json_str(s, "id");
        const char *ss = sg_json_str(s, "seller_sku");

        if (ids && id && ss)
            json_object_set_new(ids, ss, json_string(id));
    }
    /* A SKU id left out would make Surge create that SKU again. */
    return sg_json_built(ids, mark);
}

int sg_tts_parse_write(const json_t *data, char pid[32], json_t **skus_out,
                       struct sg_err *err)
{
    const char *id = sg_json_str(data, "product_id");

    *skus_out = NULL;
    if (!id || !*id || strlen(id) >= 32)
        return sg_err_set(err, SG_EINVAL, "answer without product_id");
    snprintf(pid, 32, "%s", id);
    *skus_out = sku_ids(json_object_get(data, "skus"));
    return *skus_out ? 0 : sg_err_set(err, SG_ENOMEM, "out of memory");
}

size_t sg_tts_item_errors(const json_t *data, char *msg, size_t len)
{
    json_t *errs = json_object_get(data, "errors");
    json_t *e0 = json_array_get(errs, 0);

    if (len)
        msg[0] = '\0';
    if (e0 && len) {
        json_t *extra = json_array_get(
            json_object_get(json_object_get(e0, "detail"), "extra_errors"),
            0);
        const json_t *src = extra ? extra : e0;

        snprintf(msg, len, "%" JSON_INTEGER_FORMAT ": %s",
                 json_integer_value(json_object_get(src, "code")),
                 sg_json_str(src, "message") ? sg_json_str(src, "message")
                                             : "");
    }
    return json_array_size(errs);
}

/* Both maps, or neither and SG_ENOMEM when an allocation failed. */
static int maps_built(json_t **a, json_t **b, unsigned long mark)
{
    if (*a && *b && sg_json_alloc_failures() == mark)
        return 0;
    json_decref(*a);
    json_decref(*b);
    *a = *b = NULL;
    return SG_ENOMEM;
}

int sg_tts_parse_inventory(const json_t *data, const char *product_id,
                           json_t **qty_out, json_t **ids_out)
{
    unsigned long mark = sg_json_alloc_failures();
    json_t *p, *s;
    size_t i, j;

    *qty_out = NULL;
    *ids_out = NULL;
    json_array_foreach(json_object_get(data, "inventory"), i, p) {
        const char *pid = sg_json_str(p, "product_id");

        if (!pid || strcmp(pid, product_id) != 0)
            continue;
        *qty_out = json_object();
        *ids_out = json_object();
        json_array_foreach(json_object_get(p, "skus"), j, s) {
            const char *ss = sg_json_str(s, "seller_sku");
            json_t *q = json_object_get(s, "total_available_quantity");

            if (!ss || !*qty_out || !*ids_out)
                continue;
            /* A quantity that is not a count is unknown, not zero. */
            if (json_is_integer(q) && json_integer_value(q) >= 0)
                json_object_set(*qty_out, ss, q);
            if (sg_json_str(s, "id"))
                json_object_set_new(*ids_out, ss,
                                    json_string(sg_json_str(s, "id")));
        }
        /* A SKU missing from the map would read as "not listed". */
        return maps_built(qty_out, ids_out, mark);
    }
    return 0;
}

int sg_tts_parse_product(const json_t *data, json_t **qty_out,
                         json_t **price_out, json_t **ids_out,
                         const char **status_out)
{
    unsigned long mark = sg_json_alloc_failures();
    json_t *s, *w;
    size_t i, j;
    int rc;

    *qty_out = json_object();
    *price_out = json_object();
    *ids_out = sku_ids(json_object_get(data, "skus"));
    *status_out = sg_json_str(data, "status");
    if (!*qty_out || !*price_out || !*ids_out) {
        json_decref(*qty_out);
        json_decref(*price_out);
        json_decref(*ids_out);
        *qty_out = *price_out = *ids_out = NULL;
        return SG_ENOMEM;
    }
    json_array_foreach(json_object_get(data, "skus"), i, s) {
        const char *ss = sg_json_str(s, "seller_sku");
        json_int_t q = 0;
        bool known = true;

        if (!ss)
            continue;
        /* Summed over warehouses; one entry that is not a count makes the
         * SKU's quantity unknown (left out), never a wrong number. */
        json_array_foreach(json_object_get(s, "inventory"), j, w) {
            json_t *wq = json_object_get(w, "quantity");

            if (!json_is_integer(wq) || json_integer_value(wq) < 0 ||
                json_integer_value(wq) > QTY_MAX - q)
                known = false;
            else
                q += json_integer_value(wq);
        }
        if (known)
            json_object_set_new(*qty_out, ss, json_integer(q));
        if (sg_json_str(json_object_get(s, "price"), "amount"))
            json_object_set_new(
                *price_out, ss,
                json_string(sg_json_str(json_object_get(s, "price"),
                                        "amount")));
    }
    /* A SKU missing from a map would read as drift (or as no stock). */
    rc = maps_built(qty_out, price_out, mark);
    if (rc) {
        json_decref(*ids_out);
        *ids_out = NULL;
    }
    return rc;
}

size_t sg_tts_audit_reasons(const json_t *data, char *out, size_t len)
{
    json_t *r, *w;
    size_t i, j, n = 0, used = 0;

    if (len)
        out[0] = '\0';
    json_array_foreach(json_object_get(data, "audit_failed_reasons"), i, r) {
        json_array_foreach(json_object_get(r, "reasons"), j, w) {
            int k;

            if (!json_is_string(w) || used >= len)
                continue;
            k = snprintf(out + used, len - used, "%s%s: %s",
                         n ? "; " : "",
                         sg_json_str(r, "position")
                             ? sg_json_str(r, "position") : "product",
                         json_string_value(w));
            if (k > 0)
                used += (size_t)k < len - used ? (size_t)k : len - used - 1;
            n++;
        }
    }
    return n;
}

/* ---- connector slots (SG_CAP_CATALOG) ---- */

static const char *verb_method(const char *verb)
{
    if (strcmp(verb, "delete") == 0)
        return "DELETE";
    if (strcmp(verb, "get") == 0)
        return "GET";
    return "POST";
}

int sg_tts__catalog_request(struct sg_connector *c,
                            const struct sg_conn_catalog_op *op,
                            char method_out[8], char **url_out,
                            struct sg_err *err)
{
    struct sg_tts_param params[1];
    char path[160];
    int rc;

    *url_out = NULL;
    if (!op->verb || !op->shop_cipher)
        return sg_err_set(err, SG_EINVAL, "catalog op needs verb and shop");
    rc = sg_tts_product_path(path, sizeof(path), op->verb, op->product_id);
    if (rc)
        return sg_err_set(err, rc, "no path for catalog verb %s", op->verb);
    params[0].key = "shop_cipher";
    params[0].value = op->shop_cipher;
    snprintf(method_out, 8, "%s", verb_method(op->verb));
    return sg_tts_build_url(url_out, c->cfg.api_base_url, path, params, 1,
                            c->cfg.app_key, c->cfg.app_secret,
                            sg_conn_now_s(c), op->body,
                            op->body ? op->body_len : 0, err);
}

int sg_tts__catalog_call(struct sg_connector *c, const char *access_token,
                         const struct sg_conn_catalog_op *op,
                         struct json_t **data_out, struct sg_err *err)
{
    struct sg_tts_param params[1];
    char path[160];
    int rc;

    *data_out = NULL;
    if (!op->verb || !op->shop_cipher)
        return sg_err_set(err, SG_EINVAL, "catalog op needs verb and shop");
    rc = sg_tts_product_path(path, sizeof(path), op->verb, op->product_id);
    if (rc)
        return sg_err_set(err, rc, "no path for catalog verb %s", op->verb);
    params[0].key = "shop_cipher";
    params[0].value = op->shop_cipher;
    return sg_tts_call(c, verb_method(op->verb), path, params, 1,
                       access_token, op->body, op->body ? op->body_len : 0,
                       data_out, err);
}
