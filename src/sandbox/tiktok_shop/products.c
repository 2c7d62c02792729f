/*
 * products.c - the Product module: listings with SKUs, per-warehouse
 * stock and prices, an asynchronous audit (PENDING, then ACTIVATE or
 * FAILED with reasons against the category's attributes and rules, with
 * webhooks 5 and 37), search with cursor pagination, categories, brands
 * and uploads. Price and inventory writes skip the audit (reference 8.9).
 * Every function runs with the state lock held.
 */
#include "core/sg.h"
#include "sandbox/internal.h"
#include "core/json.h"

#define SEARCH_CAP 10000
#define IDS_MAX 20
#define FILTER_IDS_MAX 10
#define IMAGE_MAX (5u << 20)

#define W "seller.product.write"
#define R "seller.product.basic"

/* ---- small helpers ---- */

static json_t *products(struct sg_sbx_call *c)
{
    return sg_sbx_coll(c->sbx, "products");
}

static void bad_param(struct sg_sbx_call *c, const char *field)
{
    char msg[160];

    snprintf(msg, sizeof(msg),
             "Invalid parameter. `%s` is missing or invalid.", field);
    sg_sbx_fail(c, 400, 36009004, msg, NULL);
}

static void not_found(struct sg_sbx_call *c)
{
    sg_sbx_fail(c, 200, 12052032, "The product does not exist.", NULL);
}

/* The product named by the path, visible to this shop; answers if not. */
static json_t *path_product(struct sg_sbx_call *c)
{
    char id[32];
    json_t *p;

    if (!sg_sbx_param(c, "product_id", id, sizeof(id)) ||
        !(p = json_object_get(products(c), id)) ||
        strcmp(sg_json_str(p, "status"), "DELETED") == 0) {
        not_found(c);
        return NULL;
    }
    if (strcmp(sg_json_str(p, "shop_id"), c->shop->id) != 0) {
        sg_sbx_fail(c, 200, 12052048, "You can't edit other sellers' "
                    "products", NULL);
        return NULL;
    }
    return p;
}

static bool is_money(const char *s)
{
    size_t i = 0, dots = 0;

    if (!s || !*s)
        return false;
    for (; s[i]; i++) {
        if (s[i] == '.')
            dots++;
        else if (s[i] < '0' || s[i] > '9')
            return false;
    }
    return dots <= 1 && i <= 20;
}

static bool warehouse_ok(struct sg_sbx_call *c, const char *id)
{
    json_t *w = id ? json_object_get(sg_sbx_coll(c->sbx, "warehouses"), id)
                   : NULL;

    return w && strcmp(sg_json_str(w, "shop_id"), c->shop->id) == 0 &&
           strcmp(sg_json_str(w, "type"), "SALES_WAREHOUSE") == 0;
}

static const char *str_or(const json_t *o, const char *k, const char *d)
{
    const char *v = sg_json_str(o, k);

    return v ? v : d;
}

/* ---- validation (synchronous part of create/edit) ---- */

static bool check_sku(struct sg_sbx_call *c, const json_t *sku)
{
    json_t *price = json_object_get(sku, "price"), *inv, *w;
    size_t i;

    if (!json_is_object(sku) || !is_money(sg_json_str(price, "amount")) ||
        !sg_json_str(price, "currency")) {
        bad_param(c, "skus[].price");
        return false;
    }
    inv = json_object_get(sku, "inventory");
    json_array_foreach(inv, i, w) {
        if (!warehouse_ok(c, sg_json_str(w, "warehouse_id"))) {
            sg_sbx_fail(c, 200, 12052097, "The warehouse does not exist",
                        NULL);
            return false;
        }
        if (sg_json_int(w, "quantity", -1) < 0) {
            bad_param(c, "skus[].inventory[].quantity");
            return false;
        }
    }
    return true;
}

static bool check_category(struct sg_sbx_call *c, const char *id)
{
    const json_t *cat = sg_sbx__cat_find(c->sbx, id);

    if (!cat) {
        sg_sbx_fail(c, 200, 12052023, "Category does not exist", NULL);
        return false;
    }
    if (!json_is_true(json_object_get(cat, "is_leaf"))) {
        sg_sbx_fail(c, 200, 12052024, "Category is not final category",
                    NULL);
        return false;
    }
    return true;
}

/* full: a create or full edit, where every required field must be sent. */
static bool validate(struct sg_sbx_call *c, const json_t *b, bool full)
{
    json_t *skus = json_object_get(b, "skus"), *sku;
    const char *t = sg_json_str(b, "title");
    size_t i;

    if ((full || json_object_get(b, "title")) &&
        (!t || !*t || strlen(t) > 255)) {
        bad_param(c, "title");
        return false;
    }
    if ((full || json_object_get(b, "description")) &&
        !sg_json_str(b, "description")) {
        bad_param(c, "description");
        return false;
    }
    if ((full || json_object_get(b, "main_images")) &&
        json_array_size(json_object_get(b, "main_images")) == 0) {
        bad_param(c, "main_images");
        return false;
    }
    if ((full || json_object_get(b, "category_id")) &&
        !check_category(c, sg_json_str(b, "category_id")))
        return false;
    if ((full || skus) &&
        (!json_is_array(skus) || json_array_size(skus) == 0 ||
         json_array_size(skus) > 100)) {
        bad_param(c, "skus");
        return false;
    }
    json_array_foreach(skus, i, sku) {
        if (!check_sku(c, sku))
            return false;
    }
    return true;
}

/* ---- the audit ---- */

