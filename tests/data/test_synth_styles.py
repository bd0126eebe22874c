"""The styles outside the corpora that differ from it along other axes than calypso's instruments: ``gospel`` in its
metre (12/8: every part on triplet eighths), ``bass_choir`` in its voice (three low male singers together) and
``harp_five``, kept apart from the benchmark, in all three at once (5/4, instruments and voices no corpus genre or
style uses), each captioned so a person can ask for it, and the corpora without a style left exactly as they
were."""

from __future__ import annotations

import json

import numpy as np
import pytest

from songgen_hf.data.manifest import ValidationOptions, read_manifest_records
from songgen_hf.data.synth import synthesize_corpus
from songgen_hf.data.synth.corpus import CorpusConfig
from songgen_hf.data.synth.corpus_v2 import plan_caption, plan_clip
from songgen_hf.data.synth.midi import DRUM_CHANNEL
from songgen_hf.data.synth.render import read_wav_int16
from songgen_hf.data.synth.vocals import estimate_f0
from songgen_hf.modeling.music import (
    FEMALE_VOICES,
    GENRES,
    MALE_VOICES,
    PITCH_CLASS_NAMES,
    STYLES_OUTSIDE_CORPUS,
    VOCAL_REGISTERS,
    midi_to_hz,
)
from songgen_hf.modeling.songgen.configuration_songgen import music_key_id
from songgen_hf.modeling.songgen.description_songgen import musical_controls

from .synth_tools import arrange_plan, needs_tools


def _styled(style: str) -> CorpusConfig:
    return CorpusConfig(seed=3, corpus_version=3, style=style, instrumental_share=0.0, drumless_share=0.0)


def _on_triplet_grid(beats: float) -> bool:
    """Whether a time in beats falls on a triplet eighth (0, 1/3 or 2/3 of a beat)."""
    return abs(beats * 3 - round(beats * 3)) < 0.12  # the performance's timing jitter: 0.008 beats


def test_gospel_plays_every_part_on_triplet_eighths_where_the_corpus_plays_straight_ones():
    plain = CorpusConfig(seed=3, corpus_version=3)
    triplet_notes, straight_offbeats, named_metre = 0, 0, 0
    for index in range(12):
        plan, _ = plan_clip(_styled("gospel"), "train", index)
        assert plan.genre == "gospel" and plan.time_signature == "12/8" and plan.arrangement.triplets
        assert all(_on_triplet_grid(note.start_beat) for note in plan.melody)
        notes, _ = arrange_plan(plan)
        assert all(_on_triplet_grid(note.start_beat) for note in notes)
        # two of every beat's three eighths sound between the beats (the corpus's straight eighths sit at 1/2)
        triplet_notes += sum(0.2 < note.start_beat % 1 < 0.8 for note in notes if note.channel == DRUM_CHANNEL)
        other, _ = plan_clip(plain, "train", index)
        assert other.genre in GENRES and other.time_signature in ("4/4", "3/4") and not other.arrangement.triplets
        straight_offbeats += sum(
            abs(note.start_beat % 1 - 0.5) < 0.05 and not _on_triplet_grid(note.start_beat)
            for note in arrange_plan(other)[0]
        )
        caption, attributes = plan_caption(_styled("gospel"), "train", index)
        assert attributes["time_signature"] == "12/8" and "gospel" in caption.lower()
        named_metre += "12/8" in caption
    assert triplet_notes > 12 * 8 and straight_offbeats > 0
    assert named_metre >= 8  # most captions name the metre (a bare "Genre: ... Tempo: ..." list leaves it out)


def test_bass_choir_sings_with_three_low_male_voices_and_says_so():
    for index in range(12):
        plan, _ = plan_clip(_styled("bass_choir"), "train", index)
        assert plan.vocal_gender == "male" and len(plan.chorus) == 2
        # each other singer has another voice than the lead's, and a vibrato and onset of its own
        assert all(singer.voice != plan.voice for singer in plan.chorus)
        assert len({plan.singing, *(singer.singing for singer in plan.chorus)}) == 3
        assert all(0 <= singer.delay_s <= 0.04 and abs(singer.detune_semitones) <= 0.12 for singer in plan.chorus)
        assert all(34 <= note.midi <= 50 for note in plan.melody)
        assert max(note.midi for note in plan.melody) < VOCAL_REGISTERS["male"][1]
        caption, attributes = plan_caption(_styled("bass_choir"), "train", index)
        assert attributes["singers"] == 3 and "choir" in caption.lower()
        # the corpus's own song of that seed is sung by one voice and its record says nothing of singers
        other, _ = plan_clip(CorpusConfig(seed=3, corpus_version=3), "train", index)
        assert (
            other.chorus == ()
            and "singers" not in plan_caption(CorpusConfig(seed=3, corpus_version=3), "train", index)[1]
        )


