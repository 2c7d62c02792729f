/*
 * orders.c - "surge orders list|show", "surge inventory show SKU" and
 * "surge inventory check". The check proves, for every SKU, that on_hand
 * = available + reserved + committed with nothing negative, that the
 * ledger explains every unit and that the reserved units are exactly the
 * order lines holding them; it exits 1 on any violation.
 */
#include "core/sg.h"

#include "cli/cli.h"
#include "core/alloc.h"
#include "core/config.h"
#include "features/catalog/catalog.h"
#include "features/orders/orders.h"
#include "store/store.h"

#include <errno.h>
#include <jansson.h>

#define LIST_DEFAULT 50

struct session {
    struct sg_config cfg;
    struct sg_store *store;
    int64_t tenant_id;
};

static int print_json(json_t *j)
{
    if (!j || json_dumpf(j, stdout, JSON_INDENT(2) | JSON_SORT_KEYS) < 0) {
        json_decref(j);
        sg_cli_errorf("out of memory");
        return SG_EXIT_FAIL;
    }
    json_decref(j);
    putchar('\n');
    return SG_EXIT_OK;
}

/* Config, store and tenant (NULL name = every tenant, id 0). */
static int open_session(struct session *s, const char *config,
                        const char *tenant)
{
    struct sg_tenant t;
    struct sg_err err;
    int status, rc;

    status = sg_cli_load_config(&s->cfg, config);
    if (status != 0)
        return status;
    sg_cli_quiet_logs(&s->cfg);
    status = sg_cli_open_store(&s->store, &s->cfg);
    if (status != 0 || !tenant)
        return status;
    sg_err_init(&err);
    rc = sg_store_tenant_get(s->store, tenant, &t, &err);
    if (rc == SG_ENOTFOUND) {
        sg_cli_errorf("no tenant named \"%.64s\"", tenant);
        return SG_EXIT_FAIL;
    }
    if (rc) {
        sg_cli_errorf("cannot read tenant: %s", err.msg);
        return SG_EXIT_FAIL;
    }
    s->tenant_id = t.id;
    return 0;
}

static void close_session(struct session *s)
{
    sg_store_free(s->store);
    sg_config_release(&s->cfg);
}

