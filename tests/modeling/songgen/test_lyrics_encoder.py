"""Tests for the SongGen lyrics encoder: shapes, masking, back ends and parity with the reference maths.

The parity oracle below is an independent, deliberately literal restatement of the reference
forward pass (ESPnet relative-position attention with the zero-pad rel-shift, -inf masking
followed by zero-filling, sinusoid table built from flipped positive and negative halves).  It
reads tensors by their *official* checkpoint names, so the test also covers the key converter.
"""

from __future__ import annotations

import functools
import math
import time

import pytest
import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from songgen_hf.conversion.official_keys import (
    convert_official_lyrics_encoder_state_dict,
    official_lyrics_encoder_key_map,
)
from songgen_hf.modeling.songgen.conditioning_songgen import (
    SongGenLyricsEncoder,
    SongGenLyricsSelfAttention,
    init_lyrics_encoder_weights,
    relative_shift,
)
from songgen_hf.modeling.songgen.configuration_songgen import SongGenLyricsEncoderConfig
from songgen_hf.testing import tiny_lyrics_encoder_config

VOCAB = 40


def tiny_config(**overrides) -> SongGenLyricsEncoderConfig:
    """The package's tiny lyrics encoder (32 wide, 2 layers of 4 heads, no dropout) on 40 ids and 64 positions."""
    return tiny_lyrics_encoder_config(**{"vocab_size": VOCAB, "max_position_embeddings": 64, **overrides})


def build(config: SongGenLyricsEncoderConfig, attn_implementation: str = "sdpa") -> SongGenLyricsEncoder:
    config._attn_implementation = attn_implementation
    return SongGenLyricsEncoder(config).eval()


# --------------------------------------------------------------------------------------------
# the oracle: the reference forward pass, written out on official key names
# --------------------------------------------------------------------------------------------


