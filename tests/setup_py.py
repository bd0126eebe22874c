"""What the packaging tests read from setup.py: the keywords it passes to ``setup()``, and distribution names."""

from __future__ import annotations

import re
import runpy
from pathlib import Path
from unittest import mock

import setuptools

ROOT = Path(__file__).resolve().parents[1]


def canonical_name(requirement: str) -> str:
    """The canonical distribution name a requirement line or distribution starts with (``Foo_bar>=1``: foo-bar)."""
    return re.sub(r"[-_.]+", "-", re.match(r"[A-Za-z0-9._-]+", requirement).group(0)).lower()


def setup_keywords() -> dict:
    """The keywords setup.py passes to ``setup()``, read by running it with ``setup()`` captured (nothing built)."""
    captured: dict = {}
    with mock.patch.object(setuptools, "setup", lambda **kwargs: captured.update(kwargs)):
        runpy.run_path(str(ROOT / "setup.py"), run_name="__main__")
    return captured
