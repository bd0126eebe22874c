"""A trained SongGen rebuilt with another track pattern, its trained weights carried over: mixed pro's vocal heads
given or taken away (:func:`with_vocal_heads`, :func:`without_vocal_heads`), a mix model made dual-track
(:func:`as_dual_track`).  Training options and the release export use them; generation never does."""

from __future__ import annotations

import copy

import torch

from songgen_hf.modeling.patterns import VOCAL_HEAD_PATTERNS

# ----------------------------------------------------------------------------------------------------
# Give a trained SongGen mixed pro's training-only vocal heads, or take them away.
#
# The vocal heads (``AuxiliaryVocalTargets`` in :mod:`songgen_hf.modeling.patterns`) only shape training: they make
# the decoder carry the voice in the state the mix heads read.  So a model trained without them can get them for a
# further stage (``mixed`` → ``mixed_pro``, ``mixed_stream2`` → ``mixed_pro_stream2``), and a
# release can drop them: generation never reads them, and at 2K heads of ``hidden × vocab`` they
# are a large share of a small model.
#
# New vocal heads start as copies of the mix heads of the same rows: both predict codes of the
# same codec's codebooks, so the copy starts near a sensible answer, and the first steps do not
# send the large gradients of a random head into the decoder the model already trained.

_WITHOUT_VOCAL_HEADS = {with_heads: without for without, with_heads in VOCAL_HEAD_PATTERNS.items()}


def with_vocal_heads(model):
    """A copy of ``model`` (a SongGen) whose pattern has vocal heads, initialised from its mix heads.

    A model that already has them is returned as is."""
    pattern = model.config.decoder.track_pattern
    if pattern in _WITHOUT_VOCAL_HEADS:
        return model
    if pattern not in VOCAL_HEAD_PATTERNS:
        raise ValueError(
            f"a {pattern!r} model cannot get vocal heads: they exist for "
            f"{', '.join(f'{a} -> {b}' for a, b in VOCAL_HEAD_PATTERNS.items())}."
        )
    new = _rebuilt(model, VOCAL_HEAD_PATTERNS[pattern])
    with torch.no_grad():
        for vocal, mix in zip(new.decoder.vocal_lm_heads, new.decoder.lm_heads, strict=True):
            vocal.weight.copy_(mix.weight)
    return new


def without_vocal_heads(model):
    """A copy of ``model`` without vocal heads (``mixed_pro`` → ``mixed``, ``mixed_pro_stream2`` →
    ``mixed_stream2``); it generates exactly the same songs.  A model without them is returned as is."""
    pattern = model.config.decoder.track_pattern
    if pattern not in _WITHOUT_VOCAL_HEADS:
        return model
    return _rebuilt(model, _WITHOUT_VOCAL_HEADS[pattern])


def _rebuilt(model, track_pattern: str):
    return rebuilt_with_pattern(model, track_pattern, may_change=lambda key: key.startswith("decoder.vocal_lm_heads."))


def rebuilt_with_pattern(model, track_pattern: str, state: dict | None = None, may_change=lambda key: False):
    """A copy of ``model`` with another ``track_pattern``, its weights loaded from ``state`` (default: the model's).

    Only parameters for which ``may_change(name)`` holds may be new or left over (the rows or heads the
    change adds or removes); anything else would mean the two layouts disagree, and is an error."""
    config = copy.deepcopy(model.config)
    config.decoder.track_pattern = track_pattern
    new = type(model)(config).to(dtype=model.dtype, device=model.device)
    missing, unexpected = new.load_state_dict(model.state_dict() if state is None else state, strict=False)
    moved = [key for key in (*missing, *unexpected) if not may_change(key)]
    if moved:
        raise RuntimeError(f"changing {model.config.decoder.track_pattern!r} to {track_pattern!r} moved {moved[:3]}")
    new.generation_config = model.generation_config
    new.train(model.training)
    return new


# ----------------------------------------------------------------------------------------------------
# Turn a trained mix model into a dual-track one (accompaniment + vocals in the same streams).
#
# A mix model (``mixed``, ``mixed_stream2``, with or without mixed pro's vocal heads) and its dual-track
# counterpart (``parallel_std``, ``parallel_stream2``) share everything but the per-row code tables: the
# dual-track layout has twice the rows, the mix rows' layout repeated once per track.  So a trained mix
# model can start a dual-track training instead of a fresh model:
#
# * the **accompaniment rows** take the mix rows' embeddings and heads: an accompaniment is most of a
#   mix, coded by the same codec.  The decoder averages its input over the rows of a codebook (it
#   divides the sum by rows per codebook), which doubles here, so the embeddings are doubled too;
# * the **vocal rows' embeddings start at zero**: the decoder's input, a sum over rows, is then exactly
#   the mix model's input, so the first steps run the network the model already trained instead of
#   feeding it a second, unrelated sum;
# * the **vocal rows' heads** start as copies of mixed pro's vocal heads where the model has them (they
#   were trained to name vocal codes from this decoder's state), else of the mix heads.
#
# The new rows learn from the first step; nothing is frozen.

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


__all__ = ["as_dual_track", "DUAL_TRACK_PATTERNS", "rebuilt_with_pattern", "with_vocal_heads", "without_vocal_heads"]
