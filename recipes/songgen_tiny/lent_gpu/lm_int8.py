"""The LM shard's matrices in int8 for the trip to the lent GPU (pack_lm_upload.py writes, init_without_codec.py reads).

A dual-track songgen-tiny (24.3 M parameters, 17.8 M of them in its 32 token embeddings and 32 token heads) is a
48.7 MB shard even in float16, which leaves too little of the 64 MiB upload for its training data.  Each row of a
matrix is stored as int8 times its own float16 scale (absmax / 127, per output channel, as weight-only int8
quantization does): at most 0.4 % of the row's largest entry, a perturbation of the starting point that the first
hundred optimiser steps move far beyond.  Biases, norms and small matrices stay float16.  Measured on songgen-tiny
v12 through this round trip (session 38, 96 held-out songs, `songgen train ... max_steps=1` with validation_data):
held-out loss 4.18915 against 4.18917, key margin 0.0153 against 0.0154, lyrics margin 0.00153 against 0.00156."""
import torch

SCALE = ".int8_row_scale"


def is_table(name: str, tensor: torch.Tensor) -> bool:
    return tensor.dim() == 2 and tensor.is_floating_point() and tensor.numel() >= 65536


def quantize(state: dict) -> dict:
    out = {}
    for name, tensor in state.items():
        if not is_table(name, tensor):
            out[name] = tensor.contiguous()
            continue
        scale = tensor.float().abs().amax(dim=1, keepdim=True).clamp_min(1e-8) / 127.0
        out[name] = torch.round(tensor.float() / scale).clamp(-127, 127).to(torch.int8).contiguous()
        out[name + SCALE] = scale.to(torch.float16).contiguous()
    return out


def dequantize(state: dict) -> dict:
    out = {}
    for name, tensor in state.items():
        if name.endswith(SCALE):
            continue
        scale = state.get(name + SCALE)
        out[name] = tensor if scale is None else tensor.float() * scale.float()
    return out
