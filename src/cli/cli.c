/*
 * cli.c - the command table and dispatcher, option parsing, help and
 * version. Commands are one or two words ("migrate", "jobs list"); the
 * dispatcher tries the two-word name first. Nothing here touches the store.
 */
#include "core/sg.h"

#include "cli/cli.h"
#include "core/alloc.h"
#include "core/config.h"
#include "core/log.h"

#include <sys/stat.h>
#include <unistd.h>

#define CMD_NAME_MAX 64

static const struct sg_cli_cmd commands[] = {
    {"help", "show the commands, or one command's usage",
     "surge help [COMMAND]", sg_cli_help, false},
    {"version", "print the version", "surge version", sg_cli_version, false},
    {"init", "write a commented surge.conf and create the store",
     "surge init [--config FILE]", sg_cli_init, false},
    {"migrate", "apply pending store migrations",
     "surge migrate [--config FILE]", sg_cli_migrate, false},
    {"serve", "run the engine daemon (HTTP API, webhooks, jobs)",
     "surge serve [--config FILE]", sg_cli_serve, false},
    {"sandbox", "run the offline emulator of the remote platforms",
     "surge sandbox [OPTIONS]", sg_cli_sandbox, false},
    {"demo", "run engine, sandbox and a traffic generator; print a report",
     "surge demo [OPTIONS]", sg_cli_demo, false},
    {"tiktok", "TikTok Shop helpers (signing, ...)",
     "surge tiktok SUBCOMMAND [ARGS]", sg_cli_tiktok, false},
    {"connect tiktok-shop", "connect a TikTok Shop seller (OAuth)",
     "surge connect tiktok-shop [--tenant NAME] [--sandbox BASE_URL] "
     "[--config FILE]",
     sg_cli_connect_tiktok, false},
    {"connect list", "list channel connections and their shops",
     "surge connect list [--tenant NAME] [--config FILE]",
     sg_cli_connect_list, false},
    {"tenant create", "add a tenant",
     "surge tenant create NAME [--config FILE]", sg_cli_tenant_create, false},
    {"tenant list", "list tenants", "surge tenant list [--config FILE]",
     sg_cli_tenant_list, false},
    {"apikey create", "make an API key for a tenant (shown once)",
     "surge apikey create --tenant NAME [--read-only] [--config FILE]",
     sg_cli_apikey_create, false},
    {"jobs list", "list outbound jobs (oldest first)",
     "surge jobs list [--state queued|running|done|dead] [--tenant NAME] "
     "[--limit N] [--json] [--config FILE]",
     sg_cli_jobs_list, false},
    {"jobs show", "show one job", "surge jobs show ID [--json] [--config FILE]",
     sg_cli_jobs_show, false},
    {"jobs retry", "queue a dead job again",
     "surge jobs retry ID [--config FILE]", sg_cli_jobs_retry, false},
    {"import catalog", "import products from a Shopify CSV export or jsonl",
     "surge import catalog FILE --tenant NAME [--format shopify-csv|jsonl] "
     "[--dry-run] [--config FILE]",
     sg_cli_import_catalog, false},
    {"validate", "check products against a channel's listing rules",
     "surge validate --tenant NAME [--channel tiktok_shop] [--json] "
     "[--config FILE]",
     sg_cli_validate, false},
    {"sync", "publish pending catalog changes to TikTok Shop",
     "surge sync [--tenant NAME] [--wait] [--check] [--timeout SECONDS] "
     "[--config FILE]",
     sg_cli_sync, false},
    {"config check", "load the configuration and print the values in use",
     "surge config check [--config FILE]", sg_cli_config_check, false},
    {"config sample", "print a fully commented configuration file",
     "surge config sample", sg_cli_config_sample, false},
    {"config-doc", "print docs/config.md, generated from the schema",
     "surge config-doc", sg_cli_config_doc, true},
    {"events import", "load offline sales (CSV) into the Events API intake",
     "surge events import FILE [--tenant NAME] [--source offline] "
     "[--event NAME] [--config FILE]",
     sg_cli_events_import, false},
    {"events bench-hash", "time the normalise + hash stage",
     "surge events bench-hash [N]", sg_cli_events_bench_hash, true},
    {"events bench-store", "time the store stage (intake, seal, sent)",
     "surge events bench-store [N] [DIR]", sg_cli_events_bench_store, true},
    {"orders list", "list channel orders (oldest first)",
     "surge orders list [--tenant NAME] [--status S] [--oversold] "
     "[--after ID] [--limit N] [--json] [--config FILE]",
     sg_cli_orders_list, false},
    {"orders show", "show one order with its lines",
     "surge orders show ID|CHANNEL_ORDER_ID [--tenant NAME] [--config FILE]",
     sg_cli_orders_show, false},
    {"inventory show", "show a SKU's levels per location",
     "surge inventory show SKU [--tenant NAME] [--config FILE]",
     sg_cli_inventory_show, false},
    {"inventory check", "verify every SKU's counts against ledger and orders",
     "surge inventory check [--tenant NAME] [--config FILE]",
     sg_cli_inventory_check, false},
    {NULL, NULL, NULL, NULL, false},
};

