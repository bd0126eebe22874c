"""Smoke test of benchmarks/long_songs.py on a tiny random dual-track model: songs of three windows are planned by
their section tags and generated in one batch, read window by window (tempo, key, vocal stem) and section by section
(voice, words heard against the chance level), their window edges compared with the inside of windows, and the cost
runs cut into the windows the settings ask for; a rerun on the same songs folder analyses the kept songs again
without generating.  Timings and the readings' values are not asserted (random weights)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from songgen_hf.testing import save_tiny_checkpoint

from .run_script import run_benchmark

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "long_songs.py"
# 150 frames per window (3 s at 50 Hz), 45 of them context: 7.2 s is windows 0-3, 2.1-5.1 and 4.2-7.2 s (a song
# this short sings a line per verse and chorus, within what its length can sing)
TINY = ["--prompts", "2", "--seconds", "7.2", "--window-s", "3", "--context-s", "0.9", "--seam-s", "0.2"]
COST = ["--cost-seconds", "3.6", "6"]


def _run(*arguments: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    command = [sys.executable, str(SCRIPT), "--threads", "1", *arguments]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("long_songs")
    model = save_tiny_checkpoint(tmp / "model", track_pattern="parallel_stream2", use_voice_encoder=False)
    common = ["--model", str(model), "--threads", "1", *TINY, *COST, "--notes", "--songs", str(tmp / "songs")]
    # in this process: the reports are what is asserted, and a fresh interpreter per run would only add its imports
    assert run_benchmark("long_songs", *common, "--json", str(tmp / "first.json"))[0] == 0
    assert run_benchmark("long_songs", *common, "--json", str(tmp / "again.json"))[0] == 0
    return json.loads((tmp / "first.json").read_text()), json.loads((tmp / "again.json").read_text())


def test_songs_are_read_window_by_window(reports):
    report, _ = reports
    assert report["benchmark"] == "long_songs" and report["commit"]
    songs = report["songs"]
    # each song in its own windows, cut where its sections change (its second verse and chorus return, its bridge
    # has a note): more than the three a regular layout takes, each within the 3 s window, the last ending the song
    assert songs["window_layout"] == "cut at the sections where the music changes" and songs["repeat_sections"]
    for ends in songs["window_ends_s"]:
        assert len(ends) > 3 and ends[-1] == pytest.approx(7.2) and ends == sorted(set(ends))
        assert ends[0] <= 3.0 and all(b - (a - 0.9) <= 3.0 + 1e-9 for a, b in zip(ends, ends[1:]))
    assert songs["windows_per_song"] == [len(ends) for ends in songs["window_ends_s"]]
    assert songs["reused_from_songs_folder"] is False
    assert len(report["prompts"]) == 2 and len(report["per_song_windows"]) == 2
    assert all("[bridge: half as busy, at " in prompt["lyrics"] for prompt in report["prompts"])
    for windows, count in zip(report["per_song_windows"], songs["windows_per_song"]):
        assert len(windows) == count
        assert "tempo_vs_first_rel" not in windows[0]  # the first window is the reference
        for index, window in enumerate(windows):
            assert _finite(window["tempo_bpm"]) and window["tempo_bpm"] >= 0
            assert 0 <= window["key_mirex"] <= 1 and window["key_exact"] in (0.0, 1.0)
            assert 0 <= window["p_voice"] <= 1 and 0 <= window["voice_active_fraction"] <= 1
            if index:
                assert "tempo_acc1_vs_first" in window and "key_mirex_vs_first" in window
    steadiness = report["steadiness"]
    assert len(steadiness["per_window"]) == max(songs["windows_per_song"])
    assert steadiness["later_vs_first"]["key_mirex"]["later_windows"]["n"] == 2
    # choruses against a chorus and a verse, and the noted bridge's tempo, per song with intervals over songs
    for name in ("mfcc", "chroma"):
        likeness = report["choruses"][name]
        assert likeness["chorus_chorus"]["n"] == likeness["chorus_verse"]["n"] == 2
        assert -1 <= likeness["chorus_chorus"]["mean"] <= 1 and -1 <= likeness["chorus_verse"]["mean"] <= 1
    assert len(report["per_song_choruses"]) == len(report["per_song_seams"]) == 2  # for intervals over seeds
    noted = report["notes_at_sections"]
    assert noted["bridge_tempo_within_4pct_of_note"]["n"] == noted["bridge_tempo_within_4pct_of_song"]["n"] == 2


def test_the_second_chorus_is_read_beside_each_windows_tempo_and_key(reports):
    report, again = reports
    follow = report["chorus_follow"]
    assert "time-aligned constant-Q chroma" in follow["method"]
    # sections of about a second: nothing of a chorus lies 5 s in, so no song is measured, and it says so
    assert follow["songs_measured"] == 0 and follow["to_first_chorus"]["n"] == 0
    assert follow["accompaniment_stem"]["songs_measured"] == 0
    per_song = report["per_song"]
    assert [song["song"] for song in per_song] == [0, 1]
    for song, count in zip(per_song, report["songs"]["windows_per_song"]):
        for reading in (song["chorus_follow"], song["chorus_follow_accompaniment"]):  # the mix, the dual-track stem
            assert reading["follows_first_chorus"] is None and reading["seconds_compared"] == 0.0
        assert len(song["windows"]) == count
        assert set(song["windows"][0]) == {"tempo_bpm", "tempo_acc1", "key", "key_exact"}
    assert again["per_song"] == per_song
    assert report["settings"]["beat"] == "runs on across windows" and report["settings"]["repeat_whole_sections"]


def test_songs_are_read_section_by_section_as_planned(reports):
    report, again = reports
    sections = report["per_song_sections"]
    assert len(sections) == 2
    for song, prompt in zip(sections, report["prompts"]):
        kinds = [section["section"] for section in song]
        assert kinds == ["intro", "verse", "chorus", "bridge", "verse", "chorus", "outro"]
        assert [section["instrumental"] for section in song] == [not section["lines"] for section in song]
        assert song[0]["start_s"] == 0 and song[-1]["end_s"] == pytest.approx(7.2)
        assert all(a["end_s"] == b["start_s"] for a, b in zip(song, song[1:]))  # the sections tile the song
        for section in song:
            assert all(line in prompt["lyrics"] for line in section["lines"])
            assert 0 <= section["voice_active_fraction"] <= 1
            if section["instrumental"]:
                assert "heard" not in section and "word_recall" not in section
            else:
                assert 0 <= section["word_recall"] <= 1 and 0 <= section["word_recall_chance"] <= 1
    # two songs, each with its own lines: the chance level is each song's transcript against the other's lines
    assert sections[0][1]["lines"] != sections[1][1]["lines"]
    summary = report["sections"]
    assert summary["sung_by"] == "token model"  # a tiny model has no told singer
    assert summary["voice_active_fraction"]["sung_sections"]["n"] == 2
    assert summary["word_recall"]["recall"]["n"] == 2
    assert set(summary["word_recall"]["by_section_kind"]) == {"verse", "chorus"}
    assert again["per_song_sections"] == sections


def test_edges_against_inside_of_windows(reports):
    report, _ = reports
    edges = sum(count - 1 for count in report["songs"]["windows_per_song"])
    for statistic in ("spectral_flux", "token_js_bits", "level_dip_db"):
        seams = report["seams"][statistic]
        assert seams["n_songs"] == 2 and seams["n_edges"] == edges  # each later window's first frame
        assert 0 <= seams["edges_above_own_95th_percentile"]["mean"] <= 1
        low, high = seams["inside_scaled_spread_95"]
        assert low <= high and 0 <= seams["edges_within_spread"] <= 1
        assert seams["edge_mean_within_spread"] == (low <= seams["edge_scaled_mean"]["mean"] <= high)
        assert 0 <= seams["edge_percentile_among_inside"]["mean"] <= 1


def test_cost_runs_follow_the_windows(reports):
    report, _ = reports
    runs = report["cost"]["runs"]
    assert [run["seconds"] for run in runs] == [3.6, 6.0]
    assert [run["windows"] for run in runs] == [2, 3]
    # 180 frames: windows 0-150 and 105-180; 300 frames: 0-150, 105-255 and 210-300
    assert [run["frames_decoded_by_windows"] for run in runs] == [150 + 75, 150 + 150 + 90]
    for run in runs:
        assert run["audio_s"] == pytest.approx(run["seconds"])
        assert run["s_per_minute_of_song"] == pytest.approx(run["total_s"] * 60 / run["seconds"])
        assert run["peak_rss_mb"] is None or run["peak_rss_mb"] >= run["rss_start_mb"] > 0
    assert "s_per_minute" in report["cost"]["linear_fit_cpu"] and "s_per_minute" in report["cost"]["linear_fit_wall"]
    for run in runs:
        assert 0 < run["cpu_s"] and run["cpu_s_per_minute_of_song"] == pytest.approx(run["cpu_s"] * 60 / run["seconds"])


def test_rerun_reuses_the_kept_songs_and_cost(reports):
    first, again = reports
    assert again["songs"]["reused_from_songs_folder"] is True and again["cost"]["reused_from_songs_folder"] is True
    assert again["per_song_windows"] == first["per_song_windows"]
    assert again["cost"]["runs"] == first["cost"]["runs"]


def test_bad_arguments_are_refused_in_one_line(tmp_path):
    result = _run("--prompts", "0", "--json", str(tmp_path / "x.json"))
    assert result.returncode == 2 and "--prompts must be at least 1" in result.stderr
    assert not (tmp_path / "x.json").exists()


def _script():
    import importlib.util

    spec = importlib.util.spec_from_file_location("long_songs_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_prompt_set_run_in_parts_merges_into_the_whole_sets_report(reports, tmp_path):
    """--first-prompt takes a later stretch of the prompt set (the held-out half: 9-16 of 16); --merge summarises the
    parts' songs again as one run over all of them would."""
    script = _script()
    assert script.prompts(8, 120.0, "free", first=9) == script.prompts(16, 120.0, "free")[8:]
    report, _ = reports
    parts = []
    for first in (1, 2):  # the two songs as two one-song parts
        row = first - 1
        part = {
            **report,
            "settings": {**report["settings"], "prompts": 1, "first_prompt": first},
            "songs": {**report["songs"], "windows_per_song": report["songs"]["windows_per_song"][row : row + 1]},
            "prompts": report["prompts"][row : row + 1],
            "per_song": [{**report["per_song"][row], "song": 0}],
            "per_song_windows": report["per_song_windows"][row : row + 1],
            "per_song_seams": report["per_song_seams"][row : row + 1],
        }
        parts.append(part)
        (tmp_path / f"part{first}.json").write_text(json.dumps(part), encoding="utf-8")
    out = tmp_path / "merged.json"
    given = [str(tmp_path / "part2.json"), str(tmp_path / "part1.json")]  # in any order
    assert run_benchmark("long_songs", "--merge", *given, "--json", str(out))[0] == 0
    merged = json.loads(out.read_text())
    assert merged["steadiness"] == report["steadiness"] and merged["prompts"] == report["prompts"]
    assert merged["chorus_follow"] == report["chorus_follow"] and merged["seams"] == report["seams"]
    assert merged["settings"]["prompts"] == 2 and merged["settings"]["merged_parts"] == 2
    assert [row["song"] for row in merged["per_song"]] == [0, 1]
    # the per-window readings are kept once, in the parts the report names (in prompt order)
    assert merged["parts"] == ["part1.json", "part2.json"] and "per_song_windows" not in merged
    # parts of other settings, or that leave a gap, are refused
    with pytest.raises(ValueError, match="only --prompts and --first-prompt may differ"):
        script.merge_reports([parts[0], {**parts[1], "settings": {**parts[1]["settings"], "seed": 7}}])
    with pytest.raises(ValueError, match="gap or overlap at prompt 2"):
        script.merge_reports([parts[0], {**parts[1], "settings": {**parts[1]["settings"], "first_prompt": 3}}])
