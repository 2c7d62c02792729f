/*
 * json.c - bounded JSON parsing. The depth pre-scan is linear and keeps no
 * state beyond a counter, so a hostile "[[[[..." cannot make jansson
 * recurse deeply.
 */
#include "json.h"
#include "alloc.h"
#include "buf.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

/*
 * jansson allocates through sg_alloc, so the torture hook reaches it, and
 * every failed allocation is counted per thread. jansson 2.14's string
 * reader can drop a byte and still succeed when an allocation fails, and
 * json_object_set_new() and friends report a failure only through a
 * return value that building code rarely checks; both were found by the
 * allocation-failure sweep. So a parse that saw a failure is SG_ENOMEM
 * whatever jansson returned, and builders compare the count before and
 * after (sg_json_built).
 */
static _Thread_local unsigned long json_alloc_failures;
/*
 * What sg_json_loadb does when an allocation of its parse fails. jansson
 * 2.14's lexer does not check the growth of its token buffer, so a
 * failure there does two kinds of harm:
 *  - in a number or a keyword, the next character it puts back is checked
 *    against the buffer's last byte (assert in lex_unget_unsave), which
 *    the failed append did not write: the process aborts;
 *  - in a string, the buffer that lost a byte is decoded later, and an
 *    escape that no longer makes sense stops on assert(0).
 * Both were found by the D5 sweep. So jansson never sees the first
 * failure: from then on the parse is served from a per-thread reserve
 * (LOAD_RESERVE bytes, set aside before the parse) and its input ends at
 * the end of the chunk it is reading (LOAD_CHUNK bytes), so the parse
 * soon stops at that early end; the result is discarded and the caller
 * told it ran out of memory. Only when the reserve cannot serve a request
 * (a single token longer than about half of it) does every later
 * allocation fail, which still ends a string cleanly: the allocation for
 * the decoded string comes before the decoding.
 */
enum load_state { LOAD_NONE, LOAD_OK, LOAD_RESERVE, LOAD_DEAD };
static _Thread_local enum load_state json_load;
#define LOAD_CHUNK   256
#define LOAD_RESERVE ((size_t)64 << 10)
static pthread_once_t json_once = PTHREAD_ONCE_INIT;

/*
 * The calling thread's parse arena (sg_json_parse_arena): blocks that a
 * tree's nodes are carved from while parsing, with no per-node malloc or
 * free. A node's memory is released all at once when the tree is, by
 * sg_json_arena_free on the same thread. json_release leaves any pointer
 * inside a block alone; nodes added to such a tree later come from the
 * heap and are freed as usual.
 */
#define ARENA_BLOCKS    16
#define ARENA_BLOCK_MIN ((size_t)1 << 20)
#define ARENA_KEEP      ((size_t)16 << 20) /* bytes kept between trees */

struct arena {
    char *block[ARENA_BLOCKS];
    size_t size[ARENA_BLOCKS];
    size_t n;    /* blocks in use */
    size_t used; /* bytes used in block[n - 1] */
    bool on;     /* json_alloc carves from here */
    bool live;   /* a tree lives in it */
    json_t *root; /* that tree */
    char *reserve;       /* LOAD_RESERVE bytes for a failing parse */
    size_t reserve_used;
};

static _Thread_local struct arena json_arena;
static pthread_key_t arena_key;

/* At a thread's exit: free the blocks its arena kept. */
static void arena_destroy(void *v)
{
    struct arena *a = v;

    for (size_t i = 0; i < ARENA_BLOCKS; i++) {
        sg_free(a->block[i]);
        a->block[i] = NULL;
    }
    a->n = 0;
    sg_free(a->reserve);
    a->reserve = NULL;
}

