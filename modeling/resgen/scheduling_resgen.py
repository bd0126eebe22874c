"""``ResGenScheduler``: ResGen's iterative unmasking in diffusers' scheduler conventions.

A diffusers scheduler turns a model output into the next sample.  Here the sample is the token
state ``(batch, depth, frames)`` (masked tokens hold ``codebook_size``) and the model output the
per-frame :class:`~.mixture.ResGenMixture`.  One :meth:`ResGenScheduler.step`:

1. draws a latent z per frame from the mixture (a component by top-p, then a Gaussian draw);
2. residual-quantizes z into the frame's masked depths with the codec's codebooks, finest last;
3. scores each frame by the log-likelihood of the quantized vector under the mixture (per latent
   dimension), divides by ``temperature`` and adds Gumbel noise (sampling frames without
   replacement in proportion to exp(confidence / temperature));
4. reveals tokens so that the masked count follows the schedule: the coarsest masked depth over all
   frames first, the most confident frames first within a depth (so the frames' masked counts stay
   balanced, as in training masks); the rest are masked again.

:meth:`add_noise` is the forward process: the training masks of :func:`~.masking.training_mask`.
The config (``mask_schedule``, ``latent_noise_scale``) is saved by ``save_pretrained`` to
``scheduler_config.json`` and read back by ``from_pretrained``.
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.schedulers.scheduling_utils import SchedulerMixin
from diffusers.utils import BaseOutput

from songgen_hf.modeling.resgen.masking import (
    MASK_SCHEDULES,
    GeneratorArg,
    batch_rand,
    mask_from_counts,
    masked_after_step,
    training_mask,
)
from songgen_hf.modeling.resgen.mixture import ResGenMixture, mixture_log_prob, residual_quantize, sample_latent


@dataclass
class ResGenSchedulerOutput(BaseOutput):
    """
    Args:
        prev_sample: ``(batch, depth, frames)`` tokens after this step (still-masked ones hold the mask id).
        pred_original_sample: ``(batch, depth, frames)`` every token as this step predicted it.
    """

    prev_sample: torch.LongTensor
    pred_original_sample: torch.LongTensor | None = None


class ResGenScheduler(SchedulerMixin, ConfigMixin):
    """Confidence-ordered, coarse-to-fine unmasking of RVQ tokens (ResGen, arXiv 2412.10208).

    Args:
        mask_schedule: gamma(r), the fraction still masked after a fraction r of the steps
            (``"cosine"``, as MaskGIT and ResGen; ``"linear"``; ``"square"``).
        latent_noise_scale: multiplies the Gaussian noise of the latent draw (1 samples the
            mixture as trained, 0 takes the chosen component's mean).
    """

    config_name = "scheduler_config.json"
    order = 1

    @register_to_config
    def __init__(self, mask_schedule: str = "cosine", latent_noise_scale: float = 1.0):
        if mask_schedule not in MASK_SCHEDULES:
            raise ValueError(f"Unknown mask_schedule {mask_schedule!r}; choose one of {sorted(MASK_SCHEDULES)}.")
        if not 0.0 <= float(latent_noise_scale) <= 10.0:
            raise ValueError(f"latent_noise_scale must lie in [0, 10], got {latent_noise_scale!r}.")
        self.num_inference_steps: int | None = None
        self.timesteps = torch.zeros(0, dtype=torch.long)

    def set_timesteps(self, num_inference_steps: int, device: str | torch.device | None = None) -> None:
        """``timesteps`` become the step indices ``0 .. num_inference_steps - 1`` (one model call each)."""
        if (
            isinstance(num_inference_steps, bool)
            or not isinstance(num_inference_steps, Integral)
            or num_inference_steps < 1
        ):
            raise ValueError(f"num_inference_steps must be a whole number >= 1, got {num_inference_steps!r}.")
        self.num_inference_steps = int(num_inference_steps)
        self.timesteps = torch.arange(self.num_inference_steps, device=device)

    def scale_model_input(self, sample: torch.Tensor, timestep: int | None = None) -> torch.Tensor:
        return sample

    def add_noise(
        self,
        original_samples: torch.LongTensor,
        ratios: torch.Tensor | None = None,
        generator: GeneratorArg = None,
        frame_mask: torch.Tensor | None = None,
        mask_token_id: int | None = None,
    ) -> torch.LongTensor:
        """Training masks: ``original_samples`` ``(batch, depth, frames)`` with the masked tokens replaced by
        ``mask_token_id`` (default: one past the largest id the codec can emit, ``codebook_size``, which
        callers pass explicitly).  ``ratios`` ``(batch,)`` in [0, 1] (uniform draws when ``None``)."""
        if mask_token_id is None:
            raise ValueError("Pass mask_token_id (the model's config.decoder.mask_token_id).")
        mask = training_mask(original_samples, ratios, self.config.mask_schedule, frame_mask, generator)
        return original_samples.masked_fill(mask, mask_token_id)

    def step(
        self,
        model_output: ResGenMixture,
        timestep: int | torch.Tensor,
        sample: torch.LongTensor,
        codebooks: torch.Tensor,
        generator: GeneratorArg = None,
        temperature: float = 1.0,
        top_p: float = 1.0,
        frame_mask: torch.Tensor | None = None,
        return_dict: bool = True,
    ) -> ResGenSchedulerOutput | tuple:
        """One unmasking step.

        Args:
            model_output: the (guided) mixture for every frame, ``(batch, frames, K, C)`` means.
            timestep: the step index, an entry of ``self.timesteps``.
            sample: ``(batch, depth, frames)`` current tokens; masked ones hold ``codebooks.shape[1]``.
            codebooks: ``(depth, codebook_size, C)`` the codec's codebooks (the model's ``codebooks()``).
            generator: a ``torch.Generator`` or one per batch item.
            temperature: > 0, divides the confidence before Gumbel noise (higher = more random order).
            top_p: in (0, 1], nucleus over the mixture components.
            frame_mask: ``(batch, frames)`` True where tokens are generated (prompt frames False);
                it only sets the schedule's token count, since prompt tokens are never masked.
        """
        if self.num_inference_steps is None:
            raise ValueError("Call set_timesteps(num_inference_steps) before step().")
        step = int(timestep)
        if not 0 <= step < self.num_inference_steps:
            raise ValueError(f"timestep {step} is not one of this scheduler's steps 0..{self.num_inference_steps - 1}.")
        batch, depth, frames = sample.shape
        mask_token_id = codebooks.shape[1]
        masked = sample == mask_token_id
        counts = masked.sum(dim=1)  # (B, T) masked depths per frame
        z = sample_latent(model_output, generator, top_p, self.config.latent_noise_scale)
        filled, quantized = residual_quantize(z, codebooks, depth - counts, mask_token_id)
        predicted = torch.where(masked, filled, sample)

        confidence = mixture_log_prob(model_output, quantized) / quantized.shape[-1]
        uniform = batch_rand((batch, frames), generator, sample.device).clamp(1e-20, 1.0 - 1e-7)
        keys = confidence / float(temperature) - torch.log(-torch.log(uniform))
        keys = keys.masked_fill(counts == 0, float("-inf"))

        if frame_mask is None:
            frame_mask = torch.ones(batch, frames, dtype=torch.bool, device=sample.device)
        total = frame_mask.sum(dim=1).long() * depth
        current = counts.sum(dim=1)
        reveal = current - masked_after_step(step, self.num_inference_steps, total, current, self.config.mask_schedule)

        # Order masked tokens coarse depth first across frames, then by their frame's key within a
        # depth: the first `reveal` of each item are revealed.  A frame's depths are revealed coarse to
        # fine, and the frames' masked counts stay within one of each other, which is the state the
        # training masks produce (the masked tokens spread evenly over frames, finest first).  Ordering
        # by frame first would reveal whole frames next to fully masked ones, a state training never
        # shows the model (a frame has all its depths masked only when nearly every token is).
        token_keys = keys.unsqueeze(1).expand(batch, depth, frames).masked_fill(~masked, float("-inf"))
        by_key = token_keys.reshape(batch, depth * frames).argsort(dim=1, descending=True, stable=True)
        depth_of = torch.arange(depth, device=sample.device).repeat_interleave(frames).expand(batch, -1)
        depth_of = torch.where(masked.reshape(batch, -1), depth_of, depth)  # unmasked tokens last
        order = by_key.gather(1, depth_of.gather(1, by_key).argsort(dim=1, stable=True))
        rank = order.argsort(dim=1)
        chosen = (rank < reveal.unsqueeze(1)).view(batch, depth, frames)
        chosen &= masked
        new_counts = counts - chosen.sum(dim=1)
        still_masked = mask_from_counts(new_counts, depth)
        prev_sample = torch.where(still_masked, mask_token_id, predicted)
        prev_sample = torch.where(masked, prev_sample, sample)
        if not return_dict:
            return (prev_sample, predicted)
        return ResGenSchedulerOutput(prev_sample=prev_sample, pred_original_sample=predicted)


__all__ = ["ResGenScheduler", "ResGenSchedulerOutput"]
