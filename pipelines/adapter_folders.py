"""A LoRA adapter's folder: the record of its base model, its files checked, and loading it.

PEFT writes the base into ``adapter_config.json`` as ``base_model_name_or_path``, and transformers / PEFT resolve
that string against the *current directory* (a relative path) or the Hub (anything else).  An absolute path is what
keeps those loaders working, but it breaks as soon as the base moves.  So a songgen adapter also carries
``songgen_adapter.json``, which names the base portably::

    {"base_model": {"embedded": "songgen-tiny"}}          # the embedded default model, by name
    {"base_model": {"relative_path": "../../base"}}       # relative to the adapter folder
    {"base_model": {"repo_id": "org/name"}}               # a Hub model

The songgen loaders (``load_lora``, ``songgen generate/info/export``, the processor) look there first, then at
``base_model_name_or_path``; a base found nowhere is a ``ValueError`` that names it and says how to point the
adapter at it.  The models, the processors and the loader's folder checks ask an adapter's base through the name
resolvers (``songgen_hf.modeling.weight_bounds.adapter_base``), which this module answers (:func:`adapter_base`).
Inference loads an adapter with :func:`load_lora` (and :func:`merge_lora`) from here, so it needs nothing of
``training/``; PEFT and the model are imported only when an adapter loads, so the processor and the CLI use this
module without them.  What marks a folder as an adapter's (:func:`~songgen_hf.pipelines.loading.is_adapter_folder`)
and the embedded models' names are the loader's, which this module stands on.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from songgen_hf.pipelines.loading import (
    ADAPTER_CONFIG_FILE,
    EMBEDDED_MODELS,
    MODEL_CONFIG_FILE,
    base_model_folder,
    check_weight_files,
    embedded_folder,
    embedded_model_name,
    is_adapter_folder,
)

BASE_RECORD_FILE = "songgen_adapter.json"


def base_record(base: str | os.PathLike, adapter_dir: str | os.PathLike) -> dict[str, Any]:
    """How ``adapter_dir`` should name ``base`` so that it still finds it after both move."""
    text = os.fspath(base)
    if not os.path.isdir(text):
        return {"repo_id": text}
    resolved = Path(text).resolve()
    embedded = embedded_model_name(resolved)
    if embedded is not None:
        return {"embedded": embedded}
    try:
        return {"relative_path": Path(os.path.relpath(resolved, Path(adapter_dir).resolve())).as_posix()}
    except ValueError:  # another drive (Windows): no relative path exists
        return {"absolute_path": str(resolved)}


def write_base_record(adapter_dir: str | os.PathLike, base: str | os.PathLike) -> dict[str, Any]:
    """Write ``songgen_adapter.json`` into ``adapter_dir``; returns the record."""
    record = {"base_model": base_record(base, adapter_dir)}
    (Path(adapter_dir) / BASE_RECORD_FILE).write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    return record


def _read_json(path: Path) -> dict:
    """An adapter folder's small JSON file (its ``adapter_config.json``, its ``songgen_adapter.json``), read through
    the safe reader (a regular file, bounded in size and nesting: a FIFO, a link to ``/dev/zero``, a huge file or
    deep JSON is one clear error) and kept while the file is unchanged, so that the checks and loaders that each
    need it read it once.  A copy is returned: callers may change theirs."""
    from songgen_hf.utils.safe_files import FileReadError, read_json_object

    key = os.path.abspath(path)
    signature = _file_signature(path)
    kept = _READ_JSON.get(key)
    if kept is None or kept[0] != signature or signature is None:
        try:
            data = read_json_object(path, "the adapter file")
        except FileReadError as error:
            raise FileReadError(f"{error} The adapter folder is damaged; save or copy it again.") from None
        except OSError as error:
            reason = error.strerror or error
            raise ValueError(f"{path} cannot be read ({reason}); the adapter folder is damaged.") from None
        kept = _READ_JSON[key] = (signature, data)
        while len(_READ_JSON) > _KEPT_FILES:
            _READ_JSON.pop(next(iter(_READ_JSON)))
    return json.loads(json.dumps(kept[1]))


def read_adapter_config(adapter_dir: str | os.PathLike) -> dict:
    """The ``adapter_config.json`` of the adapter in ``adapter_dir``, through the safe reader (read once while it is
    unchanged); a ``ValueError`` naming the file when it is not a readable JSON object."""
    return _read_json(Path(adapter_dir) / ADAPTER_CONFIG_FILE)


def _file_signature(path: str | os.PathLike) -> tuple | None:
    """What changes when a file is replaced or rewritten (its inode, size and modification time), or None when it
    is not there; read with ``stat``, which never blocks and reads nothing of the file."""
    try:
        found = os.stat(path)
    except OSError:
        return None
    return (found.st_dev, found.st_ino, found.st_size, found.st_mtime_ns, found.st_mode)


_READ_JSON: dict[str, tuple] = {}  # path -> (signature, parsed JSON) of the adapter files read last
_KEPT_FILES = 256


def resolve_adapter_base(adapter_dir: str | os.PathLike, base: str | os.PathLike | None = None) -> str:
    """The base model folder (or Hub id) of the adapter in ``adapter_dir``.

    ``base`` given: that one (the embedded default may be named).  Otherwise the portable record,
    then ``base_model_name_or_path``; a local base must hold a ``config.json``.  Raises
    ``ValueError`` naming the missing base and the ways to point the adapter at it."""
    adapter_dir = Path(adapter_dir)
    if not (adapter_dir / ADAPTER_CONFIG_FILE).exists():
        raise ValueError(f"{adapter_dir} is not a LoRA adapter folder: no {ADAPTER_CONFIG_FILE}.")
    if base is not None:
        return base_model_folder(base)
    recorded = _read_json(adapter_dir / ADAPTER_CONFIG_FILE).get("base_model_name_or_path") or None
    entry = {}
    if (adapter_dir / BASE_RECORD_FILE).is_file():
        entry = _read_json(adapter_dir / BASE_RECORD_FILE).get("base_model") or {}
    if "embedded" in entry:
        name = entry["embedded"]
        if name not in EMBEDDED_MODELS:
            raise ValueError(
                f"The LoRA adapter {adapter_dir} was trained on the embedded model {name!r}, but this install embeds "
                f"{', '.join(map(repr, EMBEDDED_MODELS))}. {_fix_hint(adapter_dir, missing=False)}"
            )
        return str(embedded_folder(name))
    if "repo_id" in entry:
        return str(entry["repo_id"])
    candidates: list[Path] = []
    if "relative_path" in entry:
        candidates.append((adapter_dir / entry["relative_path"]).resolve())
    if "absolute_path" in entry:
        candidates.append(Path(entry["absolute_path"]))
    if recorded:
        if not entry and not os.path.isabs(recorded) and not os.path.exists(recorded):
            # an adapter written by other tools: a Hub id, or the embedded model's name
            return base_model_folder(recorded)
        candidates.append(Path(recorded))
    for candidate in candidates:
        if (candidate / MODEL_CONFIG_FILE).is_file():
            return str(candidate)
    if not candidates:
        raise ValueError(
            f"The LoRA adapter {adapter_dir} does not say which base model it adapts (no base_model_name_or_path "
            f"in {ADAPTER_CONFIG_FILE}). {_fix_hint(adapter_dir, missing=False)}"
        )
    looked = " or ".join(str(c) for c in dict.fromkeys(candidates))
    raise ValueError(
        f"The base model of the LoRA adapter {adapter_dir} is missing: it was trained on {recorded or candidates[0]}, "
        f"and no SongGen model folder is at {looked}. {_fix_hint(adapter_dir)}"
    )


def adapter_base(source: str | os.PathLike) -> str | None:
    """The base of the LoRA adapter in the local folder ``source`` (see :func:`resolve_adapter_base`), or None when
    ``source`` is no adapter folder."""
    return resolve_adapter_base(source) if os.path.isdir(source) and is_adapter_folder(source) else None


def describe_adapter(adapter_dir: str | os.PathLike) -> dict[str, Any]:
    """What ``songgen info`` shows of an adapter folder, from its files (no weights read)."""
    adapter_dir = Path(adapter_dir)
    base = resolve_adapter_base(adapter_dir)
    config = _read_json(adapter_dir / ADAPTER_CONFIG_FILE)
    record = adapter_dir / BASE_RECORD_FILE
    named = _read_json(record).get("base_model") if record.is_file() else None
    return {
        "type": config.get("peft_type"),
        "rank": config.get("r"),
        "alpha": config.get("lora_alpha"),
        "target_modules": config.get("target_modules"),
        "trained_in_full": config.get("modules_to_save") or [],
        "parameters": sum(_safetensors_numel(path) for path in sorted(adapter_dir.glob("adapter_model*.safetensors"))),
        "base_model": base,
        "base_named_as": ", ".join(f"{kind}: {value}" for kind, value in named.items())
        if isinstance(named, dict)
        else f"an absolute path only (base_model_name_or_path: {config.get('base_model_name_or_path')})",
    }


def adapter_effect(adapter_dir: str | os.PathLike, base_dir: str | os.PathLike) -> dict[str, Any]:
    """How much a LoRA adapter changes its base, per adapted module: ``|B A| * alpha / r`` against the base weight's
    norm (Frobenius), read from the two folders' safetensors files (only the adapted tensors).  A module the base
    lacks counts as no home (see :func:`check_adapter_loaded`); an adapter whose B is still zero changes nothing."""
    from safetensors import safe_open

    adapter_dir, base_dir = Path(adapter_dir), Path(base_dir)
    config = _read_json(adapter_dir / ADAPTER_CONFIG_FILE)
    rank, alpha = config.get("r") or 1, config.get("lora_alpha") or 1
    pattern = config.get("rank_pattern") or {}
    weights = adapter_dir / "adapter_model.safetensors"
    if not weights.is_file():
        return {}
    base_files = {}
    for path in sorted(base_dir.glob("*.safetensors")):
        with safe_open(path, framework="pt") as handle:
            base_files.update({name: path for name in handle.keys()})
    modules: dict[str, float] = {}
    with safe_open(weights, framework="pt") as adapter:
        names = set(adapter.keys())
        for key_a in sorted(name for name in names if name.endswith(".lora_A.weight")):
            key_b = key_a.replace(".lora_A.", ".lora_B.")
            module = key_a.removesuffix(".lora_A.weight").removeprefix("base_model.model.")
            base_key = f"{module}.weight"
            if key_b not in names or base_key not in base_files:
                modules[module] = float("nan")
                continue
            with safe_open(base_files[base_key], framework="pt") as base:
                weight = base.get_tensor(base_key).float()
            module_rank = pattern.get(module.rsplit(".", 1)[-1], rank)
            update = adapter.get_tensor(key_b).float() @ adapter.get_tensor(key_a).float() * (alpha / module_rank)
            modules[module] = float(update.norm() / weight.norm().clamp_min(1e-12))
    measured = sorted(value for value in modules.values() if value == value)
    return {
        "modules": modules,
        "median": measured[len(measured) // 2] if measured else None,
        "max": measured[-1] if measured else None,
        "homeless": sorted(name for name, value in modules.items() if value != value),
    }


def _safetensors_numel(path: Path) -> int:
    """Tensor elements of a safetensors file, from its header (no weights read)."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(path, framework="np") as handle:
            return sum(math.prod(handle.get_slice(name).get_shape()) for name in handle.keys())
    except (SafetensorError, OSError):
        raise ValueError(f"{path} is not a readable safetensors file; the adapter folder is damaged.") from None


