/*
 * test_core_config.c - the configuration loader: defaults, every error
 * message's "file:line:" prefix, environment overrides, secret files,
 * value syntaxes, the sample's round trip, and docs/config.md coverage.
 * Each test works in its own temporary folder and clears the SURGE_*
 * variables it sets.
 */
#include "core/sg.h"

#include "core/alloc.h"
#include "core/config.h"
#include "core/log.h"

#include <sys/stat.h>
#include <unistd.h>

#include "testlib.h"

struct fx {
    char dir[64];
    char path[128];
};

static int setup(void **state)
{
    struct fx *fx = sg_calloc(1, sizeof(*fx));

    assert_non_null(fx);
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/sg-config-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    snprintf(fx->path, sizeof(fx->path), "%s/surge.conf", fx->dir);
    *state = fx;
    return 0;
}

static void rm_file(const char *dir, const char *name)
{
    char p[256];

    snprintf(p, sizeof(p), "%s/%s", dir, name);
    unlink(p);
}

static int teardown(void **state)
{
    struct fx *fx = *state;

    rm_file(fx->dir, "surge.conf");
    rm_file(fx->dir, "secret");
    rmdir(fx->dir);
    sg_free(fx);
    unsetenv("SURGE_SERVER_THREADS");
    unsetenv("SURGE_SERVER_LISTN");
    unsetenv("SURGE_NOTIFY_SECRET");
    unsetenv("SURGE_NOTIFY_SECRET_FILE");
    unsetenv("SURGE_LOG_LEVEL");
    sg_log_clear_secrets();
    return 0;
}

static void write_text(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(chmod(path, mode), 0);
}

/* Load text as the config file; return the code, leave cfg loaded. */
static int load_text(struct fx *fx, struct sg_config *cfg, const char *text,
                     struct sg_err *err)
{
    write_text(fx->path, text, 0600);
    sg_err_init(err);
    return sg_config_load(cfg, fx->path, err);
}

/* Expect text to fail with message "<path>:<line>: " + contains. */
static void expect_error(struct fx *fx, const char *text, int line,
                         const char *contains)
{
    struct sg_config cfg;
    struct sg_err err;
    char prefix[200];
    int rc = load_text(fx, &cfg, text, &err);

    snprintf(prefix, sizeof(prefix), "%s:%d: ", fx->path, line);
    if (rc != SG_ECONFIG || strncmp(err.msg, prefix, strlen(prefix)) != 0 ||
        !strstr(err.msg, contains))
        fail_msg("for %s expected \"%s...%s\", got rc %d \"%s\"", text, prefix,
                 contains, rc, err.msg);
    sg_config_release(&cfg);
}

static void test_defaults(void **state)
{
    struct sg_config cfg;

    SG_UNUSED(state);
    assert_int_equal(sg_config_init_defaults(&cfg), 0);
    assert_null(cfg.path);
    assert_string_equal(cfg.server.listen, "127.0.0.1:8700");
    assert_int_equal(cfg.server.threads, 2);
    assert_int_equal(cfg.server.body_max, 1024 * 1024);
    assert_int_equal(cfg.server.headers_max, 64);
    assert_int_equal(cfg.server.header_bytes_max, 8192);
    assert_int_equal(cfg.server.request_timeout_ms, 10000);
    assert_int_equal(cfg.server.json_depth_max, 32);
    assert_string_equal(cfg.store.backend, "sqlite");
    assert_string_equal(cfg.store.path, "surge.db");
    assert_int_equal(cfg.store.batch_max, 256);
    assert_int_equal(cfg.store.queue_max, 65536);
    assert_int_equal(cfg.store.readers, 4);
    assert_int_equal(cfg.log.level, SG_LOG_INFO);
    assert_null(cfg.webhook_generic.secret);
    assert_string_equal(cfg.webhook_generic.tenant, "default");
    assert_null(cfg.notify.url);
    assert_null(cfg.notify.secret);
    assert_int_equal(cfg.jobs.concurrency, 32);
    assert_int_equal(cfg.jobs.attempts_max, 8);
    assert_int_equal(cfg.jobs.backoff_base_ms, 500);
    assert_int_equal(cfg.jobs.backoff_max_ms, 300000);
    assert_int_equal(cfg.jobs.retry_after_max_ms, 600000);
    assert_int_equal(cfg.jobs.lease_ms, 60000);
    assert_int_equal(cfg.jobs.request_timeout_ms, 10000);
    assert_int_equal(cfg.jobs.rate_per_sec, 50);
    assert_int_equal(cfg.jobs.burst, 50);
    assert_int_equal(cfg.jobs.breaker_min_calls, 10);
    assert_int_equal(cfg.jobs.breaker_failure_pct, 50);
    assert_int_equal(cfg.jobs.breaker_open_ms, 30000);
    assert_int_equal(cfg.jobs.breaker_probes, 3);
    assert_false(cfg.security.allow_private_urls);
    sg_config_release(&cfg);
    /* Release leaves a zeroed struct and accepts NULL. */
    assert_null(cfg.server.listen);
    sg_config_release(NULL);
}

