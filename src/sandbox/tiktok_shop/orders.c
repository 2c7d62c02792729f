/*
 * orders.c - the emulator's orders: creation against listed stock, the
 * order status machine (reference 8.9), Get Order List / Get Order Detail,
 * and helpers the fulfilment, return and traffic modules share.
 *
 * Invariant: listed stock only goes down in sg_sbx_order_create, all lines
 * or none, and only goes back up when an unshipped line is cancelled, so
 * units sold never exceed the stock that was listed.
 */
#include "core/sg.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/json.h"
#include "core/log.h"
#include "sandbox/sandbox.h"
#include "sandbox/tiktok_shop/shop_internal.h"

#include <pthread.h>

#define LINES_MAX        100
#define UNITS_MAX        1000
#define BUYERS           20
#define SHIPPING_FEE     599
#define IDS_QUERY_MAX    4096

/* ---- per-sandbox extension state ---- */

#define EXT_MAX 16

static pthread_mutex_t ext_mu = PTHREAD_MUTEX_INITIALIZER;
static struct sg_sbx__ext ext_tab[EXT_MAX];

static void timing_defaults(struct sg_sbx__timing *t)
{
    t->pay_s = 0;
    t->hold_s = 0;
    t->collect_s = 3600;
    t->deliver_s = 3 * 86400;
    t->complete_s = 10 * 86400;
    t->refund_s = 3600;
    t->buyer_ship_s = 86400;
}

struct sg_sbx__ext *sg_sbx__ext(struct sg_sbx *s)
{
    struct sg_sbx__ext *e = NULL;
    size_t i;

    pthread_mutex_lock(&ext_mu);
    for (i = 0; i < EXT_MAX; i++) {
        if (ext_tab[i].sbx == s) {
            e = &ext_tab[i];
            goto out;
        }
    }
    for (i = 0; i < EXT_MAX; i++) {
        if (ext_tab[i].sbx == NULL) {
            e = &ext_tab[i];
            break;
        }
    }
    /* Table full: recycle the last slot rather than fail. */
    if (e == NULL)
        e = &ext_tab[EXT_MAX - 1];
    e->sbx = s;
    e->corders = NULL; /* a recycled slot's are lost, not shared */
    timing_defaults(&e->timing);
    e->traffic = NULL;
    e->due_ms = 0;
out:
    pthread_mutex_unlock(&ext_mu);
    return e;
}

int sg_sbx__timing_set(struct sg_sbx *s, const json_t *spec,
                       struct sg_err *err)
{
    static const char *const names[] = {"pay_s",      "hold_s",
                                        "collect_s",  "deliver_s",
                                        "complete_s", "refund_s",
                                        "buyer_ship_s"};
    struct sg_sbx__timing t = sg_sbx__ext(s)->timing;
    int64_t *slots[] = {&t.pay_s,      &t.hold_s,   &t.collect_s,
                        &t.deliver_s,  &t.complete_s, &t.refund_s,
                        &t.buyer_ship_s};
    const char *bad = sg_json_unknown_key(spec, names, SG_ARRAY_SIZE(names));
    size_t i;

    if (!json_is_object(spec))
        return 0;
    if (bad)
        return sg_err_set(err, SG_EINVAL,
                          "unknown timing \"%s\" (pay_s, hold_s, collect_s, "
                          "deliver_s, complete_s, refund_s, buyer_ship_s)",
                          bad);
    for (i = 0; i < SG_ARRAY_SIZE(names); i++) {
        json_t *v = json_object_get(spec, names[i]);

        if (v == NULL)
            continue;
        if (!json_is_integer(v) || json_integer_value(v) < 0 ||
            json_integer_value(v) > 365 * 86400)
            return sg_err_set(err, SG_EINVAL,
                              "%s must be 0..31536000 seconds", names[i]);
        *slots[i] = json_integer_value(v);
    }
    sg_sbx__ext(s)->timing = t;
    return 0;
}

json_t *sg_sbx__timing_json(struct sg_sbx *s)
{
    const struct sg_sbx__timing *t = &sg_sbx__ext(s)->timing;

    return json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "pay_s",
                     (json_int_t)t->pay_s, "hold_s", (json_int_t)t->hold_s,
                     "collect_s", (json_int_t)t->collect_s, "deliver_s",
                     (json_int_t)t->deliver_s, "complete_s",
                     (json_int_t)t->complete_s, "refund_s",
                     (json_int_t)t->refund_s, "buyer_ship_s",
                     (json_int_t)t->buyer_ship_s);
}

static void store_free(struct sg_sbx__corders *co);

void sg_sbx__ext_release(struct sg_sbx *s)
{
    pthread_mutex_lock(&ext_mu);
    for (size_t i = 0; i < EXT_MAX; i++) {
        if (ext_tab[i].sbx != s)
            continue;
        store_free(ext_tab[i].corders);
        memset(&ext_tab[i], 0, sizeof(ext_tab[i]));
    }
    pthread_mutex_unlock(&ext_mu);
}

/* ---- money ---- */

bool sg_sbx__money_parse(const char *str, int64_t *cents_out)
{
    int64_t whole = 0, frac = 0;
    int digits = 0, fdigits = 0;
    const char *p = str;

    if (p == NULL || *p == '\0')
        return false;
    while (*p >= '0' && *p <= '9') {
        if (++digits > 12)
            return false;
        whole = whole * 10 + (*p++ - '0');
    }
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9') {
            if (++fdigits > 2)
                return false;
            frac = frac * 10 + (*p++ - '0');
        }
        if (fdigits == 1)
            frac *= 10;
    }
    if (*p != '\0' || digits == 0)
        return false;
    *cents_out = whole * 100 + frac;
    return true;
}

void sg_sbx__money_fmt(int64_t cents, char out[32])
{
    const char *sign = cents < 0 ? "-" : "";

    if (cents < 0)
        cents = -cents;
    snprintf(out, 32, "%s%" PRId64 ".%02" PRId64, sign, cents / 100,
             cents % 100);
}

static void set_money(json_t *obj, const char *key, int64_t cents)
{
    char buf[32];

    sg_sbx__money_fmt(cents, buf);
    json_object_set_new(obj, key, json_string(buf));
}

/* ---- objects ---- */

json_t *sg_sbx__view(const json_t *obj)
{
    json_t *v = json_deep_copy(obj);

    if (v == NULL)
        return json_object();
    json_object_del(v, "_sbx");
    json_object_del(v, "shop_id");
    return v;
}

json_t *sg_sbx__priv(json_t *obj)
{
    json_t *p = json_object_get(obj, "_sbx");

    if (!json_is_object(p)) {
        p = json_object();
        json_object_set_new(obj, "_sbx", p);
    }
    return p;
}

static json_t *order_get(struct sg_sbx *s, const char *id,
                         const char *shop_id);

json_t *sg_sbx__get(struct sg_sbx *s, const char *coll, const char *id,
                    const char *shop_id)
{
    json_t *c;
    json_t *o;
    const char *owner;

    if (id == NULL || *id == '\0')
        return NULL;
    if (strcmp(coll, "orders") == 0)
        return order_get(s, id, shop_id);
    c = sg_sbx_coll(s, coll);
    if (c == NULL)
        return NULL;
    o = json_object_get(c, id);
    if (!json_is_object(o))
        return NULL;
    owner = sg_json_str(o, "shop_id");
    if (shop_id != NULL && (owner == NULL || strcmp(owner, shop_id) != 0))
        return NULL;
    return o;
}

void sg_sbx__set_str(json_t *obj, const char *key, const char *value)
{
    json_object_set_new(obj, key, json_string(value ? value : ""));
}

void sg_sbx__set_int(json_t *obj, const char *key, int64_t value)
{
    json_object_set_new(obj, key, json_integer(value));
}

bool sg_sbx__strarr_has(const json_t *arr, const char *str)
{
    size_t i;
    json_t *v;

    if (!json_is_array(arr) || str == NULL)
        return false;
    json_array_foreach(arr, i, v) {
        if (json_is_string(v) && strcmp(json_string_value(v), str) == 0)
            return true;
    }
    return false;
}

/* ---- search lists ---- */

static int item_cmp_asc(const void *a, const void *b)
{
    const struct sg_sbx__item *x = a, *y = b;
    size_t lx = strlen(x->id), ly = strlen(y->id);

    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    if (lx != ly)
        return lx < ly ? -1 : 1;
    return strcmp(x->id, y->id);
}

static int item_cmp_desc(const void *a, const void *b)
{
    return item_cmp_asc(b, a);
}

/*
 * Appends one item to l, doubling its array when full. On failure the
 * list is released (l is left empty) and SG_ENOMEM comes back, so a
 * caller only has its own clean-up left to do.
 */
static int list_push(struct sg_sbx__list *l, int64_t key, const char *id,
                     json_t *obj)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        struct sg_sbx__item *v = sg_realloc(l->v, cap * sizeof(*v));

        if (v == NULL) {
            sg_sbx__list_release(l);
            return SG_ENOMEM;
        }
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n].key = key;
    l->v[l->n].id = id;
    l->v[l->n].obj = obj;
    l->n++;
    return 0;
}

int sg_sbx__collect(struct sg_sbx__list *out, json_t *coll,
                    const char *shop_id, sg_sbx__match_fn match,
                    const json_t *filter, const char *sort_field, bool desc)
{
    const char *key;
    json_t *obj;

    memset(out, 0, sizeof(*out));
    if (!json_is_object(coll))
        return 0;
    json_object_foreach(coll, key, obj) {
        const char *owner = sg_json_str(obj, "shop_id");

        if (!json_is_object(obj))
            continue;
        if (shop_id != NULL &&
            (owner == NULL || strcmp(owner, shop_id) != 0))
            continue;
        if (match != NULL && !match(obj, filter))
            continue;
        if (list_push(out, sg_json_int(obj, sort_field, 0), key, obj) != 0)
            return SG_ENOMEM;
    }
    if (out->n > 1)
        qsort(out->v, out->n, sizeof(out->v[0]),
              desc ? item_cmp_desc : item_cmp_asc);
    return 0;
}

