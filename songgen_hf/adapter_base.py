"""Where a LoRA adapter folder's base model is: the one place that records and resolves it.

PEFT writes the base into ``adapter_config.json`` as ``base_model_name_or_path``, and
transformers / PEFT resolve that string against the *current directory* (a relative path) or the
Hub (anything else).  An absolute path is what keeps those loaders working, but it breaks as soon
as the base moves.  So a songgen adapter also carries ``songgen_adapter.json``, which names the
base portably::

    {"base_model": {"embedded": "songgen-tiny"}}          # the embedded default model, by name
    {"base_model": {"relative_path": "../../base"}}       # relative to the adapter folder
    {"base_model": {"repo_id": "org/name"}}               # a Hub model

The songgen loaders (``load_lora``, ``songgen generate/info/export``, the processor) look there
first, then at ``base_model_name_or_path``; a base found nowhere is a ``ValueError`` that names it
and says how to point the adapter at it.  Inference loads an adapter with :func:`load_lora` (and
:func:`merge_lora`) from here, so it needs nothing of ``training/``; PEFT and the model are imported
only when an adapter loads, so the processor and the CLI use this module without them.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from songgen_hf import defaults

ADAPTER_CONFIG_FILE = "adapter_config.json"
BASE_RECORD_FILE = "songgen_adapter.json"
MODEL_CONFIG_FILE = "config.json"


def is_adapter_folder(folder: str | os.PathLike) -> bool:
    """A local folder holding a PEFT adapter and no full model of its own."""
    folder = Path(folder)
    return (folder / ADAPTER_CONFIG_FILE).is_file() and not (folder / MODEL_CONFIG_FILE).is_file()


def base_model_folder(name_or_path: str | os.PathLike) -> str:
    """``name_or_path`` with an embedded model's name (``"songgen-tiny"``)
    turned into its folder.

    A path that exists wins over the name, as a local folder wins over a Hub id in transformers."""
    folder = defaults.embedded_model_path(name_or_path)
    return str(folder) if folder is not None else os.fspath(name_or_path)


def base_record(base: str | os.PathLike, adapter_dir: str | os.PathLike) -> dict[str, Any]:
    """How ``adapter_dir`` should name ``base`` so that it still finds it after both move."""
    text = os.fspath(base)
    if not os.path.isdir(text):
        return {"repo_id": text}
    resolved = Path(text).resolve()
    embedded = defaults.embedded_model_name(resolved)
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
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ValueError(f"{path} is not valid JSON ({error}); the adapter folder is damaged.") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path} should hold a JSON object; the adapter folder is damaged.")
    return data


def resolve_adapter_base(adapter_dir: str | os.PathLike, base: str | os.PathLike | None = None) -> str:
    """The base model folder (or Hub id) of the adapter in ``adapter_dir``.

    ``base`` given: that one (the embedded default may be named).  Otherwise the portable record,
    then ``base_model_name_or_path``; a local base must hold a ``config.json``.  Raises
    ``ValueError`` naming the missing base and the ways to point the adapter at it."""
    adapter_dir = Path(adapter_dir)
    if not (adapter_dir / ADAPTER_CONFIG_FILE).is_file():
        raise ValueError(f"{adapter_dir} is not a LoRA adapter folder: no {ADAPTER_CONFIG_FILE}.")
    if base is not None:
        return base_model_folder(base)
    recorded = _read_json(adapter_dir / ADAPTER_CONFIG_FILE).get("base_model_name_or_path") or None
    entry = {}
    if (adapter_dir / BASE_RECORD_FILE).is_file():
        entry = _read_json(adapter_dir / BASE_RECORD_FILE).get("base_model") or {}
    if "embedded" in entry:
        name = entry["embedded"]
        if name not in defaults.EMBEDDED_MODELS:
            raise ValueError(
                f"The LoRA adapter {adapter_dir} was trained on the embedded model {name!r}, but this install embeds "
                f"{', '.join(map(repr, defaults.EMBEDDED_MODELS))}. {_fix_hint(adapter_dir, missing=False)}"
            )
        return str(defaults.embedded_folder(name))
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

    if not adapter_dir or not (Path(adapter_dir) / ADAPTER_CONFIG_FILE).is_file():
        raise ValueError(f"{adapter_dir!r} is not a LoRA adapter folder: no {ADAPTER_CONFIG_FILE}.")
    base = base_model_or_folder
    if base is None or isinstance(base, (str, os.PathLike)):
        base = resolve_adapter_base(adapter_dir, base)
    if isinstance(base, PeftModel):
        raise ValueError("load_lora needs the plain base model; this one already carries an adapter.")
    if isinstance(base, (str, os.PathLike)):
        base = SongGenForConditionalGeneration.from_pretrained(os.fspath(base), **load_kwargs)
    with warnings.catch_warnings():  # PEFT still asks transformers' deprecated name; nothing the user can change
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        return PeftModel.from_pretrained(base, str(adapter_dir), is_trainable=is_trainable)


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
    "ADAPTER_CONFIG_FILE",
    "BASE_RECORD_FILE",
    "base_model_folder",
    "base_record",
    "describe_adapter",
    "is_adapter_folder",
    "load_lora",
    "merge_lora",
    "resolve_adapter_base",
    "write_base_record",
]