static void *arena_carve(struct arena *a, size_t size)
{
    size_t need = (size + 15) & ~(size_t)15, bsize;
    char *b;

    if (a->n && a->used + need <= a->size[a->n - 1]) {
        void *p = a->block[a->n - 1] + a->used;

        a->used += need;
        return p;
    }
    /* A kept block past the current one is reused before a new one. */
    if (a->n < ARENA_BLOCKS && a->block[a->n] && need <= a->size[a->n]) {
        a->n++;
        a->used = need;
        return a->block[a->n - 1];
    }
    if (a->n >= ARENA_BLOCKS)
        return NULL; /* the caller falls back to the heap */
    if (a->block[a->n])
        return NULL;
    bsize = a->n ? a->size[a->n - 1] * 2 : ARENA_BLOCK_MIN;
    while (bsize < need)
        bsize *= 2;
    b = sg_alloc(bsize);
    if (!b)
        return NULL;
    if (a->n == 0) /* the thread's first block: free them at its exit */
        (void)pthread_setspecific(arena_key, a);
    a->block[a->n] = b;
    a->size[a->n] = bsize;
    a->n++;
    a->used = need;
    return b;
}

/* Bytes from the reserve of a parse that ran out of memory; NULL when
 * it cannot hold size more. */
static void *reserve_carve(struct arena *a, size_t size)
{
    size_t need = (size + 15) & ~(size_t)15;
    void *p;

    if (!a->reserve || need > LOAD_RESERVE - a->reserve_used)
        return NULL;
    p = a->reserve + a->reserve_used;
    a->reserve_used += need;
    return p;
}

static bool reserve_owns(const struct arena *a, const void *p)
{
    const char *c = p;

    return a->reserve && c >= a->reserve && c < a->reserve + LOAD_RESERVE;
}

static bool arena_owns(const struct arena *a, const void *p)
{
    const char *c = p;

    for (size_t i = 0; i < a->n; i++)
        if (c >= a->block[i] && c < a->block[i] + a->size[i])
            return true;
    return false;
}

static void *json_alloc(size_t size)
{
    void *p = NULL;

    if (json_load == LOAD_DEAD)
        return NULL; /* the rest of a parse the reserve could not serve */
    if (json_load == LOAD_RESERVE) {
        p = reserve_carve(&json_arena, size);
        if (!p)
            json_load = LOAD_DEAD;
        return p;
    }
    if (json_arena.on)
        p = arena_carve(&json_arena, size);
    if (!p)
        p = sg_alloc(size);
    if (!p) {
        json_alloc_failures++;
        if (json_load == LOAD_OK) {
            json_load = LOAD_RESERVE;
            p = reserve_carve(&json_arena, size);
            if (!p)
                json_load = LOAD_DEAD;
        }
    }
    return p;
}

static void json_release(void *p)
{
    if (json_arena.reserve && reserve_owns(&json_arena, p))
        return;
    if (json_arena.live && arena_owns(&json_arena, p))
        return;
    sg_free(p);
}

static void json_setup(void)
{
    (void)pthread_key_create(&arena_key, arena_destroy);
    json_set_alloc_funcs(json_alloc, json_release);
}

void sg_json_init(void)
{
    pthread_once(&json_once, json_setup);
}

struct load_input {
    const char *data;
    size_t len, pos;
};

/* jansson's reader: LOAD_CHUNK bytes at a time, none once the parse has
 * run out of memory. */
static size_t load_read(void *buf, size_t cap, void *arg)
{
    struct load_input *in = arg;
    size_t n = in->len - in->pos;

    if (json_load != LOAD_OK)
        return 0;
    if (n > cap)
        n = cap;
    if (n > LOAD_CHUNK)
        n = LOAD_CHUNK;
    memcpy(buf, in->data + in->pos, n);
    in->pos += n;
    return n;
}

json_t *sg_json_loadb(const char *data, size_t len, size_t flags,
                      json_error_t *jerr, bool *oom_out)
{
    struct load_input in = {data, len, 0};
    struct arena *a = &json_arena;
    unsigned long mark;
    json_t *j = NULL;

    sg_json_init();
    mark = json_alloc_failures;
    if (!a->reserve) {
        a->reserve = sg_alloc(LOAD_RESERVE);
        if (!a->reserve) {
            json_alloc_failures++;
            if (jerr)
                jerr->text[0] = '\0';
            goto out;
        }
        (void)pthread_setspecific(arena_key, a);
    }
    if (!data) {
        in.data = "";
        in.len = 0;
    }
    a->reserve_used = 0;
    json_load = LOAD_OK;
    j = json_load_callback(load_read, &in, flags, jerr);
    json_load = LOAD_NONE;
out:
    if (oom_out)
        *oom_out = json_alloc_failures != mark;
    return sg_json_built(j, mark);
}

