"""Weight-only int8 on a CPU: the packed-kernel layer, the fused int8 heads and the transformers quantizer."""

import pytest
import torch
from torch import nn

from songgen_hf import SongGenForConditionalGeneration
from songgen_hf.modeling.songgen import quantization
from songgen_hf.modeling.songgen import quantization as int8_weights
from songgen_hf.modeling.songgen.processing_songgen import SongGenProcessor
from songgen_hf.modeling.songgen.quantization import (
    Int8Linear,
    SongGenInt8Config,
    check_int8_kernel,
    check_quantize,
    pack_linears_int8,
    packable,
    quantization_kwargs,
    quantize_per_channel,
)
from songgen_hf.modeling.songgen.row_fusion import FusedRowWeights, fused_logits
from songgen_hf.testing import save_tiny_checkpoint

pytestmark = pytest.mark.skipif(check_int8_kernel("cpu") is not None, reason="no packed int8 kernel in this PyTorch")


def _reference(x, layer: Int8Linear):
    """What the layer promises: bfloat16-rounded activations times the dequantised weight."""
    out = x.to(torch.bfloat16).float() @ layer.dequantized_weight().t()
    return out if layer.bias is None else out + layer.bias


def test_per_channel_quantisation_is_within_half_a_step_and_keeps_zero_rows_finite():
    weight = torch.randn(40, 64) * torch.logspace(-3, 1, 40)[:, None]  # rows of very different scales
    weight[7] = 0.0
    values, scale = quantize_per_channel(weight)
    assert values.dtype == torch.int8 and scale.dtype == torch.bfloat16 and values.abs().max() <= 127
    error = (values.float() * scale.float()[:, None] - weight).abs()
    assert (error <= scale.float()[:, None] * 0.5 + 1e-12).all()
    assert torch.equal(values[7], torch.zeros(64, dtype=torch.int8)) and torch.isfinite(scale).all()


@pytest.mark.parametrize("shape", [(3, 64), (2, 5, 64), (1, 1, 64)])
@pytest.mark.parametrize("bias", [False, True])
def test_int8_linear_computes_its_dequantised_weight_on_bf16_activations(shape, bias):
    torch.manual_seed(0)
    linear = nn.Linear(64, 96, bias=bias)
    layer = Int8Linear.from_linear(linear)
    x = torch.randn(*shape)
    got = layer(x)
    assert got.shape == (*shape[:-1], 96) and got.dtype == torch.float32
    expected = _reference(x, layer)
    assert torch.allclose(got, expected, rtol=1e-2, atol=1e-2 * expected.abs().max().item())
    # and close to the float layer it came from (int8 weights + bf16 activations: about 1 %)
    relative = ((got - linear(x)).norm() / linear(x).norm()).item()
    assert 0 < relative < 0.02


def test_int8_linear_accepts_an_empty_batch():
    layer = Int8Linear.from_linear(nn.Linear(16, 24, bias=False))
    assert layer(torch.zeros(0, 3, 16)).shape == (0, 3, 24)


def test_int8_linear_refuses_training_with_a_clear_error():
    layer = Int8Linear.from_linear(nn.Linear(16, 24))
    with pytest.raises(RuntimeError, match="Int8Linear is for inference.*load the model in float precision"):
        layer(torch.randn(2, 16, requires_grad=True))


def test_only_widths_the_kernel_reads_are_packed():
    model = nn.Sequential(nn.Linear(16, 8), nn.Sequential(nn.Linear(12, 16), nn.Linear(16, 12)), nn.LayerNorm(12))
    assert [packable(m) for m in (model[0], model[1][0], model[1][1])] == [True, False, True]
    assert pack_linears_int8(model) == 2
    assert isinstance(model[0], Int8Linear) and type(model[1][0]) is nn.Linear and isinstance(model[1][1], Int8Linear)
    with pytest.raises(ValueError, match="divisible by 8, got 12"):
        Int8Linear(12, 4)


def test_fused_int8_heads_equal_the_stacked_heads():
    torch.manual_seed(0)
    heads = nn.ModuleList([Int8Linear.from_linear(nn.Linear(32, 50, bias=False)) for _ in range(4)])
    hidden = torch.randn(3, 2, 32)
    with torch.no_grad():
        fused = fused_logits(FusedRowWeights(), "lm_heads", hidden, heads)
        stacked = torch.stack([head(hidden) for head in heads], dim=1)
    assert fused.shape == (3, 4, 2, 50)
    assert torch.allclose(fused, stacked, rtol=0, atol=1e-6 * stacked.abs().max().item())


