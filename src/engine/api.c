/*
 * api.c - the admin API under /api/v1/ plus /healthz, /readyz, /metrics.
 *
 * Every /api/v1/ route authenticates a Bearer key that belongs to one
 * tenant; every read and write is scoped to that tenant, so another
 * tenant's object answers 404 exactly like a missing one. Mutations are
 * answered only after their transaction (change + audit row) committed.
 */
#include "engine/internal.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/crypto.h"
#include "core/json.h"
#include "core/log.h"
#include "jobs/dispatcher.h"

#define LIST_LIMIT_MAX 500

void sg_apikey_hash(const char *key, size_t len, char out[65])
{
    sg_sha256_hex(key, len, out);
}

/* ---- authentication ---- */

bool sg_engine__auth(struct sg_engine *e, struct sg_http_req *r, bool write,
                     struct sg_caller *who)
{
    size_t len;
    const char *h = sg_http_req_header(r, "authorization", &len);
    struct sg_apikey key;
    struct sg_err err;
    char hash[65];
    int rc;

    if (!h || len < 8 || strncasecmp(h, "Bearer ", 7) != 0 || len > 256) {
        sg_http_reply_error(r, 401, "unauthorized",
                            "missing API key: send Authorization: Bearer "
                            "<key>",
                            NULL);
        return false;
    }
    sg_apikey_hash(h + 7, len - 7, hash);
    sg_err_init(&err);
    /*
     * The lookup is by hash, so its timing depends on the hash, not on how
     * much of a guessed key is right; the final comparison is constant
     * time all the same.
     */
    rc = sg_store_apikey_lookup(e->store, hash, &key, &err);
    if (rc != 0 && rc != SG_ENOTFOUND) {
        /*
         * The key could not be checked (out of memory, store trouble):
         * found by the D5 sweep answering 401 "unknown API key", which
         * tells a client with a good key to give up. A static answer,
         * so it needs no memory.
         */
        static const char body[] =
            "{\"error\":{\"code\":\"storage_unavailable\",\"message\":"
            "\"the API key cannot be checked now; retry\"}}";
        static const struct sg_http_header soon = {"retry-after", "1"};

        sg_http_reply_ex(r, 503, "application/json", body, sizeof(body) - 1,
                         &soon, 1);
        return false;
    }
    if (rc != 0 || key.revoked_at != 0) {
        sg_http_reply_error(r, 401, "unauthorized", "unknown API key",
                            NULL);
        return false;
    }
    if (write && key.read_only) {
        sg_http_reply_error(r, 403, "forbidden",
                            "this API key is read-only", NULL);
        return false;
    }
    who->tenant_id = key.tenant_id;
    who->key_id = key.id;
    who->read_only = key.read_only;
    return true;
}

/* ---- async mutations ---- */

struct sg_api_op *sg_engine__op_new(struct sg_engine *e,
                                    struct sg_http_req *r,
                                    const struct sg_caller *who)
{
    struct sg_api_op *op = sg_calloc(1, sizeof(*op));

    if (!op) {
        sg_http_reply_error(r, 503, "out_of_memory", "try again", NULL);
        return NULL;
    }
    op->e = e;
    op->who = *who;
    op->status = 200;
    op->d = sg_http_defer(r);
    if (!op->d) {
        sg_free(op);
        sg_http_reply_error(r, 503, "out_of_memory", "try again", NULL);
        return NULL;
    }
    return op;
}

static void op_free(struct sg_api_op *op)
{
    json_decref(op->result);
    json_decref(op->input);
    sg_free(op->text);
    sg_free(op);
}

void sg_engine__op_fail(struct sg_api_op *op, int status, const char *code,
                        const char *fmt, ...)
{
    va_list ap;

    op->status = status;
    op->err_code = code;
    va_start(ap, fmt);
    vsnprintf(op->err_msg, sizeof(op->err_msg), fmt, ap);
    va_end(ap);
}

