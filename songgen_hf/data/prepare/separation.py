"""Stage 2: source separation into vocals and accompaniment with a Demucs-family model.

The model is named the way demucs names it, or by where it lies:

* a demucs model name (``htdemucs``, ``htdemucs_ft``, ``mdx_extra``) or ``namespace/name``: loaded from
  the Hugging Face Hub (``adefossez/HTDemucs`` ...), cached in the usual Hub cache; a namespace outside
  the known publishers needs ``--trust-separation-model``; offline and not cached is a clear error naming
  the repository and the download command;
* a local folder in that layout (``NAME.yaml`` listing model signatures + ``SIG.safetensors``; this
  is what :func:`save_demucs_folder` writes), or a folder with one ``.th``/``.safetensors`` model;
* a single ``.th`` or ``.safetensors`` file.

Whatever the source, the model is built here from data only (see :data:`DEMUCS_CLASSES`), never by
demucs' own loaders, which unpickle ``.th`` files in full and import the class a file names.

Every non-vocal source of the model (drums, bass, other ... or a 2-stem model's "no_vocals") sums
to the accompaniment; each source's energy is kept so the caption can name drums and bass.  The mix
is separated at the model's own rate and channel count (the original file, the decode stage's gain
applied), then the stems are folded to mono and resampled to 16 kHz and trimmed/padded to the
decoded mix's exact length, so stems and mix stay sample-aligned.
"""

from __future__ import annotations

import json
import pickle
import re
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

    from songgen_hf.utils.atomic import atomic_file, write_text_atomic

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    args, kwargs = model._init_args_kwargs  # recorded by demucs's capture_init decorator
    metadata = {
        "klass": f"{type(model).__module__}.{type(model).__qualname__}",
        "args": json.dumps(_encode_json(list(args))),
        "kwargs": json.dumps(_encode_json(dict(kwargs))),
    }
    state = {key: value.detach().cpu().contiguous() for key, value in model.state_dict().items()}
    with atomic_file(folder / f"{name}.safetensors") as temporary:
        save_file(state, str(temporary), metadata=metadata)
    write_text_atomic(folder / f"{name}.yaml", f"models: ['{name}']\n")
    return folder


# Demucs' own loaders run what a model file names: ``demucs.states.load_model`` unpickles ``.th`` files with
# ``weights_only=False`` and ``demucs.hf`` imports the ``klass`` a safetensors file's metadata names.  The models
# are built here instead: a file names one of these classes by its dotted path (the only modules imported for
# it), its arguments are JSON or plain pickled data, and its weights are tensors.  ``WDemucs`` is demucs'
# alias of ``HDemucs``.
DEMUCS_CLASSES = {
    "demucs.demucs.Demucs": ("demucs.demucs", "Demucs"),
    "demucs.hdemucs.HDemucs": ("demucs.hdemucs", "HDemucs"),
    "demucs.wdemucs.WDemucs": ("demucs.hdemucs", "HDemucs"),
    "demucs.htdemucs.HTDemucs": ("demucs.htdemucs", "HTDemucs"),
}
# Hub namespaces whose separation models load without --trust-separation-model: demucs' own publisher.
TRUSTED_SEPARATION_PUBLISHERS = ("adefossez",)
TRUST_FLAG = "--trust-separation-model"
_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_FRACTION = re.compile(r"-?\d{1,18}(/\d{1,18})?")


class UnsafeSeparationModelError(ValueError):
    """A separation model file that is not plain data (a class outside the allow-list, code in a pickle)."""


def _refuse(source, reason: str) -> UnsafeSeparationModelError:
    return UnsafeSeparationModelError(
        f"Refusing the separation model {source}: {reason}; nothing in it was run. Give a demucs model saved as "
        f"safetensors (a NAME.yaml + SIG.safetensors folder, as save_demucs_folder writes) of one of the classes "
        f"{', '.join(sorted(DEMUCS_CLASSES))}, or a demucs model name such as {DEFAULT_SEPARATION_MODEL}."
    )


