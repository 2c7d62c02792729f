/*
 * traffic.c - the sandbox's buyer traffic generator: a thread that places
 * orders (steady, viral ramp-and-decay, live bursts on pinned products, or
 * a flood as fast as the webhooks can be delivered) through
 * sg_sbx__order_place_lines (sg_sbx_order_create's checks, lines given
 * from C), and now and then has buyers cancel, return or write to the
 * shop.
 *
 * Invariant: every order goes through sg_sbx__order_place_lines under the
 * state lock, so the generator can never oversell; a refused order only
 * counts.
 * The thread is bounded by max_orders attempts and duration_s (real time).
 * sg_sbx_traffic_stop joins it and must be called WITHOUT the state lock.
 */
#include "core/sg.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/json.h"
#include "core/log.h"
#include "sandbox/sandbox.h"
#include "sandbox/tiktok_shop/shop_internal.h"

#include <pthread.h>
#include <sched.h>
#include <time.h>

#define TICK_MS          20
#define PER_TICK_MAX     200
#define ORDERS_MAX_CAP   1000000
#define DURATION_MAX_S   86400
#define PINNED_MAX       64
#define LINES_MAX        20 /* lines_max's bound */
/*
 * Flood: orders back to back, FLOOD_CHUNK per hold of the state lock (so
 * API calls get the lock between chunks), pausing FLOOD_PAUSE_MS while
 * more than FLOOD_QUEUED_MAX webhook deliveries wait: the generator then
 * runs as fast as the receivers take webhooks, and none is dropped from
 * a full queue.
 */
#define FLOOD_CHUNK      32
#define FLOOD_QUEUED_MAX 4000
#define FLOOD_PAUSE_MS   2
#define FLOOD_POOL_CHUNKS 16 /* chunks between lookups of the SKUs to sell */

enum pattern { PAT_STEADY, PAT_VIRAL, PAT_LIVE, PAT_FLOOD };

struct sg_sbx__traffic {
    struct sg_sbx *sbx;
    pthread_t thread;
    bool joinable;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
    bool running;

    /* spec */
    enum pattern pattern;
    double rate;
    double peak;
    double duration_s;
    int64_t max_orders;
    char shop_id[24];
    int64_t units_max;
    int64_t lines_max;
    unsigned cancel_pct, return_pct, message_pct, address_pct;
    double burst_every_s, burst_s;
    json_t *pinned;

    /* counters */
    int64_t created, rejected, cancels, returns, messages, addresses;
    int64_t started_at_s;
    int64_t started_mono_ms, ended_mono_ms;
};

static const char *const pattern_names[] = {"steady", "viral", "live",
                                            "flood"};

static double num(const json_t *spec, const char *key, double def)
{
    json_t *v = json_object_get(spec, key);

    return json_is_number(v) ? json_number_value(v) : def;
}

static int parse_spec(struct sg_sbx__traffic *t, const json_t *spec,
                      struct sg_err *err)
{
    /* The numbers first: known[0..N_NUMBERS) must be JSON numbers. */
    static const char *const known[] = {
        "rate",       "peak",        "duration_s",  "max_orders",
        "units_max",  "lines_max",   "cancel_pct",  "return_pct",
        "message_pct", "address_pct", "burst_every_s", "burst_s",
        "pattern",    "shop_id",     "live_pinned", "timing"};
    enum { N_NUMBERS = 12 };
    const char *pat = sg_json_str(spec, "pattern");
    const char *shop = sg_json_str(spec, "shop_id");
    json_t *pinned = json_object_get(spec, "live_pinned");
    const char *bad = sg_json_unknown_key(spec, known, SG_ARRAY_SIZE(known));
    size_t i;
    json_t *v;

