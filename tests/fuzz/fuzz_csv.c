/*
 * fuzz_csv.c - the catalog CSV reader (features/catalog/csv.h) on
 * arbitrary bytes, as an uploaded import file is.
 *
 * Invariants: every row has 1..SG_CSV_FIELDS_MAX fields, each no longer
 * than the input; physical line numbers never go backwards; the reader
 * ends (0 or an error) after at most one row per input byte plus one.
 */
#include "fuzz.h"
#include "features/catalog/csv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct sg_csv c; /* large; one at a time */
    struct sg_csv_row row;
    struct sg_err err;
    long last_line = 0;
    size_t rows = 0;
    int rc;

    sg_csv_init(&c, (const char *)data, size);
    sg_err_init(&err);
    while ((rc = sg_csv_next(&c, &row, &err)) == 1) {
        SG_FUZZ_CHECK(row.n >= 1 && row.n <= SG_CSV_FIELDS_MAX);
        SG_FUZZ_CHECK(row.line >= last_line && row.line >= 1);
        for (size_t i = 0; i < row.n; i++) {
            SG_FUZZ_CHECK(row.lens[i] <= size);
            SG_FUZZ_CHECK(row.fields[i][row.lens[i]] == '\0');
        }
        last_line = row.line;
        SG_FUZZ_CHECK(++rows <= size + 1);
    }
    SG_FUZZ_CHECK(rc == 0 || rc == SG_EINVAL || rc == SG_ELIMIT ||
                  rc == SG_ENOMEM);
    if (rc < 0)
        SG_FUZZ_CHECK(err.msg[0] != '\0');
    sg_csv_release(&c);
    return 0;
}
