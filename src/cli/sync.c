/*
 * sync.c - "surge sync": queue a catalog.sync job for every product of a
 * tenant (the running daemon sends what differs; products already in
 * sync cost no call), optionally wait until the outbox has drained, and
 * fail when any of those jobs was dead-lettered. --check also marks every
 * published listing for a read-back, so the daemon compares what TikTok
 * holds with the catalog and repairs the drift; it waits for the outbox
 * and prints what each read-back found different (per product: field,
 * Surge's value, TikTok's value).
 */
#include "core/sg.h"

#include <time.h>

#include "cli/cli.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/json.h"
#include "features/catalog/catalog.h"
#include "store/listings.h"
#include "store/store.h"

#define PAGE       500
#define PAGES_MAX  10000
#define POLL_MS    200

struct page_op {
    int64_t tenant_id;
    int64_t ids[PAGE];
    size_t n;
    bool check;
    int64_t min_id;
    size_t marked;
};

static int page_write(struct sg_store_tx *tx, void *arg, struct sg_err *err)
{
    struct page_op *op = arg;
    char key[96], payload[64];
    int rc = 0;

    for (size_t i = 0; !rc && i < op->n; i++) {
        struct sg_job job;
        int64_t id = 0;
        bool coalesced = false;

        if (op->check) {
            struct sg_listing_sync l;
            json_t *st;

            rc = sg_listings_tx_get(tx, op->tenant_id, op->ids[i],
                                    SG_CATALOG_SYNC_CHANNEL, &l, err);
            if (rc == SG_ENOTFOUND) {
                rc = 0;
            } else if (!rc) {
                st = sg_json_loads(l.state ? l.state : "{}", 0, NULL);
                if (json_is_object(st) && l.channel_product_id[0]) {
                    json_object_set_new(st, "read", json_true());
                    sg_free(l.state);
                    l.state = sg_json_dump(st, NULL);
                    rc = l.state ? sg_listings_tx_put(tx, &l, err)
                                 : SG_ENOMEM;
                    op->marked++;
                }
                json_decref(st);
                sg_listing_sync_release(&l);
            }
            if (rc)
                break;
        }
        snprintf(key, sizeof(key), "cat:%s:%" PRId64 ":%" PRId64,
                 SG_CATALOG_SYNC_CHANNEL, op->tenant_id, op->ids[i]);
        snprintf(payload, sizeof(payload), "{\"product_id\":%" PRId64 "}",
                 op->ids[i]);
        memset(&job, 0, sizeof(job));
        job.tenant_id = op->tenant_id;
        snprintf(job.kind, sizeof(job.kind), "%s", SG_CATALOG_SYNC_KIND);
        job.coalesce_key = key;
        job.payload = payload;
        snprintf(job.platform, sizeof(job.platform), "%s",
                 SG_CATALOG_SYNC_CHANNEL);
        snprintf(job.endpoint_class, sizeof(job.endpoint_class), "product");
        rc = sg_store_tx_job_enqueue(tx, &job, &id, &coalesced, err);
        if (!rc && (op->min_id == 0 || id < op->min_id))
            op->min_id = id;
    }
    return rc;
}

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

/* catalog.sync jobs of tenant in state with id > after; -1 on error. */
static long count_jobs(struct sg_store *s, int64_t tenant_id, int state,
                       int64_t after)
{
    long count = 0;

    for (size_t page = 0; page < PAGES_MAX; page++) {
        struct sg_job *jobs = NULL;
        size_t n = 0;
        struct sg_err err;

        sg_err_init(&err);
        if (sg_store_job_list(s, tenant_id, state, after, SG_STORE_LIST_MAX,
                              &jobs, &n, &err) != 0)
            return -1;
        for (size_t i = 0; i < n; i++) {
            if (strcmp(jobs[i].kind, SG_CATALOG_SYNC_KIND) == 0)
                count++;
            after = jobs[i].id;
        }
        sg_job_list_free(jobs, n);
        if (n < SG_STORE_LIST_MAX)
            break;
    }
    return count;
}

static void print_value(const json_t *v)
{
    char *text;

    if (!v || json_is_null(v)) {
        printf("(none)");
        return;
    }
    if (json_is_string(v)) {
        printf("%s", json_string_value(v));
        return;
    }
    text = sg_json_dump(v, NULL);
    printf("%s", text ? text : "?");
    sg_free(text);
}

/*
 * The drift the read-backs since since_ms found, per product. Returns the
 * number of products with a difference; -1 when the store cannot be read.
 */
static long drift_report(struct sg_store *s, int64_t tenant_id,
                         int64_t since_ms, long *unread)
{
    int64_t after = 0;
    long products = 0;

    *unread = 0;
    for (size_t page = 0; page < PAGES_MAX; page++) {
        struct sg_listing_sync *rows = NULL;
        struct sg_err err;
        size_t n = 0;

        sg_err_init(&err);
        if (sg_listings_list(s, tenant_id, SG_CATALOG_SYNC_CHANNEL, after,
                             SG_LISTINGS_LIST_MAX, &rows, &n, &err) != 0)
            return -1;
        for (size_t i = 0; i < n; i++) {
            json_t *st = sg_json_loads(rows[i].state ? rows[i].state : "{}",
                                       0, NULL);
            json_t *drift = json_object_get(st, "drift"), *d;
            size_t k;

            if (!rows[i].channel_product_id[0]) {
                json_decref(st);
                continue;
            }
            if (json_object_get(st, "read") ||
                sg_json_int(st, "drift_at", 0) < since_ms)
                (*unread)++;
            else if (json_array_size(drift)) {
                products++;
                printf("product %" PRId64 " (tiktok %s):\n",
                       rows[i].product_id, rows[i].channel_product_id);
                json_array_foreach(drift, k, d) {
                    printf("  %s: surge ", sg_json_str(d, "field")
                                               ? sg_json_str(d, "field")
                                               : "?");
                    print_value(json_object_get(d, "surge"));
                    printf(", tiktok ");
                    print_value(json_object_get(d, "tiktok"));
                    printf("\n");
                }
            }
            json_decref(st);
        }
        if (n)
            after = rows[n - 1].product_id;
        sg_listing_sync_list_free(rows, n);
        if (n < SG_LISTINGS_LIST_MAX)
            break;
    }
    return products;
}

