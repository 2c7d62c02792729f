/*
 * test_engine_events_torture.c - D5 (issue #7) for the events delivery
 * job as the engine runs it: the "events.track" kind's prepare (the
 * engine's build: a trigger job seals its batch in one write; a batch
 * sealed at intake is only read back) and classify (the engine's result:
 * the batch's outcome recorded), followed by the job's finish as the
 * dispatcher writes it. The answers classified are the in-process
 * sandbox's own (code 0 for the batch the clean build made, 40001 for a
 * wrong token) and a 20001 answer refusing two positions.
 *
 * One engine (not started: no listener, no dispatcher thread) is built
 * for the program on a manual clock; before each run its store is
 * replaced by a fresh copy of a template, in which the job is already
 * claimed (RUNNING under a lease), as the dispatcher would hold it.
 *
 * Every run must end in an error or the clean run's result. An error
 * from prepare must be retryable (the dispatcher dead-letters a job
 * whose prepare fails otherwise); an outcome that becomes a retry is an
 * error here (the job is queued again and the batch resent with the same
 * event_ids). After every run the events invariant of
 * test_features_events_torture.c holds, and a batch whose job the
 * dispatcher finished (DONE or DEAD) has its outcome recorded. Swept
 * again with SQLite's allocations failing too ("+sqlite").
 */
#include "testlib.h"
#include "torture.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/json.h"
#include "core/log.h"
#include "engine/internal.h"
#include "features/events/events.h"
#include "features/events/events_store.h"
#include "features/events/ingest.h"
#include "http/client.h"
#include "jobs/dispatcher.h"
#include "jobs/events_track.h"
#include "jobs/kind.h"
#include "sandbox/sandbox.h"
#include "sandbox/tiktok_events/events.h"
#include "store/store.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sqlite3.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define T0       INT64_C(1790000000000)
#define LEASE_MS INT64_C(3600000)
#define API_KEY  "sk_test_d5_events_0123456789"

static struct {
    char *dir;
    char *tpl_trigger; /* two pending events; their trigger job claimed */
    char *tpl_sealed;  /* a batch sealed at intake; its job claimed */
    char *tpl_empty;   /* the tenant and its API key only */
    char *work;
    char *scratch;     /* the engine's first store */
    int64_t tenant;
    struct sg_job *jobs_trigger, *jobs_sealed;
    size_t n_trigger, n_sealed;
    struct sg_job *trigger, *sealed;
    struct sg_sbx *sbx;
    struct sg_config cfg;
    struct sg_engine *e;
    struct sg_dispatcher_cfg dcfg;
    struct sg_http_response ans_ok, ans_token, ans_partial;
} fx;

static struct sg_clock tpl_clk;
static const struct sg_events_store_ops *ops;

static void store_cfg(struct sg_store_cfg *cfg, const char *path)
{
    sg_store_cfg_defaults(cfg);
    cfg->path = path;
    cfg->readers = 1;
    cfg->queue_max = 16;
}

/* ---- templates ---- */

static struct sg_events_cfg ecfg(void)
{
    struct sg_events_cfg c;

    sg_events_cfg_from(&c, &fx.cfg);
    return c;
}

struct tpl_write {
    struct sg_events_row rows[4];
    size_t n;
    struct sg_job *jobs;
    size_t n_jobs;
};

static int tpl_ingest(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    struct tpl_write *w = arg;
    struct sg_events_cfg c = ecfg();

    return sg_events_tx_ingest(tx, ops, &c, w->rows, w->n, true, err);
}

static int tpl_claim(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    struct tpl_write *w = arg;

    return sg_store_tx_job_claim(tx, LEASE_MS, 8, &w->jobs, &w->n_jobs, err);
}

static int tenant_write(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    char hash[65];
    int64_t key_id = 0;
    int rc = sg_store_tx_tenant_insert(tx, "acme", arg, err);

    sg_apikey_hash(API_KEY, strlen(API_KEY), hash);
    if (!rc)
        rc = sg_store_tx_apikey_insert(tx, *(int64_t *)arg, hash, "sk_test",
                                       false, &key_id, err);
    return rc;
}

