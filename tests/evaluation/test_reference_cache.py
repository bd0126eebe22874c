"""The reference systems' scores cached between `songgen evaluate` runs: reused when nothing changed, never when
something did."""

import dataclasses
import json
import shutil
from types import SimpleNamespace

import pytest
import torch

from songgen_hf.commands.cli import main
from songgen_hf.evaluation import runner
from songgen_hf.evaluation.prompts import load_prompts
from songgen_hf.evaluation.reference_cache import load_reference, reference_key, store_reference
from songgen_hf.modeling.songgen import SongGenForConditionalGeneration

from .tiny_corpus import evaluate_argv, tiny_evaluation_workspace


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    return tiny_evaluation_workspace(tmp_path_factory.mktemp("reference-cache"))


@pytest.fixture
def reference_runs(monkeypatch):
    """Counts how often the ground truth and its round trip are really computed."""
    calls = []
    original = runner._reference_clips

    def counted(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(runner, "_reference_clips", counted)
    return calls


def _evaluate(workspace, output, *extra):
    code = main(evaluate_argv(workspace, output, "--systems", "guided", *extra))
    assert code == 0
    return json.loads((output / "evaluation.json").read_text())


def test_a_second_run_reuses_the_reference_and_reports_the_same_numbers(
    workspace, tmp_path, monkeypatch, reference_runs
):
    # the default cache lives under the package cache; the runs below that name it by --reference-cache use it too
    monkeypatch.setenv("SONGGEN_HF_CACHE", str(tmp_path / "package-cache"))
    cache = tmp_path / "package-cache" / "evaluation-references"
    first = _evaluate(workspace, tmp_path / "a")
    assert len(reference_runs) == 1 and not first["settings"]["reference_cached"]
    entries = list(cache.glob("*.json"))
    assert len(entries) == 1
    second = _evaluate(workspace, tmp_path / "b")
    assert len(reference_runs) == 1 and second["settings"]["reference_cached"]  # not computed again
    assert second["rows"] == first["rows"] and second["aggregate"] == first["aggregate"]
    assert second["probes"]["ceilings"] == first["probes"]["ceilings"]
    assert second["settings"]["intelligibility"] == first["settings"]["intelligibility"]

    # another scored duration is another reference
    shorter = _evaluate(workspace, tmp_path / "c", "--reference-cache", str(cache), "--max-duration", "0.8")
    assert len(reference_runs) == 2 and not shorter["settings"]["reference_cached"]
    assert len(list(cache.glob("*.json"))) == 2

    # a damaged entry is ignored and rebuilt, never trusted
    entries[0].write_text("{not json")
    again = _evaluate(workspace, tmp_path / "d", "--reference-cache", str(cache))
    assert len(reference_runs) == 3 and again["rows"] == first["rows"]
    assert json.loads(entries[0].read_text())["key"]  # rewritten whole

    # off, and bypassed where the audio itself is wanted
    _evaluate(workspace, tmp_path / "e", "--no-reference-cache")
    _evaluate(workspace, tmp_path / "f", "--reference-cache", str(cache), "--save-audio")
    assert len(reference_runs) == 5
    assert (tmp_path / "f" / "audio" / "ground_truth").is_dir()


def test_the_key_changes_with_the_audio_the_codec_and_the_probes(workspace, tmp_path):
    model = SongGenForConditionalGeneration.from_pretrained(workspace["model"]).eval()
    prompts = load_prompts(workspace["test"], 2, 1.0)
    probes = SimpleNamespace(info={"key": {"max_clips": 400, "feature_version": 1}})
    key = reference_key(model, prompts, probes, workspace["test"], workspace["train"])
    assert reference_key(model, prompts, probes, workspace["test"], workspace["train"]) == key  # deterministic

    copy = tmp_path / "copy.wav"
    shutil.copy(prompts[0].audio_path, copy)
    renamed = [dataclasses.replace(prompts[0], audio_path=copy), prompts[1]]
    assert reference_key(model, renamed, probes, workspace["test"], workspace["train"]) == key  # same bytes
    data = bytearray(copy.read_bytes())
    data[-1] ^= 1  # one sample changed
    copy.write_bytes(bytes(data))
    assert reference_key(model, renamed, probes, workspace["test"], workspace["train"]) != key

    other_probes = SimpleNamespace(info={"key": {"max_clips": 200, "feature_version": 1}})
    assert reference_key(model, prompts, other_probes, workspace["test"], workspace["train"]) != key
    with torch.no_grad():
        next(model.audio_encoder.parameters()).add_(1e-3)
    assert reference_key(model, prompts, probes, workspace["test"], workspace["train"]) != key


def test_entries_are_looked_up_by_their_whole_key(tmp_path):
    key = {"version": 1, "prompts": ["a"]}
    assert load_reference(tmp_path, key) is None
    path = store_reference(tmp_path, key, {"rows": [1]})
    assert load_reference(tmp_path, key) == {"rows": [1]}
    stored = json.loads(path.read_text())
    path.write_text(json.dumps({**stored, "key": {"version": 1, "prompts": ["b"]}}))  # a digest collision, in effect
    assert load_reference(tmp_path, key) is None
    assert load_reference(None, key) is None and store_reference(None, key, {}) is None
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache folder should be")
    assert store_reference(blocked, key, {"rows": []}) is None  # a warning, not a failure


def test_contradicting_cache_options_are_refused(workspace, tmp_path, capsys):
    code = main(
        [
            "evaluate",
            str(workspace["test"]),
            "--output",
            str(tmp_path / "out"),
            "--model",
            str(workspace["model"]),
            "--reference-cache",
            str(tmp_path / "c"),
            "--no-reference-cache",
        ]
    )
    assert code == 2 and "contradict each other" in capsys.readouterr().err