class _ClassName:
    """What a class reference in a ``.th`` pickle becomes while it is read: its name, never the class."""

    def __init__(self, name: str):
        self.name = name

    def __call__(self, *args, **kwargs):
        raise pickle.UnpicklingError(f"the file calls {self.name} instead of naming it")


def _fraction(*args):
    """``fractions.Fraction`` as a pickle rebuilds it, from two integers or a short ``a/b`` string only (a string
    such as ``1e999999999`` would make Fraction compute a number of a billion digits)."""
    if len(args) == 2 and all(type(arg) is int for arg in args) and args[1] != 0:
        return Fraction(*args)
    if len(args) == 1 and isinstance(args[0], str) and _FRACTION.fullmatch(args[0]):
        return Fraction(args[0])
    raise pickle.UnpicklingError(f"Fraction{str(args)[:60]} is not a plain fraction")


MAX_DEMUCS_DEPTH = 64  # demucs' released models have depths and layer counts of at most 7
MAX_DEMUCS_INTEGER = 10**7  # sample rates, FFT sizes, channels and segment lengths lie far below


def _plain(value, source, where: str):
    """``value`` when it is plain data (what demucs' model arguments are), else a refusal naming ``where``."""
    if value is None or isinstance(value, (bool, int, float, str, Fraction)):
        return value
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(item, source, where) for item in value)
    if isinstance(value, dict) and all(isinstance(key, str) for key in value):
        return {key: _plain(item, source, where) for key, item in value.items()}
    raise _refuse(source, f"its {where} hold a {type(value).__name__}, not plain data")


def _decode_json(value):
    if isinstance(value, dict):
        if value.get("_type") == "fraction":
            numerator, denominator = value.get("numerator"), value.get("denominator")
            if type(numerator) is not int or type(denominator) is not int or denominator == 0:
                raise ValueError(f"the fraction {value} is not two integers")
            return Fraction(numerator, denominator)
        return {key: _decode_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_decode_json(item) for item in value]
    return value


def _build_demucs(source, class_name, args, kwargs, state):
    """The allow-listed demucs class built from plain arguments on the meta device and checked against the
    weights (names and shapes) before it is built and given them: nothing is allocated for a model the weights
    do not fit."""
    import inspect
    import warnings

    import torch

    if not isinstance(class_name, str) or class_name not in DEMUCS_CLASSES:
        raise _refuse(source, f"it names the model class {str(class_name)[:100]!r}, which is not a known demucs model")
    args, kwargs = _plain(args, source, "arguments"), _plain(kwargs, source, "arguments")
    if not isinstance(args, (list, tuple)) or not isinstance(kwargs, dict):
        raise _refuse(source, "its arguments are not a list and a mapping")
    for key, value in kwargs.items():
        # even on the meta device a model of a million layers takes minutes to build: sizes are bounded first
        if isinstance(value, int) and not isinstance(value, bool):
            limit = MAX_DEMUCS_DEPTH if ("depth" in key or "layers" in key) else MAX_DEMUCS_INTEGER
            if abs(value) > limit:
                raise ValueError(
                    f"Separation model {source}: its argument {key}={value} is beyond {limit:,}, more "
                    "than any demucs model has; the file is damaged or not a demucs model."
                )
    if not isinstance(state, dict) or "__quantized" in state:
        raise _refuse(source, "its weights are diffq-quantised (or not a mapping), which this loader does not read")
    if not all(isinstance(key, str) and isinstance(value, torch.Tensor) for key, value in state.items()):
        raise _refuse(source, "its weights hold something other than named tensors")
    module, attribute = DEMUCS_CLASSES[class_name]
    klass = getattr(require(module), attribute)
    accepted = inspect.signature(klass).parameters
    dropped = sorted(set(kwargs) - set(accepted))
    if dropped:  # older demucs releases saved arguments later versions removed; demucs drops them the same way
        warnings.warn(
            f"Separation model {source}: dropping arguments {dropped} that {class_name} no longer takes", stacklevel=2
        )
    kwargs = {key: value for key, value in kwargs.items() if key in accepted}
    try:
        with torch.device("meta"):
            model = klass(*args, **kwargs)
    except Exception as error:  # any failure of the class's own argument checks
        raise ValueError(
            f"Separation model {source}: {class_name} cannot be built from its arguments "
            f"({type(error).__name__}: {str(error)[:200]}); the file is damaged or not a demucs "
            "model."
        ) from None
    expected = {name: tuple(tensor.shape) for name, tensor in model.state_dict().items()}
    given = {name: tuple(tensor.shape) for name, tensor in state.items()}
    if expected != given:
        missing, extra = sorted(set(expected) - set(given)), sorted(set(given) - set(expected))
        wrong = sorted(name for name in set(expected) & set(given) if expected[name] != given[name])
        raise ValueError(
            f"Separation model {source}: its weights do not fit its {class_name} arguments (missing "
            f"{missing[:3]}, unexpected {extra[:3]}, other shapes {wrong[:3]}); the file is damaged."
        )
    model = klass(*args, **kwargs)  # the weights fit: built for real (demucs' own load_state_dict takes no assign)
    model.load_state_dict(state, strict=True)
    return model


