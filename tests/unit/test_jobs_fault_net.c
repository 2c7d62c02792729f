/*
 * test_jobs_fault_net.c - the dispatcher against a faulty network
 * (reliability N1-N3): a real SQLite store, notify.http jobs, and a
 * loopback receiver in this file that injects 429 (with and without
 * Retry-After), 5xx, resets, stalls and answers lost after the commit,
 * and dedupes on Idempotency-Key the way a careful receiver does.
 * N2 and N3 run on a manual clock that the test moves, so backoff
 * windows and breaker cycles are exact. SG_SOAK_SCALE multiplies the
 * job counts; every wait is bounded.
 */
#include "core/sg.h"

#include <setjmp.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"
#include "jobs/backoff.h"
#include "jobs/breaker.h"
#include "jobs/dispatcher.h"
#include "store/store.h"
#include "testlib.h"

#define CONNS_MAX 512
#define T0        1700000000000LL

static int soak_scale(void)
{
    const char *v = getenv("SG_SOAK_SCALE");
    long n = v ? strtol(v, NULL, 10) : 1;

    return n < 1 ? 1 : n > 1000 ? 1000 : (int)n;
}

/* The manual clock: store and dispatcher read it from their threads. */
static _Atomic int64_t clock_ms = T0;

static int64_t atomic_now(const struct sg_clock *c)
{
    SG_UNUSED(c);
    return atomic_load(&clock_ms);
}

static const struct sg_clock test_clock = {.now_ms = atomic_now};

/* ---- the receiver ---- */

enum { MODE_FAIL = 0, MODE_OK = 1, MODE_N1 = 2 };

struct peer {
    int fd;
    unsigned port;
    pthread_t acceptor;
    pthread_t conns[CONNS_MAX];
    atomic_int n_conns;
    atomic_bool stop;
    pthread_mutex_t lock;
    int mode;
    uint64_t rng;
    unsigned stall_ms;
    /* per job, indexed by id - first_id */
    int64_t first_id;
    int n_jobs;
    int *deliveries; /* requests carrying the job's key */
    int *committed;  /* the effect was applied (at most once: deduped) */
    int *acked;      /* 2xx answers sent for the key */
    int *keys_seen;  /* distinct Idempotency-Key values per job */
    char (*first_key)[64];
    /* whole run */
    int64_t *arrivals; /* wall ms of each request */
    size_t n_arrivals, arrivals_max;
    int64_t ra_until;  /* no request may arrive before this (429 + RA) */
    int in_window;     /* requests that did */
    int after_ack;     /* requests for a key already answered 2xx */
    int bad_key;
    int n429_ra, n429, n5xx, nreset, nlost, nstall, nok;
};

static bool wait_readable(struct peer *pe, int fd)
{
    for (int i = 0; i < 1000 && !atomic_load(&pe->stop); i++) {
        struct pollfd p = {.fd = fd, .events = POLLIN};

        if (poll(&p, 1, 10) > 0)
            return true;
    }
    return false;
}

/* Read one request's headers and body; the Idempotency-Key into key. */
static bool read_request(struct peer *pe, int fd, char *key, size_t key_size)
{
    char buf[8192];
    size_t len = 0, hdr = 0, need, n;
    const char *p;

    key[0] = '\0';
    while (hdr == 0) {
        ssize_t r;

        if (len == sizeof(buf) - 1 || !wait_readable(pe, fd))
            return false;
        r = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
        if (r <= 0)
            return false;
        len += (size_t)r;
        buf[len] = '\0';
        p = strstr(buf, "\r\n\r\n");
        if (p)
            hdr = (size_t)(p - buf) + 4;
    }
    need = hdr;
    for (p = buf; p < buf + hdr;) {
        const char *eol = strstr(p, "\r\n");

        if (!eol)
            break;
        if (strncasecmp(p, "content-length:", 15) == 0)
            need = hdr + (size_t)strtoul(p + 15, NULL, 10);
        if (strncasecmp(p, "idempotency-key:", 16) == 0) {
            const char *v = p + 16;

            v += strspn(v, " ");
            n = (size_t)(eol - v);
            snprintf(key, key_size, "%.*s", (int)SG_MIN(n, key_size - 1), v);
        }
        p = eol + 2;
    }
    if (need > sizeof(buf) - 1)
        return false;
    while (len < need) {
        ssize_t r;

        if (!wait_readable(pe, fd))
            return false;
        r = recv(fd, buf + len, need - len, 0);
        if (r <= 0)
            return false;
        len += (size_t)r;
    }
    return true;
}

