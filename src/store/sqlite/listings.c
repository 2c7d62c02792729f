/*
 * listings.c - SQLite ops for listing sync (store/listings.h): the
 * listing_sync rows of migration 0005, the two checks catalog changes
 * make, and the storm hold's use of the job queue. Each statement is
 * taken from the connection's cache, bound and handed back within one
 * call; rows are copied out before it goes back.
 */
#include "core/sg.h"

#include <sqlite3.h>

#include "core/alloc.h"
#include "store/listings.h"
#include "store/sqlite/sqlutil.h"

#define COLS                                                                   \
    "tenant_id, product_id, channel, shop_id, channel_product_id, status, "   \
    "reason, state, updated_at"

static int row_read(sqlite3_stmt *st, struct sg_listing_sync *o)
{
    const unsigned char *r = sqlite3_column_text(st, 6);
    const unsigned char *s = sqlite3_column_text(st, 7);

    memset(o, 0, sizeof(*o));
    o->tenant_id = sqlite3_column_int64(st, 0);
    o->product_id = sqlite3_column_int64(st, 1);
    sg_sql_col_copy(st, 2, o->channel, sizeof(o->channel));
    sg_sql_col_copy(st, 3, o->shop_id, sizeof(o->shop_id));
    sg_sql_col_copy(st, 4, o->channel_product_id, sizeof(o->channel_product_id));
    sg_sql_col_copy(st, 5, o->status, sizeof(o->status));
    o->reason = r ? sg_strdup((const char *)r) : NULL;
    o->state = sg_strdup(s ? (const char *)s : "{}");
    o->updated_at = sqlite3_column_int64(st, 8);
    if ((r && !o->reason) || !o->state) {
        sg_listing_sync_release(o);
        return SG_ENOMEM;
    }
    return 0;
}

/* Run a one-row SELECT prepared with binds already applied. */
static int one_row(void *be, sqlite3_stmt *st, int brc,
                   struct sg_listing_sync *out, struct sg_err *err)
{
    int rc = brc == SQLITE_OK ? sqlite3_step(st) : brc;

    if (rc == SQLITE_ROW)
        rc = row_read(st, out) ? sg_err_set(err, SG_ENOMEM, "out of memory")
                               : 0;
    else if (rc == SQLITE_DONE)
        rc = sg_err_set(err, SG_ENOTFOUND, "no listing");
    else
        rc = sg_sqlite_error(be, rc, "listing read", err);
    sg_sql_end(be, st);
    return rc;
}

static int prep(void *be, const char *sql, sqlite3_stmt **st,
                struct sg_err *err)
{
    return sg_sql_prep(be, sql, st, err);
}

static int get_be(void *be, int64_t tenant_id, int64_t product_id,
                  const char *channel, struct sg_listing_sync *out,
                  struct sg_err *err)
{
    sqlite3_stmt *st;
    int rc = prep(be, "SELECT " COLS " FROM listing_sync WHERE tenant_id = ?"
                      " AND product_id = ? AND channel = ?", &st, err);
    int b;

    if (rc)
        return rc;
    b = sqlite3_bind_int64(st, 1, tenant_id);
    if (b == SQLITE_OK)
        b = sqlite3_bind_int64(st, 2, product_id);
    if (b == SQLITE_OK)
        b = sqlite3_bind_text(st, 3, channel, -1, SQLITE_STATIC);
    return one_row(be, st, b, out, err);
}

static int find_be(void *be, const char *channel,
                   const char *channel_product_id,
                   struct sg_listing_sync *out, struct sg_err *err)
{
    sqlite3_stmt *st;
    int b;
    int rc = prep(be, "SELECT " COLS " FROM listing_sync WHERE channel = ? "
                      "AND channel_product_id = ? LIMIT 1", &st, err);

    if (rc)
        return rc;
    b = sqlite3_bind_text(st, 1, channel, -1, SQLITE_STATIC);
    if (b == SQLITE_OK)
        b = sqlite3_bind_text(st, 2, channel_product_id, -1, SQLITE_STATIC);
    return one_row(be, st, b, out, err);
}

