"""A weight-free pitch-class loss: does the decoded audio play the same notes as the original?

Spectral losses (STFT, mel, the frame log-magnitude) average over hundreds of bins, most of them
between the partials, so a decoder can lower them a lot while every partial still sits a fraction
of a semitone off, or is smeared over two semitones.  The ear, and any key or chord estimate, hears
exactly that error.  :class:`ChromaLoss` measures it directly: both signals are folded onto the
twelve pitch classes with a long analysis window (4 096 points at 16 kHz, 3.9 Hz bins, fine enough
to tell semitones apart from about 70 Hz up), frame by frame, and the profiles are compared.

* The band stops at ``max_frequency`` (1 kHz by default): above it upper harmonics of a note fold
  onto other pitch classes and would reward the wrong thing.
* A square-root magnitude (``|X| ** 0.5``) lets quiet notes count next to a loud one, as in the
  key estimator of :mod:`songgen_hf.data.synth.analysis`.
* The error is relative: ``sum |P_hat - P| / sum P`` over a batch, so it is about 0 for a perfect
  decoder, about 1 for silence, and does not depend on the loudness of the material.

Every operation is differentiable and the gradient reaches a Fourier-head decoder's magnitudes and
phases together, through its inverse STFT: a partial in the right bin with the wrong phase advance
ends up between bins of the long analysis window and is penalised.
"""

from __future__ import annotations

import torch
from torch import nn

from songgen_hf.modeling.xcodec.losses import check_same_length, mono_stft
from songgen_hf.modeling.xcodec.modeling_xcodec import C_HZ, pitch_class_filters

__all__ = ["ChromaLoss"]


class ChromaLoss(nn.Module):
    """Relative L1 between the per-frame pitch-class profiles of a reconstruction and its target.

    Args:
        sampling_rate: of both signals.
        n_fft / hop_length: the analysis window; long windows resolve semitones in the bass.
        min_frequency / max_frequency: the band folded onto pitch classes.

    ``forward(reconstruction, target)`` takes ``(B, 1, samples)`` or ``(B, samples)`` audio of the
    same length, at least ``n_fft`` samples.
    """

    def __init__(
        self,
        sampling_rate: int,
        n_fft: int = 4096,
        hop_length: int = 1024,
        min_frequency: float = 50.0,
        max_frequency: float = 1000.0,
    ):
        super().__init__()
        if not 0 < min_frequency < max_frequency <= sampling_rate / 2:
            raise ValueError(
                f"The chroma band must satisfy 0 < min_frequency < max_frequency <= {sampling_rate / 2} "
                f"(Nyquist); got {min_frequency}..{max_frequency} Hz."
            )
        self.n_fft, self.hop_length = n_fft, hop_length
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        self.register_buffer(
            "filters",
            pitch_class_filters(n_fft, sampling_rate, min_frequency, max_frequency, reference_hz=C_HZ),
            persistent=False,
        )

    def profiles(self, audio: torch.Tensor) -> torch.Tensor:
        """Pitch-class energies ``(B, 12, frames)`` of ``audio``."""
        too_short = (
            "ChromaLoss needs at least n_fft={n_fft} samples per item, got {samples}; "
            "train on longer segments or build the loss with a smaller n_fft."
        )
        spectrum = mono_stft(audio, self.n_fft, self.hop_length, self.window, too_short)
        # (|X|^2 + eps)^(1/4) = sqrt|X| with a finite gradient at silence.
        root_magnitude = (spectrum.real.square() + spectrum.imag.square() + 1e-10).pow(0.25)
        return torch.einsum("bft,fc->bct", root_magnitude, self.filters)

    def forward(self, reconstruction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        check_same_length(reconstruction, target)
        with torch.autocast(device_type=target.device.type, enabled=False):
            with torch.no_grad():
                target_profiles = self.profiles(target)
            predicted = self.profiles(reconstruction)
            return (predicted - target_profiles).abs().sum() / target_profiles.sum().clamp(min=1e-6)
