/*
 * test_store_pg.c - the store contract of test_store_sqlite.c, the same
 * case functions, run against the PostgreSQL backend on a throwaway server
 * (tests/lib/pgserver.c). Label "pg".
 */
#define SG_TEST_STORE_PG 1
/* The SQLite-only cases of the included file are compiled but not run. */
#pragma GCC diagnostic ignored "-Wunused-function"
#include "test_store_sqlite.c"
#include "store/postgres/pgutil.h"

#include <libpq-fe.h>

/* ---- PostgreSQL only: the connection lost between statements ---- */

struct session_view {
    char read_only[8];
    char lock_timeout[16];
};

static int show(void *be, const char *what, char *out, size_t cap,
                struct sg_err *err)
{
    char sql[64];
    PGresult *res = NULL;
    int rc;

    snprintf(sql, sizeof(sql), "SELECT current_setting('%s')", what);
    rc = sg_pg_exec(be, sql, NULL, &res, NULL, what, err);
    if (rc == 0 && PQntuples(res) == 1)
        snprintf(out, cap, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    return rc;
}

static int view_session(void *be, struct session_view *v, struct sg_err *err)
{
    int rc = show(be, "default_transaction_read_only", v->read_only,
                  sizeof(v->read_only), err);

    return rc ? rc
              : show(be, "lock_timeout", v->lock_timeout,
                     sizeof(v->lock_timeout), err);
}

static int view_reader(void *be, void *arg, struct sg_err *err)
{
    return view_session(be, arg, err);
}

static int view_writer(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    return view_session(sg_store_tx_backend(tx), arg, err);
}

/*
 * Surge's connections ended under it between statements: the next read
 * and the next write transaction succeed without the caller seeing the
 * loss (a statement that cannot have done anything is retried once on a
 * new connection), and the new connections carry the session settings
 * again: the readers stay read-only, lock_timeout stays set.
 */
static void test_connection_lost(void **state)
{
    struct fx *f = *state;
    struct session_view v;
    struct sg_tenant t;
    struct sg_err err;
    char name[16];

    sg_err_init(&err);
    assert_true(tenant(f->s, "acme") > 0);
    assert_int_equal(sg_store_tenant_get(f->s, "acme", &t, &err), 0);
    for (int round = 0; round < 3; round++) {
        /* The writer and at least one reader. */
        assert_true(sgt_pg_end_sessions(f->dsn, "surge %") >= 2);
        for (int i = 0; i < 4; i++) {
            assert_int_equal(sg_store_tenant_get(f->s, "acme", &t, &err), 0);
            assert_string_equal(t.name, "acme");
        }
        snprintf(name, sizeof(name), "t%d", round);
        assert_true(tenant(f->s, name) > 0);
        memset(&v, 0, sizeof(v));
        assert_int_equal(sg_store_read(f->s, view_reader, &v, &err), 0);
        assert_string_equal(v.read_only, "on");
        assert_string_not_equal(v.lock_timeout, "0");
        memset(&v, 0, sizeof(v));
        assert_int_equal(sg_store_write(f->s, view_writer, &v, &err), 0);
        assert_string_equal(v.read_only, "off");
        assert_string_not_equal(v.lock_timeout, "0");
    }
    assert_int_equal(sg_store_tenant_get(f->s, "t2", &t, &err), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry),
        cmocka_unit_test_setup_teardown(test_migrations_idempotent,
                                        setup_closed, teardown),
        cmocka_unit_test_setup_teardown(test_tenants_and_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inbox_dedupe, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inbox_insert_processed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_job_claim_finish, setup, teardown),
        cmocka_unit_test_setup_teardown(test_job_coalesce, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lease_expiry_and_retry, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_job_extend, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_commit, setup_closed,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_no_group_commit, setup_closed,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_failing_write_rolls_back_alone,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_submit_busy, setup_closed,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_free_drains_queue, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_write_begin_end, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connection_lost, setup, teardown),
    };
    int rc;

    sg_log_set_level(SG_LOG_ERR);
    rc = sgt_pg_main_start(&g_pg);
    if (rc)
        return rc;
    rc = cmocka_run_group_tests_name("store_pg", tests, NULL, NULL);
    sgt_pg_stop(g_pg);
    return rc;
}
