/*
 * test_jobs_dispatcher.c - the dispatcher end to end: a real SQLite store
 * in a temporary folder, notify.http jobs, and a loopback HTTP peer in
 * this file that answers from a script and records when each request
 * arrived. Backoffs are a few ms; every wait is bounded.
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
#include "core/buf.h"
#include "core/clock.h"
#include "core/crypto.h"
#include "core/json.h"
#include "jobs/dispatcher.h"
#include "store/store.h"
#include "testlib.h"

#define SECRET     "test-notify-secret"
#define REQS_MAX   64
#define CONNS_MAX  32
#define SCRIPT_MAX 16

/* ---- the scripted peer ---- */

struct rec {
    int64_t at_ms;     /* when the request had fully arrived */
    int64_t answer_ms; /* when the answer was sent */
    int status;
    char body[2048];
    char sig[96];
    char idem[64];
    char job_id[32];
    char ctype[64];
};

struct peer {
    int fd;
    unsigned port;
    pthread_t acceptor;
    pthread_t conns[CONNS_MAX];
    int conn_fds[CONNS_MAX];
    atomic_int n_conns;
    atomic_bool stop;
    pthread_mutex_t lock;
    int script[SCRIPT_MAX]; /* statuses answered in order, then 200 */
    size_t script_n;
    size_t script_pos;
    struct rec reqs[REQS_MAX];
    size_t n_reqs;
};

static bool wait_readable(struct peer *pe, int fd)
{
    for (int i = 0; i < 500 && !atomic_load(&pe->stop); i++) {
        struct pollfd p = {.fd = fd, .events = POLLIN};

        if (poll(&p, 1, 10) > 0)
            return true;
    }
    return false;
}

static void header_value(const char *hdrs, size_t len, const char *name,
                         char *out, size_t out_size)
{
    const char *p = hdrs, *end = hdrs + len;
    size_t n = strlen(name);

    out[0] = '\0';
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));

        if (!eol)
            return;
        if ((size_t)(eol - p) > n && p[n] == ':' &&
            strncasecmp(p, name, n) == 0) {
            const char *v = p + n + 1;
            const char *ve = eol;

            while (v < ve && *v == ' ')
                v++;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' '))
                ve--;
            snprintf(out, out_size, "%.*s", (int)(ve - v), v);
            return;
        }
        p = eol + 1;
    }
}

/* Read one request into rec; false on EOF, timeout or overflow. */
static bool read_request(struct peer *pe, int fd, struct rec *r)
{
    char buf[8192];
    size_t len = 0, hdr_end = 0, need;
    char cl[32];
    ssize_t n;
    const char *e;

    for (;;) {
        e = NULL;
        for (size_t i = 0; i + 3 < len; i++) {
            if (memcmp(buf + i, "\r\n\r\n", 4) == 0) {
                e = buf + i;
                hdr_end = i + 4;
                break;
            }
        }
        if (e)
            break;
        if (len == sizeof(buf) || !wait_readable(pe, fd))
            return false;
        n = recv(fd, buf + len, sizeof(buf) - len, 0);
        if (n <= 0)
            return false;
        len += (size_t)n;
    }
    header_value(buf, hdr_end, "content-length", cl, sizeof(cl));
    need = hdr_end + (size_t)strtoul(cl, NULL, 10);
    if (need > sizeof(buf))
        return false;
    while (len < need) {
        if (!wait_readable(pe, fd))
            return false;
        n = recv(fd, buf + len, need - len, 0);
        if (n <= 0)
            return false;
        len += (size_t)n;
    }
    memset(r, 0, sizeof(*r));
    r->at_ms = sg_clock_now_ms(NULL);
    snprintf(r->body, sizeof(r->body), "%.*s", (int)(need - hdr_end),
             buf + hdr_end);
    header_value(buf, hdr_end, "x-surge-signature", r->sig, sizeof(r->sig));
    header_value(buf, hdr_end, "idempotency-key", r->idem, sizeof(r->idem));
    header_value(buf, hdr_end, "x-surge-job-id", r->job_id, sizeof(r->job_id));
    header_value(buf, hdr_end, "content-type", r->ctype, sizeof(r->ctype));
    return true;
}

