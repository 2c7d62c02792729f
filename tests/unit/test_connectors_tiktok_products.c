/*
 * test_connectors_tiktok_products.c - the TikTok Shop product wire
 * mapping: create body (idempotency key, SKUs, warehouse quantities,
 * attribute names mapped to ids, package in centimetres), edit without
 * SKUs, price and inventory bodies with channel SKU ids, paths, answer
 * readers (ids, per-item errors, read-back, audit reasons) and the
 * content fingerprint.
 */
#include "testlib.h"
#include "connectors/tiktok_shop/products.h"
#include "core/json.h"

static const char *const images[] = {"https://img.example/a.jpg"};

static void fill(struct sg_tts_product_in *in, struct sg_tts_sku_in skus[2],
                 json_t *category)
{
    memset(in, 0, sizeof(*in));
    memset(skus, 0, 2 * sizeof(*skus));
    skus[0].seller_sku = "PAN-S";
    skus[0].price = "19.99";
    skus[0].quantity = 7;
    skus[0].option_name[0] = "Size";
    skus[0].option_value[0] = "S";
    skus[1].seller_sku = "PAN-L";
    skus[1].price = "24.50";
    skus[1].list_price = "30.00";
    skus[1].quantity = -3; /* never negative on the wire */
    in->title = "Pan";
    in->description = "<p>Good pan</p>";
    in->category_id = "601226";
    in->currency = "USD";
    in->external_id = "42";
    in->warehouse_id = "WH1";
    in->images = images;
    in->n_images = 1;
    in->attributes = "{\"Material\":\"Steel\"}";
    in->category = category;
    in->certifications = " 7000001 , 8 ";
    in->length_mm = 305;
    in->width_mm = 200;
    in->height_mm = 50;
    in->grams = 900;
    in->skus = skus;
    in->n_skus = 2;
}

static void create_body(void **state)
{
    struct sg_tts_product_in in;
    struct sg_tts_sku_in skus[2];
    json_t *cat = json_pack("{s:[{s:s,s:s}]}", "attributes", "id", "100392",
                            "name", "Material");
    json_t *b, *s0, *s1;

    SG_UNUSED(state);
    fill(&in, skus, cat);
    b = sg_tts_product_body(&in, "surge-1-42-0", true);
    assert_non_null(b);
    assert_string_equal(sg_json_str(b, "idempotency_key"), "surge-1-42-0");
    assert_string_equal(sg_json_str(b, "category_id"), "601226");
    assert_string_equal(sg_json_str(b, "external_product_id"), "42");
    assert_string_equal(
        sg_json_str(json_array_get(json_object_get(b, "main_images"), 0),
                    "uri"),
        images[0]);
    assert_string_equal(
        sg_json_str(json_array_get(json_object_get(b, "product_attributes"),
                                   0),
                    "id"),
        "100392");
    assert_int_equal(json_array_size(json_object_get(b, "certifications")), 2);
    assert_string_equal(
        sg_json_str(json_array_get(json_object_get(b, "certifications"), 0),
                    "id"),
        "7000001");
    assert_string_equal(
        sg_json_str(json_object_get(b, "package_dimensions"), "length"),
        "30.5");
    s0 = json_array_get(json_object_get(b, "skus"), 0);
    s1 = json_array_get(json_object_get(b, "skus"), 1);
    assert_string_equal(sg_json_str(s0, "seller_sku"), "PAN-S");
    assert_string_equal(sg_json_str(json_object_get(s0, "price"), "amount"),
                        "19.99");
    assert_int_equal(
        sg_json_int(json_array_get(json_object_get(s0, "inventory"), 0),
                    "quantity", -1),
        7);
    assert_string_equal(
        sg_json_str(json_array_get(json_object_get(s0, "inventory"), 0),
                    "warehouse_id"),
        "WH1");
    assert_int_equal(
        sg_json_int(json_array_get(json_object_get(s1, "inventory"), 0),
                    "quantity", -1),
        0);
    assert_string_equal(
        sg_json_str(json_object_get(s1, "list_price"), "amount"), "30.00");
    assert_string_equal(
        sg_json_str(json_array_get(json_object_get(s0, "sales_attributes"),
                                   0),
                    "value_name"),
        "S");
    json_decref(b);

    /* An edit keeps the channel's SKUs and carries no key. */
    b = sg_tts_product_body(&in, NULL, false);
    assert_null(json_object_get(b, "skus"));
    assert_null(json_object_get(b, "idempotency_key"));
    json_decref(b);

    /* Over the caps: no body. */
    in.n_skus = 0;
    assert_null(sg_tts_product_body(&in, NULL, true));
    in.n_skus = SG_TTS_SKUS_MAX + 1;
    assert_null(sg_tts_product_body(&in, NULL, true));
    json_decref(cat);
}

