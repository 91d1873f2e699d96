#!/usr/bin/env python3
"""Writes small random-weight models in Hugging Face layout, with the goldens the Swift tests compare against.

For each architecture (llama, qwen2, gemma2, gemma3, gpt2) it writes Tests/EPRuntimeTests/Goldens/hf/<arch>/ with:

* `config.json` (tiny widths: d_model 32, 3 blocks; Gemma with short sliding windows, Gemma 2 with soft-capping);
* weights in a different layout per model: llama F32 in two shards with `model.safetensors.index.json`, qwen2 F16
  with an untied LM head and Q/K/V biases, gemma2 BF16, gemma3 F32, gpt2 F32 with Conv1D (transposed) matrices;
* `tokenizer.json`, trained here with Hugging Face `tokenizers` on the tokenizer test corpus, one kind per model:
  llama SentencePiece BPE with Prepend('▁') and byte fallback (Llama 2 style), qwen2 byte-level BPE with NFC and the
  Qwen2 split pattern, gemma2 SentencePiece BPE with byte fallback and no prefix (Gemma style), gemma3 Unigram with a
  Metaspace pre-tokenizer, gpt2 byte-level BPE;
* `oracle.safetensors`: for two prompts (`text`: the tokenizer's ids of a sentence, BOS included when the tokenizer
  adds one; `random`: 20 seeded ids) the numpy fp32 oracle's (np_models.py) activations at `hook_embed`, every
  `blocks.L.hook_resid_post`, `blocks.1.hook_{resid_pre,attn_out,resid_mid,mlp_out}`, `ln_final.hook_normalized`, and
  the logits at every position;
* `tokenizer_goldens.json`: HF ids and decoded text for every case of the tokenizer corpus (make_tokenizer_goldens.py),
  plus ids with special tokens added for a few.

It also writes the same weights as GGUF files, Tests/EPRuntimeTests/Goldens/gguf/<arch>.gguf (F32, tensor names and
metadata keys from gguf-py's own constants, Q/K rows permuted for llama as llama.cpp's converter does), with
`<arch>_oracle.safetensors` from the numpy oracle run on the GGUF file (llama.cpp's conventions where they differ
from HF: attention scale 1/√head width, Gemma's fixed sliding-window periods).

Needs: pip install numpy tokenizers (and gguf, which the corpus module imports). CI does not run this; the outputs
are committed. Usage: python3 scripts/oracle/make_tiny_models.py
"""
import json
import os
import shutil
import struct
import sys

import numpy as np
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from make_tokenizer_goldens import QWEN2_REGEX, corpus_cases  # noqa: E402
from np_models import forward, load_gguf, load_hf  # noqa: E402

OUT = os.path.join(HERE, "..", "..", "Tests", "EPRuntimeTests", "Goldens", "hf")
D, LAYERS, FFN, VOCAB = 32, 3, 64, 600
SPECIALS = ["<pad>", "<eos>", "<bos>", "<unk>"]


# ------------------------------------------------------------------------------------------------------ tokenizers

def training_text():
    return [text for _, text, raw, _ in corpus_cases() if raw is None and text]


def sentencepiece_bpe(prefix):
    """Gemma-style (prefix False) or Llama-2-style (prefix True) BPE over ▁-marked text with byte fallback."""
    trainer_tok = Tokenizer(models.BPE(unk_token="<unk>"))
    trainer_tok.normalizer = normalizers.Replace(" ", "▁")
    trainer_tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="never", split=True)
    trainer = trainers.BpeTrainer(vocab_size=VOCAB - 256, special_tokens=SPECIALS, limit_alphabet=80, show_progress=False)
    trainer_tok.train_from_iterator(training_text(), trainer)
    trained = json.loads(trainer_tok.to_str())["model"]
    # Byte tokens right after the specials, as SentencePiece vocabularies have them.
    vocab = {t: i for i, t in enumerate(SPECIALS)}
    for b in range(256):
        vocab["<0x%02X>" % b] = len(vocab)
    for piece, _ in sorted(trained["vocab"].items(), key=lambda kv: kv[1]):
        if piece not in vocab:
            vocab[piece] = len(vocab)
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in trained["merges"]]
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token="<unk>", fuse_unk=True, byte_fallback=True))
    if prefix:
        tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
        tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(), decoders.Strip(" ", 1, 0)])
    else:
        tok.normalizer = normalizers.Replace(" ", "▁")
        tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()])
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in SPECIALS])
    tok.add_tokens([AddedToken("<start_of_turn>", special=False, normalized=False)])
    tok.post_processor = processors.TemplateProcessing(single="<bos> $A", special_tokens=[("<bos>", 2)])
    return tok