static void send_all(int fd, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);

        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

struct conn_arg {
    struct peer *pe;
    int fd;
};

static void *conn_main(void *arg)
{
    struct peer *pe = ((struct conn_arg *)arg)->pe;
    int fd = ((struct conn_arg *)arg)->fd;
    struct rec r;

    sg_free(arg);
    while (read_request(pe, fd, &r)) {
        char resp[256];
        const char *extra = "", *body = "ok";
        int status = 200, n;

        pthread_mutex_lock(&pe->lock);
        if (pe->script_pos < pe->script_n)
            status = pe->script[pe->script_pos++];
        if (status == 429)
            extra = "Retry-After: 1\r\n";
        if (status == 400)
            body = "{\"error\":\"bad field\"}";
        r.status = status;
        r.answer_ms = sg_clock_now_ms(NULL);
        if (pe->n_reqs < REQS_MAX)
            pe->reqs[pe->n_reqs++] = r;
        pthread_mutex_unlock(&pe->lock);
        n = snprintf(resp, sizeof(resp),
                     "HTTP/1.1 %d X\r\nContent-Length: %zu\r\n%s\r\n%s", status,
                     strlen(body), extra, body);
        send_all(fd, resp, (size_t)n);
    }
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
        pe->conn_fds[i] = fd;
        if (pthread_create(&pe->conns[i], NULL, conn_main, ca) != 0) {
            sg_free(ca);
            close(fd);
            continue;
        }
        atomic_store(&pe->n_conns, i + 1);
    }
    return NULL;
}

static void peer_start(struct peer *pe)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t sl = sizeof(sa);

    memset(pe, 0, sizeof(*pe));
    pthread_mutex_init(&pe->lock, NULL);
    pe->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(pe->fd >= 0);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(pe->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(pe->fd, 64), 0);
    assert_int_equal(getsockname(pe->fd, (struct sockaddr *)&sa, &sl), 0);
    pe->port = ntohs(sa.sin_port);
    assert_int_equal(pthread_create(&pe->acceptor, NULL, acceptor_main, pe), 0);
}

static void peer_stop(struct peer *pe)
{
    atomic_store(&pe->stop, true);
    pthread_join(pe->acceptor, NULL);
    for (int i = 0; i < atomic_load(&pe->n_conns); i++) {
        pthread_join(pe->conns[i], NULL);
        close(pe->conn_fds[i]);
    }
    close(pe->fd);
    pthread_mutex_destroy(&pe->lock);
}

static void peer_script(struct peer *pe, const int *statuses, size_t n)
{
    pthread_mutex_lock(&pe->lock);
    memcpy(pe->script, statuses, n * sizeof(*statuses));
    pe->script_n = n;
    pe->script_pos = 0;
    pthread_mutex_unlock(&pe->lock);
}

static size_t peer_count(struct peer *pe)
{
    size_t n;

    pthread_mutex_lock(&pe->lock);
    n = pe->n_reqs;
    pthread_mutex_unlock(&pe->lock);
    return n;
}

/* ---- fixture ---- */

struct fx {
    char *dir;
    char *db;
    struct sg_store *store;
    struct sg_dispatcher *d;
    struct peer peer;
    char url[64];
    int64_t tenant;
    uint64_t seed;
};

static int tenant_write(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    return sg_store_tx_tenant_insert(tx, "acme", arg, err);
}

static int setup(void **st)
{
    struct fx *f = sg_calloc(1, sizeof(*f));
    struct sg_store_cfg cfg;
    struct sg_err err;

    assert_non_null(f);
    f->dir = sgt_tmpdir();
    assert_non_null(f->dir);
    f->db = sgt_path(f->dir, "surge.db");
    sg_store_cfg_defaults(&cfg);
    cfg.backend = "sqlite";
    cfg.path = f->db;
    sg_err_init(&err);
    if (sg_store_open(&f->store, &cfg, NULL, &err) != 0)
        fail_msg("store open: %s", err.msg);
    assert_int_equal(sg_store_write(f->store, tenant_write, &f->tenant, &err),
                     0);
    peer_start(&f->peer);
    snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%u/hook", f->peer.port);
    f->seed = 12345;
    *st = f;
    return 0;
}

