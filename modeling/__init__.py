"""``songgen_hf.modeling``: the models, one folder each as in transformers (configuration, modeling, generation and
the processors that prepare their inputs), the token patterns and what loads weights safely; no CLI, no datasets."""

from songgen_hf.modeling.resgen import ResGenConfig, ResGenForConditionalGeneration, ResGenScheduler
from songgen_hf.modeling.xcodec import (
    MelTeacherConfig,
    MelTeacherModel,
    XCodecConfig,
    XCodecModel,
)

__all__ = [
    "XCodecConfig",
    "XCodecModel",
    "MelTeacherConfig",
    "MelTeacherModel",
    "ResGenConfig",
    "ResGenForConditionalGeneration",
    "ResGenScheduler",
]
