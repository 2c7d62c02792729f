/*
 * orders_sync.c - bringing TikTok Shop orders into Surge. Webhooks (types
 * 1, 3, 4, 11, 12) only queue the order id (order_fetch) inside the inbox
 * processor's transaction; the TikTok Shop worker thread, which alone may
 * unseal tokens, reads the queued ids' detail in batches of at most 50,
 * normalises them and applies each batch in one store write that also
 * moves inventory and clears the queue rows. A reconciliation poll
 * searches every shop's orders by update time every [orders]
 * poll_interval and queues what is newer, so a lost webhook is recovered.
 *
 * Nothing is lost on a crash: an acknowledged webhook is an inbox row
 * until the queue row commits, and a queue row stays until its order is
 * applied.
 */
#include "engine/internal.h"
#include "connectors/tiktok_shop/orders.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/crypto.h"
#include "core/json.h"
#include "core/log.h"
#include "engine/tiktok_shop.h"
#include "features/orders/orders.h"

#define FETCH_PENDING_MAX   500  /* queue rows read per tick */
#define FETCH_DEPTH_MAX     16   /* [orders] fetch_depth's upper bound */
#define FETCH_ATTEMPTS_MAX  20   /* failed detail reads before dropping */
#define MISSING_ATTEMPTS    5    /* detail answers without the id */
#define POLL_PAGES_MAX      50   /* pages per shop per poll */
#define POLL_PAGE_SIZE      100
#define POLL_SHOPS_MAX      100
#define IDLE_MS             1000 /* nothing queued: a kick wakes us */
#define PACE_DETAIL         "order_detail"
#define PACE_SEARCH         "order_search"
#define CANCEL_BATCH        50     /* due cancellations per tick */
#define CANCEL_STUCK_MS     60000  /* a claimed cancel with no answer */

struct sg_orders_engine {
    int64_t last_poll_ms; /* monotonic; 0 = never */
    int64_t fetch_after_ms; /* monotonic; no detail read before (backoff) */
    int policy;           /* enum sg_oversold_policy */
    /*
     * Monotonic time of the next look for oversold orders whose grace is
     * over (cancel policy); 0 = none known to be waiting. Worker only.
     */
    int64_t cancel_check_ms;
    atomic_ulong applied, oversold, covered, fetch_errors, polls;
    atomic_ulong ticks; /* worker passes: an idle engine makes few */
    atomic_ulong inflight_max; /* most detail writes in flight at once */
};

/* ---- inbox: queue the order named by a webhook ---- */

int sg_engine__orders_inbox(struct sg_engine *e, struct sg_store_tx *tx,
                            const struct sg_inbox *row, const json_t *j,
                            struct sg_err *err)
{
    json_t *data;
    const char *shop = NULL;
    char order_id[SG_ORD_ID_MAX + 1], shop_buf[40];
    json_t *oid;
    int64_t type;
    int rc = 0;

    type = sg_json_int(j, "type", 0);
    if (type != 1 && type != 3 && type != 4 && type != 11 && type != 12)
        goto out;
    data = json_object_get(j, "data");
    oid = json_object_get(data, "order_id");
    if (json_is_string(oid) && json_string_length(oid) > 0 &&
        json_string_length(oid) <= SG_ORD_ID_MAX)
        snprintf(order_id, sizeof(order_id), "%s", json_string_value(oid));
    else if (json_is_integer(oid))
        snprintf(order_id, sizeof(order_id), "%" JSON_INTEGER_FORMAT,
                 json_integer_value(oid));
    else
        goto out;
    shop = sg_json_str(j, "shop_id");
    if (!shop && json_is_integer(json_object_get(j, "shop_id"))) {
        snprintf(shop_buf, sizeof(shop_buf), "%" JSON_INTEGER_FORMAT,
                 json_integer_value(json_object_get(j, "shop_id")));
        shop = shop_buf;
    }
    if (!shop || !shop[0] || strlen(shop) > SG_ORD_ID_MAX)
        goto out;
    rc = sg_engine__orders_queue(tx, row->tenant_id, shop, order_id,
                                 (int)type, sg_json_int(data, "update_time", 0),
                                 err);
    if (!rc)
        sg_engine__tiktok_kick(e);
out:
    return rc;
}

int sg_engine__orders_queue(struct sg_store_tx *tx, int64_t tenant_id,
                            const char *shop_id, const char *order_id,
                            int type, int64_t update_time,
                            struct sg_err *err)
{
    char reason[32];

    snprintf(reason, sizeof(reason), "webhook:%d", type);
    /*
     * Types 1 and 3 carry the order's own update_time, so an id stored
     * newer is not read again; the others carry a package's, a
     * cancellation's or a return's time: always read.
     */
    return sg_orders_fetch_mark(tx, tenant_id, SG_TTS_PLATFORM, shop_id,
                                order_id, type <= 3 ? update_time : 0,
                                reason, err);
}

