/*
 * webhooks.c - outgoing webhooks. sg_sbx_emit (state lock held) resolves
 * the subscribed addresses, signs the body as TikTok does and queues one
 * delivery per address; a delivery thread of its own POSTs them, up to
 * webhook_concurrency at once (and at most webhook_address_concurrency
 * to one address): to an http:// address with an IP literal over plain
 * HTTP/1.1 keep-alive connections of its own (h1.c), to any other on a
 * libcurl multi handle; retrying non-2xx
 * answers on the configured schedule of the sandbox clock. Duplicates and
 * reordering are drawn from the seeded stream. An item stays in the queue
 * until its last attempt ends, so the queue saved with the state (--state)
 * holds in-flight items too; an item delivered after the last save but
 * before a crash is sent once more after the restart (at-least-once, as
 * TikTok).
 */
#include "core/sg.h"
#include "sandbox/internal.h"
#include "connectors/tiktok_shop/sign.h"
#include "core/alloc.h"
#include "core/crypto.h"
#include "core/json.h"
#include "core/log.h"
#include "core/clock.h"
#include "sandbox/h1.h"

#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <openssl/crypto.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define WH_LOG_MAX 1000
#define WH_REQ_MAX (64u << 20) /* one plain request: head and body */

static const struct {
    int type;
    const char *name;
} events[] = {
    {1, "ORDER_STATUS_CHANGE"},
    {2, "REVERSE_STATUS_UPDATE"},
    {3, "RECIPIENT_ADDRESS_UPDATE"},
    {4, "PACKAGE_UPDATE"},
    {5, "PRODUCT_STATUS_CHANGE"},
    {6, "SELLER_DEAUTHORIZATION"},
    {7, "UPCOMING_AUTHORIZATION_EXPIRATION"},
    {11, "CANCELLATION_STATUS_CHANGE"},
    {12, "RETURN_STATUS_CHANGE"},
    {13, "NEW_CONVERSATION"},
    {14, "NEW_MESSAGE"},
    {37, "PRODUCT_AUDIT_STATUS_CHANGE"},
};

const char *sg_sbx__event_name(int type)
{
    for (size_t i = 0; i < SG_ARRAY_SIZE(events); i++)
        if (events[i].type == type)
            return events[i].name;
    return NULL;
}

int sg_sbx__event_type(const char *name)
{
    for (size_t i = 0; name && i < SG_ARRAY_SIZE(events); i++)
        if (strcmp(events[i].name, name) == 0)
            return events[i].type;
    return 0;
}

/*
 * The queue is an array in serial order (items are appended with rising
 * serials). An item that ends is emptied in place (url NULL) and the
 * array is compacted when the empty entries pile up, so ending an item
 * costs no shifting and finding one is a binary search: at thousands of
 * deliveries a second the queue holds thousands of items.
 */
static void compact(struct sg_sbx *s)
{
    size_t j = 0;

    for (size_t i = 0; i < s->n_whq; i++)
        if (s->whq[i].url != NULL)
            s->whq[j++] = s->whq[i];
    s->n_whq = j;
}

/* Queue one delivery; wh_lock held. Takes url and body on success. */
static bool enqueue(struct sg_sbx *s, const struct sg_sbx_wh_item *it)
{
    if (s->n_whq_live >= SG_SBX_WH_QUEUE_MAX)
        return false;
    if (s->n_whq == s->cap_whq && s->n_whq > s->n_whq_live)
        compact(s);
    if (s->n_whq == s->cap_whq) {
        size_t cap = s->cap_whq ? s->cap_whq * 2 : 64;
        void *p = sg_realloc(s->whq, cap * sizeof(*s->whq));

        if (!p)
            return false;
        s->whq = p;
        s->cap_whq = cap;
    }
    s->whq[s->n_whq] = *it;
    s->whq[s->n_whq].serial = ++s->wh_serial;
    s->whq[s->n_whq].inflight = false;
    s->n_whq++;
    s->n_whq_live++;
    return true;
}

static void log_delivery(struct sg_sbx *s, const struct sg_sbx_wh_item *it,
                         const char *what, long status)
{
    struct sg_sbx_wh_log *e;

    if (s->wh_log == NULL) {
        s->wh_log = sg_calloc(WH_LOG_MAX, sizeof(*s->wh_log));
        if (s->wh_log == NULL)
            return; /* the log is a debugging aid; deliveries go on */
    }
    if (s->wh_log_n < WH_LOG_MAX) {
        e = &s->wh_log[(s->wh_log_head + s->wh_log_n) % WH_LOG_MAX];
        s->wh_log_n++;
    } else {
        e = &s->wh_log[s->wh_log_head];
        s->wh_log_head = (s->wh_log_head + 1) % WH_LOG_MAX;
    }
    /* The same few addresses over and over: keep the copy when it fits. */
    if (e->url == NULL || strcmp(e->url, it->url) != 0) {
        sg_free(e->url);
        e->url = sg_strdup(it->url);
    }
    snprintf(e->notification_id, sizeof(e->notification_id), "%s",
             it->notification_id);
    e->type = it->type;
    e->attempt = it->attempt;
    e->result = what;
    e->status = status;
    e->time_ms = sg_sbx_now_ms(s);
}

