/*
 * fuzz_tts_order.c - an order as TikTok Shop's Get Order Detail returns
 * it, through sg_order_from_tts (features/orders), the code that turns
 * remote JSON into the order whose lines reserve stock.
 *
 * Input: the JSON of one order object, or of {"orders":[...]} as the
 * detail call answers. Invariants: each object gives 0 or SG_EINVAL with
 * a message naming the field (never a crash); an accepted order has its
 * id, a known status, a currency and at least one line, each with its
 * own id, a SKU, a quantity of at least 1 and a non-negative price; its
 * JSON view is always produced.
 */
#include "fuzz.h"
#include "core/alloc.h"
#include "core/json.h"
#include "features/orders/orders.h"

#include <string.h>

static void one(const json_t *j)
{
    struct sg_order o;
    struct sg_err err;
    json_t *view;
    int rc;

    sg_err_init(&err);
    rc = sg_order_from_tts(&o, j, 1, "7494726673780148744", "default", &err);
    SG_FUZZ_CHECK(rc == 0 || rc == SG_EINVAL || rc == SG_ELIMIT ||
                  rc == SG_ENOMEM);
    if (rc == SG_EINVAL || rc == SG_ELIMIT)
        SG_FUZZ_CHECK(err.msg[0] != '\0');
    if (rc == 0) {
        SG_FUZZ_CHECK(o.channel_order_id[0] != '\0');
        SG_FUZZ_CHECK(o.status > SG_ORD_UNKNOWN &&
                      o.status < SG_ORD_STATUS_COUNT);
        SG_FUZZ_CHECK(strlen(o.currency) == 3);
        SG_FUZZ_CHECK(o.n_lines >= 1 && o.lines != NULL);
        for (size_t i = 0; i < o.n_lines; i++) {
            SG_FUZZ_CHECK(o.lines[i].qty >= 1);
            SG_FUZZ_CHECK(o.lines[i].unit_price >= 0);
            SG_FUZZ_CHECK(o.lines[i].sku[0] != '\0');
            SG_FUZZ_CHECK(o.lines[i].channel_line_id[0] != '\0');
        }
        view = sg_order_to_json(&o, true);
        json_decref(view);
    }
    sg_order_release(&o);
    sg_order_release(&o); /* documented twice-safe */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *doc = NULL, *orders, *o;
    struct sg_err err;
    size_t i;

    sg_err_init(&err);
    if (sg_json_parse(&doc, (const char *)data, size, SG_JSON_DEPTH_DEFAULT,
                      NULL, &err) != 0)
        return 0;
    orders = json_object_get(doc, "orders");
    if (json_is_array(orders)) {
        json_array_foreach(orders, i, o) {
            if (i >= 50)
                break;
            one(o);
        }
    } else {
        one(doc);
    }
    json_decref(doc);
    return 0;
}
