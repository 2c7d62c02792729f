/*
 * internal.h - shared inside the events feature only: the JSON writer
 * that prepare.c (over a jansson tree) and scan.c (over the raw request)
 * both use, so the two paths write byte-identical event JSON.
 */
#ifndef SG_FEATURES_EVENTS_INTERNAL_H
#define SG_FEATURES_EVENTS_INTERNAL_H

#include "core/sg.h"

#include "core/buf.h"
#include "features/events/events.h"

/* True when name is in the comma-separated list (spaces trimmed). */
bool sg_events__custom_allowed(const char *list, const char *name);

/*
 * ---- the writer ----
 *
 * The event is written straight into the caller's buffer, field by field
 * from the allow-list: no intermediate JSON tree, no per-field
 * allocation. A rejected event is cut off again by the caller.
 */
struct sg_events_jw {
    struct sg_buf *b;
    struct sg_events_sha *sha; /* may be NULL */
    int rc; /* the first buffer error; later appends are skipped */
};

static inline void jw_raw(struct sg_events_jw *w, const char *s, size_t n)
{
    if (!w->rc)
        w->rc = sg_buf_append(w->b, s, n);
}

/* A JSON string literal of s[0..n) (valid UTF-8, as jansson parsed it). */
static inline void jw_str(struct sg_events_jw *w, const char *s, size_t n)
{
    static const char hx[] = "0123456789abcdef";
    size_t run = 0;

    jw_raw(w, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[6] = {'\\', 'u', '0', '0', hx[c >> 4], hx[c & 15]};

        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        jw_raw(w, s + run, i - run);
        run = i + 1;
        if (c == '"' || c == '\\') {
            esc[1] = (char)c;
            jw_raw(w, esc, 2);
        } else {
            jw_raw(w, esc, 6);
        }
    }
    jw_raw(w, s + run, n - run);
    jw_raw(w, "\"", 1);
}

/* ,"key": (the comma unless first); key is a plain literal. */
static inline void jw_key(struct sg_events_jw *w, bool *any, const char *key)
{
    char k[40];
    size_t n = strlen(key), o = 0;

    SG_ASSERT(n + 4 <= sizeof(k));
    if (*any)
        k[o++] = ',';
    k[o++] = '"';
    memcpy(k + o, key, n);
    o += n;
    k[o++] = '"';
    k[o++] = ':';
    jw_raw(w, k, o);
    *any = true;
}

static inline void jw_int(struct sg_events_jw *w, int64_t v)
{
    char d[24];
    size_t i = sizeof(d);
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

    do {
        d[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        d[--i] = '-';
    jw_raw(w, d + i, sizeof(d) - i);
}

/*
 * A real with the fewest digits that read back as exactly d: 19.90
 * arrives as 19.9, not jansson's default 19.899999999999999. %.15g
 * already is the shortest form whenever one of at most 15 digits exists
 * (DBL_DIG), so at most three tries. Like jansson, ".0" marks an
 * integral real.
 */
static inline void jw_real(struct sg_events_jw *w, double d)
{
    char s[40];
    int n = 0;

    for (int p = 15; p <= 17; p++) {
        n = snprintf(s, sizeof(s), "%.*g", p, d);
        if (p == 17 || strtod(s, NULL) == d)
            break;
    }
    if (n <= 0 || (size_t)n >= sizeof(s) - 2) {
        w->rc = w->rc ? w->rc : SG_EINVAL;
        return;
    }
    if (!strpbrk(s, ".eEin")) {
        s[n++] = '.';
        s[n++] = '0';
        s[n] = '\0';
    }
    jw_raw(w, s, (size_t)n);
}

/* Undo everything written since mark (an empty object, a rejection). */
static inline void jw_cut(struct sg_events_jw *w, size_t mark)
{
    if (w->b->len > mark) {
        w->b->len = mark;
        w->b->data[mark] = '\0';
    }
}

/* Open ,"name":{ ; close() drops it again when nothing went in. */
static inline size_t obj_open(struct sg_events_jw *w, bool *any,
                              const char *name, bool *inner)
{
    size_t mark = w->b->len;
    bool was = *any;

    jw_key(w, any, name);
    *any = was; /* only a member that is kept counts */
    jw_raw(w, "{", 1);
    *inner = false;
    return mark;
}

static inline void obj_close(struct sg_events_jw *w, bool *any, size_t mark,
                             bool inner)
{
    if (!inner) {
        jw_cut(w, mark);
        return;
    }
    jw_raw(w, "}", 1);
    *any = true;
}

#endif
