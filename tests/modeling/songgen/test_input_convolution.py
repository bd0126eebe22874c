"""The decoder's input convolution (``input_conv_kernel``): a no-op at zero, learnable, and generation hands each step
the ids before it, so cached, static, preallocated and uncached generation agree with trained weights."""

import pytest
import torch

from songgen_hf import SongGenForConditionalGeneration
from songgen_hf.modeling.songgen.configuration_songgen import SongGenDecoderConfig
from songgen_hf.modeling.songgen.input_convolution import context_ids_for_step
from songgen_hf.testing import dummy_inputs, tiny_songgen_config


def _model(pattern="mixed_pro", kernel=3, seed=0, trained=True):
    torch.manual_seed(seed)
    model = SongGenForConditionalGeneration(tiny_songgen_config(pattern, decoder={"input_conv_kernel": kernel})).eval()
    if trained:  # as after training: every lag matters
        with torch.no_grad():
            model.decoder.model.input_convolution.weight.normal_(std=0.3)
    return model


def _conditions(model, batch_size=2):
    inputs = dummy_inputs(model.config, batch_size=batch_size, with_labels=False, seed=0)
    inputs.pop("decoder_input_ids")
    return inputs


@pytest.mark.parametrize("pattern", ["mixed_pro", "parallel_stream2", "interleaving_A_V"])
def test_cached_generation_equals_full_sequences_with_a_trained_convolution(pattern):
    model = _model(pattern)
    conditions = _conditions(model)
    kwargs = dict(duration_s=0.2, min_duration_s=0.2, do_sample=False, return_dict_in_generate=True,
                  decode_audio=False, guidance_scale=3.0)
    uncached = model.generate(**conditions, use_cache=False, **kwargs).sequences  # every step from the whole sequence
    for cache in (None, "static", "preallocated"):
        extra = {} if cache is None else {"cache_implementation": cache}
        assert torch.equal(model.generate(**conditions, **extra, **kwargs).sequences, uncached), cache
    # the convolution is used: without it the same weights sing something else
    with torch.no_grad():
        model.decoder.model.input_convolution.weight.zero_()
    assert not torch.equal(model.generate(**conditions, use_cache=False, **kwargs).sequences, uncached)


def test_a_zero_convolution_is_the_plain_decoder_and_learns_from_the_first_step():
    plain = _model(kernel=0, trained=False)
    grown = _model(kernel=4, trained=False)
    assert not grown.decoder.model.input_convolution.weight.any()  # _init_weights starts it at zero
    missing, unexpected = grown.load_state_dict(plain.state_dict(), strict=False)
    assert missing == ["decoder.model.input_convolution.weight"] and not unexpected
    inputs = dummy_inputs(plain.config, batch_size=2, seed=1)
    assert torch.equal(plain(**inputs).logits, grown(**inputs).logits)
    grown.train()
    grown(**inputs).loss.backward()
    assert grown.decoder.model.input_convolution.weight.grad.abs().sum() > 0


def test_continuing_a_cache_without_the_steps_before_is_refused_with_the_fix():
    model = _model()
    inputs = dummy_inputs(model.config, batch_size=1, seed=2)
    ids = inputs.pop("decoder_input_ids")[..., :6]  # (rows, 6) teacher-forced steps
    inputs.pop("labels"), inputs.pop("vocal_labels", None)
    first = model(**inputs, decoder_input_ids=ids[..., :4], use_cache=True)
    with pytest.raises(ValueError, match="decoder_context_ids"):
        model(**inputs, decoder_input_ids=ids[..., 4:5], cache=first.cache, use_cache=True)
    # with the ids before it, the step equals the full sequence's last step
    step = model(**inputs, decoder_input_ids=ids[..., 4:5], cache=first.cache, use_cache=True,
                 decoder_context_ids=context_ids_for_step(ids[..., :5], 1, 3))
    full = model(**inputs, decoder_input_ids=ids[..., :5])
    assert torch.allclose(step.logits[:, -1], full.logits[:, -1], atol=1e-5)
    with pytest.raises(ValueError, match=r"decoder_context_ids must lie in \[0, 1088\) or be -1"):
        model(**inputs, decoder_input_ids=ids[..., 4:5], cache=first.cache, decoder_context_ids=ids[..., :2] + 5000)
    plain = _model(kernel=0, trained=False)
    with pytest.raises(ValueError, match="input convolution"):
        plain(**inputs, decoder_input_ids=ids, decoder_context_ids=ids[..., :2])


def test_context_ids_mark_the_steps_before_the_sequence():
    ids = torch.arange(10).view(2, 5)
    assert context_ids_for_step(ids, 5, 3) is None  # a whole sequence: nothing before it
    assert context_ids_for_step(ids, 1, 3).tolist() == [[2, 3], [7, 8]]
    assert context_ids_for_step(ids, 4, 4).tolist() == [[-1, -1, 0], [-1, -1, 5]]


@pytest.mark.parametrize("kernel", [1, -2, True, 2.5, "3"])
def test_bad_kernels_are_refused(kernel):
    with pytest.raises(ValueError, match="input_conv_kernel"):
        SongGenDecoderConfig(input_conv_kernel=kernel)
