-- 0013_order_lines_oversold_index.sql - the SKU index of order lines
-- keeps only the lines still oversold (the one lookup by SKU,
-- oversold_by_sku). PostgreSQL dialect of ../0013_order_lines_oversold_index.sql
-- (same version, same index).
DROP INDEX order_lines_sku;
CREATE INDEX order_lines_oversold_sku ON order_lines (tenant_id, sku)
    WHERE inv = 'oversold';