    /* A misspelt or mistyped field is refused, not left at its default. */
    if (bad)
        return sg_err_set(err, SG_EINVAL, "unknown field \"%s\"", bad);
    for (i = 0; i < N_NUMBERS; i++) {
        v = json_object_get(spec, known[i]);
        if (v && !json_is_number(v))
            return sg_err_set(err, SG_EINVAL, "%s must be a number",
                              known[i]);
    }
    if (json_object_get(spec, "pattern") && !pat)
        return sg_err_set(err, SG_EINVAL, "pattern must be a string");
    if (json_object_get(spec, "shop_id") && !shop)
        return sg_err_set(err, SG_EINVAL, "shop_id must be a string");

    t->pattern = PAT_STEADY;
    if (pat != NULL) {
        for (i = 0; i < SG_ARRAY_SIZE(pattern_names); i++)
            if (strcmp(pat, pattern_names[i]) == 0)
                break;
        if (i == SG_ARRAY_SIZE(pattern_names))
            return sg_err_set(err, SG_EINVAL,
                              "pattern must be steady, viral, live or "
                              "flood");
        t->pattern = (enum pattern)i;
    }
    t->rate = num(spec, "rate", 5.0);
    t->peak = num(spec, "peak", t->rate * 10.0);
    t->duration_s = num(spec, "duration_s", 10.0);
    t->max_orders = (int64_t)num(spec, "max_orders", 1000.0);
    t->units_max = (int64_t)num(spec, "units_max", 2.0);
    t->lines_max = (int64_t)num(spec, "lines_max", 2.0);
    t->cancel_pct = (unsigned)num(spec, "cancel_pct", 0.0);
    t->return_pct = (unsigned)num(spec, "return_pct", 0.0);
    t->message_pct = (unsigned)num(spec, "message_pct", 0.0);
    t->address_pct = (unsigned)num(spec, "address_pct", 0.0);
    t->burst_every_s = num(spec, "burst_every_s", 10.0);
    t->burst_s = num(spec, "burst_s", 3.0);
    if (t->rate < 0 || t->rate > 10000 || t->peak < 0 || t->peak > 10000)
        return sg_err_set(err, SG_EINVAL, "rate and peak must be 0..10000");
    if (t->duration_s <= 0 || t->duration_s > DURATION_MAX_S)
        return sg_err_set(err, SG_EINVAL, "duration_s must be 0..86400");
    if (t->max_orders < 1 || t->max_orders > ORDERS_MAX_CAP)
        return sg_err_set(err, SG_EINVAL, "max_orders must be 1..1000000");
    if (t->units_max < 1 || t->units_max > 100 || t->lines_max < 1 ||
        t->lines_max > LINES_MAX)
        return sg_err_set(err, SG_EINVAL,
                          "units_max must be 1..100, lines_max 1..20");
    if (t->cancel_pct > 100 || t->return_pct > 100 || t->message_pct > 100 ||
        t->address_pct > 100)
        return sg_err_set(err, SG_EINVAL, "percentages must be 0..100");
    if (t->burst_every_s <= 0 || t->burst_s < 0)
        return sg_err_set(err, SG_EINVAL, "bad burst_every_s / burst_s");
    if (shop != NULL) {
        if (strlen(shop) >= sizeof(t->shop_id))
            return sg_err_set(err, SG_EINVAL, "bad shop_id");
        snprintf(t->shop_id, sizeof(t->shop_id), "%s", shop);
    }
    t->pinned = json_array();
    if (pinned != NULL && (!json_is_array(pinned) ||
                           json_array_size(pinned) > PINNED_MAX))
        return sg_err_set(err, SG_EINVAL,
                          "live_pinned must be up to 64 product ids");
    json_array_foreach(pinned, i, v) {
        if (!json_is_string(v))
            return sg_err_set(err, SG_EINVAL,
                              "live_pinned must hold strings");
        json_array_append(t->pinned, v);
    }
    if (t->pattern == PAT_LIVE && json_array_size(t->pinned) == 0)
        return sg_err_set(err, SG_EINVAL, "live needs live_pinned");
    return 0;
}

