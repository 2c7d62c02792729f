/*
 * test_cli_torture.c - D5 (issue #7) for CLI commands run in-process
 * through sg_cli_main, as the surge binary runs them: tenant create,
 * import catalog (a Shopify CSV), events import (offline sales CSV),
 * inventory show and inventory check, each against a fresh copy of a template
 * store named by a configuration file.
 *
 * A run's stdout and stderr go to files of the test's own. Exit 0 must
 * print what the clean run printed and leave the same store (times and
 * the like masked: the CLI runs on the system clock); any other exit
 * must say on stderr that memory ran out (not a misleading reason) and,
 * for the commands that write once, leave the store unchanged but for
 * the audit row of the failure (sg_cli_audit_failure: never one that
 * says "ok").
 * The inventory check must be clean after every run. Swept again with
 * SQLite's allocations failing too ("+sqlite").
 *
 * Label "torture" runs every n; the "_quick" twin in the default suite
 * runs SG_TORTURE_QUICK (see tests/CMakeLists.txt).
 */
#include "testlib.h"
#include "torture.h"
#include "cli/cli.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/log.h"
#include "features/orders/orders.h"
#include "store/store.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

static struct {
    char *dir;
    char *conf;      /* [store] path = work */
    char *work;
    char *tpl_tenant;  /* tenant acme */
    char *tpl_catalog; /* ... and the sample catalog */
    char *sales;     /* offline sales CSV */
    char *catalog;   /* samples/catalog.csv */
    char *small;     /* its first two products */
    char *out, *errf;
} fx;

static int tenant_write(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    int64_t id = 0;

    SG_UNUSED(arg);
    return sg_store_tx_tenant_insert(tx, "acme", &id, err);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
    chmod(path, 0600);
}

/* ---- one CLI run ---- */

struct cop {
    const char *tpl;
    const char *const *args; /* after "surge", before --config */
    bool one_write;          /* a failed run leaves the file as it was */
    char *baseline;          /* without audit_log */
    long long audit_ok;      /* audit rows saying "ok" in the template */
    int exit_code;
    char *stdout_text, *stderr_text;
};

/*
 * Numbers that are times of day (13-digit ms, 10-digit s) and the API
 * key's random part change from run to run: masked.
 */
static void mask(char *s)
{
    for (char *p = s; p && *p; p++) {
        size_t n = 0;

        if ((p == s || !(p[-1] >= '0' && p[-1] <= '9')) && *p == '1') {
            while (p[n] >= '0' && p[n] <= '9')
                n++;
            if (n == 13 || n == 10)
                memset(p, 'T', n);
        }
        if (strncmp(p, "sk_live_", 8) == 0 || strncmp(p, "sk_test_", 8) == 0)
            for (p += 8; *p && *p != '\n' && *p != '|' && *p != ' '; p++)
                *p = 'K';
        if (n)
            p += n - 1;
    }
}

static char *masked_dump(void)
{
    char *d = sgt_db_dump(fx.work);

    mask(d);
    return d;
}

/*
 * dump without its audit_log section: a command that fails records the
 * failure there (sg_cli_audit_failure), by design. Rows whose outcome is
 * "ok" are counted apart (a failed command must add none).
 */
static void drop_audit(char *dump)
{
    char *a = dump ? strstr(dump, "[audit_log]\n") : NULL;
    char *b;

    if (!a)
        return;
    b = strstr(a + 1, "\n[");
    if (b)
        memmove(a, b + 1, strlen(b + 1) + 1);
    else
        *a = '\0';
}

