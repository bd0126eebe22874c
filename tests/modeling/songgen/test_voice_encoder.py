"""Reference-voice encoder: MERT-shaped HuBERT, layer mix, projection, masks, freezing, key map."""

import pytest
import torch

from songgen_hf.conversion.official_keys import (
    convert_mert_state_dict,
    convert_official_voice_state_dict,
    official_key_to_voice_encoder_key,
)
from songgen_hf.modeling.songgen.conditioning_songgen import SongGenVoiceEncoder
from songgen_hf.modeling.songgen.configuration_songgen import (
    SongGenVoiceEncoderConfig,
    mert_v1_330m_config,
)
from songgen_hf.testing import tiny_voice_encoder_config

CLIP = 72000  # 3 s at 24 kHz


@pytest.fixture(scope="module")
def encoder():
    torch.manual_seed(0)
    return SongGenVoiceEncoder(tiny_voice_encoder_config()).eval()


def _waves(batch, samples=CLIP, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return 0.1 * torch.randn(batch, samples, generator=generator)


# ---------------------------------------------------------------------- config
def test_default_config_is_mert_v1_330m():
    config = SongGenVoiceEncoderConfig()
    enc = config.audio_encoder_config
    assert enc.model_type == "hubert"
    sizes = (enc.hidden_size, enc.num_hidden_layers, enc.num_attention_heads, enc.intermediate_size)
    assert sizes == (1024, 24, 16, 4096)
    assert list(enc.conv_stride) == [5, 2, 2, 2, 2, 2, 2] and list(enc.conv_kernel) == [10, 3, 3, 3, 3, 2, 2]
    assert enc.feat_extract_norm == "group" and enc.do_stable_layer_norm and not enc.conv_bias
    assert config.num_layers_to_aggregate == 25
    assert config.sampling_rate == 24000 and config.max_samples == CLIP
    assert config.frame_rate == 75.0
    assert config.num_frames() == 224  # 3 s -> 224 frames (not 225: the conv stack drops one)
    assert config.freeze_audio_encoder


def test_config_round_trip(tmp_path):
    config = tiny_voice_encoder_config(output_size=48, use_attention_mask=False)
    config.save_pretrained(tmp_path)
    loaded = SongGenVoiceEncoderConfig.from_pretrained(tmp_path)
    assert loaded.output_size == 48 and loaded.use_attention_mask is False
    assert loaded.audio_encoder_config.hidden_size == 32
    assert list(loaded.audio_encoder_config.conv_dim) == [16] * 7
    assert loaded.num_layers_to_aggregate == 3


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="clip_seconds"):
        tiny_voice_encoder_config(clip_seconds=0)
    with pytest.raises(ValueError, match="no encoder frames"):
        tiny_voice_encoder_config(clip_seconds=0.0001)


