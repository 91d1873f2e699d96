#!/usr/bin/env bash
# Byte identity of ep's outputs between two ep binaries (a refactor with no change of behaviour must pass).
#
#   bash scripts/checks/byte_identity.sh BEFORE_EP AFTER_EP [WORK_FOLDER]
#
# Runs the same commands with both binaries, each in a folder of its own (BEFORE/ and AFTER/ under WORK_FOLDER, a
# temporary folder by default), then compares every file either wrote with cmp. Commands (run from the repository
# root, which must hold Tests/Fixtures/conformance and, for the text cases, data/models and data/corpus):
#   for every conformance case: calibrate (calib.json); build with --center/--threshold and --assignments; build with
#   --calibration; build with --percentile; export --format npy, npz and saelens; info --json; inspect --json;
#   match --json of two of its dictionaries; eval stability -o (a JSON report); report (the site's data files);
#   the evaluation reports of EPEvalSuite on a small SmolLM2 text dictionary (4k tokens): eval concepts -o/--markdown
#   (2 concepts of data/datasets/concepts/chatterbot.jsonl, 8 texts per class), eval probe -o/--markdown (two binary
#   files of data/datasets/probes, 10 training and 8 held-out texts per class, --k 2,3: the top-1 ratios are null),
#   eval saturation -o/--markdown (the dictionary's build log and a 2k-token chat domain built under --builds);
#   a text build on SmolLM2 (about 20k tokens, --percentile 2, contexts) and its calibration-cache record, info and
#   inspect --json; ep tokenize --json of a text with characters JSON escapes; ep shards plan / extract / merge /
#   status --json on the same settings;
#   verbs' --json outputs on that dictionary: ep assign --text (a text of several windows with characters JSON
#   escapes, in batches of one window; and an empty text), ep coverage (the corpus and random token windows),
#   ep bench forward (two windows of 16 tokens, one timed call), ep inspect with the logit lens and boundary
#   members, ep match with the logit lens (the dictionary against the sharded build's, both bases); ep import of a
#   pickle fixture and inspect --json of it (members shown as their prompts).
#
# Masked fields (they differ from run to run by nature; everything else must be identical byte for byte):
#   - build_log.json and build_state.json: "elapsed_s" (timings); the manifest's "bytes" of those two files (the
#     timings' digit count changes their size; their sha256 is not recorded);
#   - eval concepts and eval probe JSON: "extraction_seconds" (the time of the extraction and readouts);
#   - shards: RUN/status/*.json and `ep shards status --json`: "host", "pid", "started", "updated", "ended",
#     "seconds", "activations_per_second";
#   - report: data/summary.js "created" (the date the site was written);
#   - ep match --json: "seconds" (the matching's time);
#   - ep bench forward --json: "seconds", "load_seconds", "other_cores_busy", "load_averages",
#     "peak_resident_bytes" (timings, the machine's load and the process's memory);
#   - stdout of commands is not compared (progress lines hold rates) except the --json outputs listed above.
# The key list is MASK_KEYS below; a masked value (a string, a number, null or an array of numbers) is replaced by
# "<masked>" in both copies before cmp, in .json and .js files. A file present on one side only is a difference.
# Both runs happen in the same folder, so recorded paths agree. The BEFORE outputs are reused when WORK_FOLDER
# already holds them for the same BEFORE binary, script and checkout.
set -Eeuo pipefail

BEFORE=$(realpath "$1")
AFTER=$(realpath "$2")
WORK=${3:-$(mktemp -d /tmp/byte_identity.XXXXXX)}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CONF=$ROOT/Tests/Fixtures/conformance
MASK_KEYS='activations_per_second|elapsed_s|elapsed_seconds|extraction_seconds|seconds|rows_per_second|tokens_per_second|started|ended|finished|updated|created|pid|host|load_seconds|other_cores_busy|load_averages|peak_resident_bytes'
mkdir -p "$WORK"
echo "byte identity: $BEFORE vs $AFTER in $WORK"
trap 'echo "byte identity: a command failed (see $WORK/*.log)" >&2' ERR

json_field() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$1" "$2"; }

