"""Tests for the X-Codec PQMF filterbank and spectral reconstruction losses."""

from __future__ import annotations

import math

import pytest
import torch

from songgen_hf.modeling.xcodec.losses import (
    LogMelSpectrogram,
    MelSpectrogramL1Loss,
    MultiResolutionSTFTLoss,
    SubbandMultiResolutionSTFTLoss,
    multi_resolution_mel_distance,
    stft_magnitude,
)
from songgen_hf.modeling.xcodec.pqmf import PQMF, design_cutoff

SR = 16000


def _tones(length: int, freqs: tuple[float, ...], batch: int = 1) -> torch.Tensor:
    t = torch.arange(length) / SR
    signal = sum(torch.sin(2 * math.pi * f * t + i) for i, f in enumerate(freqs))
    return (signal / len(freqs)).expand(batch, 1, length).clone()


def _snr_db(reference: torch.Tensor, estimate: torch.Tensor) -> float:
    return 10 * math.log10(reference.pow(2).sum().item() / (reference - estimate).pow(2).sum().item())


# --------------------------------------------------------------------------- PQMF


def test_design_cutoff_reproduces_the_classic_four_band_value():
    # The widely used 4-band PQMF (taps 62, beta 9) has cutoff 0.142.
    assert design_cutoff(4, 62, 9.0) == pytest.approx(0.142, abs=1e-3)
    assert design_cutoff(6, 96, 9.0) == pytest.approx(0.0943, abs=1e-3)


def test_pqmf_shapes_and_non_persistent_filters():
    pqmf = PQMF()
    assert (pqmf.subbands, pqmf.taps, pqmf.cutoff) == (6, 96, design_cutoff(6, 96, 9.0))
    assert pqmf.analysis_filters.shape == (6, 1, 97)
    assert pqmf.state_dict() == {}
    assert pqmf.analysis(torch.randn(2, 1, 6000)).shape == (2, 6, 1000)
    bands = pqmf.analysis(torch.randn(2, 1, 6001))
    assert bands.shape == (2, 6, 1001)
    assert pqmf.synthesis(bands).shape == (2, 1, 6006)
    assert pqmf.synthesis(bands, length=6001).shape == (2, 1, 6001)


@pytest.mark.parametrize("kind", ["noise", "tones"])
@pytest.mark.parametrize("subbands,taps", [(6, 96), (4, 62)])
def test_pqmf_reconstruction_snr(kind, subbands, taps):
    # Measured: ~61 dB (noise) / ~60-66 dB (tones) away from the edges; the
    # residual is the PQMF's inherent near-perfect-reconstruction error.
    length = 6000
    x = torch.randn(2, 1, length) if kind == "noise" else _tones(length, (110, 440, 1234, 2600, 3999, 5333, 7100))
    pqmf = PQMF(subbands, taps)
    y = pqmf.synthesis(pqmf.analysis(x), length=length)
    assert y.shape == x.shape
    edge = taps  # the zero padding transient reaches taps / 2 into each side, twice
    assert _snr_db(x[..., edge:-edge], y[..., edge:-edge]) > 30.0
    # Without the time alignment (off by one sample) reconstruction would fail.
    assert _snr_db(x[..., edge:-edge], y[..., edge + 1 : -edge + 1]) < 10.0


def test_pqmf_separates_bands():
    pqmf = PQMF()
    for band in range(6):
        centre = (band + 0.5) / 6 * SR / 2
        energy = pqmf.analysis(_tones(6000, (centre,)))[..., 96:-96].pow(2).sum(-1).squeeze()
        assert energy.argmax().item() == band
        assert energy[band] / energy.sum() > 0.99


def test_pqmf_rejects_bad_input():
    pqmf = PQMF()
    with pytest.raises(ValueError, match=r"\(batch, 1, time\)"):
        pqmf.analysis(torch.randn(2, 6000))
    with pytest.raises(ValueError, match=r"\(batch, 1, time\)"):
        pqmf.analysis(torch.randn(2, 2, 6000))
    with pytest.raises(ValueError, match=r"\(batch, 6, frames\)"):
        pqmf.synthesis(torch.randn(2, 4, 100))
    with pytest.raises(ValueError, match="even"):
        PQMF(6, taps=95)
    with pytest.raises(ValueError, match="cutoff"):
        PQMF(6, cutoff=0.3)


# --------------------------------------------------------------------------- MR-STFT


