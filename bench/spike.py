#!/usr/bin/env python3
# bench/spike.py - helpers for bench/spike.sh (standard library only).
#
#   spike.py gen PRODUCTS SKUS STOCK LOW OUT.jsonl
#       a catalog of PRODUCTS products with SKUS variants each, valid for
#       the sample TikTok category rules: every other SKU has LOW units
#       (they sell out during the spike: the last units are fought over),
#       the others STOCK.
#   spike.py count DB
#       orders in Surge's store (an order is stored in the same write
#       that reserves its stock or flags it oversold).
#   spike.py figures DB T0_MS
#       per order, from Surge's store: the first TikTok Shop webhook
#       naming it (inbox.received_at) and the ledger row reserving its
#       stock (inventory_ledger.at), both in the engine's milliseconds;
#       prints JSON with the orders reserved, the first and last
#       reservation, latency percentiles and oversold orders and units.
import json
import sqlite3
import sys


def gen(nprod, nsku, stock, low, out):
    sizes = ["S", "M", "L", "XL", "XXL", "3XL", "4XL", "5XL"]
    with open(out, "w") as f:
        for i in range(nprod):
            variants = []
            for k in range(nsku):
                variants.append({
                    "sku": "SP%d-%s" % (i, sizes[k % len(sizes)]),
                    "options": [sizes[k % len(sizes)]],
                    "price": "%d.%02d" % (10 + k, i % 100),
                    "grams": 500,
                    "inventory_quantity": low if (i + k) % 2 else stock})
            f.write(json.dumps({
                "handle": "spike-pan-%d" % i,
                "title": "Spike Pan %d" % i,
                "body_html": "<p>Spike pan %d</p>" % i,
                "category": "Cookware", "status": "active",
                "currency": "USD", "options": ["Size"],
                "package": {"length_mm": 300, "width_mm": 200,
                            "height_mm": 80},
                "attributes": {"Material": "Steel"},
                "images": [{"src": "https://cdn.example/pan%d.jpg" % i}],
                "variants": variants}, separators=(",", ":")) + "\n")


def connect(db):
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=30)
    con.execute("pragma busy_timeout = 30000")
    return con


def count(db):
    con = connect(db)
    n = con.execute("select count(*) from orders").fetchone()[0]
    con.close()
    print(n)


def pct(v, q):
    if not v:
        return 0
    i = (len(v) * q + 99) // 100 - 1
    return v[max(0, min(i, len(v) - 1))]


def figures(db, t0_ms):
    con = connect(db)
    reserved = dict(con.execute(
        "select substr(cause_ref, 19), min(at) from inventory_ledger "
        "where reason = 'reserve' and cause_ref like 'order:tiktok_shop:%' "
        "group by cause_ref"))
    first_wh = dict(con.execute(
        "select json_extract(body, '$.data.order_id'), min(received_at) "
        "from inbox where source = 'tiktok_shop' and json_valid(body) "
        "and json_extract(body, '$.type') = 1 group by 1"))
    lat = sorted(t - first_wh[o] for o, t in reserved.items()
                 if o in first_wh)
    over_orders, over_units = con.execute(
        "select (select count(*) from orders where oversold = 1), "
        "(select coalesce(sum(qty), 0) from order_lines "
        "where inv = 'oversold')").fetchone()
    orders = con.execute("select count(*) from orders").fetchone()[0]
    con.close()
    times = sorted(reserved.values())
    print(json.dumps({
        "orders": orders, "reserved": len(reserved),
        "first_reserved_ms": (times[0] - t0_ms) if times else 0,
        "last_reserved_ms": (times[-1] - t0_ms) if times else 0,
        "latency_samples": len(lat),
        "p50_ms": pct(lat, 50), "p99_ms": pct(lat, 99),
        "max_ms": lat[-1] if lat else 0,
        "oversold_orders": over_orders, "oversold_units": over_units}))


def main(argv):
    cmd = argv[1]
    if cmd == "gen":
        gen(int(argv[2]), int(argv[3]), int(argv[4]), int(argv[5]), argv[6])
    elif cmd == "count":
        count(argv[2])
    elif cmd == "figures":
        figures(argv[2], int(argv[3]))
    else:
        sys.exit("spike.py: unknown command " + cmd)


if __name__ == "__main__":
    main(sys.argv)
