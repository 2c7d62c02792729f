/*
 * sandbox.c - the emulated world's lifecycle: settings, the seed-derived
 * identity (app, seller, shop, tokens), the JSON state and its atomic
 * persistence, the sandbox clock and the scheduled tasks a ticker thread
 * runs when they fall due. Everything derived from the seed is a pure
 * function of (seed, counter), so the same seed gives the same world.
 *
 * State document: {format, seed, app_key, app_secret, service_id,
 * id_counter, rng, clock_offset_ms, seller{open_id,name,region}, shops[],
 * access_tokens{tok:{...}}, refresh_tokens{tok:{...}}, auth_codes{},
 * current{access_token, refresh_token}, webhook_address, idempotency{},
 * colls{products:{}, ...}, timing{pay_s, ...}}; the saved file adds
 * webhook_queue[] (pending and in-flight deliveries) and tasks[] (every
 * scheduled task as {kind, at_ms, arg}), both moved back into their queues
 * on load. A file without tasks[] (older format) rebuilds pending audits
 * from the products' audit_due_ms instead.
 */
#include "core/sg.h"
#include "sandbox/internal.h"
#include "sandbox/tiktok_events/events.h"
#include "sandbox/tiktok_shop/shop_internal.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/json.h"
#include "core/log.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define STATE_FORMAT 1
#define STATE_FILE_MAX (256u << 20)

