/*
 * channels.c - the PostgreSQL ops for channel storage (store/channels.h):
 * apps, connections with sealed tokens, shops and OAuth states, with the
 * semantics of src/store/sqlite/channels.c in PostgreSQL's dialect. Tokens
 * arrive and leave sealed; a state is taken at most once (the UPDATE that
 * marks it used is the one that returns it).
 */
#include "core/sg.h"

#include "core/alloc.h"
#include "store/channels.h"
#include "store/postgres/pgutil.h"

#define CONN_COLS                                                              \
    "id, tenant_id, COALESCE(app_id, 0), platform, open_id, "                  \
    "COALESCE(seller_name, ''), COALESCE(region, ''), access_token_sealed, "   \
    "refresh_token_sealed, access_expires_at, refresh_expires_at, status, "    \
    "COALESCE(status_reason, ''), refreshed_at, next_refresh_at, "             \
    "refresh_failures, created_at, updated_at"

#define SHOP_COLS                                                              \
    "id, tenant_id, connection_id, platform, shop_id, cipher, "                \
    "COALESCE(name, ''), COALESCE(region, ''), created_at, updated_at"

/* ---- writes ---- */

static int app_upsert(void *be, const char *platform, const char *app_key,
                      const char *service_id, int64_t now, int64_t *id_out,
                      struct sg_err *err)
{
    struct sg_pg_params q;

    sg_pg_params_init(&q);
    sg_pg_text(&q, platform);
    sg_pg_text(&q, app_key);
    sg_pg_text(&q, service_id);
    sg_pg_int(&q, now);
    return sg_pg_insert_id(be,
                           "INSERT INTO channel_apps (platform, app_key, "
                           "service_id, created_at) VALUES ($1::text, "
                           "$2::text, $3::text, $4::bigint) ON CONFLICT "
                           "(platform, app_key) DO UPDATE SET service_id = "
                           "excluded.service_id RETURNING id",
                           &q, "app upsert", id_out, err);
}

static int state_insert(void *be, int64_t tenant_id, const char *platform,
                        const char *state_hash, int64_t expires_at,
                        int64_t now, struct sg_err *err)
{
    struct sg_pg_params q;
    int rc;

    /* Expired states are of no use: drop them on the way. */
    sg_pg_params_init(&q);
    sg_pg_int(&q, now);
    rc = sg_pg_exec(be,
                    "DELETE FROM channel_oauth_states WHERE expires_at < "
                    "$1::bigint",
                    &q, NULL, NULL, "state purge", err);
    if (rc)
        return rc;
    sg_pg_params_init(&q);
    sg_pg_text(&q, state_hash);
    sg_pg_int(&q, tenant_id);
    sg_pg_text(&q, platform);
    sg_pg_int(&q, now);
    sg_pg_int(&q, expires_at);
    return sg_pg_exec(be,
                      "INSERT INTO channel_oauth_states (state_hash, "
                      "tenant_id, platform, created_at, expires_at) VALUES "
                      "($1::text, $2::bigint, $3::text, $4::bigint, "
                      "$5::bigint)",
                      &q, NULL, NULL, "state insert", err);
}

static int state_take(void *be, const char *platform, const char *state_hash,
                      int64_t now, int64_t *tenant_out, struct sg_err *err)
{
    struct sg_pg_params q;

    sg_pg_params_init(&q);
    sg_pg_text(&q, state_hash);
    sg_pg_text(&q, platform);
    sg_pg_int(&q, now);
    return sg_pg_get(be,
                     "UPDATE channel_oauth_states SET used_at = $3::bigint "
                     "WHERE state_hash = $1::text AND platform = $2::text "
                     "AND used_at = 0 AND expires_at >= $3::bigint "
                     "RETURNING tenant_id",
                     &q, "state take", &sg_pg_row_i64, tenant_out,
                     "unknown, used or expired state", err);
}

