/*
 * test_features_events_torture.c - D5 (issue #7) for the events pipeline
 * below the engine: one event normalised and hashed (sg_events_prepare,
 * a mix of accepted and rejected events), a request's events into one
 * shared buffer (sg_events_prepare_buf, as the intake does), a batch body
 * and a 20001 answer's refused positions, and the store side: intake
 * into the store (pending with a trigger job; whole batches sealed at
 * intake; behind pending events, sealed by seal_full), a trigger job
 * sealing its batch, and a batch's outcome recorded.
 *
 * Store operations run on a copy of a template database, as in
 * test_features_torture.c: a failed run must leave the file exactly as
 * it was (each is one store write), and the events invariant must hold
 * after every run (every batched event in a live batch of its size, every
 * batch bound to a job, every pending event covered by a queued
 * events.track job). Swept again with SQLite's allocations failing too
 * ("+sqlite"), and the hashing with OpenSSL's ("+openssl").
 *
 * Label "torture" runs every n; the "_quick" twin in the default suite
 * runs SG_TORTURE_QUICK (see tests/CMakeLists.txt).
 */
#include "testlib.h"
#include "torture.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/json.h"
#include "core/log.h"
#include "features/events/events.h"
#include "features/events/events_store.h"
#include "features/events/ingest.h"
#include "store/store.h"

#include <sqlite3.h>
#include <unistd.h>

#define T0     INT64_C(1790000000000)
#define NOW_S  (T0 / 1000)

/* ---- events ---- */

static const char *const events_json[] = {
    /* every customer field, decimals, contents */
    "{\"event\":\"CompletePayment\",\"event_id\":\"ord-1\","
    "\"event_time\":1789999990,\"secret_extra\":\"x@y.z\","
    "\"user\":{\"email\":[\" A@B.com\",\"c@d.org\"],"
    "\"phone\":\"+1 213 373 4253\",\"external_id\":\" u-77 \","
    "\"ip\":\"1.2.3.4\",\"user_agent\":\"UA/1\",\"ttclid\":\"E.C.P.x\","
    "\"first_name\":\"Ann Marie\",\"last_name\":\"O'Neil\","
    "\"zip_code\":\"90 001\",\"city\":\"San Jose\",\"state\":\"CA\","
    "\"country\":\"US\"},"
    "\"properties\":{\"currency\":\"USD\",\"value\":\"12.50\","
    "\"contents\":[{\"content_id\":\"1\",\"quantity\":2,\"price\":8},"
    "{\"content_id\":\"2\",\"content_name\":\"Mug\",\"price\":\"4.25\"}]},"
    "\"page\":{\"url\":\"https://s/x\",\"referrer\":\"https://r/\"}}",
    /* a pre-hashed email passes through; the id is generated */
    "{\"event\":\"AddToCart\",\"user\":{\"email\":"
    "\"B94D27B9934D3E08A52E52D7DA7DABFAC484EFE37A5380EE9088F7ACE2EFCDE9\"}}",
    /* a custom event from the offline source */
    "{\"event\":\"MyEvent\",\"event_id\":\"c-1\",\"event_source\":"
    "\"offline\",\"user\":{\"phone\":[\"+44 20 7946 0958\"]}}",
    /* rejections: bad phone after a good email, old, bad currency */
    "{\"event\":\"Search\",\"event_id\":\"r-1\",\"user\":{\"email\":"
    "\"a@b.com\",\"phone\":\"12\"}}",
    "{\"event\":\"Search\",\"event_id\":\"r-2\",\"event_time\":1000}",
    "{\"event\":\"Purchase\",\"event_id\":\"r-3\",\"properties\":"
    "{\"currency\":\"usd\",\"value\":1}}",
    "{\"event\":\"Nope\",\"event_id\":\"r-4\"}",
    "[1]",
};

static json_t *events[SG_ARRAY_SIZE(events_json)];

static struct sg_events_cfg ecfg(void)
{
    struct sg_events_cfg c;

