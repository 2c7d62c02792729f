/*
 * proc.h - child processes for commands that orchestrate other surge
 * commands (surge demo): run one to completion capturing its output, or
 * start a server and wait for its "listening on URL" line. Every wait is
 * bounded.
 */
#ifndef SG_CLI_PROC_H
#define SG_CLI_PROC_H

#include "core/sg.h"

#include <sys/types.h>

struct sg_proc {
    pid_t pid;
    int out_fd;
    char url[160];
};

/* The running executable's path (for re-running surge itself). */
const char *sg_proc_self(void);

/*
 * Run argv (NULL-ended) to completion within timeout_ms; stdout (capped at
 * 1 MiB) goes to *out (sg_alloc'd, may be NULL to discard); stderr goes to
 * err_path (NULL = inherit). Returns the exit status, or -1.
 */
int sg_proc_run(char *const argv[], const char *err_path, char **out,
                unsigned timeout_ms);

/*
 * Start argv with stderr to err_path and wait up to timeout_ms for a stdout
 * line containing "listening on URL". Returns 0 and fills p, or -1 (the
 * child is killed).
 */
int sg_proc_start(struct sg_proc *p, char *const argv[],
                  const char *err_path, unsigned timeout_ms);
/* Signal the child and reap it (SIGKILL after 10 s). Returns the wait
 * status or -1. */
int sg_proc_stop(struct sg_proc *p, int sig);

#endif
