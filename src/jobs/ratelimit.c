/*
 * ratelimit.c - token buckets in a fixed-size chained hash table.
 *
 * Tokens are kept as integers in millionths of a token, so refills are
 * exact and repeatable. The table never grows past entries_max: a new key
 * may only take the place of an idle bucket (full and not paused), whose
 * loss changes nothing because a new bucket also starts full.
 */
#include "core/sg.h"

#include "core/alloc.h"
#include "jobs/ratelimit.h"

#define ONE_TOKEN     INT64_C(1000000)
#define FULL_RETRY_MS 1000

struct rl_entry {
    char platform[SG_RL_KEY_MAX];
    char shop[SG_RL_KEY_MAX];
    char cls[SG_RL_KEY_MAX];
    uint64_t hash;
    int64_t tokens;        /* millionths of a token */
    int64_t last_ms;       /* time of the last refill */
    int64_t paused_until;  /* 0 = not paused */
    struct rl_entry *next; /* hash chain, or the free list */
    bool used;
};

struct sg_ratelimit {
    struct sg_ratelimit_cfg cfg;
    int64_t rate;  /* millionths of a token per ms */
    int64_t burst; /* millionths of a token */
    struct rl_entry *pool;
    struct rl_entry **slots;
    size_t nslots; /* a power of two */
    struct rl_entry *free_list;
    size_t count;
};

void sg_ratelimit_cfg_defaults(struct sg_ratelimit_cfg *cfg)
{
    cfg->rate_per_sec = 50.0;
    cfg->burst = 50.0;
    cfg->entries_max = 4096;
}

int sg_ratelimit_new(struct sg_ratelimit **out,
                     const struct sg_ratelimit_cfg *cfg, struct sg_err *err)
{
    struct sg_ratelimit *rl;

    *out = NULL;
    if (!(cfg->rate_per_sec >= 0.001 && cfg->rate_per_sec <= 1e6) ||
        !(cfg->burst >= 1.0 && cfg->burst <= 1e6) || cfg->entries_max < 1 ||
        cfg->entries_max > (1u << 20))
        return sg_err_set(err, SG_ECONFIG, "rate limit settings out of range");
    rl = sg_calloc(1, sizeof(*rl));
    if (!rl)
        return sg_err_set(err, SG_ENOMEM, "out of memory");
    rl->cfg = *cfg;
    rl->rate = (int64_t)(cfg->rate_per_sec * 1000.0 + 0.5);
    if (rl->rate < 1)
        rl->rate = 1;
    rl->burst = (int64_t)(cfg->burst * 1e6 + 0.5);
    rl->nslots = 16;
    while (rl->nslots < cfg->entries_max * 2)
        rl->nslots *= 2;
    rl->pool = sg_calloc(cfg->entries_max, sizeof(*rl->pool));
    rl->slots = sg_calloc(rl->nslots, sizeof(*rl->slots));
    if (!rl->pool || !rl->slots) {
        sg_ratelimit_free(rl);
        return sg_err_set(err, SG_ENOMEM, "out of memory");
    }
    for (size_t i = cfg->entries_max; i-- > 0;) {
        rl->pool[i].next = rl->free_list;
        rl->free_list = &rl->pool[i];
    }
    *out = rl;
    return 0;
}

void sg_ratelimit_free(struct sg_ratelimit *rl)
{
    if (!rl)
        return;
    sg_free(rl->pool);
    sg_free(rl->slots);
    sg_free(rl);
}

size_t sg_ratelimit_count(const struct sg_ratelimit *rl)
{
    return rl->count;
}

static uint64_t fnv(uint64_t h, const char *s)
{
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= UINT64_C(1099511628211);
    }
    h ^= 0xff; /* separator: ("ab","c") and ("a","bc") differ */
    return h * UINT64_C(1099511628211);
}

static bool key_ok(const char *a, const char *b, const char *c)
{
    return a && b && c && strlen(a) < SG_RL_KEY_MAX &&
           strlen(b) < SG_RL_KEY_MAX && strlen(c) < SG_RL_KEY_MAX;
}

static struct rl_entry *lookup(const struct sg_ratelimit *rl, uint64_t h,
                               const char *p, const char *s, const char *c)
{
    struct rl_entry *e = rl->slots[h & (rl->nslots - 1)];

    for (; e; e = e->next) {
        if (e->hash == h && strcmp(e->platform, p) == 0 &&
            strcmp(e->shop, s) == 0 && strcmp(e->cls, c) == 0)
            return e;
    }
    return NULL;
}

