"""Checkpoint plumbing shared by the training loops: the on-disk layout of ``output_dir``.

A checkpoint is written into ``checkpoints/.checkpoint_N.tmp``, every file flushed to disk, a
manifest (``checkpoint.json``: step counter, run lineage, every file with its size) written last,
and only then renamed to ``checkpoints/checkpoint_N``: a process killed at any moment leaves either
no ``checkpoint_N`` or a complete one.  Resume still checks the manifest, so a folder damaged
afterwards (or written by an older version, which had no manifest) is skipped with a warning
naming it.  Nothing a checkpoint holds is unpickled beyond tensors and plain data
(:func:`load_plain`).  Also here: the refusal to start over an earlier run, ``--overwrite``, the
log truncation on resume and the SIGTERM flag.  (Atomic folder writes: :mod:`songgen_hf.utils.atomic`.)
"""

from __future__ import annotations

import codecs
import json
import logging
import os
import re
import shutil
import signal
from pathlib import Path

import numpy as np
import torch

from songgen_hf.utils.atomic import (
    check_owned,
    check_writable,
    claim_entries,
    fsync_directory,
    fsync_tree,
    is_write_refused,
    read_marker,
    recover_directory,
    remove_owned,
    write_text_atomic,
)
from songgen_hf.utils.safe_files import MAX_STATE_BYTES, FileReadError, loads_json, read_json_object, read_text

logger = logging.getLogger(__name__)

CHECKPOINT_DIR = "checkpoints"
LOG_FILE = "train_log.jsonl"
MANIFEST_FILE = "checkpoint.json"
MANIFEST_FORMAT = 1
RUN_MARKERS = (CHECKPOINT_DIR, LOG_FILE, "final")
"""What shows that ``output_dir`` already holds a run (a fresh start there is refused)."""
RUN_OUTPUTS = (*RUN_MARKERS, "samples")
"""What ``--overwrite`` deletes: everything a run writes into ``output_dir``, each entry only where the folder's
marker proves the run wrote it (:func:`claim_run_outputs`)."""
RUN_KIND = "training run"
MAX_LOG_BYTES = 256 * 2**20  # a record per logged step: millions of steps
MAX_RECORD_DEPTH = 8  # a log record is a flat object of numbers, or lists of them
_CHECKPOINT_RE = re.compile(r"^checkpoint_(\d+)$")
_STAGING_RE = re.compile(r"^\.checkpoint_\d+(\.[a-z-]+)?\.tmp$")

# Globals numpy arrays need (accelerate's RNG file holds numpy's MT19937 state); none runs code.
_PLAIN_GLOBALS = [np.ndarray, np.dtype, codecs.encode, getattr(np, "_core", np.core).multiarray._reconstruct]
if hasattr(np, "dtypes"):
    _PLAIN_GLOBALS.append(np.dtypes.UInt32DType)


# ------------------------------------------------------------------------------- reading
def load_plain(path: str | Path, map_location="cpu"):
    """``torch.load`` restricted to tensors and plain data (``weights_only=True``): a pickle that
    would build any other object, or call anything, raises ``pickle.UnpicklingError`` unrun."""
    with torch.serialization.safe_globals(_PLAIN_GLOBALS):
        return torch.load(path, map_location=map_location, weights_only=True)


def checkpoint_folders(output_dir: str | Path) -> list[tuple[int, Path]]:
    """Every ``checkpoints/checkpoint_N`` folder, complete or not, oldest (lowest N) first."""
    root = Path(output_dir) / CHECKPOINT_DIR
    if not root.is_dir():
        return []
    return sorted((int(m.group(1)), p) for p in root.iterdir() if (m := _CHECKPOINT_RE.match(p.name)) and p.is_dir())


def read_manifest(folder: str | Path) -> dict:
    return read_json_object(Path(folder) / MANIFEST_FILE, "the checkpoint manifest", max_bytes=MAX_STATE_BYTES)


def incomplete_reason(folder: str | Path) -> str | None:
    """Why ``folder`` is not a complete checkpoint, or None when it is: the manifest is there and
    every file it lists has its recorded size, and nothing else is there."""
    folder = Path(folder)
    try:
        manifest = read_manifest(folder)
    except FileNotFoundError:
        return f"no {MANIFEST_FILE} (interrupted write, or written by an older version)"
    except (OSError, ValueError) as error:
        return f"unreadable {MANIFEST_FILE} ({error})"
    if (
        not isinstance(manifest, dict)
        or manifest.get("format") != MANIFEST_FORMAT
        or not isinstance(manifest.get("files"), dict)
    ):
        return f"{MANIFEST_FILE} is not a format-{MANIFEST_FORMAT} manifest"
    for name, size in manifest["files"].items():
        path = folder / name
        if not path.is_file():
            return f"{name} is missing"
        if path.stat().st_size != size:
            return f"{name} has {path.stat().st_size} bytes, the manifest says {size}"
    unexpected = sorted(
        str(p.relative_to(folder))
        for p in folder.rglob("*")
        if p.is_file() and str(p.relative_to(folder)) not in manifest["files"] and p.name != MANIFEST_FILE
    )
    if unexpected:
        return f"files the checkpoint was not written with: {unexpected}"
    return None


