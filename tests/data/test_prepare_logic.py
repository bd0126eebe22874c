"""The model-free logic of ``songgen data prepare``: slicing plans, edit distance, lyrics alignment,
captions the processor reads, song discovery and decoding, option checks."""

import numpy as np
import pytest
import soundfile as sf

from songgen_hf.data.prepare.decode import (
    DecodeError,
    decode_song,
    find_songs,
    loudness_gain,
)
from songgen_hf.data.prepare.describe import caption, estimate_key, instruments
from songgen_hf.data.prepare.lyrics import (
    align_user_lyrics,
    check_user_lyrics,
    edit_distance,
    estimate_word_timing,
    recognise,
    user_lyrics_lines,
    word_times,
)
from songgen_hf.data.prepare.options import PrepareOptions
from songgen_hf.data.prepare.slicing import SliceOptions, plan_clips, split_long
from songgen_hf.modeling.songgen.description_songgen import parse_music_key_id, parse_tempo_bpm

RATE = 16000


@pytest.mark.parametrize(
    "a, b, expected",
    [
        ("hold me close tonight", "hold me close tonight", 0.0),
        ("Hold me, close tonight!", "hold me close tonight", 0.0),  # case and punctuation do not count
        ("hold me close tonight", "hold me tonight", 0.25),  # one deletion over four words
        ("one two three four five", "one two six four five", 0.2),  # one substitution over five
        ("a b", "c d e f", 1.0),
        ("", "", 0.0),
        ("", "la la", 1.0),
    ],
)
def test_edit_distance_is_normalised_word_levenshtein(a, b, expected):
    assert edit_distance(a, b) == pytest.approx(expected)
    assert edit_distance(b, a) == pytest.approx(expected)


def test_two_recogniser_filter_records_the_distance_and_the_first_transcript():
    heard = recognise(np.zeros(RATE), lambda audio: "we run across the night", lambda audio: "we run across a night")
    assert heard.text == "we run across the night" and heard.second == "we run across a night"
    assert heard.edit_distance == pytest.approx(0.2)
    assert recognise(np.zeros(RATE), lambda audio: "la", None).edit_distance is None


def _covered(clips, segments):
    return all(any(s >= c[0] - 1e-6 and e <= c[1] + 1e-6 for c in clips) for s, e in segments)


@pytest.mark.parametrize(
    "segments, duration",
    [
        ([(1.0, 3.0), (3.5, 6.0), (7.0, 9.0), (9.4, 12.0), (15.0, 18.0), (18.3, 22.0)], 25.0),
        ([(0.0, 2.0), (2.2, 4.0), (4.3, 6.5), (6.9, 8.0)], 8.5),
        ([(5.0, 9.0), (20.0, 26.0), (26.5, 31.0)], 40.0),
    ],
)
def test_clips_respect_lengths_and_never_cut_inside_a_voiced_segment(segments, duration):
    options = SliceOptions(min_seconds=4, max_seconds=10, target_seconds=6, pad_seconds=0.2)
    clips, dropped = plan_clips(segments, duration, options)
    assert clips and dropped == 0
    for start, end, first, last in clips:
        assert options.min_seconds - 1e-6 <= end - start <= options.max_seconds + 1e-6
        assert 0 <= start < end <= duration
        for s, e in segments:  # a boundary inside a voiced segment would cut a word
            assert not s < start < e and not s < end < e
    assert all(a[1] <= b[0] for a, b in zip(clips, clips[1:]))  # no overlap
    assert _covered([(c[0], c[1]) for c in clips], segments)


def test_a_lone_short_phrase_is_dropped_and_counted():
    clips, dropped = plan_clips([(1.0, 1.5), (30.0, 31.0)], 31.2, SliceOptions(min_seconds=10, max_seconds=30))
    # the first phrase stretches into the long gap after it; the last cannot reach 10 s without voice
    assert len(clips) + dropped == 2 and clips[0][0] <= 1.0 and clips[0][1] <= 30.0


def test_an_over_long_voiced_stretch_is_cut_at_its_quietest_point():
    vocals = np.ones(40 * RATE, dtype=np.float32)
    vocals[int(17 * RATE) : int(17.04 * RATE)] = 0.0  # the only quiet 40 ms
    options = SliceOptions(min_seconds=10, max_seconds=30)
    segments, forced = split_long([(0.0, 40.0)], vocals, options)
    assert forced == 1 and segments[0][0] == 0.0 and abs(segments[0][1] - 17.02) < 0.03 and segments[-1][1] == 40.0