void sg_sbx__list_release(struct sg_sbx__list *l)
{
    sg_free(l->v);
    memset(l, 0, sizeof(*l));
}

static bool csv_has(const char *csv, const char *word)
{
    size_t n = strlen(word);
    const char *p = csv;

    if (n == 0)
        return false;
    while (p != NULL && *p != '\0') {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);

        if (len == n && strncmp(p, word, n) == 0)
            return true;
        p = e ? e + 1 : NULL;
    }
    return false;
}

bool sg_sbx__sort_opts(struct sg_sbx_call *c, const char *allowed,
                       const char *def_field, long err_code,
                       char field[32], bool *desc_out)
{
    char order[16];

    snprintf(field, 32, "%s", def_field);
    *desc_out = true;
    if (sg_sbx_query(c, "sort_field", field, 32) && field[0] != '\0' &&
        !csv_has(allowed, field)) {
        sg_sbx_fail(c, 200, err_code,
                    "Invalid parameter. The `sort_field` value is "
                    "not supported.", NULL);
        return false;
    }
    if (field[0] == '\0')
        snprintf(field, 32, "%s", def_field);
    if (sg_sbx_query(c, "sort_order", order, sizeof(order)) &&
        order[0] != '\0') {
        if (strcmp(order, "ASC") == 0) {
            *desc_out = false;
        } else if (strcmp(order, "DESC") != 0) {
            sg_sbx_fail(c, 200, err_code,
                        "Invalid parameter. The `sort_order` value must "
                        "be ASC or DESC.", NULL);
            return false;
        }
    }
    return true;
}

bool sg_sbx__answer_page(struct sg_sbx_call *c, const struct sg_sbx__list *l,
                         const char *name, sg_sbx__view_fn view_fn)
{
    size_t start = 0, count = 0, i;
    char next[64] = "";
    json_t *data, *arr;

    if (!sg_sbx_page(c, l->n, 20, &start, &count, next))
        return false;
    data = json_object();
    arr = json_array();
    for (i = start; i < start + count && i < l->n; i++)
        json_array_append_new(arr, view_fn(c->sbx, l->v[i].obj));
    json_object_set_new(data, name, arr);
    json_object_set_new(data, "next_page_token", json_string(next));
    json_object_set_new(data, "total_count", json_integer((json_int_t)l->n));
    sg_sbx_ok(c, data);
    return true;
}

static bool range_ok(const json_t *obj, const json_t *filter,
                     const char *field, const char *ge, const char *lt)
{
    json_t *g = json_object_get(filter, ge);
    json_t *t = json_object_get(filter, lt);
    int64_t v = sg_json_int(obj, field, 0);

    if (json_is_integer(g) && v < json_integer_value(g))
        return false;
    if (json_is_integer(t) && v >= json_integer_value(t))
        return false;
    return true;
}

bool sg_sbx__time_match(const json_t *obj, const json_t *filter)
{
    if (!json_is_object(filter))
        return true;
    return range_ok(obj, filter, "create_time", "create_time_ge",
                    "create_time_lt") &&
           range_ok(obj, filter, "update_time", "update_time_ge",
                    "update_time_lt");
}

/* ---- idempotency ---- */

json_t *sg_sbx__idem_get(json_t *obj, const char *action, const char *key)
{
    json_t *idem, *hit;
    char name[SG_SBX_IDEM_KEY_MAX + 40];

    if (key == NULL || *key == '\0')
        return NULL;
    idem = json_object_get(sg_sbx__priv(obj), "idem");
    snprintf(name, sizeof(name), "%s:%s", action, key);
    hit = json_object_get(idem, name);
    return hit ? json_deep_copy(hit) : NULL;
}

void sg_sbx__idem_put(json_t *obj, const char *action, const char *key,
                      const json_t *answer)
{
    json_t *priv, *idem;
    char name[SG_SBX_IDEM_KEY_MAX + 40];

    if (key == NULL || *key == '\0')
        return;
    priv = sg_sbx__priv(obj);
    idem = json_object_get(priv, "idem");
    if (!json_is_object(idem)) {
        idem = json_object();
        json_object_set_new(priv, "idem", idem);
    }
    snprintf(name, sizeof(name), "%s:%s", action, key);
    json_object_set_new(idem, name, json_deep_copy(answer));
}

/* ---- products and stock ---- */

static json_t *sku_in(json_t *product, const char *sku_id)
{
    size_t i;
    json_t *sku;

    json_array_foreach(json_object_get(product, "skus"), i, sku) {
        const char *id = sg_json_str(sku, "id");

        if (id != NULL && strcmp(id, sku_id) == 0)
            return sku;
    }
    return NULL;
}

static json_t *find_sku(struct sg_sbx *s, const char *shop_id,
                        const char *product_id, const char *sku_id,
                        json_t **product_out)
{
    json_t *products = sg_sbx_coll(s, "products");
    const char *key;
    json_t *p, *sku;

    *product_out = NULL;
    if (product_id != NULL) {
        p = sg_sbx__get(s, "products", product_id, shop_id);
        sku = p ? sku_in(p, sku_id) : NULL;
        if (sku != NULL)
            *product_out = p;
        return sku;
    }
    json_object_foreach(products, key, p) {
        const char *owner = sg_json_str(p, "shop_id");

        if (owner == NULL || strcmp(owner, shop_id) != 0)
            continue;
        sku = sku_in(p, sku_id);
        if (sku != NULL) {
            *product_out = p;
            return sku;
        }
    }
    return NULL;
}

static json_t *inventory_of(json_t *sku, const char *warehouse_id)
{
    size_t i;
    json_t *inv;

    json_array_foreach(json_object_get(sku, "inventory"), i, inv) {
        const char *wh = sg_json_str(inv, "warehouse_id");

        if (wh != NULL && strcmp(wh, warehouse_id) == 0)
            return inv;
    }
    return NULL;
}

/* Give one unit of a cancelled line back to the listed stock. */
static void restock_line(struct sg_sbx *s, const json_t *line)
{
    json_t *p = sg_sbx__get(s, "products", sg_json_str(line, "product_id"),
                            NULL);
    json_t *sku = p ? sku_in(p, sg_json_str(line, "sku_id")) : NULL;
    const char *wh = sg_json_str(json_object_get(line, "_sbx"), "wh");
    json_t *inv = (sku && wh) ? inventory_of(sku, wh) : NULL;

    if (inv == NULL)
        return;
    sg_sbx__set_int(inv, "quantity", sg_json_int(inv, "quantity", 0) + 1);
    sg_sbx__set_int(p, "update_time", sg_sbx_now_s(s));
}

/* ---- status machine ---- */

static bool status_is(const json_t *order, const char *status)
{
    const char *st = sg_json_str(order, "status");

    return st != NULL && strcmp(st, status) == 0;
}

bool sg_sbx__line_cancelled(const json_t *line)
{
    const char *st = sg_json_str(line, "display_status");

    return st != NULL && strcmp(st, "CANCELLED") == 0;
}

int sg_sbx__line_stage(struct sg_sbx *s, const json_t *line)
{
    const char *pkg = sg_json_str(line, "package_id");
    int st;

    if (pkg == NULL || *pkg == '\0')
        return 0;
    st = sg_sbx__package_stage(s, pkg);
    return st < 0 ? 0 : st;
}

json_t *sg_sbx__order_line(json_t *order, const char *line_id)
{
    size_t i;
    json_t *line;

    json_array_foreach(json_object_get(order, "line_items"), i, line) {
        const char *id = sg_json_str(line, "id");

        if (id != NULL && line_id != NULL && strcmp(id, line_id) == 0)
            return line;
    }
    return NULL;
}

/* The per-line fields that follow from the order and its packages. */
static void derive_lines(struct sg_sbx *s, json_t *order)
{
    const char *st = sg_json_str(order, "status");
    size_t i;
    json_t *line;

    json_array_foreach(json_object_get(order, "line_items"), i, line) {
        const char *pkg = sg_json_str(line, "package_id");
        bool has_pkg = pkg != NULL && *pkg != '\0';
        int stage = sg_sbx__line_stage(s, line);
        const char *disp, *pst;

        if (sg_sbx__line_cancelled(line))
            continue;
        if (!has_pkg)
            pst = "TO_FULFILL";
        else if (stage == 0)
            pst = "PROCESSING";
        else if (stage < 3)
            pst = "FULFILLING";
        else
            pst = "COMPLETED";
        if (strcmp(st, "UNPAID") == 0 || strcmp(st, "ON_HOLD") == 0)
            disp = st;
        else if (strcmp(st, "COMPLETED") == 0)
            disp = "COMPLETED";
        else if (stage == 0)
            disp = "TO_SHIP";
        else if (stage < 3)
            disp = "SHIPPED";
        else
            disp = "DELIVERED";
        sg_sbx__set_str(line, "display_status", disp);
        sg_sbx__set_str(line, "package_status", pst);
    }
}

static void stamp_once(json_t *order, const char *key, int64_t now)
{
    if (sg_json_int(order, key, 0) == 0)
        sg_sbx__set_int(order, key, now);
}

/* The fields a move to status stamps at now (no webhook). */
static void apply_status(struct sg_sbx *s, json_t *order, const char *status,
                         int64_t now)
{
    sg_sbx__set_str(order, "status", status);
    sg_sbx__set_int(order, "update_time", now);
    json_object_set_new(order, "is_on_hold_order",
                        json_boolean(strcmp(status, "ON_HOLD") == 0));
    if (strcmp(status, "AWAITING_SHIPMENT") == 0 ||
        strcmp(status, "ON_HOLD") == 0) {
        stamp_once(order, "paid_time", now);
        sg_sbx__set_int(order, "shipping_due_time", now + 3 * 86400);
        sg_sbx__set_int(order, "rts_sla_time", now + 3 * 86400);
        sg_sbx__set_int(order, "tts_sla_time", now + 5 * 86400);
        sg_sbx__set_int(order, "collection_due_time", now + 5 * 86400);
        sg_sbx__set_int(order, "delivery_due_time", now + 10 * 86400);
    } else if (strcmp(status, "PARTIALLY_SHIPPING") == 0 ||
               strcmp(status, "AWAITING_COLLECTION") == 0 ||
               strcmp(status, "IN_TRANSIT") == 0) {
        stamp_once(order, "rts_time", now);
    } else if (strcmp(status, "DELIVERED") == 0) {
        stamp_once(order, "rts_time", now);
        stamp_once(order, "delivery_time", now);
    } else if (strcmp(status, "CANCELLED") == 0) {
        stamp_once(order, "cancel_time", now);
    }
    derive_lines(s, order);
}

