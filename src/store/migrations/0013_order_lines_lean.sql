-- 0013_order_lines_lean.sql - less work per order line written, the
-- same rows and rules.
--
-- The SKU index keeps only the lines still oversold: the one lookup of
-- lines by SKU (oversold_by_sku) is for those. Indexing every line by
-- (tenant, sku, inv) put each new line into a random leaf of that index:
-- under an order flood (bench/spike) about one more page per line to
-- write to the WAL at commit and copy again at the checkpoint, for an
-- index the flood never reads.
--
-- The check on inv lists its five values as comparisons: SQLite codes a
-- constant IN list of more than two values as a temporary b-tree, built
-- and dropped on every INSERT and on every UPDATE of the column (a few
-- % of the store writer under that flood). A table constraint cannot be
-- altered in place, so the table is rebuilt (ids and every column kept).
CREATE TABLE order_lines_new (
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
                    CHECK (inv = 'none' OR inv = 'reserved' OR
                           inv = 'committed' OR inv = 'released' OR
                           inv = 'oversold'),
    UNIQUE (order_id, channel_line_id)
);
INSERT INTO order_lines_new (id, tenant_id, order_id, channel_line_id,
                             channel_sku_id, sku, product_name, qty,
                             unit_price, status, package_id, location, inv)
    SELECT id, tenant_id, order_id, channel_line_id, channel_sku_id, sku,
           product_name, qty, unit_price, status, package_id, location, inv
    FROM order_lines ORDER BY id;
DROP TABLE order_lines;
ALTER TABLE order_lines_new RENAME TO order_lines;
CREATE INDEX order_lines_oversold_sku ON order_lines (tenant_id, sku)
    WHERE inv = 'oversold';
