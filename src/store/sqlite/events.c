/*
 * events.c - the SQLite implementation of the events feature's storage
 * ops (features/events/events_store.h) over the tables of
 * 0003_events.sql. Writer functions run on the writer connection inside
 * the current batch transaction; statements come from the connection's
 * cache (sg_sql_prep) and are reused across the rows of that call.
 */
#include "core/sg.h"

#include <sqlite3.h>

#include "core/alloc.h"
#include "features/events/events_store.h"
#include "store/store.h"
#include "store/sqlite/sqlutil.h"

/*
 * An event has finished (sent or failed) when its own state says so or,
 * still BATCHED, when its batch does: a batch sealed at intake keeps its
 * events' JSON itself, so sending it marks only the batch row and leaves
 * its 1,000 event rows as they are (see ev_batch_result).
 */
#define FINISHED                                                              \
    "(state >= 2 OR (state = 1 AND EXISTS (SELECT 1 FROM event_batches b "   \
    "WHERE b.id = events.batch_id AND b.state >= 2)))"

/*
 * Why an insert and an update and not one upsert: an INSERT ... ON
 * CONFLICT DO UPDATE may abort half way (a constraint of the update), so
 * inside the writer's transaction SQLite gives every execution a
 * statement journal and copies each page the row touches (table leaf and
 * three index leaves, 4 KB each) into it first: about 20 KB of
 * temporary-file writes per event, the write amplification bench/events
 * saw. INSERT OR IGNORE cannot abort, so it needs no statement journal;
 * the rare key that exists already then takes the UPDATE, which only
 * replaces a finished event older than the window.
 *
 * Many rows per INSERT: one statement per event spent about a third of
 * the writer's instructions on each execution's own costs (opening and
 * closing a cursor per table and index, halting, binding), so rows go in
 * 64, 16, 4 or 1 at a time (statements from the connection's cache).
 * Which rows the insert kept comes from the rowids: new rows take
 * max(id) + 1 in VALUES order, so when every row went in (the common
 * case) they hold ids before + 1 .. before + n, which changes() and
 * last_insert_rowid() confirm. Otherwise (a key hit) each row's key is
 * looked up: a row with an id above before is new, and is the first row
 * of the chunk with that key. No RETURNING: it cost an ephemeral table
 * insert per row. The rows left out hit the key and go through the
 * UPDATE one by one, in order, exactly as when each row was its own
 * INSERT.
 */
#define EV_COLS "(tenant_id, source, source_id, event, event_id, " \
                "event_time, received_at, body, batch_id, state)"
#define EV_NPARAM 10
#define EV_R1 "(?,?,?,?,?,?,?,?,?,?)"
#define EV_R4 EV_R1 "," EV_R1 "," EV_R1 "," EV_R1
#define EV_R16 EV_R4 "," EV_R4 "," EV_R4 "," EV_R4
#define EV_R64 EV_R16 "," EV_R16 "," EV_R16 "," EV_R16
#define EV_INS(rows) "INSERT OR IGNORE INTO events " EV_COLS " VALUES " rows

static const struct {
    size_t rows;
    const char *sql;
} ev_ins_sql[] = {
    {64, EV_INS(EV_R64)},
    {16, EV_INS(EV_R16)},
    {4, EV_INS(EV_R4)},
    {1, EV_INS(EV_R1)},
};

/* Bind row r as the k-th row of a multi-row insert (k from 0). */
static void ins_bind(sqlite3_stmt *st, size_t k, const struct sg_events_row *r,
                     int64_t now_ms)
{
    int b = (int)(k * EV_NPARAM);

    sqlite3_bind_int64(st, b + 1, r->tenant_id);
    sqlite3_bind_int(st, b + 2, r->source);
    sqlite3_bind_text(st, b + 3, r->source_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, b + 4, r->event, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, b + 5, r->event_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, b + 6, r->event_time);
    sqlite3_bind_int64(st, b + 7, now_ms);
    if (r->batch_id) {
        sqlite3_bind_null(st, b + 8);
        sqlite3_bind_int64(st, b + 9, r->batch_id);
        sqlite3_bind_int(st, b + 10, SG_EVENT_BATCHED);
    } else {
        sqlite3_bind_text(st, b + 8, r->body, (int)r->body_len,
                          SQLITE_STATIC);
        sqlite3_bind_null(st, b + 9);
        sqlite3_bind_int(st, b + 10, SG_EVENT_PENDING);
    }
}

static bool same_key(const struct sg_events_row *a,
                     const struct sg_events_row *b)
{
    return a->tenant_id == b->tenant_id &&
           strcmp(a->source_id, b->source_id) == 0 &&
           strcmp(a->event, b->event) == 0 &&
           strcmp(a->event_id, b->event_id) == 0;
}

