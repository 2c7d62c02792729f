/*
 * fulfil_viral.c - viral mode: when a SKU sells through faster than
 * [viral] sell_through_per_min (units reserved per minute over the
 * window, read from the inventory ledger), every channel is told buffer
 * fewer units than are available, so a burst cannot oversell while the
 * channels catch up; below half the threshold the buffer goes back to 0.
 * A change reaches the channels through sg_catalog_changed in the same
 * write.
 */
#include "core/sg.h"

#include "core/alloc.h"
#include "core/log.h"
#include "features/catalog/catalog.h"
#include "features/orders/fulfil_store.h"
#include "store/store.h"

int sg_viral_evaluate(struct sg_store_tx *tx, const struct sg_viral_opts *o,
                      size_t *changed_out, struct sg_err *err)
{
    const struct sg_fulfil_store_ops *ops =
        sg_fulfil_store_ops(sg_store_backend_name(sg_store_tx_store(tx)));
    void *be = sg_store_tx_backend(tx);
    struct sg_viral_row *rows = NULL;
    int64_t now = sg_store_tx_now(tx), thr, window;
    size_t n = 0;
    int rc;

    *changed_out = 0;
    if (!ops)
        return sg_err_set(err, SG_ECONFIG, "no fulfilment storage");
    if (o->sell_through_per_min == 0)
        return 0;
    window = o->window_ms ? (int64_t)o->window_ms : 60000;
    thr = (int64_t)o->sell_through_per_min * 1000;
    rc = ops->viral_rates(be, now - window, &rows, &n, err);
    for (size_t i = 0; !rc && i < n; i++) {
        struct sg_viral_row *r = &rows[i];
        int64_t units = r->rate_milli, want = r->buffer, pid = 0, vid = 0;

        /* units per minute x 1000 over the window */
        r->rate_milli = units * 60000 * 1000 / window;
        if (r->rate_milli >= thr)
            want = o->buffer_units;
        else if (r->rate_milli * 2 < thr)
            want = 0;
        if (want == r->buffer && want == 0)
            continue;
        if (want != r->buffer) {
            sg_log(SG_LOG_INFO, "viral", "msg=\"buffer %s\" tenant=%" PRId64
                   " sku=%s buffer=%" PRId64 " rate_per_min=%" PRId64
                   ".%03" PRId64, want > r->buffer ? "widened" : "narrowed",
                   r->tenant_id, r->sku, want, r->rate_milli / 1000,
                   r->rate_milli % 1000);
            (*changed_out)++;
            rc = sg_catalog_tx_locate(tx, r->tenant_id, 0, r->sku, &pid,
                                      &vid, err);
            if (!rc)
                rc = sg_catalog_changed(tx, r->tenant_id, pid, "inventory",
                                        err);
            else if (rc == SG_ENOTFOUND) {
                sg_err_init(err);
                rc = 0;
            }
        }
        r->buffer = want;
        if (!rc)
            rc = ops->viral_put(be, r, now, err);
    }
    sg_free(rows);
    return rc;
}

struct rd_viral {
    const struct sg_fulfil_store_ops *ops;
    int64_t tenant_id;
    const char *sku;
    struct sg_viral_row **out;
    size_t *n_out;
};

static int rd_viral(void *be, void *arg, struct sg_err *err)
{
    struct rd_viral *a = arg;

    return a->ops->viral_list(be, a->tenant_id, a->sku, a->out, a->n_out,
                              err);
}

int sg_viral_list(struct sg_store *s, int64_t tenant_id,
                  struct sg_viral_row **out, size_t *n_out,
                  struct sg_err *err)
{
    struct rd_viral a = {.ops = sg_fulfil_store_ops(sg_store_backend_name(s)),
                         .tenant_id = tenant_id, .out = out, .n_out = n_out};

    *out = NULL;
    *n_out = 0;
    if (!a.ops)
        return sg_err_set(err, SG_ECONFIG, "no fulfilment storage");
    return sg_store_read(s, rd_viral, &a, err);
}

int64_t sg_viral_buffer(struct sg_store *s, int64_t tenant_id,
                        const char *sku)
{
    struct sg_viral_row *rows = NULL;
    struct rd_viral a = {.ops = sg_fulfil_store_ops(sg_store_backend_name(s)),
                         .tenant_id = tenant_id, .sku = sku};
    struct sg_err err;
    size_t n = 0;
    int64_t b = 0;

    a.out = &rows;
    a.n_out = &n;
    sg_err_init(&err);
    if (tenant_id <= 0 || !a.ops || sg_store_read(s, rd_viral, &a, &err))
        return 0;
    if (n > 0)
        b = rows[0].buffer;
    sg_free(rows);
    return b;
}
