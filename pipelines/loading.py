"""Which model a name or folder means, checked from its files before any weights load.

The text-to-song pipeline, the CLI, the evaluation and the Space all start from a ``--model`` /
``model=`` value: a local SongGen folder, a LoRA adapter folder (its base checked with it), a saved
ResGen pipeline, an embedded model's name, an official SongGen repo id or folder (converted once and cached)
or nothing (the embedded default).  The models' own ``from_pretrained`` resolve names through :func:`resolve_name`,
the adapter folders' resolver (``songgen_hf.pipelines.adapter_folders``: an adapter's base) and the converters'
(``songgen_hf.modeling.weight_bounds``), so every kind of source is decided here.  The checks read files only, so a
wrong folder is a one-line ``ValueError`` saying what is missing instead of a failure deep inside
``from_pretrained``."""

from __future__ import annotations

import os
from collections.abc import Iterable
from importlib import import_module
from pathlib import Path
from typing import Any

from songgen_hf.utils.safe_files import read_json

# ----------------------------------------------------------------------------------------------------
# The models embedded in the package, by name: the one place the CLI, the pipeline, the Space and the
# loaders learn which folders they are.
#
# ``songgen-tiny`` is the default (what ``pipeline("text-to-song")`` and ``songgen generate`` load
# without a model); any others are options, named wherever a model id is accepted
# (``from_pretrained("songgen-tiny")``, ``--model songgen-tiny``).  A local path
# with the same name wins over the name, as a local folder wins over a Hub id in transformers.  A name
# that an earlier release embedded and this one retired is a clear ``ValueError`` naming its successor,
# not a failed Hub lookup.
# An embedded model keeps its codec in a shard of its own, which further embedded models may share (see
# ``songgen_hf.conversion.embedded_layout``).

# the package's own data folder, wherever this module is installed from (songgen_hf/assets)
ASSETS_DIR = Path(import_module("songgen_hf").__file__).resolve().parent / "assets"
DEFAULT_MODEL_NAME = "songgen-tiny"
DEFAULT_MODEL_DIR = ASSETS_DIR / DEFAULT_MODEL_NAME

#: name -> one line on what it is (``songgen generate --help`` lists them); the folder is ``ASSETS_DIR / name``
EMBEDDED_MODELS = {
    DEFAULT_MODEL_NAME: "the default (dual-track: accompaniment and vocals, two frames of each per decoding step)",
}

#: retired name -> why it went and what to load instead (the fix the error names)
RETIRED_MODELS = {
    "songgen-tiny-stream2": (
        "songgen-hf's 2-stream model became the default in songgen-tiny v10: load 'songgen-tiny' (or pass no model)"
    ),
    "songgen-tiny-stream1": (
        "the single-stream option left the package when the dual-track songgen-tiny v12 became the default "
        "(both would not fit the 80 MB of embedded weights): load 'songgen-tiny' (or pass no model), or rebuild "
        "the option with recipes/songgen_tiny/songgen_v9.yaml and load its folder"
    ),
}


def default_model_path() -> Path:
    """The embedded default model folder; a clear error if this install does not ship it yet."""
    if not (DEFAULT_MODEL_DIR / "config.json").is_file():
        raise ValueError(
            f"The embedded default model is not in this install ({DEFAULT_MODEL_DIR}). "
            "Pass a model folder explicitly (model=... / --model ...)."
        )
    return DEFAULT_MODEL_DIR


def embedded_model_path(name: str | os.PathLike) -> Path | None:
    """The folder of the embedded model called ``name``, or None when ``name`` names none (or a local
    path of that name exists: the path wins).  A known name missing from this install is a ``ValueError``."""
    if not isinstance(name, (str, os.PathLike)):
        return None
    text = os.fspath(name)
    if os.path.exists(text):
        return None
    if text in RETIRED_MODELS:
        raise ValueError(f"{text!r} is no longer embedded: {RETIRED_MODELS[text]}.")
    if text not in EMBEDDED_MODELS:
        return None
    return embedded_folder(text)


