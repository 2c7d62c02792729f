/*
 * test_jobs_fault_queue.c - the job queue under faults, on a real SQLite
 * store (reliability I2-I5): concurrent claimers never lose or double-run
 * a job; an enqueue rolled back never runs; a worker killed with SIGKILL
 * mid-job is re-run after its lease, its external effect applied once
 * through the idempotency key; a worker that outlives its lease cannot
 * complete. Time is a manual clock wherever leases matter; SG_SOAK_SCALE
 * multiplies the counts. Every loop is bounded.
 */
#include "core/sg.h"

#include <setjmp.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"
#include "store/store.h"
#include "testlib.h"

#define WORKERS 4
#define T0      1700000000000LL

/* ---- shared plumbing ---- */

static int soak_scale(void)
{
    const char *v = getenv("SG_SOAK_SCALE");
    long n = v ? strtol(v, NULL, 10) : 1;

    return n < 1 ? 1 : n > 1000 ? 1000 : (int)n;
}

/* A manual clock that other threads may read while the test moves it. */
static _Atomic int64_t clock_ms = T0;

static int64_t atomic_now(const struct sg_clock *c)
{
    SG_UNUSED(c);
    return atomic_load(&clock_ms);
}

static const struct sg_clock test_clock = {.now_ms = atomic_now};

struct fx {
    char *dir;
    char *db;
    struct sg_store *store;
    int64_t tenant;
};

static int tenant_write(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    return sg_store_tx_tenant_insert(tx, "acme", arg, err);
}

static void store_open(struct fx *f)
{
    struct sg_store_cfg cfg;
    struct sg_err err;

    sg_store_cfg_defaults(&cfg);
    cfg.backend = "sqlite";
    cfg.path = f->db;
    sg_err_init(&err);
    if (sg_store_open(&f->store, &cfg, &test_clock, &err) != 0)
        fail_msg("store open: %s", err.msg);
}

static int setup(void **st)
{
    struct fx *f = sg_calloc(1, sizeof(*f));
    struct sg_err err;

    assert_non_null(f);
    atomic_store(&clock_ms, T0);
    f->dir = sgt_tmpdir();
    assert_non_null(f->dir);
    f->db = sgt_path(f->dir, "surge.db");
    store_open(f);
    sg_err_init(&err);
    assert_int_equal(sg_store_write(f->store, tenant_write, &f->tenant, &err),
                     0);
    *st = f;
    return 0;
}

/* Empty our own mkdtemp folder (flat: no subfolders) and remove it. */
static void rm_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[700];

    while (d && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        unlink(p);
    }
    if (d)
        closedir(d);
    rmdir(dir);
}

static int teardown(void **st)
{
    struct fx *f = *st;

    sg_store_free(f->store);
    rm_dir(f->dir);
    sg_free(f->db);
    sg_free(f->dir);
    sg_free(f);
    return 0;
}

struct enq_batch {
    int64_t tenant;
    int from, n;
    const char *tag;
    const char *idem;
    int attempts_max;
    int64_t first_id, last_id;
    bool rollback; /* return an error after enqueueing */
};

static int enqueue_write(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    struct enq_batch *b = arg;
    char payload[96];
    int rc = 0;

    for (int i = 0; i < b->n; i++) {
        struct sg_job job;
        int64_t id = 0;

        memset(&job, 0, sizeof(job));
        job.tenant_id = b->tenant;
        snprintf(job.kind, sizeof(job.kind), "test.effect");
        snprintf(payload, sizeof(payload), "{\"tag\":\"%s\",\"i\":%d}", b->tag,
                 b->from + i);
        job.payload = payload;
        job.idempotency_key = (char *)(uintptr_t)b->idem;
        job.attempts_max = b->attempts_max;
        rc = sg_store_tx_job_enqueue(tx, &job, &id, NULL, err);
        if (rc)
            return rc;
        if (i == 0)
            b->first_id = id;
        b->last_id = id;
    }
    if (b->rollback)
        return sg_err_set(err, SG_EINVAL, "rolled back on purpose");
    return 0;
}

struct claim_arg {
    int64_t lease_ms;
    size_t max;
    struct sg_job *jobs;
    size_t n;
};

static int claim_write(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    struct claim_arg *c = arg;

    return sg_store_tx_job_claim(tx, c->lease_ms, c->max, &c->jobs, &c->n,
                                 err);
}

