"""Stage 4: lyrics per clip, from the user's lyrics file or from two speech recognisers.

**Recognition** (the paper's filter): every clip's vocal stem goes through transformers'
``automatic-speech-recognition`` pipeline twice, with two different models (any Hub ids or folders;
Whisper by default).  The clip keeps the first recogniser's transcript when the two agree: their
normalised word edit distance (Levenshtein over lower-cased words without punctuation, divided by
the longer transcript's word count) must not exceed ``max_edit_distance`` (SongGen: 20 %).  With no
second recogniser the filter is off and the distance is not recorded.

**User lyrics** (``NAME.txt`` beside the song) win over recognition.  They are aligned to the clips
by voiced time: section tags (``[verse]``, ``[chorus]`` ...) are dropped, every word gets a share of
the song's voiced time (the VAD segments) proportional to its estimated syllable count (vowel
groups, a silent final e not counted), and a word belongs to the clip that holds the middle of its
share.  When the file has as many lines as the vocals have voiced segments, line *i* is spread over
segment *i* alone (a sung phrase per line).  Words falling in no
clip (a dropped clip, voice outside every clip) are left out; line breaks are kept.  A file whose
word rate over the voiced time is implausible (fewer than ``MIN_WORDS_PER_VOICED_SECOND`` or more
than ``MAX_WORDS_PER_VOICED_SECOND``), or that holds no words, does not match the song: it is
reported and the song falls back to recognition.

**Word timing** (for scoring the voice where it sings): every clip's words, user or recognised, are spread over the
clip's own voiced segments the same way (:func:`estimate_word_timing`); the describe stage writes the result into
the record's attributes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from songgen_hf.data.lyrics_alignment import levenshtein
from songgen_hf.data.prepare.models import load_asr

Recogniser = Callable[[np.ndarray], str]
DEFAULT_ASR_MODEL = "openai/whisper-small"
SECOND_ASR_MODEL = "openai/whisper-base"
DEFAULT_MAX_EDIT_DISTANCE = 0.2  # SongGen drops clips whose two transcripts differ by more than 20 %
MIN_WORDS_PER_VOICED_SECOND = 0.1
MAX_WORDS_PER_VOICED_SECOND = 8.0  # fast rap is about 6-7 words per second
_TAG = re.compile(r"\[[^\]\n]*\]")
_WORD = re.compile(r"[^\W_]+(?:['\u2019][^\W_]+)*")
_VOWELS = re.compile(r"[aeiouy]+")


def normalise_words(text: str) -> list[str]:
    return [word.replace("\u2019", "'") for word in _WORD.findall(str(text or "").lower())]


def edit_distance(first: str, second: str) -> float:
    """Word-level Levenshtein distance divided by the longer transcript's length (0 when both are empty)."""
    a, b = normalise_words(first), normalise_words(second)
    if not a and not b:
        return 0.0
    return levenshtein(a, b) / max(len(a), len(b))


class AsrRecogniser:
    """A transformers ASR pipeline as a recogniser, loaded on first use."""

    def __init__(self, reference: str, device: str = "cpu", language: str | None = None, pipeline=None):
        self.name = str(reference)
        self.device = device
        self.language = language
        self._pipeline = pipeline

    @property
    def pipeline(self):
        if self._pipeline is None:
            self._pipeline = load_asr(self.name, self.device)
        return self._pipeline

    def __call__(self, audio: np.ndarray) -> str:
        pipe = self.pipeline
        kwargs = {}
        generation = getattr(pipe.model, "generation_config", None)
        if self.language and getattr(generation, "lang_to_id", None):  # multilingual Whisper: pin the language
            kwargs["generate_kwargs"] = {"language": self.language, "task": "transcribe"}
        result = pipe({"raw": np.asarray(audio, dtype=np.float32), "sampling_rate": 16000}, **kwargs)
        return str(result["text"]).strip()


@dataclass
class Transcripts:
    text: str
    second: str | None
    edit_distance: float | None


def recognise(audio: np.ndarray, first: Recogniser, second: Recogniser | None) -> Transcripts:
    text = first(audio)
    if second is None:
        return Transcripts(text, None, None)
    other = second(audio)
    return Transcripts(text, other, round(edit_distance(text, other), 4))


def user_lyrics_lines(text: str) -> list[list[str]]:
    """The lines of a lyrics file as lists of words (original spelling), section tags and empty lines dropped."""
    lines = []
    for line in _TAG.sub(" ", text).splitlines():
        words = line.split()
        if words:
            lines.append(words)
    return lines


def syllable_estimate(word: str) -> int:
    word = word.lower()
    groups = len(_VOWELS.findall(word))
    if groups > 1 and word.endswith("e") and not word.endswith(("le", "ee")):
        groups -= 1  # a silent final e: "close", "are", "time"
    return max(1, groups)


