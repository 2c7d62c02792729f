/*
 * test_store_sqlite.c - the store contract on the SQLite backend:
 * migrations, file modes, rows, the job queue's leases and coalescing, the
 * writer's group commit and back-pressure, and an allocation-failure sweep.
 * Each test gets a fresh database in its own temporary folder and a manual
 * clock, so nothing sleeps.
 *
 * test_store_pg.c includes this file with SG_TEST_STORE_PG defined: the
 * same case functions then run against a throwaway PostgreSQL server,
 * each on a fresh database. Only the SQLite-specific cases (file modes,
 * SQLite's own locking, its statement cache, the allocation sweep) are
 * left out there.
 */
#include "core/sg.h"

#include <pthread.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"
#include "store/store.h"
#include "store/sqlite/sqlutil.h"
#include "testlib.h"
#ifdef SG_TEST_STORE_PG
#include "pgserver.h"

static struct sgt_pg *g_pg;
#endif

#define T0 1700000000000LL

struct fx {
    char *dir;
    char *db;
    char dsn[768]; /* postgres: this test's own database */
    struct sg_clock clk;
    struct sg_store *s;
};

static void remove_db(const char *db)
{
    char p[1024];

    unlink(db);
    snprintf(p, sizeof(p), "%s-wal", db);
    unlink(p);
    snprintf(p, sizeof(p), "%s-shm", db);
    unlink(p);
}

static void fx_cfg(struct fx *f, struct sg_store_cfg *cfg)
{
    sg_store_cfg_defaults(cfg);
    cfg->path = f->db;
#ifdef SG_TEST_STORE_PG
    cfg->backend = "postgres";
    cfg->dsn = f->dsn;
#endif
    cfg->readers = 2;
    cfg->queue_max = 8192;
}

static int fx_open_with(struct fx *f, const struct sg_store_cfg *cfg)
{
    struct sg_err err;
    int rc;

    sg_err_init(&err);
    rc = sg_store_open(&f->s, cfg, &f->clk, &err);
    if (rc)
        print_error("open: %s\n", err.msg);
    return rc;
}

static int setup(void **state)
{
    struct fx *f = sg_calloc(1, sizeof(*f));
    struct sg_store_cfg cfg;

    if (!f)
        return -1;
    f->dir = sgt_tmpdir();
    if (!f->dir)
        return -1;
    f->db = sgt_path(f->dir, "surge.db");
#ifdef SG_TEST_STORE_PG
    if (sgt_pg_createdb(g_pg, f->dsn, sizeof(f->dsn)) != 0)
        return -1;
#endif
    sg_clock_init_manual(&f->clk, T0);
    fx_cfg(f, &cfg);
    if (fx_open_with(f, &cfg) != 0)
        return -1;
    *state = f;
    return 0;
}

/* A fixture whose store the test opens itself. */
static int setup_closed(void **state)
{
    struct fx *f = sg_calloc(1, sizeof(*f));

    if (!f)
        return -1;
    f->dir = sgt_tmpdir();
    if (!f->dir)
        return -1;
    f->db = sgt_path(f->dir, "surge.db");
#ifdef SG_TEST_STORE_PG
    if (sgt_pg_createdb(g_pg, f->dsn, sizeof(f->dsn)) != 0)
        return -1;
#endif
    sg_clock_init_manual(&f->clk, T0);
    *state = f;
    return 0;
}

/* The gate the writer may be held at (see gate_hold). */
struct gate;
static struct gate *gate_held;
static void gate_open(struct gate *g);

static int teardown(void **state)
{
    struct fx *f = *state;

    if (gate_held)
        gate_open(gate_held);
    sg_store_free(f->s);
    remove_db(f->db);
    rmdir(f->dir);
    sg_free(f->db);
    sg_free(f->dir);
    sg_free(f);
    return 0;
}

/* ---- one write function driven by a small op record ---- */

enum op_kind {
    OP_TENANT,
    OP_APIKEY,
    OP_AUDIT,
    OP_INBOX,
    OP_INBOX_DONE,
    OP_MARK,
    OP_ENQUEUE,
    OP_CLAIM,
    OP_FINISH,
    OP_RETRY,
    OP_EXPIRE,
    OP_TENANT_THEN_FAIL,
    OP_EXTEND,
};

struct op {
    int kind;
    const char *name;
    int64_t tenant_id;
    const char *hash;
    const char *prefix;
    bool ro;
    const char *source;
    const char *ext;
    const char *body;
    size_t body_len;
    int64_t id;
    int64_t token;
    int state;
    int64_t next_run_at;
    const char *error;
    struct sg_job job;
    int64_t lease_ms;
    size_t max;
    /* results */
    int64_t id_out;
    bool flag_out;
    struct sg_job *jobs;
    size_t n;
};

static int op_fn(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    struct op *o = arg;
    struct sg_audit a;
    int rc;

    switch (o->kind) {
    case OP_TENANT:
        return sg_store_tx_tenant_insert(tx, o->name, &o->id_out, err);
    case OP_APIKEY:
        return sg_store_tx_apikey_insert(tx, o->tenant_id, o->hash, o->prefix,
                                         o->ro, &o->id_out, err);
    case OP_AUDIT:
        memset(&a, 0, sizeof(a));
        a.tenant_id = o->tenant_id;
        snprintf(a.actor, sizeof(a.actor), "cli");
        snprintf(a.action, sizeof(a.action), "%s", o->name);
        snprintf(a.object, sizeof(a.object), "job:%" PRId64, o->id);
        snprintf(a.outcome, sizeof(a.outcome), "ok");
        return sg_store_tx_audit(tx, &a, err);
    case OP_INBOX:
        return sg_store_tx_inbox_insert(tx, o->tenant_id, o->source, o->ext,
                                        o->body, o->body_len, &o->id_out,
                                        &o->flag_out, err);
    case OP_INBOX_DONE:
        return sg_store_tx_inbox_insert_processed(
            tx, o->tenant_id, o->source, o->ext, o->body, o->body_len,
            &o->id_out, &o->flag_out, err);
    case OP_MARK:
        return sg_store_tx_inbox_mark_processed(tx, o->id, err);
    case OP_ENQUEUE:
        return sg_store_tx_job_enqueue(tx, &o->job, &o->id_out, &o->flag_out,
                                       err);
    case OP_CLAIM:
        return sg_store_tx_job_claim(tx, o->lease_ms, o->max, &o->jobs, &o->n,
                                     err);
    case OP_FINISH:
        return sg_store_tx_job_finish(tx, o->id, o->token, o->state,
                                      o->next_run_at, o->error, err);
    case OP_RETRY:
        return sg_store_tx_job_retry(tx, o->tenant_id, o->id, err);
    case OP_EXPIRE:
        return sg_store_tx_job_requeue_expired(tx, &o->n, err);
    case OP_EXTEND:
        return sg_store_tx_job_extend(tx, o->id, o->token, o->lease_ms,
                                      &o->id_out, err);
    case OP_TENANT_THEN_FAIL:
        rc = sg_store_tx_tenant_insert(tx, o->name, &o->id_out, err);
        if (rc)
            return rc;
        return sg_err_set(err, SG_EINVAL, "failing on purpose");
    default:
        return SG_EINVAL;
    }
}