/* The highest events id (0 when empty). */
static int max_id(void *be, int64_t *out, struct sg_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = sg_sql_prep(be, "SELECT COALESCE(MAX(id), 0) FROM events", &st,
                         err), src;

    if (rc)
        return rc;
    src = sqlite3_step(st);
    if (src == SQLITE_ROW)
        *out = sqlite3_column_int64(st, 0);
    else
        rc = sg_sqlite_error(be, src, "events max id", err);
    sg_sql_end(be, st);
    return rc;
}

/*
 * After a chunk that kept fewer rows than it had: which rows are new.
 * A row is new when its key's row has an id above before (made by the
 * chunk) and no earlier row of the chunk has the same key (the first of
 * them went in, the rest hit it).
 */
static int ins_sort_out(void *be, struct sg_events_row *rows, size_t n,
                        int64_t before, struct sg_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = sg_sql_prep(be,
                  "SELECT id FROM events WHERE tenant_id = ?1 AND "
                  "source_id = ?2 AND event = ?3 AND event_id = ?4",
                  &st, err);

    for (size_t k = 0; !rc && k < n; k++) {
        struct sg_events_row *r = &rows[k];
        bool first = true;
        int src;

        for (size_t j = 0; first && j < k; j++)
            first = !same_key(&rows[j], r);
        if (!first)
            continue;
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, r->tenant_id);
        sqlite3_bind_text(st, 2, r->source_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, r->event, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, r->event_id, -1, SQLITE_STATIC);
        src = sqlite3_step(st);
        if (src == SQLITE_ROW) {
            int64_t id = sqlite3_column_int64(st, 0);

            if (id > before) {
                r->id = id;
                r->dup = false;
            }
        } else if (src != SQLITE_DONE) {
            rc = sg_sqlite_error(be, src, "events insert", err);
        }
    }
    sg_sql_end(be, st);
    return rc;
}

/*
 * Insert rows[0..n) with one statement (n is one of ev_ins_sql's sizes)
 * on top of *before, the highest id so far (moved to the new highest):
 * a row the insert kept gets its id and dup false, the others dup true.
 */
static int ins_chunk(void *be, const char *sql, struct sg_events_row *rows,
                     size_t n, int64_t now_ms, int64_t *before,
                     struct sg_err *err)
{
    sqlite3 *db = sg_sqlite_db(be);
    sqlite3_stmt *st = NULL;
    int64_t last;
    int rc = sg_sql_prep(be, sql, &st, err), src;

    if (rc)
        return rc;
    for (size_t k = 0; k < n; k++) {
        rows[k].id = 0;
        rows[k].dup = true;
        ins_bind(st, k, &rows[k], now_ms);
    }
    src = sqlite3_step(st);
    if (src != SQLITE_DONE) {
        rc = sg_sqlite_error(be, src, "events insert", err);
        sg_sql_end(be, st);
        return rc;
    }
    sg_sql_end(be, st);
    last = sqlite3_last_insert_rowid(db);
    if ((size_t)sqlite3_changes(db) == n && last == *before + (int64_t)n) {
        for (size_t k = 0; k < n; k++) {
            rows[k].id = *before + 1 + (int64_t)k;
            rows[k].dup = false;
        }
        *before = last;
        return 0;
    }
    rc = ins_sort_out(be, rows, n, *before, err);
    return rc ? rc : max_id(be, before, err);
}

static int ev_insert(void *be, struct sg_events_row *rows, size_t n,
                     int64_t now_ms, int64_t window_ms, struct sg_err *err)
{
    static const char upd_sql[] =
        "UPDATE OR IGNORE events SET source = ?2, event_time = ?6, "
        "received_at = ?7, body = ?8, batch_id = ?9, state = ?10, "
        "error = NULL WHERE tenant_id = ?1 AND source_id = ?3 AND "
        "event = ?4 AND event_id = ?5 AND received_at < ?11 AND " FINISHED
        " RETURNING id";
    sqlite3_stmt *upd = NULL;
    int64_t before = 0;
    size_t done = 0;
    int rc = 0;

    /* OR IGNORE would also skip a NOT NULL failure: refuse it here. */
    for (size_t i = 0; i < n; i++)
        if (!rows[i].source_id || !rows[i].event || !rows[i].event_id)
            return sg_err_set(err, SG_EINVAL, "event row without key");
    if (n)
        rc = max_id(be, &before, err);
    for (size_t c = 0; !rc && done < n; ) {
        if (n - done < ev_ins_sql[c].rows) {
            c++;
            continue;
        }
        rc = ins_chunk(be, ev_ins_sql[c].sql, rows + done, ev_ins_sql[c].rows,
                       now_ms, &before, err);
        done += ev_ins_sql[c].rows;
    }
    /* The rows whose key exists: maybe an expired one to reuse. */
    for (size_t i = 0; !rc && i < n; i++) {
        struct sg_events_row *r = &rows[i];
        int src;

        if (!r->dup)
            continue;
        if (!upd) {
            rc = sg_sql_prep(be, upd_sql, &upd, err);
            if (rc)
                break;
        }
        sqlite3_reset(upd);
        ins_bind(upd, 0, r, now_ms);
        sqlite3_bind_int64(upd, 11, now_ms - window_ms);
        src = sqlite3_step(upd);
        if (src == SQLITE_ROW) {
            r->id = sqlite3_column_int64(upd, 0);
            r->dup = false;
            src = sqlite3_step(upd);
        }
        if (src != SQLITE_DONE)
            rc = sg_sqlite_error(be, src, "events reuse", err);
    }
    sg_sql_end(be, upd);
    return rc;
}

