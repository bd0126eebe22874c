"""The spectrogram figure: one panel per clip, extra panels (generated songs) below the round trips."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from songgen_hf.evaluation.plots import plot_codec_spectrograms  # noqa: E402


def _height(path) -> int:
    import matplotlib.image

    return matplotlib.image.imread(str(path)).shape[0]


def test_extra_panels_are_drawn_below_the_round_trips(tmp_path):
    rate = 16000
    t = np.arange(rate) / rate
    clean = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    trip = (0.4 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    song = np.random.default_rng(0).normal(0, 0.1, rate).astype(np.float32)
    two = plot_codec_spectrograms(clean, {"codec": trip}, rate, tmp_path / "two.png", "clip", max_seconds=1.0)
    three = plot_codec_spectrograms(
        clean, {"codec": trip}, rate, tmp_path / "three.png", "clip", max_seconds=1.0, others={"generated": song}
    )
    assert two.is_file() and three.is_file()
    assert _height(three) > _height(two) * 1.3  # one panel more: the figure grows by a panel's height
