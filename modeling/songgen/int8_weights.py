"""Weight-only int8 for decoding on a CPU: one byte a weight, PyTorch's packed int8 kernel.

A decoding step multiplies a few activation rows (batch x guidance branches) by every decoder
weight, so on a CPU it is bound by reading those weights from memory.  Kept as int8 with one
scale per output channel, they are a quarter of float32's bytes, and ``aten._weight_int8pack_mm``
multiplies bfloat16 activations by them without dequantising the weight first.  On a 2-core AMD
EPYC the 32 heads of the dual-track default (34 816 x 256) take 1.1 ms a step instead of 3.2 ms.

Three facts about that kernel (torch 2.13, x86) decide how it is used here:

* only its bfloat16 path is vectorised; float16 and float32 activations take a scalar loop that
  is 10-30x slower than a float32 matmul, so activations are rounded to bfloat16 *inside* the
  layer, and its output goes back to the caller's dtype (the residual stream stays float32);
* an input width that is not a multiple of 8 gives wrong numbers or crashes, so such layers stay
  float (:func:`packable`);
* its cost grows with the number of rows (about 8 us a row at 256 -> 1 024), so it beats float32
  for decoding steps (up to ~16 rows) and not for long prompts or large batches.  The prompt
  passes once per song; batched evaluation runs at about float32's speed.

torchao's int8 configs reach different CPU kernels that dequantise on every call (slower than
float32 here), which is why ``quantize="int8"`` on a CPU comes here (``quantization.py``).
"""

from __future__ import annotations

import functools

import torch
from torch import nn

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


__all__ = [
    "Int8Linear",
    "check_int8_kernel",
    "int8_matmul",
    "kernel_available",
    "pack_linears_int8",
    "packable",
    "quantize_per_channel",
]
