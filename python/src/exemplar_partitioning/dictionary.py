"""Reading an Exemplar Partitioning dictionary folder (docs/format.md) with numpy and safetensors, and the
read-only inference of `ep assign` on activation rows."""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
from safetensors.numpy import load_file

FORMAT = "exemplar-partitioning-dictionary"
FORMAT_VERSION = 1
MANIFEST_FILE = "manifest.json"
REGIONS_FILE = "regions.safetensors"
RESERVOIR_FILE = "reservoir.safetensors"
CONTEXTS_FILE = "contexts.safetensors"
BUILD_LOG_FILE = "build_log.json"
BUILD_STATE_FILE = "build_state.json"
#: Member references kept per region (closest and farthest), as `ReferenceTable.capacity` in Swift.
REFERENCE_CAPACITY = 10
#: A row closer than this to the center has no direction (`Calibration.directionFloor`); `ep` refuses it.
DIRECTION_FLOOR = 1e-8
#: Rows per block of assign()/distances(): at most 4096, and at most 2^24 similarities (128 MB in float64).
BLOCK_ROWS = 4096
BLOCK_ENTRIES = 1 << 24


class DictionaryFormatError(ValueError):
    """A dictionary folder that is not what docs/format.md describes; the message names the file and field."""


@dataclass(frozen=True)
class Assignment:
    """The result of :meth:`Dictionary.assign`, the arrays of `ep assign -o FILE.npz`."""

    #: Nearest region of every row (int64; −1 when the dictionary has no region).
    region: np.ndarray
    #: Clamped cosine distance to that region's exemplar (float32; +inf without regions).
    distance: np.ndarray
    #: Whether that distance is within θ (compared in float32, as `ep`).
    within_threshold: np.ndarray


@dataclass(frozen=True)
class References:
    """The closest or farthest members of every region: `[K, 10]` arrays, empty slots −1, −1, NaN."""

    source: np.ndarray
    position: np.ndarray
    distance: np.ndarray

    def of(self, region: int) -> List[Tuple[int, int, float]]:
        """The (source, position, distance) of region `region`'s references, in stored order."""
        keep = ~np.isnan(self.distance[region])
        return [(int(s), int(p), float(d)) for s, p, d in
                zip(self.source[region][keep], self.position[region][keep], self.distance[region][keep])]


class Contexts:
    """The token windows that the closest/farthest references of a dictionary built from text point into
    (`contexts.safetensors`): a reference's `source` is a window id, its `position` indexes the window's tokens."""

    def __init__(self, tensors: Dict[str, np.ndarray], path: str):
        self.window_id = tensors["window_id"]
        self.token_offset = tensors["token_offset"]
        self.tokens_flat = tensors["tokens"]
        self.origin_offset = tensors["origin_offset"]
        self.origin_utf8 = tensors["origin_utf8"]
        w = len(self.window_id)
        for name, offsets, total in [("token_offset", self.token_offset, len(self.tokens_flat)),
                                     ("origin_offset", self.origin_offset, len(self.origin_utf8))]:
            if len(offsets) != w + 1 or offsets[0] != 0 or offsets[-1] != total or np.any(np.diff(offsets) < 0):
                raise DictionaryFormatError(f"{path}: tensor '{name}': expected {w + 1} increasing offsets from 0 to {total}")
        if np.any(np.diff(self.window_id) <= 0):
            raise DictionaryFormatError(f"{path}: tensor 'window_id' is not ascending")
        self._index = {int(v): i for i, v in enumerate(self.window_id)}

    def __len__(self) -> int:
        return len(self.window_id)

    def __contains__(self, window: int) -> bool:
        return int(window) in self._index

    def tokens(self, window: int) -> np.ndarray:
        """The token ids (int32) of window `window` (a reference's `source`)."""
        i = self._index[int(window)]
        return self.tokens_flat[self.token_offset[i]:self.token_offset[i + 1]]

    def origin(self, window: int) -> str:
        """The document window `window` came from, `file:line`."""
        i = self._index[int(window)]
        return bytes(self.origin_utf8[self.origin_offset[i]:self.origin_offset[i + 1]]).decode("utf-8")


