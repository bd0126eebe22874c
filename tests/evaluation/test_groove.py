"""Beat-relative groove and register features: a metre, a swing and a register read from audio alone."""

import numpy as np
import pytest

from songgen_hf.evaluation.groove import (
    BEAT_FEATURE_NAMES,
    REGISTER_FEATURE_NAMES,
    beat_features,
    register_features,
)

RATE = 16000
TRIPLET = BEAT_FEATURE_NAMES.index("triplet_minus_duple")
PHASE_TRIPLET = BEAT_FEATURE_NAMES.index("phase_triplet_contrast")
LONG_SHORT = BEAT_FEATURE_NAMES.index("phase_long_short")


def clicks(bpm: float, pattern: list[tuple[float, float]], seconds: float = 6.0, seed: int = 0) -> np.ndarray:
    """A click track: per beat, a click at each ``(phase within the beat, loudness)`` of ``pattern``."""
    rng = np.random.default_rng(seed)
    audio = 0.001 * rng.standard_normal(int(seconds * RATE))
    burst = rng.standard_normal(int(0.012 * RATE)) * np.exp(-np.arange(int(0.012 * RATE)) / (0.003 * RATE))
    beat = 60.0 / bpm
    for start in np.arange(0.0, seconds - 0.05, beat):
        for phase, loudness in pattern:
            at = int((start + phase * beat) * RATE)
            audio[at : at + len(burst)] += loudness * burst[: len(audio) - at]
    return audio


# the beat accented as a kit accents it: without accents any multiple of the subdivision is as good a beat
TWELVE_EIGHT = [(0.0, 1.0), (1 / 3, 0.25), (2 / 3, 0.25)]  # three triplet eighths a beat
FOUR_FOUR = [(0.0, 1.0), (0.5, 0.25)]  # two straight eighths
SWUNG = [(0.0, 1.0), (2 / 3, 0.25)]  # a long-short pair


@pytest.mark.parametrize("bpm", [92, 104, 116])
def test_a_twelve_eight_click_track_is_more_triplet_than_a_four_four_one_at_any_tempo(bpm):
    triplets = beat_features(clicks(bpm, TWELVE_EIGHT), RATE)
    straight = beat_features(clicks(bpm, FOUR_FOUR), RATE)
    assert triplets.shape == (len(BEAT_FEATURE_NAMES),)
    assert triplets[TRIPLET] > 0 > straight[TRIPLET]
    assert triplets[PHASE_TRIPLET] > 0 > straight[PHASE_TRIPLET]
    # the tempo moves the subdivision's lag; the beat-relative features do not move with it
    slower = beat_features(clicks(bpm * 0.85, FOUR_FOUR, seed=1), RATE)
    assert triplets[TRIPLET] > slower[TRIPLET]


def test_a_swung_pair_is_long_short_where_straight_eighths_and_triplets_are_not():
    swung = beat_features(clicks(100, SWUNG), RATE)[LONG_SHORT]
    assert swung > beat_features(clicks(100, FOUR_FOUR), RATE)[LONG_SHORT]
    assert swung > beat_features(clicks(100, TWELVE_EIGHT), RATE)[LONG_SHORT]


def test_features_ignore_loudness_and_survive_silence_and_short_clips():
    track = clicks(100, TWELVE_EIGHT)
    assert np.allclose(beat_features(track, RATE), beat_features(4 * track, RATE), atol=1e-6)
    for audio in (np.zeros(3 * RATE), np.zeros(100), np.zeros(0)):
        assert np.array_equal(beat_features(audio, RATE), np.zeros(len(BEAT_FEATURE_NAMES)))
        assert np.array_equal(register_features(audio, RATE), np.zeros(len(REGISTER_FEATURE_NAMES)))


def _voices(frequencies: list[float], seconds: float = 3.0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return sum(0.1 * np.sin(2 * np.pi * f * t) + 0.05 * np.sin(4 * np.pi * f * t) for f in frequencies)


def test_low_voices_sit_lower_in_the_register_features():
    low = register_features(_voices([65.0, 82.0, 98.0]), RATE)
    high = register_features(_voices([196.0, 247.0, 294.0]), RATE)
    median = REGISTER_FEATURE_NAMES.index("median_frequency_below_1200")
    lowest_band = REGISTER_FEATURE_NAMES.index("band_40_80")
    assert low[median] < high[median]
    assert low[lowest_band] > high[lowest_band]
    assert np.isfinite(low).all() and np.isfinite(high).all()
