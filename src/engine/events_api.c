/*
 * events_api.c - POST /api/v1/events and the engine side of the
 * "events.track" job kind.
 *
 * Intake: events are validated and hashed on the loop thread (plaintext
 * never leaves it), in one pass over the raw body (features/events/
 * scan.c) and, for what that pass leaves, from jansson's tree; then one
 * write inserts them (the unique key is the durable dedup) and creates
 * or extends the per-source trigger job
 * (coalesce key "events:<tenant>:<source>") in the same transaction; the
 * answer, per item, goes out after the commit.
 *
 * Delivery: when the trigger job runs, build() seals up to batch_max
 * pending events into a batch bound to that job and drops the job's
 * coalesce key, so a retry resends exactly the same events (same
 * event_id) and nothing can fold into it. docs/events.md has the
 * details and why this cannot lose or duplicate an event.
 */
#include "engine/internal.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/json.h"
#include "core/log.h"
#include "features/events/events.h"
#include "features/events/events_store.h"
#include "features/events/ingest.h"
#include "jobs/dispatcher.h"
#include "jobs/events_track.h"
#include "store/store.h"

#define N_REASONS  16
#define LAG_SLOTS  4096
#define BODY_MAX   (8u << 20)
#define SEAL_ROUNDS 64
#define RESULTS_MAX (4u << 20) /* the answer to 1000 items, messages incl. */ /* full batches sealed per write outside intake */

/* Process-wide: one engine per process (see docs/events.md). */
static struct events_mod {
    struct sg_engine *e;
    struct sg_events_cfg cfg;
    const struct sg_events_store_ops *ops;
    bool deliver; /* an access token is configured */
    atomic_ulong received, accepted, duplicate, sent, failed, batches,
        store_busy;
    atomic_ulong rejected[N_REASONS];
    atomic_ulong batch_hist[6]; /* <=1, <=10, <=100, <=500, <=1000, +Inf */
    atomic_ulong lag_sum_ms, lag_count;
    /* dispatcher thread only */
    struct {
        int64_t job_id;
        size_t n;
        int64_t oldest_ms;
    } lag[LAG_SLOTS];
} M;

/* ---- intake ---- */

struct ev_result {
    int status; /* 0 accepted, 1 duplicate, 2 rejected */
    bool generated;
    struct sg_events_reject why;
};

struct ev_op {
    struct sg_api_op *op;
    size_t n;
    struct sg_events_item *items;
    struct ev_result *res;
    struct sg_events_row *rows;
    size_t n_rows;
    size_t *row_of; /* item index -> row index, or SIZE_MAX */
    struct sg_buf bodies; /* every accepted event's JSON, back to back */
    char *answer;   /* the 200 body, built inside the write */
    size_t answer_len;
    char *pre;      /* the same body with no duplicate, built before */
    size_t pre_len;
};

static void ev_op_free(struct ev_op *x)
{
    if (!x)
        return;
    for (size_t i = 0; x->items && i < x->n; i++)
        sg_events_item_release(&x->items[i]);
    sg_free(x->items);
    sg_free(x->res);
    sg_free(x->rows);
    sg_free(x->row_of);
    sg_buf_release(&x->bodies);
    sg_free(x->answer);
    sg_free(x->pre);
    sg_free(x);
}

static int ensure_trigger(struct sg_store_tx *tx, int64_t tenant,
                          int source, bool now_due, struct sg_err *err)
{
    return sg_events_tx_trigger(tx, M.ops, &M.cfg, tenant, source, now_due,
                                err);
}

static int results_text(struct ev_op *x, struct sg_buf *b);

