"""benchmarks/styles_gate.py without its songs: the gated songs are the base's at gate 0, the ungated adapter's at 1
and those made at the gate between, prompt by prompt and seed by seed; and the docs quote the report's tables."""

from __future__ import annotations

import json
import runpy

import numpy as np
import pytest

from .run_script import BENCHMARKS


@pytest.fixture(scope="module")
def script():
    return runpy.run_path(str(BENCHMARKS / "styles_gate.py"), run_name="styles_gate")


def test_the_gated_songs_are_the_base_s_at_0_the_adapter_s_at_1_and_made_between(script):
    prompts, seeds = 3, 2  # songs are ordered seed by seed, as your_songs keeps them
    base = np.arange(seeds * prompts)[:, None] + 0.0
    ungated = base + 100
    made = {1: np.array([[7.0], [8.0]])}  # prompt 1 at gate 0.5: its two seeds' songs
    rows = script["composed"]([0.0, 0.5, 1.0], base, ungated, made, prompts)
    assert rows[:, 0].tolist() == [0.0, 7.0, 102.0, 3.0, 8.0, 105.0]
    counts = script["counts"]([0.0, 0.5, 1.0, 1.0])
    assert (counts["at_0"], counts["at_1"], counts["between"]) == (1, 2, 1) and counts["mean"] == pytest.approx(0.625)


def test_the_docs_quote_the_gate_report_s_tables(script):
    """docs/fine_tuning.md's gate tables are the ones the script prints from docs/benchmarks/styles_gate.json: every
    style's adapter measured, chosen on gospel, the gated leak within the issue's quarter."""
    docs = (BENCHMARKS.parent / "docs" / "fine_tuning.md").read_text(encoding="utf-8")
    report = json.loads((BENCHMARKS.parent / "docs" / "benchmarks" / "styles_gate.json").read_text(encoding="utf-8"))
    assert f"<!-- styles-gate-table -->\n{script['table'](report)}<!-- /styles-gate-table -->" in docs
    assert report["chosen_on"] == "gospel" and {name.split("/")[0] for name in report["runs"]} == {
        "gospel",
        "calypso",
        "bass_choir",
    }
    assert all(run["gated"]["leak"]["leak_ratio"] <= 0.25 for run in report["runs"].values())


def test_the_docs_quote_the_gate_at_finetune_loras_default(script):
    """The gate on the adapters of finetune-lora's default (the key alone hidden in half the rows), every style and
    the kept-apart one: docs/fine_tuning.md quotes the report's tables, each gated share at least half the way and each
    gated leak within the issue's quarter."""
    docs = (BENCHMARKS.parent / "docs" / "fine_tuning.md").read_text(encoding="utf-8")
    path = BENCHMARKS.parent / "docs" / "benchmarks" / "styles_gate_key_only.json"
    report = json.loads(path.read_text(encoding="utf-8"))
    table = script["table"](report)
    assert f"<!-- styles-gate-key-only-table -->\n{table}<!-- /styles-gate-key-only-table -->" in docs
    assert set(report["runs"]) == {f"{style}/key_only" for style in ("bass_choir", "gospel", "calypso", "harp_five")}
    adapters = script["DEFAULT_ADAPTERS"]
    assert all(adapters[tuple(name.split("/"))][3] == "controls_each_key_only" for name in report["runs"])
    assert all(run["gated"]["leak"]["leak_ratio"] <= 0.25 for run in report["runs"].values())
    assert all(run["gated"]["style"]["share_of_the_way_to_the_style_set"] >= 0.5 for run in report["runs"].values())
