#!/usr/bin/env bash
# Issue 12's acceptance check: `ep assign DICT --text-file` streams its input, so its peak resident memory is set by
# the batch, not by the text. Assigns 1 MB and 4 MB of Python standard-library source (real text) to a small
# SmolLM2 dictionary and prints each run's peak RSS (/usr/bin/time -v) and their difference (must be < 100 MB).
#
#   scripts/checks/assign_memory.sh [EP_BINARY]      (default .build/release/ep; takes several minutes)
set -euo pipefail
cd "$(dirname "$0")/../.."
ep=${1:-.build/release/ep}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
stdlib=$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["stdlib"])')
python3 - "$stdlib" "$work" <<'PY'
import pathlib, sys
stdlib, work = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
text = "".join(p.read_text(errors="replace") for p in sorted(stdlib.glob("*.py")))
for megabytes in (1, 4):
    (work / f"text{megabytes}.txt").write_text(text[: megabytes * 1_000_000])
(work / "small.txt").write_text(text[4_000_000:4_040_000])
PY
export EP_CACHE_DIR="$work/cache"
"$ep" build --model smollm2 --hook blocks.3.hook_resid_post --corpus "$work/small.txt" --percentile 5 --max-tokens 2000 \
  --calibration-tokens 1000 --context 64 --batch-windows 8 -o "$work/dict" >/dev/null
declare -A peak
for megabytes in 1 4; do
  /usr/bin/time -v "$ep" assign "$work/dict" --text-file "$work/text$megabytes.txt" >/dev/null 2>"$work/time$megabytes.log"
  peak[$megabytes]=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time$megabytes.log")
  seconds=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$work/time$megabytes.log")
  echo "assign ${megabytes} MB of text: peak RSS ${peak[$megabytes]} KB, wall ${seconds}"
done
difference=$(( (${peak[4]} - ${peak[1]}) / 1024 ))
echo "difference: ${difference} MB (acceptance: < 100 MB) on $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"
[ "${difference#-}" -lt 100 ]
