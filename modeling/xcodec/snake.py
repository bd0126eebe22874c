"""Snake activation, y = x + sin^2(alpha * x) / alpha, with an allocation-light inference path.

The arithmetic is the same as transformers' ``Snake1d`` operation for operation (multiply,
sine, square, scale by the reciprocal, add), so outputs are bit-identical; without autograd
the intermediate is reused in place, which saves four full-size temporaries per call in a
decoder where Snake runs on every residual unit at audio rate.
"""

from __future__ import annotations

import torch
from torch import nn


class _SnakeFunction(torch.autograd.Function):
    """Snake with a hand-written backward that keeps only the input.

    Autograd through ``x + sin(a*x)**2 / a`` stores four full-size intermediates and runs a chain of
    elementwise backward kernels; in training Snake runs on every residual unit at audio rate and was
    the largest share of a CPU codec step.  Here the forward is the same operations in the same order
    (bit-identical output) and the backward recomputes ``a*x`` from ``x`` using
    d/dx = 1 + sin(2ax) and d/da = (x sin(2ax) - sin(ax)**2 / a) / a, summed over batch and time.
    """

    @staticmethod
    def forward(ctx, hidden_states, alpha, inverse_alpha):
        ctx.save_for_backward(hidden_states, alpha, inverse_alpha)
        return hidden_states + inverse_alpha * torch.sin(alpha * hidden_states).pow(2)

    @staticmethod
    def backward(ctx, grad_output):
        hidden_states, alpha, inverse_alpha = ctx.saved_tensors
        phase = alpha * hidden_states
        sine = torch.sin(phase)
        double_sine = torch.sin(phase.mul_(2))  # sin(2ax) = 2 sin(ax) cos(ax)
        grad_input = grad_alpha = grad_inverse = None
        if ctx.needs_input_grad[0]:
            grad_input = grad_output * (double_sine + 1)
        if ctx.needs_input_grad[1] or ctx.needs_input_grad[2]:
            # alpha enters directly and through inverse_alpha = 1 / (alpha + eps); autograd takes the
            # second path back through the reciprocal, so return each partial separately.
            if ctx.needs_input_grad[1]:
                grad_alpha = (
                    (grad_output * double_sine * hidden_states).mul_(inverse_alpha).sum(dim=(0, 2), keepdim=True)
                )
            if ctx.needs_input_grad[2]:
                grad_inverse = (grad_output * sine.pow_(2)).sum(dim=(0, 2), keepdim=True)
        return grad_input, grad_alpha, grad_inverse


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
            out = _SnakeFunction.apply(hidden_states, self.alpha, inverse_alpha)
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
