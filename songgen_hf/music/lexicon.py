"""Themed English lyric lines with a known syllable split.

Each word is written ``display:sung|sung`` (or just ``syl|syl`` when the sung
spellings concatenate to the word).  The sung spellings are what espeak-ng
pronounces, one melody note each, so they are chosen to be read as a single
syllable (e.g. ``ev`` rather than a bare letter that would be spelled out).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Word:
    text: str
    syllables: tuple[str, ...]


def _word(entry: str) -> Word:
    if ":" in entry:
        display, sung = entry.split(":", 1)
        return Word(display.replace("|", ""), tuple(sung.split("|")))
    parts = tuple(entry.split("|"))
    return Word("".join(parts), parts)


def _words(entries: str) -> tuple[Word, ...]:
    return tuple(_word(entry) for entry in entries.split())


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
            words.append(_word(token))
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
