/*
 * returns.c - the emulator's after-sales: seller cancellations, buyer
 * cancellation requests and their approval or rejection, buyer returns
 * (refund only, return and refund, replacement) and the seller's
 * decisions, plus buyer messages for the traffic generator.
 *
 * Invariant: a write that carries an idempotency_key answers a repeat of
 * the same key on the same object with the first answer and changes
 * nothing (reference 1.7, 8.8); only successful answers are remembered.
 */
#include "core/sg.h"
#include "core/alloc.h"
#include "core/json.h"
#include "sandbox/sandbox.h"
#include "sandbox/internal.h"
#include "sandbox/tiktok_shop/shop_internal.h"

#define NEXT_ACTION_S (2 * 86400)

/* ---- shared pieces ---- */

static int64_t line_price(const json_t *line)
{
    int64_t cents = 0;

    if (!sg_sbx__money_parse(sg_json_str(line, "sale_price"), &cents))
        cents = 0;
    return cents;
}

static json_t *refund_amount(const char *currency, int64_t sub,
                             int64_t ship)
{
    json_t *r = json_object();
    char buf[32];

    sg_sbx__set_str(r, "currency", currency);
    sg_sbx__money_fmt(sub + ship, buf);
    sg_sbx__set_str(r, "refund_total", buf);
    sg_sbx__money_fmt(sub, buf);
    sg_sbx__set_str(r, "refund_subtotal", buf);
    sg_sbx__money_fmt(ship, buf);
    sg_sbx__set_str(r, "refund_shipping_fee", buf);
    sg_sbx__set_str(r, "refund_tax", "0.00");
    sg_sbx__set_str(r, "retail_delivery_fee", "0.00");
    sg_sbx__set_str(r, "buyer_service_fee", "0.00");
    return r;
}

static const char *currency_of(const json_t *order)
{
    const char *c = sg_json_str(json_object_get(order, "payment"),
                                "currency");

    return c ? c : "USD";
}

static json_t *next_action(const char *action, int64_t deadline)
{
    json_t *arr = json_array(), *a;

    if (action == NULL)
        return arr;
    a = json_object();
    sg_sbx__set_str(a, "action", action);
    sg_sbx__set_int(a, "deadline", deadline);
    json_array_append_new(arr, a);
    return arr;
}

/* Item lines (cancel_line_items / return_line_items) for line ids. */
static json_t *item_lines(struct sg_sbx *s, json_t *order,
                          const json_t *line_ids, const char *id_key,
                          int64_t *sub_out)
{
    json_t *arr = json_array(), *lid;
    size_t i;

    *sub_out = 0;
    json_array_foreach(line_ids, i, lid) {
        json_t *line = sg_sbx__order_line(order, json_string_value(lid));
        json_t *e;
        char id[24];
        int64_t p;

        if (line == NULL)
            continue;
        p = line_price(line);
        *sub_out += p;
        e = json_object();
        sg_sbx_new_id(s, id);
        sg_sbx__set_str(e, id_key, id);
        sg_sbx__set_str(e, "order_line_item_id", sg_json_str(line, "id"));
        sg_sbx__set_str(e, "sku_id", sg_json_str(line, "sku_id"));
        sg_sbx__set_str(e, "sku_name", sg_json_str(line, "sku_name"));
        sg_sbx__set_str(e, "product_name", sg_json_str(line, "product_name"));
        sg_sbx__set_str(e, "seller_sku", sg_json_str(line, "seller_sku"));
        json_object_set_new(e, "refund_amount",
                            refund_amount(currency_of(order), p, 0));
        json_array_append_new(arr, e);
    }
    return arr;
}

static bool all_open_lines(const json_t *order, const json_t *ids)
{
    size_t i;
    json_t *line;

    json_array_foreach(json_object_get(order, "line_items"), i, line) {
        if (!sg_sbx__line_cancelled(line) &&
            !sg_sbx__strarr_has(ids, sg_json_str(line, "id")))
            return false;
    }
    return true;
}

static bool status_in(const char *st, const char *const *set, size_t n)
{
    size_t i;

    for (i = 0; st != NULL && i < n; i++)
        if (strcmp(st, set[i]) == 0)
            return true;
    return false;
}

/* ---- cancellations ---- */

