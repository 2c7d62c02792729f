/*
 * store.h - Surge's storage interface: one ops table per backend (SQLite,
 * the embedded default, and PostgreSQL through libpq), a single writer thread with group commit, and a
 * pool of reader connections.
 *
 * Writes: callers package their change as a sg_store_write_fn and submit
 * it. The writer runs many submitted writes in one transaction (bounded by
 * batch_max), each inside its own savepoint so one failing write does not
 * fail its neighbours, commits, and only then calls each write's done
 * callback. A write is acknowledged iff its transaction committed. SQL
 * dialect differences stay inside the backend: write functions call the
 * sg_store_tx_* helpers below, never SQL.
 *
 * Reads: sg_store_* read functions borrow a reader connection from a pool,
 * so they never wait for the writer (SQLite WAL).
 *
 * Ownership: every out-parameter belongs to the caller; free rows with the
 * matching *_free / *_list_free function. All functions return 0 or a
 * negative SG_E*; details go in err.
 */
#ifndef SG_STORE_H
#define SG_STORE_H

#include "core/sg.h"
#include "core/err.h"

struct sg_store;
struct sg_store_tx;

#define SG_STORE_OPS_VERSION 1

/* Zero/NULL fields take the defaults of sg_store_cfg_defaults(). */
struct sg_store_cfg {
    const char *backend;    /* "sqlite" or "postgres" */
    const char *path;       /* SQLite file (created 0600) */
    unsigned batch_max;     /* writes per transaction; 1 = no group commit */
    unsigned queue_max;     /* pending writes before submit says SG_EBUSY */
    unsigned readers;       /* reader connections in the pool */
    unsigned busy_timeout_ms;
    size_t cache_bytes;     /* writer's page cache; readers get a quarter */
    const char *dsn;        /* postgres: a libpq connection string or URI */
};

void sg_store_cfg_defaults(struct sg_store_cfg *cfg);

/* ---- rows ---- */

struct sg_tenant {
    int64_t id;
    char name[64];
    int64_t created_at; /* ms since epoch */
};

struct sg_apikey {
    int64_t id;
    int64_t tenant_id;
    char prefix[16];    /* first chars of the key, shown in listings */
    bool read_only;
    int64_t created_at;
    int64_t revoked_at; /* 0 = live */
};

struct sg_audit {
    int64_t id;
    int64_t tenant_id;
    int64_t key_id;     /* 0 for the CLI */
    char actor[32];     /* "apikey" or "cli" */
    char action[64];    /* e.g. "job.retry" */
    char object[128];   /* e.g. "job:42" */
    char outcome[32];   /* "ok" or an error name */
    int64_t at;
};

struct sg_inbox {
    int64_t id;
    int64_t tenant_id;
    char source[32];
    char *external_id;
    char *body;
    size_t body_len;
    int64_t received_at;
    int64_t processed_at; /* 0 = not yet */
};

enum sg_job_state {
    SG_JOB_QUEUED = 0,
    SG_JOB_RUNNING = 1,
    SG_JOB_DONE = 2,
    SG_JOB_DEAD = 3,
};

struct sg_job {
    int64_t id;
    int64_t tenant_id;
    char kind[32];            /* e.g. "notify.http" */
    char *coalesce_key;       /* NULL = never coalesced */
    char *payload;            /* JSON text */
    int state;                /* enum sg_job_state */
    int attempts;
    int attempts_max;
    int priority;             /* higher runs first among due jobs */
    int64_t next_run_at;
    char *last_error;
    char *idempotency_key;
    char platform[32];        /* rate-limit / breaker scope */
    char shop[64];
    char endpoint_class[32];
    int64_t lease_token;      /* set while running */
    int64_t lease_until;
    int64_t created_at;
    int64_t updated_at;
    /*
     * Enqueue only: when this folds into a queued job, that job keeps its
     * due time instead of taking the earlier of the two (a change that is
     * not urgent does not cut short a window, a hold or a backoff).
     */
    bool keep_due;
};

const char *sg_job_state_name(int state);
int sg_job_state_parse(const char *name); /* -1 if unknown */

/*
 * Freeing rows. sg_inbox_free and sg_job_free release the members of a
 * caller-owned struct (the struct itself is not freed; its pointers are
 * reset to NULL, so a second call is harmless). The *_list_free functions
 * release the members of each of the n rows and then the array. All accept
 * NULL.
 */
