"""Input processing for SongGen: description/lyrics tokenizers, reference-voice features, the processor.

Exports resolve lazily so that importing one piece (say the lyrics tokenizer) does not pull in
the others' dependencies (soundfile, transformers' tokenizer stack).
"""

from songgen_hf.lazy_exports import lazy_exports

_EXPORTS = {
    "SongGenProcessor": ".processor",
    "VoiceBpeTokenizer": ".lyrics_tokenizer",
    "train_voicebpe_vocab": ".lyrics_tokenizer",
    "VoiceFeatureExtractor": ".voice_features",
    "train_description_tokenizer": ".description_tokenizer",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
