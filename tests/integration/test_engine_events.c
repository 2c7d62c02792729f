/*
 * test_engine_events.c - the Events API path end to end: surge serve
 * takes events on POST /api/v1/events and delivers them to the sandbox's
 * Events API, which records what arrived. Checks digests (computed here
 * through OpenSSL EVP on hand-normalised literals), event_id kept as
 * sent, dedup within a request, across requests and across a restart,
 * each documented response code, convergence under injected faults with
 * no event lost or sent twice, and that no plaintext canary email or
 * phone reaches the store file, its WAL or the log. Every wait is
 * bounded polling.
 */
#include "core/sg.h"

#include <openssl/evp.h>
#include <sqlite3.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/json.h"
#include "testlib.h"

#define ARG(s) ((char *)(uintptr_t)(s))
#define CANARY_EMAIL "Canary.Person+77@Example.ORG"
#define CANARY_PHONE "+1 (555) 010-9999"

struct world {
    char *dir, *conf, *log;
    struct sgt_proc sbx, srv;
    char key[128];
};

static struct world W;

static void evp_hex(const char *s, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    static const char hx[] = "0123456789abcdef";

    EVP_Digest(s, strlen(s), md, &n, EVP_sha256(), NULL);
    for (unsigned i = 0; i < n; i++) {
        out[2 * i] = hx[md[i] >> 4];
        out[2 * i + 1] = hx[md[i] & 15];
    }
    out[64] = '\0';
}

static int surge(const char *a1, const char *a2, const char *a3,
                 const char *a4, char **out)
{
    char *argv[10] = {ARG(sgt_surge_bin())};
    size_t n = 1;
    const char *args[] = {a1, a2, a3, a4};

    for (size_t i = 0; i < 4 && args[i]; i++)
        argv[n++] = ARG(args[i]);
    argv[n++] = ARG("--config");
    argv[n++] = W.conf;
    argv[n] = NULL;
    return sgt_run(argv, NULL, out, NULL);
}

static void start_server(void)
{
    char *argv[] = {ARG(sgt_surge_bin()), ARG("serve"), ARG("--config"),
                    W.conf, NULL};

    assert_int_equal(sgt_spawn(&W.srv, argv, W.log), 0);
}

static void call(struct sgt_resp *r, const char *base, const char *method,
                 const char *path, const char *body)
{
    char url[512], auth[200];
    const char *headers[3] = {"Content-Type: application/json", NULL, NULL};

    snprintf(url, sizeof(url), "%s%s", base, path);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", W.key);
    headers[1] = auth;
    assert_int_equal(
        sgt_http(r, method, url, headers, body, body ? strlen(body) : 0), 0);
}

static json_t *post_events(const char *body)
{
    struct sgt_resp r;
    json_t *j;

    call(&r, W.srv.url, "POST", "/api/v1/events", body);
    assert_int_equal(r.status, 200);
    j = json_loads(r.body, 0, NULL);
    assert_non_null(j);
    sgt_resp_free(&r);
    return j;
}

static void sbx(const char *method, const char *path, const char *body)
{
    struct sgt_resp r;

    call(&r, W.sbx.url, method, path, body);
    assert_int_equal(r.status, 200);
    sgt_resp_free(&r);
}

/* The events the sandbox recorded, flattened, in arrival order. */
static json_t *received(void)
{
    struct sgt_resp r;
    json_t *doc, *all = json_array(), *p;
    size_t i;

    call(&r, W.sbx.url, "GET", "/sandbox/v1/events", NULL);
    assert_int_equal(r.status, 200);
    doc = json_loads(r.body, 0, NULL);
    sgt_resp_free(&r);
    assert_non_null(doc);
    json_array_foreach(json_object_get(doc, "payloads"), i, p) {
        json_t *data = json_object_get(json_object_get(p, "body"), "data");
        json_t *failed = json_object_get(p, "failed");
        size_t k;
        json_t *ev;

        json_array_foreach(data, k, ev) {
            bool refused = false;
            size_t f;
            json_t *fe;

            json_array_foreach(failed, f, fe)
                refused |= (size_t)sg_json_int(fe, "index", -1) == k;
            if (!refused)
                json_array_append(all, ev);
        }
    }
    json_decref(doc);
    return all;
}

