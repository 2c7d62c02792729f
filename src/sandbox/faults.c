/*
 * faults.c - injected faults and the rate limiter. Faults are picked per
 * call from the list in order; a rate fault draws from the seeded stream
 * (sg_sbx_rand), so the same seed and the same call sequence fault the
 * same calls. The limiter is a token bucket per app + shop + endpoint on
 * the monotonic clock (rate limits are about real request speed).
 * Lock: the state lock, held by the callers.
 */
#include "core/sg.h"
#include "sandbox/internal.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/json.h"

static const struct {
    const char *name;
    int kind;
} kinds[] = {
    {"429", SG_SBX_FAULT_429},
    {"429_retry_after", SG_SBX_FAULT_429_RETRY_AFTER},
    {"500", SG_SBX_FAULT_500},
    {"reset", SG_SBX_FAULT_RESET},
    {"stall", SG_SBX_FAULT_STALL},
    {"drop_after_commit", SG_SBX_FAULT_DROP_AFTER_COMMIT},
};

static int parse_one(struct sg_sbx_fault *f, const json_t *j,
                     struct sg_err *err)
{
    static const char *const known[] = {"path",  "kind",          "rate",
                                        "count", "retry_after_s", "stall_ms"};
    const char *path = sg_json_str(j, "path");
    const char *kind = sg_json_str(j, "kind");
    json_t *rate = json_object_get(j, "rate");
    json_t *count = json_object_get(j, "count");
    const char *bad = sg_json_unknown_key(j, known, SG_ARRAY_SIZE(known));

    memset(f, 0, sizeof(*f));
    /* A misspelt "rate" would otherwise fault every call (rate 1). */
    if (!json_is_object(j))
        return sg_err_set(err, SG_EINVAL, "a fault is a JSON object");
    if (bad)
        return sg_err_set(err, SG_EINVAL, "unknown fault field \"%s\"", bad);
    if ((rate && !json_is_number(rate)) ||
        (count && (!json_is_integer(count) || json_integer_value(count) < 0)))
        return sg_err_set(err, SG_EINVAL,
                          "rate must be a number, count a whole number >= 0");
    for (size_t i = 4; i < SG_ARRAY_SIZE(known); i++) {
        json_t *v = json_object_get(j, known[i]);

        if (v && (!json_is_integer(v) || json_integer_value(v) < 0))
            return sg_err_set(err, SG_EINVAL, "%s must be a whole number >= 0",
                              known[i]);
    }
    if (!path || strlen(path) >= sizeof(f->path))
        return sg_err_set(err, SG_EINVAL, "fault needs a path");
    snprintf(f->path, sizeof(f->path), "%s", path);
    for (size_t i = 0; kind && i < SG_ARRAY_SIZE(kinds); i++)
        if (strcmp(kinds[i].name, kind) == 0)
            f->kind = kinds[i].kind;
    if (!f->kind)
        return sg_err_set(err, SG_EINVAL, "unknown fault kind");
    f->rate = -1;
    f->count = -1;
    if (json_is_number(rate)) {
        f->rate = json_number_value(rate);
        if (f->rate < 0 || f->rate > 1)
            return sg_err_set(err, SG_EINVAL, "rate must be in [0, 1]");
    } else if (json_is_integer(count) && json_integer_value(count) >= 0) {
        f->count = (long)json_integer_value(count);
    } else {
        f->rate = 1;
    }
    f->retry_after_s = (unsigned)sg_json_int(j, "retry_after_s", 1);
    f->stall_ms = (unsigned)sg_json_int(j, "stall_ms", 15000);
    if (f->stall_ms > 600000)
        return sg_err_set(err, SG_EINVAL, "stall_ms above 600000");
    return 0;
}

int sg_sbx__faults_set(struct sg_sbx *s, const json_t *spec, bool append,
                       struct sg_err *err)
{
    struct sg_sbx_fault tmp[SG_SBX_FAULTS_MAX];
    json_t *list = json_object_get(spec, "faults"), *j;
    size_t n = append ? s->n_faults : 0, i;
    int rc;

    if (!json_is_array(list))
        return sg_err_set(err, SG_EINVAL, "expected {\"faults\": [...]}");
    if (append)
        memcpy(tmp, s->faults, n * sizeof(tmp[0]));
    json_array_foreach(list, i, j) {
        if (n == SG_SBX_FAULTS_MAX)
            return sg_err_set(err, SG_ELIMIT, "at most %d faults",
                              SG_SBX_FAULTS_MAX);
        rc = parse_one(&tmp[n], j, err);
        if (rc)
            return rc;
        n++;
    }
    memcpy(s->faults, tmp, n * sizeof(tmp[0]));
    s->n_faults = n;
    return 0;
}

