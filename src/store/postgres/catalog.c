/*
 * catalog.c - the catalog's PostgreSQL ops (features/catalog/
 * catalog_store.h), the same SQL as src/store/sqlite/catalog.c in
 * PostgreSQL's dialect. An inventory move is one conditional UPDATE whose
 * WHERE carries the level invariant, so a reservation that would take a
 * level below zero changes nothing (SG_ESTATE); with several writers
 * PostgreSQL re-checks that WHERE on the row it waited for, so it holds
 * there too. The CHECKs of the table are the second line.
 */
#include "core/sg.h"

#include "core/alloc.h"
#include "features/catalog/catalog_store.h"
#include "store/postgres/pgutil.h"
#include "store/store.h"

#define PRODUCT_COLS                                                           \
    "id, tenant_id, handle, title, body_html, vendor, product_type, "          \
    "category, tags, option1_name, option2_name, option3_name, status, "       \
    "published, currency, length_mm, width_mm, height_mm, attributes, "        \
    "certifications, created_at, updated_at"

/* ---- products ---- */

/* A row of PRODUCT_COLS (variants and images are load_children's). */
static int fill_product(struct sg_pg_row *rd, void *row)
{
    struct sg_product *p = row;

    p->id = sg_pg_col_i64(rd);
    p->tenant_id = sg_pg_col_i64(rd);
    p->handle = sg_pg_col_dup(rd);
    p->title = sg_pg_col_dup(rd);
    p->body_html = sg_pg_col_dup(rd);
    p->vendor = sg_pg_col_dup(rd);
    p->product_type = sg_pg_col_dup(rd);
    p->category = sg_pg_col_dup(rd);
    p->tags = sg_pg_col_dup(rd);
    for (int i = 0; i < SG_CAT_OPTIONS; i++)
        p->option_name[i] = sg_pg_col_dup(rd);
    SG_PG_COL_STR(rd, p->status);
    p->published = sg_pg_col_bool(rd);
    SG_PG_COL_STR(rd, p->currency);
    p->length_mm = sg_pg_col_i64(rd);
    p->width_mm = sg_pg_col_i64(rd);
    p->height_mm = sg_pg_col_i64(rd);
    p->attributes = sg_pg_col_dup(rd);
    p->certifications = sg_pg_col_dup(rd);
    p->created_at = sg_pg_col_i64(rd);
    p->updated_at = sg_pg_col_i64(rd);
    return sg_pg_row_end(rd);
}

static void product_release(void *row)
{
    sg_product_release(row);
}

static const struct sg_pg_rowtype product_row =
    SG_PG_ROWTYPE(struct sg_product, fill_product, product_release);

/* A row of the variant columns load_children selects, into v. */
static int fill_variant(struct sg_pg_row *rd, struct sg_variant *v)
{
    v->id = sg_pg_col_i64(rd);
    v->sku = sg_pg_col_dup(rd);
    v->position = (int)sg_pg_col_i64(rd);
    for (int k = 0; k < SG_CAT_OPTIONS; k++)
        v->option[k] = sg_pg_col_dup(rd);
    v->price = sg_pg_col_i64(rd);
    v->compare_at = sg_pg_col_i64(rd);
    v->cost = sg_pg_col_i64(rd);
    v->barcode = sg_pg_col_dup(rd);
    v->grams = sg_pg_col_i64(rd);
    SG_PG_COL_STR(rd, v->weight_unit);
    v->image = sg_pg_col_dup(rd);
    v->inventory = -1;
    return sg_pg_row_end(rd);
}

