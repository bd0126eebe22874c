"""Smoke test of benchmarks/cli_start.py: it times fresh interpreters and names the heavy libraries each
stage loaded.  Timings are not asserted (machine-dependent); what the parser loads is."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from .run_script import run_benchmark

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "cli_start.py"


def test_cli_start_report(tmp_path):
    out = tmp_path / "cli_start.json"
    # the script in this process: every stage it times still runs in a fresh interpreter of its own
    code, _ = run_benchmark("cli_start", "--repeats", "1", "--no-warm-up", "--json", str(out))
    assert code == 0
    report = json.loads(out.read_text())
    assert report["repeats"] == 1 and report["warm_up"] is False
    stages = report["stages"]
    assert {"python -c pass", "import songgen_hf", "build_parser()", "songgen --help"} <= set(stages)
    for name in ("python -c pass", "import songgen_hf", "build_parser()"):
        assert len(stages[name]["runs_s"]) == 1 and stages[name]["median_s"] > 0
    # the parser must not pay for the data stack or the corpus renderer (tests/test_cli.py checks the same in-process)
    loaded = stages["build_parser()"]["heavy_modules_loaded"]
    assert not {"datasets", "pandas", "pyarrow", "scipy.signal", "librosa"} & set(loaded), loaded
    # the console script answers --help and --version without torch or any of the data stack
    for name in ("songgen --help", "songgen --version", "songgen generate --help"):
        if "skipped" not in stages[name]:
            assert stages[name]["heavy_modules_loaded"] == [], (name, stages[name])
    assert not list(tmp_path.glob("*.tmp"))


def test_cli_start_rejects_zero_repeats(tmp_path):
    result = subprocess.run([sys.executable, str(SCRIPT), "--repeats", "0"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "--repeats must be at least 1" in result.stderr
