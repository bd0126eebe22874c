"""A trained SongGen deepened with identity layers (modeling/songgen/decoder_growth.py; `decoder_layers`)."""

import pytest
import torch

from songgen_hf import SongGenForConditionalGeneration
from songgen_hf.modeling.songgen.decoder_growth import with_decoder_layers, with_input_convolution
from songgen_hf.testing import dummy_inputs, tiny_songgen_config
from songgen_hf.training.resgen_trainer import ResGenTrainer
from songgen_hf.training.songgen_config import SongGenTrainingConfig
from songgen_hf.training.songgen_trainer import train_songgen

from .test_songgen_training import assets  # noqa: F401  (the encoded tone songs, built once per module)
from .test_vocal_heads import _stage, _start


def _model(pattern="parallel_stream2"):
    torch.manual_seed(0)
    model = SongGenForConditionalGeneration(tiny_songgen_config(pattern, use_voice_encoder=False)).eval()
    with torch.no_grad():  # trained-looking layers: a zero-initialised projection would hide a wrong copy
        for parameter in model.decoder.model.layers.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    return model


def _logits(model, inputs):
    with torch.no_grad():
        return model(**inputs).logits


@pytest.mark.parametrize("pattern", ["parallel_stream2", "mixed"])
def test_appended_layers_start_as_the_identity(pattern):
    model = _model(pattern)
    depth = model.config.decoder.num_hidden_layers
    deeper = with_decoder_layers(model, depth + 2)
    assert deeper.config.decoder.num_hidden_layers == depth + 2 and model.config.decoder.num_hidden_layers == depth
    inputs = dummy_inputs(model.config, batch_size=2, with_labels=False, seed=0)
    torch.testing.assert_close(_logits(deeper, inputs), _logits(model, inputs), atol=1e-5, rtol=1e-5)
    for old, new in zip(model.decoder.model.layers, deeper.decoder.model.layers[:depth], strict=True):
        assert all(torch.equal(a, b) for a, b in zip(old.parameters(), new.parameters(), strict=True))
    for layer in deeper.decoder.model.layers[depth:]:
        assert not layer.fc2.weight.any() and not layer.self_attn.out_proj.weight.any()
        assert not layer.encoder_attn.out_proj.weight.any()
        assert layer.fc1.weight.std() > 0 and layer.encoder_attn.q_proj.weight.std() > 0  # free to learn
    assert with_decoder_layers(deeper, depth + 2) is deeper


def test_the_new_layers_learn_from_the_first_step():
    """Zeroed output projections still get gradients (their inputs are not zero), so the layer moves at once."""
    deeper = with_decoder_layers(_model(), 3).train()
    inputs = dummy_inputs(deeper.config, batch_size=2, with_labels=True, seed=0)
    deeper(**inputs).loss.backward()
    new = deeper.decoder.model.layers[-1]
    assert new.fc2.weight.grad.abs().sum() > 0 and new.encoder_attn.out_proj.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("layers, message", [
    (1, "fewer than the model's 2 layers; layers are only added"),
    (0, "positive whole number of layers, got 0"),
    (2.5, "positive whole number of layers, got 2.5"),
])
def test_bad_depths_are_refused(layers, message):
    with pytest.raises(ValueError, match=message):
        with_decoder_layers(_model(), layers)


def test_a_stage_deepens_the_model_it_continues(assets, tmp_path):  # noqa: F811
    start = _start(tmp_path, "mixed_stream2")
    depth = SongGenForConditionalGeneration.from_pretrained(start).config.decoder.num_hidden_layers
    final = train_songgen(_stage(assets, start, tmp_path / "deep", decoder_layers=depth + 1))
    trained = SongGenForConditionalGeneration.from_pretrained(final)
    assert trained.config.decoder.num_hidden_layers == depth + 1
    assert trained.decoder.model.layers[-1].fc2.weight.any()  # two steps moved the zeroed projection
    conditions = dummy_inputs(trained.config, batch_size=1, with_labels=False, seed=0)
    conditions.pop("decoder_input_ids")
    out = trained.eval().generate(**conditions, duration_s=0.32, do_sample=True, return_dict_in_generate=True)
    assert out.audio.shape[-1] > 0


def test_decoder_layers_is_refused_where_it_means_nothing():
    with pytest.raises(ValueError, match="decoder_layers deepens a model from `init_from`"):
        SongGenTrainingConfig(train_data="x", model={"preset": "tiny"}, decoder_layers=4)
    with pytest.raises(ValueError, match="decoder_layers / input_conv_kernel grow a SongGen"):
        ResGenTrainer(SongGenTrainingConfig(train_data="x", init_from="y", decoder_layers=4))


def test_an_input_convolution_is_added_at_zero_and_a_stage_trains_it(assets, tmp_path):  # noqa: F811
    """`input_conv_kernel` on a model from init_from: the same logits at step 0, the convolution learnt, saved and
    used by generation."""
    model = _model()
    inputs = dummy_inputs(model.config, batch_size=2, seed=3)
    grown = with_input_convolution(model, 4)
    assert grown.config.decoder.input_conv_kernel == 4 and model.config.decoder.input_conv_kernel == 0
    assert torch.equal(_logits(model, inputs), _logits(grown, inputs))
    assert with_input_convolution(grown, 4) is grown
    with pytest.raises(ValueError, match="already has an input convolution over 4 steps"):
        with_input_convolution(grown, 3)
    with pytest.raises(ValueError, match="input_conv_kernel must be 0"):
        with_input_convolution(model, 1)

    start = _start(tmp_path, "mixed_stream2")
    final = train_songgen(_stage(assets, start, tmp_path / "conv", input_conv_kernel=3))
    trained = SongGenForConditionalGeneration.from_pretrained(final).eval()
    assert trained.config.decoder.input_conv_kernel == 3
    assert trained.decoder.model.input_convolution.weight.any()  # two steps moved it from zero
    conditions = dummy_inputs(trained.config, batch_size=1, with_labels=False, seed=0)
    conditions.pop("decoder_input_ids")
    settings = dict(duration_s=0.32, min_duration_s=0.32, do_sample=False, return_dict_in_generate=True,
                    decode_audio=False)
    assert torch.equal(trained.generate(**conditions, **settings).sequences,
                       trained.generate(**conditions, use_cache=False, **settings).sequences)
    with pytest.raises(ValueError, match="input_conv_kernel adds a convolution to a model from `init_from`"):
        SongGenTrainingConfig(train_data="x", model={"preset": "tiny"}, input_conv_kernel=3)
    with pytest.raises(ValueError, match="input_conv_kernel must be 0"):
        SongGenTrainingConfig(train_data="x", init_from="y", input_conv_kernel=1)
