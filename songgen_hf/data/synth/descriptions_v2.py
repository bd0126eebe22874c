"""Corpus v2 captions: the phrasings of tempo, key, vocals and drums that users write.

v1 always wrote "<tonic> <mode>" and "<n> bpm/BPM/beats per minute".  v2 also writes "tempo: 96",
"BPM: 96", "a tempo of 96", ranges centred on the tempo ("92-100 bpm", "between 92 and 100 BPM"),
"F#m", "E-flat major", "F sharp minor", "B♭ minor", enharmonic spellings ("Gb" for F#),
"in the key of E" (a major key with its mode left out), "key: Bb minor"; and it says when a song
is instrumental ("instrumental", "no vocals") or drumless ("no drums", "without percussion").
Every caption reads back, through :mod:`songgen_hf.modeling.songgen.description_songgen` in strict mode,
to the record's tempo and key (tests/data/test_synth_v2.py checks it over hundreds of plans).
"""

from __future__ import annotations

import numpy as np

from songgen_hf.data.synth.descriptions import _article, _capitalise, _join, tempo_word
from songgen_hf.modeling.music import GM_PROGRAMS, MOODS, genre_style

# Melody instruments of v2 instrumentals: GM program -> (GM name, caption word).  No voice-like patch.
LEAD_PROGRAMS = {program: GM_PROGRAMS[program] for program in (11, 22, 56, 65, 71, 73, 80)}
_ENHARMONIC = {"C#": "Db", "Eb": "D#", "F#": "Gb", "Ab": "G#", "Bb": "A#"}
_SPELLED = {"#": (" sharp", "-sharp", "♯"), "b": (" flat", "-flat", "♭")}


def _pick(rng: np.random.Generator, options):
    return options[int(rng.integers(len(options)))]


def _tonic(rng: np.random.Generator, tonic: str) -> str:
    """The tonic as written: usually as recorded, sometimes respelled or with the accidental spelled out."""
    if tonic in _ENHARMONIC and rng.random() < 0.2:
        tonic = _ENHARMONIC[tonic]
    if len(tonic) == 2 and rng.random() < 0.3:
        tonic = tonic[0] + _pick(rng, _SPELLED[tonic[1]])
    return tonic


def key_phrase(rng: np.random.Generator, tonic: str, mode: str, after_in: bool) -> str:
    """The key, to follow "in" (``after_in``) or to stand alone in a list."""
    written = _tonic(rng, tonic)
    compact = written.isascii() and " " not in written and "-" not in written
    forms = [f"{written} {mode}", f"{written} {mode}", f"{written} {mode[:3]}"]
    if mode == "minor" and compact:
        forms.append(f"{written}m")
    if mode == "major":
        forms.append(f"the key of {written}" if after_in else f"key of {written}")
    forms.append(f"the key of {written} {mode}" if after_in else f"key: {written} {mode}")
    return _pick(rng, forms)


def tempo_phrase(rng: np.random.Generator, bpm: int, after_at: bool) -> str:
    """The tempo, to follow "at" (``after_at``) or to stand alone; ranges are centred on ``bpm``."""
    half = int(_pick(rng, (2, 3, 4, 5)))
    low, high = bpm - half, bpm + half
    forms = [f"{bpm} bpm", f"{bpm} BPM", f"{bpm} beats per minute", f"{bpm}bpm", f"{bpm} beats a minute"]
    if after_at:
        forms += [f"a tempo of {bpm}", f"around {bpm} BPM", f"{low}-{high} bpm"]
    else:
        forms += [
            f"tempo: {bpm}",
            f"BPM: {bpm}",
            f"tempo {bpm}",
            f"between {low} and {high} BPM",
            f"{low} to {high} bpm",
        ]
    return _pick(rng, forms)


# a choir of low male voices (a style outside the corpora), as a person names it
_CHOIR = ("a deep male choir", "low bass choir voices", "a choir of bass voices", "deep male choir vocals")
# two female voices singing together (the harp_five style)
_FEMALE_DUO = ("two female voices", "a female vocal duo", "two women singing together", "female duet vocals")


def _vocal_phrase(rng: np.random.Generator, attributes: dict) -> str:
    if attributes["has_vocals"] and attributes.get("singers", 1) > 1:
        return _pick(rng, _FEMALE_DUO if attributes["vocal_gender"] == "female" else _CHOIR)
    if attributes["has_vocals"]:
        gender = attributes["vocal_gender"]
        return _pick(rng, (f"a {gender} voice", f"{gender} vocals", f"a {gender} singer", f"{gender} lead vocals"))
    lead = attributes.get("lead")
    base = _pick(rng, ("no vocals", "instrumental, no vocals", "no singing", "without vocals", "instrumental only"))
    if lead is not None and rng.random() < 0.6:
        return f"{base}, {LEAD_PROGRAMS[lead['program']][1]} on the melody"
    return base


