/*
 * test_features_orders.c - the orders core on a real SQLite store:
 * normalising TikTok Shop's order object (string ids, exact money, masked
 * buyer data, packages, lines), the status machine applied by update
 * time whatever order versions arrive in (W1 at small scale: duplicated
 * and shuffled versions end like serial application), reservations held
 * by lines (reserve, release on cancel, commit on shipment), oversold
 * orders flagged and backordered, a cart whose lines share one SKU (R3),
 * many buyers for the last unit (R2), the fetch queue and poll cursor,
 * and the inventory check catching a broken level (R6).
 */
#include "core/sg.h"

#include <pthread.h>
#include <sqlite3.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/json.h"
#include "features/catalog/catalog.h"
#include "features/orders/orders.h"
#include "store/store.h"
#include "testlib.h"
#ifdef SG_TEST_ORDERS_PG
#include <libpq-fe.h>

#include "pgserver.h"

static struct sgt_pg *g_pg;
#endif

#define T0  1700000000000LL
#define LOC "default"

struct fx {
    char *dir;
    char *db;
    char dsn[768]; /* postgres: this test's own database */
    struct sg_clock clk;
    struct sg_store *s;
    int64_t t1;
};

static int tenant_write(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    struct fx *f = arg;

    return sg_store_tx_tenant_insert(tx, "acme", &f->t1, err);
}

static int setup(void **state)
{
    struct fx *f = sg_calloc(1, sizeof(*f));
    struct sg_store_cfg cfg;

    f->dir = sgt_tmpdir();
    f->db = sgt_path(f->dir, "surge.db");
    sg_clock_init_manual(&f->clk, T0);
    sg_store_cfg_defaults(&cfg);
    cfg.path = f->db;
#ifdef SG_TEST_ORDERS_PG
    if (sgt_pg_createdb(g_pg, f->dsn, sizeof(f->dsn)) != 0)
        return -1;
    cfg.backend = "postgres";
    cfg.dsn = f->dsn;
    cfg.readers = 2;
#endif
    if (sg_store_open(&f->s, &cfg, &f->clk, NULL) != 0)
        return -1;
    if (sg_store_write(f->s, tenant_write, f, NULL) != 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char p[1024];

    sg_store_free(f->s);
    unlink(f->db);
    snprintf(p, sizeof(p), "%s-wal", f->db);
    unlink(p);
    snprintf(p, sizeof(p), "%s-shm", f->db);
    unlink(p);
    rmdir(f->dir);
    sg_free(f->db);
    sg_free(f->dir);
    sg_free(f);
    return 0;
}

/* ---- building TikTok-shaped orders ---- */

struct line_spec {
    const char *sku;
    const char *status; /* display_status */
};

/* An order object as Get Order Detail answers it. */
static json_t *tts_order(const char *id, const char *status, int64_t ut,
                         const struct line_spec *lines, size_t n)
{
    json_t *items = json_array();

    for (size_t i = 0; i < n; i++) {
        char lid[64];

        snprintf(lid, sizeof(lid), "%s%zu", id, i + 1);
        json_array_append_new(
            items,
            json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "id", lid, "sku_id",
                      "1729000000000000001", "seller_sku", lines[i].sku,
                      "product_name", "Pan", "sale_price", "19.99",
                      "currency", "USD", "display_status",
                      lines[i].status));
    }
    return json_pack(
        "{s:s,s:s,s:I,s:I,s:s,s:s,s:{s:s,s:s,s:s,s:s,s:s},s:{s:s,s:s,s:s,"
        "s:s,s:s},s:[{s:s}],s:o}",
        "id", id, "status", status, "create_time", (json_int_t)1000,
        "update_time", (json_int_t)ut, "user_id", "7494000000000000001",
        "buyer_email", "v2abc@scs2.tiktok.com", "payment", "currency", "USD",
        "sub_total", "39.98", "shipping_fee", "5.99", "tax", "0.00",
        "total_amount", "45.97", "recipient_address", "name", "J*** S***",
        "phone_number", "(+1)213-***-1234", "full_address", "1** M*** St",
        "region_code", "US", "postal_code", "90001", "packages", "id",
        "1152000000000000001", "line_items", items);
}

struct apply_arg {
    struct sg_order *o;
    int policy;
    int outcome;
    bool newly;
};

static int apply_write(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    struct apply_arg *a = arg;
    struct sg_orders_opts opts = {.oversold_policy = a->policy,
                                  .source = "test"};

    return sg_orders_apply(tx, a->o, &opts, &a->outcome, &a->newly, err);
}

/* Normalise and apply one version; returns the outcome. */
static int apply_json(struct fx *f, json_t *j, int policy, bool *newly)
{
    struct sg_order o;
    struct apply_arg a = {.o = &o, .policy = policy};
    struct sg_err err;

    sg_err_init(&err);
    assert_int_equal(sg_order_from_tts(&o, j, f->t1, "shop1", LOC, &err), 0);
    if (sg_store_write(f->s, apply_write, &a, &err) != 0)
        fail_msg("apply: %s", err.msg);
    sg_order_release(&o);
    json_decref(j);
    if (newly)
        *newly = a.newly;
    return a.outcome;
}