static void add_reason(json_t *reasons, const char *pos, const char *why)
{
    json_array_append_new(
        reasons, json_pack("{s:s,s:[s],s:[s]}", "position", pos, "reasons",
                           why, "suggestions",
                           "Fix the listing and submit it again."));
}

static bool has_attr(const json_t *p, const char *id)
{
    size_t i;
    json_t *a;

    json_array_foreach(json_object_get(p, "product_attributes"), i, a) {
        const char *aid = sg_json_str(a, "id");

        if (aid && strcmp(aid, id) == 0 &&
            json_array_size(json_object_get(a, "values")) > 0)
            return true;
    }
    return false;
}

static bool has_cert(const json_t *p, const char *id)
{
    size_t i;
    json_t *a;

    json_array_foreach(json_object_get(p, "certifications"), i, a) {
        const char *aid = sg_json_str(a, "id");

        if (aid && strcmp(aid, id) == 0)
            return true;
    }
    return false;
}

/* Why the product fails its category's rules (empty array = passes). */
static json_t *audit_reasons(struct sg_sbx *s, const json_t *p)
{
    const json_t *cat = sg_sbx__cat_find(s, sg_json_str(p, "category_id"));
    json_t *reasons = json_array(), *rules, *a, *dims;
    char why[200];
    size_t i;

    if (!cat) {
        add_reason(reasons, "category_id", "Category does not exist");
        return reasons;
    }
    json_array_foreach(json_object_get(cat, "attributes"), i, a) {
        if (!json_is_true(json_object_get(a, "is_requried")) ||
            has_attr(p, str_or(a, "id", "")))
            continue;
        snprintf(why, sizeof(why), "Missing required attribute: %s (%s)",
                 str_or(a, "name", "?"), str_or(a, "id", "?"));
        add_reason(reasons, "product_attributes", why);
    }
    rules = json_object_get(cat, "rules");
    dims = json_object_get(p, "package_dimensions");
    if (json_is_true(json_object_get(json_object_get(rules,
                                                     "package_dimension"),
                                     "is_required")) &&
        (!sg_json_str(dims, "length") || !sg_json_str(dims, "width") ||
         !sg_json_str(dims, "height")))
        add_reason(reasons, "package_dimensions",
                   "Package dimensions are required for this category");
    json_array_foreach(json_object_get(rules, "product_certifications"), i,
                       a) {
        if (!json_is_true(json_object_get(a, "is_required")) ||
            has_cert(p, str_or(a, "id", "")))
            continue;
        snprintf(why, sizeof(why), "Missing required certification: %s",
                 str_or(a, "name", "?"));
        add_reason(reasons, "certifications", why);
    }
    if (json_is_true(json_object_get(json_object_get(rules, "size_chart"),
                                     "is_required")) &&
        !json_object_get(p, "size_chart"))
        add_reason(reasons, "size_chart", "A size chart is required");
    return reasons;
}

static void emit_status(struct sg_sbx *s, const json_t *p)
{
    const char *id = sg_json_str(p, "id");
    json_int_t t = sg_json_int(p, "update_time", 0);

    /* The doc sample carries product_id as a number in type 5. */
    sg_sbx_emit(s, sg_json_str(p, "shop_id"), 5,
                json_pack("{s:I,s:s,s:s,s:I}", "product_id",
                          (json_int_t)strtoll(id, NULL, 10), "status",
                          sg_json_str(p, "status"), "suspended_reason", "",
                          "update_time", t));
}

static void audit_task(struct sg_sbx *s, json_t *arg)
{
    json_t *p = json_object_get(sg_sbx_coll(s, "products"),
                                sg_json_str(arg, "product_id"));
    json_t *reasons;
    bool pass;

    if (!p || sg_json_int(p, "audit_rev", 0) != sg_json_int(arg, "rev", -1) ||
        strcmp(sg_json_str(p, "status"), "PENDING") != 0)
        return;
    reasons = audit_reasons(s, p);
    pass = json_array_size(reasons) == 0;
    json_object_set_new(p, "status", json_string(pass ? "ACTIVATE"
                                                      : "FAILED"));
    json_object_set_new(p, "audit", json_pack("{s:s}", "status",
                                              pass ? "APPROVED"
                                                   : "REJECTED"));
    json_object_set_new(p, "audit_failed_reasons", reasons);
    json_object_set_new(p, "update_time", json_integer(sg_sbx_now_s(s)));
    sg_sbx_emit(s, sg_json_str(p, "shop_id"), 37,
                json_pack("{s:s,s:{s:s},s:I}", "product_id",
                          sg_json_str(p, "id"), "audit", "status",
                          pass ? "APPROVED" : "REJECTED", "update_time",
                          (json_int_t)sg_sbx_now_s(s)));
    emit_status(s, p);
    sg_sbx_dirty(s);
}

const struct sg_sbx_task_kind sg_sbx_product_tasks[] = {
    {.name = "product.audit", .fn = audit_task},
    {.name = NULL, .fn = NULL},
};

/*
 * Put p under audit: PENDING now, a verdict after audit_delay_ms. The due
 * time is kept on the product (audit_due_ms, sandbox clock) so a restart
 * with --state resumes the same audit at the same time.
 */
