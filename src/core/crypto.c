/*
 * crypto.c - thin, checked wrappers over libcrypto.
 */
#include "crypto.h"
#include "alloc.h"
#include "err.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

static const char hexdigits[] = "0123456789abcdef";

/*
 * After a libcrypto call failed: SG_ENOMEM when it ran out of memory,
 * else SG_EIO, and the thread's error queue emptied. Left there, the
 * entries hold memory and can be misread by the next TLS call on this
 * thread (libcurl reads the queue); found by the D5 sweep with
 * OpenSSL's allocations failing.
 */
static int failed(void)
{
    unsigned long e = ERR_peek_last_error();
    int rc = ERR_GET_REASON(e) == ERR_R_MALLOC_FAILURE ? SG_ENOMEM : SG_EIO;

    ERR_clear_error();
    return rc;
}

void sg_hex_encode(const unsigned char *in, size_t len, char *out)
{
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = hexdigits[in[i] >> 4];
        out[2 * i + 1] = hexdigits[in[i] & 15];
    }
    out[2 * len] = '\0';
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int sg_hex_decode(const char *in, size_t in_len, unsigned char *out)
{
    if (in_len % 2)
        return SG_EINVAL;
    for (size_t i = 0; i < in_len / 2; i++) {
        int hi = hexval(in[2 * i]), lo = hexval(in[2 * i + 1]);

        if (hi < 0 || lo < 0)
            return SG_EINVAL;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return 0;
}

bool sg_is_sha256_hex(const char *s, size_t len)
{
    if (len != 64)
        return false;
    for (size_t i = 0; i < len; i++)
        if (hexval(s[i]) < 0)
            return false;
    return true;
}

/*
 * SHA-256 through the low-level interface, which works on the caller's
 * context and never allocates, so it cannot fail. The one-shot SHA256()
 * of OpenSSL 3 fetches the algorithm and a context from the heap and,
 * when that fails, returns NULL with out never written: the D5 sweep
 * with OpenSSL's allocations failing saw stack bytes go out as an event
 * digest (and the same would hash an API key or a webhook body wrongly).
 * OpenSSL 3 marks these functions deprecated; they remain supported.
 */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
void sg_sha256(const void *data, size_t len, unsigned char out[32])
{
    SHA256_CTX c;

    SHA256_Init(&c);
    SHA256_Update(&c, data, len);
    SHA256_Final(out, &c);
    OPENSSL_cleanse(&c, sizeof(c));
}
#pragma GCC diagnostic pop

void sg_sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[32];

    sg_sha256(data, len, md);
    sg_hex_encode(md, 32, out);
}

/*
 * HMAC-SHA256 (RFC 2104) on the low-level SHA-256 interface, like
 * sg_sha256: nothing is fetched or allocated, so nothing can fail. The
 * one-shot HMAC() of OpenSSL 3 fetched the MAC on every call, and the
 * fetch may add names to the library's shared name map: the D5 sweep of
 * notify.http saw a failed allocation there leave the heap 16 bytes
 * larger in some runs and not others (CI failed on it), and each fetch
 * costs microseconds per webhook. The key's two padded blocks are hashed
 * once into an inner and an outer state; a MAC continues copies of them.
 */
#define HMAC_BLOCK 64

struct sg_hmac_key {
    SHA256_CTX inner; /* after (key ^ ipad) */
    SHA256_CTX outer; /* after (key ^ opad) */
};

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
static void hmac_key_setup(struct sg_hmac_key *k, const void *key,
                           size_t key_len)
{
    unsigned char block[HMAC_BLOCK] = {0};
    unsigned char pad[HMAC_BLOCK];

    if (key_len > HMAC_BLOCK)
        sg_sha256(key, key_len, block); /* a long key is its digest */
    else if (key_len)
        memcpy(block, key, key_len);
    for (size_t i = 0; i < HMAC_BLOCK; i++)
        pad[i] = block[i] ^ 0x36;
    SHA256_Init(&k->inner);
    SHA256_Update(&k->inner, pad, HMAC_BLOCK);
    for (size_t i = 0; i < HMAC_BLOCK; i++)
        pad[i] = block[i] ^ 0x5c;
    SHA256_Init(&k->outer);
    SHA256_Update(&k->outer, pad, HMAC_BLOCK);
    OPENSSL_cleanse(block, sizeof(block));
    OPENSSL_cleanse(pad, sizeof(pad));
}

static void hmac_finish(const struct sg_hmac_key *k, const void *a,
                        size_t a_len, const void *b, size_t b_len,
                        unsigned char out[32])
{
    SHA256_CTX c = k->inner;
    unsigned char inner[32];

    SHA256_Update(&c, a, a_len);
    SHA256_Update(&c, b, b_len);
    SHA256_Final(inner, &c);
    c = k->outer;
    SHA256_Update(&c, inner, sizeof(inner));
    SHA256_Final(out, &c);
    OPENSSL_cleanse(&c, sizeof(c));
    OPENSSL_cleanse(inner, sizeof(inner));
}
#pragma GCC diagnostic pop

int sg_hmac_sha256(const void *key, size_t key_len, const void *data,
                   size_t len, unsigned char out[32])
{
    struct sg_hmac_key k;

    if (key_len > INT_MAX)
        return SG_EINVAL;
    hmac_key_setup(&k, key, key_len);
    hmac_finish(&k, data, len, "", 0, out);
    OPENSSL_cleanse(&k, sizeof(k));
    return 0;
}

