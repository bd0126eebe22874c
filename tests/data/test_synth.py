"""Synthetic song corpus: determinism, record contract, gain staging and audio content.

The audio tests need fluidsynth, espeak-ng and the FluidR3 soundfont (Debian:
``apt-get install -y fluidsynth fluid-soundfont-gm espeak-ng``) and are skipped
with that reason when they are missing.  Clips are short (4-6 s) to keep the
module at a few seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest

from songgen_hf.commands.data import add_synth_arguments, run_synth
from songgen_hf.data.synth import SystemToolsMissingError, check_system_tools, synthesize_corpus
from songgen_hf.data.synth.analysis import beat_alignment, chroma, key_scores
from songgen_hf.data.synth.corpus import ENERGY_SCALE, clip_seed_sequence
from songgen_hf.data.synth.descriptions import describe
from songgen_hf.data.synth.midi import MidiNote, encode_midi
from songgen_hf.data.synth.render import read_wav_int16
from songgen_hf.data.synth.song import plan_song
from songgen_hf.modeling.music import PITCH_CLASS_NAMES, THEMES, Key, make_line, parse_numeral

from .synth_tools import needs_tools

MIN_DURATION, MAX_DURATION = 4.0, 6.0
SEED = 7


def _make(folder: Path, seed: int, num_clips: int, workers: int = 1, test_fraction: float = 0.0) -> Path:
    return synthesize_corpus(
        folder,
        num_clips,
        seed=seed,
        num_workers=workers,
        min_duration=MIN_DURATION,
        max_duration=MAX_DURATION,
        test_fraction=test_fraction,
    )


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """Two train clips and one held-out test clip, generated serially."""
    return _make(tmp_path_factory.mktemp("synth_a"), SEED, 3, workers=1, test_fraction=1 / 3)


@pytest.fixture(scope="module")
def records(corpus) -> list[dict]:
    return [json.loads(line) for line in corpus.read_text().splitlines()]


def _load(corpus: Path, record: dict, field: str) -> np.ndarray:
    samples, rate = read_wav_int16(corpus.parent / record[field])
    assert rate == 16000
    return samples


# ----------------------------------------------------------------- no audio needed


def test_missing_tools_raise_an_actionable_error(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("SONGGEN_SOUNDFONT", str(tmp_path / "missing.sf2"))
    with pytest.raises(SystemToolsMissingError) as raised:
        check_system_tools()
    message = str(raised.value)
    assert "apt-get install -y fluidsynth espeak-ng fluid-soundfont-gm" in message
    with pytest.raises(SystemToolsMissingError):
        synthesize_corpus(tmp_path / "corpus", 1)
    assert not (tmp_path / "corpus").exists(), "nothing may be written before the tool check"
    args = add_synth_arguments(argparse.ArgumentParser()).parse_args(
        ["--output", str(tmp_path / "c"), "--num-clips", "1"]
    )
    assert run_synth(args) == 2


def test_roman_numerals_resolve_against_the_key():
    c_major, a_minor = Key(0, "major"), Key(9, "minor")
    assert [parse_numeral(n, c_major).name for n in ("I", "V", "vi", "IV", "ii7", "V7", "Imaj7", "bVII")] == [
        "C",
        "G",
        "Am",
        "F",
        "Dm7",
        "G7",
        "Cmaj7",
        "Bb",
    ]
    assert [parse_numeral(n, a_minor).name for n in ("i", "VI", "III", "VII", "V", "iim7b5")] == [
        "Am",
        "F",
        "C",
        "G",
        "E",
        "Bm7b5",
    ]
    assert Key(0, "major").relative == a_minor and a_minor.relative == c_major


def test_midi_bytes_have_tempo_programs_and_drums():
    notes = [MidiNote(0, 60, 0.0, 1.0, 90), MidiNote(0, 60, 0.5, 1.0, 90), MidiNote(9, 36, 0.0, 0.25, 100)]
    data = encode_midi(notes, {0: 25, 9: 0}, 120.0, (3, 4), end_beat=4.0)
    assert data[:4] == b"MThd" and data[14:18] == b"MTrk"
    assert b"\xff\x51\x03\x07\xa1\x20" in data  # 500000 us per quarter = 120 bpm
    assert b"\xff\x58\x04\x03\x02" in data  # 3/4
    assert b"\xc0\x19" in data and b"\xc9" not in data  # program on ch 1, none on drums
    assert b"\x99\x24" in data  # kick on channel 10
    # The overlapping repeat of pitch 60 is released before it is struck again.
    assert data.index(b"\x80\x3c\x00") < data.rindex(b"\x90\x3c")
    assert data.endswith(b"\xff\x2f\x00")


def test_lyric_lines_have_exact_syllable_counts():
    rng = np.random.default_rng(0)
    for theme in THEMES:
        for count in range(2, 13):
            words = make_line(rng, theme, count)
            assert sum(len(word.syllables) for word in words) == count


def test_plans_respect_duration_bounds_and_song_form():
    for index in range(60):
        plan = plan_song(clip_seed_sequence(3, "train", index), 5.0, 15.0)
        assert 5.0 <= plan.duration_s <= 15.0
        assert 2 <= len(plan.lyric_lines) <= 6
        assert len(plan.melody) == len(plan.syllables)
        assert plan.bar_chords[-1].root == plan.key.tonic  # ends on the tonic
        assert plan.melody[-1].midi % 12 == plan.key.tonic
        allowed = set(plan.key.scale_pitch_classes) | {pc for chord in plan.bar_chords for pc in chord.pitch_classes}
        assert all(note.midi % 12 in allowed for note in plan.melody)


def test_captions_always_state_key_and_tempo():
    rng = np.random.default_rng(1)
    for index in range(40):
        plan = plan_song(clip_seed_sequence(5, "train", index), 5.0, 15.0)
        attributes = {
            "key": PITCH_CLASS_NAMES[plan.key.tonic],
            "mode": plan.key.mode,
            "tempo_bpm": plan.tempo_bpm,
            "time_signature": plan.time_signature,
            "genre": plan.genre,
            "mood": plan.mood,
            "instruments": [{"program": plan.arrangement.chord_program}, {"program": plan.arrangement.bass_program}],
            "drums": plan.arrangement.drums,
            "vocal_gender": plan.vocal_gender,
        }
        caption = describe(attributes, rng)
        assert f"{attributes['key']} {plan.key.mode}" in caption
        assert str(int(plan.tempo_bpm)) in caption
        assert plan.vocal_gender in caption.lower()


# --------------------------------------------------------------------- audio tests


@needs_tools
def test_same_seed_is_byte_identical_across_worker_counts(corpus, tmp_path):
    again = _make(tmp_path / "b", SEED, 3, workers=2, test_fraction=1 / 3)
    assert again.read_bytes() == corpus.read_bytes()
    for name in ("train.jsonl", "test.jsonl"):
        assert (again.parent / name).read_bytes() == (corpus.parent / name).read_bytes()
    for wav in sorted((corpus.parent / "audio").glob("*.wav")):
        assert (again.parent / "audio" / wav.name).read_bytes() == wav.read_bytes(), wav.name


@needs_tools
def test_different_seed_gives_different_songs(corpus, records, tmp_path):
    other = _make(tmp_path / "c", SEED + 1, 1)
    record = json.loads(other.read_text().splitlines()[0])
    first = records[0]
    assert record["id"] != first["id"]
    assert record["caption"] != first["caption"]
    assert record["attributes"]["melody_midi"] != first["attributes"]["melody_midi"]
    mix, reference = _load(other, record, "audio_path"), _load(corpus, first, "audio_path")
    assert len(mix) != len(reference) or not np.array_equal(mix, reference)


@needs_tools
def test_records_follow_the_manifest_contract(corpus, records):
    assert [record["split"] for record in records] == ["train", "train", "test"]
    assert len({record["id"] for record in records}) == 3
    train = [json.loads(line) for line in (corpus.parent / "train.jsonl").read_text().splitlines()]
    test = [json.loads(line) for line in (corpus.parent / "test.jsonl").read_text().splitlines()]
    assert train + test == records
    for record in records:
        attributes = record["attributes"]
        for field in ("id", "caption", "lyrics", "audio_path", "vocal_path", "accompaniment_path", "language"):
            assert isinstance(record[field], str) and record[field]
        assert record["sampling_rate"] == 16000 and record["language"] == "en"
        assert MIN_DURATION <= record["duration"] <= MAX_DURATION
        assert 2 <= len(record["lyrics"].split("\n")) <= 6
        count = attributes["num_syllables"]
        assert (
            count == len(attributes["syllables"]) == len(attributes["melody_midi"]) == len(attributes["note_onsets_s"])
        )
        assert attributes["mode"] in ("major", "minor") and attributes["key"] in PITCH_CLASS_NAMES
        assert attributes["vocal_gender"] in ("male", "female") and attributes["voice"].startswith("en")
        assert isinstance(attributes["drums"], bool) and attributes["instruments"]
        assert all({"program", "name", "family", "role"} <= set(entry) for entry in attributes["instruments"])
        for field in ("audio_path", "vocal_path", "accompaniment_path"):
            samples = _load(corpus, record, field)
            assert len(samples) == round(record["duration"] * 16000)
        vocals = _load(corpus, record, "vocal_path").astype(np.float64) / 32768
        accompaniment = _load(corpus, record, "accompaniment_path").astype(np.float64) / 32768
        assert record["vocal_energy"] == pytest.approx(np.mean(vocals**2) * ENERGY_SCALE, rel=1e-5)
        assert record["acc_energy"] == pytest.approx(np.mean(accompaniment**2) * ENERGY_SCALE, rel=1e-5)


@needs_tools
def test_mix_is_exactly_the_sum_of_the_stems(corpus, records):
    for record in records:
        mix = _load(corpus, record, "audio_path").astype(np.int32)
        vocals = _load(corpus, record, "vocal_path").astype(np.int32)
        accompaniment = _load(corpus, record, "accompaniment_path").astype(np.int32)
        np.testing.assert_array_equal(mix, vocals + accompaniment)
        peak = np.abs(mix).max() / 32768
        assert 0.5 < peak <= 10 ** (-1 / 20) + 2 / 32768  # normalised to -1 dBFS, never clipped
        attributes = record["attributes"]
        assert attributes["vocal_gain"] > 0 and attributes["accompaniment_gain"] > 0
        # The stored vocal-to-accompaniment ratio holds over the sung samples.
        sung = np.zeros(len(mix), dtype=bool)
        for onset, length in zip(attributes["note_onsets_s"], attributes["note_durations_s"]):
            sung[int(round(onset * 16000)) : int(round((onset + length) * 16000))] = True
        ratio = 10 * np.log10(
            np.mean(vocals[sung].astype(float) ** 2) / np.mean(accompaniment[sung].astype(float) ** 2)
        )
        assert ratio == pytest.approx(attributes["vocal_to_accompaniment_db"], abs=0.1)


@needs_tools
def test_vocal_stem_sounds_exactly_at_the_notes(corpus, records):
    rate = 16000
    for record in records:
        vocals = _load(corpus, record, "vocal_path").astype(np.float64) / 32768
        attributes = record["attributes"]
        inside = np.zeros(len(vocals), dtype=bool)
        for onset, length in zip(attributes["note_onsets_s"], attributes["note_durations_s"]):
            start, stop = int(round(onset * rate)), int(round((onset + length) * rate))
            inside[max(0, start - 2) : stop + 2] = True  # +-2 samples: onsets are stored to 10 us
            body = vocals[start + int(0.01 * rate) : stop - int(0.01 * rate)]
            assert np.sqrt(np.mean(body**2)) > 10 ** (-40 / 20), f"silent note at {onset}s in {record['id']}"
        assert np.abs(vocals[~inside]).max() <= 1 / 32768, "vocal energy outside the notes"
        assert inside.mean() < 0.95  # rests between phrases exist


@needs_tools
def test_vocal_pitch_follows_the_melody(corpus, records):
    rate = 16000
    record = records[0]
    vocals = _load(corpus, record, "vocal_path").astype(np.float64) / 32768
    attributes = record["attributes"]
    errors = []
    for onset, length, midi in zip(
        attributes["note_onsets_s"], attributes["note_durations_s"], attributes["melody_midi"]
    ):
        if length < 0.15:
            continue
        start = int(round((onset + 0.06) * rate))
        frame = vocals[start : start + int(0.06 * rate)] * np.hanning(int(0.06 * rate))
        correlation = np.fft.irfft(np.abs(np.fft.rfft(frame, 4 * len(frame))) ** 2)[: len(frame)]
        low, high = int(rate / 700), int(rate / 90)
        lag = low + int(np.argmax(correlation[low:high]))
        errors.append(abs(12 * np.log2((rate / lag) / (440 * 2 ** ((midi - 69) / 12)))))
    assert errors and np.median(errors) < 0.7  # semitones (scoop and vibrato included)


@needs_tools
def test_accompaniment_plays_the_recorded_tempo_and_key(corpus, records):
    for record in records:
        accompaniment = _load(corpus, record, "accompaniment_path").astype(np.float64) / 32768
        attributes = record["attributes"]
        tempo = attributes["tempo_bpm"]
        on_grid = beat_alignment(accompaniment, 16000, tempo)
        assert on_grid > 1.5 * beat_alignment(accompaniment, 16000, tempo * 0.93)
        assert on_grid > 1.5 * beat_alignment(accompaniment, 16000, tempo * 1.07)

        key = Key(PITCH_CLASS_NAMES.index(attributes["key"]), attributes["mode"])
        scores = key_scores(accompaniment, 16000)
        ranking = sorted(scores, key=scores.get, reverse=True)
        assert ranking.index(key) < 4, f"{key.name} ranked {ranking.index(key) + 1} in {record['id']}"
        profile = chroma(accompaniment, 16000)
        major_tonic = key.tonic if key.mode == "major" else key.relative.tonic
        scale_energy = [profile[[(tonic + step) % 12 for step in (0, 2, 4, 5, 7, 9, 11)]].sum() for tonic in range(12)]
        assert list(np.argsort(scale_energy)[::-1]).index(major_tonic) < 2


@needs_tools
def test_captions_in_the_manifest_mention_key_and_tempo(records):
    for record in records:
        attributes = record["attributes"]
        assert f"{attributes['key']} {attributes['mode']}" in record["caption"]
        assert str(int(attributes["tempo_bpm"])) in record["caption"]


@needs_tools
def test_resume_skips_complete_clips_and_redoes_missing_ones_but_never_a_changed_file(corpus, records, capsys):
    folder = corpus.parent
    before = {path.name: (path.stat().st_mtime_ns, path.read_bytes()) for path in (folder / "audio").glob("*.wav")}
    damaged = folder / records[1]["vocal_path"]
    damaged.write_bytes(damaged.read_bytes()[:1000])
    manifest_bytes = corpus.read_bytes()
    hidden = [folder / "audio" / ".notes.wav", folder / "meta" / ".mine.json"]  # a user's files, not staging
    for path in hidden:
        path.write_text("mine")

    args = add_synth_arguments(argparse.ArgumentParser()).parse_args(
        [
            "--output",
            str(folder),
            "--num-clips",
            "3",
            "--seed",
            str(SEED),
            "--test-fraction",
            str(1 / 3),
            "--min-duration",
            str(MIN_DURATION),
            "--max-duration",
            str(MAX_DURATION),
            "--no-progress",
        ]
    )
    assert run_synth(args) != 0  # a file no record proves: kept, and named in one line
    assert re.search(
        rf"error: data synth: {re.escape(str(damaged))} is not a file songgen wrote", capsys.readouterr().err
    )
    assert len(damaged.read_bytes()) == 1000
    damaged.unlink()  # the fix the message gives: out of the way, and the clip is made again
    assert run_synth(args) == 0
    assert corpus.read_bytes() == manifest_bytes
    assert [path.read_text() for path in hidden] == ["mine", "mine"]
    regenerated = {records[1][field].split("/")[-1] for field in ("audio_path", "vocal_path", "accompaniment_path")}
    for path in set((folder / "audio").glob("*.wav")) - set(hidden):
        mtime, content = before[path.name]
        assert path.read_bytes() == content, path.name
        if path.name not in regenerated:
            assert path.stat().st_mtime_ns == mtime, f"{path.name} was rewritten"
    assert not [name for name in os.listdir(folder / "audio") if name.endswith(".tmp")]