static void test_load_null_is_defaults(void **state)
{
    struct sg_config cfg;
    struct sg_err err;

    SG_UNUSED(state);
    sg_err_init(&err);
    assert_int_equal(sg_config_load(&cfg, NULL, &err), 0);
    assert_null(cfg.path);
    assert_string_equal(cfg.store.path, "surge.db");
    sg_config_release(&cfg);
}

static void test_values(void **state)
{
    struct fx *fx = *state;
    struct sg_config cfg;
    struct sg_err err;
    char want[256];

    assert_int_equal(load_text(fx, &cfg,
                               "# comment\n"
                               "; another\n"
                               "[server]\n"
                               "listen = [::1]:0\n"
                               "  threads = 8   ; indented, with a comment\n"
                               "body_max = 2m\n"
                               "header_bytes_max = 16K\n"
                               "request_timeout_ms = 5s\n"
                               "[store]\n"
                               "path = data/x.db\n"
                               "queue_max = 1000\n"
                               "[log]\n"
                               "level = debug\n"
                               "[notify]\n"
                               "url = https://hooks.example.com/surge\n"
                               "secret = s3cr3t-value\n"
                               "[jobs]\n"
                               "backoff_base_ms = 250\n"
                               "backoff_max_ms = 2m\n"
                               "breaker_open_ms = 1h\n"
                               "[security]\n"
                               "allow_private_urls = yes\n",
                               &err),
                     0);
    assert_string_equal(cfg.path, fx->path);
    assert_string_equal(cfg.server.listen, "[::1]:0");
    assert_int_equal(cfg.server.threads, 8);
    assert_int_equal(cfg.server.body_max, 2 * 1024 * 1024);
    assert_int_equal(cfg.server.header_bytes_max, 16 * 1024);
    assert_int_equal(cfg.server.request_timeout_ms, 5000);
    /* A relative path is relative to the config file's folder. */
    snprintf(want, sizeof(want), "%s/data/x.db", fx->dir);
    assert_string_equal(cfg.store.path, want);
    assert_int_equal(cfg.store.queue_max, 1000);
    assert_int_equal(cfg.log.level, SG_LOG_DEBUG);
    assert_string_equal(cfg.notify.url, "https://hooks.example.com/surge");
    assert_string_equal(cfg.notify.secret, "s3cr3t-value");
    assert_int_equal(cfg.jobs.backoff_base_ms, 250);
    assert_int_equal(cfg.jobs.backoff_max_ms, 120000);
    assert_int_equal(cfg.jobs.breaker_open_ms, 3600000);
    assert_true(cfg.security.allow_private_urls);
    sg_config_release(&cfg);

    /* The default path also follows the file. */
    assert_int_equal(load_text(fx, &cfg, "[store]\nreaders = 2\n", &err), 0);
    snprintf(want, sizeof(want), "%s/surge.db", fx->dir);
    assert_string_equal(cfg.store.path, want);
    sg_config_release(&cfg);

    /* An empty value unsets an optional key; absolute paths stay. */
    assert_int_equal(
        load_text(fx, &cfg, "[notify]\nurl =\n[store]\npath = /x/y.db\n", &err),
        0);
    assert_null(cfg.notify.url);
    assert_string_equal(cfg.store.path, "/x/y.db");
    sg_config_release(&cfg);
}

