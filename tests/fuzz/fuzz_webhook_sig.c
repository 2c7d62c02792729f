/*
 * fuzz_webhook_sig.c - the generic webhook's X-Surge-Signature check, on
 * the same primitives engine/intake.c uses (its checker is static): strip
 * an optional "sha256=", decode 64 hex digits, HMAC-SHA256 the raw body,
 * compare in constant time. fuzz_http drives the server in front of it.
 *
 * Input: "<header value>\n<body>". Invariant: accepted exactly when the
 * decoded value equals the HMAC computed independently here.
 */
#include "fuzz.h"
#include "core/crypto.h"

#include <string.h>

#define SECRET "whsec_fuzz_0123456789"

static bool check(const char *sig, size_t sig_len, const char *body,
                  size_t len)
{
    unsigned char want[32], got[32];

    if (sig_len > 7 && memcmp(sig, "sha256=", 7) == 0) {
        sig += 7;
        sig_len -= 7;
    }
    if (sig_len != 64 || sg_hex_decode(sig, 64, got) != 0)
        return false;
    if (sg_hmac_sha256(SECRET, strlen(SECRET), body, len, want) != 0)
        return false;
    return sg_ct_equal(want, 32, got, 32);
}

static int lower(int c)
{
    return c >= 'A' && c <= 'F' ? c - 'A' + 'a' : c;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    const char *nl = memchr(p, '\n', size);
    size_t sig_len = nl ? (size_t)(nl - p) : size;
    const char *body = nl ? nl + 1 : p + size;
    size_t body_len = size - (size_t)(body - p);
    char hex[65];
    const char *s = p;
    size_t n = sig_len;
    bool expect = false;

    SG_FUZZ_CHECK(sg_hmac_sha256_hex(SECRET, strlen(SECRET), body, body_len,
                                     hex) == 0);
    if (n > 7 && memcmp(s, "sha256=", 7) == 0) {
        s += 7;
        n -= 7;
    }
    if (n == 64) {
        expect = true;
        for (size_t i = 0; i < 64 && expect; i++)
            expect = lower((unsigned char)s[i]) == hex[i];
    }
    SG_FUZZ_CHECK(check(p, sig_len, body, body_len) == expect);
    /* Flipping one bit of a valid signature is always refused. */
    if (expect) {
        char flip[64];

        memcpy(flip, s, 64);
        flip[body_len % 64] ^= 0x01;
        SG_FUZZ_CHECK(!check(flip, 64, body, body_len));
    }
    return 0;
}
