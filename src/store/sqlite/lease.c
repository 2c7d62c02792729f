/*
 * lease.c - extending a running job's lease (the dispatcher's heartbeat,
 * reliability I5). Only the holder of the current lease token of a
 * RUNNING job can extend it, so a worker whose lease was taken over
 * learns it here, as it would at job_finish.
 */
#include "core/sg.h"

#include <string.h>

#include "store/postgres/pgutil.h"
#include "store/sqlite/sqlutil.h"
#include "store/store.h"

int sg_store_tx_job_extend(struct sg_store_tx *tx, int64_t id,
                           int64_t lease_token, int64_t lease_ms,
                           int64_t *lease_until_out, struct sg_err *err)
{
    void *be = sg_store_tx_backend(tx);
    int64_t until = sg_store_tx_now(tx) + lease_ms;
    sqlite3_stmt *st = NULL;
    int brc = SQLITE_OK, changes = 0, rc;

    const char *backend = sg_store_backend_name(sg_store_tx_store(tx));

    if (lease_ms <= 0)
        return sg_err_set(err, SG_EINVAL, "lease_ms must be positive");
    if (strcmp(backend, "postgres") == 0) {
        rc = sg_pg_job_extend(be, id, lease_token, until, err);
        if (!rc && lease_until_out)
            *lease_until_out = until;
        return rc;
    }
    if (strcmp(backend, "sqlite") != 0)
        return sg_err_set(err, SG_ECONFIG,
                          "lease extension: unknown backend %s", backend);
    rc = sg_sql_prep(be, "UPDATE jobs SET lease_until = ? WHERE id = ? AND "
                         "lease_token = ? AND state = ?",
                     &st, err);
    if (rc)
        return rc;
    sg_sql_bind_int(st, 1, until, &brc);
    sg_sql_bind_int(st, 2, id, &brc);
    sg_sql_bind_int(st, 3, lease_token, &brc);
    sg_sql_bind_int(st, 4, SG_JOB_RUNNING, &brc);
    rc = sg_sql_run(be, st, brc, "job lease extend", &changes, err);
    if (rc)
        return rc;
    if (changes == 0)
        return sg_err_set(err, SG_ESTALE,
                          "job is not running under this lease");
    if (lease_until_out)
        *lease_until_out = until;
    return 0;
}