static void add_row(struct tpl_write *w, const char *event, const char *id)
{
    static char bodies[8][256];
    static size_t next;
    char *body = bodies[next++ % 8];

    snprintf(body, sizeof(bodies[0]),
             "{\"event\":\"%s\",\"event_id\":\"%s\",\"event_time\":%" PRId64
             ",\"user\":{\"external_id\":\"%064d\"}}",
             event, id, T0 / 1000 - 5, 7);
    w->rows[w->n++] = (struct sg_events_row){
        .tenant_id = fx.tenant,
        .source = SG_EVENTS_WEB,
        .source_id = "PIX",
        .event = event,
        .event_id = id,
        .event_time = T0 / 1000 - 5,
        .body = body,
        .body_len = strlen(body)};
}

static long long q_int(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    long long n = -1;

    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) ==
            SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

/* A template with n events; the job running is the returned one. */
static struct sg_job *make_template(char **path_out, const char *name,
                                    size_t n, struct sg_job **jobs_out,
                                    size_t *n_jobs_out)
{
    static const char *const names[] = {"Search", "Purchase", "ViewContent",
                                        "AddToCart"};
    struct tpl_write w = {0};
    struct sg_store_cfg sc;
    struct sg_store *s = NULL;
    struct sg_err err;
    char *path = sgt_path(fx.dir, name);
    char ids[4][32];
    int64_t want;

    sg_err_init(&err);
    store_cfg(&sc, path);
    sg_clock_init_manual(&tpl_clk, T0);
    if (sg_store_open(&s, &sc, &tpl_clk, &err) != 0)
        fail_msg("template store: %s", err.msg);
    if (!ops)
        ops = sg_events_store_for(sg_store_backend_name(s));
    assert_int_equal(sg_store_write(s, tenant_write, &fx.tenant, NULL), 0);
    for (size_t i = 0; i < n; i++) {
        snprintf(ids[i], sizeof(ids[i]), "%s-%zu", name, i);
        add_row(&w, names[i], ids[i]);
    }
    if (n == 0) {
        sg_store_free(s);
        *path_out = path;
        *jobs_out = NULL;
        *n_jobs_out = 0;
        return NULL;
    }
    if (sg_store_write(s, tpl_ingest, &w, &err) != 0)
        fail_msg("template: %s", err.msg);
    /* The trigger is due after flush_ms; the runs' clock stays at T0. */
    sg_clock_advance(&tpl_clk, 1000);
    if (sg_store_write(s, tpl_claim, &w, &err) != 0)
        fail_msg("template: %s", err.msg);
    sg_store_free(s);
    /* The job whose batch (or trigger) this template is about. */
    want = n >= 3 ? q_int(path, "SELECT max(job_id) FROM event_batches")
                  : q_int(path, "SELECT id FROM jobs WHERE coalesce_key IS "
                                "NOT NULL");
    *path_out = path;
    *jobs_out = w.jobs;
    *n_jobs_out = w.n_jobs;
    for (size_t i = 0; i < w.n_jobs; i++)
        if (w.jobs[i].id == want)
            return &w.jobs[i];
    fail_msg("template %s: job %lld not claimed", name, (long long)want);
    return NULL;
}

/* ---- one run: a fresh store under the engine ---- */

struct jop {
    const char *tpl;
    const struct sg_job *job;
    char *baseline;
    /* build */
    struct sg_job_call call;
    int rc;
    bool retryable;
    /* outcome */
    const struct sg_http_response *resp;
    struct sg_job_outcome out;
    /* served by the HTTP loop thread: let it finish freeing */
    bool settle;
};

