/*
 * backoff.c - full-jitter exponential backoff and Retry-After parsing.
 *
 * Invariant: every delay returned is within [0, cap]. The date parser is
 * hand-written (no strptime: it is locale-dependent) and reads at most len
 * bytes, so it is safe on untrusted header bytes.
 */
#include "core/sg.h"

#include <time.h>

#include "core/crypto.h"
#include "jobs/backoff.h"

int64_t sg_backoff_ceiling(const struct sg_backoff *b, unsigned retry)
{
    int64_t base = b->base_ms > 0 ? b->base_ms : 1;
    int64_t cap = b->cap_ms >= base ? b->cap_ms : base;

    /* base << retry > cap  <=>  base > cap >> retry (no overflow). */
    if (retry >= 62 || base > (cap >> retry))
        return cap;
    return base << retry;
}

int64_t sg_backoff_delay(const struct sg_backoff *b, unsigned retry)
{
    uint64_t bound = (uint64_t)sg_backoff_ceiling(b, retry) + 1;

    if (b->rand)
        return (int64_t)(b->rand(b->rand_state, bound) % bound);
    return (int64_t)sg_random_below(bound);
}

/* ---- Retry-After ---- */

struct cur {
    const char *p;
    const char *end;
};

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool eat(struct cur *c, char ch)
{
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return true;
    }
    return false;
}

/* Exactly n digits. */
static bool digits(struct cur *c, int n, int *out)
{
    int v = 0;

    if (c->end - c->p < n)
        return false;
    for (int i = 0; i < n; i++) {
        if (!is_digit(c->p[i]))
            return false;
        v = v * 10 + (c->p[i] - '0');
    }
    c->p += n;
    *out = v;
    return true;
}

/* A run of letters, compared case-sensitively as RFC 9110 requires. */
static size_t word(struct cur *c, const char **start)
{
    *start = c->p;
    while (c->p < c->end && is_alpha(*c->p))
        c->p++;
    return (size_t)(c->p - *start);
}

static const char *const wday_short[] = {"Sun", "Mon", "Tue", "Wed",
                                         "Thu", "Fri", "Sat"};
static const char *const wday_long[] = {"Sunday",    "Monday",   "Tuesday",
                                        "Wednesday", "Thursday", "Friday",
                                        "Saturday"};
static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

static bool in_list(const char *w, size_t n, const char *const *list,
                    size_t count, int *idx_out)
{
    for (size_t i = 0; i < count; i++) {
        if (strlen(list[i]) == n && memcmp(w, list[i], n) == 0) {
            if (idx_out)
                *idx_out = (int)i;
            return true;
        }
    }
    return false;
}

static bool month(struct cur *c, int *mon)
{
    const char *w;
    size_t n = word(c, &w);

    return in_list(w, n, months, SG_ARRAY_SIZE(months), mon);
}

/* "HH:MM:SS" */
static bool time_of_day(struct cur *c, struct tm *tm)
{
    return digits(c, 2, &tm->tm_hour) && eat(c, ':') &&
           digits(c, 2, &tm->tm_min) && eat(c, ':') &&
           digits(c, 2, &tm->tm_sec);
}

static bool gmt(struct cur *c)
{
    const char *w;
    size_t n = word(c, &w);

    return n == 3 && memcmp(w, "GMT", 3) == 0;
}

static int year_now(int64_t now_ms)
{
    time_t t = (time_t)(now_ms / 1000);
    struct tm tm;

    if (!gmtime_r(&t, &tm))
        return 1970;
    return tm.tm_year + 1900;
}

static bool leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static bool valid(const struct tm *tm, int year)
{
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

    if (year < 1900 || year > 9999 || tm->tm_mon < 0 || tm->tm_mon > 11)
        return false;
    if (tm->tm_mday < 1 || tm->tm_mday > mdays[tm->tm_mon])
        return false;
    if (tm->tm_mon == 1 && tm->tm_mday == 29 && !leap(year))
        return false;
    /* 60 is a leap second; timegm() rolls it into the next minute. */
    return tm->tm_hour <= 23 && tm->tm_min <= 59 && tm->tm_sec <= 60;
}