void sg_sbx__faults_clear(struct sg_sbx *s)
{
    s->n_faults = 0;
}

json_t *sg_sbx__faults_json(struct sg_sbx *s)
{
    json_t *list = json_array();

    for (size_t i = 0; i < s->n_faults; i++) {
        const struct sg_sbx_fault *f = &s->faults[i];
        const char *kind = "";
        json_t *o;

        for (size_t k = 0; k < SG_ARRAY_SIZE(kinds); k++)
            if (kinds[k].kind == f->kind)
                kind = kinds[k].name;
        o = json_pack("{s:s,s:s,s:i,s:i,s:I}", "path", f->path, "kind", kind,
                      "retry_after_s", (int)f->retry_after_s, "stall_ms",
                      (int)f->stall_ms, "hits", (json_int_t)f->hits);
        if (f->rate >= 0)
            json_object_set_new(o, "rate", json_real(f->rate));
        else
            json_object_set_new(o, "count", json_integer(f->count));
        json_array_append_new(list, o);
    }
    return json_pack("{s:o}", "faults", list);
}

const struct sg_sbx_fault *sg_sbx__fault_pick(struct sg_sbx *s,
                                              const char *tmpl,
                                              const char *path)
{
    for (size_t i = 0; i < s->n_faults; i++) {
        struct sg_sbx_fault *f = &s->faults[i];

        if (strcmp(f->path, "*") != 0 && strcmp(f->path, tmpl) != 0 &&
            strcmp(f->path, path) != 0)
            continue;
        if (f->count >= 0) {
            if (f->count == 0)
                continue;
            f->count--;
        } else if (f->rate < 1 &&
                   (double)sg_sbx_rand(s, 1000000) >= f->rate * 1e6) {
            continue;
        }
        f->hits++;
        return f;
    }
    return NULL;
}

/* ---- rate limits ---- */

int sg_sbx__rate_set(struct sg_sbx *s, json_t *spec,
                     struct sg_err *err)
{
    const char *k;
    json_t *v;

    if (!json_is_object(spec))
        return sg_err_set(err, SG_EINVAL, "rate_limits must be an object");
    json_object_foreach(spec, k, v) {
        if (!json_is_number(v) || json_number_value(v) < 0)
            return sg_err_set(err, SG_EINVAL, "rate limit for %s", k);
    }
    json_object_foreach(spec, k, v) {
        if (strcmp(k, "default") == 0)
            s->rate_qps = (unsigned)json_number_value(v);
        else
            json_object_set(s->rate_limits, k, v);
    }
    s->n_buckets = 0;
    return 0;
}

static double qps_for(struct sg_sbx *s, const char *tmpl)
{
    json_t *v = json_object_get(s->rate_limits, tmpl);

    return v ? json_number_value(v) : (double)s->rate_qps;
}

bool sg_sbx__rate_take(struct sg_sbx *s, const char *shop_id,
                       const char *tmpl)
{
    char key[256];
    double qps = qps_for(s, tmpl);
    int64_t now = sg_mono_us();
    struct sg_sbx_bucket *b = NULL;

    if (qps <= 0)
        return true;
    snprintf(key, sizeof(key), "%s|%s|%s", s->app_key, shop_id, tmpl);
    for (size_t i = 0; i < s->n_buckets && !b; i++)
        if (strcmp(s->buckets[i].key, key) == 0)
            b = &s->buckets[i];
    if (!b) {
        if (!s->buckets) {
            s->buckets = sg_calloc(SG_SBX_BUCKETS_MAX, sizeof(*b));
            if (!s->buckets)
                return true;
        }
        if (s->n_buckets == SG_SBX_BUCKETS_MAX)
            s->n_buckets = 0;
        b = &s->buckets[s->n_buckets++];
        snprintf(b->key, sizeof(b->key), "%s", key);
        b->tokens = SG_MAX(qps, 1.0);
        b->last_us = now;
    }
    b->tokens += (double)(now - b->last_us) / 1e6 * qps;
    if (b->tokens > SG_MAX(qps, 1.0))
        b->tokens = SG_MAX(qps, 1.0);
    b->last_us = now;
    if (b->tokens < 1)
        return false;
    b->tokens -= 1;
    return true;
}
