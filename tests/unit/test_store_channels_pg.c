/*
 * test_store_channels_pg.c - the channel and listing sync storage cases of
 * test_store_channels.c, the same case functions, run on the PostgreSQL
 * backend against a throwaway server (tests/lib/pgserver.c). Label "pg".
 * Every case of the SQLite program runs here.
 */
#define SG_TEST_CHANNELS_PG 1
#include "test_store_channels.c"

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry),
        cmocka_unit_test_setup_teardown(test_apps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oauth_states, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connections, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shops, setup, teardown),
        cmocka_unit_test_setup_teardown(test_listing_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_listing_checks, setup,
                                        teardown),
    };
    int rc;

    sg_log_set_level(SG_LOG_ERR);
    rc = sgt_pg_main_start(&g_pg);
    if (rc)
        return rc;
    rc = cmocka_run_group_tests_name("store_channels_pg", tests, NULL, NULL);
    sgt_pg_stop(g_pg);
    return rc;
}
