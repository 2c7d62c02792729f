/*
 * clock.h - the injectable clock.
 *
 * Nothing in Surge reads the time directly: it asks a struct sg_clock, so
 * tests and the sandbox can move time forward without sleeping. The system
 * clock is the default; a manual clock holds a settable value.
 */
#ifndef SG_CLOCK_H
#define SG_CLOCK_H

#include "sg.h"

struct sg_clock {
    /* Wall-clock milliseconds since the Unix epoch. */
    int64_t (*now_ms)(const struct sg_clock *c);
    /* Offset added to the source, so a running clock can be advanced. */
    int64_t offset_ms;
    /* For manual clocks: the current value when source is not real. */
    int64_t manual_ms;
    bool manual;
};

/* The process-wide real clock (not advanced by anyone). */
const struct sg_clock *sg_clock_system(void);
void sg_clock_init_system(struct sg_clock *c);
void sg_clock_init_manual(struct sg_clock *c, int64_t start_ms);
int64_t sg_clock_now_ms(const struct sg_clock *c);
/* Move the clock forward by delta_ms (manual or offset). Not thread-safe. */
void sg_clock_advance(struct sg_clock *c, int64_t delta_ms);

/* Monotonic milliseconds, for measuring durations only. */
int64_t sg_mono_ms(void);
int64_t sg_mono_us(void);

/*
 * Format ms since the epoch as RFC 3339 UTC with milliseconds
 * ("2026-11-25T10:00:00.000Z"); out must hold 32 bytes.
 */
void sg_time_format(int64_t ms, char out[32]);

#endif
