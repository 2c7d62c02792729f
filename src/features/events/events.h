/*
 * events.h - TikTok Events API 2.0 logic with no I/O: normalising and
 * hashing customer data exactly as the reference says (section 2),
 * validating one event, and building the body of a batch.
 *
 * Invariant: what leaves sg_events_prepare holds digests only. Plaintext
 * email, phone, external_id, names and zip codes never reach the item's
 * body, an error message or a log line.
 */
#ifndef SG_FEATURES_EVENTS_H
#define SG_FEATURES_EVENTS_H

#include "core/sg.h"
#include "core/err.h"

#include <jansson.h>

struct sg_config;
struct sg_buf;

enum sg_events_source {
    SG_EVENTS_WEB = 0,
    SG_EVENTS_APP = 1,
    SG_EVENTS_OFFLINE = 2,
    SG_EVENTS_CRM = 3,
    SG_EVENTS_SOURCES = 4,
};

/* "web", "app", "offline", "crm"; NULL when out of range. */
const char *sg_events_source_name(int source);
/* The source for a name, or -1. */
int sg_events_source_parse(const char *name);

#define SG_EVENTS_ID_MAX      128 /* event_id bytes */
#define SG_EVENTS_NAME_MAX    64  /* event name bytes */
#define SG_EVENTS_BATCH_LIMIT 1000
#define SG_EVENTS_FUTURE_SKEW_S 300 /* event_time may run ahead this much */

/* Settings of the feature (a view of [tiktok_events]); strings borrowed. */
struct sg_events_cfg {
    const char *source_ids[SG_EVENTS_SOURCES]; /* NULL/"" = not set up */
    unsigned batch_max;        /* events per request to TikTok */
    int64_t flush_ms;          /* oldest pending event waits at most this */
    int64_t dedup_window_ms;   /* same (source, event, event_id) = duplicate */
    int64_t max_event_age_s;   /* older event_time is rejected */
    const char *custom_events; /* extra names, comma-separated */
    const char *test_event_code;
    int attempts_max;          /* per batch job */
    /*
     * Seal every full batch (batch_max pending events of one source) in
     * the intake transaction, bound to a new job due at once, so sending
     * it only reads; only a partial batch waits for a trigger job. On in
     * sg_events_cfg_from; off (zero) leaves all sealing to the jobs.
     */
    bool seal_at_intake;
};

/* Fill cfg from the loaded configuration (strings borrowed from c). */
void sg_events_cfg_from(struct sg_events_cfg *out, const struct sg_config *c);

/* ---- normalisation and hashing ---- */

enum sg_events_field {
    SG_EVENTS_F_EMAIL = 0,       /* trim, lowercase; must hold '@' */
    SG_EVENTS_F_PHONE = 1,       /* E.164: digits only, '+' prefix, <= 15 */
    SG_EVENTS_F_EXTERNAL_ID = 2, /* trim */
    SG_EVENTS_F_NAME = 3,        /* first/last name: no spaces, lowercase */
    SG_EVENTS_F_ZIP = 4,         /* like a name */
};

/*
 * Normalise in[0..len) as field says into out (NUL-terminated). Returns
 * the normalised length, SG_EINVAL when nothing usable is left (or the
 * value is malformed), SG_ELIMIT when out is too small.
 */
int sg_events_normalize(int field, const char *in, size_t len, char *out,
                        size_t out_size);
/*
 * The digest TikTok expects: a value that already is 64 hex digits is
 * passed through (lowercased); anything else is normalised and hashed
 * with SHA-256 into lowercase hex. out holds 65 bytes. SG_EINVAL when
 * the value does not normalise.
 */
int sg_events_digest(int field, const char *in, size_t len, char out[65]);
/*
 * A reusable SHA-256 context for many digests on one thread (the
 * one-shot API looks the digest up on every call). Init: 0 or SG_ENOMEM;
 * release accepts a released or zeroed one.
 */
struct sg_events_sha {
    void *md;  /* EVP_MD * */
    void *ctx; /* EVP_MD_CTX * */
};
int sg_events_sha_init(struct sg_events_sha *h);
void sg_events_sha_release(struct sg_events_sha *h);
/* sg_events_digest on h's context; h may be NULL (one-shot). */
int sg_events_digest_with(struct sg_events_sha *h, int field, const char *in,
                          size_t len, char out[65]);
/* city/state/country: lowercase, alphanumerics only, not hashed. */
int sg_events_normalize_place(const char *in, size_t len, char *out,
                              size_t out_size);

/* True for a TikTok standard event name (case-sensitive). */
bool sg_events_is_standard(const char *name);
/* True for an ISO 4217 currency code (three capitals, known code). */
bool sg_events_is_currency(const char *code);