def latest_checkpoint(output_dir: str | Path, warn: bool = True) -> Path | None:
    """The newest complete ``checkpoints/checkpoint_N``; newer incomplete ones are skipped, each
    with a warning naming it and why."""
    for _, folder in reversed(checkpoint_folders(output_dir)):
        reason = incomplete_reason(folder)
        if reason is None:
            return folder
        if warn:
            logger.warning("Skipping incomplete checkpoint %s: %s.", folder, reason)
    return None


def next_checkpoint_iteration(output_dir: str | Path) -> int:
    """One past the highest N in use, complete or not: a new checkpoint never takes an old name."""
    found = checkpoint_folders(output_dir)
    return found[-1][0] + 1 if found else 0


# ------------------------------------------------------------------------------- writing
def remove_checkpoint_staging(output_dir: str | Path) -> list[Path]:
    """Remove staging folders of interrupted checkpoint writes (and of interrupted prunes).

    Only the one process that trains in ``output_dir`` writes there (a second run is refused), so
    any staging folder present before a write is a dead writer's."""
    root = Path(output_dir) / CHECKPOINT_DIR
    removed = [p for p in root.iterdir() if _STAGING_RE.match(p.name)] if root.is_dir() else []
    for path in removed:
        logger.info("Removing %s, left by an interrupted checkpoint write.", path)
        shutil.rmtree(path, ignore_errors=True)
    return removed


def staging_folder(output_dir: str | Path, iteration: int) -> Path:
    return Path(output_dir) / CHECKPOINT_DIR / f".checkpoint_{iteration}.tmp"


def publish_checkpoint(staging: Path, state: dict) -> Path:
    """Flush ``staging`` to disk, write its manifest (``state`` + file sizes) last, rename it to
    ``checkpoint_N``: from then on it is complete, and before that it is invisible to resume."""
    files = {str(p.relative_to(staging)): p.stat().st_size for p in sorted(staging.rglob("*")) if p.is_file()}
    manifest = {"format": MANIFEST_FORMAT, **state, "files": files}
    (staging / MANIFEST_FILE).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    fsync_tree(staging)
    target = staging.parent / staging.name[1:].removesuffix(".tmp")
    os.rename(staging, target)
    fsync_directory(staging.parent)
    return target


def prune_checkpoints(output_dir: str | Path, lineage: str, limit: int | None) -> list[Path]:
    """Delete the oldest complete checkpoints of this run's ``lineage`` beyond ``limit``.

    Called after the newest is published.  Checkpoints of other lineages, incomplete ones and
    anything else are never touched.  A checkpoint is renamed away before it is deleted, so an
    interrupted prune leaves no half-deleted ``checkpoint_N``."""
    if not limit:
        return []
    ours = [
        folder
        for _, folder in checkpoint_folders(output_dir)
        if incomplete_reason(folder) is None and read_manifest(folder).get("lineage") == lineage
    ]
    pruned = ours[: max(0, len(ours) - limit)]
    for folder in pruned:
        doomed = folder.with_name(f".{folder.name}.songgen-pruned.tmp")
        os.rename(folder, doomed)
        shutil.rmtree(doomed, ignore_errors=True)
    return pruned


# ------------------------------------------------------------------------------- runs and logs
def previous_run(output_dir: str | Path) -> list[str]:
    """What in ``output_dir`` shows an earlier run (empty list: a fresh start there is safe)."""
    output_dir = Path(output_dir)
    found = []
    root = output_dir / CHECKPOINT_DIR
    if root.is_dir() and any(not p.name.startswith(".") for p in root.iterdir()):
        found.append(f"{CHECKPOINT_DIR}/ ({len(checkpoint_folders(output_dir))} checkpoint folder(s))")
    if (output_dir / LOG_FILE).exists():
        found.append(LOG_FILE)
    if (output_dir / "final").exists():
        found.append("final/")
    return found


def check_run_mode(output_dir: str | Path, resume: bool, overwrite: bool) -> None:
    """Refuse, before any heavy work, to start a fresh run over an earlier one without being told."""
    if resume and overwrite:
        raise ValueError(
            "--resume and --overwrite contradict each other: --resume continues the run in "
            "output_dir, --overwrite deletes it. Pass one."
        )
    recover_directory(Path(output_dir) / "final")  # a save killed between its renames: the complete copy goes back
    check_writable(Path(output_dir) / LOG_FILE, "output_dir")  # read-only or forbidden: said before any training
    if Path(output_dir).is_dir():
        read_marker(output_dir, "output_dir")  # a marker songgen did not write: refused now, not at the first claim
    if overwrite:
        remove_checkpoint_staging(output_dir)
        check_owned(output_dir, RUN_OUTPUTS, "--overwrite")  # before anything is built: a user's file stops it
    if resume or overwrite:
        return
    found = previous_run(output_dir)
    if found:
        raise ValueError(
            f"output_dir {output_dir} already holds a training run ({', '.join(found)}). Add --resume to continue "
            f"it from its newest complete checkpoint, or --overwrite to delete it ({', '.join(RUN_OUTPUTS)}) and "
            "start again at step 0; or choose another output_dir."
        )


