/*
 * catalog_api.c - the catalog under /api/v1/: products and variants CRUD,
 * price updates, inventory per SKU and location, channel listing states
 * and validation reports. Handlers only translate HTTP: every change goes
 * through the catalog's core functions inside one write with its audit
 * row, and is answered after commit. Another tenant's object is 404.
 */
#include "engine/internal.h"
#include "core/alloc.h"
#include "core/json.h"
#include "features/catalog/catalog.h"
#include "features/catalog/validate.h"

#define PRODUCTS_PAGE_MAX 100
#define REASON_MAX        64

/* ---- helpers ---- */

static bool path_id(struct sg_http_req *r, const char *name, int64_t *out)
{
    size_t len;
    const char *p = sg_http_req_param(r, name, &len);
    int64_t v = 0;

    if (!p || len == 0 || len > 18)
        goto bad;
    for (size_t i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9')
            goto bad;
        v = v * 10 + (p[i] - '0');
    }
    if (v == 0)
        goto bad;
    *out = v;
    return true;
bad:
    sg_http_reply_error(r, 400, "invalid_id", "id must be a positive integer",
                        name);
    return false;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* A path segment, percent-decoded, into out (cap bytes). */
static bool path_text(struct sg_http_req *r, const char *name, char *out,
                      size_t cap)
{
    size_t len, n = 0;
    const char *p = sg_http_req_param(r, name, &len);

    for (size_t i = 0; p && i < len; i++) {
        int c = (unsigned char)p[i];

        if (c == '%' && i + 2 < len + 0 && hexval(p[i + 1]) >= 0 &&
            hexval(p[i + 2]) >= 0) {
            c = hexval(p[i + 1]) * 16 + hexval(p[i + 2]);
            i += 2;
        }
        if (n + 1 >= cap || c == 0)
            goto bad;
        out[n++] = (char)c;
    }
    if (n == 0)
        goto bad;
    out[n] = '\0';
    return true;
bad:
    sg_http_reply_error(r, 400, "invalid_parameter",
                        "bad or too long path segment", name);
    return false;
}

static bool query_i64(struct sg_http_req *r, const char *name, int64_t def,
                      int64_t min, int64_t max, int64_t *out)
{
    char buf[32], *end;
    long n = sg_http_req_query_get(r, name, buf, sizeof(buf));
    long long v;
    char msg[128];

    if (n < 0 && n != SG_ELIMIT) {
        *out = def;
        return true;
    }
    errno = 0;
    v = n > 0 ? strtoll(buf, &end, 10) : 0;
    if (n <= 0 || errno || *end || v < min || v > max) {
        snprintf(msg, sizeof(msg),
                 "%s must be an integer %" PRId64 "..%" PRId64, name, min,
                 max);
        sg_http_reply_error(r, 400, "invalid_parameter", msg, name);
        return false;
    }
    *out = v;
    return true;
}

static json_t *levels_json(struct sg_store *s, int64_t tenant,
                           const char *sku)
{
    struct sg_inv_level *ls = NULL;
    size_t n = 0;
    json_t *a = json_array();

    if (sg_inventory_levels(s, tenant, sku, &ls, &n, NULL) != 0)
        return a;
    for (size_t i = 0; i < n; i++)
        json_array_append_new(
            a, json_pack("{s:s, s:I, s:I, s:I, s:I}", "location",
                         ls[i].location, "on_hand", (json_int_t)ls[i].on_hand,
                         "reserved", (json_int_t)ls[i].reserved, "committed",
                         (json_int_t)ls[i].committed, "available",
                         (json_int_t)(ls[i].on_hand - ls[i].reserved -
                                      ls[i].committed)));
    sg_free(ls);
    return a;
}

/* The full view: product, each variant's inventory, listings. */
static json_t *product_view(struct sg_engine *e, int64_t tenant,
                            const struct sg_product *p)
{
    json_t *o = sg_product_to_json(p, true), *vs, *ls = json_array();
    struct sg_listing *l = NULL;
    size_t n = 0;

    if (!o)
        return NULL;
    vs = json_object_get(o, "variants");
    for (size_t i = 0; i < p->n_variants; i++)
        json_object_set_new(json_array_get(vs, i), "inventory",
                            levels_json(e->store, tenant,
                                        p->variants[i].sku));
    if (sg_catalog_listings(e->store, tenant, p->id, &l, &n, NULL) == 0) {
        for (size_t i = 0; i < n; i++)
            json_array_append_new(
                ls, json_pack("{s:s, s:s, s:o, s:I}", "channel", l[i].channel,
                              "status", l[i].status, "reason",
                              l[i].reason ? json_string(l[i].reason)
                                          : json_null(),
                              "updated_at", (json_int_t)l[i].updated_at));
        sg_listing_list_free(l, n);
    }
    json_object_set_new(o, "listings", ls);
    return o;
}

/* Map a refused core call to its HTTP answer; 0 when rc is not one. */
static int op_refuse(struct sg_api_op *op, int rc, const struct sg_err *err)
{
    switch (rc) {
    case SG_EINVAL:
        sg_engine__op_fail(op, 400, "invalid_field", "%s", err->msg);
        return 1;
    case SG_ENOTFOUND:
        sg_engine__op_fail(op, 404, "not_found", "%s", err->msg);
        return 1;
    case SG_EEXISTS:
        sg_engine__op_fail(op, 409, "conflict", "%s", err->msg);
        return 1;
    case SG_ESTATE:
        sg_engine__op_fail(op, 409, "insufficient_stock", "%s", err->msg);
        return 1;
    default:
        return 0;
    }
}

/* Answer a refused core call with its audit row; other errors abort. */
static int finish(struct sg_store_tx *tx, struct sg_api_op *op, int rc,
                  const char *action, const char *object, struct sg_err *err)
{
    struct sg_err why = *err;

    if (rc == 0)
        return sg_engine__audit(tx, op, action, object, "ok", err);
    if (!op_refuse(op, rc, &why))
        return rc;
    sg_err_init(err);
    return sg_engine__audit(tx, op, action, object, sg_err_name(rc), err);
}

/* Parse a product body for the caller's tenant (400 answered on error). */
static int parse_body(struct sg_api_op *op, struct sg_product *p,
                      struct sg_err *err)
{
    char path[64];
    int rc;

    memset(p, 0, sizeof(*p));
    rc = sg_product_from_json(p, op->input, op->e->cfg->catalog.currency,
                              path, sizeof(path), err);
    p->tenant_id = op->who.tenant_id;
    return rc;
}

/* ---- products ---- */

static int write_product_put(struct sg_store_tx *tx, void *arg,
                             struct sg_err *err)
{
    struct sg_api_op *op = arg;
    struct sg_product p;
    int outcome = SG_CAT_UNCHANGED, rc;
    char object[96];

    rc = parse_body(op, &p, err);
    p.id = op->id;
    if (!rc)
        rc = sg_catalog_put(tx, &p, op->e->cfg->catalog.location, "api",
                            &outcome, err);
    if (!rc) {
        op->status = outcome == SG_CAT_CREATED ? 201 : 200;
        op->result = sg_product_to_json(&p, true);
        json_object_set_new(op->result, "outcome",
                            json_string(sg_cat_outcome_name(outcome)));
    }
    snprintf(object, sizeof(object), "product:%" PRId64, p.id ? p.id : op->id);
    rc = finish(tx, op, rc, op->id ? "product.update" : "product.create",
                object, err);
    sg_product_release(&p);
    return rc;
}

/*
 * The top-level fields of each route's body (sg_engine__body_ok). The
 * product's are the jsonl schema of docs/import-formats.md plus what GET
 * adds (id, created_at, updated_at, listings), read-only and ignored, so
 * a document read back can be PUT as it is. Nested members (variants[],
 * images[], items[]) are checked by their own parsers. Null is allowed
 * where the parsers already took it as absent.
 */
static const struct sg_json_field product_fields[] = {
    {"handle", SG_JF_STRING_OR_NULL},
    {"title", SG_JF_STRING_OR_NULL},
    {"body_html", SG_JF_STRING_OR_NULL},
    {"vendor", SG_JF_STRING_OR_NULL},
    {"product_type", SG_JF_STRING_OR_NULL},
    {"category", SG_JF_STRING_OR_NULL},
    {"tags", SG_JF_ARRAY | SG_JF_STRING | SG_JF_NULL},
    {"certifications", SG_JF_ARRAY | SG_JF_STRING | SG_JF_NULL},
    {"status", SG_JF_STRING_OR_NULL},
    {"published", SG_JF_BOOLEAN},
    {"currency", SG_JF_STRING_OR_NULL},
    {"options", SG_JF_ARRAY | SG_JF_NULL},
    {"package", SG_JF_OBJECT | SG_JF_NULL},
    {"attributes", SG_JF_OBJECT | SG_JF_NULL},
    {"images", SG_JF_ARRAY | SG_JF_NULL},
    {"variants", SG_JF_ARRAY | SG_JF_REQUIRED},
    {"id", SG_JF_INTEGER},
    {"created_at", SG_JF_INTEGER},
    {"updated_at", SG_JF_INTEGER},
    {"listings", SG_JF_ARRAY},
};

/*
 * A variant (POST .../variants, PATCH /variants/{id}): the documented
 * fields; a PATCH naming sku or id keeps its own "cannot be changed".
 */
static const struct sg_json_field variant_fields[] = {
    {"id", SG_JF_INTEGER},
    {"sku", SG_JF_STRING_OR_NULL},
    {"position", SG_JF_INTEGER},
    {"options", SG_JF_ARRAY | SG_JF_NULL},
    {"price", SG_JF_STRING_OR_NULL},
    {"compare_at_price", SG_JF_STRING_OR_NULL},
    {"cost", SG_JF_STRING_OR_NULL},
    {"barcode", SG_JF_STRING_OR_NULL},
    {"grams", SG_JF_INTEGER | SG_JF_NULL},
    {"weight_unit", SG_JF_STRING_OR_NULL},
    {"image", SG_JF_STRING_OR_NULL},
    {"inventory_quantity", SG_JF_INTEGER | SG_JF_NULL},
};

static const struct sg_json_field inventory_set_fields[] = {
    {"on_hand", SG_JF_INTEGER | SG_JF_REQUIRED},
    {"reason", SG_JF_STRING | SG_JF_REQUIRED},
    {"location", SG_JF_STRING_OR_NULL},
};

static const struct sg_json_field inventory_adjust_fields[] = {
    {"delta", SG_JF_INTEGER | SG_JF_REQUIRED},
    {"reason", SG_JF_STRING | SG_JF_REQUIRED},
    {"location", SG_JF_STRING_OR_NULL},
};

static const struct sg_json_field bulk_fields[] = {
    {"items", SG_JF_ARRAY | SG_JF_REQUIRED},
};

static const struct sg_json_field listing_fields[] = {
    {"status", SG_JF_STRING | SG_JF_REQUIRED},
    {"reason", SG_JF_STRING_OR_NULL},
};

/* A JSON object whose top-level fields pass fields[0..n), or 400. */
static bool read_body(struct sg_http_req *r, const struct sg_json_field *fields,
                      size_t n, json_t **out)
{
    json_t *in = sg_http_req_json(r);

    if (!in)
        return false;
    if (!json_is_object(in)) {
        json_decref(in);
        sg_http_reply_error(r, 400, "invalid_body",
                            "the body must be a JSON object", NULL);
        return false;
    }
    if (!sg_engine__body_ok(r, in, fields, n)) {
        json_decref(in);
        return false;
    }
    *out = in;
    return true;
}

static void submit_with(struct sg_engine *e, struct sg_http_req *r,
                        const struct sg_caller *who, int64_t id, json_t *in,
                        const char *text, sg_store_write_fn fn)
{
    struct sg_api_op *op = sg_engine__op_new(e, r, who);

    if (!op) {
        json_decref(in);
        return;
    }
    op->id = id;
    op->input = in;
    if (text) {
        op->text = sg_strdup(text);
        if (!op->text) {
            sg_http_deferred_reply_error(op->d, 503, "out_of_memory",
                                         "retry");
            json_decref(op->input);
            sg_free(op);
            return;
        }
    }
    sg_engine__op_submit(op, fn);
}

static void h_product_create(struct sg_http_req *r, void *ctx)
{
    struct sg_engine *e = ctx;
    struct sg_caller who;
    json_t *in;

    if (!sg_engine__auth(e, r, true, &who) ||
        !read_body(r, SG_FIELDS(product_fields), &in))
        return;
    submit_with(e, r, &who, 0, in, NULL, write_product_put);
}

static void h_product_replace(struct sg_http_req *r, void *ctx)
{
    struct sg_engine *e = ctx;
    struct sg_caller who;
    int64_t id;
    json_t *in;

    if (!sg_engine__auth(e, r, true, &who) || !path_id(r, "id", &id) ||
        !read_body(r, SG_FIELDS(product_fields), &in))
        return;
    submit_with(e, r, &who, id, in, NULL, write_product_put);
}

static void h_product_get(struct sg_http_req *r, void *ctx)
{
    struct sg_engine *e = ctx;
    struct sg_caller who;
    struct sg_product p;
    int64_t id;
    int rc;

    if (!sg_engine__auth(e, r, false, &who) || !path_id(r, "id", &id))
        return;
    rc = sg_catalog_get(e->store, who.tenant_id, id, &p, NULL);
    if (rc == SG_ENOTFOUND)
        sg_http_reply_error(r, 404, "not_found", "no such product", NULL);
    else if (rc)
        sg_http_reply_error(r, 503, "storage_unavailable",
                            "cannot read the product", NULL);
    else
        sg_http_reply_json(r, 200, product_view(e, who.tenant_id, &p));
    sg_product_release(&p);
}

static void h_products_list(struct sg_http_req *r, void *ctx)
{
    struct sg_engine *e = ctx;
    struct sg_caller who;
    struct sg_product *ps = NULL;
    size_t n = 0;
    int64_t after, limit;
    json_t *arr, *doc;

    if (!sg_engine__auth(e, r, false, &who) ||
        !query_i64(r, "after", 0, 0, INT64_MAX, &after) ||
        !query_i64(r, "limit", 50, 1, PRODUCTS_PAGE_MAX, &limit))
        return;
    if (sg_catalog_list(e->store, who.tenant_id, after, (size_t)limit, &ps,
                        &n, NULL) != 0) {
        sg_http_reply_error(r, 503, "storage_unavailable",
                            "cannot list products", NULL);
        return;
    }
    arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, sg_product_to_json(&ps[i], true));
    doc = json_pack("{s:o}", "products", arr);
    if (n == (size_t)limit)
        json_object_set_new(doc, "next_after", json_integer(ps[n - 1].id));
    sg_product_list_free(ps, n);
    sg_http_reply_json(r, 200, doc);
}

