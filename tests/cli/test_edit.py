"""songgen edit / songgen extend: the written file keeps every sample outside the span as the input file holds it,
the song's record and stems travel with it, and bad input is refused in one line before any weights load."""

import json
import os

import numpy as np
import pytest
import soundfile as sf

from songgen_hf.commands.cli import main
from songgen_hf.pipelines.editing import MAX_SONG_FILE_BYTES

RATE = 16000


def _write_song(path, seconds=3.0, seed=0, channels=1, subtype="PCM_16", rate=RATE):
    rng = np.random.default_rng(seed)
    audio = np.clip(rng.standard_normal((int(seconds * rate), channels)) * 0.1, -1, 1).astype(np.float32)
    sf.write(path, audio if channels > 1 else audio[:, 0], rate, subtype=subtype)
    return path


def _edit(model, song, output, *extra, description="a pop song"):
    argv = ["edit", str(song), "--model", str(model), "--output", str(output), "--no-progress"]
    return main([*argv, *(["--description", description] if description else []), *extra])


@pytest.mark.parametrize("subtype, channels", [("PCM_16", 1), ("PCM_24", 2), ("FLOAT", 1)])
def test_edit_writes_the_songs_own_samples_outside_the_span(mixed_pro_dir, tmp_path, capsys, subtype, channels):
    song = _write_song(tmp_path / "song.wav", channels=channels, subtype=subtype)
    before = song.read_bytes(), os.stat(song).st_mtime_ns
    output = tmp_path / "edited.wav"
    assert _edit(mixed_pro_dir, song, output, "--start", "1", "--end", "1.6", "--lyrics", "la la", "--seed", "2") == 0
    assert (song.read_bytes(), os.stat(song).st_mtime_ns) == before  # the song is only read
    dtype = "float32" if subtype == "FLOAT" else "int32"
    original, _ = sf.read(song, dtype=dtype, always_2d=True)
    edited, rate = sf.read(output, dtype=dtype, always_2d=True)
    assert rate == RATE and edited.shape == original.shape and sf.info(output).subtype == subtype
    start, end = RATE, int(1.6 * RATE)
    np.testing.assert_array_equal(edited[:start], original[:start])
    np.testing.assert_array_equal(edited[end:], original[end:])
    assert np.mean(edited[start:end] != original[start:end]) > 0.9
    printed = capsys.readouterr().out
    assert "1.00-1.60 s re-made (candidate" in printed and "every other sample the song's" in printed
    record = json.loads((tmp_path / "edited.wav.songgen.json").read_text())
    assert record["edits"] == [
        {"kind": "edit", "start_s": 1.0, "end_s": 1.6, "description": "a pop song", "lyrics": "la la", "seed": 2}
    ]
    assert not [path for path in tmp_path.iterdir() if path.name.startswith(".")]  # no staging file left
    # the output exists now: replaced only with --overwrite
    assert _edit(mixed_pro_dir, song, output, "--start", "1", "--end", "1.6") == 2
    assert "--overwrite" in capsys.readouterr().err
    assert _edit(mixed_pro_dir, song, output, "--start", "1", "--end", "1.6", "--overwrite") == 0


def test_extend_keeps_the_song_and_adds_to_it(mixed_pro_dir, tmp_path, capsys):
    song = _write_song(tmp_path / "song.wav", seconds=2.0)
    output = tmp_path / "longer.flac"
    argv = ["extend", str(song), "--duration", "1.5", "--model", str(mixed_pro_dir), "--output", str(output)]
    assert main([*argv, "--description", "a pop song", "--no-progress"]) == 0
    original, _ = sf.read(song, dtype="int16")
    extended, _ = sf.read(output, dtype="int16")
    assert extended.shape == (int(3.5 * RATE),)
    np.testing.assert_array_equal(extended[: len(original)], original)
    assert "the song's 2.00 s as they were and 1.50 s more" in capsys.readouterr().out
    record = json.loads((tmp_path / "longer.flac.songgen.json").read_text())
    assert record["duration_s"] == 3.5 and record["edits"][0]["kind"] == "extend"


def test_a_generated_songs_section_is_edited_by_name_with_its_stems(dual_dir, tmp_path, capsys):
    song = tmp_path / "song.wav"
    lyrics = "[verse]\nla la la\n[chorus]\noh oh oh\n[verse]\nna na\n[chorus]\noh oh oh"
    generate = ["generate", "--model", str(dual_dir), "--description", "a pop song", "--lyrics", lyrics]
    assert main([*generate, "--duration", "10", "--output", str(song), "--stems", "--no-progress", "--seed", "1"]) == 0
    record = json.loads((tmp_path / "song.wav.songgen.json").read_text())
    assert [section["section"] for section in record["sections"]] == ["verse", "chorus", "verse", "chorus"]
    verse = record["sections"][2]
    output = tmp_path / "edited.wav"
    # the description and the section's words come from the song's record
    assert _edit(dual_dir, song, output, "--section", "verse 2", "--candidates", "2", description=None) == 0
    start, end = round(verse["start_s"] * RATE), round(verse["end_s"] * RATE)
    for suffix in ("", "_vocals", "_accompaniment"):
        original, _ = sf.read(tmp_path / f"song{suffix}.wav", dtype="int16")
        edited, _ = sf.read(tmp_path / f"edited{suffix}.wav", dtype="int16")
        np.testing.assert_array_equal(edited[:start], original[:start])
        np.testing.assert_array_equal(edited[end:], original[end:])
    edits = json.loads((tmp_path / "edited.wav.songgen.json").read_text())
    assert edits["sections"] == record["sections"]
    assert edits["edits"][0]["section"] == "verse 2" and edits["edits"][0]["lyrics"] == "na na"
    assert "note:" not in capsys.readouterr().out  # the stems were found beside the song
    assert _edit(dual_dir, song, output, "--section", "bridge", "--overwrite") == 2
    assert "no section 'bridge'; its sections are: verse 1 (0-" in capsys.readouterr().err


