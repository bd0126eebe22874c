"""Beat-relative groove and register features for style judges, from the audio alone (numpy only).

A style that differs from the corpus in metre (12/8, every beat three triplet eighths where the corpus plays two or
a swung pair) looks like the corpus to timbre statistics and to a tempogram sampled at fixed lags: the tempo varies
from song to song, so the lag of a triplet eighth does too.  These features are measured *relative to the beat*:

* ``beat_features``: the onset envelope (rectified mel flux at 8 ms hops) is autocorrelated and its beat period
  ``P`` found (the strongest lag between 60 and 180 bpm, leaning towards 100).  The autocorrelation at the
  subdivisions of that beat (``P/3``, ``2P/3``: triplets; ``P/2``: duple eighths; ``P/4``, ``3P/4``: sixteenths) and at
  multiples of it, their contrasts (triplet minus duple, triplet minus sixteenth), and the envelope folded over one
  beat (12 phase bins, rotated so the strongest bin is the beat): its triplet contrast (bins 4 and 8 against 6) and
  long-short contrast (bin 8 against 4: a swung pair or a 12/8 shuffle).
* ``register_features``: how the mix's energy spreads over eight bands from 40 Hz to 3 kHz (log shares), and the
  frequency below which half the energy under 1.2 kHz lies: a choir of low voices shifts both.

None of these is a quantity the model is trained against, so a run cannot score well on them by anything but the
sound.
"""

from __future__ import annotations

import numpy as np

from songgen_hf.evaluation.metrics import SILENCE_RMS, log_mel, stft_power

BEAT_FEATURE_NAMES = (
    "acf_third",
    "acf_half",
    "acf_quarter",
    "triplet_minus_duple",
    "triplet_minus_sixteenth",
    "acf_beat",
    "acf_dotted_beat",
    "acf_two_beats",
    *(f"beat_phase_{index}" for index in range(12)),
    "phase_triplet_contrast",
    "phase_long_short",
    "phase_sixteenth",
)
REGISTER_BANDS = ((40, 80), (80, 120), (120, 180), (180, 260), (260, 400), (400, 700), (700, 1200), (1200, 3000))
REGISTER_FEATURE_NAMES = (*(f"band_{low}_{high}" for low, high in REGISTER_BANDS), "median_frequency_below_1200")
_HOP_SECONDS = 0.008
_PHASE_BINS = 12


def onset_envelope(audio: np.ndarray, sampling_rate: int) -> tuple[np.ndarray, float]:
    """Rectified mel flux (of the loudness-normalised clip), its slow trend removed, and its frame rate (frames
    per second)."""
    audio = np.asarray(audio, dtype=np.float64)
    n_fft = int(2 ** round(np.log2(0.032 * sampling_rate)))
    hop = max(1, int(round(_HOP_SECONDS * sampling_rate)))
    rms = np.sqrt(np.mean(audio**2)) if len(audio) else 0.0
    audio = audio * (0.1 / rms) if rms >= SILENCE_RMS else audio
    # mel magnitude to the power 1/2 (power^(1/4)): a log would hear a soft click as loud as an accented one, and
    # the accents are what tell the beat from its subdivisions
    mel = (10.0 ** log_mel(audio, sampling_rate, n_fft, hop, 40)) ** 0.25
    if len(mel) < 3:
        return np.zeros(1), sampling_rate / hop
    flux = np.maximum(np.diff(mel, axis=0), 0.0).sum(axis=1)
    trend = np.convolve(flux, np.ones(25) / 25, mode="same")  # 200 ms: what is left is the onsets
    onsets = np.maximum(flux - trend, 0.0)
    # a click is a frame or two wide: spread it over about 24 ms so that lags between frames still meet it
    return np.convolve(onsets, [0.25, 0.5, 0.25], mode="same"), sampling_rate / hop


def _autocorrelation(envelope: np.ndarray) -> np.ndarray:
    centred = envelope - envelope.mean()
    count = len(centred)
    spectrum = np.fft.rfft(centred, 2 * count)
    full = np.fft.irfft(np.abs(spectrum) ** 2)[:count]
    if full[0] <= 0:
        return np.zeros(count)
    return full / full[0] / (1.0 - np.arange(count) / count)  # unbiased: long lags are not shrunk


