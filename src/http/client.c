/*
 * client.c - the outbound HTTP client over libcurl's multi interface.
 *
 * Invariants: every transfer is on the client's list from submit until
 * its callback has run, and its callback runs exactly once; response
 * bytes are capped while they arrive (a transfer over the cap is
 * aborted), so a hostile peer cannot make us buffer without bound.
 */
#include "core/sg.h"

#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>

#include <curl/curl.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/clock.h"
#include "http/client.h"

struct xfer {
    struct sg_http_client *c; /* NULL for sg_http_client_do */
    CURL *easy;
    struct curl_slist *hdrs;
    sg_http_done_fn done;
    void *arg;
    struct sg_buf body;
    struct sg_buf headers;
    bool too_big;
    bool blocked;
    bool deny_private;
    bool has_retry_after;
    char retry_after[SG_HTTP_RETRY_AFTER_MAX];
    char errbuf[CURL_ERROR_SIZE];
    int64_t start_ms;
    struct xfer *prev;
    struct xfer *next;
};

struct sg_http_client {
    struct sg_http_client_cfg cfg;
    char *user_agent;
    CURLM *multi;
    struct xfer *head;
    size_t pending;
};

static char empty[1];

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_FAILED_INIT;

static void global_init(void)
{
    global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static int ensure_global(struct sg_err *err)
{
    pthread_once(&global_once, global_init);
    if (global_rc != CURLE_OK)
        return sg_err_set(err, SG_EIO, "curl_global_init failed");
    return 0;
}

const char *sg_http_transport_name(int transport)
{
    static const char *const names[] = {
        "ok",  "timeout", "refused",   "reset", "got_nothing", "dns",
        "tls", "too_big", "cancelled", "other", "blocked",
    };

    if (transport < 0 || (size_t)transport >= SG_ARRAY_SIZE(names))
        return "other";
    return names[transport];
}

void sg_http_client_cfg_defaults(struct sg_http_client_cfg *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->body_max = 1024 * 1024;
    cfg->headers_max = 32 * 1024;
    cfg->connect_timeout_ms = 5000;
    cfg->default_timeout_ms = 10000;
    cfg->conns_max = 64;
    cfg->host_conns_max = 0;
    cfg->user_agent = NULL;
}

/* ---- response helpers ---- */

static bool ieq(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char x = a[i], y = b[i];

        if (x >= 'A' && x <= 'Z')
            x = (char)(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z')
            y = (char)(y - 'A' + 'a');
        if (x != y)
            return false;
    }
    return true;
}

static bool blank(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

const char *sg_http_response_header(const struct sg_http_response *resp,
                                    const char *name, size_t *len_out)
{
    const char *p = resp->headers;
    const char *end = p ? p + resp->headers_len : NULL;
    size_t nlen = strlen(name);

    while (p && p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = eol ? eol : end;

        if ((size_t)(line_end - p) > nlen && p[nlen] == ':' &&
            ieq(p, name, nlen)) {
            const char *v = p + nlen + 1;
            const char *ve = line_end;

            while (v < ve && blank(*v))
                v++;
            while (ve > v && blank(ve[-1]))
                ve--;
            if (len_out)
                *len_out = (size_t)(ve - v);
            return v;
        }
        p = eol ? eol + 1 : end;
    }
    return NULL;
}

void sg_http_response_release(struct sg_http_response *resp)
{
    if (!resp)
        return;
    sg_free(resp->body);
    sg_free(resp->headers);
    resp->body = NULL;
    resp->headers = NULL;
    resp->body_len = 0;
    resp->headers_len = 0;
}

/* ---- curl callbacks ---- */

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct xfer *x = userdata;
    size_t n = size * nmemb;

    if (sg_buf_append(&x->body, ptr, n) < 0) {
        x->too_big = true;
        return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    return n;
}

static void capture_retry_after(struct xfer *x, const char *line, size_t n)
{
    static const char name[] = "retry-after:";
    const char *v, *ve;
    size_t len;

    if (n < sizeof(name) - 1 || !ieq(line, name, sizeof(name) - 1))
        return;
    v = line + sizeof(name) - 1;
    ve = line + n;
    while (v < ve && blank(*v))
        v++;
    while (ve > v && blank(ve[-1]))
        ve--;
    len = (size_t)(ve - v);
    x->has_retry_after = true;
    /* Too long to be valid: keep it empty so parsing fails safely. */
    if (len >= sizeof(x->retry_after))
        len = 0;
    memcpy(x->retry_after, v, len);
    x->retry_after[len] = '\0';
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct xfer *x = userdata;
    size_t n = size * nmemb;

    /* A new status line starts a new response (after 1xx): forget the
     * previous header block. */
    if (n >= 5 && memcmp(ptr, "HTTP/", 5) == 0) {
        sg_buf_reset(&x->headers);
        x->has_retry_after = false;
        x->retry_after[0] = '\0';
    }
    if (sg_buf_append(&x->headers, ptr, n) < 0) {
        x->too_big = true;
        return 0;
    }
    capture_retry_after(x, ptr, n);
    return n;
}

/* ---- address policy ---- */

static bool v4_in(uint32_t a, uint32_t net, int bits)
{
    uint32_t mask = bits == 0 ? 0 : ~UINT32_C(0) << (32 - bits);

    return (a & mask) == net;
}

static bool v4_private(uint32_t a)
{
    return v4_in(a, 0x00000000u, 8) ||  /* "this network" */
           v4_in(a, 0x0a000000u, 8) ||  /* 10/8 */
           v4_in(a, 0x7f000000u, 8) ||  /* 127/8 loopback */
           v4_in(a, 0xa9fe0000u, 16) || /* 169.254/16 link-local */
           v4_in(a, 0xac100000u, 12) || /* 172.16/12 */
           v4_in(a, 0xc0a80000u, 16) || /* 192.168/16 */
           v4_in(a, 0x64400000u, 10) || /* 100.64/10 CGNAT */
           v4_in(a, 0xe0000000u, 3);    /* multicast, reserved, broadcast */
}

bool sg_http_addr_is_private(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in =
            (const struct sockaddr_in *)(const void *)sa;

        return v4_private(ntohl(in->sin_addr.s_addr));
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 =
            (const struct sockaddr_in6 *)(const void *)sa;
        const unsigned char *b = in6->sin6_addr.s6_addr;
        static const unsigned char mapped[12] = {0, 0, 0, 0, 0,    0,
                                                 0, 0, 0, 0, 0xff, 0xff};
        bool zero10 = true;

        for (int i = 0; i < 10; i++)
            zero10 = zero10 && b[i] == 0;
        if (memcmp(b, mapped, 12) == 0)
            return v4_private((uint32_t)b[12] << 24 | (uint32_t)b[13] << 16 |
                              (uint32_t)b[14] << 8 | b[15]);
        if (zero10 && b[10] == 0 && b[11] == 0 && b[12] == 0 && b[13] == 0 &&
            b[14] == 0 && b[15] <= 1)
            return true;                                /* :: and ::1 */
        return (b[0] & 0xfe) == 0xfc ||                 /* fc00::/7 ULA */
               (b[0] == 0xfe && (b[1] & 0xc0) == 0x80); /* fe80::/10 */
    }
    return true; /* unknown families are not allowed out */
}

static curl_socket_t open_socket(void *clientp, curlsocktype purpose,
                                 struct curl_sockaddr *addr)
{
    struct xfer *x = clientp;

    if (purpose == CURLSOCKTYPE_IPCXN && x->deny_private &&
        sg_http_addr_is_private(&addr->addr)) {
        x->blocked = true;
        return CURL_SOCKET_BAD;
    }
    return socket(addr->family, addr->socktype, addr->protocol);
}

/* ---- transfers ---- */

static bool method_ok(const char *m)
{
    size_t n = m ? strlen(m) : 0;

    if (n == 0 || n > 16)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (m[i] < 'A' || m[i] > 'Z')
            return false;
    }
    return true;
}

