/*
 * buf.h - a growable byte buffer with a hard cap (curl's dynbuf).
 *
 * Every buffer is created with a maximum; an append that would pass it
 * fails with SG_ELIMIT and leaves the buffer unchanged. The data is always
 * NUL-terminated (the terminator is not counted in len).
 */
#ifndef SG_BUF_H
#define SG_BUF_H

#include "sg.h"

struct sg_buf {
    char *data;
    size_t len;
    size_t cap;
    size_t max;
};

void sg_buf_init(struct sg_buf *b, size_t max);
void sg_buf_release(struct sg_buf *b);
void sg_buf_reset(struct sg_buf *b);
int sg_buf_append(struct sg_buf *b, const void *data, size_t len);
int sg_buf_appends(struct sg_buf *b, const char *s);
int sg_buf_printf(struct sg_buf *b, const char *fmt, ...) SG_PRINTF(2, 3);
/*
 * Make room for extra more bytes now (within the cap), so appends of a
 * known total do not copy the data at each doubling. SG_ELIMIT past it.
 */
int sg_buf_reserve(struct sg_buf *b, size_t extra);
/* Hand the bytes to the caller (free with sg_free); the buffer is reset. */
char *sg_buf_detach(struct sg_buf *b, size_t *len_out);

#endif
