"""Smoke test of benchmarks/generate_many.py on a tiny random model: a prompt file of free-phrased rows made by
``songgen generate-many`` at two batch sizes, each run's songs counted from its metadata, the batch size the command
printed, songs per minute and the ratio to batch 1 reported.  Timings are not asserted (a shared machine)."""

from __future__ import annotations

import json

from songgen_hf.testing import save_tiny_checkpoint

from .run_script import run_benchmark


def test_the_benchmark_reports_songs_per_minute_per_setting(tmp_path):
    model = save_tiny_checkpoint(tmp_path / "model", "mixed_pro", use_voice_encoder=False)
    report = tmp_path / "report.json"
    arguments = ["--model", str(model), "--rows", "3", "--seconds", "0.5", "--batch-sizes", "1", "2"]
    code, printed = run_benchmark(
        "generate_many", *arguments, "--processes", "0", "--work", str(tmp_path / "work"), "--json", str(report)
    )
    assert code == 0, printed
    result = json.loads(report.read_text())
    settings = {(row["batch_size"], row["processes"]): row for row in result["settings"]}
    assert set(settings) == {(1, 1), (2, 1)}
    for (size, _), row in settings.items():
        assert row["songs"] == 3 and row["songs_per_minute_wall"] > 0 and row["songs_per_minute_generating"] > 0
        assert any(f"batch size {size}" in line for line in row["printed"])  # what the command chose, as it said
        assert row["padding_waste"] == 0.0  # songs of one length and seed: no batch runs past a song
    assert settings[(1, 1)]["ratio_to_batch_1_wall"] == 1.0
    assert (tmp_path / "work" / "prompts.jsonl").read_text().count("\n") == 3
    assert "songs/min" in printed
    # a rerun into its own folder replaces its own songs; a folder of someone else's files is refused, untouched
    code, printed = run_benchmark(
        "generate_many", *arguments[:6], "--batch-sizes", "1", "--processes", "0", "--work", str(tmp_path / "work")
    )
    assert code == 0, printed
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    code, printed = run_benchmark("generate_many", *arguments, "--processes", "0", "--work", str(mine))
    assert code != 0 and (mine / "notes.txt").read_text() == "mine" and sorted(mine.iterdir()) == [mine / "notes.txt"]