struct set_arg {
    int64_t tenant;
    const char *sku;
    int64_t on_hand;
};

static int set_write(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    struct set_arg *a = arg;
    bool changed;

    return sg_inventory_set(tx, a->tenant, a->sku, LOC, a->on_hand, "test",
                            NULL, &changed, err);
}

static void stock(struct fx *f, const char *sku, int64_t on_hand)
{
    struct set_arg a = {f->t1, sku, on_hand};

    assert_int_equal(sg_store_write(f->s, set_write, &a, NULL), 0);
}

struct put_arg {
    struct fx *f;
    const char *sku;
};

static int put_write(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    struct put_arg *a = arg;
    struct sg_product p;
    struct sg_variant *v = NULL;
    int rc, outcome = 0;

    memset(&p, 0, sizeof(p));
    p.tenant_id = a->f->t1;
    snprintf(p.status, sizeof(p.status), "active");
    snprintf(p.currency, sizeof(p.currency), "USD");
    rc = sg_cat_set_str(&p.handle, a->sku, strlen(a->sku));
    if (!rc)
        rc = sg_cat_set_str(&p.title, "Thing", 5);
    if (!rc)
        rc = sg_product_add_variant(&p, &v);
    if (!rc)
        rc = sg_cat_set_str(&v->sku, a->sku, strlen(a->sku));
    if (!rc) {
        v->price = 100;
        v->position = 1;
        rc = sg_catalog_put(tx, &p, LOC, "test", &outcome, err);
    }
    sg_product_release(&p);
    return rc;
}

/* A catalog product for sku, so it is Surge's to sell. */
static void catalog_sku(struct fx *f, const char *sku)
{
    struct put_arg a = {f, sku};
    struct sg_err err;

    sg_err_init(&err);
    if (sg_store_write(f->s, put_write, &a, &err) != 0)
        fail_msg("catalog put: %s", err.msg);
}

static void level(struct fx *f, const char *sku, int64_t *on_hand,
                  int64_t *reserved)
{
    struct sg_inv_level *lv = NULL;
    size_t n = 0;

    assert_int_equal(sg_inventory_levels(f->s, f->t1, sku, &lv, &n, NULL), 0);
    assert_int_equal(n, 1);
    *on_hand = lv[0].on_hand;
    *reserved = lv[0].reserved;
    sg_free(lv);
}

static void assert_check_clean(struct fx *f)
{
    size_t levels = 0, bad = 0;
    char *report = NULL;

    assert_int_equal(sg_inventory_check(f->s, 0, &levels, &bad, &report,
                                        NULL),
                     0);
    if (bad)
        fail_msg("inventory check: %s", report);
    assert_null(report);
    assert_true(levels > 0);
}

#ifdef SG_TEST_ORDERS_PG
/* A side connection of the test's own, behind the store's back. */
static int64_t sql_int(struct fx *f, const char *sql)
{
    PGconn *c = PQconnectdb(f->dsn);
    PGresult *r;
    int64_t v = -1;

    assert_int_equal(PQstatus(c), CONNECTION_OK);
    r = PQexec(c, sql);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    if (PQntuples(r) > 0)
        v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    PQfinish(c);
    return v;
}

