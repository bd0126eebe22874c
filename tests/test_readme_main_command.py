"""The README's main command, as written: after the installs it generates a song with the embedded default."""

import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

README = Path(__file__).resolve().parents[1] / "README.md"


def _main_command() -> str:
    block = re.search(r"<!-- main-command -->\s*```bash\n(.*?)\n```\s*<!-- /main-command -->", README.read_text(), re.S)
    assert block, "README.md has no main-command block"
    return block.group(1).strip()


def test_main_command_installs_then_generates_a_song(tmp_path):
    steps = [step.strip() for step in _main_command().split("&&")]
    # the CPU build from PyTorch's own index: the default PyPI wheel pulls CUDA on Linux
    assert steps[0] == "pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu"
    assert steps[1].startswith("pip install")
    generate = shlex.split(steps[-1])
    assert generate[0] == "songgen" and generate[1] == "generate" and "--model" not in generate  # the default
    result = subprocess.run(
        [sys.executable, "-m", "songgen_hf.cli", *generate[1:]],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    output = Path(tmp_path, generate[generate.index("--output") + 1])
    audio, rate = sf.read(output)
    duration = float(generate[generate.index("--duration") + 1])
    # --duration is the song's length; --min-duration (when given) lets the model end it earlier
    shortest = float(generate[generate.index("--min-duration") + 1]) if "--min-duration" in generate else duration
    assert rate == 16000 and shortest - 0.02 <= len(audio) / rate <= duration + 0.02
    assert float(np.sqrt(np.mean(audio**2))) > 0.01
    assert re.search(r"wrote .*song\.wav: [0-9.]+ s of audio at 16000 Hz, generated in [0-9.]+ s", result.stdout)
