/*
 * tiktok_api.c - TikTok Shop in the daemon: the OAuth callback, the
 * webhook intake, the connection admin routes, the inbox handling of
 * types 6 and 7, and the token refresher.
 *
 * Webhooks follow the generic intake: verify the Authorization HMAC over
 * the raw bytes, dedupe on tts_notification_id through the inbox (source
 * "tiktok_shop"), answer 2xx only after the row committed. Everything
 * that talks to TikTok (callback exchange, refresh, shop sync) runs on
 * one worker thread fed by a bounded queue, never on an HTTP loop thread:
 * the HTTP answer is deferred until the worker is done. The worker also
 * scans for tokens that expire within [tiktok_shop] refresh_ahead once a
 * minute (a timer rather than a job kind, because a refresh must read and
 * write sealed tokens, which job kinds cannot reach).
 */
#include "engine/internal.h"
#include "connectors/tiktok_shop/tiktok_shop.h"
#include "core/alloc.h"
#include "core/crypto.h"
#include "core/json.h"
#include "core/log.h"
#include "engine/catalog_sync.h"
#include "engine/tiktok_shop.h"
#include "jobs/ratelimit.h"

#define TASKS_MAX      64
#define SCAN_EVERY_MS  (60 * 1000)
#define DUE_BATCH      16
#define CODE_MAX       512
#define IDLE_WAIT_MS   1000 /* longest sleep with nothing known to do */
#define PACE_KEYS_MAX  256  /* (shop, endpoint) buckets of the pacer */
#define SHOP_CACHE_MAX 16   /* shops whose tenant the intake remembers */
#define SHOP_CACHE_MS  1000 /* for this long */

enum task_kind { T_CALLBACK, T_REFRESH, T_SYNC };

struct task {
    int kind;
    int64_t id;        /* connection */
    int64_t tenant_id; /* 0 = any (inbox-triggered refresh) */
    struct sg_http_deferred *d; /* NULL = nobody waits */
    char code[CODE_MAX + 1];
    char state[CODE_MAX + 1];
};

struct sg_tts_engine {
    struct sg_engine *e;
    struct sg_connector *conn;
    unsigned char key[SG_SECRET_KEY_LEN];

    pthread_t tid;
    bool started;
    bool stop;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct task q[TASKS_MAX];
    size_t head, n;
    bool kicked; /* orders or shipments were queued: run the ticks now */
    struct sg_ratelimit *pace; /* worker thread only */

    atomic_ulong wh_accepted, wh_duplicate, wh_bad_sig, wh_invalid;

    /*
     * The webhook intake's shop -> tenant lookups, remembered a second:
     * a spike sends thousands of webhooks a second for one shop, and a
     * store read for each cost more than the rest of the intake. Only
     * connected shops are remembered (an unknown one is read each time).
     */
    pthread_mutex_t shop_lock;
    struct {
        char shop_id[sizeof(((struct sg_channel_shop *)0)->shop_id)];
        int64_t tenant_id;
        int64_t at_ms;
    } shops[SHOP_CACHE_MAX];
    size_t shop_next;
};

/* The tenant of a connected shop (SG_ENOTFOUND when none has it). */
static int shop_tenant(struct sg_tts_engine *t, const char *shop_id,
                       int64_t *tenant_out, struct sg_err *err)
{
    struct sg_channel_shop shop;
    int64_t now = sg_mono_ms();
    int rc;

    pthread_mutex_lock(&t->shop_lock);
    for (size_t i = 0; i < SHOP_CACHE_MAX; i++)
        if (t->shops[i].at_ms && now - t->shops[i].at_ms < SHOP_CACHE_MS &&
            strcmp(t->shops[i].shop_id, shop_id) == 0) {
            *tenant_out = t->shops[i].tenant_id;
            pthread_mutex_unlock(&t->shop_lock);
            return 0;
        }
    pthread_mutex_unlock(&t->shop_lock);
    rc = sg_channels_shop_get(t->e->store, SG_TTS_PLATFORM, shop_id, &shop,
                              err);
    if (rc)
        return rc;
    *tenant_out = shop.tenant_id;
    if (strlen(shop_id) < sizeof(t->shops[0].shop_id)) {
        pthread_mutex_lock(&t->shop_lock);
        snprintf(t->shops[t->shop_next].shop_id,
                 sizeof(t->shops[0].shop_id), "%s", shop_id);
        t->shops[t->shop_next].tenant_id = shop.tenant_id;
        t->shops[t->shop_next].at_ms = now;
        t->shop_next = (t->shop_next + 1) % SHOP_CACHE_MAX;
        pthread_mutex_unlock(&t->shop_lock);
    }
    return 0;
}