def test_user_lyrics_drop_tags_and_align_by_voiced_time():
    lines = user_lyrics_lines("[verse]\nhold me close tonight\n\n[chorus]\nthe stars are shining bright\n")
    assert lines == [["hold", "me", "close", "tonight"], ["the", "stars", "are", "shining", "bright"]]
    # two phrases, each line sung in one of them; each phrase in its own clip
    segments = [(1.0, 4.0), (11.0, 14.0)]
    texts = align_user_lyrics(lines, segments, [(0.0, 8.0), (8.0, 16.0)])
    assert texts == ["hold me close tonight", "the stars are shining bright"]
    times = [t for _, _, t in word_times(lines, segments)]
    assert times == sorted(times) and 1.0 < times[0] < times[-1] < 14.0


def test_word_timing_spreads_a_clips_words_over_its_voiced_time():
    # syllable estimates hold 1, me 1, close 1 (silent e), tonight 2: shares of 3 s voiced are 0.6, 0.6, 0.6, 1.2 s
    timing = estimate_word_timing("Hold me, close\ntonight", [(0.5, 1.5), (2.0, 4.0)])
    assert timing["syllables"] == ["hold", "me", "close", "tonight"]
    assert timing["note_onsets_s"] == pytest.approx([0.5, 1.1, 2.2, 2.8])
    assert timing["note_durations_s"] == pytest.approx([0.6, 1.1, 0.6, 1.2])  # "me" straddles the pause
    # a word whose share begins where a segment ends is sung from the next segment's start, not in the pause
    assert estimate_word_timing("we go", [(0.5, 1.5), (2.0, 3.0)])["note_onsets_s"] == pytest.approx([0.5, 2.0])
    assert estimate_word_timing("", [(0.0, 1.0)]) is None and estimate_word_timing("la", []) is None


def test_user_lyrics_keep_line_breaks_inside_a_clip_and_leave_out_words_of_dropped_clips():
    lines = [["la", "la"], ["we", "go"], ["far", "away"]]
    texts = align_user_lyrics(lines, [(0.0, 2.0), (2.0, 4.0), (4.0, 6.0)], [(0.0, 4.0)])
    assert texts == ["la la\nwe go"]


@pytest.mark.parametrize(
    "text, voiced, problem",
    [
        ("", 10.0, "no words"),
        ("[verse]\n[chorus]", 10.0, "no words"),
        (" ".join(["word"] * 500), 10.0, "words/s"),  # 50 words per second: another song's file, or a whole album
        ("la", 100.0, "words/s"),
        ("hold me close tonight", 0.0, "no voice"),
    ],
)
def test_lyrics_files_that_cannot_match_their_song_are_named(text, voiced, problem):
    assert problem in check_user_lyrics(user_lyrics_lines(text), voiced)


def test_plausible_lyrics_pass_the_check():
    assert check_user_lyrics(user_lyrics_lines("hold me close tonight\nthe stars are bright"), 4.0) is None


@pytest.mark.parametrize("tempo, key", [(96, ("D", "minor")), (120, ("F#", "major")), (72, ("Bb", "major"))])
def test_captions_are_read_back_by_the_processors_musical_controls(tempo, key):
    text = caption(["dream pop", "female voice"], tempo, key, ["drums", "bass"], 0.6)
    assert text.startswith("dream pop, female voice.")
    assert parse_tempo_bpm(text) == tempo
    assert parse_music_key_id(text) == parse_music_key_id(f"in {key[0]} {key[1]}")
    assert "drums and bass" in text and "vocals" in text


def test_key_estimate_finds_a_synthetic_triad():
    t = np.arange(4 * RATE) / RATE
    audio = sum(np.sin(2 * np.pi * 440 * 2 ** (step / 12) * t) for step in (0, 3, 7)) * 0.1  # A minor triad
    assert estimate_key(audio.astype(np.float32)) == ("A", "minor")


def test_instruments_come_from_the_non_vocal_sources():
    loud, silent = np.ones(100, dtype=np.float32), np.zeros(100, dtype=np.float32)
    assert instruments({"vocals": loud, "drums": loud, "bass": silent, "other": loud}) == ["drums", "other instruments"]
    assert instruments({"vocals": loud, "no_vocals": loud}) == ["instruments"]
    assert instruments({"vocals": loud, "drums": silent}) == []


