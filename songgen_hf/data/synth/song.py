"""Draw a complete song plan (style, structure, lyrics, melody, arrangement) from a seed.

Independent sub-streams of the clip's ``SeedSequence`` feed each stage, so that,
for example, rewording a caption template never changes the audio.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from songgen_hf.data.synth.arrangement import Arrangement, _swung
from songgen_hf.data.synth.vocals import SingingStyle
from songgen_hf.modeling.music import (
    ESPEAK_PITCH,
    FEMALE_VOICES,
    GENRES,
    MALE_VOICES,
    MIN_FINAL_RING_S,
    MOODS,
    VOCAL_REGISTERS,
    Chord,
    Key,
    MelodyNote,
    Phrase,
    generate_melody,
    genre_style,
    line_syllables,
    line_text,
    make_line,
    parse_numeral,
    phrase_slot_capacity,
    pitch_class_name,
    tonic_numeral,
)

MAX_TEMPO_BPM = 190
# a choir's singers besides the lead: each starts up to this late and sits up to this far off the note (semitones)
CHORUS_DELAY_S = 0.04
CHORUS_DETUNE = 0.12


@dataclass(frozen=True)
class ChorusSinger:
    """One more singer of a choir style: sings the lead's notes in its own voice and vibrato, a little late and
    a little off the pitch, as singers of one section do."""

    voice: str
    singing: SingingStyle
    delay_s: float
    detune_semitones: float


MAX_LINES = 6
MIN_LINES = 2


@dataclass(frozen=True)
class SongPlan:
    genre: str
    mood: str
    key: Key
    tempo_bpm: float
    beats_per_bar: int
    duration_s: float
    intro_bars: int
    bars_per_line: int
    progression: tuple[str, ...]
    bar_chords: tuple[Chord, ...]  # one per bar, the last is the closing tonic
    lyric_lines: tuple[str, ...]
    syllables: tuple[str, ...]
    phrases: tuple[Phrase, ...]
    melody: tuple[MelodyNote, ...]
    arrangement: Arrangement
    vocal_gender: str
    voice: str
    espeak_pitch: int
    singing: SingingStyle
    note_gains_db: tuple[float, ...]
    vocal_to_accompaniment_db: float
    chorus: tuple[ChorusSinger, ...] = ()

    @property
    def seconds_per_beat(self) -> float:
        return 60.0 / self.tempo_bpm

    @property
    def vocal_start_bar(self) -> int:
        return self.intro_bars

    @property
    def end_beat(self) -> float:
        return self.duration_s / self.seconds_per_beat

    @property
    def time_signature(self) -> str:
        if self.arrangement.triplets:  # four dotted-quarter beats of three eighths
            return f"{3 * self.beats_per_bar}/8"
        return f"{self.beats_per_bar}/4"


def _pick(rng: np.random.Generator, options):
    return options[int(rng.integers(len(options)))]


def _structure(rng, tempo: float, beats_per_bar: int, min_duration: float, max_duration: float):
    """Choose duration, tempo (bumped only if a clip that short cannot hold two
    sung bars), bars per line, number of lines and intro length."""
    duration = float(rng.uniform(min_duration, max_duration))
    bar_seconds = beats_per_bar * 60.0 / tempo
    needed = MIN_LINES * bar_seconds + MIN_FINAL_RING_S
    if duration < needed:
        if needed <= max_duration:
            duration = needed
        else:
            tempo = float(math.ceil(MIN_LINES * beats_per_bar * 60.0 / (max_duration - MIN_FINAL_RING_S)))
            if tempo > MAX_TEMPO_BPM:
                raise ValueError(f"max_duration={max_duration}s is too short for two sung bars")
            duration, bar_seconds = max_duration, beats_per_bar * 60.0 / tempo
    body_bars = int((duration - MIN_FINAL_RING_S + 1e-9) // bar_seconds)
    bars_per_line = 1 if bar_seconds >= 2.5 or body_bars < 2 * MIN_LINES else 2
    num_lines = min(MAX_LINES, body_bars // bars_per_line)
    leftover = body_bars - num_lines * bars_per_line
    intro_bars = min(leftover, 2)
    # Any further leftover bars become an instrumental tail before the final chord.
    return duration, tempo, body_bars, bars_per_line, num_lines, intro_bars


def plan_song(
    seed_sequence: np.random.SeedSequence,
    min_duration: float,
    max_duration: float,
    tempo_bpm: float | None = None,
    drums: bool | None = None,
    style: str | None = None,
) -> SongPlan:
    """The song of ``seed_sequence``.  ``tempo_bpm`` / ``drums`` (corpus v2) replace the genre's draws;
    the draws are still made, so every other choice of the song stays what it was without them.  ``style``
    (a genre name, or one of ``STYLES_OUTSIDE_CORPUS``) replaces the drawn genre the same way."""
    style_rng, lyric_rng, melody_rng, arrangement_rng, voice_rng = (
        np.random.default_rng(child) for child in seed_sequence.spawn(5)
    )
    genre = GENRES[_pick(style_rng, sorted(GENRES))]
    if style is not None:
        genre = genre_style(style)
    mood = MOODS[_pick(style_rng, sorted(MOODS))]
    mode = "minor" if style_rng.random() < mood.minor_probability else "major"
    key = Key(int(style_rng.integers(12)), mode)
    beats_per_bar = 3 if style_rng.random() < genre.waltz_probability else 4
    beats_per_bar = genre.beats_per_bar or beats_per_bar
    low, high = genre.tempo_range
    position = style_rng.uniform(*mood.tempo_position)
    tempo = float(round(low + position * (high - low)))
    if tempo_bpm is not None:
        tempo = float(tempo_bpm)
    duration, tempo, body_bars, bars_per_line, num_lines, intro_bars = _structure(
        style_rng, tempo, beats_per_bar, min_duration, max_duration
    )

    progression = tuple(_pick(style_rng, genre.progressions[mode]))
    chords = [parse_numeral(progression[bar % len(progression)], key) for bar in range(body_bars)]
    chords.append(parse_numeral(tonic_numeral(key), key))

    capacity = phrase_slot_capacity(bars_per_line, beats_per_bar)
    slots = capacity + 2
    fewest, most = max(2, round(0.4 * slots)), max(2, min(capacity, round(0.75 * slots)))
    lines, syllables, phrases = [], [], []
    for line_index in range(num_lines):
        count = int(lyric_rng.integers(fewest, most + 1))
        words = make_line(lyric_rng, mood.lyric_theme, count)
        lines.append(line_text(words))
        syllables.extend(line_syllables(words))
        phrases.append(Phrase(intro_bars + line_index * bars_per_line, bars_per_line, count))

    vocal_gender = _pick(voice_rng, ("female", "male"))
    vocal_gender = genre.vocal_gender or vocal_gender
    voices = genre.voices or (MALE_VOICES if vocal_gender == "male" else FEMALE_VOICES)
    voice = _pick(voice_rng, voices)
    register = genre.vocal_register or VOCAL_REGISTERS[vocal_gender]
    melody = generate_melody(melody_rng, key, chords, phrases, beats_per_bar, register)
    if genre.triplets:
        melody = [_on_triplets(note) for note in melody]

    arrangement = Arrangement(
        chord_program=_pick(arrangement_rng, genre.chord_programs),
        chord_pattern=_pick(arrangement_rng, genre.chord_patterns),
        bass_program=_pick(arrangement_rng, genre.bass_programs),
        bass_pattern=_pick(arrangement_rng, genre.bass_patterns),
        pad_program=(
            _pick(arrangement_rng, genre.pad_programs)
            if genre.pad_programs and arrangement_rng.random() < genre.pad_probability
            else None
        ),
        drums=_override(bool(arrangement_rng.random() < genre.drums_probability), drums),
        drum_pattern=genre.drum_pattern if beats_per_bar == 4 or genre.beats_per_bar else "waltz",
        swing=genre.swing,
        triplets=genre.triplets,
        base_velocity=int(arrangement_rng.integers(mood.velocity_range[0], mood.velocity_range[1] + 1)),
    )

    singing = SingingStyle(
        vibrato_semitones=float(voice_rng.uniform(0.15, 0.45)),
        vibrato_hz=float(voice_rng.uniform(4.8, 6.2)),
        scoop_semitones=float(voice_rng.uniform(0.0, 0.6)),
    )
    phrase_starts = set()
    first = 0
    for phrase in phrases:
        phrase_starts.add(first)
        first += phrase.num_syllables
    note_gains_db = tuple(
        float(voice_rng.uniform(-1.0, 1.0) + (1.0 if index in phrase_starts else 0.0)) for index in range(len(melody))
    )
    vocal_to_accompaniment_db = float(voice_rng.uniform(-2.0, 6.0))
    # drawn after everything else, so a solo style's songs stay what they were
    chorus = tuple(
        ChorusSinger(
            voice=_pick(voice_rng, [other for other in voices if other != voice]),
            singing=SingingStyle(
                vibrato_semitones=float(voice_rng.uniform(0.15, 0.45)),
                vibrato_hz=float(voice_rng.uniform(4.8, 6.2)),
                scoop_semitones=float(voice_rng.uniform(0.0, 0.6)),
            ),
            delay_s=float(voice_rng.uniform(0.0, CHORUS_DELAY_S)),
            detune_semitones=float(voice_rng.uniform(-CHORUS_DETUNE, CHORUS_DETUNE)),
        )
        for _ in range(genre.singers - 1)
    )
    return SongPlan(
        genre=genre.name,
        mood=mood.name,
        key=key,
        tempo_bpm=tempo,
        beats_per_bar=beats_per_bar,
        duration_s=duration,
        intro_bars=intro_bars,
        bars_per_line=bars_per_line,
        progression=progression,
        bar_chords=tuple(chords),
        lyric_lines=tuple(lines),
        syllables=tuple(syllables),
        phrases=tuple(phrases),
        melody=tuple(melody),
        arrangement=arrangement,
        vocal_gender=vocal_gender,
        voice=voice,
        espeak_pitch=genre.espeak_pitch or ESPEAK_PITCH[vocal_gender],
        singing=singing,
        note_gains_db=note_gains_db,
        vocal_to_accompaniment_db=vocal_to_accompaniment_db,
        chorus=chorus,
    )


def _on_triplets(note: MelodyNote) -> MelodyNote:
    """A melody note of the eighth grid moved onto 12/8's: an off-beat eighth becomes the beat's last triplet
    eighth (start and end alike, so notes still follow each other without a gap)."""
    start = _swung(note.start_beat, True)
    end = _swung(note.start_beat + note.duration_beats, True)
    return MelodyNote(start, end - start, note.midi)


def _override(drawn, given):
    """``given`` when set, else the value drawn (which was drawn either way)."""
    return drawn if given is None else type(drawn)(given)


def key_attribute(key: Key) -> str:
    return pitch_class_name(key.tonic)
