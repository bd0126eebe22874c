"""What a command may replace and where it may write: ``--overwrite`` replaces only a folder the package wrote
(its marker), never a user's; a read-only or full target is refused before the work; and work already done
(a generated song, a checkpoint, the codes) is kept elsewhere when the disk refuses it mid-write."""

import errno
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from songgen_hf.commands import cli
from songgen_hf.utils import atomic
from songgen_hf.utils.atomic import (
    MARKER_FILE,
    OutputError,
    atomic_directory,
    check_replaceable,
    check_writable,
    write_or_rescue,
)


def _user_folder(path: Path) -> Path:
    path.mkdir()
    (path / "thesis.txt").write_text("three years of work")
    return path


def _run(argv, capsys) -> tuple[int, str]:
    code = cli.main(argv)
    return code, capsys.readouterr().err


# ---------------------------------------------------------------------------------------------- --overwrite
def test_overwrite_replaces_an_earlier_result_but_never_a_user_folder(tmp_path):
    earlier = tmp_path / "earlier"
    with atomic_directory(earlier, mark="test") as staging:
        (staging / "data.arrow").write_text("rows")
    check_replaceable(earlier, overwrite=True)  # the package's own earlier result
    with pytest.raises(OutputError, match="--overwrite"):
        check_replaceable(earlier, overwrite=False)
    (earlier / "notes.txt").write_text("mine")  # the user added a file to it since
    with pytest.raises(OutputError, match="notes.txt"):
        check_replaceable(earlier, overwrite=True)
    user = _user_folder(tmp_path / "user")
    with pytest.raises(OutputError, match=f"not written by songgen.*{MARKER_FILE}"):
        check_replaceable(user, overwrite=True)
    empty = tmp_path / "empty"
    empty.mkdir()
    check_replaceable(empty, overwrite=False)  # nothing in it to lose
    check_replaceable(tmp_path / "new", overwrite=False)


def test_data_encode_and_excerpts_overwrite_refuse_a_user_folder(tmp_path, capsys):
    manifest = tmp_path / "manifest.jsonl"
    manifest.write_text('{"audio_path": "a.wav"}\n')
    user = _user_folder(tmp_path / "user")
    for argv, why in (
        (
            ["data", "encode", str(manifest), "--codec", str(tmp_path / "codec"), "--output", str(user), "--overwrite"],
            "not written by songgen",
        ),
        (["data", "excerpts", str(manifest), "--output", str(user), "--overwrite"], "not written by songgen"),
        (["data", "excerpts", str(manifest), "--output", str(user)], "pass --overwrite"),
    ):
        code, err = _run(argv, capsys)
        assert code == 2 and f"--output {user}" in err and why in err and "Traceback" not in err, (argv, err)
        assert (user / "thesis.txt").read_text() == "three years of work"


def test_codec_interpolate_without_overwrite_refuses_an_existing_folder(tmp_path, capsys):
    user = _user_folder(tmp_path / "user")
    base, tuned = tmp_path / "base", tmp_path / "tuned"
    base.mkdir(), tuned.mkdir()
    code, err = _run(["codec", "interpolate", str(base), str(tuned), "--weight", "0.5", "--output", str(user)], capsys)
    assert code == 2 and "--overwrite" in err, err
    code, err = _run(
        ["codec", "interpolate", str(base), str(tuned), "--weight", "0.5", "--output", str(user), "--overwrite"], capsys
    )
    assert code == 2 and "not written by songgen" in err, err
    assert sorted(p.name for p in user.iterdir()) == ["thesis.txt"]


# ---------------------------------------------------------------------------------------------- before the work
def test_a_read_only_or_full_target_is_refused_before_the_work(tmp_path, monkeypatch):
    check_writable(tmp_path / "new" / "deeper" / "out.wav", "--output", needed_bytes=1)  # a place that can take it

    def read_only(folder):
        raise OSError(errno.EROFS, "Read-only file system")

    with monkeypatch.context() as patch:
        patch.setattr(atomic, "_probe_write", read_only)  # chmod does not stop root; a probe that fails does
        with pytest.raises(OutputError, match="--output .*Read-only file system.*writable place"):
            check_writable(tmp_path / "out.wav", "--output")
    free = shutil.disk_usage(tmp_path).free
    with pytest.raises(OutputError, match=r"MB free, but this output needs about"):
        check_writable(tmp_path / "out.wav", "--output", needed_bytes=free + 2**30)


def test_codec_encode_on_a_read_only_target_fails_before_the_codec_loads(tmp_path, monkeypatch, capsys):
    from songgen_hf.testing import tiny_xcodec_config

    audio = tmp_path / "a.wav"
    sf.write(audio, np.zeros(16000, dtype=np.float32), 16000)
    codec = tmp_path / "codec"
    tiny_xcodec_config(teacher="mel").save_pretrained(codec)  # the config is all that is read before the probe
    loads = []
    monkeypatch.setattr("songgen_hf.conversion.checkpoint_files.load_codec_folder", lambda *a: loads.append(a))

    def read_only(folder):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(atomic, "_probe_write", read_only)
    code, err = _run(["codec", "encode", str(audio), "--model", str(codec), "--output", str(tmp_path / "c.pt")], capsys)
    assert code == 2 and "Read-only file system" in err and "Traceback" not in err, err
    assert loads == [] and not (tmp_path / "c.pt").exists()


# ---------------------------------------------------------------------------------------------- work kept
def _full_disk_under(root: Path, real):
    def write(path, *args, **kwargs):
        if Path(path).resolve().is_relative_to(root.resolve()):
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(path, *args, **kwargs)

    return write