void sg_inbox_free(struct sg_inbox *row);
void sg_job_free(struct sg_job *job);
void sg_job_list_free(struct sg_job *jobs, size_t n);

/* attempts_max used when an enqueued job says 0 or less. */
#define SG_JOB_ATTEMPTS_MAX_DEFAULT 8
/* Upper bound on rows returned by one list/pending/claim call. */
#define SG_STORE_LIST_MAX 1000

/* ---- the backend ops table ---- */

struct sg_store_ops {
    unsigned int version; /* SG_STORE_OPS_VERSION; append-only below */
    const char *name;

    int (*open)(void **be_out, const struct sg_store_cfg *cfg, bool writer,
                struct sg_err *err);
    void (*close)(void *be);
    int (*migrate)(void *be, int *applied_out, struct sg_err *err);
    int (*begin)(void *be, struct sg_err *err);
    int (*commit)(void *be, struct sg_err *err);
    int (*rollback)(void *be);
    int (*savepoint)(void *be, struct sg_err *err);
    int (*savepoint_release)(void *be, struct sg_err *err);
    int (*savepoint_rollback)(void *be);
    int (*writable)(void *be, struct sg_err *err);

    /* writes, on the writer connection inside a transaction */
    int (*tenant_insert)(void *be, const char *name, int64_t now,
                         int64_t *id_out, struct sg_err *err);
    int (*apikey_insert)(void *be, int64_t tenant_id, const char *hash_hex,
                         const char *prefix, bool read_only, int64_t now,
                         int64_t *id_out, struct sg_err *err);
    int (*audit_insert)(void *be, const struct sg_audit *a, int64_t *id_out,
                        struct sg_err *err);
    int (*inbox_insert)(void *be, int64_t tenant_id, const char *source,
                        const char *external_id, const char *body,
                        size_t body_len, int64_t now, bool processed,
                        int64_t *id_out, bool *dup_out, struct sg_err *err);
    int (*inbox_mark_processed)(void *be, int64_t id, int64_t now,
                                struct sg_err *err);
    int (*job_enqueue)(void *be, const struct sg_job *job, int64_t now,
                       int64_t *id_out, bool *coalesced_out,
                       struct sg_err *err);
    int (*job_claim)(void *be, int64_t now, int64_t lease_ms, size_t max,
                     struct sg_job **jobs_out, size_t *n_out,
                     struct sg_err *err);
    int (*job_finish)(void *be, int64_t id, int64_t lease_token, int state,
                      int64_t next_run_at, const char *error, int64_t now,
                      struct sg_err *err);
    int (*job_retry)(void *be, int64_t tenant_id, int64_t id, int64_t now,
                     struct sg_err *err);
    int (*job_requeue_expired)(void *be, int64_t now, size_t *n_out,
                               struct sg_err *err);

    /* reads, on a reader connection */
    int (*tenant_get)(void *be, const char *name, struct sg_tenant *out,
                      struct sg_err *err);
    int (*tenant_get_by_id)(void *be, int64_t id, struct sg_tenant *out,
                            struct sg_err *err);
    int (*apikey_lookup)(void *be, const char *hash_hex,
                         struct sg_apikey *out, struct sg_err *err);
    int (*inbox_get)(void *be, int64_t tenant_id, int64_t id,
                     struct sg_inbox *out, struct sg_err *err);
    int (*inbox_get_by_external)(void *be, const char *source,
                                 const char *external_id,
                                 struct sg_inbox *out, struct sg_err *err);
    int (*inbox_pending)(void *be, size_t max, struct sg_inbox **rows_out,
                         size_t *n_out, struct sg_err *err);
    int (*job_get)(void *be, int64_t tenant_id, int64_t id,
                   struct sg_job *out, struct sg_err *err);
    int (*job_list)(void *be, int64_t tenant_id, int state, int64_t after_id,
                    size_t limit, struct sg_job **jobs_out, size_t *n_out,
                    struct sg_err *err);
    int (*audit_list)(void *be, int64_t tenant_id, int64_t after_id,
                      size_t limit, struct sg_audit **rows_out,
                      size_t *n_out, struct sg_err *err);
    int (*counts)(void *be, int64_t *inbox_pending_out,
                  int64_t jobs_by_state_out[4], struct sg_err *err);
    int (*next_job_due)(void *be, int64_t *at_out, struct sg_err *err);
};