static int ev_pending(void *be, int64_t tenant_id, int source, size_t cap,
                      size_t *n_out, int64_t *max_id_out, struct sg_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc, src;

    *n_out = 0;
    *max_id_out = 0;
    rc = sg_sql_prep(be,
              "SELECT (SELECT COUNT(*) FROM (SELECT 1 FROM events WHERE "
              "tenant_id = ?1 AND source = ?2 AND batch_id IS NULL LIMIT ?3)),"
              " (SELECT MAX(id) FROM events WHERE tenant_id = ?1 AND "
              "source = ?2 AND batch_id IS NULL)",
              &st, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, tenant_id);
    sqlite3_bind_int(st, 2, source);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)cap);
    src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        *n_out = (size_t)sqlite3_column_int64(st, 0);
        *max_id_out = sqlite3_column_int64(st, 1);
    } else {
        rc = sg_sqlite_error(be, src, "events pending", err);
    }
    sg_sql_end(be, st);
    return rc;
}

void sg_events_batch_release(struct sg_events_batch *b)
{
    if (!b)
        return;
    for (size_t i = 0; b->bodies && i < b->n; i++)
        sg_free(b->bodies[i]);
    sg_free(b->bodies);
    sg_free(b->lens);
    sg_free(b->joined);
    memset(b, 0, sizeof(*b));
}

/*
 * The joined JSON of batch row id into a buffer of our own. The blob
 * interface reads the overflow pages straight into it: a column value
 * would first be copied whole into a value of SQLite's (one more 470 KB
 * copy and allocation per batch, the dispatcher's largest cost).
 * Called while the statement that found the row is still stepping, so
 * both read the same snapshot.
 */
static int batch_joined(void *be, int64_t id, struct sg_events_batch *out,
                        struct sg_err *err)
{
    sqlite3_blob *blob = NULL;
    int rc = 0, src, len;

    src = sqlite3_blob_open(sg_sqlite_db(be), "main", "event_batches",
                            "body", id, 0, &blob);
    if (src != SQLITE_OK) {
        rc = sg_sqlite_error(be, src, "events batch body", err);
        goto out;
    }
    len = sqlite3_blob_bytes(blob);
    out->joined = sg_alloc((size_t)len + 1);
    if (!out->joined) {
        rc = sg_err_set(err, SG_ENOMEM, "out of memory");
        goto out;
    }
    src = sqlite3_blob_read(blob, out->joined, len, 0);
    if (src != SQLITE_OK) {
        sg_free(out->joined);
        out->joined = NULL;
        rc = sg_sqlite_error(be, src, "events batch body", err);
        goto out;
    }
    out->joined[len] = '\0';
    out->joined_len = (size_t)len;
out:
    sqlite3_blob_close(blob);
    return rc;
}

/*
 * Load the batch row bound to job_id (with_body: and its joined JSON if
 * it keeps one); SG_ENOTFOUND if none.
 */
static int batch_find(void *be, int64_t job_id, bool with_body,
                      struct sg_events_batch *out, struct sg_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc, src;

    /*
     * Not body itself: a row's result columns are all computed before
     * it is returned, so naming it would read the whole joined JSON
     * (hundreds of KB) even for a caller that only needs has_joined.
     * typeof() is answered from the record header; batch_joined reads
     * the body when it is wanted.
     */
    rc = sg_sql_prep(be,
              "SELECT id, tenant_id, source, source_id, n, created_at, "
              "typeof(body) <> 'null' FROM event_batches WHERE job_id = ?1",
              &st, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, job_id);
    src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        const unsigned char *sid = sqlite3_column_text(st, 3);

        out->id = sqlite3_column_int64(st, 0);
        out->tenant_id = sqlite3_column_int64(st, 1);
        out->source = sqlite3_column_int(st, 2);
        snprintf(out->source_id, sizeof(out->source_id), "%s",
                 sid ? (const char *)sid : "");
        out->n = (size_t)sqlite3_column_int64(st, 4);
        out->has_joined = sqlite3_column_int(st, 6) != 0;
        if (with_body && out->has_joined) {
            out->oldest_received_ms = sqlite3_column_int64(st, 5);
            rc = batch_joined(be, out->id, out, err);
        }
    } else if (src == SQLITE_DONE) {
        rc = SG_ENOTFOUND;
    } else {
        rc = sg_sqlite_error(be, src, "events batch", err);
    }
    sg_sql_end(be, st);
    return rc;
}

