/*
 * fuzz_tts_response.c - an Open API answer as it comes back from TikTok
 * Shop (or anything claiming to be it): the envelope reader and the
 * connector's readers of product, inventory and per-item error data
 * (connectors/tiktok_shop), which decide what Surge believes is listed.
 *
 * Input: byte 0 picks the HTTP status (200, 429, 500, 503, 400 or 401),
 * byte 1 bit 0 whether the call was idempotent, bit 1 whether a
 * Retry-After of "2" came with it; the rest is the body.
 * Invariants: the envelope gives 0 only for a 2xx status with code 0, and
 * then hands back data; every error has a message; a 429 is a retryable
 * SG_ELIMIT whatever the body says, a 5xx is retryable exactly when the
 * call was idempotent or the body proves nothing happened; the readers
 * never crash on any data and what they return is well typed.
 */
#include "fuzz.h"
#include "core/alloc.h"
#include "core/json.h"
#include "connectors/tiktok_shop/products.h"
#include "connectors/tiktok_shop/tiktok_shop.h"
#include "http/client.h"

#include <string.h>

static const long statuses[] = {200, 429, 500, 503, 400, 401};

static void check_map(json_t *m, bool strings)
{
    const char *k;
    json_t *v;

    if (!m)
        return;
    SG_FUZZ_CHECK(json_is_object(m));
    json_object_foreach(m, k, v) {
        SG_FUZZ_CHECK(k != NULL);
        SG_FUZZ_CHECK(strings ? json_is_string(v) : json_is_integer(v));
    }
}

static void readers(const json_t *data)
{
    json_t *skus = NULL, *qty = NULL, *ids = NULL, *price = NULL;
    const char *status = NULL, *pid_of;
    char pid[32], msg[256], reasons[512];
    struct sg_err err;

    sg_err_init(&err);
    if (sg_tts_parse_write(data, pid, &skus, &err) == 0) {
        SG_FUZZ_CHECK(pid[0] != '\0');
        check_map(skus, true);
    } else {
        SG_FUZZ_CHECK(err.msg[0] != '\0');
    }
    json_decref(skus);
    /* The first product the answer names, so both paths of the reader
     * (the product found, not found) are reached. */
    pid_of = sg_json_str(json_array_get(json_object_get(data, "inventory"),
                                        0),
                         "product_id");
    (void)sg_tts_parse_inventory(data, pid_of ? pid_of : "1729000000000000001",
                                 &qty, &ids);
    check_map(qty, false);
    check_map(ids, true);
    json_decref(qty);
    json_decref(ids);
    qty = ids = NULL;
    (void)sg_tts_parse_product(data, &qty, &price, &ids, &status);
    check_map(qty, false);
    check_map(price, true);
    check_map(ids, true);
    json_decref(qty);
    json_decref(price);
    json_decref(ids);
    msg[0] = '\0';
    if (sg_tts_item_errors(data, msg, sizeof(msg)) > 0)
        SG_FUZZ_CHECK(strlen(msg) < sizeof(msg));
    (void)sg_tts_audit_reasons(data, reasons, sizeof(reasons));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sg_http_response resp;
    struct sg_err err;
    json_t *out = NULL;
    char *body;
    bool idempotent;
    int rc;

    if (size < 2)
        return 0;
    memset(&resp, 0, sizeof(resp));
    resp.status = statuses[data[0] % SG_ARRAY_SIZE(statuses)];
    idempotent = data[1] & 1;
    if (data[1] & 2) {
        resp.has_retry_after = true;
        snprintf(resp.retry_after, sizeof(resp.retry_after), "2");
    }
    body = sg_alloc(size - 2 + 1);
    if (!body)
        return 0;
    memcpy(body, data + 2, size - 2);
    body[size - 2] = '\0';
    resp.body = body;
    resp.body_len = size - 2;
    sg_err_init(&err);
    rc = sg_tts_envelope(&out, &resp, idempotent, &err);
    if (rc == 0) {
        SG_FUZZ_CHECK(resp.status == 200);
        SG_FUZZ_CHECK(out != NULL);
        readers(out);
    } else {
        SG_FUZZ_CHECK(rc < 0 && out == NULL);
        SG_FUZZ_CHECK(err.msg[0] != '\0');
        if (resp.status == 429)
            SG_FUZZ_CHECK(rc == SG_ELIMIT && err.retryable);
        if (resp.status == 429 && resp.has_retry_after)
            SG_FUZZ_CHECK(err.retry_after_ms == 2000);
    }
    json_decref(out);
    sg_free(body);
    return 0;
}
