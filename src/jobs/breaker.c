/*
 * breaker.c - per-(platform, shop) circuit breakers in a fixed table.
 *
 * The rolling window is a 64-bit ring of outcome bits. Invariant: in
 * half-open, probes_out counts allowed calls not yet reported and never
 * exceeds cfg.probes. Only idle closed breakers (no failures remembered)
 * are evicted when the table is full, since forgetting them is harmless.
 */
#include "core/sg.h"

#include "core/alloc.h"
#include "jobs/breaker.h"

#define FULL_RETRY_MS 1000

struct br {
    char platform[SG_BREAKER_KEY_MAX];
    char shop[SG_BREAKER_KEY_MAX];
    int state;
    uint64_t fail_bits; /* bit i set = call i of the ring failed */
    unsigned head;      /* next ring position */
    unsigned n;         /* outcomes in the ring */
    int64_t opened_at;
    unsigned probes_out; /* half-open: allowed and not reported */
    unsigned probes_ok;  /* half-open: successes so far */
    bool used;
};

struct sg_breakers {
    struct sg_breaker_cfg cfg;
    struct br *tab;
};

void sg_breaker_cfg_defaults(struct sg_breaker_cfg *cfg)
{
    cfg->window = 20;
    cfg->min_calls = 10;
    cfg->failure_pct = 50;
    cfg->open_ms = 30000;
    cfg->probes = 3;
    cfg->entries_max = 1024;
}

const char *sg_breaker_state_name(int state)
{
    switch (state) {
    case SG_BREAKER_CLOSED:
        return "closed";
    case SG_BREAKER_OPEN:
        return "open";
    case SG_BREAKER_HALF_OPEN:
        return "half_open";
    default:
        return "unknown";
    }
}

int sg_breakers_new(struct sg_breakers **out, const struct sg_breaker_cfg *cfg,
                    struct sg_err *err)
{
    struct sg_breakers *b;

    *out = NULL;
    if (cfg->min_calls < 1 || cfg->window < cfg->min_calls ||
        cfg->window > SG_BREAKER_WINDOW_MAX || cfg->failure_pct < 1 ||
        cfg->failure_pct > 100 || cfg->open_ms <= 0 || cfg->probes < 1 ||
        cfg->probes > SG_BREAKER_PROBES_MAX || cfg->entries_max < 1 ||
        cfg->entries_max > 65536)
        return sg_err_set(err, SG_ECONFIG, "breaker settings out of range");
    b = sg_calloc(1, sizeof(*b));
    if (!b)
        return sg_err_set(err, SG_ENOMEM, "out of memory");
    b->cfg = *cfg;
    b->tab = sg_calloc(cfg->entries_max, sizeof(*b->tab));
    if (!b->tab) {
        sg_free(b);
        return sg_err_set(err, SG_ENOMEM, "out of memory");
    }
    *out = b;
    return 0;
}

void sg_breakers_free(struct sg_breakers *b)
{
    if (!b)
        return;
    sg_free(b->tab);
    sg_free(b);
}

static bool key_ok(const char *p, const char *s)
{
    return p && s && strlen(p) < SG_BREAKER_KEY_MAX &&
           strlen(s) < SG_BREAKER_KEY_MAX;
}

/*
 * A linear table: breakers are per shop, a few hundred at most, and every
 * lookup is one short scan next to an HTTP request.
 */
static struct br *find(struct sg_breakers *b, const char *p, const char *s,
                       bool create)
{
    struct br *idle = NULL, *empty = NULL;

    for (size_t i = 0; i < b->cfg.entries_max; i++) {
        struct br *e = &b->tab[i];

        if (!e->used) {
            if (!empty)
                empty = e;
            continue;
        }
        if (strcmp(e->platform, p) == 0 && strcmp(e->shop, s) == 0)
            return e;
        if (!idle && e->state == SG_BREAKER_CLOSED && e->fail_bits == 0)
            idle = e;
    }
    if (!create)
        return NULL;
    if (!empty)
        empty = idle;
    if (!empty)
        return NULL;
    memset(empty, 0, sizeof(*empty));
    snprintf(empty->platform, sizeof(empty->platform), "%s", p);
    snprintf(empty->shop, sizeof(empty->shop), "%s", s);
    empty->used = true;
    return empty;
}

