"""A model folder's size, bounded from its config against its weights' header before anything is allocated.

``from_pretrained`` builds the model its ``config.json`` describes and only then reads the weights: a config that
says ``num_hidden_layers: 1000000`` or ``hidden_size: 8192`` over 32-wide weights has the process build (and
initialise, for the weights that do not fit) a model of many GB before any error.  The package's models check a
local folder first, with nothing but files' headers and a model on the meta device:

1. ``config.json`` is a JSON object of the expected model type whose fields the config class accepts;
2. the safetensors headers are read and checked (sizes, dtypes, offsets within the file) without reading data;
3. no layer count of the config exceeds the number of tensors the weights hold (each layer has at least one);
4. the model is built on the meta device while parameter/buffer registration hooks (torch's public ones) stop the
   build as soon as it outgrows the weights (twice their values plus a margin for buffers that are not saved);
5. every tensor the model and the weights both name has the same shape.

Each failure is a :class:`ModelBoundsError` (a ``ValueError``) naming the folder, the config values and what the
weights hold.  A folder without safetensors weights (a Hub id not yet downloaded, a pickle) skips steps 2-5.

Before the bounds, which folder a ``from_pretrained`` reads: the one registry every ``from_pretrained`` of this
package's models and processors asks (``SongGenForConditionalGeneration``, ``SongGenProcessor``), for two questions
about a name (:func:`resolve_pretrained_source`, :func:`adapter_base`):

* ``resolve_name(name_or_path, kwargs)``: the folder a name stands for and the loading arguments left for it (an
  embedded model's name: its folder in this install; an official SongGen checkpoint: its converted, cached folder),
  or ``None`` when the resolver has no answer;
* ``adapter_base(folder)``: the base model a LoRA adapter folder was trained on (by the adapter's portable record),
  or ``None`` when the folder is no adapter.

A resolver is any object (a module, typically) with ``resolve_name``, ``adapter_base`` or both.  The package
registers the loader (``songgen_hf.pipelines.loading``: embedded names), the converters
(``songgen_hf.conversion.conversion_cache``: official checkpoints) and the adapter folders
(``songgen_hf.pipelines.adapter_folders``: an adapter's base) by their module paths
(``songgen_hf._auto_registration``), which ``import songgen_hf`` does before any module of the package runs, the
models alone included: the models answer a name alike whatever was imported, and ``modeling`` imports nothing above
it (each resolver's module is imported the first time a name asks it).  A folder this package saved is read as it
is: no resolver is asked.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import math
import os
import pickle
import re
import struct
import threading
from pathlib import Path
from typing import Any

from songgen_hf.modeling.limits import MAX_SAFETENSORS_HEADER_BYTES
from songgen_hf.utils.safe_files import read_json

# Bytes per element of each safetensors dtype (the format's own list).
SAFETENSORS_DTYPE_BYTES = {
    "BOOL": 1,
    "U8": 1,
    "I8": 1,
    "F8_E5M2": 1,
    "F8_E4M3": 1,
    "F8_E8M0": 1,
    "F4": 1,
    "F6_E2M3": 1,
    "F6_E3M2": 1,
    "I16": 2,
    "U16": 2,
    "F16": 2,
    "BF16": 2,
    "I32": 4,
    "U32": 4,
    "F32": 4,
    "C64": 8,
    "I64": 8,
    "U64": 8,
    "F64": 8,
}
# Room for what a model holds beyond its saved weights (non-persistent buffers such as position tables, tied
# copies): the build may exceed the weights' values by this much and by a factor of two.
_EXTRA_VALUES = 2**26
_EXTRA_TENSORS = 1024
_LAYER_SLACK = 16


class ModelBoundsError(ValueError):
    """A model folder that is not loaded: its config is invalid or of another model, or one of the two kinds
    below."""


class CorruptWeightsError(ModelBoundsError):
    """A safetensors header (or shard index) that is damaged, or claims more than its file holds; ``reason``: what
    is wrong, without the file's name."""

    reason = ""


class WeightsMismatchError(ModelBoundsError):
    """A valid config that describes a larger or differently shaped model than its weights hold."""


class _OverBudget(Exception):
    def __init__(self, values: int, tensors: int, shape: tuple[int, ...]):
        super().__init__(values, tensors, shape)
        self.values, self.tensors, self.shape = values, tensors, shape


