"""A short causal convolution over the decoder's input steps: a direct path from the last few steps' codes.

Why (``docs/evaluation.md``, "Session 42"): on the synthetic corpus a three-frame MLP predicts the next sung frame's
vocal codes far better than songgen-tiny's decoder (2.28 against 3.58 nats on the first codebook, held out), and a
small transformer trained from nothing overfits a thousand songs before it learns that local rule (best 3.57); the
same transformer with a convolution over its last four input positions reached 3.28.  Attention has to *learn* to
look one, two or three steps back with lag-specific weights; the convolution has them from the start, one
``hidden x hidden`` matrix per lag (the canon/short-convolution layers of recent small language models play the
same part).

``input_conv_kernel = k`` adds ``conv(x)[t] = sum_j W_j x[t - j]`` (j = 0 .. k-1) to the summed code embeddings
``x`` of every step, before positions and controls.  The weights start at zero, so adding the convolution to a
trained model (``songgen train``'s ``input_conv_kernel``) leaves its outputs exactly as they were while the
gradient reaches every ``W_j`` from the first step.

Continuing from a cache, a step needs the ``k - 1`` steps before it: ``decoder_context_ids`` ``(batch * rows, k - 1)``
holds their ids (``-1`` where the sequence has none), which generation reads from the ids it has produced
(:meth:`SongGenGenerationMixin.prepare_inputs_for_generation`).  A full sequence (training, a prompt) needs none:
the steps before its start are zeros.  Added to session 39's guided model, 1 000 paired CPU steps lowered every
vocal row's held-out loss over sung frames by 0.012-0.020 nats, the gap still growing (``docs/evaluation.md``).
"""

from __future__ import annotations

import torch
from torch import nn


class SongGenInputConvolution(nn.Module):
    """``x + conv(x)`` over ``(batch, length, hidden)`` step embeddings, causal, with an optional left context."""

    def __init__(self, hidden_size: int, kernel_size: int):
        super().__init__()
        self.kernel_size = kernel_size
        # (out, in, lag) as conv1d takes it; held here rather than in an nn.Conv1d so that _init_weights, which
        # visits this module, is the one that sets it (to zero)
        self.weight = nn.Parameter(torch.zeros(hidden_size, hidden_size, kernel_size))

    @property
    def context_length(self) -> int:
        return self.kernel_size - 1

    def forward(self, embeddings: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        """``context``: ``(batch, k - 1, hidden)`` embeddings of the steps just before ``embeddings`` (zeros where
        there are none); None at the start of a sequence."""
        batch, _, hidden = embeddings.shape
        if context is None:
            context = embeddings.new_zeros(batch, self.context_length, hidden)
        steps = torch.cat([context.to(embeddings.dtype), embeddings], dim=1).transpose(1, 2)
        return embeddings + nn.functional.conv1d(steps, self.weight.to(steps.dtype)).transpose(1, 2)


def context_ids_for_step(all_ids: torch.Tensor, new_length: int, kernel_size: int) -> torch.Tensor | None:
    """The ``kernel_size - 1`` ids before the last ``new_length`` steps of ``all_ids`` ``(rows, length)``, ``-1``
    where the sequence starts later; None when there is nothing before them (a full sequence)."""
    past = all_ids.shape[-1] - new_length
    if kernel_size < 2 or past <= 0:  # no convolution (every step of a plain model comes here first), or no past
        return None
    width = kernel_size - 1
    context = all_ids[..., max(0, past - width) : past]
    if context.shape[-1] < width:
        missing = all_ids.new_full((*all_ids.shape[:-1], width - context.shape[-1]), -1)
        context = torch.cat([missing, context], dim=-1)
    return context


__all__ = ["SongGenInputConvolution", "context_ids_for_step"]
