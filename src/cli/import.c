/*
 * import.c - "surge import catalog FILE": read a Shopify products export
 * or a Surge jsonl file and write each product whole or not at all. Each
 * problem is printed to stderr as "file:line: column: what"; the summary
 * (created, updated, unchanged, rejected) goes to stdout. Exit status 1
 * when any product was rejected.
 */
#include "core/sg.h"

#include <errno.h>

#include "cli/cli.h"
#include "core/alloc.h"
#include "core/config.h"
#include "features/catalog/import.h"
#include "store/store.h"

/*
 * The file's bytes, or NULL with *errno_out saying why (ENOMEM when a
 * buffer could not grow: found by the D5 CLI sweep, which saw that
 * reported as "no such file or directory", fclose having left errno
 * from an earlier call).
 */
static char *read_file(const char *path, size_t max, size_t *len_out,
                       bool *too_big, int *errno_out)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 64 * 1024, n = 0;

    *too_big = false;
    *errno_out = 0;
    if (!f) {
        *errno_out = errno;
        return NULL;
    }
    for (size_t guard = 0; guard < 64; guard++) {
        char *nb = sg_realloc(buf, cap + 1);
        size_t got;

        if (!nb) {
            *errno_out = ENOMEM;
            sg_free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n < cap)
            break;
        if (cap > max) {
            *too_big = true;
            sg_free(buf);
            buf = NULL;
            break;
        }
        cap *= 2;
    }
    if (buf && (ferror(f) || n > max)) {
        *too_big = n > max;
        *errno_out = n > max ? 0 : EIO;
        sg_free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) {
        buf[n] = '\0';
        *len_out = n;
    }
    return buf;
}

int sg_cli_import_catalog(int argc, char **argv)
{
    const char *config = NULL, *tenant = NULL, *format = NULL;
    bool dry_run = false;
    struct sg_cli_opt opts[] = {
        {"--config", &config, NULL},
        {"--tenant", &tenant, NULL},
        {"--format", &format, NULL},
        {"--dry-run", NULL, &dry_run},
    };
    struct sg_config cfg = {0};
    struct sg_store *store = NULL;
    struct sg_import imp;
    struct sg_tenant t;
    struct sg_err err;
    char *pos[1], *data = NULL;
    size_t n_pos, len = 0;
    bool too_big;
    int rc, status, fmt, read_errno = 0;

    sg_import_init(&imp, NULL);
    rc = sg_cli_parse("import catalog", argc, argv, opts, SG_ARRAY_SIZE(opts),
                      pos, 1, 1, &n_pos);
    if (rc >= 0)
        return rc;
    if (!tenant)
        return sg_cli_usage_error("import catalog", "--tenant is required");
    fmt = format ? sg_import_format_parse(format)
                 : sg_import_format_guess(pos[0]);
    if (fmt < 0)
        return sg_cli_usage_error("import catalog",
                                  "--format must be shopify-csv or jsonl");
    status = sg_cli_load_config(&cfg, config);
    if (status != 0)
        goto out;
    sg_cli_quiet_logs(&cfg);
    status = SG_EXIT_FAIL;
    data = read_file(pos[0], cfg.catalog.import_max, &len, &too_big,
                     &read_errno);
    if (!data) {
        if (too_big)
            sg_cli_errorf("%s: larger than [catalog] import_max (%zu bytes)",
                          pos[0], cfg.catalog.import_max);
        else
            sg_cli_errorf("%s: %s", pos[0], strerror(read_errno));
        goto out;
    }
    status = sg_cli_open_store(&store, &cfg);
    if (status != 0)
        goto out;
    status = SG_EXIT_FAIL;
    sg_err_init(&err);
    rc = sg_store_tenant_get(store, tenant, &t, &err);
    if (rc == SG_ENOTFOUND) {
        sg_cli_errorf("no tenant named \"%.64s\"", tenant);
        goto out;
    }
    if (rc < 0) {
        sg_cli_errorf("cannot read tenant \"%.64s\": %s", tenant, err.msg);
        goto out;
    }
    sg_import_init(&imp, pos[0]);
    rc = sg_import_parse(&imp, fmt, data, len, cfg.catalog.currency, &err);
    if (rc) {
        sg_cli_errorf("%s: %s", pos[0], err.msg);
        goto out;
    }
    rc = sg_import_apply(&imp, store, t.id, cfg.catalog.location, dry_run,
                         &err);
    for (size_t i = 0; i < imp.n_msgs; i++) {
        const struct sg_import_msg *m = &imp.msgs[i];

        fprintf(stderr, "%s:%ld: %s%s%s%s\n", imp.file, m->line, m->column,
                m->column[0] ? ": " : "", m->warning ? "warning: " : "",
                m->text);
    }
    if (imp.msgs_dropped)
        fprintf(stderr, "%s: %zu more messages not shown\n", imp.file,
                imp.msgs_dropped);
    if (rc) {
        sg_cli_errorf("import stopped: %s", err.msg);
        goto out;
    }
    printf("%s%s: %zu created, %zu updated, %zu unchanged, %zu rejected\n",
           dry_run ? "dry run (nothing written) " : "", imp.file,
           imp.created, imp.updated, imp.unchanged, imp.rejected);
    status = imp.rejected ? SG_EXIT_FAIL : SG_EXIT_OK;
out:
    sg_import_release(&imp);
    sg_free(data);
    sg_store_free(store);
    sg_config_release(&cfg);
    return status;
}
