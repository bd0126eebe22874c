"""The README's figures table is the one ``benchmarks/figures.py`` generates from the measurements it quotes."""

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _figures():
    spec = importlib.util.spec_from_file_location("figures", ROOT / "benchmarks" / "figures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_table_equals_the_generated_one():
    figures = _figures()
    assert figures.readme_table((ROOT / "README.md").read_text(encoding="utf-8")) == figures.table()
    assert figures.main(["--check"]) == 0


def test_the_table_quotes_the_main_job_json(tmp_path, monkeypatch):
    """A figure changed in its JSON changes the table, and --check then fails until --write is run."""
    import json
    import shutil

    figures = _figures()
    for relative in ("docs/benchmarks", "docs/evaluation"):
        shutil.copytree(ROOT / relative, tmp_path / relative)
    (tmp_path / "README.md").write_text((ROOT / "README.md").read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.setattr(figures, "ROOT", tmp_path)
    monkeypatch.setattr(figures, "README", tmp_path / "README.md")
    main_job = tmp_path / "docs" / "benchmarks" / "main_job.json"
    data = json.loads(main_job.read_text())
    main_job.write_text(json.dumps({**data, "median_total_s": 12.345}))
    assert "| 12.35 s |" in figures.table()
    assert figures.main(["--check"]) == 1
    assert figures.main(["--write"]) == 0 and figures.main(["--check"]) == 0
    assert "| 12.35 s |" in (tmp_path / "README.md").read_text(encoding="utf-8")


def test_a_readme_without_the_markers_is_named(tmp_path):
    with pytest.raises(ValueError, match="<!-- figures -->"):
        _figures().readme_table("# no table here\n")


def test_the_whole_song_paragraph_quotes_its_time_and_the_singers_share_from_the_benchmark():
    """The README's whole-song paragraph says how long its 2-minute song takes and how much of it is the told
    singer, as ``docs/benchmarks/song_stages.json`` measured it (the figures table quotes the same file)."""
    import json

    figures = _figures()
    song = json.loads((ROOT / "docs" / "benchmarks" / "song_stages.json").read_text(encoding="utf-8"))
    assert song["song"]["seconds"] == 120 and song["song"]["model"] == "songgen-tiny"
    assert song["progress_lines"][-1] == "decoding audio" and "singing: window 1/" in " ".join(song["progress_lines"])
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("**A whole song.**") : readme.index("**Pipeline.**")]
    paragraph = " ".join(section.split())
    quoted = f"On {figures.whole_song_cores(song)} it takes {figures.whole_song_time(song)}"
    assert quoted in paragraph and "docs/benchmarks/song_stages.json" in paragraph
    assert figures.whole_song_time(song) in figures.table()
