"""Smoke test of benchmarks/generate.py: a tiny run finishes and writes a well-formed report.

Speeds are not asserted: they depend on the machine and on whatever else runs on it."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .run_script import run_benchmark

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "generate.py"
STEPS, RTF_SECONDS, CODEBOOKS = 20, 1.0, 8


def finite_positive(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


def test_tiny_generate_benchmark_report(tmp_path):
    out = tmp_path / "generate.json"
    command = [
        "--tiny",
        "--steps",
        str(STEPS),
        "--json",
        str(out),
        "--threads",
        "1",
        "--warmup-steps",
        "8",
        "--check-steps",
        "8",
        "--copy-mb",
        "16",
        "--rtf-seconds",
        str(RTF_SECONDS),
    ]
    code, printed = run_benchmark("generate", *command)
    assert code == 0
    assert "musicgen-float32-dynamic" in printed and "tiny model RTF" in printed
    report = json.loads(out.read_text())

    assert report["benchmark"] == "generate" and report["schema_version"] == 1
    assert "--tiny" in report["command"]
    machine = report["machine"]
    assert machine["cpu_model"] and machine["torch"] and machine["transformers"] and machine["torch_threads"] == 1
    assert all(len(report["load_average"][key]) == 3 for key in ("start", "end"))
    settings = report["settings"]
    assert settings["decoder_size"] == "tiny" and settings["steps"] == STEPS and settings["guidance_scale"] == 3.0
    assert finite_positive(report["bandwidth"]["used_gb_s"])

    expected_modes = {
        "ours-float32-dynamic",
        "ours-float32-static",
        "ours-float32-preallocated",
        "ours-bfloat16-dynamic",
        "ours-int8-dynamic",
        "ours-int8-preallocated",
        "ours-int8-packed-preallocated",
        "musicgen-float32-dynamic",
    }
    assert set(report["summary"]) == expected_modes
    assert len(report["runs"]) == len(expected_modes)
    for run in report["runs"]:
        # one timestamp per decoding step, the same count for both models
        assert run["steps_done"] == STEPS and len(run["step_ms"]) == STEPS - 1
        assert all(finite_positive(x) for x in run["step_ms"])
        for key in (
            "total_s",
            "loop_s",
            "first_median_ms",
            "last_median_ms",
            "floor_first_ms",
            "floor_loop_s",
            "decoder_read_bytes",
            "cores_used",
        ):
            assert finite_positive(run[key]), key
        assert run["floor_last_ms"] >= run["floor_first_ms"]
        assert run["peak_rss_mb"] >= run["rss_start_mb"] > 0
        assert run["total_s"] >= run["loop_s"]
        if run["family"] == "ours":
            assert run["output_shape"] == [1, CODEBOOKS, STEPS + 1]
        else:  # MusicGen returns audio: (STEPS + 1 - K) frames of 320 samples
            assert run["output_shape"] == [1, 1, (STEPS + 1 - CODEBOOKS) * 320]
    # int8 weights are a quarter of fp32's, bf16 half
    by_mode = {f"{r['family']}-{r['dtype']}-{r['cache']}": r for r in report["runs"]}
    fp32 = by_mode["ours-float32-dynamic"]["decoder_read_bytes"]
    assert by_mode["ours-bfloat16-dynamic"]["decoder_read_bytes"] < 0.6 * fp32
    assert by_mode["ours-int8-dynamic"]["decoder_read_bytes"] < 0.4 * fp32
    assert by_mode["ours-int8-packed-preallocated"]["decoder_read_bytes"] < 0.4 * fp32

    checks = {check["dtype"]: check for check in report["correctness"]}
    assert set(checks) == {"bfloat16", "int8", "int8-packed"}
    for check in checks.values():
        assert 0.0 <= check["top1_agreement"] <= 1.0 and 0.0 <= check["greedy_free_cells_identical"] <= 1.0
        assert math.isfinite(check["max_abs_diff_over_logit_std"]) and isinstance(check["within_tolerance"], bool)
    assert checks["bfloat16"]["within_tolerance"] is True

    assert report["targets"], "targets are reported whenever MusicGen ran"
    for target in report["targets"]:
        assert isinstance(target["met"], bool) and math.isfinite(target["value"]) and target["goal"]

    rtf = report["tiny_rtf"]
    assert rtf["audio_seconds"] == RTF_SECONDS
    assert rtf["steps"] == int(RTF_SECONDS * 50) + CODEBOOKS - 1
    assert finite_positive(rtf["rtf"]) and finite_positive(rtf["decode_and_tail_s"])


def _script():
    spec = importlib.util.spec_from_file_location("generate_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_benchmark_holds_no_model_code():
    """The caches it times are the package's, selected by name (issue 21: no model code in the benchmark)."""
    text = SCRIPT.read_text()
    assert "cache_utils" not in text and "class PreallocatedLayer" not in text and "DynamicLayer" not in text
    assert _script().CACHES == ("dynamic", "static", "preallocated")


