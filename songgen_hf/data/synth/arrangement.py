"""Accompaniment arrangement: chords, bass, pad and GM drums as MIDI notes.

Every bar plays one chord.  Patterns are small bar-level generators selected by the
genre table in :mod:`.styles`; the last bar always rings out on the tonic chord so
that the key is audible even in a short clip.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from songgen_hf.data.synth.midi import DRUM_CHANNEL, MidiNote
from songgen_hf.modeling.music import Chord

CHORD_CHANNEL, BASS_CHANNEL, PAD_CHANNEL = 0, 1, 2

KICK, SIDE_STICK, SNARE, CLAP, CLOSED_HAT, PEDAL_HAT, OPEN_HAT, CRASH, RIDE, TAMBOURINE = (
    36,
    37,
    38,
    39,
    42,
    44,
    46,
    49,
    51,
    54,
)
# hand percussion: only the calypso style outside the corpora plays it
COWBELL, HIGH_CONGA, LOW_CONGA, MARACAS, CLAVES = 56, 63, 64, 70, 75
# wood blocks and a triangle: only the harp_five style outside the corpora plays them
HIGH_WOOD_BLOCK, LOW_WOOD_BLOCK, OPEN_TRIANGLE = 76, 77, 81

# Drum grooves on a sixteenth-note grid of one 4/4 bar: drum -> [(slot, velocity)].
_EIGHTH_HATS = [(slot, 78 if slot % 4 == 0 else 60) for slot in range(0, 16, 2)]
DRUM_PATTERNS_4_4 = {
    "pop": {KICK: [(0, 110), (7, 70), (8, 100)], SNARE: [(4, 105), (12, 105)], CLOSED_HAT: _EIGHTH_HATS},
    "rock": {
        KICK: [(0, 120), (6, 90), (8, 115), (10, 80)],
        SNARE: [(4, 120), (12, 120)],
        CLOSED_HAT: [(slot, 90) for slot in range(0, 16, 2)],
    },
    "ballad": {
        KICK: [(0, 90), (8, 70)],
        SIDE_STICK: [(4, 80), (12, 80)],
        CLOSED_HAT: [(slot, 50) for slot in range(0, 16, 4)],
    },
    "swing": {
        RIDE: [(0, 85), (4, 80), (6, 60), (8, 85), (12, 80), (14, 60)],
        PEDAL_HAT: [(4, 70), (12, 70)],
        KICK: [(0, 60)],
    },
    "shuffle": {KICK: [(0, 105), (8, 100)], SNARE: [(4, 105), (12, 105)], CLOSED_HAT: _EIGHTH_HATS},
    "four_on_floor": {
        KICK: [(0, 120), (4, 120), (8, 120), (12, 120)],
        CLAP: [(4, 100), (12, 100)],
        OPEN_HAT: [(2, 75), (6, 75), (10, 75), (14, 75)],
    },
    "folk": {
        KICK: [(0, 90), (8, 80)],
        TAMBOURINE: [(4, 75), (12, 75)],
        CLOSED_HAT: [(slot, 45) for slot in range(2, 16, 4)],
    },
    # a tresillo (3 + 3 + 2 sixteenths) on cowbell and claves over congas: a groove no corpus genre has
    "calypso": {
        KICK: [(0, 95), (8, 90)],
        COWBELL: [(0, 85), (6, 75), (12, 80)],
        CLAVES: [(3, 70), (10, 70)],
        LOW_CONGA: [(4, 80), (7, 70), (12, 85), (15, 70)],
        HIGH_CONGA: [(2, 70), (6, 65), (10, 70), (14, 65)],
        MARACAS: [(slot, 50 if slot % 2 else 62) for slot in range(16)],
    },
}
# A 12/8 bar on its triplet-eighth grid (three slots to the beat): kick on 1 and 3 with a pickup before 3, the
# backbeat on 2 and 4, the hi-hat on every triplet eighth, loudest on the beat
DRUM_PATTERNS_12_8 = {
    "twelve_eight": {
        KICK: [(0, 110), (5, 70), (6, 100)],
        SNARE: [(3, 105), (9, 105)],
        CLOSED_HAT: [(slot, 80 if slot % 3 == 0 else 58) for slot in range(12)],
    },
}
TRIPLET_SLOTS = 3
# A 5/4 bar on its sixteenth grid, grouped three beats and two: the low block opens each group, the high block
# plays the other beats and the triangle rings once a bar
DRUM_PATTERNS_5_4 = {
    "five_four": {
        LOW_WOOD_BLOCK: [(0, 100), (12, 92)],
        HIGH_WOOD_BLOCK: [(4, 70), (8, 70), (16, 74), (10, 52), (18, 52)],
        OPEN_TRIANGLE: [(0, 62)],
    },
}
# where a 5/4 bar's second group begins (in beats): the three_two chord and bass patterns play on both groups
FIVE_FOUR_GROUP = 3
# Twelve sixteenths of a 3/4 bar.
DRUM_PATTERN_3_4 = {
    KICK: [(0, 100)],
    SIDE_STICK: [(4, 70), (8, 70)],
    CLOSED_HAT: [(slot, 55) for slot in range(0, 12, 2)],
}


@dataclass(frozen=True)
class Arrangement:
    chord_program: int
    chord_pattern: str
    bass_program: int
    bass_pattern: str
    pad_program: int | None
    drums: bool
    drum_pattern: str
    swing: bool
    base_velocity: int
    # Corpus v3's slow songs: chords, bass and drums play on the beat only.  An off-beat eighth at 60 BPM is
    # a beat at 120, and with one in every part the song reads (and is learnt) at double tempo.
    on_beat: bool = False
    # 12/8: the drums on the triplet grid (DRUM_PATTERNS_12_8)
    triplets: bool = False


def _swung(beat_offset: float, swing: bool) -> float:
    """Delay off-beat eighths to the last triplet of the beat when swinging."""
    whole = np.floor(beat_offset)
    if swing and abs(beat_offset - whole - 0.5) < 1e-6:
        return whole + 2.0 / 3.0
    return beat_offset


def _voicing(chord: Chord, previous_center: float, low: int = 50, high: int = 72) -> list[int]:
    """Close-position voicing whose centre moves least from the previous chord."""
    best, best_cost = None, None
    for bottom in range(low, high - 11):
        tones = sorted(bottom + (pc - bottom) % 12 for pc in chord.pitch_classes)
        cost = abs(float(np.mean(tones)) - previous_center)
        if best_cost is None or cost < best_cost - 1e-9:
            best, best_cost = tones, cost
    return best


def _bass_root(chord: Chord) -> int:
    return 36 + (chord.root - 36) % 12  # C2..B2: low but still clear at 16 kHz


def _chord_bar(pattern: str, chord: Chord, voicing: list[int], beats: int, rng: np.random.Generator, swing: bool):
    """Yield ``(offset_beats, duration_beats, pitches, velocity_delta)`` for one bar."""
    if pattern == "block":
        yield 0.0, beats - 0.05, voicing, -5
    elif pattern == "arpeggio":
        tones = voicing + [voicing[0] + 12]
        order = list(range(len(tones))) + list(range(len(tones) - 2, 0, -1))
        for step in range(beats * 2):
            yield step * 0.5, 0.95, [tones[order[step % len(order)]]], 0 if step % 2 == 0 else -10
    elif pattern == "strum":
        for beat in range(beats):
            for index, pitch in enumerate(voicing):
                yield beat + 0.02 * index, 0.9, [pitch], 5 if beat == 0 else -5
    elif pattern == "pop_rhythm":
        hits = [0.0, 1.5, 2.0, 3.0] if beats == 4 else [0.0, 1.0, 2.0]
        for hit, following in zip(hits, hits[1:] + [float(beats)]):
            yield _swung(hit, swing), following - hit - 0.1, voicing, 0 if hit == 0 else -8
    elif pattern == "power":
        root = 40 + (chord.root - 40) % 12
        for step in range(beats * 2):
            yield step * 0.5, 0.42, [root, root + 7, root + 12], 6 if step % 2 == 0 else -6
    elif pattern == "comp":
        cells = ([(1.0, 0.6), (3.0, 0.6)], [(0.0, 0.9), (1.5, 0.4), (3.0, 0.6)], [(0.5, 0.4), (2.0, 0.9)])
        cell = cells[int(rng.integers(len(cells)))]
        for offset, length in cell:
            if offset < beats:
                yield _swung(offset, swing), length, voicing, -5
    elif pattern == "offbeat":
        for beat in range(beats):
            yield beat + 0.5, 0.35, voicing, -5
    elif pattern == "three_two":  # 5/4: the chord on each group's first beat, then an echo of its top on the last
        for start, length in ((0, FIVE_FOUR_GROUP), (FIVE_FOUR_GROUP, beats - FIVE_FOUR_GROUP)):
            if length > 0:
                yield float(start), length - 0.1, voicing, 0 if start == 0 else -6
                yield start + length - 0.5, 0.4, [voicing[-1]], -12
    elif pattern == "triplets":  # 12/8: the chord on every triplet eighth, the beat's first the loudest
        for beat in range(beats):
            for third in range(TRIPLET_SLOTS):
                yield beat + third / TRIPLET_SLOTS, 0.3, voicing, 4 if third == 0 else -9
    else:
        raise ValueError(f"unknown chord pattern {pattern!r}")


def _bass_bar(pattern: str, chord: Chord, next_chord: Chord, beats: int, swing: bool):
    """Yield ``(offset_beats, duration_beats, pitch, velocity_delta)`` for one bar."""
    root = _bass_root(chord)
    third = root + chord.intervals[1]
    fifth = root + chord.intervals[2]
    if pattern == "whole":
        yield 0.0, beats - 0.1, root, 0
    elif pattern == "root_fifth":
        yield 0.0, 1.9, root, 0
        yield 2.0, beats - 2.1, fifth, -8
    elif pattern == "eighths":
        for step in range(beats * 2):
            yield step * 0.5, 0.45, root, 0 if step % 2 == 0 else -10
    elif pattern == "pop":
        hits = [(0.0, 1.4, root), (1.5, 0.45, root), (2.0, 0.9, fifth), (3.0, 0.9, root + 12)]
        for offset, length, pitch in hits:
            if offset < beats:
                yield _swung(offset, swing), length, pitch, 0 if offset == 0 else -8
    elif pattern == "walking":
        target = _bass_root(next_chord)
        approach = target - 1 if target > root else target + 1
        line = [root, third, fifth, approach] if beats == 4 else [root, third, approach]
        for beat, pitch in enumerate(line):
            yield float(beat), 0.9, pitch, 0 if beat == 0 else -6
    elif pattern == "boogie":
        line = [root, third, fifth, root + 9] if beats == 4 else [root, third, fifth]
        for beat, pitch in enumerate(line):
            yield float(beat), 0.9, pitch, 0 if beat == 0 else -6
    elif pattern == "three_two":  # 5/4: the root held through the first group, the fifth through the second
        yield 0.0, FIVE_FOUR_GROUP - 0.1, root, 0
        yield float(FIVE_FOUR_GROUP), beats - FIVE_FOUR_GROUP - 0.1, fifth, -6
    elif pattern == "long_short":  # 12/8: the root held two triplet eighths, then a pickup on the third
        for beat in range(beats):
            pickup = fifth if beat % 2 == 0 else root + 12
            yield float(beat), 0.62, root, 0 if beat == 0 else -4
            yield beat + 2.0 / 3.0, 0.3, pickup, -10
    elif pattern == "octaves":
        for beat in range(beats):
            yield float(beat), 0.4, root, 0
            yield beat + 0.5, 0.4, root + 12, -10
    else:
        raise ValueError(f"unknown bass pattern {pattern!r}")


def _on_the_beat(events, on_beat: bool):
    """The bar's events, or only those that start on a beat (their first field is the offset in beats)."""
    return [event for event in events if not on_beat or float(event[0]).is_integer()]