    memset(&c, 0, sizeof(c));
    c.source_ids[SG_EVENTS_WEB] = "PIX";
    c.source_ids[SG_EVENTS_OFFLINE] = "OFF";
    c.batch_max = 3;
    c.flush_ms = 1000;
    c.dedup_window_ms = 60000;
    c.max_event_age_s = 7 * 86400;
    c.custom_events = "MyEvent, Other";
    c.attempts_max = 5;
    c.seal_at_intake = true;
    return c;
}

/* A generated event_id is random: left out of the digest. */
static int item_text(struct sg_buf *b, size_t i, int rc,
                     const struct sg_events_item *it, const char *body,
                     size_t len, const struct sg_events_reject *why)
{
    if (rc)
        return sg_buf_printf(b, "%zu %s %s %s %s\n", i, sg_err_name(rc), why->code,
                      why->field, why->msg);
    return sg_buf_printf(b, "%zu ok %d %s %s %d %" PRId64 " %.*s\n", i,
                      it->source, it->event,
                      it->event_id_generated ? "(generated)" : it->event_id,
                      it->event_id_generated, it->event_time, (int)len,
                      it->event_id_generated ? "-" : body);
}

static char *result;

static char *result_digest(void *arg)
{
    SG_UNUSED(arg);
    return sg_strdup(result ? result : "");
}

static void result_reset(void *arg)
{
    SG_UNUSED(arg);
    sg_free(result);
    result = NULL;
}

/* Each event on its own, as the CLI import does. */
static int prepare_run(void *arg, struct sg_err *err)
{
    struct sg_events_cfg c = ecfg();
    struct sg_buf b;
    int rc = 0, trc = 0;

    SG_UNUSED(arg);
    sg_buf_init(&b, 1u << 20);
    for (size_t i = 0; !rc && i < SG_ARRAY_SIZE(events); i++) {
        struct sg_events_item it;
        struct sg_events_reject why;
        int prc;

        memset(&why, 0, sizeof(why));
        prc = sg_events_prepare(&it, events[i], SG_EVENTS_WEB, &c, T0, &why);
        if (prc == SG_ENOMEM) {
            rc = sg_err_set(err, prc, "prepare %zu: out of memory", i);
            break;
        }
        if (!trc)
            trc = item_text(&b, i, prc, &it, it.body, it.body_len, &why);
        if (!prc)
            sg_events_item_release(&it);
    }
    if (!rc && trc)
        rc = sg_err_set(err, SG_ENOMEM, "digest text: out of memory");
    if (rc) {
        sg_buf_release(&b);
        return rc;
    }
    result = sg_buf_detach(&b, NULL);
    return result ? 0 : sg_err_set(err, SG_ENOMEM, "out of memory");
}

/* One request: every event into one buffer on one SHA-256 context. */
static int prepare_buf_run(void *arg, struct sg_err *err)
{
    struct sg_events_cfg c = ecfg();
    struct sg_events_item items[SG_ARRAY_SIZE(events)];
    int prcs[SG_ARRAY_SIZE(events)];
    struct sg_events_reject why[SG_ARRAY_SIZE(events)];
    struct sg_events_sha sha;
    struct sg_buf bodies, b;
    int rc = 0, trc = 0;

    SG_UNUSED(arg);
    sg_buf_init(&bodies, 1u << 20);
    sg_buf_init(&b, 1u << 20);
    if (sg_events_sha_init(&sha) != 0)
        return sg_err_set(err, SG_ENOMEM, "sha: out of memory");
    for (size_t i = 0; i < SG_ARRAY_SIZE(events); i++) {
        memset(&why[i], 0, sizeof(why[i]));
        prcs[i] = sg_events_prepare_buf(&items[i], &bodies, &sha, events[i],
                                        SG_EVENTS_WEB, &c, T0, &why[i]);
        if (prcs[i] == SG_ENOMEM || prcs[i] == SG_ELIMIT) {
            rc = sg_err_set(err, SG_ENOMEM, "prepare %zu: %s", i,
                            sg_err_name(prcs[i]));
            goto out;
        }
    }
    for (size_t i = 0; !trc && i < SG_ARRAY_SIZE(events); i++)
        trc = item_text(&b, i, prcs[i], &items[i],
                        prcs[i] ? "" : bodies.data + items[i].body_off,
                        prcs[i] ? 0 : items[i].body_len, &why[i]);
    if (trc) {
        rc = sg_err_set(err, SG_ENOMEM, "digest text: out of memory");
        goto out;
    }
    result = sg_buf_detach(&b, NULL);
out:
    sg_events_sha_release(&sha);
    sg_buf_release(&bodies);
    sg_buf_release(&b);
    return rc;
}

