/*
 * fulfil.c - the export of orders ready to ship to the warehouse
 * (notify.http job and optional CSV file, queued in the order's own
 * write so an order is told once), and the shipments the warehouse
 * reports back. A shipment is recorded "pending" and answered after the
 * commit; the engine ships it on the channel and records the answer.
 */
#include "core/sg.h"

#include "core/alloc.h"
#include "core/buf.h"
#include "core/json.h"
#include "core/log.h"
#include "features/catalog/catalog.h"
#include "features/orders/fulfil_store.h"
#include "features/orders/orders_store.h"
#include "store/store.h"

#include <stdio.h>

#define CSV_MAX (256 * 1024)

const struct sg_fulfil_store_ops *sg_fulfil_store_ops(const char *backend)
{
    if (backend && strcmp(backend, sg_fulfil_sqlite_ops.name) == 0)
        return &sg_fulfil_sqlite_ops;
    if (backend && strcmp(backend, sg_fulfil_postgres_ops.name) == 0)
        return &sg_fulfil_postgres_ops;
    return NULL;
}

/* ---- the model ---- */

void sg_shipment_release(struct sg_shipment *s)
{
    if (!s)
        return;
    sg_free(s->lines);
    sg_free(s->line_ids);
    memset(s, 0, sizeof(*s));
}

void sg_shipment_list_free(struct sg_shipment *s, size_t n)
{
    for (size_t i = 0; s && i < n; i++)
        sg_shipment_release(&s[i]);
    sg_free(s);
}

json_t *sg_shipment_to_json(const struct sg_shipment *s)
{
    json_t *lines = NULL;

    if (s->lines)
        sg_json_parse(&lines, s->lines, strlen(s->lines), 8, NULL, NULL);
    return json_pack("{s:I,s:I,s:s,s:s,s:s,s:I,s:o,s:s,s:s,s:s,s:i,s:I,"
                     "s:I}",
                     "shipment_id", (json_int_t)s->id, "order_id",
                     (json_int_t)s->order_id, "channel_order_id",
                     s->channel_order_id, "carrier", s->carrier,
                     "tracking_number", s->tracking_number,
                     "package_weight_g", (json_int_t)s->weight_g, "lines",
                     lines ? lines : json_array(), "package_id",
                     s->package_id, "status", s->status, "error", s->error,
                     "attempts", s->attempts, "created_at",
                     (json_int_t)s->created_at, "updated_at",
                     (json_int_t)s->updated_at);
}

static const struct sg_fulfil_store_ops *tx_fops(struct sg_store_tx *tx,
                                                 struct sg_err *err)
{
    const struct sg_fulfil_store_ops *ops =
        sg_fulfil_store_ops(sg_store_backend_name(sg_store_tx_store(tx)));

    if (!ops)
        sg_err_set(err, SG_ECONFIG, "the store backend has no fulfilment");
    return ops;
}

static const struct sg_orders_store_ops *tx_oops(struct sg_store_tx *tx,
                                                 struct sg_err *err)
{
    const struct sg_orders_store_ops *ops =
        sg_orders_store_ops(sg_store_backend_name(sg_store_tx_store(tx)));

    if (!ops)
        sg_err_set(err, SG_ECONFIG, "the store backend has no orders");
    return ops;
}

/* ---- export ---- */

static bool line_open(const struct sg_order_line *l)
{
    return l->inv == SG_LINE_RESERVED && strcmp(l->status, "CANCELLED") != 0;
}

/*
 * The open lines of o grouped by SKU: [{"sku","quantity","name"}]; NULL
 * when out of memory. Every set and append is checked: the D5 sweep saw
 * a failed one leave a line out (or its quantity short) and the export
 * still go to the warehouse, or, for a one-line order, no export at all
 * reported as success.
 */
