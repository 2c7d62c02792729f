/*
 * model.c - the catalog model without I/O: lifetimes, money, shape checks
 * and the JSON schema that the API, the jsonl importer and "unchanged"
 * detection share. Money never passes through floating point.
 */
#include "core/sg.h"

#include "core/alloc.h"
#include "core/json.h"
#include "core/utf8.h"
#include "features/catalog/catalog.h"

/* ---- lifetimes ---- */

static void variant_release(struct sg_variant *v)
{
    sg_free(v->sku);
    for (int i = 0; i < SG_CAT_OPTIONS; i++)
        sg_free(v->option[i]);
    sg_free(v->barcode);
    sg_free(v->image);
}

void sg_product_release(struct sg_product *p)
{
    if (!p)
        return;
    sg_free(p->handle);
    sg_free(p->title);
    sg_free(p->body_html);
    sg_free(p->vendor);
    sg_free(p->product_type);
    sg_free(p->category);
    sg_free(p->tags);
    for (int i = 0; i < SG_CAT_OPTIONS; i++)
        sg_free(p->option_name[i]);
    sg_free(p->attributes);
    sg_free(p->certifications);
    for (size_t i = 0; i < p->n_variants; i++)
        variant_release(&p->variants[i]);
    sg_free(p->variants);
    for (size_t i = 0; i < p->n_images; i++) {
        sg_free(p->images[i].src);
        sg_free(p->images[i].alt);
    }
    sg_free(p->images);
    memset(p, 0, sizeof(*p));
}

void sg_product_list_free(struct sg_product *ps, size_t n)
{
    if (!ps)
        return;
    for (size_t i = 0; i < n; i++)
        sg_product_release(&ps[i]);
    sg_free(ps);
}

void sg_listing_list_free(struct sg_listing *ls, size_t n)
{
    if (!ls)
        return;
    for (size_t i = 0; i < n; i++)
        sg_free(ls[i].reason);
    sg_free(ls);
}

int sg_product_add_variant(struct sg_product *p, struct sg_variant **out)
{
    struct sg_variant *vs, *v;

    if (p->n_variants >= SG_CAT_VARIANTS_MAX)
        return SG_ELIMIT;
    vs = sg_realloc(p->variants, (p->n_variants + 1) * sizeof(*vs));
    if (!vs)
        return SG_ENOMEM;
    p->variants = vs;
    v = &vs[p->n_variants++];
    memset(v, 0, sizeof(*v));
    v->position = (int)p->n_variants;
    v->cost = -1;
    v->grams = -1;
    v->inventory = -1;
    *out = v;
    return 0;
}

int sg_product_add_image(struct sg_product *p, const char *src, size_t len,
                         const char *alt, int position)
{
    struct sg_image *is, *im;

    if (p->n_images >= SG_CAT_IMAGES_MAX)
        return SG_ELIMIT;
    is = sg_realloc(p->images, (p->n_images + 1) * sizeof(*is));
    if (!is)
        return SG_ENOMEM;
    p->images = is;
    im = &is[p->n_images];
    memset(im, 0, sizeof(*im));
    im->src = sg_strndup(src ? src : "", src ? len : 0);
    im->alt = alt && alt[0] ? sg_strdup(alt) : NULL;
    im->position = position;
    p->n_images++;
    if (!im->src || (alt && alt[0] && !im->alt))
        return SG_ENOMEM;
    return 0;
}

int sg_cat_set_str(char **field, const char *s, size_t len)
{
    char *copy = NULL;

    if (s && len) {
        copy = sg_strndup(s, len);
        if (!copy)
            return SG_ENOMEM;
    }
    sg_free(*field);
    *field = copy;
    return 0;
}

/* ---- money ---- */

