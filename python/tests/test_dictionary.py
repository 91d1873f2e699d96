"""The package's reader and inference against the `ep` executable: every field against `ep export` / `ep inspect
--json`, assign() against `ep assign` (ids identical, distances within 1e-5), distances() against `ep encode
--readout cosine`, project() against `--readout signed`, and the SAELens state dict against `ep export --format
saelens`."""
import json
import os
import shutil

import numpy as np
import pytest
from safetensors.numpy import load_file

import exemplar_partitioning as epy
from conftest import CASES, ep

DISTANCE_TOLERANCE = 1e-5


def dictionaries(conformance, text_build):
    out = []
    for case in CASES:
        golden, p2, acts = conformance[case]
        out += [(golden, acts), (p2, acts)]
    out.append((text_build[0], text_build[1]))
    return out


def test_the_installed_package_is_tested():
    # make test installs the package into a throw-away virtual environment; the tests must import that copy.
    assert os.environ.get("EP_PYTHON_SOURCE_IMPORT") or os.path.join("python", "src") not in epy.__file__, epy.__file__


def test_fields_equal_the_npz_export_and_inspect(conformance, text_build, work):
    for i, (folder, _) in enumerate(dictionaries(conformance, text_build)):
        d = epy.load(folder)
        manifest = json.load(open(os.path.join(folder, "manifest.json")))
        assert (d.d_model, d.n_regions, d.threshold, d.percentile) == (
            manifest["d_model"], manifest["n_regions"], manifest["threshold"], manifest["percentile"])
        ep(work, "export", folder, "--format", "npz", "-o", f"export-{i}.npz")
        npz = np.load(work / f"export-{i}.npz")
        pairs = {
            "center": d.center, "exemplar_direction": d.exemplar_directions, "mean_member_direction": d.mean_member_directions,
            "member_count": d.member_counts, "member_coherence": d.coherence, "sum_dist_to_exemplar": d.sum_dist_to_exemplar,
            "sum_sq_dist_to_exemplar": d.sum_sq_dist_to_exemplar, "exemplar_index": d.exemplar_index,
            "closest_source": d.closest.source, "closest_position": d.closest.position, "closest_distance": d.closest.distance,
            "farthest_source": d.farthest.source, "farthest_position": d.farthest.position, "farthest_distance": d.farthest.distance,
        }
        for name, ours in pairs.items():
            assert ours.dtype == npz[name].dtype and np.array_equal(ours, npz[name], equal_nan=True), (folder, name)
        assert float(npz["threshold"]) == d.threshold
        assert d.member_counts.sum() == manifest["build"]["n_activations"] == d.batch_rows.sum()
        assert d.batch_new_regions.sum() == d.n_regions and len(d.batch_rows) == manifest["build"]["n_batches"]

        shown = json.loads(ep(work, "inspect", folder, "--json", "--sort", "id", "--top", str(d.n_regions), "--contexts", "10", "--lens-tokens", "1"))
        assert [r["id"] for r in shown] == list(range(d.n_regions))
        for k, r in enumerate(shown):
            assert r["members"] == d.member_counts[k] and r["coherence"] == d.coherence[k]
            assert r["first_batch"] == d.first_batch[k] and r["last_batch"] == d.last_batch[k]
            assert abs(r["mean_distance"] - d.sum_dist_to_exemplar[k] / d.member_counts[k]) <= 1e-12
            if d.contexts is not None:
                refs = d.closest.of(k)
                assert [(c["window"], c["position"]) for c in r["closest"]] == [(s, p) for s, p, _ in refs]
                assert [c["distance"] for c in r["closest"]] == [dist for _, _, dist in refs]
                assert [c["origin"] for c in r["closest"]] == [d.contexts.origin(s) for s, _, _ in refs]


def test_assign_matches_ep_assign(conformance, text_build, work):
    worst = 0.0
    for i, (folder, acts) in enumerate(dictionaries(conformance, text_build)):
        d = epy.load(folder)
        x = np.load(acts)
        ep(work, "assign", folder, acts, "-o", f"assign-{i}.npz")
        theirs = np.load(work / f"assign-{i}.npz")
        ours = d.assign(x)
        assert ours.region.dtype == np.int64 and ours.distance.dtype == np.float32 and ours.within_threshold.dtype == bool
        mismatched = np.flatnonzero(ours.region != theirs["region"])
        assert len(mismatched) == 0, (folder, mismatched[:10])
        error = float(np.max(np.abs(ours.distance - theirs["distance"])))
        assert error <= DISTANCE_TOLERANCE, (folder, error)
        assert np.array_equal(ours.within_threshold, theirs["within_threshold"]), folder
        worst = max(worst, error)
        # Every founder is in its own region at distance 0 (up to rounding); one row alone gives the same answer.
        if d.contexts is None:
            founders = d.assign(x[d.exemplar_index])
            assert np.array_equal(founders.region, np.arange(d.n_regions)) and np.all(founders.distance <= DISTANCE_TOLERANCE)
        single = d.assign(x[7])
        assert single.region[0] == theirs["region"][7] and abs(single.distance[0] - theirs["distance"][7]) <= DISTANCE_TOLERANCE
    print(f"assign vs ep assign: ids identical on all rows, max distance error {worst:.3g}")


