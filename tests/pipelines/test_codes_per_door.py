"""The songs for each seed stay as they are: every token pattern through every front door (the pipeline, a long
song and a batch through it, ``songgen generate``, ``songgen generate-many``, ``stream_song`` and the Space's
callback), each song's samples digested and compared with the digests recorded on this machine before the front
doors were rewired (``data/codes_per_door.json``; ``SONGGEN_RECORD_DOORS=1`` records them).  Digests are exact, so
they are kept per machine (torch's version, the CPU's vector unit and the thread count): on another machine the
test records nothing and compares nothing but that the songs are songs."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import tempfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from songgen_hf.testing import save_tiny_checkpoint

RECORDS = Path(__file__).parent / "data" / "codes_per_door.json"
PATTERNS = ("mixed", "mixed_pro", "parallel_std", "interleaving_A_V", "mixed_stream2")
DESCRIPTION = "an upbeat pop song in c major at 120 bpm with drums, bass and a female voice"
LYRICS = "[verse]\nhold me close tonight\nthe stars are shining bright\n[chorus]\nla la la\nwe sing along"
SEED = 5
SECONDS = 1.0


def _machine() -> str:
    capability = torch.backends.cpu.get_cpu_capability()
    return f"torch {torch.__version__} {platform.machine()} {capability} threads {torch.get_num_threads()}"


def _digest(samples) -> str:
    array = np.ascontiguousarray(np.asarray(samples))
    return hashlib.sha256(array.tobytes()).hexdigest()[:16] + f":{array.size}"


def _int16(audio) -> np.ndarray:
    return np.rint(np.clip(np.asarray(audio, dtype=np.float64).reshape(-1), -1, 1) * 32767).astype(np.int16)


@pytest.fixture(scope="module")
def folders():
    # the tiny tokenizers are trained anew for each folder, not always alike: the folders the songs were recorded
    # with are kept (SONGGEN_DOORS_FOLDERS, else a folder of the machine's temporary files) and reused
    root = Path(os.environ.get("SONGGEN_DOORS_FOLDERS", "") or tempfile.gettempdir())
    root = root / "songgen-codes-per-door"
    made = {}
    for pattern in PATTERNS:
        folder = root / pattern
        if not (folder / "model.safetensors").is_file():
            save_tiny_checkpoint(folder, track_pattern=pattern, use_voice_encoder=False)
        made[pattern] = str(folder)
    return made


def _window(folder: str) -> float:
    from transformers import AutoConfig

    import songgen_hf  # noqa: F401  (registers the model type)
    from songgen_hf.modeling.songgen.windows_songgen import max_duration_s

    return max_duration_s(AutoConfig.from_pretrained(folder))


def _pipeline_songs(folder: str) -> dict[str, str]:
    from transformers import pipeline

    import songgen_hf  # noqa: F401  (registers the task)

    pipe = pipeline("text-to-song", model=folder)
    song = {"description": DESCRIPTION, "lyrics": LYRICS}
    short = pipe(song, duration_s=SECONDS, seed=SEED, guidance_scale=3.0, top_k=50)
    long_s = round(_window(folder) * 1.3, 2)
    long = pipe(song, duration_s=long_s, seed=SEED)
    batch = pipe([song, "a calm piano piece"], duration_s=SECONDS, seed=SEED, batch_size=2)
    songs = {"pipeline": _digest(_int16(short["audio"])), "pipeline_long": _digest(_int16(long["audio"]))}
    songs["pipeline_batch"] = ",".join(_digest(_int16(item["audio"])) for item in batch)
    return songs


def _cli(folder: str, tmp_path: Path) -> str:
    from songgen_hf.commands.cli import main

    output = tmp_path / "cli.wav"
    argv = ["generate", "--model", folder, "--description", DESCRIPTION, "--lyrics", LYRICS]
    argv += ["--duration", str(SECONDS), "--seed", str(SEED), "--no-progress", "--output", str(output)]
    assert main(argv) == 0
    return _digest(sf.read(output, dtype="int16")[0])


def _generate_many(folder: str, tmp_path: Path) -> str:
    from songgen_hf.commands.cli import main

    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(json.dumps({"description": DESCRIPTION, "lyrics": LYRICS, "seed": SEED}) + "\n")
    output = tmp_path / "many"
    argv = ["generate-many", str(prompts), "--output", str(output), "--model", folder]
    assert main([*argv, "--duration", str(SECONDS), "--quiet"]) == 0
    (song,) = [path for path in output.glob("*.wav") if not path.name.startswith(".")]
    return _digest(sf.read(song, dtype="int16")[0])


def _stream(folder: str) -> str:
    from songgen_hf.modeling.songgen import SongGenForConditionalGeneration
    from songgen_hf.modeling.songgen.processing_songgen import SongGenProcessor
    from songgen_hf.modeling.songgen.quantization import precision_kwargs
    from songgen_hf.pipelines import stream_song

    model = SongGenForConditionalGeneration.from_pretrained(folder, **precision_kwargs(folder, "cpu", None)).eval()
    processor = SongGenProcessor.from_pretrained(folder)
    chunks = stream_song(model, processor, DESCRIPTION, LYRICS, duration_s=SECONDS, seed=SEED, progress=False)
    return _digest(_int16(np.concatenate([chunk for _, chunk in chunks])))


def _space(folder: str, pattern: str) -> str | None:
    pytest.importorskip("gradio")
    from tests.space.test_app import _import_app

    app = _import_app(f"songgen_space_doors_{pattern}", folder, "0")
    *_, last = app.generate_song(DESCRIPTION, LYRICS, 3.0, 1.0, 50, SEED, SECONDS)
    return _digest(np.asarray(last[1][1]).reshape(-1))


@pytest.mark.parametrize("pattern", PATTERNS)
def test_every_door_makes_the_recorded_song(folders, pattern, tmp_path):
    folder = folders[pattern]
    songs = _pipeline_songs(folder)
    songs["cli"] = _cli(folder, tmp_path)
    songs["generate_many"] = _generate_many(folder, tmp_path)
    songs["stream_song"] = _stream(folder)
    songs["space"] = _space(folder, pattern)
    for door, digest in songs.items():  # songs, not silence or nothing
        assert digest and not digest.endswith(":0"), door
    records = json.loads(RECORDS.read_text()) if RECORDS.is_file() else {}
    machine = _machine()
    if os.environ.get("SONGGEN_RECORD_DOORS") == "1":
        records.setdefault(machine, {})[pattern] = songs
        RECORDS.parent.mkdir(exist_ok=True)
        RECORDS.write_text(json.dumps(records, indent=1, sort_keys=True) + "\n")
        return
    recorded = records.get(machine, {}).get(pattern)
    if recorded is None:
        pytest.skip(f"no songs recorded on this machine ({machine})")
    assert songs == recorded
