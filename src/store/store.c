/*
 * store.c - the backend-independent half of the store: the backend
 * registry, the writer thread with group commit, the reader pool and the
 * row-freeing helpers.
 *
 * Invariant: a write's done callback runs exactly once, after the batch
 * holding it committed or failed, and never while a store lock is held.
 * SQL never runs under the queue lock.
 */
#include "core/sg.h"

#include <pthread.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"
#include "store/store.h"

struct wq_item {
    sg_store_write_fn fn;
    sg_store_done_fn done;
    void *arg;
};

struct sg_store_tx {
    struct sg_store *s;
    void *be;
};

struct sg_store {
    const struct sg_store_ops *ops;
    struct sg_store_cfg cfg;
    char *path;
    const struct sg_clock *clock;
    void *wbe;

    /* The write queue: a ring of queue_max items under qlock. */
    pthread_mutex_t qlock;
    pthread_cond_t qcond;
    struct wq_item *ring;
    size_t ring_head;
    size_t ring_count;
    bool stopping;
    pthread_t writer;
    bool writer_started;

    /* Writer-only batch state, sized batch_max. */
    struct wq_item *batch;
    int *batch_rc;
    struct sg_err *batch_err;
    struct sg_store_tx tx;

    /* The reader pool: a stack of idle connections under rlock. */
    pthread_mutex_t rlock;
    pthread_cond_t rcond;
    void **rbe;
    size_t nreaders;
    void **ridle;
    size_t nidle;

    pthread_mutex_t slock;
    struct sg_store_stats stats;
    int last_commit_rc;
    bool probe_pending;

    bool locks_ready;
};

/* ---- registry ---- */

static const struct sg_store_ops *const backends[] = {
    &sg_store_sqlite_ops,
    &sg_store_postgres_ops,
    NULL,
};

int sg_store_ops_check(const struct sg_store_ops *o)
{
    if (!o || o->version != SG_STORE_OPS_VERSION || !o->name)
        return SG_ECONFIG;
    if (!o->open || !o->close || !o->migrate || !o->begin || !o->commit ||
        !o->rollback || !o->savepoint || !o->savepoint_release ||
        !o->savepoint_rollback || !o->writable || !o->tenant_insert ||
        !o->apikey_insert || !o->audit_insert || !o->inbox_insert ||
        !o->inbox_mark_processed || !o->job_enqueue || !o->job_claim ||
        !o->job_finish || !o->job_retry || !o->job_requeue_expired ||
        !o->tenant_get || !o->tenant_get_by_id || !o->apikey_lookup ||
        !o->inbox_get || !o->inbox_get_by_external || !o->inbox_pending ||
        !o->job_get || !o->job_list || !o->audit_list || !o->counts ||
        !o->next_job_due)
        return SG_ECONFIG;
    return 0;
}

const struct sg_store_ops *sg_store_backend(const char *name)
{
    size_t i;

    if (!name)
        return NULL;
    for (i = 0; backends[i]; i++) {
        if (strcmp(backends[i]->name, name) != 0)
            continue;
        if (sg_store_ops_check(backends[i]) != 0) {
            sg_log(SG_LOG_ERR, "store", "msg=\"backend rejected\" name=%s",
                   name);
            return NULL;
        }
        return backends[i];
    }
    return NULL;
}

/* ---- rows ---- */

const char *sg_job_state_name(int state)
{
    switch (state) {
    case SG_JOB_QUEUED:
        return "queued";
    case SG_JOB_RUNNING:
        return "running";
    case SG_JOB_DONE:
        return "done";
    case SG_JOB_DEAD:
        return "dead";
    default:
        return "unknown";
    }
}

int sg_job_state_parse(const char *name)
{
    int i;

    if (!name)
        return -1;
    for (i = SG_JOB_QUEUED; i <= SG_JOB_DEAD; i++)
        if (strcmp(name, sg_job_state_name(i)) == 0)
            return i;
    return -1;
}