/* Read the bodies of batch b (n rows expected), oldest first. */
static int batch_bodies(void *be, struct sg_events_batch *b,
                        struct sg_err *err)
{
    sqlite3_stmt *st = NULL;
    size_t want = b->n, got = 0;
    int rc, src;

    b->n = 0;
    if (want == 0)
        return 0;
    b->bodies = sg_calloc(want, sizeof(*b->bodies));
    b->lens = sg_calloc(want, sizeof(*b->lens));
    if (!b->bodies || !b->lens)
        return sg_err_set(err, SG_ENOMEM, "out of memory");
    rc = sg_sql_prep(be,
              "SELECT body, received_at FROM events WHERE batch_id = ?1 "
              "ORDER BY id",
              &st, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, b->id);
    while (!rc && (src = sqlite3_step(st)) == SQLITE_ROW && got < want) {
        const void *t = sqlite3_column_text(st, 0);
        size_t len = (size_t)sqlite3_column_bytes(st, 0);
        int64_t at = sqlite3_column_int64(st, 1);

        if (!t) /* already sent and cleared: nothing to resend */
            continue;
        b->bodies[got] = sg_strndup(t, len);
        if (!b->bodies[got]) {
            rc = sg_err_set(err, SG_ENOMEM, "out of memory");
            break;
        }
        b->lens[got] = len;
        if (got == 0 || at < b->oldest_received_ms)
            b->oldest_received_ms = at;
        got++;
        b->n = got;
    }
    if (!rc && src != SQLITE_ROW && src != SQLITE_DONE)
        rc = sg_sqlite_error(be, src, "events bodies", err);
    sg_sql_end(be, st);
    return rc;
}

/* The source_id of the oldest pending event of (tenant, source) with id
 * <= upto into sid; *found false when none is pending. */
static int oldest_source_id(void *be, int64_t tenant_id, int source,
                            int64_t upto_id, char *sid, size_t sid_size,
                            bool *found, struct sg_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc, src;

    *found = false;
    rc = sg_sql_prep(be,
              "SELECT source_id FROM events WHERE tenant_id = ?1 AND "
              "source = ?2 AND batch_id IS NULL AND id <= ?3 ORDER BY id "
              "LIMIT 1",
              &st, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, tenant_id);
    sqlite3_bind_int(st, 2, source);
    sqlite3_bind_int64(st, 3, upto_id);
    src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(st, 0);

        snprintf(sid, sid_size, "%s", t ? (const char *)t : "");
        *found = true;
    } else if (src != SQLITE_DONE) {
        rc = sg_sqlite_error(be, src, "events oldest", err);
    }
    sg_sql_end(be, st);
    return rc;
}

/*
 * Bind up to max pending events to a new batch of job_id. One batch has
 * one event_source_id: the oldest pending event's, and only events with
 * that same id go in (a changed pixel code starts a new batch). Fills
 * out's id, tenant, source, source_id and n; n = 0 writes nothing.
 */
static int seal_into(void *be, int64_t job_id, int64_t tenant_id, int source,
                     int64_t upto_id, size_t max, int64_t now_ms,
                     struct sg_events_batch *out, struct sg_err *err)
{
    sqlite3_stmt *st = NULL;
    bool found = false;
    int rc, src;