static void send_status(int fd, int status, const char *extra)
{
    char resp[256];
    int n = snprintf(resp, sizeof(resp),
                     "HTTP/1.1 %d X\r\nContent-Length: 2\r\n%s\r\nok",
                     status, extra);

    if (send(fd, resp, (size_t)n, MSG_NOSIGNAL) != n)
        return;
}

static void reset_close(int fd)
{
    struct linger l = {1, 0};

    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
    close(fd);
}

static uint64_t peer_rand(struct peer *pe, uint64_t bound)
{
    pe->rng = pe->rng * UINT64_C(6364136223846793005) + 1442695040888963407u;
    return (pe->rng >> 33) % bound;
}

enum { ACT_OK, ACT_FAIL, ACT_429_RA, ACT_429, ACT_RESET, ACT_LOST, ACT_STALL };

/* Under the lock: account for one request and pick the answer. */
static int peer_decide(struct peer *pe, const char *key)
{
    int64_t now = sg_clock_now_ms(NULL);
    long long id = -1;
    int64_t k = -1;
    uint64_t r;
    int act;

    if (pe->n_arrivals < pe->arrivals_max)
        pe->arrivals[pe->n_arrivals++] = now;
    if (now < pe->ra_until)
        pe->in_window++;
    if (sscanf(key, "job-%lld", &id) == 1 && pe->n_jobs > 0)
        k = id - pe->first_id;
    if (pe->n_jobs > 0 && (k < 0 || k >= pe->n_jobs)) {
        pe->bad_key++;
        k = -1;
    }
    if (k >= 0) {
        if (pe->deliveries[k]++ == 0) {
            snprintf(pe->first_key[k], sizeof(pe->first_key[k]), "%s", key);
            pe->keys_seen[k] = 1;
        } else if (strcmp(pe->first_key[k], key) != 0) {
            pe->keys_seen[k]++;
        }
        if (pe->acked[k] > 0)
            pe->after_ack++;
    }
    if (pe->mode == MODE_FAIL)
        return ACT_FAIL;
    if (pe->mode == MODE_OK) {
        act = ACT_OK;
    } else {
        /* N1's mix: 5% 429 + Retry-After, 5% bare 429, 5% 5xx, 2% reset,
         * 2% lost after commit, 1% stall, 80% fine. */
        r = peer_rand(pe, 1000);
        act = r < 50    ? ACT_429_RA
              : r < 100 ? ACT_429
              : r < 150 ? ACT_FAIL
              : r < 170 ? ACT_RESET
              : r < 190 ? ACT_LOST
              : r < 200 ? ACT_STALL
                        : ACT_OK;
    }
    switch (act) {
    case ACT_429_RA:
        pe->n429_ra++;
        /* Taken before the answer leaves, so a request sent after the
         * dispatcher read it cannot arrive earlier. */
        pe->ra_until = now + 300;
        break;
    case ACT_429:
        pe->n429++;
        break;
    case ACT_FAIL:
        pe->n5xx++;
        break;
    case ACT_RESET:
        pe->nreset++;
        break;
    case ACT_STALL:
        pe->nstall++;
        break;
    case ACT_LOST:
        pe->nlost++;
        if (k >= 0)
            pe->committed[k] = 1;
        break;
    default:
        pe->nok++;
        if (k >= 0) {
            pe->committed[k] = 1; /* a second one is deduped: no effect */
            pe->acked[k]++;
        }
        break;
    }
    return act;
}

