#!/usr/bin/env bash
# fuzz.sh - run every libFuzzer target for a while (S1). Usage:
#   scripts/fuzz.sh BUILD_DIR [SECONDS] [TARGET...]
# BUILD_DIR holds a "fuzz" preset build (clang, -fsanitize=fuzzer). Each
# target starts from its committed corpus (tests/fuzz/corpus/<t>, read
# only) plus a working corpus in BUILD_DIR/corpus/<t> that keeps what the
# fuzzer found; crashers land in BUILD_DIR/crashers/<t>/. Copy a crasher
# into tests/fuzz/corpus/<t>/ once it is fixed: the normal build then
# replays it forever (ctest -L fuzz-replay).
# Exit status is non-zero when any target found a crash, leak or timeout.
set -uo pipefail
cd "$(dirname "$0")/.."

build=${1:?usage: scripts/fuzz.sh BUILD_DIR [SECONDS] [TARGET...]}
secs=${2:-60}
shift $(( $# >= 2 ? 2 : 1 ))
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
  for f in tests/fuzz/fuzz_*.c; do
    t=${f#tests/fuzz/fuzz_}
    targets+=("${t%.c}")
  done
fi

status=0
printf '%-14s %12s %10s  %s\n' target execs exec/s result
for t in "${targets[@]}"; do
  bin=$build/tests/fuzz/fuzz_$t
  if [[ ! -x $bin ]]; then
    echo "fuzz.sh: $bin not built (cmake --build --preset fuzz)" >&2
    status=1
    continue
  fi
  work=$build/corpus/$t
  crash=$build/crashers/$t
  log=$build/fuzz-$t.log
  mkdir -p "$work" "$crash"
  # The HTTP target pays a loopback round trip per input; 1 s elsewhere
  # (S1: an input slower than that is a finding).
  timeout=1
  [[ $t == http ]] && timeout=5
  ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} \
  UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
    "$bin" "$work" "tests/fuzz/corpus/$t" -max_total_time="$secs" \
      -timeout="$timeout" -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="$crash/" >"$log" 2>&1
  rc=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  if [[ $rc -eq 0 ]]; then
    result=ok
  else
    result="FAILED (see $log, inputs in $crash)"
    status=1
  fi
  printf '%-14s %12s %10s  %s\n' "$t" "${runs:-?}" "${rate:-?}" "$result"
done
exit $status
