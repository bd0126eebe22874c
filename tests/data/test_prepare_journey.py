"""The own-songs journey, end to end: ``songgen data prepare`` -> ``songgen data encode`` ->
``songgen finetune-lora`` -> ``songgen generate --model ADAPTER``, on synthetic songs (mixes only)
with tiny models, run as shell commands in a fresh folder.

The commands are docs/fine_tuning.md's "Fine-tune on your own songs" smoke block (between the
``prepare-commands`` markers); it must equal ``JOURNEY_COMMANDS`` below, so the documented commands are the
tested ones.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import soundfile as sf

from .prepare_songs import needs_synth_tools

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "fine_tuning.md"
BLOCK = re.compile(r"<!-- prepare-commands -->\s*```bash\n(?P<commands>.*?)```\s*<!-- /prepare-commands -->", re.DOTALL)

JOURNEY_COMMANDS = """\
# 1. Songs: your folder of mixes (any format; NAME.txt beside a song = its lyrics), or three synthetic ones
songgen data synth --output synth --num-clips 3 --min-duration 8 --max-duration 10 --workers 1 --no-progress
mkdir -p my_songs && cp synth/audio/*_mix.wav my_songs/
# 2. Tiny stand-in models (random weights; a pass-through "separator"), so this runs offline in a minute
python -m songgen_hf.data.prepare.tiny tiny_models
songgen data prepare my_songs --output my_corpus --separation-model tiny_models/passthrough \\
  --asr-model tiny_models/whisper --second-asr-model tiny_models/whisper2 --clap-model tiny_models/clap \\
  --max-edit-distance 1 --min-clip-seconds 3 --target-clip-seconds 5 --max-clip-seconds 10 --no-progress
# 3. Codes with the base model's own codec (songgen-tiny = the embedded model), a LoRA adapter, a song with it
songgen data encode my_corpus/manifest.jsonl --codec songgen-tiny --output my_corpus_encoded
cat > lora.yaml <<'EOF'
train_data: my_corpus_encoded
init_from: songgen-tiny
output_dir: runs/my-songs-lora
lora_r: 8
batch_size: 2
max_frames: 250
max_steps: 2
save_steps: 100
EOF
songgen finetune-lora lora.yaml
songgen generate --model runs/my-songs-lora/final \
--description "A song in A minor at 90 bpm, with instruments and vocals." \
--lyrics "hold me close tonight" --duration 1 --seed 0 --output my_song.wav
"""


def journey_commands() -> str:
    match = BLOCK.search(GUIDE.read_text(encoding="utf-8"))
    return match["commands"] if match else JOURNEY_COMMANDS


def test_the_guide_block_is_the_tested_one():
    match = BLOCK.search(GUIDE.read_text(encoding="utf-8"))
    assert match, f"{GUIDE} has no ```bash block between <!-- prepare-commands --> and <!-- /prepare-commands -->"
    assert match["commands"] == JOURNEY_COMMANDS


@needs_synth_tools
def test_prepare_encode_finetune_generate(tmp_path):
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""), "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", journey_commands()],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    records = [json.loads(line) for line in (tmp_path / "my_corpus" / "manifest.jsonl").read_text().splitlines()]
    assert records and all(r["vocal_path"] and r["lyrics"] for r in records)
    assert not list((tmp_path / "my_songs").glob("*_vocals.wav"))  # the pipeline saw mixes only
    info = json.loads((tmp_path / "my_corpus_encoded" / "encoding.json").read_text())
    assert info  # encoded
    final = tmp_path / "runs" / "my-songs-lora" / "final"
    assert (final / "adapter_model.safetensors").is_file()
    audio, rate = sf.read(tmp_path / "my_song.wav")
    assert rate == 16000 and 0 < len(audio) <= 2 * rate and abs(audio).max() > 0