static int write_product_delete(struct sg_store_tx *tx, void *arg,
                                struct sg_err *err)
{
    struct sg_api_op *op = arg;
    char object[64];
    int rc = sg_catalog_delete(tx, op->who.tenant_id, op->id, err);

    if (!rc)
        op->result = json_pack("{s:I, s:b}", "id", (json_int_t)op->id,
                               "deleted", 1);
    snprintf(object, sizeof(object), "product:%" PRId64, op->id);
    return finish(tx, op, rc, "product.delete", object, err);
}

static void h_product_delete(struct sg_http_req *r, void *ctx)
{
    struct sg_engine *e = ctx;
    struct sg_caller who;
    int64_t id;

    if (!sg_engine__auth(e, r, true, &who) || !path_id(r, "id", &id))
        return;
    submit_with(e, r, &who, id, NULL, NULL, write_product_delete);
}

/* ---- variants: edit the product's JSON view, then put it whole ---- */

enum { V_ADD, V_PATCH, V_DELETE };

static int variant_edit(struct sg_store_tx *tx, struct sg_api_op *op,
                        int kind, struct sg_err *err)
{
    struct sg_product cur, next;
    int64_t pid = op->id, vid = 0;
    json_t *doc = NULL, *vs, *v;
    int outcome, rc;
    size_t i = 0;

    memset(&cur, 0, sizeof(cur));
    memset(&next, 0, sizeof(next));
    if (kind != V_ADD) {
        vid = op->id;
        rc = sg_catalog_tx_locate(tx, op->who.tenant_id, vid, NULL, &pid,
                                  NULL, err);
        if (rc)
            goto out;
    }
    rc = sg_catalog_tx_get(tx, op->who.tenant_id, pid, &cur, err);
    if (rc)
        goto out;
    doc = sg_product_to_json(&cur, false);
    vs = json_object_get(doc, "variants");
    for (i = 0; kind != V_ADD && i < cur.n_variants; i++)
        if (cur.variants[i].id == vid)
            break;
    if (kind == V_ADD) {
        json_array_append(vs, op->input);
    } else if (kind == V_DELETE) {
        if (cur.n_variants == 1) {
            rc = sg_err_set(err, SG_EINVAL,
                            "a product keeps at least one variant; delete "
                            "the product instead");
            goto out;
        }
        json_array_remove(vs, i);
    } else {
        const char *k;
        json_t *val;

        v = json_array_get(vs, i);
        json_object_foreach(op->input, k, val) {
            if (strcmp(k, "sku") == 0 || strcmp(k, "id") == 0) {
                rc = sg_err_set(err, SG_EINVAL,
                                "%s cannot be changed; add a new variant",
                                k);
                goto out;
            }
            json_object_set(v, k, val);
        }
    }
    rc = sg_product_from_json(&next, doc, cur.currency, NULL, 0, err);
    if (rc)
        goto out;
    next.id = cur.id;
    next.tenant_id = op->who.tenant_id;
    rc = sg_catalog_put(tx, &next, op->e->cfg->catalog.location, "api",
                        &outcome, err);
    if (!rc && kind != V_DELETE) {
        const char *sku = kind == V_ADD ? sg_json_str(op->input, "sku")
                                        : cur.variants[i].sku;
        json_t *pj = sg_product_to_json(&next, true);

        op->result = NULL;
        json_array_foreach(json_object_get(pj, "variants"), i, v) {
            if (sku && strcmp(sg_json_str(v, "sku"), sku) == 0) {
                op->result = json_incref(v);
                json_object_set_new(op->result, "product_id",
                                    json_integer(next.id));
                break;
            }
        }
        json_decref(pj);
        if (kind == V_ADD)
            op->status = 201;
    } else if (!rc) {
        op->result = json_pack("{s:I, s:b}", "id", (json_int_t)vid,
                               "deleted", 1);
    }
out:
    json_decref(doc);
    sg_product_release(&cur);
    sg_product_release(&next);
    return rc;
}