/* The registered backends: a plain static array, NULL-terminated. */
const struct sg_store_ops *sg_store_backend(const char *name);
extern const struct sg_store_ops sg_store_sqlite_ops;
extern const struct sg_store_ops sg_store_postgres_ops;
/*
 * 0 when ops can be used: its version is SG_STORE_OPS_VERSION and no slot
 * is NULL; SG_ECONFIG otherwise. sg_store_backend() only returns tables
 * that pass.
 */
int sg_store_ops_check(const struct sg_store_ops *ops);

/* ---- the store handle ---- */

/*
 * Open the store: the writer connection (migrations applied), the reader
 * pool and the writer thread. *out is owned by the caller; close with
 * sg_store_free(). clock may be NULL (system clock); it is borrowed.
 */
struct sg_clock;
int sg_store_open(struct sg_store **out, const struct sg_store_cfg *cfg,
                  const struct sg_clock *clock, struct sg_err *err);
/* Stops the writer after draining the queue; NULL-safe. */
void sg_store_free(struct sg_store *s);
const struct sg_clock *sg_store_clock(const struct sg_store *s);

/* Apply pending migrations without starting anything else. */
int sg_store_migrate_only(const struct sg_store_cfg *cfg, int *applied_out,
                          struct sg_err *err);

/* ---- writes ---- */

/*
 * A write: runs on the writer thread inside a savepoint of the current
 * batch transaction. Return 0 to keep its changes, or an SG_E* to roll
 * just this write back. It must not block on anything but the database.
 */
typedef int (*sg_store_write_fn)(struct sg_store_tx *tx, void *arg,
                                 struct sg_err *err);
/*
 * Completion: called exactly once per accepted submission, on the writer
 * thread, after the batch committed (rc = 0) or failed (rc < 0, err set).
 * It must be quick: hand the result to another thread, do not block.
 * err is NULL when rc = 0 and is valid only during the call. A done
 * callback may sg_store_submit() but must not sg_store_write() (it would
 * wait for the thread it runs on).
 */
typedef void (*sg_store_done_fn)(void *arg, int rc, const struct sg_err *err);

/*
 * Queue a write. Returns 0 (done will be called), SG_EBUSY when the queue
 * is full or the store is stopping (done will NOT be called).
 */
int sg_store_submit(struct sg_store *s, sg_store_write_fn fn,
                    sg_store_done_fn done, void *arg);
/*
 * Queue a write and wait for its commit; returns the write's rc (err
 * filled), or SG_EBUSY at once when the queue is full or the store is
 * stopping. Never call it from a write or done function (deadlock).
 */
int sg_store_write(struct sg_store *s, sg_store_write_fn fn, void *arg,
                   struct sg_err *err);
/*
 * sg_store_write in two halves, so the caller can work while its write
 * commits: begin queues fn (SG_EBUSY, SG_ENOMEM at once, nothing queued);
 * end waits for the commit, returns the write's rc and frees *p. Every
 * begun write must be ended; arg must live until then. Same rules as
 * sg_store_write about where it may be called.
 */
struct sg_store_pending;
int sg_store_write_begin(struct sg_store *s, sg_store_write_fn fn,
                         void *arg, struct sg_store_pending **out,
                         struct sg_err *err);
int sg_store_write_end(struct sg_store_pending *p, struct sg_err *err);

