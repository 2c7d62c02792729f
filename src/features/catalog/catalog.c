/*
 * catalog.c - the catalog's core functions: every change (API, importer,
 * later webhooks) runs one of these inside a store write, so the product
 * rows, the inventory ledger and the caller's audit row commit together.
 * Reads go through reader connections and never wait for the writer.
 */
#include "core/sg.h"

#include <stdatomic.h>

#include "core/alloc.h"
#include "features/catalog/catalog_store.h"
#include "store/listings.h"
#include "store/store.h"

const struct sg_catalog_store_ops *sg_catalog_store_ops(const char *backend)
{
    if (backend && strcmp(backend, sg_catalog_sqlite_ops.name) == 0)
        return &sg_catalog_sqlite_ops;
    if (backend && strcmp(backend, sg_catalog_postgres_ops.name) == 0)
        return &sg_catalog_postgres_ops;
    return NULL;
}

static const struct sg_catalog_store_ops *tx_ops(struct sg_store_tx *tx,
                                                 struct sg_err *err)
{
    const struct sg_catalog_store_ops *ops = sg_catalog_store_ops(
        sg_store_backend_name(sg_store_tx_store(tx)));

    if (!ops)
        sg_err_set(err, SG_ECONFIG, "the store backend has no catalog");
    return ops;
}

const char *sg_cat_outcome_name(int outcome)
{
    switch (outcome) {
    case SG_CAT_CREATED:
        return "created";
    case SG_CAT_UPDATED:
        return "updated";
    default:
        return "unchanged";
    }
}

static _Atomic int64_t sync_window_ms;

void sg_catalog_sync_window_set(int64_t window_ms)
{
    atomic_store(&sync_window_ms, window_ms > 0 ? window_ms : 0);
}

/*
 * check_zero: look for a SKU left with nothing available (an inventory
 * change that may have caused it); otherwise the job is not urgent.
 */
static int catalog_changed(struct sg_store_tx *tx, int64_t tenant_id,
                           int64_t product_id, const char *what,
                           bool check_zero, struct sg_err *err)
{
    char key[96], payload[96];
    struct sg_job job;
    bool active = false, zero = false;
    int64_t id = 0;
    bool coalesced = false;
    int rc;

    /* A listing change is the channel talking to us: nothing to push. */
    if (!what || strcmp(what, "listing") == 0)
        return 0;
    rc = sg_listings_tx_conn_active(tx, tenant_id, SG_CATALOG_SYNC_CHANNEL,
                                    &active, err);
    if (rc || !active)
        return rc;
    /* A SKU going to zero must reach the channel before it oversells. */
    if (check_zero) {
        rc = sg_listings_tx_sku_zero(tx, tenant_id, product_id,
                                     SG_CATALOG_SYNC_CHANNEL, &zero, err);
        if (rc)
            return rc;
    }
    snprintf(key, sizeof(key), "cat:%s:%" PRId64 ":%" PRId64,
             SG_CATALOG_SYNC_CHANNEL, tenant_id, product_id);
    snprintf(payload, sizeof(payload), "{\"product_id\":%" PRId64 "}",
             product_id);
    memset(&job, 0, sizeof(job));
    job.tenant_id = tenant_id;
    snprintf(job.kind, sizeof(job.kind), "%s", SG_CATALOG_SYNC_KIND);
    job.coalesce_key = key;
    job.payload = payload;
    job.priority = zero ? SG_CATALOG_SYNC_PRIO_ZERO : 0;
    /*
     * Due at the end of the window. A queued job keeps its own due time:
     * the window of its first change, or a storm hold or a retry backoff
     * that this change must not cut short. Zero stock goes at once.
     */
    if (!zero) {
        job.keep_due = true;
        if (atomic_load(&sync_window_ms) > 0)
            job.next_run_at =
                sg_store_tx_now(tx) + atomic_load(&sync_window_ms);
    }
    snprintf(job.platform, sizeof(job.platform), "%s",
             SG_CATALOG_SYNC_CHANNEL);
    snprintf(job.endpoint_class, sizeof(job.endpoint_class), "product");
    return sg_store_tx_job_enqueue(tx, &job, &id, &coalesced, err);
}

int sg_catalog_changed(struct sg_store_tx *tx, int64_t tenant_id,
                       int64_t product_id, const char *what,
                       struct sg_err *err)
{
    return catalog_changed(tx, tenant_id, product_id, what,
                           what && strcmp(what, "inventory") == 0, err);
}

/* ---- inventory ---- */

static int level_get(const struct sg_catalog_store_ops *ops, void *be,
                     int64_t tenant_id, const char *sku, const char *location,
                     struct sg_inv_level *out, struct sg_err *err)
{
    int rc = ops->inv_get(be, tenant_id, sku, location, out, err);