def test_a_generated_song_and_its_stems_survive_a_full_disk(tmp_path, monkeypatch, capsys):
    from songgen_hf.commands import generate as cli_generate

    rate = 16000
    song = {
        name: np.full(rate, value, dtype=np.float32)
        for name, value in (("audio", 0.1), ("vocals", 0.2), ("accompaniment", 0.3))
    }
    calls = []

    def pipe(request, seed=None, streamer=None, **options):
        calls.append(request)
        return {**song, "sampling_rate": rate}

    full = tmp_path / "full"
    full.mkdir()
    monkeypatch.setattr(sf, "write", _full_disk_under(full, sf.write))  # the disk fills as the song is written
    with pytest.raises(OutputError, match="No space left on device.*saved to") as refused:
        cli_generate._run_and_write(pipe, {"description": "x"}, None, {}, full / "song.wav", stems=True)
    assert len(calls) == 1 and not list(full.iterdir())
    rescued = Path(str(refused.value).split("saved to ")[1].split(" instead")[0])
    assert rescued.name == "song.wav" and rescued.parent != full
    for name, path in {"audio": rescued, **cli_generate.stem_paths(rescued)}.items():
        kept, kept_rate = sf.read(path, dtype="float32")
        assert kept_rate == rate and np.allclose(kept, song[name], atol=1e-4), name
    shutil.rmtree(rescued.parent)


def test_a_disk_that_refuses_even_the_rescue_says_so(tmp_path, monkeypatch):
    def never(path):
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OutputError, match="nor a copy"):
        write_or_rescue(tmp_path / "codes.pt", never, "codes")
    with pytest.raises(ZeroDivisionError):  # a bug is not a full disk: never rescued, never hidden
        write_or_rescue(tmp_path / "codes.pt", lambda path: 1 / 0, "codes")


def test_a_training_checkpoint_on_a_full_disk_is_kept_elsewhere_and_resumes(tmp_path, monkeypatch, caplog):
    from songgen_hf.training.checkpointing import incomplete_reason, latest_checkpoint
    from tests.training.test_checkpoints import TinyTrainer

    run = tmp_path / "run"
    trainer = TinyTrainer(run)
    trainer.run(2, save_every=2)
    kept = latest_checkpoint(run)
    trainer.run(3, save_every=100)  # steps 3-5, then the end checkpoint hits a full disk
    real = trainer.accelerator.save_state
    full = _full_disk_under(run, lambda path: real(output_dir=path))
    monkeypatch.setattr(trainer.accelerator, "save_state", lambda output_dir: full(output_dir))
    rescued = trainer.save_checkpoint()
    assert latest_checkpoint(run) == kept and incomplete_reason(kept) is None  # the last good one stays
    assert rescued is not None and not rescued.is_relative_to(run) and incomplete_reason(rescued) is None
    assert str(rescued) in caplog.text and "checkpoints" in caplog.text
    monkeypatch.undo()
    shutil.move(rescued, run / "checkpoints" / rescued.name)  # as the message says
    resumed = TinyTrainer(run)
    resumed.start(resume=True)
    assert resumed.counter.step == 5
    shutil.rmtree(rescued.parent, ignore_errors=True)


def test_a_full_disk_found_mid_write_is_one_line_not_a_traceback(capsys):
    import argparse

    from songgen_hf.commands.cli import run_command

    def handler(args):
        raise OSError(errno.ENOSPC, "No space left on device", "/data/out.pt")

    code = run_command(argparse.ArgumentParser(prog="songgen"), handler, [])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "/data/out.pt: No space left on device" in err, err

    def bug(args):
        raise OSError(errno.EBADF, "Bad file descriptor")

    with pytest.raises(OSError):  # not a place refusing a write: still a real error
        run_command(argparse.ArgumentParser(prog="songgen"), bug, [])


def test_a_marked_folder_says_what_wrote_it(tmp_path):
    with atomic_directory(tmp_path / "out", mark="data encode") as staging:
        (staging / "a").write_text("x")
    marker = json.loads((tmp_path / "out" / MARKER_FILE).read_text())
    assert marker["written_by"] == "songgen" and marker["kind"] == "data encode" and len(marker["write_id"]) == 32
    assert marker["entries"] == {"a": {"type": "file", "size": 1, "sha256": hashlib.sha256(b"x").hexdigest()}}
    with atomic_directory(tmp_path / "plain") as staging:
        (staging / "a").write_text("x")
    assert not (tmp_path / "plain" / MARKER_FILE).exists()  # model folders stay as save_pretrained makes them


def test_info_puts_back_a_parked_copy_as_the_loaders_do_and_never_a_users_own(tmp_path, capsys):
    """A save killed between its renames leaves the complete folder parked under the package's mark: `songgen
    info` finds it as every loader does.  A user's own `.NAME.new` is never promoted."""
    from songgen_hf.commands.cli import main
    from songgen_hf.testing import save_tiny_checkpoint

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    folder = save_tiny_checkpoint(tmp_path / "model", use_voice_encoder=False)
    parked = folder.with_name(f".model.songgen-{int(dead.stdout)}-0123456789ab.new")
    os.replace(folder, parked)
    assert main(["info", str(folder)]) == 0
    assert folder.is_dir() and not parked.exists() and "model_type: songgen" in capsys.readouterr().out

    mine = tmp_path / ".other.new"
    os.replace(folder, mine)  # the user's own copy beside a missing "other": not the package's to promote
    assert main(["info", str(tmp_path / "other")]) == 2
    assert mine.is_dir() and not (tmp_path / "other").exists()
    capsys.readouterr()
