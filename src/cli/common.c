/*
 * common.c - what every store-using command shares: opening the store the
 * configuration names, and audit rows for CLI mutations (actor "cli").
 */
#include "core/sg.h"

#include "cli/cli.h"
#include "core/config.h"
#include "core/log.h"
#include "store/store.h"

const char *sg_cli_store_name(const struct sg_config *cfg)
{
    if (cfg->store.backend && strcmp(cfg->store.backend, "postgres") == 0)
        return "[store] dsn";
    return cfg->store.path;
}

void sg_cli_store_cfg(struct sg_store_cfg *out, const struct sg_config *cfg)
{
    sg_store_cfg_defaults(out);
    out->backend = cfg->store.backend;
    out->path = cfg->store.path;
    out->batch_max = cfg->store.batch_max;
    out->queue_max = cfg->store.queue_max;
    out->readers = cfg->store.readers;
    out->cache_bytes = cfg->store.cache;
    out->dsn = cfg->store.dsn;
}

int sg_cli_open_store(struct sg_store **out, const struct sg_config *cfg)
{
    struct sg_store_cfg scfg;
    struct sg_err err;
    int rc;

    *out = NULL;
    sg_cli_store_cfg(&scfg, cfg);
    sg_err_init(&err);
    rc = sg_store_open(out, &scfg, NULL, &err);
    if (rc < 0) {
        sg_cli_errorf("cannot open the store %s: %s", sg_cli_store_name(cfg),
                      err.msg);
        return rc == SG_ECONFIG ? SG_EXIT_CONFIG : SG_EXIT_FAIL;
    }
    return 0;
}

void sg_cli_audit_fill(struct sg_audit *a, int64_t tenant_id,
                       const char *action, const char *object,
                       const char *outcome)
{
    memset(a, 0, sizeof(*a));
    a->tenant_id = tenant_id;
    a->key_id = 0;
    snprintf(a->actor, sizeof(a->actor), "cli");
    snprintf(a->action, sizeof(a->action), "%s", action);
    snprintf(a->object, sizeof(a->object), "%s", object);
    snprintf(a->outcome, sizeof(a->outcome), "%s", outcome);
}

static int audit_write(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    return sg_store_tx_audit(tx, arg, err);
}

void sg_cli_audit_failure(struct sg_store *s, int64_t tenant_id,
                          const char *action, const char *object, int code)
{
    struct sg_audit a;
    struct sg_err err;

    sg_cli_audit_fill(&a, tenant_id, action, object, sg_err_name(code));
    sg_err_init(&err);
    if (sg_store_write(s, audit_write, &a, &err) < 0)
        sg_log(SG_LOG_WARN, "cli",
               "msg=\"audit write failed\" action=%s "
               "err=\"%s\"",
               action, err.msg);
}
