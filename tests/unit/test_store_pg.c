/*
 * test_store_pg.c - the store contract of test_store_sqlite.c, the same
 * case functions, run against the PostgreSQL backend on a throwaway server
 * (tests/lib/pgserver.c). Label "pg".
 */
#define SG_TEST_STORE_PG 1
/* The SQLite-only cases of the included file are compiled but not run. */
#pragma GCC diagnostic ignored "-Wunused-function"
#include "test_store_sqlite.c"

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry),
        cmocka_unit_test_setup_teardown(test_migrations_idempotent,
                                        setup_closed, teardown),
        cmocka_unit_test_setup_teardown(test_tenants_and_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inbox_dedupe, setup, teardown),
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
