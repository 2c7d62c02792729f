-- 0013_order_lines_oversold_index.sql - order lines are looked up by SKU
-- only for the lines still oversold (the orders waiting for stock that
-- comes back: oversold_by_sku), so the SKU index keeps only those.
-- Indexing every line by (tenant, sku, inv) put each new line into a
-- random leaf of that index: under an order flood (bench/spike) about one
-- more page per line to write to the WAL at commit and copy again at the
-- checkpoint, for an index the flood never reads.
DROP INDEX order_lines_sku;
CREATE INDEX order_lines_oversold_sku ON order_lines (tenant_id, sku)
    WHERE inv = 'oversold';
