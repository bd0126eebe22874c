"""Which model a name or folder means, checked from its files before any weights load.

The text-to-song pipeline, the CLI, the evaluation and the Space all start from a ``--model`` /
``model=`` value: a local SongGen folder, a LoRA adapter folder (its base checked with it), a saved
ResGen pipeline, an embedded model's name, an official SongGen repo id or folder (converted once and cached)
or nothing (the embedded default).  The models' own ``from_pretrained`` resolve names through
:func:`resolve_embedded_name` and :func:`resolve_official_layout` (registered when ``songgen_hf`` is imported),
so every kind of source is decided here.  The checks read files only, so a wrong folder is a one-line
``ValueError`` saying what is missing instead of a failure deep inside ``from_pretrained``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from songgen_hf import defaults

_WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)
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


def resolve_embedded_name(name_or_path: Any, kwargs: dict) -> tuple[str, dict] | None:
    """An embedded model's name (``songgen-tiny``) -> its folder in this install, wherever a model id is
    accepted (a local path of the same name wins); ``None`` for anything else.  The Hub arguments that would
    name a repo are dropped."""
    folder = defaults.embedded_model_path(name_or_path)
    if folder is None:
        return None
    return str(folder), {key: value for key, value in kwargs.items() if key not in ("revision", "subfolder")}


def resolve_official_layout(name_or_path: Any, kwargs: dict) -> tuple[str, dict] | None:
    """An official SongGen repo id or folder -> its converted, cached folder (converted on first use); ``None``
    for anything else.  The converters are imported only when a name is resolved."""
    from songgen_hf.conversion.conversion_cache import resolve_pretrained_source

    return resolve_pretrained_source(name_or_path, kwargs)


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


def check_songgen_folder(folder: str | os.PathLike, require_processor: bool = True, allow_adapter: bool = True) -> str:
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
    if is_resgen_folder(folder):  # a saved ResGenPipeline: the same front door serves it
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
            f"{folder} is not a SongGen checkpoint: its config.json has model_type {model_type!r}{hint}, not 'songgen'."
        )
    if not any(os.path.isfile(os.path.join(folder, name)) for name in _WEIGHT_FILES):
        raise ValueError(
            f"{folder} has a SongGen config.json but no weights ({_WEIGHT_FILES[0]}); the copy is incomplete."
        )
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
            f"{folder} has an {_ADAPTER_CONFIG} but no adapter weights ({_ADAPTER_WEIGHT_FILES[0]}); "
            "the copy is incomplete."
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


RESGEN_PIPELINE_CLASS = "ResGenPipeline"  # model_index.json's _class_name of a saved ResGen pipeline


def is_resgen_folder(folder: str | os.PathLike) -> bool:
    """Whether ``folder`` is a saved ``ResGenPipeline`` (its ``model_index.json`` names it); reads that file only."""
    index = os.path.join(os.fspath(folder), "model_index.json")
    if not os.path.isfile(index):
        return False
    try:
        with open(index, encoding="utf-8") as handle:
            return json.load(handle).get("_class_name") == RESGEN_PIPELINE_CLASS
    except (OSError, ValueError, AttributeError):
        return False


is_resgen_folder_cheap = is_resgen_folder  # the name the CLI and the evaluation use


def check_resgen_folder(folder: str | os.PathLike) -> str:
    """Raise ``ValueError`` saying what a ResGen pipeline folder lacks (from the files alone)."""
    from songgen_hf.modeling.resgen.modeling_resgen import PIPELINE_MODEL_COMPONENT as RESGEN_MODEL_COMPONENT

    folder = os.fspath(folder)
    for component, needed in ((RESGEN_MODEL_COMPONENT, "config.json"), ("processor", "processor_config.json")):
        if not os.path.isfile(os.path.join(folder, component, needed)):
            raise ValueError(
                f"{folder} is a ResGen pipeline folder without {component}/{needed}; the copy is incomplete "
                "(save it again with ResGenPipeline.save_pretrained)."
            )
    model = os.path.join(folder, RESGEN_MODEL_COMPONENT)
    if not any(name.endswith((".safetensors", ".bin")) for name in os.listdir(model)):
        raise ValueError(
            f"{folder} has a ResGen config but no weights in {RESGEN_MODEL_COMPONENT}/; the copy is incomplete."
        )
    return folder


def check_resgen_folder_and_arguments(folder: str, kwargs: dict) -> None:
    """A ResGen folder's files (weights complete) and the pipeline arguments against its config, from the files
    alone."""
    from songgen_hf.modeling.resgen import check_resgen_arguments
    from songgen_hf.modeling.resgen.modeling_resgen import PIPELINE_MODEL_COMPONENT as RESGEN_MODEL_COMPONENT
    from songgen_hf.pipelines.checks import check_weight_files, songgen_config

    check_resgen_folder(folder)
    check_weight_files(os.path.join(folder, RESGEN_MODEL_COMPONENT))
    check_resgen_arguments(resgen_arguments(kwargs), songgen_config(folder))


def resgen_arguments(options: dict) -> dict:
    """The checked ResGen arguments among pipeline options (top level or in ``generate_kwargs``)."""
    from songgen_hf.modeling.resgen.arguments import CHECKED_ARGUMENTS

    nested = options.get("generate_kwargs")
    merged = {**options, **(nested if isinstance(nested, dict) else {})}
    return {key: merged[key] for key in CHECKED_ARGUMENTS if merged.get(key) is not None}


def resgen_folder_of(model) -> str | None:
    """The pipeline folder a ResGen model was loaded from (itself, or the parent of its ``transformer/``), if any."""
    path = os.fspath(getattr(model, "name_or_path", "") or "")
    if not path:
        return None
    for candidate in (path, os.path.dirname(os.path.normpath(path))):
        if candidate and is_resgen_folder(candidate):
            return candidate
    return None


def sub_model_folders(folder: Any, base: str | os.PathLike | None = None) -> dict[str, Path]:
    """The sub-models a SongGen model folder holds, by name: every sub-folder with a ``config.json`` of its own
    (``singer/``: the told singer).  They are part of the model: export copies them, ``songgen info`` lists
    them, the pipeline and the Space load them from here.  A LoRA adapter folder holds its base's (``base``, or
    the one it names): an adapter changes weights, never which parts a model has.  Anything that is not a
    local folder (a Hub id, a loaded model without a folder) holds none."""
    if not isinstance(folder, (str, os.PathLike)) or not os.fspath(folder) or not os.path.isdir(folder):
        return {}
    from songgen_hf.adapter_base import is_adapter_folder, resolve_adapter_base

    if is_adapter_folder(folder):
        folder = resolve_adapter_base(folder, base)  # a missing base: a ValueError naming it and the fix
        if not os.path.isdir(folder):
            return {}
    return {
        child.name: child
        for child in sorted(Path(folder).iterdir())
        if child.is_dir() and (child / "config.json").is_file()
    }


def looks_local(model: str) -> bool:
    """A filesystem path rather than a Hub id (``org/name``), which transformers would try to download."""
    return os.path.exists(model) or os.path.isabs(model) or model.startswith((".", "~")) or model.count("/") > 1


__all__ = [
    "RESGEN_PIPELINE_CLASS",
    "check_resgen_folder",
    "check_resgen_folder_and_arguments",
    "check_songgen_folder",
    "is_resgen_folder",
    "is_resgen_folder_cheap",
    "looks_local",
    "model_folder_or_default",
    "resolve_official",
    "sub_model_folders",
]
