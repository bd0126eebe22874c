"""Registers this package's configs and models with transformers' Auto classes.

Runs once when ``songgen_hf`` is imported, so ``AutoConfig``/``AutoModel`` resolve the
package's namespaced ``model_type``s (they never collide with transformers' own, e.g.
``songgen_xcodec`` vs ``xcodec``).
"""

from transformers import AutoConfig, AutoFeatureExtractor, AutoModel, AutoModelForTextToWaveform, AutoProcessor

from songgen_hf.modeling import MelTeacherConfig, MelTeacherModel, XCodecConfig, XCodecModel
from songgen_hf.modeling.songgen.modeling_songgen import register_pretrained_resolver
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
from songgen_hf.modeling.resgen import ResGenConfig, ResGenDecoderConfig, ResGenForConditionalGeneration
from songgen_hf.processing.processor import SongGenProcessor
from songgen_hf.processing.voice_features import VoiceFeatureExtractor

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
    register_pretrained_resolver(_embedded_model_resolver)
    register_pretrained_resolver(_official_songgen_resolver)


def _embedded_model_resolver(name_or_path, kwargs):
    """The embedded models' names (``songgen-tiny``) -> their folders in this
    install, wherever a model id is accepted; a local path of the same name wins."""
    from songgen_hf import defaults

    folder = defaults.embedded_model_path(name_or_path)
    if folder is None:
        return None
    return str(folder), {key: value for key, value in kwargs.items() if key not in ("revision", "subfolder")}


def _official_songgen_resolver(name_or_path, kwargs):
    """Official SongGen repo ids and folders -> their converted, cached folder (imported on first use:
    importing songgen_hf stays as light as before)."""
    from songgen_hf.conversion.conversion_cache import resolve_pretrained_source

    return resolve_pretrained_source(name_or_path, kwargs)
