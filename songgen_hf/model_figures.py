"""A model's figures as every surface states them: the README, ``songgen info``, the model cards and the Space.

One definition each, so that the same model shows the same numbers wherever it is read:

* **parameters**: the values of the SongGen model's weights (decoder, description and lyrics encoders, codec),
  tied weights counted once, without a told singer (a sub-model, counted on its own); written ``31.3 M``.
* **weights**: the bytes of every weight file the model loads (its shards, a shard it shares, and its sub-models'
  such as ``singer/``), in MB of 10^6 bytes; written ``79.3 MB``.
* **lyrics limit**: the lyric tokens one song may have, ``[START]`` and ``[STOP]`` included: the processor's own
  limit, else the lyrics encoder's positions.
"""

from __future__ import annotations

import os
from typing import Any

BYTES_PER_MB = 1_000_000


def count_parameters(model) -> int:
    """The parameters of a built model (on any device, the meta device included), tied weights counted once."""
    tie = getattr(model, "tie_weights", None)
    if callable(tie):
        tie()  # a model built on the meta device has not tied its weights yet
    return sum(parameter.numel() for parameter in model.parameters())


def format_count(number: int, decimals: int = 1) -> str:
    """``31_317_987`` -> ``"31.3 M"``: a count as every surface writes it."""
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if number >= limit:
            return f"{number / limit:.{decimals}f} {suffix}"
    return str(number)


def weights_bytes(folder: str | os.PathLike, sub_models: bool = True) -> int:
    """The bytes of the weight files a model folder loads (:func:`songgen_hf.pipelines.loading.weight_files`), its
    sub-models' (:func:`songgen_hf.pipelines.loading.sub_model_folders`) included unless ``sub_models=False``."""
    from songgen_hf.pipelines.loading import sub_model_folders, weight_files

    total = sum(os.path.getsize(path) for path in weight_files(folder))
    if sub_models:
        total += sum(weights_bytes(path, sub_models=False) for path in sub_model_folders(folder).values())
    return total


def size_mb(num_bytes: int) -> float:
    """Bytes in MB (10^6 bytes), to one decimal: the unit of every size this package states."""
    return round(num_bytes / BYTES_PER_MB, 1)


def format_mb(num_bytes: int) -> str:
    return f"{size_mb(num_bytes):.1f} MB"


def lyrics_token_limit(processor: Any = None, config: Any = None) -> int | None:
    """The lyric tokens one song may have (``[START]``/``[STOP]`` included): the processor's limit, else its
    model's lyrics encoder's positions (from the processor or ``config``); None when neither is known."""
    for value in (
        getattr(processor, "max_lyrics_length", None),
        getattr(processor, "model_max_lyrics_length", None),
        getattr(getattr(config, "lyrics_encoder", None), "max_position_embeddings", None),
    ):
        if value is not None:
            return int(value)
    return None


__all__ = [
    "BYTES_PER_MB",
    "count_parameters",
    "format_count",
    "format_mb",
    "lyrics_token_limit",
    "size_mb",
    "weights_bytes",
]
