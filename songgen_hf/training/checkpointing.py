"""Checkpoint plumbing shared by the training loops: resume discovery, atomic folder writes,
and a SIGTERM flag so a pre-empted job saves its state before exiting."""

from __future__ import annotations

import os
import re
import shutil
import signal
import tempfile
from contextlib import contextmanager
from pathlib import Path

CHECKPOINT_DIR = "checkpoints"
_CHECKPOINT_RE = re.compile(r"^checkpoint_(\d+)$")


def latest_checkpoint(output_dir: str | Path) -> Path | None:
    """The newest complete ``checkpoints/checkpoint_N`` folder accelerate wrote, if any."""
    root = Path(output_dir) / CHECKPOINT_DIR
    if not root.is_dir():
        return None
    found = [(int(m.group(1)), p) for p in root.iterdir() if (m := _CHECKPOINT_RE.match(p.name)) and p.is_dir()]
    return max(found)[1] if found else None


def next_checkpoint_iteration(output_dir: str | Path) -> int:
    latest = latest_checkpoint(output_dir)
    return 0 if latest is None else int(_CHECKPOINT_RE.match(latest.name).group(1)) + 1


@contextmanager
def atomic_directory(target: str | Path):
    """Yield a temporary folder beside ``target``; on success it replaces ``target``.

    A crash mid-write leaves the previous ``target`` untouched (and a ``.tmp`` folder that
    the next successful write cleans up)."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield staging
        backup = None
        if target.exists():
            backup = target.with_name(f".{target.name}.old")
            if backup.exists():
                shutil.rmtree(backup)
            os.replace(target, backup)
        os.replace(staging, target)
        if backup is not None:
            shutil.rmtree(backup, ignore_errors=True)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


class TerminationFlag:
    """Turns SIGTERM (and SIGINT) into a flag the loop checks between steps."""

    def __init__(self):
        self.requested = False
        self._previous = {}

    def _handle(self, signum, frame):
        self.requested = True

    def __enter__(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                self._previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread: leave signals alone
                pass
        return self

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        return False


class StepCounter:
    """Global step and epoch, saved with accelerate's state so resume knows where it was."""

    def __init__(self):
        self.step = 0
        self.epoch = 0
        self.batches_in_epoch = 0

    def state_dict(self):
        return {"step": self.step, "epoch": self.epoch, "batches_in_epoch": self.batches_in_epoch}

    def load_state_dict(self, state):
        self.step = int(state["step"])
        self.epoch = int(state["epoch"])
        self.batches_in_epoch = int(state["batches_in_epoch"])


__all__ = ["latest_checkpoint", "next_checkpoint_iteration", "atomic_directory", "TerminationFlag", "StepCounter"]
