#!/usr/bin/env python3
"""Writes the dequantization goldens of the Swift tests (Tests/EPRuntimeTests/Goldens/quants.*).

For every GGML tensor type the runtime decodes (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K) it
writes one small tensor of random data into `quants.gguf` (with gguf-py's GGUFWriter), and the values gguf-py's own
`gguf.quants.dequantize` decodes from those bytes into `quants_expected.safetensors` (float32, one array per type,
named like the tensor). Types gguf-py can quantize are quantized from random normals; for the K-quants, which it can
only decode, the blocks are random bytes whose f16 scale fields are overwritten with finite random scales.

gguf-py is an independent implementation (numpy), so the Swift decoders are checked against it bit for bit.
Needs: pip install gguf numpy safetensors. Run from the repository root:
    python3 scripts/oracle/make_quant_goldens.py
"""
import os
import numpy as np
from gguf import GGUFWriter, GGMLQuantizationType as T
from gguf.quants import quantize, dequantize
from gguf.constants import GGML_QUANT_SIZES
from safetensors.numpy import save_file

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "EPRuntimeTests", "Goldens")
ROWS, COLS = 2, 512  # 1024 weights per type: 2 rows of 2 super-blocks (K-quants) or 16 blocks (others)

rng = np.random.default_rng(20261125)


def finite_f16(n):
    """n random finite f16 scales of either sign, magnitudes 1e-3..1."""
    mags = 10.0 ** rng.uniform(-3, 0, n)
    return (mags * rng.choice([-1.0, 1.0], n)).astype(np.float16)


def random_k_blocks(qtype):
    """Random raw blocks of a K-quant with finite f16 scale fields, shape (ROWS, bytes per row)."""
    block_size, type_size = GGML_QUANT_SIZES[qtype]
    n_blocks = ROWS * COLS // block_size
    raw = rng.integers(0, 256, size=(n_blocks, type_size), dtype=np.uint8)
    # Where each type keeps its f16 fields (byte offsets inside the block).
    f16_fields = {T.Q4_K: [0, 2], T.Q5_K: [0, 2], T.Q6_K: [208]}[qtype]
    for off in f16_fields:
        raw[:, off:off + 2] = finite_f16(n_blocks).view(np.uint8).reshape(n_blocks, 2)
    return raw.reshape(ROWS, -1)


def main():
    writer = GGUFWriter(os.path.join(OUT, "quants.gguf"), "quant-goldens")
    expected = {}
    for qtype in (T.F32, T.F16, T.BF16, T.Q8_0, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1):
        data = rng.standard_normal((ROWS, COLS)).astype(np.float32)
        data[0, :32] *= 50.0  # one block with a wide range
        raw = quantize(data, qtype)
        if qtype in (T.F32, T.F16):
            writer.add_tensor(qtype.name, raw)
        else:
            writer.add_tensor(qtype.name, raw, raw_dtype=qtype)
        expected[qtype.name] = np.asarray(dequantize(raw, qtype), dtype=np.float32).reshape(ROWS, COLS)
    for qtype in (T.Q4_K, T.Q5_K, T.Q6_K):
        raw = random_k_blocks(qtype)
        writer.add_tensor(qtype.name, raw, raw_dtype=qtype)
        expected[qtype.name] = np.asarray(dequantize(raw, qtype), dtype=np.float32).reshape(ROWS, COLS)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    for name, values in expected.items():
        assert np.isfinite(values).all(), name
    save_file(expected, os.path.join(OUT, "quants_expected.safetensors"))
    print("wrote", sorted(expected))


if __name__ == "__main__":
    main()