static int load_children(void *be, struct sg_product *p, struct sg_err *err)
{
    struct sg_pg_params q;
    struct sg_pg_row rd;
    PGresult *r = NULL;
    struct sg_variant *v;
    bool oom = false;
    int rc, i, n;

    sg_pg_params_init(&q);
    sg_pg_int(&q, p->id);
    rc = sg_pg_exec(be,
                    "SELECT id, sku, position, option1, option2, option3, "
                    "price, compare_at, cost, barcode, grams, weight_unit, "
                    "image FROM variants WHERE product_id = $1::bigint "
                    "ORDER BY position, id",
                    &q, &r, NULL, "variants", err);
    if (rc)
        return rc;
    n = PQntuples(r);
    for (i = 0; i < n && !oom; i++) {
        if (sg_product_add_variant(p, &v) != 0) {
            oom = true;
            break;
        }
        sg_pg_row_at(&rd, r, i);
        oom = fill_variant(&rd, v) != 0;
    }
    PQclear(r);
    if (oom)
        return sg_err_set(err, SG_ENOMEM, "out of memory");
    rc = sg_pg_exec(be,
                    "SELECT position, src, alt FROM product_images WHERE "
                    "product_id = $1::bigint ORDER BY position",
                    &q, &r, NULL, "images", err);
    if (rc)
        return rc;
    n = PQntuples(r);
    for (i = 0; i < n; i++) {
        const char *src = PQgetvalue(r, i, 1);

        if (sg_product_add_image(p, src, (size_t)PQgetlength(r, i, 1),
                                 sg_pg_is_null(r, i, 2) ? NULL
                                                        : PQgetvalue(r, i, 2),
                                 (int)sg_pg_i64(r, i, 0)) != 0) {
            oom = true;
            break;
        }
    }
    PQclear(r);
    if (oom)
        return sg_err_set(err, SG_ENOMEM, "out of memory");
    return 0;
}

static int be_product_get(void *be, int64_t tenant_id, int64_t id,
                          const char *handle, struct sg_product *out,
                          struct sg_err *err)
{
    struct sg_pg_params q;
    int rc;

    sg_pg_params_init(&q);
    sg_pg_int(&q, tenant_id);
    if (id)
        sg_pg_int(&q, id);
    else
        sg_pg_text(&q, handle ? handle : "");
    rc = sg_pg_get(be,
                   id ? "SELECT " PRODUCT_COLS " FROM products WHERE "
                        "tenant_id = $1::bigint AND id = $2::bigint"
                      : "SELECT " PRODUCT_COLS " FROM products WHERE "
                        "tenant_id = $1::bigint AND handle = $2::text",
                   &q, "product", &product_row, out, "no such product", err);
    if (rc)
        return rc;
    return load_children(be, out, err);
}

static int be_product_list(void *be, int64_t tenant_id, int64_t after_id,
                           size_t limit, struct sg_product **out,
                           size_t *n_out, struct sg_err *err)
{
    struct sg_pg_params q;
    struct sg_product *ps;
    void *rows;
    size_t n = 0;
    int rc;

    *out = NULL;
    *n_out = 0;
    limit = SG_MIN(limit, (size_t)SG_CAT_LIST_MAX);
    sg_pg_params_init(&q);
    sg_pg_int(&q, tenant_id);
    sg_pg_int(&q, after_id);
    sg_pg_int(&q, (int64_t)limit);
    rc = sg_pg_list(be,
                    "SELECT " PRODUCT_COLS " FROM products WHERE tenant_id = "
                    "$1::bigint AND id > $2::bigint ORDER BY id LIMIT "
                    "$3::bigint",
                    &q, "products", &product_row, limit, &rows, &n, err);
    if (rc)
        return rc;
    ps = rows;
    for (size_t i = 0; i < n; i++) {
        rc = load_children(be, &ps[i], err);
        if (rc)
            goto fail;
    }
    *out = ps;
    *n_out = n;
    return 0;
fail:
    sg_product_list_free(ps, n);
    return rc;
}

static int product_row_write(void *be, struct sg_product *p, int64_t now,
                             struct sg_err *err)
{
    struct sg_pg_params q;
    int rc;

