"""PEP 562 hooks for packages whose public names load from their submodules on first use.

A package ``__init__`` that imported every submodule would make each ``import`` pay for all of
them: ``python -m songgen_hf.data.synth`` parses its options before anything runs, and the corpus
renderer behind ``data.synth``'s names pulls in scipy.signal.  With these hooks a name resolves (and is
cached in the package) the first time it is read.

    _EXPORTS = {"SongGenProcessor": ".processor", ...}
    __all__ = sorted(_EXPORTS)
    __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from typing import Any


def lazy_exports(package: str, exports: dict[str, str], namespace: dict[str, Any]) -> tuple[Callable, Callable]:
    """``(__getattr__, __dir__)`` for ``package``: ``exports`` maps each name to its relative submodule."""

    def __getattr__(name: str):
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(exports[name], package), name)
        namespace[name] = value  # later look-ups skip this function
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(exports))

    return __getattr__, __dir__


__all__ = ["lazy_exports"]
