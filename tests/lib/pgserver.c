/*
 * pgserver.c - the throwaway PostgreSQL server of the "pg" tests (see
 * pgserver.h). All the slow work (initdb, start, stop) happens in the
 * guardian process, which reports "started" over one pipe and waits for
 * the other to close.
 */
#include "core/sg.h"

#include <fcntl.h>
#include <glob.h>
#include <libpq-fe.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/alloc.h"
#include "pgserver.h"
#include "testlib.h"

struct sgt_pg {
    char *dir;          /* temporary folder: data/, the socket, logs */
    char bindir[512];   /* where initdb and pg_ctl are */
    pid_t guardian;
    int ctl_fd;         /* closing it tells the guardian to stop */
    unsigned next_db;
    bool as_pg;         /* root: the server runs as the postgres user */
};

static bool is_exec(const char *dir, const char *name)
{
    char p[600];

    snprintf(p, sizeof(p), "%s/%s", dir, name);
    return access(p, X_OK) == 0;
}

/*
 * Debian keeps the server programs in /usr/lib/postgresql/<major>/bin,
 * off PATH; SG_PG_BINDIR overrides, PATH is the last resort.
 */
static int find_bindir(char *out, size_t cap)
{
    const char *env = getenv("SG_PG_BINDIR");
    const char *path = getenv("PATH");
    glob_t g;
    int found = -1;

    if (env && *env && is_exec(env, "initdb") && is_exec(env, "pg_ctl")) {
        snprintf(out, cap, "%s", env);
        return 0;
    }
    if (glob("/usr/lib/postgresql/*/bin", 0, NULL, &g) == 0) {
        for (size_t i = g.gl_pathc; i-- > 0 && found < 0;) {
            if (is_exec(g.gl_pathv[i], "initdb") &&
                is_exec(g.gl_pathv[i], "pg_ctl")) {
                snprintf(out, cap, "%s", g.gl_pathv[i]);
                found = 0;
            }
        }
        globfree(&g);
    }
    while (found < 0 && path && *path) {
        const char *end = strchr(path, ':');
        size_t n = end ? (size_t)(end - path) : strlen(path);
        char dir[512];

        if (n && n < sizeof(dir)) {
            memcpy(dir, path, n);
            dir[n] = '\0';
            if (is_exec(dir, "initdb") && is_exec(dir, "pg_ctl")) {
                snprintf(out, cap, "%s", dir);
                found = 0;
            }
        }
        path = end ? end + 1 : NULL;
    }
    return found;
}

