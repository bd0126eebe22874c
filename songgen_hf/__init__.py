"""songgen-hf: Hugging Face-native SongGen text-to-song generation with the X-Codec codec."""

__version__ = "0.1.0.dev0"

from songgen_hf._import_noise import known_import_noise_filtered

with known_import_noise_filtered():  # the first import of transformers happens here
    from songgen_hf._auto_registration import register_auto_classes
from songgen_hf.modeling import MelTeacherConfig, MelTeacherModel, XCodecConfig, XCodecModel
from songgen_hf.modeling.songgen import (
    CodebookCurriculum,
    SongGenConfig,
    SongGenDecoderConfig,
    SongGenForCausalLM,
    SongGenForConditionalGeneration,
)

from songgen_hf.modeling.resgen import ResGenConfig, ResGenForConditionalGeneration, ResGenScheduler
from songgen_hf.processing.processor import SongGenProcessor

register_auto_classes()

from songgen_hf.pipelines.text_to_song import TextToSongPipeline, register_text_to_song_pipeline  # noqa: E402

register_text_to_song_pipeline()

__all__ = [
    "CodebookCurriculum",
    "MelTeacherConfig",
    "MelTeacherModel",
    "ResGenConfig",
    "ResGenForConditionalGeneration",
    "ResGenScheduler",
    "SongGenConfig",
    "SongGenDecoderConfig",
    "SongGenForCausalLM",
    "SongGenForConditionalGeneration",
    "SongGenProcessor",
    "TextToSongPipeline",
    "XCodecConfig",
    "XCodecModel",
    "__version__",
]