static void start_audit(struct sg_sbx *s, json_t *p)
{
    json_int_t rev = sg_json_int(p, "audit_rev", 0) + 1;
    int64_t due = sg_sbx_now_ms(s) + s->cfg.audit_delay_ms;

    json_object_set_new(p, "audit_rev", json_integer(rev));
    json_object_set_new(p, "audit_due_ms", json_integer(due));
    json_object_set_new(p, "status", json_string("PENDING"));
    json_object_set_new(p, "audit", json_pack("{s:s}", "status",
                                              "AUDITING"));
    json_object_del(p, "audit_failed_reasons");
    sg_sbx_schedule(s, due, audit_task,
                    json_pack("{s:s,s:I}", "product_id",
                              sg_json_str(p, "id"), "rev", rev));
}

void sg_sbx__products_resume(struct sg_sbx *s)
{
    const char *id;
    json_t *p;

    json_object_foreach(sg_sbx_coll(s, "products"), id, p) {
        json_t *due = json_object_get(p, "audit_due_ms");

        if (strcmp(str_or(p, "status", ""), "PENDING") != 0)
            continue;
        /* A file from before audit_due_ms existed: audit from now. */
        if (!json_is_integer(due)) {
            start_audit(s, p);
            continue;
        }
        sg_sbx_schedule(s, json_integer_value(due), audit_task,
                        json_pack("{s:s,s:I}", "product_id", id, "rev",
                                  sg_json_int(p, "audit_rev", 0)));
    }
}

/* ---- create / edit ---- */

static json_t *sku_copy(struct sg_sbx *s, const json_t *in, const json_t *old)
{
    json_t *sku = json_deep_copy(in);
    char id[24];

    if (old) {
        json_object_set_new(sku, "id", json_string(sg_json_str(old, "id")));
        json_object_set_new(sku, "committed_quantity",
                            json_integer(sg_json_int(
                                old, "committed_quantity", 0)));
    } else {
        sg_sbx_new_id(s, id);
        json_object_set_new(sku, "id", json_string(id));
        json_object_set_new(sku, "committed_quantity", json_integer(0));
    }
    if (!json_is_array(json_object_get(sku, "inventory")))
        json_object_set_new(sku, "inventory", json_array());
    return sku;
}

static json_t *old_sku(const json_t *p, const char *id)
{
    size_t i;
    json_t *sku;

    json_array_foreach(json_object_get(p, "skus"), i, sku) {
        if (id && strcmp(str_or(sku, "id", ""), id) == 0)
            return sku;
    }
    return NULL;
}

/* New SKU list: ids kept for SKUs that name an existing id. */
static json_t *merge_skus(struct sg_sbx *s, const json_t *p,
                          const json_t *in)
{
    json_t *out = json_array(), *sku;
    size_t i;

    json_array_foreach(in, i, sku)
        json_array_append_new(
            out, sku_copy(s, sku, p ? old_sku(p, sg_json_str(sku, "id"))
                                    : NULL));
    return out;
}

static json_t *write_answer(const json_t *p)
{
    json_t *skus = json_array(), *sku;
    size_t i;

    json_array_foreach(json_object_get(p, "skus"), i, sku)
        json_array_append_new(
            skus, json_pack("{s:s,s:s,s:O*,s:s?}", "id",
                            sg_json_str(sku, "id"), "seller_sku",
                            str_or(sku, "seller_sku", ""),
                            "sales_attributes",
                            json_object_get(sku, "sales_attributes"),
                            "external_sku_id",
                            sg_json_str(sku, "external_sku_id")));
    return json_pack("{s:s,s:o,s:[]}", "product_id", sg_json_str(p, "id"),
                     "skus", skus, "warnings");
}

static void p_create(struct sg_sbx_call *c)
{
    struct sg_sbx *s = c->sbx;
    const char *idem = sg_json_str(c->body, "idempotency_key");
    char key[320], id[24];
    json_t *idx = json_object_get(s->state, "idempotency"), *prev, *p;
    json_t *ans, *rec;
    unsigned long mark;
    bool draft;

    snprintf(key, sizeof(key), "%s|%s", c->shop->id, idem ? idem : "");
    prev = idem ? json_object_get(idx, key) : NULL;
    if (prev) {
        sg_sbx_ok(c, json_deep_copy(json_object_get(prev, "data")));
        return;
    }
    draft = strcmp(str_or(c->body, "save_mode", "LISTING"), "DRAFT") == 0;
    if (!validate(c, c->body, !draft))
        return;
    /*
     * The product, its answer and its idempotency record are built
     * before the world changes: out of memory, nothing is created and
     * the answer is the internal error (the caller retries), never a
     * success for a product that is not there or has lost a member.
     */
    mark = sg_json_alloc_failures();
    sg_sbx_new_id(s, id);
    p = json_deep_copy(c->body);
    json_object_del(p, "idempotency_key");
    json_object_set_new(p, "id", json_string(id));
    json_object_set_new(p, "shop_id", json_string(c->shop->id));
    json_object_set_new(p, "skus",
                        merge_skus(s, NULL, json_object_get(c->body,
                                                            "skus")));
    json_object_set_new(p, "create_time", json_integer(c->now_s));
    json_object_set_new(p, "update_time", json_integer(c->now_s));
    json_object_set_new(p, "status", json_string("DRAFT"));
    /* An audit task for a product that is then not added finds none. */
    if (!draft && p)
        start_audit(s, p);
    ans = write_answer(p);
    rec = idem ? json_pack("{s:s,s:o}", "product_id", id, "data",
                           write_answer(p))
               : NULL;
    if (!p || !ans || (idem && !rec) || sg_json_alloc_failures() != mark ||
        json_object_set(products(c), id, p) != 0) {
        json_decref(p);
        json_decref(ans);
        json_decref(rec);
        sg_sbx_fail(c, 500, 36009003,
                    "Internal error. Please try again later.", NULL);
        return;
    }
    if (idem && json_object_set_new(idx, key, rec) != 0) {
        json_object_del(products(c), id);
        json_decref(p);
        json_decref(ans);
        sg_sbx_fail(c, 500, 36009003,
                    "Internal error. Please try again later.", NULL);
        return;
    }
    json_decref(p);
    sg_sbx_dirty(s);
    sg_sbx_ok(c, ans);
}

