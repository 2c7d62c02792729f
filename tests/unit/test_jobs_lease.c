/*
 * test_jobs_lease.c - the dispatcher's lease heartbeat (reliability I5).
 * A job whose call lasts several leases (its kind asks for a long
 * timeout) keeps its lease while the call runs: one request, one
 * attempt, nothing requeued. With the heartbeat slower than the lease,
 * the sweep hands the job to a new claim, the new holder completes it,
 * and the old worker's late answer cannot complete it again (its finish
 * is refused as stale). Store-level extension: only the holder of the
 * current lease may extend it. Real SQLite store, a loopback peer in
 * this file, the real clock; every wait is bounded.
 */
#include "core/sg.h"

#include <setjmp.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "jobs/dispatcher.h"
#include "store/store.h"
#include "testlib.h"

#define STALL_MS 2400
#define LEASE_MS 600

/* ---- a peer that stalls its first request ---- */

static struct {
    int fd;
    unsigned port;
    pthread_t acceptor;
    atomic_bool stop;
    atomic_int requests;
    atomic_int open_conns;
} P;

static void *conn_main(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[4096];
    size_t len = 0;

    /* Read the whole request head (the body is tiny and follows it). */
    for (int i = 0; i < 200 && len < sizeof(buf) - 1; i++) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        ssize_t n;

        if (poll(&p, 1, 10) <= 0)
            continue;
        n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
        if (n <= 0)
            break;
        len += (size_t)n;
        buf[len] = '\0';
        if (strstr(buf, "\r\n\r\n") && strstr(buf, "{}"))
            break;
    }
    if (len > 0) {
        static const char ok[] =
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n"
            "\r\nok";

        if (atomic_fetch_add(&P.requests, 1) == 0) {
            /* The first call outlasts several leases. */
            for (int i = 0; i < STALL_MS / 10 && !atomic_load(&P.stop); i++)
                usleep(10000);
        }
        (void)send(fd, ok, sizeof(ok) - 1, MSG_NOSIGNAL);
    }
    close(fd);
    atomic_fetch_sub(&P.open_conns, 1);
    return NULL;
}

static void *acceptor_main(void *arg)
{
    SG_UNUSED(arg);
    while (!atomic_load(&P.stop)) {
        struct pollfd p = {.fd = P.fd, .events = POLLIN};
        pthread_t t;
        int c;

        if (poll(&p, 1, 20) <= 0)
            continue;
        c = accept(P.fd, NULL, NULL);
        if (c < 0)
            continue;
        atomic_fetch_add(&P.open_conns, 1);
        if (pthread_create(&t, NULL, conn_main, (void *)(intptr_t)c) != 0) {
            close(c);
            atomic_fetch_sub(&P.open_conns, 1);
            continue;
        }
        pthread_detach(t);
    }
    return NULL;
}

