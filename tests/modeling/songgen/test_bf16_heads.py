"""bfloat16 token heads (``quantize="bf16-heads"``, the embedded songgen-tiny's recommendation on a CPU with native
bfloat16): the layer, the fused heads, the loading route, the recommendation and its fallback, a song alone and in a
batch, and agreement with float32's tokens."""

import pytest
import torch
from torch import nn

from songgen_hf import SongGenForConditionalGeneration
from songgen_hf.modeling.songgen import quantization
from songgen_hf.modeling.songgen.quantization import (
    Bf16Linear,
    Int8Linear,
    check_int8_kernel,
    check_quantize,
    quantization_kwargs,
)
from songgen_hf.modeling.songgen.row_fusion import FusedRowWeights, fused_logits
from songgen_hf.testing import (
    dummy_generation_inputs,
    greedy_reference,
    save_tiny_checkpoint,
    solo_inputs,
    tiny_songgen_model,
)

NATIVE_BF16 = pytest.mark.skipif(
    not quantization._bf16_supported("cpu"), reason="this CPU has no native bfloat16 (AVX-512 BF16 / AMX)"
)
INT8_KERNEL = check_int8_kernel("cpu") is None


def test_bf16_linear_computes_bfloat16_inputs_times_its_bfloat16_weight_in_the_input_dtype():
    torch.manual_seed(0)
    linear = nn.Linear(24, 40)
    layer = Bf16Linear.from_linear(linear)
    assert layer.weight_bf16.dtype == torch.bfloat16 and torch.equal(layer.weight_bf16, linear.weight.bfloat16())
    x = torch.randn(5, 24)
    with torch.no_grad():
        got = layer(x)
        expected = x.bfloat16().float() @ linear.weight.bfloat16().float().t() + linear.bias
    assert got.dtype == torch.float32 and got.shape == (5, 40)
    torch.testing.assert_close(got, expected, rtol=1e-2, atol=1e-2)
    assert layer(torch.zeros(0, 24)).shape == (0, 40)


def test_bf16_linear_refuses_training_with_a_clear_error():
    layer = Bf16Linear.from_linear(nn.Linear(8, 4, bias=False))
    with pytest.raises(RuntimeError, match="for inference.*float precision"):
        layer(torch.randn(2, 8, requires_grad=True))


def test_fused_bf16_heads_equal_the_stacked_heads_exactly():
    torch.manual_seed(0)
    heads = nn.ModuleList([Bf16Linear.from_linear(nn.Linear(32, 50, bias=False)) for _ in range(4)])
    hidden = torch.randn(3, 2, 32)
    with torch.no_grad():
        fused = fused_logits(FusedRowWeights(), "lm_heads", hidden, heads)
        stacked = torch.stack([head(hidden) for head in heads], dim=1)
    assert fused.shape == (3, 4, 2, 50) and fused.dtype == torch.float32
    assert torch.equal(fused, stacked)


def test_a_rows_logits_do_not_depend_on_the_other_rows():
    # what lets a song alone and the same song in a batch draw the same tokens
    torch.manual_seed(0)
    heads = nn.ModuleList([Bf16Linear.from_linear(nn.Linear(64, 300, bias=False)) for _ in range(3)])
    hidden = torch.randn(12, 1, 64)
    cache = FusedRowWeights()
    with torch.no_grad():
        together = fused_logits(cache, "lm_heads", hidden, heads)
        for rows in (1, 3, 6):
            assert torch.equal(fused_logits(cache, "lm_heads", hidden[:rows], heads), together[:rows]), rows


def test_batch_items_equal_solo_generation_with_bf16_heads():
    model = tiny_songgen_model("mixed")
    quantization.convert_heads_bf16(model.decoder)
    assert all(isinstance(head, Bf16Linear) for head in model.decoder.lm_heads)
    batch = dummy_generation_inputs(model, batch_size=2)
    kwargs = dict(duration_s=0.16, do_sample=False, return_dict_in_generate=True, decode_audio=False)
    together = model.generate(**batch, **kwargs).sequences
    for row in range(2):
        solo = solo_inputs(batch, row)
        assert torch.equal(together[row : row + 1], model.generate(**solo, **kwargs).sequences), row


# ------------------------------------------------------------------------------------ the model
@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return save_tiny_checkpoint(tmp_path_factory.mktemp("bf16heads") / "tiny", track_pattern="mixed_pro")