static void sql_exec(struct fx *f, const char *sql)
{
    PGconn *c = PQconnectdb(f->dsn);
    PGresult *r;

    assert_int_equal(PQstatus(c), CONNECTION_OK);
    r = PQexec(c, sql);
    assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    PQfinish(c);
}
#else
static void sql_exec(struct fx *f, const char *sql)
{
    sqlite3 *db = NULL;

    assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

static int64_t sql_int(struct fx *f, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int64_t v = -1;

    assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}
#endif

/* ---- normalisation ---- */

static void test_normalise(void **state)
{
    struct fx *f = *state;
    struct line_spec l[] = {{"PAN-1", "TO_SHIP"}, {"PAN-1", "TO_SHIP"}};
    json_t *j = tts_order("576461413038785752", "AWAITING_SHIPMENT", 1700,
                          l, 2);
    struct sg_order o;
    struct sg_err err;
    json_t *v;

    sg_err_init(&err);
    assert_int_equal(sg_order_from_tts(&o, j, f->t1, "shop1", LOC, &err), 0);
    assert_string_equal(o.channel_order_id, "576461413038785752");
    assert_int_equal(o.status, SG_ORD_AWAITING_SHIPMENT);
    assert_int_equal(o.update_time, 1700);
    assert_int_equal(o.subtotal, 3998);
    assert_int_equal(o.shipping_fee, 599);
    assert_int_equal(o.total, 4597);
    assert_string_equal(o.currency, "USD");
    assert_string_equal(o.buyer_user_id, "7494000000000000001");
    assert_string_equal(o.recipient_phone, "(+1)213-***-1234");
    assert_string_equal(o.package_ids, "1152000000000000001");
    assert_int_equal(o.n_lines, 2);
    assert_string_equal(o.lines[1].channel_line_id, "5764614130387857522");
    assert_string_equal(o.lines[0].sku, "PAN-1");
    assert_string_equal(o.lines[0].channel_sku_id, "1729000000000000001");
    assert_int_equal(o.lines[0].unit_price, 1999);
    assert_int_equal(o.lines[0].qty, 1);
    v = sg_order_to_json(&o, true);
    assert_string_equal(sg_json_str(v, "total"), "45.97");
    assert_string_equal(sg_json_str(v, "channel_order_id"),
                        "576461413038785752");
    json_decref(v);
    sg_order_release(&o);

    /* Money with more decimals than USD has is refused, naming the field. */
    json_object_set_new(json_object_get(j, "payment"), "total_amount",
                        json_string("45.975"));
    assert_int_equal(sg_order_from_tts(&o, j, f->t1, "shop1", LOC, &err),
                     SG_EINVAL);
    assert_non_null(strstr(err.msg, "payment.total_amount"));
    sg_order_release(&o);
    json_object_set_new(json_object_get(j, "payment"), "total_amount",
                        json_string("45.97"));
    json_object_set_new(j, "status", json_string("TELEPORTED"));
    assert_int_equal(sg_order_from_tts(&o, j, f->t1, "shop1", LOC, &err),
                     SG_EINVAL);
    assert_non_null(strstr(err.msg, "status"));
    sg_order_release(&o);
    json_object_set_new(j, "status", json_string("UNPAID"));
    json_object_del(j, "id");
    assert_int_equal(sg_order_from_tts(&o, j, f->t1, "shop1", LOC, &err),
                     SG_EINVAL);
    sg_order_release(&o);
    json_object_set_new(j, "id", json_integer(42)); /* numbers are taken */
    assert_int_equal(sg_order_from_tts(&o, j, f->t1, "shop1", LOC, &err), 0);
    assert_string_equal(o.channel_order_id, "42");
    sg_order_release(&o);
    json_object_set_new(j, "line_items", json_array());
    assert_int_equal(sg_order_from_tts(&o, j, f->t1, "shop1", LOC, &err),
                     SG_EINVAL);
    sg_order_release(&o);
    json_decref(j);
}

/* ---- the lifecycle ---- */

static void test_lifecycle_reserve_commit_release(void **state)
{
    struct fx *f = *state;
    struct line_spec unpaid[] = {{"A", "UNPAID"}, {"A", "UNPAID"},
                                 {"B", "UNPAID"}};
    struct line_spec toship[] = {{"A", "TO_SHIP"}, {"A", "TO_SHIP"},
                                 {"B", "TO_SHIP"}};
    struct line_spec partial[] = {{"A", "SHIPPED"}, {"A", "TO_SHIP"},
                                  {"B", "CANCELLED"}};
    struct line_spec all[] = {{"A", "SHIPPED"}, {"A", "SHIPPED"},
                              {"B", "CANCELLED"}};
    int64_t oh, rs;

    stock(f, "A", 5);
    stock(f, "B", 1);
    assert_int_equal(apply_json(f, tts_order("100", "UNPAID", 10, unpaid, 3),
                                0, NULL),
                     SG_ORD_APPLIED_NEW);
    level(f, "A", &oh, &rs);
    assert_int_equal(oh, 5);
    assert_int_equal(rs, 2);
    /* Paid in the same second: applied, nothing reserved twice. */
    assert_int_equal(apply_json(f, tts_order("100", "AWAITING_SHIPMENT", 10,
                                             toship, 3),
                                0, NULL),
                     SG_ORD_APPLIED);
    /* The UNPAID version again (a duplicate, late): stale. */
    assert_int_equal(apply_json(f, tts_order("100", "UNPAID", 10, unpaid, 3),
                                0, NULL),
                     SG_ORD_STALE);
    level(f, "A", &oh, &rs);
    assert_int_equal(rs, 2);
    /* One A shipped, B cancelled: commit one, release B. */
    assert_int_equal(apply_json(f, tts_order("100", "PARTIALLY_SHIPPING", 20,
                                             partial, 3),
                                0, NULL),
                     SG_ORD_APPLIED);
    level(f, "A", &oh, &rs);
    assert_int_equal(oh, 4);
    assert_int_equal(rs, 1);
    level(f, "B", &oh, &rs);
    assert_int_equal(oh, 1);
    assert_int_equal(rs, 0);
    assert_int_equal(apply_json(f, tts_order("100", "AWAITING_COLLECTION", 30,
                                             all, 3),
                                0, NULL),
                     SG_ORD_APPLIED);
    /* An older version after a newer one changes nothing. */
    assert_int_equal(apply_json(f, tts_order("100", "AWAITING_SHIPMENT", 15,
                                             toship, 3),
                                0, NULL),
                     SG_ORD_STALE);
    level(f, "A", &oh, &rs);
    assert_int_equal(oh, 3);
    assert_int_equal(rs, 0);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM order_events"), 4);
    assert_int_equal(sql_int(f, "SELECT version FROM orders"), 4);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM inventory_ledger WHERE "
                                "cause_ref = 'order:tiktok_shop:100'"),
                     5); /* reserve A, B; commit A; release B; commit A */
    assert_check_clean(f);
}

