"""Corpus v2 (``--corpus-version 2``): shares, tempos, caption read-back, DC-free stems, instrumentals.

Plan-level tests run hundreds of songs without audio (about 2 ms each); one module fixture renders
four short v2 clips (needs fluidsynth, espeak-ng and FluidR3, skipped with the reason otherwise).
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

from songgen_hf.commands.data import add_synth_arguments, check_synth_arguments
from songgen_hf.data.manifest import ValidationOptions, read_manifest_records
from songgen_hf.data.synth import synthesize_corpus
from songgen_hf.data.synth.corpus import CorpusConfig
from songgen_hf.data.synth.corpus_v2 import SLOW_BPM, plan_caption, plan_clip
from songgen_hf.data.synth.render import read_wav_int16
from songgen_hf.modeling.music import PITCH_CLASS_NAMES
from songgen_hf.modeling.songgen.configuration_songgen import music_key_id
from songgen_hf.modeling.songgen.description_songgen import musical_controls

from .synth_tools import MISSING, arrange_plan, needs_tools

NUM_PLANS = 400


@pytest.fixture(scope="module")
def planned():
    config = CorpusConfig(seed=3, corpus_version=2)
    return [plan_caption(config, split, index) for split in ("train", "test") for index in range(NUM_PLANS // 2)]


# ----------------------------------------------------------------- plans, no audio
def test_shares_and_tempos_of_a_plan(planned):
    attributes = [found for _, found in planned]
    instrumental = np.mean([not a["has_vocals"] for a in attributes])
    drumless = np.mean([not a["has_drums"] for a in attributes])
    tempos = np.array([a["tempo_bpm"] for a in attributes])
    assert abs(instrumental - 0.2) <= 0.02 and abs(drumless - 0.2) <= 0.02
    assert (
        0.03 <= np.mean([not a["has_vocals"] and not a["has_drums"] for a in attributes]) <= 0.05
    )  # independent: 0.2 x 0.2
    assert tempos.min() >= 60 and tempos.max() <= 180 and np.mean(tempos < SLOW_BPM) >= 0.25
    assert np.mean(tempos >= 150) > 0.1  # the fast end is used too
    assert [a["drums"] for a in attributes] == [a["has_drums"] for a in attributes]


@pytest.mark.parametrize(
    "knobs, instrumental, drumless, tempo_range",
    [
        (
            {"instrumental_share": 0.5, "drumless_share": 0.0, "min_tempo": 70, "max_tempo": 100, "slow_share": 0.5},
            0.5,
            0.0,
            (70, 100),
        ),
        (
            {"instrumental_share": 0.0, "drumless_share": 1.0, "min_tempo": 90, "max_tempo": 120, "slow_share": 0.0},
            0.0,
            1.0,
            (90, 120),
        ),
    ],
)
def test_knobs_set_the_shares(knobs, instrumental, drumless, tempo_range):
    config = CorpusConfig(seed=5, corpus_version=2, **knobs)
    plans = [plan_clip(config, "train", index) for index in range(100)]
    assert abs(np.mean([c.instrumental for _, c in plans]) - instrumental) <= 0.02
    assert abs(np.mean([not p.arrangement.drums for p, _ in plans]) - drumless) <= 0.02
    assert all(tempo_range[0] <= p.tempo_bpm <= tempo_range[1] for p, _ in plans)


def test_every_caption_reads_back_to_its_tempo_and_key(planned):
    captions = [caption for caption, _ in planned]
    # strict, as SongGenProcessor reads a user's description
    controls = musical_controls(captions, strict=True)
    for caption, (_, truth), tempo, key in zip(captions, planned, controls["tempo_bpm"], controls["music_key_ids"]):
        expected_key = music_key_id(PITCH_CLASS_NAMES.index(truth["key"]), truth["mode"] == "minor")
        assert (tempo, key) == (truth["tempo_bpm"], expected_key), caption
    assert len({caption.split(" ")[0] for caption in captions}) > 20  # many phrasings, not one template


@pytest.mark.parametrize(
    "phrase",
    [
        "tempo: ",
        "BPM: ",
        "between ",
        "beats per minute",
        "the key of ",
        "key: ",
        " sharp",
        "-flat",
        "♭",
        " min",
        "no vocals",
        "instrumental",
        "drumless",
        "without percussion",
    ],
)
def test_captions_use_the_new_phrasings(planned, phrase):
    assert any(phrase in caption for caption, _ in planned)


def test_instrumental_and_drumless_captions_say_so(planned):
    for caption, truth in planned:
        text = caption.lower()
        says_instrumental = any(word in text for word in ("instrumental", "no vocals", "no singing", "without vocals"))
        says_drumless = any(
            word in text for word in ("no drums", "no percussion", "without drums", "without percussion", "drumless")
        )
        assert says_instrumental == (not truth["has_vocals"]), caption
        assert says_drumless == (not truth["has_drums"]), caption
        if not truth["has_vocals"]:
            assert truth["voice"] is None and truth["syllables"] == [] and truth["num_syllables"] == 0
            assert not any(word in text for word in ("singer", "voice", " vocals carry", "lead vocals"))


def test_version_1_plans_ignore_the_v2_overrides():
    config = CorpusConfig(seed=3, corpus_version=2)
    plan, choices = plan_clip(config, "train", 0)
    # same song streams: only the tempo (and what it rescales) and the drums may differ from v1
    from songgen_hf.data.synth.corpus import clip_seed_sequence
    from songgen_hf.data.synth.song import plan_song

    v1 = plan_song(clip_seed_sequence(3, "train", 0).spawn(3)[0], 5.0, 15.0)
    assert (plan.genre, plan.mood, plan.key, plan.voice, plan.arrangement.bass_program) == (
        v1.genre,
        v1.mood,
        v1.key,
        v1.voice,
        v1.arrangement.bass_program,
    )
    assert plan.tempo_bpm == choices.tempo_bpm
    assert CorpusConfig(seed=3).fingerprint() == {
        "generator_version": "synth-1",
        "seed": 3,
        "sampling_rate": 16000,
        "min_duration": 5.0,
        "max_duration": 15.0,
    }


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--instrumental-share", "0.3"], "only apply to corpus v2"),
        (["--corpus-version", "2", "--drumless-share", "1.5"], "--drumless-share"),
        (["--corpus-version", "2", "--tempo-range", "100", "80"], "tempo range"),
        (["--corpus-version", "2", "--tempo-range", "95", "180"], "below 90 BPM"),
        (["--corpus-version", "3", "--transpose-range", "7"], r"--transpose-range must be .*6"),
        (["--transpose-range", "4"], "only apply to corpus v2"),
        (["--corpus-version", "3", "--style", "polka"], r"Unknown style 'polka'.*calypso"),
        (["--style", "calypso"], "only apply to corpus v2"),
    ],
)
def test_cli_refuses_bad_v2_options(tmp_path, argv, message):
    args = add_synth_arguments(argparse.ArgumentParser()).parse_args(["--output", str(tmp_path / "c"), *argv])
    with pytest.raises(ValueError, match=message):
        check_synth_arguments(args)


@pytest.mark.parametrize("reach", [1, 4])
def test_transposed_copies_move_key_chords_and_melody_together_and_nothing_else(reach):
    from songgen_hf.data.synth.corpus import record_id
    from songgen_hf.data.synth.corpus_v2 import transpose_semitones

    plain = CorpusConfig(seed=3, corpus_version=3)
    moved = CorpusConfig(seed=3, corpus_version=3, transpose_range=reach)
    shifts = []
    for index in range(60):
        (before, _), (after, _) = plan_clip(plain, "train", index), plan_clip(moved, "train", index)
        shift = transpose_semitones(moved, index)
        shifts.append(shift)
        assert after.key.tonic == (before.key.tonic + shift) % 12 and after.key.mode == before.key.mode
        assert [c.root for c in after.bar_chords] == [(c.root + shift) % 12 for c in before.bar_chords]
        assert [c.quality for c in after.bar_chords] == [c.quality for c in before.bar_chords]
        assert [n.midi for n in after.melody] == [n.midi + shift for n in before.melody]
        assert (after.tempo_bpm, after.voice, after.syllables, after.arrangement) == (
            before.tempo_bpm,
            before.voice,
            before.syllables,
            before.arrangement,
        )
        caption, attributes = plan_caption(moved, "train", index)
        assert attributes["transposed_semitones"] == shift
        assert record_id(moved, "train", index).endswith(f"-t{shift:+d}")
        assert musical_controls([caption])["music_key_ids"][0] == music_key_id(
            after.key.tonic, after.key.mode == "minor"
        )
    assert 0 not in shifts and set(shifts) == {*range(-reach, 0), *range(1, reach + 1)}
    # a corpus made before the option existed keeps its fingerprint, so it resumes instead of re-rendering
    assert "transpose_range" not in plain.fingerprint() and moved.fingerprint()["transpose_range"] == reach


# ----------------------------------------------------------------- four rendered clips
def _find(config, wanted, count=40):
    for index in range(count):
        _, choices = plan_clip(config, "train", index)
        if wanted(choices):
            return index
    raise AssertionError("no such clip in the first plans")


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    if MISSING is not None:
        pytest.skip(f"system tools missing: {MISSING}")
    folder = tmp_path_factory.mktemp("synth_v2")
    manifest = synthesize_corpus(
        folder,
        4,
        seed=11,
        min_duration=4.0,
        max_duration=6.0,
        corpus_version=2,
        instrumental_share=0.5,
        drumless_share=0.5,
        num_workers=2,
    )
    return manifest, [json.loads(line) for line in manifest.read_text().splitlines()]


def _stem(manifest, record, field):
    samples, rate = read_wav_int16(manifest.parent / record[field])
    assert rate == 16000
    return samples.astype(np.float64) / 32768.0


@needs_tools
def test_rendered_v2_clips(rendered):
    manifest, records = rendered
    kinds = {(r["attributes"]["has_vocals"], r["attributes"]["has_drums"]) for r in records}
    assert (False, True) in kinds or (False, False) in kinds  # an instrumental
    assert any(not drums for _, drums in kinds)  # a drumless clip
    for record in records:
        attributes = record["attributes"]
        mix = _stem(manifest, record, "audio_path")
        accompaniment = _stem(manifest, record, "accompaniment_path")
        for stem in (mix, accompaniment):
            assert abs(stem.mean()) < 1e-3
        if attributes["has_vocals"]:
            vocals = _stem(manifest, record, "vocal_path")
            assert abs(vocals.mean()) < 1e-3 and record["vocal_energy"] > 1.0
            assert np.array_equal(np.round((vocals + accompaniment) * 32768), np.round(mix * 32768))
        else:  # no vocal stem, no lyrics, the mix is the accompaniment
            assert record["vocal_path"] is None and record["lyrics"] == "" and record["vocal_energy"] == 0.0
            assert np.array_equal(mix, accompaniment)
            assert not (manifest.parent / "audio" / f"{record['id']}_vocals.wav").exists()
    rows, report = read_manifest_records(manifest, ValidationOptions(), on_error="raise")
    assert len(rows) == 4 and [row["vocal_path"] is None for row in rows] == [
        not r["attributes"]["has_vocals"] for r in records
    ]


def test_drumless_songs_play_no_drum_note():
    """There is no drum stem: a drumless song's accompaniment MIDI has no note on the GM drum channel."""
    from songgen_hf.data.synth.midi import DRUM_CHANNEL

    config = CorpusConfig(seed=3, corpus_version=2)
    seen = set()
    for index in range(30):
        plan, choices = plan_clip(config, "train", index)
        notes, programs = arrange_plan(plan)
        drum_notes = [note for note in notes if note.channel == DRUM_CHANNEL]
        assert bool(drum_notes) == choices.drums == (DRUM_CHANNEL in programs)
        seen.add(choices.drums)
    assert seen == {True, False}