static int64_t parse_num(const char *s)
{
    char *end = NULL;
    long long v;

    if (!s || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    v = strtoll(s, &end, 10);
    return errno || *end ? -1 : (int64_t)v;
}

int sg_cli_orders_list(int argc, char **argv)
{
    const char *config = NULL, *tenant = "default", *status_s = NULL;
    const char *limit_s = NULL, *after_s = NULL;
    bool as_json = false, oversold = false;
    struct sg_cli_opt opts[] = {
        {"--config", &config, NULL},   {"--tenant", &tenant, NULL},
        {"--status", &status_s, NULL}, {"--limit", &limit_s, NULL},
        {"--after", &after_s, NULL},   {"--oversold", NULL, &oversold},
        {"--json", NULL, &as_json},
    };
    struct sg_order_filter f = {.oversold = -1, .limit = LIST_DEFAULT};
    struct session s = {0};
    struct sg_order *os = NULL;
    struct sg_err err;
    size_t n_pos, n = 0;
    int rc, status;

    rc = sg_cli_parse("orders list", argc, argv, opts, SG_ARRAY_SIZE(opts),
                      NULL, 0, 0, &n_pos);
    if (rc >= 0)
        return rc;
    if (status_s) {
        f.status = sg_order_status_parse(status_s);
        if (f.status == SG_ORD_UNKNOWN)
            return sg_cli_usage_error("orders list", "bad --status "
                                      "\"%.32s\"", status_s);
    }
    if (limit_s) {
        int64_t v = parse_num(limit_s);

        if (v < 1 || v > SG_ORD_LIST_MAX)
            return sg_cli_usage_error("orders list", "bad --limit: 1..%d",
                                      SG_ORD_LIST_MAX);
        f.limit = (size_t)v;
    }
    if (after_s && (f.after_id = parse_num(after_s)) < 0)
        return sg_cli_usage_error("orders list", "bad --after");
    if (oversold)
        f.oversold = 1;
    status = open_session(&s, config, tenant);
    if (status != 0)
        goto out;
    sg_err_init(&err);
    if (sg_orders_list(s.store, s.tenant_id, &f, &os, &n, &err) != 0) {
        sg_cli_errorf("cannot list orders: %s", err.msg);
        status = SG_EXIT_FAIL;
        goto out;
    }
    if (as_json) {
        json_t *arr = json_array();

        for (size_t i = 0; arr && i < n; i++)
            json_array_append_new(arr, sg_order_to_json(&os[i], false));
        status = print_json(arr);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        char total[40];

        sg_money_format(os[i].total, os[i].currency, total, sizeof(total));
        printf("%" PRId64 " %s %s %s %s %s%s\n", os[i].id, os[i].channel,
               os[i].channel_order_id, sg_order_status_name(os[i].status),
               total, os[i].currency, os[i].oversold ? " OVERSOLD" : "");
    }
    status = SG_EXIT_OK;
out:
    sg_order_list_free(os, n);
    close_session(&s);
    return status;
}

int sg_cli_orders_show(int argc, char **argv)
{
    const char *config = NULL, *tenant = "default";
    struct sg_cli_opt opts[] = {
        {"--config", &config, NULL},
        {"--tenant", &tenant, NULL},
    };
    struct session s = {0};
    struct sg_order o = {0};
    struct sg_err err;
    char *pos[1];
    size_t n_pos;
    int64_t id;
    int rc, status;

    rc = sg_cli_parse("orders show", argc, argv, opts, SG_ARRAY_SIZE(opts),
                      pos, 1, 1, &n_pos);
    if (rc >= 0)
        return rc;
    status = open_session(&s, config, tenant);
    if (status != 0)
        goto out;
    sg_err_init(&err);
    /* A Surge id, or the channel's order id. */
    id = parse_num(pos[0]);
    rc = id > 0 && strlen(pos[0]) <= 15
             ? sg_orders_get(s.store, s.tenant_id, id, &o, &err)
             : SG_ENOTFOUND;
    if (rc == SG_ENOTFOUND) {
        sg_order_release(&o);
        sg_err_init(&err);
        rc = sg_orders_get_by_channel(s.store, s.tenant_id, "tiktok_shop",
                                      pos[0], &o, &err);
    }
    if (rc == SG_ENOTFOUND) {
        sg_cli_errorf("no order %.64s", pos[0]);
        status = SG_EXIT_FAIL;
    } else if (rc) {
        sg_cli_errorf("cannot read the order: %s", err.msg);
        status = SG_EXIT_FAIL;
    } else
        status = print_json(sg_order_to_json(&o, true));
out:
    sg_order_release(&o);
    close_session(&s);
    return status;
}

int sg_cli_inventory_show(int argc, char **argv)
{
    const char *config = NULL, *tenant = "default";
    struct sg_cli_opt opts[] = {
        {"--config", &config, NULL},
        {"--tenant", &tenant, NULL},
    };
    struct session s = {0};
    struct sg_inv_level *lv = NULL;
    struct sg_err err;
    char *pos[1];
    size_t n_pos, n = 0;
    int rc, status;

    rc = sg_cli_parse("inventory show", argc, argv, opts,
                      SG_ARRAY_SIZE(opts), pos, 1, 1, &n_pos);
    if (rc >= 0)
        return rc;
    status = open_session(&s, config, tenant);
    if (status != 0)
        goto out;
    sg_err_init(&err);
    if (sg_inventory_levels(s.store, s.tenant_id, pos[0], &lv, &n, &err)) {
        sg_cli_errorf("cannot read inventory: %s", err.msg);
        status = SG_EXIT_FAIL;
        goto out;
    }
    if (n == 0) {
        sg_cli_errorf("no inventory for SKU %.64s", pos[0]);
        status = SG_EXIT_FAIL;
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        printf("%s location=%s on_hand=%" PRId64 " available=%" PRId64
               " reserved=%" PRId64 " committed=%" PRId64 "\n",
               lv[i].sku, lv[i].location, lv[i].on_hand,
               lv[i].on_hand - lv[i].reserved - lv[i].committed,
               lv[i].reserved, lv[i].committed);
    status = SG_EXIT_OK;
out:
    sg_free(lv);
    close_session(&s);
    return status;
}

int sg_cli_inventory_check(int argc, char **argv)
{
    const char *config = NULL, *tenant = NULL;
    struct sg_cli_opt opts[] = {
        {"--config", &config, NULL},
        {"--tenant", &tenant, NULL},
    };
    struct session s = {0};
    struct sg_err err;
    char *report = NULL;
    size_t n_pos, levels = 0, bad = 0;
    int rc, status;

    rc = sg_cli_parse("inventory check", argc, argv, opts,
                      SG_ARRAY_SIZE(opts), NULL, 0, 0, &n_pos);
    if (rc >= 0)
        return rc;
    status = open_session(&s, config, tenant);
    if (status != 0)
        goto out;
    sg_err_init(&err);
    if (sg_inventory_check(s.store, s.tenant_id, &levels, &bad, &report,
                           &err) != 0) {
        sg_cli_errorf("cannot check inventory: %s", err.msg);
        status = SG_EXIT_FAIL;
        goto out;
    }
    if (report)
        fputs(report, stdout);
    printf("checked %zu inventory levels: %zu violations\n", levels, bad);
    status = bad ? SG_EXIT_FAIL : SG_EXIT_OK;
out:
    sg_free(report);
    close_session(&s);
    return status;
}