static int write_variant_add(struct sg_store_tx *tx, void *arg,
                             struct sg_err *err)
{
    struct sg_api_op *op = arg;
    char object[64];
    int rc = variant_edit(tx, op, V_ADD, err);

    snprintf(object, sizeof(object), "product:%" PRId64, op->id);
    return finish(tx, op, rc, "variant.create", object, err);
}

static int write_variant_patch(struct sg_store_tx *tx, void *arg,
                               struct sg_err *err)
{
    struct sg_api_op *op = arg;
    char object[64];
    int rc = variant_edit(tx, op, V_PATCH, err);
    bool price = json_object_get(op->input, "price") ||
                 json_object_get(op->input, "compare_at_price");

    snprintf(object, sizeof(object), "variant:%" PRId64, op->id);
    if (!rc && price)
        rc = sg_catalog_changed(tx, op->who.tenant_id,
                                sg_json_int(op->result, "product_id", 0),
                                "price", err);
    return finish(tx, op, rc, price ? "variant.price" : "variant.update",
                  object, err);
}

static int write_variant_delete(struct sg_store_tx *tx, void *arg,
                                struct sg_err *err)
{
    struct sg_api_op *op = arg;
    char object[64];
    int rc = variant_edit(tx, op, V_DELETE, err);

    snprintf(object, sizeof(object), "variant:%" PRId64, op->id);
    return finish(tx, op, rc, "variant.delete", object, err);
}