void sg_inbox_free(struct sg_inbox *row)
{
    if (!row)
        return;
    sg_free(row->external_id);
    sg_free(row->body);
    row->external_id = NULL;
    row->body = NULL;
    row->body_len = 0;
}

void sg_inbox_list_free(struct sg_inbox *rows, size_t n)
{
    size_t i;

    if (!rows)
        return;
    for (i = 0; i < n; i++)
        sg_inbox_free(&rows[i]);
    sg_free(rows);
}

void sg_job_free(struct sg_job *job)
{
    if (!job)
        return;
    sg_free(job->coalesce_key);
    sg_free(job->payload);
    sg_free(job->last_error);
    sg_free(job->idempotency_key);
    job->coalesce_key = NULL;
    job->payload = NULL;
    job->last_error = NULL;
    job->idempotency_key = NULL;
}

void sg_job_list_free(struct sg_job *jobs, size_t n)
{
    size_t i;

    if (!jobs)
        return;
    for (i = 0; i < n; i++)
        sg_job_free(&jobs[i]);
    sg_free(jobs);
}

/* ---- configuration ---- */

void sg_store_cfg_defaults(struct sg_store_cfg *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->backend = "sqlite";
    cfg->path = "surge.db";
    cfg->batch_max = 256;
    cfg->queue_max = 65536;
    cfg->readers = 4;
    cfg->busy_timeout_ms = 5000;
    cfg->cache_bytes = 64u << 20;
}

/* Copy cfg into out, with zero fields taking their defaults. */
static void cfg_resolve(struct sg_store_cfg *out,
                        const struct sg_store_cfg *cfg)
{
    struct sg_store_cfg d;

    sg_store_cfg_defaults(&d);
    *out = cfg ? *cfg : d;
    if (!out->backend)
        out->backend = d.backend;
    if (!out->path)
        out->path = d.path;
    if (!out->batch_max)
        out->batch_max = d.batch_max;
    if (!out->queue_max)
        out->queue_max = d.queue_max;
    if (!out->readers)
        out->readers = d.readers;
    if (!out->busy_timeout_ms)
        out->busy_timeout_ms = d.busy_timeout_ms;
    if (!out->cache_bytes)
        out->cache_bytes = d.cache_bytes;
}

/* ---- the writer ---- */

static unsigned hist_bucket(size_t n)
{
    unsigned b = 0;

    while (n > 1 && b < 7) {
        n >>= 1;
        b++;
    }
    return b;
}

/*
 * The code a whole batch fails with when one write left the transaction
 * in doubt: the write's own error when it is about resources (memory,
 * disk, locks), which a retry may cure; SG_EIO otherwise, since another
 * write's bad input must not be reported to its neighbours.
 */
static int resource_error(int rc)
{
    return rc == SG_ENOMEM || rc == SG_EFULL || rc == SG_EBUSY ? rc
                                                                : SG_EIO;
}

/*
 * Run one batch in one transaction, each write in its own savepoint, then
 * report. If BEGIN or COMMIT fails, every write of the batch gets that
 * error (and it is marked retryable: nothing was written).
 */
