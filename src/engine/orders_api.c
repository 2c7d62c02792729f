/*
 * orders_api.c - the orders admin API: GET /api/v1/orders (filters
 * status, oversold, channel; cursor pagination by id with after/limit)
 * and GET /api/v1/orders/{id} (with lines and what each holds of the
 * inventory). Read-only keys may read; another tenant's order is 404.
 */
#include "engine/internal.h"
#include "core/alloc.h"
#include "features/orders/orders.h"

#include <errno.h>

#define ORDERS_PAGE_MAX 200

/* A decimal query value in [lo, hi], or def when absent. */
static bool query_num(struct sg_http_req *r, const char *name, int64_t def,
                      int64_t lo, int64_t hi, int64_t *out)
{
    char buf[24], *end = NULL;
    long len = sg_http_req_query_get(r, name, buf, sizeof(buf));
    long long v;

    *out = def;
    if (len == -1)
        return true;
    if (len > 0 && buf[0] >= '0' && buf[0] <= '9') {
        errno = 0;
        v = strtoll(buf, &end, 10);
        if (errno == 0 && end && *end == '\0' && v >= lo && v <= hi) {
            *out = (int64_t)v;
            return true;
        }
    }
    sg_http_reply_error(r, 400, "invalid_field",
                        "query parameter out of range or not a number",
                        name);
    return false;
}

static void h_list(struct sg_http_req *r, void *ctx)
{
    struct sg_engine *e = ctx;
    struct sg_order_filter f = {.oversold = -1};
    struct sg_order *os = NULL;
    struct sg_caller who;
    struct sg_err err;
    char status[32], channel[32], over[8];
    int64_t after, limit;
    size_t n = 0;
    json_t *arr, *doc;

    if (!sg_engine__auth(e, r, false, &who))
        return;
    if (!query_num(r, "after", 0, 0, INT64_MAX, &after) ||
        !query_num(r, "limit", 50, 1, ORDERS_PAGE_MAX, &limit))
        return;
    if (sg_http_req_query_get(r, "status", status, sizeof(status)) > 0) {
        f.status = sg_order_status_parse(status);
        if (f.status == SG_ORD_UNKNOWN) {
            sg_http_reply_error(r, 400, "invalid_field",
                                "status: not a TikTok Shop order status",
                                "status");
            return;
        }
    }
    if (sg_http_req_query_get(r, "oversold", over, sizeof(over)) > 0) {
        if (strcmp(over, "true") == 0)
            f.oversold = 1;
        else if (strcmp(over, "false") == 0)
            f.oversold = 0;
        else {
            sg_http_reply_error(r, 400, "invalid_field",
                                "oversold: true or false", "oversold");
            return;
        }
    }
    if (sg_http_req_query_get(r, "channel", channel, sizeof(channel)) > 0)
        f.channel = channel;
    f.after_id = after;
    f.limit = (size_t)limit;
    sg_err_init(&err);
    if (sg_orders_list(e->store, who.tenant_id, &f, &os, &n, &err) != 0) {
        sg_http_reply_error(r, 503, "storage_unavailable", err.msg, NULL);
        return;
    }
    arr = json_array();
    for (size_t i = 0; arr && i < n; i++)
        json_array_append_new(arr, sg_order_to_json(&os[i], false));
    doc = json_pack("{s:o}", "orders", arr ? arr : json_array());
    if (doc && n == (size_t)limit)
        json_object_set_new(doc, "next_after", json_integer(os[n - 1].id));
    sg_order_list_free(os, n);
    sg_http_reply_json(r, 200, doc);
}

static void h_get(struct sg_http_req *r, void *ctx)
{
    struct sg_engine *e = ctx;
    struct sg_order o;
    struct sg_caller who;
    struct sg_err err;
    size_t len;
    const char *p;
    int64_t id = 0;
    int rc;

    if (!sg_engine__auth(e, r, false, &who))
        return;
    p = sg_http_req_param(r, "id", &len);
    for (size_t i = 0; p && i < len && len <= 18; i++) {
        if (p[i] < '0' || p[i] > '9') {
            id = 0;
            break;
        }
        id = id * 10 + (p[i] - '0');
    }
    if (id <= 0) {
        sg_http_reply_error(r, 400, "invalid_id",
                            "id must be a positive integer", "id");
        return;
    }
    sg_err_init(&err);
    rc = sg_orders_get(e->store, who.tenant_id, id, &o, &err);
    if (rc == SG_ENOTFOUND)
        sg_http_reply_error(r, 404, "not_found", "no such order", NULL);
    else if (rc)
        sg_http_reply_error(r, 503, "storage_unavailable", err.msg, NULL);
    else
        sg_http_reply_json(r, 200, sg_order_to_json(&o, true));
    sg_order_release(&o);
}

void sg_engine__register_orders(struct sg_engine *e)
{
    sg_http_route(e->http, "GET", "/api/v1/orders", h_list, e);
    sg_http_route(e->http, "GET", "/api/v1/orders/{id}", h_get, e);
}
