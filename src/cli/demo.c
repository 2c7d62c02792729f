/*
 * demo.c - `surge demo`: Surge's main job end to end on loopback, with
 * real processes. It starts the TikTok Shop sandbox and surge serve on a
 * fresh SQLite store, imports the sample catalog shipped in the binary,
 * publishes it, drives a viral spike and then a live-stream burst at
 * limited stock (with injected 429s and 500s), lets a simulated
 * warehouse ship what Surge exports, and ends with a report whose
 * invariants (nothing oversold, both sides agree) decide the exit status.
 * Every wait is bounded; the default scale finishes well under 2 minutes.
 */
#include "cli/cli.h"
#include "cli/demo.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/json.h"
#include "core/log.h"
#include "http/server.h"

#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

/* execv wants char *const[]; our argument strings are not modified. */
#define ARG(s) ((char *)(uintptr_t)(s))

#define say sg_demo__say
#define TENANT "demo"
#define PINNED_MAX 8
#define SETTLE_MS 45000
/* Longer than collect_s + deliver_s (timing()): no parcel still moving. */
#define QUIET_MS    3500
#define QUIET_TRIES 8
#define STALL_MS 5000 /* an order behind this long: restart */

/* Embedded by src/cli/CMakeLists.txt from samples/. */
struct sg_embedded {
    const char *name;
    const char *data;
    size_t len;
};
extern const struct sg_embedded sg_demo_samples[];

static const struct sg_demo_scale scales[] = {
    {.name = "full", .stock_mult = 6, .viral_peak = 160, .viral_s = 20,
     .viral_max = 2200, .live_peak = 220, .live_rate = 25, .live_s = 16,
     .live_max = 1400, .live_pinned = 4, .live_restock = 40,
     .fault_429_pct = 8,
     .fault_500_pct = 4},
    {.name = "small", .stock_mult = 1, .viral_peak = 60, .viral_s = 5,
     .viral_max = 220, .live_peak = 80, .live_rate = 10, .live_s = 4,
     .live_max = 160, .live_pinned = 3, .live_restock = 8,
     .fault_429_pct = 10,
     .fault_500_pct = 5},
};

/* ---- files ---- */

static int write_file(const char *path, const char *data, size_t len,
                      struct sg_err *err)
{
    FILE *f = fopen(path, "w");
    bool ok;

    if (!f)
        return sg_err_set(err, SG_EIO, "cannot write %s: %s", path,
                          strerror(errno));
    fchmod(fileno(f), 0600);
    ok = fwrite(data, 1, len, f) == len;
    ok = fclose(f) == 0 && ok;
    return ok ? 0 : sg_err_set(err, SG_EIO, "cannot write %s", path);
}

static int write_sample(const char *name, const char *path,
                        struct sg_err *err)
{
    for (const struct sg_embedded *e = sg_demo_samples; e->name; e++)
        if (strcmp(e->name, name) == 0)
            return write_file(path, e->data, e->len, err);
    return sg_err_set(err, SG_ENOTFOUND, "sample %s is not embedded", name);
}

static int prepare_dir(struct sg_demo *d, struct sg_err *err)
{
    static const char *old[] = {"surge.db", "surge.db-wal", "surge.db-shm",
                                "surge.log", "sandbox.log", "surge.key"};
    char abs[PATH_MAX], path[SG_DEMO_PATH_MAX];
    const char *sbx_settings =
        "{\"webhook_dup_pct\": 5, \"webhook_reorder_pct\": 5,\n"
        " \"webhook_reorder_ms\": 200, \"webhook_concurrency\": 64,\n"
        " \"webhook_address_concurrency\": 32}\n";
    int rc;

    if (mkdir(d->dir, 0700) != 0 && errno != EEXIST)
        return sg_err_set(err, SG_EIO, "cannot create %s: %s", d->dir,
                          strerror(errno));
    if (!realpath(d->dir, abs))
        return sg_err_set(err, SG_EIO, "cannot resolve %s", d->dir);
    for (size_t i = 0; i < SG_ARRAY_SIZE(old); i++) {
        snprintf(path, sizeof(path), "%s/%s", abs, old[i]);
        unlink(path);
    }
    snprintf(d->conf, sizeof(d->conf), "%s/surge.conf", abs);
    snprintf(d->db, sizeof(d->db), "%s/surge.db", abs);
    snprintf(d->log, sizeof(d->log), "%s/surge.log", abs);
    snprintf(d->sbx_log, sizeof(d->sbx_log), "%s/sandbox.log", abs);
    snprintf(d->catalog, sizeof(d->catalog), "%s/catalog.csv", abs);
    snprintf(d->categories, sizeof(d->categories), "%s/categories.json",
             abs);
    snprintf(d->map, sizeof(d->map), "%s/category-map.txt", abs);
    snprintf(d->sbx_conf, sizeof(d->sbx_conf), "%s/sandbox.json", abs);
    rc = write_sample("catalog.csv", d->catalog, err);
    if (!rc)
        rc = write_sample("categories.json", d->categories, err);
    if (!rc)
        rc = write_sample("category-map.txt", d->map, err);
    if (!rc)
        rc = write_file(d->sbx_conf, sbx_settings, strlen(sbx_settings),
                        err);
    return rc;
}

