"""X-Codec: a 16 kHz semantic audio codec (50 Hz frames, residual VQ 8 x 1024).

Weight layout and inference arithmetic are those of transformers' ``XcodecModel``; the
building blocks are transformers' own (DAC encoder/decoder, X-Codec semantic conv stacks,
``AutoModel`` for the teacher).  On top of that this model offers:

* ``encode(..., padding_mask=...)`` that is exact for padded batches,
* chunked ``encode``/``decode`` for long audio with bounded memory,
* ``decode_only`` loading without the semantic teacher,
* a training ``forward`` (EMA RVQ, quantiser dropout, commitment and semantic losses),
* codebooks that are usable straight after random initialisation.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from transformers import AutoModel, PreTrainedModel
from transformers import initialization as init
from transformers.audio_utils import conv1d_output_length, mel_filter_bank
from transformers.modeling_outputs import BaseModelOutput
from transformers.modeling_utils import PreTrainedAudioTokenizerBase
from transformers.models.dac.modeling_dac import DacDecoder, DacEncoder
from transformers.models.xcodec.modeling_xcodec import SemanticDecoder, SemanticEncoder
from transformers.utils import ModelOutput

from songgen_hf.modeling.xcodec.configuration_xcodec import MelTeacherConfig, XCodecConfig

# ----------------------------------------------------------------------------------------------------
# Snake activation, y = x + sin^2(alpha * x) / alpha, with an allocation-light inference path.
#
# The arithmetic is the same as transformers' ``Snake1d`` operation for operation (multiply,
# sine, square, scale by the reciprocal, add), so outputs are bit-identical; without autograd
# the intermediate is reused in place, which saves four full-size temporaries per call in a
# decoder where Snake runs on every residual unit at audio rate.


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


# ----------------------------------------------------------------------------------------------------
# Folding FFT bins onto pitch classes: shared by the weight-free teacher's chroma and the pitch-class loss.
#
# Each bin inside the band goes, whole, to the class of its nearest tempered pitch.  A 0/1 matrix rather
# than soft triangular weights keeps the features interpretable (a pure tone lands in exactly one class)
# and is enough once the window is long enough for neighbouring semitones to fall in different bins.

A4_HZ = 440.0


def pitch_class_filters(
    n_fft: int,
    sampling_rate: int,
    min_frequency: float,
    max_frequency: float,
    num_classes: int = 12,
    reference_hz: float = A4_HZ,
) -> torch.Tensor:
    """``(n_fft // 2 + 1, num_classes)`` 0/1 matrix sending each bin in ``[min_frequency, max_frequency]``
    to its nearest pitch class; class 0 holds ``reference_hz`` (A4 by default, ``440 * 2 ** (-9 / 12)``
    makes it C).  ``num_classes`` 24 or 36 splits each semitone in two or three."""
    frequencies = np.fft.rfftfreq(n_fft, 1.0 / sampling_rate)
    filters = np.zeros((frequencies.shape[0], num_classes), dtype=np.float32)
    inside = np.nonzero((frequencies >= min_frequency) & (frequencies <= max_frequency))[0]
    nearest = np.round(num_classes * np.log2(frequencies[inside] / reference_hz)).astype(int)
    filters[inside, nearest % num_classes] = 1.0
    return torch.from_numpy(filters)


C_HZ = A4_HZ * math.pow(2.0, -9 / 12)
"""A pitch of class C (C4), for filters that put C first as key profiles do."""


# ----------------------------------------------------------------------------------------------------
# Frame-aligned chunk plans for long-audio encoding and decoding.
#
# A chunk owns a *core* range of frames and is computed on a wider *context* range; only the
# core is kept.  Cores tile the signal without gaps or overlap, and each core sits inside its
# context by at least ``context_frames`` on both sides wherever the signal allows, so every kept
# frame was computed with (at least) that much real signal around it.  For the convolutional
# parts of X-Codec, whose receptive field is far below a second, one second of context makes
# chunked output equal to the unchunked output to float precision: there is no seam to hide,
# so no crossfade is needed.  A full-attention teacher (HuBERT) only sees its context window,
# so with such a teacher a small fraction of codes can differ from the unchunked encoding.
#
# Because X-Codec frames are exactly ``hop_length`` samples apart, a chunk boundary at a frame
# index is a boundary at a sample index, and all offsets stay integers.


@dataclass(frozen=True)
class Chunk:
    """Frames ``[core_start, core_end)`` are kept; ``[context_start, context_end)`` are computed."""

    core_start: int
    core_end: int
    context_start: int
    context_end: int

    @property
    def keep_offset(self) -> int:
        """Index of the first kept frame inside the computed range."""
        return self.core_start - self.context_start

    @property
    def keep_length(self) -> int:
        return self.core_end - self.core_start


def plan_chunks(total_frames: int, chunk_frames: int, context_frames: int) -> list[Chunk]:
    """Split ``total_frames`` into cores of ``chunk_frames`` with ``context_frames`` each side."""
    if chunk_frames < 1:
        raise ValueError(f"chunk length must be at least one frame, got {chunk_frames} frames.")
    if context_frames < 0:
        raise ValueError(f"context must be non-negative, got {context_frames} frames.")
    chunks = []
    for start in range(0, total_frames, chunk_frames):
        end = min(start + chunk_frames, total_frames)
        chunks.append(
            Chunk(
                core_start=start,
                core_end=end,
                context_start=max(0, start - context_frames),
                context_end=min(total_frames, end + context_frames),
            )
        )
    return chunks


def seconds_to_frames(seconds: float, frame_rate: int, name: str) -> int:
    frames = int(round(seconds * frame_rate))
    if frames < 0 or (name == "chunk_seconds" and frames < 1):
        raise ValueError(f"`{name}`={seconds} is too small: it must cover at least one frame (1/{frame_rate} s).")
    return frames


# ----------------------------------------------------------------------------------------------------
# Residual vector quantisation with EMA codebooks, as X-Codec trains it.
#
# Inference is the plain RVQ of transformers' ``XcodecModel`` (same buffers, same arithmetic,
# hence bit-identical codes).  Training adds the machinery that keeps a 1024-entry codebook
# alive without a codebook loss:
#
# * **EMA updates** - each codeword drifts towards the mean of the vectors assigned to it
#   (decay 0.99).  Cluster sizes are Laplace-smoothed so a code that lost all its vectors
#   does not divide by zero.
# * **k-means initialisation** - an untrained codebook (``inited == 0``) is seeded by Lloyd's
#   algorithm on the first training batch, so codewords start where the data is.
# * **Dead-code replacement** - codes whose EMA usage drops below a threshold are re-seeded
#   with random vectors of the current batch; the next EMA step folds them back in.
# * **Straight-through estimator** - the decoder sees quantised values, the encoder receives
#   the decoder's gradient as if quantisation were the identity.
# * **Commitment loss** - pulls the encoder output towards its codewords.
#
# Under ``torch.distributed`` the statistics are all-reduced and k-means / dead-code seeds
# are broadcast from rank 0, so every replica keeps identical codebooks.


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def _all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    if _distributed():
        dist.all_reduce(tensor)
    return tensor


def _broadcast(tensor: torch.Tensor) -> torch.Tensor:
    if _distributed():
        dist.broadcast(tensor, src=0)
    return tensor


def _sample_vectors(vectors: torch.Tensor, num: int) -> torch.Tensor:
    """``num`` rows of ``vectors``, without replacement when there are enough of them."""
    count = vectors.shape[0]
    if count >= num:
        index = torch.randperm(count, device=vectors.device)[:num]
    else:
        index = torch.randint(0, count, (num,), device=vectors.device)
    return vectors[index]


def kmeans(vectors: torch.Tensor, num_clusters: int, num_iters: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Lloyd's k-means with Euclidean distance.

    Starts from random data points; a cluster that loses all its points keeps its previous
    mean instead of collapsing to zero.  Returns ``(means, cluster_sizes)``.
    """
    vectors = vectors.float()
    means = _sample_vectors(vectors, num_clusters)
    counts = torch.zeros(num_clusters, device=vectors.device)
    for _ in range(num_iters):
        distances = torch.cdist(vectors, means)
        assignment = distances.argmin(dim=-1)
        counts = torch.bincount(assignment, minlength=num_clusters).float()
        sums = torch.zeros_like(means).index_add_(0, assignment, vectors)
        empty = counts == 0
        new_means = sums / counts.clamp(min=1).unsqueeze(-1)
        means = torch.where(empty.unsqueeze(-1), means, new_means)
    return means, counts


class XCodecEuclideanCodebook(nn.Module):
    """One EMA codebook.  Buffers keep transformers' names: ``inited``, ``cluster_size``,
    ``embed``, ``embed_avg``."""

    def __init__(self, config: XCodecConfig):
        super().__init__()
        size, dim = config.codebook_size, config.codebook_dim
        self.codebook_size = size
        self.decay = config.codebook_decay
        self.epsilon = config.codebook_epsilon
        self.kmeans_iters = config.kmeans_iters
        self.kmeans_max_samples = config.kmeans_max_samples
        self.use_kmeans_init = config.kmeans_init
        self.threshold_ema_dead_code = config.threshold_ema_dead_code
        self.register_buffer("inited", torch.tensor([1.0]))
        self.register_buffer("cluster_size", torch.zeros(size))
        self.register_buffer("embed", torch.zeros(size, dim))
        self.register_buffer("embed_avg", torch.zeros(size, dim))

    # -- inference -------------------------------------------------------------------
    def quantize(self, vectors: torch.Tensor) -> torch.Tensor:
        """Index of the nearest codeword for each row of ``vectors`` (N, D).

        The distance is written exactly as X-Codec/transformers write it so that codes
        match bit for bit (ties resolve to the lowest index)."""
        embed = self.embed.t()
        distance = -(vectors.pow(2).sum(1, keepdim=True) - 2 * vectors @ embed + embed.pow(2).sum(0, keepdim=True))
        return distance.max(dim=-1).indices

    def decode(self, indices: torch.Tensor) -> torch.Tensor:
        return F.embedding(indices, self.embed)

    # -- training ----------------------------------------------------------------------
    @torch.no_grad()
    def initialize_from_data(self, vectors: torch.Tensor) -> None:
        """k-means seeding on the first batch (rank 0's result is broadcast)."""
        sample = _sample_vectors(vectors, min(vectors.shape[0], self.kmeans_max_samples))
        means, counts = kmeans(sample, self.codebook_size, self.kmeans_iters)
        self.embed.copy_(_broadcast(means.to(self.embed.dtype)))
        self.embed_avg.copy_(self.embed)
        self.cluster_size.copy_(_broadcast(counts.to(self.cluster_size.dtype)))
        self.inited.fill_(1.0)

    @torch.no_grad()
    def ema_update(self, vectors: torch.Tensor, indices: torch.Tensor) -> None:
        counts = torch.bincount(indices, minlength=self.codebook_size).to(self.cluster_size.dtype)
        sums = torch.zeros_like(self.embed_avg).index_add_(0, indices, vectors.to(self.embed_avg.dtype))
        counts, sums = _all_reduce_sum(counts), _all_reduce_sum(sums)
        self.cluster_size.mul_(self.decay).add_(counts, alpha=1 - self.decay)
        self.embed_avg.mul_(self.decay).add_(sums, alpha=1 - self.decay)
        total = self.cluster_size.sum()
        smoothed = (self.cluster_size + self.epsilon) / (total + self.codebook_size * self.epsilon) * total
        self.embed.copy_(self.embed_avg / smoothed.unsqueeze(1))

    @torch.no_grad()
    def replace_dead_codes(self, vectors: torch.Tensor) -> int:
        """Re-seed rarely used codes with batch vectors; returns how many were replaced.

        Only ``embed`` changes: the EMA statistics stay, so the next update decides
        whether the new codeword attracts enough vectors to survive."""
        if self.threshold_ema_dead_code <= 0:
            return 0
        dead = self.cluster_size < self.threshold_ema_dead_code
        num_dead = int(dead.sum())
        if num_dead == 0:
            return 0
        seeds = _broadcast(_sample_vectors(vectors, self.codebook_size).to(self.embed.dtype))
        self.embed.copy_(torch.where(dead.unsqueeze(1), seeds, self.embed))
        return num_dead

    def extra_repr(self) -> str:
        return f"codebook_size={self.codebook_size}, dim={self.embed.shape[1]}, decay={self.decay}"


class XCodecVectorQuantization(nn.Module):
    """Wrapper that keeps transformers' key layout: ``quantizers.{i}.codebook.*``."""

    def __init__(self, config: XCodecConfig):
        super().__init__()
        self.codebook = XCodecEuclideanCodebook(config)


class XCodecResidualVectorQuantizer(nn.Module):
    """Residual VQ: each stage quantises what the previous stages left over."""

    def __init__(self, config: XCodecConfig):
        super().__init__()
        self.config = config
        self.num_quantizers = config.num_quantizers
        self.quantizers = nn.ModuleList([XCodecVectorQuantization(config) for _ in range(config.num_quantizers)])

    def encode(self, embeddings: torch.Tensor, num_quantizers: int | None = None) -> torch.Tensor:
        """Codes ``(n_q, B, T)`` for ``embeddings`` ``(B, D, T)``."""
        num_quantizers = num_quantizers or self.num_quantizers
        residual = embeddings.transpose(1, 2)
        shape = residual.shape[:-1]
        residual = residual.reshape(-1, residual.shape[-1])
        codes = []
        for layer in self.quantizers[:num_quantizers]:
            indices = layer.codebook.quantize(residual)
            residual = residual - layer.codebook.decode(indices)
            codes.append(indices.view(shape))
        return torch.stack(codes)

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Sum of codewords ``(B, D, T)`` for codes ``(n_q, B, T)`` (any n_q up to the total)."""
        quantized = torch.zeros((), device=codes.device)
        for layer, indices in zip(self.quantizers, codes):
            quantized = quantized + layer.codebook.decode(indices)
        return quantized.transpose(1, 2)

    def forward(self, embeddings: torch.Tensor, num_quantizers: int | None = None) -> dict[str, torch.Tensor]:
        """Training-time quantisation of ``embeddings`` ``(B, D, T)``.

        In training mode: k-means init of fresh codebooks, EMA updates and dead-code
        replacement.  Returns the straight-through quantised tensor, the codes
        ``(n_q, B, T)`` and the commitment loss (mean over stages of MSE between each
        stage's input and its codeword).  As in EnCodec/X-Codec, the residual handed to the
        next stage is built from the straight-through value, so only the first stage's
        commitment term reaches the encoder; later stages are steered by the EMA alone.
        """
        num_quantizers = num_quantizers or self.num_quantizers
        batch, dim, frames = embeddings.shape
        residual = embeddings.transpose(1, 2).reshape(-1, dim)
        quantized = torch.zeros_like(residual)
        codes, losses = [], []
        for layer in self.quantizers[:num_quantizers]:
            codebook = layer.codebook
            detached = residual.detach()
            if self.training and codebook.use_kmeans_init and not bool(codebook.inited.item()):
                codebook.initialize_from_data(detached)
            indices = codebook.quantize(detached)
            # The codeword is read before the statistics move, as EnCodec and X-Codec do.
            codeword = codebook.decode(indices).clone()
            if self.training:
                codebook.ema_update(detached, indices)
                codebook.replace_dead_codes(detached)
            losses.append(F.mse_loss(residual, codeword.detach()))
            straight_through = residual + (codeword - residual).detach()
            residual = residual - straight_through
            quantized = quantized + straight_through
            codes.append(indices.view(batch, frames))
        return {
            "quantized": quantized.view(batch, frames, dim).transpose(1, 2),
            "codes": torch.stack(codes),
            "commitment_loss": torch.stack(losses).mean(),
        }


# ----------------------------------------------------------------------------------------------------
# A Fourier-head acoustic decoder: every layer runs at the 50 Hz frame rate, an ISTFT makes the waveform.
#
# The DAC decoder climbs from 50 Hz to 16 kHz through transposed convolutions (x8, x5, x4, x2),
# which costs most of a codec's compute at the highest rates and, until it is well trained,
# leaves periodic artifacts at the rate of each stage: a buzz at 50 Hz and its harmonics that
# sits right in the range where pitch and key live.  Vocos (Siuzdenko et al., 2023), which
# X-Codec 2.0 and WavTokenizer adopted, never upsamples: a ConvNeXt stack at the frame rate
# predicts one STFT frame per codec frame (log-magnitude and phase), and the inverse STFT turns
# them into samples.  It has no upsampling stage that could imprint a frame-periodic pattern, and
# its compute stays at the frame rate (on songgen-tiny's codes a 10 s decode took 1.07 s against
# the DAC decoder's 1.5 s, measured on a loaded 2-core CPU).
#
# One thing a Fourier head cannot do by itself: a time-invariant decoder given the *same* code
# in every frame must output a signal that repeats every hop, i.e. only harmonics of the 50 Hz
# frame rate; a steady 220 Hz note comes out as 200 + 250 Hz.  A codec whose encoder learnt to
# vary its codes with the waveform's phase avoids that; a small, briefly trained one does not
# (its codes for a steady tone are constant).  ``phase="accumulated"`` therefore predicts each
# bin's phase *advance* per frame (around the bin's own centre-frequency advance, within ±π, so
# any phase sequence stays reachable) and sums it over time, like a phase vocoder: constant
# codes then give a steady tone at whatever frequency the advances encode.  ``"absolute"`` is
# Vocos's original per-frame phase.
#
# Frame ``i`` is centred on sample ``i * hop + hop / 2``, the middle of the samples it encodes,
# and ``T`` frames give exactly ``T * hop`` samples ("same" padding), like the DAC decoder.

PHASE_MODES = ("accumulated", "absolute")


class ConvNeXtBlock(nn.Module):
    """Depthwise temporal conv, then a pointwise MLP, scaled by a learned per-channel factor."""

    def __init__(self, dim: int, intermediate_size: int, layer_scale: float):
        super().__init__()
        self.depthwise = nn.Conv1d(dim, dim, kernel_size=7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.up = nn.Linear(dim, intermediate_size)
        self.down = nn.Linear(intermediate_size, dim)
        self.layer_scale = nn.Parameter(torch.full((dim,), float(layer_scale)))
        self.layer_scale_init = float(layer_scale)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:  # (B, dim, T)
        update = self.depthwise(hidden).transpose(1, 2)
        update = self.down(F.gelu(self.up(self.norm(update))))
        return hidden + (self.layer_scale * update).transpose(1, 2)


class InverseSTFT(nn.Module):
    """Inverse STFT with "same" padding: ``T`` frames -> ``T * hop`` samples, Hann window."""

    def __init__(self, n_fft: int, hop_length: int):
        super().__init__()
        if (n_fft - hop_length) % 2:
            raise ValueError(f"n_fft - hop_length must be even for centred frames, got {n_fft} and {hop_length}.")
        self.n_fft, self.hop_length = n_fft, hop_length
        self.trim = (n_fft - hop_length) // 2

    def forward(self, spectrum: torch.Tensor) -> torch.Tensor:  # (B, n_fft // 2 + 1, T) complex
        # Made per call, not a buffer: a non-persistent buffer is not in the checkpoint, and
        # transformers' meta-device loading would leave it uninitialised.
        window = torch.hann_window(self.n_fft, device=spectrum.device)
        frames = torch.fft.irfft(spectrum, n=self.n_fft, dim=1) * window[:, None]
        count = frames.shape[-1]
        total = (count - 1) * self.hop_length + self.n_fft
        fold = dict(output_size=(1, total), kernel_size=(1, self.n_fft), stride=(1, self.hop_length))
        audio = F.fold(frames, **fold)[:, 0, 0]
        # Overlap-added squared windows: dividing by them undoes the analysis+synthesis weighting.
        envelope = F.fold(window.square()[None, :, None].expand(1, -1, count), **fold)[0, 0, 0]
        keep = slice(self.trim, total - self.trim)
        return audio[:, keep] / envelope[keep].clamp(min=1e-11)


class ISTFTDecoder(nn.Module):
    """Latent ``(B, C, T)`` at the frame rate -> audio ``(B, 1, T * hop_length)``.

    Args:
        input_channels: channels of the latent (the codec's ``fc2`` output).
        hop_length: samples per frame.
        hidden_size / intermediate_size / num_layers: the ConvNeXt stack.
        n_fft: STFT size (``4 * hop_length`` by default: 75 % overlap).
        phase: ``"accumulated"`` (phase advances summed over frames) or ``"absolute"`` (Vocos).
    """

    def __init__(
        self,
        input_channels: int,
        hop_length: int,
        hidden_size: int = 256,
        intermediate_size: int = 768,
        num_layers: int = 8,
        n_fft: int | None = None,
        phase: str = "accumulated",
    ):
        super().__init__()
        if phase not in PHASE_MODES:
            raise ValueError(f"phase must be one of {PHASE_MODES}, got {phase!r}.")
        self.phase = phase
        self.hop_length = hop_length
        self.n_fft = n_fft or 4 * hop_length
        self.embed = nn.Conv1d(input_channels, hidden_size, kernel_size=7, padding=3)
        self.norm = nn.LayerNorm(hidden_size, eps=1e-6)
        self.blocks = nn.ModuleList(
            [ConvNeXtBlock(hidden_size, intermediate_size, layer_scale=1.0 / num_layers) for _ in range(num_layers)]
        )
        self.final_norm = nn.LayerNorm(hidden_size, eps=1e-6)
        self.head = nn.Linear(hidden_size, self.n_fft + 2)  # log-magnitude and phase of n_fft / 2 + 1 bins
        self.istft = InverseSTFT(self.n_fft, hop_length)

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        log_magnitude, raw_phase = self.frames(latent)
        return self.synthesize(log_magnitude, self.phases(raw_phase)).to(latent.dtype)

    def frames(self, latent: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The network's part, local in time: ``(B, bins, T)`` log-magnitudes and raw phase outputs."""
        hidden = self.norm(self.embed(latent).transpose(1, 2)).transpose(1, 2)
        for block in self.blocks:
            hidden = block(hidden)
        log_magnitude, raw_phase = (
            self.head(self.final_norm(hidden.transpose(1, 2))).transpose(1, 2).float().chunk(2, dim=1)
        )
        return log_magnitude, raw_phase

    def phase_steps(self, raw_phase: torch.Tensor) -> torch.Tensor:
        """Each bin's phase advance into each frame (float64): its centre-frequency advance ± π."""
        bins = torch.arange(raw_phase.shape[1], device=raw_phase.device, dtype=torch.float64)
        centre = torch.remainder(2 * math.pi * bins * self.hop_length / self.n_fft, 2 * math.pi)
        return centre[None, :, None] + math.pi * torch.tanh(raw_phase.double())

    def phase_advances(self, raw_phase: torch.Tensor) -> torch.Tensor:
        """The phase advance of every bin from each frame to the next, ``(B, bins, T - 1)`` (for the
        instantaneous-frequency loss); in ``"absolute"`` mode the raw difference, unwrapped by the loss."""
        if self.phase == "absolute":
            return raw_phase[..., 1:] - raw_phase[..., :-1]
        return self.phase_steps(raw_phase)[..., 1:].to(raw_phase.dtype)

    def phases(self, raw_phase: torch.Tensor) -> torch.Tensor:
        """Raw outputs -> the phase of every bin and frame (the running sum of advances, or the outputs)."""
        if self.phase == "absolute":
            return raw_phase
        # summed in float64 and wrapped, so minutes of frames keep sub-milliradian precision
        return torch.remainder(self.phase_steps(raw_phase).cumsum(dim=-1), 2 * math.pi).to(raw_phase.dtype)

    def synthesize(self, log_magnitude: torch.Tensor, phase: torch.Tensor) -> torch.Tensor:
        """Spectral frames -> audio ``(B, 1, T * hop)``.  Not local in time: windows overlap."""
        # exp is capped so one wild frame cannot overflow
        magnitude = torch.exp(log_magnitude).clamp(max=1e2)
        spectrum = torch.complex(magnitude * torch.cos(phase), magnitude * torch.sin(phase))
        return self.istft(spectrum).unsqueeze(1)


# ----------------------------------------------------------------------------------------------------
# A weight-free semantic teacher: log-mel + MFCC features at the codec frame rate.
#
# X-Codec distils a frozen self-supervised encoder (HuBERT/WavLM) into its tokens.  Where no
# pretrained teacher can be had, the natural fallback is what HuBERT itself started from: its
# first training iteration clustered MFCC features.  This module produces such features with
# the interface of a transformers audio encoder (``hidden_states`` at one frame per hop), so
# the codec, its semantic loss and its configs treat it exactly like HuBERT.
#
# Frames use a 400-sample window and a 320-sample hop without centring: on the codec's
# 160-sample padded input that yields exactly HuBERT-base's frame count.  The features are
# log-mel energies (fixed affine scaling to roughly [-1, 1]) followed by MFCCs and, optionally,
# their first and second time differences.  No parameters, nothing in the state dict.
#
# For music, ``num_chroma=12`` appends a chroma vector per frame: the share of each pitch class
# in the 50 Hz - 2 kHz power of a long (128 ms) window centred on the frame.  MFCCs are built to
# discard pitch, and a 25 ms window cannot resolve it below ~300 Hz; a codec distilled from
# log-mel/MFCC alone learns codes with no trace of harmony (measured on songgen-tiny's first
# codec: a linear probe from its latent predicts a frame's strongest pitch class at chance
# level, 8 %, where the log-spectrum gives 70 %).  X-Codec feeds the teacher's features into
# its encoder and must reconstruct them from the codes, so with chroma in the teacher the codes
# carry key and melody.


def _dct_matrix(num_in: int, num_out: int) -> torch.Tensor:
    """Orthonormal DCT-II basis, (num_in, num_out)."""
    n = torch.arange(num_in, dtype=torch.float64)
    k = torch.arange(num_out, dtype=torch.float64)
    basis = torch.cos(math.pi / num_in * (n[:, None] + 0.5) * k[None, :]) * math.sqrt(2.0 / num_in)
    basis[:, 0] /= math.sqrt(2.0)
    return basis.float()


def _chroma_filters(config: MelTeacherConfig) -> torch.Tensor:
    """(bins, num_chroma) weights folding FFT bins in the chroma range onto pitch classes (A = 0)."""
    return pitch_class_filters(
        config.chroma_window_length,
        config.sampling_rate,
        config.chroma_min_frequency,
        config.chroma_max_frequency,
        num_classes=config.num_chroma,
    )


def _time_difference(features: torch.Tensor) -> torch.Tensor:
    """Central difference along time (dim 1) with edge replication."""
    padded = F.pad(features.transpose(1, 2), (1, 1), mode="replicate").transpose(1, 2)
    return (padded[:, 2:] - padded[:, :-2]) / 2


class MelTeacherModel(PreTrainedModel):
    """Deterministic log-mel/MFCC "teacher" with the output contract of ``HubertModel``."""

    config: MelTeacherConfig
    config_class = MelTeacherConfig
    main_input_name = "input_values"
    base_model_prefix = "mel_teacher"

    # log10 energies of 16 kHz audio in [-1, 1] span roughly [-5, 0]; map that to [-1, 1].
    _LOG_CENTER = 2.5
    _LOG_SCALE = 2.5

    def __init__(self, config: MelTeacherConfig):
        super().__init__(config)
        for name, value in self._fixed_buffers().items():
            self.register_buffer(name, value, persistent=False)
        self.post_init()

    def _fixed_buffers(self) -> dict[str, torch.Tensor]:
        config = self.config
        filters = mel_filter_bank(
            num_frequency_bins=config.n_fft // 2 + 1,
            num_mel_filters=config.num_mel_bins,
            min_frequency=config.min_frequency,
            max_frequency=config.max_frequency or config.sampling_rate / 2,
            sampling_rate=config.sampling_rate,
            norm="slaney",
            mel_scale="slaney",
        )
        buffers = {
            "window": torch.hann_window(config.window_length, periodic=False),
            "mel_filters": torch.from_numpy(np.asarray(filters, dtype=np.float32)),
            "dct": _dct_matrix(config.num_mel_bins, config.num_mfcc),
        }
        if config.num_chroma:
            buffers["chroma_window"] = torch.hann_window(config.chroma_window_length, periodic=False)
            buffers["chroma_filters"] = _chroma_filters(config)
        return buffers

    @torch.no_grad()
    def _init_weights(self, module):
        # No parameters; but from_pretrained builds models on the meta device, so the fixed
        # (non-persistent) buffers must be recomputed here or they stay uninitialised.
        if module is self:
            for name, value in self._fixed_buffers().items():
                init.copy_(getattr(self, name), value)

    def _chroma(self, audio: torch.Tensor, num_frames: int) -> torch.Tensor:
        """Pitch-class shares per frame, centred where the short frames are, scaled to mean 0."""
        config = self.config
        extra = (config.chroma_window_length - config.window_length) // 2
        padded = F.pad(audio, (extra, config.chroma_window_length - config.window_length - extra))
        frames = padded.unfold(-1, config.chroma_window_length, config.hop_length)[:, :num_frames] * self.chroma_window
        power = torch.fft.rfft(frames).abs().pow(2) @ self.chroma_filters
        # shares rather than energies: loudness is the mel part's job; silence gives a flat vector
        shares = (power + 1e-8) / (power.sum(dim=-1, keepdim=True) + 1e-8 * config.num_chroma)
        return (shares * config.num_chroma - 1.0) * config.chroma_scale

    def num_frames(self, num_samples: int) -> int:
        return max(0, (num_samples - self.config.window_length) // self.config.hop_length + 1)

    def forward(
        self,
        input_values: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> BaseModelOutput:
        if input_values.dim() != 2:
            raise ValueError(f"MelTeacherModel expects (batch, samples) audio, got shape {tuple(input_values.shape)}.")
        if input_values.shape[-1] < self.config.window_length:
            raise ValueError(
                f"Audio of {input_values.shape[-1]} samples is shorter than one analysis window "
                f"({self.config.window_length}); pad it or pass longer audio."
            )
        audio = input_values.float()
        frames = audio.unfold(-1, self.config.window_length, self.config.hop_length) * self.window
        spectrum = torch.fft.rfft(frames, n=self.config.n_fft).abs().pow(2)
        mel = spectrum @ self.mel_filters
        log_mel = (torch.log10(mel.clamp(min=1e-10)) + self._LOG_CENTER) / self._LOG_SCALE
        mfcc = log_mel @ self.dct
        parts = [log_mel, mfcc]
        if self.config.use_deltas:
            delta = _time_difference(mfcc)
            parts += [delta, _time_difference(delta)]
        if self.config.num_chroma:
            parts.append(self._chroma(audio, frames.shape[1]))
        features = torch.cat(parts, dim=-1).to(input_values.dtype)
        return BaseModelOutput(last_hidden_state=features, hidden_states=(features,))


# Modules only the encoder side needs; a decode-only model neither builds nor loads them.
ENCODER_ONLY_MODULES = ("acoustic_encoder", "encoder_semantic", "decoder_semantic", "semantic_model", "fc", "fc1")


@dataclass
class XCodecEncoderOutput(ModelOutput):
    """
    Args:
        audio_codes (`torch.LongTensor` of shape `(batch_size, num_quantizers, frames)`):
            Codes; frames past an item's ``audio_codes_lengths`` are 0 (padding).
        audio_codes_lengths (`torch.LongTensor` of shape `(batch_size,)`):
            Valid frames per item.
    """

    audio_codes: torch.LongTensor | None = None
    audio_codes_lengths: torch.LongTensor | None = None


@dataclass
class XCodecDecoderOutput(ModelOutput):
    """
    Args:
        audio_values (`torch.FloatTensor` of shape `(batch_size, 1, frames * hop_length)`):
            Decoded audio; samples past an item's ``audio_values_lengths`` are 0.
        audio_values_lengths (`torch.LongTensor` of shape `(batch_size,)`):
            Valid samples per item.
    """

    audio_values: torch.FloatTensor | None = None
    audio_values_lengths: torch.LongTensor | None = None


@dataclass
class XCodecOutput(ModelOutput):
    """
    Args:
        audio_codes (`torch.LongTensor` of shape `(batch_size, num_quantizers, frames)`): codes.
        audio_values (`torch.FloatTensor` of shape `(batch_size, 1, samples)`):
            Reconstruction, trimmed to the input length.
        commitment_loss (`torch.FloatTensor`): mean commitment MSE over the used stages.
        semantic_loss (`torch.FloatTensor`): MSE between teacher features and their
            reconstruction from the quantised latent (computed when training or asked for).
        semantic_features (`torch.FloatTensor` of shape `(batch_size, hidden, frames)`): teacher features.
        num_quantizers (`int`): codebooks used for this forward (varies under quantiser dropout).
        spectral_frames (`tuple` of two `torch.FloatTensor` of shape `(batch_size, bins, frames)`):
            ISTFT decoder only, when asked for: the decoder's log-magnitudes and raw phase outputs
            (see :meth:`XCodecModel.decode_frames`), e.g. for the instantaneous-frequency loss.
    """

    audio_codes: torch.LongTensor | None = None
    audio_values: torch.FloatTensor | None = None
    commitment_loss: torch.FloatTensor | None = None
    semantic_loss: torch.FloatTensor | None = None
    semantic_features: torch.FloatTensor | None = None
    num_quantizers: int | None = None
    spectral_frames: tuple[torch.FloatTensor, torch.FloatTensor] | None = None


class XCodecPreTrainedModel(PreTrainedAudioTokenizerBase):
    config: XCodecConfig
    config_class = XCodecConfig
    base_model_prefix = "xcodec"
    main_input_name = "input_values"
    input_modalities = "audio"
    _no_split_modules = ["XCodecResidualVectorQuantizer"]

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *model_args, **kwargs):
        """transformers' ``from_pretrained``, after the folder's config is bounded by its weights' header (a
        config that describes a larger or differently shaped codec is refused before anything is allocated).
        transformers' own X-Codec folders (``model_type: "xcodec"``) are read too."""
        from songgen_hf.modeling.weight_bounds import check_pretrained

        check_pretrained(cls, pretrained_model_name_or_path, kwargs, accepted_types=("xcodec",))
        return super().from_pretrained(pretrained_model_name_or_path, *model_args, **kwargs)

    @torch.no_grad()
    def _init_weights(self, module):
        # PyTorch's default (Kaiming-uniform) init everywhere: it is what DAC and X-Codec
        # effectively trained from (their weight-normed convs ignore a later re-init), and it
        # keeps a fresh codec's output at audio scale.  Loaded weights are never touched.
        if isinstance(module, (nn.Linear, nn.Conv1d, nn.ConvTranspose1d)):
            init.kaiming_uniform_(module.weight, a=math.sqrt(5))
            if module.bias is not None:
                fan_in = module.weight.shape[1] * math.prod(module.weight.shape[2:])
                if isinstance(module, nn.ConvTranspose1d):
                    fan_in = module.weight.shape[0] * math.prod(module.weight.shape[2:])
                bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
                init.uniform_(module.bias, -bound, bound)
        elif isinstance(module, (nn.LayerNorm, nn.GroupNorm)):
            init.zeros_(module.bias)
            init.ones_(module.weight)
        elif isinstance(module, Snake1d):
            init.ones_(module.alpha)
        elif isinstance(module, ConvNeXtBlock):
            init.constant_(module.layer_scale, module.layer_scale_init)
        elif isinstance(module, XCodecEuclideanCodebook):
            # transformers zero-fills the tables, which maps every frame to code 0.  Random
            # codewords give a usable (if untrained) codec; ``inited = 0`` asks training to
            # replace them by k-means on its first batch.
            dim = module.embed.shape[1]
            init.normal_(module.embed, mean=0.0, std=dim**-0.5)
            init.copy_(module.embed_avg, module.embed)
            init.ones_(module.cluster_size)
            init.constant_(module.inited, 0.0 if self.config.kmeans_init else 1.0)

    def _acoustic_modules(self):
        return [m for m in (getattr(self, "acoustic_encoder", None), self.acoustic_decoder) if m is not None]

    def apply_weight_norm(self, include_encoder: bool = True) -> None:
        """Weight-normalise the DAC convolutions (training, and loading original checkpoints).

        ``include_encoder=False`` leaves the encoder's plain weights untouched, bit for bit:
        folding weight norm back in re-rounds a weight, which could flip a code.
        """
        weight_norm = nn.utils.parametrizations.weight_norm
        parts = self._acoustic_modules() if include_encoder else [self.acoustic_decoder]
        for part in parts:
            for module in part.modules():
                if isinstance(module, (nn.Conv1d, nn.ConvTranspose1d)) and not hasattr(module, "parametrizations"):
                    weight_norm(module)

    def remove_weight_norm(self) -> None:
        """Fold weight norm back into plain ``weight`` tensors (the Hub layout)."""
        for part in self._acoustic_modules():
            for module in part.modules():
                if hasattr(module, "parametrizations") and "weight" in module.parametrizations:
                    nn.utils.parametrize.remove_parametrizations(module, "weight", leave_parametrized=True)


class XCodecModel(XCodecPreTrainedModel):
    """The X-Codec codec.  See the module docstring for what it adds to transformers' model."""

    def __init__(self, config: XCodecConfig):
        super().__init__(config)
        self.pad = config.hop_length // 2
        self.acoustic_decoder = self._build_decoder(config)
        self.fc2 = nn.Linear(config.hidden_size, config.acoustic_model_config.hidden_size)
        self.quantizer = XCodecResidualVectorQuantizer(config)
        if not config.decode_only:
            self.acoustic_encoder = replace_snake_activations(DacEncoder(config.acoustic_model_config))
            self.encoder_semantic = SemanticEncoder(config)
            self.decoder_semantic = SemanticDecoder(config)
            self.semantic_model = AutoModel.from_config(config.semantic_model_config).eval()
            self.semantic_model.requires_grad_(False)
            self.fc = nn.Linear(config.hidden_size, config.hidden_size)
            self.fc1 = nn.Linear(config.hidden_size, config.semantic_hidden_size)
        else:
            # The checkpoint still holds the encoder side; skipping it is the point.
            self._keys_to_ignore_on_load_unexpected = [rf"^{name}\." for name in ENCODER_ONLY_MODULES]
        self.post_init()

    @staticmethod
    def _build_decoder(config: XCodecConfig) -> nn.Module:
        if config.acoustic_decoder_type == "istft":
            return ISTFTDecoder(
                config.acoustic_model_config.hidden_size, config.hop_length, **(config.istft_decoder_config or {})
            )
        decoder = replace_snake_activations(DacDecoder(config.acoustic_model_config))
        # X-Codec's DAC keeps every upsampling stage exactly x stride and has no output tanh.
        for module in decoder.modules():
            if isinstance(module, nn.ConvTranspose1d):
                module.output_padding = (module.stride[0] % 2,)
        decoder.tanh = nn.Identity()
        return decoder

    def train(self, mode: bool = True):
        super().train(mode)
        if hasattr(self, "semantic_model"):
            self.semantic_model.eval()  # a frozen teacher never runs dropout/masking
        return self

    # ------------------------------------------------------------------ input checks
    def _check_can_encode(self) -> None:
        if self.config.decode_only:
            raise ValueError(
                "This XCodecModel was loaded with decode_only=True and has no encoder. "
                "Reload it without decode_only to encode audio."
            )

    def _check_audio(self, input_values: torch.Tensor) -> None:
        if not isinstance(input_values, torch.Tensor):
            raise ValueError(
                f"input_values must be a torch.Tensor of shape (batch, 1, samples), got {type(input_values)}."
            )
        if input_values.dim() != 3:
            raise ValueError(
                f"input_values must have shape (batch, 1, samples), got {tuple(input_values.shape)}. "
                "Add the channel axis with `audio[:, None, :]` (or `audio[None, None, :]` for one clip)."
            )
        if input_values.shape[1] != 1:
            raise ValueError(
                f"X-Codec is mono but got {input_values.shape[1]} channels. Downmix first, e.g. "
                "`audio.mean(dim=1, keepdim=True)`."
            )
        if not torch.is_floating_point(input_values):
            raise ValueError(f"input_values must be floating point audio in [-1, 1], got dtype {input_values.dtype}.")
        if not torch.isfinite(input_values).all():
            raise ValueError("input_values contains NaN or Inf samples; clean the audio (e.g. torch.nan_to_num).")
        if input_values.shape[-1] < self.config.hop_length:
            raise ValueError(
                f"Audio of {input_values.shape[-1]} samples is shorter than one codec frame "
                f"({self.config.hop_length} samples at {self.config.sample_rate} Hz); pad it."
            )

    def _valid_lengths(self, padding_mask: torch.Tensor | None, input_values: torch.Tensor) -> torch.Tensor:
        batch, _, samples = input_values.shape
        if padding_mask is None:
            return torch.full((batch,), samples, dtype=torch.long)
        mask = padding_mask.reshape(batch, -1) if padding_mask.dim() == 3 else padding_mask
        if mask.shape != (batch, samples):
            raise ValueError(
                f"padding_mask must have shape (batch, samples) = {(batch, samples)}, got {tuple(padding_mask.shape)}."
            )
        mask = mask.bool().cpu()
        lengths = mask.sum(-1)
        prefix = torch.arange(samples).unsqueeze(0) < lengths.unsqueeze(1)
        if not torch.equal(mask, prefix):
            raise ValueError(
                "padding_mask must mark each item's valid audio as a prefix (ones, then zeros): right padding only."
            )
        if (lengths < self.config.hop_length).any():
            raise ValueError(
                f"Every item needs at least {self.config.hop_length} valid samples; got lengths {lengths.tolist()}."
            )
        return lengths

    def _check_codes(self, audio_codes: torch.Tensor) -> None:
        if not isinstance(audio_codes, torch.Tensor) or audio_codes.dim() != 3:
            shape = tuple(audio_codes.shape) if isinstance(audio_codes, torch.Tensor) else type(audio_codes)
            raise ValueError(f"audio_codes must be a tensor of shape (batch, num_quantizers, frames), got {shape}.")
        if torch.is_floating_point(audio_codes):
            raise ValueError("audio_codes must be integer code indices, got a floating point tensor.")
        if not 1 <= audio_codes.shape[1] <= self.config.num_quantizers:
            raise ValueError(
                f"audio_codes has {audio_codes.shape[1]} codebooks; this codec has 1..{self.config.num_quantizers}."
            )
        if audio_codes.numel() and (audio_codes.min() < 0 or audio_codes.max() >= self.config.codebook_size):
            raise ValueError(
                f"audio_codes must lie in [0, {self.config.codebook_size}), got values in "
                f"[{int(audio_codes.min())}, {int(audio_codes.max())}]. Strip special tokens (BOS/EOS/PAD) first."
            )

    # ------------------------------------------------------------------ encoder internals
    def _acoustic_frames(self, num_samples: int) -> int:
        for module in self.acoustic_encoder.modules():
            if isinstance(module, nn.Conv1d):
                num_samples = conv1d_output_length(module, num_samples)
        return num_samples

    def _semantic_features(self, teacher_input: torch.Tensor) -> torch.Tensor:
        """Mean of all teacher hidden states, (B, hidden, frames); ``teacher_input`` is already padded."""
        with torch.no_grad():
            hidden_states = self.semantic_model(teacher_input, output_hidden_states=True).hidden_states
        return torch.stack(hidden_states, dim=1).mean(dim=1).transpose(1, 2)

    def _needs_acoustic_padding(self, num_samples: int) -> bool:
        """Whether the acoustic encoder runs on the 160-padded signal to match the teacher's frames."""
        return self._acoustic_frames(num_samples) != self.config.num_frames(num_samples)

    def _embed(self, teacher_input: torch.Tensor, acoustic_input: torch.Tensor):
        """Fused pre-quantisation latent (B, D, frames) and the teacher features."""
        semantic = self._semantic_features(teacher_input)
        acoustic = self.acoustic_encoder(acoustic_input)
        if acoustic.shape[-1] != semantic.shape[-1]:
            raise ValueError(
                f"The semantic teacher produced {semantic.shape[-1]} frames but the acoustic encoder "
                f"{acoustic.shape[-1]}; the teacher's hop must equal the codec hop ({self.config.hop_length})."
            )
        fused = torch.cat([acoustic, self.encoder_semantic(semantic)], dim=1)
        return self.fc(fused.transpose(1, 2)).transpose(1, 2), semantic

    def _embed_whole(self, audio: torch.Tensor):
        padded = F.pad(audio, (self.pad, self.pad))
        acoustic_input = padded if self._needs_acoustic_padding(audio.shape[-1]) else audio
        return self._embed(padded[:, 0], acoustic_input)

    def _encode_whole(self, audio: torch.Tensor, num_quantizers: int) -> torch.Tensor:
        embeddings, _ = self._embed_whole(audio)
        return self.quantizer.encode(embeddings, num_quantizers).transpose(0, 1)

    def _encode_chunked(self, audio: torch.Tensor, num_quantizers: int, chunk_frames: int, context_frames: int):
        """Encode chunk by chunk; each chunk sees the same padded signal the whole-file path sees."""
        hop, samples = self.config.hop_length, audio.shape[-1]
        total = self.config.num_frames(samples)
        padded = F.pad(audio, (self.pad, self.pad))
        acoustic_source = padded if self._needs_acoustic_padding(samples) else audio
        # the teacher's last window reaches hop // 4 samples past the chunk's last hop
        teacher_tail = hop // 4
        codes = []
        for chunk in plan_chunks(total, chunk_frames, context_frames):
            start = chunk.context_start * hop
            last = chunk.context_end == total
            teacher_input = (
                padded[:, 0, start:] if last else padded[:, 0, start : chunk.context_end * hop + teacher_tail]
            )
            acoustic_input = (
                acoustic_source[..., start:] if last else acoustic_source[..., start : chunk.context_end * hop]
            )
            embeddings, _ = self._embed(teacher_input, acoustic_input)
            chunk_codes = self.quantizer.encode(embeddings, num_quantizers).transpose(0, 1)
            codes.append(chunk_codes[..., chunk.keep_offset : chunk.keep_offset + chunk.keep_length])
        return torch.cat(codes, dim=-1)

    # ------------------------------------------------------------------ public API
    @torch.no_grad()
    def encode(
        self,
        input_values: torch.Tensor,
        bandwidth: float | None = None,
        padding_mask: torch.Tensor | None = None,
        chunk_seconds: float | None = None,
        context_seconds: float = 1.0,
        sampling_rate: int | None = None,
        return_dict: bool | None = None,
    ) -> XCodecEncoderOutput | tuple:
        r"""Audio ``(B, 1, samples)`` at ``config.sample_rate`` → codes ``(B, n_q, frames)``.

        Args:
            input_values: mono float audio.
            bandwidth: kbps, one of ``config.target_bandwidths``; ``None`` uses all codebooks.
            padding_mask: ``(B, samples)`` with 1 on valid samples, 0 on right padding.
                **Guarantee:** with a mask, item ``i``'s codes over its
                ``audio_codes_lengths[i]`` frames are exactly ``encode(item_i[..., :len_i])``.
                Items are grouped by valid length and each group is encoded at that exact
                length (no zero padding reaches the teacher or the convolutions), so padding
                cannot change a code; items of equal length share one forward pass.  Frames past
                an item's length are filled with 0.  Without a mask every item is taken at the
                full length, exactly like transformers' ``XcodecModel``.
            chunk_seconds: encode in chunks of this many seconds (bounded memory for long
                audio); ``None`` encodes in one pass.
            context_seconds: extra audio each chunk sees on both sides; only the chunk's own
                frames are kept.
            sampling_rate: the rate of ``input_values``, checked against the codec's (pass it to
                catch unresampled audio; the codec never resamples silently).
        """
        if sampling_rate is not None and int(sampling_rate) != self.config.sample_rate:
            raise ValueError(
                f"Audio at {sampling_rate} Hz given to a {self.config.sample_rate} Hz codec; resample it first "
                "(e.g. songgen_hf.data.audio.resample or load_audio(path, sampling_rate=...))."
            )
        self._check_can_encode()
        self._check_audio(input_values)
        num_quantizers = self.config.num_quantizers_for_bandwidth(bandwidth)
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        lengths = self._valid_lengths(padding_mask, input_values)
        frame_lengths = torch.tensor([self.config.num_frames(int(n)) for n in lengths], dtype=torch.long)

        def encode_group(audio: torch.Tensor) -> torch.Tensor:
            frames = self.config.num_frames(audio.shape[-1])
            if chunk_seconds is not None:
                chunk_frames = seconds_to_frames(chunk_seconds, self.config.frame_rate, "chunk_seconds")
                if frames > chunk_frames:
                    context = seconds_to_frames(context_seconds, self.config.frame_rate, "context_seconds")
                    return self._encode_chunked(audio, num_quantizers, chunk_frames, context)
            return self._encode_whole(audio, num_quantizers)

        if padding_mask is None:
            codes = encode_group(input_values)
        else:
            codes = input_values.new_zeros(
                (input_values.shape[0], num_quantizers, int(frame_lengths.max())), dtype=torch.long
            )
            for length in lengths.unique().tolist():
                rows = (lengths == length).nonzero().flatten().to(input_values.device)
                group_codes = encode_group(input_values[rows, :, :length])
                codes[rows, :, : group_codes.shape[-1]] = group_codes
        frame_lengths = frame_lengths.to(codes.device)
        if not return_dict:
            return codes, frame_lengths
        return XCodecEncoderOutput(audio_codes=codes, audio_codes_lengths=frame_lengths)

    def _decode_whole(self, audio_codes: torch.Tensor) -> torch.Tensor:
        quantized = self.quantizer.decode(audio_codes.transpose(0, 1))
        return self.acoustic_decoder(self.fc2(quantized.transpose(1, 2)).transpose(1, 2))

    @property
    def has_spectral_decoder(self) -> bool:
        """True for the ISTFT decoder, whose decode splits into :meth:`decode_frames` and a synthesis."""
        return isinstance(self.acoustic_decoder, ISTFTDecoder)

    def decode_frames(self, audio_codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """ISTFT decoder only: codes ``(B, n_q, T)`` -> per-frame log-magnitudes and raw phases ``(B, bins, T)``.

        This is the time-local part of decoding (each frame depends on a few frames around it);
        ``acoustic_decoder.synthesize(log_magnitude, acoustic_decoder.phases(raw_phase))`` finishes
        it.  Chunked decoding and streaming use the split to keep phases continuous.
        """
        if not self.has_spectral_decoder:
            raise ValueError("decode_frames needs acoustic_decoder_type='istft'; this codec has a DAC decoder.")
        quantized = self.quantizer.decode(audio_codes.transpose(0, 1))
        return self.acoustic_decoder.frames(self.fc2(quantized.transpose(1, 2)).transpose(1, 2))

    def _synthesize(self, frames: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        log_magnitude, raw_phase = frames
        return self.acoustic_decoder.synthesize(log_magnitude, self.acoustic_decoder.phases(raw_phase))

    def _decode_spectral_chunks(self, audio_codes: torch.Tensor, chunks: list[Chunk]) -> torch.Tensor:
        """An ISTFT codec's chunked decode, each chunk synthesised on its own so memory stays that of one chunk.

        The network is local in time; the synthesis is not (windows overlap, and with accumulated phases a frame's
        phase is the running sum over every frame before it).  So each chunk's phases continue from the previous
        chunk's, pinned at the last frame the previous chunk kept (which this chunk computes with full context
        too), and the chunk's core samples are kept: away from the song's edges a core lies at least the context
        from its chunk's edges, where the overlap-add is complete, so the samples are the whole decode's."""
        decoder, hop = self.acoustic_decoder, self.config.hop_length
        reach = math.ceil(decoder.n_fft / (2 * hop))  # frames on each side that shape a frame's samples
        if any(c.keep_offset < reach for c in chunks[1:]) or any(
            c.context_end - c.core_end < reach for c in chunks[:-1]
        ):
            # too little context for a chunk's synthesis: the network per chunk, one synthesis of the whole song
            kept = []
            for chunk in chunks:
                frames = self.decode_frames(audio_codes[..., chunk.context_start : chunk.context_end])
                kept.append([f[..., chunk.keep_offset : chunk.keep_offset + chunk.keep_length] for f in frames])
            return self._synthesize(tuple(torch.cat(parts, dim=-1) for parts in zip(*kept)))
        pieces, anchor = [], None
        for chunk in chunks:
            log_magnitude, raw_phase = self.decode_frames(audio_codes[..., chunk.context_start : chunk.context_end])
            if decoder.phase == "absolute":
                phase = raw_phase
            else:
                summed = decoder.phase_steps(raw_phase).cumsum(dim=-1)  # float64, from this chunk's first frame
                if anchor is not None:
                    frame, value = anchor
                    offset = frame - chunk.context_start  # -1: the anchor is the frame just before this chunk
                    before = summed[..., offset : offset + 1] if offset >= 0 else torch.zeros_like(summed[..., :1])
                    summed = value[..., None] + summed - before
                anchor = (chunk.core_end - 1, summed[..., chunk.core_end - 1 - chunk.context_start])
                phase = torch.remainder(summed, 2 * math.pi).to(raw_phase.dtype)
            audio = decoder.synthesize(log_magnitude, phase)
            pieces.append(audio[..., chunk.keep_offset * hop : (chunk.keep_offset + chunk.keep_length) * hop])
        return torch.cat(pieces, dim=-1)

    def _decode_chunked(self, audio_codes: torch.Tensor, chunk_frames: int, context_frames: int) -> torch.Tensor:
        hop = self.config.hop_length
        chunks = plan_chunks(audio_codes.shape[-1], chunk_frames, context_frames)
        if self.has_spectral_decoder:
            return self._decode_spectral_chunks(audio_codes, chunks)
        pieces = []
        for chunk in chunks:
            audio = self._decode_whole(audio_codes[..., chunk.context_start : chunk.context_end])
            pieces.append(audio[..., chunk.keep_offset * hop : (chunk.keep_offset + chunk.keep_length) * hop])
        return torch.cat(pieces, dim=-1)

    def decode(
        self,
        audio_codes: torch.Tensor,
        audio_codes_lengths: torch.Tensor | None = None,
        chunk_seconds: float | None = None,
        context_seconds: float = 1.0,
        return_dict: bool | None = None,
    ) -> XCodecDecoderOutput | tuple:
        r"""Codes ``(B, n_q, frames)`` → audio ``(B, 1, frames * hop_length)``; any n_q ≤ num_quantizers.

        ``audio_codes_lengths`` (per-item valid frames, as ``encode`` returns them) makes the
        decode of a padded batch exact per item: each length group is decoded at its own
        length and samples past it are zero.  ``chunk_seconds`` decodes long sequences in
        chunks with ``context_seconds`` of codes on both sides.
        """
        self._check_codes(audio_codes)
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        batch, _, frames = audio_codes.shape
        if audio_codes_lengths is None:
            lengths = torch.full((batch,), frames, dtype=torch.long)
        else:
            lengths = torch.as_tensor(audio_codes_lengths, dtype=torch.long).cpu().reshape(-1)
            if lengths.shape[0] != batch or (lengths < 1).any() or (lengths > frames).any():
                raise ValueError(
                    f"audio_codes_lengths must hold {batch} lengths in [1, {frames}], got {lengths.tolist()}."
                )

        def decode_group(codes: torch.Tensor) -> torch.Tensor:
            if chunk_seconds is not None:
                chunk_frames = seconds_to_frames(chunk_seconds, self.config.frame_rate, "chunk_seconds")
                if codes.shape[-1] > chunk_frames:
                    context = seconds_to_frames(context_seconds, self.config.frame_rate, "context_seconds")
                    return self._decode_chunked(codes, chunk_frames, context)
            return self._decode_whole(codes)

        if audio_codes_lengths is None:
            audio = decode_group(audio_codes)
        else:
            audio = None
            for length in lengths.unique().tolist():
                rows = (lengths == length).nonzero().flatten().to(audio_codes.device)
                group_audio = decode_group(audio_codes[rows, :, :length])
                if audio is None:
                    audio = group_audio.new_zeros((batch, 1, frames * self.config.hop_length))
                audio[rows, :, : group_audio.shape[-1]] = group_audio
        sample_lengths = (lengths * self.config.hop_length).to(audio.device)
        if not return_dict:
            return audio, sample_lengths
        return XCodecDecoderOutput(audio_values=audio, audio_values_lengths=sample_lengths)

    def forward(
        self,
        input_values: torch.Tensor,
        audio_codes: torch.Tensor | None = None,
        bandwidth: float | None = None,
        return_semantic_loss: bool | None = None,
        return_spectral_frames: bool = False,
        return_dict: bool | None = None,
        **kwargs,
    ) -> XCodecOutput | tuple:
        r"""Reconstruct ``input_values``.

        In eval mode (or with ``audio_codes`` given) this is transformers' forward:
        ``decode(encode(x))`` trimmed to the input length.  In training mode it is the
        differentiable training pass: straight-through RVQ with EMA updates, quantiser
        dropout over ``target_bandwidths`` (unless ``bandwidth`` is given), commitment loss
        and the semantic reconstruction loss.  ``return_spectral_frames`` (ISTFT decoder only) also
        returns the decoder's spectral frames.
        """
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        length = input_values.shape[-1]
        if return_spectral_frames and not self.has_spectral_decoder:
            raise ValueError(
                "return_spectral_frames needs acoustic_decoder_type='istft'; this codec has a DAC decoder."
            )
        if audio_codes is not None or not (self.training or return_semantic_loss):
            if audio_codes is None:
                audio_codes = self.encode(input_values, bandwidth, return_dict=True).audio_codes
            frames = None
            if return_spectral_frames:
                frames = self.decode_frames(audio_codes)
                audio_values = self._synthesize(frames)[..., :length]
            else:
                audio_values = self.decode(audio_codes, return_dict=True).audio_values[..., :length]
            output = XCodecOutput(
                audio_codes=audio_codes,
                audio_values=audio_values,
                num_quantizers=audio_codes.shape[1],
                spectral_frames=frames,
            )
            return output if return_dict else output.to_tuple()

        self._check_can_encode()
        self._check_audio(input_values)
        num_quantizers = self._training_num_quantizers(bandwidth)
        embeddings, semantic = self._embed_whole(input_values)
        quantized = self.quantizer(embeddings, num_quantizers)
        latent = quantized["quantized"].transpose(1, 2)
        decoder_input = self.fc2(latent).transpose(1, 2)
        frames = None
        if return_spectral_frames:
            frames = self.acoustic_decoder.frames(decoder_input)
            audio_values = self._synthesize(frames).to(decoder_input.dtype)[..., :length]
        else:
            audio_values = self.acoustic_decoder(decoder_input)[..., :length]
        semantic_reconstruction = self.decoder_semantic(self.fc1(latent).transpose(1, 2))
        output = XCodecOutput(
            audio_codes=quantized["codes"].transpose(0, 1),
            audio_values=audio_values,
            commitment_loss=quantized["commitment_loss"],
            semantic_loss=F.mse_loss(semantic_reconstruction, semantic),
            semantic_features=semantic,
            num_quantizers=num_quantizers,
            spectral_frames=frames,
        )
        return output if return_dict else output.to_tuple()

    def _training_num_quantizers(self, bandwidth: float | None) -> int:
        if bandwidth is not None or not (self.training and self.config.quantizer_dropout):
            return self.config.num_quantizers_for_bandwidth(bandwidth)
        choice = torch.tensor(random.randrange(len(self.config.target_bandwidths)))
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            # every replica must use the same depth or the all-reduced statistics diverge
            choice = choice.to(self.fc.weight.device)
            torch.distributed.broadcast(choice, src=0)
        return self.config.num_quantizers_for_bandwidth(self.config.target_bandwidths[int(choice)])


__all__ = [
    "Chunk",
    "ConvNeXtBlock",
    "InverseSTFT",
    "ISTFTDecoder",
    "kmeans",
    "MelTeacherModel",
    "PHASE_MODES",
    "pitch_class_filters",
    "plan_chunks",
    "replace_snake_activations",
    "seconds_to_frames",
    "Snake1d",
    "XCodecDecoderOutput",
    "XCodecEncoderOutput",
    "XCodecEuclideanCodebook",
    "XCodecModel",
    "XCodecOutput",
    "XCodecPreTrainedModel",
    "XCodecResidualVectorQuantizer",
]
