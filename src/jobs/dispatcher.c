/*
 * dispatcher.c - the job dispatcher thread.
 *
 * Each claimed job becomes a task owned by the dispatcher thread until it
 * is finished through the store writer with its lease token; every task
 * is in exactly one place: being started, held (waiting in memory for its
 * bucket or breaker), in flight (owned by the HTTP client), or handed to
 * the store. held + in flight never exceeds cfg.concurrency.
 */
#include "core/sg.h"

#include <pthread.h>
#include <stdatomic.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/log.h"
#include "jobs/breaker.h"
#include "jobs/catalog_sync.h"
#include "jobs/dispatcher.h"
#include "jobs/ratelimit.h"
#include "store/store.h"

struct task {
    struct sg_dispatcher *d;
    struct sg_job job;
    const struct sg_job_kind_ops *ops;
    struct sg_job_call call;
    char platform[32];
    char shop[64];
    char cls[32];
    int64_t ready_at;  /* when held: when to try again */
    int64_t held_at;   /* when first held; 0 = never */
    bool counted_rate; /* stats counted once per task and reason */
    bool counted_breaker;
    bool lease_lost;   /* a heartbeat found the lease taken over */
    struct task *next; /* held list, oldest first */
    struct task *fprev, *fnext; /* in-flight list */
};

struct finish_arg {
    struct sg_dispatcher *d;
    int64_t id;
    int64_t token;
    int state;
    int64_t next_run_at;
    char *error;
};

struct sg_dispatcher {
    struct sg_store *store;
    const struct sg_clock *clock;
    struct sg_dispatcher_cfg cfg;
    char *notify_url;
    char *notify_secret;
    struct sg_backoff backoff;
    struct sg_http_client *http;
    struct sg_ratelimit *rl;
    struct sg_breakers *br;
    pthread_t thread;
    bool started;
    bool joined;
    atomic_bool stopping;
    atomic_bool kicked;

    /* Dispatcher thread only. */
    struct task *held, *held_tail; /* FIFO: tokens go in claim order */
    struct task *flight; /* calls in flight, for the heartbeat */
    size_t n_held;
    size_t n_flight;
    int64_t next_claim_at;
    int64_t next_requeue_at;
    int64_t next_heartbeat_at;

    /* Finishes submitted and not yet acknowledged by the store. */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    size_t finishes_pending;
    bool http_gone; /* under lock: no more wakeups */

    _Atomic uint64_t claimed, succeeded, retried, dead, rate_limited,
        breaker_open, released, requeued, stale, store_errors, in_flight,
        held_gauge, lease_extended, lease_lost;
};

static const struct sg_job_kind_ops *const builtin_kinds[] = {
    &sg_job_kind_notify_http,
    &sg_job_kind_events_track,
    &sg_job_kind_catalog_sync,
    NULL,
};

void sg_dispatcher_cfg_defaults(struct sg_dispatcher_cfg *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->concurrency = 32;
    cfg->attempts_max = 8;
    cfg->backoff_base_ms = 500;
    cfg->backoff_max_ms = 300000;
    cfg->retry_after_max_ms = 600000;
    cfg->lease_ms = 60000;
    cfg->request_timeout_ms = 10000;
    cfg->rate_per_sec = 50.0;
    cfg->burst = 50.0;
    cfg->breaker_min_calls = 10;
    cfg->breaker_failure_pct = 50;
    cfg->breaker_open_ms = 30000;
    cfg->breaker_probes = 3;
    cfg->hold_max_ms = 2000;
    cfg->requeue_every_ms = 5000;
    cfg->idle_max_ms = 1000;
    cfg->claim_batch = 32;
    cfg->response_body_max = 64 * 1024;
    cfg->buckets_max = 4096;
    cfg->breakers_max = 1024;
}

static int64_t now_ms(const struct sg_dispatcher *d)
{
    return sg_clock_now_ms(d->clock);
}

/* ---- finishing jobs ---- */

static int finish_write(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    struct finish_arg *f = arg;

    return sg_store_tx_job_finish(tx, f->id, f->token, f->state, f->next_run_at,
                                  f->error, err);
}

static void finish_result(struct sg_dispatcher *d, struct finish_arg *f, int rc,
                          const struct sg_err *err)
{
    if (rc == SG_ESTALE) {
        atomic_fetch_add(&d->stale, 1);
        sg_log(SG_LOG_WARN, "jobs", "job_id=%" PRId64 " msg=\"lease lost\"",
               f->id);
    } else if (rc < 0) {
        atomic_fetch_add(&d->store_errors, 1);
        sg_log(SG_LOG_ERR, "jobs",
               "job_id=%" PRId64 " msg=\"finish failed\" err=\"%s\"", f->id,
               err ? err->msg : sg_err_name(rc));
    }
    sg_free(f->error);
    sg_free(f);
}

/*
 * A job went back to the queue: once that has committed, let the thread
 * ask the store when the next job is due (it may be in a few ms).
 */
