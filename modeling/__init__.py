"""``songgen_hf.modeling``: the models, one folder each as in transformers (configuration, modeling, generation and
the processors that prepare their inputs), the token patterns, what loads weights safely, and what they all stand on:
the input limits and check primitives (``limits``) and the music theory (``music``); no CLI, no datasets.

The models resolve on first use, so that ``limits`` and ``music`` import without torch (the CLI's parser and the
corpus renderer read them before any model is needed).
"""

from songgen_hf.utils.lazy_exports import lazy_exports

_MODELS = {
    "XCodecConfig": "songgen_hf.modeling.xcodec",
    "XCodecModel": "songgen_hf.modeling.xcodec",
    "MelTeacherConfig": "songgen_hf.modeling.xcodec",
    "MelTeacherModel": "songgen_hf.modeling.xcodec",
    "ResGenConfig": "songgen_hf.modeling.resgen",
    "ResGenForConditionalGeneration": "songgen_hf.modeling.resgen",
    "ResGenScheduler": "songgen_hf.modeling.resgen",
}
__getattr__, __dir__ = lazy_exports(__name__, _MODELS, globals())

__all__ = sorted(_MODELS)