static const char alnum[] = "abcdefghijklmnopqrstuvwxyz0123456789";
static const char b62[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

static uint64_t splitmix(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

/* Value i of the seed's stream for purpose p. */
static uint64_t mix(uint64_t seed, uint64_t p, uint64_t i)
{
    return splitmix(splitmix(seed ^ (p * 0xD6E8FEB86659FD93ull)) + i);
}

static void seeded_str(uint64_t seed, uint64_t p, const char *alpha,
                       char *out, size_t n)
{
    size_t alen = strlen(alpha);

    for (size_t i = 0; i < n; i++)
        out[i] = alpha[mix(seed, p, i) % alen];
    out[n] = '\0';
}

static void seeded_digits(uint64_t seed, uint64_t p, const char *lead,
                          char out[24])
{
    uint64_t v = mix(seed, p, 0) % 1000000000000000ull;

    snprintf(out, 24, "%s%015" PRIu64, lead, v);
}

void sg_sbx_cfg_defaults(struct sg_sbx_cfg *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->listen = "127.0.0.1:8710";
    cfg->seed = 1;
    cfg->threads = 2;
    cfg->rate_qps = 50;
    cfg->audit_delay_ms = 2000;
    cfg->access_ttl_s = 7 * 86400;
    cfg->refresh_ttl_s = 365 * 86400;
    cfg->webhook_retry_ms = "120000,1800000,10800000,43200000";
    cfg->refresh_rotate = true;
    cfg->webhook_timeout_ms = 5000;
    cfg->webhook_reorder_ms = 1500;
    cfg->auth_code_ttl_s = 1800;
    cfg->unknown_path_http = 404;
    cfg->unknown_path_code = 36009009;
    cfg->token_error_http = 401;
    cfg->state_save_ms = 200;
    cfg->webhook_concurrency = 16;
    cfg->webhook_address_concurrency = 1;
}

/* ---- clock, ids, randomness ---- */

int64_t sg_sbx_now_ms(struct sg_sbx *s)
{
    return sg_clock_now_ms(sg_clock_system()) +
           atomic_load(&s->clock_offset_ms);
}

int64_t sg_sbx_now_s(struct sg_sbx *s)
{
    return sg_sbx_now_ms(s) / 1000;
}

static uint64_t state_u64(struct sg_sbx *s, const char *key)
{
    const char *v = sg_json_str(s->state, key);

    return v ? strtoull(v, NULL, 10) : 0;
}

static void state_set_u64(struct sg_sbx *s, const char *key, uint64_t v)
{
    char buf[24];

    snprintf(buf, sizeof(buf), "%" PRIu64, v);
    json_object_set_new(s->state, key, json_string(buf));
}

/*
 * The next number of the id counter. It is saved with the world (the
 * state's "id_counter", written by state_dump) but counted in s->id_last:
 * formatting it into the state document on every id was a few % of the
 * sandbox's CPU under an order flood (a dozen ids and draws per order).
 */
static uint64_t next_counter(struct sg_sbx *s)
{
    return ++s->id_last;
}

void sg_sbx_new_id(struct sg_sbx *s, char out[24])
{
    uint64_t n = next_counter(s);
    uint64_t lane = mix(s->cfg.seed, 1, 0) % 100000;
    uint64_t v = 1729000000000000000ull + lane * 1000000000ull +
                 n * 1000 + mix(s->cfg.seed, 2, n) % 1000;

    snprintf(out, 24, "%" PRIu64, v);
    sg_sbx_dirty(s);
}

uint64_t sg_sbx_rand(struct sg_sbx *s, uint64_t bound)
{
    uint64_t n = ++s->rng_last; /* saved as "rng" like the id counter */

    return bound ? mix(s->cfg.seed, 3, n) % bound : 0;
}

/* A token-like string; deterministic from the seed and the id counter. */
void sg_sbx__random_token(struct sg_sbx *s, const char *prefix, char *out,
                          size_t len)
{
    uint64_t n = next_counter(s);
    size_t pl = strlen(prefix);

    if (len <= pl + 1)
        return;
    memcpy(out, prefix, pl);
    for (size_t i = pl; i + 1 < len; i++)
        out[i] = b62[mix(s->cfg.seed, 4 + n, i) % (sizeof(b62) - 1)];
    out[len - 1] = '\0';
}

/* ---- state access ---- */

void sg_sbx_lock(struct sg_sbx *s)
{
    pthread_mutex_lock(&s->lock);
}

void sg_sbx_unlock(struct sg_sbx *s)
{
    pthread_mutex_unlock(&s->lock);
}

json_t *sg_sbx__coll_raw(struct sg_sbx *s, const char *name)
{
    json_t *colls = json_object_get(s->state, "colls");
    json_t *c;

    if (!colls) {
        colls = json_object();
        json_object_set_new(s->state, "colls", colls);
    }
    c = json_object_get(colls, name);
    if (!c) {
        c = json_object();
        json_object_set_new(colls, name, c);
    }
    return c;
}

json_t *sg_sbx_coll(struct sg_sbx *s, const char *name)
{
    json_t *c = sg_sbx__coll_raw(s, name);

    /* Whoever walks the orders sees every one as a tree (orders.c). */
    if (c != NULL && strcmp(name, "orders") == 0)
        (void)sg_sbx__orders_thaw_all(s, c);
    return c;
}

void sg_sbx_dirty(struct sg_sbx *s)
{
    if (!s->dirty)
        s->dirty_mono_ms = sg_mono_ms();
    s->dirty = true;
}

const struct sg_sbx_shop *sg_sbx_shop_by_id(struct sg_sbx *s,
                                            const char *shop_id)
{
    for (size_t i = 0; shop_id && i < s->n_shops; i++)
        if (strcmp(s->shops[i].id, shop_id) == 0)
            return &s->shops[i];
    return NULL;
}

const struct sg_sbx_shop *sg_sbx_default_shop(struct sg_sbx *s)
{
    return s->n_shops ? &s->shops[0] : NULL;
}

json_t *sg_sbx_find_sku(struct sg_sbx *s, const char *sku_id,
                        json_t **product_out)
{
    const char *pid;
    json_t *p, *sku;
    size_t i;

    if (product_out)
        *product_out = NULL;
    json_object_foreach(sg_sbx_coll(s, "products"), pid, p) {
        json_array_foreach(json_object_get(p, "skus"), i, sku) {
            const char *id = sg_json_str(sku, "id");

            if (id && strcmp(id, sku_id) == 0) {
                if (product_out)
                    *product_out = p;
                return sku;
            }
        }
    }
    return NULL;
}

static void shops_mirror(struct sg_sbx *s)
{
    json_t *shop;
    size_t i;

    s->n_shops = 0;
    json_array_foreach(json_object_get(s->state, "shops"), i, shop) {
        struct sg_sbx_shop *d;

        if (s->n_shops == SG_SBX_SHOPS_MAX)
            break;
        d = &s->shops[s->n_shops++];
        snprintf(d->id, sizeof(d->id), "%s", sg_json_str(shop, "id"));
        snprintf(d->cipher, sizeof(d->cipher), "%s",
                 sg_json_str(shop, "cipher"));
        snprintf(d->name, sizeof(d->name), "%s", sg_json_str(shop, "name"));
        snprintf(d->region, sizeof(d->region), "%s",
                 sg_json_str(shop, "region"));
    }
}

/* ---- tokens ---- */

/*
 * New access + refresh token pair for open_id covering shops (array of
 * shop ids); scopes NULL = every scope. Returns the token response data.
 */
json_t *sg_sbx__issue_tokens(struct sg_sbx *s, const char *open_id,
                             const json_t *shops, const json_t *scopes)
{
    char at[48], rt[48];
    int64_t now = sg_sbx_now_s(s);
    json_t *seller = json_object_get(s->state, "seller");
    json_t *ats = json_object_get(s->state, "access_tokens");
    json_t *rts = json_object_get(s->state, "refresh_tokens");
    json_t *a, *r, *cur, *data;
    unsigned long mark = sg_json_alloc_failures();
    json_int_t a_exp = (json_int_t)(now + s->cfg.access_ttl_s);
    json_int_t r_exp = (json_int_t)(now + s->cfg.refresh_ttl_s);

    sg_sbx__random_token(s, "TTP_", at, sizeof(at));
    sg_sbx__random_token(s, "TTP_", rt, sizeof(rt));
    /*
     * Everything is built before the world changes, so that running out
     * of memory issues nothing (NULL) rather than tokens the answer does
     * not carry, or an answer with expire_in 0.
     */
    a = json_pack("{s:s,s:O,s:O?,s:I,s:I,s:b}", "open_id", open_id,
                  "shops", shops, "scopes", scopes, "expire_s", a_exp,
                  "issued_s", (json_int_t)now, "all_scopes", scopes == NULL);
    r = json_pack("{s:s,s:O,s:O?,s:I,s:s}", "open_id", open_id, "shops",
                  shops, "scopes", scopes, "expire_s", r_exp,
                  "access_token", at);
    cur = json_pack("{s:s,s:s}", "access_token", at, "refresh_token", rt);
    data = json_pack("{s:s,s:I,s:s,s:I,s:s,s:s,s:s,s:i,s:o}",
                     "access_token", at, "access_token_expire_in", a_exp,
                     "refresh_token", rt, "refresh_token_expire_in", r_exp,
                     "open_id", open_id, "seller_name",
                     sg_json_str(seller, "name"), "seller_base_region",
                     sg_json_str(seller, "region"), "user_type", 0,
                     "granted_scopes",
                     scopes ? json_deep_copy(scopes) : sg_sbx__all_scopes());
    if (!a || !r || !cur || !data || sg_json_alloc_failures() != mark)
        goto fail;
    if (json_object_set(ats, at, a) != 0)
        goto fail;
    if (json_object_set(rts, rt, r) != 0) {
        json_object_del(ats, at);
        goto fail;
    }
    /* Each set may fail (a table growing): take back what went in. */
    if (json_object_set(s->state, "current", cur) != 0) {
        json_object_del(ats, at);
        json_object_del(rts, rt);
        goto fail;
    }
    json_decref(a);
    json_decref(r);
    json_decref(cur);
    sg_sbx_dirty(s);
    return data;
fail:
    json_decref(a);
    json_decref(r);
    json_decref(cur);
    json_decref(data);
    return NULL;
}

/* ---- the initial world ---- */

static void add_warehouse(struct sg_sbx *s, const char *shop_id,
                          const char *name, const char *type, bool dflt)
{
    char id[24];
    json_t *w;

    sg_sbx_new_id(s, id);
    w = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:b,s:{s:s,s:s,s:s,s:s}}", "id",
                  id, "shop_id", shop_id, "name", name, "effect_status",
                  "ENABLED", "type", type, "sub_type", "DOMESTIC_WAREHOUSE",
                  "is_default", dflt, "address", "region", "US", "city",
                  "Los Angeles", "postal_code", "90001", "address_line1",
                  "1 Sandbox Way");
    json_object_set_new(sg_sbx_coll(s, "warehouses"), id, w);
}