/*
 * Members the sandbox owns; an edit body cannot overwrite them (an "id"
 * in a partial edit would otherwise rename the product).
 */
static const char *const reserved[] = {
    "id", "shop_id", "create_time", "update_time", "audit_rev",
    "audit_due_ms", "status", "audit", "audit_failed_reasons",
};

static bool is_reserved(const char *k)
{
    for (size_t i = 0; i < SG_ARRAY_SIZE(reserved); i++)
        if (strcmp(reserved[i], k) == 0)
            return true;
    return false;
}

static void edit(struct sg_sbx_call *c, bool full)
{
    json_t *p = path_product(c), *skus;
    const char *k;
    json_t *v;

    if (!p || !validate(c, c->body, full))
        return;
    skus = json_object_get(c->body, "skus");
    if (skus)
        skus = merge_skus(c->sbx, p, skus);
    if (full) {
        json_t *n = json_deep_copy(c->body);

        for (size_t i = 0; i < SG_ARRAY_SIZE(reserved); i++) {
            json_object_del(n, reserved[i]);
            if (json_object_get(p, reserved[i]))
                json_object_set(n, reserved[i],
                                json_object_get(p, reserved[i]));
        }
        json_object_clear(p);
        json_object_update(p, n);
        json_decref(n);
    } else {
        json_object_foreach(c->body, k, v) {
            if (!is_reserved(k))
                json_object_set(p, k, v);
        }
    }
    if (skus)
        json_object_set_new(p, "skus", skus);
    json_object_set_new(p, "update_time", json_integer(c->now_s));
    start_audit(c->sbx, p);
    sg_sbx_dirty(c->sbx);
    sg_sbx_ok(c, write_answer(p));
}

static void p_edit(struct sg_sbx_call *c)
{
    edit(c, true);
}

static void p_partial_edit(struct sg_sbx_call *c)
{
    edit(c, false);
}

static json_t *public_product(const json_t *p)
{
    json_t *o = json_deep_copy(p);

    json_object_del(o, "audit_rev");
    json_object_del(o, "audit_due_ms");
    json_object_del(o, "shop_id");
    return o;
}

static void p_get(struct sg_sbx_call *c)
{
    json_t *p = path_product(c);

    if (p)
        sg_sbx_ok(c, public_product(p));
}

/* ---- batch status changes ---- */

static void item_error(json_t *errors, long code, const char *msg,
                       const char *id)
{
    json_array_append_new(errors,
                          json_pack("{s:I,s:s,s:{s:s}}", "code",
                                    (json_int_t)code, "message", msg,
                                    "detail", "product_id", id));
}

/*
 * Apply to each of body.product_ids: from (NULL = any live status) ->
 * to ("AUDIT" = re-audit). Errors per product inside code 0.
 */
static void batch(struct sg_sbx_call *c, const char *const *from,
                  const char *to)
{
    json_t *ids = json_object_get(c->body, "product_ids"), *v;
    json_t *errors = json_array();
    size_t i;

    if (!json_is_array(ids) || json_array_size(ids) == 0) {
        json_decref(errors);
        bad_param(c, "product_ids");
        return;
    }
    if (json_array_size(ids) > IDS_MAX) {
        json_decref(errors);
        sg_sbx_fail(c, 200, 12019120, "Too many product IDs.", NULL);
        return;
    }
    json_array_foreach(ids, i, v) {
        const char *id = json_string_value(v);
        json_t *p = id ? json_object_get(products(c), id) : NULL;
        const char *st = p ? sg_json_str(p, "status") : NULL;
        bool ok = false;

        if (!p || strcmp(sg_json_str(p, "shop_id"), c->shop->id) != 0) {
            item_error(errors, 12052032, "The product does not exist.",
                       id ? id : "");
            continue;
        }
        for (size_t k = 0; from[k]; k++)
            ok = ok || strcmp(from[k], st) == 0;
        if (!ok) {
            item_error(errors, 12052217,
                       "The product status does not allow this operation.",
                       id);
            continue;
        }
        json_object_set_new(p, "update_time", json_integer(c->now_s));
        if (strcmp(to, "AUDIT") == 0) {
            start_audit(c->sbx, p);
        } else {
            json_object_set_new(p, "status", json_string(to));
            emit_status(c->sbx, p);
        }
    }
    sg_sbx_dirty(c->sbx);
    sg_sbx_ok(c, json_pack("{s:o}", "errors", errors));
}

static void p_delete(struct sg_sbx_call *c)
{
    static const char *const from[] = {
        "DRAFT", "PENDING", "FAILED", "ACTIVATE", "SELLER_DEACTIVATED",
        "PLATFORM_DEACTIVATED", "FREEZE", NULL};

    batch(c, from, "DELETED");
}

static void p_activate(struct sg_sbx_call *c)
{
    static const char *const from[] = {"SELLER_DEACTIVATED", "FAILED",
                                       NULL};

    batch(c, from, "AUDIT");
}

static void p_deactivate(struct sg_sbx_call *c)
{
    static const char *const from[] = {"ACTIVATE", "PENDING", NULL};

    batch(c, from, "SELLER_DEACTIVATED");
}

