"""Stage 5: a caption per clip, and the CLAP similarity between clip and caption.

The caption is phrased the way the processor's musical controls read a prompt ("... in D major at
96 bpm ..."), so models with tempo and key controls learn them from these captions too:

* tempo: librosa's beat tracker on the clip's mix (rounded bpm);
* key: a chroma profile (librosa ``chroma_stft``) of the accompaniment (of the mix when the
  accompaniment holds under a tenth of its energy), matched against the
  Krumhansl-Kessler major and minor profiles in all 12 transpositions (the best correlation wins);
* instrumentation from the separated sources: drums / bass / other instruments named when their
  stem holds more than ``SOURCE_PRESENT_ENERGY`` of the clip's accompaniment energy (a 2-stem
  model's accompaniment is only "instruments");
* vocal presence from the clip's voiced share;
* the user's tags (per song and per folder) first, in their own words.

The CLAP score is the cosine similarity between transformers ``ClapModel``'s audio embedding of the
clip's mix (resampled to the processor's rate, centre-cropped to its maximum length) and its text
embedding of the caption.  Without a CLAP model the stage records no score and filters nothing.
"""

from __future__ import annotations

import numpy as np

from songgen_hf.data.audio import resample
from songgen_hf.data.prepare.models import load_clap, require

RATE = 16000
DEFAULT_CLAP_MODEL = "laion/clap-htsat-unfused"
SOURCE_PRESENT_ENERGY = 0.05  # share of the accompaniment's energy
SILENT_ACCOMPANIMENT = 1e-5  # mean square (-50 dBFS): below it the clip is a cappella
PITCH_CLASSES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
# Krumhansl & Kessler (1982) probe-tone profiles
MAJOR_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
MINOR_PROFILE = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
MIN_ANALYSIS_SECONDS = 2.0


def estimate_tempo(mix: np.ndarray) -> float | None:
    librosa = require("librosa")
    if mix.shape[-1] < MIN_ANALYSIS_SECONDS * RATE or float(np.abs(mix).max()) < 1e-4:
        return None
    tempo, _ = librosa.beat.beat_track(y=mix.astype(np.float32), sr=RATE)
    tempo = float(np.atleast_1d(tempo)[0])
    return round(tempo) if np.isfinite(tempo) and tempo > 0 else None


def estimate_key(harmonic: np.ndarray) -> tuple[str, str] | None:
    """(tonic, "major"/"minor") or None when the audio has no pitch content."""
    librosa = require("librosa")
    if harmonic.shape[-1] < MIN_ANALYSIS_SECONDS * RATE or float(np.abs(harmonic).max()) < 1e-4:
        return None
    chroma = librosa.feature.chroma_stft(y=harmonic.astype(np.float32), sr=RATE, n_fft=4096, hop_length=1024)
    profile = chroma.sum(axis=1)
    if not np.isfinite(profile).all() or profile.std() < 1e-8:
        return None
    best, best_score = None, -np.inf
    for mode, template in (("major", MAJOR_PROFILE), ("minor", MINOR_PROFILE)):
        for tonic in range(12):
            score = float(np.corrcoef(profile, np.roll(template, tonic))[0, 1])
            if score > best_score:
                best, best_score = (PITCH_CLASSES[tonic], mode), score
    return best


def _energy(audio: np.ndarray) -> float:
    return float(np.mean(np.square(audio, dtype=np.float64))) if audio.size else 0.0


def instruments(sources: dict[str, np.ndarray]) -> list[str]:
    """Instrument words from the non-vocal sources of the clip."""
    others = {name: _energy(audio) for name, audio in sources.items() if name != "vocals"}
    total = sum(others.values())
    if total <= SILENT_ACCOMPANIMENT:
        return []
    names = {"drums": "drums", "bass": "bass", "other": "other instruments", "piano": "piano", "guitar": "guitar"}
    words = [
        names.get(name, "instruments") for name, energy in others.items() if energy / total >= SOURCE_PRESENT_ENERGY
    ]
    return list(dict.fromkeys(words))


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def caption(
    tags: list[str], tempo: float | None, key: tuple[str, str] | None, instrument_words: list[str], voiced_share: float
) -> str:
    """A caption the processor's musical controls read ("in D minor at 96 bpm")."""
    parts = []
    if tags:
        parts.append(", ".join(tags).rstrip(".") + ".")
    song = "A song"
    if key:
        song += f" in {key[0]} {key[1]}"
    if tempo:
        song += f" at {int(tempo)} bpm"
    details = []
    if instrument_words:
        details.append(_join(instrument_words))
    details.append("vocals" if voiced_share >= 0.2 else "sparse vocals")
    parts.append(f"{song}, with {_join(details)}.")
    return " ".join(parts)


class ClapScorer:
    """CLAP audio-text cosine similarity with a transformers ``ClapModel`` (loaded on first use)."""

    def __init__(self, reference: str, device: str = "cpu", model=None, processor=None):
        self.name = str(reference)
        self.device = device
        self._loaded = (model, processor) if model is not None else None

    def _load(self):
        if self._loaded is None:
            self._loaded = load_clap(self.name, self.device)
        return self._loaded

    def score(self, mix: np.ndarray, text: str) -> float:
        import torch

        model, processor = self._load()
        extractor = processor.feature_extractor
        audio = resample(np.asarray(mix, dtype=np.float32), RATE, extractor.sampling_rate)
        longest = int(extractor.nb_max_samples)
        if audio.shape[-1] > longest:  # a deterministic centre crop instead of the extractor's random one
            offset = (audio.shape[-1] - longest) // 2
            audio = audio[offset : offset + longest]
        inputs = processor(
            text=[text], audio=[audio], sampling_rate=extractor.sampling_rate, return_tensors="pt", padding=True
        )
        inputs = {name: value.to(self.device) for name, value in inputs.items()}
        with torch.inference_mode():
            audio_out = model.get_audio_features(
                input_features=inputs["input_features"], is_longer=inputs.get("is_longer")
            )
            text_out = model.get_text_features(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"])
        a = getattr(audio_out, "pooler_output", audio_out)
        t = getattr(text_out, "pooler_output", text_out)
        return round(float(torch.nn.functional.cosine_similarity(a, t).item()), 4)


__all__ = ["DEFAULT_CLAP_MODEL", "ClapScorer", "caption", "estimate_key", "estimate_tempo", "instruments"]
