/*
 * config.c - the schema table and everything it drives: defaults, INI
 * parsing (libinih), SURGE_* environment overrides, secret files, the
 * commented sample and the Markdown reference.
 *
 * Invariant: every value, default or not, is parsed by the same function
 * (set_value), so a default written in the sample parses back to itself.
 * Errors are one line, "where: what is wrong; what is allowed", and never
 * contain a secret value.
 */
#include "sg.h"

#include "alloc.h"
#include "buf.h"
#include "config.h"
#include "log.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ini.h>

extern char **environ;

#define KIB             UINT64_C(1024)
#define MIB             (KIB * KIB)
#define GIB             (MIB * KIB)
#define SEC             UINT64_C(1000)
#define MIN             (60 * SEC)
#define HOUR            (60 * MIN)
#define STRING_MAX      4096
#define SECRET_FILE_MAX (64 * 1024)
#define SHOWN_VALUE_MAX 40
#define ENV_NAME_MAX    128

#define OFF(field) offsetof(struct sg_config, field)

#define ROW(sec, k, t, d, lo, hi, field, text)                                 \
    {                                                                          \
        .section = sec, .key = k, .type = t, .def = d, .min = lo, .max = hi,   \
        .offset = OFF(field), .doc = text                                      \
    }
#define SECRET(sec, k, field, text)                                            \
    {                                                                          \
        .section = sec, .key = k, .type = SG_CFG_STRING, .secret = true,       \
        .offset = OFF(field), .doc = text                                      \
    }

