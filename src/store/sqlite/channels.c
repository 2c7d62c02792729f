/*
 * channels.c - SQLite ops for channel storage (store/channels.h): apps,
 * connections with sealed tokens, shops and OAuth states. Every statement
 * is prepared, bound and finalized within one call; text columns are
 * copied into the caller's rows.
 */
#include "core/sg.h"

#include <sqlite3.h>

#include "core/alloc.h"
#include "store/channels.h"
#include "store/sqlite/sqlutil.h"

#define CONN_COLS                                                              \
    "id, tenant_id, COALESCE(app_id, 0), platform, open_id, "                  \
    "COALESCE(seller_name, ''), COALESCE(region, ''), access_token_sealed, "   \
    "refresh_token_sealed, access_expires_at, refresh_expires_at, status, "    \
    "COALESCE(status_reason, ''), refreshed_at, next_refresh_at, "             \
    "refresh_failures, created_at, updated_at"

#define SHOP_COLS                                                              \
    "id, tenant_id, connection_id, platform, shop_id, cipher, "                \
    "COALESCE(name, ''), COALESCE(region, ''), created_at, updated_at"

/* The next column as a new string, "" for SQL NULL (never NULL). */
static char *rd_dup_text(struct sg_sql_row *rd)
{
    const char *t = sg_sql_rd_raw(rd);
    char *s = sg_strdup(t ? t : "");

    if (!s)
        sg_sql_row_oom(rd);
    return s;
}

/* ---- writes ---- */

static int app_upsert(void *be, const char *platform, const char *app_key,
                      const char *service_id, int64_t now, int64_t *id_out,
                      struct sg_err *err)
{
    sqlite3_stmt *st;
    int b = SQLITE_OK, rc;

    rc = sg_sql_prep(be,
              "INSERT INTO channel_apps (platform, app_key, service_id, "
              "created_at) VALUES (?1, ?2, ?3, ?4) "
              "ON CONFLICT (platform, app_key) DO UPDATE SET "
              "service_id = excluded.service_id RETURNING id",
              &st, err);
    if (rc)
        return rc;
    sg_sql_bind_text(st, 1, platform, &b);
    sg_sql_bind_text(st, 2, app_key, &b);
    sg_sql_bind_text(st, 3, service_id, &b);
    sg_sql_bind_int(st, 4, now, &b);
    rc = b == SQLITE_OK ? sqlite3_step(st) : b;
    if (rc == SQLITE_ROW) {
        *id_out = sqlite3_column_int64(st, 0);
        rc = 0;
    } else {
        rc = sg_sqlite_error(be, rc, "app upsert", err);
    }
    sg_sql_end(be, st);
    return rc;
}

static int state_insert(void *be, int64_t tenant_id, const char *platform,
                        const char *state_hash, int64_t expires_at,
                        int64_t now, struct sg_err *err)
{
    sqlite3_stmt *st;
    int b = SQLITE_OK, rc;

    /* Expired states are of no use: drop them on the way. */
    rc = sg_sql_prep(be, "DELETE FROM channel_oauth_states WHERE expires_at < ?1",
              &st, err);
    if (rc)
        return rc;
    sg_sql_bind_int(st, 1, now, &b);
    rc = sg_sql_run(be, st, b, "state purge", NULL, err);
    if (rc)
        return rc;
    rc = sg_sql_prep(be,
              "INSERT INTO channel_oauth_states (state_hash, tenant_id, "
              "platform, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
              &st, err);
    if (rc)
        return rc;
    b = SQLITE_OK;
    sg_sql_bind_text(st, 1, state_hash, &b);
    sg_sql_bind_int(st, 2, tenant_id, &b);
    sg_sql_bind_text(st, 3, platform, &b);
    sg_sql_bind_int(st, 4, now, &b);
    sg_sql_bind_int(st, 5, expires_at, &b);
    return sg_sql_run(be, st, b, "state insert", NULL, err);
}

static int state_take(void *be, const char *platform, const char *state_hash,
                      int64_t now, int64_t *tenant_out, struct sg_err *err)
{
    sqlite3_stmt *st;
    int b = SQLITE_OK, rc;

    rc = sg_sql_prep(be,
              "UPDATE channel_oauth_states SET used_at = ?3 "
              "WHERE state_hash = ?1 AND platform = ?2 AND used_at = 0 "
              "AND expires_at >= ?3 RETURNING tenant_id",
              &st, err);
    if (rc)
        return rc;
    sg_sql_bind_text(st, 1, state_hash, &b);
    sg_sql_bind_text(st, 2, platform, &b);
    sg_sql_bind_int(st, 3, now, &b);
    rc = b == SQLITE_OK ? sqlite3_step(st) : b;
    if (rc == SQLITE_ROW) {
        *tenant_out = sqlite3_column_int64(st, 0);
        rc = 0;
    } else if (rc == SQLITE_DONE) {
        rc = sg_err_set(err, SG_ENOTFOUND, "unknown, used or expired state");
    } else {
        rc = sg_sqlite_error(be, rc, "state take", err);
    }
    sg_sql_end(be, st);
    return rc;
}

