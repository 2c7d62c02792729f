/*
 * test_features_events_store.c - the events storage ops on a real SQLite
 * store: dedup inside one write and across writes (also across the
 * chunks of a multi-row insert), the dedup window on a
 * manual clock, sealing (bounded by batch_max and upto, the same batch on
 * a retry of the same job), sealing full batches at intake (jobs of their
 * own, read back on a reader, the idle trigger closed), and recording a
 * partial outcome (repeated positions) and a bulk sent one; a batch
 * sealed at intake keeps its events' JSON in one value (rows without
 * bodies), cleared once all are sent; a whole batch refused, the
 * trigger's coalesce key dropped and the pending sources listed; stores
 * of older releases upgrade (0009, 0010).
 *
 * test_features_events_store_pg.c runs the same cases (but the SQLite
 * file's own: secure_delete and the upgrades of old files) on
 * PostgreSQL (SG_TEST_EVENTS_PG).
 */
#include "core/sg.h"

#include "core/alloc.h"
#include "core/clock.h"
#include "features/events/events.h"
#include "features/events/events_store.h"
#include "features/events/ingest.h"
#include "store/sqlite/sqlutil.h"
#include "store/store.h"
#include "testlib.h"

#include <sqlite3.h>

#ifdef SG_TEST_EVENTS_PG
#include "pgserver.h"
#include "store/postgres/pgutil.h"

static struct sgt_pg *g_pg;
#endif

static struct sg_err E;

struct fx {
    char *dir;
    char dsn[512]; /* PostgreSQL: the test's own schema */
    struct sg_clock clock;
    struct sg_store *s;
    const struct sg_events_store_ops *ops;
    struct sg_events_cfg cfg;
    int64_t tenant;
};

static int setup(void **state)
{
    struct fx *fx = sg_calloc(1, sizeof(*fx));
    struct sg_store_cfg sc;
    char *path;

    fx->dir = sgt_tmpdir();
    path = sgt_path(fx->dir, "t.db");
    sg_clock_init_manual(&fx->clock, INT64_C(1790000000000));
    sg_store_cfg_defaults(&sc);
    sc.path = path;
#ifdef SG_TEST_EVENTS_PG
    if (sgt_pg_createdb(g_pg, fx->dsn, sizeof(fx->dsn)) != 0)
        return -1;
    sc.backend = "postgres";
    sc.dsn = fx->dsn;
#endif
    if (sg_store_open(&fx->s, &sc, &fx->clock, &E) != 0)
        return -1;
    sg_free(path);
    fx->ops = sg_events_store_for(sg_store_backend_name(fx->s));
    fx->cfg.source_ids[SG_EVENTS_WEB] = "PIX";
    fx->cfg.batch_max = 3;
    fx->cfg.flush_ms = 1000;
    fx->cfg.dedup_window_ms = 60000;
    fx->cfg.attempts_max = 5;
    fx->tenant = 1;
    *state = fx;
    return fx->ops ? 0 : -1;
}

static int teardown(void **state)
{
    struct fx *fx = *state;

    sg_store_free(fx->s);
    sg_free(fx->dir);
    sg_free(fx);
    return 0;
}

struct count_q {
    const char *sql;
    int64_t n;
};

#ifdef SG_TEST_EVENTS_PG
static int r_count(void *be, void *arg, struct sg_err *err)
{
    struct count_q *q = arg;
    PGresult *r = NULL;
    int rc = sg_pg_exec(be, q->sql, NULL, &r, NULL, "count", err);

    if (rc)
        return rc;
    q->n = PQntuples(r) == 1 ? sg_pg_i64(r, 0, 0) : -1;
    PQclear(r);
    return 0;
}
#else
static int r_count(void *be, void *arg, struct sg_err *err)
{
    struct count_q *q = arg;
    sqlite3_stmt *st = NULL;
    int rc = sg_sql_prep(be, q->sql, &st, err);

    if (rc)
        return rc;
    q->n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sg_sql_end(be, st);
    return 0;
}
#endif

/* The one integer a SELECT gives, on a reader connection. */
static int64_t db_count(struct fx *fx, const char *sql)
{
    struct count_q q = {.sql = sql, .n = -1};

    assert_int_equal(sg_store_read(fx->s, r_count, &q, &E), 0);
    return q.n;
}

struct ins {
    struct fx *fx;
    struct sg_events_row rows[8];
    size_t n;
};

static int w_ingest(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    struct ins *a = arg;

    return sg_events_tx_ingest(tx, a->fx->ops, &a->fx->cfg, a->rows, a->n,
                               true, err);
}

static void add(struct ins *a, const char *event, const char *id)
{
    SG_ASSERT(a->fx);
    a->rows[a->n++] = (struct sg_events_row){
        .tenant_id = a->fx->tenant, .source = SG_EVENTS_WEB,
        .source_id = "PIX", .event = event, .event_id = id,
        .event_time = 1, .body = "{\"e\":1}", .body_len = 7};
}

