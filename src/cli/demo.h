/*
 * demo.h - the parts of `surge demo` shared between its files: the run's
 * state, the simulated warehouse, HTTP and JSON helpers, and the checks
 * that end in the report. Everything here is for the demo only; the
 * demo drives the product through its processes, CLI and HTTP APIs.
 */
#ifndef SG_CLI_DEMO_H
#define SG_CLI_DEMO_H

#include "core/sg.h"
#include "cli/proc.h"
#include "core/err.h"

#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>

#define SG_DEMO_WH_QUEUE_MAX 16384

/* The simulated warehouse: a notify.http receiver that ships orders. */
struct sg_demo_wh {
    struct sg_http_server *srv;
    char secret[65];  /* [notify] secret: signs what Surge sends us */
    char engine[160]; /* surge serve's base URL, for POST /shipments */
    char key[128];    /* the demo tenant's API key */
    pthread_t worker;
    bool worker_started;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    void *queue; /* ring of orders to ship, then one seen flag per id */
    size_t q_head, q_len;
    bool stop;
    atomic_ulong notices;       /* every delivery */
    atomic_ulong bad_signatures; /* deliveries we refused */
    atomic_ulong ready;          /* order.ready_to_ship received */
    atomic_ulong shipped;        /* POST /shipments answered 2xx */
    atomic_ulong ship_failed;    /* answered otherwise */
    atomic_ulong oversold_notes; /* order.oversold received */
};

/* Scale of a run: the traffic the sandbox generates and the stock. */
struct sg_demo_scale {
    const char *name;
    unsigned stock_mult; /* imported quantities are multiplied by this */
    unsigned viral_peak, viral_s, viral_max;
    unsigned live_peak, live_rate, live_s, live_max;
    unsigned live_pinned; /* products pinned in the live stream */
    unsigned live_restock; /* units received per pinned SKU before it */
    unsigned fault_429_pct, fault_500_pct;
};

struct sg_demo {
    const char *dir;
    const struct sg_demo_scale *scale;
#define SG_DEMO_PATH_MAX (PATH_MAX + 64)
    char conf[SG_DEMO_PATH_MAX], db[SG_DEMO_PATH_MAX];
    char log[SG_DEMO_PATH_MAX], sbx_log[SG_DEMO_PATH_MAX];
    char categories[SG_DEMO_PATH_MAX], map[SG_DEMO_PATH_MAX];
    char catalog[SG_DEMO_PATH_MAX], sbx_conf[SG_DEMO_PATH_MAX];
    char key[128];
    char shop_id[64];
    unsigned port; /* surge serve's, kept across a restart */
    long restarts, behind_before_restart;
    struct sg_proc sbx, serve;
    struct sg_demo_wh wh;
    bool tty;
    int64_t t0_ms;
    /* what the steps learnt */
    unsigned long placed, rejected, cancels_requested, returns_requested;
    bool fulfilment_available, returns_available;
    unsigned long returns_approved, returns_failed;
    unsigned long skus_published;
    /* figures */
    long orders, cancelled, units, gmv_minor, oversold_units;
    long oversold_orders;
    char currency[8];
    json_t *api_calls; /* {"METHOD template": calls} */
    long api_calls_total, rate_limited, server_errors, retries;
    long jobs_retried, fetch_errors;
    int64_t lat_p50_ms, lat_p99_ms, lat_max_ms;
    long lat_n;
    /* invariants */
    bool inv_check_ok, oversold_ok, orders_match_ok, drift_ok, negative_ok;
    bool fulfilment_ok;
    long orders_missing, orders_status_diff, drift_skus, negative_skus;
    json_t *behind; /* last look: {"<channel order id>": "<sandbox status>"} */
    char mismatch_example[160];
    bool ok;
    double seconds;
};

/* ---- demo_util.c ---- */

void sg_demo__say(const char *fmt, ...) SG_PRINTF(1, 2);

/*
 * One blocking request to base + path with an optional JSON body and
 * Bearer key. Returns the HTTP status (0 on a transport failure); the
 * parsed JSON answer goes to *out (caller's; NULL when not JSON) when out
 * is not NULL.
 */
long sg_demo__http(json_t **out, const char *method, const char *base,
                   const char *path, const char *body, const char *key);

/* Run `surge ARGS... --config CONF` (NULL-ended words, at most 8) with
 * stderr to the demo log; stdout to *out when out is not NULL. Returns
 * the exit status or -1. */
int sg_demo__surge(struct sg_demo *d, char **out, const char *const *words);

/* Percentile q (0..100) of n sorted values. */
int64_t sg_demo__pct(const int64_t *v, size_t n, unsigned q);

/* "1,234.56" style text of minor units in a 2-decimal currency. */
void sg_demo__money(char *out, size_t n, long minor);

/* ---- demo_wh.c ---- */

/* Start the warehouse on 127.0.0.1:0 (routes /hook and /ready). */
int sg_demo__wh_start(struct sg_demo_wh *w, struct sg_err *err);
/* Stop its worker and server; safe on a warehouse never started. */
void sg_demo__wh_stop(struct sg_demo_wh *w);

/* ---- demo_check.c ---- */

/* Orders in Surge's store so far (-1 when it cannot be read). */
long sg_demo__surge_orders(struct sg_demo *d);

/* Does Surge hold every sandbox order with the same status? */
bool sg_demo__orders_converged(struct sg_demo *d);

/* Add the engine's retry counters (/metrics) to d; called before a
 * restart too, since a new process starts them at 0. */
void sg_demo__retries(struct sg_demo *d);

/* Gather every figure and check every invariant; sets d->ok. */
void sg_demo__check(struct sg_demo *d);
/* Print the report; write it as JSON to path when path is not NULL.
 * Returns 0, or -1 when the file could not be written. */
int sg_demo__report(struct sg_demo *d, const char *path);

#endif
