"""Residual vector quantisation with EMA codebooks, as X-Codec trains it.

Inference is the plain RVQ of transformers' ``XcodecModel`` (same buffers, same arithmetic,
hence bit-identical codes).  Training adds the machinery that keeps a 1024-entry codebook
alive without a codebook loss:

* **EMA updates** - each codeword drifts towards the mean of the vectors assigned to it
  (decay 0.99).  Cluster sizes are Laplace-smoothed so a code that lost all its vectors
  does not divide by zero.
* **k-means initialisation** - an untrained codebook (``inited == 0``) is seeded by Lloyd's
  algorithm on the first training batch, so codewords start where the data is.
* **Dead-code replacement** - codes whose EMA usage drops below a threshold are re-seeded
  with random vectors of the current batch; the next EMA step folds them back in.
* **Straight-through estimator** - the decoder sees quantised values, the encoder receives
  the decoder's gradient as if quantisation were the identity.
* **Commitment loss** - pulls the encoder output towards its codewords.

Under ``torch.distributed`` the statistics are all-reduced and k-means / dead-code seeds
are broadcast from rank 0, so every replica keeps identical codebooks.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from songgen_hf.modeling.xcodec.configuration_xcodec import XCodecConfig


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


__all__ = ["XCodecResidualVectorQuantizer", "XCodecEuclideanCodebook", "kmeans"]
