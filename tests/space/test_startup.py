"""The Space says it is starting before its imports (torch, transformers, the model's description) take their
seconds, so whoever runs ``python space/app.py`` sees at once that it is under way."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_space_says_it_is_starting_before_it_imports_torch():
    # -X importtime logs each import as it completes, on the same pipe as the print: their order is the run's
    process = subprocess.Popen(
        [sys.executable, "-X", "importtime", str(ROOT / "space" / "app.py")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    seen = []
    try:
        for line in process.stdout:
            seen.append(line.rstrip("\n"))
            if line.startswith("Starting the SongGen Space") or line.rstrip().endswith("| torch"):
                break
    finally:
        process.kill()
        process.communicate(timeout=60)
    assert seen and seen[-1].startswith("Starting the SongGen Space"), seen[-5:]
