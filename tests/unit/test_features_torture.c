/*
 * test_features_torture.c - D5 (issue #7) for the code that takes outside
 * input or holds money and stock: the catalog importers (Shopify CSV and
 * JSON Lines parsed, and the parsed products written into a store, first
 * time and as an update), catalog validation (rules load, one report per product),
 * TikTok Shop order normalisation, applying orders (a first sight that
 * reserves, one that oversells, a shipment that commits, a cancellation
 * that releases) and the inventory functions and check.
 *
 * Each operation is swept by tests/lib/torture.c. Store operations run
 * on a copy of a template database, so every run starts from the same
 * state; after a run that failed the store must be whole: an operation
 * made of one store write left no trace at all, an import left each
 * product either as it was or as the file says (never half a product),
 * and the inventory check (on_hand = available + reserved + committed,
 * the ledger sums, reservations = order lines holding one) is clean.
 * The store operations are swept again with SQLite's allocations
 * failing too ("+sqlite").
 *
 * Label "torture" runs every n; the "_quick" twin in the default suite
 * runs SG_TORTURE_QUICK (see tests/CMakeLists.txt).
 */
#include "testlib.h"
#include "torture.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/json.h"
#include "core/log.h"
#include "features/catalog/catalog.h"
#include "features/catalog/import.h"
#include "features/catalog/validate.h"
#include "features/orders/orders.h"
#include "store/store.h"

#include <sqlite3.h>
#include <unistd.h>

#define T0  1700000000000LL
#define LOC "default"

/* ---- fixtures shared by every operation ---- */

static struct {
    char *dir;
    char *csv;           /* the sample catalog's bytes */
    size_t csv_len;
    char *jsonl;         /* the same catalog as JSON Lines, plus bad lines */
    size_t jsonl_len;
    char *jsonl_update;  /* changed prices, stock and a variant removed */
    size_t jsonl_update_len;
    struct sg_import parsed;  /* the CSV, parsed cleanly */
    struct sg_import updated; /* the update, parsed cleanly */
    char *tpl_empty;     /* a tenant and nothing else */
    char *tpl_catalog;   /* the sample catalog imported */
    char *tpl_orders;    /* ... and two orders holding stock */
    char *tpl_broken;    /* ... and one level broken by hand */
    char *work;          /* where each run's copy lives */
    int64_t tenant;
} fx;

static struct sg_clock clk;

static struct sg_store *store_open(const char *path)
{
    struct sg_store_cfg cfg;
    struct sg_store *s = NULL;
    struct sg_err err;

    sg_err_init(&err);
    sg_store_cfg_defaults(&cfg);
    cfg.path = path;
    cfg.readers = 1;
    cfg.queue_max = 16; /* the default ring is 1.5 MiB: thousands of opens */
    sg_clock_init_manual(&clk, T0);
    if (sg_store_open(&s, &cfg, &clk, &err) != 0)
        fail_msg("store open %s: %s", path, err.msg);
    return s;
}

static int tenant_write(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    return sg_store_tx_tenant_insert(tx, "acme", arg, err);
}

/* The whole import as text: items, messages and counters. */
static void import_text(struct sg_buf *b, const struct sg_import *imp)
{
    for (size_t i = 0; i < imp->n_items; i++) {
        const struct sg_import_item *it = &imp->items[i];
        json_t *j = sg_product_to_json(&it->p, false);
        char *s = j ? sg_json_dump(j, NULL) : NULL;

        sg_buf_printf(b, "item %ld %d %d %s\n", it->line, it->rejected,
                      it->outcome, s ? s : "?");
        sg_free(s);
        json_decref(j);
    }
    for (size_t i = 0; i < imp->n_msgs; i++)
        sg_buf_printf(b, "msg %ld %d %s: %s\n", imp->msgs[i].line,
                      imp->msgs[i].warning, imp->msgs[i].column,
                      imp->msgs[i].text);
    sg_buf_printf(b, "errors %zu warnings %zu dropped %zu created %zu "
                     "updated %zu unchanged %zu rejected %zu\n",
                  imp->n_errors, imp->n_warnings, imp->msgs_dropped,
                  imp->created, imp->updated, imp->unchanged,
                  imp->rejected);
}

