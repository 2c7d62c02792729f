/*
 * serve.c - `surge serve`: run the engine until SIGINT or SIGTERM.
 *
 * Signals are blocked before any thread starts, so every thread inherits
 * the mask and only the main thread, in sigwait, sees them. Once the
 * server listens it prints "listening on URL" on stdout (scripts and tests
 * wait for that line).
 */
#include "cli/cli.h"
#include "core/config.h"
#include "core/log.h"
#include "engine/engine.h"

#include <pthread.h>
#include <signal.h>

int sg_cli_serve(int argc, char **argv)
{
    const char *config = NULL;
    const struct sg_cli_opt opts[] = {{"--config", &config, NULL}};
    struct sg_engine *e = NULL;
    struct sg_config cfg;
    struct sg_err err;
    sigset_t set;
    size_t n_pos = 0;
    int rc, sig = 0;

    rc = sg_cli_parse("serve", argc, argv, opts, SG_ARRAY_SIZE(opts), NULL,
                      0, 0, &n_pos);
    if (rc >= 0)
        return rc;
    memset(&cfg, 0, sizeof(cfg));
    rc = sg_cli_load_config(&cfg, config);
    if (rc) {
        sg_config_release(&cfg);
        return rc;
    }
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    sg_err_init(&err);
    rc = sg_engine_new(&e, &cfg, &err);
    if (!rc)
        rc = sg_engine_start(e, &err);
    if (rc) {
        fprintf(stderr, "surge: cannot start: %s\n", err.msg);
        sg_engine_free(e);
        sg_config_release(&cfg);
        return rc == SG_ECONFIG ? SG_EXIT_CONFIG : SG_EXIT_FAIL;
    }
    printf("surge %s serving store %s\n", SG_VERSION, cfg.store.path);
    printf("listening on %s\n", sg_engine_url(e));
    fflush(stdout);
    sigwait(&set, &sig);
    sg_log(SG_LOG_INFO, "serve", "msg=\"stopping\" signal=%d", sig);
    sg_engine_free(e);
    sg_config_release(&cfg);
    sg_log(SG_LOG_INFO, "serve", "msg=\"stopped cleanly\"");
    return SG_EXIT_OK;
}
