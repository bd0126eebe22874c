"""Bad model folders through the package's front doors: ``load_text_to_song_pipeline`` and ``songgen generate``
give the package's message, checked from the files before any weights load (a cut ``model.safetensors``
included); transformers' own ``pipeline()`` keeps transformers' handling (nothing of it is replaced), and Hub
ids still reach transformers untouched."""

from __future__ import annotations

import json
import re
import shutil

import pytest
from transformers import pipeline

import songgen_hf  # noqa: F401  (registers the task)
from songgen_hf.commands.cli import main
from songgen_hf.pipelines import load_text_to_song_pipeline
from songgen_hf.pipelines.loading import check_safetensors_complete
from songgen_hf.testing import generate_argv, save_tiny_checkpoint

INCOMPLETE = r"model\.safetensors is incomplete or corrupt: .*Download or export the model again"


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    return save_tiny_checkpoint(tmp_path_factory.mktemp("good") / "tiny", track_pattern="mixed_pro")


def _copy(good, folder):
    shutil.copytree(good, folder)
    return folder / "model.safetensors"


def _truncated(good, folder):
    weights = _copy(good, folder)
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])


def _header_only(good, folder):
    weights = _copy(good, folder)
    data = weights.read_bytes()
    weights.write_bytes(data[: 8 + int.from_bytes(data[:8], "little")])


def _garbage(good, folder):
    _copy(good, folder).write_bytes(b"\xff" * 4096)


def _empty_file(good, folder):
    _copy(good, folder).write_bytes(b"")


def _bad_json_header(good, folder):
    weights = _copy(good, folder)
    weights.write_bytes((20).to_bytes(8, "little") + b"{not json at all....")


def _empty_folder(good, folder):
    folder.mkdir()


def _file_not_folder(good, folder):
    folder.write_text("hello")


def _bert(good, folder):
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "bert"}))


CASES = {
    "missing folder": (None, r"model is not a model folder: it does not exist"),
    "empty folder": (_empty_folder, r"model is not a model folder \(no config\.json there\)"),
    "a file": (_file_not_folder, "is not a model folder but a file"),
    "another model type": (_bert, "is not a SongGen checkpoint: its config.json has model_type 'bert'"),
    "weights cut in half": (_truncated, INCOMPLETE),
    "weights with only the header": (
        _header_only,
        r"incomplete or corrupt: incomplete metadata, file not fully covered",
    ),
    "weights of garbage": (_garbage, r"incomplete or corrupt: header too large"),
    "weights empty": (_empty_file, r"incomplete or corrupt: header too small"),
    "weights header not JSON": (_bad_json_header, r"incomplete or corrupt: invalid JSON in header"),
}


@pytest.mark.parametrize("surface", ["loader", "cli"])
@pytest.mark.parametrize("case", list(CASES))
def test_bad_folders_get_the_packages_message(case, surface, good, tmp_path, capsys):
    make, message = CASES[case]
    folder = tmp_path / "model"
    if make is not None:
        make(good, folder)
    if surface == "cli":
        assert main(generate_argv(folder, tmp_path / "song.wav", description="pop", lyrics="")) == 2
        err = capsys.readouterr().err
        assert err.startswith("songgen: error: --model ") or "incomplete or corrupt" in err, err
        assert re.search(message, err), err
        return
    with pytest.raises(ValueError, match=message):
        load_text_to_song_pipeline(str(folder))


def test_a_complete_file_passes_the_header_check(good):
    check_safetensors_complete(good / "model.safetensors")


@pytest.mark.parametrize("hub_id", ["someone/some-songgen-model", "songgen-model"])
def test_hub_ids_still_reach_transformers(hub_id):
    # offline: transformers' own "cannot reach / not in cache" error, not a folder message of ours
    with pytest.raises(OSError) as caught:
        pipeline("text-to-song", model=hub_id)
    assert "is not a model folder" not in str(caught.value)


def test_other_tasks_keep_transformers_messages(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError) as caught:
        pipeline("text-classification", model=str(tmp_path / "empty"))
    assert "is not a model folder" not in str(caught.value)