static void ingest(struct fx *fx, struct ins *a)
{
    a->fx = fx;
    assert_int_equal(sg_store_write(fx->s, w_ingest, a, &E), 0);
}

static void test_dedup(void **state)
{
    struct fx *fx = *state;
    struct ins a = {.fx = fx}, b = {.fx = fx}, c = {.fx = fx};

    add(&a, "Purchase", "d1");
    add(&a, "Purchase", "d1"); /* same request */
    add(&a, "Search", "d1");   /* another event name: not a duplicate */
    ingest(fx, &a);
    assert_false(a.rows[0].dup);
    assert_true(a.rows[1].dup);
    assert_false(a.rows[2].dup);
    add(&b, "Purchase", "d1"); /* a later request */
    ingest(fx, &b);
    assert_true(b.rows[0].dup);
    /* Past the window a still-unsent event stays a duplicate. */
    sg_clock_advance(&fx->clock, 120000);
    add(&c, "Purchase", "d1");
    ingest(fx, &c);
    assert_true(c.rows[0].dup);
}

struct big {
    struct fx *fx;
    struct sg_events_row rows[150];
    char ids[150][24];
    size_t n;
};

static int w_big(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    struct big *a = arg;

    return a->fx->ops->insert(sg_store_tx_backend(tx), a->rows, a->n,
                              sg_store_tx_now(tx), a->fx->cfg.dedup_window_ms,
                              err);
}

/*
 * One write of 150 rows goes in as statements of 64, 64, 16, 4, 1 and 1
 * rows: with no key hit every row gets the next id in order; a second
 * write whose repeats sit in several chunks (a key stored before, a key
 * twice in one chunk, a key in two chunks) marks exactly those, and the
 * new rows still get increasing ids in order.
 */
static void test_insert_chunks(void **state)
{
    struct fx *fx = *state;
    struct big *a = sg_calloc(1, sizeof(*a));
    int64_t first, last = 0;
    size_t i;

    a->fx = fx;
    a->n = 150;
    for (i = 0; i < a->n; i++) {
        snprintf(a->ids[i], sizeof(a->ids[i]), "c%zu", i);
        a->rows[i] = (struct sg_events_row){
            .tenant_id = fx->tenant, .source = SG_EVENTS_WEB,
            .source_id = "PIX", .event = "Purchase", .event_id = a->ids[i],
            .event_time = 1, .body = "{}", .body_len = 2};
    }
    assert_int_equal(sg_store_write(fx->s, w_big, a, &E), 0);
    first = a->rows[0].id;
    for (i = 0; i < a->n; i++) {
        assert_false(a->rows[i].dup);
        assert_int_equal(a->rows[i].id, first + (int64_t)i);
    }
    /* Second write: ids n0..n149, with repeats placed across chunks. */
    for (i = 0; i < a->n; i++)
        snprintf(a->ids[i], sizeof(a->ids[i]), "n%zu", i);
    snprintf(a->ids[3], sizeof(a->ids[3]), "c7");     /* stored before */
    snprintf(a->ids[10], sizeof(a->ids[10]), "n5");   /* same chunk */
    snprintf(a->ids[70], sizeof(a->ids[70]), "n20");  /* an earlier chunk */
    snprintf(a->ids[140], sizeof(a->ids[140]), "n140");
    snprintf(a->ids[148], sizeof(a->ids[148]), "n140"); /* the 1-row chunks */
    snprintf(a->ids[149], sizeof(a->ids[149]), "c149"); /* stored before */
    for (i = 0; i < a->n; i++)
        a->rows[i].dup = false;
    assert_int_equal(sg_store_write(fx->s, w_big, a, &E), 0);
    for (i = 0; i < a->n; i++) {
        bool want_dup = i == 3 || i == 10 || i == 70 || i == 148 || i == 149;

        if (want_dup) {
            assert_true(a->rows[i].dup);
            continue;
        }
        assert_false(a->rows[i].dup);
        assert_true(a->rows[i].id > last);
        last = a->rows[i].id;
    }
    assert_int_equal(db_count(fx, "SELECT COUNT(*) FROM events"), 150 + 145);
    assert_int_equal(db_count(fx, "SELECT COUNT(*) FROM events WHERE "
                                  "event_id = 'n140'"),
                     1);
    sg_free(a);
}

struct seal {
    struct fx *fx;
    int64_t job_id, upto;
    struct sg_events_batch b;
    size_t remaining;
};

static int w_seal(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    struct seal *a = arg;

    return a->fx->ops->seal(sg_store_tx_backend(tx), a->job_id,
                            a->fx->tenant, SG_EVENTS_WEB, a->upto,
                            a->fx->cfg.batch_max, sg_store_tx_now(tx), &a->b,
                            &a->remaining, err);
}

struct result {
    struct fx *fx;
    int64_t job_id;
    size_t failed[1];
};