def embedded_folder(name: str) -> Path:
    """The folder of the embedded model ``name`` (one of ``EMBEDDED_MODELS``), checked to be installed."""
    if name not in EMBEDDED_MODELS:
        raise ValueError(
            f"{name!r} is not an embedded model; this install embeds {', '.join(map(repr, EMBEDDED_MODELS))}."
        )
    if name == DEFAULT_MODEL_NAME:
        return default_model_path()
    folder = _folder(name)
    if not (folder / "config.json").is_file():
        raise ValueError(f"The embedded model {name!r} is not in this install ({folder}); reinstall songgen-hf.")
    return folder


def embedded_model_name(folder: str | os.PathLike) -> str | None:
    """The name of the embedded model whose folder ``folder`` is, or None."""
    try:
        resolved = Path(folder).resolve()
    except (OSError, TypeError):
        return None
    for name in EMBEDDED_MODELS:
        if resolved == _folder(name).resolve():
            return name
    return None


def _folder(name: str) -> Path:
    # read at call time: tests (and repackagers) repoint DEFAULT_MODEL_DIR
    return DEFAULT_MODEL_DIR if name == DEFAULT_MODEL_NAME else ASSETS_DIR / name


# ----------------------------------------------------------------------------------------------------
# A LoRA adapter's folder: what marks one (its base records, its files and loading it are
# ``songgen_hf.pipelines.adapter_folders``'s; the checks here ask its base through the name resolvers,
# ``songgen_hf.modeling.weight_bounds.adapter_base``).

ADAPTER_CONFIG_FILE = "adapter_config.json"
MODEL_CONFIG_FILE = "config.json"


def is_adapter_folder(folder: str | os.PathLike) -> bool:
    """A local folder holding a PEFT adapter and no full model of its own (no model weights: an adapter carries a
    copy of its base's ``config.json``, which transformers' ``pipeline()`` reads instead of asking the Hub for the
    base the adapter names)."""
    folder = Path(folder)
    # exists, not is_file: an adapter_config.json that is a FIFO or a device is an adapter's, refused by the reader
    return (folder / ADAPTER_CONFIG_FILE).exists() and not any(
        (folder / name).exists() for name in ("model.safetensors", "model.safetensors.index.json")
    )


def base_model_folder(name_or_path: str | os.PathLike) -> str:
    """``name_or_path`` with an embedded model's name (``"songgen-tiny"``)
    turned into its folder.

    A path that exists wins over the name, as a local folder wins over a Hub id in transformers."""
    folder = embedded_model_path(name_or_path)
    return str(folder) if folder is not None else os.fspath(name_or_path)


# ----------------------------------------------------------------------------------------------------
# A model folder's files, checked before any weights load.


def check_safetensors_complete(path: str | os.PathLike) -> None:
    """``ValueError`` when a ``.safetensors`` file is cut short or damaged, read from its header alone.

    ``safe_open`` maps the file and validates the header against its size (every tensor's data
    must lie inside the file), so a half-copied download is named here rather than surfacing as
    a ``SafetensorError`` from deep inside ``from_pretrained``.
    """
    from safetensors import SafetensorError, safe_open

    path = os.fspath(path)
    try:
        with safe_open(path, framework="np"):
            pass
    except (SafetensorError, OSError) as error:
        reason = str(error).removeprefix("Error while deserializing header: ")
        raise ValueError(
            f"{path} is incomplete or corrupt: {reason}. Download or export the model again (the copy was cut short)."
        ) from None


def weight_files(folder: str | os.PathLike) -> list[str]:
    """The ``.safetensors`` files a model or adapter folder loads: those in it, plus the shards its
    ``model.safetensors.index.json`` names elsewhere (the embedded models share one codec shard by a
    relative name).  A shard the index names but nobody ships is a ``ValueError`` that says so."""
    folder = os.fspath(folder)
    if not os.path.isdir(folder):
        return []
    files = [os.path.join(folder, name) for name in sorted(os.listdir(folder)) if name.endswith(".safetensors")]
    index = os.path.join(folder, "model.safetensors.index.json")
    if os.path.isfile(index) and not os.path.isfile(os.path.join(folder, "model.safetensors")):
        try:
            shards = sorted(set(read_json(index, "the shard index")["weight_map"].values()))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
            raise ValueError(f"{index} is not a valid shard index ({error}); the folder is damaged.") from None
        for shard in shards:
            path = os.path.normpath(os.path.join(folder, shard))
            if not os.path.isfile(path):
                raise ValueError(
                    f"{folder} is missing the weight shard {shard} that its index names (it should be at {path}). "
                    "The folder was copied without it, or the copy is incomplete: copy the shard too, or load the "
                    "model where it was installed and save_pretrained it into a self-contained folder."
                )
            if path not in files:
                files.append(path)
    return files


