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
    report = json.loads(out.read_text())
    rows = report["results"]
    assert {row["shape"] for row in rows} >= {"16 token heads 256 -> 16 x 1088 (songgen-tiny)", "FFN up 256 -> 1024"}
    packed = [row for row in rows if row["path"] == "packed int8 (Int8Linear)"]
    assert len(packed) == 5 and all(0 < row["relative_error"] < 0.02 and row["median_us"] > 0 for row in packed)
    assert all(row["relative_error"] == 0 for row in rows if row["path"] == "float32")
    # every path against its own floor: the time to read its weight's bytes once
    assert all(row["floor_us"] > 0 and row["x_floor"] == row["median_us"] / row["floor_us"] for row in rows)
    assert all(row["weight_bytes"] == row_bytes(row) for row in packed)
    # the packed kernel's rows do not see each other (a song alone and in a batch), nor do bfloat16's
    assert all(row["rows_independent"] for row in packed)
    bf16 = [row for row in rows if row["path"] == "bfloat16 (Bf16Linear)"]
    if report["machine"]["native_bfloat16"]:
        assert len(bf16) == 5 and all(row["rows_independent"] and 0 < row["relative_error"] < 0.01 for row in bf16)
    else:
        assert not bf16


def row_bytes(row) -> int:
    width, outputs = {
        "attention projection 256 -> 256": (256, 256),
        "FFN up 256 -> 1024": (256, 1024),
        "FFN down 1024 -> 256": (1024, 256),
        "16 token heads 256 -> 16 x 1088 (songgen-tiny)": (256, 16 * 1088),
        "32 token heads 256 -> 32 x 1088": (256, 32 * 1088),
    }[row["shape"]]
    return width * outputs  # one byte a weight