def _fix_hint(adapter_dir: Path, missing: bool = True) -> str:
    put_back = "Put the base model folder back there (an adapter moved together with its base stays linked), or p"
    return (
        f"{put_back if missing else 'P'}oint the adapter at the base's place: "
        'python -c "from songgen_hf.training.lora '
        f"import set_adapter_base; set_adapter_base('{adapter_dir}', 'BASE/FOLDER')\"; or pass the base explicitly: "
        "load_lora(BASE, ADAPTER) in Python, `songgen export ADAPTER --base BASE`."
    )


_ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")
_CHECKED_ADAPTERS: dict[str, tuple] = {}  # folder -> signature of its files when they last passed


def check_adapter_files(adapter_dir: str | os.PathLike) -> dict:
    """The files of the LoRA adapter in ``adapter_dir``, before peft allocates anything, and its
    ``adapter_config.json``: the config read through the safe reader, a weight pickle that names code refused, the
    safetensors header whole, ``r`` and ``lora_alpha`` within their limits and each adapted module's rank the rank
    its weights hold (:func:`~songgen_hf.modeling.weight_bounds.check_adapter_sizes`).  A folder whose files are
    unchanged since they last passed is not read again.  A ``ValueError`` naming the file and the fix."""
    from songgen_hf.modeling.weight_bounds import check_adapter_sizes

    adapter_dir = Path(adapter_dir)
    config_path = adapter_dir / ADAPTER_CONFIG_FILE
    config = _read_json(config_path)
    signature = tuple(_file_signature(adapter_dir / name) for name in (ADAPTER_CONFIG_FILE, *_ADAPTER_WEIGHTS))
    key = os.path.abspath(adapter_dir)
    if _CHECKED_ADAPTERS.get(key) != signature:
        check_weight_files(adapter_dir)  # a pickle naming code, a cut safetensors file: refused naming the file
        check_adapter_sizes(config, adapter_dir / _ADAPTER_WEIGHTS[0], str(config_path))
        _CHECKED_ADAPTERS[key] = signature
        while len(_CHECKED_ADAPTERS) > _KEPT_FILES:
            _CHECKED_ADAPTERS.pop(next(iter(_CHECKED_ADAPTERS)))
    return config


