"""Evaluation metrics on signals whose answer is known by construction."""

import numpy as np
import pytest

from songgen_hf.data.synth.music_theory import Key
from songgen_hf.evaluation.metrics import (
    estimate_key_or_none,
    estimate_tempo_bpm,
    key_scores,
    mirex_key_score,
    multi_resolution_log_mel_distance,
    parse_key,
    si_sdr,
    tempo_scores,
    token_statistics,
    vocal_band_onsets,
)
from songgen_hf.evaluation.statistics import mean_with_ci, pearson, pearson_with_ci

RATE = 16000


def _tone(midi: float, seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    frequency = 440.0 * 2 ** ((midi - 69) / 12)
    return sum(np.sin(2 * np.pi * frequency * h * t) / h**2 for h in range(1, 5)) * np.exp(-t)


def _click_track(bpm: float, seconds: float = 8.0) -> np.ndarray:
    rng = np.random.default_rng(0)
    audio = np.zeros(int(seconds * RATE))
    for beat in np.arange(0, seconds, 60 / bpm):
        start = int(beat * RATE)
        length = min(400, len(audio) - start)
        audio[start : start + length] += rng.standard_normal(length) * np.exp(-np.arange(length) / 80)
    return audio


def _cadence(tonic: int, mode: str) -> np.ndarray:
    """I-IV-V-I with the root doubled in the bass, then the scale: unambiguous by construction."""
    third = 4 if mode == "major" else 3
    chords = [(0, third), (5, third), (7, 4), (0, third)]
    audio = [_tone(tonic + root - 12, 1.0) + sum(_tone(tonic + root + step, 1.0) for step in (0, third_, 7))
             for root, third_ in chords]
    steps = (0, 2, 4, 5, 7, 9, 11, 12) if mode == "major" else (0, 2, 3, 5, 7, 8, 10, 12)
    return np.concatenate(audio + [_tone(tonic + step, 0.25) for step in steps])


@pytest.mark.parametrize("bpm", [90.0, 120.0, 140.0])
def test_click_track_tempo(bpm):
    estimated = estimate_tempo_bpm(_click_track(bpm), RATE)
    assert abs(estimated - bpm) / bpm < 0.03
    assert tempo_scores(estimated, bpm)["tempo_acc1"] == 1.0


def test_tempo_accuracies_forgive_octaves_only_in_acc2():
    assert tempo_scores(100.0, 100.0) == {"tempo_abs_error_bpm": 0.0, "tempo_acc1": 1.0, "tempo_acc2": 1.0}
    for estimated in (200.0, 50.0, 300.0, 100.0 / 3, 103.9):
        scores = tempo_scores(estimated, 100.0)
        assert scores["tempo_acc2"] == 1.0 and scores["tempo_acc1"] == float(estimated == 103.9)
    assert tempo_scores(150.0, 100.0) == {"tempo_abs_error_bpm": 50.0, "tempo_acc1": 0.0, "tempo_acc2": 0.0}
    assert tempo_scores(104.5, 100.0)["tempo_acc2"] == 0.0


@pytest.mark.parametrize("tonic, mode", [(60, "major"), (57, "minor"), (62, "major"), (64, "minor")])
def test_cadence_key(tonic, mode):
    assert estimate_key_or_none(_cadence(tonic, mode), RATE) == Key(tonic % 12, mode)


def test_silence_has_no_key_and_scores_zero():
    assert estimate_key_or_none(np.zeros(RATE), RATE) is None
    assert key_scores(None, Key(0, "major")) == {"key_exact": 0.0, "key_mirex": 0.0}


def test_mirex_weights():
    c_major = Key(0, "major")
    assert mirex_key_score(c_major, c_major) == 1.0
    assert mirex_key_score(Key(7, "major"), c_major) == 0.5  # G major: a fifth above
    assert mirex_key_score(Key(9, "minor"), c_major) == 0.3  # A minor: relative
    assert mirex_key_score(Key(0, "minor"), c_major) == 0.2  # C minor: parallel
    assert mirex_key_score(Key(5, "major"), c_major) == 0.0  # F major: a fifth below (mir_eval convention)
    assert mirex_key_score(Key(2, "major"), c_major) == 0.0
    a_minor = Key(9, "minor")
    assert mirex_key_score(Key(4, "minor"), a_minor) == 0.5
    assert mirex_key_score(c_major, a_minor) == 0.3
    assert mirex_key_score(Key(9, "major"), a_minor) == 0.2


def test_parse_key_spellings():
    assert parse_key("C#", "major") == parse_key("Db", "major") == Key(1, "major")
    assert parse_key("Eb", "Minor") == parse_key("D♯", "minor") == Key(3, "minor")
    assert parse_key("B#", "major") == Key(0, "major")
    for tonic, mode in (("H", "major"), ("C", "dorian"), ("C+", "major")):
        with pytest.raises(ValueError):
            parse_key(tonic, mode)


def test_vocal_band_onsets_count_tone_bursts():
    bursts = [np.concatenate([_tone(midi, 0.15) * np.hanning(int(0.15 * RATE)), np.zeros(int(0.25 * RATE))])
              for midi in (60, 64, 67, 62, 65, 69)]
    onsets = vocal_band_onsets(np.concatenate([np.zeros(RATE // 4)] + bursts), RATE)
    assert len(onsets) == 6
    assert np.allclose(np.diff(onsets), 0.4, atol=0.02)
    assert len(vocal_band_onsets(np.zeros(RATE), RATE)) == 0
    # a steady low tone (bass) lies below the band and has no onsets after the first
    assert len(vocal_band_onsets(np.sin(2 * np.pi * 80 * np.arange(2 * RATE) / RATE), RATE)) <= 1


def test_si_sdr_and_mel_distance():
    rng = np.random.default_rng(0)
    signal = _cadence(60, "major")
    assert si_sdr(signal, signal) > 100
    assert si_sdr(signal, 0.3 * signal) == pytest.approx(si_sdr(signal, signal), abs=15)  # both "perfect"
    noisy = signal + 0.1 * signal.std() * rng.standard_normal(len(signal))
    assert si_sdr(signal, noisy) == pytest.approx(20.0, abs=0.3)
    assert si_sdr(signal, 2.5 * noisy) == pytest.approx(si_sdr(signal, noisy), abs=1e-9)  # scale-invariant
    assert multi_resolution_log_mel_distance(signal, signal, RATE) == 0.0
    assert multi_resolution_log_mel_distance(signal, noisy, RATE) > multi_resolution_log_mel_distance(signal, signal, RATE)
    # one codec frame longer output is compared on the common length
    assert multi_resolution_log_mel_distance(signal, np.concatenate([signal, np.zeros(320)]), RATE) == 0.0


def test_token_statistics():
    uniform = token_statistics(np.tile(np.arange(1024), (8, 2)), 1024)
    assert uniform["token_entropy"] == pytest.approx(1.0)
    assert uniform["token_distinct"] == 1.0 and uniform["token_repetition"] == 0.0
    constant = token_statistics(np.full((8, 100), 7), 1024)
    assert constant == {"token_entropy": 0.0, "token_distinct": 0.01, "token_repetition": 1.0}
    two_codes = token_statistics(np.array([[0, 0, 1, 1]]), 4)
    assert two_codes["token_entropy"] == pytest.approx(0.5)
    assert two_codes["token_repetition"] == pytest.approx(2 / 3)
    with pytest.raises(ValueError):
        token_statistics(np.zeros((8, 0)), 1024)


def test_statistics_are_deterministic_and_skip_undefined_values():
    values = [1.0, 2.0, None, 3.0, float("nan")]
    first, second = mean_with_ci(values), mean_with_ci(values)
    assert first == second and first["mean"] == 2.0 and first["n"] == 3
    assert 1.0 <= first["ci95"][0] <= 2.0 <= first["ci95"][1] <= 3.0
    assert mean_with_ci([None]) == {"mean": None, "ci95": [None, None], "n": 0}
    assert pearson([1, 2, 3], [2, 4, 6]) == pytest.approx(1.0)
    assert pearson([1, 1, 1], [1, 2, 3]) is None
    correlation = pearson_with_ci([1, 2, 3, 4, None], [1, 2, 3, 5, 9])
    assert correlation["n"] == 4 and correlation["mean"] > 0.9
