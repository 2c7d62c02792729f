-- A generation per queued order fetch: a webhook that arrives while the
-- order's detail is being fetched bumps it, and the fetch's completion
-- only removes the row when the generation is still the one it read, so
-- the newer change is fetched again instead of being lost.
ALTER TABLE order_fetch ADD COLUMN gen INTEGER NOT NULL DEFAULT 0;
