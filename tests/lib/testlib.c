/*
 * testlib.c - shared test helpers: temp folders, child processes and
 * libcurl calls. Every wait is bounded so a hung child fails the test
 * instead of hanging the suite.
 */
#include "testlib.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "store/store.h"

#include <curl/curl.h>
#include <dirent.h>
#include <sqlite3.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define OUTPUT_MAX (16u << 20)

/*
 * The folders sgt_tmpdir made, removed with everything in them when the
 * test program exits, so a run of the suite leaves nothing under TMPDIR
 * (one run used to leave a hundred folders: stores, logs, sandbox state).
 * SG_TEST_KEEP=1 keeps them and names them on stderr, for reading a
 * failed run's logs. A forked child that exits does not remove its
 * parent's folders. Plain arrays, not sg_alloc: the D5 sweeps count and
 * fail sg_alloc's allocations, and the cleanup must not shift them.
 */
#define TMPDIRS_MAX 64

static char tmpdirs[TMPDIRS_MAX][512];
static size_t n_tmpdirs;
static pid_t tmpdirs_pid;
static pthread_mutex_t tmpdirs_lock = PTHREAD_MUTEX_INITIALIZER;

static int remove_entry(const char *path, const struct stat *st, int type,
                        struct FTW *ftw)
{
    SG_UNUSED(st);
    SG_UNUSED(ftw);
    if (type == FTW_DP)
        rmdir(path);
    else
        unlink(path);
    return 0; /* carry on: remove what can be removed */
}

static void tmpdirs_cleanup(void)
{
    const char *keep = getenv("SG_TEST_KEEP");
    bool kept = keep && keep[0] && strcmp(keep, "0") != 0;

    if (getpid() != tmpdirs_pid)
        return;
    pthread_mutex_lock(&tmpdirs_lock);
    for (size_t i = 0; i < n_tmpdirs; i++) {
        if (kept)
            fprintf(stderr, "SG_TEST_KEEP: kept %s\n", tmpdirs[i]);
        else
            nftw(tmpdirs[i], remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    }
    n_tmpdirs = 0;
    pthread_mutex_unlock(&tmpdirs_lock);
}

static void tmpdirs_remember(const char *dir)
{
    pthread_mutex_lock(&tmpdirs_lock);
    if (tmpdirs_pid != getpid()) {
        /* The first folder of this process (or of a forked child that
         * makes its own): clean up at its exit. */
        if (tmpdirs_pid == 0)
            atexit(tmpdirs_cleanup);
        tmpdirs_pid = getpid();
        n_tmpdirs = 0;
    }
    if (n_tmpdirs < TMPDIRS_MAX)
        snprintf(tmpdirs[n_tmpdirs++], sizeof(tmpdirs[0]), "%s", dir);
    pthread_mutex_unlock(&tmpdirs_lock);
}

char *sgt_tmpdir(void)
{
    const char *base = getenv("TMPDIR");
    char tmpl[512];

    snprintf(tmpl, sizeof(tmpl), "%s/surge-test-XXXXXX",
             base && base[0] ? base : "/tmp");
    if (!mkdtemp(tmpl))
        return NULL;
    tmpdirs_remember(tmpl);
    return sg_strdup(tmpl);
}

char *sgt_path(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = sg_alloc(n);

    if (p)
        snprintf(p, n, "%s/%s", dir, name);
    return p;
}

int sgt_write_file(const char *path, const char *content)
{
    FILE *f = fopen(path, "w");
    size_t len = strlen(content);
    int rc = 0;

    if (!f)
        return -1;
    if (fwrite(content, 1, len, f) != len)
        rc = -1;
    if (fclose(f) != 0)
        rc = -1;
    return rc;
}

char *sgt_read_file(const char *path, size_t *len_out)
{
    struct sg_buf b;
    char chunk[8192];
    FILE *f = fopen(path, "rb");
    size_t n;

    if (!f)
        return NULL;
    sg_buf_init(&b, 256u << 20);
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        if (sg_buf_append(&b, chunk, n)) {
            fclose(f);
            sg_buf_release(&b);
            return NULL;
        }
    fclose(f);
    return sg_buf_detach(&b, len_out);
}

const char *sgt_surge_bin(void)
{
    const char *env = getenv("SURGE_BIN");

    return env && env[0] ? env : SURGE_BIN;
}

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Read one line from fd into line (bounded), waiting at most until
 * deadline. Returns the length, or -1 on EOF/timeout. */
static long read_line(int fd, char *line, size_t size, int64_t deadline)
{
    size_t n = 0;

    while (n + 1 < size) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int64_t left = deadline - now_ms();
        char c;
        ssize_t got;

        if (left <= 0 || poll(&p, 1, (int)left) <= 0)
            return -1;
        got = read(fd, &c, 1);
        if (got <= 0)
            return -1;
        if (c == '\n')
            break;
        line[n++] = c;
    }
    line[n] = '\0';
    return (long)n;
}