/* ---- W1 at small scale ---- */

#define W1_ORDERS 40

/* The versions of order k, oldest first; returns how many. */
static size_t versions(int k, json_t *out[4])
{
    char id[32];
    struct line_spec a[] = {{"W", "UNPAID"}, {"W", "UNPAID"}};
    struct line_spec b[] = {{"W", "TO_SHIP"}, {"W", "TO_SHIP"}};
    struct line_spec c[] = {{"W", "CANCELLED"}, {"W", "CANCELLED"}};
    struct line_spec d[] = {{"W", "SHIPPED"}, {"W", "SHIPPED"}};

    snprintf(id, sizeof(id), "%d", 9000 + k);
    out[0] = tts_order(id, "UNPAID", 100, a, 2);
    out[1] = tts_order(id, "AWAITING_SHIPMENT", 100, b, 2);
    if (k % 3 == 0) {
        out[2] = tts_order(id, "CANCELLED", 200 + k, c, 2);
        return 3;
    }
    out[2] = tts_order(id, "AWAITING_COLLECTION", 300 + k, d, 2);
    out[3] = tts_order(id, "IN_TRANSIT", 400 + k, d, 2);
    return 4;
}

static void test_w1_dup_and_reorder(void **state)
{
    struct fx *f = *state;
    json_t *all[W1_ORDERS * 4 * 2];
    size_t n = 0;
    uint64_t seed = 12345;
    int64_t oh, rs;

    stock(f, "W", 1000);
    for (int k = 0; k < W1_ORDERS; k++) {
        json_t *v[4];
        size_t m = versions(k, v);

        for (size_t i = 0; i < m; i++) {
            all[n++] = v[i];
            if ((k + (int)i) % 4 == 0) /* duplicates */
                all[n++] = json_deep_copy(v[i]);
        }
    }
    /* Deterministic shuffle. */
    for (size_t i = n - 1; i > 0; i--) {
        size_t j;
        json_t *t;

        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        j = (size_t)((seed >> 33) % (i + 1));
        t = all[i];
        all[i] = all[j];
        all[j] = t;
    }
    for (size_t i = 0; i < n; i++)
        (void)apply_json(f, all[i], 0, NULL);
    /* Serial application: cancelled orders hold nothing, the others
     * shipped both units. */
    for (int k = 0; k < W1_ORDERS; k++) {
        char sql[160];

        snprintf(sql, sizeof(sql),
                 "SELECT CASE WHEN status = '%s' THEN 1 ELSE 0 END FROM "
                 "orders WHERE channel_order_id = '%d'",
                 k % 3 == 0 ? "CANCELLED" : "IN_TRANSIT", 9000 + k);
        assert_int_equal(sql_int(f, sql), 1);
    }
    level(f, "W", &oh, &rs);
    assert_int_equal(rs, 0);
    {
        int shipped = 0;

        for (int k = 0; k < W1_ORDERS; k++)
            shipped += k % 3 ? 2 : 0;
        assert_int_equal(oh, 1000 - shipped);
    }
    /* No version was applied twice: at most one event per version. */
    assert_int_equal(sql_int(f, "SELECT count(*) FROM (SELECT order_id, "
                                "to_status FROM order_events GROUP BY "
                                "order_id, to_status HAVING count(*) > 1) d"),
                     0);
    assert_check_clean(f);
}

/* ---- oversold ---- */

static void test_oversold_flagged_and_backordered(void **state)
{
    struct fx *f = *state;
    struct line_spec two[] = {{"O", "TO_SHIP"}, {"O", "TO_SHIP"}};
    struct sg_order_filter flt = {.oversold = 1, .limit = 10};
    struct sg_order *os = NULL;
    size_t n = 0;
    bool newly = false;
    int64_t oh, rs;

    stock(f, "O", 1);
    assert_int_equal(apply_json(f, tts_order("200", "AWAITING_SHIPMENT", 10,
                                             two, 2),
                                SG_OVERSOLD_BACKORDER, &newly),
                     SG_ORD_APPLIED_NEW);
    assert_true(newly);
    level(f, "O", &oh, &rs);
    assert_int_equal(rs, 0); /* all or nothing */
    assert_int_equal(sg_orders_list(f->s, f->t1, &flt, &os, &n, NULL), 0);
    assert_int_equal(n, 1);
    assert_true(os[0].oversold);
    /* O is not in the catalog: never Surge's to cancel. */
    assert_string_equal(os[0].oversold_action, "unknown_sku");
    sg_order_list_free(os, n);
    assert_check_clean(f);
    /* Stock comes back; the next version reserves the backorder. */
    stock(f, "O", 2);
    assert_int_equal(apply_json(f, tts_order("200", "AWAITING_SHIPMENT", 11,
                                             two, 2),
                                SG_OVERSOLD_BACKORDER, &newly),
                     SG_ORD_APPLIED);
    assert_false(newly);
    level(f, "O", &oh, &rs);
    assert_int_equal(rs, 2);
    assert_int_equal(sg_orders_list(f->s, f->t1, &flt, &os, &n, NULL), 0);
    assert_int_equal(n, 0);
    sg_free(os);
    assert_check_clean(f);
}