static int jop_setup(void *arg)
{
    struct jop *o = arg;
    struct sg_store_cfg sc;
    struct sg_err err;

    sg_err_init(&err);
    sgt_db_remove(fx.work);
    if (sgt_copy_file(o->tpl, fx.work) != 0)
        return -1;
    store_cfg(&sc, fx.work);
    if (sg_store_open(&fx.e->store, &sc, &fx.e->clock, &err) != 0)
        fail_msg("store open: %s", err.msg);
    if (!o->baseline)
        o->baseline = sgt_db_dump(fx.work);
    memset(&o->call, 0, sizeof(o->call));
    memset(&o->out, 0, sizeof(o->out));
    o->rc = 0;
    o->retryable = false;
    return o->baseline ? 0 : -1;
}

static char *jop_digest(void *arg)
{
    struct jop *o = arg;
    struct sg_buf b;
    char *dump = sgt_db_dump(fx.work);

    sg_buf_init(&b, 64u << 20);
    if (o->resp) {
        sg_buf_printf(&b, "verdict %d breaker %d limited %d reason %s\n",
                      o->out.verdict, o->out.breaker, o->out.rate_limited,
                      o->out.reason);
    } else {
        sg_buf_printf(&b, "%s %s %s %s %s\n", o->call.method,
                      o->call.url ? o->call.url : "-", o->call.platform,
                      o->call.shop, o->call.endpoint_class);
        for (size_t i = 0; i < o->call.n_headers; i++)
            sg_buf_printf(&b, "%s\n", o->call.headers[i]);
        sg_buf_printf(&b, "%.*s\n", (int)o->call.body_len,
                      o->call.body ? o->call.body : "");
    }
    sg_buf_printf(&b, "--- store\n%s", dump ? dump : "(unreadable)");
    sg_free(dump);
    return sg_buf_detach(&b, NULL);
}

static int events_whole(char *why)
{
    static const struct {
        const char *what, *sql;
    } checks[] = {
        {"an event bound to a batch that does not exist",
         "SELECT count(*) FROM events e WHERE e.batch_id IS NOT NULL AND "
         "NOT EXISTS (SELECT 1 FROM event_batches b WHERE b.id = "
         "e.batch_id)"},
        {"an unfinished batch whose size is not its events'",
         "SELECT count(*) FROM event_batches b WHERE b.state = 1 AND b.n != "
         "(SELECT count(*) FROM events e WHERE e.batch_id = b.id)"},
        {"a batch bound to no job",
         "SELECT count(*) FROM event_batches b WHERE NOT EXISTS (SELECT 1 "
         "FROM jobs j WHERE j.id = b.job_id)"},
        {"a batch whose job was finished without its outcome recorded "
         "(never sent again, never confirmed)",
         "SELECT count(*) FROM event_batches b JOIN jobs j ON j.id = "
         "b.job_id WHERE b.state = 1 AND j.state IN (2, 3)"},
        {"a pending event no events.track job will send",
         "SELECT count(*) FROM events e WHERE e.batch_id IS NULL AND "
         "e.state = 0 AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.kind = "
         "'events.track' AND j.state IN (0, 1) AND j.tenant_id = "
         "e.tenant_id AND j.coalesce_key IS NOT NULL)"},
    };

    for (size_t i = 0; i < SG_ARRAY_SIZE(checks); i++) {
        long long n = q_int(fx.work, checks[i].sql);

        if (n != 0) {
            snprintf(why, SGT_WHY_MAX, "events invariant: %s (%lld)",
                     checks[i].what, n);
            return -1;
        }
    }
    return 0;
}

static int jop_check(void *arg, int rc, char *why)
{
    struct jop *o = arg;

    /* The dispatcher retries SG_ENOMEM and errors marked retryable. */
    if (!o->resp && o->rc && o->rc != SG_ENOMEM && !o->retryable) {
        snprintf(why, SGT_WHY_MAX,
                 "prepare failed without retryable (%s: %s): the "
                 "dispatcher would dead-letter the batch",
                 sg_err_name(o->rc), "see the run's message");
        return -1;
    }
    SG_UNUSED(rc);
    return events_whole(why);
}

static void jop_teardown(void *arg)
{
    struct jop *o = arg;

    sg_job_call_release(&o->call);
    sg_store_free(fx.e->store);
    fx.e->store = NULL;
    sgt_db_remove(fx.work);
    if (o->settle)
        sgt_heap_settle();
}

