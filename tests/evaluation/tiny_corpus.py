"""A tiny synthetic corpus with the fields ``songgen evaluate`` reads, written in well under a second.

Quicker than ``songgen data synth`` (no FluidSynth or espeak-ng): each clip is a I-IV-V-I
progression of harmonic tones in its key, optional noise-burst drums on the beat and a "sung"
line of tone bursts on eighth notes, with the ground truth recorded as the synthesizer would.
"""

import json
from pathlib import Path

import numpy as np
import soundfile as sf

from songgen_hf.modeling.music import PITCH_CLASS_NAMES
from songgen_hf.testing import SAMPLE_DESCRIPTIONS, SAMPLE_LYRICS

SAMPLING_RATE = 16000
TONICS = (0, 7, 2, 9, 4, 5)
TEMPI = (90.0, 100.0, 110.0, 120.0, 130.0)


def _tone(frequency: float, seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * SAMPLING_RATE)) / SAMPLING_RATE
    return sum(np.sin(2 * np.pi * frequency * h * t) / h**2 for h in range(1, 5)) * np.exp(-t)


def _hz(midi: float) -> float:
    return 440.0 * 2.0 ** ((midi - 69) / 12)


def _clip(index: int, seconds: float):
    rng = np.random.default_rng(index)
    tonic, mode = TONICS[index % len(TONICS)], ("major", "minor")[index % 2]
    tempo, drums = TEMPI[index % len(TEMPI)], index % 4 < 2
    third = 4 if mode == "major" else 3
    samples = int(seconds * SAMPLING_RATE)
    chord_seconds = seconds / 4
    accompaniment = np.concatenate(
        [
            _tone(_hz(48 + tonic + root), chord_seconds)
            + sum(_tone(_hz(60 + tonic + root + step), chord_seconds) for step in (0, third if root == 0 else 4, 7))
            for root in (0, 5, 7, 0)
        ]
    )[:samples]
    accompaniment = np.pad(accompaniment, (0, samples - len(accompaniment))) * 0.05
    if drums:
        for beat in np.arange(0, seconds, 60 / tempo):
            start = int(beat * SAMPLING_RATE)
            length = min(800, samples - start)
            accompaniment[start : start + length] += (
                0.3 * rng.standard_normal(length) * np.exp(-np.arange(length) / 150)
            )
    vocals = np.zeros(samples)
    onsets, spacing = [], 30 / tempo
    scale = (0, 2, third, 5, 7)
    for number, onset in enumerate(np.arange(0.25, seconds - spacing, spacing)):
        start, length = int(onset * SAMPLING_RATE), int(0.8 * spacing * SAMPLING_RATE)
        note = _hz(72 + tonic + scale[number % len(scale)])
        vocals[start : start + length] += 0.12 * _tone(note, length / SAMPLING_RATE) * np.hanning(length)
        onsets.append(round(float(onset), 5))
    attributes = {
        "key": PITCH_CLASS_NAMES[tonic],
        "mode": mode,
        "tempo_bpm": tempo,
        "genre": "pop",
        "drums": drums,
        "instruments": [{"role": "chords", "family": "Piano"}],
        "vocal_gender": "female",
        "num_syllables": len(onsets),
        "note_onsets_s": onsets,
    }
    return vocals + accompaniment, vocals, accompaniment, attributes


def write_tiny_corpus(folder, num_train: int = 8, num_test: int = 3, seconds: float = 2.0) -> tuple[Path, Path]:
    """Write ``train.jsonl`` and ``test.jsonl`` (paths relative to ``folder``); return both paths."""
    folder = Path(folder)
    (folder / "audio").mkdir(parents=True, exist_ok=True)
    manifests = {}
    for split, start, count in (("train", 0, num_train), ("test", num_train, num_test)):
        records = []
        for index in range(start, start + count):
            mix, vocals, accompaniment, attributes = _clip(index, seconds)
            name = f"tiny-{split}-{index:03d}"
            for stem, audio in (("mix", mix), ("vocals", vocals), ("accompaniment", accompaniment)):
                sf.write(folder / "audio" / f"{name}_{stem}.wav", audio.astype(np.float32), SAMPLING_RATE)
            records.append(
                {
                    "id": name,
                    "caption": SAMPLE_DESCRIPTIONS[index % len(SAMPLE_DESCRIPTIONS)],
                    "lyrics": SAMPLE_LYRICS[index % len(SAMPLE_LYRICS)],
                    "audio_path": f"audio/{name}_mix.wav",
                    "vocal_path": f"audio/{name}_vocals.wav",
                    "accompaniment_path": f"audio/{name}_accompaniment.wav",
                    "duration": seconds,
                    "sampling_rate": SAMPLING_RATE,
                    "split": split,
                    "attributes": attributes,
                }
            )
        manifests[split] = folder / f"{split}.jsonl"
        manifests[split].write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
    return manifests["train"], manifests["test"]


def tiny_evaluation_workspace(root: Path) -> dict:
    """A tiny corpus (8 train, 3 test clips) and a tiny saved SongGen under ``root``, as `songgen evaluate` tests
    use."""
    from songgen_hf.testing import save_tiny_checkpoint

    train, test = write_tiny_corpus(root / "corpus", num_train=8, num_test=3)
    model = save_tiny_checkpoint(root / "model", use_voice_encoder=False)
    return {"root": root, "train": train, "test": test, "model": model}


def evaluate_argv(workspace: dict, output, *extra: str) -> list[str]:
    """``songgen evaluate`` on ``workspace``'s test split and model, kept small (2 prompts of 1 s, batches of 2)."""
    return [
        "evaluate",
        str(workspace["test"]),
        "--output",
        str(output),
        "--model",
        str(workspace["model"]),
        "--num-prompts",
        "2",
        "--max-duration",
        "1",
        "--batch-size",
        "2",
        "--no-progress",
        *extra,
    ]