static int teardown(void **st)
{
    struct fx *f = *st;
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
    sg_free(f);
    return 0;
}

static uint64_t test_rand(void *state, uint64_t bound)
{
    uint64_t *s = state;

    *s = *s * UINT64_C(6364136223846793005) + 1442695040888963407u;
    return (*s >> 33) % bound;
}

static void base_cfg(struct fx *f, struct sg_dispatcher_cfg *cfg)
{
    sg_dispatcher_cfg_defaults(cfg);
    cfg->backoff_base_ms = 10;
    cfg->backoff_max_ms = 40;
    cfg->request_timeout_ms = 2000;
    cfg->lease_ms = 10000;
    cfg->notify_url = f->url;
    cfg->notify_secret = SECRET;
    cfg->allow_private_urls = true; /* the peer is on loopback */
    cfg->rand = test_rand;
    cfg->rand_state = &f->seed;
}

static void start(struct fx *f, const struct sg_dispatcher_cfg *cfg)
{
    struct sg_err err;

    sg_err_init(&err);
    if (sg_dispatcher_new(&f->d, f->store, cfg, NULL, &err) != 0)
        fail_msg("dispatcher: %s", err.msg);
    assert_int_equal(sg_dispatcher_start(f->d, &err), 0);
}

struct enq {
    struct sg_job job;
    int64_t id;
    bool coalesced;
};

static int enqueue_write(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    struct enq *e = arg;

    return sg_store_tx_job_enqueue(tx, &e->job, &e->id, &e->coalesced, err);
}

static int64_t enqueue(struct fx *f, const char *payload, const char *ckey,
                       int attempts_max, bool *coalesced)
{
    struct enq e;
    struct sg_err err;

    memset(&e, 0, sizeof(e));
    e.job.tenant_id = f->tenant;
    snprintf(e.job.kind, sizeof(e.job.kind), "notify.http");
    e.job.payload = (char *)(uintptr_t)payload;
    e.job.coalesce_key = (char *)(uintptr_t)ckey;
    e.job.attempts_max = attempts_max;
    sg_err_init(&err);
    if (sg_store_write(f->store, enqueue_write, &e, &err) != 0)
        fail_msg("enqueue: %s", err.msg);
    if (coalesced)
        *coalesced = e.coalesced;
    if (f->d)
        sg_dispatcher_kick(f->d);
    return e.id;
}

/* Wait (bounded) for the job to reach state; fills job. */
static void wait_state(struct fx *f, int64_t id, int state, struct sg_job *job)
{
    struct sg_err err;

    for (int i = 0; i < 2000; i++) {
        memset(job, 0, sizeof(*job));
        assert_int_equal(sg_store_job_get(f->store, f->tenant, id, job, &err),
                         0);
        if (job->state == state)
            return;
        sg_job_free(job);
        usleep(5000);
    }
    fail_msg("job %" PRId64 " never reached %s", id, sg_job_state_name(state));
}

static void check_signature(const struct rec *r)
{
    char hex[65], want[80];

    assert_int_equal(sg_hmac_sha256_hex(SECRET, strlen(SECRET), r->body,
                                        strlen(r->body), hex),
                     0);
    snprintf(want, sizeof(want), "sha256=%s", hex);
    assert_true(sg_ct_equal(want, strlen(want), r->sig, strlen(r->sig)));
}

#define PAYLOAD "{\"event\":\"order.paid\",\"data\":{\"order\":\"42\"}}"

/* ---- tests ---- */