static void p_recover(struct sg_sbx_call *c)
{
    static const char *const from[] = {"DELETED", NULL};

    batch(c, from, "SELLER_DEACTIVATED");
}

/* ---- search ---- */

static bool in_list(const json_t *list, const char *v)
{
    size_t i;
    json_t *x;

    json_array_foreach(list, i, x) {
        if (v && json_is_string(x) && strcmp(json_string_value(x), v) == 0)
            return true;
    }
    return false;
}

static bool sku_filter(const json_t *p, const json_t *list, const char *k)
{
    size_t i;
    json_t *sku;

    if (!json_is_array(list))
        return true;
    json_array_foreach(json_object_get(p, "skus"), i, sku) {
        if (in_list(list, sg_json_str(sku, k)))
            return true;
    }
    return false;
}

static bool time_filter(const json_t *b, const json_t *p, const char *f)
{
    char ge[40], le[40];
    int64_t t = sg_json_int(p, f, 0);

    snprintf(ge, sizeof(ge), "%s_ge", f);
    snprintf(le, sizeof(le), "%s_le", f);
    return t >= sg_json_int(b, ge, INT64_MIN) &&
           t <= sg_json_int(b, le, INT64_MAX);
}

static bool matches(struct sg_sbx_call *c, const json_t *p)
{
    const json_t *b = c->body;
    const char *want = str_or(b, "status", "ALL");
    const char *st = sg_json_str(p, "status");
    const char *audit = sg_json_str(json_object_get(p, "audit"), "status");
    json_t *as = json_object_get(b, "audit_status");

    if (strcmp(sg_json_str(p, "shop_id"), c->shop->id) != 0)
        return false;
    if (strcmp(want, "ALL") == 0 ? strcmp(st, "DELETED") == 0
                                 : strcmp(want, st) != 0)
        return false;
    if (json_is_array(as) &&
        !in_list(as, audit && strcmp(audit, "APPROVED") == 0 ? "PASSED"
                     : audit && strcmp(audit, "REJECTED") == 0
                         ? "REJECTED"
                         : "AUDITING"))
        return false;
    return sku_filter(p, json_object_get(b, "seller_skus"), "seller_sku") &&
           sku_filter(p, json_object_get(b, "sku_ids"), "id") &&
           time_filter(b, p, "create_time") &&
           time_filter(b, p, "update_time");
}

static json_t *search_item(const json_t *p)
{
    json_t *skus = json_array(), *sku;
    size_t i;

    json_array_foreach(json_object_get(p, "skus"), i, sku) {
        json_t *pr = json_object_get(sku, "price");
        const char *amt = str_or(pr, "amount", "0");

        json_array_append_new(
            skus, json_pack("{s:s,s:s,s:{s:s,s:s,s:s},s:O}", "id",
                            sg_json_str(sku, "id"), "seller_sku",
                            str_or(sku, "seller_sku", ""), "price",
                            "currency", str_or(pr, "currency", "USD"),
                            "tax_exclusive_price", amt, "sale_price",
                            str_or(pr, "sale_price", amt), "inventory",
                            json_object_get(sku, "inventory")));
    }
    return json_pack("{s:s,s:s,s:s,s:o,s:I,s:I,s:[s],s:O*}", "id",
                     sg_json_str(p, "id"), "title", str_or(p, "title", ""),
                     "status", sg_json_str(p, "status"), "skus", skus,
                     "create_time", sg_json_int(p, "create_time", 0),
                     "update_time", sg_json_int(p, "update_time", 0),
                     "sales_regions", "US", "audit",
                     json_object_get(p, "audit"));
}

static void p_search(struct sg_sbx_call *c)
{
    json_t *hits = json_array(), *p, *list;
    const char *id;
    size_t start, count;
    char next[64];

    if (json_array_size(json_object_get(c->body, "seller_skus")) >
        FILTER_IDS_MAX) {
        json_decref(hits);
        sg_sbx_fail(c, 200, 12019027, "seller_skus can hold at most 10.",
                    NULL);
        return;
    }
    if (json_array_size(json_object_get(c->body, "sku_ids")) >
        FILTER_IDS_MAX) {
        json_decref(hits);
        sg_sbx_fail(c, 200, 12019087, "sku_ids can hold at most 10.", NULL);
        return;
    }
    json_object_foreach(products(c), id, p) {
        if (matches(c, p))
            json_array_append(hits, p);
    }
    if (!sg_sbx_page(c, json_array_size(hits), 20, &start, &count, next)) {
        json_decref(hits);
        return;
    }
    if (start + count > SEARCH_CAP) {
        json_decref(hits);
        sg_sbx_fail(c, 200, 12052180, "The total number of search results "
                    "can not exceed 10000.", NULL);
        return;
    }
    list = json_array();
    for (size_t i = start; i < start + count; i++)
        json_array_append_new(list, search_item(json_array_get(hits, i)));
    sg_sbx_ok(c, json_pack("{s:o,s:s,s:i}", "products", list,
                           "next_page_token", next, "total_count",
                           (int)json_array_size(hits)));
    json_decref(hits);
}

/* ---- inventory and prices ---- */

static json_t *sku_error(const char *sku_id, json_t *extra)
{
    return json_pack("{s:i,s:s,s:{s:s,s:o}}", "code", 12052990, "message",
                     "Check failed", "detail", "sku_id", sku_id,
                     "extra_errors", extra);
}

