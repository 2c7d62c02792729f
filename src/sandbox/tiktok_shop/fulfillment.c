/*
 * fulfillment.c - the emulator's packages: create, ship (platform or self
 * shipment), mark-as-shipped, tracking updates, search and detail, split
 * and combine, and the scheduled progress of a shipped package on the
 * sandbox clock (IN_TRANSIT, DELIVERED; the order completes later).
 *
 * Invariant: a line item sits in at most one package; a package's private
 * stage (0 created, 1 shipped, 2 in transit, 3 delivered, -1 cancelled) is
 * the truth its status and its orders' statuses are derived from.
 */
#include "core/sg.h"
#include "core/alloc.h"
#include "core/json.h"
#include "sandbox/sandbox.h"
#include "sandbox/tiktok_shop/shop_internal.h"

#define GROUPS_MAX  50
#define TRACK_MAX   64
#define QUERY_MAX   4096

struct provider {
    const char *id;
    const char *name;
};

static const struct provider providers[] = {
    {"6617675021119438849", "USPS"},
    {"6617675021119438850", "UPS"},
    {"6617675021119438851", "FedEx"},
    {"6617675021119438852", "DHL eCommerce"},
    {"7117858858072016686", "TikTok Shipping"},
};

static const char *provider_name(const char *id)
{
    size_t i;

    for (i = 0; i < SG_ARRAY_SIZE(providers); i++)
        if (strcmp(providers[i].id, id) == 0)
            return providers[i].name;
    return "Other";
}

static const char *stage_status(int stage)
{
    if (stage < 0)
        return "CANCELLED";
    if (stage == 0)
        return "PROCESSING";
    if (stage < 3)
        return "FULFILLING";
    return "COMPLETED";
}

static json_t *pkg_get(struct sg_sbx *s, const char *id, const char *shop_id)
{
    return sg_sbx__get(s, "packages", id, shop_id);
}

static int pkg_stage(const json_t *pkg)
{
    return (int)sg_json_int(json_object_get(pkg, "_sbx"), "stage", -1);
}

int sg_sbx__package_stage(struct sg_sbx *s, const char *package_id)
{
    json_t *p = pkg_get(s, package_id, NULL);

    return p ? pkg_stage(p) : -1;
}

static json_t *pkg_orders(json_t *pkg)
{
    json_t *priv = sg_sbx__priv(pkg);
    json_t *o = json_object_get(priv, "orders");

    if (!json_is_array(o)) {
        o = json_array();
        json_object_set_new(priv, "orders", o);
    }
    return o;
}

static json_t *pkg_new(struct sg_sbx *s, const char *shop_id)
{
    json_t *p = json_object(), *priv = json_object();
    int64_t now = sg_sbx_now_s(s);
    char id[24];

    sg_sbx_new_id(s, id);
    sg_sbx__set_str(p, "id", id);
    sg_sbx__set_str(p, "shop_id", shop_id);
    sg_sbx__set_str(p, "status", "PROCESSING");
    json_object_set_new(p, "order_line_item_ids", json_array());
    sg_sbx__set_str(p, "tracking_number", "");
    sg_sbx__set_str(p, "shipping_provider_id", "");
    sg_sbx__set_str(p, "shipping_provider_name", "");
    sg_sbx__set_str(p, "handover_method", "");
    sg_sbx__set_str(p, "shipping_type", "SELLER");
    sg_sbx__set_str(p, "split_and_combine_tag", "");
    sg_sbx__set_int(p, "create_time", now);
    sg_sbx__set_int(p, "update_time", now);
    sg_sbx__set_int(priv, "stage", 0);
    json_object_set_new(priv, "orders", json_array());
    json_object_set_new(p, "_sbx", priv);
    json_object_set_new(sg_sbx_coll(s, "packages"), id, p);
    sg_sbx_dirty(s);
    return p;
}

static void order_pkgs_add(json_t *order, const char *pkg_id)
{
    json_t *arr = json_object_get(order, "packages");
    size_t i;
    json_t *v, *e;

    if (!json_is_array(arr)) {
        arr = json_array();
        json_object_set_new(order, "packages", arr);
    }
    json_array_foreach(arr, i, v) {
        const char *id = sg_json_str(v, "id");

        if (id != NULL && strcmp(id, pkg_id) == 0)
            return;
    }
    e = json_object();
    sg_sbx__set_str(e, "id", pkg_id);
    json_array_append_new(arr, e);
}

static void order_pkgs_del(json_t *order, const char *pkg_id)
{
    json_t *arr = json_object_get(order, "packages");
    size_t i;

    for (i = 0; i < json_array_size(arr); i++) {
        const char *id = sg_json_str(json_array_get(arr, i), "id");

        if (id != NULL && strcmp(id, pkg_id) == 0) {
            json_array_remove(arr, i);
            return;
        }
    }
}

static void pkg_add_line(struct sg_sbx *s, json_t *pkg, json_t *order,
                         json_t *line)
{
    const char *pid = sg_json_str(pkg, "id");
    const char *oid = sg_json_str(order, "id");
    json_t *orders = pkg_orders(pkg);

    json_array_append_new(json_object_get(pkg, "order_line_item_ids"),
                          json_string(sg_json_str(line, "id")));
    if (!sg_sbx__strarr_has(orders, oid))
        json_array_append_new(orders, json_string(oid));
    sg_sbx__set_str(line, "package_id", pid);
    order_pkgs_add(order, pid);
    sg_sbx__set_int(order, "update_time", sg_sbx_now_s(s));
    sg_sbx__set_int(pkg, "update_time", sg_sbx_now_s(s));
}

