/*
 * test_features_orders_pg.c - every case of test_features_orders.c (the
 * order lifecycle, W1 duplicates and reordering, oversell, R2 and R3, the
 * fetch queue and cursor, the inventory check) on the PostgreSQL backend
 * against a throwaway server (tests/lib/pgserver.c). Label "pg".
 */
#define SG_TEST_ORDERS_PG 1
#include "test_features_orders.c"

#include "core/log.h"

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_normalise, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lifecycle_reserve_commit_release,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_w1_dup_and_reorder, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_oversold_flagged_and_backordered,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_oversold_covered_when_stock_returns, setup, teardown),
        cmocka_unit_test_setup_teardown(test_r3_shared_sku_cart, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_r2_last_unit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fetch_queue_and_cursor, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_inventory_check_catches, setup,
                                        teardown),
    };
    int rc;

    sg_log_set_level(SG_LOG_ERR);
    rc = sgt_pg_main_start(&g_pg);
    if (rc)
        return rc;
    rc = cmocka_run_group_tests_name("features_orders_pg", tests, NULL, NULL);
    sgt_pg_stop(g_pg);
    return rc;
}