    if (rc == SG_ENOTFOUND) {
        memset(out, 0, sizeof(*out));
        snprintf(out->sku, sizeof(out->sku), "%s", sku);
        snprintf(out->location, sizeof(out->location), "%s", location);
        if (err)
            sg_err_init(err);
        return 0;
    }
    return rc;
}

static int check_key(const char *sku, const char *location,
                     struct sg_err *err)
{
    if (!sku || !sku[0] || strlen(sku) > SG_CAT_SKU_MAX)
        return sg_err_set(err, SG_EINVAL, "sku must be 1-64 bytes");
    if (!location || !location[0] || strlen(location) > SG_CAT_LOCATION_MAX)
        return sg_err_set(err, SG_EINVAL, "location must be 1-64 bytes");
    return 0;
}

/* SG_ESTATE (naming both) when on_hand "to" would leave l's holds uncovered. */
static int level_floor(const struct sg_inv_level *l, int64_t to,
                       const char *sku, const char *location,
                       struct sg_err *err)
{
    if (to >= l->reserved + l->committed)
        return 0;
    return sg_err_set(err, SG_ESTATE,
                      "on_hand %" PRId64 " for %s at %s is below reserved %"
                      PRId64 " + committed %" PRId64,
                      to, sku, location, l->reserved, l->committed);
}

/*
 * Move (sku, location) from level l (read in this write) to on_hand "to",
 * with its ledger row; nothing when it already is there. SG_ESTATE when
 * "to" is below reserved + committed.
 */
static int level_move_to(const struct sg_catalog_store_ops *ops,
                         struct sg_store_tx *tx, int64_t tenant_id,
                         const char *sku, const char *location,
                         const struct sg_inv_level *l, int64_t to,
                         const char *reason, const char *cause_ref,
                         bool *changed_out, struct sg_err *err)
{
    struct sg_inv_move m;
    int rc;

    rc = level_floor(l, to, sku, location, err);
    if (rc || to == l->on_hand)
        return rc;
    memset(&m, 0, sizeof(m));
    m.sku = sku;
    m.location = location;
    m.d_on_hand = to - l->on_hand;
    m.reason = reason;
    m.cause_ref = cause_ref;
    rc = ops->inv_move(sg_store_tx_backend(tx), tenant_id, &m,
                       sg_store_tx_now(tx), err);
    if (!rc && changed_out)
        *changed_out = true;
    return rc;
}

int sg_inventory_set(struct sg_store_tx *tx, int64_t tenant_id,
                     const char *sku, const char *location, int64_t on_hand,
                     const char *reason, const char *cause_ref,
                     bool *changed_out, struct sg_err *err)
{
    const struct sg_catalog_store_ops *ops = tx_ops(tx, err);
    struct sg_inv_level l;
    int rc;

    if (changed_out)
        *changed_out = false;
    if (!ops)
        return SG_ECONFIG;
    rc = check_key(sku, location, err);
    if (rc)
        return rc;
    if (on_hand < 0 || on_hand > SG_CAT_QTY_MAX)
        return sg_err_set(err, SG_EINVAL,
                          "on_hand must be an integer 0..1000000000");
    if (!reason || !reason[0])
        return sg_err_set(err, SG_EINVAL, "a reason is required");
    rc = level_get(ops, sg_store_tx_backend(tx), tenant_id, sku, location, &l,
                   err);
    if (rc)
        return rc;
    return level_move_to(ops, tx, tenant_id, sku, location, &l, on_hand,
                         reason, cause_ref, changed_out, err);
}

int sg_inventory_adjust(struct sg_store_tx *tx, int64_t tenant_id,
                        const char *sku, const char *location, int64_t delta,
                        const char *reason, const char *cause_ref,
                        int64_t *on_hand_out, bool *changed_out,
                        struct sg_err *err)
{
    const struct sg_catalog_store_ops *ops = tx_ops(tx, err);
    struct sg_inv_level l;
    int64_t to;
    int rc;

    if (changed_out)
        *changed_out = false;
    if (!ops)
        return SG_ECONFIG;
    rc = check_key(sku, location, err);
    if (rc)
        return rc;
    if (delta < -SG_CAT_QTY_MAX || delta > SG_CAT_QTY_MAX)
        return sg_err_set(err, SG_EINVAL,
                          "delta must be an integer -1000000000..1000000000");
    if (!reason || !reason[0])
        return sg_err_set(err, SG_EINVAL, "a reason is required");
    rc = level_get(ops, sg_store_tx_backend(tx), tenant_id, sku, location, &l,
                   err);
    if (rc)
        return rc;
    to = l.on_hand + delta;
    if (to > SG_CAT_QTY_MAX)
        return sg_err_set(err, SG_EINVAL,
                          "on_hand %" PRId64 " %+" PRId64 " for %s at %s "
                          "would pass 1000000000",
                          l.on_hand, delta, sku, location);
    if (to < 0)
        return sg_err_set(err, SG_ESTATE,
                          "on_hand %" PRId64 " %+" PRId64 " for %s at %s "
                          "would fall below 0",
                          l.on_hand, delta, sku, location);
    rc = level_move_to(ops, tx, tenant_id, sku, location, &l, to, reason,
                       cause_ref, changed_out, err);
    if (!rc && on_hand_out)
        *on_hand_out = to;
    return rc;
}

