"""Snake activation, y = x + sin^2(alpha * x) / alpha, with an allocation-light inference path.

The arithmetic is the same as transformers' ``Snake1d`` operation for operation (multiply,
sine, square, scale by the reciprocal, add), so outputs are bit-identical; without autograd
the intermediate is reused in place, which saves four full-size temporaries per call in a
decoder where Snake runs on every residual unit at audio rate.
"""

from __future__ import annotations

import torch
from torch import nn


class Snake1d(nn.Module):
    """Periodic activation with a learned per-channel frequency ``alpha`` of shape (1, C, 1)."""

    def __init__(self, channels: int):
        super().__init__()
        self.alpha = nn.Parameter(torch.ones(1, channels, 1))

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        shape = hidden_states.shape
        hidden_states = hidden_states.reshape(shape[0], shape[1], -1)
        inverse_alpha = (self.alpha + 1e-9).reciprocal()
        if torch.is_grad_enabled() and (hidden_states.requires_grad or self.alpha.requires_grad):
            out = hidden_states + inverse_alpha * torch.sin(self.alpha * hidden_states).pow(2)
        else:
            out = torch.mul(self.alpha, hidden_states)
            out.sin_().pow_(2).mul_(inverse_alpha).add_(hidden_states)
        return out.reshape(shape)


def replace_snake_activations(module: nn.Module) -> nn.Module:
    """Swap every ``*Snake1d`` child of ``module`` for :class:`Snake1d`, keeping ``alpha``."""
    for name, child in module.named_children():
        if type(child).__name__ == "Snake1d" and not isinstance(child, Snake1d):
            replacement = Snake1d(child.alpha.shape[1])
            replacement.alpha = child.alpha
            setattr(module, name, replacement)
        else:
            replace_snake_activations(child)
    return module


__all__ = ["Snake1d", "replace_snake_activations"]