static size_t count_id(const json_t *evs, const char *id)
{
    size_t i, n = 0;
    json_t *e;

    json_array_foreach(evs, i, e)
        n += strcmp(sg_json_str(e, "event_id"), id) == 0;
    return n;
}

/* Poll until every id has arrived (or 15 s pass). */
static json_t *wait_for(const char *const *ids, size_t n)
{
    for (int tries = 0; tries < 300; tries++) {
        json_t *evs = received();
        size_t have = 0;

        for (size_t i = 0; i < n; i++)
            have += count_id(evs, ids[i]) > 0;
        if (have == n)
            return evs;
        json_decref(evs);
        usleep(50 * 1000);
    }
    return received();
}

/* First column of every row of sql, joined by newlines (sg_alloc'd). */
static char *db_query(const char *sql)
{
    char *db = sgt_path(W.dir, "surge.db");
    sqlite3 *h = NULL;
    sqlite3_stmt *st = NULL;
    struct sg_buf b;

    sg_buf_init(&b, 1 << 20);
    sg_buf_appends(&b, "");
    if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(h, sql, -1, &st, NULL) == SQLITE_OK) {
        sqlite3_busy_timeout(h, 2000);
        while (sqlite3_step(st) == SQLITE_ROW) {
            const unsigned char *t = sqlite3_column_text(st, 0);

            sg_buf_printf(&b, "%s\n", t ? (const char *)t : "");
        }
    }
    sqlite3_finalize(st);
    sqlite3_close(h);
    sg_free(db);
    return sg_buf_detach(&b, NULL);
}

static int setup(void **state)
{
    char conf[2048], *out = NULL, *sargv[] = {ARG(sgt_surge_bin()),
                                             ARG("sandbox"), ARG("--listen"),
                                             ARG("127.0.0.1:0"), NULL};

    SG_UNUSED(state);
    W.dir = sgt_tmpdir();
    W.conf = sgt_path(W.dir, "surge.conf");
    W.log = sgt_path(W.dir, "serve.log");
    if (sgt_spawn(&W.sbx, sargv, NULL))
        return -1;
    snprintf(conf, sizeof(conf),
             "[server]\nlisten = 127.0.0.1:0\n\n"
             "[store]\npath = %s/surge.db\n\n"
             "[log]\nlevel = debug\n\n"
             "[jobs]\nbackoff_base_ms = 20\nbackoff_max_ms = 200\n"
             "attempts_max = 30\nrate_per_sec = 1000\nburst = 1000\n"
             "breaker_min_calls = 1000\n\n"
             "[security]\nallow_private_urls = true\n\n"
             "[tiktok_events]\napi_base_url = %s\n"
             "access_token = sbx_events_token\n"
             "web_pixel_code = PIXEL_T\noffline_event_set_id = OFF_T\n"
             "flush_ms = 100ms\nbatch_max = 5\ncustom_events = Wave\n",
             W.dir, W.sbx.url);
    if (sgt_write_file(W.conf, conf))
        return -1;
    chmod(W.conf, 0600);
    if (surge("migrate", NULL, NULL, NULL, NULL) != 0 ||
        surge("tenant", "create", "acme", NULL, NULL) != 0 ||
        surge("apikey", "create", "--tenant", "acme", &out) != 0)
        return -1;
    {
        const char *p = strstr(out, "sk_");
        size_t n = 0;

        while (p && p[n] && p[n] != '\n' && p[n] != ' ' && n < 127)
            n++;
        memcpy(W.key, p, n);
        W.key[n] = '\0';
    }
    sg_free(out);
    start_server();
    return 0;
}