/* Webhook 4 for every order in the package. */
static void pkg_emit(struct sg_sbx *s, json_t *pkg)
{
    size_t i;
    json_t *oid;

    json_array_foreach(pkg_orders(pkg), i, oid) {
        json_t *d = json_object();

        sg_sbx__set_str(d, "order_id", json_string_value(oid));
        sg_sbx__set_str(d, "package_id", sg_json_str(pkg, "id"));
        sg_sbx__set_str(d, "package_status", sg_json_str(pkg, "status"));
        sg_sbx__set_int(d, "update_time", sg_json_int(pkg, "update_time", 0));
        sg_sbx_emit(s, sg_json_str(pkg, "shop_id"), SG_SBX_WH_PACKAGE, d);
    }
}

static void pkg_refresh_orders(struct sg_sbx *s, json_t *pkg)
{
    size_t i;
    json_t *oid;

    json_array_foreach(pkg_orders(pkg), i, oid) {
        json_t *o = sg_sbx__get(s, "orders", json_string_value(oid), NULL);

        if (o != NULL)
            sg_sbx__order_refresh(s, o);
    }
}

static void task_progress(struct sg_sbx *s, json_t *arg);

/*
 * Move pkg to stage. at_ms is when this happens on the sandbox clock (a
 * task's due time), so that one long clock jump runs every later step.
 */
static void pkg_set_stage(struct sg_sbx *s, json_t *pkg, int stage,
                          int64_t at_ms)
{
    const struct sg_sbx__timing *t = &sg_sbx__ext(s)->timing;
    json_t *arg;
    int64_t delay_s;

    sg_sbx__set_int(sg_sbx__priv(pkg), "stage", stage);
    sg_sbx__set_str(pkg, "status", stage_status(stage));
    sg_sbx__set_int(pkg, "update_time", sg_sbx_now_s(s));
    if (stage == 1 || stage == 2) {
        delay_s = stage == 1 ? t->collect_s : t->deliver_s;
        arg = json_object();
        sg_sbx__set_str(arg, "package_id", sg_json_str(pkg, "id"));
        sg_sbx__set_int(arg, "stage", stage);
        sg_sbx__set_int(arg, "at_ms", at_ms + delay_s * 1000);
        sg_sbx_schedule(s, at_ms + delay_s * 1000, task_progress, arg);
    }
    pkg_emit(s, pkg);
    sg_sbx__ext(s)->due_ms = at_ms;
    pkg_refresh_orders(s, pkg);
    sg_sbx__ext(s)->due_ms = 0;
    sg_sbx_dirty(s);
}

static void task_progress(struct sg_sbx *s, json_t *arg)
{
    json_t *pkg = pkg_get(s, sg_json_str(arg, "package_id"), NULL);
    int stage = (int)sg_json_int(arg, "stage", -2);

    if (pkg != NULL && pkg_stage(pkg) == stage && stage >= 1 && stage < 3)
        pkg_set_stage(s, pkg, stage + 1,
                      sg_json_int(arg, "at_ms", sg_sbx_now_ms(s)));
}

const struct sg_sbx_task_kind sg_sbx_fulfillment_tasks[] = {
    {.name = "package.progress", .fn = task_progress},
    {.name = NULL, .fn = NULL},
};

/* Put tracking on the package and on its lines and orders. */
static void pkg_set_tracking(struct sg_sbx *s, json_t *pkg,
                             const char *tracking, const char *prov_id)
{
    const char *name = provider_name(prov_id);
    json_t *ids = json_object_get(pkg, "order_line_item_ids");
    size_t i, j;
    json_t *oid, *lid;

    sg_sbx__set_str(pkg, "tracking_number", tracking);
    sg_sbx__set_str(pkg, "shipping_provider_id", prov_id);
    sg_sbx__set_str(pkg, "shipping_provider_name", name);
    sg_sbx__set_int(pkg, "update_time", sg_sbx_now_s(s));
    json_array_foreach(pkg_orders(pkg), i, oid) {
        json_t *o = sg_sbx__get(s, "orders", json_string_value(oid), NULL);

        if (o == NULL)
            continue;
        sg_sbx__set_str(o, "tracking_number", tracking);
        sg_sbx__set_str(o, "shipping_provider", name);
        sg_sbx__set_str(o, "shipping_provider_id", prov_id);
        sg_sbx__set_int(o, "update_time", sg_sbx_now_s(s));
        json_array_foreach(ids, j, lid) {
            json_t *line = sg_sbx__order_line(o, json_string_value(lid));

            if (line == NULL)
                continue;
            sg_sbx__set_str(line, "tracking_number", tracking);
            sg_sbx__set_str(line, "shipping_provider_id", prov_id);
            sg_sbx__set_str(line, "shipping_provider_name", name);
        }
    }
    sg_sbx_dirty(s);
}

static void pkg_remove(struct sg_sbx *s, json_t *pkg)
{
    const char *id = sg_json_str(pkg, "id");
    size_t i;
    json_t *oid;

    json_array_foreach(pkg_orders(pkg), i, oid) {
        json_t *o = sg_sbx__get(s, "orders", json_string_value(oid), NULL);

        if (o != NULL)
            order_pkgs_del(o, id);
    }
    sg_sbx__set_int(sg_sbx__priv(pkg), "stage", -1);
    sg_sbx__set_str(pkg, "status", "CANCELLED");
    sg_sbx__set_int(pkg, "update_time", sg_sbx_now_s(s));
    pkg_emit(s, pkg);
    sg_sbx_dirty(s);
}