def check_weight_files(folder: str | os.PathLike) -> None:
    """Every ``.safetensors`` file a model or adapter folder loads is there and passes
    :func:`check_safetensors_complete`; a pickle weight file it would load holds tensors only."""
    from songgen_hf.modeling.weight_bounds import check_model_folder_pickles

    check_model_folder_pickles(folder)  # refused naming the file: transformers' refusal is a traceback
    for path in weight_files(folder):
        check_safetensors_complete(path)


def check_model_files_and_arguments(folder: str | os.PathLike, arguments: dict, names: dict | None = None) -> None:
    """A checked local folder's weight files, then the generation ``arguments`` validated against its config
    (:func:`check_arguments_on_files`), before any weights load."""
    check_weight_files(folder)  # a cut model.safetensors: a clear message, not a SafetensorError
    check_arguments_on_files(folder, arguments, names)


def _adapter_base(folder: str) -> str:
    """The base folder of the adapter ``folder``, from the one name registry (the weight checks' module loads only
    where an adapter is asked about: ``songgen --help`` imports this module and stays light)."""
    from songgen_hf.modeling.weight_bounds import adapter_base

    return adapter_base(folder)


def check_arguments_on_files(folder: str | os.PathLike, arguments: dict, names: dict | None = None) -> None:
    """The generation ``arguments`` validated against a checked local folder's config and saved generation config
    (an adapter's: its base's), as ``generate()`` validates them (``SongGenGenerationConfig.validate``)."""
    from songgen_hf.modeling.songgen.generation_songgen import SongGenGenerationConfig

    folder = os.fspath(folder)
    if all(value is None for value in arguments.values()):
        return  # nothing asked yet: generate() validates what a call asks with the saved settings
    if is_adapter_folder(folder):  # an adapter's limits are its base's (a Hub base: checked when generating)
        folder = _adapter_base(folder)
        if not os.path.isdir(folder):
            return
    saved = SongGenGenerationConfig()
    if os.path.isfile(os.path.join(folder, "generation_config.json")):
        try:
            saved = SongGenGenerationConfig.from_pretrained(folder)
        except (OSError, ValueError) as error:
            raise ValueError(f"Could not read the generation config in {folder}: {error}") from None
    saved.validate(model_config=songgen_config(folder), arguments=arguments, names=names)


def songgen_config(folder: str | os.PathLike):
    """The SongGen config of a checked local folder (no weights), for the length checks."""
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(os.fspath(folder))
    except (OSError, ValueError) as error:
        raise ValueError(f"Could not read the model config in {os.fspath(folder)}: {error}") from None


_WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)


def resolve_official(model: Any, kwargs: dict | None = None) -> tuple[Any, dict]:
    """``(model, kwargs)`` with an official SongGen repo id or folder replaced by its converted, cached
    folder (converted on first use; the hook ``from_pretrained`` uses), and the Hub arguments that named
    the original dropped; anything else unchanged."""
    from songgen_hf.modeling.weight_bounds import resolve_pretrained_source

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


def resolve_name(name_or_path: Any, kwargs: dict) -> tuple[str, dict] | None:
    """An embedded model's name (``songgen-tiny``) -> its folder in this install, wherever a model id is
    accepted (a local path of the same name wins); ``None`` for anything else.  The Hub arguments that would
    name a repo are dropped.  The loader's answer to :mod:`songgen_hf.modeling.weight_bounds`' registry (an
    adapter's base is ``songgen_hf.pipelines.adapter_folders``')."""
    folder = embedded_model_path(name_or_path)
    if folder is None:
        return None
    return str(folder), {key: value for key, value in kwargs.items() if key not in ("revision", "subfolder")}


