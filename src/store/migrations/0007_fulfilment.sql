-- 0007_fulfilment.sql - what happens to an order after ingest: the
-- warehouse exports (one row per order told "ready to ship", with the
-- address it was told), shipments reported by the warehouse (one per
-- order and tracking number), buyer and seller cancellations and returns
-- (aftersales, with the seller's decision and whether a return restocked)
-- and the viral-mode channel buffers per SKU.

CREATE TABLE fulfil_exports (
    tenant_id   INTEGER NOT NULL,
    order_id    INTEGER NOT NULL REFERENCES orders(id) ON DELETE CASCADE,
    address     TEXT NOT NULL DEFAULT '',
    exported_at INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (order_id)
);

CREATE TABLE shipments (
    id               INTEGER PRIMARY KEY,
    tenant_id        INTEGER NOT NULL,
    order_id         INTEGER NOT NULL REFERENCES orders(id) ON DELETE CASCADE,
    channel_order_id TEXT NOT NULL,
    shop_id          TEXT NOT NULL,
    carrier          TEXT NOT NULL,
    tracking_number  TEXT NOT NULL,
    weight_g         INTEGER NOT NULL DEFAULT 0,
    lines            TEXT NOT NULL,
    line_ids         TEXT NOT NULL,
    package_id       TEXT NOT NULL DEFAULT '',
    status           TEXT NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'shipped', 'failed')),
    error            TEXT NOT NULL DEFAULT '',
    attempts         INTEGER NOT NULL DEFAULT 0,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    UNIQUE (tenant_id, order_id, tracking_number)
);
CREATE INDEX shipments_status ON shipments (status, id);

CREATE TABLE aftersales (
    id               INTEGER PRIMARY KEY,
    tenant_id        INTEGER NOT NULL,
    kind             TEXT NOT NULL CHECK (kind IN ('cancel', 'return')),
    channel          TEXT NOT NULL,
    shop_id          TEXT NOT NULL,
    channel_id       TEXT,
    channel_order_id TEXT NOT NULL,
    order_id         INTEGER NOT NULL DEFAULT 0,
    initiator        TEXT NOT NULL DEFAULT 'buyer',
    type             TEXT NOT NULL DEFAULT '',
    status           TEXT NOT NULL DEFAULT '',
    refund_total     INTEGER NOT NULL DEFAULT 0,
    currency         TEXT NOT NULL DEFAULT '',
    lines            TEXT,
    decision         TEXT NOT NULL DEFAULT '',
    decision_code    TEXT NOT NULL DEFAULT '',
    decision_state   TEXT NOT NULL DEFAULT '',
    idempotency_key  TEXT NOT NULL DEFAULT '',
    reason           TEXT NOT NULL DEFAULT '',
    error            TEXT NOT NULL DEFAULT '',
    restocked        INTEGER NOT NULL DEFAULT 0,
    needs_fetch      INTEGER NOT NULL DEFAULT 0,
    update_time      INTEGER NOT NULL DEFAULT 0,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    UNIQUE (tenant_id, kind, channel, channel_id)
);
CREATE INDEX aftersales_work ON aftersales (decision_state, needs_fetch);

CREATE TABLE viral_buffers (
    tenant_id   INTEGER NOT NULL,
    sku         TEXT NOT NULL,
    buffer      INTEGER NOT NULL DEFAULT 0 CHECK (buffer >= 0),
    rate_milli  INTEGER NOT NULL DEFAULT 0,
    since       INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, sku)
);
CREATE INDEX inventory_ledger_at ON inventory_ledger (reason, at);