static int write_conf(struct sg_demo *d, const json_t *info,
                      struct sg_err *err)
{
    char text[8 * SG_DEMO_PATH_MAX], dir[SG_DEMO_PATH_MAX];
    int n;

    snprintf(dir, sizeof(dir), "%s", d->conf);
    *strrchr(dir, '/') = '\0';
    n = snprintf(
        text, sizeof(text),
        "# Written by surge demo; every run starts a fresh store.\n"
        "[server]\nlisten = 127.0.0.1:%u\nthreads = 2\n\n"
        "[store]\npath = %s\n\n[log]\nlevel = warn\n\n"
        "[security]\nallow_private_urls = true\n\n"
        /* No [notify] url: the engine would forward every TikTok
         * webhook there as webhook.generic, and the warehouse wants only
         * its exports (fulfilment's warehouse_url, set in start_serve),
         * which the secret signs. */
        "[notify]\nsecret = %s\n\n"
        "[jobs]\nbackoff_base_ms = 100\nbackoff_max_ms = 2000\n\n"

        "[catalog]\ncategory_rules = %s\ncategory_map = %s\n\n"
        "[tiktok_shop]\napp_key = %s\napp_secret = %s\n"
        "service_id = svc-demo\napi_base_url = %s\nauth_base_url = %s\n"
        "authorize_url = %s/open/authorize\n\n"
        "[secrets]\nkey_file = %s/surge.key\n",
        d->port, d->db, d->wh.secret,
        d->categories,
        d->map, sg_json_str(info, "app_key"), sg_json_str(info, "app_secret"),
        d->sbx.url, d->sbx.url, d->sbx.url, dir);
    if (n < 0 || (size_t)n >= sizeof(text))
        return sg_err_set(err, SG_EINVAL, "configuration too long");
    return write_file(d->conf, text, (size_t)n, err);
}

/* ---- processes ---- */

/*
 * A free loopback port for surge serve, so a restart keeps the address
 * the sandbox's webhook subscriptions point at.
 */
static unsigned free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t len = sizeof(a);
    unsigned port = 0;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static int start_sandbox(struct sg_demo *d, struct sg_err *err)
{
    char *argv[] = {ARG(sg_proc_self()), ARG("sandbox"),
                    ARG("--listen"),     ARG("127.0.0.1:0"),
                    ARG("--seed"),       ARG("42"),
                    ARG("--audit-delay-ms"), ARG("300"),
                    ARG("--categories"), d->categories,
                    ARG("--config"),     d->sbx_conf,
                    ARG("--log-level"),  ARG("error"),
                    NULL};

    if (sg_proc_start(&d->sbx, argv, d->sbx_log, 30000) != 0)
        return sg_err_set(err, SG_EIO, "surge sandbox did not start (see %s)",
                          d->sbx_log);
    return 0;
}

static int start_serve(struct sg_demo *d, struct sg_err *err)
{
    char *argv[] = {ARG(sg_proc_self()), ARG("serve"), ARG("--config"),
                    d->conf, NULL};
    char wh[300];

    /* The export target of the fulfilment module, where it exists: an
     * environment setting for an unknown section is ignored, so this
     * costs nothing on an engine without it. */
    snprintf(wh, sizeof(wh), "%s/ready", sg_http_server_url(d->wh.srv));
    setenv("SURGE_FULFILMENT_WAREHOUSE_URL", wh, 1);
    if (sg_proc_start(&d->serve, argv, d->log, 30000) != 0)
        return sg_err_set(err, SG_EIO, "surge serve did not start (see %s)",
                          d->log);
    return 0;
}

