/*
 * prepare.c - one intake event becomes one normalised Events API event:
 * checked (name, time, id, currency, value), customer fields hashed,
 * everything not in the documented schema dropped (data minimisation).
 * The result is built field by field from an allow-list, so an unknown
 * member can never carry plaintext through.
 */
#include "core/sg.h"

#include <math.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/crypto.h"
#include "core/json.h"
#include "features/events/events.h"
#include "features/events/internal.h"

#define STR_MAX      1024 /* url, user_agent, ... */
#define IDS_MAX      10   /* values in an email/phone/external_id array */
#define CONTENTS_MAX 200

const char *const sg_events_reject_codes[] = {
    "invalid_shape",  "invalid_source", "source_not_configured",
    "invalid_event",  "invalid_event_id", "invalid_time",
    "in_future",      "too_old",        "invalid_user",
    "invalid_currency", "invalid_value", "invalid_field",
    NULL,
};

size_t sg_events_reject_code_index(const char *code)
{
    size_t i;

    for (i = 0; sg_events_reject_codes[i]; i++)
        if (strcmp(sg_events_reject_codes[i], code) == 0)
            return i;
    return i - 1; /* invalid_field */
}

static const char *const source_names[] = {"web", "app", "offline", "crm"};

const char *sg_events_source_name(int source)
{
    if (source < 0 || source >= SG_EVENTS_SOURCES)
        return NULL;
    return source_names[source];
}

int sg_events_source_parse(const char *name)
{
    for (int i = 0; name && i < SG_EVENTS_SOURCES; i++)
        if (strcmp(source_names[i], name) == 0)
            return i;
    return -1;
}

void sg_events_cfg_from(struct sg_events_cfg *out, const struct sg_config *c)
{
    memset(out, 0, sizeof(*out));
    out->source_ids[SG_EVENTS_WEB] = c->tiktok_events.web_pixel_code;
    out->source_ids[SG_EVENTS_APP] = c->tiktok_events.app_event_set_id;
    out->source_ids[SG_EVENTS_OFFLINE] = c->tiktok_events.offline_event_set_id;
    out->source_ids[SG_EVENTS_CRM] = c->tiktok_events.crm_event_set_id;
    out->batch_max = c->tiktok_events.batch_max ? c->tiktok_events.batch_max
                                                : SG_EVENTS_BATCH_LIMIT;
    out->flush_ms = c->tiktok_events.flush_ms;
    out->dedup_window_ms = (int64_t)c->tiktok_events.dedup_window_s * 1000;
    out->max_event_age_s = c->tiktok_events.max_event_age_s;
    out->custom_events = c->tiktok_events.custom_events;
    out->test_event_code = c->tiktok_events.test_event_code;
    out->attempts_max = (int)c->jobs.attempts_max;
    out->seal_at_intake = true;
}

static int reject(struct sg_events_reject *why, const char *code,
                  const char *field, const char *fmt, ...) SG_PRINTF(4, 5);

static int reject(struct sg_events_reject *why, const char *code,
                  const char *field, const char *fmt, ...)
{
    va_list ap;

    why->code = code;
    snprintf(why->field, sizeof(why->field), "%s", field ? field : "");
    va_start(ap, fmt);
    vsnprintf(why->msg, sizeof(why->msg), fmt, ap);
    va_end(ap);
    return SG_EINVAL;
}

bool sg_events__custom_allowed(const char *list, const char *name)
{
    size_t n = strlen(name);

    while (list && *list) {
        const char *end = strchr(list, ',');
        const char *a = list, *b = end ? end : list + strlen(list);

        while (a < b && (*a == ' ' || *a == '\t'))
            a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
            b--;
        if ((size_t)(b - a) == n && memcmp(a, name, n) == 0)
            return true;
        list = end ? end + 1 : NULL;
    }
    return false;
}

static bool printable(const char *s, size_t max)
{
    size_t n = 0;

    for (; *s; s++, n++) {
        if ((unsigned char)*s < 0x20 || *s == 0x7f || n >= max)
            return false;
    }
    return n > 0;
}

