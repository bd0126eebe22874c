"""songgen-hf: Hugging Face-native SongGen text-to-song generation with the X-Codec codec."""

__version__ = "0.1.0.dev0"

from ._auto_registration import register_auto_classes
from .modeling import MelTeacherConfig, MelTeacherModel, XCodecConfig, XCodecModel

register_auto_classes()

__all__ = ["XCodecConfig", "XCodecModel", "MelTeacherConfig", "MelTeacherModel", "__version__"]
