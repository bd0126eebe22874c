"""Spectral reconstruction losses for training the X-Codec generator.

All losses take ``(prediction, target)``, compute their transforms in float32
with autocast disabled (an STFT in bf16 loses most of the dynamic range the log
terms are meant to see), and return float32 scalars.

* :class:`MultiResolutionSTFTLoss` -- spectral convergence + log-magnitude L1,
  averaged over several STFT resolutions (X-Codec weight 1 + 1).
* :class:`SubbandMultiResolutionSTFTLoss` -- the same on 6 PQMF sub-bands,
  a finer time-frequency tiling than the full-band resolutions
  (X-Codec weight 1 + 1).
* :class:`MelSpectrogramL1Loss` -- log-mel L1 (disabled in the released X-Codec
  config; weight 45 if enabled), built on :class:`LogMelSpectrogram`.
* :func:`multi_resolution_mel_distance` -- a log-mel distance over several
  window sizes, meant as an evaluation metric.

The codebook commitment term belongs to the quantizer and is not here.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from transformers.audio_utils import mel_filter_bank

from songgen_hf.modeling.xcodec.pqmf import PQMF

__all__ = [
    "LogMelSpectrogram",
    "MelSpectrogramL1Loss",
    "MultiResolutionSTFTLoss",
    "STFTLoss",
    "SubbandMultiResolutionSTFTLoss",
    "check_same_length",
    "mono_stft",
    "multi_resolution_mel_distance",
    "stft_magnitude",
]

# Floor on |STFT|^2.  sqrt and log have infinite slope at 0, so without it a
# silent frame (or a silent prediction) gives NaN gradients; 1e-7 is ~-70 dB
# below a unit-amplitude bin, far under anything audible in 16-bit audio.
POWER_FLOOR = 1e-7


def _as_batch_of_signals(x: torch.Tensor, name: str) -> torch.Tensor:
    """Fold ``(B, T)`` or ``(B, C, T)`` into ``(B * C, T)`` float32."""
    if x.dim() == 2:
        return x.float()
    if x.dim() == 3:
        return x.reshape(-1, x.shape[-1]).float()
    raise ValueError(
        f"{name} must have shape (batch, time) or (batch, channels, time), got {tuple(x.shape)}; "
        f"reshape the waveform, e.g. x.view(batch, 1, -1)."
    )


def _check_pair(prediction: torch.Tensor, target: torch.Tensor, min_length: int, who: str) -> None:
    if prediction.shape != target.shape:
        raise ValueError(
            f"{who}: prediction {tuple(prediction.shape)} and target {tuple(target.shape)} must have "
            f"the same shape; crop or pad the decoder output to the input length first."
        )
    if prediction.shape[-1] < min_length:
        raise ValueError(
            f"{who}: signals have {prediction.shape[-1]} samples but the largest FFT needs at least "
            f"{min_length}; use longer training segments or smaller fft_sizes."
        )


def check_same_length(reconstruction: torch.Tensor, target: torch.Tensor) -> None:
    """Refuse a reconstruction and a target of different lengths (an average over frames would hide it)."""
    if reconstruction.shape[-1] != target.shape[-1]:
        raise ValueError(
            f"Reconstruction ({reconstruction.shape[-1]} samples) and target ({target.shape[-1]}) differ in "
            "length; crop both to the same length first."
        )


def mono_stft(audio: torch.Tensor, n_fft: int, hop_length: int, window: torch.Tensor, too_short: str) -> torch.Tensor:
    """Complex float32 STFT ``(B, n_fft // 2 + 1, frames)`` of ``(B, samples)`` or ``(B, 1, samples)`` audio (its
    first channel), windows not centred.  Audio shorter than one window is refused with ``too_short``, formatted
    with ``n_fft`` and ``samples``."""
    if audio.dim() == 3:
        audio = audio[:, 0]
    if audio.shape[-1] < n_fft:
        raise ValueError(too_short.format(n_fft=n_fft, samples=audio.shape[-1]))
    return torch.stft(audio.float(), n_fft, hop_length, window=window, center=False, return_complex=True)


def stft_magnitude(
    x: torch.Tensor,
    fft_size: int,
    hop_size: int,
    win_length: int,
    window: torch.Tensor,
    normalized: bool = False,
    power_floor: float = POWER_FLOOR,
) -> torch.Tensor:
    """Magnitude STFT of ``(B, T)`` as ``(B, fft_size // 2 + 1, frames)``.

    Computed in float32 whatever the input dtype or autocast state.  The power
    is floored at ``power_floor`` *before* the square root so the gradient of
    the magnitude stays finite on exact zeros (frames of silence, padding).
    With ``center=True`` there are ``1 + T // hop_size`` frames.
    """
    with torch.autocast(device_type=x.device.type, enabled=False):
        spec = torch.stft(
            x.float(),
            n_fft=fft_size,
            hop_length=hop_size,
            win_length=win_length,
            window=window.float(),
            center=True,
            pad_mode="reflect",
            normalized=normalized,
            return_complex=True,
        )
        power = spec.real.square() + spec.imag.square()
        return power.clamp_min(power_floor).sqrt()


class STFTLoss(nn.Module):
    """Spectral convergence and log-magnitude distance at one STFT resolution.

    Spectral convergence ``|| |Y| - |X| ||_F / || |Y| ||_F`` is the relative
    error of the magnitude spectrogram: dividing by the target norm makes it
    loudness invariant, so quiet and loud clips contribute equally, and it is
    dominated by the high-energy bins (the spectral peaks).  The log-magnitude
    L1 is the complement: on a log scale a -60 dB bin counts as much as a 0 dB
    one, so it shapes the noise floor and the quiet high band.  Norms are taken
    over the whole batch, so a silent target clip cannot blow the ratio up.
    """

    def __init__(self, fft_size: int, hop_size: int, win_length: int) -> None:
        super().__init__()
        if not 0 < win_length <= fft_size:
            raise ValueError(f"win_length ({win_length}) must be in [1, fft_size={fft_size}].")
        if hop_size <= 0:
            raise ValueError(f"hop_size must be positive, got {hop_size}.")
        self.fft_size = fft_size
        self.hop_size = hop_size
        self.win_length = win_length
        self.register_buffer("window", torch.hann_window(win_length), persistent=False)

    def extra_repr(self) -> str:
        return f"fft_size={self.fft_size}, hop_size={self.hop_size}, win_length={self.win_length}"

    def forward(self, prediction: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, T)`` signals -> ``(spectral_convergence, log_magnitude)``."""
        args = (self.fft_size, self.hop_size, self.win_length, self.window)
        pred_mag = stft_magnitude(prediction, *args)
        target_mag = stft_magnitude(target, *args)
        sc = torch.linalg.vector_norm(target_mag - pred_mag) / torch.linalg.vector_norm(target_mag)
        log_mag = F.l1_loss(torch.log(pred_mag), torch.log(target_mag))
        return sc, log_mag


class MultiResolutionSTFTLoss(nn.Module):
    """STFT loss averaged over several (fft, hop, window) resolutions.

    One resolution trades time against frequency precision; a generator can hide
    artefacts (pre-echo, smeared harmonics) in whichever axis it blurs.  Averaging
    short, medium and long windows closes that loophole.  The defaults are
    X-Codec's full-band setting (16 kHz): fft [512, 1024, 2048], hop
    [120, 240, 300], Hann windows of [480, 960, 1200].

    Inputs are ``(B, T)`` or ``(B, C, T)`` (channels are folded into the batch),
    at least ``max(fft_sizes)`` samples long.  Returns
    ``(spectral_convergence, log_magnitude)``, each averaged over resolutions;
    the caller applies the weights (X-Codec: 1 and 1).
    """

    def __init__(
        self,
        fft_sizes: Sequence[int] = (512, 1024, 2048),
        hop_sizes: Sequence[int] = (120, 240, 300),
        win_lengths: Sequence[int] = (480, 960, 1200),
    ) -> None:
        super().__init__()
        if not len(fft_sizes) == len(hop_sizes) == len(win_lengths) or not fft_sizes:
            raise ValueError(
                f"fft_sizes, hop_sizes and win_lengths must be non-empty and equally long, got "
                f"{len(fft_sizes)}, {len(hop_sizes)} and {len(win_lengths)}."
            )
        self.resolutions = nn.ModuleList(
            STFTLoss(fft, hop, win) for fft, hop, win in zip(fft_sizes, hop_sizes, win_lengths)
        )
        self.min_length = max(fft_sizes)

    def forward(self, prediction: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        folded_prediction = _as_batch_of_signals(prediction, "prediction")
        folded_target = _as_batch_of_signals(target, "target")
        _check_pair(prediction, target, self.min_length, type(self).__name__)
        prediction, target = folded_prediction, folded_target
        sc_total = prediction.new_zeros(())
        mag_total = prediction.new_zeros(())
        for resolution in self.resolutions:
            sc, mag = resolution(prediction, target)
            sc_total = sc_total + sc
            mag_total = mag_total + mag
        count = len(self.resolutions)
        return sc_total / count, mag_total / count


class SubbandMultiResolutionSTFTLoss(nn.Module):
    """Multi-resolution STFT loss on PQMF sub-bands.

    The bands are critically sampled, so a 128-point FFT on a band sees the same
    bandwidth per bin as a 768-point FFT on the full signal (6 bands), with a
    hop of 120-300 full-rate samples: it adds a fine-frequency, short-hop
    tiling that the full-band resolutions lack.  Band signals are folded into
    the batch, so, as in the reference implementation, spectral
    convergence is normalised by the joint norm of all bands (loud bands
    dominate it) while the log-magnitude term weights every band's bins equally.

    Defaults are X-Codec's: 6 bands, fft [128, 256, 256], hop [20, 40, 50],
    windows [80, 120, 200] (in band samples).  Inputs are mono ``(B, 1, T)`` or
    ``(B, T)`` with ``T >= subbands * max(fft_sizes)`` (1536 by default).
    """

    def __init__(
        self,
        subbands: int = 6,
        fft_sizes: Sequence[int] = (128, 256, 256),
        hop_sizes: Sequence[int] = (20, 40, 50),
        win_lengths: Sequence[int] = (80, 120, 200),
        pqmf: PQMF | None = None,
    ) -> None:
        super().__init__()
        self.pqmf = pqmf if pqmf is not None else PQMF(subbands)
        self.stft_loss = MultiResolutionSTFTLoss(fft_sizes, hop_sizes, win_lengths)
        self.min_length = self.pqmf.subbands * self.stft_loss.min_length

    def forward(self, prediction: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        name = type(self).__name__
        for label, x in (("prediction", prediction), ("target", target)):
            if not (x.dim() == 2 or (x.dim() == 3 and x.shape[1] == 1)):
                raise ValueError(
                    f"{name}: {label} must be mono, shape (batch, 1, time) or (batch, time), got "
                    f"{tuple(x.shape)}; run the loss per channel or mix down first."
                )
        _check_pair(prediction, target, self.min_length, name)
        with torch.autocast(device_type=prediction.device.type, enabled=False):
            pred_bands = self.pqmf.analysis(prediction.float().reshape(prediction.shape[0], 1, -1))
            target_bands = self.pqmf.analysis(target.float().reshape(target.shape[0], 1, -1))
        return self.stft_loss(pred_bands, target_bands)


@functools.lru_cache(maxsize=32)
def _mel_basis(sample_rate: int, fft_size: int, n_mels: int, f_min: float, f_max: float) -> torch.Tensor:
    """Slaney-style (area-normalised, Slaney mel scale) filters, ``(n_mels, F)``."""
    basis = mel_filter_bank(
        num_frequency_bins=fft_size // 2 + 1,
        num_mel_filters=n_mels,
        min_frequency=f_min,
        max_frequency=f_max,
        sampling_rate=sample_rate,
        norm="slaney",
        mel_scale="slaney",
    )
    return torch.from_numpy(np.ascontiguousarray(basis.T)).float()


class LogMelSpectrogram(nn.Module):
    """Natural-log mel magnitude spectrogram, ``(B, T)`` / ``(B, 1, T)`` -> ``(B, n_mels, frames)``.

    Magnitude (not power) mel with librosa/HiFi-GAN conventions (Slaney scale
    and area normalisation), then ``log(max(mel, log_floor))``.  The floor
    (1e-5, about -100 dB) bounds the loss a generator can collect by matching
    inaudible detail in silent regions and keeps gradients finite there.  Frames
    are centred: ``1 + T // hop_length`` of them.  Defaults are the optional
    X-Codec mel loss at 16 kHz: 80 mels, n_fft 1024, hop 160, window 800.
    """

    def __init__(
        self,
        sample_rate: int = 16000,
        n_fft: int = 1024,
        hop_length: int = 160,
        win_length: int = 800,
        n_mels: int = 80,
        f_min: float = 0.0,
        f_max: float | None = None,
        log_floor: float = 1e-5,
    ) -> None:
        super().__init__()
        if not 0 < win_length <= n_fft:
            raise ValueError(f"win_length ({win_length}) must be in [1, n_fft={n_fft}].")
        f_max = sample_rate / 2 if f_max is None else f_max
        self.sample_rate = sample_rate
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.win_length = win_length
        self.n_mels = n_mels
        self.log_floor = log_floor
        self.register_buffer("window", torch.hann_window(win_length), persistent=False)
        self.register_buffer(
            "mel_basis", _mel_basis(sample_rate, n_fft, n_mels, float(f_min), float(f_max)).clone(), persistent=False
        )

    def extra_repr(self) -> str:
        return (
            f"sample_rate={self.sample_rate}, n_fft={self.n_fft}, hop_length={self.hop_length}, "
            f"win_length={self.win_length}, n_mels={self.n_mels}"
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (x.dim() == 2 or (x.dim() == 3 and x.shape[1] == 1)):
            raise ValueError(
                f"LogMelSpectrogram expects mono audio of shape (batch, time) or (batch, 1, time), got "
                f"{tuple(x.shape)}."
            )
        x = x.reshape(x.shape[0], -1)
        if x.shape[-1] < self.n_fft:
            raise ValueError(
                f"LogMelSpectrogram needs at least n_fft={self.n_fft} samples, got {x.shape[-1]}; "
                f"use longer audio or a smaller n_fft."
            )
        magnitude = stft_magnitude(x, self.n_fft, self.hop_length, self.win_length, self.window)
        with torch.autocast(device_type=x.device.type, enabled=False):
            mel = torch.matmul(self.mel_basis, magnitude)
            return torch.log(mel.clamp_min(self.log_floor))


class MelSpectrogramL1Loss(nn.Module):
    """L1 distance between log-mel spectrograms (X-Codec: off by default, weight 45).

    Arguments are those of :class:`LogMelSpectrogram`, with the same defaults.
    """

    def __init__(self, **mel_options) -> None:
        super().__init__()
        self.mel = LogMelSpectrogram(**mel_options)

    def forward(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        _check_pair(prediction, target, self.mel.n_fft, type(self).__name__)
        return F.l1_loss(self.mel(prediction), self.mel(target))


def multi_resolution_mel_distance(
    prediction: torch.Tensor,
    target: torch.Tensor,
    sample_rate: int = 16000,
    fft_sizes: Sequence[int] = (128, 256, 512, 1024, 2048),
    n_mels: Sequence[int] = (10, 20, 40, 80, 160),
    log_floor: float = 1e-5,
) -> torch.Tensor:
    """Mean absolute log-mel difference over several window sizes (an eval metric).

    Each resolution uses a Hann window of the full FFT size and hop ``fft / 4``;
    the mel count doubles with the FFT so every filter spans a similar number
    of bins.  Short windows see transients, long ones pitch and timbre, so the
    average tracks perceived reconstruction quality better than any single
    resolution.  Symmetric, zero for identical inputs, differentiable.  Inputs
    are ``(B, T)`` or ``(B, 1, T)`` of at least ``max(fft_sizes)`` samples.
    """
    if len(fft_sizes) != len(n_mels) or not fft_sizes:
        raise ValueError(f"fft_sizes and n_mels must be non-empty and equally long, got {fft_sizes} and {n_mels}.")
    _check_pair(prediction, target, max(fft_sizes), "multi_resolution_mel_distance")
    total = prediction.new_zeros((), dtype=torch.float32)
    for fft, mels in zip(fft_sizes, n_mels):
        mel = LogMelSpectrogram(
            sample_rate=sample_rate, n_fft=fft, hop_length=fft // 4, win_length=fft, n_mels=mels, log_floor=log_floor
        ).to(prediction.device)
        total = total + F.l1_loss(mel(prediction), mel(target))
    return total / len(fft_sizes)
