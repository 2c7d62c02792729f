/*
 * json.c - bounded JSON parsing. The depth pre-scan is linear and keeps no
 * state beyond a counter, so a hostile "[[[[..." cannot make jansson
 * recurse deeply.
 */
#include "json.h"
#include "alloc.h"
#include "buf.h"

#include <pthread.h>

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
 * Inside sg_json_loadb, the first failed allocation makes every later
 * one of the same parse fail too. jansson 2.14's lexer keeps going when
 * it cannot grow its string buffer, then decodes the buffer that lost a
 * byte and stops on assert(0) when an escape no longer makes sense: an
 * abort of the whole process (found by the D5 sweep on an import). Its
 * next allocation, for the decoded string, comes before that decoding,
 * so failing it ends the parse cleanly.
 */
static _Thread_local bool json_in_load, json_load_failed;
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

    if (json_in_load && json_load_failed)
        return NULL; /* the rest of a parse that already failed */
    if (json_arena.on)
        p = arena_carve(&json_arena, size);
    if (!p)
        p = sg_alloc(size);
    if (!p) {
        json_alloc_failures++;
        json_load_failed = json_in_load;
    }
    return p;
}

static void json_release(void *p)
{
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

json_t *sg_json_loadb(const char *data, size_t len, size_t flags,
                      json_error_t *jerr, bool *oom_out)
{
    unsigned long mark;
    json_t *j;

    sg_json_init();
    mark = json_alloc_failures;
    json_in_load = true;
    json_load_failed = false;
    j = json_loadb(data, len, flags, jerr);
    json_in_load = false;
    json_load_failed = false;
    if (oom_out)
        *oom_out = json_alloc_failures != mark;
    return sg_json_built(j, mark);
}

json_t *sg_json_loads(const char *s, size_t flags, bool *oom_out)
{
    return sg_json_loadb(s, s ? strlen(s) : 0, flags, NULL, oom_out);
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
