"""The vocal score a told singer sings for a request: each syllable's onset, length, note and voice.

The score follows the synthetic corpus's rules (shared through :mod:`songgen_hf.modeling.music`), so the singer is told
scores of the kind it was trained on; the rules are told below.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from songgen_hf.modeling.music import (
    FEMALE_VOICES,
    FILLERS,
    GENRES,
    LINE_TEMPLATES,
    MALE_VOICES,
    MIN_FINAL_RING_S,
    PREPOSITIONS,
    PRONOUNS,
    THEMES,
    TIME_WORDS,
    VOCAL_REGISTERS,
    Key,
    Phrase,
    generate_melody,
    lexicon_word,
    parse_numeral,
    phrase_slot_capacity,
    tonic_numeral,
)
from songgen_hf.modeling.songgen.description_songgen import explicit_key
from songgen_hf.modeling.songgen.tokenization_songgen import parse_song_structure

# A vocal score for a request: which syllable is sung when, on which note, in which voice.
#
# A singer that is *told* the syllable sung at every frame, its note and the voice fills the vocal track's codes in
# parallel (``SongGenSinger`` in ``modeling/songgen_singer/``); the autoregressive decoder, which must find its place
# in the lyrics while it samples, sings words no recogniser hears.  This module writes the score the singer is told,
# from what the processor understood (tempo, key, lyrics) and the words of the description (the voice), with the
# rules the synthetic corpus sang its songs by (shared with ``data/synth`` through ``music.py``): one syllable
# per eighth-note slot at most, lines on the bar grid, a melody in the key with chord tones on the strong beats.  So
# the singer is told scores of the kind it was trained on, whatever the request.
#
# Words are split into sung syllables by the corpus lexicon where it knows them (its near-phonetic spellings, as
# the corpus sang them), else by vowel groups.

DEFAULT_TEMPO_BPM = 110.0  # a request that names no tempo is sung at a moderate one
BEATS_PER_BAR = 4
MAX_LINES = 6
# Lines fill at most this share of their slots (the corpus's 0.4-0.75): a denser line has no room to breathe.
MOST_SLOT_SHARE = 0.75
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)*")
_VOWELS = re.compile(r"[aeiouy]+")
_FEMALE = re.compile(r"\b(female|woman|women|girl|girls|she|her|soprano|alto)\b")
_MALE = re.compile(r"\b(male|man|men|boy|boys|he|his|baritone|tenor|bass singer)\b")


@dataclass(frozen=True)
class VocalScore:
    """One song's sung notes: ``syllables[i]`` sung from ``onsets_s[i]`` for ``durations_s[i]`` seconds on MIDI
    note ``midi[i]``, in the corpus voice ``voice`` (an espeak-ng voice name, which the singer knows by number)."""

    syllables: tuple[str, ...]
    onsets_s: tuple[float, ...]
    durations_s: tuple[float, ...]
    midi: tuple[int, ...]
    voice: str

    def __post_init__(self):
        lengths = {len(self.syllables), len(self.onsets_s), len(self.durations_s), len(self.midi)}
        if len(lengths) != 1:
            raise ValueError("A VocalScore needs as many onsets, durations and notes as syllables.")

    @property
    def end_s(self) -> float:
        return max((a + b for a, b in zip(self.onsets_s, self.durations_s)), default=0.0)


@lru_cache(maxsize=1)
def corpus_lexicon() -> dict[str, tuple[str, ...]]:
    """Every word of the synthetic corpus's lyrics (lower case) -> its sung syllables, as the corpus spelt them."""
    words = [*PRONOUNS, *PREPOSITIONS, *TIME_WORDS, *FILLERS]
    for theme in THEMES.values():
        for entries in theme.values():
            words.extend(entries)
    for template in LINE_TEMPLATES:  # the templates' literal words ("the", "un|der", ...)
        words.extend(lexicon_word(token) for token in template.split() if not token.isupper())
    return {word.text.lower(): tuple(word.syllables) for word in words}