def unigram():
    tok = Tokenizer(models.Unigram())
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    trainer = trainers.UnigramTrainer(vocab_size=VOCAB, special_tokens=SPECIALS, unk_token="<unk>", show_progress=False)
    tok.train_from_iterator(training_text(), trainer)
    tok.post_processor = processors.TemplateProcessing(single="<bos> $A <eos>", special_tokens=[("<bos>", 2), ("<eos>", 1)])
    return tok


def byte_level(qwen):
    tok = Tokenizer(models.BPE())
    if qwen:
        tok.normalizer = normalizers.NFC()
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(QWEN2_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
        specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    else:
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
        specials = ["<|endoftext|>"]
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(training_text(), trainer)
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    return tok


# ------------------------------------------------------------------------------------------------------ weights

def write_safetensors(path, tensors, dtype):
    """tensors: name -> float32 array, stored as dtype F32, F16 or BF16 (rounded to nearest even)."""
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name], dtype=np.float32)
        if dtype == "F32":
            raw = a.astype("<f4").tobytes()
        elif dtype == "F16":
            raw = a.astype("<f2").tobytes()
        else:
            bits = a.view(np.uint32).astype(np.uint64)
            raw = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype("<u2").tobytes()
        header[name] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def random_weights(arch, vocab, rng, cfg):
    def w(*shape, scale=0.2):
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    def norm():  # Gemma stores w - 1; the others w
        return w(D, scale=0.1) if arch.startswith("gemma") else 1 + w(D, scale=0.1)

    t = {}
    if arch == "gpt2":
        t["transformer.wte.weight"] = w(vocab, D)
        t["transformer.wpe.weight"] = w(cfg["n_positions"], D, scale=0.1)
        for l in range(LAYERS):
            p = f"transformer.h.{l}."
            for n in ("ln_1", "ln_2"):
                t[p + n + ".weight"], t[p + n + ".bias"] = norm(), w(D, scale=0.05)
            t[p + "attn.c_attn.weight"], t[p + "attn.c_attn.bias"] = w(D, 3 * D), w(3 * D, scale=0.05)  # Conv1D: [in, out]
            t[p + "attn.c_proj.weight"], t[p + "attn.c_proj.bias"] = w(D, D), w(D, scale=0.05)
            t[p + "mlp.c_fc.weight"], t[p + "mlp.c_fc.bias"] = w(D, FFN), w(FFN, scale=0.05)
            t[p + "mlp.c_proj.weight"], t[p + "mlp.c_proj.bias"] = w(FFN, D), w(D, scale=0.05)
        t["transformer.ln_f.weight"], t["transformer.ln_f.bias"] = norm(), w(D, scale=0.05)
        return t
    H, KV, hd = cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["head_dim"]
    t["model.embed_tokens.weight"] = w(vocab, D)
    for l in range(LAYERS):
        p = f"model.layers.{l}."
        t[p + "input_layernorm.weight"] = norm()
        t[p + "post_attention_layernorm.weight"] = norm()
        t[p + "self_attn.q_proj.weight"], t[p + "self_attn.k_proj.weight"] = w(H * hd, D), w(KV * hd, D)
        t[p + "self_attn.v_proj.weight"], t[p + "self_attn.o_proj.weight"] = w(KV * hd, D), w(D, H * hd)
        t[p + "mlp.gate_proj.weight"], t[p + "mlp.up_proj.weight"], t[p + "mlp.down_proj.weight"] = w(FFN, D), w(FFN, D), w(D, FFN)
        if arch == "qwen2":
            for n, width in (("q", H * hd), ("k", KV * hd), ("v", KV * hd)):
                t[p + f"self_attn.{n}_proj.bias"] = w(width, scale=0.1)
        if arch.startswith("gemma"):
            t[p + "pre_feedforward_layernorm.weight"], t[p + "post_feedforward_layernorm.weight"] = norm(), norm()
        if arch == "gemma3":
            t[p + "self_attn.q_norm.weight"], t[p + "self_attn.k_norm.weight"] = w(hd, scale=0.1), w(hd, scale=0.1)
    t["model.norm.weight"] = norm()
    if not cfg.get("tie_word_embeddings", True):
        t["lm_head.weight"] = w(vocab, D)
    return t


