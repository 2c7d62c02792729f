/*
 * utf8.c - UTF-8 well-formedness (utf8.h), after the table of RFC 3629
 * section 4: the second byte's range depends on the first byte, which
 * is what rules out overlong forms and surrogates.
 */
#include "core/utf8.h"

bool sg_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;

    while (i < len) {
        unsigned char c = p[i];
        unsigned char lo = 0x80, hi = 0xBF;
        size_t more;

        if (c == 0)
            return false;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF)
            more = 1;
        else if (c >= 0xE0 && c <= 0xEF)
            more = 2;
        else if (c >= 0xF0 && c <= 0xF4)
            more = 3;
        else
            return false; /* continuation byte, C0/C1 or F5..FF first */
        if (c == 0xE0)
            lo = 0xA0; /* overlong 3-byte */
        else if (c == 0xED)
            hi = 0x9F; /* U+D800..U+DFFF */
        else if (c == 0xF0)
            lo = 0x90; /* overlong 4-byte */
        else if (c == 0xF4)
            hi = 0x8F; /* above U+10FFFF */
        if (len - i <= more || p[i + 1] < lo || p[i + 1] > hi)
            return false;
        for (size_t k = 2; k <= more; k++) {
            if (p[i + k] < 0x80 || p[i + k] > 0xBF)
                return false;
        }
        i += more + 1;
    }
    return true;
}
