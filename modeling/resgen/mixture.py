"""The mixture-of-Gaussians output of ResGen and what the sampler does with it.

At every frame the model outputs a mixture of ``K`` diagonal Gaussians over the codec quantizer's
latent space (dimension ``C``): the distribution of z = the sum of the codebook vectors of the
frame's masked tokens.  Here: the head, the negative log-likelihood (the training loss), guidance,
sampling (top-p over the components, then a Gaussian draw) and the residual quantization of a
sampled z into tokens of the masked depths with the codec's own codebooks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from transformers.utils import ModelOutput

from songgen_hf.modeling.resgen.masking import GeneratorArg, batch_rand

_LOG_2PI = math.log(2 * math.pi)


@dataclass
class ResGenMixture(ModelOutput):
    """Per-frame mixture parameters.

    Args:
        logits: ``(batch, frames, K)`` unnormalised component log-weights.
        means: ``(batch, frames, K, C)``.
        log_scales: ``(batch, frames, K, C)`` log standard deviations.
    """

    logits: torch.Tensor | None = None
    means: torch.Tensor | None = None
    log_scales: torch.Tensor | None = None

    def select(self, rows) -> ResGenMixture:
        return ResGenMixture(self.logits[rows], self.means[rows], self.log_scales[rows])


class ResGenMixtureHead(nn.Module):
    """hidden ``(B, T, H)`` -> :class:`ResGenMixture` with ``K`` components over ``C`` dimensions."""

    def __init__(self, hidden_size: int, num_mixtures: int, latent_dim: int, min_log_scale: float):
        super().__init__()
        self.num_mixtures, self.latent_dim, self.min_log_scale = num_mixtures, latent_dim, float(min_log_scale)
        self.proj = nn.Linear(hidden_size, num_mixtures * (1 + 2 * latent_dim))

    def forward(self, hidden: torch.Tensor) -> ResGenMixture:
        batch, frames, _ = hidden.shape
        k, c = self.num_mixtures, self.latent_dim
        out = self.proj(hidden).float()  # the likelihood is computed in float32 whatever the model's dtype
        logits, means, raw_scales = out.split([k, k * c, k * c], dim=-1)
        floor = self.min_log_scale
        log_scales = floor + nn.functional.softplus(raw_scales - floor)  # smooth floor: gradients never die
        shape = (batch, frames, k, c)
        return ResGenMixture(logits, means.reshape(shape), log_scales.reshape(shape))


def component_log_prob(mixture: ResGenMixture, z: torch.Tensor) -> torch.Tensor:
    """``(B, T, K)`` log N(z; mu_k, sigma_k) for z ``(B, T, C)``."""
    z = z.float().unsqueeze(2)
    scaled = (z - mixture.means) * torch.exp(-mixture.log_scales)
    return -0.5 * (scaled.square() + _LOG_2PI).sum(-1) - mixture.log_scales.sum(-1)


def joint_log_prob(mixture: ResGenMixture, z: torch.Tensor) -> torch.Tensor:
    """``(B, T, K)`` log w_k + log N(z; mu_k, sigma_k): its logsumexp is log p(z), its softmax the responsibilities."""
    return torch.log_softmax(mixture.logits, dim=-1) + component_log_prob(mixture, z)


def mixture_log_prob(mixture: ResGenMixture, z: torch.Tensor) -> torch.Tensor:
    """``(B, T)`` log p(z) under the mixture."""
    return torch.logsumexp(joint_log_prob(mixture, z), dim=-1)


def predicted_variance(mixture: ResGenMixture, z: torch.Tensor, joint: torch.Tensor | None = None) -> torch.Tensor:
    """``(B, T)`` the variance the mixture predicts for z, per latent dimension: each component's mean
    variance weighted by its responsibility for z (its posterior weight).  Detached: a loss weight.
    ``joint``: :func:`joint_log_prob` of the same z, when the caller has it already."""
    with torch.no_grad():
        responsibility = torch.softmax(joint_log_prob(mixture, z) if joint is None else joint, dim=-1)
        variance = torch.exp(2 * mixture.log_scales).mean(-1)  # (B, T, K)
        return (responsibility * variance).sum(-1)


def mixture_nll_sum(
    mixture: ResGenMixture, target: torch.Tensor, weight: torch.Tensor, beta: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(sum, count)``: negative log-likelihood per latent dimension summed over the frames where ``weight``
    (``(B, T)`` bool) is set, and how many they are (for normalising over micro-batches and processes).

    ``beta`` > 0 gives beta-NLL (Seitzer et al., ICLR 2022): each frame's NLL is multiplied by its
    predicted variance to the power ``beta``, without a gradient through that factor.  Why: the NLL's
    gradient on a mean is (mu - z) / sigma^2, so frames whose only masked depth is a fine residual
    (sigma small) pull on the network far harder than fully masked frames, whose coarse content is
    the music (measured on the tiny model: 30x per frame).  beta = 1 makes every mean's gradient that
    of a squared error; 0.5 is the middle that Seitzer et al. recommend."""
    joint = joint_log_prob(mixture, target)  # once: the likelihood and the responsibilities both read it
    nll = -torch.logsumexp(joint, dim=-1) / target.shape[-1]
    if beta:
        nll = nll * predicted_variance(mixture, target, joint).pow(beta)
    weight = weight.to(nll.dtype)
    return (nll * weight).sum(), weight.sum()