static const struct sg_config_key schema[] = {
    /* [server] */
    ROW("server", "listen", SG_CFG_LISTEN, "127.0.0.1:8700", 0, 0,
        server.listen,
        "Address the HTTP API listens on, as HOST:PORT (an IPv6 address in "
        "brackets, e.g. [::1]:8700). Port 0 picks a free port; the daemon "
        "prints the address it bound. Keep it on loopback and put a "
        "TLS-terminating proxy in front of anything public."),
    ROW("server", "threads", SG_CFG_UINT, "2", 1, 64, server.threads,
        "Event-loop threads serving HTTP. They share one listening socket; "
        "two are plenty for most shops."),
    ROW("server", "body_max", SG_CFG_SIZE, "1m", KIB, 64 * MIB, server.body_max,
        "Largest request body accepted. A larger body is answered 413 "
        "without being read."),
    ROW("server", "headers_max", SG_CFG_UINT, "64", 1, 1024, server.headers_max,
        "Most request headers accepted; a request with more is answered "
        "431."),
    ROW("server", "header_bytes_max", SG_CFG_SIZE, "8k", KIB, MIB,
        server.header_bytes_max,
        "Most bytes of header names and values in one request; more is "
        "answered 431."),
    ROW("server", "request_timeout_ms", SG_CFG_DURATION_MS, "10s", 100,
        10 * MIN, server.request_timeout_ms,
        "Time a client has to send the headers and body of one request. A "
        "slower request is closed."),
    ROW("server", "json_depth_max", SG_CFG_UINT, "32", 1, 1024,
        server.json_depth_max,
        "Deepest nesting of JSON accepted in a request body; a deeper "
        "document is answered 400 before it is parsed."),

    /* [store] */
    {.section = "store",
     .key = "backend",
     .type = SG_CFG_STRING,
     .def = "sqlite",
     .choices = "sqlite|postgres",
     .offset = OFF(store.backend),
     .doc = "Storage backend: sqlite (embedded, the default) or postgres "
            "(a PostgreSQL server reached through [store] dsn). On postgres "
            "every table of the engine (core store, catalog, orders, "
            "fulfilment, events, channels and listings); surge demo always "
            "uses its own SQLite file."},
    SECRET("store", "dsn", store.dsn,
           "PostgreSQL connection string for backend = postgres, as libpq "
           "takes it: key=value pairs (host=/run/postgresql dbname=surge) or "
           "a postgresql:// URI. It may hold a password, so it is never "
           "shown. Ignored by sqlite."),
    ROW("store", "path", SG_CFG_PATH, "surge.db", 0, 0, store.path,
        "The SQLite database file, created with mode 0600 when missing. A "
        "relative path is taken relative to the folder of this file (or of "
        "the working directory when no file is loaded)."),
    ROW("store", "batch_max", SG_CFG_UINT, "256", 1, 4096, store.batch_max,
        "Most writes committed together in one transaction (group commit). "
        "1 commits every write on its own."),
    ROW("store", "queue_max", SG_CFG_UINT, "65536", 1, 1048576, store.queue_max,
        "Most writes waiting for the writer thread. When the queue is full "
        "new writes are refused with 503 so callers retry later, instead of "
        "memory growing without bound."),
    ROW("store", "readers", SG_CFG_UINT, "4", 1, 64, store.readers,
        "Reader connections in the pool. Reads never wait for the writer."),
    ROW("store", "cache", SG_CFG_SIZE, "64m", MIB, GIB, store.cache,
        "Page cache of the writer connection (each reader gets a quarter), "
        "taken as it is used. A working set larger than the cache is read "
        "back from the file on every write: with a 10,000-product catalog "
        "SQLite's own 2 MiB default halved the stock changes per second "
        "the API could take."),

    /* [log] */
    ROW("log", "level", SG_CFG_LOG_LEVEL, "info", 0, 0, log.level,
        "Least severe level written to stderr: error, warn, info or debug. "
        "Secret values are masked in every line."),

    /* [webhook_generic] */
    SECRET("webhook_generic", "secret", webhook_generic.secret,
           "Shared key for the generic webhook endpoint: senders sign the "
           "raw body with HMAC-SHA256 under this key. Unset disables the "
           "endpoint. Prefer secret_file = PATH (a file of mode 0600 or "
           "0400 holding the key) to writing the key here."),
    {.section = "webhook_generic",
     .key = "tenant",
     .type = SG_CFG_STRING,
     .def = "default",
     .min = 1,
     .max = 63,
     .offset = OFF(webhook_generic.tenant),
     .doc = "Tenant that events arriving on the generic webhook endpoint "
            "belong to."},

    /* [notify] */
    ROW("notify", "url", SG_CFG_URL, NULL, 0, 0, notify.url,
        "Where Surge POSTs notifications (job dead-lettered, breaker "
        "opened, ...), as an http:// or https:// URL. Unset sends none."),
    SECRET("notify", "secret", notify.secret,
           "Key Surge signs notification bodies with (HMAC-SHA256), so the "
           "receiver can check they came from this deployment. Prefer "
           "secret_file = PATH (mode 0600 or 0400)."),

    /* [jobs] */
    ROW("jobs", "concurrency", SG_CFG_UINT, "32", 1, 1024, jobs.concurrency,
        "Most jobs being sent at the same time across all platforms."),
    ROW("jobs", "attempts_max", SG_CFG_UINT, "8", 1, 100, jobs.attempts_max,
        "Attempts before a failing job is dead-lettered (surge jobs list "
        "--state dead shows them; surge jobs retry replays one)."),
    ROW("jobs", "backoff_base_ms", SG_CFG_DURATION_MS, "500ms", 1, HOUR,
        jobs.backoff_base_ms,
        "First retry delay. Each later retry waits a random time up to "
        "base * 2^attempt (full jitter), capped by backoff_max_ms."),
    ROW("jobs", "backoff_max_ms", SG_CFG_DURATION_MS, "5m", 1, 24 * HOUR,
        jobs.backoff_max_ms,
        "Longest delay between two attempts of one job. Must not be below "
        "backoff_base_ms."),
    ROW("jobs", "retry_after_max_ms", SG_CFG_DURATION_MS, "10m", 1, 24 * HOUR,
        jobs.retry_after_max_ms,
        "Longest Retry-After from a remote platform that is honoured; a "
        "longer hint is cut to this."),
    ROW("jobs", "lease_ms", SG_CFG_DURATION_MS, "1m", SEC, HOUR, jobs.lease_ms,
        "How long a claimed job stays reserved for its worker. A job whose "
        "lease runs out (the process died) is queued again. Must exceed "
        "request_timeout_ms."),
    ROW("jobs", "request_timeout_ms", SG_CFG_DURATION_MS, "10s", 100, 10 * MIN,
        jobs.request_timeout_ms,
        "Time limit for one outbound HTTP call made by a job."),
    ROW("jobs", "rate_per_sec", SG_CFG_UINT, "50", 1, 100000, jobs.rate_per_sec,
        "Default token-bucket rate per (platform, shop, endpoint class), in "
        "calls per second, where a connector does not set its own."),
    ROW("jobs", "burst", SG_CFG_UINT, "50", 1, 100000, jobs.burst,
        "Token-bucket size: calls that may go out at once after a quiet "
        "spell."),
    ROW("jobs", "breaker_min_calls", SG_CFG_UINT, "10", 1, 10000,
        jobs.breaker_min_calls,
        "Calls in the window before the circuit breaker may judge an "
        "endpoint."),
    ROW("jobs", "breaker_failure_pct", SG_CFG_UINT, "50", 1, 100,
        jobs.breaker_failure_pct,
        "Failure percentage in the window that opens the breaker."),
    ROW("jobs", "breaker_open_ms", SG_CFG_DURATION_MS, "30s", 1, 24 * HOUR,
        jobs.breaker_open_ms,
        "How long an open breaker refuses calls before letting probes "
        "through."),
    ROW("jobs", "breaker_probes", SG_CFG_UINT, "3", 1, 100, jobs.breaker_probes,
        "Trial calls allowed while half-open; if they all succeed the "
        "breaker closes."),

    /* [security] */
    ROW("security", "allow_private_urls", SG_CFG_BOOL, "false", 0, 0,
        security.allow_private_urls,
        "Allow outbound calls (notify.url, platform base URLs) to loopback, "
        "private and link-local addresses. Off by default so a configured "
        "URL cannot reach internal services; the sandbox and tests turn it "
        "on."),

    /* [tiktok_events] */
    ROW("tiktok_events", "api_base_url", SG_CFG_URL,
        "https://business-api.tiktok.com", 0, 0, tiktok_events.api_base_url,
        "Base URL of the TikTok Events API 2.0; batches go to "
        "<api_base_url>/open_api/v1.3/event/track/. Point it at the "
        "sandbox (and set [security] allow_private_urls) for tests."),
    SECRET("tiktok_events", "access_token", tiktok_events.access_token,
           "Events API access token, sent as the Access-Token header. "
           "Unset keeps accepted events queued without sending them. Prefer "
           "access_token_file = PATH (mode 0600 or 0400)."),
    ROW("tiktok_events", "web_pixel_code", SG_CFG_STRING, NULL, 0, 0,
        tiktok_events.web_pixel_code,
        "Pixel code that web events are reported under (event_source_id "
        "of event_source web). Unset rejects web events."),
    ROW("tiktok_events", "app_event_set_id", SG_CFG_STRING, NULL, 0, 0,
        tiktok_events.app_event_set_id,
        "App id / event set id for app events. Unset rejects app events."),
    ROW("tiktok_events", "offline_event_set_id", SG_CFG_STRING, NULL, 0, 0,
        tiktok_events.offline_event_set_id,
        "Offline event set id for offline (point of sale) events, such as "
        "those loaded by surge events import. Unset rejects them."),
    ROW("tiktok_events", "crm_event_set_id", SG_CFG_STRING, NULL, 0, 0,
        tiktok_events.crm_event_set_id,
        "CRM event set id for crm events. Unset rejects crm events."),
    ROW("tiktok_events", "batch_max", SG_CFG_UINT, "1000", 1, 1000,
        tiktok_events.batch_max,
        "Most events in one request to the Events API. A source's batch "
        "is sent as soon as this many events are pending."),
    ROW("tiktok_events", "flush_ms", SG_CFG_DURATION_MS, "1s", 1, HOUR,
        tiktok_events.flush_ms,
        "Longest time an accepted event waits for its batch to fill "
        "before the batch is sent anyway."),
    ROW("tiktok_events", "dedup_window_s", SG_CFG_UINT, "172800", 1,
        90 * 86400, tiktok_events.dedup_window_s,
        "Seconds during which an event with the same event source, event "
        "name and event_id is answered duplicate and not sent again."),
    ROW("tiktok_events", "max_event_age_s", SG_CFG_UINT, "604800", 60,
        400 * 86400, tiktok_events.max_event_age_s,
        "Events whose event_time is older than this many seconds are "
        "rejected (too_old)."),
    ROW("tiktok_events", "custom_events", SG_CFG_STRING, NULL, 0, 0,
        tiktok_events.custom_events,
        "Custom event names accepted besides the standard ones, "
        "comma-separated (names are case-sensitive)."),
    ROW("tiktok_events", "test_event_code", SG_CFG_STRING, NULL, 0, 0,
        tiktok_events.test_event_code,
        "When set, every batch carries this test_event_code, so TikTok "
        "shows the events in Test Events instead of counting them."),

    /* [catalog] */
    {.section = "catalog",
     .key = "currency",
     .type = SG_CFG_STRING,
     .def = "USD",
     .min = 3,
     .max = 3,
     .offset = OFF(catalog.currency),
     .doc = "The shop's currency (ISO 4217, e.g. USD). Imported prices "
            "without a currency are in it, and validation flags products "
            "priced in another one."},
    {.section = "catalog",
     .key = "location",
     .type = SG_CFG_STRING,
     .def = "default",
     .min = 1,
     .max = 64,
     .offset = OFF(catalog.location),
     .doc = "Inventory location that imported quantities (Variant "
            "Inventory Qty) are set at."},
    ROW("catalog", "category_rules", SG_CFG_PATH, NULL, 0, 0,
        catalog.category_rules,
        "JSON file of TikTok Shop category rules, the shape of the "
        "categories API ({\"categories\": [{\"id\", \"is_leaf\", "
        "\"attributes\", \"rules\"}]}). Validation checks required "
        "attributes and certifications against it. Unset skips those "
        "checks."),
    ROW("catalog", "category_map", SG_CFG_PATH, NULL, 0, 0,
        catalog.category_map,
        "Text file mapping the store's product category or type to a "
        "TikTok Shop category id, one \"Store category = 601226\" per "
        "line (# starts a comment). Products whose category and type are "
        "both unmapped fail validation and are listed as unmapped."),
    ROW("catalog", "prohibited_terms", SG_CFG_STRING, NULL, 0, 0,
        catalog.prohibited_terms,
        "Comma-separated words or phrases that must not appear in a "
        "title, description or tags (matched case-insensitively)."),
    ROW("catalog", "title_max", SG_CFG_UINT, "255", 1, 10000,
        catalog.title_max, "Longest product title, in characters."),
    ROW("catalog", "description_max", SG_CFG_UINT, "10000", 1, 1000000,
        catalog.description_max,
        "Longest product description (HTML included), in characters."),
    ROW("catalog", "images_max", SG_CFG_UINT, "9", 1, 250, catalog.images_max,
        "Most images a product may have; at least one is required."),
    ROW("catalog", "import_max", SG_CFG_SIZE, "64m", KIB, GIB,
        catalog.import_max, "Largest file surge import catalog reads."),

    /* [tiktok_shop] */
    ROW("tiktok_shop", "app_key", SG_CFG_STRING, NULL, 0, 0,
        tiktok_shop.app_key,
        "App key of the TikTok Shop app (Partner Center). Unset turns the "
        "TikTok Shop connector, its OAuth callback and its webhook intake "
        "off."),
    SECRET("tiktok_shop", "app_secret", tiktok_shop.app_secret,
           "App secret: signs every Open API request and authenticates "
           "inbound webhooks. Prefer app_secret_file = PATH (mode 0600 or "
           "0400)."),
    ROW("tiktok_shop", "service_id", SG_CFG_STRING, NULL, 0, 0,
        tiktok_shop.service_id,
        "Service id of the app, sent to the seller consent page by surge "
        "connect tiktok-shop."),
    ROW("tiktok_shop", "api_base_url", SG_CFG_URL,
        "https://open-api.tiktokglobalshop.com", 0, 0,
        tiktok_shop.api_base_url,
        "Base URL of the signed Open API. Point it at surge sandbox (and "
        "set [security] allow_private_urls) for tests."),
    ROW("tiktok_shop", "auth_base_url", SG_CFG_URL,
        "https://auth.tiktok-shops.com", 0, 0, tiktok_shop.auth_base_url,
        "Base URL of the token endpoints (/api/v2/token/get and "
        "/api/v2/token/refresh)."),
    ROW("tiktok_shop", "authorize_url", SG_CFG_URL,
        "https://services.tiktokshop.com/open/authorize", 0, 0,
        tiktok_shop.authorize_url,
        "Seller consent page; US sellers use "
        "https://services.us.tiktokshop.com/open/authorize."),
    ROW("tiktok_shop", "webhook_url", SG_CFG_URL, NULL, 0, 0,
        tiktok_shop.webhook_url,
        "Public URL of this engine's POST /webhooks/tiktok-shop. surge "
        "connect subscribes every connected shop's events to it; unset "
        "skips the subscription."),
    ROW("tiktok_shop", "refresh_ahead", SG_CFG_DURATION_MS, "24h", MIN,
        6 * 24 * HOUR, tiktok_shop.refresh_ahead_ms,
        "Refresh a seller's access token when less than this much of its "
        "life is left (access tokens last about 7 days)."),
    ROW("tiktok_shop", "drift_check_interval", SG_CFG_DURATION_MS, "1h", 0,
        7 * 24 * HOUR, tiktok_shop.drift_check_interval_ms,
        "How often surge serve reads every published listing back from "
        "TikTok Shop, logs where it differs from the catalog and pushes "
        "the corrections (what surge sync --check does). 0 turns it off."),
    ROW("tiktok_shop", "audit_poll_after", SG_CFG_DURATION_MS, "10m", 0,
        7 * 24 * HOUR, tiktok_shop.audit_poll_after_ms,
        "A listing still pending this long after its last change is read "
        "back, so its audit result arrives even when the webhook was "
        "lost; it is read again after each further period. 0 turns it "
        "off."),
    ROW("tiktok_shop", "sync_window", SG_CFG_DURATION_MS, "1s", 0, HOUR,
        tiktok_shop.sync_window_ms,
        "A price or stock change is pushed this long after the first "
        "change of its product that is not yet queued, so every change "
        "made to the product inside the window goes out as one call "
        "carrying the latest state. A SKU whose stock runs out while "
        "TikTok still offers units is pushed at once. 0 pushes each "
        "change as soon as the rate limit allows."),
    ROW("tiktok_shop", "stock_buffer", SG_CFG_UINT, "0", 0, 1000000,
        tiktok_shop.stock_buffer,
        "Units of every SKU held back from TikTok Shop: the quantity "
        "pushed is available stock minus this (and minus any viral-mode "
        "buffer, [viral]), never below 0. Protects other channels and "
        "absorbs TikTok's lag in reporting orders."),
    ROW("tiktok_shop", "storm_hold", SG_CFG_DURATION_MS, "30s", 0, HOUR,
        tiktok_shop.storm_hold_ms,
        "During a storm (more products changed again within one second "
        "than [jobs] rate_per_sec, i.e. more than one endpoint can push "
        "in that second), pushes that are not urgent wait until a second "
        "passes without one, so each product goes out once with its "
        "final state instead of once per window; never longer than this "
        "after the product's first change. Stock running out still goes "
        "at once. 0 turns the hold off."),

    /* [orders] */
    ROW("orders", "poll_interval", SG_CFG_DURATION_MS, "5m", 1000, 24 * HOUR,
        orders.poll_interval_ms,
        "How often every connected shop's orders are searched by update "
        "time, so an order whose webhook was lost is still applied."),
    ROW("orders", "fetch_depth", SG_CFG_UINT, "8", 1, 16, orders.fetch_depth,
        "Order-detail batches (up to 50 orders each) whose writes may wait "
        "for the store at once while the next batch is read. Each write "
        "waits for a group commit; with more in flight, several batches "
        "share one commit instead of queueing one per commit. 1 reads a "
        "batch only after the one before it committed."),
    {.section = "orders",
     .key = "oversold_policy",
     .type = SG_CFG_STRING,
     .def = "notify",
     .choices = "notify|backorder|cancel",
     .offset = OFF(orders.oversold_policy),
     .doc = "What happens to an order the channel accepted for stock Surge no "
        "longer had. It is always flagged oversold and logged; notify also "
        "queues an order.oversold notification to [notify] url, backorder "
        "reserves it as soon as stock is back, cancel cancels it through "
        "the channel's API with cancel_reason."},
    ROW("orders", "cancel_reason", SG_CFG_STRING, "out_of_stock", 0, 0,
        orders.cancel_reason,
        "Reason sent when oversold_policy = cancel cancels an order."),
    ROW("orders", "oversold_grace", SG_CFG_DURATION_MS, "30s", 0, HOUR,
        orders.oversold_grace_ms,
        "With oversold_policy = cancel, how long an oversold order waits "
        "before it is cancelled: stock that comes back meanwhile (a late "
        "cancellation's release, a receipt) covers it instead. 0 cancels "
        "at once."),

    /* [fulfilment] */
    ROW("fulfilment", "warehouse_url", SG_CFG_URL, NULL, 0, 0,
        fulfilment.warehouse_url,
        "Where orders ready to ship are exported: a notify.http job per "
        "order (event order.ready_to_ship, and order.address_changed when "
        "the buyer changes the address before shipping). Unset sends them "
        "to [notify] url."),
    ROW("fulfilment", "csv_dir", SG_CFG_PATH, NULL, 0, 0,
        fulfilment.csv_dir,
        "Also drop each export as a CSV file in this directory (written "
        "whole, then renamed). Unset: no CSV."),

    /* [returns] */
    ROW("returns", "restock_received", SG_CFG_BOOL, "true", 0, 0,
        returns.restock_received,
        "Put a return's units back on hand, once, when the seller accepts "
        "the package the buyer sent back."),
    ROW("returns", "auto_approve_cancellations", SG_CFG_BOOL, "true", 0, 0,
        returns.auto_approve_cancellations,
        "Approve a buyer's cancellation request at once. false leaves it "
        "pending for POST /api/v1/cancellations/{id}/approve or reject."),

    /* [viral] */
    ROW("viral", "sell_through_per_min", SG_CFG_UINT, "0", 0, 1000000,
        viral.sell_through_per_min,
        "Viral mode: a SKU whose units reserved per minute (over window) "
        "reach this gets a channel buffer of buffer_units; it goes back to "
        "0 below half of it. 0 turns viral mode off."),
    ROW("viral", "buffer_units", SG_CFG_UINT, "5", 0, 1000000,
        viral.buffer_units,
        "Units held back from every channel while a SKU is viral: the "
        "quantity pushed is available minus the buffer."),
    ROW("viral", "window", SG_CFG_DURATION_MS, "1m", 1000, 24 * HOUR,
        viral.window_ms, "Span over which the sell-through rate is measured."),
    ROW("viral", "check_interval", SG_CFG_DURATION_MS, "10s", 100, HOUR,
        viral.check_interval_ms, "How often every SKU's rate is measured."),

    /* [secrets] */
    ROW("secrets", "key_file", SG_CFG_PATH, "surge.key", 0, 0,
        secrets.key_file,
        "File holding the 32-byte key (64 hex digits) that seals channel "
        "access and refresh tokens in the store (AES-256-GCM). surge init "
        "creates it with mode 0600; start-up refuses a key file that group "
        "or others can read. Losing it means reconnecting every seller."),
};

