#!/usr/bin/env python3
"""SAELens itself loads `ep export --format saelens` and computes what ep computes.

Run by `make test` through scripts/interop/check_saelens.sh, with the Python of the throw-away virtual environment
that scripts/interop/setup_saelens_venv.sh makes (torch 2.13.0+cpu, sae-lens 6.54.12, transformer-lens 3.9.0).
For every kind of dictionary ep makes, the export is loaded with SAELens's own loader (`SAE.load_from_disk`, which
must give a `TopKSAE`) and compared with ep on real activation rows (SmolLM2-135M, blocks.15.hook_resid_post, from
`ep activations` on this repository's documentation):

* encode: SAELens's TopK (k = 1) keeps the largest projection (x − c)·u_r, ReLU'd. Where that projection is
  positive, the one active feature is the region `ep assign` assigns (cosine distance < 1). Where every projection
  is ≤ 0 (the row points away from every region's direction), the ReLU zeroes it: SAELens gives no active feature,
  while `ep assign` still assigns the nearest region, at a cosine distance ≥ 1.
* decode: SAELens's decode of its own codes equals `ep decode` of the same codes (f·W_dec + c); the empty code of
  such a row decodes to the center c on both sides.

The kinds: built from text (`ep build --model smollm2`), built from activation files (the wide-d576 conformance
case, whose width is SmolLM2's), and imported from the authors' pickles (`ep import`, see IMPORTED below).

Usage: data/venv-saelens/bin/python scripts/interop/check_saelens.py [PATH_TO_EP]   (default: .build/debug/ep)
"""
import glob
import importlib.metadata
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
from safetensors.numpy import load_file

import transformer_lens  # noqa: F401  (installed with SAELens; imported so that a broken install fails here)
from sae_lens import SAE
from sae_lens.saes.topk_sae import TopKSAE

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EP = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, ".build", "debug", "ep"))
MODEL, HOOK = "smollm2", "blocks.15.hook_resid_post"
ROWS = 1000
PINNED = {"torch": "2.13.0+cpu", "sae-lens": "6.54.12", "transformer-lens": "3.9.0"}

# IMPORTED: dictionaries imported from the authors' pickles (`ep import`, docs/import.md): `imported_dictionaries`
# imports every pickle fixture of Tests/Fixtures/pickles (but the malicious one) and these dictionaries go through the
# same checks, on each fixture's query rows (the pickles are width 32–128, not SmolLM2's).
PICKLES = os.path.join(ROOT, "Tests", "Fixtures", "pickles")


def ep(*args, cwd):
    # ep's caches (calibrations, model hashes) go to the work folder, never the user's (~/.cache/ep).
    result = subprocess.run([EP, *args], cwd=cwd, capture_output=True, text=True, env=dict(os.environ, EP_CACHE_DIR=os.path.join(cwd, "cache")))
    if result.returncode != 0:
        sys.exit(f"check_saelens: ep {' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}")
    return result.stdout


def ep_has_verb(verb):
    """Whether `ep --help` lists `verb` among its subcommands."""
    listing = subprocess.run([EP, "--help"], capture_output=True, text=True).stdout
    return any(line.split()[:1] == [verb] for line in listing.split("SUBCOMMANDS:")[-1].splitlines())


def documentation_text():
    """Real English text: this repository's documentation, in a fixed order."""
    paths = [os.path.join(ROOT, "README.md")] + sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")))
    return [open(p, encoding="utf-8").read() for p in paths]


def text_dictionary(work):
    """Built from text: SmolLM2 over the documentation, a few thousand tokens."""
    with open(os.path.join(work, "corpus.jsonl"), "w", encoding="utf-8") as f:
        for text in documentation_text()[1:]:
            f.write(json.dumps({"text": text}) + "\n")
    ep("build", "--model", MODEL, "--hook", HOOK, "--corpus", "corpus.jsonl", "--percentile", "2",
       "--calibration-tokens", "2000", "--max-tokens", "8000", "--saturation-window", "0", "--batch-windows", "16",
       "--recalibrate", "-o", "dict-text", cwd=work)
    return os.path.join(work, "dict-text")