/* ---- the worker queue ---- */

static bool task_push(struct sg_tts_engine *t, const struct task *k)
{
    bool ok;

    pthread_mutex_lock(&t->lock);
    ok = t->n < TASKS_MAX && !t->stop;
    if (ok) {
        t->q[(t->head + t->n) % TASKS_MAX] = *k;
        t->n++;
        pthread_cond_signal(&t->cond);
    }
    pthread_mutex_unlock(&t->lock);
    return ok;
}

static void reply_err(struct sg_http_deferred *d, int rc,
                      const struct sg_err *err)
{
    int status = 502;
    const char *code = "platform_error";

    if (rc == SG_ENOTFOUND) {
        status = 404;
        code = "not_found";
    } else if (rc == SG_ESTATE) {
        status = 409;
        code = "conflict";
    } else if (rc == SG_EBUSY || rc == SG_EIO) {
        status = 503;
        code = "storage_unavailable";
    }
    sg_http_deferred_reply_error(d, status, code,
                                 err->msg[0] ? err->msg : sg_err_name(rc));
}

static void run_callback(struct sg_tts_engine *t, struct task *k)
{
    struct sg_tts_connect_result res;
    struct sg_err err;
    int64_t tenant = 0;
    int rc;

    sg_err_init(&err);
    rc = sg_tts_state_take(t->e->store, k->state, &tenant, &err);
    if (rc) {
        sg_http_deferred_reply_error(k->d, 400, "invalid_state",
                                     "state was not issued by surge "
                                     "connect, was used, or expired");
        return;
    }
    rc = sg_tts_connect_code(t->e->store, t->conn, t->key, tenant, k->code,
                             t->e->cfg->tiktok_shop.webhook_url, &res, &err);
    if (rc) {
        sg_log(SG_LOG_WARN, "tiktok_shop", "msg=\"connect failed\" "
               "err=\"%s\"", err.msg);
        reply_err(k->d, rc, &err);
        return;
    }
    sg_http_deferred_reply_json(
        k->d, 200,
        json_pack("{s:s,s:I,s:s,s:I,s:I}", "status", "connected",
                  "connection_id", (json_int_t)res.connection_id, "open_id",
                  res.open_id, "shops", (json_int_t)res.shops,
                  "subscriptions", (json_int_t)res.subscriptions));
}

static void run_refresh(struct sg_tts_engine *t, struct task *k)
{
    struct sg_channel_conn row = {0};
    struct sg_err err;
    int rc;

    sg_err_init(&err);
    rc = sg_channels_conn_get(t->e->store, k->tenant_id, k->id, &row, &err);
    if (!rc && strcmp(row.status, "active") != 0)
        rc = sg_err_set(&err, SG_ESTATE, "connection is %s", row.status);
    if (!rc)
        rc = sg_tts_refresh_conn(t->e->store, t->conn, t->key, &row, &err);
    if (rc)
        sg_log(SG_LOG_WARN, "tiktok_shop", "msg=\"refresh failed\" "
               "connection=%" PRId64 " err=\"%s\"", k->id, err.msg);
    if (k->d && rc)
        reply_err(k->d, rc, &err);
    else if (k->d)
        sg_http_deferred_reply_json(k->d, 200,
                                    json_pack("{s:s,s:I}", "status",
                                              "refreshed", "connection_id",
                                              (json_int_t)k->id));
    sg_channel_conn_release(&row);
}

static void run_sync(struct sg_tts_engine *t, struct task *k)
{
    struct sg_err err;
    size_t n = 0;
    int rc;

    sg_err_init(&err);
    rc = sg_tts_sync_shops(t->e->store, t->conn, t->key, k->tenant_id, k->id,
                           &n, &err);
    if (rc)
        reply_err(k->d, rc, &err);
    else
        sg_http_deferred_reply_json(k->d, 200,
                                    json_pack("{s:s,s:I,s:I}", "status",
                                              "synced", "connection_id",
                                              (json_int_t)k->id, "shops",
                                              (json_int_t)n));
}

