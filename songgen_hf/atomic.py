"""Atomic writes of whole folders and single files: a reader sees the old version or the complete new one, never a
half; and the checks every writing command makes first (a place it may write to, a folder it may replace)."""

from __future__ import annotations

import errno
import json
import logging
import os
import re
import shutil
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

logger = logging.getLogger(__name__)

# A replace moves its parked copies within microseconds; one whose pid runs but that has sat for this
# long belongs to a killed writer whose pid was reused.
_PARKED_WRITER_SECONDS = 60.0


class OutputError(ValueError):
    """An output cannot be written where asked (not writable, too little space, not ours to replace)."""


def _staging_prefix(target: Path) -> str:
    # The writer's pid is part of the name, so a later write can tell a dead writer's leftovers
    # from a live writer's staging (two processes writing beside each other).
    return f".{target.name}.{os.getpid()}."


def _writer_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


_SIDE_RE = r"^\.{name}\.(?:(\d+)\.)?(new|old)$"


def _side_copies(target: Path) -> list[tuple[Path, str]]:
    """The complete copies a replace of ``target`` parks beside it, ``.NAME.PID.new`` (the new result,
    complete) and ``.NAME.PID.old`` (the previous one), of writers that no longer run, newest first."""
    pattern = re.compile(_SIDE_RE.format(name=re.escape(target.name)))
    found = []
    for path in target.parent.iterdir():
        match = pattern.match(path.name)
        if not match:
            continue
        changed = path.lstat().st_ctime  # a rename sets it: when the copy was parked
        if match.group(1) and _writer_alive(int(match.group(1))) and time.time() - changed < _PARKED_WRITER_SECONDS:
            continue  # a live writer between its renames
        found.append((path, match.group(2), changed))
    return [(path, kind) for path, kind, _ in sorted(found, key=lambda item: item[2], reverse=True)]


def _discard(path: Path, target: Path) -> None:
    """Delete ``path``, first renaming it to a staging name of ``target``: a kill halfway through the
    delete then leaves a name the next write removes, never a half folder under a name that means complete."""
    doomed = target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        os.replace(path, doomed)
    except FileNotFoundError:
        return
    if doomed.is_dir() and not doomed.is_symlink():
        shutil.rmtree(doomed, ignore_errors=True)
    else:
        doomed.unlink(missing_ok=True)


def recover_directory(target: str | Path) -> Path | None:
    """Finish or undo a replace of the folder ``target`` that a kill interrupted; returns what was put back.

    A replace parks the complete new result as ``.NAME.PID.new``, moves the previous ``NAME`` to
    ``.NAME.PID.old``, renames the new one to ``NAME`` and deletes ``.old``.  Killed between the renames,
    ``NAME`` is missing: the new result is promoted (or, without one, the previous restored).  With
    ``NAME`` present, the parked copies are stale and deleted.  Every write, resume and load of ``NAME``
    runs this first, so no interruption can lose the only copy; it is itself safe to interrupt."""
    target = Path(target)
    if not target.parent.is_dir():
        return None
    copies = _side_copies(target)
    restored = None
    if not (target.exists() or target.is_symlink()):
        candidates = [path for path, kind in copies if kind == "new"]
        candidates = candidates or [path for path, kind in copies if kind == "old"]
        if candidates:
            restored = candidates[0]
            os.replace(restored, target)
            fsync_directory(target.parent)
            logger.warning(
                "%s was missing after an interrupted write; put back the complete %s copy.",
                target,
                "new" if restored.name.endswith(".new") else "previous",
            )
    for path, _ in copies:
        if path != restored:
            _discard(path, target)
    return restored


def remove_stale_staging(target: str | Path, suffix: str = ".tmp") -> list[Path]:
    """Remove what interrupted writes of ``target`` left beside it: staging folders/files of writers
    that no longer run (a SIGKILL or power cut skips every ``finally``).  Names without a writer pid
    come from older versions of this module and are always stale.  A parked complete copy is never
    removed here: :func:`recover_directory` puts it back or discards it."""
    target = Path(target)
    if not target.parent.is_dir():
        return []
    pattern = re.compile(rf"^\.{re.escape(target.name)}\.(?:(\d+)\.)?[^/]*{re.escape(suffix)}$")
    side = re.compile(_SIDE_RE.format(name=re.escape(target.name)))
    removed = []
    for path in target.parent.iterdir():
        match = pattern.match(path.name)
        if match and not side.match(path.name) and not (match.group(1) and _writer_alive(int(match.group(1)))):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            removed.append(path)
    return removed


MARKER_FILE = ".songgen-output.json"
"""Left in every folder written with ``mark=True``: it names what the package wrote there, so
``--overwrite`` can tell an earlier result from a folder of the user's own."""


def _write_marker(staging: Path, kind: str) -> None:
    names = sorted(p.name for p in staging.iterdir() if p.name != MARKER_FILE)
    (staging / MARKER_FILE).write_text(
        json.dumps({"written_by": "songgen", "kind": kind, "entries": names}, indent=1) + "\n", encoding="utf-8"
    )


