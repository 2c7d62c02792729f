/*
 * model.c - the order model without I/O: the normalisation of a
 * TikTok Shop order object (reference 1.8, "Order object") and the JSON
 * view. Channel ids stay strings; money goes through sg_money_parse so it
 * is exact in the order's currency.
 */
#include "core/sg.h"

#include "core/alloc.h"
#include "core/buf.h"
#include "core/json.h"
#include "features/catalog/catalog.h"
#include "features/orders/orders.h"

/* sg_order_release and sg_order_list_free: src/store/order_rows.c. */

int sg_oversold_policy_parse(const char *name)
{
    if (!name || strcmp(name, "notify") == 0)
        return SG_OVERSOLD_NOTIFY;
    if (strcmp(name, "backorder") == 0)
        return SG_OVERSOLD_BACKORDER;
    if (strcmp(name, "cancel") == 0)
        return SG_OVERSOLD_CANCEL;
    return -1;
}

const char *sg_oversold_policy_name(int policy)
{
    if (policy == SG_OVERSOLD_BACKORDER)
        return "backorder";
    if (policy == SG_OVERSOLD_CANCEL)
        return "cancel";
    return "notify";
}

/* ---- normalisation ---- */

/* A channel id: a string (as documented) or an integer (seen in samples). */
static int id_copy(char *out, size_t out_len, const json_t *v)
{
    if (json_is_string(v) && json_string_length(v) > 0 &&
        json_string_length(v) < out_len) {
        snprintf(out, out_len, "%s", json_string_value(v));
        for (size_t i = 0; out[i]; i++)
            if (out[i] <= ' ' || out[i] > '~' || out[i] == ',')
                return SG_EINVAL;
        return 0;
    }
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        snprintf(out, out_len, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return 0;
    }
    return SG_EINVAL;
}

/* Optional text, capped; *dst stays NULL when absent or empty. */
static int text_dup(char **dst, const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    size_t len;

    if (!json_is_string(v) || json_string_length(v) == 0)
        return 0;
    len = SG_MIN(json_string_length(v), (size_t)SG_ORD_TEXT_MAX);
    *dst = sg_strndup(json_string_value(v), len);
    return *dst ? 0 : SG_ENOMEM;
}

static void text_copy(char *out, size_t out_len, const json_t *obj,
                      const char *key)
{
    const char *s = sg_json_str(obj, key);

    snprintf(out, out_len, "%s", s ? s : "");
}

/* Money: a decimal string (documented) in currency; absent = 0. */
static int money(int64_t *out, const json_t *obj, const char *key,
                 const char *currency, const char *field, struct sg_err *err)
{
    const json_t *v = json_object_get(obj, key);
    int rc;

    *out = 0;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return sg_err_set(err, SG_EINVAL, "%s: money must be a decimal "
                          "string", field);
    rc = sg_money_parse(out, json_string_value(v), json_string_length(v),
                        currency, err);
    if (rc)
        return sg_err_set(err, rc, "%s: %s", field, err ? err->msg : "");
    return 0;
}

static int lines_from(struct sg_order *o, const json_t *items,
                      const char *location, struct sg_err *err)
{
    size_t n = json_array_size(items);

    if (!json_is_array(items) || n == 0)
        return sg_err_set(err, SG_EINVAL, "line_items: at least one needed");
    if (n > SG_ORD_LINES_MAX)
        return sg_err_set(err, SG_ELIMIT, "line_items: more than %d",
                          SG_ORD_LINES_MAX);
    o->lines = sg_calloc(n, sizeof(*o->lines));
    if (!o->lines)
        return sg_err_set(err, SG_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const json_t *li = json_array_get(items, i);
        struct sg_order_line *l = &o->lines[i];
        const char *sku;
        char field[48];
        int rc;

        o->n_lines = i + 1;
        if (!json_is_object(li) ||
            id_copy(l->channel_line_id, sizeof(l->channel_line_id),
                    json_object_get(li, "id")) != 0)
            return sg_err_set(err, SG_EINVAL, "line_items[%zu].id: missing "
                              "or malformed", i);
        if (json_object_get(li, "sku_id"))
            (void)id_copy(l->channel_sku_id, sizeof(l->channel_sku_id),
                          json_object_get(li, "sku_id"));
        /* Surge's SKU is the seller_sku; without one the line can only
         * be matched by the channel's SKU id, which reserves nothing. */
        sku = sg_json_str(li, "seller_sku");
        if (sku && sku[0] && strlen(sku) < sizeof(l->sku))
            snprintf(l->sku, sizeof(l->sku), "%s", sku);
        else if (l->channel_sku_id[0])
            snprintf(l->sku, sizeof(l->sku), "tts:%.55s", l->channel_sku_id);
        else
            return sg_err_set(err, SG_EINVAL, "line_items[%zu]: no "
                              "seller_sku or sku_id", i);
        l->qty = sg_json_int(li, "quantity", 1);
        if (l->qty <= 0 || l->qty > SG_CAT_QTY_MAX)
            return sg_err_set(err, SG_EINVAL, "line_items[%zu].quantity: "
                              "out of range", i);
        snprintf(field, sizeof(field), "line_items[%zu].sale_price", i);
        rc = money(&l->unit_price, li, "sale_price", o->currency, field,
                   err);
        if (rc)
            return rc;
        if (text_dup(&l->product_name, li, "product_name"))
            return sg_err_set(err, SG_ENOMEM, "out of memory");
        text_copy(l->status, sizeof(l->status), li, "display_status");
        if (json_object_get(li, "package_id"))
            (void)id_copy(l->package_id, sizeof(l->package_id),
                          json_object_get(li, "package_id"));
        snprintf(l->location, sizeof(l->location), "%s", location);
    }
    return 0;
}