# ----------------------------------------------------------------------------------------------- headers
def read_safetensors_header(path: str | os.PathLike) -> dict[str, tuple[str, tuple[int, ...]]]:
    """``{name: (dtype, shape)}`` of a safetensors file, from its header alone (the data is never read).

    ``ModelBoundsError`` naming the file when the header is missing, larger than the format allows, not JSON, or
    describes tensors (dtype, shape, offsets) that the file cannot hold."""
    path = Path(path)
    size = path.stat().st_size

    def corrupt(reason: str) -> CorruptWeightsError:
        error = CorruptWeightsError(f"{path} is a corrupt safetensors file: {reason}. Save or download it again.")
        error.reason = reason
        return error

    if size < 8:
        raise corrupt(f"it is {size} bytes long, shorter than the 8-byte header length")
    with open(path, "rb") as handle:
        (length,) = struct.unpack("<Q", handle.read(8))
        if length > MAX_SAFETENSORS_HEADER_BYTES:
            raise corrupt(
                f"its header claims {length:,} bytes, over the format's limit of {MAX_SAFETENSORS_HEADER_BYTES:,}"
            )
        if 8 + length > size:
            raise corrupt(f"its header claims {length:,} bytes but the file holds {size:,}")
        raw = handle.read(length)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise corrupt(f"its header is not JSON ({error})") from None
    if not isinstance(header, dict):
        raise corrupt("its header is not a JSON object")
    data_bytes = size - 8 - length
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        if not isinstance(entry, dict):
            raise corrupt(f"the entry of {name!r} is not an object")
        dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
        if dtype not in SAFETENSORS_DTYPE_BYTES:
            raise corrupt(f"{name!r} has the unknown dtype {dtype!r}")
        if not isinstance(shape, list) or not all(type(dim) is int and dim >= 0 for dim in shape):
            raise corrupt(f"{name!r} has the shape {shape!r}, not a list of sizes")
        if (
            not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(type(o) is int for o in offsets)
            or not 0 <= offsets[0] <= offsets[1] <= data_bytes
        ):
            raise corrupt(f"{name!r} has data offsets {offsets!r} outside the file's {data_bytes:,} data bytes")
        if offsets[1] - offsets[0] != math.prod(shape) * SAFETENSORS_DTYPE_BYTES[dtype]:
            raise corrupt(f"{name!r} ({dtype}, shape {shape}) does not fit its {offsets[1] - offsets[0]:,} bytes")
        tensors[name] = (dtype, tuple(shape))
    return tensors


def folder_weight_headers(folder: str | os.PathLike) -> tuple[dict[str, tuple[str, tuple[int, ...]]], list[Path]]:
    """The tensors (``{name: (dtype, shape)}``) a model folder's safetensors weights hold and their files:
    ``model.safetensors``, else the shards ``model.safetensors.index.json`` names (only the tensors it maps to
    them: the embedded models share a codec shard).  Both empty when the folder has no safetensors weights."""
    folder = Path(folder)
    single = folder / "model.safetensors"
    if single.is_file():
        return read_safetensors_header(single), [single]
    index = folder / "model.safetensors.index.json"
    if not index.is_file():
        return {}, []
    try:
        weight_map = read_json(index)["weight_map"]
        names_by_file: dict[str, set] = {}
        for name, shard in weight_map.items():
            names_by_file.setdefault(str(shard), set()).add(name)
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise CorruptWeightsError(
            f"{index} is not a valid shard index ({error}); the folder is damaged, save or download it again."
        ) from None
    tensors, files = {}, []
    for shard, names in sorted(names_by_file.items()):
        path = Path(os.path.normpath(folder / shard))
        if not path.is_file():
            continue  # transformers names the missing shard itself
        files.append(path)
        tensors.update({name: value for name, value in read_safetensors_header(path).items() if name in names})
    return tensors, files


# ----------------------------------------------------------------------------------------------- config
def read_config_json(folder: str | os.PathLike) -> dict:
    """A model folder's ``config.json`` as a dict; ``ModelBoundsError`` naming it when it is not a JSON object."""
    path = Path(folder) / "config.json"
    try:
        raw = read_json(path)
    except (UnicodeDecodeError, ValueError) as error:
        raise ModelBoundsError(
            f"{path} is not valid JSON ({error}); the folder is damaged, save or download it again."
        ) from None
    if not isinstance(raw, dict):
        raise ModelBoundsError(
            f"{path} holds a JSON {type(raw).__name__}, not a model config (a JSON object); the "
            "folder is damaged, save or download it again."
        )
    return raw