static void nudge(struct sg_dispatcher *d)
{
    atomic_store(&d->kicked, true);
    if (!d->http_gone)
        sg_http_client_wakeup(d->http);
}

/* Writer thread: the finish committed (or not). */
static void finish_done(void *arg, int rc, const struct sg_err *err)
{
    struct finish_arg *f = arg;
    struct sg_dispatcher *d = f->d;
    bool requeued = rc == 0 && f->state == SG_JOB_QUEUED;

    finish_result(d, f, rc, err);
    pthread_mutex_lock(&d->lock);
    if (requeued)
        nudge(d);
    d->finishes_pending--;
    pthread_cond_broadcast(&d->cond);
    pthread_mutex_unlock(&d->lock);
}

/*
 * Hand the job's new state to the store writer without waiting for the
 * commit; fall back to a blocking write when the queue is full. If even
 * that fails the lease expires and the sweep requeues the job.
 */
static void finish(struct sg_dispatcher *d, const struct sg_job *job, int state,
                   int64_t next_run_at, const char *error)
{
    struct finish_arg *f = sg_calloc(1, sizeof(*f));
    struct sg_err err;
    int rc;

    sg_err_init(&err);
    if (!f || (error && !(f->error = sg_strdup(error)))) {
        sg_free(f);
        atomic_fetch_add(&d->store_errors, 1);
        sg_log(SG_LOG_ERR, "jobs", "job_id=%" PRId64 " msg=\"out of memory\"",
               job->id);
        return;
    }
    f->d = d;
    f->id = job->id;
    f->token = job->lease_token;
    f->state = state;
    f->next_run_at = next_run_at;
    pthread_mutex_lock(&d->lock);
    d->finishes_pending++;
    pthread_mutex_unlock(&d->lock);
    rc = sg_store_submit(d->store, finish_write, finish_done, f);
    if (rc == 0)
        return;
    pthread_mutex_lock(&d->lock);
    d->finishes_pending--;
    pthread_mutex_unlock(&d->lock);
    rc = sg_store_write(d->store, finish_write, f, &err);
    if (rc == 0 && state == SG_JOB_QUEUED)
        atomic_store(&d->kicked, true); /* seen before the next sleep */
    finish_result(d, f, rc, &err);
}

static void wait_finishes(struct sg_dispatcher *d)
{
    pthread_mutex_lock(&d->lock);
    while (d->finishes_pending > 0)
        pthread_cond_wait(&d->cond, &d->lock);
    pthread_mutex_unlock(&d->lock);
}

/* ---- tasks ---- */

static void task_free(struct task *t)
{
    if (!t)
        return;
    sg_job_call_release(&t->call);
    sg_free(t->job.coalesce_key);
    sg_free(t->job.payload);
    sg_free(t->job.last_error);
    sg_free(t->job.idempotency_key);
    sg_free(t);
}

static int attempts_max_of(const struct sg_dispatcher *d,
                           const struct sg_job *job)
{
    return job->attempts_max > 0 ? job->attempts_max : d->cfg.attempts_max;
}

static unsigned retry_index(const struct sg_job *job)
{
    return job->attempts > 1 ? (unsigned)(job->attempts - 1) : 0;
}

/* Apply a verdict: finish the job and count it. Consumes nothing. */
static void settle(struct sg_dispatcher *d, struct task *t,
                   const struct sg_job_outcome *o, int64_t now)
{
    const struct sg_job *job = &t->job;
    int64_t delay, pause_ms = 0;
    char why[320];

    if (o->rate_limited) {
        /* No Retry-After: pause for this attempt's backoff ceiling. */
        pause_ms = o->retry_after_ms >= 0
                       ? o->retry_after_ms
                       : sg_backoff_ceiling(&d->backoff, retry_index(job));
        if (pause_ms > 0)
            sg_ratelimit_pause(d->rl, t->platform, t->shop, t->cls,
                               now + pause_ms, now);
    }
    switch (o->verdict) {
    case SG_JOB_VERDICT_SUCCESS:
        finish(d, job, SG_JOB_DONE, 0, NULL);
        atomic_fetch_add(&d->succeeded, 1);
        sg_log(SG_LOG_DEBUG, "jobs", "job_id=%" PRId64 " outcome=done",
               job->id);
        return;
    case SG_JOB_VERDICT_RETRY:
        if (job->attempts < attempts_max_of(d, job))
            break;
        snprintf(why, sizeof(why), "attempts exhausted (%d): %s", job->attempts,
                 o->reason);
        finish(d, job, SG_JOB_DEAD, 0, why);
        atomic_fetch_add(&d->dead, 1);
        sg_log(SG_LOG_WARN, "jobs",
               "job_id=%" PRId64 " outcome=dead attempts=%d", job->id,
               job->attempts);
        return;
    default:
        finish(d, job, SG_JOB_DEAD, 0, o->reason);
        atomic_fetch_add(&d->dead, 1);
        sg_log(SG_LOG_WARN, "jobs",
               "job_id=%" PRId64 " outcome=dead attempts=%d", job->id,
               job->attempts);
        return;
    }
    delay = sg_backoff_delay(&d->backoff, retry_index(job));
    delay = SG_MAX(delay, o->retry_after_ms);
    delay = SG_MAX(delay, pause_ms);
    finish(d, job, SG_JOB_QUEUED, now + SG_MAX(delay, 1), o->reason);
    atomic_fetch_add(&d->retried, 1);
    sg_log(SG_LOG_INFO, "jobs",
           "job_id=%" PRId64 " outcome=retry attempts=%d delay_ms=%" PRId64
           " reason=\"%s\"",
           job->id, job->attempts, delay, o->reason);
}

