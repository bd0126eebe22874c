"""Registers this package's configs and models with transformers' Auto classes.

Runs once when ``songgen_hf`` is imported, so ``AutoConfig``/``AutoModel`` resolve the
package's namespaced ``model_type``s (they never collide with transformers' own, e.g.
``songgen_xcodec`` vs ``xcodec``).
"""

from transformers import AutoConfig, AutoModel

from .modeling import MelTeacherConfig, MelTeacherModel, XCodecConfig, XCodecModel

_REGISTRY = [
    (MelTeacherConfig, MelTeacherModel),
    (XCodecConfig, XCodecModel),
]


def register_auto_classes() -> None:
    for config_class, model_class in _REGISTRY:
        AutoConfig.register(config_class.model_type, config_class, exist_ok=True)
        AutoModel.register(config_class, model_class, exist_ok=True)