/* A scalar of the input as it is (string, integer, real, boolean). */
static void jw_scalar(struct sg_events_jw *w, const json_t *v)
{
    if (json_is_string(v))
        jw_str(w, json_string_value(v), json_string_length(v));
    else if (json_is_integer(v))
        jw_int(w, json_integer_value(v));
    else if (json_is_real(v))
        jw_real(w, json_real_value(v));
    else if (json_is_true(v))
        jw_raw(w, "true", 4);
    else
        jw_raw(w, "false", 5);
}

/* A short free-text string member copied as is (not customer data). */
static int copy_str(struct sg_events_jw *w, bool *any, const json_t *src,
                    const char *key, const char *obj,
                    struct sg_events_reject *why)
{
    json_t *v = json_object_get(src, key);

    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v) || json_string_length(v) > STR_MAX) {
        char path[48];

        snprintf(path, sizeof(path), "%s.%s", obj, key);
        return reject(why, "invalid_field", path,
                      "%s must be a string of at most %d bytes", path,
                      STR_MAX);
    }
    jw_key(w, any, key);
    jw_str(w, json_string_value(v), json_string_length(v));
    return 0;
}

/* email/phone/external_id/...: string or array of strings -> digest(s). */
static int hash_member(struct sg_events_jw *w, bool *any, const json_t *in,
                       const char *key, int field,
                       struct sg_events_reject *why)
{
    json_t *v = json_object_get(in, key), *e;
    char hex[65], path[32];
    size_t i;

    if (!v || json_is_null(v))
        return 0;
    snprintf(path, sizeof(path), "user.%s", key);
    if (json_is_string(v)) {
        if (sg_events_digest_with(w->sha, field, json_string_value(v),
                                  json_string_length(v), hex) != 0)
            return reject(why, "invalid_user", path,
                          "%s does not normalise to a usable value", path);
        jw_key(w, any, key);
        jw_str(w, hex, 64);
        return 0;
    }
    if (!json_is_array(v) || json_array_size(v) == 0 ||
        json_array_size(v) > IDS_MAX)
        return reject(why, "invalid_user", path,
                      "%s must be a string or an array of 1..%d strings",
                      path, IDS_MAX);
    jw_key(w, any, key);
    jw_raw(w, "[", 1);
    json_array_foreach(v, i, e) {
        if (!json_is_string(e) ||
            sg_events_digest_with(w->sha, field, json_string_value(e),
                                  json_string_length(e), hex) != 0)
            return reject(why, "invalid_user", path,
                          "%s[%zu] does not normalise to a usable value",
                          path, i);
        if (i)
            jw_raw(w, ",", 1);
        jw_str(w, hex, 64);
    }
    jw_raw(w, "]", 1);
    return 0;
}

static int place_member(struct sg_events_jw *w, bool *any, const json_t *in,
                        const char *key, struct sg_events_reject *why)
{
    json_t *v = json_object_get(in, key);
    char buf[128];
    int n;

    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v) ||
        (n = sg_events_normalize_place(json_string_value(v),
                                       json_string_length(v), buf,
                                       sizeof(buf))) < 0)
        return reject(why, "invalid_user", key,
                      "user.%s must be a short place name", key);
    jw_key(w, any, key);
    jw_str(w, buf, (size_t)n);
    return 0;
}

static int build_user(struct sg_events_jw *w, bool *any, const json_t *in,
                      struct sg_events_reject *why)
{
    static const struct {
        const char *key;
        int field;
    } hashed[] = {
        {"email", SG_EVENTS_F_EMAIL},
        {"phone", SG_EVENTS_F_PHONE},
        {"external_id", SG_EVENTS_F_EXTERNAL_ID},
        {"first_name", SG_EVENTS_F_NAME},
        {"last_name", SG_EVENTS_F_NAME},
        {"zip_code", SG_EVENTS_F_ZIP},
    };
    static const char *const plain[] = {"ttclid", "ttp", "ip", "user_agent",
                                        "locale"};
    static const char *const places[] = {"city", "state", "country"};
    bool inner;
    size_t mark;
    int rc = 0;