def check_replaceable(target: str | Path, overwrite: bool, flag: str = "--output") -> None:
    """Refuse, before any work, to replace a folder that is not an earlier result of this package.

    A missing or empty folder is fine; an existing one needs ``overwrite`` and the marker the package
    leaves (:data:`MARKER_FILE`), and may hold nothing the package did not write."""
    target = Path(target)
    recover_directory(target)
    if not target.exists():
        return
    if not target.is_dir():
        raise OutputError(f"{flag} {target} is a file; give the name of a folder to create.")
    entries = sorted(p.name for p in target.iterdir())
    if not entries:
        return
    if not overwrite:
        raise OutputError(
            f"{flag} {target} already exists and is not empty; pass --overwrite to replace an earlier "
            "result written there, or choose a new folder."
        )
    try:
        marker = json.loads((target / MARKER_FILE).read_text(encoding="utf-8"))
        written = set(marker["entries"]) | {MARKER_FILE}
    except (OSError, ValueError, KeyError, TypeError):
        raise OutputError(
            f"{flag} {target} was not written by songgen (it has no {MARKER_FILE}), so --overwrite will not replace "
            f"it: it may hold your own files ({', '.join(entries[:3])}{', ...' if len(entries) > 3 else ''}). "
            "Choose a new folder, or empty this one yourself."
        ) from None
    foreign = [name for name in entries if name not in written]
    if foreign:
        raise OutputError(
            f"{flag} {target} holds files songgen did not write there ({', '.join(foreign[:3])}"
            f"{', ...' if len(foreign) > 3 else ''}); --overwrite replaces only an earlier result. Move them out, "
            "or choose a new folder."
        )


@contextmanager
def atomic_directory(target: str | Path, mark: str | None = None):
    """Yield a temporary folder beside ``target``; on success it replaces ``target``.

    A crash mid-write leaves the previous ``target`` untouched (and a staging folder that the next
    write to ``target`` removes); a crash during the replace leaves a parked complete copy that the
    next write, resume or load puts back (:func:`recover_directory`).  ``mark`` (a kind of output)
    leaves :data:`MARKER_FILE` in the folder, which lets a later ``--overwrite`` replace it."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    recover_directory(target)
    remove_stale_staging(target)
    staging = Path(tempfile.mkdtemp(prefix=_staging_prefix(target), suffix=".tmp", dir=target.parent))
    ready = target.with_name(f".{target.name}.{os.getpid()}.new")
    backup = target.with_name(f".{target.name}.{os.getpid()}.old")
    try:
        yield staging
        if mark is not None:
            _write_marker(staging, mark)
        _plain_permissions(staging)
        fsync_tree(staging)  # the data is on disk before any name says the folder is complete
        os.replace(staging, ready)
        fsync_directory(target.parent)
        if target.exists() or target.is_symlink():
            os.replace(target, backup)
        os.replace(ready, target)
        fsync_directory(target.parent)
        if backup.exists():
            _discard(backup, target)
    except BaseException:
        # a failure inside this process (a full disk on a rename, an interrupt): the previous result stays
        if backup.exists() and not (target.exists() or target.is_symlink()):
            os.replace(backup, target)
        if ready.exists():
            _discard(ready, target)
        raise
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def fsync_directory(folder: str | Path) -> None:
    """Make the entries of ``folder`` (names created or renamed in it) durable."""
    handle = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def fsync_tree(folder: str | Path) -> None:
    """Flush every file under ``folder``, then the folders themselves, to disk: a rename published
    after this cannot, after a power cut, point at files whose data never reached the disk."""
    folder = Path(folder)
    for path in sorted(folder.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if path.is_file() and not path.is_symlink():
            handle = os.open(path, os.O_RDONLY)
            try:
                os.fsync(handle)
            finally:
                os.close(handle)
        elif path.is_dir() and not path.is_symlink():
            fsync_directory(path)
    fsync_directory(folder)


def _process_umask() -> int:
    """The process umask, read fresh each time (a caller may change it between writes).

    Linux reports it in ``/proc/self/status``; elsewhere it can only be read by setting it, which
    briefly changes it for every thread, so that is the fallback only.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            return next(int(line.split()[1], 8) for line in status if line.startswith("Umask:"))
    except (OSError, StopIteration, ValueError, IndexError):
        umask = os.umask(0o022)
        os.umask(umask)
        return umask


def umask_file_mode(mode: int = 0o666) -> int:
    """``mode`` with the process umask applied: what ``open()`` gives a new file (0644 under umask 022)."""
    return mode & ~_process_umask()