    out->n = 0;
    rc = oldest_source_id(be, tenant_id, source, upto_id, out->source_id,
                          sizeof(out->source_id), &found, err);
    if (rc || !found)
        return rc;
    rc = sg_sql_prep(be,
              "INSERT INTO event_batches (tenant_id, source, source_id, "
              "job_id, n, created_at) VALUES (?1, ?2, ?3, ?4, 0, ?5)",
              &st, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, tenant_id);
    sqlite3_bind_int(st, 2, source);
    sqlite3_bind_text(st, 3, out->source_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, job_id);
    sqlite3_bind_int64(st, 5, now_ms);
    src = sqlite3_step(st);
    sg_sql_end(be, st);
    if (src != SQLITE_DONE)
        return sg_sqlite_error(be, src, "events batch insert", err);
    out->id = sqlite3_last_insert_rowid(sg_sqlite_db(be));
    out->tenant_id = tenant_id;
    out->source = source;
    rc = sg_sql_prep(be,
              "UPDATE events SET batch_id = ?1, state = 1 WHERE id IN (SELECT "
              "id FROM events WHERE tenant_id = ?2 AND source = ?3 AND "
              "batch_id IS NULL AND id <= ?4 AND source_id = ?6 ORDER BY id "
              "LIMIT ?5)",
              &st, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, out->id);
    sqlite3_bind_int64(st, 2, tenant_id);
    sqlite3_bind_int(st, 3, source);
    sqlite3_bind_int64(st, 4, upto_id);
    sqlite3_bind_int64(st, 5, (sqlite3_int64)max);
    sqlite3_bind_text(st, 6, out->source_id, -1, SQLITE_STATIC);
    src = sqlite3_step(st);
    sg_sql_end(be, st);
    if (src != SQLITE_DONE)
        return sg_sqlite_error(be, src, "events seal", err);
    out->n = (size_t)sqlite3_changes(sg_sqlite_db(be));
    rc = sg_sql_prep(be, "UPDATE event_batches SET n = ?2 WHERE id = ?1", &st, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, out->id);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)out->n);
    src = sqlite3_step(st);
    sg_sql_end(be, st);
    return src == SQLITE_DONE ? 0
                              : sg_sqlite_error(be, src, "events batch n", err);
}

static int ev_seal(void *be, int64_t job_id, int64_t tenant_id, int source,
                   int64_t upto_id, size_t max, int64_t now_ms,
                   struct sg_events_batch *out, size_t *remaining_out,
                   struct sg_err *err)
{
    int64_t max_id;
    int rc;

    memset(out, 0, sizeof(*out));
    *remaining_out = 0;
    rc = batch_find(be, job_id, true, out, err);
    if (rc == 0) /* a retry: the same events */
        return out->joined ? 0 : batch_bodies(be, out, err);
    if (rc != SG_ENOTFOUND)
        return rc;
    rc = seal_into(be, job_id, tenant_id, source, upto_id, max, now_ms, out,
                   err);
    if (!rc)
        rc = ev_pending(be, tenant_id, source, SIZE_MAX >> 1, remaining_out,
                        &max_id, err);
    if (rc || out->n == 0)
        return rc;
    return batch_bodies(be, out, err);
}

static int ev_seal_new(void *be, int64_t job_id, int64_t tenant_id,
                       int source, int64_t upto_id, size_t max,
                       int64_t now_ms, size_t *n_out, struct sg_err *err)
{
    struct sg_events_batch b;
    int rc;

    memset(&b, 0, sizeof(b));
    rc = seal_into(be, job_id, tenant_id, source, upto_id, max, now_ms, &b,
                   err);
    *n_out = rc ? 0 : b.n;
    return rc;
}

static int ev_load(void *be, int64_t job_id, struct sg_events_batch *out,
                   struct sg_err *err)
{
    int rc;

    memset(out, 0, sizeof(*out));
    rc = batch_find(be, job_id, true, out, err);
    if (!rc && !out->joined)
        rc = batch_bodies(be, out, err);
    if (rc && rc != SG_ENOTFOUND)
        sg_events_batch_release(out);
    return rc;
}

static int ev_trigger_cancel(void *be, int64_t tenant_id, const char *key,
                             const char *note, int64_t now_ms,
                             struct sg_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc, src;

    rc = sg_sql_prep(be,
              "UPDATE jobs SET state = 2, last_error = ?3, updated_at = ?4 "
              "WHERE tenant_id = ?1 AND coalesce_key = ?2 AND state = 0",
              &st, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, tenant_id);
    sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, note, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, now_ms);
    src = sqlite3_step(st);
    sg_sql_end(be, st);
    return src == SQLITE_DONE ? 0
                              : sg_sqlite_error(be, src, "events cancel", err);
}

static int exec1(void *be, const char *sql, int64_t a, struct sg_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = sg_sql_prep(be, sql, &st, err), src;

    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, a);
    src = sqlite3_step(st);
    sg_sql_end(be, st);
    return src == SQLITE_DONE ? 0 : sg_sqlite_error(be, src, "events", err);
}

static int ev_job_detach(void *be, int64_t job_id, struct sg_err *err)
{
    return exec1(be, "UPDATE jobs SET coalesce_key = NULL WHERE id = ?1",
                 job_id, err);
}

/*
 * secure_delete for this connection: the current mode (0 off, 1 on,
 * 2 fast) into *old_out, then mode. Debian's SQLite has it on by default,
 * which zeroes every page a delete frees: clearing a sent batch's joined
 * JSON (about 470 bytes per event, in overflow pages) then wrote it a
 * second time as zeros, a third of the store's bytes per event. FAST
 * still zeroes freed content inside b-tree pages but leaves freed
 * overflow pages as they are until the next batch reuses them; what they
 * hold is the events' normalised JSON, digests only.
 */
