/*
 * validate.c - "surge validate": check every product of a tenant against
 * a channel's rules ([catalog] settings) and print a report per product,
 * the categories and types that map to no channel category, and a
 * summary; --json prints the same as the API. Exit status 1 when any
 * product is invalid.
 */
#include "core/sg.h"

#include "cli/cli.h"
#include "core/config.h"
#include "core/json.h"
#include "core/alloc.h"
#include "features/catalog/validate.h"
#include "store/store.h"

#define PAGE      100
#define PAGES_MAX 100000

static void count_unmapped(json_t *unmapped, const struct sg_product *p)
{
    const char *key = p->category && p->category[0] ? p->category
                      : p->product_type            ? p->product_type
                                                   : "(none)";

    json_object_set_new(unmapped, key,
                        json_integer(sg_json_int(unmapped, key, 0) + 1));
}

static void print_report(const json_t *rep)
{
    json_t *issues = json_object_get(rep, "issues"), *i;
    size_t k;

    printf("%-4s %s", json_is_true(json_object_get(rep, "valid")) ? "ok"
                                                                  : "FAIL",
           sg_json_str(rep, "handle"));
    if (sg_json_str(rep, "category_id"))
        printf(" (category %s)", sg_json_str(rep, "category_id"));
    putchar('\n');
    json_array_foreach(issues, k, i)
        printf("     - %s: %s [%s]\n", sg_json_str(i, "field"),
               sg_json_str(i, "message"), sg_json_str(i, "code"));
}

int sg_cli_validate(int argc, char **argv)
{
    const char *config = NULL, *tenant = NULL, *channel = "tiktok_shop";
    bool as_json = false;
    struct sg_cli_opt opts[] = {
        {"--config", &config, NULL},
        {"--tenant", &tenant, NULL},
        {"--channel", &channel, NULL},
        {"--json", NULL, &as_json},
    };
    struct sg_config cfg = {0};
    struct sg_store *store = NULL;
    struct sg_catalog_rules rules;
    struct sg_tenant t;
    struct sg_err err;
    json_t *all = json_array(), *unmapped = json_object();
    size_t n_pos, checked = 0, invalid = 0;
    int64_t after = 0;
    int rc, status;

    sg_catalog_rules_init(&rules);
    rc = sg_cli_parse("validate", argc, argv, opts, SG_ARRAY_SIZE(opts), NULL,
                      0, 0, &n_pos);
    if (rc >= 0)
        goto out_rc;
    if (!tenant) {
        rc = sg_cli_usage_error("validate", "--tenant is required");
        goto out_rc;
    }
    if (strcmp(channel, "tiktok_shop") != 0) {
        rc = sg_cli_usage_error("validate", "--channel must be tiktok_shop");
        goto out_rc;
    }
    status = sg_cli_load_config(&cfg, config);
    if (status != 0)
        goto out;
    sg_cli_quiet_logs(&cfg);
    sg_err_init(&err);
    if (sg_catalog_rules_load(&rules, &cfg, &err) != 0) {
        sg_cli_errorf("%s", err.msg);
        status = SG_EXIT_CONFIG;
        goto out;
    }
    status = sg_cli_open_store(&store, &cfg);
    if (status != 0)
        goto out;
    status = SG_EXIT_FAIL;
    rc = sg_store_tenant_get(store, tenant, &t, &err);
    if (rc) {
        sg_cli_errorf(rc == SG_ENOTFOUND ? "no tenant named \"%.64s\""
                                         : "cannot read tenant \"%.64s\"",
                      tenant);
        goto out;
    }
    for (size_t page = 0; page < PAGES_MAX; page++) {
        struct sg_product *ps = NULL;
        size_t n = 0;

        if (sg_catalog_list(store, t.id, after, PAGE, &ps, &n, &err) != 0) {
            sg_cli_errorf("cannot list products: %s", err.msg);
            goto out;
        }
        for (size_t i = 0; i < n; i++) {
            json_t *rep = sg_catalog_validate(&rules, &ps[i], channel);

            checked++;
            if (!json_is_true(json_object_get(rep, "valid")))
                invalid++;
            if (!sg_catalog_map_lookup(&rules, &ps[i]))
                count_unmapped(unmapped, &ps[i]);
            if (as_json)
                json_array_append_new(all, rep);
            else {
                print_report(rep);
                json_decref(rep);
            }
        }
        if (n)
            after = ps[n - 1].id;
        sg_product_list_free(ps, n);
        if (n < PAGE)
            break;
    }
    if (as_json) {
        json_t *doc = json_pack("{s:s, s:I, s:I, s:O, s:O}", "channel",
                                channel, "checked", (json_int_t)checked,
                                "invalid", (json_int_t)invalid, "products",
                                all, "unmapped", unmapped);
        char *text = sg_json_dump(doc, NULL);

        printf("%s\n", text ? text : "{}");
        sg_free(text);
        json_decref(doc);
    } else {
        const char *k;
        json_t *v;

        if (json_object_size(unmapped)) {
            printf("\nunmapped categories/types (add them to [catalog] "
                   "category_map):\n");
            json_object_foreach(unmapped, k, v)
                printf("  %s (%" JSON_INTEGER_FORMAT " products)\n", k,
                       json_integer_value(v));
        }
        printf("\n%zu products checked for %s, %zu valid, %zu invalid\n",
               checked, channel, checked - invalid, invalid);
    }
    status = invalid ? SG_EXIT_FAIL : SG_EXIT_OK;
out:
    rc = status;
out_rc:
    json_decref(all);
    json_decref(unmapped);
    sg_catalog_rules_release(&rules);
    sg_store_free(store);
    sg_config_release(&cfg);
    return rc;
}
