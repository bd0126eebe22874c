"""The instantaneous-frequency loss: the decoder's framing, its values, and that it teaches pitch."""

import math

import numpy as np
import pytest
import torch

from songgen_hf.modeling.xcodec.frame_losses import (
    FrameLogMagnitudeLoss,
    InstantaneousFrequencyLoss,
    anti_wrap,
    frame_spectrum,
)
from songgen_hf.modeling.xcodec.modeling_xcodec import ISTFTDecoder

RATE, HOP = 16000, 320


def tone(frequencies, seconds=1.0):
    t = torch.arange(int(RATE * seconds)) / RATE
    return sum(0.1 * torch.sin(2 * math.pi * f * t + 0.3 * i) for i, f in enumerate(frequencies))[None, None]


def test_anti_wrap_takes_the_short_way_round():
    angles = torch.tensor([0.0, 3.0, 3.3, -3.3, 7.0, -12.0, 2 * math.pi])
    folded = anti_wrap(angles)
    assert (folded.abs() <= math.pi + 1e-6).all()
    torch.testing.assert_close(torch.cos(folded), torch.cos(angles))
    torch.testing.assert_close(torch.sin(folded), torch.sin(angles), atol=1e-6, rtol=0)
    assert abs(folded[2].item() - (3.3 - 2 * math.pi)) < 1e-6


def test_frame_spectrum_uses_the_decoders_framing():
    """The decoder synthesises the target's own frames back into the target: the phases compare frame by frame."""
    decoder = ISTFTDecoder(8, HOP, hidden_size=8, intermediate_size=8, num_layers=1, phase="absolute")
    audio = tone([233.08, 415.3])
    frames = audio.shape[-1] // HOP
    spectrum = frame_spectrum(audio, decoder.n_fft, HOP, frames)
    assert spectrum.shape == (1, decoder.n_fft // 2 + 1, frames)
    # amplitude 0.1 keeps every bin under synthesize()'s magnitude cap
    rebuilt = decoder.synthesize(spectrum.abs().clamp(min=1e-9).log(), torch.angle(spectrum))
    inner = slice(4 * HOP, -4 * HOP)  # the edges saw zero padding
    torch.testing.assert_close(rebuilt[..., inner], audio[..., inner], atol=1e-4, rtol=0)


def test_loss_is_zero_for_the_targets_phases_and_large_for_random_ones():
    audio = tone([220.0, 331.7])
    loss = InstantaneousFrequencyLoss(1280, HOP)
    spectrum = frame_spectrum(audio, 1280, HOP, audio.shape[-1] // HOP)
    exact = torch.angle(spectrum[..., 1:]) - torch.angle(spectrum[..., :-1])
    assert loss(exact, audio).item() < 1e-5
    assert loss(exact + 2 * math.pi * torch.randint(-3, 4, exact.shape), audio).item() < 1e-4  # only modulo 2 pi
    random = loss(torch.rand(exact.shape, generator=torch.Generator().manual_seed(0)) * 2 * math.pi, audio).item()
    assert 1.3 < random < 1.8  # uniform errors on [-pi, pi] average pi / 2


def test_bins_without_energy_do_not_count():
    audio = tone([440.0])
    loss = InstantaneousFrequencyLoss(1280, HOP)
    spectrum = frame_spectrum(audio, 1280, HOP, audio.shape[-1] // HOP)
    exact = torch.angle(spectrum[..., 1:]) - torch.angle(spectrum[..., :-1])
    disturbed = exact.clone()
    disturbed[:, 200:] += 2.0  # 2.5 kHz and up: nothing there
    assert loss(disturbed, audio).item() < 0.01  # (the abrupt start and end splash a little energy up there)
    disturbed[:, 34:38] += 2.0  # the tone's bins
    assert loss(disturbed, audio).item() > 1.0


def test_wrong_number_of_bins_is_a_clear_error():
    with pytest.raises(ValueError, match="n_fft=1280"):
        InstantaneousFrequencyLoss(1280, HOP)(torch.zeros(1, 100, 9), tone([220.0]))


@pytest.mark.parametrize("frequency", [233.08, 311.13])
def test_training_the_phase_advances_moves_a_tone_off_the_bin_centres(frequency):
    """Right magnitudes, untrained phases: the tone sits on bin centres; the loss alone puts it back in tune."""
    decoder = ISTFTDecoder(8, HOP, hidden_size=8, intermediate_size=8, num_layers=1)
    audio = tone([frequency], seconds=2.0)
    frames = audio.shape[-1] // HOP
    log_magnitude = frame_spectrum(audio, decoder.n_fft, HOP, frames).abs().clamp(min=1e-6).log()
    raw_phase = torch.zeros(1, decoder.n_fft // 2 + 1, frames, requires_grad=True)
    loss = InstantaneousFrequencyLoss(decoder.n_fft, HOP)
    optimizer = torch.optim.Adam([raw_phase], lr=0.05)

    def peak_hz():
        with torch.no_grad():
            rendered = decoder.synthesize(log_magnitude, decoder.phases(raw_phase))[0, 0, 8 * HOP : -8 * HOP].numpy()
        spectrum = np.abs(np.fft.rfft(rendered * np.hanning(len(rendered)), n=1 << 17))
        return np.fft.rfftfreq(1 << 17, 1 / RATE)[spectrum.argmax()]

    bin_width = RATE / decoder.n_fft
    assert abs(peak_hz() - frequency) > 0.1 * bin_width  # on the bin-centre grid, out of tune
    for _ in range(150):
        optimizer.zero_grad()
        value = loss(decoder.phase_advances(raw_phase), audio)
        value.backward()
        optimizer.step()
    assert value.item() < 0.1
    assert abs(peak_hz() - frequency) < 0.5  # in tune to within a few cents


def test_frame_magnitude_loss_is_zero_for_the_targets_frames_and_grows_with_the_error():
    audio = tone([233.08, 415.3])
    frames = audio.shape[-1] // HOP
    loss = FrameLogMagnitudeLoss(1280, HOP)
    exact = frame_spectrum(audio, 1280, HOP, frames).abs().clamp(min=loss.floor).log()
    assert loss(exact, audio).item() < 1e-6
    assert abs(loss(exact + 0.5, audio).item() - 0.5) < 1e-5
    with pytest.raises(ValueError, match="n_fft=1280"):
        loss(exact[:, :100], audio)
