"""Smoke test of benchmarks/int8_kernels.py: every shape and path is timed and its error reported.
Timings are not asserted (machine-dependent); the packed int8 error is."""

from __future__ import annotations

import json

import pytest

from songgen_hf.modeling.songgen.quantization import check_int8_kernel

from .run_script import run_benchmark


@pytest.mark.skipif(check_int8_kernel("cpu") is not None, reason="no packed int8 kernel in this PyTorch")
def test_int8_kernels_report(tmp_path):
    out = tmp_path / "int8.json"
    code, _ = run_benchmark("int8_kernels", "--rows", "2", "--repeats", "2", "--threads", "1", "--json", str(out))
    assert code == 0
    rows = json.loads(out.read_text())["results"]
    assert {row["shape"] for row in rows} >= {"32 token heads 256 -> 32 x 1088", "FFN up 256 -> 1024"}
    packed = [row for row in rows if row["path"] == "packed int8 (Int8Linear)"]
    assert len(packed) == 4 and all(0 < row["relative_error"] < 0.02 and row["median_us"] > 0 for row in packed)
    assert all(row["relative_error"] == 0 for row in rows if row["path"] == "float32")
