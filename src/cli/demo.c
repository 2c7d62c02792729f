/*
 * demo.c - `surge demo`: Surge's main job on embedded defaults, end to end,
 * with real processes and real sockets, ending in a report.
 *
 * This edition shows the foundation: a fresh store and tenant, the admin
 * API's authentication, a burst of signed webhooks (with duplicates)
 * acknowledged only after they are durable, a SIGKILL right after the last
 * acknowledgement followed by a restart that finds every acknowledged
 * event, the inbox -> outbox -> dispatcher path delivering each event to a
 * simulated warehouse, and the TikTok Shop sandbox answering a signed
 * call. It exits non-zero when any invariant fails.
 */
#include "cli/cli.h"
#include "cli/proc.h"
#include "connectors/tiktok_shop/sign.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/crypto.h"
#include "core/json.h"
#include "core/log.h"
#include "http/client.h"
#include "http/server.h"
#include "store/store.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <unistd.h>

/* execv wants char *const[]; our argument strings are literals. */
#define ARG(s) ((char *)(uintptr_t)(s))

#define INFLIGHT_MAX 64
#define EVENTS_MAX 1000000

struct warehouse {
    struct sg_http_server *srv;
    char secret[65];
    atomic_ulong deliveries;
    atomic_ulong bad_signatures;
    pthread_mutex_t lock;
    unsigned char *seen; /* one flag per inbox id */
    size_t seen_n;
    atomic_ulong distinct;
};

struct demo {
    const char *dir;
    char conf[1024];
    char db[1024];
    char log[1024];
    char secret[65];
    char key[128];
    unsigned events;
    struct warehouse wh;
    struct sg_proc serve;
    bool tty;
    /* results */
    unsigned long sent, accepted, duplicates, failed;
    int64_t *lat_us;
    size_t lat_n;
    int64_t *acked_ids;
    size_t acked_n;
    double intake_s;
    unsigned long lost_after_kill;
    bool auth_ok;
    bool sandbox_ok;
    char sandbox_note[200];
    bool ok;
};

/* ---- the simulated warehouse (a notify.http receiver) ---- */

static void wh_hook(struct sg_http_req *r, void *ctx)
{
    struct warehouse *w = ctx;
    size_t len, slen;
    const char *body = sg_http_req_body(r, &len);
    const char *sig = sg_http_req_header(r, "x-surge-signature", &slen);
    char want[65];
    json_t *doc;
    int64_t id;

    sg_hmac_sha256_hex(w->secret, strlen(w->secret), body, len, want);
    if (!sig || slen != 71 || !sg_ct_equal(sig + 7, 64, want, 64)) {
        atomic_fetch_add(&w->bad_signatures, 1);
        sg_http_reply_error(r, 401, "bad_signature", "bad signature", NULL);
        return;
    }
    atomic_fetch_add(&w->deliveries, 1);
    doc = json_loadb(body, len, 0, NULL);
    id = sg_json_int(json_object_get(doc, "data"), "inbox_id", -1);
    json_decref(doc);
    pthread_mutex_lock(&w->lock);
    if (id > 0 && (size_t)id < w->seen_n && !w->seen[id]) {
        w->seen[id] = 1;
        atomic_fetch_add(&w->distinct, 1);
    }
    pthread_mutex_unlock(&w->lock);
    sg_http_reply(r, 200, "application/json", "{\"ok\":true}", 11);
}

