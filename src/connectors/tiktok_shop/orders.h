/*
 * orders.h - TikTok Shop's order calls (reference 1.8, modules order and
 * return_refund), the SG_CAP_ORDERS slots of the connector table: search
 * by update time with page_token, detail of at most 50 ids, and a seller
 * cancellation. Shared with the unit tests.
 */
#ifndef SG_CONNECTORS_TIKTOK_SHOP_ORDERS_H
#define SG_CONNECTORS_TIKTOK_SHOP_ORDERS_H

#include "connectors/connector.h"

#define SG_TTS_ORDER_IDS_MAX   50   /* ids per Get Order Detail */
#define SG_TTS_ORDER_PAGE_MAX  100  /* page_size of Search Orders */
#define SG_TTS_PAGE_TOKEN_MAX  1024 /* bytes of a page_token kept */

int sg_tts__search_orders(struct sg_connector *c, const char *access_token,
                          const struct sg_conn_order_query *q,
                          struct sg_conn_order_ref **refs_out, size_t *n_out,
                          char **next_token_out, struct sg_err *err);
int sg_tts__get_orders(struct sg_connector *c, const char *access_token,
                       const char *shop_cipher, const char *const *ids,
                       size_t n, struct json_t **orders_out,
                       struct sg_err *err);
int sg_tts__cancel_order(struct sg_connector *c, const char *access_token,
                         const char *shop_cipher, const char *order_id,
                         const char *reason, struct sg_err *err);

#endif