/* ---- bulk changes ---- */

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return x < y ? -1 : x > y;
}

/* A product a bulk change changed, and whether a SKU may be at zero. */
struct changed_ref {
    int64_t id;
    bool maybe_zero;
};

static int cmp_changed(const void *a, const void *b)
{
    return cmp_i64(&((const struct changed_ref *)a)->id,
                   &((const struct changed_ref *)b)->id);
}

/*
 * The channel hook once per distinct product of refs[0..n) (sorted in
 * place), after every item was applied; the zero-stock check only for
 * products where an item left its SKU with nothing available.
 */
static int changed_each(struct sg_store_tx *tx, int64_t tenant_id,
                        struct changed_ref *refs, size_t n, const char *what,
                        struct sg_err *err)
{
    int rc = 0;

    qsort(refs, n, sizeof(*refs), cmp_changed);
    for (size_t i = 0; !rc && i < n;) {
        size_t j = i;
        bool zero = false;

        for (; j < n && refs[j].id == refs[i].id; j++)
            zero = zero || refs[j].maybe_zero;
        rc = catalog_changed(tx, tenant_id, refs[i].id, what, zero, err);
        i = j;
    }
    return rc;
}

/* An item and what makes it the same target as another item. */
struct dup_ref {
    const char *a, *b;
    int64_t id;
    size_t i;
};

static int cmp_dup(const void *x, const void *y)
{
    const struct dup_ref *p = x, *q = y;
    int c;

    if (p->id != q->id)
        return p->id < q->id ? -1 : 1;
    c = strcmp(p->a ? p->a : "", q->a ? q->a : "");
    return c ? c : strcmp(p->b ? p->b : "", q->b ? q->b : "");
}

/* dup[i] = another item of refs has the same target (refs is sorted). */
static void mark_dups(struct dup_ref *refs, size_t n, bool *dup)
{
    qsort(refs, n, sizeof(*refs), cmp_dup);
    for (size_t i = 0; i + 1 < n; i++)
        if (cmp_dup(&refs[i], &refs[i + 1]) == 0)
            dup[refs[i].i] = dup[refs[i + 1].i] = true;
}

struct bulk_mem {
    struct changed_ref *changed;
    struct dup_ref *refs;
    bool *dup;
    struct sg_inv_level *levels;
    struct sg_variant_price *cur;
};

static int bulk_mem_alloc(struct bulk_mem *m, size_t n, bool inv,
                          struct sg_err *err)
{
    memset(m, 0, sizeof(*m));
    m->changed = sg_calloc(n, sizeof(*m->changed));
    m->refs = sg_calloc(n, sizeof(*m->refs));
    m->dup = sg_calloc(n, sizeof(*m->dup));
    if (inv)
        m->levels = sg_calloc(n, sizeof(*m->levels));
    else
        m->cur = sg_calloc(n, sizeof(*m->cur));
    if (!m->changed || !m->refs || !m->dup || (inv && !m->levels) ||
        (!inv && !m->cur))
        return sg_err_set(err, SG_ENOMEM, "out of memory");
    return 0;
}

static void bulk_mem_release(struct bulk_mem *m)
{
    sg_free(m->changed);
    sg_free(m->refs);
    sg_free(m->dup);
    sg_free(m->levels);
    sg_free(m->cur);
}

