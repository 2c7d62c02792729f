/*
 * kind.c - helpers shared by job kinds: building a call and the generic
 * HTTP outcome policy (see docs/internals/jobs.md, "Retry policy").
 */
#include "core/sg.h"

#include "core/alloc.h"
#include "jobs/backoff.h"
#include "jobs/breaker.h"
#include "jobs/kind.h"

static bool clean(const char *s, bool is_name)
{
    if (!s || !*s)
        return !is_name;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;

        if (c < 0x20 || c == 0x7f || (is_name && (c == ':' || c == ' ')))
            return false;
    }
    return true;
}

int sg_job_call_header(struct sg_job_call *call, const char *name,
                       const char *value)
{
    size_t n;
    char *h;

    if (!clean(name, true) || !clean(value, false))
        return SG_EINVAL;
    if (call->n_headers >= SG_JOB_CALL_HEADERS_MAX)
        return SG_ELIMIT;
    n = strlen(name) + strlen(value) + 3;
    h = sg_alloc(n);
    if (!h)
        return SG_ENOMEM;
    snprintf(h, n, "%s: %s", name, value);
    call->headers[call->n_headers++] = h;
    call->headers[call->n_headers] = NULL;
    return 0;
}

void sg_job_call_release(struct sg_job_call *call)
{
    if (!call)
        return;
    sg_free(call->url);
    sg_free(call->body);
    for (size_t i = 0; i < call->n_headers; i++)
        sg_free(call->headers[i]);
    memset(call, 0, sizeof(*call));
}

/* "http 400: <first bytes of the body, printable only>" */
static void reason_from(struct sg_job_outcome *out,
                        const struct sg_http_response *resp)
{
    char snippet[161];
    size_t n = SG_MIN(resp->body_len, sizeof(snippet) - 1);

    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)resp->body[i];

        snippet[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '.';
    }
    snippet[n] = '\0';
    snprintf(out->reason, sizeof(out->reason), "http %ld%s%s", resp->status,
             n ? ": " : "", snippet);
}

void sg_job_classify_http(const struct sg_http_response *resp, int64_t now_ms,
                          int64_t retry_after_max_ms,
                          struct sg_job_outcome *out)
{
    long st = resp->status;
    /* A body over the cap still came with a status: judge by that. */
    bool answered = resp->transport == SG_HTTP_OK ||
                    (resp->transport == SG_HTTP_TOO_BIG && st >= 100);
    int64_t ra;

    memset(out, 0, sizeof(*out));
    out->retry_after_ms = -1;
    out->breaker = SG_BREAKER_NEUTRAL;
    if (resp->has_retry_after &&
        sg_retry_after_parse(resp->retry_after, strlen(resp->retry_after),
                             now_ms, retry_after_max_ms, &ra) == 0)
        out->retry_after_ms = ra;

    if (answered && st >= 200 && st < 300) {
        out->verdict = SG_JOB_VERDICT_SUCCESS;
        out->breaker = SG_BREAKER_SUCCESS;
        snprintf(out->reason, sizeof(out->reason), "http %ld", st);
        return;
    }
    if (resp->transport == SG_HTTP_BLOCKED) {
        out->verdict = SG_JOB_VERDICT_DEAD;
        snprintf(out->reason, sizeof(out->reason),
                 "destination address not allowed (see [security] "
                 "allow_private_urls)");
        return;
    }
    if (!answered) {
        out->verdict = SG_JOB_VERDICT_RETRY;
        out->breaker = resp->transport == SG_HTTP_CANCELLED
                           ? SG_BREAKER_NEUTRAL
                           : SG_BREAKER_FAILURE;
        snprintf(out->reason, sizeof(out->reason), "%s: %.200s",
                 sg_http_transport_name(resp->transport), resp->error);
        return;
    }
    reason_from(out, resp);
    if (st == 429) {
        out->verdict = SG_JOB_VERDICT_RETRY;
        out->rate_limited = true;
    } else if (st >= 500 || st == 408) {
        out->verdict = SG_JOB_VERDICT_RETRY;
        out->breaker = SG_BREAKER_FAILURE;
    } else if (st == 425 || st < 200) {
        out->verdict = SG_JOB_VERDICT_RETRY;
    } else {
        /* 3xx (we follow no redirects) and the other 4xx. */
        out->verdict = SG_JOB_VERDICT_DEAD;
    }
}