static int exec_done(void *be, sqlite3_stmt *st, int b, const char *what,
                     struct sg_err *err)
{
    int rc = b == SQLITE_OK ? sqlite3_step(st) : b;

    rc = (rc == SQLITE_DONE || rc == SQLITE_ROW)
             ? 0 : sg_sqlite_error(be, rc, what, err);
    sg_sql_end(be, st);
    return rc;
}

static int put_be(void *be, const struct sg_listing_sync *l, int64_t now,
                  struct sg_err *err)
{
    sqlite3_stmt *st;
    int b;
    int rc = prep(be, "INSERT OR REPLACE INTO listing_sync (" COLS ") "
                      "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", &st, err);

    if (rc)
        return rc;
    b = sqlite3_bind_int64(st, 1, l->tenant_id);
    if (b == SQLITE_OK)
        b = sqlite3_bind_int64(st, 2, l->product_id);
    if (b == SQLITE_OK)
        b = sqlite3_bind_text(st, 3, l->channel, -1, SQLITE_STATIC);
    if (b == SQLITE_OK)
        b = sqlite3_bind_text(st, 4, l->shop_id, -1, SQLITE_STATIC);
    if (b == SQLITE_OK)
        b = sqlite3_bind_text(st, 5, l->channel_product_id, -1,
                              SQLITE_STATIC);
    if (b == SQLITE_OK)
        b = sqlite3_bind_text(st, 6, l->status[0] ? l->status : "pending",
                              -1, SQLITE_STATIC);
    if (b == SQLITE_OK)
        b = l->reason ? sqlite3_bind_text(st, 7, l->reason, -1,
                                          SQLITE_STATIC)
                      : sqlite3_bind_null(st, 7);
    if (b == SQLITE_OK)
        b = sqlite3_bind_text(st, 8, l->state ? l->state : "{}", -1,
                              SQLITE_STATIC);
    if (b == SQLITE_OK)
        b = sqlite3_bind_int64(st, 9, now);
    return exec_done(be, st, b, "listing write", err);
}

static int delete_be(void *be, int64_t tenant_id, int64_t product_id,
                     const char *channel, struct sg_err *err)
{
    sqlite3_stmt *st;
    int b;
    int rc = prep(be, "DELETE FROM listing_sync WHERE tenant_id = ? AND "
                      "product_id = ? AND channel = ?", &st, err);

    if (rc)
        return rc;
    b = sqlite3_bind_int64(st, 1, tenant_id);
    if (b == SQLITE_OK)
        b = sqlite3_bind_int64(st, 2, product_id);
    if (b == SQLITE_OK)
        b = sqlite3_bind_text(st, 3, channel, -1, SQLITE_STATIC);
    return exec_done(be, st, b, "listing delete", err);
}

/*
 * One-row boolean check through the writer: ?1 is a, ?2 is t when set,
 * else b2, and ?3 is t3 when set. These run once per changed product
 * (their statements come from the connection's cache).
 */
static int be_bool(void *be, const char *sql, int64_t a, int64_t b2,
                   const char *t, const char *t3, bool *out,
                   struct sg_err *err)
{
    sqlite3_stmt *st;
    int b = SQLITE_OK;
    int rc = sg_sql_prep(be, sql, &st, err);

    *out = false;
    if (rc)
        return rc;
    sg_sql_bind_int(st, 1, a, &b);
    if (t)
        sg_sql_bind_text(st, 2, t, &b);
    else
        sg_sql_bind_int(st, 2, b2, &b);
    if (t3)
        sg_sql_bind_text(st, 3, t3, &b);
    rc = b == SQLITE_OK ? sqlite3_step(st) : b;
    if (rc == SQLITE_ROW) {
        *out = sqlite3_column_int64(st, 0) != 0;
        rc = 0;
    } else if (rc == SQLITE_DONE) {
        rc = 0;
    } else {
        rc = sg_sqlite_error(be, rc, "listing check", err);
    }
    sg_sql_end(be, st);
    return rc;
}

