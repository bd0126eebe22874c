"""Every Python block of the README, and of the inference and model pages it links to, runs as written.

Each fenced ``python`` block is executed in its own fresh interpreter, in an empty folder, offline:
exactly what a reader who pastes it into a file gets.  A block that names no model uses the
embedded default, so nothing is downloaded.  A block that names the released SongGen models by Hub id
runs against a Hub cache on disk, in huggingface_hub's own layout, that holds tiny random-weight
checkpoints under those ids in the official layouts (tests/conversion/hub_cache_builder.py): the real
resolution and conversion code runs, only the sizes are small.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
# the pages whose blocks a reader pastes to generate; docs/synthetic_corpus.md's block renders 5 000 songs
DOCUMENTS = [README, ROOT / "docs" / "inference.md", ROOT / "docs" / "released_models.md"]
PLACEHOLDERS = re.compile(r"path/to/|<[a-z_ ]+>|\.\.\.\)|YOUR_", re.IGNORECASE)


def _python_blocks(document: Path = README) -> list[tuple[int, str]]:
    """``(line number, code)`` of every fenced python block of ``document``."""
    text = document.read_text(encoding="utf-8")
    return [
        (text.count("\n", 0, match.start()) + 1, match.group(1))
        for match in re.finditer(r"^```python\n(.*?)^```$", text, re.S | re.M)
    ]


def _all_blocks() -> list[tuple[str, int, str]]:
    return [(path.relative_to(ROOT).as_posix(), *block) for path in DOCUMENTS for block in _python_blocks(path)]


RELEASED_IDS = re.compile(r"LiuZH-19/SongGen_")


@pytest.fixture(scope="module")
def released_hub_cache(official_hub):
    return official_hub["cache"]


def test_the_readme_has_python_blocks():
    assert len(_python_blocks()) >= 2


@pytest.mark.parametrize(
    "document, line, code", [pytest.param(*block, id=f"{block[0]}:line{block[1]}") for block in _all_blocks()]
)
def test_python_block_runs_as_written(document, line, code, tmp_path, request):
    assert not PLACEHOLDERS.search(code), f"{document} line {line}: the block holds a placeholder"
    script = tmp_path / "block.py"
    script.write_text(code, encoding="utf-8")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    if RELEASED_IDS.search(code):
        env.update(
            HF_HUB_CACHE=str(request.getfixturevalue("released_hub_cache")),
            SONGGEN_HF_CACHE=str(tmp_path / "converted"),
        )
    result = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, f"{document} line {line} failed:\n{result.stderr[-3000:]}"
