/*
 * test_features_fulfil_torture.c - D5 (issue #7) for what happens to an
 * order after ingest (features/orders/fulfil.h): an order applied with
 * its warehouse export, shipments reported (some lines; every remaining
 * line; the channel's answer), buyer cancellations (auto-approved) and
 * returns arriving, decisions asked for and answered, a seller
 * cancellation, a return's detail restocking its units, and the viral
 * mode's evaluation.
 *
 * Each operation is one store write on a copy of a template database
 * (the sample catalog, two orders holding stock, a pending shipment, a
 * return and a pending cancellation), swept by tests/lib/torture.c and
 * again with SQLite's allocations failing ("+sqlite"). A failed run must
 * leave the file exactly as it was and report out of memory; after every
 * run the inventory check (on_hand = available + reserved + committed,
 * ledger sums, reservations = order lines holding one) must be clean.
 *
 * Label "torture" runs every n; the "_quick" twin in the default suite
 * runs SG_TORTURE_QUICK (see tests/CMakeLists.txt).
 */
#include "testlib.h"
#include "torture.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/json.h"
#include "core/log.h"
#include "features/catalog/catalog.h"
#include "features/catalog/import.h"
#include "features/orders/fulfil.h"
#include "features/orders/orders.h"
#include "store/store.h"

#include <sys/stat.h>
#include <unistd.h>

#define T0  1700000000000LL
#define LOC "default"
#define ORD_A "5764000000000000001"
#define ORD_B "5764000000000000002"

static struct {
    char *dir;
    char *tpl_catalog; /* the sample catalog */
    char *tpl_orders;  /* ... two orders, a pending shipment of A, a
                          return of A and a pending cancellation of B */
    char *work;
    int64_t tenant;
    int64_t order_a, order_b, ship_id, return_id, cancel_id;
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
    cfg.queue_max = 16;
    sg_clock_init_manual(&clk, T0);
    if (sg_store_open(&s, &cfg, &clk, &err) != 0)
        fail_msg("store open %s: %s", path, err.msg);
    return s;
}

static int tenant_write(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    return sg_store_tx_tenant_insert(tx, "acme", arg, err);
}

static const char *const cart[] = {"SKL-10", "SKL-10", "TEE-S-BLK"};

static json_t *tts_order(const char *id, const char *status, int64_t ut,
                         const char *const *skus, size_t n)
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
        "phone_number", "(+1)213-***-1234", "full_address", "1** M*** St",
        "region_code", "US", "postal_code", "90001", "packages", "id",
        "1152000000000000001", "line_items", items);
}

/* An order version applied and exported, as the engine's order write. */
struct apply {
    json_t *j;
    struct sg_fulfil_opts opts;
    int outcome;
    bool newly;
    int64_t id;
};

static int apply_write(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    struct apply *a = arg;
    struct sg_orders_opts opts = {.oversold_policy = SG_OVERSOLD_NOTIFY,
                                  .source = "torture"};
    struct sg_order o;
    int rc;

    /* o needs releasing even when it could not be filled. */
    rc = sg_order_from_tts(&o, a->j, fx.tenant, "shop1", LOC, err);
    if (!rc)
        rc = sg_orders_apply(tx, &o, &opts, &a->outcome, &a->newly, err);
    if (!rc && a->outcome != SG_ORD_STALE)
        rc = sg_fulfil_after_apply(tx, &o, &a->opts, err);
    a->id = o.id;
    sg_order_release(&o);
    return rc;
}

static const struct sg_fulfil_opts export_opts = {
    .warehouse_url = "https://wh.example.com/orders",
    .attempts_max = 5};

static int64_t order_into(struct sg_store *s, const char *id,
                          const char *const *skus, size_t n)
{
    struct apply a = {.j = tts_order(id, "AWAITING_SHIPMENT", 2000, skus, n),
                      .opts = export_opts};
    struct sg_err err;

    sg_err_init(&err);
    if (sg_store_write(s, apply_write, &a, &err) != 0)
        fail_msg("fixture order: %s", err.msg);
    json_decref(a.j);
    return a.id;
}

static struct sg_aftersale as_of(const char *kind, const char *cid,
                                 const char *order, const char *status,
                                 const char *type)
{
    struct sg_aftersale a;

    memset(&a, 0, sizeof(a));
    a.tenant_id = fx.tenant;
    snprintf(a.kind, sizeof(a.kind), "%s", kind);
    snprintf(a.channel, sizeof(a.channel), "tiktok_shop");
    snprintf(a.shop_id, sizeof(a.shop_id), "shop1");
    snprintf(a.channel_id, sizeof(a.channel_id), "%s", cid);
    snprintf(a.channel_order_id, sizeof(a.channel_order_id), "%s", order);
    snprintf(a.status, sizeof(a.status), "%s", status);
    snprintf(a.type, sizeof(a.type), "%s", type);
    a.update_time = 3000;
    return a;
}

