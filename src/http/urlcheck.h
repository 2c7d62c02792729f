/*
 * urlcheck.h - the outbound URL policy (S10, SSRF): a configured URL
 * whose host resolves to a loopback, private, link-local, CGNAT or
 * otherwise non-public address is refused unless the operator set
 * [security] allow_private_urls = true (the sandbox on loopback needs it).
 *
 * This is the start-up half of the policy; the client's deny_private
 * re-checks every address at connect time, so a name that later resolves
 * elsewhere (DNS rebinding) is still refused.
 */
#ifndef SG_HTTP_URLCHECK_H
#define SG_HTTP_URLCHECK_H

#include "core/sg.h"
#include "core/err.h"

/*
 * Check url (NULL or "" = nothing configured, accepted). what names the
 * setting in the message, e.g. "[notify] url". Every address the host
 * resolves to must be public unless allow_private. A host that does not
 * resolve now is accepted (DNS may be down at start-up; the connect-time
 * check still applies). Returns 0, SG_ECONFIG (not an absolute http(s)
 * URL, or a private destination), with err->msg naming what, or
 * SG_ENOMEM.
 */
int sg_http_url_check(const char *url, bool allow_private, const char *what,
                      struct sg_err *err);

#endif
