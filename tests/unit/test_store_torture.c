/*
 * test_store_torture.c - D5, allocation-failure torture (curl's and
 * SQLite's method): for each operation, make allocation n fail for
 * n = 1, 2, ... until the operation runs without reaching n, and check
 * that every run returns an error or, where a library absorbs the
 * failure, the same result as a clean run (no crash, no wrong result). Under
 * the ASan build LeakSanitizer also proves each failure path frees what
 * it took.
 *
 * Operations: JSON parse + dump (jansson's allocator is routed through
 * sg_alloc for this test, so its failures are swept too), config load,
 * store open + a write + close.
 *
 * Label "torture": not in the default run; `ctest -L torture`.
 */
#include "testlib.h"
#include "core/alloc.h"
#include "core/config.h"
#include "core/json.h"
#include "core/log.h"
#include "store/store.h"

#include <sys/stat.h>
#include <unistd.h>

#define SWEEP_MAX 200000UL

/*
 * One operation. On success it may leave a digest of its result in out
 * (or "" when there is nothing to compare); a run with a failed
 * allocation may succeed only with the same result as a clean run (a
 * library may absorb a failure, e.g. by skipping an optional cache).
 */
typedef int (*op_fn)(void *arg, char *out, size_t out_size);

#define RESULT_MAX 512

/* Returns how many allocations the operation makes when none fails. */
static unsigned long sweep(const char *what, op_fn op, void *arg)
{
    char want[RESULT_MAX] = "", got[RESULT_MAX];
    unsigned long n, absorbed = 0;

    sg_alloc_fail_at(0);
    assert_int_equal(op(arg, want, sizeof(want)), 0);
    for (n = 1; n <= SWEEP_MAX; n++) {
        bool failed;
        int rc;

        got[0] = '\0';
        sg_alloc_fail_at(n);
        rc = op(arg, got, sizeof(got));
        failed = sg_alloc_failed();
        sg_alloc_fail_at(0);
        if (!failed) {
            if (rc != 0)
                fail_msg("%s: failed (%d) with no allocation failure", what,
                         rc);
            break;
        }
        if (rc == 0 && strcmp(got, want) != 0)
            fail_msg("%s: allocation %lu failed and it reported success "
                     "with a wrong result",
                     what, n);
        absorbed += rc == 0;
    }
    assert_true(n <= SWEEP_MAX);
    print_message("%s: %lu allocation failure points, %lu reported as "
                  "errors, %lu absorbed with a correct result\n",
                  what, n - 1, n - 1 - absorbed, absorbed);
    return n - 1;
}

/* ---- JSON ---- */

static const char json_doc[] =
    "{\"type\":1,\"tts_notification_id\":\"7327109012345678901\","
    "\"shop_id\":\"7494049642642441621\",\"timestamp\":1700000000,"
    "\"data\":{\"order_id\":\"576462452392841234\",\"lines\":[{\"sku\":"
    "\"MUG-1\",\"qty\":2,\"price\":\"9.99\"},{\"sku\":\"TEE-M\",\"qty\":1}],"
    "\"note\":\"caf\\u00e9\",\"big\":9223372036854775807}}";

static int op_json(void *arg, char *out, size_t out_size)
{
    struct sg_err err;
    json_t *j = NULL;
    char *dump;
    int rc;

    SG_UNUSED(arg);
    sg_err_init(&err);
    rc = sg_json_parse(&j, json_doc, sizeof(json_doc) - 1, 32, NULL, &err);
    if (rc)
        return rc;
    dump = sg_json_dump(j, NULL);
    json_decref(j);
    if (!dump)
        return SG_ENOMEM;
    snprintf(out, out_size, "%s", dump);
    sg_free(dump);
    return 0;
}

/*
 * Known failure (issue #7 report): jansson 2.14's lexer ignores the
 * result of growing its string buffer, so a failed allocation there
 * silently drops a byte from a key or value ("tts_notificatin_id") and
 * the parse still succeeds. sg_json_parse must detect an allocation
 * failure during json_loadb and return SG_ENOMEM; until then this fails.
 */