static int w_result(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    struct result *a = arg;

    return a->fx->ops->batch_result(sg_store_tx_backend(tx), a->job_id,
                                    SG_EVENT_SENT, a->failed, 1, "nope",
                                    sg_store_tx_now(tx), err);
}

struct counts {
    struct fx *fx;
    struct sg_events_counts c;
};

static int r_counts(void *be, void *arg, struct sg_err *err)
{
    struct counts *a = arg;

    return a->fx->ops->counts(be, a->fx->tenant, &a->c, err);
}

static void test_seal_and_window(void **state)
{
    struct fx *fx = *state;
    struct ins a = {.fx = fx}, d = {.fx = fx};
    struct seal s1 = {0}, s1again = {0}, s2 = {0}, s3 = {0};
    struct result r = {0};
    struct counts c = {0};

    add(&a, "Purchase", "e1");
    add(&a, "Purchase", "e2");
    add(&a, "Purchase", "e3");
    add(&a, "Purchase", "e4");
    add(&a, "Purchase", "e5");
    ingest(fx, &a);
    s1.fx = fx;
    s1.job_id = 1001;
    s1.upto = a.rows[3].id; /* e5 is beyond this job's range */
    assert_int_equal(sg_store_write(fx->s, w_seal, &s1, &E), 0);
    assert_int_equal(s1.b.n, 3); /* batch_max */
    assert_string_equal(s1.b.source_id, "PIX");
    assert_int_equal(s1.remaining, 2);
    /* A retry of the same job: the same batch, not new events. */
    s1again.fx = fx;
    s1again.job_id = 1001;
    s1again.upto = INT64_MAX;
    assert_int_equal(sg_store_write(fx->s, w_seal, &s1again, &E), 0);
    assert_int_equal(s1again.b.id, s1.b.id);
    assert_int_equal(s1again.b.n, 3);
    /* Another job with upto below e5 takes e4 only. */
    s2.fx = fx;
    s2.job_id = 1002;
    s2.upto = a.rows[3].id;
    assert_int_equal(sg_store_write(fx->s, w_seal, &s2, &E), 0);
    assert_int_equal(s2.b.n, 1);
    s3.fx = fx;
    s3.job_id = 1003;
    s3.upto = INT64_MAX;
    assert_int_equal(sg_store_write(fx->s, w_seal, &s3, &E), 0);
    assert_int_equal(s3.b.n, 1);
    assert_int_equal(s3.remaining, 0);
    /* TikTok refused position 1 of the first batch. */
    r.fx = fx;
    r.job_id = 1001;
    r.failed[0] = 1;
    assert_int_equal(sg_store_write(fx->s, w_result, &r, &E), 0);
    c.fx = fx;
    assert_int_equal(sg_store_read(fx->s, r_counts, &c, &E), 0);
    assert_int_equal(c.c.by_state[SG_EVENT_SENT], 2);
    assert_int_equal(c.c.by_state[SG_EVENT_FAILED], 1);
    assert_int_equal(c.c.by_state[SG_EVENT_BATCHED], 2);
    /* Sent long enough ago: the same key is accepted again. */
    sg_clock_advance(&fx->clock, 120000);
    add(&d, "Purchase", "e1");
    add(&d, "Purchase", "e4"); /* batched, never confirmed: duplicate */
    ingest(fx, &d);
    assert_false(d.rows[0].dup);
    assert_true(d.rows[1].dup);
    sg_events_batch_release(&s1.b);
    sg_events_batch_release(&s1again.b);
    sg_events_batch_release(&s2.b);
    sg_events_batch_release(&s3.b);
}

struct load {
    struct fx *fx;
    int64_t job_id;
    struct sg_events_batch b;
};

static int r_load(void *be, void *arg, struct sg_err *err)
{
    struct load *a = arg;

    return a->fx->ops->load(be, a->job_id, &a->b, err);
}

/* The batch of job_id read on a reader connection; its size, or -1. */
static int loaded(struct fx *fx, int64_t job_id, char first_body[32])
{
    struct load l = {.fx = fx, .job_id = job_id};
    int rc = sg_store_read(fx->s, r_load, &l, &E), n;

    if (rc == SG_ENOTFOUND)
        return -1;
    assert_int_equal(rc, 0);
    n = (int)l.b.n;
    if (first_body && n > 0 && l.b.joined) {
        /* Sealed at intake: the events' JSON joined by commas. */
        const char *end = strstr(l.b.joined, "},{");

        snprintf(first_body, 32, "%.*s",
                 end ? (int)(end - l.b.joined + 1) : (int)l.b.joined_len,
                 l.b.joined);
    } else if (first_body && n > 0) {
        snprintf(first_body, 32, "%s", l.b.bodies[0]);
    }
    sg_events_batch_release(&l.b);
    return n;
}

