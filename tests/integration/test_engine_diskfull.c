/*
 * test_engine_diskfull.c - D3: `surge serve` with its store on a small
 * tmpfs that fills up under load. Writes through the admin API and the
 * webhook intake must answer 2xx or a retryable 503 (a JSON error naming
 * the problem and a Retry-After header), never anything else; reads keep
 * working; every acknowledged write is there afterwards; the engine keeps
 * running and takes writes again once space returns; the store passes
 * PRAGMA integrity_check and `surge inventory check`.
 *
 * Needs root (a private mount namespace with unshare(2) and a tmpfs
 * mount); otherwise it exits 77, which ctest reports as skipped.
 */
/* unshare() and the CLONE_* flags are GNU extensions. */
#define _GNU_SOURCE 1
#include "testlib.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/crypto.h"
#include "core/json.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <sqlite3.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define ARG(s) ((char *)(uintptr_t)(s))
#define SKIP_CODE 77
#define ACKED_MAX 2000
#define SECRET "diskfull-generic-secret"

static struct {
    char *dir, *mnt, *conf, *db, *log, *filler, *ballast;
    char api_key[128];
    struct sgt_proc srv;
    int64_t ids[ACKED_MAX];
    size_t n_ids;
    char events[ACKED_MAX][24];
    size_t n_events;
    unsigned full_503, other_503;
    int refused[ACKED_MAX]; /* products answered 503 */
    size_t n_refused;
} W;

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

static int surge(char **out, const char *a, const char *b, const char *c,
                 const char *d)
{
    char *argv[10] = {ARG(sgt_surge_bin())};
    const char *words[] = {a, b, c, d};
    size_t n = 1;

    for (size_t i = 0; i < SG_ARRAY_SIZE(words) && words[i]; i++)
        argv[n++] = ARG(words[i]);
    argv[n++] = ARG("--config");
    argv[n++] = W.conf;
    argv[n] = NULL;
    return sgt_run(argv, NULL, out, NULL);
}

