/*
 * catalog_sync.c - the "catalog.sync" environment (catalog_sync.h). A job
 * names one product; plan() compares what the catalog says (validated,
 * mapped to TikTok's wire) with what the channel last acknowledged
 * (listing_sync.state) and sends the first difference: create, then
 * partial_edit, price, inventory, activate/deactivate, or delete. result()
 * records the acknowledged state in one store write and, when more
 * differences were left, enqueues the next step under the same coalesce
 * key. An uncertain outcome (the request may have been applied but the
 * answer was lost) marks the listing "uncertain": the next plan reads the
 * product back before sending anything again. Creates carry an
 * idempotency_key that stays the same until the channel's copy is
 * deleted, so no retry can duplicate a listing.
 */
#include "engine/internal.h"
#include "engine/catalog_sync.h"
#include "connectors/tiktok_shop/products.h"
#include "connectors/tiktok_shop/tiktok_shop.h"
#include "core/alloc.h"
#include "core/json.h"
#include "core/log.h"
#include "engine/tiktok_shop.h"
#include "features/catalog/catalog.h"
#include "features/catalog/validate.h"
#include "features/orders/fulfil.h"
#include "jobs/breaker.h"
#include "jobs/catalog_sync.h"
#include "jobs/dispatcher.h"
#include "store/channels.h"
#include "store/listings.h"

#define TENANTS_MAX   64
#define INFLIGHT_MAX  8192
#define TOKEN_TTL_MS  (60 * 1000)
#define REASON_MAX    1024
#define TICK_MS       1000
#define STORM_TICK_MS 250   /* how often a storm is looked for */
#define STORM_SPAN_MS 1000  /* changes counted over the last second */
#define MARK_PAGE     SG_LISTINGS_LIST_MAX
#define MARK_PAGES    1000  /* x MARK_PAGE listings per sweep */

struct tenant_ctx {
    int64_t tenant_id;
    int64_t conn_id;
    char shop_id[32];
    char cipher[128];
    char warehouse[32];
    char *token;
    int64_t token_at_ms;
};

/* What a call in flight is meant to achieve, for result(). */
struct inflight {
    int64_t job_id, lease;
    int64_t tenant_id, product_id;
    char step[20];
    char shop_id[32];
    json_t *desired;
    bool more;
    int64_t at_ms;  /* sg_mono_ms() when planned */
    struct inflight *next;
};

/*
 * One product with a step under way: planned, sent, or its result not yet
 * written. Another job for the same product that plans meanwhile would
 * read a state that is about to change and send the same step again (or
 * overtake the call on the wire), so it folds into this one instead:
 * "dirty" asks for one more plan after the result is recorded.
 */
struct busy {
    int64_t tenant_id, product_id, job_id;
    int64_t until_ms;  /* the job's lease; after it the entry is stale */
    bool dirty;
    int prio;          /* highest priority of the jobs folded in */
    struct busy *next;
};

/*
 * A tenant in a storm (see storm_check): its products keep changing faster
 * than one endpoint can push, so pushes that are not urgent are held.
 */
struct storm {
    int64_t tenant_id;
    int64_t since_ms;  /* sg_mono_ms() when it began */
    int64_t peak;      /* most products changed again within one span */
    size_t held;       /* jobs moved by the holds */
};

static struct {
    struct sg_engine *e;
    struct sg_connector *conn;
    struct sg_catalog_rules rules;
    bool rules_ok;
    pthread_mutex_t lock;
    struct tenant_ctx t[TENANTS_MAX];
    size_t nt;
    struct inflight *fl;
    size_t nfl;
    struct busy *busy;
    size_t nbusy;
    struct storm storm[TENANTS_MAX];
    size_t nstorm;
    /* The periodic thread: stale busy entries, drift job, audit poll. */
    pthread_t tid;
    pthread_cond_t cond;
    bool started, stop;
} CS;
static pthread_once_t cs_once = PTHREAD_ONCE_INIT;

static bool busy_release(int64_t tenant_id, int64_t product_id,
                         int64_t job_id);
static bool busy_release_prio(int64_t tenant_id, int64_t product_id,
                              int64_t job_id, int *prio_out);
static int busy_take_dirty(int64_t tenant_id, int64_t product_id,
                           int64_t job_id);
static void requeue_submit(int64_t tenant_id, int64_t product_id, int prio);
static void busy_release_requeue(int64_t tenant_id, int64_t product_id,
                                 int64_t job_id);

static void cs_lock_init(void)
{
    pthread_mutex_init(&CS.lock, NULL);
    pthread_cond_init(&CS.cond, NULL);
}

/* ---- tenant context: connection, shop, warehouse, access token ---- */

static void token_wipe(struct tenant_ctx *t)
{
    if (t->token) {
        memset(t->token, 0, strlen(t->token));
        sg_free(t->token);
        t->token = NULL;
    }
}

static void tenant_forget(int64_t tenant_id);

static int fetch_warehouse(const char *token, const char *cipher,
                           char out[32], struct sg_err *err)
{
    struct sg_tts_param p[1] = {{"shop_cipher", cipher}};
    json_t *data = NULL, *w, *first = NULL;
    size_t i;
    int rc;

    rc = sg_tts_call(CS.conn, "GET", "/logistics/202309/warehouses", p, 1,
                     token, NULL, 0, &data, err);
    if (rc)
        return rc;
    json_array_foreach(json_object_get(data, "warehouses"), i, w) {
        const char *type = sg_json_str(w, "type");

        if (!type || strcmp(type, "SALES_WAREHOUSE") != 0)
            continue;
        if (!first || json_is_true(json_object_get(w, "is_default")))
            first = w;
    }
    if (first && sg_json_str(first, "id"))
        snprintf(out, 32, "%s", sg_json_str(first, "id"));
    else
        rc = sg_err_set(err, SG_ENOTFOUND, "the shop has no sales warehouse");
    json_decref(data);
    return rc;
}

/*
 * The tenant's shop, warehouse and a copy of its access token (*token_out,
 * sg_alloc'd; wipe and free). SG_EDECLINED when the tenant has no active
 * connection: nothing is pushed for it.
 */
static int tenant_get(int64_t tenant_id, int64_t now_ms, struct tenant_ctx *out,
                      char **token_out, struct sg_err *err)
{
    struct tenant_ctx *t = NULL;
    struct sg_channel_shop shop;
    char *tok = NULL;
    int64_t conn_id = 0;
    int rc = 0;

    *token_out = NULL;
    pthread_mutex_lock(&CS.lock);
    for (size_t i = 0; i < CS.nt; i++)
        if (CS.t[i].tenant_id == tenant_id)
            t = &CS.t[i];
    if (t && t->token && now_ms - t->token_at_ms < TOKEN_TTL_MS) {
        struct sg_channel_conn c;
        bool active;

        *out = *t;
        out->token = NULL;
        *token_out = sg_strdup(t->token);
        conn_id = t->conn_id;
        pthread_mutex_unlock(&CS.lock);
        if (!*token_out)
            return sg_err_set(err, SG_ENOMEM, "out of memory");
        /*
         * A deauthorization (webhook 6) or an expiry since the token was
         * cached: push nothing more with it. One point read per call.
         */
        rc = sg_channels_conn_get(CS.e->store, tenant_id, conn_id, &c, err);
        active = rc == 0 && strcmp(c.status, "active") == 0;
        if (rc == 0)
            sg_channel_conn_release(&c);
        if (active)
            return 0;
        memset(*token_out, 0, strlen(*token_out));
        sg_free(*token_out);
        *token_out = NULL;
        if (rc && rc != SG_ENOTFOUND)
            return rc;
        tenant_forget(tenant_id);
        return SG_EDECLINED;
    }
    pthread_mutex_unlock(&CS.lock);

    rc = sg_engine__tiktok_access(CS.e, tenant_id, &tok, &conn_id, &shop,
                                  err);
    if (rc)
        return rc;
    memset(out, 0, sizeof(*out));
    out->tenant_id = tenant_id;
    out->conn_id = conn_id;
    snprintf(out->shop_id, sizeof(out->shop_id), "%s", shop.shop_id);
    snprintf(out->cipher, sizeof(out->cipher), "%s", shop.cipher);
    if (t && t->warehouse[0] && strcmp(t->shop_id, out->shop_id) == 0)
        snprintf(out->warehouse, sizeof(out->warehouse), "%s",
                 t->warehouse);
    else
        rc = fetch_warehouse(tok, out->cipher, out->warehouse, err);
    if (rc) {
        memset(tok, 0, strlen(tok));
        sg_free(tok);
        return rc;
    }
    pthread_mutex_lock(&CS.lock);
    t = NULL;
    for (size_t i = 0; i < CS.nt; i++)
        if (CS.t[i].tenant_id == tenant_id)
            t = &CS.t[i];
    if (!t && CS.nt < TENANTS_MAX)
        t = &CS.t[CS.nt++];
    if (t) {
        token_wipe(t);
        *t = *out;
        t->token = sg_strdup(tok);
        t->token_at_ms = now_ms;
    }
    pthread_mutex_unlock(&CS.lock);
    *token_out = tok;
    return 0;
}

static void tenant_forget(int64_t tenant_id)
{
    pthread_mutex_lock(&CS.lock);
    for (size_t i = 0; i < CS.nt; i++)
        if (CS.t[i].tenant_id == tenant_id)
            token_wipe(&CS.t[i]);
    pthread_mutex_unlock(&CS.lock);
}

/* ---- the desired state of a product ---- */

struct want {
    struct sg_product p;
    struct sg_tts_sku_in skus[SG_TTS_SKUS_MAX];
    char price[SG_TTS_SKUS_MAX][32];
    char list[SG_TTS_SKUS_MAX][32];
    const char *images[SG_CAT_IMAGES_MAX];
    char ext[24];
    struct sg_tts_product_in in;
    json_t *desired; /* {"content","price":{},"qty":{},"active"} */
};