def test_compile_modes_and_the_gpu_recipe_parse():
    bench = _script()
    recipe = bench.parse_modes(bench.GPU_RECIPE)
    assert recipe[0] == {"family": "ours", "dtype": "bfloat16", "cache": "static", "compile": True}
    assert [bench.mode_name(m) for m in recipe] == [
        "ours-bfloat16-static-compile",
        "ours-float32-static",
        "musicgen-float32-dynamic",
    ]
    assert bench.parse_modes("ours:float32:preallocated:compile")[0]["compile"] is True
    args = bench.parse_args(["--json", "x.json", "--recipe", "gpu"])
    assert args.recipe == "gpu" and args.device == "cpu"


@pytest.mark.parametrize(
    "mode",
    [
        "ours:float32:dynamic:compile",
        "ours:int8:static:compile",
        "musicgen:float32:static:compile",
        "musicgen:float32:preallocated",
        "ours:float32:static:fast",
        "ours:float32:prealloc",
    ],
)
def test_bad_modes_are_refused_with_the_syntax(mode):
    with pytest.raises(SystemExit, match=r"family:dtype:cache\[:compile\]"):
        _script().parse_modes(mode)


def test_static_compile_goes_through_transformers_compile_config():
    bench = _script()

    class Model:
        device = __import__("torch").device("cpu")

    options = bench.compile_options(Model(), {"family": "ours", "cache": "static", "compile": True}, capacity=101)
    assert options["max_cache_len"] == 101  # warm-up and timed run share one cache size: no recompiling
    config = options["compile_config"]
    assert config.fullgraph is True and config.mode == "default" and config._compile_all_devices is True
    # a mode without :compile runs eager: transformers would otherwise compile a static cache's step on a GPU
    # itself, once per cache size (on an H200 the timed run's first step recompiled for 24.7 s)
    assert bench.compile_options(Model(), {"family": "ours", "cache": "static", "compile": False}, 101) == {
        "disable_compile": True
    }


def test_the_benchmark_parent_asks_for_cuda_without_initialising_it():
    """A library imported by the parent may ask torch.cuda.is_available(); its NVML-based form leaves the
    driver uninitialised, so the forked timed runs can still use the GPU (found on a lent H200)."""
    env = dict(os.environ)
    env.pop("PYTORCH_NVML_BASED_CUDA_CHECK", None)
    code = (
        "import sys, os; sys.path.insert(0, sys.argv[1]); import machine; "
        "print(os.environ['PYTORCH_NVML_BASED_CUDA_CHECK'])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(SCRIPT.parent)], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "1"


def test_the_cuda_check_runs_in_a_child_so_the_timed_forks_can_use_the_gpu(tmp_path, monkeypatch):
    """Asking torch for CUDA in the parent would leave every forked timed run unable to initialise it
    (found on the first GPU run: "Cannot re-initialize CUDA in forked subprocess")."""
    import torch

    bench = _script()
    record = tmp_path / "asked_in_pid"

    def fake_is_available():
        record.write_text(str(os.getpid()))
        return True

    monkeypatch.setattr(torch.cuda, "is_available", fake_is_available)
    args = bench.parse_args(["--json", "x.json", "--recipe", "gpu", "--device", "cuda"])
    assert args.device == "cuda"
    assert int(record.read_text()) != os.getpid()
