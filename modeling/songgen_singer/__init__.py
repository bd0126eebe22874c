"""The told singer: configuration and model (a second ``PreTrainedModel`` beside SongGen, saved in a model's
``singer/`` folder)."""

from songgen_hf.modeling.songgen_singer.configuration_songgen_singer import SongGenSingerConfig
from songgen_hf.modeling.songgen_singer.modeling_songgen_singer import SongGenSinger

__all__ = ["SongGenSinger", "SongGenSingerConfig"]
