"""The wrappers around the `ep` executable: results equal to running ep directly, progress passed through to
stderr, failures raised as EPError carrying ep's own message."""
import os
import subprocess

import numpy as np
import pytest

import exemplar_partitioning as epy
from conftest import TEXT, TEXT_HOOK


def ep_failure(work, *args):
    """ep's error message for a failing command line (the stderr text after `Error: `)."""
    result = subprocess.run([os.environ["EP_BINARY"], *map(str, args)], cwd=work, capture_output=True, text=True)
    assert result.returncode != 0
    return result.stderr.split("Error: ", 1)[1].strip()


def test_build_wrapper_equals_ep_build(conformance, work, capfd):
    golden, _, acts = conformance["medium-d64"]
    d = epy.build(acts, output="wrapped", cwd=work, percentile=2, batch_size=512, reservoir=True, seed=3)
    captured = capfd.readouterr()
    assert isinstance(d, epy.Dictionary) and d.n_regions > 0
    theirs = epy.load(conformance["medium-d64"][1])
    for name in ["center", "exemplar_direction", "mean_member_direction", "member_count", "member_coherence"]:
        assert np.array_equal(d.tensors[name], theirs.tensors[name]), name
    assert d.threshold == theirs.threshold
    assert captured.err == ""  # a build from files reports on stdout only; nothing on stderr to pass through


def test_build_from_text_passes_progress_through(text_build, work, capfd):
    _, _, args = text_build
    options = dict(model="smollm2", hook=TEXT_HOOK, corpus="corpus.jsonl", percentile=2, context=48, min_window=8,
                   shuffle_buffer=16, seed=11, batch_windows=6, calibration_tokens=500, max_tokens=0, saturation_window=0,
                   reservoir=True)
    d = epy.build(output="text-wrapped", cwd=work, **options)
    err = capfd.readouterr().err
    assert "corpus: 12 documents" in err or "calibration" in err, err
    direct = epy.load(text_build[0])
    assert np.array_equal(d.exemplar_directions, direct.exemplar_directions) and d.threshold == direct.threshold
    silent = epy.build(output="text-silent", cwd=work, progress=False, **options)
    assert capfd.readouterr().err == "" and silent.n_regions == d.n_regions


def test_activations_and_report_wrappers(text_build, conformance, work):
    x = epy.activations("smollm2", output="acts-wrapped.npy", hook=TEXT_HOOK, text=TEXT, cwd=work, progress=False)
    assert np.array_equal(x, np.load(text_build[1]))
    both = epy.activations("smollm2", output="acts-two", hook=[TEXT_HOOK, "blocks.2.hook_resid_post"], text=TEXT, cwd=work, progress=False)
    assert set(both) == {TEXT_HOOK, "blocks.2.hook_resid_post"} and np.array_equal(both[TEXT_HOOK], x)
    index = epy.report(epy.load(conformance["small-d16"][0]), output=work / "site", progress=False)
    assert os.path.isfile(index) and open(index, encoding="utf-8").read().startswith("<!")


def test_failures_raise_eperror_with_eps_message(conformance, work):
    golden, _, acts = conformance["small-d16"]
    cases = [
        (lambda: epy.build("missing.npy", output="x", cwd=work, percentile=2), ["build", "missing.npy", "--percentile", "2", "-o", "x"]),
        (lambda: epy.build(acts, output="y", cwd=work, percentile=2, batch_size=0), ["build", acts, "--percentile", "2", "--batch-size", "0", "-o", "y"]),
        (lambda: epy.report(work / "nowhere", output=work / "site2"), ["report", work / "nowhere", "-o", work / "site2"]),
        (lambda: epy.activations("smollm2", output="a.npy", hook="blocks.99.hook_resid_post", text="hi", cwd=work),
         ["activations", "smollm2", "--hook", "blocks.99.hook_resid_post", "--text", "hi", "-o", "a.npy"]),
    ]
    for call, args in cases:
        expected = ep_failure(work, *args)
        with pytest.raises(epy.EPError) as raised:
            call()
        assert raised.value.message == expected and expected in str(raised.value)
        assert raised.value.returncode != 0 and expected in raised.value.stderr
    assert not os.path.exists(work / "x") and not os.path.exists(work / "y")


def test_the_executable_is_found_by_argument_environment_or_path(work, monkeypatch):
    binary = os.environ["EP_BINARY"]
    assert epy.find_ep(binary) == binary
    version = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout
    assert version.strip() and epy.run(["--version"], ep=binary, progress=False) == version
    monkeypatch.setenv("EP_BINARY", str(work / "no-such-ep"))
    with pytest.raises(epy.EPNotFoundError, match="EP_BINARY names"):
        epy.find_ep()
    monkeypatch.delenv("EP_BINARY")
    monkeypatch.setenv("PATH", os.path.dirname(binary))
    assert epy.find_ep() == binary
    monkeypatch.setenv("PATH", str(work / "empty"))
    with pytest.raises(epy.EPNotFoundError, match="no `ep` executable"):
        epy.find_ep()