def _unflatten(tensors: dict, node, source):
    """demucs' JSON description of a nested state over the flat tensors; a ``_class`` node (which demucs would
    import) is refused."""
    if not isinstance(node, dict):
        return node
    if "_tensor" in node:
        if node["_tensor"] not in tensors:
            raise ValueError(f"the structure names a tensor {str(node['_tensor'])[:60]!r} the file does not hold")
        return tensors[node["_tensor"]]
    if "_dict" in node:
        return {key: _unflatten(tensors, item, source) for key, item in node["_dict"]}
    if "_list" in node or "_tuple" in node:
        items = [_unflatten(tensors, item, source) for item in node.get("_list", node.get("_tuple"))]
        return items if "_list" in node else tuple(items)
    raise _refuse(source, f"its metadata structure holds the node {str(node)[:80]}, which names code, not data")


def _load_safetensors(path: Path):
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            if metadata.get("klass") not in DEMUCS_CLASSES:  # refused before any tensor is read
                raise _refuse(
                    path,
                    f"it names the model class {str(metadata.get('klass'))[:100]!r}, which is not a known demucs model",
                )
            state = {key: handle.get_tensor(key) for key in handle.keys()}
    except UnsafeSeparationModelError:
        raise
    except (SafetensorError, OSError, ValueError, RuntimeError) as error:
        raise ValueError(
            f"Separation model {path} is not a readable safetensors file ({error}); save or download it again."
        ) from None
    try:
        if "structure" in metadata:
            state = _unflatten(state, json.loads(metadata["structure"]), path)
        args, kwargs = (_decode_json(json.loads(metadata[key])) for key in ("args", "kwargs"))
    except UnsafeSeparationModelError:
        raise
    except (KeyError, ValueError, TypeError) as error:
        raise _refuse(path, f"its metadata does not give the model's class and arguments as JSON ({error})") from None
    return _build_demucs(path, metadata.get("klass"), args, kwargs, state)


def _load_pickle(path: Path):
    """A demucs ``.th`` package read with ``weights_only=True``: its class references become names."""
    import torch

    from songgen_hf.conversion.checkpoint_files import NOT_A_TORCH_FILE_ERRORS

    placeholders = [(_ClassName(name), name) for name in DEMUCS_CLASSES] + [(_fraction, "fractions.Fraction")]
    try:
        with torch.serialization.safe_globals(placeholders):
            package = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        detail = str(error).split("WeightsUnpickler error: ")[-1].splitlines()[0][:200]
        raise _refuse(path, f"it is a pickle that would build or call Python objects ({detail})") from None
    except NOT_A_TORCH_FILE_ERRORS as error:
        raise ValueError(
            f"Separation model {path} is not a readable torch.save file ({type(error).__name__}); "
            "save or download it again."
        ) from None
    if not isinstance(package, dict) or not isinstance(package.get("klass"), _ClassName):
        raise _refuse(path, "it is not a demucs model package naming an allowed class")
    return _build_demucs(
        path, package["klass"].name, package.get("args", ()), package.get("kwargs", {}), package.get("state")
    )