int sg_currency_digits(const char *c)
{
    static const char *const zero[] = {"BIF", "CLP", "DJF", "GNF", "ISK",
                                       "JPY", "KMF", "KRW", "PYG", "RWF",
                                       "UGX", "UYI", "VND", "VUV", "XAF",
                                       "XOF", "XPF"};
    static const char *const three[] = {"BHD", "IQD", "JOD", "KWD",
                                        "LYD", "OMR", "TND"};

    if (!c || strlen(c) != 3)
        return -1;
    for (int i = 0; i < 3; i++)
        if (c[i] < 'A' || c[i] > 'Z')
            return -1;
    for (size_t i = 0; i < SG_ARRAY_SIZE(zero); i++)
        if (strcmp(c, zero[i]) == 0)
            return 0;
    for (size_t i = 0; i < SG_ARRAY_SIZE(three); i++)
        if (strcmp(c, three[i]) == 0)
            return 3;
    return 2;
}

int sg_money_parse(int64_t *minor_out, const char *s, size_t len,
                   const char *currency, struct sg_err *err)
{
    int digits = sg_currency_digits(currency);
    int64_t v = 0;
    size_t i = 0, int_digits = 0;
    int frac = 0;
    bool neg = false;

    if (digits < 0)
        return sg_err_set(err, SG_EINVAL, "unknown currency \"%.8s\"",
                          currency ? currency : "");
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    while (i < len && (s[i] == ' ' || s[i] == '\t'))
        i++;
    if (i < len && (s[i] == '-' || s[i] == '+'))
        neg = s[i++] == '-';
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++, int_digits++) {
        if (v > (SG_CAT_PRICE_MAX * 10))
            return sg_err_set(err, SG_EINVAL, "amount is too large");
        v = v * 10 + (s[i] - '0');
    }
    if (i < len && s[i] == '.') {
        i++;
        for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
            if (frac == digits)
                return sg_err_set(err, SG_EINVAL,
                                  "\"%.*s\" has more decimals than %s "
                                  "allows (%d)",
                                  (int)SG_MIN(len, (size_t)40), s, currency,
                                  digits);
            v = v * 10 + (s[i] - '0');
            frac++;
        }
    }
    if (i != len || (int_digits == 0 && frac == 0))
        return sg_err_set(err, SG_EINVAL,
                          "\"%.*s\" is not a decimal amount like 19.99",
                          (int)SG_MIN(len, (size_t)40), s);
    for (; frac < digits; frac++)
        v *= 10;
    if (v > SG_CAT_PRICE_MAX)
        return sg_err_set(err, SG_EINVAL, "amount is too large");
    *minor_out = neg ? -v : v;
    return 0;
}

void sg_money_format(int64_t minor, const char *currency, char *out,
                     size_t out_len)
{
    int digits = sg_currency_digits(currency);
    uint64_t a = minor < 0 ? (uint64_t)0 - (uint64_t)minor : (uint64_t)minor;
    uint64_t scale = 1;

    if (digits < 0)
        digits = 2;
    for (int i = 0; i < digits; i++)
        scale *= 10;
    if (digits == 0)
        snprintf(out, out_len, "%s%" PRIu64, minor < 0 ? "-" : "", a);
    else if (digits == 3)
        snprintf(out, out_len, "%s%" PRIu64 ".%03" PRIu64,
                 minor < 0 ? "-" : "", a / scale, a % scale);
    else
        snprintf(out, out_len, "%s%" PRIu64 ".%02" PRIu64,
                 minor < 0 ? "-" : "", a / scale, a % scale);
}

/* ---- shape checks ---- */

static int bad(const char **field_out, const char *field, struct sg_err *err,
               const char *fmt, ...) SG_PRINTF(4, 5);

static int bad(const char **field_out, const char *field, struct sg_err *err,
               const char *fmt, ...)
{
    char what[200];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    if (field_out)
        *field_out = field;
    return sg_err_set(err, SG_EINVAL, "%s: %s", field, what);
}

static bool has_space_or_slash(const char *s)
{
    for (; *s; s++)
        if (*s == ' ' || *s == '/' || *s == '\t' || *s == '\n' || *s == '\r')
            return true;
    return false;
}

static bool text_ok(const char *s)
{
    return !s || sg_utf8_valid(s, strlen(s));
}

/*
 * The first text field of p that is not UTF-8, or NULL. Text from a CSV
 * is raw bytes; a JSON view (jansson) refuses such a string, so the field
 * would vanish from every answer while staying in the store.
 */
