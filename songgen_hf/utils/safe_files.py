"""The one reader for every file a user or a crash could have replaced: state, records, locks, markers, prompt
files, metadata, configs, adapter configs.

A path that should name a small file can name anything: a FIFO (an ``open`` that never returns), ``/dev/zero``
(a ``read`` that never ends), a link to either, a multi-GB file, or JSON nested a million deep (a
``RecursionError``).  Each reader here opens without blocking, refuses anything but a regular file, reads at most
its bound, and parses JSON with its nesting bounded, so each of these is one :class:`FileReadError` that names the
file and what to do, in well under a second and a bounded amount of memory.  Large text files (prompt files) are
streamed line by line with each line bounded (:func:`iter_lines`).

``follow_links=False`` is for the package's own files (it writes no links): a link there is refused.  A user's own
input may be a link, as long as what it points to is a regular file.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# the package's own state files (a run's settings, a song's record, a lock, a checkpoint manifest) and the small
# config files a model or an adapter carries are a few KB; this leaves room for any honest one
MAX_STATE_BYTES = 1 * 2**20
MAX_CONFIG_BYTES = 16 * 2**20
MAX_MARKER_BYTES = 8 * 2**20  # one line per entry: folders of some 50 000 files
# nesting of any JSON the package reads: its own files nest 4 deep, a model config about 6
MAX_JSON_DEPTH = 64
MAX_JSON_VALUES = 5_000_000  # values in one file's tree, references counted each time they are reached


class FileReadError(ValueError):
    """A file cannot be read safely (not a regular file, larger than any such file, not UTF-8, not JSON).
    ``reason``: the cause alone, without the file's name, for a caller that words the message itself."""

    def __init__(self, message: str, reason: str | None = None):
        super().__init__(message)
        self.reason = reason or message


def _what(path: Path, what: str | None) -> str:
    return f"{what} {path}" if what else str(path)


def open_regular(path: str | Path, what: str | None = None, *, follow_links: bool = True) -> int:
    """An open, read-only file descriptor of ``path``, refused unless it is a regular file.

    The open never blocks (``O_NONBLOCK``: a FIFO opens at once and is then refused), and the kind is checked on
    the open descriptor, so a file swapped for a FIFO between a check and the open is still refused."""
    path = Path(path)
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    if not follow_links:
        flags |= os.O_NOFOLLOW
    try:
        handle = os.open(path, flags)
    except FileNotFoundError:
        raise
    except OSError as error:
        if not follow_links and os.path.islink(path):
            raise FileReadError(
                f"{_what(path, what)} is a link; songgen writes no links there, so it is not songgen's file. "
                "Remove it, or choose another folder."
            ) from None
        raise FileReadError(f"cannot read {_what(path, what)} ({error.strerror or error}).") from None
    kind = os.fstat(handle).st_mode
    if not stat.S_ISREG(kind):
        os.close(handle)
        noun = "a folder" if stat.S_ISDIR(kind) else "a FIFO, socket or device"
        raise FileReadError(f"{_what(path, what)} is {noun}, not a regular file; give a regular file.")
    return handle


def file_size(path: str | Path, what: str | None = None, *, follow_links: bool = True) -> int:
    """The size of the regular file ``path`` (refused as :func:`open_regular` refuses)."""
    handle = open_regular(path, what, follow_links=follow_links)
    try:
        return os.fstat(handle).st_size
    finally:
        os.close(handle)


def _too_large(path: Path, what: str | None, max_bytes: int) -> FileReadError:
    return FileReadError(
        f"{_what(path, what)} is larger than {_size(max_bytes)}, more than any such file holds; check that it is "
        "the right file."
    )


def _size(count: int) -> str:
    return f"{count / 2**20:g} MB" if count >= 2**20 else f"{count:,} bytes"


