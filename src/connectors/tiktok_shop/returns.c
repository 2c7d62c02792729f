/*
 * returns.c - TikTok Shop return_refund decisions and reads: approve or
 * reject a buyer cancellation (POST /return_refund/202309/cancellations/
 * {id}/approve|reject) or a return (returns/{id}/approve|reject with a
 * decision), every write with idempotency_key as a signed query
 * parameter, so a repeated call changes nothing; and Search Returns by
 * return_ids (at most 50) for a return's status, refund and lines.
 */
#include "core/sg.h"

#include "connectors/tiktok_shop/fulfillment.h"
#include "connectors/tiktok_shop/tiktok_shop.h"
#include "core/alloc.h"
#include "core/json.h"

static bool id_ok(const char *s)
{
    return s && s[0] && strlen(s) <= 64 && !strchr(s, '/') &&
           !strchr(s, '?') && !strchr(s, '%');
}

int sg_tts__decide(struct sg_connector *c, const char *access_token,
                   const struct sg_conn_decision *d, struct sg_err *err)
{
    struct sg_tts_param p[2];
    bool ret = d->kind && strcmp(d->kind, "return") == 0;
    json_t *body, *data = NULL;
    char path[200], *text;
    size_t np = 0;
    int rc;

    if (!d->shop_cipher || !d->shop_cipher[0])
        return sg_err_set(err, SG_EINVAL, "shop_cipher is required");
    if (!id_ok(d->id))
        return sg_err_set(err, SG_EINVAL, "malformed cancellation or return "
                          "id");
    if (!d->idempotency_key || !d->idempotency_key[0] ||
        strlen(d->idempotency_key) > 255)
        return sg_err_set(err, SG_EINVAL, "idempotency_key: 1-255 bytes");
    if (ret && (!d->code || !d->code[0]))
        return sg_err_set(err, SG_EINVAL, "a return decision needs a code");
    p[np++] = (struct sg_tts_param){"shop_cipher", d->shop_cipher};
    p[np++] = (struct sg_tts_param){"idempotency_key", d->idempotency_key};
    snprintf(path, sizeof(path), "/return_refund/202309/%s/%s/%s",
             ret ? "returns" : "cancellations", d->id,
             d->approve ? "approve" : "reject");
    body = json_object();
    if (body && ret)
        json_object_set_new(body, "decision", json_string(d->code));
    if (body && !d->approve)
        json_object_set_new(body, "reject_reason",
                            json_string(d->reason && d->reason[0]
                                            ? d->reason
                                            : "seller_reject"));
    text = body ? sg_json_dump(body, NULL) : NULL;
    json_decref(body);
    if (!text)
        return sg_err_set(err, SG_ENOMEM, "out of memory");
    rc = sg_tts_call(c, "POST", path, p, np, access_token, text, strlen(text),
                     &data, err);
    json_decref(data);
    sg_free(text);
    return rc;
}

int sg_tts__get_returns(struct sg_connector *c, const char *access_token,
                        const char *shop_cipher, const char *const *ids,
                        size_t n, struct json_t **returns_out,
                        struct sg_err *err)
{
    struct sg_tts_param p[2];
    json_t *body, *arr, *data = NULL, *rets;
    char *text;
    int rc;

    *returns_out = NULL;
    if (!shop_cipher || !shop_cipher[0])
        return sg_err_set(err, SG_EINVAL, "shop_cipher is required");
    if (n == 0 || n > SG_TTS_RETURN_IDS_MAX)
        return sg_err_set(err, SG_EINVAL, "1..%d return ids per call",
                          SG_TTS_RETURN_IDS_MAX);
    body = json_pack("{s:[]}", "return_ids");
    arr = json_object_get(body, "return_ids");
    for (size_t i = 0; arr && i < n; i++) {
        if (!id_ok(ids[i])) {
            json_decref(body);
            return sg_err_set(err, SG_EINVAL, "return id %zu is malformed",
                              i);
        }
        json_array_append_new(arr, json_string(ids[i]));
    }
    text = body ? sg_json_dump(body, NULL) : NULL;
    json_decref(body);
    if (!text)
        return sg_err_set(err, SG_ENOMEM, "out of memory");
    p[0] = (struct sg_tts_param){"shop_cipher", shop_cipher};
    p[1] = (struct sg_tts_param){"page_size", "50"};
    rc = sg_tts_call(c, "POST", "/return_refund/202309/returns/search", p, 2,
                     access_token, text, strlen(text), &data, err);
    sg_free(text);
    if (rc)
        goto out;
    rets = json_object_get(data, "return_orders");
    if (rets && (!json_is_array(rets) || json_array_size(rets) > n)) {
        rc = sg_err_set(err, SG_EREMOTE, "returns search: return_orders is "
                        "not a list of at most the ids asked for");
        goto out;
    }
    *returns_out = rets ? json_incref(rets) : json_array();
    if (!*returns_out)
        rc = sg_err_set(err, SG_ENOMEM, "out of memory");
out:
    json_decref(data);
    return rc;
}