static void settle_simple(struct sg_dispatcher *d, struct task *t, int verdict,
                          const char *reason, int64_t now)
{
    struct sg_job_outcome o;

    memset(&o, 0, sizeof(o));
    o.verdict = verdict;
    o.retry_after_ms = -1;
    o.breaker = SG_BREAKER_NEUTRAL;
    snprintf(o.reason, sizeof(o.reason), "%s", reason);
    settle(d, t, &o, now);
}

/*
 * Held tasks wait in claim order: a task appended here goes behind every
 * task already waiting, so when a bucket has a token again the one that
 * has waited longest takes it, and no task is passed over indefinitely.
 */
static void hold(struct sg_dispatcher *d, struct task *t)
{
    t->next = NULL;
    if (d->held_tail)
        d->held_tail->next = t;
    else
        d->held = t;
    d->held_tail = t;
    d->n_held++;
    atomic_store(&d->held_gauge, d->n_held);
}

/* A task of the same bucket (or platform + shop) is already waiting. */
static bool bucket_waiting(const struct sg_dispatcher *d, const struct task *t)
{
    for (const struct task *h = d->held; h; h = h->next)
        if (strcmp(h->cls, t->cls) == 0 && strcmp(h->shop, t->shop) == 0 &&
            strcmp(h->platform, t->platform) == 0)
            return true;
    return false;
}

/*
 * The task may not go now. Wait in memory when the wait, counted from
 * when it was first held, stays within hold_max_ms and the lease still
 * covers it plus a full request; otherwise hand the job back to the
 * store for later (this costs the job one attempt, because claim counted
 * one; see docs/internals/jobs.md). Capping the total wait keeps what a
 * kind planned at prepare() from going out long after (the catalog sync
 * relies on it).
 */
static void defer(struct sg_dispatcher *d, struct task *t, int64_t at,
                  const char *why, int64_t now)
{
    if (!t->held_at)
        t->held_at = now;
    if (!atomic_load(&d->stopping) && at - t->held_at <= d->cfg.hold_max_ms &&
        at + (int64_t)d->cfg.request_timeout_ms < t->job.lease_until) {
        t->ready_at = at;
        hold(d, t);
        return;
    }
    finish(d, &t->job, SG_JOB_QUEUED, SG_MAX(at, now + 1), why);
    atomic_fetch_add(&d->released, 1);
    task_free(t);
}

static void flight_link(struct sg_dispatcher *d, struct task *t)
{
    t->fprev = NULL;
    t->fnext = d->flight;
    if (d->flight)
        d->flight->fprev = t;
    d->flight = t;
}

static void flight_unlink(struct sg_dispatcher *d, struct task *t)
{
    if (t->fprev)
        t->fprev->fnext = t->fnext;
    else if (d->flight == t)
        d->flight = t->fnext;
    if (t->fnext)
        t->fnext->fprev = t->fprev;
    t->fprev = t->fnext = NULL;
}

static void on_http_done(void *arg, const struct sg_http_response *resp)
{
    struct task *t = arg;
    struct sg_dispatcher *d = t->d;
    struct sg_job_outcome o;
    int64_t now = now_ms(d);

    flight_unlink(d, t);
    d->n_flight--;
    atomic_store(&d->in_flight, d->n_flight);
    if (resp->transport == SG_HTTP_CANCELLED) {
        sg_breakers_record(d->br, t->platform, t->shop, SG_BREAKER_NEUTRAL,
                           now);
        settle_simple(d, t, SG_JOB_VERDICT_RETRY, "cancelled at shutdown", now);
        task_free(t);
        return;
    }
    t->ops->classify(&t->job, resp, now, &d->cfg, &o);
    sg_breakers_record(d->br, t->platform, t->shop, o.breaker, now);
    settle(d, t, &o, now);
    task_free(t);
    /*
     * A slot is free. This runs inside sg_http_client_run, whose poll
     * timeout was computed while every slot was busy (up to idle_max_ms):
     * wake that poll so the loop claims the next job now.
     */
    if (!d->http_gone)
        sg_http_client_wakeup(d->http);
}