/* Webhook 1 for a status change. */
static void emit_status(struct sg_sbx *s, const char *shop_id,
                        const char *order_id, const char *status, int64_t now)
{
    json_t *data = json_object();

    json_object_set_new(data, "order_id", json_string(order_id));
    json_object_set_new(data, "order_status", json_string(status));
    json_object_set_new(data, "update_time", json_integer(now));
    json_object_set_new(data, "is_on_hold_order",
                        json_boolean(strcmp(status, "ON_HOLD") == 0));
    sg_sbx_emit(s, shop_id, SG_SBX_WH_ORDER, data);
}

void sg_sbx__order_set_status(struct sg_sbx *s, json_t *order,
                              const char *status)
{
    int64_t now = sg_sbx_now_s(s);
    const char *old = sg_json_str(order, "status");

    if (old != NULL && strcmp(old, status) == 0) {
        derive_lines(s, order);
        return;
    }
    apply_status(s, order, status, now);
    emit_status(s, sg_json_str(order, "shop_id"), sg_json_str(order, "id"),
                status, now);
    sg_sbx_dirty(s);
}

/* Task argument: the order and the task's due time. */
static json_t *order_arg(const json_t *order, int64_t at_ms)
{
    json_t *a = json_object();

    json_object_set_new(a, "order_id",
                        json_string(sg_json_str(order, "id")));
    sg_sbx__set_int(a, "at_ms", at_ms);
    return a;
}

static void schedule_order(struct sg_sbx *s, const json_t *order,
                           int64_t at_ms, sg_sbx_task_fn fn)
{
    sg_sbx_schedule(s, at_ms, fn, order_arg(order, at_ms));
}

static json_t *order_of_arg(struct sg_sbx *s, const json_t *arg)
{
    return sg_sbx__get(s, "orders", sg_json_str(arg, "order_id"), NULL);
}

static void task_complete(struct sg_sbx *s, json_t *arg)
{
    json_t *order = order_of_arg(s, arg);

    if (order != NULL && status_is(order, "DELIVERED"))
        sg_sbx__order_set_status(s, order, "COMPLETED");
}

static void task_release(struct sg_sbx *s, json_t *arg)
{
    json_t *order = order_of_arg(s, arg);

    if (order != NULL && status_is(order, "ON_HOLD"))
        sg_sbx__order_set_status(s, order, "AWAITING_SHIPMENT");
}

static void task_pay(struct sg_sbx *s, json_t *arg)
{
    json_t *order = order_of_arg(s, arg);
    const struct sg_sbx__timing *t = &sg_sbx__ext(s)->timing;

    if (order == NULL || !status_is(order, "UNPAID"))
        return;
    if (t->hold_s > 0) {
        sg_sbx__order_set_status(s, order, "ON_HOLD");
        schedule_order(s, order,
                       sg_json_int(arg, "at_ms", sg_sbx_now_ms(s)) +
                           t->hold_s * 1000,
                       task_release);
    } else {
        sg_sbx__order_set_status(s, order, "AWAITING_SHIPMENT");
    }
}

const struct sg_sbx_task_kind sg_sbx_order_tasks[] = {
    {.name = "order.pay", .fn = task_pay},
    {.name = "order.release", .fn = task_release},
    {.name = "order.complete", .fn = task_complete},
    {.name = NULL, .fn = NULL},
};

void sg_sbx__order_refresh(struct sg_sbx *s, json_t *order)
{
    const char *st = sg_json_str(order, "status");
    bool any_open = false, any_unshipped = false, any_shipped = false;
    int min_stage = 3;
    const char *next;
    size_t i;
    json_t *line;

    if (st == NULL || strcmp(st, "UNPAID") == 0 ||
        strcmp(st, "ON_HOLD") == 0 || strcmp(st, "CANCELLED") == 0 ||
        strcmp(st, "COMPLETED") == 0) {
        derive_lines(s, order);
        return;
    }
    json_array_foreach(json_object_get(order, "line_items"), i, line) {
        int stage;

        if (sg_sbx__line_cancelled(line))
            continue;
        any_open = true;
        stage = sg_sbx__line_stage(s, line);
        if (stage == 0)
            any_unshipped = true;
        else
            any_shipped = true;
        if (stage < min_stage)
            min_stage = stage;
    }
    if (!any_open)
        next = "CANCELLED";
    else if (!any_shipped)
        next = "AWAITING_SHIPMENT";
    else if (any_unshipped)
        next = "PARTIALLY_SHIPPING";
    else if (min_stage == 1)
        next = "AWAITING_COLLECTION";
    else if (min_stage == 2)
        next = "IN_TRANSIT";
    else
        next = "DELIVERED";
    if (strcmp(next, "DELIVERED") == 0 && strcmp(st, "DELIVERED") != 0)
        schedule_order(s, order,
                       (sg_sbx__ext(s)->due_ms ? sg_sbx__ext(s)->due_ms
                                               : sg_sbx_now_ms(s)) +
                           sg_sbx__ext(s)->timing.complete_s * 1000,
                       task_complete);
    sg_sbx__order_set_status(s, order, next);
}

size_t sg_sbx__order_cancel_lines(struct sg_sbx *s, json_t *order,
                                  const json_t *line_ids, const char *who,
                                  const char *reason)
{
    size_t i, n = 0;
    bool any_open = false;
    json_t *line;

    json_array_foreach(json_object_get(order, "line_items"), i, line) {
        const char *id = sg_json_str(line, "id");
        const char *pkg = sg_json_str(line, "package_id");

        if (sg_sbx__line_cancelled(line))
            continue;
        if ((line_ids != NULL && !sg_sbx__strarr_has(line_ids, id)) ||
            sg_sbx__line_stage(s, line) > 0) {
            any_open = true;
            continue;
        }
        restock_line(s, line);
        if (pkg != NULL && *pkg != '\0')
            sg_sbx__package_drop_line(s, pkg, id);
        sg_sbx__set_str(line, "package_id", "");
        sg_sbx__set_str(line, "display_status", "CANCELLED");
        sg_sbx__set_str(line, "package_status", "CANCELLED");
        sg_sbx__set_str(line, "cancel_user", who);
        sg_sbx__set_str(line, "cancel_reason", reason);
        n++;
    }
    if (n == 0)
        return 0;
    sg_sbx__set_int(order, "update_time", sg_sbx_now_s(s));
    if (!any_open) {
        sg_sbx__set_str(order, "cancellation_initiator", who);
        sg_sbx__set_str(order, "cancel_reason", reason);
        sg_sbx__order_set_status(s, order, "CANCELLED");
    } else {
        sg_sbx__order_refresh(s, order);
    }
    sg_sbx_dirty(s);
    return n;
}

/* ---- creation ---- */

static const char *const first_names[BUYERS] = {
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael",
    "Linda", "David", "Elizabeth", "William", "Barbara", "Richard", "Susan",
    "Joseph", "Jessica", "Thomas", "Sarah", "Carlos", "Karen"};
static const char *const last_names[BUYERS] = {
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller",
    "Davis", "Rodriguez", "Martinez", "Hernandez", "Lopez", "Gonzalez",
    "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin"};
static const char *const cities[4][3] = {
    {"Los Angeles", "California", "90001"},
    {"New York", "New York", "10001"},
    {"Houston", "Texas", "77001"},
    {"Seattle", "Washington", "98101"}};

/* "James" -> "J***". */
static void mask_word(const char *w, char out[16])
{
    snprintf(out, 16, "%c***", w[0]);
}

static json_t *district(const char *level_name, const char *name,
                        const char *level)
{
    json_t *d = json_object();

    sg_sbx__set_str(d, "address_level_name", level_name);
    sg_sbx__set_str(d, "address_name", name);
    sg_sbx__set_str(d, "address_level", level);
    return d;
}

/* Buyer identity and masked address of buyer idx (from a small pool, so
 * repeat buyers and so combinable packages happen) and phone tail. */
static void add_buyer(json_t *order, unsigned idx, unsigned tail)
{
    unsigned city = idx % 4;
    char buf[128], fm[16], lm[16], street[16];
    json_t *addr = json_object(), *dist = json_array(), *pref;

    snprintf(buf, sizeof(buf), "74940000000000%05u", 10000 + idx);
    sg_sbx__set_str(order, "user_id", buf);
    snprintf(buf, sizeof(buf), "v2%08x%02u@scs2.tiktok.com",
             (idx + 1) * 2654435761u, idx);
    sg_sbx__set_str(order, "buyer_email", buf);
    snprintf(buf, sizeof(buf), "%c****%u", first_names[idx][0], idx);
    sg_sbx__set_str(order, "buyer_nickname", buf);

    mask_word(first_names[idx], fm);
    mask_word(last_names[idx], lm);
    mask_word("Main", street);
    snprintf(buf, sizeof(buf), "%s %s", fm, lm);
    sg_sbx__set_str(addr, "name", buf);
    sg_sbx__set_str(addr, "first_name", fm);
    sg_sbx__set_str(addr, "last_name", lm);
    snprintf(buf, sizeof(buf), "(+1)%03u-***-%04u", 201 + idx * 37 % 700,
             tail);
    sg_sbx__set_str(addr, "phone_number", buf);
    sg_sbx__set_str(addr, "region_code", "US");
    sg_sbx__set_str(addr, "postal_code", cities[city][2]);
    snprintf(buf, sizeof(buf), "%u** %s St", 1 + idx % 9, street);
    sg_sbx__set_str(addr, "address_line1", buf);
    sg_sbx__set_str(addr, "address_line2", "");
    sg_sbx__set_str(addr, "address_line3", "");
    sg_sbx__set_str(addr, "address_line4", "");
    sg_sbx__set_str(addr, "address_detail", buf);
    snprintf(buf, sizeof(buf), "%u** %s St, %s, %s, %s, United States",
             1 + idx % 9, street, cities[city][0], cities[city][1],
             cities[city][2]);
    sg_sbx__set_str(addr, "full_address", buf);
    json_array_append_new(dist, district("Country", "United States", "L0"));
    json_array_append_new(dist, district("State", cities[city][1], "L1"));
    json_array_append_new(dist, district("City", cities[city][0], "L3"));
    json_object_set_new(addr, "district_info", dist);
    pref = json_object();
    sg_sbx__set_str(pref, "drop_off_location", "");
    json_object_set_new(addr, "delivery_preferences", pref);
    json_object_set_new(order, "recipient_address", addr);
}

