"""Keys, scales, chords and a syllable-aware melody generator.

Times inside this module are in *beats* (quarter notes); the caller converts to
seconds with the tempo.  Everything random takes an explicit
``numpy.random.Generator`` so a clip is a pure function of its seed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

PITCH_CLASS_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
MODES = ("major", "minor")
# Natural minor for "minor": a V (major) chord in a minor key is spelled with an
# upper-case numeral and so still gets its raised third from the chord quality.
SCALE_STEPS = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10)}

CHORD_INTERVALS = {
    "maj": (0, 4, 7),
    "min": (0, 3, 7),
    "dim": (0, 3, 6),
    "7": (0, 4, 7, 10),
    "maj7": (0, 4, 7, 11),
    "m7": (0, 3, 7, 10),
    "m7b5": (0, 3, 6, 10),
}
CHORD_SUFFIX = {"maj": "", "min": "m", "dim": "dim", "7": "7", "maj7": "maj7", "m7": "m7", "m7b5": "m7b5"}

# Eighth-note grid used for vocal rhythms.
SLOTS_PER_BEAT = 2
MIN_FINAL_RING_S = 0.8  # a song's closing tonic chord sounds at least this long


def pitch_class_name(pitch_class: int) -> str:
    return PITCH_CLASS_NAMES[pitch_class % 12]


def midi_to_hz(midi: float) -> float:
    return 440.0 * 2.0 ** ((midi - 69.0) / 12.0)


@dataclass(frozen=True)
class Key:
    tonic: int  # pitch class 0..11
    mode: str  # "major" | "minor"

    @property
    def tonic_name(self) -> str:
        return pitch_class_name(self.tonic)

    @property
    def name(self) -> str:
        return f"{self.tonic_name} {self.mode}"

    @property
    def scale_pitch_classes(self) -> tuple[int, ...]:
        return tuple((self.tonic + step) % 12 for step in SCALE_STEPS[self.mode])

    @property
    def relative(self) -> Key:
        """The key sharing this key's pitch classes (C major <-> A minor)."""
        if self.mode == "major":
            return Key((self.tonic + 9) % 12, "minor")
        return Key((self.tonic + 3) % 12, "major")


ALL_KEYS = tuple(Key(tonic, mode) for mode in MODES for tonic in range(12))


@dataclass(frozen=True)
class Chord:
    numeral: str  # roman numeral relative to the key, e.g. "vi" or "V7"
    root: int  # pitch class
    quality: str  # key of CHORD_INTERVALS

    @property
    def name(self) -> str:
        return pitch_class_name(self.root) + CHORD_SUFFIX[self.quality]

    @property
    def pitch_classes(self) -> tuple[int, ...]:
        return tuple((self.root + interval) % 12 for interval in CHORD_INTERVALS[self.quality])

    @property
    def intervals(self) -> tuple[int, ...]:
        return CHORD_INTERVALS[self.quality]


_NUMERAL_RE = re.compile(r"^(b|#)?(VII|VI|V|IV|III|II|I|vii|vi|v|iv|iii|ii|i)(maj7|m7b5|7|dim)?$")
_DEGREES = ("i", "ii", "iii", "iv", "v", "vi", "vii")


def parse_numeral(numeral: str, key: Key) -> Chord:
    """Resolve a roman numeral against ``key``.

    Degrees count along the key's own scale (so in A minor ``VI`` is F and
    ``III`` is C); the numeral's case picks major vs minor quality, a suffix
    (``7``, ``maj7``, ``m7b5``, ``dim``) refines it, and ``b``/``#`` alter the root.
    """
    match = _NUMERAL_RE.match(numeral)
    if match is None:
        raise ValueError(f"cannot parse chord numeral {numeral!r}")
    accidental, degree_text, suffix = match.groups()
    degree = _DEGREES.index(degree_text.lower())
    root = key.tonic + SCALE_STEPS[key.mode][degree]
    root += {"b": -1, "#": 1, None: 0}[accidental]
    upper = degree_text.isupper()
    if suffix == "7":
        quality = "7" if upper else "m7"
    elif suffix in ("maj7", "m7b5", "dim"):
        quality = suffix
    else:
        quality = "maj" if upper else "min"
    return Chord(numeral=numeral, root=root % 12, quality=quality)


def tonic_numeral(key: Key) -> str:
    return "I" if key.mode == "major" else "i"


# --------------------------------------------------------------------------- melody


@dataclass(frozen=True)
class MelodyNote:
    start_beat: float
    duration_beats: float
    midi: int


@dataclass(frozen=True)
class Phrase:
    """One lyric line sung over ``num_bars`` bars starting at ``start_bar``."""

    start_bar: int
    num_bars: int
    num_syllables: int