static int write_events(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    struct ev_op *x = arg;
    struct sg_api_op *op = x->op;
    size_t acc = 0, dup = 0, rej = 0;
    struct sg_buf b;
    char object[64];
    int rc;

    sg_free(x->answer);
    x->answer = NULL;
    rc = sg_events_tx_ingest(tx, M.ops, &M.cfg, x->rows, x->n_rows,
                             M.deliver, err);
    if (rc)
        return rc;
    for (size_t i = 0; i < x->n; i++) {
        if (x->row_of[i] == SIZE_MAX)
            rej++;
        else if (x->rows[x->row_of[i]].dup)
            dup++;
        else
            acc++;
    }
    snprintf(object, sizeof(object), "events:%zu/%zu/%zu", acc, dup, rej);
    rc = sg_engine__audit(tx, op, "events.ingest", object, "ok", err);
    if (rc)
        return rc;
    if (dup == 0 && x->pre) {
        /*
         * Nothing was a duplicate: the answer the loop thread built
         * before submitting (every item accepted or rejected as it was
         * judged there) is this one, byte for byte. The store's single
         * writer is the stage every event passes through, so the
         * 1,000-item text is not written on it in the common case.
         */
        x->answer = x->pre;
        x->answer_len = x->pre_len;
        x->pre = NULL;
        return 0;
    }
    /*
     * The answer is built before the commit: found by the D5 sweep, an
     * answer that could not be built after it said 503 for events that
     * were stored, and a client resending events without an event_id
     * would have them stored (and sent) twice. Now out of memory here
     * rolls the write back.
     */
    sg_buf_init(&b, RESULTS_MAX);
    rc = results_text(x, &b);
    if (rc) {
        sg_buf_release(&b);
        return sg_err_set(err, rc, "out of memory building the answer");
    }
    x->answer = sg_buf_detach(&b, &x->answer_len);
    return 0;
}

/* After the commit: the metrics of what was answered. */
static void count_results(const struct ev_op *x)
{
    size_t acc = 0, dup = 0;

    for (size_t i = 0; i < x->n; i++) {
        const struct ev_result *r = &x->res[i];

        if (x->row_of[i] == SIZE_MAX)
            atomic_fetch_add(&M.rejected[sg_events_reject_code_index(
                                 r->why.code)],
                             1);
        else if (x->rows[x->row_of[i]].dup)
            dup++;
        else
            acc++;
    }
    atomic_fetch_add(&M.accepted, acc);
    atomic_fetch_add(&M.duplicate, dup);
}

/*
 * The per-item answer, written as text (a request carries up to 1000
 * items; no JSON tree is built for it).
 */
static int results_text(struct ev_op *x, struct sg_buf *b)
{
    size_t acc = 0, dup = 0, rej = 0;
    int rc;

    for (size_t i = 0; i < x->n; i++) {
        struct ev_result *r = &x->res[i];

        if (x->row_of[i] != SIZE_MAX)
            r->status = x->rows[x->row_of[i]].dup ? 1 : 0;
        if (r->status == 2)
            rej++;
        else if (r->status == 1)
            dup++;
        else
            acc++;
    }
    rc = sg_buf_printf(b,
                       "{\"accepted\":%zu,\"duplicate\":%zu,\"rejected\":"
                       "%zu,\"results\":[",
                       acc, dup, rej);
    /*
     * This runs for every request (on the loop thread, and on the
     * store's writer thread when an item was a duplicate): no printf
     * per item, plain appends.
     */
    for (size_t i = 0; !rc && i < x->n; i++) {
        struct ev_result *r = &x->res[i];
        const char *id = x->items[i].event_id;
        char num[24];
        size_t k = sizeof(num), v = i;

        do {
            num[--k] = (char)('0' + v % 10);
            v /= 10;
        } while (v);
        rc = i ? sg_buf_append(b, ",{\"index\":", 10)
               : sg_buf_append(b, "{\"index\":", 9);
        if (!rc)
            rc = sg_buf_append(b, num + k, sizeof(num) - k);
        if (!rc)
            rc = sg_buf_appends(b, r->status == 2
                                       ? ",\"status\":\"rejected\""
                                   : r->status == 1
                                       ? ",\"status\":\"duplicate\""
                                       : ",\"status\":\"accepted\"");
        if (!rc && (r->status != 2 || id[0])) {
            rc = sg_buf_append(b, ",\"event_id\":", 12);
            if (!rc)
                rc = sg_events_json_str(b, id, strlen(id));
        }
        if (!rc && r->status == 2) {
            rc = sg_buf_appends(b, ",\"reason\":");
            if (!rc)
                rc = sg_events_json_str(b, r->why.code, strlen(r->why.code));
            if (!rc)
                rc = sg_buf_appends(b, ",\"field\":");
            if (!rc)
                rc = sg_events_json_str(b, r->why.field,
                                        strlen(r->why.field));
            if (!rc)
                rc = sg_buf_appends(b, ",\"message\":");
            if (!rc)
                rc = sg_events_json_str(b, r->why.msg, strlen(r->why.msg));
        }
        if (!rc && r->status != 2 && r->generated)
            rc = sg_buf_appends(b, ",\"event_id_generated\":true");
        if (!rc)
            rc = sg_buf_append(b, "}", 1);
    }
    return rc ? rc : sg_buf_appends(b, "]}");
}