int sgt_spawn(struct sgt_proc *p, char *const argv[], const char *log_path)
{
    int out[2];
    int64_t deadline = now_ms() + 30000;
    char line[1024];

    memset(p, 0, sizeof(*p));
    p->pid = -1;
    if (pipe(out) != 0)
        return -1;
    p->pid = fork();
    if (p->pid < 0)
        return -1;
    if (p->pid == 0) {
        int err = open(log_path ? log_path : "/dev/null",
                       O_WRONLY | O_CREAT | O_APPEND, 0600);

        dup2(out[1], 1);
        if (err >= 0)
            dup2(err, 2);
        close(out[0]);
        execv(argv[0], argv);
        _exit(127);
    }
    close(out[1]);
    p->out_fd = out[0];
    p->log_path = log_path ? sg_strdup(log_path) : NULL;
    while (read_line(p->out_fd, line, sizeof(line), deadline) >= 0) {
        const char *tag = "listening on ";
        const char *hit = strstr(line, tag);

        if (hit) {
            snprintf(p->url, sizeof(p->url), "%s", hit + strlen(tag));
            return 0;
        }
    }
    sgt_stop(p, SIGKILL);
    return -1;
}

int sgt_stop(struct sgt_proc *p, int sig)
{
    int status = -1;
    int64_t deadline = now_ms() + 10000;

    if (p->pid <= 0)
        return -1;
    kill(p->pid, sig);
    for (;;) {
        pid_t r = waitpid(p->pid, &status, WNOHANG);

        if (r == p->pid)
            break;
        if (r < 0) {
            status = -1;
            break;
        }
        if (now_ms() > deadline) {
            kill(p->pid, SIGKILL);
            waitpid(p->pid, &status, 0);
            break;
        }
        usleep(10000);
    }
    if (p->out_fd > 0)
        close(p->out_fd);
    p->out_fd = -1;
    p->pid = -1;
    sg_free(p->log_path);
    p->log_path = NULL;
    return status;
}

struct drain {
    int fd;
    struct sg_buf buf;
};

static void *drain_main(void *arg)
{
    struct drain *d = arg;
    char chunk[4096];
    ssize_t n;

    while ((n = read(d->fd, chunk, sizeof(chunk))) > 0)
        sg_buf_append(&d->buf, chunk, (size_t)n);
    return NULL;
}

int sgt_run(char *const argv[], const char *stdin_text, char **out,
            char **err)
{
    int in_p[2], out_p[2], err_p[2], status = 0;
    struct drain dout, derr;
    pthread_t tout, terr;
    int64_t deadline = now_ms() + 30000;
    pid_t pid;

    if (pipe(in_p) || pipe(out_p) || pipe(err_p))
        return -1;
    pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        dup2(in_p[0], 0);
        dup2(out_p[1], 1);
        dup2(err_p[1], 2);
        close(in_p[1]);
        close(out_p[0]);
        close(err_p[0]);
        execv(argv[0], argv);
        _exit(127);
    }
    close(in_p[0]);
    close(out_p[1]);
    close(err_p[1]);
    dout.fd = out_p[0];
    derr.fd = err_p[0];
    sg_buf_init(&dout.buf, OUTPUT_MAX);
    sg_buf_init(&derr.buf, OUTPUT_MAX);
    pthread_create(&tout, NULL, drain_main, &dout);
    pthread_create(&terr, NULL, drain_main, &derr);
    if (stdin_text) {
        size_t len = strlen(stdin_text);
        ssize_t w = write(in_p[1], stdin_text, len);

        SG_UNUSED(w);
    }
    close(in_p[1]);
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);

        if (r == pid)
            break;
        if (now_ms() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            status = -1;
            break;
        }
        usleep(5000);
    }
    pthread_join(tout, NULL);
    pthread_join(terr, NULL);
    close(out_p[0]);
    close(err_p[0]);
    if (out)
        *out = sg_buf_detach(&dout.buf, NULL);
    else
        sg_buf_release(&dout.buf);
    if (err)
        *err = sg_buf_detach(&derr.buf, NULL);
    else
        sg_buf_release(&derr.buf);
    if (status == -1 || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

static size_t on_body(char *ptr, size_t size, size_t n, void *ud)
{
    struct sg_buf *b = ud;

    return sg_buf_append(b, ptr, size * n) ? 0 : size * n;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

int sgt_http(struct sgt_resp *out, const char *method, const char *url,
             const char *const *headers, const char *body, size_t body_len)
{
    struct curl_slist *hl = NULL;
    struct sg_buf bbody, bhead;
    CURL *c;
    CURLcode cc;

    pthread_once(&curl_once, curl_init_once);
    memset(out, 0, sizeof(*out));
    c = curl_easy_init();
    if (!c)
        return -1;
    sg_buf_init(&bbody, OUTPUT_MAX);
    sg_buf_init(&bhead, 1u << 20);
    for (size_t i = 0; headers && headers[i]; i++)
        hl = curl_slist_append(hl, headers[i]);
    hl = curl_slist_append(hl, "Expect:");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &bbody);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &bhead);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)body_len);
    } else if (strcmp(method, "GET") == 0) {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    }
    cc = curl_easy_perform(c);
    out->curl_code = (int)cc;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    out->body = sg_buf_detach(&bbody, &out->len);
    out->headers = sg_buf_detach(&bhead, NULL);
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    return cc == CURLE_OK ? 0 : -1;
}

