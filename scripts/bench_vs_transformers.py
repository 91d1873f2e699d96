#!/usr/bin/env python3
"""ep's forward pass against Hugging Face transformers (CPU torch) on the same windows, in one run.

  python3 scripts/bench_vs_transformers.py MODEL_FOLDER --layer L [--windows 8 16] [--rounds 5] [--threads 2]

MODEL_FOLDER is a Hugging Face folder (config.json, *.safetensors) that both can load, e.g. data/models/smollm2-hf or
the random-weight shapes of scripts/models/random_hf_model.py. Both sides run the same token windows (seeded ids,
WINDOWS x WINDOW_LENGTH per call), in fp32 on THREADS threads, to the output of block L (`blocks.L.hook_resid_post`)
and no further:
  * ep: `ep bench forward MODEL --tokens-file IDS --layer L --early-exit-only --json --repeats CALLS` (each round is
    one process: load, one untimed warm-up call, CALLS timed calls);
  * transformers: the model loaded with `dtype=torch.float32` (BF16/F16 weights are converted to fp32 at load, as a
    researcher running TransformerLens would), with only blocks 0..L built (config.num_hidden_layers = L + 1) and
    the final norm replaced by the identity, called as `model.model(input_ids)` under `torch.inference_mode()`
    with `torch.set_num_threads(THREADS)`; no LM head. The process stays up between rounds (one warm-up call).
Rounds alternate transformers then ep, so that both see the same machine; the ratio is of the medians of all timed
calls (and per round). Before timing, the first window's activations of both are compared (ep activations), to show
that both compute the same function.

The transformers side runs in its own virtual environment (default data/venv-hf, git-ignored), created on first use
with pinned versions: torch 2.13.0+cpu (a wheel pip finds as configured, e.g. a local wheel directory, else from
PyTorch's CPU index) and transformers 5.25.0. Nothing is installed system-wide. Needs numpy in the calling Python.

The machine is printed (CPU model, AVX-512/AVX2, load averages before and after, and for every timed call the cores
other processes kept busy): on a shared machine, read the per-round lines, not only the medians. OpenMP's threads
spin while they wait, which costs transformers much when other processes share the cores; OMP_WAIT_POLICY=PASSIVE in
the environment (passed on to the worker, printed in the header) makes them sleep instead.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

TORCH = "torch==2.13.0+cpu"
TRANSFORMERS = "transformers==5.25.0"
TORCH_INDEX = "https://download.pytorch.org/whl/cpu"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def venv_python(venv):
    return os.path.join(venv, "bin", "python")


def versions_in(venv):
    """(torch, transformers) versions importable in the venv, or None."""
    python = venv_python(venv)
    if not os.path.exists(python):
        return None
    probe = subprocess.run([python, "-c", "import torch, transformers; print(torch.__version__, transformers.__version__)"],
                           capture_output=True, text=True)
    return tuple(probe.stdout.split()) if probe.returncode == 0 else None


def ensure_venv(venv):
    """Creates or completes the virtual environment with the pinned versions; returns its python."""
    wanted = (TORCH.split("==")[1], TRANSFORMERS.split("==")[1])
    if versions_in(venv) == wanted:
        return venv_python(venv)
    print(f"setting up {venv}: {TORCH}, {TRANSFORMERS} (once)", file=sys.stderr)
    if not os.path.exists(venv_python(venv)):
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    pip = [venv_python(venv), "-m", "pip", "install", "--quiet"]
    # The CPU build first from wherever pip finds it as configured (a local wheel directory, a mirror), then from
    # PyTorch's own index.
    if subprocess.run(pip + [TORCH]).returncode != 0:
        subprocess.run(pip + [TORCH, "--extra-index-url", TORCH_INDEX], check=True)
    subprocess.run(pip + [TRANSFORMERS, "safetensors", "numpy"], check=True)
    found = versions_in(venv)
    if found != wanted:
        sys.exit(f"error: {venv} has torch/transformers {found}, expected {wanted}")
    return venv_python(venv)


# ---------------------------------------------------------------------------------------------------------------
# The transformers worker: runs inside the venv, reads one JSON command per line on stdin, answers one JSON line.

def proc_busy_seconds():
    """CPU seconds all processes spent busy (not idle, not waiting for I/O), from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [float(v) for v in f.readline().split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def worker(args):
    import resource

    import numpy as np
    import torch
    import transformers
    from transformers import AutoConfig, AutoModelForCausalLM

    torch.set_num_threads(args.threads)
    transformers.logging.set_verbosity_error()  # the blocks left out are "unexpected" weights: expected here
    transformers.logging.disable_progress_bar()
    config = AutoConfig.from_pretrained(args.model)
    total_layers = config.num_hidden_layers
    config.num_hidden_layers = args.layer + 1
    if getattr(config, "layer_types", None):
        config.layer_types = config.layer_types[: args.layer + 1]
    start = time.time()
    model = AutoModelForCausalLM.from_pretrained(args.model, config=config, dtype=torch.float32)
    model.eval()
    base = model.model
    assert len(base.layers) == args.layer + 1, (len(base.layers), args.layer)
    base.norm = torch.nn.Identity()
    load_seconds = time.time() - start
    info = {"torch": torch.__version__, "transformers": transformers.__version__, "threads": torch.get_num_threads(),
            "mkl": torch.backends.mkl.is_available(), "attention": model.config._attn_implementation,
            "blocks_built": len(base.layers), "blocks_in_checkpoint": total_layers, "load_seconds": load_seconds,
            "weights_dtype": str(next(model.parameters()).dtype)}
    print(json.dumps(info), flush=True)

    def run(ids):
        with torch.inference_mode():
            return base(input_ids=ids).last_hidden_state

    for line in sys.stdin:
        command = json.loads(line)
        ids = torch.from_numpy(np.load(command["tokens"]).astype(np.int64))
        if command["op"] == "activations":
            out = run(ids).reshape(-1, config.hidden_size).numpy()
            np.save(command["out"], out.astype(np.float32))
            print(json.dumps({"ok": True}), flush=True)
        elif command["op"] == "time":
            run(ids)  # warm-up (first call of a shape)
            seconds, other = [], []
            for _ in range(command["calls"]):
                busy, own, wall = proc_busy_seconds(), time.process_time(), time.time()
                t = time.perf_counter()
                run(ids)
                seconds.append(time.perf_counter() - t)
                dt = time.time() - wall
                other.append(max(0.0, (proc_busy_seconds() - busy) - (time.process_time() - own)) / dt if dt > 0 else 0.0)
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
            print(json.dumps({"seconds": seconds, "other_cores_busy": other, "peak_resident_bytes": peak}), flush=True)


# ---------------------------------------------------------------------------------------------------------------

def cpu_description():
    """CPU model, core count and vector extensions, from /proc/cpuinfo."""
    model, flags = "unknown CPU", set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and model == "unknown CPU":
                    model = value.strip()
                elif key.strip() == "flags" and not flags:
                    flags = set(value.split())
    except OSError:
        pass
    vector = [x for x in ("avx512f", "avx512_bf16", "amx_tile", "avx2", "fma") if x in flags]
    return f"{model}, {os.cpu_count()} CPUs, {' '.join(vector) or 'no AVX2'}"


def median(values):
    s = sorted(values)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", help="Hugging Face folder")
    parser.add_argument("--layer", type=int, required=True, help="early exit after this block (hook_resid_post)")
    parser.add_argument("--windows", type=int, nargs="+", default=[8], help="windows per call (several: each in turn)")
    parser.add_argument("--window-length", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds (transformers, then ep)")
    parser.add_argument("--calls", type=int, default=1, help="timed calls per side and round")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--ep", default=os.path.join(ROOT, ".build", "release", "ep"))
    parser.add_argument("--venv", default=os.path.join(ROOT, "data", "venv-hf"))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)

    import numpy as np

    if not os.path.isfile(os.path.join(args.model, "config.json")):
        sys.exit(f"error: {args.model}: not a Hugging Face folder (no config.json)")
    if not os.access(args.ep, os.X_OK):
        sys.exit(f"error: --ep {args.ep}: no such executable (swift build -c release)")
    python = ensure_venv(args.venv)
    with open(os.path.join(args.model, "config.json")) as f:
        vocab = json.load(f)["vocab_size"]
    folder = tempfile.mkdtemp(prefix="ep-vs-hf-")
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    hf = subprocess.Popen([python, os.path.abspath(__file__), args.model, "--layer", str(args.layer), "--threads",
                           str(args.threads), "--worker"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)

    def ask(command):
        hf.stdin.write(json.dumps(command) + "\n")
        hf.stdin.flush()
        line = hf.stdout.readline()
        if not line:
            sys.exit("error: the transformers worker stopped (see its messages above)")
        return json.loads(line)

    info = json.loads(hf.stdout.readline())
    ep_version = subprocess.run([args.ep, "--version"], capture_output=True, text=True).stdout.strip()
    print(f"model: {args.model}, early exit after block {args.layer} (blocks.{args.layer}.hook_resid_post), "
          f"{args.threads} threads, fp32, windows of {args.window_length} tokens")
    print(f"transformers {info['transformers']}, torch {info['torch']} (MKL {info['mkl']}, {info['threads']} threads, "
          f"attention '{info['attention']}'), {info['blocks_built']} of {info['blocks_in_checkpoint']} blocks built, "
          f"weights {info['weights_dtype']}, loaded in {info['load_seconds']:.1f} s; ep {ep_version} ({args.ep})")
    print(f"machine: {cpu_description()}; transformers' OpenMP wait policy: "
          f"{os.environ.get('OMP_WAIT_POLICY', 'library default (spins before sleeping)')}")
    with open("/proc/loadavg") as f:
        print("load averages before:", " ".join(f.read().split()[:3]))

    rng = np.random.default_rng(args.seed)
    # The same function: the first window's activations of both.
    check = os.path.join(folder, "check.npy")
    np.save(check, rng.integers(100, min(vocab, 40000), size=(1, args.window_length)).astype(np.int32))
    ours = os.path.join(folder, "ep.npy")
    subprocess.run([args.ep, "activations", args.model, "--hook", f"blocks.{args.layer}.hook_resid_post", "--tokens-file", check,
                    "-o", ours, "--threads", str(args.threads)], check=True, capture_output=True)
    ask({"op": "activations", "tokens": check, "out": os.path.join(folder, "hf.npy")})
    a, b = np.load(ours).astype(np.float64), np.load(os.path.join(folder, "hf.npy")).astype(np.float64)
    relative = np.linalg.norm(a - b, axis=1) / np.maximum(np.linalg.norm(b, axis=1), 1e-30)
    print(f"same function: {a.shape[0]} rows of width {a.shape[1]}, largest relative difference of a row "
          f"{relative.max():.2e} (median {np.median(relative):.2e})")
    if relative.max() > 1e-3:
        sys.exit("error: ep and transformers disagree on the activations; the timings would not compare like with like")

    summary = []
    for windows in args.windows:
        tokens = os.path.join(folder, f"ids-{windows}.npy")
        np.save(tokens, rng.integers(100, min(vocab, 40000), size=(windows, args.window_length)).astype(np.int32))
        count = windows * args.window_length
        ep_seconds, hf_seconds, ep_other, hf_other, peaks = [], [], [], [], {}
        print(f"\n{windows} windows x {args.window_length} tokens per call: round, transformers tokens/s, ep tokens/s, "
              "ratio (other processes' cores busy)")
        for r in range(args.rounds):
            got = ask({"op": "time", "tokens": tokens, "calls": args.calls})
            hf_seconds += got["seconds"]
            hf_other += got["other_cores_busy"]
            peaks["transformers"] = got["peak_resident_bytes"]
            run = subprocess.run([args.ep, "bench", "forward", args.model, "--tokens-file", tokens, "--layer", str(args.layer),
                                  "--early-exit-only", "--json", "--repeats", str(args.calls), "--threads", str(args.threads)],
                                 capture_output=True, text=True)
            if run.returncode != 0:
                sys.exit(f"error: ep bench forward failed: {run.stderr.strip()}")
            report = json.loads(run.stdout)
            ep_seconds += report["early_exit"]["seconds"]
            ep_other += report["early_exit"]["other_cores_busy"]
            peaks["ep"] = report["peak_resident_bytes"]
            h, e = median(got["seconds"]), median(report["early_exit"]["seconds"])
            print(f"  {r + 1}  {count / h:8.1f}  {count / e:8.1f}  {h / e:5.2f}x  "
                  f"(transformers {max(got['other_cores_busy']):.2f}, ep {max(report['early_exit']['other_cores_busy']):.2f})")
        h, e = median(hf_seconds), median(ep_seconds)
        line = (f"{windows} windows: ep {count / e:.1f} tokens/s, transformers {count / h:.1f} tokens/s (medians of "
                f"{len(ep_seconds)} calls each): ep = {h / e:.2f}x transformers; peak resident memory ep "
                f"{peaks['ep'] / 1e9:.2f} GB, transformers {peaks['transformers'] / 1e9:.2f} GB; other processes "
                f"<= {max(ep_other + hf_other):.2f} cores busy")
        summary.append(line)
    hf.stdin.close()
    hf.wait()
    with open("/proc/loadavg") as f:
        print("\nload averages after:", " ".join(f.read().split()[:3]))
    print("\n".join(summary))


if __name__ == "__main__":
    main()
