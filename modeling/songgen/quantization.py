"""Reduced precision a user can ask for: int8 decoder weights (all, or the token heads only), or bfloat16.

``songgen generate --quantize int8|int8-heads|bf16|fp32``, ``load_text_to_song_pipeline(quantize=...)`` and
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
(``cpu_quantize``, see :func:`default_quantize`).

Either way only the decoder is converted: the description, lyrics and voice encoders run once per
song, so int8 there wins no time and only adds error; the codec stays float32 in any case (the
model's ``_keep_in_fp32_modules``, which every transformers quantizer skips).  Every check runs
before any weights are read or converted: an unknown name, torchao missing or too old, int8 kernels
that do not run on this platform, bfloat16 a CPU/GPU cannot compute.

torchao is imported lazily: it is the optional ``quantize`` extra (``pip install "songgen-hf[quantize]"``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from transformers.quantizers import HfQuantizer, register_quantization_config, register_quantizer
from transformers.quantizers.auto import AUTO_QUANTIZATION_CONFIG_MAPPING, AUTO_QUANTIZER_MAPPING
from transformers.utils import logging
from transformers.utils.quantization_config import QuantizationConfigMixin

from songgen_hf.modeling.songgen.int8_weights import check_int8_kernel, pack_linears_int8

logger = logging.get_logger(__name__)

FLOAT = "fp32"  # the explicit "no conversion": overrides a model's cpu_quantize
INT8_HEADS = "int8-heads"  # int8 token heads, float32 transformer layers
QUANTIZE_CHOICES = ("int8", INT8_HEADS, "bf16", FLOAT)
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
INSTALL_HINT = 'pip install "songgen-hf[quantize]"'
INT8_CPU_METHOD = "songgen_int8"


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


# registered once per process (transformers refuses a second registration of the same name)
if INT8_CPU_METHOD not in AUTO_QUANTIZATION_CONFIG_MAPPING:
    register_quantization_config(INT8_CPU_METHOD)(SongGenInt8Config)
if INT8_CPU_METHOD not in AUTO_QUANTIZER_MAPPING:
    register_quantizer(INT8_CPU_METHOD)(SongGenInt8Quantizer)


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
    if value == "bf16":
        if not _bf16_supported(kind):
            raise ValueError(
                f"{name}=bf16: this {kind.upper()} has no bfloat16 support (it would be emulated, slower than "
                f"float32); leave {name} out, or use {name}=int8."
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


def default_quantize(folder: Any, device: Any = None) -> str | None:
    """The precision a loader uses when its caller chose none: the model folder's recommendation for
    CPUs (``cpu_quantize`` in ``generation_config.json``, e.g. the embedded songgen-tiny's int8-heads) when
    the model runs on a CPU that can run it; otherwise ``None`` (float32).

    Read from a local folder's file before any weights load.  A recommendation this machine cannot
    run is skipped (logged): the caller asked for nothing, so float32 is a correct answer.
    """
    if _device_type_or_none(device) != "cpu" or folder is None:
        return None
    path = Path(folder) / "generation_config.json"
    try:
        value = json.loads(path.read_text(encoding="utf-8")).get("cpu_quantize") if path.is_file() else None
    except (OSError, ValueError, AttributeError):
        return None  # loading the model reports a broken file with its own error
    if value is None or value == FLOAT:
        return None
    if value not in QUANTIZE_CHOICES:
        raise ValueError(
            f"{path}: cpu_quantize must be one of {list(QUANTIZE_CHOICES)} or null, got {value!r}; "
            "fix the file, or choose a precision (quantize=... / --quantize)."
        )
    try:
        check_quantize(value, device, "cpu_quantize")
    except ValueError as error:
        logger.info("Loading %s in float32: its recommended %s", folder, error)
        return None
    return value


def quantization_kwargs(value: str | None, device: Any = None, name: str = "quantize") -> dict:
    """``from_pretrained`` keyword arguments for ``value`` (``None``: none), after :func:`check_quantize`."""
    check_quantize(value, device, name)
    if value is None or value == FLOAT:
        return {}
    if value == "bf16":
        return {"dtype": torch.bfloat16}  # the codec stays float32 (_keep_in_fp32_modules_strict)
    heads_only = value == INT8_HEADS
    if _device_type(device) == "cpu":
        return {"quantization_config": SongGenInt8Config(heads_only=heads_only)}
    skipped = NOT_CONVERTED + (("decoder.model",) if heads_only else ())
    return {"quantization_config": int8_quantization_config(skipped)}


__all__ = [
    "INT8_HEADS",
    "QUANTIZE_CHOICES",
    "SongGenInt8Config",
    "SongGenInt8Quantizer",
    "NOT_CONVERTED",
    "check_quantize",
    "default_quantize",
    "int8_quantization_config",
    "pack_decoder_int8",
    "quantization_kwargs",
    "quantize_decoder_int8",
]