static size_t claim(struct sg_store *s, int64_t lease_ms, size_t max,
                    struct sg_job **jobs_out)
{
    struct claim_arg c = {.lease_ms = lease_ms, .max = max};
    struct sg_err err;

    sg_err_init(&err);
    if (sg_store_write(s, claim_write, &c, &err) != 0)
        fail_msg("claim: %s", err.msg);
    *jobs_out = c.jobs;
    return c.n;
}

struct finish_arg {
    int64_t id, token;
    int state;
    const char *error;
};

static int finish_write(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    struct finish_arg *a = arg;

    return sg_store_tx_job_finish(tx, a->id, a->token, a->state, 0, a->error,
                                  err);
}

static int finish(struct sg_store *s, int64_t id, int64_t token, int state)
{
    struct finish_arg a = {id, token, state, NULL};
    struct sg_err err;

    sg_err_init(&err);
    return sg_store_write(s, finish_write, &a, &err);
}

static int requeue_write(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    return sg_store_tx_job_requeue_expired(tx, arg, err);
}

static size_t sweep(struct sg_store *s)
{
    size_t n = 0;
    struct sg_err err;

    sg_err_init(&err);
    assert_int_equal(sg_store_write(s, requeue_write, &n, &err), 0);
    return n;
}

static void job_get(struct fx *f, int64_t id, struct sg_job *job)
{
    struct sg_err err;

    memset(job, 0, sizeof(*job));
    sg_err_init(&err);
    if (sg_store_job_get(f->store, f->tenant, id, job, &err) != 0)
        fail_msg("job %" PRId64 ": %s", id, err.msg);
}

/* ---- I2: many jobs, 4 concurrent claimers ---- */

struct i2 {
    struct sg_store *store;
    int64_t first_id;
    int n;
    _Atomic int *runs;      /* per job: times a worker executed it */
    atomic_int completed;   /* finishes the store accepted */
    atomic_int stale;       /* finishes refused (must stay 0) */
};

static void *i2_worker(void *arg)
{
    struct i2 *w = arg;
    int idle = 0;

    /* Bounded: each round claims at least one job, or counts as idle. */
    for (int round = 0; round < 4 * w->n + 1000 && idle < 200; round++) {
        struct claim_arg c = {.lease_ms = 600000, .max = 16};
        struct sg_err err;

        sg_err_init(&err);
        if (sg_store_write(w->store, claim_write, &c, &err) != 0)
            break;
        if (c.n == 0) {
            if (atomic_load(&w->completed) >= w->n)
                break;
            idle++;
            usleep(2000);
            continue;
        }
        idle = 0;
        for (size_t i = 0; i < c.n; i++) {
            int64_t k = c.jobs[i].id - w->first_id;

            if (k >= 0 && k < w->n)
                atomic_fetch_add(&w->runs[k], 1);
            if (finish(w->store, c.jobs[i].id, c.jobs[i].lease_token,
                       SG_JOB_DONE) == 0)
                atomic_fetch_add(&w->completed, 1);
            else
                atomic_fetch_add(&w->stale, 1);
        }
        sg_job_list_free(c.jobs, c.n);
    }
    return NULL;
}

static void test_i2_concurrent_claimers(void **st)
{
    struct fx *f = *st;
    struct i2 w;
    pthread_t t[WORKERS];
    int64_t counts[4], pending;
    struct sg_err err;
    int twice = 0, never = 0;

    memset(&w, 0, sizeof(w));
    w.store = f->store;
    w.n = 2000 * soak_scale();
    w.runs = sg_calloc((size_t)w.n, sizeof(*w.runs));
    assert_non_null(w.runs);
    for (int from = 0; from < w.n; from += 500) {
        struct enq_batch b = {.tenant = f->tenant, .from = from,
                              .n = SG_MIN(500, w.n - from), .tag = "i2"};

        sg_err_init(&err);
        assert_int_equal(sg_store_write(f->store, enqueue_write, &b, &err), 0);
        if (from == 0)
            w.first_id = b.first_id;
        /* Ids are consecutive: the runs[] index depends on it. */
        assert_int_equal(b.last_id - w.first_id, from + b.n - 1);
    }
    for (int i = 0; i < WORKERS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, i2_worker, &w), 0);
    for (int i = 0; i < WORKERS; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < w.n; i++) {
        twice += atomic_load(&w.runs[i]) > 1;
        never += atomic_load(&w.runs[i]) == 0;
    }
    print_message("I2: %d jobs, %d workers: completed %d, run twice %d, "
                  "never run %d, stale %d\n",
                  w.n, WORKERS, atomic_load(&w.completed), twice, never,
                  atomic_load(&w.stale));
    assert_int_equal(atomic_load(&w.completed), w.n);
    assert_int_equal(twice, 0);
    assert_int_equal(never, 0);
    assert_int_equal(atomic_load(&w.stale), 0);
    sg_err_init(&err);
    assert_int_equal(sg_store_counts(f->store, &pending, counts, &err), 0);
    assert_int_equal(counts[SG_JOB_DONE], w.n);
    assert_int_equal(counts[SG_JOB_RUNNING], 0);
    assert_int_equal(counts[SG_JOB_QUEUED], 0);
    assert_int_equal(counts[SG_JOB_DEAD], 0);
    sg_free(w.runs);
}

