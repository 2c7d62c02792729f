/*
 * categories.c - the category tree the listing checks run against: a small
 * built-in tree (three roots, three leaves), each leaf with attributes
 * (some required) and rules (package dimensions, certifications, size
 * chart), replaceable by a JSON file of the same shape (--categories).
 */
#include "core/sg.h"
#include "sandbox/internal.h"
#include "core/json.h"

static const char builtin[] =
    "{\"categories\":["
    "{\"id\":\"600001\",\"parent_id\":\"0\",\"local_name\":\"Home Supplies\","
    "\"is_leaf\":false},"
    "{\"id\":\"600024\",\"parent_id\":\"600001\",\"local_name\":"
    "\"Kitchenware\",\"is_leaf\":false},"
    "{\"id\":\"601226\",\"parent_id\":\"600024\",\"local_name\":\"Cookware\","
    "\"is_leaf\":true,"
    "\"attributes\":["
    "{\"id\":\"100392\",\"name\":\"Material\",\"type\":\"PRODUCT_PROPERTY\","
    "\"is_requried\":true,\"is_customizable\":false,\"values\":["
    "{\"id\":\"1000001\",\"name\":\"Stainless steel\"},"
    "{\"id\":\"1000002\",\"name\":\"Cast iron\"}]},"
    "{\"id\":\"100393\",\"name\":\"Capacity\",\"type\":\"PRODUCT_PROPERTY\","
    "\"is_requried\":false,\"is_customizable\":true,\"values\":[]},"
    "{\"id\":\"100000\",\"name\":\"Color\",\"type\":\"SALES_PROPERTY\","
    "\"is_requried\":false,\"is_customizable\":true,\"values\":[]}],"
    "\"rules\":{\"package_dimension\":{\"is_required\":true},"
    "\"product_certifications\":[],"
    "\"size_chart\":{\"is_supported\":false,\"is_required\":false},"
    "\"is_cod_allowed\":true}},"
    "{\"id\":\"602000\",\"parent_id\":\"0\",\"local_name\":"
    "\"Beauty & Personal Care\",\"is_leaf\":false},"
    "{\"id\":\"602118\",\"parent_id\":\"602000\",\"local_name\":\"Skincare\","
    "\"is_leaf\":true,"
    "\"attributes\":["
    "{\"id\":\"100200\",\"name\":\"Skin type\",\"type\":"
    "\"PRODUCT_PROPERTY\",\"is_requried\":true,\"is_customizable\":false,"
    "\"values\":[{\"id\":\"1000101\",\"name\":\"All skin types\"},"
    "{\"id\":\"1000102\",\"name\":\"Dry\"}]}],"
    "\"rules\":{\"package_dimension\":{\"is_required\":false},"
    "\"product_certifications\":[{\"id\":\"7000001\",\"name\":"
    "\"Cosmetic safety report\",\"is_required\":true}],"
    "\"size_chart\":{\"is_supported\":false,\"is_required\":false},"
    "\"is_cod_allowed\":false}},"
    "{\"id\":\"603000\",\"parent_id\":\"0\",\"local_name\":\"Womenswear\","
    "\"is_leaf\":false},"
    "{\"id\":\"603014\",\"parent_id\":\"603000\",\"local_name\":\"T-shirts\","
    "\"is_leaf\":true,"
    "\"attributes\":["
    "{\"id\":\"100400\",\"name\":\"Fabric\",\"type\":\"PRODUCT_PROPERTY\","
    "\"is_requried\":false,\"is_customizable\":true,\"values\":[]},"
    "{\"id\":\"100000\",\"name\":\"Color\",\"type\":\"SALES_PROPERTY\","
    "\"is_requried\":false,\"is_customizable\":true,\"values\":[]},"
    "{\"id\":\"100001\",\"name\":\"Size\",\"type\":\"SALES_PROPERTY\","
    "\"is_requried\":false,\"is_customizable\":true,\"values\":[]}],"
    "\"rules\":{\"package_dimension\":{\"is_required\":false},"
    "\"product_certifications\":[],"
    "\"size_chart\":{\"is_supported\":true,\"is_required\":true},"
    "\"is_cod_allowed\":true}}"
    "]}";

int sg_sbx__cats_load(struct sg_sbx *s, struct sg_err *err)
{
    json_error_t jerr;
    json_t *doc;
    json_t *list;
    bool oom = false;

    if (s->cfg.categories_path)
        doc = sg_json_load_path(s->cfg.categories_path,
                                JSON_REJECT_DUPLICATES, &jerr, &oom);
    else
        doc = sg_json_loadb(builtin, strlen(builtin), JSON_REJECT_DUPLICATES,
                            &jerr, &oom);
    if (oom)
        return sg_err_set(err, SG_ENOMEM, "categories: out of memory");
    if (!doc)
        return sg_err_set(err, SG_ECONFIG, "categories: line %d: %s",
                          jerr.line, jerr.text);
    list = json_object_get(doc, "categories");
    if (!json_is_array(list)) {
        json_decref(doc);
        return sg_err_set(err, SG_ECONFIG,
                          "categories: expected {\"categories\": [...]}");
    }
    json_decref(s->cats);
    s->cats = doc;
    return 0;
}

const json_t *sg_sbx__cat_find(struct sg_sbx *s, const char *id)
{
    size_t i;
    json_t *c;

    json_array_foreach(json_object_get(s->cats, "categories"), i, c) {
        const char *cid = sg_json_str(c, "id");

        if (id && cid && strcmp(cid, id) == 0)
            return c;
    }
    return NULL;
}
