"""The README's LoRA section runs as written: its commands are read from README.md (between the
``lora-commands`` markers) and executed in a fresh folder, from songs to a trained adapter to a song."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf

README = Path(__file__).resolve().parents[2] / "README.md"
BLOCK = re.compile(r"<!-- lora-commands -->\s*```bash\n(?P<commands>.*?)```\s*<!-- /lora-commands -->", re.S)


def lora_commands() -> str:
    match = BLOCK.search(README.read_text(encoding="utf-8"))
    assert match, "README.md has no ```bash block between <!-- lora-commands --> and <!-- /lora-commands -->"
    return match["commands"]


@pytest.mark.skipif(
    not (shutil.which("fluidsynth") and shutil.which("espeak-ng")),
    reason="the synthetic songs need fluidsynth and espeak-ng (the README's test command installs them)",
)
def test_readme_lora_commands_run_as_written(tmp_path):
    commands = lora_commands()
    assert "songgen finetune-lora" in commands and "--model runs/my-lora/final" in commands
    bin_dir = str(Path(sys.executable).parent)  # `songgen` and `python` of this environment
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""), "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", commands], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    final = tmp_path / "runs" / "my-lora" / "final"
    assert json.loads((final / "songgen_adapter.json").read_text())["base_model"] == {"embedded": "songgen-tiny"}
    audio, rate = sf.read(tmp_path / "my_song.wav")
    assert rate == 16000 and 0 < len(audio) <= 2 * rate and abs(audio).max() > 0
    assert "LoRA adapter for songgen" in result.stdout  # songgen info on the adapter folder
    assert (tmp_path / "my-model" / "config.json").is_file() and not (
        tmp_path / "my-model" / "adapter_config.json"
    ).exists()