def read_bytes(path: str | Path, what: str | None = None, *, max_bytes: int, follow_links: bool = True) -> bytes:
    """The bytes of the regular file ``path``, at most ``max_bytes`` of them (a larger file is refused unread)."""
    path = Path(path)
    handle = open_regular(path, what, follow_links=follow_links)
    try:
        if os.fstat(handle).st_size > max_bytes:
            raise _too_large(path, what, max_bytes)
        with os.fdopen(handle, "rb", closefd=False) as stream:
            raw = stream.read(max_bytes + 1)  # a file that grows after the check is still cut at the bound
    finally:
        os.close(handle)
    if len(raw) > max_bytes:
        raise _too_large(path, what, max_bytes)
    return raw


def read_text(
    path: str | Path,
    what: str | None = None,
    *,
    max_bytes: int = MAX_CONFIG_BYTES,
    follow_links: bool = True,
    encoding: str = "utf-8",
) -> str:
    """The text of ``path`` (:func:`read_bytes`), decoded; text that is not ``encoding`` is refused."""
    raw = read_bytes(path, what, max_bytes=max_bytes, follow_links=follow_links)
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as error:
        where = _what(Path(path), what)
        raise FileReadError(f"{where} is not UTF-8 text ({error.reason}); save it as UTF-8.") from None


def json_depth(value: Any, limit: int = MAX_JSON_DEPTH, max_values: int = MAX_JSON_VALUES) -> int:
    """How deep ``value`` nests (a scalar: 0), counted without recursion; past ``limit`` levels, or past
    ``max_values`` values visited (YAML's aliases can make a small file a tree of billions), it stops and returns
    ``limit + 1``."""
    deepest, seen, stack = 0, 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        seen += 1
        if seen > max_values:
            return limit + 1
        if not isinstance(item, (dict, list)):
            continue
        deepest = max(deepest, depth)
        if deepest > limit:
            return deepest
        stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def loads_json(text: str | bytes, what: str, *, max_depth: int = MAX_JSON_DEPTH, finite: bool = False) -> Any:
    """``json.loads`` with its nesting bounded: a :class:`FileReadError` naming ``what`` for text that is not JSON or
    nests deeper than ``max_depth``; with ``finite``, also for NaN or Infinity (Python writes them, JSON has none)."""

    def refuse_constant(name: str):
        raise FileReadError(f"{what}: {name} is not a JSON number; write a finite number.")

    too_deep = FileReadError(
        f"{what}: JSON nested deeper than {max_depth} levels, or of more than {MAX_JSON_VALUES:,} values; no such "
        "file is so large."
    )
    try:
        value = json.loads(text, parse_constant=refuse_constant if finite else None)
    except RecursionError:
        raise too_deep from None
    except FileReadError:
        raise
    except ValueError as error:
        detail = getattr(error, "msg", None) or str(error)
        raise FileReadError(f"{what}: not JSON ({detail}).", reason=detail) from None
    if json_depth(value, max_depth) > max_depth:
        raise too_deep
    return value


def read_json(
    path: str | Path,
    what: str | None = None,
    *,
    max_bytes: int = MAX_CONFIG_BYTES,
    max_depth: int = MAX_JSON_DEPTH,
    follow_links: bool = True,
) -> Any:
    """The JSON value in the regular file ``path``: bounded in bytes (:func:`read_bytes`) and in nesting."""
    text = read_text(path, what, max_bytes=max_bytes, follow_links=follow_links)
    return loads_json(text, _what(Path(path), what), max_depth=max_depth)


def read_json_object(path: str | Path, what: str | None = None, **bounds) -> dict:
    """:func:`read_json` of a file that must hold a JSON object."""
    value = read_json(path, what, **bounds)
    if not isinstance(value, dict):
        raise FileReadError(f"{_what(Path(path), what)} holds a JSON {type(value).__name__}, not an object.")
    return value


def _flow_depth(text: str) -> int:
    """The deepest nesting of brackets and braces in ``text`` (those inside quotes counted too: an upper bound)."""
    import numpy as np

    steps = np.frombuffer(text.encode("utf-8", errors="replace"), dtype=np.uint8)
    steps = np.isin(steps, (ord("["), ord("{"))).astype(np.int32) - np.isin(steps, (ord("]"), ord("}")))
    return int(np.cumsum(steps).max()) if steps.size else 0