def config_integers(raw: Any, prefix: str = "") -> list[tuple[str, int]]:
    """``(dotted name, value)`` of every whole number in a config dict, sub-configs included."""
    found = []
    if isinstance(raw, dict):
        for key, value in raw.items():
            name = f"{prefix}{key}"
            if isinstance(value, dict):
                found += config_integers(value, name + ".")
            elif type(value) is int:
                found.append((name, value))
    return found


def _layer_fields(raw: dict) -> list[tuple[str, int]]:
    return [(name, value) for name, value in config_integers(raw) if "layers" in name.rsplit(".", 1)[-1]]


def _describe_weights(tensors: dict, files: list[Path]) -> str:
    values = sum(math.prod(shape) for _, shape in tensors.values())
    names = ", ".join(path.name for path in files)
    return f"{names} hold{'s' if len(files) == 1 else ''} only {values:,} values in {len(tensors):,} tensors"


def _suspects(raw: dict, tensors: dict, shape: tuple[int, ...]) -> list[tuple[str, int]]:
    """The config's whole numbers that made a tensor of ``shape`` (one the weights do not explain): those among its
    sizes that no tensor of the weights has, else those among its sizes at all."""
    held_dims = {dim for _, held in tensors.values() for dim in held}
    numbers = [(name, value) for name, value in config_integers(raw) if value > 1 and value in shape]
    return [(name, value) for name, value in numbers if value not in held_dims] or numbers


def _said(fields: list[tuple[str, int]], limit: int = 4) -> str:
    """`` (name: value, ...)`` of the config fields a message blames; empty when none is known."""
    return f" ({', '.join(f'{name}: {value}' for name, value in fields[:limit])})" if fields else ""


# ----------------------------------------------------------------------------------------------- the check
def _meta_build(build, max_values: int, max_tensors: int):
    """``build()`` on the meta device, stopped (``_OverBudget``) as soon as its parameters and buffers exceed
    ``max_values`` values or ``max_tensors`` tensors."""
    import torch
    from torch.nn.modules import module as torch_module

    seen: set[int] = set()
    totals = [0, 0]
    builder = threading.get_ident()  # the hooks are process-wide: another thread's models are not this one's

    def count(module, name, tensor):
        if tensor is None or id(tensor) in seen or threading.get_ident() != builder:
            return None
        seen.add(id(tensor))
        totals[0] += tensor.numel()
        totals[1] += 1
        if totals[0] > max_values or totals[1] > max_tensors:
            raise _OverBudget(*totals, shape=tuple(tensor.shape))
        return None

    handles = [
        torch_module.register_module_parameter_registration_hook(count),
        torch_module.register_module_buffer_registration_hook(count),
    ]
    from transformers.initialization import no_init_weights

    try:
        # shapes only: initialising them is wasted time; and the CPU generator is left as it was, so that a seeded
        # model built or loaded next is the same with or without this check
        with torch.random.fork_rng(devices=[]), torch.device("meta"), no_init_weights():
            return build()
    finally:
        for handle in handles:
            handle.remove()


def meta_model_within(model_class, config, max_values: int, max_tensors: int):
    """``model_class(config)`` on the meta device, or None if it grows past ``max_values`` values or
    ``max_tensors`` tensors (the build stops there: a config claiming a million layers is not built)."""
    try:
        return _meta_build(lambda: model_class(config), max_values, max_tensors)
    except _OverBudget:
        return None


def build_fresh_model(model_class, config, where: str = "`model`"):
    """``model_class(config)`` for training from scratch, once the model it makes is counted on the meta device
    and found within ``MAX_FRESH_MODEL_PARAMETERS`` (``ValueError`` naming ``where``, the config, otherwise: a
    ``num_hidden_layers`` of 10**6 is refused, not built)."""
    from songgen_hf.modeling.limits import MAX_FRESH_MODEL_PARAMETERS, MAX_FRESH_MODEL_TENSORS

    if meta_model_within(model_class, config, MAX_FRESH_MODEL_PARAMETERS, MAX_FRESH_MODEL_TENSORS) is None:
        sizes = sorted(config_integers(config.to_dict()), key=lambda item: -item[1])[:4]
        raise ValueError(
            f"{where} describes a {model_class.__name__} of more than {MAX_FRESH_MODEL_PARAMETERS:,} "
            f"parameters or {MAX_FRESH_MODEL_TENSORS:,} tensors (its largest sizes: "
            f"{_said(sizes).strip(' ()')}); choose smaller sizes."
        )
    return model_class(config)


