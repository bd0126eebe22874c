"""Evaluation metrics on signals whose answer is known by construction."""

import importlib

import numpy as np
import pytest

from songgen_hf.evaluation import metrics
from songgen_hf.evaluation.metrics import (
    MissingEvalExtraError,
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
from songgen_hf.modeling.music import ALL_KEYS, Key

from ..fresh_interpreter import fresh_interpreter
from .tiny_corpus import _clip as tiny_corpus_clip

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
    audio = [
        _tone(tonic + root - 12, 1.0) + sum(_tone(tonic + root + step, 1.0) for step in (0, third_, 7))
        for root, third_ in chords
    ]
    steps = (0, 2, 4, 5, 7, 9, 11, 12) if mode == "major" else (0, 2, 3, 5, 7, 8, 10, 12)
    return np.concatenate(audio + [_tone(tonic + step, 0.25) for step in steps])


# slow tempos included: the global estimate's prior at 120 BPM must not double them
@pytest.mark.parametrize("bpm", [66.0, 80.0, 90.0, 120.0, 140.0, 170.0])
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


def _breakdown(estimated, reference, read_right):
    scores = {"tempo_bpm": estimated, **tempo_scores(estimated, reference)}
    return metrics.tempo_breakdown(scores, reference, read_right, slow_bpm=90)


def test_tempo_breakdown_splits_slow_fast_readable_and_flags_doubling():
    slow_doubled = _breakdown(141.0, 70.0, read_right=True)
    assert slow_doubled == {
        "tempo_acc1_slow": 0.0,
        "tempo_acc1_fast": None,
        "tempo_acc1_readable": 0.0,
        "tempo_doubled": 1.0,
    }
    fast_right = _breakdown(121.0, 120.0, read_right=False)  # the estimator misread the clean clip: not counted
    assert fast_right == {
        "tempo_acc1_slow": None,
        "tempo_acc1_fast": 1.0,
        "tempo_acc1_readable": None,
        "tempo_doubled": 0.0,
    }
    assert _breakdown(90.0, 90.0, read_right=True)["tempo_acc1_fast"] == 1.0  # the boundary is "at or above"
    assert _breakdown(105.0, 70.0, read_right=True)["tempo_doubled"] == 0.0  # x1.5 is a miss, not a doubling
    no_reading = metrics.tempo_breakdown({"tempo_bpm": float("nan"), "tempo_acc1": 0.0}, 70.0, True, 90)
    assert no_reading["tempo_doubled"] is None and no_reading["tempo_acc1_slow"] == 0.0
    # means over prompts count only the prompts a field describes
    rows = [_breakdown(141.0, 70.0, True), _breakdown(121.0, 120.0, False), _breakdown(71.0, 70.0, True)]
    assert mean_with_ci([row["tempo_acc1_slow"] for row in rows])["mean"] == 0.5
    assert mean_with_ci([row["tempo_acc1_readable"] for row in rows])["n"] == 2


@pytest.mark.parametrize(
    "tonic, mode", [(60, "major"), (57, "minor"), (62, "major"), (64, "minor"), (66, "major"), (63, "minor")]
)
def test_cadence_key(tonic, mode):
    assert estimate_key_or_none(_cadence(tonic, mode), RATE) == Key(tonic % 12, mode)


@pytest.mark.parametrize("index", [0, 1, 4, 5])  # drummed clips of the tiny corpus: chords, drums and a sung line
def test_library_estimators_recover_a_songs_tempo_and_key(index):
    mix, _, _, attributes = tiny_corpus_clip(index, 8.0)
    assert attributes["drums"]
    tempo = estimate_tempo_bpm(mix, RATE)
    assert tempo_scores(tempo, attributes["tempo_bpm"])["tempo_acc1"] == 1.0, tempo
    assert estimate_key_or_none(mix, RATE) == parse_key(attributes["key"], attributes["mode"])


def test_estimators_are_librosas(monkeypatch):
    """The tempo is read off librosa's tracked beats and the key off librosa's chroma, not computed here."""
    librosa = pytest.importorskip("librosa")
    calls = []

    def fake_beat_track(y, sr, hop_length, units):
        calls.append(("beat_track", sr, hop_length, units))
        return np.array([100.0]), np.arange(0.0, 6.0, 0.5)  # beats every 0.5 s: 120 BPM

    def fake_chroma(y, sr):
        calls.append(("chroma_cqt", sr))
        return np.roll(metrics.KK_MINOR_PROFILE, 2)[:, None].repeat(3, axis=1)  # D minor's own profile

    monkeypatch.setattr(librosa.beat, "beat_track", fake_beat_track)
    monkeypatch.setattr(librosa.feature, "chroma_cqt", fake_chroma)
    noise = np.random.default_rng(0).standard_normal(RATE)
    assert estimate_tempo_bpm(noise, RATE) == pytest.approx(120.0)
    assert estimate_key_or_none(noise, RATE) == Key(2, "minor")
    assert calls == [("beat_track", RATE, 160, "time"), ("chroma_cqt", RATE)]


def test_silence_has_no_key_and_scores_zero():
    assert estimate_key_or_none(np.zeros(RATE), RATE) is None
    assert key_scores(None, Key(0, "major")) == {"key_exact": 0.0, "key_mirex": 0.0}


def test_mirex_weights_are_mir_evals(monkeypatch):
    mir_eval_key = pytest.importorskip("mir_eval.key")
    for reference in ALL_KEYS:  # every pair: the score is mir_eval's, with keys in its "Eb minor" format
        for estimated in ALL_KEYS:
            assert mirex_key_score(estimated, reference) == mir_eval_key.weighted_score(reference.name, estimated.name)
    seen = []
    monkeypatch.setattr(mir_eval_key, "weighted_score", lambda ref, est: seen.append((ref, est)) or 0.25)
    assert key_scores(None, Key(3, "minor")) == {"key_exact": 0.0, "key_mirex": 0.25}
    assert mirex_key_score(Key(10, "major"), Key(3, "minor")) == 0.25
    assert seen == [("Eb minor", "X"), ("Eb minor", "Bb major")]  # no key heard is mir_eval's "X"


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
    bursts = [
        np.concatenate([_tone(midi, 0.15) * np.hanning(int(0.15 * RATE)), np.zeros(int(0.25 * RATE))])
        for midi in (60, 64, 67, 62, 65, 69)
    ]
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
    assert multi_resolution_log_mel_distance(signal, noisy, RATE) > multi_resolution_log_mel_distance(
        signal, signal, RATE
    )
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


def test_measuring_libraries_load_lazily_and_a_missing_one_names_the_extra(monkeypatch):
    # a fresh interpreter's, after importing the package, the metrics and the runner
    loaded = set(fresh_interpreter()["stages"]["evaluation"])
    assert not loaded & {"librosa", "mir_eval", "numba"}, loaded

    real_import = importlib.import_module

    def without_librosa(name, *args):
        if name.split(".")[0] == "librosa":
            raise ModuleNotFoundError("No module named 'librosa'")
        return real_import(name, *args)

    monkeypatch.setattr(metrics.importlib, "import_module", without_librosa)
    for call in (
        lambda: estimate_tempo_bpm(_click_track(120.0), RATE),
        lambda: estimate_key_or_none(_tone(60, 1), RATE),
        metrics.require_eval_libraries,
    ):
        with pytest.raises(ValueError, match=r'need librosa.*pip install -e "\.\[eval\]"') as error:
            call()
        assert isinstance(error.value, (MissingEvalExtraError, ImportError))


def test_voicing_probability_reads_harmonics_not_loudness():
    """A sung-like note (harmonics of a gliding 220 Hz fundamental) is clearly voiced; the same note with noise
    10 dB below it much less; noise alone least; a louder copy scores the same, and the gaps of a clip do not
    count."""
    rate = 16000
    t = np.arange(2 * rate) / rate
    phase = 2 * np.pi * np.cumsum(220 * (1 + 0.03 * np.sin(2 * np.pi * 0.5 * t))) / rate
    note = sum(np.sin(k * phase) / k for k in range(1, 9)).astype(np.float32) * 0.2
    noise = np.random.default_rng(0).standard_normal(len(t)).astype(np.float32) * float(note.std())
    clean = metrics.voicing_probability(note, rate)
    washed = metrics.voicing_probability(note + 0.3 * noise, rate)
    pure_noise = metrics.voicing_probability(noise, rate)
    assert clean > 0.8 and pure_noise < 0.1 and pure_noise + 0.2 < washed < clean - 0.2
    assert metrics.voicing_probability(4 * note, rate) == pytest.approx(clean, abs=1e-6)
    with_gaps = np.concatenate([note, np.zeros(rate, np.float32), note])
    assert metrics.voicing_probability(with_gaps, rate) == pytest.approx(clean, abs=0.05)
    assert metrics.voicing_probability(np.zeros(rate, np.float32), rate) is None
