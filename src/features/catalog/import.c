/*
 * import.c - the catalog importer (see import.h). Shopify's export has
 * one row per variant or extra image, grouped under a Handle: the first
 * row of a handle carries the product's fields and its first variant;
 * later rows add variants (Option values, Variant SKU or Variant Price
 * set) and images (Image Src set). Metafield columns are
 * "Name (product.metafields.NS.KEY)".
 */
#include "core/sg.h"

#include "core/alloc.h"
#include "core/json.h"
#include "features/catalog/csv.h"
#include "features/catalog/import.h"
#include "store/store.h"

int sg_import_format_parse(const char *name)
{
    if (!name)
        return -1;
    if (strcmp(name, "shopify-csv") == 0 || strcmp(name, "csv") == 0)
        return SG_IMPORT_SHOPIFY_CSV;
    if (strcmp(name, "jsonl") == 0)
        return SG_IMPORT_JSONL;
    return -1;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);

    return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

int sg_import_format_guess(const char *path)
{
    if (path && (ends_with(path, ".jsonl") || ends_with(path, ".ndjson")))
        return SG_IMPORT_JSONL;
    return SG_IMPORT_SHOPIFY_CSV;
}

void sg_import_init(struct sg_import *imp, const char *file_name)
{
    memset(imp, 0, sizeof(*imp));
    snprintf(imp->file, sizeof(imp->file), "%s",
             file_name ? file_name : "-");
}

void sg_import_release(struct sg_import *imp)
{
    if (!imp)
        return;
    for (size_t i = 0; i < imp->n_items; i++)
        sg_product_release(&imp->items[i].p);
    sg_free(imp->items);
    sg_free(imp->msgs);
    memset(imp, 0, sizeof(*imp));
}

static void msg_add(struct sg_import *imp, long line, bool warning,
                    const char *column, const char *fmt, ...)
    SG_PRINTF(5, 6);

static void msg_add(struct sg_import *imp, long line, bool warning,
                    const char *column, const char *fmt, ...)
{
    struct sg_import_msg *m;
    va_list ap;

    if (warning)
        imp->n_warnings++;
    else
        imp->n_errors++;
    if (imp->n_msgs == SG_IMPORT_MSGS_MAX) {
        imp->msgs_dropped++;
        return;
    }
    if (imp->n_msgs % 64 == 0) {
        struct sg_import_msg *ms =
            sg_realloc(imp->msgs, (imp->n_msgs + 64) * sizeof(*ms));

        if (!ms) {
            /* Not "dropped past the cap": the parse or apply fails. */
            imp->msgs_dropped++;
            imp->out_of_memory = true;
            return;
        }
        imp->msgs = ms;
    }
    m = &imp->msgs[imp->n_msgs++];
    m->line = line;
    m->warning = warning;
    snprintf(m->column, sizeof(m->column), "%s", column ? column : "");
    va_start(ap, fmt);
    vsnprintf(m->text, sizeof(m->text), fmt, ap);
    va_end(ap);
}

/* A new item at the end: SG_ELIMIT past the cap, SG_ENOMEM. */
static int item_new(struct sg_import *imp, long line, const char *currency,
                    struct sg_import_item **out)
{
    struct sg_import_item *it;

    *out = NULL;
    if (imp->n_items == SG_IMPORT_ITEMS_MAX)
        return SG_ELIMIT;
    if (imp->n_items % 64 == 0) {
        struct sg_import_item *is =
            sg_realloc(imp->items, (imp->n_items + 64) * sizeof(*is));

        if (!is)
            return SG_ENOMEM;
        imp->items = is;
    }
    it = &imp->items[imp->n_items++];
    memset(it, 0, sizeof(*it));
    it->line = line;
    snprintf(it->p.currency, sizeof(it->p.currency), "%s",
             currency ? currency : "");
    snprintf(it->p.status, sizeof(it->p.status), "active");
    *out = it;
    return 0;
}

/* ---- Shopify CSV ---- */