int sg_inventory_set_many(struct sg_store_tx *tx, int64_t tenant_id,
                          struct sg_inv_set *items, size_t n,
                          const char *location, const char *cause_ref,
                          size_t *bad_out, struct sg_err *err)
{
    const struct sg_catalog_store_ops *ops = tx_ops(tx, err);
    void *be = sg_store_tx_backend(tx);
    struct bulk_mem m;
    size_t n_changed = 0, i = 0;
    int rc = 0;

    *bad_out = 0;
    if (!ops)
        return SG_ECONFIG;
    if (n == 0 || n > SG_CAT_BULK_MAX)
        return sg_err_set(err, SG_EINVAL, "1..%d items per request",
                          SG_CAT_BULK_MAX);
    rc = bulk_mem_alloc(&m, n, true, err);
    if (rc)
        goto out;
    /* Check every item first: a refusal must leave nothing written. */
    for (i = 0; i < n; i++) {
        struct sg_inv_set *it = &items[i];
        const char *loc = it->location ? it->location : location;
        struct sg_inv_level *l = &m.levels[i];

        it->changed = false;
        rc = check_key(it->sku, loc, err);
        if (rc)
            goto refuse;
        if (it->on_hand < 0 || it->on_hand > SG_CAT_QTY_MAX) {
            rc = sg_err_set(err, SG_EINVAL,
                            "on_hand must be an integer 0..1000000000");
            goto refuse;
        }
        if (!it->reason || !it->reason[0] || strlen(it->reason) > 64) {
            rc = sg_err_set(err, SG_EINVAL,
                            "reason is required (1-64 characters)");
            goto refuse;
        }
        rc = ops->variant_locate(be, tenant_id, 0, it->sku, &it->product_id,
                                 NULL, err);
        if (rc == SG_ENOTFOUND)
            sg_err_set(err, SG_ENOTFOUND, "no such SKU: %s", it->sku);
        if (!rc)
            rc = level_get(ops, be, tenant_id, it->sku, loc, l, err);
        if (rc)
            goto refuse;
        rc = level_floor(l, it->on_hand, it->sku, loc, err);
        if (rc)
            goto refuse;
        m.refs[i] = (struct dup_ref){it->sku, loc, 0, i};
    }
    mark_dups(m.refs, n, m.dup);
    /*
     * Reserved and committed are not moved by a set, so the checks hold.
     * A level read in the check is current unless an earlier item of the
     * request named the same SKU and location.
     */
    for (i = 0; i < n; i++) {
        struct sg_inv_set *it = &items[i];
        const char *loc = it->location ? it->location : location;
        struct sg_inv_level *l = &m.levels[i];
        struct sg_inv_move mv;

        if (m.dup[i]) {
            rc = level_get(ops, be, tenant_id, it->sku, loc, l, err);
            if (rc)
                goto out; /* not a refusal: the caller's write fails */
        }
        if (it->on_hand == l->on_hand)
            continue;
        memset(&mv, 0, sizeof(mv));
        mv.sku = it->sku;
        mv.location = loc;
        mv.d_on_hand = it->on_hand - l->on_hand;
        mv.reason = it->reason;
        mv.cause_ref = cause_ref;
        rc = ops->inv_move(be, tenant_id, &mv, sg_store_tx_now(tx), err);
        if (rc)
            goto out;
        it->changed = true;
        /* Nothing available here means maybe nowhere: check the SKU. */
        m.changed[n_changed++] = (struct changed_ref){
            it->product_id,
            it->on_hand - l->reserved - l->committed <= 0};
    }
    rc = changed_each(tx, tenant_id, m.changed, n_changed, "inventory", err);
    goto out;
refuse:
    *bad_out = i;
out:
    bulk_mem_release(&m);
    return rc;
}

int sg_catalog_prices_set(struct sg_store_tx *tx, int64_t tenant_id,
                          struct sg_price_set *items, size_t n,
                          size_t *bad_out, struct sg_err *err)
{
    const struct sg_catalog_store_ops *ops = tx_ops(tx, err);
    void *be = sg_store_tx_backend(tx);
    struct bulk_mem m;
    size_t n_changed = 0, i = 0;
    int rc = 0;

    *bad_out = 0;
    if (!ops)
        return SG_ECONFIG;
    if (n == 0 || n > SG_CAT_BULK_MAX)
        return sg_err_set(err, SG_EINVAL, "1..%d items per request",
                          SG_CAT_BULK_MAX);
    rc = bulk_mem_alloc(&m, n, false, err);
    if (rc)
        goto out;
    for (i = 0; i < n; i++) {
        struct sg_price_set *it = &items[i];
        struct sg_variant_price *vp = &it->now;
        struct sg_err e;

        it->changed = false;
        if (!it->sku || !it->sku[0] || strlen(it->sku) > SG_CAT_SKU_MAX) {
            rc = sg_err_set(err, SG_EINVAL, "sku must be 1-64 bytes");
            goto refuse;
        }
        rc = ops->variant_price_get(be, tenant_id, it->sku, &m.cur[i], err);
        if (rc == SG_ENOTFOUND)
            sg_err_set(err, SG_ENOTFOUND, "no such SKU: %s", it->sku);
        if (rc)
            goto refuse;
        *vp = m.cur[i];
        sg_err_init(&e);
        if (it->price &&
            (sg_money_parse(&vp->price, it->price, it->price_len,
                            vp->currency, &e) != 0 ||
             vp->price < 0 || vp->price > SG_CAT_PRICE_MAX)) {
            rc = sg_err_set(err, SG_EINVAL, "price: %s",
                            e.msg[0] ? e.msg : "out of range");
            goto refuse;
        }
        if (it->clear_compare_at) {
            vp->compare_at = 0;
        } else if (it->compare_at &&
                   (sg_money_parse(&vp->compare_at, it->compare_at,
                                   it->compare_at_len, vp->currency,
                                   &e) != 0 ||
                    vp->compare_at < 0 ||
                    vp->compare_at > SG_CAT_PRICE_MAX)) {
            rc = sg_err_set(err, SG_EINVAL, "compare_at_price: %s",
                            e.msg[0] ? e.msg : "out of range");
            goto refuse;
        }
        m.refs[i] = (struct dup_ref){NULL, NULL, m.cur[i].variant_id, i};
    }
    mark_dups(m.refs, n, m.dup);
    for (i = 0; i < n; i++) {
        struct sg_price_set *it = &items[i];
        struct sg_variant_price cur = m.cur[i], next;

        /* An earlier item may have changed the same variant: read again. */
        if (m.dup[i]) {
            rc = ops->variant_price_get(be, tenant_id, it->sku, &cur, err);
            if (rc)
                goto out;
        }
        next = cur;
        if (it->price)
            next.price = it->now.price;
        if (it->clear_compare_at || it->compare_at)
            next.compare_at = it->now.compare_at;
        it->now = next;
        if (cur.price == next.price && cur.compare_at == next.compare_at)
            continue;
        rc = ops->variant_price_set(be, tenant_id, &next,
                                    sg_store_tx_now(tx), err);
        if (rc)
            goto out;
        it->changed = true;
        m.changed[n_changed++] = (struct changed_ref){next.product_id, false};
    }
    rc = changed_each(tx, tenant_id, m.changed, n_changed, "price", err);
    goto out;
refuse:
    *bad_out = i;
out:
    bulk_mem_release(&m);
    return rc;
}

