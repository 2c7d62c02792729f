/*
 * catalog_sync.h - publishing and live sync of the catalog to TikTok
 * Shop inside the daemon: the environment of the "catalog.sync" job kind
 * (src/jobs/catalog_sync.h), the audit webhooks (types 5 and 37), and the
 * drift check used by surge sync --check. See docs/publishing.md.
 *
 * Why the engine: a sync step needs the catalog, the listing state and
 * the seller's access token, which is sealed at rest and only unsealed
 * by the engine's TikTok code (tiktok_api.c); the job kind in src/jobs
 * sees none of them and just trampolines to plan()/result() here.
 */
#ifndef SG_ENGINE_CATALOG_SYNC_H
#define SG_ENGINE_CATALOG_SYNC_H

#include "connectors/connector.h"
#include "store/store.h"

struct sg_engine;
struct sg_conn_event;
struct sg_inbox;

/* Install the job kind's environment (after the connector is open). */
int sg_engine__catalog_sync_init(struct sg_engine *e, struct sg_err *err);
/* Clear it; call after the dispatcher stopped. NULL-safe. */
void sg_engine__catalog_sync_fini(struct sg_engine *e);
/*
 * Webhook 5 (PRODUCT_STATUS_CHANGE) or 37 (PRODUCT_AUDIT_STATUS_CHANGE),
 * inside the inbox processor's write: update the listing's status; a
 * failed audit queues a read-back that records the reasons.
 */
int sg_engine__catalog_webhook(struct sg_engine *e, struct sg_store_tx *tx,
                               const struct sg_inbox *row,
                               struct sg_err *err);

#endif
