"""Reading, writing and resampling one audio file: shared by inference (a reference voice at any rate, the song
written to disk) and the data tools, so it lives apart from both.

soundfile reads every format libsndfile knows (WAV, FLAC, OGG, MP3 with libsndfile >= 1.1); resampling uses a
polyphase filter (scipy), which is exact for the rational ratios between common rates.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from songgen_hf.utils.atomic import atomic_file


def resampling_ratio(orig_rate: int, target_rate: int) -> Fraction:
    """``target_rate / orig_rate`` as the polyphase resampler's up / down factors."""
    return Fraction(target_rate, orig_rate).limit_denominator(1000)


def resample(audio: np.ndarray, orig_rate: int, target_rate: int) -> np.ndarray:
    """Resample a (..., samples) float array with a polyphase low-pass filter."""
    if orig_rate == target_rate:
        return audio
    from scipy.signal import resample_poly

    ratio = resampling_ratio(orig_rate, target_rate)
    return resample_poly(audio, ratio.numerator, ratio.denominator, axis=-1).astype(np.float32)


def load_audio(path: str | Path, sampling_rate: int, mono: bool = True) -> np.ndarray:
    """Load ``path`` as float32 at ``sampling_rate``; mono audio is (samples,), else (channels, samples)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"Audio file not found: {path}")
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (RuntimeError, sf.LibsndfileError) as error:
        raise ValueError(f"Could not read audio file {path}: {error}. Convert it to WAV or FLAC.") from error
    audio = data.T  # (channels, samples)
    if mono:
        audio = audio.mean(axis=0)
    audio = resample(audio, rate, sampling_rate)
    if not np.isfinite(audio).all():
        raise ValueError(f"Audio file {path} contains NaN or Inf samples.")
    return np.ascontiguousarray(audio, dtype=np.float32)


def write_audio(path: str | Path, audio, sampling_rate: int, on_staged=None, subtype: str | None = None) -> Path:
    """Write (samples,) or (channels, samples) float audio as WAV/FLAC/OGG, atomically.

    The file appears complete or not at all: it is written beside the target and renamed.  ``on_staged(staged)``
    runs on the complete staged file just before the rename (a writer records what it wrote, so that the file,
    once it appears, is always provably its own).  ``subtype``: the sample format (soundfile's name, e.g.
    ``"PCM_16"``; default: the format's own), the samples then kept in float64 so that a song read in that format
    is written back exactly.
    """
    path = Path(path)
    dtype = np.float32 if subtype is None else np.float64
    audio = np.asarray(audio.detach().cpu().float() if isinstance(audio, torch.Tensor) else audio, dtype=dtype)
    if audio.ndim == 2:
        audio = audio.T  # soundfile wants (samples, channels)
    elif audio.ndim != 1:
        raise ValueError(f"Audio to write must be (samples,) or (channels, samples), got shape {audio.shape}.")
    fmt = {".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG"}.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"Unsupported output format {path.suffix!r}; use .wav, .flac or .ogg.")
    with atomic_file(path) as temporary:  # staged beside the target, given the umask's mode, renamed
        # integer formats hold [-1, 1]; a float song's own samples beyond it are kept as they are
        clipped = np.clip(audio, -1.0, 1.0) if subtype is None or subtype.startswith("PCM") else audio
        sf.write(temporary, clipped, sampling_rate, format=fmt, subtype=subtype)
        if on_staged is not None:
            on_staged(Path(temporary))
    return path


__all__ = ["load_audio", "resample", "resampling_ratio", "write_audio"]