/* Refresh every active connection whose token expires soon. */
static void scan_due(struct sg_tts_engine *t)
{
    struct sg_channel_conn *rows = NULL;
    struct sg_err err;
    size_t n = 0;
    int64_t ahead_s = t->e->cfg->tiktok_shop.refresh_ahead_ms / 1000;
    int64_t now_s = sg_clock_now_ms(&t->e->clock) / 1000;

    sg_err_init(&err);
    if (sg_channels_conn_due(t->e->store, now_s + ahead_s, DUE_BATCH, &rows,
                             &n, &err) != 0) {
        sg_log(SG_LOG_WARN, "tiktok_shop", "msg=\"due scan failed\" "
               "err=\"%s\"", err.msg);
        return;
    }
    for (size_t i = 0; i < n && !t->stop; i++) {
        sg_err_init(&err);
        if (sg_tts_refresh_conn(t->e->store, t->conn, t->key, &rows[i],
                                &err) != 0)
            sg_log(SG_LOG_WARN, "tiktok_shop", "msg=\"refresh failed\" "
                   "connection=%" PRId64 " err=\"%s\"", rows[i].id,
                   err.msg);
    }
    sg_channel_conn_list_free(rows, n);
}

/*
 * Sleep until a task, a kick, or wait_ms; returns whether a kick came.
 * Lock held.
 */
static bool worker_wait(struct sg_tts_engine *t, int64_t wait_ms)
{
    bool kicked;

    if (t->n == 0 && !t->stop && !t->kicked && wait_ms > 0) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += wait_ms / 1000;
        ts.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&t->cond, &t->lock, &ts);
    }
    kicked = t->kicked;
    t->kicked = false;
    return kicked;
}

static int barrier_write(struct sg_store_tx *tx, void *arg,
                         struct sg_err *err)
{
    (void)tx;
    (void)arg;
    (void)err;
    return 0;
}

/*
 * The worker: tasks first, then the orders and fulfilment ticks. Each
 * tick says how long it may wait (0: more work is ready now, e.g. a full
 * page of queued ids or tokens left in the pacer), so a spike is worked
 * through without pauses and an idle engine sleeps IDLE_WAIT_MS.
 */
static void *worker_main(void *arg)
{
    struct sg_tts_engine *t = arg;
    int64_t last_scan = 0, wait_ms = 0;

    for (;;) {
        struct task k;
        bool have = false, kicked;

        pthread_mutex_lock(&t->lock);
        if (sg_mono_ms() - last_scan >= SCAN_EVERY_MS)
            wait_ms = 0;
        kicked = worker_wait(t, wait_ms);
        if (t->stop) {
            /* Answer whoever still waits, then leave. */
            while (t->n > 0) {
                struct task *q = &t->q[t->head];

                if (q->d)
                    sg_http_deferred_reply_error(q->d, 503, "stopping",
                                                 "the engine is stopping");
                t->head = (t->head + 1) % TASKS_MAX;
                t->n--;
            }
            pthread_mutex_unlock(&t->lock);
            break;
        }
        if (t->n > 0) {
            k = t->q[t->head];
            t->head = (t->head + 1) % TASKS_MAX;
            t->n--;
            have = true;
        }
        pthread_mutex_unlock(&t->lock);

        if (have) {
            if (k.kind == T_CALLBACK)
                run_callback(t, &k);
            else if (k.kind == T_REFRESH)
                run_refresh(t, &k);
            else
                run_sync(t, &k);
            memset(k.code, 0, sizeof(k.code));
        } else if (sg_mono_ms() - last_scan >= SCAN_EVERY_MS) {
            last_scan = sg_mono_ms();
            scan_due(t);
        }
        if (kicked) {
            struct sg_err err;

            /*
             * A kick comes from inside a transaction that has not
             * committed yet: one empty write queued behind it returns
             * once it has, so the ticks below see its rows.
             */
            sg_err_init(&err);
            (void)sg_store_write(t->e->store, barrier_write, NULL, &err);
        }
        {
            int64_t wo = sg_engine__orders_tick(t->e, t->conn, t->key);
            int64_t wf = sg_engine__fulfil_tick(t->e, t->conn, t->key);

            wait_ms = SG_MIN(SG_MAX(SG_MIN(wo, wf), 0), IDLE_WAIT_MS);
        }
    }
    return NULL;
}