static void parse_clean(struct sg_import *imp, int format, const char *data,
                        size_t len)
{
    struct sg_err err;

    sg_err_init(&err);
    sg_import_init(imp, "fixture");
    if (sg_import_parse(imp, format, data, len, "USD", &err) != 0)
        fail_msg("fixture parse: %s", err.msg);
}

static void import_into(struct sg_store *s, int format, const char *data,
                        size_t len)
{
    struct sg_import imp;
    struct sg_err err;

    sg_err_init(&err);
    parse_clean(&imp, format, data, len);
    if (sg_import_apply(&imp, s, fx.tenant, LOC, false, &err) != 0)
        fail_msg("fixture import: %s", err.msg);
    sg_import_release(&imp);
}

/* JSON Lines of every accepted product of imp, changed by update. */
static char *to_jsonl(const struct sg_import *imp, bool update,
                      size_t *len_out)
{
    struct sg_buf b;

    sg_buf_init(&b, 16u << 20);
    for (size_t i = 0; i < imp->n_items; i++) {
        const struct sg_import_item *it = &imp->items[i];
        json_t *j, *vs;
        char *s;

        if (it->rejected)
            continue;
        j = sg_product_to_json(&it->p, false);
        vs = json_object_get(j, "variants");
        if (update) {
            /* New prices and stock; a product loses its last variant. */
            size_t k;
            json_t *v;

            json_array_foreach(vs, k, v) {
                json_object_set_new(v, "price", json_string("99.50"));
                json_object_set_new(v, "inventory_quantity",
                                    json_integer((json_int_t)(k + 3)));
            }
            if (json_array_size(vs) > 1)
                json_array_remove(vs, json_array_size(vs) - 1);
            json_object_set_new(j, "title", json_string("Renamed"));
        }
        s = sg_json_dump(j, NULL);
        sg_buf_printf(&b, "%s\n", s);
        sg_free(s);
        json_decref(j);
    }
    if (!update)
        sg_buf_appends(&b, "{\"handle\":\"broken\",\"title\":\n"
                           "{\"handle\":\"no-variants\",\"title\":\"X\","
                           "\"variants\":[]}\n"
                           "{\"handle\":\"bad-price\",\"title\":\"Y\","
                           "\"variants\":[{\"sku\":\"BP-1\",\"price\":"
                           "\"1.999\"}]}\n");
    return sg_buf_detach(&b, len_out);
}

/* Apply one TikTok-shaped order to s (fixture). */
static json_t *tts_order(const char *id, const char *status, int64_t ut,
                         const char *const *skus, const char *line_status,
                         size_t n);

struct order_write {
    struct sg_order *o;
    int policy;
    int outcome;
    bool newly;
};

static int order_write(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    struct order_write *w = arg;
    struct sg_orders_opts opts = {.oversold_policy = w->policy,
                                  .source = "torture"};

    return sg_orders_apply(tx, w->o, &opts, &w->outcome, &w->newly, err);
}

static void order_into(struct sg_store *s, json_t *j)
{
    struct sg_order o;
    struct order_write w = {.o = &o, .policy = SG_OVERSOLD_NOTIFY};
    struct sg_err err;

    sg_err_init(&err);
    if (sg_order_from_tts(&o, j, fx.tenant, "shop1", LOC, &err) != 0 ||
        sg_store_write(s, order_write, &w, &err) != 0)
        fail_msg("fixture order: %s", err.msg);
    sg_order_release(&o);
    json_decref(j);
}

static const char *const cart[] = {"SKL-10", "SKL-10", "TEE-S-BLK"};

