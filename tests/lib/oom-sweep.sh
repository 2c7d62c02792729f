#!/usr/bin/env bash
# oom-sweep.sh - the whole-program allocation-failure sweep (D5, issue #7),
# curl's `runtests -t` way, for one unit test program built with
# tests/lib/oom_env.c.
#
#   oom-sweep.sh PROGRAM quick|full
#
# For each cmocka test of PROGRAM (run alone with SG_TEST_ONLY): one clean
# run counts its allocations (SG_ALLOC_FAIL_AT=0), then the test runs once
# per chosen k with allocation k failing, process-wide. "full" chooses
# every k = 1..count (and goes on past count while the k-th allocation
# still fails: a threaded test's count moves a little from run to run);
# "quick" chooses k = 1..SG_OOM_FIRST and SG_OOM_SAMPLE more drawn at
# random from the rest with seed SG_OOM_SEED (the draw is the same on
# every run with the same seed, count and test name).
#
# A run is a defect when the program dies by a signal (abort included),
# when a sanitizer reports an error, when cmocka catches a signal in a
# test, when it outlives its time (max(SG_OOM_TIMEOUT, 10 x the clean
# run), then it is killed), or when LeakSanitizer reports a leak in a run
# whose tests all passed. A leak in a run where one of the test's own
# assertions failed is not counted: cmocka leaves a failing test by
# longjmp, so its fixtures are never freed and the report cannot tell
# those from the library's. A failed assertion, or any other exit, is the
# error reaching the test (accepted). Each defect's output is kept in
# oom-logs/ beside PROGRAM, named PROGRAM.TEST.k.log; rerun one with
#   SG_TEST_ONLY=TEST SG_ALLOC_FAIL_AT=k PROGRAM
# Exit status: 0 when no run was a defect.
set -u

prog=$1
mode=$2
first=${SG_OOM_FIRST:-4}
sample=${SG_OOM_SAMPLE:-4}
seed=${SG_OOM_SEED:-7}
tmin=${SG_OOM_TIMEOUT:-30}
name=$(basename "$prog")
logdir=$(dirname "$prog")/oom-logs
work=$(mktemp -d "${TMPDIR:-/tmp}/oom-sweep.XXXXXX")
trap 'rm -rf "$work"' EXIT

case $mode in quick|full) ;; *) echo "usage: $0 PROGRAM quick|full" >&2; exit 2;; esac

# Sanitizer errors are read from stderr, not inferred from the exit code;
# a sanitizer must not abort (an abort is what a crash looks like).
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}abort_on_error=0:detect_leaks=1:quarantine_size_mb=8"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}abort_on_error=0"

defects=0
total_runs=0
total_sites=0

now_ms() { date +%s%3N; }
# Seconds since a now_ms() reading, one decimal.
secs() { local d=$(($(now_ms) - $1)); echo "$((d / 1000)).$((d % 1000 / 100))"; }

# run TEST K SECONDS: sets r_status, r_count, r_failed, r_ms.
run() {
    local t0
    rm -f "$work/report"
    t0=$(now_ms)
    SG_TEST_ONLY=$1 SG_ALLOC_FAIL_AT=$2 SG_ALLOC_REPORT=$work/report \
        timeout -k 5 "$3" "$prog" >"$work/out" 2>"$work/err" </dev/null
    r_status=$?
    r_ms=$(($(now_ms) - t0))
    r_count=0
    r_failed=0
    if [ -s "$work/report" ]; then
        read -r r_count r_failed <"$work/report"
    fi
}

# verdict: prints nothing and returns 0 for an accepted run; else prints
# what was wrong.
verdict() {
    local failed_tests=0
    if grep -q '^\[  FAILED  \]\|^\[  ERROR   \]' "$work/out"; then
        failed_tests=1
    fi
    if [ "$r_status" -eq 124 ] || [ "$r_status" -eq 137 ]; then
        echo "hang: killed after its time"
    elif grep -q 'ERROR: AddressSanitizer\|AddressSanitizer:DEADLYSIGNAL\|runtime error:' "$work/err"; then
        echo "sanitizer error: $(grep -m1 'ERROR: AddressSanitizer\|runtime error:\|DEADLYSIGNAL' "$work/err")"
    elif grep -q 'Test failed with exception' "$work/out" "$work/err"; then
        echo "crash caught by cmocka: $(grep -h -m1 'Test failed with exception' "$work/out" "$work/err")"
    elif [ "$r_status" -gt 128 ]; then
        echo "crash: died by signal $((r_status - 128))"
    elif grep -q 'ERROR: LeakSanitizer' "$work/err" && [ $failed_tests -eq 0 ]; then
        echo "leak in a run whose tests passed: $(grep -m1 'SUMMARY' "$work/err")"
    else
        return 0
    fi
    return 1
}

