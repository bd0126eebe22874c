"""Checkpoint plumbing shared by the training loops: resume discovery and a SIGTERM flag so a
pre-empted job saves its state before exiting.  (Atomic folder writes: :mod:`songgen_hf.atomic`.)"""

from __future__ import annotations

import re
import signal
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


__all__ = ["latest_checkpoint", "next_checkpoint_iteration", "TerminationFlag", "StepCounter"]