static void queue_copy(struct sg_sbx *s, const char *url, const char *body,
                       size_t len, const char *nid, int type, int64_t at)
{
    struct sg_sbx_wh_item it;

    memset(&it, 0, sizeof(it));
    it.url = sg_strdup(url);
    it.body = sg_strndup(body, len);
    it.body_len = len;
    it.at_ms = at;
    it.type = type;
    snprintf(it.notification_id, sizeof(it.notification_id), "%s", nid);
    if (!it.url || !it.body || !enqueue(s, &it)) {
        sg_log(SG_LOG_WARN, "sandbox", "msg=\"webhook dropped\" id=%s", nid);
        sg_free(it.url);
        sg_free(it.body);
        return;
    }
    log_delivery(s, &it, "queued", 0);
}

#define EMIT_ADDRS_MAX 16

/*
 * Addresses for (shop, type), at most max: subscriptions plus the default
 * address, each once. Borrowed from the state (state lock held).
 */
static size_t addresses(struct sg_sbx *s, const char *shop_id, int type,
                        const char **out, size_t max)
{
    const char *name = sg_sbx__event_name(type), *k, *dflt;
    size_t n = 0;
    json_t *w;

    json_object_foreach(sg_sbx_coll(s, "webhooks"), k, w) {
        const char *sid = sg_json_str(w, "shop_id");
        const char *et = sg_json_str(w, "event_type");
        const char *addr = sg_json_str(w, "address");

        if (sid && et && addr && name && n < max &&
            strcmp(sid, shop_id) == 0 && strcmp(et, name) == 0)
            out[n++] = addr;
    }
    dflt = sg_json_str(s->state, "webhook_address");
    if (dflt && *dflt) {
        for (size_t i = 0; i < n; i++)
            if (strcmp(out[i], dflt) == 0)
                return n;
        if (n < max)
            out[n++] = dflt;
    }
    return n;
}

/* Digits, letters, '-' and '_': written as they are in JSON. */
static bool plain_id(const char *s)
{
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') ||
              (*s >= 'A' && *s <= 'Z') || *s == '-' || *s == '_'))
            return false;
    return true;
}

/*
 * The notification body, as json_pack and sg_json_dump wrote it (members
 * in this order, compact): the envelope printed around the data's dump
 * instead of a JSON object built and dumped per webhook.
 */
static char *emit_body(const char *nid, const char *shop_id, int type,
                       int64_t ts, json_t *data, size_t *len)
{
    char *d, *text = NULL;
    size_t dlen = 0, cap;
    int n;

    if (!plain_id(shop_id) || !plain_id(nid)) {
        json_t *body = json_pack("{s:i,s:s,s:s,s:I,s:O}", "type", type,
                                 "tts_notification_id", nid, "shop_id",
                                 shop_id, "timestamp", (json_int_t)ts,
                                 "data", data);

        text = body ? sg_json_dump(body, len) : NULL;
        json_decref(body);
        return text;
    }
    d = sg_json_dump(data, &dlen);
    if (!d)
        return NULL;
    cap = dlen + strlen(nid) + strlen(shop_id) + 128;
    text = sg_alloc(cap);
    if (text) {
        n = snprintf(text, cap,
                     "{\"type\":%d,\"tts_notification_id\":\"%s\","
                     "\"shop_id\":\"%s\",\"timestamp\":%" PRId64
                     ",\"data\":%s}",
                     type, nid, shop_id, ts, d);
        if (n < 0 || (size_t)n >= cap) {
            sg_free(text);
            text = NULL;
        } else {
            *len = (size_t)n;
        }
    }
    sg_free(d);
    return text;
}

void sg_sbx_emit(struct sg_sbx *s, const char *shop_id, int type,
                 json_t *data)
{
    char nid[24];
    const char *addrs[EMIT_ADDRS_MAX];
    char *text;
    size_t len = 0, n;
    int64_t now = sg_sbx_now_ms(s);

    sg_sbx_new_id(s, nid);
    if (!data)
        data = json_object();
    text = data ? emit_body(nid, shop_id, type, now / 1000, data, &len)
                : NULL;
    json_decref(data);
    n = addresses(s, shop_id, type, addrs, EMIT_ADDRS_MAX);
    pthread_mutex_lock(&s->wh_lock);
    for (size_t i = 0; i < n && text; i++) {
        int64_t at = now;

        if (sg_sbx_rand(s, 100) < s->cfg.webhook_reorder_pct)
            at += s->cfg.webhook_reorder_ms;
        queue_copy(s, addrs[i], text, len, nid, type, at);
        if (sg_sbx_rand(s, 100) < s->cfg.webhook_dup_pct)
            queue_copy(s, addrs[i], text, len, nid, type, at + 1);
    }
    /* Only a thread with a free slot has anything to start. */
    if (s->wh_multi && n && s->wh_slots_free > 0)
        curl_multi_wakeup(s->wh_multi);
    pthread_mutex_unlock(&s->wh_lock);
    sg_free(text);
}

