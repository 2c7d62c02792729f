/*
 * scan.c - the one-pass intake of a whole POST /api/v1/events body: the
 * raw bytes are cut into a flat token array (no jansson tree, no
 * allocation per value) and each event is validated, normalised, hashed
 * and written by the same writer prepare.c uses (internal.h).
 *
 * Invariant: this path only ever accepts. Whatever it does not handle
 * exactly as sg_events_prepare_buf would (any rejection, a generated
 * event_id, a null, ...) is left to that function on jansson's tree: per
 * event (slow[i]) or, for a body outside the subset it reads (escapes,
 * non-ASCII bytes, exponents, long numbers, deep nesting, a shape
 * jansson might answer differently), for the whole request
 * (SG_EDECLINED). tests/unit/test_features_events_scan.c holds the two
 * paths to byte-identical output.
 */
#include "core/sg.h"

#include <math.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "features/events/events.h"
#include "features/events/internal.h"

#define DEPTH_CAP    32 /* deeper: the full path decides */
#define MEMBERS_CAP  64 /* keys per object checked for duplicates */
#define NUM_LEN_MAX  24 /* number text bytes we convert ourselves */
#define STR_MAX      1024
#define IDS_MAX      10
#define CONTENTS_MAX 200

enum tok_type { T_OBJ, T_ARR, T_STR, T_INT, T_REAL, T_TRUE, T_FALSE, T_NULL };

/*
 * One value. start/len: a string's bytes (between the quotes) or a
 * number's text. end: the index of the first token after this value and
 * everything inside it; an object's children are key, value, key, ...
 */
struct tok {
    uint8_t type;
    uint32_t start;
    uint32_t len;
    uint32_t end;
    uint32_t n; /* containers: values (objects: members) */
};

struct scan {
    const char *s;
    size_t len, pos;
    struct tok *t;
    size_t n, cap;
    size_t depth_max;
    int rc; /* 0, SG_EDECLINED or SG_ENOMEM */
};

/* ---- the tokenizer (a conservative subset of RFC 8259) ---- */

static int decline(struct scan *sc)
{
    if (!sc->rc)
        sc->rc = SG_EDECLINED;
    return sc->rc;
}

static void skip_ws(struct scan *sc)
{
    while (sc->pos < sc->len) {
        char c = sc->s[sc->pos];

        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        sc->pos++;
    }
}

static int tok_new(struct scan *sc, int type, size_t *idx)
{
    if (sc->n == sc->cap) {
        size_t cap = sc->cap ? sc->cap * 2 : 256;
        struct tok *t;

        /* Every value takes at least one byte of the body. */
        if (cap > sc->len + 16)
            cap = sc->len + 16;
        if (cap <= sc->n)
            return decline(sc);
        t = sg_realloc(sc->t, cap * sizeof(*t));
        if (!t) {
            sc->rc = SG_ENOMEM;
            return sc->rc;
        }
        sc->t = t;
        sc->cap = cap;
    }
    *idx = sc->n++;
    memset(&sc->t[*idx], 0, sizeof(sc->t[*idx]));
    sc->t[*idx].type = (uint8_t)type;
    sc->t[*idx].start = (uint32_t)sc->pos;
    return 0;
}