static void xfer_free(struct xfer *x)
{
    if (!x)
        return;
    if (x->easy)
        curl_easy_cleanup(x->easy);
    curl_slist_free_all(x->hdrs);
    sg_buf_release(&x->body);
    sg_buf_release(&x->headers);
    sg_free(x);
}

static int add_header(struct xfer *x, const char *h)
{
    struct curl_slist *l = curl_slist_append(x->hdrs, h);

    if (!l)
        return SG_ENOMEM;
    x->hdrs = l;
    return 0;
}

/* Build an easy handle for req. On error *out is NULL. */
static int xfer_new(struct xfer **out, const struct sg_http_client_cfg *cfg,
                    const char *user_agent, const struct sg_http_request *req,
                    struct sg_err *err)
{
    struct xfer *x;
    CURL *e;
    unsigned timeout_ms;
    bool ok = true;
    int rc;

    *out = NULL;
    if (!method_ok(req->method) || !req->url ||
        (strncmp(req->url, "http://", 7) != 0 &&
         strncmp(req->url, "https://", 8) != 0))
        return sg_err_set(err, SG_EINVAL, "bad method or url");
    x = sg_calloc(1, sizeof(*x));
    if (!x)
        return sg_err_set(err, SG_ENOMEM, "out of memory");
    sg_buf_init(&x->body, cfg->body_max);
    sg_buf_init(&x->headers, cfg->headers_max);
    x->easy = e = curl_easy_init();
    if (!e) {
        rc = sg_err_set(err, SG_ENOMEM, "curl_easy_init failed");
        goto fail;
    }
    /* "Expect:" stops curl from waiting for 100-continue on big bodies. */
    rc = add_header(x, "Expect:");
    for (size_t i = 0; rc == 0 && req->headers && req->headers[i]; i++)
        rc = add_header(x, req->headers[i]);
    if (rc < 0) {
        sg_err_set(err, rc, "out of memory");
        goto fail;
    }
    timeout_ms = req->timeout_ms ? req->timeout_ms : cfg->default_timeout_ms;

