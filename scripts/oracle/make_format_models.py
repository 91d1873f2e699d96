#!/usr/bin/env python3
"""Writes the weight-format parity models of the Swift tests (WeightFormatTests): one seeded random-weight model with
two Gemma-2-2B-shaped blocks (d_model 2304, 8 heads of 256 with 4 key/value heads, MLP 9216; vocabulary 1,024) in
every weight format the runtime reads, each with the numpy fp32 oracle's outputs on the weights as stored.

Into OUT (default data/models/formats-2304, git-ignored; about 2.4 GB) it writes:

* `gemma2-<TYPE>.gguf` for TYPE in F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q4_K, Q5_K, Q6_K: every matrix (the token
  embedding, which is also the tied LM head, and the seven matrices of each block) stored as TYPE, the norm weights
  as F32, as llama.cpp's quantizer leaves them; and `gemma2-Q4_K_M.gguf`, llama.cpp's Q4_K_M mix (ggml_quants.py's
  `tensor_type`: here the embedding and block 1's attn_v and ffn_down in Q6_K, the rest Q4_K), whose fused
  Q/K/V matrix has rows of two types;
* `hf-bf16/`: the same weights as a Hugging Face folder (config.json, model.safetensors in BF16, norms stored as
  w − 1);
* `<name>_oracle.safetensors` (for the folder `hf-bf16/oracle.safetensors`): for the prompts `a` (24 seeded ids) and
  `b` (13 seeded ids) `P.tokens`, `P.<hook>` at `hook_embed`, `blocks.0.hook_resid_post`,
  `blocks.1.hook_{resid_pre,attn_out,resid_mid,mlp_out,resid_post}` and `ln_final.hook_normalized`, and
  `P.logits` at every position, from np_models.py's forward pass (fp32) on the weights read back from the file:
  gguf-py's `gguf.quants.dequantize` for the GGUF files, numpy for the folder. So the runtime and the oracle differ
  only in the order of fp32 arithmetic;
* `MANIFEST.json` last (its presence means the set is complete).

gguf-py quantizes F16, BF16, Q8_0, Q4_0 and Q4_1 itself (`gguf.quants.quantize`); it can only decode K-quants, so
Q4_K, Q5_K and Q6_K blocks are made by ggml_quants.py's plain round-to-nearest quantizer, and checked by decoding
them with gguf-py (the reference the oracle uses) against the fp32 weights.

Needs: pip install gguf numpy safetensors. Takes about 5 minutes on 2 cores. `scripts/setup.sh` runs it with
`--if-stale`, which writes only what OUT/MANIFEST.json does not list for this script's VERSION:
    python3 scripts/oracle/make_format_models.py [--out DIR] [--if-stale]
"""
import argparse
import json
import os
import shutil
import struct
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from ggml_quants import quantize, tensor_type  # noqa: E402
from np_models import forward, load_gguf, load_hf  # noqa: E402

SEED = 20261204
VERSION = 1  # bump when the outputs change, so that setup.sh regenerates them
D, LAYERS, HEADS, KV_HEADS, HEAD_DIM, FFN, VOCAB = 2304, 2, 8, 4, 256, 9216, 1024
TYPES = ["F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q4_K", "Q5_K", "Q6_K", "Q4_K_M"]
HOOKS = (["hook_embed", "blocks.0.hook_resid_post", "ln_final.hook_normalized"]
         + [f"blocks.1.hook_{p}" for p in ("resid_pre", "attn_out", "resid_mid", "mlp_out", "resid_post")])
CONFIG = {"model_type": "gemma2", "hidden_size": D, "num_hidden_layers": LAYERS, "num_attention_heads": HEADS,
          "num_key_value_heads": KV_HEADS, "head_dim": HEAD_DIM, "intermediate_size": FFN, "vocab_size": VOCAB,
          "max_position_embeddings": 8192, "rms_norm_eps": 1e-6, "rope_theta": 10000.0, "query_pre_attn_scalar": HEAD_DIM,
          "sliding_window": 4096, "attn_logit_softcapping": 50.0, "final_logit_softcapping": 30.0,
          "hidden_activation": "gelu_pytorch_tanh", "tie_word_embeddings": True, "bos_token_id": 2, "eos_token_id": 1}


# ---------------------------------------------------------------------------------------------------------- weights

def random_weights():
    """GGUF-named fp32 weights (norms hold w, not w − 1), matrices scaled like an initialised model."""
    rng = np.random.default_rng(SEED)

    def matrix(rows, cols):
        return (rng.standard_normal((rows, cols), dtype=np.float32) * np.float32(cols ** -0.5))

    def norm():
        return 1 + rng.standard_normal(D, dtype=np.float32) * np.float32(0.1)

    W = {"token_embd.weight": matrix(VOCAB, D), "output_norm.weight": norm()}
    for l in range(LAYERS):
        p = f"blk.{l}."
        for n in ("attn_norm", "post_attention_norm", "ffn_norm", "post_ffw_norm"):
            W[p + n + ".weight"] = norm()
        W[p + "attn_q.weight"] = matrix(HEADS * HEAD_DIM, D)
        W[p + "attn_k.weight"] = matrix(KV_HEADS * HEAD_DIM, D)
        W[p + "attn_v.weight"] = matrix(KV_HEADS * HEAD_DIM, D)
        W[p + "attn_output.weight"] = matrix(D, HEADS * HEAD_DIM)
        W[p + "ffn_gate.weight"] = matrix(FFN, D)
        W[p + "ffn_up.weight"] = matrix(FFN, D)
        W[p + "ffn_down.weight"] = matrix(D, FFN)
    return W


