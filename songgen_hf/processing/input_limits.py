"""The processor's checks of its text and voice inputs against :mod:`songgen_hf.limits`.

They run before any tokenising or decoding and look only at lengths (a string's ``len``, an array's
shape, an audio file's header), so a request far over a limit costs nothing: a 100 000-character
description is refused before the tokenizer sees it, an hour-long reference voice before a sample is decoded.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from numbers import Real
from typing import Any

import numpy as np

from songgen_hf.limits import (
    MAX_DESCRIPTION_CHARS,
    MAX_DESCRIPTION_TOKENS,
    MAX_LYRICS_CHARS,
    MAX_REFERENCE_VOICE_SECONDS,
)
from songgen_hf.processing.reference_voices import _count


def _which(name: str, index: int, count: int) -> str:
    return f"{name} {index}" if count > 1 else f"The {name}"


def check_description_chars(descriptions: Sequence[str]) -> None:
    for index, text in enumerate(descriptions):
        if len(text) > MAX_DESCRIPTION_CHARS:
            raise ValueError(
                f"{_which('description', index, len(descriptions))} is {len(text):,} characters long; the limit is "
                f"{MAX_DESCRIPTION_CHARS:,} characters (songgen_hf.limits.MAX_DESCRIPTION_CHARS). Describe the song "
                "in a sentence or a short paragraph (genre, mood, instruments, voice, tempo, key); words to be "
                "sung go in the lyrics."
            )


def check_description_tokens(token_counts: Sequence[int]) -> None:
    for index, count in enumerate(token_counts):
        if count > MAX_DESCRIPTION_TOKENS:
            raise ValueError(
                f"{_which('description', index, len(token_counts))} is {count} tokens long; the limit is "
                f"{MAX_DESCRIPTION_TOKENS} tokens (songgen_hf.limits.MAX_DESCRIPTION_TOKENS). Shorten it to a "
                "sentence or a short paragraph, or pass truncation=True to cut it."
            )


def check_lyrics_chars(lyrics: Sequence[str]) -> None:
    for index, text in enumerate(lyrics):
        if len(text) > MAX_LYRICS_CHARS:
            raise ValueError(
                f"{f'Lyrics item {index} is' if len(lyrics) > 1 else 'The lyrics are'} {len(text):,} characters long; "
                f"the limit is {MAX_LYRICS_CHARS:,} characters "
                "(songgen_hf.limits.MAX_LYRICS_CHARS). Give the lyrics of one song, a few verses and a chorus."
            )


def text_batch(description: Any, lyrics: Any, single: bool = False) -> tuple[list[str], list[str]]:
    """Descriptions and lyrics as equal-length lists of str, within the length limits (no tokenizing).

    ``single``: exactly one song, each a ``str`` (:meth:`SongGenProcessor.interpret`).
    """
    if description is None:
        raise ValueError("SongGenProcessor needs a description (a text prompt per song).")
    if single and not isinstance(description, str):
        raise ValueError(f"description must be a str, got {type(description).__name__}.")
    if single and not isinstance(lyrics, str):
        raise ValueError(f"lyrics must be a str, got {type(lyrics).__name__}.")
    descriptions = _as_text_batch(description, "description")
    if lyrics is None:
        lyrics = [""] * len(descriptions)
    lyric_texts = _as_text_batch(lyrics, "lyrics")
    if len(lyric_texts) != len(descriptions):
        raise ValueError(
            f"Got {_count(len(descriptions), 'description')} but {_count(len(lyric_texts), 'lyric string')}; "
            "pass one of each per song (use '' for a song without lyrics)."
        )
    # Before anything else reads the text: a huge paste must cost nothing.
    check_description_chars(descriptions)
    check_lyrics_chars(lyric_texts)
    for index, (text, words) in enumerate(zip(descriptions, lyric_texts)):
        if not text.strip() and not words.strip():
            song = f"Song {index} has" if len(descriptions) > 1 else "Got"
            raise ValueError(
                f"{song} an empty description and empty lyrics; give a description (genre, mood, "
                "instruments, voice), lyrics, or both."
            )
    return descriptions, lyric_texts


def _as_text_batch(value: Any, name: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"{name} must be a str or a list of str, got {type(value).__name__}.")
    if not value:
        raise ValueError(f"{name} is an empty list; pass at least one song.")
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise ValueError(f"{name} item {index} is a {type(item).__name__}, not a str.")
    return list(value)


def reference_voice_seconds(item: Any, rate: Any) -> float | None:
    """A reference voice's length in seconds from its header or shape; ``None`` when it cannot be told
    cheaply (unreadable file, array without a rate): the feature extractor then gives its own error."""
    if item is None:
        return None
    if (
        isinstance(item, (str, os.PathLike))
        or isinstance(item, io.IOBase)
        or (hasattr(item, "read") and hasattr(item, "seek"))
    ):
        import soundfile as sf  # only here: text-only use of the processor does not need it

        try:
            if isinstance(item, (str, os.PathLike)):
                if not os.path.isfile(item):
                    return None
                info = sf.info(os.fspath(item))
            else:  # a file object: read the header, then put the position back for the real read
                position = item.tell()
                try:
                    info = sf.info(item)
                finally:
                    item.seek(position)
        except Exception:  # noqa: BLE001 - any unreadable header is reported by the feature extractor
            return None
        return float(info.frames) / float(info.samplerate) if info.samplerate else None
    if isinstance(rate, bool) or not isinstance(rate, Real) or not rate > 0:
        return None
    shape = getattr(item, "shape", None)
    if shape is None:
        try:
            shape = np.shape(item)
        except Exception:  # noqa: BLE001 - a ragged or odd object: the feature extractor names the problem
            return None
    shape = [int(size) for size in shape if int(size) != 1]
    if not shape:
        return None
    # (samples,), (channels, samples) or (samples, channels): the longest axis holds the samples.
    return max(shape) / float(rate)


def check_reference_voices(items: Sequence[Any], rates: Sequence[Any]) -> None:
    for index, (item, rate) in enumerate(zip(items, rates)):
        seconds = reference_voice_seconds(item, rate)
        if seconds is not None and seconds > MAX_REFERENCE_VOICE_SECONDS:
            where = f"Reference voice {index}" if len(items) > 1 else "The reference voice"
            raise ValueError(
                f"{where} is {seconds:,.1f} s long; the limit is {MAX_REFERENCE_VOICE_SECONDS:g} s "
                "(songgen_hf.limits.MAX_REFERENCE_VOICE_SECONDS). Cut a few seconds of clear singing from it "
                "(only a 3 s clip is used)."
            )


__all__ = [
    "check_description_chars",
    "check_description_tokens",
    "check_lyrics_chars",
    "check_reference_voices",
    "reference_voice_seconds",
    "text_batch",
]