static const char *const sections[] = {
    "server", "store", "log", "webhook_generic", "notify", "jobs", "security",
    "tiktok_events", "catalog",
    "tiktok_shop", "orders", "fulfilment", "returns", "viral", "secrets",
};

/* ---- small helpers ---- */

const struct sg_config_key *sg_config_schema(size_t *n_out)
{
    *n_out = SG_ARRAY_SIZE(schema);
    return schema;
}

const char *sg_config_type_name(int type)
{
    switch (type) {
    case SG_CFG_STRING:
        return "string";
    case SG_CFG_INT:
        return "int";
    case SG_CFG_UINT:
        return "uint";
    case SG_CFG_BOOL:
        return "bool";
    case SG_CFG_SIZE:
        return "size";
    case SG_CFG_DURATION_MS:
        return "duration";
    case SG_CFG_LOG_LEVEL:
        return "log level";
    case SG_CFG_LISTEN:
        return "listen address";
    case SG_CFG_PATH:
        return "path";
    case SG_CFG_URL:
        return "url";
    default:
        return "?";
    }
}

static bool section_known(const char *name)
{
    for (size_t i = 0; i < SG_ARRAY_SIZE(sections); i++)
        if (strcmp(sections[i], name) == 0)
            return true;
    return false;
}

static const struct sg_config_key *find_key(const char *section,
                                            const char *key)
{
    for (size_t i = 0; i < SG_ARRAY_SIZE(schema); i++)
        if (strcmp(schema[i].section, section) == 0 &&
            strcmp(schema[i].key, key) == 0)
            return &schema[i];
    return NULL;
}

