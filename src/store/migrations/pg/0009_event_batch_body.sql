-- 0009_event_batch_body.sql - a batch sealed at intake keeps its events'
-- JSON (digests only) in one value, joined by commas in event id order,
-- instead of one body per event row: intake writes each event's row once
-- (no body, already bound to its batch) and a send clears one value.
-- NULL for a batch whose bodies are still in its events' rows.
-- PostgreSQL dialect of ../0009_event_batch_body.sql (same version, same tables): ids are
-- identity columns, integers BIGINT, blobs BYTEA.
ALTER TABLE event_batches ADD COLUMN body TEXT;
