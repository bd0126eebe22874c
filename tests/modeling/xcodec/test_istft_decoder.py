"""The Vocos-style ISTFT decoder: exact framing, save/reload, chunking, bad configs."""

import pytest
import torch

from songgen_hf import XCodecModel
from songgen_hf.modeling.xcodec.configuration_xcodec import XCodecConfig
from songgen_hf.modeling.xcodec.modeling_xcodec import InverseSTFT

from .helpers import noise, tiny_codec

ISTFT = {
    "acoustic_decoder_type": "istft",
    "istft_decoder_config": {"hidden_size": 32, "intermediate_size": 64, "num_layers": 2},
}


@pytest.fixture(scope="module")
def istft_codec():
    return tiny_codec("mel", **ISTFT)


@pytest.mark.parametrize("hop, n_fft", [(320, 1280), (320, 960), (160, 640)])
def test_inverse_stft_inverts_a_same_padded_stft(hop, n_fft):
    """T frames centred on their hops give back exactly the T * hop samples they came from."""
    signal = noise(2, 40 * hop, seed=1)
    pad = (n_fft - hop) // 2
    window = torch.hann_window(n_fft)
    spectrum = torch.stft(
        torch.nn.functional.pad(signal, (pad, pad)), n_fft, hop, window=window, center=False, return_complex=True
    )
    assert spectrum.shape[-1] == 40
    torch.testing.assert_close(InverseSTFT(n_fft, hop)(spectrum), signal, rtol=0, atol=1e-5)


def test_inverse_stft_refuses_off_centre_framing():
    with pytest.raises(ValueError, match="must be even"):
        InverseSTFT(1281, 320)


def test_frames_become_exactly_frames_times_hop_samples(istft_codec):
    codes = torch.randint(0, 1024, (2, 8, 37))
    audio = istft_codec.decode(codes).audio_values
    assert audio.shape == (2, 1, 37 * istft_codec.config.hop_length)
    assert torch.isfinite(audio).all() and audio.abs().max() > 0


def test_save_and_reload_decodes_identically(istft_codec, tmp_path):
    istft_codec.save_pretrained(tmp_path)
    reloaded = XCodecModel.from_pretrained(tmp_path).eval()
    assert reloaded.config.acoustic_decoder_type == "istft"
    codes = torch.randint(0, 1024, (1, 8, 25))
    assert torch.equal(reloaded.decode(codes).audio_values, istft_codec.decode(codes).audio_values)
    light = XCodecModel.from_pretrained(tmp_path, decode_only=True).eval()
    assert torch.equal(light.decode(codes).audio_values, istft_codec.decode(codes).audio_values)


def test_chunked_decode_has_no_seam(istft_codec):
    codes = torch.randint(0, 1024, (1, 8, 300))
    whole = istft_codec.decode(codes).audio_values
    chunked = istft_codec.decode(codes, chunk_seconds=2.0, context_seconds=1.0).audio_values
    assert ((chunked - whole).abs().max() / whole.abs().max()) < 1e-4


@pytest.mark.parametrize("context_seconds", [1.0, 0.02])
def test_chunks_are_synthesised_one_by_one_when_their_context_covers_the_overlap(istft_codec, context_seconds):
    """Each chunk's inverse STFT runs on its own (memory of one chunk) when the context reaches past the windows'
    overlap, and gives the whole decode's audio; with less context the whole song is synthesised at once (the
    network's own context is then short too: a caller's choice, as before)."""
    codes = torch.randint(0, 1024, (1, 8, 300))
    whole = istft_codec.decode(codes).audio_values
    calls = []
    synthesize = istft_codec.acoustic_decoder.synthesize

    def counting(log_magnitude, phase):
        calls.append(log_magnitude.shape[-1])
        return synthesize(log_magnitude, phase)

    istft_codec.acoustic_decoder.synthesize = counting
    try:
        chunked = istft_codec.decode(codes, chunk_seconds=2.0, context_seconds=context_seconds).audio_values
    finally:
        del istft_codec.acoustic_decoder.synthesize
    chunks = -(-300 // round(2.0 * istft_codec.config.frame_rate))
    assert len(calls) == (chunks if context_seconds == 1.0 else 1)
    if context_seconds == 1.0:
        assert ((chunked - whole).abs().max() / whole.abs().max()) < 1e-4


def test_unknown_decoder_type_is_refused():
    with pytest.raises(ValueError, match="acoustic_decoder_type must be one of"):
        XCodecConfig(acoustic_decoder_type="wavenet")


@pytest.mark.parametrize("frequency", [220.0, 233.08, 466.16])
def test_accumulated_phase_renders_steady_tones_off_the_frame_rate_grid(frequency):
    """Identical frames (a tiny codec's codes for a steady note) still make any pitch, not 50 Hz harmonics."""
    import math

    from songgen_hf.modeling.xcodec.modeling_xcodec import ISTFTDecoder

    rate, hop, frames = 16000, 320, 100
    decoder = ISTFTDecoder(8, hop, hidden_size=8, intermediate_size=8, num_layers=1)
    bins = decoder.n_fft // 2 + 1
    nearest = round(frequency * decoder.n_fft / rate)
    log_magnitude = torch.full((1, bins, frames), -30.0)
    advance = torch.zeros(1, bins, frames)
    for k in (nearest - 1, nearest, nearest + 1):  # the window's main lobe
        log_magnitude[0, k] = 0.0
        wanted = 2 * math.pi * frequency * hop / rate
        centre = 2 * math.pi * k * hop / decoder.n_fft
        deviation = (wanted - centre + math.pi) % (2 * math.pi) - math.pi  # within (-pi, pi): reachable
        advance[0, k] = math.atanh(deviation / math.pi)
    audio = decoder.synthesize(log_magnitude, decoder.phases(advance))[0, 0, 20 * hop : -20 * hop]
    spectrum = torch.fft.rfft(audio * torch.hann_window(audio.shape[0])).abs()
    peak = spectrum.argmax().item() * rate / audio.shape[0]
    assert abs(peak - frequency) < 2.0, peak
    assert abs(peak - 50 * round(peak / 50)) > 5 or abs(frequency - 50 * round(frequency / 50)) < 5
    decoder.phase = "absolute"  # the same frames without accumulation: stuck on the 50 Hz grid
    stuck = decoder.synthesize(log_magnitude, decoder.phases(advance))[0, 0, 20 * hop : -20 * hop]
    stuck_peak = torch.fft.rfft(stuck * torch.hann_window(stuck.shape[0])).abs().argmax().item() * rate / stuck.shape[0]
    assert abs(stuck_peak - 50 * round(stuck_peak / 50)) < 1.0, stuck_peak