/* ---- a shop's token ---- */

struct shop_ctx {
    struct sg_channel_shop shop;
    struct sg_channel_conn conn;
    char *access; /* plaintext, wiped */
};

static void shop_ctx_release(struct shop_ctx *s)
{
    if (s->access) {
        memset(s->access, 0, strlen(s->access));
        sg_free(s->access);
    }
    sg_channel_conn_release(&s->conn);
    memset(s, 0, sizeof(*s));
}

static int shop_open(struct sg_engine *e, const unsigned char *key,
                     const char *shop_id, struct shop_ctx *s,
                     struct sg_err *err)
{
    size_t len = 0;
    int rc;

    memset(s, 0, sizeof(*s));
    rc = sg_channels_shop_get(e->store, SG_TTS_PLATFORM, shop_id, &s->shop,
                              err);
    if (!rc)
        rc = sg_channels_conn_get(e->store, s->shop.tenant_id,
                                  s->shop.connection_id, &s->conn, err);
    if (!rc && strcmp(s->conn.status, "active") != 0)
        rc = sg_err_set(err, SG_ESTATE, "connection %" PRId64 " is %s",
                        s->conn.id, s->conn.status);
    if (!rc && sg_unseal(key, s->conn.access_sealed, &s->access, &len) != 0)
        rc = sg_err_set(err, SG_EAUTH, "cannot unseal the access token");
    return rc;
}

/* After 105002: refresh the connection and unseal the new token. */
static int shop_refresh(struct sg_engine *e, struct sg_connector *c,
                        const unsigned char *key, struct shop_ctx *s,
                        struct sg_err *err)
{
    char id[sizeof(s->shop.shop_id)];
    int rc;

    snprintf(id, sizeof(id), "%s", s->shop.shop_id);
    rc = sg_tts_refresh_conn(e->store, c, key, &s->conn, err);
    shop_ctx_release(s);
    return rc ? rc : shop_open(e, key, id, s, err);
}

/* ---- applying a batch ---- */

struct apply_batch {
    struct sg_engine *e;
    const struct sg_order_fetch *rows; /* the batch's queue rows */
    size_t n_rows;
    struct sg_order *orders;
    size_t n_orders;
    bool *newly;      /* per order: flagged oversold by this write */
    bool *seen;       /* per row: the detail answered it */
};

/* event: "order.oversold" or "order.oversold_covered", once per order. */
static int notify_oversold(struct sg_store_tx *tx, struct sg_engine *e,
                           const struct sg_order *o, const char *event,
                           struct sg_err *err)
{
    json_t *payload;
    char *text, idem[96];
    struct sg_job job;
    int64_t id = 0;
    bool coalesced = false;
    int rc;

    if (!e->cfg->notify.url || !e->cfg->notify.url[0])
        return 0;
    payload = json_pack("{s:s,s:o}", "event", event, "data",
                        sg_order_to_json(o, true));
    text = payload ? sg_json_dump(payload, NULL) : NULL;
    json_decref(payload);
    if (!text)
        return sg_err_set(err, SG_ENOMEM, "out of memory");
    memset(&job, 0, sizeof(job));
    job.tenant_id = o->tenant_id;
    snprintf(job.kind, sizeof(job.kind), "notify.http");
    snprintf(idem, sizeof(idem), "%s-%" PRId64,
             strcmp(event, "order.oversold") == 0 ? "order-oversold"
                                                  : "order-oversold-covered",
             o->id);
    job.idempotency_key = idem;
    job.payload = text;
    job.attempts_max = (int)e->cfg->jobs.attempts_max;
    snprintf(job.platform, sizeof(job.platform), "notify");
    snprintf(job.endpoint_class, sizeof(job.endpoint_class), "http");
    rc = sg_store_tx_job_enqueue(tx, &job, &id, &coalesced, err);
    sg_free(text);
    return rc;
}

int sg_engine__orders_covered(struct sg_store_tx *tx,
                              const struct sg_order *o, void *arg,
                              struct sg_err *err)
{
    return notify_oversold(tx, arg, o, "order.oversold_covered", err);
}

int sg_engine__orders_cover(struct sg_engine *e, struct sg_store_tx *tx,
                            int64_t tenant_id, const char *sku,
                            struct sg_err *err)
{
    size_t n = 0;
    int rc = sg_orders_cover(tx, tenant_id, sku, sg_engine__orders_covered,
                             e, &n, err);

    if (!rc && n && e->orders)
        atomic_fetch_add(&e->orders->covered, n);
    return rc;
}