def test_distances_match_ep_encode_cosine(conformance, text_build, work):
    for i, (folder, acts) in enumerate(dictionaries(conformance, text_build)[::2]):
        d = epy.load(folder)
        x = np.load(acts)[:2000]
        np.save(work / f"rows-{i}.npy", x)
        ep(work, "encode", folder, f"rows-{i}.npy", "--readout", "cosine", "-o", f"cosine-{i}.npy")
        cosine = np.load(work / f"cosine-{i}.npy")
        ours = d.distances(x)
        assert ours.shape == (len(x), d.n_regions) and ours.dtype == np.float32
        assert np.max(np.abs(ours - np.clip(1 - cosine, 0, 2))) <= DISTANCE_TOLERANCE
        assert np.array_equal(ours.argmin(axis=1), d.assign(x).region)
        for basis in ["exemplar", "mean"]:
            ep(work, "encode", folder, f"rows-{i}.npy", "--readout", "signed", "--basis", basis, "-o", f"signed-{i}-{basis}.npy")
            signed = np.load(work / f"signed-{i}-{basis}.npy")
            projected = d.project(x, basis=basis)
            assert projected.shape == signed.shape and np.max(np.abs(projected - signed)) <= 1e-5 * np.max(np.abs(signed))


def test_saelens_state_dict_and_config_equal_the_export(conformance, text_build, work):
    for i, (folder, _) in enumerate(dictionaries(conformance, text_build)[1::2]):
        d = epy.load(folder)
        for basis in ["exemplar", "mean"]:
            ep(work, "export", folder, "--format", "saelens", "--basis", basis, "-o", f"sae-{i}-{basis}")
            theirs = load_file(str(work / f"sae-{i}-{basis}" / "sae_weights.safetensors"))
            ours = d.to_saelens_state_dict(basis=basis)
            assert set(ours) == set(theirs)
            for name in theirs:
                assert ours[name].dtype == theirs[name].dtype and np.array_equal(ours[name], theirs[name]), (folder, basis, name)
            config = json.load(open(work / f"sae-{i}-{basis}" / "cfg.json"))
            assert d.to_saelens_config(basis=basis) == config


def test_contexts_and_provenance_of_a_text_build(text_build):
    folder, _, _ = text_build
    d = epy.load(folder, reservoir=True)
    manifest = json.load(open(os.path.join(folder, "manifest.json")))
    state = json.load(open(os.path.join(folder, "build_state.json")))
    assert d.provenance == {"calibration": manifest["calibration"], "build": manifest["build"], "tool": manifest["tool"],
                            "created": manifest["created"], "build_state": state}
    assert d.hook == "blocks.5.hook_resid_post" and d.model == "smollm2" and d.provenance["build"]["text"]["status"] == "complete"
    assert d.build_log == json.load(open(os.path.join(folder, "build_log.json")))
    assert d.contexts is not None and len(d.contexts) > 0
    for k in range(d.n_regions):
        for source, position, _ in d.closest.of(k) + d.farthest.of(k):
            assert source in d.contexts and 0 <= position < len(d.contexts.tokens(source))
            assert d.contexts.origin(source).startswith("corpus.jsonl:")
    members, offsets = d.reservoir
    assert offsets.shape == (d.n_regions + 1,) and np.array_equal(np.diff(offsets), np.minimum(d.member_counts, 30))
    assert members.shape == (offsets[-1], d.d_model)


def test_damaged_dictionaries_are_refused_with_the_file_named(conformance, work):
    golden, _, acts = conformance["small-d16"]
    bad = work / "damaged"
    shutil.copytree(golden, bad)
    manifest = json.load(open(bad / "manifest.json"))
    manifest["format_version"] = 2
    json.dump(manifest, open(bad / "manifest.json", "w"))
    with pytest.raises(epy.DictionaryFormatError, match="format_version 2 is newer"):
        epy.load(bad)
    manifest["format_version"] = 1
    json.dump(manifest, open(bad / "manifest.json", "w"))
    with open(bad / "regions.safetensors", "ab") as f:
        f.write(b"x")
    with pytest.raises(epy.DictionaryFormatError, match=r"regions\.safetensors: has \d+ bytes but manifest\.json says"):
        epy.load(bad)
    with pytest.raises(epy.DictionaryFormatError, match="no such dictionary folder"):
        epy.load(work / "nowhere")
    d = epy.load(golden)
    with pytest.raises(ValueError, match="expected rows of width 16"):
        d.assign(np.zeros((3, 5), dtype=np.float32))
    x = np.load(acts)[:4].astype(np.float32)
    x[2, 3] = np.nan
    with pytest.raises(ValueError, match="row 2 is not finite"):
        d.assign(x)
    with pytest.raises(ValueError, match="row 0 has no direction"):
        d.assign(d.center[None, :])