static void test_errors(void **state)
{
    struct fx *fx = *state;

    expect_error(fx, "[server]\nthreads = 2\nlistn = x\n", 3,
                 "unknown key \"listn\" in [server]; allowed: listen, "
                 "threads, body_max");
    expect_error(fx, "\n\n[server]\nthreads = abc\n", 4,
                 "bad value \"abc\" for [server] threads: expected an "
                 "integer 1..64");
    expect_error(fx, "[server]\nthreads = 65\n", 2, "expected an integer");
    expect_error(fx, "[server]\nthreads = -1\n", 2, "bad value \"-1\"");
    expect_error(fx, "[server]\nthreads = 99999999999999999999999\n", 2,
                 "expected an integer 1..64");
    expect_error(fx, "[server]\n[nope]\nx = 1\n", 2,
                 "unknown section [nope]; allowed: [server], [store]");
    /* An empty unknown section is still an error. */
    expect_error(fx, "[server]\nthreads = 2\n[nope]\n", 3, "[nope]");
    expect_error(fx, "threads = 2\n[server]\n", 1, "outside any section");
    expect_error(fx, "[server]\nthreads = 2\nthreads = 3\n", 3,
                 "already set on line 2");
    expect_error(fx, "[server]\nthis is not ini\n", 2, "syntax error");
    expect_error(fx, "[server]\nbody_max = 1x\n", 2,
                 "for [server] body_max: expected a size 1k..64m");
    expect_error(fx, "[server]\nbody_max = 1g\n", 2, "expected a size");
    expect_error(fx, "[server]\nrequest_timeout_ms = 5 s\n", 2,
                 "expected a duration 100ms..10m");
    expect_error(fx, "[server]\nrequest_timeout_ms = 11m\n", 2,
                 "expected a duration");
    expect_error(fx, "[server]\nlisten = localhost\n", 2, "HOST:PORT");
    expect_error(fx, "[server]\nlisten = 1.2.3.4:70000\n", 2, "HOST:PORT");
    expect_error(fx, "[server]\nlisten = [zz]:80\n", 2, "HOST:PORT");
    expect_error(fx, "[store]\nbackend = mysql\n", 2,
                 "bad value \"mysql\" for [store] backend: expected one of "
                 "sqlite");
    expect_error(fx, "[log]\nlevel = loud\n", 2,
                 "expected one of error, warn, info, debug");
    expect_error(fx, "[notify]\nurl = ftp://x\n", 2, "http:// or https://");
    expect_error(fx, "[security]\nallow_private_urls = maybe\n", 2,
                 "true or false");
    expect_error(fx, "[server]\nthreads_file = /x\n", 2,
                 "unknown key \"threads_file\"");
    expect_error(fx, "[jobs]\nbackoff_base_ms = 10m\nbackoff_max_ms = 1m\n", 3,
                 "backoff_base_ms (600000 ms) exceeds");
    expect_error(fx, "[jobs]\nlease_ms = 5s\n", 2, "lease_ms (5000 ms)");
    expect_error(fx,
                 "[webhook_generic]\ntenant = Bad Name That Is Far Too "
                 "Long To Be A Tenant Name Really Much Too Long\n",
                 2, "expected a string of 1..63 characters");
}

static void test_long_line(void **state)
{
    struct fx *fx = *state;
    char text[600];

    memset(text, 'a', sizeof(text));
    memcpy(text, "[server]\nlisten = ", 18);
    text[sizeof(text) - 2] = '\n';
    text[sizeof(text) - 1] = '\0';
    expect_error(fx, text, 2, "line too long");
}

static void test_missing_file(void **state)
{
    struct fx *fx = *state;
    struct sg_config cfg;
    struct sg_err err;
    char path[200];

    snprintf(path, sizeof(path), "%s/absent.conf", fx->dir);
    sg_err_init(&err);
    assert_int_equal(sg_config_load(&cfg, path, &err), SG_ECONFIG);
    assert_non_null(strstr(err.msg, "absent.conf: cannot open"));
    sg_config_release(&cfg);
}