void sg_engine__tiktok_kick(struct sg_engine *e)
{
    struct sg_tts_engine *t = e ? e->tts : NULL;

    if (!t)
        return;
    pthread_mutex_lock(&t->lock);
    if (!t->kicked) {
        t->kicked = true;
        pthread_cond_signal(&t->cond);
    }
    pthread_mutex_unlock(&t->lock);
}

int64_t sg_engine__tiktok_pace(struct sg_engine *e, const char *shop_id,
                               const char *endpoint)
{
    struct sg_tts_engine *t = e ? e->tts : NULL;
    int64_t wait = 0;
    int rc;

    if (!t || !t->pace)
        return 0;
    rc = sg_ratelimit_take(t->pace, SG_TTS_PLATFORM, shop_id, endpoint,
                           sg_mono_ms(), &wait);
    if (rc == 0)
        return 0;
    return SG_MAX(wait, 1);
}

void sg_engine__tiktok_pace_pause(struct sg_engine *e, const char *shop_id,
                                  const char *endpoint, int64_t ms)
{
    struct sg_tts_engine *t = e ? e->tts : NULL;
    int64_t now = sg_mono_ms();

    if (t && t->pace && ms > 0)
        (void)sg_ratelimit_pause(t->pace, SG_TTS_PLATFORM, shop_id, endpoint,
                                 now + ms, now);
}

/* ---- HTTP: OAuth callback ---- */

static void h_callback(struct sg_http_req *r, void *ctx)
{
    struct sg_tts_engine *t = ctx;
    struct task k;
    long cl, sl;

    memset(&k, 0, sizeof(k));
    k.kind = T_CALLBACK;
    cl = sg_http_req_query_get(r, "code", k.code, sizeof(k.code));
    sl = sg_http_req_query_get(r, "state", k.state, sizeof(k.state));
    if (cl <= 0 || sl <= 0) {
        sg_http_reply_error(r, 400, "invalid_request",
                            "code and state are required", NULL);
        return;
    }
    k.d = sg_http_defer(r);
    if (!k.d) {
        sg_http_reply_error(r, 503, "out_of_memory", "retry", NULL);
        return;
    }
    if (!task_push(t, &k))
        sg_http_deferred_reply_error(k.d, 503, "busy",
                                     "connect queue full; retry");
}

/* ---- HTTP: webhooks ---- */

struct wh_op {
    struct sg_tts_engine *t;
    struct sg_http_deferred *d;
    int64_t tenant_id;
    int64_t id;
    bool dup;
    /* An order event queued at intake (see wh_write). */
    bool order_event;
    bool processed;
    int type;
    int64_t update_time;
    char shop_id[32];
    char order_id[65];
    size_t body_len;
    char external_id[130];
    char body[];
};

/*
 * Store the delivery in the inbox. An order event (types 1, 3, 4: all
 * the inbox processor would do is queue the order id) is also queued
 * here, in the same write, from the fields the intake already read, and
 * its row is stored already processed: the processor would read the row
 * back, parse the body twice and write again, per webhook, on the one
 * writer thread (about a tenth of surge's profile under an order flood,
 * bench/spike). Any error fails the whole write, the row with it, so the
 * delivery is answered 503 and sent again: nothing is acknowledged that
 * is not stored, and no row is marked done whose order was not queued.
 */
static int wh_write(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    struct wh_op *op = arg;
    int rc;

    op->processed = false;
    rc = (op->order_event ? sg_store_tx_inbox_insert_processed
                          : sg_store_tx_inbox_insert)(
        tx, op->tenant_id, SG_TTS_PLATFORM, op->external_id, op->body,
        op->body_len, &op->id, &op->dup, err);
    if (rc || op->dup || !op->order_event)
        return rc;
    rc = sg_engine__orders_queue(tx, op->tenant_id, op->shop_id,
                                 op->order_id, op->type, op->update_time,
                                 err);
    if (!rc)
        op->processed = true;
    return rc;
}