static int wh_start(struct warehouse *w, size_t ids_max, struct sg_err *err)
{
    struct sg_http_server_cfg cfg;
    unsigned char raw[16];
    int rc;

    sg_random_bytes(raw, sizeof(raw));
    sg_hex_encode(raw, sizeof(raw), w->secret);
    pthread_mutex_init(&w->lock, NULL);
    w->seen_n = ids_max;
    w->seen = sg_calloc(ids_max, 1);
    if (!w->seen)
        return sg_err_set(err, SG_ENOMEM, "out of memory");
    sg_http_server_cfg_defaults(&cfg);
    cfg.listen = "127.0.0.1:0";
    cfg.threads = 1;
    cfg.name = "warehouse";
    rc = sg_http_server_new(&w->srv, &cfg, err);
    if (!rc)
        rc = sg_http_route(w->srv, "POST", "/hook", wh_hook, w);
    if (!rc)
        rc = sg_http_server_start(w->srv, err);
    return rc;
}

/* ---- helpers ---- */

static void say(const char *fmt, ...) SG_PRINTF(1, 2);

static void say(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

static int run_surge(struct demo *d, char **out, const char *a1,
                     const char *a2, const char *a3, const char *a4)
{
    char *argv[9] = {ARG(sg_proc_self())};
    const char *args[] = {a1, a2, a3, a4};
    size_t n = 1;

    for (size_t i = 0; i < 4 && args[i]; i++)
        argv[n++] = ARG(args[i]);
    argv[n++] = ARG("--config");
    argv[n++] = d->conf;
    argv[n] = NULL;
    return sg_proc_run(argv, d->log, out, 60000);
}

static int start_serve(struct demo *d)
{
    char *argv[] = {ARG(sg_proc_self()), ARG("serve"), ARG("--config"),
                    d->conf, NULL};

    return sg_proc_start(&d->serve, argv, d->log, 30000);
}

static int http_simple(const char *method, const char *url, const char *key,
                       struct sg_http_response *resp)
{
    char auth[200];
    const char *headers[2] = {NULL, NULL};
    struct sg_http_request req = {.method = method, .url = url,
                                  .headers = headers, .timeout_ms = 10000};

    if (key) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", key);
        headers[0] = auth;
    }
    return sg_http_client_do(resp, &req, NULL, NULL);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return (x > y) - (x < y);
}

/* ---- steps ---- */

static int prepare(struct demo *d, struct sg_err *err)
{
    unsigned char raw[16];
    char text[2048];
    FILE *f;

    if (mkdir(d->dir, 0700) != 0 && errno != EEXIST)
        return sg_err_set(err, SG_EIO, "cannot create %s: %s", d->dir,
                          strerror(errno));
    snprintf(d->conf, sizeof(d->conf), "%s/surge.conf", d->dir);
    snprintf(d->db, sizeof(d->db), "%s/surge.db", d->dir);
    snprintf(d->log, sizeof(d->log), "%s/surge.log", d->dir);
    for (int i = 0; i < 3; i++) {
        static const char *sfx[] = {"", "-wal", "-shm"};

        snprintf(text, sizeof(text), "%s%s", d->db, sfx[i]);
        unlink(text);
    }
    unlink(d->log);
    sg_random_bytes(raw, sizeof(raw));
    sg_hex_encode(raw, sizeof(raw), d->secret);
    snprintf(text, sizeof(text),
             "# Written by surge demo.\n[server]\nlisten = 127.0.0.1:0\n"
             "threads = 2\n\n[store]\npath = surge.db\n\n[log]\n"
             "level = warn\n\n[webhook_generic]\nsecret = %s\n"
             "tenant = demo\n\n[notify]\nurl = %s/hook\nsecret = %s\n\n"
             "[jobs]\nrate_per_sec = 5000\nburst = 500\nconcurrency = 64\n"
             "lease_ms = 5000\nrequest_timeout_ms = 2000\n"
             "\n[security]\nallow_private_urls = true\n",
             d->secret, sg_http_server_url(d->wh.srv), d->wh.secret);
    f = fopen(d->conf, "w");
    if (!f)
        return sg_err_set(err, SG_EIO, "cannot write %s", d->conf);
    fchmod(fileno(f), 0600);
    fputs(text, f);
    fclose(f);
    return 0;
}