static const char *bad_text(const struct sg_product *p)
{
    if (!text_ok(p->handle))
        return "handle";
    if (!text_ok(p->title))
        return "title";
    if (!text_ok(p->body_html))
        return "body_html";
    if (!text_ok(p->vendor))
        return "vendor";
    if (!text_ok(p->product_type))
        return "product_type";
    if (!text_ok(p->category))
        return "category";
    if (!text_ok(p->tags))
        return "tags";
    if (!text_ok(p->attributes))
        return "attributes";
    if (!text_ok(p->certifications))
        return "certifications";
    for (int o = 0; o < SG_CAT_OPTIONS; o++)
        if (!text_ok(p->option_name[o]))
            return "options";
    for (size_t i = 0; i < p->n_images; i++)
        if (!text_ok(p->images[i].src) || !text_ok(p->images[i].alt))
            return "images";
    for (size_t i = 0; i < p->n_variants; i++) {
        const struct sg_variant *v = &p->variants[i];

        if (!text_ok(v->sku))
            return "sku";
        if (!text_ok(v->barcode))
            return "barcode";
        if (!text_ok(v->image))
            return "image";
        for (int o = 0; o < SG_CAT_OPTIONS; o++)
            if (!text_ok(v->option[o]))
                return "options";
    }
    return NULL;
}

int sg_product_check(const struct sg_product *p, const char **field_out,
                     struct sg_err *err)
{
    const char *not_utf8 = bad_text(p);

    if (not_utf8)
        return bad(field_out, not_utf8, err, "is not valid UTF-8 text");
    if (!p->handle || !p->handle[0])
        return bad(field_out, "handle", err, "is required");
    if (strlen(p->handle) > SG_CAT_HANDLE_MAX || has_space_or_slash(p->handle))
        return bad(field_out, "handle", err,
                   "\"%.60s\" must be 1-255 bytes without spaces or /",
                   p->handle);
    if (!p->title || !p->title[0])
        return bad(field_out, "title", err, "is required");
    if (strcmp(p->status, "active") != 0 && strcmp(p->status, "draft") != 0 &&
        strcmp(p->status, "archived") != 0)
        return bad(field_out, "status", err,
                   "\"%.20s\" is not active, draft or archived", p->status);
    if (sg_currency_digits(p->currency) < 0)
        return bad(field_out, "currency", err,
                   "\"%.8s\" is not an ISO 4217 code like USD", p->currency);
    if (p->n_variants == 0)
        return bad(field_out, "variants", err, "at least one is required");
    if (p->length_mm < 0 || p->width_mm < 0 || p->height_mm < 0)
        return bad(field_out, "package", err, "dimensions must be >= 0");
    for (size_t i = 0; i < p->n_variants; i++) {
        const struct sg_variant *v = &p->variants[i];

        if (!v->sku || !v->sku[0])
            return bad(field_out, "sku", err,
                       "is required (inventory is kept per SKU)");
        if (strlen(v->sku) > SG_CAT_SKU_MAX || has_space_or_slash(v->sku))
            return bad(field_out, "sku", err,
                       "\"%.70s\" must be 1-64 bytes without spaces or /",
                       v->sku);
        for (size_t j = 0; j < i; j++)
            if (strcmp(p->variants[j].sku, v->sku) == 0)
                return bad(field_out, "sku", err,
                           "\"%.64s\" is used by two variants", v->sku);
        for (int o = 0; o < SG_CAT_OPTIONS; o++) {
            bool named = p->option_name[o] && p->option_name[o][0];
            bool valued = v->option[o] && v->option[o][0];

            if (named != valued)
                return bad(field_out, "options", err,
                           named ? "SKU %s has no value for an option"
                                 : "SKU %s has a value for an unnamed option",
                           v->sku);
        }
        if (v->price < 0 || v->price > SG_CAT_PRICE_MAX)
            return bad(field_out, "price", err, "of SKU %s is out of range",
                       v->sku);
        if (v->compare_at < 0 || v->compare_at > SG_CAT_PRICE_MAX)
            return bad(field_out, "compare_at_price", err,
                       "of SKU %s is out of range", v->sku);
        if (v->cost < -1 || v->cost > SG_CAT_PRICE_MAX)
            return bad(field_out, "cost", err, "of SKU %s is out of range",
                       v->sku);
        if (v->grams < -1 || v->grams > SG_CAT_QTY_MAX)
            return bad(field_out, "grams", err, "of SKU %s is out of range",
                       v->sku);
        if (v->inventory < -1 || v->inventory > SG_CAT_QTY_MAX)
            return bad(field_out, "inventory_quantity", err,
                       "of SKU %s is out of range", v->sku);
    }
    return 0;
}

