#!/usr/bin/env python3
"""Writes the synthetic activations of the `ep report` timing in docs/report.md: a dictionary of exactly K regions.

    python3 scripts/make_report_benchmark.py OUT_DIR [--regions 5000] [--width 576] [--rows 200000]

OUT_DIR gets acts.npy (float32, rows x width) and center.npy (zeros). Rows are K random unit directions (nearly
orthogonal in high dimension) plus noise at cosine distance ~0.1, with Zipf-like cluster sizes, every cluster used at
least once; `ep build acts.npy --center center.npy --threshold 0.3` then makes one region per direction.
"""
import argparse
import os

import numpy as np


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out")
    parser.add_argument("--regions", type=int, default=5000)
    parser.add_argument("--width", type=int, default=576)
    parser.add_argument("--rows", type=int, default=200000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    k, d, n = args.regions, args.width, max(args.rows, args.regions)
    directions = rng.standard_normal((k, d)).astype(np.float32)
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    weights = 1.0 / np.arange(1, k + 1) ** 1.1
    clusters = np.concatenate([np.arange(k), rng.choice(k, size=n - k, p=weights / weights.sum())])
    rng.shuffle(clusters)
    # Noise of norm 0.45 around a unit direction: cosine distance to it about 1 - 1/sqrt(1 + 0.45^2) = 0.09.
    noise = rng.standard_normal((n, d)).astype(np.float32)
    noise *= 0.45 / np.linalg.norm(noise, axis=1, keepdims=True)
    rows = directions[clusters] + noise
    os.makedirs(args.out, exist_ok=True)
    np.save(os.path.join(args.out, "acts.npy"), rows.astype(np.float32))
    np.save(os.path.join(args.out, "center.npy"), np.zeros(d, dtype=np.float32))
    print(f"{args.out}/acts.npy: {n} rows x {d} in {k} clusters")


if __name__ == "__main__":
    main()
