#!/usr/bin/env bash
# bench/catalog: publish a catalog to TikTok Shop (surge sandbox limited
# to BENCH_CATALOG_QPS per endpoint), then a storm of random price and
# stock changes through the admin API, and measure:
#   - calls made against the lower bound: the distinct (product, endpoint)
#     pairs whose final value differs from where the storm started (one
#     prices/update or inventory/update call each is the least that can
#     converge); target <= 1.05 x bound;
#   - time to convergence (storm start until no catalog.sync job is left)
#     against the rate-limit bound max(storm duration, busiest endpoint's
#     bound / QPS); target <= 1.1 x bound;
#   - drift at the end: every SKU's price and stock compared between Surge
#     and the sandbox; target 0.
# Knobs (full scale of issue #4: 10000 products x 3 SKUs, 100000 changes
# over 10 s): BENCH_CATALOG_PRODUCTS (default 1000), BENCH_CATALOG_SKUS (3),
# BENCH_CATALOG_CHANGES (10000), BENCH_CATALOG_STORM_S (10),
# BENCH_CATALOG_QPS (50), BENCH_CATALOG_CONNS (16),
# BENCH_CATALOG_TIMEOUT_S (1200).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
NPROD=${BENCH_CATALOG_PRODUCTS:-1000}
NSKU=${BENCH_CATALOG_SKUS:-3}
NCHG=${BENCH_CATALOG_CHANGES:-10000}
STORM_S=${BENCH_CATALOG_STORM_S:-10}
QPS=${BENCH_CATALOG_QPS:-50}
SCONNS=${BENCH_CATALOG_CONNS:-16}
TIMEOUT_S=${BENCH_CATALOG_TIMEOUT_S:-1200}
PY="python3 $ROOT/bench/catalog.py"

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", b - a}'; }

# ---- the sandbox, limited to QPS per app + shop + endpoint ----
SBX_PORT=$(free_port)
cat > "$WORK/sandbox.json" <<CONF
{"listen": "127.0.0.1:$SBX_PORT", "threads": 2, "rate_qps": $QPS,
 "audit_delay_ms": 0, "seed": 42}
CONF
"$SURGE" sandbox --config "$WORK/sandbox.json" --log-level warn \
  > "$WORK/sandbox.out" 2> "$WORK/sandbox.err" & PIDS+=($!)
