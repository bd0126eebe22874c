"""Synthetic song corpus: MIDI accompaniment (FluidSynth) + espeak-ng vocals.

Entry point: :func:`synthesize_corpus`; see ``docs/synthetic_corpus.md``.

The names below load on first use: importing one submodule (the command's checks read ``corpus``'s limits,
``python -m songgen_hf.data.synth`` parses first) should not pay for the renderer's imports (scipy.signal
among them, half a second).
"""

from songgen_hf.utils.lazy_exports import lazy_exports

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
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