static int conn_upsert(void *be, const struct sg_channel_conn *c,
                       int64_t now, int64_t *id_out, struct sg_err *err)
{
    struct sg_pg_params q;

    sg_pg_params_init(&q);
    sg_pg_int(&q, c->tenant_id);
    sg_pg_text(&q, c->platform);
    sg_pg_int(&q, c->app_id);
    sg_pg_text(&q, c->open_id);
    sg_pg_text(&q, c->seller_name);
    sg_pg_text(&q, c->region);
    sg_pg_text(&q, c->access_sealed);
    sg_pg_text(&q, c->refresh_sealed);
    sg_pg_int(&q, c->access_expires_at);
    sg_pg_int(&q, c->refresh_expires_at);
    sg_pg_int(&q, now);
    return sg_pg_insert_id(
        be,
        "INSERT INTO channel_connections (tenant_id, platform, app_id, "
        "open_id, seller_name, region, access_token_sealed, "
        "refresh_token_sealed, access_expires_at, refresh_expires_at, "
        "status, refreshed_at, created_at, updated_at) VALUES "
        "($1::bigint, $2::text, NULLIF($3::bigint, 0), $4::text, $5::text, "
        "$6::text, $7::text, $8::text, $9::bigint, $10::bigint, 'active', "
        "$11::bigint, $11::bigint, $11::bigint) "
        "ON CONFLICT (tenant_id, platform, open_id) DO UPDATE SET "
        "app_id = excluded.app_id, seller_name = excluded.seller_name, "
        "region = excluded.region, "
        "access_token_sealed = excluded.access_token_sealed, "
        "refresh_token_sealed = excluded.refresh_token_sealed, "
        "access_expires_at = excluded.access_expires_at, "
        "refresh_expires_at = excluded.refresh_expires_at, "
        "status = 'active', status_reason = NULL, "
        "refreshed_at = excluded.refreshed_at, next_refresh_at = 0, "
        "refresh_failures = 0, updated_at = excluded.updated_at "
        "RETURNING id",
        &q, "connection upsert", id_out, err);
}

/* An UPDATE of connection id that must find it: SG_ENOTFOUND if not. */
static int conn_update(void *be, const char *sql,
                       const struct sg_pg_params *q, int64_t id,
                       const char *what, struct sg_err *err)
{
    return sg_pg_exec_found(be, sql, q, what, err, "no connection %" PRId64,
                            id);
}

static int conn_set_tokens(void *be, int64_t id, const char *access_sealed,
                           const char *refresh_sealed, int64_t access_exp,
                           int64_t refresh_exp, int64_t now,
                           struct sg_err *err)
{
    struct sg_pg_params q;

    sg_pg_params_init(&q);
    sg_pg_int(&q, id);
    sg_pg_text(&q, access_sealed);
    sg_pg_text(&q, refresh_sealed);
    sg_pg_int(&q, access_exp);
    sg_pg_int(&q, refresh_exp);
    sg_pg_int(&q, now);
    return conn_update(be,
                       "UPDATE channel_connections SET access_token_sealed = "
                       "$2::text, refresh_token_sealed = $3::text, "
                       "access_expires_at = $4::bigint, refresh_expires_at = "
                       "$5::bigint, refreshed_at = $6::bigint, "
                       "next_refresh_at = 0, refresh_failures = 0, "
                       "updated_at = $6::bigint WHERE id = $1::bigint",
                       &q, id, "connection tokens", err);
}

static int conn_set_status(void *be, int64_t id, const char *status,
                           const char *reason, int64_t now,
                           struct sg_err *err)
{
    struct sg_pg_params q;

    sg_pg_params_init(&q);
    sg_pg_int(&q, id);
    sg_pg_text(&q, status);
    sg_pg_text(&q, reason);
    sg_pg_int(&q, now);
    return conn_update(be,
                       "UPDATE channel_connections SET status = $2::text, "
                       "status_reason = $3::text, updated_at = $4::bigint "
                       "WHERE id = $1::bigint",
                       &q, id, "connection status", err);
}

static int conn_refresh_failed(void *be, int64_t id, int64_t next_at,
                               int64_t now, struct sg_err *err)
{
    struct sg_pg_params q;

    /* Like SQLite: an unknown id changes nothing and is not an error. */
    sg_pg_params_init(&q);
    sg_pg_int(&q, id);
    sg_pg_int(&q, next_at);
    sg_pg_int(&q, now);
    return sg_pg_exec(be,
                      "UPDATE channel_connections SET next_refresh_at = "
                      "$2::bigint, refresh_failures = refresh_failures + 1, "
                      "updated_at = $3::bigint WHERE id = $1::bigint",
                      &q, NULL, NULL, "connection refresh failure", err);
}