struct conn_arg {
    struct peer *pe;
    int fd;
};

static void *conn_main(void *arg)
{
    struct peer *pe = ((struct conn_arg *)arg)->pe;
    int fd = ((struct conn_arg *)arg)->fd;
    char key[64];

    sg_free(arg);
    while (read_request(pe, fd, key, sizeof(key))) {
        int act;

        pthread_mutex_lock(&pe->lock);
        act = peer_decide(pe, key);
        pthread_mutex_unlock(&pe->lock);
        if (act == ACT_RESET || act == ACT_LOST) {
            reset_close(fd);
            return NULL;
        }
        if (act == ACT_STALL) {
            for (unsigned i = 0; i < pe->stall_ms / 10 &&
                                 !atomic_load(&pe->stop);
                 i++)
                usleep(10000);
            send_status(fd, 503, "");
            break;
        }
        send_status(fd, act == ACT_OK ? 200 : act == ACT_FAIL ? 500 : 429,
                    act == ACT_429_RA ? "Retry-After: 0.3\r\n" : "");
    }
    close(fd);
    return NULL;
}

static void *acceptor_main(void *arg)
{
    struct peer *pe = arg;

    while (!atomic_load(&pe->stop)) {
        struct pollfd p = {.fd = pe->fd, .events = POLLIN};
        struct conn_arg *ca;
        int fd, i;

        if (poll(&p, 1, 10) <= 0)
            continue;
        fd = accept(pe->fd, NULL, NULL);
        if (fd < 0)
            continue;
        i = atomic_load(&pe->n_conns);
        ca = sg_calloc(1, sizeof(*ca));
        if (i >= CONNS_MAX || !ca) {
            sg_free(ca);
            close(fd);
            continue;
        }
        ca->pe = pe;
        ca->fd = fd;
        if (pthread_create(&pe->conns[i], NULL, conn_main, ca) != 0) {
            sg_free(ca);
            close(fd);
            continue;
        }
        atomic_store(&pe->n_conns, i + 1);
    }
    return NULL;
}

static void peer_start(struct peer *pe, int mode, size_t arrivals_max)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t sl = sizeof(sa);

    memset(pe, 0, sizeof(*pe));
    pthread_mutex_init(&pe->lock, NULL);
    pe->mode = mode;
    pe->rng = 20261125;
    pe->stall_ms = 700;
    pe->arrivals_max = arrivals_max;
    pe->arrivals = sg_calloc(arrivals_max, sizeof(*pe->arrivals));
    assert_non_null(pe->arrivals);
    pe->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(pe->fd >= 0);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(pe->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(pe->fd, 256), 0);
    assert_int_equal(getsockname(pe->fd, (struct sockaddr *)&sa, &sl), 0);
    pe->port = ntohs(sa.sin_port);
    assert_int_equal(pthread_create(&pe->acceptor, NULL, acceptor_main, pe), 0);
}

/* Per-job tracking for jobs first_id .. first_id + n - 1. */
static void peer_track(struct peer *pe, int64_t first_id, int n)
{
    pthread_mutex_lock(&pe->lock);
    pe->first_id = first_id;
    pe->deliveries = sg_calloc((size_t)n, sizeof(int));
    pe->committed = sg_calloc((size_t)n, sizeof(int));
    pe->acked = sg_calloc((size_t)n, sizeof(int));
    pe->keys_seen = sg_calloc((size_t)n, sizeof(int));
    pe->first_key = sg_calloc((size_t)n, sizeof(*pe->first_key));
    assert_true(pe->deliveries && pe->committed && pe->acked &&
                pe->keys_seen && pe->first_key);
    pe->n_jobs = n;
    pthread_mutex_unlock(&pe->lock);
}

