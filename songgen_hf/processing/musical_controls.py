"""Tempo and key from a description's text, as the musical controls of models built with them.

Training and inference read them the same way, from the same words ("... in F# minor at 96 BPM"),
so a model never sees a control that its user could not have asked for.  An explicit value
(``tempo_bpm=...``, ``key="A minor"``) overrides the text.  Anything not found is "unknown"
(NaN tempo, key id 24): the model then behaves as when the control was dropped in training.
"""

from __future__ import annotations

import math
import re
from numbers import Real
from typing import Any, Sequence

from ..modeling.songgen.musical_controls import UNKNOWN_KEY, music_key_id

CONTROL_KEYS = ("tempo_bpm", "music_key_ids")
MIN_BPM, MAX_BPM = 20.0, 400.0

_TEMPO = re.compile(r"(?<![\d.])(\d{2,3}(?:\.\d+)?)\s*(?:-\s*)?(?:bpm|beats\s+per\s+minute)\b", re.IGNORECASE)
_ACCIDENTAL_AND_MODE = r"(#|♯|b|♭|\s*-?\s*sharp|\s*-?\s*flat)?\s*(major|minor|maj|min)\b(?!-)"
# A capital tonic anywhere; a lower-case one only after "in" or "key of" ("in a minor"), since
# "a minor setback" is not a key.
_KEY = re.compile(r"\b([A-G])" + _ACCIDENTAL_AND_MODE + r"|\b(?:in|key\s+of)\s+([a-g])" + _ACCIDENTAL_AND_MODE)
_NATURAL = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}


def parse_tempo_bpm(text: str) -> float | None:
    """The first "N BPM" (or "N beats per minute") in ``text`` with 20 <= N <= 400, else ``None``."""
    for match in _TEMPO.finditer(text or ""):
        value = float(match.group(1))
        if MIN_BPM <= value <= MAX_BPM:
            return value
    return None


def key_id_from_name(tonic: str, mode: str) -> int:
    """``("F#", "minor")`` -> its music key id (pitch class, +12 for minor)."""
    name = tonic.strip().replace("♯", "#").replace("♭", "b")
    if not name or name[0].upper() not in _NATURAL:
        raise ValueError(f"Unknown key tonic {tonic!r}; expected a note name such as 'C', 'F#' or 'Bb'.")
    pitch = _NATURAL[name[0].upper()]
    rest = name[1:].strip(" -").lower()
    if rest in ("#", "sharp"):
        pitch += 1
    elif rest in ("b", "flat"):
        pitch -= 1
    elif rest:
        raise ValueError(f"Unknown key tonic {tonic!r}; accidentals are '#', 'b', 'sharp' or 'flat'.")
    mode = mode.strip().lower()
    if mode not in ("major", "minor", "maj", "min"):
        raise ValueError(f"Unknown key mode {mode!r}; expected 'major' or 'minor'.")
    return music_key_id(pitch % 12, mode.startswith("min"))


def parse_music_key_id(text: str) -> int | None:
    """The first key named in ``text`` ("A minor", "Eb major", "F-sharp minor"), as an id, else ``None``."""
    match = _KEY.search(text or "")
    if match is None:
        return None
    tonic, accidental, mode = match.group(1, 2, 3) if match.group(1) else match.group(4, 5, 6)
    return key_id_from_name(tonic + (accidental or ""), mode)


def _per_song(value: Any, count: int, name: str) -> list:
    if value is None or isinstance(value, (str, Real)):
        return [value] * count
    values = list(value)
    if len(values) != count:
        raise ValueError(f"{name} has {len(values)} entries for {count} songs; give one per song (None = from the text).")
    return values


def _explicit_tempo(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise ValueError(f"tempo_bpm must be a number of beats per minute, got {value!r}.")
    if not MIN_BPM <= float(value) <= MAX_BPM:
        raise ValueError(f"tempo_bpm must lie in [{MIN_BPM:g}, {MAX_BPM:g}] beats per minute, got {value}.")
    return float(value)


def _explicit_key(value: Any) -> int:
    if not isinstance(value, str):
        raise ValueError(f"key must be a name such as 'A minor' or 'Eb major', got {value!r}.")
    parts = value.strip().rsplit(maxsplit=1)
    if len(parts) != 2:
        raise ValueError(f"key must name a tonic and a mode, such as 'A minor' or 'Eb major', got {value!r}.")
    return key_id_from_name(*parts)


def musical_controls(
    descriptions: Sequence[str],
    tempo_bpm: Any = None,
    key: Any = None,
    use_tempo: bool = True,
    use_key: bool = True,
) -> dict[str, list]:
    """``{"tempo_bpm": [...], "music_key_ids": [...]}`` for a batch (only the controls in use).

    ``tempo_bpm`` / ``key``: one value for every song or one per song; ``None`` entries are read
    from the description.  Unknown tempo is NaN, unknown key :data:`UNKNOWN_KEY`.
    """
    count = len(descriptions)
    controls: dict[str, list] = {}
    if use_tempo:
        given = _per_song(tempo_bpm, count, "tempo_bpm")
        parsed = [parse_tempo_bpm(text) if value is None else _explicit_tempo(value) for text, value in zip(descriptions, given)]
        controls["tempo_bpm"] = [float("nan") if value is None else value for value in parsed]
    elif tempo_bpm is not None:
        raise ValueError("tempo_bpm was given, but this model has no tempo control; put the tempo in the description.")
    if use_key:
        given = _per_song(key, count, "key")
        parsed = [parse_music_key_id(text) if value is None else _explicit_key(value) for text, value in zip(descriptions, given)]
        controls["music_key_ids"] = [UNKNOWN_KEY if value is None else value for value in parsed]
    elif key is not None:
        raise ValueError("key was given, but this model has no key control; put the key in the description.")
    return controls


__all__ = [
    "CONTROL_KEYS",
    "key_id_from_name",
    "musical_controls",
    "parse_music_key_id",
    "parse_tempo_bpm",
]