static void wh_done(void *arg, int rc, const struct sg_err *err)
{
    struct wh_op *op = arg;
    char body[128];
    int n;

    if (rc) {
        static const struct sg_http_header retry = {"retry-after", "1"};
        static const char msg[] =
            "{\"error\":{\"code\":\"storage_unavailable\",\"message\":"
            "\"not stored; retry\"}}";

        sg_log(SG_LOG_WARN, "tiktok_shop", "msg=\"inbox write failed\" "
               "err=\"%s\"", err ? err->msg : "");
        sg_http_deferred_reply_ex(op->d, 503, "application/json", msg,
                                  sizeof(msg) - 1, &retry, 1);
    } else {
        atomic_fetch_add(op->dup ? &op->t->wh_duplicate
                                 : &op->t->wh_accepted, 1);
        n = snprintf(body, sizeof(body), "{\"status\":\"%s\",\"id\":%" PRId64
                     "}", op->dup ? "duplicate" : "accepted", op->id);
        sg_http_deferred_reply(op->d, 200, "application/json", body,
                               (size_t)n);
        if (op->processed) {
            atomic_fetch_add(&op->t->e->inbox_processed, 1);
            sg_engine__tiktok_kick(op->t->e);
        } else if (!op->dup)
            sg_engine__inbox_kick(op->t->e);
    }
    sg_free(op);
}

static void h_webhook(struct sg_http_req *r, void *ctx)
{
    struct sg_tts_engine *t = ctx;
    size_t len, sig_len;
    const char *body = sg_http_req_body(r, &len);
    const char *sig = sg_http_req_header(r, "authorization", &sig_len);
    struct sg_conn_event ev;
    struct sg_err err;
    struct wh_op *op;
    int64_t tenant_id = 0;
    int rc;

    rc = t->conn->ops->verify_webhook(t->conn, sig, sig_len, body, len);
    if (rc == SG_EAUTH) {
        atomic_fetch_add(&t->wh_bad_sig, 1);
        sg_http_reply_error(r, 401, "bad_signature",
                            "Authorization does not match the body",
                            "Authorization");
        return;
    }
    if (rc) {
        /* Could not be checked (out of memory): not a forgery. */
        sg_http_reply_error(r, 503,
                            rc == SG_ENOMEM ? "out_of_memory" : "unavailable",
                            "retry", NULL);
        return;
    }
    sg_err_init(&err);
    rc = t->conn->ops->parse_webhook(t->conn, body, len, &ev, &err);
    if (rc == SG_EINVAL) {
        atomic_fetch_add(&t->wh_invalid, 1);
        sg_http_reply_error(r, 400, "invalid_event", err.msg, NULL);
        return;
    }
    if (rc) {
        sg_http_reply_error(r, 503,
                            rc == SG_ENOMEM ? "out_of_memory" : "unavailable",
                            "retry", NULL);
        return;
    }
    rc = shop_tenant(t, ev.shop_id, &tenant_id, &err);
    if (rc && rc != SG_ENOTFOUND) {
        sg_http_reply_error(r, 503, "storage_unavailable", "retry", NULL);
        return;
    }
    if (rc) {
        /* Not ours (yet): a non-2xx makes TikTok retry for ~12 hours. */
        atomic_fetch_add(&t->wh_invalid, 1);
        sg_http_reply_error(r, 404, "unknown_shop",
                            "no connected shop has this shop_id", "shop_id");
        return;
    }
    op = sg_alloc(sizeof(*op) + len + 1);
    if (!op) {
        sg_http_reply_error(r, 503, "out_of_memory", "retry", NULL);
        return;
    }
    memset(op, 0, sizeof(*op));
    op->t = t;
    op->tenant_id = tenant_id;
    op->body_len = len;
    memcpy(op->body, body, len);
    op->body[len] = '\0';
    snprintf(op->external_id, sizeof(op->external_id), "%s", ev.id);
    /* With [notify] url set the processor also sends every event on. */
    op->order_event = (ev.type == 1 || ev.type == 3 || ev.type == 4) &&
                      ev.order_id[0] && ev.shop_id[0] &&
                      !(t->e->cfg->notify.url && t->e->cfg->notify.url[0]);
    op->type = ev.type;
    op->update_time = ev.update_time;
    snprintf(op->shop_id, sizeof(op->shop_id), "%s", ev.shop_id);
    snprintf(op->order_id, sizeof(op->order_id), "%s", ev.order_id);
    op->d = sg_http_defer(r);
    if (!op->d) {
        sg_free(op);
        sg_http_reply_error(r, 503, "out_of_memory", "retry", NULL);
        return;
    }
    if (sg_store_submit(t->e->store, wh_write, wh_done, op) != 0) {
        sg_http_deferred_reply_error(op->d, 503, "busy",
                                     "intake queue full; retry");
        sg_free(op);
    }
}

