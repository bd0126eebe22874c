"""Fixtures shared by the musical-control tests."""

import pytest
import torch


@pytest.fixture(scope="module")
def batch(model):
    """Two songs' decoder inputs and labels, laid out by the requesting module's own ``model`` fixture's pattern."""
    torch.manual_seed(1)
    codes = torch.randint(0, 1024, (2, 8, 30))
    built = model.pattern.build_labels(codes)
    return {
        "input_ids": torch.randint(0, 200, (2, 7)),
        "lyrics_input_ids": torch.randint(5, 200, (2, 9)),
        "decoder_input_ids": built.decoder_input_ids,
        "labels": built.loss_labels(),
    }
