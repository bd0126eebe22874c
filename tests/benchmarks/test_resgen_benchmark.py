"""Smoke test of benchmarks/resgen.py: a tiny run finishes and writes a well-formed, self-consistent report.

Speeds are not asserted: they depend on the machine and on whatever else runs on it."""

from __future__ import annotations

import json
import math
from pathlib import Path

from .run_script import run_benchmark

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "resgen.py"


def test_smoke_run_reports_passes_times_and_flops(tmp_path):
    out = tmp_path / "resgen.json"
    code, _ = run_benchmark("resgen", "--smoke", "--threads", "1", "--dtypes", "float32", "--json", str(out))
    assert code == 0
    report = json.loads(out.read_text())
    assert "--smoke" in report["command"] and report["machine"]["threads"] == 1

    table = report["tiny"]["table"]
    assert table[0]["decoder"] == "autoregressive" and [row["passes"] for row in table[1:]] == [2, 4]
    assert table[0]["passes"] > 4  # one pass per frame plus the codebook delay
    assert all(math.isfinite(row["median_s"]) and row["median_s"] > 0 for row in table)
    # the passes do not grow with the song
    assert {row["sequential_passes"] for row in report["length"]} == {2}

    (row,) = report["songgen_size"]["rows"]
    ours, theirs = row["resgen"], row["autoregressive"]
    assert ours["song_passes"] == 4 and ours["song_s_is_scaled"] and ours["passes_timed"] == 2
    assert math.isclose(ours["flops_per_song"], ours["flops_per_pass"] * 4)
    assert ours["flops_per_pass"] > 0 and theirs["flops_per_song"] > 0
    assert theirs["song_steps"] >= theirs["steps_timed"] > 0
    assert math.isclose(row["flops_ratio_resgen_over_ar"], ours["flops_per_song"] / theirs["flops_per_song"])


def test_the_benchmark_holds_no_model_code():
    text = SCRIPT.read_text()
    assert "nn.Module" not in text and "class " not in text.replace("# class", "")


def _evaluation(steps, means, seconds=10.0):
    aggregate = {metric: {"mean": mean, "ci95": [mean - 0.1, mean + 0.1]} for metric, mean in means.items()}
    return {
        "settings": {"sampling": {"num_inference_steps": steps}, "num_prompts_evaluated": 32},
        "timing": {"guided_generation_s": seconds},
        "aggregate": {"guided": aggregate},
    }


def test_quality_summary_judges_each_pass_count_against_the_autoregressive_intervals(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("resgen_quality", SCRIPT.parent / "resgen_quality.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    reference = _evaluation(None, {"tempo_acc1": 0.7, "key_exact": 0.8, "vocals_agree": 0.8, "drums_agree": 0.8})
    paths = []
    for steps, tempo, vocals in ((16, 0.65, 0.75), (4, 0.1, 0.5)):
        path = tmp_path / f"s{steps}.json"
        path.write_text(
            json.dumps(
                _evaluation(steps, {"tempo_acc1": tempo, "key_exact": 0.8, "vocals_agree": vocals, "drums_agree": 0.8})
            )
        )
        paths.append(str(path))
    (tmp_path / "ar.json").write_text(json.dumps(reference))
    summary = module.main(
        [
            "--resgen",
            *paths,
            "--autoregressive",
            str(tmp_path / "ar.json"),
            "--json",
            str(tmp_path / "summary.json"),
            "--figure",
            str(tmp_path / "figure.png"),
        ]
    )
    few, many = summary["resgen"]
    assert (few["steps"], many["steps"]) == (4, 16)  # sorted by passes
    assert many["tempo_acc1"]["meets_target"] and many["vocals_agree"]["meets_target"]
    assert not few["tempo_acc1"]["meets_target"] and not few["vocals_agree"]["meets_target"]  # 0.3 below
    assert (tmp_path / "figure.png").stat().st_size > 0
