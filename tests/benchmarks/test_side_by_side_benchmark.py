"""benchmarks/side_by_side.py: a commit exported so that its own code imports, and the summary of interleaved runs
(medians with their lowest and highest run, ratios taken within each round).  No song is timed here."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

from .run_script import BENCHMARKS


def _side_by_side():
    spec = importlib.util.spec_from_file_location("side_by_side", BENCHMARKS / "side_by_side.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_summary_takes_medians_with_their_range_and_ratios_within_each_round():
    side_by_side = _side_by_side()
    runs = {
        "song60": {
            "before/singer": [{"total_s": 30.0, "cpu_s": 60.0}, {"total_s": 40.0, "cpu_s": 70.0}],
            "after/singer": [{"total_s": 12.0, "cpu_s": 24.0}, {"total_s": 22.0, "cpu_s": 28.0}],
            "after/no_singer": [{"total_s": 10.0, "cpu_s": 20.0}, {"total_s": 20.0, "cpu_s": 20.0}],
        },
        "main": {
            "before/singer": [{"total_s": [3.0, 2.0, 4.0], "cpu_s": [6.0, 4.0, 8.0]}],
            "after/singer": [{"total_s": [1.0, 2.0, 1.5], "cpu_s": [2.0, 4.0, 3.0]}],
        },
    }
    summary = side_by_side.summarise(runs)
    assert summary["song60"]["before/singer"]["total_s"] == {"median": 35.0, "low": 30.0, "high": 40.0, "n": 2}
    ratios = summary["song60"]["ratios"]
    # within each round: 12 / 10 and 22 / 20; "before" without the singer is "after"'s (the same decoder)
    assert ratios["after: singer / no singer"]["total_s"] == {"median": 1.15, "low": 1.1, "high": 1.2, "n": 2}
    assert ratios["before: singer / no singer"]["total_s"]["low"] == 2.0
    assert ratios["after / before, with the singer"]["cpu_s"]["high"] == 0.4
    # the main job: every song of a run counts, a run's ratio is of its medians
    assert summary["main"]["after/singer"]["total_s"] == {"median": 1.5, "low": 1.0, "high": 2.0, "n": 3}
    assert summary["main"]["ratios"]["after / before, with the singer"]["total_s"]["median"] == 0.5


def test_an_exported_tree_imports_its_own_code(tmp_path):
    side_by_side = _side_by_side()
    importable = side_by_side.export_tree("HEAD", tmp_path)
    probe = "import songgen_hf.modeling.songgen_singer as m, songgen_hf.pipelines as p; print(m.__file__, p.__file__)"
    environment = {**os.environ, "PYTHONPATH": str(importable)}
    printed = subprocess.run(
        [sys.executable, "-c", probe], env=environment, cwd=tmp_path, capture_output=True, text=True, check=True
    ).stdout.split()
    assert all(path.startswith(str(tmp_path)) for path in printed)
