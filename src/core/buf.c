/*
 * buf.c - capped buffers. Growth doubles, clamped to the cap.
 */
#include "buf.h"
#include "alloc.h"
#include "err.h"

void sg_buf_init(struct sg_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void sg_buf_release(struct sg_buf *b)
{
    sg_free(b->data);
    sg_buf_init(b, b->max);
}

void sg_buf_reset(struct sg_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

static int grow(struct sg_buf *b, size_t need)
{
    size_t cap;
    char *p;

    if (need > b->max)
        return SG_ELIMIT;
    if (need + 1 <= b->cap)
        return 0;
    cap = b->cap ? b->cap : 64;
    while (cap < need + 1)
        cap *= 2;
    if (cap > b->max + 1)
        cap = b->max + 1;
    p = sg_realloc(b->data, cap);
    if (!p)
        return SG_ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

int sg_buf_append(struct sg_buf *b, const void *data, size_t len)
{
    int rc;

    if (len > b->max - b->len)
        return SG_ELIMIT;
    rc = grow(b, b->len + len);
    if (rc)
        return rc;
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

int sg_buf_reserve(struct sg_buf *b, size_t extra)
{
    if (extra > b->max - b->len)
        return SG_ELIMIT;
    if (b->len + extra + 1 <= b->cap)
        return 0;
    return grow(b, b->len + extra);
}

int sg_buf_appends(struct sg_buf *b, const char *s)
{
    return sg_buf_append(b, s, strlen(s));
}

int sg_buf_printf(struct sg_buf *b, const char *fmt, ...)
{
    va_list ap;
    int n, rc;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return SG_EINVAL;
    if ((size_t)n > b->max - b->len)
        return SG_ELIMIT;
    rc = grow(b, b->len + (size_t)n);
    if (rc)
        return rc;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

char *sg_buf_detach(struct sg_buf *b, size_t *len_out)
{
    char *d = b->data;

    if (len_out)
        *len_out = b->len;
    if (!d)
        d = sg_strndup("", 0);
    sg_buf_init(b, b->max);
    return d;
}