static int secure_delete_swap(void *be, int mode, int *old_out,
                              struct sg_err *err)
{
    sqlite3_stmt *st = NULL;
    char sql[40];
    int rc, src;

    if (old_out) {
        rc = sg_sql_prep(be, "PRAGMA secure_delete", &st, err);
        if (rc)
            return rc;
        src = sqlite3_step(st);
        *old_out = src == SQLITE_ROW ? sqlite3_column_int(st, 0) : 1;
        sg_sql_end(be, st);
    }
    /* The pragma reads "2" as a boolean: FAST must be spelt out. */
    snprintf(sql, sizeof(sql), "PRAGMA secure_delete = %s",
             mode == 2 ? "FAST" : mode ? "ON" : "OFF");
    src = sqlite3_exec(sg_sqlite_db(be), sql, NULL, NULL, NULL);
    return src == SQLITE_OK ? 0
                            : sg_sqlite_error(be, src, "secure_delete", err);
}

static int ev_batch_result(void *be, int64_t job_id, int state,
                           const size_t *failed_idx, size_t n_failed,
                           const char *error, int64_t now_ms,
                           struct sg_err *err)
{
    struct sg_events_batch b;
    sqlite3_stmt *st = NULL, *up = NULL;
    size_t pos = 0, k = 0;
    int rc, src = SQLITE_DONE, old_sd = 1;

    memset(&b, 0, sizeof(b));
    rc = batch_find(be, job_id, false, &b, err);
    if (rc)
        return rc;
    /*
     * A sent batch's joined JSON goes, like its events' bodies; one with
     * refused events keeps it (digests only), as refused events keep
     * theirs.
     */
    rc = sg_sql_prep(be,
              "UPDATE event_batches SET state = ?2, failed = ?3, error = ?4, "
              "done_at = ?5, body = CASE WHEN ?2 = 2 AND ?3 = 0 THEN NULL "
              "ELSE body END WHERE id = ?1",
              &st, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, b.id);
    sqlite3_bind_int(st, 2, state);
    sqlite3_bind_int64(st, 3, state == SG_EVENT_FAILED
                                  ? (sqlite3_int64)b.n
                                  : (sqlite3_int64)n_failed);
    sqlite3_bind_text(st, 4, error, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, now_ms);
    rc = secure_delete_swap(be, 2, &old_sd, err);
    src = rc ? SQLITE_DONE : sqlite3_step(st);
    sg_sql_end(be, st);
    st = NULL;
    if (!rc)
        rc = secure_delete_swap(be, old_sd, NULL, err);
    if (rc)
        return rc;
    if (src != SQLITE_DONE)
        return sg_sqlite_error(be, src, "events batch result", err);
    if (state == SG_EVENT_FAILED) {
        rc = sg_sql_prep(be,
                  "UPDATE events SET state = 3, error = ?2 WHERE batch_id = "
                  "?1",
                  &st, err);
        if (rc)
            return rc;
        sqlite3_bind_int64(st, 1, b.id);
        sqlite3_bind_text(st, 2, error, -1, SQLITE_STATIC);
        src = sqlite3_step(st);
        sg_sql_end(be, st);
        return src == SQLITE_DONE ? 0
                                  : sg_sqlite_error(be, src, "events", err);
    }
    /*
     * Sent: first the refused positions (walking the batch in order; a
     * partial answer is rare and refuses few), then every other event of
     * the batch in one statement.
     */
    if (n_failed > 0) {
        rc = sg_sql_prep(be,
                  "SELECT id FROM events WHERE batch_id = ?1 ORDER BY id",
                  &st, err);
        if (!rc)
            rc = sg_sql_prep(be,
                      "UPDATE events SET state = 3, error = ?2 WHERE id = ?1",
                      &up, err);
        if (rc)
            goto out;
        sqlite3_bind_int64(st, 1, b.id);
        while (k < n_failed && (src = sqlite3_step(st)) == SQLITE_ROW) {
            if (failed_idx[k] == pos) {
                k++;
                sqlite3_reset(up);
                sqlite3_bind_int64(up, 1, sqlite3_column_int64(st, 0));
                sqlite3_bind_text(up, 2, error ? error : "refused", -1,
                                  SQLITE_STATIC);
                if (sqlite3_step(up) != SQLITE_DONE) {
                    rc = sg_sqlite_error(be,
                                         sqlite3_errcode(sg_sqlite_db(be)),
                                         "events mark", err);
                    goto out;
                }
                while (k < n_failed && failed_idx[k] == pos)
                    k++; /* a repeated index */
            }
            pos++;
        }
        if (src != SQLITE_ROW && src != SQLITE_DONE) {
            rc = sg_sqlite_error(be, src, "events walk", err);
            goto out;
        }
        sg_sql_end(be, st);
        st = NULL;
    }
    /*
     * A batch sealed at intake: its events have no body to clear and the
     * batch row now says they are sent (FINISHED): 1,000 row rewrites
     * and their WAL pages saved per send. Other batches clear their
     * events' bodies here.
     */
    if (b.has_joined)
        goto out;
    rc = sg_sql_prep(be,
              "UPDATE events SET state = 2, error = NULL, body = NULL WHERE "
              "batch_id = ?1 AND state = 1",
              &st, err);
    if (rc)
        goto out;
    sqlite3_bind_int64(st, 1, b.id);
    src = sqlite3_step(st);
    if (src != SQLITE_DONE)
        rc = sg_sqlite_error(be, src, "events sent", err);
out:
    sg_sql_end(be, st);
    sg_sql_end(be, up);
    return rc;
}