enum col {
    C_HANDLE, C_TITLE, C_BODY, C_VENDOR, C_CATEGORY, C_TYPE, C_TAGS,
    C_PUBLISHED, C_O1N, C_O1V, C_O2N, C_O2V, C_O3N, C_O3V, C_SKU, C_GRAMS,
    C_QTY, C_PRICE, C_COMPARE, C_BARCODE, C_IMG, C_IMG_POS, C_IMG_ALT,
    C_VAR_IMG, C_WEIGHT_UNIT, C_COST, C_STATUS, C_STD_TYPE, C_CUSTOM_TYPE,
    C_COUNT
};

static const char *const col_names[C_COUNT] = {
    [C_HANDLE] = "Handle",
    [C_TITLE] = "Title",
    [C_BODY] = "Body (HTML)",
    [C_VENDOR] = "Vendor",
    [C_CATEGORY] = "Product Category",
    [C_TYPE] = "Type",
    [C_TAGS] = "Tags",
    [C_PUBLISHED] = "Published",
    [C_O1N] = "Option1 Name",
    [C_O1V] = "Option1 Value",
    [C_O2N] = "Option2 Name",
    [C_O2V] = "Option2 Value",
    [C_O3N] = "Option3 Name",
    [C_O3V] = "Option3 Value",
    [C_SKU] = "Variant SKU",
    [C_GRAMS] = "Variant Grams",
    [C_QTY] = "Variant Inventory Qty",
    [C_PRICE] = "Variant Price",
    [C_COMPARE] = "Variant Compare At Price",
    [C_BARCODE] = "Variant Barcode",
    [C_IMG] = "Image Src",
    [C_IMG_POS] = "Image Position",
    [C_IMG_ALT] = "Image Alt Text",
    [C_VAR_IMG] = "Variant Image",
    [C_WEIGHT_UNIT] = "Variant Weight Unit",
    [C_COST] = "Cost per item",
    [C_STATUS] = "Status",
    [C_STD_TYPE] = "Standard Product Type",
    [C_CUSTOM_TYPE] = "Custom Product Type",
};

#define META_MAX 64

struct meta_col {
    size_t idx;
    char key[96];  /* NS.KEY */
    char name[96]; /* the display name before " (" */
};

struct shop {
    struct sg_import *imp;
    const char *currency;
    long idx[C_COUNT]; /* -1 = column absent */
    struct meta_col meta[META_MAX];
    size_t n_meta;
    struct sg_import_item *cur;
    size_t next_image_pos;
};

static void trim(const char **s, size_t *n)
{
    while (*n && (**s == ' ' || **s == '\t')) {
        (*s)++;
        (*n)--;
    }
    while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
        (*n)--;
}

/* The trimmed value of column c in row (empty when absent). */
static const char *val(const struct shop *sh, const struct sg_csv_row *row,
                       int c, size_t *len)
{
    long i = sh->idx[c];
    const char *s;

    if (i < 0 || (size_t)i >= row->n) {
        *len = 0;
        return "";
    }
    s = row->fields[i];
    *len = row->lens[i];
    trim(&s, len);
    return s;
}

static int header(struct shop *sh, const struct sg_csv_row *row,
                  struct sg_err *err)
{
    for (int c = 0; c < C_COUNT; c++)
        sh->idx[c] = -1;
    for (size_t i = 0; i < row->n; i++) {
        const char *h = row->fields[i], *m;
        size_t n = row->lens[i];

        trim(&h, &n);
        for (int c = 0; c < C_COUNT; c++)
            if (strlen(col_names[c]) == n && memcmp(col_names[c], h, n) == 0 &&
                sh->idx[c] < 0)
                sh->idx[c] = (long)i;
        m = strstr(h, "(product.metafields.");
        if (m && h[n - 1] == ')' && sh->n_meta < META_MAX) {
            struct meta_col *mc = &sh->meta[sh->n_meta++];
            size_t name_len = (size_t)(m - h);
            const char *k = m + strlen("(product.metafields.");

            while (name_len && h[name_len - 1] == ' ')
                name_len--;
            mc->idx = i;
            snprintf(mc->key, sizeof(mc->key), "%.*s",
                     (int)(h + n - 1 - k), k);
            snprintf(mc->name, sizeof(mc->name), "%.*s", (int)name_len, h);
        }
    }
    if (sh->idx[C_HANDLE] < 0)
        return sg_err_set(err, SG_EINVAL,
                          "line %ld: no Handle column: is this a Shopify "
                          "products export?",
                          row->line);
    if (sh->idx[C_TITLE] < 0)
        return sg_err_set(err, SG_EINVAL, "line %ld: no Title column",
                          row->line);
    return 0;
}

