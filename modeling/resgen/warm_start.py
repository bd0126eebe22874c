"""Start a fresh ResGen from a trained SongGen's weights where the two models share a part.

ResGen keeps SongGen's conditioning unchanged (description T5, lyrics encoder, voice path, the
projections into the decoder width, the musical controls) and its token transformer is built from
SongGen's decoder layers with causal masking turned off.  A SongGen trained on the same corpus,
codec and tokenizers has therefore already learnt most of what ResGen must learn first: what a
description, lyrics, a tempo and a key mean.  Copying those weights spares the masked model that
part of the work (the paper trains from scratch; this is a departure for small-compute training).

What is copied, by name, when the shapes agree:

* every tensor of the conditioning (``text_encoder``, ``lyrics_encoder``, ``voice_encoder``, the
  ``*_to_dec_proj`` projections);
* the decoder's ``musical_controls`` and final ``layer_norm``;
* decoder layer ``i`` into ResGen layer ``i`` (self-attention, cross-attention, feed-forward): a
  ResGen with more layers keeps its extra layers fresh, one with fewer takes SongGen's first ones.

Never copied: the codec (``audio_encoder``: set by the training ``codec`` option), SongGen's token
embeddings and heads (ResGen has none: its input is the codebooks' cumulative vector, its output a
mixture), and anything whose shape differs.
"""

from __future__ import annotations

import torch

_SONGGEN_DECODER_PREFIX = "decoder.model."
_RESGEN_DECODER_PREFIX = "decoder."
_SHARED_DECODER_PARTS = ("layers.", "musical_controls.", "layer_norm.")
_NEVER = ("audio_encoder.",)


def resgen_name(songgen_name: str) -> str | None:
    """The ResGen parameter a SongGen parameter maps onto, or ``None`` when it has no counterpart."""
    if songgen_name.startswith(_NEVER):
        return None
    if songgen_name.startswith(_SONGGEN_DECODER_PREFIX):
        rest = songgen_name[len(_SONGGEN_DECODER_PREFIX) :]
        return _RESGEN_DECODER_PREFIX + rest if rest.startswith(_SHARED_DECODER_PARTS) else None
    if songgen_name.startswith("decoder."):
        return None  # lm heads, vocal heads
    return songgen_name  # conditioning: the same names in both models


@torch.no_grad()
def warm_start_from_songgen(resgen: torch.nn.Module, songgen_state: dict[str, torch.Tensor]) -> dict[str, list[str]]:
    """Copy the shared parts of a SongGen state dict into ``resgen`` in place.

    Returns ``{"copied": [...], "shape_mismatch": [...], "fresh": [...]}`` (ResGen names; ``fresh``:
    ResGen parameters outside the codec that kept their initialisation).  Raises if nothing could
    be copied, which means the SongGen is not of a compatible size."""
    target = resgen.state_dict()
    copied, mismatched = [], []
    for name, tensor in songgen_state.items():
        mapped = resgen_name(name)
        if mapped is None or mapped not in target:
            continue
        if target[mapped].shape != tensor.shape:
            mismatched.append(mapped)
            continue
        target[mapped].copy_(tensor.to(target[mapped].dtype))
        copied.append(mapped)
    if not copied:
        raise ValueError(
            "warm_start_from: no SongGen weight fits this ResGen (conditioning and decoder widths differ); "
            "configure the ResGen with the SongGen's text_encoder, lyrics_encoder and decoder sizes, "
            "or drop warm_start_from."
        )
    taken = set(copied)
    fresh = [name for name in target if name not in taken and not name.startswith(_NEVER)]
    return {"copied": copied, "shape_mismatch": mismatched, "fresh": fresh}


__all__ = ["resgen_name", "warm_start_from_songgen"]
