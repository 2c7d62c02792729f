-- 0004_channels.sql - sales-channel connections (issue #4). Access and
-- refresh tokens are stored ONLY sealed (AES-256-GCM, "v1:" + hex) with the
-- key from [secrets] key_file; no column ever holds a token in plaintext.
-- OAuth states are stored as SHA-256 hashes, single use, with an expiry.
-- Token expiries (access/refresh_expires_at) are the platform's absolute
-- Unix SECONDS; every other time is ms since the epoch, as elsewhere.

CREATE TABLE channel_apps (
    id          INTEGER PRIMARY KEY,
    platform    TEXT NOT NULL,
    app_key     TEXT NOT NULL,
    service_id  TEXT,
    created_at  INTEGER NOT NULL,
    UNIQUE (platform, app_key)
);

CREATE TABLE channel_connections (
    id                   INTEGER PRIMARY KEY,
    tenant_id            INTEGER NOT NULL REFERENCES tenants(id),
    platform             TEXT NOT NULL,
    app_id               INTEGER REFERENCES channel_apps(id),
    open_id              TEXT NOT NULL,
    seller_name          TEXT,
    region               TEXT,
    access_token_sealed  TEXT NOT NULL,
    refresh_token_sealed TEXT NOT NULL,
    access_expires_at    INTEGER NOT NULL,
    refresh_expires_at   INTEGER NOT NULL,
    status               TEXT NOT NULL
                         CHECK (status IN ('active', 'deauthorized',
                                           'expired')),
    status_reason        TEXT,
    refreshed_at         INTEGER NOT NULL DEFAULT 0,
    next_refresh_at      INTEGER NOT NULL DEFAULT 0,
    refresh_failures     INTEGER NOT NULL DEFAULT 0,
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL,
    UNIQUE (tenant_id, platform, open_id)
);
CREATE INDEX channel_connections_due
    ON channel_connections (status, access_expires_at);

-- A platform shop belongs to one connection at a time (webhooks are routed
-- to a tenant by shop id); connecting it again moves it.
CREATE TABLE channel_shops (
    id            INTEGER PRIMARY KEY,
    tenant_id     INTEGER NOT NULL REFERENCES tenants(id),
    platform      TEXT NOT NULL,
    shop_id       TEXT NOT NULL,
    cipher        TEXT NOT NULL,
    name          TEXT,
    region        TEXT,
    connection_id INTEGER NOT NULL REFERENCES channel_connections(id),
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    UNIQUE (platform, shop_id)
);
CREATE INDEX channel_shops_conn ON channel_shops (connection_id);

CREATE TABLE channel_oauth_states (
    state_hash  TEXT PRIMARY KEY,
    tenant_id   INTEGER NOT NULL REFERENCES tenants(id),
    platform    TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER NOT NULL DEFAULT 0
);