/* ---- HTTP: admin ---- */

static json_t *conn_json(const struct sg_channel_conn *c,
                         const struct sg_channel_shop *shops, size_t n)
{
    json_t *arr = json_array();
    json_t *o;

    for (size_t i = 0; arr && i < n; i++)
        if (shops[i].connection_id == c->id)
            json_array_append_new(
                arr, json_pack("{s:s,s:s,s:s,s:s}", "shop_id",
                               shops[i].shop_id, "name", shops[i].name,
                               "region", shops[i].region, "cipher",
                               shops[i].cipher));
    o = json_pack("{s:I,s:s,s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:i,s:o*}", "id",
                  (json_int_t)c->id, "platform", c->platform, "open_id",
                  c->open_id, "seller_name", c->seller_name, "status",
                  c->status, "status_reason", c->status_reason,
                  "access_expires_at", (json_int_t)c->access_expires_at,
                  "refresh_expires_at", (json_int_t)c->refresh_expires_at,
                  "refreshed_at", (json_int_t)c->refreshed_at,
                  "refresh_failures", c->refresh_failures, "shops", arr);
    return o;
}

static void h_conn_list(struct sg_http_req *r, void *ctx)
{
    struct sg_tts_engine *t = ctx;
    struct sg_channel_conn *rows = NULL;
    struct sg_channel_shop *shops = NULL;
    struct sg_caller who;
    struct sg_err err;
    size_t n = 0, ns = 0;
    json_t *arr;

    if (!sg_engine__auth(t->e, r, false, &who))
        return;
    sg_err_init(&err);
    if (sg_channels_conn_list(t->e->store, who.tenant_id, &rows, &n, &err) ||
        sg_channels_shop_list(t->e->store, who.tenant_id, 0, &shops, &ns,
                              &err)) {
        sg_channel_conn_list_free(rows, n);
        sg_http_reply_error(r, 503, "storage_unavailable", err.msg, NULL);
        return;
    }
    arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, conn_json(&rows[i], shops, ns));
    sg_channel_conn_list_free(rows, n);
    sg_free(shops);
    sg_http_reply_json(r, 200, json_pack("{s:o}", "connections", arr));
}

static void conn_action(struct sg_http_req *r, struct sg_tts_engine *t,
                        int kind)
{
    struct sg_caller who;
    struct task k;
    size_t len;
    const char *p;
    int64_t id = 0;

    if (!sg_engine__auth(t->e, r, true, &who))
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
    memset(&k, 0, sizeof(k));
    k.kind = kind;
    k.id = id;
    k.tenant_id = who.tenant_id; /* scopes the lookup: others' ids 404 */
    k.d = sg_http_defer(r);
    if (!k.d) {
        sg_http_reply_error(r, 503, "out_of_memory", "retry", NULL);
        return;
    }
    if (!task_push(t, &k))
        sg_http_deferred_reply_error(k.d, 503, "busy", "queue full; retry");
}

static void h_conn_refresh(struct sg_http_req *r, void *ctx)
{
    conn_action(r, ctx, T_REFRESH);
}

static void h_conn_sync(struct sg_http_req *r, void *ctx)
{
    conn_action(r, ctx, T_SYNC);
}

/* ---- inbox ---- */

