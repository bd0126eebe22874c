"""A fine-resolution average-spectrum loss: no lines at the frame rate's harmonics.

A decoder that renders audio frame by frame (an ISTFT head, or transposed convolutions with a
hop of 320 samples at 16 kHz) can leave a trace of its 50 Hz frame clock: a little of the same
waveform every frame, i.e. spectral lines at 50, 100, 150 ... Hz, heard as a buzz under quiet
passages and over a voice.  One way it arises in this package's ISTFT decoder (2 560-point frames
every 320 samples): a sinusoid at a multiple of 50 Hz turns its phase a whole number of times per
hop.  Where the decoder keeps a bin's phase from one frame to the next instead of advancing it (as it
may for noise between partials, which has no frequency of its own to follow), the eight overlapping
frames therefore add in phase at exactly those frequencies and partly cancel between them.

The per-frame losses hardly see it: they compare each frame separately, most of their windows are
short (the STFT losses' at most 2 048 points), and a line 1 dB above the floor between two partials
is a small error in any one frame.  Averaged over a clip, the same line stands out.

:class:`AverageSpectrumLoss` compares exactly that average.  Each item's power spectrum, with
0.2 s Hann windows (5 Hz bins: a harmonic of 50 Hz and the point halfway to the next one fall on
separate bins, as in :func:`songgen_hf.evaluation.metrics.welch_power`), is averaged over the
item's frames.  Both averages are turned into log power up to ``max_frequency``, and the L1 of
their difference is the loss, in nepers of power.

* The log power has a floor of ``floor`` times the target's mean power in the band.  Without it,
  a stem that is silent for the whole segment, or the empty bins above an instrument's range,
  would weigh most.
* The target is analysed without gradient; the gradient reaches the decoder through the power
  at every bin, so a line is pulled down and a gap between lines filled in.
"""

from __future__ import annotations

import torch
from torch import nn

from songgen_hf.modeling.xcodec.losses import check_same_length, mono_stft

__all__ = ["AverageSpectrumLoss", "FrameRateCombLoss"]


class AverageSpectrumLoss(nn.Module):
    """L1 between the log average power spectra of a reconstruction and its target, per item.

    Args:
        sampling_rate: of both signals.
        resolution_hz: bin width; the window is ``sampling_rate / resolution_hz`` points, half-overlapped.
        max_frequency: the highest bin compared (the frame-rate comb lives low, between partials).
        floor: relative floor of the log power (see the module docstring).

    ``forward(reconstruction, target)`` takes ``(B, 1, samples)`` or ``(B, samples)`` audio of the
    same length, at least one window long.
    """

    def __init__(
        self, sampling_rate: int, resolution_hz: float = 5.0, max_frequency: float = 4000.0, floor: float = 1e-4
    ):
        super().__init__()
        n_fft = round(sampling_rate / resolution_hz)
        if n_fft < 16:
            raise ValueError(
                f"resolution_hz={resolution_hz} gives a {n_fft}-point window at {sampling_rate} Hz; use finer bins."
            )
        if not 0 < max_frequency <= sampling_rate / 2:
            raise ValueError(f"max_frequency must be in (0, {sampling_rate / 2}] (Nyquist), got {max_frequency}.")
        if not floor > 0:
            raise ValueError(f"floor must be positive, got {floor}.")
        self.n_fft, self.hop_length, self.floor = n_fft, n_fft // 2, floor
        self.bins = int(max_frequency / (sampling_rate / n_fft)) + 1
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)

    def average_power(self, audio: torch.Tensor) -> torch.Tensor:
        """Frame-averaged power ``(B, bins)`` of ``audio`` up to ``max_frequency``."""
        too_short = (
            "AverageSpectrumLoss needs at least {n_fft} samples per item (one window), got {samples}; "
            "train on longer segments or use a coarser resolution_hz."
        )
        spectrum = mono_stft(audio, self.n_fft, self.hop_length, self.window, too_short)[:, : self.bins]
        return (spectrum.real.square() + spectrum.imag.square()).mean(dim=-1)

    check_lengths = staticmethod(check_same_length)

    def forward(self, reconstruction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        self.check_lengths(reconstruction, target)
        with torch.autocast(device_type=target.device.type, enabled=False):
            with torch.no_grad():
                target_power = self.average_power(target)
                floor = self.floor * target_power.mean(dim=-1, keepdim=True) + 1e-12
            predicted_power = self.average_power(reconstruction)
            return ((predicted_power + floor).log() - (target_power + floor).log()).abs().mean()


class FrameRateCombLoss(AverageSpectrumLoss):
    """The comb alone: how far a frame rate's harmonics stand out (or sink) against the original's.

    :class:`AverageSpectrumLoss` pulls the whole average spectrum towards the original's, between partials
    too.  This loss measures only what
    :func:`songgen_hf.evaluation.metrics.frame_rate_comb` does: the batch's average power (reconstruction over
    original, in log) at each harmonic ``k * frame_rate`` against the mean of the two points halfway to the
    neighbouring harmonics.  It is the mean absolute value of that difference over the harmonics up to
    ``max_frequency``, so a line above the original's or a notch below it costs, a tilt or a broadband gain
    costs nothing.
    """

    def __init__(
        self,
        sampling_rate: int,
        frame_rate: float = 50.0,
        resolution_hz: float = 5.0,
        max_frequency: float = 4000.0,
        floor: float = 1e-4,
    ):
        super().__init__(sampling_rate, resolution_hz, max_frequency, floor)
        bin_hz = sampling_rate / self.n_fft
        if not frame_rate > 0 or (frame_rate / 2) / bin_hz < 1:
            raise ValueError(
                f"frame_rate={frame_rate} Hz is not resolved by {bin_hz:g} Hz bins; use a finer resolution_hz."
            )
        highest = (self.bins - 1) * bin_hz - frame_rate / 2  # a harmonic needs its upper neighbour in range
        if highest < frame_rate:
            raise ValueError(f"No harmonic of {frame_rate:g} Hz lies below max_frequency={max_frequency:g} Hz.")
        harmonics = torch.arange(frame_rate, highest + 1e-6, frame_rate)
        self.register_buffer("on", (harmonics / bin_hz).round().long(), persistent=False)
        self.register_buffer("below", ((harmonics - frame_rate / 2) / bin_hz).round().long(), persistent=False)
        self.register_buffer("above", ((harmonics + frame_rate / 2) / bin_hz).round().long(), persistent=False)

    def forward(self, reconstruction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        self.check_lengths(reconstruction, target)
        with torch.autocast(device_type=target.device.type, enabled=False):
            with torch.no_grad():
                target_power = self.average_power(target).mean(dim=0)
                floor = self.floor * target_power.mean() + 1e-12
            predicted_power = self.average_power(reconstruction).mean(dim=0)
            difference = (predicted_power + floor).log() - (target_power + floor).log()
            beside = 0.5 * (difference[self.below] + difference[self.above])
            return (difference[self.on] - beside).abs().mean()
