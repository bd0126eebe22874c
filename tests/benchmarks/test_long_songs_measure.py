"""The long-song benchmark's chorus measure on synthetic songs: a second chorus that plays the first's chords again
for its whole length follows the first chorus; one that only opens with them and then plays the verse's chords
follows the verse; songs without two choruses and a verse before the second are not measured."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "long_songs.py"
RATE = 16_000
# one chord a second, as pitch classes: the chorus's progression and the verse's share no chord
CHORUS = [(0, 4, 7), (9, 0, 4), (5, 9, 0), (7, 11, 2)]  # C, Am, F, G
VERSE = [(2, 6, 9), (4, 8, 11), (11, 3, 6), (1, 4, 8)]  # D, E, B, C#m


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("long_songs_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _chords(progression, seconds: int) -> np.ndarray:
    """``seconds`` of the progression, a chord a second: each chord's three tones in two octaves."""
    time = np.arange(RATE) / RATE
    audio = []
    for index in range(seconds):
        chord = progression[index % len(progression)]
        tones = [220.0 * 2 ** (pc / 12) * octave for pc in chord for octave in (1, 2)]
        audio.append(sum(np.sin(2 * np.pi * f * time) for f in tones) / len(tones))
    return np.concatenate(audio)


def _song(second_chorus: np.ndarray):
    parts = [
        ("verse", _chords(VERSE, 12)),
        ("chorus", _chords(CHORUS, 12)),
        ("verse", _chords(VERSE[1:] + VERSE[:1], 12)),
    ]
    parts.append(("chorus", second_chorus))
    sections, start = [], 0.0
    for kind, audio in parts:
        sections.append({"section": kind, "start_s": start, "end_s": start + len(audio) / RATE})
        start += len(audio) / RATE
    return np.concatenate([audio for _, audio in parts]).astype(np.float32), sections


def test_a_chorus_that_returns_whole_follows_the_first_one(bench):
    audio, sections = _song(_chords(CHORUS, 12))
    reading = bench.chorus_follow(audio, RATE, sections)
    assert reading["follows_first_chorus"] is True
    assert reading["to_first_chorus"] > 0.9 > reading["to_last_verse"]
    # compared from 5 s into each section to where the shortest ends (12 s): 7 s of frames
    assert reading["seconds_compared"] == pytest.approx(7.0, abs=0.05)


def test_a_chorus_that_only_opens_like_the_first_follows_the_verse(bench):
    # its first 5 s are the first chorus's; after them it plays the last verse's chords at the verse's times
    opening = _chords(CHORUS, 5)
    rest = _chords(VERSE[1:] + VERSE[:1], 12)[5 * RATE :]
    audio, sections = _song(np.concatenate([opening, rest]))
    reading = bench.chorus_follow(audio, RATE, sections)
    assert reading["follows_first_chorus"] is False
    assert reading["to_last_verse"] > 0.9 > reading["to_first_chorus"]
    # read from its start, the opening would count: skipping it is what tells the two returns apart
    whole = bench.chorus_follow(audio, RATE, sections, skip_s=0.0)
    assert whole["to_first_chorus"] > reading["to_first_chorus"]


def test_songs_the_measure_cannot_read_and_the_summary(bench):
    audio, sections = _song(_chords(CHORUS, 12))
    one_chorus = [section for section in sections if section is not sections[-1]]
    assert bench.chorus_follow(audio, RATE, one_chorus)["follows_first_chorus"] is None
    no_verse = [section for section in sections if section["section"] == "chorus"]
    assert bench.chorus_follow(audio, RATE, no_verse)["follows_first_chorus"] is None
    short = [dict(section, end_s=section["start_s"] + 4.0) for section in sections]  # nothing past 5 s
    assert bench.chorus_follow(audio, RATE, short)["seconds_compared"] == 0.0
    # half a second past 5 s is too little to say: not measured, and how much there was is said
    brief = [dict(section, end_s=section["start_s"] + 5.5) for section in sections]
    reading = bench.chorus_follow(audio, RATE, brief)
    assert reading["follows_first_chorus"] is None and 0.4 < reading["seconds_compared"] < 0.6
    rows = [bench.chorus_follow(audio, RATE, sections), bench.chorus_follow(audio, RATE, one_chorus)]
    summary = bench.summarise_follow(rows)
    assert summary["songs_measured"] == 1 and summary["songs_following_first_chorus"] == 1
    assert summary["first_minus_verse"]["mean"] > 0
