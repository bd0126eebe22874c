"""``songgen data prepare`` end to end on synthetic songs (mixes only) with tiny models built in-process:
what it writes, checked against the synthetic ground truth; resumability; bad input; --dry-run."""

import errno
import json
import os

import numpy as np
import pytest
import soundfile as sf

from songgen_hf.commands.cli import main
from songgen_hf.data.audio import load_audio
from songgen_hf.data.lyrics_alignment import syllable_timing, syllable_token_positions
from songgen_hf.data.manifest import ValidationOptions, read_manifest_records
from songgen_hf.data.prepare import stages
from songgen_hf.data.prepare.decode import find_songs
from songgen_hf.data.prepare.lyrics import normalise_words
from songgen_hf.data.prepare.separation import DemucsSeparator, split_stems
from songgen_hf.data.prepare.tiny import (
    save_passthrough_demucs,
    save_tiny_clap,
    save_tiny_demucs,
    save_tiny_whisper,
)
from songgen_hf.testing import tiny_tokenizers

from .prepare_songs import needs_synth_tools, sung_words, synth_corpus, write_songs

pytestmark = needs_synth_tools
# The word timing is an estimate from the voiced time (lyrics.estimate_word_timing); here the separation passes the
# mix through as "vocals", so the voiced segments include the accompaniment: a loose bound, that times made up at
# random or in reverse exceed (0.31 s when this was written)
MEDIAN_ONSET_ERROR_S = 0.6
CLIP_ARGS = ["--min-clip-seconds", "3", "--target-clip-seconds", "5", "--max-clip-seconds", "10", "--no-progress"]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("prepare_models")
    return {
        "separation": str(save_passthrough_demucs(root / "passthrough")),
        "random_demucs": str(save_tiny_demucs(root / "demucs")),
        "asr": str(save_tiny_whisper(root / "whisper")),
        "asr2": str(save_tiny_whisper(root / "whisper2", seed=1)),
        "clap": str(save_tiny_clap(root / "clap")),
    }


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("prepare_corpus")
    return folder, synth_corpus(folder, 3)


def _args(models, songs, output, *extra):
    return [
        "data",
        "prepare",
        str(songs),
        "--output",
        str(output),
        "--separation-model",
        models["separation"],
        "--asr-model",
        models["asr"],
        "--second-asr-model",
        models["asr2"],
        "--clap-model",
        models["clap"],
        "--max-edit-distance",
        "1",
        *CLIP_ARGS,
        *extra,
    ]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory, corpus, models):
    """Songs 0 and 1 come with their lyrics file, song 2 is transcribed."""
    root, records = corpus
    work = tmp_path_factory.mktemp("prepared")
    truth = write_songs(root, records, work / "songs", lyrics=True)
    (work / "songs" / "song2.txt").unlink()
    os.environ["HF_HUB_OFFLINE"] = "1"
    assert main(_args(models, work / "songs", work / "corpus", "--json")) == 0
    return work, truth


def _records(corpus_dir):
    return [json.loads(line) for line in (corpus_dir / "manifest.jsonl").read_text().splitlines()]


def test_the_manifest_is_what_the_training_stack_reads(prepared):
    work, truth = prepared
    dataset, report = read_manifest_records(
        work / "corpus" / "manifest.jsonl", ValidationOptions(sampling_rate=16000), on_error="raise"
    )
    assert report.ok == len(dataset) >= len(truth) and report.skipped == 0
    for row in dataset:
        assert row["caption"] and row["vocal_path"] and row["accompaniment_path"] and row["sampling_rate"] == 16000
        assert 3.0 - 1e-3 <= row["duration"] <= 10.0 + 1e-3
        attributes = json.loads(row["attributes"])
        assert {"clap_score", "edit_distance", "hq", "tempo_bpm", "key", "start_s", "end_s"} <= set(attributes)
    summary = json.loads((work / "corpus" / "summary.json").read_text())
    assert summary["songs"] == 3 and summary["clips"] == len(dataset) and summary["clap"].endswith("clap")


