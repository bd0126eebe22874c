"""What a fresh interpreter loads, stage by stage: ``import songgen_hf`` (and what it prints), then the CLI's parser,
then the evaluation modules.  The stages only add imports, so each stage's list is what a process that stopped
there holds, and one interpreter answers several tests (the package's import is most of a fresh interpreter's
cost).  Cached per test process."""

from __future__ import annotations

import functools
import json
import subprocess
import sys

MARK = "=== end of import songgen_hf ==="
WATCHED = ("datasets", "pandas", "scipy.signal", "songgen_hf.data.synth.corpus", "librosa", "mir_eval", "numba")

_PROBE = f"""
import sys
import songgen_hf
print({MARK!r}, flush=True)
print({MARK!r}, file=sys.stderr, flush=True)
import json

def loaded():
    return sorted(m for m in {WATCHED!r} if m in sys.modules)

stages = {{"import songgen_hf": loaded()}}
from songgen_hf.commands.cli import build_parser
build_parser()
stages["build_parser()"] = loaded()
import songgen_hf.evaluation.metrics, songgen_hf.evaluation.runner
stages["evaluation"] = loaded()
print(json.dumps(stages))
"""


@functools.lru_cache(maxsize=1)
def fresh_interpreter() -> dict:
    """``{"stdout": what import songgen_hf printed, "stderr": ..., "stages": {stage: watched modules loaded}}``."""
    done = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    stdout, _, rest = done.stdout.partition(MARK + "\n")
    stderr = done.stderr.partition(MARK + "\n")[0]
    return {"stdout": stdout, "stderr": stderr, "stages": json.loads(rest.strip().splitlines()[-1])}
