"""Converters from other X-Codec checkpoint formats to ``XCodecModel``."""

from .xcodec_original import (
    config_from_original_yaml,
    convert_original_xcodec_state_dict,
    load_original_xcodec,
    save_converted,
)

__all__ = ["convert_original_xcodec_state_dict", "config_from_original_yaml", "load_original_xcodec", "save_converted"]
