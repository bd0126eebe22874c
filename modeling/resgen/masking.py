"""ResGen's masking: the schedule, training masks (forward process) and the sampler's unmasking counts.

Tokens are ``(batch, depth, frames)`` codec codes; a masked token holds ``mask_token_id``
(= codebook_size).  Masking is *coarse-to-fine* in reverse: at every frame the masked depths are
always the finest ones, so a frame is described by one number, how many of its depths are masked.

* **Training masks** (:func:`training_mask`), as in the paper: draw a ratio r ~ U(0, 1), mask
  n = ceil(gamma(r) * N) of the N tokens, spread n over the frames at random (every token slot
  equally likely, a frame holding at most ``depth`` of them: multinomial sampling without
  replacement), and at each frame mask that many of its finest depths.
* **Sampling counts** (:func:`masked_after_step`): after step s of S, ``floor(gamma(s / S) * N)``
  tokens are still masked, with at least one token revealed per step and none left after the last.

Random draws take a ``torch.Generator`` or a list of them, one per batch item: with a list, item
b's draws come from its own generator only, so a song does not depend on the batch it is in.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

MASK_SCHEDULES: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    # gamma(r): fraction of tokens masked at ratio r in [0, 1]; gamma(0) = 1 (all), gamma(1) = 0 (none)
    "cosine": lambda r: torch.cos(r * (math.pi / 2)),
    "linear": lambda r: 1.0 - r,
    "square": lambda r: 1.0 - r * r,
}

GeneratorArg = torch.Generator | Sequence[torch.Generator] | None


def mask_fraction(ratio: torch.Tensor, schedule: str = "cosine") -> torch.Tensor:
    """gamma(ratio) for the named schedule, clamped to [0, 1]."""
    if schedule not in MASK_SCHEDULES:
        raise ValueError(f"Unknown mask schedule {schedule!r}; choose one of {sorted(MASK_SCHEDULES)}.")
    return MASK_SCHEDULES[schedule](ratio.double()).clamp(0.0, 1.0)


def check_generators(generator: GeneratorArg, batch: int) -> None:
    if isinstance(generator, (list, tuple)):
        if len(generator) != batch:
            raise ValueError(
                f"Got {len(generator)} generators for {batch} songs; "
                "pass one torch.Generator per song, or a single one."
            )
        if not all(isinstance(g, torch.Generator) for g in generator):
            raise ValueError("generator must be a torch.Generator or a list of them.")
    elif generator is not None and not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be a torch.Generator or a list of them, got {type(generator).__name__}.")


def batch_rand(shape: tuple[int, ...], generator: GeneratorArg, device, normal: bool = False) -> torch.Tensor:
    """``torch.rand`` / ``torch.randn`` of ``shape`` (batch first), drawn per item from a list of generators.

    Draws are made on the generator's device (CPU generators draw on the CPU) and moved to ``device``."""
    draw = torch.randn if normal else torch.rand
    if isinstance(generator, (list, tuple)):
        check_generators(generator, shape[0])
        rows = [draw(shape[1:], generator=g, device=g.device) for g in generator]
        return torch.stack(rows).to(device)
    gen_device = generator.device if generator is not None else device
    return draw(shape, generator=generator, device=gen_device).to(device)


def masked_depth_counts(tokens: torch.Tensor, mask_token_id: int) -> torch.Tensor:
    """``(batch, frames)`` number of masked depths at each frame."""
    return (tokens == mask_token_id).sum(dim=1)


def mask_from_counts(counts: torch.Tensor, depth: int) -> torch.Tensor:
    """``(batch, depth, frames)`` bool mask with the ``counts`` finest depths of each frame masked."""
    depths = torch.arange(depth, device=counts.device).view(1, depth, 1)
    return depths >= (depth - counts).unsqueeze(1)


def training_mask(
    codes: torch.Tensor,
    ratios: torch.Tensor | None = None,
    schedule: str = "cosine",
    frame_mask: torch.Tensor | None = None,
    generator: GeneratorArg = None,
) -> torch.Tensor:
    """The paper's forward masking of ``codes`` ``(batch, depth, frames)``: a bool mask, True = masked.

    ``ratios``: ``(batch,)`` values of r in [0, 1] (drawn uniformly when ``None``).  ``frame_mask``:
    ``(batch, frames)``, True where a frame may be masked (real frames, not padding or a prompt).
    At least one token of every item with a maskable frame is masked, so every item has a target.
    """
    batch, depth, frames = codes.shape
    device = codes.device
    valid = torch.ones(batch, frames, dtype=torch.bool, device=device) if frame_mask is None else frame_mask.bool()
    if ratios is None:
        ratios = batch_rand((batch,), generator, device)
    ratios = torch.as_tensor(ratios, dtype=torch.float64, device=device).reshape(batch)
    total = valid.sum(dim=1).double() * depth
    count = torch.ceil(mask_fraction(ratios, schedule) * total).long()
    count = torch.minimum(count.clamp(min=1), total.long())
    # every valid token slot gets a random key; the `count` smallest are the masked slots
    keys = batch_rand((batch, depth, frames), generator, device)
    keys = keys.masked_fill(~valid.unsqueeze(1), 2.0).flatten(1)
    rank = keys.argsort(dim=1).argsort(dim=1)
    chosen = (rank < count.unsqueeze(1)).view(batch, depth, frames)
    return mask_from_counts(chosen.sum(dim=1), depth) & valid.unsqueeze(1)


def masked_after_step(
    step: int, num_steps: int, total: torch.Tensor, current: torch.Tensor, schedule: str = "cosine"
) -> torch.Tensor:
    """How many tokens stay masked after step ``step`` (0-based) of ``num_steps``.

    ``total``: ``(batch,)`` maskable tokens (frames to generate x depth); ``current``: masked now.
    Follows ``floor(gamma((step + 1) / num_steps) * total)``, reveals at least one token per step while
    enough remain for the steps left, and reaches 0 at the last step.
    """
    ratio = torch.full_like(total, (step + 1) / num_steps, dtype=torch.float64)
    target = torch.floor(mask_fraction(ratio, schedule) * total.double()).long()
    target = torch.minimum(target, current - 1)
    target = torch.maximum(target, torch.full_like(target, num_steps - step - 1))
    target = torch.minimum(target, current).clamp(min=0)
    if step == num_steps - 1:
        target = torch.zeros_like(target)
    return target


__all__ = [
    "MASK_SCHEDULES",
    "batch_rand",
    "check_generators",
    "mask_fraction",
    "mask_from_counts",
    "masked_after_step",
    "masked_depth_counts",
    "training_mask",
]