def activation_file_dictionary(work):
    """Built from activation files: the wide-d576 conformance case (width 576, SmolLM2's)."""
    case = os.path.join(ROOT, "Tests", "Fixtures", "conformance", "wide-d576")
    ep("build", os.path.join(case, "activations.npy"), "--percentile", "5", "--calibration-tokens", "1000",
       "--batch-size", "500", "--model", MODEL, "--hook", HOOK, "-o", "dict-acts", cwd=work)
    return os.path.join(work, "dict-acts")


def imported_dictionaries(work):
    """Imported from the authors' pickles with `ep import`, each with its fixture's query rows; [] without the verb."""
    if not ep_has_verb("import"):
        sys.exit(f"check_saelens: {EP} has no import verb; every kind of dictionary ep makes must be checked")
    found = []
    for pkl in sorted(glob.glob(os.path.join(PICKLES, "*.pkl"))):
        name = os.path.basename(pkl)[:-4]
        if name == "malicious":
            continue
        out = os.path.join(work, f"dict-import-{name}")
        # A pickle does not say which model and hook its activations came from; SAELens needs the hook.
        args = ["import", pkl, "--model", "synthetic", "--hook", "blocks.0.hook_resid_post", "-o", out]
        metadata = os.path.join(PICKLES, f"{name}_metadata.json")
        if os.path.exists(metadata):
            args[2:2] = ["--metadata", metadata]
        ep(*args, cwd=work)
        query = os.path.join(PICKLES, f"{name}_expected", "query.npy")
        found.append((f"imported ({name}.pkl)", out, query))
    return found


def real_rows(work):
    """ROWS activation rows of SmolLM2 at HOOK on real text (`ep activations`), float32."""
    with open(os.path.join(work, "real.txt"), "w", encoding="utf-8") as f:
        f.write(documentation_text()[0] + "\n" + documentation_text()[1][:6000])
    ep("activations", MODEL, "--hook", HOOK, "--text-file", "real.txt", "-o", "real.npy", cwd=work)
    x = np.load(os.path.join(work, "real.npy"))
    assert x.shape[0] >= ROWS and x.dtype == np.float32, x.shape
    np.save(os.path.join(work, "rows.npy"), x[:ROWS])
    return os.path.join(work, "rows.npy")


def away_from_every_direction(W_dec, center, scale):
    """A row whose every projection (x − c)·u_r is negative, or None when the directions leave no such direction
    (they positively span the space). Perceptron steps on the most aligned direction until none is aligned."""
    v = -W_dec.mean(axis=0)
    v /= np.linalg.norm(v)
    for _ in range(20000):
        p = W_dec @ v
        worst = int(np.argmax(p))
        if p[worst] < -1e-3:
            return (center + scale * v).astype(np.float32)
        v -= (p[worst] + 0.05) * W_dec[worst]
        v /= np.linalg.norm(v)
    return None