int sg_sbx__order_address_update(struct sg_sbx *s, json_t *order,
                                 struct sg_err *err)
{
    static const char *const open_st[] = {"UNPAID", "ON_HOLD",
                                          "AWAITING_SHIPMENT"};
    const char *st = sg_json_str(order, "status");
    json_t *addr = json_object_get(order, "recipient_address");
    unsigned n = 1 + (unsigned)sg_sbx_rand(s, 9);
    int64_t now = sg_sbx_now_s(s);
    char line[64], full[160];
    const char *postal;
    bool open = false;

    for (size_t i = 0; st && i < SG_ARRAY_SIZE(open_st); i++)
        open = open || strcmp(st, open_st[i]) == 0;
    if (!open || !json_is_object(addr))
        return sg_err_set(err, SG_ESTATE,
                          "the address can change only before shipping");
    postal = sg_json_str(addr, "postal_code");
    snprintf(line, sizeof(line), "%u** O** Ave", n);
    snprintf(full, sizeof(full), "%s, %s, United States", line,
             postal ? postal : "");
    sg_sbx__set_str(addr, "address_line1", line);
    sg_sbx__set_str(addr, "address_detail", line);
    sg_sbx__set_str(addr, "full_address", full);
    json_object_set_new(order, "has_updated_recipient_address", json_true());
    sg_sbx__set_int(order, "update_time", now);
    sg_sbx_emit(s, sg_json_str(order, "shop_id"), 3,
                json_pack("{s:s,s:I}", "order_id", sg_json_str(order, "id"),
                          "update_time", (json_int_t)now));
    sg_sbx_dirty(s);
    return 0;
}

struct want {
    json_t *product;
    json_t *sku;
    json_t *inv;
    const char *warehouse_id;
    int64_t qty;
    int64_t price_cents;
};

/* Units of (sku, warehouse) the lines before this one take. */
struct demand {
    const char *sku_id;
    const char *wh;
    int64_t qty;
};

static int64_t demanded(const struct demand *d, size_t n, const char *sku_id,
                        const char *wh)
{
    int64_t q = 0;

    for (size_t i = 0; i < n; i++)
        if (strcmp(d[i].sku_id, sku_id) == 0 && strcmp(d[i].wh, wh) == 0)
            q += d[i].qty;
    return q;
}

/* Resolve and check one requested line against the stock still free;
 * d[0..*nd) is what the lines before took (one entry added). */
static int resolve_line(struct sg_sbx *s, const char *shop_id,
                        const struct sg_sbx__line_req *req,
                        struct demand *d, size_t *nd, struct want *w,
                        struct sg_err *err)
{
    const char *sku_id = req->sku_id;
    const char *wh = req->warehouse_id;
    const char *status, *price;
    json_t *pr;
    size_t i;
    json_t *inv;

    if (sku_id == NULL)
        return sg_err_set(err, SG_EINVAL, "line without sku_id");
    w->qty = req->qty;
    if (w->qty < 1 || w->qty > UNITS_MAX)
        return sg_err_set(err, SG_EINVAL, "quantity must be 1..%d",
                          UNITS_MAX);
    w->sku = find_sku(s, shop_id, req->product_id, sku_id, &w->product);
    if (w->sku == NULL)
        return sg_err_set(err, SG_ENOTFOUND, "sku %s not found in shop",
                          sku_id);
    status = sg_json_str(w->product, "status");
    if (status == NULL || strcmp(status, "ACTIVATE") != 0)
        return sg_err_set(err, SG_ESTATE, "product %s is not ACTIVATE",
                          sg_json_str(w->product, "id"));
    pr = json_object_get(w->sku, "price");
    price = sg_json_str(pr, "sale_price");
    if (price == NULL)
        price = sg_json_str(pr, "tax_exclusive_price");
    if (price == NULL)
        price = sg_json_str(pr, "amount");
    if (!sg_sbx__money_parse(price, &w->price_cents))
        w->price_cents = 0;
    w->inv = NULL;
    json_array_foreach(json_object_get(w->sku, "inventory"), i, inv) {
        const char *iwh = sg_json_str(inv, "warehouse_id");

        if (iwh == NULL || (wh != NULL && strcmp(iwh, wh) != 0))
            continue;
        if (sg_json_int(inv, "quantity", 0) - demanded(d, *nd, sku_id, iwh) >=
            w->qty) {
            w->inv = inv;
            w->warehouse_id = iwh;
            break;
        }
    }
    if (w->inv == NULL)
        return sg_err_set(err, SG_ESTATE, "sku %s is out of stock", sku_id);
    d[*nd] = (struct demand){sku_id, w->warehouse_id, w->qty};
    (*nd)++;
    return 0;
}

/*
 * A compact order (see shop_internal.h): what make_order needs to build
 * the order's tree and the one status change the placing makes (to
 * AWAITING_SHIPMENT at paid_time). Strings are interned per sandbox, so
 * an order costs a few hundred bytes where its tree took ~27 KB.
 */
struct cline {
    uint64_t id;
    int64_t price_cents;
    const char *sku_id, *product_id, *product_name, *sku_name, *sku_image,
        *seller_sku, *warehouse_id;
};

struct corder {
    uint64_t id;
    const char *shop_id, *currency, *warehouse_id;
    int64_t create_time;
    int64_t paid_time;       /* valid when paid */
    bool paid;
    unsigned buyer, tail;    /* add_buyer's draws */
    size_t n_lines;
    struct cline lines[];
};

static void id_fmt(uint64_t id, char out[24])
{
    snprintf(out, 24, "%" PRIu64, id);
}

static json_t *make_line(const struct cline *l, const char *currency)
{
    json_t *line = json_object(), *priv = json_object();
    char id[24];

    id_fmt(l->id, id);
    sg_sbx__set_str(line, "id", id);
    sg_sbx__set_str(line, "sku_id", l->sku_id);
    sg_sbx__set_str(line, "product_id", l->product_id);
    sg_sbx__set_str(line, "product_name", l->product_name);
    sg_sbx__set_str(line, "sku_name", l->sku_name);
    sg_sbx__set_str(line, "sku_image", l->sku_image);
    sg_sbx__set_str(line, "seller_sku", l->seller_sku);
    set_money(line, "original_price", l->price_cents);
    set_money(line, "sale_price", l->price_cents);
    set_money(line, "platform_discount", 0);
    set_money(line, "seller_discount", 0);
    sg_sbx__set_str(line, "currency", currency);
    sg_sbx__set_str(line, "display_status", "UNPAID");
    sg_sbx__set_str(line, "package_id", "");
    sg_sbx__set_str(line, "package_status", "TO_FULFILL");
    sg_sbx__set_str(line, "tracking_number", "");
    sg_sbx__set_str(line, "shipping_provider_id", "");
    sg_sbx__set_str(line, "shipping_provider_name", "");
    sg_sbx__set_str(line, "cancel_user", "");
    sg_sbx__set_str(line, "cancel_reason", "");
    sg_sbx__set_str(line, "sku_type", "NORMAL");
    json_object_set_new(line, "is_gift", json_false());
    json_object_set_new(line, "item_tax", json_array());
    sg_sbx__set_str(priv, "wh", l->warehouse_id);
    json_object_set_new(line, "_sbx", priv);
    return line;
}

static json_t *make_payment(int64_t sub, const char *currency)
{
    json_t *p = json_object();
    static const char *const zero[] = {
        "seller_discount", "platform_discount", "shipping_fee_seller_discount",
        "shipping_fee_platform_discount", "shipping_fee_cofunded_discount",
        "tax", "small_order_fee", "shipping_fee_tax", "product_tax",
        "retail_delivery_fee", "buyer_service_fee", "handling_fee",
        "shipping_insurance_fee", "item_insurance_fee"};
    size_t i;

    sg_sbx__set_str(p, "currency", currency);
    set_money(p, "sub_total", sub);
    set_money(p, "shipping_fee", SHIPPING_FEE);
    set_money(p, "original_shipping_fee", SHIPPING_FEE);
    set_money(p, "original_total_product_price", sub);
    set_money(p, "total_amount", sub + SHIPPING_FEE);
    for (i = 0; i < SG_ARRAY_SIZE(zero); i++)
        set_money(p, zero[i], 0);
    return p;
}

/* The order's tree, as placed and (when paid) moved to
 * AWAITING_SHIPMENT; the same whether it is built at once or thawed. */