/* A cancellation's released units go first to orders still short. */
static int cover_released(struct sg_engine *e, struct sg_store_tx *tx,
                          const struct sg_order *o, struct sg_err *err)
{
    int rc = 0;

    for (size_t i = 0; i < o->n_lines && !rc; i++) {
        bool seen = false;

        if (o->lines[i].inv != SG_LINE_RELEASED)
            continue;
        for (size_t k = 0; k < i && !seen; k++)
            seen = o->lines[k].inv == SG_LINE_RELEASED &&
                   strcmp(o->lines[k].sku, o->lines[i].sku) == 0;
        if (!seen)
            rc = sg_engine__orders_cover(e, tx, o->tenant_id,
                                         o->lines[i].sku, err);
    }
    return rc;
}

static int oversold_audit(struct sg_store_tx *tx, const struct sg_order *o,
                          const char *outcome, struct sg_err *err)
{
    struct sg_audit a;

    memset(&a, 0, sizeof(a));
    a.tenant_id = o->tenant_id;
    snprintf(a.actor, sizeof(a.actor), "orders");
    snprintf(a.action, sizeof(a.action), "order.oversold");
    snprintf(a.object, sizeof(a.object), "order:%" PRId64, o->id);
    snprintf(a.outcome, sizeof(a.outcome), "%s", outcome);
    return sg_store_tx_audit(tx, &a, err);
}

static int write_apply(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    struct apply_batch *b = arg;
    struct sg_orders_engine *oe = b->e->orders;
    int rc = 0;

    for (size_t i = 0; i < b->n_orders && !rc; i++) {
        struct sg_order *o = &b->orders[i];
        struct sg_orders_opts opts = {.oversold_policy = oe->policy};
        const char *source = "fetch";
        int outcome = 0;

        for (size_t k = 0; k < b->n_rows; k++)
            if (strcmp(b->rows[k].channel_order_id, o->channel_order_id) ==
                0)
                source = b->rows[k].reason;
        opts.source = source;
        b->newly[i] = false;
        rc = sg_orders_apply(tx, o, &opts, &outcome, &b->newly[i], err);
        if (!rc && outcome != SG_ORD_STALE)
            rc = sg_engine__fulfil_after_apply(b->e, tx, o, err);
        if (!rc && outcome != SG_ORD_STALE)
            rc = cover_released(b->e, tx, o, err);
        if (!rc && b->newly[i] &&
            strcmp(o->oversold_action, "unknown_sku") == 0) {
            /* Not Surge's product: flagged and told, never cancelled. */
            rc = oversold_audit(tx, o, "unknown_sku", err);
            if (!rc)
                rc = notify_oversold(tx, b->e, o, "order.oversold", err);
        } else if (!rc && b->newly[i]) {
            rc = oversold_audit(tx, o, sg_oversold_policy_name(oe->policy),
                                err);
            if (!rc && oe->policy == SG_OVERSOLD_NOTIFY) {
                bool url = b->e->cfg->notify.url && b->e->cfg->notify.url[0];

                rc = notify_oversold(tx, b->e, o, "order.oversold", err);
                if (!rc)
                    rc = sg_orders_set_oversold_action(
                        tx, o->tenant_id, o->id, url ? "notified" : "flagged",
                        err);
            } else if (!rc && oe->policy == SG_OVERSOLD_BACKORDER)
                rc = sg_orders_set_oversold_action(tx, o->tenant_id, o->id,
                                                   "backordered", err);
            else if (!rc && oe->policy == SG_OVERSOLD_CANCEL)
                /* The worker cancels it once the grace is over. */
                rc = sg_orders_set_oversold_action(tx, o->tenant_id, o->id,
                                                   "cancel_pending", err);
        }
    }
    for (size_t k = 0; k < b->n_rows && !rc; k++) {
        const struct sg_order_fetch *r = &b->rows[k];

        if (b->seen[k])
            rc = sg_orders_fetch_done(tx, r->channel, r->shop_id,
                                      r->channel_order_id, r->gen, err);
        else
            rc = sg_orders_fetch_failed(tx, r->channel, r->shop_id,
                                        r->channel_order_id,
                                        MISSING_ATTEMPTS, err);
    }
    return rc;
}

struct fail_batch {
    const struct sg_order_fetch *rows;
    size_t n;
};

static int write_failed(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    struct fail_batch *b = arg;
    int rc = 0;

    for (size_t k = 0; k < b->n && !rc; k++)
        rc = sg_orders_fetch_failed(tx, b->rows[k].channel,
                                    b->rows[k].shop_id,
                                    b->rows[k].channel_order_id,
                                    FETCH_ATTEMPTS_MAX, err);
    return rc;
}

struct action_op {
    int64_t tenant_id, id;
    const char *from, *to;
    bool swapped;
};

