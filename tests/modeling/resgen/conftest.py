"""Fixtures the ResGen model and pipeline tests share."""

import pytest
import torch

from songgen_hf import ResGenForConditionalGeneration
from songgen_hf.testing import tiny_resgen_config


@pytest.fixture(scope="module")
def model():
    """The tiny ResGen in eval mode, built once per test module from seed 0."""
    torch.manual_seed(0)
    return ResGenForConditionalGeneration(tiny_resgen_config()).eval()
