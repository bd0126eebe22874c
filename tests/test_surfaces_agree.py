"""Every surface tells the same truth: the cards the package writes name no folder of the disk they were written
on, and the README, ``songgen info``, the cards and the Space state one set of figures for the embedded model
(parameters, weights in MB, the lyrics limit; ``songgen_hf.model_figures``)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from songgen_hf.pipelines.loading import DEFAULT_MODEL_NAME, default_model_path

ROOT = Path(__file__).resolve().parents[1]
# an absolute POSIX path of two parts or more: "/home/me/x", "/tmp/run/final" (not "a/b", "tokens/s", URLs)
ABSOLUTE_PATH = re.compile(r"(?<![\w:/.~`-])/(?:[\w.-]+/)+[\w.-]*")


def _absolute_paths(text: str, *folders) -> list[str]:
    found = ABSOLUTE_PATH.findall(text)
    found += [str(folder) for folder in folders if str(folder) in text]
    return found


@pytest.fixture(scope="module")
def default_folder():
    folder = default_model_path()
    if not (folder / "config.json").is_file():
        pytest.skip("this install has no embedded default model")
    return folder


def test_no_absolute_path_in_any_written_card(default_folder, tmp_path):
    from songgen_hf.commands.cli import main
    from songgen_hf.modeling.songgen import SongGenForConditionalGeneration
    from songgen_hf.testing import save_tiny_checkpoint
    from songgen_hf.training.lora import apply_lora, lora_config_for_songgen, save_adapter

    places = (tmp_path, ROOT, default_folder)
    # the embedded model's card, as shipped
    embedded = (default_folder / "README.md").read_text(encoding="utf-8")
    assert not _absolute_paths(embedded, *places)
    # the embedded model's and the Space's cards install from the repository, as every exported card does
    space = (ROOT / "space" / "README.md").read_text(encoding="utf-8")
    assert not _absolute_paths(space, *places)
    for text in (embedded, space):
        assert "pip install songgen-hf" not in text and "pip install -e" in text
    # an adapter of the embedded model: its card and its adapter_config.json name the base by name
    model = SongGenForConditionalGeneration.from_pretrained(default_folder)
    adapter = save_adapter(apply_lora(model, lora_config_for_songgen(r=2)), tmp_path / "adapter")
    card = (adapter / "README.md").read_text(encoding="utf-8")
    assert not _absolute_paths(card, *places) and f"base_model: {DEFAULT_MODEL_NAME}" in card
    assert json.loads((adapter / "adapter_config.json").read_text())["base_model_name_or_path"] == DEFAULT_MODEL_NAME
    # an exported model, from a folder and from that adapter merged into its base
    source = save_tiny_checkpoint(tmp_path / "tiny", track_pattern="mixed", use_voice_encoder=False)
    for name, what in (("plain", source), ("merged", adapter)):
        assert main(["export", str(what), "--output", str(tmp_path / name)]) == 0
        exported = (tmp_path / name / "README.md").read_text(encoding="utf-8")
        assert not _absolute_paths(exported, *places), name
        assert "pip install songgen-hf" not in exported and "from its repository" in exported
    assert f"base_model: {DEFAULT_MODEL_NAME}" in (tmp_path / "merged" / "README.md").read_text(encoding="utf-8")


INTERNAL_NAMES = re.compile(r"\bv\d+\b|codec_v\d|corpus v\d|\w+\.yaml|control_dropout_prob|input_token_noise")


def test_the_embedded_card_speaks_plainly(default_folder):
    """What a user reads of the embedded model holds no internal version or config names."""
    text = (default_folder / "README.md").read_text(encoding="utf-8")
    assert not INTERNAL_NAMES.findall(text)


def _readme_figure(label: str) -> str:
    rows = [line for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines() if line.startswith("| ")]
    (row,) = [line for line in rows if label in line.split("|")[1]]
    return row.split("|")[2].strip()


def test_the_figures_are_equal_across_surfaces(default_folder):
    pytest.importorskip("gradio")
    from songgen_hf.commands.info import describe_folder
    from songgen_hf.model_card import render_model_card
    from songgen_hf.model_figures import format_count, format_mb, weights_bytes
    from tests.space.test_app import _import_app

    parameters = _readme_figure("songgen-tiny: parameters")
    weights = _readme_figure("songgen-tiny: weights on disk")
    assert weights == format_mb(weights_bytes(default_folder)) and re.fullmatch(r"[0-9.]+ MB", weights)

    info = describe_folder(DEFAULT_MODEL_NAME)
    assert format_count(info["parameters"]["total"]["parameters"]) == parameters
    assert f"{info['weights']['size_mb_with_sub_models']:.1f} MB" == weights
    lyrics = info["processor"]["max_lyrics_tokens"]
    assert isinstance(lyrics, int) and lyrics > 0

    card = (default_folder / "README.md").read_text(encoding="utf-8")
    assert f"Parameters: {parameters} " in card and f"at most {lyrics} lyric tokens" in card
    rendered = str(render_model_card(default_folder))  # a card export writes for the same model
    assert f"Parameters: {parameters} " in rendered and f"at most {lyrics} lyric tokens" in rendered

    app = _import_app("songgen_space_figures", "", "0")
    summary = app.model_summary()
    assert f"{parameters} parameters" in summary and f"({weights} of weights" in summary
    assert app.INFO.lyrics_tokens == lyrics and f"{lyrics} lyric tokens" in app.lyrics.info
    details = app._model_details()
    assert DEFAULT_MODEL_NAME in details and not _absolute_paths(details, ROOT, default_folder)
    assert not INTERNAL_NAMES.findall(details)
