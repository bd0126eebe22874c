"""Checks the pipeline, ``stream_song`` and the CLI run before any weights load.

Each one reads arguments, file headers or the config only, and raises ``ValueError`` naming the
argument and the fix; the CLI turns that into ``songgen: error: ...`` and exit code 2.
"""

from __future__ import annotations

import json
import os
from numbers import Integral
from typing import Any

import torch

from songgen_hf import limits

MAX_SEED = 2**64 - 1  # torch.manual_seed takes unsigned 64-bit seeds


def check_seed(seed: Any, name: str = "seed") -> int | None:
    """``None`` or an int in ``[0, 2**64 - 1]``, the range ``torch.manual_seed`` accepts."""
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, Integral) or not 0 <= seed <= MAX_SEED:
        raise ValueError(f"{name} must be a whole number from 0 to 2**64 - 1, got {seed!r}; e.g. {name}=0.")
    return int(seed)


def check_device(device: Any, name: str = "device") -> None:
    """Refuse a device that this machine cannot run on, before a model is moved there.

    Accepts what ``pipeline(device=...)`` accepts: ``None``, an int (-1 = CPU, N = accelerator N),
    a string such as ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``, or a ``torch.device``.
    """
    if device is None:
        return
    if isinstance(device, bool) or not isinstance(device, (Integral, str, torch.device)):
        raise ValueError(f"{name} must be a string such as 'cpu' or 'cuda:0', got {device!r}.")
    if isinstance(device, Integral):
        if device < -1:
            raise ValueError(f"{name} {device} is not a device; use -1 (CPU) or an accelerator index >= 0.")
        if device == -1:
            return
        device = f"cuda:{int(device)}"  # what pipeline() makes of an index on a CUDA build
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(
            f"{name} {str(device)!r} is not a device name; use 'cpu', 'cuda', 'cuda:N' (N = GPU index) or 'mps'."
        ) from None
    kind = parsed.type
    if kind == "cpu":
        return
    if kind == "meta":
        raise ValueError(f"{name} 'meta' holds no weights and cannot generate; use 'cpu' or 'cuda'.")
    module = getattr(torch, kind, None) if kind != "mps" else torch.backends.mps
    available = bool(module is not None and getattr(module, "is_available", lambda: False)())
    if not available:
        build = (
            "this PyTorch build has no CUDA support"
            if kind == "cuda" and torch.version.cuda is None
            else (f"no {kind} device is available here")
        )
        raise ValueError(f"{name} {str(device)!r} cannot be used: {build}; use device 'cpu' (or leave it out).")
    count = getattr(module, "device_count", None)
    if parsed.index is not None and count is not None and parsed.index >= count():
        raise ValueError(
            f"{name} {str(device)!r} does not exist: this machine has {count()} {kind} device(s) "
            f"({kind}:0 to {kind}:{count() - 1})."
        )


def check_count(value: Any, name: str, maximum: int, what: str) -> int | None:
    """``None`` or a whole number in ``[1, maximum]``."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, Integral) or not 1 <= value <= maximum:
        raise ValueError(f"{name} must be a whole number from 1 to {maximum} ({what}), got {value!r}.")
    return int(value)


def check_batch_size(batch_size: Any) -> int | None:
    return check_count(batch_size, "batch_size", limits.MAX_BATCH_SIZE, "songs generated together")


def check_song_count(count: int) -> None:
    if count > limits.MAX_SONGS_PER_CALL:
        raise ValueError(
            f"Got {count} songs in one call, but the limit is {limits.MAX_SONGS_PER_CALL}; split the list into "
            "several calls."
        )


def check_text_lengths(description: str, lyrics: str) -> None:
    """The character caps of ``songgen_hf.limits``, before anything is tokenised: the processor's own
    checks, run early so that a huge paste costs nothing (not even loading the processor)."""
    from songgen_hf.processing.input_limits import check_description_chars, check_lyrics_chars

    check_description_chars([description])
    check_lyrics_chars([lyrics])


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
            with open(index, encoding="utf-8") as handle:
                shards = sorted(set(json.load(handle)["weight_map"].values()))
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
    """A checked local folder's weight files, then the generation ``arguments`` against its config
    (an adapter folder has none: its base's limits are checked again when generating)."""
    from songgen_hf.modeling.songgen.generation_arguments import check_generation_arguments

    check_weight_files(folder)  # a cut model.safetensors: a clear message, not a SafetensorError
    has_config = os.path.isfile(os.path.join(os.fspath(folder), "config.json"))
    check_generation_arguments(arguments, songgen_config(folder) if has_config else None, names)


def songgen_config(folder: str | os.PathLike):
    """The SongGen config of a checked local folder (no weights), for the length checks."""
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(os.fspath(folder))
    except (OSError, ValueError) as error:
        raise ValueError(f"Could not read the model config in {os.fspath(folder)}: {error}") from None


__all__ = [
    "MAX_SEED",
    "check_batch_size",
    "check_count",
    "check_device",
    "check_model_files_and_arguments",
    "check_safetensors_complete",
    "check_seed",
    "check_song_count",
    "check_text_lengths",
    "check_weight_files",
    "songgen_config",
    "weight_files",
]