const struct sg_cli_cmd *sg_cli_commands(void)
{
    return commands;
}

const struct sg_cli_cmd *sg_cli_find(const char *name)
{
    for (const struct sg_cli_cmd *c = commands; c->name; c++)
        if (strcmp(c->name, name) == 0)
            return c;
    return NULL;
}

void sg_cli_errorf(const char *fmt, ...)
{
    va_list ap;

    fputs("surge: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int sg_cli_usage_error(const char *cmd, const char *fmt, ...)
{
    const struct sg_cli_cmd *c = cmd ? sg_cli_find(cmd) : NULL;
    va_list ap;

    fputs("surge: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    if (c)
        fprintf(stderr, "usage: %s\n", c->usage);
    else
        fputs("run \"surge help\" for the list of commands\n", stderr);
    return SG_EXIT_USAGE;
}

static void print_usage(const char *cmd)
{
    const struct sg_cli_cmd *c = sg_cli_find(cmd);

    if (c)
        printf("usage: %s\n\n%s.\n", c->usage, c->summary);
}

int sg_cli_parse(const char *cmd, int argc, char **argv,
                 const struct sg_cli_opt *opts, size_t n_opts, char **pos,
                 size_t pos_min, size_t pos_max, size_t *n_pos)
{
    bool options_done = false;

    *n_pos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const struct sg_cli_opt *o = NULL;
        const char *eq;
        size_t nlen;

        if (options_done || a[0] != '-' || a[1] == '\0') {
            if (*n_pos >= pos_max)
                return sg_cli_usage_error(cmd, "unexpected argument \"%s\"", a);
            pos[(*n_pos)++] = argv[i];
            continue;
        }
        if (strcmp(a, "--") == 0) {
            options_done = true;
            continue;
        }
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            print_usage(cmd);
            return SG_EXIT_OK;
        }
        eq = strchr(a, '=');
        nlen = eq ? (size_t)(eq - a) : strlen(a);
        for (size_t j = 0; j < n_opts; j++)
            if (strlen(opts[j].name) == nlen &&
                strncmp(opts[j].name, a, nlen) == 0)
                o = &opts[j];
        if (!o)
            return sg_cli_usage_error(cmd, "unknown option \"%.*s\"", (int)nlen,
                                      a);
        if (o->flag) {
            if (eq)
                return sg_cli_usage_error(cmd, "%s takes no value", o->name);
            *o->flag = true;
            continue;
        }
        if (eq) {
            *o->value = eq + 1;
        } else if (i + 1 < argc) {
            *o->value = argv[++i];
        } else {
            return sg_cli_usage_error(cmd, "%s needs a value", o->name);
        }
    }
    if (*n_pos < pos_min)
        return sg_cli_usage_error(cmd, "missing argument");
    return -1;
}

int sg_cli_help(int argc, char **argv)
{
    char name[CMD_NAME_MAX];
    const struct sg_cli_cmd *c;

    if (argc > 3)
        return sg_cli_usage_error("help", "too many arguments");
    if (argc >= 2) {
        if (argc == 3)
            snprintf(name, sizeof(name), "%s %s", argv[1], argv[2]);
        else
            snprintf(name, sizeof(name), "%s", argv[1]);
        c = sg_cli_find(name);
        if (c) {
            print_usage(name);
            return SG_EXIT_OK;
        }
        /* A group name: list its subcommands. */
        {
            size_t n = strlen(name), found = 0;
            for (c = commands; c->name; c++) {
                if (!c->hidden && strncmp(c->name, name, n) == 0 &&
                    c->name[n] == ' ') {
                    printf("usage: %s\n", c->usage);
                    found++;
                }
            }
            if (found)
                return SG_EXIT_OK;
        }
        return sg_cli_usage_error("help", "unknown command \"%s\"", name);
    }
    printf("usage: surge COMMAND [ARGS]\n\n"
           "Surge %s, a self-hosted commerce engine.\n\n"
           "Commands:\n",
           SG_VERSION);
    for (c = commands; c->name; c++)
        if (!c->hidden)
            printf("  %-16s %s\n", c->name, c->summary);
    printf("\nCommands that read the configuration take --config FILE "
           "(else $SURGE_CONFIG,\nelse ./surge.conf). \"surge help "
           "COMMAND\" shows a command's usage.\nExit status: 0 ok, 1 "
           "failed, 2 usage error, 78 configuration error.\n");
    return SG_EXIT_OK;
}

int sg_cli_version(int argc, char **argv)
{
    SG_UNUSED(argv);
    if (argc > 1)
        return sg_cli_usage_error("version", "too many arguments");
    printf("surge %s\n", SG_VERSION);
    return SG_EXIT_OK;
}

const char *sg_cli_config_path(const char *explicit_path)
{
    const char *env;
    struct stat st;

    if (explicit_path)
        return explicit_path;
    env = getenv("SURGE_CONFIG");
    if (env && env[0])
        return env;
    if (stat("surge.conf", &st) == 0)
        return "surge.conf";
    return NULL;
}

int sg_cli_load_config(struct sg_config *cfg, const char *explicit_path)
{
    struct sg_err err;
    int rc;

    sg_err_init(&err);
    rc = sg_config_load(cfg, sg_cli_config_path(explicit_path), &err);
    if (rc == SG_ENOMEM) {
        sg_cli_errorf("out of memory");
        return SG_EXIT_FAIL;
    }
    if (rc < 0) {
        /* Exactly "file:line: what is wrong ...", nothing around it. */
        fprintf(stderr, "%s\n", err.msg);
        return SG_EXIT_CONFIG;
    }
    sg_log_set_level(cfg->log.level);
    return 0;
}

void sg_cli_quiet_logs(const struct sg_config *cfg)
{
    if (cfg->log.level == SG_LOG_INFO)
        sg_log_set_level(SG_LOG_WARN);
}

int sg_cli_main(int argc, char **argv)
{
    char name[CMD_NAME_MAX];
    const struct sg_cli_cmd *c = NULL;

    if (argc < 2) {
        sg_cli_help(1, argv);
        return SG_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0)
        return sg_cli_version(1, argv + 1);
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
        return sg_cli_help(1, argv + 1);
    if (argc >= 3) {
        snprintf(name, sizeof(name), "%s %s", argv[1], argv[2]);
        c = sg_cli_find(name);
        if (c)
            return c->fn(argc - 2, argv + 2);
    }
    c = sg_cli_find(argv[1]);
    if (c)
        return c->fn(argc - 1, argv + 1);
    /* A group without (or with an unknown) subcommand. */
    {
        size_t n = strlen(argv[1]);
        bool group = false;
        for (c = commands; c->name; c++)
            if (strncmp(c->name, argv[1], n) == 0 && c->name[n] == ' ')
                group = true;
        if (group) {
            fprintf(stderr, "surge: %s \"%s%s%s\"\n",
                    argc >= 3 ? "unknown command" : "missing subcommand for",
                    argv[1], argc >= 3 ? " " : "", argc >= 3 ? argv[2] : "");
            for (c = commands; c->name; c++)
                if (strncmp(c->name, argv[1], n) == 0 && c->name[n] == ' ')
                    fprintf(stderr, "usage: %s\n", c->usage);
            return SG_EXIT_USAGE;
        }
    }
    return sg_cli_usage_error(NULL, "unknown command \"%s\"", argv[1]);
}