static void sweep_plain(const char *name, int (*run)(void *, struct sg_err *),
                        unsigned libs)
{
    struct sgt_torture_op op = {.name = name,
                                .run = run,
                                .digest = result_digest,
                                .teardown = result_reset};
    struct sgt_torture_stats st;
    char full[128];

    sgt_torture_sweep(&op, &st);
    if (libs) {
        snprintf(full, sizeof(full), "%s +openssl", name);
        op.name = full;
        op.libs = libs;
        sgt_torture_sweep(&op, &st);
    }
}

static void test_prepare(void **state)
{
    SG_UNUSED(state);
    sweep_plain("events prepare (normalise+hash, each)", prepare_run,
                SGT_LIB_OPENSSL);
}

static void test_prepare_buf(void **state)
{
    SG_UNUSED(state);
    sweep_plain("events prepare_buf (one request)", prepare_buf_run,
                SGT_LIB_OPENSSL);
}

/* A batch body, and the positions a 20001 answer refused. */
static int batch_run(void *arg, struct sg_err *err)
{
    static const char *const bodies[] = {
        "{\"event\":\"Search\",\"event_id\":\"a\"}",
        "{\"event\":\"Purchase\",\"event_id\":\"b\\\"q\"}",
        "{\"event\":\"ViewContent\",\"event_id\":\"c\"}"};
    static const char answer[] =
        "{\"code\":20001,\"message\":\"partial\",\"data\":{"
        "\"failed_events\":[{\"index\":2,\"code\":40002},{\"index\":0}]}}";
    size_t lens[SG_ARRAY_SIZE(bodies)], idx[8], n = 0;
    struct sg_buf b;
    json_t *doc = NULL;
    int rc;

    SG_UNUSED(arg);
    for (size_t i = 0; i < SG_ARRAY_SIZE(bodies); i++)
        lens[i] = strlen(bodies[i]);
    sg_buf_init(&b, 1u << 20);
    rc = sg_events_batch_body(&b, SG_EVENTS_WEB, "PIX", "TEST123", bodies,
                              lens, SG_ARRAY_SIZE(bodies));
    if (rc) {
        sg_buf_release(&b);
        return sg_err_set(err, rc, "batch body: %s", sg_err_name(rc));
    }
    rc = sg_json_parse(&doc, answer, sizeof(answer) - 1,
                       SG_JSON_DEPTH_DEFAULT, NULL, NULL);
    if (!rc)
        rc = sg_events_partial_failures(doc, idx, SG_ARRAY_SIZE(idx), &n);
    json_decref(doc);
    if (!rc)
        rc = sg_buf_printf(&b, "\nfailed %zu:", n);
    for (size_t i = 0; !rc && i < n; i++)
        rc = sg_buf_printf(&b, " %zu", idx[i]);
    if (rc) {
        sg_buf_release(&b);
        return sg_err_set(err, rc, "answer: %s", sg_err_name(rc));
    }
    result = sg_buf_detach(&b, NULL);
    return 0;
}

static void test_batch_body(void **state)
{
    SG_UNUSED(state);
    sweep_plain("events batch body + partial answer", batch_run, 0);
}

/* ---- the store side ---- */

static struct {
    char *dir;
    char *tpl_empty;   /* a tenant */
    char *tpl_pending; /* two pending web events and their trigger */
    char *tpl_sealed;  /* a batch of three sealed at intake, one pending */
    char *work;
    int64_t tenant;
    int64_t sealed_job; /* the job of tpl_sealed's batch */
    int64_t trigger_job; /* tpl_pending's trigger */
} fx;

static struct sg_clock clk;
static const struct sg_events_store_ops *ops;

