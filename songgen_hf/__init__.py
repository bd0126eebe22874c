"""songgen-hf: Hugging Face-native SongGen text-to-song generation with the X-Codec codec."""

__version__ = "0.1.0.dev0"

import os
import sys

from songgen_hf.lazy_exports import lazy_exports

# The `songgen` console script parses its arguments before anything needs torch, then imports
# _public_api itself (songgen_hf.command_runner): `songgen --help` and a mistyped flag answer at once.
_CONSOLE_SCRIPT_NAMES = ("songgen", "songgen.exe", "songgen-script.py")
_STARTED_BY_CONSOLE_SCRIPT = bool(sys.argv) and os.path.basename(sys.argv[0]) in _CONSOLE_SCRIPT_NAMES

if not _STARTED_BY_CONSOLE_SCRIPT:  # registers the Auto classes and "text-to-song" with transformers
    import songgen_hf._public_api  # noqa: F401  (its names resolve below, from the module already loaded)

# Loaded on first use: the ResGen pipeline imports diffusers, which plain SongGen use never needs.
_LAZY_EXPORTS = {
    "ResGenPipeline": "songgen_hf.pipelines.resgen_pipeline",
    "load_text_to_song_pipeline": "songgen_hf.pipelines.text_to_song",
    # the models; in the console script the first use of one imports _public_api (and registers them)
    **dict.fromkeys(
        [
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
        ],
        "songgen_hf._public_api",
    ),
}
__getattr__, __dir__ = lazy_exports(__name__, _LAZY_EXPORTS, globals())

__all__ = [
    "CodebookCurriculum",
    "MelTeacherConfig",
    "MelTeacherModel",
    "ResGenConfig",
    "ResGenForConditionalGeneration",
    "ResGenPipeline",
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
    "load_text_to_song_pipeline",
]
