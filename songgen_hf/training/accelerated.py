"""What the accelerate training loops share: exact resume, crash-safe checkpoints, JSONL logs, epoch loaders.

A trainer using :class:`CheckpointedTrainer` provides ``accelerator`` (built with
:func:`project_configuration`), ``output_dir``, ``config.checkpoints_total_limit``, ``counter``
(a :class:`~.checkpointing.StepCounter`), ``extra_state`` (objects with ``state_dict`` /
``load_state_dict`` that accelerate does not ``prepare``, e.g. a scheduler stepped by hand), and
its ``loader`` with the ``sampler`` and ``dataset`` behind it.  Its ``train`` calls
:meth:`~CheckpointedTrainer.start` first.  The first three, the loader and the AdamW optimisers come from
the base's builders (``_set_up``, ``_make_loader``, ``_adamw``), so that every trainer resumes alike.

accelerate writes model, optimiser, scheduler and RNG files into a staging folder
(``save_state(output_dir=...)``); everything else (step counter, run lineage, file sizes) goes into
the checkpoint's JSON manifest, and the extra state into ``extra_state_N.pt``.  accelerate's own
checkpoint naming and ``total_limit`` are not used: they write in place and delete checkpoints of
any run.  On resume every pickle-based file is read with ``weights_only=True`` (accelerate's
``register_for_checkpointing`` objects would be unpickled with ``weights_only=False``; none is
registered).
"""

from __future__ import annotations

import json
import logging
import pickle
import random
import shutil
import uuid
from pathlib import Path

import numpy as np
import torch
from accelerate import Accelerator
from accelerate.utils import ProjectConfiguration

from songgen_hf.training.checkpointing import (
    CHECKPOINT_DIR,
    LOG_FILE,
    check_run_mode,
    claim_run_outputs,
    discard_previous_run,
    ignore_termination_in_worker,
    incomplete_reason,
    latest_checkpoint,
    load_plain,
    next_checkpoint_iteration,
    prune_checkpoints,
    publish_checkpoint,
    read_manifest,
    remove_checkpoint_staging,
    staging_folder,
    truncate_log,
)
from songgen_hf.utils.atomic import GrowingFileProof, is_write_refused, rescue_path
from songgen_hf.utils.launch import use_cpu_processes

logger = logging.getLogger(__name__)

EXTRA_STATE_FILE = "extra_state_{}.pt"
RNG_STATE_FILE = "random_states_{}.pkl"  # accelerate's name


def project_configuration(output_dir: str | Path) -> ProjectConfiguration:
    """Checkpoints are named, written and pruned by :class:`CheckpointedTrainer`, not by accelerate."""
    return ProjectConfiguration(project_dir=str(output_dir), automatic_checkpoint_naming=False)