static void try_send(struct sg_dispatcher *d, struct task *t, int64_t now)
{
    struct sg_http_request req;
    struct sg_err err;
    int64_t at = now, wait = 0;
    int rc;

    rc = sg_breakers_allow(d->br, t->platform, t->shop, now, &at);
    if (rc == SG_EBUSY || rc == SG_EFULL) {
        if (!t->counted_breaker)
            atomic_fetch_add(&d->breaker_open, 1);
        t->counted_breaker = true;
        defer(d, t, at, "breaker open", now);
        return;
    }
    rc = sg_ratelimit_take(d->rl, t->platform, t->shop, t->cls, now, &wait);
    if (rc == SG_ELIMIT || rc == SG_EFULL) {
        sg_breakers_record(d->br, t->platform, t->shop, SG_BREAKER_NEUTRAL,
                           now);
        if (!t->counted_rate)
            atomic_fetch_add(&d->rate_limited, 1);
        t->counted_rate = true;
        defer(d, t, now + SG_MAX(wait, 1), "rate limited", now);
        return;
    }
    memset(&req, 0, sizeof(req));
    req.method = t->call.method;
    req.url = t->call.url;
    req.headers = (const char *const *)t->call.headers;
    req.body = t->call.body;
    req.body_len = t->call.body_len;
    /* The task, and with it the body, lives until on_http_done. */
    req.body_borrowed = true;
    req.timeout_ms =
        t->call.timeout_ms ? t->call.timeout_ms : d->cfg.request_timeout_ms;
    sg_err_init(&err);
    rc = sg_http_client_submit(d->http, &req, on_http_done, t, &err);
    if (rc < 0) {
        sg_breakers_record(d->br, t->platform, t->shop, SG_BREAKER_NEUTRAL,
                           now);
        settle_simple(
            d, t, rc == SG_EINVAL ? SG_JOB_VERDICT_DEAD : SG_JOB_VERDICT_RETRY,
            err.msg, now);
        task_free(t);
        return;
    }
    flight_link(d, t);
    d->n_flight++;
    atomic_store(&d->in_flight, d->n_flight);
}

static const struct sg_job_kind_ops *find_kind(const struct sg_dispatcher *d,
                                               const char *kind)
{
    const struct sg_job_kind_ops *const *k =
        d->cfg.kinds ? d->cfg.kinds : builtin_kinds;

    for (; *k; k++) {
        if ((*k)->version == SG_JOB_KIND_OPS_VERSION &&
            strcmp((*k)->kind, kind) == 0)
            return *k;
    }
    return NULL;
}

/* Takes ownership of job's strings. */
static void start_job(struct sg_dispatcher *d, struct sg_job *job, int64_t now)
{
    struct task *t = sg_calloc(1, sizeof(*t));
    struct sg_err err;
    int rc;

    if (!t) {
        /* The lease will expire and the sweep requeues it. */
        sg_job_free(job);
        atomic_fetch_add(&d->store_errors, 1);
        return;
    }
    t->d = d;
    t->job = *job;
    memset(job, 0, sizeof(*job));
    t->ops = find_kind(d, t->job.kind);
    if (!t->ops) {
        settle_simple(d, t, SG_JOB_VERDICT_DEAD, "unknown job kind", now);
        task_free(t);
        return;
    }
    sg_err_init(&err);
    rc = t->ops->prepare(&t->job, &d->cfg, now, &t->call, &err);
    if (rc == SG_EDECLINED) {
        /* Nothing left to send: the kind finished its work. */
        settle_simple(d, t, SG_JOB_VERDICT_SUCCESS, "nothing to send", now);
        task_free(t);
        return;
    }
    if (rc < 0) {
        /* Running out of memory says nothing about the job: retry it. */
        settle_simple(d, t,
                      err.retryable || rc == SG_ENOMEM ? SG_JOB_VERDICT_RETRY
                                                       : SG_JOB_VERDICT_DEAD,
                      err.msg[0] ? err.msg : sg_err_name(rc), now);
        task_free(t);
        return;
    }
    snprintf(t->platform, sizeof(t->platform), "%s",
             t->call.platform[0] ? t->call.platform : t->job.platform);
    snprintf(t->shop, sizeof(t->shop), "%s",
             t->call.shop[0] ? t->call.shop : t->job.shop);
    snprintf(t->cls, sizeof(t->cls), "%s",
             t->call.endpoint_class[0] ? t->call.endpoint_class
                                       : t->job.endpoint_class);
    /* Behind the tasks already waiting for this bucket, not ahead. */
    if (bucket_waiting(d, t)) {
        t->held_at = now;
        t->ready_at = now;
        hold(d, t);
        return;
    }
    try_send(d, t, now);
}

