"""What ``SongGenProcessor.from_pretrained`` reads besides the processor's own files, checked.

A processor folder names its files in ``processor_config.json`` (a downloaded config must not point
outside the checkpoint: :func:`_safe_relative_path`); it learns the model's musical controls and
lyric limit from the model's ``config.json`` beside it, or, for a processor saved as a component of a
pipeline folder (``ResGenPipeline``), from the pipeline root's model config
(:func:`_pipeline_model_config`); and it loads the reference-voice feature extractor only when the
saved file describes one (:func:`_load_voice_feature_extractor`).
"""

from __future__ import annotations

import json
import os
from numbers import Integral
from pathlib import PurePosixPath
from typing import Any

from transformers.utils import cached_file

from songgen_hf.processing.voice_features import VoiceFeatureExtractor

PROCESSOR_CONFIG_NAME = "processor_config.json"
MODEL_CONFIG_NAME = "config.json"


def _safe_relative_path(filename: Any, key: str) -> str:
    """Reject absolute or parent-escaping paths from a (possibly downloaded) processor config."""
    if not isinstance(filename, str) or not filename:
        raise ValueError(f"{PROCESSOR_CONFIG_NAME}: '{key}' must be a file name, got {filename!r}.")
    parts = PurePosixPath(filename.replace("\\", "/")).parts
    if filename.startswith(("/", "\\")) or ".." in parts or (parts and ":" in parts[0]):
        raise ValueError(f"{PROCESSOR_CONFIG_NAME}: '{key}' must stay inside the checkpoint folder, got {filename!r}.")
    return "/".join(parts)


def _pipeline_model_config(source: str, hub_kwargs: dict) -> str | None:
    """The model's ``config.json`` for a processor saved as a component of a pipeline folder
    (``FOLDER/processor`` beside ``FOLDER/model_index.json``, as ``ResGenPipeline`` saves it): the
    processor learns the model's musical controls and lyric limit from it, as it does beside a
    SongGen model.  Without it a ResGen processor would silently drop the tempo and key."""
    subfolder = hub_kwargs.get("subfolder")
    if subfolder:  # FOLDER or repo id + subfolder="processor": the pipeline root is FOLDER itself
        root, kwargs = source, {key: value for key, value in hub_kwargs.items() if key != "subfolder"}
    elif os.path.isdir(source):
        root, kwargs = os.path.dirname(os.path.normpath(source)), hub_kwargs
    else:
        return None
    if not root or cached_file(root, "model_index.json", _raise_exceptions_for_missing_entries=False, **kwargs) is None:
        return None
    return cached_file(root, MODEL_CONFIG_NAME, _raise_exceptions_for_missing_entries=False, **kwargs)


def _read_model_config(config_path: str | None) -> dict:
    """A SongGen ``config.json`` as a dict; empty if there is none or it is broken (the model loader reports that)."""
    if config_path is None:
        return {}
    try:
        with open(config_path, encoding="utf-8") as handle:
            config = json.load(handle)
    except (OSError, json.JSONDecodeError):
        return {}
    return config if isinstance(config, dict) else {}


def _model_lyrics_limit(config: dict) -> int | None:
    """``lyrics_encoder.max_position_embeddings`` of a SongGen config dict; ``None`` if there is none."""
    lyrics = config.get("lyrics_encoder")
    value = lyrics.get("max_position_embeddings") if isinstance(lyrics, dict) else None
    return int(value) if isinstance(value, Integral) and not isinstance(value, bool) and value >= 2 else None


def _load_voice_feature_extractor(path: str) -> VoiceFeatureExtractor:
    with open(path, encoding="utf-8") as handle:
        try:
            saved = json.load(handle)
        except json.JSONDecodeError as error:
            raise OSError(f"{path} is not valid JSON ({error}).") from None
    saved_type = saved.get("feature_extractor_type", VoiceFeatureExtractor.__name__)
    if saved_type != VoiceFeatureExtractor.__name__:
        raise ValueError(
            f"{path} describes a {saved_type}, but SongGen's reference voice needs a VoiceFeatureExtractor; "
            f"set 'voice_feature_extractor_file' to null in {PROCESSOR_CONFIG_NAME} if the model has no voice encoder."
        )
    return VoiceFeatureExtractor.from_pretrained(path)