    if (!in || json_is_null(in))
        return 0;
    if (!json_is_object(in))
        return reject(why, "invalid_user", "user", "user must be an object");
    mark = obj_open(w, any, "user", &inner);
    for (size_t i = 0; !rc && i < SG_ARRAY_SIZE(hashed); i++)
        rc = hash_member(w, &inner, in, hashed[i].key, hashed[i].field, why);
    for (size_t i = 0; !rc && i < SG_ARRAY_SIZE(plain); i++)
        rc = copy_str(w, &inner, in, plain[i], "user", why);
    for (size_t i = 0; !rc && i < SG_ARRAY_SIZE(places); i++)
        rc = place_member(w, &inner, in, places[i], why);
    if (!rc)
        obj_close(w, any, mark, inner);
    return rc;
}

static int build_contents(struct sg_events_jw *w, bool *any, const json_t *in,
                          struct sg_events_reject *why)
{
    static const char *const strs[] = {"content_id", "content_name",
                                       "content_category", "content_type",
                                       "brand"};
    json_t *c;
    size_t i;
    int rc = 0;

    if (!in || json_is_null(in))
        return 0;
    if (!json_is_array(in) || json_array_size(in) > CONTENTS_MAX)
        return reject(why, "invalid_field", "properties.contents",
                      "properties.contents must be an array of at most %d "
                      "objects",
                      CONTENTS_MAX);
    jw_key(w, any, "contents");
    jw_raw(w, "[", 1);
    json_array_foreach(in, i, c) {
        json_t *p, *q;
        bool inner = false;

        if (!json_is_object(c))
            return reject(why, "invalid_field", "properties.contents",
                          "properties.contents[%zu] must be an object", i);
        jw_raw(w, i ? ",{" : "{", i ? 2 : 1);
        for (size_t k = 0; !rc && k < SG_ARRAY_SIZE(strs); k++)
            rc = copy_str(w, &inner, c, strs[k], "properties.contents",
                          why);
        if (rc)
            return rc;
        p = json_object_get(c, "price");
        if (p && !json_is_null(p)) {
            if (!json_is_number(p))
                return reject(why, "invalid_field",
                              "properties.contents.price",
                              "properties.contents.price must be a number");
            jw_key(w, &inner, "price");
            jw_scalar(w, p);
        }
        q = json_object_get(c, "quantity");
        if (q && !json_is_null(q)) {
            if (!json_is_integer(q))
                return reject(why, "invalid_field",
                              "properties.contents.quantity",
                              "quantity must be an integer");
            jw_key(w, &inner, "quantity");
            jw_int(w, json_integer_value(q));
        }
        jw_raw(w, "}", 1);
    }
    jw_raw(w, "]", 1);
    return 0;
}

/* value: a number, or a string holding a decimal number. */
static int put_value(struct sg_events_jw *w, bool *any, const json_t *v,
                     struct sg_events_reject *why)
{
    char buf[32], *end;
    double d;
    size_t n;

    if (json_is_number(v)) {
        jw_key(w, any, "value");
        jw_scalar(w, v);
        return 0;
    }
    n = json_is_string(v) ? json_string_length(v) : 0;
    if (n > 0 && n < sizeof(buf)) {
        memcpy(buf, json_string_value(v), n + 1);
        errno = 0;
        d = strtod(buf, &end);
        if (!errno && *end == '\0' && isfinite(d)) {
            jw_key(w, any, "value");
            jw_real(w, d);
            return 0;
        }
    }
    return reject(why, "invalid_value", "properties.value",
                  "properties.value must be a number");
}

static int put_content_ids(struct sg_events_jw *w, bool *any, const json_t *ids,
                           struct sg_events_reject *why)
{
    json_t *e;
    size_t i;

    if (!json_is_array(ids) || json_array_size(ids) > CONTENTS_MAX)
        goto bad;
    json_array_foreach(ids, i, e) {
        if (!json_is_string(e) || json_string_length(e) > 256)
            goto bad;
    }
    jw_key(w, any, "content_ids");
    jw_raw(w, "[", 1);
    json_array_foreach(ids, i, e) {
        if (i)
            jw_raw(w, ",", 1);
        jw_str(w, json_string_value(e), json_string_length(e));
    }
    jw_raw(w, "]", 1);
    return 0;
bad:
    return reject(why, "invalid_field", "properties.content_ids",
                  "properties.content_ids must be an array of strings");
}

