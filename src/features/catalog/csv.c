/*
 * csv.c - the RFC 4180 reader (see csv.h). One pass, no backtracking: a
 * field is either quoted (to its closing quote, "" meaning one quote) or
 * plain (to the next comma or line end). A stray quote inside a plain
 * field is kept as text, as spreadsheet exports expect.
 */
#include "core/sg.h"

#include "features/catalog/csv.h"

void sg_csv_init(struct sg_csv *c, const char *data, size_t len)
{
    memset(c, 0, sizeof(*c));
    c->p = data;
    c->end = data + len;
    c->line = 1;
    if (len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0)
        c->p += 3;
    sg_buf_init(&c->buf, SG_CSV_ROW_MAX);
}

void sg_csv_release(struct sg_csv *c)
{
    sg_buf_release(&c->buf);
}

/* Consume a line ending at p if there is one; returns its length. */
static size_t eol(const char *p, const char *end)
{
    if (p < end && *p == '\n')
        return 1;
    if (p < end && *p == '\r')
        return p + 1 < end && p[1] == '\n' ? 2 : 1;
    return 0;
}

/*
 * A NUL byte is not text: every field is read as a C string later, where
 * it would cut the text short without a word (found by fuzz_import).
 */
static int nul_byte(const struct sg_csv *c, struct sg_err *err)
{
    return sg_err_set(err, SG_EINVAL, "line %ld: a NUL byte (the file is "
                      "not text)", c->line);
}

int sg_csv_next(struct sg_csv *c, struct sg_csv_row *row, struct sg_err *err)
{
    const char *p = c->p, *end = c->end;
    size_t n = 0;
    long start;
    int rc;

    /* Skip blank lines. */
    for (size_t e; p < end && (e = eol(p, end)) > 0; p += e)
        c->line++;
    if (p >= end) {
        c->p = p;
        return 0;
    }
    start = c->line;
    sg_buf_reset(&c->buf);
    for (;;) {
        if (n == SG_CSV_FIELDS_MAX)
            return sg_err_set(err, SG_ELIMIT,
                              "line %ld: more than %d fields", start,
                              SG_CSV_FIELDS_MAX);
        c->offs[n] = c->buf.len;
        if (p < end && *p == '"') {
            long qline = c->line;

            p++;
            for (;;) {
                const char *q = p;

                while (q < end && *q != '"' && *q != '\0') {
                    if (*q == '\n')
                        c->line++;
                    q++;
                }
                if (q < end && *q == '\0')
                    return nul_byte(c, err);
                if (q > p && (rc = sg_buf_append(&c->buf, p, (size_t)(q - p))))
                    goto fail;
                if (q >= end)
                    return sg_err_set(err, SG_EINVAL,
                                      "line %ld: a quoted field is never "
                                      "closed",
                                      qline);
                if (q + 1 < end && q[1] == '"') {
                    if ((rc = sg_buf_append(&c->buf, "\"", 1)))
                        goto fail;
                    p = q + 2;
                    continue;
                }
                p = q + 1;
                break;
            }
            if (p < end && *p != ',' && !eol(p, end))
                return sg_err_set(err, SG_EINVAL,
                                  "line %ld: text after a closing quote "
                                  "(a quote inside a field must be doubled)",
                                  c->line);
        } else {
            const char *q = p;

            while (q < end && *q != ',' && *q != '\n' && *q != '\r' &&
                   *q != '\0')
                q++;
            if (q < end && *q == '\0')
                return nul_byte(c, err);
            if (q > p && (rc = sg_buf_append(&c->buf, p, (size_t)(q - p))))
                goto fail;
            p = q;
        }
        c->lens[n] = c->buf.len - c->offs[n];
        if ((rc = sg_buf_append(&c->buf, "", 1)))
            goto fail;
        n++;
        if (p < end && *p == ',') {
            p++;
            continue;
        }
        /* End of the row: a line ending or the end of the data. */
        if (p < end) {
            p += eol(p, end);
            c->line++;
        }
        break;
    }
    c->p = p;
    for (size_t i = 0; i < n; i++)
        c->fields[i] = c->buf.data + c->offs[i];
    row->fields = c->fields;
    row->lens = c->lens;
    row->n = n;
    row->line = start;
    return 1;
fail:
    if (rc == SG_ELIMIT)
        return sg_err_set(err, rc, "line %ld: row longer than %u bytes",
                          start, SG_CSV_ROW_MAX);
    return sg_err_set(err, rc, "line %ld: out of memory", start);
}
