/*
 * events.c - the sandbox's Events API (see events.h). Received payloads
 * are kept in memory, newest last, up to keep_max events; totals count
 * everything. Faults come from the framework's list (sg_sbx__fault_pick,
 * the same POST /sandbox/v1/faults entries as the Shop API, with path
 * "/open_api/v1.3/event/track/" or "*"). Codes forced through
 * PUT /sandbox/v1/events/config {"codes":[...]} answer the next calls,
 * one each, so every documented code can be exercised.
 */
#include "core/sg.h"

#include <pthread.h>

#include "core/alloc.h"
#include "core/crypto.h"
#include "core/json.h"
#include "http/server.h"
#include "sandbox/internal.h"
#include "sandbox/sandbox.h"
#include "sandbox/tiktok_events/events.h"

#define TRACK_PATH   "/open_api/v1.3/event/track/"
#define STATES_MAX   16
#define CODES_MAX    64
#define DATA_MAX     1000

struct evs {
    struct sg_sbx *s;
    pthread_mutex_t lock;
    json_t *payloads; /* [{received_at_ms, request_id, code, failed, body}] */
    size_t kept_events;
    size_t keep_max;
    uint64_t events_total, requests_total, dropped_payloads, seq;
    char token[256];
    long codes[CODES_MAX];
    size_t n_codes;
};

/* Reachable for the process's life, so leak checkers stay quiet. */
static struct evs *states[STATES_MAX];
static pthread_mutex_t states_lock = PTHREAD_MUTEX_INITIALIZER;

static struct evs *state_for(struct sg_sbx *s)
{
    struct evs *v = NULL;

    pthread_mutex_lock(&states_lock);
    for (size_t i = 0; i < STATES_MAX && !v; i++)
        if (states[i] && states[i]->s == s)
            v = states[i];
    for (size_t i = 0; i < STATES_MAX && !v; i++) {
        if (states[i])
            continue;
        v = sg_calloc(1, sizeof(*v));
        if (!v)
            break;
        v->s = s;
        pthread_mutex_init(&v->lock, NULL);
        v->payloads = json_array();
        v->keep_max = SG_SBX_EVENTS_KEEP_DEFAULT;
        snprintf(v->token, sizeof(v->token), "%s",
                 SG_SBX_EVENTS_TOKEN_DEFAULT);
        states[i] = v;
    }
    if (!v) {
        /* Table full (many sandboxes in one test process): reuse. */
        v = states[0];
        v->s = s;
    }
    pthread_mutex_unlock(&states_lock);
    return v;
}

/* ---- validation ---- */