def load_lora(
    base_model_or_folder=None, adapter_dir: str | os.PathLike = "", is_trainable: bool = False, **load_kwargs: Any
):
    """``PeftModel.from_pretrained(base, adapter_dir)`` with the base given as a model, a folder
    (``"songgen-tiny"`` names the embedded default), or None: the base the adapter names (its
    portable record first, see above), with a ``ValueError`` naming it
    when it is missing.

    Loading onto a fresh base (not one already wrapped by ``get_peft_model``) is deliberate:
    adding a second adapter load on top of an injected one is a known PEFT pitfall."""
    import warnings

    from peft import PeftModel

    from songgen_hf.modeling.songgen import SongGenForConditionalGeneration

    if not adapter_dir or not (Path(adapter_dir) / ADAPTER_CONFIG_FILE).exists():
        raise ValueError(f"{adapter_dir!r} is not a LoRA adapter folder: no {ADAPTER_CONFIG_FILE}.")
    check_adapter_files(adapter_dir)  # its files, sizes against its weights, before any base loads
    base = base_model_or_folder
    if base is None or isinstance(base, (str, os.PathLike)):
        base = resolve_adapter_base(adapter_dir, base)
    if isinstance(base, PeftModel):
        raise ValueError("load_lora needs the plain base model; this one already carries an adapter.")
    if isinstance(base, (str, os.PathLike)):
        base = SongGenForConditionalGeneration.from_pretrained(os.fspath(base), **load_kwargs)
    with warnings.catch_warnings():  # PEFT still asks transformers' deprecated name; nothing the user can change
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        try:
            adapted = PeftModel.from_pretrained(base, str(adapter_dir), is_trainable=is_trainable)
        except (RuntimeError, ValueError, KeyError) as error:  # shapes of another base, targets it lacks
            reason = str(error).strip().splitlines()[0][:300]
            raise ValueError(
                f"The adapter {adapter_dir} does not fit its base {getattr(base, 'name_or_path', '') or 'model'} "
                f"({reason}); it was made for another base: load it onto the base it was trained from."
            ) from None
    check_adapter_loaded(adapted, adapter_dir)
    return adapted


