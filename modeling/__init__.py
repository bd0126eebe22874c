"""``songgen_hf.modeling``: neural-network code only (no I/O, no CLI, no datasets)."""

from .xcodec import (
    MelTeacherConfig,
    MelTeacherModel,
    XCodecConfig,
    XCodecModel,
)

from .resgen import ResGenConfig, ResGenForConditionalGeneration, ResGenScheduler

__all__ = [
    "XCodecConfig", "XCodecModel", "MelTeacherConfig", "MelTeacherModel",
    "ResGenConfig", "ResGenForConditionalGeneration", "ResGenScheduler",
]
