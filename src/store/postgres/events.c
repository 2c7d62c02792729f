/*
 * events.c - the PostgreSQL implementation of the events feature's
 * storage ops (features/events/events_store.h) over the tables of
 * migrations/pg/0003_events.sql (0009, 0010, 0012). The semantics are
 * those of src/store/sqlite/events.c, op for op; what differs is how
 * PostgreSQL is asked:
 *
 * - Inserts: ON CONFLICT ... DO NOTHING on the dedup key where SQLite
 *   says INSERT OR IGNORE, with RETURNING telling which rows went in
 *   (SQLite reads that from the rowids). Rows go in 64, 16, 4 or 1 per
 *   statement, as there; a key that repeats inside one statement is kept
 *   out of it beforehand, so every key a statement returns names exactly
 *   one of its rows. The rows that hit the key then take the same UPDATE
 *   as in SQLite, one by one, in order: it replaces only a finished
 *   event received longer ago than the window.
 * - Batch ids come from the table's identity sequence (nextval), both for
 *   batches sealed at intake (batch_next_id, then batch_put with that id)
 *   and for batches sealed later (DEFAULT), so the two never collide.
 *   An id taken by a write that then rolls back is skipped, never reused.
 * - No secure_delete to juggle: PostgreSQL has no such mode.
 *
 * Bodies travel as binary text parameters with their length, so a body
 * is exactly its body_len bytes, as SQLite binds it.
 */
#include "core/sg.h"

#include "core/alloc.h"
#include "core/buf.h"
#include "features/events/events_store.h"
#include "store/postgres/pgutil.h"
#include "store/store.h"

/* As in the SQLite file: sent or failed, by the event's own state or by
 * its batch's (a sent batch sealed at intake leaves its rows BATCHED). */
#define FINISHED                                                              \
    "(state >= 2 OR (state = 1 AND EXISTS (SELECT 1 FROM event_batches b "   \
    "WHERE b.id = events.batch_id AND b.state >= 2)))"

#define EV_NPARAM 10
#define EV_ROWS_MAX 64
#define EV_NUMS 6 /* integer parameters per row */

/* The parameters of one multi-row insert (EV_ROWS_MAX rows at most). */
struct ins_params {
    const char *val[EV_ROWS_MAX * EV_NPARAM];
    int len[EV_ROWS_MAX * EV_NPARAM];
    int fmt[EV_ROWS_MAX * EV_NPARAM];
    char num[EV_ROWS_MAX * EV_NUMS][24];
};

static const size_t ins_sizes[] = {64, 16, 4, 1};

/* The INSERT for rows rows: $1..$10 the first row, $11..$20 the next. */
static int ins_sql(struct sg_buf *b, size_t rows)
{
    static const char *const types[EV_NPARAM] = {
        "bigint", "bigint", "text", "text", "text",
        "bigint", "bigint", "text", "bigint", "bigint"};
    int rc = sg_buf_appends(b, "INSERT INTO events (tenant_id, source, "
                                  "source_id, event, event_id, event_time, "
                                  "received_at, body, batch_id, state) "
                                  "VALUES ");

    for (size_t k = 0; !rc && k < rows; k++) {
        rc = sg_buf_appends(b, k ? ",(" : "(");
        for (size_t c = 0; !rc && c < EV_NPARAM; c++)
            rc = sg_buf_printf(b, "%s$%zu::%s", c ? "," : "",
                               k * EV_NPARAM + c + 1, types[c]);
        if (!rc)
            rc = sg_buf_appends(b, ")");
    }
    if (!rc)
        rc = sg_buf_appends(b, " ON CONFLICT (event_id, event, source_id, "
                                  "tenant_id) DO NOTHING RETURNING id, "
                                  "tenant_id, source_id, event, event_id");
    return rc;
}

static const char *num(struct ins_params *p, size_t *used, int64_t v)
{
    char *s = p->num[(*used)++];

    snprintf(s, sizeof(p->num[0]), "%" PRId64, v);
    return s;
}