/* Try held tasks whose time has come, oldest first. */
static void run_held(struct sg_dispatcher *d, int64_t now)
{
    struct task *list = d->held, *t;

    d->held = d->held_tail = NULL;
    d->n_held = 0;
    while ((t = list) != NULL) {
        list = t->next;
        t->next = NULL;
        if (t->lease_lost) {
            /* Another worker owns the job now: nothing to finish. */
            task_free(t);
            continue;
        }
        if (t->ready_at <= now)
            try_send(d, t, now);
        else
            hold(d, t);
    }
    atomic_store(&d->held_gauge, d->n_held);
}

/* ---- store access from the dispatcher thread ---- */

struct claim_arg {
    int64_t lease_ms;
    size_t max;
    struct sg_job *jobs;
    size_t n;
};

static int claim_write(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    struct claim_arg *c = arg;

    return sg_store_tx_job_claim(tx, c->lease_ms, c->max, &c->jobs, &c->n, err);
}

static int requeue_write(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    return sg_store_tx_job_requeue_expired(tx, arg, err);
}

static void requeue_expired(struct sg_dispatcher *d)
{
    struct sg_err err;
    size_t n = 0;
    int rc;

    sg_err_init(&err);
    rc = sg_store_write(d->store, requeue_write, &n, &err);
    if (rc < 0) {
        atomic_fetch_add(&d->store_errors, 1);
        sg_log(SG_LOG_ERR, "jobs", "msg=\"lease sweep failed\" err=\"%s\"",
               err.msg);
        return;
    }
    if (n > 0) {
        atomic_fetch_add(&d->requeued, n);
        d->next_claim_at = now_ms(d);
        sg_log(SG_LOG_INFO, "jobs", "msg=\"expired leases requeued\" n=%zu", n);
    }
}

/*
 * The heartbeat (I5): a job whose call may outlast its lease (a kind may
 * set a call timeout above lease_ms, and held jobs wait too) gets its
 * lease extended while the dispatcher still owns it, so the sweep does
 * not hand it to another worker. A lease found taken over is marked:
 * a held job is dropped, a call in flight ends in a refused finish.
 */
#define HEARTBEAT_BATCH 256

struct beat_arg {
    struct task *t[HEARTBEAT_BATCH];
    int rc[HEARTBEAT_BATCH];
    int64_t until[HEARTBEAT_BATCH];
    size_t n;
    int64_t lease_ms;
};

static int beat_write(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    struct beat_arg *b = arg;

    for (size_t i = 0; i < b->n; i++) {
        b->rc[i] = sg_store_tx_job_extend(tx, b->t[i]->job.id,
                                          b->t[i]->job.lease_token,
                                          b->lease_ms, &b->until[i], err);
        if (b->rc[i] == SG_ESTALE)
            sg_err_init(err);
        else if (b->rc[i] < 0)
            return b->rc[i];
    }
    return 0;
}

static void beat_add(struct beat_arg *b, struct task *t, int64_t now,
                     int64_t due_before)
{
    if (b->n < HEARTBEAT_BATCH && !t->lease_lost &&
        t->job.lease_until - now < due_before)
        b->t[b->n++] = t;
}

static void heartbeat(struct sg_dispatcher *d, int64_t now)
{
    struct beat_arg *b;
    struct sg_err err;
    int64_t every = d->cfg.heartbeat_ms;
    int rc;

    if (!d->flight && !d->held)
        return;
    b = sg_calloc(1, sizeof(*b));
    if (!b) {
        atomic_fetch_add(&d->store_errors, 1);
        return;
    }
    b->lease_ms = d->cfg.lease_ms;
    /* Extend what would have less than lease_ms - every left before the
     * next beat; a fresh claim waits for a later one. */
    for (struct task *t = d->flight; t; t = t->fnext)
        beat_add(b, t, now, d->cfg.lease_ms - every);
    for (struct task *t = d->held; t; t = t->next)
        beat_add(b, t, now, d->cfg.lease_ms - every);
    if (b->n == 0)
        goto out;
    sg_err_init(&err);
    rc = sg_store_write(d->store, beat_write, b, &err);
    if (rc < 0) {
        atomic_fetch_add(&d->store_errors, 1);
        sg_log(SG_LOG_ERR, "jobs", "msg=\"lease heartbeat failed\" "
               "err=\"%s\"", err.msg);
        goto out;
    }
    for (size_t i = 0; i < b->n; i++) {
        if (b->rc[i] == 0) {
            b->t[i]->job.lease_until = b->until[i];
            atomic_fetch_add(&d->lease_extended, 1);
        } else {
            b->t[i]->lease_lost = true;
            atomic_fetch_add(&d->lease_lost, 1);
            sg_log(SG_LOG_WARN, "jobs", "job_id=%" PRId64 " msg=\"lease "
                   "taken over\"", b->t[i]->job.id);
        }
    }
out:
    sg_free(b);
}

static size_t active(const struct sg_dispatcher *d)
{
    return d->n_flight + d->n_held;
}

