-- 0013_order_lines_lean.sql - the SKU index of order lines keeps only
-- the lines still oversold (the one lookup by SKU, oversold_by_sku).
-- PostgreSQL dialect of ../0013_order_lines_lean.sql (same version, same
-- index). SQLite also rebuilds the table there, to list the check on inv
-- as comparisons (its IN list costs a temporary b-tree per row written);
-- PostgreSQL's IN check has no such cost, so its table stays as it is.
DROP INDEX order_lines_sku;
CREATE INDEX order_lines_oversold_sku ON order_lines (tenant_id, sku)
    WHERE inv = 'oversold';