static int job_state(struct fx *fx, int64_t id, char *kind_out,
                     bool *coalesced_out)
{
    struct sg_job j;
    int st;

    memset(&j, 0, sizeof(j));
    assert_int_equal(sg_store_job_get(fx->s, fx->tenant, id, &j, &E), 0);
    st = j.state;
    if (kind_out)
        snprintf(kind_out, 32, "%s", j.kind);
    if (coalesced_out)
        *coalesced_out = j.coalesce_key != NULL;
    sg_job_free(&j);
    return st;
}

static void add_body(struct ins *a, const char *id, const char *body)
{
    add(a, "Purchase", id);
    a->rows[a->n - 1].body = body;
    a->rows[a->n - 1].body_len = strlen(body);
}

static void test_seal_at_intake(void **state)
{
    struct fx *fx = *state;
    struct ins a = {.fx = fx}, b = {.fx = fx}, c = {.fx = fx};
    char first[32] = "", kind[32];
    bool keyed = true;

    fx->cfg.seal_at_intake = true;
    /* 7 events, batch_max 3: two full batches, one event left over. */
    add_body(&a, "s1", "{\"n\":1}");
    add_body(&a, "s2", "{\"n\":2}");
    add_body(&a, "s3", "{\"n\":3}");
    add_body(&a, "s4", "{\"n\":4}");
    add_body(&a, "s5", "{\"n\":5}");
    add_body(&a, "s6", "{\"n\":6}");
    add_body(&a, "s7", "{\"n\":7}");
    ingest(fx, &a);
    /* Jobs 1 and 2 carry the sealed batches, oldest first; a reader
     * sees them without any write. */
    assert_int_equal(loaded(fx, 1, first), 3);
    assert_string_equal(first, "{\"n\":1}");
    assert_int_equal(loaded(fx, 2, first), 3);
    assert_string_equal(first, "{\"n\":4}");
    assert_int_equal(job_state(fx, 1, kind, &keyed), SG_JOB_QUEUED);
    assert_string_equal(kind, "events.track");
    assert_false(keyed); /* nothing can fold into a sealed batch's job */
    /* Job 3 is the coalescing trigger of the one left (no batch yet). */
    assert_int_equal(loaded(fx, 3, NULL), -1);
    assert_int_equal(job_state(fx, 3, NULL, &keyed), SG_JOB_QUEUED);
    assert_true(keyed);
    /* Two more fill a batch with the leftover: sealed into job 4, and
     * the trigger, now with nothing to send, is closed. */
    add_body(&b, "s8", "{\"n\":8}");
    add_body(&b, "s9", "{\"n\":9}");
    ingest(fx, &b);
    assert_int_equal(loaded(fx, 4, first), 3);
    assert_string_equal(first, "{\"n\":7}");
    assert_int_equal(job_state(fx, 3, NULL, NULL), SG_JOB_DONE);
    /* Duplicates seal nothing and make no job. */
    add_body(&c, "s1", "{\"n\":1}");
    ingest(fx, &c);
    assert_true(c.rows[0].dup);
    assert_int_equal(loaded(fx, 5, NULL), -1);
}

static int w_result_many(struct sg_store_tx *tx, void *arg,
                         struct sg_err *err)
{
    struct result *a = arg;
    /* Repeated and out-of-range positions are tolerated. */
    static const size_t failed[] = {0, 0, 2, 9};

    return a->fx->ops->batch_result(sg_store_tx_backend(tx), a->job_id,
                                    SG_EVENT_SENT, failed, 4, "bad",
                                    sg_store_tx_now(tx), err);
}

static void test_result_bulk(void **state)
{
    struct fx *fx = *state;
    struct ins a = {.fx = fx};
    struct result r = {.fx = fx, .job_id = 1};
    struct counts c = {.fx = fx};

    fx->cfg.seal_at_intake = true;
    add_body(&a, "r1", "{\"n\":1}");
    add_body(&a, "r2", "{\"n\":2}");
    add_body(&a, "r3", "{\"n\":3}");
    ingest(fx, &a);
    assert_int_equal(loaded(fx, 1, NULL), 3);
    assert_int_equal(sg_store_write(fx->s, w_result_many, &r, &E), 0);
    assert_int_equal(sg_store_read(fx->s, r_counts, &c, &E), 0);
    assert_int_equal(c.c.by_state[SG_EVENT_SENT], 1);
    assert_int_equal(c.c.by_state[SG_EVENT_FAILED], 2);
    assert_int_equal(c.c.by_state[SG_EVENT_BATCHED], 0);
    /*
     * The batch was sealed at intake: its rows never held a body, and it
     * keeps the joined JSON because some of its events were refused.
     */
    assert_int_equal(loaded(fx, 1, NULL), 3);
    assert_int_equal(db_count(fx, "SELECT COUNT(*) FROM events WHERE "
                                  "body IS NOT NULL"),
                     0);
    assert_int_equal(db_count(fx, "SELECT COUNT(*) FROM event_batches "
                                  "WHERE body IS NOT NULL"),
                     1);
}