/* Per-SKU check of an inventory update; NULL when it may be applied. */
static json_t *inv_check(struct sg_sbx_call *c, const json_t *old,
                         const json_t *inv)
{
    json_t *extra = json_array(), *w;
    size_t i;

    json_array_foreach(inv, i, w) {
        const char *wid = str_or(w, "warehouse_id", "");

        if (!warehouse_ok(c, wid))
            json_array_append_new(
                extra, json_pack("{s:s,s:i,s:s}", "warehouse_id", wid,
                                 "code", 12052097, "message",
                                 "The warehouse does not exist"));
        else if (sg_json_int(w, "quantity", -1) < 0)
            json_array_append_new(
                extra, json_pack("{s:s,s:i,s:s}", "warehouse_id", wid,
                                 "code", 12052098, "message",
                                 "The quantity is invalid"));
    }
    json_array_foreach(json_object_get(old, "inventory"), i, w) {
        size_t j;
        json_t *x;
        bool seen = false;

        json_array_foreach(inv, j, x) {
            seen = seen || strcmp(str_or(x, "warehouse_id", ""),
                                  str_or(w, "warehouse_id", "-")) == 0;
        }
        if (!seen && json_array_size(json_object_get(old, "inventory")) > 1)
            json_array_append_new(
                extra, json_pack("{s:s,s:i,s:s}", "warehouse_id",
                                 str_or(w, "warehouse_id", ""), "code",
                                 12019028, "message",
                                 "Include every warehouse of the SKU"));
    }
    if (json_array_size(extra) == 0) {
        json_decref(extra);
        return NULL;
    }
    return extra;
}

/* The data of a bulk update's answer: its per-item errors, or {} when
 * there are none (TikTok sends an empty object then). Takes errors. */
static json_t *errors_data(json_t *errors)
{
    if (json_array_size(errors))
        return json_pack("{s:o}", "errors", errors);
    json_decref(errors);
    return json_object();
}

static void p_inventory_update(struct sg_sbx_call *c)
{
    json_t *p = path_product(c), *skus, *sku, *errors, *extra;
    size_t i;

    if (!p)
        return;
    skus = json_object_get(c->body, "skus");
    if (!json_is_array(skus) || json_array_size(skus) == 0) {
        bad_param(c, "skus");
        return;
    }
    errors = json_array();
    json_array_foreach(skus, i, sku) {
        const char *sid = str_or(sku, "id", "");
        json_t *old = old_sku(p, sid);
        json_t *inv = json_object_get(sku, "inventory");

        if (!old) {
            json_array_append_new(
                errors, json_pack("{s:i,s:s,s:{s:s}}", "code", 12052032,
                                  "message", "The SKU does not exist",
                                  "detail", "sku_id", sid));
        } else if ((extra = inv_check(c, old, inv))) {
            json_array_append_new(errors, sku_error(sid, extra));
        } else {
            json_object_set_new(old, "inventory", json_deep_copy(inv));
        }
    }
    sg_sbx_dirty(c->sbx);
    sg_sbx_ok(c, errors_data(errors));
}

static json_t *inv_view(const json_t *p)
{
    json_t *skus = json_array(), *sku, *w;
    size_t i, j;

    json_array_foreach(json_object_get(p, "skus"), i, sku) {
        json_t *wi = json_array();
        int64_t total = 0, committed = sg_json_int(sku, "committed_quantity",
                                                   0);

        json_array_foreach(json_object_get(sku, "inventory"), j, w) {
            total += sg_json_int(w, "quantity", 0);
            json_array_append_new(
                wi, json_pack("{s:s,s:I,s:I}", "warehouse_id",
                              str_or(w, "warehouse_id", ""),
                              "available_quantity",
                              sg_json_int(w, "quantity", 0),
                              "committed_quantity",
                              (json_int_t)(j == 0 ? committed : 0)));
        }
        json_array_append_new(
            skus, json_pack("{s:s,s:s,s:I,s:I,s:o}", "id",
                            sg_json_str(sku, "id"), "seller_sku",
                            str_or(sku, "seller_sku", ""),
                            "total_available_quantity", (json_int_t)total,
                            "total_committed_quantity",
                            (json_int_t)committed, "warehouse_inventory",
                            wi));
    }
    return json_pack("{s:s,s:o}", "product_id", sg_json_str(p, "id"),
                     "skus", skus);
}

static void p_inventory_search(struct sg_sbx_call *c)
{
    json_t *pids = json_object_get(c->body, "product_ids");
    json_t *sids = json_object_get(c->body, "sku_ids");
    json_t *out, *p;
    const char *id;

    if (!json_is_array(pids) && !json_is_array(sids)) {
        bad_param(c, "product_ids");
        return;
    }
    out = json_array();
    json_object_foreach(products(c), id, p) {
        if (strcmp(sg_json_str(p, "shop_id"), c->shop->id) != 0 ||
            strcmp(sg_json_str(p, "status"), "DELETED") == 0)
            continue;
        if (json_is_array(sids) ? sku_filter(p, sids, "id")
                                : in_list(pids, id))
            json_array_append_new(out, inv_view(p));
    }
    sg_sbx_ok(c, json_pack("{s:o}", "inventory", out));
}

