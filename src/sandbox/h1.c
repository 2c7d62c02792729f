/*
 * h1.c - addresses, requests and answers of the sandbox's plain HTTP/1.1
 * webhook sender (see h1.h). The reader keeps only what the sender acts
 * on: the status, whether the connection stays open, and where the
 * answer ends (Content-Length, chunked, or the end of the connection).
 */
#include "core/sg.h"
#include "sandbox/h1.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#define PORT_MAX 65535

int sg_h1_target_parse(const char *url, struct sg_h1_target *t)
{
    const char *p, *host, *host_end, *path;
    char lit[INET6_ADDRSTRLEN + 1];
    size_t hlen;
    long port = 80;
    bool v6 = false;

    memset(t, 0, sizeof(*t));
    if (!url || strncmp(url, "http://", 7) != 0)
        return SG_EDECLINED;
    host = url + 7;
    if (*host == '[') {
        v6 = true;
        host++;
        host_end = strchr(host, ']');
        if (!host_end)
            return SG_EDECLINED;
        p = host_end + 1;
    } else {
        host_end = host + strcspn(host, ":/?#@");
        p = host_end;
    }
    hlen = (size_t)(host_end - host);
    if (hlen == 0 || hlen >= sizeof(lit))
        return SG_EDECLINED;
    memcpy(lit, host, hlen);
    lit[hlen] = '\0';
    if (*p == ':') {
        const char *d = ++p;

        port = 0;
        while (*p >= '0' && *p <= '9' && port <= PORT_MAX)
            port = port * 10 + (*p++ - '0');
        if (p == d || p - d > 5 || port == 0 || port > PORT_MAX)
            return SG_EDECLINED;
    }
    if (*p != '\0' && *p != '/' && *p != '?')
        return SG_EDECLINED; /* user info, a fragment, junk */
    path = p;
    for (; *p; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f ||
            *p == '#')
            return SG_EDECLINED;
    if (v6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&t->sa;

        if (inet_pton(AF_INET6, lit, &a->sin6_addr) != 1)
            return SG_EDECLINED;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        t->sa_len = sizeof(*a);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&t->sa;

        /* inet_pton takes only the dotted quad: no "127.1", no names. */
        if (inet_pton(AF_INET, lit, &a->sin_addr) != 1)
            return SG_EDECLINED;
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)port);
        t->sa_len = sizeof(*a);
    }
    /* Host as libcurl writes it: the port only when not the default. */
    if (port == 80)
        snprintf(t->host, sizeof(t->host), v6 ? "[%s]" : "%s", lit);
    else
        snprintf(t->host, sizeof(t->host), v6 ? "[%s]:%ld" : "%s:%ld", lit,
                 port);
    t->path_at = (size_t)(path - url);
    return 0;
}

int sg_h1_request(struct sg_buf *out, const struct sg_h1_target *t,
                  const char *url, const char *authorization,
                  const char *body, size_t body_len)
{
    const char *path = url + t->path_at;
    int rc;

    sg_buf_reset(out);
    rc = sg_buf_printf(out,
                       "POST %s%s HTTP/1.1\r\nHost: %s\r\nAccept: */*\r\n"
                       "Content-Type: application/json\r\n"
                       "Authorization: %s\r\nContent-Length: %zu\r\n\r\n",
                       *path == '/' ? "" : "/", path, t->host, authorization,
                       body_len);
    if (!rc)
        rc = sg_buf_append(out, body, body_len);
    return rc;
}

void sg_h1_resp_init(struct sg_h1_resp *r)
{
    r->state = SG_H1_HEAD;
    r->status = 0;
    r->keep_alive = false;
    r->got_any = false;
    r->left = 0;
    r->len = 0;
}

static bool ci_prefix(const char *s, size_t len, const char *name)
{
    size_t n = strlen(name);

    return len >= n && strncasecmp(s, name, n) == 0;
}

/* Does the comma-separated list v (len bytes) hold token (any case)? */
static bool has_token(const char *v, size_t len, const char *token)
{
    size_t n = strlen(token), i = 0;

    while (i < len) {
        size_t j;

        while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        j = i;
        while (j < len && v[j] != ',')
            j++;
        {
            size_t e = j;

            while (e > i && (v[e - 1] == ' ' || v[e - 1] == '\t'))
                e--;
            if (e - i == n && strncasecmp(v + i, token, n) == 0)
                return true;
        }
        i = j;
    }
    return false;
}

