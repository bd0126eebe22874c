"""SongGen's training objective: per-codebook masked cross-entropy and its weighting.

Codebooks are not equally hard nor equally important: the first (coarse) codebooks carry most
of the musical content, the later ones refine it.  SongGen therefore trains with a curriculum:
a stage starts with weights concentrated on the first three codebooks (0.25 each, 0.05 for the
rest) and moves towards uniform weights, ``w = (1 - a) * w0 + a / K``, with ``a`` stepping
0 -> 0.3 -> 0.6 -> 0.8 at 30 / 60 / 80 % of the stage.  The schedule restarts in every stage.

Losses are returned both as per-row means and as (sum, count) pairs, so a trainer can
normalise by the number of supervised tokens across gradient accumulation and processes
instead of averaging per-micro-batch means (which over-weights short batches).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from songgen_hf.modeling.patterns import IGNORE_INDEX

DEFAULT_ALPHA_STEPS = ((0.3, 0.0), (0.6, 0.3), (0.8, 0.6), (1.0, 0.8))


@dataclass(frozen=True)
class CodebookCurriculum:
    """Codebook weights as a function of a stage's progress (0 = start, 1 = end).

    Args:
        initial_weights: weights at the start of the stage (normalised to sum to 1).
        alpha_steps: ``(progress_upper_bound, alpha)`` pairs, ascending; progress at or below a
            bound gets its alpha.  SongGen: ``((0.3, 0), (0.6, 0.3), (0.8, 0.6), (1.0, 0.8))``.
    """

    initial_weights: Sequence[float]
    alpha_steps: Sequence[tuple[float, float]] = DEFAULT_ALPHA_STEPS

    def __post_init__(self):
        if not self.initial_weights or any(w < 0 for w in self.initial_weights) or sum(self.initial_weights) <= 0:
            raise ValueError(
                f"initial_weights must be non-negative and not all zero, got {list(self.initial_weights)}."
            )
        bounds = [bound for bound, _ in self.alpha_steps]
        if bounds != sorted(bounds) or not bounds or bounds[-1] < 1.0:
            raise ValueError(f"alpha_steps bounds must ascend and end at >= 1.0, got {bounds}.")

    def alpha(self, progress: float) -> float:
        progress = min(max(float(progress), 0.0), 1.0)
        for bound, alpha in self.alpha_steps:
            if progress <= bound:
                return float(alpha)
        return float(self.alpha_steps[-1][1])

    def weights(self, progress: float) -> torch.Tensor:
        initial = torch.tensor(self.initial_weights, dtype=torch.float32)
        initial = initial / initial.sum()
        alpha = self.alpha(progress)
        return (1 - alpha) * initial + alpha / initial.numel()

    def weights_at_step(self, step: int, total_steps: int) -> torch.Tensor:
        return self.weights(step / max(total_steps, 1))


def masked_row_cross_entropy(
    logits: torch.Tensor, labels: torch.Tensor, position_weights: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy summed per row over supervised positions.

    Args:
        logits: ``(batch, rows, length, vocab)``.
        labels: ``(batch, rows, length)`` with ``-100`` at unsupervised positions.
        position_weights: optional ``(length,)`` multipliers of each position's CE in the sums (the
            counts stay token counts, so the mean is the weighted loss per supervised token).

    Returns:
        ``(sums, counts)``, each ``(rows,)``: summed CE and number of supervised tokens per row.
    """
    batch, rows, length, vocab = logits.shape
    losses = F.cross_entropy(
        logits.float().reshape(-1, vocab), labels.reshape(-1), ignore_index=IGNORE_INDEX, reduction="none"
    ).view(batch, rows, length)
    if position_weights is not None:
        losses = losses * position_weights.to(losses)
    return losses.sum(dim=(0, 2)), row_token_counts(labels)


def row_token_counts(labels: torch.Tensor) -> torch.Tensor:
    """Supervised tokens per row of ``(batch, rows, length)`` labels (``IGNORE_INDEX`` cells excluded)."""
    return (labels != IGNORE_INDEX).sum(dim=(0, 2))


def combine_row_losses(row_means: torch.Tensor, codebook_weights: torch.Tensor, num_codebooks: int) -> torch.Tensor:
    """Weighted sum over codebooks; rows beyond K belong to further tracks, averaged equally.

    ``rows == K`` (mixed, interleaving): ``sum_k w_k CE_k``.
    ``rows == 2K`` (parallel): ``0.5 * sum_k w_k CE_k(acc) + 0.5 * sum_k w_k CE_k(vocal)``.
    """
    per_track = row_means.view(-1, num_codebooks)
    return (per_track * codebook_weights.to(per_track)).sum(dim=1).mean()


def check_labels(labels: torch.Tensor, batch: int, rows: int, length: int, vocab_size: int, name: str = "labels"):
    if labels.dim() != 3 or tuple(labels.shape) != (batch, rows, length):
        raise ValueError(
            f"{name} must have shape (batch, rows, length) = {(batch, rows, length)} to match the decoder inputs, "
            f"got {tuple(labels.shape)}. Build them with the model's token pattern (pattern.build_labels)."
        )
    real = labels[labels != IGNORE_INDEX]
    if real.numel() and (real.min() < 0 or real.max() >= vocab_size):
        raise ValueError(
            f"{name} must be in [0, {vocab_size}) or -100, got values in [{int(real.min())}, {int(real.max())}]."
        )


__all__ = ["CodebookCurriculum", "masked_row_cross_entropy", "combine_row_losses", "check_labels"]
