"""The pitch-class loss: which notes sound, not how the spectrum looks between them."""

import math

import pytest
import torch

from songgen_hf.data.synth.analysis import chroma as reference_chroma
from songgen_hf.modeling.xcodec.chroma_loss import ChromaLoss
from songgen_hf.modeling.xcodec.modeling_xcodec import C_HZ, pitch_class_filters

RATE = 16000


def notes(*midi, seconds=1.0, partials=3):
    """Harmonic tones (amplitude falling as 1/k) at the given MIDI pitches, shape (1, 1, samples)."""
    t = torch.arange(int(RATE * seconds)) / RATE
    audio = torch.zeros_like(t)
    for n in midi:
        f = 440.0 * 2 ** ((n - 69) / 12)
        audio += sum(0.1 / k * torch.sin(2 * math.pi * k * f * t + 0.7 * n) for k in range(1, partials + 1))
    return audio[None, None]


def test_filters_send_each_bin_in_the_band_to_one_pitch_class():
    filters = pitch_class_filters(4096, RATE, 50.0, 1000.0, reference_hz=C_HZ)
    frequencies = torch.fft.rfftfreq(4096, 1 / RATE)
    inside = (frequencies >= 50) & (frequencies <= 1000)
    assert torch.equal(filters.sum(1), inside.float())
    a440 = int(torch.argmin((frequencies - 440.0).abs()))
    middle_c = int(torch.argmin((frequencies - 261.63).abs()))
    assert filters[a440, 9] == 1 and filters[middle_c, 0] == 1
    a_first = pitch_class_filters(4096, RATE, 50.0, 1000.0)  # the teacher's order: A = 0
    assert a_first[a440, 0] == 1 and a_first[middle_c, 3] == 1
    assert torch.equal(a_first.roll(-3, dims=1), filters)


def test_profiles_agree_with_the_key_estimators_chroma():
    """C major triad: the loss's pitch classes are the evaluation's (C, E, G on top)."""
    audio = notes(60, 64, 67)
    profile = ChromaLoss(RATE).profiles(audio).sum(-1)[0]
    assert set(profile.topk(3).indices.tolist()) == {0, 4, 7}
    reference = torch.from_numpy(reference_chroma(audio[0, 0].numpy(), RATE))
    assert set(reference.topk(3).indices.tolist()) == {0, 4, 7}


def test_loss_is_zero_for_the_same_notes_and_grows_with_wrong_ones():
    loss = ChromaLoss(RATE)
    c_major = notes(60, 64, 67)
    assert loss(c_major, c_major).item() < 1e-6
    # the same notes in another voicing (octaves, phases) stay close; a semitone off is far
    revoiced = notes(48, 64, 79) * 0.8
    semitone_up = notes(61, 65, 68)
    assert loss(revoiced, c_major).item() < 0.5 * loss(semitone_up, c_major).item()
    assert loss(torch.zeros_like(c_major), c_major).item() == pytest.approx(1.0, abs=0.1)


def test_gradient_turns_up_the_right_notes():
    """A mixer of all twelve semitones, fitted to a C major triad by the loss alone, keeps C, E and G."""
    loss = ChromaLoss(RATE)
    target = notes(60, 64, 67)
    semitones = torch.cat([notes(n) for n in range(60, 72)], dim=1)  # (1, 12, samples)
    gains = torch.zeros(12, requires_grad=True)
    optimiser = torch.optim.Adam([gains], lr=0.1)
    for _ in range(60):
        optimiser.zero_grad()
        mix = (torch.nn.functional.softplus(gains)[None, :, None] * semitones).sum(1, keepdim=True)
        value = loss(mix, target)
        value.backward()
        optimiser.step()
    assert value.item() < 0.3
    assert set(gains.topk(3).indices.tolist()) == {0, 4, 7}


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="Nyquist"):
        ChromaLoss(RATE, max_frequency=9000.0)
    loss = ChromaLoss(RATE)
    with pytest.raises(ValueError, match="at least n_fft=4096"):
        loss(torch.zeros(1, 1, 2000), torch.zeros(1, 1, 2000))
    with pytest.raises(ValueError, match="differ in length"):
        loss(torch.zeros(1, 1, 5000), torch.zeros(1, 1, 6000))