/* The last coding of a Transfer-Encoding list: is it chunked? */
static bool last_is_chunked(const char *v, size_t len)
{
    size_t e = len, b;

    while (e > 0 && (v[e - 1] == ' ' || v[e - 1] == '\t'))
        e--;
    b = e;
    while (b > 0 && v[b - 1] != ',' && v[b - 1] != ' ' && v[b - 1] != '\t')
        b--;
    return e - b == 7 && strncasecmp(v + b, "chunked", 7) == 0;
}

/*
 * The head in r->buf (len bytes, ending with the empty line): status,
 * connection and how the body ends. Returns 0 (r->state set; SG_H1_HEAD
 * again after a 1xx) or SG_EINVAL.
 */
static int parse_head(struct sg_h1_resp *r, struct sg_err *err)
{
    const char *p = r->buf, *end = r->buf + r->len;
    const char *eol = memchr(p, '\n', r->len);
    bool http10, chunked = false, te = false, have_len = false;
    bool conn_close = false, conn_keep = false;
    uint64_t clen = 0;
    int status;

    if (!eol || eol - p < 12 || strncmp(p, "HTTP/1.", 7) != 0 ||
        (p[7] != '0' && p[7] != '1') || p[8] != ' ' || p[9] < '1' ||
        p[9] > '5' || p[10] < '0' || p[10] > '9' || p[11] < '0' ||
        p[11] > '9' || (eol - p > 12 && p[12] != ' ' && p[12] != '\r'))
        return sg_err_set(err, SG_EINVAL, "not an HTTP/1.x status line");
    http10 = p[7] == '0';
    status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
    for (p = eol + 1; p < end;) {
        const char *le = memchr(p, '\n', (size_t)(end - p)), *v, *ve;
        size_t len;

        if (!le)
            break;
        len = (size_t)(le - p);
        if (len > 0 && p[len - 1] == '\r')
            len--;
        if (len == 0)
            break; /* the empty line */
        v = memchr(p, ':', len);
        if (!v || v == p)
            return sg_err_set(err, SG_EINVAL, "a header line without a name");
        ve = p + len;
        for (v++; v < ve && (*v == ' ' || *v == '\t'); v++)
            ;
        if (ci_prefix(p, len, "content-length:")) {
            uint64_t n = 0;
            const char *d = v;

            for (; d < ve && *d >= '0' && *d <= '9'; d++) {
                if (n > (UINT64_MAX - 9) / 10)
                    return sg_err_set(err, SG_EINVAL,
                                      "Content-Length too large");
                n = n * 10 + (uint64_t)(*d - '0');
            }
            while (d < ve && (*d == ' ' || *d == '\t'))
                d++;
            if (d == v || d != ve || (have_len && n != clen))
                return sg_err_set(err, SG_EINVAL, "a bad Content-Length");
            clen = n;
            have_len = true;
        } else if (ci_prefix(p, len, "transfer-encoding:")) {
            te = true;
            chunked = last_is_chunked(v, (size_t)(ve - v));
        } else if (ci_prefix(p, len, "connection:")) {
            conn_close |= has_token(v, (size_t)(ve - v), "close");
            conn_keep |= has_token(v, (size_t)(ve - v), "keep-alive");
        }
        p = le + 1;
    }
    if (status == 101)
        return sg_err_set(err, SG_EINVAL, "an unasked-for protocol switch");
    if (status < 200) {
        /* 100 Continue and the like: the real answer follows. */
        r->len = 0;
        r->state = SG_H1_HEAD;
        return 0;
    }
    r->status = status;
    r->keep_alive = http10 ? conn_keep && !conn_close : !conn_close;
    if (status == 204 || status == 304)
        r->state = SG_H1_DONE;
    else if (te && chunked)
        r->state = SG_H1_CHUNK_SIZE;
    else if (te) {
        /* Some other coding: the body lasts until the server closes. */
        r->state = SG_H1_UNTIL_EOF;
        r->keep_alive = false;
    } else if (have_len) {
        r->left = clen;
        r->state = clen ? SG_H1_BODY_LEN : SG_H1_DONE;
    } else {
        r->state = SG_H1_UNTIL_EOF;
        r->keep_alive = false;
    }
    r->len = 0;
    return 0;
}

