"""Tempo, key and arrangement read from a description's words: the musical controls of the models that have them.

The data pipeline and the processor both import these readers, so they stand apart from the processor; the
phrasings each reader takes are told below.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from numbers import Real
from typing import Any

from songgen_hf.modeling.limits import is_number
from songgen_hf.modeling.songgen.configuration_songgen import UNKNOWN_KEY, arrangement_id, music_key_id

# Tempo and key from a description's text, as the musical controls of models built with them.
#
# Training and inference read them the same way, from the same words ("... in F# minor at 96 BPM"),
# so a model never sees a control that its user could not have asked for.  An explicit value
# (``tempo_bpm=...``, ``key="A minor"``) overrides the text.  Anything not found is "unknown"
# (NaN tempo, key id 24): the model then behaves as when the control was dropped in training.
#
# Two modes.  *Lenient* (training captions, the default of the ``parse_*`` helpers) skips what it
# cannot use.  *Strict* (what a user typed, through the processor) refuses a tempo outside
# [MIN_BPM, MAX_BPM] and a key that is clearly meant but does not exist ("in H# major"), so that a
# request is never turned silently into "unknown".
#
# Tempo phrasings: "120 bpm", "120bpm", "120-BPM", "120 b.p.m.", "120 beats per minute / a minute /
# /min", "tempo of 120", "tempo: 120", "BPM: 120", "120-130 bpm" / "120 to 130 bpm" / "between 120
# and 130 bpm" (the range's middle).
#
# Key phrasings: a tonic A-G in any case, an accidental ("#", "♯", "b", "♭", "sharp", "flat", with or
# without "-"), and a mode ("major", "minor", "maj", "min", any case, or "m" glued to a capital tonic:
# "Am", "F#m", "Bbm"); after "key of" / "key:" / "key is" the mode may be left out (then major).
# The rule that keeps ordinary English out: the letter "a" is also an article, so a tonic "a"/"A"
# with a spelled-out mode and no accidental ("a minor", "A major") is a key only when the words
# around it say so -- after "key of"/"key:"; as a capital "A" after "in" or inside a sentence; or
# when nothing but punctuation, the end, or a joining word ("at", "with", "and"...) follows (not a
# noun: "a minor mood", "A major hit song", "a minor setback" are not keys).  "in a minor key" is
# the English idiom "in some minor key", not A minor.  Other tonics (B-G), attached accidentals,
# hyphens ("a-minor") and the "Am" form are never English words and always count.

CONTROL_KEYS = ("tempo_bpm", "music_key_ids", "arrangement_ids")
MIN_BPM, MAX_BPM = 20.0, 400.0

# ---------------------------------------------------------------------------------------- tempo
_NUMBER = r"(\d{1,3}(?:,\d{3})+(?![\d])|\d+(?:\.\d+)?)"
# A sign glued to the number makes it negative ("-5 bpm"), but "120-130" is a range, so the sign
# counts only where no word character precedes it.
_SIGNED = r"(?<![\w.,])([-−]?)" + _NUMBER
_UNIT = r"(?:bpms?|b\.\s?p\.\s?m\.?|beats?\s*(?:(?:per|a|an|each|every)\s+|/\s*)min(?:ute)?s?)(?![a-z])"
_RANGE_SEP = r"\s*(?:-|–|—|~|to)\s*"
_TEMPO_PATTERNS = (
    # "120-130 bpm", "120 bpm to 130 bpm": the middle of the range
    re.compile(_SIGNED + r"\s*(?:" + _UNIT + r")?" + _RANGE_SEP + _NUMBER + r"\s*-?\s*" + _UNIT, re.IGNORECASE),
    re.compile(
        r"\bbetween\s+" + _SIGNED + r"\s*(?:" + _UNIT + r")?\s*and\s+" + _NUMBER + r"\s*-?\s*" + _UNIT, re.IGNORECASE
    ),
    # "120 bpm", "120-BPM", "120 beats/min"
    re.compile(_SIGNED + r"\s*-?\s*" + _UNIT, re.IGNORECASE),
    # "tempo of 120", "BPM: 120", "tempo: 120-130"; not "up-tempo 90s", "mid-tempo 2-step", "tempo: 4/4"
    re.compile(
        r"(?<![\w-])(?:tempo|bpm)\s*((?:(?:[:=~≈]|\bof\b|\bis\b|\bat\b|\baround\b|\babout\b|\broughly\b|"
        r"\bapprox(?:imately|\.)?)\s*){0,3})" + r"([-−]?)" + _NUMBER + r"(?:" + _RANGE_SEP + _NUMBER + r")?"
        r"(?![\w'’]|\s*-\s*[a-z]|\s*[/:]\s*\d)",  # nor a time signature: "tempo: 4/4"
        re.IGNORECASE,
    ),
)


def _number(text: str) -> float:
    return float(text.replace(",", ""))


def _tempo_candidates(text: str) -> list[tuple[int, float, str, bool]]:
    """Every tempo phrase as ``(start, bpm, phrase, definite)``, leftmost first.

    ``definite`` is False only for a bare "tempo N" (no unit, no "of"/":"), whose out-of-range
    number may be something else ("tempo 2 step") and is then skipped rather than refused.
    """
    found = []
    for index, pattern in enumerate(_TEMPO_PATTERNS):
        for match in pattern.finditer(text):
            groups = match.groups()
            if index == 3:
                connector, sign, low, high = groups
                definite = bool(connector.strip()) or bool(high)
            else:
                sign, low, high = groups[0], groups[1], groups[2] if index < 2 else None
                definite = True
            values = [_number(low)] + ([_number(high)] if high else [])
            if sign:
                values[0] = -values[0]
            bpm = sum(values) / len(values)
            if any(not MIN_BPM <= value <= MAX_BPM for value in values):
                bpm = min(values, key=lambda value: MIN_BPM <= value <= MAX_BPM)  # the offending end
            found.append((match.start(), bpm, match.group(0).strip(), definite))
    found.sort(key=lambda item: (item[0], -len(item[2])))
    return found


def read_tempo(text: str, strict: bool = False) -> float | None:
    """The first tempo named in ``text`` (beats per minute), else ``None``.

    Lenient: phrases outside [MIN_BPM, MAX_BPM] are skipped.  Strict: the first such phrase
    raises a ``ValueError`` naming the range.
    """
    for _, bpm, phrase, definite in _tempo_candidates(text or ""):
        if MIN_BPM <= bpm <= MAX_BPM:
            return bpm
        if strict and definite:
            raise ValueError(
                f"The description asks for a tempo of {bpm:g} BPM ({phrase!r}), outside the range this model "
                f"knows, [{MIN_BPM:g}, {MAX_BPM:g}] BPM. Give a tempo between {MIN_BPM:g} and {MAX_BPM:g} BPM "
                "(or leave it out)."
            )
    return None


def parse_tempo_bpm(text: str) -> float | None:
    """The first tempo in ``text`` within [MIN_BPM, MAX_BPM] (lenient :func:`read_tempo`), else ``None``."""
    return read_tempo(text, strict=False)


# ------------------------------------------------------------------------------------------ key
_NATURAL = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_SHARP_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
_FLAT_NAMES = ("C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B")
_KEY_CANDIDATE = re.compile(
    r"(?<![\w'’#♯♭])(?P<tonic>[A-Za-z])"
    r"(?:(?P<attached>[#♯♭]|b(?=m(?![a-z])|maj|min|(?i:\s*-?\s*(?:major|minor|maj|min))(?![a-z])|[^A-Za-z]|$))"
    r"|(?P<spelled>(?i:\s*-\s*|\s+)(?i:sharp|flat)))?"
    r"(?:(?P<separator>\s*-\s*|\s+|)(?P<mode>(?i:major|minor|maj|min))\.?(?![A-Za-z])"
    r"|(?P<m>m)(?![\w'’]))?"
    r"(?![A-Za-z])"
)
# A cue right before the tonic: "key of", "key:", "key is", "tonality:" (strong); "in" (weak).
_STRONG_CUE = re.compile(r"(?i)(?<![\w-])(?:key|tonality)(?:\s*[:=]\s*|\s+(?:of|is|=|in)\s+)$")
_IN_CUE = re.compile(r"(?i)(?<![\w-])in\s+$")
_SENTENCE_END = re.compile(r"(?:[.!?;\n(\[\"“‘]|\s[-–—]\s)\s*$")
_CONTEXT = 40  # characters looked at before a key: the cues are short, and a long text stays linear
_ENDS = re.compile(r"\s*(?:$|[,.;:!?)\]}/|&+]|[-–—]{1,2}\s)")
_JOINING = re.compile(
    r"\s+(?:at|with|and|or|but|featuring|feat|ft|in|on|over|for|from|to|by|around|about|plus|using|"
    r"tempo|bpm|\d)(?![a-z])",
    re.IGNORECASE,
)
_KEY_WORDS = re.compile(r"\s*-?\s*(?:key|keys|scale|tonality|mode)(?![a-z])", re.IGNORECASE)


def key_name(tonic: str, accidental: str, minor: bool) -> str:
    """Canonical name of a key: ``("e", "sharp", True)`` -> ``"F minor"``, ``("B", "b", False)`` -> ``"Bb major"``."""
    pitch = _pitch_class(tonic, accidental)
    kind = _accidental_kind(accidental)
    names = _SHARP_NAMES if kind == "sharp" else _FLAT_NAMES if kind == "flat" else None
    name = names[pitch] if names else tonic.upper()
    return f"{name} {'minor' if minor else 'major'}"


def _accidental_kind(accidental: str) -> str | None:
    accidental = (accidental or "").strip(" -").lower()
    if accidental in ("#", "♯", "sharp"):
        return "sharp"
    if accidental in ("b", "♭", "flat"):
        return "flat"
    if accidental:
        raise ValueError(f"Unknown accidental {accidental!r}; use '#', 'b', 'sharp' or 'flat'.")
    return None


def _pitch_class(tonic: str, accidental: str) -> int:
    if tonic.upper() not in _NATURAL:
        raise ValueError(f"Unknown key tonic {tonic!r}; expected a note name such as 'C', 'F#' or 'Bb'.")
    shift = {"sharp": 1, "flat": -1, None: 0}[_accidental_kind(accidental)]
    return (_NATURAL[tonic.upper()] + shift) % 12


def key_id_from_name(tonic: str, mode: str) -> int:
    """``("F#", "minor")`` -> its music key id (pitch class, +12 for minor)."""
    name = tonic.strip()
    if not name:
        raise ValueError(f"Unknown key tonic {tonic!r}; expected a note name such as 'C', 'F#' or 'Bb'.")
    pitch = _pitch_class(name[0], name[1:])
    mode = mode.strip().lower()
    if mode not in ("major", "minor", "maj", "min"):
        raise ValueError(f"Unknown key mode {mode!r}; expected 'major' or 'minor'.")
    return music_key_id(pitch, mode.startswith("min"))


def _key_meant(match: re.Match, text: str) -> bool:
    """Whether a key-shaped match is a key and not English ("a minor mood"); see the module docstring."""
    tonic, before, after = match["tonic"], _before(match, text), text[match.end() : match.end() + _CONTEXT]
    strong_cue = bool(_STRONG_CUE.search(before))
    if match["mode"] is None and match["m"] is None:  # a bare note name is a key only after "key of"/"key:"
        return strong_cue and bool(_ENDS.match(after) or _JOINING.match(after))
    if match["m"] is not None and not (tonic.isupper() or strong_cue):
        return False  # "am" is a verb; only "Am" (or "key: am") names A minor
    ambiguous = (
        tonic in "aA"
        and not match["attached"]
        and "-" not in (match["separator"] or "")
        and match["m"] is None
        and not (tonic == "A" and match["spelled"])
    )
    if not ambiguous or strong_cue:
        return True
    at_start = bool(_SENTENCE_END.search(before)) or (match.start() <= _CONTEXT and not before.strip())
    if tonic == "A" and (_IN_CUE.search(before) or not at_start):
        return True  # an article after "in" or inside a sentence would be lower case
    if _ENDS.match(after):
        return True
    if _IN_CUE.search(before) or tonic == "A":
        return bool(_JOINING.match(after) or (tonic == "A" and _KEY_WORDS.match(after)))
    return False


def _before(match: re.Match, text: str) -> str:
    return text[max(0, match.start() - _CONTEXT) : match.start()]


def _refuse_key(match: re.Match, text: str, reason: str) -> None:
    raise ValueError(
        f"The description names a key this model does not know: {match.group(0).strip()!r} ({reason}). "
        "Use a tonic A-G with an optional #/b and major or minor, e.g. 'F# minor' or 'Bb major' (or leave it out)."
    )


def read_key(text: str, strict: bool = False) -> tuple[int, str] | None:
    """The first key named in ``text`` as ``(music key id, canonical name)``, else ``None``.

    Strict: a key that is clearly meant but invalid ("in H# major", "key: X") raises ``ValueError``;
    lenient skips it.
    """
    return next(_keys(text or "", strict), None)


def _keys(text: str, strict: bool):
    """Every key named in ``text``, leftmost first, as :func:`read_key` reads the first."""
    for match in _KEY_CANDIDATE.finditer(text):
        if match["tonic"].upper() not in _NATURAL:
            before = _before(match, text)
            clearly_meant = match["mode"] is not None and (
                match["attached"] or match["spelled"] or _IN_CUE.search(before) or _STRONG_CUE.search(before)
            )
            bare_after_cue = match["mode"] is None and match["m"] is None and _key_meant(match, text)
            if strict and (clearly_meant or bare_after_cue):
                _refuse_key(match, text, f"{match['tonic']!r} is not a note name")
            continue
        if not _key_meant(match, text):
            continue
        accidental = match["attached"] or match["spelled"] or ""
        minor = match["m"] is not None or (match["mode"] or "major").lower().startswith("min")
        pitch = _pitch_class(match["tonic"], accidental)
        yield music_key_id(pitch, minor), key_name(match["tonic"], accidental, minor)


def parse_music_key_id(text: str) -> int | None:
    """The first key named in ``text`` ("A minor", "Eb major", "F-sharp minor", "F#m"), as an id, else ``None``."""
    found = read_key(text, strict=False)
    return None if found is None else found[0]


# ---------------------------------------------------------------------------------- arrangement
# Whether a song has vocals and drums, as people write it: "instrumental", "no vocals", "without
# drums or percussion", "drumless" say without; "female vocals", "a male singer", "a steady drum
# beat" say with; a part not mentioned is not said.  A negation covers a list of parts only when
# the list is nothing but parts ("no vocals or drums"); "no drums and female vocals" negates the
# drums alone.
_VOCAL_NOUN = r"(?:lead\s+|backing\s+)?(?:vocals?|voices?|singing|singers?|vocalists?|lyrics|choir|rapping|rap)"
_DRUM_NOUN = r"(?:drums?|drumming|percussion|drum\s+(?:kit|beat|machine|loop)s?)"
_PART = rf"(?:{_VOCAL_NOUN}|{_DRUM_NOUN})"
_NEGATED_PARTS = re.compile(
    rf"\b(?:no|without|zero|not?\s+any|free\s+of)\s+(?:any\s+)?"
    rf"({_PART}(?:\s*(?:,|/|\bor\b|\band\b|\bnor\b)\s*(?:any\s+)?{_PART})*)\b",
    re.IGNORECASE,
)
_NO_VOCALS = re.compile(r"\b(?:instrumental|vocal-?less|non-?vocal|no-?vocals?)\b", re.IGNORECASE)
_NO_DRUMS = re.compile(r"\b(?:drum-?less|percussion-?less|no-?drums?)\b", re.IGNORECASE)
_VOCALS = re.compile(rf"\b(?:{_VOCAL_NOUN}|sung|sings|vocal|a\s+cappella)\b", re.IGNORECASE)
_DRUMS = re.compile(rf"\b(?:{_DRUM_NOUN}|drummer|percussive|breakbeats?)\b", re.IGNORECASE)
_IS_VOCAL = re.compile(rf"^{_VOCAL_NOUN}$", re.IGNORECASE)


def read_arrangement(text: str) -> tuple[bool | None, bool | None]:
    """``(vocals, drums)`` asked for in ``text``: True (with), False (without) or None (not said).

    A part both negated and named ("instrumental ... a voice-like lead") counts as without: the
    negation is the more deliberate request."""
    text = text or ""
    vocals = drums = None
    for match in _NEGATED_PARTS.finditer(text):
        for part in re.split(r"\s*(?:,|/|\bor\b|\band\b|\bnor\b)\s*", match.group(1), flags=re.IGNORECASE):
            part = re.sub(r"^any\s+", "", part.strip(), flags=re.IGNORECASE)
            if _IS_VOCAL.match(part):
                vocals = False
            elif part:
                drums = False
    if _NO_VOCALS.search(text):
        vocals = False
    if _NO_DRUMS.search(text):
        drums = False
    rest = _NO_DRUMS.sub(" ", _NO_VOCALS.sub(" ", _NEGATED_PARTS.sub(" ", text)))
    if vocals is None and _VOCALS.search(rest):
        vocals = True
    if drums is None and _DRUMS.search(rest):
        drums = True
    return vocals, drums


def parse_arrangement_id(text: str) -> int:
    """The arrangement id (:func:`~songgen_hf.modeling.songgen.modeling_songgen.arrangement_id`) of ``text``."""
    return arrangement_id(*read_arrangement(text))


# ------------------------------------------------------------------------------ explicit values
def _per_song(value: Any, count: int, name: str) -> list:
    if value is None or isinstance(value, (str, Real)):
        return [value] * count
    values = list(value)
    if len(values) != count:
        raise ValueError(
            f"{name} has {len(values)} entries for {count} songs; give one per song (None = from the text)."
        )
    return values


def _explicit_tempo(value: Any) -> float:
    if not is_number(value, finite=True):
        raise ValueError(f"tempo_bpm must be a number of beats per minute, got {value!r}.")
    if not MIN_BPM <= float(value) <= MAX_BPM:
        raise ValueError(f"tempo_bpm must lie in [{MIN_BPM:g}, {MAX_BPM:g}] beats per minute, got {value}.")
    return float(value)


_EXPLICIT_KEY = re.compile(r"\s*([A-Za-z])([#♯♭b]|\s*-?\s*(?i:sharp|flat))?(?:(m)|\s*-?\s*(\S+))\s*")


def explicit_key(value: Any) -> tuple[int, str]:
    """A key given as an argument ("A minor", "F#m", "E-flat major", "Bb min") as ``(id, canonical name)``."""
    if not isinstance(value, str):
        raise ValueError(f"key must be a name such as 'A minor' or 'Eb major', got {value!r}.")
    match = _EXPLICIT_KEY.fullmatch(value)
    if match is None:
        raise ValueError(f"key must name a tonic and a mode, such as 'A minor' or 'Eb major', got {value!r}.")
    tonic, accidental, m_form, mode = match.groups()
    mode = "minor" if m_form else mode
    key_id = key_id_from_name(tonic + (accidental or "").strip(" -"), mode)
    return key_id, key_name(tonic, accidental or "", key_id >= 12)


def _explicit_key(value: Any) -> int:
    return explicit_key(value)[0]


def interpret_controls(description: str, tempo_bpm: Any = None, key: Any = None) -> dict[str, Any]:
    """What one song asks for: ``tempo_bpm``/``tempo_source``, ``key``/``key_source`` (strict reading),
    and ``vocals`` / ``drums`` (True, False or None: :func:`read_arrangement`).

    A source is ``"argument"`` for an explicit value, ``"description"`` when read from the text,
    ``None`` when nothing was asked.
    """
    if tempo_bpm is not None:
        tempo, tempo_source = _explicit_tempo(tempo_bpm), "argument"
    else:
        tempo = read_tempo(description, strict=True)
        tempo_source = None if tempo is None else "description"
    if key is not None:
        key_name_, key_source = explicit_key(key)[1], "argument"
    else:
        found = read_key(description, strict=True)
        key_name_, key_source = (None, None) if found is None else (found[1], "description")
    vocals, drums = read_arrangement(description)
    return {
        "tempo_bpm": tempo,
        "tempo_source": tempo_source,
        "key": key_name_,
        "key_source": key_source,
        "vocals": vocals,
        "drums": drums,
    }


def musical_controls(
    descriptions: Sequence[str],
    tempo_bpm: Any = None,
    key: Any = None,
    use_tempo: bool = True,
    use_key: bool = True,
    strict: bool = False,
    use_arrangement: bool = False,
) -> dict[str, list]:
    """``{"tempo_bpm": [...], "music_key_ids": [...], "arrangement_ids": [...]}`` for a batch (only the
    controls in use; the arrangement is always read from the text).

    ``tempo_bpm`` / ``key``: one value for every song or one per song; ``None`` entries are read
    from the description.  Unknown tempo is NaN, unknown key :data:`UNKNOWN_KEY`.  ``strict``
    (user input) refuses out-of-range or invalid readings, even for a control the model lacks,
    so that what a user asks for is judged the same whatever the model.
    """
    count = len(descriptions)
    controls: dict[str, list] = {}
    if use_tempo:
        given = _per_song(tempo_bpm, count, "tempo_bpm")
        parsed = [
            read_tempo(text, strict) if value is None else _explicit_tempo(value)
            for text, value in zip(descriptions, given)
        ]
        controls["tempo_bpm"] = [float("nan") if value is None else value for value in parsed]
    elif tempo_bpm is not None:
        raise ValueError("tempo_bpm was given, but this model has no tempo control; put the tempo in the description.")
    elif strict:
        for text in descriptions:
            read_tempo(text, strict=True)
    if use_key:
        given = _per_song(key, count, "key")
        parsed = [
            (None if (found := read_key(text, strict)) is None else found[0]) if value is None else _explicit_key(value)
            for text, value in zip(descriptions, given)
        ]
        controls["music_key_ids"] = [UNKNOWN_KEY if value is None else value for value in parsed]
    elif key is not None:
        raise ValueError("key was given, but this model has no key control; put the key in the description.")
    elif strict:
        for text in descriptions:
            read_key(text, strict=True)
    if use_arrangement:
        controls["arrangement_ids"] = [parse_arrangement_id(text) for text in descriptions]
    return controls


__all__ = [
    "CONTROL_KEYS",
    "explicit_key",
    "interpret_controls",
    "key_id_from_name",
    "key_name",
    "MAX_BPM",
    "MIN_BPM",
    "musical_controls",
    "parse_arrangement_id",
    "parse_music_key_id",
    "parse_tempo_bpm",
    "read_arrangement",
    "read_key",
    "read_tempo",
]