/* ---- JSON ---- */

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static json_t *money_json(int64_t minor, const char *currency)
{
    char buf[40];

    sg_money_format(minor, currency, buf, sizeof(buf));
    return json_string(buf);
}

/* Tags "a, b" as ["a", "b"]. */
static json_t *tags_json(const char *tags)
{
    json_t *a = json_array();
    const char *p = tags;

    while (p && *p) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        const char *s = p;

        while (n && *s == ' ') {
            s++;
            n--;
        }
        while (n && s[n - 1] == ' ')
            n--;
        if (n)
            json_array_append_new(a, json_stringn(s, n));
        p = end ? end + 1 : NULL;
    }
    return a;
}

json_t *sg_product_to_json(const struct sg_product *p, bool with_ids)
{
    unsigned long mark = sg_json_alloc_failures();
    json_t *o = json_object(), *vs = json_array(), *is = json_array();
    json_t *opts = json_array(), *attrs = NULL;

    if (!o || !vs || !is || !opts) {
        json_decref(o);
        json_decref(vs);
        json_decref(is);
        json_decref(opts);
        return NULL;
    }
    if (with_ids)
        json_object_set_new(o, "id", json_integer(p->id));
    json_object_set_new(o, "handle", str_or_null(p->handle));
    json_object_set_new(o, "title", str_or_null(p->title));
    json_object_set_new(o, "body_html", str_or_null(p->body_html));
    json_object_set_new(o, "vendor", str_or_null(p->vendor));
    json_object_set_new(o, "product_type", str_or_null(p->product_type));
    json_object_set_new(o, "category", str_or_null(p->category));
    json_object_set_new(o, "tags", tags_json(p->tags));
    json_object_set_new(o, "status", json_string(p->status));
    json_object_set_new(o, "published", json_boolean(p->published));
    json_object_set_new(o, "currency", json_string(p->currency));
    for (int i = 0; i < SG_CAT_OPTIONS && p->option_name[i]; i++)
        json_array_append_new(opts, json_string(p->option_name[i]));
    json_object_set_new(o, "options", opts);
    json_object_set_new(o, "package",
                        json_pack("{s:I, s:I, s:I}", "length_mm",
                                  (json_int_t)p->length_mm, "width_mm",
                                  (json_int_t)p->width_mm, "height_mm",
                                  (json_int_t)p->height_mm));
    if (p->attributes)
        attrs = sg_json_loads(p->attributes, 0, NULL);
    json_object_set_new(o, "attributes", attrs ? attrs : json_object());
    json_object_set_new(o, "certifications", tags_json(p->certifications));
    for (size_t i = 0; i < p->n_images; i++) {
        const struct sg_image *im = &p->images[i];

        json_array_append_new(is, json_pack("{s:s, s:o, s:i}", "src", im->src,
                                            "alt", str_or_null(im->alt),
                                            "position", im->position));
    }
    json_object_set_new(o, "images", is);
    for (size_t i = 0; i < p->n_variants; i++) {
        const struct sg_variant *v = &p->variants[i];
        json_t *vo = json_object(), *vopt = json_array();

        if (with_ids)
            json_object_set_new(vo, "id", json_integer(v->id));
        json_object_set_new(vo, "sku", str_or_null(v->sku));
        json_object_set_new(vo, "position", json_integer(v->position));
        for (int k = 0; k < SG_CAT_OPTIONS && v->option[k]; k++)
            json_array_append_new(vopt, json_string(v->option[k]));
        json_object_set_new(vo, "options", vopt);
        json_object_set_new(vo, "price", money_json(v->price, p->currency));
        json_object_set_new(vo, "compare_at_price",
                            v->compare_at ? money_json(v->compare_at,
                                                       p->currency)
                                          : json_null());
        json_object_set_new(vo, "cost",
                            v->cost >= 0 ? money_json(v->cost, p->currency)
                                         : json_null());
        json_object_set_new(vo, "barcode", str_or_null(v->barcode));
        json_object_set_new(vo, "grams", v->grams >= 0
                                             ? json_integer(v->grams)
                                             : json_null());
        json_object_set_new(vo, "weight_unit",
                            json_string(v->weight_unit[0] ? v->weight_unit
                                                          : "g"));
        json_object_set_new(vo, "image", str_or_null(v->image));
        json_array_append_new(vs, vo);
    }
    json_object_set_new(o, "variants", vs);
    if (with_ids) {
        json_object_set_new(o, "created_at", json_integer(p->created_at));
        json_object_set_new(o, "updated_at", json_integer(p->updated_at));
    }
    /*
     * Any member a failed allocation left out (the attributes fall back
     * to {} when their text does not load) would pass for the product's
     * content: no view at all instead.
     */
    return sg_json_built(o, mark);
}