    sg_pg_params_init(&q);
    sg_pg_int(&q, p->tenant_id);
    sg_pg_text(&q, p->handle);
    sg_pg_text(&q, p->title);
    sg_pg_text(&q, p->body_html);
    sg_pg_text(&q, p->vendor);
    sg_pg_text(&q, p->product_type);
    sg_pg_text(&q, p->category);
    sg_pg_text(&q, p->tags);
    for (int i = 0; i < SG_CAT_OPTIONS; i++)
        sg_pg_text(&q, p->option_name[i]);
    sg_pg_text(&q, p->status);
    sg_pg_int(&q, p->published);
    sg_pg_text(&q, p->currency);
    sg_pg_int(&q, p->length_mm);
    sg_pg_int(&q, p->width_mm);
    sg_pg_int(&q, p->height_mm);
    sg_pg_text(&q, p->attributes);
    sg_pg_text(&q, p->certifications);
    sg_pg_int(&q, now);
    if (p->id == 0) {
        rc = sg_pg_insert_id(
            be,
            "INSERT INTO products (tenant_id, handle, title, body_html, "
            "vendor, product_type, category, tags, option1_name, "
            "option2_name, option3_name, status, published, currency, "
            "length_mm, width_mm, height_mm, attributes, certifications, "
            "created_at, updated_at) VALUES ($1::bigint, $2::text, $3::text, "
            "$4::text, $5::text, $6::text, $7::text, $8::text, $9::text, "
            "$10::text, $11::text, $12::text, $13::bigint, $14::text, "
            "$15::bigint, $16::bigint, $17::bigint, $18::text, $19::text, "
            "$20::bigint, $20::bigint) RETURNING id",
            &q, "product", &p->id, err);
        if (rc)
            return rc;
        p->created_at = now;
    } else {
        sg_pg_int(&q, p->id);
        rc = sg_pg_exec_found(
            be,
            "UPDATE products SET handle = $2::text, title = $3::text, "
            "body_html = $4::text, vendor = $5::text, product_type = "
            "$6::text, category = $7::text, tags = $8::text, option1_name = "
            "$9::text, option2_name = $10::text, option3_name = $11::text, "
            "status = $12::text, published = $13::bigint, currency = "
            "$14::text, length_mm = $15::bigint, width_mm = $16::bigint, "
            "height_mm = $17::bigint, attributes = $18::text, "
            "certifications = $19::text, updated_at = $20::bigint WHERE "
            "tenant_id = $1::bigint AND id = $21::bigint",
            &q, "product", err, "no such product");
        if (rc)
            return rc;
    }
    p->updated_at = now;
    return 0;
}

static int variant_write(void *be, const struct sg_product *p,
                         struct sg_variant *v, int64_t now,
                         struct sg_err *err)
{
    struct sg_pg_params q;
    PGresult *r = NULL;
    int64_t owner = 0, vid = 0;
    int rc;

    sg_pg_params_init(&q);
    sg_pg_int(&q, p->tenant_id);
    sg_pg_text(&q, v->sku);
    rc = sg_pg_exec(be,
                    "SELECT id, product_id FROM variants WHERE tenant_id = "
                    "$1::bigint AND sku = $2::text",
                    &q, &r, NULL, "variant", err);
    if (rc)
        return rc;
    if (PQntuples(r) == 1) {
        vid = sg_pg_i64(r, 0, 0);
        owner = sg_pg_i64(r, 0, 1);
    }
    PQclear(r);
    if (vid && owner != p->id)
        return sg_err_set(err, SG_EEXISTS,
                          "SKU %s already belongs to product %" PRId64,
                          v->sku, owner);
    sg_pg_params_init(&q);
    sg_pg_int(&q, vid ? vid : p->tenant_id);
    sg_pg_int(&q, v->position);
    for (int i = 0; i < SG_CAT_OPTIONS; i++)
        sg_pg_text(&q, v->option[i]);
    sg_pg_int(&q, v->price);
    sg_pg_int(&q, v->compare_at);
    sg_pg_int(&q, v->cost);
    sg_pg_text(&q, v->barcode);
    sg_pg_int(&q, v->grams);
    sg_pg_text(&q, v->weight_unit[0] ? v->weight_unit : "g");
    sg_pg_text(&q, v->image);
    sg_pg_int(&q, now);
    if (vid) {
        rc = sg_pg_exec(
            be,
            "UPDATE variants SET position = $2::bigint, option1 = $3::text, "
            "option2 = $4::text, option3 = $5::text, price = $6::bigint, "
            "compare_at = $7::bigint, cost = $8::bigint, barcode = $9::text, "
            "grams = $10::bigint, weight_unit = $11::text, image = "
            "$12::text, updated_at = $13::bigint WHERE id = $1::bigint",
            &q, NULL, NULL, "variant", err);
        if (rc)
            return rc;
        v->id = vid;
        return 0;
    }
    sg_pg_text(&q, v->sku);
    sg_pg_int(&q, p->id);
    return sg_pg_insert_id(
        be,
        "INSERT INTO variants (tenant_id, product_id, sku, position, "
        "option1, option2, option3, price, compare_at, cost, barcode, grams, "
        "weight_unit, image, created_at, updated_at) VALUES ($1::bigint, "
        "$15::bigint, $14::text, $2::bigint, $3::text, $4::text, $5::text, "
        "$6::bigint, $7::bigint, $8::bigint, $9::text, $10::bigint, "
        "$11::text, $12::text, $13::bigint, $13::bigint) RETURNING id",
        &q, "variant", &v->id, err);
}

