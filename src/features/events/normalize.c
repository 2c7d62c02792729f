/*
 * normalize.c - customer data for the Events API: normalise each field as
 * reference section 2 says, then SHA-256 into lowercase hex. A value that
 * already is a 64-hex digest is passed through, never hashed twice.
 * Nothing here logs or keeps the plaintext.
 */
#include "core/sg.h"

#include <openssl/err.h>
#include <openssl/evp.h>

#include "core/crypto.h"
#include "features/events/events.h"

static bool is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
           c == '\f';
}

static char lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

static void trim(const char **p, size_t *len)
{
    while (*len && is_space((unsigned char)**p)) {
        (*p)++;
        (*len)--;
    }
    while (*len && is_space((unsigned char)(*p)[*len - 1]))
        (*len)--;
}

static int norm_email(const char *in, size_t len, char *out, size_t cap)
{
    bool at = false;

    trim(&in, &len);
    if (len == 0)
        return SG_EINVAL;
    if (len + 1 > cap)
        return SG_ELIMIT;
    for (size_t i = 0; i < len; i++) {
        out[i] = lower(in[i]);
        if (in[i] == '@' && i > 0 && i + 1 < len)
            at = true;
    }
    out[len] = '\0';
    return at ? (int)len : SG_EINVAL;
}

/* E.164 as the reference has it: the digits, '+' in front, at most 15. */
static int norm_phone(const char *in, size_t len, char *out, size_t cap)
{
    size_t n = 0;

    if (cap < 17)
        return SG_ELIMIT;
    out[n++] = '+';
    for (size_t i = 0; i < len; i++) {
        if (in[i] < '0' || in[i] > '9')
            continue;
        if (n == 16)
            return SG_EINVAL; /* more than 15 digits */
        out[n++] = in[i];
    }
    out[n] = '\0';
    return n >= 7 ? (int)n : SG_EINVAL; /* 6 digits or more */
}

static int norm_trim(const char *in, size_t len, char *out, size_t cap)
{
    trim(&in, &len);
    if (len == 0)
        return SG_EINVAL;
    if (len + 1 > cap)
        return SG_ELIMIT;
    memcpy(out, in, len);
    out[len] = '\0';
    return (int)len;
}

/* Names and zip codes: every whitespace removed, lowercase. */
static int norm_squeeze(const char *in, size_t len, char *out, size_t cap)
{
    size_t n = 0;

    for (size_t i = 0; i < len; i++) {
        if (is_space((unsigned char)in[i]))
            continue;
        if (n + 1 >= cap)
            return SG_ELIMIT;
        out[n++] = lower(in[i]);
    }
    out[n] = '\0';
    return n ? (int)n : SG_EINVAL;
}

int sg_events_normalize(int field, const char *in, size_t len, char *out,
                        size_t out_size)
{
    if (!in || !out || out_size == 0)
        return SG_EINVAL;
    switch (field) {
    case SG_EVENTS_F_EMAIL:
        return norm_email(in, len, out, out_size);
    case SG_EVENTS_F_PHONE:
        return norm_phone(in, len, out, out_size);
    case SG_EVENTS_F_EXTERNAL_ID:
        return norm_trim(in, len, out, out_size);
    case SG_EVENTS_F_NAME:
    case SG_EVENTS_F_ZIP:
        return norm_squeeze(in, len, out, out_size);
    default:
        return SG_EINVAL;
    }
}

int sg_events_sha_init(struct sg_events_sha *h)
{
    memset(h, 0, sizeof(*h));
    h->md = EVP_MD_fetch(NULL, "SHA256", NULL);
    h->ctx = EVP_MD_CTX_new();
    if (!h->md || !h->ctx ||
        EVP_DigestInit_ex2(h->ctx, h->md, NULL) != 1) {
        sg_events_sha_release(h);
        ERR_clear_error(); /* its entries hold memory (D5) */
        return SG_ENOMEM;
    }
    return 0;
}

void sg_events_sha_release(struct sg_events_sha *h)
{
    if (!h)
        return;
    EVP_MD_CTX_free(h->ctx);
    EVP_MD_free(h->md);
    memset(h, 0, sizeof(*h));
}

