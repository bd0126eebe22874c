"""Listing audio files and cutting training segments from them (reading, writing and resampling one file:
:mod:`songgen_hf.utils.audio_io`).

soundfile reads every format libsndfile knows (WAV, FLAC, OGG, MP3 with libsndfile >= 1.1);
resampling uses a polyphase filter (scipy), which is exact for the rational ratios between
common rates.  Nothing here needs torchcodec or ffmpeg.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

# the data tools' names for the audio I/O that inference shares
from songgen_hf.utils.audio_io import load_audio, resample, resampling_ratio, write_audio  # noqa: F401

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif")


def list_audio_files(source: str | Path, audio_fields: tuple[str, ...] = ("audio_path",)) -> list[Path]:
    """Audio files of a folder (recursively) or of a JSONL manifest.

    A manifest line is a JSON object; each name in ``audio_fields`` that the record holds
    is a path, absolute or relative to the manifest's folder.
    """
    source = Path(source)
    if source.is_dir():
        files = sorted(p for p in source.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS)
    elif source.is_file() and source.suffix in (".jsonl", ".json"):
        from songgen_hf.data.manifest import read_manifest_rows  # local: the manifest module pulls in `datasets`

        files = []
        for record in read_manifest_rows(source):
            for field in audio_fields:
                if record.get(field):
                    path = Path(record[field])
                    files.append(path if path.is_absolute() else source.parent / path)
    else:
        raise ValueError(f"Training data {source} is neither a folder of audio files nor a .jsonl manifest.")
    if not files:
        raise ValueError(f"No audio found in {source} (looked for {', '.join(AUDIO_EXTENSIONS)} or {audio_fields}).")
    missing = [str(p) for p in files if not p.is_file()]
    if missing:
        raise ValueError(f"{len(missing)} audio files listed in {source} do not exist, e.g. {missing[:3]}.")
    return files


class EpochSeeded:
    """Draws that depend on (seed, epoch): the training loop calls ``set_epoch`` as each epoch begins, so a
    resumed run draws what an uninterrupted one would have drawn."""

    epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch


class AudioSegmentDataset(EpochSeeded, torch.utils.data.Dataset):
    """Fixed-length random crops, one per file per epoch, reproducible by (seed, epoch, index).

    Short files are zero-padded at the end.  The crop position depends only on the seed,
    the epoch and the item index, so a resumed run sees exactly the crops an uninterrupted
    run would have seen.
    """

    def __init__(
        self,
        files: list[Path],
        sampling_rate: int,
        segment_samples: int,
        seed: int = 0,
        gain: float = 1.0,
    ):
        self.files = list(files)
        self.sampling_rate = sampling_rate
        self.segment_samples = segment_samples
        self.seed = seed
        self.gain = gain

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> torch.Tensor:
        audio = load_audio(self.files[index], self.sampling_rate)
        rng = np.random.default_rng([self.seed, self.epoch, index])
        if audio.shape[0] > self.segment_samples:
            start = int(rng.integers(0, audio.shape[0] - self.segment_samples + 1))
            audio = audio[start : start + self.segment_samples]
        else:
            audio = np.pad(audio, (0, self.segment_samples - audio.shape[0]))
        peak = float(np.abs(audio).max())
        if peak > 1.0:  # keep the signal in range without changing quiet clips
            audio = audio / peak
        return torch.from_numpy(audio * self.gain).unsqueeze(0)


class EpochShuffleSampler(EpochSeeded, torch.utils.data.Sampler):
    """A permutation per epoch from (seed, epoch): the same order after any resume."""

    def __init__(self, length: int, seed: int = 0):
        self.length = length
        self.seed = seed

    def __len__(self) -> int:
        return self.length

    def __iter__(self):
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        return iter(torch.randperm(self.length, generator=generator).tolist())


def segment_samples(seconds: float, sampling_rate: int, hop_length: int) -> int:
    """Segment length rounded up to whole codec frames."""
    return int(math.ceil(seconds * sampling_rate / hop_length)) * hop_length


__all__ = [
    "AUDIO_EXTENSIONS",
    "AudioSegmentDataset",
    "EpochSeeded",
    "EpochShuffleSampler",
    "list_audio_files",
    "load_audio",
    "resample",
    "segment_samples",
    "write_audio",
]