def test_clip_stems_are_sample_aligned_with_the_decoded_song(prepared):
    work, _ = prepared
    for record in _records(work / "corpus"):
        song = load_audio(work / "corpus" / "work" / record["attributes"]["song"] / "mix.wav", 16000)
        clip = load_audio(work / "corpus" / record["audio_path"], 16000)
        vocals = load_audio(work / "corpus" / record["vocal_path"], 16000)
        start = int(round(record["attributes"]["start_s"] * 16000))
        assert len(clip) == len(vocals) == int(round(record["attributes"]["end_s"] * 16000)) - start
        np.testing.assert_allclose(clip, song[start : start + len(clip)], atol=2e-4)  # 16-bit WAV rounding
        # the pass-through model returns the mix as "vocals": any frame offset of the separation path shows here
        interior = slice(16, len(clip) - 16)
        np.testing.assert_allclose(vocals[interior], clip[interior], atol=2e-3)


def test_clip_boundaries_do_not_cut_sung_notes(prepared):
    work, truth = prepared
    for record in _records(work / "corpus"):
        attributes = record["attributes"]
        notes = zip(
            truth[attributes["song"]]["attributes"]["note_onsets_s"],
            truth[attributes["song"]]["attributes"]["note_durations_s"],
        )
        for onset, length in notes:
            for boundary in (attributes["start_s"], attributes["end_s"]):
                assert not onset + 0.05 < boundary < onset + length - 0.05, (record["id"], boundary, onset)


def test_user_lyrics_win_and_land_in_the_clips_where_they_are_sung(prepared):
    work, truth = prepared
    records = _records(work / "corpus")
    for song in ("song0", "song1"):
        clips = [r for r in records if r["attributes"]["song"] == song]
        assert clips and all(r["attributes"]["lyrics_source"] == "user" for r in clips)
        words = sung_words(truth[song])
        placed = [w for r in clips for w in r["lyrics"].split()]
        assert "[verse]" not in placed and _is_subsequence(placed, [w for w, _ in words])
        expected = matched = 0
        for r in clips:  # a word belongs to the clip where its first note is sung
            here = [w for w, t in words if r["attributes"]["start_s"] <= t < r["attributes"]["end_s"]]
            expected += len(here)
            matched += sum(min(here.count(w), r["lyrics"].split().count(w)) for w in set(here))
        assert expected and matched >= 0.8 * expected


def test_records_carry_word_timing_that_the_guided_lyrics_targets_read(prepared):
    work, truth = prepared
    _, lyrics_tokenizer = tiny_tokenizers()
    errors = []
    for record in _records(work / "corpus"):
        attributes = record["attributes"]
        timing = syllable_timing(attributes)
        if not normalise_words(record["lyrics"]):  # the random recogniser's transcripts may hold no word
            assert timing is None and "lyrics_timing" not in attributes and attributes["lyrics_source"] != "user"
            continue
        assert timing is not None and attributes["lyrics_timing"] == stages.WORD_TIMING
        assert timing["syllables"] == normalise_words(record["lyrics"])
        onsets, durations = np.array(timing["note_onsets_s"]), np.array(timing["note_durations_s"])
        assert (np.diff(onsets) >= 0).all() and (durations > 0).all()
        assert onsets[0] >= 0 and onsets[-1] + durations[-1] <= record["duration"] + 1e-3
        positions = syllable_token_positions(lyrics_tokenizer, record["lyrics"], timing["syllables"])
        assert all(np.isfinite(positions)) and positions == sorted(positions)
        if attributes["lyrics_source"] == "user":  # against when each word's first note is really sung
            start = attributes["start_s"]
            sung = [
                (w, t - start) for w, t in sung_words(truth[attributes["song"]]) if 0 <= t - start < record["duration"]
            ]
            for (word, true_onset), word_estimate, onset in zip(sung, timing["syllables"], onsets):
                if word.lower().strip(",.") == word_estimate:
                    errors.append(abs(onset - true_onset))
    assert errors and np.median(errors) < MEDIAN_ONSET_ERROR_S


def _is_subsequence(short, long):
    remaining = iter(long)
    return all(any(word == other for other in remaining) for word in short)


def test_recognised_lyrics_carry_both_transcripts_distance(prepared):
    work, _ = prepared
    recognised = [r for r in _records(work / "corpus") if r["attributes"]["song"] == "song2"]
    assert recognised and all(r["attributes"]["lyrics_source"] == "recognition" for r in recognised)
    assert all(0.0 <= r["attributes"]["edit_distance"] <= 1.0 for r in recognised)


