/*
 * test_store_torture.c - D5 (issue #7) for the foundation: JSON parse +
 * dump (jansson allocates through sg_alloc), the config loader on a file
 * that sets every section, and the store: created from nothing
 * (migrations) or reopened, one write, closed. Each operation is swept
 * by tests/lib/torture.c: allocation n fails, n = 1.. until the
 * operation completes; every run must give an error or the clean run's
 * result, and a store must open again afterwards, whole.
 *
 * The store operations are swept twice: with Surge's allocations only,
 * then ("+sqlite") with SQLite's own allocations failing too.
 *
 * Label "torture" runs every n; the "_quick" twin in the default suite
 * runs SG_TORTURE_QUICK (see tests/CMakeLists.txt).
 */
#include "testlib.h"
#include "torture.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/json.h"
#include "core/log.h"
#include "store/store.h"

#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- JSON ---- */

static const char json_doc[] =
    "{\"type\":1,\"tts_notification_id\":\"7327109012345678901\","
    "\"shop_id\":\"7494049642642441621\",\"timestamp\":1700000000,"
    "\"data\":{\"order_id\":\"576462452392841234\",\"lines\":[{\"sku\":"
    "\"MUG-1\",\"qty\":2,\"price\":\"9.99\"},{\"sku\":\"TEE-M\",\"qty\":1}],"
    "\"note\":\"caf\\u00e9\",\"big\":9223372036854775807,\"f\":1.5e3,"
    "\"t\":true,\"n\":null,\"e\":[],\"o\":{}}}";

struct json_arg {
    char *dump;
};

static int json_run(void *arg, struct sg_err *err)
{
    struct json_arg *a = arg;
    json_t *j = NULL;
    int rc;

    rc = sg_json_parse(&j, json_doc, sizeof(json_doc) - 1, 32, NULL, err);
    if (rc)
        return rc;
    a->dump = sg_json_dump(j, NULL);
    json_decref(j);
    return a->dump ? 0 : sg_err_set(err, SG_ENOMEM, "dump: out of memory");
}

static char *json_digest(void *arg)
{
    struct json_arg *a = arg;

    return sg_strdup(a->dump);
}

static void json_teardown(void *arg)
{
    struct json_arg *a = arg;

    sg_free(a->dump);
    a->dump = NULL;
}

static void test_json(void **state)
{
    struct json_arg a = {0};
    struct sgt_torture_op op = {.name = "json parse+dump",
                                .arg = &a,
                                .run = json_run,
                                .digest = json_digest,
                                .teardown = json_teardown};
    struct sgt_torture_stats st;

    SG_UNUSED(state);
    sgt_torture_sweep(&op, &st);
}

/* ---- config ---- */

struct config_arg {
    const char *path;
    struct sg_config cfg;
};

static int config_run(void *arg, struct sg_err *err)
{
    struct config_arg *a = arg;

    memset(&a->cfg, 0, sizeof(a->cfg));
    return sg_config_load(&a->cfg, a->path, err);
}

/* Every loaded value, as "surge config check" shows them. */
static char *config_digest(void *arg)
{
    struct config_arg *a = arg;
    const struct sg_config_key *keys;
    struct sg_buf b;
    size_t n;

    keys = sg_config_schema(&n);
    sg_buf_init(&b, 1u << 20);
    for (size_t i = 0; i < n; i++) {
        char v[512];

        sg_config_format_value(&a->cfg, &keys[i], v, sizeof(v));
        if (sg_buf_printf(&b, "%s.%s=%s\n", keys[i].section, keys[i].key,
                          v))
            break;
    }
    /* The secrets themselves, which the listing masks. */
    sg_buf_printf(&b, "%s|%s|%s\n", a->cfg.webhook_generic.secret,
                  a->cfg.notify.secret,
                  a->cfg.tiktok_shop.app_secret ? a->cfg.tiktok_shop.app_secret
                                                : "");
    return sg_buf_detach(&b, NULL);
}