static int surge_ok(struct sg_demo *d, char **out, const char *const *words,
                    struct sg_err *err)
{
    int st = sg_demo__surge(d, out, words);

    if (st != 0)
        return sg_err_set(err, SG_EIO, "surge %s %s failed (exit %d; see %s)",
                          words[0], words[1] ? words[1] : "", st, d->log);
    return 0;
}

/* ---- steps ---- */

static int setup_store(struct sg_demo *d, struct sg_err *err)
{
    const char *init[] = {"init", NULL};
    const char *tenant[] = {"tenant", "create", TENANT, NULL};
    const char *key[] = {"apikey", "create", "--tenant", TENANT, NULL};
    char *out = NULL;
    int rc;

    rc = surge_ok(d, NULL, init, err);
    if (!rc)
        rc = surge_ok(d, NULL, tenant, err);
    if (!rc)
        rc = surge_ok(d, &out, key, err);
    if (!rc && (!out || strncmp(out, "sk_", 3) != 0))
        rc = sg_err_set(err, SG_EIO, "surge apikey create printed no key");
    if (!rc)
        snprintf(d->key, sizeof(d->key), "%.*s", (int)strcspn(out, "\r\n"),
                 out);
    sg_free(out);
    return rc;
}

static int connect_shop(struct sg_demo *d, struct sg_err *err)
{
    const char *words[] = {"connect", "tiktok-shop", "--sandbox", d->sbx.url,
                           "--tenant", TENANT, NULL};
    char hook[300];
    int rc;

    snprintf(hook, sizeof(hook), "%s/webhooks/tiktok-shop", d->serve.url);
    setenv("SURGE_TIKTOK_SHOP_WEBHOOK_URL", hook, 1);
    rc = surge_ok(d, NULL, words, err);
    unsetenv("SURGE_TIKTOK_SHOP_WEBHOOK_URL");
    return rc;
}

/* Scale every imported quantity: limited stock, but enough for a run. */
static int scale_stock(struct sg_demo *d, long *units_out, struct sg_err *err)
{
    json_t *list = NULL, *p, *v;
    size_t i, j;
    long total = 0;
    int rc = 0;

    if (sg_demo__http(&list, "GET", d->serve.url, "/api/v1/products?limit=100",
                      NULL, d->key) != 200)
        rc = sg_err_set(err, SG_EIO, "GET /api/v1/products failed");
    json_array_foreach(json_object_get(list, "products"), i, p) {
        json_array_foreach(json_object_get(p, "variants"), j, v) {
            const char *sku = sg_json_str(v, "sku");
            char path[200], body[120];
            json_t *inv = NULL;
            long on_hand;

            if (rc || !sku)
                continue;
            snprintf(path, sizeof(path), "/api/v1/inventory/%s", sku);
            if (sg_demo__http(&inv, "GET", d->serve.url, path, NULL,
                              d->key) != 200) {
                json_decref(inv);
                continue; /* a variant with no level: nothing to sell */
            }
            on_hand = (long)sg_json_int(
                json_array_get(json_object_get(inv, "levels"), 0), "on_hand",
                0);
            json_decref(inv);
            if (d->scale->stock_mult > 1 && on_hand > 0) {
                on_hand *= (long)d->scale->stock_mult;
                snprintf(body, sizeof(body),
                         "{\"on_hand\":%ld,\"reason\":\"demo stock\"}",
                         on_hand);
                if (sg_demo__http(NULL, "PUT", d->serve.url, path, body,
                                  d->key) != 200)
                    rc = sg_err_set(err, SG_EIO, "PUT %s failed", path);
            }
            total += on_hand;
        }
    }
    json_decref(list);
    *units_out = total;
    return rc;
}

/*
 * The brand restocks the products it will pin in the live stream (the
 * viral spike has sold most of them out): a receipt of live_restock units
 * per SKU through POST /api/v1/inventory/{sku}/adjust, relative to the
 * level inside the write, while orders keep shipping. Units received.
 */