static json_t *tts_order(const char *id, const char *status, int64_t ut,
                         const char *const *skus, const char *line_status,
                         size_t n)
{
    json_t *items = json_array();

    for (size_t i = 0; i < n; i++) {
        char lid[64];

        snprintf(lid, sizeof(lid), "%s%zu", id, i + 1);
        json_array_append_new(
            items,
            json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "id", lid, "sku_id",
                      "1729000000000000001", "seller_sku", skus[i],
                      "product_name", "Skillet \"10 in\"", "sale_price",
                      "34.00", "currency", "USD", "display_status",
                      line_status));
    }
    return json_pack(
        "{s:s,s:s,s:I,s:I,s:s,s:s,s:{s:s,s:s,s:s,s:s,s:s},s:{s:s,s:s,s:s,"
        "s:s,s:s},s:[{s:s}],s:o}",
        "id", id, "status", status, "create_time", (json_int_t)1000,
        "update_time", (json_int_t)ut, "user_id", "7494000000000000001",
        "buyer_email", "v2abc@scs2.tiktok.com", "payment", "currency", "USD",
        "sub_total", "102.00", "shipping_fee", "5.99", "tax", "8.16",
        "total_amount", "116.15", "recipient_address", "name", "J*** S***",
        "phone_number", "(+1)213-***-1234", "full_address", "1** M*** St",
        "region_code", "US", "postal_code", "90001", "packages", "id",
        "1152000000000000001", "line_items", items);
}

static void make_template(char **path_out, const char *name, int stage)
{
    struct sg_store *s;
    char *path = sgt_path(fx.dir, name);

    s = store_open(path);
    assert_int_equal(sg_store_write(s, tenant_write, &fx.tenant, NULL), 0);
    if (stage >= 1)
        import_into(s, SG_IMPORT_SHOPIFY_CSV, fx.csv, fx.csv_len);
    if (stage >= 2) {
        order_into(s, tts_order("5764000000000000001", "AWAITING_SHIPMENT",
                                2000, cart, "TO_SHIP", 3));
        order_into(s, tts_order("5764000000000000002", "AWAITING_SHIPMENT",
                                2000, cart + 2, "TO_SHIP", 1));
    }
    sg_store_free(s);
    if (stage >= 3) {
        sqlite3 *db = NULL;

        /* Stock that no ledger row explains: the check must say so. */
        assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
        assert_int_equal(sqlite3_exec(db,
                                      "UPDATE inventory_levels SET "
                                      "on_hand = on_hand + 7 WHERE sku = "
                                      "'SKL-12'",
                                      NULL, NULL, NULL),
                         SQLITE_OK);
        sqlite3_close(db);
    }
    *path_out = path;
}

static int group_setup(void **state)
{
    char path[1024];

    SG_UNUSED(state);
    fx.dir = sgt_tmpdir();
    snprintf(path, sizeof(path), "%s/samples/catalog.csv", SG_SOURCE_DIR);
    fx.csv = sgt_read_file(path, &fx.csv_len);
    assert_non_null(fx.csv);
    parse_clean(&fx.parsed, SG_IMPORT_SHOPIFY_CSV, fx.csv, fx.csv_len);
    fx.jsonl = to_jsonl(&fx.parsed, false, &fx.jsonl_len);
    fx.jsonl_update = to_jsonl(&fx.parsed, true, &fx.jsonl_update_len);
    parse_clean(&fx.updated, SG_IMPORT_JSONL, fx.jsonl_update,
                fx.jsonl_update_len);
    make_template(&fx.tpl_empty, "empty.db", 0);
    make_template(&fx.tpl_catalog, "catalog.db", 1);
    make_template(&fx.tpl_orders, "orders.db", 2);
    make_template(&fx.tpl_broken, "broken.db", 3);
    fx.work = sgt_path(fx.dir, "work.db");
    return 0;
}

static int group_teardown(void **state)
{
    char *paths[] = {fx.tpl_empty, fx.tpl_catalog, fx.tpl_orders,
                     fx.tpl_broken, fx.work};

    SG_UNUSED(state);
    for (size_t i = 0; i < SG_ARRAY_SIZE(paths); i++) {
        sgt_db_remove(paths[i]);
        sg_free(paths[i]);
    }
    sg_import_release(&fx.parsed);
    sg_import_release(&fx.updated);
    sg_free(fx.csv);
    sg_free(fx.jsonl);
    sg_free(fx.jsonl_update);
    rmdir(fx.dir);
    sg_free(fx.dir);
    return 0;
}

/* ---- a store operation: a fresh copy of a template per run ---- */

