"""Smoke test of benchmarks/int8_kernels.py: every shape and path is timed and its error reported.
Timings are not asserted (machine-dependent); the packed int8 error is."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from songgen_hf.modeling.songgen.int8_weights import check_int8_kernel

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "int8_kernels.py"


@pytest.mark.skipif(check_int8_kernel("cpu") is not None, reason="no packed int8 kernel in this PyTorch")
def test_int8_kernels_report(tmp_path):
    out = tmp_path / "int8.json"
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--rows", "2", "--repeats", "2", "--threads", "1", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rows = json.loads(out.read_text())["results"]
    assert {row["shape"] for row in rows} >= {"32 token heads 256 -> 32 x 1088", "FFN up 256 -> 1024"}
    packed = [row for row in rows if row["path"] == "packed int8 (Int8Linear)"]
    assert len(packed) == 4 and all(0 < row["relative_error"] < 0.02 and row["median_us"] > 0 for row in packed)
    assert all(row["relative_error"] == 0 for row in rows if row["path"] == "float32")