static long restock_pinned(struct sg_demo *d, const json_t *pinned)
{
    json_t *st = NULL, *p, *sku, *id;
    size_t i, j, k;
    long units = 0;
    char path[200], body[120];

    snprintf(body, sizeof(body),
             "{\"delta\":%u,\"reason\":\"live restock\"}",
             d->scale->live_restock);
    sg_demo__http(&st, "GET", d->sbx.url, "/sandbox/v1/state/products", NULL,
                  NULL);
    json_array_foreach(json_object_get(st, "products"), i, p) {
        const char *pid = sg_json_str(p, "id");
        bool is_pinned = false;

        json_array_foreach(pinned, k, id)
            is_pinned = is_pinned || (pid && json_is_string(id) &&
                                      strcmp(pid, json_string_value(id)) == 0);
        if (!is_pinned)
            continue;
        json_array_foreach(json_object_get(p, "skus"), j, sku) {
            const char *ss = sg_json_str(sku, "seller_sku");

            if (!ss)
                continue;
            snprintf(path, sizeof(path), "/api/v1/inventory/%s/adjust", ss);
            if (sg_demo__http(NULL, "POST", d->serve.url, path, body,
                              d->key) == 200)
                units += d->scale->live_restock;
        }
    }
    json_decref(st);
    return units;
}

/* Wait for the sandbox's audits: no product left PENDING. */
static void wait_audits(struct sg_demo *d, json_t **pinned_out)
{
    int64_t deadline = sg_mono_ms() + 20000;
    json_t *pinned = json_array();

    for (;;) {
        json_t *st = NULL, *p;
        size_t i, pending = 0, live = 0, skus = 0;

        sg_demo__http(&st, "GET", d->sbx.url, "/sandbox/v1/state/products",
                      NULL, NULL);
        json_array_clear(pinned);
        json_array_foreach(json_object_get(st, "products"), i, p) {
            const char *s = sg_json_str(p, "status");

            if (s && strcmp(s, "PENDING") == 0)
                pending++;
            if (s && strcmp(s, "ACTIVATE") == 0) {
                live++;
                skus += json_array_size(json_object_get(p, "skus"));
                /* The live stream pins the products listed last. */
                json_array_append_new(pinned,
                                      json_string(sg_json_str(p, "id")));
            }
        }
        json_decref(st);
        d->skus_published = skus;
        if ((pending == 0 && live > 0) || sg_mono_ms() > deadline)
            break;
        usleep(100000);
    }
    while (json_array_size(pinned) > d->scale->live_pinned)
        json_array_remove(pinned, 0);
    *pinned_out = pinned;
}

/* An engine route is there unless the router says "no such path". */
static bool route_exists(struct sg_demo *d, const char *path)
{
    json_t *j = NULL;
    long st = sg_demo__http(&j, "POST", d->serve.url, path, "{}", d->key);
    const char *msg = sg_json_str(json_object_get(j, "error"), "message");
    bool there = st != 0 && !(st == 404 && msg &&
                              strcmp(msg, "no such path") == 0) &&
                 st != 405;

    json_decref(j);
    return there;
}

static int set_faults(struct sg_demo *d, bool on)
{
    char body[300];

    if (!on)
        return sg_demo__http(NULL, "DELETE", d->sbx.url, "/sandbox/v1/faults",
                             NULL, NULL) == 200
                   ? 0
                   : -1;
    snprintf(body, sizeof(body),
             "{\"faults\":[{\"path\":\"*\",\"kind\":\"429\",\"rate\":%.2f},"
             "{\"path\":\"*\",\"kind\":\"500\",\"rate\":%.2f}]}",
             d->scale->fault_429_pct / 100.0,
             d->scale->fault_500_pct / 100.0);
    return sg_demo__http(NULL, "POST", d->sbx.url, "/sandbox/v1/faults", body,
                         NULL) == 200
               ? 0
               : -1;
}

/* ---- progress ---- */

struct phase {
    const char *name;
    unsigned duration_s;
    unsigned long base_created, base_rejected; /* before this phase */
};