static int build_properties(struct sg_events_jw *w, bool *any, const json_t *in,
                            struct sg_events_reject *why)
{
    static const char *const strs[] = {"content_type", "order_id", "shop_id",
                                       "query", "description",
                                       "search_string"};
    json_t *cur, *val, *n, *ids;
    bool inner;
    size_t mark;
    int rc = 0;

    if (!in || json_is_null(in))
        return 0;
    if (!json_is_object(in))
        return reject(why, "invalid_field", "properties",
                      "properties must be an object");
    cur = json_object_get(in, "currency");
    val = json_object_get(in, "value");
    n = json_object_get(in, "num_items");
    ids = json_object_get(in, "content_ids");
    mark = obj_open(w, any, "properties", &inner);
    for (size_t i = 0; !rc && i < SG_ARRAY_SIZE(strs); i++)
        rc = copy_str(w, &inner, in, strs[i], "properties", why);
    if (!rc)
        rc = build_contents(w, &inner, json_object_get(in, "contents"), why);
    if (rc)
        return rc;
    if (cur && !json_is_null(cur)) {
        if (!json_is_string(cur) ||
            !sg_events_is_currency(json_string_value(cur)))
            return reject(why, "invalid_currency", "properties.currency",
                          "properties.currency must be an ISO 4217 code");
        jw_key(w, &inner, "currency");
        jw_str(w, json_string_value(cur), json_string_length(cur));
    }
    if (val && !json_is_null(val)) {
        rc = put_value(w, &inner, val, why);
        if (rc)
            return rc;
    }
    if (val && (!cur || json_is_null(cur)))
        return reject(why, "invalid_currency", "properties.currency",
                      "properties.value needs properties.currency");
    if (n && !json_is_null(n)) {
        if (!json_is_integer(n))
            return reject(why, "invalid_field", "properties.num_items",
                          "properties.num_items must be an integer");
        jw_key(w, &inner, "num_items");
        jw_int(w, json_integer_value(n));
    }
    if (ids && !json_is_null(ids)) {
        rc = put_content_ids(w, &inner, ids, why);
        if (rc)
            return rc;
    }
    obj_close(w, any, mark, inner);
    return 0;
}

static int build_simple_obj(struct sg_events_jw *w, bool *any, const json_t *in,
                            const char *name, const char *const *keys,
                            size_t n, struct sg_events_reject *why)
{
    bool inner;
    size_t mark;
    int rc = 0;

    if (!in || json_is_null(in))
        return 0;
    if (!json_is_object(in))
        return reject(why, "invalid_field", name, "%s must be an object",
                      name);
    mark = obj_open(w, any, name, &inner);
    for (size_t i = 0; !rc && i < n; i++)
        rc = copy_str(w, &inner, in, keys[i], name, why);
    if (!rc)
        obj_close(w, any, mark, inner);
    return rc;
}

static int check_time(int64_t *t_out, const json_t *v,
                      const struct sg_events_cfg *cfg, int64_t now_ms,
                      struct sg_events_reject *why)
{
    int64_t now_s = now_ms / 1000, t;

    if (!v || json_is_null(v)) {
        *t_out = now_s; /* not given: the time it reached us */
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) <= 0)
        return reject(why, "invalid_time", "event_time",
                      "event_time must be Unix seconds (an integer)");
    t = json_integer_value(v);
    if (t > 100000000000LL)
        t /= 1000; /* milliseconds given; TikTok wants seconds */
    if (t > now_s + SG_EVENTS_FUTURE_SKEW_S)
        return reject(why, "in_future", "event_time",
                      "event_time is in the future");
    if (cfg->max_event_age_s > 0 && t < now_s - cfg->max_event_age_s)
        return reject(why, "too_old", "event_time",
                      "event_time is older than %" PRId64 " seconds",
                      cfg->max_event_age_s);
    *t_out = t;
    return 0;
}

static int check_identity(struct sg_events_item *it, const json_t *in,
                          int default_source,
                          const struct sg_events_cfg *cfg,
                          struct sg_events_reject *why)
{
    const char *name = sg_json_str(in, "event");
    const char *src = sg_json_str(in, "event_source");
    json_t *id = json_object_get(in, "event_id");
    const char *sid;
    unsigned char rnd[12];
    char hex[25];

