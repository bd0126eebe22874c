"""``songgen_hf.modeling``: neural-network code only (no I/O, no CLI, no datasets)."""

from .xcodec import (
    MelTeacherConfig,
    MelTeacherModel,
    XCodecConfig,
    XCodecModel,
)

__all__ = ["XCodecConfig", "XCodecModel", "MelTeacherConfig", "MelTeacherModel"]
