/*
 * testlib.h - helpers shared by Surge's tests: temporary folders, running
 * the surge binary as a child process, and HTTP calls with libcurl over
 * real loopback sockets. Every wait here is bounded.
 */
#ifndef SG_TESTLIB_H
#define SG_TESTLIB_H

#include "core/sg.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/types.h>

#include <cmocka.h>

/* A fresh private folder (0700); sg_free the result. */
char *sgt_tmpdir(void);
/* path = dir + "/" + name, sg_alloc'd. */
char *sgt_path(const char *dir, const char *name);
int sgt_write_file(const char *path, const char *content);
/* Whole file, NUL-terminated, sg_alloc'd; NULL if unreadable. */
char *sgt_read_file(const char *path, size_t *len_out);
/* The surge binary under test. */
const char *sgt_surge_bin(void);

struct sgt_proc {
    pid_t pid;
    int out_fd;          /* child's stdout (after the ready line) */
    char url[128];       /* from "listening on URL" */
    char *log_path;      /* child's stderr goes here */
};

/*
 * Start argv (argv[0] is the program) with stderr to log_path (may be
 * NULL for /dev/null) and wait up to 30 s for a stdout line
 * "listening on <url>". Returns 0 and fills p, or -1.
 */
int sgt_spawn(struct sgt_proc *p, char *const argv[], const char *log_path);
/* Send sig and reap the child (waits up to 10 s, then SIGKILL). Returns the
 * exit status as from waitpid, or -1. */
int sgt_stop(struct sgt_proc *p, int sig);

/*
 * Run argv to completion (30 s max) with optional stdin text; capture
 * stdout and stderr (sg_alloc'd, may be NULL args). Returns the exit code,
 * or -1 if it did not exit normally.
 */
int sgt_run(char *const argv[], const char *stdin_text, char **out,
            char **err);

struct sgt_resp {
    long status;
    char *body;       /* NUL-terminated */
    size_t len;
    char *headers;    /* raw response headers */
    int curl_code;    /* CURLcode; 0 when a response came */
};

/*
 * One HTTP call. headers is a NULL-terminated list of "Name: value"
 * strings (may be NULL). body may be NULL. Timeout 10 s.
 */
int sgt_http(struct sgt_resp *out, const char *method, const char *url,
             const char *const *headers, const char *body, size_t body_len);
void sgt_resp_free(struct sgt_resp *r);
/* Value of response header name (case-insensitive), sg_alloc'd or NULL. */
char *sgt_resp_header(const struct sgt_resp *r, const char *name);

struct sqlite3;
/*
 * A SQLite store as the release that stopped at migration upto made it:
 * the source tree's src/store/migrations/NNNN_*.sql files 1..upto, in
 * order, each recorded in schema_migrations as the store does, in a new
 * database at path (which must not exist). Fails the test on any error;
 * the caller closes the handle.
 */
struct sqlite3 *sgt_sqlite_at_migration(const char *path, int upto);


struct sg_store;
/*
 * The SQLite store at path with sg_store_cfg_defaults' settings (on
 * whatever VFS is the default when it is called), for the crash and
 * fault tests' child processes. On failure it prints "<who>: store open:
 * <message>" to stderr and returns the sg_store_open code; the caller
 * decides how to exit.
 */
int sgt_store_open_sqlite(struct sg_store **out, const char *path,
                          const char *who);

#endif