int sg_engine__audit(struct sg_store_tx *tx, const struct sg_api_op *op,
                     const char *action, const char *object,
                     const char *outcome, struct sg_err *err)
{
    struct sg_audit a;

    memset(&a, 0, sizeof(a));
    a.tenant_id = op->who.tenant_id;
    a.key_id = op->who.key_id;
    snprintf(a.actor, sizeof(a.actor), "apikey");
    snprintf(a.action, sizeof(a.action), "%s", action);
    snprintf(a.object, sizeof(a.object), "%s", object);
    snprintf(a.outcome, sizeof(a.outcome), "%s", outcome);
    return sg_store_tx_audit(tx, &a, err);
}

void sg_engine__reply_unstored(struct sg_http_deferred *d, int rc,
                               const char *msg)
{
    /* A full disk clears when an operator frees space: come back later. */
    static const struct sg_http_header soon = {"retry-after", "1"};
    static const struct sg_http_header later = {"retry-after", "5"};
    bool full = rc == SG_EFULL;
    const char *code = full ? "storage_full"
                       : rc == SG_EBUSY ? "busy" : "storage_unavailable";
    json_t *j;
    char *text = NULL;
    size_t len = 0;

    if (full)
        msg = "the store's disk is full; nothing was saved, retry later";
    j = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message",
                  msg && msg[0] ? msg : "nothing was saved; retry");
    if (j)
        text = sg_json_dump(j, &len);
    json_decref(j);
    if (!text) {
        sg_http_deferred_reply_error(d, 503, code, "retry");
        return;
    }
    sg_http_deferred_reply_ex(d, 503, "application/json", text, len,
                              full ? &later : &soon, 1);
    sg_free(text);
}

static void op_done(void *arg, int rc, const struct sg_err *err)
{
    struct sg_api_op *op = arg;

    if (rc) {
        /* Nothing committed: say so, and that a retry may work. */
        sg_engine__reply_unstored(op->d, rc, err ? err->msg : NULL);
    } else if (op->err_code) {
        sg_http_deferred_reply_error(op->d, op->status, op->err_code,
                                     op->err_msg);
    } else {
        sg_http_deferred_reply_json(op->d, op->status,
                                    json_incref(op->result));
    }
    if (rc == 0 && op->e->dispatcher)
        sg_dispatcher_kick(op->e->dispatcher);
    op_free(op);
}

void sg_engine__op_submit(struct sg_api_op *op, sg_store_write_fn fn)
{
    if (sg_store_submit(op->e->store, fn, op_done, op) != 0) {
        sg_engine__reply_unstored(op->d, SG_EBUSY,
                                  "write queue full; retry shortly");
        op_free(op);
    }
}

/* ---- helpers ---- */

static bool parse_id(struct sg_http_req *r, int64_t *id_out)
{
    size_t len;
    const char *p = sg_http_req_param(r, "id", &len);
    int64_t v = 0;

    if (!p || len == 0 || len > 18)
        goto bad;
    for (size_t i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9')
            goto bad;
        v = v * 10 + (p[i] - '0');
    }
    *id_out = v;
    return true;
bad:
    sg_http_reply_error(r, 400, "invalid_id", "id must be a positive integer",
                        "id");
    return false;
}

/* Query parameter as a bounded integer; def when absent. */
static bool query_int(struct sg_http_req *r, const char *name, int64_t def,
                      int64_t min, int64_t max, int64_t *out)
{
    char buf[32], *end;
    long n = sg_http_req_query_get(r, name, buf, sizeof(buf));
    long long v;
    char msg[128];

    if (n < 0 && n != SG_ELIMIT) {
        *out = def;
        return true;
    }
    errno = 0;
    v = n > 0 ? strtoll(buf, &end, 10) : 0;
    if (n <= 0 || errno || *end || v < min || v > max) {
        snprintf(msg, sizeof(msg), "%s must be an integer %" PRId64
                 "..%" PRId64, name, min, max);
        sg_http_reply_error(r, 400, "invalid_parameter", msg, name);
        return false;
    }
    *out = v;
    return true;
}

