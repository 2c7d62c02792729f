/*
 * test_features_fulfil.c - fulfilment on a real store, through
 * features/orders/fulfil.h and, for what that API does not show, the
 * backend's fulfil_store ops themselves: the warehouse export of an order
 * ready to ship (once, again only when its address changes), shipments
 * (some lines, every remaining line, the same tracking number answering
 * the stored one, the channel's answer, lists filtered and paged),
 * cancellations and returns (insert and update by channel id, the
 * auto-approved buyer cancellation, decisions and their answers, seller
 * cancellations of two orders with no channel id yet, a return restocked
 * once, the work lists), and the viral buffers (rates from the ledger,
 * since kept while the buffer holds, SKUs in byte order).
 *
 * test_features_fulfil_pg.c runs the same cases on PostgreSQL
 * (SG_TEST_FULFIL_PG): each store op of both backends is exercised here.
 */
#include "core/sg.h"

#include <sqlite3.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/json.h"
#include "core/log.h"
#include "features/catalog/catalog.h"
#include "features/catalog/import.h"
#include "features/orders/fulfil.h"
#include "features/orders/fulfil_store.h"
#include "features/orders/orders.h"
#include "store/sqlite/sqlutil.h"
#include "store/store.h"
#include "testlib.h"

#ifdef SG_TEST_FULFIL_PG
#include "pgserver.h"
#include "store/postgres/pgutil.h"

static struct sgt_pg *g_pg;
#endif

#define T0    1700000000000LL
#define LOC   "default"
#define ORD_A "5764000000000000001"
#define ORD_B "5764000000000000002"

static struct sg_err E;

struct fx {
    char *dir;
    char *db;
    char dsn[512];
    struct sg_clock clk;
    struct sg_store *s;
    const struct sg_fulfil_store_ops *ops;
    int64_t tenant;
};

static int tenant_write(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    struct fx *f = arg;

    return sg_store_tx_tenant_insert(tx, "acme", &f->tenant, err);
}

static void import_catalog(struct fx *f)
{
    char path[1024];
    struct sg_import imp;
    size_t len = 0;
    char *csv;

    snprintf(path, sizeof(path), "%s/samples/catalog.csv", SG_SOURCE_DIR);
    csv = sgt_read_file(path, &len);
    assert_non_null(csv);
    sg_import_init(&imp, "fixture");
    if (sg_import_parse(&imp, SG_IMPORT_SHOPIFY_CSV, csv, len, "USD", &E) ||
        sg_import_apply(&imp, f->s, f->tenant, LOC, false, &E))
        fail_msg("fixture import: %s", E.msg);
    sg_import_release(&imp);
    sg_free(csv);
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
#ifdef SG_TEST_FULFIL_PG
    if (sgt_pg_createdb(g_pg, f->dsn, sizeof(f->dsn)) != 0)
        return -1;
    cfg.backend = "postgres";
    cfg.dsn = f->dsn;
    cfg.readers = 2;
#endif
    sg_err_init(&E);
    if (sg_store_open(&f->s, &cfg, &f->clk, &E) != 0)
        return -1;
    if (sg_store_write(f->s, tenant_write, f, &E) != 0)
        return -1;
    f->ops = sg_fulfil_store_ops(sg_store_backend_name(f->s));
    if (!f->ops)
        return -1;
    import_catalog(f);
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

/* ---- one integer from SQL, on a reader of either backend ---- */

struct int_q {
    const char *sql;
    int64_t v;
};

#ifdef SG_TEST_FULFIL_PG
static int r_int(void *be, void *arg, struct sg_err *err)
{
    struct int_q *q = arg;
    PGresult *r = NULL;
    int rc = sg_pg_exec(be, q->sql, NULL, &r, NULL, "test", err);

    if (rc)
        return rc;
    q->v = PQntuples(r) > 0 ? sg_pg_i64(r, 0, 0) : -1;
    PQclear(r);
    return 0;
}
#else
static int r_int(void *be, void *arg, struct sg_err *err)
{
    struct int_q *q = arg;
    sqlite3_stmt *st = NULL;
    int rc = sg_sql_prep(be, q->sql, &st, err);

    if (rc)
        return rc;
    q->v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sg_sql_end(be, st);
    return 0;
}
#endif

static int64_t db_int(struct fx *f, const char *sql)
{
    struct int_q q = {.sql = sql, .v = -1};

    if (sg_store_read(f->s, r_int, &q, &E) != 0)
        fail_msg("%s: %s", sql, E.msg);
    return q.v;
}

/* ---- orders ---- */

static const char *const cart[] = {"SKL-10", "SKL-10", "TEE-S-BLK"};

static json_t *tts_order(const char *id, const char *status, int64_t ut,
                         const char *address, const char *const *skus,
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
                      "product_name", "Skillet", "sale_price", "34.00",
                      "currency", "USD", "display_status", "TO_SHIP"));
    }
    return json_pack(
        "{s:s,s:s,s:I,s:I,s:s,s:s,s:{s:s,s:s,s:s,s:s,s:s},s:{s:s,s:s,s:s,"
        "s:s,s:s},s:[{s:s}],s:o}",
        "id", id, "status", status, "create_time", (json_int_t)1000,
        "update_time", (json_int_t)ut, "user_id", "7494000000000000001",
        "buyer_email", "v2abc@scs2.tiktok.com", "payment", "currency", "USD",
        "sub_total", "102.00", "shipping_fee", "5.99", "tax", "8.16",
        "total_amount", "116.15", "recipient_address", "name", "J*** S***",
        "phone_number", "(+1)213-***-1234", "full_address", address,
        "region_code", "US", "postal_code", "90001", "packages", "id",
        "1152000000000000001", "line_items", items);
}