static void events_done(void *arg, int rc, const struct sg_err *err)
{
    struct ev_op *x = arg;
    struct sg_api_op *op = x->op;

    if (rc) {
        atomic_fetch_add(&M.store_busy, 1);
        sg_http_deferred_reply_error(op->d, 503, "storage_unavailable",
                                     err && err->msg[0] ? err->msg
                                                        : "store failed");
    } else {
        count_results(x);
        sg_http_deferred_reply_json_take(op->d, 200, x->answer,
                                         x->answer_len);
        x->answer = NULL;
        if (op->e->dispatcher)
            sg_dispatcher_kick(op->e->dispatcher);
    }
    sg_free(op);
    ev_op_free(x);
}

/* The event list of a request: {"events":[..]}, [..] or one event. */
static const json_t *event_list(const json_t *in, bool *single)
{
    *single = false;
    if (json_is_array(in))
        return in;
    if (json_is_object(in) && json_is_array(json_object_get(in, "events")))
        return json_object_get(in, "events");
    if (json_is_object(in) && json_object_get(in, "event")) {
        *single = true;
        return in;
    }
    return NULL;
}

/* The per-item arrays of n items (items only when not there yet). */
static int op_alloc(struct ev_op *x, size_t n)
{
    if (!x->items)
        x->items = sg_calloc(n ? n : 1, sizeof(*x->items));
    x->res = sg_calloc(n ? n : 1, sizeof(*x->res));
    x->rows = sg_calloc(n ? n : 1, sizeof(*x->rows));
    x->row_of = sg_calloc(n ? n : 1, sizeof(*x->row_of));
    return x->items && x->res && x->rows && x->row_of ? 0 : SG_ENOMEM;
}

/*
 * Item i of jansson's tree through sg_events_prepare_buf: a rejection is
 * recorded in x->res[i]. 0, or SG_ENOMEM/SG_EIO for the whole request.
 */
static int prepare_one(struct ev_op *x, size_t i, const json_t *ev,
                       struct sg_events_sha *sha, int def_source,
                       int64_t now_ms)
{
    struct sg_events_item *it = &x->items[i];
    int rc = sg_events_prepare_buf(it, &x->bodies, sha, ev, def_source,
                                   &M.cfg, now_ms, &x->res[i].why);

    if (rc == SG_ENOMEM || rc == SG_EIO || rc == SG_ELIMIT)
        return rc == SG_ELIMIT ? SG_ENOMEM : rc;
    if (rc) {
        x->res[i].status = 2;
        if (json_is_string(json_object_get(ev, "event_id")))
            snprintf(it->event_id, sizeof(it->event_id), "%.128s",
                     sg_json_str(ev, "event_id"));
    }
    return 0;
}

/* The store rows of the accepted items, in request order. */
static void rows_fill(struct ev_op *x, int64_t tenant)
{
    x->n_rows = 0;
    for (size_t i = 0; i < x->n; i++) {
        struct sg_events_item *it = &x->items[i];

        x->row_of[i] = SIZE_MAX;
        if (x->res[i].status == 2)
            continue;
        x->res[i].generated = it->event_id_generated;
        x->row_of[i] = x->n_rows;
        /* The buffer has stopped moving: point the rows into it. */
        x->rows[x->n_rows++] = (struct sg_events_row){
            .tenant_id = tenant,
            .source = it->source,
            .source_id = M.cfg.source_ids[it->source],
            .event = it->event,
            .event_id = it->event_id,
            .event_time = it->event_time,
            .body = x->bodies.data + it->body_off,
            .body_len = it->body_len,
        };
    }
}