json_t *sg_engine__job_json(const struct sg_job *j)
{
    json_t *o = json_object();
    json_t *payload = NULL;

    if (!o)
        return NULL;
    if (j->payload)
        payload = sg_json_loads(j->payload, JSON_DECODE_ANY, NULL);
    json_object_set_new(o, "id", json_integer(j->id));
    json_object_set_new(o, "kind", json_string(j->kind));
    json_object_set_new(o, "state", json_string(sg_job_state_name(j->state)));
    json_object_set_new(o, "attempts", json_integer(j->attempts));
    json_object_set_new(o, "attempts_max", json_integer(j->attempts_max));
    json_object_set_new(o, "next_run_at", json_integer(j->next_run_at));
    json_object_set_new(o, "created_at", json_integer(j->created_at));
    json_object_set_new(o, "updated_at", json_integer(j->updated_at));
    json_object_set_new(o, "coalesce_key", j->coalesce_key
                                               ? json_string(j->coalesce_key)
                                               : json_null());
    json_object_set_new(o, "last_error", j->last_error
                                             ? json_string(j->last_error)
                                             : json_null());
    json_object_set_new(o, "payload", payload ? payload : json_null());
    return o;
}

/* ---- handlers ---- */

static void h_healthz(struct sg_http_req *r, void *ctx)
{
    SG_UNUSED(ctx);
    sg_http_reply(r, 200, "application/json", "{\"status\":\"ok\"}", 15);
}

static void h_readyz(struct sg_http_req *r, void *ctx)
{
    struct sg_engine *e = ctx;
    struct sg_err err;

    sg_err_init(&err);
    if (sg_store_writable(e->store, &err) != 0) {
        sg_http_reply_error(r, 503, "not_ready", err.msg, NULL);
        return;
    }
    sg_http_reply(r, 200, "application/json", "{\"status\":\"ready\"}", 18);
}

static void h_metrics(struct sg_http_req *r, void *ctx)
{
    struct sg_engine *e = ctx;
    struct sg_store_stats st;
    struct sg_buf b;
    int64_t inbox = 0, jobs[4] = {0};
    static const char *bounds[] = {"1", "3", "7", "15", "31", "63", "127",
                                   "+Inf"};
    uint64_t cum = 0;
    int rc;

    sg_buf_init(&b, 4u << 20);
    rc = sg_http_server_metrics(e->http, &b);
    sg_store_stats(e->store, &st);
    if (!rc)
        rc = sg_buf_printf(
            &b,
            "# HELP sg_store_commits_total Transactions committed by the "
            "writer.\n# TYPE sg_store_commits_total counter\n"
            "sg_store_commits_total %" PRIu64 "\n"
            "# HELP sg_store_writes_total Writes acknowledged after "
            "commit.\n# TYPE sg_store_writes_total counter\n"
            "sg_store_writes_total %" PRIu64 "\n"
            "# HELP sg_store_commit_failures_total Batches whose commit "
            "failed.\n# TYPE sg_store_commit_failures_total counter\n"
            "sg_store_commit_failures_total %" PRIu64 "\n"
            "# HELP sg_store_queue_depth Writes waiting for the writer.\n"
            "# TYPE sg_store_queue_depth gauge\n"
            "sg_store_queue_depth %" PRIu64 "\n"
            "# HELP sg_store_commit_batch_size Writes per committed "
            "transaction.\n# TYPE sg_store_commit_batch_size histogram\n",
            st.commits, st.writes, st.commit_failures, st.queue_depth);
    for (size_t i = 0; i < 8 && !rc; i++) {
        cum += st.batch_hist[i];
        rc = sg_buf_printf(&b,
                           "sg_store_commit_batch_size_bucket{le=\"%s\"} "
                           "%" PRIu64 "\n",
                           bounds[i], cum);
    }
    if (!rc)
        rc = sg_buf_printf(&b,
                           "sg_store_commit_batch_size_sum %" PRIu64 "\n"
                           "sg_store_commit_batch_size_count %" PRIu64 "\n",
                           st.writes, st.commits);
    if (!rc && sg_store_counts(e->store, &inbox, jobs, NULL) == 0)
        rc = sg_buf_printf(
            &b,
            "# HELP sg_inbox_pending Inbox events stored but not yet "
            "processed.\n# TYPE sg_inbox_pending gauge\n"
            "sg_inbox_pending %" PRId64 "\n"
            "# HELP sg_jobs Jobs by state.\n# TYPE sg_jobs gauge\n"
            "sg_jobs{state=\"queued\"} %" PRId64 "\n"
            "sg_jobs{state=\"running\"} %" PRId64 "\n"
            "sg_jobs{state=\"done\"} %" PRId64 "\n"
            "sg_jobs{state=\"dead\"} %" PRId64 "\n",
            inbox, jobs[0], jobs[1], jobs[2], jobs[3]);
    if (!rc)
        rc = sg_engine__intake_metrics(e, &b);
    if (!rc)
        rc = sg_engine__events_metrics(e, &b);
    if (!rc)
        rc = sg_engine__orders_metrics(e, &b);
    if (!rc && e->dispatcher)
        rc = sg_dispatcher_metrics(e->dispatcher, &b);
    if (rc) {
        sg_buf_release(&b);
        sg_http_reply_error(r, 500, "metrics_failed", "cannot render", NULL);
        return;
    }
    sg_http_reply(r, 200, "text/plain; version=0.0.4", b.data, b.len);
    sg_buf_release(&b);
}

