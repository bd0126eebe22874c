"""benchmarks/your_songs.py's setup without its hour of training and generating: the dry run prints the journey a
user runs (the style set, the corpus sample, the encode, one finetune-lora config per run with the documented
settings), bad arguments are refused by name, and the figures' helpers average seeds per prompt and pair systems."""

from __future__ import annotations

import json
import runpy

import pytest

from .run_script import BENCHMARKS, run_benchmark


def test_the_dry_run_prints_the_journey_and_its_configs(tmp_path):
    code, printed = run_benchmark("your_songs", "--work", str(tmp_path), "--dry-run", "--steps", "60")
    assert code == 0 and not any(tmp_path.iterdir())  # nothing run, nothing written
    lines = printed.splitlines()
    synth = [line for line in lines if line.startswith("$ songgen data synth")]
    assert len(synth) == 2 and "--style calypso" in synth[0] and "--style" not in synth[1]
    assert any(line.startswith("$ songgen data encode") and "--codec songgen-tiny" in line for line in lines)
    configs = {
        line.split()[1].rstrip(":"): json.loads(lines[i + 1]) for i, line in enumerate(lines) if "finetune-lora" in line
    }
    assert sorted(configs) == ["before", "r16"]
    r16, before = configs["r16"], configs["before"]
    # docs/fine_tuning.md's real run: batch 8 of 10 s bar-aligned crops; rank, targets and rate left at their defaults
    assert (r16["batch_size"], r16["max_frames"], r16["bar_aligned_crops"], r16["max_steps"]) == (8, 500, True, 60)
    assert not {"lora_r", "lora_targets", "learning_rate"} & set(r16)
    # the comparison: the decoder layers alone, at 2e-4, for 80 steps whatever --steps says
    assert "heads" not in before["lora_targets"] and (before["learning_rate"], before["max_steps"]) == (2e-4, 80)
    code, printed = run_benchmark("your_songs", "--work", str(tmp_path), "--dry-run", "--runs", "r16,no_objective,r4")
    lines = printed.splitlines()
    configs = {
        line.split()[1].rstrip(":"): json.loads(lines[i + 1]) for i, line in enumerate(lines) if "finetune-lora" in line
    }
    assert code == 0 and sorted(configs) == ["no_objective", "r16", "r4"] and configs["r4"]["lora_r"] == 4
    assert (
        configs["no_objective"]["description_dropout_prob"] == 0.0
        and not configs["no_objective"]["codebook_curriculum"]
    )


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--runs", "r4"], "--runs takes r16"),
        (["--runs", "r16,r99"], "--runs takes r16"),
        (["--weights", "0.5,nan"], "--weights must be finite"),
        (["--weights", "-1"], "--weights must be finite"),
        (["--weights", "x"], "--weights takes comma-separated numbers"),
        (["--seconds", "0"], "--seconds must be within"),
        (["--steps", "0"], "--steps and --save-steps must be positive"),
        (["--control-runs", "r4"], "--control-runs must be among --runs"),
        (["--curve-steps", "40,x"], "--curve-steps takes comma-separated step numbers"),
    ],
)
def test_bad_arguments_are_refused_by_name(tmp_path, capsys, arguments, message):
    code, _ = run_benchmark("your_songs", "--work", str(tmp_path), "--dry-run", *arguments)
    assert code == 2 and message in capsys.readouterr().err


def test_scores_are_averaged_per_prompt_and_paired_with_the_base():
    script = runpy.run_path(str(BENCHMARKS / "your_songs.py"), run_name="your_songs")
    # songs are ordered seed by seed: prompt i's songs are i and i + 16
    values = [float(i) for i in range(16)] + [float(i) + 2 for i in range(16)]
    assert script["per_prompt"](values, 16) == [i + 1.0 for i in range(16)]
    base, adapted = [0.2] * 16, [0.5] * 16
    entry = script["style_entry"](adapted, base, target=0.8)
    assert entry["minus_base"]["mean"] == pytest.approx(0.3) and entry["minus_base"]["ci95"] == pytest.approx(
        [0.3, 0.3]
    )
    assert entry["share_of_the_way_to_the_style_set"] == pytest.approx(0.5)


def test_the_docs_quote_the_reports_tables():
    """docs/fine_tuning.md's figures are the tables the scripts print from the reports in docs/benchmarks/."""
    docs = (BENCHMARKS.parent / "docs" / "fine_tuning.md").read_text(encoding="utf-8")
    reports = BENCHMARKS.parent / "docs" / "benchmarks"
    songs = runpy.run_path(str(BENCHMARKS / "your_songs.py"), run_name="your_songs")
    report = json.loads((reports / "your_songs.json").read_text(encoding="utf-8"))
    assert report["benchmark"] == "your_songs" and report["schema_version"] == 1 and report["commit"]
    assert f"<!-- your-songs-table -->\n{songs['markdown_tables'](report)}<!-- /your-songs-table -->" in docs
    memory = runpy.run_path(str(BENCHMARKS / "lora_memory.py"), run_name="lora_memory")
    runs = [json.loads((reports / f"lora_memory_{size}_cpu.json").read_text()) for size in ("tiny", "released")]
    assert f"<!-- lora-memory-table -->\n{memory['markdown_table'](runs)}<!-- /lora-memory-table -->" in docs