def check_model_folder(
    model_class,
    folder: str | os.PathLike,
    config=None,
    accepted_types: tuple[str, ...] = (),
    config_overrides: dict | None = None,
):
    """The model a local folder's config describes, on the meta device (None when the folder has no config.json
    or no safetensors weights to bound it by).

    ``ModelBoundsError`` for a folder that ``model_class.from_pretrained`` should not load: a ``config.json`` that
    is not a JSON object, of another model type or with invalid fields, damaged safetensors headers, or a config
    that describes a model larger than, or shaped unlike, the weights it holds.  ``config``: a config object the
    caller passes instead of the folder's; ``accepted_types``: model types besides the config class's own that it
    reads."""
    folder = Path(folder)
    config_class = model_class.config_class
    raw = None
    if config is None:
        if not (folder / "config.json").is_file():
            return None  # transformers says what is missing
        raw = read_config_json(folder)
        expected = (config_class.model_type, *accepted_types)
        found = raw.get("model_type")
        if found is not None and found not in expected:
            raise ModelBoundsError(
                f"{folder} holds a {found!r} model (its config.json's model_type), not the {expected[0]!r} model "
                f"{model_class.__name__} loads; pass a folder saved by {model_class.__name__}.save_pretrained."
            )
        config = _load_config(config_class, folder, raw, config_overrides or {})
    else:
        wrong = wrongly_typed_fields(config)  # a config read by the caller (a pipeline) is checked the same way
        if wrong:
            raise _wrong_types_error(folder, wrong)
        raw = config.to_dict()
    tensors, files = folder_weight_headers(folder)
    if not tensors:
        return None
    where = folder / "config.json"
    weights = _describe_weights(tensors, files)
    for name, value in _layer_fields(raw):
        if value < 0:  # range(-1) builds no layer: the weights' layers would be dropped without a word
            raise ModelBoundsError(
                f"{where} says {name}: {value}; a layer count is a whole number >= 0. Restore the "
                "folder's config.json or save the model again."
            )
        if value > len(tensors) + _LAYER_SLACK:
            raise WeightsMismatchError(
                f"{where} says {name}: {value:,}, but {weights}, too few for that many layers: the config does not "
                "belong to these weights. Restore the folder's config.json or save the model again."
            )
    held_values = sum(math.prod(shape) for _, shape in tensors.values())
    try:
        model = _meta_build(
            lambda: model_class(config), 2 * held_values + _EXTRA_VALUES, 2 * len(tensors) + _EXTRA_TENSORS
        )
    except _OverBudget as over:
        raise WeightsMismatchError(
            f"{where}{_said(_suspects(raw, tensors, over.shape))} describes a model of more than {over.values:,} "
            f"values in {over.tensors:,} tensors (the last of shape {over.shape}), but {weights}: the config does "
            "not belong to these weights. Restore the folder's config.json or save the model again."
        ) from None
    except (ValueError, TypeError, KeyError, AttributeError, IndexError, RuntimeError, OverflowError) as error:
        raise ModelBoundsError(
            f"{where} does not describe a valid {config_class.model_type} model "
            f"({type(error).__name__}: {error}); save or download the folder again."
        ) from None
    for name, tensor in model.state_dict().items():
        if name in tensors and tuple(tensor.shape) != tensors[name][1]:
            held = tensors[name][1]
            fields = [
                (key, value)
                for key, value in config_integers(raw)
                if value in tensor.shape and value not in held and value > 1
            ]
            # the sub-config the tensor belongs to first (``decoder.hidden_size`` for ``decoder.*`` tensors)
            fields.sort(key=lambda field: field[0].split(".")[0] != name.split(".")[0])
            raise WeightsMismatchError(
                f"{where}{_said(fields, limit=6)} makes {name} of shape {tuple(tensor.shape)}, but the weights hold "
                f"it as {held}: the config does not belong to these weights. Restore the folder's config.json or "
                "save the model again."
            )
    return model


def _load_config(config_class, folder: Path, raw: dict, overrides: dict):
    from huggingface_hub.errors import StrictDataclassError

    try:
        config = config_class.from_pretrained(folder, **{key: value for key, value in overrides.items() if key in raw})
        wrong = wrongly_typed_fields(config)
    except (ValueError, TypeError, KeyError, AttributeError, IndexError, OverflowError, StrictDataclassError) as error:
        wrong = _raw_wrongly_typed(config_class, raw)
        if wrong:  # the config class tripped over them: name them rather than its error
            raise _wrong_types_error(folder, wrong) from None
        raise ModelBoundsError(
            f"{folder}: its config.json does not describe a valid {config_class.model_type} model "
            f"({type(error).__name__}: {error}); a field has the wrong type or value: fix it, or save or download the "
            "folder again."
        ) from None
    if wrong:
        raise _wrong_types_error(folder, wrong)
    return config