def test_harp_five_plays_five_beats_to_the_bar_on_instruments_and_voices_no_corpus_genre_or_style_uses():
    from songgen_hf.data.synth.arrangement import (
        DRUM_PATTERN_3_4,
        DRUM_PATTERNS_4_4,
        DRUM_PATTERNS_5_4,
        DRUM_PATTERNS_12_8,
        LOW_WOOD_BLOCK,
    )

    others = [*GENRES.values(), *(style for name, style in STYLES_OUTSIDE_CORPUS.items() if name != "harp_five")]
    other_programs = {
        program for genre in others for program in (*genre.chord_programs, *genre.bass_programs, *genre.pad_programs)
    }
    grids = [*DRUM_PATTERNS_4_4.values(), *DRUM_PATTERNS_12_8.values(), DRUM_PATTERN_3_4]
    other_drums = {drum for grid in grids for drum in grid}
    assert set(DRUM_PATTERNS_5_4["five_four"]).isdisjoint(other_drums)
    named_metre = 0
    for index in range(12):
        plan, _ = plan_clip(_styled("harp_five"), "train", index)
        assert plan.genre == "harp_five" and plan.beats_per_bar == 5 and plan.time_signature == "5/4"
        other, _ = plan_clip(CorpusConfig(seed=3, corpus_version=3), "train", index)
        assert other.time_signature in ("4/4", "3/4")  # the corpus's metres; 12/8 is gospel's
        programs = {plan.arrangement.chord_program, plan.arrangement.bass_program, plan.arrangement.pad_program}
        assert not (programs - {None}) & other_programs, programs
        notes, _ = arrange_plan(plan)
        drums = [note for note in notes if note.channel == DRUM_CHANNEL]
        assert drums and {note.pitch for note in drums}.isdisjoint(other_drums - {49, 36})  # the closing crash, kick
        # each bar's low block opens its two groups, three beats and two: beats 0 and 3 of five
        blocks = {round(note.start_beat) % 5 for note in drums if note.pitch == LOW_WOOD_BLOCK}
        assert blocks == {0, 3}, blocks
        # two female voices the corpus never sings with, a little above its female register
        singers = [plan.voice, *(singer.voice for singer in plan.chorus)]
        assert plan.vocal_gender == "female" and len(singers) == 2 and len(set(singers)) == 2
        assert set(singers).isdisjoint({*MALE_VOICES, *FEMALE_VOICES})
        assert all(62 <= note.midi <= 77 for note in plan.melody)
        caption, attributes = plan_caption(_styled("harp_five"), "train", index)
        assert attributes["time_signature"] == "5/4" and attributes["singers"] == 2
        assert any(name in caption.lower() for name in STYLES_OUTSIDE_CORPUS["harp_five"].caption_names), caption
        named_metre += "5/4" in caption or "five-four" in caption
    assert named_metre >= 8  # most captions name the metre (a bare "Genre: ... Tempo: ..." list leaves it out)


@pytest.mark.parametrize("style", ["gospel", "bass_choir", "harp_five"])
def test_the_captions_of_the_new_styles_read_back_to_their_tempo_and_key(style):
    planned = [plan_caption(_styled(style), "train", index) for index in range(40)]
    captions = [caption for caption, _ in planned]
    controls = musical_controls(captions, strict=True)  # as SongGenProcessor reads a user's description
    for caption, (_, truth), tempo, key in zip(captions, planned, controls["tempo_bpm"], controls["music_key_ids"]):
        expected = music_key_id(PITCH_CLASS_NAMES.index(truth["key"]), truth["mode"] == "minor")
        assert (tempo, key) == (truth["tempo_bpm"], expected), caption


@needs_tools
def test_a_bass_choir_clip_renders_its_singers_into_one_vocal_stem(tmp_path):
    manifest = synthesize_corpus(
        tmp_path / "choir",
        2,
        seed=5,
        min_duration=4.0,
        max_duration=5.0,
        corpus_version=3,
        style="bass_choir",
        instrumental_share=0.0,
        drumless_share=0.0,
    )
    rows, _ = read_manifest_records(manifest, ValidationOptions(), on_error="raise")
    assert len(rows) == 2  # the manifest validates as training data
    for row in map(json.loads, manifest.read_text().splitlines()):
        vocals, rate = read_wav_int16(manifest.parent / row["vocal_path"])
        mix, _ = read_wav_int16(manifest.parent / row["audio_path"])
        accompaniment, _ = read_wav_int16(manifest.parent / row["accompaniment_path"])
        assert rate == 16000 and row["attributes"]["singers"] == 3 and np.abs(vocals).max() > 1000
        assert np.array_equal(vocals.astype(np.int32) + accompaniment, mix.astype(np.int32))
        # the choir sings low: its pitch sits below the middle of the corpus's male register
        pitch = estimate_f0(vocals.astype(np.float64) / 32768, rate, low_hz=40.0)
        assert pitch < midi_to_hz(sum(VOCAL_REGISTERS["male"]) / 2), pitch


@needs_tools
def test_a_harp_five_clip_renders_its_two_singers_and_its_wood_blocks(tmp_path):
    manifest = synthesize_corpus(
        tmp_path / "harp",
        2,
        seed=5,
        min_duration=5.0,
        max_duration=6.0,
        corpus_version=3,
        style="harp_five",
        instrumental_share=0.0,
        drumless_share=0.0,
    )
    rows, _ = read_manifest_records(manifest, ValidationOptions(), on_error="raise")
    assert len(rows) == 2  # the manifest validates as training data
    for row in map(json.loads, manifest.read_text().splitlines()):
        vocals, rate = read_wav_int16(manifest.parent / row["vocal_path"])
        mix, _ = read_wav_int16(manifest.parent / row["audio_path"])
        accompaniment, _ = read_wav_int16(manifest.parent / row["accompaniment_path"])
        assert rate == 16000 and row["attributes"]["singers"] == 2 and np.abs(vocals).max() > 1000
        assert row["attributes"]["time_signature"] == "5/4" and np.abs(accompaniment).max() > 1000
        assert np.array_equal(vocals.astype(np.int32) + accompaniment, mix.astype(np.int32))
        # the duo sings above the middle of the corpus's female register
        pitch = estimate_f0(vocals.astype(np.float64) / 32768, rate, high_hz=900.0)
        assert pitch > midi_to_hz(sum(VOCAL_REGISTERS["female"]) / 2), pitch
