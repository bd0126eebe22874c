"""Reduced precision through transformers' loading path: int8 (torchao, the path off CPUs; on a CPU
``quantize="int8"`` is the packed kernel of ``test_int8_weights.py``) and bf16 decoders.

Agreement thresholds were measured, teacher-forced on a greedy 1 s song (all 8 rows, every position):
random tiny checkpoint int8 top-1 98.5 %, relative logit error 0.76 % (bf16: 98.7 %, 0.55 %); the trained
songgen-tiny int8 99.8 %, 0.40 % (bf16: 100 %, 0.26 %).  The asserts leave about 4x room on the error.
"""

import sys

import pytest
import torch

from songgen_hf import SongGenForConditionalGeneration
from songgen_hf.modeling.songgen import quantization
from songgen_hf.modeling.songgen.processing_songgen import SongGenProcessor
from songgen_hf.modeling.songgen.quantization import check_quantize, quantization_kwargs
from songgen_hf.testing import greedy_reference, save_tiny_checkpoint

pytest.importorskip("torchao")  # the `quantize` extra (part of `dev`)
from torchao.utils import TorchAOBaseTensor  # noqa: E402

# bf16 loading is refused on a CPU without bfloat16 kernels (tested below with the support faked away)
CPU_BF16 = pytest.mark.skipif(
    not quantization._bf16_supported("cpu"), reason="this CPU has no bfloat16 kernels (AVX-512 BF16 / AMX)"
)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return save_tiny_checkpoint(tmp_path_factory.mktemp("quantize") / "tiny", track_pattern="mixed_pro")


@pytest.fixture(scope="module")
def reference(folder):
    """fp32 model, its inputs and a greedy song to teacher-force."""
    return greedy_reference(folder)


def _logits(model, inputs, ids):
    with torch.no_grad():
        return model(**inputs, decoder_input_ids=ids, use_cache=False).logits[..., :1024].float()


def _quantized(module) -> bool:
    return isinstance(module.weight, TorchAOBaseTensor)


def _converted(model) -> list[str]:
    return sorted(name for name, m in model.named_modules() if isinstance(m, torch.nn.Linear) and _quantized(m))


def _loading(precision):
    if precision == "int8-torchao":
        return {"quantization_config": quantization.int8_quantization_config()}
    return quantization_kwargs(precision)


@pytest.mark.parametrize(
    "precision, min_top1, max_relative_error",
    [("int8", 0.95, 0.03), ("int8-torchao", 0.95, 0.03), pytest.param("bf16", 0.95, 0.02, marks=CPU_BF16)],
)
def test_reduced_precision_logits_agree_with_fp32(folder, reference, precision, min_top1, max_relative_error):
    model_fp32, inputs, ids = reference
    model = SongGenForConditionalGeneration.from_pretrained(folder, **_loading(precision)).eval()
    expected, got = _logits(model_fp32, inputs, ids), _logits(model, inputs, ids)
    top1 = (got.argmax(-1) == expected.argmax(-1)).float().mean().item()
    relative = ((got - expected).norm() / expected.norm()).item()
    assert top1 >= min_top1 and relative <= max_relative_error, (top1, relative)
    assert relative > 0  # the weights really changed precision


def test_torchao_int8_converts_the_decoder_only_and_generates(folder):
    model = SongGenForConditionalGeneration.from_pretrained(folder, **_loading("int8-torchao")).eval()
    decoder_linears = [m for m in model.decoder.model.modules() if isinstance(m, torch.nn.Linear)]
    assert decoder_linears and all(_quantized(m) for m in decoder_linears)
    assert all(_quantized(head) for head in model.decoder.lm_heads)
    for name in ("text_encoder", "lyrics_encoder", "audio_encoder", "enc_to_dec_proj"):
        linears = [m for m in getattr(model, name).modules() if isinstance(m, torch.nn.Linear)]
        assert not any(_quantized(m) for m in linears), name
    assert all(p.dtype == torch.float32 for p in model.audio_encoder.parameters())
    inputs = dict(SongGenProcessor.from_pretrained(folder)(description="a rock song", lyrics="hey"))
    out = model.generate(**inputs, duration_s=0.4, min_duration_s=0.4, do_sample=False, return_dict_in_generate=True)
    assert out.audio.shape == (1, 1, 20 * 320) and torch.isfinite(out.audio).all() and out.audio.abs().max() > 0


def test_any_torchao_config_leaves_the_codec_alone(folder):
    """A user's own TorchAoConfig without modules_to_not_convert: the model's _keep_in_fp32_modules still
    keeps every transformers quantizer off the codec."""
    from torchao.quantization import Int8WeightOnlyConfig
    from transformers import TorchAoConfig

    model = SongGenForConditionalGeneration.from_pretrained(
        folder, quantization_config=TorchAoConfig(Int8WeightOnlyConfig())
    )
    assert _quantized(model.decoder.lm_heads[0]) and _quantized(
        model.text_encoder.encoder.block[0].layer[0].SelfAttention.q
    )
    assert not any(_quantized(m) for m in model.audio_encoder.modules() if isinstance(m, torch.nn.Linear))


@CPU_BF16
def test_bf16_keeps_the_codec_in_float32(folder):
    model = SongGenForConditionalGeneration.from_pretrained(folder, **quantization_kwargs("bf16"))
    assert model.decoder.lm_heads[0].weight.dtype == torch.bfloat16
    assert all(p.dtype == torch.float32 for p in model.audio_encoder.parameters())


# ---------------------------------------------------------------------------- refused before any weights
@pytest.mark.parametrize("value", ["int4", "fp16", "INT8", 8, ""])
def test_unknown_values_are_refused(value):
    with pytest.raises(
        ValueError, match=r"quantize must be one of \['int8', 'int8-heads', 'bf16-heads', 'bf16', 'fp32'\]"
    ):
        check_quantize(value)


def test_missing_torchao_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "torchao", None)  # `import torchao` raises ImportError
    with pytest.raises(ValueError, match=r'--quantize=int8 on a GPU needs torchao.*pip install -e "\.\[quantize\]"'):
        check_quantize("int8", device="cuda", name="--quantize")  # torchao is the int8 of GPUs only
    check_quantize("int8", device="cpu")  # a CPU's int8 needs no torchao


def test_int8_kernels_missing_is_a_clear_error(monkeypatch):
    def no_kernel(*args, **kwargs):
        raise NotImplementedError("no int8 matmul for this backend")

    monkeypatch.setattr(quantization, "_int8_weight_config", no_kernel)
    with pytest.raises(ValueError, match=r"int8 cannot run on this platform \(cuda\): torchao's int8 kernels failed"):
        check_quantize("int8", device="cuda")


def test_bf16_without_hardware_support_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(quantization, "_bf16_supported", lambda kind: False)
    with pytest.raises(ValueError, match="bf16: this CPU has no bfloat16 support"):
        check_quantize("bf16")
    with pytest.raises(ValueError, match="bf16: this CPU has no bfloat16 support"):
        quantization_kwargs("bf16")  # the loading arguments are never built
