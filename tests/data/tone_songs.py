"""A few seconds of tone "songs" (mix, vocals, accompaniment) for the data and training tests.

Quicker than the synthetic corpus (no FluidSynth/espeak-ng): each song is a sung-like tone
over a bass tone and noise, with the accompaniment stem deliberately a few codec frames short
so frame alignment has something to trim.
"""

import json
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

SAMPLING_RATE = 16000
ACCOMPANIMENT_SHORTFALL = 700  # samples: > 2 codec frames of 320
GENRES = ("pop", "rock", "jazz", "folk")
LYRICS = ("we run across the night", "hold me close tonight", "walking down the road", "la la la we go")


def write_tone_songs(
    folder, num_songs: int = 4, base_seconds: float = 1.0, step_seconds: float = 0.25, seed: int = 0
) -> Path:
    """Write the songs and ``manifest.jsonl`` (paths relative to it); return the manifest path."""
    folder = Path(folder)
    (folder / "audio").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    records = []
    for index in range(num_songs):
        samples = int(SAMPLING_RATE * (base_seconds + step_seconds * index))
        t = np.arange(samples) / SAMPLING_RATE
        pitch = rng.uniform(220, 440)
        vocals = 0.25 * np.sin(2 * np.pi * pitch * t + 3 * np.sin(2 * np.pi * 5 * t)) * (t > 0.2)
        accompaniment = 0.12 * np.sin(2 * np.pi * pitch / 4 * t) + 0.02 * rng.standard_normal(samples)
        accompaniment[samples - ACCOMPANIMENT_SHORTFALL :] = 0.0
        mix = vocals + accompaniment
        name = f"song{index}"
        sf.write(folder / "audio" / f"{name}_mix.wav", mix.astype(np.float32), SAMPLING_RATE)
        sf.write(folder / "audio" / f"{name}_vocals.wav", vocals.astype(np.float32), SAMPLING_RATE)
        sf.write(
            folder / "audio" / f"{name}_accompaniment.wav",
            accompaniment[: samples - ACCOMPANIMENT_SHORTFALL].astype(np.float32),
            SAMPLING_RATE,
        )
        records.append(
            {
                "id": name,
                "caption": f"a {GENRES[index % 4]} song with a bright voice",
                "lyrics": LYRICS[index % 4],
                "audio_path": f"audio/{name}_mix.wav",
                "vocal_path": f"audio/{name}_vocals.wav",
                "accompaniment_path": f"audio/{name}_accompaniment.wav",
                "vocal_energy": round(float(np.mean(vocals**2)) * 1e4, 3),
                "acc_energy": round(float(np.mean(accompaniment**2)) * 1e4, 3),
                "language": "en",
                "attributes": {"genre": GENRES[index % 4], "tempo_bpm": 90 + 10 * index},
                "clap_score": 0.1 * index,
            }
        )
    manifest = folder / "manifest.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return manifest


def save_tiny_codec(folder, seed: int = 0) -> Path:
    from songgen_hf import XCodecModel
    from songgen_hf.testing import tiny_xcodec_config

    torch.manual_seed(seed)
    XCodecModel(tiny_xcodec_config(teacher="mel")).save_pretrained(folder)
    return Path(folder)


def save_tiny_tokenizers(description_folder, lyrics_folder):
    from songgen_hf.testing import tiny_tokenizers

    description, lyrics = tiny_tokenizers()
    description.save_pretrained(str(description_folder))
    Path(lyrics_folder).mkdir(parents=True, exist_ok=True)
    lyrics.save_pretrained(lyrics_folder)
    return description, lyrics


def with_word_timing(encoded_folder, output_folder) -> str:
    """A copy of an encoded folder whose rows say when each lyric word is sung (0.08 s every 0.1 s), in the
    synthetic corpus's ``syllables`` / ``note_onsets_s`` / ``note_durations_s`` attributes."""
    import datasets

    def timing(row):
        attributes = json.loads(row["attributes"])
        words = row["lyrics"].split()
        attributes.update(
            syllables=words, note_onsets_s=[0.1 * i for i in range(len(words))], note_durations_s=[0.08] * len(words)
        )
        return {"attributes": json.dumps(attributes)}

    encoded_folder, output_folder = Path(encoded_folder), Path(output_folder)
    if not output_folder.exists():
        datasets.load_from_disk(str(encoded_folder)).map(timing).save_to_disk(str(output_folder))
        (output_folder / "encoding.json").write_text((encoded_folder / "encoding.json").read_text())
    return str(output_folder)