static void refill(const struct sg_ratelimit *rl, struct rl_entry *e,
                   int64_t now_ms)
{
    int64_t dt;

    if (e->paused_until) {
        if (now_ms < e->paused_until)
            return;
        e->tokens = SG_MIN(ONE_TOKEN, rl->burst);
        e->last_ms = e->paused_until;
        e->paused_until = 0;
    }
    if (now_ms <= e->last_ms)
        return; /* time went backwards or stood still: no refill */
    dt = now_ms - e->last_ms;
    e->last_ms = now_ms;
    if (dt > (rl->burst - e->tokens) / rl->rate)
        e->tokens = rl->burst;
    else
        e->tokens += dt * rl->rate;
    if (e->tokens > rl->burst)
        e->tokens = rl->burst;
}

static void unlink_entry(struct sg_ratelimit *rl, struct rl_entry *e)
{
    struct rl_entry **pp = &rl->slots[e->hash & (rl->nslots - 1)];

    while (*pp != e)
        pp = &(*pp)->next;
    *pp = e->next;
    e->used = false;
    rl->count--;
}

/* An idle bucket whose loss is invisible, or NULL. */
static struct rl_entry *evictable(struct sg_ratelimit *rl, int64_t now_ms)
{
    for (size_t i = 0; i < rl->cfg.entries_max; i++) {
        struct rl_entry *e = &rl->pool[i];

        if (!e->used)
            continue;
        refill(rl, e, now_ms);
        if (e->paused_until == 0 && e->tokens >= rl->burst)
            return e;
    }
    return NULL;
}

static int get(struct sg_ratelimit *rl, const char *p, const char *s,
               const char *c, int64_t now_ms, struct rl_entry **out)
{
    uint64_t h;
    struct rl_entry *e;

    if (!key_ok(p, s, c))
        return SG_EINVAL;
    h = fnv(fnv(fnv(UINT64_C(14695981039346656037), p), s), c);
    e = lookup(rl, h, p, s, c);
    if (e) {
        *out = e;
        return 0;
    }
    if (rl->free_list) {
        e = rl->free_list;
        rl->free_list = e->next;
    } else {
        e = evictable(rl, now_ms);
        if (!e)
            return SG_EFULL;
        unlink_entry(rl, e);
    }
    memset(e, 0, sizeof(*e));
    snprintf(e->platform, sizeof(e->platform), "%s", p);
    snprintf(e->shop, sizeof(e->shop), "%s", s);
    snprintf(e->cls, sizeof(e->cls), "%s", c);
    e->hash = h;
    e->tokens = rl->burst;
    e->last_ms = now_ms;
    e->used = true;
    e->next = rl->slots[h & (rl->nslots - 1)];
    rl->slots[h & (rl->nslots - 1)] = e;
    rl->count++;
    *out = e;
    return 0;
}

int sg_ratelimit_take(struct sg_ratelimit *rl, const char *platform,
                      const char *shop, const char *endpoint_class,
                      int64_t now_ms, int64_t *wait_ms_out)
{
    struct rl_entry *e;
    int64_t wait = 0;
    int rc;

    rc = get(rl, platform, shop, endpoint_class, now_ms, &e);
    if (rc == SG_EFULL)
        wait = FULL_RETRY_MS;
    if (rc < 0)
        goto out;
    refill(rl, e, now_ms);
    if (e->paused_until) {
        wait = e->paused_until - now_ms;
        rc = SG_ELIMIT;
    } else if (e->tokens >= ONE_TOKEN) {
        e->tokens -= ONE_TOKEN;
    } else {
        wait = (ONE_TOKEN - e->tokens + rl->rate - 1) / rl->rate;
        rc = SG_ELIMIT;
    }
out:
    if (wait_ms_out)
        *wait_ms_out = wait;
    return rc;
}

int sg_ratelimit_pause(struct sg_ratelimit *rl, const char *platform,
                       const char *shop, const char *endpoint_class,
                       int64_t until_ms, int64_t now_ms)
{
    struct rl_entry *e;
    int rc;

    rc = get(rl, platform, shop, endpoint_class, now_ms, &e);
    if (rc < 0)
        return rc;
    refill(rl, e, now_ms);
    if (until_ms > now_ms && until_ms > e->paused_until)
        e->paused_until = until_ms;
    return 0;
}

int64_t sg_ratelimit_paused_until(const struct sg_ratelimit *rl,
                                  const char *platform, const char *shop,
                                  const char *endpoint_class, int64_t now_ms)
{
    const struct rl_entry *e;

    if (!key_ok(platform, shop, endpoint_class))
        return 0;
    e = lookup(rl,
               fnv(fnv(fnv(UINT64_C(14695981039346656037), platform), shop),
                   endpoint_class),
               platform, shop, endpoint_class);
    if (!e || e->paused_until <= now_ms)
        return 0;
    return e->paused_until;
}