@NATIVE_BF16
def test_bf16_heads_load_as_bf16_layers_keep_the_float_layers_and_agree_with_float32(folder):
    config = quantization_kwargs("bf16-heads", "cpu")["quantization_config"]
    assert config.quant_method == "songgen_bf16_heads" and config.heads_only
    model = SongGenForConditionalGeneration.from_pretrained(folder, **quantization_kwargs("bf16-heads")).eval()
    for name in ("lm_heads", "vocal_lm_heads"):
        assert all(isinstance(head, Bf16Linear) for head in getattr(model.decoder, name)), name
    layers = [m for m in model.decoder.model.layers.modules() if isinstance(m, (nn.Linear, Bf16Linear))]
    assert layers and all(type(m) is nn.Linear and m.weight.dtype == torch.float32 for m in layers)
    assert model.is_quantized
    reference, inputs, ids = greedy_reference(folder)
    with torch.no_grad():
        expected = reference(**inputs, decoder_input_ids=ids, use_cache=False).logits[..., :1024].float()
        got = model(**inputs, decoder_input_ids=ids, use_cache=False).logits[..., :1024].float()
    # teacher-forced over a greedy 1 s song, every row and position: measured 99 %+ and 0.3 % here; songgen-tiny
    # over three sampled 10 s songs: 98.4-98.9 % (int8 heads 98.1-98.7 %), relative error 0.19-0.20 % (0.25-0.27 %)
    top1 = (got.argmax(-1) == expected.argmax(-1)).float().mean().item()
    relative = ((got - expected).norm() / expected.norm()).item()
    assert top1 >= 0.95 and 0 < relative <= 0.02, (top1, relative)


@NATIVE_BF16
def test_quantizing_in_memory_matches_loading_with_bf16_heads(folder):
    loaded = SongGenForConditionalGeneration.from_pretrained(folder, **quantization_kwargs("bf16-heads")).eval()
    in_memory = quantization.quantize_decoder(SongGenForConditionalGeneration.from_pretrained(folder), "bf16-heads")
    for a, b in zip(loaded.decoder.lm_heads, in_memory.decoder.lm_heads, strict=True):
        assert torch.equal(a.weight_bf16, b.weight_bf16)


def test_bf16_heads_without_native_bfloat16_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(quantization, "_bf16_supported", lambda kind: False)
    with pytest.raises(ValueError, match=r"--quantize=bf16-heads: this CPU has no bfloat16 .* --quantize=int8-heads"):
        check_quantize("bf16-heads", "cpu", name="--quantize")


# ------------------------------------------------------------------ the recommendation and its fallback
@pytest.fixture(scope="module")
def recommending(tmp_path_factory):
    """A tiny folder whose generation config recommends bf16 heads on CPUs, as the embedded songgen-tiny's does."""
    folder = save_tiny_checkpoint(
        tmp_path_factory.mktemp("recommends_bf16") / "tiny", track_pattern="mixed", use_voice_encoder=False
    )
    model = SongGenForConditionalGeneration.from_pretrained(folder)
    model.generation_config.cpu_quantize = "bf16-heads"
    model.generation_config.save_pretrained(folder)
    return folder


def test_the_saved_recommendation_is_read_and_falls_back_where_bfloat16_is_not_native(recommending, monkeypatch):
    from transformers import GenerationConfig

    assert GenerationConfig.from_pretrained(recommending).cpu_quantize == "bf16-heads"
    assert quantization.default_quantize(recommending, "cuda") is None  # a recommendation for CPUs only
    monkeypatch.setattr(quantization, "_bf16_supported", lambda kind: False)
    assert quantization.default_quantize(recommending, "cpu") == ("int8-heads" if INT8_KERNEL else None)
    monkeypatch.setattr(quantization, "kernel_available", lambda: False)
    assert quantization.default_quantize(recommending, "cpu") is None  # neither runs: float32


@NATIVE_BF16
def test_the_pipeline_follows_the_bf16_recommendation_unless_the_caller_chooses(recommending):
    from songgen_hf.pipelines import load_text_to_song_pipeline

    assert quantization.default_quantize(recommending, "cpu") == "bf16-heads"
    pipe = load_text_to_song_pipeline(str(recommending), device="cpu")
    assert all(isinstance(head, Bf16Linear) for head in pipe.model.decoder.lm_heads)
    for choice, kind in (("fp32", nn.Linear), ("int8-heads", Int8Linear)):
        if kind is Int8Linear and not INT8_KERNEL:
            continue
        pipe = load_text_to_song_pipeline(str(recommending), device="cpu", quantize=choice)
        assert type(pipe.model.decoder.lm_heads[0]) is kind, choice


@pytest.mark.skipif(not INT8_KERNEL, reason="no packed int8 kernel in this PyTorch")
def test_the_pipeline_falls_back_to_int8_heads_where_bfloat16_is_not_native(recommending, monkeypatch):
    from songgen_hf.pipelines import load_text_to_song_pipeline

    monkeypatch.setattr(quantization, "_bf16_supported", lambda kind: False)
    pipe = load_text_to_song_pipeline(str(recommending), device="cpu")
    assert all(isinstance(head, Int8Linear) for head in pipe.model.decoder.lm_heads)