static void test_env(void **state)
{
    struct fx *fx = *state;
    struct sg_config cfg;
    struct sg_err err;

    /* The environment wins over the file. */
    setenv("SURGE_SERVER_THREADS", "12", 1);
    setenv("SURGE_LOG_LEVEL", "warn", 1);
    assert_int_equal(load_text(fx, &cfg, "[server]\nthreads = 3\n", &err), 0);
    assert_int_equal(cfg.server.threads, 12);
    assert_int_equal(cfg.log.level, SG_LOG_WARN);
    sg_config_release(&cfg);

    /* Without a file too. */
    sg_err_init(&err);
    assert_int_equal(sg_config_load(&cfg, NULL, &err), 0);
    assert_int_equal(cfg.server.threads, 12);
    sg_config_release(&cfg);

    setenv("SURGE_SERVER_THREADS", "lots", 1);
    sg_err_init(&err);
    assert_int_equal(sg_config_load(&cfg, NULL, &err), SG_ECONFIG);
    assert_string_equal(err.msg,
                        "environment SURGE_SERVER_THREADS: bad value "
                        "\"lots\" for [server] threads: expected an integer "
                        "1..64");
    sg_config_release(&cfg);
    unsetenv("SURGE_SERVER_THREADS");

    /* A typo in a known section is caught. */
    setenv("SURGE_SERVER_LISTN", "x", 1);
    sg_err_init(&err);
    assert_int_equal(sg_config_load(&cfg, NULL, &err), SG_ECONFIG);
    assert_non_null(strstr(err.msg, "environment SURGE_SERVER_LISTN: "
                                    "unknown key in [server]; allowed: "));
    sg_config_release(&cfg);
}

static void test_secret_file(void **state)
{
    struct fx *fx = *state;
    struct sg_config cfg;
    struct sg_err err;
    char secret[200], text[300];

    snprintf(secret, sizeof(secret), "%s/secret", fx->dir);
    snprintf(text, sizeof(text), "[notify]\nsecret_file = %s\n", secret);

    /* Readable by others: refused, and the value is not in the message. */
    write_text(secret, "hunter2-secret\n", 0644);
    expect_error(fx, text, 2, "mode 0644");
    assert_int_equal(load_text(fx, &cfg, text, &err), SG_ECONFIG);
    assert_null(strstr(err.msg, "hunter2"));
    assert_non_null(strstr(err.msg, "0600 or 0400"));
    sg_config_release(&cfg);

    /* 0600: accepted, trailing newline stripped. */
    assert_int_equal(chmod(secret, 0600), 0);
    assert_int_equal(load_text(fx, &cfg, text, &err), 0);
    assert_string_equal(cfg.notify.secret, "hunter2-secret");
    sg_config_release(&cfg);

    /* 0400 and a relative path (relative to the config's folder). */
    assert_int_equal(chmod(secret, 0400), 0);
    assert_int_equal(
        load_text(fx, &cfg, "[webhook_generic]\nsecret_file = secret\n", &err),
        0);
    assert_string_equal(cfg.webhook_generic.secret, "hunter2-secret");
    sg_config_release(&cfg);

    /* Both forms in the file: the second is a duplicate. */
    snprintf(text, sizeof(text), "[notify]\nsecret = a\nsecret_file = %s\n",
             secret);
    expect_error(fx, text, 3, "already set on line 2");

    /* Missing secret file. */
    expect_error(fx, "[notify]\nsecret_file = nowhere\n", 2,
                 "cannot open secret file");

    /* Through the environment. */
    setenv("SURGE_NOTIFY_SECRET_FILE", secret, 1);
    sg_err_init(&err);
    assert_int_equal(sg_config_load(&cfg, NULL, &err), 0);
    assert_string_equal(cfg.notify.secret, "hunter2-secret");
    sg_config_release(&cfg);
    assert_int_equal(chmod(secret, 0640), 0);
    sg_err_init(&err);
    assert_int_equal(sg_config_load(&cfg, NULL, &err), SG_ECONFIG);
    assert_non_null(strstr(err.msg, "environment SURGE_NOTIFY_SECRET_FILE: "));
    assert_non_null(strstr(err.msg, "mode 0640"));
    sg_config_release(&cfg);
    assert_int_equal(chmod(secret, 0600), 0);
    setenv("SURGE_NOTIFY_SECRET", "other-secret", 1);
    sg_err_init(&err);
    assert_int_equal(sg_config_load(&cfg, NULL, &err), SG_ECONFIG);
    assert_non_null(strstr(err.msg, "set only one"));
    sg_config_release(&cfg);
}