static void sweep_jop(struct jop *o, const char *name,
                      int (*run)(void *, struct sg_err *),
                      bool sqlite_full_only)
{
    static const int retried[] = {SG_EBUSY, 0};
    struct sgt_torture_op op = {.name = name,
                                .arg = o,
                                .setup = jop_setup,
                                .run = run,
                                .digest = jop_digest,
                                .check = jop_check,
                                .teardown = jop_teardown,
                                .also_ok = retried};

    /* Variants of a swept path: "+sqlite" in the full sweep only. */
    sgt_torture_sweep_sqlite(&op, sqlite_full_only);
    sg_free(o->baseline);
    o->baseline = NULL;
}

/* ---- prepare: the engine's build ---- */

static int build_run(void *arg, struct sg_err *err)
{
    struct jop *o = arg;

    o->rc = sg_job_kind_events_track.prepare(o->job, &fx.dcfg, T0, &o->call,
                                             err);
    o->retryable = err->retryable;
    return o->rc;
}

static void test_build_trigger(void **state)
{
    struct jop o = {.tpl = fx.tpl_trigger, .job = fx.trigger};

    SG_UNUSED(state);
    sweep_jop(&o, "events job prepare: trigger seals its batch", build_run,
              false);
}

static void test_build_sealed(void **state)
{
    struct jop o = {.tpl = fx.tpl_sealed, .job = fx.sealed};

    SG_UNUSED(state);
    sweep_jop(&o, "events job prepare: batch sealed at intake", build_run,
              false);
}

/* ---- classify: the engine's result, then the dispatcher's finish ---- */

struct finish {
    const struct sg_job *job;
    int state;
    const char *reason;
};

static int finish_write(struct sg_store_tx *tx, void *arg,
                        struct sg_err *err)
{
    struct finish *f = arg;

    return sg_store_tx_job_finish(tx, f->job->id, f->job->lease_token,
                                  f->state, sg_store_tx_now(tx) + 1000,
                                  f->reason, err);
}

static int nothing_write(struct sg_store_tx *tx, void *arg,
                         struct sg_err *err)
{
    SG_UNUSED(tx);
    SG_UNUSED(arg);
    SG_UNUSED(err);
    return 0;
}

static int outcome_run(void *arg, struct sg_err *err)
{
    struct jop *o = arg;
    struct finish f = {.job = o->job};
    int rc;

    sg_job_kind_events_track.classify(o->job, o->resp, T0, &fx.dcfg,
                                      &o->out);
    f.state = o->out.verdict == SG_JOB_VERDICT_SUCCESS ? SG_JOB_DONE
              : o->out.verdict == SG_JOB_VERDICT_DEAD  ? SG_JOB_DEAD
                                                       : SG_JOB_QUEUED;
    f.reason = o->out.reason;
    /* After the outcome's own write (the store keeps submission order). */
    rc = sg_store_write(fx.e->store, finish_write, &f, err);
    /*
     * An outcome write that failed is queued again from its done
     * callback, behind the finish: wait for that one too.
     */
    if (!rc)
        rc = sg_store_write(fx.e->store, nothing_write, NULL, err);
    if (!rc && o->out.verdict == SG_JOB_VERDICT_RETRY)
        rc = sg_err_set(err, SG_EBUSY, "the job is retried: %s",
                        o->out.reason);
    return rc;
}

static void test_outcome(void **state)
{
    struct jop o = {.tpl = fx.tpl_sealed, .job = fx.sealed};

    SG_UNUSED(state);
    o.resp = &fx.ans_ok;
    sweep_jop(&o, "events job outcome: sandbox code 0", outcome_run, false);
    o.resp = &fx.ans_partial;
    sweep_jop(&o, "events job outcome: 20001 partial", outcome_run, true);
    o.resp = &fx.ans_token;
    sweep_jop(&o, "events job outcome: sandbox 40001 (dead)", outcome_run,
              true);
}

/* ---- intake: POST /api/v1/events through the engine's HTTP server ---- */