static void reject(struct shop *sh, long line, int c, const char *fmt, ...)
    SG_PRINTF(4, 5);

/* Mark the current product rejected with "column: what". */
static void reject(struct shop *sh, long line, int c, const char *fmt, ...)
{
    char what[200];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    msg_add(sh->imp, line, false, col_names[c], "%s", what);
    if (sh->cur)
        sh->cur->rejected = true;
}

static int set_col(struct shop *sh, const struct sg_csv_row *row, int c,
                   char **field)
{
    size_t n;
    const char *s = val(sh, row, c, &n);

    if (n > SG_CAT_TEXT_MAX) {
        reject(sh, row->line, c, "longer than %s bytes", "65536");
        return 0;
    }
    return sg_cat_set_str(field, s, n);
}

static bool money_col(struct shop *sh, const struct sg_csv_row *row, int c,
                      int64_t *out, int64_t absent)
{
    struct sg_err e;
    size_t n;
    const char *s = val(sh, row, c, &n);

    if (n == 0) {
        *out = absent;
        return true;
    }
    sg_err_init(&e);
    if (sg_money_parse(out, s, n, sh->cur->p.currency, &e) != 0) {
        reject(sh, row->line, c, "%s", e.msg);
        return false;
    }
    if (*out < 0) {
        reject(sh, row->line, c, "%s must not be negative", "an amount");
        return false;
    }
    return true;
}

/* Integer column; absent when empty. */
static bool int_col(struct shop *sh, const struct sg_csv_row *row, int c,
                    int64_t *out, int64_t absent, bool allow_negative)
{
    size_t n;
    const char *s = val(sh, row, c, &n);
    int64_t v = 0;
    size_t i = 0;
    bool neg = false;

    *out = absent;
    if (n == 0)
        return true;
    if (s[0] == '-' && allow_negative) {
        neg = true;
        i = 1;
    }
    /* Spreadsheets write whole numbers as "12.0" sometimes. */
    if (n > i + 2 && s[n - 2] == '.' && s[n - 1] == '0')
        n -= 2;
    if (i == n)
        goto bad;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9' || v > SG_CAT_QTY_MAX)
            goto bad;
        v = v * 10 + (s[i] - '0');
    }
    if (v > SG_CAT_QTY_MAX)
        goto bad;
    *out = neg ? -v : v;
    return true;
bad:
    reject(sh, row->line, c, "\"%.40s\" is not a whole number", s);
    return false;
}

static bool truthy(const char *s, size_t n)
{
    return (n == 4 && strncasecmp(s, "true", 4) == 0) ||
           (n == 3 && strncasecmp(s, "yes", 3) == 0) || (n == 1 && *s == '1');
}

/* "a,b , c" into "a, b, c". */
static int tags_norm(char **field, const char *s, size_t n)
{
    char buf[4096];
    size_t out = 0;

    while (n) {
        const char *comma = memchr(s, ',', n);
        size_t k = comma ? (size_t)(comma - s) : n;
        const char *t = s;
        size_t tn = k;

        trim(&t, &tn);
        if (tn && out + tn + 2 < sizeof(buf)) {
            if (out) {
                memcpy(buf + out, ", ", 2);
                out += 2;
            }
            memcpy(buf + out, t, tn);
            out += tn;
        }
        s += k;
        n -= k;
        if (n) {
            s++;
            n--;
        }
    }
    return sg_cat_set_str(field, buf, out);
}