    ok = ok && curl_easy_setopt(e, CURLOPT_URL, req->url) == CURLE_OK;
    ok = ok &&
         curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK;
    ok = ok && curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK;
    ok = ok && curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) == CURLE_OK;
    ok = ok &&
         curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)timeout_ms) == CURLE_OK;
    ok = ok && curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                                (long)SG_MIN(cfg->connect_timeout_ms,
                                             timeout_ms)) == CURLE_OK;
    ok = ok && curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L) == CURLE_OK;
    ok = ok && curl_easy_setopt(e, CURLOPT_USERAGENT, user_agent) == CURLE_OK;
    ok = ok && curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->hdrs) == CURLE_OK;
    ok = ok && curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf) == CURLE_OK;
    ok = ok && curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body) == CURLE_OK;
    ok = ok && curl_easy_setopt(e, CURLOPT_WRITEDATA, x) == CURLE_OK;
    ok = ok &&
         curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header) == CURLE_OK;
    ok = ok && curl_easy_setopt(e, CURLOPT_HEADERDATA, x) == CURLE_OK;
    ok = ok && curl_easy_setopt(e, CURLOPT_PRIVATE, x) == CURLE_OK;
    x->deny_private = cfg->deny_private;
    ok = ok && curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, open_socket) ==
                   CURLE_OK;
    ok = ok && curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, x) == CURLE_OK;
    if (req->body || strcmp(req->method, "POST") == 0) {
        ok = ok && curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
                                    (curl_off_t)req->body_len) == CURLE_OK;
        /*
         * A borrowed body is sent from the caller's buffer: an events
         * batch is about 470 KB, and curl's copy of it (an allocation
         * and a copy, with its page faults) was a sixth of the
         * dispatcher's CPU in bench/events.
         */
        if (req->body_borrowed && req->body)
            ok = ok && curl_easy_setopt(e, CURLOPT_POSTFIELDS, req->body) ==
                           CURLE_OK;
        else
            ok = ok && curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS,
                                        req->body ? req->body : "") ==
                           CURLE_OK;
        if (strcmp(req->method, "POST") != 0)
            ok = ok && curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST,
                                        req->method) == CURLE_OK;
    } else if (strcmp(req->method, "HEAD") == 0) {
        ok = ok && curl_easy_setopt(e, CURLOPT_NOBODY, 1L) == CURLE_OK;
    } else if (strcmp(req->method, "GET") != 0) {
        ok = ok && curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, req->method) ==
                       CURLE_OK;
    }
    if (!ok) {
        rc = sg_err_set(err, SG_EINVAL, "request options rejected");
        goto fail;
    }
    x->start_ms = sg_mono_ms();
    *out = x;
    return 0;
fail:
    xfer_free(x);
    return rc;
}