def _bad_cases(tmp_path):
    song = _write_song(tmp_path / "song.wav", seconds=6.0)
    fifo = tmp_path / "fifo.wav"
    os.mkfifo(fifo)
    (tmp_path / "text.wav").write_text("not audio at all\n")
    _write_song(tmp_path / "song44.wav", rate=44100, seconds=0.5)
    huge = tmp_path / "huge.wav"
    with open(huge, "wb") as stream:  # sparse: no disk used
        stream.truncate(MAX_SONG_FILE_BYTES + 1)
    out = str(tmp_path / "out.wav")
    link = tmp_path / "link.wav"
    link.symlink_to(song)
    _write_song(tmp_path / "song_vocals.wav", seconds=6.0)
    span = ["--start", "1", "--end", "1.6"]
    return [
        ([str(song), *span, "--output", str(song), "--overwrite"], "would write over the song itself"),
        ([str(song), *span, "--output", str(link), "--overwrite"], "would write over the song itself"),
        ([str(song), *span, "--output", str(tmp_path / "song_vocals.wav")], "would write over the song's song_vocals"),
        ([str(song), "--start", "1", "--end", "7", "--output", out], "lies past the song's end (6.00 s)"),
        ([str(song), "--start", "1", "--end", "1.01", "--output", out], "shorter than one codec frame (0.02 s)"),
        ([str(song), "--start", "0.1", "--end", "5.5", "--output", out], "longer than the model's window (4.94 s"),
        ([str(song), "--start", "-1", "--end", "1", "--output", out], "--start must be >= 0"),
        ([str(song), "--end", "1", "--output", out], "Give the span to re-make: --start and --end"),
        ([str(song), "--section", "chorus", "--output", out], "has no record beside it"),
        ([str(tmp_path / "song44.wav"), *span, "--output", out], "is at 44100 Hz, but this model makes songs at 16000"),
        ([str(tmp_path / "text.wav"), *span, "--output", out], "is not audio that can be read"),
        ([str(fifo), *span, "--output", out], "is a FIFO, socket or device, not a regular file"),
        (["/dev/zero", *span, "--output", out], "is a FIFO, socket or device, not a regular file"),
        ([str(huge), *span, "--output", out], "larger than any song"),
        ([str(tmp_path / "missing.wav"), *span, "--output", out], "does not exist"),
        ([str(song), *span, "--output", str(tmp_path / "out.ogg")], "an edit is written as .wav or .flac"),
        ([str(song), *span, "--output", str(tmp_path / "no" / "out.wav")], "does not exist"),
        ([str(song), *span, "--output", out, "--vocals-only", "--lyrics", "la"], "it needs the song's stems"),
        ([str(song), *span, "--output", out, "--candidates", "0"], "--candidates must be >= 1 and <= 16, got 0"),
        ([str(song), *span, "--output", out, "--crossfade", "nan"], "--crossfade must be"),
        ([str(song), *span, "--output", out, "--context", "-2"], "--context must be"),
        ([str(song), *span, "--output", out, "--temperature", "-1"], "--temperature must be"),
        ([str(song), *span, "--output", out, "--seed", "-1"], "--seed"),
    ]


def test_bad_input_exits_2_in_one_line_before_any_weights_load(mixed_pro_dir, tmp_path, capsys, no_weights):
    for args, message in _bad_cases(tmp_path):
        before = sorted(path.name for path in tmp_path.iterdir())
        argv = ["edit", *args, "--model", str(mixed_pro_dir), "--no-progress"]
        if "--section" not in args:
            argv += ["--description", "a pop song"]
        assert main(argv) == 2, args
        error = capsys.readouterr().err
        assert message in error and error.count("\n") == 1, (args, error)
        assert sorted(path.name for path in tmp_path.iterdir()) == before  # nothing written
    song = tmp_path / "song.wav"
    assert _edit(mixed_pro_dir, song, tmp_path / "o.wav", "--start", "1", "--end", "1.6", description=None) == 2
    assert "--description is needed: " in capsys.readouterr().err
    extend = ["extend", str(song), "--model", str(mixed_pro_dir), "--output", str(tmp_path / "o.wav")]
    assert main([*extend, "--duration", "0", "--description", "x"]) == 2
    assert "--duration must be > 0" in capsys.readouterr().err
    assert main([*extend, "--duration", "30", "--description", "x"]) == 2
    assert "--duration 30 s is longer than the model's window less a frame of context" in capsys.readouterr().err