static void test_json(void **state)
{
    SG_UNUSED(state);
    assert_true(sweep("json parse+dump", op_json, NULL) > 10);
}

/* ---- config ---- */

static int op_config(void *arg, char *out, size_t out_size)
{
    struct sg_config cfg;
    struct sg_err err;
    int rc;

    memset(&cfg, 0, sizeof(cfg));
    sg_err_init(&err);
    rc = sg_config_load(&cfg, arg, &err);
    if (!rc)
        snprintf(out, out_size, "%s|%u|%zu|%s|%s|%s|%u", cfg.server.listen,
                 cfg.server.threads, cfg.server.body_max,
                 cfg.webhook_generic.secret, cfg.notify.url,
                 cfg.notify.secret, cfg.jobs.concurrency);
    sg_config_release(&cfg);
    sg_log_clear_secrets();
    return rc;
}

static void test_config(void **state)
{
    char *dir = sgt_tmpdir();
    char *path = sgt_path(dir, "surge.conf");
    char *secret = sgt_path(dir, "notify.secret");
    char text[1024];

    SG_UNUSED(state);
    assert_int_equal(sgt_write_file(secret, "notify_secret_0123\n"), 0);
    chmod(secret, 0600);
    snprintf(text, sizeof(text),
             "[server]\nlisten = 127.0.0.1:0\nthreads = 2\nbody_max = 64k\n"
             "request_timeout_ms = 2s\n\n[store]\npath = t.db\n\n"
             "[log]\nlevel = warn\n\n"
             "[webhook_generic]\nsecret = whsec_0123456789\ntenant = acme\n\n"
             "[notify]\nurl = https://hooks.example.com/x\n"
             "secret_file = %s\n\n[jobs]\nconcurrency = 4\n",
             secret);
    assert_int_equal(sgt_write_file(path, text), 0);
    chmod(path, 0600);
    assert_true(sweep("config load", op_config, path) > 5);
    unlink(path);
    unlink(secret);
    rmdir(dir);
    sg_free(path);
    sg_free(secret);
    sg_free(dir);
}

/* ---- store ---- */

struct store_arg {
    char *path;
    unsigned long round;
};

static int write_rows(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    struct store_arg *a = arg;
    char name[64], ext[64];
    int64_t tenant = 0, inbox = 0;
    bool dup = false;
    int rc;

    snprintf(name, sizeof(name), "t%lu", a->round);
    snprintf(ext, sizeof(ext), "evt-%lu", a->round);
    rc = sg_store_tx_tenant_insert(tx, name, &tenant, err);
    if (!rc)
        rc = sg_store_tx_inbox_insert(tx, tenant, "generic", ext, "{}", 2,
                                      &inbox, &dup, err);
    return rc;
}

static int op_store(void *arg, char *out, size_t out_size)
{
    struct store_arg *a = arg;
    struct sg_store_cfg cfg;
    struct sg_store *s = NULL;
    struct sg_err err;
    int rc;

    a->round++;
    sg_store_cfg_defaults(&cfg);
    cfg.path = a->path;
    cfg.readers = 1;
    sg_err_init(&err);
    rc = sg_store_open(&s, &cfg, NULL, &err);
    if (!rc)
        rc = sg_store_write(s, write_rows, a, &err);
    sg_store_free(s);
    snprintf(out, out_size, "%s", rc ? "" : "written");
    return rc;
}

static void test_store(void **state)
{
    char *dir = sgt_tmpdir();
    struct store_arg a = {.path = sgt_path(dir, "torture.db")};

    SG_UNUSED(state);
    assert_true(sweep("store open+write+close", op_store, &a) > 5);
    sg_free(a.path);
    sg_free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_config),
        cmocka_unit_test(test_store),
    };

    /* jansson's allocations go through the torture hook too. */
    json_set_alloc_funcs(sg_alloc, sg_free);
    sg_log_set_level(SG_LOG_ERR);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
