/*
 * init.c - "surge init" (a commented surge.conf, mode 0600, never
 * overwritten, plus the store with its migrations) and "surge migrate".
 * Each step prints one line saying what it did.
 */
#include "core/sg.h"

#include "cli/cli.h"
#include "connectors/secrets.h"
#include "core/config.h"
#include "store/store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * Create path with the sample, refusing to replace anything. Returns 1
 * when written, 0 when the file was already there, -1 on error (printed).
 */
static int write_sample(const char *path)
{
    FILE *f;
    int fd, rc;

    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 && errno == EEXIST)
        return 0;
    if (fd < 0) {
        sg_cli_errorf("cannot create %s: %s", path, strerror(errno));
        return -1;
    }
    f = fdopen(fd, "w");
    if (!f) {
        sg_cli_errorf("cannot write %s: %s", path, strerror(errno));
        close(fd);
        unlink(path);
        return -1;
    }
    rc = sg_config_write_sample(f);
    if (fclose(f) != 0 || rc < 0) {
        sg_cli_errorf("cannot write %s: %s", path, strerror(errno));
        unlink(path);
        return -1;
    }
    return 1;
}

int sg_cli_init(int argc, char **argv)
{
    const char *config = NULL, *path;
    struct sg_cli_opt opts[] = {{"--config", &config, NULL}};
    struct sg_config cfg = {0};
    struct sg_store_cfg scfg;
    struct sg_store *store = NULL;
    struct sg_err err;
    struct stat st;
    size_t n_pos;
    bool existed, pg;
    int rc, applied = 0, status = SG_EXIT_FAIL;

    rc = sg_cli_parse("init", argc, argv, opts, SG_ARRAY_SIZE(opts), NULL, 0, 0,
                      &n_pos);
    if (rc >= 0)
        return rc;
    path = config;
    if (!path)
        path = getenv("SURGE_CONFIG");
    if (!path || !path[0])
        path = "surge.conf";

    rc = write_sample(path);
    if (rc < 0)
        goto out;
    if (rc > 0)
        printf("wrote %s (mode 0600): every setting, commented out at its "
               "default\n",
               path);
    else
        printf("kept %s: it exists and is never overwritten\n", path);

    status = sg_cli_load_config(&cfg, path);
    if (status != 0)
        goto out;
    sg_cli_quiet_logs(&cfg);
    status = SG_EXIT_FAIL;

    pg = strcmp(cfg.store.backend, "postgres") == 0;
    existed = !pg && stat(cfg.store.path, &st) == 0;
    sg_cli_store_cfg(&scfg, &cfg);
    sg_err_init(&err);
    rc = sg_store_migrate_only(&scfg, &applied, &err);
    if (rc < 0) {
        sg_cli_errorf("cannot create the store %s: %s",
                      sg_cli_store_name(&cfg), err.msg);
        goto out;
    }
    if (pg)
        printf("store postgres ([store] dsn): %d migration%s applied\n",
               applied, applied == 1 ? "" : "s");
    else if (existed)
        printf("store %s %s: %s: %d migration%s applied\n", cfg.store.backend,
               cfg.store.path, "exists", applied, applied == 1 ? "" : "s");
    else
        printf("created store %s %s (mode 0600): %d migration%s applied\n",
               cfg.store.backend, cfg.store.path, applied,
               applied == 1 ? "" : "s");

    /* The key that seals channel tokens: created once, never replaced. */
    if (cfg.secrets.key_file && cfg.secrets.key_file[0]) {
        rc = sg_secret_key_create(cfg.secrets.key_file, &err);
        if (rc == 0)
            printf("created key file %s (mode 0600): seals channel "
                   "tokens\n", cfg.secrets.key_file);
        else if (rc != SG_EEXISTS) {
            sg_cli_errorf("%s", err.msg);
            goto out;
        }
    }

    /* Prove the store opens as the daemon will open it. */
    status = sg_cli_open_store(&store, &cfg);
    if (status != 0)
        goto out;
    sg_store_free(store);
    printf("next: surge tenant create NAME, then surge apikey create "
           "--tenant NAME\n");
    status = SG_EXIT_OK;
out:
    sg_config_release(&cfg);
    return status;
}

int sg_cli_migrate(int argc, char **argv)
{
    const char *config = NULL;
    struct sg_cli_opt opts[] = {{"--config", &config, NULL}};
    struct sg_config cfg = {0};
    struct sg_store_cfg scfg;
    struct sg_err err;
    size_t n_pos;
    int rc, applied = 0, status;

    rc = sg_cli_parse("migrate", argc, argv, opts, SG_ARRAY_SIZE(opts), NULL, 0,
                      0, &n_pos);
    if (rc >= 0)
        return rc;
    status = sg_cli_load_config(&cfg, config);
    if (status != 0)
        goto out;
    sg_cli_quiet_logs(&cfg);
    sg_cli_store_cfg(&scfg, &cfg);
    sg_err_init(&err);
    rc = sg_store_migrate_only(&scfg, &applied, &err);
    if (rc < 0) {
        sg_cli_errorf("migration of %s failed: %s", sg_cli_store_name(&cfg),
                      err.msg);
        status = rc == SG_ECONFIG ? SG_EXIT_CONFIG : SG_EXIT_FAIL;
        goto out;
    }
    printf("applied %d migration%s to %s %s\n", applied,
           applied == 1 ? "" : "s", cfg.store.backend,
           sg_cli_store_name(&cfg));
    status = SG_EXIT_OK;
out:
    sg_config_release(&cfg);
    return status;
}
