/*
 * internal.h - what the sandbox framework files (sandbox.c, dispatch.c,
 * control.c, faults.c, webhooks.c, categories.c) share; endpoint modules
 * use sandbox.h only. The state lock guards everything in struct sg_sbx
 * but the webhook queue, which has its own lock (taken after the state
 * lock, never before).
 */
#ifndef SG_SANDBOX_INTERNAL_H
#define SG_SANDBOX_INTERNAL_H

#include "core/sg.h"
#include "sandbox/sandbox.h"

#include <pthread.h>
#include <stdatomic.h>

#define SG_SBX_SHOPS_MAX   8
#define SG_SBX_FAULTS_MAX  64
#define SG_SBX_BUCKETS_MAX 1024
#define SG_SBX_TASKS_MAX   100000
#define SG_SBX_CALLS_MAX   2000
#define SG_SBX_WH_QUEUE_MAX 10000
#define SG_SBX_WH_RETRIES_MAX 16
#define SG_SBX_WH_CONCURRENCY_MAX 256

enum sg_sbx_fault_kind {
    SG_SBX_FAULT_429 = 1,
    SG_SBX_FAULT_429_RETRY_AFTER,
    SG_SBX_FAULT_500,
    SG_SBX_FAULT_RESET,
    SG_SBX_FAULT_STALL,
    SG_SBX_FAULT_DROP_AFTER_COMMIT,
};

struct sg_sbx_fault {
    char path[256];          /* endpoint template, request path or "*" */
    int kind;                /* enum sg_sbx_fault_kind */
    double rate;             /* < 0: use count */
    long count;              /* remaining; < 0: use rate */
    unsigned retry_after_s;
    unsigned stall_ms;
    long hits;
};

/* One entry of the call log (a ring; JSON only when asked for). */
struct sg_sbx_call_rec {
    int64_t time_ms;
    long code;
    int http;
    char method[8];
    char fault[24];
    char path[256];
    char endpoint[256];
};

struct sg_sbx_bucket {
    char key[256];
    double tokens;
    int64_t last_us;
};

struct sg_sbx_task {
    int64_t at_ms;
    uint64_t seq;
    sg_sbx_task_fn fn;
    json_t *arg;
};

struct sg_sbx_wh_item {
    int64_t at_ms;           /* sandbox clock */
    char *url;
    char *body;
    size_t body_len;
    char notification_id[24];
    int type;
    unsigned attempt;
    uint64_t serial;         /* unique per item, matches a transfer */
    bool inflight;           /* a transfer is running (still saved) */
};

/* One line of the delivery log (GET /sandbox/v1/webhooks). */
struct sg_sbx_wh_log {
    char notification_id[24];
    int type;
    char *url;
    unsigned attempt;
    const char *result;      /* static: queued, delivered, failed, dropped */
    long status;
    int64_t time_ms;
};

struct sg_sbx {
    struct sg_sbx_cfg cfg;
    json_t *cfg_doc;          /* --config file, owns string settings */
    char *strs[16];           /* owned copies of cfg strings */
    pthread_mutex_t lock;
    struct sg_http_server *http;
    char url[128];

    char app_key[64];
    char app_secret[96];
    json_t *state;            /* the persisted world, see sandbox.c */
    uint64_t id_last;         /* the id counter's last value (next_counter) */
    uint64_t rng_last;        /* draws made (sg_sbx_rand); both saved */
    json_t *cats;             /* category tree {"categories":[...]} */
    struct sg_sbx_shop shops[SG_SBX_SHOPS_MAX];
    size_t n_shops;
    _Atomic int64_t clock_offset_ms;

    struct sg_sbx_task *tasks;
    size_t n_tasks, cap_tasks;
    uint64_t task_seq;

    struct sg_sbx_fault faults[SG_SBX_FAULTS_MAX];
    size_t n_faults;
    json_t *rate_limits;      /* {"<endpoint template>": qps} */
    unsigned rate_qps;
    struct sg_sbx_bucket *buckets;
    size_t n_buckets;

    struct sg_sbx_call_rec *calls; /* ring of SG_SBX_CALLS_MAX */
    size_t calls_head;        /* next slot to write */
    size_t calls_n;
    json_t *call_counts;      /* {"METHOD template": {"code": n}} */
    uint64_t calls_total;
    _Atomic uint64_t req_seq;

    bool dirty;
    int64_t dirty_mono_ms;
    atomic_bool wh_dirty;     /* delivery queue changed (no state lock) */
    pthread_mutex_t save_mu;  /* orders state file writes */
    uint64_t save_gen;        /* dumps taken (state lock) */
    uint64_t saved_gen;       /* newest dump written (save_mu) */
    bool started;
    atomic_bool stopping;
    pthread_t ticker;