static void peer_stop(struct peer *pe)
{
    atomic_store(&pe->stop, true);
    pthread_join(pe->acceptor, NULL);
    for (int i = 0; i < atomic_load(&pe->n_conns); i++)
        pthread_join(pe->conns[i], NULL);
    close(pe->fd);
    pthread_mutex_destroy(&pe->lock);
    sg_free(pe->arrivals);
    sg_free(pe->deliveries);
    sg_free(pe->committed);
    sg_free(pe->acked);
    sg_free(pe->keys_seen);
    sg_free(pe->first_key);
}

static size_t peer_count(struct peer *pe)
{
    size_t n;

    pthread_mutex_lock(&pe->lock);
    n = pe->n_arrivals;
    pthread_mutex_unlock(&pe->lock);
    return n;
}

static void peer_mode(struct peer *pe, int mode)
{
    pthread_mutex_lock(&pe->lock);
    pe->mode = mode;
    pthread_mutex_unlock(&pe->lock);
}

/* ---- store, jobs, dispatcher ---- */

struct fx {
    char *dir, *db;
    struct sg_store *store;
    struct sg_dispatcher *d;
    struct peer peer;
    char url[64];
    int64_t tenant;
};

static int tenant_write(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    return sg_store_tx_tenant_insert(tx, "acme", arg, err);
}

static void fx_open(struct fx *f, const struct sg_clock *clock)
{
    struct sg_store_cfg cfg;
    struct sg_err err;

    memset(f, 0, sizeof(*f));
    atomic_store(&clock_ms, T0);
    f->dir = sgt_tmpdir();
    assert_non_null(f->dir);
    f->db = sgt_path(f->dir, "surge.db");
    sg_store_cfg_defaults(&cfg);
    cfg.backend = "sqlite";
    cfg.path = f->db;
    sg_err_init(&err);
    if (sg_store_open(&f->store, &cfg, clock, &err) != 0)
        fail_msg("store open: %s", err.msg);
    assert_int_equal(sg_store_write(f->store, tenant_write, &f->tenant, &err),
                     0);
}

static void fx_close(struct fx *f)
{
    static const char *const suffix[] = {"", "-wal", "-shm"};

    sg_dispatcher_free(f->d);
    sg_store_free(f->store);
    peer_stop(&f->peer);
    for (size_t i = 0; i < SG_ARRAY_SIZE(suffix); i++) {
        char p[600];

        snprintf(p, sizeof(p), "%s%s", f->db, suffix[i]);
        unlink(p);
    }
    rmdir(f->dir);
    sg_free(f->db);
    sg_free(f->dir);
}

struct enq {
    int64_t tenant;
    const char *kind;
    int n;
    int dead_every; /* every k-th job gets attempts_max 1 (0 = none) */
    int attempts_max;
    int64_t first_id, last_id;
};

static int enqueue_write(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    struct enq *e = arg;

    for (int i = 0; i < e->n; i++) {
        struct sg_job job;
        int64_t id;
        int rc;

        memset(&job, 0, sizeof(job));
        job.tenant_id = e->tenant;
        snprintf(job.kind, sizeof(job.kind), "%s", e->kind);
        job.payload = (char *)(uintptr_t) "{\"event\":\"order.paid\","
                                          "\"data\":{\"order\":\"42\"}}";
        job.attempts_max = e->dead_every && i % e->dead_every == 0
                               ? 1
                               : e->attempts_max;
        rc = sg_store_tx_job_enqueue(tx, &job, &id, NULL, err);
        if (rc)
            return rc;
        if (i == 0)
            e->first_id = id;
        e->last_id = id;
    }
    return 0;
}

static int64_t enqueue(struct fx *f, const char *kind, int n, int dead_every,
                       int attempts_max)
{
    struct enq e = {f->tenant, kind, n, dead_every, attempts_max, 0, 0};
    struct sg_err err;

    sg_err_init(&err);
    if (sg_store_write(f->store, enqueue_write, &e, &err) != 0)
        fail_msg("enqueue: %s", err.msg);
    assert_int_equal(e.last_id - e.first_id, n - 1);
    return e.first_id;
}