def _plain_permissions(folder: Path) -> None:
    """Give ``folder`` and what it holds the permissions a plain ``mkdir``/``open`` would have: mkdtemp
    makes the folder 0700, and writers that stage through mkstemp leave 0600 files, so a release folder
    would be unreadable to everyone but its writer."""
    umask = _process_umask()
    os.chmod(folder, 0o777 & ~umask)
    for path in folder.rglob("*"):
        if path.is_symlink():
            continue
        if path.is_dir():
            os.chmod(path, 0o777 & ~umask)
        else:
            executable = path.stat().st_mode & 0o111
            os.chmod(path, (0o777 if executable else 0o666) & ~umask)


@contextmanager
def atomic_file(target: str | Path):
    """Yield a temporary path beside ``target`` (same suffix, so writers that pick a format from
    it still work); on success it is renamed onto ``target``, on failure removed."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_staging(target, suffix=target.suffix)
    handle, temporary = tempfile.mkstemp(prefix=_staging_prefix(target), suffix=target.suffix, dir=target.parent)
    os.close(handle)
    try:
        yield Path(temporary)
        # mkstemp creates 0600; give the file the permissions a plain open() would have
        os.chmod(temporary, umask_file_mode())
        handle = os.open(temporary, os.O_RDONLY)
        try:
            os.fsync(handle)
        finally:
            os.close(handle)
        os.replace(temporary, target)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def write_text_atomic(target: str | Path, text: str) -> Path:
    with atomic_file(target) as temporary:
        temporary.write_text(text, encoding="utf-8")
    return Path(target)


WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EFBIG}
"""``OSError`` numbers that say "this place cannot take the output" rather than "the program is wrong"."""


def is_write_refused(error: BaseException) -> bool:
    """Whether ``error`` (or what caused it) is a full disk, a quota, a read-only or forbidden place."""
    while error is not None:
        if isinstance(error, OSError) and error.errno in WRITE_ERRNOS:
            return True
        text = str(error)
        if "No space left" in text or "Read-only file system" in text or "Permission denied" in text:
            return True  # libsndfile and torch.save report these as their own error types
        error = error.__cause__ or error.__context__
    return False


def _existing_ancestor(path: Path) -> Path:
    path = Path(os.path.abspath(path))
    while not path.exists() and path != path.parent:
        path = path.parent
    return path if path.is_dir() else path.parent


def _probe_write(folder: Path) -> None:
    """Create and delete a file in ``folder``: the only test of writability that holds for root, for
    read-only mounts and for ACLs alike."""
    handle, name = tempfile.mkstemp(prefix=".songgen-probe-", dir=folder)
    os.close(handle)
    os.unlink(name)


def check_writable(target: str | Path, flag: str, needed_bytes: int = 0) -> None:
    """Refuse, before the work, an output ``target`` (file or folder) in a place that cannot take it:
    not writable (read-only, no permission) or with less free space than ``needed_bytes`` (an estimate)."""
    folder = _existing_ancestor(Path(target).parent)
    try:
        _probe_write(folder)
    except OSError as error:
        raise OutputError(
            f"{flag} {target}: cannot write in {folder} ({error.strerror or error}); choose a writable place."
        ) from None
    if needed_bytes:
        free = shutil.disk_usage(folder).free
        if free < needed_bytes:
            raise OutputError(
                f"{flag} {target}: {folder} has {free / 2**20:.1f} MB free, but this output needs about "
                f"{needed_bytes / 2**20:.1f} MB; free some space or choose another place."
            )


def rescue_path(target: str | Path) -> Path:
    """A fresh place under the system's temporary folder to keep an output its own place refused."""
    return Path(tempfile.mkdtemp(prefix="songgen-rescued-")) / Path(target).name


def write_or_rescue(target: str | Path, write, what: str, flag: str = "--output") -> Path:
    """``write(path)`` to ``target``; if the place refuses it (full disk, read-only), write it to a
    :func:`rescue_path` instead and raise :class:`OutputError` saying where it is, so work already done
    is never lost.  ``write`` must itself be atomic (an ``atomic_file``/``atomic_directory`` writer)."""
    try:
        write(Path(target))
        return Path(target)
    except Exception as error:
        if not is_write_refused(error):
            raise
        reason = getattr(error, "strerror", None) or str(error).splitlines()[0]
    rescued = rescue_path(target)
    try:
        write(rescued)
    except Exception as second:
        if not is_write_refused(second):
            raise
        raise OutputError(
            f"{flag} {target}: could not write the {what} ({reason}), nor a copy in {rescued.parent} "
            f"({second}); free some space and run again."
        ) from None
    raise OutputError(
        f"{flag} {target}: could not write the {what} ({reason}); it was saved to {rescued} instead. "
        "Move it where you want it once there is room."
    )


__all__ = [
    "MARKER_FILE",
    "OutputError",
    "atomic_directory",
    "atomic_file",
    "check_replaceable",
    "check_writable",
    "is_write_refused",
    "recover_directory",
    "rescue_path",
    "write_or_rescue",
    "fsync_directory",
    "fsync_tree",
    "remove_stale_staging",
    "umask_file_mode",
    "write_text_atomic",
]