static json_t *open_lines(const struct sg_order *o)
{
    json_t *arr = json_array();

    for (size_t i = 0; arr && i < o->n_lines; i++) {
        const struct sg_order_line *l = &o->lines[i];
        json_t *e = NULL, *v;
        size_t k;
        int rc;

        if (!line_open(l))
            continue;
        json_array_foreach(arr, k, v)
            if (strcmp(sg_json_str(v, "sku"), l->sku) == 0)
                e = v;
        if (e)
            rc = json_object_set_new(
                e, "quantity",
                json_integer(sg_json_int(e, "quantity", 0) + l->qty));
        else
            rc = json_array_append_new(
                arr, json_pack("{s:s,s:I,s:s}", "sku", l->sku, "quantity",
                               (json_int_t)l->qty, "name",
                               l->product_name ? l->product_name : ""));
        if (rc) {
            json_decref(arr);
            arr = NULL;
        }
    }
    return arr;
}

static json_t *address_json(const struct sg_order *o)
{
    return json_pack("{s:s,s:s,s:s,s:s,s:s}", "name",
                     o->recipient_name ? o->recipient_name : "", "phone",
                     o->recipient_phone ? o->recipient_phone : "",
                     "full_address", o->address ? o->address : "", "region",
                     o->region, "postal_code", o->postal_code);
}

static int export_job(struct sg_store_tx *tx, const struct sg_order *o,
                      const struct sg_fulfil_opts *opts, const char *event,
                      json_t *lines, struct sg_err *err)
{
    const char *url = opts->warehouse_url && opts->warehouse_url[0]
                          ? opts->warehouse_url
                          : NULL;
    json_t *payload;
    char *text, idem[96];
    struct sg_job job;
    int64_t id = 0;
    bool coalesced = false;
    int rc;

    payload = json_pack("{s:s,s:{s:I,s:s,s:s,s:O,s:o}}", "event", event,
                        "data", "order_id", (json_int_t)o->id,
                        "channel_order_id", o->channel_order_id, "status",
                        sg_order_status_name(o->status), "lines", lines,
                        "address", address_json(o));
    /*
     * Checked: without its "url" the job would go to [notify] url, not
     * the warehouse (the D5 sweep saw that reported as success).
     */
    if (payload && url &&
        json_object_set_new(payload, "url", json_string(url)) != 0) {
        json_decref(payload);
        payload = NULL;
    }
    text = payload ? sg_json_dump(payload, NULL) : NULL;
    json_decref(payload);
    if (!text)
        return sg_err_set(err, SG_ENOMEM, "out of memory");
    memset(&job, 0, sizeof(job));
    job.tenant_id = o->tenant_id;
    snprintf(job.kind, sizeof(job.kind), "notify.http");
    snprintf(idem, sizeof(idem), "%s-%" PRId64 "-%" PRId64, event, o->id,
             o->version);
    job.idempotency_key = idem;
    job.payload = text;
    job.attempts_max = opts->attempts_max > 0 ? opts->attempts_max : 10;
    /* Parcels wait on this export: it goes before queued notices. */
    job.priority = SG_FULFIL_EXPORT_PRIO;
    snprintf(job.platform, sizeof(job.platform), "notify");
    snprintf(job.endpoint_class, sizeof(job.endpoint_class), "http");
    rc = sg_store_tx_job_enqueue(tx, &job, &id, &coalesced, err);
    sg_free(text);
    return rc;
}

static int csv_field(struct sg_buf *b, const char *s)
{
    int rc = sg_buf_appends(b, "\"");

    for (; !rc && s && *s; s++) {
        if (*s == '"')
            rc = sg_buf_appends(b, "\"");
        if (!rc)
            rc = sg_buf_append(b, s, 1);
    }
    return rc ? rc : sg_buf_appends(b, "\"");
}

/*
 * One CSV file per export, written whole (tmp + rename), so a warehouse
 * that picks up *.csv never reads half a file. Written before the commit:
 * a failed write rewrites the same name, so the drop is at-least-once.
 * A file that cannot be written is logged; running out of memory while
 * building it is the caller's error (the order's write is retried), so a
 * file with rows missing is never dropped (every append used to go
 * unchecked; seen while fixing the export's lines for D5).
 */