void sg_sbx__package_drop_line(struct sg_sbx *s, const char *package_id,
                               const char *line_id)
{
    json_t *pkg = pkg_get(s, package_id, NULL);
    json_t *ids;
    size_t i;

    if (pkg == NULL || pkg_stage(pkg) != 0)
        return;
    ids = json_object_get(pkg, "order_line_item_ids");
    for (i = 0; i < json_array_size(ids); i++) {
        if (strcmp(json_string_value(json_array_get(ids, i)), line_id) == 0) {
            json_array_remove(ids, i);
            break;
        }
    }
    sg_sbx__set_int(pkg, "update_time", sg_sbx_now_s(s));
    if (json_array_size(ids) == 0)
        pkg_remove(s, pkg);
}

/* ---- views ---- */

static json_t *pkg_orders_view(struct sg_sbx *s, json_t *pkg)
{
    json_t *out = json_array();
    json_t *ids = json_object_get(pkg, "order_line_item_ids");
    size_t i, j;
    json_t *oid, *lid;

    json_array_foreach(pkg_orders(pkg), i, oid) {
        json_t *o = sg_sbx__get(s, "orders", json_string_value(oid), NULL);
        json_t *ov = json_object(), *skus = json_object(), *arr;
        const char *k;
        json_t *v;

        sg_sbx__set_str(ov, "id", json_string_value(oid));
        json_array_foreach(ids, j, lid) {
            json_t *line = o ? sg_sbx__order_line(o, json_string_value(lid))
                             : NULL;
            const char *sku;
            json_t *e;

            if (line == NULL)
                continue;
            sku = sg_json_str(line, "sku_id");
            e = json_object_get(skus, sku);
            if (e == NULL) {
                e = json_object();
                sg_sbx__set_str(e, "id", sku);
                sg_sbx__set_str(e, "name", sg_json_str(line, "sku_name"));
                sg_sbx__set_str(e, "image_url",
                                sg_json_str(line, "sku_image"));
                sg_sbx__set_int(e, "quantity", 0);
                json_object_set_new(skus, sku, e);
            }
            sg_sbx__set_int(e, "quantity", sg_json_int(e, "quantity", 0) + 1);
        }
        arr = json_array();
        json_object_foreach(skus, k, v)
            json_array_append(arr, v);
        json_decref(skus);
        json_object_set_new(ov, "skus", arr);
        json_array_append_new(out, ov);
    }
    return out;
}

static json_t *pkg_search_view(struct sg_sbx *s, const json_t *pkg)
{
    json_t *v = sg_sbx__view(pkg);
    json_t *p = json_object_get(sg_sbx_coll(s, "packages"),
                                sg_json_str(pkg, "id"));

    json_object_set_new(v, "orders", pkg_orders_view(s, p));
    return v;
}

static json_t *pkg_detail_view(struct sg_sbx *s, json_t *pkg)
{
    json_t *v = pkg_search_view(s, pkg);

    json_object_set(v, "package_id", json_object_get(v, "id"));
    json_object_set(v, "package_status", json_object_get(v, "status"));
    json_object_del(v, "id");
    json_object_del(v, "status");
    return v;
}

static json_t *ids_of_orders(json_t *pkg)
{
    return json_deep_copy(pkg_orders(pkg));
}

/* ---- request helpers ---- */

static void fail_param(struct sg_sbx_call *c, const char *msg)
{
    sg_sbx_fail(c, 200, SG_SBX_E_FUL_PARAM, msg, NULL);
}

static json_t *order_for(struct sg_sbx_call *c, const char *order_id)
{
    json_t *o = sg_sbx__get(c->sbx, "orders", order_id, c->shop->id);

    if (o == NULL)
        sg_sbx_fail(c, 200, SG_SBX_E_FUL_NOTFOUND,
                    "The order does not exist.", NULL);
    return o;
}

static bool order_shippable(struct sg_sbx_call *c, const json_t *o)
{
    const char *st = sg_json_str(o, "status");

    if (st != NULL && (strcmp(st, "AWAITING_SHIPMENT") == 0 ||
                       strcmp(st, "PARTIALLY_SHIPPING") == 0))
        return true;
    sg_sbx_fail(c, 200, SG_SBX_E_FUL_STATE,
                "The order status does not allow this operation.", NULL);
    return false;
}

/*
 * The lines to package: the ids given (each open and in no package), or
 * every open unpackaged line. New array of borrowed line pointers in
 * *out (json array of the line objects); false after answering.
 */
