/*
 * sandbox.c - `surge sandbox`: run the offline TikTok Shop emulator in the
 * foreground until SIGINT or SIGTERM. Start-up prints the identity a test
 * or an SDK needs (base URL, app key and secret, the pre-authorised shop
 * and tokens), then "listening on URL" as its own line, which is what
 * harnesses wait for.
 */
#include "core/sg.h"
#include "cli/cli.h"
#include "core/err.h"
#include "core/json.h"
#include "core/log.h"
#include "sandbox/sandbox.h"

#include <pthread.h>
#include <signal.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#define CMD "sandbox"

static const char *jstr(const json_t *o, const char *k)
{
    const char *v = sg_json_str(o, k);

    return v ? v : "";
}

static bool parse_u64(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v;

    if (!s || !*s || *s == '-')
        return false;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || *end)
        return false;
    *out = v;
    return true;
}

static void print_identity(struct sg_sbx *s)
{
    json_t *info = sg_sbx_info(s), *shop;
    size_t i;

    printf("surge sandbox: TikTok Shop emulator\n");
    printf("base_url: %s (Open API and auth host)\n",
           jstr(info, "base_url"));
    printf("app_key: %s\n", jstr(info, "app_key"));
    printf("app_secret: %s\n", jstr(info, "app_secret"));
    printf("service_id: %s\n", jstr(info, "service_id"));
    printf("seller open_id: %s\n", jstr(info, "open_id"));
    json_array_foreach(json_object_get(info, "shops"), i, shop)
        printf("shop: id=%s cipher=%s name=\"%s\" region=%s\n",
               jstr(shop, "id"), jstr(shop, "cipher"), jstr(shop, "name"),
               jstr(shop, "region"));
    printf("access_token: %s\n", jstr(info, "access_token"));
    printf("refresh_token: %s\n", jstr(info, "refresh_token"));
    printf("listening on %s\n", jstr(info, "base_url"));
    fflush(stdout);
    json_decref(info);
}

struct flags {
    const char *listen, *app_key, *app_secret, *seed, *state, *config;
    const char *control_token, *categories, *callback, *audit_delay;
    const char *rate_qps, *webhook_address, *log_level;
    const char *state_save_ms, *webhook_concurrency;
    bool debug_signatures;
};

/* Command-line values override the --config file. */
static int apply_flags(struct sg_sbx_cfg *cfg, const struct flags *f)
{
    uint64_t v;

#define SET(field, flag)                                                       \
    if (f->flag)                                                               \
    cfg->field = f->flag
    SET(listen, listen);
    SET(app_key, app_key);
    SET(app_secret, app_secret);
    SET(state_path, state);
    SET(control_token, control_token);
    SET(categories_path, categories);
    SET(callback_url, callback);
    SET(webhook_address, webhook_address);
#undef SET
    if (f->seed) {
        if (!parse_u64(f->seed, &v))
            return sg_cli_usage_error(CMD, "bad --seed \"%.32s\"", f->seed);
        cfg->seed = v;
    }
    if (f->audit_delay) {
        if (!parse_u64(f->audit_delay, &v) || v > 86400000)
            return sg_cli_usage_error(CMD, "bad --audit-delay-ms");
        cfg->audit_delay_ms = (unsigned)v;
    }
    if (f->rate_qps) {
        if (!parse_u64(f->rate_qps, &v) || v > 1000000)
            return sg_cli_usage_error(CMD, "bad --rate-qps");
        cfg->rate_qps = (unsigned)v;
    }
    if (f->state_save_ms) {
        if (!parse_u64(f->state_save_ms, &v) || v > 3600000)
            return sg_cli_usage_error(CMD, "bad --state-save-ms");
        cfg->state_save_ms = (unsigned)v;
    }
    if (f->webhook_concurrency) {
        if (!parse_u64(f->webhook_concurrency, &v) || v < 1 || v > 256)
            return sg_cli_usage_error(CMD, "bad --webhook-concurrency "
                                           "(1..256)");
        cfg->webhook_concurrency = (unsigned)v;
    }
    if (f->debug_signatures)
        cfg->debug_signatures = true;
    return -1;
}

static int run(const struct sg_sbx_cfg *cfg)
{
    struct sg_sbx *s = NULL;
    struct sg_err err;
    sigset_t set;
    int sig = 0, rc;

    sg_err_init(&err);
#ifdef __GLIBC__
    /*
     * One heap for every thread. The emulator keeps each order it places
     * (a few KB of JSON), so its heap grows for as long as traffic runs;
     * glibc grows a thread's own arena a page at a time (an mprotect per
     * step, no M_TOP_PAD), which was a sixth of the sandbox's profile under
     * bench/spike's flood. The main heap grows by M_TOP_PAD (main.c).
     * Set before any thread starts; per-thread caches keep most small
     * allocations off the shared lock.
     */
    (void)mallopt(M_ARENA_MAX, 1);
#endif
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    /* Block before any thread starts, so only sigwait sees them. */
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    rc = sg_sbx_new(&s, cfg, &err);
    if (rc == 0)
        rc = sg_sbx_start(s, &err);
    if (rc) {
        sg_cli_errorf("sandbox: %s", err.msg);
        sg_sbx_free(s);
        return rc == SG_ECONFIG ? SG_EXIT_CONFIG : SG_EXIT_FAIL;
    }
    print_identity(s);
    sigwait(&set, &sig);
    sg_log(SG_LOG_INFO, "sandbox", "msg=\"stopping\" signal=%d", sig);
    sg_sbx_stop(s);
    sg_sbx_free(s);
    return SG_EXIT_OK;
}

int sg_cli_sandbox(int argc, char **argv)
{
    struct flags f = {0};
    struct sg_cli_opt opts[] = {
        {"--listen", &f.listen, NULL},
        {"--app-key", &f.app_key, NULL},
        {"--app-secret", &f.app_secret, NULL},
        {"--seed", &f.seed, NULL},
        {"--state", &f.state, NULL},
        {"--config", &f.config, NULL},
        {"--control-token", &f.control_token, NULL},
        {"--categories", &f.categories, NULL},
        {"--callback-url", &f.callback, NULL},
        {"--audit-delay-ms", &f.audit_delay, NULL},
        {"--rate-qps", &f.rate_qps, NULL},
        {"--webhook-address", &f.webhook_address, NULL},
        {"--log-level", &f.log_level, NULL},
        {"--state-save-ms", &f.state_save_ms, NULL},
        {"--webhook-concurrency", &f.webhook_concurrency, NULL},
        {"--debug-signatures", NULL, &f.debug_signatures},
    };
    struct sg_sbx_cfg cfg;
    struct sg_err err;
    json_t *doc = NULL;
    size_t n_pos;
    int rc;

    rc = sg_cli_parse(CMD, argc, argv, opts, SG_ARRAY_SIZE(opts), NULL, 0, 0,
                      &n_pos);
    if (rc >= 0)
        return rc;
    if (f.log_level) {
        int lvl = sg_log_level_parse(f.log_level);

        if (lvl < 0)
            return sg_cli_usage_error(CMD, "bad --log-level");
        sg_log_set_level(lvl);
    }
    sg_sbx_cfg_defaults(&cfg);
    sg_err_init(&err);
    if (f.config && sg_sbx_cfg_load(&cfg, f.config, &doc, &err)) {
        sg_cli_errorf("sandbox: %s", err.msg);
        json_decref(doc);
        return SG_EXIT_CONFIG;
    }
    rc = apply_flags(&cfg, &f);
    if (rc < 0)
        rc = run(&cfg);
    json_decref(doc);
    return rc;
}