static int prepare_all(struct ev_op *x, const json_t *list, bool single,
                       int def_source, int64_t tenant, int64_t now_ms)
{
    struct sg_events_sha sha;
    int rc = 0;

    x->n = single ? 1 : json_array_size(list);
    sg_buf_init(&x->bodies, BODY_MAX);
    if (op_alloc(x, x->n) || sg_events_sha_init(&sha) != 0)
        return SG_ENOMEM;
    for (size_t i = 0; !rc && i < x->n; i++)
        rc = prepare_one(x, i, single ? list : json_array_get(list, i), &sha,
                         def_source, now_ms);
    sg_events_sha_release(&sha);
    if (!rc)
        rows_fill(x, tenant);
    return rc;
}

/*
 * The common case without a JSON tree: sg_events_scan_prepare reads the
 * raw body; only the events it leaves (rejections, generated ids, ...)
 * go through jansson's tree and sg_events_prepare_buf, so every answer
 * is the full path's. SG_EDECLINED: nothing done, take prepare_all.
 */
static int prepare_fast(struct ev_op *x, struct sg_http_req *r,
                        int64_t tenant, int64_t now_ms)
{
    struct sg_events_sha sha;
    size_t len, n = 0;
    const char *body = sg_http_req_body(r, &len);
    bool *slow = NULL, any_slow = false;
    json_t *in = NULL;
    int def_source = SG_EVENTS_WEB, rc;

    sg_buf_init(&x->bodies, BODY_MAX);
    if (sg_events_sha_init(&sha) != 0)
        return SG_ENOMEM;
    rc = sg_events_scan_prepare(&x->items, &slow, SG_EVENTS_BATCH_LIMIT, &n,
                                &def_source, &x->bodies, &sha, body, len,
                                sg_http_req_json_depth_max(r), &M.cfg,
                                now_ms);
    if (rc == SG_ELIMIT)
        rc = SG_ENOMEM;
    if (!rc) {
        x->n = n;
        rc = op_alloc(x, n);
    }
    for (size_t i = 0; !rc && i < n; i++)
        any_slow |= slow[i];
    if (!rc && any_slow) {
        bool single = false;
        const json_t *list = NULL;

        /* The scanner checked the body: this can only run out of memory. */
        rc = sg_json_parse_arena(&in, body, len, 0, NULL, NULL) ? SG_ENOMEM
                                                                 : 0;
        if (!rc)
            list = event_list(in, &single);
        if (!rc && (!list || single || json_array_size(list) != n))
            rc = SG_EIO; /* cannot happen: the two readers disagree */
        for (size_t i = 0; !rc && i < n; i++)
            if (slow[i])
                rc = prepare_one(x, i, json_array_get(list, i), &sha,
                                 def_source, now_ms);
    }
    sg_json_arena_free(in);
    sg_events_sha_release(&sha);
    sg_free(slow);
    if (!rc)
        rows_fill(x, tenant);
    return rc;
}

/* {"event_source"?, "events": [...]}: null event_source is the default. */
static const struct sg_json_field wrapper_fields[] = {
    {"event_source", SG_JF_STRING | SG_JF_NULL},
    {"events", SG_JF_ARRAY | SG_JF_REQUIRED},
};

