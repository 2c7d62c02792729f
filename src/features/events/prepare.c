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

static bool custom_allowed(const char *list, const char *name)
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

/* A short free-text string member copied as is (not customer data). */
static int copy_str(json_t *dst, const json_t *src, const char *key,
                    const char *path, struct sg_events_reject *why)
{
    json_t *v = json_object_get(src, key);

    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v) || json_string_length(v) > STR_MAX)
        return reject(why, "invalid_field", path,
                      "%s must be a string of at most %d bytes", path,
                      STR_MAX);
    return json_object_set(dst, key, v) ? SG_ENOMEM : 0;
}

static int copy_num(json_t *dst, const json_t *src, const char *key,
                    const char *path, struct sg_events_reject *why)
{
    json_t *v = json_object_get(src, key);

    if (!v || json_is_null(v))
        return 0;
    if (!json_is_number(v))
        return reject(why, "invalid_field", path, "%s must be a number",
                      path);
    return json_object_set(dst, key, v) ? SG_ENOMEM : 0;
}

/* email/phone/external_id: string or array of strings -> digest(s). */
static int hash_member(json_t *user, const json_t *in, const char *key,
                       int field, struct sg_events_reject *why)
{
    json_t *v = json_object_get(in, key), *arr, *e;
    char hex[65], path[32];
    size_t i;

    snprintf(path, sizeof(path), "user.%s", key);
    if (!v || json_is_null(v))
        return 0;
    if (json_is_string(v)) {
        if (sg_events_digest(field, json_string_value(v),
                             json_string_length(v), hex) != 0)
            return reject(why, "invalid_user", path,
                          "%s does not normalise to a usable value", path);
        return json_object_set_new(user, key, json_string(hex)) ? SG_ENOMEM
                                                                : 0;
    }
    if (!json_is_array(v) || json_array_size(v) == 0 ||
        json_array_size(v) > IDS_MAX)
        return reject(why, "invalid_user", path,
                      "%s must be a string or an array of 1..%d strings",
                      path, IDS_MAX);
    arr = json_array();
    if (!arr)
        return SG_ENOMEM;
    json_array_foreach(v, i, e) {
        if (!json_is_string(e) ||
            sg_events_digest(field, json_string_value(e),
                             json_string_length(e), hex) != 0) {
            json_decref(arr);
            return reject(why, "invalid_user", path,
                          "%s[%zu] does not normalise to a usable value",
                          path, i);
        }
        json_array_append_new(arr, json_string(hex));
    }
    return json_object_set_new(user, key, arr) ? SG_ENOMEM : 0;
}

static int place_member(json_t *user, const json_t *in, const char *key,
                        struct sg_events_reject *why)
{
    json_t *v = json_object_get(in, key);
    char buf[128];

    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v) ||
        sg_events_normalize_place(json_string_value(v),
                                  json_string_length(v), buf,
                                  sizeof(buf)) < 0)
        return reject(why, "invalid_user", key,
                      "user.%s must be a short place name", key);
    return json_object_set_new(user, key, json_string(buf)) ? SG_ENOMEM : 0;
}

static int build_user(json_t *out, const json_t *in,
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
    json_t *user;
    int rc = 0;

    if (!in || json_is_null(in))
        return 0;
    if (!json_is_object(in))
        return reject(why, "invalid_user", "user", "user must be an object");
    user = json_object();
    if (!user)
        return SG_ENOMEM;
    for (size_t i = 0; !rc && i < SG_ARRAY_SIZE(hashed); i++)
        rc = hash_member(user, in, hashed[i].key, hashed[i].field, why);
    for (size_t i = 0; !rc && i < SG_ARRAY_SIZE(plain); i++) {
        char path[32];

        snprintf(path, sizeof(path), "user.%s", plain[i]);
        rc = copy_str(user, in, plain[i], path, why);
    }
    for (size_t i = 0; !rc && i < SG_ARRAY_SIZE(places); i++)
        rc = place_member(user, in, places[i], why);
    if (!rc && json_object_size(user))
        rc = json_object_set(out, "user", user) ? SG_ENOMEM : 0;
    json_decref(user);
    return rc;
}

static int build_contents(json_t *props, const json_t *in,
                          struct sg_events_reject *why)
{
    static const char *const strs[] = {"content_id", "content_name",
                                       "content_category", "content_type",
                                       "brand"};
    json_t *arr, *c;
    size_t i;
    int rc = 0;

