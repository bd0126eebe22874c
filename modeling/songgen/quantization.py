"""Reduced precision a user can ask for: int8 decoder weights (all, or the token heads only), bfloat16 token
heads, or bfloat16.

``songgen generate --quantize int8|int8-heads|bf16-heads|bf16|fp32``, ``load_text_to_song_pipeline(quantize=...)`` and
``SongGenForConditionalGeneration.from_pretrained(path, **quantization_kwargs("int8", device))`` all
come here.  What int8 means depends on where the model runs, because the fast kernels differ:

* **CPU**: weight-only int8 through PyTorch's packed kernel (``int8_weights.py``): the decoder's
  transformer layers and token heads become :class:`~.int8_weights.Int8Linear` after the weights load, by
  :class:`SongGenInt8Quantizer`, a transformers ``HfQuantizer`` registered under
  ``quant_method="songgen_int8"`` (``from_pretrained(path, quantization_config=SongGenInt8Config())``).
  No extra package is needed.  torchao's int8 configs are slower than float32 on a CPU (they
  dequantise on every call), so they are not used there;
* **CUDA and others**: transformers' own ``TorchAoConfig`` (torchao's dynamic int8 activations x int8
  per-channel weights), so any torchao setting works too.

``int8-heads`` converts only the decoder's token heads (one per codebook row, most of a small
decoder's weight bytes) and keeps the transformer layers float32: on the embedded songgen-tiny it
scores like float32 over two sampling seeds, where int8 everywhere came out a little lower on tempo
and voice (measured with ``songgen evaluate --quantize``), so it is that model's recommendation for CPUs
(``cpu_quantize``, see :func:`default_quantize`) where bfloat16 is not native.

``bf16-heads`` keeps the token heads in bfloat16 (:class:`Bf16Linear`) and the transformer layers float32: on a
CPU that computes bfloat16 natively (AVX-512 BF16 / AMX) oneDNN multiplies by them at 1.3-1.5x the time of
reading their bytes whatever the number of rows, where the packed int8 kernel dequantises its weight again for
every row (2.7x its own floor at 2 rows, 6x at 6; ``benchmarks/int8_kernels.py``), and their logits are nearer
float32's.  It is songgen-tiny's recommendation; a CPU without native bfloat16 gets ``int8-heads`` instead
(:data:`RECOMMENDATION_FALLBACK`).

Either way only the decoder is converted: the description, lyrics and voice encoders run once per
song, so int8 there wins no time and only adds error; the codec stays float32 in any case (the
model's ``_keep_in_fp32_modules``, which every transformers quantizer skips).  Every check runs
before any weights are read or converted: an unknown name, torchao missing or too old, int8 kernels
that do not run on this platform, bfloat16 a CPU/GPU cannot compute.

torchao is imported lazily: it is the optional ``quantize`` extra (``pip install -e ".[quantize]"``).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers.quantizers import HfQuantizer, register_quantization_config, register_quantizer
from transformers.quantizers.auto import AUTO_QUANTIZATION_CONFIG_MAPPING, AUTO_QUANTIZER_MAPPING
from transformers.utils import logging
from transformers.utils.quantization_config import QuantizationConfigMixin

from songgen_hf.utils.safe_files import read_json

# ----------------------------------------------------------------------------------------------------
# Weight-only int8 for decoding on a CPU: one byte a weight, PyTorch's packed int8 kernel.
#
# A decoding step multiplies a few activation rows (batch x guidance branches) by every decoder
# weight, so on a CPU it is bound by reading those weights from memory.  Kept as int8 with one
# scale per output channel, they are a quarter of float32's bytes, and ``aten._weight_int8pack_mm``
# multiplies bfloat16 activations by them without dequantising the weight first.  On a 2-core AMD
# EPYC the 32 heads of the dual-track default (34 816 x 256) take 1.1 ms a step instead of 3.2 ms.
#
# Three facts about that kernel (torch 2.13, x86) decide how it is used here:
#
# * only its bfloat16 path is vectorised; float16 and float32 activations take a scalar loop that
#   is 10-30x slower than a float32 matmul, so activations are rounded to bfloat16 *inside* the
#   layer, and its output goes back to the caller's dtype (the residual stream stays float32);
# * an input width that is not a multiple of 8 gives wrong numbers or crashes, so such layers stay
#   float (:func:`packable`);
# * its cost grows with the number of rows (about 8 us a row at 256 -> 1 024), so it beats float32
#   for decoding steps (up to ~16 rows) and not for long prompts or large batches.  The prompt
#   passes once per song; batched evaluation runs at about float32's speed.
#
# torchao's int8 configs reach different CPU kernels that dequantise on every call (slower than
# float32 here), which is why ``quantize="int8"`` on a CPU comes here (``quantization.py``).

KERNEL_DTYPE = torch.bfloat16  # the kernel's only vectorised activation dtype
WIDTH_MULTIPLE = 8  # input widths the kernel reads correctly


def kernel_available() -> bool:
    """Whether this PyTorch has the packed int8 CPU kernel (private ATen op, present since 2.3)."""
    return hasattr(torch.ops.aten, "_weight_int8pack_mm")


def packable(linear: nn.Module) -> bool:
    """A plain float ``nn.Linear`` whose input width the kernel reads correctly."""
    return (
        type(linear) is nn.Linear
        and type(linear.weight) in (torch.Tensor, nn.Parameter)
        and linear.weight.is_floating_point()
        and linear.in_features % WIDTH_MULTIPLE == 0
    )


def quantize_per_channel(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(out, in)`` float weight -> int8 values and one bfloat16 scale per output channel.

    Symmetric, absmax / 127.  The scale is rounded to bfloat16 *before* the division, so
    ``int8 * scale`` reproduces the weight to within half a step of the scale the kernel really uses.
    """
    weight = weight.detach().float()
    scale = (weight.abs().amax(dim=1) / 127.0).clamp_min(torch.finfo(torch.float32).tiny)
    scale = scale.to(KERNEL_DTYPE)
    values = torch.round(weight / scale.float()[:, None]).clamp_(-127, 127).to(torch.int8)
    return values.contiguous(), scale