static int inventory_clean(struct sg_store *s, char *why)
{
    size_t levels = 0, bad = 0;
    char *report = NULL;
    struct sg_err err;
    int rc;

    sg_err_init(&err);
    rc = sg_inventory_check(s, 0, &levels, &bad, &report, &err);
    if (rc)
        snprintf(why, SGT_WHY_MAX, "inventory check failed: %s", err.msg);
    else if (bad)
        snprintf(why, SGT_WHY_MAX, "inventory check: %s", report);
    sg_free(report);
    return rc || bad ? -1 : 0;
}

/* After every run but on the broken sample (the check's own input). */
static int inventory_whole(struct sgt_sop *o, int rc, char *why)
{
    SG_UNUSED(rc);
    return inventory_clean(o->s, why);
}

/* Sweep o with Surge's allocations, then with SQLite's failing too. */
static void sweep_sop(struct sgt_sop *o, const char *name)
{
    o->work = fx.work;
    o->open = store_open;
    sgt_sop_sweep(o, name);
}

/* ---- catalog: parse only ---- */

struct parse_arg {
    int format;
    const char *data;
    size_t len;
    struct sg_import imp;
};

static int parse_run(void *arg, struct sg_err *err)
{
    struct parse_arg *a = arg;

    sg_import_init(&a->imp, "torture");
    return sg_import_parse(&a->imp, a->format, a->data, a->len, "USD", err);
}

static char *parse_digest(void *arg)
{
    struct parse_arg *a = arg;
    struct sg_buf b;

    sg_buf_init(&b, 64u << 20);
    import_text(&b, &a->imp);
    return sg_buf_detach(&b, NULL);
}

static void parse_teardown(void *arg)
{
    struct parse_arg *a = arg;

    sg_import_release(&a->imp);
}

static void sweep_parse(const char *name, int format, const char *data,
                        size_t len)
{
    struct parse_arg a = {.format = format, .data = data, .len = len};
    struct sgt_torture_op op = {.name = name,
                                .arg = &a,
                                .run = parse_run,
                                .digest = parse_digest,
                                .teardown = parse_teardown};
    struct sgt_torture_stats st;

    sgt_torture_sweep(&op, &st);
}

static void test_csv_parse(void **state)
{
    SG_UNUSED(state);
    sweep_parse("catalog shopify-csv parse", SG_IMPORT_SHOPIFY_CSV, fx.csv,
                fx.csv_len);
}

static void test_jsonl_parse(void **state)
{
    SG_UNUSED(state);
    sweep_parse("catalog jsonl parse", SG_IMPORT_JSONL, fx.jsonl,
                fx.jsonl_len);
}

/* ---- catalog: parse and import into a store ---- */

struct import_ctx {
    int format;
    const char *data;
    size_t len;
    const struct sg_import *want; /* what the file holds, parsed cleanly */
    const char *old_tpl;          /* NULL: no product existed before */
    struct sg_product *old;       /* want's products as old_tpl has them */
    struct sg_import imp;
};

/*
 * The file is parsed before the run: the parse-only operations sweep
 * every allocation of parsing (without a store, so much faster), and
 * here each point lands in writing the products.
 */
static int import_prepare(struct sgt_sop *o)
{
    struct import_ctx *c = o->ctx;
    struct sg_err err;

    sg_err_init(&err);
    sg_import_init(&c->imp, "torture");
    return sg_import_parse(&c->imp, c->format, c->data, c->len, "USD", &err);
}

static int import_body(struct sgt_sop *o, struct sg_err *err)
{
    struct import_ctx *c = o->ctx;

    return sg_import_apply(&c->imp, o->s, fx.tenant, LOC, false, err);
}

static void import_result(struct sgt_sop *o, struct sg_buf *b)
{
    struct import_ctx *c = o->ctx;

    import_text(b, &c->imp);
}

static void import_reset(struct sgt_sop *o)
{
    struct import_ctx *c = o->ctx;

    sg_import_release(&c->imp);
}

