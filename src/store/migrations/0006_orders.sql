-- 0006_orders.sql - channel orders, their lines (each line records what it
-- holds of the inventory: reserved, committed, released, oversold), the
-- history of applied versions, the queue of order ids whose detail must be
-- read, and the reconciliation cursor per shop. channel_update_time is the
-- version: a change is applied only when it is newer than the stored one.

CREATE TABLE orders (
    id                  INTEGER PRIMARY KEY,
    tenant_id           INTEGER NOT NULL REFERENCES tenants(id),
    channel             TEXT NOT NULL,
    shop_id             TEXT NOT NULL,
    channel_order_id    TEXT NOT NULL,
    status              TEXT NOT NULL,
    channel_create_time INTEGER NOT NULL DEFAULT 0,
    channel_update_time INTEGER NOT NULL DEFAULT 0,
    currency            TEXT NOT NULL,
    subtotal            INTEGER NOT NULL DEFAULT 0,
    shipping_fee        INTEGER NOT NULL DEFAULT 0,
    tax                 INTEGER NOT NULL DEFAULT 0,
    total               INTEGER NOT NULL DEFAULT 0,
    buyer_user_id       TEXT,
    buyer_email         TEXT,
    buyer_nickname      TEXT,
    recipient_name      TEXT,
    recipient_phone     TEXT,
    address             TEXT,
    region              TEXT,
    postal_code         TEXT,
    package_ids         TEXT,
    oversold            INTEGER NOT NULL DEFAULT 0,
    oversold_action     TEXT NOT NULL DEFAULT '',
    version             INTEGER NOT NULL DEFAULT 1,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    UNIQUE (tenant_id, channel, channel_order_id)
);
CREATE INDEX orders_tenant_status ON orders (tenant_id, status, id);

CREATE TABLE order_lines (
    id              INTEGER PRIMARY KEY,
    tenant_id       INTEGER NOT NULL,
    order_id        INTEGER NOT NULL REFERENCES orders(id) ON DELETE CASCADE,
    channel_line_id TEXT NOT NULL,
    channel_sku_id  TEXT,
    sku             TEXT NOT NULL,
    product_name    TEXT,
    qty             INTEGER NOT NULL CHECK (qty > 0),
    unit_price      INTEGER NOT NULL DEFAULT 0,
    status          TEXT NOT NULL DEFAULT '',
    package_id      TEXT,
    location        TEXT NOT NULL,
    inv             TEXT NOT NULL DEFAULT 'none'
                    CHECK (inv IN ('none', 'reserved', 'committed',
                                   'released', 'oversold')),
    UNIQUE (order_id, channel_line_id)
);
CREATE INDEX order_lines_sku ON order_lines (tenant_id, sku, inv);

CREATE TABLE order_events (
    id          INTEGER PRIMARY KEY,
    tenant_id   INTEGER NOT NULL,
    order_id    INTEGER NOT NULL REFERENCES orders(id) ON DELETE CASCADE,
    from_status TEXT,
    to_status   TEXT NOT NULL,
    update_time INTEGER NOT NULL,
    source      TEXT NOT NULL,
    at          INTEGER NOT NULL
);
CREATE INDEX order_events_order ON order_events (order_id, id);

CREATE TABLE order_fetch (
    tenant_id        INTEGER NOT NULL,
    channel          TEXT NOT NULL,
    shop_id          TEXT NOT NULL,
    channel_order_id TEXT NOT NULL,
    reason           TEXT NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    queued_at        INTEGER NOT NULL,
    PRIMARY KEY (channel, shop_id, channel_order_id)
);

CREATE TABLE order_cursors (
    tenant_id   INTEGER NOT NULL,
    channel     TEXT NOT NULL,
    shop_id     TEXT NOT NULL,
    update_time INTEGER NOT NULL,
    polled_at   INTEGER NOT NULL,
    PRIMARY KEY (channel, shop_id)
);
