"""songgen-hf: Hugging Face-native SongGen text-to-song generation with the X-Codec codec."""

__version__ = "0.1.0.dev0"

import os
import sys

from songgen_hf.utils.lazy_exports import lazy_exports

# The `songgen` console script (or `python -m songgen_hf.cli`, as `accelerate launch -m songgen_hf.cli` runs it)
# parses its arguments before anything needs torch, then imports _public_api itself (songgen_hf.commands.cli): `songgen
# --help` and a mistyped flag answer at once.  Under -m this package is imported while sys.argv[0] is still "-m";
# sys.orig_argv names the module.
_CONSOLE_SCRIPT_NAMES = ("songgen", "songgen.exe", "songgen-script.py")
_ORIGINAL_ARGV = getattr(sys, "orig_argv", [])
_STARTED_BY_CONSOLE_SCRIPT = (bool(sys.argv) and os.path.basename(sys.argv[0]) in _CONSOLE_SCRIPT_NAMES) or (
    bool(sys.argv)
    and sys.argv[0] == "-m"
    and "-m" in _ORIGINAL_ARGV[1:]
    and _ORIGINAL_ARGV[_ORIGINAL_ARGV.index("-m") + 1 :][:1] == ["songgen_hf.cli"]
)

# The public models, defined in _public_api (which imports torch and registers them with transformers); named here
# once, so that the console script can list and resolve them before torch loads
PUBLIC_MODELS = (
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
)
if not _STARTED_BY_CONSOLE_SCRIPT:  # registers the Auto classes and "text-to-song" with transformers
    import songgen_hf._public_api as _public_api

    # bound now, from the modules already loaded: a look-up then runs no hook
    from songgen_hf.pipelines.text_to_song import load_text_to_song_pipeline  # noqa: F401

    globals().update({name: getattr(_public_api, name) for name in PUBLIC_MODELS})

# Loaded on first use: the ResGen pipeline imports diffusers, which plain SongGen use never needs; in the console
# script the first use of a model imports _public_api (and registers them)
_LAZY_EXPORTS = {
    "ResGenPipeline": "songgen_hf.modeling.resgen.pipeline_resgen",
    "load_text_to_song_pipeline": "songgen_hf.pipelines.text_to_song",
    **dict.fromkeys(PUBLIC_MODELS, "songgen_hf._public_api"),
}
__getattr__, __dir__ = lazy_exports(__name__, _LAZY_EXPORTS, globals())

__all__ = sorted([*PUBLIC_MODELS, "ResGenPipeline", "__version__", "load_text_to_song_pipeline"])