int sg_engine__tiktok_inbox(struct sg_engine *e, struct sg_store_tx *tx,
                            const struct sg_inbox *row, struct sg_err *err)
{
    struct sg_tts_engine *t = e->tts;
    struct sg_conn_event ev;
    struct sg_channel_shop shop;
    struct sg_err perr;
    json_t *body = NULL;
    int rc;

    if (!t)
        return 0;
    sg_err_init(&perr);
    /*
     * A body that no longer parses is kept, marked processed, ignored;
     * one that could not be read now (out of memory) fails this write
     * so the inbox row stays pending and is tried again - marking it
     * processed would lose an acknowledged webhook.
     */
    rc = t->conn->ops->parse_webhook(t->conn, row->body, row->body_len, &ev,
                                     &perr);
    if (rc == SG_EINVAL)
        return 0;
    if (rc) {
        if (err)
            *err = perr;
        return rc;
    }
    /* Parsed once for both (the connector's parse keeps no document). */
    rc = sg_json_parse(&body, row->body, row->body_len, 32, NULL, &perr);
    if (rc == SG_ENOMEM) {
        if (err)
            *err = perr;
        return rc; /* pending: tried again */
    }
    if (rc)
        return 0; /* kept, ignored: the intake checked it once */
    rc = sg_engine__orders_inbox(e, tx, row, body, err);
    if (!rc)
        rc = sg_engine__fulfil_inbox(e, tx, row, body, err);
    json_decref(body);
    if (rc)
        return rc;
    if (ev.type == 5 || ev.type == 37) /* product status / audit */
        return sg_engine__catalog_webhook(e, tx, row, err);
    if (ev.type != SG_TTS_EVENT_DEAUTHORIZATION &&
        ev.type != SG_TTS_EVENT_UPCOMING_EXPIRY)
        return 0; /* stored for the orders work */
    rc = sg_channels_tx_shop_get(tx, SG_TTS_PLATFORM, ev.shop_id, &shop,
                                 err);
    if (rc == SG_ENOTFOUND || shop.tenant_id != row->tenant_id)
        return 0;
    if (rc)
        return rc;
    if (ev.type == SG_TTS_EVENT_DEAUTHORIZATION) {
        sg_log(SG_LOG_INFO, "tiktok_shop", "msg=\"seller deauthorized\" "
               "connection=%" PRId64, shop.connection_id);
        return sg_channels_tx_conn_set_status(tx, shop.connection_id,
                                              "deauthorized",
                                              "SELLER_DEAUTHORIZATION "
                                              "webhook",
                                              err);
    }
    {
        struct task k;

        memset(&k, 0, sizeof(k));
        k.kind = T_REFRESH;
        k.id = shop.connection_id;
        if (!task_push(t, &k))
            sg_log(SG_LOG_WARN, "tiktok_shop", "msg=\"refresh queue full; "
                   "the timer will catch up\"");
    }
    return 0;
}

/* ---- for catalog sync (catalog_sync.c) ---- */

struct sg_connector *sg_engine__tiktok_connector(struct sg_engine *e)
{
    return e && e->tts ? e->tts->conn : NULL;
}

int sg_engine__tiktok_access(struct sg_engine *e, int64_t tenant_id,
                             char **token_out, int64_t *conn_id_out,
                             struct sg_channel_shop *shop_out,
                             struct sg_err *err)
{
    struct sg_tts_engine *t = e ? e->tts : NULL;
    struct sg_channel_conn *rows = NULL;
    struct sg_channel_shop *shops = NULL;
    size_t n = 0, ns = 0, len = 0;
    int rc;

    *token_out = NULL;
    if (!t)
        return sg_err_set(err, SG_EDECLINED, "TikTok Shop not configured");
    rc = sg_channels_conn_list(e->store, tenant_id, &rows, &n, err);
    for (size_t i = 0; !rc && i < n && !*token_out; i++) {
        if (strcmp(rows[i].status, "active") != 0 ||
            strcmp(rows[i].platform, SG_TTS_PLATFORM) != 0)
            continue;
        rc = sg_channels_shop_list(e->store, tenant_id, rows[i].id, &shops,
                                   &ns, err);
        if (rc || ns == 0) {
            sg_free(shops);
            shops = NULL;
            continue;
        }
        if (sg_unseal(t->key, rows[i].access_sealed, token_out,
                      &len) != 0) {
            rc = sg_err_set(err, SG_EAUTH, "connection %" PRId64 ": cannot "
                            "unseal its token", rows[i].id);
            break;
        }
        *conn_id_out = rows[i].id;
        *shop_out = shops[0];
    }
    sg_free(shops);
    sg_channel_conn_list_free(rows, n);
    if (!rc && !*token_out)
        rc = sg_err_set(err, SG_EDECLINED, "no active TikTok Shop "
                        "connection with a shop");
    return rc;
}

void sg_engine__tiktok_refresh_soon(struct sg_engine *e, int64_t tenant_id)
{
    struct sg_tts_engine *t = e ? e->tts : NULL;
    struct sg_channel_conn *rows = NULL;
    struct sg_err err;
    size_t n = 0;

    if (!t)
        return;
    sg_err_init(&err);
    if (sg_channels_conn_list(e->store, tenant_id, &rows, &n, &err) != 0)
        return;
    for (size_t i = 0; i < n; i++) {
        struct task k;

        if (strcmp(rows[i].status, "active") != 0)
            continue;
        memset(&k, 0, sizeof(k));
        k.kind = T_REFRESH;
        k.id = rows[i].id;
        if (!task_push(t, &k))
            sg_log(SG_LOG_WARN, "tiktok_shop", "msg=\"refresh queue full\"");
    }
    sg_channel_conn_list_free(rows, n);
}