SBX=http://127.0.0.1:$SBX_PORT
wait_http "$SBX/sandbox/v1/info"
read -r APP_KEY APP_SECRET < <(curl -fsS "$SBX/sandbox/v1/info" | python3 -c '
import json, sys; i = json.load(sys.stdin); print(i["app_key"], i["app_secret"])')

# ---- surge, with its per-endpoint limiter at the same QPS ----
PORT=$(free_port)
CONF=$WORK/surge.conf
cat > "$CONF" <<CONF
[server]
listen = 127.0.0.1:$PORT
threads = 2
[store]
path = $WORK/surge.db
[log]
level = warn
[security]
allow_private_urls = true
[jobs]
rate_per_sec = $QPS
burst = $QPS
backoff_base_ms = 100
backoff_max_ms = 2000
[catalog]
category_rules = $ROOT/samples/tiktok-categories.json
category_map = $ROOT/samples/category-map.txt
[tiktok_shop]
app_key = $APP_KEY
app_secret = $APP_SECRET
service_id = svc-bench
api_base_url = $SBX
auth_base_url = $SBX
authorize_url = $SBX/open/authorize
[secrets]
key_file = $WORK/surge.key
CONF
chmod 600 "$CONF"
"$SURGE" init --config "$CONF" >/dev/null
"$SURGE" tenant create default --config "$CONF" >/dev/null
KEY=$("$SURGE" apikey create --tenant default --config "$CONF" | head -1)
$PY gen "$NPROD" "$NSKU" "$WORK/catalog.jsonl"
T0=$(now)
"$SURGE" import catalog "$WORK/catalog.jsonl" --tenant default \
  --config "$CONF" > "$WORK/import.out"
IMPORT_S=$(elapsed "$T0" "$(now)")
"$SURGE" serve --config "$CONF" > "$WORK/serve.out" 2> "$WORK/serve.err" \
  & PIDS+=($!)
API=http://127.0.0.1:$PORT
wait_http "$API/healthz"

# ---- publish ----
T0=$(now)
"$SURGE" connect tiktok-shop --sandbox "$SBX" --config "$CONF" \
  > "$WORK/connect.out"
"$SURGE" sync --wait --timeout "$TIMEOUT_S" --config "$CONF" \
  > "$WORK/sync.out"
PUBLISH_S=$(elapsed "$T0" "$(now)")
PUBLISH_BOUND_S=$(awk -v n="$NPROD" -v q="$QPS" 'BEGIN {printf "%.2f", n / q}')
PUB_CALLS=$($PY calls "$SBX")
CREATES=$(python3 -c 'import json,sys; c=json.loads(sys.argv[1]);
print(c.get("POST /product/202309/products", {}).get("total", 0))' "$PUB_CALLS")
LIVE=$(curl -fsS "$SBX/sandbox/v1/state/products" | python3 -c '
import json, sys; print(sum(1 for p in json.load(sys.stdin)["products"]
                            if p.get("status") != "DELETED"))')
echo "published $LIVE/$NPROD products in ${PUBLISH_S}s" \
     "(bound ${PUBLISH_BOUND_S}s, $CREATES create calls)"

# ---- the storm: pre-generated changes, replayed by wrk at ~NCHG/STORM_S ----
$PY requests "$WORK/surge.db" "$NCHG" 7 "$WORK/changes.txt" "$WORK/bound.json"
# Each wrk thread takes its own slice of the list in order; a connection
# waits DELAY_MS between requests so the storm lasts about STORM_S. When
# both slices are answered the threads drop a file each and wrk gets
# SIGINT (it otherwise runs its whole -d).
DELAY_MS=$(awk -v c="$SCONNS" -v n="$NCHG" -v s="$STORM_S" \
  'BEGIN {d = int(c * s * 1000 / n); print (d < 0 ? 0 : d)}')
cat > "$WORK/storm.lua" <<LUA
-- setup() runs in the main state; "tid" becomes a global of each thread.
local nthreads, counter = 2, 0
function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
end
local reqs, i, done, total = {}, 0, 0, 0
function init(args)
  local n = 0
  for line in io.lines("$WORK/changes.txt") do
    if n % nthreads == tid then
      local m, p, b = line:match("^(%u+)\t([^\t]+)\t(.*)$")
      reqs[#reqs + 1] = wrk.format(m, p, {
        ["Authorization"] = "Bearer $KEY",
        ["Content-Type"] = "application/json"}, b)
    end
    n = n + 1
  end
  total = #reqs
end
function delay()
  return $DELAY_MS
end
request = function()
  i = i + 1
  if i > total then
    return wrk.format("GET", "/healthz")
  end
  return reqs[i]
end
response = function(status, headers, body)
  done = done + 1
  if done == total then
    local f = io.open("$WORK/storm-done-" .. tid, "w")
    f:write("done\n")
    f:close()
  end
end
LUA
BEFORE=$($PY calls "$SBX")
T0=$(now)
wrk -t2 -c"$SCONNS" -d"$((STORM_S * 6 + 60))s" -s "$WORK/storm.lua" "$API" \
  > "$WORK/wrk-storm.txt" 2>&1 & WRK_PID=$!
while kill -0 "$WRK_PID" 2>/dev/null; do
  if [[ -e $WORK/storm-done-0 && -e $WORK/storm-done-1 ]]; then
    T1=$(now)
    kill -INT "$WRK_PID" 2>/dev/null || true
    break
  fi
  sleep 0.05
done
wait "$WRK_PID" || true
T1=${T1:-$(now)}
STORM_S_REAL=$(elapsed "$T0" "$T1")
STORM_NON2XX=$(awk '/Non-2xx/ {print $5}' "$WORK/wrk-storm.txt")
STORM_NON2XX=${STORM_NON2XX:-0}
STORM_SENT=$(awk '/requests in/ {print $1}' "$WORK/wrk-storm.txt")

# ---- convergence: until no catalog.sync job is queued or running ----
CONVERGED=0
for _ in $(seq 1 $((TIMEOUT_S * 5))); do
  if [[ $($PY pending "$WORK/surge.db") == 0 ]]; then CONVERGED=1; break; fi
  sleep 0.2
done
T2=$(now)
CONV_S=$(elapsed "$T0" "$T2")
AFTER=$($PY calls "$SBX")
DRIFT=$($PY drift "$WORK/surge.db" "$SBX")

python3 - "$WORK/bound.json" "$BEFORE" "$AFTER" "$DRIFT" "$QPS" \
  "$STORM_S_REAL" "$CONV_S" "$CONVERGED" "$PUBLISH_S" "$PUBLISH_BOUND_S" \
  "$NPROD" "$NSKU" "$NCHG" "$STORM_SENT" "$STORM_NON2XX" "$LIVE" \
  "$CREATES" "$IMPORT_S" <<'PY'
import json, sys
(bound_f, before, after, drift, qps, storm_s, conv_s, converged, pub_s,
 pub_bound_s, nprod, nsku, nchg, sent, non2xx, live, creates,
 import_s) = sys.argv[1:]
bound = json.load(open(bound_f))
before, after, drift = json.loads(before), json.loads(after), json.loads(drift)
qps, storm_s, conv_s = float(qps), float(storm_s), float(conv_s)
PRICE = "POST /product/202309/products/{product_id}/prices/update"
INV = "POST /product/202309/products/{product_id}/inventory/update"

def delta(ep, field="total"):
    return (after.get(ep, {}).get(field, 0)
            - before.get(ep, {}).get(field, 0))

per_ep = {ep: delta(ep) for ep in after if delta(ep)}
limited = sum(delta(ep, "non_zero") for ep in after)
price, inv = delta(PRICE), delta(INV)
calls = price + inv
b = bound["bound_calls"]
conv_bound = max(storm_s, bound["products_price_changed"] / qps,
                 bound["products_stock_changed"] / qps)
calls_ratio = calls / b if b else 0.0
conv_ratio = conv_s / conv_bound if conv_bound else 0.0
print("storm: %s changes sent in %.2f s (%s non-2xx)" % (sent, storm_s,
                                                          non2xx))
print("calls: %d price + %d inventory = %d, bound %d (%d + %d) -> %.3f x"
      " (target <= 1.05)" % (price, inv, calls, b,
                             bound["products_price_changed"],
                             bound["products_stock_changed"], calls_ratio))
print("other calls during the storm: %s; answers with a non-zero code: %d"
      % ({k: v for k, v in per_ep.items() if k not in (PRICE, INV)},
         limited))
print("convergence: %.2f s, bound %.2f s -> %.3f x (target <= 1.1)%s"
      % (conv_s, conv_bound, conv_ratio,
         "" if converged == "1" else "  NOT CONVERGED"))
print("drift: %d of %d SKUs differ, %d missing %s" % (
    drift["drift"], drift["skus"], drift["missing"],
    drift["examples"] if drift["examples"] else ""))
figs = [
    ("products", int(nprod), "products"), ("skus_per_product", int(nsku),
                                           "skus"),
    ("import_s", float(import_s), "s"),
    ("published", int(live), "products"),
    ("publish_s", float(pub_s), "s"),
    ("publish_bound_s", float(pub_bound_s), "s"),
    ("publish_ratio", float(pub_s) / float(pub_bound_s), "ratio"),
    ("create_calls", int(creates), "calls"),
    ("changes", int(nchg), "changes"),
    ("storm_s", storm_s, "s"),
    ("storm_non_2xx", int(non2xx), "responses"),
    ("calls", calls, "calls"), ("price_calls", price, "calls"),
    ("inventory_calls", inv, "calls"),
    ("calls_bound", b, "calls"), ("calls_ratio", calls_ratio, "ratio"),
    ("non_zero_code", limited, "responses"),
    ("convergence_s", conv_s, "s"),
    ("convergence_bound_s", conv_bound, "s"),
    ("convergence_ratio", conv_ratio, "ratio"),
    ("converged", int(converged), "bool"),
    ("drift_skus", drift["drift"] + drift["missing"], "skus"),
]
doc = {"name": "catalog", "qps_per_endpoint": qps,
       "reference": {"name": "lower_bound_calls", "value": b,
                     "unit": "calls"},
       "targets": {"calls_ratio": 1.05, "convergence_ratio": 1.1,
                   "drift_skus": 0},
       "figures": [{"name": n, "value": round(v, 3) if isinstance(v, float)
                    else v, "unit": u} for n, v, u in figs]}
with open("out/catalog.json", "w") as f:
    json.dump(doc, f, indent=1)
    f.write("\n")
PY
echo "wrote bench/out/catalog.json"