static void want_release(struct want *w)
{
    sg_product_release(&w->p);
    json_decref(w->desired);
    w->desired = NULL;
}

static const json_t *category_obj(const char *id)
{
    size_t i;
    json_t *c;

    if (!id)
        return NULL;
    json_array_foreach(json_object_get(CS.rules.categories, "categories"), i,
                       c) {
        const char *cid = sg_json_str(c, "id");

        if (cid && strcmp(cid, id) == 0)
            return c;
    }
    return NULL;
}

static int64_t available(int64_t tenant_id, const char *sku)
{
    struct sg_inv_level *lv = NULL;
    struct sg_err err;
    size_t n = 0;
    int64_t sum = 0;

    sg_err_init(&err);
    if (sg_inventory_levels(CS.e->store, tenant_id, sku, &lv, &n, &err))
        return 0;
    for (size_t i = 0; i < n; i++)
        sum += lv[i].on_hand - lv[i].reserved - lv[i].committed;
    sg_free(lv);
    /* Viral mode holds a buffer back from every channel (fulfil.h), and
     * the channel's own buffer is never offered. */
    sum -= sg_viral_buffer(CS.e->store, tenant_id, sku);
    sum -= (int64_t)CS.e->cfg->tiktok_shop.stock_buffer;
    return sum < 0 ? 0 : sum;
}

/* ---- sales the channel made that Surge has not ingested yet ---- */

/*
 * TikTok's inventory update sets an absolute quantity, computed from the
 * orders Surge has ingested. While buyers keep ordering on TikTok some of
 * their orders are still on their way to Surge, and a push would list
 * their units again. So for each SKU Surge keeps, in the listing state:
 *
 *   led[sku]     the SKU's last ledger row when the channel's quantity was
 *                last set or read (qty[sku]);
 *   unseen[sku]  {"u": units, "led": row, "at": ms}: units the channel
 *                had sold beyond what Surge had ingested when it last read
 *                the channel, counted down as TikTok orders arrive after
 *                ledger row "led", forgotten after the poll interval plus
 *                a minute (the reconciliation poll would have brought any
 *                order in by then; what is left is not a sale).
 *
 * A push of a SKU for which TikTok orders were ingested since led (the
 * channel is selling it) reads the product back first ("fresh" marks a
 * read since the last push): the channel then holds
 *   v = qty - (orders ingested since led) - (orders not yet ingested),
 * which gives the unseen units, and every push subtracts what is left of
 * them. See docs/orders.md, "Stock increases and the channel's lag".
 */
#define UNSEEN_PREFIX "order:" SG_CATALOG_SYNC_CHANNEL ":"

static int64_t wall_ms(void)
{
    return sg_clock_now_ms(sg_store_clock(CS.e->store));
}

/*
 * Into d: "led" (each SKU's last ledger row now) and "net" (TikTok's units
 * ingested since st's led, for SKUs that have one). *active: some SKU has
 * TikTok orders ingested since the channel's quantity was last known.
 */
