"""Losses on a Fourier-head decoder's own STFT frames: log-magnitude and instantaneous frequency.

The waveform losses (multi-resolution STFT, mel) judge a Fourier-head decoder only through its
inverse STFT, and that hides what matters for pitch.  With ``n_fft = 1280`` at 16 kHz a bin is
12.5 Hz wide, about a semitone at 220 Hz; where a tone sits inside its bin is carried by the
relative heights of neighbouring bins and by the phase advance from frame to frame.  A decoder
that gets neither right smears every tone over its bin, and the waveform losses barely object
(songgen-tiny's first ISTFT codec rendered every song as "Ab minor"; with the original's phases
put back, the same magnitudes gave the right key).  Both things can be supervised directly,
because the target's STFT on the decoder's own framing is known (APNet, Ai and Ling, 2023):

* :class:`FrameLogMagnitudeLoss` -- L1 between the predicted and the target log-magnitudes, frame
  by frame and bin by bin, with no phase in between to blur them;
* :class:`InstantaneousFrequencyLoss` -- the phase *advance* between consecutive frames against
  the target's.  The absolute phase of a frame is arbitrary (a shift of the whole signal changes
  it), the advance is not: for a steady tone at ``f`` Hz every bin near it advances by
  ``2 pi f hop / sr``.  Angle differences are defined modulo 2 pi, so the error is *anti-wrapped*
  (folded into [-pi, pi]) before its absolute value is taken, and weighted by the target's
  magnitude in both frames: bins with no energy have no meaningful phase.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["FrameLogMagnitudeLoss", "InstantaneousFrequencyLoss", "anti_wrap", "frame_spectrum"]


def anti_wrap(angle: torch.Tensor) -> torch.Tensor:
    """``angle`` folded into [-pi, pi] (the shortest way round the circle)."""
    return angle - 2 * math.pi * torch.round(angle / (2 * math.pi))


def frame_spectrum(audio: torch.Tensor, n_fft: int, hop_length: int, num_frames: int) -> torch.Tensor:
    """Complex STFT ``(B, n_fft // 2 + 1, num_frames)`` whose frame ``i`` is centred on sample ``i * hop + hop / 2``.

    That is the framing of :class:`~songgen_hf.modeling.xcodec.modeling_xcodec.ISTFTDecoder`, so
    the target's phases are comparable with the decoder's frame by frame.  Audio outside the
    signal is taken as silence.
    """
    if audio.dim() == 3:
        audio = audio[:, 0]
    left = (n_fft - hop_length) // 2
    needed = (num_frames - 1) * hop_length + n_fft
    right = max(needed - left - audio.shape[-1], 0)
    padded = F.pad(audio.float(), (left, right))[:, :needed]
    window = torch.hann_window(n_fft, device=audio.device)
    return torch.stft(padded, n_fft, hop_length, window=window, center=False, return_complex=True)


def _target_frame_spectrum(
    predicted: torch.Tensor, target_audio: torch.Tensor, n_fft: int, hop_length: int, num_frames: int, what: str
) -> torch.Tensor:
    """The target's :func:`frame_spectrum` (float32, no gradient) for ``predicted`` ``(B, bins, ...)`` frames of a
    decoder, whose ``bins`` must be the ``n_fft``'s (``what`` names them in the error)."""
    bins = predicted.shape[1]
    if bins != n_fft // 2 + 1:
        raise ValueError(
            f"Predicted {what} have {bins} bins but n_fft={n_fft} gives {n_fft // 2 + 1}; "
            "build the loss with the decoder's n_fft."
        )
    with torch.autocast(device_type=target_audio.device.type, enabled=False), torch.no_grad():
        return frame_spectrum(target_audio, n_fft, hop_length, num_frames)


class InstantaneousFrequencyLoss(nn.Module):
    """Magnitude-weighted mean of ``|anti_wrap(predicted advance - target advance)|`` in radians.

    Args:
        n_fft / hop_length: the decoder's STFT framing.
        magnitude_power: the weight is ``(|X_t| |X_{t-1}|) ** (magnitude_power / 2)``; 1 weighs
            bins by magnitude (loud partials dominate), smaller values spread it over quiet ones.

    ``forward(predicted_advance, target_audio)`` takes the advances into frames ``1..T-1``
    ``(B, bins, T - 1)`` and the target audio ``(B, 1, samples)``.  The result is 0 for a perfect
    decoder and about pi / 2 for random phases.
    """

    def __init__(self, n_fft: int, hop_length: int, magnitude_power: float = 1.0):
        super().__init__()
        if magnitude_power <= 0:
            raise ValueError(f"magnitude_power must be positive, got {magnitude_power}.")
        self.n_fft, self.hop_length, self.magnitude_power = n_fft, hop_length, magnitude_power

    def forward(self, predicted_advance: torch.Tensor, target_audio: torch.Tensor) -> torch.Tensor:
        steps = predicted_advance.shape[2]
        spectrum = _target_frame_spectrum(
            predicted_advance, target_audio, self.n_fft, self.hop_length, steps + 1, "advances"
        )
        with torch.autocast(device_type=target_audio.device.type, enabled=False), torch.no_grad():
            target_advance = torch.angle(spectrum[..., 1:]) - torch.angle(spectrum[..., :-1])
            magnitude = spectrum.abs()
            weight = (magnitude[..., 1:] * magnitude[..., :-1]).clamp(min=1e-12) ** (self.magnitude_power / 2)
            weight = weight / weight.sum().clamp(min=1e-12)
        error = anti_wrap(predicted_advance.float() - target_advance).abs()
        return (weight * error).sum()


class FrameLogMagnitudeLoss(nn.Module):
    """Mean ``|log max(|X|, floor) - predicted log-magnitude|`` over the decoder's frames and bins.

    ``forward(predicted_log_magnitude, target_audio)`` takes ``(B, bins, T)`` natural-log
    magnitudes (the decoder's :meth:`~ISTFTDecoder.frames` output) and ``(B, 1, samples)`` audio.
    ``floor`` keeps silent bins from dominating with huge negative logs; 1e-3 is about 110 dB under
    the peak bin of a full-scale sine (``n_fft / 4``).
    """

    def __init__(self, n_fft: int, hop_length: int, floor: float = 1e-3):
        super().__init__()
        self.n_fft, self.hop_length, self.floor = n_fft, hop_length, floor

    def forward(self, predicted_log_magnitude: torch.Tensor, target_audio: torch.Tensor) -> torch.Tensor:
        frames = predicted_log_magnitude.shape[2]
        spectrum = _target_frame_spectrum(
            predicted_log_magnitude, target_audio, self.n_fft, self.hop_length, frames, "log-magnitudes"
        )
        with torch.autocast(device_type=target_audio.device.type, enabled=False), torch.no_grad():
            target = spectrum.abs().clamp(min=self.floor).log()
        return (predicted_log_magnitude.float() - target).abs().mean()
