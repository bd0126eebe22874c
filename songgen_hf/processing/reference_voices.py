"""Reference voices of a batch: one entry per song, each a path, an array or an ``(array, rate)`` pair."""

from __future__ import annotations

import os
from numbers import Real
from typing import Any


def _count(number: int, singular: str, plural: str | None = None) -> str:
    return f"{number} {singular if number == 1 else plural or singular + 's'}"


def _is_rate(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def _is_array_with_rate(value: Any) -> bool:
    """An ``(array, sampling_rate)`` pair, as opposed to a tuple of per-song voices."""
    return (
        isinstance(value, tuple)
        and len(value) == 2
        and _is_rate(value[1])
        and value[0] is not None
        and not isinstance(value[0], (str, os.PathLike, Real))
    )


def split_reference_voices(reference_voice: Any, sampling_rate: Any, batch_size: int) -> tuple[list, list] | None:
    """Per-song ``(voices, rates)`` for the feature extractor, or ``None`` when no song has a voice."""
    if reference_voice is None:
        return None
    is_list = isinstance(reference_voice, (list, tuple)) and not _is_array_with_rate(reference_voice)
    # A flat list of numbers is one waveform (the feature extractor's convention), not one per song.
    if is_list and reference_voice and all(_is_rate(sample) for sample in reference_voice):
        is_list = False
    if not is_list:
        if batch_size != 1:
            raise ValueError(
                f"Got one reference voice for {batch_size} songs; pass a list with one entry (or None) per song."
            )
        voices = [reference_voice]
    else:
        voices = list(reference_voice)
        if len(voices) != batch_size:
            raise ValueError(
                f"Got {_count(len(voices), 'reference voice')} for {_count(batch_size, 'song')}; "
                "pass one entry (or None) per song."
            )
    if isinstance(sampling_rate, (list, tuple)):
        if len(sampling_rate) != batch_size:
            raise ValueError(
                f"sampling_rate has {_count(len(sampling_rate), 'entry', 'entries')} for {_count(batch_size, 'song')}; "
                "give one per song."
            )
        rates = list(sampling_rate)
    else:
        rates = [sampling_rate] * batch_size
    if all(voice is None for voice in voices):
        return None
    items = []
    for index, voice in enumerate(voices):
        if _is_array_with_rate(voice):  # the pair's own rate is the one that describes its samples
            voice, rates[index] = voice
        items.append(voice)
    return items, rates


__all__ = ["split_reference_voices"]