json_t *sg_json_loads(const char *s, size_t flags, bool *oom_out)
{
    return sg_json_loadb(s, s ? strlen(s) : 0, flags, NULL, oom_out);
}

json_t *sg_json_loadf(FILE *f, size_t flags, json_error_t *jerr,
                      bool *oom_out)
{
    struct sg_buf b;
    char chunk[8192];
    size_t n;
    json_t *j = NULL;

    if (oom_out)
        *oom_out = false;
    sg_buf_init(&b, SIZE_MAX / 2); /* the file is the limit */
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        if (sg_buf_append(&b, chunk, n) != 0) {
            if (oom_out)
                *oom_out = true;
            if (jerr)
                snprintf(jerr->text, sizeof(jerr->text), "out of memory");
            goto out;
        }
    if (ferror(f)) {
        if (jerr)
            snprintf(jerr->text, sizeof(jerr->text), "unable to read: %s",
                     strerror(errno));
        goto out;
    }
    j = sg_json_loadb(b.len ? b.data : "", b.len, flags, jerr, oom_out);
out:
    sg_buf_release(&b);
    return j;
}

json_t *sg_json_load_path(const char *path, size_t flags, json_error_t *jerr,
                          bool *oom_out)
{
    FILE *f = fopen(path, "rb");
    json_t *j;

    if (!f) {
        if (oom_out)
            *oom_out = false;
        if (jerr) {
            jerr->line = -1;
            snprintf(jerr->text, sizeof(jerr->text), "unable to open %s: %s",
                     path, strerror(errno));
        }
        return NULL;
    }
    j = sg_json_loadf(f, flags, jerr, oom_out);
    fclose(f);
    return j;
}

unsigned long sg_json_alloc_failures(void)
{
    return json_alloc_failures;
}

json_t *sg_json_built(json_t *j, unsigned long mark)
{
    if (json_alloc_failures == mark)
        return j;
    json_decref(j);
    return NULL;
}

size_t sg_json_depth(const char *data, size_t len)
{
    size_t depth = 0, max = 0;
    bool in_str = false;

    for (size_t i = 0; i < len; i++) {
        char c = data[i];

        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = false;
            continue;
        }
        if (c == '"') {
            in_str = true;
        } else if (c == '[' || c == '{') {
            if (++depth > max)
                max = depth;
        } else if ((c == ']' || c == '}') && depth > 0) {
            depth--;
        }
    }
    return max;
}

int sg_json_parse(json_t **out, const char *data, size_t len,
                  size_t depth_max, size_t *offset_out, struct sg_err *err)
{
    json_error_t jerr;
    bool oom;
    json_t *j;

    *out = NULL;
    if (offset_out)
        *offset_out = 0;
    sg_json_init();
    if (depth_max && sg_json_depth(data, len) > depth_max)
        return sg_err_set(err, SG_ELIMIT,
                          "JSON nesting deeper than %zu levels", depth_max);
    j = sg_json_loadb(data, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL,
                      &jerr, &oom);
    if (oom)
        return sg_err_set(err, SG_ENOMEM, "out of memory parsing JSON");
    if (!j) {
        /* jansson counts the bytes it consumed; report the 0-based offset
         * of the last one, where parsing failed. */
        size_t off = jerr.position > 0 ? (size_t)jerr.position - 1 : 0;

        if (offset_out)
            *offset_out = off;
        return sg_err_set(err, SG_EINVAL, "%s at byte %zu", jerr.text, off);
    }
    *out = j;
    return 0;
}

/* Drop the arena's tree: keep up to ARENA_KEEP bytes of blocks. */
static void arena_reset(struct arena *a)
{
    size_t kept = 0;

    a->live = false;
    a->root = NULL;
    for (size_t i = 0; i < ARENA_BLOCKS && a->block[i]; i++) {
        if (kept + a->size[i] <= ARENA_KEEP) {
            kept += a->size[i];
            continue;
        }
        /* Past what is kept: later blocks go too (kept ones stay dense). */
        for (size_t k = i; k < ARENA_BLOCKS && a->block[k]; k++) {
            sg_free(a->block[k]);
            a->block[k] = NULL;
            a->size[k] = 0;
        }
        break;
    }
    a->n = 0;
    a->used = 0;
}