static void run_batch(struct sg_store *s, size_t n)
{
    const struct sg_store_ops *o = s->ops;
    struct sg_err cerr;
    size_t i, failed = 0;
    int rc, crc;

    sg_err_init(&cerr);
    crc = o->begin(s->wbe, &cerr);
    for (i = 0; i < n && !crc; i++) {
        struct sg_err *e = &s->batch_err[i];

        sg_err_init(e);
        rc = o->savepoint(s->wbe, e);
        if (rc) {
            /*
             * SQLite may answer an out-of-memory or I/O error here by
             * rolling the whole transaction back; a later SAVEPOINT
             * would then open a transaction of its own and RELEASE
             * would commit the next write alone, while the batch still
             * reports failure. Fail the batch now (found by the D5
             * allocation-failure sweep).
             */
            crc = sg_err_set(&cerr, resource_error(rc), "savepoint: %s",
                             e->msg[0] ? e->msg : sg_err_name(rc));
        } else {
            rc = s->batch[i].fn(&s->tx, s->batch[i].arg, e);
            if (rc > 0)
                rc = SG_EIO;
            if (!rc)
                rc = o->savepoint_release(s->wbe, e);
            if (rc && o->savepoint_rollback(s->wbe) != 0) {
                /*
                 * The transaction is in an unknown state (SQLite may
                 * have rolled it back after the write's own error):
                 * fail it all, with that error when it says why.
                 */
                crc = sg_err_set(&cerr, resource_error(rc),
                                 "savepoint rollback failed after: %s",
                                 e->msg[0] ? e->msg : sg_err_name(rc));
            }
        }
        if (rc && !e->code)
            sg_err_set(e, rc, "write failed: %s", sg_err_name(rc));
        s->batch_rc[i] = rc;
    }
    if (!crc)
        crc = o->commit(s->wbe, &cerr);
    if (crc) {
        o->rollback(s->wbe);
        cerr.retryable = true;
        for (i = 0; i < n; i++) {
            s->batch_rc[i] = crc;
            s->batch_err[i] = cerr;
        }
        sg_log(SG_LOG_WARN, "store",
               "msg=\"batch failed\" writes=%zu "
               "err=%s detail=\"%s\"",
               n, sg_err_name(crc), cerr.msg);
    }
    for (i = 0; i < n; i++)
        if (s->batch_rc[i])
            failed++;

    pthread_mutex_lock(&s->slock);
    s->stats.writes += n;
    s->stats.write_errors += failed;
    if (crc)
        s->stats.commit_failures++;
    else
        s->stats.commits++;
    s->stats.batch_hist[hist_bucket(n)]++;
    s->last_commit_rc = crc;
    pthread_mutex_unlock(&s->slock);

    for (i = 0; i < n; i++) {
        if (!s->batch[i].done)
            continue;
        s->batch[i].done(s->batch[i].arg, s->batch_rc[i],
                         s->batch_rc[i] ? &s->batch_err[i] : NULL);
    }
}

static void *writer_main(void *arg)
{
    struct sg_store *s = arg;
    size_t n, i, cap = s->cfg.queue_max;

    sg_thread_set_name("sg-store-writer");
    for (;;) {
        pthread_mutex_lock(&s->qlock);
        while (s->ring_count == 0 && !s->stopping)
            pthread_cond_wait(&s->qcond, &s->qlock);
        if (s->ring_count == 0) {
            /* stopping and drained */
            pthread_mutex_unlock(&s->qlock);
            break;
        }
        n = SG_MIN(s->ring_count, (size_t)s->cfg.batch_max);
        for (i = 0; i < n; i++)
            s->batch[i] = s->ring[(s->ring_head + i) % cap];
        s->ring_head = (s->ring_head + n) % cap;
        s->ring_count -= n;
        pthread_mutex_unlock(&s->qlock);
        run_batch(s, n);
    }
    return NULL;
}

int sg_store_submit(struct sg_store *s, sg_store_write_fn fn,
                    sg_store_done_fn done, void *arg)
{
    size_t cap;
    int rc = 0;

    if (!s || !fn)
        return SG_EINVAL;
    cap = s->cfg.queue_max;
    pthread_mutex_lock(&s->qlock);
    if (s->stopping || s->ring_count >= cap) {
        rc = SG_EBUSY;
    } else {
        struct wq_item *it = &s->ring[(s->ring_head + s->ring_count) % cap];

        it->fn = fn;
        it->done = done;
        it->arg = arg;
        s->ring_count++;
        if (s->ring_count == 1)
            pthread_cond_signal(&s->qcond);
    }
    pthread_mutex_unlock(&s->qlock);
    return rc;
}

/* A synchronous write: the queued item points at this, on the caller's stack.
 */
