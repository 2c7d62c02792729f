/*
 * test_connectors_registry.c - sg_connector_check refuses a table whose
 * caps promise the catalog or order slots without filling them, and
 * accepts it once the cap is dropped.
 */
#include "testlib.h"
#include "connectors/connector.h"

static void catalog_slots_required(void **state)
{
    struct sg_connector_ops ops = sg_connector_tiktok_shop;
    struct sg_err err;

    SG_UNUSED(state);
    sg_err_init(&err);
    assert_true(ops.caps & SG_CAP_CATALOG);
    assert_int_equal(sg_connector_check(&ops, &err), 0);

    ops.catalog_request = NULL;
    assert_int_equal(sg_connector_check(&ops, &err), SG_ECONFIG);
    assert_non_null(strstr(err.msg, "catalog"));

    ops = sg_connector_tiktok_shop;
    ops.catalog_call = NULL;
    sg_err_init(&err);
    assert_int_equal(sg_connector_check(&ops, &err), SG_ECONFIG);
    assert_non_null(strstr(err.msg, "catalog"));

    /* Without the cap the slots may be NULL. */
    ops.caps &= ~(uint32_t)SG_CAP_CATALOG;
    ops.catalog_request = NULL;
    assert_int_equal(sg_connector_check(&ops, &err), 0);
}

static void order_slots_required(void **state)
{
    struct sg_connector_ops ops = sg_connector_tiktok_shop;
    struct sg_err err;

    SG_UNUSED(state);
    assert_true(ops.caps & SG_CAP_ORDERS);
    sg_err_init(&err);
    ops.search_orders = NULL;
    assert_int_equal(sg_connector_check(&ops, &err), SG_ECONFIG);
    assert_non_null(strstr(err.msg, "order"));

    ops = sg_connector_tiktok_shop;
    ops.get_orders = NULL;
    assert_int_equal(sg_connector_check(&ops, &err), SG_ECONFIG);

    ops = sg_connector_tiktok_shop;
    ops.cancel_order = NULL;
    assert_int_equal(sg_connector_check(&ops, &err), SG_ECONFIG);

    ops.caps &= ~(uint32_t)SG_CAP_ORDERS;
    ops.search_orders = NULL;
    ops.get_orders = NULL;
    sg_err_init(&err);
    assert_int_equal(sg_connector_check(&ops, &err), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(catalog_slots_required),
        cmocka_unit_test(order_slots_required),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