def _load_file(path: Path):
    if path.suffix == ".safetensors":
        return _load_safetensors(path)
    if path.suffix == ".th":
        return _load_pickle(path)
    raise ValueError(
        f"Separation model {path} is neither a .safetensors nor a .th file; give a demucs model file or "
        "folder, or a demucs model name."
    )


def _read_bag(path: Path, origin) -> dict:
    """A demucs bag description (``NAME.yaml``): model signatures that are plain file names, optional weights."""
    from songgen_hf.utils.safe_files import read_config_mapping

    try:
        spec = read_config_mapping(path, "the bag description") if path.stat().st_size else {}
    except (OSError, ValueError) as error:
        raise ValueError(f"Separation model {path} is not a readable YAML bag description ({error}).") from None
    models = spec.get("models") if isinstance(spec, dict) else None
    if not isinstance(models, list) or not all(isinstance(s, str) and _FILE_NAME.fullmatch(s) for s in models):
        raise ValueError(
            f"Separation model {path}: 'models' must list model signatures (plain file names, no folder "
            f"in them), got {str(models)[:100]}."
        )
    if not models:
        raise ValueError(f"Separation model folder {origin}: {path.name} lists no models.")
    return spec


def _bag(models: list, spec: dict):
    if len(models) == 1 and not spec.get("weights"):
        return models[0]
    return require("demucs.apply").BagOfModels(models, spec.get("weights"), spec.get("segment"))


def _load_folder(folder: Path):
    bags = sorted(folder.glob("*.yaml"))
    if bags:
        spec = _read_bag(bags[0], folder)
        models = []
        for signature in spec["models"]:
            files = [folder / f"{signature}{suffix}" for suffix in (".safetensors", ".th")]
            found = next((f for f in files if f.is_file()), None)
            if found is None:
                raise ValueError(
                    f"Separation model folder {folder}: {bags[0].name} lists {signature!r}, "
                    f"but neither {files[0].name} nor {files[1].name} is there."
                )
            models.append(_load_file(found))
        return _bag(models, spec)
    files = sorted(folder.glob("*.safetensors")) + sorted(folder.glob("*.th"))
    if len(files) != 1:
        raise ValueError(
            f"Separation model folder {folder} must hold a NAME.yaml bag or exactly one .th/.safetensors "
            f"model; it holds {len(files)} model files."
        )
    return _load_file(files[0])


def hub_repo_name(name: str) -> str:
    """demucs' Hub repository name of a model name (``htdemucs_ft`` -> ``HTDemucs-ft``)."""
    if name == "htdemucs":
        return "HTDemucs"
    if name.startswith("htdemucs_"):
        return "HTDemucs-" + name[len("htdemucs_") :]
    return "Demucs-" + name


def separation_repo(reference: str, trust: bool = False) -> tuple[str, str]:
    """``(repo_id, model name)`` of a demucs model name or ``namespace/name``; a namespace outside
    :data:`TRUSTED_SEPARATION_PUBLISHERS` is refused unless ``trust`` (the opt-in flag) is given."""
    namespace, _, name = str(reference).rpartition("/")
    namespace = namespace or TRUSTED_SEPARATION_PUBLISHERS[0]
    if not _FILE_NAME.fullmatch(name) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", namespace):
        raise ValueError(
            f"--separation-model {reference!r} is neither an existing file or folder nor a demucs model "
            f"name (such as {DEFAULT_SEPARATION_MODEL} or namespace/name)."
        )
    if namespace not in TRUSTED_SEPARATION_PUBLISHERS and not trust:
        raise ValueError(
            f"--separation-model {reference!r} is a Hub model of {namespace!r}, not of a known publisher "
            f"({', '.join(TRUSTED_SEPARATION_PUBLISHERS)}); it was not loaded. If you trust it, add {TRUST_FLAG} "
            f"(its files are still read as data only), or download it and pass the local folder."
        )
    return f"{namespace}/{hub_repo_name(name)}", name


