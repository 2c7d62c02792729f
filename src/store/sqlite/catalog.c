/*
 * catalog.c - the catalog's SQLite ops (features/catalog/catalog_store.h):
 * products, variants, images, channel listings and the inventory ledger
 * on the connection behind a backend handle. Inventory moves are a single
 * conditional UPDATE, so a level can never break its invariant, and the
 * ledger row is written by the same call.
 */
#include "core/sg.h"

#include <sqlite3.h>

#include "core/alloc.h"
#include "features/catalog/catalog_store.h"
#include "store/store.h"
#include "store/sqlite/sqlutil.h"

#define PRODUCT_COLS                                                           \
    "id, tenant_id, handle, title, body_html, vendor, product_type, "          \
    "category, tags, option1_name, option2_name, option3_name, status, "       \
    "published, currency, length_mm, width_mm, height_mm, attributes, "        \
    "certifications, created_at, updated_at"

/* ---- products ---- */

static int fill_product(struct sg_sql_row *rd, void *row)
{
    struct sg_product *p = row;

    p->id = sg_sql_rd_i64(rd);
    p->tenant_id = sg_sql_rd_i64(rd);
    p->handle = sg_sql_rd_dup(rd);
    p->title = sg_sql_rd_dup(rd);
    p->body_html = sg_sql_rd_dup(rd);
    p->vendor = sg_sql_rd_dup(rd);
    p->product_type = sg_sql_rd_dup(rd);
    p->category = sg_sql_rd_dup(rd);
    p->tags = sg_sql_rd_dup(rd);
    for (int i = 0; i < SG_CAT_OPTIONS; i++)
        p->option_name[i] = sg_sql_rd_dup(rd);
    SG_SQL_RD_STR(rd, p->status);
    p->published = sg_sql_rd_bool(rd);
    SG_SQL_RD_STR(rd, p->currency);
    p->length_mm = sg_sql_rd_i64(rd);
    p->width_mm = sg_sql_rd_i64(rd);
    p->height_mm = sg_sql_rd_i64(rd);
    p->attributes = sg_sql_rd_dup(rd);
    p->certifications = sg_sql_rd_dup(rd);
    p->created_at = sg_sql_rd_i64(rd);
    p->updated_at = sg_sql_rd_i64(rd);
    return sg_sql_row_end(rd);
}

static void release_product(void *row)
{
    sg_product_release(row);
}

static const struct sg_sql_rowtype product_row =
    SG_SQL_ROWTYPE(struct sg_product, fill_product, release_product);

static int load_children(void *be, struct sg_product *p, struct sg_err *err)
{
    sqlite3_stmt *st = NULL;
    struct sg_variant *v;
    bool oom = false;
    int rc, b = SQLITE_OK;

    rc = sg_sql_prep(be,
              "SELECT id, sku, position, option1, option2, option3, price, "
              "compare_at, cost, barcode, grams, weight_unit, image "
              "FROM variants WHERE product_id = ?1 ORDER BY position, id",
              &st, err);
    if (rc)
        return rc;
    sg_sql_bind_int(st, 1, p->id, &b);
    while (b == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (sg_product_add_variant(p, &v) != 0) {
            oom = true;
            break;
        }
        v->id = sqlite3_column_int64(st, 0);
        v->sku = sg_sql_col_dup(st, 1, &oom);
        v->position = sqlite3_column_int(st, 2);
        for (int i = 0; i < SG_CAT_OPTIONS; i++)
            v->option[i] = sg_sql_col_dup(st, 3 + i, &oom);
        v->price = sqlite3_column_int64(st, 6);
        v->compare_at = sqlite3_column_int64(st, 7);
        v->cost = sqlite3_column_int64(st, 8);
        v->barcode = sg_sql_col_dup(st, 9, &oom);
        v->grams = sqlite3_column_int64(st, 10);
        sg_sql_col_copy(st, 11, v->weight_unit, sizeof(v->weight_unit));
        v->image = sg_sql_col_dup(st, 12, &oom);
        v->inventory = -1;
    }
    if (b != SQLITE_OK)
        rc = b;
    sg_sql_end(be, st);
    if (oom)
        return sg_err_set(err, SG_ENOMEM, "out of memory");
    if (rc != SQLITE_DONE)
        return sg_sqlite_error(be, rc, "variants", err);

    rc = sg_sql_prep(be,
              "SELECT position, src, alt FROM product_images "
              "WHERE product_id = ?1 ORDER BY position",
              &st, err);
    if (rc)
        return rc;
    b = SQLITE_OK;
    sg_sql_bind_int(st, 1, p->id, &b);
    while (b == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const unsigned char *src = sqlite3_column_text(st, 1);
        const unsigned char *alt = sqlite3_column_text(st, 2);

        if (sg_product_add_image(p, (const char *)src,
                                 (size_t)sqlite3_column_bytes(st, 1),
                                 (const char *)alt,
                                 sqlite3_column_int(st, 0)) != 0) {
            oom = true;
            break;
        }
    }
    if (b != SQLITE_OK)
        rc = b;
    sg_sql_end(be, st);
    if (oom)
        return sg_err_set(err, SG_ENOMEM, "out of memory");
    if (rc != SQLITE_DONE)
        return sg_sqlite_error(be, rc, "images", err);
    return 0;
}

