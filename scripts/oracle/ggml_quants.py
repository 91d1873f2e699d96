#!/usr/bin/env python3
"""GGML block quantization in numpy, for writing GGUF test and benchmark models (make_format_models.py,
../models/quantize_gguf.py).

`quantize(a, type_name)` gives the data and raw type for gguf-py's `GGUFWriter` of a fp32 matrix stored as F32, F16,
BF16, Q8_0, Q4_0, Q4_1 (gguf-py's own `gguf.quants.quantize`) or Q4_K, Q5_K, Q6_K, which gguf-py can only decode:
those blocks are made here by a plain round-to-nearest quantizer (per-sub-block scale and min, no search, so a
little less accurate than llama.cpp's), and checked by decoding them with gguf-py against the fp32 values.
"""
import numpy as np

# ------------------------------------------------------------------------------------------------------- K-quants
# Block layouts as gguf-py's `gguf/quants.py` decodes them (and ../shared/spec/models-data.md §1.3).

def f16(x):
    return np.asarray(x, dtype=np.float32).astype(np.float16)


def pack_scales_mins(sc, mn):
    """The 12 bytes of eight 6-bit scales and mins per super-block (Q4_K, Q5_K), sc and mn of shape (n, 8)."""
    sc, mn = sc.astype(np.uint8), mn.astype(np.uint8)
    out = np.empty((sc.shape[0], 12), dtype=np.uint8)
    out[:, 0:4] = sc[:, 0:4] | ((sc[:, 4:8] >> 4) << 6)
    out[:, 4:8] = mn[:, 0:4] | ((mn[:, 4:8] >> 4) << 6)
    out[:, 8:12] = (sc[:, 4:8] & 0x0F) | ((mn[:, 4:8] & 0x0F) << 4)
    return out