    pthread_mutex_t wh_lock;
    pthread_cond_t wh_cond;
    struct sg_sbx_wh_item *whq; /* by serial; url NULL = delivered */
    size_t n_whq;             /* entries used, delivered ones included */
    size_t cap_whq;
    size_t n_whq_live;        /* entries still queued or in flight */
    /* The delivery log: a ring of the last entries, rendered as JSON
     * only when asked for (two entries per delivery at thousands a
     * second: building each as a JSON object was a few % of the CPU). */
    struct sg_sbx_wh_log *wh_log;
    size_t wh_log_head;       /* index of the oldest entry */
    size_t wh_log_n;
    int64_t wh_retry_ms[SG_SBX_WH_RETRIES_MAX];
    size_t n_wh_retry;
    pthread_t wh_thread;
    bool wh_started;
    void *wh_multi;           /* CURLM *, set while the thread runs */
    /* Free delivery slots the thread left at its last fill (wh_lock):
     * with none free, a new item needs no wake-up, as the thread fills
     * again whenever a transfer ends. */
    size_t wh_slots_free;
    uint64_t wh_serial;
};

/* sandbox.c */
int sg_sbx__world_init(struct sg_sbx *s, struct sg_err *err);
void sg_sbx__run_due(struct sg_sbx *s);
int sg_sbx__save(struct sg_sbx *s, struct sg_err *err);
/*
 * With state_save_ms 0, write the state file now if anything changed
 * (lock NOT held); a no-op otherwise. Called before answering a call.
 */
void sg_sbx__save_sync(struct sg_sbx *s);
void sg_sbx__random_token(struct sg_sbx *s, const char *prefix, char *out,
                          size_t len);
json_t *sg_sbx__issue_tokens(struct sg_sbx *s, const char *open_id,
                             const json_t *shops, const json_t *scopes);
int sg_sbx__reset(struct sg_sbx *s, struct sg_err *err);

/* misc.c: a buyer's message arrives (control plane); lock held. */
int sg_sbx__cs_buyer_message(struct sg_sbx *s, const char *conv_id,
                             const char *buyer_user_id, const char *content,
                             json_t **msg_out, struct sg_err *err);

/* products.c: re-schedule audits of PENDING products after a load. */
void sg_sbx__products_resume(struct sg_sbx *s);

/* dispatch.c */
void sg_sbx__dispatch(struct sg_http_req *req, void *ctx);
void sg_sbx__reply(struct sg_http_req *req, int status, json_t *envelope,
                   const struct sg_http_header *h, size_t nh);
json_t *sg_sbx__envelope(long code, const char *message, json_t *data);
/* Every scope an endpoint requires, once each; a new array. */
json_t *sg_sbx__all_scopes(void);
void sg_sbx__log_call(struct sg_sbx *s, const char *method,
                      const char *path, const char *endpoint, long code,
                      int http, const char *fault);
/* The call log, oldest first, as a JSON array; lock held. */
json_t *sg_sbx__calls_json(struct sg_sbx *s);
void sg_sbx__calls_clear(struct sg_sbx *s);

/* control.c */
int sg_sbx__control_routes(struct sg_sbx *s, struct sg_err *err);

/* faults.c */
int sg_sbx__faults_set(struct sg_sbx *s, const json_t *spec, bool append,
                       struct sg_err *err);
void sg_sbx__faults_clear(struct sg_sbx *s);
json_t *sg_sbx__faults_json(struct sg_sbx *s);
/* The fault to apply to this call or NULL; counts it. */
const struct sg_sbx_fault *sg_sbx__fault_pick(struct sg_sbx *s,
                                              const char *tmpl,
                                              const char *path);
/* true when allowed, false when over the limit. */
bool sg_sbx__rate_take(struct sg_sbx *s, const char *shop_id,
                       const char *tmpl);
int sg_sbx__rate_set(struct sg_sbx *s, json_t *spec,
                     struct sg_err *err);

/* webhooks.c */
int sg_sbx__wh_start(struct sg_sbx *s, struct sg_err *err);
void sg_sbx__wh_stop(struct sg_sbx *s);
/* Empty the queue (takes wh_lock; reset and free). */
void sg_sbx__wh_clear(struct sg_sbx *s);
json_t *sg_sbx__wh_queue_json(struct sg_sbx *s);
void sg_sbx__wh_queue_load(struct sg_sbx *s, const json_t *q);
json_t *sg_sbx__wh_log(struct sg_sbx *s);
void sg_sbx__wh_log_free(struct sg_sbx *s);
const char *sg_sbx__event_name(int type);
int sg_sbx__event_type(const char *name);

/* categories.c */
int sg_sbx__cats_load(struct sg_sbx *s, struct sg_err *err);
const json_t *sg_sbx__cat_find(struct sg_sbx *s, const char *id);

/* multipart.c */
/* Find form field name in a multipart body; borrowed pointers. */
bool sg_sbx__multipart_field(const char *body, size_t len, const char *ctype,
                             const char *name, const char **val,
                             size_t *val_len);

#endif