/* Orders per second at elapsed time e. */
static double rate_at(const struct sg_sbx__traffic *t, double e)
{
    double ramp = t->duration_s / 4.0, r, phase;

    switch (t->pattern) {
    case PAT_VIRAL:
        if (e < ramp)
            return t->peak * (e / ramp);
        r = t->peak * (1.0 - (e - ramp) / (t->duration_s - ramp));
        return r < t->peak * 0.05 ? t->peak * 0.05 : r;
    case PAT_LIVE:
        phase = e - t->burst_every_s * (double)(int64_t)(e / t->burst_every_s);
        return phase < t->burst_s ? t->peak : t->rate;
    case PAT_STEADY:
    default:
        return t->rate;
    }
}

/* A SKU that can sell. Ids are copied: a flood keeps its pool across
 * releases of the state lock (a stale one is refused like a sold-out SKU). */
struct cand {
    char product_id[32];
    char sku_id[32];
};

struct pool {
    struct cand *v;
    size_t n, cap;
};

static void pool_release(struct pool *p)
{
    sg_free(p->v);
    memset(p, 0, sizeof(*p));
}

/* SKUs that can sell: ACTIVATE (pinned for live) with stock, in the
 * state's order. Lock held. */
static void candidates(struct sg_sbx__traffic *t, const char *shop_id,
                       struct pool *out)
{
    json_t *p;
    const char *key;

    out->n = 0;
    json_object_foreach(sg_sbx_coll(t->sbx, "products"), key, p) {
        const char *owner = sg_json_str(p, "shop_id");
        const char *st = sg_json_str(p, "status");
        size_t i, j;
        json_t *sku, *inv;

        if (owner == NULL || strcmp(owner, shop_id) != 0 || st == NULL ||
            strcmp(st, "ACTIVATE") != 0)
            continue;
        if (t->pattern == PAT_LIVE && !sg_sbx__strarr_has(t->pinned, key))
            continue;
        json_array_foreach(json_object_get(p, "skus"), i, sku) {
            int64_t q = 0;
            const char *id = sg_json_str(sku, "id");

            json_array_foreach(json_object_get(sku, "inventory"), j, inv)
                q += sg_json_int(inv, "quantity", 0);
            if (q <= 0 || id == NULL)
                continue;
            if (out->n == out->cap) {
                size_t cap = out->cap ? out->cap * 2 : 64;
                struct cand *v = sg_realloc(out->v, cap * sizeof(*v));

                if (v == NULL)
                    return; /* fewer choices; never more than there are */
                out->v = v;
                out->cap = cap;
            }
            snprintf(out->v[out->n].product_id,
                     sizeof(out->v[out->n].product_id), "%s", key);
            snprintf(out->v[out->n].sku_id, sizeof(out->v[out->n].sku_id),
                     "%s", id);
            out->n++;
        }
    }
}

static json_t *random_order_of(struct sg_sbx *s, const char *shop_id,
                               const char *status1, const char *status2)
{
    struct sg_sbx__list l;
    json_t *hit = NULL;
    size_t i, n = 0, pick;

    /* Compact orders (never delivered) are skipped, not thawed. */
    if (sg_sbx__collect(&l, sg_sbx__coll_raw(s, "orders"), shop_id, NULL,
                        NULL, "create_time", false) != 0)
        return NULL;
    for (i = 0; i < l.n; i++) {
        const char *st = sg_json_str(l.v[i].obj, "status");

        if (st && (strcmp(st, status1) == 0 || strcmp(st, status2) == 0))
            l.v[n++] = l.v[i];
    }
    if (n > 0) {
        pick = (size_t)sg_sbx_rand(s, n);
        hit = l.v[pick].obj;
    }
    sg_sbx__list_release(&l);
    return hit;
}

/* The order just placed, as a tree (thawed when kept compact). */
static json_t *buyer_order(struct sg_sbx *s, const char *order_id)
{
    return sg_sbx__get(s, "orders", order_id, NULL);
}

/*
 * One buyer attempt; lock held. pool: SKUs to choose from (the flood's,
 * looked up once per chunk), or NULL to look them up now.
 */
