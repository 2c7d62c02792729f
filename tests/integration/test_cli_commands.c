/*
 * test_cli_commands.c - the surge CLI end to end: each test runs the real
 * binary in a fresh folder and checks exit codes, output, and what landed
 * in the SQLite file (read back with sqlite3, or the store API for the
 * seeded dead job).
 */
#include "core/sg.h"

#include "core/alloc.h"
#include "core/crypto.h"
#include "core/json.h"
#include "store/store.h"

#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testlib.h"

struct fx {
    char *dir;
    char *conf;
    char *db;
    char *old_cwd;
};

struct run {
    int rc;
    char *out;
    char *err;
};

static void run_free(struct run *r)
{
    sg_free(r->out);
    sg_free(r->err);
    memset(r, 0, sizeof(*r));
}

/* Run surge with up to 8 arguments (NULL-terminated list). */
static struct run surge(const char *a0, ...)
{
    char *argv[12];
    struct run r = {0};
    va_list ap;
    size_t n = 0;

    argv[n++] = (char *)(uintptr_t)sgt_surge_bin();
    va_start(ap, a0);
    for (const char *a = a0; a && n < SG_ARRAY_SIZE(argv) - 1;
         a = va_arg(ap, const char *))
        argv[n++] = (char *)(uintptr_t)a;
    va_end(ap);
    argv[n] = NULL;
    r.rc = sgt_run(argv, NULL, &r.out, &r.err);
    assert_non_null(r.out);
    assert_non_null(r.err);
    return r;
}

static int setup(void **state)
{
    struct fx *fx = sg_calloc(1, sizeof(*fx));
    char cwd[1024];

    assert_non_null(fx);
    fx->dir = sgt_tmpdir();
    assert_non_null(fx->dir);
    fx->conf = sgt_path(fx->dir, "surge.conf");
    fx->db = sgt_path(fx->dir, "surge.db");
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    fx->old_cwd = sg_strdup(cwd);
    /* The CLI must not pick up the runner's own settings. */
    unsetenv("SURGE_CONFIG");
    unsetenv("SURGE_STORE_PATH");
    *state = fx;
    return 0;
}

static void rm(const char *dir, const char *name)
{
    char *p = sgt_path(dir, name);

    unlink(p);
    sg_free(p);
}

static int teardown(void **state)
{
    struct fx *fx = *state;

    assert_int_equal(chdir(fx->old_cwd), 0);
    rm(fx->dir, "surge.conf");
    rm(fx->dir, "surge.db");
    rm(fx->dir, "surge.db-wal");
    rm(fx->dir, "surge.db-shm");
    rmdir(fx->dir);
    sg_free(fx->dir);
    sg_free(fx->conf);
    sg_free(fx->db);
    sg_free(fx->old_cwd);
    sg_free(fx);
    return 0;
}

static void init_store(struct fx *fx)
{
    struct run r = surge("init", "--config", fx->conf, NULL);

    if (r.rc != 0)
        fail_msg("init failed (%d): %s", r.rc, r.err);
    run_free(&r);
}

static void assert_contains(const char *hay, const char *needle)
{
    if (!strstr(hay, needle))
        fail_msg("expected \"%s\" in:\n%s", needle, hay);
}

/* One integer from a query, or -1. */
static int64_t query_int(const char *db, const char *sql)
{
    sqlite3 *h = NULL;
    sqlite3_stmt *st = NULL;
    int64_t v = -1;

    assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(h);
    return v;
}

static void test_version_and_usage(void **state)
{
    struct run r;

    SG_UNUSED(state);
    r = surge("--version", NULL);
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.out, "surge 0.1.0\n");
    run_free(&r);

    r = surge("help", NULL);
    assert_int_equal(r.rc, 0);
    assert_contains(r.out, "tenant create");
    assert_contains(r.out, "jobs retry");
    run_free(&r);

    r = surge("help", "apikey", "create", NULL);
    assert_int_equal(r.rc, 0);
    assert_contains(r.out, "usage: surge apikey create --tenant NAME");
    run_free(&r);

    r = surge("frobnicate", NULL);
    assert_int_equal(r.rc, 2);
    assert_contains(r.err, "unknown command \"frobnicate\"");
    run_free(&r);

    r = surge("jobs", NULL);
    assert_int_equal(r.rc, 2);
    assert_contains(r.err, "usage: surge jobs list");
    run_free(&r);

    r = surge("tenant", "create", NULL);
    assert_int_equal(r.rc, 2);
    assert_contains(r.err, "missing argument");
    assert_contains(r.err, "usage: surge tenant create NAME");
    run_free(&r);

    r = surge("tenant", "list", "--nope", NULL);
    assert_int_equal(r.rc, 2);
    assert_contains(r.err, "unknown option \"--nope\"");
    run_free(&r);
}