def load_demucs(reference: str, trust: bool = False):
    """A demucs model (or bag of models) from a name, a folder or a file, built from data only; clear errors
    otherwise.  ``trust`` allows a Hub namespace outside the known publishers."""
    require("demucs")
    path = Path(reference).expanduser()
    if is_local(reference):
        return _load_folder(path) if path.is_dir() else _load_file(path)
    repo_id, name = separation_repo(reference, trust)
    download = f"hf download {repo_id}"
    from huggingface_hub import hf_hub_download, try_to_load_from_cache

    if is_offline() and not isinstance(try_to_load_from_cache(repo_id, f"{name}.yaml"), str):
        raise unavailable("separation", reference, f"{repo_id} is not in the Hugging Face cache", download)
    try:
        bag = Path(hf_hub_download(repo_id, f"{name}.yaml"))
        spec = _read_bag(bag, repo_id)
        files = [Path(hf_hub_download(repo_id, f"{signature}.safetensors")) for signature in spec["models"]]
    except (OSError, ValueError) as error:
        if isinstance(error, UnsafeSeparationModelError):
            raise
        raise unavailable("separation", reference, error, download) from error
    return _bag([_load_safetensors(file) for file in files], spec)


class DemucsSeparator:
    """Separation with a demucs model; ``shifts=0`` keeps it deterministic.  ``trust`` allows a Hub model of a
    publisher outside :data:`TRUSTED_SEPARATION_PUBLISHERS` (``--trust-separation-model``)."""

    def __init__(
        self,
        reference: str = DEFAULT_SEPARATION_MODEL,
        device: str = "cpu",
        shifts: int = 0,
        overlap: float = 0.25,
        model=None,
        trust: bool = False,
    ):
        self.name = str(reference)
        self.trust = trust
        self.device = device
        self.shifts = shifts
        self.overlap = overlap
        self._model = model

    @property
    def model(self):
        if self._model is None:
            self._model = load_demucs(self.name, self.trust)
        self._model.to(self.device).eval()
        return self._model

    @property
    def sources(self) -> list[str]:
        return list(self.model.sources)

    def separate(self, audio: np.ndarray, rate: int, num_samples: int) -> dict[str, np.ndarray]:
        import torch

        model = self.model
        if VOCALS not in model.sources:
            raise ValueError(
                f"Separation model {self.name!r} has no 'vocals' source (it has {list(model.sources)}); "
                "use a vocals model such as htdemucs."
            )
        wave = resample(np.atleast_2d(audio), rate, model.samplerate)
        channels = model.audio_channels
        if wave.shape[0] != channels:  # mono models get the downmix, stereo models a doubled mono file
            wave = np.repeat(wave.mean(axis=0, keepdims=True), channels, axis=0)
        mix = torch.from_numpy(np.ascontiguousarray(wave, dtype=np.float32))
        # demucs expects standardised input (its own CLI does the same) and is scale-equivariant
        reference = mix.mean(0)
        mean, std = reference.mean(), reference.std().clamp_min(1e-8)
        with torch.inference_mode():
            out = require("demucs.apply").apply_model(
                model,
                ((mix - mean) / std)[None],
                shifts=self.shifts,
                split=True,
                overlap=self.overlap,
                progress=False,
                device=self.device,
            )[0]
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


__all__ = [
    "DEFAULT_SEPARATION_MODEL",
    "DEMUCS_CLASSES",
    "DemucsSeparator",
    "Separator",
    "TRUSTED_SEPARATION_PUBLISHERS",
    "UnsafeSeparationModelError",
    "fit_length",
    "hub_repo_name",
    "load_demucs",
    "save_demucs_folder",
    "separation_repo",
    "split_stems",
]