static struct sg_store *store_open(const char *path)
{
    struct sg_store_cfg cfg;
    struct sg_store *s = NULL;
    struct sg_err err;

    sg_err_init(&err);
    sg_store_cfg_defaults(&cfg);
    cfg.path = path;
    cfg.readers = 1;
    cfg.queue_max = 16;
    sg_clock_init_manual(&clk, T0);
    if (sg_store_open(&s, &cfg, &clk, &err) != 0)
        fail_msg("store open %s: %s", path, err.msg);
    if (!ops)
        ops = sg_events_store_for(sg_store_backend_name(s));
    return s;
}

static int tenant_write(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    return sg_store_tx_tenant_insert(tx, "acme", arg, err);
}

struct ingest {
    struct sg_events_cfg cfg;
    struct sg_events_row rows[12];
    size_t n;
    bool deliver;
};

static void add_row(struct ingest *a, int source, const char *event,
                    const char *id)
{
    static char bodies[12][64];
    char *body = bodies[a->n];

    snprintf(body, sizeof(bodies[0]), "{\"event\":\"%s\",\"event_id\":\"%s\"}",
             event, id);
    a->rows[a->n++] = (struct sg_events_row){
        .tenant_id = fx.tenant,
        .source = source,
        .source_id = source == SG_EVENTS_WEB ? "PIX" : "OFF",
        .event = event,
        .event_id = id,
        .event_time = NOW_S - 10,
        .body = body,
        .body_len = strlen(body)};
}

static int ingest_write(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    struct ingest *a = arg;

    return sg_events_tx_ingest(tx, ops, &a->cfg, a->rows, a->n, a->deliver,
                               err);
}

/* One integer from a database file, on a connection of the test's own. */
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

static void make_template(char **path_out, const char *name, int stage)
{
    struct sg_store *s;
    char *path = sgt_path(fx.dir, name);
    struct sg_err err;

    sg_err_init(&err);
    s = store_open(path);
    assert_int_equal(sg_store_write(s, tenant_write, &fx.tenant, NULL), 0);
    if (stage == 1) {
        struct ingest a = {.cfg = ecfg(), .deliver = true};

        add_row(&a, SG_EVENTS_WEB, "Search", "p-1");
        add_row(&a, SG_EVENTS_WEB, "Purchase", "p-2");
        if (sg_store_write(s, ingest_write, &a, &err) != 0)
            fail_msg("template: %s", err.msg);
    }
    if (stage == 2) {
        struct ingest a = {.cfg = ecfg(), .deliver = true};

        add_row(&a, SG_EVENTS_WEB, "Search", "s-1");
        add_row(&a, SG_EVENTS_WEB, "Purchase", "s-2");
        add_row(&a, SG_EVENTS_WEB, "ViewContent", "s-3");
        add_row(&a, SG_EVENTS_WEB, "AddToCart", "s-4");
        if (sg_store_write(s, ingest_write, &a, &err) != 0)
            fail_msg("template: %s", err.msg);
    }
    sg_store_free(s);
    if (stage == 1)
        fx.trigger_job = q_int(path, "SELECT id FROM jobs WHERE state = 0 "
                                     "AND coalesce_key IS NOT NULL");
    if (stage == 2)
        fx.sealed_job = q_int(path, "SELECT max(job_id) FROM event_batches");
    assert_true(stage == 0 || fx.trigger_job > 0 || fx.sealed_job > 0);
    *path_out = path;
}

/* ---- a store operation on a fresh copy of a template ---- */

/*
 * The events invariant: every event bound to a batch is in an existing
 * one; every unfinished batch holds as many events as it says and is
 * bound to an existing job; every pending event is covered by a queued
 * events.track job of its tenant (so it will be sent).
 */