static void claim(struct sg_dispatcher *d, int64_t now)
{
    struct claim_arg c;
    struct sg_err err;
    int64_t at = 0;
    int rc;

    memset(&c, 0, sizeof(c));
    c.lease_ms = d->cfg.lease_ms;
    c.max = SG_MIN(d->cfg.concurrency - active(d), d->cfg.claim_batch);
    sg_err_init(&err);
    rc = sg_store_write(d->store, claim_write, &c, &err);
    if (rc < 0) {
        sg_job_list_free(c.jobs, c.n);
        atomic_fetch_add(&d->store_errors, 1);
        sg_log(SG_LOG_ERR, "jobs", "msg=\"claim failed\" err=\"%s\"", err.msg);
        d->next_claim_at = now + d->cfg.idle_max_ms;
        return;
    }
    atomic_fetch_add(&d->claimed, c.n);
    for (size_t i = 0; i < c.n; i++)
        start_job(d, &c.jobs[i], now);
    sg_job_list_free(c.jobs, c.n); /* only the array is left */
    if (c.n == c.max) {
        d->next_claim_at = now; /* there may be more due */
        return;
    }
    rc = sg_store_next_job_due(d->store, &at, &err);
    if (rc == 0)
        d->next_claim_at = SG_MIN(SG_MAX(at, now), now + d->cfg.idle_max_ms);
    else
        d->next_claim_at = now + d->cfg.idle_max_ms;
}

static int64_t sleep_ms(const struct sg_dispatcher *d, int64_t now)
{
    int64_t wait = d->cfg.idle_max_ms;

    for (const struct task *t = d->held; t; t = t->next)
        wait = SG_MIN(wait, t->ready_at - now);
    if (active(d) < d->cfg.concurrency)
        wait = SG_MIN(wait, d->next_claim_at - now);
    wait = SG_MIN(wait, d->next_requeue_at - now);
    if (d->flight || d->held)
        wait = SG_MIN(wait, d->next_heartbeat_at - now);
    return SG_MAX(wait, 0);
}

/* Hand back what has not been sent, and let calls in flight finish. */
static void drain(struct sg_dispatcher *d)
{
    int64_t deadline = sg_mono_ms() + d->cfg.request_timeout_ms;
    int64_t now = now_ms(d);
    struct task *t;

    d->held_tail = NULL;
    while ((t = d->held) != NULL) {
        d->held = t->next;
        finish(d, &t->job, SG_JOB_QUEUED, now, "dispatcher stopped");
        atomic_fetch_add(&d->released, 1);
        task_free(t);
    }
    d->n_held = 0;
    atomic_store(&d->held_gauge, 0);
    while (d->n_flight > 0 && sg_mono_ms() < deadline)
        sg_http_client_run(d->http, 50);
}

static void *dispatcher_main(void *arg)
{
    struct sg_dispatcher *d = arg;
    int64_t now = now_ms(d);

    sg_thread_set_name("sg-dispatcher");
    d->next_claim_at = now;
    d->next_requeue_at = now;
    d->next_heartbeat_at = now + d->cfg.heartbeat_ms;
    while (!atomic_load(&d->stopping)) {
        now = now_ms(d);
        if (atomic_exchange(&d->kicked, false))
            d->next_claim_at = now;
        if (now >= d->next_requeue_at) {
            requeue_expired(d);
            d->next_requeue_at = now + d->cfg.requeue_every_ms;
        }
        if (now >= d->next_heartbeat_at) {
            heartbeat(d, now);
            d->next_heartbeat_at = now + d->cfg.heartbeat_ms;
        }
        run_held(d, now);
        if (active(d) < d->cfg.concurrency && now >= d->next_claim_at)
            claim(d, now);
        if (sg_http_client_run(d->http, (int)sleep_ms(d, now_ms(d))) < 0)
            sg_log(SG_LOG_ERR, "jobs", "msg=\"http client poll failed\"");
    }
    drain(d);
    return NULL;
}

/* ---- lifecycle ---- */

static int check_cfg(const struct sg_dispatcher_cfg *c, struct sg_err *err)
{
    const char *bad = NULL;

    if (c->concurrency < 1 || c->concurrency > 4096)
        bad = "concurrency";
    else if (c->attempts_max < 1 || c->attempts_max > 1000)
        bad = "attempts_max";
    else if (c->backoff_base_ms < 1 || c->backoff_max_ms < c->backoff_base_ms)
        bad = "backoff_base_ms/backoff_max_ms";
    else if (c->retry_after_max_ms < 0)
        bad = "retry_after_max_ms";
    else if (c->request_timeout_ms < 1)
        bad = "request_timeout_ms";
    else if (c->hold_max_ms < 0 ||
             c->lease_ms <= (int64_t)c->request_timeout_ms)
        bad = "lease_ms (must exceed request_timeout_ms)";
    else if (c->requeue_every_ms < 1 || c->idle_max_ms < 1 ||
             c->idle_max_ms > 60000)
        bad = "requeue_every_ms/idle_max_ms";
    else if (c->claim_batch < 1 || c->response_body_max < 1)
        bad = "claim_batch/response_body_max";
    else if (c->heartbeat_ms < 0 || c->heartbeat_ms >= c->lease_ms)
        bad = "heartbeat_ms (0..lease_ms)";
    if (bad)
        return sg_err_set(err, SG_ECONFIG, "jobs: bad %s", bad);
    return 0;
}