    it->source = default_source;
    if (json_object_get(in, "event_source")) {
        it->source = sg_events_source_parse(src);
        if (it->source < 0)
            return reject(why, "invalid_source", "event_source",
                          "event_source must be web, app, offline or crm");
    }
    sid = cfg->source_ids[it->source];
    if (!sid || !*sid)
        return reject(why, "source_not_configured", "event_source",
                      "no event set is configured for %s events",
                      sg_events_source_name(it->source));
    if (!name || !printable(name, SG_EVENTS_NAME_MAX))
        return reject(why, "invalid_event", "event",
                      "event must be a name of 1..%d characters",
                      SG_EVENTS_NAME_MAX);
    if (!sg_events_is_standard(name) &&
        !sg_events__custom_allowed(cfg->custom_events, name))
        return reject(why, "invalid_event", "event",
                      "event is not a standard event name nor a configured "
                      "custom one");
    snprintf(it->event, sizeof(it->event), "%s", name);
    if (id && !json_is_null(id)) {
        if (!json_is_string(id) ||
            !printable(json_string_value(id), SG_EVENTS_ID_MAX))
            return reject(why, "invalid_event_id", "event_id",
                          "event_id must be 1..%d printable characters",
                          SG_EVENTS_ID_MAX);
        snprintf(it->event_id, sizeof(it->event_id), "%s",
                 json_string_value(id));
        return 0;
    }
    if (sg_random_bytes(rnd, sizeof(rnd)) != 0)
        return SG_EIO;
    sg_hex_encode(rnd, sizeof(rnd), hex);
    hex[24] = '\0';
    snprintf(it->event_id, sizeof(it->event_id), "sg_%s", hex);
    it->event_id_generated = true;
    return 0;
}


int sg_events_prepare_buf(struct sg_events_item *out, struct sg_buf *b,
                          struct sg_events_sha *sha, const json_t *in,
                          int default_source, const struct sg_events_cfg *cfg,
                          int64_t now_ms, struct sg_events_reject *why)
{
    static const char *const page_keys[] = {"url", "referrer"};
    static const char *const lead_keys[] = {"lead_id", "lead_event_source"};
    struct sg_events_jw w = {.b = b, .sha = sha, .rc = 0};
    size_t start = b->len;
    bool any = true; /* event, event_time and event_id always lead */
    json_t *ldu;
    int rc;

    memset(out, 0, sizeof(*out));
    memset(why, 0, sizeof(*why));
    if (!json_is_object(in))
        return reject(why, "invalid_shape", NULL,
                      "an event must be a JSON object");
    rc = check_identity(out, in, default_source, cfg, why);
    if (!rc)
        rc = check_time(&out->event_time, json_object_get(in, "event_time"),
                        cfg, now_ms, why);
    if (rc)
        goto out;
    jw_raw(&w, "{\"event\":", 9);
    jw_str(&w, out->event, strlen(out->event));
    jw_raw(&w, ",\"event_time\":", 14);
    jw_int(&w, out->event_time);
    jw_raw(&w, ",\"event_id\":", 12);
    jw_str(&w, out->event_id, strlen(out->event_id));
    rc = build_user(&w, &any, json_object_get(in, "user"), why);
    if (!rc)
        rc = build_properties(&w, &any, json_object_get(in, "properties"),
                              why);
    if (!rc)
        rc = build_simple_obj(&w, &any, json_object_get(in, "page"), "page",
                              page_keys, SG_ARRAY_SIZE(page_keys), why);
    if (!rc && out->source == SG_EVENTS_CRM)
        rc = build_simple_obj(&w, &any, json_object_get(in, "lead"), "lead",
                              lead_keys, SG_ARRAY_SIZE(lead_keys), why);
    ldu = json_object_get(in, "limited_data_use");
    if (!rc && ldu && !json_is_null(ldu)) {
        if (!json_is_boolean(ldu)) {
            rc = reject(why, "invalid_field", "limited_data_use",
                        "limited_data_use must be true or false");
        } else {
            jw_key(&w, &any, "limited_data_use");
            jw_scalar(&w, ldu);
        }
    }
    jw_raw(&w, "}", 1);
    if (!rc && w.rc)
        rc = w.rc == SG_ELIMIT ? SG_ELIMIT : SG_ENOMEM;
    if (!rc) {
        out->body_off = start;
        out->body_len = b->len - start;
    }
out:
    if (rc) {
        int src = out->source;

        jw_cut(&w, start);
        memset(out, 0, sizeof(*out));
        out->source = src;
    }
    return rc;
}