# the hand percussion of a style outside the corpora, in as many phrasings as a drum kit (the same draws)
_HAND_PERCUSSION = ("hand percussion", "congas and cowbell", "congas and shakers", "island percussion")
_WOOD_BLOCKS = ("wood blocks", "wood blocks and triangle", "light wood-block percussion", "a triangle and woodblocks")


def _drum_phrase(rng: np.random.Generator, has_drums: bool, pattern: str | None = None) -> str:
    if has_drums and pattern == "calypso":
        return _pick(rng, _HAND_PERCUSSION)
    if has_drums and pattern == "five_four":
        return _pick(rng, _WOOD_BLOCKS)
    if has_drums:
        return _pick(rng, ("drums", "a steady drum beat", "a full drum kit", "live-sounding drums"))
    return _pick(rng, ("no drums", "no percussion", "without drums", "without percussion", "drumless"))


def describe_v2(attributes: dict, rng: np.random.Generator) -> str:
    """Caption for a v2 record's ``attributes`` (see the module docstring)."""
    mood = _pick(rng, MOODS[attributes["mood"]].caption_words)
    bpm = int(round(attributes["tempo_bpm"]))
    # v2 tempos ignore the genre's range: a "slow ballad" at 150 BPM would contradict its own tempo
    genre = _pick(
        rng, [name for name in genre_style(attributes["genre"]).caption_names if bpm < 90 or "slow" not in name]
    )
    if not attributes["has_vocals"] and rng.random() < 0.5:
        genre = f"instrumental {genre}"
    key_in = key_phrase(rng, attributes["key"], attributes["mode"], after_in=True)
    key_tag = key_phrase(rng, attributes["key"], attributes["mode"], after_in=False)
    tempo_at = tempo_phrase(rng, bpm, after_at=True)
    tempo_tag = tempo_phrase(rng, bpm, after_at=False)
    pace = tempo_word(rng, attributes["tempo_bpm"])
    words: list[str] = []
    for instrument in attributes["instruments"]:
        if instrument["role"] == "lead":
            continue  # named with the melody (or, without that phrase, left out like v1's voice timbre)
        word = GM_PROGRAMS[instrument["program"]][1]
        if word not in words:
            words.append(word)
    instruments = _join([words[i] for i in rng.permutation(len(words))])
    drums = _drum_phrase(rng, attributes["drums"], attributes.get("drum_pattern"))
    voice = _vocal_phrase(rng, attributes)
    meter = " in 3/4 time" if attributes["time_signature"] == "3/4" and rng.random() < 0.7 else ""
    if attributes["time_signature"] == "12/8":  # a style outside the corpora: its metre is what is new
        meter = _pick(rng, (" in 12/8", " in 12/8 time", " with a 12/8 triplet feel"))
    if attributes["time_signature"] == "5/4":  # the harp_five style's: a metre no corpus genre plays
        meter = _pick(rng, (" in 5/4", " in 5/4 time", " in five-four time"))

    templates = (
        lambda: (
            f"{_article(mood)} {mood} {genre} in {key_in} at {tempo_at}{meter}, "
            f"with {instruments}, {drums}, and {voice}."
        ),
        lambda: (
            f"{_capitalise(pace)} {mood} {genre}{meter}; {key_tag}, {tempo_tag}. "
            f"{_capitalise(instruments)}; {drums}; {voice}."
        ),
        lambda: f"{genre}, {mood}, {key_tag}, {tempo_tag}{meter}, {instruments}, {drums}, {voice}",
        lambda: (
            f"This {mood} {genre} in {key_in}, moving at {tempo_at}{meter} with {instruments} and {drums}; {voice}."
        ),
        lambda: f"{_capitalise(mood)} {pace} {genre} ({key_tag}, {tempo_tag}{meter}): {voice}; {instruments}; {drums}.",
        lambda: (
            f"{_capitalise(voice)}. {_capitalise(_article(mood))} {mood} {genre} at {tempo_at}, in {key_in}{meter}, "
            f"with {instruments} and {drums}."
        ),
        lambda: (
            f"Genre: {genre}. Mood: {mood}. Key: {attributes['key']} {attributes['mode']}. Tempo: {bpm}. "
            f"Instruments: {instruments}. {_capitalise(drums)}, {voice}."
        ),
    )
    return _capitalise(_pick(rng, templates)())
