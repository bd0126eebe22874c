"""ResGenForConditionalGeneration: round trips, a loss that falls, the latent scale, and bad input to ``generate``
refused before any compute (the sampling loop itself is tested with the pipeline, test_pipeline_resgen.py)."""

import pytest
import torch

from songgen_hf import ResGenForConditionalGeneration
from songgen_hf.testing import dummy_resgen_inputs, tiny_resgen_config

DURATION = 0.3  # 15 frames at 50 Hz


def _generate(model, conditions, **kwargs):
    kwargs = {"duration_s": DURATION, "num_inference_steps": 4, "generator": torch.Generator().manual_seed(0), **kwargs}
    return model.generate(**conditions, **kwargs)


def test_model_save_load_round_trip(model, tmp_path):
    model.save_pretrained(tmp_path)
    loaded = ResGenForConditionalGeneration.from_pretrained(tmp_path).eval()
    assert type(loaded.config) is type(model.config) and loaded.config.model_type == "songgen_resgen"
    for field in ("num_codebooks", "latent_dim", "num_mixtures", "hidden_size", "max_position_embeddings"):
        assert getattr(loaded.config.decoder, field) == getattr(model.config.decoder, field)
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, loaded.state_dict()[name]), name
    assert torch.equal(
        _generate(model, dummy_resgen_inputs()).sequences, _generate(loaded, dummy_resgen_inputs()).sequences
    )


def test_loss_falls_on_a_fixed_batch():
    torch.manual_seed(0)
    model = ResGenForConditionalGeneration(tiny_resgen_config(joint_dropout_prob=0.0)).train()
    conditions = dummy_resgen_inputs()
    codes = torch.randint(0, 1024, (2, 4, 20), generator=torch.Generator().manual_seed(2))
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(trainable, lr=3e-3)
    losses = []
    for _ in range(25):
        loss = model(
            **conditions,
            audio_codes=codes,
            mask_ratios=torch.tensor([0.3, 0.6]),
            generator=torch.Generator().manual_seed(0),
        ).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] - 0.3, losses


def test_loss_is_computed_on_the_given_masks_only(model):
    codes = torch.randint(0, 1024, (2, 4, 10), generator=torch.Generator().manual_seed(3))
    masked = codes.clone()
    masked[:, 2:, :5] = model.mask_token_id
    first = model(**dummy_resgen_inputs(), audio_codes=codes, masked_audio_codes=masked).loss
    assert torch.isfinite(first)
    unmasked_changed = codes.clone()
    unmasked_changed[:, :2, :5] = (unmasked_changed[:, :2, :5] + 1) % 1024  # hidden by the given input
    assert model(**dummy_resgen_inputs(), audio_codes=unmasked_changed, masked_audio_codes=masked).loss == first
    target_changed = codes.clone()
    target_changed[:, 3, :5] = (target_changed[:, 3, :5] + 1) % 1024  # a masked token: a different target
    assert model(**dummy_resgen_inputs(), audio_codes=target_changed, masked_audio_codes=masked).loss != first


def test_a_precomputed_memory_replaces_the_encoders_with_its_mask(model):
    inputs = dummy_resgen_inputs()
    codes = torch.randint(0, 1024, (2, 4, 10), generator=torch.Generator().manual_seed(4))
    masked = codes.clone()
    masked[:, 1:, :] = model.mask_token_id
    encoded = model(**inputs, masked_audio_codes=masked)
    memory, memory_mask = encoded.encoder_last_hidden_state, encoded.encoder_attention_mask
    again = model(encoder_outputs=(memory,), encoder_attention_mask=memory_mask, masked_audio_codes=masked)
    assert torch.equal(again.mixture.means, encoded.mixture.means)
    # without encoder_attention_mask, attention_mask is the memory's mask (as generation passes it)
    half = memory_mask.clone()
    half[:, memory_mask.shape[1] // 2 :] = 0
    by_attention_mask = model(encoder_outputs=(memory,), attention_mask=half, masked_audio_codes=masked)
    assert torch.equal(by_attention_mask.encoder_attention_mask, half)
    assert not torch.equal(by_attention_mask.mixture.means, encoded.mixture.means)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"num_inference_steps": 0}, "num_inference_steps"),
        ({"num_inference_steps": 61}, "exceeds the 60 tokens"),
        ({"guidance_scale": 0.5}, "guidance_scale"),
        ({"temperature": 0.0}, "temperature"),
        ({"temperature": -1.0}, "temperature"),
        ({"top_p": 0.0}, "top_p"),
        ({"top_p": 1.5}, "top_p"),
        ({"duration_s": 6.0}, "positional limit"),
        ({"duration_s": 0.0}, "duration_s"),
        ({"audio_prompt_codes": torch.zeros(1, 4, 15, dtype=torch.long)}, "not shorter than duration_s"),
        ({"generator": [torch.Generator()]}, "one torch.Generator per song"),
    ],
)
def test_bad_input_is_refused_before_any_compute(model, kwargs, match, monkeypatch):
    def no_compute(*args, **kwargs):
        raise AssertionError("the conditioning encoders ran before the arguments were checked")

    monkeypatch.setattr(model, "encode_condition_segments", no_compute)
    with pytest.raises(ValueError, match=match):
        _generate(model, dummy_resgen_inputs(), **kwargs)


def test_latent_scale_rescales_what_the_model_sees_and_nothing_else(model):
    """codebooks() carries the scale into inputs, targets and the sampler's quantization; the codes a
    latent quantizes to do not depend on it, and the scale survives save/load."""
    from songgen_hf.modeling.resgen.mixture import residual_quantize

    torch.manual_seed(0)
    scaled = ResGenForConditionalGeneration(tiny_resgen_config(decoder={"latent_scale": 0.25})).eval()
    scaled.audio_encoder.load_state_dict(model.audio_encoder.state_dict())
    assert torch.allclose(scaled.codebooks(), model.codebooks() * 0.25)
    latent, start = torch.randn(2, 6, model.codebooks().shape[-1]) * 5, torch.zeros(2, 6, dtype=torch.long)
    tokens, _ = residual_quantize(latent, model.codebooks(), start, model.mask_token_id)
    tokens_scaled, _ = residual_quantize(latent * 0.25, scaled.codebooks(), start, model.mask_token_id)
    assert torch.equal(tokens, tokens_scaled)
    with pytest.raises(ValueError, match="latent_scale must be a positive finite number"):
        tiny_resgen_config(decoder={"latent_scale": 0.0})
