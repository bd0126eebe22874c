"""Registers this package's configs and models with transformers' Auto classes (their public ``register``).

Runs once when ``songgen_hf`` is imported, so ``AutoConfig``/``AutoModel`` resolve the
package's namespaced ``model_type``s (they never collide with transformers' own, e.g.
``songgen_xcodec`` vs ``xcodec``).  The names this package gives folders resolve through the one registry of
:mod:`songgen_hf.modeling.weight_bounds`, whose resolvers are registered here too: ``import songgen_hf`` (which Python
runs before any module of the package, the models alone included) registers them, and the console script before
any command loads a model.
"""

from transformers import AutoConfig, AutoFeatureExtractor, AutoModel, AutoModelForTextToWaveform, AutoProcessor

from songgen_hf.modeling import MelTeacherConfig, MelTeacherModel, XCodecConfig, XCodecModel
from songgen_hf.modeling.resgen import ResGenConfig, ResGenDecoderConfig, ResGenForConditionalGeneration
from songgen_hf.modeling.songgen import (
    SongGenConfig,
    SongGenDecoderConfig,
    SongGenForCausalLM,
    SongGenForConditionalGeneration,
    SongGenLyricsEncoderConfig,
    SongGenSinger,
    SongGenSingerConfig,
    SongGenVoiceEncoderConfig,
)
from songgen_hf.modeling.songgen.feature_extraction_songgen import VoiceFeatureExtractor
from songgen_hf.modeling.songgen.processing_songgen import SongGenProcessor
from songgen_hf.modeling.weight_bounds import register_name_resolver

_MODELS = [
    (MelTeacherConfig, MelTeacherModel),
    (XCodecConfig, XCodecModel),
    (SongGenDecoderConfig, SongGenForCausalLM),
    (SongGenConfig, SongGenForConditionalGeneration),
    (ResGenConfig, ResGenForConditionalGeneration),
    (SongGenSingerConfig, SongGenSinger),
]
# sub-configs that only need to resolve from their model_type inside a parent config
_CONFIGS_ONLY = [SongGenLyricsEncoderConfig, SongGenVoiceEncoderConfig, ResGenDecoderConfig]


def register_auto_classes() -> None:
    for config_class, model_class in _MODELS:
        AutoConfig.register(config_class.model_type, config_class, exist_ok=True)
        AutoModel.register(config_class, model_class, exist_ok=True)
    for config_class in _CONFIGS_ONLY:
        AutoConfig.register(config_class.model_type, config_class, exist_ok=True)
    AutoModelForTextToWaveform.register(SongGenConfig, SongGenForConditionalGeneration, exist_ok=True)
    AutoProcessor.register(SongGenConfig, SongGenProcessor, exist_ok=True)
    AutoModelForTextToWaveform.register(ResGenConfig, ResGenForConditionalGeneration, exist_ok=True)
    AutoFeatureExtractor.register(SongGenConfig, VoiceFeatureExtractor, exist_ok=True)
    # what a name stands for, asked by every from_pretrained of the models and processors: the loader (embedded
    # models), the converters (official checkpoints) and the adapter folders (an adapter's base), each imported when a
    # name first asks
    register_name_resolver("songgen_hf.pipelines.loading")
    register_name_resolver("songgen_hf.conversion.conversion_cache")
    register_name_resolver("songgen_hf.pipelines.adapter_folders")
