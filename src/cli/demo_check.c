/*
 * demo_check.c - the end of surge demo: the figures (orders, units, GMV,
 * API calls, 429s and retries, webhook -> reserved latency) and the
 * invariants (surge inventory check clean, nothing oversold, every
 * sandbox order in Surge with the same status, no stock drift, no
 * negative stock), printed and written as JSON. The store is read
 * read-only beside the running engine; the sandbox through its control
 * plane; the engine through its API and /metrics.
 */
#include "cli/demo.h"
#include "core/alloc.h"
#include "core/json.h"
#include "http/client.h"

#include <sqlite3.h>

/* ---- the store, read-only ---- */

static sqlite3 *db_open(const struct sg_demo *d)
{
    sqlite3 *db = NULL;

    if (sqlite3_open_v2(d->db, &db, SQLITE_OPEN_READONLY, NULL) !=
        SQLITE_OK) {
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_busy_timeout(db, 5000);
    return db;
}

static long db_long(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    long v = -1;

    if (db && sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        v = (long)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* {text of column 0: integer or text of column 1} for every row. */
static json_t *db_map(sqlite3 *db, const char *sql, bool text_values)
{
    json_t *m = json_object();
    sqlite3_stmt *st = NULL;

    if (db && sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
        while (sqlite3_step(st) == SQLITE_ROW) {
            const char *k = (const char *)sqlite3_column_text(st, 0);
            const char *s = (const char *)sqlite3_column_text(st, 1);

            if (!k)
                continue;
            json_object_set_new(m, k,
                                text_values
                                    ? json_string(s ? s : "")
                                    : json_integer(sqlite3_column_int64(st,
                                                                        1)));
        }
    }
    sqlite3_finalize(st);
    return m;
}

long sg_demo__surge_orders(struct sg_demo *d)
{
    sqlite3 *db = db_open(d);
    long n = db_long(db, "SELECT count(*) FROM orders");

    sqlite3_close(db);
    return n;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return (x > y) - (x < y);
}

/*
 * Webhook -> reserved: for each order, from the first TikTok Shop
 * webhook naming it (inbox.received_at, stamped when the intake stored
 * it, before the acknowledgement) to the ledger row that reserved its
 * stock (inventory_ledger.at, written in the same transaction as the
 * order). Both are milliseconds of the engine's clock.
 */
static const char LAT_SQL[] =
    "WITH w AS (SELECT json_extract(body, '$.data.order_id') AS oid, "
    "min(received_at) AS t FROM inbox WHERE source = 'tiktok_shop' "
    "AND json_valid(body) GROUP BY 1), "
    "r AS (SELECT cause_ref, min(at) AS t FROM inventory_ledger "
    "WHERE delta_reserved > 0 AND cause_ref LIKE 'order:tiktok_shop:%' "
    "GROUP BY 1) "
    "SELECT r.t - w.t FROM r JOIN w ON r.cause_ref = "
    "'order:tiktok_shop:' || w.oid";

static void latency(struct sg_demo *d, sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    int64_t *v = NULL;
    size_t n = 0, cap = 0;

    if (!db || sqlite3_prepare_v2(db, LAT_SQL, -1, &st, NULL) != SQLITE_OK)
        goto out;
    while (sqlite3_step(st) == SQLITE_ROW && n < 10000000) {
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 1024;
            int64_t *nv = sg_realloc(v, ncap * sizeof(*v));

            if (!nv)
                break;
            v = nv;
            cap = ncap;
        }
        v[n++] = sqlite3_column_int64(st, 0);
    }
    if (n) {
        qsort(v, n, sizeof(*v), cmp_i64);
        d->lat_p50_ms = sg_demo__pct(v, n, 50);
        d->lat_p99_ms = sg_demo__pct(v, n, 99);
        d->lat_max_ms = v[n - 1];
    }
    d->lat_n = (long)n;
out:
    sqlite3_finalize(st);
    sg_free(v);
}

/* ---- the sandbox and the engine ---- */

static void api_calls(struct sg_demo *d)
{
    json_t *calls = NULL, *codes, *n;
    const char *ep, *code;

    d->api_calls = json_object();
    sg_demo__http(&calls, "GET", d->sbx.url, "/sandbox/v1/calls", NULL, NULL);
    json_object_foreach(json_object_get(calls, "counts"), ep, codes) {
        long total = 0;

        json_object_foreach(codes, code, n) {
            long k = (long)json_integer_value(n);

            total += k;
            if (strcmp(code, "36009002") == 0)
                d->rate_limited += k;
            else if (strcmp(code, "36009003") == 0)
                d->server_errors += k;
        }
        json_object_set_new(d->api_calls, ep, json_integer(total));
        d->api_calls_total += total;
    }
    json_decref(calls);
}

static long metric(const char *text, const char *name)
{
    const char *p = text;
    size_t len = strlen(name);

    while (p && (p = strstr(p, name)) != NULL) {
        if ((p == text || p[-1] == '\n') && p[len] == ' ')
            return strtol(p + len + 1, NULL, 10);
        p += len;
    }
    return 0;
}

void sg_demo__retries(struct sg_demo *d)
{
    struct sg_http_response r;
    char url[300];
    struct sg_http_request req = {.method = "GET", .url = url,
                                  .timeout_ms = 10000};

    snprintf(url, sizeof(url), "%s/metrics", d->serve.url);
    memset(&r, 0, sizeof(r));
    if (sg_http_client_do(&r, &req, NULL, NULL) == 0 && r.status == 200 &&
        r.body) {
        d->jobs_retried +=
            metric(r.body, "sg_jobs_outcomes_total{outcome=\"retried\"}");
        d->fetch_errors += metric(r.body, "sg_orders_fetch_errors_total");
    }
    sg_http_response_release(&r);
    d->retries = d->jobs_retried + d->fetch_errors;
}

/* Compare every sandbox order with Surge's; counts go to d. */
static void compare_orders(struct sg_demo *d, sqlite3 *db)
{
    json_t *st = NULL, *o, *surge;
    size_t i, n;

    d->orders_missing = d->orders_status_diff = 0;
    json_decref(d->behind);
    d->behind = json_object();
    surge = db_map(db, "SELECT channel_order_id, status FROM orders", true);
    sg_demo__http(&st, "GET", d->sbx.url, "/sandbox/v1/state/orders", NULL,
                  NULL);
    n = json_array_size(json_object_get(st, "orders"));
    json_array_foreach(json_object_get(st, "orders"), i, o) {
        const char *id = sg_json_str(o, "id");
        const char *want = sg_json_str(o, "status");
        json_t *got = id ? json_object_get(surge, id) : NULL;

        if (!got || !want || strcmp(want, json_string_value(got)) != 0)
            json_object_set_new(d->behind, id ? id : "?",
                                json_string(want ? want : "?"));
        if (!got) {
            d->orders_missing++;
        } else if (!want || strcmp(want, json_string_value(got)) != 0) {
            d->orders_status_diff++;
            snprintf(d->mismatch_example, sizeof(d->mismatch_example),
                     "order %s: sandbox %s, Surge %s", id ? id : "?",
                     want ? want : "?", json_string_value(got));
        }
    }
    d->orders_match_ok = st && d->orders_missing == 0 &&
                         d->orders_status_diff == 0 &&
                         json_object_size(surge) == n;
    json_decref(st);
    json_decref(surge);
}

bool sg_demo__orders_converged(struct sg_demo *d)
{
    sqlite3 *db = db_open(d);

    compare_orders(d, db);
    sqlite3_close(db);
    if (d->orders_match_ok)
        d->mismatch_example[0] = '\0';
    return d->orders_match_ok;
}

static void check_stock(struct sg_demo *d, sqlite3 *db)
{
    json_t *st = NULL, *s, *surge;
    size_t i;

    surge = db_map(db,
                   "SELECT sku, sum(on_hand - reserved - committed) FROM "
                   "inventory_levels GROUP BY sku",
                   false);
    sg_demo__http(&st, "GET", d->sbx.url, "/sandbox/v1/state/skus", NULL,
                  NULL);
    json_array_foreach(json_object_get(st, "skus"), i, s) {
        const char *sku = sg_json_str(s, "seller_sku");
        int64_t listed = sg_json_int(s, "stock", 0);
        json_t *q = sku ? json_object_get(surge, sku) : NULL;

        if (listed < 0)
            d->negative_skus++;
        if (listed != (q ? json_integer_value(q) : 0)) {
            d->drift_skus++;
            snprintf(d->mismatch_example, sizeof(d->mismatch_example),
                     "SKU %s: sandbox lists %" PRId64 ", Surge %" PRId64,
                     sku ? sku : "?", listed,
                     (int64_t)(q ? json_integer_value(q) : 0));
        }
    }
    d->drift_ok = st && d->drift_skus == 0;
    d->negative_ok = st && d->negative_skus == 0;
    json_decref(st);
    json_decref(surge);
}

void sg_demo__check(struct sg_demo *d)
{
    const char *check[] = {"inventory", "check", "--tenant", "demo", NULL};
    sqlite3 *db = db_open(d);
    json_t *over = NULL;
    sqlite3_stmt *st = NULL;

    d->inv_check_ok = sg_demo__surge(d, NULL, check) == 0;
    d->orders = db_long(db, "SELECT count(*) FROM orders");
    d->cancelled =
        db_long(db, "SELECT count(*) FROM orders WHERE status = 'CANCELLED'");
    d->units = db_long(db, "SELECT coalesce(sum(qty), 0) FROM order_lines "
                           "WHERE inv IN ('reserved', 'committed')");
    d->gmv_minor = db_long(db, "SELECT coalesce(sum(total), 0) FROM orders "
                               "WHERE status != 'CANCELLED'");
    d->oversold_units = db_long(db, "SELECT coalesce(sum(qty), 0) FROM "
                                    "order_lines WHERE inv = 'oversold'");
    snprintf(d->currency, sizeof(d->currency), "USD");
    if (db && sqlite3_prepare_v2(db, "SELECT currency FROM orders LIMIT 1",
                                 -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        snprintf(d->currency, sizeof(d->currency), "%s",
                 (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    if (sg_demo__http(&over, "GET", d->serve.url,
                      "/api/v1/orders?oversold=true&limit=200", NULL,
                      d->key) == 200)
        d->oversold_orders =
            (long)json_array_size(json_object_get(over, "orders"));
    else
        d->oversold_orders = -1;
    json_decref(over);
    d->oversold_ok = d->oversold_units == 0 && d->oversold_orders == 0;
    latency(d, db);
    compare_orders(d, db);
    check_stock(d, db);
    sqlite3_close(db);
    api_calls(d);
    sg_demo__retries(d);
    d->ok = d->inv_check_ok && d->oversold_ok && d->orders_match_ok &&
            d->drift_ok && d->negative_ok && d->orders > 0 &&
            d->lat_n > 0;
}

/* ---- the report ---- */

static const char *mark(bool ok)
{
    return ok ? "ok  " : "FAIL";
}

static json_t *report_json(const struct sg_demo *d)
{
    char gmv[40];
    json_t *j, *fulfil;

    sg_demo__money(gmv, sizeof(gmv), d->gmv_minor);
    if (d->fulfilment_available)
        fulfil = json_pack("{s:s, s:I, s:I, s:I}", "status", "available",
                           "ready_to_ship",
                           (json_int_t)atomic_load(&d->wh.ready), "shipped",
                           (json_int_t)atomic_load(&d->wh.shipped),
                           "failed",
                           (json_int_t)atomic_load(&d->wh.ship_failed));
    else
        fulfil = json_pack("{s:s}", "status", "skipped: not available");
    j = json_pack(
        "{s:s, s:f, s:I, s:I, s:I, s:I, s:s, s:s, s:I, s:I, s:I, s:O, s:I,"
        " s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:b}",
        "scale", d->scale->name, "seconds", d->seconds, "orders",
        (json_int_t)d->orders, "cancelled", (json_int_t)d->cancelled,
        "units", (json_int_t)d->units, "gmv", (json_int_t)d->gmv_minor,
        "gmv_text", gmv, "currency", d->currency, "oversold_units",
        (json_int_t)d->oversold_units, "oversold_orders",
        (json_int_t)d->oversold_orders, "api_calls_total",
        (json_int_t)d->api_calls_total, "api_calls", d->api_calls,
        "rate_limited", (json_int_t)d->rate_limited, "server_errors",
        (json_int_t)d->server_errors, "retries", (json_int_t)d->retries,
        "orders_placed", (json_int_t)d->placed, "rejected_out_of_stock",
        (json_int_t)d->rejected, "webhook_to_reserved_p50_ms",
        (json_int_t)d->lat_p50_ms, "webhook_to_reserved_p99_ms",
        (json_int_t)d->lat_p99_ms, "webhook_to_reserved_max_ms",
        (json_int_t)d->lat_max_ms, "latency_samples", (json_int_t)d->lat_n,
        "invariants_ok", d->ok);
    if (!j) {
        json_decref(fulfil);
        return NULL;
    }
    json_object_set_new(j, "fulfilment", fulfil);
    json_object_set_new(
        j, "returns",
        d->returns_available
            ? json_pack("{s:s, s:I, s:I, s:I}", "status", "available",
                        "requested", (json_int_t)d->returns_requested,
                        "approved", (json_int_t)d->returns_approved,
                        "failed", (json_int_t)d->returns_failed)
            : json_pack("{s:s, s:I}", "status", "skipped: not available",
                        "requested", (json_int_t)d->returns_requested));
    json_object_set_new(j, "cancels_requested",
                        json_integer((json_int_t)d->cancels_requested));
    json_object_set_new(j, "jobs_retried",
                        json_integer((json_int_t)d->jobs_retried));
    json_object_set_new(j, "order_fetch_errors",
                        json_integer((json_int_t)d->fetch_errors));
    json_object_set_new(j, "engine_restarts",
                        json_integer((json_int_t)d->restarts));
    json_object_set_new(j, "orders_behind_before_restart",
                        json_integer((json_int_t)d->behind_before_restart));
    json_object_set_new(j, "skus_published",
                        json_integer((json_int_t)d->skus_published));
    json_object_set_new(
        j, "invariants",
        json_pack("{s:b, s:b, s:b, s:b, s:b}", "inventory_check",
                  d->inv_check_ok, "no_oversold", d->oversold_ok,
                  "orders_match", d->orders_match_ok, "no_drift", d->drift_ok,
                  "no_negative_stock", d->negative_ok));
    json_object_set_new(j, "store", json_string(d->db));
    json_object_set_new(j, "log", json_string(d->log));
    return j;
}

int sg_demo__report(struct sg_demo *d, const char *path)
{
    char gmv[40];
    const char *ep;
    json_t *n, *rep;
    FILE *f;
    int rc = 0;

    sg_demo__money(gmv, sizeof(gmv), d->gmv_minor);
    sg_demo__say("\nreport (%.1f s)", d->seconds);
    sg_demo__say("  orders %ld (%ld cancelled), units %ld, GMV %s %s",
                 d->orders, d->cancelled, d->units, gmv, d->currency);
    sg_demo__say("  buyers placed %lu orders; %lu attempts found the stock "
                 "sold out",
                 d->placed, d->rejected);
    sg_demo__say("  webhook -> reserved: p50 %" PRId64 " ms, p99 %" PRId64
                 " ms, max %" PRId64 " ms (%ld orders)",
                 d->lat_p50_ms, d->lat_p99_ms, d->lat_max_ms, d->lat_n);
    sg_demo__say("  TikTok Shop API calls %ld; 429s absorbed %ld, 5xx %ld, "
                 "retries %ld",
                 d->api_calls_total, d->rate_limited, d->server_errors,
                 d->retries);
    json_object_foreach(d->api_calls, ep, n)
        sg_demo__say("    %6ld  %s", (long)json_integer_value(n), ep);
    if (d->restarts)
        sg_demo__say("  %ld orders were behind after the traffic: the engine "
                     "was restarted and its reconciliation poll caught up",
                     d->behind_before_restart);
    if (d->fulfilment_available)
        sg_demo__say("  warehouse: %lu ready to ship, %lu shipped, %lu "
                     "failed",
                     atomic_load(&d->wh.ready), atomic_load(&d->wh.shipped),
                     atomic_load(&d->wh.ship_failed));
    else
        sg_demo__say("  fulfilment: skipped: not available (no POST "
                     "/api/v1/shipments in this engine)");
    if (d->returns_available)
        sg_demo__say("  returns: %lu requested, %lu approved through Surge",
                     d->returns_requested, d->returns_approved);
    else
        sg_demo__say("  returns: skipped: not available (%lu requested by "
                     "buyers)",
                     d->returns_requested);
    sg_demo__say("  invariants:");
    sg_demo__say("    %s surge inventory check", mark(d->inv_check_ok));
    sg_demo__say("    %s oversold units %ld, oversold orders %ld (must be 0)",
                 mark(d->oversold_ok), d->oversold_units, d->oversold_orders);
    sg_demo__say("    %s every sandbox order in Surge with the same status "
                 "(%ld missing, %ld differ)",
                 mark(d->orders_match_ok), d->orders_missing,
                 d->orders_status_diff);
    sg_demo__say("    %s listed stock equals Surge's channel quantity "
                 "(%ld SKUs drift)",
                 mark(d->drift_ok), d->drift_skus);
    sg_demo__say("    %s no negative stock (%ld SKUs)", mark(d->negative_ok),
                 d->negative_skus);
    if (d->mismatch_example[0])
        sg_demo__say("    e.g. %s", d->mismatch_example);
    sg_demo__say("  store: %s", d->db);
    sg_demo__say("  log:   %s", d->log);
    sg_demo__say("  invariants: %s", d->ok ? "all held" : "VIOLATED");
    if (!path)
        return 0;
    rep = report_json(d);
    f = fopen(path, "w");
    if (!f || !rep || json_dumpf(rep, f, JSON_INDENT(2)) != 0) {
        fprintf(stderr, "surge demo: cannot write %s\n", path);
        rc = -1;
    }
    if (f && fclose(f) != 0)
        rc = -1;
    json_decref(rep);
    return rc;
}
