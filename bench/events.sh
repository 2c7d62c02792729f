#!/usr/bin/env bash
# bench/events: EVENTS (default 1,000,000) TikTok events posted in batches
# of 1,000 to POST /api/v1/events (8 client connections), validated,
# hashed, deduplicated, committed, batched and delivered to the sandbox's
# Events API. End to end = first request sent -> the sandbox has counted
# every event. Also times the normalise + hash stage alone (surge events
# bench-hash, one thread). Reference: the issue's target, 100,000 events/s.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
EVENTS=${BENCH_EVENTS:-1000000}
BATCH=1000
SBX_PORT=$(free_port)
"$SURGE" sandbox --listen "127.0.0.1:$SBX_PORT" > "$WORK/sbx.out" 2> "$WORK/sbx.err" & PIDS+=($!)
wait_http "http://127.0.0.1:$SBX_PORT/sandbox/v1/info"
curl -fsS -X PUT -d '{"keep_max": 1000}' "http://127.0.0.1:$SBX_PORT/sandbox/v1/events/config" >/dev/null

PORT=$(free_port)
mkdir -p "$WORK/s"
cat > "$WORK/s/surge.conf" <<CONF
[server]
listen = 127.0.0.1:$PORT
threads = 2
body_max = 8m
[store]
path = $WORK/s/surge.db
[log]
level = warn
[jobs]
concurrency = 64
rate_per_sec = 100000
burst = 1000
[security]
allow_private_urls = true
[tiktok_events]
api_base_url = http://127.0.0.1:$SBX_PORT
access_token = sbx_events_token
web_pixel_code = BENCHPIXEL
batch_max = 1000
flush_ms = 50ms
CONF
chmod 600 "$WORK/s/surge.conf"
"$SURGE" migrate --config "$WORK/s/surge.conf" >/dev/null
"$SURGE" tenant create bench --config "$WORK/s/surge.conf" >/dev/null
KEY=$("$SURGE" apikey create --tenant bench --config "$WORK/s/surge.conf" | grep -o 'sk_[A-Za-z0-9_]*' | head -1)
"$SURGE" serve --config "$WORK/s/surge.conf" > "$WORK/s/out.log" 2> "$WORK/s/err.log" & PIDS+=($!)
wait_http "http://127.0.0.1:$PORT/healthz"

# The client: 8 threads, keep-alive, bodies built ahead of the clock.
cat > "$WORK/client.py" <<'PY'
import http.client, json, sys, threading, time
host, port, key, total, batch, path, extra = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6], sys.argv[7]
now = int(time.time())
def body(b):
    evs = []
    for i in range(b * batch, min(total, (b + 1) * batch)):
        evs.append({"event": "CompletePayment", "event_id": "bench-%d" % i,
                    "event_time": now,
                    "user": {"email": "user%d@example.com" % i,
                             "phone": "+1 213 555 %04d" % (i % 10000),
                             "external_id": "c%d" % i, "ip": "10.0.0.1"},
                    "properties": {"currency": "USD", "value": 12.5,
                                   "order_id": "o%d" % i}})
    return json.dumps({"events": evs} if extra == "surge" else
                      {"event_source": "web", "event_source_id": "X",
                       "data": [dict(e, event_time=now) for e in evs]}).encode()
n_batches = (total + batch - 1) // batch
bodies = [body(b) for b in range(n_batches)]
lock = threading.Lock(); nxt = [0]; bad = [0]
def worker():
    c = http.client.HTTPConnection(host, port, timeout=120)
    hdr = {"Content-Type": "application/json"}
    if extra == "surge": hdr["Authorization"] = "Bearer " + key
    else: hdr["Access-Token"] = "sbx_events_token"
    while True:
        with lock:
            b = nxt[0]; nxt[0] += 1
        if b >= n_batches: return
        for attempt in range(50):
            c.request("POST", path, bodies[b], hdr)
            r = c.getresponse(); r.read()
            if r.status == 200: break
            time.sleep(0.05)
        else:
            bad[0] += 1
t0 = time.time()
ts = [threading.Thread(target=worker) for _ in range(8)]
[t.start() for t in ts]; [t.join() for t in ts]
print("%.6f %.6f %d" % (t0, time.time(), bad[0]))
PY

read -r T0 TPOST BAD < <(python3 "$WORK/client.py" 127.0.0.1 "$PORT" "$KEY" "$EVENTS" "$BATCH" /api/v1/events surge)
for _ in $(seq 1 6000); do
  GOT=$(curl -fsS "http://127.0.0.1:$SBX_PORT/sandbox/v1/events" | python3 -c 'import json,sys; print(json.load(sys.stdin)["events_total"])')
  [[ "$GOT" -ge "$EVENTS" ]] && break
  sleep 0.05
done
TEND=$(python3 -c 'import time; print("%.6f" % time.time())')
E2E=$(awk -v n="$EVENTS" -v a="$T0" -v b="$TEND" 'BEGIN {printf "%.0f", n / (b - a)}')
INTAKE=$(awk -v n="$EVENTS" -v a="$T0" -v b="$TPOST" 'BEGIN {printf "%.0f", n / (b - a)}')
HASH=$("$SURGE" events bench-hash 200000 | python3 -c 'import json,sys; print(json.load(sys.stdin)["events_per_s"])')
SENT=$GOT
printf 'end to end:        %10s events/s  (%s events, delivered %s, failed requests %s)\n' "$E2E" "$EVENTS" "$SENT" "$BAD"
printf 'intake (acked):    %10s events/s\n' "$INTAKE"
printf 'normalise+hash:    %10s events/s  (one thread)\n' "$HASH"
cat > out/events.json <<JSON
{"name": "events", "events": $EVENTS, "batch": $BATCH, "connections": 8,
 "reference": {"name": "target_events_per_s", "value": 100000, "unit": "events/s"},
 "figures": [
  {"name": "end_to_end_events_per_s", "value": $E2E, "unit": "events/s"},
  {"name": "intake_ack_events_per_s", "value": $INTAKE, "unit": "events/s"},
  {"name": "normalise_hash_events_per_s", "value": $HASH, "unit": "events/s"},
  {"name": "events_delivered", "value": $SENT, "unit": "events"},
  {"name": "failed_requests", "value": $BAD, "unit": "requests"}
 ]}
JSON
echo "wrote bench/out/events.json"