static void add_brand(struct sg_sbx *s, const char *name, const char *auth)
{
    char id[24];

    sg_sbx_new_id(s, id);
    json_object_set_new(sg_sbx_coll(s, "brands"), id,
                        json_pack("{s:s,s:s,s:s,s:s}", "id", id, "name",
                                  name, "authorized_status", auth,
                                  "brand_status", "AVAILABLE"));
}

static void add_statements(struct sg_sbx *s, const char *shop_id)
{
    int64_t day = sg_sbx_now_s(s) / 86400 * 86400;

    for (int i = 1; i <= 3; i++) {
        char id[24], amt[32];
        int cents = (int)(10000 + mix(s->cfg.seed, 9, (uint64_t)i) % 90000);

        sg_sbx_new_id(s, id);
        snprintf(amt, sizeof(amt), "%d.%02d", cents / 100, cents % 100);
        json_object_set_new(
            sg_sbx_coll(s, "statements"), id,
            json_pack("{s:s,s:s,s:I,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "id",
                      id, "shop_id", shop_id, "statement_time",
                      (json_int_t)(day - i * 86400), "settlement_amount",
                      amt, "currency", "USD", "revenue_amount", amt,
                      "fee_amount", "0.00", "adjustment_amount", "0.00",
                      "payment_status", i == 1 ? "PROCESSING" : "PAID",
                      "net_sales_amount", amt, "shipping_cost_amount",
                      "0.00"));
    }
}

int sg_sbx__world_init(struct sg_sbx *s, struct sg_err *err)
{
    uint64_t seed = s->cfg.seed;
    char key[16], secret[41], shop_id[24], open_id[24], cipher[40];
    char svc[24];
    json_t *shops;

    sg_sbx__orders_forget(s);
    json_decref(s->state);
    s->state = json_object();
    s->id_last = 0;
    s->rng_last = 0;
    if (!s->state)
        return sg_err_set(err, SG_ENOMEM, "out of memory");
    seeded_str(seed, 10, alnum, key, 12);
    seeded_str(seed, 11, "0123456789abcdef", secret, 40);
    seeded_digits(seed, 12, "7494", shop_id);
    seeded_digits(seed, 13, "7010", open_id);
    seeded_digits(seed, 14, "7021", svc);
    memcpy(cipher, "ROW_", 4);
    seeded_str(seed, 15, b62, cipher + 4, 28);
    /*
     * Fixed once set (a reset gives the same values): the request checks
     * read them without the state lock.
     */
    if (!s->app_key[0])
        snprintf(s->app_key, sizeof(s->app_key), "%s",
                 s->cfg.app_key ? s->cfg.app_key : key);
    if (!s->app_secret[0])
        snprintf(s->app_secret, sizeof(s->app_secret), "%s",
                 s->cfg.app_secret ? s->cfg.app_secret : secret);
    json_object_set_new(s->state, "format", json_integer(STATE_FORMAT));
    json_object_set_new(s->state, "seed", json_integer((json_int_t)seed));
    json_object_set_new(s->state, "app_key", json_string(s->app_key));
    json_object_set_new(s->state, "app_secret", json_string(s->app_secret));
    json_object_set_new(s->state, "service_id",
                        json_string(s->cfg.service_id ? s->cfg.service_id
                                                      : svc));
    state_set_u64(s, "id_counter", 0);
    state_set_u64(s, "rng", 0);
    json_object_set_new(s->state, "clock_offset_ms", json_integer(0));
    atomic_store(&s->clock_offset_ms, 0);
    json_object_set_new(s->state, "seller",
                        json_pack("{s:s,s:s,s:s}", "open_id", open_id,
                                  "name", "Sandbox Seller", "region", "US"));
    shops = json_pack("[{s:s,s:s,s:s,s:s,s:s,s:s}]", "id", shop_id,
                      "cipher", cipher, "name", "Sandbox Shop", "region",
                      "US", "seller_type", "LOCAL", "code", "USSBX0001");
    json_object_set_new(s->state, "shops", shops);
    json_object_set_new(s->state, "access_tokens", json_object());
    json_object_set_new(s->state, "refresh_tokens", json_object());
    json_object_set_new(s->state, "auth_codes", json_object());
    json_object_set_new(s->state, "idempotency", json_object());
    json_object_set_new(s->state, "colls", json_object());
    if (s->cfg.webhook_address)
        json_object_set_new(s->state, "webhook_address",
                            json_string(s->cfg.webhook_address));
    shops_mirror(s);
    shops = json_pack("[s]", shop_id);
    json_decref(sg_sbx__issue_tokens(s, open_id, shops, NULL));
    json_decref(shops);
    add_warehouse(s, shop_id, "Sandbox Main Warehouse", "SALES_WAREHOUSE",
                  true);
    add_warehouse(s, shop_id, "Sandbox Second Warehouse", "SALES_WAREHOUSE",
                  false);
    add_warehouse(s, shop_id, "Sandbox Returns", "RETURN_WAREHOUSE", false);
    add_brand(s, "Acme", "AUTHORIZED");
    add_brand(s, "Globex", "AUTHORIZED");
    add_brand(s, "Initech", "UNAUTHORIZED");
    add_statements(s, shop_id);
    sg_sbx_dirty(s);
    return 0;
}