static int w_result_all(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    struct result *a = arg;

    return a->fx->ops->batch_result(sg_store_tx_backend(tx), a->job_id,
                                    SG_EVENT_SENT, NULL, 0, NULL,
                                    sg_store_tx_now(tx), err);
}

static void test_sealed_sent_clears(void **state)
{
    struct fx *fx = *state;
    struct ins a = {.fx = fx}, b = {.fx = fx};
    struct result r = {.fx = fx, .job_id = 1};
    struct counts c = {.fx = fx};
    char first[32] = "";

    fx->cfg.seal_at_intake = true;
    /* One duplicate inside the request: the batch holds two events. */
    add_body(&a, "c1", "{\"n\":1}");
    add_body(&a, "c1", "{\"n\":9}");
    add_body(&a, "c2", "{\"n\":2}");
    ingest(fx, &a);
    assert_false(a.rows[0].dup);
    assert_true(a.rows[1].dup);
    assert_false(a.rows[2].dup);
    assert_int_equal(loaded(fx, 1, first), 2);
    assert_string_equal(first, "{\"n\":1}");
    assert_int_equal(sg_store_write(fx->s, w_result_all, &r, &E), 0);
    assert_int_equal(sg_store_read(fx->s, r_counts, &c, &E), 0);
    assert_int_equal(c.c.by_state[SG_EVENT_SENT], 2);
    assert_int_equal(c.c.by_state[SG_EVENT_BATCHED], 0);
    assert_int_equal(db_count(fx, "SELECT COUNT(*) FROM event_batches "
                                  "WHERE body IS NOT NULL"),
                     0);
    /* The send wrote the batch row only: its events stay BATCHED. */
    assert_int_equal(db_count(fx, "SELECT COUNT(*) FROM events WHERE "
                                  "state = 1"),
                     2);
    /* Still a duplicate after the send, inside the window. */
    add_body(&b, "c2", "{\"n\":2}");
    ingest(fx, &b);
    assert_true(b.rows[0].dup);
    /* All duplicates: no job, no batch. */
    assert_int_equal(loaded(fx, 2, NULL), -1);
    assert_int_equal(db_count(fx, "SELECT COUNT(*) FROM event_batches"), 1);
}

/* The writer connection's PRAGMA secure_delete (0, 1 or 2). */
static int w_secure_delete(struct sg_store_tx *tx, void *arg,
                           struct sg_err *err)
{
    int *out = arg;
    sqlite3_stmt *st = NULL;
    int rc = sg_sql_prep(sg_store_tx_backend(tx), "PRAGMA secure_delete",
                         &st, err);

    if (rc)
        return rc;
    *out = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
    sg_sql_end(sg_store_tx_backend(tx), st);
    return 0;
}

/*
 * Marking a batch sent clears its joined JSON with secure_delete FAST for
 * that one statement only: the connection's own mode is back afterwards.
 */
static void test_result_keeps_secure_delete(void **state)
{
    struct fx *fx = *state;
    struct ins a = {.fx = fx};
    struct result r = {.fx = fx, .job_id = 1};
    int before = -1, after = -1;

    fx->cfg.seal_at_intake = true;
    add_body(&a, "s1", "{\"n\":1}");
    add_body(&a, "s2", "{\"n\":2}");
    add_body(&a, "s3", "{\"n\":3}");
    ingest(fx, &a);
    assert_int_equal(sg_store_write(fx->s, w_secure_delete, &before, &E), 0);
    assert_int_equal(sg_store_write(fx->s, w_result_all, &r, &E), 0);
    assert_int_equal(sg_store_write(fx->s, w_secure_delete, &after, &E), 0);
    assert_int_equal(before, after);
    assert_int_not_equal(after, 2);
    assert_int_equal(db_count(fx, "SELECT COUNT(*) FROM event_batches "
                                  "WHERE body IS NOT NULL"),
                     0);
}

/*
 * The dedup key with the insert-or-ignore path, for rows sealed at intake
 * (whole batches): a duplicate while unsent, even when received longer
 * ago than the window; once sent, a duplicate until it was received more
 * than the window ago, also after the store is closed and opened again;
 * then accepted again (the same row, pending once more).
 */