static int write_action(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    struct action_op *op = arg;

    return sg_orders_swap_oversold_action(tx, op->tenant_id, op->id,
                                          op->from, op->to, &op->swapped,
                                          err);
}

/* Move o's action from -> to if it still is from; false if it was not. */
static bool swap_action(struct sg_engine *e, const struct sg_order *o,
                        const char *from, const char *to)
{
    struct action_op op = {.tenant_id = o->tenant_id, .id = o->id,
                           .from = from, .to = to};
    struct sg_err err;

    sg_err_init(&err);
    if (sg_store_write(e->store, write_action, &op, &err) != 0) {
        sg_log(SG_LOG_WARN, "orders", "msg=\"recording an oversold action "
               "failed\" order=%s to=%s err=\"%s\"", o->channel_order_id, to,
               err.msg);
        return false;
    }
    return op.swapped;
}

/*
 * Policy cancel, once the grace is over: claim the order (cancel_pending
 * or a stuck cancelling -> cancelling, so stock that comes back now skips
 * it), ask the channel, record what it said. An order covered during the
 * grace is no longer cancel_pending and is left alone.
 */
static void cancel_oversold(struct sg_engine *e, struct sg_connector *c,
                            const unsigned char *key, const struct sg_order *o)
{
    struct shop_ctx s;
    struct sg_err err;
    int rc;

    sg_err_init(&err);
    if (shop_open(e, key, o->shop_id, &s, &err) != 0) {
        sg_log(SG_LOG_WARN, "orders", "msg=\"oversold order cancel waits: "
               "no usable connection\" order=%s err=\"%s\"",
               o->channel_order_id, err.msg);
        return;
    }
    if (!swap_action(e, o, o->oversold_action, "cancelling")) {
        shop_ctx_release(&s);
        return;
    }
    rc = c->ops->cancel_order(c, s.access, s.shop.cipher,
                              o->channel_order_id,
                              e->cfg->orders.cancel_reason, &err);
    sg_log(rc ? SG_LOG_WARN : SG_LOG_INFO, "orders",
           "msg=\"oversold order cancel\" order=%s outcome=%s err=\"%s\"",
           o->channel_order_id, rc ? "cancel_failed" : "cancel_requested",
           rc ? err.msg : "");
    (void)swap_action(e, o, "cancelling",
                      rc ? "cancel_failed" : "cancel_requested");
    shop_ctx_release(&s);
}

/*
 * The cancel policy's due orders: those flagged at least oversold_grace
 * ago and still cancel_pending, and any left cancelling by an engine that
 * stopped between the claim and the channel's answer. Returns how long
 * until the next look (-1: nothing is waiting).
 */
static int64_t cancel_due(struct sg_engine *e, struct sg_connector *c,
                          const unsigned char *key)
{
    static const char *const states[] = {"cancel_pending", "cancelling"};
    int64_t grace = (int64_t)e->cfg->orders.oversold_grace_ms;
    int64_t wall = sg_clock_now_ms(sg_store_clock(e->store)), next = -1;
    struct sg_order *os = NULL;
    struct sg_err err;
    size_t n = 0;

    for (size_t k = 0; k < SG_ARRAY_SIZE(states); k++) {
        int64_t wait = k == 0 ? grace : CANCEL_STUCK_MS;

        sg_err_init(&err);
        if (sg_orders_oversold_due(e->store, states[k], wall - wait,
                                   CANCEL_BATCH, &os, &n, &err) != 0) {
            sg_log(SG_LOG_WARN, "orders", "msg=\"reading due cancellations "
                   "failed\" err=\"%s\"", err.msg);
            return 1000;
        }
        for (size_t i = 0; i < n; i++)
            cancel_oversold(e, c, key, &os[i]);
        sg_order_list_free(os, n);
        if (n == CANCEL_BATCH)
            return 0;
        /* The oldest one still waiting says when to look again. */
        sg_err_init(&err);
        if (sg_orders_oversold_due(e->store, states[k], INT64_MAX, 1, &os,
                                   &n, &err) != 0)
            return 1000;
        if (n) {
            int64_t at = os[0].updated_at + wait - wall;

            /*
             * At least a second: an order left due (its shop has no
             * usable connection yet) must not make the worker spin.
             */
            at = at < 1000 ? 1000 : at;
            next = next < 0 || at < next ? at : next;
        }
        sg_order_list_free(os, n);
    }
    return next;
}

/*
 * After a failed read: retry at once the first time (one 429 or 500 among
 * many calls says little), then after 100 ms doubling with the rows'
 * attempts, or the Retry-After when longer.
 */
