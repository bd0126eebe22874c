"""Give a trained SongGen mixed pro's training-only vocal heads, or take them away.

The vocal heads (:mod:`..patterns.vocal_targets`) only shape training: they make the decoder carry
the voice in the state the mix heads read.  So a model trained without them can get them for a
further stage (``mixed`` → ``mixed_pro``, ``mixed_stream2`` → ``mixed_pro_stream2``), and a
release can drop them: generation never reads them, and at 2K heads of ``hidden × vocab`` they
are a large share of a small model.

New vocal heads start as copies of the mix heads of the same rows: both predict codes of the
same codec's codebooks, so the copy starts near a sensible answer, and the first steps do not
send the large gradients of a random head into the decoder the model already trained.
"""

from __future__ import annotations

import copy

import torch

from songgen_hf.modeling.patterns.registry import VOCAL_HEAD_PATTERNS

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
