#!/usr/bin/env python3
"""`ep export --format control-vector` read back with gguf-py, llama.cpp's own Python GGUF package.

Builds a small SmolLM2 dictionary from text at blocks.15.hook_resid_post (and one at blocks.16.hook_resid_pre, which
is the same tensor), exports control vectors and checks with `gguf.GGUFReader` what llama.cpp's loader
(common/common.cpp, common_control_vector_load_one) reads: general.architecture = controlvector,
controlvector.model_hint = the model's architecture, controlvector.layer_count, and one 1-D F32 tensor
direction.15 equal to S·Σ u_r (u_r from `ep export --format npy`). Hooks llama.cpp cannot steer are refused.

Usage: python3 scripts/interop/check_control_vector.py [PATH_TO_EP]   (default: .build/debug/ep)
"""
import glob
import importlib.metadata
import json
import os
import subprocess
import sys
import tempfile

import gguf
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EP = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, ".build", "debug", "ep"))


def ep(*args, cwd, fail=False):
    # ep's caches (calibrations, model hashes) go to the work folder, never the user's (~/.cache/ep).
    result = subprocess.run([EP, *args], cwd=cwd, capture_output=True, text=True, env=dict(os.environ, EP_CACHE_DIR=os.path.join(cwd, "cache")))
    if (result.returncode != 0) != fail:
        sys.exit(f"check_control_vector: ep {' '.join(args)} {'succeeded' if fail else 'failed'} ({result.returncode}): {result.stderr.strip()}")
    return result.stdout + result.stderr


def build(work, hook, name):
    with open(os.path.join(work, "corpus.jsonl"), "w", encoding="utf-8") as f:
        for path in sorted(glob.glob(os.path.join(ROOT, "docs", "*.md"))):
            f.write(json.dumps({"text": open(path, encoding="utf-8").read()}) + "\n")
    ep("build", "--model", "smollm2", "--hook", hook, "--corpus", "corpus.jsonl", "--percentile", "2",
       "--calibration-tokens", "1000", "--max-tokens", "3000", "--saturation-window", "0", "--batch-windows", "16",
       "--recalibrate", "-o", name, cwd=work)
    return os.path.join(work, name)


def read(path):
    reader = gguf.GGUFReader(path)
    fields = {}
    for name, field in reader.fields.items():
        if name.startswith("GGUF."):
            continue
        value = field.parts[field.data[0]]
        fields[name] = bytes(value).decode("utf-8") if field.types[0] == gguf.GGUFValueType.STRING else value.tolist()[0]
    tensors = {t.name: t for t in reader.tensors}
    return fields, tensors