static void config_teardown(void *arg)
{
    struct config_arg *a = arg;

    sg_config_release(&a->cfg);
    sg_log_clear_secrets();
}

static void test_config(void **state)
{
    char *dir = sgt_tmpdir();
    char *path = sgt_path(dir, "surge.conf");
    char *secret = sgt_path(dir, "notify.secret");
    char *app = sgt_path(dir, "tts.secret");
    struct config_arg a = {.path = path};
    struct sgt_torture_op op = {.name = "config load",
                                .arg = &a,
                                .run = config_run,
                                .digest = config_digest,
                                .teardown = config_teardown};
    struct sgt_torture_stats st;
    char text[4096];

    SG_UNUSED(state);
    assert_int_equal(sgt_write_file(secret, "notify_secret_0123\n"), 0);
    assert_int_equal(sgt_write_file(app, "tts_app_secret_0123\n"), 0);
    chmod(secret, 0600);
    chmod(app, 0600);
    snprintf(text, sizeof(text),
             "[server]\nlisten = 127.0.0.1:0\nthreads = 2\nbody_max = 64k\n"
             "request_timeout_ms = 2s\n\n[store]\npath = t.db\n"
             "readers = 2\n\n[log]\nlevel = warn\n\n"
             "[webhook_generic]\nsecret = whsec_0123456789\ntenant = acme\n\n"
             "[notify]\nurl = https://hooks.example.com/x\n"
             "secret_file = %s\n\n[jobs]\nconcurrency = 4\n"
             "backoff_max_ms = 2m\n\n[security]\nallow_private_urls = "
             "true\n\n[catalog]\ncurrency = EUR\nlocation = main\n"
             "prohibited_terms = replica, counterfeit\nimages_max = 8\n\n"
             "[tiktok_shop]\napp_key = 29a39d\napp_secret_file = %s\n"
             "service_id = 7012\napi_base_url = http://127.0.0.1:9/\n"
             "refresh_ahead = 12h\n\n[orders]\noversold_policy = cancel\n"
             "\n[viral]\nbuffer_units = 3\n",
             secret, app);
    assert_int_equal(sgt_write_file(path, text), 0);
    chmod(path, 0600);
    /* An environment override is part of loading too. */
    setenv("SURGE_JOBS_ATTEMPTS_MAX", "5", 1);
    sgt_torture_sweep(&op, &st);
    unsetenv("SURGE_JOBS_ATTEMPTS_MAX");
    unlink(path);
    unlink(secret);
    unlink(app);
    rmdir(dir);
    sg_free(path);
    sg_free(secret);
    sg_free(app);
    sg_free(dir);
}

/* ---- store ---- */

struct store_arg {
    char *path;
    bool fresh; /* remove the database before each run: migrations run */
    unsigned long round;
    int64_t tenant;
};

static int write_rows(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    struct store_arg *a = arg;
    char name[64];
    int64_t inbox = 0;
    bool dup = false;
    int rc;

    snprintf(name, sizeof(name), "t%lu", a->round);
    rc = sg_store_tx_tenant_insert(tx, name, &a->tenant, err);
    if (!rc)
        rc = sg_store_tx_inbox_insert(tx, a->tenant, "generic", name, "{}",
                                      2, &inbox, &dup, err);
    return rc;
}

static int store_setup(void *arg)
{
    struct store_arg *a = arg;

    a->round++;
    if (a->fresh)
        sgt_db_remove(a->path);
    return 0;
}

static int store_run(void *arg, struct sg_err *err)
{
    struct store_arg *a = arg;
    struct sg_store_cfg cfg;
    struct sg_store *s = NULL;
    int rc;

    sg_store_cfg_defaults(&cfg);
    cfg.path = a->path;
    cfg.readers = 1;
    cfg.queue_max = 16; /* the default ring is 1.5 MiB: thousands of opens */
    rc = sg_store_open(&s, &cfg, NULL, err);
    if (!rc)
        rc = sg_store_write(s, write_rows, a, err);
    sg_store_free(s);
    return rc;
}

