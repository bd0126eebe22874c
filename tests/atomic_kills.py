"""Kill-at-every-step trials of songgen_hf.utils.atomic's folder replace and file write, run in a small interpreter.

songgen_hf/utils/atomic.py needs nothing but the standard library, so this script loads it by path, without the
package (and its torch): forking this small process for each of the few hundred kills costs milliseconds, where
forking a test worker that holds torch costs a large part of a second.  ``python tests/atomic_kills.py TRIAL
FOLDER`` runs one trial in FOLDER, asserts at every kill and prints its counts as JSON; tests/test_atomic_faults.py
runs it and also imports :func:`in_child` for the kills that need the package.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import sys
from pathlib import Path

# every os-level operation a write, a replace or a recovery performs goes through one of these
COUNTED = ("open", "close", "fsync", "replace", "rename", "unlink", "rmdir", "mkdir", "chmod")
OLD = {"model.safetensors": "old weights " * 500, "config.json": '{"v": "old"}'}
NEW = {"model.safetensors": "new weights " * 700, "config.json": '{"v": "new"}', "tokenizer.json": "{}"}
TRIALS = ("folder-replace", "folder-first-write", "file-write")


def in_child(kill_at: int, action) -> tuple[bool, int]:
    """Run ``action(step)`` in a forked child that SIGKILLs itself at its ``kill_at``-th counted step (0: never);
    returns (killed, steps counted)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: count, and die at the chosen step like a power cut or an OOM kill would
        os.close(read_end)
        count = [0]

        def step():
            count[0] += 1
            if count[0] == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)

        real = {name: getattr(os, name) for name in COUNTED}

        def counted(function):
            def call(*args, **kwargs):
                step()
                return function(*args, **kwargs)

            return call

        for name, function in real.items():
            setattr(os, name, counted(function))
        code = 0
        try:
            action(step)
        except BaseException:
            code = 3
        os.write(write_end, str(count[0]).encode())
        os._exit(code)
    os.close(write_end)
    _, status = os.waitpid(pid, 0)
    counted = os.read(read_end, 64)
    os.close(read_end)
    if os.WIFEXITED(status):
        assert os.WEXITSTATUS(status) == 0, "the write failed without being killed"
    return os.WIFSIGNALED(status), int(counted or 0)


def _load_atomic():
    path = Path(__file__).resolve().parents[1] / "songgen_hf" / "utils" / "atomic.py"
    spec = importlib.util.spec_from_file_location("songgen_hf_atomic_alone", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _folder(atomic, path) -> dict | None:
    if not path.is_dir():
        return None
    return {p.name: p.read_text() for p in path.iterdir() if p.name != atomic.MARKER_FILE}


def _write_folder(atomic, target, files):
    def action(step):
        with atomic.atomic_directory(target, mark="test") as staging:
            for name, text in files.items():
                with open(staging / name, "w") as handle:
                    for start in range(0, len(text), 1024):  # a kill between the chunks of a file's data too
                        step()
                        handle.write(text[start : start + 1024])
                        handle.flush()

    return action


def _fill(atomic, target, files):
    """An earlier result of the package (marked), the only kind a marked write may replace."""
    _write_folder(atomic, target, files)(lambda: None)


# the user's own entries beside the output, named as close to the package's staging and parked copies as a user
# might: no kill, recovery or later write may delete, change or promote them
FOREIGN = {".checkpoint.old": "mine", ".checkpoint.new": "mine too", ".checkpoint.1.x.tmp": "mine", "notes": "n"}


def _foreign(root: Path) -> dict:
    return {name: (root / name).read_text() for name in FOREIGN if (root / name).is_file()}


def folder_trial(atomic, root: Path, first_write: bool) -> dict:
    """A folder replace (or first write) killed at each of its steps, each followed by the recovery a later run
    starts with, itself killed at each of its steps, then run; then the next write goes on."""
    target = root / "checkpoint"
    for name, text in FOREIGN.items():
        (root / name).write_text(text)
    if not first_write:
        _fill(atomic, target, OLD)
    killed, steps = in_child(0, _write_folder(atomic, target, NEW))
    assert not killed and _folder(atomic, target) == NEW and steps > 20
    tried = intact_at_once = intact_after = recovery_kills = 0
    for kill_at in range(1, steps + 1):
        shutil.rmtree(target, ignore_errors=True)
        if not first_write:
            _fill(atomic, target, OLD)
        killed, _ = in_child(kill_at, _write_folder(atomic, target, NEW))
        assert killed
        tried += 1
        state = _folder(atomic, target)
        allowed = [NEW] if first_write else [OLD, NEW]
        assert state is None or state in allowed, (kill_at, state)
        intact_at_once += state in allowed or (first_write and state is None and not any(root.iterdir()))
        # the recovery a later run starts with, itself killed at each of its steps (where it has work), then run
        parked = any(path.name != "checkpoint" and path.name not in FOREIGN for path in root.iterdir())
        for recover_kill in range(1, 40 if parked else 1):
            killed, _ = in_child(recover_kill, lambda step: atomic.recover_directory(target))
            if not killed:
                break
            recovery_kills += 1
            after_kill = _folder(atomic, target)
            assert after_kill is None or after_kill in allowed, (kill_at, recover_kill, after_kill)
        atomic.recover_directory(target)
        state = _folder(atomic, target)
        if first_write:
            assert state in (None, NEW), (kill_at, state)
        else:
            assert state in (OLD, NEW), (kill_at, state)  # never neither: the only copy is never deleted
        intact_after += state in allowed or (first_write and state is None)
        # and the next write (a resume's next checkpoint) goes on and leaves nothing else behind
        _write_folder(atomic, target, {"config.json": "newer"})(lambda: None)
        assert _folder(atomic, target) == {"config.json": "newer"}
        assert sorted(p.name for p in root.iterdir()) == sorted(["checkpoint", *FOREIGN]), (kill_at, os.listdir(root))
        assert _foreign(root) == FOREIGN, kill_at
    return {
        "tried": tried,
        "intact_at_once": intact_at_once,
        "intact_after": intact_after,
        "recovery_kills": recovery_kills,
    }


def file_trial(atomic, root: Path) -> dict:
    """A file write over an older file killed at each of its steps; the next write cleans up after it."""
    target = root / "codes.pt"
    old, new = b"old" * 3000, b"new" * 4000

    def action(step):
        with atomic.atomic_file(target) as temporary, open(temporary, "wb") as handle:
            for start in range(0, len(new), 1000):
                step()
                handle.write(new[start : start + 1000])

    target.write_bytes(old)
    killed, steps = in_child(0, action)
    assert not killed and target.read_bytes() == new and steps > 10
    tried = intact = 0
    for kill_at in range(1, steps + 1):
        target.write_bytes(old)
        killed, _ = in_child(kill_at, action)
        assert killed
        tried += 1
        intact += target.read_bytes() in (old, new)  # under its name at once: one rename publishes a file
        assert target.read_bytes() in (old, new), kill_at
        action(lambda: None)  # the next write removes the dead writer's staged file
        assert sorted(os.listdir(root)) == ["codes.pt"], kill_at
    return {"tried": tried, "intact": intact}


def main(trial: str, folder: str) -> dict:
    if trial not in TRIALS:
        raise SystemExit(f"atomic_kills.py: TRIAL is one of {', '.join(TRIALS)}, got {trial!r}")
    atomic, root = _load_atomic(), Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    if trial == "file-write":
        return file_trial(atomic, root)
    return folder_trial(atomic, root, first_write=trial == "folder-first-write")


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:3])))