static int64_t retry_wait_ms(const struct sg_order_fetch *rows, size_t n,
                             const struct sg_err *err)
{
    int attempts = 0;

    for (size_t i = 0; i < n; i++)
        attempts = SG_MAX(attempts, rows[i].attempts);
    if (attempts == 0)
        return err->retry_after_ms;
    return SG_MAX((int64_t)100 << SG_MIN(attempts - 1, 4),
                  err->retry_after_ms);
}

/*
 * One batch on its way: the detail of rows (one shop, at most 50) read
 * and normalised, its write queued. The worker reads the next batch while
 * this one commits (a detail call and a write each take milliseconds, and
 * one after the other they left both the sandbox and the writer idle half
 * the time); the shop's token stays open for the policy cancel after it.
 */
struct batch {
    struct apply_batch b;
    bool seen[SG_TTS_ORDER_IDS_MAX];
    struct shop_ctx s;
    struct sg_store_pending *p;
};

static void batch_free(struct batch *bt)
{
    if (!bt)
        return;
    sg_order_list_free(bt->b.orders, bt->b.n_orders);
    sg_free(bt->b.newly);
    shop_ctx_release(&bt->s);
    sg_free(bt);
}

/*
 * Read the detail of rows (one shop, at most 50; bt->s open) and queue
 * the write applying it. Returns -1 when the write is queued (bt->p), or
 * how long to wait before reading these rows again (nothing queued).
 */
static int64_t batch_begin(struct sg_engine *e, struct sg_connector *c,
                           const unsigned char *key, struct batch *bt,
                           const struct sg_order_fetch *rows, size_t n)
{
    struct sg_orders_engine *oe = e->orders;
    struct shop_ctx *s = &bt->s;
    const char *ids[SG_TTS_ORDER_IDS_MAX];
    json_t *arr = NULL, *jo;
    struct sg_err err;
    size_t i;
    int rc;

    bt->b.e = e;
    bt->b.rows = rows;
    bt->b.n_rows = n;
    bt->b.seen = bt->seen;
    for (i = 0; i < n; i++)
        ids[i] = rows[i].channel_order_id;
    sg_err_init(&err);
    rc = c->ops->get_orders(c, s->access, s->shop.cipher, ids, n, &arr, &err);
    if (rc == SG_ESTALE) {
        sg_err_init(&err);
        rc = shop_refresh(e, c, key, s, &err);
        if (!rc)
            rc = c->ops->get_orders(c, s->access, s->shop.cipher, ids, n,
                                    &arr, &err);
    }
    if (rc) {
        struct fail_batch fb = {.rows = rows, .n = n};
        int64_t wait;

        atomic_fetch_add(&oe->fetch_errors, 1);
        sg_log(SG_LOG_WARN, "orders", "msg=\"order detail failed\" shop=%s "
               "ids=%zu err=\"%s\"", s->shop.shop_id, n, err.msg);
        wait = retry_wait_ms(rows, n, &err);
        if (rc == SG_ELIMIT)
            sg_engine__tiktok_pace_pause(e, s->shop.shop_id, PACE_DETAIL,
                                         err.retry_after_ms);
        sg_err_init(&err);
        (void)sg_store_write(e->store, write_failed, &fb, &err);
        return wait;
    }
    bt->b.orders = sg_calloc(json_array_size(arr) + 1, sizeof(*bt->b.orders));
    bt->b.newly = sg_calloc(json_array_size(arr) + 1, sizeof(*bt->b.newly));
    if (!bt->b.orders || !bt->b.newly) {
        sg_json_arena_free(arr);
        return 100;
    }
    json_array_foreach(arr, i, jo) {
        struct sg_order *o = &bt->b.orders[bt->b.n_orders];

        sg_err_init(&err);
        if (sg_order_from_tts(o, jo, s->shop.tenant_id, s->shop.shop_id,
                              e->cfg->catalog.location, &err) != 0) {
            sg_log(SG_LOG_WARN, "orders", "msg=\"order not understood\" "
                   "shop=%s order=%s err=\"%s\"", s->shop.shop_id,
                   o->channel_order_id, err.msg);
            sg_order_release(o);
            continue;
        }
        for (size_t k = 0; k < n; k++)
            if (strcmp(rows[k].channel_order_id, o->channel_order_id) == 0)
                bt->seen[k] = true;
        bt->b.n_orders++;
    }
    sg_json_arena_free(arr);
    sg_err_init(&err);
    rc = sg_store_write_begin(e->store, write_apply, &bt->b, &bt->p, &err);
    if (rc) {
        atomic_fetch_add(&oe->fetch_errors, 1);
        sg_log(SG_LOG_WARN, "orders", "msg=\"applying orders failed; will "
               "retry\" shop=%s err=\"%s\"", s->shop.shop_id, err.msg);
        return 100;
    }
    return -1;
}