static long long audit_ok_rows(void)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    long long n = -1;

    if (sqlite3_open_v2(fx.work, &db, SQLITE_OPEN_READONLY, NULL) ==
            SQLITE_OK &&
        sqlite3_prepare_v2(db, "SELECT count(*) FROM audit_log WHERE "
                               "outcome = 'ok'", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

static int cop_setup(void *arg)
{
    struct cop *o = arg;

    sgt_db_remove(fx.work);
    if (sgt_copy_file(o->tpl, fx.work) != 0)
        return -1;
    if (!o->baseline) {
        o->baseline = sgt_db_dump(fx.work);
        drop_audit(o->baseline);
        o->audit_ok = audit_ok_rows();
    }
    return o->baseline ? 0 : -1;
}

static char *slurp(const char *path)
{
    size_t len = 0;
    char *t = sgt_read_file(path, &len);

    return t ? t : sg_strdup("");
}

static int cop_run(void *arg, struct sg_err *err)
{
    struct cop *o = arg;
    char *argv[16];
    int argc = 0, saved_out, saved_err, fo, fe;

    argv[argc++] = (char *)(uintptr_t)"surge";
    for (size_t i = 0; o->args[i] && argc < 13; i++)
        argv[argc++] = (char *)(uintptr_t)o->args[i];
    argv[argc++] = (char *)(uintptr_t)"--config";
    argv[argc++] = fx.conf;
    argv[argc] = NULL;
    fflush(stdout);
    fflush(stderr);
    saved_out = dup(1);
    saved_err = dup(2);
    fo = open(fx.out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    fe = open(fx.errf, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (saved_out < 0 || saved_err < 0 || fo < 0 || fe < 0)
        fail_msg("cannot redirect the output");
    dup2(fo, 1);
    dup2(fe, 2);
    close(fo);
    close(fe);
    o->exit_code = sg_cli_main(argc, argv);
    fflush(stdout);
    fflush(stderr);
    dup2(saved_out, 1);
    dup2(saved_err, 2);
    close(saved_out);
    close(saved_err);
    if (o->exit_code == 0)
        return 0;
    return sg_err_set(err, SG_EIO, "exit %d", o->exit_code);
}

static char *cop_digest(void *arg)
{
    struct sg_buf b;
    char *out = slurp(fx.out);
    char *dump = masked_dump();

    SG_UNUSED(arg);
    mask(out);
    sg_buf_init(&b, 64u << 20);
    sg_buf_printf(&b, "%s\n--- store\n%s", out, dump ? dump : "-");
    sg_free(out);
    sg_free(dump);
    return sg_buf_detach(&b, NULL);
}

static int cop_check(void *arg, int rc, char *why)
{
    struct cop *o = arg;
    struct sg_store_cfg cfg;
    struct sg_store *s = NULL;
    struct sg_clock clk;
    size_t levels = 0, bad = 0;
    char *report = NULL;
    struct sg_err err;
    int v = 0;

    if (rc) {
        char *e = slurp(fx.errf);

        for (char *p = e; *p; p++)
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p - 'A' + 'a');
        if (!strstr(e, "memory")) {
            snprintf(why, SGT_WHY_MAX,
                     "exit %d without saying memory ran out: %.300s",
                     o->exit_code, e);
            v = -1;
        }
        if (!v && o->one_write) {
            char *now = sgt_db_dump(fx.work);
            bool same;

            drop_audit(now);
            same = now && strcmp(now, o->baseline) == 0 &&
                   audit_ok_rows() == o->audit_ok;
            sg_free(now);
            if (!same) {
                snprintf(why, SGT_WHY_MAX, "a failed command changed the "
                                           "store; it said: %.300s", e);
                v = -1;
            }
        }
        sg_free(e);
    }
    if (v)
        return v;
    sg_err_init(&err);
    sg_store_cfg_defaults(&cfg);
    cfg.path = fx.work;
    cfg.readers = 1;
    cfg.queue_max = 16;
    sg_clock_init_system(&clk);
    if (sg_store_open(&s, &cfg, &clk, &err) != 0) {
        snprintf(why, SGT_WHY_MAX, "store does not open: %s", err.msg);
        return -1;
    }
    if (sg_inventory_check(s, 0, &levels, &bad, &report, &err) != 0) {
        snprintf(why, SGT_WHY_MAX, "inventory check failed: %s", err.msg);
        v = -1;
    } else if (bad && o->tpl != fx.tpl_tenant) {
        snprintf(why, SGT_WHY_MAX, "inventory check: %s", report);
        v = -1;
    }
    sg_free(report);
    sg_store_free(s);
    return v;
}

static void cop_teardown(void *arg)
{
    SG_UNUSED(arg);
    sgt_db_remove(fx.work);
}

static void sweep_cli(const char *name, const char *tpl,
                      const char *const *args, bool one_write, bool sqlite)
{
    static const int failed[] = {SG_EIO, 0};
    struct cop o = {.tpl = tpl, .args = args, .one_write = one_write};
    char full[128];
    struct sgt_torture_op op = {.name = name,
                                .arg = &o,
                                .setup = cop_setup,
                                .run = cop_run,
                                .digest = cop_digest,
                                .check = cop_check,
                                .teardown = cop_teardown,
                                .also_ok = failed};
    struct sgt_torture_stats st;

    sgt_torture_sweep(&op, &st);
    if (sqlite) {
        snprintf(full, sizeof(full), "%s +sqlite", name);
        op.name = full;
        op.libs = SGT_LIB_SQLITE;
        sgt_torture_sweep(&op, &st);
    }
    sg_free(o.baseline);
}

static void test_tenant_create(void **state)
{
    static const char *const args[] = {"tenant", "create", "globex", NULL};

    SG_UNUSED(state);
    sweep_cli("surge tenant create", fx.tpl_tenant, args, true, true);
}

static void test_import(void **state)
{
    /* Two products (the catalog import itself is swept in features). */
    const char *args[] = {"import", "catalog", fx.small, "--tenant", "acme",
                          NULL};

    SG_UNUSED(state);
    sweep_cli("surge import catalog (Shopify CSV)", fx.tpl_tenant, args,
              false, false);
}

static void test_events_import(void **state)
{
    const char *args[] = {"events", "import", fx.sales, "--tenant", "acme",
                          NULL};

    SG_UNUSED(state);
    sweep_cli("surge events import (offline sales)", fx.tpl_tenant, args,
              true, true);
}

static void test_orders_list(void **state)
{
    static const char *const args[] = {"inventory", "show", "SKL-10",
                                       "--tenant", "acme", NULL};

    SG_UNUSED(state);
    sweep_cli("surge inventory show", fx.tpl_catalog, args, true, false);
}

static void test_inventory_check(void **state)
{
    static const char *const args[] = {"inventory", "check", NULL};

    SG_UNUSED(state);
    sweep_cli("surge inventory check", fx.tpl_catalog, args, true, true);
}

/* ---- program ---- */

static char *make_template(const char *name, bool catalog)
{
    char *path = sgt_path(fx.dir, name);
    struct sg_store_cfg cfg;
    struct sg_store *s = NULL;
    struct sg_clock clk;
    struct sg_err err;

    sg_err_init(&err);
    sg_store_cfg_defaults(&cfg);
    cfg.path = path;
    sg_clock_init_manual(&clk, 1700000000000LL);
    if (sg_store_open(&s, &cfg, &clk, &err) != 0 ||
        sg_store_write(s, tenant_write, NULL, &err) != 0)
        fail_msg("template: %s", err.msg);
    sg_store_free(s);
    if (catalog) {
        const char *args[] = {"surge", "import", "catalog", fx.catalog,
                              "--tenant", "acme", "--config", NULL, NULL};
        char *tmp = fx.work;

        /* The CLI itself imports, into the path the configuration names. */
        assert_int_equal(sgt_copy_file(path, fx.work), 0);
        args[7] = fx.conf;
        fflush(stdout);
        assert_int_equal(sg_cli_main(8, (char **)(uintptr_t)args), 0);
        sgt_db_remove(path);
        assert_int_equal(sgt_copy_file(tmp, path), 0);
        sgt_db_remove(fx.work);
    }
    return path;
}

static int group_setup(void **state)
{
    char conf[2048], path[1024];

    SG_UNUSED(state);
    fx.dir = sgt_tmpdir();
    fx.work = sgt_path(fx.dir, "work.db");
    fx.conf = sgt_path(fx.dir, "surge.conf");
    fx.sales = sgt_path(fx.dir, "sales.csv");
    fx.out = sgt_path(fx.dir, "out.txt");
    fx.errf = sgt_path(fx.dir, "err.txt");
    snprintf(path, sizeof(path), "%s/samples/catalog.csv", SG_SOURCE_DIR);
    fx.catalog = sg_strdup(path);
    fx.small = sgt_path(fx.dir, "small.csv");
    {
        size_t len = 0, at = 0;
        char *all = sgt_read_file(fx.catalog, &len);
        FILE *f;

        assert_non_null(all);
        /* Nine lines: the header and two whole products. */
        for (int lines = 0; at < len && lines < 9; at++)
            lines += all[at] == '\n';
        f = fopen(fx.small, "w");
        assert_non_null(f);
        assert_int_equal(fwrite(all, 1, at, f), at);
        assert_int_equal(fclose(f), 0);
        sg_free(all);
    }
    snprintf(conf, sizeof(conf),
             "[store]\npath = %s\n\n[log]\nlevel = error\n\n"
             "[tiktok_events]\noffline_event_set_id = OFF123\n"
             "access_token = tok\n",
             fx.work);
    write_text(fx.conf, conf);
    /* The CLI checks event times against the system clock. */
    {
        char sales[1024];
        long long t = (long long)(sg_clock_now_ms(NULL) / 1000) - 3600;

        snprintf(sales, sizeof(sales),
                 "order_id,event_time,email,phone,value,currency,items\n"
                 "po-1,%lld,A@B.com,+1 213 373 4253,12.50,USD,"
                 "SKL-10:1:12.50\n"
                 "po-2,%lld,c@d.org,,8.00,USD,TEE-S-BLK:2:4.00\n"
                 "po-4,%lld,,+44 20 7946 0958,19.99,EUR,X:1:19.99\n",
                 t, t + 60, t + 120);
        write_text(fx.sales, sales);
    }
    fx.tpl_tenant = make_template("tenant.db", false);
    fx.tpl_catalog = make_template("catalog.db", true);
    return 0;
}

static int group_teardown(void **state)
{
    char *dbs[] = {fx.tpl_tenant, fx.tpl_catalog, fx.work};
    char *files[] = {fx.conf, fx.sales, fx.out, fx.errf, fx.small};

    SG_UNUSED(state);
    for (size_t i = 0; i < SG_ARRAY_SIZE(dbs); i++) {
        sgt_db_remove(dbs[i]);
        sg_free(dbs[i]);
    }
    for (size_t i = 0; i < SG_ARRAY_SIZE(files); i++) {
        unlink(files[i]);
        sg_free(files[i]);
    }
    sg_free(fx.catalog);
    rmdir(fx.dir);
    sg_free(fx.dir);
    return 0;
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tenant_create),
        cmocka_unit_test(test_import),
        cmocka_unit_test(test_events_import),
        cmocka_unit_test(test_orders_list),
        cmocka_unit_test(test_inventory_check),
    };

    SG_UNUSED(argc);
    sgt_torture_init(argv);
    sg_log_set_level(SG_LOG_ERR);
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