/* ---- one event ---- */

/* Why an event was rejected. code is a stable metric label. */
struct sg_events_reject {
    const char *code;  /* "invalid_event", "too_old", ... */
    char field[48];
    char msg[160];     /* never holds customer data */
};

/* Rejection codes, for metrics (a fixed set). */
extern const char *const sg_events_reject_codes[];
size_t sg_events_reject_code_index(const char *code);

struct sg_events_item {
    int source;                      /* enum sg_events_source */
    char event[SG_EVENTS_NAME_MAX + 1];
    char event_id[SG_EVENTS_ID_MAX + 1];
    bool event_id_generated;
    int64_t event_time;              /* Unix seconds */
    char *body;                      /* normalised event JSON, digests only */
    size_t body_off;                 /* sg_events_prepare_buf: its offset */
    size_t body_len;
};

/*
 * Validate and normalise one event object of Surge's intake schema (see
 * docs/events.md). default_source applies when the event names none.
 * On success fills out (release with sg_events_item_release) and returns
 * 0; on a rejection returns SG_EINVAL with why filled and out empty;
 * SG_ENOMEM on allocation failure.
 */
int sg_events_prepare(struct sg_events_item *out, const json_t *in,
                      int default_source, const struct sg_events_cfg *cfg,
                      int64_t now_ms, struct sg_events_reject *why);
void sg_events_item_release(struct sg_events_item *it);
/*
 * Like sg_events_prepare, but the event's JSON is appended to b (no
 * allocation of its own): out->body stays NULL and the text is
 * b->data[out->body_off .. + out->body_len). Many events of one request
 * share one buffer and one SHA-256 context sha (may be NULL). A rejection leaves b as it was. SG_ELIMIT when b's
 * cap is reached, SG_ENOMEM when it cannot grow (b as it was).
 */
int sg_events_prepare_buf(struct sg_events_item *out, struct sg_buf *b,
                          struct sg_events_sha *sha, const json_t *in,
                          int default_source, const struct sg_events_cfg *cfg,
                          int64_t now_ms, struct sg_events_reject *why);

/*
 * The one-pass intake of a whole request body (see scan.c): the body is
 * read without building a JSON tree and each event it can fully judge is
 * prepared as sg_events_prepare_buf would (same item, byte-identical
 * JSON appended to b). Returns 0 with *n_out events (1..max), the
 * request's default source and two arrays of n (sg_free them):
 * *items_out, and *slow_out marking each event it leaves to
 * sg_events_prepare_buf on jansson's tree (that item then empty): every
 * rejection, a missing (generated) event_id, a null member, ...
 * SG_EDECLINED when the whole body must take the full path (not a
 * {"events":[...]} (with at most "event_source" besides) or [...] body
 * of 1..max events in the subset of JSON
 * it reads, or deeper than depth_max when that is not 0); SG_ENOMEM, or
 * SG_ELIMIT when b's cap is reached. On an error b is as it was and the
 * arrays are NULL.
 */
int sg_events_scan_prepare(struct sg_events_item **items_out, bool **slow_out,
                           size_t max, size_t *n_out, int *default_source_out,
                           struct sg_buf *b, struct sg_events_sha *sha,
                           const char *body, size_t len, size_t depth_max,
                           const struct sg_events_cfg *cfg, int64_t now_ms);

/*
 * Append the body of POST /open_api/v1.3/event/track/ to out:
 * {"event_source":..,"event_source_id":..,["test_event_code":..,]
 *  "data":[events...]}. events[i] are normalised event JSON texts (as
 * made by sg_events_prepare). test_event_code may be NULL. Returns 0 or
 * SG_ELIMIT/SG_ENOMEM from the buffer; SG_EINVAL for a bad source.
 */
int sg_events_batch_body(struct sg_buf *out, int source,
                         const char *source_id, const char *test_event_code,
                         const char *const *events, const size_t *lens,
                         size_t n);

/*
 * Append s[0..n) as a JSON string literal (quotes, escapes) to b. s is
 * valid UTF-8. 0 or the buffer's SG_ELIMIT/SG_ENOMEM.
 */
int sg_events_json_str(struct sg_buf *b, const char *s, size_t n);

/*
 * Indexes of failed events in a 20001 (partial) response body, in
 * ascending order, at most max; the count in *n_out. Accepts
 * data.failed_events[] (or data.errors[]) entries carrying "index".
 */
int sg_events_partial_failures(const json_t *resp, size_t *idx_out,
                               size_t max, size_t *n_out);

#endif