static void base_cfg(struct fx *f, struct sg_dispatcher_cfg *cfg)
{
    sg_dispatcher_cfg_defaults(cfg);
    snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%u/hook", f->peer.port);
    cfg->notify_url = f->url;
    cfg->notify_secret = "fault-secret";
    cfg->allow_private_urls = true; /* the receiver is on loopback */
    cfg->request_timeout_ms = 400;
    cfg->lease_ms = 10000;
}

static void start(struct fx *f, const struct sg_dispatcher_cfg *cfg)
{
    struct sg_err err;

    sg_err_init(&err);
    if (sg_dispatcher_new(&f->d, f->store, cfg, NULL, &err) != 0)
        fail_msg("dispatcher: %s", err.msg);
    assert_int_equal(sg_dispatcher_start(f->d, &err), 0);
}

static void counts(struct fx *f, int64_t out[4])
{
    int64_t pending;
    struct sg_err err;

    sg_err_init(&err);
    assert_int_equal(sg_store_counts(f->store, &pending, out, &err), 0);
}

/* Visit every job of the tenant in state (-1 = any). */
static void each_job(struct fx *f, int state,
                     void (*fn)(const struct sg_job *, void *), void *arg)
{
    int64_t after = 0;

    for (int page = 0; page < 100000; page++) {
        struct sg_job *jobs = NULL;
        size_t n = 0;
        struct sg_err err;

        sg_err_init(&err);
        assert_int_equal(sg_store_job_list(f->store, f->tenant, state, after,
                                           SG_STORE_LIST_MAX, &jobs, &n, &err),
                         0);
        for (size_t i = 0; i < n; i++)
            fn(&jobs[i], arg);
        if (n)
            after = jobs[n - 1].id;
        sg_job_list_free(jobs, n);
        if (n == 0)
            return;
    }
}

/* ---- N1: the fault mix ---- */

struct n1_check {
    struct peer *pe;
    int done, dead, dead_no_reason, done_uncommitted, multi_key;
};

static void n1_visit(const struct sg_job *j, void *arg)
{
    struct n1_check *c = arg;
    int64_t k = j->id - c->pe->first_id;

    if (j->state == SG_JOB_DONE) {
        c->done++;
        if (!c->pe->committed[k])
            c->done_uncommitted++;
    } else if (j->state == SG_JOB_DEAD) {
        c->dead++;
        if (!j->last_error || !strstr(j->last_error, "attempts exhausted"))
            c->dead_no_reason++;
    }
    if (c->pe->keys_seen[k] > 1)
        c->multi_key++;
}