def local_adapter_base(adapted, adapter_name: str = "default") -> None:
    """Point the loaded adapter's ``base_model_name_or_path`` (in memory; its file is left as it is) at the folder its
    base was loaded from.  The file names an embedded base by its name (``songgen-tiny``), which peft takes for a
    Hub id: it asks the Hub for ``songgen-tiny/config.json`` whenever it lists the adapter's weights (to learn
    whether the vocabulary grew), a network attempt and a warning on every load.  The folder answers locally."""
    folder = getattr(adapted.get_base_model(), "name_or_path", "") or ""
    if os.path.isfile(os.path.join(folder, MODEL_CONFIG_FILE)):
        adapted.peft_config[adapter_name].base_model_name_or_path = folder


def check_adapter_loaded(adapted, adapter_dir: str | os.PathLike, adapter_name: str = "default") -> None:
    """Refuse an adapter that loaded in name only: peft keeps going, with a warning at most, when the adapter
    file's weights name modules the base lacks (renamed keys, another architecture), which leaves those layers at
    their zero start and the adapter without effect.  A ``ValueError`` naming the first weight that found no home."""
    from peft import get_peft_model_state_dict
    from safetensors import safe_open

    path = Path(adapter_dir) / "adapter_model.safetensors"
    if not path.is_file():
        return  # a pickle adapter (checked for code elsewhere); its keys are read only by peft
    with safe_open(path, framework="pt") as handle:
        stored = set(handle.keys())
    local_adapter_base(adapted, adapter_name)
    loaded = get_peft_model_state_dict(adapted, adapter_name=adapter_name)
    expected = set(loaded)
    homeless, unfilled = sorted(stored - expected), sorted(expected - stored)
    if homeless or unfilled:
        first = homeless[0] if homeless else unfilled[0]
        raise ValueError(
            f"The adapter {adapter_dir} does not fit its base: {len(homeless)} of its {len(stored)} weights name no "
            f"module of the base and {len(unfilled)} adapted modules get no weight (first: {first}). Its keys were "
            "renamed or it was made for another base; loaded, it would change nothing. Load it onto the base it "
            "was trained from, or train it again."
        )
    from songgen_hf.modeling.weight_bounds import check_adapter_values

    check_adapter_values(loaded.items(), f"The adapter {adapter_dir}")  # NaN, inf, 1e30: refused as loaded


def merge_lora(peft_model):
    """Fold the adapter into the base weights; returns the plain ``SongGenForConditionalGeneration``.

    The result saves and loads like any SongGen folder (no PEFT needed); the heads of
    ``modules_to_save`` are replaced by their trained copies."""
    from songgen_hf.modeling.songgen import SongGenForConditionalGeneration

    merged = peft_model.merge_and_unload()
    if not isinstance(merged, SongGenForConditionalGeneration):
        raise TypeError(f"merge_and_unload returned {type(merged).__name__}, expected SongGenForConditionalGeneration.")
    return merged


__all__ = [
    "adapter_base",
    "adapter_effect",
    "base_record",
    "BASE_RECORD_FILE",
    "check_adapter_files",
    "check_adapter_loaded",
    "describe_adapter",
    "load_lora",
    "local_adapter_base",
    "merge_lora",
    "read_adapter_config",
    "resolve_adapter_base",
    "write_base_record",
]