static void p_prices_update(struct sg_sbx_call *c)
{
    json_t *p = path_product(c), *skus, *sku, *errors;
    size_t i;

    if (!p)
        return;
    skus = json_object_get(c->body, "skus");
    if (!json_is_array(skus) || json_array_size(skus) == 0) {
        bad_param(c, "skus");
        return;
    }
    json_array_foreach(skus, i, sku) {
        if (!is_money(sg_json_str(json_object_get(sku, "price"),
                                  "amount"))) {
            bad_param(c, "skus[].price.amount");
            return;
        }
    }
    errors = json_array();
    json_array_foreach(skus, i, sku) {
        json_t *old = old_sku(p, sg_json_str(sku, "id"));

        if (!old) {
            json_array_append_new(
                errors, json_pack("{s:i,s:s,s:{s:s}}", "code", 12052032,
                                  "message", "The SKU does not exist",
                                  "detail", "sku_id",
                                  str_or(sku, "id", "")));
            continue;
        }
        json_object_set(old, "price", json_object_get(sku, "price"));
        if (json_object_get(sku, "list_price"))
            json_object_set(old, "list_price",
                            json_object_get(sku, "list_price"));
    }
    sg_sbx_dirty(c->sbx);
    sg_sbx_ok(c, errors_data(errors));
}

/* ---- categories and brands ---- */

static void c_list(struct sg_sbx_call *c)
{
    json_t *out = json_array(), *cat;
    size_t i;

    json_array_foreach(json_object_get(c->sbx->cats, "categories"), i,
                       cat) {
        json_t *o = json_deep_copy(cat);

        json_object_del(o, "attributes");
        json_object_del(o, "rules");
        json_object_set_new(o, "permission_statuses",
                            json_pack("[s]", "AVAILABLE"));
        json_array_append_new(out, o);
    }
    sg_sbx_ok(c, json_pack("{s:o}", "categories", out));
}

static const json_t *path_category(struct sg_sbx_call *c)
{
    char id[32];
    const json_t *cat = NULL;

    if (sg_sbx_param(c, "category_id", id, sizeof(id)))
        cat = sg_sbx__cat_find(c->sbx, id);
    if (!cat)
        sg_sbx_fail(c, 200, 12052023, "Category does not exist", NULL);
    return cat;
}

static void c_attributes(struct sg_sbx_call *c)
{
    const json_t *cat = path_category(c);
    json_t *a;

    if (!cat)
        return;
    a = json_object_get(cat, "attributes");
    sg_sbx_ok(c, json_pack("{s:o}", "attributes",
                           a ? json_deep_copy(a) : json_array()));
}

static void c_rules(struct sg_sbx_call *c)
{
    const json_t *cat = path_category(c);
    json_t *r;

    if (!cat)
        return;
    r = json_object_get(cat, "rules");
    sg_sbx_ok(c, r ? json_deep_copy(r) : json_object());
}

static void c_recommend(struct sg_sbx_call *c)
{
    const char *title = str_or(c->body, "product_title", "");
    json_t *cat, *best = NULL;
    size_t i;

    json_array_foreach(json_object_get(c->sbx->cats, "categories"), i,
                       cat) {
        if (!json_is_true(json_object_get(cat, "is_leaf")))
            continue;
        if (!best)
            best = cat;
        if (strstr(title, str_or(cat, "local_name", "\x01")))
            best = cat;
    }
    if (!best) {
        sg_sbx_fail(c, 200, 12052023, "Category does not exist", NULL);
        return;
    }
    sg_sbx_ok(c, json_pack("{s:s}", "leaf_category_id",
                           sg_json_str(best, "id")));
}

static void b_list(struct sg_sbx_call *c)
{
    char name[128] = "";
    json_t *hits = json_array(), *b, *list;
    const char *id;
    size_t start, count;
    char next[64];

    sg_sbx_query(c, "brand_name", name, sizeof(name));
    json_object_foreach(sg_sbx_coll(c->sbx, "brands"), id, b) {
        if (!name[0] || strstr(str_or(b, "name", ""), name))
            json_array_append(hits, b);
    }
    if (!sg_sbx_page(c, json_array_size(hits), 20, &start, &count, next)) {
        json_decref(hits);
        return;
    }
    list = json_array();
    for (size_t i = start; i < start + count; i++)
        json_array_append_new(list, json_deep_copy(json_array_get(hits, i)));
    sg_sbx_ok(c, json_pack("{s:o,s:s,s:i}", "brands", list,
                           "next_page_token", next, "total_count",
                           (int)json_array_size(hits)));
    json_decref(hits);
}

static void b_create(struct sg_sbx_call *c)
{
    const char *name = sg_json_str(c->body, "name");
    char id[24];

    if (!name || !*name || strlen(name) > 30) {
        bad_param(c, "name");
        return;
    }
    sg_sbx_new_id(c->sbx, id);
    json_object_set_new(sg_sbx_coll(c->sbx, "brands"), id,
                        json_pack("{s:s,s:s,s:s,s:s}", "id", id, "name",
                                  name, "authorized_status", "UNAUTHORIZED",
                                  "brand_status", "AVAILABLE"));
    sg_sbx_dirty(c->sbx);
    sg_sbx_ok(c, json_pack("{s:s}", "id", id));
}

/* ---- uploads ---- */

static bool upload_data(struct sg_sbx_call *c, const char **data,
                        size_t *len)
{
    size_t bl = 0, cl = 0;
    const char *body = sg_http_req_body(c->req, &bl);
    const char *ct = sg_http_req_header(c->req, "content-type", &cl);
    char ctype[256];

    if (!ct || cl >= sizeof(ctype)) {
        bad_param(c, "data");
        return false;
    }
    memcpy(ctype, ct, cl);
    ctype[cl] = '\0';
    if (!body || !sg_sbx__multipart_field(body, bl, ctype, "data", data,
                                          len) ||
        *len == 0) {
        bad_param(c, "data");
        return false;
    }
    return true;
}

