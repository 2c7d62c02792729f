/*
 * events_track.c - the "events.track" job kind (see events_track.h): the
 * call is POST <base>/open_api/v1.3/event/track/ with the Access-Token
 * header and the batch body the feature built; the answer's code decides
 * the verdict.
 */
#include "core/sg.h"

#include <pthread.h>

#include "core/alloc.h"
#include "core/json.h"
#include "jobs/breaker.h"
#include "jobs/dispatcher.h"
#include "jobs/events_track.h"
#include "jobs/kind.h"

static pthread_mutex_t env_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    bool set;
    char *base_url;
    char *access_token;
    struct sg_events_track_env env;
} G;

int sg_events_track_configure(const struct sg_events_track_env *env)
{
    char *url = NULL, *tok = NULL;

    if (env) {
        url = sg_strdup(env->base_url ? env->base_url : "");
        tok = sg_strdup(env->access_token ? env->access_token : "");
        if (!url || !tok) {
            sg_free(url);
            sg_free(tok);
            return SG_ENOMEM;
        }
    }
    pthread_mutex_lock(&env_lock);
    sg_free(G.base_url);
    sg_free(G.access_token);
    memset(&G, 0, sizeof(G));
    if (env) {
        G.set = true;
        G.env = *env;
        G.base_url = url;
        G.access_token = tok;
    }
    pthread_mutex_unlock(&env_lock);
    return 0;
}

int sg_events_track_code_outcome(long code)
{
    switch (code) {
    case 0:
        return SG_EVENTS_TRACK_SENT;
    case 20001:
        return SG_EVENTS_TRACK_PARTIAL;
    case 40100: /* throttled */
    case 40700: /* server error */
        return SG_EVENTS_TRACK_RETRY;
    default:
        return SG_EVENTS_TRACK_REJECTED; /* 40001, 40002, unknown */
    }
}

static int track_prepare(const struct sg_job *job,
                         const struct sg_dispatcher_cfg *cfg, int64_t now_ms,
                         struct sg_job_call *call, struct sg_err *err)
{
    struct sg_events_track_env env;
    char shop[64] = "", *url = NULL, *tok = NULL;
    bool set, oom = false;
    size_t n;
    int rc;

    SG_UNUSED(cfg);
    SG_UNUSED(now_ms);
    pthread_mutex_lock(&env_lock);
    env = G.env;
    set = G.set;
    if (set) {
        url = sg_strdup(G.base_url);
        tok = sg_strdup(G.access_token);
        oom = !url || !tok;
    }
    pthread_mutex_unlock(&env_lock);
    if (oom) {
        /* Not "not configured" (D5): the copies failed, try again. */
        rc = sg_err_set(err, SG_ENOMEM, "out of memory");
        if (err)
            err->retryable = true;
        goto out;
    }
    if (!set || !env.build) {
        rc = sg_err_set(err, SG_ECONFIG, "events API is not configured");
        if (err)
            err->retryable = true; /* a restart with settings sends it */
        goto out;
    }
    if (!*tok) {
        rc = sg_err_set(err, SG_ECONFIG,
                        "[tiktok_events] access_token is not set");
        if (err)
            err->retryable = true;
        goto out;
    }
    rc = env.build(env.ctx, job, &call->body, &call->body_len, shop, err);
    if (rc)
        goto out;
    n = strlen(url);
    while (n && url[n - 1] == '/')
        url[--n] = '\0';
    n += sizeof(SG_EVENTS_TRACK_PATH);
    call->url = sg_alloc(n);
    if (!call->url) {
        rc = sg_err_set(err, SG_ENOMEM, "out of memory");
        if (err)
            err->retryable = true;
        goto out;
    }
    snprintf(call->url, n, "%s%s", url, SG_EVENTS_TRACK_PATH);
    snprintf(call->method, sizeof(call->method), "POST");
    rc = sg_job_call_header(call, "Content-Type", "application/json");
    if (!rc)
        rc = sg_job_call_header(call, "Access-Token", tok);
    if (rc) {
        rc = sg_err_set(err, rc, "%s",
                        rc == SG_ENOMEM
                            ? "out of memory"
                            : "access token holds control characters");
        goto out;
    }
    snprintf(call->platform, sizeof(call->platform), "tiktok_events");
    snprintf(call->shop, sizeof(call->shop), "%s", shop);
    snprintf(call->endpoint_class, sizeof(call->endpoint_class), "track");
out:
    sg_free(url);
    if (tok) {
        memset(tok, 0, strlen(tok));
        sg_free(tok);
    }
    return rc;
}