def int8_matmul(x: torch.Tensor, values: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """``x (..., in) @ (values * scale).T`` in ``x``'s dtype, through the packed kernel."""
    rows = x.reshape(-1, x.shape[-1])
    if rows.shape[0] == 0:  # the kernel does not accept empty inputs
        return x.new_zeros(*x.shape[:-1], values.shape[0])
    if values.device.type != "cpu":  # a packed model moved to an accelerator: correct, not fast
        return x @ (values.to(x.dtype) * scale.to(x.dtype)[:, None]).t()
    out = torch.ops.aten._weight_int8pack_mm(rows.to(KERNEL_DTYPE).contiguous(), values, scale)
    return out.to(x.dtype).reshape(*x.shape[:-1], values.shape[0])


class Int8Linear(nn.Module):
    """An ``nn.Linear`` for inference whose weight is int8 with a per-channel scale (bias stays float)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = False, device=None):
        super().__init__()
        if in_features % WIDTH_MULTIPLE:
            raise ValueError(f"Int8Linear needs an input width divisible by {WIDTH_MULTIPLE}, got {in_features}.")
        self.in_features, self.out_features = in_features, out_features
        self.register_buffer("weight_int8", torch.zeros(out_features, in_features, dtype=torch.int8, device=device))
        self.register_buffer("weight_scale", torch.ones(out_features, dtype=KERNEL_DTYPE, device=device))
        self.bias = nn.Parameter(torch.zeros(out_features, device=device), requires_grad=False) if bias else None

    @classmethod
    def from_linear(cls, linear: nn.Linear) -> Int8Linear:
        new = cls(linear.in_features, linear.out_features, bias=linear.bias is not None, device=linear.weight.device)
        values, scale = quantize_per_channel(linear.weight)
        new.weight_int8.copy_(values)
        new.weight_scale.copy_(scale)
        if linear.bias is not None:
            new.bias.data.copy_(linear.bias.detach().float())
        return new

    def dequantized_weight(self) -> torch.Tensor:
        """The float32 weight this layer computes with (for inspection and tests)."""
        return self.weight_int8.float() * self.weight_scale.float()[:, None]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled() and x.requires_grad:
            raise RuntimeError(
                "Int8Linear is for inference: its int8 weight cannot be trained; load the model in "
                "float precision (no quantize) to train or fine-tune it."
            )
        out = int8_matmul(x, self.weight_int8, self.weight_scale)
        return out if self.bias is None else out + self.bias.to(out.dtype)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}, int8"


class Bf16Linear(nn.Module):
    """An ``nn.Linear`` for inference whose weight is bfloat16: the input is rounded to bfloat16, multiplied by the
    weight (oneDNN's bfloat16 kernel on a CPU) and the output returned in the input's dtype.

    Each output row depends on its own input row only (oneDNN's bfloat16 product, as the packed int8 kernel's), so
    a song computes the same logits alone and in a batch."""

    def __init__(self, in_features: int, out_features: int, bias: bool = False, device=None):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.register_buffer("weight_bf16", torch.zeros(out_features, in_features, dtype=torch.bfloat16, device=device))
        self.bias = nn.Parameter(torch.zeros(out_features, device=device), requires_grad=False) if bias else None

    @classmethod
    def from_linear(cls, linear: nn.Linear) -> Bf16Linear:
        new = cls(linear.in_features, linear.out_features, bias=linear.bias is not None, device=linear.weight.device)
        new.weight_bf16.copy_(linear.weight.detach())
        if linear.bias is not None:
            new.bias.data.copy_(linear.bias.detach().float())
        return new

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled() and x.requires_grad:
            raise RuntimeError(
                "Bf16Linear is for inference: load the model in float precision (no quantize) to train or fine-tune it."
            )
        out = bf16_matmul(x, self.weight_bf16)
        return out if self.bias is None else out + self.bias.to(out.dtype)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}, bf16"


def bf16_matmul(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``x (..., in) @ weight.T`` with a bfloat16 ``weight``, in ``x``'s dtype."""
    rows = x.reshape(-1, x.shape[-1]).to(weight.dtype)
    # (out, in) @ (in, rows): the weight streamed as it is stored, as the float heads are (row_fusion.py); on a
    # 2-core Xeon with AMX this order takes 0.48 ms for songgen-tiny's 16 heads at 3 rows, F.linear 0.89 ms
    # one copy back to the input's dtype that also lays the rows out contiguously: what reads the logits next (top-k,
    # softmax over the vocabulary) runs along a row, and the transposed product's rows are strided
    out = (weight @ rows.t()).t().to(x.dtype, memory_format=torch.contiguous_format)
    return out.reshape(*x.shape[:-1], weight.shape[0])


def convert_heads_bf16(decoder) -> int:
    """The decoder's token heads as :class:`Bf16Linear` (plain float ``nn.Linear`` heads only); returns how many."""
    converted = 0
    for name in ("lm_heads", "vocal_lm_heads"):
        heads = getattr(decoder, name, None)
        if heads is None:
            continue
        for index, head in enumerate(heads):
            if type(head) is nn.Linear and head.weight.is_floating_point():
                heads[index] = Bf16Linear.from_linear(head)
                converted += 1
    return converted


def pack_linears_int8(module: nn.Module) -> int:
    """Replace every packable ``nn.Linear`` under ``module`` by an :class:`Int8Linear`, in place.

    Returns how many were replaced; layers the kernel cannot read (:func:`packable`) stay float.
    """
    replaced = 0
    for name, child in list(module.named_children()):
        if packable(child):
            setattr(module, name, Int8Linear.from_linear(child))
            replaced += 1
        else:
            replaced += pack_linears_int8(child)
    return replaced


def check_int8_kernel(device_type: str) -> str | None:
    """``None`` when the kernel runs correctly here, else why not (one line)."""
    if device_type != "cpu":
        return f"the packed int8 kernel is used on CPUs only (this is {device_type})"
    if not kernel_available():
        return f"this PyTorch ({torch.__version__}) has no aten._weight_int8pack_mm"
    return _probe_kernel()


@functools.cache
def _probe_kernel() -> str | None:
    # once per process: a load asks three times (the recommendation, the loading arguments, the quantizer)
    generator = torch.Generator().manual_seed(0)
    weight = torch.randn(24, 32, generator=generator)
    x = torch.randn(3, 32, generator=generator)
    try:
        values, scale = quantize_per_channel(weight)
        got = int8_matmul(x, values, scale)
    except Exception as error:  # noqa: BLE001 - any failure means: no usable kernel here
        return f"aten._weight_int8pack_mm failed on a test layer ({type(error).__name__})"
    expected = x.to(KERNEL_DTYPE).float() @ (values.float() * scale.float()[:, None]).t()
    if not torch.allclose(got, expected, rtol=2e-2, atol=2e-2 * float(expected.abs().max())):
        return "aten._weight_int8pack_mm gave wrong numbers on a test layer"
    return None


logger = logging.get_logger(__name__)

FLOAT = "fp32"  # the explicit "no conversion": overrides a model's cpu_quantize
INT8_HEADS = "int8-heads"  # int8 token heads, float32 transformer layers
BF16_HEADS = "bf16-heads"  # bfloat16 token heads, float32 transformer layers
QUANTIZE_CHOICES = ("int8", INT8_HEADS, BF16_HEADS, "bf16", FLOAT)
# A recommendation (``cpu_quantize``) this machine cannot run is replaced by the next one it can: bfloat16 heads need
# native bfloat16; the int8 heads run on any CPU with PyTorch's packed kernel, and are as fast at one song's rows.
RECOMMENDATION_FALLBACK = {BF16_HEADS: INT8_HEADS}
# A loading keyword that says the caller chose the precision (``quantize``), so a model's ``cpu_quantize``
# recommendation does not apply; the pipeline's loaders and the processor remove it before transformers sees it.
PRECISION_CHOSEN = "_songgen_precision_chosen"
# transformers' own floor for its torchao integration (transformers.utils.import_utils.TORCHAO_MIN_VERSION)
MIN_TORCHAO_VERSION = "0.15.0"
# top-level modules left in float32: run once per song (encoders) or must stay exact (codec)
NOT_CONVERTED = (
    "text_encoder",
    "lyrics_encoder",
    "voice_encoder",
    "enc_to_dec_proj",
    "lyrics_to_dec_proj",
    "audio_encoder",
)
INSTALL_HINT = 'pip install -e ".[quantize]" in the songgen-hf repository'
INT8_CPU_METHOD = "songgen_int8"
BF16_HEADS_METHOD = "songgen_bf16_heads"


def pack_decoder_int8(decoder, heads_only: bool = False) -> int:
    """The decoder's per-step layers as ``Int8Linear``: the transformer layers (unless ``heads_only``)
    and the token heads.

    The musical-control projections (tiny, run once per song, read through ``.weight``) stay float.
    Returns how many layers were packed.
    """
    packed = 0 if heads_only else pack_linears_int8(decoder.model.layers)
    for name in ("lm_heads", "vocal_lm_heads"):
        if hasattr(decoder, name):
            packed += pack_linears_int8(getattr(decoder, name))
    return packed


class SongGenInt8Config(QuantizationConfigMixin):
    """``quantization_config`` for SongGen's weight-only int8 decoder on a CPU (see the module docstring);
    ``heads_only=True``: the token heads only, the transformer layers stay float32."""

    def __init__(self, heads_only: bool = False, **kwargs):
        self.quant_method = INT8_CPU_METHOD
        self.heads_only = bool(heads_only)


class SongGenInt8Quantizer(HfQuantizer):
    """Loads the float weights as saved, then turns the decoder's linear layers into ``Int8Linear``.

    Not serialisable (save the float model; int8 is a loading choice) and not trainable.
    """

    requires_calibration = False

    def validate_environment(self, *args, **kwargs):
        device_map = kwargs.get("device_map")
        placed = device_map.values() if isinstance(device_map, dict) else [device_map]
        other = sorted({str(d) for d in placed if d is not None and _device_type_or_none(d) != "cpu"})
        if other:
            raise ValueError(
                f"quantization_config=SongGenInt8Config() is for CPUs, but device_map places the model "
                f"on {other}; on a GPU use quantization_kwargs('int8', device) (torchao)."
            )
        reason = check_int8_kernel("cpu")
        if reason is not None:
            raise ValueError(f"int8 cannot run on this CPU: {reason}; load the model without quantization.")

    def _process_model_after_weight_loading(self, model, **kwargs):
        if getattr(model, "decoder", None) is None:
            raise ValueError(f"SongGenInt8Config applies to SongGen models (a .decoder), not {type(model).__name__}.")
        pack_decoder_int8(model.decoder, heads_only=self.quantization_config.heads_only)
        return model

    def is_serializable(self):
        # transformers' refusal points at the logger for the reason
        logger.warning(
            "A SongGen model loaded with int8 on a CPU (SongGenInt8Config) is converted while loading and "
            "cannot be saved; save the float model instead (load it without quantize)."
        )
        return False

    @property
    def is_trainable(self):
        return False


class SongGenBf16HeadsConfig(SongGenInt8Config):
    """``quantization_config`` for SongGen's bfloat16 token heads (``quantize="bf16-heads"``): the token heads become
    :class:`Bf16Linear` after the weights load, the transformer layers stay float32.  It loads the way
    :class:`SongGenInt8Config` with ``heads_only`` does (the pipeline defers it the same way), so it is one."""

    def __init__(self, **kwargs):
        super().__init__(heads_only=True)
        self.quant_method = BF16_HEADS_METHOD


class SongGenBf16HeadsQuantizer(SongGenInt8Quantizer):
    """Loads the float weights as saved, then turns the decoder's token heads into :class:`Bf16Linear`."""

    def validate_environment(self, *args, **kwargs):
        device_map = kwargs.get("device_map")
        placed = device_map.values() if isinstance(device_map, dict) else [device_map]
        kinds = {_device_type_or_none(d) for d in placed if d is not None} - {None} or {"cpu"}
        for kind in sorted(kinds):
            if not _bf16_supported(kind):
                raise ValueError(
                    f"bf16-heads: this {kind.upper()} has no native bfloat16 (it would be emulated, slower than "
                    "float32); load the model with quantize='int8-heads' or without quantization."
                )

    def _process_model_after_weight_loading(self, model, **kwargs):
        if getattr(model, "decoder", None) is None:
            raise ValueError(
                f"SongGenBf16HeadsConfig applies to SongGen models (a .decoder), not {type(model).__name__}."
            )
        convert_heads_bf16(model.decoder)
        return model

    def is_serializable(self):
        logger.warning(
            "A SongGen model loaded with bfloat16 token heads (SongGenBf16HeadsConfig) is converted while loading and "
            "cannot be saved; save the float model instead (load it without quantize)."
        )
        return False


# registered once per process (transformers refuses a second registration of the same name)
if INT8_CPU_METHOD not in AUTO_QUANTIZATION_CONFIG_MAPPING:
    register_quantization_config(INT8_CPU_METHOD)(SongGenInt8Config)
if INT8_CPU_METHOD not in AUTO_QUANTIZER_MAPPING:
    register_quantizer(INT8_CPU_METHOD)(SongGenInt8Quantizer)
if BF16_HEADS_METHOD not in AUTO_QUANTIZATION_CONFIG_MAPPING:
    register_quantization_config(BF16_HEADS_METHOD)(SongGenBf16HeadsConfig)
if BF16_HEADS_METHOD not in AUTO_QUANTIZER_MAPPING:
    register_quantizer(BF16_HEADS_METHOD)(SongGenBf16HeadsQuantizer)


def _device_type(device: Any) -> str:
    if device is None:  # what pipeline() does with no device: the first GPU if there is one
        return "cuda" if torch.cuda.is_available() else "cpu"
    if isinstance(device, int) and not isinstance(device, bool):
        return "cpu" if device < 0 else "cuda"
    return torch.device(device).type


def _device_type_or_none(device: Any) -> str | None:
    try:
        return _device_type(device)
    except (RuntimeError, TypeError, ValueError):  # "disk", "auto" and other placements that are no device
        return None


def _torchao(name: str):
    try:
        import torchao
    except ImportError:
        raise ValueError(f"{name}=int8 on a GPU needs torchao, which is not installed; {INSTALL_HINT}.") from None
    from transformers.utils.import_utils import is_torchao_available

    if not is_torchao_available(MIN_TORCHAO_VERSION):
        raise ValueError(
            f"{name}=int8 needs torchao >= {MIN_TORCHAO_VERSION} (transformers' torchao integration), found "
            f"{torchao.__version__}; {INSTALL_HINT} --upgrade."
        )
    return torchao


def _int8_weight_config():
    from torchao.quantization import Int8DynamicActivationInt8WeightConfig

    return Int8DynamicActivationInt8WeightConfig()


def _bf16_supported(kind: str) -> bool:
    if kind == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if kind == "cpu":  # oneDNN's bf16 kernels need AVX-512 BF16 / AMX (or the AVX-512 core set) on x86
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    return True  # mps and others: the backend itself refuses what it cannot run


def check_quantize(value: Any, device: Any = None, name: str = "quantize") -> None:
    """Raise ``ValueError`` naming ``name`` when ``value`` is unknown or cannot run on ``device``.

    Reads no weights: int8 is tried on a 16 x 16 layer, bfloat16 is asked of the backend.
    """
    if value is None:
        return
    if value not in QUANTIZE_CHOICES:
        raise ValueError(f"{name} must be one of {list(QUANTIZE_CHOICES)} (or left out), got {value!r}.")
    if value == FLOAT:
        return
    kind = _device_type(device)
    if value in ("bf16", BF16_HEADS):
        if not _bf16_supported(kind):
            raise ValueError(
                f"{name}={value}: this {kind.upper()} has no bfloat16 support (it would be emulated, slower than "
                f"float32); leave {name} out, or use {name}={'int8-heads' if value == BF16_HEADS else 'int8'}."
            )
        return
    if kind == "cpu":
        reason = check_int8_kernel(kind)
        if reason is not None:
            raise ValueError(f"{name}={value} cannot run on this CPU: {reason}; leave {name} out.")
        return
    _torchao(name)
    from torchao.quantization import quantize_

    probe = torch.nn.Linear(16, 16, bias=False)
    try:
        if kind != "cpu":
            probe = probe.to(device)
        quantize_(probe, _int8_weight_config())
        with torch.no_grad():
            probe(torch.ones(1, 16, device=probe.weight.device))
    except Exception as error:  # noqa: BLE001 - any failure means: no usable int8 kernel here
        raise ValueError(
            f"{name}={value} cannot run on this platform ({kind}): torchao's int8 kernels failed on a test layer "
            f"({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}); leave {name} out."
        ) from None


def int8_quantization_config(modules_to_not_convert=NOT_CONVERTED):
    """transformers' ``TorchAoConfig`` for SongGen's int8 decoder (checks torchao first); add
    ``"decoder.model"`` to ``modules_to_not_convert`` for the token heads only."""
    _torchao("quantization")
    from transformers import TorchAoConfig

    return TorchAoConfig(_int8_weight_config(), modules_to_not_convert=list(modules_to_not_convert))


def quantize_decoder_int8(model, heads_only: bool = False):
    """``--quantize int8`` for a model already in memory, in place, on the decoder alone (the encoders,
    projections and codec stay float32): on a CPU its linear layers become ``Int8Linear`` (what
    :class:`SongGenInt8Quantizer` does while loading), elsewhere torchao's ``quantize_`` with the
    config :func:`int8_quantization_config` gives transformers.  For models built in code
    (benchmarks, tests); a saved model loads quantized with :func:`quantization_kwargs`."""
    if next(model.decoder.parameters()).device.type == "cpu":
        reason = check_int8_kernel("cpu")
        if reason is not None:
            raise ValueError(f"quantize_decoder_int8: {reason}.")
        pack_decoder_int8(model.decoder, heads_only=heads_only)
        return model
    _torchao("quantize_decoder_int8")
    from torchao.quantization import quantize_

    for module in (model.decoder.lm_heads,) if heads_only else (model.decoder,):
        quantize_(module, _int8_weight_config())
    return model


def quantize_decoder(model, value: str | None):
    """``quantize=value`` for a model already in memory, in place, on the decoder alone (benchmarks, tests; a saved
    model loads with :func:`quantization_kwargs`): ``int8`` / ``int8-heads`` as :func:`quantize_decoder_int8`,
    ``bf16-heads`` the token heads as :class:`Bf16Linear`; ``None`` / ``fp32``: as is (``bf16`` is a loading
    ``dtype``: load the model with it)."""
    if value == "bf16":
        raise ValueError("quantize_decoder: bf16 is a loading dtype; load the model with quantization_kwargs('bf16').")
    device = next(model.decoder.parameters()).device
    check_quantize(value, device)
    if value in ("int8", INT8_HEADS):
        return quantize_decoder_int8(model, heads_only=value == INT8_HEADS)
    if value == BF16_HEADS:
        convert_heads_bf16(model.decoder)
    return model


def default_quantize(folder: Any, device: Any = None) -> str | None:
    """The precision a loader uses when its caller chose none: the model folder's recommendation for
    CPUs (``cpu_quantize`` in ``generation_config.json``, e.g. the embedded songgen-tiny's bf16-heads) when
    the model runs on a CPU that can run it; otherwise ``None`` (float32).

    Read from a local folder's file before any weights load.  A recommendation this machine cannot
    run gives way to its fallback (:data:`RECOMMENDATION_FALLBACK`: bf16-heads to int8-heads) or, with none
    left, to float32 (logged): the caller asked for nothing, so either is a correct answer.
    """
    if _device_type_or_none(device) != "cpu" or folder is None:
        return None
    path = Path(folder) / "generation_config.json"
    try:
        value = read_json(path).get("cpu_quantize") if path.is_file() else None
    except (OSError, ValueError, AttributeError):
        return None  # loading the model reports a broken file with its own error
    if value is None or value == FLOAT:
        return None
    if value not in QUANTIZE_CHOICES:
        raise ValueError(
            f"{path}: cpu_quantize must be one of {list(QUANTIZE_CHOICES)} or null, got {value!r}; "
            "fix the file, or choose a precision (quantize=... / --quantize)."
        )
    while value is not None:
        try:
            check_quantize(value, device, "cpu_quantize")
            return value
        except ValueError as error:
            fallback = RECOMMENDATION_FALLBACK.get(value)
            logger.info("Loading %s in %s: its recommended %s", folder, fallback or "float32", error)
            value = fallback
    return None


def precision_kwargs(folder: Any, device: Any = None, quantize: str | None = None) -> dict:
    """The ``from_pretrained`` keyword arguments of the one precision choice every front door makes (the CLI, the
    pipeline, ``stream_song``'s documented loading, the Space, the evaluation): ``quantize`` when the caller
    chose one (``"fp32"``: float32), else the folder's recommendation for this device (:func:`default_quantize`:
    the embedded songgen-tiny's bfloat16 token heads on a CPU), so a seed makes the same song whatever the front
    door.  ``{}`` means float32."""
    if quantize is None:
        return _loading_kwargs(default_quantize(folder, device), device)  # a recommendation checked as it is read
    return quantization_kwargs(quantize, device)


def quantization_kwargs(value: str | None, device: Any = None, name: str = "quantize") -> dict:
    """``from_pretrained`` keyword arguments for ``value`` (``None``: none), after :func:`check_quantize`."""
    check_quantize(value, device, name)
    return _loading_kwargs(value, device)


def _loading_kwargs(value: str | None, device: Any) -> dict:
    """``from_pretrained`` keyword arguments for a checked ``value``."""
    if value is None or value == FLOAT:
        return {}
    if value == "bf16":
        return {"dtype": torch.bfloat16}  # the codec stays float32 (_keep_in_fp32_modules_strict)
    if value == BF16_HEADS:  # any device with native bfloat16 (checked): the heads as Bf16Linear after loading
        return {"quantization_config": SongGenBf16HeadsConfig()}
    heads_only = value == INT8_HEADS
    if _device_type(device) == "cpu":
        return {"quantization_config": SongGenInt8Config(heads_only=heads_only)}
    skipped = NOT_CONVERTED + (("decoder.model",) if heads_only else ())
    return {"quantization_config": int8_quantization_config(skipped)}


__all__ = [
    "BF16_HEADS",
    "Bf16Linear",
    "bf16_matmul",
    "check_int8_kernel",
    "convert_heads_bf16",
    "check_quantize",
    "default_quantize",
    "precision_kwargs",
    "INT8_HEADS",
    "int8_matmul",
    "int8_quantization_config",
    "Int8Linear",
    "kernel_available",
    "NOT_CONVERTED",
    "pack_decoder_int8",
    "pack_linears_int8",
    "packable",
    "quantization_kwargs",
    "QUANTIZE_CHOICES",
    "quantize_decoder",
    "quantize_decoder_int8",
    "RECOMMENDATION_FALLBACK",
    "quantize_per_channel",
    "SongGenBf16HeadsConfig",
    "SongGenBf16HeadsQuantizer",
    "SongGenInt8Config",
    "SongGenInt8Quantizer",
]