static bool pick_lines(struct sg_sbx_call *c, json_t *order,
                       const json_t *ids, json_t **out)
{
    json_t *lines = json_array();
    size_t i;
    json_t *v;

    *out = NULL;
    if (json_array_size(ids) > 0) {
        json_array_foreach(ids, i, v) {
            json_t *line = sg_sbx__order_line(order, json_string_value(v));
            const char *pkg;

            if (line == NULL || sg_sbx__line_cancelled(line)) {
                json_decref(lines);
                sg_sbx_fail(c, 200, SG_SBX_E_FUL_LINE,
                            "An order line item does not exist or is "
                            "cancelled.", NULL);
                return false;
            }
            pkg = sg_json_str(line, "package_id");
            if ((pkg != NULL && *pkg != '\0') ||
                sg_sbx__strarr_has(lines, sg_json_str(line, "id"))) {
                json_decref(lines);
                sg_sbx_fail(c, 200, SG_SBX_E_FUL_LINE,
                            "An order line item is already in a package.",
                            NULL);
                return false;
            }
            json_array_append(lines, line);
        }
    } else {
        json_array_foreach(json_object_get(order, "line_items"), i, v) {
            const char *pkg = sg_json_str(v, "package_id");

            if (!sg_sbx__line_cancelled(v) && (pkg == NULL || *pkg == '\0'))
                json_array_append(lines, v);
        }
    }
    if (json_array_size(lines) == 0) {
        json_decref(lines);
        sg_sbx_fail(c, 200, SG_SBX_E_FUL_LINE,
                    "No order line item is left to package.", NULL);
        return false;
    }
    *out = lines;
    return true;
}

static json_t *make_package(struct sg_sbx *s, const char *shop_id,
                            json_t *order, json_t *lines)
{
    json_t *pkg = pkg_new(s, shop_id);
    size_t i;
    json_t *line;

    json_array_foreach(lines, i, line)
        pkg_add_line(s, pkg, order, line);
    sg_sbx__order_refresh(s, order);
    return pkg;
}

/* Ship a created package: tracking from the seller or made up. */
static void ship(struct sg_sbx *s, json_t *pkg, const char *tracking,
                 const char *prov_id, const char *handover)
{
    char buf[TRACK_MAX];

    if (tracking == NULL || *tracking == '\0') {
        snprintf(buf, sizeof(buf), "TT%016" PRIu64 "US",
                 sg_sbx_rand(s, UINT64_C(10000000000000000)));
        tracking = buf;
        prov_id = "7117858858072016686";
    }
    sg_sbx__set_str(pkg, "handover_method", handover ? handover : "");
    pkg_set_tracking(s, pkg, tracking, prov_id);
    pkg_set_stage(s, pkg, 1, sg_sbx_now_ms(s));
}

static bool tracking_args(struct sg_sbx_call *c, const json_t *obj,
                          const char **tracking, const char **prov)
{
    *tracking = sg_json_str(obj, "tracking_number");
    *prov = sg_json_str(obj, "shipping_provider_id");
    if (*tracking == NULL || **tracking == '\0' || strlen(*tracking) >=
        TRACK_MAX || *prov == NULL || **prov == '\0') {
        fail_param(c, "Invalid parameter. `tracking_number` and "
                      "`shipping_provider_id` are required.");
        return false;
    }
    return true;
}

/* ---- endpoints ---- */

static json_t *service_info(void)
{
    json_t *si = json_object();

    sg_sbx__set_str(si, "id", "7208502187360519982");
    sg_sbx__set_str(si, "name", "Standard shipping");
    sg_sbx__set_str(si, "price", "5.99");
    sg_sbx__set_str(si, "currency", "USD");
    sg_sbx__set_int(si, "earliest_delivery_days", 3);
    sg_sbx__set_int(si, "latest_delivery_days", 7);
    sg_sbx__set_str(si, "shipping_provider_id", "7117858858072016686");
    sg_sbx__set_str(si, "shipping_provider_name", "TikTok Shipping");
    return si;
}

static void packages_create(struct sg_sbx_call *c)
{
    json_t *order, *lines, *pkg, *data, *w;

    order = order_for(c, sg_json_str(c->body, "order_id"));
    if (order == NULL || !order_shippable(c, order) ||
        !pick_lines(c, order, json_object_get(c->body,
                                              "order_line_item_ids"),
                    &lines))
        return;
    pkg = make_package(c->sbx, c->shop->id, order, lines);
    json_decref(lines);
    data = json_object();
    sg_sbx__set_str(data, "package_id", sg_json_str(pkg, "id"));
    sg_sbx__set_str(data, "order_id", sg_json_str(order, "id"));
    json_object_set_new(data, "order_line_item_ids",
                        json_deep_copy(json_object_get(
                            pkg, "order_line_item_ids")));
    sg_sbx__set_int(data, "create_time", sg_json_int(pkg, "create_time", 0));
    w = json_object_get(c->body, "weight");
    json_object_set_new(data, "weight",
                        w ? json_deep_copy(w) : json_object());
    w = json_object_get(c->body, "dimension");
    json_object_set_new(data, "dimension",
                        w ? json_deep_copy(w) : json_object());
    json_object_set_new(data, "shipping_service_info", service_info());
    sg_sbx_ok(c, data);
}

static json_t *pkg_param(struct sg_sbx_call *c)
{
    char id[64];
    json_t *p = NULL;

    if (sg_sbx_param(c, "package_id", id, sizeof(id)))
        p = pkg_get(c->sbx, id, c->shop->id);
    if (p == NULL)
        sg_sbx_fail(c, 200, SG_SBX_E_FUL_NOTFOUND,
                    "The package does not exist.", NULL);
    return p;
}

static bool pkg_orders_open(struct sg_sbx_call *c, json_t *pkg)
{
    size_t i;
    json_t *oid;

    json_array_foreach(pkg_orders(pkg), i, oid) {
        json_t *o = sg_sbx__get(c->sbx, "orders", json_string_value(oid),
                                NULL);

        if (o == NULL || !order_shippable(c, o))
            return false;
    }
    return true;
}