int sg_http_date_parse(const char *value, size_t len, int64_t now_ms,
                       int64_t *ms_out)
{
    struct cur c = {value, value + len};
    struct tm tm;
    const char *w;
    size_t n;
    int year = 0;
    time_t t;

    if (!value)
        return SG_EINVAL;
    memset(&tm, 0, sizeof(tm));
    n = word(&c, &w);
    if (eat(&c, ',')) {
        bool is_long = in_list(w, n, wday_long, 7, NULL);

        if (!in_list(w, n, wday_short, 7, NULL) && !is_long)
            return SG_EINVAL;
        if (!eat(&c, ' ') || !digits(&c, 2, &tm.tm_mday))
            return SG_EINVAL;
        if (!is_long) {
            /* IMF-fixdate: 06 Nov 1994 08:49:37 GMT */
            if (!eat(&c, ' ') || !month(&c, &tm.tm_mon) || !eat(&c, ' ') ||
                !digits(&c, 4, &year))
                return SG_EINVAL;
        } else {
            /* RFC 850: 06-Nov-94 08:49:37 GMT */
            int yy, now_y = year_now(now_ms);

            if (!eat(&c, '-') || !month(&c, &tm.tm_mon) || !eat(&c, '-') ||
                !digits(&c, 2, &yy))
                return SG_EINVAL;
            year = now_y / 100 * 100 + yy;
            if (year > now_y + 50)
                year -= 100;
        }
        if (!eat(&c, ' ') || !time_of_day(&c, &tm) || !eat(&c, ' ') || !gmt(&c))
            return SG_EINVAL;
    } else {
        /* asctime: Sun Nov  6 08:49:37 1994 */
        if (!in_list(w, n, wday_short, 7, NULL) || !eat(&c, ' ') ||
            !month(&c, &tm.tm_mon) || !eat(&c, ' '))
            return SG_EINVAL;
        if (eat(&c, ' ')) {
            if (!digits(&c, 1, &tm.tm_mday))
                return SG_EINVAL;
        } else if (!digits(&c, 2, &tm.tm_mday)) {
            return SG_EINVAL;
        }
        if (!eat(&c, ' ') || !time_of_day(&c, &tm) || !eat(&c, ' ') ||
            !digits(&c, 4, &year))
            return SG_EINVAL;
    }
    if (c.p != c.end || !valid(&tm, year))
        return SG_EINVAL;
    tm.tm_year = year - 1900;
    t = timegm(&tm);
    if (t == (time_t)-1)
        return SG_EINVAL;
    *ms_out = (int64_t)t * 1000;
    return 0;
}

/*
 * delta-seconds, optionally with a fraction. Values beyond cap are
 * clamped while reading, so no digit count can overflow.
 */
static int parse_seconds(const char *p, const char *end, int64_t cap_ms,
                         int64_t *ms_out)
{
    int64_t secs = 0, ms;
    int64_t frac_scale = 100;
    int64_t frac_ms = 0;
    bool frac_rest = false;
    bool clamped = false;

    if (p == end || !is_digit(*p))
        return SG_EINVAL;
    for (; p < end && is_digit(*p); p++) {
        if (!clamped) {
            secs = secs * 10 + (*p - '0');
            if (secs > cap_ms / 1000 + 1 || secs > INT64_MAX / 10000)
                clamped = true;
        }
    }
    if (p < end && *p == '.') {
        p++;
        if (p == end || !is_digit(*p))
            return SG_EINVAL;
        for (; p < end && is_digit(*p); p++) {
            if (frac_scale > 0) {
                frac_ms += (*p - '0') * frac_scale;
                frac_scale /= 10;
            } else if (*p != '0') {
                frac_rest = true;
            }
        }
    }
    if (p != end)
        return SG_EINVAL;
    if (clamped) {
        *ms_out = cap_ms;
        return 0;
    }
    ms = secs * 1000 + frac_ms + (frac_rest ? 1 : 0);
    *ms_out = SG_MIN(ms, cap_ms);
    return 0;
}

int sg_retry_after_parse(const char *value, size_t len, int64_t now_ms,
                         int64_t cap_ms, int64_t *delay_ms_out)
{
    const char *p = value;
    const char *end = value ? value + len : NULL;
    int64_t at_ms, delay;
    int rc;

    if (!value || len == 0 || cap_ms < 0)
        return SG_EINVAL;
    while (p < end && is_blank(*p))
        p++;
    while (end > p && (is_blank(end[-1]) || end[-1] == '\r' || end[-1] == '\n'))
        end--;
    if (p == end)
        return SG_EINVAL;
    if (is_digit(*p))
        return parse_seconds(p, end, cap_ms, delay_ms_out);
    rc = sg_http_date_parse(p, (size_t)(end - p), now_ms, &at_ms);
    if (rc < 0)
        return rc;
    delay = at_ms - now_ms;
    if (delay < 0)
        delay = 0;
    *delay_ms_out = SG_MIN(delay, cap_ms);
    return 0;
}