static void progress(struct sg_demo *d, const struct phase *ph,
                     const json_t *tr, double frac, bool last)
{
    static int64_t last_line_ms;
    unsigned long created =
        ph->base_created + (unsigned long)sg_json_int(tr, "created", 0);
    unsigned long rejected =
        ph->base_rejected +
        (unsigned long)sg_json_int(tr, "rejected_out_of_stock", 0);
    long in_surge = sg_demo__surge_orders(d);
    double t = (double)(sg_mono_ms() - d->t0_ms) / 1000.0;
    unsigned width = 30, fill;

    if (frac > 1.0)
        frac = 1.0;
    fill = (unsigned)(frac * width);
    if (d->tty) {
        printf("\r   %-5s [%-30.*s] %3.0f%%  placed %5lu  sold out %5lu  "
               "in Surge %5ld  shipped %5lu  %5.1fs",
               ph->name, (int)fill, "##############################",
               frac * 100.0, created, rejected, in_surge,
               atomic_load(&d->wh.shipped), t);
        if (last)
            putchar('\n');
        fflush(stdout);
        return;
    }
    if (!last && sg_mono_ms() - last_line_ms < 2000)
        return;
    last_line_ms = sg_mono_ms();
    say("   %s %3.0f%%: placed %lu, sold out %lu, in Surge %ld, shipped %lu, "
        "%.1f s",
        ph->name, frac * 100.0, created, rejected, in_surge,
        atomic_load(&d->wh.shipped), t);
}

/* Start the traffic generator with spec and follow it to its end. */
static int run_traffic(struct sg_demo *d, struct phase *ph, json_t *spec,
                       struct sg_err *err)
{
    char *body = sg_json_dump(spec, NULL);
    int64_t start = sg_mono_ms();
    int64_t deadline = start + (int64_t)ph->duration_s * 1000 + 20000;
    json_t *tr = NULL;
    long st;

    st = sg_demo__http(NULL, "POST", d->sbx.url, "/sandbox/v1/traffic", body,
                       NULL);
    sg_free(body);
    if (st != 200)
        return sg_err_set(err, SG_EIO, "POST /sandbox/v1/traffic: HTTP %ld",
                          st);
    for (;;) {
        double frac;

        json_decref(tr);
        tr = NULL;
        sg_demo__http(&tr, "GET", d->sbx.url, "/sandbox/v1/traffic", NULL,
                      NULL);
        frac = (double)(sg_mono_ms() - start) / (ph->duration_s * 1000.0);
        if (!json_is_true(json_object_get(tr, "running")) ||
            sg_mono_ms() > deadline) {
            progress(d, ph, tr, 1.0, true);
            break;
        }
        progress(d, ph, tr, frac, false);
        usleep(250000);
    }
    d->placed = (unsigned long)sg_json_int(tr, "created", 0);
    d->rejected = (unsigned long)sg_json_int(tr, "rejected_out_of_stock", 0);
    d->cancels_requested += (unsigned long)sg_json_int(tr, "cancels_requested",
                                                       0);
    d->returns_requested += (unsigned long)sg_json_int(tr, "returns_requested",
                                                       0);
    json_decref(tr);
    /* Join the generator's thread before the next spec. */
    sg_demo__http(NULL, "DELETE", d->sbx.url, "/sandbox/v1/traffic", NULL,
                  NULL);
    return 0;
}

static json_t *timing(bool fulfilment)
{
    /* Paid a second after ordering, so some buyer cancellations land
     * before payment and cancel at once. With a warehouse shipping,
     * parcels are collected and delivered within seconds, so buyers can
     * ask for returns during the live stream. */
    return json_pack("{s:i, s:i, s:i, s:i}", "pay_s", 1, "collect_s",
                     fulfilment ? 1 : 3600, "deliver_s",
                     fulfilment ? 2 : 259200,
                     "complete_s", 864000);
}

/*
 * The merchant approves buyers' returns through Surge, when it can: every
 * return Surge holds that still waits for the seller and has no decision
 * yet, by Surge's id, with an idempotency key.
 */
static void approve_returns(struct sg_demo *d)
{
    int64_t after = 0;

    if (!d->returns_available)
        return;
    for (int page = 0; page < 50; page++) {
        json_t *doc = NULL, *r, *next;
        char path[200];
        size_t i;

        snprintf(path, sizeof(path), "/api/v1/returns?limit=200&after=%"
                 PRId64, after);
        if (sg_demo__http(&doc, "GET", d->serve.url, path, NULL, d->key) !=
            200) {
            json_decref(doc);
            break;
        }
        json_array_foreach(json_object_get(doc, "returns"), i, r) {
            const char *status = sg_json_str(r, "status");
            const char *decision = sg_json_str(r, "decision");
            int64_t id = sg_json_int(r, "id", 0);
            char body[96];
            long code;

            if (id <= 0 || !status || !strstr(status, "PENDING") ||
                (decision && decision[0]))
                continue;
            snprintf(path, sizeof(path), "/api/v1/returns/%" PRId64
                     "/approve", id);
            snprintf(body, sizeof(body), "{\"idempotency_key\":"
                     "\"demo-return-%" PRId64 "\"}", id);
            code = sg_demo__http(NULL, "POST", d->serve.url, path, body,
                                 d->key);
            if (code >= 200 && code < 300)
                d->returns_approved++;
            else
                d->returns_failed++;
        }
        next = json_object_get(doc, "next_after");
        after = json_is_integer(next) ? json_integer_value(next) : 0;
        json_decref(doc);
        if (after <= 0)
            break;
    }
}

