/*
 * test_features_fulfil_pg.c - every case of test_features_fulfil.c (the
 * warehouse export, shipments, cancellations and returns, viral buffers:
 * each fulfil_store op) on the PostgreSQL backend against a throwaway
 * server (tests/lib/pgserver.c). Label "pg".
 */
#define SG_TEST_FULFIL_PG 1
#include "test_features_fulfil.c"

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_export_once_and_on_address_change, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shipments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_aftersales, setup, teardown),
        cmocka_unit_test_setup_teardown(test_viral, setup, teardown),
    };
    int rc;

    sg_log_set_level(SG_LOG_ERR);
    rc = sgt_pg_main_start(&g_pg);
    if (rc)
        return rc;
    rc = cmocka_run_group_tests_name("features_fulfil_pg", tests, NULL, NULL);
    sgt_pg_stop(g_pg);
    return rc;
}