static void one_order(struct sg_sbx__traffic *t, const char *shop_id,
                      const struct pool *pool)
{
    static const char *const rtypes[] = {"REFUND", "RETURN_AND_REFUND",
                                         "REPLACEMENT"};
    struct sg_sbx *s = t->sbx;
    struct pool own = {0};
    const struct pool *cand = pool;
    struct sg_sbx__line_req lines[LINES_MAX];
    char order_id[24];
    int64_t nl, i;
    struct sg_err err;
    int rc;

    sg_err_init(&err);
    if (cand == NULL) {
        candidates(t, shop_id, &own);
        cand = &own;
    }
    if (cand->n == 0) {
        pool_release(&own);
        t->rejected++;
        return;
    }
    nl = 1 + (int64_t)sg_sbx_rand(s, (uint64_t)t->lines_max);
    for (i = 0; i < nl; i++) {
        const struct cand *c = &cand->v[sg_sbx_rand(s, cand->n)];

        lines[i] = (struct sg_sbx__line_req){
            .product_id = c->product_id,
            .sku_id = c->sku_id,
            .qty = 1 + (int64_t)sg_sbx_rand(s, (uint64_t)t->units_max)};
    }
    rc = sg_sbx__order_place_lines(s, shop_id, lines, (size_t)nl, order_id,
                                   &err);
    pool_release(&own); /* after: the lines borrow its ids */
    if (rc != 0) {
        t->rejected++;
        return;
    }
    t->created++;
    /* The order as a tree only when a buyer acts on it (it may be kept
     * compact until then, shop_internal.h). */
    if (sg_sbx_rand(s, 100) < t->cancel_pct &&
        buyer_order(s, order_id) != NULL &&
        sg_sbx__buyer_cancel(s, buyer_order(s, order_id),
                             "ecom_order_to_ship_canceled_reason_"
                             "changed_mind", &err) == 0)
        t->cancels++;
    if (sg_sbx_rand(s, 100) < t->message_pct &&
        buyer_order(s, order_id) != NULL &&
        sg_sbx__buyer_message(s, buyer_order(s, order_id),
                              "Hi, when will my order ship?", &err) == 0)
        t->messages++;
    /* Drawn only when asked for, so older specs keep their sequence. */
    if (t->address_pct > 0 && sg_sbx_rand(s, 100) < t->address_pct &&
        buyer_order(s, order_id) != NULL &&
        sg_sbx__order_address_update(s, buyer_order(s, order_id), &err) == 0)
        t->addresses++;
    if (sg_sbx_rand(s, 100) < t->return_pct) {
        json_t *done = random_order_of(s, shop_id, "DELIVERED", "COMPLETED");

        if (done != NULL &&
            sg_sbx__buyer_return(s, done, rtypes[sg_sbx_rand(s, 3)],
                                 "ecom_order_delivered_refund_and_return_"
                                 "reason_damaged", &err) == 0)
            t->returns++;
    }
}

static bool should_stop(struct sg_sbx__traffic *t)
{
    bool stop;

    pthread_mutex_lock(&t->mu);
    stop = t->stop;
    pthread_mutex_unlock(&t->mu);
    return stop;
}

/* Sleep up to TICK_MS, waking at once on stop. */
static void tick_wait(struct sg_sbx__traffic *t)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += TICK_MS * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&t->mu);
    if (!t->stop)
        pthread_cond_timedwait(&t->cv, &t->mu, &ts);
    pthread_mutex_unlock(&t->mu);
}

static void flood_pause(struct sg_sbx__traffic *t)
{
    struct timespec ts = {0, FLOOD_PAUSE_MS * 1000000L};

    if (!should_stop(t))
        nanosleep(&ts, NULL);
}

/*
 * Flood: chunks of orders back to back. The SKUs with stock are looked up
 * every FLOOD_POOL_CHUNKS chunks and after any refusal; a buyer who picks
 * one that sold out meanwhile is refused and counted as rejected, as any
 * refused order is.
 */