/* SHA-256 of data into lowercase hex, on h's context when there is one. */
static void sha_hex(struct sg_events_sha *h, const char *data, size_t len,
                    char out[65])
{
    unsigned char md[32];

    if (h && h->ctx && EVP_DigestInit_ex2(h->ctx, NULL, NULL) == 1 &&
        EVP_DigestUpdate(h->ctx, data, len) == 1 &&
        EVP_DigestFinal_ex(h->ctx, md, NULL) == 1) {
        sg_hex_encode(md, 32, out);
        out[64] = '\0';
        return;
    }
    /*
     * The context failed (out of memory inside libcrypto): empty the
     * thread's error queue, whose entries hold memory, and take the
     * path that cannot fail.
     */
    if (h && h->ctx)
        ERR_clear_error();
    sg_sha256_hex(data, len, out);
}

int sg_events_digest(int field, const char *in, size_t len, char out[65])
{
    return sg_events_digest_with(NULL, field, in, len, out);
}

int sg_events_digest_with(struct sg_events_sha *h, int field, const char *in,
                          size_t len, char out[65])
{
    char buf[512];
    const char *t = in;
    size_t tl = len;
    int n;

    trim(&t, &tl);
    if (sg_is_sha256_hex(t, tl)) {
        for (size_t i = 0; i < 64; i++)
            out[i] = lower(t[i]);
        out[64] = '\0';
        return 0;
    }
    n = sg_events_normalize(field, in, len, buf, sizeof(buf));
    if (n < 0)
        return SG_EINVAL;
    sha_hex(h, buf, (size_t)n, out);
    /* The normalised plaintext does not outlive this call. */
    memset(buf, 0, sizeof(buf));
    return 0;
}

int sg_events_normalize_place(const char *in, size_t len, char *out,
                              size_t out_size)
{
    size_t n = 0;

    if (!out || out_size == 0)
        return SG_EINVAL;
    for (size_t i = 0; i < len; i++) {
        char c = lower(in[i]);

        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
            continue;
        if (n + 1 >= out_size)
            return SG_ELIMIT;
        out[n++] = c;
    }
    out[n] = '\0';
    return n ? (int)n : SG_EINVAL;
}

/* ---- names and currencies ---- */

static const char *const standard_events[] = {
    "ViewContent",      "ClickButton",      "Search",
    "AddToWishlist",    "AddToCart",        "InitiateCheckout",
    "AddPaymentInfo",   "CompletePayment",  "PlaceAnOrder",
    "Contact",          "Download",         "SubmitForm",
    "CompleteRegistration", "Subscribe",    "Purchase",
    "Lead",             "CustomizeProduct", "FindLocation",
    "Schedule",
};

bool sg_events_is_standard(const char *name)
{
    for (size_t i = 0; i < SG_ARRAY_SIZE(standard_events); i++)
        if (strcmp(standard_events[i], name) == 0)
            return true;
    return false;
}

/* ISO 4217 active codes (2024), sorted for bsearch. */
static const char currencies[][4] = {
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN",
    "BAM", "BBD", "BDT", "BGN", "BHD", "BIF", "BMD", "BND", "BOB", "BRL",
    "BSD", "BTN", "BWP", "BYN", "BZD", "CAD", "CDF", "CHF", "CLP", "CNY",
    "COP", "CRC", "CUP", "CVE", "CZK", "DJF", "DKK", "DOP", "DZD", "EGP",
    "ERN", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP", "GMD",
    "GNF", "GTQ", "GYD", "HKD", "HNL", "HTG", "HUF", "IDR", "ILS", "INR",
    "IQD", "IRR", "ISK", "JMD", "JOD", "JPY", "KES", "KGS", "KHR", "KMF",
    "KPW", "KRW", "KWD", "KYD", "KZT", "LAK", "LBP", "LKR", "LRD", "LSL",
    "LYD", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR",
    "MVR", "MWK", "MXN", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR",
    "NZD", "OMR", "PAB", "PEN", "PGK", "PHP", "PKR", "PLN", "PYG", "QAR",
    "RON", "RSD", "RUB", "RWF", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD",
    "SHP", "SLE", "SOS", "SRD", "SSP", "STN", "SVC", "SYP", "SZL", "THB",
    "TJS", "TMT", "TND", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH", "UGX",
    "USD", "UYU", "UZS", "VES", "VND", "VUV", "WST", "XAF", "XCD", "XOF",
    "XPF", "YER", "ZAR", "ZMW", "ZWL",
};

static int cmp_code(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

bool sg_events_is_currency(const char *code)
{
    if (!code || strlen(code) != 3)
        return false;
    return bsearch(code, currencies, SG_ARRAY_SIZE(currencies),
                   sizeof(currencies[0]), cmp_code) != NULL;
}