int sg_product_compare(const struct sg_product *a, const struct sg_product *b,
                       bool *same_out)
{
    json_t *ja = sg_product_to_json(a, false);
    json_t *jb = sg_product_to_json(b, false);
    int rc = ja && jb ? 0 : SG_ENOMEM;

    *same_out = !rc && json_equal(ja, jb);
    json_decref(ja);
    json_decref(jb);
    return rc;
}

bool sg_product_same(const struct sg_product *a, const struct sg_product *b)
{
    bool same = false;

    return sg_product_compare(a, b, &same) == 0 && same;
}

/* ---- from JSON ---- */

struct jctx {
    char *path;
    size_t path_len;
    struct sg_err *err;
};

static int jfail(struct jctx *c, const char *path, const char *fmt, ...)
    SG_PRINTF(3, 4);

static int jfail(struct jctx *c, const char *path, const char *fmt, ...)
{
    char what[200];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    if (c->path)
        snprintf(c->path, c->path_len, "%s", path);
    return sg_err_set(c->err, SG_EINVAL, "%s: %s", path, what);
}

/* Optional string member into *field; "" and null leave NULL. */
static int jstr(struct jctx *c, const json_t *o, const char *key,
                const char *path, char **field)
{
    json_t *v = json_object_get(o, key);

    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return jfail(c, path, "must be a string");
    if (json_string_length(v) > SG_CAT_TEXT_MAX)
        return jfail(c, path, "is longer than 65536 bytes");
    if (sg_cat_set_str(field, json_string_value(v), json_string_length(v)))
        return sg_err_set(c->err, SG_ENOMEM, "out of memory");
    return 0;
}

static int jmoney(struct jctx *c, const json_t *o, const char *key,
                  const char *path, const char *currency, int64_t *out,
                  int64_t absent)
{
    json_t *v = json_object_get(o, key);
    struct sg_err e;

    if (!v || json_is_null(v)) {
        *out = absent;
        return 0;
    }
    if (!json_is_string(v))
        return jfail(c, path, "must be a decimal string like \"19.99\"");
    sg_err_init(&e);
    if (sg_money_parse(out, json_string_value(v), json_string_length(v),
                       currency, &e) != 0)
        return jfail(c, path, "%s", e.msg);
    if (*out < 0)
        return jfail(c, path, "must not be negative");
    return 0;
}

static int jint(struct jctx *c, const json_t *o, const char *key,
                const char *path, int64_t *out, int64_t absent)
{
    json_t *v = json_object_get(o, key);

    if (!v || json_is_null(v)) {
        *out = absent;
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 0 ||
        json_integer_value(v) > SG_CAT_QTY_MAX)
        return jfail(c, path, "must be an integer 0..1000000000");
    *out = json_integer_value(v);
    return 0;
}