def random_official_state_dict(config: SongGenLyricsEncoderConfig, generator: torch.Generator) -> dict:
    """Random tensors under the official SongGen names (non-trivial norms and biases everywhere)."""
    hidden, inner, heads = config.hidden_size, config.intermediate_size, config.num_attention_heads

    def normal(*shape, std=1.0, mean=0.0):
        return torch.randn(*shape, generator=generator) * std + mean

    def linear(prefix, fan_out, fan_in, bias=True):
        tensors = {f"{prefix}.weight": normal(fan_out, fan_in, std=1.0 / math.sqrt(fan_in))}
        if bias:
            tensors[f"{prefix}.bias"] = normal(fan_out, std=0.1)
        return tensors

    def norm(prefix):
        return {f"{prefix}.weight": normal(hidden, std=0.1, mean=1.0), f"{prefix}.bias": normal(hidden, std=0.1)}

    state = {"embed_prompts.weight": normal(config.vocab_size, hidden)}
    state |= linear("lyrics_encoder.embed.out.0", hidden, hidden)
    state |= norm("lyrics_encoder.embed.out.1")
    for index in range(config.num_hidden_layers):
        block = f"lyrics_encoder.encoders.{index}"
        for name in ("linear_q", "linear_k", "linear_v", "linear_out"):
            state |= linear(f"{block}.self_attn.{name}", hidden, hidden)
        state |= linear(f"{block}.self_attn.linear_pos", hidden, hidden, bias=False)
        state[f"{block}.self_attn.pos_bias_u"] = normal(heads, hidden // heads, std=0.5)
        state[f"{block}.self_attn.pos_bias_v"] = normal(heads, hidden // heads, std=0.5)
        state |= linear(f"{block}.feed_forward.w_1", inner, hidden)
        state |= linear(f"{block}.feed_forward.w_2", hidden, inner)
        state |= norm(f"{block}.norm_ff")
        state |= norm(f"{block}.norm_mha")
    state |= norm("lyrics_encoder.after_norm")
    # Parent-owned and unrelated tensors must be ignored by the converter.
    state |= linear("lyrics_to_dec_proj", hidden, hidden)
    state["enc_to_dec_proj.weight"] = normal(hidden, hidden)
    return state


def oracle_sinusoids(length: int, hidden: int) -> torch.Tensor:
    """Reference table for distances length-1 .. -(length-1): flipped positive half + negative half."""
    steps = torch.arange(0, length, dtype=torch.float32)[:, None]
    frequencies = torch.exp(torch.arange(0, hidden, 2, dtype=torch.float32) * -(math.log(10000.0) / hidden))
    positive = torch.zeros(length, hidden)
    negative = torch.zeros(length, hidden)
    positive[:, 0::2] = torch.sin(steps * frequencies)
    positive[:, 1::2] = torch.cos(steps * frequencies)
    negative[:, 0::2] = torch.sin(-1 * steps * frequencies)
    negative[:, 1::2] = torch.cos(-1 * steps * frequencies)
    return torch.cat([positive.flip(0), negative[1:]], dim=0)[None]  # (1, 2T-1, H)


def oracle_rel_shift(scores: torch.Tensor) -> torch.Tensor:
    """Zero-pad one column on the left, view as (2T, T), drop the first row, keep T columns."""
    batch, heads, length, columns = scores.shape
    padded = torch.cat([scores.new_zeros(batch, heads, length, 1), scores], dim=-1)
    padded = padded.view(batch, heads, columns + 1, length)
    return padded[:, :, 1:].reshape(batch, heads, length, columns)[..., : columns // 2 + 1]


def oracle_forward(state: dict, config: SongGenLyricsEncoderConfig, input_ids, attention_mask) -> torch.Tensor:
    hidden, heads = config.hidden_size, config.num_attention_heads
    head_dim = hidden // heads
    eps = config.layer_norm_eps
    batch, length = input_ids.shape

    def lin(x, prefix):
        return F.linear(x, state[f"{prefix}.weight"], state.get(f"{prefix}.bias"))

    def ln(x, prefix):
        return F.layer_norm(x, (hidden,), state[f"{prefix}.weight"], state[f"{prefix}.bias"], eps)

    def heads_first(x):
        return x.view(x.shape[0], -1, heads, head_dim).transpose(1, 2)

    x = state["embed_prompts.weight"][input_ids]
    x = ln(lin(x, "lyrics_encoder.embed.out.0"), "lyrics_encoder.embed.out.1")
    x = x * math.sqrt(hidden)
    pos = oracle_sinusoids(length, hidden)
    keep = attention_mask.bool()[:, None, :]  # (B, 1, T)
    for index in range(config.num_hidden_layers):
        block = f"lyrics_encoder.encoders.{index}"
        residual = x
        y = ln(x, f"{block}.norm_mha")
        q = lin(y, f"{block}.self_attn.linear_q").view(batch, -1, heads, head_dim)  # (B, T, h, d)
        k = heads_first(lin(y, f"{block}.self_attn.linear_k"))
        v = heads_first(lin(y, f"{block}.self_attn.linear_v"))
        p = heads_first(lin(pos, f"{block}.self_attn.linear_pos"))
        q_u = (q + state[f"{block}.self_attn.pos_bias_u"]).transpose(1, 2)
        q_v = (q + state[f"{block}.self_attn.pos_bias_v"]).transpose(1, 2)
        ac = q_u @ k.transpose(-2, -1)
        bd = q_v @ p.transpose(-2, -1)
        if ac.shape != bd.shape:
            bd = oracle_rel_shift(bd)
        scores = (ac + bd) / math.sqrt(head_dim)
        masked = keep.unsqueeze(1).eq(0)
        scores = scores.masked_fill(masked, -float("inf"))
        attn = torch.softmax(scores, dim=-1).masked_fill(masked, 0.0)
        context = (attn @ v).transpose(1, 2).reshape(batch, -1, hidden)
        x = residual + lin(context, f"{block}.self_attn.linear_out")
        residual = x
        y = ln(x, f"{block}.norm_ff")
        y = lin(F.silu(lin(y, f"{block}.feed_forward.w_1")), f"{block}.feed_forward.w_2")
        x = residual + y
    return ln(x, "lyrics_encoder.after_norm")


def loaded_pair(config, attn_implementation="sdpa", seed=0):
    generator = torch.Generator().manual_seed(seed)
    official = random_official_state_dict(config, generator)
    model = build(config, attn_implementation)
    model.load_state_dict(convert_official_lyrics_encoder_state_dict(official), strict=True)
    return official, model


def padded_batch(lengths, generator=None):
    generator = generator or torch.Generator().manual_seed(1)
    total = max(lengths)
    input_ids = torch.randint(1, VOCAB, (len(lengths), total), generator=generator)
    attention_mask = torch.zeros(len(lengths), total, dtype=torch.long)
    for row, length in enumerate(lengths):
        attention_mask[row, :length] = 1
        input_ids[row, length:] = 0  # pad id
    return input_ids, attention_mask


# --------------------------------------------------------------------------------------------
# tests
# --------------------------------------------------------------------------------------------


def test_shapes_and_returned_mask():
    model = build(tiny_config())
    input_ids, attention_mask = padded_batch([6, 3])
    hidden, mask = model(input_ids, attention_mask)
    assert hidden.shape == (2, 6, 32)
    assert mask is attention_mask
    hidden, mask = model(input_ids)
    assert mask.dtype == torch.long and bool(mask.all()) and mask.shape == input_ids.shape


@pytest.mark.parametrize("attn_implementation", ["eager", "sdpa"])
def test_matches_reference_maths_through_official_keys(attn_implementation):
    config = tiny_config()
    official, model = loaded_pair(config, attn_implementation)
    input_ids, attention_mask = padded_batch([9, 5, 1])
    with torch.no_grad():
        ours, _ = model(input_ids, attention_mask)
        expected = oracle_forward(official, config, input_ids, attention_mask)
    # All positions, padded ones included: the reference does not zero them either.
    torch.testing.assert_close(ours, expected, atol=1e-5, rtol=1e-5)


def test_padded_positions_are_not_zeroed_like_the_reference():
    config = tiny_config()
    official, model = loaded_pair(config)
    input_ids, attention_mask = padded_batch([7, 3])
    with torch.no_grad():
        ours, _ = model(input_ids, attention_mask)
    assert ours[1, 3:].abs().sum() > 0


def test_fully_masked_item_matches_reference_and_has_finite_gradients():
    config = tiny_config()
    for implementation in ("eager", "sdpa"):
        official, model = loaded_pair(config, implementation)
        input_ids, attention_mask = padded_batch([5, 4])
        attention_mask[1] = 0
        with torch.no_grad():
            expected = oracle_forward(official, config, input_ids, attention_mask)
        ours, _ = model(input_ids, attention_mask)
        torch.testing.assert_close(ours, expected, atol=1e-5, rtol=1e-5)
        ours.sum().backward()
        assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_padding_invariance_of_valid_positions():
    config = tiny_config()
    _, model = loaded_pair(config)
    input_ids, attention_mask = padded_batch([9, 4, 6])
    with torch.no_grad():
        batched, _ = model(input_ids, attention_mask)
        for row, length in enumerate([9, 4, 6]):
            alone, _ = model(input_ids[row : row + 1, :length])
            torch.testing.assert_close(batched[row, :length], alone[0], atol=1e-5, rtol=1e-5)


def test_eager_and_sdpa_agree():
    config = tiny_config()
    _, eager = loaded_pair(config, "eager")
    sdpa = build(tiny_config(), "sdpa")
    sdpa.load_state_dict(eager.state_dict())
    input_ids, attention_mask = padded_batch([8, 2, 5])
    with torch.no_grad():
        torch.testing.assert_close(sdpa(input_ids, attention_mask)[0], eager(input_ids, attention_mask)[0])
        torch.testing.assert_close(sdpa(input_ids)[0], eager(input_ids)[0])


@pytest.mark.parametrize("length", [1, 2, 3, 7])
def test_relative_shift_equals_pad_and_reshape(length):
    scores = torch.randn(2, 3, length, 2 * length - 1)
    torch.testing.assert_close(relative_shift(scores), oracle_rel_shift(scores), atol=0, rtol=0)
    # And the definition: entry (i, j) is the score for distance i - j, column T-1-i+j.
    i = torch.arange(length)[:, None]
    j = torch.arange(length)[None, :]
    expected = scores[..., i, length - 1 - i + j]
    torch.testing.assert_close(relative_shift(scores), expected, atol=0, rtol=0)


def test_relative_shift_is_differentiable():
    scores = torch.randn(1, 2, 4, 7, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(relative_shift, (scores,))


def test_use_encoder_false_returns_raw_embeddings():
    config = tiny_config(use_encoder=False)
    generator = torch.Generator().manual_seed(0)
    official = random_official_state_dict(tiny_config(), generator)
    model = build(config)
    converted = convert_official_lyrics_encoder_state_dict(official, include_encoder=False)
    assert set(converted) == {"embed_tokens.weight"}
    model.load_state_dict(converted, strict=True)
    assert not hasattr(model, "layers")
    input_ids, attention_mask = padded_batch([4, 2])
    hidden, mask = model(input_ids, attention_mask)
    torch.testing.assert_close(hidden, official["embed_prompts.weight"][input_ids])
    assert mask is attention_mask


def test_lyrics_longer_than_the_initial_table_extend_it():
    config = tiny_config(max_position_embeddings=4)
    official, model = loaded_pair(config)
    input_ids, attention_mask = padded_batch([11, 6])
    with torch.no_grad():
        ours, _ = model(input_ids, attention_mask)
        expected = oracle_forward(official, config, input_ids, attention_mask)
    torch.testing.assert_close(ours, expected, atol=1e-5, rtol=1e-5)
    assert model.position_encoding._table.shape[0] == 2 * 11 - 1
    # A shorter input afterwards reads the centre of the grown table.
    with torch.no_grad():
        short, _ = model(input_ids[:, :3])
        expected = oracle_forward(official, config, input_ids[:, :3], torch.ones(2, 3))
    torch.testing.assert_close(short, expected, atol=1e-5, rtol=1e-5)


def test_gradients_reach_every_parameter():
    model = build(tiny_config()).train()
    input_ids, attention_mask = padded_batch([6, 3])
    hidden, _ = model(input_ids, attention_mask)
    (hidden * attention_mask[..., None]).pow(2).mean().backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None, name
        assert torch.isfinite(parameter.grad).all(), name
        assert parameter.grad.abs().sum() > 0, name


def test_gradient_checkpointing_gives_the_same_gradients():
    config = tiny_config(dropout=0.0, positional_dropout=0.0)
    _, model = loaded_pair(config)
    model.train()
    input_ids, attention_mask = padded_batch([6, 3])

    def grads():
        model.zero_grad()
        model(input_ids, attention_mask)[0].sum().backward()
        return [p.grad.clone() for p in model.parameters()]

    plain = grads()
    for layer in model.layers:
        layer.gradient_checkpointing = True
        layer._gradient_checkpointing_func = functools.partial(checkpoint, use_reentrant=False)
    for got, want in zip(grads(), plain):
        torch.testing.assert_close(got, want)


def test_dropout_only_in_training():
    model = build(tiny_config(dropout=0.5, positional_dropout=0.5))
    input_ids, attention_mask = padded_batch([5])
    with torch.no_grad():
        torch.testing.assert_close(model(input_ids)[0], model(input_ids)[0])
        model.train()
        assert not torch.equal(model(input_ids)[0], model(input_ids)[0])


def test_half_precision_runs():
    _, model = loaded_pair(tiny_config())
    model = model.to(torch.bfloat16)
    input_ids, attention_mask = padded_batch([6, 2])
    attention_mask[1] = 0
    with torch.no_grad():
        hidden, _ = model(input_ids, attention_mask)
    assert hidden.dtype == torch.bfloat16 and torch.isfinite(hidden).all()


def test_key_map_covers_the_module_exactly():
    config = tiny_config()
    official = random_official_state_dict(config, torch.Generator().manual_seed(0))
    converted = convert_official_lyrics_encoder_state_dict(official, prefix="lyrics_encoder.")
    model = build(config)
    assert set(converted) == {f"lyrics_encoder.{name}" for name in model.state_dict()}
    assert not any("lyrics_to_dec_proj" in name or "enc_to_dec" in name for name in converted)
    assert len(official_lyrics_encoder_key_map()) == 14
    with pytest.raises(KeyError, match="conv_module"):
        convert_official_lyrics_encoder_state_dict({"lyrics_encoder.encoders.0.conv_module.x.weight": torch.zeros(1)})


def test_full_size_parameter_count():
    # embed_prompts (7.168 M) + encoder; with the parent's 1024x1024 projection the spec's ~91.2 M.
    with torch.device("meta"):
        model = SongGenLyricsEncoder(SongGenLyricsEncoderConfig())
    count = sum(p.numel() for p in model.parameters())
    assert count + 1024 * 1024 + 1024 == pytest.approx(91.2e6, rel=2e-3)


def test_init_function():
    config = tiny_config(initializer_range=0.02)
    model = build(config)
    for parameter in model.parameters():
        torch.nn.init.constant_(parameter, 7.0)
    model.apply(lambda module: init_lyrics_encoder_weights(module, config))
    attention = model.layers[0].self_attn
    assert isinstance(attention, SongGenLyricsSelfAttention)
    bound = math.sqrt(6.0 / (attention.num_heads + attention.head_dim))
    assert attention.pos_bias_u.abs().max() <= bound and attention.pos_bias_u.std() > 0
    assert torch.equal(attention.q_proj.bias, torch.zeros_like(attention.q_proj.bias))
    assert attention.q_proj.weight.std().item() == pytest.approx(0.02, rel=0.3)
    assert torch.equal(model.final_layer_norm.weight, torch.ones(32))
    assert model.embed_tokens.weight.std().item() == pytest.approx(0.02, rel=0.3)


def test_config_validation_and_round_trip():
    with pytest.raises(ValueError, match="multiple"):
        SongGenLyricsEncoderConfig(hidden_size=30, num_attention_heads=4)
    config = tiny_config(use_encoder=False)
    restored = SongGenLyricsEncoderConfig.from_dict(config.to_dict())
    assert restored.model_type == "songgen_lyrics_encoder"
    assert (restored.hidden_size, restored.use_encoder, restored.head_dim) == (32, False, 8)


def test_tiny_forward_and_backward_is_fast():
    model = build(tiny_config()).train()
    input_ids, attention_mask = padded_batch([32, 20, 12, 8])
    start = time.perf_counter()
    model(input_ids, attention_mask)[0].sum().backward()
    assert time.perf_counter() - start < 1.0
