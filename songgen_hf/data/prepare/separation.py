"""Stage 2: source separation into vocals and accompaniment with a Demucs-family model.

The model is named the way demucs names it, or by where it lies:

* a demucs model name (``htdemucs``, ``htdemucs_ft``, ``mdx_extra``) or ``namespace/name``: loaded from
  the Hugging Face Hub (``adefossez/HTDemucs`` ...) through demucs's own loader, cached in the usual
  Hub cache; offline and not cached is a clear error naming the repository and the download command;
* a local folder in that layout (``NAME.yaml`` listing model signatures + ``SIG.safetensors``; this
  is what :func:`save_demucs_folder` writes), or a folder with one ``.th``/``.safetensors`` model;
* a single ``.th`` or ``.safetensors`` file.

Every non-vocal source of the model (drums, bass, other ... or a 2-stem model's "no_vocals") sums
to the accompaniment; each source's energy is kept so the caption can name drums and bass.  The mix
is separated at the model's own rate and channel count (the original file, the decode stage's gain
applied), then the stems are folded to mono and resampled to 16 kHz and trimmed/padded to the
decoded mix's exact length, so stems and mix stay sample-aligned.
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path
from typing import Protocol

import numpy as np

from songgen_hf.data.audio import resample
from songgen_hf.data.prepare.models import is_local, is_offline, require, unavailable

DEFAULT_SEPARATION_MODEL = "htdemucs"
VOCALS = "vocals"


class Separator(Protocol):
    """What the pipeline needs from a separation model."""

    name: str

    def separate(self, audio: np.ndarray, rate: int, num_samples: int) -> dict[str, np.ndarray]:
        """(channels, samples) at ``rate`` -> every source as 16 kHz mono float32 of ``num_samples``."""


def _encode_json(value):
    if isinstance(value, Fraction):
        return {"_type": "fraction", "numerator": value.numerator, "denominator": value.denominator}
    if isinstance(value, dict):
        return {key: _encode_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode_json(item) for item in value]
    return value


def save_demucs_folder(model, folder: str | Path, name: str = "model") -> Path:
    """Save a demucs model (e.g. one you trained) as a folder :class:`DemucsSeparator` loads:
    ``NAME.yaml`` naming it and ``NAME.safetensors`` holding its class, arguments and weights."""
    from safetensors.torch import save_file

    from songgen_hf.atomic import atomic_file, write_text_atomic

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    args, kwargs = model._init_args_kwargs  # recorded by demucs's capture_init decorator
    metadata = {"klass": f"{type(model).__module__}.{type(model).__qualname__}",
                "args": json.dumps(_encode_json(list(args))), "kwargs": json.dumps(_encode_json(dict(kwargs)))}
    state = {key: value.detach().cpu().contiguous() for key, value in model.state_dict().items()}
    with atomic_file(folder / f"{name}.safetensors") as temporary:
        save_file(state, str(temporary), metadata=metadata)
    write_text_atomic(folder / f"{name}.yaml", f"models: ['{name}']\n")
    return folder


def _load_file(path: Path):
    if path.suffix == ".safetensors":
        return require("demucs.hf").load_safetensors_model(path)
    return require("demucs.states").load_model(path)


def _load_folder(folder: Path):
    import yaml

    bags = sorted(folder.glob("*.yaml"))
    if bags:
        spec = yaml.safe_load(bags[0].read_text(encoding="utf-8")) or {}
        models = []
        for signature in spec.get("models", []):
            files = [folder / f"{signature}{suffix}" for suffix in (".safetensors", ".th")]
            found = next((f for f in files if f.is_file()), None)
            if found is None:
                raise ValueError(f"Separation model folder {folder}: {bags[0].name} lists {signature!r}, "
                                 f"but neither {files[0].name} nor {files[1].name} is there.")
            models.append(_load_file(found))
        if not models:
            raise ValueError(f"Separation model folder {folder}: {bags[0].name} lists no models.")
        if len(models) == 1 and not spec.get("weights"):
            return models[0]
        return require("demucs.apply").BagOfModels(models, spec.get("weights"), spec.get("segment"))
    files = sorted(folder.glob("*.safetensors")) + sorted(folder.glob("*.th"))
    if len(files) != 1:
        raise ValueError(f"Separation model folder {folder} must hold a NAME.yaml bag or exactly one .th/.safetensors "
                         f"model; it holds {len(files)} model files.")
    return _load_file(files[0])


def load_demucs(reference: str):
    """A demucs model (or bag of models) from a name, a folder or a file; clear errors otherwise."""
    require("demucs")
    path = Path(reference).expanduser()
    if is_local(reference):
        return _load_folder(path) if path.is_dir() else _load_file(path)
    hf = require("demucs.hf")
    namespace, _, name = reference.rpartition("/")
    repo_id = f"{namespace or hf.DEFAULT_NAMESPACE}/{hf.hf_repo_name(name)}"
    download = f"hf download {repo_id}"
    if is_offline():
        from huggingface_hub import try_to_load_from_cache

        if not isinstance(try_to_load_from_cache(repo_id, f"{name}.yaml"), str):
            raise unavailable("separation", reference, f"{repo_id} is not in the Hugging Face cache", download)
    try:
        return hf.get_hf_model(reference)  # the Hub only: never demucs's legacy download fallback
    except Exception as error:
        raise unavailable("separation", reference, error, download) from error


class DemucsSeparator:
    """Separation with a demucs model; ``shifts=0`` keeps it deterministic."""

    def __init__(self, reference: str = DEFAULT_SEPARATION_MODEL, device: str = "cpu", shifts: int = 0,
                 overlap: float = 0.25, model=None):
        self.name = str(reference)
        self.device = device
        self.shifts = shifts
        self.overlap = overlap
        self._model = model

    @property
    def model(self):
        if self._model is None:
            self._model = load_demucs(self.name)
        self._model.to(self.device).eval()
        return self._model

    @property
    def sources(self) -> list[str]:
        return list(self.model.sources)

    def separate(self, audio: np.ndarray, rate: int, num_samples: int) -> dict[str, np.ndarray]:
        import torch

        model = self.model
        if VOCALS not in model.sources:
            raise ValueError(f"Separation model {self.name!r} has no 'vocals' source (it has {list(model.sources)}); "
                             "use a vocals model such as htdemucs.")
        wave = resample(np.atleast_2d(audio), rate, model.samplerate)
        channels = model.audio_channels
        if wave.shape[0] != channels:  # mono models get the downmix, stereo models a doubled mono file
            wave = np.repeat(wave.mean(axis=0, keepdims=True), channels, axis=0)
        mix = torch.from_numpy(np.ascontiguousarray(wave, dtype=np.float32))
        # demucs expects standardised input (its own CLI does the same) and is scale-equivariant
        reference = mix.mean(0)
        mean, std = reference.mean(), reference.std().clamp_min(1e-8)
        with torch.inference_mode():
            out = require("demucs.apply").apply_model(model, ((mix - mean) / std)[None], shifts=self.shifts,
                                                      split=True, overlap=self.overlap, progress=False,
                                                      device=self.device)[0]
        out = (out * std + mean).cpu().numpy()
        stems = {}
        for index, source in enumerate(model.sources):
            mono = resample(out[index].mean(axis=0), model.samplerate, 16000)
            stems[source] = fit_length(mono, num_samples)
        return stems


def fit_length(audio: np.ndarray, num_samples: int) -> np.ndarray:
    """Trim or zero-pad at the end to exactly ``num_samples`` (resampling round-trips differ by a sample or two)."""
    audio = np.asarray(audio, dtype=np.float32)[:num_samples]
    return np.pad(audio, (0, num_samples - audio.shape[-1])) if audio.shape[-1] < num_samples else audio


def split_stems(stems: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(vocals, accompaniment = the sum of every other source)."""
    others = [audio for source, audio in stems.items() if source != VOCALS]
    accompaniment = np.sum(others, axis=0) if others else np.zeros_like(stems[VOCALS])
    return stems[VOCALS], np.clip(accompaniment, -1.0, 1.0).astype(np.float32)


__all__ = ["DEFAULT_SEPARATION_MODEL", "DemucsSeparator", "Separator", "fit_length", "load_demucs",
           "save_demucs_folder", "split_stems"]