static int report(const struct sg_job *job, int outcome, long code,
                  const json_t *resp, const char *reason)
{
    struct sg_events_track_env env;
    struct sg_events_track_result r;

    pthread_mutex_lock(&env_lock);
    env = G.env;
    pthread_mutex_unlock(&env_lock);
    if (!env.result)
        return 0;
    r.outcome = outcome;
    r.code = code;
    r.resp = resp;
    r.reason = reason;
    return env.result(env.ctx, job, &r);
}

/*
 * Report the outcome; when it cannot be recorded, finishing the job
 * would leave its batch unconfirmed for good (found by the D5 sweep: an
 * allocation failure there lost a sent batch's outcome under a DONE
 * job). Retry instead: the next attempt sends the same batch, with the
 * same event_ids, which TikTok deduplicates.
 */
static void settle(const struct sg_job *job, int outcome, long code,
                   const json_t *resp, struct sg_job_outcome *out)
{
    char was[sizeof(out->reason)];

    if (report(job, outcome, code, resp, out->reason) == 0 ||
        out->verdict == SG_JOB_VERDICT_RETRY)
        return;
    snprintf(was, sizeof(was), "%s", out->reason);
    out->verdict = SG_JOB_VERDICT_RETRY;
    out->breaker = SG_BREAKER_NEUTRAL;
    out->rate_limited = false;
    snprintf(out->reason, sizeof(out->reason),
             "outcome not recorded, sent again: %.200s", was);
}

static void track_classify(const struct sg_job *job,
                           const struct sg_http_response *resp,
                           int64_t now_ms, const struct sg_dispatcher_cfg *cfg,
                           struct sg_job_outcome *out)
{
    json_t *doc = NULL;
    const char *msg;
    long code;
    int oc;

    sg_job_classify_http(resp, now_ms, cfg->retry_after_max_ms, out);
    if (out->verdict != SG_JOB_VERDICT_SUCCESS) {
        /* HTTP-level failure: 429/5xx/transport retry, other 4xx dead. */
        settle(job,
               out->verdict == SG_JOB_VERDICT_DEAD ? SG_EVENTS_TRACK_REJECTED
                                                   : SG_EVENTS_TRACK_RETRY,
               -1, NULL, out);
        return;
    }
    if (sg_json_parse(&doc, resp->body ? resp->body : "", resp->body_len,
                      SG_JSON_DEPTH_DEFAULT, NULL, NULL) != 0 ||
        !json_is_object(doc) || !json_is_integer(json_object_get(doc, "code"))) {
        out->verdict = SG_JOB_VERDICT_RETRY;
        out->breaker = SG_BREAKER_FAILURE;
        snprintf(out->reason, sizeof(out->reason),
                 "http %ld without an Events API envelope", resp->status);
        settle(job, SG_EVENTS_TRACK_RETRY, -1, NULL, out);
        json_decref(doc);
        return;
    }
    code = (long)json_integer_value(json_object_get(doc, "code"));
    msg = sg_json_str(doc, "message");
    oc = sg_events_track_code_outcome(code);
    snprintf(out->reason, sizeof(out->reason), "tiktok %ld: %.200s", code,
             msg ? msg : "");
    switch (oc) {
    case SG_EVENTS_TRACK_SENT:
    case SG_EVENTS_TRACK_PARTIAL:
        out->verdict = SG_JOB_VERDICT_SUCCESS;
        out->breaker = SG_BREAKER_SUCCESS;
        break;
    case SG_EVENTS_TRACK_RETRY:
        out->verdict = SG_JOB_VERDICT_RETRY;
        if (code == 40100) {
            out->rate_limited = true;
            out->breaker = SG_BREAKER_NEUTRAL;
        } else {
            out->breaker = SG_BREAKER_FAILURE;
        }
        break;
    default:
        out->verdict = SG_JOB_VERDICT_DEAD;
        out->breaker = SG_BREAKER_NEUTRAL;
        break;
    }
    settle(job, oc, code, doc, out);
    json_decref(doc);
}

const struct sg_job_kind_ops sg_job_kind_events_track = {
    .version = SG_JOB_KIND_OPS_VERSION,
    .kind = "events.track",
    .prepare = track_prepare,
    .classify = track_classify,
};