static void cancel_emit(struct sg_sbx *s, json_t *cx)
{
    json_t *d = json_object();

    sg_sbx__set_str(d, "order_id", sg_json_str(cx, "order_id"));
    sg_sbx__set_str(d, "cancellations_id", sg_json_str(cx, "cancel_id"));
    sg_sbx__set_str(d, "cancel_status", sg_json_str(cx, "cancel_status"));
    sg_sbx__set_int(d, "update_time", sg_json_int(cx, "update_time", 0));
    sg_sbx_emit(s, sg_json_str(cx, "shop_id"), SG_SBX_WH_CANCEL, d);
    sg_sbx_dirty(s);
}

static void cancel_set(struct sg_sbx *s, json_t *cx, const char *status)
{
    sg_sbx__set_str(cx, "cancel_status", status);
    sg_sbx__set_int(cx, "update_time", sg_sbx_now_s(s));
    json_object_set_new(cx, "seller_next_action_response",
                        next_action(NULL, 0));
    cancel_emit(s, cx);
}

static void task_cancel_complete(struct sg_sbx *s, json_t *arg)
{
    json_t *cx = sg_sbx__get(s, "cancellations", sg_json_str(arg, "id"),
                             NULL);
    const char *st = cx ? sg_json_str(cx, "cancel_status") : NULL;

    if (st != NULL && strcmp(st, "CANCELLATION_REQUEST_SUCCESS") == 0)
        cancel_set(s, cx, "CANCELLATION_REQUEST_COMPLETE");
}

static void schedule_complete(struct sg_sbx *s, const char *id,
                              sg_sbx_task_fn fn)
{
    json_t *arg = json_object();

    sg_sbx__set_str(arg, "id", id);
    sg_sbx_schedule(s, sg_sbx_now_ms(s) +
                           sg_sbx__ext(s)->timing.refund_s * 1000,
                    fn, arg);
}

static json_t *cancel_new(struct sg_sbx *s, json_t *order,
                          const json_t *line_ids, const char *role,
                          const char *reason)
{
    json_t *cx = json_object(), *items, *priv = json_object();
    int64_t now = sg_sbx_now_s(s), sub = 0;
    bool whole = all_open_lines(order, line_ids);
    char id[24];

    sg_sbx_new_id(s, id);
    sg_sbx__set_str(cx, "cancel_id", id);
    sg_sbx__set_str(cx, "shop_id", sg_json_str(order, "shop_id"));
    sg_sbx__set_str(cx, "order_id", sg_json_str(order, "id"));
    sg_sbx__set_str(cx, "cancel_type", strcmp(role, "BUYER") == 0
                                           ? "BUYER_CANCEL"
                                           : "CANCEL");
    sg_sbx__set_str(cx, "role", role);
    sg_sbx__set_str(cx, "cancel_reason", reason);
    sg_sbx__set_str(cx, "cancel_reason_text", reason);
    sg_sbx__set_int(cx, "create_time", now);
    sg_sbx__set_int(cx, "update_time", now);
    items = item_lines(s, order, line_ids, "cancel_line_item_id", &sub);
    json_object_set_new(cx, "cancel_line_items", items);
    json_object_set_new(
        cx, "refund_amount",
        refund_amount(currency_of(order), sub,
                      whole ? 599 : 0));
    json_object_set_new(priv, "line_ids", json_deep_copy(line_ids));
    json_object_set_new(cx, "_sbx", priv);
    sg_sbx__set_str(cx, "buyer_user_id", sg_json_str(order, "user_id"));
    json_object_set_new(sg_sbx_coll(s, "cancellations"), id, cx);
    return cx;
}

/* Open, unshipped line ids of order (or of the ids given); NULL if one
 * given id is not open and unshipped. */
static json_t *cancellable_lines(struct sg_sbx *s, json_t *order,
                                 const json_t *want)
{
    json_t *out = json_array(), *line;
    size_t i;

    if (json_array_size(want) > 0) {
        json_array_foreach(want, i, line) {
            json_t *l = sg_sbx__order_line(order, json_string_value(line));

            if (l == NULL || sg_sbx__line_cancelled(l) ||
                sg_sbx__line_stage(s, l) > 0) {
                json_decref(out);
                return NULL;
            }
            json_array_append(out, line);
        }
        return out;
    }
    json_array_foreach(json_object_get(order, "line_items"), i, line) {
        if (!sg_sbx__line_cancelled(line) && sg_sbx__line_stage(s, line) == 0)
            json_array_append_new(out, json_string(sg_json_str(line, "id")));
    }
    return out;
}

