/*
 * shipments_api.c - fulfilment, cancellations, returns and viral mode in
 * the daemon: the admin routes (POST /api/v1/shipments, seller cancel,
 * approve/reject of cancellations and returns, lists, viral buffers), the
 * inbox handling of webhooks 11 and 12, the export hook run in every
 * order's write, and the tick on the TikTok Shop worker thread (the only
 * one that unseals tokens) that carries pending shipments and decisions
 * to the channel, reads returns and measures sell-through.
 *
 * Every API write answers after its commit; the channel calls happen on
 * the worker afterwards and record their outcome in another write, so a
 * crash between the two only repeats a call, and each call is idempotent
 * (the tracking number ships once, decisions carry idempotency keys).
 */
#include "engine/internal.h"
#include "connectors/tiktok_shop/fulfillment.h"
#include "core/alloc.h"
#include "core/crypto.h"
#include "core/json.h"
#include "core/log.h"
#include "engine/tiktok_shop.h"
#include "features/orders/fulfil.h"

#include <errno.h>

#define WORK_MAX          20  /* decisions or returns per tick */
#define SHIP_PER_TICK     10  /* shipments per tick */
#define IDLE_MS           1000 /* nothing pending: a kick wakes us */
#define PACE_SHIP         "ship"
#define PACE_DECIDE       "decide"
#define PACE_RETURN       "return_detail"
#define SHIP_ATTEMPTS_MAX 10  /* failed channel calls before "failed" */
#define LINE_IDS_MAX      SG_TTS_SHIP_LINES_MAX

/* ---- in the order's write (orders_sync.c) ---- */

int sg_engine__fulfil_after_apply(struct sg_engine *e, struct sg_store_tx *tx,
                                  const struct sg_order *o, struct sg_err *err)
{
    struct sg_fulfil_opts opts = {
        .warehouse_url = e->cfg->fulfilment.warehouse_url,
        .notify_url = e->cfg->notify.url,
        .csv_dir = e->cfg->fulfilment.csv_dir,
        .attempts_max = (int)e->cfg->jobs.attempts_max,
    };

    return sg_fulfil_after_apply(tx, o, &opts, err);
}

/* ---- inbox: webhooks 11 and 12 ---- */