static void package_ship(struct sg_sbx_call *c)
{
    json_t *pkg = pkg_param(c);
    json_t *self;
    const char *handover, *tracking = NULL, *prov = NULL;

    if (pkg == NULL)
        return;
    if (pkg_stage(pkg) != 0) {
        sg_sbx_fail(c, 200, SG_SBX_E_FUL_STATE,
                    "The package has already been shipped or cancelled.",
                    NULL);
        return;
    }
    if (!pkg_orders_open(c, pkg))
        return;
    self = json_object_get(c->body, "self_shipment");
    handover = sg_json_str(c->body, "handover_method");
    if (self != NULL) {
        if (!tracking_args(c, self, &tracking, &prov))
            return;
    } else if (handover != NULL && strcmp(handover, "PICKUP") != 0 &&
               strcmp(handover, "DROP_OFF") != 0) {
        fail_param(c, "Invalid parameter. `handover_method` must be PICKUP "
                      "or DROP_OFF.");
        return;
    }
    ship(c->sbx, pkg, tracking, prov,
         self ? "" : (handover ? handover : "DROP_OFF"));
    sg_sbx_ok_empty(c);
}

static void order_mark_shipped(struct sg_sbx_call *c)
{
    char oid[64];
    json_t *order, *lines, *pkg, *data, *arr, *e;
    const char *tracking, *prov;

    if (!sg_sbx_param(c, "order_id", oid, sizeof(oid)))
        oid[0] = '\0';
    order = order_for(c, oid);
    if (order == NULL || !order_shippable(c, order) ||
        !tracking_args(c, c->body, &tracking, &prov) ||
        !pick_lines(c, order, json_object_get(c->body,
                                              "order_line_item_ids"),
                    &lines))
        return;
    pkg = make_package(c->sbx, c->shop->id, order, lines);
    json_decref(lines);
    ship(c->sbx, pkg, tracking, prov, "");
    data = json_object();
    sg_sbx__set_str(data, "order_id", oid);
    arr = json_array();
    e = json_object();
    sg_sbx__set_str(e, "id", sg_json_str(pkg, "id"));
    json_object_set_new(e, "order_line_item_ids",
                        json_deep_copy(json_object_get(
                            pkg, "order_line_item_ids")));
    json_array_append_new(arr, e);
    json_object_set_new(data, "packages", arr);
    sg_sbx_ok(c, data);
}

static void package_tracking_update(struct sg_sbx_call *c)
{
    json_t *pkg = pkg_param(c);
    const char *tracking, *prov;
    int st;

    if (pkg == NULL || !tracking_args(c, c->body, &tracking, &prov))
        return;
    st = pkg_stage(pkg);
    if (st < 1 || st > 2) {
        sg_sbx_fail(c, 200, SG_SBX_E_FUL_STATE,
                    "Shipping info can only change while the package is "
                    "in transit.", NULL);
        return;
    }
    pkg_set_tracking(c->sbx, pkg, tracking, prov);
    pkg_emit(c->sbx, pkg);
    sg_sbx_ok_empty(c);
}

static void order_tracking_update(struct sg_sbx_call *c)
{
    char oid[64];
    json_t *order, *arr;
    const char *tracking, *prov;
    size_t i, n = 0;
    json_t *e;

    if (!sg_sbx_param(c, "order_id", oid, sizeof(oid)))
        oid[0] = '\0';
    order = order_for(c, oid);
    if (order == NULL || !tracking_args(c, c->body, &tracking, &prov))
        return;
    arr = json_object_get(order, "packages");
    json_array_foreach(arr, i, e) {
        json_t *pkg = pkg_get(c->sbx, sg_json_str(e, "id"), NULL);
        int st = pkg ? pkg_stage(pkg) : -1;

        if (st < 1 || st > 2)
            continue;
        pkg_set_tracking(c->sbx, pkg, tracking, prov);
        pkg_emit(c->sbx, pkg);
        n++;
    }
    if (n == 0) {
        sg_sbx_fail(c, 200, SG_SBX_E_FUL_STATE,
                    "The order has no package in transit.", NULL);
        return;
    }
    sg_sbx_ok_empty(c);
}

static bool pkg_match(const json_t *pkg, const json_t *filter)
{
    const char *want = sg_json_str(filter, "package_status");
    const char *st = sg_json_str(pkg, "status");

    if (want != NULL && *want != '\0' &&
        (st == NULL || strcmp(st, want) != 0))
        return false;
    return sg_sbx__time_match(pkg, filter);
}

static json_t *pkg_search_view_fn(struct sg_sbx *s, const json_t *pkg)
{
    return pkg_search_view(s, pkg);
}

static void packages_search(struct sg_sbx_call *c)
{
    struct sg_sbx__list l;
    char field[32];
    bool desc;

    if (!sg_sbx__sort_opts(c, "create_time,update_time,order_pay_time",
                           "create_time", SG_SBX_E_FUL_PARAM, field, &desc))
        return;
    /* Packages do not carry the pay time; create_time is close enough. */
    if (strcmp(field, "order_pay_time") == 0)
        snprintf(field, sizeof(field), "create_time");
    if (sg_sbx__collect(&l, sg_sbx_coll(c->sbx, "packages"), c->shop->id,
                        pkg_match, c->body, field, desc) != 0) {
        sg_sbx_fail(c, 500, 36009003, "Internal error. Please try again.",
                    NULL);
        return;
    }
    sg_sbx__answer_page(c, &l, "packages", pkg_search_view_fn);
    sg_sbx__list_release(&l);
}

