"""Atomic writes of whole folders and single files: a reader sees the old version or the complete new one, never a half."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path


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


def remove_stale_staging(target: str | Path, suffix: str = ".tmp") -> list[Path]:
    """Remove what interrupted writes of ``target`` left beside it: staging folders/files of writers
    that no longer run (a SIGKILL or power cut skips every ``finally``), and the ``.old`` backup.
    Names without a writer pid come from older versions of this module and are always stale."""
    target = Path(target)
    if not target.parent.is_dir():
        return []
    pattern = re.compile(rf"^\.{re.escape(target.name)}\.(?:(\d+)\.)?[^/]*{re.escape(suffix)}$")
    removed = []
    for path in target.parent.iterdir():
        match = pattern.match(path.name)
        if path.name == f".{target.name}.old" or (match and not (match.group(1) and _writer_alive(int(match.group(1))))):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            removed.append(path)
    return removed


@contextmanager
def atomic_directory(target: str | Path):
    """Yield a temporary folder beside ``target``; on success it replaces ``target``.

    A crash mid-write leaves the previous ``target`` untouched (and a ``.tmp`` folder that
    the next write to ``target`` removes)."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_staging(target)
    staging = Path(tempfile.mkdtemp(prefix=_staging_prefix(target), suffix=".tmp", dir=target.parent))
    try:
        yield staging
        _plain_permissions(staging)
        fsync_tree(staging)  # the data is on disk before the name says the folder is complete
        backup = None
        if target.exists():
            backup = target.with_name(f".{target.name}.old")
            if backup.exists():
                shutil.rmtree(backup)
            os.replace(target, backup)
        os.replace(staging, target)
        fsync_directory(target.parent)
        if backup is not None:
            shutil.rmtree(backup, ignore_errors=True)
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


__all__ = [
    "atomic_directory",
    "atomic_file",
    "fsync_directory",
    "fsync_tree",
    "remove_stale_staging",
    "umask_file_mode",
    "write_text_atomic",
]