size_t sg_sbx_webhooks_queued(struct sg_sbx *s)
{
    size_t n;

    pthread_mutex_lock(&s->wh_lock);
    n = s->n_whq_live;
    pthread_mutex_unlock(&s->wh_lock);
    return n;
}

static size_t sink(char *p, size_t size, size_t n, void *ud)
{
    SG_UNUSED(p);
    SG_UNUSED(ud);
    return size * n;
}

/*
 * The delivery thread's signing key: the app secret set up once as an
 * HMAC key (the one-shot HMAC set the key up again per delivery), made
 * again should the secret change.
 */
struct wh_signer {
    struct sg_hmac_key *key;
    char secret[sizeof(((struct sg_sbx *)0)->app_secret)];
};

static int wh_sign(struct sg_sbx *s, struct wh_signer *g, char sig[65],
                   const struct sg_sbx_wh_item *it)
{
    size_t len = strlen(s->app_secret);

    if (!g->key || !sg_ct_equal(g->secret, strlen(g->secret), s->app_secret,
                                len)) {
        sg_hmac_key_free(g->key);
        g->key = NULL;
        if (sg_hmac_key_new(&g->key, s->app_secret, len) != 0)
            return sg_tts_webhook_sign(sig, s->app_key, s->app_secret,
                                       it->body, it->body_len);
        snprintf(g->secret, sizeof(g->secret), "%s", s->app_secret);
    }
    return sg_tts_webhook_sign_key(sig, g->key, s->app_key, it->body,
                                   it->body_len);
}

static void wh_signer_release(struct wh_signer *g)
{
    sg_hmac_key_free(g->key);
    OPENSSL_cleanse(g, sizeof(*g));
}

/*
 * Failures of the plain sender, logged as libcurl's codes for the same
 * failures are (negated), so the delivery log reads the same either way.
 */
#define H1_ECONNECT  7  /* CURLE_COULDNT_CONNECT */
#define H1_EWEIRD    8  /* CURLE_WEIRD_SERVER_REPLY */
#define H1_ETIMEOUT 28  /* CURLE_OPERATION_TIMEDOUT */
#define H1_EEMPTY   52  /* CURLE_GOT_NOTHING */
#define H1_ESEND    55  /* CURLE_SEND_ERROR */
#define H1_ERECV    56  /* CURLE_RECV_ERROR */

enum h1_phase { H1_IDLE, H1_START, H1_CONNECT, H1_SEND, H1_READ };

/* One transfer slot of the delivery thread. */
struct wh_slot {
    CURL *h;
    struct curl_slist *hdr;
    uint64_t serial;          /* 0 = free */
    char *url;                /* the running transfer's address */
    /* The plain HTTP/1.1 path (h1 != H1_IDLE while a delivery runs). */
    enum h1_phase h1;
    bool plain;               /* this delivery goes the plain way */
    bool reused;              /* over a connection kept from before */
    bool retried;             /* sent again after a stale connection */
    int fd;                   /* a kept-alive connection, or -1 */
    int ep;                   /* the thread's epoll set, fd's in it */
    char conn_host[64];       /* where fd goes (sg_h1_target.host) */
    struct sg_h1_target tgt;
    struct sg_buf req;        /* the request, sent from req_off */
    size_t req_off;
    int64_t deadline;         /* monotonic ms; 0: none */
    struct sg_h1_resp resp;
};

/* Index of the queued item with this serial, or n_whq; wh_lock held. */
static size_t find_serial(struct sg_sbx *s, uint64_t serial)
{
    size_t lo = 0, hi = s->n_whq;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (s->whq[mid].serial < serial)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < s->n_whq && s->whq[lo].serial == serial &&
        s->whq[lo].url != NULL)
        return lo;
    return s->n_whq;
}

/* Transfers running (busy) and picked to start, per address, for a fill. */
struct addr_busy {
    const char *url;
    size_t busy, picked;
};

static struct addr_busy *addr_of(struct addr_busy *a, size_t *n, size_t max,
                                 const char *url)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp(a[i].url, url) == 0)
            return &a[i];
    if (*n == max)
        return NULL;
    a[*n].url = url;
    a[*n].busy = a[*n].picked = 0;
    return &a[(*n)++];
}

/* Does item a fall due before item b (due time, then queue order)? */
static bool due_before(const struct sg_sbx_wh_item *a,
                       const struct sg_sbx_wh_item *b)
{
    return a->at_ms < b->at_ms ||
           (a->at_ms == b->at_ms && a->serial < b->serial);
}

struct pick {
    size_t i;               /* queue index */
    struct addr_busy *addr;
};

