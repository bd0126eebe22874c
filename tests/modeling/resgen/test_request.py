"""ResGenRequest: ResGen's sampling arguments, checked once where a song enters and trusted below for exactly the
arguments, the config and the audio prompt's length they were checked for (the entries' counts are in
tests/pipelines/test_resgen_pipeline.py)."""

import dataclasses

import pytest
import torch

from songgen_hf.modeling.resgen import ResGenRequest
from songgen_hf.modeling.resgen.arguments import SAMPLING_DEFAULTS
from songgen_hf.testing import dummy_resgen_inputs, tiny_resgen_config

from .check_counting import counted_checks

DURATION = 0.3  # 15 frames at 50 Hz: 60 tokens of the tiny model's 4 codebooks
ARGUMENTS = {"num_inference_steps": 4, "duration_s": DURATION}


def _generate(model, **kwargs):
    kwargs = {**ARGUMENTS, "generator": torch.Generator().manual_seed(0), "decode_audio": False, **kwargs}
    return model.generate(**dummy_resgen_inputs(), **kwargs)


def test_a_request_records_what_the_sampler_uses_and_cannot_change():
    request = ResGenRequest.check({**ARGUMENTS, "guidance_scale": None}, tiny_resgen_config())
    assert dict(request.arguments) == {**SAMPLING_DEFAULTS, **ARGUMENTS}  # not given: the sampler's defaults
    assert request.prompt_frames == 0
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.prompt_frames = 3
    with pytest.raises(TypeError):
        request.arguments["num_inference_steps"] = 0


@pytest.mark.parametrize(
    "arguments, prompt_frames, match",
    [
        ({"num_inference_steps": 0}, 0, "--steps must be a whole number >= 1"),
        ({"guidance_scale": 0.5}, 0, "guidance_scale must be a number >= 1"),
        ({"duration_s": 6.0}, 0, "positional limit is 5.12 s"),
        ({"duration_s": DURATION}, 15, r"not shorter than --duration \(0.3 s\)"),
        # the default steps must fit the duration's tokens as given ones do: 1 frame x 4 codebooks
        ({"duration_s": 0.02}, 0, "--steps=16 exceeds the 4 tokens to generate"),
    ],
)
def test_check_refuses_as_check_resgen_arguments_words_it(arguments, prompt_frames, match):
    names = {"num_inference_steps": "--steps", "duration_s": "--duration"}
    with pytest.raises(ValueError, match=match):
        ResGenRequest.check(arguments, tiny_resgen_config(), names, prompt_frames)


def test_a_request_holds_only_for_what_it_was_checked_for():
    config = tiny_resgen_config()
    request = ResGenRequest.check(ARGUMENTS, config)
    # the same arguments (the defaults spelt out or not) on a config of the same values
    assert request.holds_for(ARGUMENTS, tiny_resgen_config())
    assert request.holds_for({**ARGUMENTS, "guidance_scale": None, "temperature": 1.0, "top_p": 1.0}, config)
    # anything it did not see
    assert not request.holds_for({**ARGUMENTS, "num_inference_steps": 61}, config)
    assert not request.holds_for({**ARGUMENTS, "guidance_scale": 2.0}, config)
    assert not request.holds_for({"num_inference_steps": 4}, config)  # the default duration was not checked
    assert not request.holds_for(ARGUMENTS, config, prompt_frames=15)
    assert not request.holds_for(ARGUMENTS, tiny_resgen_config(decoder={"max_position_embeddings": 512}))
    # a value equal to the checked one but of another type is another value (True is refused where 1 is not)
    ones = ResGenRequest.check({**ARGUMENTS, "top_p": 1}, config)
    assert ones.holds_for({**ARGUMENTS, "top_p": 1}, config)
    assert not ones.holds_for({**ARGUMENTS, "top_p": True}, config)


def test_generate_trusts_a_request_for_its_arguments_and_checks_when_called_directly(model):
    request = ResGenRequest.check(ARGUMENTS, model.config)
    with counted_checks() as handed:
        trusted = _generate(model, request=request)
    with counted_checks() as direct:
        checked = _generate(model)
    assert (handed["checks"], direct["checks"]) == (0, 1)
    assert torch.equal(trusted.sequences, checked.sequences)  # the request changes no song


@pytest.mark.parametrize(
    "request_for, kwargs, match",
    [
        # checked for other arguments
        ({}, {"num_inference_steps": 0}, "num_inference_steps must be a whole number >= 1"),
        ({}, {"num_inference_steps": 61}, "exceeds the 60 tokens"),
        ({}, {"top_p": True}, "top_p must be a number > 0"),
        # checked without the prompt this call brings
        ({}, {"audio_prompt_codes": torch.zeros(1, 4, 15, dtype=torch.long)}, "not shorter than duration_s"),
        # checked for another config, whose positions hold a longer song
        ({"decoder": {"max_position_embeddings": 512}}, {"duration_s": 6.0}, "positional limit is 5.12 s"),
    ],
)
def test_a_request_checked_for_something_else_is_not_trusted(model, request_for, kwargs, match, monkeypatch):
    checked = {**ARGUMENTS, **{key: value for key, value in kwargs.items() if key == "duration_s"}}
    request = ResGenRequest.check(checked, tiny_resgen_config(**request_for))

    def no_compute(*args, **kwargs):
        raise AssertionError("the conditioning encoders ran before the arguments were checked")

    monkeypatch.setattr(model, "encode_condition_segments", no_compute)
    with pytest.raises(ValueError, match=match):
        _generate(model, request=request, **kwargs)
