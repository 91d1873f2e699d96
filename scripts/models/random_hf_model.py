#!/usr/bin/env python3
"""Writes a random-weight Hugging Face folder with the shape of a real model, to measure speed and memory of models
that are not available offline (weights are seeded normal values scaled like an initialised model; the tokenizer is
not included, so feed token ids).

  python3 scripts/models/random_hf_model.py SHAPE [--layers N] [--dtype BF16] [--out data/models/SHAPE-random]

Shapes:
  gemma2-2b     Gemma-2-2B, the paper's model: 26 blocks, d_model 2304, 8 heads of 256 with 4 key/value heads, MLP
                9216, vocabulary 256,000, tied embeddings; 2.6 B parameters, 5.2 GB in BF16.
  llama3.2-1b   Llama-3.2-1B: 16 blocks, d_model 2048, 32 heads of 64 with 8 key/value heads, MLP 8192, vocabulary
                128,256, tied embeddings; 1.2 B parameters, 2.5 GB in BF16.
  llama3.1-8b   Llama-3.1-8B: 32 blocks, d_model 4096, 32 heads of 128 with 8 key/value heads, MLP 14336,
                vocabulary 128,256, separate LM head; 8.0 B parameters, 16 GB in BF16 (--layers 4: 3.9 GB).
The Llama 3.1/3.2 checkpoints also set `rope_scaling` (type llama3), which ep does not support yet; it changes only
the RoPE angles, not the cost, so these shapes leave it out. --layers N keeps the first N blocks (a reduced-depth
model: a block's rate and memory without the whole file). Needs: pip install numpy.
"""
import argparse
import json
import os
import struct

import numpy as np

SHAPES = {
    "gemma2-2b": {"model_type": "gemma2", "hidden_size": 2304, "num_hidden_layers": 26, "num_attention_heads": 8,
                  "num_key_value_heads": 4, "head_dim": 256, "intermediate_size": 9216, "vocab_size": 256000,
                  "max_position_embeddings": 8192, "rms_norm_eps": 1e-6, "rope_theta": 10000.0, "query_pre_attn_scalar": 256,
                  "sliding_window": 4096, "attn_logit_softcapping": 50.0, "final_logit_softcapping": 30.0,
                  "hidden_activation": "gelu_pytorch_tanh", "tie_word_embeddings": True, "bos_token_id": 2, "eos_token_id": 1},
    "llama3.2-1b": {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": 2048, "num_hidden_layers": 16,
                    "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 64, "intermediate_size": 8192,
                    "vocab_size": 128256, "max_position_embeddings": 131072, "rms_norm_eps": 1e-5, "rope_theta": 500000.0,
                    "hidden_act": "silu", "tie_word_embeddings": True, "bos_token_id": 128000, "eos_token_id": 128001},
    "llama3.1-8b": {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": 4096, "num_hidden_layers": 32,
                    "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 128, "intermediate_size": 14336,
                    "vocab_size": 128256, "max_position_embeddings": 131072, "rms_norm_eps": 1e-5, "rope_theta": 500000.0,
                    "hidden_act": "silu", "tie_word_embeddings": False, "bos_token_id": 128000, "eos_token_id": 128001},
}


def tensors(c):
    """(name, shape) of every tensor of a Gemma 2 or Llama checkpoint."""
    d, hd, ffn = c["hidden_size"], c["head_dim"], c["intermediate_size"]
    out = [("model.embed_tokens.weight", (c["vocab_size"], d)), ("model.norm.weight", (d,))]
    if not c["tie_word_embeddings"]:
        out.append(("lm_head.weight", (c["vocab_size"], d)))
    norms = (("input_layernorm", "post_attention_layernorm", "pre_feedforward_layernorm", "post_feedforward_layernorm")
             if c["model_type"] == "gemma2" else ("input_layernorm", "post_attention_layernorm"))
    for l in range(c["num_hidden_layers"]):
        p = f"model.layers.{l}."
        out += [(p + n + ".weight", (d,)) for n in norms]
        out += [(p + "self_attn.q_proj.weight", (c["num_attention_heads"] * hd, d)),
                (p + "self_attn.k_proj.weight", (c["num_key_value_heads"] * hd, d)),
                (p + "self_attn.v_proj.weight", (c["num_key_value_heads"] * hd, d)),
                (p + "self_attn.o_proj.weight", (d, c["num_attention_heads"] * hd)),
                (p + "mlp.gate_proj.weight", (ffn, d)), (p + "mlp.up_proj.weight", (ffn, d)), (p + "mlp.down_proj.weight", (d, ffn))]
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("shape", choices=sorted(SHAPES))
    parser.add_argument("--dtype", choices=["BF16", "F16"], default="BF16")
    parser.add_argument("--layers", type=int, help="keep the first N blocks (default: all of the shape)")
    parser.add_argument("--out")
    args = parser.parse_args()
    config = dict(SHAPES[args.shape])
    name = args.shape + "-random"
    if args.layers is not None:
        if not 1 <= args.layers <= config["num_hidden_layers"]:
            parser.error(f"--layers: expected 1 to {config['num_hidden_layers']} blocks, found {args.layers}")
        config["num_hidden_layers"] = args.layers
        name = f"{args.shape}-{args.layers}blocks-random"
    out = args.out or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "data", "models", name)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config, f, indent=1)
    entries, header, offset = tensors(config), {}, 0
    for name, shape in entries:
        size = 2 * int(np.prod(shape))
        header[name] = {"dtype": args.dtype, "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    rng = np.random.default_rng(2)
    path = os.path.join(out, "model.safetensors")
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
        for name, shape in entries:
            fan_in = shape[-1]
            scale = 0.1 if len(shape) == 1 else fan_in ** -0.5
            # Norm weights: Gemma multiplies by (1 + w), Llama by w, so Llama's are drawn around 1.
            center = 1.0 if len(shape) == 1 and config["model_type"] != "gemma2" else 0.0
            rows = shape[0] if len(shape) == 2 else 1
            step = max(1, (1 << 24) // (shape[-1]))
            for start in range(0, rows, step):
                n = min(step, rows - start)
                block = (rng.standard_normal((n, shape[-1]), dtype=np.float32) * np.float32(scale) + np.float32(center))
                if args.dtype == "F16":
                    f.write(block.astype("<f2").tobytes())
                else:
                    f.write((block.view(np.uint32) >> 16).astype("<u2").tobytes())
    os.replace(path + ".tmp", path)
    print("wrote", out, f"({offset / 1e9:.2f} GB of weights)")


if __name__ == "__main__":
    main()