/* skus [{sku_id, quantity}] to open unshipped line ids. */
static json_t *lines_for_skus(struct sg_sbx *s, json_t *order,
                              const json_t *skus)
{
    json_t *out = json_array(), *sk, *line;
    size_t i, j;

    json_array_foreach(skus, i, sk) {
        const char *sku = sg_json_str(sk, "sku_id");
        int64_t q = sg_json_int(sk, "quantity", 1);

        json_array_foreach(json_object_get(order, "line_items"), j, line) {
            const char *lid = sg_json_str(line, "id");

            if (q <= 0)
                break;
            if (sku == NULL || sg_json_str(line, "sku_id") == NULL ||
                strcmp(sg_json_str(line, "sku_id"), sku) != 0 ||
                sg_sbx__line_cancelled(line) ||
                sg_sbx__line_stage(s, line) > 0 ||
                sg_sbx__strarr_has(out, lid))
                continue;
            json_array_append_new(out, json_string(lid));
            q--;
        }
        if (q > 0) {
            json_decref(out);
            return NULL;
        }
    }
    return out;
}

static const char *const cancellable_status[] = {
    "UNPAID", "ON_HOLD", "AWAITING_SHIPMENT", "PARTIALLY_SHIPPING"};

static void cancel_order(struct sg_sbx_call *c)
{
    json_t *order = sg_sbx__get(c->sbx, "orders",
                                sg_json_str(c->body, "order_id"),
                                c->shop->id);
    const char *reason = sg_json_str(c->body, "cancel_reason");
    json_t *skus = json_object_get(c->body, "skus");
    json_t *ids, *cx, *data;

    if (order == NULL) {
        sg_sbx_fail(c, 200, SG_SBX_E_RR_NOTFOUND,
                    "The order does not exist.", NULL);
        return;
    }
    if (reason == NULL || *reason == '\0') {
        sg_sbx_fail(c, 200, SG_SBX_E_RR_PARAM,
                    "Invalid parameter. `cancel_reason` is required.", NULL);
        return;
    }
    if (!status_in(sg_json_str(order, "status"), cancellable_status,
                   SG_ARRAY_SIZE(cancellable_status))) {
        sg_sbx_fail(c, 200, SG_SBX_E_RR_SHIPPED,
                    "The order has been shipped or closed and cannot be "
                    "cancelled.", NULL);
        return;
    }
    if (json_array_size(skus) > 0)
        ids = lines_for_skus(c->sbx, order, skus);
    else
        ids = cancellable_lines(c->sbx, order,
                                json_object_get(c->body,
                                                "order_line_item_ids"));
    if (ids == NULL || json_array_size(ids) == 0) {
        json_decref(ids);
        sg_sbx_fail(c, 200, SG_SBX_E_RR_SHIPPED,
                    "The line items have been shipped or cancelled.", NULL);
        return;
    }
    cx = cancel_new(c->sbx, order, ids, "SELLER", reason);
    sg_sbx__order_cancel_lines(c->sbx, order, ids, "SELLER", reason);
    json_decref(ids);
    cancel_set(c->sbx, cx, "CANCELLATION_REQUEST_SUCCESS");
    schedule_complete(c->sbx, sg_json_str(cx, "cancel_id"),
                      task_cancel_complete);
    data = json_object();
    sg_sbx__set_str(data, "cancel_id", sg_json_str(cx, "cancel_id"));
    sg_sbx__set_str(data, "cancel_status", sg_json_str(cx, "cancel_status"));
    sg_sbx_ok(c, data);
}

int sg_sbx__buyer_cancel(struct sg_sbx *s, json_t *order, const char *reason,
                         struct sg_err *err)
{
    const char *st = sg_json_str(order, "status");
    json_t *ids, *cx;
    int64_t now = sg_sbx_now_s(s);