struct tpl_as {
    struct sg_aftersale a;
    bool auto_approve;
};

static int tpl_as_write(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    struct tpl_as *t = arg;

    return sg_aftersale_event(tx, &t->a, t->auto_approve, err);
}

struct tpl_ship {
    struct sg_ship_req req;
    struct sg_shipment out;
    bool created;
};

static int tpl_ship_write(struct sg_store_tx *tx, void *arg,
                          struct sg_err *err)
{
    struct tpl_ship *t = arg;

    return sg_shipment_create(tx, fx.tenant, &t->req, &t->out, &t->created,
                              err);
}

static void import_catalog(struct sg_store *s)
{
    char path[1024];
    struct sg_import imp;
    struct sg_err err;
    size_t len = 0;
    char *csv;

    snprintf(path, sizeof(path), "%s/samples/catalog.csv", SG_SOURCE_DIR);
    csv = sgt_read_file(path, &len);
    assert_non_null(csv);
    sg_err_init(&err);
    sg_import_init(&imp, "fixture");
    if (sg_import_parse(&imp, SG_IMPORT_SHOPIFY_CSV, csv, len, "USD", &err) ||
        sg_import_apply(&imp, s, fx.tenant, LOC, false, &err))
        fail_msg("fixture import: %s", err.msg);
    sg_import_release(&imp);
    sg_free(csv);
}

static char *make_template(const char *name, int stage)
{
    char *path = sgt_path(fx.dir, name);
    struct sg_store *s = store_open(path);
    struct sg_err err;

    sg_err_init(&err);
    assert_int_equal(sg_store_write(s, tenant_write, &fx.tenant, NULL), 0);
    import_catalog(s);
    if (stage >= 1) {
        static const struct sg_ship_line one[] = {{"SKL-10", 1}};
        struct tpl_ship sh = {.req = {.channel_order_id = ORD_A,
                                      .lines = one,
                                      .n_lines = 1,
                                      .carrier = "UPS",
                                      .tracking_number = "1ZTPL0001"}};
        struct tpl_as ret = {.a = as_of("return", "R-1", ORD_A,
                                        "RETURN_OR_REFUND_REQUEST_PENDING",
                                        "RETURN_AND_REFUND")};
        struct tpl_as can = {.a = as_of("cancel", "C-1", ORD_B,
                                        "CANCELLATION_REQUEST_PENDING", "")};

        fx.order_a = order_into(s, ORD_A, cart, 3);
        fx.order_b = order_into(s, ORD_B, cart + 2, 1);
        if (sg_store_write(s, tpl_ship_write, &sh, &err) ||
            sg_store_write(s, tpl_as_write, &ret, &err) ||
            sg_store_write(s, tpl_as_write, &can, &err))
            fail_msg("fixture fulfilment: %s", err.msg);
        fx.ship_id = sh.out.id;
        fx.return_id = ret.a.id;
        fx.cancel_id = can.a.id;
        sg_shipment_release(&sh.out);
        sg_aftersale_release(&ret.a);
        sg_aftersale_release(&can.a);
    }
    sg_store_free(s);
    return path;
}

/* ---- a store operation on a fresh copy of a template ---- */

/* The inventory's own check, after every run. */
static int inventory_whole(struct sgt_sop *o, int rc, char *why)
{
    size_t levels = 0, bad = 0;
    char *report = NULL;
    struct sg_err err;
    int crc;

    SG_UNUSED(rc);
    sg_err_init(&err);
    crc = sg_inventory_check(o->s, 0, &levels, &bad, &report, &err);
    if (crc)
        snprintf(why, SGT_WHY_MAX, "inventory check failed: %s", err.msg);
    else if (bad)
        snprintf(why, SGT_WHY_MAX, "inventory check: %s", report);
    sg_free(report);
    return crc || bad ? -1 : 0;
}

/* Sweep o (one write); its "+sqlite" twin unless sqlite_full_only. */
static void sweep_sop(struct sgt_sop *o, const char *name)
{
    o->work = fx.work;
    o->open = store_open;
    o->whole = inventory_whole;
    sgt_sop_sweep(o, name);
}

/* ---- an order applied with its export ---- */