enum inv_kind { INV_RESERVE, INV_RELEASE, INV_COMMIT };

/* Lines summed per (sku, location), checked first, then applied. */
static int inv_lines(struct sg_store_tx *tx, int64_t tenant_id,
                     const struct sg_inv_line *lines, size_t n,
                     const char *cause_ref, int kind, struct sg_err *err)
{
    const struct sg_catalog_store_ops *ops = tx_ops(tx, err);
    void *be = sg_store_tx_backend(tx);
    struct sg_inv_line *sum = NULL;
    size_t n_sum = 0;
    int rc = 0;

    if (!ops)
        return SG_ECONFIG;
    if (n == 0 || n > SG_INV_LINES_MAX)
        return sg_err_set(err, SG_EINVAL, "a request has 1..%d lines",
                          SG_INV_LINES_MAX);
    sum = sg_calloc(n, sizeof(*sum));
    if (!sum)
        return sg_err_set(err, SG_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        size_t j;

        rc = check_key(lines[i].sku, lines[i].location, err);
        if (rc)
            goto out;
        if (lines[i].qty <= 0 || lines[i].qty > SG_CAT_QTY_MAX) {
            rc = sg_err_set(err, SG_EINVAL, "line %zu: qty must be 1..%" PRId64,
                            i + 1, SG_CAT_QTY_MAX);
            goto out;
        }
        for (j = 0; j < n_sum; j++)
            if (strcmp(sum[j].sku, lines[i].sku) == 0 &&
                strcmp(sum[j].location, lines[i].location) == 0)
                break;
        if (j == n_sum)
            sum[n_sum++] = lines[i];
        else if (sum[j].qty + lines[i].qty > SG_CAT_QTY_MAX) {
            rc = sg_err_set(err, SG_EINVAL, "%s: quantity too large",
                            lines[i].sku);
            goto out;
        } else
            sum[j].qty += lines[i].qty;
    }
    /* Check every line before touching any: all or nothing. */
    for (size_t i = 0; i < n_sum; i++) {
        struct sg_inv_level l;
        int64_t avail;

        rc = level_get(ops, be, tenant_id, sum[i].sku, sum[i].location, &l,
                       err);
        if (rc)
            goto out;
        avail = l.on_hand - l.reserved - l.committed;
        if (kind == INV_RESERVE && sum[i].qty > avail) {
            rc = sg_err_set(err, SG_ESTATE,
                            "%s at %s: %" PRId64 " requested, %" PRId64
                            " available",
                            sum[i].sku, sum[i].location, sum[i].qty, avail);
            goto out;
        }
        if (kind != INV_RESERVE && sum[i].qty > l.reserved) {
            rc = sg_err_set(err, SG_ESTATE,
                            "%s at %s: %" PRId64 " requested, %" PRId64
                            " reserved",
                            sum[i].sku, sum[i].location, sum[i].qty,
                            l.reserved);
            goto out;
        }
    }
    for (size_t i = 0; i < n_sum; i++) {
        struct sg_inv_move m;

        memset(&m, 0, sizeof(m));
        m.sku = sum[i].sku;
        m.location = sum[i].location;
        m.cause_ref = cause_ref;
        if (kind == INV_RESERVE) {
            m.d_reserved = sum[i].qty;
            m.reason = "reserve";
        } else if (kind == INV_RELEASE) {
            m.d_reserved = -sum[i].qty;
            m.reason = "release";
        } else {
            /* A committed unit has left the shelf: out of on_hand too. */
            m.d_reserved = -sum[i].qty;
            m.d_on_hand = -sum[i].qty;
            m.reason = "commit";
        }
        /* Cannot fail on stock after the checks; any error aborts. */
        rc = ops->inv_move(be, tenant_id, &m, sg_store_tx_now(tx), err);
        if (rc)
            goto out;
    }
out:
    sg_free(sum);
    return rc;
}