static void test_n1_fault_mix(void **st)
{
    struct fx f;
    struct sg_dispatcher_cfg cfg;
    struct sg_dispatcher_stats s;
    struct n1_check c;
    int n = 150 * soak_scale(), max_in_second = 0;
    int64_t cnt[4];
    int64_t first;

    SG_UNUSED(st);
    fx_open(&f, NULL);
    peer_start(&f.peer, MODE_N1, (size_t)n * 20);
    base_cfg(&f, &cfg);
    /* One call at a time, so "sent after the 429 was read" is exactly
     * "arrived after the 429 was answered". */
    cfg.concurrency = 1;
    cfg.backoff_base_ms = 10;
    cfg.backoff_max_ms = 40;
    cfg.rate_per_sec = 100;
    cfg.burst = 5;
    cfg.attempts_max = 8;
    first = enqueue(&f, "notify.http", n, 10, 8);
    peer_track(&f.peer, first, n);
    start(&f, &cfg);
    for (int i = 0; i < 12000; i++) {
        counts(&f, cnt);
        if (cnt[SG_JOB_DONE] + cnt[SG_JOB_DEAD] == n)
            break;
        usleep(5000);
    }
    sg_dispatcher_stop(f.d);
    counts(&f, cnt);
    assert_int_equal(cnt[SG_JOB_DONE] + cnt[SG_JOB_DEAD], n);
    memset(&c, 0, sizeof(c));
    c.pe = &f.peer;
    pthread_mutex_lock(&f.peer.lock);
    each_job(&f, -1, n1_visit, &c);
    /* The configured bucket: burst 5, 100/s: at most 105 in any second. */
    for (size_t i = 0, j = 0; i < f.peer.n_arrivals; i++) {
        while (f.peer.arrivals[i] - f.peer.arrivals[j] >= 1000)
            j++;
        max_in_second = SG_MAX(max_in_second, (int)(i - j + 1));
    }
    sg_dispatcher_stats(f.d, &s);
    print_message("N1: %d jobs, %zu requests (429+RA %d, 429 %d, 5xx %d, "
                  "reset %d, lost-after-commit %d, stall %d, ok %d): done %d, "
                  "dead %d; in Retry-After window %d; after a 2xx %d; "
                  "max %d requests in 1 s; released %" PRIu64 "\n",
                  n, f.peer.n_arrivals, f.peer.n429_ra, f.peer.n429,
                  f.peer.n5xx, f.peer.nreset, f.peer.nlost, f.peer.nstall,
                  f.peer.nok, c.done, c.dead, f.peer.in_window,
                  f.peer.after_ack, max_in_second, s.released);
    assert_int_equal(c.done + c.dead, n);
    assert_int_equal(c.dead_no_reason, 0);
    assert_int_equal(c.done_uncommitted, 0);
    assert_int_equal(c.multi_key, 0);
    assert_int_equal(f.peer.bad_key, 0);
    assert_int_equal(f.peer.in_window, 0);
    assert_int_equal(f.peer.after_ack, 0);
    assert_true(max_in_second <= 5 + 100);
    /* The mix really happened. */
    assert_true(f.peer.n429_ra > 0 && f.peer.n429 > 0 && f.peer.n5xx > 0);
    assert_true(f.peer.nreset > 0 && f.peer.nlost > 0 && f.peer.nstall > 0);
    pthread_mutex_unlock(&f.peer.lock);
    fx_close(&f);
}

/* ---- N2: 1,000 jobs fail at the same instant ---- */

/* notify.http whose failures leave the breaker alone, so that every
 * retry's delay is the backoff's and nothing else's. */
static int n2_prepare(const struct sg_job *job,
                      const struct sg_dispatcher_cfg *cfg, int64_t now_ms,
                      struct sg_job_call *call, struct sg_err *err)
{
    return sg_job_kind_notify_http.prepare(job, cfg, now_ms, call, err);
}

static void n2_classify(const struct sg_job *job,
                        const struct sg_http_response *resp, int64_t now_ms,
                        const struct sg_dispatcher_cfg *cfg,
                        struct sg_job_outcome *out)
{
    sg_job_kind_notify_http.classify(job, resp, now_ms, cfg, out);
    out->breaker = SG_BREAKER_NEUTRAL;
}

static const struct sg_job_kind_ops n2_kind = {
    .version = SG_JOB_KIND_OPS_VERSION,
    .kind = "test.n2",
    .prepare = n2_prepare,
    .classify = n2_classify,
};

static const struct sg_job_kind_ops *const n2_kinds[] = {&n2_kind, NULL};

struct n2_bins {
    int64_t now, ceiling;
    int attempt;
    int bins[10];
    int n, out_of_range, wrong_attempt;
};

static void n2_visit(const struct sg_job *j, void *arg)
{
    struct n2_bins *b = arg;
    int64_t delay = j->next_run_at - b->now;

    if (j->attempts != b->attempt)
        b->wrong_attempt++;
    if (delay < 0 || delay > b->ceiling) {
        b->out_of_range++;
        return;
    }
    b->bins[SG_MIN(9, delay * 10 / (b->ceiling + 1))]++;
    b->n++;
}

