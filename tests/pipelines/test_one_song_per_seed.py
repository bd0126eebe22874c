"""One song for one seed: the CLI, the pipeline, ``stream_song`` and the Space make the same song for the same
model folder, inputs, seed and thread count, at the one precision every front door chooses
(``quantization.precision_kwargs``: here the folder's int8 or bfloat16 token heads on a CPU)."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

from songgen_hf.modeling.songgen import SongGenForConditionalGeneration
from songgen_hf.modeling.songgen.processing_songgen import SongGenProcessor
from songgen_hf.modeling.songgen.quantization import (
    Bf16Linear,
    Int8Linear,
    check_quantize,
    default_quantize,
    kernel_available,
    precision_kwargs,
)
from songgen_hf.testing import save_tiny_checkpoint

pytestmark = pytest.mark.skipif(not kernel_available(), reason="this CPU has no int8 kernel")

DESCRIPTION = "a calm piano song in a minor at 90 bpm with a soft female voice"
LYRICS = "la la la\nwe sing tonight"
SEED = 7
# what the Space's sliders send (guidance 3, temperature 1, top-k 50) as each front door spells it
SAMPLING = {"guidance_scale": 3.0, "do_sample": True, "temperature": 1.0, "top_k": 50}


HEADS = {"int8-heads": Int8Linear, "bf16-heads": Bf16Linear}


@pytest.fixture(scope="module", params=list(HEADS))
def folder(request, tmp_path_factory):
    """A tiny model folder that recommends reduced-precision token heads on CPUs, as the embedded songgen-tiny does
    (bfloat16 heads where the CPU computes bfloat16 natively, int8 heads elsewhere)."""
    if not _runs_here(request.param):
        pytest.skip("this CPU has no native bfloat16")
    path = save_tiny_checkpoint(
        tmp_path_factory.mktemp("seed") / "tiny", track_pattern="mixed", use_voice_encoder=False
    )
    model = SongGenForConditionalGeneration.from_pretrained(path)
    model.generation_config.cpu_quantize = request.param
    model.generation_config.save_pretrained(path)
    return str(path)


def _runs_here(value: str) -> bool:
    try:
        check_quantize(value, "cpu")
    except ValueError:
        return False
    return True


def _heads(folder) -> type:
    return HEADS[default_quantize(folder, "cpu")]


def _to_int16(audio) -> np.ndarray:
    return np.rint(np.clip(np.asarray(audio, dtype=np.float64).reshape(-1), -1, 1) * 32767).astype(np.int32)


def _cli(folder, tmp_path) -> np.ndarray:
    from songgen_hf.commands.cli import main

    argv = ["generate", "--model", folder, "--description", DESCRIPTION, "--lyrics", LYRICS, "--duration", "1"]
    argv += ["--seed", str(SEED), "--guidance-scale", "3", "--temperature", "1", "--top-k", "50"]
    argv += ["--threads", str(torch.get_num_threads()), "--no-progress", "--output", str(tmp_path / "cli.wav")]
    assert main(argv) == 0
    song, _ = sf.read(tmp_path / "cli.wav", dtype="int16")
    return song.astype(np.int32).reshape(-1)


def _pipeline(folder):
    from transformers import pipeline

    import songgen_hf  # noqa: F401  (registers the task)

    pipe = pipeline("text-to-song", model=folder)
    assert isinstance(pipe.model.decoder.lm_heads[0], _heads(folder))  # the folder's choice, as the CLI's
    out = pipe({"description": DESCRIPTION, "lyrics": LYRICS}, duration_s=1.0, seed=SEED, **SAMPLING)
    return _to_int16(out["audio"])


def _stream(folder, quantize=None):
    # the loading docs/inference.md gives stream_song: the front doors' precision for this folder and device
    model = SongGenForConditionalGeneration.from_pretrained(folder, **precision_kwargs(folder, "cpu", quantize))
    processor = SongGenProcessor.from_pretrained(folder)
    from songgen_hf.pipelines import stream_song

    chunks = stream_song(model.eval(), processor, DESCRIPTION, LYRICS, duration_s=1.0, seed=SEED, **SAMPLING)
    return _to_int16(np.concatenate([chunk for _, chunk in chunks]))


def _space(folder):
    pytest.importorskip("gradio")
    from tests.space.test_app import _import_app

    app = _import_app("songgen_space_one_seed", folder, "0")
    *_, last = app.generate_song(DESCRIPTION, LYRICS, 3.0, 1.0, 50, SEED, 1.0)
    assert isinstance(app._loaded["model"].decoder.lm_heads[0], _heads(folder))
    return last[1][1].astype(np.int32).reshape(-1)


def test_the_four_front_doors_make_one_song_for_one_seed(folder, tmp_path):
    songs = {
        "cli": _cli(folder, tmp_path),
        "pipeline": _pipeline(folder),
        "stream_song": _stream(folder),
        "space": _space(folder),
    }
    reference = songs["cli"]
    assert reference.size == 16000 and np.abs(reference).max() > 0
    for door, song in songs.items():
        assert song.shape == reference.shape, door
        # the same samples, up to how each front door rounds them to 16 bits
        assert np.abs(song - reference).max() <= 3, door
    # the precision is what makes them equal: the same seed at float32 is another song
    float32 = _stream(folder, quantize="fp32")
    assert np.abs(float32 - reference).max() > 100