static int setup_tenant(struct demo *d, struct sg_err *err)
{
    char *out = NULL;
    size_t n = 0;

    if (run_surge(d, NULL, "migrate", NULL, NULL, NULL) != 0 ||
        run_surge(d, NULL, "tenant", "create", "demo", NULL) != 0)
        return sg_err_set(err, SG_EIO, "surge migrate/tenant failed (see %s)",
                          d->log);
    if (run_surge(d, &out, "apikey", "create", "--tenant", "demo") != 0 ||
        !out || strncmp(out, "sk_", 3) != 0) {
        sg_free(out);
        return sg_err_set(err, SG_EIO, "surge apikey create failed");
    }
    while (out[n] && out[n] != '\n' && n < sizeof(d->key) - 1)
        n++;
    memcpy(d->key, out, n);
    d->key[n] = '\0';
    sg_free(out);
    return 0;
}

static void check_auth(struct demo *d)
{
    struct sg_http_response a, b;
    char url[256];

    snprintf(url, sizeof(url), "%s/api/v1/whoami", d->serve.url);
    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    http_simple("GET", url, NULL, &a);
    http_simple("GET", url, d->key, &b);
    d->auth_ok = a.status == 401 && b.status == 200 &&
                 b.body && strstr(b.body, "\"tenant\":\"demo\"");
    say("  GET /api/v1/whoami without a key -> %ld; with the key -> %ld %s",
        a.status, b.status, b.body ? b.body : "");
    sg_http_response_release(&a);
    sg_http_response_release(&b);
}

struct sender {
    struct demo *d;
    struct sg_http_client *c;
    unsigned next;
    unsigned inflight;
    char url[256];
    char sig[100];
    char body[200];
};

static void on_ack(void *arg, const struct sg_http_response *resp)
{
    struct sender *s = arg;
    struct demo *d = s->d;
    const char *p;

    s->inflight--;
    if (resp->status != 200 || !resp->body) {
        d->failed++;
        return;
    }
    d->lat_us[d->lat_n++] = resp->elapsed_ms * 1000;
    if (strstr(resp->body, "\"duplicate\"")) {
        d->duplicates++;
    } else {
        d->accepted++;
        p = strstr(resp->body, "\"id\":");
        if (p)
            d->acked_ids[d->acked_n++] = strtoll(p + 5, NULL, 10);
    }
}

static int send_one(struct sender *s, struct sg_err *err)
{
    struct demo *d = s->d;
    unsigned i = s->next++;
    /* Every tenth delivery repeats an earlier event id, as providers do. */
    unsigned id = (i % 10 == 9) ? i - 5 : i;
    char hid[64];
    const char *headers[] = {s->sig, hid, "Content-Type: application/json",
                             NULL};
    struct sg_http_request req = {.method = "POST", .url = s->url,
                                  .headers = headers, .body = s->body,
                                  .body_len = strlen(s->body),
                                  .timeout_ms = 10000};

    snprintf(hid, sizeof(hid), "X-Surge-Event-Id: demo-%u", id);
    d->sent++;
    s->inflight++;
    return sg_http_client_submit(s->c, &req, on_ack, s, err);
}

static int send_webhooks(struct demo *d, struct sg_err *err)
{
    struct sender s = {.d = d};
    char hex[65];
    int64_t t0;
    int rc;

    rc = sg_http_client_new(&s.c, NULL, err);
    if (rc)
        return rc;
    snprintf(s.url, sizeof(s.url), "%s/webhooks/generic", d->serve.url);
    snprintf(s.body, sizeof(s.body),
             "{\"type\":\"stock.received\",\"sku\":\"TEE-BLK-M\","
             "\"qty\":3}");
    sg_hmac_sha256_hex(d->secret, strlen(d->secret), s.body, strlen(s.body),
                       hex);
    snprintf(s.sig, sizeof(s.sig), "X-Surge-Signature: sha256=%s", hex);
    t0 = sg_mono_us();
    while ((s.next < d->events || s.inflight > 0) && !rc) {
        while (s.next < d->events && s.inflight < INFLIGHT_MAX && !rc)
            rc = send_one(&s, err);
        if (!rc)
            rc = sg_http_client_run(s.c, 100);
        if (d->tty && (s.next % 250 == 0 || s.next == d->events)) {
            unsigned pct = s.next * 40 / d->events;

            printf("\r  [%-40.*s] %u/%u sent, %lu acked", (int)pct,
                   "########################################", s.next,
                   d->events, d->accepted + d->duplicates);
            fflush(stdout);
        }
    }
    if (d->tty)
        putchar('\n');
    d->intake_s = (double)(sg_mono_us() - t0) / 1e6;
    sg_http_client_free(s.c);
    return rc;
}