static void test_500_twice_then_done(void **st)
{
    struct fx *f = *st;
    struct sg_dispatcher_cfg cfg;
    struct sg_dispatcher_stats s;
    static const int script[] = {500, 500};
    struct sg_job job;
    int64_t id;
    json_t *body;
    char want_idem[32];

    base_cfg(f, &cfg);
    peer_script(&f->peer, script, 2);
    id = enqueue(f, PAYLOAD, NULL, 0, NULL);
    start(f, &cfg);
    wait_state(f, id, SG_JOB_DONE, &job);
    assert_int_equal(job.attempts, 3);
    sg_job_free(&job);
    assert_int_equal(peer_count(&f->peer), 3);
    snprintf(want_idem, sizeof(want_idem), "job-%" PRId64, id);
    for (size_t i = 0; i < 3; i++) {
        const struct rec *r = &f->peer.reqs[i];

        assert_int_equal(r->status, i < 2 ? 500 : 200);
        check_signature(r);
        /* The same key on every attempt, so the receiver can dedupe. */
        assert_string_equal(r->idem, want_idem);
        assert_int_equal(strtoll(r->job_id, NULL, 10), id);
        assert_string_equal(r->ctype, "application/json");
        assert_int_equal(
            sg_json_parse(&body, r->body, strlen(r->body), 8, NULL, NULL), 0);
        assert_string_equal(sg_json_str(body, "event"), "order.paid");
        assert_string_equal(sg_json_str(json_object_get(body, "data"), "order"),
                            "42");
        assert_int_equal(sg_json_int(body, "job_id", 0), id);
        assert_int_equal(sg_json_int(body, "attempt", 0), (int64_t)i + 1);
        assert_non_null(sg_json_str(body, "sent_at"));
        json_decref(body);
    }
    sg_dispatcher_stop(f->d);
    sg_dispatcher_stats(f->d, &s);
    assert_int_equal(s.claimed, 3);
    assert_int_equal(s.retried, 2);
    assert_int_equal(s.succeeded, 1);
    assert_int_equal(s.dead, 0);
    assert_int_equal(s.in_flight, 0);
}

struct retry_arg {
    int64_t tenant;
    int64_t id;
};

static int retry_write(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    struct retry_arg *r = arg;

    return sg_store_tx_job_retry(tx, r->tenant, r->id, err);
}

static void test_400_is_dead_then_replayed(void **st)
{
    struct fx *f = *st;
    struct sg_dispatcher_cfg cfg;
    struct sg_dispatcher_stats s;
    static const int script[] = {400};
    struct sg_job job;
    struct sg_err err;
    struct retry_arg rt;
    int64_t id;

    base_cfg(f, &cfg);
    peer_script(&f->peer, script, 1);
    start(f, &cfg);
    id = enqueue(f, PAYLOAD, NULL, 0, NULL);
    wait_state(f, id, SG_JOB_DEAD, &job);
    assert_int_equal(job.attempts, 1);
    assert_non_null(job.last_error);
    assert_non_null(strstr(job.last_error, "http 400"));
    assert_non_null(strstr(job.last_error, "bad field"));
    sg_job_free(&job);
    assert_int_equal(peer_count(&f->peer), 1);

    /* surge jobs retry: the dead job runs again from attempt 1. */
    rt.tenant = f->tenant;
    rt.id = id;
    sg_err_init(&err);
    assert_int_equal(sg_store_write(f->store, retry_write, &rt, &err), 0);
    sg_dispatcher_kick(f->d);
    wait_state(f, id, SG_JOB_DONE, &job);
    assert_int_equal(job.attempts, 1);
    sg_job_free(&job);
    assert_int_equal(peer_count(&f->peer), 2);
    sg_dispatcher_stats(f->d, &s);
    assert_int_equal(s.dead, 1);
    assert_int_equal(s.succeeded, 1);
    assert_int_equal(s.retried, 0);
}

/* Retryable failures stop at attempts_max: dead with the last reason. */
static void test_attempts_exhausted(void **st)
{
    struct fx *f = *st;
    struct sg_dispatcher_cfg cfg;
    static const int script[] = {503, 503, 503};
    struct sg_job job;
    int64_t id;

    base_cfg(f, &cfg);
    peer_script(&f->peer, script, 3);
    start(f, &cfg);
    id = enqueue(f, PAYLOAD, NULL, 2, NULL);
    wait_state(f, id, SG_JOB_DEAD, &job);
    assert_int_equal(job.attempts, 2);
    assert_non_null(strstr(job.last_error, "attempts exhausted"));
    assert_non_null(strstr(job.last_error, "http 503"));
    sg_job_free(&job);
    assert_int_equal(peer_count(&f->peer), 2);
}