def scale_min_quantize(x, levels):
    """x (n, 8, 32) → f16 d, f16 dmin (n,), 6-bit scales and mins (n, 8), levels (n, 8, 32) in 0..levels."""
    lo = np.minimum(x.min(axis=-1), 0)
    hi = x.max(axis=-1)
    scale, offset = (hi - lo) / levels, -lo
    d = f16(scale.max(axis=-1) / 63)
    dmin = f16(offset.max(axis=-1) / 63)
    d32, dmin32 = d.astype(np.float32), dmin.astype(np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        sc = np.where(d32[:, None] > 0, np.rint(scale / d32[:, None]), 0).clip(0, 63)
        mn = np.where(dmin32[:, None] > 0, np.rint(offset / dmin32[:, None]), 0).clip(0, 63)
        step = (d32[:, None] * sc)[..., None]
        q = np.where(step > 0, np.rint((x + (dmin32[:, None] * mn)[..., None]) / step), 0).clip(0, levels)
    return d, dmin, sc, mn, q.astype(np.uint8)


def quantize_q4_k(rows):
    n = rows.size // 256
    d, dmin, sc, mn, q = scale_min_quantize(rows.reshape(n, 8, 32), 15)
    # Chunk c of 32 bytes: sub-block 2c in the low nibbles, 2c + 1 in the high ones.
    qs = (q[:, 0::2] | (q[:, 1::2] << 4)).reshape(n, 128)
    blocks = np.concatenate([d.view(np.uint8).reshape(n, 2), dmin.view(np.uint8).reshape(n, 2), pack_scales_mins(sc, mn), qs], axis=1)
    return blocks.reshape(rows.shape[0], -1)


def quantize_q5_k(rows):
    n = rows.size // 256
    d, dmin, sc, mn, q = scale_min_quantize(rows.reshape(n, 8, 32), 31)
    low = q & 0x0F
    qs = (low[:, 0::2] | (low[:, 1::2] << 4)).reshape(n, 128)
    # Bit j of byte l is the fifth bit of weight l of sub-block j.
    qh = np.zeros((n, 32), dtype=np.uint8)
    for j in range(8):
        qh |= ((q[:, j] >> 4) & 1) << j
    blocks = np.concatenate([d.view(np.uint8).reshape(n, 2), dmin.view(np.uint8).reshape(n, 2), pack_scales_mins(sc, mn), qh, qs], axis=1)
    return blocks.reshape(rows.shape[0], -1)


def quantize_q6_k(rows):
    n = rows.size // 256
    x = rows.reshape(n, 16, 16)
    scale = np.abs(x).max(axis=-1) / 32
    d = f16(scale.max(axis=-1) / 127)
    d32 = d.astype(np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        sc = np.where(d32[:, None] > 0, np.rint(scale / d32[:, None]), 0).clip(-128, 127)
        step = (d32[:, None] * sc)[..., None]
        q = np.where(step != 0, np.rint(x / step), 0).clip(-32, 31)
    q = (q + 32).astype(np.uint8).reshape(n, 2, 4, 32)  # half h, chunk c, weight l
    ql = np.empty((n, 2, 64), dtype=np.uint8)
    ql[:, :, 0:32] = (q[:, :, 0] & 0x0F) | ((q[:, :, 2] & 0x0F) << 4)
    ql[:, :, 32:64] = (q[:, :, 1] & 0x0F) | ((q[:, :, 3] & 0x0F) << 4)
    qh = np.zeros((n, 2, 32), dtype=np.uint8)
    for c in range(4):
        qh |= ((q[:, :, c] >> 4) & 3) << (2 * c)
    blocks = np.concatenate([ql.reshape(n, 128), qh.reshape(n, 64), sc.astype(np.int8).view(np.uint8), d.view(np.uint8).reshape(n, 2)], axis=1)
    return blocks.reshape(rows.shape[0], -1)


def quantized_byte_count(shape, type_name):
    """Bytes of a `shape` (rows, columns) matrix stored as `type_name`."""
    from gguf import GGMLQuantizationType as T
    from gguf.constants import GGML_QUANT_SIZES
    block, size = GGML_QUANT_SIZES[T[type_name]]
    return shape[0] * (shape[1] // block) * size


def quantize(a, type_name, check=True):
    """(data for GGUFWriter.add_tensor, raw_dtype or None) of fp32 matrix `a` stored as `type_name`; K-quant blocks
    are decoded back with gguf-py and compared with `a` unless `check` is false."""
    from gguf import GGMLQuantizationType as T
    from gguf.quants import dequantize, quantize as gguf_quantize
    qtype = T[type_name]
    if type_name == "F32":
        return np.ascontiguousarray(a, dtype=np.float32), None
    if type_name == "F16":
        return a.astype(np.float16), None
    if type_name in ("BF16", "Q8_0", "Q4_0", "Q4_1"):
        return gguf_quantize(a, qtype), qtype
    raw = {"Q4_K": quantize_q4_k, "Q5_K": quantize_q5_k, "Q6_K": quantize_q6_k}[type_name](a)
    if not check:
        return raw, qtype
    # The blocks decode (by gguf-py) close to what they encode: the packing matches the decoders.
    back = np.asarray(dequantize(raw, qtype), dtype=np.float32).reshape(a.shape)
    error = np.linalg.norm(back - a) / np.linalg.norm(a)
    limit = {"Q4_K": 0.12, "Q5_K": 0.06, "Q6_K": 0.03}[type_name]
    assert error < limit, f"{type_name}: relative quantization error {error:.3f}"
    return raw, qtype


# ---------------------------------------------------------------------------------------------------- file types

def more_bits(layer, layers):
    """llama.cpp's use_more_bits: the first and last eighth of the blocks, and every third block between."""
    return layer < layers // 8 or layer >= 7 * layers // 8 or (layer - layers // 8) % 3 == 2


def tensor_type(name, file_type, layers, tied):
    """The type of matrix `name` in a file of `file_type` (a GGML type, or Q4_K_M: llama.cpp's mix for that file
    type: the untied LM head, or the token embedding when tied to it, in Q6_K; attn_v and ffn_down in Q6_K in the
    blocks of `more_bits`; Q4_K elsewhere) for a model of `layers` blocks."""
    if file_type != "Q4_K_M":
        return file_type
    if name == "output.weight" or (tied and name == "token_embd.weight"):
        return "Q6_K"
    parts = name.split(".")
    if parts[0] == "blk" and parts[2] in ("attn_v", "ffn_down") and more_bits(int(parts[1]), layers):
        return "Q6_K"
    return "Q4_K"