struct apply {
    struct fx *f;
    json_t *j;
    int outcome;
    bool newly;
    int64_t id;
};

static int apply_write(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    static const struct sg_fulfil_opts fo = {
        .warehouse_url = "https://wh.example.com/orders", .attempts_max = 5};
    struct apply *a = arg;
    struct sg_orders_opts opts = {.oversold_policy = SG_OVERSOLD_NOTIFY,
                                  .source = "test"};
    struct sg_order o;
    int rc;

    rc = sg_order_from_tts(&o, a->j, a->f->tenant, "shop1", LOC, err);
    if (!rc)
        rc = sg_orders_apply(tx, &o, &opts, &a->outcome, &a->newly, err);
    if (!rc && a->outcome != SG_ORD_STALE)
        rc = sg_fulfil_after_apply(tx, &o, &fo, err);
    a->id = o.id;
    sg_order_release(&o);
    return rc;
}

/* Apply a version of order id; its row id. */
static int64_t order_apply(struct fx *f, const char *id, const char *status,
                           int64_t ut, const char *address,
                           const char *const *skus, size_t n)
{
    struct apply a = {.f = f,
                      .j = tts_order(id, status, ut, address, skus, n)};

    if (sg_store_write(f->s, apply_write, &a, &E) != 0)
        fail_msg("apply %s: %s", id, E.msg);
    json_decref(a.j);
    return a.id;
}

/* ---- the ops themselves, on a reader ---- */

struct export_q {
    struct fx *f;
    int64_t order_id;
    char *address;
};

static int r_export(void *be, void *arg, struct sg_err *err)
{
    struct export_q *q = arg;

    return q->f->ops->export_get(be, q->order_id, &q->address, err);
}

/* The exported address of order_id (caller frees), NULL if never. */
static char *exported(struct fx *f, int64_t order_id)
{
    struct export_q q = {.f = f, .order_id = order_id};
    int rc = sg_store_read(f->s, r_export, &q, &E);

    if (rc == SG_ENOTFOUND)
        return NULL;
    assert_int_equal(rc, 0);
    assert_non_null(q.address);
    return q.address;
}

static int64_t export_jobs(struct fx *f, const char *event)
{
    char sql[256];

    snprintf(sql, sizeof(sql),
             "SELECT COUNT(*) FROM jobs WHERE kind = 'notify.http' AND "
             "payload LIKE '%%%s%%'",
             event);
    return db_int(f, sql);
}