static void package_detail(struct sg_sbx_call *c)
{
    json_t *pkg = pkg_param(c);

    if (pkg != NULL)
        sg_sbx_ok(c, pkg_detail_view(c->sbx, pkg));
}

static size_t open_unpackaged(const json_t *order, bool *any_packaged)
{
    size_t i, n = 0;
    json_t *line;

    *any_packaged = false;
    json_array_foreach(json_object_get(order, "line_items"), i, line) {
        const char *pkg = sg_json_str(line, "package_id");

        if (sg_sbx__line_cancelled(line))
            continue;
        if (pkg != NULL && *pkg != '\0')
            *any_packaged = true;
        else
            n++;
    }
    return n;
}

static void split_attributes(struct sg_sbx_call *c)
{
    char *ids = sg_alloc(QUERY_MAX);
    json_t *arr = json_array(), *data;
    char *p, *next;
    size_t n = 0;

    if (ids == NULL || !sg_sbx_query(c, "order_ids", ids, QUERY_MAX) ||
        ids[0] == '\0') {
        fail_param(c, "Invalid parameter. `order_ids` is required.");
        goto out;
    }
    for (p = ids; p != NULL; p = next) {
        char *e = strchr(p, ',');
        json_t *o, *a;
        bool packaged;
        size_t open;
        const char *st;

        next = e ? e + 1 : NULL;
        if (e != NULL)
            *e = '\0';
        if (*p == '\0')
            continue;
        if (++n > SG_SBX_ORDER_IDS_MAX) {
            fail_param(c, "Invalid parameter. At most 50 `order_ids`.");
            goto out;
        }
        o = sg_sbx__get(c->sbx, "orders", p, c->shop->id);
        a = json_object();
        sg_sbx__set_str(a, "order_id", p);
        open = o ? open_unpackaged(o, &packaged) : 0;
        st = o ? sg_json_str(o, "status") : "";
        if (o == NULL) {
            json_object_set_new(a, "can_split", json_false());
            sg_sbx__set_str(a, "reason", "Order does not exist.");
        } else if (strcmp(st, "AWAITING_SHIPMENT") != 0 || packaged ||
                   open < 2) {
            json_object_set_new(a, "can_split", json_false());
            sg_sbx__set_str(a, "reason",
                            open < 2 ? "Order has fewer than 2 items."
                                     : "Order status does not allow "
                                       "splitting.");
        } else {
            json_object_set_new(a, "can_split", json_true());
            sg_sbx__set_str(a, "reason", "");
        }
        json_object_set_new(a, "must_split", json_false());
        json_object_set_new(a, "must_split_reasons", json_array());
        json_array_append_new(arr, a);
    }
    data = json_object();
    json_object_set(data, "split_attributes", arr);
    sg_sbx_ok(c, data);
out:
    json_decref(arr);
    sg_free(ids);
}

static void order_split(struct sg_sbx_call *c)
{
    char oid[64];
    json_t *order, *groups, *seen = NULL, *out_arr, *data, *g;
    bool packaged;
    size_t open, i, j, total = 0;

    if (!sg_sbx_param(c, "order_id", oid, sizeof(oid)))
        oid[0] = '\0';
    order = order_for(c, oid);
    if (order == NULL)
        return;
    open = open_unpackaged(order, &packaged);
    if (sg_json_str(order, "status") == NULL ||
        strcmp(sg_json_str(order, "status"), "AWAITING_SHIPMENT") != 0 ||
        packaged || open < 2) {
        sg_sbx_fail(c, 200, SG_SBX_E_FUL_STATE,
                    "The order cannot be split.", NULL);
        return;
    }
    groups = json_object_get(c->body, "splittable_groups");
    if (json_array_size(groups) < 2 || json_array_size(groups) > GROUPS_MAX) {
        fail_param(c, "Invalid parameter. `splittable_groups` needs 2 or "
                      "more groups.");
        return;
    }
    /* Every open line exactly once across the groups. */
    seen = json_array();
    json_array_foreach(groups, i, g) {
        json_t *ids = json_object_get(g, "order_line_item_ids");
        json_t *lid;

        if (json_array_size(ids) == 0)
            goto bad;
        json_array_foreach(ids, j, lid) {
            json_t *line = sg_sbx__order_line(order,
                                              json_string_value(lid));

            if (line == NULL || sg_sbx__line_cancelled(line) ||
                sg_sbx__strarr_has(seen, json_string_value(lid)))
                goto bad;
            json_array_append(seen, lid);
            total++;
        }
    }
    if (total != open)
        goto bad;
    out_arr = json_array();
    json_array_foreach(groups, i, g) {
        json_t *ids = json_object_get(g, "order_line_item_ids");
        json_t *pkg = pkg_new(c->sbx, c->shop->id), *lid, *e;

        sg_sbx__set_str(pkg, "split_and_combine_tag", "SPLIT");
        json_array_foreach(ids, j, lid)
            pkg_add_line(c->sbx, pkg, order,
                         sg_sbx__order_line(order, json_string_value(lid)));
        e = json_object();
        sg_sbx__set_str(e, "id", sg_json_str(pkg, "id"));
        json_object_set_new(e, "order_line_item_ids", json_deep_copy(ids));
        json_array_append_new(out_arr, e);
    }
    sg_sbx__set_str(order, "split_or_combine_tag", "SPLIT");
    sg_sbx__order_refresh(c->sbx, order);
    data = json_object();
    json_object_set_new(data, "packages", out_arr);
    json_decref(seen);
    sg_sbx_ok(c, data);
    return;
bad:
    json_decref(seen);
    fail_param(c, "Invalid parameter. Each open line item must be in "
                  "exactly one group.");
}