def _wrong_types_error(folder: Path, wrong: list) -> ModelBoundsError:
    listed = ", ".join(f"{name}: {value!r} (should be {kind})" for name, value, kind in wrong[:4])
    return ModelBoundsError(
        f"{folder / 'config.json'} has fields of the wrong type: {listed}; fix them, or save or "
        "download the folder again."
    )


def _declared_types(config_class) -> dict[str, str]:
    declared: dict[str, str] = {}
    for klass in reversed(config_class.__mro__):
        for name, annotation in vars(klass).get("__annotations__", {}).items():
            declared[name] = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
    return declared


def _mistyped(name: str, annotation: str, value) -> str | None:
    """What ``value`` should be (for a message), or None when it fits the declared ``annotation``."""
    optional = annotation.replace(" ", "").endswith("|None")
    kind = annotation.replace(" ", "").removesuffix("|None")
    if kind not in _FIELD_TYPES or (value is None and optional) or name.startswith("_"):
        return None
    description, accepts = _FIELD_TYPES[kind]
    return None if accepts(value) else description


def _raw_wrongly_typed(config_class, raw: dict, prefix: str = "") -> list[tuple[str, Any, str]]:
    """:func:`wrongly_typed_fields` of a config dict, before its class reads it (sub-configs it declares too)."""
    wrong = []
    declared = _declared_types(config_class)
    sub_configs = getattr(config_class, "sub_configs", None) or {}
    for name, value in raw.items():
        sub = sub_configs.get(name)
        if isinstance(value, dict) and isinstance(sub, type):
            wrong += _raw_wrongly_typed(sub, value, f"{prefix}{name}.")
        elif name in declared:
            expected = _mistyped(name, declared[name], value)
            if expected:
                wrong.append((f"{prefix}{name}", value, expected))
    return wrong


# The declared field types a config value is checked against, and what each accepts (bool is not a number here:
# ``hidden_size: true`` is a damaged file, not 1).
_FIELD_TYPES = {
    "int": ("a whole number", lambda value: type(value) is int),
    "float": ("a number", lambda value: type(value) in (int, float)),
    "bool": ("true or false", lambda value: type(value) is bool),
    "str": ("a string", lambda value: isinstance(value, str)),
}


def wrongly_typed_fields(config, prefix: str = "") -> list[tuple[str, Any, str]]:
    """``(dotted name, value, expected)`` of a config's fields (sub-configs included) whose value does not have the
    type the config class declares (``int``, ``float``, ``bool``, ``str``, each optionally ``| None``): a JSON
    ``1e9`` where a whole number belongs would otherwise reach a tensor constructor."""
    from transformers import PreTrainedConfig

    wrong = []
    declared = _declared_types(type(config))
    for name, annotation in declared.items():
        value = getattr(config, name, None)
        if isinstance(value, PreTrainedConfig):
            wrong += wrongly_typed_fields(value, f"{prefix}{name}.")
            continue
        expected = _mistyped(name, annotation, value)
        if expected:
            wrong.append((f"{prefix}{name}", value, expected))
    for name, value in vars(config).items():  # sub-configs held without a declared type
        if isinstance(value, PreTrainedConfig) and name not in declared:
            wrong += wrongly_typed_fields(value, f"{prefix}{name}.")
    return wrong


def local_model_folder(name_or_path, kwargs: dict) -> Path | None:
    """The local folder ``from_pretrained(name_or_path, **kwargs)`` reads: a folder on disk, or a Hub repo's
    snapshot already in the cache (its ``subfolder`` appended); None for anything else."""
    if not isinstance(name_or_path, (str, os.PathLike)):
        return None
    subfolder = kwargs.get("subfolder") or ""
    path = Path(name_or_path)
    if not path.is_dir():
        try:
            from huggingface_hub import try_to_load_from_cache

            cached = try_to_load_from_cache(
                str(name_or_path),
                os.path.join(subfolder, "config.json"),
                cache_dir=kwargs.get("cache_dir"),
                revision=kwargs.get("revision"),
            )
        except (ValueError, TypeError):  # not a repo id
            return None
        return Path(cached).parent if isinstance(cached, str) else None
    return path / subfolder if subfolder else path


