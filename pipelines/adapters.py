"""Styles on one base: several LoRA adapters loaded onto one SongGen, switched and blended per song.

``pipeline("text-to-song", model=BASE, adapters={"mine": DIR, "lofi": DIR2})`` loads the base once and each
adapter beside the others with peft's public API (``PeftModel.from_pretrained`` for the first,
``load_adapter`` for the rest); a song then picks its style::

    song = pipe("a calm folk song", adapter="mine")                      # one adapter
    song = pipe("a calm folk song", adapter={"mine": 0.7, "lofi": 0.3})  # a blend
    song = pipe("a calm folk song")                                      # the base alone (or the pipeline's
                                                                         # adapter= default)

Switching is ``set_adapter``; a blend is ``add_weighted_adapter`` with ``combination_type="cat"``, which stacks
the adapters' factors (each scaled by its weight), so the blend's update is exactly ``sum(w_i * B_i A_i * s_i)``
for adapters of any ranks, built once per blend and kept; the base weights are never touched or reloaded.  A blend
at weight 0 adds exactly zero: the base's song for a seed.

Everything about the adapters is checked from their files before any of their weights load: each folder is a
LoRA adapter (no pickle that names code, no remote code), made for this base; names are distinct; a style asked
for names loaded adapters with finite weights >= 0.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from songgen_hf.modeling.limits import is_number
from songgen_hf.pipelines.adapter_folders import (
    check_adapter_files,
    check_adapter_loaded,
    read_adapter_config,
    resolve_adapter_base,
)
from songgen_hf.pipelines.loading import ADAPTER_CONFIG_FILE, MODEL_CONFIG_FILE, embedded_model_path, is_adapter_folder

ADAPTERS_ENV = "SONGGEN_ADAPTERS"  # the Space's adapters: "NAME=DIR,NAME2=DIR2" (or bare folders)
MAX_BLENDS = 8  # blends kept built at once; the oldest is deleted past this (rebuilding one is cheap)
_BLEND_PREFIX = "blend_"  # the adapters peft builds for blends: blend_1, blend_2, ...


class AdapterError(ValueError):
    """An adapter folder, name or weight that cannot be used; the message names it and the fix."""


# ---------------------------------------------------------------------------------- names and weights
def adapter_name_for(folder: str | os.PathLike) -> str:
    """The name a folder's adapter goes by when none is given: the folder's name, or its run's for a
    ``finetune-lora`` output (``runs/my-lora/final`` -> ``my-lora``)."""
    path = Path(os.path.abspath(os.fspath(folder)))
    name = path.parent.name if path.name == "final" and path.parent.name else path.name
    return name.replace(".", "-")  # a peft adapter name is a module name: no dots


def parse_adapter_option(text: str, flag: str = "--adapter") -> tuple[str, float | None]:
    """``DIR`` or ``DIR=WEIGHT`` (a command line's ``--adapter``) -> ``(DIR, WEIGHT or None)``."""
    if not isinstance(text, str) or not text.strip():
        raise AdapterError(f"{flag} needs an adapter folder, e.g. {flag} runs/my-lora/final or {flag} DIR=0.7.")
    folder, weight = text, None
    head, sep, tail = text.rpartition("=")
    if sep and head and not os.path.isdir(text):
        try:
            weight = float(tail)
        except ValueError:
            raise AdapterError(
                f"{flag} {text!r}: the weight after '=' must be a number >= 0 (e.g. {head}=0.7)."
            ) from None
        folder = head
    return folder, weight


def named_adapters(adapters: Any) -> dict[str, str]:
    """``adapters`` as ``{name: folder}``: a dict is taken as it is, a folder or a list of folders is named by
    :func:`adapter_name_for`.  Two adapters of one name are refused, naming both folders."""
    if isinstance(adapters, (str, os.PathLike)):
        adapters = [adapters]
    if isinstance(adapters, Mapping):
        items = list(adapters.items())
    elif isinstance(adapters, (list, tuple)):
        items = [(adapter_name_for(folder), folder) for folder in adapters]
    else:
        raise AdapterError(
            f"adapters must map names to adapter folders, e.g. {{'mine': 'runs/my-lora/final'}}, or list folders; "
            f"got {type(adapters).__name__}."
        )
    if not items:
        raise AdapterError("adapters is empty; give at least one adapter folder, or leave adapters out.")
    named: dict[str, str] = {}
    for name, folder in items:
        if not isinstance(name, str) or not name.strip() or name.startswith(_BLEND_PREFIX) or set(name) & set("=.,"):
            raise AdapterError(
                f"Adapter name {name!r} is not usable: give a non-empty name without '=', '.' or ',' that does not "
                f"start with {_BLEND_PREFIX!r}."
            )
        if not isinstance(folder, (str, os.PathLike)) or not os.fspath(folder).strip():
            raise AdapterError(f"Adapter {name!r}: {folder!r} is not a folder path.")
        if name in named:
            raise AdapterError(
                f"Two adapters are named {name!r} ({named[name]} and {os.fspath(folder)}); name them apart, e.g. "
                "adapters={'mine': DIR, 'other': DIR2} (on the command line the name is the folder's, or its "
                "run's for a .../final folder: rename or move one)."
            )
        named[name] = os.fspath(folder)
    return named


def check_adapter_choice(choice: Any, loaded: Mapping[str, Any] | None) -> str | dict[str, float] | None:
    """A song's ``adapter=``: ``None`` (the base alone), a loaded adapter's name, or ``{name: weight}`` with finite
    weights >= 0 naming loaded adapters.  Returned normalised (weights as floats); a ``ValueError`` otherwise."""
    if choice is None:
        return None
    names = sorted(loaded or {})
    if not names:
        raise AdapterError(
            f"adapter={choice!r} but no adapter is loaded; load them with the pipeline: "
            "pipeline('text-to-song', model=BASE, adapters={'mine': 'runs/my-lora/final'}) "
            "(songgen generate --adapter DIR)."
        )
    if isinstance(choice, str):
        if choice not in names:
            raise AdapterError(f"adapter={choice!r} is not loaded; the loaded adapters are {names}.")
        return choice
    if not isinstance(choice, Mapping) or not choice:
        raise AdapterError(
            f"adapter must be a loaded adapter's name or a blend such as {{{names[0]!r}: 0.7}}, got {choice!r}."
        )
    blend: dict[str, float] = {}
    for name, weight in choice.items():
        if name not in names:
            raise AdapterError(f"The blend names {name!r}, which is not loaded; the loaded adapters are {names}.")
        if not is_number(weight, finite=True) or weight < 0:
            raise AdapterError(
                f"The blend's weight for {name!r} is {weight!r}; a weight is a finite number >= 0 (0: the adapter "
                "has no effect, 1: its full effect)."
            )
        blend[name] = float(weight)
    return blend


# ---------------------------------------------------------------------------------- folders, before weights
def _same_base(first: str, second: str) -> bool:
    def where(name: str) -> str:
        embedded = embedded_model_path(name)
        name = os.fspath(embedded) if embedded is not None else name
        return os.path.realpath(name) if os.path.isdir(name) else name

    return where(first) == where(second)


def check_adapter_folder(name: str, folder: str, base: str | None) -> None:
    """One adapter folder, from its files: a PEFT LoRA adapter (config and safetensors weights, or a pickle that
    holds tensors only), no remote code, and, when ``base`` (the pipeline's base folder or id) is known, made for
    it.  A ``ValueError`` naming the adapter, the problem and the fix."""
    path = Path(folder)
    if not path.is_dir():
        raise AdapterError(f"Adapter {name!r}: {folder} is not a folder (give a LoRA adapter folder, e.g. .../final).")
    if (path / MODEL_CONFIG_FILE).is_file() and not is_adapter_folder(path):  # an adapter's config.json is its base's
        raise AdapterError(
            f"Adapter {name!r}: {folder} is a whole model (it has model weights), not a LoRA adapter; pass it as the "
            "model instead."
        )
    if not (path / ADAPTER_CONFIG_FILE).exists():
        raise AdapterError(f"Adapter {name!r}: {folder} is not a LoRA adapter folder (no {ADAPTER_CONFIG_FILE}).")
    try:
        config = read_adapter_config(path)  # the safe reader: a FIFO, /dev/zero, a huge or deep file is refused
    except ValueError as error:
        raise AdapterError(f"Adapter {name!r}: {error}") from None
    code = sorted(str(p.relative_to(path)) for p in path.rglob("*.py"))
    # peft's own "auto_mapping" names the base class it was saved with and is never imported here; "auto_map" is
    # transformers' remote code
    if "auto_map" in config or code:
        what = ", ".join(code) if code else "an auto_map in adapter_config.json"
        raise AdapterError(
            f"Adapter {name!r}: {folder} ships code ({what}); songgen runs no code from a model folder. A songgen "
            "LoRA adapter is its adapter_config.json and adapter_model.safetensors: remove the rest."
        )
    if config.get("peft_type") != "LORA":
        raise AdapterError(
            f"Adapter {name!r}: {folder} holds a {config.get('peft_type')!r} adapter; only LoRA adapters "
            "(songgen finetune-lora) load onto a SongGen."
        )
    if not any((path / weights).is_file() for weights in ("adapter_model.safetensors", "adapter_model.bin")):
        raise AdapterError(
            f"Adapter {name!r}: {folder} has no adapter weights (adapter_model.safetensors); the copy is incomplete."
        )
    try:
        # a pickle that names code, a cut safetensors file, a rank its weights do not hold: refused naming the file
        check_adapter_files(path)
        from songgen_hf.pipelines.singer_adapters import check_singer_adapter, singer_adapter_folder

        singer = singer_adapter_folder(path)  # the told singer's LoRA, checked as the decoder's
        if singer is not None:
            check_singer_adapter(singer)
        from songgen_hf.pipelines.description_gate import read_description_gate

        read_description_gate(path)  # the description gate's record, before any weight loads
    except ValueError as error:
        raise AdapterError(f"Adapter {name!r}: {error}") from None
    if base is None:
        return
    trained_on = resolve_adapter_base(path)
    if not _same_base(trained_on, base):
        raise AdapterError(
            f"Adapter {name!r} ({folder}) was trained on {trained_on}, not on this pipeline's base {base}: load it "
            f"with model={trained_on!r}; if it fits this base (a copy of it), re-point it with "
            "songgen_hf.training.lora.set_adapter_base."
        )


_A_HEAD = ("decoder.lm_heads.0", "decoder.vocal_lm_heads.0")


def adapts_heads(folder: str) -> bool:
    """Whether the adapter in ``folder`` (already checked) changes the output heads: a LoRA on them (its
    ``target_modules`` reach ``decoder.lm_heads``) or heads trained in full (``modules_to_save``).  Such an adapter
    needs the heads as float linears, so the base cannot hold them in int8."""
    config = read_adapter_config(folder)
    targets = config.get("target_modules") or []
    if isinstance(targets, str):
        pattern = re.compile(targets)
        reached = any(pattern.fullmatch(name) for name in _A_HEAD)
    else:
        reached = any(name.endswith(target) for name in _A_HEAD for target in targets)
    saved = config.get("modules_to_save") or []
    return reached or any("lm_heads" in str(name) for name in saved)


STYLE_TEMPO_KEY = "style_tempo_bpm"  # songgen_adapter.json: the tempo of the songs the adapter was trained on


def adapter_style_tempo(folder: str | os.PathLike) -> float | None:
    """The tempo the adapter's own songs are at (``songgen_adapter.json``'s ``style_tempo_bpm``, the median of the
    tempos their captions name, written by ``finetune-lora``), or None when it records none.  A song made with the
    adapter whose request names no tempo is made at it: the decoder's metronome (the tempo control) is what the
    adapter learnt its groove against, and without it the groove stays the base's.  A value that is not a tempo is
    an :class:`AdapterError` naming the file."""
    from songgen_hf.modeling.songgen.description_songgen import MAX_BPM, MIN_BPM
    from songgen_hf.pipelines.adapter_folders import BASE_RECORD_FILE, _read_json

    record_path = Path(folder) / BASE_RECORD_FILE
    if not record_path.is_file():
        return None
    value = _read_json(record_path).get(STYLE_TEMPO_KEY)
    if value is None:
        return None
    if not is_number(value) or not MIN_BPM <= float(value) <= MAX_BPM:
        raise AdapterError(
            f"{record_path}: {STYLE_TEMPO_KEY} must be a tempo in beats per minute within {MIN_BPM:g}-{MAX_BPM:g}, "
            f"got {value!r}; remove the entry (songs then keep the tempo their request names, or none) or train the "
            "adapter again."
        )
    return float(value)


def choice_style_tempo(folders: Mapping[str, str], choice: str | dict[str, float] | None) -> float | None:
    """The tempo a song made with ``choice`` of the adapters ``folders`` (name: folder) is made at when its request
    names none: the adapter's recorded tempo (:func:`adapter_style_tempo`), a blend's most weighted adapter's that
    records one; None for the base (``choice`` None) or adapters that record none.  Every door asks this one
    function, and :func:`~songgen_hf.pipelines.requests.prepare_song` applies its answer, so a song of a seed is
    the same through the pipeline, the CLI, the stream and the Space."""
    if choice is None:
        return None
    weights = {choice: 1.0} if isinstance(choice, str) else choice
    ranked = sorted((weight, -index, name) for index, (name, weight) in enumerate(weights.items()) if weight > 0)
    for _, _, name in reversed(ranked):
        tempo = adapter_style_tempo(folders[name])
        if tempo is not None:
            return tempo
    return None


def check_adapter_precision(quantize: Any, adapters: Mapping[str, str] | None = None) -> None:
    """A precision asked (``quantize``) that would replace what adapters adapt refused, before any weights load:
    int8 replaces every decoder linear layer; int8-heads and bf16-heads the output heads, which the documented
    adapters adapt (``adapters``: the named folders, read for their targets)."""
    if quantize == "int8":
        raise AdapterError(
            "quantize='int8' replaces the decoder's linear layers that the adapters adapt; use quantize='int8-heads' "
            "or 'bf16', or merge one adapter into its base first (songgen export ADAPTER)."
        )
    if quantize in ("int8-heads", "bf16-heads") and adapters:
        heads = sorted(name for name, folder in adapters.items() if adapts_heads(folder))
        if heads:
            raise AdapterError(
                f"quantize={quantize!r} replaces the output heads that adapter(s) {heads} adapt; use quantize='bf16' "
                "or 'fp32', or merge one adapter into its base first (songgen export ADAPTER)."
            )


def check_adapters(adapters: Any, base: str | None) -> dict[str, str]:
    """``adapters`` named (:func:`named_adapters`) and every folder checked (:func:`check_adapter_folder`)."""
    named = named_adapters(adapters)
    for name, folder in named.items():
        check_adapter_folder(name, folder, base)
    return named


def check_adapters_before_loading(model: Any, kwargs: dict) -> None:
    """``adapters`` / ``adapter`` of :func:`~songgen_hf.pipelines.load_text_to_song_pipeline` (``kwargs``, whose
    ``adapters`` become the named folders), from the files, before any weights load: ``model`` a SongGen base (not
    an adapter or a ResGen pipeline folder), each adapter made for it, the precision one they allow, the style
    named."""
    from songgen_hf.pipelines.loading import base_model_folder, is_resgen_folder, looks_local

    if isinstance(model, str) and looks_local(model):
        if is_resgen_folder(model):
            raise AdapterError("LoRA adapters apply to SongGen models; this is a ResGen pipeline folder.")
        if os.path.isdir(model) and is_adapter_folder(model):
            raise AdapterError(
                f"model={model} is itself a LoRA adapter; pass its base as the model and the adapter among the "
                "adapters: adapters={'mine': ADAPTER, ...}."
            )
    check_adapter_precision(kwargs.get("quantize"))
    named = None
    if kwargs.get("adapters") is not None:
        base = model if isinstance(model, str) else getattr(model, "name_or_path", "") or None
        named = check_adapters(kwargs["adapters"], base_model_folder(base) if base else None)
        kwargs["adapters"] = named
        check_adapter_precision(kwargs.get("quantize"), named)
    check_adapter_choice(kwargs.get("adapter"), named)


def adapters_from_environment(value: str | None = None) -> dict[str, str]:
    """The adapters in ``SONGGEN_ADAPTERS`` (or ``value``): comma-separated ``NAME=DIR`` or bare folders."""
    value = os.environ.get(ADAPTERS_ENV, "") if value is None else value
    entries = [entry.strip() for entry in value.split(",") if entry.strip()]
    pairs = []
    for entry in entries:
        name, sep, folder = entry.partition("=")
        pairs.append((name.strip(), folder.strip()) if sep else (adapter_name_for(entry), entry))
    names = [name for name, _ in pairs]
    duplicate = next((name for name in names if names.count(name) > 1), None)
    if duplicate is not None:
        raise AdapterError(f"{ADAPTERS_ENV} names {duplicate!r} twice; give each adapter its own NAME=DIR.")
    return dict(pairs)


# ---------------------------------------------------------------------------------- on the model
class AdapterSet:
    """The adapters loaded onto one base model (in place: the model keeps its class and its base weights), and
    which of them the next song uses."""

    def __init__(self, model, adapters: Mapping[str, str]):
        import warnings

        from peft import PeftModel

        self.folders = dict(adapters)
        self.blends: dict[tuple, str] = {}  # (name, weight) pairs -> the adapter built for that blend
        self._built = 0
        self.peft_model = None
        with warnings.catch_warnings():  # PEFT asks transformers' deprecated name; nothing the user can change
            warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
            for name, folder in self.folders.items():
                self._load(PeftModel, model, name, folder)
        self.peft_model.eval()
        self.trained_in_full = {
            name for name, config in self.peft_model.peft_config.items() if getattr(config, "modules_to_save", None)
        }
        self.activate(None)

    def _load(self, peft_model_class, model, name: str, folder: str) -> None:
        """The first adapter wraps the model (``PeftModel.from_pretrained``), the others join it (``load_adapter``)."""
        try:
            if self.peft_model is None:
                self.peft_model = peft_model_class.from_pretrained(model, folder, adapter_name=name)
            else:
                self.peft_model.load_adapter(folder, adapter_name=name)
        except (RuntimeError, ValueError, KeyError) as error:  # shapes of another base, targets it lacks
            reason = str(error).strip().splitlines()[0][:300]
            raise AdapterError(
                f"Adapter {name!r} ({folder}) does not fit this base ({reason}); it was made for another base: "
                "load it onto the base it was trained from."
            ) from None
        check_adapter_loaded(self.peft_model, folder, adapter_name=name)  # weights that found no home: refused

    @property
    def names(self) -> list[str]:
        return list(self.folders)

    def gated(self, choice: str | dict[str, float] | None, description: str, gate: bool = True):
        """``(choice, gates)``: the choice a song of ``description`` is made with, each adapter weighted by its
        description gate (:func:`~songgen_hf.pipelines.description_gate.gated_choice`)."""
        from songgen_hf.pipelines.description_gate import check_gate_option, gated_choice

        return gated_choice(self.folders, choice, description, check_gate_option(gate))

    def style_tempo(self, choice: str | dict[str, float] | None) -> float | None:
        """The tempo a song of ``choice`` is made at when its request names none (:func:`choice_style_tempo`)."""
        return choice_style_tempo(self.folders, choice)

    def activate(self, choice: str | dict[str, float] | None) -> None:
        """Make ``choice`` (checked by :func:`check_adapter_choice`) what the model computes: ``None`` the base
        alone, a name that adapter, a dict the blend (built on first use)."""
        lora = self.peft_model.base_model
        if choice is None:
            lora.disable_adapter_layers()
            return
        name = choice if isinstance(choice, str) else self._blend(choice)
        self.peft_model.set_adapter(name)
        lora.enable_adapter_layers()

    def _blend(self, weights: dict[str, float]) -> str:
        full = sorted(set(weights) & self.trained_in_full)
        if full:
            raise AdapterError(
                f"Adapter(s) {full} also train output heads or embeddings in full (train_heads / train_embeddings), "
                "which cannot be weighted; use them on their own (adapter='name'), not in a blend."
            )
        key = tuple(sorted(weights.items()))
        if key not in self.blends:
            self._built += 1
            name = f"{_BLEND_PREFIX}{self._built}"
            import warnings

            with warnings.catch_warnings():  # peft asks transformers' deprecated name; nothing the user can change
                warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
                self.peft_model.add_weighted_adapter(
                    adapters=[adapter for adapter, _ in key],
                    weights=[weight for _, weight in key],
                    adapter_name=name,
                    combination_type="cat",
                )
            self.blends[key] = name
            if len(self.blends) > MAX_BLENDS:
                oldest = self.blends.pop(next(iter(self.blends)))
                self.peft_model.set_adapter(name)  # peft refuses to delete the active adapter
                self.peft_model.delete_adapter(oldest)
        return self.blends[key]


def describe_choice(choice: str | dict[str, float] | None) -> str:
    """How a song's style reads in a printout."""
    if choice is None:
        return "the base alone"
    if isinstance(choice, str):
        return f"adapter {choice}"
    return "blend " + ", ".join(f"{name} x{weight:g}" for name, weight in choice.items())


__all__ = [
    "ADAPTERS_ENV",
    "AdapterError",
    "AdapterSet",
    "adapter_name_for",
    "adapters_from_environment",
    "adapts_heads",
    "check_adapter_choice",
    "check_adapter_folder",
    "check_adapters",
    "check_adapters_before_loading",
    "describe_choice",
    "named_adapters",
    "parse_adapter_option",
]
