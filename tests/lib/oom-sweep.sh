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
# (above SG_OOM_FULL_CAP allocations, default 20000, every stride-th k,
# the stride making at most that many runs; the line says so);
# "quick" chooses k = 1..SG_OOM_FIRST and SG_OOM_SAMPLE more drawn at
# random from the rest with seed SG_OOM_SEED (the draw is the same on
# every run with the same seed, count and test name). A test that fails
# when run alone (it needs the tests before it) is covered by one more
# sweep of the whole program, unfiltered, labelled "whole".
# SG_OOM_TESTS="name ..." limits the sweep to those tests.
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
first=${SG_OOM_FIRST:-0}
sample=${SG_OOM_SAMPLE:-1}
seed=${SG_OOM_SEED:-7}
tmin=${SG_OOM_TIMEOUT:-30}
fullcap=${SG_OOM_FULL_CAP:-20000}
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

# No process is started here but the program and timeout: on a loaded
# 2-core machine each fork of a helper costs as much as a short test.
now_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }
# Seconds since a now_ms() reading, one decimal.
secs() { local d=$(($(now_ms) - $1)); echo "$((d / 1000)).$((d % 1000 / 100))"; }

# run TEST K SECONDS: sets r_status, r_count, r_failed, r_out, r_err.
run() {
    local rep
    : >"$work/report"
    SG_TEST_ONLY=$1 SG_ALLOC_FAIL_AT=$2 SG_ALLOC_REPORT=$work/report \
        timeout -k 5 "$3" "$prog" >"$work/out" 2>"$work/err" </dev/null
    r_status=$?
    r_count=0
    r_failed=0
    rep=
    r_out=
    r_err=
    read -r rep <"$work/report"
    [ -n "$rep" ] && read -r r_count r_failed <<<"$rep"
    IFS= read -r -d '' r_out <"$work/out"
    IFS= read -r -d '' r_err <"$work/err"
}

# verdict: sets why to what was wrong with the run, or to "" for an
# accepted one (a failed assertion or any other ordinary exit).
verdict() {
    local failed_tests=0
    why=
    # cmocka says a test failed on stdout and a setup failed on stderr.
    case $r_out$r_err in *"[  FAILED  ]"*|*"[  ERROR   ]"*) failed_tests=1;; esac
    if [ "$r_status" -eq 124 ] || [ "$r_status" -eq 137 ]; then
        why="hang: killed after its time"
    elif [[ $r_err == *"ERROR: AddressSanitizer"* || $r_err == *"AddressSanitizer:DEADLYSIGNAL"* ]]; then
        why="sanitizer error: AddressSanitizer"
    elif [[ $r_err == *"runtime error:"* ]]; then
        why="sanitizer error: UndefinedBehaviorSanitizer"
    elif [[ $r_out$r_err == *"Test failed with exception"* ]]; then
        why="crash caught by cmocka (a signal in the test)"
    elif [ "$r_status" -gt 128 ] && [ "$r_status" -le 192 ]; then
        why="crash: died by signal $((r_status - 128))"
    elif [[ $r_err == *"ERROR: LeakSanitizer"* ]] && [ $failed_tests -eq 0 ]; then
        why="leak in a run whose tests passed"
    fi
}

# keep TEST K: the defect's output to oom-logs/, and a line saying so.
keep() {
    mkdir -p "$logdir"
    cat "$work/out" "$work/err" >"$logdir/$name.$1.$2.log"
    echo "D5 DEFECT $name $1 allocation $2: $why" \
        "(SG_TEST_ONLY=$1 SG_ALLOC_FAIL_AT=$2 $name; oom-logs/$name.$1.$2.log)"
}