struct sync_wait {
    sg_store_write_fn fn;
    void *arg;
    pthread_mutex_t m;
    pthread_cond_t c;
    bool done;
    int rc;
    struct sg_err err;
};

static int sync_fn(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    struct sync_wait *w = arg;

    return w->fn(tx, w->arg, err);
}

static void sync_done(void *arg, int rc, const struct sg_err *err)
{
    struct sync_wait *w = arg;

    pthread_mutex_lock(&w->m);
    w->rc = rc;
    if (err)
        w->err = *err;
    w->done = true;
    pthread_cond_signal(&w->c);
    pthread_mutex_unlock(&w->m);
}

int sg_store_write_begin(struct sg_store *s, sg_store_write_fn fn,
                         void *arg, struct sg_store_pending **out,
                         struct sg_err *err)
{
    struct sync_wait *w;
    int rc;

    *out = NULL;
    if (!s || !fn)
        return sg_err_set(err, SG_EINVAL, "no store or write");
    w = sg_calloc(1, sizeof(*w));
    if (!w)
        return sg_err_set(err, SG_ENOMEM, "out of memory");
    sg_err_init(&w->err);
    w->fn = fn;
    w->arg = arg;
    if (pthread_mutex_init(&w->m, NULL) != 0) {
        sg_free(w);
        return sg_err_set(err, SG_EIO, "mutex init failed");
    }
    if (pthread_cond_init(&w->c, NULL) != 0) {
        pthread_mutex_destroy(&w->m);
        sg_free(w);
        return sg_err_set(err, SG_EIO, "condvar init failed");
    }
    rc = sg_store_submit(s, sync_fn, sync_done, w);
    if (rc) {
        pthread_cond_destroy(&w->c);
        pthread_mutex_destroy(&w->m);
        sg_free(w);
        return sg_err_set(err, rc, "write queue full or store stopping");
    }
    *out = (struct sg_store_pending *)w;
    return 0;
}

int sg_store_write_end(struct sg_store_pending *p, struct sg_err *err)
{
    struct sync_wait *w = (struct sync_wait *)p;
    int rc;

    if (!w)
        return sg_err_set(err, SG_EINVAL, "no pending write");
    pthread_mutex_lock(&w->m);
    while (!w->done)
        pthread_cond_wait(&w->c, &w->m);
    pthread_mutex_unlock(&w->m);
    rc = w->rc;
    if (rc && err)
        *err = w->err;
    pthread_cond_destroy(&w->c);
    pthread_mutex_destroy(&w->m);
    sg_free(w);
    return rc;
}

int sg_store_write(struct sg_store *s, sg_store_write_fn fn, void *arg,
                   struct sg_err *err)
{
    struct sync_wait w;
    int rc;

    if (!s || !fn)
        return sg_err_set(err, SG_EINVAL, "no store or write");
    memset(&w, 0, sizeof(w));
    sg_err_init(&w.err);
    w.fn = fn;
    w.arg = arg;
    if (pthread_mutex_init(&w.m, NULL) != 0)
        return sg_err_set(err, SG_EIO, "mutex init failed");
    if (pthread_cond_init(&w.c, NULL) != 0) {
        pthread_mutex_destroy(&w.m);
        return sg_err_set(err, SG_EIO, "condvar init failed");
    }
    rc = sg_store_submit(s, sync_fn, sync_done, &w);
    if (rc) {
        sg_err_set(err, rc, "write queue full or store stopping");
        goto out;
    }
    pthread_mutex_lock(&w.m);
    while (!w.done)
        pthread_cond_wait(&w.c, &w.m);
    pthread_mutex_unlock(&w.m);
    rc = w.rc;
    if (rc && err)
        *err = w.err;
out:
    pthread_cond_destroy(&w.c);
    pthread_mutex_destroy(&w.m);
    return rc;
}

/* ---- open and close ---- */

