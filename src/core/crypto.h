/*
 * crypto.h - the hashing, signing and secret-handling primitives, all on
 * OpenSSL's libcrypto.
 *
 * Rule: secrets, signatures and key hashes are only ever compared with
 * sg_ct_equal (constant time). scripts/check-banned.sh rejects memcmp and
 * strcmp on names that look like signatures or keys.
 */
#ifndef SG_CRYPTO_H
#define SG_CRYPTO_H

#include "sg.h"

#define SG_SHA256_LEN 32
#define SG_SHA256_HEX_LEN 64

/* out receives 32 raw bytes. */
void sg_sha256(const void *data, size_t len, unsigned char out[32]);
/* out receives 64 lowercase hex chars and a NUL. */
void sg_sha256_hex(const void *data, size_t len, char out[65]);
/* HMAC-SHA256; never allocates. 0, or SG_EINVAL for a key over INT_MAX. */
int sg_hmac_sha256(const void *key, size_t key_len, const void *data,
                   size_t len, unsigned char out[32]);
int sg_hmac_sha256_hex(const void *key, size_t key_len, const void *data,
                       size_t len, char out[65]);

/*
 * An HMAC-SHA256 key set up once: its padded blocks are hashed at
 * sg_hmac_key_new, so each MAC hashes only the message (and one block
 * more). sg_hmac_key_sha256 works on copies, so threads may share one
 * key; it never allocates. 0, SG_ENOMEM or SG_EINVAL.
 */
struct sg_hmac_key;
int sg_hmac_key_new(struct sg_hmac_key **out, const void *key,
                    size_t key_len);
void sg_hmac_key_free(struct sg_hmac_key *k);
/* out = HMAC-SHA256(key, a || b); either part may be empty. */
int sg_hmac_key_sha256(const struct sg_hmac_key *k, const void *a,
                       size_t a_len, const void *b, size_t b_len,
                       unsigned char out[32]);

/* Constant-time equality of two byte strings (length leaks, content not). */
bool sg_ct_equal(const void *a, size_t a_len, const void *b, size_t b_len);

/* Cryptographically strong random bytes; 0, SG_ENOMEM or SG_EIO. */
int sg_random_bytes(void *out, size_t len);
/* Uniform random in [0, bound) from a strong source; bound > 0. */
uint64_t sg_random_below(uint64_t bound);

void sg_hex_encode(const unsigned char *in, size_t len, char *out);
/* Decode 2*len hex chars; SG_EINVAL on a non-hex char. */
int sg_hex_decode(const char *in, size_t in_len, unsigned char *out);
/* True when s is exactly 64 lowercase or uppercase hex digits. */
bool sg_is_sha256_hex(const char *s, size_t len);

/* Standard base64 with padding; out needs 4*((len+2)/3)+1 bytes. */
size_t sg_base64_encode(const unsigned char *in, size_t len, char *out);

/*
 * AES-256-GCM sealing of small secrets at rest. The sealed form is
 * "v1:" + hex(nonce 12 | ciphertext | tag 16); *out is sg_alloc'd.
 */
int sg_seal(const unsigned char key[32], const char *plain, size_t len,
            char **out);
int sg_unseal(const unsigned char key[32], const char *sealed, char **out,
              size_t *len_out);

#endif
