/*
 * intake.c - durable webhook intake and the inbox processor.
 *
 * POST /webhooks/generic: verify the HMAC over the raw bytes, dedupe on
 * the event id, store the event in the inbox, and answer 2xx only after
 * that row committed (group commit makes this cheap). Processing happens
 * later, from the inbox, on the processor thread: each event is marked
 * processed in the same transaction as the outbox jobs it implies, so an
 * event is never half-handled.
 */
#include "engine/internal.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/crypto.h"
#include "core/json.h"
#include "core/log.h"
#include "jobs/dispatcher.h"

#define EVENT_ID_MAX 128
#define INBOX_BATCH 256
#define INBOX_PACE_MS 20

struct intake_op {
    struct sg_engine *e;
    struct sg_http_deferred *d;
    int64_t id;
    bool dup;
    size_t body_len;
    char external_id[EVENT_ID_MAX + 8];
    char body[]; /* copied: the request may vanish before the commit */
};

static bool event_id_ok(const char *p, size_t len)
{
    if (len == 0 || len > EVENT_ID_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if (p[i] <= ' ' || p[i] > '~')
            return false;
    return true;
}

/* Accept "sha256=<hex>" or bare "<hex>"; compare in constant time. */
static bool signature_ok(const char *secret, const char *body, size_t len,
                         const char *sig, size_t sig_len)
{
    unsigned char want[32], got[32];

    if (sig_len > 7 && strncmp(sig, "sha256=", 7) == 0) {
        sig += 7;
        sig_len -= 7;
    }
    if (sig_len != 64 || sg_hex_decode(sig, 64, got) != 0)
        return false;
    if (sg_hmac_sha256(secret, strlen(secret), body, len, want) != 0)
        return false;
    return sg_ct_equal(want, 32, got, 32);
}

static int write_inbox(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    struct intake_op *op = arg;

    return sg_store_tx_inbox_insert(tx, op->e->generic_tenant_id, "generic",
                                    op->external_id, op->body, op->body_len,
                                    &op->id, &op->dup, err);
}

static void inbox_done(void *arg, int rc, const struct sg_err *err)
{
    struct intake_op *op = arg;
    char body[128];
    int n;

    if (rc) {
        atomic_fetch_add(&op->e->wh_store_busy, 1);
        sg_log(SG_LOG_WARN, "intake", "msg=\"inbox write failed\" err=\"%s\"",
               err ? err->msg : "");
        sg_engine__reply_unstored(op->d, rc, "not stored; retry");
    } else {
        atomic_fetch_add(op->dup ? &op->e->wh_duplicate : &op->e->wh_accepted,
                         1);
        n = snprintf(body, sizeof(body), "{\"status\":\"%s\",\"id\":%" PRId64
                     "}", op->dup ? "duplicate" : "accepted", op->id);
        sg_http_deferred_reply(op->d, 200, "application/json", body,
                               (size_t)n);
        if (!op->dup)
            sg_engine__inbox_kick(op->e);
    }
    sg_free(op);
}

static void h_generic(struct sg_http_req *r, void *ctx)
{
    struct sg_engine *e = ctx;
    size_t len, sig_len, id_len;
    const char *body = sg_http_req_body(r, &len);
    const char *sig = sg_http_req_header(r, "x-surge-signature", &sig_len);
    const char *id = sg_http_req_header(r, "x-surge-event-id", &id_len);
    struct intake_op *op;

    if (!e->generic_tenant_id) {
        sg_http_reply_error(r, 404, "not_found",
                            "generic webhooks are not configured", NULL);
        return;
    }
    if (!sig || !signature_ok(e->cfg->webhook_generic.secret, body, len, sig,
                              sig_len)) {
        atomic_fetch_add(&e->wh_rejected_sig, 1);
        sg_http_reply_error(r, 401, "bad_signature",
                            "X-Surge-Signature does not match the body",
                            "X-Surge-Signature");
        return;
    }
    if (id && !event_id_ok(id, id_len)) {
        atomic_fetch_add(&e->wh_rejected_other, 1);
        sg_http_reply_error(r, 400, "invalid_event_id",
                            "X-Surge-Event-Id must be 1..128 printable "
                            "characters",
                            "X-Surge-Event-Id");
        return;
    }
    op = sg_alloc(sizeof(*op) + len + 1);
    if (!op) {
        sg_http_reply_error(r, 503, "out_of_memory", "retry", NULL);
        return;
    }
    memset(op, 0, sizeof(*op));
    op->e = e;
    op->body_len = len;
    memcpy(op->body, body, len);
    op->body[len] = '\0';
    if (id) {
        memcpy(op->external_id, id, id_len);
        op->external_id[id_len] = '\0';
    } else {
        /* No id: the body's digest, so an identical redelivery dedupes. */
        memcpy(op->external_id, "sha256:", 7);
        sg_sha256_hex(body, len, op->external_id + 7);
    }
    op->d = sg_http_defer(r);
    if (!op->d) {
        sg_free(op);
        sg_http_reply_error(r, 503, "out_of_memory", "retry", NULL);
        return;
    }
    if (sg_store_submit(e->store, write_inbox, inbox_done, op) != 0) {
        static const struct sg_http_header retry = {"retry-after", "1"};
        static const char msg[] = "{\"error\":{\"code\":\"busy\",\"message\":"
                                  "\"intake queue full; retry\"}}";

        atomic_fetch_add(&e->wh_store_busy, 1);
        sg_http_deferred_reply_ex(op->d, 503, "application/json", msg,
                                  sizeof(msg) - 1, &retry, 1);
        sg_free(op);
    }
}

void sg_engine__register_intake(struct sg_engine *e)
{
    sg_http_route(e->http, "POST", "/webhooks/generic", h_generic, e);
}

int sg_engine__intake_metrics(struct sg_engine *e, struct sg_buf *out)
{
    return sg_buf_printf(
        out,
        "# HELP sg_webhooks_total Inbound webhooks by outcome.\n"
        "# TYPE sg_webhooks_total counter\n"
        "sg_webhooks_total{source=\"generic\",outcome=\"accepted\"} %lu\n"
        "sg_webhooks_total{source=\"generic\",outcome=\"duplicate\"} %lu\n"
        "sg_webhooks_total{source=\"generic\",outcome=\"bad_signature\"} "
        "%lu\n"
        "sg_webhooks_total{source=\"generic\",outcome=\"invalid\"} %lu\n"
        "sg_webhooks_total{source=\"generic\",outcome=\"store_unavailable\"}"
        " %lu\n"
        "# HELP sg_inbox_processed_total Inbox events processed.\n"
        "# TYPE sg_inbox_processed_total counter\n"
        "sg_inbox_processed_total %lu\n",
        atomic_load(&e->wh_accepted), atomic_load(&e->wh_duplicate),
        atomic_load(&e->wh_rejected_sig), atomic_load(&e->wh_rejected_other),
        atomic_load(&e->wh_store_busy), atomic_load(&e->inbox_processed));
}

/* ---- the inbox processor ---- */

struct process_batch {
    struct sg_engine *e;
    struct sg_inbox *rows;
    size_t n;
    size_t jobs;
};

/*
 * One transaction for a batch: each event is marked processed together
 * with the notify.http job it implies (when [notify] url is set).
 */
static int write_process(struct sg_store_tx *tx, void *arg,
                         struct sg_err *err)
{
    struct process_batch *b = arg;
    bool notify = b->e->cfg->notify.url && b->e->cfg->notify.url[0];

    for (size_t i = 0; i < b->n; i++) {
        struct sg_inbox *row = &b->rows[i];
        int rc;

        if (strcmp(row->source, "tiktok_shop") == 0) {
            rc = sg_engine__tiktok_inbox(b->e, tx, row, err);
            if (rc)
                return rc;
        }
        if (notify) {
            json_t *data = sg_json_loadb(row->body, row->body_len, 0, NULL, NULL);
            json_t *payload = json_pack(
                "{s:s, s:{s:I, s:s, s:s, s:o}}", "event", "webhook.generic",
                "data", "inbox_id", (json_int_t)row->id, "source",
                row->source, "external_id", row->external_id, "body",
                data ? data : json_stringn(row->body, row->body_len));
            char *text = payload ? sg_json_dump(payload, NULL) : NULL;
            struct sg_job job;
            char idem[64];
            int64_t job_id = 0;
            bool coalesced = false;

            json_decref(payload);
            if (!text)
                return sg_err_set(err, SG_ENOMEM, "out of memory");
            memset(&job, 0, sizeof(job));
            job.tenant_id = row->tenant_id;
            snprintf(job.kind, sizeof(job.kind), "notify.http");
            snprintf(idem, sizeof(idem), "inbox-%" PRId64, row->id);
            job.idempotency_key = idem;
            job.payload = text;
            job.attempts_max = (int)b->e->cfg->jobs.attempts_max;
            job.next_run_at = sg_store_tx_now(tx);
            snprintf(job.platform, sizeof(job.platform), "notify");
            snprintf(job.endpoint_class, sizeof(job.endpoint_class), "http");
            rc = sg_store_tx_job_enqueue(tx, &job, &job_id, &coalesced, err);
            sg_free(text);
            if (rc)
                return rc;
            b->jobs++;
        }
        rc = sg_store_tx_inbox_mark_processed(tx, row->id, err);
        if (rc)
            return rc;
    }
    return 0;
}

static void *inbox_main(void *arg)
{
    struct sg_engine *e = arg;

    for (;;) {
        struct process_batch b = {.e = e};
        struct sg_err err;
        int rc;

        pthread_mutex_lock(&e->inbox_lock);
        if (!e->inbox_kicked && !e->inbox_stop) {
            struct timespec ts;

            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += 1;
            pthread_cond_timedwait(&e->inbox_cond, &e->inbox_lock, &ts);
        }
        e->inbox_kicked = false;
        if (e->inbox_stop) {
            pthread_mutex_unlock(&e->inbox_lock);
            break;
        }
        pthread_mutex_unlock(&e->inbox_lock);

        sg_err_init(&err);
        rc = sg_store_inbox_pending(e->store, INBOX_BATCH, &b.rows, &b.n,
                                    &err);
        if (rc || b.n == 0) {
            if (rc)
                sg_log(SG_LOG_WARN, "inbox", "msg=\"read failed\" err=\"%s\"",
                       err.msg);
            continue;
        }
        rc = sg_store_write(e->store, write_process, &b, &err);
        if (rc) {
            sg_log(SG_LOG_WARN, "inbox",
                   "msg=\"processing failed; will retry\" err=\"%s\"",
                   err.msg);
        } else {
            atomic_fetch_add(&e->inbox_processed, b.n);
            if (b.jobs && e->dispatcher)
                sg_dispatcher_kick(e->dispatcher);
            if (b.n == INBOX_BATCH)
                sg_engine__inbox_kick(e);
        }
        sg_inbox_list_free(b.rows, b.n);
        /*
         * A partial batch means the processor has caught up. Pause before
         * the next pass so that, under a burst, it commits once per
         * INBOX_PACE_MS instead of once per intake commit: every
         * transaction costs the single writer an fsync that acknowledged
         * webhooks are waiting on.
         */
        if (rc == 0 && b.n < INBOX_BATCH) {
            struct timespec pace = {0, INBOX_PACE_MS * 1000000L};

            nanosleep(&pace, NULL);
        }
    }
    return NULL;
}

void sg_engine__inbox_kick(struct sg_engine *e)
{
    pthread_mutex_lock(&e->inbox_lock);
    e->inbox_kicked = true;
    pthread_cond_signal(&e->inbox_cond);
    pthread_mutex_unlock(&e->inbox_lock);
}

int sg_engine__inbox_start(struct sg_engine *e, struct sg_err *err)
{
    if (pthread_create(&e->inbox_tid, NULL, inbox_main, e) != 0)
        return sg_err_set(err, SG_EIO, "cannot start the inbox processor");
    e->inbox_started = true;
    sg_engine__inbox_kick(e); /* events stored before a restart */
    return 0;
}

void sg_engine__inbox_stop(struct sg_engine *e)
{
    if (!e->inbox_started)
        return;
    pthread_mutex_lock(&e->inbox_lock);
    e->inbox_stop = true;
    pthread_cond_signal(&e->inbox_cond);
    pthread_mutex_unlock(&e->inbox_lock);
    pthread_join(e->inbox_tid, NULL);
    e->inbox_started = false;
}