static int classify(CURLcode cc, bool too_big, bool blocked)
{
    if (blocked && cc != CURLE_OK)
        return SG_HTTP_BLOCKED;
    if (too_big)
        return SG_HTTP_TOO_BIG;
    switch (cc) {
    case CURLE_OK:
        return SG_HTTP_OK;
    case CURLE_OPERATION_TIMEDOUT:
        return SG_HTTP_TIMEOUT;
    case CURLE_COULDNT_CONNECT:
        return SG_HTTP_REFUSED;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return SG_HTTP_DNS;
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return SG_HTTP_RESET;
    case CURLE_GOT_NOTHING:
        return SG_HTTP_GOT_NOTHING;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_SHUTDOWN_FAILED:
        return SG_HTTP_TLS;
    default:
        return SG_HTTP_OTHER;
    }
}

/* Fill resp from a finished transfer; the buffers stay in x. */
static void fill_response(struct sg_http_response *resp, struct xfer *x,
                          CURLcode cc)
{
    long status = 0;
    long req_size = 0;

    memset(resp, 0, sizeof(*resp));
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(x->easy, CURLINFO_REQUEST_SIZE, &req_size);
    resp->transport = classify(cc, x->too_big, x->blocked);
    resp->status = status;
    resp->sent = req_size > 0 && !x->blocked;
    resp->body = x->body.data ? x->body.data : empty;
    resp->body_len = x->body.len;
    resp->headers = x->headers.data ? x->headers.data : empty;
    resp->headers_len = x->headers.len;
    resp->has_retry_after = x->has_retry_after;
    memcpy(resp->retry_after, x->retry_after, sizeof(resp->retry_after));
    resp->elapsed_ms = sg_mono_ms() - x->start_ms;
    if (cc != CURLE_OK)
        snprintf(resp->error, sizeof(resp->error), "%s",
                 x->errbuf[0] ? x->errbuf : curl_easy_strerror(cc));
}

/* ---- the client ---- */

int sg_http_client_new(struct sg_http_client **out,
                       const struct sg_http_client_cfg *cfg, struct sg_err *err)
{
    struct sg_http_client *c;
    int rc;

    *out = NULL;
    rc = ensure_global(err);
    if (rc < 0)
        return rc;
    c = sg_calloc(1, sizeof(*c));
    if (!c)
        return sg_err_set(err, SG_ENOMEM, "out of memory");
    if (cfg)
        c->cfg = *cfg;
    else
        sg_http_client_cfg_defaults(&c->cfg);
    c->cfg.user_agent = NULL;
    c->user_agent = sg_strdup(cfg && cfg->user_agent ? cfg->user_agent
                                                     : "surge/" SG_VERSION);
    c->multi = curl_multi_init();
    if (!c->user_agent || !c->multi) {
        sg_http_client_free(c);
        return sg_err_set(err, SG_ENOMEM, "out of memory");
    }
    curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, (long)c->cfg.conns_max);
    curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
                      (long)c->cfg.host_conns_max);
    *out = c;
    return 0;
}

static void unlink_xfer(struct sg_http_client *c, struct xfer *x)
{
    if (x->prev)
        x->prev->next = x->next;
    else
        c->head = x->next;
    if (x->next)
        x->next->prev = x->prev;
    c->pending--;
}

static void complete(struct sg_http_client *c, struct xfer *x, CURLcode cc,
                     bool cancelled)
{
    struct sg_http_response resp;

    curl_multi_remove_handle(c->multi, x->easy);
    unlink_xfer(c, x);
    fill_response(&resp, x, cc);
    if (cancelled)
        resp.transport = SG_HTTP_CANCELLED;
    x->done(x->arg, &resp);
    xfer_free(x);
}

void sg_http_client_free(struct sg_http_client *c)
{
    if (!c)
        return;
    while (c->head)
        complete(c, c->head, CURLE_ABORTED_BY_CALLBACK, true);
    if (c->multi)
        curl_multi_cleanup(c->multi);
    sg_free(c->user_agent);
    sg_free(c);
}

int sg_http_client_submit(struct sg_http_client *c,
                          const struct sg_http_request *req,
                          sg_http_done_fn done, void *arg, struct sg_err *err)
{
    struct xfer *x;
    int rc;

    rc = xfer_new(&x, &c->cfg, c->user_agent, req, err);
    if (rc < 0)
        return rc;
    x->c = c;
    x->done = done;
    x->arg = arg;
    if (curl_multi_add_handle(c->multi, x->easy) != CURLM_OK) {
        xfer_free(x);
        return sg_err_set(err, SG_EIO, "curl_multi_add_handle failed");
    }
    x->next = c->head;
    if (c->head)
        c->head->prev = x;
    c->head = x;
    c->pending++;
    return 0;
}