/* Orders of then still behind now with the same sandbox status. */
static size_t still_behind(json_t *then, const json_t *now)
{
    const char *id;
    json_t *st;
    size_t n = 0;

    json_object_foreach(then, id, st) {
        json_t *cur = json_object_get(now, id);

        if (cur && json_equal(cur, st))
            n++;
    }
    return n;
}

/*
 * Wait until Surge holds every sandbox order with the same status on two
 * looks in a row (a status may change on the sandbox's timers between
 * them). Gives up after ms, or as soon as an order has been behind with
 * the same sandbox status for stall_ms: Surge is then not late but
 * missing a change (while parcels move, other orders are behind for a
 * moment all the time). Returns whether it converged.
 */
static bool converge(struct sg_demo *d, int64_t ms, int64_t stall_ms)
{
    int64_t now = sg_mono_ms(), deadline = now + ms, watch_at = now;
    json_t *watch = NULL;
    bool stuck = false;
    int calm = 0;

    while (now < deadline && !stuck && calm < 2) {
        calm = sg_demo__orders_converged(d) ? calm + 1 : 0;
        if (!watch || now - watch_at >= stall_ms) {
            stuck = watch && still_behind(watch, d->behind) > 0;
            json_decref(watch);
            watch = json_deep_copy(d->behind);
            watch_at = now;
        }
        if (calm < 2 && !stuck)
            usleep(calm ? 1200000 : 250000);
        now = sg_mono_ms();
    }
    json_decref(watch);
    return calm >= 2;
}

/* Wait, at most ms, until every order the sandbox has is in Surge. */
static void orders_in(struct sg_demo *d, int64_t ms)
{
    int64_t deadline = sg_mono_ms() + ms;

    while (!sg_demo__orders_converged(d) && d->orders_missing > 0 &&
           sg_mono_ms() < deadline)
        usleep(200000);
}

/*
 * Webhooks still queued, reordered or retried land first: wait while
 * Surge catches up. An order change whose webhook Surge missed is found
 * by the reconciliation poll, which runs every [orders] poll_interval and
 * at start-up: when Surge stops catching up, restart the engine (SIGTERM,
 * same port) to run it now.
 */
static int settle(struct sg_demo *d, struct sg_err *err)
{
    if (converge(d, SETTLE_MS, STALL_MS))
        return 0;
    d->behind_before_restart = d->orders_missing + d->orders_status_diff;
    say("   %ld orders behind (%ld missing), some for %d s with no change "
        "(e.g. %s): restarting surge serve (its start-up reconciliation "
        "poll)",
        d->behind_before_restart, d->orders_missing, STALL_MS / 1000,
        d->mismatch_example[0] ? d->mismatch_example : "a missing order");
    sg_demo__retries(d);
    sg_proc_stop(&d->serve, SIGTERM);
    d->restarts++;
    if (start_serve(d, err) != 0)
        return -1;
    converge(d, SETTLE_MS, SETTLE_MS);
    return 0;
}

/* The sandbox's orders as {id: status}, or NULL. */
static json_t *sandbox_statuses(struct sg_demo *d)
{
    json_t *st = NULL, *o, *map = json_object();
    size_t i;

    if (sg_demo__http(&st, "GET", d->sbx.url, "/sandbox/v1/state/orders",
                      NULL, NULL) != 200 || !map) {
        json_decref(st);
        json_decref(map);
        return NULL;
    }
    json_array_foreach(json_object_get(st, "orders"), i, o) {
        const char *id = sg_json_str(o, "id");
        const char *status = sg_json_str(o, "status");

        if (id && status)
            json_object_set_new(map, id, json_string(status));
    }
    json_decref(st);
    return map;
}