static int shop_upsert(void *be, const struct sg_channel_shop *s,
                       int64_t now, struct sg_err *err)
{
    struct sg_pg_params q;

    sg_pg_params_init(&q);
    sg_pg_int(&q, s->tenant_id);
    sg_pg_text(&q, s->platform);
    sg_pg_text(&q, s->shop_id);
    sg_pg_text(&q, s->cipher);
    sg_pg_text(&q, s->name);
    sg_pg_text(&q, s->region);
    sg_pg_int(&q, s->connection_id);
    sg_pg_int(&q, now);
    return sg_pg_exec(be,
                      "INSERT INTO channel_shops (tenant_id, platform, "
                      "shop_id, cipher, name, region, connection_id, "
                      "created_at, updated_at) VALUES ($1::bigint, $2::text, "
                      "$3::text, $4::text, $5::text, $6::text, $7::bigint, "
                      "$8::bigint, $8::bigint) ON CONFLICT (platform, "
                      "shop_id) DO UPDATE SET tenant_id = "
                      "excluded.tenant_id, cipher = excluded.cipher, "
                      "name = excluded.name, region = excluded.region, "
                      "connection_id = excluded.connection_id, "
                      "updated_at = excluded.updated_at",
                      &q, NULL, NULL, "shop upsert", err);
}

/* ---- reads ---- */

/* A sealed token: both columns are NOT NULL; a NULL would read as "" as
 * in SQLite. */
static char *sealed(struct sg_pg_row *rd)
{
    const char *v = sg_pg_col_raw(rd);
    char *s = sg_strdup(v ? v : "");

    if (!s)
        sg_pg_row_oom(rd);
    return s;
}

/* A row of CONN_COLS. */
static int conn_fill(struct sg_pg_row *rd, void *row)
{
    struct sg_channel_conn *c = row;

    memset(c, 0, sizeof(*c));
    c->id = sg_pg_col_i64(rd);
    c->tenant_id = sg_pg_col_i64(rd);
    c->app_id = sg_pg_col_i64(rd);
    SG_PG_COL_STR(rd, c->platform);
    SG_PG_COL_STR(rd, c->open_id);
    SG_PG_COL_STR(rd, c->seller_name);
    SG_PG_COL_STR(rd, c->region);
    c->access_sealed = sealed(rd);
    c->refresh_sealed = sealed(rd);
    c->access_expires_at = sg_pg_col_i64(rd);
    c->refresh_expires_at = sg_pg_col_i64(rd);
    SG_PG_COL_STR(rd, c->status);
    SG_PG_COL_STR(rd, c->status_reason);
    c->refreshed_at = sg_pg_col_i64(rd);
    c->next_refresh_at = sg_pg_col_i64(rd);
    c->refresh_failures = (int)sg_pg_col_i64(rd);
    c->created_at = sg_pg_col_i64(rd);
    c->updated_at = sg_pg_col_i64(rd);
    return sg_pg_row_end(rd);
}

static void conn_release(void *row)
{
    sg_channel_conn_release(row);
}

static const struct sg_pg_rowtype conn_row =
    SG_PG_ROWTYPE(struct sg_channel_conn, conn_fill, conn_release);

/* A row of SHOP_COLS. */
static int shop_fill(struct sg_pg_row *rd, void *row)
{
    struct sg_channel_shop *s = row;

    memset(s, 0, sizeof(*s));
    s->id = sg_pg_col_i64(rd);
    s->tenant_id = sg_pg_col_i64(rd);
    s->connection_id = sg_pg_col_i64(rd);
    SG_PG_COL_STR(rd, s->platform);
    SG_PG_COL_STR(rd, s->shop_id);
    SG_PG_COL_STR(rd, s->cipher);
    SG_PG_COL_STR(rd, s->name);
    SG_PG_COL_STR(rd, s->region);
    s->created_at = sg_pg_col_i64(rd);
    s->updated_at = sg_pg_col_i64(rd);
    return 0;
}

static const struct sg_pg_rowtype shop_row =
    SG_PG_ROWTYPE(struct sg_channel_shop, shop_fill, NULL);

/* Run a connection query and copy up to max rows into a new array. */
static int conn_rows(void *be, const char *sql, const struct sg_pg_params *q,
                     size_t max, struct sg_channel_conn **out,
                     size_t *n_out, struct sg_err *err)
{
    void *v;
    int rc = sg_pg_list(be, sql, q, "connections", &conn_row, max, &v, n_out,
                        err);

    *out = v;
    return rc;
}