static void store_destroy(struct sg_store *s)
{
    size_t i;

    if (!s)
        return;
    for (i = 0; s->rbe && i < s->nreaders; i++)
        s->ops->close(s->rbe[i]);
    if (s->wbe)
        s->ops->close(s->wbe);
    if (s->locks_ready) {
        pthread_mutex_destroy(&s->qlock);
        pthread_cond_destroy(&s->qcond);
        pthread_mutex_destroy(&s->rlock);
        pthread_cond_destroy(&s->rcond);
        pthread_mutex_destroy(&s->slock);
    }
    sg_free(s->rbe);
    sg_free(s->ridle);
    sg_free(s->ring);
    sg_free(s->batch);
    sg_free(s->batch_rc);
    sg_free(s->batch_err);
    sg_free(s->path);
    sg_free(s);
}

static int init_locks(struct sg_store *s)
{
    int ok = 0;

    ok |= pthread_mutex_init(&s->qlock, NULL);
    ok |= pthread_cond_init(&s->qcond, NULL);
    ok |= pthread_mutex_init(&s->rlock, NULL);
    ok |= pthread_cond_init(&s->rcond, NULL);
    ok |= pthread_mutex_init(&s->slock, NULL);
    /* On Linux these do not allocate and cannot fail with default attrs. */
    SG_ASSERT(ok == 0);
    s->locks_ready = true;
    return 0;
}

int sg_store_open(struct sg_store **out, const struct sg_store_cfg *cfg,
                  const struct sg_clock *clock, struct sg_err *err)
{
    struct sg_store *s;
    struct sg_store_cfg c;
    size_t i;
    int rc;

    *out = NULL;
    cfg_resolve(&c, cfg);
    s = sg_calloc(1, sizeof(*s));
    if (!s)
        return sg_err_set(err, SG_ENOMEM, "out of memory");
    init_locks(s);
    s->ops = sg_store_backend(c.backend);
    if (!s->ops) {
        rc = sg_err_set(err, SG_ECONFIG, "unknown store backend %s", c.backend);
        goto fail;
    }
    s->path = sg_strdup(c.path);
    s->ring = sg_calloc(c.queue_max, sizeof(*s->ring));
    s->batch = sg_calloc(c.batch_max, sizeof(*s->batch));
    s->batch_rc = sg_calloc(c.batch_max, sizeof(*s->batch_rc));
    s->batch_err = sg_calloc(c.batch_max, sizeof(*s->batch_err));
    s->rbe = sg_calloc(c.readers, sizeof(*s->rbe));
    s->ridle = sg_calloc(c.readers, sizeof(*s->ridle));
    if (!s->path || !s->ring || !s->batch || !s->batch_rc || !s->batch_err ||
        !s->rbe || !s->ridle) {
        rc = sg_err_set(err, SG_ENOMEM, "out of memory");
        goto fail;
    }
    c.path = s->path;
    c.backend = s->ops->name;
    s->cfg = c;
    s->clock = clock;
    s->tx.s = s;

    rc = s->ops->open(&s->wbe, &s->cfg, true, err);
    if (rc)
        goto fail;
    s->tx.be = s->wbe;
    rc = s->ops->migrate(s->wbe, NULL, err);
    if (rc)
        goto fail;
    for (i = 0; i < c.readers; i++) {
        rc = s->ops->open(&s->rbe[i], &s->cfg, false, err);
        if (rc)
            goto fail;
        s->nreaders++;
        s->ridle[s->nidle++] = s->rbe[i];
    }
    if (pthread_create(&s->writer, NULL, writer_main, s) != 0) {
        rc = sg_err_set(err, SG_EIO, "cannot start the writer thread");
        goto fail;
    }
    s->writer_started = true;
    *out = s;
    return 0;
fail:
    store_destroy(s);
    return rc;
}

