-- 0002_catalog.sql - the catalog (products, variants, images, channel
-- listings) and the inventory ledger. Money is integer minor units of the
-- product's currency. Every change of an inventory level writes one
-- inventory_ledger row in the same transaction, so the ledger explains
-- every unit; the CHECKs keep available = on_hand - reserved - committed
-- from going negative even if code gets it wrong.

CREATE TABLE products (
    id             INTEGER PRIMARY KEY,
    tenant_id      INTEGER NOT NULL REFERENCES tenants(id),
    handle         TEXT NOT NULL,
    title          TEXT NOT NULL,
    body_html      TEXT,
    vendor         TEXT,
    product_type   TEXT,
    category       TEXT,
    tags           TEXT,
    option1_name   TEXT,
    option2_name   TEXT,
    option3_name   TEXT,
    status         TEXT NOT NULL
                   CHECK (status IN ('active', 'draft', 'archived')),
    published      INTEGER NOT NULL DEFAULT 0,
    currency       TEXT NOT NULL,
    length_mm      INTEGER NOT NULL DEFAULT 0,
    width_mm       INTEGER NOT NULL DEFAULT 0,
    height_mm      INTEGER NOT NULL DEFAULT 0,
    attributes     TEXT,
    certifications TEXT,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    UNIQUE (tenant_id, handle)
);

CREATE TABLE variants (
    id          INTEGER PRIMARY KEY,
    tenant_id   INTEGER NOT NULL,
    product_id  INTEGER NOT NULL REFERENCES products(id) ON DELETE CASCADE,
    sku         TEXT NOT NULL,
    position    INTEGER NOT NULL,
    option1     TEXT,
    option2     TEXT,
    option3     TEXT,
    price       INTEGER NOT NULL CHECK (price >= 0),
    compare_at  INTEGER NOT NULL DEFAULT 0,
    cost        INTEGER NOT NULL DEFAULT -1,
    barcode     TEXT,
    grams       INTEGER NOT NULL DEFAULT -1,
    weight_unit TEXT NOT NULL DEFAULT 'g',
    image       TEXT,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    UNIQUE (tenant_id, sku)
);
CREATE INDEX variants_product ON variants (product_id, position);

CREATE TABLE product_images (
    tenant_id  INTEGER NOT NULL,
    product_id INTEGER NOT NULL REFERENCES products(id) ON DELETE CASCADE,
    position   INTEGER NOT NULL,
    src        TEXT NOT NULL,
    alt        TEXT,
    PRIMARY KEY (product_id, position)
);

-- What each channel last said about a product's listing.
CREATE TABLE channel_listings (
    tenant_id  INTEGER NOT NULL,
    product_id INTEGER NOT NULL REFERENCES products(id) ON DELETE CASCADE,
    channel    TEXT NOT NULL,
    status     TEXT NOT NULL,
    reason     TEXT,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (product_id, channel)
);

CREATE TABLE inventory_levels (
    tenant_id  INTEGER NOT NULL,
    sku        TEXT NOT NULL,
    location   TEXT NOT NULL,
    on_hand    INTEGER NOT NULL DEFAULT 0 CHECK (on_hand >= 0),
    reserved   INTEGER NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    committed  INTEGER NOT NULL DEFAULT 0 CHECK (committed >= 0),
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, sku, location),
    CHECK (on_hand >= reserved + committed)
);

CREATE TABLE inventory_ledger (
    id              INTEGER PRIMARY KEY,
    tenant_id       INTEGER NOT NULL,
    sku             TEXT NOT NULL,
    location        TEXT NOT NULL,
    delta_on_hand   INTEGER NOT NULL,
    delta_reserved  INTEGER NOT NULL,
    delta_committed INTEGER NOT NULL,
    reason          TEXT NOT NULL,
    cause_ref       TEXT,
    at              INTEGER NOT NULL
);
CREATE INDEX inventory_ledger_sku ON inventory_ledger (tenant_id, sku, id);