int sg_dispatcher_new(struct sg_dispatcher **out, struct sg_store *store,
                      const struct sg_dispatcher_cfg *cfg,
                      const struct sg_clock *clock, struct sg_err *err)
{
    struct sg_dispatcher *d;
    struct sg_http_client_cfg hc;
    struct sg_ratelimit_cfg rc_cfg;
    struct sg_breaker_cfg bc;
    int rc;

    *out = NULL;
    rc = check_cfg(cfg, err);
    if (rc < 0)
        return rc;
    d = sg_calloc(1, sizeof(*d));
    if (!d)
        return sg_err_set(err, SG_ENOMEM, "out of memory");
    if (pthread_mutex_init(&d->lock, NULL) != 0) {
        sg_free(d);
        return sg_err_set(err, SG_EIO, "mutex init failed");
    }
    if (pthread_cond_init(&d->cond, NULL) != 0) {
        pthread_mutex_destroy(&d->lock);
        sg_free(d);
        return sg_err_set(err, SG_EIO, "condvar init failed");
    }
    d->store = store;
    d->clock = clock ? clock : sg_store_clock(store);
    d->cfg = *cfg;
    d->cfg.notify_url = NULL;
    d->cfg.notify_secret = NULL;
    if (d->cfg.heartbeat_ms == 0)
        d->cfg.heartbeat_ms = SG_MAX(d->cfg.lease_ms / 3, 1);
    if ((cfg->notify_url && !(d->notify_url = sg_strdup(cfg->notify_url))) ||
        (cfg->notify_secret &&
         !(d->notify_secret = sg_strdup(cfg->notify_secret)))) {
        rc = sg_err_set(err, SG_ENOMEM, "out of memory");
        goto fail;
    }
    d->cfg.notify_url = d->notify_url;
    d->cfg.notify_secret = d->notify_secret;
    if (d->notify_secret)
        sg_log_add_secret(d->notify_secret);
    d->backoff.base_ms = cfg->backoff_base_ms;
    d->backoff.cap_ms = cfg->backoff_max_ms;
    d->backoff.rand = cfg->rand;
    d->backoff.rand_state = cfg->rand_state;

    sg_http_client_cfg_defaults(&hc);
    hc.body_max = cfg->response_body_max;
    hc.deny_private = !cfg->allow_private_urls;
    hc.default_timeout_ms = cfg->request_timeout_ms;
    hc.connect_timeout_ms =
        SG_MIN(hc.connect_timeout_ms, cfg->request_timeout_ms);
    rc = sg_http_client_new(&d->http, &hc, err);
    if (rc < 0)
        goto fail;
    rc_cfg.rate_per_sec = cfg->rate_per_sec;
    rc_cfg.burst = cfg->burst;
    rc_cfg.entries_max = cfg->buckets_max ? cfg->buckets_max : 4096;
    rc = sg_ratelimit_new(&d->rl, &rc_cfg, err);
    if (rc < 0)
        goto fail;
    sg_breaker_cfg_defaults(&bc);
    /* The window holds at most 64 outcomes; larger settings are cut. */
    bc.window =
        SG_MIN(SG_MAX(2 * cfg->breaker_min_calls, 20), SG_BREAKER_WINDOW_MAX);
    bc.min_calls = SG_MIN(SG_MAX(cfg->breaker_min_calls, 1), bc.window);
    bc.failure_pct = cfg->breaker_failure_pct;
    bc.open_ms = cfg->breaker_open_ms;
    bc.probes = cfg->breaker_probes;
    bc.entries_max = cfg->breakers_max ? cfg->breakers_max : 1024;
    rc = sg_breakers_new(&d->br, &bc, err);
    if (rc < 0)
        goto fail;
    *out = d;
    return 0;
fail:
    sg_dispatcher_free(d);
    return rc;
}

int sg_dispatcher_start(struct sg_dispatcher *d, struct sg_err *err)
{
    if (d->started)
        return sg_err_set(err, SG_ESTATE, "dispatcher already started");
    if (pthread_create(&d->thread, NULL, dispatcher_main, d) != 0)
        return sg_err_set(err, SG_EIO, "cannot start the dispatcher thread");
    d->started = true;
    return 0;
}

void sg_dispatcher_kick(struct sg_dispatcher *d)
{
    atomic_store(&d->kicked, true);
    sg_http_client_wakeup(d->http);
}