static void test_export_once_and_on_address_change(void **state)
{
    struct fx *f = *state;
    int64_t a, b;
    char *addr;

    a = order_apply(f, ORD_A, "AWAITING_SHIPMENT", 2000, "1** M*** St", cart,
                    3);
    addr = exported(f, a);
    assert_non_null(addr);
    assert_string_equal(addr, "1** M*** St");
    sg_free(addr);
    assert_int_equal(export_jobs(f, "order.ready_to_ship"), 1);
    /* A newer version, same address: exported already, nothing new. */
    order_apply(f, ORD_A, "AWAITING_SHIPMENT", 2100, "1** M*** St", cart, 3);
    assert_int_equal(export_jobs(f, "order.ready_to_ship"), 1);
    assert_int_equal(export_jobs(f, "order.address_changed"), 0);
    /* The buyer moved: told again, and the export row follows. */
    sg_clock_advance(&f->clk, 5000);
    order_apply(f, ORD_A, "AWAITING_SHIPMENT", 2200, "2** O*** Ave", cart, 3);
    assert_int_equal(export_jobs(f, "order.address_changed"), 1);
    addr = exported(f, a);
    assert_string_equal(addr, "2** O*** Ave");
    sg_free(addr);
    assert_int_equal(db_int(f, "SELECT updated_at - exported_at FROM "
                               "fulfil_exports"),
                     5000);
    /* Not ready to ship: no export at all. */
    b = order_apply(f, ORD_B, "UNPAID", 2000, "1** M*** St", cart + 2, 1);
    assert_null(exported(f, b));
    assert_null(exported(f, 999999));
    assert_int_equal(db_int(f, "SELECT COUNT(*) FROM fulfil_exports"), 1);
}

/* ---- shipments ---- */

struct ship {
    struct fx *f;
    struct sg_ship_req req;
    struct sg_shipment out;
    bool created;
};

static int ship_write(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    struct ship *s = arg;

    return sg_shipment_create(tx, s->f->tenant, &s->req, &s->out, &s->created,
                              err);
}

struct result {
    int64_t id;
    const char *status, *package_id, *error;
};

static int result_write(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    struct result *r = arg;

    return sg_shipment_result(tx, r->id, r->status, r->package_id, r->error,
                              err);
}

struct ship_get {
    struct fx *f;
    int64_t id;
    struct sg_shipment out;
};

static int r_ship_get(void *be, void *arg, struct sg_err *err)
{
    struct ship_get *g = arg;

    return g->f->ops->ship_get(be, g->id, 0, 0, NULL, &g->out, err);
}

