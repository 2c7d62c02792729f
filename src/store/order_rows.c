/*
 * order_rows.c - releasing an order (features/orders/orders.h). It lives
 * in the store library, the lowest one that holds an order, so both
 * backends' row readers and the orders feature free an order the same
 * way: the store's own copies had drifted from the feature's (one
 * zeroed the struct, one did not).
 */
#include "core/sg.h"

#include "core/alloc.h"
#include "features/orders/orders.h"

void sg_order_line_release(struct sg_order_line *l)
{
    if (!l)
        return;
    sg_free(l->product_name);
    l->product_name = NULL;
}

void sg_order_release(struct sg_order *o)
{
    if (!o)
        return;
    sg_free(o->buyer_email);
    sg_free(o->buyer_nickname);
    sg_free(o->recipient_name);
    sg_free(o->recipient_phone);
    sg_free(o->address);
    sg_free(o->package_ids);
    for (size_t i = 0; o->lines && i < o->n_lines; i++)
        sg_order_line_release(&o->lines[i]);
    sg_free(o->lines);
    memset(o, 0, sizeof(*o));
}

void sg_order_list_free(struct sg_order *os, size_t n)
{
    for (size_t i = 0; os && i < n; i++)
        sg_order_release(&os[i]);
    sg_free(os);
}
