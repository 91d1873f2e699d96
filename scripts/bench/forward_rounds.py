#!/usr/bin/env python3
"""Alternates `ep bench forward --json` over several models (or settings) in one run, one process per call, and prints
each run, the medians and every configuration's ratio to the first: the way to compare a quantized GGUF with the BF16
folder of the same shape, or 1 thread with 2, on a machine shared with other work.

  python3 scripts/bench/forward_rounds.py --rounds 2 --args "--early-exit-only --layer 12 --windows 8 --repeats 2" \
      bf16=data/models/gemma2-2b-random q4k=data/models/gemma2-2b-random-q4_k.gguf
  python3 scripts/bench/forward_rounds.py 2t=data/models/gemma2-2b-random "1t=data/models/gemma2-2b-random --threads 1"

Each CONFIG is LABEL=MODEL [extra flags]. Rounds run the configurations in order, then in reverse (ABBA …). Per run:
the median early-exit tokens/s of its timed calls, the early exit's median share of the faster sgemm of the same
round when the run measures sgemm (without --early-exit-only), with --early-exit-only the tokens per CPU-second of
the whole process (loading and the warm-up call included; steadier than wall time on a shared machine), the peak resident memory of the process (with
--early-exit-only: loading the model and the early exit alone), and the other processes' load. Build ep first
(swift build -c release).
"""
import argparse
import json
import os
import resource
import shlex
import statistics
import subprocess
import sys


def run(ep, model, flags):
    command = [ep, "bench", "forward", model, "--json"] + flags
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(command, capture_output=True, text=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if out.returncode != 0:
        sys.exit(f"failed: {' '.join(command)}\n{out.stderr}")
    r = json.loads(out.stdout)
    e = r["early_exit"]
    tokens_per_second = sorted(e["tokens"] / s for s in e["seconds"])
    share = None
    if r["sgemm_concurrent"] or r["sgemm_multithreaded"]:
        # The faster sgemm of each round against that round's early exit (rounds are the calls' indices).
        def rates(m):
            return [m["flops"] / s for s in m["seconds"]] if m else []
        sg = [max(pair) for pair in zip(*[x for x in (rates(r["sgemm_multithreaded"]), rates(r["sgemm_concurrent"])) if x])]
        ee = [e["flops"] / s for s in e["seconds"]]
        share = statistics.median(a / b for a, b in zip(ee, sg))
    full = None
    if r["full"]:
        full = statistics.median(r["full"]["tokens"] / s for s in r["full"]["seconds"])
    return {"tps": statistics.median(tokens_per_second), "best": tokens_per_second[-1],
            "gflops": statistics.median(e["flops"] / s for s in e["seconds"]) / 1e9, "share": share, "full": full,
            "rss": r["peak_resident_bytes"], "busy": max(e["other_cores_busy"] or [0]), "load": r["load_averages"],
            "threads": r["threads"], "hook": r["early_exit_hook"], "tokens": e["tokens"], "blas": r["blas"],
            "flops_per_token": e["flops"] / e["tokens"],
            # Whole process (load, warm-up and every call): less sensitive to other processes than wall time.
            "cpu_tps": None if r["full"] or r["sgemm_concurrent"] else e["tokens"] * (len(e["seconds"]) + 1) / cpu}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("configs", nargs="+", help="LABEL=MODEL [extra ep bench forward flags]")
    parser.add_argument("--ep", default=".build/release/ep")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--args", default="--early-exit-only --repeats 3", help="flags for every run")
    args = parser.parse_args()
    configs = []
    for c in args.configs:
        label, _, rest = c.partition("=")
        words = shlex.split(rest)
        configs.append((label, words[0], shlex.split(args.args) + words[1:]))
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    results = {label: [] for label, _, _ in configs}
    for r in range(args.rounds):
        for label, model, flags in (configs if r % 2 == 0 else configs[::-1]):
            x = run(args.ep, model, flags)
            results[label].append(x)
            print(f"round {r + 1} {label:>10}: {x['tps']:8.1f} tokens/s median ({x['best']:.1f} best), {x['gflops']:.1f} GFLOP/s"
                  + (f", {100 * x['share']:.0f} % of the round's sgemm" if x["share"] is not None else "")
                  + (f"; full + logits {x['full']:.1f} tokens/s" if x["full"] is not None else "")
                  + (f"; {x['cpu_tps']:.1f} tokens per CPU-second" if x["cpu_tps"] else "")
                  + f"; peak RSS {x['rss'] / 1e9:.2f} GB; {x['threads']} threads, {x['tokens']} tokens per call to {x['hook']}"
                  + f" ({x['flops_per_token'] / 1e6:.0f} MFLOP/token); other processes ≤ {x['busy']:.2f} cores; load {x['load']}", flush=True)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    base = statistics.median(x["tps"] for x in results[configs[0][0]])
    for label, _, _ in configs:
        xs = results[label]
        tps = statistics.median(x["tps"] for x in xs)
        shares = [x["share"] for x in xs if x["share"] is not None]
        cpu = [x["cpu_tps"] for x in xs if x["cpu_tps"]]
        cpu_base = [x["cpu_tps"] for x in results[configs[0][0]] if x["cpu_tps"]]
        print(f"median {label:>10}: {tps:8.1f} tokens/s = {tps / base:.3f} × {configs[0][0]}; peak RSS {max(x['rss'] for x in xs) / 1e9:.2f} GB"
              + (f"; {100 * statistics.median(shares):.0f} % of sgemm" if shares else "")
              + (f"; {statistics.median(cpu):.1f} tokens per CPU-second = {statistics.median(cpu) / statistics.median(cpu_base):.3f} × {configs[0][0]}"
                 if cpu and cpu_base else ""))


if __name__ == "__main__":
    main()