/*
 * One request on a socket of the test's own (no sg_alloc on this side,
 * so every allocation counted is the server's, the handler's and the
 * store writer's). The answer's status and body go to out.
 */
static int http_post(const char *path, const char *body, char *out,
                     size_t out_size, int *status_out)
{
    const char *url = sg_engine_url(fx.e);
    const char *colon = strrchr(url, ':');
    struct sockaddr_in sa;
    struct timeval tv = {.tv_sec = 20};
    char head[512];
    size_t got = 0;
    ssize_t n;
    int fd, hl;

    *status_out = 0;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)atoi(colon + 1));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    hl = snprintf(head, sizeof(head),
                  "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                  "Authorization: Bearer %s\r\n"
                  "Content-Type: application/json\r\n"
                  "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                  path, API_KEY, strlen(body));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        send(fd, head, (size_t)hl, 0) != hl ||
        send(fd, body, strlen(body), 0) != (ssize_t)strlen(body)) {
        close(fd);
        return -1;
    }
    while (got + 1 < out_size &&
           (n = recv(fd, out + got, out_size - 1 - got, 0)) > 0)
        got += (size_t)n;
    out[got] = '\0';
    close(fd);
    if (sscanf(out, "HTTP/1.%*d %d", status_out) != 1)
        return -1;
    return 0;
}

struct intake {
    const char *body;
    char answer[16384];
    int status;
};

static int intake_run(void *arg, struct sg_err *err)
{
    struct jop *o = arg;
    struct intake *in = (struct intake *)(uintptr_t)o->job;
    const char *b;

    if (http_post("/api/v1/events", in->body, in->answer,
                  sizeof(in->answer), &in->status) != 0)
        return sg_err_set(err, SG_EIO, "no answer from the engine");
    b = strstr(in->answer, "\r\n\r\n");
    /* Only the body is compared: the head carries a date. */
    memmove(in->answer, b ? b + 4 : "", strlen(b ? b + 4 : "") + 1);
    if (in->status == 200)
        return 0;
    /* 503 with Retry-After is the documented "retry later". */
    return sg_err_set(err, in->status == 503 ? SG_EBUSY : SG_EINVAL,
                      "HTTP %d: %.200s", in->status, in->answer);
}

static char *intake_digest(void *arg)
{
    struct jop *o = arg;
    struct intake *in = (struct intake *)(uintptr_t)o->job;
    struct sg_buf b;
    char *dump = sgt_db_dump(fx.work);

    sg_buf_init(&b, 64u << 20);
    sg_buf_printf(&b, "%d %s\n--- store\n%s", in->status, in->answer,
                  dump ? dump : "(unreadable)");
    sg_free(dump);
    return sg_buf_detach(&b, NULL);
}

static int intake_check(void *arg, int rc, char *why)
{
    struct jop *o = arg;

    if (rc) {
        char *now = sgt_db_dump(fx.work);
        bool same = now && strcmp(now, o->baseline) == 0;

        sg_free(now);
        if (!same) {
            snprintf(why, SGT_WHY_MAX, "a refused request changed the store");
            return -1;
        }
    }
    return events_whole(why);
}