def syllables_of(word: str) -> tuple[str, ...]:
    """A word's sung syllables: the corpus lexicon's spelling, else one syllable per vowel group (each keeps the
    consonants before it; the last also those after)."""
    word = word.lower()
    known = corpus_lexicon().get(word)
    if known:
        return known
    groups = list(_VOWELS.finditer(word))
    if word.endswith("e") and len(groups) > 1 and groups[-1].group() == "e" and groups[-1].start() == len(word) - 1:
        groups = groups[:-1]  # a silent final e ("shine")
    if len(groups) <= 1:
        return (word,)
    parts, start = [], 0
    for this, following in zip(groups, groups[1:]):
        consonants = following.start() - this.end()
        cut = this.end() + (consonants + 1) // 2 if consonants > 1 else this.end()  # "sum|mer", "o|pen"
        parts.append(word[start:cut])
        start = cut
    parts.append(word[start:])
    return tuple(part for part in parts if part)


def lyric_lines(lyrics: str) -> list[list[str]]:
    """The sung lines (newlines, or the "." the processor joins lines with) as lists of lower-case words; section
    tags are structure, not words (:mod:`~songgen_hf.modeling.songgen.tokenization_songgen`)."""
    lines = []
    for sung in parse_song_structure(lyrics).lines:
        for line in re.split(r"[.;!?]+", sung.lower()):
            words = _WORD.findall(line)
            if words:
                lines.append(words)
    return lines


def described_gender(description: str) -> str | None:
    """ "female" or "male" as the description says, None when it says neither or both."""
    text = (description or "").lower()
    female, male = bool(_FEMALE.search(text)), bool(_MALE.search(text))
    if female != male:
        return "female" if female else "male"
    return None


def vocal_gender(description: str, rng: np.random.Generator) -> str:
    """ "female" or "male" as the description says (drawn when it says neither or both)."""
    return described_gender(description) or ("female", "male")[int(rng.integers(2))]


# ----------------------------------------------------------------------------------------------------
# The voice a singer adapter learnt: the register and voices its training songs' scores sang.
#
# A singer adapter (``finetune-lora``'s singer stage) learns to sing its songs' notes in their voice, but the score
# it is told for a request is planned here, in the corpus's register for the voice asked and in a corpus voice: a
# bass choir's adapter would be told a baritone's notes it never sang.  So the singer stage records what its songs'
# scores sang (per gender: the notes' median and range, the voices and how often each sang) and a song sung with
# that adapter is planned in it.  The record is read and checked by ``songgen_hf.pipelines.singer_adapters``;
# :func:`song_voice` is the one place that decides a song's gender, register and voice.

SUNG_GENDERS = ("male", "female")
# A register holds at least an octave: every pitch class has a note in it, so each chord and the tonic can end a line.
MIN_REGISTER_SEMITONES = 12
# The range of a gender's notes leaves out the outer 2.5 % at each end: a stray note does not widen it.
REGISTER_QUANTILES = (0.025, 0.975)
MIN_REGISTER_NOTES = 8  # fewer known notes of a gender say nothing about its register