    if (!in || json_is_null(in))
        return 0;
    if (!json_is_array(in) || json_array_size(in) > CONTENTS_MAX)
        return reject(why, "invalid_field", "properties.contents",
                      "properties.contents must be an array of at most %d "
                      "objects",
                      CONTENTS_MAX);
    arr = json_array();
    if (!arr)
        return SG_ENOMEM;
    json_array_foreach(in, i, c) {
        json_t *o;

        if (!json_is_object(c)) {
            rc = reject(why, "invalid_field", "properties.contents",
                        "properties.contents[%zu] must be an object", i);
            break;
        }
        o = json_object();
        if (!o) {
            rc = SG_ENOMEM;
            break;
        }
        for (size_t k = 0; !rc && k < SG_ARRAY_SIZE(strs); k++)
            rc = copy_str(o, c, strs[k], "properties.contents", why);
        if (!rc)
            rc = copy_num(o, c, "price", "properties.contents.price", why);
        if (!rc) {
            json_t *q = json_object_get(c, "quantity");

            if (q && !json_is_null(q) && !json_is_integer(q))
                rc = reject(why, "invalid_field",
                            "properties.contents.quantity",
                            "quantity must be an integer");
            else if (q && json_is_integer(q))
                json_object_set(o, "quantity", q);
        }
        json_array_append_new(arr, o);
        if (rc)
            break;
    }
    if (!rc)
        rc = json_object_set(props, "contents", arr) ? SG_ENOMEM : 0;
    json_decref(arr);
    return rc;
}

/* value: a number, or a string holding a decimal number. */
static int set_value(json_t *props, json_t *v, struct sg_events_reject *why)
{
    char *end;
    double d;

    if (!v || json_is_null(v))
        return 0;
    if (json_is_number(v))
        return json_object_set(props, "value", v) ? SG_ENOMEM : 0;
    if (json_is_string(v) && json_string_length(v) > 0 &&
        json_string_length(v) < 32) {
        errno = 0;
        d = strtod(json_string_value(v), &end);
        if (!errno && *end == '\0' && isfinite(d))
            return json_object_set_new(props, "value", json_real(d))
                       ? SG_ENOMEM
                       : 0;
    }
    return reject(why, "invalid_value", "properties.value",
                  "properties.value must be a number");
}

static int build_properties(json_t *out, const json_t *in,
                            struct sg_events_reject *why)
{
    static const char *const strs[] = {"content_type", "order_id", "shop_id",
                                       "query", "description",
                                       "search_string"};
    json_t *props, *cur, *ids;
    int rc = 0;

    if (!in || json_is_null(in))
        return 0;
    if (!json_is_object(in))
        return reject(why, "invalid_field", "properties",
                      "properties must be an object");
    props = json_object();
    if (!props)
        return SG_ENOMEM;
    for (size_t i = 0; !rc && i < SG_ARRAY_SIZE(strs); i++) {
        char path[48];

        snprintf(path, sizeof(path), "properties.%s", strs[i]);
        rc = copy_str(props, in, strs[i], path, why);
    }
    if (!rc)
        rc = build_contents(props, json_object_get(in, "contents"), why);
    cur = json_object_get(in, "currency");
    if (!rc && cur && !json_is_null(cur)) {
        if (!json_is_string(cur) ||
            !sg_events_is_currency(json_string_value(cur)))
            rc = reject(why, "invalid_currency", "properties.currency",
                        "properties.currency must be an ISO 4217 code");
        else
            json_object_set(props, "currency", cur);
    }
    if (!rc)
        rc = set_value(props, json_object_get(in, "value"), why);
    if (!rc && json_object_get(in, "value") &&
        !json_object_get(props, "currency"))
        rc = reject(why, "invalid_currency", "properties.currency",
                    "properties.value needs properties.currency");
    if (!rc) {
        json_t *n = json_object_get(in, "num_items");

        if (n && !json_is_null(n) && !json_is_integer(n))
            rc = reject(why, "invalid_field", "properties.num_items",
                        "properties.num_items must be an integer");
        else if (n && json_is_integer(n))
            json_object_set(props, "num_items", n);
    }
    ids = json_object_get(in, "content_ids");
    if (!rc && ids && !json_is_null(ids)) {
        size_t i;
        json_t *e;

        if (!json_is_array(ids) || json_array_size(ids) > CONTENTS_MAX)
            rc = reject(why, "invalid_field", "properties.content_ids",
                        "properties.content_ids must be an array of "
                        "strings");
        json_array_foreach(ids, i, e) {
            if (!rc && (!json_is_string(e) || json_string_length(e) > 256))
                rc = reject(why, "invalid_field", "properties.content_ids",
                            "properties.content_ids must be an array of "
                            "strings");
        }
        if (!rc)
            json_object_set(props, "content_ids", ids);
    }
    if (!rc && json_object_size(props))
        rc = json_object_set(out, "properties", props) ? SG_ENOMEM : 0;
    json_decref(props);
    return rc;
}

static int build_simple_obj(json_t *out, const json_t *in, const char *name,
                            const char *const *keys, size_t n,
                            struct sg_events_reject *why)
{
    json_t *o;
    int rc = 0;