/*
 * 429 with Retry-After: 1 pauses the whole bucket: jobs enqueued after
 * it are not sent inside the window, and waiting costs them no attempt.
 */
static void test_429_pauses_bucket(void **st)
{
    struct fx *f = *st;
    struct sg_dispatcher_cfg cfg;
    struct sg_dispatcher_stats s;
    static const int script[] = {429};
    struct sg_job job;
    int64_t id1, id2, id3, t429;
    size_t n;

    base_cfg(f, &cfg);
    peer_script(&f->peer, script, 1);
    start(f, &cfg);
    id1 = enqueue(f, PAYLOAD, NULL, 0, NULL);
    for (int i = 0; i < 2000 && peer_count(&f->peer) < 1; i++)
        usleep(2000);
    assert_int_equal(peer_count(&f->peer), 1);
    t429 = f->peer.reqs[0].answer_ms;
    /* Let the dispatcher see the 429 before the next jobs arrive. */
    for (int i = 0; i < 2000; i++) {
        sg_dispatcher_stats(f->d, &s);
        if (s.retried == 1)
            break;
        usleep(2000);
    }
    assert_int_equal(s.retried, 1);
    id2 = enqueue(f, PAYLOAD, NULL, 0, NULL);
    id3 = enqueue(f, PAYLOAD, NULL, 0, NULL);
    wait_state(f, id1, SG_JOB_DONE, &job);
    assert_int_equal(job.attempts, 2);
    sg_job_free(&job);
    wait_state(f, id2, SG_JOB_DONE, &job);
    assert_int_equal(job.attempts, 1);
    sg_job_free(&job);
    wait_state(f, id3, SG_JOB_DONE, &job);
    assert_int_equal(job.attempts, 1);
    sg_job_free(&job);
    n = peer_count(&f->peer);
    assert_int_equal(n, 4);
    for (size_t i = 1; i < n; i++) {
        if (f->peer.reqs[i].at_ms < t429 + 1000)
            fail_msg("request %zu came %" PRId64 " ms after the 429", i,
                     f->peer.reqs[i].at_ms - t429);
    }
    sg_dispatcher_stats(f->d, &s);
    assert_true(s.rate_limited >= 2);
    assert_int_equal(s.released, 0);
    assert_int_equal(s.succeeded, 3);
}

/* Enqueues sharing a coalesce key become one call with the last payload. */
static void test_coalesced(void **st)
{
    struct fx *f = *st;
    struct sg_dispatcher_cfg cfg;
    struct sg_job job;
    int64_t id1, id2, id3;
    bool c1, c2, c3;

    base_cfg(f, &cfg);
    id1 =
        enqueue(f, "{\"event\":\"stock\",\"data\":{\"n\":1}}", "sku:1", 0, &c1);
    id2 =
        enqueue(f, "{\"event\":\"stock\",\"data\":{\"n\":2}}", "sku:1", 0, &c2);
    id3 =
        enqueue(f, "{\"event\":\"stock\",\"data\":{\"n\":3}}", "sku:1", 0, &c3);
    assert_false(c1);
    assert_true(c2);
    assert_true(c3);
    assert_int_equal(id1, id2);
    assert_int_equal(id1, id3);
    start(f, &cfg);
    wait_state(f, id1, SG_JOB_DONE, &job);
    sg_job_free(&job);
    /* Give a stray second call the chance to show up before counting. */
    usleep(50000);
    assert_int_equal(peer_count(&f->peer), 1);
    assert_non_null(strstr(f->peer.reqs[0].body, "\"data\":{\"n\":3}"));
}

/*
 * Jobs waiting for their bucket go in the order they were claimed: the
 * one that has waited longest takes the next token, none is passed over.
 */
