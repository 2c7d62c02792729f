/*
 * fuzz_json_pruned.c - sg_json_parse_arena_pruned, the fast reader of
 * TikTok Shop's order-detail answers, against the parser it stands in for.
 *
 * The pruned reader takes a strict subset of JSON and builds only the
 * members a keep list names; for anything else it declines and the caller
 * parses the answer with sg_json_parse_arena. So, on any input:
 *   - when it accepts, the full parser accepts too, and the pruned tree is
 *     exactly the full tree with the members not kept removed (pruned here
 *     by the rules json.h states, independently of json.c's code);
 *   - it never says "invalid": it accepts, declines, or runs out of memory.
 * The keep list has short names (a, b, c, d) and the real envelope's
 * (code, data, orders, id) so mutations reach kept, nested and skipped
 * members alike.
 */
#include "fuzz.h"
#include "core/alloc.h"
#include "core/json.h"
#include "core/sg.h"

#include <string.h>

#define DEPTH_MAX 64

static const struct sg_json_keep keep_b[] = {{"c", NULL}, {"d", NULL},
                                             {NULL, NULL}};
static const struct sg_json_keep keep_order[] = {
    {"id", NULL}, {"b", keep_b}, {NULL, NULL}};
static const struct sg_json_keep keep_data[] = {{"orders", keep_order},
                                                {NULL, NULL}};
static const struct sg_json_keep keep_root[] = {
    {"a", NULL}, {"b", keep_b}, {"code", NULL}, {"data", keep_data},
    {NULL, NULL}};

static const struct sg_json_keep *keep_find(const struct sg_json_keep *k,
                                            const char *key)
{
    for (; k->key; k++)
        if (strcmp(k->key, key) == 0)
            return k;
    return NULL;
}

/*
 * v pruned by keep, as json.h says: an object keeps only the members
 * named (each pruned by its own list, or whole when that is NULL); an
 * array has each element pruned by the same list; anything else stays.
 */
static void prune(json_t *v, const struct sg_json_keep *keep)
{
    if (json_is_object(v)) {
        const char *key;
        json_t *m, *tmp;

        json_object_foreach_safe(v, tmp, key, m) {
            const struct sg_json_keep *k = keep_find(keep, key);

            if (!k)
                json_object_del(v, key);
            else if (k->members)
                prune(m, k->members);
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *e;

        json_array_foreach(v, i, e)
            prune(e, keep);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    json_t *fast = NULL, *full = NULL;
    struct sg_err err;
    int rc, frc;

    sg_err_init(&err);
    rc = sg_json_parse_arena_pruned(&fast, text, size, keep_root);
    SG_FUZZ_CHECK(rc == 0 || rc == SG_EDECLINED || rc == SG_ENOMEM);
    if (rc != 0) {
        SG_FUZZ_CHECK(fast == NULL);
        return 0;
    }
    SG_FUZZ_CHECK(json_is_object(fast));
    frc = sg_json_parse(&full, text, size, DEPTH_MAX, NULL, &err);
    if (frc != 0)
        fprintf(stderr, "pruned accepted what the parser refuses: %s\n",
                err.msg);
    SG_FUZZ_CHECK(frc == 0);
    prune(full, keep_root);
    SG_FUZZ_CHECK(json_equal(fast, full));
    sg_json_arena_free(fast);
    json_decref(full);
    return 0;
}