#define EVENT_BODY_MAX (64u << 10) /* one event's JSON, caps every member */

int sg_events_prepare(struct sg_events_item *out, const json_t *in,
                      int default_source, const struct sg_events_cfg *cfg,
                      int64_t now_ms, struct sg_events_reject *why)
{
    struct sg_buf b;
    int rc;

    sg_buf_init(&b, EVENT_BODY_MAX);
    rc = sg_events_prepare_buf(out, &b, NULL, in, default_source, cfg, now_ms,
                               why);
    if (rc == SG_ELIMIT)
        rc = reject(why, "invalid_shape", NULL, "the event is too large");
    if (rc == 0) {
        out->body = sg_buf_detach(&b, &out->body_len);
        out->body_off = 0;
        if (!out->body)
            rc = SG_ENOMEM;
    }
    sg_buf_release(&b);
    if (rc && rc != SG_EINVAL) {
        int src = out->source;

        memset(out, 0, sizeof(*out));
        out->source = src;
    }
    return rc;
}

void sg_events_item_release(struct sg_events_item *it)
{
    if (!it)
        return;
    sg_free(it->body);
    memset(it, 0, sizeof(*it));
}

/* ---- batches ---- */

int sg_events_json_str(struct sg_buf *b, const char *s, size_t n)
{
    struct sg_events_jw w = {.b = b, .sha = NULL, .rc = 0};

    jw_str(&w, s, n);
    return w.rc;
}

static int append_json_str(struct sg_buf *b, const char *s)
{
    return sg_events_json_str(b, s, strlen(s));
}

int sg_events_batch_body(struct sg_buf *out, int source,
                         const char *source_id, const char *test_event_code,
                         const char *const *events, const size_t *lens,
                         size_t n)
{
    const char *name = sg_events_source_name(source);
    int rc;

    if (!name || !source_id)
        return SG_EINVAL;
    rc = sg_buf_printf(out, "{\"event_source\":\"%s\",\"event_source_id\":",
                       name);
    if (!rc)
        rc = append_json_str(out, source_id);
    if (!rc && test_event_code && *test_event_code) {
        rc = sg_buf_appends(out, ",\"test_event_code\":");
        if (!rc)
            rc = append_json_str(out, test_event_code);
    }
    if (!rc)
        rc = sg_buf_appends(out, ",\"partner_name\":\"Surge\",\"data\":[");
    for (size_t i = 0; !rc && i < n; i++) {
        if (i)
            rc = sg_buf_append(out, ",", 1);
        if (!rc)
            rc = sg_buf_append(out, events[i], lens[i]);
    }
    if (!rc)
        rc = sg_buf_appends(out, "]}");
    return rc;
}

static int cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;

    return x < y ? -1 : x > y;
}

int sg_events_partial_failures(const json_t *resp, size_t *idx_out,
                               size_t max, size_t *n_out)
{
    json_t *data = json_object_get(resp, "data"), *list, *e;
    size_t i, n = 0;

    *n_out = 0;
    list = json_object_get(data, "failed_events");
    if (!list)
        list = json_object_get(data, "errors");
    if (!json_is_array(list))
        return SG_EINVAL;
    json_array_foreach(list, i, e) {
        json_t *ix = json_object_get(e, "index");

        if (!json_is_integer(ix) || json_integer_value(ix) < 0)
            continue;
        if (n == max)
            return SG_ELIMIT;
        idx_out[n++] = (size_t)json_integer_value(ix);
    }
    qsort(idx_out, n, sizeof(*idx_out), cmp_size);
    *n_out = n;
    return 0;
}