/* ---- I3: enqueue inside a write that rolls back ---- */

struct i3_slot {
    struct enq_batch b;
    atomic_int rc;
    atomic_bool done;
};

static void i3_done(void *arg, int rc, const struct sg_err *err)
{
    struct i3_slot *s = arg;

    SG_UNUSED(err);
    atomic_store(&s->rc, rc);
    atomic_store(&s->done, true);
}

static void test_i3_rolled_back_never_runs(void **st)
{
    struct fx *f = *st;
    int n = 1000 * soak_scale(), kept = 0, kept_want = 0, claimed = 0;
    struct i3_slot *slots = sg_calloc((size_t)n, sizeof(*slots));
    int64_t counts[4], pending;
    struct sg_err err;

    assert_non_null(slots);
    /* Submitted without waiting, so rolled-back and committed writes share
     * batch transactions: only the savepoint of each failing one goes. */
    for (int i = 0; i < n; i++) {
        struct i3_slot *s = &slots[i];

        s->b.tenant = f->tenant;
        s->b.from = i;
        s->b.n = 1;
        s->b.rollback = i % 3 != 0;
        s->b.tag = s->b.rollback ? "rollback" : "keep";
        kept_want += !s->b.rollback;
        for (int k = 0; k < 5000; k++) {
            if (sg_store_submit(f->store, enqueue_write, i3_done, s) == 0)
                break;
            usleep(1000); /* queue full: back-pressure, try again */
            if (k == 4999)
                fail_msg("write queue never drained");
        }
    }
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < 10000 && !atomic_load(&slots[i].done); k++)
            usleep(1000);
        assert_true(atomic_load(&slots[i].done));
        assert_int_equal(atomic_load(&slots[i].rc),
                         slots[i].b.rollback ? SG_EINVAL : 0);
        kept += atomic_load(&slots[i].rc) == 0;
    }
    assert_int_equal(kept, kept_want);
    /* Run everything that is runnable: no rolled-back job among it. */
    for (int round = 0; round < n; round++) {
        struct sg_job *jobs;
        size_t m = claim(f->store, 60000, 100, &jobs);

        if (m == 0) {
            sg_job_list_free(jobs, m);
            break;
        }
        for (size_t i = 0; i < m; i++) {
            if (strstr(jobs[i].payload, "rollback"))
                fail_msg("rolled-back job ran: %s", jobs[i].payload);
            claimed++;
            assert_int_equal(finish(f->store, jobs[i].id,
                                    jobs[i].lease_token, SG_JOB_DONE),
                             0);
        }
        sg_job_list_free(jobs, m);
    }
    print_message("I3: %d transactions, %d rolled back, %d jobs ran\n", n,
                  n - kept, claimed);
    assert_int_equal(claimed, kept_want);
    sg_err_init(&err);
    assert_int_equal(sg_store_counts(f->store, &pending, counts, &err), 0);
    assert_int_equal(counts[0] + counts[1] + counts[2] + counts[3],
                     kept_want);
    sg_free(slots);
}

/* ---- I4: kill -9 a worker mid-job ---- */

#define I4_LEASE_MS 30000

/*
 * The external side: a receiver that dedupes on the idempotency key. An
 * attempt is one line appended to attempts.log; the effect is a file
 * created with O_EXCL, so a second attempt with the same key finds it and
 * changes nothing.
 */
static void external_call(const char *dir, const char *key)
{
    char path[700], line[200];
    int fd, n;

    snprintf(path, sizeof(path), "%s/attempts.log", dir);
    fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (fd >= 0) {
        n = snprintf(line, sizeof(line), "%s\n", key);
        if (write(fd, line, (size_t)n) != n)
            n = -1;
        close(fd);
    }
    snprintf(path, sizeof(path), "%s/effect-%s", dir, key);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd >= 0)
        close(fd);
}