def phrase_slot_capacity(num_bars: int, beats_per_bar: int) -> int:
    """Most syllables a phrase can carry: one eighth-note slot each, minus a
    trailing rest and a held final note (why: lines should breathe)."""
    return num_bars * beats_per_bar * SLOTS_PER_BEAT - 2


def _phrase_rhythm(
    rng: np.random.Generator, num_syllables: int, num_slots: int, beats_per_bar: int
) -> list[tuple[int, int]]:
    """Return ``(onset_slot, length_slots)`` for each syllable of a phrase."""
    usable = num_slots - 1  # keep one eighth of silence before the next line
    capacity = usable - 1
    if not 1 <= num_syllables <= capacity:
        raise ValueError(f"{num_syllables} syllables do not fit {num_slots} slots")
    # A pickup rest (start on beat 2) when there is room makes phrasing less square.
    start = SLOTS_PER_BEAT if (capacity - num_syllables >= 3 and rng.random() < 0.3) else 0
    last_possible_onset = usable - 2  # the final note lasts at least a quarter
    candidates = np.arange(start + 1, last_possible_onset + 1)
    needed = num_syllables - 1
    if needed > len(candidates):  # pickup made it too tight: fall back to a downbeat start
        start = 0
        candidates = np.arange(1, last_possible_onset + 1)
    slots_per_bar = beats_per_bar * SLOTS_PER_BEAT
    weights = np.where(candidates % slots_per_bar == 0, 4.0, np.where(candidates % SLOTS_PER_BEAT == 0, 3.0, 1.0))
    chosen = rng.choice(candidates, size=needed, replace=False, p=weights / weights.sum()) if needed else []
    onsets = [start] + sorted(int(slot) for slot in chosen)
    ends = onsets[1:] + [usable]
    return [(onset, end - onset) for onset, end in zip(onsets, ends)]


def _choose_pitch(
    rng: np.random.Generator,
    previous: int,
    chord: Chord,
    key: Key,
    register: tuple[int, int],
    strong: bool,
    required_pitch_classes: tuple[int, ...] | None = None,
) -> int:
    low, high = register
    center = (low + high) / 2.0
    allowed = set(key.scale_pitch_classes) | set(chord.pitch_classes)
    if required_pitch_classes:
        allowed = set(required_pitch_classes)
    candidates = np.array([m for m in range(low, high + 1) if m % 12 in allowed])
    distance = np.abs(candidates - previous)
    # Singable lines move mostly by step; leaps beyond a fifth are rare.
    weights = np.exp(-distance / 2.5) * np.exp(-((candidates - center) ** 2) / (2 * 6.0**2))
    weights[distance == 0] *= 0.6
    weights[distance > 7] *= 0.1
    in_chord = np.isin(candidates % 12, chord.pitch_classes)
    weights *= np.where(in_chord, 4.0 if strong else 1.5, 0.4 if strong else 1.0)
    return int(rng.choice(candidates, p=weights / weights.sum()))


def generate_melody(
    rng: np.random.Generator,
    key: Key,
    bar_chords: list[Chord],
    phrases: list[Phrase],
    beats_per_bar: int,
    register: tuple[int, int],
) -> list[MelodyNote]:
    """One note per syllable, in key, chord tones on strong beats, phrases on the bar grid.

    Each phrase ends on a held chord tone; the last phrase resolves to the tonic.
    """
    notes: list[MelodyNote] = []
    previous = int(round((register[0] + register[1]) / 2))
    slots_per_bar = beats_per_bar * SLOTS_PER_BEAT
    for phrase_index, phrase in enumerate(phrases):
        rhythm = _phrase_rhythm(rng, phrase.num_syllables, phrase.num_bars * slots_per_bar, beats_per_bar)
        for note_index, (onset, length) in enumerate(rhythm):
            bar = phrase.start_bar + onset // slots_per_bar
            chord = bar_chords[min(bar, len(bar_chords) - 1)]
            strong = onset % SLOTS_PER_BEAT == 0
            is_phrase_end = note_index == len(rhythm) - 1
            required = None
            if is_phrase_end:
                last_phrase = phrase_index == len(phrases) - 1
                required = (key.tonic,) if last_phrase else chord.pitch_classes
            pitch = _choose_pitch(rng, previous, chord, key, register, strong or is_phrase_end, required)
            start_beat = phrase.start_bar * beats_per_bar + onset / SLOTS_PER_BEAT
            notes.append(MelodyNote(start_beat, length / SLOTS_PER_BEAT, pitch))
            previous = pitch
    return notes
