"""Which model a name or folder means, checked from its files before any weights load.

The text-to-song pipeline, the CLI, the evaluation and the Space all start from a ``--model`` /
``model=`` value: a local SongGen folder, a LoRA adapter folder (its base checked with it), a saved
ResGen pipeline, an official SongGen repo id or folder (converted once and cached) or nothing (the
embedded default).  The checks here read files only, so a wrong folder is a one-line ``ValueError``
saying what is missing instead of a failure deep inside ``from_pretrained``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from songgen_hf import defaults


_WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")
_ADAPTER_CONFIG = "adapter_config.json"


def resolve_official(model: Any, kwargs: dict | None = None) -> tuple[Any, dict]:
    """``(model, kwargs)`` with an official SongGen repo id or folder replaced by its converted, cached
    folder (converted on first use; the hook ``from_pretrained`` uses), and the Hub arguments that named
    the original dropped; anything else unchanged."""
    from songgen_hf.modeling.songgen.modeling_songgen import resolve_pretrained_source

    kwargs = dict(kwargs or {})
    if isinstance(model, os.PathLike):
        model = os.fspath(model)
    if not isinstance(model, str):
        return model, kwargs
    hub = {key: kwargs[key] for key in _RESOLVE_KWARGS if kwargs.get(key) is not None}
    resolved, remaining = resolve_pretrained_source(model, hub)
    if resolved is model:
        return model, kwargs
    return resolved, {**{k: v for k, v in kwargs.items() if k not in hub}, **remaining}


_RESOLVE_KWARGS = ("revision", "token", "local_files_only", "cache_dir")


def model_folder_or_default(model: str | None, option: str = "--model") -> Path:
    """A command's model option as a checked SongGen folder; without one, the embedded default model.

    An official SongGen repo id or folder becomes its converted, cached folder (converted once)."""
    if model is None:
        return defaults.default_model_path()
    try:
        model, _ = resolve_official(model)
        return Path(check_songgen_folder(model))  # a LoRA adapter folder too: its base is checked with it
    except ValueError as error:
        raise ValueError(f"{option} {error}") from None


def check_songgen_folder(
    folder: str | os.PathLike, require_processor: bool = True, allow_adapter: bool = True
) -> str:
    """Raise ``ValueError`` saying why a local ``folder`` is not a usable SongGen checkpoint.

    Checked from the files alone, before any weights load: the folder exists, ``config.json``
    parses and has ``model_type`` ``songgen``, weights are there and (``require_processor``) so
    is ``processor_config.json``.  A LoRA adapter folder (``adapter_config.json``, no
    ``config.json``) passes when ``allow_adapter``, its weights are there and so is the base it
    names (:mod:`songgen_hf.adapter_base`), itself a SongGen folder; the processor files may sit
    in either.  Returns the folder as a string.
    """
    folder = os.fspath(folder)
    if not os.path.exists(folder):
        raise ValueError(f"{folder} is not a model folder: it does not exist.")
    if not os.path.isdir(folder):
        raise ValueError(f"{folder} is not a model folder but a file; pass the folder that holds config.json.")
    if is_resgen_folder_cheap(folder):  # a saved ResGenPipeline: the same front door serves it
        from songgen_hf.pipelines.resgen_pipeline import check_resgen_folder

        return check_resgen_folder(folder)
    config_path = os.path.join(folder, "config.json")
    if not os.path.isfile(config_path):
        if allow_adapter and os.path.isfile(os.path.join(folder, _ADAPTER_CONFIG)):
            return _check_adapter_folder(folder, require_processor)
        raise ValueError(
            f"{folder} is not a model folder (no config.json there); pass a SongGen checkpoint folder "
            "(config.json, model.safetensors and the processor files)."
        )
    try:
        with open(config_path, encoding="utf-8") as handle:
            model_type = json.load(handle).get("model_type")
    except (OSError, ValueError, AttributeError) as error:
        raise ValueError(f"{config_path} is not a valid model config ({error}).") from None
    if model_type != "songgen":
        hint = " (an X-Codec codec: use `songgen codec ...`)" if model_type in ("songgen_xcodec", "xcodec") else ""
        raise ValueError(
            f"{folder} is not a SongGen checkpoint: its config.json has model_type {model_type!r}{hint}, "
            "not 'songgen'."
        )
    if not any(os.path.isfile(os.path.join(folder, name)) for name in _WEIGHT_FILES):
        raise ValueError(f"{folder} has a SongGen config.json but no weights ({_WEIGHT_FILES[0]}); the copy is incomplete.")
    from songgen_hf.pipelines.checks import weight_files

    weight_files(folder)  # every shard a shard index names is there (the embedded models share the codec's)
    if require_processor and not os.path.isfile(os.path.join(folder, "processor_config.json")):
        raise ValueError(
            f"{folder} has SongGen weights but no processor files (processor_config.json); save them beside the "
            "model with SongGenProcessor.save_pretrained, or pass processor=... ."
        )
    return folder


_ADAPTER_WEIGHT_FILES = ("adapter_model.safetensors", "adapter_model.bin")


def _check_adapter_folder(folder: str, require_processor: bool) -> str:
    """The adapter branch of :func:`check_songgen_folder`: weights, base (found or clearly missing), processor."""
    from songgen_hf.adapter_base import resolve_adapter_base

    if not any(os.path.isfile(os.path.join(folder, name)) for name in _ADAPTER_WEIGHT_FILES):
        raise ValueError(
            f"{folder} has an {_ADAPTER_CONFIG} but no adapter weights ({_ADAPTER_WEIGHT_FILES[0]}); the copy is incomplete."
        )
    base = resolve_adapter_base(folder)  # a missing base: a ValueError naming it and the fix
    if not os.path.isdir(base):
        return folder  # a Hub id: transformers fetches it (or says why not)
    try:
        check_songgen_folder(base, require_processor=False, allow_adapter=False)
    except ValueError as error:
        raise ValueError(f"The base model of the LoRA adapter {folder} is not usable: {error}") from None
    if require_processor and not any(os.path.isfile(os.path.join(f, "processor_config.json")) for f in (folder, base)):
        raise ValueError(
            f"Neither the LoRA adapter {folder} nor its base {base} has processor files (processor_config.json); "
            "save them beside either with SongGenProcessor.save_pretrained, or pass processor=... ."
        )
    return folder


def is_resgen_folder_cheap(folder: str | os.PathLike) -> bool:
    """A saved ResGen pipeline; diffusers is imported only for folders with a ``model_index.json``."""
    if not os.path.isfile(os.path.join(os.fspath(folder), "model_index.json")):
        return False
    from songgen_hf.pipelines.resgen_pipeline import is_resgen_folder

    return is_resgen_folder(folder)


def looks_local(model: str) -> bool:
    """A filesystem path rather than a Hub id (``org/name``), which transformers would try to download."""
    return os.path.exists(model) or os.path.isabs(model) or model.startswith((".", "~")) or model.count("/") > 1


__all__ = [
    "check_songgen_folder",
    "is_resgen_folder_cheap",
    "looks_local",
    "model_folder_or_default",
    "resolve_official",
]