static int product_fields(struct shop *sh, const struct sg_csv_row *row)
{
    struct sg_product *p = &sh->cur->p;
    unsigned long mark;
    json_t *attrs = json_object(), *jv;
    size_t n;
    const char *s;
    int rc = 0;

    if (!attrs)
        return SG_ENOMEM;
    s = val(sh, row, C_TITLE, &n);
    if (n == 0)
        reject(sh, row->line, C_TITLE, "is empty on the first row of %s",
               p->handle);
    if ((rc = set_col(sh, row, C_TITLE, &p->title)) ||
        (rc = set_col(sh, row, C_BODY, &p->body_html)) ||
        (rc = set_col(sh, row, C_VENDOR, &p->vendor)) ||
        (rc = set_col(sh, row, C_CATEGORY, &p->category)) ||
        (rc = set_col(sh, row, C_TYPE, &p->product_type)))
        goto out;
    if (!p->category && (rc = set_col(sh, row, C_STD_TYPE, &p->category)))
        goto out;
    if (!p->product_type &&
        (rc = set_col(sh, row, C_CUSTOM_TYPE, &p->product_type)))
        goto out;
    s = val(sh, row, C_TAGS, &n);
    if ((rc = tags_norm(&p->tags, s, n)))
        goto out;
    s = val(sh, row, C_PUBLISHED, &n);
    p->published = truthy(s, n);
    s = val(sh, row, C_STATUS, &n);
    if (n == 0)
        snprintf(p->status, sizeof(p->status), "%s",
                 p->published || sh->idx[C_PUBLISHED] < 0 ? "active"
                                                          : "draft");
    else if (n < sizeof(p->status)) {
        for (size_t i = 0; i < n; i++)
            p->status[i] = (char)((s[i] >= 'A' && s[i] <= 'Z') ? s[i] + 32
                                                              : s[i]);
        p->status[n] = '\0';
    }
    if (strcmp(p->status, "active") && strcmp(p->status, "draft") &&
        strcmp(p->status, "archived"))
        reject(sh, row->line, C_STATUS,
               "\"%.20s\" is not active, draft or archived", s);
    for (int o = 0; o < SG_CAT_OPTIONS; o++) {
        if ((rc = set_col(sh, row, C_O1N + 2 * o, &p->option_name[o])))
            goto out;
    }
    /* Shopify's single-variant products: "Title" / "Default Title". */
    if (p->option_name[0] && strcmp(p->option_name[0], "Title") == 0 &&
        !p->option_name[1]) {
        s = val(sh, row, C_O1V, &n);
        if (n == 13 && memcmp(s, "Default Title", 13) == 0)
            sg_cat_set_str(&p->option_name[0], NULL, 0);
    }
    for (size_t i = 0; i < sh->n_meta; i++) {
        const struct meta_col *mc = &sh->meta[i];
        const char *v = mc->idx < row->n ? row->fields[mc->idx] : "";
        size_t vn = mc->idx < row->n ? row->lens[mc->idx] : 0;
        int64_t *dim = NULL;

        trim(&v, &vn);
        if (vn == 0)
            continue;
        if (strcmp(mc->key, "surge.package_length_mm") == 0)
            dim = &p->length_mm;
        else if (strcmp(mc->key, "surge.package_width_mm") == 0)
            dim = &p->width_mm;
        else if (strcmp(mc->key, "surge.package_height_mm") == 0)
            dim = &p->height_mm;
        if (dim) {
            char *end;
            char num[32];

            snprintf(num, sizeof(num), "%.*s", (int)SG_MIN(vn, (size_t)31),
                     v);
            errno = 0;
            *dim = strtoll(num, &end, 10);
            if (errno || *end || *dim < 0 || *dim > SG_CAT_QTY_MAX) {
                msg_add(sh->imp, row->line, false, mc->key,
                        "\"%.20s\" is not a whole number of millimetres",
                        num);
                sh->cur->rejected = true;
            }
            continue;
        }
        if (strcmp(mc->key, "surge.certifications") == 0) {
            if ((rc = tags_norm(&p->certifications, v, vn)))
                goto out;
            continue;
        }
        mark = sg_json_alloc_failures();
        jv = json_stringn(v, vn);
        if (!jv && sg_json_alloc_failures() == mark) {
            msg_add(sh->imp, row->line, false, mc->key,
                    "is not valid UTF-8");
            sh->cur->rejected = true;
            continue;
        }
        if (json_object_set_new(attrs, mc->name[0] ? mc->name : mc->key,
                                jv) != 0) {
            rc = SG_ENOMEM;
            goto out;
        }
    }
    if (json_object_size(attrs)) {
        p->attributes = sg_json_dump(attrs, NULL);
        if (!p->attributes)
            rc = SG_ENOMEM;
    }
out:
    json_decref(attrs);
    return rc;
}

