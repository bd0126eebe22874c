"""What the accelerate training loops share: exact resume, checkpoints, JSONL logs, epoch loaders.

A trainer using :class:`CheckpointedTrainer` provides ``accelerator``, ``output_dir``,
``counter`` (a :class:`~.checkpointing.StepCounter` registered for checkpointing), and its
``loader`` with the ``sampler`` and ``dataset`` behind it.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from .checkpointing import latest_checkpoint

logger = logging.getLogger(__name__)

LOG_FILE = "train_log.jsonl"


class CheckpointedTrainer:
    def resume(self, checkpoint: str | Path | None = None) -> None:
        """Restore model, optimisers, schedulers, RNG states and the step counter."""
        checkpoint = Path(checkpoint) if checkpoint else latest_checkpoint(self.output_dir)
        if checkpoint is None:
            raise ValueError(f"--resume: no checkpoint under {self.output_dir / 'checkpoints'}; start without --resume.")
        try:
            self.accelerator.load_state(str(checkpoint))
        except (RuntimeError, KeyError) as error:
            raise ValueError(
                f"Checkpoint {checkpoint} does not match this run's model/config ({error}). "
                "Resume with the config that produced it."
            ) from error
        logger.info("Resumed from %s at step %d", checkpoint, self.counter.step)

    def save_checkpoint(self) -> None:
        self.accelerator.wait_for_everyone()
        self.accelerator.save_state()

    def _log(self, record: dict) -> None:
        if self.accelerator.is_main_process:
            self.output_dir.mkdir(parents=True, exist_ok=True)
            with open(self.output_dir / LOG_FILE, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(record) + "\n")
        logger.info("%s", record)

    def _epoch_loader(self):
        """The loader for the current epoch, past the batches a resumed run already consumed.

        accelerate's loader wrapper re-sets the sampler's epoch from its own counter on every
        iteration, so the epoch is set through the wrapper too (a fresh process would otherwise
        replay epoch 0)."""
        epoch = self.counter.epoch
        self.sampler.set_epoch(epoch)
        self.dataset.set_epoch(epoch)
        loader = self.loader
        if self.counter.batches_in_epoch:
            loader = self.accelerator.skip_first_batches(self.loader, self.counter.batches_in_epoch)
        if hasattr(loader, "set_epoch"):
            loader.set_epoch(epoch)
        return loader


__all__ = ["CheckpointedTrainer", "LOG_FILE"]
