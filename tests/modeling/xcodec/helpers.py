"""Shared builders for the X-Codec tests."""

import torch

from songgen_hf import XCodecModel
from songgen_hf.testing import tiny_xcodec_config


def tiny_codec(teacher: str = "hubert", seed: int = 0, **overrides) -> XCodecModel:
    torch.manual_seed(seed)
    return XCodecModel(tiny_xcodec_config(teacher=teacher, **overrides)).eval()


def noise(*shape: int, seed: int = 0, scale: float = 0.3) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=generator) * scale