static int variant_row(struct shop *sh, const struct sg_csv_row *row)
{
    struct sg_product *p = &sh->cur->p;
    struct sg_variant *v;
    size_t n;
    const char *s;
    int64_t qty;
    int rc;

    rc = sg_product_add_variant(p, &v);
    if (rc == SG_ELIMIT) {
        reject(sh, row->line, C_SKU, "more than %s variants", "250");
        return 0;
    }
    if (rc)
        return rc;
    if ((rc = set_col(sh, row, C_SKU, &v->sku)) ||
        (rc = set_col(sh, row, C_VAR_IMG, &v->image)))
        return rc;
    if (!v->sku)
        reject(sh, row->line, C_SKU, "is empty%s",
               " (Surge keeps inventory per SKU)");
    for (int o = 0; o < SG_CAT_OPTIONS; o++) {
        if (!p->option_name[o])
            continue;
        if ((rc = set_col(sh, row, C_O1V + 2 * o, &v->option[o])))
            return rc;
        if (!v->option[o])
            reject(sh, row->line, C_O1V + 2 * o, "is empty but %s is named",
                   o == 0 ? "Option1" : o == 1 ? "Option2" : "Option3");
    }
    s = val(sh, row, C_PRICE, &n);
    if (n == 0)
        reject(sh, row->line, C_PRICE, "is empty%s", "");
    else
        money_col(sh, row, C_PRICE, &v->price, 0);
    money_col(sh, row, C_COMPARE, &v->compare_at, 0);
    money_col(sh, row, C_COST, &v->cost, -1);
    int_col(sh, row, C_GRAMS, &v->grams, -1, false);
    if (int_col(sh, row, C_QTY, &qty, -1, true) && qty < 0 &&
        val(sh, row, C_QTY, &n) && n) {
        msg_add(sh->imp, row->line, true, col_names[C_QTY],
                "%" PRId64 " is negative; on_hand set to 0", qty);
        qty = 0;
    }
    v->inventory = qty;
    s = val(sh, row, C_BARCODE, &n);
    if (n && s[0] == '\'') { /* spreadsheet "keep as text" mark */
        s++;
        n--;
    }
    if ((rc = sg_cat_set_str(&v->barcode, s, n)))
        return rc;
    s = val(sh, row, C_WEIGHT_UNIT, &n);
    if (n == 0)
        snprintf(v->weight_unit, sizeof(v->weight_unit), "g");
    else if ((n == 1 && s[0] == 'g') || (n == 2 && !memcmp(s, "kg", 2)) ||
             (n == 2 && !memcmp(s, "lb", 2)) ||
             (n == 2 && !memcmp(s, "oz", 2)))
        snprintf(v->weight_unit, sizeof(v->weight_unit), "%.*s", (int)n, s);
    else
        reject(sh, row->line, C_WEIGHT_UNIT, "\"%.10s\" is not g, kg, lb or oz",
               s);
    return 0;
}