static int apply_body(struct sgt_sop *o, struct sg_store_tx *tx,
                      struct sg_err *err)
{
    struct apply *a = o->ctx;

    return apply_write(tx, a, err);
}

static void apply_text(struct sgt_sop *o, struct sg_buf *b)
{
    struct apply *a = o->ctx;

    sg_buf_printf(b, "outcome %d newly %d id %" PRId64 "\n", a->outcome,
                  a->newly, a->id);
}

static void test_apply_export(void **state)
{
    struct apply a = {.j = tts_order("5764000000000000009",
                                     "AWAITING_SHIPMENT", 2000, cart, 3),
                      .opts = export_opts};
    struct sgt_sop o = {.tpl = fx.tpl_catalog,
                        .write = apply_body,
                        .text = apply_text,
                        .ctx = &a};
    char *csv = sgt_path(fx.dir, "csv");
    char *file = sgt_path(csv, "order.ready_to_ship-1-1.csv");

    SG_UNUSED(state);
    /* With the CSV drop too (the file is written before the commit). */
    assert_int_equal(mkdir(csv, 0700), 0);
    a.opts.csv_dir = csv;
    sweep_sop(&o, "order apply + warehouse export and CSV");
    json_decref(a.j);
    unlink(file);
    rmdir(csv);
    sg_free(file);
    sg_free(csv);
}

static void test_address_changed(void **state)
{
    struct apply a = {.j = tts_order(ORD_B, "AWAITING_SHIPMENT", 2500,
                                     cart + 2, 1),
                      .opts = export_opts};
    struct sgt_sop o = {.tpl = fx.tpl_orders,
                        .write = apply_body,
                        .text = apply_text,
                        .ctx = &a,
                        .sqlite_full_only = true};
    json_t *addr;

    SG_UNUSED(state);
    addr = json_object_get(a.j, "recipient_address");
    json_object_set_new(addr, "full_address", json_string("2** O*** Ave"));
    sweep_sop(&o, "order apply: exported order's address changed");
    json_decref(a.j);
}

/* ---- shipments ---- */

struct ship {
    struct sg_ship_req req;
    struct sg_shipment out;
    bool created;
};

static int ship_body(struct sgt_sop *o, struct sg_store_tx *tx,
                     struct sg_err *err)
{
    struct ship *s = o->ctx;

    return sg_shipment_create(tx, fx.tenant, &s->req, &s->out, &s->created,
                              err);
}

static void ship_text(struct sgt_sop *o, struct sg_buf *b)
{
    struct ship *s = o->ctx;
    json_t *j = sg_shipment_to_json(&s->out);
    char *t = j ? sg_json_dump(j, NULL) : NULL;

    sg_buf_printf(b, "created %d %s\n", s->created, t ? t : "?");
    sg_free(t);
    json_decref(j);
}

static void ship_reset(struct sgt_sop *o)
{
    struct ship *s = o->ctx;

    sg_shipment_release(&s->out);
}

static void test_ship_lines(void **state)
{
    static const struct sg_ship_line lines[] = {{"SKL-10", 1},
                                                {"TEE-S-BLK", 1}};
    struct ship s = {.req = {.channel_order_id = ORD_A,
                             .lines = lines,
                             .n_lines = 2,
                             .carrier = "USPS",
                             .tracking_number = "9400T0002",
                             .weight_g = 1200}};
    struct sgt_sop o = {.tpl = fx.tpl_orders,
                        .write = ship_body,
                        .text = ship_text,
                        .reset = ship_reset,
                        .ctx = &s};

    SG_UNUSED(state);
    sweep_sop(&o, "shipment create: some lines");
}

static void test_ship_rest(void **state)
{
    struct ship s = {.req = {.channel_order_id = ORD_B,
                             .carrier = "UPS",
                             .tracking_number = "1ZREST0003"}};
    struct sgt_sop o = {.tpl = fx.tpl_orders,
                        .write = ship_body,
                        .text = ship_text,
                        .reset = ship_reset,
                        .ctx = &s,
                        .sqlite_full_only = true};

    SG_UNUSED(state);
    sweep_sop(&o, "shipment create: every remaining line");
}

static void test_ship_again(void **state)
{
    static const struct sg_ship_line one[] = {{"SKL-10", 1}};
    struct ship s = {.req = {.channel_order_id = ORD_A,
                             .lines = one,
                             .n_lines = 1,
                             .carrier = "UPS",
                             .tracking_number = "1ZTPL0001"}};
    struct sgt_sop o = {.tpl = fx.tpl_orders,
                        .write = ship_body,
                        .text = ship_text,
                        .reset = ship_reset,
                        .ctx = &s,
                        .sqlite_full_only = true};

    SG_UNUSED(state);
    sweep_sop(&o, "shipment create: reported again (stored)");
}