@dataclass(frozen=True)
class SungRegister:
    """What one gender's training songs sang: MIDI notes ``low``-``high`` around their ``median``, ``voices`` the
    voices they were sung in with each one's share of those songs (``""``: no voice told), ``songs`` how many."""

    low: int
    high: int
    median: float
    voices: tuple[tuple[str, float], ...]
    songs: int

    def __post_init__(self):
        for name in ("low", "high", "songs"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{name} must be a whole number, got {value!r}.")
        if not 0 <= self.low < self.high <= 127 or self.high - self.low < MIN_REGISTER_SEMITONES:
            raise ValueError(
                f"low and high must be MIDI notes 0-127 at least {MIN_REGISTER_SEMITONES} apart, got "
                f"{self.low!r} and {self.high!r}."
            )
        if isinstance(self.median, bool) or not isinstance(self.median, (int, float)):
            raise ValueError(f"median must be a number, got {self.median!r}.")
        if not self.low <= self.median <= self.high:
            raise ValueError(f"median must lie within low-high ({self.low}-{self.high}), got {self.median!r}.")
        if self.songs < 1:
            raise ValueError(f"songs must be at least 1, got {self.songs!r}.")
        if not self.voices:
            raise ValueError("voices must name at least one voice.")
        for voice, share in self.voices:
            if not isinstance(voice, str) or len(voice) > 64:
                raise ValueError(f"a voice is a name of at most 64 characters, got {voice!r}.")
            if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 < share <= 1:
                raise ValueError(f"voice {voice!r}'s share must be a number in (0, 1], got {share!r}.")
        if abs(sum(share for _, share in self.voices) - 1.0) > 1e-3:
            raise ValueError("the voices' shares must add up to 1.")


@dataclass(frozen=True)
class LearnedVoice:
    """The register and voices a singer adapter's training songs sang, per gender (``SUNG_GENDERS``)."""

    registers: tuple[tuple[str, SungRegister], ...]

    def __post_init__(self):
        genders = [gender for gender, _ in self.registers]
        if not genders or len(set(genders)) != len(genders) or not set(genders) <= set(SUNG_GENDERS):
            raise ValueError(f"registers must name each of {list(SUNG_GENDERS)} at most once, got {genders}.")
        if not all(isinstance(register, SungRegister) for _, register in self.registers):
            raise ValueError("each register must be a SungRegister.")

    def register(self, gender: str) -> SungRegister | None:
        return dict(self.registers).get(gender)

    def gender_share(self, gender: str) -> float:
        """The share of the training songs sung by ``gender``."""
        counted = {name: register.songs for name, register in self.registers}
        return counted.get(gender, 0) / sum(counted.values())

    @classmethod
    def from_scores(cls, sung: Iterable[tuple[str | None, Sequence[int], str | None]]) -> LearnedVoice | None:
        """What songs sang: each ``(gender, its notes (MIDI; < 0: unknown), its voice (None: none told))``.  Songs of
        no known gender or without known notes are left out; a gender with fewer than ``MIN_REGISTER_NOTES`` known
        notes is not recorded; None when no gender is."""
        notes: dict[str, list[int]] = {gender: [] for gender in SUNG_GENDERS}
        voices: dict[str, dict[str, int]] = {gender: {} for gender in SUNG_GENDERS}
        for gender, midi, voice in sung:
            known = [int(note) for note in midi if 0 <= int(note) <= 127]
            if gender not in notes or not known:
                continue
            notes[gender].extend(known)
            voices[gender][voice or ""] = voices[gender].get(voice or "", 0) + 1
        registers = []
        for gender in SUNG_GENDERS:
            if len(notes[gender]) < MIN_REGISTER_NOTES:
                continue
            values = np.asarray(notes[gender], dtype=float)
            median = float(np.median(values))
            low, high = np.quantile(values, REGISTER_QUANTILES)
            width = max(MIN_REGISTER_SEMITONES, int(math.ceil(high - low)))
            # centred on the median, as the melody centres on its register's middle; kept within MIDI
            start = min(max(int(round(median - width / 2)), 0), 127 - width)
            songs = sum(voices[gender].values())
            shares = tuple(sorted((name, count / songs) for name, count in voices[gender].items()))
            median = min(max(median, start), start + width)
            registers.append((gender, SungRegister(start, start + width, round(median, 2), shares, songs)))
        return cls(tuple(registers)) if registers else None

    def to_dict(self) -> dict:
        return {
            gender: {
                "low": register.low,
                "high": register.high,
                "median": register.median,
                "songs": register.songs,
                "voices": dict(register.voices),
            }
            for gender, register in self.registers
        }

    @classmethod
    def from_dict(cls, data) -> LearnedVoice:
        """The record :meth:`to_dict` writes; a ``ValueError`` naming what is wrong otherwise."""
        if not isinstance(data, dict) or not data:
            raise ValueError("the registers must be an object naming at least one gender.")
        registers = []
        for gender, entry in data.items():
            if gender not in SUNG_GENDERS:
                raise ValueError(f"{gender!r} is not a sung gender (one of {list(SUNG_GENDERS)}).")
            fields = {"low", "high", "median", "songs", "voices"}
            if not isinstance(entry, dict) or set(entry) != fields:
                raise ValueError(f"the {gender} register must be an object of exactly {sorted(fields)}.")
            if not isinstance(entry["voices"], dict):
                raise ValueError(f"the {gender} register's voices must be an object of voice: share.")
            try:
                register = SungRegister(
                    entry["low"],
                    entry["high"],
                    entry["median"],
                    tuple(sorted(entry["voices"].items())),
                    entry["songs"],
                )
            except ValueError as error:
                raise ValueError(f"the {gender} register: {error}") from None
            registers.append((gender, register))
        return cls(tuple(registers))


# A song's voice style: the learnt voices of the adapters it is sung with, each with its weight (a blend's).
VoiceStyle = Sequence[tuple[LearnedVoice, float]]


def song_voice(
    description: str, rng: np.random.Generator, style: VoiceStyle | None = None
) -> tuple[str, tuple[int, int], str]:
    """A song's gender, the register its melody is sung in and its voice: the one place that decides them.

    Without a ``style`` (or with weights 0 only) as the corpus did: the gender the description says (else drawn),
    that gender's corpus register, one of its corpus voices.  With one, as its adapters' training songs sang:
    the gender the description says, else drawn by the songs' gender shares; the register moved from the corpus's
    by each adapter's weight times the way to its own (a blend weighs them as it weighs the singer's updates);
    the voice drawn from its adapters' voices by weight times share, and from the corpus voices by what weight is
    left below 1.  A gender no chosen adapter learnt is sung as without a style."""
    chosen = [(learned, float(weight)) for learned, weight in (style or ()) if weight]
    if not chosen:
        gender = vocal_gender(description, rng)
        voices = FEMALE_VOICES if gender == "female" else MALE_VOICES
        return gender, VOCAL_REGISTERS[gender], voices[int(rng.integers(len(voices)))]
    gender = described_gender(description)
    if gender is None:
        rest = max(0.0, 1.0 - sum(weight for _, weight in chosen))
        female = rest / 2 + sum(weight * learned.gender_share("female") for learned, weight in chosen)
        male = rest / 2 + sum(weight * learned.gender_share("male") for learned, weight in chosen)
        gender = "female" if rng.random() * (female + male) < female else "male"
    corpus_voices = FEMALE_VOICES if gender == "female" else MALE_VOICES
    learnt = [(learned.register(gender), weight) for learned, weight in chosen if learned.register(gender)]
    if not learnt:
        return gender, VOCAL_REGISTERS[gender], corpus_voices[int(rng.integers(len(corpus_voices)))]
    base_low, base_high = VOCAL_REGISTERS[gender]
    low = base_low + sum(weight * (register.low - base_low) for register, weight in learnt)
    high = base_high + sum(weight * (register.high - base_high) for register, weight in learnt)
    low = min(max(int(round(low)), 0), 127 - MIN_REGISTER_SEMITONES)
    high = min(max(int(round(high)), low + MIN_REGISTER_SEMITONES), 127)
    pool: dict[str, float] = {}
    for register, weight in learnt:
        for voice, share in register.voices:
            pool[voice] = pool.get(voice, 0.0) + weight * share
    rest = max(0.0, 1.0 - sum(weight for _, weight in learnt))
    for voice in corpus_voices:
        pool[voice] = pool.get(voice, 0.0) + rest / len(corpus_voices)
    names = sorted(pool)
    weights = np.asarray([pool[name] for name in names])
    voice = names[int(rng.choice(len(names), p=weights / weights.sum()))]
    return gender, (low, high), voice


def _key(name: str | None, rng: np.random.Generator) -> Key:
    if name is None:
        return Key(int(rng.integers(12)), ("major", "minor")[int(rng.integers(2))])
    key_id, canonical = explicit_key(name)
    return Key(key_id % 12, canonical.split()[-1])


def _phrase_lines(lines: list[list[str]], capacity: int, num_lines: int) -> list[list[str]]:
    """The syllables of each sung line: a lyric line longer than a phrase holds goes on over the next phrases (cut
    between words where a word fits); what does not fit in ``num_lines`` phrases is not sung."""
    most = max(1, min(capacity, round(MOST_SLOT_SHARE * (capacity + 2))))
    phrases: list[list[str]] = []
    for words in lines:
        current: list[str] = []
        for word in words:
            sung = list(syllables_of(word))[:most]
            if current and len(current) + len(sung) > most:
                phrases.append(current)
                current = []
            current.extend(sung)
        if current:
            phrases.append(current)
    return phrases[:num_lines]


def _planned_phrases(
    sections: Sequence[dict], bar_s: float, body_bars: int, bars_per_line: int
) -> tuple[list[list[str]], list[Phrase]]:
    """The sung syllables and phrases of a planned song: each sung section's lines on the bars its span covers,
    spread evenly over them (a section too short for its lines at ``bars_per_line`` sings a line a bar, and what
    still does not fit is not sung, as in a one-window song); instrumental sections get no phrase."""
    sung: list[list[str]] = []
    phrases: list[Phrase] = []
    for section in sections:
        words = [line for text in section.get("lines") or () for line in lyric_lines(text)]
        first = min(body_bars, round(float(section["start_s"]) / bar_s))
        bars = min(body_bars, round(float(section["end_s"]) / bar_s)) - first
        if not words or bars < 1:
            continue
        per_line = bars_per_line
        if (
            per_line > 1
            and len(_phrase_lines(words, phrase_slot_capacity(per_line, BEATS_PER_BAR), bars)) * per_line > bars
        ):
            per_line = 1  # too few bars for a line every two: a line a bar, as fast songs sing
        slots = bars // per_line
        section_sung = _phrase_lines(words, phrase_slot_capacity(per_line, BEATS_PER_BAR), slots)
        for index, syllables in enumerate(section_sung):
            start = first + (index * slots // len(section_sung)) * per_line
            phrases.append(Phrase(start, per_line, len(syllables)))
            sung.append(syllables)
    return sung, phrases


def compose_vocal_score(
    lyrics: str,
    description: str = "",
    tempo_bpm: float | None = None,
    key: str | None = None,
    duration_s: float = 10.0,
    seed: int = 0,
    plan: dict | None = None,
    voice_style: VoiceStyle | None = None,
) -> VocalScore | None:
    """The score of a request (None when the lyrics have no words or the song is too short for a sung bar).

    ``tempo_bpm`` and ``key`` as the processor understood them (a moderate tempo and a drawn key when not stated);
    ``duration_s`` the song's length; ``seed`` draws the rest (chords, rhythm, melody, voice) as the corpus did.
    ``plan``: the sections of a song longer than one window (``SongPlan.to_dict()``, as ``interpret`` reports it):
    each sung section's lines are sung inside that section's bars, and nothing in an instrumental one.
    ``voice_style``: the learnt voices of the singer adapters the song is sung with (:func:`song_voice`); None, the
    corpus's registers and voices.
    """
    lines = lyric_lines(lyrics or "")
    if not lines:
        return None
    rng = np.random.default_rng(seed)
    tempo = float(tempo_bpm) if tempo_bpm else DEFAULT_TEMPO_BPM
    if not math.isfinite(tempo) or tempo <= 0:
        raise ValueError(f"A vocal score needs a positive tempo; got {tempo_bpm!r}.")
    music_key = _key(key, rng)
    _, register, voice = song_voice(description, rng, voice_style)
    genre = GENRES[sorted(GENRES)[int(rng.integers(len(GENRES)))]]
    progressions = genre.progressions[music_key.mode]
    progression = progressions[int(rng.integers(len(progressions)))]
    # the corpus's song structure: lines of one bar at slow tempos (else two), up to two bars of intro
    bar_s = BEATS_PER_BAR * 60.0 / tempo
    body_bars = int((duration_s - MIN_FINAL_RING_S + 1e-9) // bar_s)
    if body_bars < 1:
        return None
    bars_per_line = 1 if bar_s >= 2.5 or body_bars < 4 else 2
    if plan is not None and plan.get("sections"):
        sung, phrases = _planned_phrases(plan["sections"], bar_s, body_bars, bars_per_line)
        if not phrases:
            return None
    else:
        num_lines = min(MAX_LINES, body_bars // bars_per_line)
        intro_bars = min(body_bars - num_lines * bars_per_line, 2)
        sung = _phrase_lines(lines, phrase_slot_capacity(bars_per_line, BEATS_PER_BAR), num_lines)
        phrases = [
            Phrase(intro_bars + index * bars_per_line, bars_per_line, len(syllables))
            for index, syllables in enumerate(sung)
        ]
    chords = [parse_numeral(progression[bar % len(progression)], music_key) for bar in range(body_bars)]
    chords.append(parse_numeral(tonic_numeral(music_key), music_key))
    melody = generate_melody(rng, music_key, chords, phrases, BEATS_PER_BAR, register)
    beat_s = 60.0 / tempo
    onsets = tuple(round(note.start_beat * beat_s, 5) for note in melody)
    # as the corpus's singer did: a syllable stops a little before the next note so that consecutive ones stay apart
    durations = tuple(
        round(note.duration_beats * beat_s - min(0.06, 0.2 * note.duration_beats * beat_s), 5) for note in melody
    )
    syllables = tuple(syllable for line in sung for syllable in line)
    return VocalScore(syllables, onsets, durations, tuple(int(note.midi) for note in melody), voice)


def request_score(
    processor,
    description: str,
    lyrics: str,
    duration_s: float,
    seed: int = 0,
    tempo_bpm=None,
    key=None,
    understood: dict | None = None,
    voice_style: VoiceStyle | None = None,
) -> VocalScore | None:
    """The score of one request as ``processor`` understands it (its tempo and key, or ``tempo_bpm`` / ``key`` given
    explicitly; ``understood``: its ``interpret`` of this request, when the caller has it already; ``voice_style``:
    the learnt voices of the singer adapters it is sung with); None for an instrumental, a song asked without vocals,
    or lyrics without words."""
    if understood is None:
        understood = processor.interpret(description, lyrics or "", tempo_bpm=tempo_bpm, key=key)
    if understood["instrumental"] or understood.get("vocals") is False:
        return None
    return compose_vocal_score(
        lyrics,
        description,
        understood.get("tempo_bpm"),
        understood.get("key"),
        float(duration_s),
        seed,
        plan=understood.get("plan"),
        voice_style=voice_style,
    )


def request_scores(
    processor, descriptions: list[str], lyrics: list[str], duration_s: float | list[float], seed: int = 0
) -> list[VocalScore | None]:
    """:func:`request_score` of each request, song ``i`` drawn from ``seed + i``."""
    durations = duration_s if isinstance(duration_s, (list, tuple)) else [duration_s] * len(descriptions)
    if not len(descriptions) == len(lyrics) == len(durations):
        raise ValueError("request_scores needs as many lyrics and durations as descriptions.")
    return [
        request_score(processor, description, words, duration, seed + index)
        for index, (description, words, duration) in enumerate(zip(descriptions, lyrics, durations))
    ]


__all__ = [
    "LearnedVoice",
    "SungRegister",
    "VoiceStyle",
    "compose_vocal_score",
    "corpus_lexicon",
    "described_gender",
    "lyric_lines",
    "request_score",
    "request_scores",
    "song_voice",
    "syllables_of",
    "vocal_gender",
    "VocalScore",
]