def check_pretrained(model_class, name_or_path, kwargs: dict, accepted_types: tuple[str, ...] = ()) -> None:
    """:func:`check_model_folder` for a ``from_pretrained(name_or_path, **kwargs)`` call that reads a local folder
    (or a cached Hub snapshot); nothing for in-memory weights (``state_dict``) or other sources."""
    if kwargs.get("state_dict") is not None or kwargs.get("gguf_file"):
        return
    folder = local_model_folder(name_or_path, kwargs)
    if folder is None:
        return

    check_model_folder_pickles(folder)  # a pickle that names code: refused naming the file, nothing of it run
    config = kwargs.get("config")
    config = config if isinstance(config, model_class.config_class) else None
    check_model_folder(model_class, folder, config=config, accepted_types=accepted_types, config_overrides=kwargs)


# ----------------------------------------------------------------------------------------- what a name stands for
_RESOLVERS: list = []


def register_name_resolver(resolver: Any) -> None:
    """Add ``resolver`` (idempotent, asked in the order added): an object with ``resolve_name``, ``adapter_base`` or
    both, or the path of a module that has them, imported the first time a name asks."""
    if resolver not in _RESOLVERS:
        _RESOLVERS.append(resolver)


def _resolvers():
    for index, resolver in enumerate(list(_RESOLVERS)):
        if isinstance(resolver, str):
            resolver = _RESOLVERS[index] = importlib.import_module(resolver)
        yield resolver


def resolve_pretrained_source(name_or_path: Any, kwargs: dict) -> tuple[Any, dict]:
    """``(name_or_path, kwargs)`` as the first resolver that answers rewrites them, else unchanged.  A local folder
    this package saved (the embedded default, a trained or exported model) is read as it is, no resolver asked."""
    if _saved_by_this_package(name_or_path, kwargs.get("subfolder") or ""):
        return name_or_path, kwargs
    for resolver in _resolvers():
        answer = getattr(resolver, "resolve_name", None)
        resolved = None if answer is None else answer(name_or_path, kwargs)
        if resolved is not None:
            return resolved
    return name_or_path, kwargs


def adapter_base(folder: str | os.PathLike) -> str | None:
    """The base model (a folder or a Hub id) of the LoRA adapter in ``folder``, as the first resolver that knows
    adapters says; ``None`` when ``folder`` is no adapter folder."""
    for resolver in _resolvers():
        answer = getattr(resolver, "adapter_base", None)
        found = None if answer is None else answer(folder)
        if found is not None:
            return found
    return None


def _saved_by_this_package(name_or_path: Any, subfolder: str) -> bool:
    """A local folder whose config.json is a SongGenConfig as this package saves it: with its encoders'
    sub-configs, which an official SongGen checkpoint's config lacks."""
    if not isinstance(name_or_path, (str, os.PathLike)):
        return False
    try:
        config = read_json(Path(name_or_path) / subfolder / "config.json", "the model config")
    except (OSError, ValueError):
        return False
    return isinstance(config, dict) and config.get("model_type") == "songgen" and "lyrics_encoder" in config


# ----------------------------------------------------------------------------------------------- LoRA adapters
class AdapterBoundsError(ModelBoundsError):
    """A LoRA adapter whose ``adapter_config.json`` sizes are out of range or do not match its weights, or whose
    weights are not finite (or far too large) once loaded."""


_LORA_FACTOR = re.compile(r"^(?:base_model\.model\.)?(?P<module>.+)\.lora_(?:embedding_)?(?P<side>A|B)(?:\.weight)?$")


def _declared_rank(module: str, rank: int | None, pattern: dict, where: str) -> int | None:
    """The rank ``adapter_config.json`` gives ``module``: the ``rank_pattern`` entry whose key ends its dotted name
    (peft's rule), else ``r``."""
    for key, value in pattern.items():
        try:
            if re.match(rf"(?:.*\.)?(?:{key})$", module):
                return value
        except re.error as error:
            raise AdapterBoundsError(f"{where}: rank_pattern key {key!r} is not a valid pattern ({error}).") from None
    return rank