static void h_variant_add(struct sg_http_req *r, void *ctx)
{
    struct sg_engine *e = ctx;
    struct sg_caller who;
    int64_t id;
    json_t *in;

    if (!sg_engine__auth(e, r, true, &who) || !path_id(r, "id", &id) ||
        !read_body(r, SG_FIELDS(variant_fields), &in))
        return;
    submit_with(e, r, &who, id, in, NULL, write_variant_add);
}

static void h_variant_patch(struct sg_http_req *r, void *ctx)
{
    struct sg_engine *e = ctx;
    struct sg_caller who;
    int64_t id;
    json_t *in;

    if (!sg_engine__auth(e, r, true, &who) || !path_id(r, "id", &id) ||
        !read_body(r, SG_FIELDS(variant_fields), &in))
        return;
    submit_with(e, r, &who, id, in, NULL, write_variant_patch);
}

static void h_variant_delete(struct sg_http_req *r, void *ctx)
{
    struct sg_engine *e = ctx;
    struct sg_caller who;
    int64_t id;

    if (!sg_engine__auth(e, r, true, &who) || !path_id(r, "id", &id))
        return;
    submit_with(e, r, &who, id, NULL, NULL, write_variant_delete);
}

static void h_variant_get(struct sg_http_req *r, void *ctx)
{
    struct sg_engine *e = ctx;
    struct sg_caller who;
    struct sg_product p;
    int64_t id, pid = 0;
    json_t *pj, *v, *out = NULL;
    size_t i;
    int rc;

    memset(&p, 0, sizeof(p));
    if (!sg_engine__auth(e, r, false, &who) || !path_id(r, "id", &id))
        return;
    rc = sg_catalog_locate(e->store, who.tenant_id, id, NULL, &pid, NULL,
                           NULL);
    if (!rc)
        rc = sg_catalog_get(e->store, who.tenant_id, pid, &p, NULL);
    if (rc == SG_ENOTFOUND) {
        sg_http_reply_error(r, 404, "not_found", "no such variant", NULL);
        return;
    }
    if (rc) {
        sg_product_release(&p);
        sg_http_reply_error(r, 503, "storage_unavailable",
                            "cannot read the variant", NULL);
        return;
    }
    pj = product_view(e, who.tenant_id, &p);
    json_array_foreach(json_object_get(pj, "variants"), i, v) {
        if (sg_json_int(v, "id", 0) == id) {
            out = json_incref(v);
            json_object_set_new(out, "product_id", json_integer(pid));
            json_object_set_new(out, "currency", json_string(p.currency));
            break;
        }
    }
    json_decref(pj);
    sg_product_release(&p);
    if (!out)
        sg_http_reply_error(r, 404, "not_found", "no such variant", NULL);
    else
        sg_http_reply_json(r, 200, out);
}

