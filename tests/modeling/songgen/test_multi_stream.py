"""AudioGen's multi-stream patterns in the model: S frames per decoding step, whole-step budgets,
continuation, and the sizes the decoder takes from the pattern.

The pattern-level properties (round trip, masks, lengths) are in tests/modeling/test_patterns.py and
the every-pattern generation tests (batch = items alone, caches agree, cached = recompute) pick the
stream patterns up from the registry; this file holds what only multi-stream models do.
"""

import pytest
import torch

from songgen_hf import SongGenForConditionalGeneration
from songgen_hf.modeling.songgen.generation_arguments import check_generation_arguments
from songgen_hf.testing import dummy_inputs, tiny_songgen_config

STREAMS = {"mixed_stream2": 2, "mixed_stream4": 4}


def _model(pattern, seed=0, **overrides):
    torch.manual_seed(seed)
    return SongGenForConditionalGeneration(tiny_songgen_config(pattern, **overrides)).eval()


def _conditions(model, batch_size=2, seed=0):
    inputs = dummy_inputs(model.config, batch_size=batch_size, with_labels=False, seed=seed)
    inputs.pop("decoder_input_ids")
    return inputs


class _ForwardCounter:
    def __init__(self, module):
        self.calls = 0
        module.register_forward_pre_hook(self)

    def __call__(self, *args):
        self.calls += 1


@pytest.mark.parametrize("pattern, streams", STREAMS.items())
def test_decoder_is_sized_from_the_pattern(pattern, streams):
    model = _model(pattern, use_voice_encoder=False)
    k = model.config.decoder.num_codebooks
    assert model.config.decoder.num_rows == streams * k == model.pattern.num_rows
    assert len(model.decoder.lm_heads) == len(model.decoder.model.embed_tokens) == streams * k
    assert model.config.audio_encoder.num_quantizers >= k  # the codec still sees K codebooks
    assert not hasattr(model.decoder, "vocal_lm_heads")


@pytest.mark.parametrize("pattern, streams", STREAMS.items())
def test_a_step_emits_s_frames(pattern, streams):
    """16 frames take 16 / S steps plus the codebook delay, against 16 + delay for the single stream."""
    single, multi = _model("mixed"), _model(pattern)
    kwargs = dict(duration_s=0.32, min_duration_s=0.32, do_sample=False, return_dict_in_generate=True, decode_audio=False)
    counter = _ForwardCounter(multi.decoder)
    out = multi.generate(**_conditions(multi), **kwargs)
    reference = single.generate(**_conditions(single), **kwargs)
    delay = multi.config.decoder.num_codebooks - 1
    assert out.sequences.shape[-1] - 1 == 16 // streams + delay
    assert reference.sequences.shape[-1] - 1 == 16 + delay
    assert counter.calls == out.sequences.shape[-1] - 1  # one forward per decoding step
    assert out.codes["mix"].shape == (2, 8, 16) and out.frame_lengths.tolist() == [16, 16]


@pytest.mark.parametrize("pattern, streams", STREAMS.items())
def test_a_budget_s_does_not_divide_is_refused_before_any_weights_run(pattern, streams):
    model = _model(pattern)
    counter = _ForwardCounter(model.decoder)
    seconds = 0.3  # 15 frames: not a whole number of steps for S = 2 or 4
    with pytest.raises(ValueError, match=rf"duration_s=0.3 s is 15 frames.*{streams} frames per decoding step.*ask for"):
        model.generate(**_conditions(model), duration_s=seconds)
    assert counter.calls == 0
    # the pipeline and CLI run the same check on the config alone, naming their own flag
    with pytest.raises(ValueError, match=r"--duration=0.3 s is 15 frames"):
        check_generation_arguments({"duration_s": seconds}, model.config, names={"duration_s": "--duration"})
    check_generation_arguments({"duration_s": 0.32}, model.config)  # 16 frames: whole steps
    check_generation_arguments({"duration_s": seconds}, _model("mixed").config)  # single stream: any frame count


@pytest.mark.parametrize("pattern", STREAMS)
def test_audio_continuation_keeps_a_prompt_that_fills_part_of_a_step(pattern):
    model = _model(pattern)
    prompt = torch.randint(0, 1024, (2, 8, 5), generator=torch.Generator().manual_seed(3))  # 5: not whole steps
    out = model.generate(
        **_conditions(model), audio_prompt_codes=prompt, audio_prompt_frame_lengths=torch.tensor([5, 3]),
        duration_s=0.32, min_duration_s=0.32, do_sample=False, return_dict_in_generate=True,
    )
    assert torch.equal(out.codes["mix"][0, :, :5], prompt[0])
    assert torch.equal(out.codes["mix"][1, :, :3], prompt[1, :, :3])
    assert out.frame_lengths.tolist() == [16, 16]
    assert out.audio.shape == (2, 1, 16 * 320)


def test_min_duration_ends_on_a_whole_step():
    """The lead row may end the song only once min_duration_s is reached, then all streams end together."""
    model = _model("mixed_stream4")
    conditions = _conditions(model)
    out = model.generate(**conditions, duration_s=0.64, min_duration_s=0.1, do_sample=True, top_k=0,
                         return_dict_in_generate=True, decode_audio=False)
    lengths = out.frame_lengths.tolist()
    assert all(n % 4 == 0 and 8 <= n <= 32 for n in lengths), lengths  # 0.1 s = 5 frames -> 2 whole steps


def test_training_loss_weighs_every_stream():
    model = _model("mixed_stream2", use_voice_encoder=False)
    model.train()
    inputs = dummy_inputs(model.config, batch_size=2, num_frames=9)  # odd: the streams differ by a frame
    out = model(**inputs)
    rows = model.pattern.num_rows
    assert out.codebook_losses.shape == (rows,) and torch.isfinite(out.loss)
    counts = out.codebook_token_counts.view(2, -1)  # (streams, K)
    # items of 9 and 6 frames: stream 0 holds 5 + 3, stream 1 4 + 3 (each row also supervises one EOS)
    assert counts[0].tolist() == [5 + 3 + 2] * 8 and counts[1].tolist() == [4 + 3 + 2] * 8