static int be_product_get(void *be, int64_t tenant_id, int64_t id,
                          const char *handle, struct sg_product *out,
                          struct sg_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc, b = SQLITE_OK;

    rc = sg_sql_prep(be,
              id ? "SELECT " PRODUCT_COLS " FROM products "
                   "WHERE tenant_id = ?1 AND id = ?2"
                 : "SELECT " PRODUCT_COLS " FROM products "
                   "WHERE tenant_id = ?1 AND handle = ?3",
              &st, err);
    if (rc)
        return rc;
    sg_sql_bind_int(st, 1, tenant_id, &b);
    if (id)
        sg_sql_bind_int(st, 2, id, &b);
    else
        sg_sql_bind_text(st, 3, handle ? handle : "", &b);
    rc = sg_sql_get(be, st, b, "product", &product_row, out,
                    "no such product", err);
    return rc ? rc : load_children(be, out, err);
}

static int be_product_list(void *be, int64_t tenant_id, int64_t after_id,
                           size_t limit, struct sg_product **out,
                           size_t *n_out, struct sg_err *err)
{
    sqlite3_stmt *st = NULL;
    void *rows;
    size_t n = 0;
    int rc, b = SQLITE_OK;

    *out = NULL;
    *n_out = 0;
    limit = SG_MIN(limit, (size_t)SG_CAT_LIST_MAX);
    rc = sg_sql_prep(be,
              "SELECT " PRODUCT_COLS " FROM products WHERE tenant_id = ?1 "
              "AND id > ?2 ORDER BY id LIMIT ?3",
              &st, err);
    if (rc)
        return rc;
    sg_sql_bind_int(st, 1, tenant_id, &b);
    sg_sql_bind_int(st, 2, after_id, &b);
    sg_sql_bind_int(st, 3, (int64_t)limit, &b);
    rc = sg_sql_list(be, st, b, "products", &product_row, limit, &rows, &n,
                     err);
    if (rc)
        return rc;
    for (size_t i = 0; i < n; i++) {
        rc = load_children(be, (struct sg_product *)rows + i, err);
        if (rc) {
            sg_product_list_free(rows, n);
            return rc;
        }
    }
    *out = rows;
    *n_out = n;
    return 0;
}