static int shipped_body(struct sgt_sop *o, struct sg_store_tx *tx,
                        struct sg_err *err)
{
    SG_UNUSED(o);
    return sg_shipment_result(tx, fx.ship_id, "shipped",
                              "1153000000000000001", NULL, err);
}

static void test_ship_result(void **state)
{
    struct sgt_sop o = {.tpl = fx.tpl_orders, .write = shipped_body};

    SG_UNUSED(state);
    sweep_sop(&o, "shipment result: shipped");
}

/* ---- cancellations and returns ---- */

struct as_op {
    struct sg_aftersale a;
    struct sg_aftersale proto;
    bool auto_approve;
};

static int event_body(struct sgt_sop *o, struct sg_store_tx *tx,
                      struct sg_err *err)
{
    struct as_op *x = o->ctx;

    x->a = x->proto;
    return sg_aftersale_event(tx, &x->a, x->auto_approve, err);
}

static void as_text(struct sgt_sop *o, struct sg_buf *b)
{
    struct as_op *x = o->ctx;
    json_t *j = sg_aftersale_to_json(&x->a);
    char *t = j ? sg_json_dump(j, NULL) : NULL;

    sg_buf_printf(b, "%s\n", t ? t : "?");
    sg_free(t);
    json_decref(j);
}

static void as_reset(struct sgt_sop *o)
{
    struct as_op *x = o->ctx;

    sg_aftersale_release(&x->a);
}

static void test_cancel_event(void **state)
{
    struct as_op x = {.proto = as_of("cancel", "C-9", ORD_A,
                                     "CANCELLATION_REQUEST_PENDING", ""),
                      .auto_approve = true};
    struct sgt_sop o = {.tpl = fx.tpl_orders,
                        .write = event_body,
                        .text = as_text,
                        .reset = as_reset,
                        .ctx = &x};

    SG_UNUSED(state);
    sweep_sop(&o, "aftersale event: buyer cancellation, auto-approved");
}

static void test_return_event(void **state)
{
    struct as_op x = {.proto = as_of("return", "R-9", ORD_B,
                                     "RETURN_OR_REFUND_REQUEST_PENDING",
                                     "REFUND")};
    struct sgt_sop o = {.tpl = fx.tpl_orders,
                        .write = event_body,
                        .text = as_text,
                        .reset = as_reset,
                        .ctx = &x};

    SG_UNUSED(state);
    sweep_sop(&o, "aftersale event: return requested");
}

static void test_return_update(void **state)
{
    struct as_op x = {.proto = as_of("return", "R-1", ORD_A,
                                     "BUYER_SHIPPED_ITEM",
                                     "RETURN_AND_REFUND")};
    struct sgt_sop o = {.tpl = fx.tpl_orders,
                        .write = event_body,
                        .text = as_text,
                        .reset = as_reset,
                        .ctx = &x,
                        .sqlite_full_only = true};

    SG_UNUSED(state);
    x.proto.update_time = 4000;
    sweep_sop(&o, "aftersale event: a return's newer status");
}

static int decide_body(struct sgt_sop *o, struct sg_store_tx *tx,
                       struct sg_err *err)
{
    struct as_op *x = o->ctx;

    return sg_aftersale_decide(tx, fx.tenant, fx.return_id, "return",
                               "approve", NULL, "looks fine", NULL, &x->a,
                               err);
}

static void test_decide(void **state)
{
    struct as_op x;
    struct sgt_sop o = {.tpl = fx.tpl_orders,
                        .write = decide_body,
                        .text = as_text,
                        .reset = as_reset,
                        .ctx = &x};

    SG_UNUSED(state);
    memset(&x, 0, sizeof(x));
    sweep_sop(&o, "aftersale decide: approve a return");
}

static int seller_cancel_body(struct sgt_sop *o, struct sg_store_tx *tx,
                              struct sg_err *err)
{
    struct as_op *x = o->ctx;

    return sg_aftersale_seller_cancel(tx, fx.tenant, fx.order_a,
                                      "OUT_OF_STOCK", &x->a, err);
}

static void test_seller_cancel(void **state)
{
    struct as_op x;
    struct sgt_sop o = {.tpl = fx.tpl_orders,
                        .write = seller_cancel_body,
                        .text = as_text,
                        .reset = as_reset,
                        .ctx = &x};

    SG_UNUSED(state);
    memset(&x, 0, sizeof(x));
    sweep_sop(&o, "seller cancellation");
}

