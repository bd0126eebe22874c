"""Single-track patterns: ``mixed`` and ``mixed_pro`` (§4.1, §4.2).

Both predict the mixture's codes with the plain codebook delay; the decoder
has K rows.  K = 4, T = 3, labels (BOS column excluded)::

    a b c E E E E
    B a b c E E E
    B B a b c E E
    B B B a b c E

Mixed pro adds training-only vocal targets: the separated vocal stem's codes,
delayed the same way and frame-aligned with the mixture, read by extra heads
from the same hidden states.  Generation ignores them.
"""

from __future__ import annotations

import torch

from songgen_hf.modeling.patterns.base import TokenPattern
from songgen_hf.modeling.patterns.vocal_targets import AuxiliaryVocalTargets


class MixedPattern(TokenPattern):
    """One track ("mix"), K rows: the codebook delay as is."""

    name = "mixed"
    track_names = ("mix",)

    def _combine(self, rows: list[torch.Tensor]) -> torch.Tensor:
        (only,) = rows
        return only

    def _split(self, rows: torch.Tensor) -> list[torch.Tensor]:
        return [rows]

    def _combined_width(self, stream_width: int) -> int:
        return stream_width

    def _stream_width(self, combined_width: int) -> int:
        return max(0, combined_width)


class MixedProPattern(AuxiliaryVocalTargets, MixedPattern):
    """``mixed`` plus auxiliary vocal labels for the training-only vocal heads (:mod:`.vocal_targets`)."""

    name = "mixed_pro"
