"""Synthetic song corpus: MIDI accompaniment (FluidSynth) + espeak-ng vocals.

Entry point: :func:`synthesize_corpus`; see ``docs/synthetic_corpus.md``.

The names below load on first use (PEP 562): ``songgen``'s parser imports ``synth.cli`` for every
command, and the renderer's imports (scipy.signal among them) would add half a second to each.
"""

import importlib

_EXPORTS = {
    "ENERGY_SCALE": ".corpus",
    "GENERATOR_VERSION": ".corpus",
    "CorpusConfig": ".corpus",
    "generate_clip": ".corpus",
    "synthesize_corpus": ".corpus",
    "SystemToolsMissingError": ".tools",
    "check_system_tools": ".tools",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name], __name__), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