static int csv_drop(const char *dir, const struct sg_order *o,
                    const char *event, struct sg_err *err)
{
    char path[1024], tmp[1040];
    struct sg_buf b;
    FILE *f;
    bool ok;
    int rc;

    sg_buf_init(&b, CSV_MAX);
    rc = sg_buf_appends(&b, "event,order_id,channel_order_id,sku,quantity,"
                            "name,recipient,phone,address,region,"
                            "postal_code\n");
    for (size_t i = 0; !rc && i < o->n_lines; i++) {
        const struct sg_order_line *l = &o->lines[i];

        if (!line_open(l))
            continue;
        rc = sg_buf_printf(&b, "%s,%" PRId64 ",", event, o->id);
        if (!rc)
            rc = csv_field(&b, o->channel_order_id);
        if (!rc)
            rc = sg_buf_appends(&b, ",");
        if (!rc)
            rc = csv_field(&b, l->sku);
        if (!rc)
            rc = sg_buf_printf(&b, ",%" PRId64 ",", l->qty);
        if (!rc)
            rc = csv_field(&b, l->product_name);
        if (!rc)
            rc = sg_buf_appends(&b, ",");
        if (!rc)
            rc = csv_field(&b, o->recipient_name);
        if (!rc)
            rc = sg_buf_appends(&b, ",");
        if (!rc)
            rc = csv_field(&b, o->recipient_phone);
        if (!rc)
            rc = sg_buf_appends(&b, ",");
        if (!rc)
            rc = csv_field(&b, o->address);
        if (!rc)
            rc = sg_buf_appends(&b, ",");
        if (!rc)
            rc = csv_field(&b, o->region);
        if (!rc)
            rc = sg_buf_appends(&b, ",");
        if (!rc)
            rc = csv_field(&b, o->postal_code);
        if (!rc)
            rc = sg_buf_appends(&b, "\n");
    }
    if (rc == SG_ELIMIT) {
        /* Too big to drop whole: say so, never drop part of it. */
        sg_log(SG_LOG_WARN, "fulfil", "msg=\"csv drop skipped: over %d "
               "bytes\" order=%" PRId64, CSV_MAX, o->id);
        rc = 0;
        goto out;
    }
    if (rc) {
        sg_buf_release(&b);
        return sg_err_set(err, rc, "warehouse CSV: %s", sg_err_name(rc));
    }
    snprintf(path, sizeof(path), "%s/%s-%" PRId64 "-%" PRId64 ".csv", dir,
             event, o->id, o->version);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    f = fopen(tmp, "w");
    ok = f && fwrite(b.data, 1, b.len, f) == b.len;
    if (f)
        ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        sg_log(SG_LOG_WARN, "fulfil", "msg=\"csv drop failed\" order=%" PRId64
               " dir=\"%s\"", o->id, dir);
        (void)remove(tmp);
    }
out:
    sg_buf_release(&b);
    return rc;
}

/* Hand every product of the order's lines to the channel outbox. */
static int lines_changed(struct sg_store_tx *tx, const struct sg_order *o,
                         struct sg_err *err)
{
    int rc = 0;

    for (size_t i = 0; i < o->n_lines && !rc; i++) {
        int64_t pid = 0, vid = 0;
        bool dup = false;

        for (size_t k = 0; k < i && !dup; k++)
            dup = strcmp(o->lines[k].sku, o->lines[i].sku) == 0;
        if (dup)
            continue;
        rc = sg_catalog_tx_locate(tx, o->tenant_id, 0, o->lines[i].sku, &pid,
                                  &vid, err);
        if (rc == SG_ENOTFOUND) {
            sg_err_init(err);
            rc = 0;
            continue;
        }
        if (!rc)
            rc = sg_catalog_changed(tx, o->tenant_id, pid, "inventory", err);
    }
    return rc;
}

int sg_fulfil_after_apply(struct sg_store_tx *tx, const struct sg_order *o,
                          const struct sg_fulfil_opts *opts,
                          struct sg_err *err)
{
    const struct sg_fulfil_store_ops *ops = tx_fops(tx, err);
    void *be = sg_store_tx_backend(tx);
    bool url = (opts->warehouse_url && opts->warehouse_url[0]) ||
               (opts->notify_url && opts->notify_url[0]);
    const char *event = NULL;
    char *old = NULL;
    json_t *lines;
    int rc = 0;