/* After SIGKILL and restart, every acknowledged event must be stored. */
static int verify_after_kill(struct demo *d, struct sg_err *err)
{
    struct sg_store_cfg sc;
    struct sg_store *st = NULL;
    int rc;

    sg_store_cfg_defaults(&sc);
    sc.path = d->db;
    rc = sg_store_open(&st, &sc, NULL, err);
    if (rc)
        return rc;
    for (size_t i = 0; i < d->acked_n; i++) {
        struct sg_inbox row;

        if (sg_store_inbox_get(st, 0, d->acked_ids[i], &row, NULL) != 0)
            d->lost_after_kill++;
        else
            sg_inbox_free(&row);
    }
    sg_store_free(st);
    return 0;
}

static void sandbox_check(struct demo *d)
{
    char *argv[] = {ARG(sg_proc_self()), ARG("sandbox"),   ARG("--listen"),
                    ARG("127.0.0.1:0"),  ARG("--seed"), ARG("42"),
                    NULL};
    struct sg_proc sbx;
    struct sg_http_response info, shops;
    char url[512], ts[32], sig[65], tok[300];
    const char *app_key, *app_secret, *token;
    json_t *doc = NULL;

    memset(&info, 0, sizeof(info));
    memset(&shops, 0, sizeof(shops));
    if (sg_proc_start(&sbx, argv, d->log, 30000) != 0) {
        snprintf(d->sandbox_note, sizeof(d->sandbox_note),
                 "sandbox did not start");
        return;
    }
    snprintf(url, sizeof(url), "%s/sandbox/v1/info", sbx.url);
    if (http_simple("GET", url, NULL, &info) == 0 && info.status == 200)
        doc = json_loadb(info.body, info.body_len, 0, NULL);
    app_key = sg_json_str(doc, "app_key");
    app_secret = sg_json_str(doc, "app_secret");
    token = sg_json_str(doc, "access_token");
    if (app_key && app_secret && token) {
        struct sg_tts_param q[2];
        const char *headers[2] = {tok, NULL};
        struct sg_http_request req = {.method = "GET", .url = url,
                                      .headers = headers,
                                      .timeout_ms = 10000};

        snprintf(ts, sizeof(ts), "%" PRId64, sg_clock_now_ms(NULL) / 1000);
        q[0] = (struct sg_tts_param){"app_key", app_key};
        q[1] = (struct sg_tts_param){"timestamp", ts};
        sg_tts_sign(sig, app_secret, "/authorization/202309/shops", q, 2,
                    NULL, 0);
        snprintf(url, sizeof(url),
                 "%s/authorization/202309/shops?app_key=%s&timestamp=%s"
                 "&sign=%s",
                 sbx.url, app_key, ts, sig);
        snprintf(tok, sizeof(tok), "x-tts-access-token: %s", token);
        sg_http_client_do(&shops, &req, NULL, NULL);
        d->sandbox_ok = shops.status == 200 && shops.body &&
                        strstr(shops.body, "\"code\":0");
        snprintf(d->sandbox_note, sizeof(d->sandbox_note),
                 "signed GET /authorization/202309/shops -> HTTP %ld %s",
                 shops.status, d->sandbox_ok ? "code 0" : "failed");
    } else {
        snprintf(d->sandbox_note, sizeof(d->sandbox_note),
                 "sandbox info incomplete");
    }
    json_decref(doc);
    sg_http_response_release(&info);
    sg_http_response_release(&shops);
    sg_proc_stop(&sbx, SIGTERM);
}