/* Remove the product's variants whose SKU is not among p's. */
static int variants_prune(void *be, const struct sg_product *p,
                          struct sg_err *err)
{
    struct sg_pg_params q;
    PGresult *r = NULL;
    int rc, n;

    sg_pg_params_init(&q);
    sg_pg_int(&q, p->id);
    rc = sg_pg_exec(be, "SELECT id, sku FROM variants WHERE product_id = "
                        "$1::bigint",
                    &q, &r, NULL, "variants", err);
    if (rc)
        return rc;
    n = PQntuples(r);
    for (int i = 0; i < n && !rc; i++) {
        const char *sku = PQgetvalue(r, i, 1);
        bool keep = false;

        for (size_t k = 0; k < p->n_variants && !keep; k++)
            keep = strcmp(p->variants[k].sku, sku) == 0;
        if (keep)
            continue;
        sg_pg_params_init(&q);
        sg_pg_int(&q, sg_pg_i64(r, i, 0));
        rc = sg_pg_exec(be, "DELETE FROM variants WHERE id = $1::bigint", &q,
                        NULL, NULL, "variant delete", err);
    }
    PQclear(r);
    return rc;
}

static int images_write(void *be, const struct sg_product *p,
                        struct sg_err *err)
{
    struct sg_pg_params q;
    int rc;

    sg_pg_params_init(&q);
    sg_pg_int(&q, p->id);
    rc = sg_pg_exec(be,
                    "DELETE FROM product_images WHERE product_id = $1::bigint",
                    &q, NULL, NULL, "images", err);
    for (size_t i = 0; i < p->n_images && !rc; i++) {
        sg_pg_params_init(&q);
        sg_pg_int(&q, p->tenant_id);
        sg_pg_int(&q, p->id);
        sg_pg_int(&q, p->images[i].position);
        sg_pg_text(&q, p->images[i].src);
        sg_pg_text(&q, p->images[i].alt);
        rc = sg_pg_exec(be,
                        "INSERT INTO product_images (tenant_id, product_id, "
                        "position, src, alt) VALUES ($1::bigint, $2::bigint, "
                        "$3::bigint, $4::text, $5::text)",
                        &q, NULL, NULL, "image", err);
    }
    return rc;
}

static int be_product_put(void *be, struct sg_product *p, int64_t now,
                          struct sg_err *err)
{
    int rc = product_row_write(be, p, now, err);

    if (rc == SG_EEXISTS)
        return sg_err_set(err, SG_EEXISTS,
                          "handle %s belongs to another product", p->handle);
    /* Stale variants go first; the others keep their ids. */
    if (!rc) {
        rc = variants_prune(be, p, err);
        for (size_t i = 0; i < p->n_variants && !rc; i++)
            rc = variant_write(be, p, &p->variants[i], now, err);
    }
    if (!rc)
        rc = images_write(be, p, err);
    return rc;
}

static int be_product_delete(void *be, int64_t tenant_id, int64_t id,
                             struct sg_err *err)
{
    struct sg_pg_params q;

    sg_pg_params_init(&q);
    sg_pg_int(&q, tenant_id);
    sg_pg_int(&q, id);
    return sg_pg_exec_found(be,
                            "DELETE FROM products WHERE tenant_id = "
                            "$1::bigint AND id = $2::bigint",
                            &q, "product delete", err, "no such product");
}

