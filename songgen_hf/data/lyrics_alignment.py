"""Where in its lyrics a song is at each frame: when each syllable is sung, and which lyric token holds it.

A song record may say when each syllable is sung: the synthetic corpus (``songgen data synth``) writes
``syllables``, ``note_onsets_s`` and ``note_durations_s`` into its ``attributes``, and any corpus with
syllable- or word-level timing can do the same.  For every codec frame in which a syllable sounds, the target is
the index of the lyric token (as :meth:`VoiceBpeTokenizer.frame_lyrics` numbers them) that holds the middle of that
syllable; frames where nothing is sung get NaN.  Training's validation scores the voice over the sung frames
(``songgen_hf.training.songgen_data.sung_frames``), and data preparation checks transcripts with the same spelling
alignment.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

TIMING_FIELDS = ("syllables", "note_onsets_s", "note_durations_s")


def syllable_timing(attributes: Any) -> dict[str, list] | None:
    """The syllables and their onsets and durations (seconds) from a record's ``attributes`` (a dict or its JSON),
    or None where the record has none or they disagree in length."""
    if isinstance(attributes, str):
        try:
            attributes = json.loads(attributes)
        except ValueError:
            return None
    if not isinstance(attributes, dict) or not all(isinstance(attributes.get(name), list) for name in TIMING_FIELDS):
        return None
    timing = {name: attributes[name] for name in TIMING_FIELDS}
    lengths = {len(values) for values in timing.values()}
    return timing if len(lengths) == 1 and lengths != {0} else None


# A word is a run of word characters, apostrophes inside it kept ("don't"): the cleaned lyrics separate words by
# spaces and by the "." that stands for a line break.
_WORD = re.compile(r"\w+(?:'\w+)*")
# A word is sung on at most this many syllables (the longest word of the synthetic corpus has four).
MAX_SYLLABLES_PER_WORD = 6
# Where the syllables of a word spell it this badly (normalised edit distance), their targets are left out.
MAX_SPELLING_DISTANCE = 0.8
# The cost of a word that no syllable is sung on (a word the singer skipped, or a line the timing does not cover) ...
SKIPPED_WORD_COST = 1.0
# ... and of a syllable sung in no word ("oh", "yeah" that the lyrics leave out).  Cheaper than a bad spelling, dearer
# than the usual sung respelling of a syllable ("uh" of "again" sung uh|gen), so such syllables stay in their word.
EXTRA_SYLLABLE_COST = 0.3


def levenshtein(first: Sequence, second: Sequence) -> int:
    """Edit distance between two sequences (of characters, or of words): insertions, deletions, substitutions."""
    previous = list(range(len(second) + 1))
    for i, a in enumerate(first, 1):
        current = [i]
        for j, b in enumerate(second, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a != b)))
        previous = current
    return previous[-1]


def spelling_distance(first: str, second: str) -> float:
    """Levenshtein distance between two strings over the longer one's length (0 = equal, 1 = nothing shared)."""
    if not first or not second:
        return 0.0 if first == second else 1.0
    return levenshtein(first, second) / max(len(first), len(second))