/* ---- inventory ---- */

/*
 * PUT /api/v1/inventory/{sku} ({"on_hand"}) and POST .../adjust
 * ({"delta"}), with "reason" and an optional "location": the same checks,
 * then a level set or a move by delta read inside this write.
 */
static int write_inventory_one(struct sg_store_tx *tx, struct sg_api_op *op,
                               bool adjust, struct sg_err *err)
{
    const char *loc = sg_json_str(op->input, "location");
    const char *reason = sg_json_str(op->input, "reason");
    json_t *q = json_object_get(op->input, adjust ? "delta" : "on_hand");
    int64_t pid = 0, to = json_integer_value(q);
    bool changed = false;
    char object[96];
    int rc;

    if (!loc)
        loc = op->e->cfg->catalog.location;
    snprintf(object, sizeof(object), "sku:%.64s", op->text);
    rc = sg_catalog_tx_locate(tx, op->who.tenant_id, 0, op->text, &pid, NULL,
                              err);
    if (rc == SG_ENOTFOUND)
        sg_err_set(err, SG_ENOTFOUND, "no such SKU");
    if (!rc && !json_is_integer(q))
        rc = sg_err_set(err, SG_EINVAL, "%s",
                        adjust ? "delta must be an integer (units received, "
                                 "or negative for units written off)"
                               : "on_hand must be an integer");
    if (!rc && (!reason || strlen(reason) > REASON_MAX))
        rc = sg_err_set(err, SG_EINVAL,
                        "reason is required (1-64 characters), e.g. "
                        "\"%s\"", adjust ? "receipt" : "recount");
    if (!rc && adjust)
        rc = sg_inventory_adjust(tx, op->who.tenant_id, op->text, loc,
                                 json_integer_value(q), reason, "api", &to,
                                 &changed, err);
    else if (!rc)
        rc = sg_inventory_set(tx, op->who.tenant_id, op->text, loc, to,
                              reason, "api", &changed, err);
    if (!rc && changed)
        rc = sg_catalog_changed(tx, op->who.tenant_id, pid, "inventory",
                                err);
    if (!rc && changed)
        rc = sg_engine__orders_cover(op->e, tx, op->who.tenant_id, op->text,
                                     err);
    if (!rc)
        op->result = json_pack("{s:s, s:s, s:I, s:b}", "sku", op->text,
                               "location", loc, "on_hand", (json_int_t)to,
                               "changed", changed);
    if (op->result && adjust)
        json_object_set_new(op->result, "delta", json_copy(q));
    return finish(tx, op, rc, adjust ? "inventory.adjust" : "inventory.set",
                  object, err);
}

static int write_inventory_set(struct sg_store_tx *tx, void *arg,
                               struct sg_err *err)
{
    return write_inventory_one(tx, arg, false, err);
}

static int write_inventory_adjust(struct sg_store_tx *tx, void *arg,
                                  struct sg_err *err)
{
    return write_inventory_one(tx, arg, true, err);
}

/* Auth (write), the {sku} of the path and a JSON body, then write. */
static void submit_for_sku(struct sg_http_req *r, struct sg_engine *e,
                           const struct sg_json_field *fields, size_t n,
                           sg_store_write_fn write)
{
    struct sg_caller who;
    char sku[SG_CAT_SKU_MAX + 1];
    json_t *in;

    if (!sg_engine__auth(e, r, true, &who) ||
        !path_text(r, "sku", sku, sizeof(sku)) ||
        !read_body(r, fields, n, &in))
        return;
    submit_with(e, r, &who, 0, in, sku, write);
}

static void h_inventory_put(struct sg_http_req *r, void *ctx)
{
    submit_for_sku(r, ctx, SG_FIELDS(inventory_set_fields),
                   write_inventory_set);
}

static void h_inventory_adjust(struct sg_http_req *r, void *ctx)
{
    submit_for_sku(r, ctx, SG_FIELDS(inventory_adjust_fields),
                   write_inventory_adjust);
}

/* ---- bulk: PUT /api/v1/inventory and PUT /api/v1/prices ---- */

/*
 * The body's "items": an array of 1..SG_CAT_BULK_MAX objects, each
 * checked by check(item, &field) (NULL when fine). A bad one is answered
 * 400 naming "items[i].field" and nothing is submitted.
 */
