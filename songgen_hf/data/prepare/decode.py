"""Stage 1: find the songs, decode them, mono, 16 kHz, loudness-normalised.

A song is any audio file under SONGS (recursively: wav, flac, mp3, ogg, aiff).  Beside it the user
may put, with the same stem:

* ``NAME.txt`` (or ``NAME.lyrics.txt``): the song's lyrics, plain lines, ``[verse]``/``[chorus]``
  section tags allowed; they win over speech recognition;
* ``NAME.tags.txt``: tags for this song (comma- or line-separated, e.g. ``jazz, female voice``);

and ``tags.txt`` in a folder gives tags to every song in that folder.  Tags go into the caption.

Decoding reads with soundfile (libsndfile: WAV, FLAC, OGG, MP3 with libsndfile >= 1.1) and falls
back to librosa (audioread/ffmpeg) when it is installed.  Loudness is normalised to
``target_lufs`` with pyloudnorm's ITU-R BS.1770 meter, the gain capped so the peak stays below
``PEAK_CEILING``; the gain is recorded so the separation stage applies the same one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from songgen_hf.data.audio import AUDIO_EXTENSIONS, resample
from songgen_hf.data.prepare.models import require
from songgen_hf.utils.safe_files import read_bytes

SAMPLING_RATE = 16000
PEAK_CEILING = 0.98  # keeps the normalised mix (and its clips) below full scale: no clipping in the WAVs
MIN_LOUDNESS_SECONDS = 0.4  # BS.1770 gates 400 ms blocks; shorter audio has no integrated loudness
SILENT_PEAK = 1e-4  # below this the file holds silence only
LYRICS_SUFFIXES = (".lyrics.txt", ".txt")
SONG_TAGS_SUFFIX = ".tags.txt"
FOLDER_TAGS_FILE = "tags.txt"


class Dropped(Exception):
    """The song is left out; ``reason`` is its summary category."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class DecodeError(Dropped):
    """A song whose audio cannot be used (unreadable or empty): dropped at the decode stage."""


@dataclass
class Song:
    id: str
    path: Path
    lyrics_path: Path | None = None
    tags: list[str] = field(default_factory=list)


def _song_id(relative: Path, taken: set[str]) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", relative.with_suffix("").as_posix().replace("/", "__")).strip("_") or "song"
    candidate = stem
    if candidate in taken:  # a.wav and a.mp3 side by side
        candidate = f"{stem}_{relative.suffix.lstrip('.').lower()}"
    index = 2
    while candidate in taken:
        candidate, index = f"{stem}_{index}", index + 1
    taken.add(candidate)
    return candidate


def split_tags(text: str) -> list[str]:
    return [tag.strip() for tag in re.split(r"[,\n]", text) if tag.strip()]


def _read_tags(path: Path) -> list[str]:
    if not path.exists():
        return []
    return split_tags(read_bytes(path, "the tags", max_bytes=2**20).decode("utf-8", errors="replace"))


def find_songs(songs: str | Path) -> list[Song]:
    """Every audio file under ``songs`` with its lyrics and tags files; a clear error when there is none."""
    root = Path(songs).expanduser()
    if not root.is_dir():
        raise ValueError(f"SONGS {root} is not a folder; give the folder that holds your audio files.")
    files = sorted(
        p
        for p in root.rglob("*")
        if p.is_file()
        and p.suffix.lower() in AUDIO_EXTENSIONS
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )
    if not files:
        raise ValueError(
            f"No audio files in {root} (looked for {', '.join(AUDIO_EXTENSIONS)}, recursively). "
            "Put your songs there or point SONGS at the folder that holds them."
        )
    taken: set[str] = set()
    found = []
    for path in files:
        lyrics = next(
            (
                path.with_name(path.stem + suffix)
                for suffix in LYRICS_SUFFIXES
                if path.with_name(path.stem + suffix).is_file()
            ),
            None,
        )
        tags = _read_tags(path.parent / FOLDER_TAGS_FILE) + _read_tags(path.with_name(path.stem + SONG_TAGS_SUFFIX))
        found.append(Song(_song_id(path.relative_to(root), taken), path, lyrics, list(dict.fromkeys(tags))))
    return found


def read_audio(path: Path) -> tuple[np.ndarray, int]:
    """(channels, samples) float32 at the file's own rate; DecodeError when unreadable or empty."""
    if path.stat().st_size == 0:
        raise DecodeError("unreadable", f"{path} is empty (0 bytes)")
    import soundfile as sf

    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
        audio = data.T
    except (RuntimeError, sf.LibsndfileError) as error:
        try:
            librosa = require("librosa")
            audio, rate = librosa.load(str(path), sr=None, mono=False)
            audio = np.atleast_2d(audio).astype(np.float32)
        except Exception:  # noqa: BLE001 - any decoder failure is the same problem for the user
            raise DecodeError("unreadable", f"{path} cannot be decoded ({error}); convert it to WAV or FLAC") from error
    if audio.shape[-1] == 0 or rate <= 0:
        raise DecodeError("unreadable", f"{path} holds no samples")
    if not np.isfinite(audio).all():
        raise DecodeError("unreadable", f"{path} contains NaN or Inf samples")
    return np.ascontiguousarray(audio, dtype=np.float32), int(rate)


def loudness_gain(mono: np.ndarray, rate: int, target_lufs: float) -> tuple[float, float | None]:
    """(linear gain, measured LUFS): the gain to ``target_lufs``, capped by the peak ceiling."""
    peak = float(np.abs(mono).max())
    if peak < SILENT_PEAK:
        return 1.0, None
    loudness = None
    if mono.shape[-1] >= MIN_LOUDNESS_SECONDS * rate:
        pyloudnorm = require("pyloudnorm")
        loudness = float(pyloudnorm.Meter(rate).integrated_loudness(mono.astype(np.float64)))
    if loudness is None or not np.isfinite(loudness):
        gain = 1.0
    else:
        gain = float(10.0 ** ((target_lufs - loudness) / 20.0))
    return min(gain, PEAK_CEILING / peak), loudness


def decode_song(song: Song, target_lufs: float, min_seconds: float) -> tuple[np.ndarray, dict]:
    """The 16 kHz mono normalised mix and its facts (gain, source rate and channels, duration)."""
    audio, rate = read_audio(song.path)
    duration = audio.shape[-1] / rate
    if duration < min_seconds:
        raise DecodeError("too short", f"{song.path} lasts {duration:.2f} s, shorter than one clip ({min_seconds:g} s)")
    mono = audio.mean(axis=0)
    if float(np.abs(mono).max()) < SILENT_PEAK:
        raise DecodeError("silent", f"{song.path} is silent (peak below {SILENT_PEAK:g})")
    gain, lufs = loudness_gain(mono, rate, target_lufs)
    mix = resample(mono * gain, rate, SAMPLING_RATE).astype(np.float32)
    mix = np.clip(mix, -1.0, 1.0)
    facts = {
        "source": str(song.path),
        "source_rate": rate,
        "source_channels": int(audio.shape[0]),
        "duration": mix.shape[-1] / SAMPLING_RATE,
        "gain": gain,
        "source_lufs": lufs,
    }
    return mix, facts


__all__ = [
    "SAMPLING_RATE",
    "DecodeError",
    "Dropped",
    "Song",
    "decode_song",
    "find_songs",
    "loudness_gain",
    "read_audio",
    "split_tags",
]