/* Unshipped single-order packages grouped by buyer, groups of 2 or more. */
static json_t *combinable_groups(struct sg_sbx *s, const char *shop_id)
{
    struct sg_sbx__list l;
    json_t *by_buyer = json_object(), *out = json_array();
    const char *k;
    json_t *v;
    size_t i;

    if (sg_sbx__collect(&l, sg_sbx_coll(s, "packages"), shop_id, NULL, NULL,
                        "create_time", false) != 0)
        goto out;
    for (i = 0; i < l.n; i++) {
        json_t *pkg = l.v[i].obj, *o, *g;
        const char *buyer;

        if (pkg_stage(pkg) != 0 || json_array_size(pkg_orders(pkg)) != 1)
            continue;
        o = sg_sbx__get(s, "orders",
                        json_string_value(json_array_get(pkg_orders(pkg),
                                                         0)),
                        NULL);
        buyer = o ? sg_json_str(o, "user_id") : NULL;
        if (buyer == NULL)
            continue;
        g = json_object_get(by_buyer, buyer);
        if (g == NULL) {
            g = json_object();
            sg_sbx__set_str(g, "id", sg_json_str(pkg, "id"));
            json_object_set_new(g, "order_ids", json_array());
            json_object_set_new(by_buyer, buyer, g);
        }
        if (!sg_sbx__strarr_has(json_object_get(g, "order_ids"),
                                sg_json_str(o, "id")))
            json_array_append_new(json_object_get(g, "order_ids"),
                                  json_string(sg_json_str(o, "id")));
    }
    json_object_foreach(by_buyer, k, v) {
        if (json_array_size(json_object_get(v, "order_ids")) >= 2)
            json_array_append(out, v);
    }
out:
    sg_sbx__list_release(&l);
    json_decref(by_buyer);
    return out;
}

static void combinable_search(struct sg_sbx_call *c)
{
    json_t *groups = combinable_groups(c->sbx, c->shop->id);
    json_t *page = json_array(), *data;
    size_t start = 0, count = 0, i;
    char next[64] = "";

    if (!sg_sbx_page(c, json_array_size(groups), 20, &start, &count, next))
        goto out;
    for (i = start; i < start + count && i < json_array_size(groups); i++)
        json_array_append(page, json_array_get(groups, i));
    data = json_object();
    json_object_set(data, "combinable_packages", page);
    sg_sbx__set_str(data, "next_page_token", next);
    sg_sbx__set_int(data, "total_count", (int64_t)json_array_size(groups));
    sg_sbx_ok(c, data);
out:
    json_decref(page);
    json_decref(groups);
}

/* The unshipped package that holds order_id's lines, or NULL. */
static json_t *open_pkg_of(struct sg_sbx *s, const char *shop_id,
                           const char *order_id)
{
    json_t *o = sg_sbx__get(s, "orders", order_id, shop_id);
    size_t i;
    json_t *e;

    json_array_foreach(o ? json_object_get(o, "packages") : NULL, i, e) {
        json_t *p = pkg_get(s, sg_json_str(e, "id"), shop_id);

        if (p != NULL && pkg_stage(p) == 0)
            return p;
    }
    return NULL;
}

/* Move every line of order_id from src to dst. */
static void move_order(struct sg_sbx *s, json_t *src, json_t *dst,
                       const char *order_id)
{
    json_t *o = sg_sbx__get(s, "orders", order_id, NULL);
    json_t *ids = json_object_get(src, "order_line_item_ids");
    json_t *orders = pkg_orders(src);
    size_t i;

    if (o == NULL)
        return;
    for (i = json_array_size(ids); i > 0; i--) {
        json_t *line = sg_sbx__order_line(
            o, json_string_value(json_array_get(ids, i - 1)));

        if (line == NULL)
            continue;
        json_array_remove(ids, i - 1);
        pkg_add_line(s, dst, o, line);
    }
    for (i = 0; i < json_array_size(orders); i++) {
        if (strcmp(json_string_value(json_array_get(orders, i)),
                   order_id) == 0) {
            json_array_remove(orders, i);
            break;
        }
    }
    order_pkgs_del(o, sg_json_str(src, "id"));
}

static json_t *combine_error(const char *pkg_id, const char *msg)
{
    json_t *e = json_object(), *d = json_object();

    sg_sbx__set_int(e, "code", SG_SBX_E_FUL_STATE);
    sg_sbx__set_str(e, "message", msg);
    sg_sbx__set_str(d, "package_id", pkg_id);
    json_object_set_new(e, "detail", d);
    return e;
}