static int64_t sql_int(const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int64_t v = -1;

    assert_int_equal(sqlite3_open_v2(W.db, &db, SQLITE_OPEN_READONLY, NULL),
                     SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("sql: %s: %s", sql, sqlite3_errmsg(db));
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/*
 * A 503 must be retryable and say why: Retry-After and a JSON error. A
 * full disk may also show up as "busy" when the write queue backs up.
 */
static void check_503(const struct sgt_resp *r, const char *what)
{
    char *ra = sgt_resp_header(r, "Retry-After");
    json_t *j = json_loads(r->body ? r->body : "", 0, NULL);
    const char *code = sg_json_str(json_object_get(j, "error"), "code");

    if (!ra || strtol(ra, NULL, 10) <= 0)
        fail_msg("%s: 503 without a Retry-After (%s)", what,
                 r->body ? r->body : "");
    if (!code)
        fail_msg("%s: 503 without a JSON error: %s", what,
                 r->body ? r->body : "");
    if (strcmp(code, "storage_full") == 0)
        W.full_503++;
    else if (strcmp(code, "busy") == 0 ||
             strcmp(code, "storage_unavailable") == 0)
        W.other_503++;
    else
        fail_msg("%s: 503 with error code %s", what, code);
    sg_free(ra);
    json_decref(j);
}

/* One product create; 201 records the id, 503 is checked. */
static long create(int n, size_t pad)
{
    char url[200], hdr[200], *body;
    const char *h[] = {"Content-Type: application/json", hdr, NULL};
    struct sgt_resp r;
    struct sg_buf b;
    long st;

    sg_buf_init(&b, 1 << 20);
    sg_buf_printf(&b, "{\"handle\":\"full-%d\",\"title\":\"Full %d\","
                  "\"status\":\"draft\",\"body_html\":\"<p>",
                  n, n);
    for (size_t i = 0; i < pad; i++)
        sg_buf_append(&b, "x", 1);
    sg_buf_printf(&b, "</p>\",\"variants\":[{\"sku\":\"FULL-%d\",\"price\":"
                  "\"1.00\",\"grams\":10,\"inventory_quantity\":3}]}",
                  n);
    body = b.data;
    snprintf(url, sizeof(url), "%s/api/v1/products", W.srv.url);
    snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s", W.api_key);
    assert_int_equal(sgt_http(&r, "POST", url, h, body, b.len), 0);
    st = r.status;
    if (st == 201) {
        json_t *j = json_loads(r.body, 0, NULL);

        assert_true(W.n_ids < ACKED_MAX);
        W.ids[W.n_ids++] = sg_json_int(j, "id", 0);
        json_decref(j);
    } else if (st == 503) {
        check_503(&r, "POST /api/v1/products");
        assert_true(W.n_refused < ACKED_MAX);
        W.refused[W.n_refused++] = n;
    } else {
        fail_msg("product create answered %ld: %s", st,
                 r.body ? r.body : "");
    }
    sgt_resp_free(&r);
    sg_buf_release(&b);
    return st;
}

/* One signed generic webhook; 200 records the event id. */
static long webhook(int n)
{
    char url[200], sig[100], id[100], body[2200], hex[65];
    unsigned char mac[32];
    const char *h[] = {"Content-Type: application/json", sig, id, NULL};
    struct sgt_resp r;
    long st;
    int len;

    len = snprintf(body, sizeof(body), "{\"n\":%d,\"pad\":\"%0*d\"}", n,
                   2000, 0);
    assert_int_equal(sg_hmac_sha256(SECRET, strlen(SECRET), body,
                                    (size_t)len, mac),
                     0);
    sg_hex_encode(mac, 32, hex);
    snprintf(sig, sizeof(sig), "X-Surge-Signature: sha256=%s", hex);
    snprintf(id, sizeof(id), "X-Surge-Event-Id: full-%d", n);
    snprintf(url, sizeof(url), "%s/webhooks/generic", W.srv.url);
    assert_int_equal(sgt_http(&r, "POST", url, h, body, (size_t)len), 0);
    st = r.status;
    if (st == 200) {
        assert_true(W.n_events < ACKED_MAX);
        snprintf(W.events[W.n_events++], sizeof(W.events[0]), "full-%d", n);
    } else if (st == 503) {
        check_503(&r, "POST /webhooks/generic");
    } else {
        fail_msg("webhook answered %ld: %s", st, r.body ? r.body : "");
    }
    sgt_resp_free(&r);
    return st;
}

/*
 * Background load while the disk fills: signed webhooks in a loop. The
 * thread only records; the main thread checks (cmocka is not
 * thread-safe).
 */
#define BG_MAX 4000

static struct {
    pthread_t thread;
    atomic_bool stop;
    long status[BG_MAX];
    bool retry_after[BG_MAX];
    char code[BG_MAX][24];
    size_t n;
} BG;

static void *bg_main(void *arg)
{
    SG_UNUSED(arg);
    for (size_t i = 0; i < BG_MAX && !atomic_load(&BG.stop); i++) {
        char url[200], sig[100], id[100], body[2200], hex[65];
        unsigned char mac[32];
        const char *h[] = {"Content-Type: application/json", sig, id, NULL};
        struct sgt_resp r;
        char *ra;
        json_t *j;
        int len;

        len = snprintf(body, sizeof(body), "{\"bg\":%zu,\"pad\":\"%0*d\"}",
                       i, 1500, 0);
        sg_hmac_sha256(SECRET, strlen(SECRET), body, (size_t)len, mac);
        sg_hex_encode(mac, 32, hex);
        snprintf(sig, sizeof(sig), "X-Surge-Signature: sha256=%s", hex);
        snprintf(id, sizeof(id), "X-Surge-Event-Id: bg-%zu", i);
        snprintf(url, sizeof(url), "%s/webhooks/generic", W.srv.url);
        if (sgt_http(&r, "POST", url, h, body, (size_t)len) != 0) {
            BG.status[i] = -1;
        } else {
            BG.status[i] = r.status;
            ra = sgt_resp_header(&r, "Retry-After");
            BG.retry_after[i] = ra && strtol(ra, NULL, 10) > 0;
            sg_free(ra);
            j = json_loads(r.body ? r.body : "", 0, NULL);
            snprintf(BG.code[i], sizeof(BG.code[i]), "%s",
                     sg_json_str(json_object_get(j, "error"), "code")
                         ? sg_json_str(json_object_get(j, "error"), "code")
                         : "");
            json_decref(j);
        }
        sgt_resp_free(&r);
        BG.n = i + 1;
        nap_ms(2);
    }
    return NULL;
}

/* Every background answer was 200 or a proper 503; the 200s are kept. */
static void bg_check(void)
{
    size_t ok = 0, refused = 0;
    char sql[200];

    for (size_t i = 0; i < BG.n; i++) {
        if (BG.status[i] == 200) {
            snprintf(sql, sizeof(sql), "SELECT count(*) FROM inbox WHERE "
                     "source = 'generic' AND external_id = 'bg-%zu'", i);
            if (sql_int(sql) != 1)
                fail_msg("background webhook bg-%zu acknowledged, not kept",
                         i);
            ok++;
        } else if (BG.status[i] == 503) {
            if (!BG.retry_after[i] ||
                (strcmp(BG.code[i], "storage_full") != 0 &&
                 strcmp(BG.code[i], "busy") != 0 &&
                 strcmp(BG.code[i], "storage_unavailable") != 0))
                fail_msg("background webhook bg-%zu: 503 code \"%s\", "
                         "Retry-After %s",
                         i, BG.code[i], BG.retry_after[i] ? "yes" : "no");
            refused++;
        } else {
            fail_msg("background webhook bg-%zu answered %ld", i,
                     BG.status[i]);
        }
    }
    print_message("D3: background load: %zu acknowledged, %zu refused with "
                  "503\n",
                  ok, refused);
    assert_true(ok > 0);
}

/* Fill the tmpfs with a file until the kernel says ENOSPC. */
static void fill(void)
{
    static char chunk[16384];
    int fd = open(W.filler, O_WRONLY | O_CREAT | O_APPEND, 0600);
    size_t total = 0;

    assert_true(fd >= 0);
    memset(chunk, 'f', sizeof(chunk));
    for (int i = 0; i < 100000; i++) {
        ssize_t n = write(fd, chunk, sizeof(chunk));

        if (n < 0) {
            assert_int_equal(errno, ENOSPC);
            break;
        }
        total += (size_t)n;
    }
    /* The last partial block too. */
    for (int i = 0; i < 10000 && write(fd, chunk, 512) > 0; i++)
        total += 512;
    close(fd);
    print_message("D3: filled the tmpfs with %zu KiB\n", total / 1024);
}

/* A file of kib KiB on the tmpfs, removed when space should return. */
static void ballast(size_t kib)
{
    static char chunk[1024];
    int fd = open(W.ballast, O_WRONLY | O_CREAT | O_TRUNC, 0600);

    assert_true(fd >= 0);
    memset(chunk, 'b', sizeof(chunk));
    for (size_t i = 0; i < kib; i++)
        assert_int_equal(write(fd, chunk, sizeof(chunk)),
                         (ssize_t)sizeof(chunk));
    close(fd);
}

static void check_reads(void)
{
    char url[200], hdr[200];
    const char *h[] = {hdr, NULL};
    struct sgt_resp r;

    snprintf(url, sizeof(url), "%s/api/v1/products?limit=5", W.srv.url);
    snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s", W.api_key);
    assert_int_equal(sgt_http(&r, "GET", url, h, NULL, 0), 0);
    assert_int_equal(r.status, 200);
    sgt_resp_free(&r);
}

static void check_acked(void)
{
    char url[200], hdr[200], sql[200];
    const char *h[] = {hdr, NULL};

    snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s", W.api_key);
    for (size_t i = 0; i < W.n_ids; i++) {
        struct sgt_resp r;

        snprintf(url, sizeof(url), "%s/api/v1/products/%" PRId64, W.srv.url,
                 W.ids[i]);
        assert_int_equal(sgt_http(&r, "GET", url, h, NULL, 0), 0);
        if (r.status != 200)
            fail_msg("acknowledged product %" PRId64 " answers %ld",
                     W.ids[i], r.status);
        sgt_resp_free(&r);
    }
    for (size_t i = 0; i < W.n_events; i++) {
        snprintf(sql, sizeof(sql), "SELECT count(*) FROM inbox WHERE source "
                 "= 'generic' AND external_id = '%s'", W.events[i]);
        if (sql_int(sql) != 1)
            fail_msg("acknowledged webhook %s is not in the inbox",
                     W.events[i]);
    }
}

/* A 503 promised that nothing was saved: none of those products exist. */
static void check_refused(void)
{
    size_t found = 0;
    char sql[200];

    for (size_t i = 0; i < W.n_refused; i++) {
        snprintf(sql, sizeof(sql), "SELECT count(*) FROM products WHERE "
                 "handle = 'full-%d'", W.refused[i]);
        if (sql_int(sql) != 0) {
            print_message("D3: product full-%d answered 503 but is stored\n",
                          W.refused[i]);
            found++;
        }
    }
    assert_int_equal(found, 0);
}

static void disk_full_and_back(void **state)
{
    unsigned ok_full = 0, st503 = 0;
    int n = 0;
    long st = 0;
    char *out = NULL;

    SG_UNUSED(state);
    /* Space to give back later, whatever fills the rest. */
    ballast(1024);
    /* Normal operation first. */
    for (int i = 0; i < 10; i++, n++) {
        assert_int_equal(create(n, 200), 201);
        assert_int_equal(webhook(n), 200);
    }
    /* Fill the disk while webhooks keep arriving. */
    atomic_store(&BG.stop, false);
    assert_int_equal(pthread_create(&BG.thread, NULL, bg_main, NULL), 0);
    nap_ms(50);
    fill();
    /* Writes keep coming while the disk is full: each is acknowledged
     * (a page may still be free) or refused with a retryable 503. */
    for (int i = 0; i < 300; i++, n++) {
        long a = create(n, 4000), b = webhook(n);

        st503 += (a == 503) + (b == 503);
        ok_full += (a == 201) + (b == 200);
        if (i % 20 == 0)
            check_reads();
        if (st503 >= 40)
            break;
    }
    print_message("D3: while full: %u acknowledged, %u refused with 503 "
                  "(%u storage_full, %u busy/unavailable)\n",
                  ok_full, st503, W.full_503, W.other_503);
    assert_true(st503 > 0);
    assert_true(W.full_503 > 0);
    assert_true(kill(W.srv.pid, 0) == 0);
    check_reads();

    /* Space returns: writes succeed again within a bounded time. */
    assert_int_equal(unlink(W.filler), 0);
    assert_int_equal(unlink(W.ballast), 0);
    nap_ms(100);
    atomic_store(&BG.stop, true);
    pthread_join(BG.thread, NULL);
    check_refused();
    n++;
    for (int i = 0; i < 200; i++, n++) {
        st = create(n, 200);
        if (st == 201)
            break;
        nap_ms(100);
    }
    assert_int_equal(st, 201);
    n++;
    for (int i = 0; i < 20; i++, n++) {
        assert_int_equal(create(n, 200), 201);
        assert_int_equal(webhook(n), 200);
    }
    check_acked();
    bg_check();
    assert_int_equal(sql_int("SELECT count(*) FROM pragma_integrity_check "
                             "WHERE integrity_check = 'ok'"),
                     1);
    if (surge(&out, "inventory", "check", NULL, NULL) != 0)
        fail_msg("surge inventory check: %s", out ? out : "");
    sg_free(out);
    print_message("D3: %zu products and %zu webhooks acknowledged, all "
                  "present\n",
                  W.n_ids, W.n_events);
}

static int setup(void **state)
{
    char conf[2048], *out = NULL;
    char *argv[5] = {ARG(sgt_surge_bin()), ARG("serve"), ARG("--config"),
                     NULL, NULL};

    SG_UNUSED(state);
    W.conf = sgt_path(W.dir, "surge.conf");
    W.db = sgt_path(W.mnt, "surge.db");
    W.log = sgt_path(W.dir, "serve.log");
    W.filler = sgt_path(W.mnt, "filler");
    W.ballast = sgt_path(W.mnt, "ballast");
    snprintf(conf, sizeof(conf),
             "[server]\nlisten = 127.0.0.1:0\n\n"
             "[store]\npath = %s\n\n"
             "[webhook_generic]\nsecret = %s\ntenant = default\n\n"
             "[secrets]\nkey_file = %s/surge.key\n",
             W.db, SECRET, W.dir);
    if (sgt_write_file(W.conf, conf))
        return -1;
    chmod(W.conf, 0600);
    if (surge(NULL, "init", NULL, NULL, NULL) != 0 ||
        surge(NULL, "tenant", "create", "default", NULL) != 0 ||
        surge(&out, "apikey", "create", "--tenant", "default") != 0)
        return -1;
    snprintf(W.api_key, sizeof(W.api_key), "%.*s",
             (int)strcspn(out, "\r\n"), out);
    sg_free(out);
    argv[3] = W.conf;
    return sgt_spawn(&W.srv, argv, W.log);
}

static int teardown(void **state)
{
    SG_UNUSED(state);
    if (W.srv.pid > 0)
        sgt_stop(&W.srv, SIGTERM);
    if (W.filler)
        unlink(W.filler);
    if (W.ballast)
        unlink(W.ballast);
    return 0;
}

/*
 * A private mount namespace for this process and its children, with a
 * small tmpfs for the store. Returns 0, or SKIP_CODE with the reason
 * printed.
 */
static int make_tmpfs(void)
{
    W.dir = sgt_tmpdir();
    W.mnt = sgt_path(W.dir, "store");
    if (geteuid() != 0) {
        fprintf(stderr, "SKIP: D3 needs root for a tmpfs mount\n");
        return SKIP_CODE;
    }
    if (unshare(CLONE_NEWNS) != 0) {
        fprintf(stderr, "SKIP: unshare(CLONE_NEWNS): %s\n", strerror(errno));
        return SKIP_CODE;
    }
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
        mkdir(W.mnt, 0700) != 0 ||
        mount("tmpfs", W.mnt, "tmpfs", MS_NOSUID | MS_NODEV,
              "size=4m,mode=0700") != 0) {
        fprintf(stderr, "SKIP: tmpfs mount: %s\n", strerror(errno));
        return SKIP_CODE;
    }
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(disk_full_and_back),
    };
    int rc;

    signal(SIGPIPE, SIG_IGN);
    rc = make_tmpfs();
    if (rc)
        return rc;
    rc = cmocka_run_group_tests(tests, setup, teardown);
    umount2(W.mnt, MNT_DETACH);
    return rc;
}
