/*
 * config.h - Surge's configuration: an INI file, environment overrides and
 * defaults, all driven by one schema table (one row per key). The same
 * table produces the commented sample file and docs/config.md, so the
 * parser, the sample and the docs cannot disagree.
 *
 * Precedence, lowest first: built-in defaults, the INI file, then the
 * environment (SURGE_<SECTION>_<KEY>). Any error stops start-up with one
 * line "file:line: what is wrong and what is allowed".
 */
#ifndef SG_CONFIG_H
#define SG_CONFIG_H

#include "err.h"
#include "sg.h"

struct sg_config {
    char *path; /* the file loaded (a copy), NULL when none */
    struct {
        char *listen;                /* "127.0.0.1:8700" */
        unsigned threads;            /* 2 */
        size_t body_max;             /* 1 MiB */
        unsigned headers_max;        /* 64 */
        size_t header_bytes_max;     /* 8192 */
        unsigned request_timeout_ms; /* 10000 */
        unsigned json_depth_max;     /* 32 */
    } server;
    struct {
        char *backend;      /* "sqlite" or "postgres" */
        char *path;         /* "surge.db" */
        unsigned batch_max; /* 256 */
        unsigned queue_max; /* 65536 */
        unsigned readers;   /* 4 */
        size_t cache;       /* 64 MiB: the writer's page cache */
        char *dsn;          /* postgres connection string; NULL */
    } store;
    struct {
        int level; /* SG_LOG_INFO */
    } log;
    struct {
        char *secret; /* NULL = generic webhooks disabled */
        char *tenant; /* "default" */
    } webhook_generic;
    struct {
        char *url;    /* NULL = no notifications */
        char *secret; /* NULL = unsigned notifications */
    } notify;
    struct {
        unsigned concurrency;         /* 32 */
        unsigned attempts_max;        /* 8 */
        unsigned backoff_base_ms;     /* 500 */
        unsigned backoff_max_ms;      /* 300000 */
        unsigned retry_after_max_ms;  /* 600000 */
        unsigned lease_ms;            /* 60000 */
        unsigned request_timeout_ms;  /* 10000 */
        unsigned rate_per_sec;        /* 50 */
        unsigned burst;               /* 50 */
        unsigned breaker_min_calls;   /* 10 */
        unsigned breaker_failure_pct; /* 50 */
        unsigned breaker_open_ms;     /* 30000 */
        unsigned breaker_probes;      /* 3 */
    } jobs;
    struct {
        bool allow_private_urls; /* false */
    } security;
    struct {
        char *api_base_url;         /* "https://business-api.tiktok.com" */
        char *access_token;         /* secret; NULL = events not sent */
        char *web_pixel_code;       /* event_source_id per source */
        char *app_event_set_id;
        char *offline_event_set_id;
        char *crm_event_set_id;
        unsigned batch_max;         /* 1000 */
        unsigned flush_ms;          /* 1000 */
        unsigned dedup_window_s;    /* 172800 */
        unsigned max_event_age_s;   /* 604800 */
        char *custom_events;        /* NULL = standard names only */
        char *test_event_code;      /* NULL = live events */
    } tiktok_events;
    struct {
        char *currency;          /* "USD": the shop's currency */
        char *location;          /* "default": where imported stock is */
        char *category_rules;    /* JSON file; NULL = no category checks */
        char *category_map;      /* text file; NULL = nothing mapped */
        char *prohibited_terms;  /* comma-separated; NULL = none */
        unsigned title_max;      /* 255 characters */
        unsigned description_max; /* 10000 characters */
        unsigned images_max;     /* 9 */
        size_t import_max;       /* 64 MiB */
    } catalog;
    struct {
        char *app_key;          /* NULL = TikTok Shop not configured */
        char *app_secret;       /* secret */
        char *service_id;
        char *api_base_url;     /* "https://open-api.tiktokglobalshop.com" */
        char *auth_base_url;    /* "https://auth.tiktok-shops.com" */
        char *authorize_url;    /* consent page */
        char *webhook_url;      /* public URL of /webhooks/tiktok-shop */
        unsigned refresh_ahead_ms; /* 24 h */
        unsigned drift_check_interval_ms; /* 1 h; 0 = off */
        unsigned audit_poll_after_ms;     /* 10 min; 0 = off */
        unsigned sync_window_ms;          /* 1 s; 0 = push at once */
        unsigned storm_hold_ms;           /* 30 s; 0 = off */
        unsigned stock_buffer;            /* units held back; 0 */
    } tiktok_shop;
    struct {
        unsigned poll_interval_ms; /* 5 min: reconciliation poll */
        unsigned fetch_depth;      /* 8: detail batches committing at once */
        char *oversold_policy;     /* "notify" | "backorder" | "cancel" */
        unsigned oversold_grace_ms; /* 30 s: before cancel acts */
        char *cancel_reason;       /* reason sent with a cancellation */
    } orders;
    struct {
        char *warehouse_url; /* notify target of exports; NULL = [notify] */
        char *csv_dir;       /* CSV drop; NULL = none */
    } fulfilment;
    struct {
        bool restock_received;           /* true */
        bool auto_approve_cancellations; /* true */
    } returns;
    struct {
        unsigned sell_through_per_min; /* 0 = viral mode off */
        unsigned buffer_units;         /* 5 */
        unsigned window_ms;            /* 1 min */
        unsigned check_interval_ms;    /* 10 s */
    } viral;
    struct {
        char *key_file; /* "surge.key": seals channel tokens */
    } secrets;
};

