"""SongGen's cache keyword on both sides of transformers' ``past_key_values`` -> ``cache`` rename (5.24)."""

import inspect
import warnings

import pytest
import torch
from transformers.masking_utils import create_causal_mask

from songgen_hf import SongGenForConditionalGeneration
from songgen_hf.modeling.songgen.preallocated_cache import CACHE_KWARG, cache_of
from songgen_hf.testing import dummy_inputs, tiny_songgen_config


def _model():
    torch.manual_seed(0)
    return SongGenForConditionalGeneration(tiny_songgen_config("mixed", use_voice_encoder=False)).eval()


def _prefix_and_step(model, **cache_keyword_of):
    """Logits and cache length after a 3-token call and a 1-token call that continue one cache."""
    inputs = dummy_inputs(model.config, batch_size=1, num_frames=4)
    ids = inputs.pop("decoder_input_ids")
    ids = ids.reshape(-1, ids.shape[-1])[:, :4]
    inputs.pop("labels", None)
    inputs.pop("vocal_labels", None)
    with torch.no_grad():
        first = model(**inputs, decoder_input_ids=ids[:, :3], use_cache=True)
        keyword = cache_keyword_of["name"]
        second = model(**inputs, decoder_input_ids=ids[:, 3:], use_cache=True, **{keyword: cache_of(first)})
    return second.logits, cache_of(second).get_seq_length()


def test_the_cache_name_is_the_one_create_causal_mask_takes():
    assert CACHE_KWARG in inspect.signature(create_causal_mask).parameters


def test_the_output_carries_the_cache_under_the_name_generate_reads():
    model = _model()
    inputs = dummy_inputs(model.config, batch_size=1, num_frames=3)
    with torch.no_grad():
        out = model(**inputs, use_cache=True)
    assert CACHE_KWARG in out.keys()
    assert cache_of(out).get_seq_length() == inputs["decoder_input_ids"].shape[-1]


def test_forward_takes_the_cache_under_the_new_and_the_old_name_without_a_warning():
    model = _model()
    new_logits, new_length = _prefix_and_step(model, name="cache")
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        old_logits, old_length = _prefix_and_step(model, name="past_key_values")
    assert new_length == old_length == 4
    torch.testing.assert_close(new_logits, old_logits, rtol=0, atol=0)


def test_a_cache_passed_under_both_names_is_refused():
    model = _model()
    inputs = dummy_inputs(model.config, batch_size=1, num_frames=3)
    with torch.no_grad():
        cache = cache_of(model(**inputs, use_cache=True))
        with pytest.raises(ValueError, match="not as both"):
            model(**inputs, use_cache=True, cache=cache, past_key_values=cache)


def test_gradient_checkpointing_leaves_the_cache_unwritten():
    """The recompute of a checkpointed layer would write the cache a second time, so the layers
    must receive it under the name GradientCheckpointingLayer drops, on every transformers."""
    model = _model()
    model.activation_checkpointing_enable()
    model.train()
    inputs = dummy_inputs(model.config, batch_size=1, num_frames=3)
    out = model(**inputs, use_cache=True)
    out.loss.backward()
    cache = cache_of(out)
    assert cache is None or cache.get_seq_length() == 0