def test_find_songs_reads_lyrics_and_tags_files(tmp_path):
    (tmp_path / "album").mkdir()
    for name in ("album/a.wav", "album/b.flac", "c.ogg"):
        sf.write(tmp_path / name, np.zeros(RATE, dtype=np.float32), RATE)
    (tmp_path / "album" / "a.txt").write_text("[verse]\nla la")
    (tmp_path / "album" / "tags.txt").write_text("indie, live recording")
    (tmp_path / "album" / "b.tags.txt").write_text("acoustic\nlive recording")
    (tmp_path / "notes.md").write_text("not a song")
    songs = {song.id: song for song in find_songs(tmp_path)}
    assert set(songs) == {"album__a", "album__b", "c"}
    assert songs["album__a"].lyrics_path.name == "a.txt" and songs["album__a"].tags == ["indie", "live recording"]
    assert songs["album__b"].lyrics_path is None and songs["album__b"].tags == ["indie", "live recording", "acoustic"]
    assert songs["c"].tags == []


def test_an_empty_folder_is_a_clear_error(tmp_path):
    (tmp_path / "readme.txt").write_text("no audio here")
    with pytest.raises(ValueError, match="No audio files"):
        find_songs(tmp_path)
    with pytest.raises(ValueError, match="not a folder"):
        find_songs(tmp_path / "missing")


def test_decoding_makes_16k_mono_at_the_target_loudness(tmp_path):
    t = np.arange(44100 * 3) / 44100
    stereo = np.stack([0.02 * np.sin(2 * np.pi * 220 * t), 0.03 * np.sin(2 * np.pi * 330 * t)], axis=1)
    sf.write(tmp_path / "song.wav", stereo.astype(np.float32), 44100)
    song = find_songs(tmp_path)[0]
    mix, facts = decode_song(song, target_lufs=-14.0, min_seconds=1.0)
    assert facts["source_rate"] == 44100 and facts["source_channels"] == 2
    assert mix.ndim == 1 and abs(mix.shape[0] - 3 * RATE) <= 1
    import pyloudnorm

    assert pyloudnorm.Meter(RATE).integrated_loudness(mix.astype(np.float64)) == pytest.approx(-14.0, abs=0.5)


def test_loudness_gain_never_pushes_the_peak_over_full_scale():
    spiky = np.zeros(RATE, dtype=np.float32)
    spiky[::1000] = 0.5  # very quiet on average, loud peaks
    gain, _ = loudness_gain(spiky, RATE, -14.0)
    assert gain * 0.5 <= 0.98 + 1e-6


@pytest.mark.parametrize(
    "make, reason",
    [
        (lambda p: p.write_bytes(b""), "unreadable"),
        (lambda p: p.write_bytes(b"RIFF\x00\x00garbage"), "unreadable"),
        (lambda p: sf.write(p, np.zeros(RATE, dtype=np.float32), RATE), "silent"),
        (lambda p: sf.write(p, 0.1 * np.ones(RATE // 2, dtype=np.float32), RATE), "too short"),
    ],
)
def test_bad_songs_are_dropped_with_a_reason(tmp_path, make, reason):
    make(tmp_path / "song.wav")
    with pytest.raises(DecodeError) as caught:
        decode_song(find_songs(tmp_path)[0], -14.0, min_seconds=1.0)
    assert caught.value.reason == reason and "song.wav" in caught.value.detail


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"max_edit_distance": 20}, "max-edit-distance"),
        ({"min_clap_score": 2}, "min-clap-score"),
        ({"min_vocal_energy": -1}, "min-vocal-energy"),
        ({"target_lufs": 3}, "target-lufs"),
        ({"asr_model": ""}, "asr-model"),
    ],
)
def test_bad_options_are_refused(changes, message):
    with pytest.raises(ValueError, match=message):
        PrepareOptions(**changes)