    if (!ops)
        return SG_ECONFIG;
    /*
     * The channel the order came from already counted its units, so a new
     * reservation or a shipment is not pushed back to it: an absolute
     * quantity computed before in-flight orders are ingested would raise
     * the channel's count and invite overselling (seen in surge demo).
     * The channel also restocks its own count when it cancels an order.
     * Only an oversold order (the channel's count is wrong) is pushed.
     * Other channels will get every change once there are any.
     */
    if (o->oversold)
        rc = lines_changed(tx, o, err);
    if (rc)
        return rc;
    if (o->oversold || (o->status != SG_ORD_AWAITING_SHIPMENT &&
                        o->status != SG_ORD_PARTIALLY_SHIPPING))
        return 0;
    rc = ops->export_get(be, o->id, &old, err);
    if (rc == SG_ENOTFOUND) {
        event = "order.ready_to_ship";
        sg_err_init(err);
        rc = 0;
    } else if (rc)
        return rc;
    else if (strcmp(old, o->address ? o->address : "") != 0)
        event = "order.address_changed";
    sg_free(old);
    if (!event)
        return 0;
    lines = open_lines(o);
    if (!lines)
        return sg_err_set(err, SG_ENOMEM, "out of memory");
    if (json_array_size(lines) == 0) {
        json_decref(lines);
        return 0;
    }
    if (url)
        rc = export_job(tx, o, opts, event, lines, err);
    json_decref(lines);
    if (!rc && opts->csv_dir && opts->csv_dir[0])
        rc = csv_drop(opts->csv_dir, o, event, err);
    if (!rc)
        rc = ops->export_put(be, o->tenant_id, o->id, o->address,
                             sg_store_tx_now(tx), err);
    if (!rc)
        sg_log(SG_LOG_INFO, "fulfil", "msg=\"exported to the warehouse\" "
               "order=%" PRId64 " event=%s", o->id, event);
    return rc;
}

/* ---- shipments ---- */

static bool text_ok(const char *s, size_t max)
{
    size_t n = s ? strlen(s) : 0;

    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x21 || s[i] == ',' || s[i] == 0x7f)
            return false;
    return true;
}

/* Is channel line id in the comma-separated list? */
static bool in_list(const char *list, const char *id)
{
    size_t n = strlen(id);

    for (const char *p = list; p && *p;) {
        const char *c = strchr(p, ',');
        size_t len = c ? (size_t)(c - p) : strlen(p);

        if (len == n && strncmp(p, id, n) == 0)
            return true;
        p = c ? c + 1 : NULL;
    }
    return false;
}

struct pick {
    bool *take;
    struct sg_buf busy; /* line ids in other live shipments */
};

static int busy_lines(const struct sg_fulfil_store_ops *ops, void *be,
                      const struct sg_order *o, struct sg_buf *busy,
                      struct sg_err *err)
{
    struct sg_shipment *rows = NULL;
    size_t n = 0;
    int rc = ops->ship_list(be, o->tenant_id, o->id, NULL, 0,
                            SG_FULFIL_LIST_MAX, &rows, &n, err);

    for (size_t i = 0; !rc && i < n; i++)
        if (strcmp(rows[i].status, "failed") != 0 &&
            (sg_buf_appends(busy, rows[i].line_ids) != 0 ||
             sg_buf_appends(busy, ",") != 0))
            rc = sg_err_set(err, SG_ENOMEM, "out of memory");
    sg_shipment_list_free(rows, n);
    return rc;
}

static int choose(const struct sg_order *o, const struct sg_ship_req *req,
                  struct pick *p, struct sg_err *err)
{
    size_t any = 0;

    for (size_t i = 0; i < o->n_lines; i++) {
        const struct sg_order_line *l = &o->lines[i];

        p->take[i] = line_open(l) && !in_list(p->busy.data,
                                              l->channel_line_id) &&
                     !req->lines;
        any += p->take[i];
    }
    for (size_t r = 0; req->lines && r < req->n_lines; r++) {
        int64_t want = req->lines[r].qty;

        for (size_t i = 0; i < o->n_lines && want > 0; i++) {
            const struct sg_order_line *l = &o->lines[i];

            if (p->take[i] || strcmp(l->sku, req->lines[r].sku) != 0 ||
                !line_open(l) || in_list(p->busy.data, l->channel_line_id))
                continue;
            p->take[i] = true;
            want -= l->qty;
            any++;
        }
        if (want > 0)
            return sg_err_set(err, SG_ESTATE, "lines: %s has fewer open "
                              "units than %" PRId64, req->lines[r].sku,
                              req->lines[r].qty);
    }
    if (any == 0)
        return sg_err_set(err, SG_ESTATE, "the order has no line left to "
                          "ship");
    return 0;
}