static void test_window_and_reopen_sealed(void **state)
{
    struct fx *fx = *state;
    struct ins a = {.fx = fx}, b = {.fx = fx}, c = {.fx = fx},
               d = {.fx = fx};
    struct result r = {.fx = fx, .job_id = 1};
    struct sg_store_cfg sc;
    char *path = sgt_path(fx->dir, "t.db");
    int64_t first_id;

    fx->cfg.seal_at_intake = true;
    add_body(&a, "w1", "{\"n\":1}");
    add_body(&a, "w2", "{\"n\":2}");
    add_body(&a, "w3", "{\"n\":3}");
    ingest(fx, &a);
    first_id = a.rows[0].id;
    assert_int_equal(loaded(fx, 1, NULL), 3);
    /* Unsent: a duplicate, even past the window. */
    sg_clock_advance(&fx->clock, 120000);
    add_body(&b, "w1", "{\"n\":1}");
    ingest(fx, &b);
    assert_true(b.rows[0].dup);
    /* Sent, received 120 s ago (window 60 s): no longer a duplicate,
     * but the restart comes first. */
    sg_clock_advance(&fx->clock, -90000); /* received 30 s ago */
    assert_int_equal(sg_store_write(fx->s, w_result_all, &r, &E), 0);
    sg_store_free(fx->s);
    sg_store_cfg_defaults(&sc);
    sc.path = path;
#ifdef SG_TEST_EVENTS_PG
    sc.backend = "postgres";
    sc.dsn = fx->dsn;
#endif
    assert_int_equal(sg_store_open(&fx->s, &sc, &fx->clock, &E), 0);
    add_body(&c, "w1", "{\"n\":1}");
    add_body(&c, "w2", "{\"n\":2}");
    ingest(fx, &c);
    assert_true(c.rows[0].dup);
    assert_true(c.rows[1].dup);
    /* Received 61 s ago and sent: accepted again, in place. */
    sg_clock_advance(&fx->clock, 31000);
    add_body(&d, "w1", "{\"n\":1}");
    ingest(fx, &d);
    assert_false(d.rows[0].dup);
    assert_int_equal(d.rows[0].id, first_id);
    assert_int_equal(db_count(fx, "SELECT COUNT(*) FROM events WHERE "
                                  "event_id = 'w1'"),
                     1);
    assert_int_equal(db_count(fx, "SELECT state FROM events WHERE "
                                  "event_id = 'w1'"),
                     SG_EVENT_PENDING);
    sg_free(path);
}

struct prune {
    struct fx *fx;
    size_t n;
};

static int w_prune(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    struct prune *a = arg;

    return a->fx->ops->prune(sg_store_tx_backend(tx),
                             sg_store_tx_now(tx) - a->fx->cfg.dedup_window_ms,
                             1000, &a->n, err);
}

struct misc {
    struct fx *fx;
    int64_t job_id;
    int64_t tenants[4];
    int sources[4];
    size_t n;
};

static int w_detach(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    struct misc *a = arg;

    return a->fx->ops->job_detach(sg_store_tx_backend(tx), a->job_id, err);
}

static int w_sources(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    struct misc *a = arg;

    return a->fx->ops->pending_sources(sg_store_tx_backend(tx), a->tenants,
                                       a->sources, 4, &a->n, err);
}

static int w_failed(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    struct misc *a = arg;

    return a->fx->ops->batch_result(sg_store_tx_backend(tx), a->job_id,
                                    SG_EVENT_FAILED, NULL, 0, "boom",
                                    sg_store_tx_now(tx), err);
}

/*
 * The trigger's job loses its coalesce key once it carries a batch; the
 * sources with pending events are listed until sealed; a whole batch
 * refused marks every event FAILED with the error, keeping their bodies;
 * a failed event is a duplicate inside the window and is accepted again
 * (reused) past it.
 */
static void test_failed_detach_sources(void **state)
{
    struct fx *fx = *state;
    struct ins a = {.fx = fx}, b = {.fx = fx}, c = {.fx = fx};
    struct misc m = {.fx = fx, .job_id = 1};
    struct seal s = {.fx = fx, .job_id = 1, .upto = INT64_MAX};
    struct counts cn = {.fx = fx};
    bool keyed = false;
    int64_t first_id;

    add(&a, "Purchase", "f1");
    add(&a, "Purchase", "f2");
    ingest(fx, &a);
    first_id = a.rows[0].id;
    assert_int_equal(sg_store_write(fx->s, w_sources, &m, &E), 0);
    assert_int_equal(m.n, 1);
    assert_int_equal(m.tenants[0], fx->tenant);
    assert_int_equal(m.sources[0], SG_EVENTS_WEB);
    assert_int_equal(job_state(fx, 1, NULL, &keyed), SG_JOB_QUEUED);
    assert_true(keyed);
    assert_int_equal(sg_store_write(fx->s, w_detach, &m, &E), 0);
    assert_int_equal(job_state(fx, 1, NULL, &keyed), SG_JOB_QUEUED);
    assert_false(keyed);
    assert_int_equal(sg_store_write(fx->s, w_seal, &s, &E), 0);
    assert_int_equal(s.b.n, 2);
    assert_int_equal(s.remaining, 0);
    sg_events_batch_release(&s.b);
    assert_int_equal(sg_store_write(fx->s, w_sources, &m, &E), 0);
    assert_int_equal(m.n, 0);
    assert_int_equal(sg_store_write(fx->s, w_failed, &m, &E), 0);
    assert_int_equal(sg_store_read(fx->s, r_counts, &cn, &E), 0);
    assert_int_equal(cn.c.by_state[SG_EVENT_FAILED], 2);
    assert_int_equal(cn.c.by_state[SG_EVENT_BATCHED], 0);
    assert_int_equal(cn.c.batches, 1);
    assert_int_equal(db_count(fx, "SELECT COUNT(*) FROM events WHERE "
                                  "error = 'boom' AND body IS NOT NULL"),
                     2);
    assert_int_equal(db_count(fx, "SELECT failed FROM event_batches"), 2);
    assert_int_equal(db_count(fx, "SELECT state FROM event_batches"),
                     SG_EVENT_FAILED);
    /* Failed is finished: a duplicate in the window, reused after it. */
    add(&b, "Purchase", "f1");
    ingest(fx, &b);
    assert_true(b.rows[0].dup);
    sg_clock_advance(&fx->clock, 61000);
    add(&c, "Purchase", "f1");
    ingest(fx, &c);
    assert_false(c.rows[0].dup);
    assert_int_equal(c.rows[0].id, first_id);
    assert_int_equal(db_count(fx, "SELECT COUNT(*) FROM events WHERE "
                                  "state = 0 AND error IS NULL"),
                     1);
}

