/*
 * test_store_channels.c - channel storage (store/channels.h) and listing
 * sync storage (store/listings.h) through their public wrappers on a real
 * store: every op of both ops tables, with the semantics callers rely on
 * (single-use, expiring OAuth states; upserts that reactivate and reset a
 * connection; the refresh queue's order and back-off; shops moving between
 * connections; listing rows replaced whole; the two checks catalog
 * changes make). Each test gets a fresh database and a manual clock.
 *
 * test_store_channels_pg.c includes this file with SG_TEST_CHANNELS_PG
 * defined: the same cases then run on a throwaway PostgreSQL server. The
 * storm hold's job-queue ops (churn, hold, release) are exercised by
 * test_bulk_window_and_hold in test_features_catalog(_pg).
 */
#include "core/sg.h"

#include <sqlite3.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"
#include "store/channels.h"
#include "store/listings.h"
#include "store/postgres/pgutil.h"
#include "store/store.h"
#include "testlib.h"
#ifdef SG_TEST_CHANNELS_PG
#include "pgserver.h"

static struct sgt_pg *g_pg;
#endif

#define T0 1700000000000LL
#define TTS "tiktok_shop"

struct fx {
    char *dir;
    char *db;
    char dsn[768]; /* postgres: this test's own database */
    struct sg_clock clk;
    struct sg_store *s;
    int64_t t1, t2;
};

static int tenant_write(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    struct fx *f = arg;
    int rc = sg_store_tx_tenant_insert(tx, "acme", &f->t1, err);

    return rc ? rc : sg_store_tx_tenant_insert(tx, "beta", &f->t2, err);
}