def config_for(arch, vocab, tok):
    bos, eos = tok.token_to_id("<bos>"), tok.token_to_id("<eos>")
    if arch == "gpt2":
        end = tok.token_to_id("<|endoftext|>")
        return {"model_type": "gpt2", "n_embd": D, "n_layer": LAYERS, "n_head": 4, "n_inner": FFN, "n_positions": 64,
                "vocab_size": vocab, "layer_norm_epsilon": 1e-5, "activation_function": "gelu_new", "bos_token_id": end, "eos_token_id": end}
    base = {"hidden_size": D, "num_hidden_layers": LAYERS, "num_attention_heads": 4, "num_key_value_heads": 2,
            "intermediate_size": FFN, "vocab_size": vocab, "max_position_embeddings": 128}
    if arch == "llama":
        return {"model_type": "llama", **base, "head_dim": 8, "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "hidden_act": "silu",
                "tie_word_embeddings": True, "bos_token_id": bos, "eos_token_id": eos}
    if arch == "qwen2":
        return {"model_type": "qwen2", **base, "head_dim": 8, "rms_norm_eps": 1e-6, "rope_theta": 1000000.0, "hidden_act": "silu",
                "tie_word_embeddings": False, "use_sliding_window": False, "sliding_window": 4096,
                "eos_token_id": tok.token_to_id("<|endoftext|>")}
    if arch == "gemma2":
        return {"model_type": "gemma2", **base, "head_dim": 16, "rms_norm_eps": 1e-6, "rope_theta": 10000.0,
                "hidden_activation": "gelu_pytorch_tanh", "query_pre_attn_scalar": 24, "sliding_window": 4,
                "attn_logit_softcapping": 5.0, "final_logit_softcapping": 3.0, "tie_word_embeddings": True,
                "bos_token_id": bos, "eos_token_id": eos}
    return {"model_type": "gemma3_text", **base, "head_dim": 16, "rms_norm_eps": 1e-6, "rope_theta": 1000000.0,
            "rope_local_base_freq": 10000.0, "hidden_activation": "gelu_pytorch_tanh", "query_pre_attn_scalar": 16,
            "sliding_window": 5, "layer_types": ["sliding_attention", "full_attention", "sliding_attention"],
            "attn_logit_softcapping": None, "final_logit_softcapping": None, "tie_word_embeddings": True,
            "bos_token_id": bos, "eos_token_id": eos}


MODELS = {  # arch: (tokenizer maker, weight dtype, shards)
    "llama": (lambda: sentencepiece_bpe(True), "F32", 2),
    "qwen2": (lambda: byte_level(True), "F16", 1),
    "gemma2": (lambda: sentencepiece_bpe(False), "BF16", 1),
    "gemma3": (unigram, "F32", 1),
    "gpt2": (lambda: byte_level(False), "F32", 1),
}


def tokenizer_goldens(tok):
    cases = []
    for name, text, raw, parse_special in corpus_cases():
        tok.encode_special_tokens = not parse_special
        ids = tok.encode(text, add_special_tokens=False).ids
        case = {"name": name, "parse_special": parse_special, "ids": ids, "decoded": tok.decode(ids, skip_special_tokens=False)}
        if raw is None:
            case["text"] = text
        else:
            case["utf8_hex"] = raw.hex()
        if name.startswith("spec-0"):
            case["ids_with_special"] = tok.encode(text, add_special_tokens=True).ids
        cases.append(case)
    tok.encode_special_tokens = False
    return cases


