"""The multi-period waveform discriminator and the ensemble that joins it to the multi-frequency one."""

from __future__ import annotations

import math

import pytest
import torch

from songgen_hf.modeling.xcodec.adversarial import discriminator_loss, feature_matching_loss, generator_adversarial_loss
from songgen_hf.modeling.xcodec.discriminator import MultiFrequencyDiscriminator
from songgen_hf.modeling.xcodec.period_discriminator import (
    DiscriminatorEnsemble,
    MultiPeriodDiscriminator,
    PeriodSubDiscriminator,
)

SR = 16000


def test_fold_puts_every_p_th_sample_in_one_column_and_reflects_the_tail():
    sub = PeriodSubDiscriminator(period=3, hidden_channels=8)
    waveform = torch.arange(10, dtype=torch.float32).unsqueeze(0)  # 10 samples: 2 short of 4 whole periods
    folded = sub.fold(waveform)
    assert folded.shape == (1, 1, 4, 3)
    assert folded[0, 0, :, 0].tolist() == [0, 3, 6, 9]
    assert folded[0, 0, :3, 1].tolist() == [1, 4, 7]
    # the two padded samples mirror the signal before the end (8, 7), they are not zeros
    assert folded[0, 0, 3, 1:].tolist() == [8, 7]


def test_every_period_gives_logits_and_one_feature_map_per_layer():
    mpd = MultiPeriodDiscriminator(periods=(2, 3, 5), hidden_channels=16)
    logits, maps = mpd(torch.randn(2, 1, 4000) * 0.1)
    assert len(logits) == len(maps) == 3
    for period, scale_logits, scale_maps in zip((2, 3, 5), logits, maps):
        assert scale_logits.shape[0] == 2 and scale_logits.shape[1] == 1
        assert scale_logits.shape[-1] == period  # the fold's columns are never mixed
        assert len(scale_maps) == 5
    # the GAN losses take its output as they take the multi-frequency discriminator's
    fake_logits, fake_maps = mpd(torch.randn(2, 1, 4000) * 0.1)
    for value in (
        discriminator_loss(logits, fake_logits),
        generator_adversarial_loss(fake_logits),
        feature_matching_loss(maps, fake_maps),
    ):
        assert torch.isfinite(value)


def test_it_learns_to_tell_a_voice_like_pulse_train_from_the_same_partials_with_scrambled_phases():
    """What it is for: harmonics of equal magnitude whose phases are aligned (a glottal-pulse-like wave) against
    the same harmonics with random phases (the 'partials smeared into noise' a magnitude loss cannot see)."""
    torch.manual_seed(0)
    t = torch.arange(3200) / SR

    def harmonics(batch, aligned):
        f0 = 110 + 60 * torch.rand(batch, 1, 1)
        k = torch.arange(1, 21).view(1, 20, 1)
        phase = torch.zeros(batch, 20, 1) if aligned else 2 * math.pi * torch.rand(batch, 20, 1)
        wave = (torch.cos(2 * math.pi * f0 * k * t + phase) / 20).sum(1, keepdim=True)
        return wave / wave.abs().amax(-1, keepdim=True) * 0.5

    # width 64: HiFi-GAN's width ratios leave narrower stacks one or two channels in their first layers
    mpd = MultiPeriodDiscriminator(periods=(2, 3, 5), hidden_channels=64)
    optimiser = torch.optim.Adam(mpd.parameters(), lr=3e-3)
    losses = []
    for _ in range(100):
        real_logits, _ = mpd(harmonics(8, aligned=True))
        fake_logits, _ = mpd(harmonics(8, aligned=False))
        loss = discriminator_loss(real_logits, fake_logits)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert sum(losses[-10:]) / 10 < 0.25 * sum(losses[:5]) / 5, losses


def test_ensemble_concatenates_the_scales_of_its_members_in_order():
    mfd = MultiFrequencyDiscriminator(hop_lengths=(8, 16), hidden_channels=8)
    mpd = MultiPeriodDiscriminator(periods=(2, 3), hidden_channels=8)
    ensemble = DiscriminatorEnsemble([mfd, mpd])
    audio = torch.randn(1, 1, 2048) * 0.1
    logits, maps = ensemble(audio)
    assert len(logits) == len(maps) == 4
    assert torch.equal(logits[0], mfd(audio)[0][0]) and torch.equal(logits[3], mpd(audio)[0][1])
    assert ensemble.min_length == max(mfd.min_length, mpd.min_length)


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: MultiPeriodDiscriminator(periods=()), "at least one"),
        (lambda: MultiPeriodDiscriminator(periods=(2, 2)), "distinct"),
        (lambda: PeriodSubDiscriminator(period=0, hidden_channels=8), "positive"),
        (lambda: PeriodSubDiscriminator(period=2, hidden_channels=0), "positive"),
        (lambda: DiscriminatorEnsemble([]), "at least one"),
    ],
)
def test_bad_settings_are_refused(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_bad_input_is_refused_with_the_fix():
    mpd = MultiPeriodDiscriminator(periods=(2, 11), hidden_channels=8)
    with pytest.raises(ValueError, match="unsqueeze"):
        mpd(torch.randn(2, 4000))
    with pytest.raises(ValueError, match="at least 2 \\* max\\(periods\\) = 22 samples"):
        mpd(torch.randn(1, 1, 21))
