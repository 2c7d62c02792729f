/*
 * test_cli_demo.c - `surge demo --scale small` end to end: the sandbox,
 * the engine and the warehouse as real processes and sockets, a viral
 * spike and a live stream against limited stock. It must exit 0, print
 * the report, and write a JSON report whose invariants all held and
 * whose required fields are present with the right types. A bad --scale
 * is a usage error. The child is bounded at 120 s (it takes ~12 s).
 */
#include "testlib.h"
#include "core/alloc.h"
#include "core/json.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define ARG(s) ((char *)(uintptr_t)(s))
#define RUN_MAX_MS 120000

static char *dir;

/* Run argv with stdout and stderr to out_path; the exit code or -1. */
static int run_bounded(char *const argv[], const char *out_path)
{
    struct timespec nap = {0, 50 * 1000 * 1000};
    pid_t pid = fork();
    int status;

    if (pid < 0)
        return -1;
    if (pid == 0) {
        int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execv(argv[0], argv);
        _exit(127);
    }
    for (int i = 0; i < RUN_MAX_MS / 50; i++) {
        if (waitpid(pid, &status, WNOHANG) == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        nanosleep(&nap, NULL);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -1;
}

static void assert_int_field(const json_t *rep, const char *key)
{
    json_t *v = json_object_get(rep, key);

    if (!json_is_integer(v))
        fail_msg("report field %s missing or not an integer", key);
    if (json_integer_value(v) < 0)
        fail_msg("report field %s is negative", key);
}

static void small_demo_holds_its_invariants(void **state)
{
    char *report = sgt_path(dir, "report.json");
    char *out_path = sgt_path(dir, "demo.out");
    char *work = sgt_path(dir, "run");
    char *argv[] = {ARG(sgt_surge_bin()), ARG("demo"), ARG("--scale"),
                    ARG("small"), ARG("--dir"), work, ARG("--report"),
                    report, NULL};
    static const char *ints[] = {
        "orders", "units", "gmv", "oversold_units", "rate_limited",
        "retries", "webhook_to_reserved_p50_ms",
        "webhook_to_reserved_p99_ms", "api_calls_total"};
    char *out, *text;
    json_t *rep, *calls;
    struct stat sb;
    int code;

    (void)state;
    code = run_bounded(argv, out_path);
    out = sgt_read_file(out_path, NULL);
    if (code != 0) {
        /* cmocka cuts its messages at 1 KiB: the whole output first. */
        fputs(out ? out : "", stderr);
        fail_msg("surge demo exited %d (output above)", code);
    }
    assert_non_null(out);
    assert_non_null(strstr(out, "invariants: all held"));
    assert_non_null(strstr(out, "oversold units 0"));
    text = sgt_read_file(report, NULL);
    assert_non_null(text);
    rep = json_loads(text, 0, NULL);
    assert_non_null(rep);

    for (size_t i = 0; i < SG_ARRAY_SIZE(ints); i++)
        assert_int_field(rep, ints[i]);
    assert_true(json_is_true(json_object_get(rep, "invariants_ok")));
    assert_int_equal(sg_json_int(rep, "oversold_units", -1), 0);
    /* Traffic happened and reached Surge. */
    assert_true(sg_json_int(rep, "orders", 0) > 0);
    assert_true(sg_json_int(rep, "units", 0) >= sg_json_int(rep, "orders",
                                                            0) -
                                                    sg_json_int(rep,
                                                                "cancelled",
                                                                0));
    assert_true(sg_json_int(rep, "gmv", 0) > 0);
    assert_true(sg_json_int(rep, "webhook_to_reserved_p99_ms", -1) >=
                sg_json_int(rep, "webhook_to_reserved_p50_ms", 0));
    assert_true(sg_json_int(rep, "latency_samples", 0) > 0);
    /* Limited stock: the live stream sold some products out. */
    assert_true(sg_json_int(rep, "rejected_out_of_stock", 0) > 0);
    /* API calls by endpoint, summing to the total. */
    calls = json_object_get(rep, "api_calls");
    assert_true(json_is_object(calls));
    assert_non_null(json_object_get(calls, "GET /order/202309/orders"));
    {
        const char *k;
        json_t *v;
        json_int_t sum = 0;

        json_object_foreach(calls, k, v) {
            assert_true(json_is_integer(v));
            sum += json_integer_value(v);
        }
        assert_int_equal(sum, sg_json_int(rep, "api_calls_total", -1));
    }
    /* Every invariant by name, and the store where the report says. */
    {
        json_t *inv = json_object_get(rep, "invariants");
        const char *k;
        json_t *v;

        assert_true(json_object_size(inv) >= 5);
        json_object_foreach(inv, k, v)
            if (!json_is_true(v))
                fail_msg("invariant %s failed", k);
    }
    assert_non_null(sg_json_str(rep, "store"));
    assert_int_equal(stat(sg_json_str(rep, "store"), &sb), 0);
    assert_non_null(sg_json_str(json_object_get(rep, "fulfilment"),
                                "status"));

    json_decref(rep);
    sg_free(text);
    sg_free(out);
    sg_free(work);
    sg_free(out_path);
    sg_free(report);
}

static void bad_scale_is_a_usage_error(void **state)
{
    char *out_path = sgt_path(dir, "usage.out");
    char *argv[] = {ARG(sgt_surge_bin()), ARG("demo"), ARG("--scale"),
                    ARG("huge"), NULL};
    char *out;

    (void)state;
    assert_int_equal(run_bounded(argv, out_path), 2);
    out = sgt_read_file(out_path, NULL);
    assert_non_null(out);
    assert_non_null(strstr(out, "--scale"));
    sg_free(out);
    sg_free(out_path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bad_scale_is_a_usage_error),
        cmocka_unit_test(small_demo_holds_its_invariants),
    };
    int rc;

    dir = sgt_tmpdir();
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    sg_free(dir);
    return rc;
}
