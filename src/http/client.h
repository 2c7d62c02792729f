/*
 * client.h - outbound HTTP: the only user of libcurl in Surge.
 *
 * One sg_http_client owns one curl multi handle, so connections are kept
 * alive and reused across requests. Requests are submitted and driven by
 * a single thread (the owner), which calls sg_http_client_run() in its
 * loop; completion callbacks run on that thread. Other threads may only
 * call sg_http_client_wakeup(). Every response body is capped and every
 * request has a timeout. No redirects are followed; only http and https.
 */
#ifndef SG_HTTP_CLIENT_H
#define SG_HTTP_CLIENT_H

#include "core/err.h"
#include "core/sg.h"

#define SG_HTTP_RETRY_AFTER_MAX 128 /* bytes kept of a Retry-After value */

struct sg_http_client;

/* How a transfer ended below HTTP. */
enum sg_http_transport {
    SG_HTTP_OK = 0,          /* a complete response arrived */
    SG_HTTP_TIMEOUT = 1,     /* connect or total timeout */
    SG_HTTP_REFUSED = 2,     /* could not connect (nothing was sent) */
    SG_HTTP_RESET = 3,       /* send/receive failed mid-way */
    SG_HTTP_GOT_NOTHING = 4, /* peer closed without a response */
    SG_HTTP_DNS = 5,         /* host name did not resolve */
    SG_HTTP_TLS = 6,         /* handshake or certificate failure */
    SG_HTTP_TOO_BIG = 7,     /* body or headers over the cap; aborted */
    SG_HTTP_CANCELLED = 8,   /* the client was freed first */
    SG_HTTP_OTHER = 9,
    SG_HTTP_BLOCKED = 10, /* address refused by deny_private; not sent */
};

const char *sg_http_transport_name(int transport);

struct sg_http_client_cfg {
    size_t body_max;    /* response body cap (bytes) */
    size_t headers_max; /* response header bytes kept */
    unsigned connect_timeout_ms;
    unsigned default_timeout_ms; /* when a request says 0 */
    unsigned conns_max;          /* cached connections, all hosts */
    unsigned host_conns_max;     /* parallel connections per host, 0 = any */
    const char *user_agent;      /* copied; NULL = "surge/<version>" */
    /*
     * Refuse to connect to loopback, private, link-local, CGNAT and
     * unspecified addresses (checked on the resolved address, so DNS
     * tricks do not get around it). Off in the defaults; the daemon
     * turns it on unless [security] allow_private_urls is set.
     */
    bool deny_private;
};

void sg_http_client_cfg_defaults(struct sg_http_client_cfg *cfg);

/*
 * A request. Everything is copied at submit time, except the body when
 * body_borrowed is set: then the caller keeps it alive and unchanged
 * until the completion callback has been called (the dispatcher's task
 * owns its body that long), and the client sends it from there.
 */
struct sg_http_request {
    const char *method;         /* "GET", "POST", ... */
    const char *url;            /* http:// or https:// */
    const char *const *headers; /* "Name: value" strings, NULL-ended */
    const char *body;           /* may be NULL */
    size_t body_len;
    unsigned timeout_ms; /* whole transfer; 0 = client default */
    bool body_borrowed;  /* body outlives the transfer: not copied */
};

/*
 * A response, or the reason there is none. In a completion callback it is
 * borrowed for the duration of the call; from sg_http_client_do() it is
 * the caller's, to release with sg_http_response_release().
 */
struct sg_http_response {
    int transport; /* enum sg_http_transport */
    long status;   /* HTTP status, 0 if none arrived */
    bool sent;     /* may the request have reached the peer? */
    char *body;    /* NUL-terminated, at most body_max bytes */
    size_t body_len;
    char *headers; /* raw header block of the final response */
    size_t headers_len;
    bool has_retry_after;
    char retry_after[SG_HTTP_RETRY_AFTER_MAX]; /* raw, trimmed */
    int64_t elapsed_ms;
    char error[256]; /* libcurl's detail for transport errors */
};

/* The value of response header name (case-insensitive), borrowed from
 * resp->headers and not NUL-terminated; NULL when absent. */
const char *sg_http_response_header(const struct sg_http_response *resp,
                                    const char *name, size_t *len_out);
void sg_http_response_release(struct sg_http_response *resp);

/* Called once per submitted request, on the owner thread. */
typedef void (*sg_http_done_fn)(void *arg, const struct sg_http_response *resp);

/* Create a client. Calls curl_global_init once per process. */
int sg_http_client_new(struct sg_http_client **out,
                       const struct sg_http_client_cfg *cfg,
                       struct sg_err *err);
/*
 * Abort all transfers (their callbacks run with SG_HTTP_CANCELLED) and
 * free the client. NULL-safe. Owner thread.
 */
void sg_http_client_free(struct sg_http_client *c);

/*
 * Start a request. On 0, done will be called exactly once from a later
 * sg_http_client_run() (or sg_http_client_free()). On error (SG_EINVAL
 * for a bad method/url, SG_ENOMEM, SG_EIO) done is not called. Owner
 * thread.
 */
int sg_http_client_submit(struct sg_http_client *c,
                          const struct sg_http_request *req,
                          sg_http_done_fn done, void *arg, struct sg_err *err);

/*
 * Wait up to timeout_ms for network activity or a wakeup, move transfers
 * along and run the callbacks of those that finished. Returns 0 or SG_EIO.
 * Owner thread.
 */
int sg_http_client_run(struct sg_http_client *c, int timeout_ms);

/* Make a sleeping sg_http_client_run() return early. Any thread. */
void sg_http_client_wakeup(struct sg_http_client *c);

/* Requests submitted and not yet completed. */
size_t sg_http_client_pending(const struct sg_http_client *c);

/*
 * One blocking request (for the CLI): *out is filled (transport errors
 * included) and owned by the caller. Returns 0 when out holds an HTTP
 * response of any status, SG_EREMOTE when the transport failed (details
 * in out and err), SG_EINVAL/SG_ENOMEM before anything was sent. cfg may
 * be NULL for the defaults.
 */
int sg_http_client_do(struct sg_http_response *out,
                      const struct sg_http_request *req,
                      const struct sg_http_client_cfg *cfg, struct sg_err *err);

struct sockaddr;
/* Is this a loopback/private/link-local/CGNAT/unspecified address? */
bool sg_http_addr_is_private(const struct sockaddr *sa);

/*
 * Check that url is an absolute http(s) URL and copy its host (no port,
 * IPv6 without brackets) into host. SG_EINVAL otherwise; SG_ELIMIT when
 * the host does not fit; SG_ENOMEM.
 */
int sg_http_url_host(const char *url, char *host, size_t host_size,
                     struct sg_err *err);

#endif