static char *store_digest(void *arg)
{
    SG_UNUSED(arg);
    return sg_strdup("written");
}

/*
 * Whatever failed, the file must open again (a migration cut short must
 * not leave a store that cannot start), be whole, and hold this round's
 * tenant exactly when the run said it was written.
 */
static int store_check(void *arg, int rc, char *why)
{
    struct store_arg *a = arg;
    struct sg_store_cfg cfg;
    struct sg_store *s = NULL;
    struct sg_tenant t;
    struct sg_err err;
    char name[64];
    int grc;

    sg_err_init(&err);
    sg_store_cfg_defaults(&cfg);
    cfg.path = a->path;
    cfg.readers = 1;
    cfg.queue_max = 16; /* the default ring is 1.5 MiB: thousands of opens */
    if (sg_store_open(&s, &cfg, NULL, &err) != 0) {
        snprintf(why, SGT_WHY_MAX, "the store does not open again: %s",
                 err.msg);
        return -1;
    }
    snprintf(name, sizeof(name), "t%lu", a->round);
    grc = sg_store_tenant_get(s, name, &t, &err);
    sg_store_free(s);
    if ((grc == 0) != (rc == 0)) {
        snprintf(why, SGT_WHY_MAX, "tenant %s %s", name,
                 grc == 0 ? "written by a failed write" : "missing");
        return -1;
    }
    return sgt_db_integrity(a->path, why);
}

static void sweep_store(bool fresh, unsigned libs, const char *name)
{
    char *dir = sgt_tmpdir();
    struct store_arg a = {.path = sgt_path(dir, "torture.db"),
                          .fresh = fresh};
    struct sgt_torture_op op = {.name = name,
                                .arg = &a,
                                .setup = store_setup,
                                .run = store_run,
                                .digest = store_digest,
                                .check = store_check,
                                .libs = libs};
    struct sgt_torture_stats st;

    sgt_torture_sweep(&op, &st);
    sgt_db_remove(a.path);
    rmdir(dir);
    sg_free(a.path);
    sg_free(dir);
}

static void test_store_create(void **state)
{
    SG_UNUSED(state);
    sweep_store(true, 0, "store create+write+close");
    sweep_store(true, SGT_LIB_SQLITE, "store create+write+close +sqlite");
}

static void test_store_reopen(void **state)
{
    SG_UNUSED(state);
    sweep_store(false, 0, "store reopen+write+close");
    sweep_store(false, SGT_LIB_SQLITE, "store reopen+write+close +sqlite");
}

/* ---- a batch of two writes ---- */

/*
 * Two writes in one transaction (group commit): a first write holds the
 * writer until both are queued, so they always share a batch. Each must
 * be in the store exactly when it was reported written, whatever failed
 * around it.
 */
struct batch_arg {
    char *tpl, *path;
    struct sg_store *s;
    pthread_mutex_t m;
    pthread_cond_t c;
    bool queued;
    int done;
    int rc[2];
    struct sg_err err[2];
};

struct batch_write {
    struct batch_arg *a;
    int k; /* -1: the blocker */
};

static struct batch_write bw[3];

static int batch_fn(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    struct batch_write *w = arg;
    struct batch_arg *a = w->a;
    char name[32];
    int64_t id = 0;

    if (w->k < 0) {
        pthread_mutex_lock(&a->m);
        while (!a->queued)
            pthread_cond_wait(&a->c, &a->m);
        pthread_mutex_unlock(&a->m);
        return 0;
    }
    snprintf(name, sizeof(name), "batch%d", w->k);
    return sg_store_tx_tenant_insert(tx, name, &id, err);
}

static void batch_done(void *arg, int rc, const struct sg_err *err)
{
    struct batch_write *w = arg;
    struct batch_arg *a = w->a;

    pthread_mutex_lock(&a->m);
    if (w->k >= 0) {
        a->rc[w->k] = rc;
        if (err)
            a->err[w->k] = *err;
    }
    a->done++;
    pthread_cond_broadcast(&a->c);
    pthread_mutex_unlock(&a->m);
}