static void test_shipments(void **state)
{
    struct fx *f = *state;
    static const struct sg_ship_line two[] = {{"SKL-10", 1},
                                              {"TEE-S-BLK", 1}};
    struct ship s1 = {.f = f,
                      .req = {.channel_order_id = ORD_A,
                              .lines = two,
                              .n_lines = 2,
                              .carrier = "USPS",
                              .tracking_number = "9400T0002",
                              .weight_g = 1200}};
    struct ship again = s1, s2 = {.f = f}, s3 = {.f = f};
    struct result ok = {.status = "shipped",
                        .package_id = "1153000000000000001"};
    struct result bad = {.status = "failed", .error = "carrier unknown"};
    struct ship_get g = {.f = f};
    struct sg_shipment *rows = NULL;
    int64_t a, b;
    size_t n = 0;

    a = order_apply(f, ORD_A, "AWAITING_SHIPMENT", 2000, "1** M*** St", cart,
                    3);
    b = order_apply(f, ORD_B, "AWAITING_SHIPMENT", 2000, "1** M*** St",
                    cart + 2, 1);
    assert_int_equal(sg_store_write(f->s, ship_write, &s1, &E), 0);
    assert_true(s1.created);
    assert_true(s1.out.id > 0);
    assert_int_equal(s1.out.order_id, a);
    assert_string_equal(s1.out.status, "pending");
    assert_int_equal(s1.out.weight_g, 1200);
    /* Reported again: the stored shipment answers. */
    memset(&again.out, 0, sizeof(again.out));
    assert_int_equal(sg_store_write(f->s, ship_write, &again, &E), 0);
    assert_false(again.created);
    assert_int_equal(again.out.id, s1.out.id);
    assert_string_equal(again.out.carrier, "USPS");
    assert_string_equal(again.out.tracking_number, "9400T0002");
    assert_string_equal(again.out.lines, s1.out.lines);
    assert_string_equal(again.out.line_ids, s1.out.line_ids);
    /* Every remaining line of A (one SKL-10), then all of B. */
    s2.req = (struct sg_ship_req){.order_id = a,
                                  .carrier = "UPS",
                                  .tracking_number = "1ZREST0003"};
    assert_int_equal(sg_store_write(f->s, ship_write, &s2, &E), 0);
    assert_true(s2.created);
    assert_non_null(strstr(s2.out.lines, "SKL-10"));
    assert_null(strstr(s2.out.lines, "TEE-S-BLK"));
    s3.req = (struct sg_ship_req){.channel_order_id = ORD_B,
                                  .carrier = "UPS",
                                  .tracking_number = "1ZB0004"};
    assert_int_equal(sg_store_write(f->s, ship_write, &s3, &E), 0);
    assert_int_equal(s3.out.order_id, b);
    /* A has nothing left to ship. */
    again.req.tracking_number = "9400T0005";
    again.req.lines = NULL;
    again.req.n_lines = 0;
    sg_shipment_release(&again.out);
    assert_int_equal(sg_store_write(f->s, ship_write, &again, &E),
                     SG_ESTATE);
    /* The channel's answers. */
    ok.id = s1.out.id;
    assert_int_equal(sg_store_write(f->s, result_write, &ok, &E), 0);
    bad.id = s2.out.id;
    assert_int_equal(sg_store_write(f->s, result_write, &bad, &E), 0);
    bad.id = 987654;
    assert_int_equal(sg_store_write(f->s, result_write, &bad, &E),
                     SG_ENOTFOUND);
    g.id = s1.out.id;
    assert_int_equal(sg_store_read(f->s, r_ship_get, &g, &E), 0);
    assert_string_equal(g.out.status, "shipped");
    assert_string_equal(g.out.package_id, "1153000000000000001");
    assert_int_equal(g.out.attempts, 1);
    sg_shipment_release(&g.out);
    /* A failure after it keeps the package id (no new one given). */
    bad.id = s1.out.id;
    assert_int_equal(sg_store_write(f->s, result_write, &bad, &E), 0);
    assert_int_equal(sg_store_read(f->s, r_ship_get, &g, &E), 0);
    assert_string_equal(g.out.status, "failed");
    assert_string_equal(g.out.package_id, "1153000000000000001");
    assert_string_equal(g.out.error, "carrier unknown");
    assert_int_equal(g.out.attempts, 2);
    sg_shipment_release(&g.out);
    g.id = 424242;
    assert_int_equal(sg_store_read(f->s, r_ship_get, &g, &E), SG_ENOTFOUND);
    /* Lists: all, by order, by status, paged. */
    assert_int_equal(sg_shipments_list(f->s, f->tenant, 0, NULL, 0, 0, &rows,
                                       &n, &E),
                     0);
    assert_int_equal(n, 3);
    assert_true(rows[0].id < rows[1].id && rows[1].id < rows[2].id);
    sg_shipment_list_free(rows, n);
    assert_int_equal(sg_shipments_list(f->s, f->tenant, a, NULL, 0, 0, &rows,
                                       &n, &E),
                     0);
    assert_int_equal(n, 2);
    sg_shipment_list_free(rows, n);
    assert_int_equal(sg_shipments_list(f->s, 0, 0, "pending", 0, 0, &rows,
                                       &n, &E),
                     0);
    assert_int_equal(n, 1);
    assert_int_equal(rows[0].id, s3.out.id);
    sg_shipment_list_free(rows, n);
    assert_int_equal(sg_shipments_list(f->s, f->tenant, 0, NULL, s1.out.id, 1,
                                       &rows, &n, &E),
                     0);
    assert_int_equal(n, 1);
    assert_int_equal(rows[0].id, s2.out.id);
    sg_shipment_list_free(rows, n);
    assert_int_equal(sg_shipments_list(f->s, f->tenant + 1, 0, NULL, 0, 0,
                                       &rows, &n, &E),
                     0);
    assert_int_equal(n, 0);
    sg_shipment_list_free(rows, n);
    sg_shipment_release(&s1.out);
    sg_shipment_release(&s2.out);
    sg_shipment_release(&s3.out);
    sg_shipment_release(&again.out);
}