static json_t *make_order(struct sg_sbx *s, const struct corder *c)
{
    json_t *order = json_object(), *items = json_array(), *hd;
    const char *currency = c->currency;
    int64_t now = c->create_time, sub = 0;
    char id[24];
    size_t i;

    id_fmt(c->id, id);
    sg_sbx__set_str(order, "id", id);
    sg_sbx__set_str(order, "shop_id", c->shop_id);
    sg_sbx__set_str(order, "status", "UNPAID");
    sg_sbx__set_int(order, "create_time", now);
    sg_sbx__set_int(order, "update_time", now);
    add_buyer(order, c->buyer, c->tail);
    sg_sbx__set_str(order, "buyer_message", "");
    sg_sbx__set_str(order, "seller_note", "");
    for (i = 0; i < c->n_lines; i++) {
        json_array_append_new(items, make_line(&c->lines[i], currency));
        sub += c->lines[i].price_cents;
    }
    json_object_set_new(order, "line_items", items);
    json_object_set_new(order, "payment", make_payment(sub, currency));
    json_object_set_new(order, "packages", json_array());
    sg_sbx__set_str(order, "tracking_number", "");
    sg_sbx__set_str(order, "shipping_provider", "");
    sg_sbx__set_str(order, "shipping_provider_id", "");
    sg_sbx__set_str(order, "fulfillment_type", "FULFILLMENT_BY_SELLER");
    sg_sbx__set_str(order, "shipping_type", "SELLER");
    sg_sbx__set_str(order, "delivery_type", "HOME_DELIVERY");
    sg_sbx__set_str(order, "delivery_option_id", "7091146663229654785");
    sg_sbx__set_str(order, "delivery_option_name", "Standard shipping");
    sg_sbx__set_str(order, "warehouse_id", c->warehouse_id);
    json_object_set_new(order, "is_sample_order", json_false());
    json_object_set_new(order, "is_cod", json_false());
    json_object_set_new(order, "is_on_hold_order", json_false());
    json_object_set_new(order, "is_replacement_order", json_false());
    json_object_set_new(order, "is_buyer_request_cancel", json_false());
    json_object_set_new(order, "is_exchange_order", json_false());
    json_object_set_new(order, "has_updated_recipient_address",
                        json_false());
    json_object_set_new(order, "need_upload_invoice", json_false());
    sg_sbx__set_str(order, "order_type", "NORMAL");
    sg_sbx__set_str(order, "commerce_platform", "TIKTOK_SHOP");
    sg_sbx__set_str(order, "payment_method_name", "CCDC");
    hd = json_object();
    sg_sbx__set_str(hd, "days", "3");
    sg_sbx__set_str(hd, "type", "BUSINESS_DAY");
    json_object_set_new(order, "handling_duration", hd);
    sg_sbx__set_str(order, "cancellation_initiator", "");
    sg_sbx__set_str(order, "cancel_reason", "");
    if (c->paid)
        apply_status(s, order, "AWAITING_SHIPMENT", c->paid_time);
    return order;
}

/* ---- the compact store ---- */

struct sg_sbx__corders {
    struct corder **v;       /* by slot; NULL once thawed */
    size_t n, cap;
    size_t live;             /* slots not NULL */
    size_t bytes;            /* their structs' sizes */
    char **pool;             /* interned strings, open addressing */
    size_t pool_n, pool_cap;
};

static struct sg_sbx__corders *store_of(struct sg_sbx *s)
{
    struct sg_sbx__ext *e = sg_sbx__ext(s);

    if (e->corders == NULL)
        e->corders = sg_calloc(1, sizeof(*e->corders));
    return e->corders;
}

static uint64_t str_hash(const char *str)
{
    uint64_t h = 1469598103934665603ull;

    for (; *str; str++)
        h = (h ^ (unsigned char)*str) * 1099511628211ull;
    return h;
}

/* str (NULL as "", as sg_sbx__set_str stores it) kept once; NULL on OOM. */
static const char *intern(struct sg_sbx__corders *co, const char *str)
{
    size_t i;

    if (str == NULL)
        str = "";
    if ((co->pool_n + 1) * 2 > co->pool_cap) {
        size_t cap = co->pool_cap ? co->pool_cap * 2 : 256;
        char **pool = sg_calloc(cap, sizeof(*pool));

        if (pool == NULL)
            return NULL;
        for (i = 0; i < co->pool_cap; i++) {
            size_t j;

            if (co->pool[i] == NULL)
                continue;
            for (j = str_hash(co->pool[i]) & (cap - 1); pool[j] != NULL;
                 j = (j + 1) & (cap - 1))
                ;
            pool[j] = co->pool[i];
        }
        sg_free(co->pool);
        co->pool = pool;
        co->pool_cap = cap;
    }
    for (i = str_hash(str) & (co->pool_cap - 1); co->pool[i] != NULL;
         i = (i + 1) & (co->pool_cap - 1))
        if (strcmp(co->pool[i], str) == 0)
            return co->pool[i];
    co->pool[i] = sg_strdup(str);
    if (co->pool[i] == NULL)
        return NULL;
    co->pool_n++;
    return co->pool[i];
}

/* Keep c in a new slot; false on OOM (c still the caller's). */
static bool store_add(struct sg_sbx__corders *co, struct corder *c,
                      size_t *slot_out)
{
    if (co->n == co->cap) {
        size_t cap = co->cap ? co->cap * 2 : 1024;
        struct corder **v = sg_realloc(co->v, cap * sizeof(*v));

        if (v == NULL)
            return false;
        co->v = v;
        co->cap = cap;
    }
    *slot_out = co->n;
    co->v[co->n++] = c;
    co->live++;
    co->bytes += sizeof(*c) + c->n_lines * sizeof(c->lines[0]);
    return true;
}

/* The compact order a collection member stands for, or NULL. */
static struct corder *compact_of(struct sg_sbx *s, const json_t *member)
{
    struct sg_sbx__corders *co = sg_sbx__ext(s)->corders;
    json_int_t slot;

    if (!json_is_integer(member) || co == NULL)
        return NULL;
    slot = json_integer_value(member);
    if (slot < 0 || (size_t)slot >= co->n)
        return NULL;
    return co->v[slot];
}

static void store_drop(struct sg_sbx__corders *co, json_int_t slot)
{
    struct corder *c = co->v[slot];

    co->v[slot] = NULL;
    co->live--;
    co->bytes -= sizeof(*c) + c->n_lines * sizeof(c->lines[0]);
    sg_free(c);
}

/*
 * Replace the member at iter (a compact order) with its tree; the member
 * keeps its place in the collection. Returns the tree (borrowed) or NULL
 * when out of memory (the order stays compact).
 */
static json_t *thaw_at(struct sg_sbx *s, json_t *orders, void *iter)
{
    json_t *member = json_object_iter_value(iter);
    struct corder *c = compact_of(s, member);
    json_int_t slot = json_integer_value(member);
    json_t *tree;

    if (c == NULL)
        return NULL;
    tree = make_order(s, c);
    if (tree == NULL || json_object_iter_set_new(orders, iter, tree) != 0)
        return NULL;
    store_drop(sg_sbx__ext(s)->corders, slot);
    return tree;
}

int sg_sbx__orders_thaw_all(struct sg_sbx *s, json_t *orders)
{
    struct sg_sbx__corders *co = sg_sbx__ext(s)->corders;
    void *it;
    int rc = 0;

    if (co == NULL || co->live == 0)
        return 0;
    for (it = json_object_iter(orders); it != NULL;
         it = json_object_iter_next(orders, it))
        if (json_is_integer(json_object_iter_value(it)) &&
            thaw_at(s, orders, it) == NULL)
            rc = SG_ENOMEM;
    return rc;
}

void sg_sbx__orders_forget(struct sg_sbx *s)
{
    struct sg_sbx__corders *co = sg_sbx__ext(s)->corders;

    if (co == NULL)
        return;
    for (size_t i = 0; i < co->n; i++)
        sg_free(co->v[i]);
    sg_free(co->v);
    co->v = NULL;
    co->n = co->cap = co->live = co->bytes = 0;
}

static void store_free(struct sg_sbx__corders *co)
{
    if (co == NULL)
        return;
    for (size_t i = 0; i < co->n; i++)
        sg_free(co->v[i]);
    sg_free(co->v);
    for (size_t i = 0; i < co->pool_cap; i++)
        sg_free(co->pool[i]);
    sg_free(co->pool);
    sg_free(co);
}

void sg_sbx__orders_compact_stats(struct sg_sbx *s, size_t *n_out,
                                  size_t *bytes_out)
{
    struct sg_sbx__corders *co = sg_sbx__ext(s)->corders;
    size_t pool = 0;

    if (co != NULL)
        for (size_t i = 0; i < co->pool_cap; i++)
            pool += co->pool[i] ? strlen(co->pool[i]) + 1 : 0;
    *n_out = co ? co->live : 0;
    *bytes_out = co ? co->bytes + co->cap * sizeof(co->v[0]) +
                          co->pool_cap * sizeof(co->pool[0]) + pool
                    : 0;
}

/*
 * An order of the orders collection: the tree (thawing a compact one) or
 * NULL. sg_sbx__get's case for "orders".
 */
static json_t *order_get(struct sg_sbx *s, const char *id,
                         const char *shop_id)
{
    json_t *orders = sg_sbx__coll_raw(s, "orders");
    void *it = json_object_iter_at(orders, id);
    json_t *o = it ? json_object_iter_value(it) : NULL;
    struct corder *c = compact_of(s, o);

    if (c != NULL) {
        if (shop_id != NULL && strcmp(c->shop_id, shop_id) != 0)
            return NULL;
        return thaw_at(s, orders, it);
    }
    if (!json_is_object(o))
        return NULL;
    if (shop_id != NULL) {
        const char *owner = sg_json_str(o, "shop_id");

        if (owner == NULL || strcmp(owner, shop_id) != 0)
            return NULL;
    }
    return o;
}

int sg_sbx_order_create(struct sg_sbx *s, const char *shop_id,
                        const json_t *lines, json_t **order_out,
                        struct sg_err *err)
{
    char id[24];
    int rc = sg_sbx__order_place(s, shop_id, lines, id, err);
    json_t *orders, *o, *tree = NULL;
    struct corder *c;

    if (order_out == NULL)
        return rc;
    *order_out = NULL;
    if (rc != 0)
        return rc;
    /* The view of a compact order from a tree built for it and dropped. */
    orders = sg_sbx__coll_raw(s, "orders");
    o = json_object_get(orders, id);
    c = compact_of(s, o);
    if (c != NULL)
        o = tree = make_order(s, c);
    *order_out = sg_sbx__order_view(s, o);
    json_decref(tree);
    return 0;
}

