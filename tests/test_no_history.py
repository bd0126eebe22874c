"""The product says what is true now: no work-log history in the package, the Space, the README or docs/.

History belongs in CHANGELOG.md and git; a comment, docstring or page that says "session 12 measured..." or
"issue #19's target" sends a reader to a diary they do not have.  CHANGELOG.md and tests/ are not scanned.
"""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCANNED = [
    "songgen_hf",
    "modeling",
    "pipelines",
    "space",
    "docs",
    "benchmarks",
    "recipes",
    "README.md",
    "model_card.md",
]
TEXT_SUFFIXES = {".py", ".md", ".txt", ".yaml", ".yml", ".toml", ".json", ".html", ".css", ".js", ".cfg", ".ini"}
HISTORY = re.compile(
    r"\b[Ss]essions? \d+"  # "session 12", "Sessions 43-44"
    r"|\b[Ss]ession-\d+"  # "the session-13 recipe"
    r"|\b[Ii]ssue #\d+"  # "issue #19"
    r"|(?<![\w/])#\d+'s\b"  # "#19's targets"
    r"|\bs\d+'s\b"  # "s46's figures"
)


def _scanned_files() -> list[Path]:
    files = []
    for name in SCANNED:
        path = ROOT / name
        candidates = [path] if path.is_file() else sorted(path.rglob("*"))
        files += [p for p in candidates if p.is_file() and p.suffix in TEXT_SUFFIXES and "__pycache__" not in p.parts]
    return files


def history_lines(text: str) -> list[tuple[int, str]]:
    return [(number, line.strip()) for number, line in enumerate(text.splitlines(), 1) if HISTORY.search(line)]


def test_the_pattern_finds_history_and_spares_ordinary_text():
    found = history_lines(
        "as session 12 measured\nSessions 43-44 probed\nissue #19's target\nthe session-13 fix\n"
        "s46's figures\n#21's targets"
    )
    assert [number for number, _ in found] == [1, 2, 3, 4, 5, 6]
    assert not history_lines("a session of training\nthe issue tracker\nuse #include\ncolour #a0a0a0\nsessions")


@pytest.mark.parametrize("area", SCANNED)
def test_no_history_in_the_product(area):
    offenders = []
    for path in _scanned_files():
        if path.relative_to(ROOT).parts[0] != area:
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        offenders += [f"{path.relative_to(ROOT)}:{number}: {line[:100]}" for number, line in history_lines(text)]
    assert not offenders, "history in the product (move it to CHANGELOG.md, or say what is true now):\n" + "\n".join(
        offenders[:40]
    )