static int decided_body(struct sgt_sop *o, struct sg_store_tx *tx,
                        struct sg_err *err)
{
    SG_UNUSED(o);
    return sg_aftersale_decided(tx, fx.cancel_id, "done",
                                "CANCELLATION_REQUEST_COMPLETE", NULL, err);
}

static void test_decided(void **state)
{
    struct sgt_sop o = {.tpl = fx.tpl_orders,
                        .write = decided_body,
                        .sqlite_full_only = true};

    SG_UNUSED(state);
    sweep_sop(&o, "aftersale decided: cancellation done");
}

struct detail {
    json_t *j;
};

static int detail_body(struct sgt_sop *o, struct sg_store_tx *tx,
                       struct sg_err *err)
{
    struct detail *d = o->ctx;

    return sg_aftersale_return_detail(tx, fx.return_id, d->j, LOC, true,
                                      NULL, NULL, err);
}

static void test_return_detail(void **state)
{
    struct detail d;
    struct sgt_sop o = {.tpl = fx.tpl_orders, .write = detail_body, .ctx = &d};

    SG_UNUSED(state);
    /* Two of one SKU and one of another come back: restocked once. */
    d.j = json_pack(
        "{s:s,s:s,s:s,s:{s:s,s:s},s:[{s:s},{s:s},{s:s},{s:s}]}",
        "return_status", "RETURN_OR_REFUND_REQUEST_COMPLETE", "return_type",
        "RETURN_AND_REFUND", "return_tracking_number", "RT123",
        "refund_amount", "currency", "USD", "refund_total", "74.00",
        "return_line_items", "seller_sku", "SKL-10", "seller_sku", "SKL-10",
        "seller_sku", "TEE-S-BLK", "seller_sku", "NOT-OURS");
    assert_non_null(d.j);
    sweep_sop(&o, "return detail: received, restocked");
    json_decref(d.j);
}

static int viral_body(struct sgt_sop *o, struct sg_store_tx *tx,
                      struct sg_err *err)
{
    static const struct sg_viral_opts vo = {.sell_through_per_min = 1,
                                            .buffer_units = 2,
                                            .window_ms = 3600000};
    size_t *changed = o->ctx;

    return sg_viral_evaluate(tx, &vo, changed, err);
}

static void viral_text(struct sgt_sop *o, struct sg_buf *b)
{
    size_t *changed = o->ctx;

    sg_buf_printf(b, "changed %zu\n", *changed);
}

static void test_viral(void **state)
{
    size_t changed = 0;
    struct sgt_sop o = {.tpl = fx.tpl_orders,
                        .write = viral_body,
                        .text = viral_text,
                        .ctx = &changed};

    SG_UNUSED(state);
    sweep_sop(&o, "viral mode evaluate");
}

/* ---- program ---- */

static int group_setup(void **state)
{
    SG_UNUSED(state);
    fx.dir = sgt_tmpdir();
    fx.tpl_catalog = make_template("catalog.db", 0);
    fx.tpl_orders = make_template("orders.db", 1);
    fx.work = sgt_path(fx.dir, "work.db");
    return fx.ship_id && fx.return_id && fx.cancel_id ? 0 : -1;
}

static int group_teardown(void **state)
{
    char *paths[] = {fx.tpl_catalog, fx.tpl_orders, fx.work};

    SG_UNUSED(state);
    for (size_t i = 0; i < SG_ARRAY_SIZE(paths); i++) {
        sgt_db_remove(paths[i]);
        sg_free(paths[i]);
    }
    rmdir(fx.dir);
    sg_free(fx.dir);
    return 0;
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_apply_export),
        cmocka_unit_test(test_address_changed),
        cmocka_unit_test(test_ship_lines),
        cmocka_unit_test(test_ship_rest),
        cmocka_unit_test(test_ship_again),
        cmocka_unit_test(test_ship_result),
        cmocka_unit_test(test_cancel_event),
        cmocka_unit_test(test_return_event),
        cmocka_unit_test(test_return_update),
        cmocka_unit_test(test_decide),
        cmocka_unit_test(test_seller_cancel),
        cmocka_unit_test(test_decided),
        cmocka_unit_test(test_return_detail),
        cmocka_unit_test(test_viral),
    };

    SG_UNUSED(argc);
    sgt_torture_init(argv);
    sg_log_set_level(SG_LOG_ERR);
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