static int product_row_write(void *be, struct sg_product *p, int64_t now,
                             struct sg_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc, b = SQLITE_OK;

    if (p->id == 0)
        rc = sg_sql_prep(be,
                  "INSERT INTO products (tenant_id, handle, title, "
                  "body_html, vendor, product_type, category, tags, "
                  "option1_name, option2_name, option3_name, status, "
                  "published, currency, length_mm, width_mm, height_mm, "
                  "attributes, certifications, created_at, updated_at) "
                  "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, "
                  "?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?20)",
                  &st, err);
    else
        rc = sg_sql_prep(be,
                  "UPDATE products SET handle = ?2, title = ?3, "
                  "body_html = ?4, vendor = ?5, product_type = ?6, "
                  "category = ?7, tags = ?8, option1_name = ?9, "
                  "option2_name = ?10, option3_name = ?11, status = ?12, "
                  "published = ?13, currency = ?14, length_mm = ?15, "
                  "width_mm = ?16, height_mm = ?17, attributes = ?18, "
                  "certifications = ?19, updated_at = ?20 "
                  "WHERE tenant_id = ?1 AND id = ?21",
                  &st, err);
    if (rc)
        return rc;
    sg_sql_bind_int(st, 1, p->tenant_id, &b);
    sg_sql_bind_text(st, 2, p->handle, &b);
    sg_sql_bind_text(st, 3, p->title, &b);
    sg_sql_bind_text(st, 4, p->body_html, &b);
    sg_sql_bind_text(st, 5, p->vendor, &b);
    sg_sql_bind_text(st, 6, p->product_type, &b);
    sg_sql_bind_text(st, 7, p->category, &b);
    sg_sql_bind_text(st, 8, p->tags, &b);
    for (int i = 0; i < SG_CAT_OPTIONS; i++)
        sg_sql_bind_text(st, 9 + i, p->option_name[i], &b);
    sg_sql_bind_text(st, 12, p->status, &b);
    sg_sql_bind_int(st, 13, p->published, &b);
    sg_sql_bind_text(st, 14, p->currency, &b);
    sg_sql_bind_int(st, 15, p->length_mm, &b);
    sg_sql_bind_int(st, 16, p->width_mm, &b);
    sg_sql_bind_int(st, 17, p->height_mm, &b);
    sg_sql_bind_text(st, 18, p->attributes, &b);
    sg_sql_bind_text(st, 19, p->certifications, &b);
    sg_sql_bind_int(st, 20, now, &b);
    if (p->id)
        sg_sql_bind_int(st, 21, p->id, &b);
    rc = sg_sql_run(be, st, b, "product", NULL, err);
    if (rc)
        return rc;
    if (p->id == 0) {
        p->id = sqlite3_last_insert_rowid(sg_sqlite_db(be));
        p->created_at = now;
    } else if (sqlite3_changes(sg_sqlite_db(be)) == 0) {
        return sg_err_set(err, SG_ENOTFOUND, "no such product");
    }
    p->updated_at = now;
    return 0;
}

static int variant_write(void *be, const struct sg_product *p,
                         struct sg_variant *v, int64_t now,
                         struct sg_err *err)
{
    sqlite3_stmt *st = NULL;
    int64_t owner = 0, vid = 0;
    int rc, b = SQLITE_OK;

    rc = sg_sql_prep(be,
              "SELECT id, product_id FROM variants WHERE tenant_id = ?1 "
              "AND sku = ?2",
              &st, err);
    if (rc)
        return rc;
    sg_sql_bind_int(st, 1, p->tenant_id, &b);
    sg_sql_bind_text(st, 2, v->sku, &b);
    rc = b == SQLITE_OK ? sqlite3_step(st) : b;
    if (rc == SQLITE_ROW) {
        vid = sqlite3_column_int64(st, 0);
        owner = sqlite3_column_int64(st, 1);
    }
    sg_sql_end(be, st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return sg_sqlite_error(be, rc, "variant", err);
    if (vid && owner != p->id)
        return sg_err_set(err, SG_EEXISTS,
                          "SKU %s already belongs to product %" PRId64,
                          v->sku, owner);
    if (vid)
        rc = sg_sql_prep(be,
                  "UPDATE variants SET position = ?3, option1 = ?4, "
                  "option2 = ?5, option3 = ?6, price = ?7, compare_at = ?8, "
                  "cost = ?9, barcode = ?10, grams = ?11, weight_unit = ?12, "
                  "image = ?13, updated_at = ?14 WHERE id = ?15",
                  &st, err);
    else
        rc = sg_sql_prep(be,
                  "INSERT INTO variants (tenant_id, product_id, sku, "
                  "position, option1, option2, option3, price, compare_at, "
                  "cost, barcode, grams, weight_unit, image, created_at, "
                  "updated_at) VALUES (?1, ?16, ?2, ?3, ?4, ?5, ?6, ?7, ?8, "
                  "?9, ?10, ?11, ?12, ?13, ?14, ?14)",
                  &st, err);
    if (rc)
        return rc;
    b = SQLITE_OK;
    if (!vid) {
        sg_sql_bind_int(st, 1, p->tenant_id, &b);
        sg_sql_bind_text(st, 2, v->sku, &b);
        sg_sql_bind_int(st, 16, p->id, &b);
    } else {
        sg_sql_bind_int(st, 15, vid, &b);
    }
    sg_sql_bind_int(st, 3, v->position, &b);
    for (int i = 0; i < SG_CAT_OPTIONS; i++)
        sg_sql_bind_text(st, 4 + i, v->option[i], &b);
    sg_sql_bind_int(st, 7, v->price, &b);
    sg_sql_bind_int(st, 8, v->compare_at, &b);
    sg_sql_bind_int(st, 9, v->cost, &b);
    sg_sql_bind_text(st, 10, v->barcode, &b);
    sg_sql_bind_int(st, 11, v->grams, &b);
    sg_sql_bind_text(st, 12, v->weight_unit[0] ? v->weight_unit : "g", &b);
    sg_sql_bind_text(st, 13, v->image, &b);
    sg_sql_bind_int(st, 14, now, &b);
    rc = sg_sql_run(be, st, b, "variant", NULL, err);
    if (rc)
        return rc;
    v->id = vid ? vid : sqlite3_last_insert_rowid(sg_sqlite_db(be));
    return 0;
}

/* Remove the product's variants whose SKU is not among p's. */
static int variants_prune(void *be, const struct sg_product *p,
                          struct sg_err *err)
{
    sqlite3_stmt *st = NULL;
    int64_t gone[64];
    size_t n_gone;
    int rc, b;

