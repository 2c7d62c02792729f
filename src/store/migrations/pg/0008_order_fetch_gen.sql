-- A generation per queued order fetch: a webhook that arrives while the
-- order's detail is being fetched bumps it, and the fetch's completion
-- only removes the row when the generation is still the one it read, so
-- the newer change is fetched again instead of being lost.
-- PostgreSQL dialect of ../0008_order_fetch_gen.sql (same version, same tables): ids are
-- identity columns, integers BIGINT, blobs BYTEA.
ALTER TABLE order_fetch ADD COLUMN gen BIGINT NOT NULL DEFAULT 0;
