"""Songs folders for the ``songgen data prepare`` tests, made from the synthetic corpus.

The pipeline sees mixes only (in assorted formats, rates and channel counts, as a user's folder
would hold); the tests keep the corpus's stems, note onsets and lyrics as the ground truth.
Mixes are remixed with the accompaniment ``ACCOMPANIMENT_DB`` (20 dB) below the vocals so that the
pass-through "separator" (vocals = mix) leaves VAD and lyrics something to find: the tiny random
models cannot separate, and no real separation weights can be downloaded in CI.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from songgen_hf.data.audio import load_audio, resample

ACCOMPANIMENT_DB = -20.0
# (suffix, rate, channels): what a user's folder holds
FORMATS = ((".wav", 16000, 1), (".flac", 44100, 2), (".ogg", 22050, 1), (".mp3", 44100, 2))

needs_synth_tools = pytest.mark.skipif(
    not (shutil.which("fluidsynth") and shutil.which("espeak-ng")),
    reason="the synthetic songs need fluidsynth and espeak-ng (the README's test command installs them)",
)


def synth_corpus(
    folder: Path, num_songs: int, seed: int = 0, min_duration: float = 8.0, max_duration: float = 10.0
) -> list[dict]:
    command = [
        sys.executable,
        "-m",
        "songgen_hf.cli",
        "data",
        "synth",
        "--output",
        str(folder),
        "--num-clips",
        str(num_songs),
        "--seed",
        str(seed),
        "--min-duration",
        str(min_duration),
        "--max-duration",
        str(max_duration),
        "--workers",
        "1",
        "--no-progress",
    ]
    subprocess.run(command, check=True, capture_output=True, text=True, timeout=300)
    return [json.loads(line) for line in (folder / "manifest.jsonl").read_text().splitlines()]


def remix(corpus: Path, record: dict, accompaniment_db: float = ACCOMPANIMENT_DB) -> np.ndarray:
    vocals = load_audio(corpus / record["vocal_path"], 16000)
    accompaniment = load_audio(corpus / record["accompaniment_path"], 16000)
    return (vocals + accompaniment * 10 ** (accompaniment_db / 20)).astype(np.float32)


def write_songs(
    corpus: Path, records: list[dict], songs: Path, lyrics: bool = False, accompaniment_db: float = ACCOMPANIMENT_DB
) -> dict[str, dict]:
    """One mix per record in ``songs`` (formats cycle through FORMATS); returns {song id: record}."""
    songs.mkdir(parents=True, exist_ok=True)
    by_id = {}
    for index, record in enumerate(records):
        suffix, rate, channels = FORMATS[index % len(FORMATS)]
        mix = resample(remix(corpus, record, accompaniment_db), 16000, rate)
        audio = np.stack([mix] * channels, axis=1) if channels > 1 else mix
        name = f"song{index}"
        sf.write(songs / f"{name}{suffix}", 0.5 * audio / np.abs(audio).max(), rate)
        if lyrics:
            (songs / f"{name}.txt").write_text("[verse]\n" + record["lyrics"] + "\n", encoding="utf-8")
        by_id[name] = record
    return by_id


def sung_words(record: dict) -> list[tuple[str, float]]:
    """(word, onset s) of a synthetic song: the lyric words in order, each at its first syllable's note."""
    from songgen_hf.modeling import music as lyrics

    classes = [words for parts in lyrics.THEMES.values() for words in parts.values()]
    classes += [lyrics.PRONOUNS, lyrics.PREPOSITIONS, lyrics.TIME_WORDS, lyrics.FILLERS]
    syllables = {word.text.lower(): len(word.syllables) for words in classes for word in words}
    onsets = record["attributes"]["note_onsets_s"]
    out, note = [], 0
    for word in record["lyrics"].split():
        key = word.lower().strip(".,!?")
        out.append((word, onsets[min(note, len(onsets) - 1)]))
        note += syllables.get(key, 1)
    return out