static void test_init(void **state)
{
    struct fx *fx = *state;
    struct stat st;
    struct run r;

    /* In the folder, with no --config: ./surge.conf. */
    assert_int_equal(chdir(fx->dir), 0);
    r = surge("init", NULL);
    assert_int_equal(r.rc, 0);
    assert_contains(r.out, "wrote surge.conf (mode 0600)");
    assert_contains(r.out, "created store sqlite");
    run_free(&r);
    assert_int_equal(stat(fx->conf, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(stat(fx->db, &st), 0);
    assert_int_equal(st.st_mode & 077, 0);
    assert_true(query_int(fx->db, "SELECT count(*) FROM schema_migrations") >
                0);

    /* Again: nothing is overwritten, the store is kept. */
    assert_int_equal(sgt_write_file(fx->conf, "# mine\n[log]\nlevel = warn\n"),
                     0);
    r = surge("init", NULL);
    assert_int_equal(r.rc, 0);
    assert_contains(r.out, "kept surge.conf");
    assert_contains(r.out, "0 migrations applied");
    run_free(&r);
    {
        char *text = sgt_read_file(fx->conf, NULL);
        assert_non_null(text);
        assert_string_equal(text, "# mine\n[log]\nlevel = warn\n");
        sg_free(text);
    }

    r = surge("migrate", NULL);
    assert_int_equal(r.rc, 0);
    assert_contains(r.out, "applied 0 migrations");
    run_free(&r);
}

static void test_tenants(void **state)
{
    struct fx *fx = *state;
    struct run r;

    init_store(fx);
    r = surge("tenant", "create", "acme", "--config", fx->conf, NULL);
    assert_int_equal(r.rc, 0);
    assert_contains(r.out, "created tenant acme");
    run_free(&r);

    r = surge("tenant", "create", "acme", "--config", fx->conf, NULL);
    assert_int_equal(r.rc, 1);
    assert_contains(r.err, "tenant \"acme\" already exists");
    run_free(&r);

    r = surge("tenant", "create", "Not-OK", "--config", fx->conf, NULL);
    assert_int_equal(r.rc, 2);
    assert_contains(r.err, "bad tenant name");
    run_free(&r);

    r = surge("tenant", "create", "--config=", "x", NULL);
    assert_int_equal(r.rc, 78);
    run_free(&r);

    r = surge("tenant", "create", "beta_2", "--config", fx->conf, NULL);
    assert_int_equal(r.rc, 0);
    run_free(&r);

    r = surge("tenant", "list", "--config", fx->conf, NULL);
    assert_int_equal(r.rc, 0);
    assert_contains(r.out, "acme");
    assert_contains(r.out, "beta_2");
    run_free(&r);

    /* Both outcomes were audited. */
    assert_int_equal(query_int(fx->db,
                               "SELECT count(*) FROM audit_log WHERE "
                               "actor = 'cli' AND action = 'tenant.create' "
                               "AND outcome = 'ok'"),
                     2);
    assert_int_equal(query_int(fx->db,
                               "SELECT count(*) FROM audit_log WHERE "
                               "action = 'tenant.create' AND outcome != "
                               "'ok'"),
                     1);
}

static bool file_contains(const char *path, const char *needle)
{
    size_t len, n = strlen(needle);
    char *data = sgt_read_file(path, &len);
    bool found = false;

    if (!data)
        return false;
    for (size_t i = 0; i + n <= len && !found; i++)
        found = memcmp(data + i, needle, n) == 0;
    sg_free(data);
    return found;
}

static void test_apikey(void **state)
{
    struct fx *fx = *state;
    char key[64], hash[65], sql[256], *wal;
    struct run r;

    init_store(fx);
    r = surge("tenant", "create", "acme", "--config", fx->conf, NULL);
    assert_int_equal(r.rc, 0);
    run_free(&r);

    r = surge("apikey", "create", "--tenant", "acme", "--config", fx->conf,
              NULL);
    assert_int_equal(r.rc, 0);
    /* stdout is the key alone: "sk_" + 40 hex chars. */
    assert_int_equal(strlen(r.out), 44);
    assert_int_equal(r.out[43], '\n');
    assert_memory_equal(r.out, "sk_", 3);
    for (int i = 3; i < 43; i++)
        assert_non_null(strchr("0123456789abcdef", r.out[i]));
    assert_contains(r.err, "not shown again");
    memcpy(key, r.out, 43);
    key[43] = '\0';
    run_free(&r);

    /* The store has the hash and the prefix, never the key itself. */
    sg_sha256_hex(key, strlen(key), hash);
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM api_keys WHERE key_hash = '%s' AND "
             "prefix = '%.10s' AND scope = 'rw'",
             hash, key);
    assert_int_equal(query_int(fx->db, sql), 1);
    assert_false(file_contains(fx->db, key));
    assert_false(file_contains(fx->db, key + 3));
    wal = sgt_path(fx->dir, "surge.db-wal");
    assert_false(file_contains(wal, key + 3));
    sg_free(wal);
    assert_int_equal(query_int(fx->db,
                               "SELECT count(*) FROM audit_log WHERE "
                               "action = 'apikey.create' AND outcome = 'ok'"),
                     1);

    r = surge("apikey", "create", "--tenant", "acme", "--read-only", "--config",
              fx->conf, NULL);
    assert_int_equal(r.rc, 0);
    assert_contains(r.err, "read-only");
    run_free(&r);
    assert_int_equal(query_int(fx->db, "SELECT count(*) FROM api_keys "
                                       "WHERE scope = 'ro'"),
                     1);

    r = surge("apikey", "create", "--tenant", "nobody", "--config", fx->conf,
              NULL);
    assert_int_equal(r.rc, 1);
    assert_contains(r.err, "no tenant named \"nobody\"");
    run_free(&r);

    r = surge("apikey", "create", "--config", fx->conf, NULL);
    assert_int_equal(r.rc, 2);
    assert_contains(r.err, "--tenant is required");
    run_free(&r);
}

/*
 * The sandbox's settings file: a key it does not know, or a value of the
 * wrong type, stops it with the key named (exit 78) instead of being
 * ignored (a misspelt state_path would lose the sandbox's world).
 */
static void test_sandbox_bad_config(void **state)
{
    static const struct {
        const char *body; /* the settings file */
        int rc;           /* surge sandbox's exit status */
        const char *want; /* in its stderr: the key named */
    } cases[] = {
        {"{\"state_pathh\": \"x.json\"}", 78, "unknown key \"state_pathh\""},
        {"{\"state_save_ms\": \"0\"}", 78, "state_save_ms must be an integer"},
        {"{\"threads\": -2}", 78, "threads is out of range (-2)"},
        {"{\"debug_signatures\": 1}", 78,
         "debug_signatures must be true or false"},
    };
    struct fx *fx = *state;
    char *path = sgt_path(fx->dir, "sandbox.json");
    struct run r;

    assert_non_null(path);
    for (size_t i = 0; i < SG_ARRAY_SIZE(cases); i++) {
        assert_int_equal(sgt_write_file(path, cases[i].body), 0);
        r = surge("sandbox", "--listen", "127.0.0.1:0", "--config", path,
                  NULL);
        if (r.rc != cases[i].rc)
            fail_msg("%s: exit %d, expected %d; stderr:\n%s", cases[i].body,
                     r.rc, cases[i].rc, r.err);
        assert_contains(r.err, cases[i].want);
        run_free(&r);
    }
    unlink(path);
    sg_free(path);
}

static void test_bad_config(void **state)
{
    struct fx *fx = *state;
    char want[256];
    struct run r;

    assert_int_equal(sgt_write_file(fx->conf, "[server]\n\nthreads = abc\n"),
                     0);
    r = surge("tenant", "list", "--config", fx->conf, NULL);
    assert_int_equal(r.rc, 78);
    snprintf(want, sizeof(want),
             "%s:3: bad value \"abc\" for [server] threads: expected an "
             "integer 1..64\n",
             fx->conf);
    assert_string_equal(r.err, want);
    run_free(&r);

    assert_int_equal(sgt_write_file(fx->conf, "[server]\nlistn = x\n"), 0);
    r = surge("jobs", "list", "--config", fx->conf, NULL);
    assert_int_equal(r.rc, 78);
    snprintf(want, sizeof(want),
             "%s:2: unknown key \"listn\" in [server]; allowed: listen, ",
             fx->conf);
    assert_memory_equal(r.err, want, strlen(want));
    run_free(&r);

    /* $SURGE_CONFIG is used when --config is absent. */
    setenv("SURGE_CONFIG", fx->conf, 1);
    r = surge("migrate", NULL);
    unsetenv("SURGE_CONFIG");
    assert_int_equal(r.rc, 78);
    assert_contains(r.err, "unknown key \"listn\"");
    run_free(&r);

    /* An explicit file that does not exist. */
    r = surge("tenant", "list", "--config", "/nonexistent/surge.conf", NULL);
    assert_int_equal(r.rc, 78);
    assert_contains(r.err, "/nonexistent/surge.conf: cannot open");
    run_free(&r);

    /* Environment errors too. */
    setenv("SURGE_STORE_READERS", "0", 1);
    r = surge("config", "check", NULL);
    unsetenv("SURGE_STORE_READERS");
    assert_int_equal(r.rc, 78);
    assert_contains(r.err, "environment SURGE_STORE_READERS: bad value");
    run_free(&r);

    /*
     * The engine on PostgreSQL (every feature has its storage there) with
     * a server that is not there: a clear error naming the connection.
     */
    assert_int_equal(sgt_write_file(fx->conf,
                                    "[store]\nbackend = postgres\n"
                                    "dsn = host=/nonexistent dbname=x\n"),
                     0);
    r = surge("serve", "--config", fx->conf, NULL);
    assert_int_not_equal(r.rc, 0);
    assert_contains(r.err, "cannot start: connect");
    assert_contains(r.err, "/nonexistent");
    run_free(&r);
}

/* ---- a dead job, seeded through the store API ---- */

static int seed_enqueue(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    struct sg_job job;
    bool coalesced = false;

    memset(&job, 0, sizeof(job));
    job.tenant_id = 1;
    snprintf(job.kind, sizeof(job.kind), "notify.http");
    job.payload = (char *)(uintptr_t) "{\"event\":\"test\"}";
    job.attempts_max = 1;
    job.next_run_at = 0;
    return sg_store_tx_job_enqueue(tx, &job, arg, &coalesced, err);
}

static int seed_kill(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    int64_t *id = arg;
    struct sg_job *jobs = NULL;
    size_t n = 0;
    int rc;

    rc = sg_store_tx_job_claim(tx, 60000, 1, &jobs, &n, err);
    if (rc < 0)
        return rc;
    if (n != 1 || jobs[0].id != *id) {
        sg_job_list_free(jobs, n);
        return sg_err_set(err, SG_ESTATE, "claimed %zu jobs", n);
    }
    rc = sg_store_tx_job_finish(tx, jobs[0].id, jobs[0].lease_token,
                                SG_JOB_DEAD, 0, "remote said 500", err);
    sg_job_list_free(jobs, n);
    return rc;
}

static int64_t seed_dead_job(struct fx *fx)
{
    struct sg_store_cfg cfg;
    struct sg_store *s = NULL;
    struct sg_err err;
    int64_t id = 0;

    sg_store_cfg_defaults(&cfg);
    cfg.path = fx->db;
    sg_err_init(&err);
    if (sg_store_open(&s, &cfg, NULL, &err) < 0)
        fail_msg("store open: %s", err.msg);
    if (sg_store_write(s, seed_enqueue, &id, &err) < 0)
        fail_msg("enqueue: %s", err.msg);
    if (sg_store_write(s, seed_kill, &id, &err) < 0)
        fail_msg("kill: %s", err.msg);
    sg_store_free(s);
    return id;
}

static void test_jobs(void **state)
{
    struct fx *fx = *state;
    char id_s[32], line[64];
    json_t *j;
    int64_t id;
    struct run r;

    init_store(fx);
    r = surge("tenant", "create", "acme", "--config", fx->conf, NULL);
    assert_int_equal(r.rc, 0);
    run_free(&r);

    /* Empty store. */
    r = surge("jobs", "list", "--config", fx->conf, NULL);
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.out, "no jobs\n");
    run_free(&r);
    r = surge("jobs", "list", "--json", "--config", fx->conf, NULL);
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.out, "[]\n");
    run_free(&r);
    r = surge("jobs", "show", "1", "--config", fx->conf, NULL);
    assert_int_equal(r.rc, 1);
    assert_contains(r.err, "no job 1");
    run_free(&r);
    r = surge("jobs", "retry", "1", "--config", fx->conf, NULL);
    assert_int_equal(r.rc, 1);
    run_free(&r);
    r = surge("jobs", "show", "x1", "--config", fx->conf, NULL);
    assert_int_equal(r.rc, 2);
    run_free(&r);
    r = surge("jobs", "list", "--state", "zombie", "--config", fx->conf, NULL);
    assert_int_equal(r.rc, 2);
    run_free(&r);
    r = surge("jobs", "list", "--limit", "0", "--config", fx->conf, NULL);
    assert_int_equal(r.rc, 2);
    run_free(&r);
    r = surge("jobs", "list", "--tenant", "nobody", "--config", fx->conf, NULL);
    assert_int_equal(r.rc, 1);
    run_free(&r);

    /* One dead job. */
    id = seed_dead_job(fx);
    assert_true(id > 0);
    snprintf(id_s, sizeof(id_s), "%" PRId64, id);

    r = surge("jobs", "list", "--state", "dead", "--tenant", "acme", "--config",
              fx->conf, NULL);
    assert_int_equal(r.rc, 0);
    snprintf(line, sizeof(line), "\n%-8s dead", id_s);
    assert_contains(r.out, line);
    assert_contains(r.out, "notify.http");
    assert_contains(r.out, "remote said 500");
    run_free(&r);

    r = surge("jobs", "show", id_s, "--json", "--config", fx->conf, NULL);
    assert_int_equal(r.rc, 0);
    assert_int_equal(sg_json_parse(&j, r.out, strlen(r.out), 8, NULL, NULL), 0);
    assert_int_equal(sg_json_int(j, "id", -1), id);
    assert_string_equal(sg_json_str(j, "state"), "dead");
    assert_string_equal(sg_json_str(j, "last_error"), "remote said 500");
    assert_string_equal(sg_json_str(json_object_get(j, "payload"), "event"),
                        "test");
    json_decref(j);
    run_free(&r);

    r = surge("jobs", "show", id_s, "--config", fx->conf, NULL);
    assert_int_equal(r.rc, 0);
    assert_contains(r.out, "state:           dead\n");
    run_free(&r);

    r = surge("jobs", "retry", id_s, "--config", fx->conf, NULL);
    assert_int_equal(r.rc, 0);
    assert_contains(r.out, "queued again");
    run_free(&r);

    r = surge("jobs", "list", "--state", "queued", "--json", "--config",
              fx->conf, NULL);
    assert_int_equal(r.rc, 0);
    assert_int_equal(sg_json_parse(&j, r.out, strlen(r.out), 8, NULL, NULL), 0);
    assert_int_equal(json_array_size(j), 1);
    assert_int_equal(sg_json_int(json_array_get(j, 0), "id", -1), id);
    json_decref(j);
    run_free(&r);

    /* Not dead any more: refused, and both attempts audited. */
    r = surge("jobs", "retry", id_s, "--config", fx->conf, NULL);
    assert_int_equal(r.rc, 1);
    assert_contains(r.err, "not dead");
    run_free(&r);
    assert_int_equal(query_int(fx->db,
                               "SELECT count(*) FROM audit_log WHERE "
                               "actor = 'cli' AND action = 'job.retry' AND "
                               "outcome = 'ok'"),
                     1);
    assert_int_equal(query_int(fx->db,
                               "SELECT count(*) FROM audit_log WHERE "
                               "action = 'job.retry' AND outcome != 'ok'"),
                     1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version_and_usage),
        cmocka_unit_test_setup_teardown(test_init, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tenants, setup, teardown),
        cmocka_unit_test_setup_teardown(test_apikey, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_config, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sandbox_bad_config, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_jobs, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