int sg_json_parse_arena(json_t **out, const char *data, size_t len,
                        size_t depth_max, size_t *offset_out,
                        struct sg_err *err)
{
    struct arena *a = &json_arena;
    int rc;

    if (a->live) /* one tree at a time: this one takes the heap */
        return sg_json_parse(out, data, len, depth_max, offset_out, err);
    a->on = true;
    a->live = true;
    a->root = NULL;
    rc = sg_json_parse(out, data, len, depth_max, offset_out, err);
    a->on = false;
    if (rc)
        arena_reset(a); /* jansson freed what it had built */
    else
        a->root = *out;
    return rc;
}

/* ---- the pruned parse ---- */

#define PRUNE_DEPTH_MAX   32
#define PRUNE_MEMBERS_MAX 256
#define PRUNE_DIGITS_MAX  18 /* always fits a json_int_t */

struct prune {
    const char *s;
    size_t len, pos;
    int rc; /* 0, SG_EDECLINED or SG_ENOMEM */
};

static int prune_stop(struct prune *p, int rc)
{
    if (!p->rc)
        p->rc = rc;
    return p->rc;
}

static void prune_ws(struct prune *p)
{
    while (p->pos < p->len) {
        char c = p->s[p->pos];

        if (c != ' ' && c != '\n' && c != '\r' && c != '\t')
            break;
        p->pos++;
    }
}

/* A string of the subset: its bytes are s[*at .. *at + *n). */
static int prune_str(struct prune *p, size_t *at, size_t *n)
{
    size_t i = p->pos + 1;

    if (p->pos >= p->len || p->s[p->pos] != '"')
        return prune_stop(p, SG_EDECLINED);
    for (; i < p->len; i++) {
        unsigned char c = (unsigned char)p->s[i];

        if (c == '"')
            break;
        /* Escapes, control bytes and UTF-8: jansson's to judge. */
        if (c < 0x20 || c > 0x7e || c == '\\')
            return prune_stop(p, SG_EDECLINED);
    }
    if (i >= p->len)
        return prune_stop(p, SG_EDECLINED);
    *at = p->pos + 1;
    *n = i - *at;
    p->pos = i + 1;
    return 0;
}

/* An integer of the subset: -?(0|[1-9][0-9]*), at most 18 digits. */
static int prune_int(struct prune *p, json_int_t *v)
{
    size_t i = p->pos, d0;
    bool neg = false;
    json_int_t x = 0;

    if (i < p->len && p->s[i] == '-') {
        neg = true;
        i++;
    }
    d0 = i;
    /* Digits past the limit are only counted: 19 nines would overflow
     * (found by the json_pruned fuzz target). */
    for (; i < p->len && p->s[i] >= '0' && p->s[i] <= '9'; i++)
        if (i - d0 < PRUNE_DIGITS_MAX)
            x = x * 10 + (p->s[i] - '0');
    if (i == d0 || i - d0 > PRUNE_DIGITS_MAX ||
        (p->s[d0] == '0' && i - d0 > 1))
        return prune_stop(p, SG_EDECLINED);
    /* A fraction or an exponent (or junk): not this parser's subset. */
    if (i < p->len && (p->s[i] == '.' || p->s[i] == 'e' ||
                       p->s[i] == 'E' || p->s[i] == '-' || p->s[i] == '+'))
        return prune_stop(p, SG_EDECLINED);
    *v = neg ? -x : x;
    p->pos = i;
    return 0;
}

static bool prune_word(struct prune *p, const char *w, size_t n)
{
    if (p->len - p->pos < n || memcmp(p->s + p->pos, w, n) != 0)
        return false;
    p->pos += n;
    return true;
}

