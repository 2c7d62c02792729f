/*
 * urlcheck.c - resolve a configured URL's host and refuse non-public
 * destinations (see urlcheck.h).
 */
#include "core/sg.h"
#include "http/urlcheck.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "http/client.h"

static void addr_text(const struct sockaddr *sa, char *out, size_t size)
{
    const void *a = NULL;

    if (sa->sa_family == AF_INET)
        a = &((const struct sockaddr_in *)(const void *)sa)->sin_addr;
    else if (sa->sa_family == AF_INET6)
        a = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
    if (!a || !inet_ntop(sa->sa_family, a, out, (socklen_t)size))
        snprintf(out, size, "?");
}

int sg_http_url_check(const char *url, bool allow_private, const char *what,
                      struct sg_err *err)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM};
    struct addrinfo *ai = NULL, *p;
    char host[256], addr[INET6_ADDRSTRLEN];
    int rc;

    if (!url || !url[0])
        return 0;
    rc = sg_http_url_host(url, host, sizeof(host), err);
    if (rc == SG_ENOMEM)
        return rc;
    if (rc < 0)
        return sg_err_set(err, SG_ECONFIG,
                          "%s: not an absolute http:// or https:// URL",
                          what);
    if (allow_private)
        return 0;
    if (getaddrinfo(host, NULL, &hints, &ai) != 0)
        return 0;
    rc = 0;
    for (p = ai; p && rc == 0; p = p->ai_next) {
        if (!sg_http_addr_is_private(p->ai_addr))
            continue;
        addr_text(p->ai_addr, addr, sizeof(addr));
        rc = sg_err_set(err, SG_ECONFIG,
                        "%s: %.80s resolves to %s, a loopback, private or "
                        "link-local address; set [security] "
                        "allow_private_urls = true to allow it",
                        what, host, addr);
    }
    freeaddrinfo(ai);
    return rc;
}
