#!/usr/bin/env python3
"""What several hooks from one forward pass cost: `ep build` of N hooks against the deepest of them alone.

Runs the two builds in alternating order (ABBA), each from a fresh output folder with the same corpus and settings,
and prints each run's wall time, tokens/s, model-forward and clustering seconds and CPU use, then the medians and
the ratio (time of the N-hook build / time of the deepest alone; the issue's bar is 1.15 for 4 hooks).

By default both builds take their calibrations from a cache primed once beforehand (the steady state of a long
build, where the one-off calibration pass is a small share); --cold gives every run an empty cache, so the
N-hook build also calibrates N hooks.

  python3 scripts/multihook_cost.py                         # SmolLM2, blocks 6/12/18/24, Python stdlib corpus
  python3 scripts/multihook_cost.py --rounds 3 --max-tokens 50000 --layers 6,12,18,24 --ep .build/release/ep

Build ep first (swift build -c release). Other processes on the machine skew the times: the script prints the CPU
and the load average before and after, and the medians over rounds.
"""
import argparse
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def cpu_description():
    model, flags = "unknown", []
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and model == "unknown":
                    model = line.split(":", 1)[1].strip()
                if line.startswith("flags") and not flags:
                    flags = sorted(x for x in line.split(":", 1)[1].split() if x.startswith("avx512"))
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} CPUs, AVX-512: {' '.join(flags) if flags else 'none'}"


def load():
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def build(ep, hooks, args, folder, cache):
    out = os.path.join(folder, "out")
    shutil.rmtree(out, ignore_errors=True)
    command = [ep, "build", "--model", args.model, "--corpus", args.corpus, "--percentile", args.percentile,
               "--max-tokens", str(args.max_tokens), "--calibration-tokens", str(args.calibration_tokens),
               "--saturation-window", "0", "-o", out]
    if args.include:
        command += ["--include", args.include]
    for hook in hooks:
        command += ["--hook", hook]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    run = subprocess.run(command, capture_output=True, text=True, env=dict(os.environ, EP_CACHE_DIR=cache))
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if run.returncode != 0:
        sys.exit(f"ep build failed ({' '.join(command)}):\n{run.stderr}")
    line = re.search(r"this run: ([\d,]+) tokens in ([\d.]+) s = ([\d,]+) tokens/s; model forward ([\d.]+) s .*calibration ([\d.]+) s.*clustering ([\d.]+) s, writing ([\d.]+) s", run.stdout)
    if not line:
        sys.exit(f"cannot read the summary of ep build:\n{run.stdout}")
    tokens = int(line.group(1).replace(",", ""))
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall": wall, "tokens": tokens, "seconds": float(line.group(2)), "forward": float(line.group(4)),
            "calibration": float(line.group(5)), "clustering": float(line.group(6)), "writing": float(line.group(7)),
            "cpu": cpu}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ep", default=".build/release/ep")
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--layers", default="6,12,18,24", help="blocks.L.hook_resid_post for each L; the last-listed deepest is built alone")
    parser.add_argument("--corpus", default=None, help="default: data/corpus/default.jsonl if present, else this Python's standard library (*.py)")
    parser.add_argument("--percentile", default="2")
    parser.add_argument("--max-tokens", type=int, default=100_000)
    parser.add_argument("--calibration-tokens", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=3, help="ABBA rounds (each round runs both builds once)")
    parser.add_argument("--cold", action="store_true", help="an empty calibration cache for every run")
    args = parser.parse_args()
    args.include = None
    if args.corpus is None:
        if os.path.exists("data/corpus/default.jsonl"):
            args.corpus = "data/corpus/default.jsonl"
        else:
            import sysconfig
            args.corpus, args.include = sysconfig.get_paths()["stdlib"], "*.py"
    if not os.access(args.ep, os.X_OK):
        sys.exit(f"{args.ep}: not found; build it first (swift build -c release) or give --ep")
    layers = sorted({int(x) for x in args.layers.split(",")})
    hooks = [f"blocks.{l}.hook_resid_post" for l in layers]
    deepest = hooks[-1:]

    print(f"CPU: {cpu_description()}")
    print(f"load average before: {load()}")
    print(f"model {args.model}; corpus {args.corpus}{' (' + args.include + ')' if args.include else ''}; p{args.percentile}; "
          f"{args.max_tokens:,} tokens; calibration {args.calibration_tokens:,} activations ({'cold: computed in every run' if args.cold else 'from a primed cache'})")
    folder = tempfile.mkdtemp(prefix="ep-multihook-")
    cache = os.path.join(folder, "cache")
    if not args.cold:
        primed = build(args.ep, hooks, argparse.Namespace(**{**vars(args), "max_tokens": 1}), folder, cache)
        print(f"primed the calibration cache of {len(hooks)} hooks in {primed['wall']:.1f} s")
    results = {"alone": [], "all": []}
    order = []
    for r in range(args.rounds):
        order += [("alone", "all"), ("all", "alone")][r % 2]
    for i, which in enumerate(order):
        run_cache = os.path.join(folder, f"cache-cold-{i}") if args.cold else cache
        result = build(args.ep, deepest if which == "alone" else hooks, args, folder, run_cache)
        results[which].append(result)
        label = f"{deepest[0]} alone" if which == "alone" else f"{len(hooks)} hooks ({','.join(map(str, layers))})"
        print(f"  {label:32} {result['wall']:7.1f} s wall, {result['tokens'] / result['seconds']:7.0f} tokens/s; forward {result['forward']:6.1f} s, "
              f"calibration {result['calibration']:5.1f} s, clustering {result['clustering']:5.1f} s, writing {result['writing']:4.1f} s; "
              f"CPU {result['cpu'] / result['wall']:.2f} cores")
    shutil.rmtree(folder, ignore_errors=True)
    print(f"load average after: {load()}")

    def median(which, key):
        return statistics.median(r[key] for r in results[which])
    for which, label in [("alone", f"{deepest[0]} alone"), ("all", f"{len(hooks)} hooks")]:
        print(f"median {label:28} {median(which, 'wall'):7.1f} s wall, {median(which, 'cpu'):7.1f} s CPU; forward {median(which, 'forward'):6.1f} s, "
              f"clustering {median(which, 'clustering'):5.1f} s, writing {median(which, 'writing'):4.1f} s")
    for key, what in [("wall", "wall time"), ("cpu", "CPU time (user + system; less sensitive to other load)")]:
        ratio = statistics.median(a[key] for a in results["all"]) / statistics.median(a[key] for a in results["alone"])
        pairs = [b[key] / a[key] for a, b in zip(results["alone"], results["all"])]
        print(f"ratio ({len(hooks)} hooks / deepest alone), median {what}: {ratio:.3f}  (per round: {', '.join(f'{p:.3f}' for p in pairs)})")


if __name__ == "__main__":
    main()
