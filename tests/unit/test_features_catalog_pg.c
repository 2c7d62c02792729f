/*
 * test_features_catalog_pg.c - the catalog's store-backed cases of
 * test_features_catalog.c (import, the ledger invariant, reservations and
 * R1), the same case functions, run on the PostgreSQL backend against a
 * throwaway server (tests/lib/pgserver.c). Label "pg".
 * test_bulk_window_and_hold runs here too: its channel connection goes
 * through the PostgreSQL channel ops, and the sync window, the urgent
 * zero-stock check and the storm hold through the listing ops.
 */
#define SG_TEST_CATALOG_PG 1
/* The model-only cases of the included file are compiled but not run. */
#pragma GCC diagnostic ignored "-Wunused-function"
#include "test_features_catalog.c"

#include "core/log.h"

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_import_shopify, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reimport_unchanged, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dry_run_changes_nothing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_bad_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_jsonl_round_trip, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_ledger_invariant, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_bulk_window_and_hold, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_reserve_lines_summed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_reserve_concurrent, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_r1_channels, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ledger_net, setup, teardown),
    };
    int rc;

    sg_log_set_level(SG_LOG_ERR);
    rc = sgt_pg_main_start(&g_pg);
    if (rc)
        return rc;
    rc = cmocka_run_group_tests_name("features_catalog_pg", tests, NULL,
                                     NULL);
    sgt_pg_stop(g_pg);
    return rc;
}