void sgt_resp_free(struct sgt_resp *r)
{
    sg_free(r->body);
    sg_free(r->headers);
    memset(r, 0, sizeof(*r));
}

char *sgt_resp_header(const struct sgt_resp *r, const char *name)
{
    size_t nlen = strlen(name);
    const char *p = r->headers;

    while (p && *p) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);

        if (len > nlen && p[nlen] == ':' && strncasecmp(p, name, nlen) == 0) {
            const char *v = p + nlen + 1;
            size_t vlen = len - nlen - 1;

            while (vlen && (*v == ' ' || *v == '\t')) {
                v++;
                vlen--;
            }
            while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == ' '))
                vlen--;
            return sg_strndup(v, vlen);
        }
        p = eol ? eol + 1 : NULL;
    }
    return NULL;
}

/* ---- a store for a child process ---- */

int sgt_store_open_sqlite(struct sg_store **out, const char *path,
                          const char *who)
{
    struct sg_store_cfg cfg;
    struct sg_err err;
    int rc;

    sg_store_cfg_defaults(&cfg);
    cfg.backend = "sqlite";
    cfg.path = path;
    sg_err_init(&err);
    rc = sg_store_open(out, &cfg, NULL, &err);
    if (rc != 0)
        fprintf(stderr, "%s: store open: %s\n", who, err.msg);
    return rc;
}

/* ---- stores made by older releases ---- */

static int migration_file(const struct dirent *d)
{
    size_t n = strlen(d->d_name);

    return n > 9 && strspn(d->d_name, "0123456789") == 4 &&
           d->d_name[4] == '_' && strcmp(d->d_name + n - 4, ".sql") == 0;
}

struct sqlite3 *sgt_sqlite_at_migration(const char *path, int upto)
{
    char dir[600], file[900], sql[600];
    struct dirent **names = NULL;
    sqlite3 *db = NULL;
    int n;

    snprintf(dir, sizeof(dir), "%s/src/store/migrations", SG_SOURCE_DIR);
    n = scandir(dir, &names, migration_file, alphasort);
    if (n < upto || upto < 1)
        fail_msg("%s: %d migrations, want at least %d", dir, n, upto);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "CREATE TABLE schema_migrations ("
                                      "version INTEGER PRIMARY KEY, name "
                                      "TEXT NOT NULL, applied_at INTEGER "
                                      "NOT NULL)",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    for (int v = 1; v <= upto; v++) {
        const char *name = names[v - 1]->d_name;
        char *text;

        if (atoi(name) != v)
            fail_msg("%s: migration %d is %s", dir, v, name);
        snprintf(file, sizeof(file), "%s/%s", dir, name);
        text = sgt_read_file(file, NULL);
        assert_non_null(text);
        if (sqlite3_exec(db, text, NULL, NULL, NULL) != SQLITE_OK)
            fail_msg("%s: %s", name, sqlite3_errmsg(db));
        sg_free(text);
        snprintf(sql, sizeof(sql), "INSERT INTO schema_migrations VALUES "
                 "(%d, '%s', 1)", v, name);
        assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    }
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return db;
}
