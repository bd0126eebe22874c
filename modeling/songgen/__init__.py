"""SongGen: configuration, model, generation, processor, tokenizer and feature extractor.

The input side (processor, tokenizers, feature extractor) resolves lazily, so that importing the model does not
pull in the tokenizers' and audio readers' dependencies, nor the reverse.
"""

from songgen_hf.modeling.songgen.configuration_songgen import (
    SongGenConfig,
    SongGenDecoderConfig,
    SongGenLyricsEncoderConfig,
    SongGenVoiceEncoderConfig,
)
from songgen_hf.modeling.songgen.loss import CodebookCurriculum
from songgen_hf.modeling.songgen.modeling_songgen import (
    SongGenForCausalLM,
    SongGenForConditionalGeneration,
    SongGenOutput,
    SongGenPreTrainedModel,
)
from songgen_hf.modeling.songgen.preallocated_cache import CACHE_IMPLEMENTATIONS, SongGenPreallocatedCache
from songgen_hf.modeling.songgen_singer import SongGenSinger, SongGenSingerConfig
from songgen_hf.utils.lazy_exports import lazy_exports

_INPUT_SIDE = {
    "SongGenProcessor": "songgen_hf.modeling.songgen.processing_songgen",
    "VoiceBpeTokenizer": "songgen_hf.modeling.songgen.tokenization_songgen",
    "train_voicebpe_vocab": "songgen_hf.modeling.songgen.tokenization_songgen",
    "train_description_tokenizer": "songgen_hf.modeling.songgen.tokenization_songgen",
    "VoiceFeatureExtractor": "songgen_hf.modeling.songgen.feature_extraction_songgen",
}
__getattr__, __dir__ = lazy_exports(__name__, _INPUT_SIDE, globals())

__all__ = [
    "CACHE_IMPLEMENTATIONS",
    "CodebookCurriculum",
    "SongGenConfig",
    "SongGenDecoderConfig",
    "SongGenForCausalLM",
    "SongGenForConditionalGeneration",
    "SongGenLyricsEncoderConfig",
    "SongGenOutput",
    "SongGenPreTrainedModel",
    "SongGenPreallocatedCache",
    "SongGenProcessor",
    "SongGenSinger",
    "SongGenSingerConfig",
    "SongGenVoiceEncoderConfig",
    "VoiceBpeTokenizer",
    "VoiceFeatureExtractor",
    "train_description_tokenizer",
    "train_voicebpe_vocab",
]
