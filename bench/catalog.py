#!/usr/bin/env python3
# bench/catalog.py - helpers for bench/catalog.sh (standard library only).
#
#   catalog.py gen PRODUCTS SKUS OUT.jsonl
#       a catalog of PRODUCTS products with SKUS variants each, valid for
#       the sample TikTok category rules (Cookware, image, package).
#   catalog.py requests DB CHANGES SEED OUT.txt OUT_BOUND.json
#       reads every variant from Surge's store, draws CHANGES random
#       price (PATCH /api/v1/variants/{id}) or stock (PUT
#       /api/v1/inventory/{sku}) changes, writes them as
#       "METHOD<TAB>PATH<TAB>BODY" lines for wrk, and the lower bound:
#       distinct (product, endpoint) pairs that end the storm different
#       from where they started.
#   catalog.py calls SANDBOX       per-endpoint call counts as JSON
#   catalog.py pending DB          catalog.sync jobs queued or running
#   catalog.py drift DB SANDBOX
#       compares every SKU's price and available stock in Surge with the
#       sandbox; prints {"skus", "drift", "missing", "examples"}.
import json
import random
import sqlite3
import sys
import urllib.request


def surge_variants(db):
    """(variant id, sku, product id, price text, available) per variant,
    read from Surge's SQLite store (USD: two decimals)."""
    con = sqlite3.connect(db, timeout=30)
    rows = con.execute(
        "select v.id, v.sku, v.product_id, v.price, coalesce((select "
        "sum(on_hand - reserved - committed) from inventory_levels l "
        "where l.tenant_id = v.tenant_id and l.sku = v.sku), 0) "
        "from variants v order by v.id").fetchall()
    con.close()
    for vid, sku, pid, cents, avail in rows:
        yield [vid, sku, pid, "%d.%02d" % (cents // 100, cents % 100),
               max(0, avail)]


def gen(nprod, nsku, out):
    sizes = ["S", "M", "L", "XL", "XXL", "3XL", "4XL", "5XL"]
    with open(out, "w") as f:
        for i in range(nprod):
            variants = []
            for k in range(nsku):
                variants.append({
                    "sku": "BP%d-%s" % (i, sizes[k % len(sizes)]),
                    "options": [sizes[k % len(sizes)]],
                    "price": "%d.%02d" % (10 + k, i % 100),
                    "grams": 500, "inventory_quantity": 20 + k})
            f.write(json.dumps({
                "handle": "bench-pan-%d" % i,
                "title": "Bench Pan %d" % i,
                "body_html": "<p>Bench pan %d</p>" % i,
                "category": "Cookware", "status": "active",
                "currency": "USD", "options": ["Size"],
                "package": {"length_mm": 300, "width_mm": 200,
                            "height_mm": 80},
                "attributes": {"Material": "Steel"},
                "images": [{"src": "https://cdn.example/pan%d.jpg" % i}],
                "variants": variants}, separators=(",", ":")) + "\n")


def requests(db, nchanges, seed, out, out_bound):
    rnd = random.Random(seed)
    variants = list(surge_variants(db))
    start = {(v[0], "price"): v[3] for v in variants}
    start.update({(v[0], "stock"): v[4] for v in variants})
    last = {}
    with open(out, "w") as f:
        for _ in range(nchanges):
            v = variants[rnd.randrange(len(variants))]
            if rnd.random() < 0.5:
                price = "%d.%02d" % (rnd.randrange(5, 200),
                                     rnd.randrange(100))
                last[(v[0], "price")] = price
                f.write("PATCH\t/api/v1/variants/%d\t%s\n" % (
                    v[0], json.dumps({"price": price},
                                     separators=(",", ":"))))
            else:
                qty = rnd.randrange(0, 500)
                last[(v[0], "stock")] = qty
                f.write("PUT\t/api/v1/inventory/%s\t%s\n" % (
                    v[1], json.dumps({"on_hand": qty, "reason": "bench"},
                                     separators=(",", ":"))))
    by_variant = {v[0]: v[2] for v in variants}
    changed = {"price": set(), "stock": set()}
    touched = {"price": set(), "stock": set()}
    for (vid, kind), val in last.items():
        touched[kind].add(by_variant[vid])
        if start[(vid, kind)] != val:
            changed[kind].add(by_variant[vid])
    bound = {"variants": len(variants),
             "products_price_changed": len(changed["price"]),
             "products_stock_changed": len(changed["stock"]),
             "products_price_touched": len(touched["price"]),
             "products_stock_touched": len(touched["stock"]),
             "bound_calls": len(changed["price"]) + len(changed["stock"])}
    with open(out_bound, "w") as f:
        json.dump(bound, f)


def calls(sbx):
    with urllib.request.urlopen(sbx + "/sandbox/v1/calls", timeout=60) as r:
        c = json.load(r)["counts"]
    out = {}
    for ep, per in c.items():
        out[ep] = {"total": sum(per.values()),
                   "non_zero": sum(n for code, n in per.items()
                                   if code != "0")}
    print(json.dumps(out, sort_keys=True))


def pending(db):
    con = sqlite3.connect(db, timeout=30)
    n = con.execute("select count(*) from jobs where kind = 'catalog.sync'"
                    " and state in (0, 1)").fetchone()[0]
    con.close()
    print(n)


def drift(db, sbx):
    with urllib.request.urlopen(sbx + "/sandbox/v1/state/skus",
                                timeout=120) as r:
        skus = json.load(r)["skus"]
    remote = {}
    for s in skus:
        if s.get("product_status") == "DELETED":
            continue
        remote[s["seller_sku"]] = (s["price"]["amount"], int(s["stock"]))
    n = bad = missing = 0
    examples = []
    for v in surge_variants(db):
        n += 1
        want = (v[3], v[4])
        have = remote.get(v[1])
        if have is None:
            missing += 1
        elif have != want:
            bad += 1
            if len(examples) < 5:
                examples.append({"sku": v[1], "surge": want,
                                 "tiktok": have})
    print(json.dumps({"skus": n, "drift": bad, "missing": missing,
                      "examples": examples}))


def main(argv):
    cmd = argv[1]
    if cmd == "gen":
        gen(int(argv[2]), int(argv[3]), argv[4])
    elif cmd == "requests":
        requests(argv[2], int(argv[3]), int(argv[4]), argv[5], argv[6])
    elif cmd == "calls":
        calls(argv[2])
    elif cmd == "pending":
        pending(argv[2])
    elif cmd == "drift":
        drift(argv[2], argv[3])
    else:
        sys.exit("catalog.py: unknown command " + cmd)


if __name__ == "__main__":
    main(sys.argv)
