"""The average-spectrum loss: lines at the frame rate's harmonics, which per-frame losses miss."""

import math

import numpy as np
import pytest
import torch

from songgen_hf.evaluation.metrics import frame_rate_comb, welch_power
from songgen_hf.modeling.xcodec.average_spectrum_loss import AverageSpectrumLoss, FrameRateCombLoss
from songgen_hf.modeling.xcodec.losses import MultiResolutionSTFTLoss

RATE = 16000


def song_like(seconds=1.0, seed=0):
    """A few harmonic tones over soft noise, shape (1, 1, samples)."""
    generator = torch.Generator().manual_seed(seed)
    t = torch.arange(int(RATE * seconds)) / RATE
    audio = 0.003 * torch.randn(t.shape, generator=generator)
    for f in (196.0, 246.9, 293.7):
        audio += sum(0.1 / k * torch.sin(2 * math.pi * k * f * t + k) for k in range(1, 4))
    return audio[None, None]


def frame_clock(samples, period=320):
    """The same short waveform every 20 ms: a decoder's 50 Hz frame clock leaking into its output."""
    pulse = torch.hann_window(32)
    clock = torch.zeros(samples)
    for start in range(0, samples - 32, period):
        clock[start : start + 32] += pulse
    return clock[None, None]


def test_identical_audio_costs_nothing_and_a_frame_clock_costs_what_the_comb_metric_sees():
    clean = song_like()
    buzzing = clean + 0.006 * frame_clock(clean.shape[-1])
    loss = AverageSpectrumLoss(RATE)
    assert loss(clean, clean).item() == 0.0
    buzz_cost = loss(buzzing, clean).item()
    # The evaluation's comb measure reads the same clip as a comb over the 1 dB target ...
    frequencies, clean_power = welch_power(clean[0, 0].numpy(), RATE)
    _, buzzing_power = welch_power(buzzing[0, 0].numpy(), RATE)
    assert frame_rate_comb(frequencies, clean_power, buzzing_power)["comb_excess_db"] > 1.5
    # ... and relative to a per-frame loss this one sees it far more strongly than a broadband change
    # of similar per-frame size (white noise at the same power as the clock).
    noise = torch.randn(clean.shape, generator=torch.Generator().manual_seed(1))
    noise *= (0.006 * frame_clock(clean.shape[-1])).pow(2).mean().sqrt() / noise.pow(2).mean().sqrt()
    noisy = clean + noise
    stft = MultiResolutionSTFTLoss()
    buzz_stft, noise_stft = sum(stft(buzzing[:, 0], clean[:, 0])).item(), sum(stft(noisy[:, 0], clean[:, 0])).item()
    assert buzz_cost / buzz_stft > 2 * loss(noisy, clean).item() / noise_stft


def test_its_gradient_removes_a_frame_clock():
    clean = song_like()
    clock = frame_clock(clean.shape[-1])
    amplitude = torch.tensor(0.01, requires_grad=True)
    loss = AverageSpectrumLoss(RATE)
    optimizer = torch.optim.Adam([amplitude], lr=2e-3)
    start = loss(clean + amplitude * clock, clean).item()
    for _ in range(40):
        optimizer.zero_grad()
        loss(clean + amplitude * clock, clean).backward()
        optimizer.step()
    assert abs(amplitude.item()) < 0.003
    assert loss(clean + amplitude.detach() * clock, clean).item() < 0.5 * start


def test_a_silent_target_gives_a_finite_loss_and_short_or_mismatched_input_is_refused():
    loss = AverageSpectrumLoss(RATE)
    silent = torch.zeros(2, 1, RATE)
    value = loss(song_like().expand(2, 1, -1), silent)
    assert torch.isfinite(value) and value > 0
    with pytest.raises(ValueError, match="at least 3200 samples"):
        loss(torch.zeros(1, 1, 3000), torch.zeros(1, 1, 3000))
    with pytest.raises(ValueError, match="differ in length"):
        loss(torch.zeros(1, 1, 4000), torch.zeros(1, 1, 5000))
    with pytest.raises(ValueError, match="Nyquist"):
        AverageSpectrumLoss(RATE, max_frequency=9000.0)


def test_bins_match_the_comb_metric():
    """5 Hz bins up to max_frequency, as the evaluation's Welch spectrum."""
    loss = AverageSpectrumLoss(RATE, max_frequency=2000.0)
    frequencies, _ = welch_power(np.zeros(RATE), RATE)
    assert loss.n_fft == 3200 and loss.bins == int(np.searchsorted(frequencies, 2000.0)) + 1


def test_the_comb_loss_sees_the_frame_clock_and_ignores_a_gain_or_a_tilt():
    clean = song_like().expand(4, 1, -1).clone()
    comb = FrameRateCombLoss(RATE, frame_rate=50.0)
    assert comb(clean, clean).item() == 0.0
    buzzing = clean + 0.006 * frame_clock(clean.shape[-1])
    assert comb(buzzing, clean).item() > 0.1
    # a gain and a gentle low-pass change the average spectrum everywhere, but form no comb
    tilted = one_pole_lowpass(2.0 * clean)
    assert comb(tilted, clean).item() < 0.25 * comb(buzzing, clean).item()
    assert AverageSpectrumLoss(RATE)(tilted, clean).item() > 0.5


def one_pole_lowpass(audio):
    """A one-pole low-pass (y[n] = 0.5 x[n] + 0.5 y[n-1]), vectorised as a short FIR of its impulse response."""
    taps = 0.5 ** torch.arange(1, 40, dtype=audio.dtype)
    return torch.nn.functional.conv1d(audio, taps.flip(0)[None, None], padding=len(taps) - 1)[..., : audio.shape[-1]]


def test_the_comb_loss_gradient_removes_a_frame_clock_and_bad_settings_are_refused():
    clean = song_like().expand(4, 1, -1).clone()
    clock = frame_clock(clean.shape[-1])
    amplitude = torch.tensor(0.01, requires_grad=True)
    comb = FrameRateCombLoss(RATE)
    optimizer = torch.optim.Adam([amplitude], lr=2e-3)
    for _ in range(40):
        optimizer.zero_grad()
        comb(clean + amplitude * clock, clean).backward()
        optimizer.step()
    assert abs(amplitude.item()) < 0.003
    with pytest.raises(ValueError, match="not resolved"):
        FrameRateCombLoss(RATE, frame_rate=8.0)
    with pytest.raises(ValueError, match="No harmonic"):
        FrameRateCombLoss(RATE, frame_rate=50.0, max_frequency=40.0)
