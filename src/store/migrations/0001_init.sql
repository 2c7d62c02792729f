-- 0001_init.sql - the first schema: tenants, API keys, the audit log, the
-- webhook inbox and the job queue. Times are int64 ms since the epoch.
-- Applied once, inside one transaction, by the store's migrator.

CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at INTEGER NOT NULL
);

CREATE TABLE tenants (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);

-- key_hash is the lowercase sha256 hex of the full key; the key itself is
-- never stored.
CREATE TABLE api_keys (
    id         INTEGER PRIMARY KEY,
    tenant_id  INTEGER NOT NULL REFERENCES tenants(id),
    key_hash   TEXT NOT NULL UNIQUE,
    prefix     TEXT NOT NULL,
    scope      TEXT NOT NULL CHECK (scope IN ('rw', 'ro')),
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id);

CREATE TABLE audit_log (
    id        INTEGER PRIMARY KEY,
    tenant_id INTEGER NOT NULL,
    key_id    INTEGER NOT NULL DEFAULT 0,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    object    TEXT NOT NULL,
    outcome   TEXT NOT NULL,
    at        INTEGER NOT NULL
);
CREATE INDEX audit_log_tenant ON audit_log (tenant_id, id);

-- One row per received webhook delivery; (source, external_id) dedupes
-- redeliveries.
CREATE TABLE inbox (
    id           INTEGER PRIMARY KEY,
    tenant_id    INTEGER NOT NULL,
    source       TEXT NOT NULL,
    external_id  TEXT NOT NULL,
    body         BLOB NOT NULL,
    received_at  INTEGER NOT NULL,
    processed_at INTEGER,
    UNIQUE (source, external_id)
);
CREATE INDEX inbox_unprocessed ON inbox (id) WHERE processed_at IS NULL;

-- state: 0 queued, 1 running, 2 done, 3 dead (enum sg_job_state).
CREATE TABLE jobs (
    id              INTEGER PRIMARY KEY,
    tenant_id       INTEGER NOT NULL,
    kind            TEXT NOT NULL,
    coalesce_key    TEXT,
    payload         TEXT NOT NULL,
    state           INTEGER NOT NULL DEFAULT 0,
    attempts        INTEGER NOT NULL DEFAULT 0,
    attempts_max    INTEGER NOT NULL,
    priority        INTEGER NOT NULL DEFAULT 0,
    next_run_at     INTEGER NOT NULL,
    last_error      TEXT,
    idempotency_key TEXT,
    platform        TEXT NOT NULL DEFAULT '',
    shop            TEXT NOT NULL DEFAULT '',
    endpoint_class  TEXT NOT NULL DEFAULT '',
    lease_token     INTEGER NOT NULL DEFAULT 0,
    lease_until     INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX jobs_due ON jobs (state, next_run_at);
CREATE INDEX jobs_tenant ON jobs (tenant_id, id);
-- At most one queued job per coalesce key: later enqueues fold into it.
CREATE UNIQUE INDEX jobs_coalesce ON jobs (coalesce_key) WHERE state = 0;
