/*
 * notify_http.c - the "notify.http" job kind: POST a signed JSON event to
 * a configured URL (a webhook for the operator's own systems).
 *
 * The body is rebuilt and re-signed on every attempt (sent_at and attempt
 * change), while Idempotency-Key stays the same across attempts, so the
 * receiver can drop duplicates. Wire format: docs/internals/jobs.md.
 */
#include "core/sg.h"

#include "core/alloc.h"
#include "core/clock.h"
#include "core/crypto.h"
#include "core/json.h"
#include "jobs/dispatcher.h"
#include "jobs/kind.h"

#define NOTIFY_PAYLOAD_MAX (1024 * 1024)

static int build_body(struct sg_job_call *call, const struct sg_job *job,
                      const char *event, json_t *data, int64_t now_ms)
{
    json_t *body = json_object();
    char ts[32];
    int bad = 0;

    if (!body)
        return SG_ENOMEM;
    sg_time_format(now_ms, ts);
    bad |= json_object_set_new(body, "event", json_string(event));
    bad |= json_object_set(body, "data", data);
    bad |= json_object_set_new(body, "job_id", json_integer(job->id));
    bad |= json_object_set_new(body, "attempt", json_integer(job->attempts));
    bad |= json_object_set_new(body, "sent_at", json_string(ts));
    if (!bad)
        call->body = sg_json_dump(body, &call->body_len);
    json_decref(body);
    return call->body ? 0 : SG_ENOMEM;
}

static int sign(struct sg_job_call *call, const char *secret)
{
    char hex[SG_SHA256_HEX_LEN + 1];
    char value[8 + SG_SHA256_HEX_LEN];
    int rc;

    rc = sg_hmac_sha256_hex(secret, strlen(secret), call->body, call->body_len,
                            hex);
    if (rc < 0)
        return rc;
    snprintf(value, sizeof(value), "sha256=%s", hex);
    return sg_job_call_header(call, "X-Surge-Signature", value);
}

static int headers(struct sg_job_call *call, const struct sg_job *job,
                   const char *event)
{
    char id[32], key[40];
    const char *idem = job->idempotency_key;
    int rc;

    snprintf(id, sizeof(id), "%" PRId64, job->id);
    if (!idem || !*idem) {
        snprintf(key, sizeof(key), "job-%" PRId64, job->id);
        idem = key;
    }
    rc = sg_job_call_header(call, "Content-Type", "application/json");
    if (!rc)
        rc = sg_job_call_header(call, "X-Surge-Event", event);
    if (!rc)
        rc = sg_job_call_header(call, "X-Surge-Job-Id", id);
    if (!rc)
        rc = sg_job_call_header(call, "Idempotency-Key", idem);
    return rc;
}

static int notify_prepare(const struct sg_job *job,
                          const struct sg_dispatcher_cfg *cfg, int64_t now_ms,
                          struct sg_job_call *call, struct sg_err *err)
{
    json_t *p = NULL, *data, *jurl;
    const char *url, *event;
    char host[256];
    size_t len = job->payload ? strlen(job->payload) : 0;
    int rc;

    if (len == 0 || len > NOTIFY_PAYLOAD_MAX)
        return sg_err_set(err, SG_EINVAL, "payload empty or too large");
    rc = sg_json_parse(&p, job->payload, len, SG_JSON_DEPTH_DEFAULT, NULL, err);
    if (rc < 0)
        return rc;
    if (!json_is_object(p)) {
        rc = sg_err_set(err, SG_EINVAL, "payload is not a JSON object");
        goto out;
    }
    event = sg_json_str(p, "event");
    if (!event || !*event) {
        rc = sg_err_set(err, SG_EINVAL, "payload has no event");
        goto out;
    }
    jurl = json_object_get(p, "url");
    if (jurl && !json_is_string(jurl) && !json_is_null(jurl)) {
        rc = sg_err_set(err, SG_EINVAL, "payload url is not a string");
        goto out;
    }
    url = json_is_string(jurl) ? json_string_value(jurl) : cfg->notify_url;
    if (!url || !*url) {
        rc = sg_err_set(err, SG_EINVAL, "no notify url configured");
        goto out;
    }
    rc = sg_http_url_host(url, host, sizeof(host), err);
    if (rc == SG_ENOMEM)
        goto out; /* retried: not a bad URL */
    if (rc < 0) {
        rc = sg_err_set(err, SG_EINVAL, "bad notify url");
        goto out;
    }
    data = json_object_get(p, "data");
    snprintf(call->method, sizeof(call->method), "POST");
    call->url = sg_strdup(url);
    rc = call->url
             ? build_body(call, job, event, data ? data : json_null(), now_ms)
             : SG_ENOMEM;
    if (!rc)
        rc = headers(call, job, event);
    if (!rc && cfg->notify_secret && *cfg->notify_secret)
        rc = sign(call, cfg->notify_secret);
    if (rc == SG_EINVAL) {
        sg_err_set(err, rc, "event or idempotency key has control chars");
    } else if (rc < 0) {
        sg_err_set(err, rc, "cannot build the notification");
        if (err)
            err->retryable = true; /* memory may come back */
    }
    snprintf(call->platform, sizeof(call->platform), "notify");
    snprintf(call->shop, sizeof(call->shop), "%.63s", host);
    snprintf(call->endpoint_class, sizeof(call->endpoint_class), "http");
out:
    json_decref(p);
    return rc;
}

static void notify_classify(const struct sg_job *job,
                            const struct sg_http_response *resp, int64_t now_ms,
                            const struct sg_dispatcher_cfg *cfg,
                            struct sg_job_outcome *out)
{
    SG_UNUSED(job);
    sg_job_classify_http(resp, now_ms, cfg->retry_after_max_ms, out);
}

const struct sg_job_kind_ops sg_job_kind_notify_http = {
    .version = SG_JOB_KIND_OPS_VERSION,
    .kind = "notify.http",
    .prepare = notify_prepare,
    .classify = notify_classify,
};