static int events_whole(bool deliver, char *why)
{
    static const struct {
        const char *what, *sql;
        bool deliver_only;
    } checks[] = {
        {"an event bound to a batch that does not exist",
         "SELECT count(*) FROM events e WHERE e.batch_id IS NOT NULL AND "
         "NOT EXISTS (SELECT 1 FROM event_batches b WHERE b.id = "
         "e.batch_id)",
         false},
        {"an unfinished batch whose size is not its events'",
         "SELECT count(*) FROM event_batches b WHERE b.state = 1 AND b.n != "
         "(SELECT count(*) FROM events e WHERE e.batch_id = b.id)",
         false},
        {"a batch bound to no job",
         "SELECT count(*) FROM event_batches b WHERE NOT EXISTS (SELECT 1 "
         "FROM jobs j WHERE j.id = b.job_id)",
         false},
        {"an unfinished batch whose job is finished (never sent again)",
         "SELECT count(*) FROM event_batches b JOIN jobs j ON j.id = "
         "b.job_id WHERE b.state = 1 AND j.state IN (2, 3)",
         false},
        {"a pending event no queued events.track job will send",
         "SELECT count(*) FROM events e WHERE e.batch_id IS NULL AND "
         "e.state = 0 AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.kind = "
         "'events.track' AND j.state = 0 AND j.tenant_id = e.tenant_id AND "
         "j.coalesce_key IS NOT NULL)",
         true},
    };

    for (size_t i = 0; i < SG_ARRAY_SIZE(checks); i++) {
        long long n;

        if (checks[i].deliver_only && !deliver)
            continue;
        n = q_int(fx.work, checks[i].sql);
        if (n != 0) {
            snprintf(why, SGT_WHY_MAX, "events invariant: %s (%lld)",
                     checks[i].what, n);
            return -1;
        }
    }
    return 0;
}

static int whole_deliver(struct sgt_sop *o, int rc, char *why)
{
    SG_UNUSED(o);
    SG_UNUSED(rc);
    return events_whole(true, why);
}

static int whole_kept(struct sgt_sop *o, int rc, char *why)
{
    SG_UNUSED(o);
    SG_UNUSED(rc);
    return events_whole(false, why);
}

/* Sweep o; its "+sqlite" twin unless sqlite_full_only in a quick run. */
static void sweep_sop(struct sgt_sop *o, const char *name)
{
    o->work = fx.work;
    o->open = store_open;
    if (!o->whole)
        o->whole = whole_kept;
    sgt_sop_sweep(o, name);
}

/* ---- intake ---- */

static int ingest_body(struct sgt_sop *o, struct sg_err *err)
{
    struct ingest *a = o->ctx;

    for (size_t i = 0; i < a->n; i++) {
        a->rows[i].batch_id = 0;
        a->rows[i].id = 0;
        a->rows[i].dup = false;
    }
    return sg_store_write(o->s, ingest_write, a, err);
}

static void ingest_text(struct sgt_sop *o, struct sg_buf *b)
{
    struct ingest *a = o->ctx;

    for (size_t i = 0; i < a->n; i++)
        sg_buf_printf(b, "row %zu id %" PRId64 " dup %d batch %" PRId64 "\n",
                      i, a->rows[i].id, a->rows[i].dup, a->rows[i].batch_id);
}

static void sweep_ingest(const char *name, const char *tpl, struct ingest *a,
                         bool sqlite_full_only)
{
    struct sgt_sop o = {.tpl = tpl,
                        .whole = a->deliver ? whole_deliver : whole_kept,
                        .body = ingest_body,
                        .text = ingest_text,
                        .ctx = a,
                        .sqlite_full_only = sqlite_full_only};

    sweep_sop(&o, name);
}

static void test_ingest_pending(void **state)
{
    struct ingest a = {.cfg = ecfg(), .deliver = true};

    SG_UNUSED(state);
    add_row(&a, SG_EVENTS_WEB, "Search", "i-1");
    add_row(&a, SG_EVENTS_WEB, "Search", "i-1"); /* a duplicate */
    add_row(&a, SG_EVENTS_OFFLINE, "Purchase", "i-2");
    sweep_ingest("events intake: pending + trigger jobs", fx.tpl_empty, &a,
                 false);
}

static void test_ingest_no_deliver(void **state)
{
    struct ingest a = {.cfg = ecfg(), .deliver = false};

    SG_UNUSED(state);
    add_row(&a, SG_EVENTS_WEB, "Search", "n-1");
    add_row(&a, SG_EVENTS_WEB, "Purchase", "n-2");
    sweep_ingest("events intake: no access token (kept)", fx.tpl_empty, &a,
                 true);
}