/* Where a variant sits: the first two columns of its locate query. */
struct located {
    int64_t product_id, variant_id;
};

static int fill_located(struct sg_pg_row *rd, void *row)
{
    struct located *l = row;

    l->product_id = sg_pg_col_i64(rd);
    l->variant_id = sg_pg_col_i64(rd);
    return 0;
}

static int be_variant_locate(void *be, int64_t tenant_id, int64_t variant_id,
                             const char *sku, int64_t *product_id_out,
                             int64_t *variant_id_out, struct sg_err *err)
{
    static const struct sg_pg_rowtype located_row =
        SG_PG_ROWTYPE(struct located, fill_located, NULL);
    struct sg_pg_params q;
    struct located at;
    int rc;

    sg_pg_params_init(&q);
    sg_pg_int(&q, tenant_id);
    if (variant_id)
        sg_pg_int(&q, variant_id);
    else
        sg_pg_text(&q, sku ? sku : "");
    rc = sg_pg_get(be,
                   variant_id ? "SELECT product_id, id FROM variants WHERE "
                                "tenant_id = $1::bigint AND id = $2::bigint"
                              : "SELECT product_id, id FROM variants WHERE "
                                "tenant_id = $1::bigint AND sku = $2::text",
                   &q, "variant", &located_row, &at, "no such variant", err);
    if (rc)
        return rc;
    *product_id_out = at.product_id;
    if (variant_id_out)
        *variant_id_out = at.variant_id;
    return 0;
}

static int fill_price(struct sg_pg_row *rd, void *row)
{
    struct sg_variant_price *vp = row;

    vp->product_id = sg_pg_col_i64(rd);
    vp->variant_id = sg_pg_col_i64(rd);
    vp->price = sg_pg_col_i64(rd);
    vp->compare_at = sg_pg_col_i64(rd);
    SG_PG_COL_STR(rd, vp->currency);
    return 0;
}

static int be_variant_price_get(void *be, int64_t tenant_id,
                                const char *sku, struct sg_variant_price *out,
                                struct sg_err *err)
{
    static const struct sg_pg_rowtype price_row =
        SG_PG_ROWTYPE(struct sg_variant_price, fill_price, NULL);
    struct sg_pg_params q;

    memset(out, 0, sizeof(*out));
    sg_pg_params_init(&q);
    sg_pg_int(&q, tenant_id);
    sg_pg_text(&q, sku);
    return sg_pg_get(be,
                     "SELECT v.product_id, v.id, v.price, v.compare_at, "
                     "p.currency FROM variants v JOIN products p ON p.id = "
                     "v.product_id WHERE v.tenant_id = $1::bigint AND v.sku "
                     "= $2::text",
                     &q, "variant", &price_row, out, "no such variant", err);
}

static int be_variant_price_set(void *be, int64_t tenant_id,
                                const struct sg_variant_price *vp,
                                int64_t now, struct sg_err *err)
{
    struct sg_pg_params q;
    int rc;

    sg_pg_params_init(&q);
    sg_pg_int(&q, tenant_id);
    sg_pg_int(&q, vp->variant_id);
    sg_pg_int(&q, vp->price);
    sg_pg_int(&q, vp->compare_at);
    sg_pg_int(&q, now);
    rc = sg_pg_exec_found(be,
                          "UPDATE variants SET price = $3::bigint, "
                          "compare_at = $4::bigint, updated_at = $5::bigint "
                          "WHERE tenant_id = $1::bigint AND id = $2::bigint",
                          &q, "variant", err, "no such variant");
    if (rc)
        return rc;
    sg_pg_params_init(&q);
    sg_pg_int(&q, tenant_id);
    sg_pg_int(&q, vp->product_id);
    sg_pg_int(&q, now);
    return sg_pg_exec(be,
                      "UPDATE products SET updated_at = $3::bigint WHERE "
                      "tenant_id = $1::bigint AND id = $2::bigint",
                      &q, NULL, NULL, "product", err);
}

/* ---- inventory ---- */

