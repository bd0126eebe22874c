"""Runs a script of benchmarks/ as ``python benchmarks/NAME.py ARGS`` would, in the test's own process.

A smoke test asserts what the script reports, not how it starts: in process it skips a fresh interpreter's
imports of torch, transformers and the package (several seconds of CPU per script).  Whatever the script sets
for the whole process (torch's thread count, transformers' progress bars) is put back afterwards.
"""

from __future__ import annotations

import contextlib
import io
import runpy
import sys
from pathlib import Path
from unittest import mock

import torch

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def run_benchmark(name: str, *args: str) -> tuple[int, str]:
    """``(exit code, what it printed)`` of ``benchmarks/NAME.py ARGS`` run as the main module."""
    from transformers.utils import logging as transformers_logging

    script = BENCHMARKS / f"{name}.py"
    threads, printed = torch.get_num_threads(), io.StringIO()
    bars = transformers_logging.is_progress_bar_enabled()
    try:
        with mock.patch.object(sys, "argv", [str(script), *args]), contextlib.redirect_stdout(printed):
            runpy.run_path(str(script), run_name="__main__")
        code = 0
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else int(stop.code is not None)
    finally:
        torch.set_num_threads(threads)
        # a script that quiets transformers' progress bars quiets them for the whole process
        (transformers_logging.enable_progress_bar if bars else transformers_logging.disable_progress_bar)()
    return code, printed.getvalue()