def main():
    with tempfile.TemporaryDirectory() as work:
        dictionary = build(work, "blocks.15.hook_resid_post", "dict")
        ep("export", dictionary, "--format", "npy", "-o", "arrays", cwd=work)
        exemplar = np.load(os.path.join(work, "arrays", "exemplar_direction.npy"))
        mean = np.load(os.path.join(work, "arrays", "mean_member_direction.npy"))
        center = np.load(os.path.join(work, "arrays", "center.npy"))
        k = exemplar.shape[0]
        assert k >= 3, k

        # One region at the default scale ‖c‖; two regions (mean basis) at a given scale.
        ep("export", dictionary, "--format", "control-vector", "--region", "1", "-o", "one.gguf", cwd=work)
        ep("export", dictionary, "--format", "control-vector", "--region", "0", "--region", str(k - 1),
           "--basis", "mean", "--scale", "-6.5", "-o", "two.gguf", cwd=work)
        cases = [("one.gguf", float(np.linalg.norm(center.astype(np.float64))) * exemplar[1].astype(np.float64)),
                 ("two.gguf", -6.5 * (mean[0].astype(np.float64) + mean[k - 1]))]
        for name, expected in cases:
            fields, tensors = read(os.path.join(work, name))
            assert fields["general.architecture"] == "controlvector", fields
            assert fields["controlvector.model_hint"] == "llama", fields
            assert fields["controlvector.layer_count"] == 1, fields
            assert list(tensors) == ["direction.15"], list(tensors)
            t = tensors["direction.15"]
            assert t.tensor_type == gguf.GGMLQuantizationType.F32 and list(t.shape) == [576], (t.tensor_type, t.shape)
            error = np.max(np.abs(np.asarray(t.data, dtype=np.float64) - expected)) / np.max(np.abs(expected))
            assert error < 1e-6, (name, error)

        # Its own control vector is replaced; a file ep did not write is not.
        ep("export", dictionary, "--format", "control-vector", "--region", "2", "-o", "one.gguf", cwd=work)
        assert np.allclose(read(os.path.join(work, "one.gguf"))[1]["direction.15"].data, float(np.linalg.norm(center.astype(np.float64))) * exemplar[2], rtol=1e-6, atol=1e-6)
        with open(os.path.join(work, "notes.gguf"), "w") as f:
            f.write("not a control vector\n")
        out = ep("export", dictionary, "--format", "control-vector", "--region", "1", "-o", "notes.gguf", cwd=work, fail=True)
        assert "notes.gguf" in out and "not a GGUF file written by ep" in out, out
        assert open(os.path.join(work, "notes.gguf")).read() == "not a control vector\n"

        # The same tensor from blocks.16.hook_resid_pre (block 16's input is block 15's output).
        pre = build(work, "blocks.16.hook_resid_pre", "dict-pre")
        ep("export", pre, "--format", "control-vector", "--region", "0", "-o", "pre.gguf", cwd=work)
        assert list(read(os.path.join(work, "pre.gguf"))[1]) == ["direction.15"]

        # Hooks llama.cpp cannot reach, and bad arguments, are refused with the reason.
        refusals = [
            (["--region", str(k)], "has regions 0…"),
            (["--region", "1", "--region", "1"], "given twice"),
            ([], "--region"),
        ]
        for extra, message in refusals:
            out = ep("export", dictionary, "--format", "control-vector", *extra, "-o", "bad.gguf", cwd=work, fail=True)
            assert message in out, (extra, out)
        out = ep("export", dictionary, "--format", "control-vector", "--region", "1", "-o", "bad.bin", cwd=work, fail=True)
        assert "writes a .gguf file" in out, out
        out = ep("export", dictionary, "--format", "npy", "--region", "1", "-o", "bad", cwd=work, fail=True)
        assert "--format control-vector" in out, out
        assert not os.path.exists(os.path.join(work, "bad.gguf"))
        acts = os.path.join(ROOT, "Tests", "Fixtures", "conformance", "wide-d576", "activations.npy")
        for hook, message in [("blocks.0.hook_resid_post", "no control vector for block 0"),
                              ("blocks.1.hook_resid_pre", "block 0's output cannot be steered"),
                              ("blocks.3.hook_attn_out", "only to a block's output")]:
            name = "d-" + hook.replace(".", "-")
            ep("build", acts, "--percentile", "5", "--calibration-tokens", "1000", "--model", "smollm2", "--hook", hook, "-o", name, cwd=work)
            out = ep("export", name, "--format", "control-vector", "--region", "0", "-o", "bad.gguf", cwd=work, fail=True)
            assert message in out and hook in out, (hook, out)
        # A dictionary of another width than its model's (llama.cpp would refuse the vector).
        narrow = os.path.join(ROOT, "Tests", "Fixtures", "conformance", "medium-d64", "activations.npy")
        ep("build", narrow, "--percentile", "5", "--calibration-tokens", "1000", "--model", "smollm2", "--hook", "blocks.15.hook_resid_post", "-o", "d64", cwd=work)
        out = ep("export", "d64", "--format", "control-vector", "--region", "0", "-o", "bad.gguf", cwd=work, fail=True)
        assert "width 64" in out and "d_model 576" in out, out

    print(f"control vector: OK (gguf-py {importlib.metadata.version('gguf')} reads direction.15, model_hint llama, layer_count 1; S·Σu within 1e-6)")


if __name__ == "__main__":
    main()