/* ---- scheduled tasks ---- */

void sg_sbx_schedule(struct sg_sbx *s, int64_t at_ms, sg_sbx_task_fn fn,
                     json_t *arg)
{
    struct sg_sbx_task *t;

    if (s->n_tasks == s->cap_tasks) {
        size_t cap = s->cap_tasks ? s->cap_tasks * 2 : 64;
        void *p;

        if (cap > SG_SBX_TASKS_MAX || !(p = sg_realloc(s->tasks,
                                                       cap * sizeof(*t)))) {
            sg_log(SG_LOG_ERR, "sandbox", "msg=\"task queue full\"");
            json_decref(arg);
            return;
        }
        s->tasks = p;
        s->cap_tasks = cap;
    }
    t = &s->tasks[s->n_tasks++];
    t->at_ms = at_ms;
    t->seq = ++s->task_seq;
    t->fn = fn;
    t->arg = arg;
}

/* Run every due task in (time, sequence) order; lock held. */
void sg_sbx__run_due(struct sg_sbx *s)
{
    for (unsigned guard = 0; guard < SG_SBX_TASKS_MAX; guard++) {
        int64_t now = sg_sbx_now_ms(s);
        size_t best = s->n_tasks;
        struct sg_sbx_task t;

        for (size_t i = 0; i < s->n_tasks; i++) {
            if (s->tasks[i].at_ms > now)
                continue;
            if (best == s->n_tasks ||
                s->tasks[i].at_ms < s->tasks[best].at_ms ||
                (s->tasks[i].at_ms == s->tasks[best].at_ms &&
                 s->tasks[i].seq < s->tasks[best].seq))
                best = i;
        }
        if (best == s->n_tasks)
            return;
        t = s->tasks[best];
        s->tasks[best] = s->tasks[--s->n_tasks];
        t.fn(s, t.arg);
        json_decref(t.arg);
        sg_sbx_dirty(s);
    }
}

static const struct sg_sbx_task_kind *const task_tables[] = {
    sg_sbx_product_tasks, sg_sbx_order_tasks, sg_sbx_fulfillment_tasks,
    sg_sbx_return_tasks,
};

static const char *task_name(sg_sbx_task_fn fn)
{
    for (size_t t = 0; t < SG_ARRAY_SIZE(task_tables); t++)
        for (const struct sg_sbx_task_kind *k = task_tables[t]; k->name; k++)
            if (k->fn == fn)
                return k->name;
    return NULL;
}

static sg_sbx_task_fn task_fn(const char *name)
{
    for (size_t t = 0; name && t < SG_ARRAY_SIZE(task_tables); t++)
        for (const struct sg_sbx_task_kind *k = task_tables[t]; k->name; k++)
            if (strcmp(k->name, name) == 0)
                return k->fn;
    return NULL;
}

static int task_cmp(const void *a, const void *b)
{
    const struct sg_sbx_task *x = *(const struct sg_sbx_task *const *)a;
    const struct sg_sbx_task *y = *(const struct sg_sbx_task *const *)b;

    if (x->at_ms != y->at_ms)
        return x->at_ms < y->at_ms ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Pending tasks, in run order, as [{kind, at_ms, arg}]; lock held. */
static json_t *tasks_json(struct sg_sbx *s)
{
    json_t *out = json_array();
    const struct sg_sbx_task **v;

    if (!out || s->n_tasks == 0)
        return out;
    v = sg_calloc(s->n_tasks, sizeof(*v));
    if (!v)
        return out;
    for (size_t i = 0; i < s->n_tasks; i++)
        v[i] = &s->tasks[i];
    qsort(v, s->n_tasks, sizeof(*v), task_cmp);
    for (size_t i = 0; i < s->n_tasks; i++) {
        const char *name = task_name(v[i]->fn);

        if (!name) {
            sg_log(SG_LOG_WARN, "sandbox",
                   "msg=\"task without a name not saved\"");
            continue;
        }
        json_array_append_new(
            out, json_pack("{s:s,s:I,s:O?}", "kind", name, "at_ms",
                           (json_int_t)v[i]->at_ms, "arg", v[i]->arg));
    }
    sg_free(v);
    return out;
}

/* Schedule the saved tasks q again (in their saved order); lock held. */
static void tasks_load(struct sg_sbx *s, const json_t *q)
{
    size_t i;
    json_t *t;

    json_array_foreach(q, i, t) {
        const char *kind = sg_json_str(t, "kind");
        sg_sbx_task_fn fn = task_fn(kind);
        json_t *arg = json_object_get(t, "arg");

        if (!fn || !json_is_integer(json_object_get(t, "at_ms"))) {
            sg_log(SG_LOG_WARN, "sandbox",
                   "msg=\"unknown saved task dropped\" kind=\"%.64s\"",
                   kind ? kind : "");
            continue;
        }
        sg_sbx_schedule(s, sg_json_int(t, "at_ms", 0), fn,
                        arg ? json_deep_copy(arg) : NULL);
    }
}

static void tasks_clear(struct sg_sbx *s)
{
    for (size_t i = 0; i < s->n_tasks; i++)
        json_decref(s->tasks[i].arg);
    s->n_tasks = 0;
}

/* ---- persistence ---- */

static int write_atomic(const char *path, const char *data, size_t len,
                        struct sg_err *err)
{
    char tmp[4096];
    int fd, rc = 0;

    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
        return sg_err_set(err, SG_EINVAL, "state path too long");
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return sg_err_set(err, SG_EIO, "open %s: %s", tmp, strerror(errno));
    for (size_t off = 0; off < len;) {
        ssize_t n = write(fd, data + off, len - off);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = sg_err_set(err, SG_EIO, "write: %s", strerror(errno));
            break;
        }
        off += (size_t)n;
    }
    if (rc == 0 && fsync(fd) != 0)
        rc = sg_err_set(err, SG_EIO, "fsync: %s", strerror(errno));
    close(fd);
    if (rc == 0 && rename(tmp, path) != 0)
        rc = sg_err_set(err, SG_EIO, "rename: %s", strerror(errno));
    if (rc)
        unlink(tmp);
    return rc;
}