/* Each variant's stock at LOC is what the file said, where it said one. */
static bool stock_matches(struct sg_store *s, const struct sg_product *p)
{
    for (size_t i = 0; i < p->n_variants; i++) {
        struct sg_inv_level *lv = NULL;
        size_t n = 0;
        bool ok = true;

        if (p->variants[i].inventory < 0)
            continue;
        if (sg_inventory_levels(s, fx.tenant, p->variants[i].sku, &lv, &n,
                                NULL) != 0)
            return false;
        for (size_t k = 0; k < n; k++)
            if (strcmp(lv[k].location, LOC) == 0)
                ok = lv[k].on_hand == p->variants[i].inventory;
        sg_free(lv);
        if (!ok)
            return false;
    }
    return true;
}

/*
 * Every product of the file is in the store either as it was before the
 * import (or absent) or exactly as the file says, with its stock.
 */
static int import_whole(struct sgt_sop *o, int rc, char *why)
{
    struct import_ctx *c = o->ctx;
    char *now;
    bool same;

    SG_UNUSED(rc);
    /* Nothing written at all (the usual case): whole, and quick to see. */
    now = sgt_db_dump(fx.work);
    same = now && strcmp(now, o->baseline) == 0;
    sg_free(now);
    if (same)
        return 0;
    for (size_t i = 0; i < c->want->n_items; i++) {
        const struct sg_import_item *it = &c->want->items[i];
        struct sg_product got;
        struct sg_err err;
        int grc;
        bool ok;

        if (it->rejected)
            continue;
        sg_err_init(&err);
        grc = sg_catalog_get_by_handle(o->s, fx.tenant, it->p.handle, &got,
                                       &err);
        if (grc == SG_ENOTFOUND) {
            ok = c->old_tpl == NULL;
        } else if (grc) {
            snprintf(why, SGT_WHY_MAX, "read %s: %s", it->p.handle,
                     err.msg);
            return -1;
        } else if (sg_product_same(&got, &it->p)) {
            ok = stock_matches(o->s, &it->p);
        } else {
            /* Not the new version: it must be the old one, untouched. */
            ok = c->old && c->old[i].id && sg_product_same(&got, &c->old[i]);
        }
        sg_product_release(&got);
        if (!ok) {
            snprintf(why, SGT_WHY_MAX,
                     "product %s is neither as it was nor as the file "
                     "says (half a product)",
                     it->p.handle);
            return -1;
        }
    }
    return 0;
}

static int import_inventory_whole(struct sgt_sop *o, int rc, char *why)
{
    return import_whole(o, rc, why) ? -1 : inventory_whole(o, rc, why);
}

static void sweep_import(const char *name, const char *tpl, int format,
                         const char *data, size_t len,
                         const struct sg_import *want, const char *old_tpl)
{
    struct import_ctx c = {.format = format,
                           .data = data,
                           .len = len,
                           .want = want,
                           .old_tpl = old_tpl};
    struct sgt_sop o = {.tpl = tpl,
                        .many_writes = true,
                        .prepare = import_prepare,
                        .body = import_body,
                        .text = import_result,
                        .whole = import_inventory_whole,
                        .reset = import_reset,
                        .ctx = &c};

    if (old_tpl) {
        struct sg_store *s = store_open(old_tpl);

        c.old = sg_calloc(want->n_items, sizeof(*c.old));
        assert_non_null(c.old);
        for (size_t i = 0; i < want->n_items; i++)
            if (!want->items[i].rejected)
                (void)sg_catalog_get_by_handle(s, fx.tenant,
                                               want->items[i].p.handle,
                                               &c.old[i], NULL);
        sg_store_free(s);
    }
    sweep_sop(&o, name);
    sg_product_list_free(c.old, c.old ? want->n_items : 0);
}

static void test_csv_import(void **state)
{
    SG_UNUSED(state);
    sweep_import("catalog shopify-csv import (apply)", fx.tpl_empty,
                 SG_IMPORT_SHOPIFY_CSV, fx.csv, fx.csv_len, &fx.parsed,
                 NULL);
}

static void test_jsonl_update(void **state)
{
    SG_UNUSED(state);
    sweep_import("catalog jsonl import over the catalog (apply)",
                 fx.tpl_catalog,
                 SG_IMPORT_JSONL, fx.jsonl_update, fx.jsonl_update_len,
                 &fx.updated, fx.tpl_catalog);
}