static void flood_main(struct sg_sbx__traffic *t, const char *shop_id)
{
    struct sg_sbx *s = t->sbx;
    struct pool pool = {0};
    int64_t attempts = 0, rejected = -1;
    unsigned chunks = 0;

    while (!should_stop(t) && attempts < t->max_orders &&
           (double)(sg_mono_ms() - t->started_mono_ms) / 1000.0 <
               t->duration_s) {
        size_t avail;

        if (sg_sbx_webhooks_queued(s) > FLOOD_QUEUED_MAX) {
            flood_pause(t);
            continue;
        }
        sg_sbx_lock(s);
        /* Looked up again after a refusal (a SKU sold out) and now and
         * then; products do not change during a flood. */
        if (chunks++ % FLOOD_POOL_CHUNKS == 0 || t->rejected != rejected)
            candidates(t, shop_id, &pool);
        avail = pool.n;
        for (int n = 0; n < FLOOD_CHUNK && attempts < t->max_orders; n++) {
            pthread_mutex_lock(&t->mu);
            one_order(t, shop_id, &pool);
            pthread_mutex_unlock(&t->mu);
            attempts++;
        }
        pthread_mutex_lock(&t->mu);
        rejected = t->rejected;
        pthread_mutex_unlock(&t->mu);
        sg_sbx_unlock(s);
        if (avail == 0)
            flood_pause(t); /* sold out: nothing to do but count */
        else
            sched_yield(); /* let a waiting API call take the lock */
    }
    pool_release(&pool);
}

static void *traffic_main(void *arg)
{
    struct sg_sbx__traffic *t = arg;
    struct sg_sbx *s = t->sbx;
    double due = 1.0, last = 0.0;
    char shop_id[24];
    int64_t attempts = 0;

    snprintf(shop_id, sizeof(shop_id), "%s", t->shop_id);
    if (t->pattern == PAT_FLOOD)
        flood_main(t, shop_id);
    while (t->pattern != PAT_FLOOD && !should_stop(t)) {
        double e = (double)(sg_mono_ms() - t->started_mono_ms) / 1000.0;
        int n = 0;

        if (e >= t->duration_s || attempts >= t->max_orders)
            break;
        due += rate_at(t, e) * (e - last);
        last = e;
        if (due >= 1.0) {
            sg_sbx_lock(s);
            while (due >= 1.0 && n < PER_TICK_MAX &&
                   attempts < t->max_orders) {
                pthread_mutex_lock(&t->mu);
                one_order(t, shop_id, NULL);
                pthread_mutex_unlock(&t->mu);
                attempts++;
                due -= 1.0;
                n++;
            }
            sg_sbx_unlock(s);
            if (due > PER_TICK_MAX)
                due = PER_TICK_MAX;
        }
        tick_wait(t);
    }
    pthread_mutex_lock(&t->mu);
    t->running = false;
    t->ended_mono_ms = sg_mono_ms();
    pthread_mutex_unlock(&t->mu);
    return NULL;
}

static void traffic_free(struct sg_sbx__traffic *t)
{
    if (t == NULL)
        return;
    json_decref(t->pinned);
    pthread_cond_destroy(&t->cv);
    pthread_mutex_destroy(&t->mu);
    sg_free(t);
}

int sg_sbx_traffic_start(struct sg_sbx *s, const json_t *spec,
                         struct sg_err *err)
{
    struct sg_sbx__ext *ext = sg_sbx__ext(s);
    struct sg_sbx__traffic *t;
    const struct sg_sbx_shop *shop;
    int rc;

