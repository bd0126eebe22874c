"""ResGen's ALiBi distance bias and input-scale initialisation: local attention from the first step, the same
numbers under eager and sdpa, no leak from padding, kept by save/load, refused where it cannot work."""

import pytest
import torch

from songgen_hf import ResGenForConditionalGeneration
from songgen_hf.modeling.resgen.transformer import alibi_slopes, distance_bias
from songgen_hf.testing import tiny_resgen_config


def _model(seed=0, **decoder):
    torch.manual_seed(seed)
    options = {"attention_bias": "alibi", "input_scale_init": True, **decoder}
    return ResGenForConditionalGeneration(tiny_resgen_config(decoder=options)).eval()


def _inputs(batch=2, frames=30, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, 200, (batch, 7), generator=g)
    codes = torch.randint(0, 1024, (batch, 4, frames), generator=g)
    return {
        "input_ids": ids,
        "attention_mask": torch.ones_like(ids),
        "lyrics_input_ids": ids,
        "lyrics_attention_mask": torch.ones_like(ids),
    }, codes


def test_slopes_are_alibis_geometric_sequence():
    slopes = alibi_slopes(8)
    assert torch.allclose(slopes[1:] / slopes[:-1], torch.full((7,), 0.5))
    assert slopes[0] == 0.5 and slopes[-1] == 2.0**-8
    assert len(alibi_slopes(6)) == 6 and len(set(alibi_slopes(6).tolist())) == 6


def test_bias_is_symmetric_in_distance_and_blocks_padded_keys():
    bias = distance_bias(torch.tensor([0.5, 0.25]), 5, torch.tensor([[1, 1, 1, 0, 0]]), torch.float32)
    assert bias.shape == (1, 2, 5, 5)
    assert bias[0, 0, 1, 3] == torch.finfo(torch.float32).min  # a padded key
    assert bias[0, 0, 2, 0] == bias[0, 0, 0, 2] == -1.0 and bias[0, 1, 2, 1] == -0.25
    assert (bias[0, :, torch.arange(5), torch.arange(5)][:, :3] == 0).all()


def test_attention_is_local_at_initialisation():
    """A change of one frame's known tokens moves the prediction of its neighbour more than a far frame's."""
    model = _model()
    conditions, codes = _inputs(batch=1, frames=60)
    masked = codes.clone()
    masked[:, 1:] = model.mask_token_id
    changed = masked.clone()
    changed[:, 0, 30] = (changed[:, 0, 30] + 1) % 1024
    with torch.no_grad():
        before = model(**conditions, audio_codes=codes, masked_audio_codes=masked).mixture.means
        after = model(**conditions, audio_codes=codes, masked_audio_codes=changed).mixture.means
    moved = (after - before).flatten(2).norm(dim=-1)[0]
    assert moved[31] > 3 * moved[55] and moved[29] > 3 * moved[5]


def test_eager_and_sdpa_agree_and_padding_does_not_leak():
    model = _model()
    conditions, codes = _inputs()
    frame_mask = torch.ones(2, 30, dtype=torch.long)
    frame_mask[1, 20:] = 0
    masked = codes.clone()
    masked[:, 2:, ::2] = model.mask_token_id
    outputs = {}
    with torch.no_grad():
        for implementation in ("eager", "sdpa"):
            model.decoder.config._attn_implementation = implementation
            outputs[implementation] = model(
                **conditions, audio_codes=codes, masked_audio_codes=masked, frame_attention_mask=frame_mask
            ).mixture.means
        assert torch.allclose(outputs["eager"], outputs["sdpa"], atol=1e-5)
        other = masked.clone()
        other[1, :, 20:] = torch.randint(0, 1024, (4, 10))
        padded = model(
            **conditions, audio_codes=codes, masked_audio_codes=other, frame_attention_mask=frame_mask
        ).mixture
    assert torch.equal(padded.means[1, :20], outputs["sdpa"][1, :20])
    model.decoder.config._attn_implementation = "flash_attention_2"
    with pytest.raises(ValueError, match="additive bias"):
        model(**conditions, audio_codes=codes, masked_audio_codes=masked)


def test_input_scale_init_puts_the_latent_at_the_positions_scale():
    plain, scaled = _model(attention_bias="none", input_scale_init=False), _model()
    latent_dim = scaled.config.decoder.latent_dim
    assert abs(scaled.decoder.input_proj.weight.std().item() - latent_dim**-0.5) < 0.2 * latent_dim**-0.5
    assert abs(scaled.decoder.mask_embedding.weight.std().item() - 1.0) < 0.2
    assert plain.decoder.input_proj.weight.std().item() < 0.03


def test_save_load_keeps_the_bias_and_the_outputs(tmp_path):
    model = _model()
    model.save_pretrained(tmp_path)
    loaded = ResGenForConditionalGeneration.from_pretrained(tmp_path).eval()
    assert loaded.config.decoder.attention_bias == "alibi"
    assert torch.equal(loaded.decoder.alibi_slopes, alibi_slopes(model.config.decoder.num_attention_heads))
    conditions, codes = _inputs()
    masked = codes.masked_fill(
        torch.rand(codes.shape, generator=torch.Generator().manual_seed(1)) < 0.5, model.mask_token_id
    )
    with torch.no_grad():
        expected = model(**conditions, audio_codes=codes, masked_audio_codes=masked).mixture.means
        got = loaded(**conditions, audio_codes=codes, masked_audio_codes=masked).mixture.means
    assert torch.equal(expected, got)


def test_unknown_attention_bias_is_refused():
    with pytest.raises(ValueError, match="attention_bias must be one of"):
        tiny_resgen_config(decoder={"attention_bias": "rope"})


def test_depth_means_centre_the_mixture_on_the_masked_depths_means():
    model = _model(depth_means=True)
    conditions, codes = _inputs()
    codebooks = model.codebooks()
    model.decoder.set_depth_means(codes, codebooks)
    for depth in range(4):  # the mean codeword of each depth over the frames
        assert torch.allclose(
            model.decoder.depth_means[depth], codebooks[depth][codes[:, depth].flatten()].mean(0), atol=1e-6
        )
    all_masked = torch.full_like(codes, model.mask_token_id)
    with torch.no_grad():
        before = model(**conditions, audio_codes=codes, masked_audio_codes=all_masked).mixture.means
        shift = torch.randn_like(model.decoder.depth_means)
        model.decoder.depth_means += shift
        after = model(**conditions, audio_codes=codes, masked_audio_codes=all_masked).mixture.means
    # nothing is known, so the input is unchanged and every component moves by the sum of the masked depths' shifts
    assert torch.allclose(after - before, shift.sum(0).expand_as(after), atol=1e-5)


def test_a_fresh_model_without_depth_means_has_no_such_parameter():
    assert _model().decoder.depth_means is None
    with pytest.raises(ValueError, match="without depth_means"):
        _model().decoder.set_depth_means(torch.zeros(1, 4, 3, dtype=torch.long), _model().codebooks())
