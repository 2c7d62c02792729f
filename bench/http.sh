#!/usr/bin/env bash
# bench/http: the durable webhook intake (POST /webhooks/generic: verify
# HMAC, dedupe, commit to SQLite with synchronous=FULL, then 200) under
# wrk with 64 keep-alive connections, against nginx answering a constant
# in the same run; then the same endpoint with group commit off
# (batch_max = 1, one transaction per request).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
SECRET=bench_secret_0123456789
BODY='{"order_id":"576461413038785752","status":"AWAITING_SHIPMENT","qty":2}'
SIG=$(printf '%s' "$BODY" | openssl dgst -sha256 -hmac "$SECRET" -r | cut -d' ' -f1)

cat > "$WORK/post.lua" <<LUA
local counter = 0
local tid = 0
local threads = {}
function setup(thread)
  tid = tid + 1
  thread:set("tid", tid)
end
function init(args)
  counter = 0
end
request = function()
  counter = counter + 1
  return wrk.format("POST", "/webhooks/generic", {
    ["Content-Type"] = "application/json",
    ["X-Surge-Signature"] = "sha256=$SIG",
    ["X-Surge-Event-Id"] = "bench-" .. tostring(tid) .. "-" .. tostring(counter) .. "-" .. tostring(os.time())
  }, '$BODY')
end
LUA

run_surge() { # batch_max label
  local batch=$1 dir=$WORK/surge-$1 port
  port=$(free_port)
  mkdir -p "$dir"
  cat > "$dir/surge.conf" <<CONF
[server]
listen = 127.0.0.1:$port
threads = 2
[store]
path = $dir/surge.db
batch_max = $batch
[webhook_generic]
secret = $SECRET
tenant = bench
[log]
level = warn
CONF
  chmod 600 "$dir/surge.conf"
  "$SURGE" migrate --config "$dir/surge.conf" >/dev/null
  "$SURGE" tenant create bench --config "$dir/surge.conf" >/dev/null
  "$SURGE" serve --config "$dir/surge.conf" > "$dir/out.log" 2> "$dir/err.log" & PIDS+=($!)
  wait_http "http://127.0.0.1:$port/healthz"
  wrk_run "$WORK/wrk-surge-$batch.txt" -s "$WORK/post.lua" "http://127.0.0.1:$port/webhooks/generic"
  kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true
  ROWS=$(sqlite3 "$dir/surge.db" "select count(*) from inbox")
}

NGINX_PORT=$(free_port)
start_nginx "$NGINX_PORT"
wrk_run "$WORK/wrk-nginx.txt" "http://127.0.0.1:$NGINX_PORT/"
NGINX_RPS=$RPS; NGINX_P99=$P99_MS
kill "${PIDS[0]}" 2>/dev/null || true

run_surge 256
GC_RPS=$RPS; GC_P99=$P99_MS; GC_ROWS=$ROWS; GC_NON2XX=$NON2XX
run_surge 1
NOGC_RPS=$RPS; NOGC_P99=$P99_MS; NOGC_ROWS=$ROWS; NOGC_NON2XX=$NON2XX

RATIO=$(awk -v a="$GC_RPS" -v b="$NGINX_RPS" 'BEGIN {printf "%.3f", a / b}')
GAIN=$(awk -v a="$GC_RPS" -v b="$NOGC_RPS" 'BEGIN {printf "%.2f", a / b}')
printf 'nginx constant:            %10.0f req/s  p99 %6.2f ms\n' "$NGINX_RPS" "$NGINX_P99"
printf 'surge durable (group):     %10.0f req/s  p99 %6.2f ms  rows %s  non-2xx %s\n' "$GC_RPS" "$GC_P99" "$GC_ROWS" "$GC_NON2XX"
printf 'surge durable (batch=1):   %10.0f req/s  p99 %6.2f ms  rows %s  non-2xx %s\n' "$NOGC_RPS" "$NOGC_P99" "$NOGC_ROWS" "$NOGC_NON2XX"
printf 'ratio to nginx: %s   group commit gain: %sx\n' "$RATIO" "$GAIN"
cat > out/http.json <<JSON
{"name": "http", "duration_s": $DURATION, "connections": $CONNS,
 "reference": {"name": "nginx_constant_rps", "value": $NGINX_RPS, "unit": "req/s"},
 "figures": [
  {"name": "durable_ack_rps", "value": $GC_RPS, "unit": "req/s"},
  {"name": "durable_ack_p99", "value": $GC_P99, "unit": "ms"},
  {"name": "ratio_to_nginx", "value": $RATIO, "unit": "ratio"},
  {"name": "durable_ack_rps_batch1", "value": $NOGC_RPS, "unit": "req/s"},
  {"name": "durable_ack_p99_batch1", "value": $NOGC_P99, "unit": "ms"},
  {"name": "group_commit_gain", "value": $GAIN, "unit": "ratio"},
  {"name": "nginx_p99", "value": $NGINX_P99, "unit": "ms"},
  {"name": "rows_committed", "value": $GC_ROWS, "unit": "rows"},
  {"name": "non_2xx", "value": $GC_NON2XX, "unit": "responses"}
 ]}
JSON
echo "wrote bench/out/http.json"