static int image_row(struct shop *sh, const struct sg_csv_row *row)
{
    size_t n, an;
    const char *s = val(sh, row, C_IMG, &n);
    const char *alt = val(sh, row, C_IMG_ALT, &an);
    int64_t pos;
    char altbuf[512];
    int rc;

    if (n == 0)
        return 0;
    if (!int_col(sh, row, C_IMG_POS, &pos, -1, false))
        return 0;
    if (pos <= 0)
        pos = (int64_t)sh->cur->p.n_images + 1;
    if (pos > SG_CAT_IMAGE_POS_MAX) {
        reject(sh, row->line, C_IMG_POS, "%s is above 100000", "the position");
        return 0;
    }
    snprintf(altbuf, sizeof(altbuf), "%.*s", (int)SG_MIN(an, (size_t)511),
             alt);
    for (size_t i = 0; i < sh->cur->p.n_images; i++)
        if (sh->cur->p.images[i].position == pos) {
            reject(sh, row->line, C_IMG_POS, "%s is used twice",
                   "this position");
            return 0;
        }
    rc = sg_product_add_image(&sh->cur->p, s, n, altbuf, (int)pos);
    if (rc == SG_ELIMIT) {
        reject(sh, row->line, C_IMG, "more than %s images", "250");
        return 0;
    }
    return rc;
}

static bool is_variant_row(const struct shop *sh, const struct sg_csv_row *row)
{
    static const int cols[] = {C_O1V, C_SKU, C_PRICE};
    size_t n;

    for (size_t i = 0; i < SG_ARRAY_SIZE(cols); i++) {
        val(sh, row, cols[i], &n);
        if (n)
            return true;
    }
    return false;
}

static int shopify_row(struct shop *sh, const struct sg_csv_row *row)
{
    size_t n;
    const char *h = val(sh, row, C_HANDLE, &n);
    int rc;

    if (n == 0) {
        msg_add(sh->imp, row->line, false, "Handle",
                "is empty; the row belongs to no product");
        return 0;
    }
    if (!sh->cur || strlen(sh->cur->p.handle) != n ||
        memcmp(sh->cur->p.handle, h, n) != 0) {
        for (size_t i = 0; i < sh->imp->n_items; i++) {
            const char *ph = sh->imp->items[i].p.handle;

            if (ph && strlen(ph) == n && memcmp(ph, h, n) == 0) {
                msg_add(sh->imp, row->line, false, "Handle",
                        "%.*s already ended at line %ld: a product's rows "
                        "must be adjacent",
                        (int)SG_MIN(n, (size_t)80), h,
                        sh->imp->items[i].line);
                sh->imp->items[i].rejected = true;
                sh->cur = &sh->imp->items[i];
                return 0;
            }
        }
        rc = item_new(sh->imp, row->line, sh->currency, &sh->cur);
        if (rc)
            return rc;
        if ((rc = sg_cat_set_str(&sh->cur->p.handle, h, n)))
            return rc;
        rc = product_fields(sh, row);
        if (rc)
            return rc;
        if (!is_variant_row(sh, row))
            reject(sh, row->line, C_PRICE,
                   "is empty on the first row of %s (it holds the first "
                   "variant)",
                   sh->cur->p.handle);
    }
    if (sh->cur->p.n_variants > 0 && is_variant_row(sh, row))
        rc = variant_row(sh, row);
    else if (sh->cur->p.n_variants == 0)
        rc = variant_row(sh, row);
    else
        rc = 0;
    if (!rc)
        rc = image_row(sh, row);
    return rc;
}

