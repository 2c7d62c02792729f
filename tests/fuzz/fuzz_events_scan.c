/*
 * fuzz_events_scan.c - differential: POST /api/v1/events reads the raw
 * body in one pass (sg_events_scan_prepare) and leaves what it does not
 * fully judge to jansson's tree and sg_events_prepare_buf. The scanner
 * exists for speed only, so when it handles a body jansson must accept
 * the same body with the same list of events, and every event the
 * scanner accepted must come out of the full path as the same item with
 * byte-identical JSON.
 *
 * Input: a request body. Invariant: as above, for a fixed configuration
 * and clock.
 */
#include "fuzz.h"

#include "core/sg.h"

#include "core/alloc.h"
#include "core/buf.h"
#include "core/json.h"
#include "features/events/events.h"

#define NOW_MS INT64_C(1790000000000)

static void check_event(const struct sg_events_item *fast_it,
                        const char *fast_body, const json_t *ev, int def,
                        const struct sg_events_cfg *c,
                        struct sg_events_sha *sha, struct sg_buf *full)
{
    struct sg_events_item it;
    struct sg_events_reject why;

    sg_buf_reset(full);
    SG_FUZZ_CHECK(
        sg_events_prepare_buf(&it, full, sha, ev, def, c, NOW_MS, &why) == 0);
    SG_FUZZ_CHECK(it.source == fast_it->source);
    SG_FUZZ_CHECK(strcmp(it.event, fast_it->event) == 0);
    SG_FUZZ_CHECK(strcmp(it.event_id, fast_it->event_id) == 0);
    SG_FUZZ_CHECK(!it.event_id_generated && !fast_it->event_id_generated);
    SG_FUZZ_CHECK(it.event_time == fast_it->event_time);
    SG_FUZZ_CHECK(it.body_len == fast_it->body_len);
    SG_FUZZ_CHECK(memcmp(full->data + it.body_off, fast_body, it.body_len) ==
                  0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sg_events_cfg c;
    struct sg_events_item *items = NULL;
    bool *slow = NULL;
    struct sg_events_sha sha;
    struct sg_buf fast, full;
    const json_t *list = NULL;
    json_t *j = NULL;
    size_t n = 0;
    int def = -1, rc;

    SG_FUZZ_CHECK(sg_events_sha_init(&sha) == 0);
    memset(&c, 0, sizeof(c));
    c.source_ids[SG_EVENTS_WEB] = "PIX";
    c.source_ids[SG_EVENTS_CRM] = "CRM";
    c.batch_max = 1000;
    c.max_event_age_s = 7 * 86400;
    c.custom_events = "MyEvent";
    sg_buf_init(&fast, 8u << 20);
    sg_buf_init(&full, 8u << 20);
    rc = sg_events_scan_prepare(&items, &slow, SG_EVENTS_BATCH_LIMIT, &n, &def,
                                &fast, &sha, (const char *)data, size, 32, &c,
                                NOW_MS);
    SG_FUZZ_CHECK(rc == 0 || rc == SG_EDECLINED);
    if (rc != 0) {
        SG_FUZZ_CHECK(fast.len == 0 && n == 0 && !items && !slow);
        goto out;
    }
    SG_FUZZ_CHECK(sg_json_parse(&j, (const char *)data, size, 32, NULL, NULL) ==
                  0);
    if (json_is_array(j)) {
        list = j;
        SG_FUZZ_CHECK(def == SG_EVENTS_WEB);
    } else {
        const char *src = sg_json_str(j, "event_source");

        list = json_object_get(j, "events");
        SG_FUZZ_CHECK(def ==
                      (src ? sg_events_source_parse(src) : SG_EVENTS_WEB));
    }
    SG_FUZZ_CHECK(json_is_array(list) && json_array_size(list) == n);
    for (size_t i = 0; i < n; i++)
        if (!slow[i])
            check_event(&items[i], fast.data + items[i].body_off,
                        json_array_get(list, i), def, &c, &sha, &full);
out:
    json_decref(j);
    sg_buf_release(&fast);
    sg_buf_release(&full);
    sg_events_sha_release(&sha);
    sg_free(items);
    sg_free(slow);
    return 0;
}