def test_stft_magnitude_shape_and_floor():
    mag = stft_magnitude(torch.zeros(3, 4000), 512, 120, 480, torch.hann_window(480))
    assert mag.shape == (3, 257, 1 + 4000 // 120)
    assert torch.allclose(mag, torch.full_like(mag, math.sqrt(1e-7)))


def test_mrstft_is_zero_for_identical_signals():
    x = torch.randn(2, 1, 4000)
    sc, mag = MultiResolutionSTFTLoss()(x, x.clone())
    assert sc.item() == 0.0 and mag.item() == 0.0


@pytest.mark.parametrize("gain", [0.5, 2.0])
def test_mrstft_known_values_for_a_gain_change(gain):
    # |X| = gain * |Y| in every bin, so SC = |1 - gain| and log-mag = |ln gain|.
    target = torch.randn(2, 1, 4000)
    sc, mag = MultiResolutionSTFTLoss()(gain * target, target)
    assert sc.item() == pytest.approx(abs(1 - gain), rel=1e-4)
    assert mag.item() == pytest.approx(abs(math.log(gain)), rel=1e-3)


def test_mrstft_grows_with_distortion():
    loss = MultiResolutionSTFTLoss()
    target = _tones(4000, (220, 1000, 3000), batch=2)
    noise = torch.randn_like(target)
    values = [loss(target + level * noise, target) for level in (1e-3, 1e-2, 1e-1, 1.0)]
    for (sc_a, mag_a), (sc_b, mag_b) in zip(values, values[1:]):
        assert sc_b > 2 * sc_a
        assert mag_b > mag_a


@pytest.mark.parametrize("case", ["silent_prediction", "silent_target", "both_silent"])
def test_mrstft_gradients_are_finite_on_silence(case):
    loss = MultiResolutionSTFTLoss()
    noise = torch.randn(1, 1, 4000)
    zeros = torch.zeros(1, 1, 4000)
    prediction = (zeros if case != "silent_target" else noise).clone().requires_grad_(True)
    target = zeros if case != "silent_prediction" else noise
    sc, mag = loss(prediction, target)
    (sc + mag).backward()
    assert torch.isfinite(sc) and torch.isfinite(mag)
    assert torch.isfinite(prediction.grad).all()
    if case == "silent_target":
        assert prediction.grad.abs().sum() > 0


def test_mrstft_folds_channels_into_batch():
    loss = MultiResolutionSTFTLoss()
    prediction, target = torch.randn(2, 3, 4000), torch.randn(2, 3, 4000)
    folded = loss(prediction.reshape(6, 4000), target.reshape(6, 4000))
    for a, b in zip(loss(prediction, target), folded):
        assert torch.allclose(a, b)


def test_mrstft_rejects_bad_input():
    loss = MultiResolutionSTFTLoss()
    with pytest.raises(ValueError, match="shape"):
        loss(torch.randn(4000), torch.randn(4000))
    with pytest.raises(ValueError, match="shape"):
        loss(torch.randn(1, 1, 1, 4000), torch.randn(1, 1, 1, 4000))
    with pytest.raises(ValueError, match="same shape"):
        loss(torch.randn(1, 1, 4000), torch.randn(1, 1, 4001))
    with pytest.raises(ValueError, match="at least 2048"):
        loss(torch.randn(1, 1, 2000), torch.randn(1, 1, 2000))
    with pytest.raises(ValueError, match="equally long"):
        MultiResolutionSTFTLoss((512,), (128, 256), (512,))


def test_mrstft_under_bf16_autocast_runs_in_float32():
    loss = MultiResolutionSTFTLoss()
    target = torch.randn(2, 1, 4000).bfloat16()
    prediction = (target.float() + 0.1 * torch.randn(2, 1, 4000)).bfloat16()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        sc, mag = loss(prediction, target)
    sc_ref, mag_ref = loss(prediction.float(), target.float())
    assert sc.dtype == torch.float32 and mag.dtype == torch.float32
    assert sc.item() == pytest.approx(sc_ref.item(), rel=1e-5)
    assert mag.item() == pytest.approx(mag_ref.item(), rel=1e-5)


# --------------------------------------------------------------------------- sub-band


def test_subband_loss_is_zero_for_identical_and_grows_with_distortion():
    loss = SubbandMultiResolutionSTFTLoss()
    target = torch.randn(2, 1, 3000)
    assert [v.item() for v in loss(target, target.clone())] == [0.0, 0.0]
    small = loss(target + 0.01 * torch.randn_like(target), target)
    large = loss(target + 0.3 * torch.randn_like(target), target)
    assert large[0] > 5 * small[0] and large[1] > 5 * small[1]


def test_subband_loss_sees_a_missing_top_band():
    loss = SubbandMultiResolutionSTFTLoss()
    pqmf = loss.pqmf
    target = torch.randn(1, 1, 3000)
    bands = pqmf.analysis(target)
    bands[:, -1] = 0  # remove 6.7-8 kHz only
    prediction = pqmf.synthesis(bands, length=3000)
    sc, mag = loss(prediction, target)
    # One of six equally loud bands is gone: SC ~ sqrt(1/6), and its log bins
    # drop from O(1) to the floor.
    assert 0.3 < sc.item() < 0.5
    assert mag.item() > 1.0


def test_subband_loss_wiring_matches_manual_pqmf_then_mrstft():
    loss = SubbandMultiResolutionSTFTLoss()
    prediction, target = torch.randn(2, 1, 3000), torch.randn(2, 1, 3000)
    manual = MultiResolutionSTFTLoss((128, 256, 256), (20, 40, 50), (80, 120, 200))(
        loss.pqmf.analysis(prediction), loss.pqmf.analysis(target)
    )
    for a, b in zip(loss(prediction, target), manual):
        assert torch.allclose(a, b)


def test_subband_loss_rejects_bad_input():
    loss = SubbandMultiResolutionSTFTLoss()
    with pytest.raises(ValueError, match="mono"):
        loss(torch.randn(2, 2, 3000), torch.randn(2, 2, 3000))
    with pytest.raises(ValueError, match="at least 1536"):
        loss(torch.randn(2, 1, 1500), torch.randn(2, 1, 1500))


# --------------------------------------------------------------------------- mel


def test_log_mel_shape_and_tone_lands_in_the_right_filter():
    mel = LogMelSpectrogram()
    spec = mel(_tones(4000, (1000.0,), batch=2))
    assert spec.shape == (2, 80, 1 + 4000 // 160)
    assert mel.state_dict() == {}
    freqs = torch.linspace(0, SR / 2, 513)
    peak_freq_of_filter = freqs[mel.mel_basis.argmax(dim=1)]
    expected = (peak_freq_of_filter - 1000.0).abs().argmin()
    winners = spec[0, :, 3:-3].argmax(dim=0)
    assert (winners - expected).abs().max() <= 1
    silence = mel(torch.zeros(1, 4000))
    assert torch.isfinite(silence).all() and silence.max() < math.log(1e-3)


def test_mel_loss_zero_for_identical_and_grows():
    loss = MelSpectrogramL1Loss()
    target = torch.randn(2, 1, 4000)
    assert loss(target, target.clone()).item() == 0.0
    values = [loss(target + level * torch.randn_like(target), target).item() for level in (0.01, 0.1, 1.0)]
    assert values[0] < values[1] < values[2]
    with pytest.raises(ValueError, match="mono"):
        loss(torch.randn(2, 2, 4000), torch.randn(2, 2, 4000))


def test_multi_resolution_mel_distance_is_a_sane_metric():
    x = _tones(4096, (300, 2000), batch=2)
    y = x + 0.05 * torch.randn_like(x)
    z = x + 0.5 * torch.randn_like(x)
    assert multi_resolution_mel_distance(x, x.clone()).item() == 0.0
    d_xy = multi_resolution_mel_distance(x, y)
    assert d_xy.item() == pytest.approx(multi_resolution_mel_distance(y, x).item(), rel=1e-6)
    assert 0 < d_xy < multi_resolution_mel_distance(x, z)
    with pytest.raises(ValueError, match="at least 2048"):
        multi_resolution_mel_distance(torch.randn(1, 1000), torch.randn(1, 1000))


def test_optimising_mrstft_improves_reconstruction():
    # A corrupted "decoded" waveform fitted with the full-band + sub-band STFT
    # losses must move towards the target as judged by an independent metric
    # (mel distance).  The target has a noise floor so the log-mel metric is not
    # dominated by its clamp in empty regions.  Measured: ~0.99 -> ~0.38.
    target = _tones(4096, (220, 660, 1500, 4100))
    target = target + 0.05 * torch.randn_like(target)
    estimate = (target + 0.2 * torch.randn_like(target)).requires_grad_(True)
    fullband, subband = MultiResolutionSTFTLoss(), SubbandMultiResolutionSTFTLoss()
    optimiser = torch.optim.Adam([estimate], lr=1e-2)
    before = multi_resolution_mel_distance(estimate.detach(), target).item()
    for _ in range(25):
        loss = sum(fullband(estimate, target)) + sum(subband(estimate, target))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    after = multi_resolution_mel_distance(estimate.detach(), target).item()
    assert after < 0.6 * before
