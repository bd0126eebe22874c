"""Inference parity with transformers' own XcodecModel on identical (random) weights."""

import pytest
import torch
from transformers import AutoModel, XcodecConfig, XcodecModel

from songgen_hf import XCodecConfig
from songgen_hf import XCodecModel as OurXCodecModel
from songgen_hf.testing import tiny_xcodec_config

from .helpers import noise


@pytest.fixture(scope="module")
def transformers_folder(tmp_path_factory):
    """A folder in the hf-audio/xcodec-* layout, written by transformers itself."""
    tiny = tiny_xcodec_config()
    config = XcodecConfig(
        acoustic_model_config=tiny.acoustic_model_config.to_dict(),
        semantic_model_config=tiny.semantic_model_config.to_dict(),
    )
    torch.manual_seed(0)
    reference = XcodecModel(config).eval()
    with torch.no_grad():  # transformers zero-fills codebooks; give them content
        for layer in reference.quantizer.quantizers:
            layer.codebook.embed.normal_()
    path = tmp_path_factory.mktemp("hf_xcodec")
    reference.save_pretrained(path)
    return path, reference


@pytest.fixture(scope="module")
def ours(transformers_folder):
    path, _ = transformers_folder
    return OurXCodecModel.from_pretrained(path).eval()


def test_transformers_folder_loads_without_conversion(transformers_folder, ours):
    path, reference = transformers_folder
    assert isinstance(ours.config, XCodecConfig)
    assert ours.config.model_type == "songgen_xcodec"
    ours_state, reference_state = ours.state_dict(), reference.state_dict()
    assert set(ours_state) == set(reference_state)
    for key, value in reference_state.items():
        assert torch.equal(ours_state[key], value), key


@pytest.mark.parametrize("num_samples", [16000, 16123, 9600 + 75])
def test_codes_and_audio_match_at_every_bandwidth(transformers_folder, ours, num_samples):
    _, reference = transformers_folder
    audio = noise(2, 1, num_samples, seed=num_samples)
    with torch.no_grad():
        for bandwidth in reference.config.target_bandwidths:
            expected = reference.encode(audio, bandwidth=bandwidth).audio_codes
            got = ours.encode(audio, bandwidth=bandwidth)
            assert got.audio_codes.shape == expected.shape
            assert torch.equal(got.audio_codes, expected), f"codes differ at {bandwidth} kbps"
            assert got.audio_codes_lengths.tolist() == [expected.shape[-1]] * 2
            expected_audio = reference.decode(expected).audio_values
            got_audio = ours.decode(expected).audio_values
            assert got_audio.shape == expected_audio.shape == (2, 1, expected.shape[-1] * 320)
            assert (got_audio - expected_audio).abs().max() <= 1e-5


def test_forward_matches(transformers_folder, ours):
    _, reference = transformers_folder
    audio = noise(2, 1, 12345, seed=3)
    with torch.no_grad():
        expected = reference(audio)
        got = ours(audio)
    assert torch.equal(got.audio_codes, expected.audio_codes)
    assert (got.audio_values - expected.audio_values).abs().max() <= 1e-5


def test_our_folder_loads_back_into_transformers(ours, tmp_path):
    ours.save_pretrained(tmp_path)
    reloaded = XcodecModel.from_pretrained(tmp_path).eval()
    audio = noise(1, 1, 8000, seed=5)
    with torch.no_grad():
        assert torch.equal(reloaded.encode(audio).audio_codes, ours.encode(audio).audio_codes)


def test_auto_classes_resolve_our_model_type(ours, tmp_path):
    ours.save_pretrained(tmp_path)
    model = AutoModel.from_pretrained(tmp_path)
    assert isinstance(model, OurXCodecModel)
