/*
 * engine.h - surge serve: the daemon that owns the store, the HTTP server
 * (admin API, webhook intake, health and metrics), the inbox processor
 * and the job dispatcher, and starts and stops them in order.
 *
 * Start order: store (migrations) -> dispatcher -> inbox processor -> HTTP.
 * Stop order is the reverse, so nothing is accepted that cannot be stored,
 * and the store drains every queued write before it closes.
 */
#ifndef SG_ENGINE_H
#define SG_ENGINE_H

#include "core/sg.h"
#include "core/err.h"

struct sg_config;
struct sg_engine;
struct sg_store;

/*
 * Build an engine from a loaded configuration (borrowed; must outlive the
 * engine). Opens the store. *out is the caller's; free with
 * sg_engine_free().
 */
int sg_engine_new(struct sg_engine **out, const struct sg_config *cfg,
                  struct sg_err *err);
/* Start the dispatcher, inbox processor and HTTP server. */
int sg_engine_start(struct sg_engine *e, struct sg_err *err);
/* "http://127.0.0.1:PORT" once started; borrowed. */
const char *sg_engine_url(const struct sg_engine *e);
struct sg_store *sg_engine_store(struct sg_engine *e);
/* Stop accepting, finish in-flight work, drain the store. NULL-safe. */
void sg_engine_stop(struct sg_engine *e);
void sg_engine_free(struct sg_engine *e);

/*
 * The hash stored for an API key: lowercase hex SHA-256 of the key. out
 * holds 65 bytes.
 */
void sg_apikey_hash(const char *key, size_t len, char out[65]);

#endif
