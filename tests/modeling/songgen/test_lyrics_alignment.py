"""Guided lyrics attention: the penalty, the recomputed attention it reads, and the model's training loss."""

import math

import pytest
import torch

from songgen_hf import SongGenForConditionalGeneration
from songgen_hf.modeling.songgen.lyrics_alignment import (
    GuidedLyricsAttention,
    guided_attention_loss,
    guided_head_probabilities,
)
from songgen_hf.testing import dummy_inputs, tiny_songgen_config


def _attention(batch, heads, length, description, lyrics, at):
    """Probabilities with all mass at memory slot ``at(b, h, t)``."""
    probabilities = torch.zeros(batch, heads, length, description + lyrics)
    for b in range(batch):
        for h in range(heads):
            for t in range(length):
                probabilities[b, h, t, at(b, h, t)] = 1.0
    return probabilities


def test_the_penalty_is_zero_on_target_and_near_one_elsewhere():
    description, lyrics, length = 3, 10, 6
    mask = torch.ones(1, lyrics, dtype=torch.long)
    targets = torch.tensor([[1.0, 2.0, 3.0, math.nan, 5.0, 6.0]])
    on_target = _attention(1, 1, length, description, lyrics, lambda b, h, t: description + max(int(t) + 1, 0))
    loss, count = guided_attention_loss(on_target, targets, mask, width=0.1)
    assert count == 5 and loss.item() == pytest.approx(0.0, abs=1e-6)
    far = _attention(1, 1, length, description, lyrics, lambda b, h, t: description + 9)
    on_description = _attention(1, 1, length, description, lyrics, lambda b, h, t: 0)
    assert guided_attention_loss(on_description, targets, mask, 0.1)[0].item() == pytest.approx(1.0)
    assert 0.95 < guided_attention_loss(far, targets, mask, 0.1)[0].item() < 1.0
    unguided, count = guided_attention_loss(far, torch.full((1, length), math.nan), mask, 0.1)
    assert count == 0 and unguided.item() == 0.0


def test_padding_tokens_earn_nothing():
    description, length = 2, 3
    mask = torch.tensor([[1, 1, 1, 0, 0]])
    on_padding = _attention(1, 1, length, description, 5, lambda b, h, t: description + 4)
    assert guided_attention_loss(on_padding, torch.full((1, length), 4.0), mask, 0.5)[0].item() == pytest.approx(1.0)


def test_recomputed_heads_equal_the_models_own_attention():
    torch.manual_seed(0)
    config = tiny_songgen_config("parallel_stream2", use_voice_encoder=False)
    config._attn_implementation = "eager"
    model = SongGenForConditionalGeneration(config).eval()
    inputs = dummy_inputs(config, batch_size=2, num_frames=12, with_labels=False)
    inputs["lyrics_attention_mask"][1, -2:] = 0  # a padded song: the mask must be applied the same way
    seen = []
    hooks = [layer.encoder_attn.register_forward_hook(lambda m, a, o: seen.append(o[1])) for layer in model.decoder.model.layers]
    memory_mask = model.encode_conditions(inputs["input_ids"], inputs["attention_mask"], inputs["lyrics_input_ids"],
                                          inputs["lyrics_attention_mask"])[1]
    with torch.no_grad(), GuidedLyricsAttention(model.decoder.model.layers, 2, memory_mask) as guide:
        model(**inputs)
    for hook in hooks:
        hook.remove()
    assert len(guide.probabilities) == len(seen) == config.decoder.num_hidden_layers
    for recomputed, eager in zip(guide.probabilities, seen):
        torch.testing.assert_close(recomputed, eager[:, :2].float(), atol=1e-5, rtol=1e-4)
    assert not model.decoder.model.layers[0].encoder_attn._forward_hooks


def _targets(model, inputs):
    """A walk from the first word to the last over the song's codec frames."""
    frames = int(inputs["decoder_input_ids"].shape[-1] * model.pattern.frames_per_position)
    lyric_tokens = int(inputs["lyrics_attention_mask"].sum(1).min())
    walk = torch.linspace(1, lyric_tokens - 2, frames)
    return walk.expand(inputs["lyrics_input_ids"].shape[0], frames).clone()


