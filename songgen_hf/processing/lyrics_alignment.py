"""Where in its lyrics a song is at each frame: the targets of the guided lyrics attention loss.

A song record may say when each syllable is sung: the synthetic corpus (``songgen data synth``) writes
``syllables``, ``note_onsets_s`` and ``note_durations_s`` into its ``attributes``, and any corpus with
syllable- or word-level timing can do the same.  For every codec frame in which a syllable sounds, the target is
the index of the lyric token (as :meth:`VoiceBpeTokenizer.frame_lyrics` numbers them) that holds the middle of that
syllable; frames where nothing is sung get NaN and are not guided.  ``modeling/songgen/lyrics_alignment.py``
says how the targets are used.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

TIMING_FIELDS = ("syllables", "note_onsets_s", "note_durations_s")


def syllable_timing(attributes: Any) -> dict[str, list] | None:
    """The syllables and their onsets and durations (seconds) from a record's ``attributes`` (a dict or its JSON),
    or None where the record has none or they disagree in length."""
    if isinstance(attributes, str):
        try:
            attributes = json.loads(attributes)
        except ValueError:
            return None
    if not isinstance(attributes, dict) or not all(isinstance(attributes.get(name), list) for name in TIMING_FIELDS):
        return None
    timing = {name: attributes[name] for name in TIMING_FIELDS}
    lengths = {len(values) for values in timing.values()}
    return timing if len(lengths) == 1 and lengths != {0} else None


def syllable_token_positions(tokenizer, lyrics: str, syllables: list[str], lang: str = "en") -> list[float]:
    """For each syllable, the index of the lyric token holding its middle character (NaN where the syllable is not
    found in order: the target is then left out rather than guessed).  Syllables are looked up in the cleaned
    lyrics from where the previous one ended, so a repeated word maps to its next occurrence."""
    cleaned, owner = tokenizer.char_token_indices(lyrics, lang)
    positions, cursor = [], 0
    for syllable in syllables:
        piece = tokenizer.clean(str(syllable), lang).strip()
        found = cleaned.find(piece, cursor) if piece else -1
        if found < 0:
            positions.append(math.nan)
            continue
        positions.append(float(owner[found + len(piece) // 2]))
        cursor = found + len(piece)
    return positions


def frame_targets(positions: list[float], onsets_s: list[float], durations_s: list[float], frame_rate: float,
                  num_frames: int, start_frame: int = 0) -> np.ndarray:
    """``(num_frames,)`` float32: the token position sung at each frame of a crop that starts ``start_frame`` frames
    into the song, NaN where nothing is sung.  A syllable covers the frames from its onset to its end."""
    targets = np.full(num_frames, np.nan, dtype=np.float32)
    for position, onset, duration in zip(positions, onsets_s, durations_s):
        if not math.isfinite(position):
            continue
        # frame k is [k, k + 1) / frame_rate; the tolerance keeps 0.3 s * 50 = 15.000000000000002 from adding a frame
        first = int(math.floor(float(onset) * frame_rate + 1e-6)) - start_frame
        last = int(math.ceil((float(onset) + float(duration)) * frame_rate - 1e-6)) - start_frame
        first, last = max(first, 0), min(last, num_frames)
        if first < last:
            targets[first:last] = position
    return targets


__all__ = ["TIMING_FIELDS", "frame_targets", "syllable_timing", "syllable_token_positions"]