static void *field(struct sg_config *cfg, const struct sg_config_key *k)
{
    return (char *)cfg + k->offset;
}

static const void *cfield(const struct sg_config *cfg,
                          const struct sg_config_key *k)
{
    return (const char *)cfg + k->offset;
}

static bool is_text_type(int type)
{
    return type == SG_CFG_STRING || type == SG_CFG_LISTEN ||
           type == SG_CFG_PATH || type == SG_CFG_URL;
}

/* Bytes as "1m", "8k" or "512", the way a human would write them. */
static void fmt_size(uint64_t v, char *out, size_t n)
{
    if (v >= GIB && v % GIB == 0)
        snprintf(out, n, "%" PRIu64 "g", v / GIB);
    else if (v >= MIB && v % MIB == 0)
        snprintf(out, n, "%" PRIu64 "m", v / MIB);
    else if (v >= KIB && v % KIB == 0)
        snprintf(out, n, "%" PRIu64 "k", v / KIB);
    else
        snprintf(out, n, "%" PRIu64, v);
}

static void fmt_duration(uint64_t ms, char *out, size_t n)
{
    if (ms >= HOUR && ms % HOUR == 0)
        snprintf(out, n, "%" PRIu64 "h", ms / HOUR);
    else if (ms >= MIN && ms % MIN == 0)
        snprintf(out, n, "%" PRIu64 "m", ms / MIN);
    else if (ms >= SEC && ms % SEC == 0)
        snprintf(out, n, "%" PRIu64 "s", ms / SEC);
    else
        snprintf(out, n, "%" PRIu64 "ms", ms);
}

void sg_config_expected(const struct sg_config_key *k, char *out,
                        size_t out_len)
{
    char lo[32], hi[32];

    switch (k->type) {
    case SG_CFG_INT:
    case SG_CFG_UINT:
        snprintf(out, out_len, "an integer %" PRIu64 "..%" PRIu64, k->min,
                 k->max);
        break;
    case SG_CFG_SIZE:
        fmt_size(k->min, lo, sizeof(lo));
        fmt_size(k->max, hi, sizeof(hi));
        snprintf(out, out_len,
                 "a size %s..%s in bytes, optionally with suffix k, m or g "
                 "(e.g. 1m)",
                 lo, hi);
        break;
    case SG_CFG_DURATION_MS:
        fmt_duration(k->min, lo, sizeof(lo));
        fmt_duration(k->max, hi, sizeof(hi));
        snprintf(out, out_len,
                 "a duration %s..%s: a number with suffix ms, s, m or h "
                 "(no suffix means ms)",
                 lo, hi);
        break;
    case SG_CFG_BOOL:
        snprintf(out, out_len, "true or false (or yes/no, on/off, 1/0)");
        break;
    case SG_CFG_LOG_LEVEL:
        snprintf(out, out_len, "one of error, warn, info, debug");
        break;
    case SG_CFG_LISTEN:
        snprintf(out, out_len,
                 "HOST:PORT with port 0..65535, e.g. 127.0.0.1:8700 or "
                 "[::1]:8700");
        break;
    case SG_CFG_PATH:
        snprintf(out, out_len, "a non-empty path");
        break;
    case SG_CFG_URL:
        snprintf(out, out_len, "an http:// or https:// URL");
        break;
    default:
        if (k->choices) {
            size_t j = 0;
            j += (size_t)snprintf(out, out_len, "one of ");
            for (const char *c = k->choices; *c && j + 2 < out_len; c++) {
                if (*c == '|') {
                    out[j++] = ',';
                    out[j++] = ' ';
                } else {
                    out[j++] = *c;
                }
            }
            out[SG_MIN(j, out_len - 1)] = '\0';
        } else if (k->max) {
            snprintf(out, out_len,
                     "a string of %" PRIu64 "..%" PRIu64 " characters", k->min,
                     k->max);
        } else {
            snprintf(out, out_len, "a non-empty string");
        }
        break;
    }
}

void sg_config_env_name(const struct sg_config_key *k, char *out,
                        size_t out_len)
{
    size_t j = 0;

    snprintf(out, out_len, "SURGE_%s_%s", k->section, k->key);
    for (; out[j]; j++)
        if (out[j] >= 'a' && out[j] <= 'z')
            out[j] = (char)(out[j] - 'a' + 'A');
}

/* A value as it may appear in an error: printable, short, quoted. */
static void shown(const char *v, char *out, size_t n)
{
    size_t j = 0, i = 0;

    for (; v[i] && j + 5 < n && i < SHOWN_VALUE_MAX; i++)
        out[j++] = (v[i] >= 0x20 && v[i] < 0x7f) ? v[i] : '?';
    if (v[i] && j + 4 < n) {
        out[j++] = '.';
        out[j++] = '.';
        out[j++] = '.';
    }
    out[j] = '\0';
}

/* ---- value parsers: 0 on success, -1 when the text is not valid ---- */

static int parse_u64(const char *s, uint64_t *out, const char **end_out)
{
    uint64_t v = 0;
    const char *p = s;

    if (*p < '0' || *p > '9')
        return -1;
    for (; *p >= '0' && *p <= '9'; p++) {
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    *end_out = p;
    return 0;
}

static bool ieq(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        char x = *a, y = *b;
        if (x >= 'A' && x <= 'Z')
            x = (char)(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z')
            y = (char)(y - 'A' + 'a');
        if (x != y)
            return false;
    }
    return *a == *b;
}

static int parse_size(const char *s, uint64_t *out)
{
    const char *end;
    uint64_t v, mult = 1;

    if (parse_u64(s, &v, &end) < 0)
        return -1;
    if (*end == '\0')
        mult = 1;
    else if (ieq(end, "k"))
        mult = KIB;
    else if (ieq(end, "m"))
        mult = MIB;
    else if (ieq(end, "g"))
        mult = GIB;
    else
        return -1;
    if (v > UINT64_MAX / mult)
        return -1;
    *out = v * mult;
    return 0;
}

static int parse_duration(const char *s, uint64_t *out)
{
    const char *end;
    uint64_t v, mult;

    if (parse_u64(s, &v, &end) < 0)
        return -1;
    if (*end == '\0' || strcmp(end, "ms") == 0)
        mult = 1;
    else if (strcmp(end, "s") == 0)
        mult = SEC;
    else if (strcmp(end, "m") == 0)
        mult = MIN;
    else if (strcmp(end, "h") == 0)
        mult = HOUR;
    else
        return -1;
    if (v > UINT64_MAX / mult)
        return -1;
    *out = v * mult;
    return 0;
}

static int parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};

    for (size_t i = 0; i < SG_ARRAY_SIZE(yes); i++) {
        if (ieq(s, yes[i])) {
            *out = true;
            return 0;
        }
        if (ieq(s, no[i])) {
            *out = false;
            return 0;
        }
    }
    return -1;
}