    /* Bounded rounds: each removes up to 64 stale rows. */
    for (size_t round = 0; round <= SG_CAT_VARIANTS_MAX / 8 + 8; round++) {
        n_gone = 0;
        rc = sg_sql_prep(be, "SELECT id, sku FROM variants WHERE product_id = ?1",
                  &st, err);
        if (rc)
            return rc;
        b = SQLITE_OK;
        sg_sql_bind_int(st, 1, p->id, &b);
        while (b == SQLITE_OK && n_gone < SG_ARRAY_SIZE(gone) &&
               (rc = sqlite3_step(st)) == SQLITE_ROW) {
            const char *sku = (const char *)sqlite3_column_text(st, 1);
            bool keep = false;

            for (size_t i = 0; i < p->n_variants && !keep && sku; i++)
                keep = strcmp(p->variants[i].sku, sku) == 0;
            if (!keep)
                gone[n_gone++] = sqlite3_column_int64(st, 0);
        }
        sg_sql_end(be, st);
        if (b != SQLITE_OK || (rc != SQLITE_ROW && rc != SQLITE_DONE))
            return sg_sqlite_error(be, b != SQLITE_OK ? b : rc, "variants",
                                   err);
        if (n_gone == 0)
            return 0;
        for (size_t i = 0; i < n_gone; i++) {
            rc = sg_sql_prep(be, "DELETE FROM variants WHERE id = ?1", &st, err);
            if (rc)
                return rc;
            b = SQLITE_OK;
            sg_sql_bind_int(st, 1, gone[i], &b);
            rc = sg_sql_run(be, st, b, "variant delete", NULL, err);
            if (rc)
                return rc;
        }
    }
    return sg_err_set(err, SG_ELIMIT, "too many variants to remove");
}

static int images_write(void *be, const struct sg_product *p,
                        struct sg_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc, b = SQLITE_OK;

    rc = sg_sql_prep(be, "DELETE FROM product_images WHERE product_id = ?1", &st,
              err);
    if (rc)
        return rc;
    sg_sql_bind_int(st, 1, p->id, &b);
    rc = sg_sql_run(be, st, b, "images", NULL, err);
    for (size_t i = 0; i < p->n_images && !rc; i++) {
        rc = sg_sql_prep(be,
                  "INSERT INTO product_images (tenant_id, product_id, "
                  "position, src, alt) VALUES (?1, ?2, ?3, ?4, ?5)",
                  &st, err);
        if (rc)
            return rc;
        b = SQLITE_OK;
        sg_sql_bind_int(st, 1, p->tenant_id, &b);
        sg_sql_bind_int(st, 2, p->id, &b);
        sg_sql_bind_int(st, 3, p->images[i].position, &b);
        sg_sql_bind_text(st, 4, p->images[i].src, &b);
        sg_sql_bind_text(st, 5, p->images[i].alt, &b);
        rc = sg_sql_run(be, st, b, "image", NULL, err);
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
    sqlite3_stmt *st = NULL;
    int rc, b = SQLITE_OK;

    rc = sg_sql_prep(be, "DELETE FROM products WHERE tenant_id = ?1 AND id = ?2",
              &st, err);
    if (rc)
        return rc;
    sg_sql_bind_int(st, 1, tenant_id, &b);
    sg_sql_bind_int(st, 2, id, &b);
    rc = sg_sql_run(be, st, b, "product delete", NULL, err);
    if (!rc && sqlite3_changes(sg_sqlite_db(be)) == 0)
        return sg_err_set(err, SG_ENOTFOUND, "no such product");
    return rc;
}

static int be_variant_locate(void *be, int64_t tenant_id, int64_t variant_id,
                             const char *sku, int64_t *product_id_out,
                             int64_t *variant_id_out, struct sg_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc, b = SQLITE_OK;

    rc = sg_sql_prep(be,
              variant_id ? "SELECT product_id, id FROM variants WHERE "
                           "tenant_id = ?1 AND id = ?2"
                         : "SELECT product_id, id FROM variants WHERE "
                           "tenant_id = ?1 AND sku = ?3",
              &st, err);
    if (rc)
        return rc;
    sg_sql_bind_int(st, 1, tenant_id, &b);
    if (variant_id)
        sg_sql_bind_int(st, 2, variant_id, &b);
    else
        sg_sql_bind_text(st, 3, sku ? sku : "", &b);
    rc = b == SQLITE_OK ? sqlite3_step(st) : b;
    if (rc == SQLITE_ROW) {
        *product_id_out = sqlite3_column_int64(st, 0);
        if (variant_id_out)
            *variant_id_out = sqlite3_column_int64(st, 1);
        rc = 0;
    } else if (rc == SQLITE_DONE) {
        rc = sg_err_set(err, SG_ENOTFOUND, "no such variant");
    } else {
        rc = sg_sqlite_error(be, rc, "variant", err);
    }
    sg_sql_end(be, st);
    return rc;
}

static int fill_price(struct sg_sql_row *rd, void *row)
{
    struct sg_variant_price *vp = row;

    vp->product_id = sg_sql_rd_i64(rd);
    vp->variant_id = sg_sql_rd_i64(rd);
    vp->price = sg_sql_rd_i64(rd);
    vp->compare_at = sg_sql_rd_i64(rd);
    SG_SQL_RD_STR(rd, vp->currency);
    return sg_sql_row_end(rd);
}

static const struct sg_sql_rowtype price_row =
    SG_SQL_ROWTYPE(struct sg_variant_price, fill_price, NULL);

static int be_variant_price_get(void *be, int64_t tenant_id,
                                const char *sku, struct sg_variant_price *out,
                                struct sg_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc, b = SQLITE_OK;

    memset(out, 0, sizeof(*out));
    rc = sg_sql_prep(be,
              "SELECT v.product_id, v.id, v.price, v.compare_at, p.currency "
              "FROM variants v JOIN products p ON p.id = v.product_id "
              "WHERE v.tenant_id = ?1 AND v.sku = ?2",
              &st, err);
    if (rc)
        return rc;
    sg_sql_bind_int(st, 1, tenant_id, &b);
    sg_sql_bind_text(st, 2, sku, &b);
    return sg_sql_get(be, st, b, "variant", &price_row, out,
                      "no such variant", err);
}

static int be_variant_price_set(void *be, int64_t tenant_id,
                                const struct sg_variant_price *vp,
                                int64_t now, struct sg_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc, b = SQLITE_OK, changes = 0;

    rc = sg_sql_prep(be,
              "UPDATE variants SET price = ?3, compare_at = ?4, "
              "updated_at = ?5 WHERE tenant_id = ?1 AND id = ?2",
              &st, err);
    if (rc)
        return rc;
    sg_sql_bind_int(st, 1, tenant_id, &b);
    sg_sql_bind_int(st, 2, vp->variant_id, &b);
    sg_sql_bind_int(st, 3, vp->price, &b);
    sg_sql_bind_int(st, 4, vp->compare_at, &b);
    sg_sql_bind_int(st, 5, now, &b);
    rc = sg_sql_run(be, st, b, "variant", &changes, err);
    if (rc)
        return rc;
    if (changes == 0)
        return sg_err_set(err, SG_ENOTFOUND, "no such variant");
    rc = sg_sql_prep(be,
              "UPDATE products SET updated_at = ?3 WHERE tenant_id = ?1 "
              "AND id = ?2",
              &st, err);
    if (rc)
        return rc;
    b = SQLITE_OK;
    sg_sql_bind_int(st, 1, tenant_id, &b);
    sg_sql_bind_int(st, 2, vp->product_id, &b);
    sg_sql_bind_int(st, 3, now, &b);
    return sg_sql_run(be, st, b, "product", NULL, err);
}

/* ---- inventory ---- */

static int fill_level(struct sg_sql_row *rd, void *row)
{
    struct sg_inv_level *l = row;

    SG_SQL_RD_STR(rd, l->sku);
    SG_SQL_RD_STR(rd, l->location);
    l->on_hand = sg_sql_rd_i64(rd);
    l->reserved = sg_sql_rd_i64(rd);
    l->committed = sg_sql_rd_i64(rd);
    l->updated_at = sg_sql_rd_i64(rd);
    return sg_sql_row_end(rd);
}

static const struct sg_sql_rowtype level_row =
    SG_SQL_ROWTYPE(struct sg_inv_level, fill_level, NULL);

static int be_inv_get(void *be, int64_t tenant_id, const char *sku,
                      const char *location, struct sg_inv_level *out,
                      struct sg_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc, b = SQLITE_OK;

    rc = sg_sql_prep(be,
              "SELECT sku, location, on_hand, reserved, committed, "
              "updated_at FROM inventory_levels WHERE tenant_id = ?1 AND "
              "sku = ?2 AND location = ?3",
              &st, err);
    if (rc)
        return rc;
    sg_sql_bind_int(st, 1, tenant_id, &b);
    sg_sql_bind_text(st, 2, sku, &b);
    sg_sql_bind_text(st, 3, location, &b);
    return sg_sql_get(be, st, b, "inventory", &level_row, out,
                      "no inventory level", err);
}

#define LEVELS_MAX 256

static int be_inv_levels(void *be, int64_t tenant_id, const char *sku,
                         struct sg_inv_level **out, size_t *n_out,
                         struct sg_err *err)
{
    sqlite3_stmt *st = NULL;
    void *rows;
    int rc, b = SQLITE_OK;

    *out = NULL;
    *n_out = 0;
    rc = sg_sql_prep(be,
              "SELECT sku, location, on_hand, reserved, committed, "
              "updated_at FROM inventory_levels WHERE tenant_id = ?1 AND "
              "sku = ?2 ORDER BY location LIMIT 256",
              &st, err);
    if (rc)
        return rc;
    sg_sql_bind_int(st, 1, tenant_id, &b);
    sg_sql_bind_text(st, 2, sku, &b);
    rc = sg_sql_list(be, st, b, "inventory", &level_row, LEVELS_MAX, &rows,
                     n_out, err);
    *out = rows;
    return rc;
}

/* The conditional UPDATE of one level; *changes 0 when none moved. */
static int inv_update(void *be, int64_t tenant_id,
                      const struct sg_inv_move *m, int64_t now, int *changes,
                      struct sg_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc, b = SQLITE_OK;

    rc = sg_sql_prep(be,
              "UPDATE inventory_levels SET on_hand = on_hand + ?4, "
              "reserved = reserved + ?5, committed = committed + ?6, "
              "updated_at = ?7 WHERE tenant_id = ?1 AND sku = ?2 AND "
              "location = ?3 AND on_hand + ?4 >= 0 AND reserved + ?5 >= 0 "
              "AND committed + ?6 >= 0 AND "
              "on_hand + ?4 >= reserved + ?5 + committed + ?6",
              &st, err);
    if (rc)
        return rc;
    sg_sql_bind_int(st, 1, tenant_id, &b);
    sg_sql_bind_text(st, 2, m->sku, &b);
    sg_sql_bind_text(st, 3, m->location, &b);
    sg_sql_bind_int(st, 4, m->d_on_hand, &b);
    sg_sql_bind_int(st, 5, m->d_reserved, &b);
    sg_sql_bind_int(st, 6, m->d_committed, &b);
    sg_sql_bind_int(st, 7, now, &b);
    return sg_sql_run(be, st, b, "inventory", changes, err);
}

static int be_inv_move(void *be, int64_t tenant_id,
                       const struct sg_inv_move *m, int64_t now,
                       struct sg_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc, b = SQLITE_OK, changes = 0, inserted = 0;

    /*
     * The level usually exists: update it first. Nothing moved means no
     * level yet (it exists at zero before any move: create it and try
     * again) or a move that would break the invariant.
     */
    rc = inv_update(be, tenant_id, m, now, &changes, err);
    if (!rc && changes == 0) {
        rc = sg_sql_prep(be,
                  "INSERT INTO inventory_levels (tenant_id, sku, location, "
                  "updated_at) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO "
                  "NOTHING",
                  &st, err);
        if (rc)
            return rc;
        sg_sql_bind_int(st, 1, tenant_id, &b);
        sg_sql_bind_text(st, 2, m->sku, &b);
        sg_sql_bind_text(st, 3, m->location, &b);
        sg_sql_bind_int(st, 4, now, &b);
        rc = sg_sql_run(be, st, b, "inventory", &inserted, err);
        if (!rc && inserted)
            rc = inv_update(be, tenant_id, m, now, &changes, err);
    }
    if (rc)
        return rc;
    if (changes == 0)
        return sg_err_set(err, SG_ESTATE,
                          "%s at %s: not enough stock for this change",
                          m->sku, m->location);
    rc = sg_sql_prep(be,
              "INSERT INTO inventory_ledger (tenant_id, sku, location, "
              "delta_on_hand, delta_reserved, delta_committed, reason, "
              "cause_ref, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
              &st, err);
    if (rc)
        return rc;
    b = SQLITE_OK;
    sg_sql_bind_int(st, 1, tenant_id, &b);
    sg_sql_bind_text(st, 2, m->sku, &b);
    sg_sql_bind_text(st, 3, m->location, &b);
    sg_sql_bind_int(st, 4, m->d_on_hand, &b);
    sg_sql_bind_int(st, 5, m->d_reserved, &b);
    sg_sql_bind_int(st, 6, m->d_committed, &b);
    sg_sql_bind_text(st, 7, m->reason ? m->reason : "", &b);
    sg_sql_bind_text(st, 8, m->cause_ref, &b);
    sg_sql_bind_int(st, 9, now, &b);
    return sg_sql_run(be, st, b, "ledger", NULL, err);
}

/*
 * The net units reserved for orders whose cause starts with prefix
 * (reservations less releases; commits are not counted) in sku's ledger
 * rows after after_id, and the last row's id (after_id when there is
 * none). after_id < 0 only reads the last id.
 */
static int be_ledger_net(void *be, int64_t tenant_id, const char *sku,
                         int64_t after_id, const char *prefix,
                         int64_t *net_out, int64_t *last_out,
                         struct sg_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc, b = SQLITE_OK;

    *net_out = 0;
    *last_out = after_id < 0 ? 0 : after_id;
    if (after_id < 0)
        rc = sg_sql_prep(be,
                  "SELECT 0, MAX(id) FROM inventory_ledger WHERE "
                  "tenant_id = ?1 AND sku = ?2",
                  &st, err);
    else
        rc = sg_sql_prep(be,
                  "SELECT COALESCE(SUM(CASE WHEN reason IN ('reserve', "
                  "'release') AND substr(cause_ref, 1, length(?4)) = ?4 "
                  "THEN delta_reserved ELSE 0 END), 0), MAX(id) FROM "
                  "inventory_ledger WHERE tenant_id = ?1 AND sku = ?2 AND "
                  "id > ?3",
                  &st, err);
    if (rc)
        return rc;
    sg_sql_bind_int(st, 1, tenant_id, &b);
    sg_sql_bind_text(st, 2, sku, &b);
    if (after_id >= 0) {
        sg_sql_bind_int(st, 3, after_id, &b);
        sg_sql_bind_text(st, 4, prefix, &b);
    }
    rc = b == SQLITE_OK ? sqlite3_step(st) : b;
    if (rc == SQLITE_ROW) {
        *net_out = sqlite3_column_int64(st, 0);
        if (sqlite3_column_type(st, 1) != SQLITE_NULL)
            *last_out = sqlite3_column_int64(st, 1);
        rc = 0;
    } else
        rc = sg_sqlite_error(be, rc, "ledger net", err);
    sg_sql_end(be, st);
    return rc;
}

static int fill_ledger(struct sg_sql_row *rd, void *row)
{
    struct sg_ledger_row *r = row;

    r->id = sg_sql_rd_i64(rd);
    SG_SQL_RD_STR(rd, r->sku);
    SG_SQL_RD_STR(rd, r->location);
    r->d_on_hand = sg_sql_rd_i64(rd);
    r->d_reserved = sg_sql_rd_i64(rd);
    r->d_committed = sg_sql_rd_i64(rd);
    SG_SQL_RD_STR(rd, r->reason);
    SG_SQL_RD_STR(rd, r->cause_ref);
    r->at = sg_sql_rd_i64(rd);
    return sg_sql_row_end(rd);
}

static const struct sg_sql_rowtype ledger_row =
    SG_SQL_ROWTYPE(struct sg_ledger_row, fill_ledger, NULL);

static int be_ledger_list(void *be, int64_t tenant_id, const char *sku,
                          int64_t after_id, size_t limit,
                          struct sg_ledger_row **out, size_t *n_out,
                          struct sg_err *err)
{
    sqlite3_stmt *st = NULL;
    void *rows;
    int rc, b = SQLITE_OK;

    *out = NULL;
    *n_out = 0;
    limit = SG_MIN(limit, (size_t)SG_STORE_LIST_MAX);
    rc = sg_sql_prep(be,
              "SELECT id, sku, location, delta_on_hand, delta_reserved, "
              "delta_committed, reason, cause_ref, at FROM inventory_ledger "
              "WHERE tenant_id = ?1 AND (?2 IS NULL OR sku = ?2) AND id > ?3 "
              "ORDER BY id LIMIT ?4",
              &st, err);
    if (rc)
        return rc;
    sg_sql_bind_int(st, 1, tenant_id, &b);
    sg_sql_bind_text(st, 2, sku, &b);
    sg_sql_bind_int(st, 3, after_id, &b);
    sg_sql_bind_int(st, 4, (int64_t)limit, &b);
    rc = sg_sql_list(be, st, b, "ledger", &ledger_row, limit, &rows, n_out,
                     err);
    *out = rows;
    return rc;
}

/* ---- channel listings ---- */

static int be_listing_set(void *be, int64_t tenant_id, int64_t product_id,
                          const char *channel, const char *status,
                          const char *reason, int64_t now, struct sg_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc, b = SQLITE_OK;

    rc = sg_sql_prep(be,
              "INSERT INTO channel_listings (tenant_id, product_id, channel, "
              "status, reason, updated_at) SELECT ?1, ?2, ?3, ?4, ?5, ?6 "
              "WHERE EXISTS (SELECT 1 FROM products WHERE id = ?2 AND "
              "tenant_id = ?1) ON CONFLICT (product_id, channel) DO UPDATE "
              "SET status = excluded.status, reason = excluded.reason, "
              "updated_at = excluded.updated_at",
              &st, err);
    if (rc)
        return rc;
    sg_sql_bind_int(st, 1, tenant_id, &b);
    sg_sql_bind_int(st, 2, product_id, &b);
    sg_sql_bind_text(st, 3, channel, &b);
    sg_sql_bind_text(st, 4, status, &b);
    sg_sql_bind_text(st, 5, reason, &b);
    sg_sql_bind_int(st, 6, now, &b);
    rc = sg_sql_run(be, st, b, "listing", NULL, err);
    if (!rc && sqlite3_changes(sg_sqlite_db(be)) == 0)
        return sg_err_set(err, SG_ENOTFOUND, "no such product");
    return rc;
}

#define LISTINGS_MAX 64

static int fill_listing(struct sg_sql_row *rd, void *row)
{
    struct sg_listing *l = row;

    SG_SQL_RD_STR(rd, l->channel);
    SG_SQL_RD_STR(rd, l->status);
    l->reason = sg_sql_rd_dup(rd);
    l->updated_at = sg_sql_rd_i64(rd);
    return sg_sql_row_end(rd);
}

static void release_listing(void *row)
{
    struct sg_listing *l = row;

    sg_free(l->reason);
    l->reason = NULL;
}

static const struct sg_sql_rowtype listing_row =
    SG_SQL_ROWTYPE(struct sg_listing, fill_listing, release_listing);

static int be_listing_list(void *be, int64_t tenant_id, int64_t product_id,
                           struct sg_listing **out, size_t *n_out,
                           struct sg_err *err)
{
    sqlite3_stmt *st = NULL;
    void *rows;
    int rc, b = SQLITE_OK;

    *out = NULL;
    *n_out = 0;
    rc = sg_sql_prep(be,
              "SELECT channel, status, reason, updated_at FROM "
              "channel_listings WHERE tenant_id = ?1 AND product_id = ?2 "
              "ORDER BY channel LIMIT 64",
              &st, err);
    if (rc)
        return rc;
    sg_sql_bind_int(st, 1, tenant_id, &b);
    sg_sql_bind_int(st, 2, product_id, &b);
    rc = sg_sql_list(be, st, b, "listings", &listing_row, LISTINGS_MAX, &rows,
                     n_out, err);
    *out = rows;
    return rc;
}

const struct sg_catalog_store_ops sg_catalog_sqlite_ops = {
    .version = SG_CATALOG_STORE_OPS_VERSION,
    .name = "sqlite",
    .product_get = be_product_get,
    .product_list = be_product_list,
    .product_put = be_product_put,
    .product_delete = be_product_delete,
    .variant_locate = be_variant_locate,
    .inv_get = be_inv_get,
    .inv_levels = be_inv_levels,
    .inv_move = be_inv_move,
    .ledger_list = be_ledger_list,
    .ledger_net = be_ledger_net,
    .listing_set = be_listing_set,
    .listing_list = be_listing_list,
    .variant_price_get = be_variant_price_get,
    .variant_price_set = be_variant_price_set,
};