static void h_events(struct sg_http_req *r, void *ctx)
{
    struct sg_engine *e = ctx;
    struct sg_caller who;
    struct sg_api_op *op;
    struct ev_op *x;
    const json_t *list;
    const char *src;
    json_t *in;
    bool single;
    int def_source = SG_EVENTS_WEB, rc;

    if (!sg_engine__auth(e, r, true, &who))
        return;
    x = sg_calloc(1, sizeof(*x));
    rc = x ? prepare_fast(x, r, who.tenant_id, sg_clock_now_ms(&e->clock))
           : SG_ENOMEM;
    if (rc == 0) {
        atomic_fetch_add(&M.received, x->n);
        goto submit;
    }
    ev_op_free(x);
    if (rc != SG_EDECLINED) {
        sg_http_reply_error(r, 503, "out_of_memory", "try again", NULL);
        return;
    }
    /*
     * The tree lives in the loop thread's arena: prepare_all copies what
     * it keeps (ids into fixed buffers, the JSON into x->bodies) and the
     * tree goes before this handler returns.
     */
    in = sg_http_req_json_arena(r);
    if (!in)
        return;
    list = event_list(in, &single);
    if (!list) {
        sg_json_arena_free(in);
        sg_http_reply_error(r, 400, "invalid_shape",
                            "send one event object, an array of events or "
                            "{\"events\":[...]}",
                            NULL);
        return;
    }
    /*
     * The wrapper's own members; an event's are its schema's (members
     * not in it are dropped, docs/events.md), so a single-event body is
     * left to the event's checks. The scanner declines any other member.
     */
    if (!single && json_is_object(in) &&
        !sg_engine__body_ok(r, in, SG_FIELDS(wrapper_fields))) {
        sg_json_arena_free(in);
        return;
    }
    if (!single && (json_array_size(list) == 0 ||
                    json_array_size(list) > SG_EVENTS_BATCH_LIMIT)) {
        sg_json_arena_free(in);
        sg_http_reply_error(r, 400, "invalid_batch",
                            "a request carries 1..1000 events", "events");
        return;
    }
    src = json_is_object(in) && !single ? sg_json_str(in, "event_source")
                                        : NULL;
    if (src && (def_source = sg_events_source_parse(src)) < 0) {
        sg_json_arena_free(in);
        sg_http_reply_error(r, 400, "invalid_source",
                            "event_source must be web, app, offline or crm",
                            "event_source");
        return;
    }
    x = sg_calloc(1, sizeof(*x));
    rc = x ? prepare_all(x, list, single, def_source, who.tenant_id,
                         sg_clock_now_ms(&e->clock))
           : SG_ENOMEM;
    atomic_fetch_add(&M.received, single ? 1 : json_array_size(list));
    sg_json_arena_free(in);
    if (rc) {
        ev_op_free(x);
        sg_http_reply_error(r, 503, "out_of_memory", "try again", NULL);
        return;
    }
submit:
    op = sg_engine__op_new(e, r, &who);
    if (!op) {
        ev_op_free(x);
        return;
    }
    {
        /*
         * The answer as it will be when nothing is a duplicate, built
         * here on the loop thread (the write uses it then, and builds
         * its own otherwise). Out of memory only means the write builds
         * it, as before.
         */
        struct sg_buf b;

        sg_buf_init(&b, RESULTS_MAX);
        if (results_text(x, &b) == 0)
            x->pre = sg_buf_detach(&b, &x->pre_len);
        else
            sg_buf_release(&b);
    }
    x->op = op;
    if (sg_store_submit(e->store, write_events, events_done, x) != 0) {
        atomic_fetch_add(&M.store_busy, 1);
        sg_http_deferred_reply_error(op->d, 503, "busy",
                                     "write queue full; retry shortly");
        sg_free(op);
        ev_op_free(x);
    }
}

/* ---- the job kind's environment ---- */

struct seal_arg {
    const struct sg_job *job;
    int source;
    int64_t upto;
    struct sg_events_batch batch;
    bool empty;
};

static int write_seal(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    struct seal_arg *a = arg;
    void *be = sg_store_tx_backend(tx);
    int64_t now = sg_store_tx_now(tx);
    size_t remaining = 0, pruned = 0, sealed = 0;
    int rc;

    rc = M.ops->seal(be, a->job->id, a->job->tenant_id, a->source, a->upto,
                     M.cfg.batch_max, now, &a->batch, &remaining, err);
    if (rc)
        return rc;
    if (a->batch.n == 0) {
        /* Everything it was meant for went out in another batch. */
        a->empty = true;
        return sg_store_tx_job_finish(tx, a->job->id, a->job->lease_token,
                                      SG_JOB_DONE, 0, "nothing left to send",
                                      err);
    }
    rc = M.ops->job_detach(be, a->job->id, err);
    if (!rc && remaining >= M.cfg.batch_max && M.cfg.seal_at_intake)
        rc = sg_events_tx_seal_full(tx, M.ops, &M.cfg, a->job->tenant_id,
                                    a->source, SEAL_ROUNDS, &sealed, err);
    if (!rc && remaining > 0)
        rc = ensure_trigger(tx, a->job->tenant_id, a->source,
                            remaining >= M.cfg.batch_max, err);
    if (!rc)
        rc = M.ops->prune(be, now - M.cfg.dedup_window_ms,
                          SG_EVENTS_PRUNE_MAX, &pruned, err);
    return rc;
}

static int read_batch(void *be, void *arg, struct sg_err *err)
{
    struct seal_arg *a = arg;

    return M.ops->load(be, a->job->id, &a->batch, err);
}

