"""Atomic writes of whole folders and single files: a reader sees the old version or the complete new one, never a
half; and the checks every writing command makes first (a place it may write to, a folder it may replace)."""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import re
import shutil
import stat
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

from songgen_hf.utils.safe_files import MAX_MARKER_BYTES, FileReadError, loads_json, read_bytes

logger = logging.getLogger(__name__)

# A replace moves its parked copies within microseconds; one whose pid runs but that has sat for this
# long belongs to a killed writer whose pid was reused.
_PARKED_WRITER_SECONDS = 60.0


class OutputError(ValueError):
    """An output cannot be written where asked (not writable, too little space, not ours to replace)."""


# Every name the package leaves beside an output carries this mark: ``.NAME.songgen-PID-TOKEN.KIND`` (KIND:
# ``tmp`` staging, ``new``/``old`` parked complete copies).  The writer's pid tells a dead writer's leftovers from
# a live writer's; the random token and the infix make the name one a user does not make, so a user's own
# ``.NAME.old`` or ``.NAME.x.tmp`` beside an output is never deleted or promoted.
_MARK = "songgen"


def _token() -> str:
    return uuid.uuid4().hex[:12]


def _side_name(target: Path, kind: str) -> Path:
    return target.with_name(f".{target.name}.{_MARK}-{os.getpid()}-{_token()}.{kind}")


def _staging_prefix(target: Path) -> str:
    return f".{target.name}.{_MARK}-{os.getpid()}-"


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


_SIDE_RE = r"^\.{name}\.{mark}-(\d+)-[0-9a-f]{{12}}\.(new|old)$"


def _side_copies(target: Path) -> list[tuple[Path, str]]:
    """The complete copies a replace of ``target`` parks beside it (``.NAME.songgen-PID-TOKEN.new``, the new
    result, and ``...old``, the previous one) of writers that no longer run, newest first.  Only names with the
    package's mark count: anything else beside ``target`` is the user's."""
    pattern = re.compile(_SIDE_RE.format(name=re.escape(target.name), mark=_MARK))
    found = []
    for path in target.parent.iterdir():
        match = pattern.match(path.name)
        if not match:
            continue
        changed = path.lstat().st_ctime  # a rename sets it: when the copy was parked
        if _writer_alive(int(match.group(1))) and time.time() - changed < _PARKED_WRITER_SECONDS:
            continue  # a live writer between its renames
        found.append((path, match.group(2), changed))
    return [(path, kind) for path, kind, _ in sorted(found, key=lambda item: item[2], reverse=True)]