static void copy_id(char *out, size_t len, const json_t *v)
{
    if (json_is_string(v) && json_string_length(v) < len)
        snprintf(out, len, "%s", json_string_value(v));
    else if (json_is_integer(v))
        snprintf(out, len, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    else
        out[0] = '\0';
}

int sg_engine__fulfil_inbox(struct sg_engine *e, struct sg_store_tx *tx,
                            const struct sg_inbox *row, const json_t *j,
                            struct sg_err *err)
{
    struct sg_aftersale a;
    json_t *data;
    int64_t type;
    const char *st;
    int rc = 0;

    type = sg_json_int(j, "type", 0);
    data = json_object_get(j, "data");
    if (type != 11 && type != 12)
        goto out;
    memset(&a, 0, sizeof(a));
    a.tenant_id = row->tenant_id;
    snprintf(a.kind, sizeof(a.kind), "%s", type == 11 ? "cancel" : "return");
    snprintf(a.channel, sizeof(a.channel), "%s", SG_TTS_PLATFORM);
    copy_id(a.shop_id, sizeof(a.shop_id), json_object_get(j, "shop_id"));
    copy_id(a.channel_order_id, sizeof(a.channel_order_id),
            json_object_get(data, "order_id"));
    copy_id(a.channel_id, sizeof(a.channel_id),
            json_object_get(data, type == 11 ? "cancellations_id"
                                             : "return_id"));
    if (type == 11 && !a.channel_id[0])
        copy_id(a.channel_id, sizeof(a.channel_id),
                json_object_get(data, "cancel_id"));
    st = sg_json_str(data, type == 11 ? "cancel_status" : "return_status");
    snprintf(a.status, sizeof(a.status), "%s", st ? st : "");
    st = sg_json_str(data, "return_type");
    snprintf(a.type, sizeof(a.type), "%s", st ? st : "");
    a.update_time = sg_json_int(data, "update_time", 0);
    if (!a.channel_id[0] || !a.channel_order_id[0] || !a.shop_id[0])
        goto out; /* kept, ignored: nothing to name it by */
    rc = sg_aftersale_event(tx, &a, e->cfg->returns.auto_approve_cancellations,
                            err);
    sg_aftersale_release(&a);
out:
    return rc;
}

/* ---- the worker tick ---- */

struct shop_tok {
    struct sg_channel_shop shop;
    struct sg_channel_conn conn;
    char *access;
};

static void tok_release(struct shop_tok *t)
{
    if (t->access) {
        memset(t->access, 0, strlen(t->access));
        sg_free(t->access);
    }
    sg_channel_conn_release(&t->conn);
    memset(t, 0, sizeof(*t));
}

static int tok_open(struct sg_engine *e, const unsigned char *key,
                    const char *shop_id, struct shop_tok *t,
                    struct sg_err *err)
{
    size_t len = 0;
    int rc;

    memset(t, 0, sizeof(*t));
    rc = sg_channels_shop_get(e->store, SG_TTS_PLATFORM, shop_id, &t->shop,
                              err);
    if (!rc)
        rc = sg_channels_conn_get(e->store, t->shop.tenant_id,
                                  t->shop.connection_id, &t->conn, err);
    if (!rc && strcmp(t->conn.status, "active") != 0)
        rc = sg_err_set(err, SG_ESTATE, "connection is %s", t->conn.status);
    if (!rc && sg_unseal(key, t->conn.access_sealed, &t->access, &len) != 0)
        rc = sg_err_set(err, SG_EAUTH, "cannot unseal the access token");
    return rc;
}

/* After 105002 (SG_ESTALE): refresh the token once. */
static int tok_refresh(struct sg_engine *e, struct sg_connector *c,
                       const unsigned char *key, struct shop_tok *t,
                       struct sg_err *err)
{
    char id[sizeof(t->shop.shop_id)];
    int rc;

    snprintf(id, sizeof(id), "%s", t->shop.shop_id);
    rc = sg_tts_refresh_conn(e->store, c, key, &t->conn, err);
    tok_release(t);
    return rc ? rc : tok_open(e, key, id, t, err);
}

struct ship_done {
    int64_t id, tenant_id;
    const char *status, *package_id, *error;
    const char *shop_id, *channel_order_id;
    char pkg[65];
    char msg[256];
};

static int write_ship_one(struct sg_store_tx *tx, const struct ship_done *d,
                          struct sg_err *err)
{
    int rc = sg_shipment_result(tx, d->id, d->status, d->package_id,
                                d->error, err);

    /* Read the order again: its status and lines follow the shipment. */
    if (!rc && strcmp(d->status, "shipped") == 0)
        rc = sg_orders_fetch_mark(tx, d->tenant_id, SG_TTS_PLATFORM,
                                  d->shop_id, d->channel_order_id, 0,
                                  "shipment", err);
    return rc;
}

struct ship_batch {
    struct ship_done *d;
    size_t n;
};

/* The outcomes of one tick's shipments, in one transaction. */
static int write_ship_done(struct sg_store_tx *tx, void *arg,
                           struct sg_err *err)
{
    struct ship_batch *b = arg;
    int rc = 0;

    for (size_t i = 0; i < b->n && !rc; i++)
        rc = write_ship_one(tx, &b->d[i], err);
    return rc;
}

static size_t split_ids(char *list, const char **ids, size_t max)
{
    size_t n = 0;

    for (char *p = list; p && *p && n < max;) {
        char *c = strchr(p, ',');

        if (c)
            *c = '\0';
        if (*p)
            ids[n++] = p;
        p = c ? c + 1 : NULL;
    }
    return n;
}

/* Is channel line id in the comma-separated list? */
static bool id_listed(const char *list, const char *id)
{
    size_t n = strlen(id);

    for (const char *p = list; p && *p;) {
        const char *c = strchr(p, ',');
        size_t len = c ? (size_t)(c - p) : strlen(p);

        if (len == n && strncmp(p, id, n) == 0)
            return true;
        p = c ? c + 1 : NULL;
    }
    return false;
}

/*
 * Did an earlier try of s reach the channel? Ship and mark-as-shipped
 * carry no idempotency key, and a 5xx or a connection lost after the
 * request was sent may hide a call that was applied; repeating it would
 * be refused (the lines are shipped) and the shipment wrongly failed. So
 * a retry reads the order back first (as DESIGN asks of mutations without
 * a key): *done when every line of s carries its tracking number, with
 * the package they went in.
 */
static int read_back(struct sg_engine *e, struct sg_connector *c,
                     const unsigned char *key, struct shop_tok *t,
                     const struct sg_shipment *s, char pkg[65], bool *done,
                     struct sg_err *err)
{
    const char *ids[1] = {s->channel_order_id};
    json_t *arr = NULL, *o, *l;
    size_t i, j, lines = 0, tracked = 0;
    int rc;

    *done = false;
    rc = c->ops->get_orders(c, t->access, t->shop.cipher, ids, 1, &arr, err);
    if (rc == SG_ESTALE) {
        sg_err_init(err);
        rc = tok_refresh(e, c, key, t, err);
        if (!rc)
            rc = c->ops->get_orders(c, t->access, t->shop.cipher, ids, 1,
                                    &arr, err);
    }
    if (rc)
        return rc;
    json_array_foreach(arr, i, o) {
        const char *id = sg_json_str(o, "id");

        if (!id || strcmp(id, s->channel_order_id) != 0)
            continue;
        json_array_foreach(json_object_get(o, "line_items"), j, l) {
            const char *lid = sg_json_str(l, "id");
            const char *lpkg = sg_json_str(l, "package_id");
            const char *trk = sg_json_str(l, "tracking_number");
            bool mine = s->package_id[0]
                            ? lpkg && strcmp(lpkg, s->package_id) == 0
                            : lid && id_listed(s->line_ids, lid);

            if (!mine)
                continue;
            lines++;
            if (trk && strcmp(trk, s->tracking_number) == 0) {
                tracked++;
                if (!pkg[0] && lpkg && lpkg[0])
                    snprintf(pkg, 65, "%s", lpkg);
            }
        }
    }
    sg_json_arena_free(arr);
    *done = lines > 0 && tracked == lines;
    return 0;
}

/*
 * Ship s through the channel with t (the shop's token, opened by the
 * caller and refreshed here after a 105002); the outcome goes to d, for
 * the caller's write. Returns 0, or how long to wait before retrying.
 */
static int64_t ship_one(struct sg_engine *e, struct sg_connector *c,
                        const unsigned char *key, struct shop_tok *t,
                        struct sg_shipment *s, struct ship_done *d)
{
    static const char *ids[LINE_IDS_MAX];
    struct sg_conn_shipment cs;
    struct sg_err err;
    int64_t wait = 0;
    int rc;

    d->id = s->id;
    d->tenant_id = s->tenant_id;
    d->shop_id = s->shop_id;
    d->channel_order_id = s->channel_order_id;
    d->pkg[0] = '\0';
    sg_err_init(&err);
    memset(&cs, 0, sizeof(cs));
    if (s->attempts > 0) {
        bool done = false;

        rc = read_back(e, c, key, t, s, d->pkg, &done, &err);
        if (!rc && done) {
            d->status = "shipped";
            d->package_id = d->pkg;
            d->error = "";
            sg_log(SG_LOG_INFO, "fulfil", "msg=\"shipment found shipped on "
                   "read-back\" shipment=%" PRId64 " order=%s package=%s",
                   s->id, s->channel_order_id, d->pkg);
            return 0;
        }
        d->pkg[0] = '\0';
        if (rc) {
            err.retryable = true; /* nothing was sent: try again later */
            goto failed;
        }
    }
    cs.shop_cipher = t->shop.cipher;
    cs.order_id = s->channel_order_id;
    cs.package_id = s->package_id;
    cs.n_line_ids = split_ids(s->line_ids, ids, LINE_IDS_MAX);
    cs.line_ids = ids;
    cs.tracking_number = s->tracking_number;
    cs.carrier = s->carrier;
    cs.weight_g = s->weight_g;
    rc = c->ops->ship(c, t->access, &cs, d->pkg, &err);
    if (rc == SG_ESTALE) {
        sg_err_init(&err);
        rc = tok_refresh(e, c, key, t, &err);
        if (!rc) {
            cs.shop_cipher = t->shop.cipher;
            rc = c->ops->ship(c, t->access, &cs, d->pkg, &err);
        }
    }
    if (!rc) {
        d->status = "shipped";
        d->package_id = d->pkg;
        d->error = "";
    } else {
        /*
         * A refusal (a business code in a 2xx, a bad request) is final; a
         * transport or server error is retried, after a read-back (above)
         * in case the call was applied.
         */
        bool again;

failed:
        again = rc != SG_EINVAL &&
                (err.retryable || err.http_status == 0 ||
                 err.http_status >= 500) &&
                s->attempts + 1 < SHIP_ATTEMPTS_MAX;

        d->status = again ? "pending" : "failed";
        snprintf(d->msg, sizeof(d->msg), "%s", err.msg);
        d->error = d->msg;
        if (rc == SG_ELIMIT)
            sg_engine__tiktok_pace_pause(e, s->shop_id, PACE_SHIP,
                                         err.retry_after_ms);
        if (again)
            wait = SG_MAX((int64_t)100 << SG_MIN(s->attempts, 4),
                          err.retry_after_ms);
    }
    sg_log(rc ? SG_LOG_WARN : SG_LOG_INFO, "fulfil",
           "msg=\"shipment %s\" shipment=%" PRId64 " order=%s package=%s "
           "err=\"%s\"", d->status, s->id, s->channel_order_id, d->pkg,
           rc ? err.msg : "");
    return wait;
}

/*
 * Up to SHIP_PER_TICK pending shipments, oldest first, each as soon as
 * the pacer has a token for its shop (the token is unsealed once per
 * shop); their outcomes are written together. Few per tick, so order
 * details are read between them during a spike.
 */
static int64_t ship_pending(struct sg_engine *e, struct sg_connector *c,
                            const unsigned char *key)
{
    struct sg_shipment *ships = NULL;
    struct ship_done done[SHIP_PER_TICK];
    struct ship_batch b = {.d = done};
    struct shop_tok t;
    struct sg_err err;
    size_t n = 0;
    int64_t wait = IDLE_MS;

    memset(&t, 0, sizeof(t));
    sg_err_init(&err);
    if (sg_shipments_list(e->store, 0, 0, "pending", 0, SHIP_PER_TICK, &ships,
                          &n, &err) != 0)
        return IDLE_MS;
    if (n == SHIP_PER_TICK)
        wait = 0; /* more may be pending */
    for (size_t i = 0; i < n; i++) {
        struct ship_done *d = &done[b.n];
        int64_t w = sg_engine__tiktok_pace(e, ships[i].shop_id, PACE_SHIP);

        if (w > 0) {
            /* Out of budget: come back when a token is due, not before. */
            wait = w;
            break;
        }
        memset(d, 0, sizeof(*d));
        if (!t.access || strcmp(t.shop.shop_id, ships[i].shop_id) != 0) {
            tok_release(&t);
            sg_err_init(&err);
            if (tok_open(e, key, ships[i].shop_id, &t, &err) != 0) {
                tok_release(&t);
                sg_log(SG_LOG_WARN, "fulfil", "msg=\"shipment failed\" "
                       "shipment=%" PRId64 " err=\"%s\"", ships[i].id,
                       err.msg);
                d->id = ships[i].id;
                d->tenant_id = ships[i].tenant_id;
                d->status = "failed";
                snprintf(d->msg, sizeof(d->msg), "%s", err.msg);
                d->error = d->msg;
                d->shop_id = ships[i].shop_id;
                d->channel_order_id = ships[i].channel_order_id;
                b.n++;
                continue;
            }
        }
        w = ship_one(e, c, key, &t, &ships[i], d);
        if (w > 0)
            wait = SG_MIN(wait, w);
        b.n++;
    }
    tok_release(&t);
    sg_err_init(&err);
    if (b.n && sg_store_write(e->store, write_ship_done, &b, &err) != 0) {
        sg_log(SG_LOG_WARN, "fulfil", "msg=\"shipment outcomes not "
               "stored; they repeat\" err=\"%s\"", err.msg);
        wait = SG_MIN(wait, 100);
    }
    sg_shipment_list_free(ships, n);
    return wait;
}

struct as_done {
    int64_t id;
    const char *state, *status, *error;
};

static int write_as_done(struct sg_store_tx *tx, void *arg,
                         struct sg_err *err)
{
    struct as_done *d = arg;

    return sg_aftersale_decided(tx, d->id, d->state, d->status, d->error,
                                err);
}

static void decide_one(struct sg_engine *e, struct sg_connector *c,
                       const unsigned char *key, struct sg_aftersale *a)
{
    struct as_done d = {.id = a->id};
    struct shop_tok t;
    struct sg_err err;
    bool cancel = strcmp(a->decision, "cancel") == 0;
    int rc, attempt;

    sg_err_init(&err);
    rc = tok_open(e, key, a->shop_id, &t, &err);
    for (attempt = 0; !rc && attempt < 2; attempt++) {
        if (cancel)
            rc = c->ops->cancel_order(c, t.access, t.shop.cipher,
                                      a->channel_order_id, a->reason, &err);
        else {
            struct sg_conn_decision cd = {
                .shop_cipher = t.shop.cipher, .kind = a->kind,
                .id = a->channel_id,
                .approve = strcmp(a->decision, "approve") == 0,
                .code = a->decision_code, .reason = a->reason,
                .idempotency_key = a->idempotency_key};

            rc = c->ops->decide(c, t.access, &cd, &err);
        }
        if (rc != SG_ESTALE || attempt > 0)
            break;
        sg_err_init(&err);
        rc = tok_refresh(e, c, key, &t, &err);
    }
    tok_release(&t);
    if (rc && err.retryable)
        return; /* still requested: the next tick tries again */
    d.state = rc ? "failed" : "done";
    d.error = rc ? err.msg : "";
    d.status = !rc && cancel ? "CANCELLATION_REQUEST_SUCCESS" : NULL;
    sg_log(rc ? SG_LOG_WARN : SG_LOG_INFO, "returns",
           "msg=\"%s %s %s\" id=%" PRId64 " channel_id=%s err=\"%s\"",
           a->kind, a->decision, d.state, a->id, a->channel_id,
           rc ? err.msg : "");
    sg_err_init(&err);
    (void)sg_store_write(e->store, write_as_done, &d, &err);
}

struct ret_detail {
    struct sg_engine *e;
    int64_t id;
    const json_t *detail;
};

static int write_ret_detail(struct sg_store_tx *tx, void *arg,
                            struct sg_err *err)
{
    struct ret_detail *d = arg;

    return sg_aftersale_return_detail(tx, d->id, d->detail,
                                      d->e->cfg->catalog.location,
                                      d->e->cfg->returns.restock_received,
                                      sg_engine__orders_covered, d->e, err);
}

static void fetch_return(struct sg_engine *e, struct sg_connector *c,
                         const unsigned char *key, struct sg_aftersale *a)
{
    const char *ids[1] = {a->channel_id};
    struct ret_detail d = {.e = e, .id = a->id};
    json_t *arr = NULL, *r;
    struct shop_tok t;
    struct sg_err err;
    size_t i;
    int rc;

    sg_err_init(&err);
    rc = tok_open(e, key, a->shop_id, &t, &err);
    if (!rc)
        rc = c->ops->get_returns(c, t.access, t.shop.cipher, ids, 1, &arr,
                                 &err);
    tok_release(&t);
    if (rc) {
        sg_log(SG_LOG_WARN, "returns", "msg=\"return read failed\" "
               "return=%s err=\"%s\"", a->channel_id, err.msg);
        return;
    }
    json_array_foreach(arr, i, r) {
        const char *id = sg_json_str(r, "return_id");

        if (id && strcmp(id, a->channel_id) == 0)
            d.detail = r;
    }
    if (!d.detail)
        sg_log(SG_LOG_WARN, "returns", "msg=\"return not in the answer\" "
               "return=%s", a->channel_id);
    else {
        sg_err_init(&err);
        if (sg_store_write(e->store, write_ret_detail, &d, &err) != 0)
            sg_log(SG_LOG_WARN, "returns", "msg=\"return not stored\" "
                   "return=%s err=\"%s\"", a->channel_id, err.msg);
    }
    json_decref(arr);
}

struct viral_w {
    struct sg_viral_opts o;
    size_t changed;
};

static int write_viral(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    struct viral_w *v = arg;

    return sg_viral_evaluate(tx, &v->o, &v->changed, err);
}

static int64_t viral_last_ms; /* worker thread only */

int64_t sg_engine__fulfil_tick(struct sg_engine *e, struct sg_connector *c,
                               const unsigned char *key)
{
    struct sg_aftersale *as = NULL;
    struct sg_as_filter f = {.limit = WORK_MAX};
    struct sg_err err;
    size_t n = 0;
    int64_t now = sg_mono_ms(), wait;

    if (!c->ops->ship || !c->ops->decide || !c->ops->get_returns)
        return IDLE_MS;
    wait = ship_pending(e, c, key);
    sg_err_init(&err);
    f.work = 1;
    if (sg_aftersales_list(e->store, 0, &f, &as, &n, &err) == 0)
        for (size_t i = 0; i < n; i++) {
            int64_t w = sg_engine__tiktok_pace(e, as[i].shop_id,
                                               PACE_DECIDE);

            if (w > 0) {
                wait = SG_MIN(wait, w);
                break;
            }
            decide_one(e, c, key, &as[i]);
        }
    sg_aftersale_list_free(as, n);
    as = NULL;
    f.work = 2;
    f.kind = "return";
    n = 0;
    if (sg_aftersales_list(e->store, 0, &f, &as, &n, &err) == 0)
        for (size_t i = 0; i < n; i++) {
            int64_t w = sg_engine__tiktok_pace(e, as[i].shop_id,
                                               PACE_RETURN);

            if (w > 0) {
                wait = SG_MIN(wait, w);
                break;
            }
            fetch_return(e, c, key, &as[i]);
        }
    sg_aftersale_list_free(as, n);
    if (e->cfg->viral.sell_through_per_min &&
        now - viral_last_ms >= (int64_t)e->cfg->viral.check_interval_ms) {
        struct viral_w v = {
            .o = {.sell_through_per_min = e->cfg->viral.sell_through_per_min,
                  .buffer_units = e->cfg->viral.buffer_units,
                  .window_ms = e->cfg->viral.window_ms}};

        viral_last_ms = now;
        sg_err_init(&err);
        if (sg_store_write(e->store, write_viral, &v, &err) != 0)
            sg_log(SG_LOG_WARN, "viral", "msg=\"evaluation failed\" "
                   "err=\"%s\"", err.msg);
    }
    if (e->cfg->viral.sell_through_per_min)
        wait = SG_MIN(wait, SG_MAX((int64_t)e->cfg->viral.check_interval_ms -
                                       (now - viral_last_ms),
                                   0));
    return wait;
}

/* ---- admin API ---- */

static bool path_id(struct sg_http_req *r, int64_t *id_out)
{
    size_t len;
    const char *p = sg_http_req_param(r, "id", &len);
    int64_t v = 0;

    for (size_t i = 0; p && i < len && len <= 18; i++) {
        if (p[i] < '0' || p[i] > '9') {
            v = 0;
            break;
        }
        v = v * 10 + (p[i] - '0');
    }
    if (v <= 0) {
        sg_http_reply_error(r, 400, "invalid_id",
                            "id must be a positive integer", "id");
        return false;
    }
    *id_out = v;
    return true;
}

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
                        "query parameter out of range or not a number", name);
    return false;
}

