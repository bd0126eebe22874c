"""The models embedded in the package, by name: the one place the CLI, the pipeline, the Space and the
loaders learn which folders they are.

``songgen-tiny`` is the default (what ``pipeline("text-to-song")`` and ``songgen generate`` load
without a model); any others are options, named wherever a model id is accepted
(``from_pretrained("songgen-tiny")``, ``--model songgen-tiny``).  A local path
with the same name wins over the name, as a local folder wins over a Hub id in transformers.  A name
that an earlier release embedded and this one retired is a clear ``ValueError`` naming its successor,
not a failed Hub lookup.
An embedded model keeps its codec in a shard of its own, which further embedded models may share (see
``songgen_hf.conversion.embedded_layout``).
"""

from __future__ import annotations

import os
from pathlib import Path

ASSETS_DIR = Path(__file__).resolve().parent / "assets"
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


__all__ = [
    "ASSETS_DIR",
    "DEFAULT_MODEL_DIR",
    "DEFAULT_MODEL_NAME",
    "EMBEDDED_MODELS",
    "RETIRED_MODELS",
    "default_model_path",
    "embedded_folder",
    "embedded_model_name",
    "embedded_model_path",
]
