"""Genre and mood tables: tempo ranges, progressions, instrument palettes, patterns.

Pattern names refer to generators in :mod:`songgen_hf.data.synth.arrangement`; progression strings are
roman numerals resolved by :func:`.theory.parse_numeral`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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

# GM program -> (official GM name, plain word used in captions).  Only programs the
# palettes use are listed; voice-like patches (choir pads) are left out on purpose so
# that the accompaniment stem never sounds like a singer.
GM_PROGRAMS = {
    0: ("Acoustic Grand Piano", "piano"),
    1: ("Bright Acoustic Piano", "bright piano"),
    4: ("Electric Piano 1", "electric piano"),
    5: ("Electric Piano 2", "electric piano"),
    11: ("Vibraphone", "vibraphone"),
    16: ("Drawbar Organ", "organ"),
    17: ("Percussive Organ", "organ"),
    21: ("Accordion", "accordion"),
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
    48: ("String Ensemble 1", "strings"),
    49: ("String Ensemble 2", "strings"),
    61: ("Brass Section", "brass"),
    81: ("Lead 2 (sawtooth)", "saw synth"),
    88: ("Pad 1 (new age)", "synth pad"),
    89: ("Pad 2 (warm)", "warm pad"),
    90: ("Pad 3 (polysynth)", "polysynth"),
    95: ("Pad 8 (sweep)", "sweep pad"),
    105: ("Banjo", "banjo"),
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