/* ---- cancellations and returns ---- */

static struct sg_aftersale as_of(struct fx *f, const char *kind,
                                 const char *cid, const char *order,
                                 const char *status, const char *type,
                                 int64_t ut)
{
    struct sg_aftersale a;

    memset(&a, 0, sizeof(a));
    a.tenant_id = f->tenant;
    snprintf(a.kind, sizeof(a.kind), "%s", kind);
    snprintf(a.channel, sizeof(a.channel), "tiktok_shop");
    snprintf(a.shop_id, sizeof(a.shop_id), "shop1");
    snprintf(a.channel_id, sizeof(a.channel_id), "%s", cid);
    snprintf(a.channel_order_id, sizeof(a.channel_order_id), "%s", order);
    snprintf(a.status, sizeof(a.status), "%s", status);
    snprintf(a.type, sizeof(a.type), "%s", type);
    a.update_time = ut;
    return a;
}

struct as_ev {
    struct sg_aftersale a;
    bool auto_approve;
};

static int as_event_write(struct sg_store_tx *tx, void *arg,
                          struct sg_err *err)
{
    struct as_ev *x = arg;

    return sg_aftersale_event(tx, &x->a, x->auto_approve, err);
}

/* Store an aftersale event; its id. */
static int64_t as_event(struct fx *f, struct sg_aftersale a, bool approve)
{
    struct as_ev x = {.a = a, .auto_approve = approve};
    int64_t id;

    if (sg_store_write(f->s, as_event_write, &x, &E) != 0)
        fail_msg("aftersale event: %s", E.msg);
    id = x.a.id;
    sg_aftersale_release(&x.a);
    return id;
}

struct decide {
    struct fx *f;
    int64_t id;
    const char *kind, *decision, *key;
    struct sg_aftersale out;
};

static int decide_write(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    struct decide *d = arg;

    return sg_aftersale_decide(tx, d->f->tenant, d->id, d->kind, d->decision,
                               NULL, "looks fine", d->key, &d->out, err);
}

struct decided {
    int64_t id;
    const char *state, *status;
};

static int decided_write(struct sg_store_tx *tx, void *arg,
                         struct sg_err *err)
{
    struct decided *d = arg;

    return sg_aftersale_decided(tx, d->id, d->state, d->status, NULL, err);
}

struct seller {
    struct fx *f;
    int64_t order_id;
    struct sg_aftersale out;
};

static int seller_write(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    struct seller *s = arg;

    return sg_aftersale_seller_cancel(tx, s->f->tenant, s->order_id,
                                      "OUT_OF_STOCK", &s->out, err);
}

struct detail {
    int64_t id;
    json_t *j;
};

static int detail_write(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    struct detail *d = arg;

    return sg_aftersale_return_detail(tx, d->id, d->j, LOC, true, NULL, NULL,
                                      err);
}

static struct sg_aftersale as_read(struct fx *f, int64_t id)
{
    struct sg_aftersale a;

    if (sg_aftersale_get(f->s, f->tenant, id, &a, &E) != 0)
        fail_msg("aftersale %" PRId64 ": %s", id, E.msg);
    return a;
}