static void pick_drop(struct pick *p, size_t *n, size_t at)
{
    p[at].addr->picked--;
    memmove(&p[at], &p[at + 1], (*n - at - 1) * sizeof(*p));
    (*n)--;
}

/*
 * Up to k items to start now, earliest due first, in pick[]: due, not in
 * flight, and at most per_addr transfers per address counting those
 * running - the same choice as taking, k times, the earliest due item
 * whose address has room. One pass over the queue keeping the k earliest
 * (and per address no more than it has room for), so a receiver at its
 * limit does not hold back the others. wh_lock held.
 */
static size_t pick_due(struct sg_sbx *s, int64_t now, size_t per_addr,
                       struct addr_busy *busy, size_t *n_busy,
                       size_t busy_max, struct pick *pick, size_t k)
{
    size_t n = 0;

    for (size_t i = 0; i < s->n_whq && k > 0; i++) {
        const struct sg_sbx_wh_item *it = &s->whq[i];
        struct addr_busy *a;
        size_t j;

        if (it->url == NULL || it->inflight || it->at_ms > now)
            continue;
        if (n == k && !due_before(it, &s->whq[pick[n - 1].i]))
            continue;
        a = addr_of(busy, n_busy, busy_max, it->url);
        if (a == NULL || a->busy >= per_addr)
            continue;
        if (a->busy + a->picked >= per_addr) {
            /* Room only by replacing this address's latest pick. */
            size_t last = n;

            for (j = 0; j < n; j++)
                if (pick[j].addr == a)
                    last = j;
            if (last == n || !due_before(it, &s->whq[pick[last].i]))
                continue;
            pick_drop(pick, &n, last);
        } else if (n == k) {
            pick_drop(pick, &n, n - 1);
        }
        for (j = n; j > 0 && due_before(it, &s->whq[pick[j - 1].i]); j--)
            pick[j] = pick[j - 1];
        pick[j].i = i;
        pick[j].addr = a;
        a->picked++;
        n++;
    }
    return n;
}

/*
 * Set up slot for item it (wh_lock held). The body and URL are copied
 * into the handle, so a reset may free the item while the transfer runs.
 */
static int slot_begin(struct sg_sbx *s, struct wh_signer *g,
                      struct wh_slot *sl, const struct sg_sbx_wh_item *it)
{
    char sig[65], auth[96];