    if (!status_in(st, cancellable_status, 3) ||
        json_is_true(json_object_get(order, "is_buyer_request_cancel")))
        return sg_err_set(err, SG_ESTATE, "order cannot be cancelled");
    ids = cancellable_lines(s, order, NULL);
    if (ids == NULL || json_array_size(ids) == 0 ||
        !all_open_lines(order, ids)) {
        json_decref(ids);
        return sg_err_set(err, SG_ESTATE, "order has shipped lines");
    }
    cx = cancel_new(s, order, ids, "BUYER", reason);
    if (strcmp(st, "UNPAID") == 0) {
        /* Unpaid orders cancel at once, no seller decision. */
        sg_sbx__order_cancel_lines(s, order, ids, "BUYER", reason);
        cancel_set(s, cx, "CANCELLATION_REQUEST_COMPLETE");
    } else {
        sg_sbx__set_str(cx, "cancel_status",
                        "CANCELLATION_REQUEST_PENDING");
        json_object_set_new(cx, "seller_next_action_response",
                            next_action("RESPOND_CANCELLATION",
                                        now + NEXT_ACTION_S));
        json_object_set_new(order, "is_buyer_request_cancel", json_true());
        sg_sbx__set_int(order, "request_cancel_time", now);
        sg_sbx__set_int(order, "update_time", now);
        cancel_emit(s, cx);
    }
    json_decref(ids);
    return 0;
}

static bool idem_key(struct sg_sbx_call *c, bool required, char *key,
                     size_t size)
{
    key[0] = '\0';
    if (!sg_sbx_query(c, "idempotency_key", key, size))
        key[0] = '\0';
    if (strlen(key) > SG_SBX_IDEM_KEY_MAX) {
        sg_sbx_fail(c, 200, SG_SBX_E_RR_PARAM,
                    "Invalid parameter. `idempotency_key` is longer than "
                    "255 characters.", NULL);
        return false;
    }
    if (required && key[0] == '\0') {
        sg_sbx_fail(c, 200, SG_SBX_E_RR_PARAM,
                    "Invalid parameter. `idempotency_key` is required.",
                    NULL);
        return false;
    }
    return true;
}

static json_t *obj_param(struct sg_sbx_call *c, const char *coll,
                         const char *param)
{
    char id[64];
    json_t *o = NULL;

    if (sg_sbx_param(c, param, id, sizeof(id)))
        o = sg_sbx__get(c->sbx, coll, id, c->shop->id);
    if (o == NULL)
        sg_sbx_fail(c, 200, SG_SBX_E_RR_NOTFOUND,
                    strcmp(coll, "returns") == 0
                        ? "The return does not exist."
                        : "The cancellation does not exist.",
                    NULL);
    return o;
}

static void cancel_decide(struct sg_sbx_call *c, bool approve)
{
    const char *action = approve ? "approve" : "reject";
    char key[SG_SBX_IDEM_KEY_MAX + 2];
    json_t *cx, *prev, *order, *ids, *answer;
    const char *st, *reason;

    if (!idem_key(c, false, key, sizeof(key)))
        return;
    cx = obj_param(c, "cancellations", "cancel_id");
    if (cx == NULL)
        return;
    prev = sg_sbx__idem_get(cx, action, key);
    if (prev != NULL) {
        sg_sbx_ok(c, prev);
        return;
    }
    st = sg_json_str(cx, "cancel_status");
    if (st == NULL || strcmp(st, "CANCELLATION_REQUEST_PENDING") != 0) {
        sg_sbx_fail(c, 200, SG_SBX_E_RR_STATE,
                    "The cancellation is not pending a decision.", NULL);
        return;
    }
    order = sg_sbx__get(c->sbx, "orders", sg_json_str(cx, "order_id"), NULL);
    if (order != NULL) {
        json_object_set_new(order, "is_buyer_request_cancel", json_false());
        sg_sbx__set_int(order, "update_time", sg_sbx_now_s(c->sbx));
    }
    if (approve) {
        ids = json_object_get(sg_sbx__priv(cx), "line_ids");
        if (order != NULL)
            sg_sbx__order_cancel_lines(c->sbx, order, ids, "BUYER",
                                       sg_json_str(cx, "cancel_reason"));
        cancel_set(c->sbx, cx, "CANCELLATION_REQUEST_SUCCESS");
        schedule_complete(c->sbx, sg_json_str(cx, "cancel_id"),
                          task_cancel_complete);
    } else {
        reason = sg_json_str(c->body, "reject_reason");
        sg_sbx__set_str(cx, "reject_reason", reason ? reason : "");
        cancel_set(c->sbx, cx, "CANCELLATION_REQUEST_CANCEL");
    }
    answer = json_object();
    sg_sbx__idem_put(cx, action, key, answer);
    sg_sbx_ok(c, answer);
}

static void cancel_approve(struct sg_sbx_call *c)
{
    cancel_decide(c, true);
}

