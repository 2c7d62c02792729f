/*
 * test_features_events_store_pg.c - the cases of
 * test_features_events_store.c on the PostgreSQL backend against a
 * throwaway server (tests/lib/pgserver.c): dedup inside one write, across
 * writes, across the chunks of a multi-row insert and across a restart,
 * the window, sealing (later and at intake), outcomes (a whole batch
 * refused too), the trigger's key dropped, pending sources, prune. The
 * SQLite file's own cases (secure_delete, upgrading old files) are
 * compiled but not run. Label "pg".
 */
#define SG_TEST_EVENTS_PG 1
#pragma GCC diagnostic ignored "-Wunused-function"
#include "test_features_events_store.c"

#include "core/log.h"

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_dedup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_insert_chunks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_seal_and_window, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_seal_at_intake, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_result_bulk, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sealed_sent_clears, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_prune_sealed_sent, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_window_and_reopen_sealed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_failed_detach_sources, setup,
                                        teardown),
    };
    int rc;

    sg_log_set_level(SG_LOG_ERR);
    rc = sgt_pg_main_start(&g_pg);
    if (rc)
        return rc;
    rc = cmocka_run_group_tests_name("features_events_store_pg", tests, NULL,
                                     NULL);
    sgt_pg_stop(g_pg);
    return rc;
}