def _voiced_to_time(position: float, segments: list[tuple[float, float]], opening: bool = False) -> float:
    """The absolute time at ``position`` seconds into the concatenated voiced segments (where it falls on the end of
    a segment: that end, or with ``opening`` the next segment's start, as where a word begins)."""
    for start, end in segments:
        length = end - start
        if position < length - 1e-9 or (not opening and position <= length + 1e-9):
            return start + min(max(position, 0.0), length)
        position -= length
    return segments[-1][1]


def check_user_lyrics(lines: list[list[str]], voiced_seconds: float) -> str | None:
    """Why the lyrics cannot belong to this song, or None when they plausibly do."""
    words = sum(len(line) for line in lines)
    if words == 0:
        return "the lyrics file holds no words"
    if voiced_seconds <= 0:
        return "no voice was detected to align them to"
    rate = words / voiced_seconds
    if not MIN_WORDS_PER_VOICED_SECOND <= rate <= MAX_WORDS_PER_VOICED_SECOND:
        return (
            f"{words} words over {voiced_seconds:.1f} s of voice is {rate:.2f} words/s, outside "
            f"[{MIN_WORDS_PER_VOICED_SECOND}, {MAX_WORDS_PER_VOICED_SECOND}]: is it this song's lyrics file?"
        )
    return None


def word_times(lines: list[list[str]], segments: list[tuple[float, float]]) -> list[tuple[int, str, float]]:
    """(line index, word, time of the middle of its voiced share) for every word."""
    if len(lines) == len(segments) > 1:  # one sung phrase per line: each line within its own segment
        return [
            (index, word, time)
            for index, (line, segment) in enumerate(zip(lines, segments))
            for _, word, time in _spread([(index, word) for word in line], [segment])
        ]
    return _spread([(index, word) for index, line in enumerate(lines) for word in line], segments)


def _shares(words: list[str], segments: list[tuple[float, float]]) -> list[tuple[float, float, float]]:
    """(start, middle, end) in the song's time of each word's share of the voiced time, shares proportional to the
    words' estimated syllable counts."""
    weights = np.array([syllable_estimate(word) for word in words], dtype=np.float64)
    voiced = sum(end - start for start, end in segments)
    ends = np.cumsum(weights) / weights.sum() * voiced
    starts = ends - weights / weights.sum() * voiced
    return [
        (
            _voiced_to_time(float(a), segments, opening=True),
            _voiced_to_time(float(a + b) / 2, segments),
            _voiced_to_time(float(b), segments),
        )
        for a, b in zip(starts, ends)
    ]


def _spread(flat: list[tuple[int, str]], segments: list[tuple[float, float]]) -> list[tuple[int, str, float]]:
    shares = _shares([word for _, word in flat], segments)
    return [(index, word, middle) for (index, word), (_, middle, _) in zip(flat, shares)]


def estimate_word_timing(text: str, segments: list[tuple[float, float]]) -> dict[str, list] | None:
    """When each word of a clip's lyrics is sung, estimated from the clip's voiced segments (seconds from the clip's
    start): every word gets its syllable-weighted share of the voiced time, as the user lyrics are spread over a song.
    A rough guide, not an alignment: on 64 held-out clips of the synthetic corpus (silero-vad segments of the vocal
    stem against the true timing) a word's estimated middle is 0.21 s from its true one at the median, within 0.5 s
    for 75 % of the words (0.90 s and 30 % when the words are spread over the whole clip instead).  The result
    is in the record's attributes under the names validation's sung-frame scores read (``syllables`` holding words,
    ``note_onsets_s``, ``note_durations_s``: ``data/lyrics_alignment.py``); None when there is nothing to time."""
    words = normalise_words(text)
    segments = [(float(a), float(b)) for a, b in segments if b > a]
    if not words or not segments:
        return None
    shares = _shares(words, segments)
    return {
        "syllables": words,
        "note_onsets_s": [round(start, 4) for start, _, _ in shares],
        "note_durations_s": [round(max(end - start, 0.0), 4) for start, _, end in shares],
    }


def align_user_lyrics(
    lines: list[list[str]], segments: list[tuple[float, float]], clips: list[tuple[float, float]]
) -> list[str]:
    """Each clip's share of the lyrics, as text with the file's line breaks."""
    per_clip: list[list[tuple[int, str]]] = [[] for _ in clips]
    for line, word, time in word_times(lines, segments):
        for k, (start, end) in enumerate(clips):
            if start <= time < end:
                per_clip[k].append((line, word))
                break
    texts = []
    for words in per_clip:
        out, current = [], None
        for line, word in words:
            out.append(("\n" if current is not None and line != current else (" " if out else "")) + word)
            current = line
        texts.append("".join(out))
    return texts


__all__ = [
    "DEFAULT_ASR_MODEL",
    "DEFAULT_MAX_EDIT_DISTANCE",
    "SECOND_ASR_MODEL",
    "AsrRecogniser",
    "Recogniser",
    "Transcripts",
    "align_user_lyrics",
    "check_user_lyrics",
    "edit_distance",
    "estimate_word_timing",
    "normalise_words",
    "recognise",
    "user_lyrics_lines",
    "word_times",
]
