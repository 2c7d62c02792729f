/*
 * fuzz_tts_webhook.c - a TikTok Shop webhook as it arrives: the
 * Authorization header (hex HMAC-SHA256 of app_key + body) and the JSON
 * envelope {type, tts_notification_id, shop_id, timestamp, data}.
 *
 * Input: "<authorization>\n<body>". Invariants: the signature is accepted
 * exactly when it equals, case-insensitively, the one computed here (so a
 * bit flip anywhere is refused, W2); the envelope is read within the
 * depth limit and its fields never crash the typed getters.
 */
#include "fuzz.h"
#include "core/alloc.h"
#include "core/json.h"
#include "connectors/tiktok_shop/sign.h"

#include <string.h>
#include <strings.h>

#define APP_KEY "fuzzappkey"
#define APP_SECRET "fuzz_app_secret_0123"

static void read_envelope(const char *body, size_t len)
{
    struct sg_err err;
    json_t *env = NULL, *data;
    const char *id, *shop;
    int64_t type, ts;

    sg_err_init(&err);
    if (sg_json_parse(&env, body, len, SG_JSON_DEPTH_DEFAULT, NULL, &err))
        return;
    type = sg_json_int(env, "type", -1);
    ts = sg_json_int(env, "timestamp", -1);
    id = sg_json_str(env, "tts_notification_id");
    shop = sg_json_str(env, "shop_id");
    data = json_object_get(env, "data");
    if (id)
        SG_FUZZ_CHECK(strlen(id) <= len);
    if (shop)
        SG_FUZZ_CHECK(strlen(shop) <= len);
    if (json_is_object(data)) {
        char *dump = sg_json_dump(data, NULL);

        SG_FUZZ_CHECK(dump != NULL);
        sg_free(dump);
    }
    (void)type;
    (void)ts;
    json_decref(env);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    const char *nl = memchr(p, '\n', size);
    size_t sig_len = nl ? (size_t)(nl - p) : size;
    const char *body = nl ? nl + 1 : p + size;
    size_t body_len = size - (size_t)(body - p);
    char want[65];
    bool ok, same;

    SG_FUZZ_CHECK(sg_tts_webhook_sign(want, APP_KEY, APP_SECRET, body,
                                      body_len) == 0);
    ok = sg_tts_webhook_verify(APP_KEY, APP_SECRET, p, sig_len, body,
                               body_len);
    same = sig_len == 64 && strncasecmp(p, want, 64) == 0 &&
           memchr(p, '\0', 64) == NULL;
    SG_FUZZ_CHECK(ok == same);
    /* The right signature for these bytes is always accepted. */
    SG_FUZZ_CHECK(sg_tts_webhook_verify(APP_KEY, APP_SECRET, want, 64, body,
                                        body_len));
    read_envelope(body, body_len);
    return 0;
}