/* ["a","b"] (or "a, b") into "a, b". */
static int jlist(struct jctx *c, const json_t *o, const char *key,
                 const char *path, char **field)
{
    json_t *v = json_object_get(o, key), *e;
    char buf[4096];
    size_t i, n = 0;

    if (!v || json_is_null(v))
        return 0;
    if (json_is_string(v))
        return jstr(c, o, key, path, field);
    if (!json_is_array(v))
        return jfail(c, path, "must be an array of strings");
    buf[0] = '\0';
    json_array_foreach(v, i, e) {
        const char *s = json_string_value(e);

        if (!s || strchr(s, ','))
            return jfail(c, path, "must be strings without commas");
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%s",
                              n ? ", " : "", s);
        if (n >= sizeof(buf))
            return jfail(c, path, "is longer than 4096 bytes");
    }
    if (sg_cat_set_str(field, buf, n))
        return sg_err_set(c->err, SG_ENOMEM, "out of memory");
    return 0;
}

static int joptions(struct jctx *c, const json_t *o, const char *path,
                    char *out[SG_CAT_OPTIONS])
{
    json_t *v = json_object_get(o, "options"), *e;
    size_t i;

    if (!v || json_is_null(v))
        return 0;
    if (!json_is_array(v) || json_array_size(v) > SG_CAT_OPTIONS)
        return jfail(c, path, "must be an array of at most 3 strings");
    json_array_foreach(v, i, e) {
        if (!json_is_string(e) || json_string_length(e) == 0)
            return jfail(c, path, "must hold non-empty strings");
        if (sg_cat_set_str(&out[i], json_string_value(e),
                           json_string_length(e)))
            return sg_err_set(c->err, SG_ENOMEM, "out of memory");
    }
    return 0;
}

static int jvariant(struct jctx *c, struct sg_product *p, const json_t *vj,
                    size_t idx)
{
    struct sg_variant *v;
    char path[64], sub[96];
    const char *wu;
    int rc;

    snprintf(path, sizeof(path), "variants[%zu]", idx);
    if (!json_is_object(vj))
        return jfail(c, path, "must be an object");
    rc = sg_product_add_variant(p, &v);
    if (rc == SG_ELIMIT)
        return jfail(c, "variants", "more than 250");
    if (rc)
        return sg_err_set(c->err, rc, "out of memory");
#define SUB(k) (snprintf(sub, sizeof(sub), "%s.%s", path, k), sub)
    if ((rc = jstr(c, vj, "sku", SUB("sku"), &v->sku)) ||
        (rc = joptions(c, vj, SUB("options"), v->option)) ||
        (rc = jmoney(c, vj, "price", SUB("price"), p->currency, &v->price,
                     -1)) ||
        (rc = jmoney(c, vj, "compare_at_price", SUB("compare_at_price"),
                     p->currency, &v->compare_at, 0)) ||
        (rc = jmoney(c, vj, "cost", SUB("cost"), p->currency, &v->cost,
                     -1)) ||
        (rc = jstr(c, vj, "barcode", SUB("barcode"), &v->barcode)) ||
        (rc = jint(c, vj, "grams", SUB("grams"), &v->grams, -1)) ||
        (rc = jstr(c, vj, "image", SUB("image"), &v->image)) ||
        (rc = jint(c, vj, "inventory_quantity", SUB("inventory_quantity"),
                   &v->inventory, -1)))
        return rc;
    if (v->price < 0)
        return jfail(c, SUB("price"), "is required");
    wu = sg_json_str(vj, "weight_unit");
    if (wu && strcmp(wu, "g") && strcmp(wu, "kg") && strcmp(wu, "lb") &&
        strcmp(wu, "oz"))
        return jfail(c, SUB("weight_unit"), "must be g, kg, lb or oz");
    snprintf(v->weight_unit, sizeof(v->weight_unit), "%s", wu ? wu : "g");
#undef SUB
    return 0;
}

