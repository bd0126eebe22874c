"""Behaviour beyond transformers: exact padded batches, chunking, decode-only, init, errors."""

import math

import pytest
import torch

from songgen_hf import MelTeacherConfig, MelTeacherModel, XCodecModel
from songgen_hf.testing import tiny_xcodec_config

from .helpers import noise, tiny_codec


@pytest.fixture(scope="module")
def codec():
    return tiny_codec("hubert")


@pytest.fixture(scope="module")
def mel_codec():
    return tiny_codec("mel")


@pytest.mark.parametrize("teacher", ["hubert", "mel"])
def test_padding_mask_gives_each_item_its_solo_codes(teacher):
    model = tiny_codec(teacher)
    lengths = [16000, 32123, 9999, 16000]
    items = [noise(1, 1, n, seed=i) for i, n in enumerate(lengths)]
    batch = torch.zeros(len(items), 1, max(lengths))
    mask = torch.zeros(len(items), max(lengths), dtype=torch.long)
    for row, (item, n) in enumerate(zip(items, lengths)):
        batch[row, :, :n] = item
        mask[row, :n] = 1
    out = model.encode(batch, padding_mask=mask)
    for row, item in enumerate(items):
        solo = model.encode(item)
        frames = int(out.audio_codes_lengths[row])
        assert frames == solo.audio_codes.shape[-1] == model.config.num_frames(lengths[row])
        assert torch.equal(out.audio_codes[row, :, :frames], solo.audio_codes[0])
        assert (out.audio_codes[row, :, frames:] == 0).all()
    # The defect this fixes: without the mask, zero padding changes the short item's codes.
    unmasked = model.encode(batch).audio_codes
    solo_short = model.encode(items[2]).audio_codes[0]
    assert not torch.equal(unmasked[2, :, : solo_short.shape[-1]], solo_short)


def test_decode_with_lengths_matches_solo_decode(codec):
    codes = torch.randint(0, 1024, (3, 8, 60))
    lengths = torch.tensor([60, 25, 41])
    out = codec.decode(codes, audio_codes_lengths=lengths)
    assert out.audio_values.shape == (3, 1, 60 * 320)
    assert out.audio_values_lengths.tolist() == [60 * 320, 25 * 320, 41 * 320]
    for row, n in enumerate(lengths.tolist()):
        solo = codec.decode(codes[row : row + 1, :, :n]).audio_values[0]
        assert torch.equal(out.audio_values[row, :, : n * 320], solo)
        assert (out.audio_values[row, :, n * 320 :] == 0).all()


def test_frame_count_formula_matches_every_teacher(codec, mel_codec):
    wavlm_codec = tiny_codec("wavlm")
    for n in [320, 399, 400, 16000, 16079, 16080, 16399, 48123]:
        expected = codec.config.num_frames(n)
        for model in (codec, mel_codec, wavlm_codec):
            assert model.encode(noise(1, 1, n, seed=n)).audio_codes.shape[-1] == expected, (n, model)


def test_chunked_encode_equals_whole_encode_with_a_local_teacher(mel_codec):
    audio = noise(1, 1, 16000 * 12 + 777, seed=7)
    whole = mel_codec.encode(audio).audio_codes
    chunked = mel_codec.encode(audio, chunk_seconds=2.5, context_seconds=1.0).audio_codes
    assert chunked.shape == whole.shape
    assert torch.equal(chunked, whole)


def test_chunked_encode_with_attention_teacher_is_close(codec):
    audio = noise(1, 1, 16000 * 12 + 100, seed=8)
    whole = codec.encode(audio).audio_codes
    chunked = codec.encode(audio, chunk_seconds=3.0, context_seconds=1.0).audio_codes
    assert chunked.shape == whole.shape
    # HuBERT attends globally, so a few codes may move; the first codebook barely does.
    assert (chunked == whole).float().mean() > 0.95
    assert (chunked[:, 0] == whole[:, 0]).float().mean() > 0.99


def test_chunked_decode_has_no_seam(codec):
    codes = torch.randint(0, 1024, (2, 8, 500))
    whole = codec.decode(codes).audio_values
    chunked = codec.decode(codes, chunk_seconds=2.0, context_seconds=1.0).audio_values
    assert chunked.shape == whole.shape
    # equal to float-accumulation noise everywhere, including across the 2 s seams
    assert ((chunked - whole).abs().max() / whole.abs().max()) < 1e-4


