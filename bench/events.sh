#!/usr/bin/env bash
# bench/events: EVENTS (default 1,000,000) TikTok events posted in batches
# of 1,000 to POST /api/v1/events (wrk, 8 connections, one client thread,
# bodies made from one template with a per-request counter so every
# event_id is unique), validated, hashed, deduplicated, committed,
# batched and delivered to the sandbox's Events API. End to end = first
# request sent -> the sandbox has counted every accepted event. Also
# times the normalise + hash stage alone (surge events bench-hash, one
# thread) and the CPU seconds surge and the sandbox used. Reference: the
# issue's target, 100,000 events/s. BENCH_BACKEND=postgres runs the store
# on a PostgreSQL server of the bench's own (lib.sh start_pg), counts that
# server's CPU too and writes bench/out/events-postgres.json.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
EVENTS=${BENCH_EVENTS:-1000000}
BATCH=1000
CONNS_EV=${BENCH_EVENT_CONNS:-8}
REQS=$(( (EVENTS + BATCH - 1) / BATCH ))
EVENTS=$(( REQS * BATCH ))
SBX_PORT=$(free_port)
"$SURGE" sandbox --listen "127.0.0.1:$SBX_PORT" > "$WORK/sbx.out" 2> "$WORK/sbx.err" & SBX_PID=$!
PIDS+=("$SBX_PID")
wait_http "http://127.0.0.1:$SBX_PORT/sandbox/v1/info"
curl -fsS -X PUT -d '{"keep_max": 1000}' "http://127.0.0.1:$SBX_PORT/sandbox/v1/events/config" >/dev/null

PORT=$(free_port)
mkdir -p "$WORK/s"
[[ $BACKEND == postgres ]] && start_pg
cat > "$WORK/s/surge.conf" <<CONF
$(store_conf "$WORK/s/surge.db")
[server]
listen = 127.0.0.1:$PORT
threads = 2
body_max = 8m
[log]
level = ${BENCH_LOG_LEVEL:-warn}
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
"$SURGE" serve --config "$WORK/s/surge.conf" > "$WORK/s/out.log" 2> "$WORK/s/err.log" & SRV_PID=$!
PIDS+=("$SRV_PID")
wait_http "http://127.0.0.1:$PORT/healthz"

