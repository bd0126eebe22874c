"""Multi-period discriminator (MPD): judges the waveform itself, folded at a set of periods.

The multi-frequency discriminator (:mod:`.discriminator`) looks at STFT *magnitudes*, so it cannot
tell a clean harmonic from noise of the same spectral envelope: a decoder may smear a voice's
partials into a noise band and still look right to it.  A period discriminator reads samples: a
waveform of ``T`` samples is folded into a ``(T / p, p)`` image whose column ``j`` holds samples
``j, j + p, j + 2p, ...``, and only ``(k, 1)`` kernels run over it, so every column is judged as its
own sub-sampled signal.  A sound periodic at a multiple of ``p`` samples becomes slowly varying
columns; noise stays noise.  Prime periods (2, 3, 5, 7, 11) cover the waveform's periodic structure
with little overlap (HiFi-GAN, Kong et al. 2020; DAC keeps the same set).

Interface as :class:`~.discriminator.MultiFrequencyDiscriminator`: ``forward`` takes ``(B, 1, T)``
and returns one logit patch per period and, per period, the hidden activations for feature matching.
:class:`DiscriminatorEnsemble` joins several such discriminators into one list of scales, so the
adversarial losses (:mod:`.adversarial`) treat them alike.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

from songgen_hf.modeling.xcodec.discriminator import MultiScaleDiscriminator

__all__ = ["DiscriminatorEnsemble", "MultiPeriodDiscriminator", "PeriodSubDiscriminator"]

# Widths relative to the widest layer: HiFi-GAN's 32, 128, 512, 1024, 1024 at a width of 1024.
_CHANNEL_DIVISORS = (32, 8, 2, 1, 1)
_KERNEL = 5
_STRIDE = 3


class PeriodSubDiscriminator(nn.Module):
    """One period ``p``: fold ``(B, T)`` into ``(B, 1, ceil(T / p), p)`` and run ``(5, 1)`` convolutions
    (stride 3 along time on the first four) down to a patch of LSGAN logits.

    Args:
        period: the folding period in samples (>= 1).
        hidden_channels: width of the widest layer (HiFi-GAN: 1024); the others are fractions of it
            (1/32, 1/8, 1/2, 1, 1), so below 64 the first layers keep one or two channels and learn slowly.
    """

    def __init__(self, period: int, hidden_channels: int) -> None:
        super().__init__()
        if period < 1:
            raise ValueError(f"period must be a positive number of samples, got {period}.")
        if hidden_channels < 1:
            raise ValueError(f"hidden_channels must be positive, got {hidden_channels}.")
        self.period = period
        self.hidden_channels = hidden_channels
        widths = [1] + [max(1, hidden_channels // d) for d in _CHANNEL_DIVISORS]
        strides = [_STRIDE] * (len(widths) - 2) + [1]
        self.layers = nn.ModuleList(
            weight_norm(nn.Conv2d(c_in, c_out, (_KERNEL, 1), stride=(stride, 1), padding=(_KERNEL // 2, 0)))
            for c_in, c_out, stride in zip(widths[:-1], widths[1:], strides)
        )
        self.output = weight_norm(nn.Conv2d(widths[-1], 1, (3, 1), padding=(1, 0)))

    def extra_repr(self) -> str:
        return f"period={self.period}, hidden_channels={self.hidden_channels}"

    def fold(self, waveform: torch.Tensor) -> torch.Tensor:
        """``(B, T)`` -> ``(B, 1, ceil(T / p), p)``, the tail reflect-padded to a whole period."""
        batch, length = waveform.shape
        remainder = length % self.period
        if remainder:
            # a reflection (not zeros) so the padded samples look like the signal, not like a cut
            waveform = F.pad(waveform.unsqueeze(1), (0, self.period - remainder), mode="reflect").squeeze(1)
        return waveform.view(batch, 1, -1, self.period)

    def forward(self, waveform: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """``(B, T)`` waveform -> (logits ``(B, 1, frames, p)``, one hidden activation per layer)."""
        h = self.fold(waveform)
        feature_maps = []
        for layer in self.layers:
            h = F.leaky_relu(layer(h), 0.1)
            feature_maps.append(h)
        return self.output(h), feature_maps


class MultiPeriodDiscriminator(MultiScaleDiscriminator):
    """One :class:`PeriodSubDiscriminator` per period.

    Args:
        periods: folding periods in samples (HiFi-GAN: 2, 3, 5, 7, 11).
        hidden_channels: widest layer of every period's stack.
    """

    length_rule = "2 * max(periods)"
    length_fix = "use longer segments or shorter periods"

    def __init__(self, periods: Sequence[int] = (2, 3, 5, 7, 11), hidden_channels: int = 1024) -> None:
        super().__init__()
        periods = list(periods)
        if not periods:
            raise ValueError("periods must name at least one folding period.")
        if len(set(periods)) != len(periods):
            raise ValueError(f"periods must be distinct, got {periods}.")
        self.periods = periods
        # the longest period must leave at least one frame after the stride-3 layers and enough samples to reflect
        self.min_length = 2 * max(periods)
        self.discriminators = nn.ModuleList(PeriodSubDiscriminator(p, hidden_channels) for p in periods)


class DiscriminatorEnsemble(nn.Module):
    """Several multi-scale discriminators seen as one: their scales' logits and feature maps, concatenated
    in the order given (so a checkpoint's layout is fixed by that order)."""

    def __init__(self, discriminators: Sequence[nn.Module]) -> None:
        super().__init__()
        if not discriminators:
            raise ValueError("DiscriminatorEnsemble needs at least one discriminator.")
        self.members = nn.ModuleList(discriminators)
        self.min_length = max(getattr(member, "min_length", 0) for member in self.members)

    def forward(self, x: torch.Tensor) -> tuple[list[torch.Tensor], list[list[torch.Tensor]]]:
        outputs = [member(x) for member in self.members]  # each: (its scales' logits, its scales' feature maps)
        return (
            [scale for logits, _ in outputs for scale in logits],
            [scale for _, feature_maps in outputs for scale in feature_maps],
        )