def test_a_section_is_found_by_name_in_the_songs_record():
    from songgen_hf.commands.edit import RecordError, find_section

    record = {
        "sections": [
            {"section": "verse", "label": "Verse 1", "start_s": 0.0, "end_s": 3.0, "lines": ["a"]},
            {"section": "chorus", "label": "chorus", "start_s": 3.0, "end_s": 6.0, "lines": ["b"]},
            {"section": "verse", "label": "Verse 2", "start_s": 6.0, "end_s": 9.0, "lines": ["c"]},
            {"section": "chorus", "label": "chorus", "start_s": 9.0, "end_s": 12.0, "lines": ["b"]},
        ]
    }
    assert find_section(record, "chorus 2")["start_s"] == 9.0
    assert find_section(record, "Chorus")["start_s"] == 3.0
    assert find_section(record, "verse 2")["lines"] == ["c"]
    with pytest.raises(RecordError, match=r"no section 'bridge'.*chorus 2 \(9-12 s\)"):
        find_section(record, "bridge")
    with pytest.raises(RecordError, match="has no record beside it.*--start and --end"):
        find_section(None, "chorus")
    with pytest.raises(RecordError, match="was made in one window"):
        find_section({"sections": []}, "chorus")


def test_a_record_that_is_not_one_is_refused(tmp_path, capsys, mixed_pro_dir, no_weights):
    song = _write_song(tmp_path / "song.wav")
    (tmp_path / "song.wav.songgen.json").write_text('{"sections": "oops"}')
    assert _edit(mixed_pro_dir, song, tmp_path / "o.wav", "--section", "chorus") == 2
    assert "is not a song's record" in capsys.readouterr().err
    (tmp_path / "song.wav.songgen.json").write_text("[" * 10000)
    assert _edit(mixed_pro_dir, song, tmp_path / "o.wav", "--section", "chorus") == 2
    assert "song's record" in capsys.readouterr().err


@pytest.fixture(scope="module")
def release_with_singer(tmp_path_factory):
    """A dual-track tiny release with a told singer beside it (songgen export --singer)."""
    import torch

    from songgen_hf.modeling.songgen import SongGenSinger, SongGenSingerConfig
    from songgen_hf.testing import save_tiny_checkpoint

    root = tmp_path_factory.mktemp("release")
    source = save_tiny_checkpoint(root / "final", "parallel_stream2", use_voice_encoder=False)
    torch.manual_seed(0)
    config = SongGenSingerConfig(hidden_size=64, num_hidden_layers=1, num_attention_heads=1, voices=["en-us+f2"])
    SongGenSinger(config).save_pretrained(root / "singer")
    export = ["export", str(source), "--output", str(root / "release"), "--no-card", "--singer", str(root / "singer")]
    assert main(export) == 0
    return root / "release"


def test_new_words_over_the_same_accompaniment_through_the_command(release_with_singer, tmp_path, capsys):
    song = tmp_path / "song.wav"
    description = "a pop song in C major at 120 bpm with a female voice"
    generate = ["generate", "--model", str(release_with_singer), "--description", description, "--lyrics", "la la"]
    assert main([*generate, "--duration", "8", "--stems", "--output", str(song), "--no-progress"]) == 0
    output = tmp_path / "resung.wav"
    words = ("--lyrics", "we run across the night")
    # the description is the song's record's (120 bpm): the bars the new words are sung in are the song's
    span = ("--start", "3", "--end", "5.5", *words, "--vocals-only")
    assert _edit(release_with_singer, song, output, *span, description=None) == 0
    assert "re-sung over the song's own accompaniment" in capsys.readouterr().out
    start, end = 3 * RATE, int(5.5 * RATE)
    original = {
        name: sf.read(tmp_path / f"song{name}.wav", dtype="int16")[0] for name in ("", "_vocals", "_accompaniment")
    }
    edited = {name: sf.read(tmp_path / f"resung{name}.wav", dtype="int16")[0] for name in original}
    np.testing.assert_array_equal(edited["_accompaniment"], original["_accompaniment"])
    for name in ("", "_vocals"):
        np.testing.assert_array_equal(edited[name][:start], original[name][:start])
        np.testing.assert_array_equal(edited[name][end:], original[name][end:])
    assert np.mean(edited["_vocals"][start:end] != original["_vocals"][start:end]) > 0.5
    record = json.loads((tmp_path / "resung.wav.songgen.json").read_text())
    assert record["description"] == description and record["edits"][0]["vocals_only"] is True
    # a span without a whole bar at the song's 120 bpm cannot sing new words: said before the weights load
    short = ("--start", "3", "--end", "4.5", *words, "--overwrite")
    assert _edit(release_with_singer, song, output, *short, description=None) == 2
    assert "holds no whole bar at 120 BPM" in capsys.readouterr().err