static bool is_digest(const json_t *v)
{
    const char *s = json_string_value(v);

    if (!s || json_string_length(v) != 64)
        return false;
    for (size_t i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

/* NULL when fine, else why (static text). */
static const char *check_user(const json_t *user)
{
    static const char *const hashed[] = {"email",      "phone",
                                         "external_id", "first_name",
                                         "last_name",  "zip_code"};
    size_t i;
    json_t *e;

    if (!user)
        return NULL;
    if (!json_is_object(user))
        return "user must be an object";
    for (size_t k = 0; k < SG_ARRAY_SIZE(hashed); k++) {
        json_t *v = json_object_get(user, hashed[k]);

        if (!v)
            continue;
        if (json_is_array(v)) {
            json_array_foreach(v, i, e) {
                if (!is_digest(e))
                    return "user field is not a SHA-256 lowercase hex digest";
            }
        } else if (!is_digest(v)) {
            return "user field is not a SHA-256 lowercase hex digest";
        }
    }
    return NULL;
}

static const char *check_event(const json_t *ev)
{
    json_t *t = json_object_get(ev, "event_time");
    json_t *id = json_object_get(ev, "event_id");
    const char *name = sg_json_str(ev, "event");

    if (!json_is_object(ev))
        return "event must be an object";
    if (!name || !*name)
        return "event is required";
    if (!json_is_integer(t) || json_integer_value(t) <= 0)
        return "event_time must be Unix seconds";
    if (id && !json_is_string(id))
        return "event_id must be a string";
    return check_user(json_object_get(ev, "user"));
}

static const char *check_shape(const json_t *body)
{
    static const char *const sources[] = {"web", "app", "offline", "crm"};
    const char *src = sg_json_str(body, "event_source");
    const char *sid = sg_json_str(body, "event_source_id");
    json_t *data = json_object_get(body, "data");
    bool ok = false;

    if (!json_is_object(body))
        return "body must be a JSON object";
    for (size_t i = 0; src && i < SG_ARRAY_SIZE(sources); i++)
        ok = ok || strcmp(src, sources[i]) == 0;
    if (!ok)
        return "event_source must be web, app, offline or crm";
    if (!sid || !*sid)
        return "event_source_id is required";
    if (!json_is_array(data) || json_array_size(data) == 0 ||
        json_array_size(data) > DATA_MAX)
        return "data must be an array of 1..1000 events";
    return NULL;
}

/* ---- the fast path: one pass over the raw body, no tree ---- */

/*
 * Almost every call a benchmark or a healthy client makes is valid, and
 * parsing 1,000 events into a jansson tree (then freeing the one it
 * replaces in the record) cost about 20 us of the sandbox's CPU per
 * event, on the same 2 cores as the engine being measured. fast_check
 * validates the JSON syntax and the checks above in one pass without
 * allocating. It is conservative: it answers true only when it is sure
 * that jansson would parse the body and that every event passes, and
 * false for anything it does not handle (\u escapes, bytes past ASCII, a
 * key with an escape, deep nesting, long numbers, a failed check). false
 * just means "take the full path", which then decides and explains.
 */
#define FAST_DEPTH_MAX 16
#define FAST_KEYS_MAX  32

struct scan {
    const char *p, *end;
    size_t events;
};

struct fstr {
    const char *s;
    size_t len;
    bool escaped;
};

static void skip_ws(struct scan *c)
{
    while (c->p < c->end &&
           (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

/* A string of printable ASCII with only the one-letter escapes. */
static bool scan_string(struct scan *c, struct fstr *out)
{
    const char *p = c->p;

    if (p >= c->end || *p != '"')
        return false;
    out->s = ++p;
    out->escaped = false;
    while (p < c->end && *p != '"') {
        unsigned char ch = (unsigned char)*p;

        if (ch < 0x20 || ch >= 0x80)
            return false;
        if (ch == '\\') {
            if (p + 1 >= c->end || !strchr("\"\\/bfnrt", p[1]) || !p[1])
                return false;
            out->escaped = true;
            p++;
        }
        p++;
    }
    if (p >= c->end)
        return false;
    out->len = (size_t)(p - out->s);
    c->p = p + 1;
    return true;
}

static bool digit(char ch)
{
    return ch >= '0' && ch <= '9';
}

/*
 * A JSON number short enough that jansson cannot overflow on it. *is_int
 * and *ival for an integer (no fraction, no exponent).
 */
static bool scan_number(struct scan *c, bool *is_int, int64_t *ival)
{
    const char *p = c->p, *d;
    bool neg = false;
    int64_t v = 0;

    *is_int = true;
    if (p < c->end && *p == '-') {
        neg = true;
        p++;
    }
    d = p;
    if (p >= c->end || !digit(*p))
        return false;
    if (*p == '0')
        p++;
    else
        while (p < c->end && digit(*p)) {
            if (p - d == 18) /* a 19th digit: jansson may overflow */
                return false;
            v = v * 10 + (*p++ - '0');
        }
    if (p < c->end && *p == '.') {
        *is_int = false;
        if (++p >= c->end || !digit(*p))
            return false;
        for (d = p; p < c->end && digit(*p); p++)
            ;
        if (p - d > 18)
            return false;
    }
    if (p < c->end && (*p == 'e' || *p == 'E')) {
        *is_int = false;
        if (++p < c->end && (*p == '+' || *p == '-'))
            p++;
        if (p >= c->end || !digit(*p))
            return false;
        for (d = p; p < c->end && digit(*p); p++)
            ;
        if (p - d > 2) /* |exponent| < 100: no overflow */
            return false;
    }
    *ival = neg ? -v : v;
    c->p = p;
    return true;
}

static bool scan_value(struct scan *c, int depth);

/*
 * An object whose keys are plain (no escapes) and distinct (jansson runs
 * with JSON_REJECT_DUPLICATES). visit, when set, sees each key with the
 * scanner on its value and scans the value itself.
 */
typedef bool (*visit_fn)(struct scan *c, const struct fstr *key, void *ctx,
                         int depth);

static bool scan_object(struct scan *c, int depth, visit_fn visit, void *ctx)
{
    struct fstr keys[FAST_KEYS_MAX];
    size_t n = 0;

    if (depth > FAST_DEPTH_MAX || c->p >= c->end || *c->p != '{')
        return false;
    c->p++;
    skip_ws(c);
    if (c->p < c->end && *c->p == '}') {
        c->p++;
        return true;
    }
    for (;;) {
        struct fstr k;

        skip_ws(c);
        if (!scan_string(c, &k) || k.escaped || n == FAST_KEYS_MAX)
            return false;
        for (size_t i = 0; i < n; i++)
            if (keys[i].len == k.len && memcmp(keys[i].s, k.s, k.len) == 0)
                return false;
        keys[n++] = k;
        skip_ws(c);
        if (c->p >= c->end || *c->p != ':')
            return false;
        c->p++;
        skip_ws(c);
        if (!(visit ? visit(c, &k, ctx, depth + 1)
                    : scan_value(c, depth + 1)))
            return false;
        skip_ws(c);
        if (c->p < c->end && *c->p == ',') {
            c->p++;
            continue;
        }
        if (c->p < c->end && *c->p == '}') {
            c->p++;
            return true;
        }
        return false;
    }
}

/* An array; each element goes to elem (or scan_value); *n_out counts. */
typedef bool (*elem_fn)(struct scan *c, void *ctx, int depth);

static bool scan_array(struct scan *c, int depth, elem_fn elem, void *ctx,
                       size_t *n_out)
{
    size_t n = 0;

    if (depth > FAST_DEPTH_MAX || c->p >= c->end || *c->p != '[')
        return false;
    c->p++;
    skip_ws(c);
    if (c->p < c->end && *c->p == ']') {
        c->p++;
        *n_out = 0;
        return true;
    }
    for (;;) {
        skip_ws(c);
        if (!(elem ? elem(c, ctx, depth + 1) : scan_value(c, depth + 1)))
            return false;
        n++;
        skip_ws(c);
        if (c->p < c->end && *c->p == ',') {
            c->p++;
            continue;
        }
        if (c->p < c->end && *c->p == ']') {
            c->p++;
            *n_out = n;
            return true;
        }
        return false;
    }
}

static bool scan_literal(struct scan *c, const char *lit)
{
    size_t n = strlen(lit);

    if ((size_t)(c->end - c->p) < n || memcmp(c->p, lit, n) != 0)
        return false;
    c->p += n;
    return true;
}

static bool scan_value(struct scan *c, int depth)
{
    struct fstr s;
    bool is_int;
    int64_t iv;
    size_t n;

    if (c->p >= c->end)
        return false;
    switch (*c->p) {
    case '{':
        return scan_object(c, depth, NULL, NULL);
    case '[':
        return scan_array(c, depth, NULL, NULL, &n);
    case '"':
        return scan_string(c, &s);
    case 't':
        return scan_literal(c, "true");
    case 'f':
        return scan_literal(c, "false");
    case 'n':
        return scan_literal(c, "null");
    default:
        return scan_number(c, &is_int, &iv);
    }
}

static bool key_is(const struct fstr *k, const char *name)
{
    return strlen(name) == k->len && memcmp(k->s, name, k->len) == 0;
}

static bool raw_digest(const struct fstr *s)
{
    if (s->len != 64 || s->escaped)
        return false;
    for (size_t i = 0; i < 64; i++)
        if (!((s->s[i] >= '0' && s->s[i] <= '9') ||
              (s->s[i] >= 'a' && s->s[i] <= 'f')))
            return false;
    return true;
}

static bool digest_elem(struct scan *c, void *ctx, int depth)
{
    struct fstr s;

    SG_UNUSED(ctx);
    SG_UNUSED(depth);
    return scan_string(c, &s) && raw_digest(&s);
}

static bool user_member(struct scan *c, const struct fstr *k, void *ctx,
                        int depth)
{
    static const char *const hashed[] = {"email",      "phone",
                                         "external_id", "first_name",
                                         "last_name",  "zip_code"};
    size_t n;

    SG_UNUSED(ctx);
    for (size_t i = 0; i < SG_ARRAY_SIZE(hashed); i++) {
        if (!key_is(k, hashed[i]))
            continue;
        if (c->p < c->end && *c->p == '[')
            return scan_array(c, depth, digest_elem, NULL, &n);
        return digest_elem(c, NULL, depth);
    }
    return scan_value(c, depth);
}

struct ev_seen {
    bool name, time;
};

static bool event_member(struct scan *c, const struct fstr *k, void *ctx,
                         int depth)
{
    struct ev_seen *e = ctx;
    struct fstr s;
    bool is_int;
    int64_t iv;

    if (key_is(k, "event")) {
        e->name = scan_string(c, &s) && s.len > 0;
        return e->name;
    }
    if (key_is(k, "event_time")) {
        e->time = scan_number(c, &is_int, &iv) && is_int && iv > 0;
        return e->time;
    }
    if (key_is(k, "event_id"))
        return scan_string(c, &s);
    if (key_is(k, "user"))
        return scan_object(c, depth, user_member, NULL);
    return scan_value(c, depth);
}

static bool event_elem(struct scan *c, void *ctx, int depth)
{
    struct ev_seen e = {false, false};

    SG_UNUSED(ctx);
    return scan_object(c, depth, event_member, &e) && e.name && e.time;
}

struct top_seen {
    bool source, source_id;
    size_t n;
};

static bool top_member(struct scan *c, const struct fstr *k, void *ctx,
                       int depth)
{
    static const char *const sources[] = {"web", "app", "offline", "crm"};
    struct top_seen *t = ctx;
    struct fstr s;

    if (key_is(k, "event_source")) {
        if (!scan_string(c, &s) || s.escaped)
            return false;
        for (size_t i = 0; i < SG_ARRAY_SIZE(sources); i++)
            t->source = t->source || key_is(&s, sources[i]);
        return t->source;
    }
    if (key_is(k, "event_source_id")) {
        t->source_id = scan_string(c, &s) && s.len > 0;
        return t->source_id;
    }
    if (key_is(k, "data"))
        return scan_array(c, depth, event_elem, NULL, &t->n) && t->n > 0 &&
               t->n <= DATA_MAX;
    return scan_value(c, depth);
}

/* true: body is valid JSON and a valid call; *n_out its events. */
static bool fast_check(const char *raw, size_t len, size_t *n_out)
{
    struct scan c = {.p = raw, .end = raw + len};
    struct top_seen t = {false, false, 0};

    skip_ws(&c);
    if (!scan_object(&c, 1, top_member, &t) || !t.source || !t.source_id ||
        t.n == 0)
        return false;
    skip_ws(&c);
    if (c.p != c.end)
        return false;
    *n_out = t.n;
    return true;
}

/* ---- answers ---- */

static void answer(struct sg_http_req *r, int http, long code,
                   const char *msg, json_t *data, const char *request_id,
                   const struct sg_http_header *h, size_t nh)
{
    json_t *env = json_pack("{s:I, s:s, s:s, s:o}", "code", (json_int_t)code,
                            "message", msg, "request_id", request_id, "data",
                            data ? data : json_object());
    char *text = env ? sg_json_dump(env, NULL) : NULL;

    json_decref(env);
    sg_http_reply_ex(r, http, "application/json", text ? text : "{}",
                     text ? strlen(text) : 2, h, nh);
    sg_free(text);
}

/*
 * Keep one payload, newest last: body is the parsed call, or NULL with
 * raw[0..raw_len) its text (the fast path, parsed only when listed).
 * "_n" (its events) and "_raw" are internal and never listed.
 */
static void record(struct evs *v, json_t *body, const char *raw,
                   size_t raw_len, size_t n, long code, json_t *failed,
                   const char *request_id)
{
    json_t *p = json_pack("{s:I, s:s, s:I, s:O, s:I}", "received_at_ms",
                          (json_int_t)sg_sbx_now_ms(v->s), "request_id",
                          request_id, "code", (json_int_t)code, "failed",
                          failed, "_n", (json_int_t)n);

    if (p && body)
        json_object_set(p, "body", body);
    else if (p)
        json_object_set_new(p, "_raw", json_stringn_nocheck(raw, raw_len));
    pthread_mutex_lock(&v->lock);
    json_array_append_new(v->payloads, p);
    v->kept_events += n;
    v->events_total += n;
    while (v->kept_events > v->keep_max && json_array_size(v->payloads) > 1) {
        json_t *old = json_array_get(v->payloads, 0);

        v->kept_events -= (size_t)json_integer_value(json_object_get(old, "_n"));
        json_array_remove(v->payloads, 0);
        v->dropped_payloads++;
    }
    pthread_mutex_unlock(&v->lock);
}

static long next_forced(struct evs *v)
{
    long c = -1;

    pthread_mutex_lock(&v->lock);
    if (v->n_codes) {
        c = v->codes[0];
        memmove(v->codes, v->codes + 1, (v->n_codes - 1) * sizeof(long));
        v->n_codes--;
    }
    pthread_mutex_unlock(&v->lock);
    return c;
}

static bool apply_fault(struct sg_http_req *r, const struct sg_sbx_fault *f,
                        const char *rid)
{
    struct sg_http_header h;
    char ra[24];

    switch (f->kind) {
    case SG_SBX_FAULT_429:
        answer(r, 429, 40100, "Too many requests", NULL, rid, NULL, 0);
        return true;
    case SG_SBX_FAULT_429_RETRY_AFTER:
        snprintf(ra, sizeof(ra), "%u", f->retry_after_s);
        h.name = "Retry-After";
        h.value = ra;
        answer(r, 429, 40100, "Too many requests", NULL, rid, &h, 1);
        return true;
    case SG_SBX_FAULT_500:
        answer(r, 500, 40700, "Internal error", NULL, rid, NULL, 0);
        return true;
    case SG_SBX_FAULT_RESET:
        sg_http_abort(r, SG_HTTP_ABORT_RESET);
        return true;
    case SG_SBX_FAULT_STALL:
        sg_http_reply_later(r, f->stall_ms, 503, "application/json",
                            "{\"code\":40700,\"message\":\"stalled\"}", 35);
        return true;
    default:
        return false; /* drop_after_commit: handled after recording */
    }
}

static const char *fault_name(int kind)
{
    switch (kind) {
    case SG_SBX_FAULT_429:
        return "429";
    case SG_SBX_FAULT_429_RETRY_AFTER:
        return "429_retry_after";
    case SG_SBX_FAULT_500:
        return "500";
    case SG_SBX_FAULT_RESET:
        return "reset";
    case SG_SBX_FAULT_STALL:
        return "stall";
    case SG_SBX_FAULT_DROP_AFTER_COMMIT:
        return "drop_after_commit";
    default:
        return NULL;
    }
}

static void log_call(struct sg_sbx *s, long code, int http, const char *fault)
{
    sg_sbx_lock(s);
    sg_sbx__log_call(s, "POST", TRACK_PATH, TRACK_PATH, code, http, fault);
    sg_sbx_unlock(s);
}

/* Validate every event; failed gets {index, event_id, reason} entries. */
static void check_events(const json_t *data, json_t *failed, long forced)
{
    size_t i;
    json_t *ev;

    json_array_foreach(data, i, ev) {
        const char *why = check_event(ev);

        if (!why && forced == 20001 && i == 0)
            why = "refused by the sandbox (forced 20001)";
        if (why)
            json_array_append_new(
                failed, json_pack("{s:I, s:s?, s:s}", "index", (json_int_t)i,
                                  "event_id", sg_json_str(ev, "event_id"),
                                  "reason", why));
    }
}

long sg_sbx_events_judge(const char *raw, size_t len, bool *fast_out,
                         size_t *n_out)
{
    json_t *body = NULL, *failed;
    size_t fast_n = 0;
    long code;

    *fast_out = fast_check(raw, len, &fast_n);
    *n_out = 0;
    if (sg_json_parse(&body, raw, len, SG_JSON_DEPTH_DEFAULT, NULL, NULL))
        return 40002;
    if (check_shape(body)) {
        json_decref(body);
        return 40002;
    }
    failed = json_array();
    if (!failed) {
        json_decref(body);
        return -1;
    }
    check_events(json_object_get(body, "data"), failed, -1);
    *n_out = json_array_size(json_object_get(body, "data"));
    code = json_array_size(failed) == 0 ? 0
           : json_array_size(failed) == *n_out ? 40002
                                               : 20001;
    if (*fast_out && fast_n != *n_out)
        code = -2; /* the two paths disagree on the count */
    json_decref(failed);
    json_decref(body);
    return code;
}

static void h_track(struct sg_http_req *r, void *ctx)
{
    struct evs *v = state_for(ctx);
    struct sg_sbx_fault f;
    const struct sg_sbx_fault *pf;
    size_t tl = 0, bl = 0, n;
    const char *tok = sg_http_req_header(r, "access-token", &tl);
    const char *raw = sg_http_req_body(r, &bl);
    json_t *body = NULL, *failed = NULL;
    const char *why;
    char rid[40];
    long forced, code = 0;
    int http = 200;

    if (!v) {
        sg_http_reply_error(r, 503, "out_of_memory", "retry", NULL);
        return;
    }
    memset(&f, 0, sizeof(f));
    sg_sbx_lock(v->s);
    pf = sg_sbx__fault_pick(v->s, TRACK_PATH, TRACK_PATH);
    if (pf)
        f = *pf;
    sg_sbx_unlock(v->s);
    pthread_mutex_lock(&v->lock);
    v->requests_total++;
    snprintf(rid, sizeof(rid), "sbxev%016" PRIx64, ++v->seq);
    pthread_mutex_unlock(&v->lock);
    if (f.kind && apply_fault(r, &f, rid)) {
        log_call(v->s, f.kind == SG_SBX_FAULT_500 ? 40700 : 40100,
                 f.kind == SG_SBX_FAULT_500 ? 500 : 429, fault_name(f.kind));
        return;
    }
    pthread_mutex_lock(&v->lock);
    n = strlen(v->token);
    if (!tok || !sg_ct_equal(tok, tl, v->token, n)) {
        pthread_mutex_unlock(&v->lock);
        answer(r, 200, 40001, "Access token is missing or invalid", NULL, rid,
               NULL, 0);
        log_call(v->s, 40001, 200, NULL);
        return;
    }
    pthread_mutex_unlock(&v->lock);
    forced = next_forced(v);
    if (forced >= 0 && forced != 0 && forced != 20001) {
        answer(r, forced == 40700 ? 500 : 200, forced, "forced by the sandbox",
               NULL, rid, NULL, 0);
        log_call(v->s, forced, forced == 40700 ? 500 : 200, "forced");
        return;
    }
    if (forced != 20001 && raw && fast_check(raw, bl, &n)) {
        /* Valid through and through: answered without a tree. */
        failed = json_array();
        record(v, NULL, raw, bl, n, 0, failed, rid);
        if (f.kind == SG_SBX_FAULT_DROP_AFTER_COMMIT) {
            sg_http_abort(r, SG_HTTP_ABORT_DROP);
            log_call(v->s, 0, 0, "drop_after_commit");
        } else {
            answer(r, http, 0, "OK", NULL, rid, NULL, 0);
            log_call(v->s, 0, http, NULL);
        }
        json_decref(failed);
        return;
    }
    if (sg_json_parse(&body, raw ? raw : "", bl, SG_JSON_DEPTH_DEFAULT, NULL,
                      NULL) != 0) {
        answer(r, 200, 40002, "Invalid JSON body", NULL, rid, NULL, 0);
        log_call(v->s, 40002, 200, NULL);
        return;
    }
    why = check_shape(body);
    if (why) {
        answer(r, 200, 40002, why, NULL, rid, NULL, 0);
        log_call(v->s, 40002, 200, NULL);
        json_decref(body);
        return;
    }
    failed = json_array();
    check_events(json_object_get(body, "data"), failed, forced);
    if (json_array_size(failed) ==
        json_array_size(json_object_get(body, "data"))) {
        answer(r, 200, 40002, "Every event is invalid",
               json_pack("{s:O}", "failed_events", failed), rid, NULL, 0);
        log_call(v->s, 40002, 200, NULL);
        goto out;
    }
    code = json_array_size(failed) ? 20001 : 0;
    record(v, body, NULL, 0, json_array_size(json_object_get(body, "data")),
           code, failed, rid);
    if (f.kind == SG_SBX_FAULT_DROP_AFTER_COMMIT) {
        sg_http_abort(r, SG_HTTP_ABORT_DROP);
        log_call(v->s, code, 0, "drop_after_commit");
        goto out;
    }
    answer(r, http, code, code ? "Partial success" : "OK",
           code ? json_pack("{s:O}", "failed_events", failed) : NULL, rid,
           NULL, 0);
    log_call(v->s, code, http, NULL);
out:
    json_decref(failed);
    json_decref(body);
}

/*
 * The kept payloads as listed (under v->lock): each with its body (a
 * fast-path one parsed now), without the internal members.
 */
static json_t *listed(struct evs *v)
{
    json_t *out = json_array(), *p;
    size_t i;

    json_array_foreach(v->payloads, i, p) {
        json_t *q = json_pack("{s:O, s:O, s:O, s:O}", "received_at_ms",
                              json_object_get(p, "received_at_ms"),
                              "request_id", json_object_get(p, "request_id"),
                              "code", json_object_get(p, "code"), "failed",
                              json_object_get(p, "failed"));
        json_t *body = json_object_get(p, "body"), *raw;

        if (!q)
            continue;
        if (body) {
            json_object_set(q, "body", body);
        } else if ((raw = json_object_get(p, "_raw")) != NULL) {
            json_t *parsed = NULL;

            /* The fast path checked it: this parse cannot fail but on
             * memory, which leaves a null body. */
            sg_json_parse(&parsed, json_string_value(raw),
                          json_string_length(raw), SG_JSON_DEPTH_DEFAULT,
                          NULL, NULL);
            json_object_set_new(q, "body", parsed ? parsed : json_null());
        }
        json_array_append_new(out, q);
    }
    return out;
}

static void h_list(struct sg_http_req *r, void *ctx)
{
    struct evs *v = state_for(ctx);
    json_t *doc;

    if (!v) {
        sg_http_reply_error(r, 503, "out_of_memory", "retry", NULL);
        return;
    }
    pthread_mutex_lock(&v->lock);
    doc = json_pack("{s:o, s:I, s:I, s:I, s:I}", "payloads", listed(v),
                    "events_total", (json_int_t)v->events_total,
                    "requests_total", (json_int_t)v->requests_total,
                    "kept_events", (json_int_t)v->kept_events,
                    "dropped_payloads", (json_int_t)v->dropped_payloads);
    /* A deep copy is not needed: the reply serialises under the lock. */
    {
        char *text = doc ? sg_json_dump(doc, NULL) : NULL;

        pthread_mutex_unlock(&v->lock);
        json_decref(doc);
        if (!text) {
            sg_http_reply_error(r, 503, "out_of_memory", "retry", NULL);
            return;
        }
        sg_http_reply(r, 200, "application/json", text, strlen(text));
        sg_free(text);
    }
}

/* Only the totals: cheap enough to poll while a benchmark runs. */
static void h_stats(struct sg_http_req *r, void *ctx)
{
    struct evs *v = state_for(ctx);
    char text[256];
    int n;

    if (!v) {
        sg_http_reply_error(r, 503, "out_of_memory", "retry", NULL);
        return;
    }
    pthread_mutex_lock(&v->lock);
    n = snprintf(text, sizeof(text),
                 "{\"events_total\":%" PRIu64 ",\"requests_total\":%" PRIu64
                 ",\"kept_events\":%zu,\"dropped_payloads\":%" PRIu64 "}",
                 v->events_total, v->requests_total, v->kept_events,
                 v->dropped_payloads);
    pthread_mutex_unlock(&v->lock);
    sg_http_reply(r, 200, "application/json", text, (size_t)n);
}

static void h_clear(struct sg_http_req *r, void *ctx)
{
    struct evs *v = state_for(ctx);

    if (v) {
        pthread_mutex_lock(&v->lock);
        json_array_clear(v->payloads);
        v->kept_events = 0;
        v->events_total = 0;
        v->requests_total = 0;
        v->dropped_payloads = 0;
        v->n_codes = 0;
        pthread_mutex_unlock(&v->lock);
    }
    sg_http_reply(r, 200, "application/json", "{\"cleared\":true}", 16);
}

/* Why a config body cannot be taken whole, or NULL. */
static const char *config_invalid(const json_t *in, const struct evs *v)
{
    static const char *const known[] = {"access_token", "keep_max", "codes"};
    json_t *tok = json_object_get(in, "access_token");
    json_t *keep = json_object_get(in, "keep_max");
    json_t *codes = json_object_get(in, "codes"), *c;
    size_t i;

    if (sg_json_unknown_key(in, known, SG_ARRAY_SIZE(known)))
        return "unknown field (access_token, keep_max, codes)";
    if (tok && (!json_is_string(tok) ||
                strlen(json_string_value(tok)) >= sizeof(v->token)))
        return "access_token must be a string under 256 bytes";
    if (keep && (!json_is_integer(keep) || json_integer_value(keep) <= 0))
        return "keep_max must be a whole number above 0";
    if (codes && (!json_is_array(codes) || json_array_size(codes) > CODES_MAX))
        return "codes must be an array of up to 64 response codes";
    json_array_foreach(codes, i, c)
        if (!json_is_integer(c))
            return "codes must be whole numbers";
    return NULL;
}

static void h_config(struct sg_http_req *r, void *ctx)
{
    struct evs *v = state_for(ctx);
    json_t *in = sg_http_req_json(r), *codes, *c;
    const char *tok, *why;
    size_t i;

    if (!in)
        return;
    if (!v || !json_is_object(in)) {
        json_decref(in);
        sg_http_reply_error(r, 400, "invalid", "expected an object", NULL);
        return;
    }
    tok = sg_json_str(in, "access_token");
    codes = json_object_get(in, "codes");
    /* Refuse what would otherwise be quietly left out. */
    why = config_invalid(in, v);
    if (why) {
        json_decref(in);
        sg_http_reply_error(r, 400, "invalid", why, NULL);
        return;
    }
    pthread_mutex_lock(&v->lock);
    if (tok && *tok && strlen(tok) < sizeof(v->token))
        snprintf(v->token, sizeof(v->token), "%s", tok);
    if (json_is_integer(json_object_get(in, "keep_max")) &&
        json_integer_value(json_object_get(in, "keep_max")) > 0)
        v->keep_max = (size_t)json_integer_value(
            json_object_get(in, "keep_max"));
    if (json_is_array(codes)) {
        v->n_codes = 0;
        json_array_foreach(codes, i, c) {
            if (json_is_integer(c) && v->n_codes < CODES_MAX)
                v->codes[v->n_codes++] = (long)json_integer_value(c);
        }
    }
    pthread_mutex_unlock(&v->lock);
    json_decref(in);
    sg_http_reply(r, 200, "application/json", "{\"ok\":true}", 11);
}

int sg_sbx_events_routes(struct sg_sbx *s, struct sg_http_server *http,
                         struct sg_err *err)
{
    static const struct {
        const char *method;
        const char *pattern;
        sg_http_handler_fn fn;
    } routes[] = {
        {"POST", TRACK_PATH, h_track},
        {"GET", "/sandbox/v1/events", h_list},
        {"GET", "/sandbox/v1/events/stats", h_stats},
        {"DELETE", "/sandbox/v1/events", h_clear},
        {"PUT", "/sandbox/v1/events/config", h_config},
    };

    if (!state_for(s))
        return sg_err_set(err, SG_ENOMEM, "out of memory");
    for (size_t i = 0; i < SG_ARRAY_SIZE(routes); i++) {
        int rc = sg_http_route(http, routes[i].method, routes[i].pattern,
                               routes[i].fn, s);

        if (rc)
            return sg_err_set(err, rc, "route %s", routes[i].pattern);
    }
    return 0;
}