static int conn_upsert(void *be, const struct sg_channel_conn *c,
                       int64_t now, int64_t *id_out, struct sg_err *err)
{
    sqlite3_stmt *st;
    int b = SQLITE_OK, rc;

    rc = sg_sql_prep(be,
              "INSERT INTO channel_connections (tenant_id, platform, app_id, "
              "open_id, seller_name, region, access_token_sealed, "
              "refresh_token_sealed, access_expires_at, refresh_expires_at, "
              "status, refreshed_at, created_at, updated_at) VALUES "
              "(?1, ?2, NULLIF(?3, 0), ?4, ?5, ?6, ?7, ?8, ?9, ?10, "
              "'active', ?11, ?11, ?11) "
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
              &st, err);
    if (rc)
        return rc;
    sg_sql_bind_int(st, 1, c->tenant_id, &b);
    sg_sql_bind_text(st, 2, c->platform, &b);
    sg_sql_bind_int(st, 3, c->app_id, &b);
    sg_sql_bind_text(st, 4, c->open_id, &b);
    sg_sql_bind_text(st, 5, c->seller_name, &b);
    sg_sql_bind_text(st, 6, c->region, &b);
    sg_sql_bind_text(st, 7, c->access_sealed, &b);
    sg_sql_bind_text(st, 8, c->refresh_sealed, &b);
    sg_sql_bind_int(st, 9, c->access_expires_at, &b);
    sg_sql_bind_int(st, 10, c->refresh_expires_at, &b);
    sg_sql_bind_int(st, 11, now, &b);
    rc = b == SQLITE_OK ? sqlite3_step(st) : b;
    if (rc == SQLITE_ROW) {
        *id_out = sqlite3_column_int64(st, 0);
        rc = 0;
    } else {
        rc = sg_sqlite_error(be, rc, "connection upsert", err);
    }
    sg_sql_end(be, st);
    return rc;
}

static int conn_set_tokens(void *be, int64_t id, const char *access_sealed,
                           const char *refresh_sealed, int64_t access_exp,
                           int64_t refresh_exp, int64_t now,
                           struct sg_err *err)
{
    sqlite3_stmt *st;
    int b = SQLITE_OK, rc, n = 0;

    rc = sg_sql_prep(be,
              "UPDATE channel_connections SET access_token_sealed = ?2, "
              "refresh_token_sealed = ?3, access_expires_at = ?4, "
              "refresh_expires_at = ?5, refreshed_at = ?6, "
              "next_refresh_at = 0, refresh_failures = 0, updated_at = ?6 "
              "WHERE id = ?1",
              &st, err);
    if (rc)
        return rc;
    sg_sql_bind_int(st, 1, id, &b);
    sg_sql_bind_text(st, 2, access_sealed, &b);
    sg_sql_bind_text(st, 3, refresh_sealed, &b);
    sg_sql_bind_int(st, 4, access_exp, &b);
    sg_sql_bind_int(st, 5, refresh_exp, &b);
    sg_sql_bind_int(st, 6, now, &b);
    rc = sg_sql_run(be, st, b, "connection tokens", &n, err);
    if (!rc && n == 0)
        rc = sg_err_set(err, SG_ENOTFOUND, "no connection %" PRId64, id);
    return rc;
}

static int conn_set_status(void *be, int64_t id, const char *status,
                           const char *reason, int64_t now,
                           struct sg_err *err)
{
    sqlite3_stmt *st;
    int b = SQLITE_OK, rc, n = 0;

    rc = sg_sql_prep(be,
              "UPDATE channel_connections SET status = ?2, "
              "status_reason = ?3, updated_at = ?4 WHERE id = ?1",
              &st, err);
    if (rc)
        return rc;
    sg_sql_bind_int(st, 1, id, &b);
    sg_sql_bind_text(st, 2, status, &b);
    sg_sql_bind_text(st, 3, reason, &b);
    sg_sql_bind_int(st, 4, now, &b);
    rc = sg_sql_run(be, st, b, "connection status", &n, err);
    if (!rc && n == 0)
        rc = sg_err_set(err, SG_ENOTFOUND, "no connection %" PRId64, id);
    return rc;
}