static int teardown(void **state)
{
    SG_UNUSED(state);
    sgt_stop(&W.srv, SIGTERM);
    sgt_stop(&W.sbx, SIGTERM);
    sg_free(W.conf);
    sg_free(W.log);
    sg_free(W.dir);
    return 0;
}

static int64_t now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec;
}

/* ---- tests ---- */

static void test_digests_arrive(void **state)
{
    char body[1024], want_email[65], want_phone[65], want_ext[65];
    const char *ids[] = {"digest-1"};
    json_t *res, *evs, *ev = NULL, *user;
    size_t i;
    json_t *e;

    SG_UNUSED(state);
    snprintf(body, sizeof(body),
             "{\"event\":\"CompletePayment\",\"event_id\":\"digest-1\","
             "\"event_time\":%" PRId64 ",\"user\":{\"email\":\"  "
             "John.Doe@Example.com \",\"phone\":\"+1 (213) 373-4253\","
             "\"external_id\":\" cust-9 \",\"ip\":\"13.57.97.131\","
             "\"user_agent\":\"UA/1\",\"ttclid\":\"E.C.P.abc\"},"
             "\"properties\":{\"currency\":\"USD\",\"value\":46,"
             "\"order_id\":\"o-1\"}}",
             now_s() - 10);
    res = post_events(body);
    assert_int_equal(sg_json_int(res, "accepted", -1), 1);
    json_decref(res);
    evs = wait_for(ids, 1);
    json_array_foreach(evs, i, e)
        if (strcmp(sg_json_str(e, "event_id"), "digest-1") == 0)
            ev = e;
    assert_non_null(ev);
    user = json_object_get(ev, "user");
    evp_hex("john.doe@example.com", want_email);
    evp_hex("+12133734253", want_phone);
    evp_hex("cust-9", want_ext);
    assert_string_equal(sg_json_str(user, "email"), want_email);
    assert_string_equal(sg_json_str(user, "phone"), want_phone);
    assert_string_equal(sg_json_str(user, "external_id"), want_ext);
    assert_string_equal(sg_json_str(user, "ip"), "13.57.97.131");
    assert_string_equal(sg_json_str(user, "ttclid"), "E.C.P.abc");
    assert_string_equal(sg_json_str(user, "user_agent"), "UA/1");
    json_decref(evs);
}

static void test_dedup_and_restart(void **state)
{
    const char *body =
        "{\"events\":[{\"event\":\"AddToCart\",\"event_id\":\"dup-1\"},"
        "{\"event\":\"AddToCart\",\"event_id\":\"dup-1\"},"
        "{\"event\":\"ViewContent\",\"event_id\":\"dup-1\"}]}";
    const char *ids[] = {"dup-1"};
    json_t *res, *evs;

    SG_UNUSED(state);
    res = post_events(body);
    assert_int_equal(sg_json_int(res, "accepted", -1), 2);
    assert_int_equal(sg_json_int(res, "duplicate", -1), 1);
    json_decref(res);
    res = post_events(body);
    assert_int_equal(sg_json_int(res, "duplicate", -1), 3);
    json_decref(res);
    evs = wait_for(ids, 1);
    json_decref(evs);
    /* After a restart the key is still known. */
    assert_int_equal(sgt_stop(&W.srv, SIGTERM) >= 0, 1);
    start_server();
    res = post_events(body);
    assert_int_equal(sg_json_int(res, "duplicate", -1), 3);
    json_decref(res);
    usleep(400 * 1000);
    evs = received();
    assert_int_equal(count_id(evs, "dup-1"), 2); /* AddToCart + ViewContent */
    json_decref(evs);
}