int sg_product_from_json(struct sg_product *p, const json_t *j,
                         const char *currency, char *path_out,
                         size_t path_len, struct sg_err *err)
{
    struct jctx c = {path_out, path_len, err};
    const char *cur, *status, *field = NULL;
    json_t *v, *e;
    size_t i;
    int rc;

    if (path_out && path_len)
        path_out[0] = '\0';
    if (!json_is_object(j))
        return jfail(&c, "product", "must be a JSON object");
    cur = sg_json_str(j, "currency");
    snprintf(p->currency, sizeof(p->currency), "%s",
             cur ? cur : currency ? currency : "");
    if (sg_currency_digits(p->currency) < 0 || (cur && strlen(cur) != 3))
        return jfail(&c, "currency", "\"%.8s\" is not an ISO 4217 code",
                     cur ? cur : currency ? currency : "");
    status = sg_json_str(j, "status");
    snprintf(p->status, sizeof(p->status), "%s", status ? status : "active");
    v = json_object_get(j, "published");
    if (v && !json_is_boolean(v))
        return jfail(&c, "published", "must be true or false");
    p->published = v ? json_is_true(v) : true;
    if ((rc = jstr(&c, j, "handle", "handle", &p->handle)) ||
        (rc = jstr(&c, j, "title", "title", &p->title)) ||
        (rc = jstr(&c, j, "body_html", "body_html", &p->body_html)) ||
        (rc = jstr(&c, j, "vendor", "vendor", &p->vendor)) ||
        (rc = jstr(&c, j, "product_type", "product_type",
                   &p->product_type)) ||
        (rc = jstr(&c, j, "category", "category", &p->category)) ||
        (rc = jlist(&c, j, "tags", "tags", &p->tags)) ||
        (rc = jlist(&c, j, "certifications", "certifications",
                    &p->certifications)) ||
        (rc = joptions(&c, j, "options", p->option_name)))
        return rc;
    v = json_object_get(j, "package");
    if (v && !json_is_null(v)) {
        if (!json_is_object(v))
            return jfail(&c, "package", "must be an object");
        if ((rc = jint(&c, v, "length_mm", "package.length_mm",
                       &p->length_mm, 0)) ||
            (rc = jint(&c, v, "width_mm", "package.width_mm", &p->width_mm,
                       0)) ||
            (rc = jint(&c, v, "height_mm", "package.height_mm",
                       &p->height_mm, 0)))
            return rc;
    }
    v = json_object_get(j, "attributes");
    if (v && !json_is_null(v)) {
        const char *k;

        if (!json_is_object(v))
            return jfail(&c, "attributes", "must be an object");
        json_object_foreach(v, k, e) {
            if (!json_is_string(e))
                return jfail(&c, "attributes", "values must be strings");
        }
        if (json_object_size(v)) {
            p->attributes = sg_json_dump(v, NULL);
            if (!p->attributes)
                return sg_err_set(err, SG_ENOMEM, "out of memory");
        }
    }
    v = json_object_get(j, "images");
    if (v && !json_is_null(v)) {
        if (!json_is_array(v))
            return jfail(&c, "images", "must be an array");
        json_array_foreach(v, i, e) {
            const char *src = sg_json_str(e, "src");
            int64_t pos = sg_json_int(e, "position", (int64_t)i + 1);
            char path[48];

            snprintf(path, sizeof(path), "images[%zu].src", i);
            if (!src || !src[0])
                return jfail(&c, path, "is required");
            snprintf(path, sizeof(path), "images[%zu].position", i);
            if (pos < 1 || pos > SG_CAT_IMAGE_POS_MAX)
                return jfail(&c, path, "must be 1..100000");
            rc = sg_product_add_image(p, src, strlen(src),
                                      sg_json_str(e, "alt"), (int)pos);
            if (rc == SG_ELIMIT)
                return jfail(&c, "images", "more than 250");
            if (rc)
                return sg_err_set(err, rc, "out of memory");
        }
    }
    v = json_object_get(j, "variants");
    if (!json_is_array(v) || json_array_size(v) == 0)
        return jfail(&c, "variants", "must be a non-empty array");
    json_array_foreach(v, i, e) {
        rc = jvariant(&c, p, e, i);
        if (rc)
            return rc;
    }
    rc = sg_product_check(p, &field, err);
    if (rc && path_out)
        snprintf(path_out, path_len, "%s", field ? field : "");
    return rc;
}