static int do_op(struct sg_store *s, struct op *o)
{
    struct sg_err err;

    sg_err_init(&err);
    return sg_store_write(s, op_fn, o, &err);
}

static int64_t tenant(struct sg_store *s, const char *name)
{
    struct op o = {.kind = OP_TENANT, .name = name};

    assert_int_equal(do_op(s, &o), 0);
    return o.id_out;
}

static int64_t enqueue(struct sg_store *s, int64_t tenant_id, const char *ckey,
                       const char *payload, int priority, int64_t next_run_at,
                       int attempts_max, bool *coalesced)
{
    struct op o = {.kind = OP_ENQUEUE};

    o.job.tenant_id = tenant_id;
    snprintf(o.job.kind, sizeof(o.job.kind), "notify.http");
    snprintf(o.job.platform, sizeof(o.job.platform), "tiktok");
    o.job.coalesce_key = (char *)(uintptr_t)ckey;
    o.job.payload = (char *)(uintptr_t)payload;
    o.job.priority = priority;
    o.job.next_run_at = next_run_at;
    o.job.attempts_max = attempts_max;
    assert_int_equal(do_op(s, &o), 0);
    if (coalesced)
        *coalesced = o.flag_out;
    return o.id_out;
}

static void claim(struct sg_store *s, size_t max, int64_t lease_ms,
                  struct sg_job **jobs, size_t *n)
{
    struct op o = {.kind = OP_CLAIM, .max = max, .lease_ms = lease_ms};

    assert_int_equal(do_op(s, &o), 0);
    *jobs = o.jobs;
    *n = o.n;
}

static int finish(struct sg_store *s, int64_t id, int64_t token, int state,
                  const char *error)
{
    struct op o = {.kind = OP_FINISH,
                   .id = id,
                   .token = token,
                   .state = state,
                   .error = error};

    return do_op(s, &o);
}

static void get_job(struct sg_store *s, int64_t id, struct sg_job *j)
{
    struct sg_err err;

    sg_err_init(&err);
    assert_int_equal(sg_store_job_get(s, 0, id, j, &err), 0);
}

/* ---- a gate that holds the writer inside a write ---- */

struct gate {
    pthread_mutex_t m;
    pthread_cond_t c;
    bool entered;
    bool open;
};

static int gate_fn(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    struct gate *g = arg;

    SG_UNUSED(tx);
    SG_UNUSED(err);
    pthread_mutex_lock(&g->m);
    g->entered = true;
    pthread_cond_broadcast(&g->c);
    while (!g->open)
        pthread_cond_wait(&g->c, &g->m);
    pthread_mutex_unlock(&g->m);
    return 0;
}

static void gate_init(struct gate *g)
{
    memset(g, 0, sizeof(*g));
    pthread_mutex_init(&g->m, NULL);
    pthread_cond_init(&g->c, NULL);
}

/*
 * The gate the writer may be held at. A test whose assertion fails
 * leaves by longjmp with the writer still inside: teardown opens it, or
 * sg_store_free would wait for the writer for ever (seen in the D5
 * sweep). Gates are static for the same reason: a gate on the stack of a
 * test that has left would be overwritten while the writer waits on it.
 */
/* Submit the gate and wait until the writer is inside it. */
static void gate_hold(struct sg_store *s, struct gate *g)
{
    gate_held = g;
    assert_int_equal(sg_store_submit(s, gate_fn, NULL, g), 0);
    pthread_mutex_lock(&g->m);
    while (!g->entered)
        pthread_cond_wait(&g->c, &g->m);
    pthread_mutex_unlock(&g->m);
}

static void gate_open(struct gate *g)
{
    if (gate_held == g)
        gate_held = NULL;
    pthread_mutex_lock(&g->m);
    g->open = true;
    pthread_cond_broadcast(&g->c);
    pthread_mutex_unlock(&g->m);
}

static void gate_destroy(struct gate *g)
{
    pthread_cond_destroy(&g->c);
    pthread_mutex_destroy(&g->m);
}

/* Completion counting for async submits. */
struct tally {
    pthread_mutex_t m;
    pthread_cond_t c;
    size_t done;
    size_t failed;
};

struct item {
    struct op op;
    struct tally *t;
    int calls;
    int rc;
};

static int item_fn(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    struct item *it = arg;

    return op_fn(tx, &it->op, err);
}

static void item_done(void *arg, int rc, const struct sg_err *err)
{
    struct item *it = arg;

    SG_UNUSED(err);
    pthread_mutex_lock(&it->t->m);
    it->calls++;
    it->rc = rc;
    it->t->done++;
    if (rc)
        it->t->failed++;
    pthread_cond_broadcast(&it->t->c);
    pthread_mutex_unlock(&it->t->m);
}

static void tally_wait(struct tally *t, size_t n)
{
    pthread_mutex_lock(&t->m);
    while (t->done < n)
        pthread_cond_wait(&t->c, &t->m);
    pthread_mutex_unlock(&t->m);
}

/* ---- tests ---- */

/*
 * The heartbeat (sg_store_tx_job_extend): only the current lease of a
 * RUNNING job extends, from the store's clock; a stale or wrong token is
 * SG_ESTALE, a non-positive lease SG_EINVAL. Same on both backends.
 */