void sg_store_free(struct sg_store *s)
{
    if (!s)
        return;
    if (s->writer_started) {
        pthread_mutex_lock(&s->qlock);
        s->stopping = true;
        pthread_cond_signal(&s->qcond);
        pthread_mutex_unlock(&s->qlock);
        pthread_join(s->writer, NULL);
    }
    store_destroy(s);
}

const struct sg_clock *sg_store_clock(const struct sg_store *s)
{
    return s->clock;
}

int sg_store_migrate_only(const struct sg_store_cfg *cfg, int *applied_out,
                          struct sg_err *err)
{
    const struct sg_store_ops *ops;
    struct sg_store_cfg c;
    void *be = NULL;
    int rc;

    cfg_resolve(&c, cfg);
    ops = sg_store_backend(c.backend);
    if (!ops)
        return sg_err_set(err, SG_ECONFIG, "unknown store backend %s",
                          c.backend);
    rc = ops->open(&be, &c, true, err);
    if (rc)
        return rc;
    rc = ops->migrate(be, applied_out, err);
    ops->close(be);
    return rc;
}

/* ---- writer-side helpers ---- */

int64_t sg_store_tx_now(struct sg_store_tx *tx)
{
    return sg_clock_now_ms(tx->s->clock);
}

int sg_store_tx_tenant_insert(struct sg_store_tx *tx, const char *name,
                              int64_t *id_out, struct sg_err *err)
{
    return tx->s->ops->tenant_insert(tx->be, name, sg_store_tx_now(tx), id_out,
                                     err);
}

int sg_store_tx_apikey_insert(struct sg_store_tx *tx, int64_t tenant_id,
                              const char *hash_hex, const char *prefix,
                              bool read_only, int64_t *id_out,
                              struct sg_err *err)
{
    return tx->s->ops->apikey_insert(tx->be, tenant_id, hash_hex, prefix,
                                     read_only, sg_store_tx_now(tx), id_out,
                                     err);
}

int sg_store_tx_audit(struct sg_store_tx *tx, const struct sg_audit *a,
                      struct sg_err *err)
{
    struct sg_audit row = *a;

    if (!row.at)
        row.at = sg_store_tx_now(tx);
    return tx->s->ops->audit_insert(tx->be, &row, NULL, err);
}

int sg_store_tx_inbox_insert(struct sg_store_tx *tx, int64_t tenant_id,
                             const char *source, const char *external_id,
                             const char *body, size_t body_len, int64_t *id_out,
                             bool *dup_out, struct sg_err *err)
{
    return tx->s->ops->inbox_insert(tx->be, tenant_id, source, external_id,
                                    body, body_len, sg_store_tx_now(tx), false,
                                    id_out, dup_out, err);
}

int sg_store_tx_inbox_insert_processed(struct sg_store_tx *tx,
                                       int64_t tenant_id, const char *source,
                                       const char *external_id,
                                       const char *body, size_t body_len,
                                       int64_t *id_out, bool *dup_out,
                                       struct sg_err *err)
{
    return tx->s->ops->inbox_insert(tx->be, tenant_id, source, external_id,
                                    body, body_len, sg_store_tx_now(tx), true,
                                    id_out, dup_out, err);
}

int sg_store_tx_inbox_mark_processed(struct sg_store_tx *tx, int64_t id,
                                     struct sg_err *err)
{
    return tx->s->ops->inbox_mark_processed(tx->be, id, sg_store_tx_now(tx),
                                            err);
}

int sg_store_tx_job_enqueue(struct sg_store_tx *tx, const struct sg_job *job,
                            int64_t *id_out, bool *coalesced_out,
                            struct sg_err *err)
{
    return tx->s->ops->job_enqueue(tx->be, job, sg_store_tx_now(tx), id_out,
                                   coalesced_out, err);
}

int sg_store_tx_job_claim(struct sg_store_tx *tx, int64_t lease_ms, size_t max,
                          struct sg_job **jobs_out, size_t *n_out,
                          struct sg_err *err)
{
    return tx->s->ops->job_claim(tx->be, sg_store_tx_now(tx), lease_ms, max,
                                 jobs_out, n_out, err);
}

