"""Converters from official checkpoints (original X-Codec ``.pth``, official SongGen folders or Hub ids) to this
package."""

from songgen_hf.conversion.conversion_cache import (
    convert_official_songgen,
    converted_songgen_folder,
    load_official_songgen_from_hub,
)
from songgen_hf.conversion.hub import HubSourceError
from songgen_hf.conversion.songgen_official import (
    config_from_official,
    convert_official_songgen_state_dict,
    load_official_songgen,
    save_converted_songgen,
)
from songgen_hf.conversion.xcodec_original import (
    config_from_original_yaml,
    convert_original_xcodec_state_dict,
    load_original_xcodec,
    save_converted,
)

__all__ = [
    "HubSourceError",
    "config_from_official",
    "convert_official_songgen",
    "converted_songgen_folder",
    "load_official_songgen_from_hub",
    "config_from_original_yaml",
    "convert_official_songgen_state_dict",
    "convert_original_xcodec_state_dict",
    "load_official_songgen",
    "load_original_xcodec",
    "save_converted",
    "save_converted_songgen",
]
