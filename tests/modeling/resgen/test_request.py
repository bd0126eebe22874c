"""ResGen's sampling arguments are checked where they are used: the sampler (``check_sampling``, which
``generate()`` and ``ResGenPipeline.__call__`` both run) at every call, before any compute, as the sampler will act
on them (the defaults for those not given); the CLI runs the same check on a folder's config before any weights
load (tests/pipelines/test_resgen_pipeline.py)."""

import pytest
import torch

from songgen_hf.modeling.resgen import check_sampling_arguments
from songgen_hf.testing import dummy_resgen_inputs, tiny_resgen_config

from .check_counting import counted_checks

DURATION = 0.3  # 15 frames at 50 Hz: 60 tokens of the tiny model's 4 codebooks
ARGUMENTS = {"num_inference_steps": 4, "duration_s": DURATION}


def _generate(model, **kwargs):
    kwargs = {**ARGUMENTS, "generator": torch.Generator().manual_seed(0), "decode_audio": False, **kwargs}
    return model.generate(**dummy_resgen_inputs(), **kwargs)


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
def test_the_check_refuses_as_check_resgen_arguments_words_it(arguments, prompt_frames, match):
    names = {"num_inference_steps": "--steps", "duration_s": "--duration"}
    with pytest.raises(ValueError, match=match):
        check_sampling_arguments(arguments, tiny_resgen_config(), names, prompt_frames)


def test_generate_checks_once_per_call_and_takes_no_request(model):
    with counted_checks() as first:
        one = _generate(model)
    with counted_checks() as second:
        two = _generate(model)
    assert (first["checks"], second["checks"]) == (1, 1)
    assert torch.equal(one.sequences, two.sequences)
    with pytest.raises(TypeError, match="request"):
        _generate(model, request=object())


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"num_inference_steps": 0}, "num_inference_steps must be a whole number >= 1"),
        ({"num_inference_steps": 61}, "exceeds the 60 tokens"),
        ({"top_p": True}, "top_p must be a number > 0"),
        ({"audio_prompt_codes": torch.zeros(1, 4, 15, dtype=torch.long)}, "not shorter than duration_s"),
        ({"duration_s": 6.0}, "positional limit is 5.12 s"),
    ],
)
def test_bad_sampling_is_refused_before_any_compute(model, kwargs, match, monkeypatch):
    def no_compute(*args, **kwargs):
        raise AssertionError("the conditioning encoders ran before the arguments were checked")

    monkeypatch.setattr(model, "encode_condition_segments", no_compute)
    with pytest.raises(ValueError, match=match):
        _generate(model, **kwargs)
