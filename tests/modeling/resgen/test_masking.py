"""ResGen's masking: training masks follow the schedule, finest depths first, spread over frames at random;
the sampler's per-step counts reach zero in exactly the requested steps."""

import math

import pytest
import torch

from songgen_hf.modeling.resgen import ResGenScheduler
from songgen_hf.modeling.resgen.masking import (
    mask_fraction,
    masked_after_step,
    training_mask,
)

DEPTH, FRAMES = 4, 25


def _codes(batch=3):
    return torch.randint(0, 64, (batch, DEPTH, FRAMES), generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("schedule", ["cosine", "linear", "square"])
@pytest.mark.parametrize("ratio", [0.0, 0.1, 0.5, 0.9, 0.999])
def test_mask_count_follows_the_schedule(schedule, ratio):
    codes = _codes()
    lengths = torch.tensor([FRAMES, 17, 3])
    frame_mask = torch.arange(FRAMES) < lengths[:, None]
    mask = training_mask(codes, torch.full((3,), ratio), schedule, frame_mask, torch.Generator().manual_seed(0))
    expected = [
        max(1, math.ceil(float(mask_fraction(torch.tensor(ratio), schedule)) * int(n) * DEPTH)) for n in lengths
    ]
    assert mask.flatten(1).sum(1).tolist() == [min(e, int(n) * DEPTH) for e, n in zip(expected, lengths)]
    assert not mask.transpose(1, 2)[~frame_mask].any()  # padding is never masked


def test_fine_depths_are_masked_before_coarse_at_every_frame():
    mask = training_mask(_codes(64), generator=torch.Generator().manual_seed(3))
    # at each frame the masked depths are a suffix: masked at depth j implies masked at every finer depth
    assert (mask[:, 1:] >= mask[:, :-1]).all()
    assert mask.any() and (~mask).any()


def test_masked_tokens_spread_over_frames_at_random():
    generator = torch.Generator().manual_seed(5)
    counts = torch.zeros(FRAMES)
    draws = 400
    for _ in range(draws):
        mask = training_mask(_codes(1), torch.tensor([0.6]), "linear", None, generator)
        counts += mask[0].sum(0)
    per_frame = counts / draws  # 40 % of 100 tokens -> 1.6 per frame on average, at every frame alike
    assert torch.allclose(per_frame, torch.full((FRAMES,), 0.4 * DEPTH), atol=0.25)
    # not always the same frames: a frame is fully masked in some draws and not in others
    assert 0 < per_frame.min() and per_frame.max() < DEPTH


def test_training_masks_are_reproducible_by_generator():
    first = training_mask(_codes(), generator=torch.Generator().manual_seed(7))
    again = training_mask(_codes(), generator=torch.Generator().manual_seed(7))
    other = training_mask(_codes(), generator=torch.Generator().manual_seed(8))
    assert torch.equal(first, again) and not torch.equal(first, other)


@pytest.mark.parametrize("steps", [1, 2, 7, 16, 100])
@pytest.mark.parametrize("schedule", ["cosine", "linear"])
def test_sampling_counts_reveal_every_token_in_exactly_the_steps(steps, schedule):
    total = torch.tensor([100, 250])
    current = total.clone()
    for step in range(steps):
        after = masked_after_step(step, steps, total, current, schedule)
        assert (after < current).all(), "every step reveals at least one token"
        unconstrained = torch.floor(
            mask_fraction(torch.tensor((step + 1) / steps, dtype=torch.float64), schedule) * total
        )
        # the schedule is followed unless one-token-per-step forces more
        assert ((after == unconstrained.long()) | (after == current - 1) | (after == steps - step - 1)).all()
        current = after
    assert current.tolist() == [0, 0]


def test_scheduler_add_noise_masks_with_the_mask_id():
    scheduler = ResGenScheduler(mask_schedule="linear")
    codes = _codes()
    noisy = scheduler.add_noise(
        codes, torch.tensor([0.5, 0.5, 0.5]), torch.Generator().manual_seed(0), mask_token_id=64
    )
    masked = noisy == 64
    assert masked.flatten(1).sum(1).tolist() == [50, 50, 50]
    assert torch.equal(noisy[~masked], codes[~masked])
