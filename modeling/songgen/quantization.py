"""Reduced precision a user can ask for: int8 decoder weights through transformers' torchao
integration, or bfloat16.

``songgen generate --quantize int8|bf16``, ``load_text_to_song_pipeline(quantize=...)`` and
``SongGenForConditionalGeneration.from_pretrained(path, **quantization_kwargs("int8"))`` all come
here.  int8 is transformers' own ``TorchAoConfig`` (torchao's dynamic int8 activations x int8
per-channel weights), so ``from_pretrained(..., quantization_config=TorchAoConfig(...))`` with any
torchao setting works too; what this module adds is the choice of modules and the checks:

* only the decoder is converted: the description, lyrics and voice encoders run once per song, so
  int8 there wins no time and only adds error; the codec stays float32 in any case (the model's
  ``_keep_in_fp32_modules``, which every transformers quantizer skips);
* every check runs before any weights are read or converted: an unknown name, torchao missing or
  too old, int8 kernels that do not run on this platform, bfloat16 a CPU/GPU cannot compute.

torchao is imported lazily: it is the optional ``quantize`` extra (``pip install "songgen-hf[quantize]"``).
"""

from __future__ import annotations

from typing import Any

import torch

QUANTIZE_CHOICES = ("int8", "bf16")
# transformers' own floor for its torchao integration (transformers.utils.import_utils.TORCHAO_MIN_VERSION)
MIN_TORCHAO_VERSION = "0.15.0"
# top-level modules left in float32: run once per song (encoders) or must stay exact (codec)
NOT_CONVERTED = ("text_encoder", "lyrics_encoder", "voice_encoder", "enc_to_dec_proj", "lyrics_to_dec_proj",
                 "audio_encoder")
INSTALL_HINT = 'pip install "songgen-hf[quantize]"'


def _device_type(device: Any) -> str:
    if device is None:
        return "cpu"
    if isinstance(device, int) and not isinstance(device, bool):
        return "cpu" if device < 0 else "cuda"
    return torch.device(device).type


def _torchao(name: str):
    try:
        import torchao
    except ImportError:
        raise ValueError(f"{name}=int8 needs torchao, which is not installed; {INSTALL_HINT}.") from None
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
        raise ValueError(f"{name} must be one of {list(QUANTIZE_CHOICES)} (or left out for float32), got {value!r}.")
    kind = _device_type(device)
    if value == "bf16":
        if not _bf16_supported(kind):
            raise ValueError(
                f"{name}=bf16: this {kind.upper()} has no bfloat16 support (it would be emulated, slower than "
                f"float32); leave {name} out, or use {name}=int8."
            )
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
            f"{name}=int8 cannot run on this platform ({kind}): torchao's int8 kernels failed on a test layer "
            f"({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}); leave {name} out."
        ) from None


def int8_quantization_config(modules_to_not_convert=NOT_CONVERTED):
    """transformers' ``TorchAoConfig`` for SongGen's int8 decoder (checks torchao first)."""
    _torchao("quantization")
    from transformers import TorchAoConfig

    return TorchAoConfig(_int8_weight_config(), modules_to_not_convert=list(modules_to_not_convert))


def quantize_decoder_int8(model):
    """``--quantize int8`` for a model already in memory, in place: torchao's ``quantize_`` with the
    same int8 config on the decoder alone, which is what :func:`int8_quantization_config` makes
    transformers apply while loading (the encoders, projections and codec stay float32).  For
    models built in code (benchmarks, tests); a saved model loads quantized with
    :func:`quantization_kwargs`."""
    _torchao("quantize_decoder_int8")
    from torchao.quantization import quantize_

    quantize_(model.decoder, _int8_weight_config())
    return model


def quantization_kwargs(value: str | None, device: Any = None, name: str = "quantize") -> dict:
    """``from_pretrained`` keyword arguments for ``value`` (``None``: none), after :func:`check_quantize`."""
    check_quantize(value, device, name)
    if value is None:
        return {}
    if value == "bf16":
        return {"dtype": torch.bfloat16}  # the codec stays float32 (_keep_in_fp32_modules_strict)
    return {"quantization_config": int8_quantization_config()}


__all__ = [
    "QUANTIZE_CHOICES",
    "NOT_CONVERTED",
    "check_quantize",
    "int8_quantization_config",
    "quantization_kwargs",
    "quantize_decoder_int8",
]
