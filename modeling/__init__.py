"""``songgen_hf.modeling``: neural-network code only (no I/O, no CLI, no datasets)."""

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