static bool host_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '-' || c == '.';
}

static int check_listen(const char *s)
{
    char host[256];
    const char *colon, *end;
    size_t hlen;
    uint64_t port;
    unsigned char addr[16];

    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':')
            return -1;
        hlen = (size_t)(close - s - 1);
        if (hlen == 0 || hlen >= sizeof(host))
            return -1;
        memcpy(host, s + 1, hlen);
        host[hlen] = '\0';
        if (inet_pton(AF_INET6, host, addr) != 1)
            return -1;
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon)
            return -1;
        hlen = (size_t)(colon - s);
        if (hlen == 0 || hlen >= sizeof(host))
            return -1;
        for (size_t i = 0; i < hlen; i++)
            if (!host_char(s[i]))
                return -1;
    }
    if (parse_u64(colon + 1, &port, &end) < 0 || *end || port > 65535)
        return -1;
    return 0;
}

static int check_url(const char *s)
{
    const char *rest;

    if (strncmp(s, "http://", 7) == 0)
        rest = s + 7;
    else if (strncmp(s, "https://", 8) == 0)
        rest = s + 8;
    else
        return -1;
    if (*rest == '\0' || *rest == '/')
        return -1;
    for (; *rest; rest++)
        if ((unsigned char)*rest <= 0x20 || *rest == 0x7f)
            return -1;
    return 0;
}

static int check_choice(const char *choices, const char *s)
{
    size_t n = strlen(s);
    const char *c = choices;

    while (*c) {
        const char *bar = strchr(c, '|');
        size_t len = bar ? (size_t)(bar - c) : strlen(c);
        if (len == n && strncmp(c, s, n) == 0)
            return 0;
        if (!bar)
            break;
        c = bar + 1;
    }
    return -1;
}

/*
 * Parse text for row k and store it in cfg. Returns 0, SG_ENOMEM, or
 * SG_EINVAL when the text is not acceptable (the caller words the error).
 */
static int set_value(struct sg_config *cfg, const struct sg_config_key *k,
                     const char *text)
{
    void *p = field(cfg, k);
    uint64_t u;
    const char *end;
    bool b;
    int lvl;

    switch (k->type) {
    case SG_CFG_INT: {
        bool neg = text[0] == '-';
        if (parse_u64(text + neg, &u, &end) < 0 || *end)
            return SG_EINVAL;
        if (neg || u < k->min || u > k->max || u > INT_MAX)
            return SG_EINVAL;
        *(int *)p = (int)u;
        return 0;
    }
    case SG_CFG_UINT:
        if (parse_u64(text, &u, &end) < 0 || *end)
            return SG_EINVAL;
        if (u < k->min || u > k->max || u > UINT_MAX)
            return SG_EINVAL;
        *(unsigned *)p = (unsigned)u;
        return 0;
    case SG_CFG_SIZE:
        if (parse_size(text, &u) < 0 || u < k->min || u > k->max ||
            u > SIZE_MAX)
            return SG_EINVAL;
        *(size_t *)p = (size_t)u;
        return 0;
    case SG_CFG_DURATION_MS:
        if (parse_duration(text, &u) < 0 || u < k->min || u > k->max ||
            u > UINT_MAX)
            return SG_EINVAL;
        *(unsigned *)p = (unsigned)u;
        return 0;
    case SG_CFG_BOOL:
        if (parse_bool(text, &b) < 0)
            return SG_EINVAL;
        *(bool *)p = b;
        return 0;
    case SG_CFG_LOG_LEVEL:
        lvl = sg_log_level_parse(text);
        if (lvl < 0)
            return SG_EINVAL;
        *(int *)p = lvl;
        return 0;
    default:
        break;
    }

    /* The text types. */
    if (text[0] == '\0' || strlen(text) > STRING_MAX)
        return SG_EINVAL;
    if (k->type == SG_CFG_LISTEN && check_listen(text) < 0)
        return SG_EINVAL;
    if (k->type == SG_CFG_URL && check_url(text) < 0)
        return SG_EINVAL;
    if (k->type == SG_CFG_STRING && k->choices &&
        check_choice(k->choices, text) < 0)
        return SG_EINVAL;
    if (k->type == SG_CFG_STRING && k->max &&
        (strlen(text) < k->min || strlen(text) > k->max))
        return SG_EINVAL;
    {
        char *copy = sg_strdup(text);
        if (!copy)
            return SG_ENOMEM;
        sg_free(*(char **)p);
        *(char **)p = copy;
    }
    return 0;
}

/* ---- defaults, release ---- */

void sg_config_release(struct sg_config *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < SG_ARRAY_SIZE(schema); i++) {
        if (is_text_type(schema[i].type)) {
            char **p = field(cfg, &schema[i]);
            if (*p && schema[i].secret)
                memset(*p, 0, strlen(*p));
            sg_free(*p);
        }
    }
    sg_free(cfg->path);
    memset(cfg, 0, sizeof(*cfg));
}

int sg_config_init_defaults(struct sg_config *cfg)
{
    int rc = 0;

    memset(cfg, 0, sizeof(*cfg));
    for (size_t i = 0; i < SG_ARRAY_SIZE(schema); i++) {
        if (!schema[i].def)
            continue;
        rc = set_value(cfg, &schema[i], schema[i].def);
        if (rc == SG_ENOMEM)
            return rc;
        /* A default that does not parse is a bug in the table. */
        SG_ASSERT(rc == 0);
    }
    return 0;
}

/* ---- loading ---- */

struct load {
    struct sg_config *cfg;
    struct sg_err *err;
    FILE *f;
    const char *name; /* file name as given, for messages */
    char *dir;        /* folder of the file, NULL when "." */
    unsigned line;
    bool failed;
    int rc;
    unsigned *lines; /* per row: the line that set it, 0 = not set */
    bool *from_file; /* per row: value set by a *_file key */
};

static int fail(struct load *ld, int code, const char *fmt, ...)
    SG_PRINTF(3, 4);

static int fail(struct load *ld, int code, const char *fmt, ...)
{
    char msg[sizeof(ld->err->msg)];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (!ld->failed)
        sg_err_set(ld->err, code, "%s", msg);
    ld->failed = true;
    ld->rc = code;
    return code;
}

/* The keys allowed in a section, for "allowed: ..." in messages. */
static void allowed_keys(const char *section, char *out, size_t n)
{
    size_t j = 0;

    out[0] = '\0';
    for (size_t i = 0; i < SG_ARRAY_SIZE(schema) && j < n; i++) {
        if (strcmp(schema[i].section, section) != 0)
            continue;
        j += (size_t)snprintf(out + j, n - j, "%s%s", j ? ", " : "",
                              schema[i].key);
        if (schema[i].secret && j < n)
            j += (size_t)snprintf(out + j, n - j, ", %s_file", schema[i].key);
    }
}

static void allowed_sections(char *out, size_t n)
{
    size_t j = 0;

    out[0] = '\0';
    for (size_t i = 0; i < SG_ARRAY_SIZE(sections) && j < n; i++)
        j += (size_t)snprintf(out + j, n - j, "%s[%s]", j ? ", " : "",
                              sections[i]);
}