static void test_rejects_reported(void **state)
{
    json_t *res, *r0;

    SG_UNUSED(state);
    res = post_events("[{\"event\":\"Bad\"},{\"event\":\"Purchase\","
                      "\"event_time\":1000000},{\"event\":\"Wave\"}]");
    assert_int_equal(sg_json_int(res, "rejected", -1), 2);
    assert_int_equal(sg_json_int(res, "accepted", -1), 1);
    r0 = json_array_get(json_object_get(res, "results"), 0);
    assert_string_equal(sg_json_str(r0, "reason"), "invalid_event");
    assert_string_equal(
        sg_json_str(json_array_get(json_object_get(res, "results"), 1),
                    "reason"),
        "too_old");
    /* The generated event_id is reported back, and is what arrives. */
    {
        const char *gen[1];
        json_t *evs;

        gen[0] = sg_json_str(
            json_array_get(json_object_get(res, "results"), 2), "event_id");
        assert_non_null(gen[0]);
        evs = wait_for(gen, 1);
        assert_int_equal(count_id(evs, gen[0]), 1);
        json_decref(evs);
    }
    json_decref(res);
}

static void test_codes(void **state)
{
    const char *ids[] = {"code-throttle", "code-5xx"};
    json_t *res, *evs;
    char *out;

    SG_UNUSED(state);
    /* 40100 then 40700: both retried, then delivered once. */
    sbx("PUT", "/sandbox/v1/events/config", "{\"codes\":[40100,40700]}");
    res = post_events("[{\"event\":\"Search\",\"event_id\":\"code-throttle\"},"
                      "{\"event\":\"Search\",\"event_id\":\"code-5xx\"}]");
    json_decref(res);
    evs = wait_for(ids, 2);
    assert_int_equal(count_id(evs, "code-throttle"), 1);
    assert_int_equal(count_id(evs, "code-5xx"), 1);
    json_decref(evs);

    /* 40002: dead letter with the reason; the events are marked failed. */
    sbx("PUT", "/sandbox/v1/events/config", "{\"codes\":[40002]}");
    res = post_events("{\"event\":\"Search\",\"event_id\":\"code-dead\"}");
    json_decref(res);
    out = NULL;
    for (int i = 0; i < 200; i++) {
        sg_free(out);
        out = db_query("SELECT state || ':' || error FROM events WHERE "
                       "event_id = 'code-dead'");
        if (out && strncmp(out, "3:", 2) == 0)
            break;
        usleep(50 * 1000);
    }
    assert_non_null(out);
    assert_non_null(strstr(out, "3:tiktok 40002"));
    sg_free(out);
    out = NULL;
    assert_int_equal(surge("jobs", "list", "--state", "dead", &out), 0);
    assert_non_null(strstr(out, "events.track"));
    sg_free(out);

    /* 20001: the refused event (index 0) is recorded as failed. */
    sbx("PUT", "/sandbox/v1/events/config", "{\"codes\":[20001]}");
    res = post_events("[{\"event\":\"Search\",\"event_id\":\"part-0\"},"
                      "{\"event\":\"Search\",\"event_id\":\"part-1\"}]");
    json_decref(res);
    out = NULL;
    for (int i = 0; i < 200; i++) {
        sg_free(out);
        out = db_query("SELECT group_concat(event_id || '=' || state) FROM "
                       "(SELECT * FROM events WHERE event_id LIKE 'part-%' "
                       "ORDER BY id)");
        if (out && strstr(out, "part-0=3") && strstr(out, "part-1=2"))
            break;
        usleep(50 * 1000);
    }
    assert_non_null(strstr(out, "part-0=3"));
    assert_non_null(strstr(out, "part-1=2"));
    sg_free(out);

    /* 40001: a wrong token dead-letters the batch too. */
    sbx("PUT", "/sandbox/v1/events/config", "{\"codes\":[40001]}");
    res = post_events("{\"event\":\"Search\",\"event_id\":\"code-auth\"}");
    json_decref(res);
    out = NULL;
    for (int i = 0; i < 200; i++) {
        sg_free(out);
        out = db_query("SELECT error FROM events WHERE event_id = "
                       "'code-auth' AND state = 3");
        if (out && strstr(out, "40001"))
            break;
        usleep(50 * 1000);
    }
    assert_non_null(strstr(out, "tiktok 40001"));
    sg_free(out);
}

