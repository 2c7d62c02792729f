/*
 * test_torture_rules.c - the D5 harness's own test: its heap rule
 * (tests/lib/torture.c, heap_judge). A run's heap change is judged with
 * the next run's; one the next run cancels exactly is not a leak, any
 * other is reported at the run that made it. Each sweep runs in a forked
 * child, since a sweep that reports fails its cmocka test: the child's
 * exit code and output are what is checked.
 */
#include "core/alloc.h"
#include "testlib.h"
#include "torture.h"

#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

/* Allocations per run: the sweep runs n = 1..SITES, then LAST. */
#define SITES    3
#define LAST     (SITES + 1)
#define HELD_MAX 4
#define OUT_MAX  16384

/*
 * A synthetic operation: SITES small allocations, all freed, so a clean
 * run leaves the heap as it was (the per-run check is on). Its teardown
 * then changes the heap as the case says for the run's n.
 */
struct heap_op {
    const char *name;
    /*
     * By n: above zero, keep a new block of that many bytes; below zero,
     * free the block of that size kept last.
     */
    long step[LAST + 1];
    size_t plant; /* a block kept from before the sweep (0: none) */
    void *held[HELD_MAX];
    size_t held_size[HELD_MAX];
    int nheld;
    bool swept;      /* a run has failed: the clean runs are over */
    unsigned long n; /* the current run's n; 0 in a clean run */
    /*
     * By n: how far the step moved the heap, in memory shared with the
     * parent. Not the step's size: glibc may hand a 16-byte request a
     * 48-byte chunk, when a smaller one would leave too small a rest.
     */
    long long *moved;
};

struct outcome {
    int status; /* the child's exit code; -1 if it did not exit */
    char out[OUT_MAX];
    long long moved[LAST + 1];
};

static void keep(struct heap_op *o, size_t size)
{
    void *p = sg_alloc(size);

    if (!p || o->nheld == HELD_MAX)
        fail_msg("%s: cannot keep a %zu-byte block", o->name, size);
    o->held[o->nheld] = p;
    o->held_size[o->nheld++] = size;
}

/* Free the block of that size kept last. */
static void drop(struct heap_op *o, size_t size)
{
    int i = o->nheld - 1;

    while (i >= 0 && o->held_size[i] != size)
        i--;
    if (i < 0)
        fail_msg("%s: no %zu-byte block kept to free", o->name, size);
    sg_free(o->held[i]);
    for (; i + 1 < o->nheld; i++) {
        o->held[i] = o->held[i + 1];
        o->held_size[i] = o->held_size[i + 1];
    }
    o->nheld--;
}

/*
 * The sweep does not tell an operation its n, but allocation n is the
 * one that fails; a run where none fails after the sweep has begun is
 * the last one.
 */
static int op_run(void *arg, struct sg_err *err)
{
    struct heap_op *o = arg;
    void *p[SITES] = {NULL};
    int rc = 0;

    o->n = 0;
    for (int i = 0; i < SITES && rc == 0; i++) {
        p[i] = sg_alloc(24);
        if (!p[i]) {
            o->n = (unsigned long)i + 1;
            o->swept = true;
            rc = sg_err_set(err, SG_ENOMEM, "out of memory");
        }
    }
    if (rc == 0 && o->swept)
        o->n = LAST;
    for (int i = 0; i < SITES; i++)
        sg_free(p[i]);
    return rc;
}

/* Inside the measured run, with nothing armed, so it adds no site. */
static void op_teardown(void *arg)
{
    struct heap_op *o = arg;
    long step = o->step[o->n];
    size_t before = sgt_heap_bytes();

    if (step > 0)
        keep(o, (size_t)step);
    else if (step < 0)
        drop(o, (size_t)-step);
    o->moved[o->n] = (long long)sgt_heap_bytes() - (long long)before;
}

/* The nested cmocka test the child runs. */
static void sweep_case(void **state)
{
    struct heap_op *o = *state;
    struct sgt_torture_op op = {.name = o->name,
                                .arg = o,
                                .run = op_run,
                                .teardown = op_teardown,
                                .heap_no_wait = true};
    struct sgt_torture_stats st;

    if (o->plant)
        keep(o, o->plant);
    sgt_torture_sweep(&op, &st);
    /* Reached only when the sweep reported nothing. */
    assert_int_equal(st.sites, SITES);
    assert_int_equal(st.runs, SITES);
    assert_int_equal(st.errors, SITES);
}

static void read_all(int fd, struct outcome *res)
{
    size_t len = 0;
    char sink[512];

    for (;;) {
        size_t room = sizeof(res->out) - 1 - len;
        ssize_t k = room ? read(fd, res->out + len, room)
                         : read(fd, sink, sizeof(sink));

        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        if (room)
            len += (size_t)k;
    }
    res->out[len] = '\0';
}

/*
 * Sweep o in a child (a sweep that reports fails the test it runs in,
 * so it gets a cmocka run of its own there) and collect its exit code
 * and its stdout and stderr.
 */