static void test_intake_http(void **state)
{
    static const int retried[] = {SG_EBUSY, 0};
    struct intake in = {
        .body =
            "{\"event_source\":\"web\",\"events\":["
            "{\"event\":\"CompletePayment\",\"event_id\":\"h-1\","
            "\"user\":{\"email\":\"A@B.com\",\"phone\":\"+1 213 373 4253\"},"
            "\"properties\":{\"currency\":\"USD\",\"value\":\"12.50\"}},"
            "{\"event\":\"Search\",\"event_id\":\"h-2\"},"
            "{\"event\":\"Search\",\"event_id\":\"h-2\"},"
            "{\"event\":\"Nope\",\"event_id\":\"h-3\"},"
            "{\"event\":\"ViewContent\",\"event_id\":\"h-4\"},"
            "{\"event\":\"AddToCart\",\"event_id\":\"h-5\"}]}"};
    /* The job pointer carries the request (jop's setup and teardown). */
    struct jop o = {.tpl = fx.tpl_empty,
                    .job = (const struct sg_job *)(uintptr_t)&in,
                    .settle = true};
    char full[128];
    struct sgt_torture_op op = {.name = "events intake: POST /api/v1/events",
                                .arg = &o,
                                .setup = jop_setup,
                                .run = intake_run,
                                .digest = intake_digest,
                                .check = intake_check,
                                .teardown = jop_teardown,
                                .also_ok = retried};
    struct sgt_torture_stats st;

    SG_UNUSED(state);
    /*
     * One request first: the loop thread's JSON arena and h2o's pools are
     * made on its first request and kept for its life, which the per-run
     * heap count would otherwise take for a leak.
     */
    assert_int_equal(jop_setup(&o), 0);
    assert_int_equal(http_post("/api/v1/events", in.body, in.answer,
                               sizeof(in.answer), &in.status),
                     0);
    assert_int_equal(in.status, 200);
    jop_teardown(&o);
    sgt_torture_sweep(&op, &st);
    /*
     * Not +openssl here: libcrypto keeps a per-thread error state, made
     * on the loop thread by its first failure, which the heap count would
     * call a leak. Hashing is swept with OpenSSL's allocations failing in
     * test_features_events_torture.
     */
    snprintf(full, sizeof(full), "%s +sqlite", op.name);
    op.name = full;
    op.libs = SGT_LIB_SQLITE;
    sgt_torture_sweep(&op, &st);
    sg_free(o.baseline);
}

/* ---- program ---- */

/* POST the clean build's body to the sandbox, with token tok. */
static void ask_sandbox(struct sg_http_response *out, const char *tok)
{
    struct jop o = {.tpl = fx.tpl_sealed, .job = fx.sealed};
    struct sg_http_request req;
    struct sg_err err;
    char hdr[300];
    const char *headers[] = {"Content-Type: application/json", hdr, NULL};

    sg_err_init(&err);
    assert_int_equal(jop_setup(&o), 0);
    if (build_run(&o, &err) != 0)
        fail_msg("clean build: %s", err.msg);
    snprintf(hdr, sizeof(hdr), "Access-Token: %s", tok);
    memset(&req, 0, sizeof(req));
    req.method = "POST";
    req.url = o.call.url;
    req.headers = headers;
    req.body = o.call.body;
    req.body_len = o.call.body_len;
    req.timeout_ms = 10000;
    if (getenv("SG_TEST_VERBOSE"))
        print_message("body: %.*s\n", (int)req.body_len, req.body);
    if (sg_http_client_do(out, &req, NULL, &err) != 0)
        fail_msg("sandbox: %s", err.msg);
    jop_teardown(&o);
    sg_free(o.baseline);
}