# The k to try for a test of count allocations, one per line.
points() {
    local count=$1 test=$2 k h i
    if [ "$mode" = full ]; then
        seq 1 "$count"
        return
    fi
    for ((k = 1; k <= first && k <= count; k++)); do echo $k; done
    if [ "$count" -gt "$first" ]; then
        h=$(printf '%s' "$seed/$name/$test/$count" | cksum | cut -d' ' -f1)
        RANDOM=$((h % 32768))
        for ((i = 0; i < sample; i++)); do
            echo $((first + 1 + ((RANDOM << 15 | RANDOM) % (count - first))))
        done | sort -n -u
    fi
}

t_start=$(now_ms)
# The whole program once, clean: it must pass, and names its tests.
run "" 0 600
if [ "$r_status" -ne 0 ]; then
    echo "$name: the clean run failed (exit $r_status); no sweep" >&2
    cat "$work/out" "$work/err" >&2
    exit 1
fi
mapfile -t tests < <(sed -n 's/^\[ RUN      \] //p' "$work/out")

for test in "${tests[@]}"; do
    # The filter is a glob; test names are C identifiers.
    run "$test" 0 600
    if [ "$r_status" -ne 0 ] || ! grep -q '^\[       OK \]' "$work/out"; then
        echo "$name: $test fails when run alone (exit $r_status); not swept" >&2
        defects=$((defects + 1))
        continue
    fi
    count=$r_count
    limit=$(( (r_ms * 10 + 999) / 1000 ))
    [ "$limit" -lt "$tmin" ] && limit=$tmin
    runs=0 errors=0 absorbed=0 excused=0 bad=0 hangs=0
    t0=$(now_ms)
    k=0
    while read -r k; do
        run "$test" "$k" "$limit"
        runs=$((runs + 1))
        if why=$(verdict); then
            if [ "$r_status" -eq 0 ]; then
                absorbed=$((absorbed + 1))
            else
                errors=$((errors + 1))
                grep -q 'ERROR: LeakSanitizer' "$work/err" && excused=$((excused + 1))
            fi
        else
            bad=$((bad + 1))
            mkdir -p "$logdir"
            cat "$work/out" "$work/err" >"$logdir/$name.$test.$k.log"
            echo "D5 DEFECT $name $test allocation $k: $why" \
                "(SG_TEST_ONLY=$test SG_ALLOC_FAIL_AT=$k $name)"
            case $why in hang*) hangs=$((hangs + 1));; esac
            if [ $hangs -ge 3 ]; then
                echo "D5 $name $test: three hangs; the rest of this test not swept"
                break
            fi
        fi
    done < <(points "$count" "$test")
    # A threaded test allocates a little more on some runs: go on while
    # the allocation asked for still fails.
    if [ "$mode" = full ] && [ $hangs -lt 3 ]; then
        while [ "$r_failed" = 1 ] && [ "$k" -lt $((2 * count + 100)) ]; do
            k=$((k + 1))
            run "$test" "$k" "$limit"
            [ "$r_failed" = 1 ] || break
            runs=$((runs + 1))
            if ! why=$(verdict); then
                bad=$((bad + 1))
                mkdir -p "$logdir"
                cat "$work/out" "$work/err" >"$logdir/$name.$test.$k.log"
                echo "D5 DEFECT $name $test allocation $k: $why" \
                    "(SG_TEST_ONLY=$test SG_ALLOC_FAIL_AT=$k $name)"
            elif [ "$r_status" -eq 0 ]; then
                absorbed=$((absorbed + 1))
            else
                errors=$((errors + 1))
            fi
        done
    fi
    total_runs=$((total_runs + runs))
    total_sites=$((total_sites + count))
    defects=$((defects + bad))
    printf 'D5 %s %-44s %7d sites %6d runs (%d errors, %d with the test'\''s own leak, %d absorbed, %d defects) %s s\n' \
        "$name" "$test" "$count" "$runs" "$errors" "$excused" "$absorbed" "$bad" \
        "$(secs "$t0")"
done
printf 'D5 %s: %d tests, %d sites, %d runs (%s), %d defects, %s s\n' \
    "$name" "${#tests[@]}" "$total_sites" "$total_runs" "$mode" "$defects" \
    "$(secs "$t_start")"
[ "$defects" -eq 0 ]