/* Join a relative path to the config file's folder; sg_alloc'd. */
static char *resolve_path(const struct load *ld, const char *p)
{
    struct sg_buf b;

    if (!ld->dir || p[0] == '/')
        return sg_strdup(p);
    sg_buf_init(&b, STRING_MAX * 2);
    if (sg_buf_printf(&b, "%s/%s", ld->dir, p) < 0) {
        sg_buf_release(&b);
        return NULL;
    }
    return sg_buf_detach(&b, NULL);
}

/*
 * Read a secret from a file that only its owner may read. Returns 0 and
 * an sg_alloc'd value, or an error code with a message in why.
 */
static int read_secret_file(const char *path, char **out, char *why,
                            size_t why_len)
{
    struct stat st;
    char *data = NULL;
    size_t len = 0;
    ssize_t got;
    int fd, rc = SG_ECONFIG;

    *out = NULL;
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        snprintf(why, why_len, "cannot open secret file \"%s\": %s", path,
                 strerror(errno));
        return SG_ECONFIG;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        snprintf(why, why_len, "secret file \"%s\" is not a regular file",
                 path);
        goto out;
    }
    if (st.st_mode & 077) {
        snprintf(why, why_len,
                 "secret file \"%s\" has mode %04o; it must not be readable "
                 "by group or others (use mode 0600 or 0400)",
                 path, (unsigned)(st.st_mode & 07777));
        goto out;
    }
    if (st.st_size > SECRET_FILE_MAX) {
        snprintf(why, why_len, "secret file \"%s\" is larger than %d bytes",
                 path, SECRET_FILE_MAX);
        goto out;
    }
    data = sg_alloc((size_t)st.st_size + 1);
    if (!data) {
        rc = SG_ENOMEM;
        snprintf(why, why_len, "out of memory");
        goto out;
    }
    while (len < (size_t)st.st_size) {
        got = read(fd, data + len, (size_t)st.st_size - len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        len += (size_t)got;
    }
    data[len] = '\0';
    while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == '\r'))
        data[--len] = '\0';
    if (len == 0 || strlen(data) != len) {
        snprintf(why, why_len, "secret file \"%s\" is empty or not text", path);
        goto out;
    }
    *out = data;
    data = NULL;
    rc = 0;
out:
    if (data) {
        memset(data, 0, (size_t)st.st_size + 1);
        sg_free(data);
    }
    close(fd);
    return rc;
}

/* Report that text is not a valid value for k, at where. */
static int bad_value(struct load *ld, const char *where,
                     const struct sg_config_key *k, const char *text)
{
    char exp[160], val[64];

    sg_config_expected(k, exp, sizeof(exp));
    if (k->secret)
        return fail(ld, SG_ECONFIG,
                    "%s: bad value for [%s] %s (not shown, it is secret): "
                    "expected %s",
                    where, k->section, k->key, exp);
    shown(text, val, sizeof(val));
    return fail(ld, SG_ECONFIG, "%s: bad value \"%s\" for [%s] %s: expected %s",
                where, val, k->section, k->key, exp);
}

/*
 * Apply one setting from where (a "file:line" or "environment NAME").
 * is_file: the text is a path to a secret file, not the value.
 */
static int apply(struct load *ld, const char *where,
                 const struct sg_config_key *k, const char *text, bool is_file,
                 bool in_file)
{
    char why[sizeof(ld->err->msg)];
    char *value = NULL, *resolved = NULL;
    int rc;

    if (is_file) {
        resolved = in_file ? resolve_path(ld, text) : sg_strdup(text);
        if (!resolved)
            return fail(ld, SG_ENOMEM, "out of memory");
        if (text[0] == '\0') {
            sg_free(resolved);
            return fail(ld, SG_ECONFIG,
                        "%s: empty path for [%s] %s_file: expected the path "
                        "of a file holding the secret",
                        where, k->section, k->key);
        }
        rc = read_secret_file(resolved, &value, why, sizeof(why));
        sg_free(resolved);
        if (rc < 0)
            return fail(ld, rc, "%s: [%s] %s_file: %s", where, k->section,
                        k->key, why);
        rc = set_value(ld->cfg, k, value);
        memset(value, 0, strlen(value));
        sg_free(value);
        if (rc == SG_EINVAL)
            return bad_value(ld, where, k, "");
        if (rc < 0)
            return fail(ld, rc, "out of memory");
        return 0;
    }

    if (k->type == SG_CFG_PATH && in_file && text[0]) {
        resolved = resolve_path(ld, text);
        if (!resolved)
            return fail(ld, SG_ENOMEM, "out of memory");
        rc = set_value(ld->cfg, k, resolved);
        sg_free(resolved);
    } else if (text[0] == '\0' && !k->def && is_text_type(k->type)) {
        /* An empty optional value means "unset". */
        char **p = field(ld->cfg, k);
        sg_free(*p);
        *p = NULL;
        rc = 0;
    } else {
        rc = set_value(ld->cfg, k, text);
    }
    if (rc == SG_EINVAL)
        return bad_value(ld, where, k, text);
    if (rc < 0)
        return fail(ld, rc, "out of memory");
    return 0;
}

/*
 * inih reader: fgets plus line counting, leading-space stripping (so an
 * indented key is a key, never a continuation line), a line-length check
 * and unknown-section detection (inih does not report empty sections).
 */
static char *reader(char *str, int num, void *stream)
{
    struct load *ld = stream;
    size_t len, lead = 0;
    char loc[300];

    if (ld->failed)
        return NULL;
    if (!fgets(str, num, ld->f))
        return NULL;
    ld->line++;
    snprintf(loc, sizeof(loc), "%s:%u", ld->name, ld->line);
    len = strlen(str);
    if (len > 0 && str[len - 1] != '\n' && !feof(ld->f)) {
        fail(ld, SG_ECONFIG, "%s: line too long: at most %d bytes per line",
             loc, num - 2);
        return NULL;
    }
    while (str[lead] == ' ' || str[lead] == '\t')
        lead++;
    if (lead)
        memmove(str, str + lead, len - lead + 1);
    if (str[0] == '[') {
        char name[64], all[200];
        const char *close = strchr(str, ']');
        size_t n = close ? (size_t)(close - str - 1) : 0;
        if (close && n < sizeof(name)) {
            memcpy(name, str + 1, n);
            name[n] = '\0';
            if (!section_known(name)) {
                char val[64];
                shown(name, val, sizeof(val));
                allowed_sections(all, sizeof(all));
                fail(ld, SG_ECONFIG, "%s: unknown section [%s]; allowed: %s",
                     loc, val, all);
                return NULL;
            }
        }
    }
    return str;
}

static int handler(void *user, const char *section, const char *name,
                   const char *value)
{
    struct load *ld = user;
    const struct sg_config_key *k;
    char loc[300], allowed[400], key[64], val[64];
    size_t nlen = strlen(name);
    bool is_file = false;
    size_t idx;

    if (ld->failed)
        return 0;
    snprintf(loc, sizeof(loc), "%s:%u", ld->name, ld->line);
    if (section[0] == '\0') {
        shown(name, val, sizeof(val));
        fail(ld, SG_ECONFIG,
             "%s: key \"%s\" is outside any section; put it under a "
             "[section] header",
             loc, val);
        return 0;
    }
    k = find_key(section, name);
    if (!k && nlen > 5 && nlen < sizeof(key) &&
        strcmp(name + nlen - 5, "_file") == 0) {
        memcpy(key, name, nlen - 5);
        key[nlen - 5] = '\0';
        k = find_key(section, key);
        if (k && !k->secret)
            k = NULL;
        is_file = k != NULL;
    }
    if (!k) {
        shown(name, val, sizeof(val));
        allowed_keys(section, allowed, sizeof(allowed));
        fail(ld, SG_ECONFIG, "%s: unknown key \"%s\" in [%s]; allowed: %s", loc,
             val, section, allowed);
        return 0;
    }
    idx = (size_t)(k - schema);
    if (ld->lines[idx]) {
        fail(ld, SG_ECONFIG,
             "%s: [%s] %s is already set on line %u; set each key once", loc,
             k->section, k->key, ld->lines[idx]);
        return 0;
    }
    ld->lines[idx] = ld->line;
    ld->from_file[idx] = is_file;
    return apply(ld, loc, k, value, is_file, true) == 0;
}