static int ledger_marks(const struct want *w, const json_t *st, json_t *d,
                        bool *active, struct sg_err *err)
{
    const json_t *since = json_object_get(st, "led");
    json_t *led = json_object(), *net = json_object();
    int rc = 0;

    *active = false;
    if (!led || !net) {
        json_decref(led);
        json_decref(net);
        return sg_err_set(err, SG_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < w->in.n_skus && !rc; i++) {
        const char *sku = w->skus[i].seller_sku;
        const json_t *s = json_object_get(since, sku);
        int64_t after = json_is_integer(s) ? json_integer_value(s) : -1;
        int64_t n = 0, last = 0;

        rc = sg_inventory_ledger_net(CS.e->store, w->p.tenant_id, sku, after,
                                     UNSEEN_PREFIX, &n, &last, err);
        if (rc)
            break;
        if (json_object_set_new(led, sku, json_integer(last)) ||
            (after >= 0 && json_object_set_new(net, sku, json_integer(n))))
            rc = sg_err_set(err, SG_ENOMEM, "out of memory");
        *active = *active || (after >= 0 && n > 0);
    }
    if (rc) {
        json_decref(led);
        json_decref(net);
        return rc;
    }
    /* set_new takes each reference, also when it fails. */
    rc = json_object_set_new(d, "led", led);
    if (json_object_set_new(d, "net", net) || rc)
        return sg_err_set(err, SG_ENOMEM, "out of memory");
    return 0;
}

/* Hold back from each SKU's push what is left of its unseen units. */
static int unseen_apply(struct want *w, const json_t *st, struct sg_err *err)
{
    const json_t *unseen = json_object_get(st, "unseen");
    json_t *qty = json_object_get(w->desired, "qty");
    int64_t ttl = (int64_t)CS.e->cfg->orders.poll_interval_ms + 60000;
    int64_t now = wall_ms();

    for (size_t i = 0; i < w->in.n_skus; i++) {
        const char *sku = w->skus[i].seller_sku;
        const json_t *u = json_object_get(unseen, sku);
        int64_t left = sg_json_int(u, "u", 0), n = 0, last = 0;
        int rc;

        if (left <= 0 || now - sg_json_int(u, "at", 0) > ttl)
            continue;
        rc = sg_inventory_ledger_net(CS.e->store, w->p.tenant_id, sku,
                                     sg_json_int(u, "led", 0), UNSEEN_PREFIX,
                                     &n, &last, err);
        if (rc)
            return rc;
        left -= n;
        if (left <= 0)
            continue;
        w->skus[i].quantity = w->skus[i].quantity > left
                                  ? w->skus[i].quantity - left : 0;
        if (json_object_set_new(qty, sku, json_integer(w->skus[i].quantity)))
            return sg_err_set(err, SG_ENOMEM, "out of memory");
    }
    return 0;
}

/*
 * A read-back (step "get") answered qty_read: record, per SKU, the units
 * the channel sold that Surge had not ingested when the read was planned.
 */
static void unseen_record(json_t *st, const json_t *d, const json_t *qty_read,
                          int64_t now_ms)
{
    const json_t *acked = json_object_get(st, "qty");
    const json_t *net = json_object_get(d, "net");
    const json_t *led = json_object_get(d, "led");
    json_t *unseen = json_object_get(st, "unseen"), *v;
    const char *sku;

    if (!json_is_object(unseen)) {
        unseen = json_object();
        if (!unseen || json_object_set_new(st, "unseen", unseen))
            return;
    }
    json_object_foreach((json_t *)(uintptr_t)qty_read, sku, v) {
        const json_t *a = json_object_get(acked, sku);
        const json_t *n = json_object_get(net, sku);
        json_int_t u;

        if (!json_is_integer(a) || !json_is_integer(n) ||
            !json_is_integer(v) || !json_is_integer(json_object_get(led, sku)))
            continue;
        u = json_integer_value(a) - json_integer_value(n) -
            json_integer_value(v);
        if (u > 0)
            json_object_set_new(
                unseen, sku,
                json_pack("{s:I,s:O,s:I}", "u", u, "led",
                          json_object_get(led, sku), "at",
                          (json_int_t)now_ms));
        else
            json_object_del(unseen, sku);
    }
    if (json_object_size(unseen) == 0)
        json_object_del(st, "unseen");
}

/* The channel's quantities are known as of d's ledger rows. */
static void led_record(json_t *st, const json_t *d)
{
    const json_t *led = json_object_get(d, "led");

    if (json_is_object(led))
        json_object_set(st, "led", (json_t *)(uintptr_t)led);
}

/* Map p (already loaded into w->p) to the wire input and the desired JSON. */
static int want_build(struct want *w, const struct tenant_ctx *t)
{
    struct sg_product *p = &w->p;
    json_t *price = json_object(), *qty = json_object();
    char hash[17];

    if (p->n_variants > SG_TTS_SKUS_MAX)
        return SG_ELIMIT;
    memset(&w->in, 0, sizeof(w->in));
    for (size_t i = 0; i < p->n_images && i < SG_CAT_IMAGES_MAX; i++)
        w->images[i] = p->images[i].src;
    for (size_t i = 0; i < p->n_variants; i++) {
        struct sg_variant *v = &p->variants[i];
        struct sg_tts_sku_in *s = &w->skus[i];

        memset(s, 0, sizeof(*s));
        s->seller_sku = v->sku;
        sg_money_format(v->price, p->currency, w->price[i],
                        sizeof(w->price[i]));
        s->price = w->price[i];
        if (v->compare_at > 0) {
            sg_money_format(v->compare_at, p->currency, w->list[i],
                            sizeof(w->list[i]));
            s->list_price = w->list[i];
        }
        s->quantity = available(p->tenant_id, v->sku);
        for (int k = 0; k < SG_CAT_OPTIONS; k++) {
            s->option_name[k] = p->option_name[k];
            s->option_value[k] = v->option[k];
        }
        json_object_set_new(price, v->sku, json_string(s->price));
        json_object_set_new(qty, v->sku, json_integer(s->quantity));
    }
    snprintf(w->ext, sizeof(w->ext), "%" PRId64, p->id);
    w->in.title = p->title;
    w->in.description = p->body_html ? p->body_html : p->title;
    w->in.category_id = sg_catalog_map_lookup(&CS.rules, p);
    w->in.category = category_obj(w->in.category_id);
    w->in.currency = p->currency;
    w->in.external_id = w->ext;
    w->in.warehouse_id = t->warehouse;
    w->in.images = w->images;
    w->in.n_images = p->n_images < SG_CAT_IMAGES_MAX ? p->n_images
                                                     : SG_CAT_IMAGES_MAX;
    w->in.attributes = p->attributes;
    w->in.certifications = p->certifications;
    w->in.length_mm = p->length_mm;
    w->in.width_mm = p->width_mm;
    w->in.height_mm = p->height_mm;
    w->in.grams = p->n_variants ? p->variants[0].grams : -1;
    w->in.skus = w->skus;
    w->in.n_skus = p->n_variants;
    if (sg_tts_product_hash(&w->in, hash) != 0) {
        json_decref(price);
        json_decref(qty);
        return SG_ENOMEM;
    }
    w->desired = json_pack("{s:s,s:o,s:o,s:b}", "content", hash, "price",
                           price, "qty", qty, "active",
                           strcmp(p->status, "active") == 0);
    return w->desired ? 0 : SG_ENOMEM;
}

/* Attach the channel's SKU ids (state.skus) to the wire input. */
static void want_ids(struct want *w, const json_t *ids)
{
    for (size_t i = 0; i < w->in.n_skus; i++)
        w->skus[i].sku_id = sg_json_str(ids, w->skus[i].seller_sku);
}

static bool same_keys(const json_t *a, const json_t *b)
{
    const char *k;
    json_t *v;

    if (json_object_size(a) != json_object_size(b))
        return false;
    json_object_foreach((json_t *)(uintptr_t)a, k, v) {
        if (!json_object_get(b, k))
            return false;
    }
    return true;
}

/* ---- store writes from plan/result ---- */

struct rec_op {
    int64_t tenant_id, product_id;
    char step[20];
    char shop_id[32];
    json_t *desired;  /* borrowed from the in-flight entry (owned by op) */
    json_t *data;     /* the answer's data, may be NULL */
    char status[24];  /* set status (visible); "" = keep */
    char reason[REASON_MAX];
    bool set_reason;
    bool uncertain;   /* mark the listing uncertain */
    bool more;        /* enqueue the next step */
    bool failed;      /* the call failed for good */
    int64_t busy_job; /* release this job's busy entry once written */
    int prio;         /* priority of the next step's job */
    int64_t now_ms;   /* store clock, set by rec_write */
};

static void rec_free(struct rec_op *op)
{
    if (!op)
        return;
    json_decref(op->desired);
    json_decref(op->data);
    sg_free(op);
}

static bool storm_on(int64_t tenant_id);

/*
 * Queue the product's next plan, due now; during the tenant's storm a job
 * that is not urgent is held like the others (storm_check), so a step
 * that follows another does not slip out ahead of the products waiting.
 */
static int enqueue_next(struct sg_store_tx *tx, int64_t tenant_id,
                        int64_t product_id, int priority, struct sg_err *err)
{
    char key[96], payload[64];
    struct sg_job job;
    int64_t id = 0;
    bool coalesced = false;

    snprintf(key, sizeof(key), "cat:%s:%" PRId64 ":%" PRId64,
             SG_CATALOG_SYNC_CHANNEL, tenant_id, product_id);
    snprintf(payload, sizeof(payload), "{\"product_id\":%" PRId64 "}",
             product_id);
    memset(&job, 0, sizeof(job));
    job.tenant_id = tenant_id;
    snprintf(job.kind, sizeof(job.kind), "%s", SG_CATALOG_SYNC_KIND);
    job.coalesce_key = key;
    job.payload = payload;
    job.priority = priority;
    if (priority < SG_CATALOG_SYNC_PRIO_ZERO && storm_on(tenant_id))
        job.next_run_at = sg_store_tx_now(tx) +
                          (int64_t)CS.e->cfg->tiktok_shop.storm_hold_ms;
    snprintf(job.platform, sizeof(job.platform), "%s",
             SG_CATALOG_SYNC_CHANNEL);
    snprintf(job.endpoint_class, sizeof(job.endpoint_class), "product");
    return sg_store_tx_job_enqueue(tx, &job, &id, &coalesced, err);
}

static const char *status_of(const char *tts_status)
{
    if (!tts_status)
        return "pending";
    if (strcmp(tts_status, "ACTIVATE") == 0)
        return "live";
    if (strcmp(tts_status, "FAILED") == 0)
        return "failed";
    if (strcmp(tts_status, "SELLER_DEACTIVATED") == 0)
        return "inactive";
    if (strcmp(tts_status, "PLATFORM_DEACTIVATED") == 0 ||
        strcmp(tts_status, "FREEZE") == 0)
        return "suspended";
    if (strcmp(tts_status, "DELETED") == 0)
        return "deleted";
    if (strcmp(tts_status, "DRAFT") == 0)
        return "draft";
    return "pending";
}

/* One difference found by a read-back, appended to drift. */
static void drift_add(json_t *drift, const char *field, const char *sku,
                      json_t *surge, json_t *tiktok)
{
    char name[96];

    snprintf(name, sizeof(name), "%s%s%s", field, sku ? " " : "",
             sku ? sku : "");
    json_array_append_new(drift, json_pack("{s:s,s:O?,s:O?}", "field", name,
                                           "surge", surge, "tiktok",
                                           tiktok));
}

/*
 * What a read-back found different from the catalog (d, as of the plan):
 * per SKU price and quantity, SKUs missing on either side, and whether
 * the product is active. A new reference.
 */
static json_t *drift_of(const json_t *d, const json_t *price,
                        const json_t *qty, const char *tstat)
{
    json_t *drift = json_array(), *v;
    const char *k;
    bool want_active = json_is_true(json_object_get(d, "active"));
    bool is_active = tstat && strcmp(tstat, "SELLER_DEACTIVATED") != 0 &&
                     strcmp(tstat, "DELETED") != 0 &&
                     strcmp(tstat, "DRAFT") != 0;

    json_object_foreach((json_t *)(uintptr_t)json_object_get(d, "price"), k,
                        v) {
        json_t *t = json_object_get(price, k);

        if (!t)
            drift_add(drift, "sku", k, v, NULL);
        else if (!json_equal(v, t))
            drift_add(drift, "price", k, v, t);
    }
    json_object_foreach((json_t *)(uintptr_t)json_object_get(d, "qty"), k,
                        v) {
        json_t *t = json_object_get(qty, k);

        if (t && !json_equal(v, t))
            drift_add(drift, "quantity", k, v, t);
    }
    json_object_foreach((json_t *)(uintptr_t)price, k, v) {
        if (!json_object_get(json_object_get(d, "price"), k))
            drift_add(drift, "sku", k, NULL, v);
    }
    if (tstat && want_active != is_active) {
        json_t *sv = json_string(want_active ? "active" : "inactive");
        json_t *tv = json_string(tstat);

        drift_add(drift, "status", NULL, sv, tv);
        json_decref(sv);
        json_decref(tv);
    }
    return drift;
}

/*
 * A read-back that finds the channel holding fewer units than Surge wants
 * to show is usually the channel counting sales whose webhooks are still
 * on their way: raising it back to Surge's (older) figure would re-sell
 * those units (an oversell, seen in surge demo under faults). So for such
 * a SKU the recorded channel quantity becomes the smaller of Surge's
 * figure and what Surge last had acknowledged: a sale in flight then
 * causes no push, while a genuine increase that was not yet pushed (the
 * wanted figure is above the last acknowledged one) still goes out. A SKU
 * where the channel holds more is kept as read, and the next step lowers
 * it. A SKU whose ledger mark is known (net: the channel's sales ingested
 * since its quantity was last known) is kept as read too: unseen_record
 * has counted the sales in flight exactly and they are held back from
 * every push; the acknowledged figure may be far behind (Surge pushes
 * nothing for the channel's own sales), so taking it would record units
 * the channel does not list, and a restock after a sell-out would never
 * be pushed (seen in surge demo).
 */
static void keep_channel_lower(json_t *read_qty, const json_t *want_qty,
                               const json_t *acked_qty, const json_t *net)
{
    const char *sku;
    json_t *v;

    json_object_foreach(read_qty, sku, v) {
        json_t *w = json_object_get(want_qty, sku);
        json_t *a = json_object_get(acked_qty, sku);
        json_int_t keep;

        if (!json_is_integer(w) || !json_is_integer(v) ||
            json_integer_value(v) >= json_integer_value(w) ||
            json_is_integer(json_object_get(net, sku)))
            continue;
        keep = json_integer_value(w);
        if (json_is_integer(a) && json_integer_value(a) < keep)
            keep = json_integer_value(a);
        if (keep > json_integer_value(v))
            json_object_set_new(read_qty, sku, json_integer(keep));
    }
}

/* Apply the acknowledged step to state (a JSON object, modified). */
static void apply_step(struct rec_op *op, struct sg_listing_sync *l,
                       json_t *st)
{
    const json_t *d = op->desired;
    char pid[32], msg[256];
    json_t *ids = NULL, *qty = NULL, *price = NULL;
    const char *tstat = NULL;

    if (strcmp(op->step, "create") == 0 ||
        strcmp(op->step, "partial_edit") == 0) {
        /*
         * A create made again after an uncertain outcome: TikTok answers
         * a known idempotency key with the first create's result and
         * ignores this body, which may carry newer values. Read it back.
         */
        bool repeat = strcmp(op->step, "create") == 0 &&
                      json_object_get(st, "uncertain");

        if (repeat) {
            json_object_set_new(st, "read", json_true());
            op->more = true;
        }
        if (sg_tts_parse_write(op->data, pid, &ids, NULL) == 0) {
            snprintf(l->channel_product_id, sizeof(l->channel_product_id),
                     "%s", pid);
            if (json_object_size(ids))
                json_object_set(st, "skus", ids);
        }
        json_decref(ids);
        json_object_set(st, "content", json_object_get(d, "content"));
        if (strcmp(op->step, "create") == 0 ||
            json_object_get(d, "with_skus")) {
            json_object_set(st, "price", json_object_get(d, "price"));
            json_object_set(st, "qty", json_object_get(d, "qty"));
            led_record(st, d);
            json_object_del(st, "fresh");
        }
        if (strcmp(op->step, "create") == 0)
            json_object_set_new(st, "active", json_true());
        json_object_del(st, "uncertain");
        snprintf(op->status, sizeof(op->status), "pending");
        op->set_reason = true;
        op->reason[0] = '\0';
    } else if (strcmp(op->step, "price") == 0 ||
               strcmp(op->step, "inventory") == 0) {
        if (sg_tts_item_errors(op->data, msg, sizeof(msg)) > 0) {
            snprintf(op->reason, sizeof(op->reason), "%s update: %s",
                     op->step, msg);
            op->set_reason = true;
            op->more = false;
            return;
        }
        json_object_set(st, strcmp(op->step, "price") == 0 ? "price" : "qty",
                        json_object_get(d, strcmp(op->step, "price") == 0
                                               ? "price" : "qty"));
        if (strcmp(op->step, "inventory") == 0) {
            led_record(st, d);
            json_object_del(st, "fresh");
        }
        json_object_del(st, "uncertain");
    } else if (strcmp(op->step, "activate") == 0 ||
               strcmp(op->step, "deactivate") == 0) {
        json_object_set(st, "active", json_object_get(d, "active"));
        snprintf(op->status, sizeof(op->status), "%s",
                 strcmp(op->step, "activate") == 0 ? "pending" : "inactive");
        json_object_del(st, "uncertain");
    } else if (strcmp(op->step, "delete") == 0) {
        json_int_t gen = json_integer_value(json_object_get(st, "gen"));

        json_object_clear(st);
        json_object_set_new(st, "gen", json_integer(gen + 1));
        l->channel_product_id[0] = '\0';
        snprintf(op->status, sizeof(op->status), "deleted");
    } else if (strcmp(op->step, "get") == 0) {
        if (sg_tts_parse_product(op->data, &qty, &price, &ids, &tstat) == 0) {
            json_t *drift = drift_of(d, price, qty, tstat);

            /* surge sync --check and the drift job report this. */
            if (json_array_size(drift))
                sg_log(SG_LOG_INFO, "catalog_sync", "msg=\"drift\" "
                       "product=%" PRId64 " differences=%zu",
                       op->product_id, json_array_size(drift));
            json_object_set_new(st, "drift", drift);
            json_object_set_new(st, "drift_at",
                                json_integer(op->now_ms));
            unseen_record(st, d, qty, op->now_ms);
            keep_channel_lower(qty, json_object_get(d, "qty"),
                               json_object_get(st, "qty"),
                               json_object_get(d, "net"));
            json_object_set(st, "qty", qty);
            led_record(st, d);
            json_object_set_new(st, "fresh", json_true());
            json_object_set(st, "price", price);
            if (json_object_size(ids))
                json_object_set(st, "skus", ids);
        }
        json_decref(qty);
        json_decref(price);
        json_decref(ids);
        json_object_del(st, "uncertain");
        json_object_del(st, "read");
        if (tstat) {
            json_object_set_new(st, "channel_status", json_string(tstat));
            snprintf(op->status, sizeof(op->status), "%s", status_of(tstat));
            op->set_reason = true;
            op->reason[0] = '\0';
            if (strcmp(tstat, "FAILED") == 0)
                sg_tts_audit_reasons(op->data, op->reason,
                                     sizeof(op->reason));
        }
        /* What the channel holds may differ from the catalog: go on. */
        op->more = true;
    }
}

static int rec_write(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    struct rec_op *op = arg;
    struct sg_listing_sync l;
    json_t *st = NULL;
    int rc;

    rc = sg_listings_tx_get(tx, op->tenant_id, op->product_id,
                            SG_CATALOG_SYNC_CHANNEL, &l, err);
    if (rc == SG_ENOTFOUND) {
        memset(&l, 0, sizeof(l));
        l.tenant_id = op->tenant_id;
        l.product_id = op->product_id;
        snprintf(l.channel, sizeof(l.channel), "%s", SG_CATALOG_SYNC_CHANNEL);
        snprintf(l.status, sizeof(l.status), "pending");
        rc = 0;
    }
    if (rc)
        return rc;
    st = sg_json_loads(l.state ? l.state : "{}", 0, NULL);
    if (!json_is_object(st)) {
        json_decref(st);
        st = json_object();
    }
    if (op->shop_id[0])
        snprintf(l.shop_id, sizeof(l.shop_id), "%s", op->shop_id);
    op->now_ms = sg_store_tx_now(tx);
    if (op->uncertain)
        json_object_set_new(st, "uncertain", json_string(op->step));
    else if (!op->failed && op->desired)
        apply_step(op, &l, st);
    if (op->status[0])
        snprintf(l.status, sizeof(l.status), "%s", op->status);
    if (op->set_reason) {
        sg_free(l.reason);
        l.reason = op->reason[0] ? sg_strdup(op->reason) : NULL;
    }
    sg_free(l.state);
    l.state = sg_json_dump(st, NULL);
    json_decref(st);
    rc = l.state ? sg_listings_tx_put(tx, &l, err)
                 : sg_err_set(err, SG_ENOMEM, "out of memory");
    /* The visible status (API, surge validate); a deleted product has none. */
    if (!rc && (op->status[0] || op->set_reason) &&
        strcmp(l.status, "deleted") != 0) {
        rc = sg_catalog_listing_set(tx, op->tenant_id, op->product_id,
                                    SG_CATALOG_SYNC_CHANNEL, l.status,
                                    l.reason, err);
        if (rc == SG_ENOTFOUND || rc == SG_EINVAL)
            rc = 0;
    }
    /* A job folded into this one while its call was out: plan again. */
    if (!rc && op->busy_job) {
        int prio = busy_take_dirty(op->tenant_id, op->product_id,
                                   op->busy_job);

        if (prio >= 0) {
            op->more = true;
            op->prio = SG_MAX(op->prio, prio);
        }
    }
    if (!rc && op->more)
        rc = enqueue_next(tx, op->tenant_id, op->product_id, op->prio, err);
    sg_listing_sync_release(&l);
    return rc;
}

static void rec_done(void *arg, int rc, const struct sg_err *err)
{
    struct rec_op *op = arg;
    bool again = false;
    int prio = 0;

    /* A fold after the write's own check: its priority goes with it. */
    if (op->busy_job) {
        again = busy_release_prio(op->tenant_id, op->product_id,
                                  op->busy_job, &prio);
        op->prio = SG_MAX(op->prio, prio);
    }
    if (rc)
        sg_log(SG_LOG_WARN, "catalog_sync", "msg=\"listing write failed\" "
               "product=%" PRId64 " err=\"%s\"", op->product_id,
               err ? err->msg : "");
    else if (op->more && CS.e && CS.e->dispatcher)
        sg_dispatcher_kick(CS.e->dispatcher);
    if (again || (rc && op->busy_job))
        requeue_submit(op->tenant_id, op->product_id, op->prio);
    rec_free(op);
}

static void rec_submit(struct rec_op *op)
{
    if (sg_store_submit(CS.e->store, rec_write, rec_done, op) != 0) {
        sg_log(SG_LOG_WARN, "catalog_sync", "msg=\"store busy; listing "
               "state not recorded\" product=%" PRId64, op->product_id);
        if (op->busy_job)
            busy_release_requeue(op->tenant_id, op->product_id,
                                 op->busy_job);
        rec_free(op);
    }
}

static struct rec_op *rec_new(int64_t tenant_id, int64_t product_id,
                              const char *step)
{
    struct rec_op *op = sg_calloc(1, sizeof(*op));

    if (!op)
        return NULL;
    op->tenant_id = tenant_id;
    op->product_id = product_id;
    snprintf(op->step, sizeof(op->step), "%s", step);
    return op;
}

/* ---- busy products (struct busy) ---- */

static int64_t busy_ttl_ms(void)
{
    /* Planned, held for a token (2 s at most), sent, answered, written. */
    return (int64_t)CS.e->cfg->jobs.request_timeout_ms + 15000;
}

static struct busy **busy_slot(int64_t tenant_id, int64_t product_id)
{
    struct busy **pp;

    for (pp = &CS.busy; *pp; pp = &(*pp)->next)
        if ((*pp)->tenant_id == tenant_id && (*pp)->product_id == product_id)
            return pp;
    return NULL;
}

/*
 * Claim product_id for job: true when it is free, already this job's (a
 * replan after a release) or held by a stale entry. Otherwise the holder
 * is marked dirty and false is returned: this job has nothing to do.
 */
static bool busy_claim(const struct sg_job *job, int64_t product_id)
{
    struct busy **pp, *b = NULL;
    int64_t now = sg_mono_ms();
    bool ok = true;

    pthread_mutex_lock(&CS.lock);
    pp = busy_slot(job->tenant_id, product_id);
    if (pp)
        b = *pp;
    if (b && b->job_id != job->id && b->until_ms > now) {
        b->dirty = true;
        b->prio = SG_MAX(b->prio, job->priority);
        ok = false;
    } else if (b) {
        b->job_id = job->id;
        b->until_ms = now + busy_ttl_ms();
        b->dirty = false;
        b->prio = 0;
    } else if (CS.nbusy < INFLIGHT_MAX) {
        b = sg_calloc(1, sizeof(*b));
        if (b) {
            b->tenant_id = job->tenant_id;
            b->product_id = product_id;
            b->job_id = job->id;
            b->until_ms = now + busy_ttl_ms();
            b->next = CS.busy;
            CS.busy = b;
            CS.nbusy++;
        }
    }
    pthread_mutex_unlock(&CS.lock);
    return ok;
}

/*
 * Drop job's entry for product_id. When a fold asked for more: true, and
 * *prio_out (may be NULL) is the highest priority folded in.
 */
static bool busy_release_prio(int64_t tenant_id, int64_t product_id,
                              int64_t job_id, int *prio_out)
{
    struct busy **pp, *b = NULL;
    bool dirty = false;

    pthread_mutex_lock(&CS.lock);
    pp = busy_slot(tenant_id, product_id);
    if (pp && (*pp)->job_id == job_id) {
        b = *pp;
        *pp = b->next;
        CS.nbusy--;
        dirty = b->dirty;
        if (prio_out)
            *prio_out = b->prio;
    }
    pthread_mutex_unlock(&CS.lock);
    sg_free(b);
    return dirty;
}

static bool busy_release(int64_t tenant_id, int64_t product_id,
                         int64_t job_id)
{
    return busy_release_prio(tenant_id, product_id, job_id, NULL);
}

/*
 * Inside the result's write: consume a fold so the write enqueues it.
 * The highest priority folded in, or -1 when nothing was.
 */
static int busy_take_dirty(int64_t tenant_id, int64_t product_id,
                           int64_t job_id)
{
    struct busy **pp;
    int prio = -1;

    pthread_mutex_lock(&CS.lock);
    pp = busy_slot(tenant_id, product_id);
    if (pp && (*pp)->job_id == job_id && (*pp)->dirty) {
        prio = (*pp)->prio;
        (*pp)->dirty = false;
        (*pp)->prio = 0;
    }
    pthread_mutex_unlock(&CS.lock);
    return prio;
}

struct requeue_op {
    int64_t tenant_id, product_id;
    int prio;
};

static int requeue_write(struct sg_store_tx *tx, void *arg,
                         struct sg_err *err)
{
    struct requeue_op *op = arg;

    return enqueue_next(tx, op->tenant_id, op->product_id, op->prio, err);
}

static void requeue_done(void *arg, int rc, const struct sg_err *err)
{
    struct requeue_op *op = arg;

    if (rc)
        sg_log(SG_LOG_WARN, "catalog_sync", "msg=\"cannot queue the next "
               "sync\" product=%" PRId64 " err=\"%s\"", op->product_id,
               err ? err->msg : "");
    else if (CS.e && CS.e->dispatcher)
        sg_dispatcher_kick(CS.e->dispatcher);
    sg_free(op);
}

/* Queue one more catalog.sync job for the product (after a fold). */
static void requeue_submit(int64_t tenant_id, int64_t product_id, int prio)
{
    struct requeue_op *op = sg_calloc(1, sizeof(*op));

    if (!op)
        return;
    op->tenant_id = tenant_id;
    op->product_id = product_id;
    op->prio = prio;
    if (sg_store_submit(CS.e->store, requeue_write, requeue_done, op) != 0) {
        sg_log(SG_LOG_WARN, "catalog_sync", "msg=\"store busy; next sync "
               "not queued\" product=%" PRId64, product_id);
        sg_free(op);
    }
}

static void busy_release_requeue(int64_t tenant_id, int64_t product_id,
                                 int64_t job_id)
{
    int prio = 0;

    if (busy_release_prio(tenant_id, product_id, job_id, &prio))
        requeue_submit(tenant_id, product_id, prio);
}

/* Forget stale entries (a job released before its call); requeue folds. */
static void busy_sweep(void)
{
    struct busy **pp, *b, *stale = NULL;
    int64_t now = sg_mono_ms();

    pthread_mutex_lock(&CS.lock);
    for (pp = &CS.busy; *pp;) {
        b = *pp;
        if (b->until_ms > now) {
            pp = &b->next;
            continue;
        }
        *pp = b->next;
        CS.nbusy--;
        b->next = stale;
        stale = b;
    }
    pthread_mutex_unlock(&CS.lock);
    while ((b = stale) != NULL) {
        stale = b->next;
        if (b->dirty)
            requeue_submit(b->tenant_id, b->product_id, b->prio);
        sg_free(b);
    }
}

/* ---- in-flight table ---- */

static void inflight_free(struct inflight *f);

/* Calls of step planned and not answered yet (all shops). */
static size_t inflight_count(const char *step)
{
    size_t n = 0;

    pthread_mutex_lock(&CS.lock);
    for (struct inflight *f = CS.fl; f; f = f->next)
        n += strcmp(f->step, step) == 0;
    pthread_mutex_unlock(&CS.lock);
    return n;
}

/* Entries of jobs released before their call and never planned again. */
static void inflight_sweep(void)
{
    struct inflight **pp, *f, *stale = NULL;
    int64_t now = sg_mono_ms();

    pthread_mutex_lock(&CS.lock);
    for (pp = &CS.fl; *pp;) {
        f = *pp;
        if (now - f->at_ms < busy_ttl_ms()) {
            pp = &f->next;
            continue;
        }
        *pp = f->next;
        CS.nfl--;
        f->next = stale;
        stale = f;
    }
    pthread_mutex_unlock(&CS.lock);
    while ((f = stale) != NULL) {
        stale = f->next;
        inflight_free(f);
    }
}

static void inflight_put(struct inflight *f)
{
    struct inflight **pp, *old = NULL;

    pthread_mutex_lock(&CS.lock);
    /* A job released before its call and planned again: drop the old. */
    for (pp = &CS.fl; *pp; pp = &(*pp)->next) {
        if ((*pp)->job_id == f->job_id) {
            old = *pp;
            *pp = old->next;
            CS.nfl--;
            break;
        }
    }
    f->next = CS.fl;
    CS.fl = f;
    CS.nfl++;
    pthread_mutex_unlock(&CS.lock);
    inflight_free(old);
}

static struct inflight *inflight_take(int64_t job_id, int64_t lease)
{
    struct inflight **pp, *f = NULL;

    pthread_mutex_lock(&CS.lock);
    for (pp = &CS.fl; *pp; pp = &(*pp)->next) {
        if ((*pp)->job_id == job_id && (*pp)->lease == lease) {
            f = *pp;
            *pp = f->next;
            CS.nfl--;
            break;
        }
    }
    pthread_mutex_unlock(&CS.lock);
    return f;
}

static void inflight_free(struct inflight *f)
{
    if (!f)
        return;
    json_decref(f->desired);
    sg_free(f);
}

/* ---- plan ---- */

static int invalid_write(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    return rec_write(tx, arg, err);
}

/* Record "invalid" with the validation issues, once. */
static void record_invalid(const struct sg_job *job, int64_t pid,
                           const json_t *report,
                           const struct sg_listing_sync *l)
{
    struct rec_op *op = rec_new(job->tenant_id, pid, "invalid");
    json_t *is;
    size_t i, used = 0;
    struct sg_err err;

    if (!op)
        return;
    json_array_foreach(json_object_get(report, "issues"), i, is) {
        int k = snprintf(op->reason + used, sizeof(op->reason) - used,
                         "%s%s: %s", used ? "; " : "",
                         sg_json_str(is, "field") ? sg_json_str(is, "field")
                                                  : "product",
                         sg_json_str(is, "message") ? sg_json_str(is,
                                                                  "message")
                                                    : "invalid");
        if (k < 0 || (size_t)k >= sizeof(op->reason) - used)
            break;
        used += (size_t)k;
    }
    if (l && strcmp(l->status, "invalid") == 0 && l->reason &&
        strcmp(l->reason, op->reason) == 0) {
        rec_free(op);
        return;
    }
    snprintf(op->status, sizeof(op->status), "invalid");
    op->set_reason = true;
    op->failed = true;
    sg_log(SG_LOG_INFO, "catalog_sync", "msg=\"not published: invalid\" "
           "job_id=%" PRId64 " product=%" PRId64 " reasons=\"%s\"", job->id,
           pid, op->reason);
    sg_err_init(&err);
    if (sg_store_write(CS.e->store, invalid_write, op, &err))
        sg_log(SG_LOG_WARN, "catalog_sync", "msg=\"cannot record invalid\" "
               "err=\"%s\"", err.msg);
    rec_free(op);
}

static bool json_same(const json_t *a, const json_t *b)
{
    return a && b && json_equal((json_t *)(uintptr_t)a,
                                (json_t *)(uintptr_t)b);
}

/*
 * A SKU with nothing left to sell that the channel was last told has some
 * (or was never told about): the oversell risk the zero-stock priority is
 * for, so its inventory step goes before any other.
 */
static bool zero_pending(const json_t *st, const json_t *d)
{
    const json_t *acked = json_object_get(st, "qty");
    const char *sku;
    json_t *v;

    json_object_foreach((json_t *)(uintptr_t)json_object_get(d, "qty"), sku,
                        v) {
        json_t *a = json_object_get(acked, sku);

        if (json_integer_value(v) <= 0 &&
            (!json_is_integer(a) || json_integer_value(a) > 0))
            return true;
    }
    return false;
}

/* Choose the step; *more when further differences remain after it. */
static const char *choose(const struct sg_product *p, bool deleted,
                          const struct sg_listing_sync *l, const json_t *st,
                          const json_t *d, bool *more)
{
    bool has_id = l && l->channel_product_id[0];
    const char *steps[5];
    size_t n = 0;

    *more = false;
    if (deleted)
        return has_id ? "delete" : NULL;
    if (json_object_get(st, "uncertain") || json_object_get(st, "read"))
        return has_id ? "get" : "create";
    if (!has_id)
        return strcmp(p->status, "active") == 0 ? "create" : NULL;
    if (!json_same(json_object_get(st, "content"),
                   json_object_get(d, "content")))
        steps[n++] = "partial_edit";
    if (!json_same(json_object_get(st, "price"), json_object_get(d, "price")))
        steps[n++] = "price";
    if (!json_same(json_object_get(st, "qty"), json_object_get(d, "qty")))
        steps[n++] = "inventory";
    if (json_is_true(json_object_get(st, "active")) !=
        json_is_true(json_object_get(d, "active")))
        steps[n++] = json_is_true(json_object_get(d, "active"))
                         ? "activate" : "deactivate";
    *more = n > 1;
    if (zero_pending(st, d)) {
        for (size_t i = 0; i < n; i++)
            if (strcmp(steps[i], "inventory") == 0)
                return steps[i];
    }
    /*
     * Price and inventory go to different endpoints, each with its own
     * rate limit: when both are due, take the one with fewer calls
     * waiting, so both buckets drain in parallel under a storm.
     */
    if (n > 1 && strcmp(steps[0], "price") == 0 &&
        strcmp(steps[1], "inventory") == 0 &&
        inflight_count("inventory") < inflight_count("price"))
        return steps[1];
    return n ? steps[0] : NULL;
}

static int plan(void *ctx, const struct sg_job *job, int64_t now_ms,
                struct sg_job_call *call, struct sg_err *err)
{
    struct tenant_ctx t;
    struct want w;
    struct sg_listing_sync l;
    struct sg_conn_catalog_op op;
    struct inflight *f = NULL;
    json_t *payload = NULL, *st = NULL, *body = NULL, *report = NULL;
    char *token = NULL, *text = NULL, idem[96], hdr[64];
    const char *step;
    bool have_l = false, deleted = false, more = false, selling = false;
    int64_t pid;
    int rc;

    SG_UNUSED(ctx);
    memset(&w, 0, sizeof(w));
    memset(&l, 0, sizeof(l));
    payload = sg_json_loads(job->payload ? job->payload : "", 0, NULL);
    pid = sg_json_int(payload, "product_id", 0);
    json_decref(payload);
    if (pid <= 0)
        return sg_err_set(err, SG_EINVAL, "payload names no product_id");
    rc = tenant_get(job->tenant_id, now_ms, &t, &token, err);
    if (rc == SG_ENOTFOUND || rc == SG_ESTATE || rc == SG_EDECLINED)
        return SG_EDECLINED; /* no active connection: nothing to push */
    if (rc) {
        if (err)
            err->retryable = true;
        return rc;
    }
    if (!busy_claim(job, pid)) {
        /* A step of this product is under way: it plans again after. */
        sg_log(SG_LOG_DEBUG, "catalog_sync", "msg=\"folded into the step "
               "under way\" job_id=%" PRId64 " product=%" PRId64, job->id,
               pid);
        memset(token, 0, strlen(token));
        sg_free(token);
        return SG_EDECLINED;
    }
    rc = sg_catalog_get(CS.e->store, job->tenant_id, pid, &w.p, err);
    if (rc == SG_ENOTFOUND) {
        deleted = true;
        rc = 0;
    }
    if (rc)
        goto out_retry;
    rc = sg_listings_get(CS.e->store, job->tenant_id, pid,
                         SG_CATALOG_SYNC_CHANNEL, &l, err);
    have_l = rc == 0;
    if (rc == SG_ENOTFOUND)
        rc = 0;
    if (rc)
        goto out_retry;
    st = sg_json_loads(have_l && l.state ? l.state : "{}", 0, NULL);
    if (!json_is_object(st)) {
        json_decref(st);
        st = json_object();
    }
    if (!deleted) {
        report = sg_catalog_validate(&CS.rules, &w.p, SG_CATALOG_SYNC_CHANNEL);
        if (report && !json_is_true(json_object_get(report, "valid"))) {
            record_invalid(job, pid, report, have_l ? &l : NULL);
            rc = SG_EDECLINED;
            goto out;
        }
        rc = want_build(&w, &t);
        if (rc) {
            rc = sg_err_set(err, rc, "cannot map product %" PRId64, pid);
            goto out;
        }
        want_ids(&w, json_object_get(st, "skus"));
        rc = ledger_marks(&w, st, w.desired, &selling, err);
        if (!rc)
            rc = unseen_apply(&w, st, err);
        if (rc)
            goto out_retry;
        /*
         * The channel is selling this product and its quantity is about to
         * be set: read it first, so what buyers bought and Surge has not
         * seen yet is held back (unseen_record).
         */
        if (selling && have_l && l.channel_product_id[0] &&
            !json_is_true(json_object_get(st, "fresh")) &&
            !json_same(json_object_get(st, "qty"),
                       json_object_get(w.desired, "qty")))
            json_object_set_new(st, "read", json_true());
    }
    step = choose(&w.p, deleted, have_l ? &l : NULL, st, w.desired, &more);
    if (!step) {
        rc = SG_EDECLINED;
        goto out;
    }
    if (strcmp(step, "create") == 0) {
        snprintf(idem, sizeof(idem), "surge-%" PRId64 "-%" PRId64 "-%"
                 JSON_INTEGER_FORMAT, job->tenant_id, pid,
                 json_integer_value(json_object_get(st, "gen")));
        body = sg_tts_product_body(&w.in, idem, true);
    } else if (strcmp(step, "partial_edit") == 0) {
        bool with_skus = !same_keys(json_object_get(st, "skus"),
                                    json_object_get(w.desired, "price"));

        body = sg_tts_product_body(&w.in, NULL, with_skus);
        if (with_skus)
            json_object_set_new(w.desired, "with_skus", json_true());
    } else if (strcmp(step, "price") == 0) {
        body = sg_tts_prices_body(&w.in);
    } else if (strcmp(step, "inventory") == 0) {
        body = sg_tts_inventory_body(&w.in);
    } else if (strcmp(step, "get") == 0) {
        body = NULL;
    } else {
        body = sg_tts_ids_body(l.channel_product_id);
    }
    if (body) {
        text = sg_json_dump(body, NULL);
        if (!text) {
            rc = sg_err_set(err, SG_ENOMEM, "out of memory");
            goto out_retry;
        }
    }
    memset(&op, 0, sizeof(op));
    op.verb = step;
    op.shop_cipher = t.cipher;
    op.product_id = l.channel_product_id[0] ? l.channel_product_id : NULL;
    op.body = text;
    op.body_len = text ? strlen(text) : 0;
    rc = CS.conn->ops->catalog_request(CS.conn, &op, call->method,
                                       &call->url, err);
    if (rc)
        goto out;
    call->body = text;
    call->body_len = op.body_len;
    text = NULL;
    snprintf(hdr, sizeof(hdr), "x-tts-access-token");
    rc = sg_job_call_header(call, "Content-Type", "application/json");
    if (!rc)
        rc = sg_job_call_header(call, hdr, token);
    if (rc) {
        rc = sg_err_set(err, rc, "cannot set request headers");
        goto out;
    }
    snprintf(call->platform, sizeof(call->platform), "%s",
             SG_CATALOG_SYNC_CHANNEL);
    snprintf(call->shop, sizeof(call->shop), "%s", t.shop_id);
    snprintf(call->endpoint_class, sizeof(call->endpoint_class), "%s", step);
    f = sg_calloc(1, sizeof(*f));
    if (!f) {
        rc = sg_err_set(err, SG_ENOMEM, "out of memory");
        goto out_retry;
    }
    f->job_id = job->id;
    f->lease = job->lease_token;
    f->tenant_id = job->tenant_id;
    f->product_id = pid;
    f->more = more;
    f->at_ms = sg_mono_ms();
    snprintf(f->step, sizeof(f->step), "%s", step);
    snprintf(f->shop_id, sizeof(f->shop_id), "%s", t.shop_id);
    f->desired = w.desired ? json_incref(w.desired) : json_object();
    inflight_put(f);
    sg_log(SG_LOG_DEBUG, "catalog_sync", "msg=\"send\" job_id=%" PRId64
           " product=%" PRId64 " step=%s", job->id, pid, step);
    goto out;
out_retry:
    if (err)
        err->retryable = true;
out:
    if (rc)
        busy_release_requeue(job->tenant_id, pid, job->id);
    if (token) {
        memset(token, 0, strlen(token));
        sg_free(token);
    }
    sg_free(text);
    json_decref(body);
    json_decref(report);
    json_decref(st);
    sg_listing_sync_release(&l);
    want_release(&w);
    return rc;
}

/* ---- result ---- */

static bool is_write(const char *step)
{
    return strcmp(step, "get") != 0;
}

static void result(void *ctx, const struct sg_job *job,
                   const struct sg_http_response *resp, int64_t now_ms,
                   const struct sg_dispatcher_cfg *cfg,
                   struct sg_job_outcome *out)
{
    struct inflight *f = inflight_take(job->id, job->lease_token);
    struct rec_op *op;
    struct sg_err err;
    json_t *data = NULL;
    int rc;

    SG_UNUSED(ctx);
    sg_job_classify_http(resp, now_ms, cfg->retry_after_max_ms, out);
    if (!f) {
        /*
         * The plan's record was dropped as stale (a call that waited far
         * longer than planned): what the call did is unknown, so the
         * product is read back (or its keyed create repeated) first.
         */
        json_t *pl = sg_json_loads(job->payload, 0, NULL);
        int64_t pid = sg_json_int(pl, "product_id", 0);

        json_decref(pl);
        if (pid > 0 && (resp->sent || resp->transport == SG_HTTP_OK) &&
            (op = rec_new(job->tenant_id, pid, "unknown")) != NULL) {
            op->uncertain = true;
            op->more = true;
            rec_submit(op);
        }
        return;
    }
    if (resp->transport != SG_HTTP_OK) {
        /*
         * Lost answer after sending: read back before any repeat. A
         * create is repeated with its idempotency key instead (there is
         * no id to read yet), and read back after that (apply_step).
         */
        op = NULL;
        if (resp->sent && is_write(f->step)) {
            op = rec_new(f->tenant_id, f->product_id, f->step);
            if (op) {
                op->uncertain = true;
                op->busy_job = job->id;
                rec_submit(op);
            }
            sg_log(SG_LOG_INFO, "catalog_sync", "msg=\"uncertain outcome; "
                   "will read back\" job_id=%" PRId64 " step=%s",
                   job->id, f->step);
        }
        if (!op)
            busy_release(f->tenant_id, f->product_id, job->id);
        inflight_free(f);
        return;
    }
    sg_err_init(&err);
    rc = sg_tts_envelope(&data, resp, true, &err);
    if (rc == 0) {
        out->verdict = SG_JOB_VERDICT_SUCCESS;
        out->breaker = SG_BREAKER_SUCCESS;
        out->reason[0] = '\0';
        op = rec_new(f->tenant_id, f->product_id, f->step);
        if (op) {
            snprintf(op->shop_id, sizeof(op->shop_id), "%s", f->shop_id);
            op->desired = f->desired;
            f->desired = NULL;
            op->data = data;
            data = NULL;
            op->more = f->more;
            op->busy_job = job->id;
            rec_submit(op);
        } else {
            busy_release_requeue(f->tenant_id, f->product_id, job->id);
        }
        goto done;
    }
    snprintf(out->reason, sizeof(out->reason), "%.19s: %.200s", f->step,
             err.msg);
    out->retry_after_ms = err.retry_after_ms > 0 ? err.retry_after_ms : -1;
    out->rate_limited = rc == SG_ELIMIT && err.retryable;
    if (rc == SG_ESTALE || err.retryable)
        busy_release(f->tenant_id, f->product_id, job->id); /* replans */
    if (rc == SG_ESTALE) {
        /* 105002: refresh the token, then try again. */
        tenant_forget(f->tenant_id);
        sg_engine__tiktok_refresh_soon(CS.e, f->tenant_id);
        out->verdict = SG_JOB_VERDICT_RETRY;
        out->breaker = SG_BREAKER_NEUTRAL;
    } else if (err.retryable) {
        out->verdict = SG_JOB_VERDICT_RETRY;
        out->breaker = rc == SG_EREMOTE ? SG_BREAKER_FAILURE
                                        : SG_BREAKER_NEUTRAL;
    } else {
        out->verdict = SG_JOB_VERDICT_DEAD;
        out->breaker = SG_BREAKER_NEUTRAL;
        if (rc == SG_EAUTH)
            tenant_forget(f->tenant_id);
        op = rec_new(f->tenant_id, f->product_id, f->step);
        if (op) {
            op->failed = true;
            op->set_reason = true;
            snprintf(op->status, sizeof(op->status), "failed");
            snprintf(op->reason, sizeof(op->reason), "%s", out->reason);
            op->busy_job = job->id;
            rec_submit(op);
        } else {
            busy_release_requeue(f->tenant_id, f->product_id, job->id);
        }
        sg_log(SG_LOG_WARN, "catalog_sync", "msg=\"sync failed\" job_id=%"
               PRId64 " product=%" PRId64 " reason=\"%s\"", job->id,
               f->product_id, out->reason);
    }
done:
    json_decref(data);
    inflight_free(f);
}

/* ---- webhooks 5 and 37 ---- */

int sg_engine__catalog_webhook(struct sg_engine *e, struct sg_store_tx *tx,
                               const struct sg_inbox *row, struct sg_err *err)
{
    json_t *doc = sg_json_loadb(row->body, row->body_len, 0, NULL, NULL);
    json_t *data = json_object_get(doc, "data"), *v;
    struct sg_listing_sync l;
    struct rec_op op;
    char pid[32] = "";
    const char *tstat = NULL, *status;
    int type = (int)sg_json_int(doc, "type", 0);
    int64_t at = sg_json_int(data, "update_time", 0);
    json_t *st = NULL;
    int rc;

    SG_UNUSED(e);
    v = json_object_get(data, "product_id");
    if (json_is_integer(v))
        snprintf(pid, sizeof(pid), "%" JSON_INTEGER_FORMAT,
                 json_integer_value(v));
    else if (json_is_string(v))
        snprintf(pid, sizeof(pid), "%s", json_string_value(v));
    if (type == 37) {
        const char *a = sg_json_str(json_object_get(data, "audit"), "status");

        tstat = !a ? NULL : strcmp(a, "APPROVED") == 0 ? "ACTIVATE"
                          : strcmp(a, "REJECTED") == 0 ? "FAILED" : "PENDING";
    } else {
        tstat = sg_json_str(data, "status");
    }
    if (!pid[0] || !tstat) {
        json_decref(doc);
        return 0;
    }
    rc = sg_listings_tx_find(tx, SG_CATALOG_SYNC_CHANNEL, pid, &l, err);
    if (rc == SG_ENOTFOUND || (!rc && l.tenant_id != row->tenant_id)) {
        if (!rc)
            sg_listing_sync_release(&l);
        json_decref(doc);
        return 0;
    }
    if (rc) {
        json_decref(doc);
        return rc;
    }
    st = sg_json_loads(l.state ? l.state : "{}", 0, NULL);
    /* Out of order: an older event does not undo a newer one. */
    if (json_is_object(st) &&
        sg_json_int(st, "status_at", 0) > at) {
        rc = 0;
        goto out;
    }
    status = status_of(tstat);
    memset(&op, 0, sizeof(op));
    op.tenant_id = l.tenant_id;
    op.product_id = l.product_id;
    snprintf(op.step, sizeof(op.step), "webhook");
    snprintf(op.status, sizeof(op.status), "%s", status);
    op.set_reason = true;
    if (strcmp(status, "suspended") == 0 &&
        sg_json_str(data, "suspended_reason"))
        snprintf(op.reason, sizeof(op.reason), "%s",
                 sg_json_str(data, "suspended_reason"));
    /* A failed audit: read the product back to learn the reasons. */
    if (strcmp(status, "failed") == 0) {
        snprintf(op.reason, sizeof(op.reason), "audit rejected; reading "
                 "reasons");
        if (json_is_object(st))
            json_object_set_new(st, "read", json_true());
        op.more = true;
    }
    if (json_is_object(st)) {
        json_object_set_new(st, "status_at", json_integer(at));
        json_object_set_new(st, "channel_status", json_string(tstat));
        sg_free(l.state);
        l.state = sg_json_dump(st, NULL);
    }
    rc = l.state ? sg_listings_tx_put(tx, &l, err)
                 : sg_err_set(err, SG_ENOMEM, "out of memory");
    if (!rc) {
        op.failed = true; /* nothing more to apply from a step */
        rc = rec_write(tx, &op, err);
    }
    sg_log(SG_LOG_INFO, "catalog_sync", "msg=\"listing status\" product=%"
           PRId64 " channel_product=%s status=%s", l.product_id, pid, status);
out:
    json_decref(st);
    json_decref(doc);
    sg_listing_sync_release(&l);
    return rc;
}

/* ---- periodic: drift check and polling of pending audits ---- */

struct mark_op {
    int64_t tenant_id[MARK_PAGE], product_id[MARK_PAGE];
    size_t n;
    bool pending_only;   /* audit poll: only listings still pending */
    int64_t cutoff_ms;   /* ... unchanged since then */
    size_t marked;
};

/*
 * Mark listings for read-back and queue their products. Each row is read
 * again inside the write, so a listing that moved on since the scan is
 * left alone. Marking bumps updated_at: a listing still pending is read
 * again only after another audit_poll_after.
 */
static int mark_write(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    struct mark_op *op = arg;
    int rc = 0;

    for (size_t i = 0; !rc && i < op->n; i++) {
        struct sg_listing_sync l;
        json_t *st;

        rc = sg_listings_tx_get(tx, op->tenant_id[i], op->product_id[i],
                                SG_CATALOG_SYNC_CHANNEL, &l, err);
        if (rc == SG_ENOTFOUND) {
            rc = 0;
            continue;
        }
        if (rc)
            break;
        st = sg_json_loads(l.state ? l.state : "{}", 0, NULL);
        if (json_is_object(st) && l.channel_product_id[0] &&
            (!op->pending_only ||
             (strcmp(l.status, "pending") == 0 &&
              l.updated_at <= op->cutoff_ms &&
              !json_object_get(st, "read")))) {
            json_object_set_new(st, "read", json_true());
            sg_free(l.state);
            l.state = sg_json_dump(st, NULL);
            rc = l.state ? sg_listings_tx_put(tx, &l, err)
                         : sg_err_set(err, SG_ENOMEM, "out of memory");
            if (!rc)
                rc = enqueue_next(tx, l.tenant_id, l.product_id, 0, err);
            op->marked += rc == 0;
        }
        json_decref(st);
        sg_listing_sync_release(&l);
    }
    return rc;
}

/* One pass over every published listing; the count marked. */
static size_t mark_listings(bool pending_only, int64_t older_than_ms)
{
    struct mark_op *op = sg_calloc(1, sizeof(*op));
    struct sg_err err;
    int64_t after = 0;
    size_t marked = 0;

    if (!op)
        return 0;
    for (size_t page = 0; page < MARK_PAGES; page++) {
        struct sg_listing_sync *rows = NULL;
        size_t n = 0;
        int64_t now = sg_clock_now_ms(&CS.e->clock);

        sg_err_init(&err);
        if (sg_listings_list(CS.e->store, 0, SG_CATALOG_SYNC_CHANNEL, after,
                             MARK_PAGE, &rows, &n, &err) != 0)
            break;
        op->n = 0;
        op->pending_only = pending_only;
        op->cutoff_ms = now - older_than_ms;
        for (size_t i = 0; i < n; i++) {
            bool want = rows[i].channel_product_id[0] &&
                        (!pending_only ||
                         (strcmp(rows[i].status, "pending") == 0 &&
                          rows[i].updated_at <= op->cutoff_ms));

            if (want) {
                op->tenant_id[op->n] = rows[i].tenant_id;
                op->product_id[op->n++] = rows[i].product_id;
            }
        }
        if (n)
            after = rows[n - 1].product_id;
        sg_listing_sync_list_free(rows, n);
        op->marked = 0;
        if (op->n && sg_store_write(CS.e->store, mark_write, op, &err) != 0)
            sg_log(SG_LOG_WARN, "catalog_sync", "msg=\"cannot mark "
                   "listings for read-back\" err=\"%s\"", err.msg);
        marked += op->marked;
        if (n < MARK_PAGE)
            break;
    }
    sg_free(op);
    if (marked && CS.e->dispatcher)
        sg_dispatcher_kick(CS.e->dispatcher);
    return marked;
}

/* ---- storms: hold what is not urgent until the values settle ---- */

/*
 * Under a storm (many products changed again and again, faster than the
 * rate limit can carry) a push made while the storm lasts is mostly
 * overtaken by the product's next change and has to be made again: the
 * call was spent for nothing. So while more products were changed again
 * within the last second than one endpoint may be called in a second
 * ([jobs] rate_per_sec), the tenant's queued jobs below the zero-stock
 * priority wait (at most storm_hold after the product's first change),
 * and are released in their order once a second passes without such
 * churn: then each product goes out once with its final state. Products
 * changed once (a publish, a bulk repricing) are not churn and never
 * start a hold; zero-stock pushes are never held.
 */

static struct storm *storm_find(int64_t tenant_id)
{
    for (size_t i = 0; i < CS.nstorm; i++)
        if (CS.storm[i].tenant_id == tenant_id)
            return &CS.storm[i];
    return NULL;
}

static bool storm_on(int64_t tenant_id)
{
    bool on;

    pthread_mutex_lock(&CS.lock);
    on = storm_find(tenant_id) != NULL;
    pthread_mutex_unlock(&CS.lock);
    return on;
}

struct hold_op {
    int64_t tenant_id;
    bool release;
    size_t n;
};

static int hold_write(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    struct hold_op *op = arg;
    const struct sg_config *cfg = CS.e->cfg;

    if (op->release)
        return sg_listings_tx_release(
            tx, op->tenant_id, SG_CATALOG_SYNC_KIND, SG_CATALOG_SYNC_PRIO_ZERO,
            cfg->tiktok_shop.storm_hold_ms, cfg->tiktok_shop.sync_window_ms,
            &op->n, err);
    return sg_listings_tx_hold(tx, op->tenant_id, SG_CATALOG_SYNC_KIND,
                               SG_CATALOG_SYNC_PRIO_ZERO,
                               cfg->tiktok_shop.storm_hold_ms, &op->n, err);
}

/* Hold (or release) the tenant's pushes; the jobs moved, 0 on error. */
static size_t hold_run(int64_t tenant_id, bool release)
{
    struct hold_op op = {.tenant_id = tenant_id, .release = release};
    struct sg_err err;

    sg_err_init(&err);
    if (sg_store_write(CS.e->store, hold_write, &op, &err) != 0) {
        sg_log(SG_LOG_WARN, "catalog_sync", "msg=\"cannot %s pushes\" "
               "tenant=%" PRId64 " err=\"%s\"", release ? "release" : "hold",
               tenant_id, err.msg);
        return 0;
    }
    return op.n;
}

/* One look (periodic thread): begin, go on with or end each storm. */
static void storm_check(void)
{
    const struct sg_config *cfg = CS.e->cfg;
    int64_t limit = cfg->jobs.rate_per_sec;
    struct sg_listings_churn churn[TENANTS_MAX];
    int64_t ended[TENANTS_MAX];
    size_t n = 0, n_ended = 0;
    struct sg_err err;

    if (cfg->tiktok_shop.storm_hold_ms == 0)
        return;
    sg_err_init(&err);
    if (sg_listings_churn(CS.e->store, SG_CATALOG_SYNC_KIND,
                          sg_clock_now_ms(&CS.e->clock) - STORM_SPAN_MS,
                          churn, TENANTS_MAX, &n, &err) != 0) {
        sg_log(SG_LOG_WARN, "catalog_sync", "msg=\"storm check failed\" "
               "err=\"%s\"", err.msg);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        struct storm *st;
        bool begins = false;
        size_t moved;

        if (churn[i].products <= limit)
            continue;
        pthread_mutex_lock(&CS.lock);
        st = storm_find(churn[i].tenant_id);
        if (!st && CS.nstorm < TENANTS_MAX) {
            st = &CS.storm[CS.nstorm++];
            memset(st, 0, sizeof(*st));
            st->tenant_id = churn[i].tenant_id;
            st->since_ms = sg_mono_ms();
            begins = true;
        }
        if (st)
            st->peak = SG_MAX(st->peak, churn[i].products);
        pthread_mutex_unlock(&CS.lock);
        if (!st)
            continue;
        if (begins)
            sg_log(SG_LOG_INFO, "catalog_sync", "msg=\"storm: holding "
                   "pushes that are not urgent\" tenant=%" PRId64
                   " products_changed_again=%" PRId64 " limit=%" PRId64,
                   churn[i].tenant_id, churn[i].products, limit);
        /* Again each look: jobs queued since the last one. */
        moved = hold_run(churn[i].tenant_id, false);
        pthread_mutex_lock(&CS.lock);
        if ((st = storm_find(churn[i].tenant_id)) != NULL)
            st->held += moved;
        pthread_mutex_unlock(&CS.lock);
    }
    /* A storm whose tenant had no churn over the last second is over. */
    pthread_mutex_lock(&CS.lock);
    for (size_t i = 0; i < CS.nstorm;) {
        bool still = false;

        for (size_t k = 0; k < n; k++)
            still = still || (churn[k].tenant_id == CS.storm[i].tenant_id &&
                              churn[k].products > limit);
        if (still) {
            i++;
            continue;
        }
        sg_log(SG_LOG_INFO, "catalog_sync", "msg=\"storm over: releasing "
               "pushes\" tenant=%" PRId64 " lasted_ms=%" PRId64
               " peak=%" PRId64 " held=%zu", CS.storm[i].tenant_id,
               sg_mono_ms() - CS.storm[i].since_ms, CS.storm[i].peak,
               CS.storm[i].held);
        ended[n_ended++] = CS.storm[i].tenant_id;
        CS.storm[i] = CS.storm[--CS.nstorm];
    }
    pthread_mutex_unlock(&CS.lock);
    for (size_t i = 0; i < n_ended; i++)
        hold_run(ended[i], true);
    if (n_ended && CS.e->dispatcher)
        sg_dispatcher_kick(CS.e->dispatcher);
}

static void *periodic_main(void *arg)
{
    const struct sg_config *cfg = CS.e->cfg;
    int64_t drift_every = cfg->tiktok_shop.drift_check_interval_ms;
    int64_t audit_after = cfg->tiktok_shop.audit_poll_after_ms;
    /* Pending listings are looked at a few times per audit_poll_after. */
    int64_t audit_every = SG_MIN(SG_MAX(audit_after / 4, TICK_MS), 60000);
    int64_t start = sg_mono_ms(), last_drift = start, last_audit = start;
    int64_t last_tick = start;
    int64_t tick = cfg->tiktok_shop.storm_hold_ms ? STORM_TICK_MS : TICK_MS;

    SG_UNUSED(arg);
    for (;;) {
        struct timespec ts;
        int64_t now;
        bool stop;

        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += (long)(tick % 1000) * 1000000L;
        ts.tv_sec += tick / 1000 + ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_mutex_lock(&CS.lock);
        if (!CS.stop)
            pthread_cond_timedwait(&CS.cond, &CS.lock, &ts);
        stop = CS.stop;
        pthread_mutex_unlock(&CS.lock);
        if (stop)
            break;
        storm_check();
        now = sg_mono_ms();
        if (now - last_tick < TICK_MS - tick / 2)
            continue;
        last_tick = now;
        busy_sweep();
        inflight_sweep();
        if (drift_every > 0 && now - last_drift >= drift_every) {
            size_t n = mark_listings(false, 0);

            last_drift = now;
            sg_log(SG_LOG_INFO, "catalog_sync", "msg=\"drift check\" "
                   "listings=%zu", n);
        }
        if (audit_after > 0 && now - last_audit >= audit_every) {
            size_t n = mark_listings(true, audit_after);

            last_audit = now;
            if (n)
                sg_log(SG_LOG_INFO, "catalog_sync", "msg=\"audit still "
                       "pending; reading back\" listings=%zu", n);
        }
    }
    return NULL;
}

/* ---- lifecycle ---- */

int sg_engine__catalog_sync_init(struct sg_engine *e, struct sg_err *err)
{
    struct sg_catalog_sync_env env;
    int rc;

    pthread_once(&cs_once, cs_lock_init);
    CS.e = e;
    CS.conn = sg_engine__tiktok_connector(e);
    if (!CS.conn || !(CS.conn->ops->caps & SG_CAP_CATALOG) ||
        !CS.conn->ops->catalog_request)
        return sg_err_set(err, SG_ECONFIG, "connector cannot publish");
    sg_catalog_rules_init(&CS.rules);
    rc = sg_catalog_rules_load(&CS.rules, e->cfg, err);
    if (rc)
        return rc;
    CS.rules_ok = true;
    memset(&env, 0, sizeof(env));
    env.plan = plan;
    env.result = result;
    sg_catalog_sync_configure(&env);
    sg_catalog_sync_window_set(e->cfg->tiktok_shop.sync_window_ms);
    CS.stop = false;
    if (pthread_create(&CS.tid, NULL, periodic_main, NULL) != 0)
        return sg_err_set(err, SG_EIO, "cannot start the catalog sync "
                          "timer");
    CS.started = true;
    return 0;
}

void sg_engine__catalog_sync_fini(struct sg_engine *e)
{
    struct inflight *f;

    if (!e || CS.e != e)
        return;
    if (CS.started) {
        pthread_mutex_lock(&CS.lock);
        CS.stop = true;
        pthread_cond_signal(&CS.cond);
        pthread_mutex_unlock(&CS.lock);
        pthread_join(CS.tid, NULL);
        CS.started = false;
    }
    sg_catalog_sync_configure(NULL);
    sg_catalog_sync_window_set(0);
    pthread_mutex_lock(&CS.lock);
    CS.nstorm = 0;
    for (size_t i = 0; i < CS.nt; i++)
        token_wipe(&CS.t[i]);
    CS.nt = 0;
    while ((f = CS.fl) != NULL) {
        CS.fl = f->next;
        inflight_free(f);
    }
    CS.nfl = 0;
    while (CS.busy) {
        struct busy *b = CS.busy;

        CS.busy = b->next;
        sg_free(b);
    }
    CS.nbusy = 0;
    pthread_mutex_unlock(&CS.lock);
    if (CS.rules_ok)
        sg_catalog_rules_release(&CS.rules);
    CS.rules_ok = false;
    CS.e = NULL;
}