static int fill_shipment(struct sg_shipment *s, const struct sg_order *o,
                         const struct sg_ship_req *req, const bool *take,
                         struct sg_err *err)
{
    struct sg_order tmp = *o;
    struct sg_order_line *sel;
    struct sg_buf ids;
    json_t *lines;
    size_t n = 0;
    bool same_pkg = true;
    const char *pkg = NULL;
    int rc = 0;

    sel = sg_calloc(o->n_lines + 1, sizeof(*sel));
    if (!sel)
        return sg_err_set(err, SG_ENOMEM, "out of memory");
    sg_buf_init(&ids, (size_t)SG_ORD_LINES_MAX * (SG_ORD_ID_MAX + 1));
    for (size_t i = 0; i < o->n_lines; i++) {
        if (!take[i])
            continue;
        sel[n++] = o->lines[i];
        if ((ids.len && sg_buf_appends(&ids, ",") != 0) ||
            sg_buf_appends(&ids, o->lines[i].channel_line_id) != 0)
            rc = sg_err_set(err, SG_ENOMEM, "out of memory");
        if (!pkg)
            pkg = o->lines[i].package_id;
        else if (strcmp(pkg, o->lines[i].package_id) != 0)
            same_pkg = false;
    }
    tmp.lines = sel;
    tmp.n_lines = n;
    lines = open_lines(&tmp);
    memset(s, 0, sizeof(*s));
    s->tenant_id = o->tenant_id;
    s->order_id = o->id;
    snprintf(s->channel_order_id, sizeof(s->channel_order_id), "%s",
             o->channel_order_id);
    snprintf(s->shop_id, sizeof(s->shop_id), "%s", o->shop_id);
    snprintf(s->carrier, sizeof(s->carrier), "%s", req->carrier);
    snprintf(s->tracking_number, sizeof(s->tracking_number), "%s",
             req->tracking_number);
    s->weight_g = req->weight_g;
    /* Lines already packed together (split, combined) ship as that one
     * package; otherwise the channel makes a package of them. */
    if (same_pkg && pkg && pkg[0])
        snprintf(s->package_id, sizeof(s->package_id), "%s", pkg);
    s->lines = lines ? sg_json_dump(lines, NULL) : NULL;
    s->line_ids = ids.data ? sg_strdup(ids.data) : NULL;
    if (!rc && (!s->lines || !s->line_ids))
        rc = sg_err_set(err, SG_ENOMEM, "out of memory");
    json_decref(lines);
    sg_buf_release(&ids);
    sg_free(sel);
    return rc;
}

int sg_shipment_create(struct sg_store_tx *tx, int64_t tenant_id,
                       const struct sg_ship_req *req,
                       struct sg_shipment *out, bool *created_out,
                       struct sg_err *err)
{
    const struct sg_fulfil_store_ops *ops = tx_fops(tx, err);
    const struct sg_orders_store_ops *oops = tx_oops(tx, err);
    void *be = sg_store_tx_backend(tx);
    struct sg_order o;
    struct pick p = {0};
    int rc;