static int load_file(struct load *ld, const char *path)
{
    const char *slash;
    int rc;

    ld->f = fopen(path, "r");
    if (!ld->f)
        return fail(ld, SG_ECONFIG, "%s: cannot open: %s", path,
                    strerror(errno));
    slash = strrchr(path, '/');
    if (slash) {
        ld->dir = sg_strndup(path, slash == path ? 1 : (size_t)(slash - path));
        if (!ld->dir) {
            fclose(ld->f);
            ld->f = NULL;
            return fail(ld, SG_ENOMEM, "out of memory");
        }
    }
    /* Path defaults follow the file, like values written in it. */
    for (size_t i = 0; i < SG_ARRAY_SIZE(schema); i++) {
        if (schema[i].type == SG_CFG_PATH && schema[i].def &&
            apply(ld, "default", &schema[i], schema[i].def, false, true) < 0)
            goto out;
    }
    rc = ini_parse_stream(reader, ld, handler, ld);
    if (!ld->failed && rc == -2)
        fail(ld, SG_ENOMEM, "out of memory");
    else if (!ld->failed && rc > 0)
        fail(ld, SG_ECONFIG,
             "%s:%d: syntax error: expected [section], key = value, or a "
             "comment starting with # or ;",
             ld->name, rc);
    else if (!ld->failed && ferror(ld->f))
        fail(ld, SG_ECONFIG, "%s: read error", path);
out:
    fclose(ld->f);
    ld->f = NULL;
    return ld->failed ? ld->rc : 0;
}

/* "SURGE_SERVER_THREADS" -> row; sets *is_file for a *_FILE name. */
static const struct sg_config_key *env_key(const char *name, bool *is_file)
{
    char env[ENV_NAME_MAX], file_env[ENV_NAME_MAX + 8];

    for (size_t i = 0; i < SG_ARRAY_SIZE(schema); i++) {
        sg_config_env_name(&schema[i], env, sizeof(env));
        if (strcmp(env, name) == 0) {
            *is_file = false;
            return &schema[i];
        }
        if (schema[i].secret) {
            snprintf(file_env, sizeof(file_env), "%s_FILE", env);
            if (strcmp(file_env, name) == 0) {
                *is_file = true;
                return &schema[i];
            }
        }
    }
    return NULL;
}

/* SURGE_<SECTION>_ for a known section: a typo there is an error. */
static const char *env_section(const char *name)
{
    size_t best = 0;
    const char *found = NULL;

    for (size_t i = 0; i < SG_ARRAY_SIZE(sections); i++) {
        char upper[48];
        size_t n =
            (size_t)snprintf(upper, sizeof(upper), "SURGE_%s_", sections[i]);
        for (size_t j = 0; j < n; j++)
            if (upper[j] >= 'a' && upper[j] <= 'z')
                upper[j] = (char)(upper[j] - 'a' + 'A');
        if (strncmp(name, upper, n) == 0 && n > best) {
            best = n;
            found = sections[i];
        }
    }
    return found;
}

static int load_env(struct load *ld)
{
    bool seen_value[SG_ARRAY_SIZE(schema)] = {false};
    bool seen_file[SG_ARRAY_SIZE(schema)] = {false};

    for (char **e = environ; e && *e; e++) {
        char name[ENV_NAME_MAX + 8], loc[ENV_NAME_MAX + 32], allowed[400];
        const char *eq = strchr(*e, '=');
        const struct sg_config_key *k;
        const char *sec;
        bool is_file = false;
        size_t n, idx;

        if (!eq || strncmp(*e, "SURGE_", 6) != 0)
            continue;
        n = (size_t)(eq - *e);
        if (n >= sizeof(name))
            continue;
        memcpy(name, *e, n);
        name[n] = '\0';
        sec = env_section(name);
        if (!sec)
            continue;
        snprintf(loc, sizeof(loc), "environment %s", name);
        k = env_key(name, &is_file);
        if (!k) {
            allowed_keys(sec, allowed, sizeof(allowed));
            return fail(ld, SG_ECONFIG,
                        "%s: unknown key in [%s]; allowed: %s (as "
                        "SURGE_<SECTION>_<KEY>)",
                        loc, sec, allowed);
        }
        idx = (size_t)(k - schema);
        if ((is_file && seen_value[idx]) || (!is_file && seen_file[idx]))
            return fail(ld, SG_ECONFIG,
                        "%s: both the value and its _FILE variant are set; "
                        "set only one",
                        loc);
        if (is_file)
            seen_file[idx] = true;
        else
            seen_value[idx] = true;
        if (apply(ld, loc, k, eq + 1, is_file, false) < 0)
            return ld->rc;
    }
    return 0;
}

/* "file:line" of the later of two rows, or the file name, for messages. */
static void cross_loc(const struct load *ld, const struct sg_config_key *a,
                      const struct sg_config_key *b, char *out, size_t n)
{
    unsigned la = ld->lines[a - schema], lb = ld->lines[b - schema];
    unsigned line = la > lb ? la : lb;

    if (line)
        snprintf(out, n, "%s:%u", ld->name, line);
    else
        snprintf(out, n, "%s", ld->name ? ld->name : "configuration");
}

/* Checks across keys, after the file and the environment. */
static int check_cross(struct load *ld)
{
    const struct sg_config *c = ld->cfg;
    const struct sg_config_key *a, *b;
    char loc[300];

    a = find_key("jobs", "backoff_base_ms");
    b = find_key("jobs", "backoff_max_ms");
    if (c->jobs.backoff_base_ms > c->jobs.backoff_max_ms) {
        cross_loc(ld, a, b, loc, sizeof(loc));
        return fail(ld, SG_ECONFIG,
                    "%s: [jobs] backoff_base_ms (%u ms) exceeds "
                    "backoff_max_ms (%u ms); the base must not be above "
                    "the maximum",
                    loc, c->jobs.backoff_base_ms, c->jobs.backoff_max_ms);
    }
    a = find_key("jobs", "lease_ms");
    b = find_key("jobs", "request_timeout_ms");
    if (c->jobs.lease_ms <= c->jobs.request_timeout_ms) {
        cross_loc(ld, a, b, loc, sizeof(loc));
        return fail(ld, SG_ECONFIG,
                    "%s: [jobs] lease_ms (%u ms) must exceed "
                    "request_timeout_ms (%u ms), or a slow call loses its "
                    "lease",
                    loc, c->jobs.lease_ms, c->jobs.request_timeout_ms);
    }
    return 0;
}

int sg_config_load(struct sg_config *cfg, const char *path, struct sg_err *err)
{
    unsigned lines[SG_ARRAY_SIZE(schema)] = {0};
    bool from_file[SG_ARRAY_SIZE(schema)] = {false};
    struct load ld = {
        .cfg = cfg,
        .err = err,
        .name = path,
        .lines = lines,
        .from_file = from_file,
    };
    int rc;

    rc = sg_config_init_defaults(cfg);
    if (rc < 0) {
        fail(&ld, rc, "out of memory");
        goto out;
    }
    if (path) {
        cfg->path = sg_strdup(path);
        if (!cfg->path) {
            fail(&ld, SG_ENOMEM, "out of memory");
            goto out;
        }
        if (load_file(&ld, path) < 0)
            goto out;
    }
    if (load_env(&ld) < 0)
        goto out;
    if (check_cross(&ld) < 0)
        goto out;
    for (size_t i = 0; i < SG_ARRAY_SIZE(schema); i++) {
        char *const *p;
        if (!schema[i].secret)
            continue;
        p = cfield(cfg, &schema[i]);
        if (*p)
            sg_log_add_secret(*p);
    }
out:
    sg_free(ld.dir);
    return ld.failed ? ld.rc : 0;
}