/*
 * Wait for bt's write, then count what it applied; newly oversold orders
 * under the cancel policy bring the next look for due cancellations
 * forward (cancel_due). Frees bt. Returns -1, or how
 * long to wait when the write failed (its rows stay queued).
 */
static int64_t batch_end(struct sg_engine *e, struct batch *bt)
{
    struct sg_orders_engine *oe = e->orders;
    struct sg_err err;
    int64_t wait = -1;

    sg_err_init(&err);
    if (sg_store_write_end(bt->p, &err) != 0) {
        atomic_fetch_add(&oe->fetch_errors, 1);
        sg_log(SG_LOG_WARN, "orders", "msg=\"applying orders failed; will "
               "retry\" shop=%s err=\"%s\"", bt->s.shop.shop_id, err.msg);
        wait = 100;
    } else {
        for (size_t i = 0; i < bt->b.n_orders; i++) {
            atomic_fetch_add(&oe->applied, 1);
            if (bt->b.newly[i]) {
                int64_t at = sg_mono_ms() +
                             (int64_t)e->cfg->orders.oversold_grace_ms;

                atomic_fetch_add(&oe->oversold, 1);
                if (oe->policy == SG_OVERSOLD_CANCEL &&
                    (oe->cancel_check_ms == 0 || at < oe->cancel_check_ms))
                    oe->cancel_check_ms = at;
            }
        }
    }
    batch_free(bt);
    return wait;
}

/*
 * Work through the fetch queue: rows come grouped by shop, and each
 * batch of at most 50 ids of one shop is one detail call, made as soon
 * as the pacer has a token; a batch is read while up to [orders]
 * fetch_depth - 1 batches before it wait for their commit (in flight
 * together, they share group commits: one batch per commit capped the
 * orders applied per second at 50 / the commit interval, whatever the
 * CPU). Writes end in the order they began, which is the order the
 * writer applies them. Returns how long the worker may wait: 0 when a full page was
 * read and went through (more may be queued), the pacer's or the retry's
 * wait, or IDLE_MS when the queue is drained (a kick wakes the worker
 * when ids are queued). Every write begun here has ended on return, so
 * the next read of the queue sees its rows gone.
 */
static int64_t fetch_pending(struct sg_engine *e, struct sg_connector *c,
                             const unsigned char *key)
{
    struct sg_order_fetch *rows = NULL;
    struct batch *ring[FETCH_DEPTH_MAX];
    size_t depth = SG_MAX(1, SG_MIN(e->cfg->orders.fetch_depth,
                                    FETCH_DEPTH_MAX));
    size_t head = 0, held = 0; /* oldest write in flight, how many */
    struct sg_err err;
    size_t n = 0, i = 0;
    int64_t wait = IDLE_MS, paced = 0, w;

    sg_err_init(&err);
    if (sg_orders_fetch_pending(e->store, FETCH_PENDING_MAX, &rows, &n,
                                &err) != 0) {
        sg_log(SG_LOG_WARN, "orders", "msg=\"fetch queue read failed\" "
               "err=\"%s\"", err.msg);
        return IDLE_MS;
    }
    while (i < n) {
        struct batch *bt;
        size_t j = i;

        while (j < n && j - i < SG_TTS_ORDER_IDS_MAX &&
               strcmp(rows[j].shop_id, rows[i].shop_id) == 0 &&
               strcmp(rows[j].channel, rows[i].channel) == 0)
            j++;
        w = sg_engine__tiktok_pace(e, rows[i].shop_id, PACE_DETAIL);
        if (w > 0) {
            paced = paced ? SG_MIN(paced, w) : w;
            i = j;
            continue;
        }
        bt = sg_calloc(1, sizeof(*bt));
        if (!bt) {
            wait = SG_MIN(wait, 100);
            break;
        }
        sg_err_init(&err);
        if (shop_open(e, key, rows[i].shop_id, &bt->s, &err) != 0) {
            struct fail_batch fb = {.rows = rows + i, .n = j - i};

            sg_log(SG_LOG_WARN, "orders", "msg=\"shop unusable\" shop=%s "
                   "err=\"%s\"", rows[i].shop_id, err.msg);
            sg_err_init(&err);
            (void)sg_store_write(e->store, write_failed, &fb, &err);
            wait = SG_MIN(wait, IDLE_MS);
            batch_free(bt);
        } else {
            w = batch_begin(e, c, key, bt, rows + i, j - i);
            if (w >= 0) {
                wait = SG_MIN(wait, w);
                batch_free(bt);
                bt = NULL;
            }
            if (bt) {
                ring[(head + held++) % FETCH_DEPTH_MAX] = bt;
                if (held > atomic_load(&e->orders->inflight_max))
                    atomic_store(&e->orders->inflight_max, held);
            }
            /* The oldest has been committing while this one was read. */
            while (held >= depth) {
                if ((w = batch_end(e, ring[head])) >= 0)
                    wait = SG_MIN(wait, w);
                head = (head + 1) % FETCH_DEPTH_MAX;
                held--;
            }
        }
        i = j;
    }
    for (; held; held--, head = (head + 1) % FETCH_DEPTH_MAX)
        if ((w = batch_end(e, ring[head])) >= 0)
            wait = SG_MIN(wait, w);
    sg_free(rows);
    /* A failed read holds the queue back for its backoff. */
    if (wait < IDLE_MS && wait > 0)
        e->orders->fetch_after_ms = sg_mono_ms() + wait;
    /* Out of budget: come back when a token is due, not before. */
    if (paced)
        return SG_MIN(wait, paced);
    return n == FETCH_PENDING_MAX ? 0 : wait;
}

