#!/usr/bin/env bash
# bench/sandbox: signed TikTok Shop product and inventory calls against
# `surge sandbox` (every check on: app_key, timestamp window, HMAC
# signature, access token, shop_cipher, rate limiter set out of the way)
# under wrk with keep-alive connections, against nginx answering a
# constant in the same run. wrk's Lua has no HMAC, so the requests are
# signed beforehand (python3) into a file that the Lua script cycles
# through; their timestamps stay inside the 5-minute window for the run.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
NREQ=${BENCH_SANDBOX_REQUESTS:-3000}
PRODUCTS=${BENCH_SANDBOX_PRODUCTS:-20}

PORT=$(free_port)
cat > "$WORK/sandbox.json" <<CONF
{"listen": "127.0.0.1:$PORT", "threads": 2, "rate_qps": 1000000,
 "audit_delay_ms": 0, "seed": 42}
CONF
"$SURGE" sandbox --config "$WORK/sandbox.json" --log-level warn \
  > "$WORK/sandbox.out" 2> "$WORK/sandbox.err" & PIDS+=($!)
SBX_PID=${PIDS[-1]}
wait_http "http://127.0.0.1:$PORT/sandbox/v1/info"

# Create the products, then sign NREQ calls over them:
# 50% product detail, 25% inventory search, 25% inventory update.
python3 - "http://127.0.0.1:$PORT" "$PRODUCTS" "$NREQ" "$WORK/requests.txt" <<'PY'
import hashlib, hmac, json, sys, time, urllib.parse, urllib.request
base, nprod, nreq, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
info = json.load(urllib.request.urlopen(base + "/sandbox/v1/info"))
key, secret, tok = info["app_key"], info["app_secret"], info["access_token"]
cipher = info["shops"][0]["cipher"]

def signed(path, params, body):
    q = dict(params, app_key=key, timestamp=str(int(time.time())),
             shop_cipher=cipher)
    base_s = path + "".join(k + q[k] for k in sorted(q)) + body
    q["sign"] = hmac.new(secret.encode(), (secret + base_s + secret).encode(),
                         hashlib.sha256).hexdigest()
    return path + "?" + urllib.parse.urlencode(q)

def call(method, path, body=""):
    req = urllib.request.Request(base + signed(path, {}, body),
                                 data=body.encode() if body else None,
                                 method=method,
                                 headers={"x-tts-access-token": tok,
                                          "Content-Type": "application/json"})
    env = json.load(urllib.request.urlopen(req))
    if env["code"] != 0:
        sys.exit("bench setup: %s %s -> %s" % (method, path, env))
    return env["data"]

wh = call("GET", "/logistics/202309/warehouses")["warehouses"][0]["id"]
prods = []
for i in range(nprod):
    body = json.dumps({
        "title": "Bench pan %d" % i, "description": "<p>pan</p>",
        "category_id": "601226", "main_images": [{"uri": "x"}],
        "package_dimensions": {"length": "10", "width": "10",
                               "height": "5", "unit": "CENTIMETER"},
        "product_attributes": [{"id": "100392",
                                "values": [{"id": "1000001"}]}],
        "skus": [{"seller_sku": "B-%d" % i,
                  "price": {"amount": "19.90", "currency": "USD"},
                  "inventory": [{"warehouse_id": wh, "quantity": 100}]}]},
        separators=(",", ":"))
    d = call("POST", "/product/202309/products", body)
    prods.append((d["product_id"], d["skus"][0]["id"]))

with open(out, "w") as f:
    for n in range(nreq):
        pid, sku = prods[n % len(prods)]
        kind = n % 4
        if kind in (0, 2):
            m, p, b = "GET", "/product/202309/products/" + pid, ""
        elif kind == 1:
            m, p = "POST", "/product/202309/inventory/search"
            b = json.dumps({"product_ids": [pid]}, separators=(",", ":"))
        else:
            m, p = "POST", "/product/202309/products/%s/inventory/update" % pid
            b = json.dumps({"skus": [{"id": sku, "inventory": [
                {"warehouse_id": wh, "quantity": 50 + n % 50}]}]},
                separators=(",", ":"))
        f.write("%s\t%s\t%s\n" % (m, signed(p, {}, b), b))

PY
TOKEN=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])' \
        < <(curl -fsS "http://127.0.0.1:$PORT/sandbox/v1/info"))

cat > "$WORK/signed.lua" <<LUA
local reqs = {}
local i = 0
function init(args)
  for line in io.lines("$WORK/requests.txt") do
    local m, p, b = line:match("^(%u+)\t([^\t]+)\t(.*)$")
    local body = nil
    if b ~= "" then body = b end
    reqs[#reqs + 1] = wrk.format(m, p, {
      ["x-tts-access-token"] = "$TOKEN",
      ["Content-Type"] = "application/json"}, body)
  end
  i = math.random(#reqs)
end
request = function()
  i = i % #reqs + 1
  return reqs[i]
end
LUA

NGINX_PORT=$(free_port)
start_nginx "$NGINX_PORT"
NGINX_PID=${PIDS[-1]}
wrk_run "$WORK/wrk-nginx.txt" "http://127.0.0.1:$NGINX_PORT/"
NGINX_RPS=$RPS; NGINX_P99=$P99_MS
kill "$NGINX_PID" 2>/dev/null || true

wrk_run "$WORK/wrk-sandbox.txt" -s "$WORK/signed.lua" "http://127.0.0.1:$PORT"
SBX_RPS=$RPS; SBX_P99=$P99_MS; SBX_NON2XX=$NON2XX

# Every call must have passed every check: count non-zero codes.
NONZERO=$(curl -fsS "http://127.0.0.1:$PORT/sandbox/v1/calls" | python3 -c '
import json, sys
c = json.load(sys.stdin)["counts"]
print(sum(n for per in c.values() for code, n in per.items() if code != "0"))')
kill "$SBX_PID" 2>/dev/null || true

RATIO=$(awk -v a="$SBX_RPS" -v b="$NGINX_RPS" 'BEGIN {printf "%.3f", a / b}')
printf 'nginx constant:        %10.0f req/s  p99 %6.2f ms\n' "$NGINX_RPS" "$NGINX_P99"
printf 'sandbox signed calls:  %10.0f req/s  p99 %6.2f ms  non-2xx %s  non-zero code %s\n' \
  "$SBX_RPS" "$SBX_P99" "$SBX_NON2XX" "$NONZERO"
printf 'ratio to nginx: %s (target >= 0.3)\n' "$RATIO"
cat > out/sandbox.json <<JSON
{"name": "sandbox", "duration_s": $DURATION, "connections": $CONNS,
 "reference": {"name": "nginx_constant_rps", "value": $NGINX_RPS, "unit": "req/s"},
 "figures": [
  {"name": "signed_calls_rps", "value": $SBX_RPS, "unit": "req/s"},
  {"name": "signed_calls_p99", "value": $SBX_P99, "unit": "ms"},
  {"name": "ratio_to_nginx", "value": $RATIO, "unit": "ratio"},
  {"name": "nginx_p99", "value": $NGINX_P99, "unit": "ms"},
  {"name": "non_2xx", "value": $SBX_NON2XX, "unit": "responses"},
  {"name": "non_zero_code", "value": $NONZERO, "unit": "responses"}
 ]}
JSON
echo "wrote bench/out/sandbox.json"
