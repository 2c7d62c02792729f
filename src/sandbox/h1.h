/*
 * h1.h - the pieces of the sandbox's plain HTTP/1.1 webhook sender
 * (webhooks.c): which addresses it posts to itself rather than through
 * libcurl (http:// to an IP literal), the request it writes, and an
 * incremental reader of the answer that keeps the status and whether the
 * connection may be used again, and skips the body.
 *
 * libcurl stays for everything else (https, host names, anything odd in
 * the address): under a flood of webhooks to one loopback receiver its
 * per-transfer machinery was about a third of the sandbox's CPU.
 */
#ifndef SG_SBX_H1_H
#define SG_SBX_H1_H

#include "core/sg.h"
#include "core/buf.h"
#include "core/err.h"

#include <sys/socket.h>

#define SG_H1_HEAD_MAX 8192 /* status line and headers of one answer */
#define SG_H1_LINE_MAX 1024 /* a chunk-size or trailer line */

/* Where an http:// address points: a socket address, Host and path. */
struct sg_h1_target {
    struct sockaddr_storage sa;
    socklen_t sa_len;
    char host[64];     /* the Host header: "127.0.0.1:8080", "[::1]:80" */
    size_t path_at;    /* offset of the path in the url ("" means "/") */
};

/*
 * Fill t for url when the plain sender can post to it: "http://", an
 * IPv4 literal or a bracketed IPv6 literal, an optional port, then an
 * optional path and query of printable ASCII (no fragment, no user
 * info). Returns 0, or SG_EDECLINED (libcurl posts to it instead).
 */
int sg_h1_target_parse(const char *url, struct sg_h1_target *t);

/*
 * The POST request for body to t (url as given to sg_h1_target_parse),
 * headers as libcurl sent them: Host, Accept, Content-Type
 * application/json, Authorization, Content-Length. Replaces out's
 * contents; SG_ENOMEM or SG_ELIMIT from the buffer.
 */
int sg_h1_request(struct sg_buf *out, const struct sg_h1_target *t,
                  const char *url, const char *authorization,
                  const char *body, size_t body_len);

enum sg_h1_state {
    SG_H1_HEAD,       /* status line and headers */
    SG_H1_BODY_LEN,   /* left more bytes of a Content-Length body */
    SG_H1_CHUNK_SIZE, /* a chunk-size line */
    SG_H1_CHUNK_DATA, /* left more bytes of a chunk */
    SG_H1_CHUNK_END,  /* the CRLF after a chunk */
    SG_H1_TRAILER,    /* trailer lines up to the empty one */
    SG_H1_UNTIL_EOF,  /* a body that ends when the server closes */
    SG_H1_DONE
};

/* An answer being read. */
struct sg_h1_resp {
    enum sg_h1_state state;
    int status;         /* the final (non-1xx) status */
    bool keep_alive;    /* the connection may carry the next request */
    bool got_any;       /* a byte of the answer arrived */
    uint64_t left;
    size_t len;         /* bytes in buf (head or the current line) */
    char buf[SG_H1_HEAD_MAX];
};

void sg_h1_resp_init(struct sg_h1_resp *r);

/*
 * Feed n bytes of the answer. Returns 1 when the answer is complete
 * (*used says how many of the n bytes it took; more after that means the
 * server sent something unasked for), 0 when it needs more, or SG_EINVAL
 * with err naming what is wrong (the connection is then unusable).
 */
int sg_h1_resp_feed(struct sg_h1_resp *r, const char *p, size_t n,
                    size_t *used, struct sg_err *err);

/*
 * The server closed the connection: 1 when that ends the answer (a body
 * read to the end of the connection), else SG_EINVAL with err set.
 */
int sg_h1_resp_eof(struct sg_h1_resp *r, struct sg_err *err);

#endif
