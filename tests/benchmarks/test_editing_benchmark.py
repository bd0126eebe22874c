"""Smoke test of benchmarks/editing.py on a tiny random model: it edits songs and reports the joins' level change
against the song's own 99th percentile and the cost per edited second.  Timings are not asserted."""

from __future__ import annotations

import json

from songgen_hf.testing import save_tiny_checkpoint

from .run_script import run_benchmark


def test_editing_report(tmp_path):
    model = save_tiny_checkpoint(tmp_path / "model", "interleaving_A_V", use_voice_encoder=False)
    out = tmp_path / "editing.json"
    options = (
        "--songs",
        "2",
        "--seconds",
        "2",
        "--span",
        "0.8",
        "1.4",
        "--candidates",
        "2",
        "--threads",
        "1",
        "--listen",
    )
    code, printed = run_benchmark("editing", "--model", str(model), *options, "--json", str(out))
    assert code == 0
    report = json.loads(out.read_text())
    assert report["summary"]["songs"] == 2 and report["summary"]["all_outside_bit_identical"]
    for row in report["songs"]:
        assert len(row["edges_db"]) == 2 and row["song_p99_db"] >= 0 and row["edit_s_per_edited_s"] > 0
        assert len(row["continuation_scores_db"]) == 2 and row["chosen"] in (0, 1)
    assert "per edited second" in printed
    # --listen: the span's tempo and key against the asked ones, beside the original's same stretch, and the words
    summary = report["summary"]
    assert 0 <= summary["new_words_recall"] <= 1 and 0 <= summary["new_words_recall_chance"] <= 1
    for key in ("span_tempo_acc1", "original_stretch_tempo_acc1", "span_key_exact", "original_stretch_key_exact"):
        assert 0 <= summary[key] <= 1, key
    assert report["songs"][0]["asked_tempo_bpm"] == 120 and report["songs"][0]["asked_key"] == "C major"
