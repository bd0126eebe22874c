"""Smoke test of benchmarks/main_job.py on a tiny random model: it times full songs and reports
the split into decoder steps and decoding.  Timings are not asserted (machine-dependent)."""

from __future__ import annotations

import json

import pytest

from songgen_hf.testing import save_tiny_checkpoint

from .run_script import run_benchmark


def test_main_job_report(tmp_path):
    model = save_tiny_checkpoint(tmp_path / "model", use_voice_encoder=False)
    out = tmp_path / "main_job.json"
    options = ("--seconds", "0.6", "--repeats", "2", "--threads", "1", "--cache", "static")
    code, printed = run_benchmark("main_job", "--model", str(model), *options, "--json", str(out))
    assert code == 0
    report = json.loads(out.read_text())
    assert [run["seed"] for run in report["runs"]] == [0, 1]
    for run in report["runs"]:
        assert abs(run["audio_s"] - 0.6) < 0.05  # min_duration_s = duration_s: full length every time
        assert run["decoder_steps"] >= 29 and run["ms_per_step"] > 0
        assert 0 <= run["after_last_step_s"] < run["total_s"]
    assert report["sampling"]["cache"] == "static" and report["target_s"] == pytest.approx(0.06)
    assert report["precision"] == "default (fp32)"  # a model that recommends no CPU precision
    assert "met" in printed
