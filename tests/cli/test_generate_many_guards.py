"""``songgen generate-many`` never loses what a user made and never hangs on what it reads: a resume keeps a song the
user changed (and says so), prompt files are streamed and bounded, and every malformed file or flag is one line
naming the fix, before any weights load."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from songgen_hf.commands import song_folder as generate_many
from songgen_hf.commands.cli import main
from songgen_hf.testing import save_tiny_checkpoint

ROWS = [{"description": "a calm folk song", "lyrics": "walking home", "seed": 1}, {"description": "a drum loop"}]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return save_tiny_checkpoint(tmp_path_factory.mktemp("guards") / "model", "mixed_pro", use_voice_encoder=False)


def _run(prompts, output, model, *extra) -> int:
    argv = ["generate-many", str(prompts), "--output", str(output), "--model", str(model)]
    return main([*argv, "--quiet", *(extra or ("--duration", "0.3"))])


def _jsonl(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def test_a_resume_keeps_a_song_the_user_changed_and_says_so(model, tmp_path, capsys):
    prompts, output = _jsonl(tmp_path / "prompts.jsonl", ROWS), tmp_path / "out"
    assert _run(prompts, output, model) == 0
    edited = output / "000001-seed1.wav"
    edited.write_bytes(edited.read_bytes()[:-64] + b"\1" * 64)  # the user's own edit of a finished song
    (output / "000002-seed0.wav").unlink()  # and one song still to make
    capsys.readouterr()
    mine = edited.read_bytes()
    assert _run(prompts, output, model) == 0
    printed = capsys.readouterr().out
    assert "kept 1 song file(s) that are not what generate-many made there" in printed and edited.name in printed
    assert edited.read_bytes() == mine and (output / "000002-seed0.wav").is_file()  # kept; the missing one made
    assert _run(prompts, output, model, "--duration", "0.3", "--overwrite") == 2  # --overwrite names it, replaces none
    assert edited.name in capsys.readouterr().err and edited.read_bytes() == mine


def test_a_song_file_appears_only_with_the_record_that_proves_it(model, tmp_path):
    prompts, output = _jsonl(tmp_path / "prompts.jsonl", ROWS[:1]), tmp_path / "out"
    assert _run(prompts, output, model) == 0
    record = generate_many.read_record(output, "000001-seed1")
    audio = (output / "000001-seed1.wav").read_bytes()
    import hashlib

    assert record["size"] == len(audio) and record["sha256"] == hashlib.sha256(audio).hexdigest()


BAD_FILES = {
    "nested JSON": ("p.jsonl", '{"description": ' + "[" * 50_000 + "]" * 50_000 + "}\n", "line 1: JSON nested deeper"),
    "a CSV quote never closed": (
        "p.csv",
        'description,lyrics\na song,"la la\nanother song,la\n',
        'row 1: a quote (") opened on line 2 is never closed',
    ),
    "a CSV cell past the field limit": (
        "p.csv",
        "description,lyrics\na song," + "la " * 50_000 + "\n",
        "a cell longer than 131,072 characters",
    ),
    "not UTF-8": ("p.jsonl", b'{"description": "caf\xe9"}\n', "line 1 is not UTF-8 text"),
}


@pytest.mark.parametrize("case", BAD_FILES, ids=list(BAD_FILES))
def test_a_malformed_prompt_file_is_one_line_before_any_weights_load(model, tmp_path, capsys, no_weights, case):
    name, text, expected = BAD_FILES[case]
    prompts = tmp_path / name
    prompts.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    assert _run(prompts, tmp_path / "out", model) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert expected in error[-1] or any(expected in line for line in error), error
    assert "Traceback" not in "\n".join(error) and not (tmp_path / "out").exists()


@pytest.mark.parametrize("variant", ["FIFO", "link to /dev/zero", "6 GB file"])
def test_a_prompt_file_that_is_no_regular_file_is_refused_at_once(model, tmp_path, capsys, no_weights, variant):
    prompts = tmp_path / "prompts.jsonl"
    if variant == "FIFO":
        os.mkfifo(prompts)
    elif variant == "link to /dev/zero":
        prompts.symlink_to("/dev/zero")
    else:
        with open(prompts, "wb") as handle:
            handle.truncate(6 * 2**30)
    assert _run(prompts, tmp_path / "out", model) == 2
    error = capsys.readouterr().err
    assert ("not a regular file" in error) or ("larger than" in error), error


def test_more_rows_than_the_stated_limit_are_refused_with_the_fix(model, tmp_path, capsys, no_weights, monkeypatch):
    monkeypatch.setattr(generate_many, "MAX_PROMPT_ROWS", 3)
    prompts = _jsonl(tmp_path / "prompts.jsonl", [{"description": f"song {n}"} for n in range(5)])
    assert _run(prompts, tmp_path / "out", model) == 2
    assert "more than 3 rows" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["nan", "-5", "0", "inf", "100000"])
def test_duration_is_checked_and_blamed_on_the_flag_whatever_the_rows_carry(model, tmp_path, capsys, value):
    prompts = _jsonl(tmp_path / "prompts.jsonl", [{"description": "a song", "duration": 0.3}])
    assert _run(prompts, tmp_path / "out", model, "--duration", value) == 2
    error = capsys.readouterr().err
    assert "--duration must be" in error and "line 1" not in error


@pytest.mark.parametrize("variant", ["FIFO", "link to /dev/zero"])
@pytest.mark.parametrize("state", ["run settings", "lock"])
def test_the_runs_own_files_replaced_by_a_fifo_or_a_device_are_refused(model, tmp_path, capsys, state, variant):
    prompts, output = _jsonl(tmp_path / "prompts.jsonl", ROWS[:1]), tmp_path / "out"
    assert _run(prompts, output, model) == 0
    path = output / generate_many.RUN_FILE if state == "run settings" else generate_many.lock_path(output)
    path.unlink(missing_ok=True)
    os.mkfifo(path) if variant == "FIFO" else path.symlink_to("/dev/zero")
    assert _run(prompts, output, model) == 2
    error = capsys.readouterr().err
    assert str(path) in error and ("FIFO" in error or "link" in error), error
