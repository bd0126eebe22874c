"""``from_pretrained(..., dtype=torch.bfloat16, device_map=...)`` on converted models.

By repo id (an official checkpoint converted through the cache, offline) and from a converted
folder: every part but the codec is in the requested dtype on the mapped device, the weights are
the checkpoint's (the float32 load cast), the codec stays float32 (``_keep_in_fp32_modules_strict``),
and ``generate`` runs a few frames and returns float32 audio, also from a float32 audio prompt.
"""

from __future__ import annotations

import huggingface_hub.constants
import pytest
import torch

from songgen_hf import SongGenForConditionalGeneration
from songgen_hf.conversion import conversion_cache
from songgen_hf.testing import dummy_inputs, save_tiny_checkpoint
from tests.conversion.hub_cache_builder import SONGGEN_REPOS

FRAMES = 6
SOURCES = ["folder", *SONGGEN_REPOS]  # a converted folder, then each official repo id
DEVICE_MAPS = ["cpu", {"": "cpu"}]
REDUCED = [torch.bfloat16, torch.float16]


@pytest.fixture(scope="module")
def hub(official_hub):
    return official_hub


@pytest.fixture(scope="module")
def converted_folder(tmp_path_factory):
    return save_tiny_checkpoint(tmp_path_factory.mktemp("dtype_folder") / "model")


@pytest.fixture
def source(request, hub, converted_folder, monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_CACHE", str(hub["cache"]))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(hub["cache"]))
    monkeypatch.setenv(conversion_cache.CACHE_ENV, str(tmp_path / "songgen-cache"))
    return str(converted_folder) if request.param == "folder" else SONGGEN_REPOS[request.param]


def _by_part(model) -> dict[str, set]:
    parts = {}
    for name, param in model.named_parameters():
        parts.setdefault(name.split(".")[0], set()).add((param.dtype, param.device.type))
    return parts


def _generate(model, **kwargs):
    inputs = dummy_inputs(model.config, batch_size=1, with_labels=False, with_voice=False)
    inputs.pop("decoder_input_ids")
    seconds = FRAMES / model.config.frame_rate
    return model.generate(
        **inputs, duration_s=seconds, min_duration_s=seconds, do_sample=False, return_dict_in_generate=True, **kwargs
    )


@pytest.mark.parametrize("device_map", DEVICE_MAPS, ids=["str", "dict"])
@pytest.mark.parametrize("source", SOURCES, indirect=True)
def test_bf16_device_map_loads_the_weights_and_keeps_the_codec_fp32(source, device_map):
    model = SongGenForConditionalGeneration.from_pretrained(source, dtype=torch.bfloat16, device_map=device_map)
    reference = SongGenForConditionalGeneration.from_pretrained(source)  # the cached conversion, float32
    assert model.name_or_path == reference.name_or_path  # by repo id: both read the one converted folder

    parts = _by_part(model)
    assert parts.pop("audio_encoder") == {(torch.float32, "cpu")}
    assert set(parts) >= {"text_encoder", "lyrics_encoder", "decoder", "enc_to_dec_proj"}
    assert all(found == {(torch.bfloat16, "cpu")} for found in parts.values()), parts
    if model.voice_encoder is not None:  # MERT is voice_encoder.audio_encoder: not kept in fp32
        assert {p.dtype for p in model.voice_encoder.audio_encoder.parameters()} == {torch.bfloat16}
    assert model.dtype == torch.bfloat16 and model.device.type == "cpu"

    loaded, expected = model.state_dict(), reference.state_dict()
    assert set(loaded) == set(expected)
    for key, value in expected.items():
        cast = value.to(loaded[key].dtype) if value.is_floating_point() else value
        assert torch.equal(loaded[key], cast), key

    out = _generate(model)
    rows = model.pattern.num_rows
    assert out.sequences.shape[:2] == (1, rows)
    for codes in out.codes.values():
        assert codes.shape == (1, model.config.decoder.num_codebooks, FRAMES)
        assert 0 <= int(codes.min()) and int(codes.max()) < model.config.decoder.codebook_size
    assert out.audio.dtype == torch.float32 and out.audio.shape == (
        1,
        1,
        FRAMES * model.config.audio_encoder.hop_length,
    )
    assert torch.isfinite(out.audio).all() and out.audio.abs().sum() > 0


@pytest.mark.parametrize("dtype", REDUCED, ids=str)
def test_reduced_precision_decodes_like_the_fp32_codec_and_takes_an_fp32_prompt(converted_folder, dtype):
    model = SongGenForConditionalGeneration.from_pretrained(converted_folder, dtype=dtype, device_map="cpu")
    reference = SongGenForConditionalGeneration.from_pretrained(converted_folder)
    codes = torch.randint(0, model.config.decoder.codebook_size, (1, model.config.decoder.num_codebooks, FRAMES))
    ours = model.audio_encoder.decode(codes).audio_values
    assert ours.dtype == torch.float32
    assert torch.equal(ours, reference.audio_encoder.decode(codes).audio_values)  # the very fp32 codec

    # an audio prompt arrives as float32 audio and is encoded by the codec as it is
    prompt = 0.1 * torch.randn(1, 1, 4 * model.config.audio_encoder.hop_length)
    out = _generate(model, audio_prompt=prompt)
    assert out.audio.dtype == torch.float32 and torch.isfinite(out.audio).all()
    assert out.frame_lengths.tolist() == [FRAMES]
