"""Multi-frequency discriminator (MFD) used to train X-Codec.

Each scale looks at a magnitude spectrogram at one time/frequency trade-off:
hop ``h`` with an ``fft = window = 4 h`` Hann STFT, for ``h`` in
[32, 64, 128, 256, 512, 1024] at 16 kHz (2 ms to 64 ms hops).  The spectrum is
warped to a mel frequency axis *with as many mel rows as STFT bins*
(``fft / 2 + 1``), which stretches the perceptually dense low band and averages
the high band without changing the image size.  The 2-channel ("double") input
holds the linear mel magnitude, which emphasises loud partials, and a
normalised log magnitude, which makes quiet detail and the noise floor visible.

Every scale feeds a 7-layer stack of ``ReflectionPad2d(1)`` + weight-normed 3x3
``Conv2d`` (LeakyReLU 0.2 in between) with channels ``hidden / 32, / 16, / 8,
/ 4, / 2, hidden, 1`` and stride 2 on layers 2, 4 and 6.  The output is a patch
of LSGAN logits; the six hidden activations are returned for feature matching.

Design choices that the X-Codec description leaves open:

* **Strides act on the frequency axis.**  The number of frequency rows of a
  scale is fixed by its FFT size (``2 h + 1``), so the depth of the stack is
  always valid, whereas the number of frames depends on the clip: a 4096-sample
  clip gives the hop-1024 scale only 5 frames, and three time strides would
  shrink it below the 2 rows ``ReflectionPad2d(1)`` needs.  Keeping full time
  resolution also gives one logit per STFT frame, so every frame is judged, and
  the frequency strides grow the receptive field across harmonics, which is
  what this discriminator is for.
* **Log channel scaling.**  ``db = max(20 log10(mag) - 20, -100)`` then
  ``(db + 100) / 100``: the floor maps to 0 and a magnitude of 10 to 1.  With
  the normalised STFT (divided by ``sqrt(fft)``) white noise of unit variance
  has magnitudes around 0.6 and a full-scale sine peaks around 5-16, so both
  channels are O(1) and neither dominates the first convolution.  There is no
  upper clamp, so loud bins keep their gradient.
* **Mel filterbank.**  Triangles centred on HTK-mel-spaced frequencies, each
  row normalised to sum to 1 (a weighted average of bins, so magnitudes keep
  their STFT units and the dB constants above mean the same at every scale).
  With ``n_mels == n_bins`` the low-frequency mel spacing is finer than the bin
  spacing and textbook triangles would fall between bins and be all zero;
  every half-width is therefore widened to at least one bin spacing, which
  turns those rows into linear interpolation between neighbouring bins.
* **Tiny discriminators.**  Channel counts are ``max(1, hidden // divisor)`` so
  ``hidden_channels`` of 8-16 work for tests and small codecs.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

from songgen_hf.modeling.xcodec.losses import stft_magnitude

__all__ = [
    "FrequencySubDiscriminator",
    "MultiFrequencyDiscriminator",
    "MultiScaleDiscriminator",
    "interpolating_mel_filterbank",
]

_CHANNEL_DIVISORS = (32, 16, 8, 4, 2, 1)
_STRIDES = (1, 2, 1, 2, 1, 2, 1)
# Smallest hop whose 2 * hop + 1 frequency rows survive three stride-2 layers
# with at least 2 rows left for the last reflection pad.
_MIN_HOP = 4
# Power floor 1e-10 puts the magnitude floor (1e-5) below the -100 dB log floor,
# so the log floor, not the numerical guard, decides where the log channel clips.
_POWER_FLOOR = 1e-10
_LOG_REFERENCE_DB = 20.0
_LOG_FLOOR_DB = -100.0


def _hz_to_mel(freq: float) -> float:
    return 2595.0 * math.log10(1.0 + freq / 700.0)


def _mel_to_hz(mel: torch.Tensor) -> torch.Tensor:
    return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)


@functools.lru_cache(maxsize=16)
def interpolating_mel_filterbank(
    n_freqs: int, n_mels: int, sample_rate: int, f_min: float = 0.0, f_max: float | None = None
) -> torch.Tensor:
    """Mel filterbank ``(n_mels, n_freqs)`` with no empty rows; rows sum to 1.

    Filter ``i`` is a triangle peaking at the ``i``-th of ``n_mels`` HTK-mel
    spaced centres; its left/right half-widths are the distances to the
    neighbouring centres, but never less than one STFT bin spacing.  The cached
    tensor is shared: callers must copy it before modifying it.
    """
    f_max = sample_rate / 2 if f_max is None else f_max
    bin_spacing = (sample_rate / 2) / (n_freqs - 1)
    freqs = torch.linspace(0.0, sample_rate / 2, n_freqs, dtype=torch.float64)
    edges = _mel_to_hz(torch.linspace(_hz_to_mel(f_min), _hz_to_mel(f_max), n_mels + 2, dtype=torch.float64))
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    left = (centre - lower).clamp_min(bin_spacing)
    right = (upper - centre).clamp_min(bin_spacing)
    rising = (freqs[None, :] - (centre - left)) / left
    falling = ((centre + right) - freqs[None, :]) / right
    weights = torch.minimum(rising, falling).clamp_min(0.0)
    return (weights / weights.sum(dim=1, keepdim=True)).float()


def _conv_block(in_channels: int, out_channels: int, stride: int) -> nn.Sequential:
    conv = nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=(stride, 1))
    return nn.Sequential(nn.ReflectionPad2d(1), weight_norm(conv))


class MultiScaleDiscriminator(nn.Module):
    """Several sub-discriminators over one mono waveform: ``forward`` checks the input once, then returns every
    scale's logit patch and hidden activations as two lists (what :mod:`.adversarial`'s losses take).

    Subclasses fill ``self.discriminators`` (each maps ``(B, T)`` to ``(logits, feature maps)``), set
    ``self.min_length`` and name the rule behind it in ``length_rule`` / ``length_fix`` for the error message."""

    length_rule = "its minimum"
    length_fix = "use longer segments"

    def forward(self, x: torch.Tensor) -> tuple[list[torch.Tensor], list[list[torch.Tensor]]]:
        name = type(self).__name__
        if x.dim() != 3 or x.shape[1] != 1:
            raise ValueError(
                f"{name} expects a mono waveform of shape (batch, 1, time), got "
                f"{tuple(x.shape)}; add the channel axis with x.unsqueeze(1) or mix down to mono."
            )
        if x.shape[-1] < self.min_length:
            raise ValueError(
                f"{name} needs at least {self.length_rule} = {self.min_length} samples, "
                f"got {x.shape[-1]}; {self.length_fix}."
            )
        waveform = x.squeeze(1)
        logits, feature_maps = [], []
        for discriminator in self.discriminators:
            scale_logits, scale_maps = discriminator(waveform)
            logits.append(scale_logits)
            feature_maps.append(scale_maps)
        return logits, feature_maps


class FrequencySubDiscriminator(nn.Module):
    """One MFD scale: mel spectrogram at hop ``hop_length`` -> patch logits.

    Args:
        hop_length: STFT hop; the FFT and Hann window are ``4 * hop_length``.
        hidden_channels: width of the widest layer (X-Codec: 64 ... 512).
        sample_rate: used to place the mel filters.
    """

    def __init__(self, hop_length: int, hidden_channels: int, sample_rate: int = 16000) -> None:
        super().__init__()
        if hop_length < _MIN_HOP:
            raise ValueError(
                f"hop_length must be at least {_MIN_HOP} so the frequency axis survives three stride-2 "
                f"layers, got {hop_length}."
            )
        if hidden_channels < 1:
            raise ValueError(f"hidden_channels must be positive, got {hidden_channels}.")
        self.hop_length = hop_length
        self.fft_size = 4 * hop_length
        self.hidden_channels = hidden_channels
        n_freqs = self.fft_size // 2 + 1
        self.register_buffer("window", torch.hann_window(self.fft_size), persistent=False)
        self.register_buffer(
            "mel_filters", interpolating_mel_filterbank(n_freqs, n_freqs, sample_rate).clone(), persistent=False
        )

        widths = [2] + [max(1, hidden_channels // d) for d in _CHANNEL_DIVISORS] + [1]
        self.layers = nn.ModuleList(
            _conv_block(c_in, c_out, stride) for c_in, c_out, stride in zip(widths[:-1], widths[1:], _STRIDES)
        )

    def extra_repr(self) -> str:
        return f"hop_length={self.hop_length}, fft_size={self.fft_size}, hidden_channels={self.hidden_channels}"

    def spectral_features(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, T)`` waveform -> ``(B, 2, fft / 2 + 1, 1 + T // hop)`` float32 input image.

        Channel 0 is the mel-warped normalised STFT magnitude, channel 1 its
        scaled log (see the module docstring).
        """
        magnitude = stft_magnitude(
            x,
            self.fft_size,
            self.hop_length,
            self.fft_size,
            self.window,
            normalized=True,
            power_floor=_POWER_FLOOR,
        )
        with torch.autocast(device_type=x.device.type, enabled=False):
            mel = torch.matmul(self.mel_filters, magnitude)
            decibels = (20.0 * torch.log10(mel) - _LOG_REFERENCE_DB).clamp_min(_LOG_FLOOR_DB)
            log_channel = (decibels - _LOG_FLOOR_DB) / -_LOG_FLOOR_DB
            return torch.stack([mel, log_channel], dim=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """``(B, T)`` waveform -> (logits ``(B, 1, F', frames)``, six hidden feature maps)."""
        h = self.spectral_features(x)
        feature_maps = []
        for layer in self.layers[:-1]:
            h = F.leaky_relu(layer(h), 0.2)
            feature_maps.append(h)
        return self.layers[-1](h), feature_maps


class MultiFrequencyDiscriminator(MultiScaleDiscriminator):
    """X-Codec's multi-frequency discriminator: one sub-discriminator per STFT hop.

    Args:
        hop_lengths: STFT hop per scale (fft = window = 4 * hop); X-Codec uses
            (32, 64, 128, 256, 512, 1024) at 16 kHz.
        hidden_channels: widest layer per scale, an int for all scales or one
            per hop; X-Codec uses (64, 128, 256, 512, 512, 512).
        sample_rate: sampling rate of the audio, for the mel filters.

    ``forward`` takes a mono ``(B, 1, T)`` waveform with ``T >= 4 * max(hop)``
    (4096 samples by default) and returns ``(logits, feature_maps)``: a list with
    one ``(B, 1, F', 1 + T // hop)`` logit patch per scale, and a list with, per
    scale, the six hidden activations (every layer but the last) for
    :func:`~.adversarial.feature_matching_loss`.
    """

    length_rule = "4 * max(hop_lengths)"
    length_fix = "use longer segments or smaller hop_lengths"

    def __init__(
        self,
        hop_lengths: Sequence[int] = (32, 64, 128, 256, 512, 1024),
        hidden_channels: int | Sequence[int] = (64, 128, 256, 512, 512, 512),
        sample_rate: int = 16000,
    ) -> None:
        super().__init__()
        hop_lengths = list(hop_lengths)
        if not hop_lengths:
            raise ValueError("hop_lengths must name at least one STFT hop.")
        if isinstance(hidden_channels, int):
            hidden_channels = [hidden_channels] * len(hop_lengths)
        hidden_channels = list(hidden_channels)
        if len(hidden_channels) != len(hop_lengths):
            raise ValueError(
                f"hidden_channels has {len(hidden_channels)} entries but hop_lengths has {len(hop_lengths)}; "
                f"give one width per scale or a single int."
            )
        self.hop_lengths = hop_lengths
        self.sample_rate = sample_rate
        self.min_length = 4 * max(hop_lengths)
        self.discriminators = nn.ModuleList(
            FrequencySubDiscriminator(hop, width, sample_rate) for hop, width in zip(hop_lengths, hidden_channels)
        )
