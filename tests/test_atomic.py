"""Atomic folder and file writes: all-or-nothing, and what lands is readable like a plain write."""

import os
import stat
import subprocess
import sys
import tempfile

import pytest

from songgen_hf.utils.atomic import atomic_directory, write_text_atomic


@pytest.fixture
def umask_022():
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_written_folder_gets_plain_permissions_not_the_staging_ones(tmp_path, umask_022):
    target = tmp_path / "release"
    with atomic_directory(target) as staging:
        handle, private = tempfile.mkstemp(dir=staging)  # 0600, as writers that stage through mkstemp leave it
        os.close(handle)
        (staging / "nested").mkdir(mode=0o700)
        script = staging / "nested" / "run.sh"
        script.write_text("#!/bin/sh\n")
        os.chmod(script, 0o700)
    assert _mode(target) == 0o755 and _mode(target / "nested") == 0o755
    assert _mode(target / os.path.basename(private)) == 0o644
    assert _mode(target / "nested" / "run.sh") == 0o755  # an executable stays executable
    assert _mode(write_text_atomic(tmp_path / "note.txt", "x")) == 0o644


def test_a_failed_folder_write_leaves_the_old_folder(tmp_path):
    target = tmp_path / "release"
    target.mkdir()
    (target / "weights").write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_directory(target) as staging:
            (staging / "weights").write_text("half")
            raise RuntimeError("interrupted")
    assert (target / "weights").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["release"]  # no staging folder left behind


def _dead_pid():
    child = subprocess.Popen([sys.executable, "-c", ""])
    child.wait()
    return child.pid


def test_leftovers_of_killed_writes_are_removed_by_the_next_write_to_the_same_place(tmp_path):
    """A SIGKILL skips every `finally`, so staging from a dead writer stays; the next write removes it.
    A live writer's staging (another process writing beside us) and every name without the package's mark
    (a user's own .final.old or .final.x.tmp) are left alone."""
    dead, live = _dead_pid(), os.getppid()
    leftovers = [f".final.songgen-{dead}-k2j3ab.tmp", f".release.songgen-{dead}-x9yz_1.tmp"]
    kept = [
        f".final.songgen-{live}-busy12.tmp",
        ".finalist.songgen-1-x.tmp",
        "final_notes.txt",
        f".final.{dead}.k2j3.tmp",  # the user's own names, however close to the package's
        ".final.legacy1.tmp",
        ".final.old",
        ".final.new",
        f".final.{dead}.old",
    ]
    for name in leftovers + kept:
        (tmp_path / name).mkdir() if name.endswith((".tmp", ".old", ".new")) else (tmp_path / name).write_text("x")
    (tmp_path / f".log.json.songgen-{dead}-ab12.json").write_text("half")  # an atomic_file temp of log.json
    with atomic_directory(tmp_path / "final") as staging:
        (staging / "weights").write_text("new")
    write_text_atomic(tmp_path / "log.json", "{}")
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted(kept + ["final", "log.json", f".release.songgen-{dead}-x9yz_1.tmp"])  # release: not yet
    with atomic_directory(tmp_path / "release"):
        pass
    assert f".release.songgen-{dead}-x9yz_1.tmp" not in {p.name for p in tmp_path.iterdir()}
    assert f".release.{dead}.x9.tmp" not in {p.name for p in tmp_path.iterdir()}