static void test_n2_full_jitter(void **st)
{
    struct fx f;
    struct sg_dispatcher_cfg cfg;
    struct sg_backoff bo = {.base_ms = 1000, .cap_ms = 3600000};
    int n = 1000 * soak_scale();
    int64_t cnt[4] = {0};

    SG_UNUSED(st);
    fx_open(&f, &test_clock);
    peer_start(&f.peer, MODE_FAIL, (size_t)n * 4);
    base_cfg(&f, &cfg);
    cfg.kinds = n2_kinds;
    cfg.concurrency = 64;
    cfg.claim_batch = 64;
    cfg.backoff_base_ms = bo.base_ms;
    cfg.backoff_max_ms = bo.cap_ms;
    cfg.rate_per_sec = 1e6; /* the clock stands still: no refill */
    cfg.burst = 1e6;
    cfg.rand = NULL; /* the production source */
    peer_track(&f.peer, enqueue(&f, "test.n2", n, 0, 100), n);
    start(&f, &cfg);
    for (int attempt = 1; attempt <= 3; attempt++) {
        struct sg_dispatcher_stats s = {0};
        struct n2_bins b;
        int worst = 0;

        /* Every job has failed this attempt (at the same clock instant)
         * and its retry is committed. Bounded at 30 s, and given up after
         * 10 s without any change: a job whose finish could not be written
         * (out of memory, in the D5 sweep) stays leased until its lease
         * runs out, which this standing clock never allows, and waiting
         * the whole bound would outlast the sweep's time limit. */
        for (int i = 0, still = 0; i < 6000 && still < 2000; i++) {
            uint64_t was[4] = {s.retried, (uint64_t)cnt[SG_JOB_QUEUED],
                               s.in_flight, s.held};

            sg_dispatcher_stats(f.d, &s);
            counts(&f, cnt);
            if (s.retried == (uint64_t)n * (uint64_t)attempt &&
                cnt[SG_JOB_QUEUED] == n && s.in_flight == 0 && s.held == 0)
                break;
            still = i > 0 && was[0] == s.retried &&
                            was[1] == (uint64_t)cnt[SG_JOB_QUEUED] &&
                            was[2] == s.in_flight && was[3] == s.held
                        ? still + 1
                        : 0;
            usleep(5000);
        }
        assert_int_equal(s.retried, (uint64_t)n * (uint64_t)attempt);
        assert_int_equal(cnt[SG_JOB_QUEUED], n);
        memset(&b, 0, sizeof(b));
        b.now = atomic_load(&clock_ms);
        b.attempt = attempt;
        b.ceiling = sg_backoff_ceiling(&bo, (unsigned)attempt - 1);
        each_job(&f, SG_JOB_QUEUED, n2_visit, &b);
        for (int i = 0; i < 10; i++)
            worst = SG_MAX(worst, b.bins[i]);
        print_message("N2: attempt %d, %d retries in [0, %" PRId64
                      "] ms: bins %d %d %d %d %d %d %d %d %d %d "
                      "(largest %.1f%%)\n",
                      attempt, b.n, b.ceiling, b.bins[0], b.bins[1],
                      b.bins[2], b.bins[3], b.bins[4], b.bins[5], b.bins[6],
                      b.bins[7], b.bins[8], b.bins[9], 100.0 * worst / n);
        assert_int_equal(b.out_of_range, 0);
        assert_int_equal(b.wrong_attempt, 0);
        assert_int_equal(b.n, n);
        assert_true(worst * 100 <= 15 * n);
        /* Everything is due again: the next attempt fails together. */
        atomic_fetch_add(&clock_ms, b.ceiling + 1);
        sg_dispatcher_kick(f.d);
    }
    fx_close(&f);
}

/* ---- N3: 100% 5xx, then recovery ---- */