/* Serialize under the lock (held by the caller); returns sg_alloc'd. */
static char *state_dump(struct sg_sbx *s, size_t *len)
{
    char *text;

    /*
     * The file holds every order as a tree: compact ones are thawed, and
     * a dump that could not thaw them all is not written (its orders
     * would be slot numbers; the next tick tries again).
     */
    if (sg_sbx__orders_thaw_all(s, sg_sbx__coll_raw(s, "orders")) != 0)
        return NULL;

    json_object_set_new(s->state, "clock_offset_ms",
                        json_integer(atomic_load(&s->clock_offset_ms)));
    state_set_u64(s, "id_counter", s->id_last);
    state_set_u64(s, "rng", s->rng_last);
    json_object_set_new(s->state, "timing", sg_sbx__timing_json(s));
    json_object_set_new(s->state, "webhook_queue", sg_sbx__wh_queue_json(s));
    json_object_set_new(s->state, "tasks", tasks_json(s));
    s->dirty = false;
    atomic_store(&s->wh_dirty, false);
    s->save_gen++;
    text = sg_json_dump(s->state, len);
    json_object_del(s->state, "webhook_queue");
    json_object_del(s->state, "tasks");
    return text;
}

/*
 * Dump under the lock, write outside it. Writers serialise on save_mu and
 * skip a dump older than one already written, so the file never goes
 * back in time when two threads save at once.
 */
static int save_if(struct sg_sbx *s, bool force, struct sg_err *err)
{
    size_t len = 0;
    uint64_t gen;
    char *text;
    int rc = 0;

    if (!s->cfg.state_path)
        return 0;
    sg_sbx_lock(s);
    if (!force && !s->dirty && !atomic_load(&s->wh_dirty)) {
        sg_sbx_unlock(s);
        return 0;
    }
    text = state_dump(s, &len);
    gen = s->save_gen;
    sg_sbx_unlock(s);
    if (!text) {
        rc = sg_err_set(err, SG_ENOMEM, "out of memory");
        goto out;
    }
    pthread_mutex_lock(&s->save_mu);
    if (gen > s->saved_gen) {
        rc = write_atomic(s->cfg.state_path, text, len, err);
        if (rc == 0)
            s->saved_gen = gen;
    }
    pthread_mutex_unlock(&s->save_mu);
    sg_free(text);
out:
    if (rc) {
        /* Try again on the next tick. */
        sg_sbx_lock(s);
        sg_sbx_dirty(s);
        sg_sbx_unlock(s);
    }
    return rc;
}

int sg_sbx__save(struct sg_sbx *s, struct sg_err *err)
{
    return save_if(s, true, err);
}

void sg_sbx__save_sync(struct sg_sbx *s)
{
    struct sg_err err;

    if (!s->cfg.state_path || s->cfg.state_save_ms != 0)
        return;
    sg_err_init(&err);
    if (save_if(s, false, &err))
        sg_log(SG_LOG_ERR, "sandbox", "msg=\"state save\" err=\"%s\"",
               err.msg);
}

static int state_load(struct sg_sbx *s, bool *loaded, bool *has_tasks,
                      struct sg_err *err)
{
    FILE *f;
    json_t *doc;
    json_error_t jerr;
    bool oom = false;

    *loaded = false;
    *has_tasks = false;
    if (!s->cfg.state_path)
        return 0;
    f = fopen(s->cfg.state_path, "rb");
    if (!f)
        return errno == ENOENT ? 0
                               : sg_err_set(err, SG_EIO, "open %s: %s",
                                            s->cfg.state_path,
                                            strerror(errno));
    doc = sg_json_loadf(f, JSON_REJECT_DUPLICATES, &jerr, &oom);
    fclose(f);
    if (oom)
        return sg_err_set(err, SG_ENOMEM, "state file %s: out of memory",
                          s->cfg.state_path);
    if (!json_is_object(doc) ||
        sg_json_int(doc, "format", 0) != STATE_FORMAT) {
        json_decref(doc);
        return sg_err_set(err, SG_EINVAL, "state file %s: %s",
                          s->cfg.state_path,
                          doc ? "unknown format" : jerr.text);
    }
    sg_sbx__orders_forget(s);
    json_decref(s->state);
    s->state = doc;
    s->id_last = state_u64(s, "id_counter");
    s->rng_last = state_u64(s, "rng");
    snprintf(s->app_key, sizeof(s->app_key), "%s",
             s->cfg.app_key ? s->cfg.app_key
                            : sg_json_str(doc, "app_key"));
    snprintf(s->app_secret, sizeof(s->app_secret), "%s",
             s->cfg.app_secret ? s->cfg.app_secret
                               : sg_json_str(doc, "app_secret"));
    s->cfg.seed = (uint64_t)sg_json_int(doc, "seed", (json_int_t)s->cfg.seed);
    atomic_store(&s->clock_offset_ms, sg_json_int(doc, "clock_offset_ms", 0));
    sg_sbx__wh_queue_load(s, json_object_get(doc, "webhook_queue"));
    json_object_del(doc, "webhook_queue");
    if (sg_sbx__timing_set(s, json_object_get(doc, "timing"), err))
        return SG_EINVAL;
    *has_tasks = json_is_array(json_object_get(doc, "tasks"));
    tasks_load(s, json_object_get(doc, "tasks"));
    json_object_del(doc, "tasks");
    shops_mirror(s);
    *loaded = true;
    return 0;
}