static void test_ingest_sealed(void **state)
{
    struct ingest a = {.cfg = ecfg(), .deliver = true};

    SG_UNUSED(state);
    /* Two whole web batches (one with a duplicate), one offline left. */
    add_row(&a, SG_EVENTS_WEB, "Search", "w-1");
    add_row(&a, SG_EVENTS_WEB, "Search", "w-2");
    add_row(&a, SG_EVENTS_OFFLINE, "Purchase", "o-1");
    add_row(&a, SG_EVENTS_WEB, "Search", "w-3");
    add_row(&a, SG_EVENTS_WEB, "Search", "w-4");
    add_row(&a, SG_EVENTS_WEB, "Search", "w-4");
    add_row(&a, SG_EVENTS_WEB, "Search", "w-5");
    sweep_ingest("events intake: batches sealed at intake", fx.tpl_empty,
                 &a, false);
}

static void test_ingest_behind(void **state)
{
    struct ingest a = {.cfg = ecfg(), .deliver = true};

    SG_UNUSED(state);
    /* Two are pending already: these go pending, then seal_full. */
    add_row(&a, SG_EVENTS_WEB, "Search", "b-1");
    add_row(&a, SG_EVENTS_WEB, "Search", "b-2");
    add_row(&a, SG_EVENTS_WEB, "Search", "b-3");
    add_row(&a, SG_EVENTS_WEB, "Search", "b-4");
    sweep_ingest("events intake: behind pending, seal_full", fx.tpl_pending,
                 &a, false);
}

/* ---- a trigger job seals its batch; an outcome is recorded ---- */

struct seal_ctx {
    int64_t job_id;
    struct sg_events_batch b;
    size_t remaining;
};

static int seal_write(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    struct seal_ctx *c = arg;
    struct sg_events_cfg cfg = ecfg();
    void *be = sg_store_tx_backend(tx);
    int rc;

    rc = ops->seal(be, c->job_id, fx.tenant, SG_EVENTS_WEB, INT64_MAX,
                   cfg.batch_max, sg_store_tx_now(tx), &c->b, &c->remaining,
                   err);
    if (!rc && c->b.n)
        rc = ops->job_detach(be, c->job_id, err);
    if (!rc && c->remaining)
        rc = sg_events_tx_trigger(tx, ops, &cfg, fx.tenant, SG_EVENTS_WEB,
                                  false, err);
    return rc;
}

static int seal_body(struct sgt_sop *o, struct sg_err *err)
{
    struct seal_ctx *c = o->ctx;

    memset(&c->b, 0, sizeof(c->b));
    c->job_id = fx.trigger_job;
    return sg_store_write(o->s, seal_write, c, err);
}

static void seal_text(struct sgt_sop *o, struct sg_buf *b)
{
    struct seal_ctx *c = o->ctx;

    sg_buf_printf(b, "batch %" PRId64 " n %zu remaining %zu\n", c->b.id,
                  c->b.n, c->remaining);
    for (size_t i = 0; i < c->b.n && c->b.bodies; i++)
        sg_buf_printf(b, "  %.*s\n", (int)c->b.lens[i], c->b.bodies[i]);
}

static void seal_reset(struct sgt_sop *o)
{
    struct seal_ctx *c = o->ctx;

    sg_events_batch_release(&c->b);
}

static void test_seal(void **state)
{
    struct seal_ctx c;
    struct sgt_sop o = {.tpl = fx.tpl_pending,
                        .whole = whole_deliver,
                        .body = seal_body,
                        .text = seal_text,
                        .reset = seal_reset,
                        .ctx = &c};

    SG_UNUSED(state);
    memset(&c, 0, sizeof(c));
    sweep_sop(&o, "events trigger job seals its batch");
}

static int load_read(void *be, void *arg, struct sg_err *err)
{
    struct seal_ctx *c = arg;

    return ops->load(be, c->job_id, &c->b, err);
}