/* Compare every schema value of a and b as text. */
static void assert_same(const struct sg_config *a, const struct sg_config *b)
{
    size_t n;
    const struct sg_config_key *keys = sg_config_schema(&n);
    char va[256], vb[256];

    for (size_t i = 0; i < n; i++) {
        sg_config_format_value(a, &keys[i], va, sizeof(va));
        sg_config_format_value(b, &keys[i], vb, sizeof(vb));
        if (strcmp(va, vb) != 0)
            fail_msg("[%s] %s: %s != %s", keys[i].section, keys[i].key, va, vb);
    }
}

/* Does the schema have a non-secret key with a default named like the
 * "#key = value" line? */
static bool defaulted_key_line(const char *line)
{
    size_t n, len = strcspn(line + 1, " =");
    const struct sg_config_key *k = sg_config_schema(&n);

    for (size_t i = 0; i < n; i++)
        if (strlen(k[i].key) == len && strncmp(k[i].key, line + 1, len) == 0)
            return k[i].def && k[i].def[0] && !k[i].secret;
    return false;
}

/* Schema rows the sample writes as "#key = default" lines. */
static size_t rows_with_default(void)
{
    size_t n, count = 0;
    const struct sg_config_key *k = sg_config_schema(&n);

    for (size_t i = 0; i < n; i++)
        if (k[i].def && k[i].def[0] && !k[i].secret)
            count++;
    return count;
}

static void test_sample_round_trip(void **state)
{
    struct fx *fx = *state;
    struct sg_config defs, cfg;
    struct sg_err err;
    char *text, *line, *next;
    size_t len, uncommented = 0, n;
    FILE *f;

    sg_config_schema(&n);
    assert_int_equal(sg_config_init_defaults(&defs), 0);
    /* store.path in a loaded file is resolved; compare against that. */
    sg_free(defs.store.path);
    len = strlen(fx->dir) + 16;
    defs.store.path = sg_alloc(len);
    assert_non_null(defs.store.path);
    snprintf(defs.store.path, len, "%s/surge.db", fx->dir);
    sg_free(defs.secrets.key_file);
    defs.secrets.key_file = sg_alloc(len);
    assert_non_null(defs.secrets.key_file);
    snprintf(defs.secrets.key_file, len, "%s/surge.key", fx->dir);

    f = fopen(fx->path, "w");
    assert_non_null(f);
    assert_int_equal(sg_config_write_sample(f), 0);
    assert_int_equal(fclose(f), 0);
    sg_err_init(&err);
    assert_int_equal(sg_config_load(&cfg, fx->path, &err), 0);
    assert_same(&defs, &cfg);
    sg_config_release(&cfg);

    /* Uncomment every non-secret "#key = default" line: still defaults. */
    text = sgt_read_file(fx->path, &len);
    assert_non_null(text);
    f = fopen(fx->path, "w");
    assert_non_null(f);
    for (line = text; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        if (line[0] == '#' && line[1] >= 'a' && line[1] <= 'z' &&
            strstr(line, " = ") && defaulted_key_line(line)) {
            line++;
            uncommented++;
        }
        fprintf(f, "%s\n", line);
    }
    assert_int_equal(fclose(f), 0);
    sg_free(text);
    /* Every non-secret key with a default was written commented out. */
    assert_int_equal(uncommented, rows_with_default());
    sg_err_init(&err);
    assert_int_equal(sg_config_load(&cfg, fx->path, &err), 0);
    assert_same(&defs, &cfg);
    sg_config_release(&cfg);
    sg_config_release(&defs);
}

/* docs/config.md names every key under its section's heading. */
static void test_doc_lists_every_key(void **state)
{
    char path[512], heading[96], key[96];
    const struct sg_config_key *keys;
    size_t n, len;
    char *doc;

    SG_UNUSED(state);
    snprintf(path, sizeof(path), "%s/docs/config.md", SG_SOURCE_DIR);
    doc = sgt_read_file(path, &len);
    if (!doc)
        fail_msg("cannot read %s", path);
    keys = sg_config_schema(&n);
    assert_true(n > 30);
    for (size_t i = 0; i < n; i++) {
        const char *sec, *end, *at;
        char env[128];
        snprintf(heading, sizeof(heading), "\n## [%s]\n", keys[i].section);
        sec = strstr(doc, heading);
        if (!sec)
            fail_msg("docs/config.md lacks section %s", heading + 1);
        end = strstr(sec + 1, "\n## [");
        snprintf(key, sizeof(key), "\n### %s\n", keys[i].key);
        at = strstr(sec, key);
        if (!at || (end && at > end))
            fail_msg("docs/config.md lacks [%s] %s (run surge config-doc)",
                     keys[i].section, keys[i].key);
        sg_config_env_name(&keys[i], env, sizeof(env));
        if (!strstr(doc, env))
            fail_msg("docs/config.md lacks %s", env);
    }
    sg_free(doc);
}