/* Wait until the receiver has seen no new request for quiet_ms (real). */
static size_t settle(struct fx *f, int quiet_ms)
{
    size_t last = peer_count(&f->peer);
    int still = 0;

    for (int i = 0; i < 3000 && still < quiet_ms / 10; i++) {
        size_t now;

        usleep(10000);
        now = peer_count(&f->peer);
        still = now == last ? still + 1 : 0;
        last = now;
    }
    return last;
}

static void test_n3_breaker_cycles(void **st)
{
    struct fx f;
    struct sg_dispatcher_cfg cfg;
    int n = 200 * soak_scale();
    const int64_t open_ms = 30000;
    size_t before, calls;
    int64_t cnt[4], recovered_at;

    SG_UNUSED(st);
    fx_open(&f, &test_clock);
    peer_start(&f.peer, MODE_FAIL, (size_t)n * 10);
    base_cfg(&f, &cfg);
    cfg.concurrency = 4;
    cfg.breaker_min_calls = 10; /* Resilience4j's defaults */
    cfg.breaker_failure_pct = 50;
    cfg.breaker_probes = 10;
    cfg.breaker_open_ms = open_ms;
    cfg.backoff_base_ms = 10;
    cfg.backoff_max_ms = 40;
    cfg.rate_per_sec = 1e6;
    cfg.burst = 1e6;
    peer_track(&f.peer, enqueue(&f, "notify.http", n, 0, 1000), n);
    start(&f, &cfg);
    /* Outage: it opens once min_calls failures are in, and stays open
     * while the clock stands still. */
    calls = settle(&f, 300);
    print_message("N3: outage: breaker opened after %zu calls (min 10, "
                  "concurrency 4)\n", calls);
    assert_true(calls >= 10 && calls <= 10 + 3);
    /* Two half-open cycles while still down: at most 10 probes each. */
    for (int cycle = 1; cycle <= 2; cycle++) {
        before = calls;
        atomic_fetch_add(&clock_ms, open_ms);
        sg_dispatcher_kick(f.d);
        calls = settle(&f, 300);
        print_message("N3: half-open cycle %d while down: %zu probes\n",
                      cycle, calls - before);
        assert_true(calls - before >= 1 && calls - before <= 10);
    }
    /* Recovery: the next half-open cycle closes it, and the backlog
     * drains before another open period could have passed. */
    peer_mode(&f.peer, MODE_OK);
    before = calls;
    atomic_fetch_add(&clock_ms, open_ms);
    recovered_at = atomic_load(&clock_ms);
    sg_dispatcher_kick(f.d);
    /*
     * Jobs refused while the probes were out were handed back for later:
     * move the clock 1 s at a time, only once the dispatcher is idle, so
     * the clock measures cycles and not this machine's speed.
     */
    for (int i = 0; i < 60; i++) {
        struct sg_dispatcher_stats s;

        settle(&f, 100);
        sg_dispatcher_stats(f.d, &s);
        counts(&f, cnt);
        if (cnt[SG_JOB_DONE] == n)
            break;
        if (s.in_flight || cnt[SG_JOB_RUNNING] > (int64_t)s.held)
            continue;
        atomic_fetch_add(&clock_ms, 1000);
        sg_dispatcher_kick(f.d);
    }
    counts(&f, cnt);
    print_message("N3: recovery: %" PRId64 " of %d jobs done %" PRId64
                  " ms (clock) after the first probe window, %zu calls\n",
                  cnt[SG_JOB_DONE], n, atomic_load(&clock_ms) - recovered_at,
                  peer_count(&f.peer) - before);
    assert_int_equal(cnt[SG_JOB_DONE], n);
    assert_true(atomic_load(&clock_ms) - recovered_at < open_ms);
    pthread_mutex_lock(&f.peer.lock);
    assert_int_equal(f.peer.after_ack, 0);
    pthread_mutex_unlock(&f.peer.lock);
    fx_close(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_n1_fault_mix),
        cmocka_unit_test(test_n2_full_jitter),
        cmocka_unit_test(test_n3_breaker_cycles),
    };

    sg_log_set_level(SG_LOG_ERR);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
