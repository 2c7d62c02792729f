/*
 * demo_wh.c - the simulated warehouse of surge demo: an HTTP receiver for
 * Surge's notify.http deliveries. It checks each delivery's signature,
 * acknowledges at once, and ships every order.ready_to_ship from a worker
 * thread by calling POST /api/v1/shipments on the engine, as a warehouse
 * system would. Each order is shipped at most once (deliveries are
 * at-least-once); the queue is bounded.
 */
#include "cli/demo.h"
#include "core/alloc.h"
#include "core/crypto.h"
#include "core/json.h"
#include "http/server.h"

#define SEEN_MAX (1u << 20) /* order ids below this are deduplicated */

struct wh_item {
    int64_t order_id;
    char channel_order_id[40];
};

static struct wh_item *items(struct sg_demo_wh *w)
{
    return w->queue;
}

static unsigned char *seen_of(struct sg_demo_wh *w)
{
    return (unsigned char *)(items(w) + SG_DEMO_WH_QUEUE_MAX);
}

static void enqueue(struct sg_demo_wh *w, const json_t *data)
{
    json_t *id = json_object_get(data, "order_id");
    const char *ch = sg_json_str(data, "channel_order_id");
    struct wh_item it = {.order_id = json_is_integer(id)
                                         ? json_integer_value(id)
                                         : 0};

    if (ch)
        snprintf(it.channel_order_id, sizeof(it.channel_order_id), "%s", ch);
    if (it.order_id <= 0 && !it.channel_order_id[0])
        return;
    pthread_mutex_lock(&w->lock);
    if (it.order_id > 0 && (uint64_t)it.order_id < SEEN_MAX) {
        if (seen_of(w)[it.order_id]) {
            pthread_mutex_unlock(&w->lock);
            return;
        }
        seen_of(w)[it.order_id] = 1;
    }
    if (w->q_len < SG_DEMO_WH_QUEUE_MAX) {
        items(w)[(w->q_head + w->q_len) % SG_DEMO_WH_QUEUE_MAX] = it;
        w->q_len++;
        pthread_cond_signal(&w->cond);
    } else {
        atomic_fetch_add(&w->ship_failed, 1);
    }
    pthread_mutex_unlock(&w->lock);
}

static void wh_hook(struct sg_http_req *r, void *ctx)
{
    struct sg_demo_wh *w = ctx;
    size_t len, slen;
    const char *body = sg_http_req_body(r, &len);
    const char *sig = sg_http_req_header(r, "x-surge-signature", &slen);
    char want[65];
    const char *event;
    json_t *doc;

    atomic_fetch_add(&w->notices, 1);
    if (sig) {
        sg_hmac_sha256_hex(w->secret, strlen(w->secret), body, len, want);
        if (slen != 71 || !sg_ct_equal(sig + 7, 64, want, 64)) {
            atomic_fetch_add(&w->bad_signatures, 1);
            sg_http_reply_error(r, 401, "bad_signature", "bad signature",
                                NULL);
            return;
        }
    }
    doc = sg_json_loadb(body, len, 0, NULL, NULL);
    event = sg_json_str(doc, "event");
    if (!event)
        event = sg_json_str(doc, "type");
    if (event && strcmp(event, "order.ready_to_ship") == 0) {
        atomic_fetch_add(&w->ready, 1);
        enqueue(w, json_object_get(doc, "data"));
    } else if (event && strcmp(event, "order.oversold") == 0) {
        atomic_fetch_add(&w->oversold_notes, 1);
    }
    json_decref(doc);
    sg_http_reply(r, 200, "application/json", "{\"ok\":true}", 11);
}

static void ship(struct sg_demo_wh *w, const struct wh_item *it,
                 unsigned long n)
{
    char body[300], who[80];
    long st;

    if (it->order_id > 0)
        snprintf(who, sizeof(who), "\"order_id\":%" PRId64, it->order_id);
    else
        snprintf(who, sizeof(who), "\"channel_order_id\":\"%s\"",
                 it->channel_order_id);
    snprintf(body, sizeof(body),
             "{%s,\"carrier\":\"DemoPost\",\"tracking_number\":"
             "\"DP%010lu\",\"package_weight_g\":450}",
             who, n);
    st = sg_demo__http(NULL, "POST", w->engine, "/api/v1/shipments", body,
                       w->key);
    if (st == 200 || st == 201)
        atomic_fetch_add(&w->shipped, 1);
    else
        atomic_fetch_add(&w->ship_failed, 1);
}

static void *worker(void *arg)
{
    struct sg_demo_wh *w = arg;
    unsigned long n = 0;

    pthread_mutex_lock(&w->lock);
    for (;;) {
        struct wh_item it;

        while (!w->stop && w->q_len == 0)
            pthread_cond_wait(&w->cond, &w->lock);
        if (w->q_len == 0)
            break;
        it = items(w)[w->q_head];
        w->q_head = (w->q_head + 1) % SG_DEMO_WH_QUEUE_MAX;
        w->q_len--;
        pthread_mutex_unlock(&w->lock);
        ship(w, &it, ++n);
        pthread_mutex_lock(&w->lock);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

int sg_demo__wh_start(struct sg_demo_wh *w, struct sg_err *err)
{
    struct sg_http_server_cfg cfg;
    unsigned char raw[16];
    int rc;

    sg_random_bytes(raw, sizeof(raw));
    sg_hex_encode(raw, sizeof(raw), w->secret);
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->cond, NULL);
    /* One block: the ring of items, then one seen-flag per order id. */
    w->queue = sg_calloc(1, sizeof(struct wh_item) * SG_DEMO_WH_QUEUE_MAX +
                                SEEN_MAX);
    if (!w->queue)
        return sg_err_set(err, SG_ENOMEM, "out of memory");
    sg_http_server_cfg_defaults(&cfg);
    cfg.listen = "127.0.0.1:0";
    cfg.threads = 1;
    cfg.name = "warehouse";
    rc = sg_http_server_new(&w->srv, &cfg, err);
    if (!rc)
        rc = sg_http_route(w->srv, "POST", "/hook", wh_hook, w);
    if (!rc)
        rc = sg_http_route(w->srv, "POST", "/ready", wh_hook, w);
    if (!rc)
        rc = sg_http_server_start(w->srv, err);
    if (!rc && pthread_create(&w->worker, NULL, worker, w) != 0)
        rc = sg_err_set(err, SG_EIO, "cannot start the warehouse worker");
    if (!rc)
        w->worker_started = true;
    return rc;
}

void sg_demo__wh_stop(struct sg_demo_wh *w)
{
    if (w->worker_started) {
        pthread_mutex_lock(&w->lock);
        w->stop = true;
        w->q_len = 0; /* what is still queued is not shipped */
        pthread_cond_broadcast(&w->cond);
        pthread_mutex_unlock(&w->lock);
        pthread_join(w->worker, NULL);
        w->worker_started = false;
    }
    if (w->srv)
        sg_http_server_free(w->srv);
    w->srv = NULL;
    sg_free(w->queue);
    w->queue = NULL;
}