static int setup(void **state)
{
    struct fx *f = sg_calloc(1, sizeof(*f));
    struct sg_store_cfg cfg;

    if (!f)
        return -1;
    f->dir = sgt_tmpdir();
    if (!f->dir)
        return -1;
    f->db = sgt_path(f->dir, "surge.db");
    sg_clock_init_manual(&f->clk, T0);
    sg_store_cfg_defaults(&cfg);
    cfg.path = f->db;
    cfg.readers = 2;
#ifdef SG_TEST_CHANNELS_PG
    if (sgt_pg_createdb(g_pg, f->dsn, sizeof(f->dsn)) != 0)
        return -1;
    cfg.backend = "postgres";
    cfg.dsn = f->dsn;
#endif
    if (sg_store_open(&f->s, &cfg, &f->clk, NULL) != 0)
        return -1;
    if (sg_store_write(f->s, tenant_write, f, NULL) != 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char p[1024];

    sg_store_free(f->s);
    unlink(f->db);
    snprintf(p, sizeof(p), "%s-wal", f->db);
    unlink(p);
    snprintf(p, sizeof(p), "%s-shm", f->db);
    unlink(p);
    rmdir(f->dir);
    sg_free(f->db);
    sg_free(f->dir);
    sg_free(f);
    return 0;
}

/*
 * One write of the test: which op, its inputs and outputs. Each helper
 * below fills one and submits it, returning the op's code.
 */
enum {
    W_APP, W_STATE_INSERT, W_STATE_TAKE, W_CONN, W_TOKENS, W_STATUS,
    W_FAILED, W_SHOP, W_SHOP_GET, W_SHOP_LIST, W_L_GET, W_L_FIND, W_L_PUT,
    W_L_DELETE, W_ACTIVE, W_ZERO, W_SQL
};

struct op {
    int what;
    int64_t tenant, id, a, b;
    const char *s1, *s2, *s3;
    const struct sg_channel_conn *conn;
    const struct sg_channel_shop *shop_in;
    struct sg_channel_shop shop;
    struct sg_channel_shop *shops;
    size_t n;
    const struct sg_listing_sync *l_in;
    struct sg_listing_sync l;
    bool yes;
    int64_t out;
};

/* Raw SQL on the writer, for rows these modules do not own. */
static int raw_sql(struct sg_store_tx *tx, const char *sql,
                   struct sg_err *err)
{
    void *be = sg_store_tx_backend(tx);

    if (strcmp(sg_store_backend_name(sg_store_tx_store(tx)), "postgres") ==
        0)
        return sg_pg_exec(be, sql, NULL, NULL, NULL, "test sql", err);
    if (sqlite3_exec(sg_sqlite_db(be), sql, NULL, NULL, NULL) != SQLITE_OK)
        return sg_err_set(err, SG_EIO, "test sql: %s",
                          sqlite3_errmsg(sg_sqlite_db(be)));
    return 0;
}

static int op_write(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    struct op *o = arg;

    switch (o->what) {
    case W_APP:
        return sg_channels_tx_app_upsert(tx, o->s1, o->s2, o->s3, &o->out,
                                         err);
    case W_STATE_INSERT:
        return sg_channels_tx_state_insert(tx, o->tenant, o->s1, o->s2, o->a,
                                           err);
    case W_STATE_TAKE:
        return sg_channels_tx_state_take(tx, o->s1, o->s2, &o->out, err);
    case W_CONN:
        return sg_channels_tx_conn_upsert(tx, o->conn, &o->out, err);
    case W_TOKENS:
        return sg_channels_tx_conn_set_tokens(tx, o->id, o->s1, o->s2, o->a,
                                              o->b, err);
    case W_STATUS:
        return sg_channels_tx_conn_set_status(tx, o->id, o->s1, o->s2, err);
    case W_FAILED:
        return sg_channels_tx_conn_refresh_failed(tx, o->id, o->a, err);
    case W_SHOP:
        return sg_channels_tx_shop_upsert(tx, o->shop_in, err);
    case W_SHOP_GET:
        return sg_channels_tx_shop_get(tx, o->s1, o->s2, &o->shop, err);
    case W_SHOP_LIST:
        return sg_channels_tx_shop_list(tx, o->id, &o->shops, &o->n, err);
    case W_L_GET:
        return sg_listings_tx_get(tx, o->tenant, o->id, o->s1, &o->l, err);
    case W_L_FIND:
        return sg_listings_tx_find(tx, o->s1, o->s2, &o->l, err);
    case W_L_PUT:
        return sg_listings_tx_put(tx, o->l_in, err);
    case W_L_DELETE:
        return sg_listings_tx_delete(tx, o->tenant, o->id, o->s1, err);
    case W_ACTIVE:
        return sg_listings_tx_conn_active(tx, o->tenant, o->s1, &o->yes, err);
    case W_ZERO:
        return sg_listings_tx_sku_zero(tx, o->tenant, o->id, o->s1, &o->yes,
                                       err);
    default:
        return raw_sql(tx, o->s1, err);
    }
}

static int run(struct fx *f, struct op *o)
{
    struct sg_err err;
    int rc;

    sg_err_init(&err);
    rc = sg_store_write(f->s, op_write, o, &err);
    if (rc && rc != SG_ENOTFOUND && rc != SG_EEXISTS)
        print_message("write %d: %s\n", o->what, err.msg);
    return rc;
}

static int64_t app(struct fx *f, const char *key, const char *service)
{
    struct op o = {.what = W_APP, .s1 = TTS, .s2 = key, .s3 = service};

    assert_int_equal(run(f, &o), 0);
    return o.out;
}

static int state_insert(struct fx *f, int64_t tenant, const char *platform,
                        const char *hash, int64_t expires_at)
{
    struct op o = {.what = W_STATE_INSERT, .tenant = tenant, .s1 = platform,
                   .s2 = hash, .a = expires_at};

    return run(f, &o);
}

static int state_take(struct fx *f, const char *platform, const char *hash,
                      int64_t *tenant_out)
{
    struct op o = {.what = W_STATE_TAKE, .s1 = platform, .s2 = hash};
    int rc = run(f, &o);

    *tenant_out = o.out;
    return rc;
}

/* A connection of tenant on TikTok Shop; tokens tagged with tag. */
static int64_t conn(struct fx *f, int64_t tenant, const char *open_id,
                    int64_t app_id, const char *tag, int64_t access_exp)
{
    struct sg_channel_conn c;
    char acc[64], ref[64];
    struct op o = {.what = W_CONN, .conn = &c};

    memset(&c, 0, sizeof(c));
    snprintf(acc, sizeof(acc), "v1:acc-%s", tag);
    snprintf(ref, sizeof(ref), "v1:ref-%s", tag);
    c.tenant_id = tenant;
    c.app_id = app_id;
    snprintf(c.platform, sizeof(c.platform), TTS);
    snprintf(c.open_id, sizeof(c.open_id), "%s", open_id);
    snprintf(c.seller_name, sizeof(c.seller_name), "Seller %s", tag);
    snprintf(c.region, sizeof(c.region), "US");
    c.access_sealed = acc;
    c.refresh_sealed = ref;
    c.access_expires_at = access_exp;
    c.refresh_expires_at = access_exp + 1000;
    assert_int_equal(run(f, &o), 0);
    return o.out;
}

static void get_conn(struct fx *f, int64_t tenant, int64_t id,
                     struct sg_channel_conn *c)
{
    assert_int_equal(sg_channels_conn_get(f->s, tenant, id, c, NULL), 0);
}

/* The ids of the rows, in order, as "1,2,3". */
static void conn_ids(const struct sg_channel_conn *v, size_t n, char *out,
                     size_t cap)
{
    size_t len = 0;

    out[0] = '\0';
    for (size_t i = 0; i < n && len < cap; i++)
        len += (size_t)snprintf(out + len, cap - len, "%s%" PRId64,
                                i ? "," : "", v[i].id);
}

static void due_ids(struct fx *f, int64_t before, size_t max, char *out,
                    size_t cap)
{
    struct sg_channel_conn *v = NULL;
    size_t n = 0;

    assert_int_equal(sg_channels_conn_due(f->s, before, max, &v, &n, NULL),
                     0);
    conn_ids(v, n, out, cap);
    sg_channel_conn_list_free(v, n);
}

static void ids3(char *out, size_t cap, int64_t a, int64_t b, int64_t c)
{
    if (c)
        snprintf(out, cap, "%" PRId64 ",%" PRId64 ",%" PRId64, a, b, c);
    else if (b)
        snprintf(out, cap, "%" PRId64 ",%" PRId64, a, b);
    else if (a)
        snprintf(out, cap, "%" PRId64, a);
    else
        out[0] = '\0';
}

/* ---- channels ---- */

static void test_apps(void **state)
{
    struct fx *f = *state;
    int64_t a1 = app(f, "key-1", "svc-1");

    assert_true(a1 > 0);
    /* Same (platform, app_key): the same row, service id updated. */
    assert_int_equal(app(f, "key-1", "svc-2"), a1);
    assert_true(app(f, "key-2", NULL) != a1);
    assert_int_equal(app(f, "key-1", "svc-2"), a1);
}

static void test_oauth_states(void **state)
{
    struct fx *f = *state;
    int64_t tenant = -1;

    assert_int_equal(state_insert(f, f->t1, TTS, "h1", T0 + 600000), 0);
    assert_int_equal(state_insert(f, f->t2, TTS, "h2", T0 + 1000), 0);
    /* Another platform's state is unknown here. */
    assert_int_equal(state_take(f, "other", "h1", &tenant), SG_ENOTFOUND);
    assert_int_equal(state_take(f, TTS, "nope", &tenant), SG_ENOTFOUND);
    /* Single use: the first take says who issued it, the second fails. */
    assert_int_equal(state_take(f, TTS, "h1", &tenant), 0);
    assert_int_equal(tenant, f->t1);
    assert_int_equal(state_take(f, TTS, "h1", &tenant), SG_ENOTFOUND);
    /* A used state still holds its hash until it expires. */
    assert_int_equal(state_insert(f, f->t1, TTS, "h1", T0 + 600000),
                     SG_EEXISTS);
    /* Valid up to and including its expiry, not after. */
    sg_clock_advance(&f->clk, 1001);
    assert_int_equal(state_take(f, TTS, "h2", &tenant), SG_ENOTFOUND);
    /* The next insert purges expired states: h2's hash is free again. */
    assert_int_equal(state_insert(f, f->t2, TTS, "h2", T0 + 5000), 0);
    sg_clock_advance(&f->clk, 5000 - 1001);
    assert_int_equal(state_take(f, TTS, "h2", &tenant), 0);
    assert_int_equal(tenant, f->t2);
}

static void test_connections(void **state)
{
    struct fx *f = *state;
    struct sg_channel_conn c, *v = NULL;
    struct op o;
    size_t n = 0;
    char got[128], want[128];
    int64_t a1 = app(f, "key-1", "svc");
    int64_t id1, id2, id3;

    id1 = conn(f, f->t1, "o1", 0, "one", 1000);
    get_conn(f, f->t1, id1, &c);
    assert_int_equal(c.id, id1);
    assert_int_equal(c.tenant_id, f->t1);
    assert_int_equal(c.app_id, 0);
    assert_string_equal(c.platform, TTS);
    assert_string_equal(c.open_id, "o1");
    assert_string_equal(c.seller_name, "Seller one");
    assert_string_equal(c.region, "US");
    assert_string_equal(c.access_sealed, "v1:acc-one");
    assert_string_equal(c.refresh_sealed, "v1:ref-one");
    assert_int_equal(c.access_expires_at, 1000);
    assert_int_equal(c.refresh_expires_at, 2000);
    assert_string_equal(c.status, "active");
    assert_string_equal(c.status_reason, "");
    assert_int_equal(c.refreshed_at, T0);
    assert_int_equal(c.next_refresh_at, 0);
    assert_int_equal(c.refresh_failures, 0);
    assert_int_equal(c.created_at, T0);
    assert_int_equal(c.updated_at, T0);
    sg_channel_conn_release(&c);
    /* Another tenant does not see it; tenant 0 sees every tenant's. */
    assert_int_equal(sg_channels_conn_get(f->s, f->t2, id1, &c, NULL),
                     SG_ENOTFOUND);
    get_conn(f, 0, id1, &c);
    sg_channel_conn_release(&c);
    assert_int_equal(sg_channels_conn_get(f->s, 0, id1 + 100, &c, NULL),
                     SG_ENOTFOUND);

    id2 = conn(f, f->t1, "o2", a1, "two", 500);
    id3 = conn(f, f->t2, "o3", 0, "three", 800);
    get_conn(f, f->t1, id2, &c);
    assert_int_equal(c.app_id, a1);
    sg_channel_conn_release(&c);
    assert_int_equal(sg_channels_conn_list(f->s, f->t1, &v, &n, NULL), 0);
    conn_ids(v, n, got, sizeof(got));
    ids3(want, sizeof(want), id1, id2, 0);
    assert_string_equal(got, want);
    assert_string_equal(v[1].access_sealed, "v1:acc-two");
    sg_channel_conn_list_free(v, n);
    assert_int_equal(sg_channels_conn_list(f->s, 0, &v, &n, NULL), 0);
    assert_int_equal(n, 3);
    sg_channel_conn_list_free(v, n);

    /* Status: reason kept; an unknown id is SG_ENOTFOUND. */
    o = (struct op){.what = W_STATUS, .id = id2, .s1 = "deauthorized",
                    .s2 = "seller revoked"};
    sg_clock_advance(&f->clk, 10);
    assert_int_equal(run(f, &o), 0);
    get_conn(f, 0, id2, &c);
    assert_string_equal(c.status, "deauthorized");
    assert_string_equal(c.status_reason, "seller revoked");
    assert_int_equal(c.updated_at, T0 + 10);
    sg_channel_conn_release(&c);
    o.id = id3 + 100;
    assert_int_equal(run(f, &o), SG_ENOTFOUND);

    /* Due: active ones expiring before the bound, soonest first. */
    due_ids(f, 1500, 10, got, sizeof(got));
    ids3(want, sizeof(want), id3, id1, 0);
    assert_string_equal(got, want);
    due_ids(f, 900, 10, got, sizeof(got));
    ids3(want, sizeof(want), id3, 0, 0);
    assert_string_equal(got, want);
    due_ids(f, 1500, 1, got, sizeof(got));
    assert_string_equal(got, want);

    /* A failed refresh backs the connection off until next_at. */
    o = (struct op){.what = W_FAILED, .id = id3, .a = T0 + 5000};
    assert_int_equal(run(f, &o), 0);
    assert_int_equal(run(f, &o), 0);
    get_conn(f, 0, id3, &c);
    assert_int_equal(c.refresh_failures, 2);
    assert_int_equal(c.next_refresh_at, T0 + 5000);
    sg_channel_conn_release(&c);
    due_ids(f, 1500, 10, got, sizeof(got));
    ids3(want, sizeof(want), id1, 0, 0);
    assert_string_equal(got, want);
    sg_clock_advance(&f->clk, 4990);
    due_ids(f, 1500, 10, got, sizeof(got));
    ids3(want, sizeof(want), id3, id1, 0);
    assert_string_equal(got, want);

    /* New tokens: both at once, failures and back-off reset. */
    o = (struct op){.what = W_TOKENS, .id = id3, .s1 = "v1:acc-new",
                    .s2 = "v1:ref-new", .a = 3000, .b = 4000};
    assert_int_equal(run(f, &o), 0);
    get_conn(f, f->t2, id3, &c);
    assert_string_equal(c.access_sealed, "v1:acc-new");
    assert_string_equal(c.refresh_sealed, "v1:ref-new");
    assert_int_equal(c.access_expires_at, 3000);
    assert_int_equal(c.refresh_expires_at, 4000);
    assert_int_equal(c.refreshed_at, T0 + 5000);
    assert_int_equal(c.updated_at, T0 + 5000);
    assert_int_equal(c.refresh_failures, 0);
    assert_int_equal(c.next_refresh_at, 0);
    sg_channel_conn_release(&c);
    o.id = id3 + 100;
    assert_int_equal(run(f, &o), SG_ENOTFOUND);

    /* Connecting the same seller again: same row, active again, reset. */
    o = (struct op){.what = W_FAILED, .id = id2, .a = T0 + 99999};
    assert_int_equal(run(f, &o), 0);
    sg_clock_advance(&f->clk, 5);
    assert_int_equal(conn(f, f->t1, "o2", 0, "again", 700), id2);
    get_conn(f, f->t1, id2, &c);
    assert_string_equal(c.status, "active");
    assert_string_equal(c.status_reason, "");
    assert_int_equal(c.refresh_failures, 0);
    assert_int_equal(c.next_refresh_at, 0);
    assert_int_equal(c.app_id, 0);
    assert_string_equal(c.access_sealed, "v1:acc-again");
    assert_string_equal(c.seller_name, "Seller again");
    assert_int_equal(c.created_at, T0);
    assert_int_equal(c.updated_at, T0 + 5005);
    assert_int_equal(c.refreshed_at, T0 + 5005);
    sg_channel_conn_release(&c);
    due_ids(f, 1500, 10, got, sizeof(got));
    ids3(want, sizeof(want), id2, id1, 0);
    assert_string_equal(got, want);
}

static void shop_put(struct fx *f, int64_t tenant, int64_t conn_id,
                     const char *shop_id, const char *cipher)
{
    struct sg_channel_shop s;
    struct op o = {.what = W_SHOP, .shop_in = &s};

    memset(&s, 0, sizeof(s));
    s.tenant_id = tenant;
    s.connection_id = conn_id;
    snprintf(s.platform, sizeof(s.platform), TTS);
    snprintf(s.shop_id, sizeof(s.shop_id), "%s", shop_id);
    snprintf(s.cipher, sizeof(s.cipher), "%s", cipher);
    snprintf(s.name, sizeof(s.name), "Shop %s", shop_id);
    snprintf(s.region, sizeof(s.region), "GB");
    assert_int_equal(run(f, &o), 0);
}

static void test_shops(void **state)
{
    struct fx *f = *state;
    struct sg_channel_shop s, *v = NULL;
    struct op o;
    size_t n = 0;
    int64_t c1 = conn(f, f->t1, "o1", 0, "one", 1000);
    int64_t c2 = conn(f, f->t2, "o2", 0, "two", 1000);
    int64_t sid;

    shop_put(f, f->t1, c1, "S1", "cipher-1");
    shop_put(f, f->t1, c1, "S2", "cipher-2");
    shop_put(f, f->t2, c2, "S3", "cipher-3");
    assert_int_equal(sg_channels_shop_get(f->s, TTS, "S1", &s, NULL), 0);
    sid = s.id;
    assert_int_equal(s.tenant_id, f->t1);
    assert_int_equal(s.connection_id, c1);
    assert_string_equal(s.platform, TTS);
    assert_string_equal(s.shop_id, "S1");
    assert_string_equal(s.cipher, "cipher-1");
    assert_string_equal(s.name, "Shop S1");
    assert_string_equal(s.region, "GB");
    assert_int_equal(s.created_at, T0);
    assert_int_equal(s.updated_at, T0);
    assert_int_equal(sg_channels_shop_get(f->s, TTS, "S9", &s, NULL),
                     SG_ENOTFOUND);
    assert_int_equal(sg_channels_shop_get(f->s, "other", "S1", &s, NULL),
                     SG_ENOTFOUND);

    assert_int_equal(sg_channels_shop_list(f->s, f->t1, 0, &v, &n, NULL), 0);
    assert_int_equal(n, 2);
    assert_string_equal(v[0].shop_id, "S1");
    assert_string_equal(v[1].shop_id, "S2");
    sg_free(v);
    assert_int_equal(sg_channels_shop_list(f->s, 0, 0, &v, &n, NULL), 0);
    assert_int_equal(n, 3);
    sg_free(v);
    assert_int_equal(sg_channels_shop_list(f->s, 0, c2, &v, &n, NULL), 0);
    assert_int_equal(n, 1);
    assert_string_equal(v[0].shop_id, "S3");
    sg_free(v);
    assert_int_equal(sg_channels_shop_list(f->s, f->t1, c2, &v, &n, NULL),
                     0);
    assert_int_equal(n, 0);
    sg_free(v);

    /* Inside a write, on the writer. */
    o = (struct op){.what = W_SHOP_GET, .s1 = TTS, .s2 = "S2"};
    assert_int_equal(run(f, &o), 0);
    assert_string_equal(o.shop.cipher, "cipher-2");
    o.s2 = "S9";
    assert_int_equal(run(f, &o), SG_ENOTFOUND);
    o = (struct op){.what = W_SHOP_LIST, .id = c1};
    assert_int_equal(run(f, &o), 0);
    assert_int_equal(o.n, 2);
    assert_int_equal(o.shops[0].connection_id, c1);
    sg_free(o.shops);

    /* Connecting the shop again elsewhere moves it (same row). */
    sg_clock_advance(&f->clk, 50);
    shop_put(f, f->t2, c2, "S1", "cipher-9");
    assert_int_equal(sg_channels_shop_get(f->s, TTS, "S1", &s, NULL), 0);
    assert_int_equal(s.id, sid);
    assert_int_equal(s.tenant_id, f->t2);
    assert_int_equal(s.connection_id, c2);
    assert_string_equal(s.cipher, "cipher-9");
    assert_int_equal(s.created_at, T0);
    assert_int_equal(s.updated_at, T0 + 50);
    assert_int_equal(sg_channels_shop_list(f->s, f->t1, 0, &v, &n, NULL), 0);
    assert_int_equal(n, 1);
    sg_free(v);
    assert_int_equal(sg_channels_shop_list(f->s, 0, c2, &v, &n, NULL), 0);
    assert_int_equal(n, 2);
    sg_free(v);
}

/* ---- listing sync ---- */

static void l_put(struct fx *f, int64_t tenant, int64_t product,
                  const char *channel, const char *cpid, const char *status,
                  const char *reason, const char *st)
{
    struct sg_listing_sync l;
    char reason_buf[64], state_buf[128];
    struct op o = {.what = W_L_PUT, .l_in = &l};

    memset(&l, 0, sizeof(l));
    l.tenant_id = tenant;
    l.product_id = product;
    snprintf(l.channel, sizeof(l.channel), "%s", channel);
    snprintf(l.shop_id, sizeof(l.shop_id), "S1");
    snprintf(l.channel_product_id, sizeof(l.channel_product_id), "%s",
             cpid);
    snprintf(l.status, sizeof(l.status), "%s", status);
    if (reason) {
        snprintf(reason_buf, sizeof(reason_buf), "%s", reason);
        l.reason = reason_buf;
    }
    if (st) {
        snprintf(state_buf, sizeof(state_buf), "%s", st);
        l.state = state_buf;
    }
    assert_int_equal(run(f, &o), 0);
}

static void product_ids(const struct sg_listing_sync *v, size_t n, char *out,
                        size_t cap)
{
    size_t len = 0;

    out[0] = '\0';
    for (size_t i = 0; i < n && len < cap; i++)
        len += (size_t)snprintf(out + len, cap - len, "%s%" PRId64,
                                i ? "," : "", v[i].product_id);
}

static void l_list(struct fx *f, int64_t tenant, int64_t after, size_t limit,
                   char *out, size_t cap)
{
    struct sg_listing_sync *v = NULL;
    size_t n = 0;

    assert_int_equal(
        sg_listings_list(f->s, tenant, TTS, after, limit, &v, &n, NULL), 0);
    product_ids(v, n, out, cap);
    sg_listing_sync_list_free(v, n);
}

static void test_listing_rows(void **state)
{
    struct fx *f = *state;
    struct sg_listing_sync l;
    struct op o;
    char got[128];

    assert_int_equal(sg_listings_get(f->s, f->t1, 10, TTS, &l, NULL),
                     SG_ENOTFOUND);
    o = (struct op){.what = W_L_GET, .tenant = f->t1, .id = 10, .s1 = TTS};
    assert_int_equal(run(f, &o), SG_ENOTFOUND);

    /* Defaults: status pending, no reason, an empty state object. */
    l_put(f, f->t1, 10, TTS, "", "", NULL, NULL);
    assert_int_equal(sg_listings_get(f->s, f->t1, 10, TTS, &l, NULL), 0);
    assert_int_equal(l.tenant_id, f->t1);
    assert_int_equal(l.product_id, 10);
    assert_string_equal(l.channel, TTS);
    assert_string_equal(l.shop_id, "S1");
    assert_string_equal(l.channel_product_id, "");
    assert_string_equal(l.status, "pending");
    assert_null(l.reason);
    assert_string_equal(l.state, "{}");
    assert_int_equal(l.updated_at, T0);
    sg_listing_sync_release(&l);

    /* A put replaces the whole row. */
    sg_clock_advance(&f->clk, 7);
    l_put(f, f->t1, 10, TTS, "CP10", "failed", "price too low",
          "{\"qty\":{\"A\":2},\"content\":\"h\"}");
    assert_int_equal(run(f, &o), 0);
    assert_string_equal(o.l.channel_product_id, "CP10");
    assert_string_equal(o.l.status, "failed");
    assert_string_equal(o.l.reason, "price too low");
    assert_string_equal(o.l.state, "{\"qty\":{\"A\":2},\"content\":\"h\"}");
    assert_int_equal(o.l.updated_at, T0 + 7);
    sg_listing_sync_release(&o.l);
    l_put(f, f->t1, 10, TTS, "CP10", "live", NULL, "{}");
    assert_int_equal(sg_listings_get(f->s, f->t1, 10, TTS, &l, NULL), 0);
    assert_string_equal(l.status, "live");
    assert_null(l.reason);
    sg_listing_sync_release(&l);

    /* By the channel's product id. */
    o = (struct op){.what = W_L_FIND, .s1 = TTS, .s2 = "CP10"};
    assert_int_equal(run(f, &o), 0);
    assert_int_equal(o.l.tenant_id, f->t1);
    assert_int_equal(o.l.product_id, 10);
    sg_listing_sync_release(&o.l);
    o.s2 = "CP11";
    assert_int_equal(run(f, &o), SG_ENOTFOUND);
    o = (struct op){.what = W_L_FIND, .s1 = "other", .s2 = "CP10"};
    assert_int_equal(run(f, &o), SG_ENOTFOUND);

    /* Lists: by tenant (0 = all) and channel, after a product id. */
    l_put(f, f->t1, 30, TTS, "CP30", "live", NULL, NULL);
    l_put(f, f->t1, 20, TTS, "CP20", "live", NULL, NULL);
    l_put(f, f->t2, 15, TTS, "CP15", "live", NULL, NULL);
    l_put(f, f->t1, 40, "other", "CP40", "live", NULL, NULL);
    l_list(f, f->t1, 0, 0, got, sizeof(got));
    assert_string_equal(got, "10,20,30");
    l_list(f, 0, 0, 100, got, sizeof(got));
    assert_string_equal(got, "10,15,20,30");
    l_list(f, f->t1, 10, 1, got, sizeof(got));
    assert_string_equal(got, "20");
    l_list(f, f->t1, 30, 5, got, sizeof(got));
    assert_string_equal(got, "");

    /* Delete: the row goes; deleting nothing is not an error. */
    o = (struct op){.what = W_L_DELETE, .tenant = f->t1, .id = 20, .s1 = TTS};
    assert_int_equal(run(f, &o), 0);
    assert_int_equal(run(f, &o), 0);
    assert_int_equal(sg_listings_get(f->s, f->t1, 20, TTS, &l, NULL),
                     SG_ENOTFOUND);
    l_list(f, f->t1, 0, 0, got, sizeof(got));
    assert_string_equal(got, "10,30");
    assert_int_equal(sg_listings_get(f->s, f->t1, 40, "other", &l, NULL), 0);
    sg_listing_sync_release(&l);
}

static bool check(struct fx *f, int what, int64_t tenant, int64_t product,
                  const char *s)
{
    struct op o = {.what = what, .tenant = tenant, .id = product, .s1 = s};

    assert_int_equal(run(f, &o), 0);
    return o.yes;
}

static void sql(struct fx *f, const char *text)
{
    struct op o = {.what = W_SQL, .s1 = text};

    assert_int_equal(run(f, &o), 0);
}

static void test_listing_checks(void **state)
{
    struct fx *f = *state;
    char q[512];
    struct op o;
    int64_t c1;

    /* conn_active: an active connection of the tenant on the platform. */
    assert_false(check(f, W_ACTIVE, f->t1, 0, TTS));
    c1 = conn(f, f->t1, "o1", 0, "one", 1000);
    assert_true(check(f, W_ACTIVE, f->t1, 0, TTS));
    assert_false(check(f, W_ACTIVE, f->t2, 0, TTS));
    assert_false(check(f, W_ACTIVE, f->t1, 0, "other"));
    o = (struct op){.what = W_STATUS, .id = c1, .s1 = "expired", .s2 = NULL};
    assert_int_equal(run(f, &o), 0);
    assert_false(check(f, W_ACTIVE, f->t1, 0, TTS));

    /* sku_zero: product 500 has A (5 on hand) and B (no level at all). */
    snprintf(q, sizeof(q),
             "INSERT INTO products (id, tenant_id, handle, title, status, "
             "currency, created_at, updated_at) VALUES (500, %" PRId64
             ", 'p', 'P', 'active', 'USD', 0, 0)",
             f->t1);
    sql(f, q);
    snprintf(q, sizeof(q),
             "INSERT INTO variants (tenant_id, product_id, sku, position, "
             "price, created_at, updated_at) VALUES (%" PRId64
             ", 500, 'A', 1, 100, 0, 0), (%" PRId64
             ", 500, 'B', 2, 100, 0, 0)",
             f->t1, f->t1);
    sql(f, q);
    snprintf(q, sizeof(q),
             "INSERT INTO inventory_levels (tenant_id, sku, location, "
             "on_hand, updated_at) VALUES (%" PRId64 ", 'A', 'default', 5, "
             "0)",
             f->t1);
    sql(f, q);
    assert_true(check(f, W_ZERO, f->t1, 500, TTS));
    /* The channel acknowledged 0 (or less) for B: nothing urgent. */
    l_put(f, f->t1, 500, TTS, "CP", "live", NULL,
          "{\"qty\":{\"A\":5,\"B\":0}}");
    assert_false(check(f, W_ZERO, f->t1, 500, TTS));
    l_put(f, f->t1, 500, TTS, "CP", "live", NULL, "{\"qty\":{\"B\":-1}}");
    assert_false(check(f, W_ZERO, f->t1, 500, TTS));
    /* ... but not on another channel, nor for another tenant's product. */
    assert_true(check(f, W_ZERO, f->t1, 500, "other"));
    assert_false(check(f, W_ZERO, f->t2, 500, TTS));
    /* The channel still offers B: urgent. So is a state that says
     * nothing (not JSON, no qty, qty not a number). */
    l_put(f, f->t1, 500, TTS, "CP", "live", NULL, "{\"qty\":{\"B\":3}}");
    assert_true(check(f, W_ZERO, f->t1, 500, TTS));
    l_put(f, f->t1, 500, TTS, "CP", "live", NULL, "not json");
    assert_true(check(f, W_ZERO, f->t1, 500, TTS));
    l_put(f, f->t1, 500, TTS, "CP", "live", NULL, "{\"qty\":{\"B\":\"0\"}}");
    assert_true(check(f, W_ZERO, f->t1, 500, TTS));
    /* Available = on_hand - reserved - committed, summed over locations. */
    snprintf(q, sizeof(q),
             "INSERT INTO inventory_levels (tenant_id, sku, location, "
             "on_hand, reserved, committed, updated_at) VALUES (%" PRId64
             ", 'B', 'default', 3, 2, 1, 0)",
             f->t1);
    sql(f, q);
    assert_true(check(f, W_ZERO, f->t1, 500, TTS));
    snprintf(q, sizeof(q),
             "INSERT INTO inventory_levels (tenant_id, sku, location, "
             "on_hand, updated_at) VALUES (%" PRId64 ", 'B', 'east', 1, 0)",
             f->t1);
    sql(f, q);
    assert_false(check(f, W_ZERO, f->t1, 500, TTS));
    assert_false(check(f, W_ZERO, f->t1, 501, TTS));
}

/* A backend with no ops table is named, not crashed on. */
static void test_registry(void **state)
{
    SG_UNUSED(state);
    assert_non_null(sg_channels_ops_for("sqlite"));
    assert_non_null(sg_channels_ops_for("postgres"));
    assert_null(sg_channels_ops_for("mysql"));
    assert_null(sg_channels_ops_for(NULL));
    assert_non_null(sg_listings_ops_for("sqlite"));
    assert_non_null(sg_listings_ops_for("postgres"));
    assert_null(sg_listings_ops_for("mysql"));
    assert_null(sg_listings_ops_for(NULL));
}

#ifndef SG_TEST_CHANNELS_PG
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry),
        cmocka_unit_test_setup_teardown(test_apps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oauth_states, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connections, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shops, setup, teardown),
        cmocka_unit_test_setup_teardown(test_listing_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_listing_checks, setup,
                                        teardown),
    };

    sg_log_set_level(SG_LOG_ERR);
    return cmocka_run_group_tests_name("store_channels", tests, NULL, NULL);
}
#endif