def _drum_bar(pattern: str, beats: int, swing: bool):
    if pattern in DRUM_PATTERNS_12_8:
        for drum, hits in DRUM_PATTERNS_12_8[pattern].items():
            for slot, velocity in hits:
                yield slot / TRIPLET_SLOTS, drum, velocity
        return
    if pattern in DRUM_PATTERNS_5_4:
        grid = DRUM_PATTERNS_5_4[pattern]
    else:
        grid = DRUM_PATTERNS_4_4[pattern] if beats == 4 else DRUM_PATTERN_3_4
    for drum, hits in grid.items():
        for slot, velocity in hits:
            yield _swung(slot / 4.0, swing), drum, velocity


def arrange(
    rng: np.random.Generator,
    arrangement: Arrangement,
    bar_chords: list[Chord],
    beats_per_bar: int,
    vocal_start_bar: int,
    end_beat: float,
) -> tuple[list[MidiNote], dict[int, int]]:
    """MIDI notes for every bar plus ``channel -> program``.

    The final bar is replaced by the tonic chord (``bar_chords[-1]`` must be it)
    sustained until ``end_beat`` with a crash, a natural ending for short clips.
    """
    notes: list[MidiNote] = []
    velocity = arrangement.base_velocity

    def add(channel: int, pitch: int, start: float, length: float, delta: int, jitter: float = 0.008) -> None:
        start = max(0.0, start + float(rng.normal(0.0, jitter)))
        level = velocity + delta + int(rng.integers(-6, 7))
        notes.append(MidiNote(channel, int(pitch), start, max(0.05, length), int(np.clip(level, 20, 127))))

    center = 60.0
    num_bars = len(bar_chords)
    for bar, chord in enumerate(bar_chords):
        bar_start = bar * beats_per_bar
        voicing = _voicing(chord, center)
        center = float(np.mean(voicing))
        if bar == num_bars - 1:
            ring = end_beat - bar_start
            for pitch in voicing:
                add(CHORD_CHANNEL, pitch, bar_start, ring, 0, 0.0)
            add(BASS_CHANNEL, _bass_root(chord), bar_start, ring, 0, 0.0)
            if arrangement.pad_program is not None:
                for pitch in voicing:
                    add(PAD_CHANNEL, pitch + 12, bar_start, ring, -22, 0.0)
            if arrangement.drums:
                add(DRUM_CHANNEL, CRASH, bar_start, 1.0, 5, 0.0)
                add(DRUM_CHANNEL, KICK, bar_start, 0.5, 10, 0.0)
            break
        chord_events = _chord_bar(arrangement.chord_pattern, chord, voicing, beats_per_bar, rng, arrangement.swing)
        for offset, length, pitches, delta in _on_the_beat(chord_events, arrangement.on_beat):
            for pitch in pitches:
                add(CHORD_CHANNEL, pitch, bar_start + offset, length, delta)
        next_chord = bar_chords[bar + 1]
        bass_events = _bass_bar(arrangement.bass_pattern, chord, next_chord, beats_per_bar, arrangement.swing)
        for offset, length, pitch, delta in _on_the_beat(bass_events, arrangement.on_beat):
            add(BASS_CHANNEL, pitch, bar_start + offset, length, delta)
        if arrangement.pad_program is not None:
            for pitch in voicing:
                add(PAD_CHANNEL, pitch + 12, bar_start, beats_per_bar - 0.05, -22)
        if arrangement.drums:
            drum_events = _drum_bar(arrangement.drum_pattern, beats_per_bar, arrangement.swing)
            for offset, drum, drum_velocity in _on_the_beat(drum_events, arrangement.on_beat):
                add(DRUM_CHANNEL, drum, bar_start + offset, 0.25, drum_velocity - 100, 0.004)
            if bar == vocal_start_bar:
                add(DRUM_CHANNEL, CRASH, bar_start, 1.0, 0, 0.0)

    programs = {CHORD_CHANNEL: arrangement.chord_program, BASS_CHANNEL: arrangement.bass_program}
    if arrangement.pad_program is not None:
        programs[PAD_CHANNEL] = arrangement.pad_program
    if arrangement.drums:
        programs[DRUM_CHANNEL] = 0
    return notes, programs
