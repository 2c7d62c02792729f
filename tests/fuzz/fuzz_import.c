/*
 * fuzz_import.c - the catalog importer (features/catalog/import.h) on an
 * uploaded file, Shopify CSV or jsonl: the whole parse, not only the CSV
 * tokenizer (fuzz_csv).
 *
 * Input: first byte even = shopify-csv, odd = jsonl; the rest is the file.
 * Invariants: the parse ends with 0 or a documented error that says why;
 * every product it did not reject passes sg_product_check and survives a
 * round trip through the documented JSON schema unchanged (what "re-import
 * changes nothing" rests on); every message names a line inside the file.
 */
#include "fuzz.h"
#include "core/alloc.h"
#include "core/json.h"
#include "features/catalog/catalog.h"
#include "features/catalog/import.h"

#include <string.h>

static void round_trip(const struct sg_product *p)
{
    struct sg_product back;
    struct sg_err err;
    json_t *a = sg_product_to_json(p, false), *b;
    char *ta, *tb;

    if (!a)
        return; /* out of memory is allowed, not a wrong answer */
    memset(&back, 0, sizeof(back));
    sg_err_init(&err);
    SG_FUZZ_CHECK(sg_product_from_json(&back, a, p->currency, NULL, 0,
                                       &err) == 0);
    b = sg_product_to_json(&back, false);
    ta = sg_json_dump(a, NULL);
    tb = b ? sg_json_dump(b, NULL) : NULL;
    if (ta && tb && strcmp(ta, tb) != 0) {
        fprintf(stderr, "imported:   %s\nround trip: %s\n", ta, tb);
        SG_FUZZ_CHECK(strcmp(ta, tb) == 0);
    }
    sg_free(ta);
    sg_free(tb);
    json_decref(a);
    json_decref(b);
    sg_product_release(&back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sg_import imp;
    struct sg_err err;
    int format, rc;
    long lines = 1;

    if (size < 1)
        return 0;
    format = (data[0] & 1) ? sg_import_format_parse("jsonl")
                           : sg_import_format_parse("shopify-csv");
    SG_FUZZ_CHECK(format >= 0);
    /* A line ends at LF, CRLF or a lone CR (old Mac exports), as the CSV
     * reader counts them. */
    for (size_t i = 1; i < size; i++)
        lines += data[i] == '\n' ||
                 (data[i] == '\r' && (i + 1 == size || data[i + 1] != '\n'));
    sg_import_init(&imp, "fuzz");
    sg_err_init(&err);
    rc = sg_import_parse(&imp, format, (const char *)data + 1, size - 1,
                         "USD", &err);
    SG_FUZZ_CHECK(rc == 0 || rc == SG_EINVAL || rc == SG_ELIMIT ||
                  rc == SG_ENOMEM);
    if (rc == SG_EINVAL || rc == SG_ELIMIT)
        SG_FUZZ_CHECK(err.msg[0] != '\0');
    if (rc == 0) {
        for (size_t i = 0; i < imp.n_msgs; i++)
            SG_FUZZ_CHECK(imp.msgs[i].line >= 0 &&
                          imp.msgs[i].line <= lines);
        for (size_t i = 0; i < imp.n_items; i++) {
            struct sg_err e;

            if (imp.items[i].rejected)
                continue;
            sg_err_init(&e);
            if (sg_product_check(&imp.items[i].p, NULL, &e) != 0) {
                fprintf(stderr, "accepted, yet: %s\n", e.msg);
                SG_FUZZ_CHECK(!"an accepted product fails sg_product_check");
            }
            round_trip(&imp.items[i].p);
        }
    }
    sg_import_release(&imp);
    return 0;
}