void sg_dispatcher_stop(struct sg_dispatcher *d)
{
    if (!d || !d->started || d->joined)
        return;
    atomic_store(&d->stopping, true);
    sg_http_client_wakeup(d->http);
    pthread_join(d->thread, NULL);
    d->joined = true;
    wait_finishes(d);
}

void sg_dispatcher_free(struct sg_dispatcher *d)
{
    if (!d)
        return;
    sg_dispatcher_stop(d);
    /* Calls still in flight are cancelled and requeued from here. */
    atomic_store(&d->stopping, true);
    pthread_mutex_lock(&d->lock);
    d->http_gone = true;
    pthread_mutex_unlock(&d->lock);
    sg_http_client_free(d->http);
    wait_finishes(d);
    sg_ratelimit_free(d->rl);
    sg_breakers_free(d->br);
    sg_free(d->notify_url);
    sg_free(d->notify_secret);
    pthread_cond_destroy(&d->cond);
    pthread_mutex_destroy(&d->lock);
    sg_free(d);
}

void sg_dispatcher_stats(struct sg_dispatcher *d,
                         struct sg_dispatcher_stats *out)
{
    out->claimed = atomic_load(&d->claimed);
    out->succeeded = atomic_load(&d->succeeded);
    out->retried = atomic_load(&d->retried);
    out->dead = atomic_load(&d->dead);
    out->rate_limited = atomic_load(&d->rate_limited);
    out->breaker_open = atomic_load(&d->breaker_open);
    out->released = atomic_load(&d->released);
    out->requeued = atomic_load(&d->requeued);
    out->stale = atomic_load(&d->stale);
    out->store_errors = atomic_load(&d->store_errors);
    out->in_flight = atomic_load(&d->in_flight);
    out->held = atomic_load(&d->held_gauge);
    out->lease_extended = atomic_load(&d->lease_extended);
    out->lease_lost = atomic_load(&d->lease_lost);
}

int sg_dispatcher_metrics(struct sg_dispatcher *d, struct sg_buf *out)
{
    struct sg_dispatcher_stats s;
    int rc;

    sg_dispatcher_stats(d, &s);
    rc = sg_buf_printf(
        out,
        "# HELP sg_jobs_outcomes_total Job attempts settled, by outcome.\n"
        "# TYPE sg_jobs_outcomes_total counter\n"
        "sg_jobs_outcomes_total{outcome=\"succeeded\"} %" PRIu64 "\n"
        "sg_jobs_outcomes_total{outcome=\"retried\"} %" PRIu64 "\n"
        "sg_jobs_outcomes_total{outcome=\"dead\"} %" PRIu64 "\n"
        "sg_jobs_outcomes_total{outcome=\"released\"} %" PRIu64 "\n"
        "# HELP sg_jobs_claimed_total Jobs claimed from the store.\n"
        "# TYPE sg_jobs_claimed_total counter\n"
        "sg_jobs_claimed_total %" PRIu64 "\n",
        s.succeeded, s.retried, s.dead, s.released, s.claimed);
    if (!rc)
        rc = sg_buf_printf(
            out,
            "# HELP sg_jobs_throttled_total Jobs made to wait locally.\n"
            "# TYPE sg_jobs_throttled_total counter\n"
            "sg_jobs_throttled_total{reason=\"rate_limited\"} %" PRIu64 "\n"
            "sg_jobs_throttled_total{reason=\"breaker_open\"} %" PRIu64 "\n"
            "# HELP sg_jobs_lease_requeued_total Expired leases requeued.\n"
            "# TYPE sg_jobs_lease_requeued_total counter\n"
            "sg_jobs_lease_requeued_total %" PRIu64 "\n"
            "# HELP sg_jobs_lease_extended_total Leases extended by the "
            "heartbeat.\n"
            "# TYPE sg_jobs_lease_extended_total counter\n"
            "sg_jobs_lease_extended_total %" PRIu64 "\n"
            "# HELP sg_jobs_errors_total Dispatcher errors, by kind.\n"
            "# TYPE sg_jobs_errors_total counter\n"
            "sg_jobs_errors_total{kind=\"stale_lease\"} %" PRIu64 "\n"
            "sg_jobs_errors_total{kind=\"lease_lost\"} %" PRIu64 "\n"
            "sg_jobs_errors_total{kind=\"store\"} %" PRIu64 "\n",
            s.rate_limited, s.breaker_open, s.requeued, s.lease_extended,
            s.stale, s.lease_lost, s.store_errors);
    if (!rc)
        rc = sg_buf_printf(
            out,
            "# HELP sg_jobs_in_flight HTTP calls under way.\n"
            "# TYPE sg_jobs_in_flight gauge\n"
            "sg_jobs_in_flight %" PRIu64 "\n"
            "# HELP sg_jobs_held Claimed jobs waiting for a token or breaker.\n"
            "# TYPE sg_jobs_held gauge\n"
            "sg_jobs_held %" PRIu64 "\n",
            s.in_flight, s.held);
    return rc;
}