/* ---- the reconciliation poll ---- */

struct poll_write {
    int64_t tenant_id;
    const char *shop_id;
    const struct sg_conn_order_ref *refs;
    size_t n;
    int64_t cursor;
};

static int write_poll(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    struct poll_write *p = arg;
    int rc = 0;

    for (size_t i = 0; i < p->n && !rc; i++)
        rc = sg_orders_fetch_mark(tx, p->tenant_id, SG_TTS_PLATFORM,
                                  p->shop_id, p->refs[i].id,
                                  p->refs[i].update_time, "poll", err);
    if (!rc)
        rc = sg_orders_cursor_set(tx, p->tenant_id, SG_TTS_PLATFORM,
                                  p->shop_id, p->cursor, err);
    return rc;
}

static void poll_shop(struct sg_engine *e, struct sg_connector *c,
                      const unsigned char *key, const char *shop_id)
{
    struct shop_ctx s;
    struct sg_err err;
    char *token = NULL;
    int64_t cursor = 0;
    int rc;

    sg_err_init(&err);
    rc = sg_orders_cursor_get(e->store, SG_TTS_PLATFORM, shop_id, &cursor,
                              &err);
    if (rc && rc != SG_ENOTFOUND)
        return;
    if (shop_open(e, key, shop_id, &s, &err) != 0) {
        shop_ctx_release(&s);
        return;
    }
    for (int page = 0; page < POLL_PAGES_MAX; page++) {
        struct sg_conn_order_query q = {.shop_cipher = s.shop.cipher,
                                        .update_time_ge = cursor,
                                        .page_token = token,
                                        .page_size = POLL_PAGE_SIZE};
        struct sg_conn_order_ref *refs = NULL;
        struct poll_write pw = {.tenant_id = s.shop.tenant_id,
                                .shop_id = shop_id, .cursor = cursor};
        char *next = NULL;
        size_t n = 0;

        int64_t w;

        /* The poll is rare; it waits for its token in place. */
        while ((w = sg_engine__tiktok_pace(e, shop_id, PACE_SEARCH)) > 0) {
            struct timespec ts = {0, (long)SG_MIN(w, 999) * 1000000L};

            nanosleep(&ts, NULL);
        }
        sg_err_init(&err);
        rc = c->ops->search_orders(c, s.access, &q, &refs, &n, &next, &err);
        if (rc == SG_ESTALE && page == 0) {
            sg_err_init(&err);
            rc = shop_refresh(e, c, key, &s, &err);
            if (!rc)
                rc = c->ops->search_orders(c, s.access, &q, &refs, &n,
                                           &next, &err);
        }
        if (rc) {
            sg_log(SG_LOG_WARN, "orders", "msg=\"order search failed\" "
                   "shop=%s err=\"%s\"", shop_id, err.msg);
            break;
        }
        for (size_t i = 0; i < n; i++)
            pw.cursor = SG_MAX(pw.cursor, refs[i].update_time);
        pw.refs = refs;
        pw.n = n;
        sg_err_init(&err);
        rc = sg_store_write(e->store, write_poll, &pw, &err);
        sg_free(refs);
        sg_free(token);
        token = next;
        if (rc || !token)
            break;
    }
    sg_free(token);
    shop_ctx_release(&s);
}

static void poll_all(struct sg_engine *e, struct sg_connector *c,
                     const unsigned char *key)
{
    struct sg_channel_shop *shops = NULL;
    struct sg_err err;
    size_t n = 0;

    sg_err_init(&err);
    if (sg_channels_shop_list(e->store, 0, 0, &shops, &n, &err) != 0)
        return;
    for (size_t i = 0; i < n && i < POLL_SHOPS_MAX; i++)
        if (strcmp(shops[i].platform, SG_TTS_PLATFORM) == 0)
            poll_shop(e, c, key, shops[i].shop_id);
    sg_free(shops);
    atomic_fetch_add(&e->orders->polls, 1);
}