static void packages_combine(struct sg_sbx_call *c)
{
    json_t *req = json_object_get(c->body, "combinable_packages");
    json_t *pkgs = json_array(), *errs = json_array(), *data, *g;
    size_t i, j;

    if (json_array_size(req) == 0 || json_array_size(req) > GROUPS_MAX) {
        json_decref(pkgs);
        json_decref(errs);
        fail_param(c, "Invalid parameter. `combinable_packages` is "
                      "required.");
        return;
    }
    json_array_foreach(req, i, g) {
        const char *gid = sg_json_str(g, "id");
        json_t *oids = json_object_get(g, "order_ids"), *oid, *dst = NULL;
        const char *buyer = NULL;
        bool ok = json_array_size(oids) >= 2;
        json_t *e;

        /* All orders unshipped in their own package, one buyer. */
        json_array_foreach(oids, j, oid) {
            json_t *p = open_pkg_of(c->sbx, c->shop->id,
                                    json_string_value(oid));
            json_t *o = sg_sbx__get(c->sbx, "orders",
                                    json_string_value(oid), NULL);
            const char *b = o ? sg_json_str(o, "user_id") : NULL;

            if (p == NULL || b == NULL ||
                json_array_size(pkg_orders(p)) != 1 ||
                (buyer != NULL && strcmp(buyer, b) != 0)) {
                ok = false;
                break;
            }
            buyer = b;
            if (dst == NULL || (gid && strcmp(sg_json_str(p, "id"), gid) ==
                                           0))
                dst = p;
        }
        if (!ok || dst == NULL) {
            json_array_append_new(errs, combine_error(gid ? gid : "",
                                  "The packages cannot be combined."));
            continue;
        }
        json_array_foreach(oids, j, oid) {
            json_t *p = open_pkg_of(c->sbx, c->shop->id,
                                    json_string_value(oid));

            if (p == NULL || p == dst)
                continue;
            move_order(c->sbx, p, dst, json_string_value(oid));
            if (json_array_size(json_object_get(p, "order_line_item_ids"))
                == 0)
                pkg_remove(c->sbx, p);
        }
        sg_sbx__set_str(dst, "split_and_combine_tag", "COMBINED");
        json_array_foreach(pkg_orders(dst), j, oid) {
            json_t *o = sg_sbx__get(c->sbx, "orders",
                                    json_string_value(oid), NULL);

            if (o != NULL)
                sg_sbx__set_str(o, "split_or_combine_tag", "COMBINED");
        }
        pkg_emit(c->sbx, dst);
        e = json_object();
        sg_sbx__set_str(e, "id", sg_json_str(dst, "id"));
        json_object_set_new(e, "order_ids", ids_of_orders(dst));
        json_array_append_new(pkgs, e);
    }
    data = json_object();
    json_object_set_new(data, "packages", pkgs);
    json_object_set_new(data, "errors", errs);
    sg_sbx_ok(c, data);
}

static void package_uncombine(struct sg_sbx_call *c)
{
    json_t *pkg = pkg_param(c);
    json_t *oids, *oid, *out_arr, *e, *data;
    size_t i;

    if (pkg == NULL)
        return;
    oids = json_object_get(c->body, "order_ids");
    if (pkg_stage(pkg) != 0 || json_array_size(pkg_orders(pkg)) < 2) {
        sg_sbx_fail(c, 200, SG_SBX_E_FUL_STATE,
                    "The package is not an unshipped combined package.",
                    NULL);
        return;
    }
    if (json_array_size(oids) == 0 ||
        json_array_size(oids) >= json_array_size(pkg_orders(pkg))) {
        fail_param(c, "Invalid parameter. `order_ids` must name some, not "
                      "all, orders of the package.");
        return;
    }
    json_array_foreach(oids, i, oid) {
        if (!sg_sbx__strarr_has(pkg_orders(pkg), json_string_value(oid))) {
            fail_param(c, "Invalid parameter. An order is not in the "
                          "package.");
            return;
        }
    }
    out_arr = json_array();
    json_array_foreach(oids, i, oid) {
        json_t *np = pkg_new(c->sbx, c->shop->id);

        move_order(c->sbx, pkg, np, json_string_value(oid));
        e = json_object();
        sg_sbx__set_str(e, "id", sg_json_str(np, "id"));
        json_object_set_new(e, "order_ids", ids_of_orders(np));
        json_array_append_new(out_arr, e);
        pkg_emit(c->sbx, np);
    }
    if (json_array_size(pkg_orders(pkg)) < 2)
        sg_sbx__set_str(pkg, "split_and_combine_tag", "");
    e = json_object();
    sg_sbx__set_str(e, "id", sg_json_str(pkg, "id"));
    json_object_set_new(e, "order_ids", ids_of_orders(pkg));
    json_array_append_new(out_arr, e);
    pkg_emit(c->sbx, pkg);
    data = json_object();
    json_object_set_new(data, "packages", out_arr);
    sg_sbx_ok(c, data);
}

#define FUL(m, r, f)                                                           \
    {.method = m, .module = "fulfillment", .rest = r, .versions = "202309",   \
     .shop_rule = SG_SBX_SHOP_REQUIRED,                                      \
     .scope = "seller.fulfillment.basic", .fn = f}

const struct sg_sbx_endpoint sg_sbx_fulfillment_endpoints[] = {
    FUL("POST", "/packages", packages_create),
    FUL("POST", "/packages/search", packages_search),
    FUL("POST", "/packages/combine", packages_combine),
    FUL("GET", "/packages/{package_id}", package_detail),
    FUL("POST", "/packages/{package_id}/ship", package_ship),
    FUL("POST", "/packages/{package_id}/shipping_info/update",
        package_tracking_update),
    FUL("POST", "/packages/{package_id}/uncombine", package_uncombine),
    FUL("POST", "/orders/{order_id}/packages", order_mark_shipped),
    FUL("POST", "/orders/{order_id}/shipping_info/update",
        order_tracking_update),
    FUL("GET", "/orders/split_attributes", split_attributes),
    FUL("POST", "/orders/{order_id}/split", order_split),
    FUL("GET", "/combinable_packages/search", combinable_search),
    {.method = NULL},
};