static int packages_from(struct sg_order *o, const json_t *pkgs)
{
    struct sg_buf b;
    bool had;
    size_t i;
    json_t *p;
    int rc = 0;

    if (!json_is_array(pkgs) || json_array_size(pkgs) == 0)
        return 0;
    sg_buf_init(&b, 4096);
    json_array_foreach(pkgs, i, p) {
        char id[SG_ORD_ID_MAX + 1];
        size_t len = b.len;

        if (id_copy(id, sizeof(id), json_object_get(p, "id")) != 0)
            continue;
        rc = b.len ? sg_buf_appends(&b, ",") : 0;
        if (!rc)
            rc = sg_buf_appends(&b, id);
        if (rc == SG_ELIMIT) {
            /* More than fits: keep the ids that do, whole. */
            b.len = len;
            if (b.data)
                b.data[len] = '\0';
            rc = 0;
            break;
        }
        if (rc) {
            /* Out of memory: an error, not a shorter list. */
            sg_buf_release(&b);
            return rc;
        }
    }
    had = b.len > 0;
    if (had)
        o->package_ids = sg_buf_detach(&b, NULL);
    sg_buf_release(&b);
    return had && !o->package_ids ? SG_ENOMEM : 0;
}

int sg_order_from_tts(struct sg_order *out, const json_t *j,
                      int64_t tenant_id, const char *shop_id,
                      const char *location, struct sg_err *err)
{
    const json_t *pay, *addr;
    const char *cur, *st;
    int rc;

    memset(out, 0, sizeof(*out));
    out->tenant_id = tenant_id;
    snprintf(out->channel, sizeof(out->channel), "tiktok_shop");
    snprintf(out->shop_id, sizeof(out->shop_id), "%s", shop_id);
    if (!json_is_object(j))
        return sg_err_set(err, SG_EINVAL, "order: not an object");
    if (id_copy(out->channel_order_id, sizeof(out->channel_order_id),
                json_object_get(j, "id")) != 0)
        return sg_err_set(err, SG_EINVAL, "id: missing or malformed");
    st = sg_json_str(j, "status");
    out->status = sg_order_status_parse(st);
    if (out->status == SG_ORD_UNKNOWN)
        return sg_err_set(err, SG_EINVAL, "status: unknown value %.40s",
                          st ? st : "(none)");
    out->create_time = sg_json_int(j, "create_time", 0);
    out->update_time = sg_json_int(j, "update_time", 0);
    if (out->update_time <= 0)
        return sg_err_set(err, SG_EINVAL, "update_time: missing");
    pay = json_object_get(j, "payment");
    cur = sg_json_str(pay, "currency");
    if (!cur || sg_currency_digits(cur) < 0)
        return sg_err_set(err, SG_EINVAL, "payment.currency: missing or not "
                          "ISO 4217");
    snprintf(out->currency, sizeof(out->currency), "%s", cur);
    rc = money(&out->subtotal, pay, "sub_total", cur, "payment.sub_total",
               err);
    if (!rc)
        rc = money(&out->shipping_fee, pay, "shipping_fee", cur,
                   "payment.shipping_fee", err);
    if (!rc)
        rc = money(&out->tax, pay, "tax", cur, "payment.tax", err);
    if (!rc)
        rc = money(&out->total, pay, "total_amount", cur,
                   "payment.total_amount", err);
    if (rc)
        return rc;
    if (json_object_get(j, "user_id"))
        (void)id_copy(out->buyer_user_id, sizeof(out->buyer_user_id),
                      json_object_get(j, "user_id"));
    /* Buyer data arrives masked; it is kept as the channel sent it. */
    addr = json_object_get(j, "recipient_address");
    if (text_dup(&out->buyer_email, j, "buyer_email") ||
        text_dup(&out->buyer_nickname, j, "buyer_nickname") ||
        text_dup(&out->recipient_name, addr, "name") ||
        text_dup(&out->recipient_phone, addr, "phone_number") ||
        text_dup(&out->address, addr, "full_address") ||
        packages_from(out, json_object_get(j, "packages")))
        return sg_err_set(err, SG_ENOMEM, "out of memory");
    text_copy(out->region, sizeof(out->region), addr, "region_code");
    text_copy(out->postal_code, sizeof(out->postal_code), addr,
              "postal_code");
    return lines_from(out, json_object_get(j, "line_items"), location, err);
}

