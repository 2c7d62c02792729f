/*
 * fuzz_json.c - sg_json_parse on untrusted bytes, the parser behind every
 * JSON request body and webhook envelope.
 *
 * Invariants: an accepted document is never deeper than the limit, dumps
 * and parses back to an equal value; a rejected one reports an offset
 * inside the input and an error message.
 */
#include "fuzz.h"
#include "core/alloc.h"
#include "core/json.h"

#define DEPTH_MAX 32

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    struct sg_err err;
    json_t *j = NULL, *back = NULL;
    size_t off = 0, dump_len = 0;
    char *dump;
    int rc;

    sg_err_init(&err);
    rc = sg_json_parse(&j, text, size, DEPTH_MAX, &off, &err);
    if (rc != 0) {
        SG_FUZZ_CHECK(j == NULL);
        SG_FUZZ_CHECK(rc == SG_EINVAL || rc == SG_ELIMIT);
        SG_FUZZ_CHECK(err.msg[0] != '\0');
        SG_FUZZ_CHECK(off <= size);
        if (rc == SG_ELIMIT)
            SG_FUZZ_CHECK(sg_json_depth(text, size) > DEPTH_MAX);
        return 0;
    }
    SG_FUZZ_CHECK(j != NULL);
    SG_FUZZ_CHECK(sg_json_depth(text, size) <= DEPTH_MAX);
    dump = sg_json_dump(j, &dump_len);
    SG_FUZZ_CHECK(dump != NULL);
    rc = sg_json_parse(&back, dump, dump_len, DEPTH_MAX, NULL, &err);
    SG_FUZZ_CHECK(rc == 0);
    SG_FUZZ_CHECK(json_equal(j, back));
    /* The typed getters never crash on any shape. */
    (void)sg_json_str(j, "id");
    (void)sg_json_int(j, "id", -1);
    json_decref(back);
    json_decref(j);
    sg_free(dump);
    return 0;
}