def model_folder_or_default(model: str | None, option: str = "--model") -> Path:
    """A command's model option as a checked SongGen folder; without one, the embedded default model.

    An official SongGen repo id or folder becomes its converted, cached folder (converted once)."""
    if model is None:
        return default_model_path()
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
    names (:mod:`songgen_hf.pipelines.loading`), itself a SongGen folder; the processor files may sit
    in either.  Returns the folder as a string.
    """
    folder = os.fspath(folder)
    if not os.path.exists(folder):
        raise ValueError(f"{folder} is not a model folder: it does not exist.")
    if not os.path.isdir(folder):
        raise ValueError(f"{folder} is not a model folder but a file; pass the folder that holds config.json.")
    if is_resgen_folder(folder):  # a saved ResGenPipeline: the same front door serves it
        return check_resgen_folder(folder)
    if allow_adapter and is_adapter_folder(folder):  # its config.json, if any, is its base's copy
        return _check_adapter_folder(folder, require_processor)
    config_path = os.path.join(folder, "config.json")
    if not os.path.isfile(config_path):
        raise ValueError(
            f"{folder} is not a model folder (no config.json there); pass a SongGen checkpoint folder "
            "(config.json, model.safetensors and the processor files)."
        )
    try:
        model_type = read_json(config_path, "the model config").get("model_type")
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
    if not any(os.path.isfile(os.path.join(folder, name)) for name in _ADAPTER_WEIGHT_FILES):
        raise ValueError(
            f"{folder} has an {ADAPTER_CONFIG_FILE} but no adapter weights ({_ADAPTER_WEIGHT_FILES[0]}); "
            "the copy is incomplete."
        )
    base = _adapter_base(folder)  # a missing base: a ValueError naming it and the fix
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
        return read_json(index, "the pipeline index").get("_class_name") == RESGEN_PIPELINE_CLASS
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


def quantization_loading_kwargs(model: Any, kwargs: dict, device: Any = None, name: str = "quantize") -> dict:
    """``kwargs`` with ``quantize`` turned into loading arguments (bf16: ``dtype``; int8: a
    ``quantization_config`` in ``model_kwargs``), refused where it would be ignored.  Without a
    ``quantize`` the model folder's recommendation for CPUs applies when the model loads
    (``songgen_hf.pipelines.text_to_song.TextToSongModelLoader``); ``quantize=None`` or ``"fp32"`` keeps float32."""
    from songgen_hf.modeling.songgen.quantization import quantization_kwargs

    if "quantize" not in kwargs:
        return kwargs
    quantize = kwargs["quantize"]
    kwargs = {key: value for key, value in kwargs.items() if key != "quantize"}
    quantized = quantization_kwargs(quantize, device, name)  # checked on this platform first
    if not quantized:  # float32 chosen: an explicit dtype, so the folder's recommendation does not apply
        import torch

        return kwargs if kwargs.get("dtype") not in (None, "auto") else {**kwargs, "dtype": torch.float32}
    if not isinstance(model, str):
        raise ValueError(
            "quantize applies when the pipeline loads the model; pass a folder or repo id, or load "
            "the model with SongGenForConditionalGeneration.from_pretrained(..., **quantization_kwargs(...))."
        )
    if "dtype" in quantized:
        return {**kwargs, **quantized}
    if looks_local(model) and is_adapter_folder(model):
        raise ValueError(
            f"quantize={quantize} is not available for the LoRA adapter folder {model}; merge it first "
            "(songgen export) or use quantize=bf16."
        )
    return {**kwargs, "model_kwargs": {**(kwargs.get("model_kwargs") or {}), **quantized}}


def check_text_to_song_source(
    model: Any, kwargs: dict, generation: dict | None = None, names: dict | None = None
) -> tuple[Any, str, dict]:
    """Everything about a text-to-song pipeline's model that needs no weights, in order: its family (a saved ResGen
    pipeline folder, else SongGen), the precision asked (``quantize``, on ``kwargs``' device), an official checkpoint
    converted once, the folder and its files, and the generation arguments (``generation``, named as ``names``
    spells them; else the pipeline's defaults in ``kwargs``) against its config (an adapter's: its base's).

    Returns ``(model, family, kwargs)``: the model as ``pipeline()`` loads it (a folder, a Hub id or a model object),
    its ``model_type`` (``"songgen"`` or ``"songgen_resgen"``) and the pipeline's arguments, ``quantize`` turned into
    loading arguments."""
    from songgen_hf.modeling.songgen.arguments_songgen import CHECKED_ARGUMENTS

    names = names or {}
    if isinstance(model, str) and looks_local(model) and is_resgen_folder(model):
        if kwargs.pop("quantize", None) not in (None, "fp32"):
            raise ValueError(
                "quantize applies to autoregressive SongGen models; this is a ResGen pipeline folder "
                "(leave quantize out)."
            )
        check_resgen_folder_and_arguments(model, kwargs, generation, names)
        return model, "songgen_resgen", kwargs
    kwargs = quantization_loading_kwargs(model, kwargs, kwargs.get("device"), names.get("quantize", "quantize"))
    model, kwargs = resolve_official(model, kwargs)  # an official SongGen checkpoint: converted once, cached
    if isinstance(model, str) and looks_local(model):
        check_songgen_folder(model, require_processor=kwargs.get("processor") is None)
        defaults_ = pipeline_arguments(kwargs, CHECKED_ARGUMENTS)
        if generation is not None and defaults_:
            raise ValueError("Give the generation arguments either as the pipeline's defaults or as generation={...}.")
        check_model_files_and_arguments(model, generation or defaults_, names)
    return model, "songgen", kwargs


def check_resgen_folder_and_arguments(
    folder: str, kwargs: dict, generation: dict | None = None, names: dict[str, str] | None = None
):
    """A ResGen folder's files (weights complete) and the pipeline arguments against its config, from the files
    alone; with ``generation``, the arguments songs will be made with (named as ``names`` spells them), as the
    sampler will act on them."""
    from songgen_hf.modeling.resgen import check_resgen_arguments, check_sampling_arguments
    from songgen_hf.modeling.resgen.modeling_resgen import PIPELINE_MODEL_COMPONENT as RESGEN_MODEL_COMPONENT

    check_resgen_folder(folder)
    check_weight_files(os.path.join(folder, RESGEN_MODEL_COMPONENT))
    arguments = resgen_arguments(kwargs)
    if arguments:  # the pipeline's defaults; none given, there is nothing to check until a call brings its own
        check_resgen_arguments(arguments, songgen_config(folder))
    if generation is not None:
        check_sampling_arguments(generation, songgen_config(folder), names)


def pipeline_arguments(options: dict, checked: Iterable[str]) -> dict:
    """The ``checked`` arguments among a text-to-song pipeline's options, given at the top level or in
    ``generate_kwargs``; one given in both places with different values is refused (either would be ignored)."""
    nested = options.get("generate_kwargs")
    nested = nested if isinstance(nested, dict) else {}
    clashes = sorted(
        key
        for key in checked
        if options.get(key) is not None and nested.get(key) is not None and not _same(options[key], nested[key])
    )
    if clashes:
        raise ValueError(
            f"{', '.join(clashes)} given twice, as an argument and in generate_kwargs, with different values; "
            "give each once."
        )
    merged = {**options, **nested}
    return {key: merged[key] for key in checked if merged.get(key) is not None}


def _same(first: Any, second: Any) -> bool:
    if first is second:
        return True
    try:
        return bool(first == second)
    except (TypeError, ValueError, RuntimeError):  # e.g. tensors of several values
        return False


def resgen_arguments(options: dict) -> dict:
    """The checked ResGen arguments among pipeline options (top level or in ``generate_kwargs``)."""
    from songgen_hf.modeling.resgen.arguments import CHECKED_ARGUMENTS

    return pipeline_arguments(options, CHECKED_ARGUMENTS)


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
    if is_adapter_folder(folder):
        # a missing base: a ValueError naming it and the fix
        folder = base_model_folder(base) if base is not None else _adapter_base(folder)
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


# ----------------------------------------------------------------------------------------------------
# The told singer in the text-to-song pipeline: which singer a pipeline uses, and each song's score.
#
# A model folder may hold a singer beside the model (``FOLDER/singer``: a ``SongGenSinger`` trained with
# ``songgen train-singer`` on the codes of the model's codec); the embedded songgen-tiny does when it ships one.  The
# pipeline then composes a vocal score for each sung request (its tempo, key, lyrics and voice, as the processor
# understood them: ``modeling/songgen/processing_songgen.py``) and ``generate`` re-sings the vocal track from it.
# ``singer=None`` keeps the decoder's own vocal track; ``singer="auto"`` (the default) uses the folder's singer where
# there is one.

SINGER_FOLDER = "singer"
AUTO = "auto"


def model_singer_folder(model: Any) -> Path | None:
    """The singer folder saved beside ``model`` (a loaded model's ``name_or_path`` or a folder; a LoRA adapter
    folder: its base's), if any: the ``singer`` sub-model of
    :func:`~songgen_hf.pipelines.loading.sub_model_folders`."""
    return sub_model_folders(getattr(model, "name_or_path", model)).get(SINGER_FOLDER)


def auto_singer_folder(folder: str | os.PathLike) -> Path | None:
    """The singer ``singer="auto"`` picks for the model saved in ``folder``, read from its files without loading it:
    the folder's ``singer/`` where its token pattern has a vocal track to re-sing, else None."""

    from songgen_hf.modeling.patterns import TOKEN_PATTERNS

    singer = model_singer_folder(folder)
    if singer is None:
        return None
    config = read_json(singer.parent / "config.json", "the model config")  # an adapter's: its base's
    pattern = TOKEN_PATTERNS.get(str(config.get("decoder", {}).get("track_pattern")))
    return singer if pattern is not None and "vocals" in pattern.track_names else None


def resolve_singer(model: Any, singer: Any = AUTO):
    """The ``SongGenSinger`` a pipeline over ``model`` uses: ``"auto"`` the model folder's (None without one),
    None none, a folder or a loaded singer that one; refused where the model cannot take it."""
    from songgen_hf.modeling.songgen_singer import SongGenSinger

    if singer is None:
        return None
    if isinstance(singer, str) and singer == AUTO:
        folder = model_singer_folder(model)
        if folder is None or "vocals" not in model.pattern.track_names:
            return None
        singer = folder
    if isinstance(singer, (str, os.PathLike)):
        if not (Path(singer) / "config.json").is_file():
            raise ValueError(
                f"singer={os.fspath(singer)!r} is not a singer folder (no config.json): give the `final` "
                "folder of `songgen train-singer`, a loaded SongGenSinger, 'auto' or None."
            )
        singer = SongGenSinger.from_pretrained(singer)
    if not isinstance(singer, SongGenSinger):
        raise ValueError(
            f"singer must be 'auto', None, a singer folder or a SongGenSinger; got {type(singer).__name__}."
        )
    if "vocals" not in model.pattern.track_names:
        raise ValueError(
            f"A singer re-sings a dual-track model's vocal track; this model's tracks are "
            f"{list(model.pattern.track_names)} (pass singer=None)."
        )
    return singer.to(model.device).eval()


__all__ = [
    "ADAPTER_CONFIG_FILE",
    "ASSETS_DIR",
    "AUTO",
    "auto_singer_folder",
    "base_model_folder",
    "check_model_files_and_arguments",
    "check_resgen_folder",
    "check_resgen_folder_and_arguments",
    "check_safetensors_complete",
    "check_songgen_folder",
    "check_weight_files",
    "DEFAULT_MODEL_DIR",
    "DEFAULT_MODEL_NAME",
    "default_model_path",
    "embedded_folder",
    "embedded_model_name",
    "embedded_model_path",
    "EMBEDDED_MODELS",
    "is_adapter_folder",
    "is_resgen_folder",
    "is_resgen_folder_cheap",
    "looks_local",
    "model_folder_or_default",
    "model_singer_folder",
    "RESGEN_PIPELINE_CLASS",
    "resolve_official",
    "resolve_singer",
    "RETIRED_MODELS",
    "SINGER_FOLDER",
    "songgen_config",
    "sub_model_folders",
    "weight_files",
]