def check_adapter_sizes(config: dict, weights: str | os.PathLike | None, where: str) -> None:
    """A LoRA adapter's declared sizes, before peft allocates anything: ``r`` and ``lora_alpha`` (and each
    ``rank_pattern`` / ``alpha_pattern`` value) within :func:`~songgen_hf.modeling.limits.check_lora_sizes`' limits,
    and each adapted module's declared rank equal to the rank its weights hold (read from the safetensors header of
    ``weights``, its data never read): an ``r: 65536`` over rank-4 weights would have peft allocate the declared
    rank for every adapted layer before the weights are found not to fit.  ``AdapterBoundsError`` naming ``where``
    (the adapter's config file) otherwise."""
    from songgen_hf.modeling.limits import check_lora_sizes

    rank, alpha = config.get("r"), config.get("lora_alpha")
    ranks, alphas = config.get("rank_pattern") or {}, config.get("alpha_pattern") or {}
    if not isinstance(ranks, dict) or not isinstance(alphas, dict):
        raise AdapterBoundsError(f"{where}: rank_pattern and alpha_pattern must map module names to numbers.")
    try:
        check_lora_sizes(rank, alpha, where)
        for key, value in ranks.items():
            check_lora_sizes(value, alpha, where, rank_name=f"rank_pattern[{key!r}]")
        for key, value in alphas.items():
            check_lora_sizes(rank, value, where, alpha_name=f"alpha_pattern[{key!r}]")
    except ValueError as error:
        raise AdapterBoundsError(str(error)) from None
    if weights is None or not Path(weights).is_file():
        return  # a pickle adapter: its tensors are checked by peft's own shapes
    held = {}
    for name, (_, shape) in read_safetensors_header(weights).items():
        match = _LORA_FACTOR.match(name)
        if match is None or len(shape) < 2:
            continue
        # A is (rank, in ...), B is (out, rank, ...)
        held[(match["module"], match["side"])] = shape[0] if match["side"] == "A" else shape[1]
    if not held:
        return
    largest = max(held.values())
    # the default rank counts where a module takes it (a rank_pattern may give every module its own)
    uses_default = not ranks or any(_declared_rank(module, None, ranks, where) is None for module, _ in held)
    declared_ranks = [("r", rank)] if uses_default else []
    declared_ranks += [(f"rank_pattern[{key!r}]", value) for key, value in ranks.items()]
    for what, value in declared_ranks:
        if value > largest:
            raise AdapterBoundsError(
                f"{where} declares {what}: {value:,}, but its weights ({Path(weights).name}) hold LoRA factors of "
                f"rank {largest:,} at most: the config does not belong to these weights (loading it would allocate "
                "the declared rank first). Restore the adapter's adapter_config.json, or save the adapter again."
            )
    for (module, side), found in sorted(held.items()):
        declared = _declared_rank(module, rank, ranks, where)
        if declared != found:
            raise AdapterBoundsError(
                f"{where} declares rank {declared:,} for {module}, but its weights hold lora_{side} of rank {found:,} "
                "there: the config does not belong to these weights. Restore the adapter's adapter_config.json, or "
                "save the adapter again."
            )


def check_adapter_values(tensors, where: str) -> None:
    """The loaded weights of a LoRA adapter (``(name, tensor)`` pairs, in the precision the model holds them) are
    finite and within ``MAX_ADAPTER_WEIGHT``: NaN, an infinity (``1e300`` in a float64 file is one in float32) or a
    weight such as ``1e30``, finite but far beyond any trained adapter, makes one degenerate song whatever the seed.
    ``AdapterBoundsError`` naming ``where`` and the first such tensor otherwise."""
    import torch

    from songgen_hf.modeling.limits import MAX_ADAPTER_WEIGHT

    for name, tensor in tensors:
        if not torch.is_tensor(tensor) or not tensor.is_floating_point() or tensor.numel() == 0:
            continue
        values = tensor.detach()
        if not bool(torch.isfinite(values).all()):
            kind = "NaN" if bool(torch.isnan(values).any()) else "infinite"
            raise AdapterBoundsError(
                f"{where}: the adapter weight {name} holds {kind} values in {values.dtype} (the precision it loads "
                "in); a trained adapter holds finite numbers. The file is damaged or was not written by training: "
                "train or save the adapter again."
            )
        largest = float(values.abs().max())
        if largest > MAX_ADAPTER_WEIGHT:
            raise AdapterBoundsError(
                f"{where}: the adapter weight {name} holds {largest:.3g}, beyond the {MAX_ADAPTER_WEIGHT:g} no trained "
                "adapter comes near (songgen_hf.modeling.limits.MAX_ADAPTER_WEIGHT): it would swamp the base and make "
                "the same song for every seed. Train or save the adapter again."
            )


__all__ = [
    "SAFETENSORS_DTYPE_BYTES",
    "adapter_base",
    "AdapterBoundsError",
    "build_fresh_model",
    "check_adapter_sizes",
    "check_adapter_values",
    "check_model_folder",
    "check_pretrained",
    "config_integers",
    "CorruptWeightsError",
    "folder_weight_headers",
    "local_model_folder",
    "meta_model_within",
    "ModelBoundsError",
    "read_config_json",
    "read_safetensors_header",
    "register_name_resolver",
    "resolve_pretrained_source",
    "WeightsMismatchError",
    "wrongly_typed_fields",
]