def test_training_adds_the_weighted_penalty_and_eval_leaves_it_out():
    torch.manual_seed(0)
    config = tiny_songgen_config("parallel_stream2", use_voice_encoder=False, lyrics_alignment_weight=2.0,
                                 lyrics_dropout_prob=0.0, description_dropout_prob=0.0, joint_dropout_prob=0.0)
    model = SongGenForConditionalGeneration(config).train()
    inputs = dummy_inputs(config, batch_size=2, num_frames=12)
    targets = _targets(model, inputs)
    torch.manual_seed(1)
    guided = model(**inputs, lyrics_alignment=targets)
    torch.manual_seed(1)
    plain = model(**inputs)
    assert plain.lyrics_alignment_loss is None and 0.0 < guided.lyrics_alignment_loss.item() < 1.0
    torch.testing.assert_close(guided.loss, plain.loss + 2.0 * guided.lyrics_alignment_loss)
    guided.loss.backward()
    assert model.decoder.model.layers[0].encoder_attn.q_proj.weight.grad.abs().sum() > 0
    model.eval()
    assert model(**inputs, lyrics_alignment=targets).lyrics_alignment_loss is None  # validation: the song's loss only
    model.train()
    model.config.lyrics_alignment_weight = 0.0
    with pytest.raises(ValueError, match="lyrics_alignment_weight is 0"):
        model(**inputs, lyrics_alignment=targets)


def _guided_training(gain: float) -> list[float]:
    """80 steps of the penalty alone on the guided heads' query and key projections, the lyrics' positions at ``gain``."""
    torch.manual_seed(0)
    config = tiny_songgen_config("parallel_stream2", use_voice_encoder=False, lyrics_alignment_weight=1.0,
                                 lyrics_alignment_width=0.2, lyrics_memory_positions=True, lyrics_dropout_prob=0.0,
                                 description_dropout_prob=0.0, joint_dropout_prob=0.0)
    model = SongGenForConditionalGeneration(config).train()
    with torch.no_grad():
        model.lyrics_positions.gain.fill_(gain)
    inputs = dummy_inputs(config, batch_size=2, num_frames=16)
    targets = _targets(model, inputs)
    layers = model.decoder.model.layers
    optimiser = torch.optim.Adam([p for layer in layers for p in (layer.encoder_attn.q_proj.weight,
                                                                  layer.encoder_attn.k_proj.weight)], lr=1e-2)
    losses = []
    for _ in range(80):
        optimiser.zero_grad()
        penalty = model(**inputs, lyrics_alignment=targets).lyrics_alignment_loss
        penalty.backward()
        optimiser.step()
        losses.append(penalty.item())
    return losses


def test_the_guided_heads_follow_the_words_only_where_the_lyrics_have_positions():
    """Why lyrics_memory_positions exists: the lyrics encoder's positions are relative, so a head can only look
    at the same place for every frame (the best constant is the middle token, a penalty near 0.3 here); with
    absolute positions in the memory the same heads learn to walk through the lyrics."""
    without = _guided_training(gain=0.0)
    walking = _guided_training(gain=1.0)
    assert without[-1] > 0.25, without[-10:]
    assert walking[-1] < 0.1 < 0.25 < walking[0], walking[::10]


def test_positions_that_start_at_zero_change_nothing():
    """Turning lyrics_memory_positions on for a trained model keeps its outputs until it trains."""
    torch.manual_seed(0)
    config = tiny_songgen_config("parallel_stream2", use_voice_encoder=False)
    model = SongGenForConditionalGeneration(config).eval()
    inputs = dummy_inputs(config, batch_size=2, num_frames=12, with_labels=False)
    with_positions = SongGenForConditionalGeneration(
        tiny_songgen_config("parallel_stream2", use_voice_encoder=False, lyrics_memory_positions=True)).eval()
    missing, unexpected = with_positions.load_state_dict(model.state_dict(), strict=False)
    assert missing == ["lyrics_positions.gain"] and not unexpected
    assert with_positions.lyrics_positions.gain.item() == 0.0
    with torch.no_grad():
        torch.testing.assert_close(with_positions(**inputs).logits, model(**inputs).logits)


def test_each_decoder_position_reads_the_frame_its_pattern_puts_there():
    from songgen_hf.modeling.songgen.lyrics_alignment import targets_per_position

    targets = torch.tensor([[0.0, 1.0, 2.0, 3.0, 4.0, float("nan")]])
    assert targets_per_position(targets, 4, 1.0)[0].tolist() == [0.0, 1.0, 2.0, 3.0]
    two_streams = targets_per_position(targets, 4, 2.0)  # AudioGen's multi-stream: 2 frames a position
    assert two_streams[0, :2].tolist() == [0.0, 2.0] and torch.isnan(two_streams[0, 3])
    interleaved = targets_per_position(targets, 5, 0.5)  # a frame of each track takes a position
    assert interleaved[0].tolist() == [0.0, 0.0, 1.0, 1.0, 2.0]


def test_bad_settings_are_refused_by_name():
    for field, value in (("lyrics_alignment_weight", -1.0), ("lyrics_alignment_heads", 0),
                         ("lyrics_alignment_heads", 99), ("lyrics_alignment_width", 0.0)):
        with pytest.raises(ValueError, match=field):
            tiny_songgen_config("parallel_stream2", use_voice_encoder=False, **{field: value})