int sg_inventory_reserve(struct sg_store_tx *tx, int64_t tenant_id,
                         const struct sg_inv_line *lines, size_t n,
                         const char *cause_ref, struct sg_err *err)
{
    return inv_lines(tx, tenant_id, lines, n, cause_ref, INV_RESERVE, err);
}

int sg_inventory_release(struct sg_store_tx *tx, int64_t tenant_id,
                         const struct sg_inv_line *lines, size_t n,
                         const char *cause_ref, struct sg_err *err)
{
    return inv_lines(tx, tenant_id, lines, n, cause_ref, INV_RELEASE, err);
}

int sg_inventory_commit(struct sg_store_tx *tx, int64_t tenant_id,
                        const struct sg_inv_line *lines, size_t n,
                        const char *cause_ref, struct sg_err *err)
{
    return inv_lines(tx, tenant_id, lines, n, cause_ref, INV_COMMIT, err);
}

/* ---- products ---- */

/*
 * Everything that can refuse a put is checked before anything is written,
 * so a refused put (EINVAL, ENOTFOUND, EEXISTS, ESTATE) changed nothing
 * and the caller may still commit an audit row for it.
 */
static int put_precheck(const struct sg_catalog_store_ops *ops, void *be,
                        const struct sg_product *p, int64_t id,
                        const char *location, struct sg_err *err)
{
    struct sg_product other;
    int rc;

    if (p->id) {
        memset(&other, 0, sizeof(other));
        rc = ops->product_get(be, p->tenant_id, 0, p->handle, &other, err);
        if (rc == 0 && other.id != p->id)
            rc = sg_err_set(err, SG_EEXISTS,
                            "handle %s belongs to product %" PRId64,
                            p->handle, other.id);
        else if (rc == SG_ENOTFOUND)
            rc = 0;
        sg_product_release(&other);
        if (rc)
            return rc;
    }
    for (size_t i = 0; i < p->n_variants; i++) {
        const struct sg_variant *v = &p->variants[i];
        int64_t owner = 0, vid = 0;
        struct sg_inv_level l;

        rc = ops->variant_locate(be, p->tenant_id, 0, v->sku, &owner, &vid,
                                 err);
        if (rc == 0 && owner != id)
            return sg_err_set(err, SG_EEXISTS,
                              "SKU %s already belongs to product %" PRId64,
                              v->sku, owner);
        if (rc && rc != SG_ENOTFOUND)
            return rc;
        if (v->inventory < 0)
            continue;
        rc = check_key(v->sku, location, err);
        if (!rc)
            rc = level_get(ops, be, p->tenant_id, v->sku, location, &l, err);
        if (rc)
            return rc;
        rc = level_floor(&l, v->inventory, v->sku, location, err);
        if (rc)
            return rc;
    }
    if (err)
        sg_err_init(err);
    return 0;
}

