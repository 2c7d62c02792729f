/*
 * fulfillment.h - TikTok Shop's fulfilment and return_refund decision
 * calls (reference 1.8), the SG_CAP_FULFIL slots of the connector table.
 * Shared with the unit tests.
 */
#ifndef SG_CONNECTORS_TIKTOK_SHOP_FULFILLMENT_H
#define SG_CONNECTORS_TIKTOK_SHOP_FULFILLMENT_H

#include "connectors/connector.h"

#define SG_TTS_SHIP_LINES_MAX 500 /* line ids in one mark-as-shipped */
#define SG_TTS_RETURN_IDS_MAX 50  /* return ids per search */

/* TikTok's shipping provider id for a carrier name ("Other" otherwise). */
const char *sg_tts_provider_id(const char *carrier);

int sg_tts__ship(struct sg_connector *c, const char *access_token,
                 const struct sg_conn_shipment *s, char package_id_out[65],
                 struct sg_err *err);
int sg_tts__decide(struct sg_connector *c, const char *access_token,
                   const struct sg_conn_decision *d, struct sg_err *err);
int sg_tts__get_returns(struct sg_connector *c, const char *access_token,
                        const char *shop_cipher, const char *const *ids,
                        size_t n, struct json_t **returns_out,
                        struct sg_err *err);

#endif
