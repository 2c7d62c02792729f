# Shared helpers for the benchmark scripts (sourced, not run).
# SURGE: the binary to measure (release build by default).
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SURGE=${SURGE:-$ROOT/build/release/surge}
DURATION=${BENCH_DURATION:-10}
CONNS=${BENCH_CONNS:-64}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/surge-bench-XXXXXX")
PIDS=()
PG_STOP=()
cleanup() {
  for p in "${PIDS[@]:-}"; do [[ -n "$p" ]] && kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  # A PostgreSQL server start_pg started goes after its clients.
  if [[ ${#PG_STOP[@]} -gt 0 ]]; then "${PG_STOP[@]}" >/dev/null 2>&1 || true; fi
  # BENCH_KEEP=1 keeps the work directory (logs, databases) to look at.
  if [[ -n ${BENCH_KEEP:-} ]]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

# Counters the benchmarks read while they run; none of them forks more
# than the one awk or curl it needs.
cpu_s() { # pid -> its user + system CPU seconds so far
  awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$1/stat"
}
io_get() { # pid field -> that counter of /proc/PID/io (wchar, syscw, ...)
  awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/io"
}
metric() { # base-url name -> the value of that series in Surge's /metrics
  curl -fsS "$1/metrics" 2>/dev/null | awk -v m="$2" '$1 == m {print $2}'
}
store_counts() { # base-url -> "commits writes" from Surge's /metrics
  curl -fsS "$1/metrics" | awk '$1 == "sg_store_commits_total" {c = $2}
    $1 == "sg_store_writes_total" {w = $2} END {print c + 0, w + 0}'
}
# A sleep without a process: polling loops run while a benchmark is
# measured, and a sleep(1) every few ms is a fork and an exec each time.
exec {NAP_FD}<> <(:)
nap() { read -r -t "$1" -u "$NAP_FD" || true; }

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

# BENCH_BACKEND: the store a benchmark runs surge on, sqlite (the default)
# or postgres (a server of the benchmark's own, start_pg).
BACKEND=${BENCH_BACKEND:-sqlite}
case $BACKEND in
  sqlite|postgres) ;;
  *) echo "bench: BENCH_BACKEND must be sqlite or postgres, not $BACKEND" >&2; exit 2 ;;
esac

# start_pg: a throwaway PostgreSQL server for the store, in $WORK/pg (the
# same file system as the SQLite runs' database), on a free 127.0.0.1
# port and a Unix socket in that folder; durable as in production (fsync
# and synchronous_commit on). Sets PG_DSN and PG_DATA; cleanup stops it.
# Its programs come from BENCH_PG_BINDIR or the PATH; as root they run as
# the postgres user (the server refuses to run as root).
start_pg() {
  local bindir port dir=$WORK/pg
  local as=()
  bindir=${BENCH_PG_BINDIR:-$(dirname "$(command -v pg_ctl)")}
  port=$(free_port)
  mkdir -p "$dir"
  if [[ $(id -u) -eq 0 ]]; then
    chown postgres "$dir"
    chmod o+x "$WORK"
    as=(runuser -u postgres --)
  fi
  PG_DATA=$dir/data
  "${as[@]}" "$bindir/initdb" -D "$PG_DATA" -U surge -A trust -E UTF8 \
    --locale=C --no-sync > "$dir/initdb.log" 2>&1
  cat >> "$PG_DATA/postgresql.conf" <<CONF
# bench/lib.sh start_pg
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
fsync = on
synchronous_commit = on
max_connections = 60
shared_buffers = 128MB
max_wal_size = 1GB
log_min_messages = warning
CONF
  PG_STOP=("${as[@]}" "$bindir/pg_ctl" -D "$PG_DATA" -m fast -w -t 30 stop)
  "${as[@]}" "$bindir/pg_ctl" -D "$PG_DATA" -l "$dir/server.log" -w -t 60 \
    start > "$dir/pg_ctl.log" 2>&1
  local psql=$bindir/psql
  [[ -x $psql ]] || psql=psql
  "$psql" -qX -h 127.0.0.1 -p "$port" -U surge -d postgres \
    -c 'CREATE DATABASE bench' > /dev/null
  PG_DSN="host=127.0.0.1 port=$port user=surge dbname=bench"
}

# pg_cpu_s: CPU seconds of the server start_pg runs: the postmaster,
# its current processes, and the processes of it that have ended.
pg_cpu_s() {
  local pm t=0 c
  pm=$(head -1 "$PG_DATA/postmaster.pid")
  t=$(awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15 + $16 + $17) / hz}' "/proc/$pm/stat")
  for c in $(pgrep -P "$pm"); do
    c=$(awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$c/stat" 2>/dev/null || echo 0)
    t=$(awk -v a="$t" -v b="$c" 'BEGIN {print a + b}')
  done
  echo "$t"
}

# store_conf DBFILE: the [store] section of a surge.conf for BACKEND.
store_conf() {
  echo "[store]"
  if [[ $BACKEND == postgres ]]; then
    echo "backend = postgres"
    echo "dsn = $PG_DSN"
  else
    echo "path = $1"
  fi
}
