/*
 * sign.c - TikTok Shop signatures. Everything works on byte lengths, never
 * on NUL-terminated copies, so a signature covers exactly the bytes that
 * travel (reference 1.3: decoded query values, raw body).
 */
#include "core/sg.h"
#include "connectors/tiktok_shop/sign.h"
#include "core/alloc.h"
#include "core/crypto.h"
#include "core/err.h"

#define SIGN_BASE_MAX (64u << 20)

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decode src[0..len) into dst; returns the decoded length. */
static size_t decode(char *dst, const char *src, size_t len)
{
    size_t o = 0;

    for (size_t i = 0; i < len; i++) {
        if (src[i] == '+') {
            dst[o++] = ' ';
        } else if (src[i] == '%' && i + 2 < len &&
                   hexval(src[i + 1]) >= 0 && hexval(src[i + 2]) >= 0) {
            dst[o++] = (char)(hexval(src[i + 1]) * 16 + hexval(src[i + 2]));
            i += 2;
        } else {
            dst[o++] = src[i];
        }
    }
    return o;
}

int sg_tts_query_parse(struct sg_tts_query *q, const char *query, size_t len)
{
    size_t cap = 0, pos = 0, spos = 0;

    memset(q, 0, sizeof(*q));
    if (!query || len == 0)
        return 0;
    for (size_t i = 0; i < len; i++)
        cap += query[i] == '&';
    cap++;
    if (cap > SG_TTS_QUERY_PARAMS_MAX)
        return SG_ELIMIT;
    q->kv = sg_calloc(cap, sizeof(*q->kv));
    q->store = sg_alloc(len + cap + 1);
    if (!q->kv || !q->store)
        return SG_ENOMEM;
    while (pos <= len) {
        const char *seg = query + pos;
        const char *amp = memchr(seg, '&', len - pos);
        size_t seg_len = amp ? (size_t)(amp - seg) : len - pos;
        const char *eq = memchr(seg, '=', seg_len);
        size_t klen = eq ? (size_t)(eq - seg) : seg_len;
        struct sg_tts_kv *kv;

        if (seg_len > 0) {
            kv = &q->kv[q->n++];
            kv->key = q->store + spos;
            kv->key_len = decode(q->store + spos, seg, klen);
            spos += kv->key_len;
            kv->val = q->store + spos;
            kv->val_len = eq ? decode(q->store + spos, eq + 1,
                                      seg_len - klen - 1)
                             : 0;
            spos += kv->val_len;
        }
        pos += seg_len + 1;
    }
    return 0;
}

void sg_tts_query_release(struct sg_tts_query *q)
{
    if (!q)
        return;
    sg_free(q->kv);
    sg_free(q->store);
    memset(q, 0, sizeof(*q));
}

static bool key_is(const struct sg_tts_kv *kv, const char *key)
{
    size_t n = strlen(key);

    return kv->key_len == n && memcmp(kv->key, key, n) == 0;
}

const struct sg_tts_kv *sg_tts_query_find(const struct sg_tts_query *q,
                                          const char *key)
{
    for (size_t i = 0; i < q->n; i++)
        if (key_is(&q->kv[i], key))
            return &q->kv[i];
    return NULL;
}

static int bytes_cmp(const char *a, size_t al, const char *b, size_t bl)
{
    int c = memcmp(a, b, SG_MIN(al, bl));

    if (c)
        return c;
    return al < bl ? -1 : al > bl;
}

static int kv_cmp(const void *pa, const void *pb)
{
    const struct sg_tts_kv *a = *(const struct sg_tts_kv *const *)pa;
    const struct sg_tts_kv *b = *(const struct sg_tts_kv *const *)pb;
    int c = bytes_cmp(a->key, a->key_len, b->key, b->key_len);

    return c ? c : bytes_cmp(a->val, a->val_len, b->val, b->val_len);
}

static bool excluded(const struct sg_tts_kv *kv)
{
    return key_is(kv, "sign") || key_is(kv, "access_token") ||
           key_is(kv, "x-tts-access-token");
}