/*
 * Writer-side helpers, valid only inside a sg_store_write_fn; "now" is the
 * store's clock. Semantics shared by every backend:
 * - inbox_insert: a second (source, external_id) is not an error: *dup_out
 *   is set and *id_out is the existing row's id.
 * - inbox_insert_processed: the same, but a new row is stored already
 *   processed (processed_at = now): for a caller that does the row's work
 *   in the same write, one statement and one index entry less than an
 *   insert and a mark. A duplicate's row is left as it is.
 * - job_enqueue: next_run_at 0 = now; attempts_max <= 0 = the default. If
 *   coalesce_key is set and the same tenant has a QUEUED job with that
 *   key, that job takes the new payload, the earlier next_run_at (its own
 *   with keep_due) and the higher priority, and *coalesced_out is set (keys are per tenant; the
 *   same key queued by another tenant gives SG_EEXISTS).
 * - job_claim: up to max due QUEUED jobs by priority desc, next_run_at,
 *   id become RUNNING with attempts + 1 and a fresh random lease token
 *   each; *jobs_out is the caller's (sg_job_list_free).
 * - job_finish: only the holder of the current lease of a RUNNING job may
 *   finish it (else SG_ESTALE); state is DONE, DEAD or QUEUED (retry at
 *   next_run_at, 0 = now, with error kept as last_error).
 * - job_requeue_expired: RUNNING jobs past lease_until go back to QUEUED
 *   (due now), or DEAD once attempts >= attempts_max; last_error is
 *   "lease expired".
 * - job_retry: a DEAD or QUEUED job (tenant_id 0 = any tenant) becomes
 *   QUEUED, due now, attempts 0; SG_ENOTFOUND if not visible, SG_ESTATE if
 *   RUNNING or DONE.
 * When a job would go back to QUEUED while another queued job holds its
 * coalesce key, it is folded instead: the queued twin (newer payload) keeps
 * the higher priority and this job ends DONE with last_error
 * "superseded by job N".
 */
int64_t sg_store_tx_now(struct sg_store_tx *tx);
int sg_store_tx_tenant_insert(struct sg_store_tx *tx, const char *name,
                              int64_t *id_out, struct sg_err *err);
int sg_store_tx_apikey_insert(struct sg_store_tx *tx, int64_t tenant_id,
                              const char *hash_hex, const char *prefix,
                              bool read_only, int64_t *id_out,
                              struct sg_err *err);
int sg_store_tx_audit(struct sg_store_tx *tx, const struct sg_audit *a,
                      struct sg_err *err);
int sg_store_tx_inbox_insert(struct sg_store_tx *tx, int64_t tenant_id,
                             const char *source, const char *external_id,
                             const char *body, size_t body_len,
                             int64_t *id_out, bool *dup_out,
                             struct sg_err *err);
int sg_store_tx_inbox_insert_processed(struct sg_store_tx *tx,
                                       int64_t tenant_id, const char *source,
                                       const char *external_id,
                                       const char *body, size_t body_len,
                                       int64_t *id_out, bool *dup_out,
                                       struct sg_err *err);
int sg_store_tx_inbox_mark_processed(struct sg_store_tx *tx, int64_t id,
                                     struct sg_err *err);
int sg_store_tx_job_enqueue(struct sg_store_tx *tx, const struct sg_job *job,
                            int64_t *id_out, bool *coalesced_out,
                            struct sg_err *err);
int sg_store_tx_job_claim(struct sg_store_tx *tx, int64_t lease_ms,
                          size_t max, struct sg_job **jobs_out, size_t *n_out,
                          struct sg_err *err);
int sg_store_tx_job_finish(struct sg_store_tx *tx, int64_t id,
                           int64_t lease_token, int state,
                           int64_t next_run_at, const char *error,
                           struct sg_err *err);
int sg_store_tx_job_retry(struct sg_store_tx *tx, int64_t tenant_id,
                          int64_t id, struct sg_err *err);
int sg_store_tx_job_requeue_expired(struct sg_store_tx *tx, size_t *n_out,
                                    struct sg_err *err);
/*
 * The dispatcher's heartbeat: a RUNNING job held under lease_token gets
 * lease_until = now + lease_ms (*lease_until_out, may be NULL). SG_ESTALE
 * when the lease has moved on (expired and requeued or claimed again).
 * src/store/sqlite/lease.c; on postgres it calls sg_pg_job_extend.
 */
int sg_store_tx_job_extend(struct sg_store_tx *tx, int64_t id,
                           int64_t lease_token, int64_t lease_ms,
                           int64_t *lease_until_out, struct sg_err *err);

/* ---- reads ---- */

int sg_store_tenant_get(struct sg_store *s, const char *name,
                        struct sg_tenant *out, struct sg_err *err);
int sg_store_tenant_get_by_id(struct sg_store *s, int64_t id,
                              struct sg_tenant *out, struct sg_err *err);