static int track_build(void *ctx, const struct sg_job *job, char **body_out,
                       size_t *len_out, char shop_out[64], struct sg_err *err)
{
    struct seal_arg a;
    struct sg_buf b;
    json_t *p = NULL;
    int rc;

    SG_UNUSED(ctx);
    memset(&a, 0, sizeof(a));
    a.job = job;
    if (job->payload) {
        bool oom = false;

        p = sg_json_loads(job->payload, 0, &oom);
        if (oom)
            return sg_err_set(err, SG_ENOMEM, "out of memory reading the "
                              "events job");
    }
    a.source = sg_events_source_parse(sg_json_str(p, "source"));
    a.upto = sg_json_int(p, "upto", INT64_MAX);
    json_decref(p);
    if (a.source < 0)
        return sg_err_set(err, SG_EINVAL, "events job without a source");
    /*
     * A batch sealed at intake (or by an earlier attempt) is only read,
     * on a reader connection: the dispatcher does not wait for a commit.
     * A trigger job seals its batch in one write.
     */
    rc = sg_store_read(M.e->store, read_batch, &a, err);
    if (rc == 0 && a.batch.n == 0)
        sg_events_batch_release(&a.batch); /* already sent: finish it */
    if (rc == 0 && a.batch.n > 0)
        goto build;
    if (rc != 0 && rc != SG_ENOTFOUND) {
        if (err)
            err->retryable = true;
        goto out;
    }
    sg_err_init(err);
    rc = sg_store_write(M.e->store, write_seal, &a, err);
    if (rc) {
        if (err)
            err->retryable = true;
        goto out;
    }
    if (a.empty) {
        rc = sg_err_set(err, SG_EDECLINED, "nothing left to send");
        goto out;
    }
build:
    sg_buf_init(&b, BODY_MAX);
    {
        /* The events and a few hundred bytes around them, sized once. */
        size_t need = 512 + a.batch.n;

        if (a.batch.joined)
            need += a.batch.joined_len;
        for (size_t i = 0; !a.batch.joined && a.batch.lens && i < a.batch.n;
             i++)
            need += a.batch.lens[i];
        (void)sg_buf_reserve(&b, SG_MIN(need, (size_t)BODY_MAX));
    }
    if (a.batch.joined) /* sealed at intake: one joined list */
        rc = sg_events_batch_body(&b, a.batch.source, a.batch.source_id,
                                  M.cfg.test_event_code,
                                  (const char *const *)&a.batch.joined,
                                  &a.batch.joined_len, 1);
    else
        rc = sg_events_batch_body(&b, a.batch.source, a.batch.source_id,
                                  M.cfg.test_event_code,
                                  (const char *const *)a.batch.bodies,
                                  a.batch.lens, a.batch.n);
    if (rc) {
        sg_buf_release(&b);
        rc = sg_err_set(err, rc, "cannot build the batch body");
        goto out;
    }
    *body_out = sg_buf_detach(&b, len_out);
    snprintf(shop_out, 64, "%.63s", a.batch.source_id);
    {
        size_t slot = (size_t)job->id % LAG_SLOTS;

        M.lag[slot].job_id = job->id;
        M.lag[slot].n = a.batch.n;
        M.lag[slot].oldest_ms = a.batch.oldest_received_ms;
    }
out:
    sg_events_batch_release(&a.batch);
    return rc;
}

/* Times an outcome write that failed is queued again. */
#define RESULT_TRIES 5

struct result_arg {
    int64_t job_id;
    int state;
    int tries;
    size_t n_failed;
    char error[256];
    size_t failed[];
};

static int write_result(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    struct result_arg *a = arg;

    return M.ops->batch_result(sg_store_tx_backend(tx), a->job_id, a->state,
                               a->failed, a->n_failed, a->error,
                               sg_store_tx_now(tx), err);
}

static void result_done(void *arg, int rc, const struct sg_err *err)
{
    struct result_arg *a = arg;

    /*
     * The job is finished by now (its outcome was queued), so a failed
     * write would leave the batch unconfirmed for good: queue it again
     * (found by the D5 sweep, SQLite running out of memory in the write).
     */
    if (rc && ++a->tries < RESULT_TRIES &&
        sg_store_submit(M.e->store, write_result, result_done, a) == 0)
        return;
    if (rc)
        sg_log(SG_LOG_WARN, "events",
               "job_id=%" PRId64 " msg=\"batch outcome not recorded\" "
               "err=\"%s\"",
               a->job_id, err ? err->msg : "");
    sg_free(a);
}