int sg_store_tx_job_finish(struct sg_store_tx *tx, int64_t id,
                           int64_t lease_token, int state, int64_t next_run_at,
                           const char *error, struct sg_err *err)
{
    return tx->s->ops->job_finish(tx->be, id, lease_token, state, next_run_at,
                                  error, sg_store_tx_now(tx), err);
}

int sg_store_tx_job_retry(struct sg_store_tx *tx, int64_t tenant_id, int64_t id,
                          struct sg_err *err)
{
    return tx->s->ops->job_retry(tx->be, tenant_id, id, sg_store_tx_now(tx),
                                 err);
}

int sg_store_tx_job_requeue_expired(struct sg_store_tx *tx, size_t *n_out,
                                    struct sg_err *err)
{
    return tx->s->ops->job_requeue_expired(tx->be, sg_store_tx_now(tx), n_out,
                                           err);
}

/* ---- reads ---- */

static void *reader_get(struct sg_store *s)
{
    void *be;

    pthread_mutex_lock(&s->rlock);
    while (s->nidle == 0)
        pthread_cond_wait(&s->rcond, &s->rlock);
    be = s->ridle[--s->nidle];
    pthread_mutex_unlock(&s->rlock);
    return be;
}

static void reader_put(struct sg_store *s, void *be)
{
    pthread_mutex_lock(&s->rlock);
    s->ridle[s->nidle++] = be;
    pthread_cond_signal(&s->rcond);
    pthread_mutex_unlock(&s->rlock);
}

int sg_store_tenant_get(struct sg_store *s, const char *name,
                        struct sg_tenant *out, struct sg_err *err)
{
    void *be = reader_get(s);
    int rc = s->ops->tenant_get(be, name, out, err);

    reader_put(s, be);
    return rc;
}

int sg_store_tenant_get_by_id(struct sg_store *s, int64_t id,
                              struct sg_tenant *out, struct sg_err *err)
{
    void *be = reader_get(s);
    int rc = s->ops->tenant_get_by_id(be, id, out, err);

    reader_put(s, be);
    return rc;
}

int sg_store_apikey_lookup(struct sg_store *s, const char *hash_hex,
                           struct sg_apikey *out, struct sg_err *err)
{
    void *be = reader_get(s);
    int rc = s->ops->apikey_lookup(be, hash_hex, out, err);

    reader_put(s, be);
    return rc;
}

int sg_store_inbox_get(struct sg_store *s, int64_t tenant_id, int64_t id,
                       struct sg_inbox *out, struct sg_err *err)
{
    void *be = reader_get(s);
    int rc = s->ops->inbox_get(be, tenant_id, id, out, err);

    reader_put(s, be);
    return rc;
}

int sg_store_inbox_get_by_external(struct sg_store *s, const char *source,
                                   const char *external_id,
                                   struct sg_inbox *out, struct sg_err *err)
{
    void *be = reader_get(s);
    int rc = s->ops->inbox_get_by_external(be, source, external_id, out, err);

    reader_put(s, be);
    return rc;
}

int sg_store_inbox_pending(struct sg_store *s, size_t max,
                           struct sg_inbox **rows_out, size_t *n_out,
                           struct sg_err *err)
{
    void *be = reader_get(s);
    int rc = s->ops->inbox_pending(be, max, rows_out, n_out, err);

    reader_put(s, be);
    return rc;
}

int sg_store_job_get(struct sg_store *s, int64_t tenant_id, int64_t id,
                     struct sg_job *out, struct sg_err *err)
{
    void *be = reader_get(s);
    int rc = s->ops->job_get(be, tenant_id, id, out, err);

    reader_put(s, be);
    return rc;
}