static void cancel_reject(struct sg_sbx_call *c)
{
    cancel_decide(c, false);
}

static bool any_in(const json_t *filter, const char *fkey, const json_t *obj,
                   const char *okey)
{
    json_t *f = json_object_get(filter, fkey);

    if (json_is_string(f))
        return strcmp(json_string_value(f), sg_json_str(obj, okey)
                                                ? sg_json_str(obj, okey)
                                                : "") == 0;
    if (json_array_size(f) == 0)
        return true;
    return sg_sbx__strarr_has(f, sg_json_str(obj, okey));
}

static bool cancel_match(const json_t *cx, const json_t *filter)
{
    if (!json_is_object(filter))
        return true;
    return any_in(filter, "cancel_ids", cx, "cancel_id") &&
           any_in(filter, "order_ids", cx, "order_id") &&
           any_in(filter, "buyer_user_ids", cx, "buyer_user_id") &&
           any_in(filter, "cancel_types", cx, "cancel_type") &&
           any_in(filter, "cancel_status", cx, "cancel_status") &&
           sg_sbx__time_match(cx, filter);
}

static json_t *plain_view(struct sg_sbx *s, const json_t *obj)
{
    SG_UNUSED(s);
    return sg_sbx__view(obj);
}

static void search(struct sg_sbx_call *c, const char *coll,
                   sg_sbx__match_fn match, const char *name)
{
    struct sg_sbx__list l;
    char field[32];
    bool desc;

    if (!sg_sbx__sort_opts(c, "create_time,update_time", "create_time",
                           SG_SBX_E_RR_PARAM, field, &desc))
        return;
    if (sg_sbx__collect(&l, sg_sbx_coll(c->sbx, coll), c->shop->id, match,
                        c->body, field, desc) != 0) {
        sg_sbx_fail(c, 500, 36009003, "Internal error. Please try again.",
                    NULL);
        return;
    }
    sg_sbx__answer_page(c, &l, name, plain_view);
    sg_sbx__list_release(&l);
}

static void cancel_search(struct sg_sbx_call *c)
{
    search(c, "cancellations", cancel_match, "cancellations");
}

/* ---- returns ---- */

static void return_record(json_t *rt, int64_t now, const char *event,
                          const char *role, const char *desc)
{
    json_t *priv = sg_sbx__priv(rt);
    json_t *recs = json_object_get(priv, "records"), *r;

    if (!json_is_array(recs)) {
        recs = json_array();
        json_object_set_new(priv, "records", recs);
    }
    r = json_object();
    sg_sbx__set_str(r, "event", event);
    sg_sbx__set_str(r, "role", role);
    sg_sbx__set_str(r, "description", desc);
    sg_sbx__set_str(r, "reason_text", "");
    sg_sbx__set_str(r, "note", "");
    json_object_set_new(r, "images", json_array());
    json_object_set_new(r, "videos", json_array());
    sg_sbx__set_int(r, "create_time", now);
    json_array_append_new(recs, r);
}

static void return_set(struct sg_sbx *s, json_t *rt, const char *status,
                       const char *next, const char *event,
                       const char *role)
{
    int64_t now = sg_sbx_now_s(s);
    json_t *d;

    sg_sbx__set_str(rt, "return_status", status);
    sg_sbx__set_int(rt, "update_time", now);
    json_object_set_new(rt, "seller_next_action_response",
                        next_action(next, now + NEXT_ACTION_S));
    return_record(rt, now, event, role, status);
    d = json_object();
    sg_sbx__set_str(d, "return_id", sg_json_str(rt, "return_id"));
    sg_sbx__set_str(d, "order_id", sg_json_str(rt, "order_id"));
    sg_sbx__set_str(d, "return_status", status);
    sg_sbx__set_str(d, "return_type", sg_json_str(rt, "return_type"));
    sg_sbx__set_int(d, "update_time", now);
    sg_sbx_emit(s, sg_json_str(rt, "shop_id"), SG_SBX_WH_RETURN, d);
    sg_sbx_dirty(s);
}

static bool return_status_is(const json_t *rt, const char *st)
{
    const char *v = sg_json_str(rt, "return_status");

    return v != NULL && strcmp(v, st) == 0;
}

static void task_return_complete(struct sg_sbx *s, json_t *arg)
{
    json_t *rt = sg_sbx__get(s, "returns", sg_json_str(arg, "id"), NULL);

    if (rt != NULL && return_status_is(rt, "RETURN_OR_REFUND_REQUEST_SUCCESS"))
        return_set(s, rt, "RETURN_OR_REFUND_REQUEST_COMPLETE", NULL,
                   "REFUND_COMPLETED", "SYSTEM");
}