static void price_inventory_bodies(void **state)
{
    struct sg_tts_product_in in;
    struct sg_tts_sku_in skus[2];
    json_t *b;

    SG_UNUSED(state);
    fill(&in, skus, NULL);
    /* Without channel ids nothing can be addressed. */
    b = sg_tts_prices_body(&in);
    assert_int_equal(json_array_size(json_object_get(b, "skus")), 0);
    json_decref(b);
    skus[0].sku_id = "111";
    skus[1].sku_id = "222";
    b = sg_tts_prices_body(&in);
    assert_int_equal(json_array_size(json_object_get(b, "skus")), 2);
    assert_string_equal(
        sg_json_str(json_array_get(json_object_get(b, "skus"), 1), "id"),
        "222");
    assert_string_equal(
        sg_json_str(json_object_get(json_array_get(json_object_get(b, "skus"),
                                                   1),
                                    "price"),
                    "amount"),
        "24.50");
    json_decref(b);
    b = sg_tts_inventory_body(&in);
    assert_int_equal(
        sg_json_int(json_array_get(
                        json_object_get(json_array_get(json_object_get(b,
                                                                       "skus"),
                                                       0),
                                        "inventory"),
                        0),
                    "quantity", -1),
        7);
    json_decref(b);
    b = sg_tts_ids_body("999");
    assert_string_equal(
        json_string_value(json_array_get(json_object_get(b, "product_ids"),
                                         0)),
        "999");
    json_decref(b);
}

static void paths(void **state)
{
    char p[160];

    SG_UNUSED(state);
    assert_int_equal(sg_tts_product_path(p, sizeof(p), "create", NULL), 0);
    assert_string_equal(p, "/product/202309/products");
    assert_int_equal(sg_tts_product_path(p, sizeof(p), "price", "7"), 0);
    assert_string_equal(p, "/product/202309/products/7/prices/update");
    assert_int_equal(sg_tts_product_path(p, sizeof(p), "inventory", "7"), 0);
    assert_string_equal(p, "/product/202309/products/7/inventory/update");
    assert_int_equal(sg_tts_product_path(p, sizeof(p), "partial_edit", "7"),
                     0);
    assert_string_equal(p, "/product/202309/products/7/partial_edit");
    assert_int_equal(sg_tts_product_path(p, sizeof(p), "deactivate", NULL),
                     0);
    assert_string_equal(p, "/product/202309/products/deactivate");
    assert_int_equal(sg_tts_product_path(p, sizeof(p), "price", NULL),
                     SG_EINVAL);
    assert_int_equal(sg_tts_product_path(p, sizeof(p), "bogus", "7"),
                     SG_EINVAL);
    assert_int_equal(sg_tts_product_path(p, 8, "price", "7"), SG_ELIMIT);
}