/* Run argv (as the postgres user when we are root), output to log. */
static int run_logged(const char *const argv[], const char *log, bool as_pg)
{
    const char *runuser = access("/usr/sbin/runuser", X_OK) == 0
                              ? "/usr/sbin/runuser"
                              : "/sbin/runuser";
    const char *cfull[32];
    char *full[32];
    size_t n = 0, i;
    int status = 0, fd;
    pid_t pid;

    if (as_pg) {
        cfull[n++] = runuser;
        cfull[n++] = "-u";
        cfull[n++] = "postgres";
        cfull[n++] = "--";
    }
    for (i = 0; argv[i] && n + 1 < SG_ARRAY_SIZE(cfull); i++)
        cfull[n++] = argv[i];
    cfull[n] = NULL;
    /* execv's prototype wants char *const[]; it does not write them. */
    memcpy(full, cfull, (n + 1) * sizeof(full[0]));
    pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd >= 0)
            dup2(fd, 0);
        execv(full[0], full);
        _exit(127);
    }
    if (waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void remove_tree(const char *dir)
{
    const char *argv[] = {"/bin/rm", "-rf", dir, NULL};

    run_logged(argv, "/dev/null", false);
}

static int write_conf(const char *dir)
{
    char p[600];
    FILE *f;

    snprintf(p, sizeof(p), "%s/data/postgresql.conf", dir);
    f = fopen(p, "a");
    if (!f)
        return -1;
    /* Unix socket only, in our folder; durable as in production. */
    fprintf(f,
            "\n# surge test server\n"
            "listen_addresses = ''\n"
            "unix_socket_directories = '%s'\n"
            "fsync = on\n"
            "synchronous_commit = on\n"
            "max_connections = 60\n"
            "shared_buffers = 32MB\n"
            "min_wal_size = 4MB\n"
            "max_wal_size = 64MB\n"
            "log_min_messages = warning\n",
            dir);
    return fclose(f) == 0 ? 0 : -1;
}

/* The guardian: start, report, wait for the test to go, stop, clean. */
static void guardian_main(struct sgt_pg *pg, int ctl_fd, int status_fd,
                          bool as_pg)
{
    char data[600], log[600], srvlog[600], initdb[600], pg_ctl[600];
    char ok = 1;
    char buf[16];

    snprintf(data, sizeof(data), "%s/data", pg->dir);
    /* setup.log is ours (root's); postgres.log the server's own. */
    snprintf(log, sizeof(log), "%s/setup.log", pg->dir);
    snprintf(srvlog, sizeof(srvlog), "%s/postgres.log", pg->dir);
    snprintf(initdb, sizeof(initdb), "%s/initdb", pg->bindir);
    snprintf(pg_ctl, sizeof(pg_ctl), "%s/pg_ctl", pg->bindir);
    {
        /* --no-sync only spares initdb's own flush of a throwaway folder */
        const char *argv[] = {initdb, "-D", data, "-U", "surge",
                              "-A", "trust", "-E", "UTF8", "--locale=C",
                              "--no-sync", "--wal-segsize=1", NULL};

        if (run_logged(argv, log, as_pg) != 0 || write_conf(pg->dir) != 0)
            ok = 0;
    }
    if (ok) {
        const char *argv[] = {pg_ctl, "-D", data,   "-l",    srvlog,
                              "-w",   "-t", "60", "start", NULL};

        if (run_logged(argv, log, as_pg) != 0)
            ok = 0;
    }
    if (write(status_fd, &ok, 1) != 1)
        ok = 0;
    close(status_fd);
    /* Until the test closes its end (sgt_pg_stop, exit or crash). */
    while (read(ctl_fd, buf, sizeof(buf)) > 0)
        ;
    {
        const char *argv[] = {pg_ctl, "-D", data, "-m", "immediate",
                              "-w",   "-t", "30", "stop", NULL};

        run_logged(argv, "/dev/null", as_pg);
    }
    remove_tree(pg->dir);
    _exit(0);
}

static void print_log(const struct sgt_pg *pg)
{
    static const char *const logs[] = {"setup.log", "postgres.log"};
    char p[600];
    char *text;

    for (size_t i = 0; i < SG_ARRAY_SIZE(logs); i++) {
        snprintf(p, sizeof(p), "%s/%s", pg->dir, logs[i]);
        text = sgt_read_file(p, NULL);
        fprintf(stderr, "pgserver: %s:\n%s\n", logs[i],
                text ? text : "(none)");
        sg_free(text);
    }
}

/*
 * The server's folder: on /dev/shm when there is one, so the fsyncs the
 * server does (fsync stays on) cost what they cost on tmpfs, not the
 * shared disk's tens of milliseconds per commit; else as sgt_tmpdir.
 */
static char *pg_tmpdir(void)
{
    char tmpl[64];
    struct stat st;
    struct statvfs vfs;

    /* A container's /dev/shm may be 64 MiB: use it only with room to spare
     * (a server here takes about 30 MiB). */
    if (stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) &&
        access("/dev/shm", W_OK) == 0 && statvfs("/dev/shm", &vfs) == 0 &&
        (uint64_t)vfs.f_bavail * vfs.f_frsize >= (256ull << 20)) {
        snprintf(tmpl, sizeof(tmpl), "/dev/shm/surge-pg-XXXXXX");
        if (mkdtemp(tmpl))
            return sg_strdup(tmpl);
    }
    return sgt_tmpdir();
}