static int conn_active_be(void *be, int64_t tenant_id, const char *platform,
                          bool *out, struct sg_err *err)
{
    return be_bool(be, "SELECT EXISTS (SELECT 1 FROM channel_connections "
                       "WHERE tenant_id = ?1 AND platform = ?2 AND "
                       "status = 'active')",
                   tenant_id, 0, platform, NULL, out, err);
}

static int sku_zero_be(void *be, int64_t tenant_id, int64_t product_id,
                       const char *channel, bool *out, struct sg_err *err)
{
    /*
     * A SKU with nothing available, unless the channel already
     * acknowledged a quantity of 0 or less for it (state.qty): only a
     * channel still offering units Surge no longer has is urgent.
     */
    return be_bool(be, "SELECT EXISTS (SELECT 1 FROM variants v WHERE "
                       "v.tenant_id = ?1 AND v.product_id = ?2 AND "
                       "COALESCE((SELECT SUM(l.on_hand - l.reserved - "
                       "l.committed) FROM inventory_levels l WHERE "
                       "l.tenant_id = v.tenant_id AND l.sku = v.sku), 0) "
                       "<= 0 AND NOT EXISTS (SELECT 1 FROM listing_sync s, "
                       "json_each(CASE WHEN json_valid(s.state) THEN "
                       "s.state ELSE '{}' END, '$.qty') q WHERE "
                       "s.tenant_id = v.tenant_id AND s.product_id = "
                       "v.product_id AND s.channel = ?3 AND q.key = v.sku "
                       "AND q.value <= 0))",
                   tenant_id, product_id, NULL, channel, out, err);
}

/* ---- reads ---- */

