/*
 * test_features_catalog_validate.c - the TikTok Shop compliance checks:
 * a product that passes every rule, then one failing case per rule
 * (title and description length, image count and format, price > 0 and
 * <= compare-at, weight, package dimensions, prohibited terms, currency,
 * unmapped category, required attributes and certifications), plus the
 * category map file format and the sample rules shipped in samples/.
 */
#include "core/sg.h"

#include "core/alloc.h"
#include "core/config.h"
#include "core/json.h"
#include "features/catalog/validate.h"
#include "testlib.h"

static const char good_json[] =
    "{\"handle\":\"skillet\",\"title\":\"Cast Iron Skillet\","
    "\"body_html\":\"<p>A pan.</p>\",\"category\":\"Home > Cookware\","
    "\"product_type\":\"Pans\",\"tags\":[\"kitchen\"],"
    "\"package\":{\"length_mm\":400,\"width_mm\":300,\"height_mm\":90},"
    "\"attributes\":{\"Material\":\"Cast iron\"},"
    "\"images\":[{\"src\":\"https://cdn.example/a.jpg?v=1\"}],"
    "\"variants\":[{\"sku\":\"S1\",\"price\":\"30.00\","
    "\"compare_at_price\":\"40.00\",\"grams\":2000}]}";

static const char cats_json[] =
    "{\"categories\":["
    "{\"id\":\"600024\",\"is_leaf\":false},"
    "{\"id\":\"601226\",\"is_leaf\":true,\"attributes\":["
    "{\"id\":\"100392\",\"name\":\"Material\",\"is_requried\":true},"
    "{\"id\":\"100393\",\"name\":\"Capacity\",\"is_requried\":false}],"
    "\"rules\":{\"product_certifications\":[]}},"
    "{\"id\":\"602118\",\"is_leaf\":true,\"attributes\":[],"
    "\"rules\":{\"product_certifications\":[{\"id\":\"7000001\","
    "\"name\":\"Cosmetic safety report\",\"is_required\":true}]}}]}";

static const char map_text[] = "# comment\n"
                               "Cookware = 601226\r\n"
                               "\n"
                               "Serums = 602118\n"
                               "Kitchen = 600024\n";

struct fx {
    struct sg_catalog_rules rules;
    struct sg_product p;
};

static int setup(void **state)
{
    struct fx *f = sg_calloc(1, sizeof(*f));
    json_t *j = json_loads(good_json, 0, NULL);
    struct sg_err err;

    sg_catalog_rules_init(&f->rules);
    f->rules.categories = json_loads(cats_json, 0, NULL);
    if (!j || !f->rules.categories ||
        sg_catalog_map_parse(&f->rules.map, map_text, strlen(map_text),
                             "map.txt", &err) != 0 ||
        sg_catalog_rules_set_terms(&f->rules, "Miracle, cure-all") != 0 ||
        sg_product_from_json(&f->p, j, "USD", NULL, 0, &err) != 0)
        return -1;
    json_decref(j);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;

    sg_catalog_rules_release(&f->rules);
    sg_product_release(&f->p);
    sg_free(f);
    return 0;
}

/* The codes of the report's issues, "a,b,c". */
static void codes(const json_t *rep, char *out, size_t cap)
{
    json_t *i;
    size_t k, n = 0;

    out[0] = '\0';
    json_array_foreach(json_object_get(rep, "issues"), k, i)
        n += (size_t)snprintf(out + n, cap - n, "%s%s", n ? "," : "",
                              sg_json_str(i, "code"));
}

static void expect(struct fx *f, const char *want)
{
    json_t *rep = sg_catalog_validate(&f->rules, &f->p, "tiktok_shop");
    char got[512];

    assert_non_null(rep);
    codes(rep, got, sizeof(got));
    if (strcmp(got, want) != 0)
        fail_msg("issues \"%s\", expected \"%s\"", got, want);
    assert_int_equal(json_is_true(json_object_get(rep, "valid")),
                     want[0] == '\0');
    json_decref(rep);
}

static void set(char **field, const char *s)
{
    assert_int_equal(sg_cat_set_str(field, s, s ? strlen(s) : 0), 0);
}

static void test_good_product_passes(void **state)
{
    struct fx *f = *state;
    json_t *rep = sg_catalog_validate(&f->rules, &f->p, "tiktok_shop");

    assert_string_equal(sg_json_str(rep, "category_id"), "601226");
    json_decref(rep);
    expect(f, "");
}

static void test_title_length(void **state)
{
    struct fx *f = *state;
    char title[300];

    /* 255 characters of 2-byte UTF-8 is fine: lengths are characters. */
    for (int i = 0; i < 127; i++)
        memcpy(title + 2 * i, "\xC3\xA9", 2);
    title[254] = '\0';
    set(&f->p.title, title);
    expect(f, "");
    f->rules.title_max = 100;
    expect(f, "title_length");
}

static void test_description(void **state)
{
    struct fx *f = *state;

    f->rules.description_max = 5;
    expect(f, "description_length");
    set(&f->p.body_html, NULL);
    expect(f, "description_missing");
}