/* Parameters of row r at position k of a multi-row insert. */
static void ins_bind(struct ins_params *p, size_t k, size_t *used,
                     const struct sg_events_row *r, int64_t now_ms)
{
    size_t b = k * EV_NPARAM;

    for (size_t c = 0; c < EV_NPARAM; c++) {
        p->len[b + c] = 0;
        p->fmt[b + c] = 0;
    }
    p->val[b + 0] = num(p, used, r->tenant_id);
    p->val[b + 1] = num(p, used, r->source);
    p->val[b + 2] = r->source_id;
    p->val[b + 3] = r->event;
    p->val[b + 4] = r->event_id;
    p->val[b + 5] = num(p, used, r->event_time);
    p->val[b + 6] = num(p, used, now_ms);
    if (r->batch_id) {
        p->val[b + 7] = NULL;
        p->val[b + 8] = num(p, used, r->batch_id);
        p->val[b + 9] = num(p, used, SG_EVENT_BATCHED);
    } else {
        /* Binary text: exactly body_len bytes. */
        p->val[b + 7] = r->body ? r->body : "";
        p->len[b + 7] = r->body ? (int)r->body_len : 0;
        p->fmt[b + 7] = 1;
        p->val[b + 8] = NULL;
        p->val[b + 9] = num(p, used, SG_EVENT_PENDING);
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

/* Returned row i (id, tenant_id, source_id, event, event_id) is r's key. */
static bool row_is(const PGresult *res, int i, const struct sg_events_row *r)
{
    return sg_pg_i64(res, i, 1) == r->tenant_id &&
           strcmp(PQgetvalue(res, i, 2), r->source_id) == 0 &&
           strcmp(PQgetvalue(res, i, 3), r->event) == 0 &&
           strcmp(PQgetvalue(res, i, 4), r->event_id) == 0;
}

/*
 * Insert the m rows rows[idx[0..m)] (m one of ins_sizes, keys distinct)
 * with one statement: a row the insert kept gets its id and dup false.
 */
static int ins_chunk(void *be, const char *sql, struct sg_events_row *rows,
                     const size_t *idx, size_t m, int64_t now_ms,
                     struct ins_params *p, struct sg_err *err)
{
    PGresult *res = NULL;
    size_t used = 0, next = 0;
    int rc;

    for (size_t k = 0; k < m; k++)
        ins_bind(p, k, &used, &rows[idx[k]], now_ms);
    rc = sg_pg_exec_n(be, sql, (int)(m * EV_NPARAM), p->val, p->len, p->fmt,
                      &res, NULL, "events insert", err);
    if (rc)
        return rc;
    /*
     * New rows come back in VALUES order, so the next candidate usually
     * matches; the keys are distinct, so a search settles any other case.
     */
    for (int i = 0; i < PQntuples(res); i++) {
        size_t k = next;

        if (k >= m || !row_is(res, i, &rows[idx[k]]))
            for (k = 0; k < m && !row_is(res, i, &rows[idx[k]]); k++)
                ;
        if (k == m) {
            PQclear(res);
            return sg_err_set(err, SG_EIO, "events insert: a row came back "
                                           "that was not sent");
        }
        rows[idx[k]].id = sg_pg_i64(res, i, 0);
        rows[idx[k]].dup = false;
        next = k + 1;
    }
    PQclear(res);
    return 0;
}

/* Insert the m candidates idx[0..m) in statements of ins_sizes rows. */
static int ins_candidates(void *be, struct sg_events_row *rows,
                          const size_t *idx, size_t m, int64_t now_ms,
                          struct ins_params *p, struct sg_buf sql[4],
                          struct sg_err *err)
{
    size_t done = 0, c = 0;
    int rc = 0;

    while (!rc && done < m) {
        if (m - done < ins_sizes[c]) {
            c++;
            continue;
        }
        if (sql[c].len == 0 && ins_sql(&sql[c], ins_sizes[c]) != 0)
            return sg_err_set(err, SG_ENOMEM, "out of memory");
        rc = ins_chunk(be, sql[c].data, rows, idx + done, ins_sizes[c],
                       now_ms, p, err);
        done += ins_sizes[c];
    }
    return rc;
}

/*
 * A row whose key exists already: replace that event when it finished
 * and was received before cutoff (the dedup window's reuse). Otherwise
 * the row stays a duplicate.
 */
static int reuse(void *be, struct sg_events_row *r, int64_t now_ms,
                 int64_t cutoff, struct sg_err *err)
{
    struct sg_pg_params q;
    PGresult *res = NULL;
    int rc;

    sg_pg_params_init(&q);
    sg_pg_int(&q, r->tenant_id);
    sg_pg_int(&q, r->source);
    sg_pg_text(&q, r->source_id);
    sg_pg_text(&q, r->event);
    sg_pg_text(&q, r->event_id);
    sg_pg_int(&q, r->event_time);
    sg_pg_int(&q, now_ms);
    if (r->batch_id) {
        sg_pg_text(&q, NULL);
        sg_pg_int(&q, r->batch_id);
        sg_pg_int(&q, SG_EVENT_BATCHED);
    } else {
        sg_pg_bytes(&q, r->body ? r->body : "", r->body ? r->body_len : 0);
        sg_pg_text(&q, NULL);
        sg_pg_int(&q, SG_EVENT_PENDING);
    }
    sg_pg_int(&q, cutoff);
    rc = sg_pg_exec(be,
                    "UPDATE events SET source = $2::bigint, event_time = "
                    "$6::bigint, received_at = $7::bigint, body = $8::text, "
                    "batch_id = $9::bigint, state = $10::bigint, error = "
                    "NULL WHERE event_id = $5::text AND event = $4::text AND "
                    "source_id = $3::text AND tenant_id = $1::bigint AND "
                    "received_at < $11::bigint AND " FINISHED " RETURNING id",
                    &q, &res, NULL, "events reuse", err);
    if (rc)
        return rc;
    if (PQntuples(res) == 1) {
        r->id = sg_pg_i64(res, 0, 0);
        r->dup = false;
    }
    PQclear(res);
    return 0;
}

static int ev_insert(void *be, struct sg_events_row *rows, size_t n,
                     int64_t now_ms, int64_t window_ms, struct sg_err *err)
{
    struct ins_params *p = NULL;
    struct sg_buf sql[4];
    size_t idx[EV_ROWS_MAX], i = 0;
    int rc = 0;

    for (size_t k = 0; k < n; k++) {
        if (!rows[k].source_id || !rows[k].event || !rows[k].event_id)
            return sg_err_set(err, SG_EINVAL, "event row without key");
        if (rows[k].body && rows[k].body_len > INT_MAX)
            return sg_err_set(err, SG_ELIMIT, "event body too large");
        rows[k].id = 0;
        rows[k].dup = true;
    }
    if (n == 0)
        return 0;
    p = sg_calloc(1, sizeof(*p));
    if (!p)
        return sg_err_set(err, SG_ENOMEM, "out of memory");
    for (size_t c = 0; c < SG_ARRAY_SIZE(sql); c++)
        sg_buf_init(&sql[c], 64 * 1024);
    /*
     * Up to EV_ROWS_MAX candidates at a time, in order. A row whose key
     * an earlier candidate of the same group has is left out: it can
     * only be a duplicate (of that candidate, inserted or reused in this
     * call), as it is in SQLite, where the insert ignores it and the
     * reuse finds the key's event pending or received just now.
     */
    while (!rc && i < n) {
        size_t m = 0;

        for (; i < n && m < EV_ROWS_MAX; i++) {
            bool repeat = false;

            for (size_t j = 0; !repeat && j < m; j++)
                repeat = same_key(&rows[idx[j]], &rows[i]);
            if (!repeat)
                idx[m++] = i;
        }
        rc = ins_candidates(be, rows, idx, m, now_ms, p, sql, err);
    }
    /* The rows whose key exists: maybe a finished, expired one to reuse. */
    for (i = 0; !rc && i < n; i++)
        if (rows[i].dup)
            rc = reuse(be, &rows[i], now_ms, now_ms - window_ms, err);
    for (size_t c = 0; c < SG_ARRAY_SIZE(sql); c++)
        sg_buf_release(&sql[c]);
    sg_free(p);
    return rc;
}

static int ev_pending(void *be, int64_t tenant_id, int source, size_t cap,
                      size_t *n_out, int64_t *max_id_out, struct sg_err *err)
{
    struct sg_pg_params q;
    PGresult *r = NULL;
    int rc;

    *n_out = 0;
    *max_id_out = 0;
    sg_pg_params_init(&q);
    sg_pg_int(&q, tenant_id);
    sg_pg_int(&q, source);
    sg_pg_int(&q, (int64_t)SG_MIN(cap, (size_t)INT64_MAX));
    rc = sg_pg_exec(be,
                    "SELECT (SELECT COUNT(*) FROM (SELECT 1 FROM events "
                    "WHERE tenant_id = $1::bigint AND source = $2::bigint "
                    "AND batch_id IS NULL LIMIT $3::bigint) p), (SELECT "
                    "MAX(id) FROM events WHERE tenant_id = $1::bigint AND "
                    "source = $2::bigint AND batch_id IS NULL)",
                    &q, &r, NULL, "events pending", err);
    if (rc)
        return rc;
    if (PQntuples(r) == 1) {
        *n_out = (size_t)sg_pg_i64(r, 0, 0);
        *max_id_out = sg_pg_i64(r, 0, 1);
    }
    PQclear(r);
    return 0;
}

/*
 * Load the batch row bound to job_id (with_body: and its joined JSON if
 * it keeps one); SG_ENOTFOUND if none.
 */
static int batch_find(void *be, int64_t job_id, bool with_body,
                      struct sg_events_batch *out, struct sg_err *err)
{
    struct sg_pg_params q;
    PGresult *r = NULL;
    int rc;

    sg_pg_params_init(&q);
    sg_pg_int(&q, job_id);
    rc = sg_pg_exec(be,
                    with_body
                        ? "SELECT id, tenant_id, source, source_id, n, "
                          "body IS NOT NULL, created_at, body FROM "
                          "event_batches WHERE job_id = $1::bigint"
                        : "SELECT id, tenant_id, source, source_id, n, "
                          "body IS NOT NULL FROM event_batches WHERE job_id "
                          "= $1::bigint",
                    &q, &r, NULL, "events batch", err);
    if (rc)
        return rc;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return SG_ENOTFOUND;
    }
    out->id = sg_pg_i64(r, 0, 0);
    out->tenant_id = sg_pg_i64(r, 0, 1);
    out->source = (int)sg_pg_i64(r, 0, 2);
    sg_pg_copy(r, 0, 3, out->source_id, sizeof(out->source_id));
    out->n = (size_t)sg_pg_i64(r, 0, 4);
    out->has_joined = strcmp(PQgetvalue(r, 0, 5), "t") == 0;
    if (with_body && !sg_pg_is_null(r, 0, 7)) {
        size_t len = (size_t)PQgetlength(r, 0, 7);

        out->joined = sg_strndup(PQgetvalue(r, 0, 7), len);
        out->joined_len = len;
        out->oldest_received_ms = sg_pg_i64(r, 0, 6);
        if (!out->joined)
            rc = sg_err_set(err, SG_ENOMEM, "out of memory");
    }
    PQclear(r);
    return rc;
}

/* Read the bodies of batch b (n rows expected), oldest first. */
static int batch_bodies(void *be, struct sg_events_batch *b,
                        struct sg_err *err)
{
    struct sg_pg_params q;
    PGresult *r = NULL;
    size_t want = b->n, got = 0;
    int rc;

    b->n = 0;
    if (want == 0)
        return 0;
    b->bodies = sg_calloc(want, sizeof(*b->bodies));
    b->lens = sg_calloc(want, sizeof(*b->lens));
    if (!b->bodies || !b->lens)
        return sg_err_set(err, SG_ENOMEM, "out of memory");
    sg_pg_params_init(&q);
    sg_pg_int(&q, b->id);
    rc = sg_pg_exec(be,
                    "SELECT body, received_at FROM events WHERE batch_id = "
                    "$1::bigint ORDER BY id",
                    &q, &r, NULL, "events bodies", err);
    if (rc)
        return rc;
    for (int i = 0; i < PQntuples(r) && got < want; i++) {
        size_t len = (size_t)PQgetlength(r, i, 0);
        int64_t at = sg_pg_i64(r, i, 1);

        if (sg_pg_is_null(r, i, 0)) /* sent and cleared: nothing to resend */
            continue;
        b->bodies[got] = sg_strndup(PQgetvalue(r, i, 0), len);
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
    PQclear(r);
    return rc;
}

/*
 * Bind up to max pending events to a new batch of job_id. One batch has
 * one event_source_id: the oldest pending event's, and only events with
 * that same id go in. Fills out's id, tenant, source, source_id and n;
 * n = 0 writes nothing.
 */
static int seal_into(void *be, int64_t job_id, int64_t tenant_id, int source,
                     int64_t upto_id, size_t max, int64_t now_ms,
                     struct sg_events_batch *out, struct sg_err *err)
{
    struct sg_pg_params q;
    PGresult *r = NULL;
    int64_t changes = 0;
    int rc;

    out->n = 0;
    sg_pg_params_init(&q);
    sg_pg_int(&q, tenant_id);
    sg_pg_int(&q, source);
    sg_pg_int(&q, upto_id);
    rc = sg_pg_exec(be,
                    "SELECT source_id FROM events WHERE tenant_id = "
                    "$1::bigint AND source = $2::bigint AND batch_id IS NULL "
                    "AND id <= $3::bigint ORDER BY id LIMIT 1",
                    &q, &r, NULL, "events oldest", err);
    if (rc)
        return rc;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return 0;
    }
    sg_pg_copy(r, 0, 0, out->source_id, sizeof(out->source_id));
    PQclear(r);
    r = NULL;
    sg_pg_params_init(&q);
    sg_pg_int(&q, tenant_id);
    sg_pg_int(&q, source);
    sg_pg_text(&q, out->source_id);
    sg_pg_int(&q, job_id);
    sg_pg_int(&q, now_ms);
    rc = sg_pg_exec(be,
                    "INSERT INTO event_batches (tenant_id, source, source_id, "
                    "job_id, n, created_at) VALUES ($1::bigint, $2::bigint, "
                    "$3::text, $4::bigint, 0, $5::bigint) RETURNING id",
                    &q, &r, NULL, "events batch insert", err);
    if (rc)
        return rc;
    out->id = PQntuples(r) == 1 ? sg_pg_i64(r, 0, 0) : 0;
    PQclear(r);
    if (!out->id)
        return sg_err_set(err, SG_EIO, "events batch insert: no id");
    out->tenant_id = tenant_id;
    out->source = source;
    sg_pg_params_init(&q);
    sg_pg_int(&q, out->id);
    sg_pg_int(&q, tenant_id);
    sg_pg_int(&q, source);
    sg_pg_int(&q, upto_id);
    sg_pg_int(&q, (int64_t)SG_MIN(max, (size_t)INT64_MAX));
    sg_pg_text(&q, out->source_id);
    rc = sg_pg_exec(be,
                    "UPDATE events SET batch_id = $1::bigint, state = 1 "
                    "WHERE id IN (SELECT id FROM events WHERE tenant_id = "
                    "$2::bigint AND source = $3::bigint AND batch_id IS NULL "
                    "AND id <= $4::bigint AND source_id = $6::text ORDER BY "
                    "id LIMIT $5::bigint)",
                    &q, NULL, &changes, "events seal", err);
    if (rc)
        return rc;
    out->n = (size_t)changes;
    sg_pg_params_init(&q);
    sg_pg_int(&q, out->id);
    sg_pg_int(&q, changes);
    return sg_pg_exec(be,
                      "UPDATE event_batches SET n = $2::bigint WHERE id = "
                      "$1::bigint",
                      &q, NULL, NULL, "events batch n", err);
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
    struct sg_pg_params q;

    sg_pg_params_init(&q);
    sg_pg_int(&q, tenant_id);
    sg_pg_text(&q, key);
    sg_pg_text(&q, note);
    sg_pg_int(&q, now_ms);
    return sg_pg_exec(be,
                      "UPDATE jobs SET state = 2, last_error = $3::text, "
                      "updated_at = $4::bigint WHERE tenant_id = $1::bigint "
                      "AND coalesce_key = $2::text AND state = 0",
                      &q, NULL, NULL, "events cancel", err);
}

static int ev_job_detach(void *be, int64_t job_id, struct sg_err *err)
{
    struct sg_pg_params q;

    sg_pg_params_init(&q);
    sg_pg_int(&q, job_id);
    return sg_pg_exec(be,
                      "UPDATE jobs SET coalesce_key = NULL WHERE id = "
                      "$1::bigint",
                      &q, NULL, NULL, "events", err);
}

/*
 * The ids of the refused positions of batch b, as an array literal
 * ("{1,2}") in *ids; *n_ids how many. The walk is the SQLite file's:
 * positions in ascending order, a repeated one counted once.
 */
static int refused_ids(void *be, int64_t batch_id, const size_t *failed_idx,
                       size_t n_failed, struct sg_buf *ids, size_t *n_ids,
                       struct sg_err *err)
{
    struct sg_pg_params q;
    PGresult *r = NULL;
    size_t pos = 0, k = 0;
    int rc;

    *n_ids = 0;
    sg_pg_params_init(&q);
    sg_pg_int(&q, batch_id);
    rc = sg_pg_exec(be,
                    "SELECT id FROM events WHERE batch_id = $1::bigint ORDER "
                    "BY id",
                    &q, &r, NULL, "events walk", err);
    if (rc)
        return rc;
    rc = sg_buf_appends(ids, "{");
    for (int i = 0; !rc && k < n_failed && i < PQntuples(r); i++) {
        if (failed_idx[k] == pos) {
            rc = sg_buf_printf(ids, "%s%s", *n_ids ? "," : "",
                               PQgetvalue(r, i, 0));
            (*n_ids)++;
            k++;
            while (k < n_failed && failed_idx[k] == pos)
                k++; /* a repeated index */
        }
        pos++;
    }
    if (!rc)
        rc = sg_buf_appends(ids, "}");
    PQclear(r);
    return rc ? sg_err_set(err, SG_ENOMEM, "out of memory") : 0;
}

static int ev_batch_result(void *be, int64_t job_id, int state,
                           const size_t *failed_idx, size_t n_failed,
                           const char *error, int64_t now_ms,
                           struct sg_err *err)
{
    struct sg_events_batch b;
    struct sg_pg_params q;
    int rc;

    memset(&b, 0, sizeof(b));
    rc = batch_find(be, job_id, false, &b, err);
    if (rc)
        return rc;
    /*
     * A sent batch's joined JSON goes, like its events' bodies; one with
     * refused events keeps it (digests only), as refused events keep
     * theirs.
     */
    sg_pg_params_init(&q);
    sg_pg_int(&q, b.id);
    sg_pg_int(&q, state);
    sg_pg_int(&q, state == SG_EVENT_FAILED ? (int64_t)b.n
                                            : (int64_t)n_failed);
    sg_pg_text(&q, error);
    sg_pg_int(&q, now_ms);
    rc = sg_pg_exec(be,
                    "UPDATE event_batches SET state = $2::bigint, failed = "
                    "$3::bigint, error = $4::text, done_at = $5::bigint, "
                    "body = CASE WHEN $2::bigint = 2 AND $3::bigint = 0 THEN "
                    "NULL ELSE body END WHERE id = $1::bigint",
                    &q, NULL, NULL, "events batch result", err);
    if (rc)
        return rc;
    if (state == SG_EVENT_FAILED) {
        sg_pg_params_init(&q);
        sg_pg_int(&q, b.id);
        sg_pg_text(&q, error);
        return sg_pg_exec(be,
                          "UPDATE events SET state = 3, error = $2::text "
                          "WHERE batch_id = $1::bigint",
                          &q, NULL, NULL, "events", err);
    }
    /* Sent: first the refused positions, then every other event. */
    if (n_failed > 0) {
        struct sg_buf ids;
        size_t n_ids = 0;

        sg_buf_init(&ids, 64 * 1024 * 1024);
        rc = refused_ids(be, b.id, failed_idx, n_failed, &ids, &n_ids, err);
        if (!rc && n_ids > 0) {
            sg_pg_params_init(&q);
            sg_pg_text(&q, ids.data);
            sg_pg_text(&q, error ? error : "refused");
            rc = sg_pg_exec(be,
                            "UPDATE events SET state = 3, error = $2::text "
                            "WHERE id = ANY($1::bigint[])",
                            &q, NULL, NULL, "events mark", err);
        }
        sg_buf_release(&ids);
        if (rc)
            return rc;
    }
    /*
     * A batch sealed at intake: its events have no body to clear and the
     * batch row now says they are sent (FINISHED). Other batches clear
     * their events' bodies here.
     */
    if (b.has_joined)
        return 0;
    sg_pg_params_init(&q);
    sg_pg_int(&q, b.id);
    return sg_pg_exec(be,
                      "UPDATE events SET state = 2, error = NULL, body = NULL "
                      "WHERE batch_id = $1::bigint AND state = 1",
                      &q, NULL, NULL, "events sent", err);
}

#define PRUNE_BATCHES_MAX 16 /* batches emptied per prune call */

/*
 * By batch, as in SQLite: a finished batch made before before_ms holds
 * only events received before it, all finished, so they go together.
 * Stops once max events are gone (so one call may take up to a batch
 * more) or after PRUNE_BATCHES_MAX batches.
 */
static int ev_prune(void *be, int64_t before_ms, size_t max, size_t *n_out,
                    struct sg_err *err)
{
    struct sg_pg_params q;
    int64_t ids[PRUNE_BATCHES_MAX];
    size_t k = 0;
    int rc;

    *n_out = 0;
    sg_pg_params_init(&q);
    sg_pg_int(&q, before_ms);
    sg_pg_int(&q, PRUNE_BATCHES_MAX);
    rc = sg_pg_into(be,
                    "SELECT id FROM event_batches WHERE state >= 2 AND "
                    "pruned = 0 AND created_at < $1::bigint ORDER BY "
                    "created_at, id LIMIT $2::bigint",
                    &q, "events prune", &sg_pg_row_i64, ids,
                    PRUNE_BATCHES_MAX, &k, err);
    if (rc)
        return rc;
    for (size_t i = 0; !rc && i < k && *n_out < max; i++) {
        int64_t gone = 0;

        sg_pg_params_init(&q);
        sg_pg_int(&q, ids[i]);
        rc = sg_pg_exec(be, "DELETE FROM events WHERE batch_id = $1::bigint",
                        &q, NULL, &gone, "events prune", err);
        if (!rc) {
            *n_out += (size_t)gone;
            rc = sg_pg_exec(be,
                            "UPDATE event_batches SET pruned = 1 WHERE id = "
                            "$1::bigint",
                            &q, NULL, NULL, "events prune", err);
        }
    }
    return rc;
}

static int ev_pending_sources(void *be, int64_t *tenants, int *sources,
                              size_t max, size_t *n_out, struct sg_err *err)
{
    struct sg_pg_params q;
    PGresult *r = NULL;
    size_t n = 0;
    int rc;

    *n_out = 0;
    sg_pg_params_init(&q);
    sg_pg_int(&q, (int64_t)SG_MIN(max, (size_t)INT64_MAX));
    rc = sg_pg_exec(be,
                    "SELECT DISTINCT tenant_id, source FROM events WHERE "
                    "batch_id IS NULL LIMIT $1::bigint",
                    &q, &r, NULL, "events sources", err);
    if (rc)
        return rc;
    for (; n < max && (int)n < PQntuples(r); n++) {
        tenants[n] = sg_pg_i64(r, (int)n, 0);
        sources[n] = (int)sg_pg_i64(r, (int)n, 1);
    }
    PQclear(r);
    *n_out = n;
    return 0;
}

static int ev_counts(void *be, int64_t tenant_id, struct sg_events_counts *out,
                     struct sg_err *err)
{
    struct sg_pg_params q;
    int rc;

    memset(out, 0, sizeof(*out));
    sg_pg_params_init(&q);
    sg_pg_int(&q, tenant_id);
    rc = sg_pg_tally(be,
                     "SELECT CASE WHEN e.state = 1 AND b.state >= 2 THEN "
                     "b.state ELSE e.state END AS st, COUNT(*) FROM events e "
                     "LEFT JOIN event_batches b ON b.id = e.batch_id WHERE "
                     "e.tenant_id = $1::bigint OR $1::bigint = 0 GROUP BY 1",
                     &q, "events counts", out->by_state, 4, err);
    if (!rc)
        rc = sg_pg_scalar(be,
                          "SELECT COUNT(*) FROM event_batches WHERE "
                          "tenant_id = $1::bigint OR $1::bigint = 0",
                          &q, "events counts", &out->batches, err);
    return rc;
}

static int ev_batch_next_id(void *be, int64_t *id_out, struct sg_err *err)
{
    int rc;

    *id_out = 0;
    rc = sg_pg_scalar(be,
                      "SELECT nextval(pg_get_serial_sequence('event_batches', "
                      "'id'))",
                      NULL, "events batch id", id_out, err);
    if (rc)
        return rc;
    return *id_out ? 0 : sg_err_set(err, SG_EIO, "events batch id: none");
}

static int ev_batch_put(void *be, int64_t batch_id, int64_t job_id,
                        int64_t tenant_id, int source, const char *source_id,
                        size_t n, const char *body, size_t len, int64_t now_ms,
                        struct sg_err *err)
{
    struct sg_pg_params q;

    if (len > INT_MAX)
        return sg_err_set(err, SG_ELIMIT, "batch too large");
    sg_pg_params_init(&q);
    sg_pg_int(&q, batch_id);
    sg_pg_int(&q, tenant_id);
    sg_pg_int(&q, source);
    sg_pg_text(&q, source_id);
    sg_pg_int(&q, job_id);
    sg_pg_int(&q, (int64_t)n);
    sg_pg_int(&q, now_ms);
    sg_pg_bytes(&q, body ? body : "", body ? len : 0);
    return sg_pg_exec(be,
                      "INSERT INTO event_batches (id, tenant_id, source, "
                      "source_id, job_id, n, created_at, body) VALUES "
                      "($1::bigint, $2::bigint, $3::bigint, $4::text, "
                      "$5::bigint, $6::bigint, $7::bigint, $8::text)",
                      &q, NULL, NULL, "events batch put", err);
}

const struct sg_events_store_ops sg_events_store_postgres = {
    .version = SG_EVENTS_STORE_OPS_VERSION,
    .backend = "postgres",
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