def write_gguf(arch, folder, path):
    """The HF folder's weights as a GGUF file of architecture `arch` (F32), via gguf-py's writer and names."""
    import gguf
    c = json.load(open(os.path.join(folder, "config.json")))
    cfg, W = load_hf(folder)
    enum = {"llama": gguf.MODEL_ARCH.LLAMA, "qwen2": gguf.MODEL_ARCH.QWEN2, "gemma2": gguf.MODEL_ARCH.GEMMA2,
            "gemma3": gguf.MODEL_ARCH.GEMMA3, "gpt2": gguf.MODEL_ARCH.GPT2}[arch]
    valid = set()
    for t in gguf.MODEL_TENSORS[enum]:
        base = gguf.TENSOR_NAMES[t]
        valid |= {base.format(bid=l) for l in range(LAYERS)} if "{bid}" in base else {base}
    w = gguf.GGUFWriter(path, gguf.MODEL_ARCH_NAMES[enum])
    w.add_block_count(LAYERS)
    w.add_embedding_length(D)
    w.add_feed_forward_length(FFN)
    w.add_head_count(cfg["heads"])
    w.add_head_count_kv(cfg["kv_heads"])
    if arch == "gpt2":
        w.add_context_length(c["n_positions"])
        w.add_layer_norm_eps(cfg["eps"])
    else:
        w.add_context_length(c["max_position_embeddings"])
        w.add_key_length(cfg["head_dim"])
        w.add_value_length(cfg["head_dim"])
        w.add_layer_norm_rms_eps(cfg["eps"])
        w.add_rope_freq_base(cfg["rope_base"])
    if arch in ("gemma2", "gemma3"):
        w.add_sliding_window(cfg["window"])
    if arch == "gemma2":
        w.add_attn_logit_softcapping(cfg["attn_softcap"])
        w.add_final_logit_softcapping(cfg["final_softcap"])
    tied = c.get("tie_word_embeddings", True)
    for name in sorted(W):
        if name == "output.weight" and tied:
            continue
        assert name.rsplit(".", 1)[0] in valid, f"{arch}: {name} is not a gguf-py tensor name"
        a = W[name]
        if arch == "llama" and name.endswith(("attn_q.weight", "attn_k.weight")):  # llama.cpp's permute
            heads = cfg["heads"] if "attn_q" in name else cfg["kv_heads"]
            a = a.reshape(heads, 2, a.shape[0] // heads // 2, *a.shape[1:]).swapaxes(1, 2).reshape(a.shape)
        w.add_tensor(name, np.ascontiguousarray(a, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main():
    import tokenizers
    rng = np.random.default_rng(20261130)
    for arch, (make_tokenizer, dtype, shards) in MODELS.items():
        folder = os.path.join(OUT, arch)
        shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(folder)
        tok = make_tokenizer()
        tok.save(os.path.join(folder, "tokenizer.json"))
        vocab = tok.get_vocab_size(with_added_tokens=True)
        cfg = config_for(arch, vocab, tok)
        with open(os.path.join(folder, "config.json"), "w") as f:
            json.dump(cfg, f, indent=1)
        hf_cfg = dict(cfg)
        hf_cfg.setdefault("num_attention_heads", cfg.get("n_head"))
        hf_cfg.setdefault("num_key_value_heads", hf_cfg["num_attention_heads"])
        hf_cfg.setdefault("head_dim", D // hf_cfg["num_attention_heads"])
        weights = random_weights(arch, vocab, rng, hf_cfg)
        if shards == 1:
            write_safetensors(os.path.join(folder, "model.safetensors"), weights, dtype)
        else:
            names = sorted(weights)
            parts = [names[: len(names) // 2], names[len(names) // 2:]]
            weight_map = {}
            for i, part in enumerate(parts):
                file = f"model-{i + 1:05d}-of-{len(parts):05d}.safetensors"
                write_safetensors(os.path.join(folder, file), {n: weights[n] for n in part}, dtype)
                weight_map.update({n: file for n in part})
            with open(os.path.join(folder, "model.safetensors.index.json"), "w") as f:
                json.dump({"metadata": {"total_size": sum(4 * a.size for a in weights.values())}, "weight_map": weight_map}, f, indent=1)

        ocfg, W = load_hf(folder)
        prompts = {"text": tok.encode("The capital of France is Paris, and 2 + 2 = 4.").ids,
                   "random": np.random.default_rng(7).integers(0, vocab, 20).tolist()}
        from safetensors.numpy import save_file
        tensors = {}
        for name, tokens in prompts.items():
            logits, caps = forward(ocfg, W, tokens)
            keep = ["hook_embed", "ln_final.hook_normalized"] + [f"blocks.{l}.hook_resid_post" for l in range(LAYERS)]
            keep += [f"blocks.1.hook_{p}" for p in ("resid_pre", "attn_out", "resid_mid", "mlp_out")]
            for k in keep:
                tensors[f"{name}.{k}"] = np.ascontiguousarray(caps[k], dtype=np.float32)
            tensors[f"{name}.tokens"] = np.asarray(tokens, dtype=np.int32)
            tensors[f"{name}.logits"] = logits
        save_file(tensors, os.path.join(folder, "oracle.safetensors"))
        with open(os.path.join(folder, "tokenizer_goldens.json"), "w", encoding="utf-8") as f:
            json.dump({"generator": "scripts/oracle/make_tiny_models.py", "tokenizers": tokenizers.__version__,
                       "cases": tokenizer_goldens(tok)}, f, ensure_ascii=False, separators=(",", ":"))
        print(arch, "vocab", vocab, "dtype", dtype, "->", folder)

        gguf_folder = os.path.join(OUT, "..", "gguf")
        os.makedirs(gguf_folder, exist_ok=True)
        gguf_path = os.path.join(gguf_folder, arch + ".gguf")
        write_gguf(arch, folder, gguf_path)
        gcfg, GW = load_gguf(gguf_path)
        tensors = {}
        for name, tokens in prompts.items():
            logits, caps = forward(gcfg, GW, tokens)
            for k in keep:
                tensors[f"{name}.{k}"] = np.ascontiguousarray(caps[k], dtype=np.float32)
            tensors[f"{name}.tokens"] = np.asarray(tokens, dtype=np.int32)
            tensors[f"{name}.logits"] = logits
        save_file(tensors, os.path.join(gguf_folder, arch + "_oracle.safetensors"))


if __name__ == "__main__":
    main()