# The k to try for a test of count allocations, one per line.
points() {
    local count=$1 test=$2 k h i
    if [ "$mode" = full ]; then
        # Every k, or every stride-th past the cap (a test with hundreds
        # of thousands of allocations would take days at a run each).
        [ "$count" -gt 0 ] && seq 1 $(( (count + fullcap - 1) / fullcap )) "$count"
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
# SG_OOM_TESTS="a b": sweep only these tests of the program (to finish
# a long sweep in parts).
if [ -n "${SG_OOM_TESTS:-}" ]; then
    only=()
    for t in "${tests[@]}"; do
        [[ " $SG_OOM_TESTS " == *" $t "* ]] && only+=("$t")
    done
    tests=("${only[@]}")
fi
whole_count=$r_count
whole_ms=$(($(now_ms) - t_start))

# sweep FILTER LABEL COUNT MS: the chosen k for one test (or, with an
# empty FILTER, for the whole program), counted into the totals.
sweep() {
    local filter=$1 label=$2 count=$3 ms=$4 limit t0 last
    local runs=0 errors=0 absorbed=0 excused=0 bad=0 hangs=0
    limit=$(( (ms * 10 + 999) / 1000 ))
    [ "$limit" -lt "$tmin" ] && limit=$tmin
    t0=$(now_ms)
    # The last k swept: read empties k when the list ends.
    last=0
    while read -r k; do
        last=$k
        run "$filter" "$k" "$limit"
        runs=$((runs + 1))
        verdict
        if [ -z "$why" ]; then
            if [ "$r_status" -eq 0 ]; then
                absorbed=$((absorbed + 1))
            else
                errors=$((errors + 1))
                [[ $r_err == *"ERROR: LeakSanitizer"* ]] && excused=$((excused + 1))
            fi
        else
            bad=$((bad + 1))
            keep "$label" "$k"
            case $why in hang*) hangs=$((hangs + 1));; esac
            if [ $hangs -ge 3 ]; then
                echo "D5 $name $label: three hangs; the rest of it not swept"
                break
            fi
        fi
    done < <(points "$count" "$label")
    # A threaded test allocates a little more on some runs: go on while
    # the allocation asked for still fails.
    if [ "$mode" = full ] && [ $hangs -lt 3 ]; then
        k=$last
        while [ "$r_failed" = 1 ] && [ "$k" -lt $((2 * count + 100)) ]; do
            k=$((k + 1))
            run "$filter" "$k" "$limit"
            [ "$r_failed" = 1 ] || break
            runs=$((runs + 1))
            verdict
            if [ -n "$why" ]; then
                bad=$((bad + 1))
                keep "$label" "$k"
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
    printf 'D5 %s %-44s %7d sites %6d runs (%d errors, %d with the test'\''s own leak, %d absorbed, %d defects) %s s%s\n' \
        "$name" "$label" "$count" "$runs" "$errors" "$excused" "$absorbed" "$bad" \
        "$(secs "$t0")" \
        "$([ "$mode" = full ] && [ "$count" -gt "$fullcap" ] && echo " (every $(( (count + fullcap - 1) / fullcap ))th)")"
}

alone_fail=()
for test in "${tests[@]}"; do
    # The filter is a glob; test names are C identifiers.
    t0=$(now_ms)
    run "$test" 0 600
    ms=$(($(now_ms) - t0))
    if [ "$r_status" -ne 0 ] || [[ $r_out != *"[       OK ]"* ]]; then
        # It needs the tests before it: swept with the whole program.
        alone_fail+=("$test")
        continue
    fi
    sweep "$test" "$test" "$r_count" "$ms"
done
if [ ${#alone_fail[@]} -gt 0 ]; then
    echo "D5 $name: ${alone_fail[*]} fail when run alone (they need the" \
         "tests before them): the whole program is swept for them"
    sweep "" whole "$whole_count" "$whole_ms"
fi
printf 'D5 %s: %d tests, %d sites, %d runs (%s), %d defects, %s s\n' \
    "$name" "${#tests[@]}" "$total_sites" "$total_runs" "$mode" "$defects" \
    "$(secs "$t_start")"
[ "$defects" -eq 0 ]
