"""What the kill-and-resume tests of the trainers share: a SIGTERM in the middle of a chosen step, and the
per-step losses a run logged, to compare a resumed run with a straight one."""

import json
import os
import signal
from pathlib import Path

from songgen_hf.training.checkpointing import LOG_FILE


def sigterm_during_step(monkeypatch, trainer_class, step: int) -> None:
    """Make ``trainer_class`` receive a SIGTERM while it runs optimiser step ``step`` (counted from 1), as a
    preempted job would; the trainer is expected to checkpoint and exit 143."""
    original_step = trainer_class._train_step

    def killed_during_step(self, micro_batches):
        if self.counter.step == step - 1:  # the steps done so far
            os.kill(os.getpid(), signal.SIGTERM)
        return original_step(self, micro_batches)

    monkeypatch.setattr(trainer_class, "_train_step", killed_during_step)


def logged_losses(output_dir) -> dict:
    """``{step: loss}`` of a run's training log."""
    records = [json.loads(line) for line in (Path(output_dir) / LOG_FILE).read_text().splitlines()]
    return {r["step"]: r["loss"] for r in records if "loss" in r}