def test_full_size_structure_matches_mert_key_list():
    """MERTModel(v1-330M) keys, written out from its structure, equal HubertModel's."""
    with torch.device("meta"):
        module = SongGenVoiceEncoder(SongGenVoiceEncoderConfig())
    state = module.state_dict()
    expected = {"masked_spec_embed": (1024,)}
    expected["feature_extractor.conv_layers.0.conv.weight"] = (512, 1, 10)
    expected["feature_extractor.conv_layers.0.layer_norm.weight"] = (512,)  # GroupNorm(512, 512)
    expected["feature_extractor.conv_layers.0.layer_norm.bias"] = (512,)
    for i, kernel in enumerate([3, 3, 3, 3, 2, 2], start=1):
        expected[f"feature_extractor.conv_layers.{i}.conv.weight"] = (512, 512, kernel)
    expected["feature_projection.layer_norm.weight"] = (512,)
    expected["feature_projection.layer_norm.bias"] = (512,)
    expected["feature_projection.projection.weight"] = (1024, 512)
    expected["feature_projection.projection.bias"] = (1024,)
    expected["encoder.pos_conv_embed.conv.bias"] = (1024,)
    expected["encoder.pos_conv_embed.conv.parametrizations.weight.original0"] = (1, 1, 128)
    expected["encoder.pos_conv_embed.conv.parametrizations.weight.original1"] = (1024, 64, 128)
    expected["encoder.layer_norm.weight"] = (1024,)
    expected["encoder.layer_norm.bias"] = (1024,)
    for layer in range(24):
        p = f"encoder.layers.{layer}."
        for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
            expected[p + f"attention.{proj}.weight"] = (1024, 1024)
            expected[p + f"attention.{proj}.bias"] = (1024,)
        for norm in ("layer_norm", "final_layer_norm"):
            expected[p + f"{norm}.weight"] = (1024,)
            expected[p + f"{norm}.bias"] = (1024,)
        expected[p + "feed_forward.intermediate_dense.weight"] = (4096, 1024)
        expected[p + "feed_forward.intermediate_dense.bias"] = (4096,)
        expected[p + "feed_forward.output_dense.weight"] = (1024, 4096)
        expected[p + "feed_forward.output_dense.bias"] = (1024,)
    got = {k[len("audio_encoder.") :]: tuple(v.shape) for k, v in state.items() if k.startswith("audio_encoder.")}
    assert got == expected
    assert tuple(state["layer_aggregation.weight"].shape) == (1, 25, 1)
    assert tuple(state["layer_aggregation.bias"].shape) == (1,)
    assert tuple(state["projection.weight"].shape) == (1024, 1024)
    encoder_params = sum(v.numel() for k, v in state.items() if k.startswith("audio_encoder."))
    assert 314e6 < encoder_params < 317e6


# ---------------------------------------------------------------------- forward
def test_shapes_and_frame_rate(encoder):
    out = encoder(_waves(2))
    hidden, mask = out
    assert hidden.shape == (2, 224, 32) and mask.shape == (2, 224)
    assert mask.dtype == torch.bool and mask.all()
    one_second = encoder(_waves(1, 24000)).hidden_states
    assert one_second.shape[1] == encoder.num_frames(24000) == 74  # ~75 Hz


def test_accepts_channel_dim(encoder):
    waves = _waves(2)
    a = encoder(waves).hidden_states
    b = encoder(waves[:, None]).hidden_states
    torch.testing.assert_close(a, b)


def test_no_voice_rows_are_fully_masked(encoder):
    waves = _waves(3)
    waves[1] = 0.0
    sample_mask = torch.ones(3, CLIP, dtype=torch.long)
    sample_mask[2] = 0  # a row with samples but nothing marked valid is also "no voice"
    hidden, mask = encoder(waves, sample_mask)
    assert mask[0].all() and not mask[1].any() and not mask[2].any()
    assert torch.count_nonzero(hidden[1]) == 0 and torch.count_nonzero(hidden[2]) == 0


def test_voiced_rows_do_not_depend_on_batch_neighbours(encoder):
    waves = _waves(2, seed=3)
    alone = encoder(waves[:1]).hidden_states
    batch = torch.cat([torch.zeros(1, CLIP), waves], dim=0)
    together = encoder(batch).hidden_states
    torch.testing.assert_close(together[1:2], alone, rtol=1e-4, atol=1e-5)


def test_all_silent_batch_skips_encoder(encoder):
    calls = []
    handle = encoder.audio_encoder.register_forward_pre_hook(lambda *args: calls.append(1))
    try:
        hidden, mask = encoder(torch.zeros(2, CLIP))
    finally:
        handle.remove()
    assert calls == [] and hidden.shape == (2, 224, 32) and not mask.any()


def test_padding_masks_frames(encoder):
    waves = _waves(2)
    sample_mask = torch.ones(2, CLIP, dtype=torch.long)
    sample_mask[1, 36000:] = 0
    waves[1, 36000:] = 0
    _, mask = encoder(waves, sample_mask)
    reference = encoder.audio_encoder._get_feature_vector_attention_mask(224, sample_mask)
    assert torch.equal(mask, reference)
    assert mask[1].sum() == 112

    lenient = SongGenVoiceEncoder(tiny_voice_encoder_config(use_attention_mask=False)).eval()
    _, mask = lenient(waves, sample_mask)
    assert mask.all()


