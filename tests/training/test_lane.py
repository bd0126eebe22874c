"""The lane regulariser's passes in parts (lane_rows_per_pass, songgen_hf/training/lane.py): any number of songs per
pass gives the whole batch's loss and gradients, the one-pass divergence of the adapted decoder from the base on
every supervised cell, as it was computed before the passes were split (the logits of a pass given its targets)."""

import pytest
import torch
from torch import nn

from songgen_hf.testing import dummy_inputs, tiny_songgen_model
from songgen_hf.training.lane import LaneRegulariser
from songgen_hf.training.lora import apply_lora

BATCH = 5


@pytest.fixture(scope="module")
def adapted():
    """A tiny mixed_pro SongGen (main and vocal heads) with a LoRA of its decoder and heads, moved off zero so that
    the adapted distributions differ from the base's, and a batch whose songs differ in length (padded cells)."""
    model = tiny_songgen_model("mixed_pro", seed=3)
    peft_model = apply_lora(model, r=4, alpha=8, dropout=0.0)
    generator = torch.Generator().manual_seed(11)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "lora_" in name:
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.2)
    batch = dummy_inputs(model.config, batch_size=BATCH, num_frames=12, seed=4)
    assert "vocal_labels" in batch and bool((batch["labels"] == -100).any())
    return model, peft_model, batch


def _trained(model):
    return {name: p for name, p in model.named_parameters() if p.requires_grad}


def _reference(model, peft_model, batch) -> torch.Tensor:
    """The regulariser as first written: one pass over the whole batch with its targets, every cell's
    distribution normalised, then the supervised cells'  KL(base || adapted), averaged."""
    model.eval()
    with torch.no_grad(), peft_model.disable_adapter():
        base = model(**batch).logits.float().log_softmax(-1)
    adapted = model(**batch).logits.float().log_softmax(-1)
    cells = batch["labels"].reshape(adapted.shape[:2]) != -100
    return nn.functional.kl_div(adapted[cells], base[cells], log_target=True, reduction="sum") / cells.sum()


def _gradients(model, run) -> tuple[float, dict]:
    for parameter in _trained(model).values():
        parameter.grad = None
    value = run()
    return value, {name: p.grad.clone() for name, p in _trained(model).items() if p.grad is not None}


@pytest.mark.parametrize("rows", [1, 2, 3, BATCH, None])
def test_the_lane_in_parts_gives_the_whole_batch_loss_and_gradients(adapted, rows):
    model, peft_model, batch = adapted
    lane = LaneRegulariser(None, tokenizer=None)
    scale = 0.7

    def reference():
        loss = _reference(model, peft_model, batch)
        (loss * scale).backward()
        return float(loss.detach())

    def in_parts():
        return lane.backward(model, peft_model, batch, scale, torch.Tensor.backward, rows_per_pass=rows)

    expected, expected_grads = _gradients(model, reference)
    value, grads = _gradients(model, in_parts)
    assert expected > 1e-3  # the adapter moved the distributions: the comparison has something to compare
    assert value == pytest.approx(expected, rel=1e-5)
    assert set(grads) == set(expected_grads) and grads
    for name, grad in grads.items():
        torch.testing.assert_close(grad, expected_grads[name], rtol=1e-4, atol=1e-7, msg=name)
    # the one-pass divergence (the measurement the benchmarks read) is the same number
    with torch.no_grad():
        assert float(lane.divergence(model, peft_model, batch)) == pytest.approx(expected, rel=1e-5)
    # the passes run without dropout and leave the model in the mode they found it in
    for training in (True, False):
        model.train(training)
        lane.backward(model, peft_model, batch, scale, lambda loss: None, rows_per_pass=rows)
        assert model.training is training


def test_a_batch_without_supervised_cells_adds_nothing(adapted):
    model, peft_model, batch = adapted
    empty = {**batch, "labels": torch.full_like(batch["labels"], -100)}
    called = []
    lane = LaneRegulariser(None, tokenizer=None)
    assert lane.backward(model, peft_model, empty, 1.0, called.append, rows_per_pass=2) == 0.0
    assert not called


def test_rows_per_pass_and_the_batch_are_checked(adapted):
    model, peft_model, batch = adapted
    lane = LaneRegulariser(None, tokenizer=None)
    with pytest.raises(ValueError, match="lane_rows_per_pass"):
        lane.backward(model, peft_model, batch, 1.0, torch.Tensor.backward, rows_per_pass=0)
    odd = {**batch, "tempo_bpm": torch.zeros(BATCH + 1)}
    with pytest.raises(ValueError, match="tempo_bpm"):
        lane.backward(model, peft_model, odd, 1.0, torch.Tensor.backward, rows_per_pass=2)