static int fill_level(struct sg_pg_row *rd, void *row)
{
    struct sg_inv_level *l = row;

    SG_PG_COL_STR(rd, l->sku);
    SG_PG_COL_STR(rd, l->location);
    l->on_hand = sg_pg_col_i64(rd);
    l->reserved = sg_pg_col_i64(rd);
    l->committed = sg_pg_col_i64(rd);
    l->updated_at = sg_pg_col_i64(rd);
    return 0;
}

static const struct sg_pg_rowtype level_row =
    SG_PG_ROWTYPE(struct sg_inv_level, fill_level, NULL);

static int be_inv_get(void *be, int64_t tenant_id, const char *sku,
                      const char *location, struct sg_inv_level *out,
                      struct sg_err *err)
{
    struct sg_pg_params q;

    sg_pg_params_init(&q);
    sg_pg_int(&q, tenant_id);
    sg_pg_text(&q, sku);
    sg_pg_text(&q, location);
    return sg_pg_get(be,
                     "SELECT sku, location, on_hand, reserved, committed, "
                     "updated_at FROM inventory_levels WHERE tenant_id = "
                     "$1::bigint AND sku = $2::text AND location = $3::text",
                     &q, "inventory", &level_row, out, "no inventory level",
                     err);
}

#define LEVELS_MAX 256

static int be_inv_levels(void *be, int64_t tenant_id, const char *sku,
                         struct sg_inv_level **out, size_t *n_out,
                         struct sg_err *err)
{
    struct sg_pg_params q;
    void *ls;
    int rc;

    sg_pg_params_init(&q);
    sg_pg_int(&q, tenant_id);
    sg_pg_text(&q, sku);
    rc = sg_pg_list(be,
                    "SELECT sku, location, on_hand, reserved, committed, "
                    "updated_at FROM inventory_levels WHERE tenant_id = "
                    "$1::bigint AND sku = $2::text ORDER BY location LIMIT "
                    "256",
                    &q, "inventory", &level_row, LEVELS_MAX, &ls, n_out, err);
    *out = ls;
    return rc;
}

/* The conditional UPDATE of one level; *changes 0 when none moved. */
static int inv_update(void *be, int64_t tenant_id,
                      const struct sg_inv_move *m, int64_t now,
                      int64_t *changes, struct sg_err *err)
{
    struct sg_pg_params q;

    sg_pg_params_init(&q);
    sg_pg_int(&q, tenant_id);
    sg_pg_text(&q, m->sku);
    sg_pg_text(&q, m->location);
    sg_pg_int(&q, m->d_on_hand);
    sg_pg_int(&q, m->d_reserved);
    sg_pg_int(&q, m->d_committed);
    sg_pg_int(&q, now);
    return sg_pg_exec(
        be,
        "UPDATE inventory_levels SET on_hand = on_hand + $4::bigint, "
        "reserved = reserved + $5::bigint, committed = committed + "
        "$6::bigint, updated_at = $7::bigint WHERE tenant_id = $1::bigint "
        "AND sku = $2::text AND location = $3::text AND on_hand + $4::bigint "
        ">= 0 AND reserved + $5::bigint >= 0 AND committed + $6::bigint >= 0 "
        "AND on_hand + $4::bigint >= reserved + $5::bigint + committed + "
        "$6::bigint",
        &q, NULL, changes, "inventory", err);
}

static int be_inv_move(void *be, int64_t tenant_id,
                       const struct sg_inv_move *m, int64_t now,
                       struct sg_err *err)
{
    struct sg_pg_params q;
    int64_t changes = 0, inserted = 0;
    int rc;