/* ---- catalog validation ---- */

struct rules_arg {
    struct sg_config cfg;
    struct sg_catalog_rules r;
};

static int rules_run(void *arg, struct sg_err *err)
{
    struct rules_arg *a = arg;
    int rc = sg_catalog_rules_load(&a->r, &a->cfg, err);

    if (!rc && sg_catalog_rules_set_terms(&a->r, "Replica, counterfeit , "
                                                 "knock-off") != 0)
        rc = sg_err_set(err, SG_ENOMEM, "terms: out of memory");
    return rc;
}

static char *rules_digest(void *arg)
{
    struct rules_arg *a = arg;
    char *cats = sg_json_dump(a->r.categories, NULL);
    char *map = sg_json_dump(a->r.map, NULL);
    struct sg_buf b;

    sg_buf_init(&b, 64u << 20);
    sg_buf_printf(&b, "%s %u %u %u %u\n%s\n%s\n", a->r.currency,
                  a->r.title_max, a->r.description_max, a->r.images_min,
                  a->r.images_max, cats ? cats : "-", map ? map : "-");
    for (size_t i = 0; i < a->r.n_terms; i++)
        sg_buf_printf(&b, "term %s\n", a->r.terms[i]);
    sg_free(cats);
    sg_free(map);
    return sg_buf_detach(&b, NULL);
}

static void rules_teardown(void *arg)
{
    struct rules_arg *a = arg;

    sg_catalog_rules_release(&a->r);
}

static void rules_config(struct sg_config *cfg)
{
    char path[1024];

    assert_int_equal(sg_config_init_defaults(cfg), 0);
    snprintf(path, sizeof(path), "%s/samples/tiktok-categories.json",
             SG_SOURCE_DIR);
    sg_free(cfg->catalog.category_rules);
    cfg->catalog.category_rules = sg_strdup(path);
    snprintf(path, sizeof(path), "%s/samples/category-map.txt",
             SG_SOURCE_DIR);
    sg_free(cfg->catalog.category_map);
    cfg->catalog.category_map = sg_strdup(path);
}

static void test_rules_load(void **state)
{
    struct rules_arg a;
    struct sgt_torture_op op = {.name = "catalog rules load",
                                .arg = &a,
                                .run = rules_run,
                                .digest = rules_digest,
                                .teardown = rules_teardown};
    struct sgt_torture_stats st;

    SG_UNUSED(state);
    memset(&a, 0, sizeof(a));
    rules_config(&a.cfg);
    sgt_torture_sweep(&op, &st);
    sg_config_release(&a.cfg);
}

struct validate_arg {
    struct sg_catalog_rules r;
    json_t *reports;
};

static int validate_run(void *arg, struct sg_err *err)
{
    struct validate_arg *a = arg;

    a->reports = json_array();
    if (!a->reports)
        return sg_err_set(err, SG_ENOMEM, "out of memory");
    for (size_t i = 0; i < fx.parsed.n_items; i++) {
        json_t *rep = sg_catalog_validate(&a->r, &fx.parsed.items[i].p,
                                          "tiktok_shop");

        if (!rep || json_array_append_new(a->reports, rep) != 0)
            return sg_err_set(err, SG_ENOMEM, "validate: out of memory");
    }
    return 0;
}

static char *validate_digest(void *arg)
{
    struct validate_arg *a = arg;

    return sg_json_dump(a->reports, NULL);
}

static void validate_teardown(void *arg)
{
    struct validate_arg *a = arg;

    json_decref(a->reports);
    a->reports = NULL;
}

static void test_validate(void **state)
{
    struct validate_arg a;
    struct sg_config cfg;
    struct sgt_torture_op op = {.name = "catalog validate (every product)",
                                .arg = &a,
                                .run = validate_run,
                                .digest = validate_digest,
                                .teardown = validate_teardown};
    struct sgt_torture_stats st;

    SG_UNUSED(state);
    memset(&a, 0, sizeof(a));
    rules_config(&cfg);
    assert_int_equal(sg_catalog_rules_load(&a.r, &cfg, NULL), 0);
    assert_int_equal(sg_catalog_rules_set_terms(&a.r, "replica,seasoned"),
                     0);
    sgt_torture_sweep(&op, &st);
    sg_catalog_rules_release(&a.r);
    sg_config_release(&cfg);
}