    if (!in || json_is_null(in))
        return 0;
    if (!json_is_object(in))
        return reject(why, "invalid_field", name, "%s must be an object",
                      name);
    o = json_object();
    if (!o)
        return SG_ENOMEM;
    for (size_t i = 0; !rc && i < n; i++) {
        char path[48];

        snprintf(path, sizeof(path), "%s.%s", name, keys[i]);
        rc = copy_str(o, in, keys[i], path, why);
    }
    if (!rc && json_object_size(o))
        rc = json_object_set(out, name, o) ? SG_ENOMEM : 0;
    json_decref(o);
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
        !custom_allowed(cfg->custom_events, name))
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

/* Fewest significant digits (1..17) that read back as exactly d. */
static int shortest_digits(double d)
{
    char buf[40];

    for (int p = 1; p < 17; p++) {
        snprintf(buf, sizeof(buf), "%.*g", p, d);
        if (strtod(buf, NULL) == d)
            return p;
    }
    return 17;
}

/* The most digits any real in j needs (0 when it holds none). */
static int real_digits(const json_t *j)
{
    const char *k;
    json_t *v;
    size_t i;
    int p = 0;

    if (json_is_real(j))
        return shortest_digits(json_real_value(j));
    if (json_is_object(j)) {
        json_object_foreach((json_t *)(uintptr_t)j, k, v)
            p = SG_MAX(p, real_digits(v));
    } else if (json_is_array(j)) {
        json_array_foreach(j, i, v)
            p = SG_MAX(p, real_digits(v));
    }
    return p;
}

/*
 * Compact JSON of ev whose reals read back as the values the client
 * sent: jansson's default (17 digits) turns 19.90 into
 * 19.899999999999999; this uses the fewest digits that round-trip every
 * real of the event.
 */
static char *dump_event(const json_t *ev, size_t *len_out)
{
    size_t flags = JSON_COMPACT, len;
    int p = real_digits(ev);
    char *s;

    if (p > 0)
        flags |= JSON_REAL_PRECISION(p);
    len = json_dumpb(ev, NULL, 0, flags);
    if (len == 0)
        return NULL;
    s = sg_alloc(len + 1);
    if (!s)
        return NULL;
    if (json_dumpb(ev, s, len, flags) != len) {
        sg_free(s);
        return NULL;
    }
    s[len] = '\0';
    *len_out = len;
    return s;
}

int sg_events_prepare(struct sg_events_item *out, const json_t *in,
                      int default_source, const struct sg_events_cfg *cfg,
                      int64_t now_ms, struct sg_events_reject *why)
{
    static const char *const page_keys[] = {"url", "referrer"};
    static const char *const lead_keys[] = {"lead_id", "lead_event_source"};
    json_t *ev = NULL, *ldu;
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
    ev = json_pack("{s:s, s:I, s:s}", "event", out->event, "event_time",
                   (json_int_t)out->event_time, "event_id", out->event_id);
    if (!ev) {
        rc = SG_ENOMEM;
        goto out;
    }
    rc = build_user(ev, json_object_get(in, "user"), why);
    if (!rc)
        rc = build_properties(ev, json_object_get(in, "properties"), why);
    if (!rc)
        rc = build_simple_obj(ev, json_object_get(in, "page"), "page",
                              page_keys, SG_ARRAY_SIZE(page_keys), why);
    if (!rc && out->source == SG_EVENTS_CRM)
        rc = build_simple_obj(ev, json_object_get(in, "lead"), "lead",
                              lead_keys, SG_ARRAY_SIZE(lead_keys), why);
    ldu = json_object_get(in, "limited_data_use");
    if (!rc && ldu && !json_is_null(ldu)) {
        if (!json_is_boolean(ldu))
            rc = reject(why, "invalid_field", "limited_data_use",
                        "limited_data_use must be true or false");
        else
            json_object_set(ev, "limited_data_use", ldu);
    }
    if (rc)
        goto out;
    out->body = dump_event(ev, &out->body_len);
    if (!out->body)
        rc = SG_ENOMEM;
out:
    json_decref(ev);
    if (rc) {
        int src = out->source;

        sg_events_item_release(out);
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

/* A JSON string literal of s (escaped), appended to b. */
static int append_json_str(struct sg_buf *b, const char *s)
{
    static const char hx[] = "0123456789abcdef";
    int rc = sg_buf_append(b, "\"", 1);

    for (; !rc && *s; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[7] = {'\\', 'u', '0', '0', hx[c >> 4], hx[c & 15], 0};

        if (c == '"' || c == '\\') {
            esc[1] = (char)c;
            rc = sg_buf_append(b, esc, 2);
        } else if (c < 0x20) {
            rc = sg_buf_append(b, esc, 6);
        } else {
            rc = sg_buf_append(b, s, 1);
        }
    }
    return rc ? rc : sg_buf_append(b, "\"", 1);
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
