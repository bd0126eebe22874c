"""One way to wire a song, through every front door: ``prepare_pipeline`` (every check that needs no weights, the
model's processor read from its files) -> the songs prepared by that processor -> ``transformers.pipeline(**arguments)``
(the weights, around the same processor) -> the pipeline's call, or ``stream_song(pipe.model, pipe.processor, ...)``.

``songgen generate``, ``songgen generate-many`` and the Space each go this way: the folder checked once, its weight
files once, the processor read once, and the pipeline built around the processor that prepared the songs.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import sys
from pathlib import Path

import pytest

import songgen_hf  # noqa: F401  (registers the text-to-song task)
from songgen_hf.commands.cli import main
from songgen_hf.modeling.songgen.processing_songgen import SongGenProcessor
from songgen_hf.pipelines import loading, text_to_song
from songgen_hf.testing import save_tiny_checkpoint

SONG = {"description": "an upbeat pop song with a female voice", "lyrics": "hold me close tonight"}
APP = Path(__file__).resolve().parents[2] / "space" / "app.py"


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return save_tiny_checkpoint(tmp_path_factory.mktemp("one_wiring") / "model", "mixed_pro", use_voice_encoder=False)


@pytest.fixture
def wiring(monkeypatch):
    """What each door calls: prepare_pipeline (and who called it), the loader's folder and file checks, the processor
    reads, and the pipelines built (with the processor each was built around)."""
    seen = {"prepared": [], "folder": 0, "weights": 0, "processors": [], "pipelines": []}
    prepare = text_to_song.prepare_pipeline

    def prepared(*args, **kwargs):
        arguments = prepare(*args, **kwargs)
        seen["prepared"].append((inspect.stack()[1].function, arguments.get("processor")))
        return arguments

    def counted(name, original):
        def run(*args, **kwargs):
            seen[name] += 1
            return original(*args, **kwargs)

        return run

    monkeypatch.setattr(text_to_song, "prepare_pipeline", prepared)
    monkeypatch.setattr(sys.modules["songgen_hf.pipelines"], "prepare_pipeline", prepared, raising=False)
    monkeypatch.setattr(loading, "check_songgen_folder", counted("folder", loading.check_songgen_folder))
    monkeypatch.setattr(loading, "check_weight_files", counted("weights", loading.check_weight_files))
    read = SongGenProcessor.from_pretrained.__func__

    def reading(cls, *args, **kwargs):
        processor = read(cls, *args, **kwargs)
        seen["processors"].append(processor)
        return processor

    monkeypatch.setattr(SongGenProcessor, "from_pretrained", classmethod(reading))
    init = text_to_song.TextToSongPipeline.__init__

    def building(self, *args, **kwargs):
        init(self, *args, **kwargs)
        seen["pipelines"].append(self.processor)

    monkeypatch.setattr(text_to_song.TextToSongPipeline, "__init__", building)
    return seen


def _one_wiring(seen: dict, door: str) -> None:
    assert [caller for caller, _ in seen["prepared"]] == [door]  # prepare_pipeline, once
    assert seen["folder"] == 1 and seen["weights"] == 1  # the folder and its weight files checked once
    assert len(seen["processors"]) == 1  # the processor read once, before any weights
    processor = seen["prepared"][0][1]
    assert seen["processors"] == [processor] and seen["pipelines"] == [processor]  # the pipeline around it


def test_songgen_generate(folder, tmp_path, wiring):
    argv = ["generate", "--model", str(folder), "--description", SONG["description"], "--lyrics", SONG["lyrics"]]
    assert main([*argv, "--duration", "0.3", "--no-progress", "--output", str(tmp_path / "song.wav")]) == 0
    _one_wiring(wiring, "_generate")


def test_songgen_generate_many(folder, tmp_path, wiring):
    prompts = tmp_path / "songs.jsonl"
    prompts.write_text("\n".join(json.dumps({**SONG, "seed": seed}) for seed in (0, 1)) + "\n", encoding="utf-8")
    argv = ["generate-many", str(prompts), "--output", str(tmp_path / "songs"), "--model", str(folder)]
    assert main([*argv, "--duration", "0.3", "--temperature", "0.9", "--quiet"]) == 0
    _one_wiring(wiring, "_generate_many_on")


def test_the_space(folder, wiring):
    pytest.importorskip("gradio")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
        patch.setenv("SONGGEN_MODEL", str(folder))
        patch.setenv("SONGGEN_SPACE_STREAMING", "1")
        spec = importlib.util.spec_from_file_location("songgen_space_one_wiring", APP)
        app = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = app
        spec.loader.exec_module(app)
    try:
        chunks = list(app.generate_song(SONG["description"], SONG["lyrics"], 1.0, 0.0, 50, 0, 1.0))
    finally:
        sys.modules.pop(spec.name, None)
    # a song streamed (stream_song over the pipeline's model and processor)
    assert any(isinstance(chunk[0], tuple) and len(chunk[0][1]) for chunk in chunks)
    _one_wiring(wiring, "_prepared")