/* ---- orders: normalisation ---- */

struct norm_arg {
    json_t *j;
    struct sg_order o;
    char *text;
};

static int norm_run(void *arg, struct sg_err *err)
{
    struct norm_arg *a = arg;
    json_t *v;
    int rc;

    rc = sg_order_from_tts(&a->o, a->j, fx.tenant, "shop1", LOC, err);
    if (rc)
        return rc;
    v = sg_order_to_json(&a->o, true);
    a->text = v ? sg_json_dump(v, NULL) : NULL;
    json_decref(v);
    return a->text ? 0 : sg_err_set(err, SG_ENOMEM, "view: out of memory");
}

static char *norm_digest(void *arg)
{
    struct norm_arg *a = arg;

    return sg_strdup(a->text);
}

static void norm_teardown(void *arg)
{
    struct norm_arg *a = arg;

    sg_order_release(&a->o);
    sg_free(a->text);
    a->text = NULL;
}

static void test_order_normalise(void **state)
{
    struct norm_arg a;
    struct sgt_torture_op op = {.name = "order normalise (tts json)",
                                .arg = &a,
                                .run = norm_run,
                                .digest = norm_digest,
                                .teardown = norm_teardown};
    struct sgt_torture_stats st;

    SG_UNUSED(state);
    memset(&a, 0, sizeof(a));
    a.j = tts_order("5764000000000000009", "AWAITING_SHIPMENT", 2100, cart,
                    "TO_SHIP", 3);
    sgt_torture_sweep(&op, &st);
    json_decref(a.j);
}

/* ---- orders: applying versions ---- */

struct apply_ctx {
    json_t *j;
    int policy;
    struct order_write w;
};

static int apply_body(struct sgt_sop *o, struct sg_err *err)
{
    struct apply_ctx *c = o->ctx;
    struct sg_order ord;
    int rc;

    memset(&c->w, 0, sizeof(c->w));
    c->w.o = &ord;
    c->w.policy = c->policy;
    rc = sg_order_from_tts(&ord, c->j, fx.tenant, "shop1", LOC, err);
    if (!rc)
        rc = sg_store_write(o->s, order_write, &c->w, err);
    sg_order_release(&ord);
    return rc;
}

static void apply_result(struct sgt_sop *o, struct sg_buf *b)
{
    struct apply_ctx *c = o->ctx;

    sg_buf_printf(b, "outcome %d newly_oversold %d\n", c->w.outcome,
                  c->w.newly);
}

static void sweep_apply(const char *name, const char *tpl, json_t *j,
                        int policy)
{
    struct apply_ctx c = {.j = j, .policy = policy};
    struct sgt_sop o = {.tpl = tpl,
                        .body = apply_body,
                        .whole = inventory_whole,
                        .text = apply_result,
                        .ctx = &c};

    sweep_sop(&o, name);
    json_decref(j);
}

static void test_order_new(void **state)
{
    SG_UNUSED(state);
    sweep_apply("order apply: first sight reserves", fx.tpl_catalog,
                tts_order("5764000000000000003", "AWAITING_SHIPMENT", 2000,
                          cart, "TO_SHIP", 3),
                SG_OVERSOLD_NOTIFY);
}

static void test_order_oversold(void **state)
{
    static const char *const none[] = {"SKL-10", "TEE-S-WHT"};

    SG_UNUSED(state);
    sweep_apply("order apply: oversold, backorder", fx.tpl_catalog,
                tts_order("5764000000000000004", "AWAITING_SHIPMENT", 2000,
                          none, "TO_SHIP", 2),
                SG_OVERSOLD_BACKORDER);
}

static void test_order_ship(void **state)
{
    SG_UNUSED(state);
    sweep_apply("order apply: shipped commits", fx.tpl_orders,
                tts_order("5764000000000000001", "IN_TRANSIT", 3000, cart,
                          "IN_TRANSIT", 3),
                SG_OVERSOLD_NOTIFY);
}