def _region_tensors(k: int, d: int, b: int) -> List[Tuple[str, np.dtype, Tuple[int, ...]]]:
    """Name, dtype and shape of every tensor of `regions.safetensors` (as `DictionaryStore.regionTensors`)."""
    r = REFERENCE_CAPACITY
    f32, f64, i64, i32 = np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.int64), np.dtype(np.int32)
    return [
        ("center", f32, (d,)), ("exemplar_direction", f32, (k, d)), ("mean_member_direction", f32, (k, d)),
        ("member_count", i64, (k,)), ("member_coherence", f64, (k,)), ("sum_dist_to_exemplar", f64, (k,)),
        ("sum_sq_dist_to_exemplar", f64, (k,)), ("exemplar_index", i64, (k,)), ("first_batch", i64, (k,)),
        ("last_batch", i64, (k,)), ("n_batches", i64, (k,)),
        ("closest_source", i64, (k, r)), ("closest_position", i32, (k, r)), ("closest_distance", f32, (k, r)),
        ("farthest_source", i64, (k, r)), ("farthest_position", i32, (k, r)), ("farthest_distance", f32, (k, r)),
        ("batch_rows", i64, (b,)), ("batch_new_regions", i64, (b,)),
    ]


_SAFETENSORS_DTYPES = {np.dtype(np.float32): "F32", np.dtype(np.float64): "F64", np.dtype(np.int64): "I64",
                       np.dtype(np.int32): "I32", np.dtype(np.uint8): "U8", np.dtype(np.float16): "F16"}


def _dtype_name(dtype: np.dtype) -> str:
    return _SAFETENSORS_DTYPES.get(np.dtype(dtype), str(dtype))


def _read_json(path: str) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except OSError as e:
        raise DictionaryFormatError(f"{path}: cannot be read ({e.strerror})") from None
    except ValueError as e:
        raise DictionaryFormatError(f"{path}: not valid JSON ({e})") from None