def test_a_rerun_skips_every_finished_stage_and_a_changed_filter_reruns_only_its_stages(prepared, models, capsys):
    work, _ = prepared
    before = (work / "corpus" / "manifest.jsonl").read_bytes()
    assert main(_args(models, work / "songs", work / "corpus", "--json")) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["stage_runs"] == {} and (work / "corpus" / "manifest.jsonl").read_bytes() == before
    assert main(_args(models, work / "songs", work / "corpus", "--max-edit-distance", "0", "--json")) in (0, 2)
    summary = json.loads((work / "corpus" / "summary.json").read_text())
    assert set(summary["stage_runs"]) == {"lyrics", "describe"}
    # random recognisers disagree: every transcribed clip is dropped at distance 0, user lyrics stay
    assert summary["clips_dropped"].get("recognisers disagree", 0) >= 1
    assert all(r["attributes"]["lyrics_source"] == "user" for r in _records(work / "corpus"))


def test_an_interrupted_stage_leaves_nothing_half_written_and_the_rerun_continues(
    tmp_path, corpus, models, monkeypatch
):
    root, records = corpus
    write_songs(root, records[:2], tmp_path / "songs", lyrics=True)
    calls = []
    original = stages.write_audio

    def dying_write(path, audio, rate):
        calls.append(path)
        if "song1-000_vocals" in str(path):
            raise KeyboardInterrupt  # killed in the middle of song1's slicing
        return original(path, audio, rate)

    monkeypatch.setattr(stages, "write_audio", dying_write)
    with pytest.raises(KeyboardInterrupt):
        main(_args(models, tmp_path / "songs", tmp_path / "corpus"))
    corpus_dir = tmp_path / "corpus"
    assert not (corpus_dir / "manifest.jsonl").exists()
    assert (corpus_dir / "work" / "song0" / "slice.json").is_file()
    assert not (corpus_dir / "work" / "song1" / "slice.json").exists()
    assert not [p for p in corpus_dir.rglob("*") if p.name.startswith(".")]  # no staging leftovers
    monkeypatch.setattr(stages, "write_audio", original)
    assert main(_args(models, tmp_path / "songs", tmp_path / "corpus", "--json")) == 0
    summary = json.loads((corpus_dir / "summary.json").read_text())
    assert summary["stage_runs"]["slice"] == 1 and "decode" not in summary["stage_runs"]
    assert {r["attributes"]["song"] for r in _records(corpus_dir)} == {"song0", "song1"}


def test_a_full_disk_is_a_clear_error_and_the_rerun_continues(tmp_path, corpus, models, monkeypatch, capsys):
    root, records = corpus
    write_songs(root, records[:1], tmp_path / "songs")

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(stages, "write_audio", full)
    assert main(_args(models, tmp_path / "songs", tmp_path / "corpus")) == 2
    assert "disk is full" in capsys.readouterr().err
    monkeypatch.undo()
    assert main(_args(models, tmp_path / "songs", tmp_path / "corpus")) == 0


def test_bad_songs_are_counted_in_the_summary(tmp_path, corpus, models, capsys):
    root, records = corpus
    songs = tmp_path / "songs"
    write_songs(root, records[:1], songs)
    (songs / "empty.wav").write_bytes(b"")
    (songs / "broken.mp3").write_bytes(b"ID3 not really an mp3")
    sf.write(songs / "short.wav", 0.3 * np.sin(np.arange(16000) / 5.0).astype(np.float32), 16000)
    sf.write(songs / "instrumental.wav", 0.3 * load_audio(root / records[1]["accompaniment_path"], 16000), 16000)
    sf.write(songs / "wronglyrics.wav", load_audio(root / records[2]["audio_path"], 16000), 16000)
    (songs / "wronglyrics.txt").write_text(" ".join(["word"] * 600))
    assert main(_args(models, songs, tmp_path / "corpus")) == 0
    out = capsys.readouterr().out
    summary = json.loads((tmp_path / "corpus" / "summary.json").read_text())
    assert summary["songs_dropped"]["unreadable"] == 2 and summary["songs_dropped"]["too short"] == 1
    assert summary["songs_dropped"].get("no vocals", 0) + summary["songs_dropped"].get("no clips", 0) >= 1
    assert "instrumental" in " ".join(summary["song_problems"])
    assert summary["lyrics_files_not_matching"] == [str(songs / "wronglyrics.txt")]
    assert (
        "unreadable: 2" in out
        and "wronglyrics.txt" in out
        and "song0" in {r["attributes"]["song"] for r in _records(tmp_path / "corpus")}
    )