/* ---- ticker: due tasks and debounced saves ---- */

/*
 * Ask for transparent huge pages on the heap grown since the last call
 * (from *last, the break then). The emulator keeps every order it places,
 * so under a flood its heap grows by megabytes a second, and a 4 KB page
 * fault cost this VM about 7 us: a tenth of the sandbox's profile under
 * bench/spike. Where THP is "madvise" the growth is then faulted 2 MB at
 * a time; elsewhere the call does nothing. The main heap only: the
 * sandbox runs every thread on it (M_ARENA_MAX 1, cli/sandbox.c).
 */
static void heap_huge(uintptr_t *last)
{
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    uintptr_t top = (uintptr_t)sbrk(0), from;

    if (top == (uintptr_t)-1 || top <= *last)
        return;
    from = *last & ~(uintptr_t)4095;
    if (*last)
        (void)madvise((void *)from, top - from, MADV_HUGEPAGE);
    *last = top;
#else
    SG_UNUSED(last);
#endif
}

static void *ticker_main(void *arg)
{
    struct sg_sbx *s = arg;
    struct timespec ts = {0, 20 * 1000000};
    uintptr_t heap_top = 0;

    heap_huge(&heap_top);
    heap_top = heap_top & ~(uintptr_t)4095;
    while (!atomic_load(&s->stopping)) {
        bool due;

        nanosleep(&ts, NULL);
        heap_huge(&heap_top);
        sg_sbx_lock(s);
        sg_sbx__run_due(s);
        due = (s->dirty || atomic_load(&s->wh_dirty)) && s->cfg.state_path &&
              sg_mono_ms() - s->dirty_mono_ms >= s->cfg.state_save_ms;
        sg_sbx_unlock(s);
        if (due) {
            struct sg_err err;

            sg_err_init(&err);
            if (save_if(s, false, &err))
                sg_log(SG_LOG_ERR, "sandbox", "msg=\"state save\" err=\"%s\"",
                       err.msg);
        }
    }
    return NULL;
}

/* ---- settings file ---- */

static json_t *load_json_file(const char *path, struct sg_err *err)
{
    json_error_t jerr;
    bool oom = false;
    json_t *doc = sg_json_load_path(path, JSON_REJECT_DUPLICATES, &jerr, &oom);

    if (!doc && oom)
        sg_err_set(err, SG_ENOMEM, "%s: out of memory", path);
    else if (!doc)
        sg_err_set(err, SG_ECONFIG, "%s:%d: %s", path, jerr.line, jerr.text);
    return doc;
}

/*
 * The settings file's keys: each names a field of struct sg_sbx_cfg and
 * says what JSON it takes. "faults", "rate_limits" and "timing" are read
 * later (apply_config_doc). Any other key, or a value of the wrong type,
 * is an error naming it: a misspelt "state_path" would otherwise leave
 * the sandbox quietly forgetting its world on a restart.
 */
enum cfg_type { CFG_STR, CFG_UINT, CFG_U64, CFG_INT, CFG_LONG, CFG_I64,
                CFG_BOOL, CFG_LATER };

static const struct cfg_key {
    const char *name;
    enum cfg_type type;
    size_t off;
} cfg_keys[] = {
#define K(name, type) {#name, type, offsetof(struct sg_sbx_cfg, name)}
    K(listen, CFG_STR),
    K(app_key, CFG_STR),
    K(app_secret, CFG_STR),
    K(state_path, CFG_STR),
    K(control_token, CFG_STR),
    K(callback_url, CFG_STR),
    K(webhook_retry_ms, CFG_STR),
    K(categories_path, CFG_STR),
    K(service_id, CFG_STR),
    K(webhook_address, CFG_STR),
    K(seed, CFG_U64),
    K(threads, CFG_UINT),
    K(rate_qps, CFG_UINT),
    K(audit_delay_ms, CFG_UINT),
    K(access_ttl_s, CFG_I64),
    K(refresh_ttl_s, CFG_I64),
    K(webhook_dup_pct, CFG_UINT),
    K(webhook_reorder_pct, CFG_UINT),
    K(webhook_timeout_ms, CFG_UINT),
    K(webhook_reorder_ms, CFG_UINT),
    K(auth_code_ttl_s, CFG_UINT),
    K(unknown_path_http, CFG_INT),
    K(unknown_path_code, CFG_LONG),
    K(token_error_http, CFG_INT),
    K(state_save_ms, CFG_UINT),
    K(webhook_concurrency, CFG_UINT),
    K(webhook_address_concurrency, CFG_UINT),
    K(rate_limit_retry_after_s, CFG_UINT),
    K(debug_signatures, CFG_BOOL),
    K(refresh_rotate, CFG_BOOL),
    K(timestamp_real_clock, CFG_BOOL),
#undef K
    {"faults", CFG_LATER, 0},
    {"rate_limits", CFG_LATER, 0},
    {"timing", CFG_LATER, 0},
};

