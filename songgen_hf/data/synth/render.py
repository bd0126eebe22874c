"""Audio back end: FluidSynth rendering, stem mixing and 16-bit WAV files.

Gain staging (the contract the tests check):

* ``vocals_raw`` (syllables at a fixed RMS) gets gain ``g`` so that, over the
  samples where a note is sung, vocal RMS / accompaniment RMS equals the drawn
  vocal-to-accompaniment ratio in dB;
* both stems are then scaled by one factor ``s`` so the loudest of mix and stems
  peaks at -1 dBFS, and each stem is rounded to int16;
* the mix is the **integer sum** of the two int16 stems, so
  ``mix == vocals + accompaniment`` holds exactly, sample for sample.

The record keeps ``vocal_gain = s * g`` and ``accompaniment_gain = s`` (relative to
the raw renders) and the ratio itself.
"""

from __future__ import annotations

import io
import subprocess
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile

FLUIDSYNTH_GAIN = 0.4
PEAK_DBFS = -1.0
INT16_SCALE = 32767.0
ACCOMPANIMENT_FADE_S = 0.3


def render_midi(midi_bytes: bytes, num_samples: int, sampling_rate: int, soundfont: Path) -> np.ndarray:
    """Render MIDI with the fluidsynth CLI to mono float, exactly ``num_samples`` long.

    Rendering is offline (``-ni -F``): no audio device, timing driven by samples,
    so the output is reproducible bit for bit.
    """
    with tempfile.TemporaryDirectory(prefix="songgen-synth-") as folder:
        midi_path = Path(folder) / "song.mid"
        wav_path = Path(folder) / "song.wav"
        midi_path.write_bytes(midi_bytes)
        command = [
            "fluidsynth",
            "-ni",
            "-q",
            "-g",
            str(FLUIDSYNTH_GAIN),
            "-r",
            str(sampling_rate),
            "-o",
            "audio.file.format=float",
            # Load only the samples this song uses (~2x faster start-up); chorus
            # is inaudible at 16 kHz and costs time, reverb stays for a real room.
            "-o",
            "synth.dynamic-sample-loading=1",
            "-C",
            "0",
            "-F",
            str(wav_path),
            str(soundfont),
            str(midi_path),
        ]
        result = subprocess.run(command, capture_output=True)
        if result.returncode != 0 or not wav_path.exists():
            raise RuntimeError(
                f"fluidsynth failed ({result.returncode}): {result.stderr.decode(errors='replace')[-500:]}"
            )
        audio, rate = soundfile.read(str(wav_path), dtype="float64", always_2d=True)
    if rate != sampling_rate:
        raise RuntimeError(f"fluidsynth wrote {rate} Hz instead of {sampling_rate} Hz")
    mono = audio.mean(axis=1)
    mono = np.pad(mono, (0, max(0, num_samples - len(mono))))[:num_samples]
    fade = min(num_samples, int(ACCOMPANIMENT_FADE_S * sampling_rate))
    mono[num_samples - fade :] *= np.linspace(1.0, 0.0, fade) ** 2
    return mono


@dataclass(frozen=True)
class MixedStems:
    vocals: np.ndarray  # int16
    accompaniment: np.ndarray  # int16
    mix: np.ndarray  # int16, == vocals + accompaniment
    vocal_gain: float
    accompaniment_gain: float


def mix_stems(
    vocals_raw: np.ndarray,
    accompaniment_raw: np.ndarray,
    vocal_to_accompaniment_db: float,
    sung_mask: np.ndarray,
    peak_dbfs: float = PEAK_DBFS,
) -> MixedStems:
    """Balance, peak-normalise and quantise; see the module docstring."""
    vocal_power = float(np.mean(vocals_raw[sung_mask] ** 2)) if sung_mask.any() else 0.0
    accompaniment_power = float(np.mean(accompaniment_raw[sung_mask] ** 2)) if sung_mask.any() else 0.0
    if vocal_power > 0 and accompaniment_power > 0:
        balance = np.sqrt(accompaniment_power / vocal_power * 10.0 ** (vocal_to_accompaniment_db / 10.0))
    else:
        balance = 1.0
    vocals = vocals_raw * balance
    loudest = max(np.abs(vocals + accompaniment_raw).max(), np.abs(vocals).max(), np.abs(accompaniment_raw).max(), 1e-9)
    scale = 10.0 ** (peak_dbfs / 20.0) / loudest
    vocals_int = np.round(vocals * scale * INT16_SCALE).astype(np.int16)
    accompaniment_int = np.round(accompaniment_raw * scale * INT16_SCALE).astype(np.int16)
    # Both stems peak below -1 dBFS, so their integer sum cannot overflow int16.
    mix_int = (vocals_int.astype(np.int32) + accompaniment_int.astype(np.int32)).astype(np.int16)
    return MixedStems(vocals_int, accompaniment_int, mix_int, float(balance * scale), float(scale))


def mean_square_energy(samples: np.ndarray) -> float:
    """Mean square of int16 samples in full-scale units (1.0 == a full-scale square wave)."""
    values = samples.astype(np.float64) / 32768.0
    return float(np.mean(values**2)) if len(values) else 0.0


def wav_bytes(samples: np.ndarray, sampling_rate: int) -> bytes:
    """The bytes of 16-bit mono PCM with a plain 44-byte header: what :func:`write_wav_atomic` writes, known
    before it is written (a clip's sidecar proves its files before they exist)."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(sampling_rate)
        handle.writeframes(np.asarray(samples, dtype="<i2").tobytes())
    return buffer.getvalue()


def write_wav_atomic(path: Path, samples: np.ndarray | bytes, sampling_rate: int) -> None:
    """:func:`wav_bytes` written to a temporary name and renamed, so a crash never leaves a truncated file under
    the final name; ``samples`` may already be those bytes."""
    from songgen_hf.utils.atomic import atomic_file

    data = samples if isinstance(samples, bytes) else wav_bytes(samples, sampling_rate)
    with atomic_file(path) as temporary:
        temporary.write_bytes(data)


def wav_file_bytes(num_samples: int) -> int:
    """Size of a file written by :func:`write_wav_atomic` (used to detect truncation)."""
    return 44 + 2 * num_samples


def read_wav_int16(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path), "rb") as handle:
        frames = handle.readframes(handle.getnframes())
        return np.frombuffer(frames, dtype="<i2").copy(), handle.getframerate()