int sg_store_job_list(struct sg_store *s, int64_t tenant_id, int state,
                      int64_t after_id, size_t limit, struct sg_job **jobs_out,
                      size_t *n_out, struct sg_err *err)
{
    void *be = reader_get(s);
    int rc = s->ops->job_list(be, tenant_id, state, after_id, limit, jobs_out,
                              n_out, err);

    reader_put(s, be);
    return rc;
}

int sg_store_audit_list(struct sg_store *s, int64_t tenant_id, int64_t after_id,
                        size_t limit, struct sg_audit **rows_out, size_t *n_out,
                        struct sg_err *err)
{
    void *be = reader_get(s);
    int rc = s->ops->audit_list(be, tenant_id, after_id, limit, rows_out, n_out,
                                err);

    reader_put(s, be);
    return rc;
}

int sg_store_counts(struct sg_store *s, int64_t *inbox_pending_out,
                    int64_t jobs_by_state_out[4], struct sg_err *err)
{
    void *be = reader_get(s);
    int rc = s->ops->counts(be, inbox_pending_out, jobs_by_state_out, err);

    reader_put(s, be);
    return rc;
}

int sg_store_next_job_due(struct sg_store *s, int64_t *at_out,
                          struct sg_err *err)
{
    void *be = reader_get(s);
    int rc = s->ops->next_job_due(be, at_out, err);

    reader_put(s, be);
    return rc;
}

static int probe_fn(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    SG_UNUSED(tx);
    SG_UNUSED(arg);
    SG_UNUSED(err);
    return 0;
}

static void probe_done(void *arg, int rc, const struct sg_err *err)
{
    struct sg_store *s = arg;

    SG_UNUSED(rc);
    SG_UNUSED(err);
    pthread_mutex_lock(&s->slock);
    s->probe_pending = false;
    pthread_mutex_unlock(&s->slock);
}

int sg_store_writable(struct sg_store *s, struct sg_err *err)
{
    void *be;
    bool stopping, full, probe = false;
    int rc;

    pthread_mutex_lock(&s->qlock);
    stopping = s->stopping;
    full = s->ring_count >= s->cfg.queue_max;
    pthread_mutex_unlock(&s->qlock);
    if (stopping)
        return sg_err_set(err, SG_EBUSY, "store is stopping");
    if (full)
        return sg_err_set(err, SG_EBUSY, "write queue is full");
    pthread_mutex_lock(&s->slock);
    rc = s->last_commit_rc;
    if (rc && !s->probe_pending)
        probe = s->probe_pending = true;
    pthread_mutex_unlock(&s->slock);
    if (rc) {
        /*
         * Queue an empty write so a recovered database clears the failure
         * even when no one else writes (no one may, while we say not ready).
         */
        if (probe && sg_store_submit(s, probe_fn, probe_done, s) != 0) {
            pthread_mutex_lock(&s->slock);
            s->probe_pending = false;
            pthread_mutex_unlock(&s->slock);
        }
        return sg_err_set(err, rc, "last commit failed: %s", sg_err_name(rc));
    }
    be = reader_get(s);
    rc = s->ops->writable(be, err);
    reader_put(s, be);
    return rc;
}

void sg_store_stats(struct sg_store *s, struct sg_store_stats *out)
{
    pthread_mutex_lock(&s->slock);
    *out = s->stats;
    pthread_mutex_unlock(&s->slock);
    pthread_mutex_lock(&s->qlock);
    out->queue_depth = s->ring_count;
    pthread_mutex_unlock(&s->qlock);
}

/* ---- extension points for feature modules ---- */

const char *sg_store_backend_name(const struct sg_store *s)
{
    return s->ops->name;
}

void *sg_store_tx_backend(struct sg_store_tx *tx)
{
    return tx->be;
}

struct sg_store *sg_store_tx_store(struct sg_store_tx *tx)
{
    return tx->s;
}

int sg_store_read(struct sg_store *s, sg_store_read_fn fn, void *arg,
                  struct sg_err *err)
{
    void *be = reader_get(s);
    int rc = fn(be, arg, err);

    reader_put(s, be);
    return rc;
}
