#!/usr/bin/env python3
"""Reads dictionaries written by `ep` from Python with numpy, safetensors and json only.

Builds a small dictionary with the `ep` executable, runs the Python snippet of docs/format.md on it (the snippet is
taken from docs/format.md, after the `python-interop-snippet` marker, so the documented code is the tested code), and
checks shapes, dtypes and values against `ep assign`, `ep export` and `ep calibrate`.

Usage: python3 scripts/check_python_interop.py [PATH_TO_EP]   (default: .build/debug/ep)
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
from safetensors.numpy import load_file, save_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EP = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, ".build", "debug", "ep"))


def ep(*args, cwd):
    # ep's caches (calibrations, model hashes) go to the work folder, never the user's (~/.cache/ep).
    result = subprocess.run([EP, *args], cwd=cwd, capture_output=True, text=True, env=dict(os.environ, EP_CACHE_DIR=os.path.join(cwd, "cache")))
    if result.returncode != 0:
        sys.exit(f"ep {' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}")
    return result.stdout


def readme_snippet():
    text = open(os.path.join(ROOT, "docs", "format.md"), encoding="utf-8").read()
    start = text.index("<!-- python-interop-snippet -->")
    block = text[start:].split("```python\n", 1)[1].split("```", 1)[0]
    return block


def main():
    rng = np.random.default_rng(0)
    n, d, clusters = 3000, 32, 25
    centres = rng.normal(size=(clusters, d)).astype(np.float32) * 4
    x = (centres[rng.integers(0, clusters, n)] + rng.normal(size=(n, d)).astype(np.float32) + 2).astype(np.float16)

    with tempfile.TemporaryDirectory() as work:
        np.save(os.path.join(work, "acts.npy"), x)
        save_file({"resid": x[:1000].astype(np.float16)}, os.path.join(work, "acts.safetensors"))
        ep("calibrate", "acts.npy", "--percentile", "5", "--calibration-tokens", "1000", "--batch-size", "500",
           "-o", "calib.json", cwd=work)
        ep("build", "acts.npy", "--calibration", "calib.json", "--batch-size", "500", "--reservoir", "--seed", "1",
           "--assignments", "build-assignments.npy", "-o", "dict", cwd=work)
        ep("assign", "dict", "acts.npy", "-o", "assign.npz", cwd=work)
        ep("export", "dict", "--format", "npy", "-o", "export", cwd=work)
        ep("export", "dict", "--format", "npz", "-o", "export.npz", cwd=work)
        ep("export", "dict", "--format", "saelens", "-o", "sae", cwd=work)
        ep("build", "acts.safetensors", "--percentile", "5", "--batch-size", "250", "-o", "dict-st", cwd=work)

        namespace = {}
        exec(readme_snippet(), namespace)
        manifest, tensors = namespace["load_dictionary"](os.path.join(work, "dict"))
        k = manifest["n_regions"]
        assert manifest["format"] == "exemplar-partitioning-dictionary" and manifest["format_version"] == 1
        assert manifest["d_model"] == d and k > clusters // 2, manifest
        expected = {
            "center": (np.float32, (d,)), "exemplar_direction": (np.float32, (k, d)),
            "mean_member_direction": (np.float32, (k, d)), "member_count": (np.int64, (k,)),
            "member_coherence": (np.float64, (k,)), "sum_dist_to_exemplar": (np.float64, (k,)),
            "exemplar_index": (np.int64, (k,)), "closest_source": (np.int64, (k, 10)),
            "closest_position": (np.int32, (k, 10)), "closest_distance": (np.float32, (k, 10)),
            "farthest_distance": (np.float32, (k, 10)),
        }
        for name, (dtype, shape) in expected.items():
            assert tensors[name].dtype == dtype and tensors[name].shape == shape, (name, tensors[name].dtype, tensors[name].shape)
        assert tensors["member_count"].sum() == n
        assert np.allclose(np.linalg.norm(tensors["exemplar_direction"], axis=1), 1, atol=1e-5)
        assert np.all((tensors["member_coherence"] >= 0) & (tensors["member_coherence"] <= 1 + 1e-6))
        founders = tensors["exemplar_index"]
        assert np.all(np.diff(founders) > 0)
        assert np.array_equal(np.load(os.path.join(work, "build-assignments.npy"))[founders], np.arange(k))
        # The closest member of every region is its founder, at distance 0.
        assert np.array_equal(tensors["closest_source"][:, 0], founders) and np.all(tensors["closest_distance"][:, 0] == 0)

        # The documented assign() agrees with `ep assign` (ties aside) and puts every founder in its own region.
        regions, distances, within = namespace["assign"](manifest, tensors, x.astype(np.float32))
        ours = np.load(os.path.join(work, "assign.npz"))
        assert set(ours.files) == {"region", "distance", "within_threshold"}
        agree = np.mean(regions == ours["region"])
        assert agree > 0.999, agree
        assert np.max(np.abs(distances - ours["distance"])) < 1e-5
        assert np.array_equal(within, ours["within_threshold"]) or np.mean(within == ours["within_threshold"]) > 0.999
        founder_regions, founder_distances, _ = namespace["assign"](manifest, tensors, x[founders].astype(np.float32))
        assert np.array_equal(founder_regions, np.arange(k)) and np.all(founder_distances < 1e-5)

        # Exports and the calibration record.
        export = os.path.join(work, "export")
        assert np.array_equal(np.load(os.path.join(export, "center.npy")), tensors["center"])
        assert np.array_equal(np.load(os.path.join(export, "exemplar_index.npy")), founders)
        assert json.load(open(os.path.join(export, "threshold.json")))["threshold"] == manifest["threshold"]
        npz = np.load(os.path.join(work, "export.npz"))
        assert np.array_equal(npz["exemplar_direction"], tensors["exemplar_direction"]) and float(npz["threshold"]) == manifest["threshold"]
        assert np.array_equal(npz["closest_source"], tensors["closest_source"]) and npz["threshold"].shape == ()

        # The SAELens export: shapes, W_dec rows are the exemplar directions, and SAELens's topk (k = 1) encode,
        # relu(topk((x - b_dec) @ W_enc + b_enc)), picks the region `ep assign` assigns.
        cfg = json.load(open(os.path.join(work, "sae", "cfg.json")))
        sae = load_file(os.path.join(work, "sae", "sae_weights.safetensors"))
        assert cfg["architecture"] == "topk" and cfg["k"] == 1 and cfg["d_in"] == d and cfg["d_sae"] == k, cfg
        assert cfg["apply_b_dec_to_input"] is True and cfg["normalize_activations"] == "none"
        shapes = {name: sae[name].shape for name in ["W_enc", "W_dec", "b_enc", "b_dec"]}
        assert shapes == {"W_enc": (d, k), "W_dec": (k, d), "b_enc": (k,), "b_dec": (d,)}, shapes
        assert np.array_equal(sae["W_dec"], tensors["exemplar_direction"]) and np.array_equal(sae["W_enc"], sae["W_dec"].T)
        assert np.array_equal(sae["b_dec"], tensors["center"]) and not sae["b_enc"].any()
        pre = (x.astype(np.float32) - sae["b_dec"]) @ sae["W_enc"] + sae["b_enc"]
        assert np.mean(pre.argmax(axis=1) == ours["region"]) > 0.999

        calibration = json.load(open(os.path.join(work, "calib.json")))
        assert np.array_equal(np.array(calibration["center"], dtype=np.float32), tensors["center"])
        assert calibration["threshold"] == manifest["threshold"]

        # The optional reservoir.
        reservoir = load_file(os.path.join(work, "dict", "reservoir.safetensors"))
        offsets = reservoir["region_offset"]
        assert offsets.shape == (k + 1,) and reservoir["member_direction"].shape == (offsets[-1], d)
        assert np.array_equal(np.diff(offsets), np.minimum(tensors["member_count"], 30))

        manifest_st, tensors_st = namespace["load_dictionary"](os.path.join(work, "dict-st"))
        assert tensors_st["member_count"].sum() == 1000 and manifest_st["build"]["source"]["inputs"] == ["acts.safetensors"]

    print(f"python interop: OK ({k} regions read with numpy + safetensors + json; docs/format.md snippet agrees with ep assign on {agree:.2%} of rows)")


if __name__ == "__main__":
    main()
