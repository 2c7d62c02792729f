/*
 * log.h - logfmt lines on stderr, one event per line.
 *
 * Format: ts=<RFC3339 ms> level=<lvl> comp=<component> <fields...>. Values
 * registered as secrets are replaced by "***" in every line, centrally, so
 * a careless format string cannot leak a key. Thread-safe.
 */
#ifndef SG_LOG_H
#define SG_LOG_H

#include "sg.h"

enum sg_log_level {
    SG_LOG_ERR = 0,
    SG_LOG_WARN = 1,
    SG_LOG_INFO = 2,
    SG_LOG_DEBUG = 3,
};

void sg_log(int level, const char *component, const char *fmt, ...)
    SG_PRINTF(3, 4);
void sg_log_set_level(int level);
int sg_log_level(void);
/* Parse "error|warn|info|debug"; returns -1 on an unknown name. */
int sg_log_level_parse(const char *name);
/* Redirect output (tests); NULL means stderr. */
void sg_log_set_file(FILE *f);

/*
 * Mask this value (at least 6 bytes long, else ignored) in every later log
 * line. The string is copied. Returns 0 or SG_ELIMIT when the table is full.
 */
int sg_log_add_secret(const char *secret);
void sg_log_clear_secrets(void);

/*
 * Name the calling thread (at most 15 bytes are kept) so that top, perf
 * and /proc/PID/task/TID/comm tell the store writer, the HTTP loops and
 * the dispatcher apart. Best effort: a failure is ignored.
 */
void sg_thread_set_name(const char *name);

#endif