/*
 * Events of a sent batch sealed at intake stay BATCHED in their rows;
 * prune still takes them once out of the window, and only then.
 */
static void test_prune_sealed_sent(void **state)
{
    struct fx *fx = *state;
    struct ins a = {.fx = fx}, b = {.fx = fx};
    struct result r = {.fx = fx, .job_id = 1};
    struct prune p = {.fx = fx};

    fx->cfg.seal_at_intake = true;
    add_body(&a, "p1", "{\"n\":1}");
    add_body(&a, "p2", "{\"n\":2}");
    add_body(&a, "p3", "{\"n\":3}");
    ingest(fx, &a);
    assert_int_equal(loaded(fx, 1, NULL), 3);
    /* Out of the window but not sent: kept. */
    sg_clock_advance(&fx->clock, 61000);
    assert_int_equal(sg_store_write(fx->s, w_prune, &p, &E), 0);
    assert_int_equal(p.n, 0);
    /* A second request, sent never: its events stay too. */
    add_body(&b, "q1", "{\"n\":1}");
    ingest(fx, &b);
    assert_int_equal(sg_store_write(fx->s, w_result_all, &r, &E), 0);
    assert_int_equal(db_count(fx, "SELECT COUNT(*) FROM events WHERE "
                                  "state = 1"),
                     3);
    assert_int_equal(sg_store_write(fx->s, w_prune, &p, &E), 0);
    assert_int_equal(p.n, 3);
    assert_int_equal(db_count(fx, "SELECT COUNT(*) FROM events"), 1);
    assert_int_equal(db_count(fx, "SELECT COUNT(*) FROM events WHERE "
                                  "event_id = 'q1'"),
                     1);
}

/*
 * A store made by an older release (migrations up to 0009, events of
 * a sent batch marked sent row by row, one event still pending) upgrades
 * through 0010 (and 0012) in place: the sent batch's events are pruned by
 * their batch
 * once out of the window, the pending event stays, and the index 0010
 * drops is gone.
 */
static void test_upgrade_from_0009(void **state)
{
    struct fx *fx = *state;
    struct prune p = {.fx = fx};
    struct sg_store_cfg sc;
    sqlite3 *db = NULL;
    char *dir = sgt_tmpdir(), *path = sgt_path(dir, "old.db");
    char sql[400];
    int64_t old = INT64_C(1790000000000) - 120000;

    db = sgt_sqlite_at_migration(path, 9);
    snprintf(sql, sizeof(sql),
             "INSERT INTO event_batches (id, tenant_id, source, source_id, "
             "job_id, n, state, created_at) VALUES (1, 1, 0, 'PIX', 1, 2, 2, "
             "%" PRId64 ")", old);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    snprintf(sql, sizeof(sql),
             "INSERT INTO events (tenant_id, source, source_id, event, "
             "event_id, event_time, received_at, batch_id, state) VALUES "
             "(1, 0, 'PIX', 'Purchase', 'o1', 1, %" PRId64 ", 1, 2), "
             "(1, 0, 'PIX', 'Purchase', 'o2', 1, %" PRId64 ", 1, 2), "
             "(1, 0, 'PIX', 'Purchase', 'o3', 1, %" PRId64 ", NULL, 0)",
             old, old, old);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);

    sg_store_free(fx->s);
    sg_store_cfg_defaults(&sc);
    sc.path = path;
    assert_int_equal(sg_store_open(&fx->s, &sc, &fx->clock, &E), 0);
    /* Through 0012 at least (later releases add their own). */
    assert_true(db_count(fx, "SELECT MAX(version) FROM "
                             "schema_migrations") >= 12);
    assert_int_equal(db_count(fx, "SELECT COUNT(*) FROM sqlite_master "
                                  "WHERE name = 'events_received'"),
                     0);
    assert_int_equal(sg_store_write(fx->s, w_prune, &p, &E), 0);
    assert_int_equal(p.n, 2);
    assert_int_equal(db_count(fx, "SELECT COUNT(*) FROM events"), 1);
    assert_int_equal(db_count(fx, "SELECT COUNT(*) FROM events WHERE "
                                  "event_id = 'o3' AND state = 0"),
                     1);
    assert_int_equal(db_count(fx, "SELECT pruned FROM event_batches WHERE "
                                  "id = 1"),
                     1);
    sg_free(path);
    sg_free(dir);
}