/* ---- sample and docs ---- */

/* Write text wrapped at width, each line starting with prefix. */
static int wrap(FILE *f, const char *prefix, const char *text, size_t width)
{
    const char *p = text;
    size_t plen = strlen(prefix);

    while (*p) {
        size_t avail = width > plen ? width - plen : 20;
        size_t n = strlen(p), cut = n;
        if (n > avail) {
            cut = avail;
            while (cut > 0 && p[cut] != ' ')
                cut--;
            if (cut == 0)
                cut = strcspn(p, " ");
        }
        if (fprintf(f, "%s%.*s\n", prefix, (int)cut, p) < 0)
            return SG_EIO;
        p += cut;
        while (*p == ' ')
            p++;
    }
    return 0;
}

int sg_config_write_sample(FILE *f)
{
    const char *section = NULL;
    char env[ENV_NAME_MAX], exp[160], line[640];

    fprintf(f, "# surge.conf - configuration of the Surge commerce engine.\n"
               "#\n"
               "# Every key is listed with its meaning and default. Lines "
               "starting with\n"
               "# # or ; are comments; a commented-out key keeps its default. "
               "Every key\n"
               "# can also be set in the environment as SURGE_<SECTION>_<KEY> "
               "(upper\n"
               "# case), which wins over this file. Secrets are best given as\n"
               "# KEY_file = PATH, a file of mode 0600 or 0400 holding the "
               "value.\n"
               "# Sizes take a suffix k, m or g; durations ms, s, m or h.\n");
    for (size_t i = 0; i < SG_ARRAY_SIZE(schema); i++) {
        const struct sg_config_key *k = &schema[i];
        if (!section || strcmp(section, k->section) != 0) {
            section = k->section;
            fprintf(f, "\n[%s]\n", section);
        }
        fprintf(f, "\n");
        if (wrap(f, "# ", k->doc, 78) < 0)
            return SG_EIO;
        sg_config_env_name(k, env, sizeof(env));
        sg_config_expected(k, exp, sizeof(exp));
        if (k->secret)
            snprintf(line, sizeof(line),
                     "Allowed: %s. Secret. Environment: %s or %s_FILE.", exp,
                     env, env);
        else
            snprintf(line, sizeof(line), "Allowed: %s. Environment: %s.", exp,
                     env);
        if (wrap(f, "# ", line, 78) < 0)
            return SG_EIO;
        if (k->secret)
            fprintf(f, "#%s =\n#%s_file = /etc/surge/%s_%s\n", k->key, k->key,
                    k->section, k->key);
        else if (k->def)
            fprintf(f, "#%s = %s\n", k->key, k->def);
        else
            fprintf(f, "#%s =\n", k->key);
    }
    if (fflush(f) != 0 || ferror(f))
        return SG_EIO;
    return 0;
}

int sg_config_write_doc(FILE *f)
{
    const char *section = NULL;
    char env[ENV_NAME_MAX], exp[160];

    fprintf(f,
            "# Configuration reference\n"
            "\n"
            "<!-- Generated by `surge config-doc` from the schema in "
            "src/core/config.c;\n"
            "     do not edit by hand. tests/unit/test_core_config.c checks "
            "that every\n"
            "     key is listed here. -->\n"
            "\n"
            "Surge reads an INI file: `--config FILE`, else `$SURGE_CONFIG`, "
            "else\n"
            "`./surge.conf` when it exists, else built-in defaults. "
            "`surge init` writes\n"
            "a fully commented one.\n"
            "\n"
            "Precedence, lowest first: defaults, the file, the environment. "
            "Every key\n"
            "can be set as `SURGE_<SECTION>_<KEY>` (upper case). A secret "
            "key `K` can\n"
            "also be read from a file: `K_file = PATH` in the INI, or\n"
            "`SURGE_<SECTION>_<K>_FILE` in the environment. The file must "
            "have mode 0600\n"
            "or 0400 (not readable by group or others); its content, "
            "without the\n"
            "trailing newline, is the value.\n"
            "\n"
            "Values: sizes are bytes with an optional suffix `k`, `m` or "
            "`g` (x1024);\n"
            "durations are a number with suffix `ms`, `s`, `m` or `h` (no "
            "suffix means\n"
            "milliseconds); booleans are `true`/`false` (also `yes`/`no`, "
            "`on`/`off`,\n"
            "`1`/`0`). Relative paths in the file are relative to the "
            "file's folder.\n"
            "An empty value unsets an optional key.\n"
            "\n"
            "Any error stops start-up with one line `file:line: what is "
            "wrong; what is\n"
            "allowed`, for example:\n"
            "\n"
            "```\n"
            "surge.conf:12: unknown key \"listn\" in [server]; allowed: "
            "listen, threads, ...\n"
            "surge.conf:3: bad value \"abc\" for [server] threads: expected "
            "an integer 1..64\n"
            "```\n"
            "\n"
            "Unknown sections and keys (also `SURGE_<SECTION>_...` variables "
            "naming a\n"
            "known section), duplicate keys, and keys outside a section are "
            "errors.\n"
            "Commands exit with status 78 (EX_CONFIG) on a configuration "
            "error.\n");
    for (size_t i = 0; i < SG_ARRAY_SIZE(schema); i++) {
        const struct sg_config_key *k = &schema[i];
        if (!section || strcmp(section, k->section) != 0) {
            section = k->section;
            fprintf(f, "\n## [%s]\n", section);
        }
        sg_config_env_name(k, env, sizeof(env));
        sg_config_expected(k, exp, sizeof(exp));
        fprintf(f, "\n### %s\n\n", k->key);
        fprintf(f, "- type: %s%s\n", sg_config_type_name(k->type),
                k->secret ? " (secret)" : "");
        fprintf(f, "- default: %s%s%s\n", k->def ? "`" : "",
                k->def ? k->def : "unset", k->def ? "`" : "");
        fprintf(f, "- allowed: %s\n", exp);
        if (k->secret)
            fprintf(f,
                    "- environment: `%s`, or `%s_FILE`; in the file "
                    "also `%s_file`\n",
                    env, env, k->key);
        else
            fprintf(f, "- environment: `%s`\n", env);
        fprintf(f, "\n");
        if (wrap(f, "", k->doc, 78) < 0)
            return SG_EIO;
    }
    if (fflush(f) != 0 || ferror(f))
        return SG_EIO;
    return 0;
}

void sg_config_format_value(const struct sg_config *cfg,
                            const struct sg_config_key *k, char *out,
                            size_t out_len)
{
    const void *p = cfield(cfg, k);

    switch (k->type) {
    case SG_CFG_INT:
        snprintf(out, out_len, "%d", *(const int *)p);
        break;
    case SG_CFG_UINT:
        snprintf(out, out_len, "%u", *(const unsigned *)p);
        break;
    case SG_CFG_SIZE:
        fmt_size(*(const size_t *)p, out, out_len);
        break;
    case SG_CFG_DURATION_MS:
        fmt_duration(*(const unsigned *)p, out, out_len);
        break;
    case SG_CFG_BOOL:
        snprintf(out, out_len, "%s", *(const bool *)p ? "true" : "false");
        break;
    case SG_CFG_LOG_LEVEL: {
        static const char *const names[] = {"error", "warn", "info", "debug"};
        int lvl = *(const int *)p;
        snprintf(out, out_len, "%s", lvl >= 0 && lvl < 4 ? names[lvl] : "?");
        break;
    }
    default: {
        const char *s = *(char *const *)p;
        snprintf(out, out_len, "%s", !s ? "" : k->secret ? "***" : s);
        break;
    }
    }
}