/* A refusal answered with its status, audited, with nothing else kept. */
static int refuse(struct sg_store_tx *tx, struct sg_api_op *op, int rc,
                  const struct sg_err *why, const char *action,
                  const char *object, struct sg_err *err)
{
    if (rc == SG_EINVAL)
        sg_engine__op_fail(op, 400, "invalid_field", "%s", why->msg);
    else if (rc == SG_ENOTFOUND)
        sg_engine__op_fail(op, 404, "not_found", "%s", why->msg);
    else if (rc == SG_ESTATE)
        sg_engine__op_fail(op, 409, "conflict", "%s", why->msg);
    else
        return rc;
    sg_err_init(err);
    return sg_engine__audit(tx, op, action, object, sg_err_name(rc), err);
}

static int w_shipment(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    struct sg_api_op *op = arg;
    struct sg_ship_line lines[SG_SHIP_LINES_MAX];
    struct sg_ship_req req;
    struct sg_shipment s;
    json_t *jl = json_object_get(op->input, "lines"), *v, *oid;
    char object[64];
    bool created = false;
    size_t i;
    int rc;

    memset(&req, 0, sizeof(req));
    oid = json_object_get(op->input, "order_id");
    if (json_is_integer(oid))
        req.order_id = json_integer_value(oid);
    else if (json_is_string(oid))
        req.channel_order_id = json_string_value(oid);
    else
        req.channel_order_id = sg_json_str(op->input, "channel_order_id");
    req.carrier = sg_json_str(op->input, "carrier");
    req.tracking_number = sg_json_str(op->input, "tracking_number");
    req.weight_g = sg_json_int(op->input, "package_weight_g", 0);
    if (json_is_array(jl)) {
        json_array_foreach(jl, i, v) {
            if (i >= SG_SHIP_LINES_MAX)
                break;
            lines[i].sku = sg_json_str(v, "sku");
            lines[i].qty = sg_json_int(v, "quantity", 0);
        }
        req.lines = lines;
        req.n_lines = json_array_size(jl);
    }
    if (req.order_id <= 0 && (!req.channel_order_id ||
                              !req.channel_order_id[0])) {
        sg_engine__op_fail(op, 400, "invalid_field", "order_id (a Surge "
                           "order id) or channel_order_id is required");
        return 0;
    }
    rc = sg_shipment_create(tx, op->who.tenant_id, &req, &s, &created, err);
    snprintf(object, sizeof(object), "order:%" PRId64,
             s.order_id ? s.order_id : req.order_id);
    if (rc) {
        struct sg_err why = *err;

        sg_shipment_release(&s);
        return refuse(tx, op, rc, &why, "shipment.create", object, err);
    }
    if (created)
        sg_engine__tiktok_kick(op->e);
    op->status = 201;
    op->result = sg_shipment_to_json(&s);
    json_object_set_new(op->result, "created", json_boolean(created));
    snprintf(object, sizeof(object), "shipment:%" PRId64, s.id);
    sg_shipment_release(&s);
    return created ? sg_engine__audit(tx, op, "shipment.create", object, "ok",
                                      err)
                   : 0;
}