struct cover_arg {
    int64_t tenant;
    const char *sku;
    size_t n;
    size_t calls; /* covered callbacks */
};

static int covered_cb(struct sg_store_tx *tx, const struct sg_order *o,
                      void *arg, struct sg_err *err)
{
    struct cover_arg *a = arg;

    (void)tx;
    (void)err;
    assert_false(o->oversold);
    a->calls++;
    return 0;
}

static int cover_write(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    struct cover_arg *a = arg;

    return sg_orders_cover(tx, a->tenant, a->sku, covered_cb, a, &a->n, err);
}

static size_t cover(struct fx *f, const char *sku)
{
    struct cover_arg a = {f->t1, sku, 99, 0};
    struct sg_err err;

    sg_err_init(&err);
    if (sg_store_write(f->s, cover_write, &a, &err) != 0)
        fail_msg("cover: %s", err.msg);
    assert_int_equal(a.calls, a.n);
    return a.n;
}

static void order_is(struct fx *f, const char *id, bool oversold,
                     const char *action)
{
    struct sg_order o;

    assert_int_equal(sg_orders_get_by_channel(f->s, f->t1, "tiktok_shop", id,
                                              &o, NULL),
                     0);
    if (o.oversold != oversold || strcmp(o.oversold_action, action) != 0)
        fail_msg("order %s: oversold %d action '%s', want %d '%s'", id,
                 o.oversold, o.oversold_action, oversold, action);
    for (size_t i = 0; i < o.n_lines; i++)
        if (!oversold)
            assert_int_not_equal(o.lines[i].inv, SG_LINE_OVERSOLD);
    sg_order_release(&o);
}

struct action_arg {
    int64_t tenant, id;
};

static int action_write(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    struct action_arg *a = arg;

    return sg_orders_set_oversold_action(tx, a->tenant, a->id,
                                         "cancel_requested", err);
}

/*
 * Stock that comes back (a cancellation's release, a receipt) goes to the
 * oldest order still short of it, whole orders only; an order whose
 * cancellation was asked for is not waiting for stock.
 */
static void test_oversold_covered_when_stock_returns(void **state)
{
    struct fx *f = *state;
    struct line_spec c[] = {{"C", "TO_SHIP"}};
    struct line_spec cd[] = {{"C", "TO_SHIP"}, {"D", "TO_SHIP"}};
    struct line_spec gone[] = {{"C", "CANCELLED"}};
    struct action_arg act = {f->t1, 0};
    struct sg_order o;
    bool newly = false;
    int64_t oh, rs;

    catalog_sku(f, "C");
    catalog_sku(f, "D");
    stock(f, "C", 1);
    stock(f, "D", 0);
    /* Nothing short yet: covering finds nothing. */
    assert_int_equal(cover(f, "C"), 0);
    apply_json(f, tts_order("300", "AWAITING_SHIPMENT", 10, c, 1),
               SG_OVERSOLD_NOTIFY, &newly);
    assert_false(newly);
    apply_json(f, tts_order("301", "AWAITING_SHIPMENT", 10, c, 1),
               SG_OVERSOLD_NOTIFY, &newly);
    assert_true(newly);
    apply_json(f, tts_order("302", "AWAITING_SHIPMENT", 10, cd, 2),
               SG_OVERSOLD_NOTIFY, &newly);
    assert_true(newly);
    apply_json(f, tts_order("303", "AWAITING_SHIPMENT", 10, c, 1),
               SG_OVERSOLD_NOTIFY, &newly);
    assert_true(newly);
    assert_int_equal(sg_orders_get_by_channel(f->s, f->t1, "tiktok_shop",
                                              "303", &o, NULL),
                     0);
    act.id = o.id;
    sg_order_release(&o);
    assert_int_equal(sg_store_write(f->s, action_write, &act, NULL), 0);
    /* No stock came back: nothing moves. */
    assert_int_equal(cover(f, "C"), 0);
    order_is(f, "301", true, "");

    /* The buyer of 300 cancels: its unit goes to 301, the oldest short. */
    apply_json(f, tts_order("300", "CANCELLED", 20, gone, 1),
               SG_OVERSOLD_NOTIFY, NULL);
    level(f, "C", &oh, &rs);
    assert_int_equal(rs, 0);
    assert_int_equal(cover(f, "C"), 1);
    order_is(f, "301", false, "covered");
    order_is(f, "302", true, "");
    level(f, "C", &oh, &rs);
    assert_int_equal(rs, 1);
    assert_check_clean(f);

    /* More C: 302 still lacks D (all or nothing), 303 awaits its cancel. */
    stock(f, "C", 5);
    assert_int_equal(cover(f, "C"), 0);
    order_is(f, "302", true, "");
    order_is(f, "303", true, "cancel_requested");
    level(f, "C", &oh, &rs);
    assert_int_equal(rs, 1);

    /* D arrives: 302 holds both lines now. */
    stock(f, "D", 1);
    assert_int_equal(cover(f, "D"), 1);
    order_is(f, "302", false, "covered");
    level(f, "C", &oh, &rs);
    assert_int_equal(rs, 2);
    level(f, "D", &oh, &rs);
    assert_int_equal(rs, 1);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM audit_log WHERE "
                                "action = 'order.oversold' AND "
                                "outcome = 'covered'"),
                     2);
    assert_check_clean(f);
}

