"""The package's public models and its registrations with transformers (imports torch and transformers).

``import songgen_hf`` imports this module, which registers the Auto classes and the ``text-to-song``
pipeline, except in the ``songgen`` console script: there the CLI imports it once the arguments are parsed,
so ``songgen --help`` and argument mistakes answer without loading torch.
"""

# ruff: noqa: F401  (the imports are what songgen_hf.PUBLIC_MODELS names: songgen_hf resolves them here)
from songgen_hf.utils.import_noise import known_import_noise_filtered

with known_import_noise_filtered():  # the first import of transformers happens here
    from songgen_hf._auto_registration import register_auto_classes
from songgen_hf.modeling import MelTeacherConfig, MelTeacherModel, XCodecConfig, XCodecModel
from songgen_hf.modeling.resgen import ResGenConfig, ResGenForConditionalGeneration, ResGenScheduler
from songgen_hf.modeling.songgen import (
    CodebookCurriculum,
    SongGenConfig,
    SongGenDecoderConfig,
    SongGenForCausalLM,
    SongGenForConditionalGeneration,
)
from songgen_hf.modeling.songgen.processing_songgen import SongGenProcessor

register_auto_classes()

from songgen_hf.pipelines.text_to_song import TextToSongPipeline, register_text_to_song_pipeline  # noqa: E402

register_text_to_song_pipeline()