/*
 * The top-level fields of each body (sg_engine__body_ok); null is
 * allowed where the writers already took it as absent. The decisions'
 * list serves returns and cancellations alike (one writer; "decision" is
 * the return's decision code).
 */
static const struct sg_json_field shipment_fields[] = {
    {"order_id", SG_JF_INTEGER | SG_JF_STRING | SG_JF_NULL},
    {"channel_order_id", SG_JF_STRING_OR_NULL},
    {"lines", SG_JF_ARRAY | SG_JF_NULL},
    {"carrier", SG_JF_STRING_OR_NULL},
    {"tracking_number", SG_JF_STRING_OR_NULL},
    {"package_weight_g", SG_JF_INTEGER | SG_JF_NULL},
};

static const struct sg_json_field cancel_fields[] = {
    {"reason", SG_JF_STRING_OR_NULL},
};

static const struct sg_json_field decide_fields[] = {
    {"idempotency_key", SG_JF_STRING},
    {"decision", SG_JF_STRING_OR_NULL},
    {"reason", SG_JF_STRING_OR_NULL},
};

/* Auth (write), a JSON object (none: {}) whose fields pass, then fn. */
static void submit_body(struct sg_http_req *r, struct sg_engine *e,
                        int64_t id, const char *text,
                        const struct sg_json_field *fields, size_t n,
                        sg_store_write_fn fn)
{
    struct sg_caller who;
    struct sg_api_op *op;
    json_t *in;
    size_t len = 0;

    if (!sg_engine__auth(e, r, true, &who))
        return;
    (void)sg_http_req_body(r, &len);
    in = len ? sg_http_req_json(r) : json_object();
    if (!in)
        return;
    if (!json_is_object(in)) {
        json_decref(in);
        sg_http_reply_error(r, 400, "invalid_body",
                            "the body must be a JSON object", NULL);
        return;
    }
    if (!sg_engine__body_ok(r, in, fields, n)) {
        json_decref(in);
        return;
    }
    op = sg_engine__op_new(e, r, &who);
    if (!op) {
        json_decref(in);
        return;
    }
    op->id = id;
    op->input = in;
    op->text = text ? sg_strdup(text) : NULL;
    sg_engine__op_submit(op, fn);
}