#define PRUNE_BATCHES_MAX 16 /* batches emptied per prune call */

/*
 * By batch: a finished batch made before before_ms holds only events
 * received before it, all finished (a reused event has moved to its new
 * batch), so they go together. Stops once max events are gone (so one
 * call may take up to a batch more) or after PRUNE_BATCHES_MAX batches.
 */
static int ev_prune(void *be, int64_t before_ms, size_t max, size_t *n_out,
                    struct sg_err *err)
{
    sqlite3_stmt *pick = NULL, *del = NULL, *mark = NULL;
    int rc, src = SQLITE_DONE;

    *n_out = 0;
    rc = sg_sql_prep(be,
              "SELECT id FROM event_batches WHERE state >= 2 AND pruned = 0 "
              "AND created_at < ?1 ORDER BY created_at LIMIT ?2",
              &pick, err);
    if (!rc)
        rc = sg_sql_prep(be, "DELETE FROM events WHERE batch_id = ?1", &del,
                         err);
    if (!rc)
        rc = sg_sql_prep(be,
                  "UPDATE event_batches SET pruned = 1 WHERE id = ?1", &mark,
                  err);
    if (rc)
        goto out;
    sqlite3_bind_int64(pick, 1, before_ms);
    sqlite3_bind_int64(pick, 2, PRUNE_BATCHES_MAX);
    /* The partial index drops a row once marked: collect the ids first. */
    {
        int64_t ids[PRUNE_BATCHES_MAX];
        size_t k = 0;

        while (k < PRUNE_BATCHES_MAX &&
               (src = sqlite3_step(pick)) == SQLITE_ROW)
            ids[k++] = sqlite3_column_int64(pick, 0);
        if (src != SQLITE_ROW && src != SQLITE_DONE) {
            rc = sg_sqlite_error(be, src, "events prune", err);
            goto out;
        }
        sg_sql_end(be, pick);
        pick = NULL;
        for (size_t i = 0; i < k && *n_out < max; i++) {
            sqlite3_reset(del);
            sqlite3_bind_int64(del, 1, ids[i]);
            src = sqlite3_step(del);
            if (src != SQLITE_DONE)
                break;
            *n_out += (size_t)sqlite3_changes(sg_sqlite_db(be));
            sqlite3_reset(mark);
            sqlite3_bind_int64(mark, 1, ids[i]);
            src = sqlite3_step(mark);
            if (src != SQLITE_DONE)
                break;
        }
        if (src != SQLITE_DONE)
            rc = sg_sqlite_error(be, src, "events prune", err);
    }
out:
    sg_sql_end(be, pick);
    sg_sql_end(be, del);
    sg_sql_end(be, mark);
    return rc;
}

static int ev_pending_sources(void *be, int64_t *tenants, int *sources,
                              size_t max, size_t *n_out, struct sg_err *err)
{
    sqlite3_stmt *st = NULL;
    size_t n = 0;
    int rc, src;

    *n_out = 0;
    rc = sg_sql_prep(be,
              "SELECT DISTINCT tenant_id, source FROM events WHERE batch_id "
              "IS NULL LIMIT ?1",
              &st, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)max);
    while (n < max && (src = sqlite3_step(st)) == SQLITE_ROW) {
        tenants[n] = sqlite3_column_int64(st, 0);
        sources[n] = sqlite3_column_int(st, 1);
        n++;
    }
    sg_sql_end(be, st);
    *n_out = n;
    return 0;
}