static void task_buyer_ships(struct sg_sbx *s, json_t *arg)
{
    json_t *rt = sg_sbx__get(s, "returns", sg_json_str(arg, "id"), NULL);
    char buf[40];

    if (rt == NULL || !return_status_is(rt, "AWAITING_BUYER_SHIP"))
        return;
    snprintf(buf, sizeof(buf), "RT%014" PRIu64 "US",
             sg_sbx_rand(s, UINT64_C(100000000000000)));
    sg_sbx__set_str(rt, "return_tracking_number", buf);
    sg_sbx__set_str(rt, "return_provider_name", "USPS");
    sg_sbx__set_str(rt, "return_provider_id", "6617675021119438849");
    return_set(s, rt, "BUYER_SHIPPED_ITEM", "SELLER_RESPOND_RECEIVE_PACKAGE",
               "BUYER_SHIPPED_ITEM", "BUYER");
}

const struct sg_sbx_task_kind sg_sbx_return_tasks[] = {
    {.name = "cancellation.complete", .fn = task_cancel_complete},
    {.name = "return.complete", .fn = task_return_complete},
    {.name = "return.buyer_ships", .fn = task_buyer_ships},
    {.name = NULL, .fn = NULL},
};

static const char *const closed_returns[] = {
    "RETURN_OR_REFUND_REQUEST_REJECT", "REJECT_RECEIVE_PACKAGE",
    "RETURN_OR_REFUND_REQUEST_CANCEL", "RETURN_OR_REFUND_REQUEST_COMPLETE"};

int sg_sbx__buyer_return(struct sg_sbx *s, json_t *order,
                         const char *return_type, const char *reason,
                         struct sg_err *err)
{
    static const char *const done[] = {"DELIVERED", "COMPLETED"};
    json_t *returns = sg_sbx_coll(s, "returns"), *rt, *ids, *line, *priv;
    const char *key, *oid = sg_json_str(order, "id");
    int64_t now = sg_sbx_now_s(s), sub = 0;
    char id[24];
    size_t i;

    if (!status_in(sg_json_str(order, "status"), done, 2))
        return sg_err_set(err, SG_ESTATE, "order is not delivered");
    json_object_foreach(returns, key, rt) {
        const char *roid = sg_json_str(rt, "order_id");

        if (roid != NULL && strcmp(roid, oid) == 0 &&
            !status_in(sg_json_str(rt, "return_status"), closed_returns,
                       SG_ARRAY_SIZE(closed_returns)))
            return sg_err_set(err, SG_ESTATE, "order has an open return");
    }
    ids = json_array();
    json_array_foreach(json_object_get(order, "line_items"), i, line) {
        if (!sg_sbx__line_cancelled(line))
            json_array_append_new(ids, json_string(sg_json_str(line, "id")));
    }
    if (json_array_size(ids) == 0) {
        json_decref(ids);
        return sg_err_set(err, SG_ESTATE, "order has no line to return");
    }
    rt = json_object();
    sg_sbx_new_id(s, id);
    sg_sbx__set_str(rt, "return_id", id);
    sg_sbx__set_str(rt, "shop_id", sg_json_str(order, "shop_id"));
    sg_sbx__set_str(rt, "order_id", oid);
    sg_sbx__set_str(rt, "buyer_user_id", sg_json_str(order, "user_id"));
    sg_sbx__set_str(rt, "return_type", return_type);
    sg_sbx__set_str(rt, "role", "BUYER");
    sg_sbx__set_str(rt, "return_reason", reason);
    sg_sbx__set_str(rt, "return_reason_text", reason);
    sg_sbx__set_str(rt, "arbitration_status", "");
    sg_sbx__set_str(rt, "shipment_type", "PLATFORM");
    sg_sbx__set_str(rt, "handover_method", "DROP_OFF");
    sg_sbx__set_str(rt, "return_tracking_number", "");
    sg_sbx__set_str(rt, "return_method", "");
    json_object_set_new(rt, "can_buyer_keep_item", json_false());
    sg_sbx__set_int(rt, "create_time", now);
    json_object_set_new(rt, "return_line_items",
                        item_lines(s, order, ids, "return_line_item_id",
                                   &sub));
    json_object_set_new(rt, "refund_amount",
                        refund_amount(currency_of(order), sub, 0));
    priv = sg_sbx__priv(rt);
    json_object_set_new(priv, "line_ids", ids);
    json_object_set_new(returns, id, rt);
    return_set(s, rt, "RETURN_OR_REFUND_REQUEST_PENDING",
               strcmp(return_type, "REFUND") == 0 ? "SELLER_RESPOND_REFUND"
                                                  : "SELLER_RESPOND_RETURN",
               "BUYER_REQUEST_RETURN", "BUYER");
    return 0;
}