static uint32_t prune_hash(const char *s, size_t n)
{
    uint32_t h = 2166136261u;

    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

static int prune_value(struct prune *p, const struct sg_json_keep *keep,
                       bool build, size_t depth, json_t **out);

/*
 * An object. Every key is checked against the others (jansson's parse
 * rejects duplicates; so does this one, by declining); members keep
 * names are built into *out when build.
 */
static int prune_obj(struct prune *p, const struct sg_json_keep *keep,
                     bool build, size_t depth, json_t **out)
{
    /* Open addressing over the member keys: offsets + 1, 0 = empty. */
    uint32_t seen[PRUNE_MEMBERS_MAX * 2];
    uint16_t seen_len[PRUNE_MEMBERS_MAX * 2];
    size_t members = 0;
    json_t *obj = NULL;

    p->pos++; /* '{' */
    if (build) {
        obj = json_object();
        if (!obj)
            return prune_stop(p, SG_ENOMEM);
    }
    memset(seen, 0, sizeof(seen));
    prune_ws(p);
    if (p->pos < p->len && p->s[p->pos] == '}') {
        p->pos++;
        *out = obj;
        return 0;
    }
    for (;;) {
        const struct sg_json_keep *sub = NULL;
        bool take = build && !keep; /* no list: every member */
        size_t at, n, slot;
        json_t *v = NULL;

        if (prune_str(p, &at, &n) || n > UINT16_MAX ||
            ++members > PRUNE_MEMBERS_MAX) {
            prune_stop(p, SG_EDECLINED);
            break;
        }
        slot = prune_hash(p->s + at, n) & (PRUNE_MEMBERS_MAX * 2 - 1);
        while (seen[slot]) {
            if (seen_len[slot] == n &&
                memcmp(p->s + seen[slot] - 1, p->s + at, n) == 0)
                break;
            slot = (slot + 1) & (PRUNE_MEMBERS_MAX * 2 - 1);
        }
        if (seen[slot]) {
            prune_stop(p, SG_EDECLINED); /* a duplicate key */
            break;
        }
        seen[slot] = (uint32_t)at + 1;
        seen_len[slot] = (uint16_t)n;
        for (size_t i = 0; build && keep && keep[i].key; i++)
            if (strlen(keep[i].key) == n &&
                memcmp(keep[i].key, p->s + at, n) == 0) {
                take = true;
                sub = keep[i].members;
                break;
            }
        prune_ws(p);
        if (p->pos >= p->len || p->s[p->pos] != ':') {
            prune_stop(p, SG_EDECLINED);
            break;
        }
        p->pos++;
        prune_ws(p);
        if (prune_value(p, sub, take, depth + 1, &v))
            break;
        if (take && json_object_setn_new_nocheck(obj, p->s + at, n, v) != 0) {
            prune_stop(p, SG_ENOMEM);
            break;
        }
        prune_ws(p);
        if (p->pos < p->len && p->s[p->pos] == ',') {
            p->pos++;
            prune_ws(p);
            continue;
        }
        if (p->pos < p->len && p->s[p->pos] == '}') {
            p->pos++;
            *out = obj;
            return 0;
        }
        prune_stop(p, SG_EDECLINED);
        break;
    }
    json_decref(obj);
    return p->rc;
}

static int prune_arr(struct prune *p, const struct sg_json_keep *keep,
                     bool build, size_t depth, json_t **out)
{
    json_t *arr = NULL;

    p->pos++; /* '[' */
    if (build) {
        arr = json_array();
        if (!arr)
            return prune_stop(p, SG_ENOMEM);
    }
    prune_ws(p);
    if (p->pos < p->len && p->s[p->pos] == ']') {
        p->pos++;
        *out = arr;
        return 0;
    }
    for (;;) {
        json_t *v = NULL;

        if (prune_value(p, keep, build, depth + 1, &v))
            break;
        if (build && json_array_append_new(arr, v) != 0) {
            prune_stop(p, SG_ENOMEM);
            break;
        }
        prune_ws(p);
        if (p->pos < p->len && p->s[p->pos] == ',') {
            p->pos++;
            prune_ws(p);
            continue;
        }
        if (p->pos < p->len && p->s[p->pos] == ']') {
            p->pos++;
            *out = arr;
            return 0;
        }
        prune_stop(p, SG_EDECLINED);
        break;
    }
    json_decref(arr);
    return p->rc;
}

/*
 * One value at p->pos. build: make its node into *out (keep prunes the
 * objects inside; NULL keeps everything); else only check it.
 */
static int prune_value(struct prune *p, const struct sg_json_keep *keep,
                       bool build, size_t depth, json_t **out)
{
    json_t *v = NULL;
    char c;

    *out = NULL;
    if (depth > PRUNE_DEPTH_MAX || p->pos >= p->len)
        return prune_stop(p, SG_EDECLINED);
    c = p->s[p->pos];
    if (c == '{')
        return prune_obj(p, keep, build, depth, out);
    if (c == '[')
        return prune_arr(p, keep, build, depth, out);
    if (c == '"') {
        size_t at, n;

        if (prune_str(p, &at, &n))
            return p->rc;
        if (build && !(v = json_stringn_nocheck(p->s + at, n)))
            return prune_stop(p, SG_ENOMEM);
    } else if (c == '-' || (c >= '0' && c <= '9')) {
        json_int_t x;

        if (prune_int(p, &x))
            return p->rc;
        if (build && !(v = json_integer(x)))
            return prune_stop(p, SG_ENOMEM);
    } else if (prune_word(p, "true", 4)) {
        v = build ? json_true() : NULL;
    } else if (prune_word(p, "false", 5)) {
        v = build ? json_false() : NULL;
    } else if (prune_word(p, "null", 4)) {
        v = build ? json_null() : NULL;
    } else {
        return prune_stop(p, SG_EDECLINED);
    }
    *out = v;
    return 0;
}

int sg_json_parse_arena_pruned(json_t **out, const char *data, size_t len,
                               const struct sg_json_keep *keep)
{
    struct arena *a = &json_arena;
    struct prune p = {.s = data, .len = len};
    unsigned long mark;
    json_t *root = NULL;

    *out = NULL;
    if (!data || a->live)
        return SG_EDECLINED; /* the caller's parse takes the heap */
    sg_json_init();
    prune_ws(&p);
    /* Like sg_json_parse: the root is an object (or an array). */
    if (p.pos >= p.len || p.s[p.pos] != '{')
        return SG_EDECLINED;
    mark = json_alloc_failures;
    a->on = true;
    a->live = true;
    a->root = NULL;
    (void)prune_obj(&p, keep, true, 1, &root);
    a->on = false;
    if (!p.rc) {
        prune_ws(&p);
        if (p.pos != p.len)
            p.rc = SG_EDECLINED; /* trailing bytes */
    }
    if (!p.rc && json_alloc_failures != mark)
        p.rc = SG_ENOMEM;
    if (p.rc) {
        json_decref(root);
        arena_reset(a);
        return p.rc;
    }
    a->root = root;
    *out = root;
    return 0;
}

void sg_json_arena_free(json_t *j)
{
    struct arena *a = &json_arena;

    if (!j)
        return;
    if (!a->live || j != a->root) {
        json_decref(j); /* parsed on the heap */
        return;
    }
    /* Frees what was added on the heap; arena nodes are skipped. */
    json_decref(j);
    arena_reset(a);
}

json_t *sg_json_arena_keep(json_t *root, json_t *node)
{
    struct arena *a = &json_arena;

    if (!node) {
        sg_json_arena_free(root);
        return NULL;
    }
    json_incref(node);
    if (a->live && root && a->root == root)
        a->root = node; /* root's nodes stay carved until node is freed */
    json_decref(root);
    return node;
}

const char *sg_json_str(const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);

    return json_is_string(v) ? json_string_value(v) : NULL;
}

