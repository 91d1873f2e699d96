#!/usr/bin/env bash
# make fuzz: builds the libFuzzer targets of Fuzz/ (with AddressSanitizer), writes their seed corpora, runs each for
# FUZZ_SECONDS seconds and prints executions, seconds, executions per second and crashes per target. Exits non-zero
# when any target found a crash, a hang (one input over FUZZ_TIMEOUT seconds) or an out-of-memory (over
# FUZZ_RSS_MB MB); the input is kept under Fuzz/.build/fuzz/artifacts/TARGET/ and the command that replays it is
# printed. See docs/fuzzing.md.
#
#   FUZZ_SECONDS   seconds per target (default 60)
#   FUZZ_TARGETS   targets to run, space-separated (default: all)
#   FUZZ_JOBS      parallel fuzzing processes per target (default 1)
set -euo pipefail
cd "$(dirname "$0")"

seconds=${FUZZ_SECONDS:-60}
timeout=${FUZZ_TIMEOUT:-10}
rss=${FUZZ_RSS_MB:-2048}
jobs=${FUZZ_JOBS:-1}
all="FuzzNPY FuzzSafetensors FuzzGGUF FuzzTokenizerJSON FuzzHFConfig FuzzJSONL FuzzManifest FuzzCalibrationRecord FuzzJSON FuzzPickle"
targets=${FUZZ_TARGETS:-$all}
work=.build/fuzz

# SwiftPM passes --sanitize values as separate -sanitize flags and the Swift driver keeps only the last, so the
# pair is passed as one flag; --sanitize=fuzzer is still given so that SwiftPM leaves `main` to libFuzzer.
echo "fuzz: building the targets (release, -sanitize=fuzzer,address)"
start=$(date +%s)
mkdir -p "$work/logs"
if ! swift build -c release --sanitize=fuzzer -Xswiftc -sanitize=fuzzer,address >"$work/logs/build.log" 2>&1; then
  grep -v "Cannot export local symbol" "$work/logs/build.log" | tail -40 >&2
  echo "fuzz: build failed (log: Fuzz/$work/logs/build.log)" >&2
  exit 1
fi
bin=$(swift build -c release --sanitize=fuzzer -Xswiftc -sanitize=fuzzer,address --show-bin-path)
echo "fuzz: built in $(( $(date +%s) - start )) s"

python3 seeds.py "$work/seeds"

# The Swift runtime's crash backtracer would take over the signal libFuzzer reports crashes from.
export SWIFT_BACKTRACE=enable=no
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:allocator_may_return_null=0}

printf '%-22s %12s %8s %10s %8s  %s\n' target executions seconds "exec/s" crashes corpus > "$work/summary.txt"
failed=0
for t in $targets; do
  mkdir -p "$work/corpus/$t" "$work/artifacts/$t"
  before=$(ls "$work/artifacts/$t" | wc -l)
  log="$work/logs/$t.log"
  t0=$(date +%s.%N)
  flags=(-max_total_time="$seconds" -timeout="$timeout" -rss_limit_mb="$rss" -print_final_stats=1
         -dict="$work/seeds/$t.dict" -artifact_prefix="$work/artifacts/$t/")
  if [ "$jobs" -gt 1 ]; then flags+=(-fork="$jobs" -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1); fi
  set +e
  "$bin/$t" "${flags[@]}" "$work/corpus/$t" "$work/seeds/$t" >"$log" 2>&1
  rc=$?
  set -e
  t1=$(date +%s.%N)
  elapsed=$(python3 -c "print(f'{$t1 - $t0:.1f}')")
  # Executions: the final statistics, or (after a crash, or in fork mode) the last status line.
  execs=$( (grep -a "stat::number_of_executed_units" "$log" || true) | awk '{s += $2} END {print s + 0}')
  if [ "$execs" = 0 ]; then execs=$( (grep -aoE "^#[0-9]+" "$log" || true) | tail -1 | tr -d '#'); fi
  execs=${execs:-0}
  rate=$(python3 -c "print(round($execs / max($elapsed, 0.001)))")
  crashes=$(( $(ls "$work/artifacts/$t" | wc -l) - before ))
  if [ "$rc" != 0 ] && [ "$crashes" = 0 ]; then crashes=1; fi
  units=$(ls "$work/corpus/$t" | wc -l)
  printf '%-22s %12s %8s %10s %8s  %s\n' "$t" "$execs" "$elapsed" "$rate" "$crashes" "$units" | tee -a "$work/summary.txt"
  if [ "$crashes" != 0 ]; then
    failed=1
    (grep -aE "ERROR: |Fatal error|SUMMARY|==[0-9]+==" "$log" || true) | head -5 | sed 's/^/    /'
    for a in $(ls -t "$work/artifacts/$t" | head -"$crashes"); do
      echo "    replay: Fuzz/$bin/$t Fuzz/$work/artifacts/$t/$a" | sed "s#Fuzz/$PWD/#Fuzz/#"
    done
    echo "    log: Fuzz/$log"
  fi
done
echo
cat "$work/summary.txt"
if [ "$failed" != 0 ]; then echo "fuzz: crashes found (inputs under Fuzz/$work/artifacts/)" >&2; exit 1; fi
echo "fuzz: no crashes"
