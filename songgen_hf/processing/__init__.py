"""Input processing for SongGen: description/lyrics tokenizers, reference-voice features, the processor.

Exports resolve lazily so that importing one piece (say the lyrics tokenizer) does not pull in
the others' dependencies (soundfile, transformers' tokenizer stack).
"""

from importlib import import_module

_EXPORTS = {
    "SongGenProcessor": ".processor",
    "VoiceBpeTokenizer": ".lyrics_tokenizer",
    "train_voicebpe_vocab": ".lyrics_tokenizer",
    "VoiceFeatureExtractor": ".voice_features",
    "train_description_tokenizer": ".description_tokenizer",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(_EXPORTS[name], __name__), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