static int count_lines(const char *dir, const char *key)
{
    char path[700], *text, *p;
    size_t len, klen = strlen(key);
    int n = 0;

    snprintf(path, sizeof(path), "%s/attempts.log", dir);
    text = sgt_read_file(path, &len);
    for (p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (strncmp(p, key, klen) == 0 && p[klen] == '\n')
            n++;
    sg_free(text);
    return n;
}

static int count_effects(const char *dir, const char *key)
{
    char path[700];
    struct stat sb;

    snprintf(path, sizeof(path), "%s/effect-%s", dir, key);
    return stat(path, &sb) == 0 ? 1 : 0;
}

/*
 * One worker process: open the store, claim one job, make its external
 * call, tell the parent, and wait to be killed. The parent's store is
 * closed across the fork, so no thread or connection is shared.
 */
static void run_doomed_worker(struct fx *f, int64_t want_id)
{
    int fds[2];
    pid_t pid;
    char ok = 0;
    int status = 0;

    sg_store_free(f->store);
    f->store = NULL;
    assert_int_equal(pipe(fds), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* No cmocka asserts in here: a failure must not resume the
         * parent's test run inside the child. */
        struct sg_store_cfg cfg;
        struct sg_err err;
        struct claim_arg c = {.lease_ms = I4_LEASE_MS, .max = 1};
        char ch = 'x';

        close(fds[0]);
        sg_store_cfg_defaults(&cfg);
        cfg.backend = "sqlite";
        cfg.path = f->db;
        sg_err_init(&err);
        if (sg_store_open(&f->store, &cfg, &test_clock, &err) == 0 &&
            sg_store_write(f->store, claim_write, &c, &err) == 0 &&
            c.n == 1 && c.jobs[0].id == want_id) {
            external_call(f->dir, c.jobs[0].idempotency_key);
            ch = 'k';
        }
        if (write(fds[1], &ch, 1) != 1)
            _exit(2);
        for (int i = 0; i < 600; i++)
            sleep(1); /* mid-job, until SIGKILL */
        _exit(3);
    }
    close(fds[1]);
    assert_int_equal(read(fds[0], &ok, 1), 1);
    close(fds[0]);
    kill(pid, SIGKILL);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    assert_int_equal(ok, 'k');
    store_open(f);
}

static int64_t enqueue_one(struct fx *f, const char *key, int attempts_max)
{
    struct enq_batch b = {.tenant = f->tenant, .n = 1, .tag = "i4",
                          .idem = key, .attempts_max = attempts_max};
    struct sg_err err;

    sg_err_init(&err);
    assert_int_equal(sg_store_write(f->store, enqueue_write, &b, &err), 0);
    return b.first_id;
}

/*
 * Kill the worker holding the job; one ms before the lease ends the
 * sweep leaves it alone, one ms after it requeues it (or buries it).
 */
static void kill_and_expire(struct fx *f, int64_t id, int attempt,
                            int attempts_max)
{
    struct sg_job job;
    int64_t claimed_at = atomic_load(&clock_ms);

    run_doomed_worker(f, id);
    atomic_store(&clock_ms, claimed_at + I4_LEASE_MS);
    assert_int_equal(sweep(f->store), 0);
    job_get(f, id, &job);
    assert_int_equal(job.state, SG_JOB_RUNNING);
    sg_job_free(&job);
    atomic_store(&clock_ms, claimed_at + I4_LEASE_MS + 1);
    assert_int_equal(sweep(f->store), 1);
    job_get(f, id, &job);
    assert_int_equal(job.attempts, attempt);
    if (attempt < attempts_max) {
        assert_int_equal(job.state, SG_JOB_QUEUED);
        assert_true(job.next_run_at <= atomic_load(&clock_ms));
    } else {
        assert_int_equal(job.state, SG_JOB_DEAD);
    }
    assert_string_equal(job.last_error, "lease expired");
    sg_job_free(&job);
}

static void test_i4_killed_worker(void **st)
{
    struct fx *f = *st;
    int jobs = 4 * soak_scale(), kills = 0;
    struct sg_job job, *claimed;
    char key[64];

    /* A job whose every worker dies is dead-lettered after attempts_max. */
    {
        int64_t id = enqueue_one(f, "i4-dies", 3);

        for (int a = 1; a <= 3; a++, kills++)
            kill_and_expire(f, id, a, 3);
        job_get(f, id, &job);
        assert_int_equal(job.state, SG_JOB_DEAD);
        sg_job_free(&job);
        assert_int_equal(count_lines(f->dir, "i4-dies"), 3);
        assert_int_equal(count_effects(f->dir, "i4-dies"), 1);
    }
    /* Jobs whose workers die 1..3 times, then one completes. */
    for (int j = 0; j < jobs; j++) {
        int deaths = 1 + j % 3;
        int64_t id;
        size_t n;

        snprintf(key, sizeof(key), "i4-job-%d", j);
        id = enqueue_one(f, key, 8);
        for (int a = 1; a <= deaths; a++, kills++)
            kill_and_expire(f, id, a, 8);
        n = claim(f->store, I4_LEASE_MS, 1, &claimed);
        assert_int_equal(n, 1);
        assert_int_equal(claimed[0].id, id);
        assert_int_equal(claimed[0].attempts, deaths + 1);
        /* The same key on every attempt. */
        assert_string_equal(claimed[0].idempotency_key, key);
        external_call(f->dir, claimed[0].idempotency_key);
        assert_int_equal(finish(f->store, id, claimed[0].lease_token,
                                SG_JOB_DONE),
                         0);
        sg_job_list_free(claimed, n);
        job_get(f, id, &job);
        assert_int_equal(job.state, SG_JOB_DONE);
        sg_job_free(&job);
        assert_int_equal(count_lines(f->dir, key), deaths + 1);
        assert_int_equal(count_effects(f->dir, key), 1);
    }
    print_message("I4: %d SIGKILLs mid-job over %d jobs: each requeued "
                  "1 ms after its lease (%d ms), effect count 1 per job\n",
                  kills, jobs + 1, I4_LEASE_MS);
}

/* ---- I5: a handler that outlives its lease ---- */

static void test_i5_stale_worker_cannot_complete(void **st)
{
    struct fx *f = *st;
    int rounds = 50 * soak_scale(), refused = 0;
    const int64_t lease = 1000;

    for (int r = 0; r < rounds; r++) {
        struct sg_job *a, *b, job;
        int64_t id = enqueue_one(f, NULL, 8);
        size_t n;

        assert_int_equal(claim(f->store, lease, 1, &a), 1);
        assert_int_equal(a[0].id, id);
        /* Worker A runs 3x its lease; the sweep takes the job back. */
        atomic_fetch_add(&clock_ms, 3 * lease);
        assert_int_equal(sweep(f->store), 1);
        if (r % 2) {
            /* A finishes before anyone else claimed: still refused. */
            assert_int_equal(finish(f->store, id, a[0].lease_token,
                                    SG_JOB_DONE),
                             SG_ESTALE);
            refused++;
        }
        n = claim(f->store, lease, 1, &b);
        assert_int_equal(n, 1);
        assert_int_equal(b[0].id, id);
        assert_true(b[0].lease_token != a[0].lease_token);
        assert_int_equal(b[0].attempts, 2);
        /* A wakes up while B holds the lease: refused, B unaffected. */
        assert_int_equal(finish(f->store, id, a[0].lease_token, SG_JOB_DEAD),
                         SG_ESTALE);
        refused++;
        job_get(f, id, &job);
        assert_int_equal(job.state, SG_JOB_RUNNING);
        assert_int_equal(job.lease_token, b[0].lease_token);
        sg_job_free(&job);
        assert_int_equal(finish(f->store, id, b[0].lease_token, SG_JOB_DONE),
                         0);
        /* And after B completed, A still cannot overwrite it. */
        assert_int_equal(finish(f->store, id, a[0].lease_token, SG_JOB_DEAD),
                         SG_ESTALE);
        assert_int_equal(finish(f->store, id, b[0].lease_token, SG_JOB_DEAD),
                         SG_ESTALE);
        refused += 2;
        job_get(f, id, &job);
        assert_int_equal(job.state, SG_JOB_DONE);
        sg_job_free(&job);
        sg_job_list_free(a, 1);
        sg_job_list_free(b, 1);
    }
    print_message("I5: %d jobs whose first worker ran 3x its lease: %d stale "
                  "completions refused, 0 accepted\n",
                  rounds, refused);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_i2_concurrent_claimers, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_i3_rolled_back_never_runs, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_i4_killed_worker, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_i5_stale_worker_cannot_complete,
                                        setup, teardown),
    };

    sg_log_set_level(SG_LOG_WARN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
