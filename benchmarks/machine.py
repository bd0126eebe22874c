"""What the benchmark scripts share: the machine they ran on, peak memory, and one stage per forked child.

Imported by the scripts beside it (they put this folder on ``sys.path``); no model code lives here.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import shlex
import sys
import traceback

# Every timed stage runs in a forked child, and a child cannot use CUDA once its parent has initialised the
# driver.  Some library imported by the parent (transformers, diffusers or the package) asks
# torch.cuda.is_available(), whose default check initialises it: on a lent H200 every child then failed with
# "Cannot re-initialize CUDA in forked subprocess".  The NVML-based check answers without initialising.
os.environ.setdefault("PYTORCH_NVML_BASED_CUDA_CHECK", "1")


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            return next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or "unknown"


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def rss_mb(field: str = "VmHWM") -> float:
    """``VmHWM`` (peak) or ``VmRSS`` of this process in MB, as tests/test_memory_limits.py reads it."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def run_in_child(fn, *args):
    """Run ``fn(*args)`` in a forked child and return its JSON-able result (RuntimeError with the
    child's traceback if it failed).

    The parent never runs a torch kernel or holds a model, so the child starts with no OpenMP pool
    to inherit, its peak RSS (VmHWM restarts at fork) covers only its own work, and its memory is
    returned to the system when the stage ends.
    """
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        try:
            payload = {"ok": fn(*args)}
        except BaseException:  # report anything, including KeyboardInterrupt, to the parent
            payload = {"error": traceback.format_exc()}
        with os.fdopen(write_fd, "w") as pipe:
            json.dump(payload, pipe)
        os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd) as pipe:
        data = pipe.read()
    _, status = os.waitpid(pid, 0)
    if not data:
        raise RuntimeError(f"benchmark child died (wait status {status}; killed for memory?)")
    payload = json.loads(data)
    if "error" in payload:
        raise RuntimeError("benchmark child failed:\n" + payload["error"])
    return payload["ok"]


def _torch_sees_cuda() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def cuda_visible() -> bool:
    """Whether torch sees a CUDA device, asked in a forked child.

    ``torch.cuda.is_available()`` queries the device count, which marks the asking process's later forks
    as unable to use CUDA ("Cannot re-initialize CUDA in forked subprocess").  Every timed stage runs in
    a forked child (:func:`run_in_child`), so the parent must never ask itself.
    """
    return run_in_child(_torch_sees_cuda)


def git_commit() -> str:
    """The commit the measured code is at (short hash, ``+changes`` when the work tree differs from it), so that a
    figure quoted from the JSON names the code it measured; ``unknown`` outside a git checkout."""
    import subprocess

    here = os.path.dirname(os.path.abspath(__file__))
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=here, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=here,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("+changes" if dirty else "")


def command_report_head(benchmark: str, **machine) -> dict:
    """The opening fields of a command-timing report (cli_start, threads): the interpreter's command line, the
    minute it ran and the commit; ``machine`` adds to the CPU model and core count."""
    return {
        "benchmark": benchmark,
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": " ".join([os.path.basename(sys.executable), *sys.argv]),
        "commit": git_commit(),
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count(), **machine},
    }


def schema_report_head(benchmark: str, script: str, **machine) -> dict:
    """The opening fields of a schema-1 model report (generate, released_size): the script as run from the
    working folder (``script`` when Python was given none), the second it ran; ``machine`` adds to the CPU
    model and logical CPU count."""
    return {
        "benchmark": benchmark,
        "schema_version": 1,
        "command": shlex.join([os.path.relpath(sys.argv[0]) if sys.argv[0] else script, *sys.argv[1:]]),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": {"cpu_model": cpu_model(), "logical_cpus": os.cpu_count(), **machine},
    }