static int conn_refresh_failed(void *be, int64_t id, int64_t next_at,
                               int64_t now, struct sg_err *err)
{
    sqlite3_stmt *st;
    int b = SQLITE_OK, rc;

    rc = sg_sql_prep(be,
              "UPDATE channel_connections SET next_refresh_at = ?2, "
              "refresh_failures = refresh_failures + 1, updated_at = ?3 "
              "WHERE id = ?1",
              &st, err);
    if (rc)
        return rc;
    sg_sql_bind_int(st, 1, id, &b);
    sg_sql_bind_int(st, 2, next_at, &b);
    sg_sql_bind_int(st, 3, now, &b);
    return sg_sql_run(be, st, b, "connection refresh failure", NULL, err);
}

static int shop_upsert(void *be, const struct sg_channel_shop *s,
                       int64_t now, struct sg_err *err)
{
    sqlite3_stmt *st;
    int b = SQLITE_OK, rc;

    rc = sg_sql_prep(be,
              "INSERT INTO channel_shops (tenant_id, platform, shop_id, "
              "cipher, name, region, connection_id, created_at, updated_at) "
              "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8) "
              "ON CONFLICT (platform, shop_id) DO UPDATE SET "
              "tenant_id = excluded.tenant_id, cipher = excluded.cipher, "
              "name = excluded.name, region = excluded.region, "
              "connection_id = excluded.connection_id, "
              "updated_at = excluded.updated_at",
              &st, err);
    if (rc)
        return rc;
    sg_sql_bind_int(st, 1, s->tenant_id, &b);
    sg_sql_bind_text(st, 2, s->platform, &b);
    sg_sql_bind_text(st, 3, s->shop_id, &b);
    sg_sql_bind_text(st, 4, s->cipher, &b);
    sg_sql_bind_text(st, 5, s->name, &b);
    sg_sql_bind_text(st, 6, s->region, &b);
    sg_sql_bind_int(st, 7, s->connection_id, &b);
    sg_sql_bind_int(st, 8, now, &b);
    return sg_sql_run(be, st, b, "shop upsert", NULL, err);
}

/* ---- reads ---- */

static int fill_conn(struct sg_sql_row *rd, void *row)
{
    struct sg_channel_conn *c = row;

    c->id = sg_sql_rd_i64(rd);
    c->tenant_id = sg_sql_rd_i64(rd);
    c->app_id = sg_sql_rd_i64(rd);
    SG_SQL_RD_STR(rd, c->platform);
    SG_SQL_RD_STR(rd, c->open_id);
    SG_SQL_RD_STR(rd, c->seller_name);
    SG_SQL_RD_STR(rd, c->region);
    c->access_sealed = rd_dup_text(rd);
    c->refresh_sealed = rd_dup_text(rd);
    c->access_expires_at = sg_sql_rd_i64(rd);
    c->refresh_expires_at = sg_sql_rd_i64(rd);
    SG_SQL_RD_STR(rd, c->status);
    SG_SQL_RD_STR(rd, c->status_reason);
    c->refreshed_at = sg_sql_rd_i64(rd);
    c->next_refresh_at = sg_sql_rd_i64(rd);
    c->refresh_failures = sg_sql_rd_int(rd);
    c->created_at = sg_sql_rd_i64(rd);
    c->updated_at = sg_sql_rd_i64(rd);
    return sg_sql_row_end(rd);
}

static void release_conn(void *row)
{
    sg_channel_conn_release(row);
}

static const struct sg_sql_rowtype conn_row =
    SG_SQL_ROWTYPE(struct sg_channel_conn, fill_conn, release_conn);

static int fill_shop(struct sg_sql_row *rd, void *row)
{
    struct sg_channel_shop *s = row;

    s->id = sg_sql_rd_i64(rd);
    s->tenant_id = sg_sql_rd_i64(rd);
    s->connection_id = sg_sql_rd_i64(rd);
    SG_SQL_RD_STR(rd, s->platform);
    SG_SQL_RD_STR(rd, s->shop_id);
    SG_SQL_RD_STR(rd, s->cipher);
    SG_SQL_RD_STR(rd, s->name);
    SG_SQL_RD_STR(rd, s->region);
    s->created_at = sg_sql_rd_i64(rd);
    s->updated_at = sg_sql_rd_i64(rd);
    return sg_sql_row_end(rd);
}

static const struct sg_sql_rowtype shop_row =
    SG_SQL_ROWTYPE(struct sg_channel_shop, fill_shop, NULL);

/*
 * Up to max rows of t from a statement (b the binders' result; a bind
 * failure is "bind: ..." for connections, "shops: ..." for shops, as
 * before), NULL when there is none; the statement is handed back.
 */
static int read_rows(void *be, sqlite3_stmt *st, int b, const char *bind_what,
                     const char *what, const struct sg_sql_rowtype *t,
                     size_t max, void **out, size_t *n_out,
                     struct sg_err *err)
{
    int rc;

