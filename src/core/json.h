/*
 * json.h - parsing untrusted JSON with limits, on top of jansson.
 *
 * sg_json_parse first scans the bytes for nesting depth (jansson's own limit
 * is a compile-time 2048), then parses with duplicate keys rejected. Errors
 * name the byte offset. 64-bit integers are kept exact by jansson's
 * json_int_t (long long); ids from remote platforms travel as strings.
 */
#ifndef SG_JSON_H
#define SG_JSON_H

#include "sg.h"
#include "err.h"

#include <jansson.h>

#define SG_JSON_DEPTH_DEFAULT 32

/*
 * Route jansson's allocations through sg_alloc (idempotent, thread-safe;
 * sg_json_parse calls it). Call it early in main so every JSON object of
 * the process comes from one allocator.
 */
void sg_json_init(void);

/*
 * Parse len bytes. On success *out is a new reference owned by the caller.
 * On failure returns SG_EINVAL and fills err with "... at byte N" and,
 * when offset_out is not NULL, the byte offset.
 */
int sg_json_parse(json_t **out, const char *data, size_t len,
                  size_t depth_max, size_t *offset_out, struct sg_err *err);

/*
 * sg_json_parse, with the tree's nodes carved from the calling thread's
 * arena instead of one heap allocation each (a 1,000-event request is
 * tens of thousands of nodes). The tree must be released with
 * sg_json_arena_free on the same thread, and nothing may keep a reference
 * to any of its nodes past that. One arena tree per thread at a time: a
 * second parse before the first is freed takes the heap (and
 * sg_json_arena_free still releases it correctly).
 */
int sg_json_parse_arena(json_t **out, const char *data, size_t len,
                        size_t depth_max, size_t *offset_out,
                        struct sg_err *err);
/* Release a tree from sg_json_parse_arena (NULL allowed). */
void sg_json_arena_free(json_t *j);

/* The maximum nesting depth found in data (strings skipped). */
size_t sg_json_depth(const char *data, size_t len);

/* Borrowed string member, or NULL when missing or not a string. */
const char *sg_json_str(const json_t *obj, const char *key);
/* Integer member, or def when missing or not an integer. */
int64_t sg_json_int(const json_t *obj, const char *key, int64_t def);

/* Serialize compactly; result is sg_alloc'd (free with sg_free). */
char *sg_json_dump(const json_t *j, size_t *len_out);

#endif