int sg_tts_sign_base(struct sg_buf *out, const char *path,
                     const struct sg_tts_kv *kv, size_t n, const void *body,
                     size_t body_len)
{
    const struct sg_tts_kv **sorted = NULL;
    size_t m = 0;
    int rc;

    if (n) {
        sorted = sg_calloc(n, sizeof(*sorted));
        if (!sorted)
            return SG_ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        if (!excluded(&kv[i]))
            sorted[m++] = &kv[i];
    if (m > 1)
        qsort(sorted, m, sizeof(*sorted), kv_cmp);
    rc = sg_buf_appends(out, path);
    for (size_t i = 0; i < m && rc == 0; i++) {
        rc = sg_buf_append(out, sorted[i]->key, sorted[i]->key_len);
        if (rc == 0)
            rc = sg_buf_append(out, sorted[i]->val, sorted[i]->val_len);
    }
    if (rc == 0 && body && body_len)
        rc = sg_buf_append(out, body, body_len);
    sg_free(sorted);
    return rc;
}

int sg_tts_sign_wrap(char out[65], const char *secret, const char *base,
                     size_t base_len)
{
    struct sg_buf b;
    size_t slen = strlen(secret);
    int rc;

    sg_buf_init(&b, SIGN_BASE_MAX);
    rc = sg_buf_append(&b, secret, slen);
    if (rc == 0)
        rc = sg_buf_append(&b, base, base_len);
    if (rc == 0)
        rc = sg_buf_append(&b, secret, slen);
    if (rc == 0)
        rc = sg_hmac_sha256_hex(secret, slen, b.data, b.len, out);
    sg_buf_release(&b);
    return rc;
}

int sg_tts_sign_kv(char out[65], const char *secret, const char *path,
                   const struct sg_tts_kv *kv, size_t n, const void *body,
                   size_t body_len)
{
    struct sg_buf b;
    int rc;

    sg_buf_init(&b, SIGN_BASE_MAX);
    rc = sg_tts_sign_base(&b, path, kv, n, body, body_len);
    if (rc == 0)
        rc = sg_tts_sign_wrap(out, secret, b.data ? b.data : "", b.len);
    sg_buf_release(&b);
    return rc;
}

int sg_tts_sign(char out[65], const char *secret, const char *path,
                const struct sg_tts_param *params, size_t n,
                const void *body, size_t body_len)
{
    struct sg_tts_kv kv[SG_TTS_QUERY_PARAMS_MAX];

    if (n > SG_TTS_QUERY_PARAMS_MAX)
        return SG_ELIMIT;
    for (size_t i = 0; i < n; i++) {
        kv[i].key = params[i].key;
        kv[i].key_len = strlen(params[i].key);
        kv[i].val = params[i].value;
        kv[i].val_len = strlen(params[i].value);
    }
    return sg_tts_sign_kv(out, secret, path, kv, n, body, body_len);
}

int sg_tts_webhook_sign(char out[65], const char *app_key,
                        const char *app_secret, const void *body,
                        size_t body_len)
{
    struct sg_buf b;
    int rc;

    sg_buf_init(&b, SIGN_BASE_MAX);
    rc = sg_buf_appends(&b, app_key);
    if (rc == 0)
        rc = sg_buf_append(&b, body, body_len);
    if (rc == 0)
        rc = sg_hmac_sha256_hex(app_secret, strlen(app_secret),
                                b.data ? b.data : "", b.len, out);
    sg_buf_release(&b);
    return rc;
}

int sg_tts_webhook_sign_key(char out[65], const struct sg_hmac_key *secret,
                            const char *app_key, const void *body,
                            size_t body_len)
{
    unsigned char md[32];
    int rc = sg_hmac_key_sha256(secret, app_key, strlen(app_key), body,
                                body_len, md);

    if (rc)
        return rc;
    sg_hex_encode(md, 32, out);
    return 0;
}

/* sig lowercased into got (64 hex chars and a NUL); false if not 64. */
static bool sig_lower(char got[65], const char *sig, size_t sig_len)
{
    if (!sig || sig_len != 64)
        return false;
    for (size_t i = 0; i < 64; i++) {
        char ch = sig[i];

        got[i] = (ch >= 'A' && ch <= 'F') ? (char)(ch - 'A' + 'a') : ch;
    }
    got[64] = '\0';
    return true;
}

int sg_tts_webhook_check(const char *app_key, const char *app_secret,
                         const char *sig, size_t sig_len, const void *body,
                         size_t body_len)
{
    char want[65], got[65];
    int rc;

    if (!sig_lower(got, sig, sig_len))
        return SG_EAUTH;
    rc = sg_tts_webhook_sign(want, app_key, app_secret, body, body_len);
    if (rc)
        return rc;
    return sg_ct_equal(want, 64, got, 64) ? 0 : SG_EAUTH;
}

int sg_tts_webhook_check_key(const struct sg_hmac_key *secret,
                             const char *app_key, const char *sig,
                             size_t sig_len, const void *body,
                             size_t body_len)
{
    char want[65], got[65];
    int rc;

    if (!sig_lower(got, sig, sig_len))
        return SG_EAUTH;
    rc = sg_tts_webhook_sign_key(want, secret, app_key, body, body_len);
    if (rc)
        return rc;
    return sg_ct_equal(want, 64, got, 64) ? 0 : SG_EAUTH;
}

bool sg_tts_webhook_verify(const char *app_key, const char *app_secret,
                           const char *sig, size_t sig_len, const void *body,
                           size_t body_len)
{
    return sg_tts_webhook_check(app_key, app_secret, sig, sig_len, body,
                                body_len) == 0;
}