int sgt_pg_start(struct sgt_pg **out)
{
    struct sgt_pg *pg;
    struct passwd *pw = NULL;
    int ctl[2], st[2];
    bool as_pg = geteuid() == 0;
    char ok = 0;

    *out = NULL;
    pg = sg_calloc(1, sizeof(*pg));
    if (!pg)
        return -1;
    pg->ctl_fd = -1;
    pg->as_pg = as_pg;
    if (find_bindir(pg->bindir, sizeof(pg->bindir)) != 0) {
        fprintf(stderr,
                "pgserver: PostgreSQL's server programs (initdb, pg_ctl) "
                "are not installed: looked in $SG_PG_BINDIR, "
                "/usr/lib/postgresql/*/bin and PATH. Install the "
                "postgresql package (scripts/bootstrap does).\n");
        sg_free(pg);
        return SGT_PG_MISSING;
    }
    if (as_pg) {
        pw = getpwnam("postgres");
        if (!pw) {
            fprintf(stderr, "pgserver: running as root but there is no "
                            "postgres user to run the server as\n");
            sg_free(pg);
            return -1;
        }
    }
    pg->dir = pg_tmpdir();
    if (!pg->dir || (pw && chown(pg->dir, pw->pw_uid, pw->pw_gid) != 0)) {
        fprintf(stderr, "pgserver: cannot prepare a temporary folder\n");
        if (pg->dir)
            rmdir(pg->dir);
        sg_free(pg->dir);
        sg_free(pg);
        return -1;
    }
    if (pipe(ctl) != 0 || pipe(st) != 0 ||
        fcntl(ctl[0], F_SETFD, FD_CLOEXEC) != 0 ||
        fcntl(ctl[1], F_SETFD, FD_CLOEXEC) != 0 ||
        fcntl(st[0], F_SETFD, FD_CLOEXEC) != 0 ||
        fcntl(st[1], F_SETFD, FD_CLOEXEC) != 0) {
        rmdir(pg->dir);
        sg_free(pg->dir);
        sg_free(pg);
        return -1;
    }
    pg->guardian = fork();
    if (pg->guardian == 0) {
        close(ctl[1]);
        close(st[0]);
        /* Its own process group: a ^C to the test still lets it clean. */
        setpgid(0, 0);
        signal(SIGINT, SIG_IGN);
        guardian_main(pg, ctl[0], st[1], as_pg);
    }
    close(ctl[0]);
    close(st[1]);
    pg->ctl_fd = ctl[1];
    if (pg->guardian < 0 || read(st[0], &ok, 1) != 1 || !ok) {
        close(st[0]);
        print_log(pg);
        sgt_pg_stop(pg);
        return -1;
    }
    close(st[0]);
    *out = pg;
    return 0;
}

long sgt_pg_end_sessions(const char *dsn, const char *app)
{
    const char *param[1] = {app};
    char list[2048] = "", sql[2300];
    PGconn *c = PQconnectdb(dsn);
    PGresult *r;
    long n = -1, left = -1;
    size_t used = 0;

    /* Which sessions, then end those: ones the client opens after are
     * not waited for. */
    r = PQexecParams(c, "SELECT pid FROM pg_stat_activity WHERE pid <> "
                        "pg_backend_pid() AND backend_type = 'client "
                        "backend' AND application_name LIKE $1",
                     1, NULL, param, NULL, NULL, 0);
    if (PQresultStatus(r) == PGRES_TUPLES_OK) {
        n = 0;
        for (int i = 0; i < PQntuples(r) && used + 16 < sizeof(list); i++) {
            used += (size_t)snprintf(list + used, sizeof(list) - used,
                                     "%s%s", n ? "," : "",
                                     PQgetvalue(r, i, 0));
            n++;
        }
    }
    PQclear(r);
    if (n <= 0) {
        PQfinish(c);
        return n;
    }
    snprintf(sql, sizeof(sql),
             "SELECT count(pg_terminate_backend(pid)) FROM "
             "pg_stat_activity WHERE pid IN (%s)", list);
    r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        n = -1;
    PQclear(r);
    /* pg_terminate_backend only signals: wait for the sessions to end. */
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM pg_stat_activity WHERE pid IN (%s)", list);
    for (int i = 0; n > 0 && i < 200 && left != 0; i++) {
        r = PQexec(c, sql);
        left = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1
                   ? strtol(PQgetvalue(r, 0, 0), NULL, 10)
                   : -1;
        PQclear(r);
        if (left != 0)
            usleep(25 * 1000);
    }
    PQfinish(c);
    return left == 0 ? n : -1;
}