/* ---- lifecycle ---- */

int sg_engine__tiktok_register(struct sg_engine *e, struct sg_err *err)
{
    struct sg_tts_engine *t;
    struct sg_conn_cfg cc;
    struct sg_conn_env env;
    int rc;

    if (!sg_tts_configured(e->cfg))
        return 0;
    t = sg_calloc(1, sizeof(*t));
    if (!t)
        return sg_err_set(err, SG_ENOMEM, "out of memory");
    t->e = e;
    pthread_mutex_init(&t->lock, NULL);
    pthread_cond_init(&t->cond, NULL);
    pthread_mutex_init(&t->shop_lock, NULL);
    e->tts = t;
    rc = sg_secret_key_load(t->key, e->cfg->secrets.key_file, err);
    if (rc == SG_ENOTFOUND)
        rc = sg_err_set(err, SG_ECONFIG, "[secrets] key_file %s does not "
                        "exist; surge init creates it",
                        e->cfg->secrets.key_file ? e->cfg->secrets.key_file
                                                 : "");
    if (rc)
        return rc == SG_ECONFIG ? rc : sg_err_set(err, SG_ECONFIG, "%s",
                                                  err ? err->msg : "key");
    sg_tts_conn_cfg(&cc, e->cfg);
    sg_tts_conn_env(&env, e->cfg);
    env.clock = &e->clock;
    rc = sg_connector_open(&t->conn, "tiktok_shop", &cc, &env, err);
    if (rc)
        return rc;
    rc = sg_engine__catalog_sync_init(e, err);
    if (rc)
        return rc;
    {
        struct sg_ratelimit_cfg rl;

        /* The worker's own calls keep to the same per-endpoint budget
         * as the dispatcher's jobs. */
        sg_ratelimit_cfg_defaults(&rl);
        rl.rate_per_sec = (double)e->cfg->jobs.rate_per_sec;
        rl.burst = (double)e->cfg->jobs.burst;
        rl.entries_max = PACE_KEYS_MAX;
        rc = sg_ratelimit_new(&t->pace, &rl, err);
        if (rc)
            return rc;
    }
    sg_http_route(e->http, "GET", "/oauth/tiktok-shop/callback", h_callback,
                  t);
    sg_http_route(e->http, "POST", "/webhooks/tiktok-shop", h_webhook, t);
    sg_http_route(e->http, "GET", "/api/v1/connections", h_conn_list, t);
    sg_http_route(e->http, "POST", "/api/v1/connections/{id}/refresh",
                  h_conn_refresh, t);
    sg_http_route(e->http, "POST", "/api/v1/connections/{id}/sync",
                  h_conn_sync, t);
    return 0;
}

int sg_engine__tiktok_start(struct sg_engine *e, struct sg_err *err)
{
    struct sg_tts_engine *t = e->tts;

    if (!t || t->started)
        return 0;
    if (pthread_create(&t->tid, NULL, worker_main, t) != 0)
        return sg_err_set(err, SG_EIO, "cannot start the TikTok Shop worker");
    t->started = true;
    return 0;
}

void sg_engine__tiktok_stop(struct sg_engine *e)
{
    struct sg_tts_engine *t = e ? e->tts : NULL;

    if (!t)
        return;
    pthread_mutex_lock(&t->lock);
    t->stop = true;
    pthread_cond_signal(&t->cond);
    pthread_mutex_unlock(&t->lock);
    if (t->started) {
        pthread_join(t->tid, NULL);
        t->started = false;
    }
}

void sg_engine__tiktok_free(struct sg_engine *e)
{
    struct sg_tts_engine *t = e ? e->tts : NULL;

    if (!t)
        return;
    sg_engine__tiktok_stop(e);
    sg_engine__catalog_sync_fini(e);
    sg_connector_close(t->conn);
    sg_ratelimit_free(t->pace);
    memset(t->key, 0, sizeof(t->key));
    pthread_mutex_destroy(&t->lock);
    pthread_cond_destroy(&t->cond);
    pthread_mutex_destroy(&t->shop_lock);
    sg_free(t);
    e->tts = NULL;
}