static void h_shipment(struct sg_http_req *r, void *ctx)
{
    submit_body(r, ctx, 0, NULL, SG_FIELDS(shipment_fields), w_shipment);
}

static void h_shipments(struct sg_http_req *r, void *ctx)
{
    struct sg_engine *e = ctx;
    struct sg_shipment *rows = NULL;
    struct sg_caller who;
    struct sg_err err;
    char status[16];
    int64_t order, after, limit;
    size_t n = 0;
    json_t *arr, *doc;

    if (!sg_engine__auth(e, r, false, &who))
        return;
    if (!query_num(r, "order_id", 0, 1, INT64_MAX, &order) ||
        !query_num(r, "after", 0, 0, INT64_MAX, &after) ||
        !query_num(r, "limit", 50, 1, SG_FULFIL_LIST_MAX, &limit))
        return;
    sg_err_init(&err);
    if (sg_shipments_list(e->store, who.tenant_id, order,
                          sg_http_req_query_get(r, "status", status,
                                                sizeof(status)) > 0
                              ? status
                              : NULL,
                          after, (size_t)limit, &rows, &n, &err) != 0) {
        sg_http_reply_error(r, 503, "storage_unavailable", err.msg, NULL);
        return;
    }
    arr = json_array();
    for (size_t i = 0; arr && i < n; i++)
        json_array_append_new(arr, sg_shipment_to_json(&rows[i]));
    doc = json_pack("{s:o}", "shipments", arr ? arr : json_array());
    if (doc && n == (size_t)limit)
        json_object_set_new(doc, "next_after", json_integer(rows[n - 1].id));
    sg_shipment_list_free(rows, n);
    sg_http_reply_json(r, 200, doc);
}