int sgt_pg_crash_restart(struct sgt_pg *pg)
{
    char data[600], log[600], srvlog[600], pg_ctl[600];

    snprintf(data, sizeof(data), "%s/data", pg->dir);
    snprintf(log, sizeof(log), "%s/setup.log", pg->dir);
    snprintf(srvlog, sizeof(srvlog), "%s/postgres.log", pg->dir);
    snprintf(pg_ctl, sizeof(pg_ctl), "%s/pg_ctl", pg->bindir);
    {
        /* immediate: every server process quits at once, no checkpoint;
         * the next start replays the WAL (crash recovery). */
        const char *argv[] = {pg_ctl, "-D", data, "-m", "immediate",
                              "-w",   "-t", "60", "stop", NULL};

        if (run_logged(argv, log, pg->as_pg) != 0)
            return -1;
    }
    {
        const char *argv[] = {pg_ctl, "-D", data,   "-l",    srvlog,
                              "-w",   "-t", "60", "start", NULL};

        if (run_logged(argv, log, pg->as_pg) != 0) {
            print_log(pg);
            return -1;
        }
    }
    return 0;
}

const char *sgt_pg_dir(const struct sgt_pg *pg)
{
    return pg->dir;
}

int sgt_pg_main_start(struct sgt_pg **out)
{
    const char *ci = getenv("CI");
    int rc = sgt_pg_start(out);

    if (rc == 0)
        return 0;
    if (rc == SGT_PG_MISSING && !(ci && strcmp(ci, "true") == 0)) {
        fprintf(stderr,
                "\n*** SKIPPED: this test needs PostgreSQL and it is not "
                "installed. In CI (CI=true) this is a failure. ***\n\n");
        return 77;
    }
    fprintf(stderr, "pgserver: FAILED to start a PostgreSQL server%s\n",
            rc == SGT_PG_MISSING ? " (not installed; CI=true)" : "");
    return 1;
}

int sgt_pg_createdb(struct sgt_pg *pg, char *dsn, size_t cap)
{
    char admin[700], sql[64], name[32];
    PGconn *c;
    PGresult *r;
    int rc = 0;

    snprintf(admin, sizeof(admin), "host=%s user=surge dbname=postgres",
             pg->dir);
    /*
     * A schema, not a database: CREATE DATABASE copies a template and
     * flushes it (most of a second on a busy machine, per test); a schema
     * on the search path isolates a test's tables just as well.
     */
    snprintf(name, sizeof(name), "t%u", pg->next_db++);
    snprintf(sql, sizeof(sql), "CREATE SCHEMA %s", name);
    c = PQconnectdb(admin);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "pgserver: connect: %s", PQerrorMessage(c));
        PQfinish(c);
        return -1;
    }
    r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        fprintf(stderr, "pgserver: %s: %s", sql, PQerrorMessage(c));
        rc = -1;
    }
    PQclear(r);
    PQfinish(c);
    snprintf(dsn, cap,
             "host=%s user=surge dbname=postgres options=-csearch_path=%s",
             pg->dir, name);
    return rc;
}

void sgt_pg_stop(struct sgt_pg *pg)
{
    int status;

    if (!pg)
        return;
    if (pg->ctl_fd >= 0)
        close(pg->ctl_fd);
    if (pg->guardian > 0)
        waitpid(pg->guardian, &status, 0);
    sg_free(pg->dir);
    sg_free(pg);
}
