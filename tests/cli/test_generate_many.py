"""``songgen generate-many``: a prompt file checked whole before any weights load, its songs made once each (resumed
after a stop, the same in one process or two), written atomically into a folder ``datasets`` reads as audio."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf

from songgen_hf.commands import song_folder as generate_many
from songgen_hf.commands.cli import main
from songgen_hf.testing import save_tiny_checkpoint

SECONDS = 0.5
ROWS = [
    {"description": "an upbeat pop song with a female voice", "lyrics": "[verse]\nhold me close\nla la la", "seed": 3},
    {"description": "a calm piano piece", "duration": 0.6},
    {"description": "energetic rock with drums", "lyrics": "hey hey", "seed": 3, "tempo_bpm": 140, "key": "E minor"},
]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    controls = {"use_tempo_control": True, "use_key_control": True}  # the tempo_bpm and key columns steer it
    folder = tmp_path_factory.mktemp("many") / "model"
    return save_tiny_checkpoint(folder, "mixed_pro", use_voice_encoder=False, decoder=controls)


def _jsonl(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def _run(prompts, output, model, *extra) -> int:
    argv = ["generate-many", str(prompts), "--output", str(output), "--model", str(model)]
    return main([*argv, "--duration", str(SECONDS), "--quiet", *extra])


def _songs(output: Path) -> dict[str, bytes]:
    """The songs a reader sees (pathlib's glob also lists hidden names: a write in progress is staged as one)."""
    return {path.name: path.read_bytes() for path in sorted(output.glob("*.wav")) if not path.name.startswith(".")}


def _metadata(output: Path, drop=("generation_seconds",)) -> list[dict]:
    lines = (output / "metadata.jsonl").read_text(encoding="utf-8").splitlines()
    return [{k: v for k, v in json.loads(line).items() if k not in drop} for line in lines]


# ------------------------------------------------------------------------------------------ checked first
def test_every_bad_row_is_listed_before_any_weights_load(model, tmp_path, capsys, no_weights):
    voice_dir = tmp_path / "voices"
    voice_dir.mkdir()
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(
        "\n".join(
            [
                json.dumps({"description": "fine", "lyrics": "la"}),
                json.dumps({"lyrics": "no description"}),
                json.dumps({"description": "too long", "duration": 5000}),
                "",
                json.dumps({"description": "bad seed", "seed": -1}),
                json.dumps({"description": "typo", "lyric": "la"}),
                json.dumps({"description": "voice", "reference_voice": "voices/missing.wav"}),
                json.dumps({"description": "style", "adapter": "styles/missing"}),
                "{not json",
                json.dumps({"description": "fine too", "seed": 2**64 - 1}),
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    output = tmp_path / "out"
    assert _run(prompts, output, model, "--seeds", "2") == 2
    error = capsys.readouterr().err
    assert "8 bad rows, nothing was generated" in error
    for line in (2, 3, 5, 6, 7, 8, 9, 10):
        assert f"\n  line {line}: " in error, line
    assert "line 1:" not in error and "line 4:" not in error  # a fine row and a blank line
    assert "no description" in error and "the longest song is 600 s" in error and "2**64 - 1" in error
    assert "unknown field(s) ['lyric']" in error and "voices/missing.wav does not exist" in error
    assert "styles/missing is not a folder" in error and "not JSON" in error
    assert not output.exists()  # nothing written, not even the folder


@pytest.mark.parametrize(
    "name, text, expected",
    [
        ("empty.jsonl", "\n\n", "has no prompts"),
        ("rows.csv", "description,lyrics,mood\npop,la,happy\n", "the header: unknown column(s) ['mood']"),
        ("rows.csv", "lyrics\nla\n", "no description column"),
        ("rows.txt", "pop", "unsupported file type '.txt'"),
        ("rows.csv", 'description,duration\npop,0\n"",1\nrock,soon\n', "3 bad rows"),
    ],
)
def test_bad_files_are_refused_in_one_line_with_the_fix(model, tmp_path, capsys, no_weights, name, text, expected):
    prompts = tmp_path / name
    prompts.write_text(text, encoding="utf-8")
    assert _run(prompts, tmp_path / "out", model) == 2
    assert expected in capsys.readouterr().err


def test_a_hub_id_is_read_from_the_datasets_cache_only(model, tmp_path, capsys, no_weights, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert _run("someone/prompts", tmp_path / "out", model) == 2  # offline (the tests' setting), nothing cached
    assert "PROMPTS someone/prompts is no file or folder here, and the datasets cache has no dataset" in (
        capsys.readouterr().err
    )
    import datasets

    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", False)
    assert _run("someone/prompts", tmp_path / "out", model) == 2  # online: not even a look-up
    assert "read from the datasets cache only: run with HF_HUB_OFFLINE=1" in capsys.readouterr().err


def test_a_saved_dataset_without_rows_is_refused(model, tmp_path, capsys, no_weights):
    from datasets import Dataset

    Dataset.from_dict({"description": []}).save_to_disk(tmp_path / "empty")
    assert _run(tmp_path / "empty", tmp_path / "out", model) == 2
    assert "has no rows" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------- the songs
def test_jsonl_csv_and_a_saved_dataset_make_the_same_songs_read_back_as_an_audio_dataset(model, tmp_path):
    import csv

    from datasets import Dataset

    jsonl = _jsonl(tmp_path / "prompts.jsonl", ROWS)
    assert _run(jsonl, tmp_path / "from_jsonl", model, "--seeds", "2") == 0
    songs = _songs(tmp_path / "from_jsonl")
    assert sorted(songs) == [
        f"{row:06d}-seed{seed}.wav" for row, base in ((1, 3), (2, 0), (3, 3)) for seed in (base, base + 1)
    ]
    assert songs["000001-seed3.wav"] != songs["000001-seed4.wav"]  # --seeds: one song per seed
    for name in songs:
        audio, rate = sf.read(tmp_path / "from_jsonl" / name)
        assert rate == 16000 and len(audio) == int((0.6 if name.startswith("000002") else SECONDS) * rate)

    with open(tmp_path / "prompts.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, ["description", "lyrics", "duration", "seed", "tempo_bpm", "key"])
        writer.writeheader()
        writer.writerows(ROWS)
    assert _run(tmp_path / "prompts.csv", tmp_path / "from_csv", model, "--seeds", "2") == 0
    columns = {key: [row.get(key) for row in ROWS] for key in ("description", "lyrics", "duration", "seed")}
    Dataset.from_dict(columns).save_to_disk(tmp_path / "prompts_dataset")
    extra = ("--seeds", "2")
    assert _run(tmp_path / "prompts_dataset", tmp_path / "from_dataset", model, *extra) == 0
    assert _songs(tmp_path / "from_csv") == songs
    dataset_songs = _songs(tmp_path / "from_dataset")  # no tempo/key columns: row 3 reads them from its words
    assert {k: v for k, v in dataset_songs.items() if not k.startswith("000003")} == {
        k: v for k, v in songs.items() if not k.startswith("000003")
    }

    metadata = _metadata(tmp_path / "from_jsonl")
    assert [(m["row"], m["seed"]) for m in metadata] == [(1, 3), (1, 4), (2, 0), (2, 1), (3, 3), (3, 4)]
    assert metadata[4]["tempo_bpm"] == 140 and metadata[4]["key"] == "E minor"
    assert json.loads(metadata[0]["understood"])["sections"][0]["section"] == "verse"
    assert metadata[2]["seconds"] == pytest.approx(0.6) and metadata[0]["duration"] == SECONDS

    loaded = _audiofolder(tmp_path / "from_jsonl")
    assert loaded.num_rows == 6 and loaded["row"] == [1, 1, 2, 2, 3, 3]
    assert [Path(item["path"]).name for item in loaded["audio"]] == sorted(songs)
    assert loaded["description"][0] == ROWS[0]["description"]
    assert not any(name.startswith(".") for name in os.listdir(tmp_path / "from_jsonl") if name.endswith(".wav"))


def _audiofolder(folder: Path):
    """``load_dataset("audiofolder", data_dir=folder)`` as a reader runs it, each song decoded by datasets' own audio
    decoder (torchcodec, a declared dependency) and checked sample for sample against soundfile's reading of the
    file; returned with its audio column as paths."""
    import datasets
    import numpy as np

    loaded = datasets.load_dataset("audiofolder", data_dir=str(folder), split="train")
    paths = loaded.cast_column("audio", datasets.Audio(decode=False))
    assert loaded.num_rows > 0
    for index in range(loaded.num_rows):
        decoded = loaded[index]["audio"].get_all_samples()
        expected, rate = sf.read(paths[index]["audio"]["path"], dtype="float32", always_2d=True)
        assert decoded.sample_rate == rate == 16000
        np.testing.assert_array_equal(decoded.data.numpy(), expected.T)
    return paths


def test_a_rows_song_is_the_same_alone_in_a_run_and_from_songgen_generate(model, tmp_path):
    row = {"description": "a slow folk tune", "lyrics": "walking home", "seed": 5}
    _jsonl(tmp_path / "many.jsonl", [ROWS[1], row, ROWS[0]])
    _jsonl(tmp_path / "alone.jsonl", [row])
    assert _run(tmp_path / "many.jsonl", tmp_path / "many", model) == 0
    assert _run(tmp_path / "alone.jsonl", tmp_path / "alone", model) == 0
    in_run = (tmp_path / "many" / "000002-seed5.wav").read_bytes()
    assert in_run == (tmp_path / "alone" / "000001-seed5.wav").read_bytes()
    single = tmp_path / "single.wav"
    argv = ["generate", "--description", row["description"], "--lyrics", row["lyrics"], "--seed", "5"]
    assert (
        main([*argv, "--duration", str(SECONDS), "--model", str(model), "--output", str(single), "--no-progress"]) == 0
    )
    assert single.read_bytes() == in_run


def test_batches_are_fixed_by_the_file_so_resumes_give_the_same_songs(model, tmp_path, capsys, monkeypatch):
    """--batch-size 2: a stop after the first batch, then the same command, gives the bytes of an uninterrupted run;
    what was finished is not made again, and a deleted song is made again alone."""
    rows = [{"description": f"song {index}", "lyrics": "la la", "seed": 1} for index in range(5)]
    prompts = _jsonl(tmp_path / "prompts.jsonl", rows)
    assert _run(prompts, tmp_path / "whole", model, "--batch-size", "2") == 0
    whole = _songs(tmp_path / "whole")
    assert "batch size 2 (--batch-size)" in capsys.readouterr().out

    calls = []
    original = generate_many.generate_batch

    def stopped_after_one(pipe, batch, *args):
        if calls:
            raise KeyboardInterrupt  # a stop mid-run: no metadata, the lock released
        calls.append([song.name for song in batch])
        return original(pipe, batch, *args)

    monkeypatch.setattr(generate_many, "generate_batch", stopped_after_one)
    output = tmp_path / "stopped"
    with pytest.raises(KeyboardInterrupt):
        _run(prompts, output, model, "--batch-size", "2")
    assert sorted(_songs(output)) == ["000001-seed1.wav", "000002-seed1.wav"]
    assert not (output / "metadata.jsonl").exists() and not generate_many.lock_path(output).exists()
    assert not [p for p in output.iterdir() if p.name.startswith(".000")]  # no half-written song
    before = {p.name: (p.stat().st_mtime_ns, p.stat().st_ino) for p in output.glob("*.wav")}

    made = []
    monkeypatch.setattr(
        generate_many, "generate_batch", lambda pipe, batch, *a: made.append(len(batch)) or original(pipe, batch, *a)
    )
    assert _run(prompts, output, model, "--batch-size", "2") == 0
    assert "resumed: 2 done, 3 to make" in capsys.readouterr().out and made == [2, 1]
    assert _songs(output) == whole
    assert {p.name: (p.stat().st_mtime_ns, p.stat().st_ino) for p in output.glob("*.wav") if p.name in before} == before
    assert _metadata(output) == _metadata(tmp_path / "whole")

    (output / "000004-seed1.wav").unlink()
    made.clear()
    unchanged = (output / "000003-seed1.wav").stat().st_mtime_ns
    assert _run(prompts, output, model, "--batch-size", "2") == 0
    assert made == [2] and _songs(output) == whole  # its batch made again, only the missing song written
    assert (output / "000003-seed1.wav").stat().st_mtime_ns == unchanged

    assert _run(prompts, output, model, "--batch-size", "1") == 2  # other batches, other songs: not mixed in
    assert "batch size 2; this run: 1" in capsys.readouterr().err


def test_a_killed_run_leaves_only_whole_songs_and_the_same_command_finishes_it(model, tmp_path):
    """SIGKILL mid-run (no handler runs): every visible song is whole, the dead run's lock is taken over, and the
    rerun makes only the missing songs, leaving the finished ones' bytes as they were."""
    import signal
    import time

    rows = [{"description": f"song number {index}", "lyrics": "la la la", "seed": index} for index in range(40)]
    prompts = _jsonl(tmp_path / "prompts.jsonl", rows)
    output = tmp_path / "out"
    argv = [str(prompts), "--output", str(output), "--model", str(model), "--duration", str(SECONDS), "--quiet"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    run = subprocess.Popen([sys.executable, "-m", "songgen_hf.cli", "generate-many", *argv], env=env)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and run.poll() is None and len(_songs(output) if output.is_dir() else ()) < 2:
        time.sleep(0.02)
    os.kill(run.pid, signal.SIGKILL)
    run.wait()
    assert generate_many.lock_path(output).exists()  # left by the killed run
    finished = _songs(output)  # a song being written when the kill came stays a hidden staging file
    assert 2 <= len(finished) < 40
    for name in finished:
        audio, rate = sf.read(output / name)  # whole: a song appears complete or not at all
        assert len(audio) == int(SECONDS * rate)
    assert not (output / "metadata.jsonl").exists()

    assert _run(prompts, output, model) == 0
    assert len(_songs(output)) == 40 and not generate_many.lock_path(output).exists()
    assert {name: data for name, data in _songs(output).items() if name in finished} == finished
    assert [m["row"] for m in _metadata(output)] == list(range(1, 41))
    staging = __import__("re").compile(r"\.songgen-\d+-")  # what a write in progress is named
    assert not [path for path in output.rglob("*") if staging.search(path.name)]


@pytest.mark.skipif(__import__("torch").accelerator.is_available(), reason="the CPU-only launch path")
def test_two_launched_processes_make_the_files_one_process_makes(model, tmp_path):
    """`accelerate launch --cpu --num_processes 2` alone starts one process unless mpirun is set up, so the two
    processes are started by torchrun (`--multi_gpu`) and ACCELERATE_USE_CPU makes accelerate use its CPU mode."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    prompts = _jsonl(tmp_path / "prompts.jsonl", [*ROWS, {"description": "ambient pads", "seed": 3}])
    argv = [str(prompts), "--output", str(tmp_path / "two"), "--model", str(model), "--duration", str(SECONDS)]
    command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2"]
    command += ["--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
    command += ["--main_process_ip", "127.0.0.1", "--main_process_port", str(port)]
    command += ["-m", "songgen_hf.cli", "generate-many", *argv, "--seeds", "2", "--batch-size", "2"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "ACCELERATE_USE_CPU": "true"}
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("wrote 8 songs") == 1 and "2 processes" in result.stdout  # the main process reports
    assert _run(prompts, tmp_path / "one", model, "--seeds", "2", "--batch-size", "2") == 0
    assert _songs(tmp_path / "two") == _songs(tmp_path / "one") and len(_songs(tmp_path / "one")) == 8
    assert _metadata(tmp_path / "two") == _metadata(tmp_path / "one")
    assert "songs 8/8" in result.stderr  # the progress line counts both processes' songs


# ------------------------------------------------------------------------------------- the folder
def test_a_second_run_into_a_folder_being_written_is_refused_and_a_dead_runs_lock_is_taken_over(
    model, tmp_path, capsys
):
    prompts = _jsonl(tmp_path / "prompts.jsonl", ROWS[:1])
    output = tmp_path / "out"
    lock = generate_many.lock_path(output)
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        lock.write_text(json.dumps({"pid": holder.pid, "host": __import__("socket").gethostname()}))
        assert _run(prompts, output, model) == 2
        assert f"being written by another songgen generate-many (pid {holder.pid}" in capsys.readouterr().err
        assert lock.exists() and not output.exists()
    finally:
        holder.kill()
        holder.wait()
    assert _run(prompts, output, model) == 0  # the holder is gone: its lock is taken over
    assert not lock.exists() and len(_songs(output)) == 1


def test_overwrite_replaces_only_a_folder_this_command_wrote(model, tmp_path, capsys):
    prompts = _jsonl(tmp_path / "prompts.jsonl", ROWS[:2])
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("my own file")
    assert _run(prompts, mine, model) == 2
    assert "already exists and is not empty" in capsys.readouterr().err
    assert _run(prompts, mine, model, "--overwrite") == 2
    assert "was not written by songgen" in capsys.readouterr().err and (mine / "notes.txt").exists()

    from songgen_hf.utils.atomic import atomic_directory

    with atomic_directory(tmp_path / "exported", mark="export") as staging:  # another command's result
        (staging / "model.safetensors").write_bytes(b"weights")
    assert _run(prompts, tmp_path / "exported", model, "--overwrite") == 2
    assert "another songgen command (export)" in capsys.readouterr().err
    assert (tmp_path / "exported" / "model.safetensors").exists()

    output = tmp_path / "out"
    assert _run(prompts, output, model) == 0
    first = _songs(output)
    other = _jsonl(tmp_path / "other.jsonl", ROWS[1:])
    assert _run(other, output, model) == 2  # other prompts: not resumed into this folder
    assert "holds songs of another prompt file" in capsys.readouterr().err
    assert _run(other, output, model, "--overwrite") == 0
    assert sorted(_songs(output)) == ["000001-seed0.wav", "000002-seed3.wav"] and _songs(output) != first

    # a run killed before its end (its marker as written at its start, its songs proven by their records) may be
    # replaced, but not once a file of the user's sits among them
    marker = json.loads((output / ".songgen-output.json").read_text())
    at_start = {name: entry for name, entry in marker["entries"].items() if not name.endswith((".wav", ".jsonl"))}
    at_start = {name: entry for name, entry in at_start.items() if not name.startswith(".songgen-many/records/")}
    assert sorted(at_start) == [".songgen-many", ".songgen-many/records", ".songgen-many/run.json"]
    (output / ".songgen-output.json").write_text(json.dumps({**marker, "entries": at_start}))
    (output / "metadata.jsonl").unlink()
    assert _run(prompts, output, model, "--overwrite") == 0 and _songs(output) == first
    (output / "extra.wav").write_bytes(b"mine")
    assert _run(other, output, model, "--overwrite") == 2
    assert "extra.wav" in capsys.readouterr().err and (output / "extra.wav").exists()


def test_a_full_disk_keeps_the_finished_songs_and_says_so_in_one_line(model, tmp_path, capsys, monkeypatch):
    import errno

    import songgen_hf.utils.audio_io

    prompts = _jsonl(tmp_path / "prompts.jsonl", ROWS)
    written = []
    original = songgen_hf.utils.audio_io.write_audio

    def fills_up(path, audio, rate, **options):
        if written:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        written.append(path)
        return original(path, audio, rate, **options)

    monkeypatch.setattr(songgen_hf.utils.audio_io, "write_audio", fills_up)
    output = tmp_path / "out"
    assert _run(prompts, output, model) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "No space left on device; free some space" in error[0]
    assert sorted(_songs(output)) == ["000001-seed3.wav"] and not generate_many.lock_path(output).exists()
    monkeypatch.setattr(songgen_hf.utils.audio_io, "write_audio", original)
    assert _run(prompts, output, model) == 0 and len(_songs(output)) == 3  # room again: the run finishes


def test_an_adapter_column_sings_each_row_in_its_style(model, tmp_path):
    import torch

    from songgen_hf import SongGenForConditionalGeneration
    from songgen_hf.training.lora import apply_lora, lora_config_for_songgen, save_adapter

    peft_model = apply_lora(
        SongGenForConditionalGeneration.from_pretrained(model), lora_config_for_songgen(r=4, alpha=8, dropout=0.0)
    )
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, parameter in peft_model.named_parameters():
            if ".lora_B." in name:
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.3)
    save_adapter(peft_model, tmp_path / "styles" / "mine")
    row = {"description": "a calm folk song", "lyrics": "walking home", "seed": 2}
    prompts = _jsonl(tmp_path / "prompts.jsonl", [row, {**row, "adapter": "styles/mine"}])
    assert _run(prompts, tmp_path / "out", model) == 0
    songs = _songs(tmp_path / "out")
    assert songs["000001-seed2.wav"] != songs["000002-seed2.wav"]
    _jsonl(tmp_path / "base.jsonl", [row])
    assert _run(tmp_path / "base.jsonl", tmp_path / "base", model) == 0
    assert _songs(tmp_path / "base")["000001-seed2.wav"] == songs["000001-seed2.wav"]  # the base row: no style
    assert _metadata(tmp_path / "out")[1]["adapter"] == str(tmp_path / "styles" / "mine")


def test_push_to_hub_uploads_the_songs_and_metadata_but_not_the_run_files(model, tmp_path, monkeypatch):
    import huggingface_hub

    calls = []

    class FakeApi:
        def create_repo(self, repo_id, **kwargs):
            calls.append(("create", repo_id, kwargs))

        def upload_folder(self, **kwargs):
            from fnmatch import fnmatch

            folder = Path(kwargs["folder_path"])
            files = sorted(
                path.relative_to(folder).as_posix()
                for path in folder.rglob("*")
                if path.is_file()
                and not any(fnmatch(path.relative_to(folder).as_posix(), p) for p in kwargs["ignore_patterns"])
            )
            calls.append(("upload", kwargs["repo_id"], files))

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    prompts = _jsonl(tmp_path / "prompts.jsonl", ROWS[:1])
    assert _run(prompts, tmp_path / "out", model, "--push-to-hub", "me/songs", "--private") == 0
    assert calls[0] == ("create", "me/songs", {"repo_type": "dataset", "private": True, "exist_ok": True})
    assert calls[1] == ("upload", "me/songs", ["000001-seed3.wav", "metadata.jsonl"])


def test_the_documented_command_makes_the_documented_songs(tmp_path, monkeypatch, capsys):
    """docs/inference.md's prompt file and command, as written, with the embedded default model, run in the page's
    folder (in this process: the console script itself starts in tests/test_readme_main_command.py)."""
    import re
    import shlex

    page = (Path(__file__).resolve().parents[2] / "docs" / "inference.md").read_text(encoding="utf-8")

    def block(name: str, language: str) -> str:
        found = re.search(rf"<!-- {name} -->\s*```{language}\n(.*?)\n```\s*<!-- /{name} -->", page, re.S)
        assert found, f"docs/inference.md has no {name} block"
        return found.group(1)

    (tmp_path / "songs.jsonl").write_text(block("generate-many-prompts", "json") + "\n", encoding="utf-8")
    words = shlex.split(block("generate-many-command", "bash"))
    assert words[:2] == ["songgen", "generate-many"] and "--model" not in words  # the embedded default
    monkeypatch.chdir(tmp_path)
    assert main(words[1:]) == 0, capsys.readouterr().err[-3000:]
    output = tmp_path / words[words.index("--output") + 1]
    rows = [json.loads(line) for line in block("generate-many-prompts", "json").splitlines()]
    seeds = int(words[words.index("--seeds") + 1])
    default = float(words[words.index("--duration") + 1])
    metadata = _metadata(output)
    assert [(m["row"], m["seed"]) for m in metadata] == [
        (number, row.get("seed", 0) + offset) for number, row in enumerate(rows, 1) for offset in range(seeds)
    ]
    for entry in metadata:
        audio, rate = sf.read(output / entry["file_name"])
        assert len(audio) / rate == pytest.approx(rows[entry["row"] - 1].get("duration", default), abs=0.02)
    # the names the page gives are the files written
    named = re.findall(r"`(?:my_songs/)?(\d{6}-seed\d+\.wav)`", page)
    assert named and set(named) <= {entry["file_name"] for entry in metadata}
    # the page's evaluate command scores the folder as it is, every song once
    scoring = shlex.split(block("generate-many-evaluate", "bash"))
    assert scoring[:3] == ["songgen", "evaluate", words[words.index("--output") + 1]]
    assert main(scoring[1:]) == 0, capsys.readouterr().err[-3000:]
    scores = json.loads((tmp_path / scoring[scoring.index("--output") + 1] / "evaluation.json").read_text())
    assert [row["file_name"] for row in scores["rows"]] == [entry["file_name"] for entry in metadata]
    assert scores["summary"]["voice_agree"]["n"] == len(metadata)


def test_the_room_asked_for_is_that_of_the_songs_still_to_make(model, tmp_path, capsys, monkeypatch):
    import shutil

    import songgen_hf.utils.atomic

    prompts = _jsonl(tmp_path / "prompts.jsonl", ROWS)
    output = tmp_path / "out"
    real = shutil.disk_usage

    def free(bytes_free):
        monkeypatch.setattr(
            songgen_hf.utils.atomic.shutil, "disk_usage", lambda path: real(path)._replace(free=bytes_free)
        )

    one_song = int(0.6 * 16000 * 2 * 2)  # the longest row, counted as 16-bit stereo
    free(2 * one_song)
    assert _run(prompts, output, model) == 2  # three songs do not fit: refused before anything is written
    assert "but this output needs about" in capsys.readouterr().err and not output.exists()
    monkeypatch.setattr(songgen_hf.utils.atomic.shutil, "disk_usage", real)
    assert _run(prompts, output, model) == 0
    (output / "000002-seed0.wav").unlink()
    free(2 * one_song)
    assert _run(prompts, output, model) == 0  # one song to make again: it fits
    assert len(_songs(output)) == 3


def test_reference_voices_relative_to_the_prompt_file_batched_with_rows_without_one(mixed_pro_dir, tmp_path):
    (tmp_path / "voices").mkdir()
    sf.write(tmp_path / "voices" / "me.wav", [0.1] * 36000, 24000)
    rows = [
        {"description": "a folk song", "lyrics": "la la", "reference_voice": "voices/me.wav", "voice_start": 0.1},
        {"description": "a folk song", "lyrics": "la la"},
    ]
    prompts = _jsonl(tmp_path / "prompts.jsonl", rows)
    assert _run(prompts, tmp_path / "out", mixed_pro_dir, "--batch-size", "2") == 0
    songs = _songs(tmp_path / "out")
    assert sorted(songs) == ["000001-seed0.wav", "000002-seed0.wav"] and len(set(songs.values())) == 2
    metadata = _metadata(tmp_path / "out")
    assert metadata[0]["reference_voice"] == str(tmp_path / "voices" / "me.wav") and metadata[0]["voice_start"] == 0.1
    assert metadata[1]["reference_voice"] is None


def test_flac_songs_are_the_wav_songs_and_read_back_as_an_audio_dataset(model, tmp_path, capsys):
    prompts = _jsonl(tmp_path / "prompts.jsonl", ROWS[:2])
    assert _run(prompts, tmp_path / "flac", model, "--format", "flac") == 0
    assert _run(prompts, tmp_path / "wav", model) == 0
    flac = sorted((tmp_path / "flac").glob("*.flac"))
    assert [path.stem for path in flac] == [path.stem for path in sorted((tmp_path / "wav").glob("*.wav"))]
    for path in flac:  # the same song: 16-bit both, libsndfile rounds to FLAC's integers its own way (1 step)
        ours = sf.read(path, dtype="int16")[0].astype(int)
        assert abs(ours - sf.read(tmp_path / "wav" / f"{path.stem}.wav", dtype="int16")[0]).max() <= 1
    loaded = _audiofolder(tmp_path / "flac")
    assert [Path(item["path"]).name for item in loaded["audio"]] == [path.name for path in flac]
    assert _run(prompts, tmp_path / "flac", model) == 2  # another format: another run, not mixed in
    assert "holds songs of another prompt file or other options" in capsys.readouterr().err


def test_an_adapter_column_is_weighted_by_its_description_gate(model, tmp_path):
    """A row's adapter that records a description gate applies as the pipeline applies it: a description far from its
    songs is the base's song for the seed, one of its style the adapter's."""
    from songgen_hf.pipelines.description_gate import gate_record, write_description_gate
    from songgen_hf.training.lane import GATE_REFERENCE_DESCRIPTIONS

    from ..pipelines.test_adapters import _adapter
    from ..pipelines.test_description_gate import IN_STYLE, STYLE, UNRELATED

    write_description_gate(
        _adapter(model, tmp_path / "styles" / "mine", seed=1), gate_record(STYLE, GATE_REFERENCE_DESCRIPTIONS)
    )
    rows = {
        name: {"description": song["description"], "lyrics": "walking home", "seed": 2}
        for name, song in (("unrelated", UNRELATED), ("styled", IN_STYLE))
    }
    for name, row in rows.items():
        _jsonl(tmp_path / f"{name}.jsonl", [{**row, "adapter": "styles/mine"}])
        _jsonl(tmp_path / f"{name}_base.jsonl", [row])
        assert _run(tmp_path / f"{name}.jsonl", tmp_path / name, model) == 0
        assert _run(tmp_path / f"{name}_base.jsonl", tmp_path / f"{name}_base", model) == 0
    song = "000001-seed2.wav"
    assert _songs(tmp_path / "unrelated")[song] == _songs(tmp_path / "unrelated_base")[song]  # gate 0: the base
    assert _songs(tmp_path / "styled")[song] != _songs(tmp_path / "styled_base")[song]  # gate 1: the adapter
    # each song's metadata says what the gate chose for it, as `songgen generate` prints it: a song made thousands at a
    # time is traced to what made it
    styles = {name: _metadata(tmp_path / name)[0] for name in rows}
    assert {key: styles["unrelated"][key] for key in ("style", "adapter_weight", "adapter_gate")} == {
        "style": "the base alone (description gate: mine x0)",
        "adapter_weight": 0.0,
        "adapter_gate": 0.0,
    }
    assert styles["styled"]["style"] == "adapter mine (description gate: mine x1)"
    assert styles["styled"]["adapter_weight"] == styles["styled"]["adapter_gate"] == 1.0
    assert _metadata(tmp_path / "styled_base")[0]["style"] == "the base alone"
    assert _metadata(tmp_path / "styled_base")[0]["adapter_weight"] is None
    record = generate_many.read_record(tmp_path / "styled", "000001-seed2")  # the run's own state says it too
    assert record["metadata"]["style"] == styles["styled"]["style"]


def test_each_song_s_metadata_says_its_gate_in_one_schema_datasets_reads(model, tmp_path):
    """A run whose rows gate differently (one adapter at 0, 0.5 and 1 by its description, one row without it) keeps
    one metadata schema, which audiofolder reads; the weight between is the blend `songgen generate` would print."""
    from songgen_hf.pipelines.description_gate import DescriptionGate, gate_record, write_description_gate
    from songgen_hf.training.lane import GATE_REFERENCE_DESCRIPTIONS

    from ..pipelines.test_adapters import _adapter
    from ..pipelines.test_description_gate import IN_STYLE, STYLE, UNRELATED

    folder = _adapter(model, tmp_path / "runs" / "calypso" / "final", seed=1)
    record = gate_record(STYLE, GATE_REFERENCE_DESCRIPTIONS)
    between = "a breezy song with marimba"
    score = DescriptionGate(record).closeness(between)
    record["low"], record["high"] = score - 1.0, score + 1.0  # this description lands at 0.5
    write_description_gate(folder, record)
    gate = DescriptionGate(record)
    assert gate(between) == 0.5 and gate(IN_STYLE["description"]) == 1.0 and gate(UNRELATED["description"]) == 0.0
    adapter = str(folder.relative_to(tmp_path))
    rows = [{"description": song["description"], "adapter": adapter} for song in (UNRELATED, IN_STYLE)]
    rows += [{"description": between, "adapter": adapter}, {"description": between}]
    assert _run(_jsonl(tmp_path / "prompts.jsonl", rows), tmp_path / "out", model) == 0
    expected = [
        ("the base alone (description gate: calypso x0)", 0.0, 0.0),
        ("adapter calypso (description gate: calypso x1)", 1.0, 1.0),
        ("blend calypso x0.5 (description gate: calypso x0.5)", 0.5, 0.5),
        ("the base alone", None, None),
    ]
    metadata = _metadata(tmp_path / "out")
    assert [(m["style"], m["adapter_weight"], m["adapter_gate"]) for m in metadata] == expected
    loaded = _audiofolder(tmp_path / "out")
    assert list(zip(loaded["style"], loaded["adapter_weight"], loaded["adapter_gate"])) == expected
    # a song an earlier version recorded (no style in its record), its run resumed: it says none, in the same schema
    path = tmp_path / "out" / generate_many.RECORDS_DIR / "000002-seed0.json"
    old = json.loads(path.read_text())
    old["metadata"] = {key: value for key, value in old["metadata"].items() if key not in generate_many.STYLE_COLUMNS}
    path.write_text(json.dumps(old))
    assert _run(tmp_path / "prompts.jsonl", tmp_path / "out", model) == 0  # nothing to make: the metadata rewritten
    expected[1] = (None, None, None)
    assert [(m["style"], m["adapter_weight"], m["adapter_gate"]) for m in _metadata(tmp_path / "out")] == expected
    loaded = _audiofolder(tmp_path / "out")
    assert list(zip(loaded["style"], loaded["adapter_weight"], loaded["adapter_gate"])) == expected