/* The CSV column that holds a model field, for messages. */
static const char *field_column(const char *field)
{
    static const struct {
        const char *field;
        int col;
    } map[] = {
        {"handle", C_HANDLE},   {"title", C_TITLE},
        {"status", C_STATUS},   {"sku", C_SKU},
        {"options", C_O1V},     {"price", C_PRICE},
        {"compare_at_price", C_COMPARE}, {"cost", C_COST},
        {"grams", C_GRAMS},     {"inventory_quantity", C_QTY},
        {"variants", C_SKU},    {"body_html", C_BODY},
        {"vendor", C_VENDOR},   {"product_type", C_TYPE},
        {"category", C_CATEGORY}, {"tags", C_TAGS},
        {"barcode", C_BARCODE}, {"image", C_VAR_IMG},
        {"images", C_IMG},
    };

    for (size_t i = 0; field && i < SG_ARRAY_SIZE(map); i++)
        if (strcmp(map[i].field, field) == 0)
            return col_names[map[i].col];
    return field ? field : "";
}

static int parse_shopify(struct sg_import *imp, const char *data, size_t len,
                         const char *currency, struct sg_err *err)
{
    struct shop sh;
    struct sg_csv csv;
    struct sg_csv_row row;
    int rc;

    memset(&sh, 0, sizeof(sh));
    sh.imp = imp;
    sh.currency = currency;
    sg_csv_init(&csv, data, len);
    rc = sg_csv_next(&csv, &row, err);
    if (rc == 0) {
        rc = sg_err_set(err, SG_EINVAL, "the file is empty");
        goto out;
    }
    if (rc < 0)
        goto out;
    rc = header(&sh, &row, err);
    if (rc)
        goto out;
    for (size_t guard = 0; guard < SIZE_MAX; guard++) {
        rc = sg_csv_next(&csv, &row, err);
        if (rc <= 0)
            break;
        rc = shopify_row(&sh, &row);
        if (rc) {
            sg_err_set(err, rc, "line %ld: %s", row.line,
                       rc == SG_ELIMIT ? "too many products"
                                       : "out of memory");
            break;
        }
    }
    if (rc < 0 && rc != SG_EINVAL)
        goto out;
    if (rc == SG_EINVAL) {
        /* A CSV syntax error ends the file: later rows cannot be trusted,
         * and the product it cut short is rejected. The ones before it
         * still get the model check below, like any others. */
        long line = strtol(err->msg + 5, NULL, 10);

        msg_add(imp, line, false, "", "%s", err->msg);
        if (sh.cur && sh.cur->line <= line)
            sh.cur->rejected = true;
        sg_err_init(err);
    }
    for (size_t i = 0; i < imp->n_items; i++) {
        struct sg_import_item *it = &imp->items[i];
        const char *field = NULL;
        struct sg_err e;

        if (it->rejected)
            continue;
        sg_err_init(&e);
        if (sg_product_check(&it->p, &field, &e) != 0) {
            const char *colon = strstr(e.msg, ": ");

            msg_add(imp, it->line, false, field_column(field), "%s",
                    colon ? colon + 2 : e.msg);
            it->rejected = true;
        }
    }
    rc = 0;
out:
    sg_csv_release(&csv);
    return rc;
}

/* ---- JSON Lines ---- */

static int parse_jsonl(struct sg_import *imp, const char *data, size_t len,
                       const char *currency, struct sg_err *err)
{
    const char *p = data, *end = data + len;
    long line = 0;

    if (len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0)
        p += 3;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        size_t n = (size_t)(le - p);
        struct sg_import_item *it;
        json_t *j = NULL;
        struct sg_err e;
        char path[64];
        bool blank = true;

        line++;
        for (size_t i = 0; i < n && blank; i++)
            blank = p[i] == ' ' || p[i] == '\t' || p[i] == '\r';
        if (!blank) {
            int rc = item_new(imp, line, currency, &it);

            if (rc)
                return sg_err_set(err, rc, "line %ld: %s", line,
                                  rc == SG_ELIMIT ? "too many products"
                                                  : "out of memory");
            sg_err_init(&e);
            if ((rc = sg_json_parse(&j, p, n, SG_JSON_DEPTH_DEFAULT, NULL,
                                    &e)) == SG_ENOMEM) {
                return sg_err_set(err, rc, "line %ld: out of memory", line);
            } else if (rc) {
                msg_add(imp, line, false, "", "not JSON: %s", e.msg);
                it->rejected = true;
            } else if (sg_product_from_json(&it->p, j, currency, path,
                                            sizeof(path), &e) != 0) {
                const char *colon = strstr(e.msg, ": ");

                if (e.code == SG_ENOMEM) {
                    json_decref(j);
                    return sg_err_set(err, SG_ENOMEM, "out of memory");
                }
                msg_add(imp, line, false, path, "%s",
                        colon ? colon + 2 : e.msg);
                it->rejected = true;
            }
            json_decref(j);
        }
        p = nl ? nl + 1 : end;
    }
    return 0;
}