static void count_batch(const struct sg_job *job, size_t n_failed,
                        bool all_failed)
{
    static const size_t bounds[] = {1, 10, 100, 500, 1000};
    size_t slot = (size_t)job->id % LAG_SLOTS, n, i;
    int64_t now = sg_clock_now_ms(&M.e->clock);

    if (M.lag[slot].job_id != job->id)
        return;
    n = M.lag[slot].n;
    for (i = 0; i < SG_ARRAY_SIZE(bounds) && n > bounds[i]; i++)
        ;
    atomic_fetch_add(&M.batch_hist[i], 1);
    atomic_fetch_add(&M.batches, 1);
    if (all_failed) {
        atomic_fetch_add(&M.failed, n);
    } else {
        atomic_fetch_add(&M.sent, n - SG_MIN(n, n_failed));
        atomic_fetch_add(&M.failed, SG_MIN(n, n_failed));
        if (now > M.lag[slot].oldest_ms) {
            atomic_fetch_add(&M.lag_sum_ms,
                             (unsigned long)(now - M.lag[slot].oldest_ms));
            atomic_fetch_add(&M.lag_count, 1);
        }
    }
    M.lag[slot].job_id = 0;
}

static int track_result(void *ctx, const struct sg_job *job,
                        const struct sg_events_track_result *r)
{
    size_t idx[SG_EVENTS_BATCH_LIMIT], n = 0;
    struct result_arg *a;
    int state;
    bool exhausted = job->attempts_max > 0 &&
                     job->attempts >= job->attempts_max;

    SG_UNUSED(ctx);
    if (r->outcome == SG_EVENTS_TRACK_RETRY && !exhausted)
        return 0;
    if (r->outcome == SG_EVENTS_TRACK_PARTIAL && r->resp &&
        sg_events_partial_failures(r->resp, idx, SG_ARRAY_SIZE(idx), &n))
        n = 0;
    a = sg_calloc(1, sizeof(*a) + n * sizeof(size_t));
    if (!a)
        return SG_ENOMEM; /* the kind retries the job */
    a->job_id = job->id;
    a->state = (r->outcome == SG_EVENTS_TRACK_SENT ||
                r->outcome == SG_EVENTS_TRACK_PARTIAL)
                   ? SG_EVENT_SENT
                   : SG_EVENT_FAILED;
    a->n_failed = n;
    memcpy(a->failed, idx, n * sizeof(size_t));
    snprintf(a->error, sizeof(a->error), "%s", r->reason ? r->reason : "");
    state = a->state; /* a belongs to the writer once submitted */
    if (sg_store_submit(M.e->store, write_result, result_done, a) != 0) {
        sg_log(SG_LOG_WARN, "events",
               "job_id=%" PRId64 " msg=\"store busy; outcome not recorded, "
               "the batch is sent again\"",
               job->id);
        sg_free(a);
        return SG_EBUSY;
    }
    count_batch(job, n, state == SG_EVENT_FAILED);
    if (r->outcome != SG_EVENTS_TRACK_SENT)
        sg_log(SG_LOG_WARN, "events",
               "job_id=%" PRId64 " msg=\"batch %s\" failed=%zu "
               "reason=\"%.255s\"",
               job->id,
               r->outcome == SG_EVENTS_TRACK_PARTIAL ? "partly refused"
                                                     : "dead-lettered",
               n, r->reason ? r->reason : "");
    return 0;
}

/* Pending events left by an earlier run get their trigger jobs back. */
static int write_recover(struct sg_store_tx *tx, void *arg,
                         struct sg_err *err)
{
    int64_t tenants[256];
    int sources[256];
    size_t n = 0;
    void *be = sg_store_tx_backend(tx);
    int rc;

    SG_UNUSED(arg);
    rc = M.ops->pending_sources(be, tenants, sources, 256, &n, err);
    for (size_t i = 0; !rc && i < n; i++) {
        size_t sealed = 0;

        /* Full batches become jobs of their own, sent side by side. */
        rc = sg_events_tx_seal_full(tx, M.ops, &M.cfg, tenants[i],
                                    sources[i], SEAL_ROUNDS, &sealed,
                                    err);
        if (!rc)
            rc = ensure_trigger(tx, tenants[i], sources[i], false, err);
    }
    return rc;
}