def test_hidden_state_stack_uses_transformers4_semantics(encoder):
    """State 0 = embedding output, last state = post-final-LayerNorm output (4.x layout)."""
    waves = _waves(1)
    with torch.no_grad():
        states = encoder._encode(waves, None)
        hubert = encoder.audio_encoder
        out = hubert(waves, output_hidden_states=True)
        feats = hubert.feature_projection(hubert.feature_extractor(waves).transpose(1, 2))
        embedded = feats + hubert.encoder.pos_conv_embed(feats)
    assert states.shape == (1, 3, 224, 32)
    torch.testing.assert_close(states[:, 0], embedded)
    torch.testing.assert_close(states[:, 1], out.hidden_states[1])
    torch.testing.assert_close(states[:, -1], out.last_hidden_state)
    torch.testing.assert_close(states[:, -1], hubert.encoder.layer_norm(out.hidden_states[-1]))


def test_layer_mix_is_weighted_sum_plus_bias(encoder):
    waves = _waves(1)
    weights = torch.tensor([0.2, -0.5, 1.3])
    module = SongGenVoiceEncoder(tiny_voice_encoder_config()).eval()
    module.load_state_dict(encoder.state_dict())
    with torch.no_grad():
        module.layer_aggregation.weight.copy_(weights.view(1, 3, 1))
        module.layer_aggregation.bias.fill_(0.25)
        states = module._encode(waves, None)
        expected = module.projection(torch.einsum("blth,l->bth", states, weights) + 0.25)
        got = module(waves).hidden_states
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------------- freezing
def test_frozen_encoder_gets_no_gradients():
    module = SongGenVoiceEncoder(tiny_voice_encoder_config())
    module.train()
    hidden, mask = module(_waves(2))
    (hidden * mask[..., None]).pow(2).mean().backward()
    assert all(p.grad is None for p in module.audio_encoder.parameters())
    assert not any(p.requires_grad for p in module.audio_encoder.parameters())
    for p in list(module.layer_aggregation.parameters()) + list(module.projection.parameters()):
        assert p.grad is not None and torch.count_nonzero(p.grad) > 0


def test_encoder_stays_in_eval_mode():
    module = SongGenVoiceEncoder(tiny_voice_encoder_config())
    parent = torch.nn.ModuleDict({"voice": module})
    parent.train()
    assert module.training and module.projection.training and module.layer_aggregation.training
    assert not module.audio_encoder.training
    assert not any(m.training for m in module.audio_encoder.modules())


def test_unfrozen_encoder_trains():
    module = SongGenVoiceEncoder(tiny_voice_encoder_config(freeze_audio_encoder=False)).train()
    assert module.audio_encoder.training
    hidden, _ = module(_waves(1))
    hidden.sum().backward()
    assert module.audio_encoder.feature_projection.projection.weight.grad is not None


def test_dtype_follows_module(encoder):
    module = SongGenVoiceEncoder(tiny_voice_encoder_config()).eval()
    module.load_state_dict(encoder.state_dict())
    module.to(torch.bfloat16)
    hidden, mask = module(_waves(1))
    assert hidden.dtype == torch.bfloat16 and mask.all()


# ---------------------------------------------------------------------- checkpoint keys
def _to_official(key, legacy_weight_norm):
    """Inverse map, written independently of the module's table."""
    if key.startswith("layer_aggregation."):
        return "mert_layer_agg." + key.split(".", 1)[1]
    if key.startswith("projection."):
        return "audio_mert_to_dec_proj." + key.split(".", 1)[1]
    assert key.startswith("audio_encoder.")
    rest = key.split(".", 1)[1]
    if legacy_weight_norm:
        rest = rest.replace("conv.parametrizations.weight.original0", "conv.weight_g")
        rest = rest.replace("conv.parametrizations.weight.original1", "conv.weight_v")
    return "mert_model." + rest