class Dictionary:
    """An `ep` dictionary read from its folder (see :func:`load`).

    Arrays keep the dtypes of the files: `center` float32 [D], `exemplar_directions` and `mean_member_directions`
    float32 [K, D] (unit rows), `member_counts` int64 [K], `coherence` float64 [K] (‖mean of member directions‖), …
    `threshold` is θ, a cosine distance; `manifest` the parsed `manifest.json`.
    """

    def __init__(self, path: str, reservoir: bool = False):
        self.path = path
        if not os.path.isdir(path):
            raise DictionaryFormatError(f"{path}: " + ("is a file; expected a dictionary folder" if os.path.exists(path) else "no such dictionary folder"))
        manifest_path = os.path.join(path, MANIFEST_FILE)
        if not os.path.isfile(manifest_path):
            raise DictionaryFormatError(f"{path}: not a dictionary folder: cannot read {MANIFEST_FILE}")
        m = _read_json(manifest_path)
        if not isinstance(m, dict):
            raise DictionaryFormatError(f"{manifest_path}: expected a JSON object")
        if m.get("format") != FORMAT:
            raise DictionaryFormatError(f"{manifest_path}: field 'format' is {m.get('format')!r}; expected {FORMAT!r}")
        version = m.get("format_version")
        if not isinstance(version, int) or version < 1:
            raise DictionaryFormatError(f"{manifest_path}: field 'format_version' must be a positive integer")
        if version > FORMAT_VERSION:
            raise DictionaryFormatError(f"{manifest_path}: format_version {version} is newer than this reader knows ({FORMAT_VERSION}); update exemplar_partitioning")
        for field, kind in [("d_model", int), ("n_regions", int), ("threshold", (int, float)), ("center_norm", (int, float)),
                            ("calibration", dict), ("build", dict), ("files", list)]:
            if not isinstance(m.get(field), kind) or isinstance(m.get(field), bool):
                raise DictionaryFormatError(f"{manifest_path}: field '{field}' is missing or of the wrong type")
        self.manifest: Dict[str, Any] = m
        files = {}
        for entry in m["files"]:
            if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or not isinstance(entry.get("bytes"), int):
                raise DictionaryFormatError(f"{manifest_path}: field 'files': every entry needs 'name' and 'bytes'")
            files[entry["name"]] = entry["bytes"]
            file_path = os.path.join(path, entry["name"])
            if not os.path.isfile(file_path):
                raise DictionaryFormatError(f"{file_path}: listed in {MANIFEST_FILE} but missing or unreadable")
            size = os.path.getsize(file_path)
            if size != entry["bytes"]:
                raise DictionaryFormatError(f"{file_path}: has {size} bytes but {MANIFEST_FILE} says {entry['bytes']} (truncated or replaced)")
        if REGIONS_FILE not in files:
            raise DictionaryFormatError(f"{manifest_path}: field 'files' does not list {REGIONS_FILE}")
        self.files: Dict[str, int] = files

        k, d = m["n_regions"], m["d_model"]
        b = m["build"].get("n_batches")
        if not isinstance(b, int) or isinstance(b, bool) or b < 0:
            raise DictionaryFormatError(f"{manifest_path}: field 'build.n_batches' is missing or not a count")
        regions_path = os.path.join(path, REGIONS_FILE)
        tensors = load_file(regions_path)
        for name, dtype, shape in _region_tensors(k, d, b):
            if name not in tensors:
                raise DictionaryFormatError(f"{regions_path}: missing tensor '{name}' (expected {_dtype_name(dtype)} {list(shape)})")
            t = tensors[name]
            if t.dtype != dtype or t.shape != shape:
                raise DictionaryFormatError(
                    f"{regions_path}: tensor '{name}': expected {_dtype_name(dtype)} {list(shape)}, found {_dtype_name(t.dtype)} {list(t.shape)}")
        self.tensors: Dict[str, np.ndarray] = tensors

        self.d_model: int = d
        self.n_regions: int = k
        #: θ, the cosine-distance threshold of the dictionary (float64, as stored).
        self.threshold: float = float(m["threshold"])
        #: The calibration percentile, or None when θ was given.
        self.percentile: Optional[float] = None if m.get("percentile") is None else float(m["percentile"])
        self.center_norm: float = float(m["center_norm"])
        self.center: np.ndarray = tensors["center"]
        self.exemplar_directions: np.ndarray = tensors["exemplar_direction"]
        self.mean_member_directions: np.ndarray = tensors["mean_member_direction"]
        self.member_counts: np.ndarray = tensors["member_count"]
        self.coherence: np.ndarray = tensors["member_coherence"]
        self.sum_dist_to_exemplar: np.ndarray = tensors["sum_dist_to_exemplar"]
        self.sum_sq_dist_to_exemplar: np.ndarray = tensors["sum_sq_dist_to_exemplar"]
        self.exemplar_index: np.ndarray = tensors["exemplar_index"]
        self.first_batch: np.ndarray = tensors["first_batch"]
        self.last_batch: np.ndarray = tensors["last_batch"]
        self.n_batches: np.ndarray = tensors["n_batches"]
        self.batch_rows: np.ndarray = tensors["batch_rows"]
        self.batch_new_regions: np.ndarray = tensors["batch_new_regions"]
        self.closest = References(tensors["closest_source"], tensors["closest_position"], tensors["closest_distance"])
        self.farthest = References(tensors["farthest_source"], tensors["farthest_position"], tensors["farthest_distance"])
        if not np.all(np.isfinite(self.center)):
            raise DictionaryFormatError(f"{regions_path}: tensor 'center' is not finite")
        norm = float(np.linalg.norm(self.center.astype(np.float64)))
        if abs(norm - self.center_norm) > 1e-6 * max(norm, 1e-30):
            raise DictionaryFormatError(f"{manifest_path}: field 'center_norm' is {self.center_norm} but the center in {REGIONS_FILE} has norm {norm}")

        #: The context windows of a dictionary built from text (None for one built from activation files).
        self.contexts: Optional[Contexts] = None
        if CONTEXTS_FILE in files:
            contexts_path = os.path.join(path, CONTEXTS_FILE)
            ct = load_file(contexts_path)
            for name, dtype in [("window_id", np.int64), ("token_offset", np.int64), ("tokens", np.int32),
                                ("origin_offset", np.int64), ("origin_utf8", np.uint8)]:
                if name not in ct or ct[name].dtype != dtype or ct[name].ndim != 1:
                    raise DictionaryFormatError(f"{contexts_path}: tensor '{name}': expected {_dtype_name(np.dtype(dtype))} [N]")
            self.contexts = Contexts(ct, contexts_path)

        #: The member reservoir, when asked for and stored: (`member_direction` [R, D], `region_offset` [K+1]).
        self.reservoir: Optional[Tuple[np.ndarray, np.ndarray]] = None
        if reservoir and m["build"].get("reservoir"):
            if RESERVOIR_FILE not in files:
                raise DictionaryFormatError(f"{manifest_path}: field 'build.reservoir' is true but 'files' does not list {RESERVOIR_FILE}")
            rt = load_file(os.path.join(path, RESERVOIR_FILE))
            self.reservoir = (rt["member_direction"], rt["region_offset"])

        #: The batch-by-batch build log of a dictionary built from text (`build_log.json`), or None.
        self.build_log: Optional[Any] = _read_json(os.path.join(path, BUILD_LOG_FILE)) if BUILD_LOG_FILE in files else None
        state_path = os.path.join(path, BUILD_STATE_FILE)
        #: What `ep build --resume` needs (`build_state.json`, builds from text), or None.
        self.build_state: Optional[Dict[str, Any]] = _read_json(state_path) if os.path.isfile(state_path) else None

    # MARK: provenance

    @property
    def provenance(self) -> Dict[str, Any]:
        """How the dictionary was made: the manifest's `calibration`, `build`, `tool` and `created`, and the
        build state (`build_state.json`) when there is one."""
        m = self.manifest
        return {"calibration": m["calibration"], "build": m["build"], "tool": m.get("tool"), "created": m.get("created"),
                "build_state": self.build_state}

    @property
    def source(self) -> Optional[Dict[str, Any]]:
        """The build's source: `model`, `hook`, `extractor`, `context_length`, `n_tokens`, `n_activations`, `inputs`."""
        return self.manifest["build"].get("source")

    @property
    def hook(self) -> Optional[str]:
        return (self.source or {}).get("hook")

    @property
    def model(self) -> Optional[str]:
        return (self.source or {}).get("model")

    def directions(self, basis: str = "exemplar") -> np.ndarray:
        """The unit region directions of `basis`: `exemplar` or `mean`."""
        if basis == "exemplar":
            return self.exemplar_directions
        if basis == "mean":
            return self.mean_member_directions
        raise ValueError(f"basis: expected 'exemplar' or 'mean', found {basis!r}")

    def __len__(self) -> int:
        return self.n_regions

    def __repr__(self) -> str:
        p = f", p{self.percentile:g}" if self.percentile is not None else ""
        return f"Dictionary({self.path!r}: {self.n_regions} regions, d_model {self.d_model}, θ = {self.threshold:.6f}{p})"

    # MARK: inference

    def units(self, x: Any) -> np.ndarray:
        """dir(x) = (x − c) / (‖x − c‖ + 1e-12) of every row, in float32 as `ep` computes it (the rows are read as
        float32 first, as `ep` reads activation files). Raises ValueError naming the first row that is not finite or
        lies within 1e-8 of the center (it has no direction), as `ep assign` refuses it."""
        x = np.asarray(x)
        if x.ndim == 1:
            x = x[None, :]
        if x.ndim != 2 or x.shape[1] != self.d_model:
            raise ValueError(f"activations: expected rows of width {self.d_model} (the dictionary's d_model), found shape {list(x.shape)}")
        diff = x.astype(np.float32) - self.center
        squares = np.einsum("ij,ij->i", diff, diff, dtype=np.float64)
        squares32 = squares.astype(np.float32)
        bad = ~np.isfinite(squares32) | (squares32 < np.float32(DIRECTION_FLOOR * DIRECTION_FLOOR)) | ~np.all(np.isfinite(diff), axis=1)
        if bad.any():
            row = int(np.argmax(bad))
            if not np.all(np.isfinite(x[row])) or not np.isfinite(squares32[row]):
                raise ValueError(f"activations: row {row} is not finite")
            raise ValueError(f"activations: row {row} has no direction: it lies {np.sqrt(squares[row]):g} from the center (at most {DIRECTION_FLOOR:g})")
        norms = np.sqrt(squares).astype(np.float32) + np.float32(1e-12)
        return diff / norms[:, None]

    def _distance_blocks(self, u: np.ndarray):
        """For consecutive blocks of the unit rows `u`: (first row, clamped distances float32 [rows, K]). The
        similarities u·e are accumulated in float64 and rounded to float32 (what `ep`'s float32 GEMM approximates
        within a few units in the last place), then clip(1 − s, 0, 2) in float32 as `ep` computes it."""
        exemplars = self.exemplar_directions.astype(np.float64).T
        rows = max(1, min(BLOCK_ROWS, BLOCK_ENTRIES // max(self.n_regions, 1)))
        for first in range(0, len(u), rows):
            s = (u[first:first + rows].astype(np.float64) @ exemplars).astype(np.float32)
            yield first, np.clip(np.float32(1) - s, np.float32(0), np.float32(2))

    def distances(self, x: Any) -> np.ndarray:
        """The N × K float32 matrix of clamped cosine distances clip(1 − dir(x)·e_k, 0, 2) from every row to every
        exemplar (`ExemplarDictionary.distances`); N × 0 without regions."""
        u = self.units(x)
        out = np.empty((len(u), self.n_regions), dtype=np.float32)
        for first, d in self._distance_blocks(u):
            out[first:first + len(d)] = d
        return out

    def assign(self, x: Any) -> Assignment:
        """The nearest region of every row of `x` (N × D, or one row of D), its clamped cosine distance to the
        region's exemplar and whether that is within θ: what `ep assign DICT FILE -o out.npz` writes. Ties go to the
        lower region id, as in `ep`."""
        u = self.units(x)
        region = np.full(len(u), -1, dtype=np.int64)
        distance = np.full(len(u), np.inf, dtype=np.float32)
        if self.n_regions > 0:
            for first, d in self._distance_blocks(u):
                best = d.argmin(axis=1)
                region[first:first + len(d)] = best
                distance[first:first + len(d)] = d[np.arange(len(d)), best]
        return Assignment(region=region, distance=distance, within_threshold=distance <= np.float32(self.threshold))

    def project(self, x: Any, basis: str = "exemplar") -> np.ndarray:
        """The signed readout (x − c)·b_k of every row on every region direction (N × K, float32): `ep encode
        --readout signed`."""
        x = np.asarray(x, dtype=np.float32)
        if x.ndim == 1:
            x = x[None, :]
        return ((x - self.center).astype(np.float64) @ self.directions(basis).astype(np.float64).T).astype(np.float32)

    # MARK: SAELens

    def to_saelens_state_dict(self, basis: str = "exemplar") -> Dict[str, np.ndarray]:
        """The tensors of `ep export --format saelens` (`sae_weights.safetensors`): an SAELens top-k SAE with k = 1
        computing EP's readout — `W_dec` [K, D] the basis directions, `W_enc` [D, K] = `W_decᵀ`, `b_enc` = 0 and
        `b_dec` = the center c (applied to the input). numpy float32 arrays; `torch.from_numpy` turns them into a
        state dict for `SAE.load_state_dict`."""
        decoder = np.ascontiguousarray(self.directions(basis), dtype=np.float32)
        return {
            "W_enc": np.ascontiguousarray(decoder.T),
            "W_dec": decoder.copy(),
            "b_enc": np.zeros(self.n_regions, dtype=np.float32),
            "b_dec": self.center.copy(),
        }

    def to_saelens_config(self, basis: str = "exemplar") -> Dict[str, Any]:
        """The `cfg.json` of `ep export --format saelens` (SAELens v6 fields with the v5 top-level ones)."""
        m, build = self.manifest, self.manifest["build"]
        source = build.get("source") or {}
        text = build.get("text")
        hook = source.get("hook")
        layer = None
        if hook is not None:
            parts = hook.split(".")
            if len(parts) >= 3 and parts[0] == "blocks" and re.fullmatch(r"[+-]?[0-9]+", parts[1]):
                layer = int(parts[1])
        inputs = source.get("inputs") or []
        metadata = {
            "model_name": source.get("model"),
            "hook_name": hook,
            "context_size": source.get("context_length"),
            "prepend_bos": None if text is None else text.get("bos_token_id") is not None,
            "dataset_path": inputs[0] if inputs else None,
            "sae_lens_training_version": None,
            "exemplar_partitioning": {
                "basis": basis,
                "readout": "topk (k = 1): the region of largest (x − c)·u, ReLU'd",
                "threshold": self.threshold,
                "percentile": self.percentile,
                "first_position_excluded": None if text is None else text.get("first_position_excluded"),
                "extractor": source.get("extractor"),
            },
        }
        config = {
            "architecture": "topk", "k": 1, "d_in": self.d_model, "d_sae": self.n_regions, "dtype": "float32",
            "device": "cpu", "apply_b_dec_to_input": True, "normalize_activations": "none", "reshape_activations": "none",
            "metadata": metadata,
        }
        for key, value in metadata.items():
            if key != "exemplar_partitioning":
                config[key] = value
        config.update({"hook_layer": layer, "hook_head_index": None, "activation_fn_str": "topk",
                       "activation_fn_kwargs": {"k": 1}, "finetuning_scaling_factor": False, "neuronpedia_id": None})
        return config


def load(path: str, reservoir: bool = False) -> Dictionary:
    """Reads the dictionary folder `path` written by `ep build` (docs/format.md). `reservoir=True` also reads the
    member reservoir (`reservoir.safetensors`, can be gigabytes) when the dictionary has one."""
    return Dictionary(os.fspath(path), reservoir=reservoir)
