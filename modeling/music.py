"""What the singer's score and the synthetic corpus share: keys, scales, chords, melody and rhythm rules, the lyric
lexicon with its sung syllables and the genre, mood and voice tables.

Neutral ground: this module imports nothing of this package, so inference (the vocal score in
``modeling/songgen/vocal_score_songgen.py``) and the lab (the corpus generator ``data.synth``, which loads no model,
and the evaluation's prompts) both build on it without either importing the other.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

# ----------------------------------------------------------------------------------------------------
# Keys, scales, chords and a syllable-aware melody generator.
#
# Times inside this module are in *beats* (quarter notes); the caller converts to
# seconds with the tempo.  Everything random takes an explicit
# ``numpy.random.Generator`` so a clip is a pure function of its seed.

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


# ----------------------------------------------------------------------------------------------------
# Genre and mood tables: tempo ranges, progressions, instrument palettes, patterns.
#
# Pattern names refer to generators in :mod:`songgen_hf.data.synth.arrangement`; progression strings are
# roman numerals resolved by :func:`.theory.parse_numeral`.

GM_FAMILIES = (
    "Piano",
    "Chromatic Percussion",
    "Organ",
    "Guitar",
    "Bass",
    "Strings",
    "Ensemble",
    "Brass",
    "Reed",
    "Pipe",
    "Synth Lead",
    "Synth Pad",
    "Synth Effects",
    "Ethnic",
    "Percussive",
    "Sound Effects",
)

# GM program -> (official GM name, plain word used in captions).  Only programs the palettes
# (STYLES_OUTSIDE_CORPUS's included) and the v2 instrumentals' melody leads use are listed; voice-like
# patches (choir pads) are left out on purpose so that the accompaniment stem never sounds like a singer.
GM_PROGRAMS = {
    0: ("Acoustic Grand Piano", "piano"),
    1: ("Bright Acoustic Piano", "bright piano"),
    4: ("Electric Piano 1", "electric piano"),
    5: ("Electric Piano 2", "electric piano"),
    8: ("Celesta", "celesta"),
    11: ("Vibraphone", "vibraphone"),
    12: ("Marimba", "marimba"),
    16: ("Drawbar Organ", "organ"),
    17: ("Percussive Organ", "organ"),
    21: ("Accordion", "accordion"),
    22: ("Harmonica", "harmonica"),
    24: ("Acoustic Guitar (nylon)", "nylon guitar"),
    25: ("Acoustic Guitar (steel)", "acoustic guitar"),
    26: ("Electric Guitar (jazz)", "jazz guitar"),
    27: ("Electric Guitar (clean)", "clean electric guitar"),
    29: ("Overdriven Guitar", "overdriven guitar"),
    30: ("Distortion Guitar", "distorted guitar"),
    32: ("Acoustic Bass", "upright bass"),
    33: ("Electric Bass (finger)", "electric bass"),
    34: ("Electric Bass (pick)", "electric bass"),
    35: ("Fretless Bass", "fretless bass"),
    38: ("Synth Bass 1", "synth bass"),
    39: ("Synth Bass 2", "synth bass"),
    40: ("Violin", "violin"),
    45: ("Pizzicato Strings", "pizzicato strings"),
    46: ("Orchestral Harp", "harp"),
    48: ("String Ensemble 1", "strings"),
    49: ("String Ensemble 2", "strings"),
    56: ("Trumpet", "trumpet"),
    58: ("Tuba", "tuba"),
    61: ("Brass Section", "brass"),
    65: ("Alto Sax", "alto sax"),
    70: ("Bassoon", "bassoon"),
    71: ("Clarinet", "clarinet"),
    73: ("Flute", "flute"),
    80: ("Lead 1 (square)", "square-wave synth lead"),
    81: ("Lead 2 (sawtooth)", "saw synth"),
    88: ("Pad 1 (new age)", "synth pad"),
    89: ("Pad 2 (warm)", "warm pad"),
    90: ("Pad 3 (polysynth)", "polysynth"),
    95: ("Pad 8 (sweep)", "sweep pad"),
    105: ("Banjo", "banjo"),
    108: ("Kalimba", "kalimba"),
    114: ("Steel Drums", "steel drums"),
}


def gm_family(program: int) -> str:
    return GM_FAMILIES[program // 8]


@dataclass(frozen=True)
class GenreStyle:
    name: str
    tempo_range: tuple[int, int]
    waltz_probability: float  # chance of 3/4 instead of 4/4
    progressions: dict[str, tuple[tuple[str, ...], ...]]  # mode -> progressions
    chord_programs: tuple[int, ...]
    chord_patterns: tuple[str, ...]
    bass_programs: tuple[int, ...]
    bass_patterns: tuple[str, ...]
    pad_programs: tuple[int, ...]
    pad_probability: float
    drums_probability: float
    drum_pattern: str
    swing: bool = False
    caption_names: tuple[str, ...] = field(default=())
    # 12/8: every beat is a dotted quarter of three triplet eighths (accompaniment, drums and melody)
    triplets: bool = False
    # who sings, where a style fixes it (else a male or female voice drawn per song): the gender, the MIDI range
    # sung, espeak-ng's base pitch (a low one keeps a low register close to the voice's own F0) and how many
    # singers sing each line together (more than one: a choir, each singer its own voice, vibrato and onset)
    vocal_gender: str | None = None
    vocal_register: tuple[int, int] | None = None
    espeak_pitch: int | None = None
    singers: int = 1
    # a metre the style fixes (beats of a quarter note to the bar; the 3/4-or-4/4 draw is still made) and the
    # espeak-ng voices it is sung in (else the corpus's voices of the gender)
    beats_per_bar: int | None = None
    voices: tuple[str, ...] = ()


_POP_MAJOR = (("I", "V", "vi", "IV"), ("vi", "IV", "I", "V"), ("I", "vi", "IV", "V"), ("I", "IV", "vi", "V"))
_MINOR_AXIS = (("i", "VI", "III", "VII"), ("i", "iv", "VI", "V"), ("i", "VII", "VI", "VII"), ("i", "VI", "VII", "i"))

GENRES: dict[str, GenreStyle] = {
    style.name: style
    for style in (
        GenreStyle(
            "pop",
            (92, 128),
            0.0,
            {"major": _POP_MAJOR, "minor": _MINOR_AXIS},
            (0, 4, 25, 27),
            ("pop_rhythm", "strum", "arpeggio"),
            (33, 38),
            ("pop", "root_fifth"),
            (48, 89),
            0.5,
            0.9,
            "pop",
            caption_names=("pop song", "pop tune", "pop track"),
        ),
        GenreStyle(
            "rock",
            (100, 150),
            0.0,
            {
                "major": (("I", "bVII", "IV", "I"), ("I", "V", "vi", "IV"), ("I", "IV", "V", "IV")),
                "minor": (("i", "VII", "VI", "VII"), ("i", "VI", "VII", "i"), ("i", "iv", "VII", "III")),
            },
            (29, 30, 27),
            ("power", "strum"),
            (34, 33),
            ("eighths",),
            (16,),
            0.3,
            1.0,
            "rock",
            caption_names=("rock song", "rock track", "guitar rock song"),
        ),
        GenreStyle(
            "ballad",
            (60, 84),
            0.35,
            {
                "major": (("I", "vi", "IV", "V"), ("I", "V", "vi", "IV"), ("I", "iii", "IV", "V")),
                "minor": (("i", "VI", "III", "VII"), ("i", "iv", "VII", "III"), ("i", "VI", "iv", "V")),
            },
            (0, 4, 24),
            ("arpeggio", "block"),
            (32, 35, 33),
            ("whole", "root_fifth"),
            (48, 49, 89),
            0.7,
            0.4,
            "ballad",
            caption_names=("ballad", "piano ballad", "slow ballad"),
        ),
        GenreStyle(
            "jazz",
            (90, 160),
            0.0,
            {
                "major": (("ii7", "V7", "Imaj7", "vi7"), ("Imaj7", "vi7", "ii7", "V7"), ("iii7", "vi7", "ii7", "V7")),
                "minor": (("iim7b5", "V7", "i7", "i7"), ("i7", "iv7", "iim7b5", "V7")),
            },
            (0, 4, 26, 11),
            ("comp",),
            (32,),
            ("walking",),
            (),
            0.0,
            0.85,
            "swing",
            swing=True,
            caption_names=("jazz tune", "jazz number", "swing number"),
        ),
        GenreStyle(
            "blues",
            (78, 128),
            0.0,
            {
                "major": (("I7", "IV7", "I7", "I7", "IV7", "IV7", "I7", "I7", "V7", "IV7", "I7", "V7"),),
                "minor": (("i7", "iv7", "i7", "i7", "iv7", "iv7", "i7", "i7", "VI7", "V7", "i7", "V7"),),
            },
            (27, 26, 0, 17),
            ("comp", "strum"),
            (33, 32),
            ("boogie", "walking"),
            (16,),
            0.3,
            0.9,
            "shuffle",
            swing=True,
            caption_names=("blues", "blues song", "twelve-bar blues"),
        ),
        GenreStyle(
            "folk",
            (84, 120),
            0.4,
            {
                "major": (("I", "IV", "I", "V"), ("I", "V", "IV", "I"), ("I", "IV", "V", "I")),
                "minor": (("i", "VII", "VI", "VII"), ("i", "iv", "i", "V"), ("i", "III", "VII", "i")),
            },
            (24, 25, 105, 21),
            ("strum", "arpeggio"),
            (32, 33),
            ("root_fifth",),
            (40, 48),
            0.4,
            0.35,
            "folk",
            caption_names=("folk song", "folk tune", "acoustic folk song"),
        ),
        GenreStyle(
            "electronic",
            (110, 132),
            0.0,
            {
                "major": (("vi", "IV", "I", "V"), ("I", "V", "vi", "IV"), ("IV", "V", "vi", "vi")),
                "minor": (("i", "VI", "III", "VII"), ("i", "VII", "VI", "VII"), ("i", "iv", "VI", "VII")),
            },
            (81, 90, 4),
            ("offbeat", "arpeggio", "pop_rhythm"),
            (38, 39),
            ("octaves", "eighths"),
            (88, 89, 95),
            0.8,
            1.0,
            "four_on_floor",
            caption_names=("electronic track", "electropop song", "synth-pop tune", "dance track"),
        ),
        GenreStyle(
            "soul",
            (68, 100),
            0.0,
            {
                "major": (("Imaj7", "vi7", "ii7", "V7"), ("I", "iii", "IV", "V"), ("IVmaj7", "iii7", "ii7", "Imaj7")),
                "minor": (("i7", "iv7", "VII7", "IIImaj7"), ("i7", "VI", "iv7", "V7")),
            },
            (4, 5, 16, 27),
            ("comp", "block", "pop_rhythm"),
            (33, 35),
            ("pop", "root_fifth"),
            (48, 61),
            0.5,
            0.85,
            "pop",
            caption_names=("soul song", "R&B tune", "soul track"),
        ),
    )
}


# Styles no corpus draws (``songgen data synth --style NAME`` makes a whole corpus of one): a style set
# that the default model never heard, for measuring what a LoRA learns (benchmarks/your_songs.py).
# "calypso" is new in every part: its instruments (steel drums, marimba, kalimba, tuba) and its hand
# percussion groove (congas, cowbell, claves, maracas) appear in no genre above.
STYLES_OUTSIDE_CORPUS: dict[str, GenreStyle] = {
    style.name: style
    for style in (
        GenreStyle(
            "calypso",
            (100, 126),
            0.0,
            {
                "major": (("I", "IV", "V", "I"), ("I", "V", "I", "IV"), ("I", "IV", "I", "V")),
                "minor": (("i", "iv", "V", "i"), ("i", "VII", "VI", "V")),
            },
            (114, 12),
            ("offbeat", "arpeggio"),
            (58,),
            ("root_fifth",),
            (108,),
            0.6,
            1.0,
            "calypso",
            caption_names=("calypso", "calypso tune", "steel band song"),
        ),
        # new in its metre and groove, not its sound: the corpus's own instruments (piano, organ, electric bass,
        # a drum kit) in 12/8, every beat three triplet eighths (chords pulsing in triplets, a long-short bass, the
        # hi-hat on every triplet), where every corpus genre plays two eighths (or a swung pair) to the beat
        GenreStyle(
            "gospel",
            (92, 116),
            0.0,
            {
                "major": (("I", "vi", "IV", "V"), ("I", "IV", "I", "V"), ("I", "iii", "IV", "V")),
                "minor": (("i", "iv", "VI", "V"), ("i", "VI", "iv", "V")),
            },
            (0, 16),
            ("triplets",),
            (33,),
            ("long_short",),
            (),
            0.0,
            1.0,
            "twelve_eight",
            caption_names=("gospel song", "gospel tune", "triplet-feel gospel song"),
            triplets=True,
        ),
        # new in its voice: a choir of three low male voices singing each line together, an octave below the
        # corpus's male register (its singers are one voice, male or female), over a plain corpus accompaniment
        # (piano or strings, a soft kit)
        GenreStyle(
            "bass_choir",
            (92, 120),
            0.0,
            {
                "major": (("I", "IV", "V", "I"), ("I", "vi", "IV", "V")),
                "minor": (("i", "iv", "VII", "III"), ("i", "VI", "VII", "i")),
            },
            (0, 48),
            ("block", "arpeggio"),
            (32,),
            ("root_fifth",),
            (),
            0.0,
            1.0,
            "ballad",
            caption_names=("bass choir song", "song for a low male choir", "deep choral song"),
            vocal_gender="male",
            vocal_register=(34, 50),
            espeak_pitch=50,
            singers=3,
        ),
        # new in several parts at once, and kept apart from the project (benchmarks/styles.py reports it and
        # chooses nothing on it): 5/4, grouped three and two, a metre no genre or style above plays; harp or
        # celesta over a pizzicato or bassoon bass and wood blocks, instruments none of them plays; two female
        # voices the corpus never sings with, together and a little above its female register
        GenreStyle(
            "harp_five",
            (100, 132),
            0.0,
            {
                "major": (("I", "IV", "ii", "V"), ("I", "vi", "ii", "V"), ("I", "iii", "IV", "I")),
                "minor": (("i", "iv", "VII", "III"), ("i", "VI", "iv", "V")),
            },
            (46, 8),
            ("arpeggio", "three_two"),
            (45, 70),
            ("three_two",),
            (),
            0.0,
            1.0,
            "five_four",
            caption_names=("chamber song", "harp song", "chamber folk song"),
            vocal_gender="female",
            vocal_register=(62, 77),
            singers=2,
            beats_per_bar=5,
            voices=("en-us+Annie", "en-us+belinda", "en-us+linda", "en-us+steph"),
        ),
    )
}


def genre_style(name: str) -> GenreStyle:
    """The style of a genre name: a corpus genre or a style outside the corpora; a ``ValueError`` naming both."""
    style = GENRES.get(name) or STYLES_OUTSIDE_CORPUS.get(name)
    if style is None:
        raise ValueError(
            f"Unknown style {name!r}: the corpus genres are {sorted(GENRES)}, the styles outside them "
            f"{sorted(STYLES_OUTSIDE_CORPUS)}."
        )
    return style


@dataclass(frozen=True)
class MoodStyle:
    name: str
    minor_probability: float
    tempo_position: tuple[float, float]  # quantile band within the genre's tempo range
    velocity_range: tuple[int, int]
    lyric_theme: str
    caption_words: tuple[str, ...]


MOODS: dict[str, MoodStyle] = {
    mood.name: mood
    for mood in (
        MoodStyle("happy", 0.1, (0.5, 1.0), (85, 105), "joy", ("happy", "cheerful", "joyful", "bright", "sunny")),
        MoodStyle(
            "melancholic",
            0.9,
            (0.0, 0.4),
            (60, 82),
            "sorrow",
            ("melancholic", "sad", "wistful", "mournful", "bittersweet"),
        ),
        MoodStyle(
            "energetic",
            0.4,
            (0.7, 1.0),
            (95, 118),
            "energy",
            ("energetic", "driving", "powerful", "lively", "high-energy"),
        ),
        MoodStyle("calm", 0.25, (0.0, 0.35), (55, 75), "peace", ("calm", "peaceful", "relaxed", "gentle", "soothing")),
        MoodStyle("romantic", 0.3, (0.2, 0.6), (65, 88), "love", ("romantic", "tender", "loving", "warm", "heartfelt")),
        MoodStyle("dark", 0.95, (0.2, 0.7), (75, 100), "night", ("dark", "brooding", "moody", "ominous", "haunting")),
        MoodStyle("hopeful", 0.1, (0.4, 0.8), (75, 95), "hope", ("hopeful", "uplifting", "optimistic", "inspiring")),
        MoodStyle("dreamy", 0.4, (0.1, 0.5), (55, 80), "dreams", ("dreamy", "ethereal", "hazy", "floating", "airy")),
    )
}

# espeak-ng voice variants used as singers; pitch parameter chosen so the spoken base
# sits near the middle of the singing register (less pitch shifting = fewer artefacts).
MALE_VOICES = ("en-us+m1", "en-us+m2", "en-us+m3", "en-us+m4", "en-us+m6", "en-us+m7", "en+m3")
FEMALE_VOICES = ("en-us+f1", "en-us+f2", "en-us+f3", "en-us+f4", "en-us+f5", "en+f2")
VOCAL_REGISTERS = {"male": (46, 62), "female": (57, 72)}  # MIDI note range sung
ESPEAK_PITCH = {"male": 95, "female": 95}


# ----------------------------------------------------------------------------------------------------
# Themed English lyric lines with a known syllable split.
#
# Each word is written ``display:sung|sung`` (or just ``syl|syl`` when the sung
# spellings concatenate to the word).  The sung spellings are what espeak-ng
# pronounces, one melody note each, so they are chosen to be read as a single
# syllable (e.g. ``ev`` rather than a bare letter that would be spelled out).


@dataclass(frozen=True)
class Word:
    text: str
    syllables: tuple[str, ...]


def lexicon_word(entry: str) -> Word:
    if ":" in entry:
        display, sung = entry.split(":", 1)
        return Word(display.replace("|", ""), tuple(sung.split("|")))
    parts = tuple(entry.split("|"))
    return Word("".join(parts), parts)


def _words(entries: str) -> tuple[Word, ...]:
    return tuple(lexicon_word(entry) for entry in entries.split())


# Parts of speech per theme: NOUN, ADJ, VT (transitive verb), VI (intransitive verb), PLACE.
THEMES: dict[str, dict[str, tuple[Word, ...]]] = {
    name: {part: _words(entries) for part, entries in parts.items()}
    for name, parts in {
        "joy": {
            "NOUN": "sun|shine light smile song day sky heart morn|ing sum|mer friend",
            "ADJ": "gold|en bright:brite sunny:sun|nee happy:hap|pee warm sweet new clear",
            "VT": "feel see sing love find chase",
            "VI": "dance shine:shyne laugh:laff fly sing glow",
            "PLACE": "sky street sun town field",
        },
        "sorrow": {
            "NOUN": "rain tear:teer heart mem|o|ry:mem|oh|ree shad|ow:shad|oh night road ghost win|ter",
            "ADJ": "cold lonely:lone|lee gray empty:emp|tee bro|ken:bro|ken qui|et:kwy|it pale",
            "VT": "miss lose hold:hohld call re|mem|ber:ree|mem|ber",
            "VI": "cry fall fade wait weep",
            "PLACE": "rain dark cold past snow",
        },
        "energy": {
            "NOUN": "fire:fyre beat thun|der light|ning en|gine:en|jin storm heart wild",
            "ADJ": "loud fast wild:wyld e|lec|tric:ee|lek|trik bright:brite strong",
            "VT": "feel break take burn own",
            "VI": "run rise:ryze shout jump fly roar",
            "PLACE": "street night crowd floor sky",
        },
        "peace": {
            "NOUN": "riv|er o|cean:oh|shun breeze morn|ing moun|tain tree wave sea",
            "ADJ": "soft still calm qui|et:kwy|it slow gentle:jen|tul green blue",
            "VT": "hear feel breathe:breethe watch hold:hohld",
            "VI": "rest drift flow sleep float",
            "PLACE": "shore val|ley field lake hill",
        },
        "love": {
            "NOUN": "heart kiss rose:rohz eyes:ize touch dar|ling:dar|ling hand love",
            "ADJ": "sweet ten|der:ten|der warm true dear gentle:jen|tul",
            "VT": "hold:hohld need kiss want miss love",
            "VI": "stay wait dance fall melt",
            "PLACE": "arms dark light moon|light",
        },
        "night": {
            "NOUN": "shad|ow:shad|oh moon dark|ness smoke wolf silence:sigh|lence storm dream",
            "ADJ": "dark cold black deep strange silent:sigh|lent",
            "VT": "fear hide chase haunt burn",
            "VI": "howl fall hide creep wake",
            "PLACE": "dark night:nite woods street void",
        },
        "hope": {
            "NOUN": "dawn light:lite way dream sun|rise:sun|ryze to|mor|row:to|mor|roh wings star",
            "ADJ": "new bright:brite bold high strong gold|en",
            "VT": "find chase build reach see",
            "VI": "rise:ryze climb shine:shyne grow fly",
            "PLACE": "sky hill road light top",
        },
        "dreams": {
            "NOUN": "dream cloud star moon e|cho:ek|oh glow mist wave",
            "ADJ": "soft pale slow dis|tant float|ing hazy:hay|zee sil|ver",
            "VT": "touch see hold:hohld chase keep",
            "VI": "float drift glow fade fly",
            "PLACE": "sky clouds stars sea haze",
        },
    }.items()
}

PRONOUNS = _words("I you we")
PREPOSITIONS = _words("in through un|der o|ver:oh|ver in|to a|cross:uh|cross be|yond:bee|yond")
TIME_WORDS = _words("to|night for|ev|er a|gain:uh|gen al|ways:all|ways now to|day")
FILLERS = _words("oh yeah whoa la na")

# A line template is a sequence of tokens: a part of speech ("NOUN", "ADJ", ...), one of
# the shared classes ("PRON", "PREP", "TIME") or a literal word.
LINE_TEMPLATES = (
    "NOUN",
    "ADJ NOUN",
    "PRON VI",
    "VI TIME",
    "VT me",
    "VT me TIME",
    "oh ADJ NOUN",
    "the ADJ NOUN",
    "PRON VT the NOUN",
    "PRON VT the ADJ NOUN",
    "PRON VI PREP the PLACE",
    "ADJ NOUN PREP the PLACE",
    "VI with me TIME",
    "PRON will VI TIME",
    "VT the NOUN TIME",
    "un|der the ADJ NOUN",
    "NOUN and NOUN",
    "nev|er VT the NOUN",
    "let the NOUN VI",
    "PRON VI and VI",
    "all the ADJ NOUN",
    "PRON VT the NOUN PREP the PLACE",
    "ADJ NOUN and ADJ NOUN",
)


def _pick(rng: np.random.Generator, options: tuple[Word, ...]) -> Word:
    return options[int(rng.integers(len(options)))]


def _fill_template(rng: np.random.Generator, template: str, theme: dict[str, tuple[Word, ...]]) -> list[Word]:
    shared = {"PRON": PRONOUNS, "PREP": PREPOSITIONS, "TIME": TIME_WORDS}
    words = []
    for token in template.split():
        if token in theme:
            words.append(_pick(rng, theme[token]))
        elif token in shared:
            words.append(_pick(rng, shared[token]))
        else:
            words.append(lexicon_word(token))
    return words


def _syllable_count(words: list[Word]) -> int:
    return sum(len(word.syllables) for word in words)


def make_line(rng: np.random.Generator, theme_name: str, num_syllables: int) -> list[Word]:
    """A line with exactly ``num_syllables`` sung syllables.

    Tries single templates, then two clauses joined (long lines), and finally
    pads the longest line that fit with fillers ("oh", "yeah"), which is
    idiomatic in songs and keeps the syllable count exact.
    """
    theme = THEMES[theme_name]
    best: list[Word] = []

    def template() -> str:
        return LINE_TEMPLATES[int(rng.integers(len(LINE_TEMPLATES)))]

    for attempt in range(48):
        words = _fill_template(rng, template(), theme)
        if attempt >= 16:  # long lines: a second clause
            words = words + _fill_template(rng, template(), theme)
        count = _syllable_count(words)
        if count == num_syllables:
            return words
        if _syllable_count(best) < count < num_syllables:
            best = words
    words = list(best)
    while _syllable_count(words) < num_syllables:
        filler = _pick(rng, FILLERS)
        # Fillers go at the end mostly, sometimes up front ("oh, I feel the rain").
        if rng.random() < 0.3:
            words.insert(0, filler)
        else:
            words.append(filler)
    return words


def line_text(words: list[Word]) -> str:
    return " ".join(word.text for word in words)


def line_syllables(words: list[Word]) -> list[str]:
    return [syllable for word in words for syllable in word.syllables]