/* What an order placed from w[0..n) will be (ids, draws and time still to
 * come); NULL when out of memory. */
static struct corder *plan_order(struct sg_sbx__corders *co,
                                 const char *shop_id, const struct want *w,
                                 size_t n, int64_t units)
{
    struct corder *c =
        sg_calloc(1, sizeof(*c) + (size_t)units * sizeof(c->lines[0]));
    const char *currency =
        sg_json_str(json_object_get(w[0].sku, "price"), "currency");
    size_t i, k = 0;
    int64_t u;

    if (c == NULL)
        return NULL;
    c->shop_id = intern(co, shop_id);
    c->currency = intern(co, currency ? currency : "USD");
    c->warehouse_id = intern(co, w[0].warehouse_id);
    if (c->shop_id == NULL || c->currency == NULL || c->warehouse_id == NULL)
        goto oom;
    for (i = 0; i < n; i++) {
        json_t *imgs = json_object_get(w[i].product, "main_images");
        const char *seller_sku = sg_json_str(w[i].sku, "seller_sku");
        struct cline l = {.price_cents = w[i].price_cents};

        l.sku_id = intern(co, sg_json_str(w[i].sku, "id"));
        l.product_id = intern(co, sg_json_str(w[i].product, "id"));
        l.product_name = intern(co, sg_json_str(w[i].product, "title"));
        l.sku_name = intern(co, seller_sku ? seller_sku : "Default");
        l.sku_image =
            intern(co, sg_json_str(json_array_get(imgs, 0), "url"));
        l.seller_sku = intern(co, seller_sku);
        l.warehouse_id = intern(co, w[i].warehouse_id);
        if (!l.sku_id || !l.product_id || !l.product_name || !l.sku_name ||
            !l.sku_image || !l.seller_sku || !l.warehouse_id)
            goto oom;
        for (u = 0; u < w[i].qty; u++)
            c->lines[k++] = l;
    }
    c->n_lines = k;
    return c;
oom:
    sg_free(c);
    return NULL;
}

/* The legacy order of checks: an unknown shop before bad lines. */
static int lines_err(struct sg_sbx *s, const char *shop_id,
                              struct sg_err *err)
{
    if ((shop_id ? sg_sbx_shop_by_id(s, shop_id) : sg_sbx_default_shop(s)) ==
        NULL)
        return sg_err_set(err, SG_ENOTFOUND, "no such shop");
    return sg_err_set(err, SG_EINVAL, "lines must be 1..%d objects",
                      LINES_MAX);
}

int sg_sbx__order_place(struct sg_sbx *s, const char *shop_id,
                        const json_t *lines, char id_out[24],
                        struct sg_err *err)
{
    struct sg_sbx__line_req *req;
    size_t n = json_array_size(lines), i;
    int rc;

    id_out[0] = '\0';
    if (!json_is_array(lines) || n == 0 || n > LINES_MAX)
        return lines_err(s, shop_id, err);
    req = sg_calloc(n, sizeof(*req));
    if (req == NULL)
        return sg_err_set(err, SG_ENOMEM, "out of memory");
    for (i = 0; i < n; i++) {
        const json_t *l = json_array_get(lines, i);
        const json_t *qv = json_object_get(l, "quantity");

        req[i].product_id = sg_json_str(l, "product_id");
        req[i].sku_id = sg_json_str(l, "sku_id");
        req[i].warehouse_id = sg_json_str(l, "warehouse_id");
        req[i].qty = qv == NULL ? 1
                     : json_is_integer(qv) ? json_integer_value(qv) : 0;
    }
    rc = sg_sbx__order_place_lines(s, shop_id, req, n, id_out, err);
    sg_free(req);
    return rc;
}

int sg_sbx__order_place_lines(struct sg_sbx *s, const char *shop_id,
                              const struct sg_sbx__line_req *req, size_t n,
                              char id_out[24], struct sg_err *err)
{
    const struct sg_sbx_shop *shop;
    const struct sg_sbx__timing *tm = &sg_sbx__ext(s)->timing;
    struct sg_sbx__corders *co;
    struct want *w = NULL;
    struct demand *demand = NULL;
    struct corder *c = NULL;
    json_t *orders, *member = NULL;
    size_t i, slot, nd = 0;
    int64_t units = 0;
    char id[24];
    int rc;

    id_out[0] = '\0';
    shop = shop_id ? sg_sbx_shop_by_id(s, shop_id) : sg_sbx_default_shop(s);
    if (shop == NULL)
        return sg_err_set(err, SG_ENOTFOUND, "no such shop");
    if (n == 0 || n > LINES_MAX)
        return sg_err_set(err, SG_EINVAL, "lines must be 1..%d objects",
                          LINES_MAX);
    co = store_of(s);
    w = sg_calloc(n, sizeof(*w));
    demand = sg_calloc(n, sizeof(*demand));
    if (co == NULL || w == NULL || demand == NULL) {
        rc = sg_err_set(err, SG_ENOMEM, "out of memory");
        goto out;
    }
    /* Check every line first: the order takes all its stock or none. */
    for (i = 0; i < n; i++) {
        rc = resolve_line(s, shop->id, &req[i], demand, &nd, &w[i], err);
        if (rc != 0)
            goto out;
        units += w[i].qty;
    }
    if (units > UNITS_MAX) {
        rc = sg_err_set(err, SG_EINVAL, "more than %d units", UNITS_MAX);
        goto out;
    }
    c = plan_order(co, shop->id, w, n, units);
    if (c == NULL) {
        rc = sg_err_set(err, SG_ENOMEM, "out of memory");
        goto out;
    }
    for (i = 0; i < n; i++) {
        sg_sbx__set_int(w[i].inv, "quantity",
                        sg_json_int(w[i].inv, "quantity", 0) - w[i].qty);
        sg_sbx__set_int(w[i].product, "update_time", sg_sbx_now_s(s));
    }
    /* The draws in the order the tree-building code always made them. */
    c->create_time = sg_sbx_now_s(s);
    sg_sbx_new_id(s, id);
    c->id = strtoull(id, NULL, 10);
    c->buyer = (unsigned)sg_sbx_rand(s, BUYERS);
    c->tail = (unsigned)sg_sbx_rand(s, 10000);
    for (i = 0; i < c->n_lines; i++) {
        char lid[24];

        sg_sbx_new_id(s, lid);
        c->lines[i].id = strtoull(lid, NULL, 10);
    }
    orders = sg_sbx__coll_raw(s, "orders");
    if (store_add(co, c, &slot)) {
        member = json_integer((json_int_t)slot);
        if (member == NULL) {
            co->v[slot] = NULL;
            co->live--;
            co->bytes -= sizeof(*c) + c->n_lines * sizeof(c->lines[0]);
        }
    }
    if (member == NULL) {
        /* No room to keep it compact: the tree at once. */
        member = make_order(s, c);
        sg_free(c);
    }
    c = NULL;
    json_object_set_new(orders, id, member);
    sg_sbx_dirty(s);
    snprintf(id_out, 24, "%s", id);
    {
        /* The UNPAID webhook, then payment now or later. */
        json_t *data = json_object();
        const json_t *o = json_object_get(orders, id);
        struct corder *k = compact_of(s, o);

        json_object_set_new(data, "order_id", json_string(id));
        json_object_set_new(data, "order_status", json_string("UNPAID"));
        json_object_set_new(
            data, "update_time",
            json_integer(k ? k->create_time
                           : sg_json_int(o, "update_time", 0)));
        json_object_set_new(data, "is_on_hold_order", json_false());
        sg_sbx_emit(s, shop->id, SG_SBX_WH_ORDER, data);
    }
    if (tm->pay_s > 0) {
        json_t *arg = json_object();

        json_object_set_new(arg, "order_id", json_string(id));
        sg_sbx__set_int(arg, "at_ms", sg_sbx_now_ms(s) + tm->pay_s * 1000);
        sg_sbx_schedule(s, sg_json_int(arg, "at_ms", 0), task_pay, arg);
    } else {
        struct corder *k = compact_of(s, json_object_get(orders, id));

        if (k != NULL && tm->hold_s == 0) {
            /* task_pay's move to AWAITING_SHIPMENT, kept compact. */
            k->paid = true;
            k->paid_time = sg_sbx_now_s(s);
            emit_status(s, shop->id, id, "AWAITING_SHIPMENT", k->paid_time);
            sg_sbx_dirty(s);
        } else {
            json_t *arg = json_object();

            json_object_set_new(arg, "order_id", json_string(id));
            sg_sbx__set_int(arg, "at_ms", sg_sbx_now_ms(s));
            task_pay(s, arg);
            json_decref(arg);
        }
    }
    rc = 0;
out:
    sg_free(c);
    sg_free(demand);
    sg_free(w);
    return rc;
}

/* ---- views and endpoints ---- */

json_t *sg_sbx__order_view(struct sg_sbx *s, const json_t *order)
{
    json_t *v = sg_sbx__view(order);
    size_t i;
    json_t *line;

    SG_UNUSED(s);
    json_array_foreach(json_object_get(v, "line_items"), i, line)
        json_object_del(line, "_sbx");
    return v;
}

static bool bool_match(const json_t *obj, const json_t *filter,
                       const char *key)
{
    json_t *f = json_object_get(filter, key);

    if (!json_is_boolean(f))
        return true;
    return json_is_true(json_object_get(obj, key)) == json_is_true(f);
}

static bool str_match(const json_t *obj, const char *okey,
                      const json_t *filter, const char *fkey)
{
    const char *f = sg_json_str(filter, fkey);
    const char *v = sg_json_str(obj, okey);

    if (f == NULL || *f == '\0')
        return true;
    return v != NULL && strcmp(v, f) == 0;
}

static bool order_match(const json_t *order, const json_t *filter)
{
    json_t *whs;

    if (!json_is_object(filter))
        return true;
    if (!str_match(order, "status", filter, "order_status") ||
        !str_match(order, "shipping_type", filter, "shipping_type") ||
        !str_match(order, "user_id", filter, "buyer_user_id") ||
        !bool_match(order, filter, "is_buyer_request_cancel") ||
        !sg_sbx__time_match(order, filter))
        return false;
    whs = json_object_get(filter, "warehouse_ids");
    if (json_array_size(whs) > 0 &&
        !sg_sbx__strarr_has(whs, sg_json_str(order, "warehouse_id")))
        return false;
    return true;
}