static int batch_setup(void *arg)
{
    struct batch_arg *a = arg;
    struct sg_store_cfg cfg;

    sgt_db_remove(a->path);
    if (sgt_copy_file(a->tpl, a->path))
        return -1;
    sg_store_cfg_defaults(&cfg);
    cfg.path = a->path;
    cfg.readers = 1;
    cfg.queue_max = 16; /* the default ring is 1.5 MiB: thousands of opens */
    a->queued = false;
    a->done = 0;
    return sg_store_open(&a->s, &cfg, NULL, NULL);
}

static int batch_run(void *arg, struct sg_err *err)
{
    struct batch_arg *a = arg;
    int rc = 0;

    for (int k = 0; k < 3; k++) {
        bw[k].a = a;
        bw[k].k = k - 1;
        if (sg_store_submit(a->s, batch_fn, batch_done, &bw[k]) != 0)
            return sg_err_set(err, SG_EBUSY, "submit refused");
    }
    pthread_mutex_lock(&a->m);
    a->queued = true;
    pthread_cond_broadcast(&a->c);
    while (a->done < 3)
        pthread_cond_wait(&a->c, &a->m);
    pthread_mutex_unlock(&a->m);
    for (int k = 0; k < 2 && !rc; k++)
        if (a->rc[k]) {
            rc = a->rc[k];
            *err = a->err[k];
        }
    return rc;
}

static int batch_check(void *arg, int rc, char *why)
{
    struct batch_arg *a = arg;

    SG_UNUSED(rc);
    for (int k = 0; k < 2; k++) {
        struct sg_tenant t;
        char name[32];
        int grc;

        snprintf(name, sizeof(name), "batch%d", k);
        grc = sg_store_tenant_get(a->s, name, &t, NULL);
        if ((grc == 0) != (a->rc[k] == 0)) {
            snprintf(why, SGT_WHY_MAX, "write %d was reported %s but is %s",
                     k, a->rc[k] ? sg_err_name(a->rc[k]) : "written",
                     grc == 0 ? "in the store" : "not in the store");
            return -1;
        }
    }
    return 0;
}

static void batch_teardown(void *arg)
{
    struct batch_arg *a = arg;

    sg_store_free(a->s);
    a->s = NULL;
}

static void test_store_batch(void **state)
{
    char *dir = sgt_tmpdir();
    struct batch_arg a = {.tpl = sgt_path(dir, "tpl.db"),
                          .path = sgt_path(dir, "batch.db")};
    struct sgt_torture_op op = {.name = "store batch of two writes",
                                .arg = &a,
                                .setup = batch_setup,
                                .run = batch_run,
                                .check = batch_check,
                                .teardown = batch_teardown};
    struct sgt_torture_stats st;
    struct sg_store_cfg cfg;
    struct sg_store *s = NULL;

    SG_UNUSED(state);
    pthread_mutex_init(&a.m, NULL);
    pthread_cond_init(&a.c, NULL);
    sg_store_cfg_defaults(&cfg);
    cfg.path = a.tpl;
    assert_int_equal(sg_store_open(&s, &cfg, NULL, NULL), 0);
    sg_store_free(s);
    sgt_torture_sweep(&op, &st);
    op.name = "store batch of two writes +sqlite";
    op.libs = SGT_LIB_SQLITE;
    sgt_torture_sweep(&op, &st);
    pthread_cond_destroy(&a.c);
    pthread_mutex_destroy(&a.m);
    sgt_db_remove(a.tpl);
    sgt_db_remove(a.path);
    rmdir(dir);
    sg_free(a.tpl);
    sg_free(a.path);
    sg_free(dir);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_config),
        cmocka_unit_test(test_store_create),
        cmocka_unit_test(test_store_reopen),
        cmocka_unit_test(test_store_batch),
    };

    SG_UNUSED(argc);
    sgt_torture_init(argv);
    sg_log_set_level(SG_LOG_ERR);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