@pytest.mark.parametrize("legacy_weight_norm", [False, True])
def test_official_checkpoint_round_trip(encoder, legacy_weight_norm):
    torch.manual_seed(1)
    source = SongGenVoiceEncoder(tiny_voice_encoder_config()).eval()
    with torch.no_grad():
        for p in source.parameters():
            p.normal_()
    official = {_to_official(k, legacy_weight_norm): v.clone() for k, v in source.state_dict().items()}
    official["decoder.lm_heads.0.weight"] = torch.zeros(3, 3)  # other parts of the checkpoint
    official["text_encoder.shared.weight"] = torch.zeros(3, 3)
    if legacy_weight_norm:
        assert "mert_model.encoder.pos_conv_embed.conv.weight_g" in official

    converted = convert_official_voice_state_dict(official)
    target = SongGenVoiceEncoder(tiny_voice_encoder_config()).eval()
    target.load_state_dict(converted, strict=True)
    for key, value in source.state_dict().items():
        torch.testing.assert_close(target.state_dict()[key], value)
    waves = _waves(1)
    torch.testing.assert_close(target(waves).hidden_states, source(waves).hidden_states)

    prefixed = convert_official_voice_state_dict(
        {"model." + k: v for k, v in official.items()}, target_prefix="voice_encoder.", source_prefix="model."
    )
    assert set(prefixed) == {"voice_encoder." + k for k in converted}


def test_key_map_examples():
    assert official_key_to_voice_encoder_key("mert_layer_agg.weight") == "layer_aggregation.weight"
    assert official_key_to_voice_encoder_key("audio_mert_to_dec_proj.bias") == "projection.bias"
    assert (
        official_key_to_voice_encoder_key("mert_model.encoder.layers.3.attention.q_proj.weight")
        == "audio_encoder.encoder.layers.3.attention.q_proj.weight"
    )
    assert (
        official_key_to_voice_encoder_key("mert_model.encoder.pos_conv_embed.conv.weight_v")
        == "audio_encoder.encoder.pos_conv_embed.conv.parametrizations.weight.original1"
    )
    assert official_key_to_voice_encoder_key("enc_to_dec_proj.weight") is None


def test_mixed_weight_norm_layouts_are_rejected():
    tensor = torch.zeros(1)
    with pytest.raises(ValueError, match="weight-norm"):
        convert_official_voice_state_dict(
            {
                "mert_model.encoder.pos_conv_embed.conv.weight_g": tensor,
                "mert_model.encoder.pos_conv_embed.conv.parametrizations.weight.original0": tensor,
            }
        )


def test_convert_standalone_mert_weights():
    hubert_keys = {
        "feature_extractor.conv_layers.0.conv.weight": torch.ones(1),
        "encoder.pos_conv_embed.conv.weight_g": torch.ones(1),
    }
    converted = convert_mert_state_dict(hubert_keys, target_prefix="voice_encoder.")
    assert set(converted) == {
        "voice_encoder.audio_encoder.feature_extractor.conv_layers.0.conv.weight",
        "voice_encoder.audio_encoder.encoder.pos_conv_embed.conv.parametrizations.weight.original0",
    }


def test_mert_layout_folder_loads_into_hubert(tmp_path):
    """A folder laid out like m-a-p/MERT-v1-330M (custom model_type, legacy weight norm) loads."""
    import json

    from transformers import HubertModel

    config = tiny_voice_encoder_config().audio_encoder_config
    torch.manual_seed(2)
    source = HubertModel(config).eval()
    renames = {"parametrizations.weight.original0": "weight_g", "parametrizations.weight.original1": "weight_v"}
    legacy = {}
    for key, value in source.state_dict().items():
        for new, old in renames.items():
            key = key.replace(new, old)
        legacy[key] = value
    torch.save(legacy, tmp_path / "pytorch_model.bin")
    raw = {**config.to_dict(), "model_type": "mert_model", "architectures": ["MERTModel"], "attention_relax": 32.0}
    (tmp_path / "config.json").write_text(json.dumps(raw))
    loaded, info = HubertModel.from_pretrained(tmp_path, config=config, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    waves = _waves(1, 24000)
    with torch.no_grad():
        torch.testing.assert_close(loaded(waves).last_hidden_state, source(waves).last_hidden_state)


def test_mert_config_helper_overrides():
    config = mert_v1_330m_config(num_hidden_layers=2)
    assert config.num_hidden_layers == 2 and config.hidden_size == 1024 and config.do_stable_layer_norm