/*
 * Parcels shipped in the last seconds are still being collected and
 * delivered on the sandbox clock, and each step sends a webhook: the
 * checks wait (bounded) for a moment when no order's status moved for
 * longer than those timers and Surge agrees with every order.
 */
static void quiesce(struct sg_demo *d)
{
    for (int i = 0; i < QUIET_TRIES; i++) {
        json_t *a = sandbox_statuses(d), *b;
        bool same;

        usleep(QUIET_MS * 1000);
        b = sandbox_statuses(d);
        same = a && b && json_equal(a, b);
        json_decref(a);
        json_decref(b);
        if (same && converge(d, SETTLE_MS, STALL_MS))
            return;
    }
}

static int run(struct sg_demo *d, struct sg_err *err)
{
    const char *import[] = {"import", "catalog", d->catalog, "--tenant",
                            TENANT, NULL};
    const char *sync[] = {"sync", "--wait", "--tenant", TENANT, NULL};
    json_t *info = NULL, *pinned = NULL, *spec;
    struct phase viral = {.name = "viral", .duration_s = d->scale->viral_s};
    struct phase live = {.name = "live", .duration_s = d->scale->live_s};
    long units = 0;
    int rc;

    say("1. a fresh store, the sandbox and a warehouse in %s", d->dir);
    d->port = free_port();
    rc = prepare_dir(d, err);
    if (!rc && d->port == 0)
        rc = sg_err_set(err, SG_EIO, "no free loopback port");
    if (!rc)
        rc = sg_demo__wh_start(&d->wh, err);
    if (!rc)
        rc = start_sandbox(d, err);
    if (rc)
        return rc;
    if (sg_demo__http(&info, "GET", d->sbx.url, "/sandbox/v1/info", NULL,
                      NULL) != 200 || !sg_json_str(info, "app_key")) {
        json_decref(info);
        return sg_err_set(err, SG_EIO, "GET /sandbox/v1/info failed");
    }
    snprintf(d->shop_id, sizeof(d->shop_id), "%s",
             sg_json_str(json_array_get(json_object_get(info, "shops"), 0),
                         "id"));
    rc = write_conf(d, info, err);
    json_decref(info);
    if (!rc)
        rc = setup_store(d, err);
    if (rc)
        return rc;
    say("   sandbox %s, warehouse %s", d->sbx.url,
        sg_http_server_url(d->wh.srv));
    say("   surge init; surge tenant create %s; surge apikey create -> "
        "%.10s...",
        TENANT, d->key);

    say("2. surge serve, connected to the sandbox shop");
    rc = start_serve(d, err);
    if (!rc)
        rc = connect_shop(d, err);
    if (rc)
        return rc;
    snprintf(d->wh.engine, sizeof(d->wh.engine), "%s", d->serve.url);
    snprintf(d->wh.key, sizeof(d->wh.key), "%s", d->key);
    say("   engine %s; surge connect tiktok-shop --sandbox: connected",
        d->serve.url);

    say("3. import the sample catalog and publish it");
    rc = surge_ok(d, NULL, import, err);
    if (!rc)
        rc = scale_stock(d, &units, err);
    if (!rc)
        rc = surge_ok(d, NULL, sync, err);
    if (rc)
        return rc;
    wait_audits(d, &pinned);
    say("   %lu SKUs live on the shop, %ld units in stock (x%u)",
        d->skus_published, units, d->scale->stock_mult);

    d->fulfilment_available = route_exists(d, "/api/v1/shipments");
    d->returns_available = route_exists(d, "/api/v1/returns/0/approve");
    say("   fulfilment (POST /api/v1/shipments): %s",
        d->fulfilment_available ? "available" : "skipped: not available");

    if (set_faults(d, true) != 0) {
        json_decref(pinned);
        return sg_err_set(err, SG_EIO, "POST /sandbox/v1/faults failed");
    }
    say("4. viral spike: up to %u orders/s for %u s; %u%% of API calls "
        "answer 429, %u%% 500",
        d->scale->viral_peak, d->scale->viral_s, d->scale->fault_429_pct,
        d->scale->fault_500_pct);
    spec = json_pack("{s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:o}", "pattern",
                     "viral", "peak", (int)d->scale->viral_peak, "duration_s",
                     (int)d->scale->viral_s, "max_orders",
                     (int)d->scale->viral_max, "units_max", 2, "lines_max", 2,
                     "cancel_pct", 4, "timing",
                     timing(d->fulfilment_available));
    rc = run_traffic(d, &viral, spec, err);
    json_decref(spec);
    live.base_created = d->placed;
    live.base_rejected = d->rejected;
    if (rc) {
        json_decref(pinned);
        return rc;
    }

    /*
     * TikTok's inventory update sets an absolute quantity: a restock
     * pushed while the channel still has sales Surge has not ingested
     * would list those units again (docs/orders.md, "Stock increases").
     * So, as a brand would, restock once the spike's orders are in, and
     * go live once the new stock is listed.
     */
    orders_in(d, 15000);
    units = restock_pinned(d, pinned);
    rc = surge_ok(d, NULL, sync, err);
    if (rc) {
        json_decref(pinned);
        return rc;
    }
    say("5. live stream: %zu pinned products restocked (+%ld units), "
        "bursts of %u orders/s",
        json_array_size(pinned), units, d->scale->live_peak);
    spec = json_pack("{s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, "
                     "s:i, s:O, s:o}",
                     "pattern", "live", "peak", (int)d->scale->live_peak,
                     "rate", (int)d->scale->live_rate, "duration_s",
                     (int)d->scale->live_s, "max_orders",
                     (int)d->scale->live_max, "units_max", 3, "lines_max", 1,
                     "cancel_pct", 3, "return_pct",
                     d->fulfilment_available ? 15 : 0, "burst_every_s", 4,
                     "burst_s", 2, "live_pinned", pinned, "timing",
                     timing(d->fulfilment_available));
    rc = run_traffic(d, &live, spec, err);
    json_decref(spec);
    json_decref(pinned);
    /* run_traffic reports per run; the totals are both phases. */
    d->placed += live.base_created;
    d->rejected += live.base_rejected;
    if (rc)
        return rc;

    say("6. faults off; returns; Surge settles and pushes the last stock");
    set_faults(d, false);
    approve_returns(d);
    rc = settle(d, err);
    if (!rc)
        rc = surge_ok(d, NULL, sync, err);
    if (rc)
        return rc;
    if (d->fulfilment_available)
        quiesce(d);
    say("7. checks");
    sg_demo__check(d);
    return 0;
}

