/*
 * fuzz_sbx_h1.c - the sandbox's incremental reader of a webhook
 * receiver's HTTP/1.1 answer (sandbox/h1.h), which reads whatever the
 * configured address sends back.
 *
 * Input: byte 0 seeds how the rest is cut into pieces; the rest is the
 * bytes the receiver sends before it closes the connection.
 * Invariants: the answer read in one piece and read in pieces of 1-16
 * bytes ends the same way (complete, an error, or cut short at the close)
 * with the same status, the same keep-alive verdict and the same number
 * of bytes taken; a complete answer has a final status of 200-599 (1xx
 * are skipped), takes no more bytes than were sent, and every error has
 * a message.
 */
#include "fuzz.h"
#include "core/err.h"
#include "sandbox/h1.h"

#include <string.h>

enum end { END_DONE, END_ERROR, END_EOF_OK };

struct outcome {
    enum end end;
    int status;
    bool keep_alive;
    size_t taken; /* bytes taken when the answer completed */
};

/* Read p[0..n) in pieces (sizes from seed; 0 = one piece), then the close. */
static void read_answer(const char *p, size_t n, unsigned seed,
                        struct outcome *o)
{
    static struct sg_h1_resp r; /* 8 KiB of head buffer: not on the stack */
    struct sg_err err;
    size_t off = 0;
    int rc = 0;

    memset(o, 0, sizeof(*o));
    sg_h1_resp_init(&r);
    sg_err_init(&err);
    while (off < n) {
        size_t piece = n - off, used = 0;

        if (seed) {
            seed = seed * 1103515245u + 12345u;
            piece = 1 + (seed >> 16) % 16;
            if (piece > n - off)
                piece = n - off;
        }
        rc = sg_h1_resp_feed(&r, p + off, piece, &used, &err);
        SG_FUZZ_CHECK(rc == 0 || rc == 1 || rc == SG_EINVAL);
        if (rc == SG_EINVAL) {
            SG_FUZZ_CHECK(err.msg[0] != '\0');
            o->end = END_ERROR;
            return;
        }
        SG_FUZZ_CHECK(used <= piece);
        /* Short of done, a piece is taken whole. */
        SG_FUZZ_CHECK(rc == 1 || used == piece);
        off += used;
        if (rc == 1) {
            o->end = END_DONE;
            o->status = r.status;
            o->keep_alive = r.keep_alive;
            o->taken = off;
            return;
        }
    }
    rc = sg_h1_resp_eof(&r, &err);
    SG_FUZZ_CHECK(rc == 1 || rc == SG_EINVAL);
    if (rc == SG_EINVAL) {
        SG_FUZZ_CHECK(err.msg[0] != '\0');
        o->end = END_ERROR;
        return;
    }
    o->end = END_EOF_OK;
    o->status = r.status;
    o->keep_alive = r.keep_alive;
    o->taken = n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct outcome whole, pieces;
    unsigned seed;

    if (size < 1)
        return 0;
    seed = (unsigned)data[0] | 1u;
    read_answer((const char *)data + 1, size - 1, 0, &whole);
    read_answer((const char *)data + 1, size - 1, seed, &pieces);
    SG_FUZZ_CHECK(whole.end == pieces.end);
    if (whole.end == END_ERROR)
        return 0;
    SG_FUZZ_CHECK(whole.status == pieces.status);
    SG_FUZZ_CHECK(whole.keep_alive == pieces.keep_alive);
    SG_FUZZ_CHECK(whole.taken == pieces.taken);
    SG_FUZZ_CHECK(whole.taken <= size - 1);
    SG_FUZZ_CHECK(whole.status >= 200 && whole.status <= 599);
    /* A body read to the close leaves no connection to reuse. */
    if (whole.end == END_EOF_OK)
        SG_FUZZ_CHECK(!whole.keep_alive);
    return 0;
}