def _discard(path: Path, target: Path) -> None:
    """Delete ``path``, first renaming it to a staging name of ``target``: a kill halfway through the
    delete then leaves a name the next write removes, never a half folder under a name that means complete."""
    doomed = _side_name(target, "tmp")
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
    that no longer run (a SIGKILL or power cut skips every ``finally``).  Only names with the package's mark
    (``.NAME.songgen-PID-...SUFFIX``) are staging; a parked complete copy is never removed here:
    :func:`recover_directory` puts it back or discards it."""
    target = Path(target)
    if not target.parent.is_dir():
        return []
    pattern = re.compile(rf"^\.{re.escape(target.name)}\.{_MARK}-(\d+)-[A-Za-z0-9_]+{re.escape(suffix)}$")
    return _remove_dead(target.parent, pattern, re.compile(_SIDE_RE.format(name=re.escape(target.name), mark=_MARK)))


def _remove_dead(folder: Path, pattern: re.Pattern, side: re.Pattern) -> list[Path]:
    """Remove the entries of ``folder`` whose names ``pattern`` matches (its first group: the writer's pid) and
    ``side`` (a parked complete copy) does not, where the writer no longer runs."""
    removed = []
    for path in folder.iterdir():
        match = pattern.match(path.name)
        if match and not side.match(path.name) and not _writer_alive(int(match.group(1))):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def remove_dead_writers_staging(folder: str | Path) -> list[Path]:
    """Remove, across ``folder``, the staging files and folders of writers that no longer run, whatever output
    they were for (a folder of many outputs, resumed after a kill); only names with the package's mark count, and
    a parked complete copy (``.new``/``.old``) is left to :func:`recover_directory`."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    pattern = re.compile(rf"^\..+\.{_MARK}-(\d+)-[A-Za-z0-9_]+(\.[A-Za-z0-9]+)?$")
    return _remove_dead(folder, pattern, re.compile(rf"^\..+\.{_MARK}-\d+-[0-9a-f]{{12}}\.(new|old)$"))


def file_sha256(path: str | Path, block_size: int = 1 << 22) -> str:
    """The hex SHA-256 of a file's bytes, read in blocks (a checkpoint never has to fit in memory)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(block_size), b""):
            digest.update(block)
    return digest.hexdigest()


def file_proof(path: str | Path) -> dict:
    """What proves a file is the one the package wrote: its size and SHA-256 (a marker's, a record's entry)."""
    path = Path(path)
    return {"size": path.stat().st_size, "sha256": file_sha256(path)}


class GrowingFileProof:
    """The proof of a line file the package only appends to (a training log), kept as it grows: each append hashes
    the new bytes alone, so a long run's log is never re-read to be claimed.

    The file is opened for appending without following a link and without blocking, and refused unless it is a
    regular file (a FIFO in its place would otherwise hang the run).  When the file's size is not the one this
    object last left (a resume truncated it; the first append to an older log), the digest restarts from the file's
    bytes once; a change behind the run's back at the same size makes the proof stop matching, so a later
    ``--overwrite`` refuses the file: a wrong guess fails closed."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._digest = hashlib.sha256()
        self._size = -1

    def append(self, text: str) -> dict:
        """Append ``text`` and return the file's proof (``size``, ``sha256``) as it now is."""
        data = text.encode("utf-8")
        flags = os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
        try:
            handle = os.open(self.path, flags, 0o644)
        except OSError:
            if os.path.islink(self.path):
                raise OutputError(
                    f"{self.path} is a link; songgen appends only to its own regular file. Remove the link, or "
                    "choose another output folder."
                ) from None
            raise
        try:
            kind = os.fstat(handle).st_mode
            if not stat.S_ISREG(kind):
                raise OutputError(
                    f"{self.path} is not a regular file (a FIFO, socket, device or folder); remove it, or choose "
                    "another output folder."
                )
            size = os.fstat(handle).st_size
            if size != self._size:
                self._digest = hashlib.sha256()
                for offset in range(0, size, 1 << 22):
                    self._digest.update(os.pread(handle, min(1 << 22, size - offset), offset))
                self._size = size
            view = memoryview(data)
            while view:
                view = view[os.write(handle, view) :]
        finally:
            os.close(handle)
        self._digest.update(data)
        self._size += len(data)
        return {"size": self._size, "sha256": self._digest.hexdigest()}


def matches_proof(path: str | Path, proof: object) -> bool:
    """Whether ``path`` is a regular file (never a link) of the size and SHA-256 ``proof`` lists; the digest is
    computed only when the size already agrees."""
    path = Path(path)
    if not isinstance(proof, dict) or path.is_symlink() or not path.is_file():
        return False
    return proof.get("size") == path.stat().st_size and proof.get("sha256") == file_sha256(path)


MARKER_FILE = ".songgen-output.json"
"""Left in every folder written with ``mark=...``: what the package wrote there, each file with its size and
SHA-256, so ``--overwrite`` replaces a folder only when everything in it is provably an earlier result."""

MARKER_FORMAT = 2


def _inventory(folder: Path, prefix: str = "") -> dict[str, dict]:
    """Every entry under ``folder`` by its relative path (links are not followed; the marker is left out)."""
    entries: dict[str, dict] = {}
    with os.scandir(folder) as listing:
        for entry in sorted(listing, key=lambda item: item.name):
            name = prefix + entry.name
            if name == MARKER_FILE:
                continue
            if entry.is_symlink():
                entries[name] = {"type": "link", "target": os.readlink(entry.path)}
            elif entry.is_dir(follow_symlinks=False):
                entries[name] = {"type": "dir"}
                entries.update(_inventory(Path(entry.path), name + "/"))
            elif entry.is_file(follow_symlinks=False):
                entries[name] = {"type": "file", **file_proof(entry.path)}
            else:  # a FIFO, a socket, a device: never something the package writes
                entries[name] = {"type": "other"}
    return entries


def _marker_text(entries: dict[str, dict], kind: str) -> str:
    marker = {"written_by": "songgen", "format": MARKER_FORMAT, "kind": kind, "write_id": uuid.uuid4().hex}
    return json.dumps({**marker, "entries": entries}, indent=0) + "\n"


def _write_marker(staging: Path, kind: str) -> None:
    (staging / MARKER_FILE).write_text(_marker_text(_inventory(staging), kind), encoding="utf-8")


def write_marker(folder: str | Path, kind: str, entries: dict[str, dict] | None = None) -> None:
    """Leave :data:`MARKER_FILE` in a folder filled in place (a command that writes its files one by one rather
    than through :func:`atomic_directory`), atomically: ``entries`` (default: everything in ``folder`` now, with
    sizes and digests) are what a later ``--overwrite`` may replace."""
    folder = Path(folder)
    write_text_atomic(folder / MARKER_FILE, _marker_text(_inventory(folder) if entries is None else entries, kind))


def folder_entries(folder: str | Path) -> dict[str, dict]:
    """Every entry under ``folder`` (the marker left out) as a marker lists it: kind, and a file's size and
    SHA-256."""
    return _inventory(Path(folder))


def unproven_entries(folder: str | Path, marker: dict) -> list[str]:
    """The entries of ``folder`` that ``marker`` (:func:`read_marker`) does not vouch for: not listed, or another
    kind, size or digest than it lists."""
    return _unproven_entries(Path(folder), marker)


def read_marker(folder: str | Path, flag: str = "--output") -> dict | None:
    """The marker of ``folder`` (``None`` without one), read as a regular file of bounded size, never through
    a link, a FIFO or a device; a marker that is not one the package writes is an :class:`OutputError`."""
    path = Path(folder) / MARKER_FILE
    foreign = (
        f"{flag} {folder} has a {MARKER_FILE} that songgen did not write ({{why}}), so --overwrite will not replace "
        "this folder; choose a new folder, or empty this one yourself."
    )
    try:
        raw = read_bytes(path, MARKER_FILE, max_bytes=MAX_MARKER_BYTES, follow_links=False)
    except FileNotFoundError:
        return None
    except FileReadError as error:
        raise OutputError(foreign.format(why=str(error).rstrip("."))) from None
    try:
        marker = loads_json(raw.decode("utf-8"), MARKER_FILE)
    except ValueError:
        raise OutputError(foreign.format(why="it is not JSON")) from None
    entries = marker.get("entries") if isinstance(marker, dict) else None
    if (
        not isinstance(entries, dict)
        or marker.get("written_by") != "songgen"
        or marker.get("format") != MARKER_FORMAT
        or not isinstance(marker.get("write_id"), str)
        or not all(isinstance(value, dict) for value in entries.values())
    ):
        raise OutputError(
            foreign.format(why="not a marker of this version: it does not list the sizes and digests of what it wrote")
        )
    return marker


def _unproven_entries(target: Path, marker: dict, only: set[str] | None = None) -> list[str]:
    """The entries of ``target`` that the marker cannot vouch for: not listed, another kind, another size or
    other bytes than the package wrote.  Entries the marker lists but the folder lacks are no concern.
    ``only``: the top-level names to look at (default: all)."""
    written = marker["entries"]
    unproven = []

    def walk(folder: Path, prefix: str) -> None:
        with os.scandir(folder) as listing:
            for entry in sorted(listing, key=lambda item: item.name):
                name = prefix + entry.name
                if name == MARKER_FILE or (only is not None and not prefix and name not in only):
                    continue
                claim = written.get(name)
                if entry.is_symlink():
                    proven = claim == {"type": "link", "target": os.readlink(entry.path)}
                elif entry.is_dir(follow_symlinks=False):
                    proven = claim == {"type": "dir"}
                    if proven:
                        walk(Path(entry.path), name + "/")
                elif entry.is_file(follow_symlinks=False):
                    proven = claim is not None and claim.get("type") == "file" and matches_proof(entry.path, claim)
                else:
                    proven = False
                if not proven:
                    unproven.append(name)

    walk(target, "")
    return unproven


def check_replaceable(target: str | Path, overwrite: bool, flag: str = "--output") -> None:
    """Refuse, before any work, to replace a folder that is not provably an earlier result of this package.

    A missing or empty folder is fine; an existing one needs ``overwrite`` and the marker the package leaves
    (:data:`MARKER_FILE`), and everything in it, subfolders included, must be what that write left there (same
    name, size and digest): a file the user added or changed is named and nothing is replaced."""
    target = Path(target)
    recover_directory(target)
    if not (target.exists() or target.is_symlink()):
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
    marker = read_marker(target, flag)
    if marker is None:
        raise OutputError(
            f"{flag} {target} was not written by songgen (it has no {MARKER_FILE}), so --overwrite will not replace "
            f"it: it may hold your own files ({', '.join(entries[:3])}{', ...' if len(entries) > 3 else ''}). "
            "Choose a new folder, or empty this one yourself."
        )
    unproven = _unproven_entries(target, marker)
    if unproven:
        raise OutputError(
            f"{flag} {target} holds files songgen did not write there, or changed since ({unproven[0]}"
            f"{f' and {len(unproven) - 1} more' if len(unproven) > 1 else ''}); --overwrite replaces only an "
            "earlier result exactly as it was written. Move them out, or choose a new folder."
        )


def claim_entries(
    folder: str | Path, kind: str, names: list[str] | tuple[str, ...], proofs: dict[str, dict] | None = None
) -> None:
    """Add what is now at ``names`` (paths relative to ``folder``: a file, or a folder and everything in it) to the
    folder's marker as this package's, replacing what the marker said of them; the marker is kept otherwise.

    A command that fills a folder entry by entry over a long time (a training run's checkpoints, samples, final
    model and log) claims each entry as it writes it, so a later ``--overwrite`` (:func:`remove_owned`) can prove,
    entry by entry, what it may delete.  The main process alone claims: one writer per folder.  ``proofs`` gives
    the proof a writer already holds for a file (a :class:`GrowingFileProof`'s), so that file is not read again."""
    folder = Path(folder)
    marker = read_marker(folder)
    entries = dict(marker["entries"]) if marker is not None else {}
    for name in names:
        name = name.strip("/")
        for listed in [key for key in entries if key == name or key.startswith(name + "/")]:
            del entries[listed]
        parts = name.split("/")
        for depth in range(1, len(parts)):  # the folders leading to it are the package's too
            entries.setdefault("/".join(parts[:depth]), {"type": "dir"})
        path = folder / name
        if path.is_symlink():
            entries[name] = {"type": "link", "target": os.readlink(path)}
        elif path.is_dir():
            entries[name] = {"type": "dir"}
            entries.update(_inventory(path, name + "/"))
        elif path.is_file():
            entries[name] = {"type": "file", **((proofs or {}).get(name) or file_proof(path))}
    write_text_atomic(folder / MARKER_FILE, _marker_text(entries, kind))


def check_owned(folder: str | Path, names: list[str] | tuple[str, ...], flag: str = "--overwrite") -> dict | None:
    """Refuse (an :class:`OutputError` naming the first foreign entry) unless every entry ``names`` of ``folder``
    that exists, and everything inside it, is what the folder's marker vouches this package wrote
    (:func:`claim_entries`); returns the marker (``None`` when none of ``names`` exists)."""
    folder = Path(folder)
    present = [name for name in names if (folder / name).exists() or (folder / name).is_symlink()]
    if not present:
        return None
    marker = read_marker(folder, flag)
    if marker is None:
        raise OutputError(
            f"{flag}: {folder} has {', '.join(present)} but no {MARKER_FILE} saying songgen wrote them, so they are "
            "not deleted (they may be your own files). Move them out, or choose another folder."
        )
    unproven = _unproven_entries(folder, marker, only=set(present))
    if unproven:
        raise OutputError(
            f"{flag}: {folder} holds files songgen did not write there, or changed since ({unproven[0]}"
            f"{f' and {len(unproven) - 1} more' if len(unproven) > 1 else ''}), so nothing was deleted; "
            f"{flag} deletes only what an earlier run wrote, exactly as it was written. Move them out, or choose "
            "another folder."
        )
    return marker


def remove_owned(folder: str | Path, names: list[str] | tuple[str, ...], flag: str = "--overwrite") -> list[str]:
    """Delete the entries ``names`` of ``folder`` (those present) once :func:`check_owned` proves every one of
    them the package's; returns what went.  Everything is proven before anything is deleted: one entry of the
    user's (a file added, changed, or never the package's) and nothing goes."""
    folder = Path(folder)
    marker = check_owned(folder, names, flag)
    if marker is None:
        return []
    present = [name for name in names if (folder / name).exists() or (folder / name).is_symlink()]
    for name in present:
        _discard(folder / name, folder / name)
    entries = {
        key: value
        for key, value in marker["entries"].items()
        if not any(key == name or key.startswith(name + "/") for name in present)
    }
    write_text_atomic(folder / MARKER_FILE, _marker_text(entries, marker.get("kind", "")))
    fsync_directory(folder)
    return present


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
    ready = _side_name(target, "new")
    backup = _side_name(target, "old")
    try:
        yield staging
        if mark is not None:
            _write_marker(staging, mark)
            if target.is_dir() and not target.is_symlink() and any(target.iterdir()):
                check_replaceable(target, True)  # proven again: nothing of the user's arrived during the work
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
    "check_owned",
    "check_writable",
    "GrowingFileProof",
    "claim_entries",
    "is_write_refused",
    "matches_proof",
    "read_marker",
    "recover_directory",
    "rescue_path",
    "write_or_rescue",
    "file_proof",
    "file_sha256",
    "folder_entries",
    "fsync_directory",
    "fsync_tree",
    "remove_dead_writers_staging",
    "remove_owned",
    "remove_stale_staging",
    "umask_file_mode",
    "unproven_entries",
    "write_marker",
    "write_text_atomic",
]