/*
 * A store made by the previous release (migrations up to 0010: a batch
 * sealed at intake with its joined JSON, its two events without bodies,
 * one event pending with its body) upgrades to 0012, whose rebuilt
 * events table leads its unique key with event_id: every row keeps its
 * id, state, batch and body, the old keys still deduplicate (also a
 * repeat inside one write), a new key is accepted after the old ids,
 * and the partial indexes are back.
 */
static void test_upgrade_from_0010(void **state)
{
    struct fx *fx = *state;
    struct ins a = {.fx = fx};
    struct sg_store_cfg sc;
    sqlite3 *db = NULL;
    char *dir = sgt_tmpdir(), *path = sgt_path(dir, "old.db");
    char sql[600];
    int64_t at = INT64_C(1790000000000) - 1000;

    db = sgt_sqlite_at_migration(path, 10);
    snprintf(sql, sizeof(sql),
             "INSERT INTO event_batches (id, tenant_id, source, source_id, "
             "job_id, n, state, created_at, body) VALUES (1, 1, 0, 'PIX', 7, "
             "2, 1, %" PRId64 ", '{\"n\":1},{\"n\":2}')", at);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    snprintf(sql, sizeof(sql),
             "INSERT INTO events (id, tenant_id, source, source_id, event, "
             "event_id, event_time, received_at, body, batch_id, state) "
             "VALUES (1, 1, 0, 'PIX', 'Purchase', 'o1', 1, %" PRId64
             ", NULL, 1, 1), (2, 1, 0, 'PIX', 'Purchase', 'o2', 1, %" PRId64
             ", NULL, 1, 1), (5, 1, 0, 'PIX', 'Purchase', 'o3', 1, %" PRId64
             ", '{\"n\":3}', NULL, 0)",
             at, at, at);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);

    sg_store_free(fx->s);
    sg_store_cfg_defaults(&sc);
    sc.path = path;
    assert_int_equal(sg_store_open(&fx->s, &sc, &fx->clock, &E), 0);
    /* Through 0012 at least (later releases add their own). */
    assert_true(db_count(fx, "SELECT MAX(version) FROM "
                             "schema_migrations") >= 12);
    assert_int_equal(db_count(fx, "SELECT COUNT(*) FROM sqlite_master WHERE "
                                  "type = 'table' AND name = 'events' AND "
                                  "sql LIKE '%UNIQUE (event_id, event, "
                                  "source_id, tenant_id)%'"),
                     1);
    assert_int_equal(db_count(fx, "SELECT COUNT(*) FROM sqlite_master WHERE "
                                  "type = 'index' AND name IN "
                                  "('events_pending', 'events_batch')"),
                     2);
    assert_int_equal(db_count(fx, "SELECT COUNT(*) FROM events WHERE "
                                  "(id = 1 AND batch_id = 1 AND state = 1 "
                                  "AND body IS NULL) OR (id = 2 AND "
                                  "event_id = 'o2' AND batch_id = 1) OR "
                                  "(id = 5 AND state = 0 AND body = "
                                  "'{\"n\":3}' AND batch_id IS NULL)"),
                     3);
    assert_int_equal(loaded(fx, 7, NULL), 2);
    add(&a, "Purchase", "o1");
    add(&a, "Purchase", "o3");
    add(&a, "Purchase", "o4");
    add(&a, "Purchase", "o4");
    add(&a, "Search", "o1");
    ingest(fx, &a);
    assert_true(a.rows[0].dup);
    assert_true(a.rows[1].dup);
    assert_false(a.rows[2].dup);
    assert_true(a.rows[2].id > 5);
    assert_true(a.rows[3].dup);
    assert_false(a.rows[4].dup);
    assert_int_equal(a.rows[4].id, a.rows[2].id + 1);
    assert_int_equal(db_count(fx, "SELECT COUNT(*) FROM events"), 5);
    sg_free(path);
    sg_free(dir);
}

#ifndef SG_TEST_EVENTS_PG
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_dedup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_insert_chunks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_seal_and_window, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_seal_at_intake, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_result_bulk, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sealed_sent_clears, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_result_keeps_secure_delete,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_upgrade_from_0009, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_upgrade_from_0010, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_prune_sealed_sent, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_window_and_reopen_sealed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_failed_detach_sources, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
#endif
