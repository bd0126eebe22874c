"""Smoke test of benchmarks/released_size.py at tiny size: every stage runs end to end (build and publish
into a Hub cache, conversion by repo id offline, a second load that does not convert, generation in
float32 and bfloat16) and the report is well formed.  Timings are not asserted (machine-dependent)."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest

from .run_script import run_benchmark

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "released_size.py"
SECONDS, DECODE_SECONDS = 0.2, 0.5
LONG_SECONDS = (6.0, 9.0)  # the tiny model's window is 4.96 s: two and three windows


def _run(tmp_path, *extra: str) -> tuple[subprocess.CompletedProcess, Path]:
    out = tmp_path / "released_size.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, str(SCRIPT), "--tiny", "--threads", "1", "--json", str(out), *extra]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=600), out


def finite_positive(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


def test_tiny_run_converts_by_repo_id_loads_again_and_generates(tmp_path):
    work = tmp_path / "work"
    result, out = _run(
        tmp_path,
        "--seconds",
        str(SECONDS),
        "--decode-seconds",
        str(DECODE_SECONDS),
        "--long-seconds",
        *map(str, LONG_SECONDS),
        "--work",
        str(work),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["benchmark"] == "released_size" and report["schema_version"] == 1 and "--tiny" in report["command"]
    assert report["settings"]["repo"] == "LiuZH-19/SongGen_mixed_pro" and report["settings"]["size"] == "tiny"
    stages = report["stages"]
    assert list(stages) == [
        "build",
        "convert",
        "second_load",
        "generate_cpu_float32",
        "generate_cpu_bfloat16",
        "long_songs_cpu",
    ]
    assert report["settings"]["long_seconds"] == list(LONG_SECONDS)

    build = stages["build"]
    assert set(build["commits"]) == {
        "LiuZH-19/SongGen_mixed_pro",
        "hf-audio/xcodec-hubert-general-balanced",
        "m-a-p/MERT-v1-330M",
    }
    assert build["parameters"] == sum(build["parameters_by_part"].values()) > 0
    # published in huggingface_hub's layout: refs/main names the snapshot
    storage = work / "hub" / "models--LiuZH-19--SongGen_mixed_pro"
    commit = (storage / "refs" / "main").read_text()
    assert commit == build["commits"]["LiuZH-19/SongGen_mixed_pro"]
    assert (storage / "snapshots" / commit / "model.safetensors").is_symlink()

    convert = stages["convert"]
    assert Path(convert["converted_folder"]).is_relative_to(work / "songgen-cache")
    assert convert["first_call_s"] >= convert["conversion_s"] > 0 and convert["converted_bytes"] > 0
    assert convert["first_call_peak_rss_mb"] >= convert["conversion_peak_rss_mb"] > convert["rss_start_mb"] > 0
    second = stages["second_load"]
    assert second["converted_again"] is False and finite_positive(second["load_s"])

    steps = round(SECONDS * 50) + 8 - 1  # mixed_pro: frames + K columns, BOS excluded
    for dtype in ("float32", "bfloat16"):
        run = stages[f"generate_cpu_{dtype}"]
        assert run["dtype"] == dtype and run["steps"] == steps and run["audio_s"] == pytest.approx(SECONDS)
        assert run["audio_dtype"] == "float32"  # the codec writes the audio in float32 either way
        parts = run["parameter_dtypes"]
        assert parts.pop("audio_encoder") == ["float32"]
        assert all(found == [dtype] for found in parts.values()), parts
        assert run["song_steps"] == 30 * 50 + 8 - 1
        assert finite_positive(run["median_step_ms"]) and finite_positive(run["extrapolated_30s_decoder_s"])
        assert run["peak_rss_mb"] > 0 and finite_positive(run["load_s"])
    decode = stages["generate_cpu_float32"]["codec_decode"]
    assert decode["seconds_of_audio"] == DECODE_SECONDS and finite_positive(decode["decode_s"])
    assert finite_positive(stages["generate_cpu_float32"]["extrapolated_30s_total_s"])
    assert stages["generate_cpu_bfloat16"]["codec_decode"] is None

    # songs longer than the window, each from the text to the audio, window after window
    long = stages["long_songs_cpu"]
    assert long["window_s"] == pytest.approx(4.96) and long["compiled"] is False and long["dtype"] == "float32"
    assert long["warm_up"]["windows"] == 2
    assert [run["seconds"] for run in long["runs"]] == list(LONG_SECONDS)
    assert [run["windows"] for run in long["runs"]] == [2, 3]
    for run in long["runs"]:
        assert run["audio_s"] == pytest.approx(run["seconds"])
        assert run["compute_s_per_audio_s"] == pytest.approx(run["total_s"] / run["audio_s"])
        assert finite_positive(run["s_per_minute_of_song"]) and run["peak_rss_mb"] > 0
    fit = long["linear_fit"]
    assert finite_positive(fit["s_per_minute"]) and 0 <= fit["max_relative_residual"] < 1


def test_too_little_memory_stops_before_building_and_says_so(tmp_path, capsys):
    # in this process: the script stops before its first forked stage; what it sets in the environment for its
    # children is put back afterwards
    out = tmp_path / "released_size.json"
    with mock.patch.dict(os.environ):
        code, _ = run_benchmark(
            "released_size", "--tiny", "--threads", "1", "--json", str(out), "--min-available-gb", "1000000"
        )
    assert code == 3  # a traceback would have escaped run_benchmark
    assert "memory available before 'build'" in capsys.readouterr().err
    report = json.loads(out.read_text())
    assert "stages" not in report and "--min-available-gb" in report["aborted"]


def test_the_gpu_run_defaults_to_a_full_song():
    spec = importlib.util.spec_from_file_location("released_size", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    args = module.parse_args(["--json", "x.json", "--device", "cuda"])
    assert args.seconds == module.SONG_SECONDS == 30.0 and args.min_available_gb == 12.0
    assert set(module.GPU_MODES) == {"dynamic", "static", "static+compile"}
    assert module.parse_args(["--json", "x.json"]).seconds == 1.0
    # songs of 1, 2 and 4 minutes on a GPU; none by default on a CPU, where one released-size minute takes hours
    assert args.long_seconds == [60.0, 120.0, 240.0]
    assert module.parse_args(["--json", "x.json"]).long_seconds == []


def test_a_bad_long_song_length_is_refused_before_anything_runs(tmp_path):
    result, out = _run(tmp_path, "--long-seconds", "0")
    assert result.returncode == 2 and "--long-seconds takes lengths > 0" in result.stderr
    assert "Traceback" not in result.stderr and not out.exists()