/* Finds revoked keys too: the caller checks revoked_at. */
int sg_store_apikey_lookup(struct sg_store *s, const char *hash_hex,
                           struct sg_apikey *out, struct sg_err *err);
int sg_store_inbox_get(struct sg_store *s, int64_t tenant_id, int64_t id,
                       struct sg_inbox *out, struct sg_err *err);
int sg_store_inbox_get_by_external(struct sg_store *s, const char *source,
                                   const char *external_id,
                                   struct sg_inbox *out, struct sg_err *err);
int sg_store_inbox_pending(struct sg_store *s, size_t max,
                           struct sg_inbox **rows_out, size_t *n_out,
                           struct sg_err *err);
void sg_inbox_list_free(struct sg_inbox *rows, size_t n);
/* tenant_id 0 = every tenant (CLI only); state -1 = any. */
int sg_store_job_get(struct sg_store *s, int64_t tenant_id, int64_t id,
                     struct sg_job *out, struct sg_err *err);
int sg_store_job_list(struct sg_store *s, int64_t tenant_id, int state,
                      int64_t after_id, size_t limit, struct sg_job **jobs_out,
                      size_t *n_out, struct sg_err *err);
/* Audit rows are flat: release the array with sg_free(). */
int sg_store_audit_list(struct sg_store *s, int64_t tenant_id,
                        int64_t after_id, size_t limit,
                        struct sg_audit **rows_out, size_t *n_out,
                        struct sg_err *err);
int sg_store_counts(struct sg_store *s, int64_t *inbox_pending_out,
                    int64_t jobs_by_state_out[4], struct sg_err *err);
/* The earliest next_run_at of a queued job; SG_ENOTFOUND if none is queued. */
int sg_store_next_job_due(struct sg_store *s, int64_t *at_out,
                          struct sg_err *err);
/*
 * 0 when a write can commit now (used by /readyz): the store is not
 * stopping, the last batch commit did not fail, and the database file is
 * writable. Does not queue a write.
 */
int sg_store_writable(struct sg_store *s, struct sg_err *err);

/* Commit statistics since open, for /metrics. */
struct sg_store_stats {
    uint64_t commits;
    uint64_t writes;
    uint64_t write_errors;
    uint64_t commit_failures;
    uint64_t batch_hist[8];   /* batch sizes: 1,2-3,4-7,...,128+ */
    uint64_t queue_depth;
};
void sg_store_stats(struct sg_store *s, struct sg_store_stats *out);

/*
 * Extension points for feature modules (catalog, events, ...) that keep
 * their own tables. A feature declares its own ops struct with one
 * implementation per backend (src/store/<backend>/<feature>.c) and its own
 * numbered migrations; it reaches the backend connection through these.
 * sg_store_tx_backend: the writer's backend handle, only inside a write fn.
 * sg_store_read: run fn on a borrowed reader connection.
 * For SQLite the handle gives its sqlite3 * via sg_sqlite_db() below.
 */
const char *sg_store_backend_name(const struct sg_store *s);
void *sg_store_tx_backend(struct sg_store_tx *tx);
struct sg_store *sg_store_tx_store(struct sg_store_tx *tx);
typedef int (*sg_store_read_fn)(void *be, void *arg, struct sg_err *err);
int sg_store_read(struct sg_store *s, sg_store_read_fn fn, void *arg,
                  struct sg_err *err);

struct sqlite3;
/* The connection behind a SQLite backend handle (borrowed). */
struct sqlite3 *sg_sqlite_db(void *be);
/* Map a SQLite result code to SG_E* and fill err with the db's message. */
int sg_sqlite_error(void *be, int sqlite_rc, const char *what,
                    struct sg_err *err);
/*
 * A prepared statement for sql from the connection's cache (prepared on
 * first use, kept until the connection closes), or a fresh one when the
 * cached statement is in use (re-entry) or the cache is full. Returns a
 * SQLite result code; hand the statement back with sg_sqlite_release.
 */
struct sqlite3_stmt;
int sg_sqlite_acquire(void *be, const char *sql, struct sqlite3_stmt **out);
/* Reset a cached statement (clearing its bindings) or finalize another. */
void sg_sqlite_release(void *be, struct sqlite3_stmt *st);

#endif