static json_t *report_json(struct demo *d, int64_t p50, int64_t p99)
{
    return json_pack(
        "{s:s, s:I, s:I, s:I, s:I, s:f, s:f, s:I, s:I, s:I, s:I, s:b, s:b,"
        " s:s, s:s, s:b}",
        "edition", "foundation", "webhooks_sent", (json_int_t)d->sent,
        "webhooks_accepted", (json_int_t)d->accepted, "webhooks_duplicate",
        (json_int_t)d->duplicates, "webhooks_failed", (json_int_t)d->failed,
        "intake_per_s", d->intake_s > 0 ? (double)d->sent / d->intake_s : 0.0,
        "intake_seconds", d->intake_s, "ack_p50_us", (json_int_t)p50,
        "ack_p99_us", (json_int_t)p99, "lost_after_sigkill",
        (json_int_t)d->lost_after_kill, "warehouse_deliveries",
        (json_int_t)atomic_load(&d->wh.distinct), "auth_ok", d->auth_ok,
        "sandbox_ok", d->sandbox_ok, "sandbox", d->sandbox_note, "store",
        d->db, "invariants_ok", d->ok);
}

int sg_cli_demo(int argc, char **argv)
{
    const char *dir = "demo-out", *report = NULL, *events = NULL;
    const struct sg_cli_opt opts[] = {{"--dir", &dir, NULL},
                                      {"--report", &report, NULL},
                                      {"--events", &events, NULL}};
    struct demo d;
    struct sg_err err;
    size_t n_pos = 0;
    int64_t p50 = 0, p99 = 0, deadline;
    json_t *rep;
    int rc;

    rc = sg_cli_parse("demo", argc, argv, opts, SG_ARRAY_SIZE(opts), NULL, 0,
                      0, &n_pos);
    if (rc >= 0)
        return rc;
    memset(&d, 0, sizeof(d));
    d.dir = dir;
    d.events = events ? (unsigned)strtoul(events, NULL, 10) : 5000;
    if (d.events < 10 || d.events > EVENTS_MAX)
        return sg_cli_usage_error("demo", "--events must be 10..%u",
                                  EVENTS_MAX);
    d.tty = isatty(1);
    d.lat_us = sg_calloc(d.events, sizeof(*d.lat_us));
    d.acked_ids = sg_calloc(d.events, sizeof(*d.acked_ids));
    sg_err_init(&err);
    if (!d.lat_us || !d.acked_ids) {
        rc = sg_err_set(&err, SG_ENOMEM, "out of memory");
        goto out;
    }
    signal(SIGPIPE, SIG_IGN);
    sg_log_set_level(SG_LOG_WARN);

    say("surge demo: the foundation, end to end, on loopback");
    say("1. simulated warehouse (notify.http receiver)");
    rc = wh_start(&d.wh, (size_t)d.events * 2 + 16, &err);
    if (rc)
        goto out;
    say("   listening on %s", sg_http_server_url(d.wh.srv));
    say("2. fresh store, tenant and API key in %s", d.dir);
    rc = prepare(&d, &err);
    if (!rc)
        rc = setup_tenant(&d, &err);
    if (rc)
        goto out;
    say("   surge migrate; surge tenant create demo; surge apikey create "
        "--tenant demo -> %.10s...",
        d.key);
    say("3. surge serve");
    if (start_serve(&d) != 0) {
        rc = sg_err_set(&err, SG_EIO, "surge serve did not start (see %s)",
                        d.log);
        goto out;
    }
    say("   listening on %s", d.serve.url);
    check_auth(&d);
    say("4. %u signed webhooks, 1 in 10 a duplicate, %d in flight", d.events,
        INFLIGHT_MAX);
    rc = send_webhooks(&d, &err);
    if (rc)
        goto out;
    say("   %lu accepted, %lu duplicates, %lu failed in %.2f s (%.0f/s)",
        d.accepted, d.duplicates, d.failed, d.intake_s,
        d.intake_s > 0 ? (double)d.sent / d.intake_s : 0.0);
    say("5. SIGKILL surge serve right after the last acknowledgement");
    sg_proc_stop(&d.serve, SIGKILL);
    rc = verify_after_kill(&d, &err);
    if (rc)
        goto out;
    say("   %zu acknowledged events checked in the store: %lu missing",
        d.acked_n, d.lost_after_kill);
    say("6. restart; the inbox processor and dispatcher deliver every event "
        "to the warehouse");
    if (start_serve(&d) != 0) {
        rc = sg_err_set(&err, SG_EIO, "restart failed (see %s)", d.log);
        goto out;
    }
    deadline = sg_mono_ms() + 60000;
    while (atomic_load(&d.wh.distinct) < d.accepted &&
           sg_mono_ms() < deadline)
        usleep(50000);
    say("   %lu of %lu events delivered (%lu deliveries, %lu bad signatures)",
        atomic_load(&d.wh.distinct), d.accepted,
        atomic_load(&d.wh.deliveries), atomic_load(&d.wh.bad_signatures));
    sg_proc_stop(&d.serve, SIGTERM);
    say("7. the TikTok Shop sandbox");
    sandbox_check(&d);
    say("   %s", d.sandbox_note);

    if (d.lat_n) {
        qsort(d.lat_us, d.lat_n, sizeof(*d.lat_us), cmp_i64);
        p50 = d.lat_us[d.lat_n / 2];
        p99 = d.lat_us[(d.lat_n * 99) / 100];
    }
    d.ok = d.auth_ok && d.failed == 0 && d.lost_after_kill == 0 &&
           d.accepted + d.duplicates == d.sent &&
           atomic_load(&d.wh.distinct) == d.accepted &&
           atomic_load(&d.wh.bad_signatures) == 0 && d.sandbox_ok;
    say("\nreport");
    say("  webhooks sent %lu: accepted %lu, duplicate %lu, failed %lu",
        d.sent, d.accepted, d.duplicates, d.failed);
    say("  durable ack latency p50 %.1f ms, p99 %.1f ms", (double)p50 / 1e3,
        (double)p99 / 1e3);
    say("  acknowledged then lost after SIGKILL: %lu (must be 0)",
        d.lost_after_kill);
    say("  delivered to the warehouse: %lu of %lu",
        atomic_load(&d.wh.distinct), d.accepted);
    say("  store: %s   log: %s", d.db, d.log);
    say("  invariants: %s", d.ok ? "all held" : "VIOLATED");
    if (report) {
        FILE *f = fopen(report, "w");

        rep = report_json(&d, p50, p99);
        if (!f || !rep || json_dumpf(rep, f, JSON_INDENT(2)) != 0) {
            fprintf(stderr, "surge: cannot write %s\n", report);
            d.ok = false;
        }
        if (f)
            fclose(f);
        json_decref(rep);
    }
out:
    if (rc)
        fprintf(stderr, "surge demo: %s\n", err.msg);
    if (d.serve.pid > 0)
        sg_proc_stop(&d.serve, SIGKILL);
    if (d.wh.srv)
        sg_http_server_free(d.wh.srv);
    sg_free(d.wh.seen);
    sg_free(d.lat_us);
    sg_free(d.acked_ids);
    return rc ? SG_EXIT_FAIL : (d.ok ? SG_EXIT_OK : SG_EXIT_FAIL);
}