def test_decode_only_skips_the_encoder_side(codec, tmp_path):
    codec.save_pretrained(tmp_path)
    full = XCodecModel.from_pretrained(tmp_path).eval()
    light = XCodecModel.from_pretrained(tmp_path, decode_only=True).eval()
    names = {name.split(".")[0] for name, _ in light.named_parameters()}
    assert names == {"acoustic_decoder", "fc2"}
    assert not hasattr(light, "semantic_model")
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(light) < count(full)
    codes = torch.randint(0, 1024, (1, 8, 30))
    assert torch.equal(light.decode(codes).audio_values, full.decode(codes).audio_values)
    with pytest.raises(ValueError, match="decode_only"):
        light.encode(noise(1, 1, 16000))


def test_save_and_reload_is_bit_identical(codec, tmp_path):
    codec.save_pretrained(tmp_path)
    reloaded = XCodecModel.from_pretrained(tmp_path).eval()
    audio = noise(2, 1, 12000, seed=11)
    assert torch.equal(reloaded.encode(audio).audio_codes, codec.encode(audio).audio_codes)


def _varied_signal(seconds: float = 2.0, rate: int = 16000) -> torch.Tensor:
    """A chirp that fades in and out of noise: frames that genuinely differ from each other."""
    t = torch.arange(int(seconds * rate)) / rate
    chirp = torch.sin(2 * math.pi * (100 * t + 900 * t**2))
    envelope = (torch.sin(2 * math.pi * 1.5 * t) + 1) / 2
    return (0.5 * chirp * envelope + noise(t.shape[0], seed=4, scale=0.1) * (1 - envelope))[None, None]


@pytest.mark.parametrize("teacher", ["hubert", "mel"])
def test_fresh_codec_does_not_collapse_to_one_code(teacher):
    model = XCodecModel(tiny_xcodec_config(teacher=teacher)).eval()
    for layer in model.quantizer.quantizers:
        assert layer.codebook.embed.abs().sum() > 0
    codes = model.encode(_varied_signal()).audio_codes
    for codebook in range(codes.shape[1]):
        assert codes[0, codebook].unique().numel() >= 8, codebook


def test_mel_teacher_roundtrips_through_auto_config(tmp_path):
    config = tiny_xcodec_config(teacher="mel")
    assert isinstance(config.semantic_model_config, MelTeacherConfig)
    model = XCodecModel(config)
    assert isinstance(model.semantic_model, MelTeacherModel)
    assert not any(key.startswith("semantic_model.") for key in model.state_dict())
    model.save_pretrained(tmp_path)
    reloaded = XCodecModel.from_pretrained(tmp_path)
    assert isinstance(reloaded.semantic_model, MelTeacherModel)
    assert reloaded.config.semantic_model_config.hidden_size == config.semantic_model_config.hidden_size


@pytest.mark.parametrize(
    "audio, kwargs, message",
    [
        (torch.zeros(1, 2, 16000), {}, "mono"),
        (torch.zeros(1, 16000), {}, r"\(batch, 1, samples\)"),
        (torch.full((1, 1, 16000), float("nan")), {}, "NaN or Inf"),
        (torch.zeros(1, 1, 100), {}, "shorter than one codec frame"),
        (torch.zeros(1, 1, 16000, dtype=torch.long), {}, "floating point"),
        (torch.zeros(1, 1, 16000), {"bandwidth": 3.0}, "Unsupported bandwidth"),
        (torch.zeros(2, 1, 16000), {"padding_mask": torch.ones(2, 15000)}, "padding_mask must have shape"),
        (torch.zeros(1, 1, 16000), {"sampling_rate": 44100}, "44100 Hz given to a 16000 Hz codec"),
    ],
)
def test_bad_audio_is_refused_with_a_fix(codec, audio, kwargs, message):
    with pytest.raises(ValueError, match=message):
        codec.encode(audio, **kwargs)


def test_left_padding_mask_is_refused(codec):
    mask = torch.ones(1, 16000)
    mask[0, :100] = 0
    with pytest.raises(ValueError, match="right padding"):
        codec.encode(torch.zeros(1, 1, 16000), padding_mask=mask)


@pytest.mark.parametrize(
    "codes, message",
    [
        (torch.full((1, 8, 5), 1024), r"\[0, 1024\)"),
        (torch.full((1, 8, 5), -1), r"\[0, 1024\)"),
        (torch.zeros(1, 9, 5, dtype=torch.long), "codebooks"),
        (torch.zeros(1, 8, 5), "integer"),
        (torch.zeros(8, 5, dtype=torch.long), r"\(batch, num_quantizers, frames\)"),
    ],
)
def test_bad_codes_are_refused(codec, codes, message):
    with pytest.raises(ValueError, match=message):
        codec.decode(codes)
