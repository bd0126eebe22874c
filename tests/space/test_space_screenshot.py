"""The Space in a real browser: benchmarks/space_screenshot.py with Debian's headless Chromium."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from unittest import mock

import pytest

from tests.benchmarks.run_script import run_benchmark

pytest.importorskip("gradio")

CHROMIUM = "/usr/bin/chromium"
SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "space_screenshot.py"


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is not installed (Debian package chromium)")
def test_screenshot_shows_the_main_controls(tmp_path):
    png, dom = tmp_path / "space.png", tmp_path / "space.html"
    # the script in this process (a fresh interpreter would only add its imports); the Space module it loads reads
    # SONGGEN_MODEL, which the script sets: the environment is put back afterwards
    with mock.patch.dict(os.environ):
        code, printed = run_benchmark(
            "space_screenshot", "--tiny", "--output", str(png), "--dom", str(dom), "--timeout", "30"
        )
    assert code == 0, printed
    summary = json.loads(printed[printed.index("{") :])
    assert summary["ok"] and summary["model_error"] is None
    assert summary["controls"] == {
        "description": True,
        "lyrics": True,
        "generate button": True,
        "reference voice upload": True,
    }
    assert summary["screenshot_size"] == [1280, 1600] and png.stat().st_size > 10_000
    assert "Generate" in dom.read_text()
    print(f"\nspace screenshot: {summary['seconds']} s, {png.stat().st_size} bytes")


def test_dom_check_ignores_the_inlined_config():
    # Gradio inlines every label into a <script>; an unrendered page must not pass.
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        from space_screenshot import rendered_controls
    finally:
        sys.path.remove(str(SCRIPT.parent))
    unrendered = (
        '<html><script>window.gradio_config = {"label": "Description", "value": "Generate Lyrics"}</script></html>'
    )
    assert not any(rendered_controls(unrendered, expect_voice=False).values())