static void test_faults_converge(void **state)
{
    char body[8192], id[32];
    const char *ids[40];
    static char idbuf[40][32];
    size_t off = 0;
    json_t *res, *evs;

    SG_UNUSED(state);
    sbx("POST", "/sandbox/v1/faults",
        "{\"faults\":[{\"path\":\"/open_api/v1.3/event/track/\","
        "\"kind\":\"500\",\"count\":3},{\"path\":\"*\",\"kind\":\"reset\","
        "\"count\":2},{\"path\":\"*\",\"kind\":\"429\",\"count\":2}]}");
    off += (size_t)snprintf(body + off, sizeof(body) - off, "[");
    for (int i = 0; i < 40; i++) {
        snprintf(id, sizeof(id), "fault-%02d", i);
        snprintf(idbuf[i], sizeof(idbuf[i]), "%s", id);
        ids[i] = idbuf[i];
        off += (size_t)snprintf(body + off, sizeof(body) - off,
                                "%s{\"event\":\"Purchase\",\"event_id\":"
                                "\"%s\"}",
                                i ? "," : "", id);
    }
    snprintf(body + off, sizeof(body) - off, "]");
    res = post_events(body);
    assert_int_equal(sg_json_int(res, "accepted", -1), 40);
    json_decref(res);
    evs = wait_for(ids, 40);
    for (int i = 0; i < 40; i++)
        assert_int_equal(count_id(evs, ids[i]), 1);
    json_decref(evs);
    sbx("DELETE", "/sandbox/v1/faults", NULL);
}

static bool file_has(const char *name, const char *needle)
{
    char *p = sgt_path(W.dir, name);
    size_t len = 0;
    char *data = sgt_read_file(p, &len);
    bool found = false;

    sg_free(p);
    if (!data)
        return false;
    for (size_t i = 0; i + strlen(needle) <= len && !found; i++)
        found = strncasecmp(data + i, needle, strlen(needle)) == 0;
    sg_free(data);
    return found;
}

static void test_no_plaintext(void **state)
{
    char body[1024];
    const char *ids[] = {"canary-1"};
    json_t *res, *evs;

    SG_UNUSED(state);
    snprintf(body, sizeof(body),
             "{\"event\":\"Lead\",\"event_id\":\"canary-1\",\"user\":{"
             "\"email\":\"%s\",\"phone\":\"%s\",\"first_name\":\"Zebedee\"}}",
             CANARY_EMAIL, CANARY_PHONE);
    res = post_events(body);
    assert_int_equal(sg_json_int(res, "accepted", -1), 1);
    json_decref(res);
    /* A rejected one carrying the canary must not leak either. */
    snprintf(body, sizeof(body),
             "{\"event\":\"NotAnEvent\",\"user\":{\"email\":\"%s\"}}",
             CANARY_EMAIL);
    json_decref(post_events(body));
    evs = wait_for(ids, 1);
    json_decref(evs);
    sgt_stop(&W.srv, SIGTERM); /* flush the log; keep the WAL */
    const char *files[] = {"surge.db", "surge.db-wal", "serve.log"};
    for (size_t i = 0; i < SG_ARRAY_SIZE(files); i++) {
        assert_false(file_has(files[i], "canary.person"));
        assert_false(file_has(files[i], "5550109999"));
        assert_false(file_has(files[i], "010-9999"));
        assert_false(file_has(files[i], "Zebedee"));
    }
    start_server();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_digests_arrive),
        cmocka_unit_test(test_dedup_and_restart),
        cmocka_unit_test(test_rejects_reported),
        cmocka_unit_test(test_codes),
        cmocka_unit_test(test_faults_converge),
        cmocka_unit_test(test_no_plaintext),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