int64_t sg_json_int(const json_t *obj, const char *key, int64_t def)
{
    json_t *v = json_object_get(obj, key);

    return json_is_integer(v) ? (int64_t)json_integer_value(v) : def;
}

const char *sg_json_unknown_key(const json_t *obj, const char *const *known,
                                size_t n)
{
    const char *key;
    json_t *v;

    if (!json_is_object(obj))
        return NULL;
    json_object_foreach((json_t *)(uintptr_t)obj, key, v) {
        size_t i = 0;

        while (i < n && strcmp(known[i], key) != 0)
            i++;
        if (i == n)
            return key;
    }
    return NULL;
}

static bool field_type_ok(const json_t *v, unsigned int types)
{
    switch (json_typeof(v)) {
    case JSON_STRING:
        return types & SG_JF_STRING;
    case JSON_INTEGER:
        return types & (SG_JF_INTEGER | SG_JF_NUMBER);
    case JSON_REAL:
        return types & SG_JF_NUMBER;
    case JSON_TRUE:
    case JSON_FALSE:
        return types & SG_JF_BOOLEAN;
    case JSON_OBJECT:
        return types & SG_JF_OBJECT;
    case JSON_ARRAY:
        return types & SG_JF_ARRAY;
    case JSON_NULL:
        return types & SG_JF_NULL;
    }
    return false;
}