static void h_whoami(struct sg_http_req *r, void *ctx)
{
    struct sg_engine *e = ctx;
    struct sg_caller who;
    struct sg_tenant t;

    if (!sg_engine__auth(e, r, false, &who))
        return;
    if (sg_store_tenant_get_by_id(e->store, who.tenant_id, &t, NULL) != 0) {
        sg_http_reply_error(r, 401, "unauthorized", "unknown API key", NULL);
        return;
    }
    sg_http_reply_json(r, 200,
                       json_pack("{s:s, s:I, s:s}", "tenant", t.name,
                                 "key_id", (json_int_t)who.key_id, "scope",
                                 who.read_only ? "read" : "read-write"));
}

static void h_jobs_list(struct sg_http_req *r, void *ctx)
{
    struct sg_engine *e = ctx;
    struct sg_caller who;
    struct sg_job *jobs = NULL;
    size_t n = 0;
    int64_t after, limit;
    char state_name[16];
    int state = -1;
    json_t *arr, *doc;

    if (!sg_engine__auth(e, r, false, &who))
        return;
    if (!query_int(r, "after", 0, 0, INT64_MAX, &after) ||
        !query_int(r, "limit", 50, 1, LIST_LIMIT_MAX, &limit))
        return;
    if (sg_http_req_query_get(r, "state", state_name, sizeof(state_name)) >=
        0) {
        state = sg_job_state_parse(state_name);
        if (state < 0) {
            sg_http_reply_error(r, 400, "invalid_parameter",
                                "state must be queued, running, done or dead",
                                "state");
            return;
        }
    }
    if (sg_store_job_list(e->store, who.tenant_id, state, after,
                          (size_t)limit, &jobs, &n, NULL) != 0) {
        sg_http_reply_error(r, 503, "storage_unavailable", "cannot list jobs",
                            NULL);
        return;
    }
    arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, sg_engine__job_json(&jobs[i]));
    doc = json_pack("{s:o}", "jobs", arr);
    if (n == (size_t)limit)
        json_object_set_new(doc, "next_after", json_integer(jobs[n - 1].id));
    sg_job_list_free(jobs, n);
    sg_http_reply_json(r, 200, doc);
}

static void h_job_get(struct sg_http_req *r, void *ctx)
{
    struct sg_engine *e = ctx;
    struct sg_caller who;
    struct sg_job job;
    int64_t id;
    int rc;

    if (!sg_engine__auth(e, r, false, &who) || !parse_id(r, &id))
        return;
    rc = sg_store_job_get(e->store, who.tenant_id, id, &job, NULL);
    if (rc == SG_ENOTFOUND) {
        sg_http_reply_error(r, 404, "not_found", "no such job", NULL);
        return;
    }
    if (rc) {
        sg_http_reply_error(r, 503, "storage_unavailable", "cannot read job",
                            NULL);
        return;
    }
    sg_http_reply_json(r, 200, sg_engine__job_json(&job));
    sg_job_free(&job);
}

static int write_job_retry(struct sg_store_tx *tx, void *arg,
                           struct sg_err *err)
{
    struct sg_api_op *op = arg;
    char object[64];
    int rc;