def mixture_nll(mixture: ResGenMixture, target: torch.Tensor, weight: torch.Tensor, beta: float = 0.0) -> torch.Tensor:
    """Mean (beta-weighted, see :func:`mixture_nll_sum`) negative log-likelihood per latent dimension over
    frames where ``weight`` (``(B, T)`` bool) is set."""
    total, count = mixture_nll_sum(mixture, target, weight, beta)
    return total / count.clamp(min=1)


def guide(conditional: ResGenMixture, unconditional: ResGenMixture, scale: float) -> ResGenMixture:
    """Classifier-free guidance on the mixture: means and component log-weights are extrapolated
    away from the null condition by ``scale``; the conditional scales are kept (extrapolating
    log-variances can make them explode).  Callers skip this for ``scale == 1`` (exact conditional)."""
    logits = torch.log_softmax(unconditional.logits, -1) + scale * (
        torch.log_softmax(conditional.logits, -1) - torch.log_softmax(unconditional.logits, -1)
    )
    means = unconditional.means + scale * (conditional.means - unconditional.means)
    return ResGenMixture(logits, means, conditional.log_scales)


def top_p_filter(logits: torch.Tensor, top_p: float) -> torch.Tensor:
    """Component log-weights with the smallest set whose probability reaches ``top_p`` kept, others -inf."""
    if top_p >= 1.0:
        return logits
    probs = torch.softmax(logits, dim=-1)
    sorted_probs, order = probs.sort(dim=-1, descending=True)
    before = sorted_probs.cumsum(-1) - sorted_probs  # mass of the components ranked above
    drop_sorted = before >= top_p  # the most likely component always stays (before = 0)
    drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
    return logits.masked_fill(drop, float("-inf"))


def sample_latent(
    mixture: ResGenMixture, generator: GeneratorArg = None, top_p: float = 1.0, noise_scale: float = 1.0
) -> torch.Tensor:
    """Draw z ``(B, T, C)``: a component from the top-p filtered weights, then mu + noise_scale * sigma * eps."""
    batch, frames, k, c = mixture.means.shape
    device = mixture.means.device
    logits = top_p_filter(mixture.logits, top_p)
    uniform = batch_rand((batch, frames, k), generator, device).clamp(1e-20, 1.0 - 1e-7)
    choice = (logits - torch.log(-torch.log(uniform))).argmax(dim=-1)  # Gumbel-max: a categorical draw
    index = choice.view(batch, frames, 1, 1).expand(batch, frames, 1, c)
    mean = mixture.means.gather(2, index).squeeze(2)
    if noise_scale == 0:
        return mean
    scale = torch.exp(mixture.log_scales.gather(2, index).squeeze(2))
    return mean + noise_scale * scale * batch_rand((batch, frames, c), generator, device, normal=True)


def residual_quantize(z: torch.Tensor, codebooks: torch.Tensor, start_depth: torch.Tensor, mask_token_id: int):
    """Quantize z ``(B, T, C)`` into depths ``start_depth .. D-1`` of each frame with the codebooks ``(D, V, C)``.

    Greedy RVQ as the codec does it: each depth takes the codeword nearest to what the previous
    depths left over.  Returns ``(tokens (B, D, T), quantized (B, T, C))``: tokens at depths below
    ``start_depth`` are ``mask_token_id`` (the caller keeps its own), ``quantized`` is the sum of the
    chosen codewords.
    """
    depth = codebooks.shape[0]
    residual = z.float()
    quantized = torch.zeros_like(residual)
    tokens = []
    for level in range(depth):
        table = codebooks[level].float()  # (V, C)
        distance = residual.square().sum(-1, keepdim=True) - 2 * residual @ table.t() + table.square().sum(-1)
        index = distance.argmin(dim=-1)
        active = (start_depth <= level).unsqueeze(-1)
        codeword = table[index] * active
        residual = residual - codeword
        quantized = quantized + codeword
        tokens.append(torch.where(active.squeeze(-1), index, mask_token_id))
    return torch.stack(tokens, dim=1), quantized


__all__ = [
    "ResGenMixture",
    "ResGenMixtureHead",
    "component_log_prob",
    "guide",
    "joint_log_prob",
    "mixture_log_prob",
    "mixture_nll",
    "mixture_nll_sum",
    "predicted_variance",
    "residual_quantize",
    "sample_latent",
    "top_p_filter",
]
