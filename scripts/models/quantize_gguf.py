#!/usr/bin/env python3
"""Writes a Hugging Face Gemma 2 or Llama folder (F32/F16/BF16 safetensors, such as random_hf_model.py's) as a GGUF
file whose matrices are stored in one GGML type, or in llama.cpp's Q4_K_M mix, to measure the runtime on the
quantized files llama.cpp users download (shapes not available offline, or reduced in depth).

  python3 scripts/models/quantize_gguf.py data/models/gemma2-2b-random --type Q4_K [--layers 13] [--out FILE]

Types: F32, F16, BF16, Q8_0, Q4_0, Q4_1 (quantized by gguf-py), Q4_K, Q5_K, Q6_K (by ../oracle/ggml_quants.py's
plain round-to-nearest quantizer), and Q4_K_M: llama.cpp's mix for that file type (the token embedding, which Gemma
ties to the LM head, and the untied LM head in Q6_K; attn_v and ffn_down in Q6_K in the first and last eighth of the
blocks and every third block between, Q4_K elsewhere). Norm weights stay F32. `--layers N` keeps the first N blocks
(a reduced-depth model for early exit at block N − 1). Tensors are written as they are converted, one at a time, so
memory stays at about one tensor. Tensor names and metadata keys are gguf-py's; Llama's Q/K rows are permuted as
llama.cpp's converter does. Needs: pip install gguf numpy.
"""
import argparse
import json
import os
import struct
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "oracle"))
from ggml_quants import quantize, quantized_byte_count, tensor_type  # noqa: E402

TYPES = ["F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q4_K", "Q5_K", "Q6_K", "Q4_K_M"]
LAYER_NAMES = {"input_layernorm": "attn_norm", "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k",
               "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate",
               "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down"}
GEMMA_NORMS = {"post_attention_layernorm": "post_attention_norm", "pre_feedforward_layernorm": "ffn_norm",
               "post_feedforward_layernorm": "post_ffw_norm"}


def safetensors_entries(folder):
    """(HF name, file, dtype, shape, byte offset) of every tensor of the folder."""
    out = []
    for file in sorted(f for f in os.listdir(folder) if f.startswith("model") and f.endswith(".safetensors")):
        path = os.path.join(folder, file)
        with open(path, "rb") as f:
            n = struct.unpack("<Q", f.read(8))[0]
            header = json.loads(f.read(n))
        for name, e in header.items():
            if name != "__metadata__":
                out.append((name, path, e["dtype"], e["shape"], 8 + n + e["data_offsets"][0]))
    return out


def read_tensor(path, dtype, shape, offset):
    count = int(np.prod(shape))
    if dtype == "F32":
        return np.fromfile(path, dtype="<f4", count=count, offset=offset).reshape(shape)
    if dtype == "F16":
        return np.fromfile(path, dtype="<f2", count=count, offset=offset).astype(np.float32).reshape(shape)
    if dtype == "BF16":
        return (np.fromfile(path, dtype="<u2", count=count, offset=offset).astype(np.uint32) << 16).view(np.float32).reshape(shape)
    raise SystemExit(f"{path}: tensor dtype {dtype} (expected F32, F16 or BF16)")