/* "a string, an integer or null" from the type bits. */
static void field_types_text(unsigned int types, char *out, size_t cap)
{
    static const struct {
        unsigned int bit;
        const char *text;
    } names[] = {
        {SG_JF_STRING, "a string"},   {SG_JF_INTEGER, "an integer"},
        {SG_JF_NUMBER, "a number"},   {SG_JF_BOOLEAN, "true or false"},
        {SG_JF_OBJECT, "an object"},  {SG_JF_ARRAY, "an array"},
        {SG_JF_NULL, "null"},
    };
    size_t total = 0, seen = 0, len = 0;

    for (size_t i = 0; i < SG_ARRAY_SIZE(names); i++)
        total += (types & names[i].bit) != 0;
    out[0] = '\0';
    for (size_t i = 0; i < SG_ARRAY_SIZE(names) && len < cap; i++) {
        if (!(types & names[i].bit))
            continue;
        seen++;
        len += (size_t)snprintf(out + len, cap - len, "%s%s",
                                seen == 1       ? ""
                                : seen == total ? " or "
                                                : ", ",
                                names[i].text);
    }
}

int sg_json_check_fields(const json_t *obj, const struct sg_json_field *fields,
                         size_t n, const char **field_out, struct sg_err *err)
{
    const struct sg_json_field *f;
    const char *key;
    char want[96];
    json_t *v;

    if (field_out)
        *field_out = NULL;
    if (!json_is_object(obj))
        return sg_err_set(err, SG_EINVAL, "the body must be a JSON object");
    json_object_foreach((json_t *)(uintptr_t)obj, key, v) {
        for (f = fields; f < fields + n && strcmp(f->name, key) != 0; f++)
            ;
        if (f == fields + n) {
            if (field_out)
                *field_out = key;
            return sg_err_set(err, SG_EINVAL, "unknown field \"%.64s\"",
                              key);
        }
    }
    for (f = fields; f < fields + n; f++) {
        v = json_object_get(obj, f->name);
        if (json_is_null(v) && (f->types & SG_JF_NULL))
            v = NULL; /* null stands for absent */
        if (v && !field_type_ok(v, f->types)) {
            if (field_out)
                *field_out = f->name;
            field_types_text(f->types, want, sizeof(want));
            return sg_err_set(err, SG_EINVAL, "%s: expected %s", f->name,
                              want);
        }
        if (!v && (f->types & SG_JF_REQUIRED)) {
            if (field_out)
                *field_out = f->name;
            return sg_err_set(err, SG_EINVAL, "missing field \"%s\"",
                              f->name);
        }
    }
    return 0;
}

/*
 * json_dump_callback's sink. A failed append sticks: jansson 2.14 does
 * not check every callback's result (an object key's, for one), so a
 * later append that succeeded would hand back text with a hole in it
 * (found by the D5 sweep, test_connectors_tiktok_torture).
 */
struct dump_out {
    struct sg_buf b;
    bool failed;
};

static int dump_sink(const char *buf, size_t size, void *data)
{
    struct dump_out *o = data;

    if (!o->failed && sg_buf_append(&o->b, buf, size) != 0)
        o->failed = true;
    return o->failed ? -1 : 0;
}

/*
 * One pass into a growing buffer. Measuring first (json_dumpb with no
 * buffer) walked and encoded the whole tree twice, which was a fifth of
 * the sandbox's profile answering order details under a flood (bench/spike).
 */
char *sg_json_dump(const json_t *j, size_t *len_out)
{
    size_t flags = JSON_COMPACT | JSON_ENCODE_ANY;
    struct dump_out o = {.failed = false};
    char *s;
    size_t len = 0;

    sg_buf_init(&o.b, SIZE_MAX - 1);
    if (!j || json_dump_callback(j, dump_sink, &o, flags) != 0 ||
        o.failed || o.b.len == 0) {
        sg_buf_release(&o.b);
        return NULL;
    }
    s = sg_buf_detach(&o.b, &len);
    if (s && len_out)
        *len_out = len;
    return s;
}