static void test_job_extend(void **state)
{
    struct fx *f = *state;
    int64_t t = tenant(f->s, "acme");
    int64_t id = enqueue(f->s, t, NULL, "{}", 0, 0, 3, NULL);
    struct sg_job *jobs = NULL, j;
    struct op o = {.kind = OP_EXTEND, .id = id, .lease_ms = 60000};
    size_t n = 0;

    claim(f->s, 10, 1000, &jobs, &n);
    assert_int_equal(n, 1);
    sg_clock_advance(&f->clk, 500);
    o.token = jobs[0].lease_token;
    assert_int_equal(do_op(f->s, &o), 0);
    assert_int_equal(o.id_out, T0 + 500 + 60000);
    get_job(f->s, id, &j);
    assert_int_equal(j.lease_until, T0 + 500 + 60000);
    assert_int_equal(j.state, SG_JOB_RUNNING);
    sg_job_free(&j);
    o.token = jobs[0].lease_token + 1;
    assert_int_equal(do_op(f->s, &o), SG_ESTALE);
    o.token = jobs[0].lease_token;
    o.lease_ms = 0;
    assert_int_equal(do_op(f->s, &o), SG_EINVAL);
    o.lease_ms = 1000;
    assert_int_equal(finish(f->s, id, jobs[0].lease_token, SG_JOB_DONE, NULL),
                     0);
    assert_int_equal(do_op(f->s, &o), SG_ESTALE);
    sg_job_list_free(jobs, n);
}

static void test_registry(void **state)
{
    struct sg_store_ops bad;

    SG_UNUSED(state);
    assert_ptr_equal(sg_store_backend("sqlite"), &sg_store_sqlite_ops);
    assert_null(sg_store_backend("oracle"));
    assert_int_equal(sg_store_ops_check(&sg_store_sqlite_ops), 0);
    bad = sg_store_sqlite_ops;
    bad.version = SG_STORE_OPS_VERSION + 1;
    assert_int_equal(sg_store_ops_check(&bad), SG_ECONFIG);
    bad = sg_store_sqlite_ops;
    bad.job_claim = NULL;
    assert_int_equal(sg_store_ops_check(&bad), SG_ECONFIG);
    assert_int_equal(sg_job_state_parse("dead"), SG_JOB_DEAD);
    assert_int_equal(sg_job_state_parse("zombie"), -1);
    assert_string_equal(sg_job_state_name(SG_JOB_RUNNING), "running");
    assert_ptr_equal(sg_store_backend("postgres"), &sg_store_postgres_ops);
    assert_int_equal(sg_store_ops_check(&sg_store_postgres_ops), 0);
}

static void test_migrations_idempotent(void **state)
{
    struct fx *f = *state;
    struct sg_store_cfg cfg;
    struct sg_err err;
    int applied = -1;

    fx_cfg(f, &cfg);
    sg_err_init(&err);
    assert_int_equal(sg_store_migrate_only(&cfg, &applied, &err), 0);
    assert_true(applied >= 1);
    assert_int_equal(sg_store_migrate_only(&cfg, &applied, &err), 0);
    assert_int_equal(applied, 0);
    /* Opening runs the migrator again: still nothing to apply, and works. */
    assert_int_equal(fx_open_with(f, &cfg), 0);
    tenant(f->s, "acme");
}

