/*
 * fuzz_tts_sign.c - TikTok Shop request signing on untrusted query
 * strings: the sandbox verifies every incoming call with exactly this code
 * (sg_tts_query_parse, then sg_tts_sign_base over the decoded pairs).
 *
 * Input: "<path>\n<raw query>\n<body>" (missing parts are empty).
 * Invariants: parsing never yields more than the documented maximum; the
 * base string starts with the path and ends with the body; the signature
 * is 64 lowercase hex digits and the same on a second run.
 */
#include "fuzz.h"
#include "core/buf.h"
#include "core/err.h"
#include "connectors/tiktok_shop/sign.h"

#include <string.h>

#define SECRET "fuzz_app_secret"

static size_t part(const char *p, size_t len)
{
    const char *nl = memchr(p, '\n', len);

    return nl ? (size_t)(nl - p) : len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    size_t path_len = part(p, size);
    const char *query = path_len < size ? p + path_len + 1 : p + size;
    size_t rest = size - (size_t)(query - p);
    size_t query_len = part(query, rest);
    const char *body = query_len < rest ? query + query_len + 1 : query + rest;
    size_t body_len = size - (size_t)(body - p);
    char path[256], sig1[65], sig2[65];
    struct sg_tts_query q;
    struct sg_buf base;
    int rc;

    if (path_len >= sizeof(path))
        path_len = sizeof(path) - 1;
    memcpy(path, p, path_len);
    path[path_len] = '\0';

    rc = sg_tts_query_parse(&q, query, query_len);
    SG_FUZZ_CHECK(rc == 0 || rc == SG_ELIMIT || rc == SG_ENOMEM);
    SG_FUZZ_CHECK(q.n <= SG_TTS_QUERY_PARAMS_MAX);
    if (rc == 0) {
        (void)sg_tts_query_find(&q, "app_key");
        (void)sg_tts_query_find(&q, "sign");
        sg_buf_init(&base, 1u << 20);
        rc = sg_tts_sign_base(&base, path, q.kv, q.n, body, body_len);
        if (rc == 0) {
            SG_FUZZ_CHECK(base.len >= strlen(path) + body_len);
            SG_FUZZ_CHECK(memcmp(base.data, path, strlen(path)) == 0);
            SG_FUZZ_CHECK(body_len == 0 ||
                          memcmp(base.data + base.len - body_len, body,
                                 body_len) == 0);
        }
        sg_buf_release(&base);
        if (sg_tts_sign_kv(sig1, SECRET, path, q.kv, q.n, body, body_len) ==
            0) {
            SG_FUZZ_CHECK(strlen(sig1) == 64);
            for (size_t i = 0; i < 64; i++)
                SG_FUZZ_CHECK((sig1[i] >= '0' && sig1[i] <= '9') ||
                              (sig1[i] >= 'a' && sig1[i] <= 'f'));
            SG_FUZZ_CHECK(sg_tts_sign_kv(sig2, SECRET, path, q.kv, q.n, body,
                                         body_len) == 0);
            SG_FUZZ_CHECK(memcmp(sig1, sig2, 65) == 0);
        }
    }
    sg_tts_query_release(&q);
    return 0;
}