    /*
     * The level usually exists: update it first. Nothing moved means no
     * level yet (it exists at zero before any move: create it and try
     * again) or a move that would break the invariant.
     */
    rc = inv_update(be, tenant_id, m, now, &changes, err);
    if (!rc && changes == 0) {
        sg_pg_params_init(&q);
        sg_pg_int(&q, tenant_id);
        sg_pg_text(&q, m->sku);
        sg_pg_text(&q, m->location);
        sg_pg_int(&q, now);
        rc = sg_pg_exec(be,
                        "INSERT INTO inventory_levels (tenant_id, sku, "
                        "location, updated_at) VALUES ($1::bigint, $2::text, "
                        "$3::text, $4::bigint) ON CONFLICT DO NOTHING",
                        &q, NULL, &inserted, "inventory", err);
        if (!rc && inserted)
            rc = inv_update(be, tenant_id, m, now, &changes, err);
    }
    if (rc)
        return rc;
    if (changes == 0)
        return sg_err_set(err, SG_ESTATE,
                          "%s at %s: not enough stock for this change",
                          m->sku, m->location);
    sg_pg_params_init(&q);
    sg_pg_int(&q, tenant_id);
    sg_pg_text(&q, m->sku);
    sg_pg_text(&q, m->location);
    sg_pg_int(&q, m->d_on_hand);
    sg_pg_int(&q, m->d_reserved);
    sg_pg_int(&q, m->d_committed);
    sg_pg_text(&q, m->reason ? m->reason : "");
    sg_pg_text(&q, m->cause_ref);
    sg_pg_int(&q, now);
    return sg_pg_exec(be,
                      "INSERT INTO inventory_ledger (tenant_id, sku, "
                      "location, delta_on_hand, delta_reserved, "
                      "delta_committed, reason, cause_ref, at) VALUES "
                      "($1::bigint, $2::text, $3::text, $4::bigint, "
                      "$5::bigint, $6::bigint, $7::text, $8::text, "
                      "$9::bigint)",
                      &q, NULL, NULL, "ledger", err);
}

static int fill_ledger(struct sg_pg_row *rd, void *row)
{
    struct sg_ledger_row *l = row;

    l->id = sg_pg_col_i64(rd);
    SG_PG_COL_STR(rd, l->sku);
    SG_PG_COL_STR(rd, l->location);
    l->d_on_hand = sg_pg_col_i64(rd);
    l->d_reserved = sg_pg_col_i64(rd);
    l->d_committed = sg_pg_col_i64(rd);
    SG_PG_COL_STR(rd, l->reason);
    SG_PG_COL_STR(rd, l->cause_ref);
    l->at = sg_pg_col_i64(rd);
    return 0;
}

static int be_ledger_list(void *be, int64_t tenant_id, const char *sku,
                          int64_t after_id, size_t limit,
                          struct sg_ledger_row **out, size_t *n_out,
                          struct sg_err *err)
{
    static const struct sg_pg_rowtype ledger_row =
        SG_PG_ROWTYPE(struct sg_ledger_row, fill_ledger, NULL);
    struct sg_pg_params q;
    void *rows;
    int rc;

    limit = SG_MIN(limit, (size_t)SG_STORE_LIST_MAX);
    sg_pg_params_init(&q);
    sg_pg_int(&q, tenant_id);
    sg_pg_text(&q, sku);
    sg_pg_int(&q, after_id);
    sg_pg_int(&q, (int64_t)limit);
    rc = sg_pg_list(be,
                    "SELECT id, sku, location, delta_on_hand, delta_reserved, "
                    "delta_committed, reason, cause_ref, at FROM "
                    "inventory_ledger WHERE tenant_id = $1::bigint AND "
                    "($2::text IS NULL OR sku = $2::text) AND id > "
                    "$3::bigint ORDER BY id LIMIT $4::bigint",
                    &q, "ledger", &ledger_row, limit, &rows, n_out, err);
    *out = rows;
    return rc;
}

/* As the SQLite backend's be_ledger_net (catalog_store.h). */
static int be_ledger_net(void *be, int64_t tenant_id, const char *sku,
                         int64_t after_id, const char *prefix,
                         int64_t *net_out, int64_t *last_out,
                         struct sg_err *err)
{
    struct sg_pg_params q;
    PGresult *r = NULL;
    int rc;