    if (wh_sign(s, g, sig, it))
        return -1;
    sl->plain = sg_h1_target_parse(it->url, &sl->tgt) == 0;
    if (sl->plain) {
        /* Kept for the per-address count of running deliveries. */
        if (sl->url == NULL || strcmp(sl->url, it->url) != 0) {
            sg_free(sl->url);
            sl->url = sg_strdup(it->url);
            if (!sl->url)
                return -1;
            /* libcurl's options no longer match this slot's address. */
            curl_easy_reset(sl->h);
        }
        /* Copied too: a reset may free the item meanwhile. */
        if (sg_h1_request(&sl->req, &sl->tgt, it->url, sig, it->body,
                          it->body_len) != 0)
            return -1;
        sl->req_off = 0;
        sl->serial = it->serial;
        return 0;
    }
    snprintf(auth, sizeof(auth), "Authorization: %s", sig);
    curl_slist_free_all(sl->hdr);
    sl->hdr = curl_slist_append(NULL, "Content-Type: application/json");
    if (sl->hdr)
        sl->hdr = curl_slist_append(sl->hdr, auth);
    if (!sl->hdr)
        return -1;
    /*
     * A slot mostly posts to the address it posted to last: its options
     * stay set and only the body and headers change (a reset and a URL
     * parse per delivery were a few % of the CPU under a flood).
     */
    if (sl->url == NULL || strcmp(sl->url, it->url) != 0) {
        curl_easy_reset(sl->h);
        sg_free(sl->url);
        sl->url = sg_strdup(it->url);
        if (!sl->url)
            return -1;
        curl_easy_setopt(sl->h, CURLOPT_URL, it->url);
        curl_easy_setopt(sl->h, CURLOPT_TIMEOUT_MS,
                         (long)s->cfg.webhook_timeout_ms);
        curl_easy_setopt(sl->h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(sl->h, CURLOPT_WRITEFUNCTION, sink);
        curl_easy_setopt(sl->h, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(sl->h, CURLOPT_PRIVATE, (void *)sl);
    }
    curl_easy_setopt(sl->h, CURLOPT_POSTFIELDSIZE, (long)it->body_len);
    curl_easy_setopt(sl->h, CURLOPT_COPYPOSTFIELDS, it->body);
    curl_easy_setopt(sl->h, CURLOPT_HTTPHEADER, sl->hdr);
    sl->serial = it->serial;
    return 0;
}

/*
 * A transfer ended with HTTP status st (or -CURLcode): log it, then drop
 * the item, or queue its next retry on the sandbox clock. An item a reset
 * removed meanwhile is simply forgotten.
 */
static void finish(struct sg_sbx *s, uint64_t serial, long st)
{
    bool ok = st >= 200 && st < 300;
    struct sg_sbx_wh_item *it;
    size_t i;

    pthread_mutex_lock(&s->wh_lock);
    i = find_serial(s, serial);
    if (i == s->n_whq)
        goto out;
    it = &s->whq[i];
    it->inflight = false;
    log_delivery(s, it, ok ? "delivered" : "failed", st);
    if (!ok && it->attempt < s->n_wh_retry) {
        it->at_ms = sg_sbx_now_ms(s) + s->wh_retry_ms[it->attempt];
        it->attempt++;
        goto out;
    }
    if (!ok)
        log_delivery(s, it, "dropped", st);
    sg_free(it->url);
    sg_free(it->body);
    it->url = NULL; /* emptied in place; compacted later */
    it->body = NULL;
    s->n_whq_live--;
out:
    atomic_store(&s->wh_dirty, true);
    pthread_mutex_unlock(&s->wh_lock);
}

/* Start due deliveries while a slot is free. */
static void fill(struct sg_sbx *s, struct wh_signer *g, CURLM *m,
                 struct wh_slot *slots, size_t n_slots)
{
    int64_t now = sg_sbx_now_ms(s);
    size_t per_addr = s->cfg.webhook_address_concurrency
                          ? s->cfg.webhook_address_concurrency
                          : 1;
    struct addr_busy busy[SG_SBX_WH_CONCURRENCY_MAX];
    struct pick pick[SG_SBX_WH_CONCURRENCY_MAX];
    size_t n_busy = 0, n_free = 0, n_pick, k = 0, started = 0;
    int rc;

    for (size_t i = 0; i < n_slots; i++) {
        if (!slots[i].serial)
            n_free++;
        else if (slots[i].url)
            addr_of(busy, &n_busy, SG_ARRAY_SIZE(busy), slots[i].url)
                ->busy++;
    }
    pthread_mutex_lock(&s->wh_lock);
    s->wh_slots_free = n_free;
    if (n_free == 0 || s->n_whq_live == 0) {
        pthread_mutex_unlock(&s->wh_lock);
        return;
    }
    if (s->n_whq > 2 * s->n_whq_live + 64)
        compact(s);
    n_pick = pick_due(s, now, per_addr, busy, &n_busy, SG_ARRAY_SIZE(busy),
                      pick, n_free);
    for (size_t c = 0; c < n_pick; c++) {
        size_t i = pick[c].i;

        while (k < n_slots && slots[k].serial)
            k++;
        if (k == n_slots)
            break;
        s->whq[i].inflight = true;
        rc = slot_begin(s, g, &slots[k], &s->whq[i]);
        if (!rc && !slots[k].plain &&
            curl_multi_add_handle(m, slots[k].h) != CURLM_OK)
            rc = -1;
        if (!rc && slots[k].plain)
            slots[k].h1 = H1_START; /* its I/O starts after the unlock */
        if (rc) {
            /* Counted as a failed attempt, retried on the schedule. */
            uint64_t serial = s->whq[i].serial;

            slots[k].serial = 0;
            pthread_mutex_unlock(&s->wh_lock);
            finish(s, serial, -1);
            pthread_mutex_lock(&s->wh_lock);
        } else {
            started++;
        }
    }
    s->wh_slots_free = n_free - started;
    pthread_mutex_unlock(&s->wh_lock);
}

/* Collect finished transfers and free their slots; returns how many. */
static size_t reap(struct sg_sbx *s, CURLM *m)
{
    CURLMsg *msg;
    int left = 0;
    size_t n = 0;

    while ((msg = curl_multi_info_read(m, &left))) {
        struct wh_slot *sl = NULL;
        long status = 0;

        if (msg->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&sl);
        if (msg->data.result == CURLE_OK)
            curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE,
                              &status);
        else
            status = -(long)msg->data.result;
        curl_multi_remove_handle(m, msg->easy_handle);
        n++;
        if (sl) {
            uint64_t serial = sl->serial;

            sl->serial = 0;
            finish(s, serial, status);
        }
    }
    return n;
}

/* ---- the plain HTTP/1.1 way ---- */

/* Does a libcurl transfer run (else curl_multi_perform has nothing)? */
static bool running_curl(const struct wh_slot *slots, size_t n)
{
    for (size_t k = 0; k < n; k++)
        if (slots[k].serial && !slots[k].plain)
            return true;
    return false;
}

static void h1_close(struct wh_slot *sl)
{
    if (sl->fd >= 0)
        close(sl->fd);
    sl->fd = -1;
    sl->conn_host[0] = '\0';
}

/* The delivery on sl ended with status (or a negated error code). */
static void h1_end(struct sg_sbx *s, struct wh_slot *sl, long status)
{
    uint64_t serial = sl->serial;

    sl->h1 = H1_IDLE;
    sl->serial = 0;
    finish(s, serial, status);
}

/*
 * Open a fresh connection for sl's delivery; false when refused. The
 * socket joins the thread's epoll set for as long as it is open (close
 * takes it out), edge-triggered for both directions: h1_step always goes
 * on until the socket would block, so an edge is never needed twice, and
 * a connection kept for the next delivery costs no epoll_ctl.
 */
static bool h1_connect(struct wh_slot *sl)
{
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP |
                                       EPOLLET,
                             .data.ptr = sl};
    int one = 1;