/* A chunk-size line (without its end of line): size, then extensions. */
static int parse_chunk_size(struct sg_h1_resp *r, struct sg_err *err)
{
    uint64_t n = 0;
    size_t i = 0, digits = 0;

    for (; i < r->len; i++, digits++) {
        char c = r->buf[i];
        int v;

        if (c >= '0' && c <= '9')
            v = c - '0';
        else if (c >= 'a' && c <= 'f')
            v = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            v = c - 'A' + 10;
        else
            break;
        if (n > (UINT64_MAX >> 4))
            return sg_err_set(err, SG_EINVAL, "a chunk size too large");
        n = (n << 4) | (uint64_t)v;
    }
    if (digits == 0 || (i < r->len && r->buf[i] != ';' &&
                        r->buf[i] != ' ' && r->buf[i] != '\t'))
        return sg_err_set(err, SG_EINVAL, "a bad chunk size");
    r->left = n;
    r->state = n ? SG_H1_CHUNK_DATA : SG_H1_TRAILER;
    return 0;
}

/*
 * Gather one line into r->buf (up to cap bytes, end of line dropped).
 * Returns 1 with the line complete, 0 when it needs more, SG_EINVAL when
 * too long.
 */
static int take_line(struct sg_h1_resp *r, const char *p, size_t n,
                     size_t *i, size_t cap, struct sg_err *err)
{
    while (*i < n) {
        char c = p[(*i)++];

        if (c == '\n') {
            if (r->len > 0 && r->buf[r->len - 1] == '\r')
                r->len--;
            return 1;
        }
        if (r->len >= cap)
            return sg_err_set(err, SG_EINVAL, "a line too long");
        r->buf[r->len++] = c;
    }
    return 0;
}

int sg_h1_resp_feed(struct sg_h1_resp *r, const char *p, size_t n,
                    size_t *used, struct sg_err *err)
{
    size_t i = 0;
    int rc = 0;

    *used = 0;
    if (n > 0)
        r->got_any = true;
    while (rc == 0 && r->state != SG_H1_DONE && i < n) {
        switch (r->state) {
        case SG_H1_HEAD:
            /* Byte by byte up to the empty line; heads are small. */
            while (i < n) {
                if (r->len >= sizeof(r->buf))
                    return sg_err_set(err, SG_EINVAL,
                                      "the answer's head is too large");
                r->buf[r->len++] = p[i++];
                if (r->buf[r->len - 1] == '\n' &&
                    ((r->len >= 2 && r->buf[r->len - 2] == '\n') ||
                     (r->len >= 3 && r->buf[r->len - 2] == '\r' &&
                      r->buf[r->len - 3] == '\n'))) {
                    rc = parse_head(r, err);
                    break;
                }
            }
            break;
        case SG_H1_BODY_LEN:
        case SG_H1_CHUNK_DATA: {
            size_t k = n - i;

            if ((uint64_t)k > r->left)
                k = (size_t)r->left;
            i += k;
            r->left -= k;
            if (r->left == 0)
                r->state = r->state == SG_H1_BODY_LEN ? SG_H1_DONE
                                                       : SG_H1_CHUNK_END;
            break;
        }
        case SG_H1_CHUNK_SIZE:
            rc = take_line(r, p, n, &i, SG_H1_LINE_MAX, err);
            if (rc == 1) {
                rc = parse_chunk_size(r, err);
                r->len = 0;
            }
            break;
        case SG_H1_CHUNK_END: {
            /* CRLF (or a bare LF); r->len counts a CR seen. */
            char c = p[i++];

            if (c == '\r' && r->len == 0)
                r->len = 1;
            else if (c == '\n') {
                r->len = 0;
                r->state = SG_H1_CHUNK_SIZE;
            } else
                return sg_err_set(err, SG_EINVAL,
                                  "a chunk longer than its size");
            break;
        }
        case SG_H1_TRAILER:
            rc = take_line(r, p, n, &i, SG_H1_LINE_MAX, err);
            if (rc == 1) {
                if (r->len == 0)
                    r->state = SG_H1_DONE;
                r->len = 0;
                rc = 0;
            }
            break;
        case SG_H1_UNTIL_EOF:
            i = n;
            break;
        case SG_H1_DONE:
            break;
        }
    }
    if (rc < 0)
        return rc;
    *used = i;
    return r->state == SG_H1_DONE ? 1 : 0;
}

int sg_h1_resp_eof(struct sg_h1_resp *r, struct sg_err *err)
{
    if (r->state == SG_H1_UNTIL_EOF || r->state == SG_H1_DONE) {
        r->state = SG_H1_DONE;
        return 1;
    }
    return sg_err_set(err, SG_EINVAL,
                      r->got_any ? "the connection closed mid-answer"
                                 : "the connection closed without an answer");
}