void sg_engine__register_events(struct sg_engine *e)
{
    struct sg_events_track_env env;
    struct sg_err err;
    const char *tok = e->cfg->tiktok_events.access_token;

    memset(&M, 0, sizeof(M));
    M.e = e;
    sg_events_cfg_from(&M.cfg, e->cfg);
    M.ops = sg_events_store_for(sg_store_backend_name(e->store));
    if (!M.ops || M.ops->version != SG_EVENTS_STORE_OPS_VERSION) {
        sg_log(SG_LOG_ERR, "events",
               "msg=\"no events storage for this backend; events API off\"");
        return;
    }
    M.deliver = tok && *tok;
    memset(&env, 0, sizeof(env));
    env.base_url = e->cfg->tiktok_events.api_base_url;
    env.access_token = tok;
    env.build = track_build;
    env.result = track_result;
    env.ctx = &M;
    if (sg_events_track_configure(&env) != 0)
        sg_log(SG_LOG_ERR, "events", "msg=\"out of memory\"");
    sg_http_route(e->http, "POST", "/api/v1/events", h_events, e);
    sg_err_init(&err);
    if (M.deliver && sg_store_write(e->store, write_recover, NULL, &err))
        sg_log(SG_LOG_WARN, "events",
               "msg=\"cannot requeue pending events\" err=\"%s\"", err.msg);
}

int sg_engine__events_metrics(struct sg_engine *e, struct sg_buf *out)
{
    static const char *const le[] = {"1", "10", "100", "500", "1000",
                                     "+Inf"};
    unsigned long cum = 0;
    int rc;

    SG_UNUSED(e);
    rc = sg_buf_printf(
        out,
        "# HELP sg_events_total Events API intake and delivery by outcome.\n"
        "# TYPE sg_events_total counter\n"
        "sg_events_total{outcome=\"received\"} %lu\n"
        "sg_events_total{outcome=\"accepted\"} %lu\n"
        "sg_events_total{outcome=\"duplicate\"} %lu\n"
        "sg_events_total{outcome=\"sent\"} %lu\n"
        "sg_events_total{outcome=\"failed\"} %lu\n"
        "sg_events_total{outcome=\"store_unavailable\"} %lu\n"
        "# HELP sg_events_rejected_total Events rejected at intake, by "
        "reason.\n# TYPE sg_events_rejected_total counter\n",
        atomic_load(&M.received), atomic_load(&M.accepted),
        atomic_load(&M.duplicate), atomic_load(&M.sent),
        atomic_load(&M.failed), atomic_load(&M.store_busy));
    for (size_t i = 0; !rc && sg_events_reject_codes[i]; i++)
        rc = sg_buf_printf(out,
                           "sg_events_rejected_total{reason=\"%s\"} %lu\n",
                           sg_events_reject_codes[i],
                           atomic_load(&M.rejected[i]));
    if (!rc)
        rc = sg_buf_printf(out,
                           "# HELP sg_events_batch_size Events per batch "
                           "sent.\n# TYPE sg_events_batch_size histogram\n");
    for (size_t i = 0; !rc && i < SG_ARRAY_SIZE(le); i++) {
        cum += atomic_load(&M.batch_hist[i]);
        rc = sg_buf_printf(out, "sg_events_batch_size_bucket{le=\"%s\"} %lu\n",
                           le[i], cum);
    }
    if (!rc)
        rc = sg_buf_printf(
            out,
            "sg_events_batch_size_sum %lu\nsg_events_batch_size_count %lu\n"
            "# HELP sg_events_lag_ms_sum Milliseconds from intake to a "
            "confirmed send, summed over batches (oldest event).\n"
            "# TYPE sg_events_lag_ms_sum counter\n"
            "sg_events_lag_ms_sum %lu\n"
            "# HELP sg_events_lag_count Batches measured for lag.\n"
            "# TYPE sg_events_lag_count counter\n"
            "sg_events_lag_count %lu\n",
            atomic_load(&M.sent) + atomic_load(&M.failed),
            atomic_load(&M.batches), atomic_load(&M.lag_sum_ms),
            atomic_load(&M.lag_count));
    return rc;
}
