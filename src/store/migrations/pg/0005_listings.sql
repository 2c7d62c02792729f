-- 0005_listings.sql - what Surge has pushed to each channel for each
-- product (issue #4, publishing and live sync). One row per (tenant,
-- product, channel); no foreign key to products, on purpose: a product
-- deleted in Surge keeps its row until the channel's copy is deleted too.
-- channel_listings (0002) keeps the status shown to users; this table
-- keeps the channel's ids and the last state the channel acknowledged.
-- state is a JSON object: {"skus":{"<sku>":"<channel sku id>"},
-- "price":{"<sku>":"19.99"},"qty":{"<sku>":n},"content":"<hash>",
-- "active":bool,"uncertain":"<step>"|absent,"read":bool}.
-- PostgreSQL dialect of ../0005_listings.sql (same version, same tables): ids are
-- identity columns, integers BIGINT, blobs BYTEA.

CREATE TABLE listing_sync (
    tenant_id          BIGINT NOT NULL,
    product_id         BIGINT NOT NULL,
    channel            TEXT NOT NULL,
    shop_id            TEXT NOT NULL DEFAULT '',
    channel_product_id TEXT NOT NULL DEFAULT '',
    status             TEXT NOT NULL DEFAULT 'pending',
    reason             TEXT,
    state              TEXT NOT NULL DEFAULT '{}',
    updated_at         BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, product_id, channel)
);
CREATE INDEX listing_sync_channel_id
    ON listing_sync (channel, channel_product_id);
