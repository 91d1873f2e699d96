"""Shared fixtures: the `ep` executable under test (EP_BINARY, else the repository's .build/debug/ep) and small
dictionaries it builds once per session — from the conformance activations of Tests/Fixtures/conformance and from a
tiny generated corpus through SmolLM2 (the model `scripts/setup.sh` installs)."""
import json
import os
import random
import subprocess

import numpy as np
import pytest

REPOSITORY = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFORMANCE = os.path.join(REPOSITORY, "Tests", "Fixtures", "conformance")
CASES = ["small-d16", "medium-d64", "wide-d576"]
TEXT_HOOK = "blocks.5.hook_resid_post"


@pytest.fixture(scope="session")
def ep_binary():
    path = os.environ.get("EP_BINARY") or os.path.join(REPOSITORY, ".build", "debug", "ep")
    assert os.path.isfile(path) and os.access(path, os.X_OK), f"no ep executable at {path}: run swift build first or set EP_BINARY"
    return os.path.abspath(path)


@pytest.fixture(scope="session")
def work(tmp_path_factory, ep_binary):
    folder = tmp_path_factory.mktemp("ep-python")
    os.environ["EP_BINARY"] = ep_binary
    os.environ["EP_CACHE_DIR"] = str(folder / "cache")
    return folder


def ep(work, *args):
    """Runs ep in `work` and returns stdout; fails the test with ep's stderr on an error."""
    result = subprocess.run([os.environ["EP_BINARY"], *map(str, args)], cwd=work, capture_output=True, text=True)
    assert result.returncode == 0, f"ep {' '.join(map(str, args))}: {result.stderr}"
    return result.stdout


@pytest.fixture(scope="session")
def conformance(work):
    """For every conformance case: (dictionary folder, activations path), built with the case's stored center and
    θ at its batch size (the reference's partitions), and a p2 build with a reservoir."""
    built = {}
    for case in CASES:
        folder = os.path.join(CONFORMANCE, case)
        settings = json.load(open(os.path.join(folder, "case.json")))
        acts = os.path.join(folder, "activations.npy")
        ep(work, "build", acts, "--center", os.path.join(folder, "center.npy"), "--threshold", repr(settings["threshold"]),
           "--batch-size", settings["add_batch_size"], "-o", f"{case}-golden")
        ep(work, "build", acts, "--percentile", "2", "--batch-size", "512", "--reservoir", "--seed", "3", "-o", f"{case}-p2")
        built[case] = (str(work / f"{case}-golden"), str(work / f"{case}-p2"), acts)
    return built


def write_corpus(path, documents=12, seed=3):
    """A small corpus of prose, Python and priced lists (as Tests/EPTestSupport/SmallCorpus.swift makes)."""
    g = random.Random(seed)
    subjects = ["The river", "A small cat", "Our new compiler", "The committee", "My grandmother", "This function"]
    verbs = ["carefully examines", "quietly returns", "never forgets", "slowly builds", "often ignores", "suddenly prints"]
    objects = ["the old bridge", "a list of numbers", "every open question", "the red door", "its own reflection", "the morning news"]
    with open(path, "w", encoding="utf-8") as f:
        for d in range(documents):
            if d % 3 == 0:
                text = " ".join(f"{g.choice(subjects)} {g.choice(verbs)} {g.choice(objects)}." for _ in range(12))
            elif d % 3 == 1:
                text = "".join(f"def f{i}(x, y):\n    total = x * {g.randrange(100)} + y\n    return total\n\n" for i in range(8))
            else:
                text = "".join(f"- item {i}: {g.choice(objects)} costs {g.randrange(1000)} dollars\n" for i in range(15))
            f.write(json.dumps({"text": text}) + "\n")


TEXT = ("The committee carefully examines the old bridge. def f(x, y):\n    return x * 3 + y\n"
        "- item 4: the red door costs 120 dollars\nMy grandmother never forgets the morning news.")


@pytest.fixture(scope="session")
def text_build(work):
    """A dictionary built from text with SmolLM2 through the package's build() wrapper (stderr captured by the
    wrapper test separately), and the activations of TEXT at its hook written by `ep activations`."""
    write_corpus(work / "corpus.jsonl")
    args = ["build", "--model", "smollm2", "--hook", TEXT_HOOK, "--corpus", "corpus.jsonl", "--percentile", "2",
            "--context", "48", "--min-window", "8", "--shuffle-buffer", "16", "--seed", "11", "--batch-windows", "6",
            "--calibration-tokens", "500", "--max-tokens", "0", "--saturation-window", "0", "--reservoir", "-o", "text-dict"]
    ep(work, *args)
    ep(work, "activations", "smollm2", "--hook", TEXT_HOOK, "--text", TEXT, "-o", "text-acts.npy")
    return str(work / "text-dict"), str(work / "text-acts.npy"), args