static bool bulk_items(struct sg_http_req *r, json_t *in,
                       const char *(*check)(const json_t *, const char **))
{
    json_t *items = json_object_get(in, "items"), *it;
    char field[64], msg[160];
    const char *why, *name;
    size_t i;

    if (!json_is_array(items) || json_array_size(items) == 0 ||
        json_array_size(items) > SG_CAT_BULK_MAX) {
        snprintf(msg, sizeof(msg), "items must be an array of 1..%d objects",
                 SG_CAT_BULK_MAX);
        sg_http_reply_error(r, 400, "invalid_field", msg, "items");
        return false;
    }
    json_array_foreach(items, i, it) {
        name = NULL;
        why = json_is_object(it) ? check(it, &name) : "must be an object";
        if (!why)
            continue;
        snprintf(field, sizeof(field), "items[%zu]%s%s", i, name ? "." : "",
                 name ? name : "");
        snprintf(msg, sizeof(msg), "%s: %s", field, why);
        sg_http_reply_error(r, 400, "invalid_field", msg, field);
        return false;
    }
    return true;
}

static bool sku_ok(const json_t *v)
{
    const char *s = json_string_value(v);

    return s && s[0] && strlen(s) <= SG_CAT_SKU_MAX;
}

static const char *inv_item_check(const json_t *it, const char **field)
{
    const json_t *reason = json_object_get(it, "reason");
    const json_t *loc = json_object_get(it, "location");
    const json_t *q = json_object_get(it, "on_hand");

    *field = "sku";
    if (!sku_ok(json_object_get(it, "sku")))
        return "must be a string of 1-64 bytes";
    *field = "on_hand";
    if (!json_is_integer(q) || json_integer_value(q) < 0 ||
        json_integer_value(q) > SG_CAT_QTY_MAX)
        return "must be an integer 0..1000000000";
    *field = "reason";
    if (!json_is_string(reason) || json_string_length(reason) == 0 ||
        json_string_length(reason) > REASON_MAX)
        return "is required (1-64 characters), e.g. \"recount\"";
    *field = "location";
    if (loc && (!json_is_string(loc) || json_string_length(loc) == 0 ||
                json_string_length(loc) > SG_CAT_LOCATION_MAX))
        return "must be a string of 1-64 bytes";
    return NULL;
}

static const char *price_item_check(const json_t *it, const char **field)
{
    const json_t *price = json_object_get(it, "price");
    const json_t *cmp = json_object_get(it, "compare_at_price");

    *field = "sku";
    if (!sku_ok(json_object_get(it, "sku")))
        return "must be a string of 1-64 bytes";
    *field = "price";
    if (price && !json_is_string(price))
        return "must be a decimal string like \"19.99\"";
    if (!price && !cmp)
        return "is required unless compare_at_price is given";
    *field = "compare_at_price";
    if (cmp && !json_is_string(cmp) && !json_is_null(cmp))
        return "must be a decimal string like \"19.99\" or null";
    return NULL;
}

/*
 * A refused bulk write: answered like a refused single change, naming the
 * item, with one audit row for the request. Nothing of it was written.
 */
static int bulk_refused(struct sg_store_tx *tx, struct sg_api_op *op, int rc,
                        size_t bad, const char *action, struct sg_err *err)
{
    json_t *item = json_array_get(json_object_get(op->input, "items"), bad);
    const char *sku = sg_json_str(item, "sku");
    struct sg_err why = *err;
    char object[96];

    snprintf(why.msg, sizeof(why.msg), "items[%zu]: %.200s", bad, err->msg);
    if (!op_refuse(op, rc, &why))
        return rc;
    snprintf(object, sizeof(object), "sku:%.64s", sku ? sku : "");
    sg_err_init(err);
    return sg_engine__audit(tx, op, action, object, sg_err_name(rc), err);
}

static int write_inventory_bulk(struct sg_store_tx *tx, void *arg,
                                struct sg_err *err)
{
    struct sg_api_op *op = arg;
    const char *def = op->e->cfg->catalog.location;
    json_t *items = json_object_get(op->input, "items"), *it, *out = NULL;
    size_t n = json_array_size(items), i, bad = 0, changed = 0;
    struct sg_inv_set *set = sg_calloc(n ? n : 1, sizeof(*set));
    char object[96];
    int rc;

    if (!set)
        return sg_err_set(err, SG_ENOMEM, "out of memory");
    json_array_foreach(items, i, it) {
        set[i].sku = sg_json_str(it, "sku");
        set[i].location = sg_json_str(it, "location");
        set[i].on_hand = json_integer_value(json_object_get(it, "on_hand"));
        set[i].reason = sg_json_str(it, "reason");
    }
    rc = sg_inventory_set_many(tx, op->who.tenant_id, set, n, def, "api",
                               &bad, err);
    if (rc) {
        rc = bulk_refused(tx, op, rc, bad, "inventory.set", err);
        goto out;
    }
    out = json_array();
    for (i = 0; !rc && i < n; i++) {
        changed += set[i].changed;
        if (set[i].changed)
            rc = sg_engine__orders_cover(op->e, tx, op->who.tenant_id,
                                         set[i].sku, err);
        json_array_append_new(
            out, json_pack("{s:s, s:s, s:I, s:b}", "sku", set[i].sku,
                           "location", set[i].location ? set[i].location : def,
                           "on_hand", (json_int_t)set[i].on_hand, "changed",
                           set[i].changed));
        snprintf(object, sizeof(object), "sku:%.64s", set[i].sku);
        if (!rc)
            rc = sg_engine__audit(tx, op, "inventory.set", object, "ok",
                                  err);
    }
    if (!rc) {
        op->result = json_pack("{s:o, s:I}", "items", out, "changed",
                               (json_int_t)changed);
        out = NULL;
    }
out:
    json_decref(out);
    sg_free(set);
    return rc;
}