int64_t sg_engine__orders_tick(struct sg_engine *e, struct sg_connector *c,
                               const unsigned char *key)
{
    struct sg_orders_engine *oe = e->orders;
    int64_t now = sg_mono_ms(), wait;
    bool cancels;

    if (!oe || !c->ops->get_orders || !c->ops->search_orders)
        return IDLE_MS;
    atomic_fetch_add(&oe->ticks, 1);
    if (oe->last_poll_ms == 0 ||
        now - oe->last_poll_ms >= (int64_t)e->cfg->orders.poll_interval_ms) {
        oe->last_poll_ms = now;
        poll_all(e, c, key);
    }
    /*
     * Only the cancel policy (with a connector that can cancel) ever
     * looks for due cancellations; under any other policy the look
     * planned at start never happens, and counting it as due made the
     * worker loop without waiting.
     */
    cancels = oe->policy == SG_OVERSOLD_CANCEL && c->ops->cancel_order;
    if (cancels && oe->cancel_check_ms && now >= oe->cancel_check_ms) {
        int64_t next = cancel_due(e, c, key);

        oe->cancel_check_ms = next < 0 ? 0 : sg_mono_ms() + next;
    }
    if (now < oe->fetch_after_ms)
        wait = oe->fetch_after_ms - now;
    else
        wait = fetch_pending(e, c, key);
    if (cancels && oe->cancel_check_ms) {
        int64_t until = oe->cancel_check_ms - sg_mono_ms();

        until = until < 0 ? 0 : until;
        wait = until < wait ? until : wait;
    }
    return wait;
}

/* ---- lifecycle, metrics ---- */

int sg_engine__orders_init(struct sg_engine *e, struct sg_err *err)
{
    struct sg_orders_engine *oe;
    int policy = sg_oversold_policy_parse(e->cfg->orders.oversold_policy);

    if (policy < 0)
        return sg_err_set(err, SG_ECONFIG, "[orders] oversold_policy: "
                          "unknown value");
    oe = sg_calloc(1, sizeof(*oe));
    if (!oe)
        return sg_err_set(err, SG_ENOMEM, "out of memory");
    oe->policy = policy;
    /* Look once at start: a restart finds what the last run left. */
    oe->cancel_check_ms = 1;
    e->orders = oe;
    return 0;
}

void sg_engine__orders_free(struct sg_engine *e)
{
    if (!e)
        return;
    sg_free(e->orders);
    e->orders = NULL;
}

int sg_engine__orders_metrics(struct sg_engine *e, struct sg_buf *out)
{
    struct sg_orders_engine *oe = e->orders;
    struct sg_order_backlog bl;
    int64_t age_ms = 0;
    int rc;

    if (!oe)
        return 0;
    /*
     * The order ids waiting for their detail, and how long the oldest has
     * waited: when the intake outruns the apply, this is where it shows
     * (docs/orders.md). A store that cannot answer leaves them out.
     */
    if (sg_orders_fetch_backlog(e->store, &bl, NULL) == 0) {
        if (bl.n > 0 && bl.oldest_queued_at > 0)
            age_ms = SG_MAX(sg_clock_now_ms(sg_store_clock(e->store)) -
                                bl.oldest_queued_at,
                            0);
        rc = sg_buf_printf(
            out,
            "# HELP sg_orders_fetch_backlog Order ids queued for a detail "
            "fetch.\n# TYPE sg_orders_fetch_backlog gauge\n"
            "sg_orders_fetch_backlog %" PRId64 "\n"
            "# HELP sg_orders_fetch_oldest_seconds How long the oldest "
            "queued order id has waited.\n"
            "# TYPE sg_orders_fetch_oldest_seconds gauge\n"
            "sg_orders_fetch_oldest_seconds %" PRId64 ".%03" PRId64 "\n",
            bl.n, age_ms / 1000, age_ms % 1000);
        if (rc)
            return rc;
    }
    return sg_buf_printf(
        out,
        "sg_orders_applied_total %lu\n"
        "sg_orders_oversold_total %lu\n"
        "sg_orders_oversold_covered_total %lu\n"
        "sg_orders_fetch_errors_total %lu\n"
        "sg_orders_polls_total %lu\n"
        "sg_orders_worker_ticks_total %lu\n"
        "sg_orders_fetch_inflight_max %lu\n",
        atomic_load(&oe->applied), atomic_load(&oe->oversold),
        atomic_load(&oe->covered),
        atomic_load(&oe->fetch_errors), atomic_load(&oe->polls),
        atomic_load(&oe->ticks), atomic_load(&oe->inflight_max));
}
