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
 * a failed allocation is remembered per thread: jansson 2.14's string
 * reader can drop a byte and still succeed when an allocation fails
 * (found by the allocation-failure sweep), so a parse that saw a failure
 * is reported as SG_ENOMEM whatever jansson returned.
 */
static _Thread_local bool json_alloc_failed;
static pthread_once_t json_once = PTHREAD_ONCE_INIT;

static void *json_alloc(size_t size)
{
    void *p = sg_alloc(size);

    if (!p)
        json_alloc_failed = true;
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
    json_t *j;

    *out = NULL;
    if (offset_out)
        *offset_out = 0;
    sg_json_init();
    if (depth_max && sg_json_depth(data, len) > depth_max)
        return sg_err_set(err, SG_ELIMIT,
                          "JSON nesting deeper than %zu levels", depth_max);
    json_alloc_failed = false;
    j = json_loadb(data, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
    if (json_alloc_failed) {
        json_decref(j);
        return sg_err_set(err, SG_ENOMEM, "out of memory parsing JSON");
    }
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