static int w_cancel(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    struct sg_api_op *op = arg;
    const char *reason = sg_json_str(op->input, "reason");
    struct sg_aftersale a;
    char object[64];
    int rc;

    snprintf(object, sizeof(object), "order:%" PRId64, op->id);
    rc = sg_aftersale_seller_cancel(tx, op->who.tenant_id, op->id,
                                    reason ? reason
                                           : op->e->cfg->orders.cancel_reason,
                                    &a, err);
    if (rc) {
        struct sg_err why = *err;

        sg_aftersale_release(&a);
        return refuse(tx, op, rc, &why, "order.cancel", object, err);
    }
    sg_engine__tiktok_kick(op->e);
    op->status = 202;
    op->result = sg_aftersale_to_json(&a);
    sg_aftersale_release(&a);
    return 0;
}

static void h_cancel(struct sg_http_req *r, void *ctx)
{
    int64_t id;

    if (path_id(r, &id))
        submit_body(r, ctx, id, NULL, SG_FIELDS(cancel_fields), w_cancel);
}

/* op->text: "<kind> <decision>" */
static int w_decide(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    struct sg_api_op *op = arg;
    char kind[8], decision[8], object[64];
    struct sg_aftersale a;
    json_t *key = json_object_get(op->input, "idempotency_key");
    int rc;

    if (sscanf(op->text ? op->text : "", "%7s %7s", kind, decision) != 2)
        return sg_err_set(err, SG_EINVAL, "bad decision");
    snprintf(object, sizeof(object), "%s:%" PRId64, kind, op->id);
    if (key && !json_is_string(key)) {
        sg_engine__op_fail(op, 400, "invalid_field", "idempotency_key must "
                           "be a string");
        return 0;
    }
    rc = sg_aftersale_decide(tx, op->who.tenant_id, op->id, kind, decision,
                             sg_json_str(op->input, "decision"),
                             sg_json_str(op->input, "reason"),
                             key ? json_string_value(key) : NULL, &a, err);
    if (rc) {
        struct sg_err why = *err;

        sg_aftersale_release(&a);
        return refuse(tx, op, rc, &why,
                      strcmp(kind, "return") == 0 ? "return.decide"
                                                   : "cancellation.decide",
                      object, err);
    }
    sg_engine__tiktok_kick(op->e);
    op->status = 202;
    op->result = sg_aftersale_to_json(&a);
    sg_aftersale_release(&a);
    return 0;
}