    memset(out, 0, sizeof(*out));
    memset(&o, 0, sizeof(o));
    *created_out = false;
    if (!ops || !oops)
        return SG_ECONFIG;
    if (!text_ok(req->tracking_number, SG_SHIP_TRACKING_MAX))
        return sg_err_set(err, SG_EINVAL, "tracking_number: 1-64 printable "
                          "bytes without spaces or commas");
    if (!req->carrier || !req->carrier[0] ||
        strlen(req->carrier) > SG_SHIP_CARRIER_MAX)
        return sg_err_set(err, SG_EINVAL, "carrier: 1-64 bytes");
    if (req->weight_g < 0 || req->weight_g > INT64_C(1000000000))
        return sg_err_set(err, SG_EINVAL, "package_weight_g: 0..1000000000");
    if (req->n_lines > SG_SHIP_LINES_MAX)
        return sg_err_set(err, SG_EINVAL, "lines: at most %d",
                          SG_SHIP_LINES_MAX);
    for (size_t i = 0; req->lines && i < req->n_lines; i++)
        if (!req->lines[i].sku || !req->lines[i].sku[0] ||
            req->lines[i].qty <= 0 || req->lines[i].qty > SG_ORD_LINES_MAX)
            return sg_err_set(err, SG_EINVAL, "lines[%zu]: sku and a "
                              "quantity 1..%d are required", i,
                              SG_ORD_LINES_MAX);
    rc = oops->order_get(be, tenant_id, req->order_id,
                         req->order_id ? NULL : "tiktok_shop",
                         req->order_id ? NULL : req->channel_order_id, &o,
                         err);
    if (rc == SG_ENOTFOUND || (!rc && o.tenant_id != tenant_id)) {
        rc = sg_err_set(err, SG_ENOTFOUND, "no such order");
        goto out;
    }
    if (rc)
        goto out;
    rc = ops->ship_get(be, 0, tenant_id, o.id, req->tracking_number, out,
                       err);
    if (rc != SG_ENOTFOUND)
        goto out; /* the same shipment again, or an error */
    sg_err_init(err);
    if (o.status != SG_ORD_AWAITING_SHIPMENT &&
        o.status != SG_ORD_PARTIALLY_SHIPPING) {
        rc = sg_err_set(err, SG_ESTATE, "order %" PRId64 " is %s", o.id,
                        sg_order_status_name(o.status));
        goto out;
    }
    p.take = sg_calloc(o.n_lines + 1, sizeof(*p.take));
    sg_buf_init(&p.busy, (size_t)SG_FULFIL_LIST_MAX * SG_ORD_LINES_MAX * 24);
    if (!p.take || sg_buf_appends(&p.busy, ",") != 0) {
        rc = sg_err_set(err, SG_ENOMEM, "out of memory");
        goto out;
    }
    rc = busy_lines(ops, be, &o, &p.busy, err);
    if (!rc)
        rc = choose(&o, req, &p, err);
    if (!rc)
        rc = fill_shipment(out, &o, req, p.take, err);
    if (!rc)
        rc = ops->ship_insert(be, out, sg_store_tx_now(tx), err);
    if (!rc)
        *created_out = true;
out:
    sg_free(p.take);
    sg_buf_release(&p.busy);
    sg_order_release(&o);
    return rc;
}

int sg_shipment_result(struct sg_store_tx *tx, int64_t id, const char *status,
                       const char *package_id, const char *error,
                       struct sg_err *err)
{
    const struct sg_fulfil_store_ops *ops = tx_fops(tx, err);

    if (!ops)
        return SG_ECONFIG;
    return ops->ship_result(sg_store_tx_backend(tx), id, status, package_id,
                            error, sg_store_tx_now(tx), err);
}

struct rd_ship {
    const struct sg_fulfil_store_ops *ops;
    int64_t tenant_id, order_id, after_id;
    const char *status;
    size_t limit;
    struct sg_shipment **out;
    size_t *n_out;
};

static int rd_ship_list(void *be, void *arg, struct sg_err *err)
{
    struct rd_ship *a = arg;

    return a->ops->ship_list(be, a->tenant_id, a->order_id, a->status,
                             a->after_id, a->limit, a->out, a->n_out, err);
}

int sg_shipments_list(struct sg_store *s, int64_t tenant_id, int64_t order_id,
                      const char *status, int64_t after_id, size_t limit,
                      struct sg_shipment **out, size_t *n_out,
                      struct sg_err *err)
{
    struct rd_ship a = {.ops = sg_fulfil_store_ops(sg_store_backend_name(s)),
                        .tenant_id = tenant_id, .order_id = order_id,
                        .after_id = after_id, .status = status,
                        .limit = limit, .out = out, .n_out = n_out};

    *out = NULL;
    *n_out = 0;
    if (!a.ops)
        return sg_err_set(err, SG_ECONFIG, "the store backend has no "
                          "fulfilment");
    return sg_store_read(s, rd_ship_list, &a, err);
}