@functools.lru_cache(maxsize=65536)  # the collator meets each song once an epoch
def syllable_words(words: tuple[str, ...], syllables: tuple[str, ...]) -> tuple[tuple[int, int, int, float], ...]:
    """Which word each syllable is sung in: ``(word index, syllable's index within the word, syllables in the word,
    spelling distance of the word's syllables)`` per syllable, word index -1 for a syllable sung in no word.

    Syllables are often spelt as sung rather than as written ("electric" sung ``ee|lek|trik``), so they cannot be
    found by text search; instead the syllables are cut into consecutive groups, one per word in order, so that each
    group's concatenation spells its word as closely as possible: a monotone alignment by dynamic programming over
    (words, syllables).  A word may get no syllable (SKIPPED_WORD_COST), a syllable no word (EXTRA_SYLLABLE_COST), a
    word at most MAX_SYLLABLES_PER_WORD.  Word timing (one "syllable" per word, as an aligner gives it) is the case
    where every group is one syllable, and when the two spell the same words it costs nothing; otherwise the work
    grows as words x syllables (0.3 s for 80 words of 92 syllables, once per song: the result is cached)."""
    if words == syllables:  # word timing of the lyrics' own words (songgen data prepare)
        return tuple((index, 0, 1, 0.0) for index in range(len(words)))
    n_words, n_syllables = len(words), len(syllables)
    inf = float("inf")
    # cost[w][i]: the best cost of syllables[:i] over words[:w]; back[w][i]: (w', i') of the state it came from
    cost = [[inf] * (n_syllables + 1) for _ in range(n_words + 1)]
    back = [[(0, 0)] * (n_syllables + 1) for _ in range(n_words + 1)]
    cost[0][0] = 0.0
    for w in range(n_words + 1):
        for i in range(n_syllables + 1):
            best, origin = cost[w][i], back[w][i]
            if i and cost[w][i - 1] + EXTRA_SYLLABLE_COST < best:
                best, origin = cost[w][i - 1] + EXTRA_SYLLABLE_COST, (w, i - 1)
            if w and cost[w - 1][i] + SKIPPED_WORD_COST < best:
                best, origin = cost[w - 1][i] + SKIPPED_WORD_COST, (w - 1, i)
            for k in range(max(0, i - MAX_SYLLABLES_PER_WORD), i) if w else ():
                candidate = cost[w - 1][k] + spelling_distance(words[w - 1], "".join(syllables[k:i]))
                if candidate < best:
                    best, origin = candidate, (w - 1, k)
            cost[w][i], back[w][i] = best, origin
    out = [(-1, 0, 0, 1.0)] * n_syllables
    w, i = n_words, n_syllables
    while w or i:
        previous_w, k = back[w][i]
        if previous_w == w - 1 and k < i:  # syllables[k:i] are word w - 1's
            distance = spelling_distance(words[w - 1], "".join(syllables[k:i]))
            for index in range(k, i):
                out[index] = (w - 1, index - k, i - k, distance)
        w, i = previous_w, k
    return tuple(out)


def syllable_token_positions(tokenizer, lyrics: str, syllables: list[str], lang: str = "en") -> list[float]:
    """For each syllable, the index of the lyric token holding its share of its word (a word sung on n syllables is
    cut into n equal character spans; the syllable's target is the token holding its span's middle; see
    :func:`syllable_words`).  NaN where the syllable is sung in no word of the lyrics or its word's syllables spell it
    too badly: the target is then left out rather than guessed."""
    cleaned, owner = tokenizer.char_token_indices(lyrics, lang)
    spans = [match.span() for match in _WORD.finditer(cleaned)]
    pieces = [tokenizer.clean(str(syllable), lang).strip() for syllable in syllables]
    placed = syllable_words(tuple(cleaned[a:b] for a, b in spans), tuple(pieces))
    positions = []
    for word, index, count, distance in placed:
        if word < 0 or distance > MAX_SPELLING_DISTANCE:
            positions.append(math.nan)
            continue
        start, end = spans[word]
        middle = start + int((index + 0.5) * (end - start) / count)
        positions.append(float(owner[min(middle, end - 1)]))
    return positions


def frame_targets(
    positions: list[float],
    onsets_s: list[float],
    durations_s: list[float],
    frame_rate: float,
    num_frames: int,
    start_frame: int = 0,
) -> np.ndarray:
    """``(num_frames,)`` float32: the token position sung at each frame of a crop that starts ``start_frame`` frames
    into the song, NaN where nothing is sung.  A syllable covers the frames from its onset to its end."""
    targets = np.full(num_frames, np.nan, dtype=np.float32)
    for position, onset, duration in zip(positions, onsets_s, durations_s):
        if not math.isfinite(position):
            continue
        # frame k is [k, k + 1) / frame_rate; the tolerance keeps 0.3 s * 50 = 15.000000000000002 from adding a frame
        first = int(math.floor(float(onset) * frame_rate + 1e-6)) - start_frame
        last = int(math.ceil((float(onset) + float(duration)) * frame_rate - 1e-6)) - start_frame
        first, last = max(first, 0), min(last, num_frames)
        if first < last:
            targets[first:last] = position
    return targets


__all__ = [
    "frame_targets",
    "levenshtein",
    "spelling_distance",
    "syllable_timing",
    "syllable_token_positions",
    "syllable_words",
    "TIMING_FIELDS",
]