int sg_catalog_put(struct sg_store_tx *tx, struct sg_product *p,
                   const char *location, const char *reason,
                   int *outcome_out, struct sg_err *err)
{
    const struct sg_catalog_store_ops *ops = tx_ops(tx, err);
    void *be = sg_store_tx_backend(tx);
    struct sg_product cur;
    bool exists, same, changed = false, inv_changed = false;
    int rc;

    memset(&cur, 0, sizeof(cur));
    *outcome_out = SG_CAT_UNCHANGED;
    if (!ops)
        return SG_ECONFIG;
    rc = sg_product_check(p, NULL, err);
    if (rc)
        return rc;
    rc = ops->product_get(be, p->tenant_id, p->id, p->handle, &cur, err);
    if (rc && rc != SG_ENOTFOUND)
        goto out;
    if (rc == SG_ENOTFOUND && p->id) /* an explicit id must exist */
        goto out;
    exists = rc == 0;
    rc = put_precheck(ops, be, p, exists ? cur.id : 0, location, err);
    if (rc)
        goto out;
    same = false;
    if (exists) {
        /* Out of memory must not read as "changed": that would write,
         * audit and sync a product nobody changed. */
        rc = sg_product_compare(&cur, p, &same);
        if (rc) {
            sg_err_set(err, rc, "out of memory");
            goto out;
        }
    }
    if (!exists || !same) {
        p->id = exists ? cur.id : 0;
        rc = ops->product_put(be, p, sg_store_tx_now(tx), err);
        if (rc)
            goto out;
        changed = true;
    } else {
        /* Same content: report the stored ids back. */
        p->id = cur.id;
        p->created_at = cur.created_at;
        p->updated_at = cur.updated_at;
        for (size_t i = 0; i < p->n_variants && i < cur.n_variants; i++)
            p->variants[i].id = cur.variants[i].id;
    }
    for (size_t i = 0; i < p->n_variants; i++) {
        bool c = false;

        if (p->variants[i].inventory < 0)
            continue;
        rc = sg_inventory_set(tx, p->tenant_id, p->variants[i].sku, location,
                              p->variants[i].inventory,
                              reason ? reason : "import", NULL, &c, err);
        if (rc)
            goto out;
        inv_changed = inv_changed || c;
    }
    if (changed)
        rc = sg_catalog_changed(tx, p->tenant_id, p->id, "product", err);
    if (!rc && inv_changed)
        rc = sg_catalog_changed(tx, p->tenant_id, p->id, "inventory", err);
    if (!rc)
        *outcome_out = !exists ? SG_CAT_CREATED
                       : changed || inv_changed ? SG_CAT_UPDATED
                                                : SG_CAT_UNCHANGED;
out:
    sg_product_release(&cur);
    return rc;
}

int sg_catalog_delete(struct sg_store_tx *tx, int64_t tenant_id, int64_t id,
                      struct sg_err *err)
{
    const struct sg_catalog_store_ops *ops = tx_ops(tx, err);
    int rc;

    if (!ops)
        return SG_ECONFIG;
    rc = ops->product_delete(sg_store_tx_backend(tx), tenant_id, id, err);
    if (!rc)
        rc = sg_catalog_changed(tx, tenant_id, id, "delete", err);
    return rc;
}

int sg_catalog_tx_get(struct sg_store_tx *tx, int64_t tenant_id, int64_t id,
                      struct sg_product *out, struct sg_err *err)
{
    const struct sg_catalog_store_ops *ops = tx_ops(tx, err);

    memset(out, 0, sizeof(*out));
    if (!ops)
        return SG_ECONFIG;
    return ops->product_get(sg_store_tx_backend(tx), tenant_id, id, NULL, out,
                            err);
}

int sg_catalog_tx_locate(struct sg_store_tx *tx, int64_t tenant_id,
                         int64_t variant_id, const char *sku,
                         int64_t *product_id_out, int64_t *variant_id_out,
                         struct sg_err *err)
{
    const struct sg_catalog_store_ops *ops = tx_ops(tx, err);

    if (!ops)
        return SG_ECONFIG;
    return ops->variant_locate(sg_store_tx_backend(tx), tenant_id,
                               variant_id, sku, product_id_out,
                               variant_id_out, err);
}

int sg_catalog_listing_set(struct sg_store_tx *tx, int64_t tenant_id,
                           int64_t product_id, const char *channel,
                           const char *status, const char *reason,
                           struct sg_err *err)
{
    const struct sg_catalog_store_ops *ops = tx_ops(tx, err);
    int rc;

    if (!ops)
        return SG_ECONFIG;
    if (!channel || !channel[0] || strlen(channel) > SG_CAT_CHANNEL_MAX)
        return sg_err_set(err, SG_EINVAL, "channel must be 1-31 bytes");
    if (!status || !status[0] || strlen(status) >= 24)
        return sg_err_set(err, SG_EINVAL, "status must be 1-23 bytes");
    rc = ops->listing_set(sg_store_tx_backend(tx), tenant_id, product_id,
                          channel, status, reason, sg_store_tx_now(tx), err);
    if (!rc)
        rc = sg_catalog_changed(tx, tenant_id, product_id, "listing", err);
    return rc;
}

/* ---- reads ---- */

struct read_arg {
    const struct sg_catalog_store_ops *ops;
    int64_t tenant_id;
    int64_t id;
    int64_t after_id;
    const char *text;
    size_t limit;
    void *out;
    size_t *n_out;
    int64_t *a_out;
    int64_t *b_out;
};

static int rd_get(void *be, void *arg, struct sg_err *err)
{
    struct read_arg *a = arg;

    return a->ops->product_get(be, a->tenant_id, a->id, a->text, a->out,
                               err);
}

static int rd_list(void *be, void *arg, struct sg_err *err)
{
    struct read_arg *a = arg;

    return a->ops->product_list(be, a->tenant_id, a->after_id, a->limit,
                                a->out, a->n_out, err);
}

static int rd_listings(void *be, void *arg, struct sg_err *err)
{
    struct read_arg *a = arg;

    return a->ops->listing_list(be, a->tenant_id, a->id, a->out, a->n_out,
                                err);
}