int sg_cli_sync(int argc, char **argv)
{
    const char *config = NULL, *tenant = "default", *timeout_s = "600";
    bool wait = false, check = false;
    struct sg_cli_opt opts[] = {
        {"--config", &config, NULL},  {"--tenant", &tenant, NULL},
        {"--wait", NULL, &wait},      {"--check", NULL, &check},
        {"--timeout", &timeout_s, NULL},
    };
    struct sg_config cfg;
    struct sg_store *store = NULL;
    struct sg_tenant t;
    struct sg_err err;
    struct page_op *op = NULL;
    size_t n_pos, queued = 0, marked = 0;
    int64_t after = 0, min_id = 0;
    long timeout = 0, dead = 0, drifted = 0, unread = 0;
    int64_t start_ms = sg_clock_now_ms(sg_clock_system());
    int rc, status = SG_EXIT_FAIL;

    memset(&cfg, 0, sizeof(cfg));
    rc = sg_cli_parse("sync", argc, argv, opts, SG_ARRAY_SIZE(opts), NULL, 0,
                      0, &n_pos);
    if (rc >= 0)
        return rc;
    for (const char *p = timeout_s; *p; p++)
        timeout = (*p >= '0' && *p <= '9' && timeout < 1000000)
                      ? timeout * 10 + (*p - '0') : -1;
    if (timeout <= 0)
        return sg_cli_usage_error("sync", "--timeout must be 1..999999 s");
    status = sg_cli_load_config(&cfg, config);
    if (status != 0)
        goto out;
    sg_cli_quiet_logs(&cfg);
    status = sg_cli_open_store(&store, &cfg);
    if (status != 0)
        goto out;
    status = SG_EXIT_FAIL;
    sg_err_init(&err);
    if (sg_store_tenant_get(store, tenant, &t, &err) != 0) {
        sg_cli_errorf("no tenant named \"%.64s\"", tenant);
        goto out;
    }
    op = sg_calloc(1, sizeof(*op));
    if (!op)
        goto out;
    for (size_t page = 0; page < PAGES_MAX; page++) {
        struct sg_product *ps = NULL;
        size_t n = 0;

        if (sg_catalog_list(store, t.id, after, PAGE, &ps, &n, &err) != 0) {
            sg_cli_errorf("cannot list products: %s", err.msg);
            goto out;
        }
        memset(op, 0, sizeof(*op));
        op->tenant_id = t.id;
        op->check = check;
        for (size_t i = 0; i < n; i++)
            op->ids[op->n++] = ps[i].id;
        if (n)
            after = ps[n - 1].id;
        sg_product_list_free(ps, n);
        if (n && sg_store_write(store, page_write, op, &err) != 0) {
            sg_cli_errorf("cannot queue sync jobs: %s", err.msg);
            goto out;
        }
        queued += op->n;
        marked += op->marked;
        if (op->min_id && (min_id == 0 || op->min_id < min_id))
            min_id = op->min_id;
        if (n < PAGE)
            break;
    }
    printf("queued %zu product%s for sync", queued, queued == 1 ? "" : "s");
    if (check)
        printf(", %zu listing%s to read back", marked,
               marked == 1 ? "" : "s");
    printf("\n");
    status = SG_EXIT_OK;
    if (!wait && !check)
        goto out;
    for (long waited = 0;; waited += POLL_MS) {
        long q = count_jobs(store, t.id, SG_JOB_QUEUED, 0);
        long r = count_jobs(store, t.id, SG_JOB_RUNNING, 0);

        if (q < 0 || r < 0) {
            sg_cli_errorf("cannot read the outbox");
            status = SG_EXIT_FAIL;
            goto out;
        }
        if (q == 0 && r == 0)
            break;
        if (waited >= timeout * 1000) {
            sg_cli_errorf("timed out with %ld queued and %ld running", q, r);
            status = SG_EXIT_FAIL;
            goto out;
        }
        nap_ms(POLL_MS);
    }
    dead = min_id > 0 ? count_jobs(store, t.id, SG_JOB_DEAD, min_id - 1) : 0;
    printf("outbox drained; %ld dead-lettered\n", dead < 0 ? 0 : dead);
    if (dead != 0)
        status = SG_EXIT_FAIL;
    if (check) {
        drifted = drift_report(store, t.id, start_ms, &unread);
        if (drifted < 0) {
            sg_cli_errorf("cannot read the listings");
            status = SG_EXIT_FAIL;
            goto out;
        }
        printf("drift: %ld product%s differed (corrections queued)",
               drifted, drifted == 1 ? "" : "s");
        if (unread)
            printf(", %ld not read back", unread);
        printf("\n");
    }
out:
    sg_free(op);
    sg_store_free(store);
    sg_config_release(&cfg);
    return status;
}
