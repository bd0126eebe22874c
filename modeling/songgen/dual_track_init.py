"""Turn a trained mix model into a dual-track one (accompaniment + vocals in the same streams).

A mix model (``mixed``, ``mixed_stream2``, with or without mixed pro's vocal heads) and its dual-track
counterpart (``parallel_std``, ``parallel_stream2``) share everything but the per-row code tables: the
dual-track layout has twice the rows, the mix rows' layout repeated once per track.  So a trained mix
model can start a dual-track training instead of a fresh model:

* the **accompaniment rows** take the mix rows' embeddings and heads: an accompaniment is most of a
  mix, coded by the same codec.  The decoder averages its input over the rows of a codebook (it
  divides the sum by rows per codebook), which doubles here, so the embeddings are doubled too;
* the **vocal rows' embeddings start at zero**: the decoder's input, a sum over rows, is then exactly
  the mix model's input, so the first steps run the network the model already trained instead of
  feeding it a second, unrelated sum;
* the **vocal rows' heads** start as copies of mixed pro's vocal heads where the model has them (they
  were trained to name vocal codes from this decoder's state), else of the mix heads.

The new rows learn from the first step; nothing is frozen.
"""

from __future__ import annotations

import torch

from songgen_hf.modeling.songgen.vocal_heads import rebuilt_with_pattern

DUAL_TRACK_PATTERNS: dict[str, str] = {
    "mixed": "parallel_std",
    "mixed_pro": "parallel_std",
    "mixed_stream2": "parallel_stream2",
    "mixed_pro_stream2": "parallel_stream2",
}
"""A mix pattern -> the dual-track pattern with the same streams (tracks aligned frame by frame)."""


def as_dual_track(model):
    """A copy of ``model`` (a SongGen with a mix pattern) with the dual-track pattern of the same streams.

    A dual-track model is returned as is."""
    pattern = model.config.decoder.track_pattern
    if pattern in DUAL_TRACK_PATTERNS.values():
        return model
    if pattern not in DUAL_TRACK_PATTERNS:
        raise ValueError(
            f"a {pattern!r} model cannot become dual-track here; this works for "
            f"{', '.join(f'{a} -> {b}' for a, b in DUAL_TRACK_PATTERNS.items())}."
        )
    rows = model.pattern.num_rows
    state = dict(model.state_dict())
    vocal_heads = [state.pop(f"decoder.vocal_lm_heads.{row}.weight", None) for row in range(rows)]
    added = {
        f"decoder.{table}.{row}.weight" for table in ("model.embed_tokens", "lm_heads") for row in range(rows, 2 * rows)
    }
    new = rebuilt_with_pattern(model, DUAL_TRACK_PATTERNS[pattern], state, may_change=added.__contains__)
    if new.pattern.num_rows != 2 * rows:  # the mapping above pairs layouts whose rows double
        raise RuntimeError(f"{pattern!r} has {rows} rows but {new.pattern.name!r} {new.pattern.num_rows}")
    decoder = new.decoder
    scale = decoder.model.embedding_divisor / model.decoder.model.embedding_divisor
    with torch.no_grad():
        for row in range(rows):
            decoder.model.embed_tokens[row].weight.mul_(scale)
            decoder.model.embed_tokens[rows + row].weight.zero_()
            head = vocal_heads[row] if vocal_heads[row] is not None else decoder.lm_heads[row].weight
            decoder.lm_heads[rows + row].weight.copy_(head)
    return new


__all__ = ["DUAL_TRACK_PATTERNS", "as_dual_track"]
