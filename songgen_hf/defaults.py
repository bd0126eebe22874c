"""Where the embedded default model lives: the one constant the CLI, the pipeline and the Space use."""

from __future__ import annotations

from pathlib import Path

DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "assets" / "songgen-tiny"


def default_model_path() -> Path:
    """The embedded default model folder; a clear error if this install does not ship it yet."""
    if not (DEFAULT_MODEL_DIR / "config.json").is_file():
        raise ValueError(
            f"The embedded default model is not in this install ({DEFAULT_MODEL_DIR}). "
            "Pass a model folder explicitly (model=... / --model ...)."
        )
    return DEFAULT_MODEL_DIR


__all__ = ["DEFAULT_MODEL_DIR", "default_model_path"]
