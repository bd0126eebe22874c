"""The embedded default model `songgen-tiny`: shipped, small, loads offline in float32 and sings.

Its controllability is measured by `songgen evaluate` (docs/evaluation.md), not here; these
tests check that what a fresh install gets is whole and behaves like a trained model.
"""

import json

import numpy as np
import pytest
import torch
from transformers import pipeline

from songgen_hf import defaults

SIZE_BUDGET_BYTES = 60 * 1024 * 1024
PROMPT = {"description": "An energetic rock song in E minor at 140 bpm with electric guitar, bass and drums; male vocals.",
          "lyrics": "we run across the night\nand sing until the light"}


@pytest.fixture(scope="module")
def song_pipe():
    return pipeline("text-to-song")  # no model: the embedded default, offline


def test_the_default_model_is_shipped_within_the_size_budget():
    folder = defaults.default_model_path()
    size = sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())
    assert size <= SIZE_BUDGET_BYTES, f"{folder} holds {size / 2**20:.1f} MiB"
    header_length = int.from_bytes((folder / "model.safetensors").read_bytes()[:8], "little")
    header = json.loads((folder / "model.safetensors").read_bytes()[8 : 8 + header_length])
    assert {entry["dtype"] for key, entry in header.items() if key != "__metadata__"} <= {"F16", "I64", "BOOL"}
    assert (folder / "README.md").is_file() and (folder / "processor_config.json").is_file()


def test_pipeline_without_a_model_sings_with_the_default(song_pipe):
    assert song_pipe.model.dtype == torch.float32  # stored in float16, computed in float32 on CPU
    first = song_pipe(PROMPT, duration_s=3.0, seed=0)
    again = song_pipe(PROMPT, duration_s=3.0, seed=0)
    audio = first["audio"].reshape(-1)
    assert first["sampling_rate"] == 16000 and audio.shape[0] > 2.5 * 16000
    assert np.array_equal(audio, again["audio"].reshape(-1))  # a seed reproduces the song
    assert np.isfinite(audio).all() and np.abs(audio).max() <= 1.0
    rms = float(np.sqrt(np.mean(audio**2)))
    assert rms > 0.01, "the default model produced (near) silence"
    # Not noise: a song's spectrum has harmonic peaks, so its spectral flatness is far below white noise's.
    assert spectral_flatness(audio) < 0.5 * spectral_flatness(np.random.default_rng(0).normal(0, rms, audio.shape[0]))


def spectral_flatness(audio: np.ndarray, n_fft: int = 1024) -> float:
    """Median over frames of geometric / arithmetic mean of the power spectrum (1 = white noise)."""
    frames = audio[: len(audio) // n_fft * n_fft].reshape(-1, n_fft) * np.hanning(n_fft)
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2 + 1e-12
    return float(np.median(np.exp(np.log(power).mean(axis=1)) / power.mean(axis=1)))