/* R3: two lines of one SKU whose sum exceeds stock reserve nothing. */
static void test_r3_shared_sku_cart(void **state)
{
    struct fx *f = *state;
    struct line_spec cart[] = {{"R", "TO_SHIP"}, {"S", "TO_SHIP"},
                               {"R", "TO_SHIP"}, {"R", "TO_SHIP"}};
    bool newly = false;
    int64_t oh, rs;

    catalog_sku(f, "R");
    catalog_sku(f, "S");
    stock(f, "R", 2);
    stock(f, "S", 5);
    (void)apply_json(f, tts_order("300", "AWAITING_SHIPMENT", 10, cart, 4), 0,
                     &newly);
    assert_true(newly);
    level(f, "R", &oh, &rs);
    assert_int_equal(rs, 0);
    level(f, "S", &oh, &rs);
    assert_int_equal(rs, 0);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM order_lines WHERE inv "
                                "= 'oversold'"),
                     4);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM orders WHERE oversold "
                                "<> 0 AND oversold_action = ''"),
                     1);
    assert_check_clean(f);
}

/* ---- R2: many buyers for the last unit ---- */

#define R2_THREADS 6
#define R2_ROUNDS  15

struct r2 {
    struct fx *f;
    int round;
    int thread;
};

static void *r2_main(void *arg)
{
    struct r2 *r = arg;
    struct line_spec one[] = {{"L", "TO_SHIP"}};
    char id[32];

    snprintf(id, sizeof(id), "r2-%d-%d", r->round, r->thread);
    (void)apply_json(r->f, tts_order(id, "AWAITING_SHIPMENT", 10, one, 1), 0,
                     NULL);
    return NULL;
}

static void test_r2_last_unit(void **state)
{
    struct fx *f = *state;
    int64_t oh, rs;

    for (int round = 0; round < R2_ROUNDS; round++) {
        pthread_t t[R2_THREADS];
        struct r2 a[R2_THREADS];
        char sql[200];

        /* One more unit on hand each round: exactly one is free. */
        stock(f, "L", round + 1);
        for (int i = 0; i < R2_THREADS; i++) {
            a[i] = (struct r2){f, round, i};
            assert_int_equal(pthread_create(&t[i], NULL, r2_main, &a[i]), 0);
        }
        for (int i = 0; i < R2_THREADS; i++)
            pthread_join(t[i], NULL);
        snprintf(sql, sizeof(sql), "SELECT count(*) FROM order_lines WHERE "
                 "channel_line_id LIKE 'r2-%d-%%' AND inv = 'reserved'",
                 round);
        assert_int_equal(sql_int(f, sql), 1);
        level(f, "L", &oh, &rs);
        assert_int_equal(rs, round + 1);
        assert_int_equal(oh, round + 1);
    }
    assert_check_clean(f);
}

/* ---- fetch queue and cursor ---- */

struct mark_arg {
    struct fx *f;
    const char *id;
    int64_t ut;
    int op; /* 0 mark, 1 done, 2 failed, 3 cursor */
    int64_t gen;
};

static int mark_write(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    struct mark_arg *a = arg;

    if (a->op == 0)
        return sg_orders_fetch_mark(tx, a->f->t1, "tiktok_shop", "shop1",
                                    a->id, a->ut, "webhook:1", err);
    if (a->op == 1)
        return sg_orders_fetch_done(tx, "tiktok_shop", "shop1", a->id,
                                    a->gen, err);
    if (a->op == 2)
        return sg_orders_fetch_failed(tx, "tiktok_shop", "shop1", a->id, 2,
                                      err);
    return sg_orders_cursor_set(tx, a->f->t1, "tiktok_shop", "shop1", a->ut,
                                err);
}

static size_t pending(struct fx *f)
{
    struct sg_order_fetch *rows = NULL;
    size_t n = 0;

    assert_int_equal(sg_orders_fetch_pending(f->s, 100, &rows, &n, NULL), 0);
    sg_free(rows);
    return n;
}