def test_off_switches_for_optional_models():
    options = PrepareOptions(second_asr_model="none", clap_model="off")
    assert options.second_asr_model is None and options.clap_model is None
    with pytest.raises(ValueError, match="min-clip-seconds"):
        SliceOptions(min_seconds=20, max_seconds=10)


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--max-edit-distance", "5"], "--max-edit-distance"),
        (["--target-clip-seconds", "50"], "--target-clip-seconds"),
        (["--min-clip-seconds", "0"], "--min-clip-seconds"),
        (["--vad-threshold", "1.5"], "--vad-threshold"),
    ],
)
def test_cli_refuses_bad_settings_before_reading_audio(tmp_path, capsys, extra, message):
    from songgen_hf.commands.cli import main

    sf.write(tmp_path / "song.wav", np.zeros(RATE, dtype=np.float32), RATE)
    assert main(["data", "prepare", str(tmp_path), "--output", str(tmp_path / "out"), *extra]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_cli_refuses_a_non_finite_number(tmp_path, capsys):
    from songgen_hf.commands.cli import main

    with pytest.raises(SystemExit) as caught:
        main(["data", "prepare", str(tmp_path), "--output", str(tmp_path / "out"), "--target-lufs", "nan"])
    assert caught.value.code == 2 and "--target-lufs: 'nan' is not a finite number" in capsys.readouterr().err


def test_cli_refuses_a_file_as_songs_folder_and_an_output_inside_it(tmp_path, capsys):
    from songgen_hf.commands.cli import main

    sf.write(tmp_path / "song.wav", np.zeros(RATE, dtype=np.float32), RATE)
    assert main(["data", "prepare", str(tmp_path / "song.wav"), "--output", str(tmp_path / "out")]) == 2
    assert "not a folder" in capsys.readouterr().err
    assert (
        main(
            [
                "data",
                "prepare",
                str(tmp_path),
                "--output",
                str(tmp_path / "corpus"),
                "--separation-model",
                str(tmp_path),
                "--asr-model",
                str(tmp_path),
            ]
        )
        == 2
    )
    assert "inside SONGS" in capsys.readouterr().err


@pytest.mark.parametrize("module", ["silero_vad", "pyloudnorm", "librosa", "demucs"])
def test_a_missing_prepare_extra_names_the_install_command(tmp_path, capsys, monkeypatch, module):
    import sys

    from songgen_hf.commands.cli import main

    monkeypatch.setitem(sys.modules, module, None)  # as if not installed: importing it raises ImportError
    sf.write(tmp_path / "song.wav", np.zeros(RATE, dtype=np.float32), RATE)
    assert main(["data", "prepare", str(tmp_path), "--output", str(tmp_path.parent / f"out-{module}")]) == 2
    err = capsys.readouterr().err
    assert 'pip install -e ".[prepare]" in the songgen-hf repository' in err and module.replace("_", "-") in err
    assert not (tmp_path.parent / f"out-{module}").exists()


def test_prepare_shows_every_stage_song_by_song_in_a_log(tmp_path, capsys, monkeypatch):
    from songgen_hf.data.prepare import runner as prepare_runner

    songs_dir = tmp_path / "songs"
    songs_dir.mkdir()
    for name in ("a", "b", "c"):
        sf.write(songs_dir / f"{name}.wav", np.zeros(RATE, dtype=np.float32), RATE)
    songs = find_songs(songs_dir)
    for progress in ("lines", True):  # asked for, or stderr no terminal (as under pytest)
        runner = prepare_runner.PrepareRunner(songs_dir, tmp_path / "out", progress=progress)
        monkeypatch.setattr(runner, "_stage", lambda stage, song, done: {"stage": stage})
        results, dropped = runner._songs(songs)
        assert not dropped and all(results[song.id]["describe"] == {"stage": "describe"} for song in songs)
        lines = capsys.readouterr().err.splitlines()
        assert lines == [f"{stage}: song {index}/3" for stage in prepare_runner.STAGES for index in (1, 2, 3)]
    runner = prepare_runner.PrepareRunner(songs_dir, tmp_path / "out", progress=False)
    monkeypatch.setattr(runner, "_stage", lambda stage, song, done: {})
    runner._songs(songs)
    assert capsys.readouterr().err == ""
    # a long stage: about twenty lines, the first and the last song's included
    assert list(prepare_runner._stage_lines(range(45), "separate")) == list(range(45))
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "separate: song 1/45" and lines[-1] == "separate: song 45/45" and len(lines) <= 23


def test_prepare_with_no_progress_prints_lines(tmp_path, monkeypatch):
    from songgen_hf.commands.cli import main
    from songgen_hf.data.prepare import runner as prepare_runner

    sf.write(tmp_path / "song.wav", np.zeros(RATE, dtype=np.float32), RATE)
    asked = []
    monkeypatch.setattr(prepare_runner, "prepare_songs", lambda *args, **kwargs: asked.append(kwargs) or {})
    for flags, progress in (([], True), (["--no-progress"], "lines")):
        assert main(["data", "prepare", str(tmp_path), "--output", str(tmp_path / "out"), *flags]) == 0
        assert asked.pop()["progress"] == progress
