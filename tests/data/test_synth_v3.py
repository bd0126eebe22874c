"""Corpus v3 (``--corpus-version 3``): v2 with the accompaniment of slow songs on the beat.

Plan-level checks run a few hundred songs without audio; one check renders two slow clips (needs
fluidsynth, espeak-ng and FluidR3, skipped with the reason otherwise) and reads their tempo with the
evaluation's estimator.
"""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from songgen_hf.commands.data import add_synth_arguments, check_synth_arguments
from songgen_hf.data.synth import check_system_tools
from songgen_hf.data.synth.corpus import CorpusConfig
from songgen_hf.data.synth.corpus_v2 import SLOW_BPM, generate_clip_v2, plan_caption, plan_clip
from songgen_hf.data.synth.midi import DRUM_CHANNEL
from songgen_hf.data.synth.render import read_wav_int16

from .synth_tools import arrange_plan, needs_tools

NUM_PLANS = 200
VERSION_FIELDS = {"corpus_version", "generator_version", "accompaniment_on_beat"}
LEAD_CHANNEL_FROM = 3  # channels 0-2 are chords, bass and pad; the drums have their own


def _accompaniment_notes(config: CorpusConfig, index: int):
    plan, _ = plan_clip(config, "test", index)
    notes, _ = arrange_plan(plan)
    return plan, [note for note in notes if note.channel < LEAD_CHANNEL_FROM or note.channel == DRUM_CHANNEL]


def _off_beat(notes) -> list:
    """Notes that start more than 0.05 beats from a beat (arrange() jitters onsets by a few ms)."""
    return [note for note in notes if abs(note.start_beat - round(note.start_beat)) > 0.05]


def test_v3_is_v2_but_for_slow_songs_on_the_beat():
    v2, v3 = CorpusConfig(seed=1, corpus_version=2), CorpusConfig(seed=1, corpus_version=3)
    slow = 0
    for index in range(NUM_PLANS):
        caption2, attributes2 = plan_caption(v2, "test", index)
        caption3, attributes3 = plan_caption(v3, "test", index)
        assert caption3 == caption2  # the same prompts: a v3 model is judged on v2's held-out captions
        assert {k: v for k, v in attributes3.items() if k not in VERSION_FIELDS} == {
            k: v for k, v in attributes2.items() if k not in VERSION_FIELDS
        }
        assert "accompaniment_on_beat" not in attributes2  # v2's records are unchanged
        assert (attributes3["corpus_version"], attributes3["generator_version"]) == (3, "synth-3")
        assert attributes3["accompaniment_on_beat"] == (attributes3["tempo_bpm"] < SLOW_BPM)
        slow += attributes3["accompaniment_on_beat"]
    assert 0.25 * NUM_PLANS <= slow <= 0.35 * NUM_PLANS


def test_slow_v3_songs_play_no_off_beat_accompaniment():
    v2, v3 = CorpusConfig(seed=1, corpus_version=2), CorpusConfig(seed=1, corpus_version=3)
    slow_with_off_beats_in_v2 = 0
    for index in range(60):
        plan3, notes3 = _accompaniment_notes(v3, index)
        _, notes2 = _accompaniment_notes(v2, index)
        if plan3.tempo_bpm < SLOW_BPM:
            assert notes3 and not _off_beat(notes3), f"test clip {index} plays off the beat in v3"
            assert {note.channel for note in notes3} == {note.channel for note in notes2}  # no part is dropped
            slow_with_off_beats_in_v2 += bool(_off_beat(notes2))
        else:
            assert notes3 == notes2
    assert slow_with_off_beats_in_v2 >= 5  # v2's slow songs do play off the beat: the change is real


def test_v3_fingerprint_and_cli():
    assert CorpusConfig(seed=1, corpus_version=3).fingerprint()["generator_version"] == "synth-3"
    assert CorpusConfig(seed=1, corpus_version=2).fingerprint()["generator_version"] == "synth-2"
    parser = add_synth_arguments(argparse.ArgumentParser())
    check_synth_arguments(parser.parse_args(["--output", "c", "--corpus-version", "3", "--slow-share", "0.5"]))
    with pytest.raises(ValueError, match="below 90 BPM"):
        check_synth_arguments(
            parser.parse_args(["--output", "c", "--corpus-version", "3", "--tempo-range", "95", "180"])
        )
    with pytest.raises(ValueError, match="only apply to corpus v2 and v3"):
        check_synth_arguments(parser.parse_args(["--output", "c", "--slow-share", "0.5"]))


@needs_tools
@pytest.mark.parametrize("index", [46, 87])  # electronic, four-on-the-floor, 63 and 62 BPM
def test_a_slow_dance_song_reads_at_its_tempo_in_v3_and_double_in_v2(tmp_path, index):
    """librosa's tracker reads these two held-out v2 songs at twice their tempo; their v3 versions read right."""
    from songgen_hf.evaluation.metrics import estimate_tempo_bpm

    soundfont = check_system_tools()
    readings = {}
    for version in (2, 3):
        config = CorpusConfig(seed=1, corpus_version=version)
        record = generate_clip_v2(tmp_path / f"v{version}", config, "test", index, soundfont)
        audio, rate = read_wav_int16(tmp_path / f"v{version}" / record["audio_path"])
        readings[version] = estimate_tempo_bpm(audio[: 10 * rate].astype(np.float64) / 32768.0, rate)
        asked = record["attributes"]["tempo_bpm"]
    assert asked < SLOW_BPM
    assert abs(readings[2] / asked - 2.0) <= 0.08, readings
    assert abs(readings[3] / asked - 1.0) <= 0.04, readings
