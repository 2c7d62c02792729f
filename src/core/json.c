/*
 * json.c - bounded JSON parsing. The depth pre-scan is linear and keeps no
 * state beyond a counter, so a hostile "[[[[..." cannot make jansson
 * recurse deeply.
 */
#include "json.h"
#include "alloc.h"

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

static void *json_alloc(size_t size)
{
    void *p = json_in_load && json_load_failed ? NULL : sg_alloc(size);

    if (!p) {
        json_alloc_failures++;
        json_load_failed = json_in_load;
    }
    return p;
}

static void json_release(void *p)
{
    sg_free(p);
}

static void json_setup(void)
{
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

char *sg_json_dump(const json_t *j, size_t *len_out)
{
    size_t flags = JSON_COMPACT | JSON_ENCODE_ANY;
    size_t len = json_dumpb(j, NULL, 0, flags);
    char *s;

    if (len == 0)
        return NULL;
    s = sg_alloc(len + 1);
    if (!s)
        return NULL;
    if (json_dumpb(j, s, len, flags) != len) {
        sg_free(s);
        return NULL;
    }
    s[len] = '\0';
    if (len_out)
        *len_out = len;
    return s;
}
