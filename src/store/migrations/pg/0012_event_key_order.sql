-- 0012_event_key_order.sql - the events' dedup key leads with event_id.
-- PostgreSQL dialect of ../0012_event_key_order.sql (same version, same
-- key): the same four columns and the same uniqueness in a new order. A
-- b-tree here compares whole keys, so this is for one schema on both
-- backends, not for speed; PostgreSQL can swap the constraint in place
-- where SQLite rebuilds the table.
ALTER TABLE events DROP CONSTRAINT events_tenant_id_source_id_event_event_id_key;
ALTER TABLE events ADD CONSTRAINT events_event_id_event_source_id_tenant_id_key
    UNIQUE (event_id, event, source_id, tenant_id);