# run_all EP OUT: every command, outputs under OUT.
run_all() {
    local ep=$1 out=$2
    rm -rf "$out"; mkdir -p "$out"
    export EP_CACHE_DIR=$out/cache
    for dir in "$CONF"/*/; do
        local case; case=$(basename "$dir")
        local o=$out/$case; mkdir -p "$o"
        local p n cb ab th
        p=$(json_field "$dir/case.json" percentile)
        n=$(json_field "$dir/case.json" calibration_tokens)
        cb=$(json_field "$dir/case.json" calibration_batch_size)
        ab=$(json_field "$dir/case.json" add_batch_size)
        th=$(json_field "$dir/case.json" threshold)
        local acts=$dir/activations.npy
        "$ep" calibrate "$acts" --percentile "$p" --calibration-tokens "$n" --batch-size "$cb" \
            --model conformance --hook "blocks.0.hook_resid_post" --context 16 -o "$o/calib.json"
        "$ep" build "$acts" --center "$dir/center.npy" --threshold "$th" --batch-size "$ab" \
            --assignments "$o/assignments.npy" -o "$o/dict-ct"
        "$ep" build "$acts" --calibration "$o/calib.json" --batch-size "$ab" -o "$o/dict-cal"
        "$ep" build "$acts" --percentile "$p" --calibration-tokens "$n" --calibration-batch-size "$cb" \
            --batch-size "$ab" --seed 3 --reservoir -o "$o/dict-p"
        "$ep" export "$o/dict-ct" --format npy -o "$o/export-npy"
        "$ep" export "$o/dict-ct" --format npz -o "$o/export.npz"
        "$ep" export "$o/dict-p" --format saelens -o "$o/export-saelens"
        "$ep" export "$o/dict-p" --format saelens --basis mean -o "$o/export-saelens-mean"
        "$ep" info "$o/dict-p" --json > "$o/info.json"
        "$ep" inspect "$o/dict-p" --json --top 5 > "$o/inspect.json"
        "$ep" match "$o/dict-ct" "$o/dict-p" --json --no-lens > "$o/match.json"
        "$ep" eval stability "$o/dict-ct" "$o/dict-p" -o "$o/stability.json" > /dev/null
        "$ep" report "$o/dict-p" --no-token-distances -o "$o/report" > /dev/null
    done
    # Evaluation reports (EPEvalSuite).
    local emodel=$ROOT/data/models/smollm2-hf ecorpus=$ROOT/data/corpus/default.jsonl sets=$ROOT/data/datasets
    local chat=$ROOT/data/corpus/domains/chat.jsonl
    if [[ -d $emodel && -f $ecorpus && -f $chat && -f $sets/concepts/chatterbot.jsonl && -f $sets/probes/code-vs-prose.jsonl
          && -f $sets/probes/italian-vs-english.jsonl ]]; then
        local e=$out/eval; mkdir -p "$e"
        "$ep" build --model "$emodel" --hook blocks.15.hook_resid_post --corpus "$ecorpus" --percentile 2 --max-tokens 4000 \
            --calibration-tokens 2000 --batch-windows 8 --threads 2 -o "$e/dict" > /dev/null
        "$ep" eval concepts "$e/dict" --data "$sets/concepts/chatterbot.jsonl" --concepts-per-file 2 --max-train 8 --max-test 8 \
            -o "$e/concepts.json" --markdown "$e/concepts.md" > /dev/null
        "$ep" eval probe "$e/dict" --data "$sets/probes/code-vs-prose.jsonl" --data "$sets/probes/italian-vs-english.jsonl" \
            --max-train 10 --max-test 8 --k 2,3 -o "$e/probe.json" --markdown "$e/probe.md" > /dev/null
        "$ep" eval saturation "$e/dict" --domain chat="$chat" --calibration-from "$e/dict" --builds "$e/domains" \
            --max-tokens 2000 --batch-windows 4 --saturation-window 0 --threads 2 -o "$e/saturation.json" --markdown "$e/saturation.md" > /dev/null
    else
        echo "note: $emodel, $ecorpus, $chat or the datasets in $sets missing: the evaluation reports are skipped" >&2
    fi
    # A small text build on SmolLM2 with contexts, and the same settings as a sharded build.
    local model=$ROOT/data/models/smollm2-hf corpus=$ROOT/data/corpus/default.jsonl
    if [[ -d $model && -f $corpus ]]; then
        local t=$out/text; mkdir -p "$t"
        local args=(--model "$model" --hook blocks.15.hook_resid_post --corpus "$corpus" --percentile 2
                    --max-tokens 20000 --calibration-tokens 4000 --batch-windows 32 --threads 2)
        "$ep" build "${args[@]}" -o "$t/dict" > /dev/null
        "$ep" info "$t/dict" --json > "$t/info.json"
        "$ep" inspect "$t/dict" --json --top 3 --contexts 2 > "$t/inspect.json"
        "$ep" tokenize "$model" --text $'a/b <x> & \'y\' "q" \\ \r\n\t\b\f\x01 caf\u00e9 \u2028 end' --json > "$t/tokenize.json"
        "$ep" shards plan --shards 2 -o "$t/run" "${args[@]}" > /dev/null
        "$ep" shards status "$t/run" --json > "$t/status-planned.json" || true
        "$ep" shards extract "$t/run" --index 0 > /dev/null
        "$ep" shards extract "$t/run" --index 1 > /dev/null
        "$ep" shards merge "$t/run" --wait 0 -o "$t/merged" > /dev/null
        "$ep" shards status "$t/run" --json > "$t/status-merged.json" || true
        # Verbs' --json outputs.
        local sample=$'The river rose after three days of rain, and the "old" bridge <closed> at dawn & dusk.\n\tTolls: 5\\10 caf\u00e9 \u2028 end. '
        "$ep" assign "$t/dict" --text "$sample$sample$sample$sample$sample$sample$sample$sample" --batch-windows 1 --threads 2 --json > "$t/assign.json"
        "$ep" assign "$t/dict" --text "" --threads 2 --json > "$t/assign-empty.json"
        "$ep" coverage "$t/dict" --corpus "$corpus" --max-tokens 3000 --random-tokens 3 --documents 2 --threads 2 --json > "$t/coverage.json"
        "$ep" bench forward "$model" --windows 2 --window-length 16 --repeats 1 --threads 2 --json > "$t/bench-forward.json"
        "$ep" inspect "$t/merged" --json --region 0 --region 3 --boundary 2 --contexts 1 --lens-tokens 3 > "$t/inspect-boundary.json"
        "$ep" match "$t/dict" "$t/merged" --json --lens-tokens 2 --threads 2 > "$t/match.json"
        "$ep" match "$t/dict" "$t/merged" --json --basis mean --no-lens > "$t/match-mean.json"
        local pickle=$ROOT/Tests/Fixtures/pickles/legacy-cas-d64
        "$ep" import "$pickle.pkl" --metadata "${pickle}_metadata.json" -o "$t/imported" > /dev/null
        "$ep" inspect "$t/imported" --json --region 0 --contexts 2 --boundary 1 > "$t/inspect-imported.json"
        "$ep" report "$t/dict" --no-token-distances --contexts 2 --boundary 1 -o "$t/report" > /dev/null
    else
        echo "note: $model or $corpus missing: the text cases are skipped" >&2
    fi
    unset EP_CACHE_DIR
}

mask() {
    # Replaces the values of MASK_KEYS in every .json file under $1 (in place).
    python3 - "$1" "$MASK_KEYS" <<'EOF'
import os, re, sys
root, keys = sys.argv[1], sys.argv[2]
pattern = re.compile(r'("(?:' + keys + r')"\s*:\s*)("(?:[^"\\]|\\.)*"|-?[0-9][0-9.eE+-]*|null|\[[^\[\]{}"]*\])')
for folder, _, files in os.walk(root):
    for name in files:
        if not (name.endswith('.json') or name.endswith('.js')):
            continue
        path = os.path.join(folder, name)
        text = open(path, 'rb').read().decode('utf-8', 'surrogateescape')
        masked = pattern.sub(lambda m: m.group(1) + '"<masked>"', text)
        # The manifest's size of build_log.json and build_state.json follows the masked timings' digits.
        masked = re.sub(r'("name": "build_(?:log|state)\.json",\s*"bytes": )[0-9]+', r'\1"<masked>"', masked)
        if masked != text:
            open(path, 'wb').write(masked.encode('utf-8', 'surrogateescape'))
EOF
}

# Both runs happen in the same folder (WORK/run), so that paths recorded in the outputs agree; each is then moved to
# WORK/BEFORE or WORK/AFTER. stderr goes to WORK/BEFORE.log and WORK/AFTER.log.
# Outputs record the checkout's paths (the conformance inputs), so reuse is keyed by the checkout too.
before_id=$( (cat "$BEFORE" "$0"; echo "$ROOT") | sha256sum | cut -c1-64)
if [[ -f $WORK/BEFORE.id && $(cat "$WORK/BEFORE.id") == "$before_id" && -d $WORK/BEFORE ]]; then
    echo "reusing the BEFORE outputs in $WORK/BEFORE"
else
    rm -rf "$WORK/BEFORE" "$WORK/BEFORE.id" "$WORK/run"
    run_all "$BEFORE" "$WORK/run" 2> "$WORK/BEFORE.log" > /dev/null; mv "$WORK/run" "$WORK/BEFORE"
    rm -rf "$WORK/BEFORE/cache/model-hashes"; mask "$WORK/BEFORE"
    echo "$before_id" > "$WORK/BEFORE.id"
fi
rm -rf "$WORK/AFTER" "$WORK/run"
run_all "$AFTER" "$WORK/run" 2> "$WORK/AFTER.log" > /dev/null; mv "$WORK/run" "$WORK/AFTER"
# The model-hash cache holds no output of interest (and paths differ); the calibration cache records are compared.
rm -rf "$WORK/AFTER/cache/model-hashes"; mask "$WORK/AFTER"

status=0 files=0
while IFS= read -r -d '' f; do
    rel=${f#"$WORK/BEFORE/"}
    files=$((files + 1))
    if [[ ! -f "$WORK/AFTER/$rel" ]]; then echo "only in BEFORE: $rel"; status=1; continue; fi
    cmp -s "$f" "$WORK/AFTER/$rel" || { echo "differs: $rel"; status=1; }
done < <(find "$WORK/BEFORE" -type f -print0 | sort -z)
while IFS= read -r -d '' f; do
    rel=${f#"$WORK/AFTER/"}
    [[ -f "$WORK/BEFORE/$rel" ]] || { echo "only in AFTER: $rel"; status=1; }
done < <(find "$WORK/AFTER" -type f -print0 | sort -z)
if [[ $status == 0 ]]; then echo "byte identity: $files files identical"; else echo "byte identity: FAILED ($files files compared)"; fi
exit $status