    snprintf(object, sizeof(object), "job:%" PRId64, op->id);
    rc = sg_store_tx_job_retry(tx, op->who.tenant_id, op->id, err);
    if (rc == SG_ENOTFOUND)
        sg_engine__op_fail(op, 404, "not_found", "no such job");
    else if (rc == SG_ESTATE)
        sg_engine__op_fail(op, 409, "conflict",
                           "only a dead or queued job can be retried");
    else if (rc)
        return rc;
    else
        op->result = json_pack("{s:I, s:s}", "id", (json_int_t)op->id,
                               "state", "queued");
    return sg_engine__audit(tx, op, "job.retry", object,
                            rc ? sg_err_name(rc) : "ok", err);
}

static void h_job_retry(struct sg_http_req *r, void *ctx)
{
    struct sg_engine *e = ctx;
    struct sg_caller who;
    struct sg_api_op *op;
    int64_t id;

    if (!sg_engine__auth(e, r, true, &who) || !parse_id(r, &id))
        return;
    op = sg_engine__op_new(e, r, &who);
    if (!op)
        return;
    op->id = id;
    sg_engine__op_submit(op, write_job_retry);
}

static int write_notify(struct sg_store_tx *tx, void *arg,
                        struct sg_err *err)
{
    struct sg_api_op *op = arg;
    struct sg_job job;
    int64_t id = 0;
    bool coalesced = false;
    char object[64];
    int rc;

    memset(&job, 0, sizeof(job));
    job.tenant_id = op->who.tenant_id;
    snprintf(job.kind, sizeof(job.kind), "notify.http");
    job.payload = op->text;
    job.attempts_max = (int)op->e->cfg->jobs.attempts_max;
    job.next_run_at = sg_store_tx_now(tx);
    job.coalesce_key = (char *)(uintptr_t)sg_json_str(op->input, "coalesce_key");
    job.idempotency_key =
        (char *)(uintptr_t)sg_json_str(op->input, "idempotency_key");
    snprintf(job.platform, sizeof(job.platform), "notify");
    snprintf(job.endpoint_class, sizeof(job.endpoint_class), "http");
    rc = sg_store_tx_job_enqueue(tx, &job, &id, &coalesced, err);
    if (rc)
        return rc;
    op->status = 202;
    op->result = json_pack("{s:I, s:s, s:b}", "id", (json_int_t)id, "state",
                           "queued", "coalesced", coalesced);
    snprintf(object, sizeof(object), "job:%" PRId64, id);
    return sg_engine__audit(tx, op, "notify.enqueue", object, "ok", err);
}

bool sg_engine__body_ok(struct sg_http_req *r, const json_t *in,
                        const struct sg_json_field *fields, size_t n)
{
    const char *field = NULL;
    struct sg_err err;

    sg_err_init(&err);
    if (sg_json_check_fields(in, fields, n, &field, &err) == 0)
        return true;
    sg_http_reply_error(r, 400, "invalid_field", err.msg, field);
    return false;
}

/*
 * POST /api/v1/notify. The whole body becomes the job's payload, so a
 * field the route does not know would travel to notify_http.c unread.
 */
static const struct sg_json_field notify_fields[] = {
    {"event", SG_JF_STRING | SG_JF_REQUIRED},
    {"data", SG_JF_OBJECT},
    {"coalesce_key", SG_JF_STRING | SG_JF_NULL},
    {"idempotency_key", SG_JF_STRING | SG_JF_NULL},
    {"url", SG_JF_STRING | SG_JF_NULL},
};

static void h_notify(struct sg_http_req *r, void *ctx)
{
    struct sg_engine *e = ctx;
    struct sg_caller who;
    struct sg_api_op *op;
    json_t *in, *data;
    const char *event;

    if (!sg_engine__auth(e, r, true, &who))
        return;
    in = sg_http_req_json(r);
    if (!in)
        return;
    if (json_is_object(in) &&
        !sg_engine__body_ok(r, in, SG_FIELDS(notify_fields))) {
        json_decref(in);
        return;
    }
    event = sg_json_str(in, "event");
    data = json_object_get(in, "data");
    if (!json_is_object(in) || !event || !event[0] || strlen(event) > 100) {
        json_decref(in);
        sg_http_reply_error(r, 400, "invalid_field",
                            "event must be a string of 1..100 characters",
                            "event");
        return;
    }
    if (data && !json_is_object(data)) {
        json_decref(in);
        sg_http_reply_error(r, 400, "invalid_field",
                            "data must be a JSON object", "data");
        return;
    }
    if (json_object_get(in, "url") && !e->cfg->security.allow_private_urls) {
        json_decref(in);
        sg_http_reply_error(r, 400, "invalid_field",
                            "per-job url overrides are disabled; configure "
                            "[notify] url",
                            "url");
        return;
    }
    op = sg_engine__op_new(e, r, &who);
    if (!op) {
        json_decref(in);
        return;
    }
    op->input = in;
    op->text = sg_json_dump(in, NULL);
    if (!op->text) {
        sg_http_deferred_reply_error(op->d, 503, "out_of_memory", "retry");
        json_decref(op->input);
        sg_free(op);
        return;
    }
    sg_engine__op_submit(op, write_notify);
}

