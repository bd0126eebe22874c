"""Which lyric token is sung at each frame, from a record's syllable timing."""

import json
import math

import numpy as np

from songgen_hf.data.lyrics_alignment import (
    frame_targets,
    spelling_distance,
    syllable_timing,
    syllable_token_positions,
    syllable_words,
)
from songgen_hf.testing import tiny_tokenizers


def test_each_character_knows_the_token_that_holds_it():
    _, lyrics_tokenizer = tiny_tokenizers()
    text = "Hold me close\ntonight, 2 times"
    cleaned, owner = lyrics_tokenizer.char_token_indices(text)
    assert cleaned == lyrics_tokenizer.clean(text) and len(owner) == len(cleaned)
    ids = lyrics_tokenizer.frame_lyrics(text)
    assert owner == sorted(owner) and 0 < owner[0] and owner[-1] < len(ids) - 1  # inside [START] ... [STOP]
    for char, index in zip(cleaned, owner):
        piece = lyrics_tokenizer.decode([ids[index]])
        assert char in piece or (char == " " and piece == " "), (char, piece)
    assert lyrics_tokenizer.char_token_indices("  ") == ("", [])


def test_syllables_map_to_their_words_tokens_in_order():
    _, lyrics_tokenizer = tiny_tokenizers()
    lyrics = "la la la we go\nwalking down"
    syllables = ["la", "la", "la", "we", "go", "walk", "ing", "down", "zzz"]
    positions = syllable_token_positions(lyrics_tokenizer, lyrics, syllables)
    cleaned, owner = lyrics_tokenizer.char_token_indices(lyrics)
    assert positions[:3] == [float(owner[0]), float(owner[3]), float(owner[6])]  # each "la" its own occurrence
    assert positions[5] <= positions[6] and positions[6] < positions[7]  # walk/ing inside "walking", then "down"
    assert all(a <= b for a, b in zip(positions[:8], positions[1:8]))
    assert math.isnan(positions[8])  # not in the lyrics: no target rather than a guess


def test_syllables_spelt_as_sung_still_find_their_words():
    # The synthetic corpus spells syllables as espeak should sing them: a text search finds "ee" inside "feel"
    _, lyrics_tokenizer = tiny_tokenizers()
    lyrics = "electric heart and electric engine\nyou feel the beat tonight"
    syllables = [
        "ee",
        "lek",
        "trik",
        "heart",
        "and",
        "ee",
        "lek",
        "trik",
        "en",
        "jin",
        "you",
        "feel",
        "the",
        "beat",
        "to",
        "night",
    ]
    placed = syllable_words(tuple(lyrics_tokenizer.clean(lyrics).replace(".", " ").split()), tuple(syllables))
    assert [word for word, *_ in placed] == [0, 0, 0, 1, 2, 3, 3, 3, 4, 4, 5, 6, 7, 8, 9, 9]
    assert [(index, count) for _, index, count, _ in placed[:3]] == [(0, 3), (1, 3), (2, 3)]
    positions = syllable_token_positions(lyrics_tokenizer, lyrics, syllables)
    cleaned, owner = lyrics_tokenizer.char_token_indices(lyrics)
    assert all(math.isfinite(p) for p in positions) and positions == sorted(positions)
    assert positions[0] == owner[1] and positions[2] == owner[6]  # the first and last thirds of "electric"
    assert positions[11] == owner[cleaned.index("feel") + 2]


def test_skipped_words_and_extra_syllables_are_left_out():
    placed = syllable_words(("we", "go", "walking", "down"), ("we", "walk", "ing", "down"))
    assert [word for word, *_ in placed] == [0, 2, 2, 3]  # "go" is not sung
    placed = syllable_words(("we", "walking", "down"), ("we", "yeah", "walk", "ing", "down"))
    assert [word for word, *_ in placed] == [0, -1, 1, 1, 2]  # "yeah" is in no word
    assert syllable_words(("go",), ("oh",))[0][0] == 0  # a sung respelling stays in its word
    words = syllable_words(("hold", "me", "close"), ("hold", "me", "close"))  # word timing: one group per word
    assert [(word, count, distance) for word, _, count, distance in words] == [(0, 1, 0.0), (1, 1, 0.0), (2, 1, 0.0)]
    assert syllable_words((), ("la",)) == ((-1, 0, 0, 1.0),) and syllable_words(("la",), ()) == ()
    assert spelling_distance("fire", "fyre") == 0.25 and spelling_distance("", "") == 0.0
    assert spelling_distance("abc", "") == 1.0


def test_frame_targets_cover_each_syllable_and_follow_the_crop():
    targets = frame_targets([2.0, 5.0, math.nan], [0.1, 0.5, 0.8], [0.2, 0.1, 0.2], frame_rate=50, num_frames=40)
    assert np.isnan(targets[:5]).all() and (targets[5:15] == 2.0).all() and np.isnan(targets[15:25]).all()
    assert (targets[25:30] == 5.0).all() and np.isnan(targets[30:]).all()  # the unknown syllable stays unguided
    cropped = frame_targets([2.0, 5.0], [0.1, 0.5], [0.2, 0.1], frame_rate=50, num_frames=10, start_frame=20)
    assert (cropped[5:10] == 5.0).all() and np.isnan(cropped[:5]).all()


def test_timing_is_read_from_the_records_attributes():
    attributes = {"syllables": ["we", "go"], "note_onsets_s": [0.0, 0.5], "note_durations_s": [0.4, 0.4], "key": "C"}
    assert syllable_timing(json.dumps(attributes)) == {
        name: attributes[name] for name in ("syllables", "note_onsets_s", "note_durations_s")
    }
    assert syllable_timing({**attributes, "note_onsets_s": [0.0]}) is None  # lengths disagree
    assert (
        syllable_timing({"key": "C"}) is None and syllable_timing("not json") is None and syllable_timing(None) is None
    )