# -------------------------------------------------------------------------- refused pickles
# What torch's weights_only unpickler says when a pickle names or calls something beyond tensors and plain data
# (as opposed to bytes that are no pickle at all).
_CODE_MARKERS = (
    "Unsupported global",
    "unsupported GLOBAL",
    "Can only create new object",
    "call reduce for",
    "Can only build",
    "is blocked",
)
PICKLE_WEIGHT_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")
PICKLE_FIX = (
    "nothing in it was run. If it comes from a source you trust, load it once there and save the weights "
    "as safetensors (save_pretrained writes model.safetensors; safetensors.torch.save_file for a state "
    "dict), then use that file; otherwise get the model from its publisher again"
)


def names_code(error: BaseException) -> bool:
    return any(marker in str(error) for marker in _CODE_MARKERS)


def pickle_detail(error: BaseException) -> str:
    """The unpickler's own reason, without torch's advice to load the file with ``weights_only=False``."""
    text = str(error)
    text = text.split("WeightsUnpickler error: ", 1)[-1]
    return text.split(". Please use", 1)[0].splitlines()[0].strip()[:200]


class RefusedPickleError(ValueError):
    """A pickle that would build or call Python objects other than tensors and plain data; nothing of it ran."""


def refused_pickle(path, error: BaseException | None = None) -> RefusedPickleError:
    """The one-line refusal of a pickle that would build or call Python objects other than tensors, naming it."""
    detail = f" ({pickle_detail(error)})" if error is not None else ""
    return RefusedPickleError(
        f"Refusing {path}: it is a pickle that would build or call Python objects other than "
        f"tensors and plain data{detail}; {PICKLE_FIX}."
    )


@contextlib.contextmanager
def pickles_refused(path):
    """Inside it, the refusal of torch's ``weights_only`` unpickler (``pickle.UnpicklingError``) becomes
    :func:`refused_pickle` naming ``path``: one clear line instead of a traceback."""
    try:
        yield
    except pickle.UnpicklingError as error:
        if names_code(error):
            raise refused_pickle(path, error) from None
        raise ValueError(
            f"{path} is not a readable torch.save file ({pickle_detail(error)}); check that the "
            "download or copy finished, or save it again."
        ) from None


def check_pickled_weights(folder: str | os.PathLike, names: tuple[str, ...] | None = None) -> None:
    """Refuse, naming the file, a pickle weight file in ``folder`` that a loader would read and that holds more than
    tensors and plain data.  Each is read with ``weights_only=True`` onto the meta device (no tensor data is
    allocated); ``names`` restricts the check to these files (default: every ``*.bin/.pt/.pth/.ckpt/.pkl``)."""
    import torch

    folder = Path(folder)
    if not folder.is_dir():
        return
    files = (
        [folder / name for name in names]
        if names is not None
        else [p for p in sorted(folder.iterdir()) if p.suffix in PICKLE_WEIGHT_SUFFIXES]
    )
    for path in files:
        if not path.is_file() or path.stat().st_size == 0:
            continue
        with pickles_refused(path):
            try:
                torch.load(path, map_location="meta", weights_only=True, mmap=True)
            except RuntimeError:  # a legacy (non-zip) torch.save file cannot be memory-mapped
                torch.load(path, map_location="meta", weights_only=True)


def check_model_folder_pickles(folder: str | os.PathLike) -> None:
    """:func:`check_pickled_weights` for the pickles ``from_pretrained`` would read from a model or adapter folder:
    its ``pytorch_model.bin`` (or the shards its index names) when it has no safetensors weights, and a PEFT
    ``adapter_model.bin`` without ``adapter_model.safetensors``.  Other pickles a folder may hold (a trainer's
    ``training_args.bin``) are never read and not checked."""

    folder = Path(folder)
    if not (folder / "adapter_model.safetensors").is_file():
        check_pickled_weights(folder, ("adapter_model.bin",))
    if (folder / "model.safetensors").is_file() or (folder / "model.safetensors.index.json").is_file():
        return
    names = ["pytorch_model.bin"]
    index = folder / "pytorch_model.bin.index.json"
    if index.is_file():
        try:
            shards = read_json(index)["weight_map"].values()
        except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as error:
            raise ValueError(
                f"{index} is not a valid shard index ({error}); save or download the folder again."
            ) from None
        names += sorted({str(shard) for shard in shards if Path(str(shard)).name == str(shard)})
    check_pickled_weights(folder, tuple(names))