static int group_setup(void **state)
{
    struct sg_sbx_cfg sc;
    struct sg_err err;
    static const char partial[] =
        "{\"code\":20001,\"message\":\"Partial success\",\"request_id\":"
        "\"r1\",\"data\":{\"failed_events\":[{\"index\":2,\"code\":40002,"
        "\"message\":\"bad\"},{\"index\":0}]}}";

    SG_UNUSED(state);
    sg_err_init(&err);
    fx.dir = sgt_tmpdir();
    fx.work = sgt_path(fx.dir, "work.db");
    fx.scratch = sgt_path(fx.dir, "engine.db");

    sg_sbx_cfg_defaults(&sc);
    sc.listen = "127.0.0.1:0";
    sc.threads = 1;
    if (sg_sbx_new(&fx.sbx, &sc, &err) != 0 ||
        sg_sbx_start(fx.sbx, &err) != 0)
        fail_msg("sandbox: %s", err.msg);

    assert_int_equal(sg_config_init_defaults(&fx.cfg), 0);
    sg_free(fx.cfg.store.path);
    fx.cfg.store.path = sg_strdup(fx.scratch);
    sg_free(fx.cfg.server.listen);
    fx.cfg.server.listen = sg_strdup("127.0.0.1:0");
    sg_free(fx.cfg.tiktok_events.api_base_url);
    fx.cfg.tiktok_events.api_base_url = sg_strdup(sg_sbx_url(fx.sbx));
    sg_free(fx.cfg.tiktok_events.access_token);
    fx.cfg.tiktok_events.access_token =
        sg_strdup(SG_SBX_EVENTS_TOKEN_DEFAULT);
    sg_free(fx.cfg.tiktok_events.web_pixel_code);
    fx.cfg.tiktok_events.web_pixel_code = sg_strdup("PIX");
    fx.cfg.tiktok_events.batch_max = 3;
    fx.cfg.server.threads = 1; /* one loop thread: its caches warm once */
    fx.cfg.tiktok_events.flush_ms = 1000;
    fx.cfg.security.allow_private_urls = true;
    sg_dispatcher_cfg_defaults(&fx.dcfg);

    fx.trigger = make_template(&fx.tpl_trigger, "trigger.db", 2,
                               &fx.jobs_trigger, &fx.n_trigger);
    fx.sealed = make_template(&fx.tpl_sealed, "sealed.db", 4,
                              &fx.jobs_sealed, &fx.n_sealed);
    {
        struct sg_job *none = NULL;
        size_t n_none = 0;

        (void)make_template(&fx.tpl_empty, "empty.db", 0, &none, &n_none);
    }

    if (sg_engine_new(&fx.e, &fx.cfg, &err) != 0)
        fail_msg("engine: %s", err.msg);
    /* Every row the runs write carries the same times. */
    sg_clock_init_manual(&fx.e->clock, T0);
    /* Each run opens its own copy as the engine's store. */
    sg_store_free(fx.e->store);
    fx.e->store = NULL;
    /* Only the HTTP server: no dispatcher, inbox or TikTok Shop thread. */
    if (sg_http_server_start(fx.e->http, &err) != 0)
        fail_msg("engine http: %s", err.msg);

    ask_sandbox(&fx.ans_ok, SG_SBX_EVENTS_TOKEN_DEFAULT);
    ask_sandbox(&fx.ans_token, "wrong-token");
    if (fx.ans_ok.status != 200 || !strstr(fx.ans_ok.body, "\"code\":0"))
        fail_msg("sandbox answer: %ld %s", fx.ans_ok.status,
                 fx.ans_ok.body ? fx.ans_ok.body : "");
    if (!fx.ans_token.body || !strstr(fx.ans_token.body, "40001"))
        fail_msg("sandbox answer to a wrong token: %s",
                 fx.ans_token.body ? fx.ans_token.body : "");
    fx.ans_partial.status = 200;
    fx.ans_partial.body = sg_strdup(partial);
    fx.ans_partial.body_len = sizeof(partial) - 1;
    return 0;
}

static int group_teardown(void **state)
{
    char *paths[] = {fx.tpl_trigger, fx.tpl_sealed, fx.tpl_empty, fx.work,
                     fx.scratch};

    SG_UNUSED(state);
    sg_engine_free(fx.e);
    sg_events_track_configure(NULL);
    sg_sbx_free(fx.sbx);
    sg_http_response_release(&fx.ans_ok);
    sg_http_response_release(&fx.ans_token);
    sg_http_response_release(&fx.ans_partial);
    sg_job_list_free(fx.jobs_trigger, fx.n_trigger);
    sg_job_list_free(fx.jobs_sealed, fx.n_sealed);
    sg_config_release(&fx.cfg);
    for (size_t i = 0; i < SG_ARRAY_SIZE(paths); i++) {
        sgt_db_remove(paths[i]);
        sg_free(paths[i]);
    }
    rmdir(fx.dir);
    sg_free(fx.dir);
    return 0;
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_build_trigger),
        cmocka_unit_test(test_build_sealed),
        cmocka_unit_test(test_outcome),
        cmocka_unit_test(test_intake_http),
    };

    SG_UNUSED(argc);
    sgt_torture_init(argv);
    sg_log_set_level(SG_LOG_ERR);
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