    h1_close(sl);
    sl->reused = false;
    sl->fd = socket(sl->tgt.sa.ss_family,
                    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (sl->fd < 0)
        return false;
    if (epoll_ctl(sl->ep, EPOLL_CTL_ADD, sl->fd, &ev) != 0) {
        h1_close(sl);
        return false;
    }
    /* The request goes out in one write; the answer is awaited. */
    (void)setsockopt(sl->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(sl->fd, (struct sockaddr *)&sl->tgt.sa, sl->tgt.sa_len) ==
        0)
        sl->h1 = H1_SEND;
    else if (errno == EINPROGRESS)
        sl->h1 = H1_CONNECT;
    else {
        h1_close(sl);
        return false;
    }
    snprintf(sl->conn_host, sizeof(sl->conn_host), "%s", sl->tgt.host);
    return true;
}

/*
 * The connection failed (code). A request on a kept connection that got
 * no byte of an answer goes once more on a fresh one, as libcurl does:
 * the receiver may have closed it while idle. Otherwise the attempt ends.
 */
static bool h1_fail(struct sg_sbx *s, struct wh_slot *sl, long code)
{
    bool again = sl->reused && !sl->resp.got_any && !sl->retried;

    h1_close(sl);
    if (again) {
        sl->retried = true;
        sl->req_off = 0;
        sg_h1_resp_init(&sl->resp);
        if (h1_connect(sl))
            return true;
        code = H1_ECONNECT;
    }
    h1_end(s, sl, -code);
    return false;
}

/*
 * Move sl's delivery on as far as its socket allows without waiting.
 * Returns true when the slot became free.
 */
static bool h1_step(struct sg_sbx *s, struct wh_slot *sl)
{
    char in[16384];
    struct sg_err err;

    if (sl->h1 == H1_START) {
        sl->retried = false;
        sg_h1_resp_init(&sl->resp);
        sl->deadline = s->cfg.webhook_timeout_ms
                           ? sg_mono_ms() + s->cfg.webhook_timeout_ms
                           : 0;
        if (sl->fd >= 0 && strcmp(sl->conn_host, sl->tgt.host) == 0) {
            sl->reused = true;
            sl->h1 = H1_SEND;
        } else if (!h1_connect(sl)) {
            h1_end(s, sl, -H1_ECONNECT);
            return true;
        }
    }
    for (;;) {
        if (sl->h1 == H1_CONNECT) {
            int e = 0;
            socklen_t el = sizeof(e);
            struct pollfd pf = {sl->fd, POLLOUT, 0};

            if (poll(&pf, 1, 0) == 0)
                return false;
            if (getsockopt(sl->fd, SOL_SOCKET, SO_ERROR, &e, &el) != 0 || e)
                return !h1_fail(s, sl, H1_ECONNECT);
            sl->h1 = H1_SEND;
        } else if (sl->h1 == H1_SEND) {
            while (sl->req_off < sl->req.len) {
                ssize_t n = send(sl->fd, sl->req.data + sl->req_off,
                                 sl->req.len - sl->req_off, MSG_NOSIGNAL);

                if (n < 0 && errno == EINTR)
                    continue;
                if (n < 0 && errno == EAGAIN)
                    return false;
                if (n <= 0)
                    return !h1_fail(s, sl, H1_ESEND);
                sl->req_off += (size_t)n;
            }
            sl->h1 = H1_READ;
        } else if (sl->h1 == H1_READ) {
            ssize_t n = recv(sl->fd, in, sizeof(in), 0);
            size_t used = 0;
            int rc;

            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && errno == EAGAIN)
                return false;
            sg_err_init(&err);
            if (n < 0)
                return !h1_fail(s, sl, H1_ERECV);
            if (n == 0) {
                if (sg_h1_resp_eof(&sl->resp, &err) != 1)
                    return !h1_fail(s, sl, sl->resp.got_any ? H1_ERECV
                                                              : H1_EEMPTY);
                h1_close(sl);
                h1_end(s, sl, sl->resp.status);
                return true;
            }
            rc = sg_h1_resp_feed(&sl->resp, in, (size_t)n, &used, &err);
            if (rc < 0) {
                sg_log(SG_LOG_DEBUG, "sandbox", "msg=\"webhook answer not "
                       "understood\" url=%s err=\"%s\"", sl->url, err.msg);
                h1_close(sl);
                h1_end(s, sl, -H1_EWEIRD);
                return true;
            }
            if (rc == 1) {
                /* Bytes past the answer were never asked for. */
                if (!sl->resp.keep_alive || used < (size_t)n)
                    h1_close(sl);
                h1_end(s, sl, sl->resp.status);
                return true;
            }
        } else {
            return false;
        }
    }
}

