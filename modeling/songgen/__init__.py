"""SongGen: configs, conditioning encoders, decoder, model and training objective."""

from .configuration_lyrics_encoder import SongGenLyricsEncoderConfig
from .configuration_songgen import SongGenConfig, SongGenDecoderConfig
from .configuration_singer import SongGenSingerConfig
from .configuration_voice_encoder import SongGenVoiceEncoderConfig
from .loss import CodebookCurriculum
from .preallocated_cache import CACHE_IMPLEMENTATIONS, SongGenPreallocatedCache
from .modeling_songgen import SongGenForCausalLM, SongGenForConditionalGeneration, SongGenOutput, SongGenPreTrainedModel
from .singer import SongGenSinger

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
