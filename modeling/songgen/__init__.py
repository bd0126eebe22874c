"""SongGen: configs, conditioning encoders, decoder, model and training objective."""

from songgen_hf.modeling.songgen.configuration_lyrics_encoder import SongGenLyricsEncoderConfig
from songgen_hf.modeling.songgen.configuration_singer import SongGenSingerConfig
from songgen_hf.modeling.songgen.configuration_songgen import SongGenConfig, SongGenDecoderConfig
from songgen_hf.modeling.songgen.configuration_voice_encoder import SongGenVoiceEncoderConfig
from songgen_hf.modeling.songgen.loss import CodebookCurriculum
from songgen_hf.modeling.songgen.modeling_songgen import (
    SongGenForCausalLM,
    SongGenForConditionalGeneration,
    SongGenOutput,
    SongGenPreTrainedModel,
)
from songgen_hf.modeling.songgen.preallocated_cache import CACHE_IMPLEMENTATIONS, SongGenPreallocatedCache
from songgen_hf.modeling.songgen.singer import SongGenSinger

__all__ = [
    "CACHE_IMPLEMENTATIONS",
    "SongGenPreallocatedCache",
    "CodebookCurriculum",
    "SongGenConfig",
    "SongGenDecoderConfig",
    "SongGenForCausalLM",
    "SongGenForConditionalGeneration",
    "SongGenLyricsEncoderConfig",
    "SongGenOutput",
    "SongGenPreTrainedModel",
    "SongGenSinger",
    "SongGenSingerConfig",
    "SongGenVoiceEncoderConfig",
]
