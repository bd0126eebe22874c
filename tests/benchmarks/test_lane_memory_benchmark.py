"""benchmarks/lane_memory.py's settings: what a setting's name asks of finetune-lora's lane, the table of a report
against the tree before, and bad settings refused by name before anything is made or trained."""

from __future__ import annotations

import runpy

import pytest

from .run_script import BENCHMARKS, run_benchmark


@pytest.fixture(scope="module")
def script():
    return runpy.run_path(str(BENCHMARKS / "lane_memory.py"), run_name="lane_memory")


def test_a_setting_names_the_lane_and_its_rows_per_pass(script):
    assert script["parse_setting"]("none") == {"lane_weight": 0.0, "lane_rows_per_pass": None}
    assert script["parse_setting"]("lane") == {"lane_weight": 1.0, "lane_rows_per_pass": None}
    assert script["parse_setting"]("lane2") == {"lane_weight": 1.0, "lane_rows_per_pass": 2}


def test_the_table_gives_each_trees_lane_cost_over_its_own_plain_run(script):
    def run(peak_mb, step):
        return {"peak_rss_mb": peak_mb, "median_step_s": step}

    report = {
        "runs": {"none": run(3072, 10.0), "lane": run(3584, 20.0)},
        "before": {"runs": {"none": run(3072, 10.0), "lane": run(4096, 21.0)}},
    }
    lines = script["markdown_table"](report).splitlines()
    assert lines[2] == "| before | none | 3.00 GiB |  | 10.0 s |"
    assert lines[3] == "| before | lane | 4.00 GiB | +1.00 GiB | 21.0 s |"
    assert lines[5] == "| now | lane | 3.50 GiB | +0.50 GiB | 20.0 s |"


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--settings", "lane0"], "laneN needs N >= 1"),
        (["--settings", "none2"], "A setting is none, lane or laneN"),
        (["--settings", "lanes"], "A setting is none, lane or laneN"),
        (["--steps", "1"], "--steps must be at least 2"),
    ],
)
def test_bad_settings_are_refused_before_anything_runs(tmp_path, capsys, arguments, message):
    code, _ = run_benchmark("lane_memory", "--work", str(tmp_path / "work"), *arguments)
    assert code == 2 and message in capsys.readouterr().err and not (tmp_path / "work").exists()
