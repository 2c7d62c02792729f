/*
 * proc.c - fork/exec helpers with bounded waits, for surge demo.
 */
#include "cli/proc.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/clock.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#define OUT_MAX (1u << 20)

const char *sg_proc_self(void)
{
    static char path[4096];
    ssize_t n;

    if (path[0])
        return path;
    n = readlink("/proc/self/exe", path, sizeof(path) - 1);
    if (n <= 0)
        return "surge";
    path[n] = '\0';
    return path;
}

static pid_t spawn(char *const argv[], const char *err_path, int *out_fd)
{
    int p[2];
    pid_t pid;

    if (pipe(p) != 0)
        return -1;
    pid = fork();
    if (pid < 0) {
        close(p[0]);
        close(p[1]);
        return -1;
    }
    if (pid == 0) {
        int null = open("/dev/null", O_RDONLY);

        if (null >= 0)
            dup2(null, 0);
        dup2(p[1], 1);
        if (err_path) {
            int e = open(err_path, O_WRONLY | O_CREAT | O_APPEND, 0600);

            if (e >= 0)
                dup2(e, 2);
        }
        close(p[0]);
        execv(argv[0], argv);
        _exit(127);
    }
    close(p[1]);
    *out_fd = p[0];
    return pid;
}

static int reap(pid_t pid, int64_t deadline_ms)
{
    int status;

    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);

        if (r == pid)
            return status;
        if (r < 0)
            return -1;
        if (sg_mono_ms() > deadline_ms) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return -1;
        }
        usleep(2000);
    }
}

int sg_proc_run(char *const argv[], const char *err_path, char **out,
                unsigned timeout_ms)
{
    int64_t deadline = sg_mono_ms() + timeout_ms;
    struct sg_buf b;
    char chunk[4096];
    int fd, status;
    pid_t pid = spawn(argv, err_path, &fd);

    if (out)
        *out = NULL;
    if (pid < 0)
        return -1;
    sg_buf_init(&b, OUT_MAX);
    for (;;) {
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        int64_t left = deadline - sg_mono_ms();
        ssize_t n;

        if (left <= 0 || poll(&pf, 1, (int)left) <= 0)
            break;
        n = read(fd, chunk, sizeof(chunk));
        if (n <= 0)
            break;
        sg_buf_append(&b, chunk, (size_t)n);
    }
    close(fd);
    status = reap(pid, deadline);
    if (out)
        *out = sg_buf_detach(&b, NULL);
    else
        sg_buf_release(&b);
    if (status < 0 || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

int sg_proc_start(struct sg_proc *p, char *const argv[],
                  const char *err_path, unsigned timeout_ms)
{
    int64_t deadline = sg_mono_ms() + timeout_ms;
    char line[512];
    size_t n = 0;

    memset(p, 0, sizeof(*p));
    p->pid = spawn(argv, err_path, &p->out_fd);
    if (p->pid < 0)
        return -1;
    for (;;) {
        struct pollfd pf = {.fd = p->out_fd, .events = POLLIN};
        int64_t left = deadline - sg_mono_ms();
        char c;

        if (left <= 0 || poll(&pf, 1, (int)left) <= 0 ||
            read(p->out_fd, &c, 1) != 1)
            break;
        if (c != '\n') {
            if (n + 1 < sizeof(line))
                line[n++] = c;
            continue;
        }
        line[n] = '\0';
        n = 0;
        if (strstr(line, "listening on ")) {
            snprintf(p->url, sizeof(p->url), "%s",
                     strstr(line, "listening on ") + 13);
            return 0;
        }
    }
    sg_proc_stop(p, SIGKILL);
    return -1;
}

int sg_proc_stop(struct sg_proc *p, int sig)
{
    int status;

    if (p->pid <= 0)
        return -1;
    kill(p->pid, sig);
    status = reap(p->pid, sg_mono_ms() + 10000);
    close(p->out_fd);
    p->pid = -1;
    return status;
}
