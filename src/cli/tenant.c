/*
 * tenant.c - "surge tenant create|list" and "surge apikey create". Every
 * mutation goes through sg_store_write and writes its audit row in the
 * same write; a failed mutation is audited by a separate write. An API
 * key's plaintext exists only in this process and on stdout, once: the
 * store keeps its SHA-256 and a short prefix.
 */
#include "core/sg.h"

#include "cli/cli.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/crypto.h"
#include "store/store.h"

#define TENANT_NAME_MAX  63
#define KEY_RANDOM_BYTES 20 /* 40 hex chars */
#define KEY_PREFIX_LEN   10
#define TENANT_SCAN_MAX  100000
#define TENANT_GAP_MAX   64

/* 1-63 chars of [a-z0-9_-]. */
static bool tenant_name_ok(const char *name)
{
    size_t n = strlen(name);

    if (n < 1 || n > TENANT_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
              c == '-'))
            return false;
    }
    return true;
}

struct tenant_create {
    const char *name;
    int64_t id;
};

static int tenant_create_write(struct sg_store_tx *tx, void *arg,
                               struct sg_err *err)
{
    struct tenant_create *tc = arg;
    struct sg_audit a;
    char object[96];
    int rc;

    rc = sg_store_tx_tenant_insert(tx, tc->name, &tc->id, err);
    if (rc < 0)
        return rc;
    snprintf(object, sizeof(object), "tenant:%s", tc->name);
    sg_cli_audit_fill(&a, tc->id, "tenant.create", object, "ok");
    return sg_store_tx_audit(tx, &a, err);
}

int sg_cli_tenant_create(int argc, char **argv)
{
    const char *config = NULL;
    struct sg_cli_opt opts[] = {{"--config", &config, NULL}};
    struct sg_config cfg = {0};
    struct sg_store *store = NULL;
    struct tenant_create tc = {0};
    struct sg_err err;
    char *pos[1], object[96];
    size_t n_pos;
    int rc, status;

    rc = sg_cli_parse("tenant create", argc, argv, opts, SG_ARRAY_SIZE(opts),
                      pos, 1, 1, &n_pos);
    if (rc >= 0)
        return rc;
    if (!tenant_name_ok(pos[0]))
        return sg_cli_usage_error("tenant create",
                                  "bad tenant name \"%.64s\": use 1-63 "
                                  "characters of a-z, 0-9, _ and -",
                                  pos[0]);
    status = sg_cli_load_config(&cfg, config);
    if (status != 0)
        goto out;
    sg_cli_quiet_logs(&cfg);
    status = sg_cli_open_store(&store, &cfg);
    if (status != 0)
        goto out;
    tc.name = pos[0];
    sg_err_init(&err);
    rc = sg_store_write(store, tenant_create_write, &tc, &err);
    if (rc < 0) {
        snprintf(object, sizeof(object), "tenant:%s", tc.name);
        sg_cli_audit_failure(store, 0, "tenant.create", object, rc);
        if (rc == SG_EEXISTS)
            sg_cli_errorf("tenant \"%s\" already exists", tc.name);
        else
            sg_cli_errorf("cannot create tenant \"%s\": %s", tc.name, err.msg);
        status = SG_EXIT_FAIL;
        goto out;
    }
    printf("created tenant %s (id %" PRId64 ")\n", tc.name, tc.id);
    status = SG_EXIT_OK;
out:
    sg_store_free(store);
    sg_config_release(&cfg);
    return status;
}

/*
 * The store has no tenant listing yet, so walk ids from 1: tenants are
 * never deleted, so ids are dense; stop after a run of missing ids.
 */