static size_t as_count(struct fx *f, const char *kind, int work)
{
    struct sg_as_filter flt = {.kind = kind, .work = work};
    struct sg_aftersale *rows = NULL;
    size_t n = 0;

    assert_int_equal(sg_aftersales_list(f->s, f->tenant, &flt, &rows, &n, &E),
                     0);
    for (size_t i = 1; i < n; i++)
        assert_true(rows[i - 1].id < rows[i].id);
    sg_aftersale_list_free(rows, n);
    return n;
}

static void test_aftersales(void **state)
{
    struct fx *f = *state;
    struct decide d = {.f = f, .kind = "return", .decision = "approve"};
    struct decided done = {.state = "done",
                           .status = "CANCELLATION_REQUEST_COMPLETE"};
    struct seller sa = {.f = f}, sb = {.f = f};
    struct detail det;
    struct sg_aftersale a;
    int64_t oa, ob, cancel, ret, on_hand;

    oa = order_apply(f, ORD_A, "AWAITING_SHIPMENT", 2000, "1** M*** St", cart,
                     3);
    ob = order_apply(f, ORD_B, "AWAITING_SHIPMENT", 2000, "1** M*** St",
                     cart + 2, 1);
    /* A buyer cancellation, approved by policy in the same write. */
    cancel = as_event(f, as_of(f, "cancel", "C-1", ORD_B,
                               "CANCELLATION_REQUEST_PENDING", "", 3000),
                      true);
    a = as_read(f, cancel);
    assert_int_equal(a.order_id, ob);
    assert_string_equal(a.initiator, "buyer");
    assert_string_equal(a.decision, "approve");
    assert_string_equal(a.decision_state, "requested");
    assert_string_equal(a.idempotency_key, "surge-cx-C-1-approve");
    assert_false(a.needs_fetch);
    assert_null(a.lines);
    sg_aftersale_release(&a);
    /* A return: needs a detail read. Its newer status updates the row. */
    ret = as_event(f, as_of(f, "return", "R-1", ORD_A,
                            "RETURN_OR_REFUND_REQUEST_PENDING",
                            "RETURN_AND_REFUND", 3000),
                   false);
    assert_int_equal(as_event(f, as_of(f, "return", "R-1", ORD_A,
                                       "BUYER_SHIPPED_ITEM", "", 4000),
                              false),
                     ret);
    /* An older status changes nothing. */
    as_event(f, as_of(f, "return", "R-1", ORD_A,
                      "RETURN_OR_REFUND_REQUEST_PENDING", "", 3500),
             false);
    a = as_read(f, ret);
    assert_int_equal(a.order_id, oa);
    assert_string_equal(a.status, "BUYER_SHIPPED_ITEM");
    assert_string_equal(a.type, "RETURN_AND_REFUND");
    assert_int_equal(a.update_time, 4000);
    assert_true(a.needs_fetch);
    sg_aftersale_release(&a);
    assert_int_equal(as_count(f, NULL, 0), 2);
    assert_int_equal(as_count(f, "return", 0), 1);
    assert_int_equal(as_count(f, NULL, 1), 1); /* decision requested */
    assert_int_equal(as_count(f, NULL, 2), 1); /* needs_fetch */
    /* Approve the return; the same request again answers the row. */
    d.id = ret;
    assert_int_equal(sg_store_write(f->s, decide_write, &d, &E), 0);
    assert_string_equal(d.out.decision_code, "APPROVE_RECEIVED_PACKAGE");
    assert_string_equal(d.out.decision_state, "requested");
    sg_aftersale_release(&d.out);
    d.key = "surge-" "x";
    assert_int_equal(sg_store_write(f->s, decide_write, &d, &E), SG_ESTATE);
    sg_aftersale_release(&d.out);
    d.kind = "cancel"; /* the id is a return's */
    assert_int_equal(sg_store_write(f->s, decide_write, &d, &E),
                     SG_ENOTFOUND);
    sg_aftersale_release(&d.out);
    assert_int_equal(as_count(f, NULL, 1), 2);
    /* The cancellation's answer. */
    done.id = cancel;
    assert_int_equal(sg_store_write(f->s, decided_write, &done, &E), 0);
    a = as_read(f, cancel);
    assert_string_equal(a.decision_state, "done");
    assert_string_equal(a.status, "CANCELLATION_REQUEST_COMPLETE");
    sg_aftersale_release(&a);
    /* Seller cancellations of two orders; a repeat answers the first. */
    sa.order_id = oa;
    assert_int_equal(sg_store_write(f->s, seller_write, &sa, &E), 0);
    sb.order_id = oa;
    assert_int_equal(sg_store_write(f->s, seller_write, &sb, &E), 0);
    assert_int_equal(sb.out.id, sa.out.id);
    sg_aftersale_release(&sb.out);
    sb.order_id = ob;
    assert_int_equal(sg_store_write(f->s, seller_write, &sb, &E), 0);
    assert_true(sb.out.id != sa.out.id);
    assert_string_equal(sb.out.initiator, "seller");
    assert_string_equal(sb.out.decision, "cancel");
    sg_aftersale_release(&sa.out);
    sg_aftersale_release(&sb.out);
    assert_int_equal(as_count(f, "cancel", 0), 3);
    /* The return's detail: received, restocked once. */
    on_hand = db_int(f, "SELECT on_hand FROM inventory_levels WHERE sku = "
                        "'SKL-10'");
    det.id = ret;
    det.j = json_pack(
        "{s:s,s:s,s:s,s:{s:s,s:s},s:[{s:s},{s:s},{s:s}]}", "return_status",
        "RETURN_OR_REFUND_REQUEST_COMPLETE", "return_type",
        "RETURN_AND_REFUND", "return_tracking_number", "RT123",
        "refund_amount", "currency", "USD", "refund_total", "74.00",
        "return_line_items", "seller_sku", "SKL-10", "seller_sku", "SKL-10",
        "seller_sku", "NOT-OURS");
    assert_non_null(det.j);
    assert_int_equal(sg_store_write(f->s, detail_write, &det, &E), 0);
    assert_int_equal(sg_store_write(f->s, detail_write, &det, &E), 0);
    json_decref(det.j);
    a = as_read(f, ret);
    assert_true(a.restocked);
    assert_false(a.needs_fetch);
    assert_int_equal(a.refund_total, 7400);
    assert_string_equal(a.currency, "USD");
    assert_non_null(a.lines);
    assert_non_null(strstr(a.lines, "SKL-10"));
    sg_aftersale_release(&a);
    assert_int_equal(db_int(f, "SELECT on_hand FROM inventory_levels WHERE "
                               "sku = 'SKL-10'"),
                     on_hand + 2);
    assert_int_equal(as_count(f, NULL, 2), 0);
    assert_int_not_equal(sg_aftersale_get(f->s, f->tenant, 777777, &a, &E), 0);
}

