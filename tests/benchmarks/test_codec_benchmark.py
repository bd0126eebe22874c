"""Smoke test of benchmarks/codec.py: the tiny run finishes and writes a sane report.

Timings are not asserted: they depend on the machine and on whatever else runs on it."""

from __future__ import annotations

import json
import math

from .run_script import run_benchmark


def test_tiny_benchmark_report(tmp_path):
    out = tmp_path / "codec.json"
    # in this process (the report is what is asserted); its memory figures still come from fresh child processes
    code, printed = run_benchmark(
        "codec", "--json", str(out), "--tiny", "--repeats", "1", "--seconds", "1", "--threads", "1"
    )
    assert code == 0
    assert "encode" in printed and "decode-only saves" in printed
    report = json.loads(out.read_text())

    assert report["tiny"] is True and report["repeats"] == 1 and report["audio_seconds"] == 1.0
    assert "--tiny" in report["command"]
    machine = report["machine"]
    assert machine["torch_threads"] == 1 and machine["cpu_model"] and machine["torch"] and machine["transformers"]
    assert report["weights_identical"] is True
    assert report["parity"]["codes_identical"] is True
    assert report["parity"]["decode_within_tolerance"] is True
    assert report["parity"]["codes_shape"] == [1, 8, 50]
    assert report["parity"]["decoded_samples"] == 16000
    for stage in ("encode", "decode"):
        figures = report["speed"][stage]
        for key in ("transformers_median_s", "ours_median_s", "ratio"):
            assert math.isfinite(figures[key]) and figures[key] > 0
        assert len(report["runs_seconds"][f"ours_{stage}"]) == 1

    full, decode_only = report["memory"]["full"], report["memory"]["decode_only"]
    assert full["decode_only"] is False and decode_only["decode_only"] is True
    for m in (full, decode_only):
        assert m["peak_rss_weights_resident_mb"] >= m["peak_rss_mb"] >= m["rss_before_load_mb"] > 0
        assert m["first_decode_seconds"] > 0
        assert m["decoded_samples"] == 16000
    # the decode-only model leaves out the teacher, the encoders and fc/fc1
    assert decode_only["model_bytes"] < full["model_bytes"]
    assert decode_only["num_parameters"] < full["num_parameters"]
    assert math.isclose(
        report["memory"]["model_bytes_saving_mb"], (full["model_bytes"] - decode_only["model_bytes"]) / 2**20
    )