# ----------------------------------------------------------------------------------------------------------- files

def write_gguf(W, type_name, path):
    import gguf
    w = gguf.GGUFWriter(path + ".tmp", "gemma2")
    w.add_block_count(LAYERS)
    w.add_context_length(CONFIG["max_position_embeddings"])
    w.add_embedding_length(D)
    w.add_feed_forward_length(FFN)
    w.add_head_count(HEADS)
    w.add_head_count_kv(KV_HEADS)
    w.add_key_length(HEAD_DIM)
    w.add_value_length(HEAD_DIM)
    w.add_layer_norm_rms_eps(CONFIG["rms_norm_eps"])
    w.add_rope_freq_base(CONFIG["rope_theta"])
    w.add_sliding_window(CONFIG["sliding_window"])
    w.add_attn_logit_softcapping(CONFIG["attn_logit_softcapping"])
    w.add_final_logit_softcapping(CONFIG["final_logit_softcapping"])
    w.add_file_type(gguf.LlamaFileType.ALL_F32 if type_name == "F32"
                    else gguf.LlamaFileType.MOSTLY_Q4_K_M if type_name == "Q4_K_M" else gguf.LlamaFileType.GUESSED)
    for name, a in W.items():  # llama.cpp's order: embedding, then block by block
        if a.ndim == 1:
            w.add_tensor(name, np.ascontiguousarray(a, dtype=np.float32))
        else:
            data, raw_dtype = quantize(a, tensor_type(name, type_name, LAYERS, tied=True))
            w.add_tensor(name, data, raw_dtype=raw_dtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    os.replace(path + ".tmp", path)


def write_hf_bf16(W, folder):
    """The weights as a Hugging Face Gemma 2 folder in BF16 (round to nearest even; norms as w − 1)."""
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(CONFIG, f, indent=1)
    names = {"token_embd": "model.embed_tokens", "output_norm": "model.norm", "attn_norm": "input_layernorm",
             "post_attention_norm": "post_attention_layernorm", "ffn_norm": "pre_feedforward_layernorm",
             "post_ffw_norm": "post_feedforward_layernorm", "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj",
             "attn_v": "self_attn.v_proj", "attn_output": "self_attn.o_proj", "ffn_gate": "mlp.gate_proj",
             "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj"}
    header, blobs, offset = {}, [], 0
    for name, a in W.items():
        parts = name.split(".")
        if parts[0] == "blk":
            hf = f"model.layers.{parts[1]}.{names[parts[2]]}.weight"
        else:
            hf = names[parts[0]] + ".weight"
        values = a - np.float32(1) if a.ndim == 1 else a
        bits = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32).astype(np.uint64)
        raw = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype("<u2").tobytes()
        header[hf] = {"dtype": "BF16", "shape": list(a.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    path = os.path.join(folder, "model.safetensors")
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
        for blob in blobs:
            f.write(blob)
    os.replace(path + ".tmp", path)


def write_oracle(cfg, W, path):
    from safetensors.numpy import save_file
    rng = np.random.default_rng(SEED + 1)
    prompts = {"a": rng.integers(0, VOCAB, 24).tolist(), "b": rng.integers(0, VOCAB, 13).tolist()}
    tensors = {}
    for name, tokens in prompts.items():
        logits, caps = forward(cfg, W, tokens)
        for k in HOOKS:
            tensors[f"{name}.{k}"] = np.ascontiguousarray(caps[k], dtype=np.float32)
        tensors[f"{name}.tokens"] = np.asarray(tokens, dtype=np.int32)
        tensors[f"{name}.logits"] = np.ascontiguousarray(logits, dtype=np.float32)
    save_file(tensors, path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=os.path.join(HERE, "..", "..", "data", "models", "formats-2304"))
    parser.add_argument("--types", default=",".join(TYPES), help="comma-separated GGUF types to write (default: all)")
    parser.add_argument("--if-stale", action="store_true", help="write only what OUT/MANIFEST.json does not list for this version")
    args = parser.parse_args()
    out = os.path.abspath(args.out)
    manifest = os.path.join(out, "MANIFEST.json")
    done = {"types": [], "folders": []}
    if args.if_stale and os.path.exists(manifest):
        with open(manifest) as f:
            written = json.load(f)
        if written.get("version") == VERSION:
            done = written
    types = [t for t in args.types.split(",") if t not in done["types"]]
    if not types and "hf-bf16" in done["folders"]:
        return
    if os.path.exists(manifest):
        os.remove(manifest)
    os.makedirs(out, exist_ok=True)
    W = random_weights()
    started = time.time()
    if "hf-bf16" not in done["folders"]:
        folder = os.path.join(out, "hf-bf16")
        shutil.rmtree(folder, ignore_errors=True)
        write_hf_bf16(W, folder)
        cfg, RW = load_hf(folder)
        write_oracle(cfg, RW, os.path.join(folder, "oracle.safetensors"))
        print(f"hf-bf16 ({time.time() - started:.0f} s)", flush=True)
    for type_name in types:
        path = os.path.join(out, f"gemma2-{type_name}.gguf")
        write_gguf(W, type_name, path)
        cfg, RW = load_gguf(path)
        write_oracle(cfg, RW, os.path.join(out, f"gemma2-{type_name}_oracle.safetensors"))
        del RW
        print(f"gemma2-{type_name}.gguf ({time.time() - started:.0f} s)", flush=True)
    with open(manifest, "w") as f:
        json.dump({"generator": "scripts/oracle/make_format_models.py", "version": VERSION, "seed": SEED,
                   "types": done["types"] + types, "folders": ["hf-bf16"]}, f, indent=1)


if __name__ == "__main__":
    main()