/*
 * The next return status for a seller decision, or NULL when the
 * decision does not fit the return's type and status.
 */
static const char *decide(const json_t *rt, const char *decision,
                          bool approve, const char **next_action_out)
{
    const char *type = sg_json_str(rt, "return_type");
    bool pending = return_status_is(rt, "RETURN_OR_REFUND_REQUEST_PENDING");
    bool shipped = return_status_is(rt, "BUYER_SHIPPED_ITEM");
    bool refund = type != NULL && strcmp(type, "REFUND") == 0;
    bool repl = type != NULL && strcmp(type, "REPLACEMENT") == 0;

    *next_action_out = NULL;
    if (decision == NULL)
        return NULL;
    if (approve) {
        if (pending && refund && strcmp(decision, "APPROVE_REFUND") == 0)
            return "RETURN_OR_REFUND_REQUEST_SUCCESS";
        if (pending && !refund && !repl &&
            strcmp(decision, "APPROVE_RETURN") == 0)
            return "AWAITING_BUYER_SHIP";
        if (pending && repl && strcmp(decision, "APPROVE_REPLACEMENT") == 0)
            return "AWAITING_BUYER_SHIP";
        if (shipped && strcmp(decision, "APPROVE_RECEIVED_PACKAGE") == 0)
            return "RETURN_OR_REFUND_REQUEST_SUCCESS";
        if (shipped && repl &&
            strcmp(decision, "ISSUE_REPLACEMENT_REFUND") == 0)
            return "RETURN_OR_REFUND_REQUEST_SUCCESS";
        return NULL;
    }
    if (pending && refund && strcmp(decision, "REJECT_REFUND") == 0)
        return "RETURN_OR_REFUND_REQUEST_REJECT";
    if (pending && !refund && !repl && strcmp(decision, "REJECT_RETURN") == 0)
        return "RETURN_OR_REFUND_REQUEST_REJECT";
    if (pending && repl && strcmp(decision, "REJECT_REPLACEMENT") == 0)
        return "RETURN_OR_REFUND_REQUEST_REJECT";
    if (shipped && strcmp(decision, "REJECT_RECEIVED_PACKAGE") == 0)
        return "REJECT_RECEIVE_PACKAGE";
    return NULL;
}

static void return_decide(struct sg_sbx_call *c, bool approve)
{
    const char *action = approve ? "approve" : "reject";
    const char *decision = sg_json_str(c->body, "decision");
    char key[SG_SBX_IDEM_KEY_MAX + 2];
    const char *next, *na;
    json_t *rt, *prev, *answer;
    char event[64];

    if (!idem_key(c, true, key, sizeof(key)))
        return;
    rt = obj_param(c, "returns", "return_id");
    if (rt == NULL)
        return;
    prev = sg_sbx__idem_get(rt, action, key);
    if (prev != NULL) {
        sg_sbx_ok(c, prev);
        return;
    }
    if (decision == NULL || *decision == '\0') {
        sg_sbx_fail(c, 200, SG_SBX_E_RR_PARAM,
                    "Invalid parameter. `decision` is required.", NULL);
        return;
    }
    next = decide(rt, decision, approve, &na);
    if (next == NULL) {
        sg_sbx_fail(c, 200, SG_SBX_E_RR_STATE,
                    "The decision does not fit the return's type and "
                    "status.", NULL);
        return;
    }
    if (strcmp(next, "AWAITING_BUYER_SHIP") == 0)
        na = NULL;
    snprintf(event, sizeof(event), "SELLER_%s", decision);
    if (!approve) {
        const char *r = sg_json_str(c->body, "reject_reason");

        sg_sbx__set_str(rt, "reject_reason", r ? r : "");
    }
    return_set(c->sbx, rt, next, na, event, "SELLER");
    if (strcmp(next, "AWAITING_BUYER_SHIP") == 0) {
        json_t *arg = json_object();

        sg_sbx__set_str(arg, "id", sg_json_str(rt, "return_id"));
        sg_sbx_schedule(c->sbx, sg_sbx_now_ms(c->sbx) +
                                    sg_sbx__ext(c->sbx)->timing.buyer_ship_s *
                                        1000,
                        task_buyer_ships, arg);
    } else if (strcmp(next, "RETURN_OR_REFUND_REQUEST_SUCCESS") == 0) {
        schedule_complete(c->sbx, sg_json_str(rt, "return_id"),
                          task_return_complete);
    }
    answer = json_object();
    sg_sbx__idem_put(rt, action, key, answer);
    sg_sbx_ok(c, answer);
}

