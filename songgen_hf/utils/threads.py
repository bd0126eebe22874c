"""How many CPU threads a generation uses: the cores no other program is keeping busy, unless told.

torch's default (one intra-op thread per core) is fastest on an idle machine and far slower on a shared
one: with one other CPU-bound process on 2 cores, a song took 10x longer with 2 threads than with 1, the
threads waiting on each other while the other process holds a core.  So each generation starts with

1. the count asked for (``songgen generate --threads``, :func:`thread_request`), else
2. ``SONGGEN_NUM_THREADS``, else ``OMP_NUM_THREADS`` when set (the user's or a launcher's choice), else
3. the cores this process may run on (``os.sched_getaffinity``) less those other programs keep busy, at least 1.
   "Busy" is measured now, over a tenth of a second of ``/proc/stat`` less this process's own CPU time (the
   load average lags by a minute and counts this process's own model loading); elsewhere the 1-minute load
   average stands in.

A count set with ``torch.set_num_threads`` is the user's own and is kept.
:func:`apply_thread_policy` sets torch's intra-op threads to that count; both pipelines and ``stream_song`` call
it where generation starts, so the CLI and the Space (which generate through them) follow it too.
:func:`choose_threads` is the pure decision.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator, Mapping

from songgen_hf.modeling.limits import check_threads

THREADS_VARIABLE = "SONGGEN_NUM_THREADS"
_REQUESTED: list[int] = []  # thread_request's stack: the innermost request wins


def _parse_count(name: str, text: str) -> int:
    try:
        count = int(text.strip())
    except ValueError:
        count = 0
    if count < 1:
        raise ValueError(f"{name}={text!r} is not a thread count; set it to a whole number >= 1, or unset it.")
    return count


def choose_threads(requested: int | None, environ: Mapping[str, str], cores: int, busy: float | None) -> int:
    """The intra-op thread count for a generation (pure: the caller reads the machine).

    ``requested`` (an explicit count) wins, then ``SONGGEN_NUM_THREADS``, then ``OMP_NUM_THREADS``; else the
    ``cores`` this process may use less ``round(busy)``, those other programs keep busy, at least 1
    (all the cores when that is unknown)."""
    if requested is not None:
        return requested
    for name in (THREADS_VARIABLE, "OMP_NUM_THREADS"):
        text = environ.get(name, "").strip()
        if text:
            return _parse_count(name, text)
    cores = max(1, int(cores))
    if busy is None:
        return cores
    return max(1, min(cores, cores - round(busy)))


def _usable_cores() -> set[int] | None:
    try:
        return set(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return None


def _busy_seconds(cores: set[int]) -> float | None:
    """CPU seconds the ``cores`` have spent busy since boot, from /proc/stat; None where there is none."""
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            lines = stat.read().splitlines()
        ticks = os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, AttributeError):
        return None
    busy = 0
    for line in lines:
        name, *fields = line.split()
        if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cores:
            user, nice, system, _idle, _iowait, irq, softirq, steal = (int(value) for value in fields[:8])
            busy += user + nice + system + irq + softirq + steal
    return busy / ticks


def _own_seconds() -> float:
    times = os.times()
    return times.user + times.system


def busy_elsewhere(cores: set[int] | None, window_s: float = 0.1) -> float | None:
    """How many of ``cores`` other programs keep busy now: their busy time over ``window_s`` less this
    process's own; the 1-minute load average where /proc/stat is missing, None where that is too."""
    if cores is not None:
        start, own_start, wall_start = _busy_seconds(cores), _own_seconds(), time.monotonic()
        if start is not None:
            time.sleep(window_s)
            end, own_end, wall_end = _busy_seconds(cores), _own_seconds(), time.monotonic()
            return max(0.0, (end - start) - (own_end - own_start)) / (wall_end - wall_start)
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):  # Windows has no load average
        return None


def generation_threads(requested: int | None = None) -> int:
    """:func:`choose_threads` for this process and machine now (``requested``, checked, else the innermost
    :func:`thread_request`)."""
    if requested is not None:
        check_threads("threads", requested)
    elif _REQUESTED:
        requested = _REQUESTED[-1]
    explicit = requested is not None or any(
        os.environ.get(name, "").strip() for name in (THREADS_VARIABLE, "OMP_NUM_THREADS")
    )
    cores = _usable_cores()
    count = len(cores) if cores is not None else (os.cpu_count() or 1)
    return choose_threads(requested, os.environ, count, None if explicit else busy_elsewhere(cores))


_APPLIED: list[int] = []  # the count this module last set: a different count since then is the user's own


def user_set_threads(current: int, usable: int) -> bool:
    """Whether torch's thread count ``current`` was set by the user (``torch.set_num_threads``) rather than by
    torch's default or by this module: it differs from the count this module last set, or, before this module set
    any, from every default torch may have picked (the usable cores, all the cores)."""
    if _APPLIED:
        return current != _APPLIED[-1]
    return current not in {usable, os.cpu_count() or usable}


def apply_thread_policy(requested: int | None = None) -> int:
    """Set torch's intra-op threads to :func:`generation_threads` and return the count; a count the user set
    with ``torch.set_num_threads`` is kept unless a count is asked for (here, :func:`thread_request` or the
    environment)."""
    import torch

    current = torch.get_num_threads()
    asked = (
        requested is not None
        or _REQUESTED
        or any(os.environ.get(name, "").strip() for name in (THREADS_VARIABLE, "OMP_NUM_THREADS"))
    )
    if not asked:
        cores = _usable_cores()
        if user_set_threads(current, len(cores) if cores is not None else (os.cpu_count() or 1)):
            return current
    threads = generation_threads(requested)
    _APPLIED.append(threads)
    del _APPLIED[:-1]
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return threads


@contextlib.contextmanager
def thread_request(threads: int | None, flag: str = "threads") -> Iterator[None]:
    """Within the block, generations use ``threads`` (None: the policy decides; checked, named ``flag`` in the
    message), e.g. ``songgen generate --threads``: the pipeline's own call to :func:`apply_thread_policy` then
    keeps it."""
    check_threads(flag, threads)
    if threads is None:
        yield
        return
    _REQUESTED.append(threads)
    try:
        yield
    finally:
        _REQUESTED.pop()


__all__ = [
    "THREADS_VARIABLE",
    "apply_thread_policy",
    "busy_elsewhere",
    "choose_threads",
    "generation_threads",
    "thread_request",
    "user_set_threads",
]