static void answers(void **state)
{
    json_t *d = json_loads(
        "{\"product_id\":\"900\",\"skus\":[{\"id\":\"1\",\"seller_sku\":"
        "\"PAN-S\"},{\"id\":\"2\",\"seller_sku\":\"PAN-L\"}],"
        "\"warnings\":[]}",
        0, NULL);
    json_t *ids = NULL, *qty = NULL, *price = NULL;
    const char *st = NULL;
    char pid[32], msg[128];

    SG_UNUSED(state);
    assert_int_equal(sg_tts_parse_write(d, pid, &ids, NULL), 0);
    assert_string_equal(pid, "900");
    assert_string_equal(sg_json_str(ids, "PAN-L"), "2");
    json_decref(ids);
    json_decref(d);
    d = json_loads("{\"skus\":[]}", 0, NULL);
    assert_int_equal(sg_tts_parse_write(d, pid, &ids, NULL), SG_EINVAL);
    json_decref(d);

    d = json_loads("{\"errors\":[{\"code\":12052990,\"message\":\"Check "
                   "failed\",\"detail\":{\"sku_id\":\"1\",\"extra_errors\":"
                   "[{\"code\":12052097,\"message\":\"The warehouse does not "
                   "exist\"}]}}]}",
                   0, NULL);
    assert_int_equal(sg_tts_item_errors(d, msg, sizeof(msg)), 1);
    assert_string_equal(msg, "12052097: The warehouse does not exist");
    json_decref(d);

    d = json_loads("{\"status\":\"FAILED\",\"skus\":[{\"id\":\"1\","
                   "\"seller_sku\":\"PAN-S\",\"price\":{\"amount\":\"9.00\"},"
                   "\"inventory\":[{\"warehouse_id\":\"W\",\"quantity\":3},"
                   "{\"warehouse_id\":\"X\",\"quantity\":2}]}],"
                   "\"audit_failed_reasons\":[{\"position\":\"size_chart\","
                   "\"reasons\":[\"A size chart is required\"]}]}",
                   0, NULL);
    assert_int_equal(sg_tts_parse_product(d, &qty, &price, &ids, &st), 0);
    assert_string_equal(st, "FAILED");
    assert_int_equal(json_integer_value(json_object_get(qty, "PAN-S")), 5);
    assert_string_equal(sg_json_str(price, "PAN-S"), "9.00");
    assert_int_equal(sg_tts_audit_reasons(d, msg, sizeof(msg)), 1);
    assert_string_equal(msg, "size_chart: A size chart is required");
    json_decref(qty);
    json_decref(price);
    json_decref(ids);
    json_decref(d);

    d = json_loads("{\"inventory\":[{\"product_id\":\"900\",\"skus\":[{"
                   "\"id\":\"1\",\"seller_sku\":\"PAN-S\","
                   "\"total_available_quantity\":4}]}]}",
                   0, NULL);
    assert_int_equal(sg_tts_parse_inventory(d, "900", &qty, &ids), 0);
    assert_int_equal(json_integer_value(json_object_get(qty, "PAN-S")), 4);
    json_decref(qty);
    json_decref(ids);
    assert_int_equal(sg_tts_parse_inventory(d, "901", &qty, &ids), 0);
    assert_null(qty);
    json_decref(d);

    /* A quantity that is not a count is unknown (left out), never 0 or a
     * partial sum: the read-back must not believe the listing is empty. */
    d = json_loads("{\"skus\":[{\"id\":\"1\",\"seller_sku\":\"A\","
                   "\"inventory\":[{\"quantity\":3},{\"quantity\":\"2\"}]},"
                   "{\"id\":\"2\",\"seller_sku\":\"B\",\"inventory\":"
                   "[{\"quantity\":-1}]},{\"id\":\"3\",\"seller_sku\":\"C\","
                   "\"inventory\":[{\"quantity\":7}]}]}",
                   0, NULL);
    assert_int_equal(sg_tts_parse_product(d, &qty, &price, &ids, &st), 0);
    assert_null(json_object_get(qty, "A"));
    assert_null(json_object_get(qty, "B"));
    assert_int_equal(json_integer_value(json_object_get(qty, "C")), 7);
    json_decref(qty);
    json_decref(price);
    json_decref(ids);
    json_decref(d);
    d = json_loads("{\"inventory\":[{\"product_id\":\"900\",\"skus\":[{"
                   "\"id\":\"1\",\"seller_sku\":\"A\","
                   "\"total_available_quantity\":[0]},{\"id\":\"2\","
                   "\"seller_sku\":\"B\",\"total_available_quantity\":2}]}]}",
                   0, NULL);
    assert_int_equal(sg_tts_parse_inventory(d, "900", &qty, &ids), 0);
    assert_null(json_object_get(qty, "A"));
    assert_int_equal(json_integer_value(json_object_get(qty, "B")), 2);
    assert_string_equal(sg_json_str(ids, "A"), "1");
    json_decref(qty);
    json_decref(ids);
    json_decref(d);
}

static void fingerprint(void **state)
{
    struct sg_tts_product_in in;
    struct sg_tts_sku_in skus[2];
    char a[17], b[17];

    SG_UNUSED(state);
    fill(&in, skus, NULL);
    sg_tts_product_hash(&in, a);
    skus[0].price = "1.00"; /* price and stock are not content */
    skus[0].quantity = 99;
    sg_tts_product_hash(&in, b);
    assert_string_equal(a, b);
    in.title = "Pan 2";
    sg_tts_product_hash(&in, b);
    assert_string_not_equal(a, b);
    in.title = "Pan";
    in.n_skus = 1; /* the SKU set is content */
    sg_tts_product_hash(&in, b);
    assert_string_not_equal(a, b);
    assert_int_equal(strlen(a), 16);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(create_body),
        cmocka_unit_test(price_inventory_bodies),
        cmocka_unit_test(paths),
        cmocka_unit_test(answers),
        cmocka_unit_test(fingerprint),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
