#!/usr/bin/env bash
# Builds (release) and runs scripts/bench/weight-bench under /usr/bin/time -v: early-exit prefill or generation
# speed, load time and peak resident memory of one model, with its weights decoded or left in their stored form.
#
#   scripts/bench/weight_bench.sh MODEL prefill --layer 12 [--windows 16] [--length 128] [--repeats 3] [--storage mapped]
#   scripts/bench/weight_bench.sh MODEL generate [--steps 16] [--storage decoded]
#
# The package depends on this repository by path (its own .build folder; the first build takes minutes).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
swift build -c release --package-path "$here/weight-bench" >&2
binary="$(swift build -c release --package-path "$here/weight-bench" --show-bin-path)/weight-bench"
/usr/bin/time -v "$binary" "$@" 2> >(grep -E "Maximum resident|Elapsed|Exit status|Major|Minor" >&2)