static void return_approve(struct sg_sbx_call *c)
{
    return_decide(c, true);
}

static void return_reject(struct sg_sbx_call *c)
{
    return_decide(c, false);
}

static bool return_match(const json_t *rt, const json_t *filter)
{
    if (!json_is_object(filter))
        return true;
    return any_in(filter, "return_ids", rt, "return_id") &&
           any_in(filter, "order_ids", rt, "order_id") &&
           any_in(filter, "buyer_user_ids", rt, "buyer_user_id") &&
           any_in(filter, "return_types", rt, "return_type") &&
           any_in(filter, "return_status", rt, "return_status") &&
           any_in(filter, "arbitration_status", rt, "arbitration_status") &&
           sg_sbx__time_match(rt, filter);
}

static void return_search(struct sg_sbx_call *c)
{
    search(c, "returns", return_match, "return_orders");
}

static void return_records(struct sg_sbx_call *c)
{
    json_t *rt = obj_param(c, "returns", "return_id"), *data, *recs;

    if (rt == NULL)
        return;
    recs = json_object_get(sg_sbx__priv(rt), "records");
    data = json_object();
    json_object_set_new(data, "records",
                        recs ? json_deep_copy(recs) : json_array());
    sg_sbx_ok(c, data);
}

/* ---- buyer messages ---- */

/* The shop's conversation with buyer, or NULL. */
static const char *conversation_of(struct sg_sbx *s, const char *shop,
                                   const char *buyer)
{
    const char *key;
    json_t *v, *p;
    size_t i;

    json_object_foreach(sg_sbx_coll(s, "conversations"), key, v) {
        const char *vs = sg_json_str(v, "shop_id");

        if (vs == NULL || strcmp(vs, shop) != 0)
            continue;
        json_array_foreach(json_object_get(v, "participants"), i, p) {
            const char *role = sg_json_str(p, "role");
            const char *uid = sg_json_str(p, "user_id");

            if (role && uid && strcmp(role, "BUYER") == 0 &&
                strcmp(uid, buyer) == 0)
                return key;
        }
    }
    return NULL;
}

int sg_sbx__buyer_message(struct sg_sbx *s, json_t *order, const char *text,
                          struct sg_err *err)
{
    const char *shop = sg_json_str(order, "shop_id");
    const char *buyer = sg_json_str(order, "user_id");
    json_t *msg = NULL;
    int rc;

    if (shop == NULL || buyer == NULL)
        return sg_err_set(err, SG_EINVAL, "order without shop or buyer");
    /* The customer-service module owns the conversation format. */
    rc = sg_sbx__cs_buyer_message(s, conversation_of(s, shop, buyer), buyer,
                                  text, &msg, err);
    json_decref(msg);
    return rc;
}

#define RR(m, r, f)                                                            \
    {.method = m, .module = "return_refund", .rest = r,                      \
     .versions = "202309", .shop_rule = SG_SBX_SHOP_REQUIRED,                \
     .scope = "seller.return_refund.basic", .fn = f}

const struct sg_sbx_endpoint sg_sbx_return_endpoints[] = {
    RR("POST", "/cancellations", cancel_order),
    RR("POST", "/cancellations/search", cancel_search),
    RR("POST", "/cancellations/{cancel_id}/approve", cancel_approve),
    RR("POST", "/cancellations/{cancel_id}/reject", cancel_reject),
    RR("POST", "/returns/search", return_search),
    RR("POST", "/returns/{return_id}/approve", return_approve),
    RR("POST", "/returns/{return_id}/reject", return_reject),
    RR("GET", "/returns/{return_id}/records", return_records),
    {.method = NULL},
};
