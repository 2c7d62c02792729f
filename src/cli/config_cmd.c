/*
 * config_cmd.c - "surge config check" (load and show the values in use,
 * secrets masked), "surge config sample" and the hidden "surge
 * config-doc" that regenerates docs/config.md from the schema.
 */
#include "core/sg.h"

#include "cli/cli.h"
#include "core/config.h"

int sg_cli_config_check(int argc, char **argv)
{
    const char *config = NULL;
    struct sg_cli_opt opts[] = {{"--config", &config, NULL}};
    struct sg_config cfg = {0};
    const struct sg_config_key *keys;
    const char *section = NULL;
    char value[512];
    size_t n_pos, n;
    int rc, status;

    rc = sg_cli_parse("config check", argc, argv, opts, SG_ARRAY_SIZE(opts),
                      NULL, 0, 0, &n_pos);
    if (rc >= 0)
        return rc;
    status = sg_cli_load_config(&cfg, config);
    if (status != 0)
        goto out;
    printf("# configuration OK: %s\n",
           cfg.path ? cfg.path : "no file, defaults and environment");
    keys = sg_config_schema(&n);
    for (size_t i = 0; i < n; i++) {
        if (!section || strcmp(section, keys[i].section) != 0) {
            section = keys[i].section;
            printf("%s[%s]\n", i ? "\n" : "", section);
        }
        sg_config_format_value(&cfg, &keys[i], value, sizeof(value));
        printf("%s = %s\n", keys[i].key, value);
    }
out:
    sg_config_release(&cfg);
    return status;
}

int sg_cli_config_sample(int argc, char **argv)
{
    size_t n_pos;
    int rc;

    rc = sg_cli_parse("config sample", argc, argv, NULL, 0, NULL, 0, 0, &n_pos);
    if (rc >= 0)
        return rc;
    if (sg_config_write_sample(stdout) < 0) {
        sg_cli_errorf("cannot write to stdout");
        return SG_EXIT_FAIL;
    }
    return SG_EXIT_OK;
}

int sg_cli_config_doc(int argc, char **argv)
{
    size_t n_pos;
    int rc;

    rc = sg_cli_parse("config-doc", argc, argv, NULL, 0, NULL, 0, 0, &n_pos);
    if (rc >= 0)
        return rc;
    if (sg_config_write_doc(stdout) < 0) {
        sg_cli_errorf("cannot write to stdout");
        return SG_EXIT_FAIL;
    }
    return SG_EXIT_OK;
}
