"""Light-weight audio measurements (numpy only) used to verify the corpus and,
later, to check whether generated songs follow their description.

* :func:`estimate_key` -- chroma correlated with Krumhansl-Kessler key profiles;
* :func:`onset_envelope`, :func:`estimate_tempo` -- spectral flux + autocorrelation;
* :func:`beat_alignment` -- how strongly onsets fall on a given beat grid.
"""

from __future__ import annotations

import numpy as np

from songgen_hf.modeling.music import ALL_KEYS, Key

# Krumhansl & Kessler (1982) probe-tone ratings, tonic first.
_MAJOR_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
_MINOR_PROFILE = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


def stft_magnitude(audio: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    audio = np.asarray(audio, dtype=np.float64)
    if len(audio) < n_fft:
        audio = np.pad(audio, (0, n_fft - len(audio)))
    count = 1 + (len(audio) - n_fft) // hop
    index = np.arange(n_fft)[None, :] + hop * np.arange(count)[:, None]
    return np.abs(np.fft.rfft(audio[index] * np.hanning(n_fft)[None, :], axis=1))


def chroma(audio: np.ndarray, sampling_rate: int, low_hz: float = 50.0, high_hz: float = 1000.0) -> np.ndarray:
    """Time-averaged 12-bin pitch-class profile (C first), normalised to sum 1.

    Only spectral peaks count (leakage and noise stay out), the band stops at
    1 kHz where upper harmonics would start to masquerade as other pitch
    classes, and a square-root magnitude keeps one loud note from dominating.
    """
    n_fft = 4096
    magnitude = stft_magnitude(audio, n_fft, n_fft // 2)
    frequencies = np.fft.rfftfreq(n_fft, 1.0 / sampling_rate)
    band = (frequencies >= low_hz) & (frequencies <= high_hz)
    magnitude = magnitude[:, band]
    pitch_classes = np.round(12 * np.log2(frequencies[band] / 440.0) + 69).astype(int) % 12
    is_peak = np.zeros_like(magnitude, dtype=bool)
    is_peak[:, 1:-1] = (magnitude[:, 1:-1] > magnitude[:, :-2]) & (magnitude[:, 1:-1] >= magnitude[:, 2:])
    is_peak &= magnitude > 0.02 * magnitude.max(axis=1, keepdims=True)
    energy = np.sqrt(np.where(is_peak, magnitude, 0.0)).sum(axis=0)
    profile = np.bincount(pitch_classes, weights=energy, minlength=12)
    return profile / max(profile.sum(), 1e-12)


def key_scores(audio: np.ndarray, sampling_rate: int) -> dict[Key, float]:
    """Pearson correlation of the chroma with each of the 24 rotated key profiles."""
    profile = chroma(audio, sampling_rate)
    scores = {}
    for key in ALL_KEYS:
        template = np.roll(_MAJOR_PROFILE if key.mode == "major" else _MINOR_PROFILE, key.tonic)
        scores[key] = float(np.corrcoef(profile, template)[0, 1])
    return scores


def estimate_key(audio: np.ndarray, sampling_rate: int) -> Key:
    scores = key_scores(audio, sampling_rate)
    return max(scores, key=scores.get)


def onset_envelope(audio: np.ndarray, sampling_rate: int, hop_seconds: float = 0.01) -> tuple[np.ndarray, float]:
    """Half-wave-rectified log-spectral flux and its frame rate (frames/s)."""
    hop = int(round(hop_seconds * sampling_rate))
    magnitude = np.log1p(1000.0 * stft_magnitude(audio, 4 * hop, hop))
    flux = np.maximum(np.diff(magnitude, axis=0), 0.0).sum(axis=1)
    flux = np.concatenate([[0.0], flux])
    return flux - np.convolve(flux, np.ones(31) / 31, mode="same"), sampling_rate / hop


def estimate_tempo(audio: np.ndarray, sampling_rate: int, low_bpm: float = 60.0, high_bpm: float = 180.0) -> float:
    """Tempo whose beat lag maximises the onset autocorrelation, with a mild
    preference for moderate tempi to limit octave errors."""
    envelope, frame_rate = onset_envelope(audio, sampling_rate)
    envelope = envelope - envelope.mean()
    correlation = np.correlate(envelope, envelope, mode="full")[len(envelope) - 1 :]
    lags = np.arange(int(frame_rate * 60 / high_bpm), int(frame_rate * 60 / low_bpm) + 1)
    bpm = 60.0 * frame_rate / lags
    prior = np.exp(-0.5 * (np.log2(bpm / 110.0) / 0.9) ** 2)
    best = lags[int(np.argmax(correlation[lags] * prior))]
    # Parabolic interpolation around the peak for sub-frame precision.
    if 1 <= best < len(correlation) - 1:
        left, centre, right = correlation[best - 1 : best + 2]
        denominator = left - 2 * centre + right
        shift = 0.5 * (left - right) / denominator if denominator else 0.0
    else:
        shift = 0.0
    return 60.0 * frame_rate / (best + shift)


def beat_alignment(audio: np.ndarray, sampling_rate: int, tempo_bpm: float, offset_s: float = 0.0) -> float:
    """Mean onset strength at the beats of a grid starting at ``offset_s`` (each
    beat takes the maximum within +-30 ms), relative to the overall mean."""
    envelope, frame_rate = onset_envelope(audio, sampling_rate)
    envelope = np.maximum(envelope, 0.0)
    beats = np.arange(offset_s, len(envelope) / frame_rate, 60.0 / tempo_bpm)
    reach = int(round(0.03 * frame_rate))
    values = []
    for beat in beats:
        centre = int(round(beat * frame_rate))
        window = envelope[max(0, centre - reach) : centre + reach + 1]
        if len(window):
            values.append(window.max())
    return float(np.mean(values) / max(envelope.mean(), 1e-12))
