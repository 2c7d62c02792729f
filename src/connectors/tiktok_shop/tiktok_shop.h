/*
 * tiktok_shop.h - the TikTok Shop connector's building blocks, public so
 * the engine, the CLI and the tests share them: the signed request
 * builder, the envelope reader and the error-code mapping (reference
 * 1.2-1.5), and the webhook event names (1.9).
 *
 * Every remote answer is capped (body 4 MiB, 100 shops); tokens never
 * appear in error messages or logs.
 */
#ifndef SG_CONNECTORS_TIKTOK_SHOP_H
#define SG_CONNECTORS_TIKTOK_SHOP_H

#include "connectors/connector.h"
#include "connectors/tiktok_shop/sign.h"
#include "core/json.h"

#include <jansson.h>

#define SG_TTS_SHOPS_MAX 100

/* TikTok Shop codes with a meaning of their own (reference 1.5). */
#define SG_TTS_CODE_RATE_LIMIT     36009002
#define SG_TTS_CODE_INTERNAL       36009003
#define SG_TTS_CODE_AUTH_OR_PARAM  36009004
#define SG_TTS_CODE_TOKEN_EXPIRED  105002

/*
 * Map one answer to an SG_E* (0 for code 0 with a 2xx status) and fill
 * err: http_status, retryable, retry_after_ms (from retry_after, seconds,
 * may be NULL) and a message naming the code. idempotent says whether a
 * repeat is safe (server errors are retryable only then).
 *
 * SG_ELIMIT retryable  36009002 or HTTP 429 (rate limit)
 * SG_EREMOTE           36009003/36009007 or HTTP 5xx (retryable if
 *                      idempotent); any other unknown code (not)
 * SG_ESTALE retryable  105002 (access token expired: refresh, repeat)
 * SG_EAUTH             106001 bad sign, 101000, 36009004 credentials
 * SG_EINVAL            36009004 timestamp (retryable: re-sign), shop
 *                      cipher/version/parameter; 106013
 * SG_EFORBIDDEN        105005 scope, 36009033 IP allow list
 * SG_ENOTFOUND         36009009 unknown path, 12019150/12052032 product
 * SG_ESTATE            12019045/12052038 price locked
 * SG_ELIMIT            12052180, 12019027, 12019087, 12019120 (caps)
 */
int sg_tts_map_error(struct sg_err *err, long http_status, long code,
                     const char *message, bool idempotent,
                     const char *retry_after);

/*
 * The request URL: base + path + "?" + the params, app_key and timestamp
 * sorted by key and percent-encoded, with sign computed over the decoded
 * values and body (pass NULL/0 for GET or multipart). *url_out is
 * sg_alloc'd. SG_EINVAL for a bad base/path, SG_ELIMIT, SG_ENOMEM.
 */
int sg_tts_build_url(char **url_out, const char *base, const char *path,
                     const struct sg_tts_param *params, size_t n,
                     const char *app_key, const char *app_secret,
                     int64_t timestamp, const void *body, size_t body_len,
                     struct sg_err *err);

/*
 * Read the {code,message,request_id,data} envelope of resp. On code 0
 * (and a 2xx status) *data_out is a new reference to data (JSON null when
 * absent); otherwise the mapped error. A body that is not an envelope is
 * judged by its HTTP status alone.
 */
int sg_tts_envelope(json_t **data_out, const struct sg_http_response *resp,
                    bool idempotent, struct sg_err *err);

/*
 * One signed Open API call on connector c (a TikTok Shop instance):
 * method path with params (no app_key/timestamp/sign), the access token
 * in x-tts-access-token (NULL = none) and an optional JSON body. Returns
 * as sg_tts_envelope; transport failures are SG_EREMOTE, retryable when
 * nothing was sent or the call is a GET.
 */
int sg_tts_call(struct sg_connector *c, const char *method, const char *path,
                const struct sg_tts_param *params, size_t n,
                const char *access_token, const char *body, size_t body_len,
                json_t **data_out, struct sg_err *err);
/*
 * sg_tts_call for a large answer read once: the answer is parsed in the
 * calling thread's JSON arena (no heap allocation per node), and
 * *data_out must be released with sg_json_arena_free on that thread.
 */
int sg_tts_call_arena(struct sg_connector *c, const char *method,
                      const char *path, const struct sg_tts_param *params,
                      size_t n, const char *access_token, const char *body,
                      size_t body_len, json_t **data_out, struct sg_err *err);
/*
 * sg_tts_call_arena (no body) for an answer of which only some members
 * are read: keep names the envelope's members to build (code, message
 * and data with what is read of it; sg_json_parse_arena_pruned), the
 * rest is checked and skipped. An answer outside that parser's subset is
 * parsed whole, as sg_tts_call_arena does.
 */
int sg_tts_call_pruned(struct sg_connector *c, const char *method,
                       const char *path, const struct sg_tts_param *params,
                       size_t n, const char *access_token,
                       const struct sg_json_keep *keep, json_t **data_out,
                       struct sg_err *err);

/* The event name of a webhook type (1 -> "ORDER_STATUS_CHANGE"), or NULL. */
const char *sg_tts_event_name(int type);

/* Webhook types the engine acts on itself. */
#define SG_TTS_EVENT_DEAUTHORIZATION    6
#define SG_TTS_EVENT_UPCOMING_EXPIRY    7

#endif
