"""LSGAN and feature-matching losses for multi-scale discriminators.

The functions take the per-scale outputs of
:class:`~.discriminator.MultiFrequencyDiscriminator` (lists of logit patches and
lists of feature-map lists) and return float32 scalars; weighting is left to the
caller.  X-Codec weights the generator terms with :data:`ADVERSARIAL_WEIGHT`
(1) and :data:`FEATURE_MATCHING_WEIGHT` (20).

Least-squares GAN (Mao et al., 2017) regresses logits to 1 (real) and 0 (fake)
instead of using a sigmoid cross-entropy, so a generator whose samples are
already classified correctly still gets a gradient proportional to its
distance from the real target, rather than a saturated one.

Typical step::

    logits_fake, _ = disc(fake.detach())          # D update: no grad into G
    logits_real, _ = disc(real)
    d_loss = discriminator_loss(logits_real, logits_fake)

    logits_fake, maps_fake = disc(fake)          # G update
    _, maps_real = disc(real)
    g_loss = (ADVERSARIAL_WEIGHT * generator_adversarial_loss(logits_fake)
              + FEATURE_MATCHING_WEIGHT * feature_matching_loss(maps_real, maps_fake))
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

__all__ = [
    "ADVERSARIAL_WEIGHT",
    "FEATURE_MATCHING_WEIGHT",
    "discriminator_loss",
    "feature_matching_loss",
    "generator_adversarial_loss",
]

ADVERSARIAL_WEIGHT = 1.0
FEATURE_MATCHING_WEIGHT = 20.0


def _check_scales(first: Sequence, second: Sequence, what: str) -> None:
    if len(first) == 0:
        raise ValueError(f"{what}: got no discriminator scales.")
    if len(first) != len(second):
        raise ValueError(
            f"{what}: real and fake outputs have {len(first)} and {len(second)} scales; both must come "
            f"from the same discriminator."
        )


def discriminator_loss(real_logits: Sequence[torch.Tensor], fake_logits: Sequence[torch.Tensor]) -> torch.Tensor:
    """``mean_s [ E(D_s(x) - 1)^2 + E D_s(G(z))^2 ]`` over scales ``s``.

    Compute ``fake_logits`` from a detached generator output so this loss does
    not back-propagate into the generator.
    """
    _check_scales(real_logits, fake_logits, "discriminator_loss")
    total = real_logits[0].new_zeros((), dtype=torch.float32)
    for real, fake in zip(real_logits, fake_logits):
        real, fake = real.float(), fake.float()
        total = total + (real - 1.0).square().mean() + fake.square().mean()
    return total / len(real_logits)


def generator_adversarial_loss(fake_logits: Sequence[torch.Tensor]) -> torch.Tensor:
    """``mean_s E(D_s(G(z)) - 1)^2``: push the fake logits towards "real"."""
    if len(fake_logits) == 0:
        raise ValueError("generator_adversarial_loss: got no discriminator scales.")
    total = fake_logits[0].new_zeros((), dtype=torch.float32)
    for fake in fake_logits:
        total = total + (fake.float() - 1.0).square().mean()
    return total / len(fake_logits)


def feature_matching_loss(
    real_feature_maps: Sequence[Sequence[torch.Tensor]],
    fake_feature_maps: Sequence[Sequence[torch.Tensor]],
) -> torch.Tensor:
    """Mean over every layer of every scale of ``L1(fake, stopgrad(real))``.

    Matching the discriminator's hidden activations gives the generator a dense,
    stable regression target (a learned perceptual distance) instead of a single
    real/fake score.  The real maps are detached: the discriminator must not be
    trained to make its features easy to match, and no gradient should reach
    whatever produced the real input.
    """
    _check_scales(real_feature_maps, fake_feature_maps, "feature_matching_loss")
    total, count = None, 0
    for scale, (real_maps, fake_maps) in enumerate(zip(real_feature_maps, fake_feature_maps)):
        if len(real_maps) != len(fake_maps):
            raise ValueError(
                f"feature_matching_loss: scale {scale} has {len(real_maps)} real and {len(fake_maps)} fake "
                f"feature maps; both must come from the same discriminator."
            )
        for real, fake in zip(real_maps, fake_maps):
            term = F.l1_loss(fake.float(), real.detach().float())
            total = term if total is None else total + term
            count += 1
    if total is None:
        raise ValueError("feature_matching_loss: the discriminator returned no feature maps.")
    return total / count
