"""Atomic writes of whole folders and single files: a reader sees the old version or the complete new one, never a half."""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path


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
        _plain_permissions(staging)
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


@functools.cache
def _process_umask() -> int:
    # The umask can only be read by setting it; do that once, not around every write.
    umask = os.umask(0o022)
    os.umask(umask)
    return umask


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
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=target.suffix, dir=target.parent)
    os.close(handle)
    try:
        yield Path(temporary)
        # mkstemp creates 0600; give the file the permissions a plain open() would have
        os.chmod(temporary, 0o666 & ~_process_umask())
        os.replace(temporary, target)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def write_text_atomic(target: str | Path, text: str) -> Path:
    with atomic_file(target) as temporary:
        temporary.write_text(text, encoding="utf-8")
    return Path(target)


__all__ = ["atomic_directory", "atomic_file", "write_text_atomic"]