def read_yaml(path: str | Path, what: str | None = None, *, max_bytes: int = MAX_CONFIG_BYTES) -> Any:
    """The YAML value in the regular file ``path`` (JSON is YAML too), bounded like :func:`read_json`: in bytes, in
    nesting (flow brackets counted before the parser, which is pure Python, walks them) and in values (aliases
    counted each time they are reached: a small file can expand to a tree of billions)."""
    import yaml

    path = Path(path)
    where = _what(path, what)
    text = read_text(path, what, max_bytes=max_bytes)
    if _flow_depth(text) > MAX_JSON_DEPTH:
        raise FileReadError(f"{where}: YAML nested deeper than {MAX_JSON_DEPTH} levels; write a flat mapping.")
    try:
        value = yaml.safe_load(text)
    except RecursionError:
        raise FileReadError(f"{where}: YAML nested deeper than any config; write a flat mapping.") from None
    if json_depth(value) > MAX_JSON_DEPTH:
        raise FileReadError(
            f"{where}: YAML nested deeper than {MAX_JSON_DEPTH} levels, or expanding (through aliases) to more "
            f"than {MAX_JSON_VALUES:,} values; no config is so large."
        )
    return value


def read_config_mapping(path: str | Path, what: str | None = None, *, max_bytes: int = MAX_CONFIG_BYTES) -> dict:
    """A config file's mapping: JSON for ``.json``, YAML otherwise (:func:`read_yaml`, which reads JSON too)."""
    import yaml

    path = Path(path)
    where = _what(path, what)
    if path.suffix.lower() != ".json":
        try:
            value = read_yaml(path, what, max_bytes=max_bytes)
        except yaml.YAMLError as error:
            raise FileReadError(f"could not parse {where}: {error}") from None
    else:
        value = loads_json(read_text(path, what, max_bytes=max_bytes), where)
    if not isinstance(value, dict):
        raise FileReadError(f"{where} must hold a mapping of option names to values, got {type(value).__name__}.")
    return value


def iter_lines(
    path: str | Path,
    what: str | None = None,
    *,
    max_line_bytes: int,
    max_bytes: int,
    encoding: str = "utf-8-sig",
    keep_ends: bool = False,
) -> Iterator[tuple[int, str]]:
    """``(line number, line)`` of a text file, streamed: each line (its ``\\n`` removed unless ``keep_ends``, as
    ``csv`` needs them) at most ``max_line_bytes``
    long and the whole file at most ``max_bytes``; a longer line or file is refused where it is met.  Lines end at
    ``\\n`` alone (a JSON string may hold U+2028 and the like, which ``str.splitlines`` would cut at)."""
    path = Path(path)
    handle = open_regular(path, what, follow_links=True)
    if os.fstat(handle).st_size > max_bytes:
        os.close(handle)
        raise _too_large(path, what, max_bytes)
    total = 0
    with os.fdopen(handle, "rb") as stream:
        for number, raw in enumerate(iter(lambda: stream.readline(max_line_bytes + 1), b""), 1):
            total += len(raw)
            if total > max_bytes:
                raise _too_large(path, what, max_bytes)
            if len(raw) > max_line_bytes and not (len(raw) == max_line_bytes + 1 and raw.endswith(b"\n")):
                raise FileReadError(
                    f"{_what(path, what)}: line {number} is longer than {_size(max_line_bytes)}; no row needs so "
                    "much (check for a missing line break or an unclosed quote)."
                )
            try:
                line = raw.decode(encoding if number == 1 else "utf-8")
            except UnicodeDecodeError as error:
                raise FileReadError(
                    f"{_what(path, what)}: line {number} is not UTF-8 text ({error.reason}); save the file as UTF-8."
                ) from None
            yield number, line if keep_ends or not line.endswith("\n") else line[:-1]


__all__ = [
    "MAX_CONFIG_BYTES",
    "MAX_JSON_DEPTH",
    "MAX_JSON_VALUES",
    "MAX_MARKER_BYTES",
    "MAX_STATE_BYTES",
    "FileReadError",
    "file_size",
    "iter_lines",
    "json_depth",
    "loads_json",
    "open_regular",
    "read_bytes",
    "read_config_mapping",
    "read_json",
    "read_json_object",
    "read_text",
    "read_yaml",
]
