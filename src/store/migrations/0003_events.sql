-- 0003_events.sql - TikTok Events API intake: accepted events (digests
-- only, never plaintext email or phone) and the batches they are sent in.
-- (tenant_id, source_id, event, event_id) is the durable dedup key.

-- state: 0 pending, 1 batched, 2 sent, 3 failed (enum sg_events_state).
-- body is the normalised event JSON; cleared once the event is sent.
CREATE TABLE events (
    id          INTEGER PRIMARY KEY,
    tenant_id   INTEGER NOT NULL,
    source      INTEGER NOT NULL,
    source_id   TEXT NOT NULL,
    event       TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    event_time  INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    body        TEXT,
    batch_id    INTEGER,
    state       INTEGER NOT NULL DEFAULT 0,
    error       TEXT,
    UNIQUE (tenant_id, source_id, event, event_id)
);
CREATE INDEX events_pending ON events (tenant_id, source, id)
    WHERE batch_id IS NULL;
CREATE INDEX events_batch ON events (batch_id) WHERE batch_id IS NOT NULL;
CREATE INDEX events_received ON events (received_at);

-- One row per sealed batch; job_id is the events.track job sending it.
CREATE TABLE event_batches (
    id         INTEGER PRIMARY KEY,
    tenant_id  INTEGER NOT NULL,
    source     INTEGER NOT NULL,
    source_id  TEXT NOT NULL,
    job_id     INTEGER NOT NULL UNIQUE,
    n          INTEGER NOT NULL,
    state      INTEGER NOT NULL DEFAULT 1,
    failed     INTEGER NOT NULL DEFAULT 0,
    error      TEXT,
    created_at INTEGER NOT NULL,
    done_at    INTEGER
);