# ------------------------------------------------------------------------------------ the model
@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return save_tiny_checkpoint(tmp_path_factory.mktemp("int8") / "tiny", track_pattern="parallel_stream2")


def test_cpu_int8_loads_through_the_quantizer_and_packs_the_decoder_steps_only(folder):
    assert quantization_kwargs("int8", "cpu")["quantization_config"].quant_method == "songgen_int8"
    model = SongGenForConditionalGeneration.from_pretrained(folder, **quantization_kwargs("int8")).eval()
    layers = [m for m in model.decoder.model.layers.modules() if isinstance(m, (nn.Linear, Int8Linear))]
    assert layers and all(isinstance(m, Int8Linear) for m in layers)
    assert all(isinstance(head, Int8Linear) for head in model.decoder.lm_heads)
    for name in ("text_encoder", "lyrics_encoder", "audio_encoder", "enc_to_dec_proj"):
        assert not any(isinstance(m, Int8Linear) for m in getattr(model, name).modules()), name
    assert model.is_quantized and model.config.quantization_config.quant_method == "songgen_int8"

    # the song it generates is a real song, and the int8 steps track the float model's
    reference = SongGenForConditionalGeneration.from_pretrained(folder).eval()
    inputs = dict(SongGenProcessor.from_pretrained(folder)(description="a rock song", lyrics="hey"))
    with torch.no_grad():
        out = model.generate(
            **inputs, duration_s=0.4, min_duration_s=0.4, do_sample=False, return_dict_in_generate=True
        )
        ids = out.sequences.reshape(-1, out.sequences.shape[-1])
        got = model(**inputs, decoder_input_ids=ids, use_cache=False).logits.float()
        expected = reference(**inputs, decoder_input_ids=ids, use_cache=False).logits.float()
    assert torch.isfinite(out.audio).all() and out.audio.abs().max() > 0
    relative = ((got - expected).norm() / expected.norm()).item()
    assert 0 < relative < 0.03, relative


def test_int8_heads_packs_the_heads_and_keeps_the_layers_float(folder):
    assert quantization_kwargs("int8-heads", "cpu")["quantization_config"].heads_only is True
    model = SongGenForConditionalGeneration.from_pretrained(folder, **quantization_kwargs("int8-heads")).eval()
    assert all(isinstance(head, Int8Linear) for head in model.decoder.lm_heads)
    layers = [m for m in model.decoder.model.layers.modules() if isinstance(m, (nn.Linear, Int8Linear))]
    assert layers and all(type(m) is nn.Linear and m.weight.dtype == torch.float32 for m in layers)
    reference = SongGenForConditionalGeneration.from_pretrained(folder).eval()
    inputs = dict(SongGenProcessor.from_pretrained(folder)(description="a rock song", lyrics="hey"))
    ids = torch.randint(0, 1024, (1, model.config.decoder.num_rows, 12))
    seen = {}
    hook = model.decoder.model.register_forward_hook(lambda m, a, out: seen.update(int8=out.last_hidden_state))
    reference.decoder.model.register_forward_hook(lambda m, a, out: seen.update(float=out.last_hidden_state))
    with torch.no_grad():
        got = model(**inputs, decoder_input_ids=ids, use_cache=False).logits
        expected = reference(**inputs, decoder_input_ids=ids, use_cache=False).logits
    hook.remove()
    # the float layers give the float model's hidden states; only the heads differ
    assert torch.equal(seen["int8"], seen["float"])
    with torch.no_grad():
        heads = torch.stack([head(seen["int8"]) for head in model.decoder.lm_heads], dim=1).flatten(0, 1)
    torch.testing.assert_close(got, heads, rtol=0, atol=1e-5)
    assert 0 < ((got - expected).norm() / expected.norm()).item() < 0.02


def test_quantizing_in_memory_matches_loading_quantized(folder):
    loaded = SongGenForConditionalGeneration.from_pretrained(folder, quantization_config=SongGenInt8Config()).eval()
    in_memory = quantization.quantize_decoder_int8(SongGenForConditionalGeneration.from_pretrained(folder).eval())
    for a, b in zip(loaded.decoder.lm_heads, in_memory.decoder.lm_heads, strict=True):
        assert torch.equal(a.weight_int8, b.weight_int8) and torch.equal(a.weight_scale, b.weight_scale)


