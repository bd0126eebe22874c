"""Synthetic song corpus: MIDI accompaniment (FluidSynth) + espeak-ng vocals.

Entry point: :func:`synthesize_corpus`; see ``docs/synthetic_corpus.md``.
"""

from .corpus import ENERGY_SCALE, GENERATOR_VERSION, CorpusConfig, generate_clip, synthesize_corpus
from .tools import SystemToolsMissingError, check_system_tools

__all__ = [
    "ENERGY_SCALE",
    "GENERATOR_VERSION",
    "CorpusConfig",
    "SystemToolsMissingError",
    "check_system_tools",
    "generate_clip",
    "synthesize_corpus",
]