static void sweep_in_child(struct heap_op *o, struct outcome *res)
{
    size_t moved_len = sizeof(res->moved);
    int fds[2], ws;
    pid_t pid;

    o->moved = mmap(NULL, moved_len, PROT_READ | PROT_WRITE,
                    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert_true(o->moved != MAP_FAILED);
    memset(o->moved, 0, moved_len);
    assert_int_equal(pipe(fds), 0);
    fflush(stdout); /* else the child writes our buffered lines again */
    fflush(stderr);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        const struct CMUnitTest t[] = {
            cmocka_unit_test_prestate(sweep_case, o),
        };
        int failed;

        if (dup2(fds[1], 1) < 0 || dup2(fds[1], 2) < 0)
            _exit(125);
        close(fds[0]);
        close(fds[1]);
        alarm(30); /* a few runs take milliseconds; never hang the test */
        /* Plain text here, whatever format (XML to a file) we were given. */
        unsetenv("CMOCKA_MESSAGE_OUTPUT");
        cmocka_set_message_output(CM_OUTPUT_STDOUT);
        failed = cmocka_run_group_tests_name(o->name, t, NULL, NULL);
        while (o->nheld > 0)
            sg_free(o->held[--o->nheld]);
        fflush(NULL);
        _exit(failed ? 1 : 0);
    }
    close(fds[1]);
    read_all(fds[0], res);
    close(fds[0]);
    while (waitpid(pid, &ws, 0) < 0)
        assert_int_equal(errno, EINTR);
    res->status = WIFEXITED(ws) ? WEXITSTATUS(ws) : -1;
    memcpy(res->moved, o->moved, moved_len);
    munmap(o->moved, moved_len);
    o->moved = NULL;
}

static void fail_with_output(const struct outcome *res, const char *what)
{
    print_message("---- the child's output (exit %d)\n%s----\n", res->status,
                  res->out);
    fail_msg("%s", what);
}

static int count(const char *s, const char *what)
{
    int k = 0;

    for (s = strstr(s, what); s; s = strstr(s + 1, what))
        k++;
    return k;
}

/*
 * The sweep printed exactly `reports` violations and failed if it printed
 * any, with the per-run check on (a clean run that moved the heap would
 * turn it off, and then nothing would be reported).
 */
static void expect_reports(const struct outcome *res, int reports)
{
    char what[128];

    if (strstr(res->out, "leak check off"))
        fail_with_output(res, "the per-run leak check was off");
    if (count(res->out, "D5 FAIL") != reports) {
        snprintf(what, sizeof(what), "want %d D5 FAIL line(s)", reports);
        fail_with_output(res, what);
    }
    if (reports > 0 && res->status == 0)
        fail_with_output(res, "the sweep reported but did not fail");
    if (reports == 0 && res->status != 0)
        fail_with_output(res, "the sweep failed");
}

/* Run n's step is reported as a leak of what it moved, at run n. */
static void expect_leak(const struct outcome *res, const struct heap_op *o,
                        unsigned long n)
{
    long long bytes = res->moved[n];
    char line[256];

    /* At least the block's size, up or down: the step did happen. */
    if (o->step[n] > 0 ? bytes < o->step[n] : bytes > o->step[n])
        fail_with_output(res, "a run's step did not move the heap");
    snprintf(line, sizeof(line),
             "D5 FAIL %s: allocation %lu: the heap grew by %lld bytes "
             "(a leak)\n",
             o->name, n, bytes);
    if (!strstr(res->out, line))
        fail_with_output(res, line);
}

/*
 * A block kept by one run and freed by the next (a fixture thread that
 * holds a block until the next request wakes it) is no leak, however
 * often it happens. A rule that reported every change would report 4.
 */
static void test_cancelled_change_is_no_leak(void **state)
{
    static struct heap_op o = {
        .name = "kept then freed, twice",
        .step = {[1] = 16, [2] = -16, [3] = 16, [LAST] = -16}};
    static struct outcome res;

    SG_UNUSED(state);
    sweep_in_child(&o, &res);
    expect_reports(&res, 0);
}

/* A block kept for good by run 2 is reported at run 2, one run later. */
static void test_leak_reported_at_its_run(void **state)
{
    static struct heap_op o = {.name = "leak at allocation 2",
                               .step = {[2] = 40}};
    static struct outcome res;

    SG_UNUSED(state);
    sweep_in_child(&o, &res);
    expect_reports(&res, 1);
    expect_leak(&res, &o, 2);
}

/* The last run has no next run: its leak is reported at the end. */
static void test_leak_in_last_run(void **state)
{
    static struct heap_op o = {.name = "leak in the last run",
                               .step = {[LAST] = 40}};
    static struct outcome res;

    SG_UNUSED(state);
    sweep_in_child(&o, &res);
    expect_reports(&res, 1);
    expect_leak(&res, &o, LAST);
}

/*
 * +40 then -16 cancels nothing: the 40 is a leak of run 2, and the -16
 * (a block from before the sweep, freed by run 3) is a change no run
 * cancels, reported too (as the heap growing by minus its size).
 */
static void test_leak_then_other_free(void **state)
{
    static struct heap_op o = {.name = "leak then a smaller free",
                               .step = {[2] = 40, [3] = -16},
                               .plant = 16};
    static struct outcome res;

    SG_UNUSED(state);
    sweep_in_child(&o, &res);
    expect_reports(&res, 2);
    expect_leak(&res, &o, 2);
    expect_leak(&res, &o, 3);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cancelled_change_is_no_leak),
        cmocka_unit_test(test_leak_reported_at_its_run),
        cmocka_unit_test(test_leak_in_last_run),
        cmocka_unit_test(test_leak_then_other_free),
    };

    SG_UNUSED(argc);
    sgt_torture_init(argv);
    /* Every sweep here is every n, whatever the caller's settings. */
    unsetenv("SG_TORTURE_QUICK");
    unsetenv("SG_TORTURE_ONLY");
    unsetenv("SG_TORTURE_AT");
    unsetenv("SG_TORTURE_FROM");
    return cmocka_run_group_tests(tests, NULL, NULL);
}