/* Deliveries past their timeout end as libcurl's would. */
static size_t h1_expire(struct sg_sbx *s, struct wh_slot *slots, size_t n,
                        int64_t now, int64_t *next)
{
    size_t ended = 0;

    for (size_t k = 0; k < n; k++) {
        struct wh_slot *sl = &slots[k];

        if (sl->h1 < H1_CONNECT || sl->deadline == 0)
            continue;
        if (now >= sl->deadline) {
            h1_close(sl);
            h1_end(s, sl, -H1_ETIMEOUT);
            ended++;
        } else if (*next == 0 || sl->deadline < *next) {
            *next = sl->deadline;
        }
    }
    return ended;
}

/* Move on the plain deliveries whose sockets have news. */
static void h1_ready(struct sg_sbx *s, int ep)
{
    struct epoll_event ev[64];
    int got;

    do {
        got = epoll_wait(ep, ev, (int)SG_ARRAY_SIZE(ev), 0);
        for (int i = 0; i < got; i++) {
            struct wh_slot *sl = ev[i].data.ptr;

            /* An idle kept connection's news (the receiver closed it)
             * waits for its next delivery, which finds it out. */
            if (sl->h1 >= H1_CONNECT)
                (void)h1_step(s, sl);
        }
    } while (got == (int)SG_ARRAY_SIZE(ev));
}

/*
 * The delivery thread: up to webhook_concurrency transfers at once, the
 * plain ones on sockets of their own and the rest on one curl multi
 * handle (connections are reused per receiver either way), so a slow
 * receiver holds only its own slots. One poll (curl_multi_poll) waits for
 * both: the plain sockets are in an epoll set, itself the poll's one
 * extra descriptor, so a wake-up costs the sockets that have news, not
 * every open one (a poll over 256 of them was most of this thread's CPU
 * when each answer came alone).
 */
static void *wh_main(void *arg)
{
    struct sg_sbx *s = arg;
    CURLM *m = s->wh_multi;
    size_t n = s->cfg.webhook_concurrency;
    struct wh_slot *slots;
    struct curl_waitfd wait_ep;
    struct wh_signer signer;
    int ep;

    memset(&signer, 0, sizeof(signer));
    if (n == 0)
        n = 1;
    if (n > SG_SBX_WH_CONCURRENCY_MAX)
        n = SG_SBX_WH_CONCURRENCY_MAX;
    slots = sg_calloc(n, sizeof(*slots));
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) {
        sg_log(SG_LOG_ERR, "sandbox", "msg=\"webhook sender cannot start\" "
               "err=\"epoll_create1: %s\"", strerror(errno));
        sg_free(slots);
        slots = NULL;
    }
    for (size_t k = 0; slots && k < n; k++) {
        slots[k].fd = -1;
        slots[k].ep = ep;
        sg_buf_init(&slots[k].req, WH_REQ_MAX);
        slots[k].h = curl_easy_init();
        if (!slots[k].h)
            n = k;
    }
    while (slots && n && !atomic_load(&s->stopping)) {
        int running = 0;
        size_t ended = 0;
        int64_t now, next = 0, timeout = 20;

        fill(s, &signer, m, slots, n);
        for (size_t k = 0; k < n; k++)
            if (slots[k].h1 == H1_START && h1_step(s, &slots[k]))
                ended++;
        if (running_curl(slots, n))
            curl_multi_perform(m, &running);
        /*
         * A transfer that just ended freed its slot: fill it at once
         * rather than after the poll's timeout, which would cap each
         * receiver at one delivery per 20 ms when it takes one at a
         * time. The poll still wakes on socket activity, on a new item
         * (curl_multi_wakeup) and every 20 ms for items falling due.
         */
        ended += reap(s, m);
        now = sg_mono_ms();
        ended += h1_expire(s, slots, n, now, &next);
        if (ended > 0)
            continue;
        if (next && next - now < timeout)
            timeout = next - now;
        wait_ep.fd = ep;
        wait_ep.events = CURL_WAIT_POLLIN;
        wait_ep.revents = 0;
        curl_multi_poll(m, &wait_ep, 1, (int)timeout, NULL);
        if (wait_ep.revents)
            h1_ready(s, ep);
    }
    for (size_t k = 0; slots && k < n; k++) {
        if (slots[k].serial && !slots[k].plain)
            curl_multi_remove_handle(m, slots[k].h);
        curl_easy_cleanup(slots[k].h);
        curl_slist_free_all(slots[k].hdr);
        sg_free(slots[k].url);
        h1_close(&slots[k]);
        sg_buf_release(&slots[k].req);
    }
    sg_free(slots);
    if (ep >= 0)
        close(ep);
    wh_signer_release(&signer);
    return NULL;
}