/* Auth (write), a JSON body whose items all pass check, then write. */
static void submit_bulk(struct sg_http_req *r, struct sg_engine *e,
                        const char *(*check)(const json_t *, const char **),
                        sg_store_write_fn write)
{
    struct sg_caller who;
    json_t *in;

    if (!sg_engine__auth(e, r, true, &who) ||
        !read_body(r, SG_FIELDS(bulk_fields), &in))
        return;
    if (!bulk_items(r, in, check)) {
        json_decref(in);
        return;
    }
    submit_with(e, r, &who, 0, in, NULL, write);
}

static void h_inventory_bulk(struct sg_http_req *r, void *ctx)
{
    submit_bulk(r, ctx, inv_item_check, write_inventory_bulk);
}

static int write_prices_bulk(struct sg_store_tx *tx, void *arg,
                             struct sg_err *err)
{
    struct sg_api_op *op = arg;
    json_t *items = json_object_get(op->input, "items"), *it, *out = NULL;
    size_t n = json_array_size(items), i, bad = 0, changed = 0;
    struct sg_price_set *set = sg_calloc(n ? n : 1, sizeof(*set));
    char object[64], price[32], cmp[32];
    int rc;

    if (!set)
        return sg_err_set(err, SG_ENOMEM, "out of memory");
    json_array_foreach(items, i, it) {
        json_t *p = json_object_get(it, "price");
        json_t *c = json_object_get(it, "compare_at_price");

        set[i].sku = sg_json_str(it, "sku");
        if (json_is_string(p)) {
            set[i].price = json_string_value(p);
            set[i].price_len = json_string_length(p);
        }
        if (json_is_string(c)) {
            set[i].compare_at = json_string_value(c);
            set[i].compare_at_len = json_string_length(c);
        }
        set[i].clear_compare_at = c && json_is_null(c);
    }
    rc = sg_catalog_prices_set(tx, op->who.tenant_id, set, n, &bad, err);
    if (rc) {
        rc = bulk_refused(tx, op, rc, bad, "variant.price", err);
        goto out;
    }
    out = json_array();
    for (i = 0; !rc && i < n; i++) {
        const struct sg_variant_price *vp = &set[i].now;

        changed += set[i].changed;
        if (set[i].changed)
            rc = sg_engine__orders_cover(op->e, tx, op->who.tenant_id,
                                         set[i].sku, err);
        sg_money_format(vp->price, vp->currency, price, sizeof(price));
        sg_money_format(vp->compare_at, vp->currency, cmp, sizeof(cmp));
        json_array_append_new(
            out, json_pack("{s:s, s:I, s:I, s:s, s:s?, s:s, s:b}", "sku",
                           set[i].sku, "variant_id",
                           (json_int_t)vp->variant_id, "product_id",
                           (json_int_t)vp->product_id, "price", price,
                           "compare_at_price", vp->compare_at ? cmp : NULL,
                           "currency", vp->currency, "changed",
                           set[i].changed));
        snprintf(object, sizeof(object), "variant:%" PRId64, vp->variant_id);
        rc = sg_engine__audit(tx, op, "variant.price", object, "ok", err);
    }
    if (!rc) {
        op->result = json_pack("{s:o, s:I}", "items", out, "changed",
                               (json_int_t)changed);
        out = NULL;
    }
out:
    json_decref(out);
    sg_free(set);
    return rc;
}

static void h_prices_bulk(struct sg_http_req *r, void *ctx)
{
    submit_bulk(r, ctx, price_item_check, write_prices_bulk);
}

static void h_inventory_get(struct sg_http_req *r, void *ctx)
{
    struct sg_engine *e = ctx;
    struct sg_caller who;
    char sku[SG_CAT_SKU_MAX + 1];
    int64_t pid = 0;
    int rc;

    if (!sg_engine__auth(e, r, false, &who) ||
        !path_text(r, "sku", sku, sizeof(sku)))
        return;
    rc = sg_catalog_locate(e->store, who.tenant_id, 0, sku, &pid, NULL, NULL);
    if (rc == SG_ENOTFOUND) {
        sg_http_reply_error(r, 404, "not_found", "no such SKU", NULL);
        return;
    }
    if (rc) {
        sg_http_reply_error(r, 503, "storage_unavailable",
                            "cannot read inventory", NULL);
        return;
    }
    sg_http_reply_json(r, 200,
                       json_pack("{s:s, s:I, s:o}", "sku", sku, "product_id",
                                 (json_int_t)pid, "levels",
                                 levels_json(e->store, who.tenant_id, sku)));
}

/* ---- listings ---- */

static int write_listing_set(struct sg_store_tx *tx, void *arg,
                             struct sg_err *err)
{
    struct sg_api_op *op = arg;
    const char *status = sg_json_str(op->input, "status");
    const char *reason = sg_json_str(op->input, "reason");
    char object[96];
    int rc;

    snprintf(object, sizeof(object), "product:%" PRId64 ":%.32s", op->id,
             op->text);
    rc = sg_catalog_listing_set(tx, op->who.tenant_id, op->id, op->text,
                                status, reason, err);
    if (!rc)
        op->result = json_pack("{s:I, s:s, s:s}", "product_id",
                               (json_int_t)op->id, "channel", op->text,
                               "status", status);
    return finish(tx, op, rc, "listing.set", object, err);
}