static int perform(struct sg_http_client *c)
{
    int running = 0;
    int left = 0;
    CURLMsg *m;

    if (curl_multi_perform(c->multi, &running) != CURLM_OK)
        return SG_EIO;
    while ((m = curl_multi_info_read(c->multi, &left)) != NULL) {
        char *priv = NULL;

        if (m->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
        if (priv)
            complete(c, (struct xfer *)(void *)priv, m->data.result, false);
    }
    return 0;
}

int sg_http_client_run(struct sg_http_client *c, int timeout_ms)
{
    int rc;

    rc = perform(c);
    if (rc < 0)
        return rc;
    if (timeout_ms < 0)
        timeout_ms = 0;
    if (curl_multi_poll(c->multi, NULL, 0, timeout_ms, NULL) != CURLM_OK)
        return SG_EIO;
    return perform(c);
}

void sg_http_client_wakeup(struct sg_http_client *c)
{
    curl_multi_wakeup(c->multi);
}

size_t sg_http_client_pending(const struct sg_http_client *c)
{
    return c->pending;
}

int sg_http_client_do(struct sg_http_response *out,
                      const struct sg_http_request *req,
                      const struct sg_http_client_cfg *cfg, struct sg_err *err)
{
    struct sg_http_client_cfg def;
    struct xfer *x;
    CURLcode cc;
    int rc;

    memset(out, 0, sizeof(*out));
    rc = ensure_global(err);
    if (rc < 0)
        return rc;
    if (!cfg) {
        sg_http_client_cfg_defaults(&def);
        cfg = &def;
    }
    rc = xfer_new(&x, cfg,
                  cfg->user_agent ? cfg->user_agent : "surge/" SG_VERSION, req,
                  err);
    if (rc < 0)
        return rc;
    cc = curl_easy_perform(x->easy);
    fill_response(out, x, cc);
    /* Hand the buffers to the caller. */
    out->body = sg_buf_detach(&x->body, &out->body_len);
    out->headers = sg_buf_detach(&x->headers, &out->headers_len);
    if (!out->body || !out->headers) {
        sg_http_response_release(out);
        xfer_free(x);
        return sg_err_set(err, SG_ENOMEM, "out of memory");
    }
    xfer_free(x);
    if (out->transport != SG_HTTP_OK) {
        rc = sg_err_set(err, SG_EREMOTE, "%s: %s",
                        sg_http_transport_name(out->transport), out->error);
        if (err)
            err->retryable = out->transport != SG_HTTP_TOO_BIG &&
                             out->transport != SG_HTTP_BLOCKED;
        return rc;
    }
    return 0;
}

int sg_http_url_host(const char *url, char *host, size_t host_size,
                     struct sg_err *err)
{
    CURLU *u;
    CURLUcode uc;
    char *scheme = NULL, *h = NULL;
    const char *p;
    size_t n;
    int rc = 0;

    if (!url)
        return sg_err_set(err, SG_EINVAL, "no url");
    u = curl_url();
    if (!u)
        return sg_err_set(err, SG_ENOMEM, "out of memory");
    uc = curl_url_set(u, CURLUPART_URL, url, 0);
    if (uc == CURLUE_OK)
        uc = curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
    if (uc == CURLUE_OK)
        uc = curl_url_get(u, CURLUPART_HOST, &h, 0);
    if (uc == CURLUE_OUT_OF_MEMORY) {
        /* Not a bad URL: a configured one must not be refused for it
         * (found by the D5 sweep with libcurl's allocations failing). */
        rc = sg_err_set(err, SG_ENOMEM, "out of memory");
        goto out;
    }
    if (uc != CURLUE_OK ||
        (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)) {
        rc = sg_err_set(err, SG_EINVAL, "not an http(s) url");
        goto out;
    }
    p = h;
    n = strlen(h);
    if (n >= 2 && p[0] == '[' && p[n - 1] == ']') {
        p++;
        n -= 2;
    }
    if (n == 0 || n >= host_size) {
        rc = sg_err_set(err, n ? SG_ELIMIT : SG_EINVAL, "bad url host");
        goto out;
    }
    memcpy(host, p, n);
    host[n] = '\0';
out:
    curl_free(scheme);
    curl_free(h);
    curl_url_cleanup(u);
    return rc;
}