/*
 * The members order_match reads, of a compact order, into probe (reused
 * from order to order): the filter is then the same code for both forms.
 */
static void probe_fill(json_t *probe, const struct corder *k)
{
    char buf[32];

    sg_sbx__set_str(probe, "status", k->paid ? "AWAITING_SHIPMENT"
                                             : "UNPAID");
    sg_sbx__set_str(probe, "shipping_type", "SELLER");
    snprintf(buf, sizeof(buf), "74940000000000%05u", 10000 + k->buyer);
    sg_sbx__set_str(probe, "user_id", buf);
    json_object_set_new(probe, "is_buyer_request_cancel", json_false());
    sg_sbx__set_int(probe, "create_time", k->create_time);
    sg_sbx__set_int(probe, "update_time",
                    k->paid ? k->paid_time : k->create_time);
    sg_sbx__set_str(probe, "warehouse_id", k->warehouse_id);
}

/* sg_sbx__collect over the orders, compact ones included (not thawed). */
static int orders_collect(struct sg_sbx__list *out, struct sg_sbx *s,
                          const char *shop_id, const json_t *filter,
                          const char *sort_field, bool desc)
{
    json_t *probe = json_object();
    const char *key;
    json_t *obj;

    memset(out, 0, sizeof(*out));
    if (probe == NULL)
        return SG_ENOMEM;
    json_object_foreach(sg_sbx__coll_raw(s, "orders"), key, obj) {
        const struct corder *k = compact_of(s, obj);
        const json_t *fields = obj;
        const char *owner;

        if (k != NULL) {
            probe_fill(probe, k);
            fields = probe;
            owner = k->shop_id;
        } else if (json_is_object(obj)) {
            owner = sg_json_str(obj, "shop_id");
        } else {
            continue;
        }
        if (shop_id != NULL &&
            (owner == NULL || strcmp(owner, shop_id) != 0))
            continue;
        if (!order_match(fields, filter))
            continue;
        if (list_push(out, sg_json_int(fields, sort_field, 0), key,
                      obj) != 0) {
            json_decref(probe);
            return SG_ENOMEM;
        }
    }
    json_decref(probe);
    if (out->n > 1)
        qsort(out->v, out->n, sizeof(out->v[0]),
              desc ? item_cmp_desc : item_cmp_asc);
    return 0;
}

/*
 * Order views rendered straight from the state (state lock held): the
 * text sg_sbx__order_view's copy would dump to, without the copy. Under
 * an order flood, copying each order and dumping the copy after the lock
 * was a third of the sandbox's profile (bench/spike).
 */
struct render {
    struct sg_buf b;
    bool failed;
};

static int render_sink(const char *buf, size_t size, void *data)
{
    struct render *r = data;

    if (!r->failed && sg_buf_append(&r->b, buf, size) != 0)
        r->failed = true;
    return r->failed ? -1 : 0;
}

static void render_raw(struct render *r, const char *s, size_t n)
{
    (void)render_sink(s, n, r);
}

/* Printable ASCII without '"' or '\\': jansson writes it as it is. */
static bool plain_text(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];

        if (ch < 0x20 || ch > 0x7e || ch == '"' || ch == '\\')
            return false;
    }
    return true;
}

/*
 * A value as json_dump_callback(JSON_COMPACT | JSON_ENCODE_ANY) writes
 * it, byte for byte: plain strings, integers and the literals directly
 * (one append each instead of jansson's dump per field, about a twentieth
 * of the sandbox's profile under bench/spike's flood), the rest through
 * jansson.
 */
static void render_value(struct render *r, const json_t *v)
{
    char num[32];
    int n;

    switch (json_typeof(v)) {
    case JSON_STRING:
        if (plain_text(json_string_value(v), json_string_length(v))) {
            render_raw(r, "\"", 1);
            render_raw(r, json_string_value(v), json_string_length(v));
            render_raw(r, "\"", 1);
            return;
        }
        break;
    case JSON_INTEGER:
        n = snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
                     json_integer_value(v));
        render_raw(r, num, (size_t)n);
        return;
    case JSON_TRUE:
        render_raw(r, "true", 4);
        return;
    case JSON_FALSE:
        render_raw(r, "false", 5);
        return;
    case JSON_NULL:
        render_raw(r, "null", 4);
        return;
    default:
        break;
    }
    if (json_dump_callback(v, render_sink, r, JSON_COMPACT | JSON_ENCODE_ANY))
        r->failed = true;
}

/* A key as jansson writes one (compact, UTF-8 kept, '/' not escaped). */
static void render_key(struct render *r, const char *k)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t len = strlen(k);

    if (plain_text(k, len)) {
        render_raw(r, "\"", 1);
        render_raw(r, k, len);
        render_raw(r, "\":", 2);
        return;
    }
    render_raw(r, "\"", 1);
    for (const char *p = k; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        char esc[7] = "\\u00";

        if (ch == '"' || ch == '\\') {
            esc[1] = (char)ch;
            render_raw(r, esc, 2);
        } else if (ch == '\b' || ch == '\f' || ch == '\n' || ch == '\r' ||
                   ch == '\t') {
            esc[1] = ch == '\b' ? 'b' : ch == '\f' ? 'f' : ch == '\n' ? 'n'
                     : ch == '\r' ? 'r' : 't';
            render_raw(r, esc, 2);
        } else if (ch < 0x20) {
            esc[4] = hex[ch >> 4];
            esc[5] = hex[ch & 15];
            render_raw(r, esc, 6);
        } else {
            render_raw(r, p, 1);
        }
    }
    render_raw(r, "\":", 2);
}

/* obj without "_sbx" (nor "shop_id" at the top), its lines likewise. */
static void render_view(struct render *r, json_t *obj, bool top)
{
    const char *key;
    json_t *v;
    bool first = true;

    render_raw(r, "{", 1);
    json_object_foreach(obj, key, v) {
        if (strcmp(key, "_sbx") == 0 || (top && strcmp(key, "shop_id") == 0))
            continue;
        if (!first)
            render_raw(r, ",", 1);
        first = false;
        render_key(r, key);
        if (top && strcmp(key, "line_items") == 0 && json_is_array(v)) {
            size_t i;
            json_t *line;

            render_raw(r, "[", 1);
            json_array_foreach(v, i, line) {
                if (i)
                    render_raw(r, ",", 1);
                if (json_is_object(line))
                    render_view(r, line, false);
                else
                    render_value(r, line);
            }
            render_raw(r, "]", 1);
        } else {
            render_value(r, v);
        }
    }
    render_raw(r, "}", 1);
}

/* A string member's value as render_value writes a JSON string. */
static void render_str(struct render *r, const char *str)
{
    size_t n = strlen(str);
    json_t *v;

    if (plain_text(str, n)) {
        render_raw(r, "\"", 1);
        render_raw(r, str, n);
        render_raw(r, "\"", 1);
        return;
    }
    v = json_string(str);
    if (v == NULL) {
        r->failed = true;
        return;
    }
    render_value(r, v);
    json_decref(v);
}

/* ,"key":"value" / ,"key":123 / ,"key":"12.34" (key plain ASCII). */
static void render_kstr(struct render *r, const char *key, const char *str)
{
    render_raw(r, ",\"", 2);
    render_raw(r, key, strlen(key));
    render_raw(r, "\":", 2);
    render_str(r, str);
}

static void render_kint(struct render *r, const char *key, int64_t v)
{
    char num[48];
    int n = snprintf(num, sizeof(num), ",\"%s\":%" PRId64, key, v);

    render_raw(r, num, (size_t)n);
}

static void render_kmoney(struct render *r, const char *key, int64_t cents)
{
    char m[32];

    sg_sbx__money_fmt(cents, m);
    render_kstr(r, key, m);
}

#define RAW(r, lit) render_raw((r), (lit), sizeof(lit) - 1)

/* add_buyer's members, as render_view writes them. */
static void render_buyer(struct render *r, unsigned idx, unsigned tail)
{
    unsigned city = idx % 4;
    char buf[160], fm[16], lm[16], street[16];

    snprintf(buf, sizeof(buf), "74940000000000%05u", 10000 + idx);
    render_kstr(r, "user_id", buf);
    snprintf(buf, sizeof(buf), "v2%08x%02u@scs2.tiktok.com",
             (idx + 1) * 2654435761u, idx);
    render_kstr(r, "buyer_email", buf);
    snprintf(buf, sizeof(buf), "%c****%u", first_names[idx][0], idx);
    render_kstr(r, "buyer_nickname", buf);
    mask_word(first_names[idx], fm);
    mask_word(last_names[idx], lm);
    mask_word("Main", street);
    RAW(r, ",\"recipient_address\":{\"name\":");
    snprintf(buf, sizeof(buf), "%s %s", fm, lm);
    render_str(r, buf);
    render_kstr(r, "first_name", fm);
    render_kstr(r, "last_name", lm);
    snprintf(buf, sizeof(buf), "(+1)%03u-***-%04u", 201 + idx * 37 % 700,
             tail);
    render_kstr(r, "phone_number", buf);
    render_kstr(r, "region_code", "US");
    render_kstr(r, "postal_code", cities[city][2]);
    snprintf(buf, sizeof(buf), "%u** %s St", 1 + idx % 9, street);
    render_kstr(r, "address_line1", buf);
    RAW(r, ",\"address_line2\":\"\",\"address_line3\":\"\","
           "\"address_line4\":\"\"");
    render_kstr(r, "address_detail", buf);
    snprintf(buf, sizeof(buf), "%u** %s St, %s, %s, %s, United States",
             1 + idx % 9, street, cities[city][0], cities[city][1],
             cities[city][2]);
    render_kstr(r, "full_address", buf);
    RAW(r, ",\"district_info\":[{\"address_level_name\":\"Country\","
           "\"address_name\":\"United States\",\"address_level\":\"L0\"},"
           "{\"address_level_name\":\"State\",\"address_name\":");
    render_str(r, cities[city][1]);
    RAW(r, ",\"address_level\":\"L1\"},{\"address_level_name\":\"City\","
           "\"address_name\":");
    render_str(r, cities[city][0]);
    RAW(r, ",\"address_level\":\"L3\"}],\"delivery_preferences\":"
           "{\"drop_off_location\":\"\"}}");
}