static void test_rate_limited_in_claim_order(void **st)
{
    struct fx *f = *st;
    struct sg_dispatcher_cfg cfg;
    struct sg_dispatcher_stats s;
    struct sg_job job;
    int64_t ids[12];
    char payload[96], want[32];

    base_cfg(f, &cfg);
    cfg.rate_per_sec = 10;
    cfg.burst = 1;
    cfg.hold_max_ms = 5000;
    for (int i = 0; i < 12; i++) {
        snprintf(payload, sizeof(payload),
                 "{\"event\":\"stock\",\"data\":{\"n\":%d}}", i);
        ids[i] = enqueue(f, payload, NULL, 0, NULL);
    }
    start(f, &cfg);
    for (int i = 0; i < 12; i++) {
        wait_state(f, ids[i], SG_JOB_DONE, &job);
        assert_int_equal(job.attempts, 1);
        sg_job_free(&job);
    }
    assert_int_equal(peer_count(&f->peer), 12);
    for (int i = 0; i < 12; i++) {
        snprintf(want, sizeof(want), "\"data\":{\"n\":%d}", i);
        if (!strstr(f->peer.reqs[i].body, want))
            fail_msg("call %d carried %s", i, f->peer.reqs[i].body);
    }
    sg_dispatcher_stats(f->d, &s);
    assert_int_equal(s.released, 0);
}

/*
 * A job waits in memory for at most hold_max_ms in all, however often its
 * bucket turns it away; past that it goes back to the queue (released).
 */
static void test_hold_is_capped(void **st)
{
    struct fx *f = *st;
    struct sg_dispatcher_cfg cfg;
    struct sg_dispatcher_stats s;
    struct sg_job job;
    int64_t ids[4];
    int again = 0;

    base_cfg(f, &cfg);
    cfg.rate_per_sec = 4;
    cfg.burst = 1;
    cfg.hold_max_ms = 300;
    for (int i = 0; i < 4; i++)
        ids[i] = enqueue(f, PAYLOAD, NULL, 0, NULL);
    start(f, &cfg);
    for (int i = 0; i < 4; i++) {
        wait_state(f, ids[i], SG_JOB_DONE, &job);
        again += job.attempts > 1;
        sg_job_free(&job);
    }
    sg_dispatcher_stats(f->d, &s);
    /* At 4/s the fourth job would wait 750 ms: more than 300 in all. */
    assert_true(s.released >= 1);
    assert_true(again >= 1);
    assert_int_equal(peer_count(&f->peer), 4);
}

/* Repeated failures open the breaker: nothing is sent while it is open. */
static void test_breaker_opens_and_closes(void **st)
{
    struct fx *f = *st;
    struct sg_dispatcher_cfg cfg;
    struct sg_dispatcher_stats s;
    static const int script[] = {500, 500};
    struct sg_job job;
    int64_t ids[3], t_open;
    size_t n;

    base_cfg(f, &cfg);
    cfg.concurrency = 1;
    cfg.breaker_min_calls = 2;
    cfg.breaker_failure_pct = 50;
    cfg.breaker_open_ms = 1000;
    cfg.breaker_probes = 1;
    peer_script(&f->peer, script, 2);
    for (int i = 0; i < 3; i++)
        ids[i] = enqueue(f, PAYLOAD, NULL, 0, NULL);
    start(f, &cfg);
    for (int i = 0; i < 3; i++) {
        wait_state(f, ids[i], SG_JOB_DONE, &job);
        sg_job_free(&job);
    }
    n = peer_count(&f->peer);
    assert_int_equal(n, 5);
    assert_int_equal(f->peer.reqs[1].status, 500);
    t_open = f->peer.reqs[1].answer_ms;
    for (size_t i = 2; i < n; i++) {
        if (f->peer.reqs[i].at_ms < t_open + 1000)
            fail_msg("request %zu sent while the breaker was open", i);
    }
    sg_dispatcher_stats(f->d, &s);
    assert_true(s.breaker_open >= 1);
    assert_int_equal(s.succeeded, 3);
}