int sg_cli_tenant_list(int argc, char **argv)
{
    const char *config = NULL;
    struct sg_cli_opt opts[] = {{"--config", &config, NULL}};
    struct sg_config cfg = {0};
    struct sg_store *store = NULL;
    struct sg_tenant t;
    struct sg_err err;
    char when[32];
    size_t n_pos, found = 0, gap = 0;
    int rc, status;

    rc = sg_cli_parse("tenant list", argc, argv, opts, SG_ARRAY_SIZE(opts),
                      NULL, 0, 0, &n_pos);
    if (rc >= 0)
        return rc;
    status = sg_cli_load_config(&cfg, config);
    if (status != 0)
        goto out;
    sg_cli_quiet_logs(&cfg);
    status = sg_cli_open_store(&store, &cfg);
    if (status != 0)
        goto out;
    status = SG_EXIT_FAIL;
    for (int64_t id = 1; id <= TENANT_SCAN_MAX && gap < TENANT_GAP_MAX; id++) {
        sg_err_init(&err);
        rc = sg_store_tenant_get_by_id(store, id, &t, &err);
        if (rc == SG_ENOTFOUND) {
            gap++;
            continue;
        }
        if (rc < 0) {
            sg_cli_errorf("cannot read tenants: %s", err.msg);
            goto out;
        }
        gap = 0;
        if (found++ == 0)
            printf("%-6s %-24s %s\n", "ID", "NAME", "CREATED");
        sg_time_format(t.created_at, when);
        printf("%-6" PRId64 " %-24s %s\n", t.id, t.name, when);
    }
    if (found == 0)
        printf("no tenants (create one with: surge tenant create NAME)\n");
    status = SG_EXIT_OK;
out:
    sg_store_free(store);
    sg_config_release(&cfg);
    return status;
}

struct apikey_create {
    int64_t tenant_id;
    const char *hash_hex;
    const char *prefix;
    bool read_only;
    int64_t id;
};

static int apikey_create_write(struct sg_store_tx *tx, void *arg,
                               struct sg_err *err)
{
    struct apikey_create *ac = arg;
    struct sg_audit a;
    char object[64];
    int rc;

    rc = sg_store_tx_apikey_insert(tx, ac->tenant_id, ac->hash_hex, ac->prefix,
                                   ac->read_only, &ac->id, err);
    if (rc < 0)
        return rc;
    snprintf(object, sizeof(object), "apikey:%" PRId64, ac->id);
    sg_cli_audit_fill(&a, ac->tenant_id, "apikey.create", object, "ok");
    return sg_store_tx_audit(tx, &a, err);
}

int sg_cli_apikey_create(int argc, char **argv)
{
    const char *config = NULL, *tenant = NULL;
    bool read_only = false;
    struct sg_cli_opt opts[] = {
        {"--config", &config, NULL},
        {"--tenant", &tenant, NULL},
        {"--read-only", NULL, &read_only},
    };
    struct sg_config cfg = {0};
    struct sg_store *store = NULL;
    struct apikey_create ac = {0};
    struct sg_tenant t;
    struct sg_err err;
    unsigned char raw[KEY_RANDOM_BYTES];
    char key[3 + 2 * KEY_RANDOM_BYTES + 1], hash[SG_SHA256_HEX_LEN + 1];
    char prefix[KEY_PREFIX_LEN + 1];
    size_t n_pos;
    int rc, status;

    rc = sg_cli_parse("apikey create", argc, argv, opts, SG_ARRAY_SIZE(opts),
                      NULL, 0, 0, &n_pos);
    if (rc >= 0)
        return rc;
    if (!tenant)
        return sg_cli_usage_error("apikey create", "--tenant is required");
    status = sg_cli_load_config(&cfg, config);
    if (status != 0)
        goto out;
    sg_cli_quiet_logs(&cfg);
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

    if (sg_random_bytes(raw, sizeof(raw)) < 0) {
        sg_cli_errorf("no random bytes available");
        goto out;
    }
    memcpy(key, "sk_", 3);
    sg_hex_encode(raw, sizeof(raw), key + 3);
    key[sizeof(key) - 1] = '\0';
    sg_sha256_hex(key, strlen(key), hash);
    memcpy(prefix, key, KEY_PREFIX_LEN);
    prefix[KEY_PREFIX_LEN] = '\0';

    ac.tenant_id = t.id;
    ac.hash_hex = hash;
    ac.prefix = prefix;
    ac.read_only = read_only;
    sg_err_init(&err);
    rc = sg_store_write(store, apikey_create_write, &ac, &err);
    if (rc < 0) {
        sg_cli_audit_failure(store, t.id, "apikey.create", "apikey:new", rc);
        sg_cli_errorf("cannot store the key: %s", err.msg);
        goto out;
    }
    /* The key on stdout alone, so scripts can capture it. */
    printf("%s\n", key);
    fflush(stdout);
    fprintf(stderr,
            "created %s API key %" PRId64 " (prefix %s) for tenant %s\n"
            "this key is not shown again: store it now\n",
            read_only ? "read-only" : "read-write", ac.id, prefix, t.name);
    status = SG_EXIT_OK;
out:
    memset(key, 0, sizeof(key));
    memset(raw, 0, sizeof(raw));
    sg_store_free(store);
    sg_config_release(&cfg);
    return status;
}