def check(label, dictionary, rows_path, work):
    out = os.path.join(work, os.path.basename(dictionary) + "-sae")
    ep("export", dictionary, "--format", "saelens", "-o", out, cwd=work)
    sae = SAE.load_from_disk(out, device="cpu")
    assert isinstance(sae, TopKSAE), f"{label}: SAE.load_from_disk gave {type(sae).__name__}, not TopKSAE"
    cfg = json.load(open(os.path.join(out, "cfg.json")))
    weights = load_file(os.path.join(out, "sae_weights.safetensors"))
    W_dec, center = weights["W_dec"], weights["b_dec"]
    k, d = W_dec.shape
    assert sae.cfg.d_in == d and sae.cfg.d_sae == k and sae.cfg.k == 1, (label, sae.cfg)

    x = np.load(rows_path).astype(np.float32)
    away = away_from_every_direction(W_dec.astype(np.float64), center, float(np.linalg.norm(x - center, axis=1).mean()))
    if away is not None:
        x = np.concatenate([x, away[None, :]])
    tag = os.path.basename(dictionary)
    np.save(os.path.join(work, f"{tag}-query.npy"), x)
    ep("assign", dictionary, f"{tag}-query.npy", "-o", f"{tag}-assign.npz", cwd=work)
    assigned = np.load(os.path.join(work, f"{tag}-assign.npz"))
    regions, distances = assigned["region"], assigned["distance"]

    with torch.no_grad():
        codes = sae.encode(torch.from_numpy(x))
        decoded = sae.decode(codes).numpy()
    codes = codes.numpy()
    active = (codes != 0).sum(axis=1)
    assert np.all(active <= 1), f"{label}: SAELens's TopK (k = 1) gave {active.max()} active features in a row"
    projections = (x.astype(np.float64) - center) @ W_dec.T.astype(np.float64)
    best = projections.max(axis=1)
    # Rows whose best projection is within float32 rounding of 0 could fall either way; none may be miscounted.
    margin = 1e-4 * np.linalg.norm(x - center, axis=1)
    clear_positive, clear_negative = best > margin, best < -margin

    # Encode: the active feature is ep's region where the best projection is positive.
    picked = codes.argmax(axis=1)
    positive_rows = np.flatnonzero(clear_positive)
    agree = np.mean(picked[positive_rows] == regions[positive_rows])
    # A disagreement can only be a near-tie: the two regions' projections equal within float32 rounding.
    for r in positive_rows[picked[positive_rows] != regions[positive_rows]]:
        gap = abs(projections[r, picked[r]] - projections[r, regions[r]])
        assert gap <= 1e-5 * np.linalg.norm(x[r] - center), f"{label}: row {r}: SAELens picks {picked[r]}, ep {regions[r]} (gap {gap})"
    assert agree >= 0.999, f"{label}: SAELens encode agrees with ep assign on {agree:.4%} of rows with a positive projection"
    assert np.all(active[clear_positive] == 1) and np.all(distances[clear_positive] < 1), label

    # Every projection negative: SAELens gives no feature; ep assigns a region at cosine distance ≥ 1.
    negative_rows = np.flatnonzero(clear_negative)
    assert np.all(active[negative_rows] == 0), f"{label}: SAELens gave a feature to a row whose every projection is negative"
    assert np.all(distances[negative_rows] >= 1) and np.all(regions[negative_rows] == projections[negative_rows].argmax(axis=1)), label
    if away is not None:
        assert clear_negative[-1] and active[-1] == 0 and distances[-1] >= 1, (label, best[-1], distances[-1])
        assert np.array_equal(decoded[-1], center), f"{label}: the empty code does not decode to the center"

    # Decode: SAELens's decode of its codes = ep decode of the same codes.
    np.save(os.path.join(work, f"{tag}-codes.npy"), codes)
    ep("decode", dictionary, f"{tag}-codes.npy", "-o", f"{tag}-decoded.npy", cwd=work)
    ours = np.load(os.path.join(work, f"{tag}-decoded.npy"))
    scale = np.abs(decoded).max(axis=1, keepdims=True)
    decode_error = float(np.max(np.abs(ours - decoded) / scale))
    assert decode_error < 1e-6, f"{label}: ep decode and SAELens decode differ by {decode_error:.2e} (relative)"

    n_real = x.shape[0] - (1 if away is not None else 0)
    real_negative = int(clear_negative[:n_real].sum())
    print(f"  {label}: {type(sae).__name__} d_in {d}, d_sae {k}, hook {cfg.get('hook_name')}; encode = ep assign on "
          f"{agree:.2%} of {len(positive_rows)} rows with a positive projection; {real_negative} of {n_real} real rows "
          f"have none (no SAELens feature, ep region at distance ≥ 1)"
          + ("; a constructed all-negative row: no feature, decodes to c" if away is not None
             else "; no all-negative row exists (the directions positively span the space)")
          + f"; decode = ep decode within {decode_error:.1e}")


def main():
    versions = {name: importlib.metadata.version(name.replace("_", "-")) for name in PINNED}
    for name, want in PINNED.items():
        assert versions[name] == want, f"check_saelens: {name} {versions[name]} in the venv, expected {want} (rerun scripts/interop/setup_saelens_venv.sh)"
    print("saelens interop: " + ", ".join(f"{n} {v}" for n, v in versions.items()) + f", numpy {np.__version__}, python {sys.version.split()[0]}")
    start = time.time()
    with tempfile.TemporaryDirectory() as work:
        rows = real_rows(work)
        kinds = [("built from text", text_dictionary(work), rows), ("built from activation files", activation_file_dictionary(work), rows)]
        imported = imported_dictionaries(work)
        for label, dictionary, query in kinds + imported:
            check(label, dictionary, query, work)
        if not imported:
            sys.exit("check_saelens: no pickle fixture was imported")
    print(f"saelens interop: OK in {time.time() - start:.0f} s")


if __name__ == "__main__":
    main()
