/*
 * multipart.c - just enough multipart/form-data to find one field of an
 * upload (the image bytes or use_case). Bounded by the body length; no
 * copies.
 */
#include "core/sg.h"
#include "sandbox/internal.h"

static const char *find(const char *h, size_t hl, const char *n, size_t nl)
{
    for (size_t i = 0; nl && i + nl <= hl; i++)
        if (memcmp(h + i, n, nl) == 0)
            return h + i;
    return NULL;
}

bool sg_sbx__multipart_field(const char *body, size_t len, const char *ctype,
                             const char *name, const char **val,
                             size_t *val_len)
{
    char delim[128], want[160];
    const char *b = ctype ? strstr(ctype, "boundary=") : NULL;
    const char *p = body, *end = body + len;
    size_t dl, wl;

    if (!b)
        return false;
    b += 9;
    if (*b == '"')
        b++;
    dl = strcspn(b, "\";");
    if (dl == 0 || dl + 5 > sizeof(delim))
        return false;
    delim[0] = '\r';
    delim[1] = '\n';
    delim[2] = delim[3] = '-';
    memcpy(delim + 4, b, dl);
    dl += 4;
    wl = (size_t)snprintf(want, sizeof(want), "name=\"%s\"", name);
    if (wl >= sizeof(want))
        return false;
    /* The first delimiter has no leading CRLF. */
    p = find(p, (size_t)(end - p), delim + 2, dl - 2);
    for (unsigned guard = 0; p && guard < 256; guard++) {
        const char *hdr_end, *next, *nm;

        p += dl - 2;
        hdr_end = find(p, (size_t)(end - p), "\r\n\r\n", 4);
        if (!hdr_end)
            return false;
        next = find(hdr_end + 4, (size_t)(end - hdr_end - 4), delim, dl);
        if (!next)
            return false;
        nm = find(p, (size_t)(hdr_end - p), want, wl);
        if (nm) {
            *val = hdr_end + 4;
            *val_len = (size_t)(next - *val);
            return true;
        }
        p = next + 2;
    }
    return false;
}
