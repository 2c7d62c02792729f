/*
 * sign.h - TikTok Shop request signing and webhook signatures (reference
 * 1.3 and 1.9), shared by the sandbox, the connector and the CLI.
 *
 * Request: base = path + sorted(key + value, decoded, without sign,
 * access_token and x-tts-access-token) + body (unless multipart);
 * sign = hex(HMAC-SHA256(secret, secret + base + secret)).
 * Webhook: hex(HMAC-SHA256(app_secret, app_key + raw body)).
 */
#ifndef SG_TTS_SIGN_H
#define SG_TTS_SIGN_H

#include "core/sg.h"
#include "core/buf.h"

/* One decoded query parameter; not NUL-terminated (values may hold NUL). */
struct sg_tts_kv {
    const char *key;
    size_t key_len;
    const char *val;
    size_t val_len;
};

/* A parameter as a client holds it: NUL-terminated, decoded. */
struct sg_tts_param {
    const char *key;
    const char *value;
};

/* Decoded query parameters; storage owned by the struct. */
struct sg_tts_query {
    struct sg_tts_kv *kv;
    size_t n;
    char *store;
};

#define SG_TTS_QUERY_PARAMS_MAX 64

/*
 * Parse a raw query string (no '?'): split on '&', percent-decode keys and
 * values ('+' is a space, as in form encoding). Returns 0, SG_ENOMEM, or
 * SG_ELIMIT beyond SG_TTS_QUERY_PARAMS_MAX parameters. q is filled even
 * on error (release it either way). query may be NULL.
 */
int sg_tts_query_parse(struct sg_tts_query *q, const char *query,
                       size_t len);
void sg_tts_query_release(struct sg_tts_query *q);
/* Borrowed value of key (first occurrence), NULL if absent. */
const struct sg_tts_kv *sg_tts_query_find(const struct sg_tts_query *q,
                                          const char *key);

/*
 * Append the unwrapped base string to out: path, then every parameter
 * but sign/access_token/x-tts-access-token sorted by key (byte order) as
 * key + value, then body (pass NULL/0 for multipart or no body).
 */
int sg_tts_sign_base(struct sg_buf *out, const char *path,
                     const struct sg_tts_kv *kv, size_t n, const void *body,
                     size_t body_len);
/* out = lowercase hex HMAC-SHA256(secret, secret + base + secret). */
int sg_tts_sign_wrap(char out[65], const char *secret, const char *base,
                     size_t base_len);
/* Both steps in one. Returns 0, SG_ENOMEM or SG_ELIMIT. */
int sg_tts_sign_kv(char out[65], const char *secret, const char *path,
                   const struct sg_tts_kv *kv, size_t n, const void *body,
                   size_t body_len);
/* The same for a client's parameters (at most SG_TTS_QUERY_PARAMS_MAX). */
int sg_tts_sign(char out[65], const char *secret, const char *path,
                const struct sg_tts_param *params, size_t n,
                const void *body, size_t body_len);

/* out = lowercase hex HMAC-SHA256(app_secret, app_key + body). */
int sg_tts_webhook_sign(char out[65], const char *app_key,
                        const char *app_secret, const void *body,
                        size_t body_len);
/*
 * Constant-time check of a received Authorization value (hex, any case):
 * 0 when it signs body, SG_EAUTH when it does not, or the error that kept
 * it from being checked (SG_ENOMEM, SG_ELIMIT, SG_EIO). Such a webhook is
 * not forged: the receiver answers 503 so TikTok delivers it again.
 */
int sg_tts_webhook_check(const char *app_key, const char *app_secret,
                         const char *sig, size_t sig_len, const void *body,
                         size_t body_len);
/*
 * The same two with the app secret set up once as an HMAC key
 * (sg_hmac_key_new over app_secret): for a sender or receiver of many
 * webhooks. Same results and errors.
 */
struct sg_hmac_key;
int sg_tts_webhook_sign_key(char out[65], const struct sg_hmac_key *secret,
                            const char *app_key, const void *body,
                            size_t body_len);
int sg_tts_webhook_check_key(const struct sg_hmac_key *secret,
                             const char *app_key, const char *sig,
                             size_t sig_len, const void *body,
                             size_t body_len);
/* The same as a yes/no (false also when it could not be checked). */
bool sg_tts_webhook_verify(const char *app_key, const char *app_secret,
                           const char *sig, size_t sig_len, const void *body,
                           size_t body_len);

#endif