@needs_tools
def test_resume_keeps_instrumentals_complete(rendered, tmp_path):
    manifest, records = rendered
    from songgen_hf.data.synth.corpus import load_complete_record

    config = CorpusConfig(
        seed=11, min_duration=4.0, max_duration=6.0, corpus_version=2, instrumental_share=0.5, drumless_share=0.5
    )
    for record in records:
        found = load_complete_record(manifest.parent, config, "train", record["attributes"]["clip_index"])
        assert found == record


def test_a_style_outside_the_corpora_is_new_in_every_part_and_leaves_the_corpora_alone():
    """``--style calypso``: every song a calypso whose instruments and percussion no corpus genre plays; the
    rest of each song (key, tempo, lyrics, voice) is the corpus's own draw, and a corpus without a style keeps
    its fingerprint (its clips stay complete)."""
    from songgen_hf.data.synth.arrangement import DRUM_PATTERNS_4_4
    from songgen_hf.data.synth.midi import DRUM_CHANNEL
    from songgen_hf.modeling.music import GENRES, STYLES_OUTSIDE_CORPUS

    corpus_programs = {
        program
        for genre in GENRES.values()
        for program in (*genre.chord_programs, *genre.bass_programs, *genre.pad_programs)
    }
    corpus_drums = {drum for name, grid in DRUM_PATTERNS_4_4.items() if name != "calypso" for drum in grid}
    plain = CorpusConfig(seed=3, corpus_version=3)
    styled = CorpusConfig(seed=3, corpus_version=3, style="calypso", instrumental_share=0.0, drumless_share=0.0)
    assert "style" not in plain.fingerprint() and styled.fingerprint()["style"] == "calypso"
    for index in range(20):
        plan, choices = plan_clip(styled, "train", index)
        other, _ = plan_clip(plain, "train", index)
        assert plan.genre == "calypso" and other.genre in GENRES
        assert (plan.key, plan.tempo_bpm, plan.voice) == (other.key, other.tempo_bpm, other.voice)
        programs = {plan.arrangement.chord_program, plan.arrangement.bass_program, plan.arrangement.pad_program}
        assert not (programs - {None}) & corpus_programs, programs
        notes, _ = arrange_plan(plan)
        drums = {note.pitch for note in notes if note.channel == DRUM_CHANNEL}
        assert drums - corpus_drums, drums  # hand percussion the corpora never play
        caption, attributes = plan_caption(styled, "train", index)
        assert attributes["genre"] == "calypso" and any(
            name in caption.lower() for name in STYLES_OUTSIDE_CORPUS["calypso"].caption_names
        ), caption