static void decide_route(struct sg_http_req *r, void *ctx, const char *what)
{
    int64_t id;

    if (path_id(r, &id))
        submit_body(r, ctx, id, what, SG_FIELDS(decide_fields), w_decide);
}

static void h_ret_approve(struct sg_http_req *r, void *ctx)
{
    decide_route(r, ctx, "return approve");
}

static void h_ret_reject(struct sg_http_req *r, void *ctx)
{
    decide_route(r, ctx, "return reject");
}

static void h_cx_approve(struct sg_http_req *r, void *ctx)
{
    decide_route(r, ctx, "cancel approve");
}

static void h_cx_reject(struct sg_http_req *r, void *ctx)
{
    decide_route(r, ctx, "cancel reject");
}

static void list_as(struct sg_http_req *r, struct sg_engine *e,
                    const char *kind, const char *key)
{
    struct sg_as_filter f = {.kind = kind};
    struct sg_aftersale *rows = NULL;
    struct sg_caller who;
    struct sg_err err;
    int64_t after, limit;
    size_t n = 0;
    json_t *arr, *doc;

    if (!sg_engine__auth(e, r, false, &who))
        return;
    if (!query_num(r, "after", 0, 0, INT64_MAX, &after) ||
        !query_num(r, "limit", 50, 1, SG_FULFIL_LIST_MAX, &limit))
        return;
    f.after_id = after;
    f.limit = (size_t)limit;
    sg_err_init(&err);
    if (sg_aftersales_list(e->store, who.tenant_id, &f, &rows, &n, &err)) {
        sg_http_reply_error(r, 503, "storage_unavailable", err.msg, NULL);
        return;
    }
    arr = json_array();
    for (size_t i = 0; arr && i < n; i++)
        json_array_append_new(arr, sg_aftersale_to_json(&rows[i]));
    doc = json_pack("{s:o}", key, arr ? arr : json_array());
    if (doc && n == (size_t)limit)
        json_object_set_new(doc, "next_after", json_integer(rows[n - 1].id));
    sg_aftersale_list_free(rows, n);
    sg_http_reply_json(r, 200, doc);
}