/* ---- JSON view ---- */

static json_t *money_json(int64_t minor, const char *currency)
{
    char buf[40];

    sg_money_format(minor, currency, buf, sizeof(buf));
    return json_string(buf);
}

json_t *sg_order_to_json(const struct sg_order *o, bool with_lines)
{
    unsigned long mark = sg_json_alloc_failures();
    json_t *j = json_object(), *lines;

    if (!j)
        return NULL;
    json_object_set_new(j, "id", json_integer(o->id));
    json_object_set_new(j, "channel", json_string(o->channel));
    json_object_set_new(j, "shop_id", json_string(o->shop_id));
    json_object_set_new(j, "channel_order_id",
                        json_string(o->channel_order_id));
    json_object_set_new(j, "status",
                        json_string(sg_order_status_name(o->status)));
    json_object_set_new(j, "create_time", json_integer(o->create_time));
    json_object_set_new(j, "update_time", json_integer(o->update_time));
    json_object_set_new(j, "currency", json_string(o->currency));
    json_object_set_new(j, "subtotal", money_json(o->subtotal, o->currency));
    json_object_set_new(j, "shipping_fee",
                        money_json(o->shipping_fee, o->currency));
    json_object_set_new(j, "tax", money_json(o->tax, o->currency));
    json_object_set_new(j, "total", money_json(o->total, o->currency));
    json_object_set_new(j, "buyer",
                        json_pack("{s:s,s:s?,s:s?}", "user_id",
                                  o->buyer_user_id, "email", o->buyer_email,
                                  "nickname", o->buyer_nickname));
    json_object_set_new(j, "recipient",
                        json_pack("{s:s?,s:s?,s:s?,s:s,s:s}", "name",
                                  o->recipient_name, "phone",
                                  o->recipient_phone, "address", o->address,
                                  "region", o->region, "postal_code",
                                  o->postal_code));
    json_object_set_new(j, "package_ids",
                        o->package_ids ? json_string(o->package_ids)
                                       : json_null());
    json_object_set_new(j, "oversold", json_boolean(o->oversold));
    json_object_set_new(j, "oversold_action",
                        json_string(o->oversold_action));
    json_object_set_new(j, "version", json_integer(o->version));
    json_object_set_new(j, "created_at", json_integer(o->created_at));
    json_object_set_new(j, "updated_at", json_integer(o->updated_at));
    if (!with_lines)
        return sg_json_built(j, mark);
    lines = json_array();
    for (size_t i = 0; lines && i < o->n_lines; i++) {
        const struct sg_order_line *l = &o->lines[i];

        json_array_append_new(
            lines,
            json_pack("{s:I,s:s,s:s,s:s,s:s?,s:I,s:o,s:s,s:s?,s:s,s:s}", "id",
                      (json_int_t)l->id, "channel_line_id",
                      l->channel_line_id, "channel_sku_id", l->channel_sku_id,
                      "sku", l->sku, "product_name", l->product_name, "qty",
                      (json_int_t)l->qty, "unit_price",
                      money_json(l->unit_price, o->currency), "status",
                      l->status, "package_id",
                      l->package_id[0] ? l->package_id : NULL, "location",
                      l->location, "inventory", sg_line_inv_name(l->inv)));
    }
    json_object_set_new(j, "lines", lines ? lines : json_null());
    /* A member a failed allocation left out must not pass for data. */
    return sg_json_built(j, mark);
}