/* Only printable ASCII without escapes: jansson would read it the same. */
static int lex_str(struct scan *sc)
{
    size_t idx, b;

    if (tok_new(sc, T_STR, &idx))
        return sc->rc;
    b = ++sc->pos;
    while (sc->pos < sc->len) {
        unsigned char c = (unsigned char)sc->s[sc->pos];

        if (c == '"')
            break;
        if (c < 0x20 || c >= 0x7f || c == '\\')
            return decline(sc);
        sc->pos++;
    }
    if (sc->pos >= sc->len)
        return decline(sc);
    sc->t[idx].start = (uint32_t)b;
    sc->t[idx].len = (uint32_t)(sc->pos - b);
    sc->t[idx].end = (uint32_t)sc->n;
    sc->pos++;
    return 0;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/*
 * -?(0|[1-9][0-9]*)(.[0-9]+)? with at most 18 integer digits (an int64
 * either way) and no exponent: no overflow, so jansson could not refuse
 * it, and strtoll/strtod give its values.
 */
static int lex_num(struct scan *sc)
{
    size_t idx, b = sc->pos, digits = 0;
    bool real = false;

    if (tok_new(sc, T_INT, &idx))
        return sc->rc;
    if (sc->pos < sc->len && sc->s[sc->pos] == '-')
        sc->pos++;
    if (sc->pos >= sc->len || !is_digit(sc->s[sc->pos]))
        return decline(sc);
    if (sc->s[sc->pos] == '0') {
        sc->pos++;
        digits = 1;
    } else {
        while (sc->pos < sc->len && is_digit(sc->s[sc->pos])) {
            sc->pos++;
            digits++;
        }
    }
    if (sc->pos < sc->len && sc->s[sc->pos] == '.') {
        real = true;
        sc->pos++;
        if (sc->pos >= sc->len || !is_digit(sc->s[sc->pos]))
            return decline(sc);
        while (sc->pos < sc->len && is_digit(sc->s[sc->pos]))
            sc->pos++;
    }
    if (sc->pos < sc->len && (sc->s[sc->pos] == 'e' || sc->s[sc->pos] == 'E' ||
                              is_digit(sc->s[sc->pos])))
        return decline(sc);
    if (digits > 18 || sc->pos - b > NUM_LEN_MAX)
        return decline(sc);
    sc->t[idx].type = real ? T_REAL : T_INT;
    sc->t[idx].len = (uint32_t)(sc->pos - b);
    sc->t[idx].end = (uint32_t)sc->n;
    return 0;
}

static int lex_lit(struct scan *sc, const char *word, int type)
{
    size_t n = strlen(word), idx;

    if (sc->len - sc->pos < n || memcmp(sc->s + sc->pos, word, n) != 0)
        return decline(sc);
    if (tok_new(sc, type, &idx))
        return sc->rc;
    sc->pos += n;
    sc->t[idx].len = (uint32_t)n;
    sc->t[idx].end = (uint32_t)sc->n;
    return 0;
}

static bool same_key(const struct scan *sc, size_t a, size_t b)
{
    return sc->t[a].len == sc->t[b].len &&
           memcmp(sc->s + sc->t[a].start, sc->s + sc->t[b].start,
                  sc->t[a].len) == 0;
}

static int lex_value(struct scan *sc, size_t depth);

/* jansson (JSON_REJECT_DUPLICATES) refuses a repeated key: so do we. */
static int lex_obj(struct scan *sc, size_t depth)
{
    size_t idx, keys[MEMBERS_CAP], k = 0;

    if (tok_new(sc, T_OBJ, &idx))
        return sc->rc;
    sc->pos++;
    skip_ws(sc);
    if (sc->pos < sc->len && sc->s[sc->pos] == '}') {
        sc->pos++;
        sc->t[idx].end = (uint32_t)sc->n;
        return 0;
    }
    for (;;) {
        if (sc->pos >= sc->len || sc->s[sc->pos] != '"' || k == MEMBERS_CAP)
            return decline(sc);
        keys[k] = sc->n;
        if (lex_str(sc))
            return sc->rc;
        for (size_t i = 0; i < k; i++)
            if (same_key(sc, keys[i], keys[k]))
                return decline(sc);
        k++;
        skip_ws(sc);
        if (sc->pos >= sc->len || sc->s[sc->pos] != ':')
            return decline(sc);
        sc->pos++;
        if (lex_value(sc, depth))
            return sc->rc;
        skip_ws(sc);
        if (sc->pos < sc->len && sc->s[sc->pos] == ',') {
            sc->pos++;
            skip_ws(sc);
            continue;
        }
        if (sc->pos < sc->len && sc->s[sc->pos] == '}')
            break;
        return decline(sc);
    }
    sc->pos++;
    sc->t[idx].n = (uint32_t)k;
    sc->t[idx].end = (uint32_t)sc->n;
    return 0;
}

static int lex_arr(struct scan *sc, size_t depth)
{
    size_t idx, k = 0;

    if (tok_new(sc, T_ARR, &idx))
        return sc->rc;
    sc->pos++;
    skip_ws(sc);
    if (sc->pos < sc->len && sc->s[sc->pos] == ']') {
        sc->pos++;
        sc->t[idx].end = (uint32_t)sc->n;
        return 0;
    }
    for (;;) {
        if (lex_value(sc, depth))
            return sc->rc;
        k++;
        skip_ws(sc);
        if (sc->pos < sc->len && sc->s[sc->pos] == ',') {
            sc->pos++;
            continue;
        }
        if (sc->pos < sc->len && sc->s[sc->pos] == ']')
            break;
        return decline(sc);
    }
    sc->pos++;
    sc->t[idx].n = (uint32_t)k;
    sc->t[idx].end = (uint32_t)sc->n;
    return 0;
}

/* depth: containers around this value (the top value has 0). */
static int lex_value(struct scan *sc, size_t depth)
{
    char c;

    skip_ws(sc);
    if (sc->pos >= sc->len)
        return decline(sc);
    c = sc->s[sc->pos];
    if (c == '{' || c == '[') {
        /* sg_json_depth counts this container as level depth + 1. */
        if (depth + 1 > DEPTH_CAP ||
            (sc->depth_max && depth + 1 > sc->depth_max))
            return decline(sc);
        return c == '{' ? lex_obj(sc, depth + 1) : lex_arr(sc, depth + 1);
    }
    if (c == '"')
        return lex_str(sc);
    if (c == '-' || is_digit(c))
        return lex_num(sc);
    if (c == 't')
        return lex_lit(sc, "true", T_TRUE);
    if (c == 'f')
        return lex_lit(sc, "false", T_FALSE);
    if (c == 'n')
        return lex_lit(sc, "null", T_NULL);
    return decline(sc);
}

/* ---- reading tokens ---- */

/* The value of member key of object obj, or SIZE_MAX. */
static inline size_t member(const struct scan *sc, size_t obj, const char *key)
{
    size_t klen = strlen(key), i = obj + 1;

    if (sc->t[obj].type != T_OBJ)
        return SIZE_MAX;
    for (uint32_t m = 0; m < sc->t[obj].n; m++) {
        if (sc->t[i].len == klen && sc->s[sc->t[i].start] == key[0] &&
            memcmp(sc->s + sc->t[i].start, key, klen) == 0)
            return i + 1;
        i = sc->t[i + 1].end;
    }
    return SIZE_MAX;
}

/* The value after v in its array. */
static size_t next_value(const struct scan *sc, size_t v)
{
    return sc->t[v].end;
}

static const char *str_of(const struct scan *sc, size_t v)
{
    return sc->s + sc->t[v].start;
}

static int64_t int_of(const struct scan *sc, size_t v)
{
    char buf[NUM_LEN_MAX + 1];

    memcpy(buf, str_of(sc, v), sc->t[v].len);
    buf[sc->t[v].len] = '\0';
    return (int64_t)strtoll(buf, NULL, 10);
}

/*
 * What jw_real writes for the real whose text is s[0..n), straight from
 * the text when it can: with at most 15 significant digits (DBL_DIG) the
 * double reads back to the same decimal, so jw_real's %.15g prints these
 * digits, trailing fraction zeros dropped, in fixed notation while the
 * decimal exponent is in -4..14 (then ".0" when no fraction is left).
 * Anything else goes through strtod and jw_real itself.
 */
static void put_real(struct sg_events_jw *w, const char *s, size_t n)
{
    size_t i = 0, ib, ie, fb, fe, lead = 0, sig;
    char out[NUM_LEN_MAX + 4];
    size_t o = 0;
    long x;

    if (s[0] == '-')
        out[o++] = s[i++];
    ib = i;
    while (i < n && s[i] != '.')
        i++;
    ie = i;
    fb = i < n ? i + 1 : n;
    fe = n;
    while (fe > fb && s[fe - 1] == '0')
        fe--;
    if (ie - ib == 1 && s[ib] == '0') {
        while (fb + lead < fe && s[fb + lead] == '0')
            lead++;
        sig = fe - fb - lead;
        x = sig ? -(long)lead - 1 : 0;
    } else {
        sig = (ie - ib) + (fe - fb);
        x = (long)(ie - ib) - 1;
    }
    if (sig > 15 || x < -4 || x > 14) {
        char buf[NUM_LEN_MAX + 1];

        memcpy(buf, s, n);
        buf[n] = '\0';
        jw_real(w, strtod(buf, NULL));
        return;
    }
    memcpy(out + o, s + ib, ie - ib);
    o += ie - ib;
    if (fe > fb) {
        out[o++] = '.';
        memcpy(out + o, s + fb, fe - fb);
        o += fe - fb;
    } else {
        out[o++] = '.';
        out[o++] = '0';
    }
    jw_raw(w, out, o);
}

/* A number as jansson keeps it: integer, or real as jw_real writes it. */
static void put_number(struct sg_events_jw *w, const struct scan *sc, size_t v)
{
    if (sc->t[v].type == T_INT)
        jw_int(w, int_of(sc, v));
    else
        put_real(w, str_of(sc, v), sc->t[v].len);
}

static bool is_num(const struct scan *sc, size_t v)
{
    return sc->t[v].type == T_INT || sc->t[v].type == T_REAL;
}

/* ---- one event (mirrors prepare.c; SLOW = leave it to that) ---- */

#define SLOW 1

static int copy_str(struct sg_events_jw *w, bool *any, const struct scan *sc,
                    size_t obj, const char *key)
{
    size_t v = member(sc, obj, key);

    if (v == SIZE_MAX)
        return 0;
    if (sc->t[v].type != T_STR || sc->t[v].len > STR_MAX)
        return SLOW;
    jw_key(w, any, key);
    jw_str(w, str_of(sc, v), sc->t[v].len);
    return 0;
}

static int hash_member(struct sg_events_jw *w, bool *any, const struct scan *sc,
                       size_t user, const char *key, int field)
{
    size_t v = member(sc, user, key), e;
    char hex[65];

    if (v == SIZE_MAX)
        return 0;
    if (sc->t[v].type == T_STR) {
        if (sg_events_digest_with(w->sha, field, str_of(sc, v), sc->t[v].len,
                                  hex) != 0)
            return SLOW;
        jw_key(w, any, key);
        jw_str(w, hex, 64);
        return 0;
    }
    if (sc->t[v].type != T_ARR || sc->t[v].n == 0 || sc->t[v].n > IDS_MAX)
        return SLOW;
    jw_key(w, any, key);
    jw_raw(w, "[", 1);
    e = v + 1;
    for (uint32_t i = 0; i < sc->t[v].n; i++, e = next_value(sc, e)) {
        if (sc->t[e].type != T_STR ||
            sg_events_digest_with(w->sha, field, str_of(sc, e), sc->t[e].len,
                                  hex) != 0)
            return SLOW;
        if (i)
            jw_raw(w, ",", 1);
        jw_str(w, hex, 64);
    }
    jw_raw(w, "]", 1);
    return 0;
}

static int place_member(struct sg_events_jw *w, bool *any,
                        const struct scan *sc, size_t user, const char *key)
{
    size_t v = member(sc, user, key);
    char buf[128];
    int n;

    if (v == SIZE_MAX)
        return 0;
    if (sc->t[v].type != T_STR ||
        (n = sg_events_normalize_place(str_of(sc, v), sc->t[v].len, buf,
                                       sizeof(buf))) < 0)
        return SLOW;
    jw_key(w, any, key);
    jw_str(w, buf, (size_t)n);
    return 0;
}

static int build_user(struct sg_events_jw *w, bool *any, const struct scan *sc,
                      size_t user)
{
    static const struct {
        const char *key;
        int field;
    } hashed[] = {
        {"email", SG_EVENTS_F_EMAIL},
        {"phone", SG_EVENTS_F_PHONE},
        {"external_id", SG_EVENTS_F_EXTERNAL_ID},
        {"first_name", SG_EVENTS_F_NAME},
        {"last_name", SG_EVENTS_F_NAME},
        {"zip_code", SG_EVENTS_F_ZIP},
    };
    static const char *const plain[] = {"ttclid", "ttp", "ip", "user_agent",
                                        "locale"};
    static const char *const places[] = {"city", "state", "country"};
    bool inner;
    size_t mark;
    int rc = 0;

    if (sc->t[user].type != T_OBJ)
        return SLOW;
    mark = obj_open(w, any, "user", &inner);
    for (size_t i = 0; !rc && i < SG_ARRAY_SIZE(hashed); i++)
        rc = hash_member(w, &inner, sc, user, hashed[i].key, hashed[i].field);
    for (size_t i = 0; !rc && i < SG_ARRAY_SIZE(plain); i++)
        rc = copy_str(w, &inner, sc, user, plain[i]);
    for (size_t i = 0; !rc && i < SG_ARRAY_SIZE(places); i++)
        rc = place_member(w, &inner, sc, user, places[i]);
    if (!rc)
        obj_close(w, any, mark, inner);
    return rc;
}

static int build_contents(struct sg_events_jw *w, bool *any,
                          const struct scan *sc, size_t arr)
{
    static const char *const strs[] = {"content_id", "content_name",
                                       "content_category", "content_type",
                                       "brand"};
    size_t c = arr + 1;
    int rc = 0;

    if (sc->t[arr].type != T_ARR || sc->t[arr].n > CONTENTS_MAX)
        return SLOW;
    jw_key(w, any, "contents");
    jw_raw(w, "[", 1);
    for (uint32_t i = 0; i < sc->t[arr].n; i++, c = next_value(sc, c)) {
        size_t p, q;
        bool inner = false;

        if (sc->t[c].type != T_OBJ)
            return SLOW;
        jw_raw(w, i ? ",{" : "{", i ? 2 : 1);
        for (size_t k = 0; !rc && k < SG_ARRAY_SIZE(strs); k++)
            rc = copy_str(w, &inner, sc, c, strs[k]);
        if (rc)
            return rc;
        p = member(sc, c, "price");
        if (p != SIZE_MAX) {
            if (!is_num(sc, p))
                return SLOW;
            jw_key(w, &inner, "price");
            put_number(w, sc, p);
        }
        q = member(sc, c, "quantity");
        if (q != SIZE_MAX) {
            if (sc->t[q].type != T_INT)
                return SLOW;
            jw_key(w, &inner, "quantity");
            jw_int(w, int_of(sc, q));
        }
        jw_raw(w, "}", 1);
    }
    jw_raw(w, "]", 1);
    return 0;
}

/* value: a number, or a string holding a finite decimal number. */
static int put_value(struct sg_events_jw *w, bool *any, const struct scan *sc,
                     size_t v)
{
    char buf[32], *end;
    double d;
    size_t n = sc->t[v].len;

    if (is_num(sc, v)) {
        jw_key(w, any, "value");
        put_number(w, sc, v);
        return 0;
    }
    if (sc->t[v].type != T_STR || n == 0 || n >= sizeof(buf))
        return SLOW;
    memcpy(buf, str_of(sc, v), n);
    buf[n] = '\0';
    errno = 0;
    d = strtod(buf, &end);
    if (errno || *end != '\0' || !isfinite(d))
        return SLOW;
    jw_key(w, any, "value");
    jw_real(w, d);
    return 0;
}

static int put_content_ids(struct sg_events_jw *w, bool *any,
                           const struct scan *sc, size_t ids)
{
    size_t e = ids + 1;

    if (sc->t[ids].type != T_ARR || sc->t[ids].n > CONTENTS_MAX)
        return SLOW;
    for (uint32_t i = 0; i < sc->t[ids].n; i++, e = next_value(sc, e))
        if (sc->t[e].type != T_STR || sc->t[e].len > 256)
            return SLOW;
    jw_key(w, any, "content_ids");
    jw_raw(w, "[", 1);
    e = ids + 1;
    for (uint32_t i = 0; i < sc->t[ids].n; i++, e = next_value(sc, e)) {
        if (i)
            jw_raw(w, ",", 1);
        jw_str(w, str_of(sc, e), sc->t[e].len);
    }
    jw_raw(w, "]", 1);
    return 0;
}

static int build_properties(struct sg_events_jw *w, bool *any,
                            const struct scan *sc, size_t in)
{
    static const char *const strs[] = {"content_type", "order_id",
                                       "shop_id",      "query",
                                       "description",  "search_string"};
    size_t cur, val, n, ids, contents, mark;
    bool inner;
    int rc = 0;

    if (sc->t[in].type != T_OBJ)
        return SLOW;
    cur = member(sc, in, "currency");
    val = member(sc, in, "value");
    n = member(sc, in, "num_items");
    ids = member(sc, in, "content_ids");
    contents = member(sc, in, "contents");
    /* A null anywhere here: the full path knows what it means. */
    if ((cur != SIZE_MAX && sc->t[cur].type == T_NULL) ||
        (val != SIZE_MAX && sc->t[val].type == T_NULL) ||
        (n != SIZE_MAX && sc->t[n].type == T_NULL) ||
        (ids != SIZE_MAX && sc->t[ids].type == T_NULL) ||
        (contents != SIZE_MAX && sc->t[contents].type == T_NULL))
        return SLOW;
    mark = obj_open(w, any, "properties", &inner);
    for (size_t i = 0; !rc && i < SG_ARRAY_SIZE(strs); i++)
        rc = copy_str(w, &inner, sc, in, strs[i]);
    if (!rc && contents != SIZE_MAX)
        rc = build_contents(w, &inner, sc, contents);
    if (rc)
        return rc;
    if (cur != SIZE_MAX) {
        char code[4];

        if (sc->t[cur].type != T_STR || sc->t[cur].len != 3)
            return SLOW;
        memcpy(code, str_of(sc, cur), 3);
        code[3] = '\0';
        if (!sg_events_is_currency(code))
            return SLOW;
        jw_key(w, &inner, "currency");
        jw_str(w, code, 3);
    }
    if (val != SIZE_MAX) {
        if (cur == SIZE_MAX)
            return SLOW; /* a value needs a currency */
        rc = put_value(w, &inner, sc, val);
        if (rc)
            return rc;
    }
    if (n != SIZE_MAX) {
        if (sc->t[n].type != T_INT)
            return SLOW;
        jw_key(w, &inner, "num_items");
        jw_int(w, int_of(sc, n));
    }
    if (ids != SIZE_MAX) {
        rc = put_content_ids(w, &inner, sc, ids);
        if (rc)
            return rc;
    }
    obj_close(w, any, mark, inner);
    return 0;
}

static int build_simple_obj(struct sg_events_jw *w, bool *any,
                            const struct scan *sc, size_t in, const char *name,
                            const char *const *keys, size_t n)
{
    bool inner;
    size_t mark;
    int rc = 0;

    if (sc->t[in].type != T_OBJ)
        return SLOW;
    mark = obj_open(w, any, name, &inner);
    for (size_t i = 0; !rc && i < n; i++)
        rc = copy_str(w, &inner, sc, in, keys[i]);
    if (!rc)
        obj_close(w, any, mark, inner);
    return rc;
}

/* 1..max bytes; the tokenizer already let only printable ASCII in. */
static bool printable_len(size_t n, size_t max)
{
    return n > 0 && n <= max;
}

static int check_head(struct sg_events_item *it, const struct scan *sc,
                      size_t ev, int default_source,
                      const struct sg_events_cfg *cfg, int64_t now_ms)
{
    size_t name = member(sc, ev, "event"), src = member(sc, ev, "event_source");
    size_t id = member(sc, ev, "event_id"), tm = member(sc, ev, "event_time");
    int64_t now_s = now_ms / 1000, t;
    const char *sid;

    it->source = default_source;
    if (src != SIZE_MAX) {
        it->source = -1;
        for (int s = 0; sc->t[src].type == T_STR && s < SG_EVENTS_SOURCES;
             s++) {
            const char *nm = sg_events_source_name(s);

            if (strlen(nm) == sc->t[src].len &&
                memcmp(nm, str_of(sc, src), sc->t[src].len) == 0)
                it->source = s;
        }
        if (it->source < 0)
            return SLOW;
    }
    sid = cfg->source_ids[it->source];
    if (!sid || !*sid || name == SIZE_MAX || sc->t[name].type != T_STR ||
        !printable_len(sc->t[name].len, SG_EVENTS_NAME_MAX))
        return SLOW;
    memcpy(it->event, str_of(sc, name), sc->t[name].len);
    it->event[sc->t[name].len] = '\0';
    if (!sg_events_is_standard(it->event) &&
        !sg_events__custom_allowed(cfg->custom_events, it->event))
        return SLOW;
    /* No event_id (a generated one) or a null one: the full path. */
    if (id == SIZE_MAX || sc->t[id].type != T_STR ||
        !printable_len(sc->t[id].len, SG_EVENTS_ID_MAX))
        return SLOW;
    memcpy(it->event_id, str_of(sc, id), sc->t[id].len);
    it->event_id[sc->t[id].len] = '\0';
    if (tm == SIZE_MAX) {
        it->event_time = now_s;
        return 0;
    }
    if (sc->t[tm].type != T_INT || (t = int_of(sc, tm)) <= 0)
        return SLOW;
    if (t > 100000000000LL)
        t /= 1000; /* milliseconds given; TikTok wants seconds */
    if (t > now_s + SG_EVENTS_FUTURE_SKEW_S ||
        (cfg->max_event_age_s > 0 && t < now_s - cfg->max_event_age_s))
        return SLOW;
    it->event_time = t;
    return 0;
}

static int scan_event(struct sg_events_item *out, struct sg_buf *b,
                      struct sg_events_sha *sha, const struct scan *sc,
                      size_t ev, int default_source,
                      const struct sg_events_cfg *cfg, int64_t now_ms)
{
    static const char *const page_keys[] = {"url", "referrer"};
    static const char *const lead_keys[] = {"lead_id", "lead_event_source"};
    struct sg_events_jw w = {.b = b, .sha = sha, .rc = 0};
    size_t start = b->len, user, props, page, lead, ldu;
    bool any = true; /* event, event_time and event_id always lead */
    int rc;

    memset(out, 0, sizeof(*out));
    if (sc->t[ev].type != T_OBJ)
        return SLOW;
    user = member(sc, ev, "user");
    props = member(sc, ev, "properties");
    page = member(sc, ev, "page");
    lead = member(sc, ev, "lead");
    ldu = member(sc, ev, "limited_data_use");
    rc = check_head(out, sc, ev, default_source, cfg, now_ms);
    if (rc)
        goto out;
    jw_raw(&w, "{\"event\":", 9);
    jw_str(&w, out->event, strlen(out->event));
    jw_raw(&w, ",\"event_time\":", 14);
    jw_int(&w, out->event_time);
    jw_raw(&w, ",\"event_id\":", 12);
    jw_str(&w, out->event_id, strlen(out->event_id));
    if (user != SIZE_MAX)
        rc = build_user(&w, &any, sc, user);
    if (!rc && props != SIZE_MAX)
        rc = build_properties(&w, &any, sc, props);
    if (!rc && page != SIZE_MAX)
        rc = build_simple_obj(&w, &any, sc, page, "page", page_keys,
                              SG_ARRAY_SIZE(page_keys));
    if (!rc && lead != SIZE_MAX && out->source == SG_EVENTS_CRM)
        rc = build_simple_obj(&w, &any, sc, lead, "lead", lead_keys,
                              SG_ARRAY_SIZE(lead_keys));
    if (!rc && ldu != SIZE_MAX) {
        if (sc->t[ldu].type != T_TRUE && sc->t[ldu].type != T_FALSE) {
            rc = SLOW;
        } else {
            jw_key(&w, &any, "limited_data_use");
            if (sc->t[ldu].type == T_TRUE)
                jw_raw(&w, "true", 4);
            else
                jw_raw(&w, "false", 5);
        }
    }
    jw_raw(&w, "}", 1);
    if (!rc && w.rc)
        rc = w.rc == SG_ELIMIT ? SG_ELIMIT : SG_ENOMEM;
    if (!rc) {
        out->body_off = start;
        out->body_len = b->len - start;
    }
out:
    if (rc) {
        jw_cut(&w, start);
        memset(out, 0, sizeof(*out));
    }
    return rc;
}

/* ---- a whole request ---- */

int sg_events_scan_prepare(struct sg_events_item **items_out, bool **slow_out,
                           size_t max, size_t *n_out, int *default_source_out,
                           struct sg_buf *b, struct sg_events_sha *sha,
                           const char *body, size_t len, size_t depth_max,
                           const struct sg_events_cfg *cfg, int64_t now_ms)
{
    struct scan sc = {.s = body, .len = len, .depth_max = depth_max};
    struct sg_events_item *items = NULL;
    bool *slow = NULL;
    size_t list, ev, mark = b->len;
    int def = SG_EVENTS_WEB, rc;

    *items_out = NULL;
    *slow_out = NULL;
    *n_out = 0;
    *default_source_out = SG_EVENTS_WEB;
    if (!body || len == 0 || len > UINT32_MAX - 64)
        return SG_EDECLINED;
    rc = lex_value(&sc, 0);
    skip_ws(&sc);
    if (!rc && sc.pos != sc.len)
        rc = SG_EDECLINED; /* trailing bytes: jansson says where */
    if (rc)
        goto out;
    /* [events...] or {"events": [...], "event_source": ...}. */
    list = 0;
    if (sc.t[0].type == T_OBJ) {
        size_t src = member(&sc, 0, "event_source");

        list = member(&sc, 0, "events");
        if (list == SIZE_MAX || sc.t[list].type != T_ARR) {
            rc = SG_EDECLINED; /* one event, or not an intake body */
            goto out;
        }
        if (sc.t[0].n != 1u + (src != SIZE_MAX)) {
            rc = SG_EDECLINED; /* a member the API refuses: it says which */
            goto out;
        }
        if (src != SIZE_MAX) {
            def = -1;
            for (int s = 0; sc.t[src].type == T_STR && s < SG_EVENTS_SOURCES;
                 s++) {
                const char *nm = sg_events_source_name(s);

                if (strlen(nm) == sc.t[src].len &&
                    memcmp(nm, str_of(&sc, src), sc.t[src].len) == 0)
                    def = s;
            }
            if (def < 0) {
                rc = SG_EDECLINED; /* the full path answers it */
                goto out;
            }
        }
    } else if (sc.t[0].type != T_ARR) {
        rc = SG_EDECLINED;
        goto out;
    }
    if (sc.t[list].n == 0 || sc.t[list].n > max) {
        rc = SG_EDECLINED;
        goto out;
    }
    /* Sized by the request: a one-event call allocates for one. */
    items = sg_calloc(sc.t[list].n, sizeof(*items));
    slow = sg_calloc(sc.t[list].n, sizeof(*slow));
    if (!items || !slow) {
        rc = SG_ENOMEM;
        goto out;
    }
    ev = list + 1;
    for (uint32_t i = 0; i < sc.t[list].n; i++, ev = next_value(&sc, ev)) {
        rc = scan_event(&items[i], b, sha, &sc, ev, def, cfg, now_ms);
        slow[i] = rc == SLOW;
        if (rc == SLOW)
            rc = 0;
        if (rc)
            goto out;
    }
    *n_out = sc.t[list].n;
    *default_source_out = def;
    *items_out = items;
    *slow_out = slow;
out:
    if (rc) {
        if (b->len > mark) {
            b->len = mark;
            b->data[mark] = '\0';
        }
        sg_free(items);
        sg_free(slow);
    }
    sg_free(sc.t);
    return rc;
}