static void mark(struct fx *f, const char *id, int64_t ut, int op)
{
    struct mark_arg a = {f, id, ut, op, 0};

    assert_int_equal(sg_store_write(f->s, mark_write, &a, NULL), 0);
}

static void done(struct fx *f, const char *id, int64_t gen)
{
    struct mark_arg a = {f, id, 0, 1, gen};

    assert_int_equal(sg_store_write(f->s, mark_write, &a, NULL), 0);
}

static void test_fetch_queue_and_cursor(void **state)
{
    struct fx *f = *state;
    struct line_spec one[] = {{"Q", "TO_SHIP"}};
    struct sg_order_fetch *rows = NULL;
    struct sg_order_backlog bl;
    size_t n = 0;
    int64_t cur = 0;

    stock(f, "Q", 3);
    assert_int_equal(sg_orders_fetch_backlog(f->s, &bl, NULL), 0);
    assert_int_equal(bl.n, 0);
    assert_int_equal(bl.oldest_queued_at, 0);
    mark(f, "q1", 0, 0);
    sg_clock_advance(&f->clk, 1500);
    mark(f, "q1", 0, 0); /* idempotent */
    mark(f, "q2", 50, 0);
    /* The backlog counts ids, and the oldest keeps its first mark's time. */
    assert_int_equal(sg_orders_fetch_backlog(f->s, &bl, NULL), 0);
    assert_int_equal(bl.n, 2);
    assert_int_equal(bl.oldest_queued_at, T0);
    assert_int_equal(sg_orders_fetch_pending(f->s, 100, &rows, &n, NULL), 0);
    assert_int_equal(n, 2);
    assert_string_equal(rows[0].reason, "webhook:1");
    assert_string_equal(rows[0].shop_id, "shop1");
    /* A webhook that arrives while q1's detail is being fetched marks it
     * again: finishing the fetch of the older generation keeps the row,
     * so the newer change is fetched too. */
    mark(f, "q1", 0, 0);
    done(f, "q1", rows[0].gen);
    assert_int_equal(pending(f), 2);
    done(f, "q1", rows[0].gen + 1);
    assert_int_equal(pending(f), 1);
    sg_free(rows);
    assert_int_equal(sg_orders_fetch_backlog(f->s, &bl, NULL), 0);
    assert_int_equal(bl.n, 1);
    assert_int_equal(bl.oldest_queued_at, T0 + 1500);
    /* A stored version newer than the mark's update_time is not fetched;
     * the same second is (two changes may share it). */
    (void)apply_json(f, tts_order("q3", "AWAITING_SHIPMENT", 70, one, 1), 0,
                     NULL);
    mark(f, "q3", 60, 0);
    assert_int_equal(pending(f), 1);
    mark(f, "q3", 70, 0);
    assert_int_equal(pending(f), 2);
    /* Failures drop a row after attempts_max. */
    mark(f, "q2", 0, 2);
    assert_int_equal(pending(f), 2);
    mark(f, "q2", 0, 2);
    assert_int_equal(pending(f), 1);
    /* The cursor only moves forward. */
    assert_int_equal(sg_orders_cursor_get(f->s, "tiktok_shop", "shop1", &cur,
                                          NULL),
                     SG_ENOTFOUND);
    mark(f, NULL, 500, 3);
    mark(f, NULL, 400, 3);
    assert_int_equal(sg_orders_cursor_get(f->s, "tiktok_shop", "shop1", &cur,
                                          NULL),
                     0);
    assert_int_equal(cur, 500);
}

/* ---- R6: the check finds what is broken ---- */

static void test_inventory_check_catches(void **state)
{
    struct fx *f = *state;
    struct line_spec one[] = {{"C", "TO_SHIP"}};
    size_t levels = 0, bad = 0;
    char *report = NULL;

    stock(f, "C", 3);
    (void)apply_json(f, tts_order("400", "AWAITING_SHIPMENT", 10, one, 1), 0,
                     NULL);
    assert_check_clean(f);
    /* A level changed behind the ledger's back, and a reservation no
     * order line holds. */
    sql_exec(f, "UPDATE inventory_levels SET on_hand = on_hand + 1 WHERE "
                "sku = 'C'");
    sql_exec(f, "UPDATE order_lines SET inv = 'released' WHERE sku = 'C'");
    assert_int_equal(sg_inventory_check(f->s, 0, &levels, &bad, &report,
                                        NULL),
                     0);
    assert_int_equal(bad, 2);
    assert_non_null(strstr(report, "C@default: ledger sums"));
    assert_non_null(strstr(report, "C@default: reserved 1 but order lines "
                                   "hold 0"));
    sg_free(report);
}

#ifndef SG_TEST_ORDERS_PG
/* ---- migration 0013: the order lines' table rebuilt ---- */

