"""X-Codec: configuration, model, quantiser and the weight-free semantic teacher."""

from .configuration_xcodec import XCodecConfig
from .mel_teacher import MelTeacherConfig, MelTeacherModel
from .modeling_xcodec import (
    XCodecDecoderOutput,
    XCodecEncoderOutput,
    XCodecModel,
    XCodecOutput,
    XCodecPreTrainedModel,
)

__all__ = [
    "XCodecConfig",
    "XCodecModel",
    "XCodecPreTrainedModel",
    "XCodecOutput",
    "XCodecEncoderOutput",
    "XCodecDecoderOutput",
    "MelTeacherConfig",
    "MelTeacherModel",
]