static int ev_counts(void *be, int64_t tenant_id, struct sg_events_counts *out,
                     struct sg_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc, src;

    memset(out, 0, sizeof(*out));
    rc = sg_sql_prep(be,
              "SELECT CASE WHEN e.state = 1 AND b.state >= 2 THEN b.state "
              "ELSE e.state END AS st, COUNT(*) FROM events e LEFT JOIN "
              "event_batches b ON b.id = e.batch_id WHERE e.tenant_id = ?1 OR "
              "?1 = 0 GROUP BY st",
              &st, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, tenant_id);
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        int s = sqlite3_column_int(st, 0);

        if (s >= 0 && s < 4)
            out->by_state[s] = sqlite3_column_int64(st, 1);
    }
    sg_sql_end(be, st);
    if (src != SQLITE_DONE)
        return sg_sqlite_error(be, src, "events counts", err);
    rc = sg_sql_prep(be,
              "SELECT COUNT(*) FROM event_batches WHERE tenant_id = ?1 OR "
              "?1 = 0",
              &st, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, tenant_id);
    if (sqlite3_step(st) == SQLITE_ROW)
        out->batches = sqlite3_column_int64(st, 0);
    sg_sql_end(be, st);
    return 0;
}

static int ev_batch_next_id(void *be, int64_t *id_out, struct sg_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc, src;

    *id_out = 0;
    rc = sg_sql_prep(be, "SELECT COALESCE(MAX(id), 0) + 1 FROM event_batches",
                     &st, err);
    if (rc)
        return rc;
    src = sqlite3_step(st);
    if (src == SQLITE_ROW)
        *id_out = sqlite3_column_int64(st, 0);
    else
        rc = sg_sqlite_error(be, src, "events batch id", err);
    sg_sql_end(be, st);
    return rc;
}

/*
 * The joined JSON goes in as a zeroblob of its length, then written
 * through the blob interface straight into the row's overflow pages. A
 * bound value would first be copied whole into a record built on a fresh
 * heap block (a 470 KB copy plus its page faults per batch: about a
 * sixth of the writer's time under the events bench); a zeroblob that
 * ends the record is never built (body is the table's last column). The
 * value is stored as a BLOB of the same bytes (batch_joined reads either
 * type).
 */
static int ev_batch_put(void *be, int64_t batch_id, int64_t job_id,
                        int64_t tenant_id, int source, const char *source_id,
                        size_t n, const char *body, size_t len, int64_t now_ms,
                        struct sg_err *err)
{
    sqlite3_stmt *st = NULL;
    sqlite3_blob *blob = NULL;
    int rc, src;

    if (len > INT_MAX)
        return sg_err_set(err, SG_ELIMIT, "batch too large");
    rc = sg_sql_prep(be,
              "INSERT INTO event_batches (id, tenant_id, source, source_id, "
              "job_id, n, created_at, body) VALUES (?1,?2,?3,?4,?5,?6,?7,?8)",
              &st, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, batch_id);
    sqlite3_bind_int64(st, 2, tenant_id);
    sqlite3_bind_int(st, 3, source);
    sqlite3_bind_text(st, 4, source_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, job_id);
    sqlite3_bind_int64(st, 6, (sqlite3_int64)n);
    sqlite3_bind_int64(st, 7, now_ms);
    sqlite3_bind_zeroblob(st, 8, (int)len);
    src = sqlite3_step(st);
    sg_sql_end(be, st);
    if (src != SQLITE_DONE)
        return sg_sqlite_error(be, src, "events batch put", err);
    if (len == 0)
        return 0;
    src = sqlite3_blob_open(sg_sqlite_db(be), "main", "event_batches", "body",
                            batch_id, 1, &blob);
    if (src == SQLITE_OK)
        src = sqlite3_blob_write(blob, body, (int)len, 0);
    if (src != SQLITE_OK)
        rc = sg_sqlite_error(be, src, "events batch put", err);
    src = sqlite3_blob_close(blob);
    if (!rc && src != SQLITE_OK)
        rc = sg_sqlite_error(be, src, "events batch put", err);
    return rc;
}

const struct sg_events_store_ops sg_events_store_sqlite = {
    .version = SG_EVENTS_STORE_OPS_VERSION,
    .backend = "sqlite",
    .insert = ev_insert,
    .pending = ev_pending,
    .seal = ev_seal,
    .job_detach = ev_job_detach,
    .batch_result = ev_batch_result,
    .prune = ev_prune,
    .pending_sources = ev_pending_sources,
    .counts = ev_counts,
    .seal_new = ev_seal_new,
    .load = ev_load,
    .trigger_cancel = ev_trigger_cancel,
    .batch_next_id = ev_batch_next_id,
    .batch_put = ev_batch_put,
};

const struct sg_events_store_ops *sg_events_store_for(const char *backend)
{
    if (backend && strcmp(backend, sg_events_store_sqlite.backend) == 0)
        return &sg_events_store_sqlite;
    if (backend && strcmp(backend, sg_events_store_postgres.backend) == 0)
        return &sg_events_store_postgres;
    return NULL;
}
