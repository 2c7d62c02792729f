/*
 * listings.c - the two listing-sync checks every catalog change makes
 * (store/listings.h: sg_listings_tx_conn_active, sg_listings_tx_sku_zero)
 * on PostgreSQL, so catalog and inventory writes work there. The rest of
 * listing sync (the listing_sync rows themselves) is SQLite only for now.
 */
#include "core/sg.h"

#include "core/json.h"
#include "store/postgres/pgutil.h"

int sg_pg_listings_conn_active(void *be, int64_t tenant_id,
                               const char *platform, bool *out,
                               struct sg_err *err)
{
    struct sg_pg_params q;
    PGresult *r = NULL;
    int rc;

    *out = false;
    sg_pg_params_init(&q);
    sg_pg_int(&q, tenant_id);
    sg_pg_text(&q, platform);
    rc = sg_pg_exec(be,
                    "SELECT 1 FROM channel_connections WHERE tenant_id = "
                    "$1::bigint AND platform = $2::text AND status = "
                    "'active' LIMIT 1",
                    &q, &r, NULL, "listing check", err);
    if (rc)
        return rc;
    *out = PQntuples(r) > 0;
    PQclear(r);
    return 0;
}

/*
 * state.qty[sku] of a listing_sync row is a number <= 0: the channel
 * already acknowledged nothing left. Text that is not JSON, or a qty that
 * is not a number, acknowledges nothing (as json_valid/json_each do in
 * the SQLite query).
 */
static bool acked_zero(const char *state, const char *sku)
{
    json_t *root = sg_json_loads(state, 0, NULL);
    json_t *v = root ? json_object_get(json_object_get(root, "qty"), sku)
                     : NULL;
    bool yes = v && json_is_number(v) && json_number_value(v) <= 0;

    json_decref(root);
    return yes;
}

int sg_pg_listings_sku_zero(void *be, int64_t tenant_id, int64_t product_id,
                            const char *channel, bool *out,
                            struct sg_err *err)
{
    struct sg_pg_params q;
    PGresult *zero = NULL, *st = NULL;
    int rc, i, k;

    *out = false;
    sg_pg_params_init(&q);
    sg_pg_int(&q, tenant_id);
    sg_pg_int(&q, product_id);
    rc = sg_pg_exec(be,
                    "SELECT v.sku FROM variants v WHERE v.tenant_id = "
                    "$1::bigint AND v.product_id = $2::bigint AND "
                    "COALESCE((SELECT SUM(l.on_hand - l.reserved - "
                    "l.committed) FROM inventory_levels l WHERE l.tenant_id "
                    "= v.tenant_id AND l.sku = v.sku), 0) <= 0",
                    &q, &zero, NULL, "listing check", err);
    if (rc)
        return rc;
    if (PQntuples(zero) == 0) {
        PQclear(zero);
        return 0;
    }
    sg_pg_text(&q, channel);
    rc = sg_pg_exec(be,
                    "SELECT state FROM listing_sync WHERE tenant_id = "
                    "$1::bigint AND product_id = $2::bigint AND channel = "
                    "$3::text",
                    &q, &st, NULL, "listing check", err);
    if (rc) {
        PQclear(zero);
        return rc;
    }
    for (i = 0; i < PQntuples(zero) && !*out; i++) {
        bool acked = false;

        for (k = 0; k < PQntuples(st) && !acked; k++)
            acked = !sg_pg_is_null(st, k, 0) &&
                    acked_zero(PQgetvalue(st, k, 0), PQgetvalue(zero, i, 0));
        *out = !acked;
    }
    PQclear(st);
    PQclear(zero);
    return 0;
}
