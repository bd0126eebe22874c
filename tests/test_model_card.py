"""Model cards: rendered for tiny checkpoints, metadata checked, and the card's own snippets executed."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml

import songgen_hf  # noqa: F401  (registers the pipeline the snippets use)
from songgen_hf.commands.cli import main
from songgen_hf.model_card import render_model_card, save_model_card, validate_model_card
from songgen_hf.modeling.songgen.processing_songgen import SongGenProcessor
from songgen_hf.testing import save_tiny_checkpoint

ROOT = Path(__file__).resolve().parents[1]
REPO_ID = "someone/songgen-tiny"
SECONDS = 0.3
PATTERNS = ("mixed_pro", "interleaving_A_V")


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cards")
    return {pattern: save_tiny_checkpoint(folder / pattern, track_pattern=pattern) for pattern in PATTERNS}


def _blocks(card_text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", card_text, flags=re.DOTALL)


def _front_matter(card_text: str) -> dict:
    match = re.match(r"---\n(.*?)\n---\n", card_text, flags=re.DOTALL)
    assert match, "the card starts with a YAML block"
    return yaml.safe_load(match.group(1))


@pytest.mark.parametrize("pattern", PATTERNS)
def test_rendered_metadata(checkpoints, pattern):
    from songgen_hf import SongGenForConditionalGeneration

    folder = checkpoints[pattern]
    model = SongGenForConditionalGeneration.from_pretrained(folder)
    processor = SongGenProcessor.from_pretrained(folder)
    card_fields = dict(
        repo_id=REPO_ID,
        training_data="Synthetic songs.",
        evaluation={"FAD": 1.5},
        base_model="org/songgen-base",
        tags=["tiny"],
    )
    card = render_model_card(model, processor, **card_fields)
    metadata = validate_model_card(card)
    assert metadata == _front_matter(str(card)) == card.data.to_dict()
    assert metadata["library_name"] == "songgen-hf" and metadata["pipeline_tag"] == "text-to-audio"
    assert metadata["license"] == "apache-2.0" and metadata["base_model"] == "org/songgen-base"
    assert metadata["language"] == ["en"] and metadata["model_name"] == "songgen-tiny"
    expected_tags = {"text-to-song", "music", "songgen", pattern, "tiny"} | (
        {"stems"} if pattern != "mixed_pro" else set()
    )
    assert set(metadata["tags"]) == expected_tags
    text = card.text
    assert f"Token pattern: `{pattern}`" in text and "| FAD | 1.5 |" in text and "Synthetic songs." in text
    assert ("--stems" in text) == (pattern != "mixed_pro") and ('out["vocals"]' in text) == (pattern != "mixed_pro")
    assert "1 s reference voice at 24000 Hz" in text and "at most 128 lyric tokens" in text
    # the same card from the config alone (parameters counted on the meta device)
    assert render_model_card(model.config, processor, **card_fields).content == card.content


def test_dataset_ids_and_bad_metadata(checkpoints):
    card = render_model_card(checkpoints["mixed_pro"], training_data=["someone/songs"])
    metadata = validate_model_card(card)
    assert metadata["datasets"] == ["someone/songs"] and "huggingface.co/datasets/someone/songs" in card.text
    assert "path/to/songgen" in card.text and "hf download" not in card.text  # no repo id: placeholder path
    with pytest.raises(ValueError, match="license 'other' needs"):
        validate_model_card(render_model_card(checkpoints["mixed_pro"], license="other"))
    broken = str(card).replace("pipeline_tag: text-to-audio", "pipeline_tag: text-to-song")
    with pytest.raises(ValueError, match="pipeline_tag must be 'text-to-audio'"):
        validate_model_card(broken)
    with pytest.raises(ValueError, match="unrendered template"):
        validate_model_card(str(card) + "\n{{ forgotten }}\n")
    with pytest.raises(ValueError, match="YAML metadata block"):
        validate_model_card("# no metadata")
    with pytest.raises(ValueError, match="needs a SongGen model"):
        render_model_card(object())


@pytest.mark.parametrize("pattern", PATTERNS)
def test_card_snippets_run_against_a_tiny_checkpoint(checkpoints, pattern, tmp_path, monkeypatch):
    folder = Path(checkpoints[pattern])
    readme = save_model_card(folder, repo_id=REPO_ID)
    assert readme == folder / "README.md"
    assert not [p.name for p in folder.iterdir() if p.name.startswith(".")]  # the atomic write left nothing behind
    text = readme.read_text(encoding="utf-8")
    python_blocks = _blocks(text, "python")
    assert len(python_blocks) == 2
    monkeypatch.chdir(tmp_path)  # the snippets write song.wav etc. into the working directory

    for block in python_blocks:
        assert REPO_ID in block and "duration_s=" in block
        code = block.replace(json.dumps(REPO_ID), json.dumps(str(folder)))
        code = re.sub(r"duration_s=[0-9.]+", f"duration_s={SECONDS}", code)
        namespace: dict = {"__name__": "__card__"}
        exec(compile(code, f"<model card {pattern}>", "exec"), namespace)  # noqa: S102 - our own card

        if "pipeline(" in block:
            names = ["pipeline_song.wav"] + (["vocals.wav", "accompaniment.wav"] if pattern != "mixed_pro" else [])
            written = [sf.read(tmp_path / name) for name in names]
            assert all(rate == 16000 for _, rate in written)
            assert len({audio.shape for audio, _ in written}) == 1
            np.testing.assert_allclose(written[0][0], np.clip(namespace["out"]["audio"][0], -1, 1), atol=1e-4)
        else:
            audio = namespace["audio"]
            assert isinstance(audio, np.ndarray) and audio.dtype == np.float32 and audio.ndim == 1
            assert audio.shape[0] <= int(SECONDS * 16000) + 320

    (shell,) = _blocks(text, "bash")
    lines = shell.replace("\\\n", " ").strip().splitlines()
    assert lines[0] == f"hf download {REPO_ID} --local-dir songgen-model"  # a Hub id: download first
    argv = shlex.split(lines[1])
    assert argv[:2] == ["songgen", "generate"]
    argv[argv.index("--model") + 1] = str(folder)
    argv[argv.index("--duration") + 1] = str(SECONDS)
    assert main(argv[1:] + ["--no-progress"]) == 0
    assert (tmp_path / "song.wav").is_file()
    assert (tmp_path / "song_vocals.wav").is_file() == (pattern != "mixed_pro")


def test_save_model_card_replaces_and_checks(checkpoints, tmp_path):
    folder = Path(checkpoints["mixed_pro"])
    (folder / "README.md").write_text("old card")
    save_model_card(folder, repo_id=str(folder), model_summary="A tiny test model.")
    text = (folder / "README.md").read_text()
    assert "A tiny test model." in text and "old card" not in text
    assert "hf download" not in text and f"--model {folder}" in text  # a local folder needs no download
    with pytest.raises(ValueError, match="is not a folder"):
        save_model_card(tmp_path / "missing")


def test_template_is_package_data():
    """The template ships in the package (the built wheel's copy is checked in tests/test_packaging.py)."""
    from importlib import resources

    assert resources.files("songgen_hf").joinpath("templates", "model_card.md").is_file()
    assert "songgen_hf/templates/model_card.md" in (ROOT / "model_card.md").read_text()  # the root file points there
