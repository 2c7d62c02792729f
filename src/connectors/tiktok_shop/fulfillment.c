/*
 * fulfillment.c - TikTok Shop shipping calls: a package the channel
 * already made (split, combined) ships with POST
 * /fulfillment/202309/packages/{id}/ship and a self_shipment; lines not
 * yet packed are marked as shipped with POST
 * /fulfillment/202309/orders/{order_id}/packages. Both carry the tracking
 * number and the carrier's shipping_provider_id.
 */
#include "core/sg.h"

#include "connectors/tiktok_shop/fulfillment.h"
#include "connectors/tiktok_shop/tiktok_shop.h"
#include "core/alloc.h"
#include "core/json.h"

#include <strings.h>

struct provider {
    const char *name;
    const char *id;
};

/* TikTok's US shipping provider ids for the common carriers. */
static const struct provider providers[] = {
    {"usps", "6617675021119438849"},
    {"ups", "6617675021119438850"},
    {"fedex", "6617675021119438851"},
    {"dhl", "6617675021119438852"},
    {"dhl ecommerce", "6617675021119438852"},
    {"tiktok shipping", "7117858858072016686"},
};

const char *sg_tts_provider_id(const char *carrier)
{
    for (size_t i = 0; carrier && i < SG_ARRAY_SIZE(providers); i++)
        if (strcasecmp(carrier, providers[i].name) == 0)
            return providers[i].id;
    /* A provider id given as such passes through. */
    if (carrier && carrier[0] && strspn(carrier, "0123456789") ==
                                     strlen(carrier))
        return carrier;
    return "6617675021119438849"; /* USPS: the sandbox's and US default */
}

static bool id_ok(const char *s)
{
    return s && s[0] && strlen(s) <= 64 && !strchr(s, '/') &&
           !strchr(s, '?') && !strchr(s, '%');
}

int sg_tts__ship(struct sg_connector *c, const char *access_token,
                 const struct sg_conn_shipment *s, char package_id_out[65],
                 struct sg_err *err)
{
    struct sg_tts_param p[1] = {{"shop_cipher", s->shop_cipher}};
    json_t *body = NULL, *data = NULL, *ids, *pkg;
    const char *prov = sg_tts_provider_id(s->carrier);
    char path[160], *text = NULL;
    bool by_package = s->package_id && s->package_id[0];
    int rc;

    package_id_out[0] = '\0';
    if (!s->shop_cipher || !s->shop_cipher[0])
        return sg_err_set(err, SG_EINVAL, "shop_cipher is required");
    if (!s->tracking_number || !s->tracking_number[0])
        return sg_err_set(err, SG_EINVAL, "tracking_number is required");
    if (by_package ? !id_ok(s->package_id) : !id_ok(s->order_id))
        return sg_err_set(err, SG_EINVAL, "malformed order or package id");
    if (!by_package && (s->n_line_ids == 0 ||
                        s->n_line_ids > SG_TTS_SHIP_LINES_MAX))
        return sg_err_set(err, SG_EINVAL, "1..%d line ids per shipment",
                          SG_TTS_SHIP_LINES_MAX);
    if (by_package) {
        body = json_pack("{s:{s:s,s:s}}", "self_shipment", "tracking_number",
                         s->tracking_number, "shipping_provider_id", prov);
        snprintf(path, sizeof(path), "/fulfillment/202309/packages/%s/ship",
                 s->package_id);
    } else {
        body = json_pack("{s:s,s:s,s:[]}", "tracking_number",
                         s->tracking_number, "shipping_provider_id", prov,
                         "order_line_item_ids");
        ids = json_object_get(body, "order_line_item_ids");
        for (size_t i = 0; ids && i < s->n_line_ids; i++)
            json_array_append_new(ids, json_string(s->line_ids[i]));
        snprintf(path, sizeof(path), "/fulfillment/202309/orders/%s/packages",
                 s->order_id);
    }
    text = body ? sg_json_dump(body, NULL) : NULL;
    json_decref(body);
    if (!text)
        return sg_err_set(err, SG_ENOMEM, "out of memory");
    rc = sg_tts_call(c, "POST", path, p, 1, access_token, text, strlen(text),
                     &data, err);
    if (!rc && by_package)
        snprintf(package_id_out, 65, "%s", s->package_id);
    else if (!rc) {
        pkg = json_array_get(json_object_get(data, "packages"), 0);
        if (sg_json_str(pkg, "id"))
            snprintf(package_id_out, 65, "%s", sg_json_str(pkg, "id"));
        else if (sg_json_str(data, "package_id"))
            snprintf(package_id_out, 65, "%s",
                     sg_json_str(data, "package_id"));
    }
    json_decref(data);
    sg_free(text);
    return rc;
}
