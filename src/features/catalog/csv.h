/*
 * csv.h - an RFC 4180 reader over a buffer in memory: quoted fields may
 * hold commas, quotes ("") and line breaks; rows end in CRLF or LF; a
 * UTF-8 byte order mark at the start is skipped. Each row reports the
 * physical line it starts on, so errors can say file:line.
 *
 * Bounds: SG_CSV_FIELDS_MAX fields per row, SG_CSV_ROW_MAX bytes per row.
 */
#ifndef SG_FEATURES_CATALOG_CSV_H
#define SG_FEATURES_CATALOG_CSV_H

#include "core/sg.h"
#include "core/buf.h"
#include "core/err.h"

#define SG_CSV_FIELDS_MAX 1024
#define SG_CSV_ROW_MAX    (4u << 20)

struct sg_csv {
    const char *p, *end;
    long line;              /* physical line the next row starts on */
    struct sg_buf buf;      /* the current row's unescaped fields */
    size_t offs[SG_CSV_FIELDS_MAX];
    size_t lens[SG_CSV_FIELDS_MAX];
    const char *fields[SG_CSV_FIELDS_MAX];
};

struct sg_csv_row {
    const char *const *fields; /* NUL-terminated, borrowed until next */
    const size_t *lens;
    size_t n;
    long line;
};

/* data is borrowed for the reader's life. */
void sg_csv_init(struct sg_csv *c, const char *data, size_t len);
void sg_csv_release(struct sg_csv *c);
/*
 * The next row: 1 with *row filled, 0 at the end, or SG_EINVAL /
 * SG_ELIMIT / SG_ENOMEM with err->msg "line N: what". Blank lines are
 * skipped.
 */
int sg_csv_next(struct sg_csv *c, struct sg_csv_row *row, struct sg_err *err);

#endif
