"""Attribute probes: tiny logistic regressions that say whether a clip has vocals or drums.

No pretrained tagger can be downloaded, so the probes are fit at evaluation time on the
corpus' own training split, where the answer is known from the stems:

* vocals: the mix (vocals present) against the accompaniment stem (absent);
* drums: clips whose ``attributes.drums`` is true against false, on both the mix (what a
  single-track model generates) and the accompaniment stem.

Features are summary statistics of a loudness-normalised log-mel spectrogram (band means and
standard deviations, per-band rectified flux, flux and flatness statistics), so loudness alone
cannot separate a mix from its accompaniment.  The regression is fit by Newton's method with an
L2 penalty on standardised features: deterministic and converged in a few dozen steps.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from songgen_hf.evaluation.metrics import SILENCE_RMS, log_mel, stft_power
from songgen_hf.evaluation.prompts import read_manifest_rows, resolve_audio
from songgen_hf.utils.atomic import atomic_file, write_text_atomic
from songgen_hf.utils.safe_files import read_json

logger = logging.getLogger(__name__)

FEATURE_VERSION = 1
PROBE_NAMES = ("vocals", "drums")
PROBE_FILE, PROBE_INFO_FILE = "probes.npz", "probes.json"
_MEL_BANDS = 40
_TARGET_RMS = 0.1


def probe_features(audio: np.ndarray, sampling_rate: int) -> np.ndarray:
    """A fixed-length feature vector (``3 * 40 + 6`` values) summarising a clip."""
    audio = np.asarray(audio, dtype=np.float64)
    rms = np.sqrt(np.mean(audio**2)) if len(audio) else 0.0
    if rms >= SILENCE_RMS:
        audio = audio * (_TARGET_RMS / rms)
    n_fft = int(2 ** round(np.log2(0.032 * sampling_rate)))  # 32 ms windows at any rate
    hop = n_fft // 2
    mel = log_mel(audio, sampling_rate, n_fft, hop, _MEL_BANDS)
    rising = np.maximum(np.diff(mel, axis=0), 0.0) if len(mel) > 1 else np.zeros((1, _MEL_BANDS))
    total_flux = rising.sum(axis=1)
    power = np.maximum(stft_power(audio, n_fft, hop), 1e-12)
    flatness = np.exp(np.log(power).mean(axis=1)) / power.mean(axis=1)
    summary = [
        total_flux.mean(),
        total_flux.std(),
        np.percentile(total_flux, 90),
        np.percentile(total_flux, 99),
        flatness.mean(),
        flatness.std(),
    ]
    return np.concatenate([mel.mean(axis=0), mel.std(axis=0), rising.mean(axis=0), summary])


@dataclass
class LogisticProbe:
    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    bias: float

    @classmethod
    def fit(cls, features: np.ndarray, labels: np.ndarray, l2: float = 1.0, max_steps: int = 100) -> LogisticProbe:
        features = np.asarray(features, dtype=np.float64)
        labels = np.asarray(labels, dtype=np.float64)
        if len(np.unique(labels)) < 2:
            raise ValueError("A probe needs examples of both classes to be fit.")
        mean = features.mean(axis=0)
        scale = features.std(axis=0)
        scale[scale < 1e-12] = 1.0
        design = np.hstack([(features - mean) / scale, np.ones((len(features), 1))])
        penalty = l2 * np.eye(design.shape[1])
        penalty[-1, -1] = 0.0  # the bias is not shrunk: class balance should not be penalised
        theta = np.zeros(design.shape[1])
        for _ in range(max_steps):
            probability = _sigmoid(design @ theta)
            gradient = design.T @ (probability - labels) + penalty @ theta
            curvature = design.T @ (design * (probability * (1 - probability))[:, None]) + penalty
            step = np.linalg.solve(curvature + 1e-9 * np.eye(len(theta)), gradient)
            theta -= step
            if np.abs(step).max() < 1e-8:
                break
        return cls(mean=mean, scale=scale, weights=theta[:-1], bias=float(theta[-1]))

    def probability(self, features: np.ndarray) -> np.ndarray:
        features = np.atleast_2d(np.asarray(features, dtype=np.float64))
        return _sigmoid(((features - self.mean) / self.scale) @ self.weights + self.bias)

    def accuracy(self, features: np.ndarray, labels) -> float:
        return float(np.mean((self.probability(features) > 0.5) == np.asarray(labels, dtype=bool)))


def _sigmoid(values: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * values))  # overflow-free form


@dataclass
class AttributeProbes:
    vocals: LogisticProbe
    drums: LogisticProbe
    info: dict = field(default_factory=dict)

    def probabilities(self, features: np.ndarray) -> dict[str, float]:
        return {name: float(getattr(self, name).probability(features)[0]) for name in PROBE_NAMES}

    def save(self, folder: str | Path) -> None:
        folder = Path(folder)
        arrays = {}
        for name in PROBE_NAMES:
            probe = getattr(self, name)
            arrays.update(
                {
                    f"{name}_mean": probe.mean,
                    f"{name}_scale": probe.scale,
                    f"{name}_weights": probe.weights,
                    f"{name}_bias": np.array([probe.bias]),
                }
            )
        with atomic_file(folder / PROBE_FILE) as temporary:
            np.savez(temporary, **arrays)
        write_text_atomic(folder / PROBE_INFO_FILE, json.dumps(self.info, indent=2) + "\n")

    @classmethod
    def load(cls, folder: str | Path) -> AttributeProbes | None:
        folder = Path(folder)
        try:
            info = read_json(folder / PROBE_INFO_FILE)
            with np.load(folder / PROBE_FILE) as arrays:
                probes = {
                    name: LogisticProbe(
                        arrays[f"{name}_mean"],
                        arrays[f"{name}_scale"],
                        arrays[f"{name}_weights"],
                        float(arrays[f"{name}_bias"][0]),
                    )
                    for name in PROBE_NAMES
                }
        except (OSError, ValueError, KeyError):
            return None
        return cls(info=info, **probes)


def record_has_vocals(row: dict) -> int:
    """Whether a manifest record's mix is sung: its ``attributes.has_vocals`` where recorded (corpus v2
    has instrumentals), else whether it has lyrics (every corpus v1 clip does)."""
    attributes = row.get("attributes")
    if isinstance(attributes, dict) and attributes.get("has_vocals") is not None:
        return int(bool(attributes["has_vocals"]))
    return int(bool(str(row.get("lyrics") or "").strip()))


def _cache_key(manifest: Path, max_clips: int, max_seconds: float, sampling_rate: int) -> dict:
    stat = manifest.stat()
    return {
        "manifest": str(manifest.resolve()),
        "manifest_bytes": stat.st_size,
        "manifest_mtime_ns": stat.st_mtime_ns,
        "max_clips": max_clips,
        "max_seconds": max_seconds,
        "sampling_rate": sampling_rate,
        "feature_version": FEATURE_VERSION,
    }


def fit_probes(
    manifest: str | Path, sampling_rate: int, max_clips: int, max_seconds: float, progress=None
) -> AttributeProbes:
    """Fit both probes on the first ``max_clips`` records of ``manifest`` that have an accompaniment stem."""
    from songgen_hf.data.audio import load_audio

    manifest = Path(manifest)
    rows = read_manifest_rows(manifest, what="probe manifest")
    rows = [row for row in rows if row.get("accompaniment_path") and row.get("audio_path")][:max_clips]
    if not rows:
        raise ValueError(f"The probe manifest {manifest} has no records with both audio_path and accompaniment_path.")
    limit = int(round(max_seconds * sampling_rate))
    vocal_x, vocal_y, drum_x, drum_y = [], [], [], []
    for index, row in enumerate(rows):
        mix = load_audio(resolve_audio(row, "audio_path", manifest.parent, manifest, True), sampling_rate)[:limit]
        accompaniment = load_audio(
            resolve_audio(row, "accompaniment_path", manifest.parent, manifest, True), sampling_rate
        )[:limit]
        mix_features = probe_features(mix, sampling_rate)
        accompaniment_features = probe_features(accompaniment, sampling_rate)
        vocal_x += [mix_features, accompaniment_features]
        vocal_y += [record_has_vocals(row), 0]
        attributes = row.get("attributes")
        drums = attributes.get("drums") if isinstance(attributes, dict) else None
        if drums is not None:
            drum_x += [mix_features, accompaniment_features]
            drum_y += [int(bool(drums)), int(bool(drums))]
        if progress is not None and (index + 1) % 50 == 0:
            progress(f"probe features {index + 1}/{len(rows)}")
    if len(set(drum_y)) < 2:
        raise ValueError(
            f"The probe manifest {manifest} needs clips with and without drums (attributes.drums) among its first "
            f"{max_clips} records; pass a larger --probe-clips or another --probe-manifest."
        )
    vocals = LogisticProbe.fit(np.stack(vocal_x), np.array(vocal_y))
    drums = LogisticProbe.fit(np.stack(drum_x), np.array(drum_y))
    info = {
        "key": _cache_key(manifest, max_clips, max_seconds, sampling_rate),
        "num_clips": len(rows),
        "num_drum_clips": int(sum(drum_y) // 2),
        "train_accuracy": {
            "vocals": vocals.accuracy(np.stack(vocal_x), vocal_y),
            "drums": drums.accuracy(np.stack(drum_x), drum_y),
        },
    }
    return AttributeProbes(vocals=vocals, drums=drums, info=info)


def load_or_fit_probes(
    folder: str | Path, manifest: str | Path, sampling_rate: int, max_clips: int, max_seconds: float, progress=None
) -> AttributeProbes:
    """The probes cached in ``folder`` if they were fit with these settings, else fit and cache them."""
    manifest = Path(manifest)
    if not manifest.is_file():
        raise ValueError(
            f"The probe manifest {manifest} does not exist; pass --probe-manifest (e.g. corpus/train.jsonl)."
        )
    cached = AttributeProbes.load(folder)
    if cached is not None and cached.info.get("key") == _cache_key(manifest, max_clips, max_seconds, sampling_rate):
        logger.info("using the cached probes in %s", folder)
        return cached
    probes = fit_probes(manifest, sampling_rate, max_clips, max_seconds, progress)
    probes.save(folder)
    return probes


__all__ = [
    "AttributeProbes",
    "FEATURE_VERSION",
    "LogisticProbe",
    "fit_probes",
    "load_or_fit_probes",
    "probe_features",
    "record_has_vocals",
]