static int rd_locate(void *be, void *arg, struct sg_err *err)
{
    struct read_arg *a = arg;

    return a->ops->variant_locate(be, a->tenant_id, a->id, a->text, a->a_out,
                                  a->b_out, err);
}

static int rd_levels(void *be, void *arg, struct sg_err *err)
{
    struct read_arg *a = arg;

    return a->ops->inv_levels(be, a->tenant_id, a->text, a->out, a->n_out,
                              err);
}

static int rd_ledger(void *be, void *arg, struct sg_err *err)
{
    struct read_arg *a = arg;

    return a->ops->ledger_list(be, a->tenant_id, a->text, a->after_id,
                               a->limit, a->out, a->n_out, err);
}

static int rd_ledger_net(void *be, void *arg, struct sg_err *err)
{
    struct read_arg *a = arg;

    return a->ops->ledger_net(be, a->tenant_id, a->out, a->after_id, a->text,
                              a->a_out, a->b_out, err);
}

static int read_with(struct sg_store *s, struct read_arg *a,
                     sg_store_read_fn fn, struct sg_err *err)
{
    a->ops = sg_catalog_store_ops(sg_store_backend_name(s));
    if (!a->ops)
        return sg_err_set(err, SG_ECONFIG, "the store backend has no "
                                           "catalog");
    return sg_store_read(s, fn, a, err);
}

int sg_catalog_get(struct sg_store *s, int64_t tenant_id, int64_t id,
                   struct sg_product *out, struct sg_err *err)
{
    struct read_arg a = {.tenant_id = tenant_id, .id = id, .out = out};

    memset(out, 0, sizeof(*out));
    if (id <= 0)
        return sg_err_set(err, SG_ENOTFOUND, "no such product");
    return read_with(s, &a, rd_get, err);
}

int sg_catalog_get_by_handle(struct sg_store *s, int64_t tenant_id,
                             const char *handle, struct sg_product *out,
                             struct sg_err *err)
{
    struct read_arg a = {.tenant_id = tenant_id, .text = handle, .out = out};

    memset(out, 0, sizeof(*out));
    return read_with(s, &a, rd_get, err);
}

int sg_catalog_list(struct sg_store *s, int64_t tenant_id, int64_t after_id,
                    size_t limit, struct sg_product **out, size_t *n_out,
                    struct sg_err *err)
{
    struct read_arg a = {.tenant_id = tenant_id,
                         .after_id = after_id,
                         .limit = limit,
                         .out = out,
                         .n_out = n_out};

    return read_with(s, &a, rd_list, err);
}

int sg_catalog_listings(struct sg_store *s, int64_t tenant_id,
                        int64_t product_id, struct sg_listing **out,
                        size_t *n_out, struct sg_err *err)
{
    struct read_arg a = {
        .tenant_id = tenant_id, .id = product_id, .out = out, .n_out = n_out};

    return read_with(s, &a, rd_listings, err);
}

int sg_catalog_locate(struct sg_store *s, int64_t tenant_id,
                      int64_t variant_id, const char *sku,
                      int64_t *product_id_out, int64_t *variant_id_out,
                      struct sg_err *err)
{
    struct read_arg a = {.tenant_id = tenant_id,
                         .id = variant_id,
                         .text = sku,
                         .a_out = product_id_out,
                         .b_out = variant_id_out};

    return read_with(s, &a, rd_locate, err);
}

int sg_inventory_levels(struct sg_store *s, int64_t tenant_id,
                        const char *sku, struct sg_inv_level **out,
                        size_t *n_out, struct sg_err *err)
{
    struct read_arg a = {
        .tenant_id = tenant_id, .text = sku, .out = out, .n_out = n_out};

    return read_with(s, &a, rd_levels, err);
}

int sg_inventory_ledger_net(struct sg_store *s, int64_t tenant_id,
                            const char *sku, int64_t after_id,
                            const char *prefix, int64_t *net_out,
                            int64_t *last_out, struct sg_err *err)
{
    struct read_arg a = {.tenant_id = tenant_id,
                         .out = (void *)(uintptr_t)sku,
                         .text = prefix,
                         .after_id = after_id,
                         .a_out = net_out,
                         .b_out = last_out};

    *net_out = 0;
    *last_out = after_id < 0 ? 0 : after_id;
    return read_with(s, &a, rd_ledger_net, err);
}

int sg_inventory_ledger(struct sg_store *s, int64_t tenant_id,
                        const char *sku, int64_t after_id, size_t limit,
                        struct sg_ledger_row **out, size_t *n_out,
                        struct sg_err *err)
{
    struct read_arg a = {.tenant_id = tenant_id,
                         .text = sku,
                         .after_id = after_id,
                         .limit = limit,
                         .out = out,
                         .n_out = n_out};

    return read_with(s, &a, rd_ledger, err);
}