static int cfg_set(struct sg_sbx_cfg *cfg, const struct cfg_key *k,
                   json_t *v, const char *path, struct sg_err *err)
{
    char *field = (char *)cfg + k->off;
    json_int_t n = json_is_integer(v) ? json_integer_value(v) : 0;

    switch (k->type) {
    case CFG_STR:
        if (!json_is_string(v))
            return sg_err_set(err, SG_ECONFIG, "%s: %s must be a string",
                              path, k->name);
        *(const char **)(void *)field = json_string_value(v);
        return 0;
    case CFG_BOOL:
        if (!json_is_boolean(v))
            return sg_err_set(err, SG_ECONFIG,
                              "%s: %s must be true or false", path, k->name);
        *(bool *)(void *)field = json_is_true(v);
        return 0;
    case CFG_LATER:
        return 0;
    default:
        break;
    }
    if (!json_is_integer(v))
        return sg_err_set(err, SG_ECONFIG, "%s: %s must be an integer",
                          path, k->name);
    switch (k->type) {
    case CFG_UINT:
        if (n < 0 || (unsigned long long)n > UINT_MAX)
            goto range;
        *(unsigned *)(void *)field = (unsigned)n;
        return 0;
    case CFG_U64:
        if (n < 0)
            goto range;
        *(uint64_t *)(void *)field = (uint64_t)n;
        return 0;
    case CFG_INT:
        if (n < INT_MIN || n > INT_MAX)
            goto range;
        *(int *)(void *)field = (int)n;
        return 0;
    case CFG_LONG:
        *(long *)(void *)field = (long)n;
        return 0;
    default:
        *(int64_t *)(void *)field = (int64_t)n;
        return 0;
    }
range:
    return sg_err_set(err, SG_ECONFIG, "%s: %s is out of range (%lld)", path,
                      k->name, (long long)n);
}

int sg_sbx_cfg_load(struct sg_sbx_cfg *cfg, const char *path,
                    json_t **doc_out, struct sg_err *err)
{
    json_t *d = load_json_file(path, err), *v;
    const char *key;

    *doc_out = d;
    if (!d)
        return SG_ECONFIG;
    if (!json_is_object(d))
        return sg_err_set(err, SG_ECONFIG, "%s: not a JSON object", path);
    json_object_foreach(d, key, v) {
        const struct cfg_key *k = NULL;
        int rc;

        for (size_t i = 0; i < SG_ARRAY_SIZE(cfg_keys) && !k; i++)
            if (strcmp(cfg_keys[i].name, key) == 0)
                k = &cfg_keys[i];
        if (!k)
            return sg_err_set(err, SG_ECONFIG,
                              "%s: unknown key \"%s\" (docs/sandbox.md lists "
                              "the settings)",
                              path, key);
        rc = cfg_set(cfg, k, v, path, err);
        if (rc)
            return rc;
    }
    cfg->config_path = path;
    return 0;
}

static int parse_retry(struct sg_sbx *s, struct sg_err *err)
{
    const char *p = s->cfg.webhook_retry_ms ? s->cfg.webhook_retry_ms : "";

    s->n_wh_retry = 0;
    while (*p) {
        char *end;
        long long v = strtoll(p, &end, 10);

        if (end == p || v < 0 || s->n_wh_retry == SG_SBX_WH_RETRIES_MAX)
            return sg_err_set(err, SG_ECONFIG, "bad webhook_retry_ms");
        s->wh_retry_ms[s->n_wh_retry++] = v;
        p = *end == ',' ? end + 1 : end;
        if (*end && *end != ',')
            return sg_err_set(err, SG_ECONFIG, "bad webhook_retry_ms");
    }
    return 0;
}

static int apply_config_doc(struct sg_sbx *s, struct sg_err *err)
{
    json_t *faults, *rl;
    int rc = 0;

    if (!s->cfg.config_path)
        return 0;
    s->cfg_doc = load_json_file(s->cfg.config_path, err);
    if (!s->cfg_doc)
        return SG_ECONFIG;
    faults = json_object_get(s->cfg_doc, "faults");
    if (faults)
        rc = sg_sbx__faults_set(s, s->cfg_doc, false, err);
    rl = json_object_get(s->cfg_doc, "rate_limits");
    if (rc == 0 && rl)
        rc = sg_sbx__rate_set(s, rl, err);
    /* A saved state's timing (--state) replaces this one on load. */
    if (rc == 0 && json_object_get(s->cfg_doc, "timing"))
        rc = sg_sbx__timing_set(s, json_object_get(s->cfg_doc, "timing"),
                                err) ? SG_ECONFIG : 0;
    return rc;
}

/* ---- lifecycle ---- */

static const char *own(struct sg_sbx *s, size_t i, const char *v)
{
    if (!v)
        return NULL;
    s->strs[i] = sg_strdup(v);
    return s->strs[i];
}

static void own_strings(struct sg_sbx *s)
{
    struct sg_sbx_cfg *c = &s->cfg;
    size_t i = 0;

    c->listen = own(s, i++, c->listen);
    c->app_key = own(s, i++, c->app_key);
    c->app_secret = own(s, i++, c->app_secret);
    c->state_path = own(s, i++, c->state_path);
    c->control_token = own(s, i++, c->control_token);
    c->callback_url = own(s, i++, c->callback_url);
    c->webhook_retry_ms = own(s, i++, c->webhook_retry_ms);
    c->categories_path = own(s, i++, c->categories_path);
    c->config_path = own(s, i++, c->config_path);
    c->service_id = own(s, i++, c->service_id);
    c->webhook_address = own(s, i++, c->webhook_address);
}

int sg_sbx_new(struct sg_sbx **out, const struct sg_sbx_cfg *cfg,
               struct sg_err *err)
{
    struct sg_sbx *s;
    bool loaded = false, has_tasks = false;
    int rc;