static void reset_window(struct br *e)
{
    e->fail_bits = 0;
    e->head = 0;
    e->n = 0;
}

static void trip(struct br *e, int64_t now_ms)
{
    e->state = SG_BREAKER_OPEN;
    e->opened_at = now_ms;
    e->probes_out = 0;
    e->probes_ok = 0;
    reset_window(e);
}

/* OPEN turns HALF_OPEN by itself once open_ms has passed. */
static void age(const struct sg_breakers *b, struct br *e, int64_t now_ms)
{
    if (e->state == SG_BREAKER_OPEN &&
        now_ms - e->opened_at >= b->cfg.open_ms) {
        e->state = SG_BREAKER_HALF_OPEN;
        e->probes_out = 0;
        e->probes_ok = 0;
    }
}

int sg_breakers_allow(struct sg_breakers *b, const char *platform,
                      const char *shop, int64_t now_ms,
                      int64_t *retry_at_ms_out)
{
    struct br *e;
    int64_t retry_at = now_ms;
    int rc = 0;

    if (!key_ok(platform, shop)) {
        rc = SG_EINVAL;
        goto out;
    }
    e = find(b, platform, shop, true);
    if (!e) {
        retry_at = now_ms + FULL_RETRY_MS;
        rc = SG_EFULL;
        goto out;
    }
    age(b, e, now_ms);
    switch (e->state) {
    case SG_BREAKER_OPEN:
        retry_at = e->opened_at + b->cfg.open_ms;
        rc = SG_EBUSY;
        break;
    case SG_BREAKER_HALF_OPEN:
        if (e->probes_out + e->probes_ok >= b->cfg.probes) {
            /* All probes are out; their answers decide. */
            retry_at = now_ms + SG_MIN(b->cfg.open_ms, FULL_RETRY_MS);
            rc = SG_EBUSY;
        } else {
            e->probes_out++;
        }
        break;
    default:
        break;
    }
out:
    if (retry_at_ms_out)
        *retry_at_ms_out = retry_at;
    return rc;
}

static void push(const struct sg_breakers *b, struct br *e, bool failed)
{
    uint64_t bit = UINT64_C(1) << e->head;

    if (failed)
        e->fail_bits |= bit;
    else
        e->fail_bits &= ~bit;
    e->head = (e->head + 1) % b->cfg.window;
    if (e->n < b->cfg.window)
        e->n++;
}

static unsigned popcount64(uint64_t v)
{
    unsigned c = 0;

    for (; v; v &= v - 1)
        c++;
    return c;
}

void sg_breakers_record(struct sg_breakers *b, const char *platform,
                        const char *shop, int outcome, int64_t now_ms)
{
    struct br *e;

    if (!key_ok(platform, shop))
        return;
    e = find(b, platform, shop, false);
    if (!e)
        return;
    age(b, e, now_ms);
    switch (e->state) {
    case SG_BREAKER_CLOSED:
        if (outcome == SG_BREAKER_NEUTRAL)
            break;
        push(b, e, outcome == SG_BREAKER_FAILURE);
        if (e->n >= b->cfg.min_calls &&
            popcount64(e->fail_bits) * 100 >= b->cfg.failure_pct * e->n)
            trip(e, now_ms);
        break;
    case SG_BREAKER_HALF_OPEN:
        if (e->probes_out > 0)
            e->probes_out--;
        if (outcome == SG_BREAKER_FAILURE) {
            trip(e, now_ms);
        } else if (outcome == SG_BREAKER_SUCCESS &&
                   ++e->probes_ok >= b->cfg.probes) {
            e->state = SG_BREAKER_CLOSED;
            reset_window(e);
        }
        break;
    default:
        /* Open: late answers to calls made before it opened; ignored. */
        break;
    }
}

int sg_breakers_state(struct sg_breakers *b, const char *platform,
                      const char *shop, int64_t now_ms)
{
    struct br *e;

    if (!key_ok(platform, shop))
        return SG_BREAKER_CLOSED;
    e = find(b, platform, shop, false);
    if (!e)
        return SG_BREAKER_CLOSED;
    age(b, e, now_ms);
    return e->state;
}