int sg_hmac_key_new(struct sg_hmac_key **out, const void *key,
                    size_t key_len)
{
    struct sg_hmac_key *k;

    *out = NULL;
    if (key_len > INT_MAX)
        return SG_EINVAL;
    k = sg_calloc(1, sizeof(*k));
    if (!k)
        return SG_ENOMEM;
    hmac_key_setup(k, key, key_len);
    *out = k;
    return 0;
}

void sg_hmac_key_free(struct sg_hmac_key *k)
{
    if (!k)
        return;
    OPENSSL_cleanse(k, sizeof(*k));
    sg_free(k);
}

int sg_hmac_key_sha256(const struct sg_hmac_key *k, const void *a,
                       size_t a_len, const void *b, size_t b_len,
                       unsigned char out[32])
{
    if (!k)
        return SG_EINVAL;
    hmac_finish(k, a, a_len, b, b_len, out);
    return 0;
}

int sg_hmac_sha256_hex(const void *key, size_t key_len, const void *data,
                       size_t len, char out[65])
{
    unsigned char md[32];
    int rc = sg_hmac_sha256(key, key_len, data, len, md);

    if (rc)
        return rc;
    sg_hex_encode(md, 32, out);
    return 0;
}

bool sg_ct_equal(const void *a, size_t a_len, const void *b, size_t b_len)
{
    if (a_len != b_len)
        return false;
    if (a_len == 0)
        return true;
    return CRYPTO_memcmp(a, b, a_len) == 0;
}

int sg_random_bytes(void *out, size_t len)
{
    if (len > INT_MAX)
        return SG_EIO;
    return RAND_bytes(out, (int)len) == 1 ? 0 : failed();
}

uint64_t sg_random_below(uint64_t bound)
{
    uint64_t x, limit;

    SG_ASSERT(bound > 0);
    limit = UINT64_MAX - UINT64_MAX % bound;
    do {
        if (sg_random_bytes(&x, sizeof(x)))
            abort();
    } while (x >= limit);
    return x % bound;
}

size_t sg_base64_encode(const unsigned char *in, size_t len, char *out)
{
    int n = EVP_EncodeBlock((unsigned char *)out, in, (int)len);

    return n < 0 ? 0 : (size_t)n;
}

int sg_seal(const unsigned char key[32], const char *plain, size_t len,
            char **out)
{
    unsigned char *raw = NULL;
    EVP_CIPHER_CTX *ctx = NULL;
    size_t raw_len = 12 + len + 16;
    int n = 0, rc = SG_EIO;
    char *hex = NULL;

    *out = NULL;
    if (len > INT_MAX - 64)
        return SG_EINVAL;
    raw = sg_alloc(raw_len);
    hex = sg_alloc(3 + raw_len * 2 + 1);
    ctx = EVP_CIPHER_CTX_new();
    if (!raw || !hex || !ctx) {
        rc = SG_ENOMEM;
        goto out;
    }
    if (sg_random_bytes(raw, 12))
        goto out;
    if (EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, raw) != 1 ||
        EVP_EncryptUpdate(ctx, raw + 12, &n, (const unsigned char *)plain,
                          (int)len) != 1 ||
        EVP_EncryptFinal_ex(ctx, raw + 12 + n, &n) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, raw + 12 + len) !=
            1)
        goto out;
    memcpy(hex, "v1:", 3);
    sg_hex_encode(raw, raw_len, hex + 3);
    *out = hex;
    hex = NULL;
    rc = 0;
out:
    EVP_CIPHER_CTX_free(ctx);
    if (raw)
        OPENSSL_cleanse(raw, raw_len);
    sg_free(raw);
    sg_free(hex);
    return rc;
}

int sg_unseal(const unsigned char key[32], const char *sealed, char **out,
              size_t *len_out)
{
    size_t hex_len, raw_len, len;
    unsigned char *raw = NULL;
    EVP_CIPHER_CTX *ctx = NULL;
    char *plain = NULL;
    int n = 0, rc = SG_EINVAL;

    *out = NULL;
    if (strncmp(sealed, "v1:", 3) != 0)
        return SG_EINVAL;
    hex_len = strlen(sealed + 3);
    if (hex_len % 2 || hex_len / 2 < 28)
        return SG_EINVAL;
    raw_len = hex_len / 2;
    len = raw_len - 28;
    raw = sg_alloc(raw_len);
    plain = sg_alloc(len + 1);
    ctx = EVP_CIPHER_CTX_new();
    if (!raw || !plain || !ctx) {
        rc = SG_ENOMEM;
        goto out;
    }
    if (sg_hex_decode(sealed + 3, hex_len, raw))
        goto out;
    if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, raw) != 1 ||
        EVP_DecryptUpdate(ctx, (unsigned char *)plain, &n, raw + 12,
                          (int)len) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16, raw + 12 + len) !=
            1 ||
        EVP_DecryptFinal_ex(ctx, (unsigned char *)plain + n, &n) != 1)
        goto out;
    plain[len] = '\0';
    *out = plain;
    if (len_out)
        *len_out = len;
    plain = NULL;
    rc = 0;
out:
    EVP_CIPHER_CTX_free(ctx);
    sg_free(raw);
    sg_free(plain);
    return rc;
}