/* Room for limit rows is allocated up front (limit is capped). */
static int list_be(void *be, int64_t tenant_id, const char *channel,
                   int64_t after, size_t limit, struct sg_listing_sync **out,
                   size_t *n_out, struct sg_err *err)
{
    struct sg_listing_sync *rows;
    sqlite3_stmt *st;
    size_t n = 0;
    int b;
    int rc = prep(be, "SELECT " COLS " FROM listing_sync WHERE (?1 = 0 OR "
                      "tenant_id = ?1) AND channel = ?2 AND product_id > ?3 "
                      "ORDER BY product_id LIMIT ?4", &st, err);

    *out = NULL;
    *n_out = 0;
    if (rc)
        return rc;
    rows = sg_calloc(limit ? limit : 1, sizeof(*rows));
    if (!rows) {
        sg_sql_end(be, st);
        return sg_err_set(err, SG_ENOMEM, "out of memory");
    }
    b = sqlite3_bind_int64(st, 1, tenant_id);
    if (b == SQLITE_OK)
        b = sqlite3_bind_text(st, 2, channel, -1, SQLITE_STATIC);
    if (b == SQLITE_OK)
        b = sqlite3_bind_int64(st, 3, after);
    if (b == SQLITE_OK)
        b = sqlite3_bind_int64(st, 4, (int64_t)limit);
    while (b == SQLITE_OK && n < limit &&
           (rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (row_read(st, &rows[n]) != 0) {
            rc = SQLITE_NOMEM;
            break;
        }
        n++;
    }
    if (b != SQLITE_OK)
        rc = b;
    rc = (rc == SQLITE_DONE || rc == SQLITE_ROW)
             ? 0 : sg_sqlite_error(be, rc, "listing list", err);
    sg_sql_end(be, st);
    if (rc) {
        sg_listing_sync_list_free(rows, n);
        return rc;
    }
    *out = rows;
    *n_out = n;
    return 0;
}

/* ---- catalog sync's use of the job queue: the storm hold ---- */

static int churn_be(void *be, const char *kind, int64_t since_ms,
                    struct sg_listings_churn *out, size_t max, size_t *n_out,
                    struct sg_err *err)
{
    sqlite3_stmt *st;
    int b = SQLITE_OK;
    int rc = prep(be, "SELECT tenant_id, COUNT(*) FROM jobs WHERE state = 0 "
                      "AND kind = ?1 AND attempts = 0 AND updated_at > "
                      "created_at AND updated_at >= ?2 GROUP BY tenant_id "
                      "ORDER BY tenant_id", &st, err);

    *n_out = 0;
    if (rc)
        return rc;
    sg_sql_bind_text(st, 1, kind, &b);
    sg_sql_bind_int(st, 2, since_ms, &b);
    while (b == SQLITE_OK && *n_out < max &&
           (rc = sqlite3_step(st)) == SQLITE_ROW) {
        out[*n_out].tenant_id = sqlite3_column_int64(st, 0);
        out[*n_out].products = sqlite3_column_int64(st, 1);
        (*n_out)++;
    }
    if (b != SQLITE_OK)
        rc = b;
    rc = (rc == SQLITE_DONE || rc == SQLITE_ROW)
             ? 0 : sg_sqlite_error(be, rc, "job churn", err);
    sg_sql_end(be, st);
    return rc;
}

/* One UPDATE over the tenant's queued jobs of kind below prio_below. */
static int reschedule(void *be, const char *sql, int64_t tenant_id,
                      const char *kind, int prio_below, int64_t hold_ms,
                      int64_t window_ms, int64_t now, size_t *n_out,
                      struct sg_err *err)
{
    sqlite3_stmt *st;
    int b = SQLITE_OK, changes = 0;
    int rc = sg_sql_prep(be, sql, &st, err);

    *n_out = 0;
    if (rc)
        return rc;
    sg_sql_bind_int(st, 1, tenant_id, &b);
    sg_sql_bind_text(st, 2, kind, &b);
    sg_sql_bind_int(st, 3, prio_below, &b);
    sg_sql_bind_int(st, 4, hold_ms, &b);
    sg_sql_bind_int(st, 5, now, &b);
    if (sqlite3_bind_parameter_count(st) >= 6)
        sg_sql_bind_int(st, 6, window_ms, &b);
    rc = sg_sql_run(be, st, b, "job hold", &changes, err);
    if (!rc)
        *n_out = (size_t)changes;
    return rc;
}

static int hold_be(void *be, int64_t tenant_id, const char *kind,
                   int prio_below, int64_t hold_ms, int64_t now,
                   size_t *n_out, struct sg_err *err)
{
    return reschedule(be, "UPDATE jobs SET next_run_at = created_at + ?4 "
                          "WHERE state = 0 AND tenant_id = ?1 AND kind = "
                          "?2 AND priority < ?3 AND next_run_at < "
                          "created_at + ?4 AND created_at + ?4 > ?5",
                      tenant_id, kind, prio_below, hold_ms, 0, now, n_out,
                      err);
}

static int release_be(void *be, int64_t tenant_id, const char *kind,
                      int prio_below, int64_t hold_ms, int64_t window_ms,
                      int64_t now, size_t *n_out, struct sg_err *err)
{
    return reschedule(be, "UPDATE jobs SET next_run_at = MAX(?5, "
                          "created_at + ?6) WHERE state = 0 AND "
                          "tenant_id = ?1 AND kind = ?2 AND priority < ?3 "
                          "AND next_run_at = created_at + ?4 AND "
                          "next_run_at > ?5",
                      tenant_id, kind, prio_below, hold_ms, window_ms, now,
                      n_out, err);
}

const struct sg_listings_ops sg_listings_sqlite_ops = {
    .version = SG_LISTINGS_OPS_VERSION,
    .name = "sqlite",
    .get = get_be,
    .find = find_be,
    .put = put_be,
    .del = delete_be,
    .conn_active = conn_active_be,
    .sku_zero = sku_zero_be,
    .list = list_be,
    .churn = churn_be,
    .hold = hold_be,
    .release = release_be,
};
