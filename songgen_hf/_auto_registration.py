"""Registers this package's configs and models with transformers' Auto classes (their public ``register``).

Runs once when ``songgen_hf`` is imported, so ``AutoConfig``/``AutoModel`` resolve the
package's namespaced ``model_type``s (they never collide with transformers' own, e.g.
``songgen_xcodec`` vs ``xcodec``).  The models' own ``from_pretrained`` also learn the names this package
gives folders (:mod:`songgen_hf.pipelines.loading`: the embedded models, official checkpoints).
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
from songgen_hf.modeling.songgen.modeling_songgen import register_pretrained_resolver
from songgen_hf.modeling.songgen.processing_songgen import SongGenProcessor, register_adapter_base_resolver
from songgen_hf.pipelines.loading import adapter_base_or_none, resolve_embedded_name

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
    # which folder a name stands for (the embedded models, official SongGen checkpoints): one module decides
    register_pretrained_resolver(resolve_embedded_name)
    # official checkpoints are converted (once, cached): the converters load only when such a name comes
    register_pretrained_resolver("songgen_hf.conversion.conversion_cache:resolve_pretrained_source")
    # a LoRA adapter folder's processor files come from the base it names, by the loader's rule
    register_adapter_base_resolver(adapter_base_or_none)