static void h_listing_put(struct sg_http_req *r, void *ctx)
{
    struct sg_engine *e = ctx;
    struct sg_caller who;
    char channel[SG_CAT_CHANNEL_MAX + 1];
    int64_t id;
    json_t *in;

    if (!sg_engine__auth(e, r, true, &who) || !path_id(r, "id", &id) ||
        !path_text(r, "channel", channel, sizeof(channel)) ||
        !read_body(r, SG_FIELDS(listing_fields), &in))
        return;
    submit_with(e, r, &who, id, in, channel, write_listing_set);
}

/* ---- validation ---- */

static bool load_rules(struct sg_engine *e, struct sg_http_req *r,
                       struct sg_catalog_rules *rules, char *channel,
                       size_t cap)
{
    struct sg_err err;

    if (sg_http_req_query_get(r, "channel", channel, (long)cap) < 0)
        snprintf(channel, cap, "tiktok_shop");
    if (strcmp(channel, "tiktok_shop") != 0) {
        sg_http_reply_error(r, 400, "invalid_parameter",
                            "channel must be tiktok_shop", "channel");
        return false;
    }
    sg_err_init(&err);
    if (sg_catalog_rules_load(rules, e->cfg, &err) != 0) {
        sg_catalog_rules_release(rules);
        sg_http_reply_error(r, 500, "config_error", err.msg, NULL);
        return false;
    }
    return true;
}

static void h_product_validation(struct sg_http_req *r, void *ctx)
{
    struct sg_engine *e = ctx;
    struct sg_caller who;
    struct sg_catalog_rules rules;
    struct sg_product p;
    char channel[32];
    int64_t id;
    int rc;

    if (!sg_engine__auth(e, r, false, &who) || !path_id(r, "id", &id) ||
        !load_rules(e, r, &rules, channel, sizeof(channel)))
        return;
    rc = sg_catalog_get(e->store, who.tenant_id, id, &p, NULL);
    if (rc == SG_ENOTFOUND)
        sg_http_reply_error(r, 404, "not_found", "no such product", NULL);
    else if (rc)
        sg_http_reply_error(r, 503, "storage_unavailable",
                            "cannot read the product", NULL);
    else
        sg_http_reply_json(r, 200, sg_catalog_validate(&rules, &p, channel));
    sg_product_release(&p);
    sg_catalog_rules_release(&rules);
}

static void h_validation(struct sg_http_req *r, void *ctx)
{
    struct sg_engine *e = ctx;
    struct sg_caller who;
    struct sg_catalog_rules rules;
    struct sg_product *ps = NULL;
    size_t n = 0, invalid = 0;
    int64_t after, limit;
    char channel[32];
    json_t *arr, *doc;

    if (!sg_engine__auth(e, r, false, &who) ||
        !query_i64(r, "after", 0, 0, INT64_MAX, &after) ||
        !query_i64(r, "limit", 100, 1, PRODUCTS_PAGE_MAX, &limit) ||
        !load_rules(e, r, &rules, channel, sizeof(channel)))
        return;
    if (sg_catalog_list(e->store, who.tenant_id, after, (size_t)limit, &ps,
                        &n, NULL) != 0) {
        sg_catalog_rules_release(&rules);
        sg_http_reply_error(r, 503, "storage_unavailable",
                            "cannot list products", NULL);
        return;
    }
    arr = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *rep = sg_catalog_validate(&rules, &ps[i], channel);

        if (!json_is_true(json_object_get(rep, "valid")))
            invalid++;
        json_array_append_new(arr, rep);
    }
    doc = json_pack("{s:s, s:I, s:I, s:o}", "channel", channel, "checked",
                    (json_int_t)n, "invalid", (json_int_t)invalid, "products",
                    arr);
    if (n == (size_t)limit)
        json_object_set_new(doc, "next_after", json_integer(ps[n - 1].id));
    sg_product_list_free(ps, n);
    sg_catalog_rules_release(&rules);
    sg_http_reply_json(r, 200, doc);
}

void sg_engine__register_catalog(struct sg_engine *e)
{
    struct sg_http_server *s = e->http;

    sg_http_route(s, "GET", "/api/v1/products", h_products_list, e);
    sg_http_route(s, "POST", "/api/v1/products", h_product_create, e);
    sg_http_route(s, "GET", "/api/v1/products/{id}", h_product_get, e);
    sg_http_route(s, "PUT", "/api/v1/products/{id}", h_product_replace, e);
    sg_http_route(s, "DELETE", "/api/v1/products/{id}", h_product_delete, e);
    sg_http_route(s, "POST", "/api/v1/products/{id}/variants", h_variant_add,
                  e);
    sg_http_route(s, "PUT", "/api/v1/products/{id}/listings/{channel}",
                  h_listing_put, e);
    sg_http_route(s, "GET", "/api/v1/products/{id}/validation",
                  h_product_validation, e);
    sg_http_route(s, "GET", "/api/v1/variants/{id}", h_variant_get, e);
    sg_http_route(s, "PATCH", "/api/v1/variants/{id}", h_variant_patch, e);
    sg_http_route(s, "DELETE", "/api/v1/variants/{id}", h_variant_delete, e);
    sg_http_route(s, "GET", "/api/v1/inventory/{sku}", h_inventory_get, e);
    sg_http_route(s, "PUT", "/api/v1/inventory/{sku}", h_inventory_put, e);
    sg_http_route(s, "POST", "/api/v1/inventory/{sku}/adjust",
                  h_inventory_adjust, e);
    sg_http_route(s, "PUT", "/api/v1/inventory", h_inventory_bulk, e);
    sg_http_route(s, "PUT", "/api/v1/prices", h_prices_bulk, e);
    sg_http_route(s, "GET", "/api/v1/validation", h_validation, e);
}