static void png_size(const unsigned char *d, size_t len, int *w, int *h)
{
    *w = *h = 0;
    if (len >= 24 && memcmp(d, "\x89PNG", 4) == 0) {
        *w = d[16] << 24 | d[17] << 16 | d[18] << 8 | d[19];
        *h = d[20] << 24 | d[21] << 16 | d[22] << 8 | d[23];
    }
}

static void i_upload(struct sg_sbx_call *c)
{
    const char *data, *uc = NULL;
    size_t len, ul = 0, bl = 0, cl = 0;
    const char *body = sg_http_req_body(c->req, &bl);
    const char *ct = sg_http_req_header(c->req, "content-type", &cl);
    char use_case[32] = "MAIN_IMAGE", ctype[256], id[24], uri[64], url[256];
    int w, h;

    if (!upload_data(c, &data, &len))
        return;
    if (len > IMAGE_MAX) {
        sg_sbx_fail(c, 200, 12038005, "The image file is too large.", NULL);
        return;
    }
    snprintf(ctype, sizeof(ctype), "%.*s", (int)cl, ct);
    if (sg_sbx__multipart_field(body, bl, ctype, "use_case", &uc, &ul) &&
        ul < sizeof(use_case))
        snprintf(use_case, sizeof(use_case), "%.*s", (int)ul, uc);
    png_size((const unsigned char *)data, len, &w, &h);
    sg_sbx_new_id(c->sbx, id);
    snprintf(uri, sizeof(uri), "tos-sbx-i-%s", id);
    snprintf(url, sizeof(url), "%s/sandbox/v1/images/%s", sg_sbx_url(c->sbx),
             id);
    json_object_set_new(sg_sbx_coll(c->sbx, "images"), id,
                        json_pack("{s:s,s:s,s:s,s:i,s:i,s:s,s:I}", "id", id,
                                  "uri", uri, "url", url, "width", w,
                                  "height", h, "use_case", use_case, "size",
                                  (json_int_t)len));
    sg_sbx_dirty(c->sbx);
    sg_sbx_ok(c, json_pack("{s:s,s:s,s:i,s:i,s:s}", "uri", uri, "url", url,
                           "width", w, "height", h, "use_case", use_case));
}

static void f_upload(struct sg_sbx_call *c)
{
    const char *data;
    size_t len;
    char id[24], url[256];

    if (!upload_data(c, &data, &len))
        return;
    sg_sbx_new_id(c->sbx, id);
    snprintf(url, sizeof(url), "%s/sandbox/v1/files/%s", sg_sbx_url(c->sbx),
             id);
    sg_sbx_ok(c, json_pack("{s:s,s:s,s:s,s:s}", "id", id, "url", url,
                           "name", "upload", "format", "PDF"));
}

static void p_listing_check(struct sg_sbx_call *c)
{
    json_t *reasons;

    if (!validate(c, c->body, true))
        return;
    reasons = audit_reasons(c->sbx, c->body);
    sg_sbx_ok(c, json_pack("{s:s,s:o}", "check_result",
                           json_array_size(reasons) ? "FAILED" : "PASSED",
                           "fail_reasons", reasons));
}

#define V "202309"
#define REQ SG_SBX_SHOP_REQUIRED
#define NO SG_SBX_SHOP_FORBIDDEN
#define EP(m, r, v, shop, sc, mp, f)                                           \
    {                                                                          \
        .method = m, .module = "product", .rest = r, .versions = v,            \
        .shop_rule = shop, .scope = sc, .multipart = mp, .fn = f               \
    }

const struct sg_sbx_endpoint sg_sbx_product_endpoints[] = {
    EP("POST", "/products", V, REQ, W, false, p_create),
    EP("GET", "/products/{product_id}", V, REQ, R, false, p_get),
    EP("PUT", "/products/{product_id}", V ",202509", REQ, W, false,
     p_edit),
    EP("POST", "/products/{product_id}/partial_edit", V ",202509",
     REQ, W, false, p_partial_edit),
    EP("DELETE", "/products", V, REQ, W, false, p_delete),
    EP("POST", "/products/activate", V, REQ, W, false, p_activate),
    EP("POST", "/products/deactivate", V, REQ, W, false,
     p_deactivate),
    EP("POST", "/products/recover", V, REQ, W, false, p_recover),
    EP("POST", "/products/search", V ",202312,202502", REQ, R,
     false, p_search),
    EP("POST", "/products/listing_check", V, REQ, W, false,
     p_listing_check),
    EP("POST", "/products/{product_id}/inventory/update", V, REQ, W,
     false, p_inventory_update),
    EP("POST", "/inventory/search", V, REQ, R, false,
     p_inventory_search),
    EP("POST", "/products/{product_id}/prices/update", V, REQ, W,
     false, p_prices_update),
    EP("GET", "/categories", V, REQ, R, false, c_list),
    EP("GET", "/categories/{category_id}/attributes", V, REQ, R,
     false, c_attributes),
    EP("GET", "/categories/{category_id}/rules", V, REQ, R, false,
     c_rules),
    EP("POST", "/categories/recommend", V, REQ, R, false,
     c_recommend),
    EP("GET", "/brands", V, REQ, R, false, b_list),
    EP("POST", "/brands", V, NO, W, false, b_create),
    EP("POST", "/images/upload", V, NO, W, true, i_upload),
    EP("POST", "/files/upload", V, NO, W, true, f_upload),
    {.method = NULL},
};