int sg_sbx__wh_start(struct sg_sbx *s, struct sg_err *err)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    s->wh_multi = curl_multi_init();
    s->wh_slots_free = 1; /* until the thread's first fill says */
    if (!s->wh_multi)
        return sg_err_set(err, SG_ENOMEM, "cannot create the webhook sender");
    if (pthread_create(&s->wh_thread, NULL, wh_main, s) != 0) {
        curl_multi_cleanup(s->wh_multi);
        s->wh_multi = NULL;
        return sg_err_set(err, SG_EIO, "cannot start the webhook thread");
    }
    s->wh_started = true;
    return 0;
}

void sg_sbx__wh_stop(struct sg_sbx *s)
{
    if (!s->wh_started)
        return;
    pthread_mutex_lock(&s->wh_lock);
    curl_multi_wakeup(s->wh_multi);
    pthread_mutex_unlock(&s->wh_lock);
    pthread_join(s->wh_thread, NULL);
    pthread_mutex_lock(&s->wh_lock);
    curl_multi_cleanup(s->wh_multi);
    s->wh_multi = NULL;
    pthread_mutex_unlock(&s->wh_lock);
    s->wh_started = false;
}

void sg_sbx__wh_clear(struct sg_sbx *s)
{
    pthread_mutex_lock(&s->wh_lock);
    for (size_t i = 0; i < s->n_whq; i++) {
        sg_free(s->whq[i].url);
        sg_free(s->whq[i].body);
    }
    sg_free(s->whq);
    s->whq = NULL;
    s->n_whq = s->cap_whq = s->n_whq_live = 0;
    pthread_mutex_unlock(&s->wh_lock);
}

json_t *sg_sbx__wh_log(struct sg_sbx *s)
{
    json_t *out, *arr = json_array();

    pthread_mutex_lock(&s->wh_lock);
    for (size_t i = 0; arr && i < s->wh_log_n; i++) {
        const struct sg_sbx_wh_log *e =
            &s->wh_log[(s->wh_log_head + i) % WH_LOG_MAX];

        json_array_append_new(
            arr, json_pack("{s:s,s:i,s:s,s:i,s:s,s:i,s:I}",
                           "tts_notification_id", e->notification_id,
                           "type", e->type, "url", e->url ? e->url : "",
                           "attempt", (int)e->attempt, "result", e->result,
                           "status", (int)e->status, "time_ms",
                           (json_int_t)e->time_ms));
    }
    out = json_pack("{s:o,s:i}", "deliveries", arr ? arr : json_array(),
                    "queued", (int)s->n_whq_live);
    pthread_mutex_unlock(&s->wh_lock);
    return out;
}

void sg_sbx__wh_log_free(struct sg_sbx *s)
{
    for (size_t i = 0; s->wh_log && i < WH_LOG_MAX; i++)
        sg_free(s->wh_log[i].url);
    sg_free(s->wh_log);
    s->wh_log = NULL;
    s->wh_log_head = s->wh_log_n = 0;
}

/* The queue as JSON for the state file; takes wh_lock. New reference. */
json_t *sg_sbx__wh_queue_json(struct sg_sbx *s)
{
    json_t *out = json_array();

    pthread_mutex_lock(&s->wh_lock);
    for (size_t i = 0; out && i < s->n_whq; i++) {
        const struct sg_sbx_wh_item *it = &s->whq[i];

        if (it->url == NULL)
            continue;
        json_array_append_new(
            out, json_pack("{s:I,s:s,s:s#,s:s,s:i,s:i}", "at_ms",
                           (json_int_t)it->at_ms, "url", it->url, "body",
                           it->body, (int)it->body_len,
                           "tts_notification_id", it->notification_id,
                           "type", it->type, "attempt", (int)it->attempt));
    }
    pthread_mutex_unlock(&s->wh_lock);
    return out;
}

/* Queue the saved items of q (from sg_sbx__wh_queue_json) again. */
void sg_sbx__wh_queue_load(struct sg_sbx *s, const json_t *q)
{
    size_t i;
    json_t *j;

    pthread_mutex_lock(&s->wh_lock);
    json_array_foreach(q, i, j) {
        const char *url = sg_json_str(j, "url");
        const char *body = sg_json_str(j, "body");
        const char *nid = sg_json_str(j, "tts_notification_id");
        struct sg_sbx_wh_item it;

        if (!url || !body || !nid)
            continue;
        memset(&it, 0, sizeof(it));
        it.at_ms = sg_json_int(j, "at_ms", 0);
        it.type = (int)sg_json_int(j, "type", 0);
        it.attempt = (unsigned)sg_json_int(j, "attempt", 0);
        if (it.attempt > s->n_wh_retry)
            it.attempt = (unsigned)s->n_wh_retry;
        snprintf(it.notification_id, sizeof(it.notification_id), "%s", nid);
        it.body_len = json_string_length(json_object_get(j, "body"));
        it.url = sg_strdup(url);
        it.body = sg_strndup(body, it.body_len);
        if (!it.url || !it.body || !enqueue(s, &it)) {
            sg_free(it.url);
            sg_free(it.body);
        }
    }
    pthread_mutex_unlock(&s->wh_lock);
}
