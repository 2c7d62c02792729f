#!/usr/bin/env python3
# bench/catalog.py - helpers for bench/catalog.sh (standard library only).
#
#   catalog.py gen PRODUCTS SKUS OUT.jsonl
#       a catalog of PRODUCTS products with SKUS variants each, valid for
#       the sample TikTok category rules (Cookware, image, package).
#   catalog.py snapshot DB OUT.json
#       every variant's product, SKU, price and available stock, read from
#       Surge's store (what TikTok must end up holding).
#   catalog.py plan SNAPSHOT.json CHANGES SEED STORM_S OUT.json
#       CHANGES random changes (half prices, half stock levels) of random
#       SKUs, each with the moment of the storm it is due at (spread
#       evenly over STORM_S seconds).
#   catalog.py storm API KEY PLAN.json CONNS OUT.json
#       replays the plan through the bulk admin API (PUT /api/v1/prices
#       and PUT /api/v1/inventory) on CONNS keep-alive connections, each
#       owning the products whose id % CONNS is its number (so one
#       product's changes stay in order); every request carries what has
#       come due since the connection's last one (at most 1000 items).
#   catalog.py bound BEFORE.json AFTER.json QPS STORM_S OUT.json
#       the lower bounds (see bench/catalog.sh) from the snapshots taken
#       before and after the storm.
#   catalog.py calls SANDBOX       per-endpoint call counts as JSON
#   catalog.py pending DB          catalog.sync jobs queued or running
#   catalog.py converge DB TIMEOUT_S
#       polls (every 100 ms) until no catalog.sync job is queued or
#       running; exit status 1 on timeout.
#   catalog.py drift DB SANDBOX
#       compares every SKU's price and available stock in Surge with the
#       sandbox; prints {"skus", "drift", "missing", "examples"}.
import http.client
import json
import random
import sqlite3
import sys
import threading
import time
import urllib.parse
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


def snapshot(db, out):
    with open(out, "w") as f:
        json.dump([v[1:] for v in surge_variants(db)], f)


def plan(snap, nchanges, seed, storm_s, out):
    rnd = random.Random(seed)
    variants = json.load(open(snap))
    changes = []
    for i in range(nchanges):
        sku, pid = variants[rnd.randrange(len(variants))][:2]
        t = storm_s * i / nchanges
        if rnd.random() < 0.5:
            price = "%d.%02d" % (rnd.randrange(5, 200), rnd.randrange(100))
            changes.append([t, pid, "price", {"sku": sku, "price": price}])
        else:
            changes.append([t, pid, "stock",
                            {"sku": sku, "on_hand": rnd.randrange(0, 500),
                             "reason": "bench"}])
    with open(out, "w") as f:
        json.dump(changes, f)


def storm(api, key, plan_file, conns, out):
    changes = json.load(open(plan_file))
    u = urllib.parse.urlparse(api)
    shards = [[c for c in changes if c[1] % conns == k]
              for k in range(conns)]
    hdr = {"Authorization": "Bearer " + key,
           "Content-Type": "application/json"}
    lock = threading.Lock()
    st = {"requests": 0, "items": 0, "non_2xx": 0, "errors": [],
          "latency_ms": [], "last_ack": 0.0}

    def run(k):
        c = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
        todo, i = shards[k], 0
        while i < len(todo):
            now = time.monotonic() - t0
            j = i
            while j < len(todo) and todo[j][0] <= now and j - i < 1000:
                j += 1
            if j == i:
                time.sleep(min(0.005, max(0.0, todo[i][0] - now)))
                continue
            batch, i = todo[i:j], j
            for kind, path in (("price", "/api/v1/prices"),
                               ("stock", "/api/v1/inventory")):
                items = [b[3] for b in batch if b[2] == kind]
                if not items:
                    continue
                t1 = time.monotonic()
                c.request("PUT", path, json.dumps({"items": items}), hdr)
                r = c.getresponse()
                body = r.read()
                t2 = time.monotonic()
                with lock:
                    st["requests"] += 1
                    st["latency_ms"].append((t2 - t1) * 1000)
                    st["last_ack"] = max(st["last_ack"], t2 - t0)
                    if r.status // 100 == 2:
                        st["items"] += len(items)
                    else:
                        st["non_2xx"] += 1
                        if len(st["errors"]) < 5:
                            st["errors"].append(body[:200].decode(
                                "utf-8", "replace"))
        c.close()

    t0 = time.monotonic()
    threads = [threading.Thread(target=run, args=(k,)) for k in range(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lat = sorted(st["latency_ms"]) or [0.0]
    doc = {"changes": len(changes), "acknowledged": st["items"],
           "requests": st["requests"], "non_2xx": st["non_2xx"],
           "errors": st["errors"], "seconds": st["last_ack"],
           "changes_per_s": st["items"] / st["last_ack"]
           if st["last_ack"] else 0.0,
           "request_p50_ms": lat[len(lat) // 2],
           "request_p99_ms": lat[min(len(lat) - 1, len(lat) * 99 // 100)]}
    with open(out, "w") as f:
        json.dump(doc, f)


def bound(before_f, after_f, qps, storm_s, out):
    before = {v[0]: v for v in json.load(open(before_f))}
    after = json.load(open(after_f))
    price, stock = set(), set()
    for sku, pid, p, avail in after:
        b = before.get(sku)
        if b is None or b[2] != p:
            price.add(pid)
        if b is None or b[3] != avail:
            stock.add(pid)
    burst = qps
    conv = max(storm_s, max(0, len(price) - burst) / qps,
               max(0, len(stock) - burst) / qps)
    doc = {"products_price_changed": len(price),
           "products_stock_changed": len(stock),
           "bound_calls": len(price) + len(stock),
           "convergence_bound_s": conv}
    with open(out, "w") as f:
        json.dump(doc, f)


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


def converge(db, timeout_s):
    con = sqlite3.connect(db, timeout=30)
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        n = con.execute("select count(*) from jobs where kind = "
                        "'catalog.sync' and state in (0, 1)").fetchone()[0]
        if n == 0:
            con.close()
            return
        time.sleep(0.1)
    con.close()
    sys.exit(1)


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
    elif cmd == "snapshot":
        snapshot(argv[2], argv[3])
    elif cmd == "plan":
        plan(argv[2], int(argv[3]), int(argv[4]), float(argv[5]), argv[6])
    elif cmd == "storm":
        storm(argv[2], argv[3], argv[4], int(argv[5]), argv[6])
    elif cmd == "bound":
        bound(argv[2], argv[3], float(argv[4]), float(argv[5]), argv[6])
    elif cmd == "calls":
        calls(argv[2])
    elif cmd == "pending":
        pending(argv[2])
    elif cmd == "converge":
        converge(argv[2], float(argv[3]))
    elif cmd == "drift":
        drift(argv[2], argv[3])
    else:
        sys.exit("catalog.py: unknown command " + cmd)


if __name__ == "__main__":
    main(sys.argv)