int sg_cli_demo(int argc, char **argv)
{
    const char *dir = "demo-out", *report = NULL, *scale = "full";
    const struct sg_cli_opt opts[] = {{"--dir", &dir, NULL},
                                      {"--report", &report, NULL},
                                      {"--scale", &scale, NULL}};
    struct sg_demo d;
    struct sg_err err;
    size_t n_pos = 0;
    int rc;

    rc = sg_cli_parse("demo", argc, argv, opts, SG_ARRAY_SIZE(opts), NULL, 0,
                      0, &n_pos);
    if (rc >= 0)
        return rc;
    memset(&d, 0, sizeof(d));
    for (size_t i = 0; i < SG_ARRAY_SIZE(scales); i++)
        if (strcmp(scale, scales[i].name) == 0)
            d.scale = &scales[i];
    if (!d.scale)
        return sg_cli_usage_error("demo", "--scale must be full or small");
    d.dir = dir;
    d.tty = isatty(1);
    d.t0_ms = sg_mono_ms();
    sg_err_init(&err);
    signal(SIGPIPE, SIG_IGN);
    sg_log_set_level(SG_LOG_WARN);

    say("surge demo (%s scale): a viral spike and a live stream against "
        "limited stock, on loopback",
        d.scale->name);
    rc = run(&d, &err);
    d.seconds = (double)(sg_mono_ms() - d.t0_ms) / 1000.0;
    if (!rc && sg_demo__report(&d, report) != 0)
        d.ok = false;
    if (rc)
        fprintf(stderr, "surge demo: %s\n", err.msg);
    if (d.serve.pid > 0)
        sg_proc_stop(&d.serve, SIGTERM);
    if (d.sbx.pid > 0)
        sg_proc_stop(&d.sbx, SIGTERM);
    sg_demo__wh_stop(&d.wh);
    json_decref(d.api_calls);
    json_decref(d.behind);
    unsetenv("SURGE_FULFILMENT_WAREHOUSE_URL");
    return rc ? SG_EXIT_FAIL : (d.ok ? SG_EXIT_OK : SG_EXIT_FAIL);
}
