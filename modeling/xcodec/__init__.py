"""X-Codec: configuration, model, quantiser and the weight-free semantic teacher."""

from songgen_hf.modeling.xcodec.configuration_xcodec import MelTeacherConfig, XCodecConfig
from songgen_hf.modeling.xcodec.modeling_xcodec import (
    MelTeacherModel,
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