/*
 * A store as the release before 0013 made it (0001..0012 from the
 * source tree, recorded in schema_migrations), with an order whose two
 * lines hold a reservation and an oversold unit. Opening it applies
 * 0013: every line keeps its id and columns, the SKU index holds only
 * the oversold line and serves the lookup, the check on inv still
 * refuses an unknown value and no longer uses an IN list.
 */
static void test_upgrade_0013(void **state)
{
    struct fx *f = *state;
    struct sg_store_cfg cfg;
    sqlite3 *db = NULL;
    char file[600];

    sg_store_free(f->s);
    f->s = NULL;
    assert_int_equal(unlink(f->db), 0);
    snprintf(file, sizeof(file), "%s-wal", f->db);
    (void)unlink(file);
    snprintf(file, sizeof(file), "%s-shm", f->db);
    (void)unlink(file);
    db = sgt_sqlite_at_migration(f->db, 12);
    assert_int_equal(
        sqlite3_exec(db,
                     "INSERT INTO tenants (id, name, created_at) VALUES "
                     "(1, 'acme', 1);"
                     "INSERT INTO orders (id, tenant_id, channel, shop_id, "
                     "channel_order_id, status, currency, created_at, "
                     "updated_at, oversold) VALUES (7, 1, 'tiktok_shop', "
                     "'s1', '500', 'AWAITING_SHIPMENT', 'USD', 1, 1, 1);"
                     "INSERT INTO order_lines (id, tenant_id, order_id, "
                     "channel_line_id, channel_sku_id, sku, product_name, "
                     "qty, unit_price, status, package_id, location, inv) "
                     "VALUES (41, 1, 7, 'l1', 'k1', 'A', 'Mug', 2, 500, "
                     "'TO_SHIP', NULL, 'default', 'reserved'), (42, 1, 7, "
                     "'l2', 'k2', 'B', 'Cup', 1, 300, 'TO_SHIP', 'p9', "
                     "'default', 'oversold')",
                     NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);

    sg_store_cfg_defaults(&cfg);
    cfg.path = f->db;
    assert_int_equal(sg_store_open(&f->s, &cfg, &f->clk, NULL), 0);
    assert_true(sql_int(f, "SELECT MAX(version) FROM schema_migrations") >=
                13);
    assert_int_equal(sql_int(f, "SELECT COUNT(*) FROM order_lines WHERE "
                                "(id = 41 AND order_id = 7 AND "
                                "channel_line_id = 'l1' AND channel_sku_id "
                                "= 'k1' AND sku = 'A' AND product_name = "
                                "'Mug' AND qty = 2 AND unit_price = 500 AND "
                                "status = 'TO_SHIP' AND package_id IS NULL "
                                "AND location = 'default' AND inv = "
                                "'reserved') OR (id = 42 AND sku = 'B' AND "
                                "package_id = 'p9' AND inv = 'oversold')"),
                     2);
    assert_int_equal(sql_int(f, "SELECT COUNT(*) FROM sqlite_master WHERE "
                                "name = 'order_lines_sku'"),
                     0);
    assert_int_equal(sql_int(f, "SELECT COUNT(*) FROM sqlite_master WHERE "
                                "type = 'table' AND name = 'order_lines' "
                                "AND sql LIKE '%inv IN%'"),
                     0);
    /* The partial index (INDEXED BY fails to prepare when it cannot
     * serve the lookup) holds the oversold line only. */
    assert_int_equal(sql_int(f, "SELECT COUNT(*) FROM order_lines INDEXED "
                                "BY order_lines_oversold_sku WHERE "
                                "tenant_id = 1 AND sku = 'B' AND inv = "
                                "'oversold'"),
                     1);
    assert_int_equal(sql_int(f, "SELECT COUNT(*) FROM order_lines INDEXED "
                                "BY order_lines_oversold_sku WHERE "
                                "tenant_id = 1 AND sku = 'A' AND inv = "
                                "'oversold'"),
                     0);
    /* The check still refuses a value outside the five. */
    {
        sqlite3 *c = NULL;

        assert_int_equal(sqlite3_open(f->db, &c), SQLITE_OK);
        sqlite3_busy_timeout(c, 5000);
        assert_int_equal(sqlite3_exec(c, "UPDATE order_lines SET inv = "
                                         "'lost' WHERE id = 41",
                                      NULL, NULL, NULL),
                         SQLITE_CONSTRAINT);
        assert_int_equal(sqlite3_exec(c, "UPDATE order_lines SET inv = "
                                         "'released' WHERE id = 41",
                                      NULL, NULL, NULL),
                         SQLITE_OK);
        sqlite3_close(c);
    }
}
#endif

#ifndef SG_TEST_ORDERS_PG
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_normalise, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lifecycle_reserve_commit_release,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_w1_dup_and_reorder, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_oversold_flagged_and_backordered,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_oversold_covered_when_stock_returns, setup, teardown),
        cmocka_unit_test_setup_teardown(test_r3_shared_sku_cart, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_r2_last_unit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fetch_queue_and_cursor, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_inventory_check_catches, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_upgrade_0013, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
#endif
