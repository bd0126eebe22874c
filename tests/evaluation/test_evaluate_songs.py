"""`songgen evaluate SONGS_DIR`: a `songgen generate-many` folder scored as it is, each song against what its row
asked for, with the evaluation's own estimators; bad folders refused in one line before any song is scored."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from songgen_hf.commands.cli import main
from songgen_hf.testing import save_tiny_checkpoint

ROWS = [
    {"description": "an upbeat pop song with a female voice", "lyrics": "hold me close\nla la la", "seed": 1},
    {"description": "a calm piano piece, instrumental", "duration": 0.6},
    {"description": "energetic rock with drums", "lyrics": "hey hey", "tempo_bpm": 140, "key": "E minor"},
    {"description": "a slow ballad at 72 bpm in A minor", "lyrics": "the rain is on the window"},
]


@pytest.fixture(scope="module")
def songs(tmp_path_factory) -> Path:
    """A generate-many folder of four short songs (one instrumental) from a tiny model with musical controls."""
    root = tmp_path_factory.mktemp("songs")
    model = save_tiny_checkpoint(
        root / "model",
        "mixed_pro",
        use_voice_encoder=False,
        decoder={"use_tempo_control": True, "use_key_control": True},
    )
    prompts = root / "prompts.jsonl"
    prompts.write_text("".join(json.dumps(row) + "\n" for row in ROWS), encoding="utf-8")
    output = root / "songs"
    argv = ["generate-many", str(prompts), "--output", str(output), "--model", str(model), "--duration", "0.5"]
    assert main([*argv, "--quiet"]) == 0
    return output


def _metadata(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "metadata.jsonl").read_text(encoding="utf-8").splitlines()]


def _copy(songs: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "songs"
    shutil.copytree(songs, copy)
    return copy


def test_evaluate_scores_every_song_of_the_folder_against_what_it_asked(songs, tmp_path, capsys):
    assert main(["evaluate", str(songs), "--output", str(tmp_path / "out"), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    result = json.loads((tmp_path / "out" / "evaluation.json").read_text(encoding="utf-8"))
    metadata = _metadata(songs)
    assert [row["file_name"] for row in result["rows"]] == [entry["file_name"] for entry in metadata]
    assert result["num_songs"] == len(ROWS)

    asked = {row["file_name"]: row["target"] for row in result["rows"]}
    for entry in metadata:
        understood = json.loads(entry["understood"])
        target = asked[entry["file_name"]]
        assert target["tempo_bpm"] == understood["tempo_bpm"] and target["key"] == understood["key"]
        assert target["vocals"] == (not understood["instrumental"] and understood["vocals"] is not False)
    # rows 3 (argument) and 4 (description) ask a tempo and a key; the piano piece is instrumental
    by_row = {entry["row"]: asked[entry["file_name"]] for entry in metadata}
    assert [by_row[row]["tempo_bpm"] for row in (1, 2, 3, 4)] == [None, None, 140.0, 72.0]
    assert [by_row[row]["key"] for row in (1, 2, 3, 4)] == [None, None, "E minor", "A minor"]
    assert [by_row[row]["vocals"] for row in (1, 2, 3, 4)] == [True, False, True, True]

    summary = result["summary"]
    for name, field in (("tempo_acc1", "tempo_bpm"), ("key_mirex", "key"), ("voice_agree", "vocals")):
        scored = [row["systems"]["songs"][name] for row in result["rows"]]
        wanted = [row["target"][field] is not None for row in result["rows"]]
        assert [value is not None for value in scored] == wanted  # not asked: no score, not a miss
        assert summary[name]["n"] == sum(wanted) and summary[name]["not_asked"] == len(ROWS) - sum(wanted)
        assert summary[name]["mean"] == pytest.approx(np.mean([value for value in scored if value is not None]))
        low, high = summary[name]["ci95"]
        assert low <= summary[name]["mean"] <= high
    assert summary["tempo_acc1"]["n"] == 2 and summary["voice_agree"]["n"] == 4
    assert "vocals as asked (silero-vad)" in printed and "not asked" in printed and "wrote " in printed
    # the rows are those songgen compare reads: a folder compares with itself, song by song
    side = str(tmp_path / "out")
    assert main(["compare", "--candidate", side, "--baseline", side, "--system", "songs"]) == 0
    assert "tempo Acc1" in capsys.readouterr().out


def test_the_readings_are_the_metrics_functions_on_the_file(songs, tmp_path):
    from songgen_hf.evaluation.metrics import (
        estimate_key_or_none,
        estimate_tempo_bpm,
        key_scores,
        parse_key,
        tempo_scores,
    )
    from songgen_hf.evaluation.songs import evaluate_songs
    from songgen_hf.evaluation.voice_activity import VoiceDetector
    from songgen_hf.utils.audio_io import load_audio

    result = evaluate_songs(songs, tmp_path / "out")
    row = next(row for row in result["rows"] if row["target"]["key"] == "E minor")
    import soundfile as sf

    path = songs / row["file_name"]
    rate = sf.info(str(path)).samplerate
    audio = load_audio(path, rate)
    tempo = estimate_tempo_bpm(audio, rate)
    key = estimate_key_or_none(audio, rate)
    expected = {
        "tempo_bpm": tempo,
        **tempo_scores(tempo, 140.0),
        "key": None if key is None else key.name,
        **key_scores(key, parse_key("E", "minor")),
        **VoiceDetector().scores(audio, rate, True),
    }
    readings = row["systems"]["songs"]
    for name, value in expected.items():
        assert readings[name] == (pytest.approx(value) if isinstance(value, float) else value), name


def _refused(args, capsys) -> str:
    assert main(["evaluate", *map(str, args)]) == 2
    error = capsys.readouterr().err.strip()
    assert "\n" not in error
    return error


def test_a_folder_without_metadata_is_refused_with_the_fix(tmp_path, capsys):
    (tmp_path / "plain").mkdir()
    error = _refused([tmp_path / "plain", "--output", tmp_path / "out"], capsys)
    assert "has no metadata.jsonl" in error and "generate-many" in error
    assert not (tmp_path / "out").exists()


def test_a_missing_song_is_named_before_any_song_is_scored(songs, tmp_path, capsys, monkeypatch):
    import songgen_hf.evaluation.songs as module

    copy = _copy(songs, tmp_path)
    last = _metadata(copy)[-1]["file_name"]
    (copy / last).unlink()
    monkeypatch.setattr(module, "score_song", lambda *args: pytest.fail("a song was scored before the check"))
    error = _refused([copy, "--output", tmp_path / "out"], capsys)
    assert f"line {len(ROWS)}" in error and last in error and "does not exist" in error and "rerun" in error
    assert not (tmp_path / "out").exists()


def test_an_unreadable_song_is_named(songs, tmp_path, capsys):
    copy = _copy(songs, tmp_path)
    first = _metadata(copy)[0]["file_name"]
    (copy / first).write_bytes(b"not audio at all")
    error = _refused([copy, "--output", tmp_path / "out"], capsys)
    assert "line 1" in error and first in error and "cannot be read as audio" in error


@pytest.mark.parametrize(
    "edit, expected",
    [
        (lambda entry: entry.pop("understood"), "no 'understood'"),
        (lambda entry: entry.update(file_name="../elsewhere.wav"), "leaves the folder"),
        (lambda entry: entry.update(understood="{not json"), "no 'understood'"),
        (lambda entry: entry.update(understood=json.dumps({"tempo_bpm": "fast"})), "tempo_bpm 'fast' is no tempo"),
        (lambda entry: entry.update(understood='{"tempo_bpm": NaN}'), "tempo_bpm nan is no tempo"),
        (lambda entry: entry.update(understood=json.dumps({"tempo_bpm": [120]})), "tempo_bpm [120] is no tempo"),
        (lambda entry: entry.update(understood=json.dumps({"key": ["A", "minor"]})), "key ['A', 'minor'] is no key"),
        (lambda entry: entry.update(understood="[" * 10_000 + "]" * 10_000), "no 'understood'"),
        (lambda entry: entry.update(file_name=7), "no file_name"),
    ],
)
def test_a_row_generate_many_did_not_write_is_refused(songs, tmp_path, capsys, edit, expected):
    copy = _copy(songs, tmp_path)
    entries = _metadata(copy)
    edit(entries[1])
    (copy / "metadata.jsonl").write_text("".join(json.dumps(entry) + "\n" for entry in entries), encoding="utf-8")
    error = _refused([copy, "--output", tmp_path / "out"], capsys)
    assert "metadata.jsonl line 2" in error and expected in error


def test_generating_options_and_an_output_inside_the_folder_are_refused(songs, tmp_path, capsys):
    error = _refused([songs, "--output", tmp_path / "out", "--guidance-scale", "2"], capsys)
    assert "--guidance-scale is for generating from a corpus manifest" in error and "drop --guidance-scale" in error
    error = _refused([songs, "--output", songs / "scores"], capsys)
    assert "inside the songs folder" in error
    assert not (songs / "scores").exists()


def _wav_header(path, rate: int, frames: int) -> None:
    """A 16-bit stereo WAV that declares ``frames`` frames at ``rate`` (the data itself sparse: no disk)."""
    import struct

    data = frames * 4
    header = (
        b"RIFF" + struct.pack("<I", 36 + data) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 2, rate, rate * 4, 4, 16)
    )
    with open(path, "wb") as handle:
        handle.write(header + b"data" + struct.pack("<I", data))
        handle.truncate(44 + data)


@pytest.mark.parametrize(
    "make, expected",
    [
        (lambda path: __import__("soundfile").write(path, np.zeros(3, np.float32), 16000), "3 samples (0 ms) long"),
        (lambda path: __import__("soundfile").write(path, np.zeros(70_000, np.int16), 100), "700 s long"),
        (lambda path: _wav_header(path, 2_000_000, 700_000_000), "350 s long at 2000000 Hz"),
        (lambda path: (path.unlink(), os.mkfifo(path)), "FIFO"),
        (lambda path: (path.unlink(), path.symlink_to("/dev/zero")), "FIFO, socket or device"),
    ],
    ids=["3 samples", "longer than any song", "3 GB at a rate no song has", "a FIFO", "a link to /dev/zero"],
)
def test_a_song_that_cannot_be_scored_is_named_before_any_is_read(songs, tmp_path, capsys, make, expected):
    """Each song is checked from its header (never read whole, never opened if it is no regular file) before the
    first is scored."""
    copy = _copy(songs, tmp_path)
    first = _metadata(copy)[0]["file_name"]
    make(copy / first)
    error = _refused([copy, "--output", tmp_path / "out"], capsys)
    assert "line 1" in error and first in error and expected in error


@pytest.mark.parametrize("variant", ["FIFO", "link to /dev/zero"])
def test_a_metadata_file_that_is_no_regular_file_is_refused(songs, tmp_path, capsys, variant):
    copy = _copy(songs, tmp_path)
    (copy / "metadata.jsonl").unlink()
    os.mkfifo(copy / "metadata.jsonl") if variant == "FIFO" else (copy / "metadata.jsonl").symlink_to("/dev/zero")
    error = _refused([copy, "--output", tmp_path / "out"], capsys)
    assert "metadata.jsonl" in error and "not a regular file" in error