static void test_file_modes(void **state)
{
    struct fx *f = *state;
    struct sg_store_cfg cfg;
    struct stat st;
    char p[1024];
    mode_t old = umask(022);

    fx_cfg(f, &cfg);
    assert_int_equal(fx_open_with(f, &cfg), 0);
    umask(old);
    tenant(f->s, "acme");
    assert_int_equal(stat(f->db, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    snprintf(p, sizeof(p), "%s-wal", f->db);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    snprintf(p, sizeof(p), "%s-shm", f->db);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
}

static void test_tenants_and_keys(void **state)
{
    struct fx *f = *state;
    static const char hash[] =
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    struct op o;
    struct sg_tenant t;
    struct sg_apikey k;
    struct sg_err err;
    int64_t tid = tenant(f->s, "acme");

    sg_err_init(&err);
    assert_true(tid > 0);
    assert_int_equal(sg_store_tenant_get(f->s, "acme", &t, &err), 0);
    assert_int_equal(t.id, tid);
    assert_int_equal(t.created_at, T0);
    assert_int_equal(sg_store_tenant_get_by_id(f->s, tid, &t, &err), 0);
    assert_string_equal(t.name, "acme");
    assert_int_equal(sg_store_tenant_get(f->s, "nobody", &t, &err),
                     SG_ENOTFOUND);

    o = (struct op){.kind = OP_TENANT, .name = "acme"};
    assert_int_equal(do_op(f->s, &o), SG_EEXISTS);

    o = (struct op){.kind = OP_APIKEY,
                    .tenant_id = tid,
                    .hash = hash,
                    .prefix = "sk_abc",
                    .ro = true};
    assert_int_equal(do_op(f->s, &o), 0);
    assert_int_equal(sg_store_apikey_lookup(f->s, hash, &k, &err), 0);
    assert_int_equal(k.id, o.id_out);
    assert_int_equal(k.tenant_id, tid);
    assert_true(k.read_only);
    assert_string_equal(k.prefix, "sk_abc");
    assert_int_equal(k.revoked_at, 0);
    /* Same hash again: unique. Unknown tenant: foreign key. Bad hash. */
    assert_int_equal(do_op(f->s, &o), SG_EEXISTS);
    o.tenant_id = tid + 100;
    o.hash = "8f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    assert_int_equal(do_op(f->s, &o), SG_EINVAL);
    o.tenant_id = tid;
    o.hash = "not-a-hash";
    assert_int_equal(do_op(f->s, &o), SG_EINVAL);
    assert_int_equal(sg_store_apikey_lookup(f->s, o.hash, &k, &err),
                     SG_ENOTFOUND);
}

static void test_audit(void **state)
{
    struct fx *f = *state;
    struct op o = {
        .kind = OP_AUDIT, .tenant_id = 7, .name = "job.retry", .id = 42};
    struct sg_audit *rows = NULL;
    struct sg_err err;
    size_t n = 0;

    sg_err_init(&err);
    assert_int_equal(do_op(f->s, &o), 0);
    o.tenant_id = 8;
    assert_int_equal(do_op(f->s, &o), 0);
    assert_int_equal(sg_store_audit_list(f->s, 7, 0, 10, &rows, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(rows[0].object, "job:42");
    assert_string_equal(rows[0].action, "job.retry");
    assert_int_equal(rows[0].at, T0);
    sg_free(rows);
    assert_int_equal(sg_store_audit_list(f->s, 0, 0, 10, &rows, &n, &err), 0);
    assert_int_equal(n, 2);
    sg_free(rows);
}

static void test_inbox_dedupe(void **state)
{
    struct fx *f = *state;
    static const char body[] = {'{', '}', '\0', 'x'};
    struct op o = {.kind = OP_INBOX,
                   .tenant_id = 1,
                   .source = "tiktok",
                   .ext = "evt-1",
                   .body = body,
                   .body_len = sizeof(body)};
    struct sg_inbox row, *rows = NULL;
    struct sg_err err;
    int64_t first, counts[4];
    int64_t pending;
    size_t n = 0;

    sg_err_init(&err);
    assert_int_equal(do_op(f->s, &o), 0);
    assert_false(o.flag_out);
    first = o.id_out;
    assert_true(first > 0);
    assert_int_equal(do_op(f->s, &o), 0);
    assert_true(o.flag_out);
    assert_int_equal(o.id_out, first);
    o.ext = "evt-2";
    assert_int_equal(do_op(f->s, &o), 0);
    assert_false(o.flag_out);
    assert_true(o.id_out != first);

    assert_int_equal(sg_store_inbox_get(f->s, 1, first, &row, &err), 0);
    assert_int_equal(row.body_len, sizeof(body));
    assert_memory_equal(row.body, body, sizeof(body));
    assert_string_equal(row.external_id, "evt-1");
    assert_string_equal(row.source, "tiktok");
    sg_inbox_free(&row);
    assert_null(row.body);
    /* Another tenant cannot see it. */
    assert_int_equal(sg_store_inbox_get(f->s, 2, first, &row, &err),
                     SG_ENOTFOUND);
    assert_int_equal(
        sg_store_inbox_get_by_external(f->s, "tiktok", "evt-2", &row, &err), 0);
    assert_int_equal(row.id, o.id_out);
    sg_inbox_free(&row);

    assert_int_equal(sg_store_inbox_pending(f->s, 10, &rows, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(rows[0].id, first);
    sg_inbox_list_free(rows, n);

    o = (struct op){.kind = OP_MARK, .id = first};
    assert_int_equal(do_op(f->s, &o), 0);
    assert_int_equal(do_op(f->s, &o), 0); /* idempotent */
    o.id = 9999;
    assert_int_equal(do_op(f->s, &o), SG_ENOTFOUND);
    assert_int_equal(sg_store_counts(f->s, &pending, counts, &err), 0);
    assert_int_equal(pending, 1);
}

/*
 * A row stored already processed (its work done in the same write) is
 * never pending; a redelivery of a row still pending leaves it pending
 * (the duplicate's write does no work), and the rows keep deduplicating
 * across both kinds of insert.
 */
static void test_inbox_insert_processed(void **state)
{
    struct fx *f = *state;
    struct op o = {.kind = OP_INBOX_DONE,
                   .tenant_id = 1,
                   .source = "tiktok",
                   .ext = "done-1",
                   .body = "{}",
                   .body_len = 2};
    struct sg_inbox row, *rows = NULL;
    struct sg_err err;
    int64_t done, pending_id, counts[4];
    int64_t pending;
    size_t n = 0;

    sg_err_init(&err);
    assert_int_equal(do_op(f->s, &o), 0);
    assert_false(o.flag_out);
    done = o.id_out;
    assert_true(done > 0);
    assert_int_equal(sg_store_inbox_get(f->s, 1, done, &row, &err), 0);
    assert_int_equal(row.processed_at, row.received_at);
    assert_true(row.processed_at > 0);
    sg_inbox_free(&row);

    /* A plain insert of the same delivery is a duplicate of that row. */
    o.kind = OP_INBOX;
    assert_int_equal(do_op(f->s, &o), 0);
    assert_true(o.flag_out);
    assert_int_equal(o.id_out, done);

    /* A pending row, then the processed insert of it: a duplicate, and
     * the row stays pending for the processor. */
    o.ext = "pending-1";
    assert_int_equal(do_op(f->s, &o), 0);
    assert_false(o.flag_out);
    pending_id = o.id_out;
    o.kind = OP_INBOX_DONE;
    assert_int_equal(do_op(f->s, &o), 0);
    assert_true(o.flag_out);
    assert_int_equal(o.id_out, pending_id);
    assert_int_equal(sg_store_inbox_get(f->s, 1, pending_id, &row, &err), 0);
    assert_int_equal(row.processed_at, 0);
    sg_inbox_free(&row);

    assert_int_equal(sg_store_inbox_pending(f->s, 10, &rows, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(rows[0].id, pending_id);
    sg_inbox_list_free(rows, n);
    assert_int_equal(sg_store_counts(f->s, &pending, counts, &err), 0);
    assert_int_equal(pending, 1);

    /* Marking the processed row again is fine (idempotent). */
    o = (struct op){.kind = OP_MARK, .id = done};
    assert_int_equal(do_op(f->s, &o), 0);
}

static void test_job_claim_finish(void **state)
{
    struct fx *f = *state;
    struct sg_job *jobs = NULL, j;
    struct sg_err err;
    size_t n = 0;
    int64_t a, b, c, at, counts[4], pending;

    sg_err_init(&err);
    assert_int_equal(sg_store_next_job_due(f->s, &at, &err), SG_ENOTFOUND);
    a = enqueue(f->s, 1, NULL, "{\"a\":1}", 0, 0, 3, NULL);
    b = enqueue(f->s, 1, NULL, "{\"b\":1}", 5, 0, 3, NULL);
    c = enqueue(f->s, 1, NULL, "{\"c\":1}", 9, T0 + 60000, 3, NULL);
    assert_int_equal(sg_store_next_job_due(f->s, &at, &err), 0);
    assert_int_equal(at, T0);

    claim(f->s, 10, 30000, &jobs, &n);
    /* c is not due yet; b outranks a. */
    assert_int_equal(n, 2);
    assert_int_equal(jobs[0].id, b);
    assert_int_equal(jobs[1].id, a);
    assert_int_equal(jobs[0].state, SG_JOB_RUNNING);
    assert_int_equal(jobs[0].attempts, 1);
    assert_int_equal(jobs[0].lease_until, T0 + 30000);
    assert_true(jobs[0].lease_token > 0);
    assert_true(jobs[1].lease_token > 0);
    assert_true(jobs[0].lease_token != jobs[1].lease_token);
    assert_string_equal(jobs[0].payload, "{\"b\":1}");
    assert_string_equal(jobs[0].kind, "notify.http");
    assert_string_equal(jobs[0].platform, "tiktok");

    /* A stale token cannot complete the job. */
    assert_int_equal(
        finish(f->s, b, jobs[0].lease_token + 1, SG_JOB_DONE, NULL), SG_ESTALE);
    assert_int_equal(finish(f->s, b, jobs[0].lease_token, SG_JOB_DONE, NULL),
                     0);
    assert_int_equal(finish(f->s, b, jobs[0].lease_token, SG_JOB_DONE, NULL),
                     SG_ESTALE);
    assert_int_equal(finish(f->s, a, jobs[1].lease_token, 7, NULL), SG_EINVAL);
    /* Retry later: back to queued with the error kept. */
    {
        struct op o = {.kind = OP_FINISH,
                       .id = a,
                       .token = jobs[1].lease_token,
                       .state = SG_JOB_QUEUED,
                       .next_run_at = T0 + 5000,
                       .error = "http 503"};

        assert_int_equal(do_op(f->s, &o), 0);
    }
    sg_job_list_free(jobs, n);
    get_job(f->s, a, &j);
    assert_int_equal(j.state, SG_JOB_QUEUED);
    assert_int_equal(j.next_run_at, T0 + 5000);
    assert_string_equal(j.last_error, "http 503");
    assert_int_equal(j.lease_token, 0);
    sg_job_free(&j);

    claim(f->s, 10, 30000, &jobs, &n);
    assert_int_equal(n, 0);
    assert_null(jobs);

    assert_int_equal(sg_store_counts(f->s, &pending, counts, &err), 0);
    assert_int_equal(counts[SG_JOB_QUEUED], 2);
    assert_int_equal(counts[SG_JOB_DONE], 1);
    assert_int_equal(
        sg_store_job_list(f->s, 1, SG_JOB_QUEUED, 0, 10, &jobs, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(jobs[0].id, a);
    assert_int_equal(jobs[1].id, c);
    sg_job_list_free(jobs, n);
    assert_int_equal(sg_store_job_list(f->s, 2, -1, 0, 10, &jobs, &n, &err), 0);
    assert_int_equal(n, 0);
    assert_int_equal(sg_store_job_list(f->s, 0, -1, a, 10, &jobs, &n, &err), 0);
    assert_int_equal(n, 2);
    sg_job_list_free(jobs, n);
    /* Tenant scoping on get. */
    assert_int_equal(sg_store_job_get(f->s, 2, a, &j, &err), SG_ENOTFOUND);
}

static void test_job_coalesce(void **state)
{
    struct fx *f = *state;
    struct sg_job *jobs = NULL, j;
    size_t n = 0;
    bool coalesced = true;
    int64_t id, id2, id3;

    id = enqueue(f->s, 1, "stock:42", "{\"v\":1}", 1, T0 + 1000, 3, &coalesced);
    assert_false(coalesced);
    id2 = enqueue(f->s, 1, "stock:42", "{\"v\":2}", 0, T0 + 500, 3, &coalesced);
    assert_true(coalesced);
    assert_int_equal(id2, id);
    get_job(f->s, id, &j);
    assert_string_equal(j.payload, "{\"v\":2}"); /* latest state wins */
    assert_int_equal(j.next_run_at, T0 + 500);   /* earliest */
    assert_int_equal(j.priority, 1);             /* max */
    sg_job_free(&j);
    /* Later next_run_at does not postpone it. */
    enqueue(f->s, 1, "stock:42", "{\"v\":3}", 0, T0 + 9000, 3, &coalesced);
    assert_true(coalesced);
    get_job(f->s, id, &j);
    assert_int_equal(j.next_run_at, T0 + 500);
    sg_job_free(&j);

    /* Once running, a new enqueue makes a new queued job. */
    sg_clock_advance(&f->clk, 1000);
    claim(f->s, 10, 30000, &jobs, &n);
    assert_int_equal(n, 1);
    id3 = enqueue(f->s, 1, "stock:42", "{\"v\":4}", 0, 0, 3, &coalesced);
    assert_false(coalesced);
    assert_true(id3 != id);

    /* Retrying the running one folds into the queued twin. */
    {
        struct op o = {.kind = OP_FINISH,
                       .id = id,
                       .token = jobs[0].lease_token,
                       .state = SG_JOB_QUEUED,
                       .error = "http 500"};

        assert_int_equal(do_op(f->s, &o), 0);
    }
    sg_job_list_free(jobs, n);
    get_job(f->s, id, &j);
    assert_int_equal(j.state, SG_JOB_DONE);
    assert_non_null(strstr(j.last_error, "superseded"));
    sg_job_free(&j);
    get_job(f->s, id3, &j);
    assert_int_equal(j.state, SG_JOB_QUEUED);
    assert_int_equal(j.priority, 1);
    assert_string_equal(j.payload, "{\"v\":4}");
    sg_job_free(&j);
}

static void test_lease_expiry_and_retry(void **state)
{
    struct fx *f = *state;
    struct sg_job *jobs = NULL, j;
    struct op o;
    size_t n = 0;
    int64_t id, token;

    id = enqueue(f->s, 3, NULL, "{}", 0, 0, 2, NULL);
    claim(f->s, 1, 1000, &jobs, &n);
    assert_int_equal(n, 1);
    token = jobs[0].lease_token;
    sg_job_list_free(jobs, n);

    /* Not yet expired. */
    o = (struct op){.kind = OP_EXPIRE};
    assert_int_equal(do_op(f->s, &o), 0);
    assert_int_equal(o.n, 0);
    sg_clock_advance(&f->clk, 1500);
    assert_int_equal(do_op(f->s, &o), 0);
    assert_int_equal(o.n, 1);
    get_job(f->s, id, &j);
    assert_int_equal(j.state, SG_JOB_QUEUED);
    assert_string_equal(j.last_error, "lease expired");
    assert_int_equal(j.attempts, 1);
    sg_job_free(&j);
    /* The worker whose lease expired cannot complete it any more. */
    assert_int_equal(finish(f->s, id, token, SG_JOB_DONE, NULL), SG_ESTALE);

    /* Second attempt expires too: attempts_max reached, so dead. */
    claim(f->s, 1, 1000, &jobs, &n);
    assert_int_equal(n, 1);
    assert_int_equal(jobs[0].attempts, 2);
    assert_true(jobs[0].lease_token != token);
    sg_job_list_free(jobs, n);
    sg_clock_advance(&f->clk, 1500);
    o = (struct op){.kind = OP_EXPIRE};
    assert_int_equal(do_op(f->s, &o), 0);
    assert_int_equal(o.n, 1);
    get_job(f->s, id, &j);
    assert_int_equal(j.state, SG_JOB_DEAD);
    sg_job_free(&j);

    /* Retry: other tenant cannot see it; its own tenant can. */
    o = (struct op){.kind = OP_RETRY, .tenant_id = 4, .id = id};
    assert_int_equal(do_op(f->s, &o), SG_ENOTFOUND);
    o.id = id + 1000;
    o.tenant_id = 0;
    assert_int_equal(do_op(f->s, &o), SG_ENOTFOUND);
    o = (struct op){.kind = OP_RETRY, .tenant_id = 3, .id = id};
    assert_int_equal(do_op(f->s, &o), 0);
    get_job(f->s, id, &j);
    assert_int_equal(j.state, SG_JOB_QUEUED);
    assert_int_equal(j.attempts, 0);
    assert_int_equal(j.next_run_at, T0 + 3000);
    sg_job_free(&j);

    /* Running and done jobs cannot be retried. */
    claim(f->s, 1, 1000, &jobs, &n);
    assert_int_equal(n, 1);
    o = (struct op){.kind = OP_RETRY, .id = id};
    assert_int_equal(do_op(f->s, &o), SG_ESTATE);
    assert_int_equal(finish(f->s, id, jobs[0].lease_token, SG_JOB_DONE, NULL),
                     0);
    sg_job_list_free(jobs, n);
    assert_int_equal(do_op(f->s, &o), SG_ESTATE);
}

/* ---- the writer ---- */

#define THREADS    8
#define PER_THREAD 500

struct producer {
    struct sg_store *s;
    struct item *items;
    int busy;
};

static void *producer_main(void *arg)
{
    struct producer *p = arg;
    int i;

    for (i = 0; i < PER_THREAD; i++)
        if (sg_store_submit(p->s, item_fn, item_done, &p->items[i]) != 0)
            p->busy++;
    return NULL;
}

/* 8 threads x 500 async inserts; returns the store's stats. */
static void run_producers(struct fx *f, bool hold, struct sg_store_stats *stats)
{
    struct item *items = sg_calloc(THREADS * PER_THREAD, sizeof(*items));
    char(*ext)[32] = sg_calloc(THREADS * PER_THREAD, 32);
    struct producer prod[THREADS];
    pthread_t th[THREADS];
    struct tally t;
    static struct gate g;
    struct sg_inbox *rows = NULL;
    struct sg_err err;
    int64_t pending, counts[4];
    size_t i, n = 0;

    assert_non_null(items);
    assert_non_null(ext);
    memset(&t, 0, sizeof(t));
    pthread_mutex_init(&t.m, NULL);
    pthread_cond_init(&t.c, NULL);
    gate_init(&g);
    for (i = 0; i < THREADS * PER_THREAD; i++) {
        snprintf(ext[i], 32, "evt-%zu", i);
        items[i].t = &t;
        items[i].op = (struct op){.kind = OP_INBOX,
                                  .tenant_id = 1,
                                  .source = "load",
                                  .ext = ext[i],
                                  .body = "{}",
                                  .body_len = 2};
    }
    if (hold)
        gate_hold(f->s, &g);
    for (i = 0; i < THREADS; i++) {
        prod[i] = (struct producer){.s = f->s, .items = &items[i * PER_THREAD]};
        assert_int_equal(pthread_create(&th[i], NULL, producer_main, &prod[i]),
                         0);
    }
    for (i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(prod[i].busy, 0);
    }
    if (hold)
        gate_open(&g);
    tally_wait(&t, THREADS * PER_THREAD);
    assert_int_equal(t.failed, 0);
    for (i = 0; i < THREADS * PER_THREAD; i++) {
        assert_int_equal(items[i].calls, 1);
        assert_int_equal(items[i].rc, 0);
        assert_false(items[i].op.flag_out);
    }
    sg_err_init(&err);
    assert_int_equal(sg_store_counts(f->s, &pending, counts, &err), 0);
    assert_int_equal(pending, THREADS * PER_THREAD);
    assert_int_equal(sg_store_inbox_pending(f->s, 5, &rows, &n, &err), 0);
    assert_int_equal(n, 5);
    sg_inbox_list_free(rows, n);
    sg_store_stats(f->s, stats);
    gate_destroy(&g);
    pthread_cond_destroy(&t.c);
    pthread_mutex_destroy(&t.m);
    sg_free(ext);
    sg_free(items);
}

static void test_group_commit(void **state)
{
    struct fx *f = *state;
    struct sg_store_cfg cfg;
    struct sg_store_stats st;

    fx_cfg(f, &cfg);
    cfg.batch_max = 64;
    assert_int_equal(fx_open_with(f, &cfg), 0);
    run_producers(f, true, &st);
    /* the gate's write plus 4000 inserts */
    assert_int_equal(st.writes, THREADS * PER_THREAD + 1);
    assert_int_equal(st.write_errors, 0);
    assert_int_equal(st.commit_failures, 0);
    assert_true(st.commits > 1);
    assert_true(st.writes > 2 * st.commits); /* batches > 1 on average */
    assert_true(st.batch_hist[6] > 0);       /* 64-127 */
    assert_int_equal(st.batch_hist[7], 0);   /* never above batch_max */
    assert_int_equal(st.queue_depth, 0);
}

static void test_no_group_commit(void **state)
{
    struct fx *f = *state;
    struct sg_store_cfg cfg;
    struct sg_store_stats st;
    size_t i;

    fx_cfg(f, &cfg);
    cfg.batch_max = 1;
    assert_int_equal(fx_open_with(f, &cfg), 0);
    run_producers(f, false, &st);
    /* One transaction per write. */
    assert_int_equal(st.commits, st.writes);
    assert_int_equal(st.batch_hist[0], st.writes);
    for (i = 1; i < 8; i++)
        assert_int_equal(st.batch_hist[i], 0);
}

static void test_failing_write_rolls_back_alone(void **state)
{
    struct fx *f = *state;
    struct item it[3];
    struct tally t;
    static struct gate g;
    struct sg_tenant row;
    struct sg_store_stats st;
    struct sg_err err;
    size_t i;

    memset(&t, 0, sizeof(t));
    memset(it, 0, sizeof(it));
    pthread_mutex_init(&t.m, NULL);
    pthread_cond_init(&t.c, NULL);
    gate_init(&g);
    it[0].op = (struct op){.kind = OP_TENANT, .name = "a"};
    it[1].op = (struct op){.kind = OP_TENANT_THEN_FAIL, .name = "b"};
    it[2].op = (struct op){.kind = OP_TENANT, .name = "c"};
    gate_hold(f->s, &g);
    for (i = 0; i < 3; i++) {
        it[i].t = &t;
        assert_int_equal(sg_store_submit(f->s, item_fn, item_done, &it[i]), 0);
    }
    gate_open(&g);
    tally_wait(&t, 3);
    assert_int_equal(it[0].rc, 0);
    assert_int_equal(it[1].rc, SG_EINVAL);
    assert_int_equal(it[2].rc, 0);
    sg_err_init(&err);
    assert_int_equal(sg_store_tenant_get(f->s, "a", &row, &err), 0);
    assert_int_equal(sg_store_tenant_get(f->s, "b", &row, &err), SG_ENOTFOUND);
    assert_int_equal(sg_store_tenant_get(f->s, "c", &row, &err), 0);
    sg_store_stats(f->s, &st);
    /* The three shared one transaction (the gate had its own). */
    assert_int_equal(st.batch_hist[1], 1);
    assert_int_equal(st.write_errors, 1);
    assert_int_equal(st.commits, 2);
    gate_destroy(&g);
    pthread_cond_destroy(&t.c);
    pthread_mutex_destroy(&t.m);
}

/*
 * A write begun now and ended later: both writes commit together while
 * the caller is free, each end gives that write's own result, and the
 * first write is on disk when the second ends.
 */
static void test_write_begin_end(void **state)
{
    struct fx *f = *state;
    struct item it[2];
    struct sg_store_pending *p[2] = {NULL, NULL};
    static struct gate g;
    struct sg_tenant row;
    struct sg_store_stats st;
    struct sg_err err;

    memset(it, 0, sizeof(it));
    gate_init(&g);
    it[0].op = (struct op){.kind = OP_TENANT, .name = "begun"};
    it[1].op = (struct op){.kind = OP_TENANT_THEN_FAIL, .name = "refused"};
    gate_hold(f->s, &g);
    sg_err_init(&err);
    assert_int_equal(sg_store_write_begin(f->s, item_fn, &it[0], &p[0], &err),
                     0);
    assert_int_equal(sg_store_write_begin(f->s, item_fn, &it[1], &p[1], &err),
                     0);
    assert_non_null(p[0]);
    assert_non_null(p[1]);
    gate_open(&g);
    assert_int_equal(sg_store_write_end(p[0], &err), 0);
    assert_int_equal(sg_store_tenant_get(f->s, "begun", &row, &err), 0);
    assert_int_equal(sg_store_write_end(p[1], &err), SG_EINVAL);
    sg_err_init(&err);
    assert_int_equal(sg_store_tenant_get(f->s, "refused", &row, &err),
                     SG_ENOTFOUND);
    sg_store_stats(f->s, &st);
    assert_int_equal(st.batch_hist[1], 1); /* the two, in one transaction */
    gate_destroy(&g);
}

static void test_submit_busy(void **state)
{
    struct fx *f = *state;
    struct sg_store_cfg cfg;
    struct item it[5];
    struct tally t;
    static struct gate g;
    struct sg_err err;
    char name[5][8];
    size_t i;

    fx_cfg(f, &cfg);
    cfg.queue_max = 4;
    assert_int_equal(fx_open_with(f, &cfg), 0);
    memset(&t, 0, sizeof(t));
    memset(it, 0, sizeof(it));
    pthread_mutex_init(&t.m, NULL);
    pthread_cond_init(&t.c, NULL);
    gate_init(&g);
    gate_hold(f->s, &g);
    for (i = 0; i < 5; i++) {
        snprintf(name[i], sizeof(name[i]), "t%zu", i);
        it[i].t = &t;
        it[i].op = (struct op){.kind = OP_TENANT, .name = name[i]};
    }
    for (i = 0; i < 4; i++)
        assert_int_equal(sg_store_submit(f->s, item_fn, item_done, &it[i]), 0);
    assert_int_equal(sg_store_submit(f->s, item_fn, item_done, &it[4]),
                     SG_EBUSY);
    sg_err_init(&err);
    assert_int_equal(sg_store_write(f->s, op_fn, &it[4].op, &err), SG_EBUSY);
    gate_open(&g);
    tally_wait(&t, 4);
    for (i = 0; i < 4; i++)
        assert_int_equal(it[i].calls, 1);
    /* The refused one's done was never called. */
    assert_int_equal(it[4].calls, 0);
    assert_int_equal(t.done, 4);
    gate_destroy(&g);
    pthread_cond_destroy(&t.c);
    pthread_mutex_destroy(&t.m);
}

static void test_free_drains_queue(void **state)
{
    struct fx *f = *state;
    struct sg_store_cfg cfg;
    struct item it[16];
    struct tally t;
    struct sg_tenant row;
    struct sg_err err;
    char name[16][8];
    size_t i;

    memset(&t, 0, sizeof(t));
    memset(it, 0, sizeof(it));
    pthread_mutex_init(&t.m, NULL);
    pthread_cond_init(&t.c, NULL);
    for (i = 0; i < 16; i++) {
        snprintf(name[i], sizeof(name[i]), "d%zu", i);
        it[i].t = &t;
        it[i].op = (struct op){.kind = OP_TENANT, .name = name[i]};
        assert_int_equal(sg_store_submit(f->s, item_fn, item_done, &it[i]), 0);
    }
    sg_store_free(f->s);
    f->s = NULL;
    assert_int_equal(t.done, 16);
    /* Reopen: the data is still there. */
    fx_cfg(f, &cfg);
    assert_int_equal(fx_open_with(f, &cfg), 0);
    sg_err_init(&err);
    for (i = 0; i < 16; i++)
        assert_int_equal(sg_store_tenant_get(f->s, name[i], &row, &err), 0);
    assert_int_equal(sg_store_writable(f->s, &err), 0);
    pthread_cond_destroy(&t.c);
    pthread_mutex_destroy(&t.m);
}

static int noop_fn(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    SG_UNUSED(tx);
    SG_UNUSED(arg);
    SG_UNUSED(err);
    return 0;
}

/*
 * Another process holds the write lock: the batch cannot begin, every write
 * in it gets the retryable SG_EBUSY, and /readyz says not writable until a
 * batch commits again (which its own probe write brings about).
 */
static void test_batch_failure_and_writable(void **state)
{
    struct fx *f = *state;
    struct sg_store_cfg cfg;
    struct sg_store_stats st;
    struct op o = {.kind = OP_TENANT, .name = "locked-out"};
    struct sg_tenant row;
    struct sg_err err;
    sqlite3 *other = NULL;

    fx_cfg(f, &cfg);
    cfg.busy_timeout_ms = 1;
    assert_int_equal(fx_open_with(f, &cfg), 0);
    sg_err_init(&err);
    assert_int_equal(sg_store_writable(f->s, &err), 0);
    assert_int_equal(sqlite3_open(f->db, &other), SQLITE_OK);
    assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL),
                     SQLITE_OK);

    assert_int_equal(sg_store_write(f->s, op_fn, &o, &err), SG_EBUSY);
    assert_true(err.retryable);
    sg_store_stats(f->s, &st);
    assert_int_equal(st.commit_failures, 1);
    assert_int_equal(st.write_errors, 1);
    sg_err_init(&err);
    assert_int_equal(sg_store_writable(f->s, &err), SG_EBUSY);

    assert_int_equal(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(other);
    /* The probe queued by the last call runs before this write. */
    assert_int_equal(sg_store_write(f->s, noop_fn, NULL, &err), 0);
    assert_int_equal(sg_store_writable(f->s, &err), 0);
    assert_int_equal(sg_store_write(f->s, op_fn, &o, &err), 0);
    assert_int_equal(sg_store_tenant_get(f->s, "locked-out", &row, &err), 0);
}

/*
 * Allocation-failure sweep: open, enqueue, claim, list, close, with the
 * nth allocation failing for every n the sequence makes. Each run must
 * report an error (never crash, never claim success) when an allocation
 * failed.
 */
static int sweep_sequence(struct fx *f)
{
    struct sg_store_cfg cfg;
    struct sg_store *s = NULL;
    struct sg_job *jobs = NULL;
    struct op o;
    struct sg_err err;
    size_t n = 0;
    int rc;

    fx_cfg(f, &cfg);
    cfg.readers = 1;
    cfg.queue_max = 8;
    cfg.batch_max = 4;
    sg_err_init(&err);
    rc = sg_store_open(&s, &cfg, &f->clk, &err);
    if (rc)
        return rc;
    o = (struct op){.kind = OP_ENQUEUE};
    snprintf(o.job.kind, sizeof(o.job.kind), "k");
    o.job.payload = (char *)(uintptr_t) "{}";
    o.job.coalesce_key = (char *)(uintptr_t) "ck";
    rc = sg_store_write(s, op_fn, &o, &err);
    if (rc)
        goto out;
    o = (struct op){.kind = OP_CLAIM, .max = 4, .lease_ms = 1000};
    rc = sg_store_write(s, op_fn, &o, &err);
    sg_job_list_free(o.jobs, o.n);
    if (rc)
        goto out;
    rc = sg_store_job_list(s, 0, -1, 0, 10, &jobs, &n, &err);
    sg_job_list_free(jobs, n);
out:
    sg_store_free(s);
    return rc;
}

/*
 * Feature statements come from the connection's cache: the same SQL gives
 * the same statement once handed back (reset, bindings cleared); a second
 * use while the first is held gets a statement of its own; many distinct
 * texts past the cache's size still work.
 */
static int r_cache(void *be, void *arg, struct sg_err *err)
{
    static const char sql[] = "SELECT ?1 + 1";
    sqlite3_stmt *a = NULL, *b = NULL, *c = NULL;
    int *ok = arg, b_rc = SQLITE_OK;

    assert_int_equal(sg_sql_prep(be, sql, &a, err), 0);
    sg_sql_bind_int(a, 1, 41, &b_rc);
    assert_int_equal(sqlite3_step(a), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int64(a, 0), 42);
    /* Re-entered while a is held: another statement, same answers. */
    assert_int_equal(sg_sql_prep(be, sql, &b, err), 0);
    assert_ptr_not_equal(a, b);
    sg_sql_bind_int(b, 1, 1, &b_rc);
    assert_int_equal(sqlite3_step(b), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int64(b, 0), 2);
    sg_sql_end(be, b);
    sg_sql_end(be, a);
    /* Handed back: the cached one again, reset and unbound (NULL + 1). */
    assert_int_equal(sg_sql_prep(be, sql, &c, err), 0);
    assert_ptr_equal(c, a);
    assert_int_equal(sqlite3_step(c), SQLITE_ROW);
    assert_int_equal(sqlite3_column_type(c, 0), SQLITE_NULL);
    sg_sql_end(be, c);
    /* More texts than the cache holds: the rest run uncached. */
    for (int i = 0; i < 600; i++) {
        char q[64];

        snprintf(q, sizeof(q), "SELECT %d", i);
        assert_int_equal(sg_sql_prep(be, q, &a, err), 0);
        assert_int_equal(sqlite3_step(a), SQLITE_ROW);
        assert_int_equal(sqlite3_column_int(a, 0), i);
        sg_sql_end(be, a);
    }
    *ok = 1;
    return 0;
}

static void test_statement_cache(void **state)
{
    struct fx *f = *state;
    struct sg_err err;
    int ok = 0;

    sg_err_init(&err);
    assert_int_equal(sg_store_read(f->s, r_cache, &ok, &err), 0);
    assert_int_equal(ok, 1);
}

static void test_alloc_failure_sweep(void **state)
{
    struct fx *f = *state;
    unsigned long count, i;
    bool failed;
    int rc;

    sg_alloc_fail_at(0);
    assert_int_equal(sweep_sequence(f), 0);
    count = sg_alloc_count();
    assert_true(count > 5);
    for (i = 1; i <= count; i++) {
        remove_db(f->db);
        sg_alloc_fail_at(i);
        rc = sweep_sequence(f);
        failed = sg_alloc_failed();
        sg_alloc_fail_at(0);
        if (failed && rc == 0)
            fail_msg("allocation %lu failed but the sequence succeeded", i);
        assert_true(failed || rc == 0);
    }
}

#ifndef SG_TEST_STORE_PG
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry),
        cmocka_unit_test_setup_teardown(test_migrations_idempotent,
                                        setup_closed, teardown),
        cmocka_unit_test_setup_teardown(test_file_modes, setup_closed,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_tenants_and_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inbox_dedupe, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inbox_insert_processed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_job_claim_finish, setup, teardown),
        cmocka_unit_test_setup_teardown(test_job_coalesce, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lease_expiry_and_retry, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_job_extend, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_commit, setup_closed,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_no_group_commit, setup_closed,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_failing_write_rolls_back_alone,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_submit_busy, setup_closed,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_free_drains_queue, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_batch_failure_and_writable,
                                        setup_closed, teardown),
        cmocka_unit_test_setup_teardown(test_statement_cache, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_begin_end, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alloc_failure_sweep, setup_closed,
                                        teardown),
    };

    sg_log_set_level(SG_LOG_ERR);
    return cmocka_run_group_tests_name("store_sqlite", tests, NULL, NULL);
}
#endif
