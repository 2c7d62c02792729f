/*
 * clock.c - real and manual clocks.
 */
#include "clock.h"

#include <time.h>

static int64_t real_now(const struct sg_clock *c)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + c->offset_ms;
}

static int64_t manual_now(const struct sg_clock *c)
{
    return c->manual_ms + c->offset_ms;
}

static const struct sg_clock system_clock = {.now_ms = real_now};

const struct sg_clock *sg_clock_system(void)
{
    return &system_clock;
}

void sg_clock_init_system(struct sg_clock *c)
{
    memset(c, 0, sizeof(*c));
    c->now_ms = real_now;
}

void sg_clock_init_manual(struct sg_clock *c, int64_t start_ms)
{
    memset(c, 0, sizeof(*c));
    c->now_ms = manual_now;
    c->manual = true;
    c->manual_ms = start_ms;
}

int64_t sg_clock_now_ms(const struct sg_clock *c)
{
    if (!c)
        c = &system_clock;
    return c->now_ms(c);
}

void sg_clock_advance(struct sg_clock *c, int64_t delta_ms)
{
    c->offset_ms += delta_ms;
}

int64_t sg_mono_ms(void)
{
    return sg_mono_us() / 1000;
}

int64_t sg_mono_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void sg_time_format(int64_t ms, char out[32])
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;

    char tmp[96];
    int n;

    gmtime_r(&secs, &tm);
    n = snprintf(tmp, sizeof(tmp), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                 tm.tm_min, tm.tm_sec, (int)(ms % 1000));
    n = n < 0 ? 0 : SG_MIN(n, 31);
    memcpy(out, tmp, (size_t)n);
    out[n] = '\0';
}