int sg_import_parse(struct sg_import *imp, int format, const char *data,
                    size_t len, const char *currency, struct sg_err *err)
{
    int rc;

    if (format == SG_IMPORT_JSONL)
        rc = parse_jsonl(imp, data, len, currency, err);
    else
        rc = parse_shopify(imp, data, len, currency, err);
    if (!rc && imp->out_of_memory)
        rc = sg_err_set(err, SG_ENOMEM, "out of memory keeping messages");
    return rc;
}

/* ---- writing ---- */

struct apply {
    struct sg_import_item *it;
    const char *location;
    bool dry_run;
    int outcome;
};

static int apply_write(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    struct apply *a = arg;
    struct sg_audit au;
    int rc;

    rc = sg_catalog_put(tx, &a->it->p, a->location, "import", &a->outcome,
                        err);
    if (rc)
        return rc;
    if (a->dry_run)
        return SG_EDECLINED; /* roll this product back; outcome is known */
    if (a->outcome == SG_CAT_UNCHANGED)
        return 0;
    memset(&au, 0, sizeof(au));
    au.tenant_id = a->it->p.tenant_id;
    snprintf(au.actor, sizeof(au.actor), "import");
    snprintf(au.action, sizeof(au.action), "product.%s",
             a->outcome == SG_CAT_CREATED ? "create" : "update");
    snprintf(au.object, sizeof(au.object), "product:%.100s",
             a->it->p.handle);
    snprintf(au.outcome, sizeof(au.outcome), "ok");
    return sg_store_tx_audit(tx, &au, err);
}

int sg_import_apply(struct sg_import *imp, struct sg_store *s,
                    int64_t tenant_id, const char *location, bool dry_run,
                    struct sg_err *err)
{
    for (size_t i = 0; i < imp->n_items; i++) {
        struct sg_import_item *it = &imp->items[i];
        struct apply a = {it, location, dry_run, SG_CAT_UNCHANGED};
        struct sg_err e;
        int rc;

        if (it->rejected) {
            imp->rejected++;
            continue;
        }
        it->p.tenant_id = tenant_id;
        sg_err_init(&e);
        rc = sg_store_write(s, apply_write, &a, &e);
        if (rc == SG_EDECLINED && dry_run)
            rc = 0;
        if (rc == SG_EINVAL || rc == SG_EEXISTS || rc == SG_ESTATE) {
            msg_add(imp, it->line, false,
                    rc == SG_ESTATE ? "Variant Inventory Qty"
                    : strstr(e.msg, "handle") ? "Handle"
                                              : "Variant SKU",
                    "%s", e.msg);
            it->rejected = true;
            imp->rejected++;
            continue;
        }
        if (rc) {
            if (err)
                *err = e;
            return rc;
        }
        it->outcome = a.outcome;
        if (a.outcome == SG_CAT_CREATED)
            imp->created++;
        else if (a.outcome == SG_CAT_UPDATED)
            imp->updated++;
        else
            imp->unchanged++;
    }
    if (imp->out_of_memory)
        return sg_err_set(err, SG_ENOMEM, "out of memory keeping messages");
    return 0;
}