def beat_period(acf: np.ndarray, frame_rate: float) -> float:
    """The beat's length in frames: the lag between 60 and 180 bpm whose autocorrelation and its double's are
    strongest, weighted towards 100 bpm (a log-normal prior of 0.7 octaves), refined between frames by a parabola."""
    low, high = int(frame_rate * 60 / 180), min(int(frame_rate * 60 / 60), len(acf) - 2)
    if high <= low + 1:
        return float(max(low, 1))
    lags = np.arange(low, high)
    prior = np.exp(-0.5 * (np.log2(60 * frame_rate / lags / 100) / 0.7) ** 2)
    # the lag and its double: accents that repeat every beat line up at both, a lag between beats at one only
    last = len(acf) - 1
    doubled = np.max([acf[np.minimum(2 * lags + shift, last)] for shift in (-1, 0, 1)], axis=0)
    peak = int(lags[np.argmax((acf[lags] + doubled) * prior)])
    left, centre, right = acf[peak - 1], acf[peak], acf[peak + 1]
    bend = left - 2 * centre + right
    return float(peak + (0.5 * (left - right) / bend if bend < 0 else 0.0))


def beat_features(audio: np.ndarray, sampling_rate: int) -> np.ndarray:
    """``len(BEAT_FEATURE_NAMES)`` values: the onsets' periodicity at the beat's subdivisions and multiples, and the
    onsets folded over one beat (see the module's docstring)."""
    envelope, frame_rate = onset_envelope(audio, sampling_rate)
    if len(envelope) < frame_rate * 1.5 or envelope.max() <= 0:
        return np.zeros(len(BEAT_FEATURE_NAMES))
    acf = _autocorrelation(envelope)
    period = beat_period(acf, frame_rate)

    def at(lag: float) -> float:
        index = int(round(lag))  # the best of the lag's neighbours: the period is known to a frame
        window = acf[max(index - 1, 1) : min(index + 2, len(acf) - 1)]
        return float(window.max()) if len(window) else 0.0

    third = (at(period / 3) + at(2 * period / 3)) / 2
    half = at(period / 2)
    quarter = (at(period / 4) + at(3 * period / 4)) / 2
    # fold the envelope over the beat: each frame lands in the phase bin of where it falls within its beat
    phase = (np.arange(len(envelope)) / period) % 1.0
    bins = np.minimum((phase * _PHASE_BINS).astype(int), _PHASE_BINS - 1)
    profile = np.bincount(bins, weights=envelope, minlength=_PHASE_BINS)
    profile /= np.maximum(np.bincount(bins, minlength=_PHASE_BINS), 1)
    profile = np.roll(profile, -int(np.argmax(profile)))  # the strongest phase is the beat
    profile /= profile.sum() or 1.0
    triplet = (profile[4] + profile[8]) / 2 - profile[6]
    long_short = profile[8] - profile[4]
    sixteenth = (profile[3] + profile[9]) / 2 - (profile[4] + profile[8]) / 2
    head = [third, half, quarter, third - half, third - quarter, at(period), at(1.5 * period), at(2 * period)]
    return np.concatenate([head, profile, [triplet, long_short, sixteenth]])


def register_features(audio: np.ndarray, sampling_rate: int) -> np.ndarray:
    """``len(REGISTER_FEATURE_NAMES)`` values: the log share of the energy in each of ``REGISTER_BANDS`` and the
    median frequency of the energy below 1.2 kHz (in octaves above 40 Hz)."""
    audio = np.asarray(audio, dtype=np.float64)
    if not len(audio) or np.sqrt(np.mean(audio**2)) < SILENCE_RMS:
        return np.zeros(len(REGISTER_FEATURE_NAMES))
    n_fft = int(2 ** round(np.log2(0.128 * sampling_rate)))  # 8 Hz bins at 16 kHz: the low bands need them
    power = stft_power(audio, n_fft, n_fft // 4).sum(axis=0)
    frequencies = np.arange(len(power)) * sampling_rate / n_fft
    bands = np.array([power[(frequencies >= low) & (frequencies < high)].sum() for low, high in REGISTER_BANDS])
    shares = np.log(bands / max(bands.sum(), 1e-12) + 1e-6)
    under = (frequencies >= 40) & (frequencies < 1200)
    cumulative = np.cumsum(power[under])
    median = frequencies[under][np.searchsorted(cumulative, cumulative[-1] / 2)] if cumulative[-1] > 0 else 40.0
    return np.concatenate([shares, [np.log2(max(median, 40.0) / 40.0)]])