static void peer_start(void)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    int one = 1;

    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    P.fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(P.fd >= 0);
    setsockopt(P.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    assert_int_equal(bind(P.fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(P.fd, 16), 0);
    assert_int_equal(getsockname(P.fd, (struct sockaddr *)&a, &len), 0);
    P.port = ntohs(a.sin_port);
    atomic_store(&P.stop, false);
    atomic_store(&P.requests, 0);
    assert_int_equal(pthread_create(&P.acceptor, NULL, acceptor_main, NULL),
                     0);
}

static void peer_stop(void)
{
    atomic_store(&P.stop, true);
    pthread_join(P.acceptor, NULL);
    close(P.fd);
    /* Detached connection threads end within their bounded loops. */
    for (int i = 0; i < 300 && atomic_load(&P.open_conns) > 0; i++)
        usleep(10000);
}

/* ---- a kind whose call may take 5 s, far past the lease ---- */

static int slow_prepare(const struct sg_job *job,
                        const struct sg_dispatcher_cfg *cfg, int64_t now_ms,
                        struct sg_job_call *call, struct sg_err *err)
{
    char url[64];

    SG_UNUSED(job);
    SG_UNUSED(cfg);
    SG_UNUSED(now_ms);
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/slow", P.port);
    snprintf(call->method, sizeof(call->method), "POST");
    call->url = sg_strdup(url);
    call->body = sg_strdup("{}");
    if (!call->url || !call->body)
        return sg_err_set(err, SG_ENOMEM, "out of memory");
    call->body_len = 2;
    call->timeout_ms = 5000;
    return sg_job_call_header(call, "Content-Type", "application/json");
}

static void slow_classify(const struct sg_job *job,
                          const struct sg_http_response *resp, int64_t now_ms,
                          const struct sg_dispatcher_cfg *cfg,
                          struct sg_job_outcome *out)
{
    SG_UNUSED(job);
    sg_job_classify_http(resp, now_ms, cfg->retry_after_max_ms, out);
}

static const struct sg_job_kind_ops slow_kind = {
    .version = SG_JOB_KIND_OPS_VERSION,
    .kind = "test.slow",
    .prepare = slow_prepare,
    .classify = slow_classify,
};

static const struct sg_job_kind_ops *const slow_kinds[] = {&slow_kind, NULL};

/* ---- fixture ---- */

struct fx {
    char *dir, *db;
    struct sg_store *store;
    int64_t tenant, job;
};

static int tenant_write(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    return sg_store_tx_tenant_insert(tx, "acme", arg, err);
}

struct enq {
    int64_t tenant, id;
};

static int enqueue_write(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    struct enq *e = arg;
    struct sg_job j;

    memset(&j, 0, sizeof(j));
    j.tenant_id = e->tenant;
    snprintf(j.kind, sizeof(j.kind), "test.slow");
    j.payload = (char *)(uintptr_t)"{}";
    j.attempts_max = 5;
    snprintf(j.platform, sizeof(j.platform), "test");
    snprintf(j.shop, sizeof(j.shop), "s1");
    snprintf(j.endpoint_class, sizeof(j.endpoint_class), "slow");
    return sg_store_tx_job_enqueue(tx, &j, &e->id, NULL, err);
}

static int setup(void **st)
{
    struct fx *f = sg_calloc(1, sizeof(*f));
    struct sg_store_cfg cfg;
    struct sg_err err;
    struct enq e;

    assert_non_null(f);
    f->dir = sgt_tmpdir();
    f->db = sgt_path(f->dir, "surge.db");
    sg_store_cfg_defaults(&cfg);
    cfg.backend = "sqlite";
    cfg.path = f->db;
    sg_err_init(&err);
    if (sg_store_open(&f->store, &cfg, NULL, &err) != 0)
        fail_msg("store open: %s", err.msg);
    assert_int_equal(sg_store_write(f->store, tenant_write, &f->tenant, &err),
                     0);
    e.tenant = f->tenant;
    e.id = 0;
    assert_int_equal(sg_store_write(f->store, enqueue_write, &e, &err), 0);
    f->job = e.id;
    peer_start();
    *st = f;
    return 0;
}

/*
 * The dispatcher run_until_done started: a failed assertion leaves the
 * test by longjmp with it running, and teardown must stop it before the
 * store goes (the D5 sweep saw the dispatcher use a freed store).
 */
static struct sg_dispatcher *running;

static int teardown(void **st)
{
    struct fx *f = *st;
    char *p;

    if (running) {
        sg_dispatcher_stop(running);
        sg_dispatcher_free(running);
        running = NULL;
    }
    peer_stop();
    sg_store_free(f->store);
    p = sgt_path(f->dir, "surge.db-wal");
    unlink(p);
    sg_free(p);
    p = sgt_path(f->dir, "surge.db-shm");
    unlink(p);
    sg_free(p);
    unlink(f->db);
    rmdir(f->dir);
    sg_free(f->db);
    sg_free(f->dir);
    sg_free(f);
    return 0;
}

static void base_cfg(struct sg_dispatcher_cfg *cfg)
{
    sg_dispatcher_cfg_defaults(cfg);
    cfg->lease_ms = LEASE_MS;
    cfg->request_timeout_ms = 200;
    cfg->requeue_every_ms = 20;
    cfg->idle_max_ms = 20;
    cfg->backoff_base_ms = 5;
    cfg->backoff_max_ms = 20;
    cfg->allow_private_urls = true;
    cfg->kinds = slow_kinds;
}

/* Run the dispatcher until the job is DONE and the stall has ended. */
static void run_until_done(struct fx *f, const struct sg_dispatcher_cfg *cfg,
                           struct sg_job *job_out,
                           struct sg_dispatcher_stats *s)
{
    struct sg_dispatcher *d = NULL;
    struct sg_err err;
    bool done = false;

    sg_err_init(&err);
    assert_int_equal(sg_dispatcher_new(&d, f->store, cfg, NULL, &err), 0);
    running = d;
    assert_int_equal(sg_dispatcher_start(d, &err), 0);
    /* Bounded: 8 s, far past the stall. */
    for (int i = 0; i < 800; i++) {
        memset(job_out, 0, sizeof(*job_out));
        assert_int_equal(sg_store_job_get(f->store, f->tenant, f->job,
                                          job_out, &err),
                         0);
        done = job_out->state == SG_JOB_DONE;
        if (done) {
            /* Wait for the stalled call's own answer to come back. */
            sg_dispatcher_stats(d, s);
            if (s->in_flight == 0 && atomic_load(&P.open_conns) == 0 &&
                s->succeeded + s->stale >= (uint64_t)s->claimed)
                break;
        }
        sg_job_free(job_out);
        usleep(10000);
    }
    running = NULL;
    sg_dispatcher_stop(d);
    sg_dispatcher_stats(d, s);
    sg_dispatcher_free(d);
    assert_true(done);
}

/* The heartbeat keeps a call that lasts four leases: sent once. */
static void test_heartbeat_keeps_lease(void **st)
{
    struct fx *f = *st;
    struct sg_dispatcher_cfg cfg;
    struct sg_dispatcher_stats s;
    struct sg_job job;

    base_cfg(&cfg); /* heartbeat_ms 0: every lease_ms / 3 */
    run_until_done(f, &cfg, &job, &s);
    print_message("I5: heartbeat: %d request(s), attempts %d, %" PRIu64
                  " extensions, %" PRIu64 " requeued\n",
                  atomic_load(&P.requests), job.attempts, s.lease_extended,
                  s.requeued);
    assert_int_equal(atomic_load(&P.requests), 1);
    assert_int_equal(job.attempts, 1);
    assert_int_equal(s.requeued, 0);
    assert_int_equal(s.stale, 0);
    assert_int_equal(s.lease_lost, 0);
    assert_int_equal(s.succeeded, 1);
    /* 2.4 s of call under a 0.6 s lease: at least a few beats. */
    assert_true(s.lease_extended >= 3);
    sg_job_free(&job);
}

/*
 * With the heartbeat slower than the lease, the sweep requeues the job,
 * a new claim sends it again and completes it; the first call's late
 * answer finds the lease gone and cannot complete it a second time.
 */
static void test_stale_worker_cannot_complete(void **st)
{
    struct fx *f = *st;
    struct sg_dispatcher_cfg cfg;
    struct sg_dispatcher_stats s;
    struct sg_job job;

    base_cfg(&cfg);
    cfg.heartbeat_ms = LEASE_MS - 1;
    run_until_done(f, &cfg, &job, &s);
    print_message("I5: no heartbeat in time: %d requests, attempts %d, %"
                  PRIu64 " requeued, %" PRIu64 " stale finishes, %" PRIu64
                  " leases found lost\n",
                  atomic_load(&P.requests), job.attempts, s.requeued,
                  s.stale, s.lease_lost);
    assert_int_equal(atomic_load(&P.requests), 2);
    assert_int_equal(job.attempts, 2);
    assert_true(s.requeued >= 1);
    assert_int_equal(s.succeeded, 2); /* both calls answered 200 ... */
    assert_int_equal(s.stale, 1);     /* ... but only one finish held */
    sg_job_free(&job);
}

/* The wall clock two minutes ahead: every short lease has expired. */
static int64_t late_now(const struct sg_clock *c)
{
    SG_UNUSED(c);
    return sg_clock_now_ms(NULL) + 120000;
}

static const struct sg_clock late_clock = {.now_ms = late_now};

struct claim_arg {
    struct sg_job *jobs;
    size_t n;
};

static int claim_write(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    struct claim_arg *c = arg;

    return sg_store_tx_job_claim(tx, LEASE_MS, 1, &c->jobs, &c->n, err);
}

struct ext_arg {
    int64_t id, token, until;
};

static int extend_write(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    struct ext_arg *x = arg;

    return sg_store_tx_job_extend(tx, x->id, x->token, 60000, &x->until, err);
}

static int requeue_write(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    return sg_store_tx_job_requeue_expired(tx, arg, err);
}

/* Store level: only the current lease holder may extend. */
static void test_extend_needs_current_lease(void **st)
{
    struct fx *f = *st;
    struct claim_arg c = {0};
    struct ext_arg x;
    struct sg_err err;
    struct sg_job job;
    size_t n = 0;
    int64_t old_token;

    sg_err_init(&err);
    assert_int_equal(sg_store_write(f->store, claim_write, &c, &err), 0);
    assert_int_equal(c.n, 1);
    x.id = c.jobs[0].id;
    old_token = c.jobs[0].lease_token;
    sg_job_list_free(c.jobs, c.n);
    x.token = old_token;
    assert_int_equal(sg_store_write(f->store, extend_write, &x, &err), 0);
    memset(&job, 0, sizeof(job));
    assert_int_equal(sg_store_job_get(f->store, f->tenant, x.id, &job, &err),
                     0);
    assert_int_equal(job.lease_until, x.until);
    assert_true(job.lease_until > sg_clock_now_ms(NULL) + LEASE_MS);
    sg_job_free(&job);
    /* A wrong token is refused. */
    x.token = old_token + 1;
    assert_int_equal(sg_store_write(f->store, extend_write, &x, &err),
                     SG_ESTALE);
    /* Extended: the sweep leaves it after its first lease is over. */
    usleep((LEASE_MS + 50) * 1000);
    assert_int_equal(sg_store_write(f->store, requeue_write, &n, &err), 0);
    assert_int_equal(n, 0);
    /* Claim it again after a real expiry: the old token is dead. */
    sg_store_free(f->store);
    {
        struct sg_store_cfg cfg;

        sg_store_cfg_defaults(&cfg);
        cfg.backend = "sqlite";
        cfg.path = f->db;
        assert_int_equal(sg_store_open(&f->store, &cfg, &late_clock, &err),
                         0);
    }
    assert_int_equal(sg_store_write(f->store, requeue_write, &n, &err), 0);
    assert_int_equal(n, 1);
    c.jobs = NULL;
    c.n = 0;
    assert_int_equal(sg_store_write(f->store, claim_write, &c, &err), 0);
    assert_int_equal(c.n, 1);
    assert_true(c.jobs[0].lease_token != old_token);
    x.token = old_token;
    assert_int_equal(sg_store_write(f->store, extend_write, &x, &err),
                     SG_ESTALE);
    x.token = c.jobs[0].lease_token;
    assert_int_equal(sg_store_write(f->store, extend_write, &x, &err), 0);
    sg_job_list_free(c.jobs, c.n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_heartbeat_keeps_lease, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_stale_worker_cannot_complete,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_extend_needs_current_lease,
                                        setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
