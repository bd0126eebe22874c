"""A dotted constant the package names to its users (``songgen_hf.modeling.limits.MAX_LYRICS_CHARS`` in an error
message, a docstring or the docs) is one they can import."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NAMED = re.compile(r"\bsonggen_hf\.(?:[a-z_]+\.)*[A-Z][A-Z0-9_]+\b")


def test_every_named_constant_resolves():
    files = [*(ROOT / "docs").glob("*.md"), ROOT / "README.md"]
    for folder in ("songgen_hf", "modeling", "pipelines", "space"):
        files += sorted((ROOT / folder).rglob("*.py"))
    named = {match for path in files for match in NAMED.findall(path.read_text(encoding="utf-8"))}
    assert "songgen_hf.modeling.limits.MAX_LYRICS_CHARS" in named  # the error messages' own spelling is read
    missing = []
    for name in sorted(named):
        module, _, attribute = name.rpartition(".")
        if not hasattr(importlib.import_module(module), attribute):
            missing.append(name)
    assert not missing, f"named but not importable: {missing}"