# The client: one wrk thread. init() builds one body template of BATCH
# events with "#" where the request number goes, then every request of
# the run, each whole (headers and body) in one string: the template cut
# at each "#" once and joined with the request's number. It writes a
# flag file when they are all made; the clock starts then (the flag's
# mtime, just before wrk connects). Making a 250 KB string in LuaJIT
# costs about 2 ms of CPU (copies, and the page faults of a fresh
# mapping each time): made per request, with a gsub over the template
# and a second copy in wrk.format, the client took 4.2-5.7 us of CPU per
# event during the run, a quarter of what 2 cores have per event at
# 100,000 events/s, taken from surge and the sandbox. Sending ready-made
# strings costs it about 0.2 us per event. The strings stay in the
# client's memory (about 255 bytes per event). After REQS requests it
# asks for a missing page (404) until every POST is answered (one every
# 20 ms per idle connection: delay()), then writes a flag file; the
# script then stops wrk with SIGINT (wrk would otherwise run for its
# whole -d).
cat > "$WORK/events.lua" <<'LUA'
local reqs, quota, sent, answered, key, flag, verified
function init(args)
  key, quota, flag = args[1], tonumber(args[2]), args[4]
  local batch, now, evs = tonumber(args[3]), os.time(), {}
  for i = 0, batch - 1 do
    evs[#evs + 1] = string.format(
      '{"event":"CompletePayment","event_id":"bench-#-%d","event_time":%d,' ..
      '"user":{"email":"user#-%d@example.com","phone":"+1 213 555 %04d",' ..
      '"external_id":"c#-%d","ip":"10.0.0.1"},"properties":{"currency":' ..
      '"USD","value":19.90,"order_id":"o#-%d"}}', i, now, i, i % 10000, i, i)
  end
  local tpl = '{"events":[' .. table.concat(evs, ",") .. ']}'
  local pieces, base = {}, 0
  for piece in (tpl .. "#"):gmatch("([^#]*)#") do
    pieces[#pieces + 1] = piece
    base = base + #piece
  end
  -- wrk.format drops a Content-Length given without a body: add it here.
  local head = wrk.format("POST", "/api/v1/events", {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. key}):sub(1, -3) .. "Content-Length: "
  local first = pieces[1]
  reqs = {}
  for n = 1, quota do
    local num = tostring(n)
    pieces[1] = head .. (base + (#pieces - 1) * #num) .. "\r\n\r\n" .. first
    reqs[n] = table.concat(pieces, num)
  end
  local f = io.open(args[5], "w"); f:write("ready\n"); f:close()
  sent, answered, ok, bad = 0, 0, 0, 0
end
function request()
  if not verified then
    -- wrk calls request() once at start only to check it: not sent.
    verified = true
    return wrk.format("GET", "/bench-idle")
  end
  if sent >= quota then
    return wrk.format("GET", "/bench-idle") -- 404: not counted below
  end
  sent = sent + 1
  return reqs[sent]
end
function delay()
  -- Once every POST is out, a connection waiting for nothing asks for
  -- the 404 page only every 20 ms: without this the idle connections
  -- spun on it (tens of thousands of requests in a 20k-event run),
  -- taking surge's CPU away from the pipeline being measured.
  if sent >= quota then return 20 end
  return 0
end
function response(status)
  if status ~= 404 and answered < quota then
    answered = answered + 1
    if status == 200 then ok = ok + 1 else bad = bad + 1 end
  end
  if answered >= quota and flag then
    -- wrk itself runs to -d: tell the script, which interrupts it.
    local f = io.open(flag, "w"); f:write("done\n"); f:close(); flag = nil
  end
end
local threads = {}
function setup(thread) table.insert(threads, thread) end
function done()
  local o, b = 0, 0
  for _, t in ipairs(threads) do o = o + t:get("ok"); b = b + t:get("bad") end
  io.write(string.format("WRK_RESULT %d %d\n", o, b))
end
LUA

threads_cpu() { # pid -> "tid name ticks" for each of its threads
  local t
  for t in /proc/"$1"/task/*; do
    # comm may hold spaces: take what is between the outer parentheses.
    sed -E 's/^([0-9]+) \((.*)\) [A-Za-z] (([^ ]+ ){10})([0-9]+) ([0-9]+).*/\1 \2 \5 \6/' "$t/stat" |
      awk '{print $1, $2, $3 + $4}'
  done
}
sbx_total() {
  # Polled every 20 ms while the sandbox drains: one curl and a bash
  # match (a python3 per poll cost about a core during the drain).
  local s
  s=$(curl -fsS "http://127.0.0.1:$SBX_PORT/sandbox/v1/events/stats")
  [[ $s =~ \"events_total\":([0-9]+) ]] && echo "${BASH_REMATCH[1]}"
}

# Where the wall-clock time goes (printed under "where the time goes"):
# per thread of surge and the sandbox, /proc/PID/task/TID/schedstat
# gives the nanoseconds it ran and the nanoseconds it was runnable but
# waiting for a core; the rest of the run it was blocked (a condition
# variable, epoll, fdatasync). /proc/stat gives the machine's busy,
# idle, iowait and steal time over the same interval, so what the three
# processes did not use is visible as idle or as other processes' load.
sched_snap() { # pid -> "tid name run_ns wait_ns" for each of its threads
  local t
  for t in /proc/"$1"/task/*; do
    printf '%s %s %s\n' "${t##*/}" "$(tr ' ' '_' < "$t/comm")" "$(cat "$t/schedstat" 2>/dev/null || echo '0 0 0')"
  done | awk '{print $1, $2, $3, $4}'
}
stat_snap() { # -> "user nice system idle iowait irq softirq steal" (ticks)
  awk '$1 == "cpu" {print $2, $3, $4, $5, $6, $7, $8, $9}' /proc/stat
}
metric_get() { metric "http://127.0.0.1:$PORT" "$1"; } # lib.sh's metric
CPU_SRV0=$(cpu_s "$SRV_PID"); CPU_SBX0=$(cpu_s "$SBX_PID")
CPU_PG0=0; [[ $BACKEND == postgres ]] && CPU_PG0=$(pg_cpu_s)
threads_cpu "$SRV_PID" > "$WORK/threads0"
WB0=$(io_get "$SRV_PID" write_bytes); WCALLS0=$(io_get "$SRV_PID" syscw)
WCHAR0=$(io_get "$SRV_PID" wchar)
WAL0=$(stat -c %s "$WORK/s/surge.db-wal" 2>/dev/null || echo 0)
# BENCH_PERF=FILE: record a call-graph profile of surge during the run
# (BENCH_PERF_CG=dwarf for a release build, which has no frame pointers).
if [[ -n "${BENCH_PERF:-}" ]]; then
  perf record -F 999 --call-graph="${BENCH_PERF_CG:-fp}" -p "$SRV_PID" -o "$BENCH_PERF" > "$WORK/perf.log" 2>&1 & PERF_PID=$!
fi
sched_snap "$SRV_PID" > "$WORK/sched_srv0"; sched_snap "$SBX_PID" > "$WORK/sched_sbx0"
COMMITS0=$(metric_get sg_store_commits_total); WRITES0=$(metric_get sg_store_writes_total)
wrk -t1 -c"$CONNS_EV" -d3600s --timeout 60s -s "$WORK/events.lua" \
  "http://127.0.0.1:$PORT" -- "$KEY" "$REQS" "$BATCH" "$WORK/wrk.done" \
  "$WORK/wrk.ready" > "$WORK/wrk.out" 2>&1 & WRK_PID=$!
# The client makes its requests first (bounded by BENCH_PREP_MAX_S); the
# clock starts when the ready flag was written, before the first
# connection (surge and the sandbox are idle until then).
PREP_MAX_S=${BENCH_PREP_MAX_S:-300}
for _ in $(seq 1 $(( PREP_MAX_S * 100 ))); do
  [[ -e "$WORK/wrk.ready" ]] && break
  kill -0 "$WRK_PID" 2>/dev/null || break
  nap 0.01
done
if [[ ! -e "$WORK/wrk.ready" ]]; then
  echo "bench/events: the client did not get ready:" >&2
  cat "$WORK/wrk.out" >&2
  exit 1
fi
T0=$(stat -c %.9Y "$WORK/wrk.ready")
STAT0=$(stat_snap)
CPU_WRK0=$(cpu_s "$WRK_PID")
read -r WRK_U0 WRK_S0 < <(awk '{print $14, $15}' "/proc/$WRK_PID/stat")
# Bounded: posting stops after BENCH_POST_MAX_S (default 600 s), the wait
# for the sandbox to count every event after BENCH_DRAIN_MAX_S (120 s);
# a run cut short reports what was delivered by then.
POST_MAX_S=${BENCH_POST_MAX_S:-600}
DRAIN_MAX_S=${BENCH_DRAIN_MAX_S:-120}
for _ in $(seq 1 $(( POST_MAX_S * 100 ))); do
  [[ -e "$WORK/wrk.done" ]] && break
  kill -0 "$WRK_PID" 2>/dev/null || break
  nap 0.01
done
TPOST=$(date +%s.%N)
# The client's own CPU, taken before it is interrupted.
CPU_WRK=$(awk -v a="$CPU_WRK0" -v b="$(cpu_s "$WRK_PID" 2>/dev/null || echo "$CPU_WRK0")" 'BEGIN {printf "%.2f", b - a}')
WRK_USER_SYS=$(awk -v hz="$(getconf CLK_TCK)" -v u="$WRK_U0" -v s="$WRK_S0" '{printf "user %.2f s, system %.2f s", ($14 - u) / hz, ($15 - s) / hz}' "/proc/$WRK_PID/stat" 2>/dev/null || echo "")
kill -INT "$WRK_PID" 2>/dev/null || true
wait "$WRK_PID" || true
if ! grep -q '^WRK_RESULT' "$WORK/wrk.out"; then
  echo "bench/events: the client failed:" >&2
  cat "$WORK/wrk.out" >&2
  exit 1
fi
read -r OKREQ BAD < <(awk '/^WRK_RESULT/ {print $2, $3}' "$WORK/wrk.out")
WANT=$(( OKREQ * BATCH ))
GOT=0
for _ in $(seq 1 $(( DRAIN_MAX_S * 50 ))); do
  GOT=$(sbx_total)
  [[ "$GOT" -ge "$WANT" ]] && break
  nap 0.02
done
TEND=$(date +%s.%N)
STAT1=$(stat_snap)
sched_snap "$SRV_PID" > "$WORK/sched_srv1"; sched_snap "$SBX_PID" > "$WORK/sched_sbx1"
COMMITS1=$(metric_get sg_store_commits_total); WRITES1=$(metric_get sg_store_writes_total)
if [[ -n "${BENCH_PERF:-}" ]]; then kill -INT "$PERF_PID"; wait "$PERF_PID" || true; fi
CPU_SRV=$(awk -v a="$CPU_SRV0" -v b="$(cpu_s "$SRV_PID")" 'BEGIN {printf "%.2f", b - a}')
CPU_SBX=$(awk -v a="$CPU_SBX0" -v b="$(cpu_s "$SBX_PID")" 'BEGIN {printf "%.2f", b - a}')
CPU_PG=0; [[ $BACKEND == postgres ]] && CPU_PG=$(awk -v a="$CPU_PG0" -v b="$(pg_cpu_s)" 'BEGIN {printf "%.2f", b - a}')
threads_cpu "$SRV_PID" > "$WORK/threads1"
# surge's CPU per thread name (the store writer, the HTTP loops, the
# dispatcher, ...), in us per accepted event.
THREADS=$(awk -v hz="$(getconf CLK_TCK)" -v n="$WANT" '
  FNR == NR {t0[$1] = $3; next}
  {d[$2] += $3 - ($1 in t0 ? t0[$1] : 0)}
  END {for (k in d) if (d[k] > 0) printf "%s %.1f\n", k, d[k] / hz * 1e6 / n}' \
  "$WORK/threads0" "$WORK/threads1" | sort -k2 -nr)
# Storage bytes surge wrote (WAL, database file, temporary files) and
# its write calls of every kind (sockets too), per accepted event.
WB=$(( $(io_get "$SRV_PID" write_bytes) - WB0 ))
WCALLS=$(( $(io_get "$SRV_PID" syscw) - WCALLS0 ))
WCHAR=$(( $(io_get "$SRV_PID" wchar) - WCHAR0 ))
# End to end counts what arrived at the sandbox, not what was accepted
# (at most WANT: an event sent twice counts once; EXTRA reports those).
DELIVERED=$(( GOT < WANT ? GOT : WANT ))
EXTRA=$(( GOT > WANT ? GOT - WANT : 0 ))
E2E=$(awk -v n="$DELIVERED" -v a="$T0" -v b="$TEND" 'BEGIN {printf "%.0f", n / (b - a)}')
INTAKE=$(awk -v n="$WANT" -v a="$T0" -v b="$TPOST" 'BEGIN {printf "%.0f", n / (b - a)}')
HASH_JSON=$("$SURGE" events bench-hash 200000)
HASH=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["events_per_s"])' <<< "$HASH_JSON")
PARSE=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["parse_events_per_s"])' <<< "$HASH_JSON")
SCAN=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["scan_events_per_s"])' <<< "$HASH_JSON")
SRV_US=$(awk -v c="$CPU_SRV" -v n="$WANT" 'BEGIN {printf "%.1f", c * 1e6 / n}')
SBX_US=$(awk -v c="$CPU_SBX" -v n="$WANT" 'BEGIN {printf "%.1f", c * 1e6 / n}')
PG_US=$(awk -v c="$CPU_PG" -v n="$WANT" 'BEGIN {printf "%.1f", c * 1e6 / n}')
WB_EV=$(awk -v b="$WB" -v n="$WANT" 'BEGIN {printf "%.0f", n ? b / n : 0}')
WCALLS_EV=$(awk -v c="$WCALLS" -v n="$WANT" 'BEGIN {printf "%.2f", n ? c / n : 0}')
WCHAR_EV=$(awk -v b="$WCHAR" -v n="$WANT" 'BEGIN {printf "%.0f", n ? b / n : 0}')
printf 'end to end:        %10s events/s  (%s events sent, %s arrived at the sandbox, %s more than sent, failed requests %s)\n' "$E2E" "$WANT" "$GOT" "$EXTRA" "$BAD"
printf 'intake (acked):    %10s events/s\n' "$INTAKE"
printf 'normalise+hash:    %10s events/s  (one thread, stage alone: validate, normalise, SHA-256, write the event JSON)\n' "$HASH"
printf 'request parse:     %10s events/s  (one thread, jansson, 1000-event body)\n' "$PARSE"
printf 'one-pass intake:   %10s events/s  (one thread, what the endpoint runs: read the raw body, validate, normalise, SHA-256, write the event JSON; no tree)\n' "$SCAN"
printf 'cpu:               surge %ss (%s us/event), sandbox %ss (%s us/event)\n' "$CPU_SRV" "$SRV_US" "$CPU_SBX" "$SBX_US"
[[ $BACKEND == postgres ]] && printf 'cpu (postgres):    %ss (%s us/event, the server start_pg runs)\n' "$CPU_PG" "$PG_US"
printf 'surge threads:     %s  (us/event)\n' "$(echo "$THREADS" | awk '{printf "%s%s %s", (NR > 1 ? ", " : ""), $1, $2}')"
# The dispatcher's counters: a retried or requeued batch is where an
# event can arrive twice (a call that timed out after the sandbox took it).
jobm() { metric_get "sg_jobs_$1"; }
printf 'jobs:              claimed %s, succeeded %s, retried %s, dead %s, leases requeued %s, stale finishes %s, store errors %s\n' \
  "$(jobm claimed_total)" "$(jobm 'outcomes_total{outcome="succeeded"}')" \
  "$(jobm 'outcomes_total{outcome="retried"}')" "$(jobm 'outcomes_total{outcome="dead"}')" \
  "$(jobm lease_requeued_total)" "$(jobm 'errors_total{kind="stale_lease"}')" \
  "$(jobm 'errors_total{kind="store"}')"
printf 'storage writes:    %s bytes/event reaching storage, %s bytes/event passed to write calls (files and sockets), %s write calls/event (surge, /proc/PID/io)\n' "$WB_EV" "$WCHAR_EV" "$WCALLS_EV"
# Per thread: CPU us/event, and the share of the run's wall clock it ran,
# waited for a core (runnable) and was blocked.
sched_report() { # before after -> lines "name run_us/ev run% wait% blocked%"
  awk -v n="$WANT" -v wall="$WALL_NS" '
    FNR == NR {r0[$1] = $3; w0[$1] = $4; next}
    {k = $2 "/" $1; r[k] += $3 - r0[$1]; w[k] += $4 - w0[$1]; c[k]++}
    END {for (k in r) if (r[k] > wall / 200)
      printf "%-22s x%d  %5.1f us/event  ran %3.0f%%  waited for a core %3.0f%%  blocked %3.0f%%\n",
        k, c[k], r[k] / 1e3 / n, 100 * r[k] / wall / c[k], 100 * w[k] / wall / c[k],
        100 - 100 * (r[k] + w[k]) / wall / c[k]}' "$1" "$2" | sort -k3 -nr
}
WALL_NS=$(awk -v a="$T0" -v b="$TEND" 'BEGIN {printf "%.0f", (b - a) * 1e9}')
read -r MBUSY MIDLE MIOW MSTEAL < <(awk -v a="$STAT0" -v b="$STAT1" -v hz="$(getconf CLK_TCK)" -v w="$WALL_NS" '
  BEGIN {split(a, x); split(b, y); for (i = 1; i <= 8; i++) d[i] = (y[i] - x[i]) / hz / (w / 1e9);
    printf "%.2f %.2f %.2f %.2f\n", d[1] + d[2] + d[3] + d[6] + d[7], d[4], d[5], d[8]}')
WRK_US=$(awk -v c="$CPU_WRK" -v n="$WANT" 'BEGIN {printf "%.1f", c * 1e6 / n}')
GROUP=$(awk -v c0="${COMMITS0:-0}" -v c1="${COMMITS1:-0}" -v w0="${WRITES0:-0}" -v w1="${WRITES1:-0}" -v w="$WALL_NS" '
  BEGIN {c = c1 - c0; if (c > 0) printf "%d commits, %.2f writes per commit, one every %.0f us", c, (w1 - w0) / c, w / 1e3 / c; else print "n/a"}')
echo "where the time goes (wall clock $(awk -v w="$WALL_NS" 'BEGIN {printf "%.2f", w / 1e9}') s, 2 cores):"
printf '  machine:         %s cores busy (all processes), %s idle, %s iowait, %s steal; load average %s\n' "$MBUSY" "$MIDLE" "$MIOW" "$MSTEAL" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf '  client (wrk):    %s us/event while posting (%s)\n' "$WRK_US" "$WRK_USER_SYS"
printf '  store commits:   %s\n' "$GROUP"
echo "  surge threads:"; sched_report "$WORK/sched_srv0" "$WORK/sched_srv1" | sed 's/^/    /'
echo "  sandbox threads:"; sched_report "$WORK/sched_sbx0" "$WORK/sched_sbx1" | sed 's/^/    /'
OUT=events; [[ $BACKEND == postgres ]] && OUT=events-postgres
mkdir -p "$ROOT/bench/out"
cat > "$ROOT/bench/out/$OUT.json" <<JSON
{"name": "events", "backend": "$BACKEND", "events": $WANT, "batch": $BATCH, "connections": $CONNS_EV,
 "client": "wrk -t1, every request made before the clock starts",
 "reference": {"name": "target_events_per_s", "value": 100000, "unit": "events/s"},
 "figures": [
  {"name": "end_to_end_events_per_s", "value": $E2E, "unit": "events/s"},
  {"name": "intake_ack_events_per_s", "value": $INTAKE, "unit": "events/s"},
  {"name": "normalise_hash_events_per_s", "value": $HASH, "unit": "events/s"},
  {"name": "request_parse_events_per_s", "value": $PARSE, "unit": "events/s"},
  {"name": "one_pass_intake_events_per_s", "value": $SCAN, "unit": "events/s"},
  {"name": "surge_cpu_us_per_event", "value": $SRV_US, "unit": "us"},
  {"name": "sandbox_cpu_us_per_event", "value": $SBX_US, "unit": "us"},
  {"name": "postgres_cpu_us_per_event", "value": $PG_US, "unit": "us"},
  {"name": "surge_storage_write_bytes_per_event", "value": $WB_EV, "unit": "bytes"},
  {"name": "surge_write_call_bytes_per_event", "value": $WCHAR_EV, "unit": "bytes"},
  {"name": "surge_write_calls_per_event", "value": $WCALLS_EV, "unit": "calls"},
  {"name": "client_cpu_us_per_event", "value": $WRK_US, "unit": "us"},
  {"name": "machine_busy_cores", "value": $MBUSY, "unit": "cores"},
$(echo "$THREADS" | awk '{printf "  {\"name\": \"surge_thread_cpu_us_per_event\", \"thread\": \"%s\", \"value\": %s, \"unit\": \"us\"},\n", $1, $2}')
  {"name": "events_delivered", "value": $GOT, "unit": "events"},
  {"name": "events_arrived_twice", "value": $EXTRA, "unit": "events"},
  {"name": "failed_requests", "value": $BAD, "unit": "requests"}
 ]}
JSON
echo "wrote bench/out/$OUT.json"