    if (ext->traffic != NULL) {
        bool running;

        pthread_mutex_lock(&ext->traffic->mu);
        running = ext->traffic->running;
        pthread_mutex_unlock(&ext->traffic->mu);
        if (running)
            return sg_err_set(err, SG_EBUSY, "traffic is already running");
        sg_sbx_traffic_stop(s);
        traffic_free(ext->traffic);
        ext->traffic = NULL;
    }
    t = sg_calloc(1, sizeof(*t));
    if (t == NULL)
        return sg_err_set(err, SG_ENOMEM, "out of memory");
    t->sbx = s;
    pthread_mutex_init(&t->mu, NULL);
    pthread_cond_init(&t->cv, NULL);
    rc = parse_spec(t, spec, err);
    if (rc != 0)
        goto fail;
    sg_sbx_lock(s);
    shop = t->shop_id[0] ? sg_sbx_shop_by_id(s, t->shop_id)
                         : sg_sbx_default_shop(s);
    if (shop != NULL)
        snprintf(t->shop_id, sizeof(t->shop_id), "%s", shop->id);
    rc = sg_sbx__timing_set(s, json_object_get(spec, "timing"), err);
    t->started_at_s = sg_sbx_now_s(s);
    sg_sbx_unlock(s);
    if (rc != 0)
        goto fail;
    if (shop == NULL) {
        rc = sg_err_set(err, SG_ENOTFOUND, "no such shop");
        goto fail;
    }
    t->running = true;
    t->started_mono_ms = sg_mono_ms();
    if (pthread_create(&t->thread, NULL, traffic_main, t) != 0) {
        rc = sg_err_set(err, SG_EIO, "cannot start the traffic thread");
        goto fail;
    }
    t->joinable = true;
    ext->traffic = t;
    sg_log(SG_LOG_INFO, "sandbox", "msg=\"traffic started\" pattern=%s",
           pattern_names[t->pattern]);
    return 0;
fail:
    traffic_free(t);
    return rc;
}

void sg_sbx_traffic_stop(struct sg_sbx *s)
{
    struct sg_sbx__ext *ext = sg_sbx__ext(s);
    struct sg_sbx__traffic *t = ext->traffic;

    if (t == NULL)
        return;
    pthread_mutex_lock(&t->mu);
    t->stop = true;
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
    if (t->joinable)
        pthread_join(t->thread, NULL);
    t->joinable = false;
    /* Keep the last run's counters for status until the next start. */
}

void sg_sbx__traffic_release(struct sg_sbx *s)
{
    struct sg_sbx__ext *ext = sg_sbx__ext(s);

    sg_sbx_traffic_stop(s);
    traffic_free(ext->traffic);
    ext->traffic = NULL;
}

json_t *sg_sbx_traffic_status(struct sg_sbx *s)
{
    struct sg_sbx__traffic *t = sg_sbx__ext(s)->traffic;
    json_t *st = json_object();
    int64_t end;

    if (t == NULL) {
        json_object_set_new(st, "running", json_false());
        json_object_set_new(st, "pattern", json_null());
        sg_sbx__set_int(st, "created", 0);
        sg_sbx__set_int(st, "rejected_out_of_stock", 0);
        sg_sbx__set_int(st, "cancels_requested", 0);
        sg_sbx__set_int(st, "returns_requested", 0);
        sg_sbx__set_int(st, "messages", 0);
        sg_sbx__set_int(st, "address_updates", 0);
        return st;
    }
    pthread_mutex_lock(&t->mu);
    json_object_set_new(st, "running", json_boolean(t->running));
    sg_sbx__set_str(st, "pattern", pattern_names[t->pattern]);
    sg_sbx__set_int(st, "created", t->created);
    sg_sbx__set_int(st, "rejected_out_of_stock", t->rejected);
    sg_sbx__set_int(st, "cancels_requested", t->cancels);
    sg_sbx__set_int(st, "returns_requested", t->returns);
    sg_sbx__set_int(st, "messages", t->messages);
    sg_sbx__set_int(st, "address_updates", t->addresses);
    sg_sbx__set_int(st, "started_at", t->started_at_s);
    end = t->running ? sg_mono_ms() : t->ended_mono_ms;
    json_object_set_new(st, "elapsed_s",
                        json_real((double)(end - t->started_mono_ms) /
                                  1000.0));
    sg_sbx__set_str(st, "shop_id", t->shop_id);
    pthread_mutex_unlock(&t->mu);
    return st;
}