    *net_out = 0;
    *last_out = after_id < 0 ? 0 : after_id;
    sg_pg_params_init(&q);
    sg_pg_int(&q, tenant_id);
    sg_pg_text(&q, sku);
    if (after_id < 0)
        rc = sg_pg_exec(be,
                        "SELECT 0, MAX(id) FROM inventory_ledger WHERE "
                        "tenant_id = $1::bigint AND sku = $2::text",
                        &q, &r, NULL, "ledger net", err);
    else {
        sg_pg_int(&q, after_id);
        sg_pg_text(&q, prefix);
        rc = sg_pg_exec(be,
                        "SELECT COALESCE(SUM(CASE WHEN reason IN ('reserve', "
                        "'release') AND substr(cause_ref, 1, "
                        "length($4::text)) = $4::text THEN delta_reserved "
                        "ELSE 0 END), 0), MAX(id) FROM inventory_ledger "
                        "WHERE tenant_id = $1::bigint AND sku = $2::text "
                        "AND id > $3::bigint",
                        &q, &r, NULL, "ledger net", err);
    }
    if (rc)
        return rc;
    if (PQntuples(r) == 1) {
        *net_out = sg_pg_i64(r, 0, 0);
        if (!sg_pg_is_null(r, 0, 1))
            *last_out = sg_pg_i64(r, 0, 1);
    }
    PQclear(r);
    return 0;
}

/* ---- channel listings ---- */

static int be_listing_set(void *be, int64_t tenant_id, int64_t product_id,
                          const char *channel, const char *status,
                          const char *reason, int64_t now, struct sg_err *err)
{
    struct sg_pg_params q;

    sg_pg_params_init(&q);
    sg_pg_int(&q, tenant_id);
    sg_pg_int(&q, product_id);
    sg_pg_text(&q, channel);
    sg_pg_text(&q, status);
    sg_pg_text(&q, reason);
    sg_pg_int(&q, now);
    return sg_pg_exec_found(be,
                    "INSERT INTO channel_listings (tenant_id, product_id, "
                    "channel, status, reason, updated_at) SELECT $1::bigint, "
                    "$2::bigint, $3::text, $4::text, $5::text, $6::bigint "
                    "WHERE EXISTS (SELECT 1 FROM products WHERE id = "
                    "$2::bigint AND tenant_id = $1::bigint) ON CONFLICT "
                    "(product_id, channel) DO UPDATE SET status = "
                    "excluded.status, reason = excluded.reason, updated_at "
                    "= excluded.updated_at",
                    &q, "listing", err, "no such product");
}

#define LISTINGS_MAX 64

static int fill_listing(struct sg_pg_row *rd, void *row)
{
    struct sg_listing *l = row;

    SG_PG_COL_STR(rd, l->channel);
    SG_PG_COL_STR(rd, l->status);
    l->reason = sg_pg_col_dup(rd);
    l->updated_at = sg_pg_col_i64(rd);
    return sg_pg_row_end(rd);
}

static void listing_release(void *row)
{
    struct sg_listing *l = row;

    sg_free(l->reason);
    l->reason = NULL;
}

static int be_listing_list(void *be, int64_t tenant_id, int64_t product_id,
                           struct sg_listing **out, size_t *n_out,
                           struct sg_err *err)
{
    static const struct sg_pg_rowtype listing_row =
        SG_PG_ROWTYPE(struct sg_listing, fill_listing, listing_release);
    struct sg_pg_params q;
    void *ls;
    int rc;

    sg_pg_params_init(&q);
    sg_pg_int(&q, tenant_id);
    sg_pg_int(&q, product_id);
    rc = sg_pg_list(be,
                    "SELECT channel, status, reason, updated_at FROM "
                    "channel_listings WHERE tenant_id = $1::bigint AND "
                    "product_id = $2::bigint ORDER BY channel LIMIT 64",
                    &q, "listings", &listing_row, LISTINGS_MAX, &ls, n_out,
                    err);
    *out = ls;
    return rc;
}

const struct sg_catalog_store_ops sg_catalog_postgres_ops = {
    .version = SG_CATALOG_STORE_OPS_VERSION,
    .name = "postgres",
    .product_get = be_product_get,
    .product_list = be_product_list,
    .product_put = be_product_put,
    .product_delete = be_product_delete,
    .variant_locate = be_variant_locate,
    .inv_get = be_inv_get,
    .inv_levels = be_inv_levels,
    .inv_move = be_inv_move,
    .ledger_list = be_ledger_list,
    .listing_set = be_listing_set,
    .listing_list = be_listing_list,
    .variant_price_get = be_variant_price_get,
    .variant_price_set = be_variant_price_set,
    .ledger_net = be_ledger_net,
};