/* The value types a key may have; each row's C field matches its type. */
enum sg_config_type {
    SG_CFG_STRING,      /* char *; optional choices list */
    SG_CFG_INT,         /* int, decimal, may be negative */
    SG_CFG_UINT,        /* unsigned, decimal */
    SG_CFG_BOOL,        /* bool: true/false, yes/no, on/off, 1/0 */
    SG_CFG_SIZE,        /* size_t bytes; suffix k, m or g (x1024) */
    SG_CFG_DURATION_MS, /* unsigned ms; suffix ms, s, m or h */
    SG_CFG_LOG_LEVEL,   /* int: error, warn, info, debug */
    SG_CFG_LISTEN,      /* char *: HOST:PORT or [IPv6]:PORT */
    SG_CFG_PATH,        /* char *: a file path */
    SG_CFG_URL,         /* char *: http:// or https:// URL */
};

/* One schema row. The table is static and lives for the whole process. */
struct sg_config_key {
    const char *section;
    const char *key;
    int type;            /* enum sg_config_type */
    const char *def;     /* default as written in the file; NULL = unset */
    bool secret;         /* never printed; may come from KEY_file */
    uint64_t min, max;   /* inclusive range for numeric types */
    const char *choices; /* STRING only: "a|b|c", or NULL for any */
    size_t offset;       /* of the field inside struct sg_config */
    const char *doc;     /* one paragraph, plain text */
};

/* The schema rows in file order; *n_out receives the count. */
const struct sg_config_key *sg_config_schema(size_t *n_out);
/* "string", "uint", "size", ...: the type's name in docs. */
const char *sg_config_type_name(int type);
/* What a value of this row must look like, e.g. "an integer 1..64". */
void sg_config_expected(const struct sg_config_key *k, char *out,
                        size_t out_len);
/* The environment variable for a row, e.g. "SURGE_SERVER_LISTEN". */
void sg_config_env_name(const struct sg_config_key *k, char *out,
                        size_t out_len);

/*
 * Fill cfg with the defaults (no file, no environment). Returns 0 or
 * SG_ENOMEM; on failure cfg is still safe to release.
 */
int sg_config_init_defaults(struct sg_config *cfg);

/*
 * Load: defaults, then the INI file at path (NULL = none; a given path
 * that does not exist is an error), then SURGE_* environment overrides,
 * then cross-key checks. Relative paths written in the file (and path
 * defaults, when a file is loaded) are taken relative to the file's
 * folder. Secret values are registered with the logger for masking.
 *
 * cfg must not hold a loaded configuration (it is overwritten); release it
 * with sg_config_release() whatever the result. Returns 0, SG_ECONFIG with
 * err->msg "file:line: ...", or SG_ENOMEM.
 */
int sg_config_load(struct sg_config *cfg, const char *path, struct sg_err *err);

/* Free what cfg owns and zero it; NULL-safe. */
void sg_config_release(struct sg_config *cfg);

/*
 * Write the fully commented sample file: every key with its doc, type,
 * default and environment name, defaults commented out. It parses back to
 * the defaults. Returns 0 or SG_EIO.
 */
int sg_config_write_sample(FILE *f);

/* Write the Markdown reference (docs/config.md). Returns 0 or SG_EIO. */
int sg_config_write_doc(FILE *f);

/* The value of row k in cfg as text ("***" for a set secret, "" unset);
 * used by "surge config check". */
void sg_config_format_value(const struct sg_config *cfg,
                            const struct sg_config_key *k, char *out,
                            size_t out_len);

#endif
