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
#include <stdio.h>

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
 * when offset_out is not NULL, the byte offset; or SG_ENOMEM when an
 * allocation failed (even where jansson itself went on).
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
/*
 * Which members of an object to keep (sg_json_parse_arena_pruned): a
 * list ended by a NULL key. members NULL keeps the member's whole value;
 * otherwise the value, when it is an object, keeps only those members,
 * and when it is an array, each element is pruned by the same list.
 */
struct sg_json_keep {
    const char *key;
    const struct sg_json_keep *members;
};

/*
 * sg_json_parse_arena for a large answer of which little is read: the
 * root object keeps only the members keep names (recursively; keep NULL
 * keeps every member), and the
 * rest is checked and skipped without building a node. It reads a strict
 * subset of JSON (ASCII strings without escapes, integers of up to 18
 * digits, no fractions or exponents, at most 32 levels and 256 members
 * per object) and returns SG_EDECLINED for anything else, errors
 * included: the caller then parses with sg_json_parse_arena, which says
 * what is wrong. So a tree it returns is exactly jansson's with the
 * members not kept removed. SG_ENOMEM when an allocation failed.
 */
int sg_json_parse_arena_pruned(json_t **out, const char *data, size_t len,
                               const struct sg_json_keep *keep);
/* Release a tree from sg_json_parse_arena (NULL allowed). */
void sg_json_arena_free(json_t *j);
/*
 * Keep only part of an arena tree: node (inside root) becomes the tree
 * that sg_json_arena_free releases, and the rest of root is dropped.
 * Returns node; works as well for a tree that took the heap.
 */
json_t *sg_json_arena_keep(json_t *root, json_t *node);

/*
 * jansson's parser with Surge's guard against a failed allocation
 * (jansson 2.14 may otherwise abort on an assert or return a string with
 * a byte missing; json.c says how): a parse that ran out of memory is
 * NULL with *oom_out (may be NULL) set. Use these instead of jansson's
 * json_load*; no depth limit (trusted text, such as JSON Surge wrote
 * itself, or a file an operator gave).
 */
json_t *sg_json_loadb(const char *data, size_t len, size_t flags,
                      json_error_t *jerr, bool *oom_out);
json_t *sg_json_loads(const char *s, size_t flags, bool *oom_out);
/* The whole of f, or of the file at path ("unable to open ..." in
 * jerr->text when it cannot be opened or read). */
json_t *sg_json_loadf(FILE *f, size_t flags, json_error_t *jerr,
                      bool *oom_out);
json_t *sg_json_load_path(const char *path, size_t flags, json_error_t *jerr,
                          bool *oom_out);

/* The maximum nesting depth found in data (strings skipped). */
size_t sg_json_depth(const char *data, size_t len);

/* Borrowed string member, or NULL when missing or not a string. */
const char *sg_json_str(const json_t *obj, const char *key);
/* Integer member, or def when missing or not an integer. */
int64_t sg_json_int(const json_t *obj, const char *key, int64_t def);
/*
 * The first member of obj whose name is not among known[0..n), or NULL
 * (also for a non-object): for settings and control bodies, where a
 * misspelt key must be an error rather than quietly take the default.
 */
const char *sg_json_unknown_key(const json_t *obj, const char *const *known,
                                size_t n);

/*
 * The top-level fields a request body may carry: each a name and the
 * JSON types it takes (SG_JF_* bits, several allowed). SG_JF_NULL lets a
 * null stand for the field's absence; SG_JF_REQUIRED makes absence (or
 * that null) an error.
 */
enum {
    SG_JF_STRING = 1u << 0,
    SG_JF_INTEGER = 1u << 1,
    SG_JF_NUMBER = 1u << 2, /* integer or real */
    SG_JF_BOOLEAN = 1u << 3,
    SG_JF_OBJECT = 1u << 4,
    SG_JF_ARRAY = 1u << 5,
    SG_JF_NULL = 1u << 6,
    SG_JF_REQUIRED = 1u << 7,
    SG_JF_STRING_OR_NULL = SG_JF_STRING | SG_JF_NULL,
};

struct sg_json_field {
    const char *name;
    unsigned int types;
};

/*
 * Check obj (a JSON object) against fields[0..n): 0 when every member is
 * one of them with an allowed type and every required one is there. Else
 * SG_EINVAL, *field_out (may be NULL) the member's name (borrowed from
 * obj or fields), and err->msg one of: unknown field "rat"; coalesce_key:
 * expected a string (or "a string or null", "an integer", ...); missing
 * field "event". A member that is not in fields comes first, so a
 * misspelt name is reported as such rather than as its missing twin.
 */
int sg_json_check_fields(const json_t *obj, const struct sg_json_field *fields,
                         size_t n, const char **field_out, struct sg_err *err);

/*
 * Building JSON: jansson's setters and json_pack() fail on a failed
 * allocation, and an unchecked one silently leaves a member out. A
 * builder takes mark = sg_json_alloc_failures() first and returns
 * sg_json_built(j, mark): j when no jansson allocation of this thread
 * failed since mark, else NULL (j released). Nested builders compose.
 */
unsigned long sg_json_alloc_failures(void);
json_t *sg_json_built(json_t *j, unsigned long mark);

/* Serialize compactly; result is sg_alloc'd (free with sg_free). */
char *sg_json_dump(const json_t *j, size_t *len_out);

#endif