static void test_order_cancel(void **state)
{
    SG_UNUSED(state);
    sweep_apply("order apply: cancelled releases", fx.tpl_orders,
                tts_order("5764000000000000001", "CANCELLED", 3000, cart,
                          "CANCELLED", 3),
                SG_OVERSOLD_NOTIFY);
}

/* ---- inventory functions and the check ---- */

static int moves_write(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    /* Lines naming one SKU twice are summed; all of it is given back or
     * committed by the end, since no order holds these units. */
    static const struct sg_inv_line res[] = {{"SKL-12", LOC, 2},
                                             {"TEE-M-BLK", LOC, 1},
                                             {"SKL-12", LOC, 1}};
    static const struct sg_inv_line commit[] = {{"SKL-12", LOC, 1}};
    static const struct sg_inv_line rel[] = {{"SKL-12", LOC, 2},
                                             {"TEE-M-BLK", LOC, 1}};
    bool changed = false;
    int rc;

    SG_UNUSED(arg);
    rc = sg_inventory_reserve(tx, fx.tenant, res, SG_ARRAY_SIZE(res),
                              "torture:1", err);
    if (!rc)
        rc = sg_inventory_commit(tx, fx.tenant, commit, 1, "torture:1", err);
    if (!rc)
        rc = sg_inventory_release(tx, fx.tenant, rel, SG_ARRAY_SIZE(rel),
                                  "torture:1", err);
    if (!rc)
        rc = sg_inventory_set(tx, fx.tenant, "TEE-M-WHT", LOC, 31,
                              "recount", "torture:2", &changed, err);
    if (!rc)
        rc = sg_inventory_set(tx, fx.tenant, "NEW-SKU", "annex", 4,
                              "recount", NULL, &changed, err);
    return rc;
}

static int moves_body(struct sgt_sop *o, struct sg_err *err)
{
    return sg_store_write(o->s, moves_write, NULL, err);
}

static void test_inventory_moves(void **state)
{
    struct sgt_sop o = {.tpl = fx.tpl_catalog, .body = moves_body,
                        .whole = inventory_whole};

    SG_UNUSED(state);
    sweep_sop(&o, "inventory reserve+commit+release+set");
}

struct check_ctx {
    size_t levels, bad;
    char *report;
};

static int check_body(struct sgt_sop *o, struct sg_err *err)
{
    struct check_ctx *c = o->ctx;

    c->report = NULL;
    return sg_inventory_check(o->s, 0, &c->levels, &c->bad, &c->report,
                              err);
}

static void check_result(struct sgt_sop *o, struct sg_buf *b)
{
    struct check_ctx *c = o->ctx;

    sg_buf_printf(b, "levels %zu violations %zu\n%s\n", c->levels, c->bad,
                  c->report ? c->report : "");
}

static void check_reset(struct sgt_sop *o)
{
    struct check_ctx *c = o->ctx;

    sg_free(c->report);
    c->report = NULL;
}

static void test_inventory_check(void **state)
{
    struct check_ctx c = {0};
    struct sgt_sop o = {.tpl = fx.tpl_broken, .body = check_body, .text = check_result,
                        .reset = check_reset, .ctx = &c};

    SG_UNUSED(state);
    sweep_sop(&o, "inventory check (one level broken)");
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csv_parse),
        cmocka_unit_test(test_jsonl_parse),
        cmocka_unit_test(test_csv_import),
        cmocka_unit_test(test_jsonl_update),
        cmocka_unit_test(test_rules_load),
        cmocka_unit_test(test_validate),
        cmocka_unit_test(test_order_normalise),
        cmocka_unit_test(test_order_new),
        cmocka_unit_test(test_order_oversold),
        cmocka_unit_test(test_order_ship),
        cmocka_unit_test(test_order_cancel),
        cmocka_unit_test(test_inventory_moves),
        cmocka_unit_test(test_inventory_check),
    };

    SG_UNUSED(argc);
    sgt_torture_init(argv);
    sg_log_set_level(SG_LOG_ERR);
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