    *out = NULL;
    *n_out = 0;
    if (b != SQLITE_OK)
        rc = sg_sqlite_error(be, b, bind_what, err);
    else
        rc = sg_sql_fetch(be, st, what, t, max, out, n_out, err);
    sg_sql_end(be, st);
    return rc;
}

static int conn_get(void *be, int64_t tenant_id, int64_t id,
                    struct sg_channel_conn *out, struct sg_err *err)
{
    sqlite3_stmt *st;
    int b = SQLITE_OK, rc;

    rc = sg_sql_prep(be,
              "SELECT " CONN_COLS " FROM channel_connections WHERE id = ?1 "
              "AND (?2 = 0 OR tenant_id = ?2)",
              &st, err);
    if (rc)
        return rc;
    sg_sql_bind_int(st, 1, id, &b);
    sg_sql_bind_int(st, 2, tenant_id, &b);
    rc = sg_sql_get(be, st, b, "connection get", &conn_row, out, NULL, err);
    if (rc == SG_ENOTFOUND)
        rc = sg_err_set(err, SG_ENOTFOUND, "no connection %" PRId64, id);
    return rc;
}

static int conn_list(void *be, int64_t tenant_id, size_t max,
                     struct sg_channel_conn **out, size_t *n_out,
                     struct sg_err *err)
{
    sqlite3_stmt *st;
    void *rows;
    int b = SQLITE_OK, rc;

    rc = sg_sql_prep(be,
              "SELECT " CONN_COLS " FROM channel_connections "
              "WHERE (?1 = 0 OR tenant_id = ?1) ORDER BY id LIMIT ?2",
              &st, err);
    if (rc)
        return rc;
    sg_sql_bind_int(st, 1, tenant_id, &b);
    sg_sql_bind_int(st, 2, (int64_t)max, &b);
    rc = read_rows(be, st, b, "bind", "connections", &conn_row, max, &rows,
                   n_out, err);
    *out = rows;
    return rc;
}

static int conn_due(void *be, int64_t before, int64_t now, size_t max,
                    struct sg_channel_conn **out, size_t *n_out,
                    struct sg_err *err)
{
    sqlite3_stmt *st;
    void *rows;
    int b = SQLITE_OK, rc;

    rc = sg_sql_prep(be,
              "SELECT " CONN_COLS " FROM channel_connections "
              "WHERE status = 'active' AND access_expires_at < ?1 "
              "AND next_refresh_at <= ?2 ORDER BY access_expires_at "
              "LIMIT ?3",
              &st, err);
    if (rc)
        return rc;
    sg_sql_bind_int(st, 1, before, &b);
    sg_sql_bind_int(st, 2, now, &b);
    sg_sql_bind_int(st, 3, (int64_t)max, &b);
    rc = read_rows(be, st, b, "bind", "connections", &conn_row, max, &rows,
                   n_out, err);
    *out = rows;
    return rc;
}

static int shop_get(void *be, const char *platform, const char *shop_id,
                    struct sg_channel_shop *out, struct sg_err *err)
{
    sqlite3_stmt *st;
    int b = SQLITE_OK, rc;

    rc = sg_sql_prep(be,
              "SELECT " SHOP_COLS " FROM channel_shops WHERE platform = ?1 "
              "AND shop_id = ?2",
              &st, err);
    if (rc)
        return rc;
    sg_sql_bind_text(st, 1, platform, &b);
    sg_sql_bind_text(st, 2, shop_id, &b);
    return sg_sql_get(be, st, b, "shop get", &shop_row, out, "unknown shop",
                      err);
}

static int shop_list(void *be, int64_t tenant_id, int64_t connection_id,
                     size_t max, struct sg_channel_shop **out, size_t *n_out,
                     struct sg_err *err)
{
    sqlite3_stmt *st;
    void *rows;
    int b = SQLITE_OK, rc;

    rc = sg_sql_prep(be,
              "SELECT " SHOP_COLS " FROM channel_shops WHERE "
              "(?1 = 0 OR tenant_id = ?1) AND (?2 = 0 OR connection_id = ?2) "
              "ORDER BY id LIMIT ?3",
              &st, err);
    if (rc)
        return rc;
    sg_sql_bind_int(st, 1, tenant_id, &b);
    sg_sql_bind_int(st, 2, connection_id, &b);
    sg_sql_bind_int(st, 3, (int64_t)max, &b);
    rc = read_rows(be, st, b, "shops", "shops", &shop_row, max, &rows, n_out,
                   err);
    *out = rows;
    return rc;
}

const struct sg_channels_ops sg_channels_sqlite_ops = {
    .version = SG_CHANNELS_OPS_VERSION,
    .name = "sqlite",
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