class CheckpointedTrainer:
    extra_state: tuple = ()
    _lineage: str | None = None
    """Identifies one run and the resumes that continue it; the checkpoint limit prunes only its own."""

    _log_proof: GrowingFileProof | None = None  # the log's proof as the run appends to it (made at the first record)

    # ---- what a trainer builds from its config
    def _set_up(self, config, mixed_precision: str, **accelerator_options) -> None:
        """``config``, its ``output_dir`` and the ``accelerator``: checkpoints named by this class
        (:func:`project_configuration`), CPU processes where the launch asks for them."""
        self.config = config
        self.output_dir = Path(config.output_dir)
        self.accelerator = Accelerator(
            cpu=use_cpu_processes(),
            mixed_precision=mixed_precision,
            project_config=project_configuration(self.output_dir),
            **accelerator_options,
        )

    def _make_loader(self, collate_fn=None) -> torch.utils.data.DataLoader:
        """The loader over ``dataset`` in ``sampler``'s order, ``config.batch_size`` items a step.  Its generator
        is private: creating a loader iterator draws a seed from it, and drawing from the global RNG instead
        would shift the run's own draws (k-means and dead-code resets, condition dropout) after a resume."""
        config = self.config
        return torch.utils.data.DataLoader(
            self.dataset,
            batch_size=config.batch_size,
            sampler=self.sampler,
            collate_fn=collate_fn,
            drop_last=len(self.dataset) >= config.batch_size,
            num_workers=config.num_workers,
            worker_init_fn=ignore_termination_in_worker,
            generator=torch.Generator().manual_seed(config.seed),
        )

    def _adamw(self, parameters, learning_rate: float | None = None) -> torch.optim.AdamW:
        """AdamW over ``parameters`` with the config's betas, epsilon and weight decay, at ``learning_rate``
        (default: ``config.learning_rate``)."""
        config = self.config
        return torch.optim.AdamW(
            parameters,
            lr=config.learning_rate if learning_rate is None else learning_rate,
            betas=config.adam_betas,
            eps=config.adam_epsilon,
            weight_decay=config.weight_decay,
        )

    # ---- how a run begins
    @classmethod
    def run(cls, config, resume: bool = False, overwrite: bool = False) -> Path:
        """Build the trainer for ``config``, start (or resume) and train; returns the final folder.  The run
        mode is checked first, so a folder holding an earlier run is refused before anything is built."""
        check_run_mode(config.output_dir, resume, overwrite)
        trainer = cls(config)
        trainer.start(resume=resume, overwrite=overwrite)
        final = trainer.train()
        if trainer.accelerator.is_main_process:
            claim_run_outputs(trainer.output_dir, "final")  # what a later --overwrite may delete
        return final

    def start(self, resume: bool = False, overwrite: bool = False) -> None:
        """Resume, overwrite an earlier run, or start fresh in a folder with no earlier run (else ValueError)."""
        check_run_mode(self.output_dir, resume, overwrite)
        if resume:
            self.resume()
            return
        self._lineage = uuid.uuid4().hex
        self.accelerator.wait_for_everyone()  # every process checked the folder before anyone writes to it
        if overwrite and self.accelerator.is_main_process:
            removed = discard_previous_run(self.output_dir)
            if removed:
                self._log({"step": 0, "event": "--overwrite: deleted the earlier run", "deleted": removed})
        self.accelerator.wait_for_everyone()

    def _ensure_started(self) -> None:
        if self._lineage is None:
            self.start()

    def resume(self, checkpoint: str | Path | None = None) -> None:
        """Restore model, optimisers, schedulers, RNG states and the step counter from the newest
        complete checkpoint (or ``checkpoint``), and cut the log back to its step."""
        if checkpoint is None:
            checkpoint = latest_checkpoint(self.output_dir)
            if checkpoint is None:
                raise ValueError(
                    f"--resume: no checkpoint under {self.output_dir / 'checkpoints'} (none complete); "
                    "start without --resume "
                    "(with --overwrite if output_dir holds an earlier run's files)."
                )
        else:
            checkpoint = Path(checkpoint)
            reason = incomplete_reason(checkpoint)
            if reason is not None:
                raise ValueError(f"Checkpoint {checkpoint} is incomplete ({reason}); resume from another one.")
        manifest = read_manifest(checkpoint)
        try:
            # weights_only for the optimiser, scheduler and dataloader files (accelerate's default too)
            self.accelerator.load_state(str(checkpoint), load_kwargs={"weights_only": True})
            for index, obj in enumerate(self.extra_state):
                obj.load_state_dict(load_plain(checkpoint / EXTRA_STATE_FILE.format(index)))
            self._restore_rng(checkpoint)
        except pickle.UnpicklingError as error:
            from songgen_hf.modeling.weight_bounds import pickle_detail

            raise ValueError(
                f"Refusing checkpoint {checkpoint}: a file in it holds objects other than tensors and plain data, "
                f"which only a crafted or foreign file does; nothing in it was run. ({pickle_detail(error)})"
            ) from error
        except (RuntimeError, KeyError, FileNotFoundError) as error:
            raise ValueError(
                f"Checkpoint {checkpoint} does not match this run's model/config ({error}). "
                "Resume with the config that produced it."
            ) from error
        self.counter.load_state_dict(manifest["counter"])
        self._lineage = manifest["lineage"]
        self.accelerator.wait_for_everyone()
        if self.accelerator.is_main_process:
            truncate_log(self.output_dir / LOG_FILE, self.counter.step)
        self.accelerator.wait_for_everyone()
        logger.info("Resumed from %s at step %d", checkpoint, self.counter.step)

    def _restore_rng(self, checkpoint: Path) -> None:
        """accelerate restores the RNG states but swallows any failure, which would make the resumed
        run quietly diverge; read them again here, strictly."""
        states = load_plain(checkpoint / RNG_STATE_FILE.format(self.accelerator.process_index))
        random.setstate(states["random_state"])
        np.random.set_state(states["numpy_random_seed"])
        torch.set_rng_state(states["torch_manual_seed"])
        if "torch_cuda_manual_seed" in states and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(states["torch_cuda_manual_seed"])

    # ---- checkpoints
    def save_checkpoint(self) -> Path | None:
        """Write ``checkpoints/checkpoint_N`` so that it exists complete or not at all, then prune
        this run's oldest beyond ``checkpoints_total_limit``.  Returns the folder (main process)."""
        self._ensure_started()
        accelerator = self.accelerator
        accelerator.wait_for_everyone()
        if accelerator.is_main_process:
            remove_checkpoint_staging(self.output_dir)
        accelerator.wait_for_everyone()
        staging = staging_folder(self.output_dir, next_checkpoint_iteration(self.output_dir))
        try:
            published = self._write_checkpoint(staging)
        except Exception as error:
            if not is_write_refused(error):
                raise
            published = self._rescue_checkpoint(staging, error)
        else:
            if accelerator.is_main_process:
                claim_run_outputs(self.output_dir, f"{CHECKPOINT_DIR}/{published.name}")
                prune_checkpoints(self.output_dir, self._lineage, self.config.checkpoints_total_limit)
        accelerator.wait_for_everyone()
        return published

    def _write_checkpoint(self, staging: Path) -> Path | None:
        accelerator = self.accelerator
        accelerator.save_state(output_dir=str(staging))
        if accelerator.is_main_process:
            for index, obj in enumerate(self.extra_state):
                torch.save(obj.state_dict(), staging / EXTRA_STATE_FILE.format(index))
        accelerator.wait_for_everyone()
        if accelerator.is_main_process:
            return publish_checkpoint(staging, {"lineage": self._lineage, "counter": self.counter.state_dict()})
        return None

    def _rescue_checkpoint(self, staging: Path, error: Exception) -> Path | None:
        """output_dir refused the checkpoint (full disk, read-only): the newest complete one there stays, and
        this one goes to a temporary folder, so the steps since are not lost."""
        shutil.rmtree(staging, ignore_errors=True)
        kept = latest_checkpoint(self.output_dir, warn=False)
        rescue = rescue_path(staging.name)
        rescue.parent.mkdir(parents=True, exist_ok=True)
        reason = getattr(error, "strerror", None) or str(error).splitlines()[0]
        try:
            published = self._write_checkpoint(rescue)
        except Exception as second:
            if not is_write_refused(second):
                raise
            logger.warning(
                "Could not write the step-%d checkpoint in %s (%s) nor in %s; the newest complete one is %s.",
                self.counter.step,
                self.output_dir,
                reason,
                rescue.parent,
                kept,
            )
            return None
        logger.warning(
            "Could not write the step-%d checkpoint in %s (%s); it was saved to %s instead (move it into "
            "%s to --resume from it). The newest complete checkpoint there is still %s.",
            self.counter.step,
            self.output_dir,
            reason,
            published,
            self.output_dir / "checkpoints",
            kept,
        )
        return published

    def _log(self, record: dict) -> None:
        if self.accelerator.is_main_process:
            try:
                self.output_dir.mkdir(parents=True, exist_ok=True)
                if self._log_proof is None:
                    self._log_proof = GrowingFileProof(self.output_dir / LOG_FILE)
                proof = self._log_proof.append(json.dumps(record) + "\n")
                claim_run_outputs(self.output_dir, LOG_FILE, proofs={LOG_FILE: proof})
            except OSError as error:
                if not is_write_refused(error):
                    raise
                # a full disk must not end the run before its next checkpoint: the record goes to the log stream
                logger.warning("Could not append to %s (%s): %s", self.output_dir / LOG_FILE, error.strerror, record)
                return
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


__all__ = ["CheckpointedTrainer", "LOG_FILE", "EXTRA_STATE_FILE", "project_configuration"]
