/*
 * cli.h - the surge command line: a table of commands {name, summary,
 * usage, fn}, shared argument and configuration helpers, and every
 * command's entry point.
 *
 * Convention: a command function gets argc/argv starting at its own last
 * name word ("surge tenant create acme" calls sg_cli_tenant_create with
 * argv = {"create", "acme"}) and returns the process exit status.
 */
#ifndef SG_CLI_H
#define SG_CLI_H

#include "core/sg.h"

struct sg_config;
struct sg_store;

/* Exit statuses (sysexits.h for the configuration case). */
#define SG_EXIT_OK     0  /* success */
#define SG_EXIT_FAIL   1  /* operational failure: not found, duplicate... */
#define SG_EXIT_USAGE  2  /* unknown command or flag, missing argument */
#define SG_EXIT_CONFIG 78 /* configuration error (EX_CONFIG) */

typedef int (*sg_cli_fn)(int argc, char **argv);

struct sg_cli_cmd {
    const char *name;    /* "tenant create": one or two words */
    const char *summary; /* one line for "surge help" */
    const char *usage;   /* "surge tenant create NAME [--config FILE]" */
    sg_cli_fn fn;
    bool hidden; /* left out of "surge help" */
};

/* The whole CLI: dispatch argv[1..] to a command; returns the exit code. */
int sg_cli_main(int argc, char **argv);

/* The command table, NULL-name terminated. */
const struct sg_cli_cmd *sg_cli_commands(void);
/* The row for a command name ("jobs list"), or NULL. */
const struct sg_cli_cmd *sg_cli_find(const char *name);

/*
 * Option parsing for one command. Options are "--name VALUE",
 * "--name=VALUE" or "--flag"; "--" ends options. Non-option words land in
 * pos (at most pos_max). Returns -1 to go on, or an exit status to return
 * now: 0 after printing usage for -h/--help, SG_EXIT_USAGE after printing
 * "surge: <problem>" and the usage line to stderr.
 */
struct sg_cli_opt {
    const char *name;   /* "--config" */
    const char **value; /* receives the value; NULL for a flag */
    bool *flag;         /* set true for a flag; NULL for a value */
};

int sg_cli_parse(const char *cmd, int argc, char **argv,
                 const struct sg_cli_opt *opts, size_t n_opts, char **pos,
                 size_t pos_min, size_t pos_max, size_t *n_pos);

/* Print "surge: msg" and the command's usage to stderr; SG_EXIT_USAGE. */
int sg_cli_usage_error(const char *cmd, const char *fmt, ...) SG_PRINTF(2, 3);

/*
 * The configuration file to use: explicit (--config), else $SURGE_CONFIG,
 * else ./surge.conf when it exists, else NULL (defaults). Borrowed.
 */
const char *sg_cli_config_path(const char *explicit_path);

/*
 * Resolve and load the configuration (see sg_cli_config_path) and apply
 * its log level. On error prints the one-line reason to stderr and
 * returns SG_EXIT_CONFIG (or SG_EXIT_FAIL when out of memory); 0 on
 * success. Release cfg with sg_config_release() in every case.
 */
int sg_cli_load_config(struct sg_config *cfg, const char *explicit_path);

/*
 * For one-shot commands that report their own progress: at the default
 * level (info) only warnings and errors are logged. debug stays debug.
 */
void sg_cli_quiet_logs(const struct sg_config *cfg);

/* The store settings from the configuration (defaults for the rest). */
struct sg_store_cfg;
void sg_cli_store_cfg(struct sg_store_cfg *out, const struct sg_config *cfg);
/* How messages name the store: its file on sqlite; on postgres the DSN is
 * a secret, so "[store] dsn". */
const char *sg_cli_store_name(const struct sg_config *cfg);

/*
 * Open the store the configuration names. Prints the reason and returns
 * an exit status on failure (SG_EXIT_CONFIG for an unknown backend,
 * SG_EXIT_FAIL otherwise), 0 on success.
 */
int sg_cli_open_store(struct sg_store **out, const struct sg_config *cfg);

/*
 * Record a CLI mutation that failed (its own audit row rolled back with
 * it) as a separate audit write: actor "cli", outcome sg_err_name(code).
 * Best effort: a failure here is logged, not returned.
 */
void sg_cli_audit_failure(struct sg_store *s, int64_t tenant_id,
                          const char *action, const char *object, int code);

/* Fill an audit row for actor "cli"; strings are truncated to fit. */
struct sg_audit;
void sg_cli_audit_fill(struct sg_audit *a, int64_t tenant_id,
                       const char *action, const char *object,
                       const char *outcome);

/* Print "surge: " + message to stderr. */
void sg_cli_errorf(const char *fmt, ...) SG_PRINTF(1, 2);

/* ---- commands (one file each under src/cli/) ---- */
int sg_cli_help(int argc, char **argv);
int sg_cli_version(int argc, char **argv);
int sg_cli_init(int argc, char **argv);
int sg_cli_migrate(int argc, char **argv);
int sg_cli_tenant_create(int argc, char **argv);
int sg_cli_tenant_list(int argc, char **argv);
int sg_cli_apikey_create(int argc, char **argv);
int sg_cli_jobs_list(int argc, char **argv);
int sg_cli_jobs_show(int argc, char **argv);
int sg_cli_jobs_retry(int argc, char **argv);
int sg_cli_config_check(int argc, char **argv);
int sg_cli_config_sample(int argc, char **argv);
int sg_cli_config_doc(int argc, char **argv);
int sg_cli_connect_tiktok(int argc, char **argv);
int sg_cli_connect_list(int argc, char **argv);
int sg_cli_events_import(int argc, char **argv);
int sg_cli_events_bench_hash(int argc, char **argv);
int sg_cli_events_bench_store(int argc, char **argv);
int sg_cli_import_catalog(int argc, char **argv);
int sg_cli_validate(int argc, char **argv);
int sg_cli_sync(int argc, char **argv);
int sg_cli_orders_list(int argc, char **argv);
int sg_cli_orders_show(int argc, char **argv);
int sg_cli_inventory_show(int argc, char **argv);
int sg_cli_inventory_check(int argc, char **argv);

/* Written elsewhere: the daemon and demo (lead), sandbox and tiktok
 * (sandbox engineer). Same argv convention. */
int sg_cli_serve(int argc, char **argv);
int sg_cli_demo(int argc, char **argv);
int sg_cli_sandbox(int argc, char **argv);
int sg_cli_tiktok(int argc, char **argv);

#endif