static void test_no_url_is_dead(void **st)
{
    struct fx *f = *st;
    struct sg_dispatcher_cfg cfg;
    struct sg_job job;
    int64_t id, bad;

    base_cfg(f, &cfg);
    cfg.notify_url = NULL;
    start(f, &cfg);
    id = enqueue(f, PAYLOAD, NULL, 0, NULL);
    bad = enqueue(f, "[1,2]", NULL, 0, NULL);
    wait_state(f, id, SG_JOB_DEAD, &job);
    assert_string_equal(job.last_error, "no notify url configured");
    sg_job_free(&job);
    wait_state(f, bad, SG_JOB_DEAD, &job);
    assert_string_equal(job.last_error, "payload is not a JSON object");
    sg_job_free(&job);
    assert_int_equal(peer_count(&f->peer), 0);
}

/* By default loopback is off limits: dead, and nothing is sent. */
static void test_private_address_refused(void **st)
{
    struct fx *f = *st;
    struct sg_dispatcher_cfg cfg;
    struct sg_job job;
    int64_t id;

    base_cfg(f, &cfg);
    cfg.allow_private_urls = false;
    start(f, &cfg);
    id = enqueue(f, PAYLOAD, NULL, 0, NULL);
    wait_state(f, id, SG_JOB_DEAD, &job);
    assert_int_equal(job.attempts, 1);
    assert_non_null(strstr(job.last_error, "address not allowed"));
    sg_job_free(&job);
    assert_int_equal(peer_count(&f->peer), 0);
    assert_int_equal(atomic_load(&f->peer.n_conns), 0);
}

static void test_metrics_text(void **st)
{
    struct fx *f = *st;
    struct sg_dispatcher_cfg cfg;
    struct sg_job job;
    struct sg_buf b;
    char payload[160];
    int64_t id;

    base_cfg(f, &cfg);
    cfg.notify_url = NULL;
    start(f, &cfg);
    /* The payload's own url overrides the configured one. */
    snprintf(payload, sizeof(payload),
             "{\"url\":\"%s\",\"event\":\"e\",\"data\":null}", f->url);
    id = enqueue(f, payload, NULL, 0, NULL);
    wait_state(f, id, SG_JOB_DONE, &job);
    sg_job_free(&job);
    sg_dispatcher_stop(f->d);
    sg_buf_init(&b, 1 << 16);
    assert_int_equal(sg_dispatcher_metrics(f->d, &b), 0);
    assert_non_null(
        strstr(b.data, "sg_jobs_outcomes_total{outcome=\"succeeded\"} 1\n"));
    assert_non_null(
        strstr(b.data, "sg_jobs_outcomes_total{outcome=\"dead\"} 0\n"));
    assert_non_null(strstr(b.data, "sg_jobs_claimed_total 1\n"));
    assert_non_null(strstr(b.data, "sg_jobs_in_flight 0\n"));
    assert_non_null(strstr(b.data, "# TYPE sg_jobs_outcomes_total counter"));
    sg_buf_release(&b);
    sg_buf_init(&b, 10);
    assert_int_equal(sg_dispatcher_metrics(f->d, &b), SG_ELIMIT);
    sg_buf_release(&b);
}

static void test_bad_config(void **st)
{
    struct fx *f = *st;
    struct sg_dispatcher_cfg cfg;
    struct sg_dispatcher *d = NULL;
    struct sg_err err;

    base_cfg(f, &cfg);
    cfg.lease_ms = cfg.request_timeout_ms;
    assert_int_equal(sg_dispatcher_new(&d, f->store, &cfg, NULL, &err),
                     SG_ECONFIG);
    assert_non_null(strstr(err.msg, "lease_ms"));
    base_cfg(f, &cfg);
    cfg.breaker_probes = 11;
    assert_int_equal(sg_dispatcher_new(&d, f->store, &cfg, NULL, &err),
                     SG_ECONFIG);
    base_cfg(f, &cfg);
    cfg.concurrency = 0;
    assert_int_equal(sg_dispatcher_new(&d, f->store, &cfg, NULL, &err),
                     SG_ECONFIG);
    assert_null(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_500_twice_then_done, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_400_is_dead_then_replayed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_attempts_exhausted, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_429_pauses_bucket, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_coalesced, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rate_limited_in_claim_order,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_hold_is_capped, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_breaker_opens_and_closes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_no_url_is_dead, setup, teardown),
        cmocka_unit_test_setup_teardown(test_private_address_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_metrics_text, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_config, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