def claim_run_outputs(output_dir: str | Path, *names: str, proofs: dict[str, dict] | None = None) -> None:
    """Record in ``output_dir``'s marker that the run wrote ``names`` (the log, a checkpoint folder, a samples
    folder, the final model) as they are now: what a later ``--overwrite`` may delete.  A full or read-only disk
    costs the claim, never the run (the entry is then not deleted by ``--overwrite``: refused, named)."""
    try:
        claim_entries(output_dir, RUN_KIND, names, proofs)
    except OSError as error:
        if not is_write_refused(error):
            raise
        logger.warning("Could not record %s in %s's marker (%s).", ", ".join(names), output_dir, error.strerror)


def discard_previous_run(output_dir: str | Path) -> list[str]:
    """``--overwrite``: delete what an earlier run wrote into ``output_dir``, each entry only where the folder's
    marker proves the run wrote it, exactly as it is now (a user's file among them and nothing is deleted: an
    ``OutputError`` names it); returns what went."""
    output_dir = Path(output_dir)
    remove_checkpoint_staging(output_dir)  # a killed checkpoint write's leftovers: the package's own names
    removed = remove_owned(output_dir, RUN_OUTPUTS, "--overwrite")
    if removed:
        logger.warning("--overwrite: deleted the earlier run's %s in %s.", ", ".join(removed), output_dir)
    return removed


def truncate_log(path: str | Path, step: int) -> int:
    """Keep the log records of steps up to ``step`` (the checkpoint resumed from), atomically, so the
    steps the interrupted run made after its checkpoint, which are about to be redone, appear once.
    A line cut short by the kill is dropped too.  Returns the number of lines removed."""
    path = Path(path)
    if not (path.exists() or path.is_symlink()):  # a FIFO or a link is not "no log": the reader refuses it
        return 0
    kept, dropped = [], 0
    try:
        text = read_text(path, LOG_FILE, max_bytes=MAX_LOG_BYTES, follow_links=False)
    except FileReadError as error:
        raise ValueError(f"--resume: {error} The log is the run's own file; move it out and resume again.") from None
    for line in text.splitlines():
        try:
            record = loads_json(line, LOG_FILE, max_depth=MAX_RECORD_DEPTH)
        except ValueError:
            dropped += 1
            continue
        if isinstance(record, dict) and isinstance(record.get("step"), int) and record["step"] > step:
            dropped += 1
            continue
        kept.append(line)
    if dropped:
        write_text_atomic(path, "".join(f"{line}\n" for line in kept))
        claim_run_outputs(path.parent, LOG_FILE)
        logger.info(
            "Resume at step %d: removed %d later record(s) of the interrupted run from %s.", step, dropped, path
        )
    return dropped


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


def ignore_termination_in_worker(worker_id: int) -> None:
    """``worker_init_fn`` of the training loaders: data workers ignore SIGTERM and SIGINT.

    Schedulers (SLURM's ``scancel``, ``timeout``, Ctrl-C) signal the whole process group.  PyTorch's
    workers die of SIGTERM by default, and the main process then fails with "DataLoader worker
    killed" before :class:`TerminationFlag` can save its checkpoint.  Ignoring the signal leaves
    the workers to the main process, which finishes its step, saves, and shuts them down."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class StepCounter:
    """Global step and epoch; saved as plain JSON in the checkpoint's manifest."""

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


def check_checkpoints_total_limit(value) -> None:
    """A training config's ``checkpoints_total_limit``: a whole number >= 1, or ``None`` to keep every checkpoint."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ValueError(
            "`checkpoints_total_limit` must be a whole number of at least 1 (checkpoints of this run to keep), "
            f"or null to keep all; got {value!r}."
        )


__all__ = [
    "check_checkpoints_total_limit",
    "CHECKPOINT_DIR",
    "LOG_FILE",
    "MANIFEST_FILE",
    "StepCounter",
    "TerminationFlag",
    "check_run_mode",
    "checkpoint_folders",
    "discard_previous_run",
    "incomplete_reason",
    "latest_checkpoint",
    "load_plain",
    "next_checkpoint_iteration",
    "previous_run",
    "prune_checkpoints",
    "publish_checkpoint",
    "read_manifest",
    "remove_checkpoint_staging",
    "staging_folder",
    "truncate_log",
]