/* ---- viral buffers ---- */

struct viral {
    struct sg_viral_opts o;
    size_t changed;
};

static int viral_write(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    struct viral *v = arg;

    return sg_viral_evaluate(tx, &v->o, &v->changed, err);
}

struct rates {
    struct fx *f;
    int64_t since;
    struct sg_viral_row *rows;
    size_t n;
};

static int r_rates(void *be, void *arg, struct sg_err *err)
{
    struct rates *r = arg;

    return r->f->ops->viral_rates(be, r->since, &r->rows, &r->n, err);
}

struct vput {
    struct fx *f;
    struct sg_viral_row row;
};

static int vput_write(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    struct vput *p = arg;

    return p->f->ops->viral_put(sg_store_tx_backend(tx), &p->row,
                                sg_store_tx_now(tx), err);
}

static void test_viral(void **state)
{
    struct fx *f = *state;
    struct viral v = {.o = {.sell_through_per_min = 1,
                            .buffer_units = 2,
                            .window_ms = 60000}};
    struct rates r = {.f = f};
    struct vput p = {.f = f};
    struct sg_viral_row *rows = NULL;
    size_t n = 0;
    int64_t since;

    /* Three SKL-10 and one TEE-S-BLK reserved in the last minute. */
    order_apply(f, ORD_A, "AWAITING_SHIPMENT", 2000, "1** M*** St", cart, 3);
    order_apply(f, ORD_B, "AWAITING_SHIPMENT", 2000, "1** M*** St", cart, 1);
    r.since = T0 - 1;
    assert_int_equal(sg_store_read(f->s, r_rates, &r, &E), 0);
    assert_int_equal(r.n, 2);
    assert_string_equal(r.rows[0].sku, "SKL-10");
    assert_int_equal(r.rows[0].rate_milli, 3); /* units, before scaling */
    assert_int_equal(r.rows[0].buffer, 0);
    assert_string_equal(r.rows[1].sku, "TEE-S-BLK");
    assert_int_equal(r.rows[1].rate_milli, 1);
    sg_free(r.rows);
    /* Both sell at least one a minute: both buffered. */
    assert_int_equal(sg_store_write(f->s, viral_write, &v, &E), 0);
    assert_int_equal(v.changed, 2);
    assert_int_equal(sg_viral_buffer(f->s, f->tenant, "SKL-10"), 2);
    assert_int_equal(sg_viral_buffer(f->s, f->tenant, "NONE"), 0);
    since = db_int(f, "SELECT since FROM viral_buffers WHERE sku = "
                      "'SKL-10'");
    assert_int_equal(since, T0);
    /* Still selling: the buffer holds, since does not move. */
    sg_clock_advance(&f->clk, 1000);
    assert_int_equal(sg_store_write(f->s, viral_write, &v, &E), 0);
    assert_int_equal(v.changed, 0);
    assert_int_equal(db_int(f, "SELECT since FROM viral_buffers WHERE sku = "
                               "'SKL-10'"),
                     since);
    assert_int_equal(db_int(f, "SELECT updated_at FROM viral_buffers WHERE "
                               "sku = 'SKL-10'"),
                     T0 + 1000);
    /* A buffer row with nothing reserved still comes back (units 0). */
    p.row.tenant_id = f->tenant;
    snprintf(p.row.sku, sizeof(p.row.sku), "bag-1");
    p.row.buffer = 1;
    assert_int_equal(sg_store_write(f->s, vput_write, &p, &E), 0);
    r.since = T0 - 1;
    assert_int_equal(sg_store_read(f->s, r_rates, &r, &E), 0);
    assert_int_equal(r.n, 3);
    assert_string_equal(r.rows[0].sku, "SKL-10");
    assert_int_equal(r.rows[0].buffer, 2);
    assert_string_equal(r.rows[2].sku, "bag-1");
    assert_int_equal(r.rows[2].buffer, 1);
    assert_int_equal(r.rows[2].rate_milli, 0);
    sg_free(r.rows);
    /* Nothing sold for two minutes: every buffer back to 0. */
    sg_clock_advance(&f->clk, 120000);
    assert_int_equal(sg_store_write(f->s, viral_write, &v, &E), 0);
    assert_int_equal(v.changed, 3);
    assert_int_equal(sg_viral_list(f->s, f->tenant, &rows, &n, &E), 0);
    assert_int_equal(n, 3);
    /* Byte order (upper case before lower), whatever the locale. */
    assert_string_equal(rows[0].sku, "SKL-10");
    assert_string_equal(rows[1].sku, "TEE-S-BLK");
    assert_string_equal(rows[2].sku, "bag-1");
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(rows[i].buffer, 0);
        assert_int_equal(rows[i].since, T0 + 121000);
    }
    sg_free(rows);
    assert_int_equal(sg_viral_list(f->s, f->tenant + 1, &rows, &n, &E), 0);
    assert_int_equal(n, 0);
    sg_free(rows);
}

#ifndef SG_TEST_FULFIL_PG
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_export_once_and_on_address_change, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shipments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_aftersales, setup, teardown),
        cmocka_unit_test_setup_teardown(test_viral, setup, teardown),
    };

    sg_log_set_level(SG_LOG_ERR);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
#endif