/* Every allocation failure is reported as SG_ENOMEM, with no leak. */
static void test_alloc_failures(void **state)
{
    struct fx *fx = *state;
    struct sg_config cfg;
    struct sg_err err;
    unsigned long total;
    int rc;

    write_text(fx->path,
               "[server]\nlisten = 0.0.0.0:1\n[store]\npath = a.db\n"
               "[notify]\nurl = http://x\n",
               0600);
    sg_alloc_fail_at(0);
    sg_err_init(&err);
    assert_int_equal(sg_config_load(&cfg, fx->path, &err), 0);
    sg_config_release(&cfg);
    sg_alloc_fail_at(1000000);
    sg_err_init(&err);
    assert_int_equal(sg_config_load(&cfg, fx->path, &err), 0);
    total = sg_alloc_count();
    sg_config_release(&cfg);
    assert_true(total > 3 && total < 1000);
    for (unsigned long i = 1; i <= total; i++) {
        sg_alloc_fail_at(i);
        sg_err_init(&err);
        rc = sg_config_load(&cfg, fx->path, &err);
        sg_alloc_fail_at(0);
        if (rc != SG_ENOMEM)
            fail_msg("allocation %lu: rc %d (%s)", i, rc, err.msg);
        sg_config_release(&cfg);
    }
}

static void test_sample_text(void **state)
{
    struct fx *fx = *state;
    char *buf;
    size_t len;
    FILE *f;

    f = fopen(fx->path, "w");
    assert_non_null(f);
    assert_int_equal(sg_config_write_sample(f), 0);
    assert_int_equal(fclose(f), 0);
    buf = sgt_read_file(fx->path, &len);
    assert_non_null(buf);
    assert_non_null(strstr(buf, "\n[server]\n"));
    assert_non_null(strstr(buf, "#listen = 127.0.0.1:8700\n"));
    assert_non_null(strstr(buf, "Environment: SURGE_SERVER_LISTEN.\n"));
    assert_non_null(strstr(buf, "#secret_file = "));
    /* Lines stay within 80 columns. */
    for (char *p = buf, *nl; *p; p = nl + 1) {
        nl = strchr(p, '\n');
        assert_non_null(nl);
        assert_true(nl - p <= 80);
    }
    sg_free(buf);
}

/* The committed generated files match the schema byte for byte. */
static void assert_generated(struct fx *fx, const char *rel,
                             int (*gen)(FILE *), const char *how)
{
    char path[512];
    char *want, *have;
    FILE *f;

    f = fopen(fx->path, "w");
    assert_non_null(f);
    assert_int_equal(gen(f), 0);
    assert_int_equal(fclose(f), 0);
    want = sgt_read_file(fx->path, NULL);
    assert_non_null(want);
    snprintf(path, sizeof(path), "%s/%s", SG_SOURCE_DIR, rel);
    have = sgt_read_file(path, NULL);
    if (!have || strcmp(want, have) != 0)
        fail_msg("%s is out of date; regenerate it with: %s", rel, how);
    sg_free(want);
    sg_free(have);
}

static void test_generated_files_current(void **state)
{
    struct fx *fx = *state;

    assert_generated(fx, "docs/config.md", sg_config_write_doc,
                     "surge config-doc > docs/config.md");
    assert_generated(fx, "surge.conf.sample", sg_config_write_sample,
                     "surge config sample > surge.conf.sample");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_load_null_is_defaults),
        cmocka_unit_test_setup_teardown(test_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_env, setup, teardown),
        cmocka_unit_test_setup_teardown(test_secret_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sample_round_trip, setup,
                                        teardown),
        cmocka_unit_test(test_doc_lists_every_key),
        cmocka_unit_test_setup_teardown(test_alloc_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sample_text, setup, teardown),
        cmocka_unit_test_setup_teardown(test_generated_files_current, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
