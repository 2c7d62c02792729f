/*
 * kind.h - job kinds: how a job row becomes one HTTP call, and how the
 * answer becomes a verdict.
 *
 * A kind is a const struct of function pointers (designated initializers,
 * version first) listed in the dispatcher's kind table. prepare() turns a
 * claimed job into a struct sg_job_call; classify() maps the response (or
 * transport failure) to success, retry or dead. Both run on the
 * dispatcher thread and must not block.
 */
#ifndef SG_JOBS_KIND_H
#define SG_JOBS_KIND_H

#include "core/err.h"
#include "core/sg.h"

#include "http/client.h"
#include "store/store.h"

#define SG_JOB_KIND_OPS_VERSION 1
#define SG_JOB_CALL_HEADERS_MAX 16

struct sg_dispatcher_cfg;

/* The HTTP call a job makes; every pointer is sg_alloc'd and owned. */
struct sg_job_call {
    char method[8];
    char *url;
    char *headers[SG_JOB_CALL_HEADERS_MAX + 1]; /* NULL-terminated */
    size_t n_headers;
    char *body;
    size_t body_len;
    /* Rate-limit and breaker scope; empty = take the job row's. */
    char platform[32];
    char shop[64];
    char endpoint_class[32];
    unsigned timeout_ms; /* 0 = the dispatcher's request_timeout_ms */
};

/*
 * Append a "Name: value" header. SG_EINVAL when name or value holds a
 * control character (no header injection), SG_ELIMIT past the maximum.
 */
int sg_job_call_header(struct sg_job_call *call, const char *name,
                       const char *value);
void sg_job_call_release(struct sg_job_call *call);

enum sg_job_verdict {
    SG_JOB_VERDICT_SUCCESS = 0,
    SG_JOB_VERDICT_RETRY = 1,
    SG_JOB_VERDICT_DEAD = 2,
};

struct sg_job_outcome {
    int verdict;            /* enum sg_job_verdict */
    int breaker;            /* enum sg_breaker_outcome */
    bool rate_limited;      /* pause the whole bucket (429) */
    int64_t retry_after_ms; /* the remote's hint, -1 if none */
    char reason[256];       /* for last_error; never a secret */
};

struct sg_job_kind_ops {
    unsigned int version; /* SG_JOB_KIND_OPS_VERSION; append-only below */
    const char *kind;     /* matches sg_job.kind */
    /*
     * Build the call. Return 0, or an SG_E* with err set: the job goes
     * DEAD with err->msg, unless err->retryable, when it is retried.
     */
    int (*prepare)(const struct sg_job *job,
                   const struct sg_dispatcher_cfg *cfg, int64_t now_ms,
                   struct sg_job_call *call, struct sg_err *err);
    /* Decide what the answer means. Must fill every field of out. */
    void (*classify)(const struct sg_job *job,
                     const struct sg_http_response *resp, int64_t now_ms,
                     const struct sg_dispatcher_cfg *cfg,
                     struct sg_job_outcome *out);
};

/*
 * The generic HTTP policy: 2xx success; 429 retry + pause the bucket
 * (Retry-After honoured, capped at retry_after_max_ms); 408, 425, 5xx
 * and transport failures retry; 3xx and other 4xx are dead with the
 * status and the start of the body, and so is a call refused by the
 * private-address policy. 5xx, 408 and transport failures
 * count against the breaker; 429 and 4xx do not.
 */
void sg_job_classify_http(const struct sg_http_response *resp, int64_t now_ms,
                          int64_t retry_after_max_ms,
                          struct sg_job_outcome *out);

/* Built-in kinds. */
extern const struct sg_job_kind_ops sg_job_kind_notify_http;
extern const struct sg_job_kind_ops sg_job_kind_events_track;

#endif