/*
 * A compact order's view, byte for byte what render_view writes for its
 * tree (make_order): the members in the tree's order, without the tree.
 * test_sandbox_orders checks the two against each other.
 */
static void render_compact(struct render *r, const struct corder *c)
{
    static const char *const zero[] = {
        "seller_discount", "platform_discount", "shipping_fee_seller_discount",
        "shipping_fee_platform_discount", "shipping_fee_cofunded_discount",
        "tax", "small_order_fee", "shipping_fee_tax", "product_tax",
        "retail_delivery_fee", "buyer_service_fee", "handling_fee",
        "shipping_insurance_fee", "item_insurance_fee"};
    const char *disp = c->paid ? "TO_SHIP" : "UNPAID";
    int64_t sub = 0, p = c->paid_time;
    char num[24];
    size_t i;

    id_fmt(c->id, num);
    RAW(r, "{\"id\":");
    render_str(r, num);
    render_kstr(r, "status", c->paid ? "AWAITING_SHIPMENT" : "UNPAID");
    render_kint(r, "create_time", c->create_time);
    render_kint(r, "update_time", c->paid ? p : c->create_time);
    render_buyer(r, c->buyer, c->tail);
    RAW(r, ",\"buyer_message\":\"\",\"seller_note\":\"\",\"line_items\":[");
    for (i = 0; i < c->n_lines; i++) {
        const struct cline *l = &c->lines[i];

        sub += l->price_cents;
        id_fmt(l->id, num);
        if (i)
            RAW(r, ",");
        RAW(r, "{\"id\":");
        render_str(r, num);
        render_kstr(r, "sku_id", l->sku_id);
        render_kstr(r, "product_id", l->product_id);
        render_kstr(r, "product_name", l->product_name);
        render_kstr(r, "sku_name", l->sku_name);
        render_kstr(r, "sku_image", l->sku_image);
        render_kstr(r, "seller_sku", l->seller_sku);
        render_kmoney(r, "original_price", l->price_cents);
        render_kmoney(r, "sale_price", l->price_cents);
        RAW(r, ",\"platform_discount\":\"0.00\",\"seller_discount\":\"0.00\"");
        render_kstr(r, "currency", c->currency);
        render_kstr(r, "display_status", disp);
        RAW(r, ",\"package_id\":\"\",\"package_status\":\"TO_FULFILL\","
               "\"tracking_number\":\"\",\"shipping_provider_id\":\"\","
               "\"shipping_provider_name\":\"\",\"cancel_user\":\"\","
               "\"cancel_reason\":\"\",\"sku_type\":\"NORMAL\","
               "\"is_gift\":false,\"item_tax\":[]}");
    }
    RAW(r, "],\"payment\":{\"currency\":");
    render_str(r, c->currency);
    render_kmoney(r, "sub_total", sub);
    render_kmoney(r, "shipping_fee", SHIPPING_FEE);
    render_kmoney(r, "original_shipping_fee", SHIPPING_FEE);
    render_kmoney(r, "original_total_product_price", sub);
    render_kmoney(r, "total_amount", sub + SHIPPING_FEE);
    for (i = 0; i < SG_ARRAY_SIZE(zero); i++)
        render_kmoney(r, zero[i], 0);
    RAW(r, "},\"packages\":[],\"tracking_number\":\"\","
           "\"shipping_provider\":\"\",\"shipping_provider_id\":\"\","
           "\"fulfillment_type\":\"FULFILLMENT_BY_SELLER\","
           "\"shipping_type\":\"SELLER\",\"delivery_type\":\"HOME_DELIVERY\","
           "\"delivery_option_id\":\"7091146663229654785\","
           "\"delivery_option_name\":\"Standard shipping\"");
    render_kstr(r, "warehouse_id", c->warehouse_id);
    RAW(r, ",\"is_sample_order\":false,\"is_cod\":false,"
           "\"is_on_hold_order\":false,\"is_replacement_order\":false,"
           "\"is_buyer_request_cancel\":false,\"is_exchange_order\":false,"
           "\"has_updated_recipient_address\":false,"
           "\"need_upload_invoice\":false,\"order_type\":\"NORMAL\","
           "\"commerce_platform\":\"TIKTOK_SHOP\","
           "\"payment_method_name\":\"CCDC\",\"handling_duration\":"
           "{\"days\":\"3\",\"type\":\"BUSINESS_DAY\"},"
           "\"cancellation_initiator\":\"\",\"cancel_reason\":\"\"");
    if (c->paid) {
        render_kint(r, "paid_time", p);
        render_kint(r, "shipping_due_time", p + 3 * 86400);
        render_kint(r, "rts_sla_time", p + 3 * 86400);
        render_kint(r, "tts_sla_time", p + 5 * 86400);
        render_kint(r, "collection_due_time", p + 5 * 86400);
        render_kint(r, "delivery_due_time", p + 10 * 86400);
    }
    render_raw(r, "}", 1);
}

/*
 * Get Order List: one page of the matching orders, each rendered as Get
 * Order Detail renders it (compact ones without a tree), around the
 * page's members as sg_sbx__answer_page writes them.
 */
static void orders_search(struct sg_sbx_call *c)
{
    struct render r = {.failed = false};
    struct sg_sbx__list l;
    size_t start = 0, count = 0, i, len = 0;
    char field[32], next[64] = "", *text;
    bool desc;

    if (!sg_sbx__sort_opts(c, "create_time,update_time", "create_time",
                           SG_SBX_E_ORDER_PARAM, field, &desc))
        return;
    if (orders_collect(&l, c->sbx, c->shop->id, c->body, field, desc) != 0) {
        sg_sbx_fail(c, 500, 36009003, "Internal error. Please try again.",
                    NULL);
        return;
    }
    if (!sg_sbx_page(c, l.n, 20, &start, &count, next)) {
        sg_sbx__list_release(&l);
        return;
    }
    sg_buf_init(&r.b, SIZE_MAX - 1);
    RAW(&r, "{\"orders\":[");
    for (i = start; i < start + count && i < l.n; i++) {
        const struct corder *k = compact_of(c->sbx, l.v[i].obj);

        if (i > start)
            RAW(&r, ",");
        if (k != NULL)
            render_compact(&r, k);
        else
            render_view(&r, l.v[i].obj, true);
    }
    RAW(&r, "],\"next_page_token\":");
    render_str(&r, next);
    render_kint(&r, "total_count", (int64_t)l.n);
    RAW(&r, "}");
    text = r.failed ? NULL : sg_buf_detach(&r.b, &len);
    sg_sbx_ok_text(c, text, len); /* NULL: a 500, as out of memory */
    sg_buf_release(&r.b);
    sg_sbx__list_release(&l);
}

static void orders_detail(struct sg_sbx_call *c)
{
    char *ids = sg_alloc(IDS_QUERY_MAX);
    struct render r = {.failed = false};
    json_t *orders = sg_sbx__coll_raw(c->sbx, "orders");
    size_t n = 0, found = 0, len = 0;
    char *p, *next, *text;

    sg_buf_init(&r.b, SIZE_MAX - 1);
    if (ids == NULL) {
        sg_sbx_fail(c, 500, 36009003, "Internal error. Please try again.",
                    NULL);
        return;
    }
    if (!sg_sbx_query(c, "ids", ids, IDS_QUERY_MAX) || ids[0] == '\0') {
        sg_sbx_fail(c, 200, SG_SBX_E_ORDER_PARAM,
                    "Invalid parameter. The `ids` parameter is required "
                    "(at most 50 order ids, comma-separated).", NULL);
        goto out;
    }
    render_raw(&r, "{\"orders\":[", 11);
    for (p = ids; p != NULL; p = next) {
        char *e = strchr(p, ',');

        next = e ? e + 1 : NULL;
        if (e != NULL)
            *e = '\0';
        while (*p == ' ')
            p++;
        if (*p == '\0')
            continue;
        if (++n > SG_SBX_ORDER_IDS_MAX) {
            sg_sbx_fail(c, 200, SG_SBX_E_ORDER_IDS_MAX,
                        "Invalid parameter. The `ids` parameter accepts at "
                        "most 50 order ids.", NULL);
            goto out;
        }
        {
            /* Compact orders are rendered as they are, not thawed. */
            json_t *o = json_object_get(orders, p);
            const struct corder *k = compact_of(c->sbx, o);
            const char *owner = k ? k->shop_id : sg_json_str(o, "shop_id");

            if ((k != NULL || json_is_object(o)) && owner != NULL &&
                strcmp(owner, c->shop->id) == 0) {
                if (found++)
                    render_raw(&r, ",", 1);
                if (k != NULL)
                    render_compact(&r, k);
                else
                    render_view(&r, o, true);
            }
        }
    }
    render_raw(&r, "]}", 2);
    text = r.failed ? NULL : sg_buf_detach(&r.b, &len);
    sg_sbx_ok_text(c, text, len); /* NULL: a 500, as out of memory */
out:
    sg_buf_release(&r.b);
    sg_free(ids);
}

const struct sg_sbx_endpoint sg_sbx_order_endpoints[] = {
    {.method = "POST", .module = "order", .rest = "/orders/search",
     .versions = "202309", .shop_rule = SG_SBX_SHOP_REQUIRED,
     .scope = "seller.order.info", .fn = orders_search},
    {.method = "GET", .module = "order", .rest = "/orders",
     .versions = "202309,202507", .shop_rule = SG_SBX_SHOP_REQUIRED,
     .scope = "seller.order.info", .fn = orders_detail},
    {.method = NULL},
};