static int conn_get(void *be, int64_t tenant_id, int64_t id,
                    struct sg_channel_conn *out, struct sg_err *err)
{
    struct sg_pg_params q;
    int rc;

    sg_pg_params_init(&q);
    sg_pg_int(&q, id);
    sg_pg_int(&q, tenant_id);
    rc = sg_pg_get(be,
                   "SELECT " CONN_COLS " FROM channel_connections WHERE id "
                   "= $1::bigint AND ($2::bigint = 0 OR tenant_id = "
                   "$2::bigint)",
                   &q, "connection get", &conn_row, out, NULL, err);
    if (rc == SG_ENOTFOUND)
        rc = sg_err_set(err, SG_ENOTFOUND, "no connection %" PRId64, id);
    return rc;
}

static int conn_list(void *be, int64_t tenant_id, size_t max,
                     struct sg_channel_conn **out, size_t *n_out,
                     struct sg_err *err)
{
    struct sg_pg_params q;

    sg_pg_params_init(&q);
    sg_pg_int(&q, tenant_id);
    sg_pg_int(&q, (int64_t)max);
    return conn_rows(be,
                     "SELECT " CONN_COLS " FROM channel_connections WHERE "
                     "($1::bigint = 0 OR tenant_id = $1::bigint) ORDER BY id "
                     "LIMIT $2::bigint",
                     &q, max, out, n_out, err);
}

static int conn_due(void *be, int64_t before, int64_t now, size_t max,
                    struct sg_channel_conn **out, size_t *n_out,
                    struct sg_err *err)
{
    struct sg_pg_params q;

    sg_pg_params_init(&q);
    sg_pg_int(&q, before);
    sg_pg_int(&q, now);
    sg_pg_int(&q, (int64_t)max);
    /* id breaks ties so the order is the same on every run. */
    return conn_rows(be,
                     "SELECT " CONN_COLS " FROM channel_connections WHERE "
                     "status = 'active' AND access_expires_at < $1::bigint "
                     "AND next_refresh_at <= $2::bigint ORDER BY "
                     "access_expires_at, id LIMIT $3::bigint",
                     &q, max, out, n_out, err);
}

static int shop_get(void *be, const char *platform, const char *shop_id,
                    struct sg_channel_shop *out, struct sg_err *err)
{
    struct sg_pg_params q;

    sg_pg_params_init(&q);
    sg_pg_text(&q, platform);
    sg_pg_text(&q, shop_id);
    return sg_pg_get(be,
                     "SELECT " SHOP_COLS " FROM channel_shops WHERE platform "
                     "= $1::text AND shop_id = $2::text",
                     &q, "shop get", &shop_row, out, "unknown shop", err);
}

static int shop_list(void *be, int64_t tenant_id, int64_t connection_id,
                     size_t max, struct sg_channel_shop **out, size_t *n_out,
                     struct sg_err *err)
{
    struct sg_pg_params q;
    void *v;
    int rc;

    sg_pg_params_init(&q);
    sg_pg_int(&q, tenant_id);
    sg_pg_int(&q, connection_id);
    sg_pg_int(&q, (int64_t)max);
    rc = sg_pg_list(be,
                    "SELECT " SHOP_COLS " FROM channel_shops WHERE "
                    "($1::bigint = 0 OR tenant_id = $1::bigint) AND "
                    "($2::bigint = 0 OR connection_id = $2::bigint) "
                    "ORDER BY id LIMIT $3::bigint",
                    &q, "shops", &shop_row, max, &v, n_out, err);
    *out = v;
    return rc;
}

const struct sg_channels_ops sg_channels_postgres_ops = {
    .version = SG_CHANNELS_OPS_VERSION,
    .name = "postgres",
    .app_upsert = app_upsert,
    .state_insert = state_insert,
    .state_take = state_take,
    .conn_upsert = conn_upsert,
    .conn_set_tokens = conn_set_tokens,
    .conn_set_status = conn_set_status,
    .conn_refresh_failed = conn_refresh_failed,
    .shop_upsert = shop_upsert,
    .conn_get = conn_get,
    .conn_list = conn_list,
    .conn_due = conn_due,
    .shop_get = shop_get,
    .shop_list = shop_list,
};