    *out = NULL;
    s = sg_calloc(1, sizeof(*s));
    if (!s)
        return sg_err_set(err, SG_ENOMEM, "out of memory");
    s->cfg = *cfg;
    s->calls = sg_calloc(SG_SBX_CALLS_MAX, sizeof(*s->calls));
    if (!s->calls) {
        sg_free(s);
        return sg_err_set(err, SG_ENOMEM, "out of memory");
    }
    own_strings(s);
    pthread_mutex_init(&s->lock, NULL);
    pthread_mutex_init(&s->wh_lock, NULL);
    pthread_mutex_init(&s->save_mu, NULL);
    pthread_cond_init(&s->wh_cond, NULL);
    s->rate_qps = cfg->rate_qps ? cfg->rate_qps : 50;
    s->rate_limits = json_object();
    s->call_counts = json_object();
    rc = parse_retry(s, err);
    if (rc == 0)
        rc = apply_config_doc(s, err);
    if (rc == 0)
        rc = sg_sbx__cats_load(s, err);
    if (rc == 0)
        rc = state_load(s, &loaded, &has_tasks, err);
    if (rc == 0 && !loaded)
        rc = sg_sbx__world_init(s, err);
    if (rc == 0 && loaded && !has_tasks)
        sg_sbx__products_resume(s);
    if (rc) {
        sg_sbx_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

int sg_sbx_start(struct sg_sbx *s, struct sg_err *err)
{
    struct sg_http_server_cfg hc;
    int rc;

    sg_http_server_cfg_defaults(&hc);
    hc.listen = s->cfg.listen;
    hc.threads = s->cfg.threads ? s->cfg.threads : 2;
    hc.name = "sandbox";
    if (hc.limits.body_max < (16u << 20))
        hc.limits.body_max = 16u << 20;
    rc = sg_http_server_new(&s->http, &hc, err);
    if (rc == 0)
        rc = sg_sbx__control_routes(s, err);
    if (rc == 0)
        rc = sg_sbx_events_routes(s, s->http, err);
    if (rc)
        return rc;
    sg_http_set_fallback(s->http, sg_sbx__dispatch, s);
    rc = sg_http_server_start(s->http, err);
    if (rc)
        return rc;
    snprintf(s->url, sizeof(s->url), "%s", sg_http_server_url(s->http));
    rc = sg_sbx__wh_start(s, err);
    if (rc)
        return rc;
    if (pthread_create(&s->ticker, NULL, ticker_main, s) != 0)
        return sg_err_set(err, SG_EIO, "cannot start the ticker thread");
    s->started = true;
    return 0;
}

const char *sg_sbx_url(const struct sg_sbx *s)
{
    return s->url;
}

void sg_sbx_stop(struct sg_sbx *s)
{
    struct sg_err err;

    if (!s || !s->started)
        return;
    atomic_store(&s->stopping, true);
    sg_sbx_traffic_stop(s);
    pthread_join(s->ticker, NULL);
    if (s->http)
        sg_http_server_stop(s->http);
    sg_sbx__wh_stop(s);
    s->started = false;
    sg_err_init(&err);
    if (sg_sbx__save(s, &err))
        sg_log(SG_LOG_ERR, "sandbox", "msg=\"state save\" err=\"%s\"",
               err.msg);
}

void sg_sbx_free(struct sg_sbx *s)
{
    if (!s)
        return;
    sg_sbx_stop(s);
    sg_sbx__traffic_release(s);
    sg_sbx__ext_release(s);
    sg_http_server_free(s->http);
    sg_sbx__wh_clear(s);
    tasks_clear(s);
    sg_free(s->tasks);
    sg_free(s->buckets);
    json_decref(s->state);
    json_decref(s->cats);
    json_decref(s->cfg_doc);
    json_decref(s->rate_limits);
    sg_free(s->calls);
    json_decref(s->call_counts);
    sg_sbx__wh_log_free(s);
    for (size_t i = 0; i < SG_ARRAY_SIZE(s->strs); i++)
        sg_free(s->strs[i]);
    pthread_mutex_destroy(&s->lock);
    pthread_mutex_destroy(&s->wh_lock);
    pthread_mutex_destroy(&s->save_mu);
    pthread_cond_destroy(&s->wh_cond);
    sg_free(s);
}

/* Reset the world to what the seed gives (control plane); lock held. */
int sg_sbx__reset(struct sg_sbx *s, struct sg_err *err)
{
    tasks_clear(s);
    sg_sbx__wh_clear(s);
    sg_sbx__faults_clear(s);
    s->n_buckets = 0;
    sg_sbx__calls_clear(s);
    return sg_sbx__world_init(s, err);
}

json_t *sg_sbx_info(struct sg_sbx *s)
{
    json_t *cur, *shops = json_array(), *info;

    sg_sbx_lock(s);
    cur = json_object_get(s->state, "current");
    for (size_t i = 0; i < s->n_shops; i++)
        json_array_append_new(
            shops, json_pack("{s:s,s:s,s:s,s:s}", "id", s->shops[i].id,
                             "cipher", s->shops[i].cipher, "name",
                             s->shops[i].name, "region",
                             s->shops[i].region));
    info = json_pack(
        "{s:s,s:s,s:s,s:s,s:s,s:o,s:s,s:s,s:I}", "base_url", s->url,
        "app_key", s->app_key, "app_secret", s->app_secret, "access_token",
        sg_json_str(cur, "access_token"), "refresh_token",
        sg_json_str(cur, "refresh_token"), "shops", shops, "service_id",
        sg_json_str(s->state, "service_id"), "open_id",
        sg_json_str(json_object_get(s->state, "seller"), "open_id"), "now",
        (json_int_t)sg_sbx_now_s(s));
    sg_sbx_unlock(s);
    return info;
}