static void test_images(void **state)
{
    struct fx *f = *state;

    assert_int_equal(sg_product_add_image(&f->p, "https://x/b.gif", 15, NULL,
                                          2),
                     0);
    expect(f, "image_format");
    f->rules.images_max = 1;
    expect(f, "image_count,image_format");
}

static void test_no_images(void **state)
{
    struct fx *f = *state;

    sg_free(f->p.images[0].src);
    sg_free(f->p.images);
    f->p.images = NULL;
    f->p.n_images = 0;
    expect(f, "image_count");
}

static void test_prices(void **state)
{
    struct fx *f = *state;

    f->p.variants[0].price = 4500;
    expect(f, "price_above_compare_at");
    f->p.variants[0].compare_at = 0; /* no compare-at: any price is fine */
    expect(f, "");
    f->p.variants[0].price = 0;
    expect(f, "price_not_positive");
}

static void test_weight_and_package(void **state)
{
    struct fx *f = *state;

    f->p.variants[0].grams = -1;
    expect(f, "weight_missing");
    f->p.variants[0].grams = 10;
    f->p.height_mm = 0;
    expect(f, "package_dimensions_missing");
}

static void test_prohibited_terms(void **state)
{
    struct fx *f = *state;

    set(&f->p.title, "The MIRACLE skillet");
    expect(f, "prohibited_term");
    set(&f->p.title, "Skillet");
    set(&f->p.tags, "kitchen, Cure-All");
    expect(f, "prohibited_term");
}

static void test_currency(void **state)
{
    struct fx *f = *state;

    snprintf(f->rules.currency, sizeof(f->rules.currency), "GBP");
    expect(f, "currency_mismatch");
}

static void test_category_mapping(void **state)
{
    struct fx *f = *state;

    /* The last segment of the category maps first. */
    set(&f->p.category, "Home > Garden > Rakes");
    set(&f->p.product_type, "Serums");
    expect(f, "certification_missing");
    set(&f->p.certifications, "7000002, 7000001");
    expect(f, "");
    set(&f->p.product_type, "Rakes");
    expect(f, "category_unmapped");
    set(&f->p.product_type, "kitchen"); /* case-insensitive; not a leaf */
    expect(f, "category_not_leaf");
}

static void test_required_attribute(void **state)
{
    struct fx *f = *state;

    set(&f->p.attributes, "{\"Capacity\":\"3 l\"}");
    expect(f, "attribute_missing");
    /* The attribute id works as the key too. */
    set(&f->p.attributes, "{\"100392\":\"Cast iron\"}");
    expect(f, "");
}

static void test_map_parse_errors(void **state)
{
    json_t *m = NULL;
    struct sg_err err;

    SG_UNUSED(state);
    assert_int_equal(sg_catalog_map_parse(&m, "a = 1\nno equals sign\n", 21,
                                          "map.txt", &err),
                     SG_EINVAL);
    assert_non_null(strstr(err.msg, "map.txt:2:"));
    assert_int_equal(sg_catalog_map_parse(&m, " = 5\n", 5, "m", &err),
                     SG_EINVAL);
    assert_null(m);
}

/* The sample rules and map parse and agree with the sample catalog. */
static void test_samples_load(void **state)
{
    struct sg_config cfg;
    struct sg_catalog_rules r;
    struct sg_err err;
    char rules[1024], map[1024];

    SG_UNUSED(state);
    assert_int_equal(sg_config_init_defaults(&cfg), 0);
    snprintf(rules, sizeof(rules), "%s/samples/tiktok-categories.json",
             SG_SOURCE_DIR);
    snprintf(map, sizeof(map), "%s/samples/category-map.txt", SG_SOURCE_DIR);
    sg_free(cfg.catalog.category_rules);
    sg_free(cfg.catalog.category_map);
    cfg.catalog.category_rules = sg_strdup(rules);
    cfg.catalog.category_map = sg_strdup(map);
    assert_int_equal(sg_catalog_rules_load(&r, &cfg, &err), 0);
    assert_string_equal(r.currency, "USD");
    assert_int_equal(r.title_max, 255);
    assert_string_equal(sg_json_str(r.map, "Skincare"), "602118");
    assert_int_equal(
        json_array_size(json_object_get(r.categories, "categories")), 7);
    sg_catalog_rules_release(&r);
    sg_config_release(&cfg);

    /* A missing file is a configuration error naming the file. */
    assert_int_equal(sg_config_init_defaults(&cfg), 0);
    cfg.catalog.category_map = sg_strdup("/nonexistent/map.txt");
    assert_int_equal(sg_catalog_rules_load(&r, &cfg, &err), SG_ECONFIG);
    assert_non_null(strstr(err.msg, "/nonexistent/map.txt"));
    sg_catalog_rules_release(&r);
    sg_config_release(&cfg);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_good_product_passes),
        T(test_title_length),
        T(test_description),
        T(test_images),
        T(test_no_images),
        T(test_prices),
        T(test_weight_and_package),
        T(test_prohibited_terms),
        T(test_currency),
        T(test_category_mapping),
        T(test_required_attribute),
        cmocka_unit_test(test_map_parse_errors),
        cmocka_unit_test(test_samples_load),
    };
#undef T

    return cmocka_run_group_tests(tests, NULL, NULL);
}
