"""The distribution installs modeling/ and pipelines/ inside the songgen_hf import root."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import songgen_hf

ROOT = Path(__file__).resolve().parents[1]


def test_editable_import_paths():
    import songgen_hf.modeling
    import songgen_hf.pipelines

    assert Path(songgen_hf.modeling.__file__).parent == ROOT / "modeling"
    assert Path(songgen_hf.pipelines.__file__).parent == ROOT / "pipelines"
    from songgen_hf import XCodecConfig, XCodecModel  # noqa: F401  (public API)


def test_every_source_folder_is_a_package():
    """find_packages skips folders without __init__.py, which would silently drop them from the wheel."""
    for root in ("songgen_hf", "modeling", "pipelines"):
        for folder in (ROOT / root).rglob("*"):
            if folder.is_dir() and folder.name != "__pycache__" and any(folder.glob("*.py")):
                assert (folder / "__init__.py").is_file(), folder


@pytest.mark.slow
def test_built_wheel_contains_the_mapped_packages(tmp_path):
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(ROOT),
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("songgen_hf-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for expected in [
        "songgen_hf/__init__.py",
        "songgen_hf/commands/cli.py",
        "songgen_hf/modeling/__init__.py",
        "songgen_hf/modeling/xcodec/modeling_xcodec.py",
        "songgen_hf/modeling/patterns.py",
        "songgen_hf/pipelines/__init__.py",
        "songgen_hf/data/synth/corpus.py",
        "songgen_hf/training/songgen_trainer.py",
        "songgen_hf/training/codec_trainer.py",
        "songgen_hf/conversion/songgen_official.py",
        "songgen_hf/modeling/songgen/processing_songgen.py",
        "songgen_hf/modeling/songgen/generation_songgen.py",
        "songgen_hf/pipelines/text_to_song.py",
        "songgen_hf/templates/model_card.md",  # package data: the model card's template
    ]:
        assert expected in names, expected
    assert not any(name.startswith(("modeling/", "pipelines/", "tests/")) for name in names)
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "songgen = songgen_hf.commands.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_version_is_exposed():
    assert songgen_hf.__version__