static int load_body(struct sgt_sop *o, struct sg_err *err)
{
    struct seal_ctx *c = o->ctx;

    memset(&c->b, 0, sizeof(c->b));
    c->job_id = fx.sealed_job;
    return sg_store_read(o->s, load_read, c, err);
}

static void load_text(struct sgt_sop *o, struct sg_buf *b)
{
    struct seal_ctx *c = o->ctx;

    sg_buf_printf(b, "batch %" PRId64 " n %zu src %d %s\n%.*s\n", c->b.id,
                  c->b.n, c->b.source, c->b.source_id,
                  (int)c->b.joined_len, c->b.joined ? c->b.joined : "");
}

static void test_load(void **state)
{
    struct seal_ctx c;
    struct sgt_sop o = {.tpl = fx.tpl_sealed,
                        .whole = whole_deliver,
                        .body = load_body,
                        .text = load_text,
                        .reset = seal_reset,
                        .ctx = &c,
                        .sqlite_full_only = true};

    SG_UNUSED(state);
    memset(&c, 0, sizeof(c));
    sweep_sop(&o, "events batch read back (sealed at intake)");
}

struct outcome_ctx {
    int state;
    size_t failed[2];
    size_t n_failed;
};

static int outcome_write(struct sg_store_tx *tx, void *arg,
                         struct sg_err *err)
{
    struct outcome_ctx *c = arg;

    return ops->batch_result(sg_store_tx_backend(tx), fx.sealed_job, c->state,
                             c->failed, c->n_failed, "tiktok 20001: partial",
                             sg_store_tx_now(tx), err);
}

static int outcome_body(struct sgt_sop *o, struct sg_err *err)
{
    return sg_store_write(o->s, outcome_write, o->ctx, err);
}

static void test_outcome(void **state)
{
    struct outcome_ctx c = {.state = SG_EVENT_SENT,
                            .failed = {2, 0},
                            .n_failed = 2};
    struct outcome_ctx dead = {.state = SG_EVENT_FAILED};
    struct sgt_sop o = {.tpl = fx.tpl_sealed,
                        .whole = whole_deliver,
                        .body = outcome_body,
                        .ctx = &c};

    SG_UNUSED(state);
    sweep_sop(&o, "events batch outcome: partly refused");
    o.ctx = &dead;
    o.sqlite_full_only = true;
    sweep_sop(&o, "events batch outcome: dead");
}

/* ---- program ---- */

static int group_setup(void **state)
{
    SG_UNUSED(state);
    for (size_t i = 0; i < SG_ARRAY_SIZE(events_json); i++) {
        events[i] = json_loads(events_json[i], 0, NULL);
        if (!events[i])
            fail_msg("fixture event %zu does not parse", i);
    }
    fx.dir = sgt_tmpdir();
    make_template(&fx.tpl_empty, "empty.db", 0);
    make_template(&fx.tpl_pending, "pending.db", 1);
    make_template(&fx.tpl_sealed, "sealed.db", 2);
    fx.work = sgt_path(fx.dir, "work.db");
    return 0;
}

static int group_teardown(void **state)
{
    char *paths[] = {fx.tpl_empty, fx.tpl_pending, fx.tpl_sealed, fx.work};

    SG_UNUSED(state);
    for (size_t i = 0; i < SG_ARRAY_SIZE(paths); i++) {
        sgt_db_remove(paths[i]);
        sg_free(paths[i]);
    }
    for (size_t i = 0; i < SG_ARRAY_SIZE(events); i++)
        json_decref(events[i]);
    rmdir(fx.dir);
    sg_free(fx.dir);
    return 0;
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prepare),
        cmocka_unit_test(test_prepare_buf),
        cmocka_unit_test(test_batch_body),
        cmocka_unit_test(test_ingest_pending),
        cmocka_unit_test(test_ingest_no_deliver),
        cmocka_unit_test(test_ingest_sealed),
        cmocka_unit_test(test_ingest_behind),
        cmocka_unit_test(test_seal),
        cmocka_unit_test(test_load),
        cmocka_unit_test(test_outcome),
    };

    SG_UNUSED(argc);
    sgt_torture_init(argv);
    sg_log_set_level(SG_LOG_ERR);
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