def gguf_name(hf, arch):
    """(GGUF name, plus-one) of a Hugging Face tensor name, or None for a tensor the GGUF does not hold."""
    name = hf[len("model."):] if hf.startswith("model.") else hf
    gemma = arch == "gemma2"
    top = {"embed_tokens.weight": "token_embd.weight", "norm.weight": "output_norm.weight", "lm_head.weight": "output.weight"}
    if name in top:
        return top[name], gemma and name == "norm.weight"
    parts = name.split(".")
    if parts[0] != "layers" or parts[-1] != "weight":
        return None
    table = dict(LAYER_NAMES, **(GEMMA_NORMS if gemma else {"post_attention_layernorm": "ffn_norm"}))
    sub = table.get(".".join(parts[2:-1]))
    return (f"blk.{parts[1]}.{sub}.weight", gemma and sub.endswith("norm")) if sub else None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder")
    parser.add_argument("--type", required=True, choices=TYPES)
    parser.add_argument("--layers", type=int, help="keep only the first N blocks")
    parser.add_argument("--out", help="default: FOLDER-<type>[-<layers>L].gguf next to the folder")
    args = parser.parse_args()
    import gguf

    folder = os.path.abspath(args.folder.rstrip("/"))
    c = json.load(open(os.path.join(folder, "config.json")))
    arch = {"gemma2": "gemma2", "llama": "llama"}.get(c["model_type"])
    if arch is None:
        raise SystemExit(f"{folder}/config.json: model_type {c['model_type']!r} (supported: gemma2, llama)")
    total = c["num_hidden_layers"]
    layers = args.layers or total
    if not 0 < layers <= total:
        raise SystemExit(f"--layers {layers}: the model has {total} blocks")
    out = args.out or f"{folder}-{args.type.lower()}{'' if layers == total else f'-{layers}L'}.gguf"
    d, heads = c["hidden_size"], c["num_attention_heads"]
    kv_heads, head_dim = c.get("num_key_value_heads", heads), c.get("head_dim") or d // heads
    tied = c.get("tie_word_embeddings", arch == "gemma2")

    entries = []
    for hf, path, dtype, shape, offset in safetensors_entries(folder):
        mapped = gguf_name(hf, arch)
        if mapped is None or (mapped[0] == "output.weight" and tied):
            continue
        name, plus_one = mapped
        if name.startswith("blk.") and int(name.split(".")[1]) >= layers:
            continue
        entries.append((name, plus_one, path, dtype, shape, offset))
    # llama.cpp's order: the embedding, the final norm and head, then block by block in llama.cpp's tensor order.
    order = ["attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "post_attention_norm", "ffn_norm", "ffn_gate",
             "ffn_up", "ffn_down", "post_ffw_norm"]
    entries.sort(key=lambda e: (1, int(e[0].split(".")[1]), order.index(e[0].split(".")[2])) if e[0].startswith("blk.")
                 else (0, ["token_embd.weight", "output_norm.weight", "output.weight"].index(e[0]), 0))

    w = gguf.GGUFWriter(out + ".tmp", arch)
    w.add_name(os.path.basename(folder))
    w.add_block_count(layers)
    w.add_context_length(c.get("max_position_embeddings", 8192))
    w.add_embedding_length(d)
    w.add_feed_forward_length(c["intermediate_size"])
    w.add_head_count(heads)
    w.add_head_count_kv(kv_heads)
    w.add_key_length(head_dim)
    w.add_value_length(head_dim)
    w.add_layer_norm_rms_eps(c.get("rms_norm_eps", 1e-6))
    w.add_rope_freq_base(c.get("rope_theta", 10000.0))
    if arch == "gemma2":
        w.add_sliding_window(c["sliding_window"])
        w.add_attn_logit_softcapping(c["attn_logit_softcapping"])
        w.add_final_logit_softcapping(c["final_logit_softcapping"])
    else:
        w.add_rope_dimension_count(head_dim)
    w.add_file_type({"F32": gguf.LlamaFileType.ALL_F32, "F16": gguf.LlamaFileType.MOSTLY_F16,
                     "BF16": gguf.LlamaFileType.MOSTLY_BF16, "Q8_0": gguf.LlamaFileType.MOSTLY_Q8_0,
                     "Q4_0": gguf.LlamaFileType.MOSTLY_Q4_0, "Q4_1": gguf.LlamaFileType.MOSTLY_Q4_1,
                     "Q4_K": gguf.LlamaFileType.MOSTLY_Q4_K_S, "Q5_K": gguf.LlamaFileType.MOSTLY_Q5_K_S,
                     "Q6_K": gguf.LlamaFileType.MOSTLY_Q6_K, "Q4_K_M": gguf.LlamaFileType.MOSTLY_Q4_K_M}[args.type])
    types = {}
    for name, plus_one, path, dtype, shape, offset in entries:
        if len(shape) == 1:
            w.add_tensor_info(name, shape, np.dtype(np.float32), 4 * shape[0])
            continue
        t = tensor_type(name, args.type, total, tied)
        types[name] = t
        if t in ("F32", "F16"):
            dt = np.dtype(np.float32 if t == "F32" else np.float16)
            w.add_tensor_info(name, shape, dt, dt.itemsize * shape[0] * shape[1])
        else:
            qtype = gguf.GGMLQuantizationType[t]
            nbytes = quantized_byte_count(shape, t)
            w.add_tensor_info(name, [shape[0], nbytes // shape[0]], np.dtype(np.uint8), nbytes, raw_dtype=qtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    started = time.time()
    for i, (name, plus_one, path, dtype, shape, offset) in enumerate(entries):
        a = read_tensor(path, dtype, shape, offset)
        if plus_one:
            a = a + np.float32(1)
        if arch == "llama" and name.endswith(("attn_q.weight", "attn_k.weight")):  # llama.cpp's permute
            h = heads if "attn_q" in name else kv_heads
            a = a.reshape(h, 2, a.shape[0] // h // 2, *a.shape[1:]).swapaxes(1, 2).reshape(a.shape)
        if a.ndim == 1:
            data = np.ascontiguousarray(a, dtype=np.float32)
        else:
            data, _ = quantize(np.ascontiguousarray(a, dtype=np.float32), types[name], check=False)
        w.write_tensor_data(np.ascontiguousarray(data))
        if i % 20 == 0:
            print(f"  {i + 1}/{len(entries)} tensors ({time.time() - started:.0f} s)", flush=True)
    w.close()
    os.replace(out + ".tmp", out)
    counts = {}
    for t in types.values():
        counts[t] = counts.get(t, 0) + 1
    print("wrote", out, f"({os.path.getsize(out) / 1e9:.2f} GB; {layers} blocks; matrices {counts})")


if __name__ == "__main__":
    main()
