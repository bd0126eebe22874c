"""Natural-language captions from a clip's ground-truth attributes.

Every caption states the key as ``"<tonic> <mode>"`` and the tempo as an integer
bpm (so a model can learn both from text), plus mood, genre, instruments, drums
and the singer's gender, in one of several phrasings chosen by the clip's RNG.
"""

from __future__ import annotations

import numpy as np

from songgen_hf.modeling.music import GM_PROGRAMS, MOODS, genre_style


def _pick(rng: np.random.Generator, options):
    return options[int(rng.integers(len(options)))]


def tempo_word(rng: np.random.Generator, tempo_bpm: float) -> str:
    if tempo_bpm < 76:
        return _pick(rng, ("slow", "laid-back", "unhurried"))
    if tempo_bpm < 100:
        return _pick(rng, ("mid-tempo", "moderately paced", "easy-going"))
    if tempo_bpm < 125:
        return _pick(rng, ("upbeat", "bouncy", "steady"))
    return _pick(rng, ("fast", "up-tempo", "brisk"))


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


def describe(attributes: dict, rng: np.random.Generator) -> str:
    """Caption for ``attributes`` (the manifest record's ``attributes`` dict)."""
    mood = _pick(rng, MOODS[attributes["mood"]].caption_words)
    genre = _pick(rng, genre_style(attributes["genre"]).caption_names)
    key = f"{attributes['key']} {attributes['mode']}"
    bpm = int(round(attributes["tempo_bpm"]))
    tempo = _pick(rng, (f"{bpm} bpm", f"{bpm} BPM", f"{bpm} beats per minute"))
    pace = tempo_word(rng, attributes["tempo_bpm"])
    words: list[str] = []
    for instrument in attributes["instruments"]:
        word = GM_PROGRAMS[instrument["program"]][1]
        if word not in words:
            words.append(word)
    order = rng.permutation(len(words))
    instruments = _join([words[i] for i in order])
    drums = (
        _pick(rng, ("drums", "a steady drum beat", "a full drum kit", "live-sounding drums"))
        if attributes["drums"]
        else _pick(rng, ("no drums", "no percussion"))
    )
    gender = attributes["vocal_gender"]
    vocals = _pick(rng, (f"a {gender} voice", f"{gender} vocals", f"a {gender} singer", f"{gender} lead vocals"))
    meter = " in 3/4 time" if attributes["time_signature"] == "3/4" and rng.random() < 0.7 else ""

    templates = (
        lambda: (
            f"{_article(mood)} {mood} {genre} in {key} at {tempo}{meter}, with {instruments}, {drums}, and {vocals}."
        ),
        lambda: (
            f"{_capitalise(vocals)} over {_article(pace)} {pace} {mood} {genre}{meter}: {instruments}, {drums}. "
            f"Key of {key}, {tempo}."
        ),
        lambda: (
            f"{_capitalise(pace)} {mood} {genre} in {key}, {tempo}{meter}. Instrumentation: {instruments}; {drums}. "
            f"Sung by {vocals}."
        ),
        lambda: f"{genre}, {mood}, {key}, {tempo}{meter}, {instruments}, {drums}, {vocals}",
        lambda: (
            f"This {mood} {genre} piece in {key} moves at {tempo}{meter} with {instruments} and {drums}; "
            f"{vocals} carries the melody."
        ),
        lambda: f"{_capitalise(mood)} {pace} {genre} ({key}, {tempo}{meter}): {vocals}; {instruments}; {drums}.",
    )
    text = _pick(rng, templates)()
    return _capitalise(text)
