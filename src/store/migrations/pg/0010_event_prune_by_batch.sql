-- 0010_event_prune_by_batch.sql - finished events are pruned a batch at
-- a time (every finished event belongs to a batch, and a batch is made
-- after each of its events arrived), so the per-event index on
-- received_at, one more b-tree insert for every accepted event, goes.
-- pruned marks a batch whose events were deleted; the partial index
-- holds the finished batches still to prune, oldest first.
-- PostgreSQL dialect of ../0010_event_prune_by_batch.sql (same version, same tables): ids are
-- identity columns, integers BIGINT, blobs BYTEA.
DROP INDEX events_received;
ALTER TABLE event_batches ADD COLUMN pruned BIGINT NOT NULL DEFAULT 0;
CREATE INDEX event_batches_prune ON event_batches (created_at)
    WHERE state >= 2 AND pruned = 0;