static void h_audit(struct sg_http_req *r, void *ctx)
{
    struct sg_engine *e = ctx;
    struct sg_caller who;
    struct sg_audit *rows = NULL;
    size_t n = 0;
    int64_t after, limit;
    json_t *arr;

    if (!sg_engine__auth(e, r, false, &who))
        return;
    if (!query_int(r, "after", 0, 0, INT64_MAX, &after) ||
        !query_int(r, "limit", 100, 1, LIST_LIMIT_MAX, &limit))
        return;
    if (sg_store_audit_list(e->store, who.tenant_id, after, (size_t)limit,
                            &rows, &n, NULL) != 0) {
        sg_http_reply_error(r, 503, "storage_unavailable",
                            "cannot read the audit log", NULL);
        return;
    }
    arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(
            arr, json_pack("{s:I, s:I, s:s, s:s, s:s, s:s, s:I}", "id",
                           (json_int_t)rows[i].id, "key_id",
                           (json_int_t)rows[i].key_id, "actor", rows[i].actor,
                           "action", rows[i].action, "object", rows[i].object,
                           "outcome", rows[i].outcome, "at",
                           (json_int_t)rows[i].at));
    sg_free(rows);
    sg_http_reply_json(r, 200, json_pack("{s:o}", "audit", arr));
}

static void h_inbox_get(struct sg_http_req *r, void *ctx)
{
    struct sg_engine *e = ctx;
    struct sg_caller who;
    struct sg_inbox row;
    int64_t id;
    int rc;

    if (!sg_engine__auth(e, r, false, &who) || !parse_id(r, &id))
        return;
    rc = sg_store_inbox_get(e->store, who.tenant_id, id, &row, NULL);
    if (rc == SG_ENOTFOUND) {
        sg_http_reply_error(r, 404, "not_found", "no such inbox event", NULL);
        return;
    }
    if (rc) {
        sg_http_reply_error(r, 503, "storage_unavailable",
                            "cannot read the inbox", NULL);
        return;
    }
    sg_http_reply_json(
        r, 200,
        json_pack("{s:I, s:s, s:s, s:s%, s:I, s:I}", "id", (json_int_t)row.id,
                  "source", row.source, "external_id", row.external_id,
                  "body", row.body, row.body_len, "received_at",
                  (json_int_t)row.received_at, "processed_at",
                  (json_int_t)row.processed_at));
    sg_inbox_free(&row);
}

void sg_engine__register_api(struct sg_engine *e)
{
    struct sg_http_server *s = e->http;

    sg_http_route(s, "GET", "/healthz", h_healthz, e);
    sg_http_route(s, "GET", "/readyz", h_readyz, e);
    sg_http_route(s, "GET", "/metrics", h_metrics, e);
    sg_http_route(s, "GET", "/api/v1/whoami", h_whoami, e);
    sg_http_route(s, "GET", "/api/v1/jobs", h_jobs_list, e);
    sg_http_route(s, "GET", "/api/v1/jobs/{id}", h_job_get, e);
    sg_http_route(s, "POST", "/api/v1/jobs/{id}/retry", h_job_retry, e);
    sg_http_route(s, "POST", "/api/v1/notify", h_notify, e);
    sg_http_route(s, "GET", "/api/v1/audit", h_audit, e);
    sg_http_route(s, "GET", "/api/v1/inbox/{id}", h_inbox_get, e);
}