static void h_returns(struct sg_http_req *r, void *ctx)
{
    list_as(r, ctx, "return", "returns");
}

static void h_cancellations(struct sg_http_req *r, void *ctx)
{
    list_as(r, ctx, "cancel", "cancellations");
}

static void h_viral(struct sg_http_req *r, void *ctx)
{
    struct sg_engine *e = ctx;
    struct sg_viral_row *rows = NULL;
    struct sg_caller who;
    struct sg_err err;
    size_t n = 0;
    json_t *arr;

    if (!sg_engine__auth(e, r, false, &who))
        return;
    sg_err_init(&err);
    if (sg_viral_list(e->store, who.tenant_id, &rows, &n, &err) != 0) {
        sg_http_reply_error(r, 503, "storage_unavailable", err.msg, NULL);
        return;
    }
    arr = json_array();
    for (size_t i = 0; arr && i < n; i++) {
        char rate[32];

        snprintf(rate, sizeof(rate), "%" PRId64 ".%03" PRId64,
                 rows[i].rate_milli / 1000, rows[i].rate_milli % 1000);
        json_array_append_new(
            arr, json_pack("{s:s,s:I,s:s,s:b,s:I,s:I}", "sku", rows[i].sku,
                           "buffer", (json_int_t)rows[i].buffer,
                           "rate_per_min", rate, "viral", rows[i].buffer > 0,
                           "since", (json_int_t)rows[i].since, "updated_at",
                           (json_int_t)rows[i].updated_at));
    }
    sg_free(rows);
    sg_http_reply_json(
        r, 200,
        json_pack("{s:b,s:I,s:I,s:o}", "enabled",
                  e->cfg->viral.sell_through_per_min > 0,
                  "sell_through_per_min",
                  (json_int_t)e->cfg->viral.sell_through_per_min,
                  "buffer_units", (json_int_t)e->cfg->viral.buffer_units,
                  "skus", arr ? arr : json_array()));
}

void sg_engine__register_fulfil(struct sg_engine *e)
{
    sg_http_route(e->http, "POST", "/api/v1/shipments", h_shipment, e);
    sg_http_route(e->http, "GET", "/api/v1/shipments", h_shipments, e);
    sg_http_route(e->http, "POST", "/api/v1/orders/{id}/cancel", h_cancel, e);
    sg_http_route(e->http, "GET", "/api/v1/returns", h_returns, e);
    sg_http_route(e->http, "POST", "/api/v1/returns/{id}/approve",
                  h_ret_approve, e);
    sg_http_route(e->http, "POST", "/api/v1/returns/{id}/reject",
                  h_ret_reject, e);
    sg_http_route(e->http, "GET", "/api/v1/cancellations", h_cancellations,
                  e);
    sg_http_route(e->http, "POST", "/api/v1/cancellations/{id}/approve",
                  h_cx_approve, e);
    sg_http_route(e->http, "POST", "/api/v1/cancellations/{id}/reject",
                  h_cx_reject, e);
    sg_http_route(e->http, "GET", "/api/v1/viral", h_viral, e);
}
