# Shared helpers for the benchmark scripts (sourced, not run).
# SURGE: the binary to measure (release build by default).
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SURGE=${SURGE:-$ROOT/build/release/surge}
DURATION=${BENCH_DURATION:-10}
CONNS=${BENCH_CONNS:-64}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/surge-bench-XXXXXX")
PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do [[ -n "$p" ]] && kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  # BENCH_KEEP=1 keeps the work directory (logs, databases) to look at.
  if [[ -n ${BENCH_KEEP:-} ]]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

free_port() {
  # Ask the kernel for a free loopback port.
  python3 - <<'PY' 2>/dev/null || echo $((20000 + RANDOM % 20000))
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()
PY
}

wait_http() { # url
  for _ in $(seq 1 100); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "bench: $1 did not come up" >&2
  return 1
}

# wrk_run OUT_PREFIX ARGS... : runs wrk with --latency; sets RPS and P99_MS.
wrk_run() {
  local out=$1; shift
  wrk --latency -t2 -c"$CONNS" -d"${DURATION}s" "$@" > "$out" 2>&1
  RPS=$(awk '/^Requests\/sec:/ {print $2}' "$out")
  P99_MS=$(awk '$1 == "99%" {v=$2; if (v ~ /us$/) {sub(/us$/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms$/,"",v)} else if (v ~ /s$/) {sub(/s$/,"",v); v=v*1000}; print v}' "$out")
  NON2XX=$(awk '/Non-2xx/ {print $5}' "$out")
  NON2XX=${NON2XX:-0}
}

start_nginx() { # port
  local port=$1 conf=$WORK/nginx.conf
  mkdir -p "$WORK/nginx"
  cat > "$conf" <<NGX
worker_processes 1;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $WORK/nginx;
  proxy_temp_path $WORK/nginx;
  fastcgi_temp_path $WORK/nginx;
  uwsgi_temp_path $WORK/nginx;
  scgi_temp_path $WORK/nginx;
  server {
    listen 127.0.0.1:$port;
    location / { return 200 '{"status":"accepted"}'; }
  }
}
NGX
  nginx -c "$conf" -p "$WORK/nginx" & PIDS+=($!)
  wait_http "http://127.0.0.1:$port/"
}