def test_an_int8_model_is_not_saved_and_the_log_says_what_to_save(folder, tmp_path, caplog):
    model = SongGenForConditionalGeneration.from_pretrained(folder, quantization_config=SongGenInt8Config())
    with pytest.raises(ValueError, match="quantized with songgen_int8 and is not serializable"):
        model.save_pretrained(tmp_path / "int8")
    assert "save the float model instead" in caplog.text
    assert not (tmp_path / "int8" / "model.safetensors").exists()


def test_the_quantizer_refuses_a_gpu_placement_before_loading(folder, monkeypatch):
    monkeypatch.setattr(quantization, "pack_decoder_int8", lambda decoder: pytest.fail("weights were converted"))
    with pytest.raises(ValueError, match=r"SongGenInt8Config\(\) is for CPUs.*\['cuda:0'\]"):
        SongGenForConditionalGeneration.from_pretrained(
            folder, quantization_config=SongGenInt8Config(), device_map={"": "cuda:0"}
        )


def test_a_cpu_without_the_kernel_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(int8_weights, "kernel_available", lambda: False)
    with pytest.raises(
        ValueError,
        match=r"--quantize=int8 cannot run on this CPU: this PyTorch .* has no "
        r"aten._weight_int8pack_mm; leave --quantize out",
    ):
        check_quantize("int8", name="--quantize")


# ------------------------------------------------------------------ a model's recommendation for CPUs
@pytest.fixture(scope="module")
def recommending(tmp_path_factory):
    """A tiny folder whose generation config recommends int8 on CPUs (as the embedded songgen-tiny's does)."""
    folder = save_tiny_checkpoint(
        tmp_path_factory.mktemp("recommends") / "tiny", track_pattern="mixed", use_voice_encoder=False
    )
    model = SongGenForConditionalGeneration.from_pretrained(folder)
    model.generation_config.cpu_quantize = "int8"
    model.generation_config.save_pretrained(folder)
    return folder


def test_the_recommendation_is_saved_and_read_before_any_weights(recommending, monkeypatch):
    from transformers import GenerationConfig

    assert GenerationConfig.from_pretrained(recommending).cpu_quantize == "int8"
    monkeypatch.setattr(SongGenForConditionalGeneration, "from_pretrained", lambda *a, **k: pytest.fail("loaded"))
    assert quantization.default_quantize(recommending, "cpu") == "int8"
    assert quantization.default_quantize(recommending, "cuda") is None  # a recommendation for CPUs only


def test_the_pipeline_follows_the_recommendation_unless_the_caller_chooses(recommending):
    from songgen_hf.pipelines import load_text_to_song_pipeline

    assert isinstance(load_text_to_song_pipeline(str(recommending), device="cpu").model.decoder.lm_heads[0], Int8Linear)
    for choice in ("fp32", None):
        pipe = load_text_to_song_pipeline(str(recommending), device="cpu", quantize=choice)
        assert type(pipe.model.decoder.lm_heads[0]) is nn.Linear, choice


def test_a_recommendation_this_cpu_cannot_run_loads_float32(recommending, monkeypatch):
    monkeypatch.setattr(int8_weights, "kernel_available", lambda: False)
    assert quantization.default_quantize(recommending, "cpu") is None


def test_a_bad_recommendation_is_a_clear_error(tmp_path):
    (tmp_path / "generation_config.json").write_text('{"cpu_quantize": "int4"}')
    with pytest.raises(
        ValueError,
        match=r"cpu_quantize must be one of \['int8', 'int8-heads', 'bf16-heads', 'bf16', 'fp32'\] or null, got 'int4'",
    ):
        quantization.default_quantize(tmp_path, "cpu")


def test_plain_pipeline_follows_the_recommendation_unless_a_dtype_is_chosen(recommending):
    from transformers import pipeline

    from songgen_hf.pipelines import register_text_to_song_pipeline

    register_text_to_song_pipeline()
    assert isinstance(
        pipeline("text-to-song", model=str(recommending), device="cpu").model.decoder.lm_heads[0], Int8Linear
    )
    chosen = pipeline("text-to-song", model=str(recommending), device="cpu", dtype=torch.float32)
    assert type(chosen.model.decoder.lm_heads[0]) is nn.Linear
