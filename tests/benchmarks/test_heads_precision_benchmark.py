"""Smoke test of benchmarks/heads_precision.py on a tiny random model: each precision of the token heads is compared
with float32's logits on a song float32 sampled, teacher-forced."""

from __future__ import annotations

import json

import pytest

from songgen_hf.modeling.songgen.quantization import check_int8_kernel
from songgen_hf.testing import save_tiny_checkpoint

from .run_script import run_benchmark


@pytest.mark.skipif(check_int8_kernel("cpu") is not None, reason="no packed int8 kernel in this PyTorch")
def test_heads_precision_report(tmp_path):
    model = save_tiny_checkpoint(tmp_path / "model", track_pattern="parallel_stream2", use_voice_encoder=False)
    out = tmp_path / "heads.json"
    options = ("--seconds", "0.4", "--prompts", "2", "--threads", "1")
    code, printed = run_benchmark("heads_precision", "--model", str(model), *options, "--json", str(out))
    assert code == 0
    report = json.loads(out.read_text())
    measured = report["results"]
    assert "int8-heads" in measured  # bf16-heads too where the CPU computes bfloat16 natively
    for name, runs in measured.items():
        assert [run["prompt"] for run in runs] == [0, 1]
        for run in runs:
            assert run["positions"] > 10 and 0.9 <= run["top1_agreement"] <= 1
            assert 0 < run["relative_error"] < 0.03, name  # the heads really changed precision
        assert report["summary"][name]["top1_agreement_min"] == min(run["top1_agreement"] for run in runs)
    assert "top-1 agreement with float32" in printed


def test_main_job_times_a_batch_of_songs(tmp_path):
    model = save_tiny_checkpoint(tmp_path / "model", use_voice_encoder=False)
    out = tmp_path / "main_job.json"
    options = ("--seconds", "0.4", "--repeats", "1", "--threads", "1", "--batch", "2")
    code, _ = run_benchmark("main_job", "--model", str(model), *options, "--json", str(out))
    assert code == 0
    report = json.loads(out.read_text())
    assert report["batch"] == 2
    run = report["runs"][0]
    assert abs(run["audio_s"] - 0.4) < 0.05 and run["cpu_ms_per_step"] > 0 and run["ms_per_step"] > 0