def test_no_audio_and_unloadable_models_fail_before_any_work(tmp_path, corpus, models, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    (tmp_path / "empty").mkdir()
    assert main(_args(models, tmp_path / "empty", tmp_path / "out")) == 2
    assert "No audio files" in capsys.readouterr().err
    root, records = corpus
    write_songs(root, records[:1], tmp_path / "songs")
    for flag, value in (
        ("--asr-model", "nobody/no-such-whisper"),
        ("--separation-model", "nobody/htdemucs_none"),
        ("--clap-model", "nobody/no-such-clap"),
    ):
        args = _args(models, tmp_path / "songs", tmp_path / "out")
        args[args.index(flag) + 1] = value
        assert main(args) == 2
        err = capsys.readouterr().err
        if flag == "--separation-model":  # a publisher outside the allow-list is refused before the cache is asked
            assert value in err and "--trust-separation-model" in err and "offline" not in err
            assert main([*args, "--trust-separation-model"]) == 2
            err = capsys.readouterr().err
        assert value in err and "hf download" in err and "offline" in err
        assert not (tmp_path / "out" / "work").exists()


def test_dry_run_prints_the_plan_without_running_models(tmp_path, corpus, models, capsys):
    root, records = corpus
    write_songs(root, records[:2], tmp_path / "songs", lyrics=True)
    args = _args(models, tmp_path / "songs", tmp_path / "out", "--dry-run", "--json")
    args[args.index("--clap-model") + 1] = "auto"
    assert main(args) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["total_songs"] == 2 and plan["estimated_clips"] >= 2
    assert all(song["lyrics_file"] for song in plan["songs"])
    roles = {model["role"]: model["status"] for model in plan["models"]}
    assert roles["separation"] == roles["speech recognition"] == "local"
    assert not (tmp_path / "out").exists()


def test_the_random_demucs_separates_into_aligned_sources(corpus, models):
    root, records = corpus
    separator = DemucsSeparator(models["random_demucs"])
    mix = load_audio(root / records[0]["audio_path"], 16000)
    stereo44 = np.stack([mix, mix])[:, : 16000 * 3]
    from songgen_hf.data.audio import resample

    sources = separator.separate(resample(stereo44, 16000, 44100), 44100, 16000 * 3)
    assert sorted(sources) == ["bass", "drums", "other", "vocals"]
    assert all(s.shape == (16000 * 3,) and s.dtype == np.float32 and np.isfinite(s).all() for s in sources.values())
    vocals, accompaniment = split_stems(sources)
    np.testing.assert_allclose(
        accompaniment, np.clip(sources["drums"] + sources["bass"] + sources["other"], -1, 1), atol=1e-6
    )
    again = DemucsSeparator(models["random_demucs"]).separate(resample(stereo44, 16000, 44100), 44100, 16000 * 3)
    np.testing.assert_array_equal(again["vocals"], vocals)  # shifts=0: deterministic


def test_find_songs_sees_every_format(tmp_path, corpus):
    root, records = corpus
    write_songs(root, records + records[:1], tmp_path)
    assert sorted(p.path.suffix for p in find_songs(tmp_path)) == [".flac", ".mp3", ".ogg", ".wav"]


@pytest.mark.skipif(__import__("torch").accelerator.is_available(), reason="the CPU-only launch path")
def test_two_launched_processes_write_the_manifest_one_process_writes(prepared, models, tmp_path):
    """`accelerate launch --num_processes 2 ... data prepare`: the songs are shared between the processes (each song's
    stages run once, by one of them) and the main one writes the manifests as a single run does, byte for byte."""
    import subprocess
    import sys

    work, _ = prepared
    command = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--cpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "-m",
        "songgen_hf.cli",
        *_args(models, work / "songs", tmp_path / "corpus", "--json"),
    ]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert main(_args(models, work / "songs", tmp_path / "single", "--json")) == 0  # the same run, one process
    for name in ("manifest.jsonl", "hq.jsonl"):
        assert (tmp_path / "corpus" / name).read_bytes() == (tmp_path / "single" / name).read_bytes()
    summary = json.loads((tmp_path / "corpus" / "summary.json").read_text())
    # every song's every stage ran once, in one of the two processes (a stage a song was dropped at ends its run)
    single = json.loads((tmp_path / "single" / "summary.json").read_text())
    assert summary["stage_runs"] == single["stage_runs"] and summary["clips"] == single["clips"]
    assert summary["clips"] > 0 and result.stdout.count('"manifest"') == 1  # one report, by the main process
