"""Reference-voice feature extraction for SongGen's MERT voice encoder.

Turns a reference recording into the fixed-size input of ``SongGenVoiceEncoder``:

1. read it (any format libsndfile reads) or take a numpy/torch array plus its rate;
2. mix to mono by averaging the channels (what ``librosa.load(mono=True)`` does in the reference);
3. resample to 24 kHz with a polyphase filter;
4. cut ``clip_seconds`` (3 s) starting at ``start`` seconds and zero-pad to exactly 72000 samples;
5. optionally normalise each clip to zero mean / unit variance over its real samples.

A ``None`` voice gives an all-zero row with an all-zero attention mask: SongGen's "no voice".

**Normalisation (``do_normalize``).**  The reference runs MERT's own ``Wav2Vec2FeatureExtractor``
(loaded from the MERT-v1-330M repo).  Read: MERT-v1-95M's ``preprocessor_config.json`` has
``do_normalize: false``, ``return_attention_mask: true``, ``sampling_rate: 24000``, and MERT's
pre-training configs use ``normalize: false`` (raw waveforms, group-norm front end).  Not read:
the v1-330M file itself.  The default here is therefore ``False``; set ``do_normalize=True`` if
the 330M ``preprocessor_config.json`` says otherwise (the statistics then match transformers'
``Wav2Vec2FeatureExtractor.zero_mean_unit_var_norm``: mean/variance over the unpadded samples,
``+1e-7`` under the square root, padding reset to ``padding_value``).
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Sequence
from fractions import Fraction
from numbers import Integral, Real
from typing import Any

import numpy as np
import soundfile as sf
from transformers import BatchFeature, SequenceFeatureExtractor
from transformers.utils import logging

from songgen_hf.modeling.limits import is_number
from songgen_hf.utils.audio_io import resample

logger = logging.get_logger(__name__)

# Extra input seconds kept on each side of the crop before resampling, so the polyphase
# filter's edge transient (a few dozen samples) never reaches the kept clip.
_RESAMPLE_MARGIN_SECONDS = 0.05
_MAX_CHANNELS = 16
# strict mode: a clip may fall this short of ``clip_seconds`` (resampling rounds at the file's end).
_LENGTH_TOLERANCE_SECONDS = 0.01
# strict mode: a peak below one 16-bit step is digital silence, whatever the file's sample format.
_SILENCE_PEAK = 1.0 / 32768


class VoiceFeatureExtractor(SequenceFeatureExtractor):
    r"""Prepares 3 s reference-voice clips for [`SongGenVoiceEncoder`].

    Args:
        sampling_rate (`int`, defaults to 24000): rate of the produced clips (MERT-v1's rate).
        clip_seconds (`float`, defaults to 3.0): clip length; clips are padded to
            ``round(clip_seconds * sampling_rate)`` = 72000 samples.
        do_normalize (`bool`, defaults to `False`): zero-mean / unit-variance per clip (see the
            module docstring for why the default is off).
        padding_value (`float`, defaults to 0.0): value of padded samples.
        return_attention_mask (`bool`, defaults to `True`): also return ``attention_mask``.
    """

    model_input_names = ["input_values", "attention_mask"]

    def __init__(
        self,
        feature_size: int = 1,
        sampling_rate: int = 24000,
        padding_value: float = 0.0,
        clip_seconds: float = 3.0,
        do_normalize: bool = False,
        return_attention_mask: bool = True,
        **kwargs,
    ):
        super().__init__(
            feature_size=feature_size,
            sampling_rate=sampling_rate,
            padding_value=padding_value,
            return_attention_mask=return_attention_mask,
            **kwargs,
        )
        self.sampling_rate = _check_rate(sampling_rate, "sampling_rate")
        if not float(clip_seconds) > 0:
            raise ValueError(f"`clip_seconds` must be positive, got {clip_seconds}.")
        self.clip_seconds = float(clip_seconds)
        self.do_normalize = bool(do_normalize)

    @property
    def max_length(self) -> int:
        """Samples per clip (72000 for 3 s at 24 kHz)."""
        return int(round(self.clip_seconds * self.sampling_rate))

    def __call__(
        self,
        voice: Any,
        sampling_rate: int | Sequence[int | None] | None = None,
        start: float | Sequence[float] = 0.0,
        return_tensors: str | None = "pt",
        return_attention_mask: bool | None = None,
        strict: bool = False,
    ) -> BatchFeature:
        """Build ``input_values`` (B, 72000) and ``attention_mask`` (B, 72000).

        Args:
            voice: one reference or a list/tuple of them.  A reference is a path (``str`` /
                ``os.PathLike``) or file object soundfile can read, a numpy array or torch tensor
                (``(samples,)``, or ``(channels, samples)`` / ``(samples, channels)`` which is
                averaged to mono), or ``None`` for "no voice".  A flat list of numbers is one
                waveform.
            sampling_rate: rate of array inputs, one int for all or one per item (ignored for
                files, whose header is used).
            start: crop start in seconds, one value for all or one per item.
            return_tensors: ``"pt"`` (default), ``"np"`` or ``None`` (lists of numpy arrays).
            return_attention_mask: overrides the instance default.
            strict: for references a user chose on purpose: ``ValueError`` for a clip that is
                silent or shorter than ``clip_seconds`` from ``start`` (default: warn about
                silence and zero-pad short clips, as training data needs).  ``None`` entries
                (no voice) are always fine.
        """
        items = _as_batch(voice)
        rates = _broadcast(sampling_rate, len(items), "sampling_rate")
        starts = _broadcast(start, len(items), "start")

        length = self.max_length
        values = np.full((len(items), length), self.padding_value, dtype=np.float32)
        mask = np.zeros((len(items), length), dtype=np.int32)
        for row, (item, rate, offset) in enumerate(zip(items, rates, starts)):
            if item is None:
                values[row] = 0.0  # "no voice" is all zeros whatever padding_value is
                continue
            clip = self._clip(item, rate, offset, index=row if len(items) > 1 else None)
            if strict:
                self._check_usable(clip, item, offset, row if len(items) > 1 else None)
            if not np.any(clip):
                logger.warning(
                    "Reference voice %s is digital silence in the selected clip; it will act as 'no voice'.",
                    _describe(item, row if len(items) > 1 else None),
                )
            if self.do_normalize and clip.size:
                clip = (clip - clip.mean()) / np.sqrt(clip.var() + 1e-7)
            values[row, : clip.size] = clip
            mask[row, : clip.size] = 1

        data = {"input_values": values}
        want_mask = self.return_attention_mask if return_attention_mask is None else return_attention_mask
        if want_mask:
            data["attention_mask"] = mask
        if return_tensors is None:
            data = {key: list(array) for key, array in data.items()}
        return BatchFeature(data, tensor_type=return_tensors)

    # ------------------------------------------------------------------ internals
    def _check_usable(self, clip: np.ndarray, item: Any, start: Any, index: int | None) -> None:
        where = _describe(item, index)
        available = clip.size / self.sampling_rate
        if available < self.clip_seconds - _LENGTH_TOLERANCE_SECONDS:
            span = f"is {available:.2f} s long" if not start else f"has only {available:.2f} s from start={start:g} s"
            raise ValueError(
                f"Reference voice {where} {span}, but the model needs at least {self.clip_seconds:g} s of "
                f"voice. Use a recording of {self.clip_seconds:g} s or more"
                + (" (or an earlier start)." if start else ".")
            )
        peak = float(np.max(np.abs(clip))) if clip.size else 0.0
        if peak < _SILENCE_PEAK:
            state = "all zeros" if peak == 0.0 else f"peak {peak:.1e}"
            raise ValueError(
                f"Reference voice {where} is silent ({state}) in the {self.clip_seconds:g} s clip used; "
                "pass a recording of the voice to imitate, or leave the reference voice out."
            )

    def _clip(self, item: Any, rate: Any, start: Any, index: int | None) -> np.ndarray:
        """Mono float32 clip at ``self.sampling_rate``, at most ``max_length`` samples."""
        where = _describe(item, index)
        start = _check_start(start, where)
        if _is_file_like(item):
            source_rate, audio, first = _read_window(item, start, self.clip_seconds, self.sampling_rate, where)
        else:
            if rate is None:
                raise ValueError(f"Reference voice {where} is an array: pass its rate, e.g. `sampling_rate=44100`.")
            source_rate = _check_rate(rate, "sampling_rate")
            audio = _to_mono_float(item, where)
            duration = audio.shape[-1] / source_rate
            _check_start_within(start, duration, where)
            first, stop = _window(start, self.clip_seconds, source_rate, audio.shape[-1], self.sampling_rate)
            audio = audio[first:stop]
        if not np.isfinite(audio).all():
            raise ValueError(f"Reference voice {where} contains NaN or Inf samples; clean or re-export the audio.")
        return _resample_and_cut(audio, source_rate, first, start, self.sampling_rate, self.max_length)


def _as_batch(voice: Any) -> list[Any]:
    if isinstance(voice, (list, tuple)):
        if len(voice) == 0:
            raise ValueError("Got an empty list of reference voices; pass at least one item (or None).")
        if all(isinstance(v, Real) and not isinstance(v, bool) for v in voice):
            return [np.asarray(voice, dtype=np.float32)]
        return list(voice)
    return [voice]


def _broadcast(value: Any, size: int, name: str) -> list[Any]:
    if isinstance(value, (list, tuple)):
        if len(value) != size:
            raise ValueError(f"`{name}` has {len(value)} entries for {size} reference voices; give one per voice.")
        return list(value)
    return [value] * size


def _describe(item: Any, index: int | None) -> str:
    label = f"#{index} " if index is not None else ""
    if isinstance(item, (str, os.PathLike)):
        return f"{label}({os.fspath(item)!r})".strip()
    return f"{label}({type(item).__name__})".strip()


def _is_file_like(item: Any) -> bool:
    return isinstance(item, (str, os.PathLike, io.IOBase)) or (hasattr(item, "read") and hasattr(item, "seek"))


def _check_rate(rate: Any, name: str) -> int:
    if not is_number(rate):
        raise ValueError(
            f"`{name}` must be an integer number of Hz such as 44100, got {rate!r} ({type(rate).__name__})."
        )
    if not isinstance(rate, Integral):
        if not math.isfinite(float(rate)) or float(rate) != int(rate):
            raise ValueError(f"`{name}` must be a whole number of Hz such as 44100, got {rate!r}.")
    rate = int(rate)
    if rate <= 0:
        raise ValueError(f"`{name}` must be positive, got {rate}.")
    return rate


def _check_start(start: Any, where: str) -> float:
    if not is_number(start, finite=True):
        raise ValueError(f"`start` for reference voice {where} must be a number of seconds, got {start!r}.")
    if start < 0:
        raise ValueError(f"`start` for reference voice {where} must be >= 0 seconds, got {start}.")
    return float(start)


def _check_start_within(start: float, duration: float, where: str) -> None:
    if duration <= 0:
        raise ValueError(f"Reference voice {where} is empty; give at least a fraction of a second of audio.")
    if start >= duration:
        raise ValueError(
            f"`start`={start:g} s is beyond the end of reference voice {where} ({duration:.3f} s long); "
            f"use a start below {duration:.3f} s."
        )


def _resample_ratio(rate: int, target_rate: int) -> Fraction:
    # Same reduction as ``songgen_hf.utils.audio_io.resample``, so offsets match what it computes.
    return Fraction(target_rate, rate).limit_denominator(1000)


def _window(start: float, clip_seconds: float, rate: int, total: int, target_rate: int) -> tuple[int, int]:
    """Input-sample window [first, stop) covering the crop plus a resampling margin.

    ``first`` is snapped down to a multiple of the resampler's ``down`` factor: input sample
    ``k * down`` is output sample ``k * up`` exactly, so the crop offset stays sample-exact.
    """
    period = _resample_ratio(rate, target_rate).denominator
    margin = _RESAMPLE_MARGIN_SECONDS if rate != target_rate else 0.0
    first = max(0, int(math.floor((start - margin) * rate)))
    first -= first % period
    stop = min(total, int(math.ceil((start + clip_seconds + margin) * rate)) + period)
    return first, stop


def _resample_and_cut(
    audio: np.ndarray, rate: int, first: int, start: float, target_rate: int, length: int
) -> np.ndarray:
    """Resample the window and cut ``length`` samples from ``start`` (window begins at ``first``)."""
    ratio = _resample_ratio(rate, target_rate)
    if rate != target_rate:
        audio = resample(audio.astype(np.float32, copy=False), rate, target_rate)
    origin = first // ratio.denominator * ratio.numerator
    offset = max(int(round(start * target_rate)) - origin, 0)
    return np.ascontiguousarray(audio[offset : offset + length], dtype=np.float32)


def _to_mono_float(item: Any, where: str) -> np.ndarray:
    array = _to_numpy(item, where)
    while array.ndim > 2 and array.shape[0] == 1:
        array = array[0]
    if array.ndim == 2:
        rows, cols = array.shape
        if rows <= _MAX_CHANNELS and rows < cols:
            array = array.mean(axis=0)
        elif cols <= _MAX_CHANNELS and cols < rows:
            array = array.mean(axis=1)
        else:
            raise ValueError(
                f"Reference voice {where} has shape {tuple(array.shape)}; pass (samples,), (channels, samples) "
                f"or (samples, channels) with at most {_MAX_CHANNELS} channels."
            )
    elif array.ndim != 1:
        raise ValueError(
            f"Reference voice {where} has shape {tuple(array.shape)}; pass one clip as (samples,) or "
            "(channels, samples), and several clips as a list."
        )
    if array.size == 0:
        raise ValueError(f"Reference voice {where} is empty; give at least a fraction of a second of audio.")
    return array


def _to_numpy(item: Any, where: str) -> np.ndarray:
    if hasattr(item, "detach") and hasattr(item, "cpu"):  # torch.Tensor without importing torch
        item = item.detach().cpu()
        if item.is_floating_point():
            item = item.float()
        item = item.numpy()
    if not isinstance(item, np.ndarray):
        try:
            item = np.asarray(item)
        except Exception as error:  # noqa: BLE001 - any conversion failure is a bad input
            raise ValueError(f"Reference voice {where} is neither a file path, an array nor None ({error}).") from error
    if item.dtype == np.bool_ or not np.issubdtype(item.dtype, np.number) or np.iscomplexobj(item):
        raise ValueError(
            f"Reference voice {where} has dtype {item.dtype}; pass real-valued float or integer PCM samples."
        )
    if np.issubdtype(item.dtype, np.integer):
        # Integer PCM: scale to [-1, 1) the way soundfile does on read.
        info = np.iinfo(item.dtype)
        if info.min == 0:  # unsigned, e.g. 8-bit WAV
            mid = (info.max + 1) / 2
            return ((item.astype(np.float64) - mid) / mid).astype(np.float32)
        return (item.astype(np.float64) / -float(info.min)).astype(np.float32)
    return item.astype(np.float32, copy=False)


def _read_window(
    source: Any, start: float, clip_seconds: float, target_rate: int, where: str
) -> tuple[int, np.ndarray, int]:
    """Read only the needed part of a file: (rate, mono samples, index of the first one)."""
    if isinstance(source, (str, os.PathLike)) and not os.path.isfile(source):
        raise ValueError(f"Reference voice file {where} does not exist; check the path.")
    try:
        with sf.SoundFile(source) as handle:
            rate = int(handle.samplerate)
            total = int(handle.frames)
            _check_start_within(start, total / rate if rate else 0.0, where)
            first, stop = _window(start, clip_seconds, rate, total, target_rate)
            handle.seek(first)
            data = handle.read(stop - first, dtype="float32", always_2d=True)
    except (RuntimeError, sf.LibsndfileError, TypeError) as error:
        raise ValueError(
            f"Could not read reference voice {where}: {error}. Convert it to WAV or FLAC (e.g. with ffmpeg)."
        ) from error
    if data.shape[0] == 0:
        raise ValueError(f"Reference voice {where} is empty; give at least a fraction of a second of audio.")
    return rate, data.mean(axis=1), first


__all__ = ["VoiceFeatureExtractor"]
